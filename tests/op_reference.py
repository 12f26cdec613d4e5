"""The tests' one reference table: for every op of the engine (``micrograd_cpp._core.OPS``), how to
apply it to our Values, to PyTorch float64 tensors and to PyPI micrograd's Values, and where it is
defined. Every oracle iterates it: PyTorch (test_against_torch), central differences
(test_finite_differences), random graphs (test_properties), micrograd (test_against_micrograd).
test_op_reference fails when an op of the core has no row here, or a row names no op.

Adding an op: its struct and table row in C++ (cpp/include/micrograd/), then one row here.
"""

from __future__ import annotations

import importlib
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

import micrograd_cpp as mg


def _torch() -> Any:
    return importlib.import_module("torch")  # imported when a PyTorch oracle runs, not before


def _torch_mask(x: Any, m: Any) -> Any:
    """mask(x, m) in PyTorch: threshold_backward(x, m, 0), relu's derivative as an op (x where m > 0 or m is
    nan, else 0), whose derivative in m is a zero (zeros_like), as ours."""
    torch = _torch()
    x, m = (v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64) for v in (x, m))
    return torch.ops.aten.threshold_backward(x, m, 0)


def _python_dot(*xs: Any) -> Any:  # what dot() computes, spelled with * and + for any engine
    return sum(a * b for a, b in zip(xs[0::2], xs[1::2]))


# Special points at which values and gradients must equal PyTorch's, kinks and edges included.
SPECIAL = (-1000.0, -30.0, -3.7, -1.0, -0.25, -0.0, 0.0, 0.3, 1.0, 2.5, 20.0, 1000.0)
NON_FINITE = (math.inf, -math.inf, math.nan)


@dataclass(frozen=True)
class Case:
    """One way to exercise an op. ``ours``, ``torch`` and ``micrograd`` take ``operands`` arguments
    (Values, tensors, micrograd Values) and apply the op; ``torch``/``micrograd`` default to ``ours``
    where the engines share the spelling (operators, ``x.tanh()``); ``micrograd`` is None where PyPI
    micrograd lacks the op. ``domain``: an interval where the op is smooth and finite, for random
    inputs and finite differences; ``points``: where to compare with PyTorch exactly."""

    ours: Callable[..., Any]
    operands: int = 1
    torch: Callable[..., Any] | None = None
    micrograd: Callable[..., Any] | None = None
    domain: tuple[float, float] = (-3.0, 3.0)
    points: tuple[float, ...] = SPECIAL + NON_FINITE
    kinks: tuple[float, ...] = ()  # not differentiable there: finite differences keep away
    operator: bool = True  # the op takes a plain number on either side, as Python's operators do
    bounded: bool = False  # the op is defined on `domain` only (PyTorch raises outside it)

    def torch_op(self) -> Callable[..., Any]:
        return self.torch or self.ours

    def into_domain(self, x: Any) -> Any:
        """A node (of either engine) moved smoothly into where the op is defined: squashed by a
        sigmoid into a bounded domain, x * x + lo for ops of positive numbers, else x itself."""
        lo, hi = self.domain
        if self.bounded:
            return lo + (hi - lo) * x.sigmoid()
        return x * x + lo if lo > 0 else x

    def smooth_points(self, n: int) -> list[float]:
        """n points spread over the domain, each kept 0.05 away from the kinks."""
        lo, hi = self.domain
        points = [lo + (hi - lo) * (i + 0.5) / n for i in range(n)]
        return [x + 0.05 if any(abs(x - k) < 0.05 for k in self.kinks) else x for x in points]


def _unary(ours: Callable[..., Any], *, micrograd: bool = False, **kwargs: Any) -> tuple[Case, ...]:
    return (Case(ours, micrograd=ours if micrograd else None, **kwargs),)


def _binary(ours: Callable[..., Any], *, micrograd: bool = True, **kwargs: Any) -> tuple[Case, ...]:
    points = (-2.0, -0.5, -0.0, 0.0, 1.5, 3.0, 20.0, math.inf, math.nan)
    return (Case(ours, operands=2, micrograd=ours if micrograd else None, points=points, **kwargs),)


