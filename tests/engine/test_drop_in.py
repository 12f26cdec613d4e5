"""Issue 17: micrograd's and microgpt's own idioms on micrograd_cpp.Value: node identity, _backward,
_local_grads, both constructors, custom ops both ways, the hints, the notebook display."""

import gc
import math
import pickle

import pytest
from micrograd.engine import Value as MgValue

import micrograd_cpp as mg
from micrograd_cpp import Value, viz


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


# --- node identity ---------------------------------------------------------------------------------------


def test_every_way_of_reaching_a_node_gives_the_same_object():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = c + a
    assert d._children[0] is c
    assert d._children[1] is a
    assert c._children[0] is a
    assert c._children[1] is b
    assert {id(v) for v in c._prev} == {id(a), id(b)}
    assert d._children[0]._children[0] is a
    inner = d._children[0]  # an interior node reached first through the graph
    assert d._children[0] is inner
    graph = mg.Graph(d, inputs=[a, b])
    assert graph.outputs[0] is d
    assert graph.inputs[0] is a
    opt = mg.optim.SGD([a, b], lr=0.1)
    assert opt.params[0] is a


def test_an_interior_node_keeps_its_object_while_python_holds_it():
    a = Value(1.0)
    d = (a * 2.0).tanh()
    first = d._children[0]
    ids = {id(first)}
    for _ in range(5):
        ids.add(id(d._children[0]))
    assert ids == {id(first)}


def trace(root):
    """micrograd's trace_graph.ipynb: nodes and edges of a graph, by object."""
    nodes, edges = set(), set()

    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)

    build(root)
    return nodes, edges


def id_keyed_drawing(root):
    """The drawing idiom of trace_graph.ipynb and the lecture: node names are str(id(n))."""
    nodes, edges = trace(root)
    drawn, arrows = set(), []
    for n in nodes:
        uid = str(id(n))
        drawn.add(uid)
        if n._op:
            drawn.add(uid + n._op)
            arrows.append((uid + n._op, uid))
    for n1, n2 in edges:
        arrows.append((str(id(n1)), str(id(n2)) + n2._op))
    return drawn, arrows


@pytest.mark.parametrize("engine", [Value, MgValue])
def test_the_id_keyed_drawing_has_no_phantom_nodes(engine):
    a, b = engine(2.0), engine(3.0)
    f = (a * b) * (a + b)
    drawn, arrows = id_keyed_drawing(f)
    assert len(arrows) == 9  # 6 edges, 3 op nodes
    assert all(tail in drawn and head in drawn for tail, head in arrows)
    nodes, _ = trace(f)
    assert len(nodes) == 5


# --- _backward and _local_grads --------------------------------------------------------------------------


def lecture_neuron(engine):
    x1, x2 = engine(2.0), engine(0.0)
    w1, w2 = engine(-3.0), engine(1.0)
    b = engine(6.8813735870195432)
    x1w1, x2w2 = x1 * w1, x2 * w2
    x1w1x2w2 = x1w1 + x2w2
    n = x1w1x2w2 + b
    o = n.tanh()
    return [x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o]


def test_manual_backward_steps_as_in_the_lecture():
    x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o = lecture_neuron(Value)
    o.grad = 1.0
    o._backward()
    assert n.grad == pytest.approx(0.5)
    n._backward()
    assert b.grad == n.grad
    assert x1w1x2w2.grad == n.grad
    b._backward()  # a leaf: nothing
    x1w1x2w2._backward()
    x2w2._backward()
    x1w1._backward()
    assert (x1.grad, w1.grad, x2.grad, w2.grad) == pytest.approx((-1.5, 1.0, 0.5, 0.0))


def build_topo(v, topo, visited):
    if v not in visited:
        visited.add(v)
        for child in v._prev:
            build_topo(child, topo, visited)
        topo.append(v)


def test_a_users_topological_loop_reproduces_backward_bit_for_bit():
    manual = lecture_neuron(Value)
    o = manual[-1]
    topo = []
    build_topo(o, topo, set())
    o.grad = 1.0
    for node in reversed(topo):
        node._backward()
    auto = lecture_neuron(Value)
    auto[-1].backward()
    assert [v.grad for v in manual] == [v.grad for v in auto]


def test_backward_step_adds_once_per_call():
    a = Value(3.0)
    y = a * a
    y.grad = 2.0
    y._backward()
    assert a.grad == 12.0  # 2 * 3 for each operand
    y._backward()
    assert a.grad == 24.0


