"""mg.dot and mg.sum, one n-ary node each: forward bit-identical to Python's left-to-right sum, gradients
against PyTorch float64, special values, long inputs, bad and hostile input, and the graph they make."""

import functools
import itertools
import math
import operator
import pickle
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import bits

import micrograd_cpp as mg
from micrograd_cpp import Value
from micrograd_cpp.viz import trace

live_nodes = mg._core.live_node_count


def left_to_right(terms, start=0):
    """What Python's sum() does with Values: start + t0, then + t1, ... (from 3.12, sum() of plain floats
    is compensated instead, so the reference is spelled out)."""
    return functools.reduce(operator.add, terms, start)


def as_data(x):
    return x.data if isinstance(x, Value) else float(x)


def random_floats(rng, n):
    return [rng.uniform(-1, 1) * 10.0 ** rng.randint(-20, 20) for _ in range(n)]


def mixed(rng, xs):
    """Some Values, some floats, some ints: dot and sum take any real numbers."""
    out = []
    for x in xs:
        kind = rng.random()
        out.append(Value(x) if kind < 0.6 else x if kind < 0.9 else round(x))
    return out


# --- forward: bit-identical to Python's sum -------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 100, 1000])
def test_dot_is_bit_identical_to_pythons_sum_of_products(n):
    rng = random.Random(n)
    for _ in range(20):
        a, b = mixed(rng, random_floats(rng, n)), mixed(rng, random_floats(rng, n))
        expected = left_to_right(as_data(x) * as_data(y) for x, y in zip(a, b))
        assert bits(mg.dot(a, b).data) == bits(expected)
        assert bits(mg.dot(a, b).data) == bits(sum(Value(as_data(x)) * y for x, y in zip(a, b)).data)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 100, 1000])
@pytest.mark.parametrize("start", [0, 0.1, -1e16, "value"])
def test_sum_is_bit_identical_to_pythons_sum(n, start):
    rng = random.Random(n)
    for _ in range(20):
        values = mixed(rng, random_floats(rng, n))
        s = Value(2.5) if start == "value" else start
        expected = left_to_right((as_data(x) for x in values), as_data(s))
        assert bits(mg.sum(values, s).data) == bits(expected)
        assert bits(mg.sum(values, start=s).data) == bits(expected)
        assert bits(mg.sum(values, s).data) == bits(sum((Value(as_data(x)) for x in values), s).data)


def test_sum_adds_start_first():
    # (-1e16 + 1e16) + 1 = 1, but (1e16 + 1) - 1e16 = 0: the order shows
    assert mg.sum([1e16, 1.0], start=-1e16).data == 1.0
    assert mg.sum([Value(1e16), 1.0, -1e16]).data == 0.0


special = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, math.inf, -math.inf])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(special, special), max_size=12), st.booleans())
def test_dot_matches_pythons_sum_on_special_values(pairs, values_first):
    a = [Value(x) if values_first else x for x, _ in pairs]
    b = [Value(y) for _, y in pairs]
    expected = left_to_right(x * y for x, y in pairs)
    assert bits(mg.dot(a, b).data) == bits(expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(special, max_size=12), special)
def test_sum_matches_pythons_sum_on_special_values(xs, start):
    expected = left_to_right(xs, start)
    assert bits(mg.sum([Value(x) for x in xs], start).data) == bits(expected)
    assert bits(mg.sum(xs, Value(start)).data) == bits(expected)


def test_negative_zero_is_added_as_python_adds_it():
    assert bits(mg.sum([-0.0]).data) == bits(0 + -0.0)  # +0.0: the int start 0 comes first
    assert bits(mg.sum([-0.0], start=-0.0).data) == bits(-0.0)
    assert bits(mg.dot([-0.0], [1.0]).data) == bits(0 + -0.0)


