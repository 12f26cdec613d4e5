"""Random expression graphs against PyTorch float64 and the exact-doubling rule (issue 8, "fuzzing at scale").

    pytest tests/engine/test_random_graphs.py                       # CI: 300 graphs, a few seconds
    HYPOTHESIS_PROFILE=long pytest tests/engine/test_random_graphs.py   # 50,000 graphs (a few minutes)

Each example is a random DAG over every op of the core (``_core.OPS``, applied as tests/op_reference.py
says): shared subexpressions, ``Value ** Value``, plain floats mixed in as operands, n-ary dot and sum,
and special values (0, -0.0, +-inf, nan, huge, tiny, subnormal). It is built twice, with our Values and
with float64 tensors, and differentiated by both; then

  - every node's value and every leaf's gradient must agree with PyTorch's: the same class (nan, +inf,
    -inf, finite) and, when finite, within a bound computed for this graph (below); and
  - a second ``backward()`` must give every leaf exactly twice its gradient.

Two correct engines may differ by rounding: their libms differ by an ulp, and they add a node's incoming
gradients in different orders. That noise is told apart from a real error by a first-order running error
bound, propagated through the very graph at hand instead of a loose tolerance:

  forward   a(n): a bound on |computed - exact| for each node's value. An op with operands x_j adds
            sum_j |d_j| a(x_j) (first-order propagation) and c_op * u * |value| (its own rounding: 1 ulp
            for + - * / sqrt, 4 for libm functions, 6 for the composites sigmoid and softplus), n-ary
            folds the running bound u * sum(|partial sums| + |products|), each op also eta = 2**-1022
            (below the normal range the relative model fails; subnormal results are noise).
  backward  for each edge (node n -> operand m, local derivative d_e): A(m) += A(n) |d_e|, the absolute
            adjoint (a second backward pass over absolute local derivatives), and
            E(m) += E(n) |d_e| + A(n) delta_e + u A(n) |d_e| + eta, where delta_e bounds the error of the
            computed d_e: its own rounding and its sensitivity to the operands' errors,
            sum_j |d d_e / d x_j| a(x_j). Summing k incoming gradients adds (k - 1) u A(m) (gamma_{k-1}).

Each engine is then within E of the exact gradient (to first order), so they must agree within 2E. Where
noise can change a result's class (a kink of relu/abs within a(x) of its input, a divisor or a log/sqrt/pow
base that may be 0 or negative, a value within a(x) of overflowing, adjoints large enough that the order
of summation decides overflow), the class check is waived for what depends on it. Everything else must
match: a gradient that is 0 where PyTorch has -1e-100, or a masked 0 where it has nan, is an error
whatever its size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from op_reference import REFERENCE

import micrograd_cpp as mg

try:
    import numpy as np  # the error bound's float64 arithmetic
except ImportError:
    np = None
# The comparisons take the torch fixture (tests/conftest.py: marker torch); the bound's own tests need
# numpy alone, and the check that every op has an error model needs neither.
needs_numpy = pytest.mark.skipif(np is None, reason="the error bound is computed with numpy")

# CI: the same 300 graphs each run (derandomize), so that a red run is a change, not luck. Long: new
# random graphs each time, to look for what the 300 do not reach.
settings.register_profile("random-graphs-ci", max_examples=300, deadline=None, derandomize=True)
settings.register_profile(
    "random-graphs-long",
    max_examples=50_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(
    "random-graphs-long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "random-graphs-ci"
)

OPS = {op.name: op for op in mg._core.OPS}
U = 2.0**-53  # unit roundoff of float64
ETA = 2.0**-1022  # smallest normal: an absolute error floor per operation
BIG = 1.7976931348623157e308 / 8  # adjoints past this may overflow in one summation order and not another
LINEAR = 2.0**-26  # operand errors up to this (relative, or absolute below 1) keep a first-order bound valid

# --- the error model of each op: its local derivatives, and how much error they carry -----------------
#
# For an op with operand values xs (with forward error bounds errs), output o and constant k (pow_const),
# ``local`` returns one
# (d, sens, ulps, kink) per operand: d the exact local derivative at these values, sens a list of
# (|d d / d v|, index) pairs (index into xs, or -1 for o) giving its sensitivity to each input's error,
# ulps the roundings in computing it, kink True where d jumps at this input (relu, abs), or the index
# of the operand whose value it jumps at (mask's d/dx, at m = 0), else False.
# ``forward_ulps`` is the op's own rounding. An op of the core missing here fails
# test_every_op_of_the_core_has_an_error_model.


def _a(x):
    return np.abs(np.float64(x))


def _pow(x, y):
    return np.power(np.float64(x), np.float64(y))


def _log(x):
    return np.log(np.float64(x))


def _div(x, y):
    return np.float64(x) / np.float64(y)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.float64(x)))


def local_add(xs, o, k, errs):
    return [(1.0, [], 0, False), (1.0, [], 0, False)]


def local_sub(xs, o, k, errs):
    return [(1.0, [], 0, False), (-1.0, [], 0, False)]


def local_mul(xs, o, k, errs):
    x, y = xs
    return [(y, [(1.0, 1)], 0, False), (x, [(1.0, 0)], 0, False)]


def local_div(xs, o, k, errs):
    _, y = xs
    return [
        (_div(1.0, y), [(_div(1.0, y * y), 1)], 1, False),
        (-_div(o, y), [(_a(_div(1.0, y)), -1), (_a(_div(o, y * y)), 1)], 1, False),
    ]


def local_pow(xs, o, k, errs):
    x, y = xs
    dx = 0.0 if y == 0 else y * _pow(x, y - 1)
    dy = 0.0 if (x == 0 and y >= 0) else o * _log(x)
    ln = _log(_a(x))
    # d/dx: y x^(y-1); its error: pow's (4) and the product's, plus y - 1 rounded (u |y-1| |ln x| |dx|).
    dx_sens = [(_a(y * (y - 1) * _pow(x, y - 2)), 0), (_a(_pow(x, y - 1) * (1 + y * ln)), 1)]
    dy_sens = [(_a(ln), -1), (_a(_div(o, x)), 0)]
    out = [(dx, dx_sens, 5 + _a((y - 1) * ln), False), (dy, dy_sens, 5, False)]
    # A mask whose condition holds on exact operands holds in any engine: its zero carries no error.
    ex, ey = errs
    if y == 0 and ey == 0:
        out[0] = (0.0, [], 0, False)
    if x == 0 and ex == 0 and y >= ey:
        out[1] = (0.0, [], 0, False)
    return out


def local_pow_const(xs, o, k, errs):
    (x,) = xs
    d = 0.0 if k == 0 else k * _pow(x, k - 1)
    return [(d, [(_a(k * (k - 1) * _pow(x, k - 2)), 0)], 5 + _a((k - 1) * _log(_a(x))), False)]


def local_neg(xs, o, k, errs):
    return [(-1.0, [], 0, False)]


def local_tanh(xs, o, k, errs):
    return [(1.0 - o * o, [(2 * _a(o), -1)], 2, False)]


def local_relu(xs, o, k, errs):
    return [(1.0 if not o <= 0 else 0.0, [], 0, True)]


def local_sigmoid(xs, o, k, errs):
    return [((1.0 - o) * o, [(_a(1.0 - 2.0 * o), -1)], 2, False)]


def local_exp(xs, o, k, errs):
    return [(o, [(1.0, -1)], 0, False)]


def local_log(xs, o, k, errs):
    (x,) = xs
    return [(_div(1.0, x), [(_div(1.0, x * x), 0)], 1, False)]


def local_softplus(xs, o, k, errs):
    s = _sigmoid(xs[0])
    return [(s, [(_a(s * (1 - s)), 0)], 6, False)]


def local_abs(xs, o, k, errs):
    (x,) = xs
    return [(0.0 if math.isnan(x) else float(np.sign(x)), [], 0, True)]


def local_sqrt(xs, o, k, errs):
    return [(_div(1.0, 2.0 * o), [(_div(1.0, 2.0 * o * o), -1)], 2, False)]


BCE_EPSILON = float(np.float32(1e-12)) if np is not None else 1e-12  # PyTorch's EPSILON is a float


def local_binary_cross_entropy(xs, o, k, errs):
    p, t = xs
    q = (1.0 - p) * p
    clamped = q < BCE_EPSILON
    denominator = BCE_EPSILON if clamped else q
    dp = _div(p - t, denominator)
    dt = -_log(_div(p, 1.0 - p))
    # d/dp's sensitivities: to t, -1/q; to p, (q - (p - t)(1 - 2p)) / q**2 (1/eps past the clamp).
    dp_sens_p = _div(1.0, denominator) if clamped else _a(_div(q - (p - t) * (1.0 - 2.0 * p), q * q))
    dp_sens = [(dp_sens_p, 0), (_div(1.0, denominator), 1)]
    dt_sens = [(_a(_div(1.0, q)), 0)]
    # d/dt: the quotient's two roundings become an absolute error of the log (3 u), beside its own 4 ulps.
    out = [(dp, dp_sens, 4, False), (dt, dt_sens, 4 + _div(3.0, _a(dt)) if dt != 0 else 4, False)]
    # p within its error of 0 or 1: the other engine's p may be exactly 0 or 1, where a log jumps to
    # the -100 clamp: no bound on the value (an infinite local derivative waives it).
    if errs[0] > 0 and not (errs[0] < p < 1.0 - errs[0]):
        out[0] = (math.inf, [], 0, False)
    return out


def local_sign(xs, o, k, errs):
    return [(0.0, [], 0, True)]


def local_mask(xs, o, k, errs):  # d/dx jumps with m (kink: operand 1 decides it); d/dm is 0
    return [(1.0 if not xs[1] <= 0 else 0.0, [], 0, 1), (0.0, [], 0, False)]


def local_dot(xs, o, k, errs):
    out = []
    for i in range(0, len(xs), 2):
        out.append((xs[i + 1], [(1.0, i + 1)], 0, False))
        out.append((xs[i], [(1.0, i)], 0, False))
    return out


def local_sum(xs, o, k, errs):
    return [(1.0, [], 0, False) for _ in xs]


@dataclass(frozen=True)
class ErrorModel:
    local: object
    forward_ulps: float  # the op's own rounding, in units of u (n-ary folds are bounded step by step)
    sign_sensitive: tuple[int, ...] = ()  # operands whose sign or zero-ness can change the result's class


ERROR_MODEL = {
    "add": ErrorModel(local_add, 1),
    "sub": ErrorModel(local_sub, 1),
    "mul": ErrorModel(local_mul, 1),
    # The numerator too: x / 0 is +-inf but 0 / 0 is nan, so a numerator that may be 0 decides the class.
    "div": ErrorModel(local_div, 1, sign_sensitive=(0, 1)),
    "pow": ErrorModel(local_pow, 4, sign_sensitive=(0, 1)),
    "pow_const": ErrorModel(local_pow_const, 4, sign_sensitive=(0,)),
    "neg": ErrorModel(local_neg, 0),
    "tanh": ErrorModel(local_tanh, 4),
    "relu": ErrorModel(local_relu, 0),
    "sigmoid": ErrorModel(local_sigmoid, 6),
    "exp": ErrorModel(local_exp, 4),
    "log": ErrorModel(local_log, 4, sign_sensitive=(0,)),
    "softplus": ErrorModel(local_softplus, 6),
    "abs": ErrorModel(local_abs, 0),
    "sqrt": ErrorModel(local_sqrt, 1, sign_sensitive=(0,)),
    # Two nonnegative terms (no cancellation): two logs (4 ulps each), two products, a subtraction.
    "binary_cross_entropy": ErrorModel(local_binary_cross_entropy, 12, sign_sensitive=(0, 1)),
    "sign": ErrorModel(local_sign, 0),
    "mask": ErrorModel(local_mask, 0, sign_sensitive=(1,)),
    "dot": ErrorModel(local_dot, 0),
    "sum": ErrorModel(local_sum, 0),
}

# --- the graphs ----------------------------------------------------------------------------------------

SPECIAL_VALUES = (
    0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 0.5, 2.0, 1e300, -1e300, 1e-300, -1e-300,
    5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 709.0, -745.0, 1e16, 1e-8,
)  # fmt: skip
reals = st.one_of(
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.floats(-30, 30),
    st.sampled_from(SPECIAL_VALUES),
    st.floats(),  # anything, nan and infinities included
)
POW_CONST_K = tuple(
    0.5 if k is None else k for k in (0, 1, 2, 3, -1, -2, 0.5, -0.5, 2.5, 1.5, -3, 4, 0.25, None)
)


@dataclass(frozen=True)
class Step:
    op: str
    operands: tuple[tuple[str, float], ...]  # ("node", index) or ("const", value)
    k: float | None = None  # pow_const's exponent
    start: tuple[str, float] | None = None  # sum's start, when given


@dataclass
class Recipe:
    leaves: list[float]
    steps: list[Step] = field(default_factory=list)

    def __repr__(self):  # as code, to replay a failure by hand
        lines = [f"leaves = [Value(x) for x in {self.leaves!r}]", "nodes = list(leaves)"]
        for s in self.steps:
            args = ", ".join(f"nodes[{int(v)}]" if kind == "node" else repr(v) for kind, v in s.operands)
            extra = f", k={s.k!r}" if s.k is not None else f", start={s.start!r}" if s.start else ""
            lines.append(f"nodes.append({s.op}({args}{extra}))")
        return "\n".join(lines)


@st.composite
def recipes(draw):
    recipe = Recipe(draw(st.lists(reals, min_size=1, max_size=4)))
    nodes = len(recipe.leaves)
    for _ in range(draw(st.integers(1, 20))):
        node = st.integers(0, nodes - 1)
        operand = st.one_of(node.map(lambda j: ("node", j)), reals.map(lambda c: ("const", c)))
        op = draw(st.sampled_from(sorted(OPS)))
        info = OPS[op]
        if op == "pow_const":
            k = draw(st.one_of(st.sampled_from(POW_CONST_K), st.floats(-4, 4), st.integers(-5, 5)))
            step = Step(op, (("node", draw(node)),), k=k)
        elif info.arity == 1:
            step = Step(op, (("node", draw(node)),))
        elif REFERENCE[op][0].bounded:  # probabilities: each operand a sigmoid, or a constant in [0, 1]
            pair = []
            for _ in range(2):
                if draw(st.booleans()):
                    pair.append(("const", draw(st.floats(0.0, 1.0))))
                else:
                    recipe.steps.append(Step("sigmoid", (("node", draw(node)),)))
                    pair.append(("node", nodes))
                    nodes += 1
                    node = st.integers(0, nodes - 1)
            step = Step(op, tuple(pair))
        elif info.arity == 2:
            pair = [("node", draw(node)), draw(operand)]
            if draw(st.booleans()):
                pair.reverse()  # a float on the left too: 2.0 ** x, 1.0 - x
            step = Step(op, tuple(pair))
        elif op == "dot":
            step = Step(
                op,
                tuple(draw(st.lists(operand, min_size=0, max_size=8).map(lambda xs: xs[: len(xs) // 2 * 2]))),
            )
        else:  # sum
            start = draw(st.one_of(st.none(), operand))
            step = Step(op, tuple(draw(st.lists(operand, min_size=0, max_size=6))), start=start)
        if all(kind == "const" for kind, _ in step.operands) and not (step.start and step.start[0] == "node"):
            step = Step("neg", (("node", draw(node)),))  # keep every node in the graph
        recipe.steps.append(step)
        nodes += 1
    return recipe


# --- building with either engine -------------------------------------------------------------------------


def apply(step, args, start, engine):
    """One step with our Values or with tensors, as tests/op_reference.py spells the op."""
    case = REFERENCE[step.op][0]
    if step.op == "pow_const":
        return args[0] ** step.k
    if step.op == "dot":
        if engine == "ours":
            return mg.dot(args[0::2], args[1::2])
        acc = 0.0
        for a, b in zip(args[0::2], args[1::2]):
            acc = acc + a * b  # left to right from 0.0, as dot is defined
        return acc
    if step.op == "sum":
        if engine == "ours":
            return mg.sum(args) if start is None else mg.sum(args, start=start)
        acc = 0.0 if start is None else start
        for x in args:
            acc = acc + x
        return acc
    return (case.ours if engine == "ours" else case.torch_op())(*args)


def build(recipe, engine, torch=None):
    """The recipe's graph with our Values (engine "ours") or float64 tensors (engine "torch", given torch)."""

    def make_leaf(x):
        if engine == "ours":
            return mg.Value(x)
        return torch.tensor(x, dtype=torch.float64, requires_grad=True)

    def constant(c):
        # Ours: a plain float, which becomes a constant leaf. PyTorch: a constant tensor, the same graph
        # (a Python float would take other paths: 0.0 / t is reciprocal(t) * 0.0 there, whose gradient
        # is 0 * -inf = nan where the quotient's is 0).
        return c if engine == "ours" else torch.tensor(c, dtype=torch.float64)

    leaves = [make_leaf(x) for x in recipe.leaves]
    nodes = list(leaves)
    for step in recipe.steps:
        args = [nodes[int(v)] if kind == "node" else constant(v) for kind, v in step.operands]
        if step.op == "pow" and step.operands[1][0] == "const":
            args[1] = step.operands[1][1]  # x ** 2.5 is pow_const for us: PyTorch's Tensor ** Scalar
        start = None
        if step.start is not None:
            kind, v = step.start
            start = nodes[int(v)] if kind == "node" else constant(v)
        out = apply(step, args, start, engine)
        if engine == "torch" and not isinstance(out, torch.Tensor):
            out = torch.tensor(float(out), dtype=torch.float64)  # all operands were constants
        nodes.append(out)
    return leaves, nodes