def test_local_grads_per_operand_in_children_order():
    a, b = Value(2.0), Value(-3.0)
    assert a._local_grads == ()
    assert (a * b)._local_grads == (-3.0, 2.0)
    assert (a / b)._local_grads == pytest.approx((1 / -3.0, -(2.0 / -3.0) / -3.0))
    assert (a * a)._local_grads == (2.0, 2.0)
    assert a.tanh()._local_grads == pytest.approx((1 - math.tanh(2.0) ** 2,))
    assert (a**3)._local_grads == (12.0,)
    assert mg.dot([a, b], [b, a])._local_grads == (-3.0, 2.0, 2.0, -3.0)


def test_a_microgpt_style_backward_over_local_grads_matches_backward():
    a, b = Value(0.7), Value(-1.3)
    loss = ((a * b).tanh() + a.exp() * b - (a / b)) ** 2
    topo = []
    build_topo(loss, topo, set())
    loss.grad = 1.0
    for v in reversed(topo):
        for child, local in zip(v._children, v._local_grads):
            child.grad += local * v.grad
    manual = (a.grad, b.grad)
    a.grad = b.grad = 0.0
    loss.backward()
    assert manual == pytest.approx((a.grad, b.grad), rel=1e-15)


# --- the constructors -----------------------------------------------------------------------------------


def test_micrograds_constructor_positional_and_keyword():
    a = Value(2.0, (), "", "a")
    assert (a.data, a.label, a._op, a._children) == (2.0, "a", "", ())
    b = Value(-3.0, label="b")
    c = Value(5.0, _children=(a, b), _op="+")
    assert c._op == "+"
    assert c._children == (a, b)
    assert c._children[0] is a
    assert Value(2.0, ()).data == 2.0
    assert Value(2.0, "x").label == "x"  # Value(data, label): this package's own form
    assert Value(1.0, _op="input")._op == "input"


