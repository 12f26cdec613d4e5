"""Values and gradients of every op against PyTorch (float64), including
micrograd's own two engine tests."""

import math

import pytest

from micrograd_cpp import Value

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

UNARY = {
    "tanh": (lambda v: v.tanh(), torch.tanh),
    "relu": (lambda v: v.relu(), torch.relu),
    "sigmoid": (lambda v: v.sigmoid(), torch.sigmoid),
    "exp": (lambda v: v.exp(), torch.exp),
    "log": (lambda v: v.log(), torch.log),
    "softplus": (lambda v: v.softplus(), lambda t: -torch.nn.functional.logsigmoid(-t)),
    "neg": (lambda v: -v, lambda t: -t),
    "square": (lambda v: v**2, lambda t: t**2),
    "cube": (lambda v: v**3, lambda t: t**3),
    "rsqrt": (lambda v: v**-0.5, lambda t: t**-0.5),
    "inverse": (lambda v: v**-1, lambda t: t**-1),
    "pow0": (lambda v: v**0, lambda t: t**0),
}
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "pow": lambda x, y: x**y,
}
POINTS = [-3.7, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 20.0, -30.0]


def torch_leaf(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def same(ours, theirs):
    """Equal to 1e-12 relative, with matching inf/nan."""
    theirs = float(theirs)
    if math.isnan(theirs) or math.isnan(ours):
        return math.isnan(theirs) and math.isnan(ours)
    return ours == pytest.approx(theirs, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("x", [*POINTS, 1000.0, -1000.0])
def test_unary_ops(name, x):
    ours_op, torch_op = UNARY[name]
    a = Value(x)
    out = ours_op(a)
    out.backward()
    ta = torch_leaf(x)
    tout = torch_op(ta)
    tout.backward()
    assert same(out.data, tout.item()), (out.data, tout.item())
    assert same(a.grad, ta.grad.item()), (a.grad, ta.grad.item())


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("x", POINTS)
@pytest.mark.parametrize("y", [-2.0, -0.5, 0.0, 1.5, 3.0])
def test_binary_ops(name, x, y):
    op = BINARY[name]
    a, b = Value(x), Value(y)
    out = op(a, b)
    out.backward()
    ta, tb = torch_leaf(x), torch_leaf(y)
    tout = op(ta, tb)
    tout.backward()
    assert same(out.data, tout.item())
    assert same(a.grad, ta.grad.item()), ("d/dx", a.grad, ta.grad.item())
    assert same(b.grad, tb.grad.item()), ("d/dy", b.grad, tb.grad.item())


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
