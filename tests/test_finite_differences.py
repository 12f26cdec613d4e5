"""Gradients against central finite differences, for every op and a composite."""

import math

import pytest

from micrograd_cpp import Value

FUNCTIONS = {
    "tanh": lambda v: v.tanh(),
    "sigmoid": lambda v: v.sigmoid(),
    "relu": lambda v: v.relu(),
    "exp": lambda v: v.exp(),
    "log": lambda v: v.log(),
    "softplus": lambda v: v.softplus(),
    "neg": lambda v: -v,
    "pow": lambda v: v**2.5,
    "rpow": lambda v: 1.7**v,
    "self_pow": lambda v: v**v,
    "div": lambda v: 3.0 / v,
    "composite": lambda v: ((v * v + 1).log() * v.sigmoid() - v / (v + 2)).tanh() ** 2,
}


def central_difference(f, x, h=1e-6):
    return (f(Value(x + h)).data - f(Value(x - h)).data) / (2 * h)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("x", [0.3, 0.9, 1.6, 2.7])
def test_gradient_matches_central_difference(name, x):
    f = FUNCTIONS[name]
    a = Value(x)
    f(a).backward()
    expected = central_difference(f, x)
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