def value_of(x):
    if isinstance(x, mg.Value):
        return float(x.data)
    if hasattr(x, "detach"):  # a tensor
        return float(x.detach())
    return float(x)


# --- the bound ---------------------------------------------------------------------------------------------


@dataclass
class Bounds:
    forward: list  # a(n)
    fragile: list  # the value's class may differ between two correct engines
    adjoint: list  # A(n)
    error: list  # E(n)
    class_free: list  # the gradient's class may differ (depends on a fragile node or a kink)


def m0(a, b):
    """a * b, with 0 * anything = 0: an exact zero (a masked derivative) carries no error."""
    return 0.0 if a == 0 or b == 0 else a * b


def bounds(recipe, values):
    n_leaves = len(recipe.leaves)
    n = len(values)
    fwd = [0.0] * n
    fragile = [False] * n
    edges = [[] for _ in range(n)]  # per node: (operand index, d, delta, kink_uncertain)
    with np.errstate(all="ignore"):
        for i, step in enumerate(recipe.steps, start=n_leaves):
            refs = list(step.operands)
            if step.start is not None:
                refs = [step.start, *refs]
            xs = [values[int(v)] if kind == "node" else v for kind, v in refs]
            errs = [fwd[int(v)] if kind == "node" else 0.0 for kind, v in refs]
            o = values[i]
            model = ERROR_MODEL[step.op]
            with_start = step.op == "sum" and step.start is not None
            local = model.local(xs[1:] if with_start else xs, o, step.k, errs[1:] if with_start else errs)
            if with_start:
                local = [(1.0, [], 0, False), *local]
            a_out = 0.0
            for j, (d, *_) in enumerate(local):
                a_out += m0(_a(d), errs[j])
            # First order holds while the operands' errors are small; past that (an infinite bound, or one
            # beyond 2**-26 of the operand) nothing is claimed: no bound, and the class may differ.
            linear = all(math.isfinite(e) and e <= LINEAR * max(1.0, _a(x)) for x, e in zip(xs, errs))
            if step.op in ("relu", "abs"):
                a_out = errs[0]  # 1-Lipschitz, kink or not
            jump = {"sign": 0, "mask": 1}.get(step.op)  # a step at 0 of this operand
            if jump is not None and errs[jump] > 0 and not _a(xs[jump]) > errs[jump]:
                a_out = math.inf  # the step within the noise: either value
            if step.op == "dot":  # running bound of the fold, step by step
                acc = 0.0
                for a, b in zip(xs[0::2], xs[1::2]):
                    p = a * b
                    acc = acc + p
                    a_out += U * (_a(p) + _a(acc)) + 2 * ETA
            elif step.op == "sum":
                acc = 0.0 if step.start is None else xs[0]
                for x in xs[0 if step.start is None else 1 :]:
                    acc = acc + x
                    a_out += U * _a(acc) + ETA
            else:
                a_out += model.forward_ulps * U * _a(o) + ETA
            fwd[i] = float(a_out) if linear else math.inf
            for j, (d, sens, ulps, kink) in enumerate(local):
                kind, v = refs[j]
                delta = ulps * U * _a(d) + ETA
                for s, idx in sens:
                    delta += m0(s, fwd[i] if idx == -1 else errs[idx])
                at = j if kink is True else kink  # the operand whose value d jumps at
                uncertain = kink is not False and errs[at] > 0 and not _a(xs[at]) > errs[at]
                if uncertain:
                    delta = max(delta, 1.0)
                if kind == "node":
                    edges[i].append((int(v), float(d), float(delta), uncertain))
            # can noise change this value's class (nan, +-inf, finite)?
            fragile[i] = any(fragile[int(v)] for kind, v in refs if kind == "node")
            if math.isfinite(o) and not (_a(o) + fwd[i] < BIG * 8):
                fragile[i] = True  # may overflow in the other engine
            if not math.isfinite(fwd[i]) and math.isfinite(o):
                fragile[i] = True
            for j in model.sign_sensitive:
                if j < len(xs) and errs[j] > 0 and not _a(xs[j]) > errs[j]:
                    # The operand may be 0 or change sign: the class may differ, and no first-order
                    # bound holds (sqrt is not Lipschitz at 0: sqrt(5e-324) is 2e-162, sqrt(0) is 0).
                    fragile[i] = True
                    fwd[i] = math.inf
            if step.op == "pow" and errs[1] > 0 and xs[0] < 0:
                fragile[i] = True  # a negative base: an integer exponent or nan
            maybe_zero = any(e > 0 and not _a(x) > e for x, e in zip(xs, errs))
            if maybe_zero and any(math.isinf(x) for x in xs):
                fragile[i] = True  # 0 * inf is nan, a subnormal * inf is inf
        # backward, from the root (the last node)
        adj = [0.0] * n
        err = [0.0] * n
        count = [0] * n
        free = [False] * n
        adj[-1] = 1.0
        free[-1] = fragile[-1]
        for i in range(n - 1, n_leaves - 1, -1):
            if adj[i] == 0 and err[i] == 0 and not free[i]:
                continue  # no path from the root, not even a masked one
            err[i] += max(count[i] - 1, 0) * U * adj[i]
            for m, d, delta, uncertain in edges[i]:
                t = m0(adj[i], _a(d))
                adj[m] += t
                err[m] += m0(err[i], _a(d)) + m0(adj[i], delta) + U * t + ETA
                count[m] += 1
                zero_times_inf = math.isinf(adj[i]) and delta >= _a(
                    d
                )  # inf * (0 or not): nan or inf, by noise
                free[m] = free[m] or free[i] or fragile[i] or uncertain or zero_times_inf
        for i in range(n_leaves):
            err[i] += max(count[i] - 1, 0) * U * adj[i]
            if adj[i] >= BIG or math.isinf(err[i]):  # overflow may depend on the order (a nan is certain)
                free[i] = True
    return Bounds([float(a) for a in fwd], fragile, [float(a) for a in adj], [float(e) for e in err], free)


