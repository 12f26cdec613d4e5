"""A hostile review of the replay on the nodes (Graph.forward/backward: cpp/src/graph_nodes.cpp, at commit
1726005 cpp/src/tape.cpp).

The replay zeroes each interior gradient just before its first contribution, reads the last two values
written from registers, runs a neuron's sum and runs of one binary op in one loop, and prefetches 16 or
128 nodes ahead. Whatever it does, the contract is: forward() leaves every captured node's data bit for bit
as a rebuild computes it, and backward() leaves every node's gradient as Value.backward() of the first output
does, for any graph and any state the nodes are left in between calls.

Each test here runs two copies of one graph side by side: one replayed through a Graph, the other rebuilt
and differentiated with Value.backward(), and the same calls are made on both (new leaf data, gradients
assigned anywhere, Value.backward() and zero_grad() from any node, map()). After every call every node of
the two copies must agree: data and gradient, bit for bit (nan equal to nan, 0.0 not equal to -0.0).
Nodes are matched by Value equality (the node's identity), never by id() of a wrapper: Value._children
makes new wrappers on each access."""

from __future__ import annotations

import math
import random

import pytest
from support import bits, grow, reachable

import micrograd_cpp as mg

SPECIAL = (0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, -1e-320, 5e-324)
BINARY = ("add", "sub", "mul", "div", "pow")
UNARY = ("neg", "tanh", "relu", "sigmoid", "exp", "log", "softplus", "abs", "sqrt")
FAR = 2**18  # above this many interior nodes the replay prefetches 128 nodes ahead, not 16


# --- graphs as recipes: a list of steps over the indices of earlier nodes (support.grow) --------------------------------


def recipe_of(rng: random.Random, leaves: int, steps: int) -> list[tuple]:
    """Random steps, biased to what the replay treats apart: running sums (x + s, s + s, a term computed just
    before), runs of one binary op with shared and aliased operands (x op x), n-ary nodes inside a sum,
    and operands among the last nodes written (the register cache)."""
    recipe: list[tuple] = []
    acc = None

    def count() -> int:
        return leaves + len(recipe)

    def near() -> int:
        if rng.random() < 0.6:
            return max(0, count() - 1 - int(rng.expovariate(0.5)))
        return rng.randrange(count())

    while len(recipe) < steps:
        c = rng.random()
        if c < 0.3:  # one more term of a running sum
            if acc is None or rng.random() < 0.1:
                acc = near()
            kind = rng.random()
            if kind < 0.4:
                recipe.append(("op", "mul", (near(), near()), None))
                term = count() - 1
            elif kind < 0.55:
                term = acc  # s + s
            elif kind < 0.7:
                term = near()
            else:
                term = rng.randrange(count())
            recipe.append(("op", "add", (acc, term), None))
            acc = count() - 1
        elif c < 0.45:  # a layer: steps of one op, reading shared and aliased operands
            op = rng.choice(BINARY[:4])
            base = near()
            for _ in range(rng.randint(2, 8)):
                a = base if rng.random() < 0.5 else rng.randrange(count())
                b = a if rng.random() < 0.15 else rng.randrange(count())
                recipe.append(("op", op, (a, b), None))
        elif c < 0.6:
            a = near()
            b = a if rng.random() < 0.2 else near()
            recipe.append(("op", rng.choice(BINARY), (a, b), None))
        elif c < 0.72:
            recipe.append(("op", rng.choice(UNARY), (near(),), None))
        elif c < 0.8:
            recipe.append(("power", None, (near(),), rng.choice((2, 3, 0.5, -1, -2, -0.5, 1.7, 0, 2.0))))
        elif c < 0.88:
            start = rng.choice((None, 0, 1.5, "node"))
            operands = tuple(near() for _ in range(rng.randint(1, 5)))
            recipe.append(("sum", None, operands, ("node", near()) if start == "node" else start))
        elif c < 0.94:
            recipe.append(("dot", None, tuple(near() for _ in range(2 * rng.randint(1, 4))), None))
        else:  # an n-ary node between two adds of a running sum
            if acc is None:
                acc = near()
            recipe.append(("sum", None, (acc, near()), None))
            recipe.append(("op", "add", (acc, count() - 1), None))
            acc = count() - 1
    return recipe


