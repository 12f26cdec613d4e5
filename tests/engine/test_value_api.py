"""The Value API: construction, attributes, identity, repr, pickling, bad input, failed assignments."""

import copy
import gc
import math
import pickle
import sys
from fractions import Fraction

import pytest

import micrograd_cpp as mg
from micrograd_cpp.engine import Value


def test_seed_example():
    a, b = mg.Value(2.0), mg.Value(3.0)
    c = a * b + a
    c.backward()
    assert (c.data, a.grad, b.grad) == (8.0, 4.0, 2.0)


def test_seed_methods_add_mul():
    a, b = Value(2.0), Value(3.0)
    c = a.mul(b).add(a)
    c.backward()
    assert (a.grad, b.grad) == (4.0, 2.0)
    assert a.add(1).data == 3.0
    assert a.mul(2.5).data == 5.0
    with pytest.raises(TypeError, match="str"):
        a.add("x")


def test_engine_path_is_the_same_type():
    assert Value is mg.Value


@pytest.mark.parametrize("data", [2, 2.5, True, Fraction(1, 4), -0.0, 10**20])
def test_data_accepts_real_numbers(data):
    v = Value(data)
    assert isinstance(v.data, float)
    assert v.data == float(data)
    assert v.grad == 0.0


def test_data_accepts_numpy_scalars():
    np = pytest.importorskip("numpy")
    assert Value(np.float32(1.5)).data == 1.5
    assert Value(np.int64(3)).data == 3.0
    assert (Value(2.0) * np.float64(3.0)).data == 6.0
    assert (np.int32(3) * Value(2.0)).data == 6.0
    assert (Value(2.0) ** np.int64(2))._op == "**2"


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], object(), 1 + 2j, b"1", {1: 2}])
def test_data_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


def test_value_of_value_is_rejected():
    with pytest.raises(TypeError, match="Value"):
        Value(Value(1.0))


def test_huge_int_overflows_clearly():
    with pytest.raises(OverflowError):
        Value(2**2000)


def test_constructor_keywords():
    v = Value(data=1.5, label="x")
    assert (v.data, v.label) == (1.5, "x")
    with pytest.raises(TypeError, match="unexpected keyword"):
        Value(1.0, name="x")
    with pytest.raises(TypeError, match="multiple values"):
        Value(1.0, data=2.0)
    with pytest.raises(TypeError, match="missing"):
        Value()
    with pytest.raises(TypeError, match="at most 4"):
        Value(1.0, (), "", "a", 3)
    with pytest.raises(TypeError, match="children must be a sequence"):
        Value(1.0, 5)  # the second argument is micrograd's _children (a str alone is a label)
    with pytest.raises(TypeError, match="label must be a str"):
        Value(1.0, label=5)


def test_data_and_grad_are_writable_floats():
    p = Value(1.0)
    p.grad = 0.5
    p.data -= 0.1 * p.grad  # micrograd's update loop
    assert p.data == pytest.approx(0.95)
    p.grad = 0
    assert isinstance(p.grad, float)
    assert p.grad == 0.0
    with pytest.raises(TypeError, match="str"):
        p.data = "1"
    with pytest.raises(TypeError):
        p.grad = None
    with pytest.raises(AttributeError):
        del p.data


def test_label():
    v = Value(1.0)
    assert v.label == ""
    v.label = "loss"
    assert v.label == "loss"
    assert repr(v) == "Value(data=1.0, grad=0.0, label='loss')"
    with pytest.raises(TypeError, match="label must be a str"):
        v.label = 3
    v.label = ""
    assert repr(v) == "Value(data=1.0, grad=0.0)"


def test_repr_as_micrograd():
    assert repr(Value(2.0)) == "Value(data=2.0, grad=0.0)"
    assert repr(Value(1e-20)) == "Value(data=1e-20, grad=0.0)"
    assert repr(Value(float("inf"))) == "Value(data=inf, grad=0.0)"


@pytest.mark.parametrize(
    ("make", "op"),
    [
        (lambda a, b: a + b, "+"),
        (lambda a, b: a - b, "-"),
        (lambda a, b: a * b, "*"),
        (lambda a, b: a / b, "/"),
        (lambda a, b: a**b, "**"),
        (lambda a, b: a**2, "**2"),
        (lambda a, b: a**-1, "**-1"),
        (lambda a, b: a**0.5, "**0.5"),
        (lambda a, b: -a, "neg"),
        (lambda a, b: a.tanh(), "tanh"),
        (lambda a, b: a.relu(), "ReLU"),
        (lambda a, b: a.sigmoid(), "sigmoid"),
        (lambda a, b: a.exp(), "exp"),
        (lambda a, b: a.log(), "log"),
        (lambda a, b: a.softplus(), "softplus"),
        (lambda a, b: abs(a), "abs"),
        (lambda a, b: a, ""),
    ],
)
def test_op_names(make, op):
    assert make(Value(2.0), Value(3.0))._op == op


