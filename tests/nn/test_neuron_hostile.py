"""The binding layer against hostile callers (issue 8, items 1 and 2): iterables of every kind,
callbacks that mutate or re-enter while C++ is reading, and optimizers that never ran __init__.

Each scenario runs in a child process: on a broken build it is a use-after-free or a segfault.
"""

import pytest

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
        "dict.fromkeys([1.0, 2.0, 3.0])",
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


OPTIMIZERS = """
import copy, pickle
import micrograd_cpp as mg
from micrograd_cpp.optim import SGD, Adam, Optimizer

def refused(call, what):
    try:
        call()
    except TypeError as e:
        assert "__init__" in str(e) or "incompatible" in str(e), (what, e)
    else:
        raise AssertionError(f"{what}: no TypeError")

SETTABLE = {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.0, "nesterov": False, "eps": 1e-8,
            "betas": (0.9, 0.99)}

def members(cls):
    for name in sorted(set(dir(cls)) - set(dir(object))):
        if name.startswith("_"):
            continue
        yield name, getattr(cls, name)

def check_every_member_refuses(obj):
    cls = type(obj)
    for name, member in members(cls):
        if isinstance(member, property):
            refused(lambda: getattr(obj, name), f"{cls.__name__}.{name} get")
            if member.fset is not None:
                refused(lambda: setattr(obj, name, SETTABLE[name]), f"{cls.__name__}.{name} set")
        else:
            refused(lambda: getattr(obj, name)(), f"{cls.__name__}.{name}()")
    if "__repr__" in vars(cls):  # Optimizer itself keeps object's repr
        refused(lambda: repr(obj), f"repr({cls.__name__})")
"""


@pytest.mark.parametrize("cls", ["SGD", "Adam", "Optimizer"])
def test_every_member_of_an_optimizer_made_with_new_raises_type_error(child, cls):
    child(OPTIMIZERS + f"check_every_member_refuses({cls}.__new__({cls}))")


@pytest.mark.parametrize("cls", ["SGD", "Adam"])
def test_an_unpickled_optimizer_raises_type_error_instead_of_crashing(child, cls):
    child(
        OPTIMIZERS
        + f"""
opt = pickle.loads(b'\\x80\\x02cmicrograd_cpp._core\\n{cls}\\n)\\x81.')
assert type(opt) is {cls}
check_every_member_refuses(opt)
"""
    )


def test_the_issues_optimizer_repros_raise_type_error(child):
    child(
        OPTIMIZERS
        + """
refused(lambda: SGD.__new__(SGD).step(), "SGD.__new__(SGD).step()")
refused(lambda: pickle.loads(b'\\x80\\x02cmicrograd_cpp._core\\nSGD\\n)\\x81.').step(), "unpickled SGD")
refused(lambda: Adam.__new__(Adam).step(), "Adam.__new__(Adam).step()")
refused(lambda: Optimizer.__new__(SGD).zero_grad(), "Optimizer.__new__(SGD).zero_grad()")
"""
    )


def test_an_optimizer_made_with_new_works_once_init_is_called(child):
    child(
        OPTIMIZERS
        + """
p = mg.Value(1.0)
p.grad = 1.0
opt = SGD.__new__(SGD)
opt.__init__([p], lr=0.5)
opt.step()
assert p.data == 0.5
opt.zero_grad()
assert p.grad == 0.0
"""
    )


def test_python_subclasses_of_optimizers_cannot_skip_init(child):
    child(
        OPTIMIZERS
        + """
class Lazy(SGD):
    def __init__(self):
        pass  # never calls SGD.__init__

try:
    Lazy()
except TypeError:
    pass
else:
    raise AssertionError("Lazy() accepted")
check_every_member_refuses(Lazy.__new__(Lazy))

class Both(SGD, Adam):  # two C++ bases: both must be initialised
    pass

check_every_member_refuses(Both.__new__(Both))
"""
    )


def test_optimizers_refuse_pickling_and_copying_with_type_error(child):
    child(
        OPTIMIZERS
        + """
# Protocols 0 and 1 went through copyreg, which called pybind11's base type: std::terminate.
for opt in (Adam([mg.Value(1.0)], lr=0.1), SGD([mg.Value(1.0)], lr=0.1), SGD.__new__(SGD), Adam.__new__(Adam)):
    attempts = [lambda p=p: pickle.dumps(opt, p) for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    for attempt in [*attempts, lambda: copy.copy(opt), lambda: copy.deepcopy(opt), lambda: opt.__reduce_ex__(0)]:
        try:
            attempt()
        except TypeError:
            pass
        else:
            raise AssertionError("an optimizer was copied without its state")
"""
    )


def test_optimizer_params_may_be_any_iterable_and_are_held_strongly(child):
    child(
        OPTIMIZERS
        + """
import gc
base = mg._core.live_node_count()
opt = SGD((mg.Value(float(i)) for i in range(3)), lr=1.0)  # nobody else holds these Values
gc.collect()
for p in opt.params:
    p.grad = 1.0
opt.step()
assert [p.data for p in opt.params] == [-1.0, 0.0, 1.0]
del opt, p
assert mg._core.live_node_count() == base

class Mutating:
    def __init__(self):
        self.items = [mg.Value(1.0), mg.Value(2.0)]
    def __iter__(self):
        for item in list(self.items):
            self.items.clear()  # the caller's list changes while it is read
            yield item

opt = Adam(Mutating(), lr=0.1)
assert [p.data for p in opt.params] == [1.0, 2.0]

class Betas:  # a sequence whose length changes while its items are converted
    def __init__(self):
        self.items = [0.9, 0.99]
    def __len__(self):
        return len(self.items)
    def __getitem__(self, i):
        value = self.items[i]
        self.items.clear()
        return value

try:
    Adam([mg.Value(1.0)], betas=Betas())
except (TypeError, IndexError, ValueError):
    pass
"""
    )


def test_every_pybind11_class_refuses_pickling_at_every_protocol(child):
    """Protocols 0 and 1 go through copyreg, which calls pybind11's common base type: std::terminate.
    Every py::class_ of _core, found by its metaclass, so that a new one is covered too."""
    child(
        """
import copy, pickle
import micrograd_cpp as mg
from micrograd_cpp import _core

classes = [c for c in vars(_core).values() if isinstance(c, type) and type(c).__name__ == "pybind11_type"]
assert {"SGD", "Adam", "Optimizer", "Graph"} <= {c.__name__ for c in classes}, classes
a = mg.Value(1.0)
working = {"SGD": lambda: _core.SGD([a], lr=0.1), "Adam": lambda: _core.Adam([a]), "Graph": lambda: _core.Graph(a * a, [a])}
for cls in classes:
    objects = [cls.__new__(cls)] + ([working[cls.__name__]()] if cls.__name__ in working else [])
    for obj in objects:
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            for attempt in (lambda: pickle.dumps(obj, protocol), lambda: obj.__reduce_ex__(protocol)):
                try:
                    attempt()
                except TypeError:
                    pass
                else:
                    raise AssertionError(f"{cls.__name__} pickled at protocol {protocol}")
        for attempt in (lambda: copy.copy(obj), lambda: copy.deepcopy(obj)):
            try:
                attempt()
            except TypeError:
                pass
            else:
                raise AssertionError(f"{cls.__name__} copied")
"""
    )
