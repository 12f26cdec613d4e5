"""A gradient graph (mg.grad with create_graph=True) is a graph like any other: captured by mg.Graph, it
replays forward and backward, and maps over rows, with its masks (relu's, abs's, pow's) evaluated on each
replay's and each row's data, never frozen at capture."""

from __future__ import annotations

import itertools

import pytest
from support import bits

import micrograd_cpp as mg
from micrograd_cpp import Value


def masked(x: Value, y: Value, w: Value) -> Value:
    """Every mask and kink of the table: relu, abs, x ** y at x == 0 and y == 0, sign, mask itself."""
    return (x * w).relu() * x + abs(x) * y + abs(x) ** y + (x * y).relu() * w + mg._core._mask(y, x) * w


POINTS = list(itertools.product([-1.0, -0.0, 0.0, 0.5, 2.0], [0.0, 1.5, -1.0, 2.0]))


def gradient_graph(x: float, y: float, order: int) -> tuple[Value, Value, list[Value]]:
    """X, Y and [d/dX, d/dY] of masked() (order 1), or of its d/dX (order 2), built at x and y."""
    X, Y, W = Value(x), Value(y), Value(0.75)
    out = [masked(X, Y, W)]
    for _ in range(order):
        out = mg.grad(out[0], [X, Y], create_graph=True)
    return X, Y, out


def gradients_at(x: float, y: float, order: int) -> list[float]:
    return [g.data for g in gradient_graph(x, y, order)[2]]


@pytest.mark.parametrize("order", [1, 2])
def test_a_captured_gradient_graph_replayed_with_other_data_is_the_gradient_there(order):
    X, Y, out = gradient_graph(0.5, 1.5, order)
    graph = mg.Graph(out)
    for x, y in POINTS:  # across every kink and mask: a frozen mask would give the capture's branch
        X.data, Y.data = x, y
        graph.forward()
        assert [bits(g.data) for g in out] == [bits(g) for g in gradients_at(x, y, order)], (x, y)


@pytest.mark.parametrize("order", [1, 2])
def test_a_gradient_graph_mapped_over_rows_is_each_rows_gradient(order):
    X, Y, out = gradient_graph(0.5, 1.5, order)
    graph = mg.Graph(out, inputs=[X, Y])
    rows = [list(p) for p in POINTS]
    mapped = graph.map(rows)
    for (x, y), got in zip(POINTS, mapped):
        assert [bits(g) for g in got] == [bits(g) for g in gradients_at(x, y, order)], (x, y)


def test_training_through_a_captured_gradient_graph_matches_rebuilding_it():
    """A loss of a gradient (a gradient penalty) over rows, differentiated with respect to a parameter by
    Graph.map(backward=True): each row's rebuilt graph's backward(), summed."""
    X, Y, W = Value(0.5), Value(1.5), Value(0.75)
    dx, dy = mg.grad(masked(X, Y, W), [X, Y], create_graph=True)
    penalty = dx * dx + dy * dy
    graph = mg.Graph(penalty, inputs=[X, Y])
    rows = [[x, y] for x, y in POINTS if x != 0]  # where 0 ** y and its derivatives are finite
    W.grad = 0.0
    values = graph.map(rows, backward=True)
    mapped_grad = W.grad
    expected_grad = 0.0
    for (x, y), value in zip(rows, values):
        X2, Y2, W2 = Value(x), Value(y), Value(0.75)
        a, b = mg.grad(masked(X2, Y2, W2), [X2, Y2], create_graph=True)
        rebuilt = a * a + b * b
        assert bits(value) == bits(rebuilt.data)
        rebuilt.backward()
        expected_grad += W2.grad
    assert mapped_grad == pytest.approx(expected_grad, rel=1e-12)


def test_a_captured_gradient_graph_backward_is_its_values_backward():
    X, Y, W = Value(0.5), Value(1.5), Value(0.75)
    dx, _ = mg.grad(masked(X, Y, W), [X, Y], create_graph=True)
    graph = mg.Graph(dx)
    for x, y in [(0.5, 1.5), (-1.0, 2.0), (2.0, 0.0)]:
        X.data, Y.data = x, y
        graph.forward()
        for v in (X, Y, W):
            v.grad = 0.0
        graph.backward()
        replayed = [X.grad, Y.grad, W.grad]
        for v in (X, Y, W):
            v.grad = 0.0
        dx.backward()
        assert [bits(g) for g in replayed] == [bits(v.grad) for v in (X, Y, W)]
