"""Graph.forward() and Graph.backward() against a rebuild and Value.backward(), bit for bit, on every node.

The replay on the nodes runs some steps together (runs of a neuron's sum with the sum in a register, runs
of one binary op read from memory), keeps the last values written in registers, and zeroes each interior
gradient just before its first contribution instead of in a pass of its own. Each of these must give
exactly what one step per node gives. The graphs here are built to hit them: running sums whose terms are
products, earlier sums of the same run, the sum itself or a node just computed; products of a node by
itself; sums used again later; several outputs, the first of which may sit inside a run."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_reference import CASES
from support import captured_model, grads, moons_like, picked, reachable, same_bits

import micrograd_cpp as mg
from micrograd_cpp.losses import hinge_loss

KINDS = ["acc_product", "acc_node", "acc_earlier_acc", "acc_self", "product", "square", "op", "sum", "dot"]

recipes = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.sampled_from(sorted(CASES)),
        st.lists(st.integers(0, 10**6), min_size=6, max_size=6),
    ),
    min_size=1,
    max_size=60,
)


def build(recipe, leaves):
    """Every node the recipe makes, in order, over the given leaves (a fresh graph each call)."""
    nodes = list(leaves)
    accs = []  # the running sums made so far
    acc = None
    for kind, op, picks in recipe:

        def pick(k, pool=None, picks=picks):
            pool = pool or nodes
            return pool[picks[k] % len(pool)]

        if kind.startswith("acc"):
            if acc is None or picks[5] % 7 == 0:  # start a new sum now and then
                acc = pick(4)
            if kind == "acc_product":
                term = pick(0) * pick(1)
                nodes.append(term)
            elif kind == "acc_node":
                term = nodes[-1 - picks[0] % min(3, len(nodes))]  # often a node just computed
            elif kind == "acc_earlier_acc":
                term = pick(0, accs) if accs else acc
            else:
                term = acc  # acc + acc
            acc = acc + term
            accs.append(acc)
            nodes.append(acc)
        elif kind == "product":
            nodes.append(pick(0) * pick(1))
        elif kind == "square":
            v = pick(0)
            nodes.append(v * v)
        elif kind == "sum":
            nodes.append(mg.sum([pick(k) for k in range(1 + picks[5] % 4)]))
        elif kind == "dot":
            n = 1 + picks[5] % 2
            nodes.append(mg.dot([pick(k) for k in range(n)], [pick(k + 2) for k in range(n)]))
        else:
            nodes.append(CASES[op].ours(*picked(CASES[op], nodes, picks)))
    return nodes


def outputs_of(nodes, choice):
    """The graph's outputs: the last node first, or an interior node first (maybe inside a run)."""
    last = nodes[-1]
    if choice == 0 or len(nodes) < 3:
        return [last]
    other = nodes[len(nodes) // 2 + choice % (len(nodes) // 2)]
    return [other, last] if choice % 2 else [last, other]


@settings(max_examples=150, deadline=None)
@given(recipes, st.integers(0, 5), st.lists(st.floats(-2, 2), min_size=4, max_size=4))
def test_replay_equals_a_rebuild_and_value_backward_on_every_node(recipe, choice, start):
    leaves = [mg.Value(v) for v in (0.5, -1.25, 2.0, 0.75)]
    nodes = build(recipe, leaves)
    outputs = outputs_of(nodes, choice)
    graph = mg.Graph(outputs)

    # forward: new leaf data, every node's data as a rebuild computes it
    for leaf, value in zip(leaves, start):
        leaf.data = value
    assert same_bits(graph.forward(), outputs[0].data)
    rebuilt = build(recipe, [mg.Value(v) for v in start])
    captured = reachable(outputs)
    for ours, theirs in zip(nodes, rebuilt):
        if ours in captured:  # the others are not the graph's
            assert same_bits(ours.data, theirs.data)

    # backward, twice, from gradients left anywhere: the same as Value.backward() on every node
    rng = random.Random(len(recipe))
    before = [rng.choice([0.0, 1.5, -2.0, math.nan]) for _ in nodes]

    def run(backward):
        for node, grad in zip(nodes, before):
            node.grad = grad
        backward()
        once = [node.grad for node in nodes]
        backward()
        return once, [node.grad for node in nodes]

    replayed = run(graph.backward)
    direct = run(outputs[0].backward)
    for ours, theirs in zip(replayed, direct):
        assert all(same_bits(a, b) for a, b in zip(ours, theirs))


def test_a_neuron_sum_run_and_a_run_of_products_give_value_backward_exactly():
    """micrograd's neuron, ((b + w1*x1) + w2*x2) + ..., over a layer: the muls come first in the order (a
    run of products), then the adds (a run of the sum)."""
    rng = random.Random(7)
    xs = [mg.Value(rng.uniform(-1, 1)) for _ in range(8)]
    layer = [[mg.Value(rng.uniform(-1, 1)) for _ in range(9)] for _ in range(6)]
    outs = [sum((w * x for w, x in zip(ws[1:], xs)), ws[0]).relu() for ws in layer]
    total = sum(outs[1:], outs[0])
    params = [p for ws in layer for p in ws] + xs
    total.backward()
    expected = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    graph = mg.Graph(total)
    assert graph.forward() == total.data
    graph.backward()
    assert [p.grad for p in params] == expected


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
def test_runs_of_one_binary_op_include_aliased_operands(op):
    """x op x inside a run of one op: both contributions go to one gradient, in order."""
    f = CASES[op].ours
    xs = [mg.Value(0.5 + 0.25 * k) for k in range(6)]
    terms = [f(x, x) if k % 2 else f(x, xs[(k + 1) % 6]) for k, x in enumerate(xs)]
    total = mg.sum(terms)
    total.backward()
    expected = [x.grad for x in xs]
    for x in xs:
        x.grad = 0.0
    graph = mg.Graph(total)
    graph.forward()
    graph.backward()
    assert [x.grad for x in xs] == expected


def test_a_sum_used_again_after_its_run_gets_every_contribution():
    a, b, c, d = (mg.Value(v) for v in (1.0, 2.0, 3.0, 4.0))
    s1 = a + b * c
    s2 = s1 + c * d
    s3 = s2 + a * d  # s1 .. s3: one run
    out = s3 * s1 + s2.tanh()  # s1 and s2 read again after it
    out.backward()
    expected = [v.grad for v in (a, b, c, d, s1, s2, s3)]
    for v in (a, b, c, d):
        v.grad = 0.0
    mg.Graph(out).backward()
    assert [v.grad for v in (a, b, c, d, s1, s2, s3)] == expected


# --- micrograd's demo model, replayed after updates ---------------------------------------------


def test_forward_after_an_update_equals_a_rebuild_bit_for_bit():
    model, _ = captured_model()
    rows = moons_like(20)
    inputs = [[mg.Value(a), mg.Value(b)] for a, b, _ in rows]
    labels = [label for _, _, label in rows]
    total = hinge_loss([model(x) for x in inputs], labels) + 1e-4 * mg.sum(p * p for p in model.parameters())
    g = mg.Graph(total)
    for step in range(3):
        for p in model.parameters():
            p.data -= 0.05 * (p.grad + step)
        inputs[0][0].data += 0.1
        replayed = g.forward()
        rebuilt = hinge_loss([model(x) for x in inputs], labels) + 1e-4 * mg.sum(
            p * p for p in model.parameters()
        )
        assert replayed == rebuilt.data
        assert total.data == rebuilt.data  # the user's own Value shows it


def test_backward_equals_value_backward_exactly_and_doubles_exactly():
    model, _ = captured_model()
    inputs = [[mg.Value(a), mg.Value(b)] for a, b, _ in moons_like(10)]
    total = mg.sum(model(x) ** 2 for x in inputs)
    total.backward()
    total.backward()
    direct = grads(model)
    model.zero_grad()
    g = mg.Graph(total)
    g.backward()
    once = grads(model)
    g.backward()
    assert grads(model) == direct
    assert grads(model) == [2 * x for x in once]


def test_backward_differentiates_the_first_output_only():
    a, b = mg.Value(2.0), mg.Value(3.0)
    first, second = a * a, b * b
    b.grad = 5.0
    g = mg.Graph([first, second])
    g.backward()
    assert (a.grad, b.grad) == (4.0, 5.0)
    assert first.grad == 1.0


def test_forward_recomputes_data_dependent_ops():
    x = mg.Value(-1.0)
    y = (x * 3).relu() + (x * 2).tanh()
    g = mg.Graph(y)
    x.data = 2.0
    assert g.forward() == 6.0 + math.tanh(4.0)
    g.backward()
    assert x.grad == pytest.approx(3 + 2 * (1 - math.tanh(4.0) ** 2), rel=1e-15)
