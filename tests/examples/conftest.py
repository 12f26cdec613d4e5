"""The scripts of the checkout (examples/, benchmarks/) as the tests of this folder load them."""

import importlib.util
from pathlib import Path

import pytest
from support import ROOT


def path_of(relative: str) -> Path:
    """The file, or a skip where this tree has none (an sdist's or a wheel's tests ship tests/ alone)."""
    path = ROOT / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in this tree")
    return path


def load_script(relative: str):
    """The script as a module (its main() not run)."""
    path = path_of(relative)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def script_path():
    """path_of, for the tests that run a script as a user does."""
    return path_of


@pytest.fixture(scope="module")
def newton():
    return load_script("examples/newton.py")


@pytest.fixture(scope="module")
def pinn():
    return load_script("examples/pinn.py")


@pytest.fixture(scope="module")
def bench_pinn(torch):
    return load_script("benchmarks/bench_pinn.py")


@pytest.fixture(scope="module")
def names_gpt():
    return load_script("examples/names_gpt.py")
