"""What help() and type checkers see: docstrings and argument names of every binding, the shipped
stub files, and the stub generator's reading of pybind11 signatures."""

import importlib.util
import inspect
import pydoc
import re
import types
from pathlib import Path

import pytest
from support import ROOT

import micrograd_cpp as mg
from micrograd_cpp import _core

# CPython's own slot wrappers (__add__, __eq__, ...) and the type's __new__ carry CPython's docs.
CPYTHON_SLOTS = (types.WrapperDescriptorType, types.BuiltinFunctionType)
VALUE_MEMBERS = {
    name: member
    for name, member in vars(mg.Value).items()
    if name not in ("__doc__", "__module__") and not isinstance(member, CPYTHON_SLOTS)
}
MODULE_FUNCTIONS = {name: f for name, f in vars(_core).items() if callable(f) and not isinstance(f, type)}
PYBIND11_CLASSES = [
    c for c in vars(_core).values() if isinstance(c, type) and c is not mg.Value and not issubclass(c, tuple)
]


def pybind11_doc(func) -> str:
    """A pybind11 function's docstring: its signature line, a blank line, its text."""
    return inspect.getdoc(getattr(func, "__func__", func))


def pybind11_signature(func) -> str:
    return pybind11_doc(func).splitlines()[0]


def test_help_explains_tanh():
    text = pydoc.render_doc(mg.Value.tanh, renderer=pydoc.plaintext)
    assert "tanh(self, /)" in text
    assert "as a new Value (op 'tanh')" in text
    assert "Local derivative: 1 - tanh(x)**2" in text


def test_help_on_value_shows_the_constructor_and_members():
    text = pydoc.render_doc(mg.Value, renderer=pydoc.plaintext)
    assert "Value(data, _children=(), _op='', label=''" in text
    for name in ("backward", "zero_grad", "tanh", "data", "grad", "label"):
        assert name in text


@pytest.mark.parametrize("name", sorted(VALUE_MEMBERS))
def test_every_value_member_has_a_docstring(name):
    member = VALUE_MEMBERS[name]
    doc = inspect.getdoc(member) or ""
    signature = getattr(member, "__text_signature__", None)
    if signature or isinstance(member, property):
        assert len(doc.strip()) > 15, doc  # a sentence beyond the signature
    else:  # pybind11: the signature line, a blank line, then the text
        assert len(doc.split("\n\n", 1)[-1]) > 15, doc


@pytest.mark.parametrize("name", sorted(VALUE_MEMBERS))
def test_every_value_member_names_its_arguments(name):
    member = VALUE_MEMBERS[name]
    if isinstance(member, types.GetSetDescriptorType):
        return  # .data and .grad: C-level attributes, no function to call
    if isinstance(member, property):
        functions = [f for f in (member.fget, member.fset) if f is not None]
        signatures = [pybind11_signature(f) for f in functions]
    elif isinstance(member, (types.MethodDescriptorType, types.FunctionType)):
        signatures = [str(inspect.signature(member))]  # from __text_signature__ or the def
    else:
        signatures = [pybind11_signature(member)]
    for signature in signatures:
        assert not re.search(r"\barg\d", signature), signature
        assert "self" in signature


@pytest.mark.parametrize("name", sorted(MODULE_FUNCTIONS))
def test_module_functions_are_documented_with_named_arguments(name):
    func = MODULE_FUNCTIONS[name]
    doc = inspect.getdoc(func)
    if getattr(func, "__text_signature__", None):  # a C-API function (dot, sum): CPython parses it
        signature, text = f"{name}{inspect.signature(func)}", doc
    else:  # pybind11: the signature line, a blank line, then the text
        signature, _, text = doc.partition("\n\n")
    assert signature.startswith(f"{name}(")
    assert not re.search(r"\barg\d", signature), signature
    assert len(text) > 15


def test_pybind11_classes_are_documented_with_named_arguments():
    for cls in PYBIND11_CLASSES:
        assert inspect.getdoc(cls), cls
        for name, member in vars(cls).items():
            if name.startswith("_pybind11") or isinstance(member, (str, types.WrapperDescriptorType)):
                continue
            if isinstance(member, property):  # used as `opt.lr`, `opt.lr = 0.1`: no argument names to see
                assert len(member.__doc__ or "") > 10, (cls, name)
                continue
            signature, _, text = pybind11_doc(member).partition("\n\n")
            assert not re.search(r"\barg\d", signature), (cls, name, signature)
            if name not in ("__init__", "__repr__"):
                assert len(text) > 10, (cls, name)


def test_constructor_signature():
    assert (
        str(inspect.signature(mg.Value))
        == "(data, _children=(), _op='', label='', *, children=(), local_grads=())"
    )


def test_the_package_ships_its_types():
    package = Path(mg.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_core.pyi").is_file()


def load_generator():
    path = ROOT / "scripts" / "generate_stubs.py"
    if not path.exists():  # an sdist or a wheel test ships tests/ without the developer scripts
        pytest.skip("scripts/generate_stubs.py is not in this tree")
    spec = importlib.util.spec_from_file_location("generate_stubs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stub_generator_reads_overloads_and_defaults():
    generate = load_generator()

    def fake():
        """f(*args, **kwargs)
        Overloaded function.

        1. f(x: typing.SupportsFloat) -> float

        One number.

        2. f(xs: collections.abc.Sequence[float], scale: float = 1.0) -> list[float]

        Several.
        """

    lines = generate.pybind11_definitions(fake, "f", "", is_method=False)
    text = "\n".join(lines)
    assert text.count("@typing.overload") == 2
    assert "def f(x: typing.SupportsFloat) -> float:" in text
    assert "def f(xs: collections.abc.Sequence[float], scale: float = ...) -> list[float]:" in text
    assert '"""One number."""' in text
    standard, others = generate.imports(text)
    assert standard == ["import collections.abc", "import typing"]
    assert others == []


def test_help_on_value_shows_no_pybind11_internals():
    text = pydoc.render_doc(mg.Value, renderer=pydoc.plaintext)
    assert "pybind11" not in text  # every member is in Value's own C tables, none attached by pybind11
    assert "Comparisons: `a == b` and `a != b` compare nodes, not values" in text
