"""examples/pinn.py: its graphs against PyTorch's double backward on the same network (values, u', u'' and
the parameters' gradients, third derivatives included), and the script as a user runs it: the loss falls,
the fit is close to sin x, the plot is saved."""

import math
import random
import re
import subprocess
import sys

import pytest

import micrograd_cpp as mg
from micrograd_cpp.nn import MLP


def test_the_graphs_give_pytorchs_loss_and_gradients(pinn, bench_pinn, torch):
    """The benchmark's PyTorch network, from the same weights (benchmarks/bench_pinn.py)."""
    random.seed(3)
    model = MLP(1, [16, 16, 1], activation="tanh")
    residual, initial, solution = pinn.graphs(model)
    rows = [[math.pi * i / 63] for i in range(64)]
    model.zero_grad()
    squares = residual.map(rows, backward=True, reduction="mean")
    loss = math.fsum(squares) / 64 + initial.forward()
    initial.backward()

    net = bench_pinn.torch_model(model)
    x = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    x0 = torch.zeros((1, 1), dtype=torch.float64, requires_grad=True)

    def derivatives(points):
        u = net(points)
        (du,) = torch.autograd.grad(u.sum(), points, create_graph=True)
        (d2u,) = torch.autograd.grad(du.sum(), points, create_graph=True)
        return u, du, d2u

    u, _, d2u = derivatives(x)
    u0, du0, _ = derivatives(x0)
    per_point = (d2u + u) ** 2
    t_loss = per_point.mean() + (u0**2).sum() + ((du0 - 1.0) ** 2).sum()
    t_loss.backward()
    for ours, theirs in zip(squares, per_point.detach().flatten().tolist()):
        assert ours == pytest.approx(theirs, rel=1e-11, abs=1e-15)
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    assert solution.map(rows) == pytest.approx(u.detach().flatten().tolist(), rel=1e-13, abs=1e-15)
    theirs = []
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            for j in range(layer.out_features):
                theirs += [*layer.weight.grad[j].tolist(), layer.bias.grad[j].item()]
    ours = [p.grad for p in model.parameters()]  # per neuron: its weights, then its bias
    scale = max(abs(t) for t in theirs)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12 * scale)


def test_the_residual_is_built_once_and_each_step_maps_it(pinn, monkeypatch):
    """Training builds its graphs once (mg.grad twice per point graph), then only maps and replays them."""
    calls = []
    grad = mg.grad
    monkeypatch.setattr(pinn.mg, "grad", lambda *a, **k: calls.append(1) or grad(*a, **k))
    pinn.train(steps=30, lr=0.01, seed=0)
    assert len(calls) == 4  # u' and u'' of the residual's point and of the initial conditions' point


def test_the_script_prints_the_loss_falling_and_the_error_and_saves_the_plot(script_path, tmp_path):
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib")
    out_file = tmp_path / "fit.png"
    example = script_path("examples/pinn.py")
    proc = subprocess.run(
        [sys.executable, str(example), "--out", str(out_file)], capture_output=True, text=True, check=True
    )
    losses = [float(m) for m in re.findall(r"^step\s+\d+\s+loss (\S+)$", proc.stdout, re.MULTILINE)]
    assert len(losses) == 11
    assert losses[-1] < losses[0] / 1000
    error = float(re.search(r"max \|u\(x\) - sin x\| on \[0, pi\]: (\S+)", proc.stdout).group(1))
    assert error < 2e-3
    assert f"plot saved to {out_file}" in proc.stdout
    assert out_file.stat().st_size > 10_000