def same_class(x, y):
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return True


def check(recipe, torch):
    ours_leaves, ours = build(recipe, "ours")
    ours[-1].backward()
    first = [v.grad for v in ours_leaves]
    ours[-1].backward()
    for i, (g1, v) in enumerate(zip(first, ours_leaves)):
        g2 = v.grad
        assert g2 == 2 * g1 or (math.isnan(g1) and math.isnan(g2)), (
            f"leaf {i}: second backward {g2!r}, first {g1!r}"
        )

    torch_leaves, theirs = build(recipe, "torch", torch)
    if theirs[-1].requires_grad:
        theirs[-1].backward()
    values = [value_of(x) for x in ours]
    b = bounds(recipe, values)
    for i, (x, t) in enumerate(zip(values, (value_of(t) for t in theirs))):
        if not b.fragile[i]:
            assert same_class(x, t), f"node {i}: value {x!r}, torch {t!r}"
        if math.isfinite(x) and math.isfinite(t) and math.isfinite(b.forward[i]):
            assert abs(x - t) <= 2 * b.forward[i], (
                f"node {i}: value {x!r}, torch {t!r}, bound {2 * b.forward[i]!r}"
            )
    for i, (g1, t) in enumerate(zip(first, torch_leaves)):
        tg = 0.0 if t.grad is None else float(t.grad)
        if not b.class_free[i]:
            assert same_class(g1, tg), f"leaf {i}: grad {g1!r}, torch {tg!r}"
        if math.isfinite(g1) and math.isfinite(tg) and math.isfinite(b.error[i]):
            bound = 2 * b.error[i] * (1 + 2**-20)  # 2E, and room for the neglected second-order terms
            assert abs(g1 - tg) <= bound, f"leaf {i}: grad {g1!r}, torch {tg!r}, bound {bound!r}"


