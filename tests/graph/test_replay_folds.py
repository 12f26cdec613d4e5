"""Graph.forward() runs up to four dot (or sum) nodes side by side when their operands are ready (a layer's
rows, interleaved with their activations in the order): each node's value must still be bit for bit a
rebuild's, whatever the groups are, and nodes that read each other must not be run together."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import same_bits

import micrograd_cpp as mg


def layers(x, shapes, rng, weights):
    """Dense layers of mg.dot rows, each row's activation right after it (dot, relu, dot, relu, ...),
    some rows from an explicit start (a sum with a first operand), some sums of the row's products."""
    h = x
    for width, kind in shapes:
        out = []
        for _ in range(width):
            w = [weights.pop() if weights else mg.Value(rng.uniform(-1, 1)) for _ in h]
            if kind == "dot":
                z = mg.dot(w, h)
            elif kind == "sum_start":
                z = mg.sum([a * b for a, b in zip(w, h)], w[0])
            elif kind == "sum":
                z = mg.sum(h)  # the same node's operands in every row: still one fold each
            else:  # chained: each row reads the row before it, so they cannot run together
                z = mg.dot(w, h) + (out[-1] if out else 0.0)
            out.append(z.relu() if rng.random() < 0.5 else z.tanh())
        h = out
    return h


def rebuild_values(shapes, seed, inputs):
    rng = random.Random(seed)
    x = [mg.Value(v) for v in inputs]
    return [v.data for v in layers(x, shapes, rng, [])]


@settings(max_examples=60, deadline=None)
@given(
    shapes=st.lists(
        st.tuples(st.integers(1, 9), st.sampled_from(["dot", "sum_start", "sum", "chained"])),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 10**6),
    width=st.integers(1, 7),
)
def test_grouped_folds_give_a_rebuilds_values_bit_for_bit(shapes, seed, width):
    rng = random.Random(seed)
    x = [mg.Value(0.0) for _ in range(width)]
    outs = layers(x, shapes, random.Random(seed), [])
    g = mg.Graph(outs, inputs=x)
    for _ in range(3):
        inputs = [rng.uniform(-2, 2) for _ in range(width)]
        g.forward(inputs)
        want = rebuild_values(shapes, seed, inputs)
        assert all(same_bits(o.data, w) for o, w in zip(outs, want))


def test_a_layer_of_rows_interleaved_with_activations_replays_as_rebuilt():
    rng = random.Random(0)
    x = [mg.Value(rng.uniform(-1, 1)) for _ in range(16)]
    rows = [[mg.Value(rng.gauss(0, 0.3)) for _ in range(16)] for _ in range(64)]
    h = [mg.dot(r, x).relu() for r in rows]  # dot, relu, dot, relu: the dots grouped 4 by 4
    loss = mg.sum(h[i] * h[i + 1] for i in range(0, 63, 2))
    g = mg.Graph(loss, inputs=x)
    for _ in range(5):
        xs = [rng.uniform(-1, 1) for _ in range(16)]
        value = g.forward(xs)
        g.backward()
        grads = g.input_grads()
        fresh = [mg.Value(v) for v in xs]
        want = mg.sum(a * b for a, b in zip(*(iter([mg.dot(r, fresh).relu() for r in rows]),) * 2))
        want.backward()
        assert same_bits(value, want.data)
        assert grads == [v.grad for v in fresh]


@pytest.mark.parametrize("n_rows", [1, 2, 3, 4, 5, 7, 8, 9])
def test_any_number_of_rows_in_a_group(n_rows):
    rng = random.Random(n_rows)
    x = [mg.Value(0.0) for _ in range(5)]
    rows = [[mg.Value(rng.gauss(0, 1)) for _ in range(5)] for _ in range(n_rows)]
    outs = [mg.dot(r, x) for r in rows]
    g = mg.Graph(outs, inputs=x)
    xs = [rng.uniform(-1, 1) for _ in range(5)]
    g.forward(xs)
    assert [o.data for o in outs] == [mg.dot(r, xs).data for r in rows]


@pytest.mark.parametrize("start", ["zero", "negative_zero", "mixed", "values"])
def test_backward_from_any_leaf_gradients_adds_as_value_backward(start):
    # after a zero_grad every leaf's gradient is +0.0 and the replay sums in place: the same bits as
    # summing apart and adding once, which it still does from any other gradients
    rng = random.Random(7)

    def initial(k):
        return {
            "zero": 0.0,
            "negative_zero": -0.0,
            "mixed": [0.0, -0.0, 1e-300, -2.5][k % 4],
            "values": rng.uniform(-1, 1),
        }[start]

    def build(leaves):
        x = leaves[:4]
        rows = [leaves[4 + 4 * r : 8 + 4 * r] for r in range(3)]
        h = [mg.dot(r, x).tanh() for r in rows]
        return mg.dot(h, x[:3]) * leaves[0] + mg.sum(h, leaves[1])

    data = [rng.uniform(-1, 1) for _ in range(16)]
    grads = [initial(k) for k in range(16)]
    ours = [mg.Value(d) for d in data]
    theirs = [mg.Value(d) for d in data]
    g = mg.Graph(build(ours))
    for v, gr in zip(ours, grads):
        v.grad = gr
    g.backward()
    out = build(theirs)
    for v, gr in zip(theirs, grads):
        v.grad = gr
    out.backward()
    assert all(same_bits(a.grad, b.grad) for a, b in zip(ours, theirs))