def test_prev_and_children():
    a, b = Value(2.0), Value(3.0)
    c = a - b
    assert c._prev == {a, b}
    assert c._children == (a, b)
    assert (a * a)._prev == {a}
    assert (a**2)._prev == {a}
    assert a._prev == set()
    d = a * 2.0  # a number becomes a constant leaf, as in micrograd
    assert len(d._prev) == 2
    assert sorted(v.data for v in d._prev) == [2.0, 2.0]


def test_same_node_is_equal_and_hashes_equal():
    a = Value(1.0)
    c = a + 1
    child = next(v for v in c._prev if v.data == 1.0 and v == a)
    assert child == a
    assert hash(child) == hash(a)
    assert {a: "x"}[child] == "x"
    assert a != Value(1.0)  # equal data, different nodes


def test_micrograd_style_trace_with_sets():
    x = Value(1.0)
    y = (x * x + x).tanh()
    nodes, edges, stack = set(), set(), [y]
    while stack:
        v = stack.pop()
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                stack.append(child)
    assert len(nodes) == 4  # x, x*x, x*x + x, tanh
    assert len(edges) == 4


def test_comparisons_other_than_identity_are_unsupported():
    with pytest.raises(TypeError):
        _ = Value(1.0) < Value(2.0)
    assert (Value(1.0) == 1.0) is False


def test_in_place_operators_make_new_nodes():
    a = Value(2.0)
    c = a * 3
    before = c
    c += 1
    assert c is not before
    assert c != before
    assert before.data == 6.0
    assert c.data == 7.0
    c -= a
    c *= a
    c /= a
    c **= 2
    c.backward()
    assert c.data == pytest.approx(25.0)
    assert a.grad == pytest.approx(2 * 5 * 2)  # c = (3a + 1 - a)^2 = (2a+1)^2


@pytest.mark.parametrize("other", ["x", None, [1.0], object()])
def test_unsupported_operands_raise_type_error(other):
    a = Value(1.0)
    for op in (
        lambda: a + other,
        lambda: other + a,
        lambda: a - other,
        lambda: other - a,
        lambda: a * other,
        lambda: other * a,
        lambda: a / other,
        lambda: other / a,
        lambda: a**other,
        lambda: other**a,
    ):
        with pytest.raises(TypeError):
            op()


def test_three_argument_pow_is_unsupported():
    with pytest.raises(TypeError):
        pow(Value(2.0), 2, 3)


def test_sum_of_values():
    xs = [Value(float(i)) for i in range(5)]
    s = sum(xs)
    s.backward()
    assert s.data == 10.0
    assert [x.grad for x in xs] == [1.0] * 5


def test_pickle_and_copy_round_trip_as_leaf():
    a = Value(1.5, label="w")
    out = a * 2
    out.backward()
    for clone in (
        pickle.loads(pickle.dumps(a)),
        pickle.loads(pickle.dumps(a, protocol=0)),
        copy.copy(a),
        copy.deepcopy(a),
    ):
        assert (clone.data, clone.grad, clone.label) == (1.5, 2.0, "w")
        assert clone != a
    interior = pickle.loads(pickle.dumps(out))
    assert interior._op == ""
    assert interior.data == 3.0
    assert pickle.loads(pickle.dumps([a, a]))[0].data == 1.5


def test_values_are_not_tracked_by_the_cyclic_gc():
    a = Value(1.0)
    assert not gc.is_tracked(a)
    assert not gc.is_tracked(a * a)


def test_no_instance_dict():
    with pytest.raises(AttributeError):
        Value(1.0).foo = 1


def test_backward_twice_doubles_leaf_gradients_only():
    a, b = Value(2.0), Value(3.0)
    m = a * b
    c = m + a
    c.backward()
    c.backward()
    assert (a.grad, b.grad) == (8.0, 4.0)
    assert m.grad == 1.0
    assert c.grad == 1.0


def test_zero_grad_reaches_every_node():
    a, b = Value(2.0), Value(3.0)
    m = a * b
    c = m + a
    c.backward()
    c.zero_grad()
    assert (a.grad, b.grad, m.grad, c.grad) == (0.0, 0.0, 0.0, 0.0)


def test_backward_of_a_leaf_accumulates_one():
    a = Value(3.0)
    a.backward()
    a.backward()
    assert a.grad == 2.0


def test_topological_order():
    a, b = Value(1.0), Value(2.0)
    s = a + b
    root = s * s
    order = mg._core.topological_order(root)
    assert order[-1] == root
    assert len(order) == 4
    assert order.index(a) < order.index(s) < order.index(root)