def build(recipe: list[tuple], leaf_data: list[float]) -> list[mg.Value]:
    """Every node of the recipe, over new leaves of the given data."""
    return grow([mg.Value(v) for v in leaf_data], recipe)


class Twins:
    """One graph built twice: `ours` replayed through a Graph, `theirs` rebuilt and differentiated by
    Value.backward(). Every call is made on both; check() compares every node of the two."""

    def __init__(self, recipe: list[tuple], leaf_data: list[float], outputs: list[int]):
        self.recipe, self.leaves = recipe, len(leaf_data)
        self.ours = build(recipe, leaf_data)
        self.theirs = build(recipe, leaf_data)
        self.calls: list[str] = []
        self.capture(outputs)

    def capture(self, outputs: list[int]) -> None:
        """A new Graph over these outputs of ours."""
        self.outputs = outputs
        self.graph = mg.Graph([self.ours[i] for i in outputs])
        captured = reachable([self.ours[i] for i in outputs])
        self.captured = [i for i, v in enumerate(self.ours) if v in captured]
        self.calls.append(f"Graph({outputs})")

    def set_data(self, i: int, x: float) -> None:
        self.ours[i].data = x
        self.theirs[i].data = x

    def set_grad(self, i: int, x: float) -> None:
        self.ours[i].grad = x
        self.theirs[i].grad = x

    def forward(self) -> None:
        self.calls.append("forward")
        returned = self.graph.forward()
        rebuilt = build(self.recipe, [v.data for v in self.theirs[: self.leaves]])
        for i in self.captured:  # a rebuild's data, on the captured nodes only: the others keep theirs
            self.theirs[i].data = rebuilt[i].data
        assert bits(returned) == bits(self.theirs[self.outputs[0]].data), self.calls

    def backward(self) -> None:
        self.calls.append("backward")
        self.graph.backward()
        self.theirs[self.outputs[0]].backward()

    def value_backward(self, i: int) -> None:
        self.calls.append(f"nodes[{i}].backward()")
        self.ours[i].backward()
        self.theirs[i].backward()

    def zero_grad(self, i: int) -> None:
        self.calls.append(f"nodes[{i}].zero_grad()")
        self.ours[i].zero_grad()
        self.theirs[i].zero_grad()

    def check(self) -> None:
        for i, (a, b) in enumerate(zip(self.ours, self.theirs)):
            assert (bits(a.data), bits(a.grad)) == (bits(b.data), bits(b.grad)), (
                f"after {self.calls}: node {i} ({a._op!r}) has data {a.data!r}, grad {a.grad!r}; "
                f"a rebuild and Value.backward() give data {b.data!r}, grad {b.grad!r}"
            )


