"""Hostile review of Graph.map's batched kernel (cpp/src/graph_batch_kernel.cpp, then tape_batch.cpp): uniform
operands read as one value with their gradients summed over the lanes, chunks of up to 128 rows within 1 MiB
of lanes, rows read in place. Values against a per-row rebuild bit for bit; gradients against the rebuild, the
exact sum (fractions) and PyTorch batched float64."""

import math
import random
import sys
from fractions import Fraction

import pytest
from op_reference import CASES
from support import close, grow, same_bits

import micrograd_cpp as mg

EDGE_ROWS = (1, 7, 8, 9, 127, 128, 129, 255, 256, 257)
SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, math.inf, -math.inf, math.nan, 1e300, -1e-300, 5e-324)


def relative_error(x, exact):
    return abs(float((Fraction(x) - exact) / exact))


# --- gradients of well-conditioned sums ----------------------------------------------------------


@pytest.mark.parametrize("chain", [False, True], ids=["mg.sum of products", "a chain of + (fused dot)"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_a_parameter_read_by_many_steps_over_many_rows_gets_its_gradient_to_1e12_of_the_exact_sum(
    chain, reduction
):
    """Every term is +0.1: the sum is perfectly conditioned. The kernel adds each step's sum over a chunk
    into the parameter's gradient one after the other (2,000 steps x 79 chunks = 158,000 adds of about
    the same size), so its rounding grows with steps x rows / 128: 1e-11 relative on main, where PyTorch
    batched float64 is 6e-17 off and a per-row Value.backward() 6e-15."""
    k, n = 2000, 10_000
    x, w = mg.Value(0.0), mg.Value(1.0)
    terms = (w * x for _ in range(k))
    g = mg.Graph(sum(terms) if chain else mg.sum(terms), inputs=[x])
    g.map([[0.1]] * n, backward=True, reduction=reduction)
    exact = Fraction(0.1) * k * n / (n if reduction == "mean" else 1)
    assert relative_error(w.grad, exact) <= 1e-12, w.grad


@pytest.mark.parametrize("rows", [[1e308, 1e308, 1.0], [1.0, math.inf, 2.0], [math.inf, -math.inf, 1.0]])
def test_a_parameters_gradient_that_is_not_finite_is_the_rebuilds_inf_or_nan(rows):
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph(mg.sum([w * x, x * w]), inputs=[x])
    g.map([[r] for r in rows] * 100, backward=True)  # 300 rows: three chunks
    ours = w.grad
    w.grad = 0.0
    mg.sum([mg.sum([w * v, v * w]) for v in (mg.Value(r) for r in rows * 100)]).backward()
    assert same_bits(ours, w.grad)


def test_over_a_hundred_thousand_rows_map_is_nearer_the_exact_gradient_than_a_rebuild_is():
    """The contract's reference, a per-row rebuild's backward, sums its terms one after the other: over
    100,000 rows of one sign it is itself 1.9e-12 relative off the exact sum, so "within 1e-12 of a
    rebuild" cannot hold there whatever map does; map must be the nearer of the two."""
    n = 100_000
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph(w * x, inputs=[x])
    g.map([[0.1]] * n, backward=True)
    ours = w.grad
    w.grad = 0.0
    mg.sum([w * mg.Value(0.1) for _ in range(n)]).backward()
    exact = Fraction(0.1) * n
    assert relative_error(ours, exact) <= 1e-14
    assert relative_error(ours, exact) <= relative_error(w.grad, exact)


# --- chunks and lanes -----------------------------------------------------------------------------


def wide_model(xs, ps, width):
    """One layer of `width` varying nodes, each reading parameters (uniform operands) on either side."""
    hs = [(xs[i % len(xs)] * ps[i % len(ps)] + ps[(i + 1) % len(ps)]).tanh() for i in range(width)]
    s = mg.sum(hs[::2]) + mg.dot(hs[1::2], [ps[i % len(ps)] for i in range(len(hs[1::2]))])
    return [s * ps[0], s]


@pytest.mark.parametrize("width", [3, 600, 5000, 25_000])
def test_map_equals_a_rebuild_at_the_chunk_edges_for_graphs_narrow_and_past_the_lane_buffer(width):
    """3 slots: 128 lanes a chunk; 600: 109 lanes; 5,000: 13 lanes; 25,000 slots (75,000 lane
    doubles, past 1 MiB): one lane, the compile-time single-lane kernel for every row. Row counts around
    the chunk edges, one Graph called with growing and shrinking counts (its lane buffers kept).
    Positive parameters and rows: every gradient term has one sign, the sum is well-conditioned."""
    rng = random.Random(width)
    ps = [mg.Value(rng.uniform(0.1, 1)) for _ in range(5)]
    xs = [mg.Value(0.0), mg.Value(0.0)]
    g = mg.Graph(wide_model(xs, ps, width), inputs=xs)
    counts = (*EDGE_ROWS, 3, 1) if width <= 600 else (1, 9, 17, 2)
    for count in counts:
        rows = [[rng.uniform(0, 2), rng.uniform(0, 2)] for _ in range(count)]
        for p in ps:
            p.grad = 0.0
        out = g.map(rows, backward=True, reduction="mean")
        ours = [p.grad for p in ps]
        for p in ps:
            p.grad = 0.0
        rebuilt = [wide_model([mg.Value(a), mg.Value(b)], ps, width) for a, b in rows]
        assert out == [[v.data for v in r] for r in rebuilt]
        (mg.sum(r[0] for r in rebuilt) / count).backward()
        theirs = [p.grad for p in ps]
        # Positive terms, fewer than len(g) per row and parameter: each sum is within (terms * eps) of
        # the exact one relative (Higham 2002, eq. 4.4), the rebuild's one-after-the-other sum included.
        bound = max(1e-12, 2 * len(g) * count * sys.float_info.epsilon)
        assert all(math.isclose(a, b, rel_tol=bound) for a, b in zip(ours, theirs)), (count, ours, theirs)


def test_repeated_maps_add_exactly_the_same_gradient_each_time():
    rng = random.Random(3)
    ps = [mg.Value(rng.uniform(-1, 1)) for _ in range(5)]
    xs = [mg.Value(0.0), mg.Value(0.0)]
    g = mg.Graph(wide_model(xs, ps, 40), inputs=xs)
    rows = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(300)]
    g.map(rows, backward=True)
    once = [p.grad for p in ps]
    assert g.map(rows, backward=True) == g.map(rows)
    assert [p.grad for p in ps] == [2 * v for v in once]


# --- uniform operands: interior nodes, constants, special values, outputs ----------------------


def _on_either_side(op, side):
    f = CASES[op].ours
    return (lambda x, w, v: f(w, x)) if side == "w, x" else (lambda x, w, v: f(x, w))


UNIFORM_MIXES = {
    # an op whose operands are an input's lanes (x), a parameter (w, one value for every row) or both
    **{
        f"{op} {side}": _on_either_side(op, side)
        for op in ("add", "sub", "mul", "div", "pow")
        for side in ("w, x", "x, w")
    },
    "dot of every pairing": lambda x, w, v: mg.dot([w, x, w, x, w, v], [x, w, w, x, w, v]),
    "dot with a parameter start": lambda x, w, v: w + x * v + w * x + v * w,  # fused: start, then pairs
    "dot with an input start": lambda x, w, v: x + w * v + x * x,
    "sum of inputs and parameters": lambda x, w, v: mg.sum([w, x, v, w, x]),
    "sum with a start": lambda x, w, v: mg.sum([x, w, v], start=w),
    "sum with an input start": lambda x, w, v: mg.sum([w, x, v], start=x),
}


@pytest.mark.parametrize("mix", sorted(UNIFORM_MIXES))
def test_map_reads_parameters_as_one_value_for_every_row(mix):
    """A varying step reads a parameter once for all rows and sums its gradient over them: values bit for
    bit and gradients within 1e-12 of a rebuild per row, on either side of every op, in every pairing."""
    build = UNIFORM_MIXES[mix]
    x = mg.Value(0.0)
    w, v = mg.Value(0.7), mg.Value(1.3)
    g = mg.Graph(build(x, w, v).tanh(), inputs=[x])
    rows = [[0.25 + 0.125 * k] for k in range(150)]  # more than one chunk of rows
    out = g.map(rows, backward=True)
    batched = [w.grad, v.grad]
    w.grad = v.grad = 0.0
    rebuilt = [build(mg.Value(a), w, v).tanh() for (a,) in rows]
    assert out == [r.data for r in rebuilt]
    mg.sum(rebuilt).backward()
    assert close(batched, [w.grad, v.grad])


def test_map_over_many_rows_crosses_chunks():
    x, w = mg.Value(0.0), mg.Value(0.5)
    g = mg.Graph((x * w).tanh() * w, inputs=[x])
    rows = [[math.sin(i)] for i in range(5000)]
    out = g.map(rows, backward=True)
    assert out == [math.tanh(r[0] * 0.5) * 0.5 for r in rows]
    expected = sum(math.tanh(r[0] * 0.5) + (1 - math.tanh(r[0] * 0.5) ** 2) * r[0] * 0.5 for r in rows)
    assert w.grad == pytest.approx(expected, rel=1e-12)


def uniform_heavy(x, p, q):
    """Uniform interior nodes (computed once by the uniform program) in every position of every binary
    op and of dot/sum, pow with a uniform base and exponent, division by a uniform value, a pair of one
    uniform node with itself and of one varying node with itself."""
    u = (p * q).tanh() + p  # uniform interior
    v = p.exp() - q  # another
    terms = [
        x + u, u - x, x * v, v / (x * x + 1), x / u, (x * x + 0.5) ** u, u.abs() ** (x * 0.25),
        mg.dot([u, x, v, x, u], [u, x, x, u, v]), mg.sum([u, x, v, u], start=v), mg.sum([x, u], start=x),
        u + x * v + v * x + u * u + x * x,  # a chain of +: fused, uniform start and pairs
    ]  # fmt: skip
    return mg.sum(t.tanh() for t in terms)


@pytest.mark.parametrize("pq", [(0.7, -0.4), (0.0, -0.0), (-0.0, 2.0), (1e-300, 3.0)])
@pytest.mark.parametrize("n", [1, 8, 129])
def test_uniform_interior_nodes_in_every_position_equal_a_rebuild(pq, n):
    x = mg.Value(0.0)
    p, q = mg.Value(pq[0]), mg.Value(pq[1])
    g = mg.Graph([uniform_heavy(x, p, q), x * p, p * q], inputs=[x])
    rows = [[(-1) ** k * 0.37 * k] for k in range(n)]
    out = g.map(rows, backward=True)
    ours = [p.grad, q.grad]
    p.grad = q.grad = 0.0
    rebuilt = [(uniform_heavy(xv, p, q), xv * p, p * q) for xv in (mg.Value(r[0]) for r in rows)]
    assert all(same_bits(a, b.data) for o, r in zip(out, rebuilt) for a, b in zip(o, r))
    mg.sum(r[0] for r in rebuilt).backward()
    for a, b in zip(ours, [p.grad, q.grad]):
        assert same_bits(a, b) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300), (a, b)


