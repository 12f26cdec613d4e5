"""Gradients of gradients (mg.grad with create_graph, mg.hessian) against their references: PyTorch's
``torch.autograd.grad(..., create_graph=True)`` in float64 up to third order, for every op of the table
(tests/op_reference.py) at its special points and on random graphs over every op; central differences of
the first and second derivatives; ``torch.autograd.functional.hessian``."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from op_reference import CASES
from support import rooted

import micrograd_cpp as mg
from micrograd_cpp import Value

# PyTorch spells these ops' derivatives with another op than differentiating CASES[name].torch does:
# softplus's derivative is sigmoid(x), whose own derivatives we share with torch.sigmoid (our reference
# for softplus, logaddexp(x, 0), takes other paths at second order: nan at -1000).
DERIVATIVE_IN_TORCH = {"softplus": lambda torch: torch.sigmoid}


def tolerance(op, order, xs):
    """How close to PyTorch each order must be (None: not compared). binary_cross_entropy's second and
    third derivatives here are those of its first derivative, PyTorch's formula with the clamp
    max(p (1 - p), eps). PyTorch's own double backward writes p + eps and 1 - p + eps instead
    (binary_cross_entropy_double_backward), off by about eps / (p (1 - p)) relative, and unrelated where
    the clamp holds; and near p = 0 or 1 both lose digits to cancellation (the first derivative's terms
    grow as 1 / p**2). So they are compared for p in [0.01, 0.99], within 1e-9 (central differences check
    the derivatives across the domain, below)."""
    if op == "binary_cross_entropy" and order >= 2:
        return 1e-9 if 0.01 <= xs[0] <= 0.99 else None
    return 1e-12


def derivatives_ours(f, xs, order=3):
    """[first, second, third] derivatives of f at xs, each flattened in index order (d1[i], d2[i][j],
    d3[i][j][k]), each order by mg.grad of the one before (create_graph=True)."""
    leaves = [Value(x) for x in xs]
    level = [f(*leaves)]
    out = []
    for n in range(order):
        last = n == order - 1
        level = [g for y in level for g in mg.grad(y, leaves, create_graph=not last, allow_unused=True)]
        out.append([g.data for g in level])
    return out


def torch_grads(torch, y, xs, create_graph):
    if not y.requires_grad:  # a constant: its derivatives are 0
        return [torch.zeros((), dtype=torch.float64) for _ in xs]
    gs = torch.autograd.grad(y, xs, create_graph=create_graph, retain_graph=True, allow_unused=True)
    return [torch.zeros((), dtype=torch.float64) if g is None else g for g in gs]


def derivatives_torch(torch, f, xs, order=3):
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    level = [f(*leaves)]
    out = []
    for n in range(order):
        level = [g for y in level for g in torch_grads(torch, y, leaves, create_graph=n < order - 1)]
        out.append([float(g.detach()) for g in level])
    return out


def same(ours, theirs, rel=1e-12):
    """Equal within rel (relative), with the same class: nan, +inf, -inf or finite."""
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    if math.isinf(ours) or math.isinf(theirs):
        return ours == theirs
    return abs(ours - theirs) <= rel * max(abs(ours), abs(theirs)) + 1e-300


def operand_tuples(case):
    """Every point, or pair of points, of the case; 30 draws of them for an n-ary op."""
    if case.operands <= 2:
        return list(itertools.product(case.points, repeat=case.operands))
    rng = random.Random(case.operands)
    return [tuple(rng.choice(case.points) for _ in range(case.operands)) for _ in range(30)]


@pytest.mark.parametrize("name", CASES)
def test_every_op_to_third_order_matches_pytorch_at_its_special_points(torch, name):
    """Kinks, masks, zeros, infinities and nan included: relu'' = abs'' = 0, pow's masks at 0 ** 0 and
    d/dy at x == 0, the n-ary nodes' derivatives."""
    case = CASES[name]
    op = name.rsplit("-", 1)[0]
    for xs in operand_tuples(case):
        ours = derivatives_ours(case.ours, xs)
        theirs = derivatives_torch(torch, case.torch_op(), xs)
        if op in DERIVATIVE_IN_TORCH:  # orders 2 and 3: PyTorch's derivative op, differentiated
            (x,) = xs
            theirs[1:] = derivatives_torch(torch, DERIVATIVE_IN_TORCH[op](torch), (x,), order=2)
        for n, (a, b) in enumerate(zip(ours, theirs)):
            rel = tolerance(op, n + 1, xs)
            for k, (u, t) in enumerate(zip(a, b)):
                assert rel is None or same(u, t, rel=rel), (xs, f"order {n + 1}", k, u, t)


# --- random graphs over every op --------------------------------------------------------------------------


