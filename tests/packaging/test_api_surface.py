"""Every public callable, called with hostile arguments (issue 8, "an API-surface test").

The callables are found by introspection, so that a new function, class, method or property is covered
the day it appears: the public names of micrograd_cpp, _core, nn, losses, optim and viz, and of each
class among them its methods, properties and operators, called on a working instance, on one made with
__new__ (or unpickled) that never ran __init__, and unbound with a hostile `self`. The arguments: wrong
types, None, NaN and infinities, huge and negative sizes, complex numbers, lone surrogates, generators
(that raise, too; not endless ones, on which Python's own sum() runs for ever too), sequences that
mutate while read, numbers whose __float__ raises, mutates its list
or calls back into micrograd_cpp, objects made with __new__, recursive lists.

A call may return (any result) or raise a clean Python exception. It must not crash the interpreter,
hang, or raise SystemError or a bare RuntimeError (how pybind11 reports a C++ exception it has no
better name for). Everything runs in child processes with a timeout, and each call is announced on
stderr first, so that a crash names its call.
"""

import sys
import textwrap

import pytest
from support import run_in_child

from micrograd_cpp._core import sanitized

SURFACE = r'''
import gc, inspect, itertools, math, pickle, sys, types
import micrograd_cpp as mg
from micrograd_cpp import Value, _core, losses, nn, optim, viz

MODULES = [mg, _core, nn, losses, optim, viz]

def public_names(module):
    return sorted(set(getattr(module, "__all__", ())) | {n for n in dir(module) if not n.startswith("_")})

def discover():
    """(name, callable) for every public function and class, and the classes themselves."""
    functions, classes = {}, {}
    for module in MODULES:
        for name in public_names(module):
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or not str(getattr(obj, "__module__", "")).startswith("micrograd_cpp"):
                continue  # a module, or a name imported from elsewhere (typing.Any, math.isinf, ...)
            if isinstance(obj, type):
                classes[obj.__qualname__] = obj
            elif callable(obj):
                functions[f"{module.__name__}.{name}"] = obj
    return functions, classes

# --- hostile arguments ---------------------------------------------------------------------------

class FloatRaises:
    def __float__(self):
        raise ZeroDivisionError("__float__ raised")

class FloatReturnsStr:
    def __float__(self):
        return "1.0"

class IndexHuge:
    def __index__(self):
        return 10**30

victim = []

class FloatClearsItsList:
    def __float__(self):
        victim.clear()
        gc.collect()
        return 1.0

class FloatReenters:
    def __float__(self):
        y = (Value(1.0) * 2.0).tanh() + mg.sum([Value(0.5), 0.5])
        y.backward()
        return 1.0

class LenLies:
    def __len__(self):
        return 10**6
    def __iter__(self):
        return iter([Value(1.0), 2.0])
    def __getitem__(self, i):
        if i < 2:
            return [Value(1.0), 2.0][i]
        raise IndexError(i)

class MutatingList(list):
    def __iter__(self):
        for item in list.__iter__(list(self)):
            self.clear()
            yield item

class EqRaises:
    def __eq__(self, other):
        raise ValueError("__eq__ raised")
    __hash__ = object.__hash__

def broken_generator():
    yield Value(1.0)
    yield 2.0
    raise KeyError("generator broke")

def recursive_list():
    xs = [1.0]
    xs.append(xs)
    return xs

def hostile_values(classes):
    np = None
    try:
        import numpy as np
    except ImportError:
        pass
    victim[:] = [Value(1.0), FloatClearsItsList(), 2.0, Value(3.0)]
    values = [
        None, True, False, 0, 1, -1, 3, 2**63, -(2**63), 10**30, -(10**30), 0.0, -0.0, 1.5, math.nan,
        math.inf, -math.inf, 1e308, 5e-324, 1j, complex(1, 0), "", "relu", "\ud800", b"bytes", bytearray(b"x"),
        [], [1.0], [Value(1.0), Value(2.0)], (1.0, 2.0), [[1.0, 2.0]], [None], ["x"], [math.nan, math.inf],
        {}, {"a": 1.0}, {1.0, 2.0}, object(), object, type, Value, Value(2.0), Value(math.nan), Value(-0.0),
        FloatRaises(), FloatReturnsStr(), IndexHuge(), FloatReenters(), EqRaises(), LenLies(),
        [FloatRaises(), 1.0], [FloatReenters(), Value(2.0)], victim, MutatingList([Value(1.0), 2.0, 3.0]),
        recursive_list(), range(3), print, len, lambda *a, **k: None,
    ]
    if np is not None:
        values += [np.float64(2.0), np.int64(-1), np.complex128(1), np.array([1.0, 2.0]), np.array(3.0),
                   np.array([[1.0]]), np.bool_(True), np.float32(math.nan)]
    for cls in classes.values():  # objects that never ran __init__
        for make in (lambda c=cls: c.__new__(c), lambda c=cls: object.__new__(c)):
            try:
                values.append(make())
            except Exception:
                pass
    for name in ("SGD", "Adam", "Value", "OpInfo"):  # and unpickled ones, with no state
        try:
            values.append(pickle.loads(b"\x80\x02cmicrograd_cpp._core\n" + name.encode() + b"\n)\x81."))
        except Exception:
            pass
    return values

def generators():
    """Fresh each time: a generator is used up by its first call."""
    return [
        (x for x in [Value(1.0), 2.0, Value(3.0)]), map(Value, [1.0, 2.0]), broken_generator(),
        iter([]), (x for x in [FloatRaises()]), iter([Value(1.0)] * 3),
    ]

# --- calling -------------------------------------------------------------------------------------

FORBIDDEN = (SystemError,)
calls = 0

def call(label, f, *args):
    global calls
    calls += 1
    sys.stderr.write(f"{label} {len(args)}\n")
    try:
        f(*args)
    except FORBIDDEN as e:
        raise AssertionError(f"{label}{args!r:.300}: {type(e).__name__}: {e}") from e
    except RuntimeError as e:
        if type(e) is RuntimeError:  # a subclass (RecursionError, NotImplementedError, ...) is fine
            raise AssertionError(f"{label}{args!r:.300}: RuntimeError: {e}") from e
    except BaseException as e:
        if not isinstance(e, Exception):
            raise
    if calls % 64 == 0:
        victim[:] = [Value(1.0), FloatClearsItsList(), 2.0, Value(3.0)]

def arities(f):
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return range(0, 4)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return range(0, len(positional) + 3)
    return range(0, len(positional) + 2)

BASES = None

def bases():
    return [
        (Value(2.0), Value(3.0), Value(0.5), "mean"),
        ([Value(1.0), Value(2.0)], [1.0, 2.0], "relu", 1.0),
        (1.0, 2.0, 3.0, 4.0),
        ([0.5, -1.0], [1, 0], 2, "sum"),
    ]

def hammer(label, f, hostile):
    """f with every hostile value at every position of several plausible argument lists."""
    for n in arities(f):
        for base in bases():
            base = list(base[:n]) + [None] * max(0, n - len(base))
            for i in range(n):
                for h in hostile + generators():
                    call(label, f, *base[:i], h, *base[i + 1:])
        call(label, f, *hostile[:n])
'''


