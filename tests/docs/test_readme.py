"""The README as its readers meet it: every code block runs as they would run it and prints what the
README shows beside it; it stays a front door (at most 250 lines, the sections the issue lists, absolute
links for PyPI); and its MLP example passes mypy --strict and pyright's strict mode (`nox -s types`
installs both checkers; elsewhere those two tests skip).

How the README shows output: a ```python block is followed by a ```text block with what it prints; a
```console block holds `$ command` lines, each followed by what it prints. In shown output, `…` stands
for any text within a line (timings, speeds)."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTIONS = [
    "Install",
    "A first example",
    "Training a small network",
    "Drawing a graph",
    "The demo and the studio",
    "Coming from micrograd",
    "Documentation",
    "Contributing",
]


def readme() -> str:
    if not README.is_file():
        pytest.skip("README.md is not in this tree (the wheel tests copy tests/ alone)")
    return README.read_text(encoding="utf-8")


@dataclass
class Block:
    language: str
    code: str
    line: int  # where it starts in README.md, for messages


def blocks() -> list[Block]:
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```$", readme(), re.DOTALL | re.MULTILINE):
        line = readme().count("\n", 0, match.start()) + 1
        found.append(Block(match[1], match[2], line))
    return found


def python_blocks() -> list[tuple[Block, Block]]:
    """Each python block with the text block that follows it (its output)."""
    found = blocks()
    pairs = []
    for i, block in enumerate(found):
        if block.language == "python":
            shown = found[i + 1] if i + 1 < len(found) else None
            assert shown is not None, f"README.md line {block.line}: a python block ends the README"
            assert shown.language == "text", (
                f"README.md line {block.line}: a python block must be followed by a text block, its output"
            )
            pairs.append((block, found[i + 1]))
    return pairs


def matches(shown: str, printed: str) -> bool:
    """Whether the printed text is the shown text, `…` in a shown line standing for any text."""
    shown_lines, printed_lines = shown.rstrip("\n").splitlines(), printed.rstrip("\n").splitlines()
    if len(shown_lines) != len(printed_lines):
        return False
    for want, got in zip(shown_lines, printed_lines):
        pattern = ".*?".join(re.escape(part) for part in want.split("…"))
        if not re.fullmatch(pattern, got.rstrip()):
            return False
    return True


def screen(text: str) -> str:
    """What a terminal shows of a program's output: each line as its last carriage return left it."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))  # not splitlines: it splits at \r


# --- the front door ----------------------------------------------------------------------------------


def test_readme_is_a_front_door_of_at_most_250_lines():
    assert len(readme().splitlines()) <= 250


def test_readme_has_the_sections_a_newcomer_looks_for_in_order():
    headings = re.findall(r"^## (.+)$", readme(), re.MULTILINE)
    assert [h for h in headings if h in SECTIONS] == SECTIONS, headings


def test_readme_opens_with_three_sentences_and_one_picture():
    intro = readme().split("\n## ", 1)[0]
    prose = re.sub(r"!\[.*?\]\(.*?\)", "", intro.split("\n", 1)[1])
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", prose.strip()) if s]
    assert len(sentences) == 3, sentences
    assert len(re.findall(r"!\[", intro)) == 1


def test_readme_links_and_images_are_absolute_urls_so_pypi_renders_them():
    targets = re.findall(r"\]\(([^)\s]+)", readme())
    assert targets
    relative = [t for t in targets if not t.startswith("https://")]
    assert relative == []


def test_readme_pictures_are_files_of_the_repository():
    for path in re.findall(
        r"raw\.githubusercontent\.com/micrograd-cpp/micrograd-cpp/main/([^)\s]+)", readme()
    ):
        assert (ROOT / path).is_file(), path


# --- every code block, run ---------------------------------------------------------------------------


