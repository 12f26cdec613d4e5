"""A tiny GPT trained one name per step, side by side: pure Python, the same code on micrograd_cpp.Value,
examples/names_gpt.py on micrograd_cpp's primitives and on its graph engine, and PyTorch.

    python benchmarks/bench_gpt.py [--steps 20] [--repeat 3] [--seed 42] [--variants a,a2,b,c,d,torch,floor]

The model is Karpathy's 200-line scalar GPT (character level, one layer, embedding 16, 4 heads, block 16,
ReLU MLP, RMSNorm, no biases, softmax cross-entropy, Adam with a linearly decaying learning rate), on
examples/names.txt. Variants, all in this one run on the same seed, names and initial weights:

  (a)  the GPT in pure Python with the minimal micrograd-style Value class below (a closure per node,
       iterative topological sort);
  (a2) the same with the 200-line script's own Value class (local gradients in a tuple, no closures):
       (a)'s closures make reference cycles, so most of (a)'s time goes to Python's cyclic garbage
       collector; (a2) shows the pure-Python speed without that, the stricter baseline;
  (b)  the identical code given micrograd_cpp.Value instead;
  (c)  examples/names_gpt.py's model: mg.dot, mg.sum, losses.softmax / cross_entropy, optim.Adam;
  (d)  the same model on names_gpt.py's graph engine (--engine graph): one mg.Graph per name length,
       captured on first use (inside the step that first needs it: timed), replayed with the name's
       embedding rows and one-hot targets fed by Graph.forward(inputs);
  (torch) the same model in PyTorch, written the way its users write it: tensors per name (an embedding
       lookup, matrix products, causal attention with a mask, F.cross_entropy), float64, one thread,
       torch.optim.Adam, from the same initial weights (so the losses match);

plus the float floor (the forward pass of (a) on plain floats: no graph, no backward, no update), the nodes
per step and the share of the time spent in the cyclic GC. Each variant trains --steps steps from the same
start --repeat times; a step's time is its best over the repeats, and the figures are the median over the
steps (one name per step: the same names for every variant) in milliseconds. (a2), (b) and (c) must
reproduce (a)'s first 10 losses to 1e-9, and (d) all of (c)'s to 1e-12 (the exit status says whether they
did). Targets: (b) >= 15x (a), (c) >= 60x (a), (d) <= 0.25x PyTorch's time (moonshot 0.1x). With (d): the
memory each captured length holds, and one step of (d) in parts (where its time goes). Last, the cost of
Value.data / .grad against a plain __slots__ attribute. The machine may be shared: ratios within a run
hold better than absolute times.
"""

import argparse
import collections
import gc
import importlib.util
import itertools
import math
import random
import statistics
import sys
import time
import timeit
from pathlib import Path

import micrograd_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import names_gpt

CHECKED_STEPS, TOLERANCE = 10, 1e-9
GRAPH_TOLERANCE = 1e-12  # (d) against (c): the same ops, the softmax shifts frozen at capture


def topological_order(root, operands):
    """Every node below root, operands first, iteratively (no recursion limit): both pure-Python Values'
    backward walk the graph this way."""
    topo, visited, stack = [], set(), [(root, False)]
    while stack:
        v, children_done = stack.pop()
        if children_done:
            topo.append(v)
        elif v not in visited:
            visited.add(v)
            stack.append((v, True))
            stack.extend((child, False) for child in operands(v) if child not in visited)
    return topo


class Value:
    """micrograd's Value, cut down to what the GPT needs: a closure per node computes its operands'
    gradients; backward() walks a topological order (built iteratively)."""

    __slots__ = ("_backward", "_prev", "data", "grad")

    def __init__(self, data, _children=()):
        self.data = data
        self.grad = 0
        self._backward = _no_backward
        self._prev = _children

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "only int/float powers"
        out = Value(self.data**other, (self,))

        def _backward():
            self.grad += other * self.data ** (other - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,))

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,))

        def _backward():
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def relu(self):
        out = Value(max(self.data, 0), (self,))

        def _backward():
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        self.grad = 1
        for v in reversed(topological_order(self, lambda v: v._prev)):
            v._backward()

    def __neg__(self):  # -self
        return self * -1

    def __radd__(self, other):  # other + self
        return self + other

    def __sub__(self, other):  # self - other
        return self + (-other)

    def __rsub__(self, other):  # other - self
        return other + (-self)

    def __rmul__(self, other):  # other * self
        return self * other

    def __truediv__(self, other):  # self / other
        return self * other**-1

    def __rtruediv__(self, other):  # other / self
        return other * self**-1


