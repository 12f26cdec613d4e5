"""mg.grad and mg.hessian as a user calls them: what they return, that they touch no .grad, their
arguments, the answers they share with Value.backward(), deep graphs, Ctrl-C and running out of memory."""

from __future__ import annotations

import contextlib
import gc
import math
import random
import signal
import sys

import pytest
from op_reference import CASES
from support import rooted, same_bits

import micrograd_cpp as mg
from micrograd_cpp import Value, _core


def same_value(a: float, b: float) -> bool:
    """Equal, a nan to any nan; a zero to a zero of either sign (a gradient graph's sum starts from its
    first term, backward()'s from 0.0: -0.0 there is 0.0 here)."""
    return a == b or (math.isnan(a) and math.isnan(b))


def random_steps(rng: random.Random, count: int) -> list[tuple[str, list[int]]]:
    return [(rng.choice(sorted(CASES)), [rng.randrange(10**6) for _ in range(6)]) for _ in range(count)]


# --- what comes back -------------------------------------------------------------------------------------


def test_without_create_graph_each_result_is_a_new_leaf_holding_the_number():
    x, y = Value(3.0), Value(-2.0)
    gx, gy = mg.grad(x * y + x, [x, y])
    assert (gx.data, gy.data) == (-1.0, 3.0)
    for g in (gx, gy):
        assert (g._op, g._children) == ("", ())
        assert g not in (x, y)


def test_with_create_graph_each_result_is_a_node_of_a_new_graph_differentiable_again():
    x = Value(0.7)
    (dy,) = mg.grad(x.tanh() * x, x, create_graph=True)
    t = math.tanh(0.7)
    assert dy.data == pytest.approx(t + 0.7 * (1 - t * t), rel=1e-15)
    assert dy._op != ""
    dy.backward()  # the second derivative, into x.grad
    assert x.grad == pytest.approx(2 * (1 - t * t) - 2 * 0.7 * t * (1 - t * t), rel=1e-13)
    (d2,) = mg.grad(dy, [x])
    assert d2.data == pytest.approx(x.grad, rel=1e-15)


def test_a_result_is_never_an_input_a_weight_or_a_node_of_the_outputs_graph():
    """d(x*y)/dx is y: returned as a node of its own (1 * y), so that setting its data or label does not
    change y; likewise d(x + y)/dx, the constant 1, is a leaf of its own for each input."""
    x, y, w = Value(2.0), Value(5.0), Value(3.0)
    gx, gy = mg.grad(x * y, [x, y], create_graph=True)
    assert gx != y
    assert gy != x
    assert (gx.data, gy.data) == (5.0, 2.0)
    gx.data = 100.0
    assert y.data == 5.0
    gx, gy = mg.grad(x + y, [x, y], create_graph=True)
    assert gx != gy
    assert (gx.data, gy.data) == (1.0, 1.0)
    (gw,) = mg.grad(w, [w], [w], create_graph=True)  # d(w)/dw weighted by w: w, as a new node
    assert gw != w
    assert gw.data == 3.0
    (g,) = mg.grad(gw, [w])
    assert g.data == 1.0


def test_inputs_may_be_any_nodes_of_the_graph_and_may_repeat():
    x = Value(1.5)
    h = x * x
    y = h.tanh() + h
    gh, gx, gh2 = mg.grad(y, [h, x, h])
    t = math.tanh(2.25)
    assert gh.data == gh2.data == pytest.approx(1 - t * t + 1, rel=1e-15)
    assert gx.data == pytest.approx(gh.data * 3.0, rel=1e-15)
    (one,) = mg.grad(y, [y])
    assert one.data == 1.0


def test_grad_outputs_weight_each_output_and_several_outputs_add_up():
    x = Value(0.5)
    a, b = x * x, x.exp()
    (g,) = mg.grad([a, b], [x], [2.0, -1.0])
    assert g.data == pytest.approx(2 * 2 * 0.5 - math.exp(0.5), rel=1e-15)
    (g1,) = mg.grad([a, a], [x])  # the same output twice: twice its gradient
    assert g1.data == 2.0
    (g2,) = mg.grad(a, [x], 3)  # one number for one output Value
    assert g2.data == 3.0
    w = Value(4.0)
    (gw,) = mg.grad(a, [x], [w], create_graph=True)  # a Value as the weight: the result depends on it
    assert gw.data == 4.0
    (dw,) = mg.grad(gw, [w])
    assert dw.data == 1.0