def random_session(seed: int, steps: int | None = None, calls: int = 12) -> Twins:
    rng = random.Random(seed)
    special = rng.random() < 0.3
    leaves = rng.randint(1, 6)
    recipe = recipe_of(rng, leaves, steps or rng.randint(1, 120))
    if steps and steps > 1000:  # join the graph, so that its outputs capture most of it
        acc = leaves + len(recipe) - 1
        for i in range(leaves, leaves + len(recipe) - 1, 7):
            recipe.append(("op", "add", (acc, i), None))
            acc = leaves + len(recipe) - 1

    def datum() -> float:
        if special and rng.random() < 0.3:
            return rng.choice(SPECIAL)
        return rng.choice((rng.uniform(-2, 2), rng.uniform(0.1, 2), float(rng.randint(-2, 2))))

    def gradient() -> float:
        return rng.choice((0.0, -0.0, 1.5, -2.0, math.nan, math.inf, 1e-310, rng.uniform(-3, 3)))

    n = leaves + len(recipe)
    outputs = [
        rng.randrange(n) if rng.random() < 0.5 else n - 1 - rng.randrange(min(n, 5))
        for _ in range(rng.randint(1, 4))
    ]
    if rng.random() < 0.2:
        outputs.append(outputs[0])  # an output listed twice
    twins = Twins(recipe, [datum() for _ in range(leaves)], outputs)
    for i in range(n):
        twins.set_grad(i, gradient())
    for _ in range(calls):
        c = rng.random()
        if c < 0.25:
            for j in range(leaves):
                if rng.random() < 0.5:
                    twins.set_data(j, datum())
            twins.forward()
        elif c < 0.5:
            twins.backward()
        elif c < 0.6:
            twins.value_backward(rng.randrange(n))
        elif c < 0.75:
            twins.calls.append("grads assigned")
            for _ in range(rng.randint(1, 5)):
                twins.set_grad(rng.randrange(n), gradient())
        elif c < 0.82:
            twins.calls.append("data assigned")
            twins.set_data(rng.randrange(n), datum())  # an interior node's too: both replays read it
        elif c < 0.9:
            twins.zero_grad(rng.randrange(n))
        else:
            twins.calls.append("map")
            twins.graph.map([[]] * rng.randint(1, 3))  # touches no node
        twins.check()
    return twins


@pytest.mark.parametrize("block", range(8))
def test_any_sequence_of_calls_leaves_every_node_as_a_rebuild_and_value_backward_do(block):
    for seed in range(block * 250, (block + 1) * 250):
        random_session(seed)


@pytest.mark.parametrize("seed", range(3))
def test_graphs_of_thousands_of_nodes_replay_exactly_through_any_sequence_of_calls(seed):
    random_session(10_000 + seed, steps=5_000, calls=16)


def test_forward_recomputes_every_captured_node_not_only_the_outputs():
    """test_replay.py's forward check matches nodes by id() of wrappers made by _children, so it checks
    little more than the outputs; here every captured node is compared, and the others left alone."""
    rng = random.Random(5)
    recipe = recipe_of(rng, 4, 400)
    twins = Twins(recipe, [0.5, -1.25, 2.0, 0.75], [300, 403, 150])
    assert len(twins.captured) > 200
    for round_ in range(5):
        for j, x in enumerate((0.25 * round_ - 0.5, 1.5, -0.75 + round_, 2.0 / (round_ + 1))):
            twins.set_data(j, x)
        twins.forward()
        twins.check()
    outside = [i for i in range(len(twins.ours)) if i not in set(twins.captured)]
    assert outside  # the test means something: some nodes are not captured, and kept their stale data