@pytest.mark.parametrize("special", SPECIAL, ids=repr)
def test_special_parameter_values_give_a_rebuilds_values_bit_for_bit(special):
    """nan, inf, -0.0, subnormal parameters, read as one value by every op with an input on the other
    side: each output bit for bit as a rebuild (signed zeros included)."""
    x, w = mg.Value(0.0), mg.Value(special)

    def outputs(x):
        ops = [name for name in sorted(CASES) if CASES[name].operands <= 2]
        out = []
        for name in ops:
            f = CASES[name].ours
            out += [f(x, w), f(w, x)] if CASES[name].operands == 2 else [f(x * w)]
        return out

    g = mg.Graph(outputs(x), inputs=[x])
    rows = [[v] for v in SPECIAL]
    got = g.map(rows)
    for row, o in zip(rows, got):
        expected = [v.data for v in outputs(mg.Value(row[0]))]
        assert all(same_bits(a, b) for a, b in zip(o, expected)), (row, o, expected)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_a_first_output_without_inputs_and_outputs_listed_twice(reduction):
    """The first output uniform (a parameter's function, or the parameter itself), the others varying
    and one listed twice: values per row, and the gradient count (or 1) times the uniform one's."""
    x, p = mg.Value(0.0), mg.Value(1.5)
    varying = (x * p).tanh()
    for first, d in (((p * p).exp(), 2 * 1.5 * math.exp(2.25)), (p, 1.0)):
        g = mg.Graph([first, varying, varying, first], inputs=[x])
        for n in (1, 9, 129):
            p.grad = 0.0
            rows = [[0.1 * k] for k in range(n)]
            out = g.map(rows, backward=True, reduction=reduction)
            assert out == [
                [first.data, math.tanh(r[0] * 1.5), math.tanh(r[0] * 1.5), first.data] for r in rows
            ]
            assert math.isclose(p.grad, d * (n if reduction == "sum" else 1), rel_tol=1e-14)