def test_an_input_the_outputs_do_not_depend_on_is_a_value_error_or_with_allow_unused_a_zero():
    x, y = Value(1.0), Value(2.0)
    with pytest.raises(ValueError, match=r"inputs\[1\] is not used by the outputs"):
        mg.grad(x * x, [x, y])
    gx, gy = mg.grad(x * x, [x, y], allow_unused=True)
    assert (gx.data, gy.data) == (2.0, 0.0)
    gx, gy = mg.grad(x * x, [x, y], create_graph=True, allow_unused=True)
    assert (gy.data, gy._op) == (0.0, "")
    # Used, with a derivative that is 0 (sign's, the mask of relu below 0): 0 without allow_unused.
    (g,) = mg.grad(_core._sign(x), [x])
    assert g.data == 0.0
    (g,) = mg.grad((x - 5.0).relu(), [x], create_graph=True)
    assert g.data == 0.0


@pytest.mark.parametrize("create_graph", [False, True])
def test_no_grad_is_read_or_written(create_graph):
    rng = random.Random(1)
    leaves = [Value(rng.uniform(0.5, 1.5)) for _ in range(3)]
    root = rooted(leaves, random_steps(rng, 30))
    nodes = _core.topological_order(root)
    for i, node in enumerate(nodes):
        node.grad = float(i) - 7.25  # anything: a gradient that depended on these would be wrong
    first = [g.data for g in mg.grad(root, leaves, create_graph=create_graph, allow_unused=True)]
    assert [node.grad for node in nodes] == [float(i) - 7.25 for i in range(len(nodes))]
    root.zero_grad()
    assert [g.data for g in mg.grad(root, leaves, create_graph=create_graph, allow_unused=True)] == first


def test_the_numbers_are_those_of_value_backward_bit_for_bit_and_so_are_the_graphs():
    """Without create_graph, the order and the sums of backward(); with it, the gradient graph computes
    the same numbers (its sums are backward's, from 0.0 and left to right)."""
    rng = random.Random(2)
    for _ in range(40):
        leaves = [Value(rng.uniform(-2.0, 2.0)) for _ in range(4)]
        root = rooted(leaves, random_steps(rng, rng.randrange(1, 40)))
        root.backward()
        numbers = mg.grad(root, leaves, allow_unused=True)
        graphs = mg.grad(root, leaves, create_graph=True, allow_unused=True)
        for v, n, g in zip(leaves, numbers, graphs):
            assert same_bits(n.data, v.grad)
            assert same_value(g.data, v.grad)


