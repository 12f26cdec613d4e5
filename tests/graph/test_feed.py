"""Graph.forward(inputs) and Graph.input_grads(): one sample's input data in one call, its inputs'
gradients out in one call, and inputs that stand for Values (an embedding lookup's gather and scatter).

Against a rebuild for each sample: the values and gradients must be exactly a rebuild's, whatever the
inputs were fed (numbers, Values, a NumPy array), and every bad input must change nothing."""

import gc
import math
import random
from fractions import Fraction

import pytest

try:
    import numpy as np
except ImportError:  # the portable tests (sdist, cibuildwheel) run without NumPy: its cases skip
    np = None

NEEDS_NUMPY = pytest.mark.skipif(np is None, reason="needs NumPy")

import micrograd_cpp as mg


def model(x, w):
    """A small graph with products, a relu, an n-ary dot and a sum: f(x; w)."""
    h = [(wi * xi + 0.5).relu() for wi, xi in zip(w, x)]
    return mg.dot(h, x).tanh() + mg.sum(h) * w[0]


def fresh(rng, n):
    return [mg.Value(rng.uniform(-1, 1)) for _ in range(n)]


def rebuilt(xs, ws):
    """f and its gradients for the input numbers xs, built anew: (value, d/dx, d/dw)."""
    x = [mg.Value(v) for v in xs]
    w = [mg.Value(v) for v in ws]
    out = model(x, w)
    out.backward()
    return out.data, [v.grad for v in x], [v.grad for v in w]


@pytest.fixture
def captured():
    rng = random.Random(3)
    x, w = fresh(rng, 4), fresh(rng, 4)
    return mg.Graph(model(x, w), inputs=x), x, w


def test_numbers_in_one_call_give_a_rebuilds_value_and_gradients(captured):
    g, x, w = captured
    rng = random.Random(5)
    for _ in range(20):
        xs = [rng.uniform(-2, 2) for _ in x]
        for v in w:
            v.grad = 0.0
        value = g.forward(xs)
        g.backward()
        want, want_dx, want_dw = rebuilt(xs, [v.data for v in w])
        assert value == want
        assert g.input_grads() == want_dx
        assert [v.grad for v in w] == want_dw
        assert [v.data for v in x] == xs  # the inputs hold the sample's numbers


@pytest.mark.parametrize(
    "as_inputs",
    [
        list,
        tuple,
        pytest.param(lambda xs: np.array(xs), marks=NEEDS_NUMPY),
        lambda xs: iter(xs),
        lambda xs: (v for v in xs),
        lambda xs: [Fraction(v) for v in xs],
    ],
    ids=["list", "tuple", "numpy", "iterator", "generator", "fractions"],
)
def test_any_sequence_of_numbers_and_a_float64_array_feed_alike(captured, as_inputs):
    g, x, _ = captured
    xs = [0.25, -1.5, 2.0, 0.125]  # exact in binary: Fraction(v) is v
    want = g.forward(xs)
    x_data = [v.data for v in x]
    g.forward([0.0] * 4)
    assert g.forward(as_inputs(xs)) == want
    assert [v.data for v in x] == x_data == xs


def test_forward_without_inputs_keeps_the_data_and_backward_twice_is_twice(captured):
    g, x, _ = captured
    first = g.forward([0.5, 0.5, -0.5, 1.0])
    assert g.forward() == first
    g.backward()
    once = g.input_grads()
    g.backward()
    assert g.input_grads() == once  # each backward's own: not accumulated
    assert [v.grad for v in x] == [2 * d for d in once]  # the inputs' own .grad accumulates, as any leaf's


def test_input_grads_needs_a_backward_after_the_last_forward(captured):
    g, _, _ = captured
    with pytest.raises(ValueError, match="no backward"):
        g.input_grads()
    g.forward([1.0, 2.0, 3.0, 4.0])
    g.backward()
    assert len(g.input_grads()) == 4
    g.forward()
    with pytest.raises(ValueError, match="no backward"):
        g.input_grads()


def test_an_input_the_first_output_does_not_reach_has_gradient_zero():
    x, y, w = mg.Value(1.0), mg.Value(2.0), mg.Value(3.0)
    g = mg.Graph([w * x, y * 2], inputs=[x, y])
    g.forward([4.0, 5.0])
    g.backward()
    assert g.input_grads() == [3.0, 0.0]
    assert g.outputs[1].data == 10.0


# --- inputs that stand for Values: an embedding lookup ------------------------------------------------------


def embedding_model(n):
    """A sequence model's loss: each position's input row, mixed with the next through shared weights."""
    rng = random.Random(11)
    w = fresh(rng, 3)
    rows = [[mg.Value(0.0) for _ in range(3)] for _ in range(n)]
    out = mg.sum(mg.dot(w, r).tanh() * mg.dot(r, s) for r, s in zip(rows, rows[1:] + rows[:1]))
    return rows, w, out


