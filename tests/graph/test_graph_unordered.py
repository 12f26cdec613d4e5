"""Graph refuses inputs and outputs given without an order (issue 23, item 4).

A set's order is its hashes': Graph(inputs=set) read the rows' columns into the wrong inputs (66 of
200 random graphs: -8 instead of 19), and outputs given as a set made "the first output" arbitrary.
map() already refused such rows. The rule, the one reader's (cpp/bindings/iterables.hpp) for every
binding where the order matters: a set, a frozenset, a dict or a dict's view is a TypeError, and
nothing is built.
"""

import collections
import gc

import pytest

import micrograd_cpp as mg


def unordered_containers(values):
    """The containers refused where the order matters, each holding `values`."""
    as_dict = dict.fromkeys(values)
    return {
        "set": set(values),
        "frozenset": frozenset(values),
        "dict": as_dict,
        "dict.keys()": as_dict.keys(),
        "dict.values()": {i: v for i, v in enumerate(values)}.values(),
        "dict.items()": as_dict.items(),
        "OrderedDict": collections.OrderedDict.fromkeys(values),
        "OrderedDict.keys()": collections.OrderedDict.fromkeys(values).keys(),
        "set subclass": type("Bag", (set,), {})(values),
        "defaultdict": collections.defaultdict(int, as_dict),
    }


CONTAINERS = list(unordered_containers([0]))


@pytest.mark.parametrize("kind", CONTAINERS)
def test_inputs_without_an_order_are_a_type_error(kind):
    x, y, w = mg.Value(1.0), mg.Value(2.0), mg.Value(3.0)
    gc.collect()  # earlier tests' cycles, else a collection during the call frees their nodes
    base = mg._core.live_node_count()
    with pytest.raises(TypeError, match=r"Graph inputs must be a sequence of Values.*order matters"):
        mg.Graph(x * w - y, inputs=unordered_containers([x, y])[kind])
    assert mg._core.live_node_count() == base


@pytest.mark.parametrize("kind", CONTAINERS)
def test_outputs_without_an_order_are_a_type_error(kind):
    x, y = mg.Value(1.0), mg.Value(2.0)
    outputs = [x * y, x + y]
    with pytest.raises(
        TypeError, match=r"Graph outputs must be a Value or a sequence of Values.*order matters"
    ):
        mg.Graph(unordered_containers(outputs)[kind], inputs=[x, y])


def test_the_issues_repro_columns_reach_the_inputs_in_the_order_given():
    """Rows' columns go to the inputs in the order of the list given, for every pair of inputs that a
    set would have put in either order."""
    for trial in range(200):
        a, b = mg.Value(float(trial)), mg.Value(-1.0)
        g = mg.Graph(a * 3.0 - b * 2.0, inputs=[a, b])
        assert g.map([[5.0, 1.0]]) == [13.0]
        assert g.inputs == (a, b)
        with pytest.raises(TypeError):
            mg.Graph(a * 3.0 - b * 2.0, inputs={a, b})


def test_ordered_iterables_of_every_other_kind_are_taken():
    x, y = mg.Value(1.0), mg.Value(2.0)
    out = x * 10.0 + y
    for make in (
        list,
        tuple,
        iter,
        lambda v: (i for i in v),
        lambda v: map(v.__getitem__, range(len(v))),
        collections.deque,
    ):
        g = mg.Graph(make([out, x * y]), inputs=make([x, y]))
        assert g.inputs == (x, y)
        assert g.outputs[0] == out
        assert g.map([[3.0, 4.0]]) == [[34.0, 12.0]]
    assert mg.Graph(out).outputs == (out,)  # one Value
    assert mg.Graph(out, inputs=None).inputs == ()


def test_an_error_raised_by_an_inputs_iter_comes_through():
    x = mg.Value(1.0)

    class Broken:
        def __iter__(self):
            raise KeyError("from __iter__")

    with pytest.raises(KeyError, match="from __iter__"):
        mg.Graph(x * 2.0, inputs=Broken())
    with pytest.raises(KeyError, match="from __iter__"):
        mg.Graph(Broken())
