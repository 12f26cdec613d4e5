"""The markers follow from the fixtures: a test that takes `torch` or `graphviz` (tests/conftest.py) is
marked so, and the wheel tests' marker expression keeps every other test of its module."""

import pytest
from support import ROOT, run_python

MODULES = ["tests/nn/test_losses.py", "tests/nn/test_optim.py", "tests/viz/test_viz.py"]
COLLECT = ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]


def collected(expression: str) -> set[str]:
    """The test ids that `pytest -m expression` would run from MODULES (collected in a child, not run)."""
    proc = run_python(*COLLECT, "-m", expression, *MODULES, cwd=ROOT, timeout=None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line.split("[")[0] for line in proc.stdout.splitlines() if "::" in line}


@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs pyproject.toml's pytest settings")
def test_the_wheel_tests_keep_the_torch_free_tests_and_leave_out_the_comparisons():
    portable = collected("not torch and not slow and not graphviz")
    assert {
        "tests/nn/test_losses.py::test_bad_input",
        "tests/nn/test_losses.py::test_hinge_loss_is_micrograds_demo_loss",
        "tests/nn/test_optim.py::test_bad_arguments",
        "tests/viz/test_viz.py::test_trace_of_a_leaf",
        "tests/viz/test_viz.py::test_without_the_graphviz_package",
    } <= portable
    assert "tests/nn/test_losses.py::test_elementwise_losses" not in portable
    assert "tests/nn/test_optim.py::test_optimizer_matches_torch" not in portable
    assert "tests/viz/test_viz.py::test_pipe_renders_real_svg" not in portable  # usefixtures("graphviz")

    assert {
        "tests/nn/test_losses.py::test_elementwise_losses",
        "tests/nn/test_optim.py::test_learning_rate_schedule_matches_torch",
    } <= collected("torch")
    assert "tests/viz/test_viz.py::test_any_label_keeps_the_dot_source_valid" in collected(
        "graphviz"
    )  # @given
