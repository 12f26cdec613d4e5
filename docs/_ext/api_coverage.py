"""The API reference names every public name: the build fails (a warning, an error under -W) when one
has no entry. tests/docs/test_api_reference.py checks the same list against the modules' __all__.

Public: every name in the __all__ of micrograd_cpp and of its public modules, micrograd_cpp.sum (left
out of __all__ so that `import *` does not shadow the builtin), and every member of Value and Graph
that help() shows."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import micrograd_cpp

# The modules users import; _core is the compiled module behind them, demo is a command.
PUBLIC_MODULES = ("micrograd_cpp", "micrograd_cpp.engine", "micrograd_cpp.nn", "micrograd_cpp.losses",
                  "micrograd_cpp.optim", "micrograd_cpp.viz", "micrograd_cpp.studio")  # fmt: skip


def public_modules() -> list[str]:
    """The package's modules whose names have no leading underscore, beside the package itself."""
    found = [
        f"micrograd_cpp.{info.name}"
        for info in pkgutil.iter_modules(micrograd_cpp.__path__)
        if not info.name.startswith("_")
    ]
    return ["micrograd_cpp", *sorted(found)]


def _members(cls: type) -> list[str]:
    return [name for name in vars(cls) if not name.startswith("__") and not name.startswith("_pybind11")
            and name != "_repr_svg_"]  # fmt: skip


def public_names() -> list[str]:
    """Every public name, fully qualified."""
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [f"{module_name}.{name}" for name in module.__all__ if not name.startswith("__")]
    names.append("micrograd_cpp.sum")
    names += [f"micrograd_cpp.Value.{name}" for name in _members(micrograd_cpp.Value)]
    names += [f"micrograd_cpp.Graph.{name}" for name in _members(micrograd_cpp.Graph)]
    return sorted(set(names))


def _documented(env: Any) -> set[str]:
    domain = env.get_domain("py")
    return {name for name, *_ in domain.get_objects()}


def check(app: Any, env: Any) -> None:
    from sphinx.util import logging

    documented = _documented(env)
    missing = [name for name in public_names() if name not in documented]
    logger = logging.getLogger(__name__)
    for name in missing:
        logger.warning("the API reference has no entry for the public name %s", name, type="micrograd")
    modules = [m for m in public_modules() if m not in PUBLIC_MODULES and m != "micrograd_cpp.demo"]
    for name in modules:
        logger.warning("%s is a public module that api_coverage.PUBLIC_MODULES does not list", name,
                       type="micrograd")  # fmt: skip


def setup(app: Any) -> dict[str, Any]:
    app.connect("env-check-consistency", check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
