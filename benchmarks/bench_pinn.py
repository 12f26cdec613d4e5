"""The physics-informed step of examples/pinn.py beside PyTorch's double backward, in one run.

    python benchmarks/bench_pinn.py [--repeat 300] [--rounds 3]

One Adam step of u'' = -u on [0, pi] (64 collocation points, u(0) = 0 and u'(0) = 1), MLP(1, [16, 16, 1])
with tanh, from the same initial weights in both:
  micrograd_cpp   the residual's graph built once (u'' by mg.grad with create_graph, twice), captured
                  with mg.Graph; each step Graph.map(rows, backward=True) over the points, the initial
                  conditions' graph replayed, Adam;
  PyTorch         float64 on one thread, batched over the points: u, u' and u'' by
                  torch.autograd.grad(create_graph=True), loss.backward() through all of it, Adam.
Both losses are checked to agree on the first step. Times are medians (ms per step) over `repeat` steps,
the best of `rounds` rounds taken in turn; the target is micrograd_cpp <= 0.25x PyTorch's time per step.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread everywhere
    os.environ.setdefault(_name, "1")

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import micrograd_cpp as mg
from micrograd_cpp.nn import MLP
from micrograd_cpp.optim import Adam

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit(
        "needs PyTorch (the CPU wheel): pip install torch --index-url https://download.pytorch.org/whl/cpu"
    )

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import pinn

torch.set_num_threads(1)
LR = 0.01
ROWS = [[math.pi * i / (pinn.POINTS - 1)] for i in range(pinn.POINTS)]


def ours(model: MLP) -> tuple[Callable[[], float], Callable[[], None]]:
    """(one training step returning the loss, the warm-up: capture), as examples/pinn.py trains."""
    residual, initial, _ = pinn.graphs(model)
    optimizer = Adam(model.parameters(), lr=LR)

    def step() -> float:
        optimizer.zero_grad()
        squares = residual.map(ROWS, backward=True, reduction="mean")
        loss = math.fsum(squares) / pinn.POINTS + initial.forward()
        initial.backward()
        optimizer.step()
        return loss

    return step, lambda: None


def torch_model(model: MLP) -> Any:
    """The same network in PyTorch (float64), with model's weights."""
    layers: list[Any] = []
    for k, layer in enumerate(model.layers):
        linear = torch.nn.Linear(len(layer.neurons[0].w), len(layer.neurons), dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(
                torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
            )
            linear.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        layers.append(linear)
        if k < len(model.layers) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def pytorch(model: MLP) -> Callable[[], float]:
    net = torch_model(model)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    x = torch.tensor(ROWS, dtype=torch.float64, requires_grad=True)
    x0 = torch.zeros((1, 1), dtype=torch.float64, requires_grad=True)

    def derivatives(points: Any) -> tuple[Any, Any, Any]:
        u = net(points)
        (du,) = torch.autograd.grad(u.sum(), points, create_graph=True)
        (d2u,) = torch.autograd.grad(du.sum(), points, create_graph=True)
        return u, du, d2u

    def step() -> float:
        u, _, d2u = derivatives(x)
        u0, du0, _ = derivatives(x0)
        loss = ((d2u + u) ** 2).mean() + (u0**2).sum() + ((du0 - 1.0) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def median_ms(step: Callable[[], float], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="timed steps per round (default: 300)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, taken in turn (default: 3)")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, micrograd_cpp {mg.__version__}, torch {torch.__version__}")
    random.seed(0)
    model = MLP(1, [16, 16, 1], activation="tanh")
    torch_step = pytorch(model)  # from the weights before any step
    start = time.perf_counter()
    our_step, _ = ours(model)
    capture = time.perf_counter() - start
    first_ours, first_torch = our_step(), torch_step()
    assert math.isclose(first_ours, first_torch, rel_tol=1e-9), (first_ours, first_torch)
    second_ours, second_torch = our_step(), torch_step()  # after one Adam step: the gradients agree too
    assert math.isclose(second_ours, second_torch, rel_tol=1e-6), (second_ours, second_torch)
    residual, _, _ = pinn.graphs(model)
    print(
        f"\nPINN step: u'' = -u, {pinn.POINTS} points, MLP(1, [16, 16, 1]) tanh, Adam "
        f"(first loss {first_ours:.6f} in both; residual graph {len(residual):,} nodes, "
        f"built and captured in {capture * 1e3:.1f} ms)"
    )
    best_ours = best_torch = math.inf
    for _ in range(args.rounds):
        for _ in range(20):  # warm-up of each round
            our_step()
            torch_step()
        best_ours = min(best_ours, median_ms(our_step, args.repeat))
        best_torch = min(best_torch, median_ms(torch_step, args.repeat))
    print(f"   PyTorch double backward (float64, 1 thread)  {best_torch:8.3f} ms    1.00x PyTorch")
    ratio = best_ours / best_torch
    print(f"   micrograd_cpp, Graph.map(backward=True)      {best_ours:8.3f} ms    {ratio:.2f}x PyTorch")
    print(f"Target: <= 0.25x PyTorch's time per step: {ratio:.2f}x")


if __name__ == "__main__":
    main()