def test_an_input_used_twice_in_one_op_and_as_an_output():
    x, w = mg.Value(0.0), mg.Value(0.5)
    g = mg.Graph([x * x + w * (x - x) + x / x, x, x], inputs=[x])
    rows = [[v] for v in (2.0, -0.0, 0.0, math.inf, 3.0)]
    out = g.map(rows, backward=True)
    for row, o in zip(rows, out):
        xv = mg.Value(row[0])
        e = (xv * xv + w * (xv - xv) + xv / xv).data
        assert same_bits(o[0], e)
        assert same_bits(o[1], row[0])
        assert same_bits(o[2], row[0])


# --- a random differential search ------------------------------------------------------------------


def random_recipe(rng, special):
    n_in, n_par = 2, 3
    pool = n_in + n_par
    steps = []
    kinds = sorted(CASES) + ["chain"] * 6 + ["const"] * 2
    for _ in range(rng.randint(1, 20)):
        kind = rng.choice(kinds)
        if kind == "chain":
            m = rng.randint(1, 6)
            steps.append(
                (kind, None, [rng.randrange(pool) for _ in range(2 * m + 1)], [rng.random() < 0.7] * m)
            )
        elif kind == "const":
            c = rng.choice(SPECIAL) if special else rng.choice((0.5, 2.0, -3.0))
            steps.append(("scale", None, [rng.randrange(pool)], c))
        else:
            steps.append(("op", kind, [rng.randrange(pool) for _ in range(CASES[kind].operands)], None))
        pool += 1
    outputs = [pool - 1] + [rng.randrange(pool) for _ in range(rng.randint(0, 3))]
    rng.shuffle(outputs)
    return steps, outputs


