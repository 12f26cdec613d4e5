"""Shared helpers: child processes for tests that must not share our memory."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

import micrograd_cpp

SANITIZED = micrograd_cpp._core.sanitized


# The tests that compare with PyTorch skip without it; this says why and how to get it, once.
TORCH_MISSING = (
    "PyTorch is not installed: the tests that compare with it (marker torch) skip. Its CPU build: "
    "pip install --group torch --extra-index-url https://download.pytorch.org/whl/cpu "
    "(torch==2.13.0+cpu; PyPI's Linux torch pulls gigabytes of CUDA; none exists for CPython 3.9 or 3.15)"
)
HAS_TORCH = importlib.util.find_spec("torch") is not None


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


def pytest_configure(config):
    if os.environ.get("MICROGRAD_EXPECT_SANITIZED") and not SANITIZED:
        raise pytest.UsageError(f"expected the sanitizer build, imported {micrograd_cpp.__file__}")


def run_in_child(code: str, timeout: float = 600) -> str:
    """Runs code in a fresh interpreter; returns its stdout, fails the test on a crash."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,  # a failure is reported below, with the output
    )
    if proc.returncode != 0:
        pytest.fail(f"child exited with {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def child():
    return run_in_child