# --- gradients: against PyTorch float64 ---------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 16, 64])
def test_gradients_match_torch_float64(torch, n):
    rng = random.Random(n)
    for _ in range(10):
        xa, xb, xc = ([rng.uniform(-2, 2) for _ in range(n)] for _ in range(3))
        a, b, c = [Value(x) for x in xa], [Value(x) for x in xb], [Value(x) for x in xc]
        k, start = Value(rng.uniform(-1, 1)), Value(rng.uniform(-1, 1))
        out = (mg.dot(a, b) * 0.1 + mg.sum(c, start) * k).tanh() * mg.dot(c, [0.5] * n)
        out.backward()

        ta, tb, tc = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (xa, xb, xc))
        tk = torch.tensor(k.data, dtype=torch.float64, requires_grad=True)
        tstart = torch.tensor(start.data, dtype=torch.float64, requires_grad=True)
        tout = (torch.dot(ta, tb) * 0.1 + (tc.sum() + tstart) * tk).tanh() * torch.dot(
            tc, torch.full_like(tc, 0.5)
        )
        tout.backward()

        assert out.data == pytest.approx(tout.item(), rel=1e-12, abs=1e-12)
        for ours, theirs in ((a, ta), (b, tb), (c, tc)):
            assert [v.grad for v in ours] == pytest.approx(theirs.grad.tolist(), rel=1e-12, abs=1e-12)
        assert k.grad == pytest.approx(tk.grad.item(), rel=1e-12, abs=1e-12)
        assert start.grad == pytest.approx(tstart.grad.item(), rel=1e-12, abs=1e-12)


def same_or_both_nan(x, y):
    return (math.isnan(x) and math.isnan(y)) or x == y


def test_special_values_give_torchs_values_and_gradients(torch):
    xa = [math.inf, -0.0, math.nan, 1.0, -math.inf, 0.0, 2.0]
    xb = [0.0, -1.0, 2.0, math.inf, 3.0, -0.0, 1e308]
    a, b = [Value(x) for x in xa], [Value(x) for x in xb]
    d, s = mg.dot(a, b), mg.sum(a)
    d.backward()
    s.backward()
    ta, tb = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (xa, xb))
    td, ts = (ta * tb).sum(), ta.sum()
    td.backward()
    ts.backward()
    assert same_or_both_nan(d.data, td.item())
    assert same_or_both_nan(s.data, ts.item())
    for ours, theirs in ((a, ta), (b, tb)):
        for v, g in zip(ours, theirs.grad.tolist()):
            assert same_or_both_nan(v.grad, g), (v.grad, g)


def test_a_value_used_several_times_collects_every_gradient():
    x, y = Value(3.0), Value(-2.0)
    d = mg.dot([x, x, y], [y, x, x])  # xy + x^2 + yx
    d.backward()
    assert d.data == 3.0 * -2.0 + 9.0 + -2.0 * 3.0
    assert (x.grad, y.grad) == (-2.0 + 2 * 3.0 + -2.0, 3.0 + 3.0)
    x.grad = y.grad = 0.0
    s = mg.sum([x, x, y, x])
    s.backward()
    assert (x.grad, y.grad) == (3.0, 1.0)


def test_numbers_are_constants():
    x, y = Value(1.5), Value(-0.5)
    d = mg.dot([2.0, x], [y, 3])
    d.backward()
    assert d.data == 2.0 * -0.5 + 1.5 * 3
    assert (x.grad, y.grad) == (3.0, 2.0)


def test_numpy_arrays_and_scalars_are_real_numbers():
    np = pytest.importorskip("numpy")
    xs = [Value(1.0), Value(2.0), Value(3.0)]
    d = mg.dot(np.arange(3.0), xs)
    d.backward()
    assert d.data == 8.0
    assert [x.grad for x in xs] == [0.0, 1.0, 2.0]
    assert mg.sum(np.array([1.5, 2.5]), start=np.float32(1)).data == 5.0


def test_backward_twice_exactly_doubles_the_leaf_gradients():
    rng = random.Random(0)
    for _ in range(200):
        leaves = [Value(rng.uniform(-1, 1)) for _ in range(6)]
        n = rng.randint(1, 6)
        a, b = [rng.choice(leaves) for _ in range(n)], [rng.choice([*leaves, 0.3, 0.7]) for _ in range(n)]
        inner = mg.dot(a, b)
        out = mg.sum(
            [inner, inner * rng.choice(leaves), *rng.sample(leaves, 3)], start=rng.choice(leaves)
        ).tanh()
        out.backward()
        once = [leaf.grad for leaf in leaves]
        out.backward()
        assert [leaf.grad for leaf in leaves] == [2 * g for g in once]


