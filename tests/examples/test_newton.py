"""examples/newton.py: Newton's method with mg.grad and mg.hessian on Rosenbrock's function, run as a user
runs it and called with other starts; its Hessian against the closed form."""

import re
import subprocess
import sys

import pytest

import micrograd_cpp as mg


def test_the_script_converges_to_one_one_with_f_falling_at_every_step(script_path):
    example = script_path("examples/newton.py")
    out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[-1].startswith("minimum at (1.000000, 1.000000) after ")
    values = [float(m) for m in re.findall(r"f = (\S+)", out)]
    assert values[0] == pytest.approx(24.2)
    assert all(b <= a for a, b in zip(values, values[1:]))  # the damped step never climbs
    assert values[-1] < 1e-20
    assert len(values) < 40


@pytest.mark.parametrize("start", [(-1.2, 1.0), (2.0, 2.0), (-1.5, 2.5), (0.0, 0.0), (1.0, 1.0)])
def test_newton_from_other_starts_lands_on_the_minimum(newton, start, capsys):
    x, y, steps = newton.newton(start, 60)
    assert (x, y) == (pytest.approx(1.0, abs=1e-9), pytest.approx(1.0, abs=1e-9))
    assert steps < 60
    if start == (1.0, 1.0):
        assert steps == 0


@pytest.mark.parametrize(("x", "y"), [(-1.2, 1.0), (0.3, -0.7), (1.0, 1.0), (2.0, 4.5)])
def test_the_hessian_is_rosenbrocks_closed_form(newton, x, y):
    X, Y = mg.Value(x), mg.Value(y)
    f = newton.rosenbrock(X, Y)
    gx, gy = (g.data for g in mg.grad(f, [X, Y]))
    assert gx == pytest.approx(-2 * (1 - x) - 400 * x * (y - x * x), rel=1e-13, abs=1e-12)
    assert gy == pytest.approx(200 * (y - x * x), rel=1e-13, abs=1e-12)
    h = mg.hessian(f, [X, Y])
    assert h[0][0] == pytest.approx(2 - 400 * (y - x * x) + 800 * x * x, rel=1e-13)
    assert h[0][1] == h[1][0] == pytest.approx(-400 * x, rel=1e-13)
    assert h[1][1] == 200.0
