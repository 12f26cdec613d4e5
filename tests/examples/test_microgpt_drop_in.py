"""Issue 17: microgpt's model and training step with one op of its own added through local_grads (SiLU in
place of ReLU, as a fork would add it), on micrograd_cpp.Value adapted only by the import, against the
same code on microgpt's pure-Python Value (tests/examples/test_names_gpt.py's copy of it)."""

import importlib.util
import math
import random

import pytest
from support import ROOT

import micrograd_cpp as mg

spec = importlib.util.spec_from_file_location(
    "names_gpt_reference", ROOT / "tests" / "examples" / "test_names_gpt.py"
)
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def microgpt(Value, docs, steps):
    """microgpt's model (one layer, a small width) and Adam; its MLP's activation is a new op."""

    def silu(x):  # the op a fork adds: value and local gradient, microgpt's way
        s = 1 / (1 + math.exp(-x.data))
        return Value(x.data * s, (x,), (s * (1 + x.data * (1 - s)),))

    random.seed(3)
    chars = sorted(set("".join(docs)))
    bos, vocab, n_embd, n_head, block = len(chars), len(chars) + 1, 8, 2, 8
    head_dim = n_embd // n_head

    def matrix(nout, nin, std=0.08):
        return [[Value(random.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]

    sd = {"wte": matrix(vocab, n_embd), "wpe": matrix(block, n_embd), "lm_head": matrix(vocab, n_embd)}
    for name in ("attn_wq", "attn_wk", "attn_wv", "attn_wo"):
        sd[name] = matrix(n_embd, n_embd)
    sd["mlp_fc1"], sd["mlp_fc2"] = matrix(4 * n_embd, n_embd), matrix(n_embd, 4 * n_embd)
    params = [p for mat in sd.values() for row in mat for p in row]

    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]

    def softmax(logits):
        max_val = max(val.data for val in logits)
        exps = [(val - max_val).exp() for val in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def rmsnorm(x):
        ms = sum(xi * xi for xi in x) / len(x)
        scale = (ms + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def gpt(token_id, pos_id, keys, values):
        x = [t + p for t, p in zip(sd["wte"][token_id], sd["wpe"][pos_id])]
        x = rmsnorm(x)
        x_residual = x
        x = rmsnorm(x)
        q = linear(x, sd["attn_wq"])
        keys.append(linear(x, sd["attn_wk"]))
        values.append(linear(x, sd["attn_wv"]))
        x_attn = []
        for h in range(n_head):
            hs = h * head_dim
            q_h = q[hs : hs + head_dim]
            k_h = [ki[hs : hs + head_dim] for ki in keys]
            v_h = [vi[hs : hs + head_dim] for vi in values]
            attn_logits = [
                sum(q_h[j] * k_h[t][j] for j in range(head_dim)) / head_dim**0.5 for t in range(len(k_h))
            ]
            attn_weights = softmax(attn_logits)
            x_attn.extend(sum(attn_weights[t] * v_h[t][j] for t in range(len(v_h))) for j in range(head_dim))
        x = linear(x_attn, sd["attn_wo"])
        x = [a + b for a, b in zip(x, x_residual)]
        x_residual = x
        x = rmsnorm(x)
        x = linear(x, sd["mlp_fc1"])
        x = [silu(xi) for xi in x]
        x = linear(x, sd["mlp_fc2"])
        x = [a + b for a, b in zip(x, x_residual)]
        return linear(x, sd["lm_head"])

    lr, beta1, beta2, eps = 0.01, 0.85, 0.99, 1e-8
    m, v = [0.0] * len(params), [0.0] * len(params)
    losses, grads = [], []
    for step in range(steps):
        doc = docs[step % len(docs)]
        tokens = [bos] + [chars.index(ch) for ch in doc] + [bos]
        n = min(block, len(tokens) - 1)
        keys, values, step_losses = [], [], []
        for pos_id in range(n):
            probs = softmax(gpt(tokens[pos_id], pos_id, keys, values))
            step_losses.append(-probs[tokens[pos_id + 1]].log())
        loss = (1 / n) * sum(step_losses)
        loss.backward()
        losses.append(loss.data)
        grads.append([p.grad for p in params])
        lr_t = lr * (1 - step / steps)
        for i, p in enumerate(params):
            m[i] = beta1 * m[i] + (1 - beta1) * p.grad
            v[i] = beta2 * v[i] + (1 - beta2) * p.grad**2
            m_hat = m[i] / (1 - beta1 ** (step + 1))
            v_hat = v[i] / (1 - beta2 ** (step + 1))
            p.data -= lr_t * m_hat / (v_hat**0.5 + eps)
            p.grad = 0
    return losses, grads


DOCS = ["emma", "olivia", "ava", "isabella", "mia"]


def test_microgpt_with_a_local_grads_op_matches_microgpt_itself():
    ours, our_grads = microgpt(mg.Value, DOCS, steps=4)
    theirs, their_grads = microgpt(reference.Value, DOCS, steps=4)
    assert ours == pytest.approx(theirs, rel=1e-10)
    for step_ours, step_theirs in zip(our_grads, their_grads):
        assert step_ours == pytest.approx(step_theirs, rel=1e-8, abs=1e-12)
    assert ours[0] == pytest.approx(math.log(len(set("".join(DOCS))) + 1), abs=0.3)


def test_the_added_op_is_a_node_with_its_local_gradient():
    x = mg.Value(0.4)
    s = 1 / (1 + math.exp(-0.4))
    y = mg.Value(0.4 * s, (x,), (s * (1 + 0.4 * (1 - s)),))
    assert y._children[0] is x
    assert y._local_grads == (s * (1 + 0.4 * (1 - s)),)
    (y * 2).backward()
    assert x.grad == 2 * s * (1 + 0.4 * (1 - s))
