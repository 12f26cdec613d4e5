"""The API reference (docs/reference/api.rst) names every public name: each name of the public modules'
__all__, micrograd_cpp.sum, and every member of Value and Graph that help() shows. The docs build
checks the same on the built site (docs/_ext/api_coverage.py); this test reads the source, so it
runs with the suite, without Sphinx."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import micrograd_cpp as mg

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference" / "api.rst"
PUBLIC_MODULES = [
    "micrograd_cpp",
    *(f"micrograd_cpp.{m}" for m in ("engine", "nn", "losses", "optim", "viz", "studio")),
]
COMMANDS = {"micrograd_cpp.demo"}  # a module run as a command: docs/reference/commands.md shows it


def reference() -> str:
    if not REFERENCE.is_file():
        pytest.skip("docs/ is not in this tree")
    return REFERENCE.read_text(encoding="utf-8")


def documented() -> set[str]:
    """The fully qualified names the reference's directives document: auto* and py:* targets, and
    the members their :members: and :private-members: options list."""
    names: set[str] = set()
    module = ""
    target = ""
    for line in reference().splitlines():
        directive = re.match(r"\.\. (?:auto|py:)(\w+):: ([\w.]+)", line)
        if directive:
            kind, name = directive.groups()
            if kind in ("module", "currentmodule"):
                module = name
                names.add(name)
                target = name
                continue
            qualified = name if name.startswith("micrograd_cpp") else f"{module}.{name}"
            names.add(qualified)
            target = qualified
            continue
        option = re.match(r"\s+:(?:members|private-members):\s*(.+)", line)
        if option and target:
            names.update(f"{target}.{member.strip()}" for member in option[1].split(","))
        elif re.fullmatch(r"\s+:members:\s*", line) and target:  # all of them (the build checks it did)
            names.update(
                f"{target}.{member}" for member in members(resolve(target)) if not member.startswith("_")
            )
        module_option = re.match(r"\s+:module: ([\w.]+)", line)
        if module_option:
            names.add(f"{module_option[1]}.{target.rsplit('.', 1)[-1]}")
    return names


def resolve(name: str) -> type:
    module_name, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def members(cls: type) -> list[str]:
    return [
        name
        for name in vars(cls)
        if not name.startswith("__") and not name.startswith("_pybind11") and name != "_repr_svg_"
    ]


def public_names() -> list[str]:
    names = ["micrograd_cpp.sum"]  # public, left out of __all__ so that `import *` keeps the builtin sum
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [f"{module_name}.{name}" for name in module.__all__]
    names += [f"micrograd_cpp.Value.{name}" for name in members(mg.Value)]
    names += [f"micrograd_cpp.Graph.{name}" for name in members(mg.Graph)]
    return names


@pytest.mark.parametrize("name", public_names())
def test_api_reference_documents_every_public_name(name):
    assert name in documented(), f"docs/reference/api.rst has no entry for {name}"


def test_api_reference_covers_every_public_module_of_the_package():
    modules = {
        f"micrograd_cpp.{m.name}" for m in pkgutil.iter_modules(mg.__path__) if not m.name.startswith("_")
    }
    assert modules - set(PUBLIC_MODULES) - COMMANDS == set(), "a new public module: document it in api.rst"


def test_the_docs_build_checks_the_same_names():
    """docs/_ext/api_coverage.py, which fails the build on a missing entry, lists the same modules."""
    path = ROOT / "docs" / "_ext" / "api_coverage.py"
    if not path.is_file():
        pytest.skip("docs/ is not in this tree")
    source = path.read_text(encoding="utf-8")
    for module_name in PUBLIC_MODULES:
        assert f'"{module_name}"' in source


def test_every_public_name_has_a_docstring_for_help():
    for name in public_names():
        module_name, _, attribute = name.rpartition(".")
        try:
            owner = importlib.import_module(module_name)
        except ImportError:
            owner_module, _, cls = module_name.rpartition(".")
            owner = getattr(importlib.import_module(owner_module), cls)
        obj = getattr(owner, attribute)
        if isinstance(obj, (int, str, tuple)):  # constants: documented in the reference, not by help(obj)
            continue
        assert (getattr(obj, "__doc__", None) or "").strip(), name
