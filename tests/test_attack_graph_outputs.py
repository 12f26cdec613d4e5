"""Graph.map(backward=True) with several outputs: only the first output is differentiated, but the batched
kernel runs the backward of every step, those of the other outputs with a zero gradient. Where such a step's
local derivative is inf or nan (sqrt at 0, log at 0 or below, a product with inf), 0 * inf = nan flows into the
parameters the outputs share: a silent nan gradient where Value.backward(), Graph.backward() and a per-row
rebuild give finite numbers."""

import math
import random

import pytest

import micrograd_cpp as mg


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
