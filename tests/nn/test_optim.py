"""Optimizers against torch.optim (the same parameters and gradients give the same trajectory); their
arguments, attributes and bad input. The comparisons take the `torch` fixture and skip without it."""

import math
import random

import pytest

from micrograd_cpp import Value
from micrograd_cpp.optim import SGD, Adam


def trajectories(torch, make_ours, make_theirs, steps=25, n=6, seed=0):
    """Runs both optimizers on f(p) = sum(c_i * p_i**2 + sin-like terms) so gradients vary per step."""
    rng = random.Random(seed)
    start = [rng.uniform(-2, 2) for _ in range(n)]
    coeffs = [rng.uniform(0.1, 3) for _ in range(n)]
    ours = [Value(x) for x in start]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    opt, topt = make_ours(ours), make_theirs(theirs)
    path, tpath = [], []
    for _ in range(steps):
        loss = sum((c * p * p + (p * 3).tanh() for c, p in zip(coeffs, ours)), Value(0.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = sum(c * p * p + torch.tanh(p * 3) for c, p in zip(coeffs, theirs))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        path.append([p.data for p in ours])
        tpath.append([p.item() for p in theirs])
    return path, tpath


SGD_CASES = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.01, "nesterov": True},
]
ADAM_CASES = [
    {},
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.01, "weight_decay": 0.1},
]


CASES = [(SGD, options) for options in SGD_CASES] + [(Adam, options) for options in ADAM_CASES]


@pytest.mark.parametrize(("ours_cls", "options"), CASES)
def test_optimizer_matches_torch(torch, ours_cls, options):
    torch_cls = getattr(torch.optim, ours_cls.__name__)  # torch.optim.SGD, torch.optim.Adam
    path, tpath = trajectories(torch, lambda ps: ours_cls(ps, **options), lambda ps: torch_cls(ps, **options))
    for ours, theirs in zip(path, tpath):
        for a, b in zip(ours, theirs):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (a, b)


def test_learning_rate_schedule_matches_torch(torch):
    def ours(ps):
        return SGD(ps, lr=1.0, momentum=0.9)

    def theirs(ps):
        return torch.optim.SGD(ps, lr=1.0, momentum=0.9)

    rng = random.Random(1)
    start = [rng.uniform(-1, 1) for _ in range(4)]
    ps = [Value(x) for x in start]
    tps = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    opt, topt = ours(ps), theirs(tps)
    for k in range(20):
        lr = 1.0 - 0.9 * k / 20
        opt.lr = lr
        for group in topt.param_groups:
            group["lr"] = lr
        loss = sum((p * p * 0.1 for p in ps), Value(0.0))
        opt.zero_grad()
        loss.backward()
        opt.step()
        topt.zero_grad()
        sum(p * p * 0.1 for p in tps).backward()
        topt.step()
    assert [p.data for p in ps] == pytest.approx([p.item() for p in tps], rel=1e-9)


def test_hyperparameters_are_attributes_and_validated():
    opt = SGD([Value(1.0)], lr=0.1, momentum=0.5)
    opt.lr = 0.01
    assert opt.lr == 0.01
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = -1.0
    assert opt.lr == 0.01  # refused values leave the old one
    with pytest.raises(ValueError, match="nesterov"):
        SGD([Value(1.0)], lr=0.1, nesterov=True)
    nesterov = SGD([Value(1.0)], lr=0.1, momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        nesterov.momentum = 0.0
    assert nesterov.momentum == 0.9
    adam = Adam([Value(1.0)])
    assert (adam.lr, adam.betas, adam.eps, adam.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.0)
    with pytest.raises(ValueError, match="beta"):
        adam.betas = (0.9, 1.0)
    assert adam.betas == (0.9, 0.999)
    assert "SGD(lr=0.01, momentum=0.5" in repr(opt)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda: SGD([Value(1.0)], lr=-0.1), ValueError, "learning rate"),
        (lambda: SGD([Value(1.0)], lr=0.1, momentum=-1), ValueError, "momentum"),
        (lambda: SGD([Value(1.0)], lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
        (lambda: SGD([1.0], lr=0.1), TypeError, "params must hold Values"),
        (lambda: SGD(Value(1.0), lr=0.1), TypeError, None),
        (lambda: Adam([Value(1.0)], betas=(1.0, 0.9)), ValueError, "beta1"),
        (lambda: Adam([Value(1.0)], eps=-1.0), ValueError, "eps"),
        (lambda: Adam([Value(1.0)], lr="fast"), TypeError, None),
    ],
)
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_same_parameter_twice_is_refused():
    p = Value(1.0)
    with pytest.raises(ValueError, match="twice"):
        Adam([p, p])


def test_step_updates_in_place_and_zero_grad_clears():
    p = Value(1.0)
    opt = SGD([p], lr=0.5)
    (p * p).backward()
    opt.step()
    assert p.data == 0.0
    opt.zero_grad()
    assert p.grad == 0.0
    assert opt.params == [p]


def test_optimizer_accepts_a_generator_of_parameters():
    ps = [Value(1.0), Value(2.0)]
    opt = Adam(p for p in ps)
    assert opt.params == ps
