"""One reader of Python iterables for every binding (issue 16, part 2): dot, sum, the fused neuron,
Graph (outputs, inputs, map's rows) and the optimizers' params follow one policy, with one wording.

- any iterable is taken; where the order matters (dot, the neuron, Graph, map's rows) sets,
  frozensets, dicts and their views are refused; where it does not (sum, an optimizer's params) they
  are taken; where numbers are read, text (str, bytes, bytearray) is refused;
- a list is read as it was when the call began, whatever the Python code run meanwhile does to it;
- errors: "<what> must be a sequence of <items>, not <type>" ("an iterable of" where order does not
  matter), "<what> must hold <items>, not <type> (at index <i>)"; an exception that Python code
  raises (an __iter__, a __next__, a __float__) comes through as it is.
"""

import re

import pytest

import micrograd_cpp as mg
from micrograd_cpp import Value, _core
from micrograd_cpp.optim import SGD, Adam

# (name, call(iterable), what the messages call it, whether order matters, whether it reads numbers)
x0, x1 = Value(0.0), Value(0.0)
GRAPH = mg.Graph(x0 * 2.0 + x1, inputs=[x0, x1])
W = [Value(1.0), Value(1.0)]
BINDINGS = [
    ("dot a", lambda it: mg.dot(it, [1.0, 1.0]), "dot(a, b): a", True, True),
    ("dot b", lambda it: mg.dot([Value(1.0), Value(1.0)], it), "dot(a, b): b", True, True),
    ("sum", lambda it: mg.sum(it), "sum(values)", False, True),
    ("neuron weights", lambda it: _core.neuron(it, Value(0.0), [1.0, 1.0]), "neuron weights", True, False),
    ("neuron inputs", lambda it: _core.neuron(W, Value(0.0), it), "neuron inputs", True, True),
    ("Graph outputs", lambda it: mg.Graph(it, inputs=[x0, x1]), "Graph outputs", True, False),
    ("Graph inputs", lambda it: mg.Graph(x0 * x1, inputs=it), "Graph inputs", True, False),
    ("map rows", lambda it: GRAPH.map(it), "rows", True, True),
    ("map row", lambda it: GRAPH.map([it]), "rows[0]", True, True),
    ("SGD params", lambda it: SGD(it, lr=0.1), "optimizer params", False, False),
    ("Adam params", lambda it: Adam(it, lr=0.1), "optimizer params", False, False),
]
IDS = [b[0] for b in BINDINGS]


def good_items(name):
    """Two items the binding takes."""
    if name == "map rows":
        return [(1.0, 2.0), (3.0, 4.0)]
    if name == "map row":
        return [1.0, 2.0]
    if name == "Graph outputs":
        return [x0 * x1, x0 + x1]
    if name == "Graph inputs":
        return [x0, x1]
    return [Value(1.0), Value(2.0)]


@pytest.mark.parametrize(("name", "call", "what", "ordered", "numbers"), BINDINGS, ids=IDS)
def test_unordered_containers_are_refused_exactly_where_the_order_matters(name, call, what, ordered, numbers):
    items = good_items(name)
    for container in (set(items), frozenset(items), dict.fromkeys(items), dict.fromkeys(items).keys()):
        if ordered:
            with pytest.raises(TypeError) as e:
                call(container)
            assert str(e.value).startswith(f"{what} must be "), e.value
            assert "order matters" in str(e.value), e.value
        else:
            call(container)  # the order changes nothing: taken
    if ordered:
        with pytest.raises(TypeError, match="order matters"):
            call({i: item for i, item in enumerate(items)}.values())


@pytest.mark.parametrize(("name", "call", "what", "ordered", "numbers"), BINDINGS, ids=IDS)
def test_what_is_not_iterable_gets_one_wording(name, call, what, ordered, numbers):
    for not_iterable in (5, object()) if name == "Graph inputs" else (5, None, object()):  # inputs=None: none
        with pytest.raises(TypeError) as e:
            call(not_iterable)
        kind = "a sequence" if ordered else "an iterable"
        assert re.match(
            rf"{re.escape(what)} must be (a Value or )?{kind} of .*, not {type(not_iterable).__name__}",
            str(e.value),
        ), e.value


@pytest.mark.parametrize(("name", "call", "what", "ordered", "numbers"), BINDINGS, ids=IDS)
def test_a_bad_item_gets_one_wording_with_its_index(name, call, what, ordered, numbers):
    items = good_items(name)
    bad = object() if name != "map rows" else None
    if name == "map rows":
        items = [items[0], 7]  # a row that is no sequence
        with pytest.raises(TypeError, match=re.escape("rows[1] must be a sequence of real numbers, not int")):
            call(items)
        return
    items = [items[0], bad]
    with pytest.raises(TypeError) as e:
        call(items)
    assert re.fullmatch(rf"{re.escape(what)} must hold .*, not object \(at index 1\)", str(e.value)), e.value


