"""The neuron (nn.Neuron.__call__, _core.neuron) against hostile callers (issue 8, items 1 and 2): iterables
of every kind, inputs whose __float__ mutates, raises or re-enters while C++ is reading, generators whose
nodes die early.

Each scenario runs in a child process: on a broken build it is a use-after-free or a segfault.
"""

import pytest

import micrograd_cpp as mg
from micrograd_cpp.nn import Neuron

# Shared by the children: a linear neuron with weights 1.0, and the leak check.
NEURON = """
import gc, pickle, sys, threading
import micrograd_cpp as mg
from micrograd_cpp import Value, _core
from micrograd_cpp.nn import Neuron

def unit_neuron(n=3):
    neuron = Neuron(n, nonlin=False)
    for w in neuron.w:
        w.data = 1.0
    return neuron

def check_no_leak(base):
    gc.collect()
    assert _core.live_node_count() == base, (_core.live_node_count(), base)
"""


def test_a_neuron_fed_a_generator_gives_the_right_output_and_leaks_no_node(child):
    child(
        NEURON
        + """
n = unit_neuron()
base = _core.live_node_count()
out = n(Value(float(v)) for v in (1, 2, 3))
assert out.data == 6.0, out.data
out.backward()
assert [w.grad for w in n.w] == [1.0, 2.0, 3.0]
del out
check_no_leak(base)
"""
    )


@pytest.mark.parametrize(
    "inputs",
    [
        "map(Value, [1.0, 2.0, 3.0])",
        "(Value(1.0), Value(2.0), Value(3.0))",
        "[Value(1.0), 2.0, Value(3.0)]",
        "iter([1, 2.0, Value(3.0)])",
        "(x for x in [1.0, Value(2.0), 3])",
        "range(1, 4)",
        "iter(dict.fromkeys([1.0, 2.0, 3.0]))",  # a dict itself is refused: order
    ],
)
def test_a_neuron_accepts_any_iterable_python_would(child, inputs):
    child(
        NEURON
        + f"""
n = unit_neuron()
base = _core.live_node_count()
assert n({inputs}).data == 6.0
check_no_leak(base)
out = _core.neuron(iter(n.w), n.b, {inputs}, "linear")  # the weights as an iterator too
assert out.data == 6.0
del out
check_no_leak(base)
"""
    )


def test_an_input_whose_float_clears_the_weights_reads_the_weights_given(child):
    """The issue's repro: a heap-use-after-free before; the weights as they were at the call now."""
    child(
        NEURON
        + """
# Fill the node free list first, so that a freed weight node is handed out again at once.
junk = [Value(float(i)) for i in range(70000)]
del junk
n = unit_neuron()

class ClearsWeights:
    def __float__(self):
        n.w.clear()  # drops the last Python reference to every weight
        junk = [Value(9.0) for _ in range(1000)]  # reuse any node that was freed
        return 1.0

base = _core.live_node_count()
out = n([ClearsWeights(), 2.0, 3.0])
assert out.data == 6.0, out.data
assert n.w == []
weights = [c for c in out._children]  # the graph keeps the weights alive
del weights, out
check_no_leak(base - 3)  # the three weights are gone with the graph
"""
    )


def test_an_input_whose_float_mutates_the_input_list_sees_the_inputs_given(child):
    child(
        NEURON
        + """
n = unit_neuron()
xs = []

class Mutates:
    def __init__(self, action):
        self.action = action
    def __float__(self):
        self.action()
        return 1.0

for action in (xs.clear, lambda: xs.extend([Value(7.0)] * 1000), lambda: xs.__setitem__(slice(None), [None])):
    xs[:] = [Mutates(action), Value(2.0), 3.0]
    base = _core.live_node_count()
    out = n(xs)
    assert out.data == 6.0, out.data
    del out
    xs.clear()
    check_no_leak(base - 1)  # Value(2.0) left with xs
"""
    )


def test_an_input_whose_float_raises_propagates_the_error_and_leaks_nothing(child):
    child(
        NEURON
        + """
n = unit_neuron()

class Fails:
    def __float__(self):
        raise ZeroDivisionError("from __float__")

base = _core.live_node_count()
for bad in ([Value(1.0), 2.0, Fails()], (x for x in [1.0, Fails(), 3.0])):
    try:
        n(bad)
    except ZeroDivisionError as e:
        assert "from __float__" in str(e)
    else:
        raise AssertionError("no error")
check_no_leak(base)

def broken():
    yield Value(1.0)
    raise KeyError("generator broke")

try:
    n(broken())
except KeyError:
    pass
else:
    raise AssertionError("no error")
check_no_leak(base)
"""
    )


def test_an_input_whose_float_calls_back_into_micrograd_cpp_works(child):
    child(
        NEURON
        + """
n = unit_neuron()
depth = [0]

class Reenters:
    def __float__(self):
        depth[0] += 1
        if depth[0] < 50:
            inner = n([Reenters(), 2.0, 3.0])  # the same neuron, re-entered
            inner.backward()
            assert inner.data == 6.0
        one = mg.sum([Value(0.25), 0.75]) * 1.0  # and other calls into the core
        mg.optim.SGD([Value(0.0)], lr=0.1).step()
        return one.data

base = _core.live_node_count()
out = n([Reenters(), 2.0, 3.0])
assert out.data == 6.0
del out
for w in n.w:
    w.grad = 0.0
check_no_leak(base)
"""
    )


