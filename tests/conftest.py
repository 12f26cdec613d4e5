"""The fixtures: the oracles (torch, micrograd, graphviz) and child processes for tests that must not share our
memory; the markers that follow from them. Helpers that are not fixtures are in support.py."""

import importlib.util
import os
import types

import pytest
from support import run_in_child

import micrograd_cpp

SANITIZED = micrograd_cpp._core.sanitized


# The tests that compare with PyTorch skip without it; this says why and how to get it, once.
TORCH_MISSING = (
    "PyTorch is not installed: the tests that compare with it (marker torch) skip. Its CPU build: "
    "pip install --group torch --extra-index-url https://download.pytorch.org/whl/cpu "
    "(torch==2.13.0+cpu; PyPI's Linux torch pulls gigabytes of CUDA; none exists for CPython 3.9 or 3.15)"
)
HAS_TORCH = importlib.util.find_spec("torch") is not None
MICROGRAD_MISSING = (
    "PyPI's micrograd is not installed: pip install micrograd==0.1.0 (in the test-portable group)"
)
GRAPHVIZ_MISSING = "the graphviz package is not installed: pip install graphviz (in the test group)"

# A test that takes one of these fixtures gets the marker of the same name (pytest_collection_modifyitems),
# so that -m "not torch" or "not graphviz" (the wheel tests') leaves it out without a hand-kept marker.
MARKED_FIXTURES = ("torch", "graphviz")


def pytest_report_header(config):
    lines = [
        f"micrograd_cpp {micrograd_cpp.__version__} from {micrograd_cpp.__file__} (sanitized: {SANITIZED})"
    ]
    if not HAS_TORCH:
        lines.append(TORCH_MISSING)
    return lines


def pytest_terminal_summary(terminalreporter):
    if not HAS_TORCH and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line(TORCH_MISSING, yellow=True)


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker (-m)
def pytest_collection_modifyitems(items):
    for item in items:
        for name in MARKED_FIXTURES:
            if name in getattr(item, "fixturenames", ()):  # asked for directly or through another fixture
                item.add_marker(name)


def pytest_configure(config):
    if os.environ.get("MICROGRAD_EXPECT_SANITIZED") and not SANITIZED:
        raise pytest.UsageError(f"expected the sanitizer build, imported {micrograd_cpp.__file__}")


@pytest.fixture
def child():
    """support.run_in_child: code run in a fresh interpreter, its stdout returned, a crash or hang a failure."""
    return run_in_child


# The oracles. A test takes the one it compares with; everything else in its module runs without it.
# Session scope: imported once, and usable by hypothesis's @given tests.


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the float64 reference (marker torch; skips, saying how to get it, where it is missing)."""
    return pytest.importorskip("torch", reason=TORCH_MISSING)


@pytest.fixture(scope="session")
def micrograd():
    """PyPI's micrograd 0.1.0, the original: micrograd.engine and micrograd.nn."""
    engine = pytest.importorskip("micrograd.engine", reason=MICROGRAD_MISSING)
    nn = pytest.importorskip("micrograd.nn", reason=MICROGRAD_MISSING)
    return types.SimpleNamespace(engine=engine, nn=nn)


@pytest.fixture(scope="session")
def graphviz():
    """The graphviz package (marker graphviz). Rendering also needs Graphviz's dot program on PATH."""
    return pytest.importorskip("graphviz", reason=GRAPHVIZ_MISSING)