@needs_numpy
@PROFILE
@given(recipes())
def test_random_graphs_match_pytorch_within_their_error_bound_and_double_exactly(torch, recipe):
    note(repr(recipe))
    assume(within_bounded_domains(recipe))
    check(recipe, torch)


def within_bounded_domains(recipe):
    """Whether every operand of a bounded op (binary_cross_entropy: [0, 1]) is in its domain: PyTorch
    raises on anything else, nan included (a sigmoid of nan)."""
    values = [value_of(x) for x in build(recipe, "ours")[1]]
    for step in recipe.steps:
        case = REFERENCE[step.op][0]
        if case.bounded:
            for kind, v in step.operands:
                x = values[int(v)] if kind == "node" else v
                if not 0.0 <= x <= 1.0:
                    return False
    return True


def test_every_op_of_the_core_is_in_the_fuzzer():
    assert set(OPS) == set(ERROR_MODEL), "an op without an error model here (or a model without an op)"
    assert set(OPS) <= set(REFERENCE)


# --- the bound tells noise from errors: known cases ---------------------------------------------------------


def recipe_of(leaves, *steps):
    return Recipe(list(leaves), [Step(*s) if isinstance(s, tuple) else s for s in steps])


@needs_numpy
def test_the_bound_accepts_summation_order_noise(torch):
    """a*0.3 + a*0.7 + a*1.1 summed in another order differs in the last bit: within the bound."""
    recipe = recipe_of(
        [0.1],
        ("mul", (("node", 0), ("const", 0.3))),
        ("mul", (("node", 0), ("const", 0.7))),
        ("mul", (("node", 0), ("const", 1.1))),
        ("add", (("node", 1), ("node", 2))),
        ("add", (("node", 4), ("node", 3))),
    )
    check(recipe, torch)
    values = [value_of(v) for v in build(recipe, "ours")[1]]
    b = bounds(recipe, values)
    assert 0 < b.error[0] < 1e-14  # a few ulps of 2.1, not a tolerance