def rebuilt_embedding(table, tokens, w_data):
    t = [[mg.Value(v.data) for v in row] for row in table]
    w = [mg.Value(v) for v in w_data]
    rows = [t[k] for k in tokens]
    out = mg.sum(mg.dot(w, r).tanh() * mg.dot(r, s) for r, s in zip(rows, rows[1:] + rows[:1]))
    out.backward()
    return out.data, [[v.grad for v in row] for row in t], [v.grad for v in w]


def test_inputs_fed_values_gather_their_data_and_scatter_their_gradients_as_a_rebuild():
    rng = random.Random(2)
    table = [fresh(rng, 3) for _ in range(5)]
    n = 4
    rows, w, out = embedding_model(n)
    g = mg.Graph(out, inputs=[v for r in rows for v in r])
    for tokens in ([0, 1, 2, 3], [4, 4, 1, 4], [2, 2, 2, 2]):  # tokens repeat: their rows get the sum
        for row in table:
            for v in row:
                v.grad = 0.0
        for v in w:
            v.grad = 0.0
        value = g.forward([v for k in tokens for v in table[k]])
        g.backward()
        want, want_table, want_w = rebuilt_embedding(table, tokens, [v.data for v in w])
        assert value == want
        assert [v.grad for v in w] == want_w
        for got_row, want_row in zip(table, want_table):
            assert [v.grad for v in got_row] == pytest.approx(want_row, rel=1e-15, abs=1e-300)
        assert all(v.grad == 0.0 for r in rows for v in r)  # the stand-ins' own gradients stay as they were
        assert len(g.input_grads()) == 3 * n


def test_a_fed_value_is_read_at_every_forward_until_the_next_feed():
    e, w = mg.Value(2.0), mg.Value(3.0)
    x = mg.Value(0.0)
    g = mg.Graph(w * x, inputs=[x])
    assert g.forward([e]) == 6.0
    e.data = -1.0
    assert g.forward() == -3.0  # still stands for e
    g.backward()
    assert (e.grad, x.grad, w.grad) == (3.0, 0.0, -1.0)
    assert g.forward([10.0]) == 30.0  # a number: no longer stands for e
    g.backward()
    assert (e.grad, x.grad) == (3.0, 3.0)


def test_a_fed_value_that_is_also_a_parameter_of_the_graph_gets_both_gradients():
    # tied weights: the input stands for w, which the graph also reads directly
    w, x = mg.Value(1.5), mg.Value(0.0)
    g = mg.Graph(w * x + w * w, inputs=[x])
    assert g.forward([w]) == 1.5 * 1.5 + 1.5 * 1.5
    g.backward()
    rw = mg.Value(1.5)
    rebuilt_out = rw * rw + rw * rw
    rebuilt_out.backward()
    assert w.grad == rw.grad == 6.0
    assert g.input_grads() == [1.5]


def test_a_value_fed_to_an_input_the_first_output_does_not_reach_gets_no_gradient():
    x, y, w = mg.Value(0.0), mg.Value(0.0), mg.Value(3.0)
    g = mg.Graph([w * x, y * 2], inputs=[x, y])
    source = mg.Value(4.0)
    source.grad = -0.0
    assert g.forward([1.0, source]) == 3.0
    assert g.outputs[1].data == 8.0  # gathered for the second output
    g.backward()
    assert (
        math.copysign(1.0, source.grad) == -1.0
    )  # untouched, as Value.backward leaves what it does not reach


def test_mixed_numbers_and_values():
    a, b = mg.Value(0.0), mg.Value(0.0)
    src = mg.Value(4.0)
    g = mg.Graph(a * b, inputs=[a, b])
    assert g.forward([src, 0.5]) == 2.0
    g.backward()
    assert (src.grad, b.grad, g.input_grads()) == (0.5, 4.0, [0.5, 4.0])


def test_a_fed_value_is_held_by_the_graph():
    x = mg.Value(0.0)
    g = mg.Graph(x * 3, inputs=[x])
    gc.collect()  # earlier tests' cycles, else a collection during the test frees their nodes
    before = mg._core.live_node_count()
    g.forward([mg.Value(2.0)])  # no other reference to it
    assert mg._core.live_node_count() == before + 1
    assert g.forward() == 6.0
    g.forward([1.0])
    assert mg._core.live_node_count() == before
    g.forward([mg.Value(5.0)])
    del g
    assert mg._core.live_node_count() == before - 2  # x * 3 and its constant 3 went with the Graph: x stays


# --- bad inputs change nothing ----------------------------------------------------------------------------