NAMES = sorted(CASES)


recipes = st.tuples(
    st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=4),
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.lists(st.integers(0, 10**6), min_size=6, max_size=6)),
        min_size=1,
        max_size=25,
    ),
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=8, max_size=8),
)


def contracted(grad, ys, leaves, weights, create_graph):
    """grad of sum_i weights[i] * ys[i] with respect to leaves: a Hessian-vector product one order up."""
    total = ys[0] * weights[0]
    for y, w in zip(ys[1:], weights[1:]):
        total = total + y * w
    return grad(total, leaves, create_graph)


@settings(max_examples=150, deadline=None)
@given(recipes)
def test_random_graphs_to_third_order_match_pytorch(torch, recipe):
    xs, steps, weights = recipe

    def ours_grad(y, leaves, create_graph):
        return mg.grad(y, leaves, create_graph=create_graph, allow_unused=True)

    def torch_grad(y, leaves, create_graph):
        return torch_grads(torch, y, leaves, create_graph)

    results = []
    for engine, make, grad in (
        ("torch", lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True), torch_grad),
        ("ours", Value, ours_grad),
    ):
        leaves = [make(x) for x in xs]
        root = rooted(leaves, steps, torch_engine=engine == "torch")
        d1 = grad(root, leaves, True)
        d2 = contracted(grad, d1, leaves, weights[:4], True)
        d3 = contracted(grad, d2, leaves, weights[4:], False)
        value = (lambda v: float(v.detach())) if engine == "torch" else (lambda v: v.data)
        results.append([value(v) for v in (root, *d1, *d2, *d3)])
    theirs, ours = results
    assume(all(math.isfinite(t) for t in theirs))
    scale = 1.0 + max(abs(t) for t in theirs)
    for i, (u, t) in enumerate(zip(ours, theirs)):
        assert math.isclose(u, t, rel_tol=1e-8, abs_tol=1e-8 * scale), (i, u, t)


# --- central differences of the first and second derivatives ----------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_second_and_third_derivatives_match_central_differences_of_the_first_and_second(name):
    case = CASES[name]
    points = case.smooth_points(3)
    xs = [points[i % len(points)] + 0.1 * (i // len(points)) for i in range(case.operands)]
    n = len(xs)

    def moved(order, k, t):  # the derivatives of this order with xs[k] moved to t
        return derivatives_ours(case.ours, [t if m == k else x for m, x in enumerate(xs)], order)[order - 1]

    _, d2, d3 = derivatives_ours(case.ours, xs)
    for k in range(n):
        h2, h3 = 1e-6, 1e-5
        first = [(a - b) / (2 * h2) for a, b in zip(moved(1, k, xs[k] + h2), moved(1, k, xs[k] - h2))]
        second = [(a - b) / (2 * h3) for a, b in zip(moved(2, k, xs[k] + h3), moved(2, k, xs[k] - h3))]
        for i in range(n):  # d2[i][k] is d(d1[i])/dx_k
            assert math.isclose(d2[i * n + k], first[i], rel_tol=1e-5, abs_tol=1e-6), (xs, i, k)
        for ij in range(n * n):  # d3[i][j][k] is d(d2[i][j])/dx_k
            got = d3[ij * n + k]
            assert math.isclose(got, second[ij], rel_tol=1e-4, abs_tol=1e-5), (xs, ij, k, got, second[ij])


# --- Hessians ------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(recipes, st.integers(0, 2))
def test_hessians_match_torch_autograd_functional_hessian(torch, recipe, unused):
    """Random graphs over every op, with `unused` extra inputs the output does not depend on: zero rows
    and columns."""
    xs, steps, _ = recipe
    extra = [0.5 + i for i in range(unused)]

    def f(*inputs):
        return rooted(list(inputs[: len(xs)]), steps, torch_engine=True)

    theirs = torch.autograd.functional.hessian(
        f, tuple(torch.tensor(x, dtype=torch.float64) for x in [*xs, *extra])
    )
    theirs = [[float(theirs[i][j]) for j in range(len(xs) + unused)] for i in range(len(xs) + unused)]
    assume(all(math.isfinite(t) for row in theirs for t in row))
    leaves = [Value(x) for x in [*xs, *extra]]
    ours = mg.hessian(rooted(leaves[: len(xs)], steps), leaves)
    scale = 1.0 + max(abs(t) for row in theirs for t in row)
    for i, row in enumerate(theirs):
        for j, t in enumerate(row):
            assert math.isclose(ours[i][j], t, rel_tol=1e-8, abs_tol=1e-8 * scale), (i, j, ours[i][j], t)
            if i >= len(xs) or j >= len(xs):
                assert ours[i][j] == 0.0
