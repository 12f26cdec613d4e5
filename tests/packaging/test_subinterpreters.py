"""Subinterpreters are not supported (issue 8, item 3): importing micrograd_cpp in one is a clean
ImportError, on every Python that can create them, and the main interpreter keeps working.

Before: on 3.11 the import hung for ever (PyGILState_Ensure in PyInit__core); on 3.13 a legacy-config
subinterpreter replaced the module's Value type, after which the main interpreter's Values stopped
working. Each case runs in a child process with a timeout: a hang fails the test instead of the suite.
The stdlib modules are private and differ by version: _xxsubinterpreters (3.8-3.12), _interpreters
(3.13+, with "isolated" and "legacy" configs); a case skips when its module is missing.
"""

import textwrap

import pytest
from support import run_in_child

# Runs `code` in a new subinterpreter and returns the name and message of the exception it raised
# (or None), through whichever private module this Python has.
HELPERS = """
import sys
try:
    import _interpreters
except ImportError:
    _interpreters = None
try:
    import _xxsubinterpreters
except ImportError:
    _xxsubinterpreters = None

def run_in_subinterpreter(code, config):
    if config == "default":
        interp = _xxsubinterpreters.create()
        try:
            _xxsubinterpreters.run_string(interp, code)
            return None
        except Exception as e:  # RunFailedError: "<class 'ImportError'>: message"
            return str(e)
        finally:
            _xxsubinterpreters.destroy(interp)
    interp = _interpreters.create(config)
    try:
        failure = _interpreters.exec(interp, code)
        return None if failure is None else f"{failure.type.__name__}: {failure.msg}"
    finally:
        _interpreters.destroy(interp)

def main_interpreter_still_works():
    import micrograd_cpp as mg
    from micrograd_cpp.nn import MLP
    from micrograd_cpp.optim import SGD
    a = mg.Value(3.0)
    y = (a * a + mg.sum([a, 1.0])).tanh()
    y.backward()
    assert isinstance(y, mg.Value) and a.grad > 0
    model = MLP(2, [3, 1])
    out = model([0.5, -0.5])
    out.backward()
    SGD(model.parameters(), lr=0.1).step()
    assert mg._core.live_node_count() > 0
"""


def configs():
    """The subinterpreter configs this Python can create, as pytest params."""
    params = []
    for config, module in (
        ("default", "_xxsubinterpreters"),
        ("isolated", "_interpreters"),
        ("legacy", "_interpreters"),
    ):
        try:
            __import__(module)
            available = True
        except ImportError:
            available = False
        params.append(
            pytest.param(
                config, marks=pytest.mark.skipif(not available, reason=f"no {module} in this Python")
            )
        )
    return params


def run_child(body: str) -> str:
    """body run in a child after HELPERS (support.run_in_child); a hang (the import, before the fix) fails
    after 60 s."""
    return run_in_child(textwrap.dedent(HELPERS) + textwrap.dedent(body), timeout=60)


@pytest.mark.parametrize("config", configs())
def test_importing_in_a_subinterpreter_after_the_main_one_is_an_import_error(config):
    out = run_child(
        f"""
import micrograd_cpp
for attempt in range(2):  # a second try is refused the same way
    error = run_in_subinterpreter("import micrograd_cpp", {config!r})
    print(error)
    assert error is not None and "ImportError" in error and "subinterpreters" in error, error
main_interpreter_still_works()
print("main ok")
"""
    )
    assert out.rstrip().endswith("main ok")


@pytest.mark.parametrize("config", configs())
def test_importing_in_a_subinterpreter_first_is_an_import_error_and_main_can_import_after(config):
    run_child(
        f"""
# CPython 3.12's _datetime breaks when a subinterpreter is the first to import it (a CPython bug, not
# ours): import it here first, as micrograd_cpp's import pulls it in.
import datetime
for attempt in range(2):
    error = run_in_subinterpreter("import micrograd_cpp._core", {config!r})
    assert error is not None and "ImportError" in error and "subinterpreters" in error, error
main_interpreter_still_works()
"""
    )


@pytest.mark.parametrize("config", configs())
def test_values_made_before_a_refused_import_keep_working(config):
    run_child(
        f"""
import micrograd_cpp as mg
a = mg.Value(2.0)
b = a * a
error = run_in_subinterpreter("import micrograd_cpp", {config!r})
assert error is not None
c = b * a + 1  # the main interpreter's Value type is the one these were made with
c.backward()
assert (c.data, a.grad) == (9.0, 12.0), (c.data, a.grad)
assert isinstance(c, type(a))
"""
    )


def test_the_module_declares_that_it_does_not_support_subinterpreters():
    """The declaration itself (the Py_mod_multiple_interpreters slot of 3.12+): an isolated subinterpreter
    refuses the module before running any of its code."""
    pytest.importorskip("_interpreters", reason="needs Python 3.13's _interpreters")
    out = run_child(
        """
import micrograd_cpp
error = run_in_subinterpreter("import micrograd_cpp", "isolated")
print(error)
"""
    )
    assert "does not support loading in subinterpreters" in out  # CPython's own message for the slot
