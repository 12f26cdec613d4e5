"""mg.Graph.map: a captured graph run over a batch of rows, against the graph built anew for each row
(values bit for bit, gradients within 1e-12 where the sum over rows is well-conditioned) and PyTorch
batched float64. What map reads and refuses is in test_map_rows.py, its batched kernel's chunks, lanes and
uniform operands in test_map_kernel.py."""

import itertools
import math
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_reference import CASES
from support import captured_model, close, grads, moons_like, picked

import micrograd_cpp as mg


def per_row(model, rows):
    """The same losses built anew for each row, as a user would without Graph."""
    losses, scores = [], []
    for a, b, label in rows:
        score = model([mg.Value(a), mg.Value(b)])
        losses.append((1 + -label * score).relu())
        scores.append(score)
    return losses, scores


# --- against a rebuild per row and PyTorch -------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_map_equals_a_rebuild_per_row(reduction):
    model, g = captured_model()
    rows = moons_like(100)
    outs = g.map(rows, backward=True, reduction=reduction)
    batched = grads(model)
    model.zero_grad()
    losses, scores = per_row(model, rows)
    assert [o[0] for o in outs] == [v.data for v in losses]  # bit for bit
    assert [o[1] for o in outs] == [v.data for v in scores]
    total = mg.sum(losses)
    (total / len(rows) if reduction == "mean" else total).backward()
    assert close(batched, grads(model))


def test_map_adds_to_the_parameters_gradients_and_leaves_data_alone():
    model, g = captured_model()
    data = [p.data for p in model.parameters()]
    for p in model.parameters():
        p.grad = 1.0
    g.map(moons_like(5), backward=True)
    once = [x - 1.0 for x in grads(model)]
    g.map(moons_like(5), backward=True)
    assert close([x - 1.0 for x in grads(model)], [2 * x for x in once])
    assert [p.data for p in model.parameters()] == data
    assert all(v.grad == 0.0 for v in g.inputs)


def test_map_of_one_output_gives_a_list_of_floats():
    x, w = mg.Value(0.0), mg.Value(2.0)
    g = mg.Graph(x * w, inputs=[x])
    assert g.map([[1.0], [2.5], [-3]]) == [2.0, 5.0, -6.0]
    assert g.map([]) == []


def test_data_dependent_ops_stay_correct_per_row():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph((x * w).relu(), inputs=[x])
    assert g.map([[-2.0], [3.0], [-1.0], [4.0]], backward=True) == [0.0, 3.0, 0.0, 4.0]
    assert w.grad == 7.0  # only the rows where relu passes


def numbers_in(case_name):
    """Inputs inside the op's domain for random rows."""
    lo, hi = CASES[case_name].domain
    return st.floats(max(lo, -3.0), min(hi, 3.0), allow_nan=False)


recipes = st.lists(
    st.tuples(st.sampled_from(sorted(CASES)), st.lists(st.integers(0, 10**6), min_size=6, max_size=6)),
    min_size=1,
    max_size=25,
)


def build(steps, x, params):
    """A random graph of every op over inputs x and parameters, shared subexpressions included; each op's
    operands squashed into its domain (support.picked)."""
    nodes = [*x, *params]
    for name, picks in steps:
        nodes.append(CASES[name].ours(*picked(CASES[name], nodes, picks)))
    return nodes[-1] + mg.sum([*x, *nodes[len(x) :: 3]])  # every input in the graph


@settings(max_examples=60, deadline=None)
@given(recipes, st.lists(st.lists(st.floats(-2, 2, allow_nan=False), min_size=2, max_size=2), max_size=12))
def test_map_equals_a_rebuild_on_random_graphs_of_every_op(steps, rows):
    x = [mg.Value(0.0), mg.Value(0.0)]
    params = [mg.Value(0.3), mg.Value(-1.1), mg.Value(0.7)]
    g = mg.Graph(build(steps, x, params), inputs=x)
    if not rows:
        assert g.map(rows) == []
        return
    out = g.map(rows, backward=True)
    batched = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    rebuilt = [build(steps, [mg.Value(a), mg.Value(b)], params) for a, b in rows]
    assert out == [r.data for r in rebuilt]  # bit for bit, transcendental ops too
    mg.sum(rebuilt).backward()
    for ours, theirs in zip(batched, (p.grad for p in params)):
        assert math.isclose(ours, theirs, rel_tol=1e-11, abs_tol=1e-11 * (1 + abs(theirs))) or (
            math.isnan(ours) and math.isnan(theirs)
        )


def test_map_gradients_match_pytorch_batched(torch):
    model, g = captured_model()
    rows = moons_like(64)
    g.map(rows, backward=True, reduction="mean")
    layers = model.layers
    weights = [
        torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        for layer in layers
    ]
    biases = [
        torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        for layer in layers
    ]
    data = torch.tensor(rows, dtype=torch.float64)
    h = data[:, :2]
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = torch.relu(h)
    torch.relu(1 - data[:, 2] * h[:, 0]).mean().backward()
    theirs = []
    for w, b in zip(weights, biases):
        for row_w, row_b in zip(w.grad.tolist(), b.grad.tolist()):
            theirs += [*row_w, row_b]
    assert close(grads(model), theirs, rel=1e-12)


def test_backward_needs_a_differentiable_first_output():
    a, b = mg.Value(1.0), mg.Value(2.0)
    g = mg.Graph(a * b, inputs=[a, b])
    with pytest.raises(ValueError, match="no leaf that is not an input"):
        g.map([[1.0, 2.0]], backward=True)
    assert g.map([[1.0, 2.0]]) == [2.0]