def test_docstrings():
    for name in ("tanh", "relu", "sigmoid", "exp", "log", "softplus", "backward", "zero_grad", "add", "mul"):
        assert getattr(Value, name).__doc__, name
    assert "label" in Value.__doc__
    assert math.isclose(Value(0.5).tanh().data, math.tanh(0.5))


def test_fused_neuron_matches_the_python_expression():
    w, b = [Value(0.5), Value(-1.5), Value(2.0)], Value(0.25)
    x = [Value(1.0), 2.0, -0.5]
    for activation in ("relu", "tanh", "sigmoid", "linear"):
        fused = mg._core.neuron(w, b, x, activation)
        plain = sum((wi * xi for wi, xi in zip(w, x)), b)
        if activation != "linear":
            plain = getattr(plain, activation)()
        assert fused.data == plain.data
    mg._core.neuron(w, b, x, "tanh").backward()
    assert x[0].grad != 0
    assert b.grad != 0


def test_fused_neuron_bad_input():
    w, b = [Value(0.5)], Value(0.0)
    with pytest.raises(ValueError, match="activation"):
        mg._core.neuron(w, b, [1.0], "gelu")
    with pytest.raises(ValueError, match="1 weights but got 2 inputs"):
        mg._core.neuron(w, b, [1.0, 2.0])
    with pytest.raises(TypeError, match="weights must hold Values"):
        mg._core.neuron([0.5], b, [1.0])
    with pytest.raises(TypeError, match="inputs must hold Values or real numbers"):
        mg._core.neuron(w, b, [None])
    with pytest.raises(TypeError):
        mg._core.neuron(w, b, 3)


# --- failed assignments change nothing ----------------------------------------------------------------------
# Value's setters and state: a failed assignment must change nothing. to_real() stores its -1.0 error
# marker into the target before reporting the error, and the setters pass the Value's own data/grad slot as
# that target: `v.data = 10**400` raises OverflowError and leaves v.data == -1.0.


class RaisingFloat:
    def __float__(self):
        raise ValueError("no float today")


class RaisingIndex:
    def __index__(self):
        raise KeyError("no index today")


BAD = [
    pytest.param(10**400, OverflowError, id="int-too-large"),
    pytest.param(-(10**400), OverflowError, id="negative-int-too-large"),
    pytest.param(RaisingFloat(), ValueError, id="__float__-raises"),
    pytest.param(RaisingIndex(), KeyError, id="__index__-raises"),
]


@pytest.mark.parametrize(("bad", "error"), BAD)
@pytest.mark.parametrize("field", ["data", "grad"])
def test_a_failed_assignment_leaves_data_and_grad_as_they_were(field, bad, error):
    v = mg.Value(3.0)
    v.grad = 0.5
    with pytest.raises(error):
        setattr(v, field, bad)
    assert (v.data, v.grad) == (3.0, 0.5)


@pytest.mark.parametrize(("bad", "error"), BAD)
def test_a_failed_setstate_leaves_grad_as_it_was(bad, error):
    v = mg.Value(3.0)
    v.grad = 0.5
    with pytest.raises(error):
        v.__setstate__(bad)
    assert v.grad == 0.5


@pytest.mark.skipif(sys.version_info < (3, 10), reason="Py_TPFLAGS_IMMUTABLETYPE came with Python 3.10")
def test_the_value_type_cannot_be_monkeypatched(child):
    # Value is a heap type made by PyType_FromSpec without Py_TPFLAGS_IMMUTABLETYPE: any code can replace
    # its methods for every user in the process (mg.Value.relu = ..., del mg.Value.backward), which float,
    # int and the engine's peers do not allow. In a child: a failure would break relu for later tests.
    out = child(
        """
        import micrograd_cpp as mg
        try:
            mg.Value.relu = lambda self: self
        except TypeError:
            print("refused")
        print(mg.Value(-1.0).relu().data)
        """
    )
    assert out.split() == ["refused", "0.0"]


def test_an_error_raised_while_converting_a_number_argument_is_not_swallowed():
    # value_caster.hpp's load() clears whatever to_real() raised and reports "incompatible function
    # arguments": a KeyboardInterrupt (Ctrl-C) or MemoryError raised in an argument's __float__ is lost.
    class Interrupting:
        def __float__(self):
            raise KeyboardInterrupt

    try:
        mg._core.neuron([mg.Value(1.0)], Interrupting(), [1.0])
    except KeyboardInterrupt:
        return
    except TypeError as e:
        raise AssertionError(f"the KeyboardInterrupt became: {e}") from None
    raise AssertionError("no error at all")
