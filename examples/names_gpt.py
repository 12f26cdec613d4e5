"""A tiny GPT that learns first names one character at a time, then makes up new ones.

    python examples/names_gpt.py [--steps 1000] [--seed 42] [--samples 20] [--temperature 0.5] [--names FILE]
                                 [--engine rebuild|graph]

The model of Karpathy's 200-line scalar GPT: one transformer layer (embedding 16, 4 attention heads,
a block of 16 characters, a ReLU MLP, RMSNorm, no biases), softmax cross-entropy, Adam with a linearly
decaying learning rate, one name per step. Written with micrograd_cpp's primitives: ``mg.dot`` makes a
whole weighted sum one node, ``losses.softmax``/``cross_entropy`` (which add up with ``mg.sum``) give the
attention weights and the loss, and ``optim.Adam`` updates all 4,192 weights in one call.

``--engine graph`` trains the same model without building a graph per step: a name's loss graph depends
only on its length once its tokens' embeddings and its targets are data, so ``GraphEngine`` captures one
``mg.Graph`` per length, on first use, and replays it in C++: ``Graph.forward(inputs)`` feeds the tokens'
rows of ``wte`` (the graph's embedding inputs stand for those Values: their gradients land in the rows)
and the one-hot targets in one call. The losses are the rebuilding engine's (to ~1e-15), and sampling
is unchanged.

The names (examples/names.txt) are 6,824 English first names taken from Faker (MIT); ``--names`` trains
on any other list, one name per line. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import deque
from itertools import chain
from pathlib import Path
from statistics import fmean

import micrograd_cpp as mg
from micrograd_cpp.demo import progress
from micrograd_cpp.losses import cross_entropy, logsumexp, softmax
from micrograd_cpp.optim import Adam

N_EMBD, N_HEAD, BLOCK_SIZE = 16, 4, 16  # embedding width, attention heads, longest context
HEAD_DIM = N_EMBD // N_HEAD
LEARNING_RATE, BETAS, EPS = 0.01, (0.85, 0.99), 1e-8
NAMES = Path(__file__).with_name("names.txt")

Vector = list[mg.Value]
Matrix = list[Vector]  # rows of weights
Params = dict[str, Matrix]


def load_names(path: Path = NAMES) -> list[str]:
    """The names in a text file, one per line; blank lines and lines starting with # are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


class Tokenizer:
    """Characters to token ids and back. One extra token, BOS, marks where a name begins and ends."""

    def __init__(self, names: list[str]) -> None:
        self.chars = sorted(set("".join(names)))
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._ids = {c: i for i, c in enumerate(self.chars)}

    def encode(self, name: str) -> list[int]:
        return [self.bos, *(self._ids[c] for c in name), self.bos]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)


def matrix(rows: int, cols: int, std: float = 0.08) -> Matrix:
    return [[mg.Value(random.gauss(0, std)) for _ in range(cols)] for _ in range(rows)]


def init_params(vocab_size: int) -> Params:
    """Random weights from Python's ``random`` (seed it first), drawn in the order of Karpathy's script."""
    params = {"wte": matrix(vocab_size, N_EMBD), "wpe": matrix(BLOCK_SIZE, N_EMBD)}
    params["lm_head"] = matrix(vocab_size, N_EMBD)
    for name in ("wq", "wk", "wv", "wo"):
        params[name] = matrix(N_EMBD, N_EMBD)
    params["fc1"] = matrix(4 * N_EMBD, N_EMBD)
    params["fc2"] = matrix(N_EMBD, 4 * N_EMBD)
    return params


def parameters(params: Params) -> list[mg.Value]:
    return [p for m in params.values() for row in m for p in row]


def linear(x: Vector, w: Matrix) -> Vector:
    return [mg.dot(row, x) for row in w]