def test_an_input_whose_float_lets_another_thread_mutate_the_neuron_is_safe(child):
    child(
        NEURON
        + """
import time
n = unit_neuron(64)
stop = False

def mutate():
    while not stop:
        n.w[:] = [Value(1.0) for _ in range(64)]
        n.w.reverse()

class Yields:
    def __float__(self):
        time.sleep(0)  # lets the other thread run in the middle of the conversion
        return 1.0

sys.setswitchinterval(1e-5)  # the mutator gives the GIL back quickly
t = threading.Thread(target=mutate)
t.start()
try:
    for _ in range(200):
        assert n([Yields()] * 64).data == 64.0
finally:
    stop = True
    t.join()
"""
    )


def test_a_neuron_fed_an_endless_iterator_refuses_it_after_one_input_too_many(child):
    child(
        NEURON
        + """
import itertools
n = unit_neuron()
base = _core.live_node_count()
for endless in (itertools.count(), itertools.repeat(Value(1.0)), map(float, itertools.count())):
    try:
        n(endless)
    except ValueError as e:
        assert "3 weights but got more inputs" in str(e), e
    else:
        raise AssertionError("accepted")
assert next(endless) == 4.0  # read one item past the three weights, no further
try:
    _core.neuron(itertools.count(), n.b, [1.0], "linear")  # weights: refused at the first non-Value
except TypeError as e:
    assert "not int (at index 0)" in str(e), e
else:
    raise AssertionError("accepted")
check_no_leak(base)
""",
        timeout=60,
    )


def test_a_neuron_refuses_bad_inputs_cleanly(child):
    child(
        NEURON
        + """
n = unit_neuron()
base = _core.live_node_count()
cases = [
    (5, TypeError), (None, TypeError), ("abc", TypeError), ([1.0, 2.0], ValueError),
    ([1.0, 2.0, 3.0, 4.0], ValueError), ([1.0, 2.0, 1j], TypeError), ([1.0, 2.0, [3.0]], TypeError),
    ([1.0, 2.0, 10**400], OverflowError),
]
for bad, error in cases:
    try:
        n(bad)
    except error:
        pass
    else:
        raise AssertionError(f"{bad!r} accepted")
for bad_weights in ([1.0, 2.0, 3.0], [Value(1.0), "w", Value(1.0)], 7):
    try:
        _core.neuron(bad_weights, n.b, [1.0, 2.0, 3.0], "linear")
    except TypeError:
        pass
    else:
        raise AssertionError(f"weights {bad_weights!r} accepted")
try:
    _core.neuron(n.w, n.b, [1.0, 2.0, 3.0], "gelu")
except ValueError:
    pass
else:
    raise AssertionError("activation accepted")
check_no_leak(base)
"""
    )


# --- the neuron's operands freed while it reads them --------------------------------------------------------
# _core.neuron (nn.Neuron.__call__) keeps raw node pointers of the Values in the temporary list that
# PySequence_Fast makes of a generator, and that list dies when NodeList's constructor returns: the nodes are freed
# before micrograd::neuron reads them (issue 8, item 1, still open on main at ecc9ffd). With the node free list
# full, the freed nodes go back to malloc and ASan reports heap-use-after-free in micrograd::new_node.


def test_a_neuron_called_on_a_generator_of_values_gives_the_right_value():
    n = Neuron(3, nonlin=False)
    for w in n.w:
        w.data = 1.0
    assert n(mg.Value(float(v)) for v in (1, 2, 3)).data == 6.0  # was 0.0


def test_a_neuron_on_a_generator_of_weights_reads_no_freed_node(child):
    out = child(
        """
        import micrograd_cpp as mg
        junk = [mg.Value(float(i)) for i in range(70_000)]
        def weights():
            for _ in range(3):
                yield mg.Value(1.0)
            junk.clear()  # fills the node free list: the weights, freed next, go back to malloc
        print(mg._core.neuron(weights(), mg.Value(0.0), [1.0, 2.0, 3.0]).data)
        """,
        timeout=120,
    )
    assert out.split() == ["6.0"]  # 2.8e-309 (release) or heap-use-after-free (ASan)


def test_a_neuron_whose_input_clears_the_weights_reads_no_freed_node(child):
    out = child(
        """
        import micrograd_cpp as mg
        w = [mg.Value(1.0) for _ in range(3)]
        class Evil:
            def __float__(self):
                w.clear()
                return 3.0
        print(mg._core.neuron(w, mg.Value(0.0), [1.0, 2.0, Evil()]).data)
        """,
        timeout=120,
    )
    assert out.split() == ["6.0"]  # was 18.0: the freed weights' nodes reused for the constants