@needs_numpy
def test_the_bound_rejects_the_old_division_gradient():
    """1e300 / 1e200: the old d/dy, -g*x/(y*y), gave 0 where PyTorch has -1e-100."""
    recipe = recipe_of([1e300, 1e200], ("div", (("node", 0), ("node", 1))))
    values = [value_of(v) for v in build(recipe, "ours")[1]]
    b = bounds(recipe, values)
    assert b.error[1] < 1e-110  # far below the 1e-100 that the old form lost
    assert not b.class_free[1]


@needs_numpy
def test_the_bound_waives_the_class_only_where_noise_can_change_it():
    # (1/3) * 3 rounds to 1.0, so (1/3) * 3 - 1 is 0.0 where the exact value is -5.55e-17: relu's kink
    # is within the noise of its input, and either side's derivative is right.
    recipe = recipe_of(
        [1 / 3],
        ("mul", (("node", 0), ("const", 3.0))),
        ("sub", (("node", 1), ("const", 1.0))),
        ("relu", (("node", 2),)),
    )
    values = [value_of(v) for v in build(recipe, "ours")[1]]
    assert values[2] == 0.0
    b = bounds(recipe, values)
    assert b.class_free[0]
    recipe = recipe_of([0.5], ("relu", (("node", 0),)))
    b = bounds(recipe, [0.5, 0.5])
    assert not b.class_free[0]