def rmsnorm(x: Vector) -> Vector:
    scale = (mg.dot(x, x) / len(x) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def gpt(params: Params, token: int, pos: int, keys: list[Vector], values: list[Vector]) -> Vector:
    """The logits of the token that follows ``token`` at position ``pos``. Appends this position's key
    and value to ``keys`` and ``values``, so that later positions can attend to it."""
    x = rmsnorm([t + p for t, p in zip(params["wte"][token], params["wpe"][pos])])
    # attention: each head mixes the values of every position so far, weighted by softmax(q.k)
    h = rmsnorm(x)
    q = linear(h, params["wq"])
    keys.append(linear(h, params["wk"]))
    values.append(linear(h, params["wv"]))
    heads: Vector = []
    for s in range(0, N_EMBD, HEAD_DIM):  # head s reads q, k and v[s : s + HEAD_DIM]
        qh = q[s : s + HEAD_DIM]
        weights = softmax([mg.dot(qh, k[s : s + HEAD_DIM]) / HEAD_DIM**0.5 for k in keys])
        heads += [mg.dot(weights, [v[i] for v in values]) for i in range(s, s + HEAD_DIM)]
    x = [a + b for a, b in zip(linear(heads, params["wo"]), x)]
    # MLP, 4x wide
    h = [hi.relu() for hi in linear(rmsnorm(x), params["fc1"])]
    x = [a + b for a, b in zip(linear(h, params["fc2"]), x)]
    return linear(x, params["lm_head"])


def gpt_loss(params: Params, tokens: list[int]) -> mg.Value:
    """The mean cross-entropy of predicting each next token of ``tokens`` (at most BLOCK_SIZE of them)."""
    n = min(BLOCK_SIZE, len(tokens) - 1)
    keys: list[Vector] = []
    values: list[Vector] = []
    logits = [gpt(params, tokens[pos], pos, keys, values) for pos in range(n)]
    return cross_entropy(logits, tokens[1 : n + 1])


def train_step(params: Params, optimizer: Adam, tokens: list[int]) -> float:
    """One step of Adam on one name; returns the loss before the step."""
    loss = gpt_loss(params, tokens)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.data


class GraphEngine:
    """The loss of a name by replaying a captured graph: one ``mg.Graph`` per length (1 to BLOCK_SIZE
    targets), captured the first time a name of that length comes, then kept (``nbytes()`` says what they
    hold). A graph's inputs are, position by position, the embedding of the token there (N_EMBD
    stand-ins for a row of ``wte``) and the one-hot of the next (vocab_size numbers); every other weight
    is a leaf of it. Its loss is ``gpt_loss``'s, op for op: ``mg.dot(one_hot, row)`` is ``row[target]``
    exactly."""

    def __init__(self, params: Params, vocab_size: int) -> None:
        self.params = params
        self.vocab_size = vocab_size
        self.graphs: dict[int, mg.Graph] = {}  # by the number of targets
        self._own_nodes: dict[int, int] = {}  # the nodes each capture made (the weights are shared)
        self._one_hot = [[float(i == t) for i in range(vocab_size)] for t in range(vocab_size)]
        # what a position's inputs take, by (token, target): the token's row of wte, the target one-hot
        wte = params["wte"]
        self._feeds: dict[tuple[int, int], list[mg.Value | float]] = {
            (t, u): [*wte[t], *self._one_hot[u]] for t in range(vocab_size) for u in range(vocab_size)
        }

    def graph(self, tokens: list[int]) -> mg.Graph:
        """The graph of names as long as ``tokens``, captured on first use, from ``tokens``: the shifts
        that keep softmax's exp from overflowing (the max of a row's logits, a constant) are then those
        of this name, and stay as captured for the others (the exact shift does not change the value,
        only its rounding)."""
        n = min(BLOCK_SIZE, len(tokens) - 1)
        if n not in self.graphs:
            before = mg._core.live_node_count()
            wte = self.params["wte"]
            embeddings = [[mg.Value(v.data) for v in wte[token]] for token in tokens[:n]]
            targets = [[mg.Value(x) for x in self._one_hot[token]] for token in tokens[1 : n + 1]]
            stand_in = {**self.params, "wte": embeddings}  # position p reads the p-th stand-in row
            keys: list[Vector] = []
            values: list[Vector] = []
            logits = [gpt(stand_in, pos, pos, keys, values) for pos in range(n)]
            # cross_entropy(logits, targets) as it adds up: logsumexp(row) - row[target], then the mean
            terms = [logsumexp(row) - mg.dot(t, row) for row, t in zip(logits, targets)]
            loss = mg.sum(terms[1:], terms[0]) / n
            inputs = [v for e, t in zip(embeddings, targets) for v in (*e, *t)]  # position by position
            self.graphs[n] = mg.Graph(loss, inputs=inputs)
            self._own_nodes[n] = mg._core.live_node_count() - before  # all it made is in its graph
        return self.graphs[n]

    def feed(self, tokens: list[int]) -> tuple[mg.Graph, list[mg.Value | float]]:
        """The graph of ``tokens`` and what its inputs take: position by position, the token's row of wte
        (Values: the inputs stand for them) and the next token's one-hot (numbers)."""
        n = min(BLOCK_SIZE, len(tokens) - 1)
        pairs = zip(tokens[:n], tokens[1 : n + 1])
        return self.graph(tokens), list(chain.from_iterable(map(self._feeds.__getitem__, pairs)))

    def loss(self, tokens: list[int]) -> float:
        """gpt_loss(params, tokens).data, by a replay."""
        graph, inputs = self.feed(tokens)
        return graph.forward(inputs)

    def train_step(self, optimizer: Adam, tokens: list[int]) -> float:
        """train_step's step: the gradients by the replay (the rows of wte get their tokens')."""
        graph, inputs = self.feed(tokens)
        loss = graph.forward(inputs)
        optimizer.zero_grad()
        graph.backward()
        optimizer.step()
        return loss

    def nbytes(self) -> dict[int, int]:
        """Per captured length, the bytes its graph holds beside the weights (which all share): its own
        nodes (``mg._core.node_size`` each), the operand arrays of its n-ary nodes (a pointer per
        operand) and the Graph's plan (``Graph.nbytes``); the allocator's overhead left out."""
        held = {}
        for n, graph in sorted(self.graphs.items()):
            nodes = mg._core.topological_order(graph.outputs[0])  # its own, and the weights it reads
            operands = sum(len(v._children) for v in nodes if v._op in ("dot", "sum"))
            held[n] = mg._core.node_size * self._own_nodes[n] + 8 * operands + graph.nbytes
        return held


def sample(params: Params, tokenizer: Tokenizer, temperature: float = 0.5) -> str:
    """A new name, one character at a time, each drawn from softmax(logits / temperature)."""
    keys: list[Vector] = []
    values: list[Vector] = []
    token, out = tokenizer.bos, []
    for pos in range(BLOCK_SIZE):
        probs = softmax([logit.data / temperature for logit in gpt(params, token, pos, keys, values)])
        token = random.choices(range(tokenizer.vocab_size), weights=[p.data for p in probs])[0]
        if token == tokenizer.bos:
            break
        out.append(token)
    return tokenizer.decode(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=int, default=1000, help="training steps, one name each (default: 1000)"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the shuffle, weights and samples")
    parser.add_argument("--samples", type=int, default=20, help="names to make up at the end (default: 20)")
    parser.add_argument("--temperature", type=float, default=0.5, help="sampling temperature (default: 0.5)")
    parser.add_argument("--names", type=Path, default=NAMES, help="a text file of names, one per line")
    parser.add_argument(
        "--engine",
        choices=("rebuild", "graph"),
        default="rebuild",
        help="rebuild each name's graph (default), or replay one captured graph per name length",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.samples < 0 or not args.temperature > 0:
        parser.error("--steps must be at least 1, --samples at least 0, --temperature above 0")

    random.seed(args.seed)
    try:
        names = load_names(args.names)
    except (OSError, UnicodeDecodeError) as error:
        parser.error(f"cannot read the names: {error}")
    if not names:
        parser.error(f"no names in {args.names}")
    random.shuffle(names)
    tokenizer = Tokenizer(names)
    params = init_params(tokenizer.vocab_size)
    optimizer = Adam(parameters(params), lr=LEARNING_RATE, betas=BETAS, eps=EPS)
    print(f"{len(names)} names, {tokenizer.vocab_size} tokens, {len(optimizer.params)} parameters")

    engine = GraphEngine(params, tokenizer.vocab_size) if args.engine == "graph" else None
    recent: deque[float] = deque(maxlen=100)  # one name's loss is noisy: show the mean of the last 100 too
    start = time.perf_counter()
    for step, bar in progress(args.steps):
        optimizer.lr = LEARNING_RATE * (1 - step / args.steps)  # linear decay to 0
        tokens = tokenizer.encode(names[step % len(names)])
        if engine is None:
            recent.append(train_step(params, optimizer, tokens))
        else:
            recent.append(engine.train_step(optimizer, tokens))
        bar.set_postfix_str(f"loss {recent[-1]:.3f}, last {len(recent)} {fmean(recent):.3f}", refresh=False)
    seconds = time.perf_counter() - start
    print(f"time: {seconds:.2f} s ({1000 * seconds / args.steps:.1f} ms per step)")
    print(f"loss: {fmean(recent):.4f} (mean of the last {len(recent)} steps)")
    if engine is not None:
        held = engine.nbytes()
        print(
            f"graphs: {len(held)} lengths captured, {sum(held.values()) / 2**20:.1f} MiB in all "
            f"(at most {BLOCK_SIZE}; {', '.join(f'{n}: {b / 2**20:.2f}' for n, b in held.items())} MiB)"
        )

    print(f"{args.samples} new names (temperature {args.temperature}):")
    for _ in range(args.samples):
        print(" ", sample(params, tokenizer, args.temperature))
    return 0


if __name__ == "__main__":
    sys.exit(main())
