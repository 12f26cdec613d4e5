"""The main job, python -m micrograd_cpp.demo, run as a user runs it."""

import re
import sys

import pytest
from support import run_python

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
    return run_python("-c", code, timeout=600)


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


def test_moons_without_numpy_keep_the_shape(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)
    X, y = demo.make_moons(100, 0.1, 3)
    assert len(X) == 100
    assert sorted(set(y)) == [0, 1]
    assert sum(y) == 50
    assert demo.make_moons(100, 0.1, 3)[0] == X  # seeded: the same points again


def test_built_in_moons_equal_scikit_learns_bit_for_bit_with_numpy(monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("numpy")
    for seed in (1337, 0, 7):
        theirs = demo.make_moons(100, 0.1, seed)
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, "sklearn.datasets", None)
            assert demo.make_moons(100, 0.1, seed) == theirs


def test_demo_refuses_an_out_path_in_a_missing_folder_before_training(tmp_path):
    missing = tmp_path / "no such folder" / "moons.png"
    proc = run_demo("--out", str(missing))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    assert str(missing.parent) in proc.stderr
    assert proc.stdout == ""  # refused before any training


def test_demo_refuses_a_folder_as_out(tmp_path):
    proc = run_demo("--out", str(tmp_path))
    assert proc.returncode == 2
    assert "is a folder" in proc.stderr
    assert proc.stdout == ""


def test_demo_help_speaks_to_a_user():
    proc = run_demo("--help")
    assert proc.returncode == 0
    description = proc.stdout.split("\n\n")[1]
    assert description.startswith("Train an MLP on two moons")
    for option in ("--steps", "--seed", "--out"):
        assert option in proc.stdout
    assert "default: moons.png" in " ".join(proc.stdout.split())


def test_plot_has_axis_labels_a_legend_and_the_accuracy():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y01 = demo.make_moons(20, 0.1, 1)
    y = [2 * label - 1 for label in y01]
    model, _, acc = demo.train(X, y, steps=2)
    fig = demo.figure(model, X, y, acc)
    try:
        (ax,) = fig.axes
        assert ax.get_xlabel()
        assert ax.get_ylabel()
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        assert len(legend) == 2
        assert any("-1" in text for text in legend)
        assert any("+1" in text for text in legend)
        assert f"accuracy {acc:.1%}" in ax.get_title()
    finally:
        plt.close(fig)