@pytest.mark.parametrize(
    ("name", "call", "what", "ordered", "numbers"),
    [b for b in BINDINGS if b[4]],
    ids=[b[0] for b in BINDINGS if b[4]],
)
def test_text_is_refused_where_numbers_are_read(name, call, what, ordered, numbers):
    for text in (b"\x01\x02", bytearray(b"\x01\x02"), "12"):
        with pytest.raises(TypeError, match="text is no numbers"):
            call(text)


@pytest.mark.parametrize(("name", "call", "what", "ordered", "numbers"), BINDINGS, ids=IDS)
def test_errors_raised_by_python_code_come_through_unchanged(name, call, what, ordered, numbers):
    items = good_items(name)

    class IterRaises:
        def __iter__(self):
            raise KeyError("from __iter__")

    def next_raises():
        yield items[0]
        raise LookupError("from __next__")

    with pytest.raises(KeyError, match="from __iter__"):
        call(IterRaises())
    with pytest.raises(LookupError, match="from __next__"):
        call(next_raises())
    if numbers:

        class FloatRaises:
            def __float__(self):
                raise ZeroDivisionError("from __float__")

        bad = [FloatRaises(), 2.0] if name != "map rows" else [[FloatRaises(), 2.0]]
        with pytest.raises(ZeroDivisionError, match="from __float__"):
            call(bad)


MUTATED = """
import gc
import micrograd_cpp as mg
import micrograd_cpp.optim
from micrograd_cpp import Value, _core

class Clears:
    '''A number whose __float__ empties the list it sits in, and frees what it held.'''
    def __init__(self, target, value):
        self.target, self.value = target, value
    def __float__(self):
        self.target.clear()
        self.target.extend([Value(1000.0)] * 3)
        gc.collect()
        return self.value

xs = [Value(1.0)]
xs += [Clears(xs, 2.0), Value(4.0), 8.0]
assert mg.sum(xs).data == 15.0, "sum"

a = [Value(1.0), Value(1.0), Value(1.0), Value(1.0)]
b = [Value(1.0)]
b += [Clears(b, 2.0), Value(4.0), 8.0]
assert mg.dot(a, b).data == 15.0, "dot b"
b2 = [Value(1.0)]
b2 += [Clears(a, 2.0), Value(4.0), 8.0]  # clears the other list, a, read in step
a = [Value(1.0), Value(1.0), Value(1.0), Value(1.0)]
b2[1].target = a
assert mg.dot(a, b2).data == 15.0, "dot a"

w = [Value(1.0), Value(1.0), Value(1.0)]
x = [Clears(w, 1.0), Value(2.0), 3.0]
assert _core.neuron(w, Value(0.0), x).data == 6.0, "neuron"

x0, x1 = Value(0.0), Value(0.0)
g = mg.Graph(x0 * 2.0 + x1, inputs=[x0, x1])
rows = [[1.0, 1.0]]
rows += [[Clears(rows, 2.0), 1.0], [3.0, 1.0]]
assert g.map(rows) == [3.0, 5.0, 7.0], "map rows"
row = [1.0]
row.append(Clears(row, 2.0))
assert g.map([row]) == [4.0], "map row"

params = [Value(1.0), Value(2.0)]
def clearing():
    yield params[0]
    params.clear()
    gc.collect()
    yield Value(5.0)
assert [p.data for p in mg.optim.SGD(clearing(), lr=0.1).params] == [1.0, 5.0], "params"
outputs = [x0 * x1, x0 + x1]
inputs = [x0, x1]
def clearing_inputs():
    outputs.clear()
    gc.collect()
    yield from inputs
g = mg.Graph(outputs, inputs=clearing_inputs())
assert len(g.outputs) == 2 and g.inputs == (x0, x1)
print("ok")
"""


def test_lists_are_read_as_they_were_when_the_call_began(child):
    assert child(MUTATED).strip() == "ok"


def test_sum_and_optimizers_take_what_python_would():
    v = [Value(1.0), Value(2.0)]
    assert mg.sum({v[0]: None, v[1]: None}).data == 3.0  # a dict iterates over its keys
    assert mg.sum(set(v)).data == 3.0
    assert [p.data for p in sorted(SGD(set(v), lr=0.1).params, key=lambda p: p.data)] == [1.0, 2.0]
    assert len(Adam({p: 1 for p in v}.keys(), lr=0.1).params) == 2
