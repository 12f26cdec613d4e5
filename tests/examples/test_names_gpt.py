"""examples/names_gpt.py: its model against a pure-Python run of the same GPT, and the script as a user
runs it."""

import importlib.util
import math
import random
import re

import pytest
from support import ROOT, run_python

import micrograd_cpp as mg

EXAMPLE = ROOT / "examples" / "names_gpt.py"
if not EXAMPLE.exists():  # an sdist or a wheel test ships tests/ without the examples
    pytest.skip("examples/names_gpt.py is not in this tree", allow_module_level=True)


@pytest.fixture(scope="module")
def names_gpt():
    spec = importlib.util.spec_from_file_location("names_gpt", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the same GPT in pure Python: the 200-line script's Value class and model, its own Adam ---------------


class Value:
    """A scalar Value that keeps its local gradients (the 200-line GPT script's own class)."""

    __slots__ = ("_children", "_local_grads", "data", "grad")

    def __init__(self, data, children=(), local_grads=()):
        self.data, self.grad, self._children, self._local_grads = data, 0.0, children, local_grads

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, k):
        return Value(self.data**k, (self,), (k * self.data ** (k - 1),))

    def exp(self):
        return Value(math.exp(self.data), (self,), (math.exp(self.data),))

    def log(self):
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def relu(self):
        return Value(max(0.0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                order.append(v)
            elif v not in seen:
                seen.add(v)
                stack.append((v, True))
                stack.extend((c, False) for c in v._children if c not in seen)
        self.grad = 1.0
        for v in reversed(order):
            for child, local in zip(v._children, v._local_grads):
                child.grad += local * v.grad


def reference_gpt(docs, steps, num_steps):
    """Trains the GPT as the 200-line script does, weights drawn from `random`; returns (losses, the
    gradients of the first step in names_gpt.parameters' order)."""
    chars = sorted(set("".join(docs)))
    bos, vocab, n_embd, n_head, block = len(chars), len(chars) + 1, 16, 4, 16
    head = n_embd // n_head

    def matrix(nout, nin):
        return [[Value(random.gauss(0, 0.08)) for _ in range(nin)] for _ in range(nout)]

    sd = {"wte": matrix(vocab, n_embd), "wpe": matrix(block, n_embd), "lm_head": matrix(vocab, n_embd)}
    for name in ("wq", "wk", "wv", "wo"):
        sd[name] = matrix(n_embd, n_embd)
    sd["fc1"], sd["fc2"] = matrix(4 * n_embd, n_embd), matrix(n_embd, 4 * n_embd)
    params = [p for mat in sd.values() for row in mat for p in row]

    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]

    def softmax(logits):
        top = max(v.data for v in logits)
        exps = [(v - top).exp() for v in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def rmsnorm(x):
        scale = (sum(xi * xi for xi in x) / len(x) + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def gpt(token, pos, keys, values):
        x = rmsnorm([t + p for t, p in zip(sd["wte"][token], sd["wpe"][pos])])
        residual, x = x, rmsnorm(x)
        q = linear(x, sd["wq"])
        keys.append(linear(x, sd["wk"]))
        values.append(linear(x, sd["wv"]))
        attended = []
        for h in range(0, n_embd, head):
            w = softmax([sum(q[h + j] * k[h + j] for j in range(head)) / head**0.5 for k in keys])
            attended += [sum(w[t] * values[t][h + j] for t in range(len(values))) for j in range(head)]
        x = [a + b for a, b in zip(linear(attended, sd["wo"]), residual)]
        residual = x
        x = [xi.relu() for xi in linear(rmsnorm(x), sd["fc1"])]
        x = [a + b for a, b in zip(linear(x, sd["fc2"]), residual)]
        return linear(x, sd["lm_head"])

    m, v = [0.0] * len(params), [0.0] * len(params)
    losses, first_grads = [], None
    for step in range(steps):
        tokens = [bos] + [chars.index(c) for c in docs[step % len(docs)]] + [bos]
        n = min(block, len(tokens) - 1)
        keys, values = [], []
        loss = (1 / n) * sum(-softmax(gpt(tokens[p], p, keys, values))[tokens[p + 1]].log() for p in range(n))
        loss.backward()
        losses.append(loss.data)
        if first_grads is None:
            first_grads = [p.grad for p in params]
        lr = 0.01 * (1 - step / num_steps)
        for i, p in enumerate(params):
            m[i] = 0.85 * m[i] + 0.15 * p.grad
            v[i] = 0.99 * v[i] + 0.01 * p.grad**2
            m_hat, v_hat = m[i] / (1 - 0.85 ** (step + 1)), v[i] / (1 - 0.99 ** (step + 1))
            p.data -= lr * m_hat / (v_hat**0.5 + 1e-8)
            p.grad = 0.0
    return losses, first_grads


def shuffled_names(names_gpt, seed):
    random.seed(seed)
    names = names_gpt.load_names()
    random.shuffle(names)
    return names


def example_gpt(names_gpt, docs, steps, num_steps):
    """The example's training loop (its main() without the printing): losses and first gradients."""
    tokenizer = names_gpt.Tokenizer(docs)
    params = names_gpt.init_params(tokenizer.vocab_size)
    optimizer = mg.optim.Adam(
        names_gpt.parameters(params), lr=names_gpt.LEARNING_RATE, betas=names_gpt.BETAS, eps=names_gpt.EPS
    )
    losses, first_grads = [], None
    for step in range(steps):
        tokens = tokenizer.encode(docs[step % len(docs)])
        if first_grads is None:
            loss = names_gpt.gpt_loss(params, tokens)
            loss.backward()
            first_grads = [p.grad for p in names_gpt.parameters(params)]
        optimizer.lr = names_gpt.LEARNING_RATE * (1 - step / num_steps)
        losses.append(names_gpt.train_step(params, optimizer, tokens))
    return losses, first_grads


# --- the model ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [42, 7])
def test_the_first_losses_and_gradients_match_a_pure_python_run_of_the_same_gpt(names_gpt, seed):
    steps = 6
    ours, our_grads = example_gpt(names_gpt, shuffled_names(names_gpt, seed), steps, num_steps=50)
    theirs, their_grads = reference_gpt(shuffled_names(names_gpt, seed), steps, num_steps=50)
    assert ours == pytest.approx(theirs, rel=0, abs=1e-9)
    assert our_grads == pytest.approx(their_grads, rel=1e-9, abs=1e-12)
    assert len(our_grads) == 4192  # 27 tokens: the 4,192 parameters
    assert ours[-1] != ours[0]  # it trains (a different name each step, so no monotone decrease)


def test_the_loss_starts_near_that_of_a_uniform_guess(names_gpt):
    docs = shuffled_names(names_gpt, 0)
    tokenizer = names_gpt.Tokenizer(docs)
    params = names_gpt.init_params(tokenizer.vocab_size)
    loss = names_gpt.gpt_loss(params, tokenizer.encode(docs[0]))
    assert abs(loss.data - math.log(tokenizer.vocab_size)) < 0.3


def test_a_name_longer_than_the_block_is_cut_to_the_block(names_gpt):
    random.seed(0)
    tokenizer = names_gpt.Tokenizer(["ab"])
    params = names_gpt.init_params(tokenizer.vocab_size)
    long_name = tokenizer.encode("ab" * 20)  # 42 tokens: 41 targets, of which the first 16 are used
    cut = names_gpt.gpt_loss(params, long_name)
    assert cut.data == names_gpt.gpt_loss(params, long_name[: names_gpt.BLOCK_SIZE + 1]).data


def test_the_tokenizer_round_trips_and_marks_both_ends(names_gpt):
    tokenizer = names_gpt.Tokenizer(["anna", "bob"])
    assert tokenizer.chars == ["a", "b", "n", "o"]
    assert tokenizer.vocab_size == 5
    ids = tokenizer.encode("bob")
    assert ids == [4, 1, 3, 1, 4]
    assert tokenizer.decode(ids[1:-1]) == "bob"


def test_the_shipped_names_are_thousands_of_distinct_lowercase_words(names_gpt):
    names = names_gpt.load_names()
    assert len(names) > 5000
    assert len(set(names)) == len(names)
    assert all(re.fullmatch("[a-z]+", name) for name in names)
    assert max(map(len, names)) < names_gpt.BLOCK_SIZE  # every name fits the block with its end marker
    header = names_gpt.NAMES.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "Faker" in header
    assert "Permission is hereby granted" in names_gpt.NAMES.read_text(encoding="utf-8")  # MIT notice


def test_sampling_gives_names_of_known_characters(names_gpt):
    random.seed(1)
    tokenizer = names_gpt.Tokenizer(["ab", "ba"])
    params = names_gpt.init_params(tokenizer.vocab_size)
    samples = [names_gpt.sample(params, tokenizer, temperature=1.0) for _ in range(20)]
    assert all(set(s) <= {"a", "b"} and len(s) <= names_gpt.BLOCK_SIZE for s in samples)


# --- the script -------------------------------------------------------------------------------------------


def run_example(*args):
    return run_python(str(EXAMPLE), *args, timeout=600)


def test_the_script_trains_and_makes_up_names():
    proc = run_example("--steps", "40", "--samples", "5", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "6824 names, 27 tokens, 4192 parameters" in out
    assert re.search(r"loss \d+\.\d+", out)  # the progress bar shows the loss
    final = re.search(r"loss: (\d+\.\d+) \(mean of the last 40 steps\)", out)
    assert final, out
    assert float(final.group(1)) < math.log(27)  # better than a uniform guess
    assert re.search(r"ms per step", out)
    samples = out.split("new names (temperature 0.5):\n", 1)[1].split()
    assert len(samples) == 5
    assert all(re.fullmatch("[a-z]*", s) for s in samples)


def test_the_script_is_reproducible_with_its_seed():
    runs = [run_example("--steps", "3", "--samples", "8", "--seed", "5") for _ in range(2)]
    assert all(proc.returncode == 0 for proc in runs), runs[0].stderr

    def samples(proc):
        return proc.stdout.split("new names", 1)[1]

    assert samples(runs[0]) == samples(runs[1])


def test_the_script_trains_on_a_names_file_of_ones_own(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("# my names\nzoe\nzed\n\nzara\n", encoding="utf-8")
    proc = run_example("--steps", "3", "--samples", "4", "--names", str(names))
    assert proc.returncode == 0, proc.stderr
    assert "3 names, 7 tokens" in proc.stdout
    samples = proc.stdout.split("new names (temperature 0.5):\n", 1)[1].split()
    assert all(set(s) <= set("zoedar") for s in samples)


@pytest.mark.parametrize(
    "args", [["--steps", "0"], ["--samples", "-1"], ["--temperature", "0"], ["--steps", "x"]]
)
def test_the_script_rejects_bad_options(args):
    proc = run_example(*args)
    assert proc.returncode == 2
    assert "error" in proc.stderr


def test_the_script_rejects_an_empty_names_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    proc = run_example("--names", str(empty))
    assert proc.returncode == 2
    assert "no names" in proc.stderr


def test_the_script_says_when_it_cannot_read_the_names(tmp_path):
    proc = run_example("--names", str(tmp_path / "missing.txt"))
    assert proc.returncode == 2
    assert "cannot read the names" in proc.stderr
    assert "Traceback" not in proc.stderr
