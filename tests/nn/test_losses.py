"""Losses against torch.nn.functional (values and gradients to 1e-9 relative) and micrograd; bad input.

The comparisons take the `torch` or `micrograd` fixture (tests/conftest.py) and skip without it; the
rest runs everywhere, the wheel tests included."""

import math
import random

import pytest

from micrograd_cpp import Value
from micrograd_cpp import losses as L


def close(ours, theirs, rel=1e-9):
    return math.isclose(ours, float(theirs), rel_tol=rel, abs_tol=1e-15)


def leaves(torch, xs):
    return [Value(x) for x in xs], torch.tensor(xs, dtype=torch.float64, requires_grad=True)


def check_grads(ours, theirs_tensor):
    for v, g in zip(ours, theirs_tensor.grad.tolist()):
        assert close(v.grad, g), (v.grad, g)


# Losses on a list of predictions and a list of number targets: (name, predictions, targets).
ELEMENTWISE = [
    ("mse_loss", [0.5, -1.25, 3.0, 0.0], [1.0, -1.0, 2.5, 0.125]),
    ("binary_cross_entropy", [0.1, 0.5, 0.99, 0.7, 1e-8], [0.0, 1.0, 1.0, 0.25, 1.0]),
    (
        "binary_cross_entropy_with_logits",
        [-3.0, 0.0, 2.5, 40.0, -800.0, 800.0],
        [0.0, 1.0, 1.0, 1.0, 0.0, 0.3],
    ),
]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(("name", "inputs", "targets"), ELEMENTWISE, ids=[case[0] for case in ELEMENTWISE])
def test_elementwise_losses(torch, name, inputs, targets, reduction):
    ours, theirs = leaves(torch, inputs)
    loss = getattr(L, name)(ours, targets, reduction=reduction)
    tloss = getattr(torch.nn.functional, name)(
        theirs, torch.tensor(targets, dtype=torch.float64), reduction=reduction
    )
    loss.backward()
    tloss.backward()
    assert close(loss.data, tloss.item())
    check_grads(ours, theirs)


def test_mse_loss_gradients_reach_value_targets():
    p, t = Value(2.0), Value(0.5)
    L.mse_loss([p], [t]).backward()
    assert (p.grad, t.grad) == (3.0, -3.0)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy(torch, scale, reduction):
    rng = random.Random(0)
    rows = [[scale * rng.uniform(-1, 1) for _ in range(4)] for _ in range(5)]
    labels = [0, 3, 1, 1, 2]
    ours = [[Value(x) for x in row] for row in rows]
    theirs = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    loss = L.cross_entropy(ours, labels, reduction=reduction)
    tloss = torch.nn.functional.cross_entropy(theirs, torch.tensor(labels), reduction=reduction)
    loss.backward()
    tloss.backward()
    assert math.isfinite(loss.data)
    assert close(loss.data, tloss.item())
    for row, grads in zip(ours, theirs.grad.tolist()):
        for v, g in zip(row, grads):
            assert math.isclose(v.grad, g, rel_tol=1e-9, abs_tol=1e-12), (v.grad, g)


def test_cross_entropy_logit_of_1000_does_not_overflow():
    logits = [[Value(1000.0), Value(0.0), Value(-1000.0)]]
    loss = L.cross_entropy(logits, [1])
    loss.backward()
    assert loss.data == 1000.0
    assert [v.grad for v in logits[0]] == [1.0, -1.0, 0.0]


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax(torch, fn):
    xs = [0.3, 800.0, -2.0, 799.5]
    ours, theirs = leaves(torch, xs)
    out = getattr(L, fn)(ours)
    tout = getattr(torch.nn.functional, fn)(theirs, dim=0)
    weights = [1.0, -2.0, 0.5, 3.0]
    sum((w * o for w, o in zip(weights, out)), Value(0.0)).backward()
    (tout * torch.tensor(weights, dtype=torch.float64)).sum().backward()
    for o, t in zip(out, tout.tolist()):
        assert math.isclose(o.data, t, rel_tol=1e-9, abs_tol=1e-15)
    for v, g in zip(ours, theirs.grad.tolist()):
        assert math.isclose(v.grad, g, rel_tol=1e-9, abs_tol=1e-12)