def state(g, x, w):
    return [v.data for v in x], [v.grad for v in x], [v.data for v in w], [v.grad for v in w]


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        ([1.0, 2.0, 3.0], ValueError, "has 3 items, but the graph has 4 inputs"),
        ([1.0] * 5, ValueError, "has 5 items"),
        ((v for v in [1.0] * 6), ValueError, "more than 4"),
        ([1.0, 2.0, "3", 4.0], TypeError, r"not str \(at index 2\)"),
        ([1.0, None, 3.0, 4.0], TypeError, r"not NoneType \(at index 1\)"),
        ([1.0, 2.0, 3.0, 1j], TypeError, "complex"),
        ([1.0, [2.0], 3.0, 4.0], TypeError, "list"),
        ({1.0, 2.0, 3.0, 4.0}, TypeError, "not set"),
        (dict.fromkeys([1.0, 2.0, 3.0, 4.0]).keys(), TypeError, "not dict_keys"),
        (bytearray(b"1234"), TypeError, "not bytearray"),
        ("1234", TypeError, "not str"),
        (b"1234", TypeError, "not bytes"),
        (5.0, TypeError, "not float"),
        pytest.param((2, 2), ValueError, "1-D", marks=NEEDS_NUMPY, id="numpy-2d"),
        pytest.param((3,), ValueError, "has 3 items", marks=NEEDS_NUMPY, id="numpy-short"),
        ([1.0, 2.0, 3.0, 2**2000], OverflowError, "too large"),
    ],
)
def test_bad_inputs_are_refused_and_change_nothing(captured, inputs, error, match):
    if isinstance(inputs, tuple) and all(isinstance(n, int) for n in inputs):  # a NumPy array's shape
        inputs = np.zeros(inputs)
    g, x, w = captured
    g.forward([0.5, 0.25, 0.125, 1.0])
    g.backward()
    before = state(g, x, w)
    grads = g.input_grads()
    with pytest.raises(error, match=match):
        g.forward(inputs)
    assert state(g, x, w) == before
    assert g.input_grads() == grads  # not even the last gradients were forgotten


def test_a_value_made_by_an_op_or_an_input_of_the_graph_is_refused(captured):
    g, x, w = captured
    g.forward([0.5, 0.25, 0.125, 1.0])
    before = state(g, x, w)
    for bad, match in [
        (w[0] * 2, "not a leaf"),
        (x[2], "an input of this graph"),
        (x[0], "an input of this graph"),  # itself
    ]:
        with pytest.raises(ValueError, match=match):
            g.forward([1.0, bad, 2.0, 3.0])
        assert state(g, x, w) == before
    assert g.forward() == g.forward([0.5, 0.25, 0.125, 1.0])


def test_a_failed_feed_keeps_what_the_inputs_stood_for():
    e, x = mg.Value(2.0), mg.Value(0.0)
    g = mg.Graph(x * x, inputs=[x])
    g.forward([e])
    with pytest.raises(TypeError):
        g.forward(["no"])
    e.data = 3.0
    assert g.forward() == 9.0  # still e's


def test_an_items_float_may_drop_the_list_it_is_read_from():
    x = [mg.Value(0.0), mg.Value(0.0)]
    g = mg.Graph(x[0] * x[1], inputs=x)
    source = mg.Value(7.0)
    inputs = [None, source]

    class Shrinks:
        def __float__(self):
            inputs.clear()  # the list is read as it was when the call began
            return 2.0

    inputs[0] = Shrinks()
    del source
    assert g.forward(inputs) == 14.0
    g.backward()
    assert g.input_grads() == [7.0, 2.0]


def test_an_items_float_cannot_call_its_own_graph():
    x = mg.Value(0.0)
    g = mg.Graph(x * 2, inputs=[x])

    class Reenters:
        def __float__(self):
            g.forward([1.0])
            return 1.0

    with pytest.raises(RuntimeError, match="in use"):
        g.forward([Reenters()])
    assert g.forward([3.0]) == 6.0


def test_no_inputs_take_an_empty_feed():
    w = mg.Value(2.0)
    g = mg.Graph(w * w)
    assert g.forward([]) == 4.0
    g.backward()
    assert g.input_grads() == []
    with pytest.raises(ValueError, match="has 1 items, but the graph has 0 inputs"):
        g.forward([1.0])


def test_map_ignores_what_inputs_stand_for_and_changes_no_input():
    e, w, x = mg.Value(2.0), mg.Value(3.0), mg.Value(0.0)
    g = mg.Graph(w * x, inputs=[x])
    g.forward([e])
    assert g.map([[1.0], [2.0]], backward=True) == [3.0, 6.0]
    assert (e.grad, x.data, w.grad) == (0.0, 2.0, 3.0)
    assert g.forward() == 6.0


def test_non_finite_numbers_are_data_like_any_other():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph(w * x, inputs=[x])
    assert math.isnan(g.forward([math.nan]))
    assert g.forward([math.inf]) == math.inf