# --- empty and long inputs --------------------------------------------------------------------------------


def test_empty_input_gives_start():
    assert isinstance(mg.sum([]), Value)
    assert bits(mg.sum([]).data) == bits(0.0)
    assert mg.sum([], start=2.5).data == 2.5
    assert mg.sum((), 7).data == 7.0
    assert mg.dot([], []).data == 0.0
    assert mg.dot(iter([]), ()).data == 0.0
    start = Value(3.0)
    out = mg.sum([], start=start)
    assert out is start  # Python's sum([], start) is start
    out.backward()
    assert start.grad == 1.0  # start itself, or a node whose gradient flows to it


def test_a_million_terms_in_linear_time_without_recursion(child):
    # In a child with a time limit: about a second when linear; a quadratic build would take hours.
    out = child(
        """
        import functools, operator, random
        import micrograd_cpp as mg
        n = 10**6
        rng = random.Random(1)
        xa = [rng.uniform(-1, 1) for _ in range(n)]
        xb = [rng.uniform(-1, 1) for _ in range(n)]
        a, b = [mg.Value(x) for x in xa], [mg.Value(x) for x in xb]
        d = mg.dot(a, b)
        assert d.data == functools.reduce(operator.add, (x * y for x, y in zip(xa, xb)), 0)
        s = mg.sum(iter(a))
        assert s.data == functools.reduce(operator.add, xa, 0)
        (d + s).backward()
        assert all(v.grad == y + 1.0 for v, y in zip(a, xb))
        assert all(v.grad == x for v, x in zip(b, xa))
        print("ok")
        """,
        timeout=120,
    )
    assert out.split() == ["ok"]


def test_a_deep_chain_of_n_ary_nodes_builds_differentiates_and_frees(child):
    out = child(
        """
        import micrograd_cpp as mg
        base = mg._core.live_node_count()
        one, w = mg.Value(1.0), mg.Value(1.0)
        s = mg.Value(0.0)
        for i in range(500_000):
            s = mg.sum([s, one]) if i % 2 else mg.dot([s, one], [w, 1.0])
        s.backward()
        assert s.data == 500_000.0, s.data
        assert one.grad == 500_000.0, one.grad
        del s
        print(mg._core.live_node_count() - base)
        """
    )
    assert out.split() == ["2"]  # one and w


# --- bad input --------------------------------------------------------------------------------------------


def test_unequal_lengths_are_a_value_error():
    x = Value(1.0)
    base = live_nodes()
    with pytest.raises(ValueError, match="a has 2 items but b has 1"):
        mg.dot([x, x], [x])
    with pytest.raises(ValueError, match="a has 0 items but b has 1"):
        mg.dot([], [1.0])
    with pytest.raises(ValueError, match="a has at least 3 items but b has 2"):
        mg.dot((v for v in [x, x, x]), iter([x, x]))  # zip() would silently drop the third
    assert live_nodes() == base


@pytest.mark.parametrize("bad", ["1", None, [1.0], complex(1, 2), object(), b"1"])
def test_non_numbers_are_a_type_error(bad):
    x = Value(1.0)
    base = live_nodes()
    with pytest.raises(TypeError):
        mg.dot([x, bad], [x, x])
    with pytest.raises(TypeError):
        mg.dot([x, x], [x, bad])
    with pytest.raises(TypeError):
        mg.sum([x, x, bad])
    with pytest.raises(TypeError):
        mg.sum([x], start=bad)
    assert live_nodes() == base  # nothing half-built is left behind


@pytest.mark.parametrize("not_iterable", [1.0, 3, Value(2.0), None])
def test_arguments_that_are_not_iterable_are_a_type_error(not_iterable):
    with pytest.raises(TypeError):
        mg.sum(not_iterable)
    with pytest.raises(TypeError):
        mg.dot(not_iterable, [1.0])
    with pytest.raises(TypeError):
        mg.dot([1.0], not_iterable)


def test_missing_or_extra_arguments_are_a_type_error():
    with pytest.raises(TypeError):
        mg.dot([1.0])
    with pytest.raises(TypeError):
        mg.sum()
    with pytest.raises(TypeError):
        mg.sum([1.0], 0, 0)


