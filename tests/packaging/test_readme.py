"""The README as its readers meet it: on PyPI (absolute links), as a reference (every public name),
and its neural-network example pasted as is: it runs and learns, and it passes mypy --strict and
pyright's strict mode against the installed package (`nox -s types` installs both checkers;
elsewhere those two tests skip)."""

import re
import subprocess
import sys

import pytest
from support import ROOT, run_python

import micrograd_cpp as mg

README = ROOT / "README.md"


def readme() -> str:
    if not README.is_file():
        pytest.skip("README.md is not in this tree (the wheel tests copy tests/ alone)")
    return README.read_text(encoding="utf-8")


def test_readme_links_and_images_are_absolute_urls_so_pypi_renders_them():
    targets = re.findall(r"\]\(([^)\s]+)", readme())
    assert targets
    relative = [t for t in targets if not t.startswith("https://")]
    assert relative == []


def names_in_inline_code() -> set[str]:
    """The identifiers in the README's inline code spans (the API reference's tables)."""
    prose = re.sub(r"```.*?```", "", readme(), flags=re.DOTALL)
    spans = " ".join(re.findall(r"`([^`]+)`", prose))
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", spans))


@pytest.mark.parametrize(
    "module", [mg, mg.engine, mg.nn, mg.losses, mg.optim, mg.viz], ids=lambda m: m.__name__
)
def test_readme_api_reference_names_every_public_name(module):
    missing = [name for name in module.__all__ if name not in names_in_inline_code()]
    assert missing == [], f"{module.__name__}: not in README.md's API reference"


def test_readme_api_reference_names_every_value_member():
    members = [name for name in vars(mg.Value) if not name.startswith("__") and name != "_repr_svg_"]
    assert [name for name in members if name not in names_in_inline_code()] == []


def nn_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme(), re.DOTALL)
    examples = [
        block for block in blocks if "from micrograd_cpp.nn import" in block and "hinge_loss" in block
    ]
    assert len(examples) == 1, f"expected one nn example in README.md, found {len(examples)}"
    return examples[0]


def checked(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_readme_nn_example_runs_and_fits_its_two_points(tmp_path):
    path = tmp_path / "readme_nn_example.py"
    check = (
        "\nassert [1 if model(x).data > 0 else -1 for x in X] == y, 'the two points are not separated'"
        "\nassert loss.data < 0.1, loss.data\nprint('fitted')\n"
    )
    path.write_text(nn_example() + check, encoding="utf-8")
    proc = run_python(str(path), timeout=None)
    assert checked(proc).strip() == "fitted"


def test_readme_nn_example_passes_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed here (nox -s types installs it)")
    path = tmp_path / "readme_nn_example.py"
    path.write_text(nn_example(), encoding="utf-8")
    command = ["-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(path)]
    out = checked(run_python(*command, cwd=tmp_path, timeout=None))
    assert "Success: no issues found" in out


def test_readme_nn_example_passes_pyright_strict(tmp_path):
    pytest.importorskip("pyright", reason="pyright is not installed here (nox -s types installs it)")
    path = tmp_path / "readme_nn_example.py"
    path.write_text("# pyright: strict\n" + nn_example(), encoding="utf-8")
    command = ["-m", "pyright", "--pythonpath", sys.executable, str(path)]
    out = checked(run_python(*command, cwd=tmp_path, timeout=None))
    assert "0 errors, 0 warnings" in out


def test_comparisons_behave_as_the_readme_says():
    a, b = mg.Value(1.0), mg.Value(1.0)
    c = a * b
    same = a
    assert a == same
    assert a != b  # the same value, two nodes
    assert (mg.Value(1.0) == mg.Value(1.0)) is False
    assert (a == 1.0) is False
    assert c._children[0] == a  # another Python object for the same node
    assert c._children[0] is not a
    assert hash(c._children[0]) == hash(a)
    assert a in c._prev
    for compare in (lambda: a < b, lambda: a <= b, lambda: a > b, lambda: a >= b, lambda: a < 2.0):
        with pytest.raises(TypeError):
            compare()


def test_readme_graph_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", readme(), re.DOTALL)
    (example,) = [block for block in blocks if "mg.Graph(" in block and "g.map(" in block]
    namespace: dict = {}
    exec(compile(example, "README.md (Graph)", "exec"), namespace)  # noqa: S102
    assert len(namespace["outs"]) == 2
    assert namespace["whole"].outputs == (namespace["loss"],)