@needs_numpy
def test_the_oracle_finds_a_mask_that_hides_a_nan_gradient(torch):
    """0 ** y with y >= 0, and a nan arriving from above: PyTorch's d/dy is nan * 0 = nan."""
    check(
        recipe_of(
            [0.0, 2.0], ("pow", (("node", 0), ("node", 1))), ("mul", (("node", 2), ("const", math.nan)))
        ),
        torch,
    )


@needs_numpy
def test_no_value_bound_is_claimed_past_an_operand_that_may_be_zero(torch):
    """sigmoid(-745) is 5e-324 here and 0 in PyTorch (both within 2**-1022 of the exact 2e-324); sqrt
    makes that 2e-162 against 0, and x ** 1e-45 then 1 against 0 (found by the long profile)."""
    recipe = recipe_of(
        [-745.0],
        ("sigmoid", (("node", 0),)),
        ("sqrt", (("node", 1),)),
        ("pow", (("node", 2), ("const", 1.401298464324817e-45))),
    )
    check(recipe, torch)
    values = [value_of(v) for v in build(recipe, "ours")[1]]
    assert math.isinf(bounds(recipe, values).forward[2])


@needs_numpy
def test_a_numerator_that_may_be_zero_over_zero_may_be_inf_or_nan(torch):
    """sigmoid(-745) is 5e-324 here and 0 in PyTorch (both within 2**-1022 of the exact value): divided
    by 0, inf here and nan there (found by CI's long profile)."""
    recipe = recipe_of([-745.0, 0.0], ("sigmoid", (("node", 0),)), ("div", (("node", 2), ("node", 1))))
    check(recipe, torch)
    values = [value_of(v) for v in build(recipe, "ours")[1]]
    assert bounds(recipe, values).fragile[3]