def test_an_error_raised_by_a_number_comes_through():
    class Broken:
        def __float__(self):
            raise ZeroDivisionError("no float today")

    x = Value(1.0)
    base = live_nodes()
    with pytest.raises(ZeroDivisionError, match="no float today"):
        mg.sum([x, Broken()])
    with pytest.raises(ZeroDivisionError, match="no float today"):
        mg.dot([x, x], [x, Broken()])

    def failing():
        yield x
        raise KeyError("from the generator")

    with pytest.raises(KeyError, match="from the generator"):
        mg.sum(failing())
    with pytest.raises(KeyError, match="from the generator"):
        mg.dot([x, x], failing())
    assert live_nodes() == base


# --- any iterable, safely ----------------------------------------------------------------------------------


def test_any_iterable_gives_the_same_result_as_a_list():
    xs = [Value(float(i) / 3) for i in range(10)]
    ys = [float(i) - 4.5 for i in range(10)]
    expected_dot = mg.dot(xs, ys).data
    expected_sum = mg.sum(xs).data
    for make in (list, tuple, iter, lambda v: (x for x in v), lambda v: map(v.__getitem__, range(len(v)))):
        assert mg.dot(make(xs), make(ys)).data == expected_dot
        assert mg.sum(make(xs)).data == expected_sum
    assert mg.sum(range(5)).data == 10.0
    assert mg.sum({Value(1.0): None, Value(2.0): None}).data == 3.0  # a dict iterates over its keys


MUTATING_CALLBACKS = """
import builtins
import micrograd_cpp as mg

keep = []


class Mutates:
    # A number whose __float__ changes the list it sits in (dropping the only references to the Values
    # after it) and makes new Values that may reuse their memory, before returning 2.0.

    def __init__(self, target, how):
        self.target, self.how = target, how

    def __float__(self):
        if self.how == "clear":
            self.target.clear()
        elif self.how == "grow":
            self.target.extend(mg.Value(1000.0) for _ in range(100_000))
        elif self.how == "replace":
            self.target[:] = [mg.Value(1000.0) for _ in self.target]
        keep.extend(mg.Value(1000.0) for _ in range(1000))
        return 2.0


def case(how, where):
    # fresh inputs for one call, and what the call gives on the lists as they were
    if where == "sum":
        items = [mg.Value(1.0)]
        items += [Mutates(items, how), mg.Value(4.0), mg.Value(8.0)]
        return (items,), 15.0
    a, b = [mg.Value(1.0), mg.Value(1.0), mg.Value(1.0)], [mg.Value(1.0)]
    mutated = b if where == "dot b" else a
    mutated += [Mutates(mutated, how), mg.Value(4.0)]
    return (a, b), 7.0


def ours(how, where):
    args, _ = case(how, where)
    try:
        return repr((mg.sum if where == "sum" else mg.dot)(*args).data)
    except (TypeError, ValueError, RuntimeError):
        return "error"


def pythons(how, where):
    # what Python's own sum gives, iterating over the lists as the callback leaves them
    args, _ = case(how, where)
    if where == "sum":
        return repr(builtins.sum(args[0]).data)
    return repr(builtins.sum(x * y for x, y in zip(*args)).data)


for how in ("clear", "grow", "replace"):
    for where in ("sum", "dot a", "dot b"):
        print(how, where, "|", ours(how, where), "|", pythons(how, where), repr(case(how, where)[1]))
"""


def test_lists_mutated_by_a_callback_give_a_right_answer_or_a_clean_error(child):
    lines = child(MUTATING_CALLBACKS).splitlines()
    assert len(lines) == 9
    for line in lines:
        _, ours, right_answers = line.split(" | ")
        # right: the lists as they were when the call began, or as Python's sum() iterates over them
        assert ours == "error" or ours in right_answers.split(), line


# --- endless iterables, and plain numbers added as Values ---------------------------------------------------
# dot and sum against iterables Python accepts: dot(a, b) reads all of a, then all of b, and compares the
# lengths only at the end. An endless (or merely long) b is read until memory runs out, where the error is
# known one item past the end of a, as zip(a, b, strict=True) knows it.


def endless(limit):
    """1.0, 1.0, ... and an AssertionError if read past item `limit` (standing in for an endless iterator)."""
    for k in itertools.count():
        if k > limit:
            raise AssertionError(f"read item {k}")
        yield 1.0


