"""A physics-informed network: u'' = -u on [0, pi] with u(0) = 0 and u'(0) = 1, whose solution is sin x.

    python examples/pinn.py [--steps 3000] [--lr 0.01] [--seed 0] [--out pinn.png]

An MLP(1, [16, 16, 1]) with tanh learns u(x) from the equation alone, no sample of sin x: at 64 collocation
points x_i in [0, pi] the residual u''(x_i) + u(x_i) should be 0, and at 0 the two initial conditions hold.
The loss is mean_i (u'' + u)(x_i)**2 + u(0)**2 + (u'(0) - 1)**2.

Its second derivative comes from mg.grad(..., create_graph=True) twice, on a graph built once for a symbolic
point x: the network, u' = du/dx and u'' = du'/dx are nodes of one graph, captured with mg.Graph. Each Adam
step maps that graph over the 64 points in C++ (Graph.map(rows, backward=True): values and the parameters'
gradients at once, third derivatives of the network included) and replays the initial conditions' graph.
It prints the loss falling, then the largest error against sin x on 201 points, and saves a plot of the fit.
"""

from __future__ import annotations

import argparse
import math
import random
from typing import cast

import micrograd_cpp as mg
from micrograd_cpp.nn import MLP
from micrograd_cpp.optim import Adam

POINTS = 64


def derivatives(model: MLP, x: mg.Value) -> tuple[mg.Value, mg.Value, mg.Value]:
    """u(x), u'(x) and u''(x) as nodes of one graph: u' and u'' by mg.grad with create_graph."""
    u = model([x])
    (du,) = mg.grad(u, [x], create_graph=True)
    (d2u,) = mg.grad(du, [x], create_graph=True)
    return u, du, d2u


def graphs(model: MLP) -> tuple[mg.Graph, mg.Graph, mg.Graph]:
    """The residual's square at a point x (input x), the initial conditions' loss, and u alone (input x)."""
    x = mg.Value(0.0, label="x")
    u, _, d2u = derivatives(model, x)
    r = d2u + u  # u'' + u: 0 where u solves the equation
    residual = mg.Graph(r * r, inputs=[x])
    x0 = mg.Value(0.0, label="x0")
    u0, du0, _ = derivatives(model, x0)
    initial = mg.Graph(u0 * u0 + (du0 - 1.0) * (du0 - 1.0))
    xu = mg.Value(0.0, label="x")
    solution = mg.Graph(model([xu]), inputs=[xu])
    return residual, initial, solution


def train(steps: int, lr: float, seed: int, report_every: int = 0) -> tuple[MLP, mg.Graph, list[float]]:
    """Fits the model; prints the loss every report_every steps. Returns the model, the graph of u and
    the losses."""
    random.seed(seed)
    model = MLP(1, [16, 16, 1], activation="tanh")
    residual, initial, solution = graphs(model)
    rows = [[math.pi * i / (POINTS - 1)] for i in range(POINTS)]
    optimizer = Adam(model.parameters(), lr=lr)
    losses = []
    report_every = report_every or max(1, steps // 10)
    for step in range(steps + 1):
        optimizer.zero_grad()
        # d(mean r**2)/dp into each p.grad; one output: a float per row
        squares = cast("list[float]", residual.map(rows, backward=True, reduction="mean"))
        loss = math.fsum(squares) / POINTS + initial.forward()
        initial.backward()  # adds d(initial conditions)/dp
        losses.append(loss)
        if step % report_every == 0 or step == steps:
            print(f"step {step:5d}  loss {loss:.3e}")
        if step < steps:
            optimizer.lr = lr * 0.01 ** (step / steps)  # from lr down to lr / 100: the end settles
            optimizer.step()
    return model, solution, losses


def plot(xs: list[float], us: list[float], path: str) -> None:
    """The fit beside sin x, and below it the error on a log scale."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, (ax, err) = plt.subplots(2, 1, figsize=(6, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax.plot(xs, [math.sin(x) for x in xs], color="0.6", linewidth=4, label="sin x (exact)")
    ax.plot(xs, us, color="tab:red", linewidth=1.5, label="u(x), the network")
    collocation = [math.pi * i / (POINTS - 1) for i in range(POINTS)]
    ax.plot(collocation, [0.0] * POINTS, "|", color="tab:blue", label="collocation points")
    ax.set_title("u'' = -u, u(0) = 0, u'(0) = 1, learnt from the equation alone")
    ax.legend(loc="lower center")
    err.semilogy(xs, [max(abs(u - math.sin(x)), 1e-17) for x, u in zip(xs, us)], color="tab:red")
    err.set_ylabel("|u(x) - sin x|")
    err.set_xlabel("x")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps (default: 3000)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default: 0)")
    parser.add_argument("--out", default="pinn.png", help="where to save the plot (default: pinn.png)")
    args = parser.parse_args()
    _, solution, _ = train(args.steps, args.lr, args.seed)
    xs = [math.pi * i / 200 for i in range(201)]
    us = cast("list[float]", solution.map([[x] for x in xs]))
    error = max(abs(u - math.sin(x)) for x, u in zip(xs, us))
    print(f"max |u(x) - sin x| on [0, pi]: {error:.2e}")
    try:
        plot(xs, us, args.out)
    except ImportError:
        print("no plot: it needs matplotlib (pip install matplotlib)")
    else:
        print(f"plot saved to {args.out}")


if __name__ == "__main__":
    main()
