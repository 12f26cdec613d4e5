"""What help() shows users: MLP lists its activations with an example, Graph.map starts with a
runnable rows-in/values-out example, every example in a public docstring runs (doctest), and no
docstring talks of the kernel's internals (those live on the docs' explanation pages)."""

from __future__ import annotations

import doctest
import inspect
import pydoc

import pytest

import micrograd_cpp as mg
from micrograd_cpp import nn

INTERNALS = ("running sums", "per chunk", "TwoSum", "registers", "lanes", "fused step")


def text(obj: object) -> str:
    """The docstring as help() prints it: pybind11's signature line first, then its text."""
    return inspect.getdoc(obj) or ""


def user_text(obj: object) -> str:
    """A pybind11 docstring without its first line (the signature it writes there)."""
    doc = text(obj)
    return doc.split("\n\n", 1)[1] if doc.startswith(f"{getattr(obj, '__name__', '')}(") else doc


def test_mlp_help_lists_every_activation_with_an_example():
    doc = text(nn.MLP)
    for name in nn.ACTIVATIONS:
        assert f'"{name}"' in doc, name
    assert ">>> model = MLP(" in doc
    assert "relu" in pydoc.render_doc(nn.MLP, renderer=pydoc.plaintext)


def test_graph_map_help_starts_with_a_runnable_rows_in_values_out_example():
    doc = user_text(mg.Graph.map)
    assert doc.startswith(">>> "), doc[:80]
    example = doc.split("\n\n", 1)[0]
    assert "g.map([[" in example  # rows in
    parser = doctest.DocTestParser()
    test = parser.get_doctest(example, {}, "Graph.map", None, 0)
    assert len(test.examples) >= 3
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.failed == 0


def public_objects() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = [("micrograd_cpp", mg)]
    for module in (mg, mg.engine, mg.nn, mg.losses, mg.optim, mg.viz):
        for name in module.__all__:
            found.append((f"{module.__name__}.{name}", getattr(module, name)))
    found.append(("micrograd_cpp.sum", mg.sum))
    for cls in (mg.Value, mg.Graph, nn.Module, nn.Neuron, nn.Layer, nn.MLP, mg.optim.SGD, mg.optim.Adam):
        for name, member in vars(cls).items():
            if not name.startswith("_") or name in ("_op", "_prev", "_children"):
                found.append((f"{cls.__qualname__}.{name}", member))
    return found


@pytest.mark.parametrize(("name", "obj"), public_objects(), ids=lambda x: x if isinstance(x, str) else "")
def test_public_docstrings_speak_to_users_not_of_internals(name, obj):
    doc = (getattr(obj, "__doc__", None) or "") if not isinstance(obj, (int, str, tuple)) else ""
    assert not [word for word in INTERNALS if word in doc], name


@pytest.mark.parametrize("obj", [nn.MLP, nn.Neuron, mg.Graph.map], ids=["MLP", "Neuron", "Graph.map"])
def test_docstring_examples_run(obj):
    doc = user_text(obj)
    test = doctest.DocTestParser().get_doctest(doc, {}, getattr(obj, "__qualname__", "doc"), None, 0)
    assert test.examples, "no example"
    result = doctest.DocTestRunner().run(test)
    assert result.failed == 0
