"""Signatures of micrograd_cpp's compiled module, taken from its stub, src/micrograd_cpp/_core.pyi, and
its docstrings (plain text written for help()) read as plain text by reST.

The compiled module tells autodoc little: the C-API Value type gives parameter names without types,
pybind11 gives a first docstring line in its own spelling. The stub, generated from the build by
scripts/generate_stubs.py and checked against it by `nox -s types`, has the real signatures. This
extension reads it once (with ast) and gives autodoc each object's signature from it, by qualified
name: `Value.tanh`, `Graph.map`, `dot`, also under the public modules that re-export them
(micrograd_cpp.optim.SGD is _core.SGD)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

import micrograd_cpp
from micrograd_cpp import _core

STUB = Path(micrograd_cpp.__file__).with_name("_core.pyi")


def _signature(function: ast.FunctionDef, *, drop_self: bool) -> tuple[str, str | None]:
    """The parameter list and the return annotation of a stub's function, as source text."""
    args = function.args
    if drop_self and args.posonlyargs:
        args.posonlyargs = args.posonlyargs[1:]
    elif drop_self and args.args:
        args.args = args.args[1:]
    text = ast.unparse(args)
    returns = ast.unparse(function.returns) if function.returns is not None else None
    return f"({text})", None if returns == "None" and function.name in ("__init__", "__new__") else returns


def read_stub(path: Path = STUB) -> dict[str, tuple[str, str | None]]:
    """{qualified name in _core: (parameters, return annotation)}; a class maps to its constructor's."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, tuple[str, str | None]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = _signature(node, drop_self=False)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if not isinstance(item, ast.FunctionDef):
                    continue
                if any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in item.decorator_list):
                    continue  # the property's getter speaks for it
                if any(isinstance(d, ast.Name) and d.id == "overload" for d in item.decorator_list):
                    continue
                params, returns = _signature(item, drop_self=True)
                found[f"{node.name}.{item.name}"] = (params, returns)
                if item.name in ("__new__", "__init__") and "*args" not in params:
                    found.setdefault(node.name, (params, None))
    return found


def _runtime_defaults(obj: Any) -> dict[str, str]:
    """The defaults that pybind11 writes in a function's first docstring line, which the stub spells
    `...`: {parameter: default as source text}."""
    target = obj.__init__ if isinstance(obj, type) else obj
    first = (getattr(target, "__doc__", None) or "").split("\n", 1)[0]
    if "(" not in first:
        return {}
    try:
        tree = ast.parse(f"def {first.split('(', 1)[0].strip() or 'f'}({first.split('(', 1)[1]}: pass")
    except SyntaxError:
        return {}
    args = tree.body[0].args  # type: ignore[attr-defined]
    named = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in named[len(named) - len(args.defaults) :]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return {name: ast.unparse(value) for name, value in defaults.items()}


def _with_defaults(params: str, obj: Any) -> str:
    """The stub's parameter list with each `...` default replaced by the runtime's."""
    defaults = _runtime_defaults(obj)
    tree = ast.parse(f"def f{params}: pass")
    args = tree.body[0].args  # type: ignore[attr-defined]
    named = [*args.posonlyargs, *args.args]
    for arg, default in zip(named[len(named) - len(args.defaults) :], args.defaults):
        if isinstance(default, ast.Constant) and default.value is Ellipsis and arg.arg in defaults:
            args.defaults[args.defaults.index(default)] = ast.parse(defaults[arg.arg], mode="eval").body
    return f"({ast.unparse(args)})"


def _core_name(obj: Any, name: str) -> str | None:
    """The name in the stub of what autodoc documents as `name`, if it comes from _core."""
    parts = name.split(".")
    for start in range(len(parts)):
        head = getattr(_core, parts[start], None)
        if head is None:
            continue
        target: Any = head
        for part in parts[start + 1 :]:
            target = getattr(target, part, None)
        if target is not None and target is obj:
            return ".".join(parts[start:])
    return None


_BARE_VALUE = re.compile(r"(?<![.\w])Value\b")


@functools.cache
def stub() -> dict[str, tuple[str, str | None]]:
    return read_stub()


def process_signature(
    app: Any, what: str, name: str, obj: Any, options: Any, signature: Any, returns: Any
) -> tuple[str, str | None] | None:
    if what in ("attribute", "property", "data", "module"):
        return None
    key = _core_name(obj, name)
    if key is None or key not in stub():
        return None
    params, returns = stub()[key]
    qualify = functools.partial(_BARE_VALUE.sub, "micrograd_cpp.Value")  # one target, not three
    return qualify(_with_defaults(params, obj)), qualify(returns) if returns else returns


_SPECIAL = re.compile(r"([*|\\]|_(?![A-Za-z0-9])|(?<![A-Za-z0-9])_)")


def _plain(line: str) -> str:
    """A line of plain text as reST shows it as written: `code` spans kept, *, |, \\ and the
    underscores that reST reads as links or targets escaped."""
    parts = line.split("`")
    return "`".join(part if i % 2 else _SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def plain_text_as_rest(lines: list[str]) -> list[str]:
    """A help() docstring as reST: prose escaped; an indented block after a blank line becomes a
    literal block; doctest examples (>>> and their output, up to a blank line) stay as they are."""
    out: list[str] = []
    in_doctest = in_literal = False
    for line in lines:
        if not line.strip():
            in_doctest = False
            out.append(line)
            continue
        indented = line.startswith(" ")
        if line.lstrip().startswith(">>>") and not in_literal:
            in_doctest = True
        if in_doctest:
            out.append(line)
            continue
        if indented and (in_literal or (out and not out[-1].strip())):
            if not in_literal:
                out[-1:] = ["", "::", ""]
                in_literal = True
            out.append(line)
            continue
        in_literal = False
        out.append(_plain(line))
    return out


def process_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    owner = getattr(obj, "__module__", None) or getattr(
        getattr(obj, "__objclass__", None), "__module__", None
    )
    if owner == _core.__name__ or _core_name(obj, name) is not None:
        lines[:] = plain_text_as_rest(lines)


def one_value(app: Any, doctree: Any) -> None:
    """A bare `Value` in an annotation (`root: Value` in viz.py) means micrograd_cpp.Value, not one of
    the class's other names (micrograd_cpp._core.Value, micrograd_cpp.engine.Value)."""
    from sphinx import addnodes

    for xref in doctree.findall(addnodes.pending_xref):
        if xref.get("refdomain") == "py" and xref.get("reftarget") == "Value":
            xref["reftarget"] = "micrograd_cpp.Value"


def setup(app: Any) -> dict[str, Any]:
    app.connect("doctree-read", one_value)
    app.connect("autodoc-process-signature", process_signature)
    app.connect("autodoc-process-docstring", process_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