def test_dot_with_an_endless_b_is_a_value_error_one_item_past_a():
    with pytest.raises(ValueError, match=r"dot\(a, b\)"):
        mg.dot([1.0, 2.0, 3.0], endless(3))


def test_dot_with_an_endless_a_is_a_value_error_one_item_past_b():
    with pytest.raises(ValueError, match=r"dot\(a, b\)"):
        mg.dot(endless(3), [1.0, 2.0, 3.0])


@pytest.mark.skipif(mg._core.sanitized, reason="RLIMIT_AS cannot be used under AddressSanitizer")
def test_dot_with_itertools_count_does_not_eat_all_memory(child):
    # Without the limit this takes every byte of the machine (the OOM killer's choice of victim).
    out = child(
        """
        import itertools, resource
        import micrograd_cpp as mg
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, resource.RLIM_INFINITY))
        try:
            mg.dot([1.0, 2.0, 3.0], itertools.count())
        except ValueError as e:
            print("refused:", e)
        except MemoryError:
            print("ran out of memory")
        """,
        timeout=120,
    )
    assert "refused" in out


@pytest.mark.parametrize(
    "values",
    [[2**53, 1, 1], [10**308, 10**308, -(10**308)], [0.1] * 10],
    ids=["ints-past-2**53", "ints-past-the-float-range", "floats-python-3.12-compensates"],
)
def test_sum_of_plain_numbers_adds_them_as_values_as_the_docstring_says(values):
    # The docstring: numbers become constant Values first, so they are added as floats, left to right
    # (Python's sum adds ints exactly, and floats with compensation from 3.12).
    expected = mg.Value(0) + mg.Value(values[0])
    for v in values[1:]:
        expected = expected + v
    assert mg.sum(values).data == expected.data


# --- the node: _op, _prev, drawing, pickling -------------------------------------------------------------


def test_dot_and_sum_are_one_node_each():
    a = [Value(float(i)) for i in range(5)]
    b = [Value(float(-i)) for i in range(5)]
    d, s = mg.dot(a, b), mg.sum(a)
    assert d._op == "dot"
    assert s._op == "sum"
    assert d._prev == set(a) | set(b)
    assert s._prev >= set(a)
    assert all(extra._op == "" and extra.data == 0.0 for extra in s._prev - set(a))  # at most the start
    start = Value(1.0)
    assert mg.sum(a, start)._prev == {*a, start}
    # _children: the operands in order, dot's pairwise
    assert d._children == tuple(x for pair in zip(a, b) for x in pair)
    assert mg.sum(a, start)._children == (start, *a)
    assert mg.sum(a)._children == tuple(a)
    nodes, edges = trace(d)
    assert nodes == {d, *a, *b}
    assert edges == {(x, d) for x in (*a, *b)}


def test_numbers_become_constant_leaves_in_prev():
    x = Value(2.0)
    d = mg.dot([x, 3.0], [4, x])
    assert x in d._prev
    assert {c.data for c in d._prev - {x}} <= {3.0, 4.0}
    assert all(c._op == "" for c in d._prev)


@pytest.mark.usefixtures("graphviz")
def test_drawing_shows_the_dot_node_and_its_operands():
    from micrograd_cpp.viz import draw_dot

    a = [Value(1.0, label="a0"), Value(2.0, label="a1")]
    b = [Value(3.0, label="b0"), Value(4.0, label="b1")]
    d = mg.dot(a, b)
    d.label = "d"
    source = draw_dot(mg.sum([d, a[0]])).source
    for text in ("a0", "a1", "b0", "b1"):
        assert text in source
    assert re.search(r'label="?dot"?]', source), source
    assert re.search(r'label="?sum"?]', source), source
    assert source.count("->") == 4 + 1 + 2 + 1  # operands into dot, dot into its op oval, and the sum's


def test_pickling_keeps_data_and_grad_as_a_leaf():
    a, b = [Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]
    for node in (mg.dot(a, b), mg.sum(b, start=0.5)):
        node.backward()
        clone = pickle.loads(pickle.dumps(node))
        assert (clone.data, clone.grad, clone._op) == (node.data, 1.0, "")
        assert clone._prev == set()
