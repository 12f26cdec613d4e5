"""Values and gradients of every op (tests/op_reference.py) against PyTorch (float64), including
micrograd's own two engine tests."""

import itertools
import math
import random

import pytest
from op_reference import CASES, REFERENCE

from micrograd_cpp import Value

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

BINARY = {
    name: cases[0].ours for name, cases in REFERENCE.items() if cases[0].operands == 2 and cases[0].operator
}


def torch_leaf(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def same(ours, theirs):
    """Equal to 1e-12 relative, with matching inf/nan."""
    theirs = float(theirs)
    if math.isnan(theirs) or math.isnan(ours):
        return math.isnan(theirs) and math.isnan(ours)
    return ours == pytest.approx(theirs, rel=1e-12, abs=1e-300)


def operand_tuples(case):
    """Every point for one operand, every pair for two; for more, 60 draws among the points."""
    if case.operands <= 2:
        return list(itertools.product(case.points, repeat=case.operands))
    rng = random.Random(case.operands)
    return [tuple(rng.choice(case.points) for _ in range(case.operands)) for _ in range(60)]


@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_match_pytorch_at_special_points(name):
    case = CASES[name]
    for xs in operand_tuples(case):
        ours = [Value(x) for x in xs]
        theirs = [torch_leaf(x) for x in xs]
        out = case.ours(*ours)
        tout = case.torch_op()(*theirs)
        out.backward()
        tout.backward()
        assert same(out.data, tout.item()), (xs, out.data, tout.item())
        for i, (a, ta) in enumerate(zip(ours, theirs)):
            expected = 0.0 if ta.grad is None else ta.grad.item()
            assert same(a.grad, expected), (xs, f"d/dx{i}", a.grad, expected)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("k", [-2, 0.5, 3])
def test_number_on_either_side(name, k):
    op = BINARY[name]
    a = Value(1.75)
    left, right = op(a, k), op(k, a)
    (left + right).backward()
    ta = torch_leaf(1.75)
    tleft, tright = op(ta, k), op(k, ta)
    (tleft + tright).backward()
    assert same(left.data, tleft.item())
    assert same(right.data, tright.item())
    assert same(a.grad, ta.grad.item())


def test_division_gradients_do_not_overflow_where_pytorchs_do_not():
    for x, y in [(1e300, 1e200), (1e-300, 1e-200), (5.04e239, 5.04e239), (1e-310, 3.0)]:
        a, b = Value(x), Value(y)
        (a / b).backward()
        ta, tb = torch_leaf(x), torch_leaf(y)
        (ta / tb).backward()
        assert same(a.grad, ta.grad.item()), (x, y, a.grad)
        assert same(b.grad, tb.grad.item()), (x, y, b.grad)
    a = Value(5.04e239)
    (a / a).backward()
    assert a.grad == 0.0


@pytest.mark.parametrize("make", [lambda x, zero: x**0, lambda x, zero: x**zero])
def test_pow_masks_hold_when_the_incoming_gradient_is_nan(make):
    x, zero = Value(2.0), Value(0.0)
    (make(x, zero) * math.nan).backward()
    tx, tzero = torch_leaf(2.0), torch_leaf(0.0)
    (make(tx, tzero) * math.nan).backward()
    assert x.grad == tx.grad.item() == 0.0


def test_relu_at_nan_has_pytorchs_gradient():
    x = Value(math.nan)
    y = x.relu()
    y.backward()
    tx = torch_leaf(math.nan)
    torch.relu(tx).backward()
    assert math.isnan(y.data)
    assert x.grad == tx.grad.item() == 1.0


def test_micrograd_sanity_check():
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    xmg, ymg = x, y

    x = torch.Tensor([-4.0]).double()
    x.requires_grad = True
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    xpt, ypt = x, y

    assert ymg.data == ypt.data.item()
    assert xmg.grad == xpt.grad.item()


def test_micrograd_more_ops():
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    amg, bmg, gmg = a, b, g

    a = torch.Tensor([-4.0]).double()
    b = torch.Tensor([2.0]).double()
    a.requires_grad = True
    b.requires_grad = True
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    apt, bpt, gpt = a, b, g

    tol = 1e-6
    assert abs(gmg.data - gpt.data.item()) < tol
    assert abs(amg.grad - apt.grad.item()) < tol
    assert abs(bmg.grad - bpt.grad.item()) < tol


def test_a_neuron_with_every_activation():
    xs, ws = [0.5, -1.5, 2.0], [0.3, 0.8, -0.4]
    ours_w = [Value(w) for w in ws]
    torch_w = [torch_leaf(w) for w in ws]
    pre = sum((w * x for w, x in zip(ours_w, xs)), Value(0.1))
    tpre = sum((w * x for w, x in zip(torch_w, xs)), torch.tensor(0.1, dtype=torch.float64))
    out = pre.tanh() + pre.sigmoid() * pre.relu() - pre.exp().log() / 3
    tout = torch.tanh(tpre) + torch.sigmoid(tpre) * torch.relu(tpre) - torch.log(torch.exp(tpre)) / 3
    out.backward()
    tout.backward()
    assert same(out.data, tout.item())
    for w, tw in zip(ours_w, torch_w):
        assert same(w.grad, tw.grad.item())