def test_microgpts_constructor_positional_and_keyword():
    x = Value(0.5)
    t = math.tanh(0.5)
    y = Value(t, (x,), (1 - t**2,))
    assert y._children == (x,)
    assert y._local_grads == (1 - t**2,)
    z = Value(t, children=(x,), local_grads=[1 - t**2])
    z.backward()
    assert x.grad == 1 - t**2
    assert y._op == "local_grads"


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((1.0, (1.0,), "op"), {}, TypeError, "children must be Values"),
        ((1.0, (Value(1.0),), (1.0, 2.0)), {}, ValueError, "2 local_grads for 1 children"),
        ((1.0, (Value(1.0),), ("a",)), {}, TypeError, "local_grads"),
        ((1.0, (Value(1.0),), (Value(2.0),)), {}, TypeError, "local_grads must be numbers"),
        ((1.0, 5), {}, TypeError, "children must be a sequence"),
        ((1.0,), {"_children": (), "children": ()}, TypeError, "both _children and children"),
        ((1.0, (), 3), {"local_grads": ()}, TypeError, "multiple values"),
        ((1.0,), {"_op": 3}, TypeError, "_op must be a str"),
        ((1.0, (), "", "a", 5), {}, TypeError, "at most 4"),
    ],
)
def test_bad_constructor_input_is_a_clear_error(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        Value(*args, **kwargs)


# --- custom ops: a Python closure (micrograd) -------------------------------------------------------------


def cube(self):
    out = Value(self.data**3, (self,), "cube")

    def _backward():
        self.grad += 3 * self.data**2 * out.grad

    out._backward = _backward
    return out


def mg_cube(self):
    out = MgValue(self.data**3, (self,), "cube")

    def _backward():
        self.grad += 3 * self.data**2 * out.grad

    out._backward = _backward
    return out


def test_a_closure_op_backpropagates_as_in_micrograd():
    for x_data in (1.5, -0.25):
        x, mx = Value(x_data), MgValue(x_data)
        y = (cube(x) * x + cube(x) * -2.0).relu() + cube(x) ** 2
        my = (mg_cube(mx) * mx + mg_cube(mx) * -2.0).relu() + mg_cube(mx) ** 2
        y.backward()
        my.backward()
        assert y.data == pytest.approx(my.data, rel=1e-15)
        assert x.grad == pytest.approx(mx.grad, rel=1e-14)


def test_a_closure_node_draws_prints_and_pickles_like_any_node():
    x = Value(2.0, label="x")
    y = cube(x)
    assert y._op == "cube"
    assert y._children == (x,)
    assert y._children[0] is x
    assert repr(y) == "Value(data=8.0, grad=0.0)"
    assert y._local_grads is None  # its derivative is its code's
    assert y._backward.__name__ == "_backward"
    back = pickle.loads(pickle.dumps(y))
    assert (type(back), back.data, back._op) == (Value, 8.0, "")
    assert isinstance(y, Value)
    assert y in viz.trace(y * 2)[0]
    assert y in trace(y * 2)[0]


def test_a_closure_without_backward_contributes_nothing():
    x = Value(2.0)
    y = Value(8.0, (x,), "cube") * 3
    y.backward()
    assert x.grad == 0.0


def test_an_exception_in_a_closure_propagates_and_leaves_the_graph_consistent():
    x = Value(1.5)
    calls = []

    def boom():
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("in the user's backward")
        x.grad += 2.0 * y_inner.grad

    y_inner = Value(x.data * 2, (x,), "double")
    y_inner._backward = boom
    loss = y_inner * x
    x.grad = 0.25
    with pytest.raises(ZeroDivisionError, match="user's backward"):
        loss.backward()
    assert x.grad == 0.25  # no gradient landed
    loss.backward()  # later backward() exact
    assert x.grad == 0.25 + (3.0 + 2.0 * 1.5)
    reference = Value(1.5)
    (reference * 2 * reference).backward()
    assert x.grad - 0.25 == reference.grad


def test_assigning_backward_is_refused_where_it_cannot_apply():
    a, b = Value(1.0), Value(2.0)
    with pytest.raises(TypeError, match="built-in op"):
        (a * b)._backward = lambda: None
    with pytest.raises(TypeError, match="leaf"):
        a._backward = lambda: None
    custom = Value(3.0, (a,), "op")
    with pytest.raises(TypeError, match="callable"):
        custom._backward = 5
    with pytest.raises(TypeError, match="built-in op"):
        Value(1.0, (a,), (1.0,))._backward = lambda: None


def test_closure_cycles_are_collected_and_rss_stays_flat():
    gc.collect()
    nodes = mg._core.live_node_count()
    for _ in range(20_000):  # warm the allocator
        cube(Value(1.0))
    gc.collect()
    before = rss_kib()
    for _ in range(200_000):
        y = cube(Value(1.0))
        y.backward()
    del y
    gc.collect()
    assert mg._core.live_node_count() <= nodes
    if not mg._core.sanitized:  # ASan's allocator keeps freed memory: RSS says nothing there
        assert rss_kib() - before < 4096


def test_grad_and_graph_refuse_a_closure_node_with_a_type_error():
    x = Value(0.5)
    y = cube(x) * x
    with pytest.raises(TypeError, match="'cube'"):
        mg.Graph(y, inputs=[x])
    with pytest.raises(TypeError, match="Python code"):
        mg.grad(y, [x], create_graph=True)
    with pytest.raises(TypeError, match="Python code"):
        mg.grad(y, [x])


# --- custom ops: local gradients (microgpt) ---------------------------------------------------------------


def local_tanh(x):
    t = math.tanh(x.data)
    return Value(t, (x,), (1 - t**2,))


def test_local_grads_match_the_built_in_op():
    x, ref = Value(0.3), Value(0.3)
    y = local_tanh(local_tanh(x) * x)
    y.backward()
    (ref.tanh() * ref).tanh().backward()
    assert x.grad == ref.grad


def test_a_deep_chain_of_local_grads_nodes_needs_no_recursion():
    x = Value(0.1)
    y = x
    for _ in range(200_000):
        y = Value(y.data, (y,), (1.0,))
    y.backward()
    assert x.grad == 1.0
    del y
    gc.collect()


def test_local_grads_nodes_are_constants_under_create_graph():
    x = Value(0.5)
    y = local_tanh(x)
    (dy,) = mg.grad(y, [x], create_graph=True)
    assert dy.data == pytest.approx(1 - math.tanh(0.5) ** 2)
    (d2y,) = mg.grad(dy, [x], allow_unused=True)
    assert d2y.data == 0.0  # the given local derivative is a constant
    with pytest.raises(TypeError, match="local gradients"):
        mg.Graph(y, inputs=[x])


# --- hints and display ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "habit",
    [
        lambda v: v < Value(2.0),
        lambda v: v >= 1.0,
        float,
        int,
        round,
        lambda v: round(v, 2),
        lambda v: v.item(),
    ],
)
def test_habits_get_a_type_error_that_mentions_data(habit):
    with pytest.raises(TypeError, match=r"\.data"):
        habit(Value(1.5))


def test_format_formats_data():
    v = Value(18.4321)
    assert f"{v:.2f}" == "18.43"
    assert format(v, "") == str(v)


def test_a_large_graph_shows_its_repr_in_a_notebook(monkeypatch):
    x = Value(1.0)
    y = x
    for _ in range(200):
        y = y * 1.01
    assert y._repr_svg_() is None
    monkeypatch.setattr(viz, "DISPLAY_MAX_NODES", 0)
    assert Value(1.0)._repr_svg_() is None
    monkeypatch.setattr(viz, "DISPLAY_MAX_NODES", -1)
    with pytest.raises(TypeError, match="DISPLAY_MAX_NODES"):
        Value(1.0)._repr_svg_()


def test_the_display_limit_is_100_values():
    assert viz.DISPLAY_MAX_NODES == 100
