"""Graph.map(backward=True) against the exact sum of a per-row rebuild's gradients (issue 23, items 2 and 3).

map adds to each parameter the sum over the rows of that row's gradient, each row's gradient as a rebuild
of the graph for that row computes it. The contract, for every parameter:

  - |map - exact| <= n * eps * sum_r |g_r|, where g_r is the rebuild's gradient for row r, n the number of
    rows and exact the rational sum of the g_r (Higham 2002, eq. 4.4: the bound of any order of summing);
  - finite wherever that exact sum rounds to a finite double, whatever the order of the rows.

Before issue 23 a node that depends on no input (a "uniform" node) had each varying step's terms summed over
the rows first and combined after (the error then scales with those terms, not with g_r: 416 for 500), and
its own local derivative applied to the summed gradient (which overflows where every row's is finite).
"""

from __future__ import annotations

import math
import os
import random
import sys
from fractions import Fraction

import pytest
from op_reference import CASES
from support import grow, same_bits

import micrograd_cpp as mg

EPS = sys.float_info.epsilon
MAX = sys.float_info.max


def rebuilt_gradients(build, params, rows, mean=False):
    """Each row's gradient of every parameter, from the graph built anew for the row (fresh input leaves)."""
    per_row = []
    for row in rows:
        out = build([mg.Value(v) for v in row])
        for p in params:
            p.grad = 0.0
        (out / len(rows) if mean else out).backward()
        per_row.append([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    return [list(column) for column in zip(*per_row)]


def check_sum(ours, terms, what=""):
    """ours against the exact sum of terms: the bound, or the class (nan, +-inf) of a sum of non-finite terms."""
    if any(math.isnan(t) for t in terms) or (math.inf in terms and -math.inf in terms):
        assert math.isnan(ours), (what, ours)
        return
    if any(math.isinf(t) for t in terms):
        assert ours == next(t for t in terms if math.isinf(t)), (what, ours)
        return
    exact = sum(Fraction(t) for t in terms)
    bound = len(terms) * Fraction(EPS) * sum(Fraction(abs(t)) for t in terms)
    if abs(exact) > Fraction(MAX) + Fraction(2) ** 970:  # rounds past the largest double (half its ulp)
        assert math.isinf(ours), (what, ours)
        assert (ours > 0) == (exact > 0), (what, ours)
        return
    assert math.isfinite(ours), (what, ours, float(exact))
    assert abs(Fraction(ours) - exact) <= bound, (what, ours, float(exact), float(bound))


def map_gradients(graph, params, rows, mean=False):
    for p in params:
        p.grad = 0.0
    graph.map(rows, backward=True, reduction="mean" if mean else "sum")
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    return grads


# --- the audit's cases, and the class each one stands for -----------------------------------------


@pytest.mark.parametrize("mean", [False, True], ids=["sum", "mean"])
def test_a_uniform_node_read_by_two_varying_steps_gets_each_rows_terms_added_in_that_row(mean):
    """The audit's case: u = p.log() read by u*x and u*z, rows [L + 1, -L] with L ~ 1e15: every row's
    gradient of p is exactly 0.5, and map's sum is exactly 500 (416 before). With mean, each row's terms
    are rounded (x / 1000) before they are added, as in a rebuild: its rows' gradients are the reference."""
    p = mg.Value(2.0)
    u = p.log()

    def build(v):
        return u * v[0] + u * v[1]

    x, z = mg.Value(0.0), mg.Value(0.0)
    graph = mg.Graph(build([x, z]), inputs=[x, z])
    big = float(10**15 + 12345)
    rows = [[big + 1.0, -big]] * 1000
    (ours,) = map_gradients(graph, [p], rows, mean)
    (terms,) = rebuilt_gradients(build, [p], rows, mean)
    if not mean:
        assert ours == 500.0
    check_sum(ours, terms)


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("a parameter read by two varying steps", lambda p, q, v: p * v[0] + p * v[1]),
        ("one varying step reading a parameter twice", lambda p, q, v: mg.dot([p, p], [v[0], v[1]])),
        ("a chain of + fused into one dot", lambda p, q, v: p * v[0] + q + p * v[1]),
        (
            "a uniform node read directly and through another",
            lambda p, q, v: p.log() * v[0] + (p.log() + q) * v[1],
        ),
        ("a term the same in every row beside a varying one", lambda p, q, v: p * v[0] * v[1] + (p + q)),
        (
            "a regulariser added to the loss",
            lambda p, q, v: (p * v[0] + q * v[1]).relu() + 1e-4 * (p * p + q * q),
        ),
        (
            "an interior uniform node read by two steps",
            lambda p, q, v: (p * q).tanh() * v[0] - (p * q).tanh() * v[1],
        ),
        ("a uniform node with itself", lambda p, q, v: (p * p) * v[0] + (q / p) * v[1]),
    ],
)
def test_rows_that_cancel_give_each_parameter_the_exact_sum_within_the_bound(name, build):
    """Rows chosen so that each row's gradient of p is small beside the terms it is made of (x ~ -z ~ L,
    or x * z ~ -1): summing each step's terms over the rows before combining them loses everything."""
    p, q = mg.Value(1.5), mg.Value(0.25)
    x, z = mg.Value(0.0), mg.Value(0.0)
    graph = mg.Graph(build(p, q, [x, z]), inputs=[x, z])
    rng = random.Random(name)
    for big in (1e8, 1e15, 1e300):
        rows = [[big + rng.uniform(-4, 4), -big] for _ in range(rng.choice((7, 128, 300)))]
        if "same in every row" in name:
            rows = [[-1.0 / z if z else 1.0, z] for z in (rng.uniform(0.5, 2) for _ in range(300))]
        for mean in (False, True):
            ours = map_gradients(graph, [p, q], rows, mean)
            for got, terms, who in zip(
                ours, rebuilt_gradients(lambda v: build(p, q, v), [p, q], rows, mean), "pq"
            ):
                check_sum(got, terms, (name, big, mean, who))