# --- several outputs: only the first is differentiated ------------------------------------------------------
# Graph.map(backward=True) with several outputs: only the first output is differentiated, but the batched
# kernel runs the backward of every step, those of the other outputs with a zero gradient. Where such a step's
# local derivative is inf or nan (sqrt at 0, log at 0 or below, a product with inf), 0 * inf = nan flows into the
# parameters the outputs share: a silent nan gradient where Value.backward(), Graph.backward() and a per-row
# rebuild give finite numbers.


def rebuilt_gradient(first, rows, x, params):
    """d(sum over rows of the first output)/d(param), the graph built anew per row."""
    for p in params:
        p.grad = 0.0
    losses = [first(*[mg.Value(v) for v in row]) for row in rows]
    mg.sum(losses).backward()
    out = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    return out


def test_a_second_output_with_an_infinite_derivative_leaves_the_first_outputs_gradient_alone():
    x, w = mg.Value(0.0), mg.Value(0.0)
    g = mg.Graph([w * x, w.sqrt()], inputs=[x])  # d sqrt(w)/dw = inf at w = 0
    g.map([[1.0], [2.0]], backward=True)
    assert w.grad == 3.0  # was nan: 0 * (1 / (2 * 0)) from the second output's step


def test_a_second_output_multiplied_by_inf_leaves_the_first_outputs_gradient_alone():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph([w * x, w * math.inf], inputs=[x])
    g.map([[1.0], [2.0]], backward=True)
    assert w.grad == 3.0  # was nan: 0 * inf


def test_a_second_output_that_is_nan_in_some_rows_leaves_the_gradient_alone():
    # Ordinary data: the second output is the log of the score, -inf where the score is 0.
    x, w = mg.Value(0.0), mg.Value(1.0)
    score = w * x
    g = mg.Graph([score, (w * x).log()], inputs=[x])
    rows = [[0.0], [2.0], [-1.0]]
    out = g.map(rows, backward=True)
    assert [o[0] for o in out] == [0.0, 2.0, -1.0]
    assert w.grad == 1.0  # 0 + 2 - 1; was nan


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_a_uniform_first_output_is_not_poisoned_by_the_other_outputs(reduction):
    # First output without inputs (uniform), a varying second output with a nan derivative.
    x, w = mg.Value(0.0), mg.Value(2.0)
    g = mg.Graph([w * 3.0, (w * x).sqrt()], inputs=[x])
    g.map([[0.0], [1.0]], backward=True, reduction=reduction)
    assert w.grad == (6.0 if reduction == "sum" else 3.0)


def test_random_graphs_with_several_outputs_give_the_gradient_of_the_first():
    # A neuron-like first output, and a second output over the same parameters that hits the edges of
    # its ops' domains for some rows (log and sqrt of negative numbers, division by zero).
    rng = random.Random(7)
    for trial in range(50):
        x = mg.Value(0.0)
        params = [mg.Value(rng.uniform(-1, 1)) for _ in range(3)]

        def first(x, params=params):
            return (params[0] * x + params[1]).tanh() * params[2]

        second = (params[0] * x - params[1]).log() + (params[2] * x).sqrt() + params[1] / (x - 0.5)
        g = mg.Graph([first(x), second], inputs=[x])
        rows = [[rng.choice([rng.uniform(-2, 2), 0.5, 0.0])] for _ in range(rng.randint(1, 40))]
        g.map(rows, backward=True)
        ours = [p.grad for p in params]
        for p in params:
            p.grad = 0.0
        expected = rebuilt_gradient(first, rows, x, params)
        assert all(math.isfinite(v) for v in expected)
        assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15), f"trial {trial}"


# --- sums over rows that cancel -----------------------------------------------------------------------------
# Graph.map(backward=True) against a per-row rebuild when the sum over rows cancels. The kernel sums each
# parameter's per-row contributions in its own order (four running sums over the lanes, chunk by chunk); a
# rebuild sums them in the order of its backward walk. Where the sum is well-conditioned the two agree to
# 1e-12 relative (above); where it cancels, no order is right and both are within the
# rounding bound of a sum of n terms, |ours - exact| <= n * eps * sum |term| (Higham, 2002, eq. 4.4). The
# README and Graph.map's docstring say so.


def test_map_gradient_is_within_the_rounding_bound_of_the_sum_when_it_cancels():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph(w * x, inputs=[x])
    terms = [1e16, 1.0, 1.0, -1e16, 3.0]
    exact = math.fsum(terms)
    bound = len(terms) * sys.float_info.epsilon * sum(abs(t) for t in terms)
    for rows in itertools.permutations(terms):
        w.grad = 0.0
        g.map([[r] for r in rows], backward=True)
        assert abs(w.grad - exact) <= bound, (rows, w.grad)
        w.grad = 0.0
        mg.sum([w * mg.Value(r) for r in rows]).backward()
        assert abs(w.grad - exact) <= bound  # the rebuild is no closer than the bound either


def test_map_gradient_of_a_well_conditioned_sum_equals_the_rebuild_to_1e12():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph((w * x).tanh(), inputs=[x])
    rows = [[0.01 * i] for i in range(1, 1000)]
    g.map(rows, backward=True)
    ours = w.grad
    w.grad = 0.0
    mg.sum([(w * mg.Value(r[0])).tanh() for r in rows]).backward()
    assert math.isclose(ours, w.grad, rel_tol=1e-12)