def _no_backward():
    pass


class LocalGradValue:
    """The Value class of the 200-line GPT script itself: each node keeps its local gradients in a tuple,
    no closures. With no reference cycles, its graphs are freed by reference counting, while (a)'s are
    left to the cyclic garbage collector (which then takes most of (a)'s time)."""

    __slots__ = ("_children", "_local_grads", "data", "grad")

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    @property
    def _prev(self):
        return self._children

    def __add__(self, other):
        other = other if isinstance(other, LocalGradValue) else LocalGradValue(other)
        return LocalGradValue(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, LocalGradValue) else LocalGradValue(other)
        return LocalGradValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, other):
        return LocalGradValue(self.data**other, (self,), (other * self.data ** (other - 1),))

    def log(self):
        return LocalGradValue(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        return LocalGradValue(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return LocalGradValue(max(0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def __rtruediv__(self, other):
        return other * self**-1

    def backward(self):
        self.grad = 1
        for v in reversed(topological_order(self, lambda v: v._children)):
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v.grad


def scalar_gpt(Value, docs, steps, num_steps, count=False):
    """Karpathy's scalar GPT, written as his script writes it, on the Value class it is given. Draws its
    weights from `random` (seed it first), trains on docs[0], docs[1], ... and yields (loss, seconds,
    nodes) per step (nodes counted only when asked); the learning rate decays linearly over num_steps."""
    uchars = sorted(set("".join(docs)))
    BOS = len(uchars)
    vocab_size = len(uchars) + 1
    n_embd, n_head, n_layer, block_size = 16, 4, 1, 16
    head_dim = n_embd // n_head

    def matrix(nout, nin, std=0.08):
        return [[Value(random.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]

    state_dict = {
        "wte": matrix(vocab_size, n_embd),
        "wpe": matrix(block_size, n_embd),
        "lm_head": matrix(vocab_size, n_embd),
    }
    for i in range(n_layer):
        state_dict[f"layer{i}.attn_wq"] = matrix(n_embd, n_embd)
        state_dict[f"layer{i}.attn_wk"] = matrix(n_embd, n_embd)
        state_dict[f"layer{i}.attn_wv"] = matrix(n_embd, n_embd)
        state_dict[f"layer{i}.attn_wo"] = matrix(n_embd, n_embd)
        state_dict[f"layer{i}.mlp_fc1"] = matrix(4 * n_embd, n_embd)
        state_dict[f"layer{i}.mlp_fc2"] = matrix(n_embd, 4 * n_embd)
    params = [p for mat in state_dict.values() for row in mat for p in row]

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
        tok_emb = state_dict["wte"][token_id]
        pos_emb = state_dict["wpe"][pos_id]
        x = [t + p for t, p in zip(tok_emb, pos_emb)]
        x = rmsnorm(x)
        for li in range(n_layer):
            # 1) multi-head attention
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, state_dict[f"layer{li}.attn_wq"])
            k = linear(x, state_dict[f"layer{li}.attn_wk"])
            v = linear(x, state_dict[f"layer{li}.attn_wv"])
            keys[li].append(k)
            values[li].append(v)
            x_attn = []
            for h in range(n_head):
                hs = h * head_dim
                q_h = q[hs : hs + head_dim]
                k_h = [ki[hs : hs + head_dim] for ki in keys[li]]
                v_h = [vi[hs : hs + head_dim] for vi in values[li]]
                attn_logits = [
                    sum(q_h[j] * k_h[t][j] for j in range(head_dim)) / head_dim**0.5 for t in range(len(k_h))
                ]
                attn_weights = softmax(attn_logits)
                head_out = [
                    sum(attn_weights[t] * v_h[t][j] for t in range(len(v_h))) for j in range(head_dim)
                ]
                x_attn.extend(head_out)
            x = linear(x_attn, state_dict[f"layer{li}.attn_wo"])
            x = [a + b for a, b in zip(x, x_residual)]
            # 2) MLP
            x_residual = x
            x = rmsnorm(x)
            x = linear(x, state_dict[f"layer{li}.mlp_fc1"])
            x = [xi.relu() for xi in x]
            x = linear(x, state_dict[f"layer{li}.mlp_fc2"])
            x = [a + b for a, b in zip(x, x_residual)]
        return linear(x, state_dict["lm_head"])

    learning_rate, beta1, beta2, eps_adam = 0.01, 0.85, 0.99, 1e-8
    m = [0.0] * len(params)
    v = [0.0] * len(params)

    for step in range(steps):
        start = time.perf_counter()
        doc = docs[step % len(docs)]
        tokens = [BOS] + [uchars.index(ch) for ch in doc] + [BOS]
        n = min(block_size, len(tokens) - 1)

        keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
        losses = []
        for pos_id in range(n):
            token_id, target_id = tokens[pos_id], tokens[pos_id + 1]
            logits = gpt(token_id, pos_id, keys, values)
            probs = softmax(logits)
            loss_t = -probs[target_id].log()
            losses.append(loss_t)
        loss = (1 / n) * sum(losses)

        loss.backward()

        lr_t = learning_rate * (1 - step / num_steps)
        for i, p in enumerate(params):
            m[i] = beta1 * m[i] + (1 - beta1) * p.grad
            v[i] = beta2 * v[i] + (1 - beta2) * p.grad**2
            m_hat = m[i] / (1 - beta1 ** (step + 1))
            v_hat = v[i] / (1 - beta2 ** (step + 1))
            p.data -= lr_t * m_hat / (v_hat**0.5 + eps_adam)
            p.grad = 0
        nodes = count_nodes(loss) if count else None
        loss_data = loss.data
        del loss, losses, logits, probs, loss_t, keys, values  # the graph is freed inside the step
        yield loss_data, time.perf_counter() - start, nodes


def count_nodes(root):
    """The Values in root's graph, leaves and constants included (any Value type with a _prev)."""
    seen, stack = {root}, [root]
    while stack:
        for child in stack.pop()._prev:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


def float_gpt(docs, steps, num_steps, count=False):
    """(a)'s forward pass on plain floats: the same weights (drawn the same way) and names, no graph, no
    backward, no update. Yields (loss, seconds, None) per step; only the first loss is (a)'s."""
    uchars = sorted(set("".join(docs)))
    BOS = len(uchars)
    vocab_size = len(uchars) + 1
    n_embd, n_head, block_size = 16, 4, 16
    head_dim = n_embd // n_head

    def matrix(nout, nin, std=0.08):
        return [[random.gauss(0, std) for _ in range(nin)] for _ in range(nout)]

    wte, wpe, lm_head = matrix(vocab_size, n_embd), matrix(block_size, n_embd), matrix(vocab_size, n_embd)
    wq, wk, wv, wo = (matrix(n_embd, n_embd) for _ in range(4))
    fc1, fc2 = matrix(4 * n_embd, n_embd), matrix(n_embd, 4 * n_embd)

    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]

    def softmax(logits):
        max_val = max(logits)
        exps = [math.exp(val - max_val) for val in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def rmsnorm(x):
        ms = sum(xi * xi for xi in x) / len(x)
        scale = (ms + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def gpt(token_id, pos_id, keys, values):
        x = rmsnorm([t + p for t, p in zip(wte[token_id], wpe[pos_id])])
        x_residual = x
        x = rmsnorm(x)
        q, k, v = linear(x, wq), linear(x, wk), linear(x, wv)
        keys.append(k)
        values.append(v)
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
        x = [a + b for a, b in zip(linear(x_attn, wo), x_residual)]
        x_residual = x
        x = [max(0.0, xi) for xi in linear(rmsnorm(x), fc1)]
        x = [a + b for a, b in zip(linear(x, fc2), x_residual)]
        return linear(x, lm_head)

    for step in range(steps):
        start = time.perf_counter()
        tokens = [BOS] + [uchars.index(ch) for ch in docs[step % len(docs)]] + [BOS]
        n = min(block_size, len(tokens) - 1)
        keys, values = [], []
        losses = [-math.log(softmax(gpt(tokens[p], p, keys, values))[tokens[p + 1]]) for p in range(n)]
        loss = (1 / n) * sum(losses)
        yield loss, time.perf_counter() - start, None


def library_gpt(docs, steps, num_steps, count=False):
    """examples/names_gpt.py's model and training step (mg.dot, losses.softmax / cross_entropy,
    optim.Adam). Yields (loss, seconds, nodes) per step."""
    tokenizer = names_gpt.Tokenizer(docs)
    params = names_gpt.init_params(tokenizer.vocab_size)
    optimizer = micrograd_cpp.optim.Adam(
        names_gpt.parameters(params), lr=names_gpt.LEARNING_RATE, betas=names_gpt.BETAS, eps=names_gpt.EPS
    )
    for step in range(steps):
        tokens = tokenizer.encode(docs[step % len(docs)])
        nodes = count_nodes(names_gpt.gpt_loss(params, tokens)) if count else None
        start = time.perf_counter()
        optimizer.lr = names_gpt.LEARNING_RATE * (1 - step / num_steps)
        loss = names_gpt.train_step(params, optimizer, tokens)
        yield loss, time.perf_counter() - start, nodes


def graph_engine(docs):
    """names_gpt.py's model for docs, its Adam and its GraphEngine (no graph captured yet)."""
    tokenizer = names_gpt.Tokenizer(docs)
    params = names_gpt.init_params(tokenizer.vocab_size)
    optimizer = micrograd_cpp.optim.Adam(
        names_gpt.parameters(params), lr=names_gpt.LEARNING_RATE, betas=names_gpt.BETAS, eps=names_gpt.EPS
    )
    return tokenizer, optimizer, names_gpt.GraphEngine(params, tokenizer.vocab_size)


def graph_gpt(docs, steps, num_steps, count=False):
    """(c)'s model and step on names_gpt.GraphEngine: a captured Graph per name length, replayed. Yields
    (loss, seconds, nodes) per step, a step's seconds including the capture of its length's graph when it
    is the first of that length."""
    tokenizer, optimizer, engine = graph_engine(docs)
    for step in range(steps):
        tokens = tokenizer.encode(docs[step % len(docs)])
        start = time.perf_counter()
        optimizer.lr = names_gpt.LEARNING_RATE * (1 - step / num_steps)
        loss = engine.train_step(optimizer, tokens)
        seconds = time.perf_counter() - start
        yield loss, seconds, len(engine.graph(tokens)) if count else None


def torch_gpt(docs, steps, num_steps, count=False):
    """The same GPT in PyTorch, tensors per name, float64, one thread; its weights drawn from `random` in
    names_gpt.init_params' order, then copied into tensors. Yields (loss, seconds, None) per step."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    tokenizer = names_gpt.Tokenizer(docs)
    drawn = names_gpt.init_params(tokenizer.vocab_size)
    w = {
        name: torch.tensor([[v.data for v in row] for row in m], dtype=torch.float64, requires_grad=True)
        for name, m in drawn.items()
    }
    optimizer = torch.optim.Adam(
        w.values(), lr=names_gpt.LEARNING_RATE, betas=names_gpt.BETAS, eps=names_gpt.EPS
    )
    n_head, head_dim = names_gpt.N_HEAD, names_gpt.HEAD_DIM

    def rmsnorm(x):
        return x * ((x * x).mean(-1, keepdim=True) + 1e-5) ** -0.5

    def loss_of(tokens):
        n = min(names_gpt.BLOCK_SIZE, len(tokens) - 1)
        ids = torch.tensor(tokens[: n + 1])
        x = rmsnorm(w["wte"][ids[:n]] + w["wpe"][:n])
        h = rmsnorm(x)
        q, k, v = (
            (h @ w[name].T).view(n, n_head, head_dim).transpose(0, 1) for name in ("wq", "wk", "wv")
        )  # (heads, n, head_dim)
        scores = q @ k.transpose(1, 2) / head_dim**0.5
        causal = torch.ones(n, n, dtype=torch.bool).triu(1)
        heads = torch.softmax(scores.masked_fill(causal, -math.inf), dim=-1) @ v
        x = heads.transpose(0, 1).reshape(n, n_head * head_dim) @ w["wo"].T + x
        x = torch.relu(rmsnorm(x) @ w["fc1"].T) @ w["fc2"].T + x
        return F.cross_entropy(x @ w["lm_head"].T, ids[1:])

    for step in range(steps):
        tokens = tokenizer.encode(docs[step % len(docs)])
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = names_gpt.LEARNING_RATE * (1 - step / num_steps)
        loss = loss_of(tokens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        value = loss.item()
        yield value, time.perf_counter() - start, None


VARIANTS = {
    "a": ("(a) pure Python, micrograd's closures", lambda *args, **kw: scalar_gpt(Value, *args, **kw)),
    "a2": (
        "(a2) pure Python, local-gradient tuples",
        lambda *args, **kw: scalar_gpt(LocalGradValue, *args, **kw),
    ),
    "b": (
        "(b) same code, micrograd_cpp.Value",
        lambda *args, **kw: scalar_gpt(micrograd_cpp.Value, *args, **kw),
    ),
    "c": ("(c) names_gpt.py: mg.dot, losses, Adam", library_gpt),
    "d": ("(d) names_gpt.py --engine graph", graph_gpt),
    "torch": ("PyTorch: tensors per name, float64", torch_gpt),
    "floor": ("float floor: (a)'s forward on floats", float_gpt),
}


def shuffled_names(seed):
    """Seeds `random` and shuffles the names, as the scripts do before drawing their weights."""
    random.seed(seed)
    docs = names_gpt.load_names()
    random.shuffle(docs)
    return docs


class GcClock:
    """A gc.callbacks hook that adds up the time spent in the cyclic garbage collector."""

    def __init__(self):
        self.seconds, self._start = 0.0, 0.0

    def __call__(self, phase, info):
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start


def run(variant, seed, steps, repeat):
    """Trains `steps` steps from the same start `repeat` times. Returns the losses, each step's best
    seconds, the share of the time spent in the cyclic GC, and the mean nodes per step (None: no graph)."""
    best, total, clock = [math.inf] * steps, 0.0, GcClock()
    for _ in range(repeat):
        gc.collect()  # the previous run's cyclic garbage is not charged to this one
        gc.callbacks.append(clock)
        try:
            results = list(variant(shuffled_names(seed), steps, steps))
        finally:
            gc.callbacks.remove(clock)
        best = [min(b, seconds) for b, (_, seconds, _) in zip(best, results)]
        total += sum(seconds for _, seconds, _ in results)
    gc.collect()
    nodes = [n for _, _, n in variant(shuffled_names(seed), steps, steps, count=True)]
    mean_nodes = None if None in nodes else statistics.mean(nodes)
    return [loss for loss, _, _ in results], best, clock.seconds / total, mean_nodes


def print_graph_memory(seed):
    """Every length (d) can capture, 1 to BLOCK_SIZE targets: its capture's time, its nodes, and the
    bytes it holds beside the weights (GraphEngine.nbytes)."""
    docs = shuffled_names(seed)
    tokenizer, _, engine = graph_engine(docs)
    seconds = {}
    for n in range(1, names_gpt.BLOCK_SIZE + 1):
        start = time.perf_counter()
        engine.graph([tokenizer.bos] * (n + 1))
        seconds[n] = time.perf_counter() - start
    held = engine.nbytes()
    lengths = collections.Counter(min(names_gpt.BLOCK_SIZE, len(d) + 1) for d in docs)
    print(f"\n(d)'s graphs: a name of n characters has n + 1 targets; {len(docs)} names")
    print(f"{'targets':>8}{'names':>7}{'nodes':>8}{'MiB':>7}{'capture ms':>12}")
    for n in range(1, names_gpt.BLOCK_SIZE + 1):
        graph = engine.graphs[n]
        print(f"{n:8}{lengths[n]:7}{len(graph):8,}{held[n] / 2**20:7.2f}{1000 * seconds[n]:12.1f}")
    print(
        f"all {len(held)} lengths: {sum(held.values()) / 2**20:.1f} MiB (the bound: no name has more than "
        f"{names_gpt.BLOCK_SIZE} targets), captured in {sum(seconds.values()):.2f} s"
    )


def print_graph_step(seed, steps, repeat):
    """One step of (d) in parts, each the median over the steps of its best over the repeats, in
    microseconds: where its time goes (the C++ replay against the Python around it)."""
    parts = ["feed list", "forward(inputs)", "zero_grad", "backward", "Adam.step"]
    best = [[math.inf] * len(parts) for _ in range(steps)]
    for _ in range(repeat):
        docs = shuffled_names(seed)
        tokenizer, optimizer, engine = graph_engine(docs)
        for step in range(steps):
            tokens = tokenizer.encode(docs[step % len(docs)])
            engine.graph(tokens)  # captured outside the timing
            optimizer.lr = names_gpt.LEARNING_RATE * (1 - step / steps)
            t0 = time.perf_counter()
            graph, inputs = engine.feed(tokens)
            t1 = time.perf_counter()
            graph.forward(inputs)
            t2 = time.perf_counter()
            optimizer.zero_grad()
            t3 = time.perf_counter()
            graph.backward()
            t4 = time.perf_counter()
            optimizer.step()
            t5 = time.perf_counter()
            for k, (a, b) in enumerate(itertools.pairwise([t0, t1, t2, t3, t4, t5])):
                best[step][k] = min(best[step][k], b - a)
    medians = [1e6 * statistics.median(best[step][k] for step in range(steps)) for k in range(len(parts))]
    total = sum(medians)
    print("\n(d), one step in parts (its graph already captured): median us")
    for name, us in zip(parts, medians):
        print(f"  {name:18}{us:8.1f}  {us / total:4.0%}")
    print(f"  {'sum':18}{total:8.1f}")


class Slots:
    __slots__ = ("data", "grad")

    def __init__(self, data):
        self.data, self.grad = data, 0.0


def attribute_costs(repeat=7, number=1_000_000):
    """ns per statement on micrograd_cpp.Value and on a plain __slots__ class (timeit's best, loop
    included), and the empty loop's own ns. A __slots__ read is a pointer load (3.11's specialised
    LOAD_ATTR), below the loop's noise: the extra cost per access is what the comparison shows."""
    statements = ("p.data", "p.data = x", "p.grad", "p.grad = x", "p.data -= lr * p.grad")
    setup = "p = cls(1.0); p.grad = 0.5; x = 2.0; lr = 1e-12"
    rows = {}
    for stmt in statements:
        rows[stmt] = [
            min(timeit.Timer(stmt, setup, globals={"cls": cls}).repeat(repeat, number)) / number * 1e9
            for cls in (micrograd_cpp.Value, Slots)
        ]
    empty = min(timeit.Timer("pass", setup, globals={"cls": Slots}).repeat(repeat, number)) / number * 1e9
    return rows, empty


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20, help=f"steps timed per run (>= {CHECKED_STEPS})")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; a step's time is its best")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="which to run, e.g. c alone under a profiler (default: all)",
    )
    args = parser.parse_args()
    chosen = args.variants.split(",")
    if args.steps < CHECKED_STEPS or args.repeat < 1 or not set(chosen) <= set(VARIANTS):
        parser.error(f"--steps >= {CHECKED_STEPS}, --repeat >= 1, --variants from {','.join(VARIANTS)}")
    if "torch" in chosen and importlib.util.find_spec("torch") is None:
        if "--variants" in sys.argv or any(a.startswith("--variants=") for a in sys.argv):
            parser.error(
                "PyTorch is not installed: pip install torch==2.13.0 (its CPU build), or leave out torch"
            )
        print("PyTorch is not installed: its variant is left out (pip install torch==2.13.0)")
        chosen.remove("torch")
    if "torch" in chosen:  # PyTorch imports modules at its first step: not charged to the runs (nor their GC)
        list(torch_gpt(shuffled_names(args.seed), 1, 1))

    print(
        f"Python {sys.version.split()[0]}, micrograd_cpp {micrograd_cpp.__version__}: {args.steps} steps "
        f"(one name each), best of {args.repeat} runs per step; median ms per step"
    )
    results = {key: run(VARIANTS[key][1], args.seed, args.steps, args.repeat) for key in chosen}
    ms = {key: 1000 * statistics.median(result[1]) for key, result in results.items()}
    bases = [key for key in ("a", "a2") if key in ms]
    print(
        f"{'':42}{'ms/step':>9}"
        + "".join(f"{f'vs ({key})':>9}" for key in bases)
        + (f"{'x PyTorch':>10}" if "torch" in ms else "")
        + f"{'nodes/step':>12}{'in GC':>7}"
    )
    for key in chosen:
        _, _, gc_share, nodes = results[key]
        ratios = "".join(f"{ms[base] / ms[key]:8.1f}x" for base in bases)
        ratios += f"{ms[key] / ms['torch']:9.2f}x" if "torch" in ms else ""
        graph = f"{nodes:,.0f}" if nodes else "tensors" if key == "torch" else "no graph"
        print(f"{VARIANTS[key][0]:42}{ms[key]:9.2f}{ratios}{graph:>12}{gc_share:7.0%}")

    failed = False
    if "a" in results:
        reference = results["a"][0][:CHECKED_STEPS]
        for key in ("a2", "b", "c", "d", "torch", "floor"):
            if key in results:
                checked = reference[:1] if key == "floor" else reference  # the floor does not train
                diff = max(abs(x - y) for x, y in zip(results[key][0], checked))
                failed |= not diff <= TOLERANCE
                print(
                    f"losses of ({key}) against (a), first {len(checked)} step(s): max |diff| = {diff:.1e} "
                    f"({'ok' if diff <= TOLERANCE else 'FAILS'}: tolerance {TOLERANCE:g})"
                )
    if "c" in results and "d" in results:
        diff = max(abs(x - y) for x, y in zip(results["c"][0], results["d"][0]))
        failed |= not diff <= GRAPH_TOLERANCE
        print(
            f"losses of (d) against (c), all {args.steps} steps: max |diff| = {diff:.1e} "
            f"({'ok' if diff <= GRAPH_TOLERANCE else 'FAILS'}: tolerance {GRAPH_TOLERANCE:g})"
        )
    if "d" in ms and "torch" in ms:
        print(
            f"target: (d) <= 0.25x PyTorch's time per step: {ms['d'] / ms['torch']:.2f}x "
            f"({ms['torch'] / ms['d']:.1f}x faster; moonshot 0.1x)"
        )
    for base in bases:
        if "b" in ms and "c" in ms:
            print(
                f"targets against ({base}): (b) >= 15x: {ms[base] / ms['b']:.1f}x (moonshot 25x); "
                f"(c) >= 60x: {ms[base] / ms['c']:.1f}x (moonshot 150x)"
            )
    if "b" in ms and "c" in ms:
        print(f"(c) is {ms['b'] / ms['c']:.1f}x faster than (b)", end="")
        print(f" and costs {ms['c'] / ms['floor']:.2f}x the float forward pass" if "floor" in ms else "")

    if "d" in chosen:
        print_graph_memory(args.seed)
        print_graph_step(args.seed, args.steps, args.repeat)

    rows, empty = attribute_costs()
    print(f"\nValue attributes: ns per statement, timing loop included (an empty loop: {empty:.1f} ns)")
    print(f"{'':24}{'micrograd_cpp':>14}{'__slots__':>11}{'extra':>8}")
    for stmt, (ours, slots) in rows.items():
        print(f"{stmt:24}{ours:14.1f}{slots:11.1f}{ours - slots:8.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