def test_logsumexp(torch):
    ours, theirs = leaves(torch, [1.0, 2.0, 1000.0])
    out = L.logsumexp(ours)
    tout = torch.logsumexp(theirs, dim=0)
    out.backward()
    tout.backward()
    assert close(out.data, tout.item())
    check_grads(ours, theirs)


def test_binary_cross_entropy_at_zero_and_one_is_finite(torch):
    probs, tprobs = leaves(torch, [0.0, 1.0])
    loss = L.binary_cross_entropy(probs, [1.0, 0.0])
    tloss = torch.nn.functional.binary_cross_entropy(tprobs, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert loss.data == tloss.item() == 100.0  # both logs clamped at -100


def test_binary_cross_entropy_with_logits_keeps_tiny_losses(torch):
    loss = L.binary_cross_entropy_with_logits([Value(40.0)], [1.0])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([40.0], dtype=torch.float64), torch.tensor([1.0])
    )
    assert loss.data > 0
    assert close(loss.data, expected.item())


def test_hinge_loss_matches_torchs_relu_form(torch):
    scores, tscores = leaves(torch, [0.3, -2.0, 1.5, 0.9])
    labels = [1, -1, -1, 1]
    loss = L.hinge_loss(scores, labels)
    tloss = torch.relu(1 - torch.tensor(labels, dtype=torch.float64) * tscores).mean()
    loss.backward()
    tloss.backward()
    assert close(loss.data, tloss.item())
    check_grads(scores, tscores)


def test_hinge_loss_is_micrograds_demo_loss(micrograd):
    labels = [1, -1, -1, 1]
    loss = L.hinge_loss([Value(x) for x in [0.3, -2.0, 1.5, 0.9]], labels)
    theirs = [micrograd.engine.Value(x) for x in [0.3, -2.0, 1.5, 0.9]]
    losses = [(1 + -yi * si).relu() for yi, si in zip(labels, theirs)]
    assert loss.data == (sum(losses) * (1.0 / len(losses))).data


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: L.mse_loss([1.0, 2.0], [1.0]), ValueError, "2 inputs but 1 targets"),
        (lambda: L.mse_loss([], []), ValueError, "no inputs"),
        (lambda: L.mse_loss(["a"], [1.0]), TypeError, "str"),
        (lambda: L.mse_loss([1.0], [1.0], reduction="max"), ValueError, "reduction"),
        (lambda: L.cross_entropy([[1.0, 2.0]], [2]), ValueError, "out of range"),
        (lambda: L.cross_entropy([[1.0, 2.0]], [-1]), ValueError, "out of range"),
        (lambda: L.cross_entropy([[1.0, 2.0]], [0, 1]), ValueError, "1 inputs but 2 targets"),
        (lambda: L.cross_entropy([[1.0, 2.0], [1.0]], [0, 0]), ValueError, "differ in length"),
        (lambda: L.cross_entropy([[1.0, 2.0]], [0.5]), TypeError, "class indices"),
        (lambda: L.cross_entropy([[]], [0]), ValueError, "empty"),
        (lambda: L.binary_cross_entropy([1.5], [1.0]), ValueError, "between 0 and 1"),
        (lambda: L.binary_cross_entropy([0.5], [2.0]), ValueError, "between 0 and 1"),
        (lambda: L.binary_cross_entropy([float("nan")], [1.0]), ValueError, "between 0 and 1"),
        (lambda: L.binary_cross_entropy_with_logits([1.0, 2.0], [1.0]), ValueError, "2 inputs but 1"),
        (lambda: L.hinge_loss([Value(0.5)], [0]), ValueError, r"\+1 or -1"),
        (lambda: L.hinge_loss([Value(0.5)], [None]), TypeError, "NoneType"),
        (lambda: L.softmax([]), ValueError, "empty"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_numpy_labels_and_scalars():
    np = pytest.importorskip("numpy")
    logits = [[Value(1.0), Value(2.0)], [Value(0.5), Value(-0.5)]]
    assert L.cross_entropy(logits, np.array([1, 0])).data == L.cross_entropy(logits, [1, 0]).data
    assert L.hinge_loss([Value(0.3)], np.array([-1])).data == L.hinge_loss([Value(0.3)], [-1]).data