def random_build(recipe, xs, ps):
    """The recipe's outputs over inputs xs and parameters ps (support.grow), then mg.sum(xs)."""
    steps, outputs = recipe
    nodes = grow([*xs, *ps], steps)
    return [nodes[i] for i in outputs] + [mg.sum(xs)]  # every input in the graph, last


@pytest.mark.parametrize("special", [False, True], ids=["ordinary", "special values"])
def test_random_graphs_with_uniform_subgraphs_equal_a_rebuild_at_the_chunk_edges(special):
    """Graphs over 2 inputs and 3 parameters, every op, chains of + that fuse, parameters and rows
    from nan/inf/-0.0 when special: values bit for bit for every output; gradients equal, or both nan,
    or within 1e-12 where no row is special (a uniform node's backward runs once on the summed
    gradient: with an infinite local derivative, inf where a rebuild's per-row 0 * inf is nan)."""
    rng = random.Random(20261126 + special)
    for trial in range(40):
        recipe = random_recipe(rng, special)
        values = [
            rng.choice(SPECIAL) if special and rng.random() < 0.4 else rng.uniform(-1.5, 1.5) for _ in "pqr"
        ]
        ps = [mg.Value(v) for v in values]
        xs = [mg.Value(0.0), mg.Value(0.0)]
        g = mg.Graph(random_build(recipe, xs, ps), inputs=xs)
        n = rng.choice(EDGE_ROWS)
        rows = [
            [rng.choice(SPECIAL) if special and rng.random() < 0.3 else rng.uniform(-2, 2) for _ in xs]
            for _ in range(n)
        ]
        mean = rng.random() < 0.5
        try:
            out = g.map(rows, backward=True, reduction="mean" if mean else "sum")
            differentiable = True
        except ValueError:
            out, differentiable = g.map(rows), False
        rebuilt = [random_build(recipe, [mg.Value(a), mg.Value(b)], ps) for a, b in rows]
        for o, r in zip(out, rebuilt):
            assert all(same_bits(a, b.data) for a, b in zip(o, r)), (trial, recipe, values)
        if differentiable and not special:
            ours = [p.grad for p in ps]
            for p in ps:
                p.grad = 0.0
            # loose: random rows may cancel (test_map.py's cancelling sums); gross errors still fail
            total = mg.sum(r[0] for r in rebuilt)
            (total / n if mean else total).backward()
            for a, b in zip(ours, (p.grad for p in ps)):
                assert same_bits(a, b) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (trial, a, b)
        for p in ps:
            p.grad = 0.0


