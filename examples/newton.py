"""Newton's method on Rosenbrock's function, with the exact gradient and Hessian from micrograd_cpp.

    python examples/newton.py [--start -1.2 1.0] [--steps 50]

f(x, y) = (1 - x)**2 + 100 * (y - x**2)**2 has its minimum, 0, at (1, 1), at the end of a curved narrow
valley where gradient descent crawls. Newton's method takes the step d solving H d = -g, with g the
gradient (mg.grad) and H the Hessian (mg.hessian), halving it until f decreases (a damped Newton step):
from the classic start (-1.2, 1) it lands on (1, 1) in about twenty steps.
"""

from __future__ import annotations

import argparse

import micrograd_cpp as mg


def rosenbrock(x: mg.Value, y: mg.Value) -> mg.Value:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def newton(start: tuple[float, float], steps: int, tolerance: float = 1e-10) -> tuple[float, float, int]:
    """Minimises rosenbrock from start; prints each step. Returns the point and the steps taken."""
    x, y = start
    for step in range(steps + 1):
        X, Y = mg.Value(x), mg.Value(y)
        f = rosenbrock(X, Y)
        gx, gy = (g.data for g in mg.grad(f, [X, Y]))
        norm = (gx * gx + gy * gy) ** 0.5
        print(f"step {step:2d}: x = {x: .10f}  y = {y: .10f}  f = {f.data:.3e}  |grad| = {norm:.3e}")
        if norm < tolerance:
            return x, y, step
        (hxx, hxy), (hyx, hyy) = mg.hessian(f, [X, Y])
        det = hxx * hyy - hxy * hyx
        dx, dy = -(hyy * gx - hxy * gy) / det, -(hxx * gy - hyx * gx) / det  # H d = -g, by Cramer's rule
        t = 1.0
        while t > 1e-8 and rosenbrock(mg.Value(x + t * dx), mg.Value(y + t * dy)).data > f.data:
            t /= 2  # damped: a full step may climb the valley's wall
        x, y = x + t * dx, y + t * dy
    return x, y, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=float, nargs=2, default=(-1.2, 1.0), metavar=("X", "Y"))
    parser.add_argument("--steps", type=int, default=50, help="at most this many Newton steps (default: 50)")
    args = parser.parse_args()
    x, y, steps = newton(tuple(args.start), args.steps)
    print(f"minimum at ({x:.6f}, {y:.6f}) after {steps} steps (exact: (1, 1))")


if __name__ == "__main__":
    main()