def run(body: str, timeout: float) -> str:
    """body run in a child after SURFACE's helpers (support.run_in_child)."""
    return run_in_child(textwrap.dedent(SURFACE) + textwrap.dedent(body), timeout)


TIMEOUT = 1800 if sanitized else 600


def test_the_surface_is_discovered_by_introspection():
    out = run(
        """
functions, classes = discover()
print(sorted(functions))
print(sorted(classes))
""",
        timeout=120,
    )
    for expected in (
        "micrograd_cpp._core.neuron",
        "micrograd_cpp.sum",
        "micrograd_cpp.losses.mse_loss",
        "viz.trace",
    ):
        assert expected.split(".")[-1] in out
    for cls in ("Value", "SGD", "Adam", "Optimizer", "MLP", "Layer", "Neuron", "Module"):
        assert f"'{cls}'" in out


def test_every_public_function_survives_hostile_arguments():
    out = run(
        """
functions, classes = discover()
hostile = hostile_values(classes)
for name, f in sorted(functions.items()):
    hammer(name, f, hostile)
print("calls", calls)
""",
        timeout=TIMEOUT,
    )
    assert int(out.split()[-1]) > 10_000


def test_every_class_survives_hostile_arguments_to_its_constructor_methods_and_properties():
    out = run(
        """
functions, classes = discover()
hostile = hostile_values(classes)

def instances(cls):
    '''Working instances of cls, and ones that never ran __init__.'''
    made = []
    for make in (lambda: cls(Value(1.0)), lambda: cls([Value(1.0), Value(2.0)], lr=0.1), lambda: cls(2, [2, 1]),
                 lambda: cls(2, 2), lambda: cls(2), lambda: cls(), lambda: cls(1.5), lambda: _core.OPS[0],
                 lambda: cls.__new__(cls)):
        try:
            obj = make()
        except Exception:
            continue
        if isinstance(obj, cls):
            made.append(obj)
    return made

for cls_name, cls in sorted(classes.items()):
    hammer(cls_name, cls, hostile)  # the constructor
    members = {n for n in dir(cls) if not n.startswith("_")}
    members |= {n for n in vars(cls) if n.startswith("__") and n not in ("__new__", "__init_subclass__",
                "__subclasshook__", "__class_getitem__", "__getattribute__", "__setattr__", "__delattr__",
                "__dict__", "__weakref__", "__doc__", "__module__", "__slots__", "__annotations__",
                "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__orig_bases__",
                "__parameters__", "_fields", "__abstractmethods__", "__firstlineno__", "__static_attributes__")}
    for member in sorted(members):
        attr = inspect.getattr_static(cls, member)
        for obj in instances(cls):
            label = f"{cls_name}.{member}"
            if isinstance(attr, (property, types.GetSetDescriptorType, types.MemberDescriptorType)) or (
                type(attr).__name__ == "property"
            ):
                call(label + " get", getattr, obj, member)
                for h in hostile:
                    call(label + " set", setattr, obj, member, h)
                call(label + " del", delattr, obj, member)
                continue
            try:
                bound = getattr(obj, member)
            except Exception:
                continue
            if callable(bound):
                hammer(label, bound, hostile)
        unbound = getattr(cls, member, None)
        if callable(unbound) and not isinstance(unbound, type):
            for h in hostile:
                call(f"{cls_name}.{member} unbound", unbound, h)
                call(f"{cls_name}.{member} unbound", unbound, h, h)
    for obj in instances(cls):  # pickling, copying, printing
        import copy
        for f in (pickle.dumps, copy.copy, copy.deepcopy, repr, str, hash, bool, dir):
            call(f"{cls_name} {f.__name__}", f, obj)
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            call(f"{cls_name} pickle round trip", lambda o, p=protocol: pickle.loads(pickle.dumps(o, p)), obj)

# the operators of Value, with every hostile operand on either side
import operator
for op in (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow, operator.neg, operator.abs,
           operator.eq, operator.lt, operator.floordiv, operator.mod, operator.matmul, pow):
    for h in hostile + generators():
        for args in ((Value(2.0), h), (h, Value(2.0)), (Value(-0.0), h)):
            call(f"operator.{op.__name__}", op, *args[: 1 if op in (operator.neg, operator.abs) else 2])
    call("pow modulo", pow, Value(2.0), Value(3.0), 5)

# the graph still works, and no node is alive that should not be
gc.collect()
a = Value(3.0)
y = (a * a).tanh() + mg.dot([a, 2.0], [a, a])
y.backward()
assert y.data == math.tanh(9.0) + 9.0 + 6.0 and a.grad > 0
print("calls", calls)
""",
        timeout=TIMEOUT,
    )
    assert int(out.split()[-1]) > 10_000


@pytest.mark.skipif(not hasattr(sys, "getswitchinterval"), reason="needs threads")
def test_the_surface_survives_threads_racing_on_shared_values():
    run(
        """
import threading
shared = [Value(float(i)) for i in range(8)]
opt = optim.SGD(shared, lr=0.01)
model = nn.MLP(8, [4, 1])
errors = []

def worker(seed):
    try:
        for step in range(200):
            y = mg.sum(shared) * model(shared) + mg.dot(shared, shared[::-1])
            y.backward()
            opt.step()
            opt.zero_grad()
            losses.mse_loss([y], [1.0])
            _core.topological_order(y)
            shared[seed % 8].label = str(step)
    except Exception as e:  # noqa
        errors.append(e)

sys.setswitchinterval(1e-6)
threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
""",
        timeout=TIMEOUT,
    )


# --- pickling -----------------------------------------------------------------------------------------------


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