def _power(k: float) -> Case:
    positive = k != int(k)  # x ** 0.5 of a negative x is nan: random inputs stay positive

    def power(x: Any) -> Any:
        return x**k

    return Case(
        power,
        micrograd=power,
        domain=(0.2, 3.0) if positive or k < 0 else (-3.0, 3.0),
        kinks=(0.0,) if k < 0 else (),
    )


REFERENCE: dict[str, tuple[Case, ...]] = {
    "add": _binary(operator.add),
    "sub": _binary(operator.sub),
    "mul": _binary(operator.mul),
    "div": _binary(operator.truediv, domain=(0.2, 3.0)),
    "pow": _binary(operator.pow, micrograd=False, domain=(0.2, 3.0)),
    "pow_const": tuple(_power(k) for k in (0, 1, 2, 3, -1, -2, 0.5, -0.5, 2.5)),
    "neg": _unary(operator.neg, micrograd=True),
    "tanh": _unary(lambda x: x.tanh()),
    "relu": _unary(lambda x: x.relu(), micrograd=True, kinks=(0.0,)),
    "sigmoid": _unary(lambda x: x.sigmoid()),
    "exp": _unary(lambda x: x.exp()),
    "log": _unary(lambda x: x.log(), domain=(0.1, 5.0)),
    "softplus": _unary(
        lambda x: x.softplus(),
        # log(1 + exp(x)) = logaddexp(x, 0): the right sign below x = -745, where -logsigmoid(-x) gives -0.0
        torch=lambda x: _torch().logaddexp(x, _torch().zeros_like(x)),
        domain=(-20.0, 20.0),
    ),
    "abs": _unary(lambda x: x.abs(), kinks=(0.0,)),
    "sqrt": _unary(lambda x: x.sqrt(), domain=(0.1, 5.0)),
    "binary_cross_entropy": (
        Case(
            lambda p, t: (p if isinstance(p, mg.Value) else mg.Value(p)).binary_cross_entropy(t),
            operands=2,
            torch=lambda p, t: _torch().nn.functional.binary_cross_entropy(p, t, reduction="sum"),
            domain=(0.05, 0.95),  # p and t; PyTorch refuses either outside [0, 1]
            bounded=True,
            # 0 and 1 reach the -100 clamp; p (1 - p) < 1e-12 reaches PyTorch's epsilon in the gradient
            points=(0.0, 1e-300, 1e-20, 1e-13, 1e-6, 0.25, 0.5, 0.7, 1.0 - 1e-13, 1.0 - 2**-53, 1.0),
            operator=False,
        ),
    ),
    "sign": _unary(lambda x: mg._core._sign(x), torch=lambda x: _torch().sign(x), kinks=(0.0,)),
    "mask": _binary(
        lambda x, m: mg._core._mask(x, m), micrograd=False, torch=_torch_mask, kinks=(0.0,), operator=False
    ),
    "dot": (
        Case(
            lambda *xs: mg.dot(xs[0::2], xs[1::2]),
            operands=6,
            torch=_python_dot,
            micrograd=_python_dot,
        ),
    ),
    "sum": (
        Case(lambda *xs: mg.sum(xs), operands=5, torch=lambda *xs: sum(xs), micrograd=lambda *xs: sum(xs)),
        Case(
            lambda *xs: mg.sum(xs[1:], start=xs[0]),
            operands=3,
            torch=lambda *xs: sum(xs[1:], xs[0]),
            micrograd=lambda *xs: sum(xs[1:], xs[0]),
        ),
    ),
}

# Every case, named for test ids: "tanh", "pow_const-2", ...
CASES: dict[str, Case] = {
    (name if len(cases) == 1 else f"{name}-{i}"): case
    for name, cases in REFERENCE.items()
    for i, case in enumerate(cases)
}
