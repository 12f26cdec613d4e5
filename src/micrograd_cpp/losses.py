"""Losses with PyTorch's names and semantics (``torch.nn.functional``), on lists of Values.

Every loss takes ``reduction="mean"`` (the default, as in PyTorch) or ``"sum"``. Predictions may be
Values or plain numbers; targets are numbers (or Values). Mismatched lengths, empty inputs and labels
out of range raise ValueError; anything that is not a number raises TypeError. Every argument is read
(and converted) before the first node is built, so the Python code of an argument's __float__ sees no
half-built loss, and the loss is the one of the data as that code leaves it.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Sequence
from typing import Any, Union

from . import _core
from ._core import Value

Scalar = Union[Value, float]


def _value(x: object, what: str) -> Value:
    if isinstance(x, Value):
        return x
    return Value(_core._real(x, what))  # a constant: no gradient flows to it


def _number(x: object, what: str) -> float:
    if isinstance(x, Value):
        return x.data
    return _core._real(x, what)  # the rule Value() applies


def _as_list(xs: object, what: str) -> list[Any]:
    if type(xs) is list:  # the common case first: the ABC check below costs more than the copy
        return xs[:]
    if isinstance(xs, (Value, numbers.Real)):
        return [xs]
    if not isinstance(xs, Iterable):
        raise TypeError(f"{what} must be a sequence, not {type(xs).__name__}")
    return list(xs)


def _paired(name: str, preds: object, targets: object) -> tuple[list[Any], list[Any]]:
    preds, targets = _as_list(preds, f"{name} input"), _as_list(targets, f"{name} target")
    if len(preds) != len(targets):
        raise ValueError(f"{name}: got {len(preds)} inputs but {len(targets)} targets")
    if not preds:
        raise ValueError(f"{name}: got no inputs")
    return preds, targets


def _reduce(terms: list[Value], reduction: str) -> Value:
    total = _core.sum(terms[1:], terms[0])  # one node; the value of Python's sum(terms[1:], terms[0])
    if reduction == "mean":
        return total / len(terms)
    if reduction == "sum":
        return total
    raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")


def mse_loss(preds: Sequence[Scalar], targets: Sequence[Scalar], reduction: str = "mean") -> Value:
    """Mean of ``(pred - target) ** 2``."""
    preds, targets = _paired("mse_loss", preds, targets)
    pairs = [(_value(p, "mse_loss input"), _value(t, "mse_loss target")) for p, t in zip(preds, targets)]
    return _reduce([(p - t) ** 2 for p, t in pairs], reduction)


def _shift(row: list[Value]) -> float:
    """The max of a row, the usual shift that keeps exp from overflowing (0 if it is infinite, as PyTorch)."""
    m = max([v.data for v in row])
    return 0.0 if math.isinf(m) else m


def _row(values: object, what: str) -> list[Value]:
    row = _as_list(values, what)
    if not all(type(v) is Value for v in row):  # a row of Values (the usual case) is used as it is
        row = [_value(v, what) for v in row]
    if not row:
        raise ValueError(f"{what}: a row of logits is empty")
    return row


def logsumexp(row: Sequence[Scalar]) -> Value:
    """``log(sum(exp(row)))``, computed with the max subtracted: a logit of 1000 does not overflow."""
    return _logsumexp(_row(row, "logsumexp"))


def _logsumexp(values: list[Value]) -> Value:
    m = _shift(values)
    return _core.sum([(v - m).exp() for v in values]).log() + m


def log_softmax(row: Sequence[Scalar]) -> list[Value]:
    """``row[i] - logsumexp(row)`` for each i, stable for any magnitude."""
    values = _row(row, "log_softmax")
    m = _shift(values)
    shifted = [v - m for v in values]
    log_total = _core.sum([s.exp() for s in shifted]).log()
    return [s - log_total for s in shifted]


def softmax(row: Sequence[Scalar]) -> list[Value]:
    """``exp(row[i]) / sum(exp(row))`` for each i, computed with the max subtracted."""
    values = _row(row, "softmax")
    m = _shift(values)
    exps = [(v - m).exp() for v in values]
    total = _core.sum(exps)
    return [e / total for e in exps]


def _class_index(label: Any, n_classes: int) -> int:
    if isinstance(label, bool):
        raise TypeError("cross_entropy labels must be class indices (int), not bool")
    try:
        index = operator.index(label)  # int or numpy integer; not 1.0
    except TypeError:
        raise TypeError(
            f"cross_entropy labels must be class indices (int), not {type(label).__name__}"
        ) from None
    if not 0 <= index < n_classes:
        raise ValueError(f"cross_entropy: label {index} is out of range for {n_classes} classes")
    return index


def cross_entropy(
    logits: Sequence[Sequence[Scalar]], labels: Sequence[int], reduction: str = "mean"
) -> Value:
    """``logsumexp(row) - row[label]`` per row (softmax cross-entropy on raw logits), stable for any
    magnitude. ``logits``: a list of rows, one per sample; ``labels``: class indices."""
    rows, labels = _paired("cross_entropy", logits, labels)
    rows = [_row(r, "cross_entropy logits") for r in rows]
    n_classes = len(rows[0])
    if any(len(r) != n_classes for r in rows):
        raise ValueError(f"cross_entropy: rows of logits differ in length ({sorted({len(r) for r in rows})})")
    indices = [_class_index(label, n_classes) for label in labels]
    return _reduce([_logsumexp(row) - row[index] for row, index in zip(rows, indices)], reduction)


def _probability(x: object, what: str) -> float:
    p = _number(x, what)
    if not 0.0 <= p <= 1.0:  # also refuses nan
        raise ValueError(f"binary_cross_entropy: {what} must be between 0 and 1, got {p}")
    return p


def binary_cross_entropy(
    probs: Sequence[Scalar], targets: Sequence[Scalar], reduction: str = "mean"
) -> Value:
    """``-(t log p + (1 - t) log(1 - p))`` for probabilities p in [0, 1] (for example sigmoid outputs),
    as ``torch.nn.functional.binary_cross_entropy``: each log clamped at -100, so p = 0 or 1 gives a
    finite loss, and PyTorch's gradient ``(p - t) / max(p (1 - p), 1e-12)``, which the clamp does not
    cut to 0. Each term is one node (op ``binary_cross_entropy``), so a captured Graph clamps per row.
    Prefer binary_cross_entropy_with_logits on raw scores: it is exact where p rounds to 0 or 1."""
    probs, targets = _paired("binary_cross_entropy", probs, targets)
    pairs = []
    for p, t in zip(probs, targets):
        _probability(p, "input")
        pairs.append((_value(p, "input"), _probability(t, "target")))
    return _reduce([p.binary_cross_entropy(t) for p, t in pairs], reduction)


def binary_cross_entropy_with_logits(
    logits: Sequence[Scalar], targets: Sequence[Scalar], reduction: str = "mean"
) -> Value:
    """binary_cross_entropy(sigmoid(x), t) computed stably from the logit x, as PyTorch does:
    ``(1 - t) x + softplus(-x)``, with no overflow for any x."""
    logits, targets = _paired("binary_cross_entropy_with_logits", logits, targets)
    pairs = [(_value(x, "input"), _number(t, "target")) for x, t in zip(logits, targets)]
    return _reduce([(1.0 - t) * x + (-x).softplus() for x, t in pairs], reduction)


def hinge_loss(scores: Sequence[Scalar], labels: Sequence[int], reduction: str = "mean") -> Value:
    """The max-margin loss of micrograd's demo: ``relu(1 - y * score)`` for labels y = +1 or -1,
    written as micrograd writes it, so results match it exactly."""
    scores, labels = _paired("hinge_loss", scores, labels)
    pairs = []
    for score, y in zip(scores, labels):
        y = _number(y, "hinge_loss label")
        if y not in (1.0, -1.0):
            raise ValueError(f"hinge_loss: labels must be +1 or -1, got {y}")
        pairs.append((_value(score, "hinge_loss input"), y))
    terms = [(1 + -y * score).relu() for score, y in pairs]
    if reduction == "mean":
        return _core.sum(terms) * (1.0 / len(terms))  # micrograd's form of the mean, sum(losses) * (1 / n)
    return _reduce(terms, reduction)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "hinge_loss",
    "log_softmax",
    "logsumexp",
    "mse_loss",
    "softmax",
]
