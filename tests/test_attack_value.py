"""Value's setters and state: a failed assignment must change nothing. to_real() stores its -1.0 error
marker into the target before reporting the error, and the setters pass the Value's own data/grad slot as
that target: `v.data = 10**400` raises OverflowError and leaves v.data == -1.0."""

import sys

import pytest

import micrograd_cpp as mg


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