def test_an_interior_uniform_node_passes_each_rows_gradient_on_so_a_finite_sum_stays_finite():
    """The audit's case: u = q * 1e-10 read by u * x, rows 1e308 and 1e308: each row gives q 1e298; the
    summed gradient of u (2e308) overflowed before it was multiplied by 1e-10."""
    q = mg.Value(1.0)

    def build(v):
        return (q * 1e-10) * v[0]

    x = mg.Value(0.0)
    graph = mg.Graph(build([x]), inputs=[x])
    for rows in ([[1e308], [1e308]], [[1.7e308]] * 300, [[1e308], [-1e308]] * 5 + [[1e308]]):
        (ours,) = map_gradients(graph, [q], rows)
        (terms,) = rebuilt_gradients(build, [q], rows)
        check_sum(ours, terms)
        assert math.isfinite(ours)


@pytest.mark.parametrize("count", [2, 9, 17, 128, 129, 1000])
def test_rows_whose_running_sums_overflow_but_whose_exact_sum_does_not_give_the_exact_sum(count):
    """The rows' gradients are summed in lanes (eight running sums per chunk, then the chunks): rows that a
    rebuild adds without overflow (+L, -L, +L, -L, ...) can meet in one running sum (+L + +L = inf). Such a
    sum is taken again over rows scaled by a power of two."""
    w = mg.Value(1.0)

    def build(v):
        return w * v[0]

    x = mg.Value(0.0)
    graph = mg.Graph(build([x]), inputs=[x])
    big = 1.5e308
    pattern = [[big], [-big]] * (count // 2) + [[3.0]] * (count % 2)
    rng = random.Random(count)
    for rows in (pattern, [[big]] * (count // 2) + [[-big]] * (count // 2) + [[0.5]] * (count % 2)):
        rows = rows[:]
        for _ in range(3):
            (ours,) = map_gradients(graph, [w], rows)
            check_sum(ours, [r[0] for r in rows])
            rng.shuffle(rows)


def test_a_sum_past_the_largest_double_is_inf_as_the_exact_sum_is():
    w = mg.Value(1.0)
    x = mg.Value(0.0)
    graph = mg.Graph(w * x, inputs=[x])
    (ours,) = map_gradients(graph, [w], [[1.7e308]] * 3)
    assert ours == math.inf
    (ours,) = map_gradients(graph, [w], [[-1.7e308]] * 3 + [[1e308]])
    assert ours == -math.inf


# --- random graphs that share uniform nodes among varying steps -----------------------------------

UNARY = [name for name, case in CASES.items() if case.operands == 1]
BINARY = [name for name, case in CASES.items() if case.operands == 2]
GRAPHS = int(os.environ.get("MICROGRAD_MAP_GRAPHS", "150"))


def random_recipe(rng):
    """support.grow's steps over [inputs..., parameters...]: uniform nodes made of the parameters (every op),
    then varying steps that each read a uniform node (several the same one) and an input or an earlier
    varying node, then a sum of some varying nodes (a chain of +, the graph's output)."""
    n_inputs, n_params = rng.randint(1, 3), rng.randint(1, 3)
    uniform = list(range(n_inputs, n_inputs + n_params))
    steps = []

    def node():  # the index grow gives the next step's node
        return n_inputs + n_params + len(steps) - 1

    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.5:
            steps.append(("op", rng.choice(UNARY), (rng.choice(uniform),), None))
        else:
            steps.append(("op", rng.choice(BINARY), (rng.choice(uniform), rng.choice(uniform)), None))
        uniform.append(node())
    shared = rng.sample(uniform, k=min(len(uniform), rng.randint(1, 2)))  # read by several steps
    varying = []
    for _ in range(rng.randint(2, 8)):
        u = rng.choice(shared) if rng.random() < 0.7 else rng.choice(uniform)
        other = rng.randrange(n_inputs) if not varying or rng.random() < 0.6 else rng.choice(varying)
        a, b = (other, u) if rng.random() < 0.5 else (u, other)
        kind = rng.choice(["mul", "mul", "add", "sub", "div", "dot", "chain", *BINARY])
        if kind == "dot":
            steps.append(("dot", None, (u, other, other, 0, u, n_inputs - 1), None))
        elif kind == "chain":  # fused in the batch: (u * other + u * x0) + other
            steps.append(("op", "mul", (u, other), None))
            steps.append(("chain", None, (node(), u, 0, other, other), (True, False)))  # a term: two slots
        else:
            steps.append(("op", kind, (a, b), None))
        varying.append(node())
    tail = rng.sample(varying, k=rng.randint(1, len(varying)))
    steps.append(
        ("chain", None, (tail[0], *(t for v in tail[1:] for t in (v, v))), (False,) * (len(tail) - 1))
    )
    return n_inputs, n_params, steps


def random_build(recipe, params, xs):
    return grow([*xs, *params], recipe[2])[-1]


def builder(recipe, params):
    """The graph of recipe over new input leaves, as rebuilt_gradients builds it for each row."""
    return lambda xs: random_build(recipe, params, xs)


def random_rows(rng, n_inputs):
    """Rows that cancel (+-L across the columns, L up to 1e300), near overflow, tiny, or ordinary."""
    count = rng.choice((1, 2, 3, 8, 9, 31, 128, 129, 200))
    kind = rng.choice(("cancel", "cancel", "overflow", "tiny", "ordinary"))
    big = 10.0 ** rng.choice((4, 8, 15, 100, 300))
    rows = []
    for _ in range(count):
        if kind == "cancel":
            row = [rng.choice((1, -1)) * big + rng.uniform(-2, 2) for _ in range(n_inputs)]
        elif kind == "overflow":
            row = [rng.choice((1, -1)) * rng.choice((1e308, 1.7e308, 9e307)) for _ in range(n_inputs)]
        elif kind == "tiny":
            row = [rng.choice((1, -1)) * rng.choice((1e-300, 5e-324, 2.2e-308)) for _ in range(n_inputs)]
        else:
            row = [rng.uniform(-2, 2) for _ in range(n_inputs)]
        rows.append(row)
    return rows


def random_graph(rng):
    """A random recipe, its parameters, and its Graph over fresh inputs (each input in it: mg.sum(xs))."""
    recipe = random_recipe(rng)
    n_inputs, n_params = recipe[0], recipe[1]
    params = [mg.Value(rng.choice((0.5, 1.5, 2.0, -0.75, 3.0, 1e-3))) for _ in range(n_params)]
    xs = [mg.Value(0.0) for _ in range(n_inputs)]
    return recipe, params, mg.Graph([random_build(recipe, params, xs), mg.sum(xs)], inputs=xs)


@pytest.mark.parametrize("block", range(3))
def test_random_graphs_sharing_uniform_nodes_give_every_parameter_the_exact_sum_of_its_rows(block):
    """Random graphs over every op, uniform nodes shared by several varying steps (and fused chains, dots,
    uniform nodes read through others), rows that cancel, near overflow and tiny: every parameter's
    gradient against the exact sum of the per-row rebuild's, for sum and mean."""
    rng = random.Random(20260723 + block)
    for trial in range(GRAPHS // 3):
        recipe, params, graph = random_graph(rng)
        rows = random_rows(rng, recipe[0])
        mean = rng.random() < 0.5
        try:
            ours = map_gradients(graph, params, rows, mean)
        except ValueError:  # the output depends on no parameter
            continue
        per_row = rebuilt_gradients(builder(recipe, params), params, rows, mean)
        for k, (got, terms) in enumerate(zip(ours, per_row)):
            check_sum(got, terms, (block, trial, k, recipe, rows[:3], mean))


@pytest.mark.parametrize("block", range(3))
def test_map_of_one_row_gives_a_rebuilds_gradient_bit_for_bit(block):
    """Each row's gradient is the rebuild's, term by term in the rebuild's order: over one row nothing
    else is summed, so map adds exactly what the rebuild's backward adds."""
    rng = random.Random(41 + block)
    for trial in range(GRAPHS // 3):
        recipe, params, graph = random_graph(rng)
        rows = random_rows(rng, recipe[0])[:1]
        try:
            ours = map_gradients(graph, params, rows)
        except ValueError:
            continue
        theirs = [column[0] for column in rebuilt_gradients(builder(recipe, params), params, rows)]
        for k, (a, b) in enumerate(zip(ours, theirs)):
            assert same_bits(a, b) or (a == 0.0 and b == 0.0), (block, trial, k, recipe, rows, a, b)
