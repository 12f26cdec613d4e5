"""Gradients against central finite differences, for every op (tests/op_reference.py) and composites."""

import math

import pytest
from op_reference import CASES

from micrograd_cpp import Value

COMPOSITES = {
    "rpow": lambda v: 1.7**v,
    "self_pow": lambda v: v**v,
    "composite": lambda v: ((v * v + 1).log() * v.sigmoid() - v / (v + 2)).tanh() ** 2,
}


def central_difference(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


def smooth_points(case, n=4):
    """n points inside the case's domain, away from its kinks."""
    lo, hi = case.domain
    points = [lo + (hi - lo) * (i + 0.5) / n for i in range(n)]
    return [x + 0.05 if any(abs(x - k) < 0.05 for k in case.kinks) else x for x in points]


@pytest.mark.parametrize("name", CASES)
def test_every_op_gradient_matches_central_differences(name):
    case = CASES[name]
    points = smooth_points(case)
    for shift in range(len(points)):
        xs = [points[(i + shift) % len(points)] for i in range(case.operands)]
        leaves = [Value(x) for x in xs]
        case.ours(*leaves).backward()
        for i, leaf in enumerate(leaves):

            def f(t, i=i, xs=xs):
                return case.ours(*(Value(t if j == i else x) for j, x in enumerate(xs))).data

            expected = central_difference(f, xs[i])
            assert math.isclose(leaf.grad, expected, rel_tol=1e-6, abs_tol=1e-8), (xs, i, leaf.grad, expected)


@pytest.mark.parametrize("name", COMPOSITES)
@pytest.mark.parametrize("x", [0.3, 0.9, 1.6, 2.7])
def test_composite_gradient_matches_central_difference(name, x):
    f = COMPOSITES[name]
    a = Value(x)
    f(a).backward()
    expected = central_difference(lambda t: f(Value(t)).data, x)
    assert math.isclose(a.grad, expected, rel_tol=1e-6, abs_tol=1e-8), (a.grad, expected)


def test_two_variable_function():
    def f(x, y):
        return (x * y + x / y - (x - y) ** 2).exp().log() * (x + y).tanh()

    x, y = Value(0.7), Value(1.3)
    f(x, y).backward()
    h = 1e-6
    dx = (f(Value(0.7 + h), y).data - f(Value(0.7 - h), y).data) / (2 * h)
    dy = (f(x, Value(1.3 + h)).data - f(x, Value(1.3 - h)).data) / (2 * h)
    assert math.isclose(x.grad, dx, rel_tol=1e-6)
    assert math.isclose(y.grad, dy, rel_tol=1e-6)