def test_an_infinite_local_derivative_of_a_uniform_node_gives_a_per_row_rebuilds_gradient():
    """A uniform node's backward runs per row where its gradient differs per row, as a rebuild's does:
    sqrt(p) at p = 0 has derivative inf, and rows 1 and 0 give d/dp = 1 * inf + 0 * inf = nan, the sum
    of the rebuild's per-row gradients. (PyTorch batched applies the derivative once, to the summed
    gradient: (1 + 0) * inf = inf; map did so before issue 23.)"""
    x, p = mg.Value(0.0), mg.Value(0.0)
    g = mg.Graph(x * p.sqrt(), inputs=[x])
    g.map([[1.0], [0.0]], backward=True)
    ours = p.grad
    rebuilt = []
    for row in (1.0, 0.0):
        p.grad = 0.0
        (mg.Value(row) * p.sqrt()).backward()
        rebuilt.append(p.grad)
    assert rebuilt[0] == math.inf
    assert math.isnan(rebuilt[1])
    assert math.isnan(ours)


def test_a_long_chain_of_products_of_one_input_is_planned_once_and_exact():
    """micrograd's sum(w * x for w in ws): every product reads the one input, so the chain of + cannot
    be fused (the input's gradient would get its terms out of order). The planner marks the whole
    chain unfused at once: it used to try each add below as the top of a shorter chain, each try
    walking the rest of it (50,000 terms: 8 s to plan, the GIL held). Here the plan is made and the
    values and gradients are exact."""
    n = 50_000
    ws = [mg.Value(1.0 + k / n) for k in range(n)]
    x = mg.Value(0.0)
    g = mg.Graph(sum((w * x for w in ws), mg.Value(0.0)), inputs=[x])
    rows = [[0.5], [-2.0], [3.0]]
    out = g.map(rows, backward=True)
    for o, (r,) in zip(out, rows, strict=True):
        rebuilt = 0.0
        for w in ws:  # the rebuild's order: ((0 + w0 x) + w1 x) + ...
            rebuilt = rebuilt + w.data * r
        assert same_bits(o, rebuilt)
    assert all(w.grad == 1.5 for w in ws)  # 0.5 - 2.0 + 3.0: exact
    assert x.grad == 0.0  # an input: map adds no gradient to it