def test_readme_every_python_block_prints_what_the_readme_shows(tmp_path, monkeypatch, capsys):
    """The python blocks run in order in one namespace, as a reader pastes them into one session (the
    drawing draws the first example's neuron), in an empty folder; each prints its text block."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for code, shown in python_blocks():
        if "micrograd_cpp.viz" in code.code and not graphviz_available():
            pytest.skip("drawing needs the graphviz package and Graphviz's dot program")
        exec(compile(code.code, f"README.md, line {code.line}", "exec"), namespace)  # noqa: S102
        printed = capsys.readouterr().out
        assert matches(shown.code, printed), f"README.md line {code.line} printed:\n{printed}"
    assert (tmp_path / "neuron.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")


def graphviz_available() -> bool:
    return importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None


def console_commands() -> list[tuple[str, str, int]]:
    """(command, shown output, line) for each `$ command` of the console blocks."""
    found = []
    for block in blocks():
        if block.language != "console":
            continue
        parts = re.split(r"^\$ (.*)$", block.code, flags=re.MULTILINE)
        for command, output in zip(parts[1::2], parts[2::2]):
            found.append((command, output.strip("\n"), block.line))
    return found


def test_readme_console_blocks_are_the_demo_and_the_studio():
    assert [command for command, _, _ in console_commands()] == [
        "python -m micrograd_cpp.demo",
        "python -m micrograd_cpp.studio",
    ]


def test_readme_demo_command_prints_what_the_readme_shows(tmp_path):
    for name in ("matplotlib", "tqdm", "numpy"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"the README shows the demo with its extras installed; {name} is missing")
    ((command, shown, line),) = [c for c in console_commands() if "micrograd_cpp.demo" in c[0]]
    argv = [sys.executable, *shlex.split(command)[1:]]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    # bytes, decoded here: text=True would turn the progress bar's carriage returns into newlines
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    printed = screen(done.stdout.decode("utf-8").replace("\r\n", "\n"))
    assert matches(shown, printed), f"README.md line {line}: the demo printed\n{printed}"
    assert (tmp_path / "moons.png").read_bytes().startswith(b"\x89PNG")


def test_readme_studio_command_starts_the_studio():
    ((command, shown, _),) = [c for c in console_commands() if "studio" in c[0]]
    assert shown == ""  # a server: it prints its address when it runs, nothing to compare here
    if importlib.util.find_spec("micrograd_cpp.studio") is None:
        pytest.skip("micrograd_cpp.studio has not landed in this tree yet (issue 22)")
    argv = [sys.executable, *shlex.split(command)[1:], "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "studio" in done.stdout.lower()


def bash_lines() -> list[str]:
    lines = []
    for block in blocks():
        if block.language == "bash":
            lines += [line.split("#", 1)[0].strip() for line in block.code.splitlines()]
    return [line for line in lines if line]


def test_readme_install_commands_name_this_project_and_its_extras():
    """The install block cannot run offline (PyPI, GitHub): its commands must name this project, with
    extras it declares; the wheel and sdist tests of `nox -s dist` install it for real."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extras = set(
        re.findall(
            r"^(\w+) = \[",
            pyproject.split("[project.optional-dependencies]")[1].split("\n[")[0],
            re.MULTILINE,
        )
    )
    installs = [shlex.split(line) for line in bash_lines() if line.startswith("pip install")]
    assert installs
    for argv in installs:
        (spec,) = argv[2:]
        match = re.fullmatch(r"micrograd-cpp(?:\[([\w,]+)\])?", spec)
        assert match, spec
        assert set((match[1] or "").split(",")) - {""} <= extras, spec
    inline = re.findall(r'`pip install "(micrograd-cpp @ git\+https://[^"`]+)"`', readme())
    assert inline == ["micrograd-cpp @ git+https://github.com/micrograd-cpp/micrograd-cpp"]


def test_readme_contributor_commands_are_the_two_scripts_and_parse():
    """`scripts/demo.sh` and `scripts/test.sh` run for real on a bare Debian in CI (.ci/bare_debian.sh);
    here: they are those two, executable, and valid bash."""
    scripts = [line for line in bash_lines() if line.startswith("scripts/")]
    assert scripts == ["scripts/demo.sh", "scripts/test.sh"]
    for script in scripts:
        path = ROOT / script
        if not path.is_file():
            pytest.skip("scripts/ is not in this tree (the sdist leaves it out)")
        assert os.access(path, os.X_OK), script
        subprocess.run(["bash", "-n", str(path)], check=True)


def test_readme_has_no_code_block_that_no_test_runs():
    handled = {"python", "text", "console", "bash"}
    assert {block.language for block in blocks()} <= handled


# --- the MLP example under the type checkers ---------------------------------------------------------


def mlp_example() -> str:
    (example,) = [code.code for code, _ in python_blocks() if "from micrograd_cpp.nn import" in code.code]
    return example


def checked(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_readme_mlp_example_passes_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed here (nox -s types installs it)")
    path = tmp_path / "readme_mlp_example.py"
    path.write_text(mlp_example(), encoding="utf-8")
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(path)]
    out = checked(subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False))
    assert "Success: no issues found" in out


def test_readme_mlp_example_passes_pyright_strict(tmp_path):
    pytest.importorskip("pyright", reason="pyright is not installed here (nox -s types installs it)")
    path = tmp_path / "readme_mlp_example.py"
    path.write_text("# pyright: strict\n" + mlp_example(), encoding="utf-8")
    command = [sys.executable, "-m", "pyright", "--pythonpath", sys.executable, str(path)]
    out = checked(subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False))
    assert "0 errors, 0 warnings" in out
