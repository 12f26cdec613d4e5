"""Shared helpers: child processes for tests that must not share our memory."""

import os
import subprocess
import sys
import textwrap

import pytest

import micrograd_cpp

SANITIZED = micrograd_cpp._core.sanitized


def pytest_report_header(config):
    return f"micrograd_cpp {micrograd_cpp.__version__} from {micrograd_cpp.__file__} (sanitized: {SANITIZED})"


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
