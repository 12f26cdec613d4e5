"""The main job, python -m micrograd_cpp.demo, run as a user runs it."""

import re
import subprocess
import sys

import pytest

from micrograd_cpp import demo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_demo(*args, block=()):
    """Runs the demo in a child interpreter with the named modules made unimportable."""
    code = (
        "import runpy, sys\n"
        f"for name in {list(block)!r}: sys.modules[name] = None\n"
        f"sys.argv = ['micrograd_cpp.demo', *{list(args)!r}]\n"
        "runpy.run_module('micrograd_cpp.demo', run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )


def final_accuracy(stdout):
    last = stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"final training accuracy: ([\d.]+)%", last)
    assert match, last
    return float(match.group(1))


def test_demo_trains_to_95_percent_and_saves_the_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "moons.png"
    proc = run_demo("--steps", "60", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert final_accuracy(proc.stdout) >= 95.0
    assert "ms per step" in proc.stdout
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_demo_without_matplotlib_hints_at_the_extra_and_still_trains(tmp_path):
    out = tmp_path / "moons.png"
    proc = run_demo("--steps", "5", "--out", str(out), block=["matplotlib", "tqdm"])
    assert proc.returncode == 0, proc.stderr
    hints = [line for line in proc.stderr.splitlines() if "micrograd-cpp[demo]" in line]
    assert len(hints) == 1
    assert "matplotlib" in hints[0]
    assert not out.exists()
    final_accuracy(proc.stdout)
    assert "training [" in proc.stdout  # the built-in progress bar


def test_demo_rejects_bad_options():
    proc = run_demo("--steps", "0")
    assert proc.returncode == 2
    assert "--steps" in proc.stderr


def test_built_in_moons_are_scikit_learns(monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("numpy")
    X, y = demo.make_moons(100, 0.1, 1337)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    X2, y2 = demo.make_moons(100, 0.1, 1337)
    assert y2 == y
    flat, flat2 = [c for p in X for c in p], [c for p in X2 for c in p]
    assert flat2 == pytest.approx(flat, rel=1e-12, abs=1e-12)


def test_moons_without_numpy_keep_the_shape(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)
    X, y = demo.make_moons(100, 0.1, 3)
    assert len(X) == 100
    assert sorted(set(y)) == [0, 1]
    assert sum(y) == 50
    assert demo.make_moons(100, 0.1, 3)[0] == X  # seeded: the same points again
