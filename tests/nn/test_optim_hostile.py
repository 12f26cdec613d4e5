"""Optimizers against hostile callers (issue 8, item 2): made with __new__, unpickled, subclassed without
__init__, copied, and given parameter iterables that mutate while C++ reads them.

Each scenario runs in a child process: on a broken build it is a use-after-free or a segfault.
"""

import pytest

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