def test_hessian_rows_are_gradients_of_the_gradient():
    x, y, z = Value(1.0), Value(2.0), Value(3.0)
    assert mg.hessian(x * x * y, [x, y]) == [[4.0, 2.0], [2.0, 0.0]]
    assert mg.hessian(x * x * y, [x, y, z]) == [[4.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert mg.hessian(x.relu() + abs(y), x) == [[0.0]]  # relu'' = abs'' = 0
    assert mg.hessian(z, [z]) == [[0.0]]


# --- arguments ------------------------------------------------------------------------------------------


def test_bad_arguments_are_type_and_value_errors():
    x = Value(1.0)
    y = x * 2.0
    with pytest.raises(TypeError, match="outputs must be a Value or a sequence"):
        mg.grad(1.0, [x])
    with pytest.raises(TypeError, match=r"outputs must hold Values, not float \(at index 1\)"):
        mg.grad([y, 2.0], [x])
    with pytest.raises(TypeError, match="inputs must be a Value or a sequence"):
        mg.grad(y, 3)
    with pytest.raises(TypeError, match=r"inputs must hold Values, not str"):
        mg.grad(y, "x")
    with pytest.raises(TypeError, match="grad_outputs must hold Values or real numbers, not str"):
        mg.grad([y], [x], ["1"])
    with pytest.raises(TypeError, match="grad_outputs must be a Value or a sequence"):
        mg.grad([y], [x], object())
    with pytest.raises(ValueError, match="grad_outputs has 2 items for 1 outputs"):
        mg.grad(y, [x], [1.0, 2.0])
    with pytest.raises(ValueError, match="grad_outputs has 0 items for 1 outputs"):
        mg.grad([y], [x], [])
    with pytest.raises(ValueError, match="outputs is empty"):
        mg.grad([], [x])
    with pytest.raises(ValueError, match="inputs is empty"):
        mg.grad(y, [])
    with pytest.raises(TypeError):
        mg.grad(y, [x], None, True)  # create_graph and allow_unused are keyword-only
    with pytest.raises(TypeError, match="output must be a Value"):
        mg.hessian([y], [x])
    with pytest.raises(TypeError, match="inputs must hold Values"):
        mg.hessian(y, [x, 1.0])
    with pytest.raises(ValueError, match="inputs is empty"):
        mg.hessian(y, [])


def test_any_iterable_of_values_is_read_and_held_for_the_call():
    x = Value(3.0)
    (g,) = mg.grad((v for v in [x * x]), iter([x]), (w for w in [2]))
    assert g.data == 12.0
    assert mg.hessian(x * x * x, (v for v in [x])) == [[18.0]]

    def raises():
        yield x
        raise ZeroDivisionError("from the generator")

    with pytest.raises(ZeroDivisionError):
        mg.grad(x * x, raises())


# --- depth, memory, Ctrl-C -------------------------------------------------------------------------------


def test_create_graph_over_a_million_node_chain_works_and_so_does_its_second_derivative():
    x = Value(0.5)
    y = x
    for _ in range(500_000):
        y = y * 0.9999995 + 1e-7  # 1,000,000 nodes (and their constant leaves)
    (dy,) = mg.grad(y, [x], create_graph=True)
    assert dy.data == pytest.approx(0.9999995**500_000, rel=1e-9)
    (d2,) = mg.grad(dy, [x], allow_unused=True)  # linear in x: dy depends on no x
    assert d2.data == 0.0
    z = x
    for _ in range(200_000):
        z = (z * 0.5).tanh()  # 400,000 nodes, second derivative through all of them
    (dz,) = mg.grad(z, [x], create_graph=True)
    dz.backward()
    (d2,) = mg.grad(dz, [x])
    assert d2.data == x.grad
    del dy, dz, y, z


def test_nothing_is_kept_after_the_results_are_gone():
    before = _core.live_node_count()
    x = Value(0.3)
    y = (x * x).tanh() * x.exp()
    for create_graph in (False, True):
        results = mg.grad(y, [x], create_graph=create_graph)
        mg.hessian(y, [x])
        del results
    with pytest.raises(ValueError, match="is not used"):
        mg.grad(y, [x, Value(1.0)], create_graph=True)
    del x, y
    assert _core.live_node_count() == before


def tanh_chain(steps: int) -> tuple[Value, Value]:
    x = Value(0.5)
    y = x
    for _ in range(steps):
        y = (y * 1.0000001).tanh()
    return x, y


@contextlib.contextmanager
def alarm(handler, seconds: float):
    """handler runs on SIGALRM, first after seconds (then as it sets the timer again)."""
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_ctrl_c_stops_a_long_build_and_changes_nothing():
    x, y = tanh_chain(1_000_000)
    before = _core.live_node_count()

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    def until_interrupted():
        for _ in range(1000):  # until the alarm lands inside one
            mg.grad(y, [x], create_graph=True)

    with alarm(interrupt, 0.02), pytest.raises(KeyboardInterrupt):
        until_interrupted()
    assert _core.live_node_count() == before
    (g,) = mg.grad(y, [x])
    y.backward()
    assert g.data == x.grad


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_a_signal_handler_may_take_gradients_while_a_long_grad_runs():
    x, y = tanh_chain(300_000)
    (expected,) = mg.grad(y, [x], create_graph=True)
    seen = []

    def handler(signum, frame):  # runs inside the long call's Ctrl-C check
        a = Value(2.0)
        seen.append(mg.grad(a * a * a, [a], create_graph=True)[0].data)
        signal.setitimer(signal.ITIMER_REAL, 0.002)

    with alarm(handler, 0.002):
        results = [mg.grad(y, [x], create_graph=True)[0].data for _ in range(5)]
    assert seen
    assert set(seen) == {12.0}
    assert results == [expected.data] * 5


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_a_signal_handler_that_drops_the_callers_values_changes_nothing():
    """The graph is held for the call: a handler that empties the lists given (their Values' last owners)
    while grad runs leaves it the whole graph."""
    x, y = tanh_chain(300_000)
    expected = mg.grad(y, [x])[0].data  # a number: nothing of the graph kept
    outputs, inputs = [y], [x]
    del x, y

    def handler(signum, frame):
        outputs.clear()
        inputs.clear()
        gc.collect()

    with alarm(handler, 0.002):
        (g,) = mg.grad(outputs, inputs, create_graph=True)
    assert outputs == []
    assert g.data == expected


OOM = """
import resource
import micrograd_cpp as mg
from micrograd_cpp import Value, _core

def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

x = Value(0.5)
y = x
for _ in range(300_000):
    y = (y * 1.0000001 + 1e-9).tanh()
y.backward()
expected = x.grad
x.grad = 0.0
before = _core.live_node_count()
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
failed = 0
for margin in (1, 4, 16, 64):  # MiB of address space left: each build fails somewhere else
    resource.setrlimit(resource.RLIMIT_AS, (vm_size() + margin * 2**20, hard))
    try:
        mg.grad(y, [x], create_graph=True)
    except MemoryError:
        failed += 1
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert _core.live_node_count() == before, (margin, _core.live_node_count() - before)
    assert x.grad == 0.0
assert failed >= 2, failed
(g,) = mg.grad(y, [x], create_graph=True)
assert g.data == expected, (g.data, expected)
y.backward()
assert x.grad == expected
print("ok")
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self and sets RLIMIT_AS")
@pytest.mark.skipif(_core.sanitized, reason="ASan reserves terabytes of address space (no RLIMIT_AS)")
def test_running_out_of_memory_while_building_leaves_every_graph_as_it_was(child):
    assert child(OOM).strip() == "ok"