def test_signed_zeros_infinities_and_nans_in_runs_replay_exactly():
    """Running sums and runs of products over -0.0, inf and nan, the gradients left before -0.0 and nan: a
    zero taken as +0.0 where Value.backward() starts from 0.0 + (-0.0), or a nan lost, would show."""
    data = [-0.0, -0.0, math.inf, math.nan, 0.0, -math.inf]
    recipe = []
    for a in range(6):  # a layer of products, x * x among them
        for b in range(a, 6):
            recipe.append(("op", "mul", (a, b), None))
    products = list(range(6, 6 + len(recipe)))
    acc = 0
    for p in products:  # a neuron's sum over them, s + s in the middle
        recipe.append(("op", "add", (acc, p), None))
        acc = 6 + len(recipe) - 1
        if p == products[len(products) // 2]:
            recipe.append(("op", "add", (acc, acc), None))
            acc = 6 + len(recipe) - 1
    recipe.append(("op", "relu", (acc,), None))
    n = 6 + len(recipe)
    for outputs in ([n - 1], [n - 5, n - 1], [products[3], n - 1], [1, n - 1]):
        for grads in (-0.0, math.nan, 0.0):
            twins = Twins(recipe, data, outputs)
            for i in range(n):
                twins.set_grad(i, grads)
            twins.backward()
            twins.check()
            twins.backward()
            twins.check()
            twins.forward()
            twins.check()


def test_a_graph_whose_values_the_user_dropped_replays_as_its_twin():
    """The Graph holds its nodes: once every Value the user built is gone, its outputs still replay."""
    rng = random.Random(11)
    recipe = recipe_of(rng, 3, 300)
    twin = build(recipe, [0.5, 1.5, -1.0])[-1]
    graph = mg.Graph(build(recipe, [0.5, 1.5, -1.0])[-1])  # every other Value of that build is dropped
    out = graph.outputs[0]
    for v in reachable([out]):
        v.grad = -0.0
    for v in reachable([twin]):
        v.grad = -0.0
    assert bits(graph.forward()) == bits(twin.data)
    graph.backward()
    twin.backward()
    pairs, seen = [(out, twin)], set()
    while pairs:  # the two graphs side by side: same shape, so their children pair up
        a, b = pairs.pop()
        if a in seen:
            continue
        seen.add(a)
        assert (bits(a.data), bits(a.grad)) == (bits(b.data), bits(b.grad))
        pairs.extend(zip(a._children, b._children))
    assert len(seen) > 100


def test_two_graphs_sharing_nodes_interleaved_replay_exactly():
    rng = random.Random(3)
    recipe = recipe_of(rng, 4, 200)
    twins = Twins(recipe, [0.5, -1.25, 2.0, 0.75], [150])
    first = (twins.graph, twins.captured)
    twins.capture([len(twins.ours) - 1, 150])
    second = (twins.graph, twins.captured)
    for round_ in range(6):
        twins.set_data(0, 0.5 * round_ - 0.25)
        twins.set_data(2, 1.0 - 0.25 * round_)
        twins.graph, twins.captured = first if round_ % 2 else second
        twins.outputs = [150] if round_ % 2 else [len(twins.ours) - 1, 150]
        twins.forward()
        twins.check()
        twins.backward()
        twins.check()
        twins.graph, twins.captured = second if round_ % 2 else first
        twins.outputs = [len(twins.ours) - 1, 150] if round_ % 2 else [150]
        twins.backward()
        twins.check()


def test_a_graph_past_the_far_prefetch_threshold_replays_exactly():
    """Over 2**18 interior nodes the replay prefetches 128 nodes ahead: layers of products (runs of one op),
    neuron sums (runs of adds), n-ary nodes and relus, the first output inside a sum run in the middle."""
    rng = random.Random(2024)
    width, layers = 64, 90
    leaves = width
    recipe: list[tuple] = []
    previous = list(range(width))
    middle = None
    for layer in range(layers):
        outs = []
        for _ in range(width):
            ins = rng.sample(previous, 24)
            products = []
            for x in ins:  # a run of products
                recipe.append(("op", "mul", (x, rng.randrange(leaves)), None))
                products.append(leaves + len(recipe) - 1)
            acc = rng.choice(previous)
            for k, p in enumerate(products):  # a run of the neuron's sum
                recipe.append(("op", "add", (acc, p), None))
                acc = leaves + len(recipe) - 1
                if layer == layers // 2 and k == 10 and middle is None:
                    middle = acc
            if rng.random() < 0.2:
                recipe.append(("sum", None, (acc, rng.choice(previous)), None))
                acc = leaves + len(recipe) - 1
            recipe.append(("op", "tanh" if layer % 2 else "relu", (acc,), None))
            outs.append(leaves + len(recipe) - 1)
        previous = outs
    recipe.append(("sum", None, tuple(previous), None))
    data = [rng.uniform(-0.2, 0.2) for _ in range(leaves)]
    last = leaves + len(recipe) - 1
    twins = Twins(recipe, data, [middle, last])
    for outputs in ([middle, last], [last]):
        if outputs != twins.outputs:
            twins.capture(outputs)
        assert len(twins.graph) - leaves > FAR
        for i in range(0, len(twins.ours), 3):
            twins.set_grad(i, (math.nan, -0.0, 7.0)[i % 3])
        twins.backward()
        twins.backward()
        twins.check()
        for j in range(leaves):
            twins.set_data(j, twins.ours[j].data * -1.5)
        twins.forward()
        twins.backward()
        twins.check()
