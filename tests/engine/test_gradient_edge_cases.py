"""Gradients at the edges (issue 8, items 6-8): the issue's repros, with PyTorch float64's answers
written out (so that these run without torch; tests/engine/test_random_graphs.py compares with torch itself).
"""

import math

import pytest

import micrograd_cpp as mg
from micrograd_cpp import Value

nan, inf = math.nan, math.inf


def grads_of_division(x, y):
    a, b = Value(x), Value(y)
    (a / b).backward()
    return a.grad, b.grad


@pytest.mark.parametrize(
    ("x", "y", "torch_dx", "torch_dy"),
    [
        (1e300, 1e200, 1e-200, -1e-100),  # y * y overflows: the old form gave dy = 0
        (1e-300, 1e-200, 1e200, -1e100),  # y * y underflows: the old form gave dy = -inf
        (1.0, 3.0, 1 / 3.0, -((1 / 3.0) / 3.0)),
        (-2.0, 0.5, 2.0, 8.0),
        (1.0, 0.0, inf, -inf),
        (0.0, 0.0, inf, nan),  # 0/0 is nan: -(nan / 0) = nan
    ],
)
def test_division_gradients_are_torchs_overflow_safe_form(x, y, torch_dx, torch_dy):
    dx, dy = grads_of_division(x, y)
    assert (dx, dy) == pytest.approx((torch_dx, torch_dy), rel=1e-15, abs=0, nan_ok=True)


def test_a_value_divided_by_itself_has_zero_gradient_even_when_its_square_overflows():
    a = Value(5.04e239)
    (a / a).backward()
    assert a.grad == 0.0  # torch: 1/a - (a/a)/a = 0; the old form gave 1.98e-240


@pytest.mark.parametrize("exponent", [0, 0.0, "Value(0.0)"])
def test_a_zero_power_masks_a_nan_gradient_arriving_from_above(exponent):
    x = Value(3.0)
    k = Value(0.0) if exponent == "Value(0.0)" else exponent
    p = x**k
    y = p * Value(nan)  # the gradient reaching p is nan
    y.backward()
    assert p.data == 1.0
    assert x.grad == 0.0  # torch masks d/dx of x ** 0 to 0, whatever arrives


def test_the_exponent_gradient_of_zero_to_a_power_masks_the_local_derivative_not_the_product():
    """torch is asymmetric here: pow_backward_self masks the whole product (grad included) where the
    exponent is 0, but pow_backward_exponent computes grad * where(base == 0 and exponent >= 0, 0, ...),
    so a nan arriving from above still reaches the exponent."""
    base, e = Value(0.0), Value(2.0)
    (base**e).backward()
    assert e.grad == 0.0  # d/dy of 0 ** y is 0 where y >= 0, not 0 * log(0) = nan
    base, e = Value(0.0), Value(2.0)
    ((base**e) * Value(nan)).backward()
    assert math.isnan(e.grad)  # torch float64: nan * 0 = nan
    assert math.isnan(base.grad)  # 2 * 0 ** 1 * nan: nothing masks it


def test_relu_at_nan_passes_the_gradient_as_torch_does_and_says_so():
    x = Value(nan)
    y = x.relu()
    y.backward()
    assert math.isnan(y.data)
    assert x.grad == 1.0  # torch's threshold_backward: 0 only where the output is <= 0 (micrograd gives 0)
    relu = next(op for op in mg._core.OPS if op.name == "relu")
    assert "nan" in relu.doc  # the choice is documented where the op is
    assert "PyTorch" in relu.doc


def test_a_second_backward_doubles_the_issues_example_exactly():
    a = Value(0.1)
    y = a * 0.3 + a * 0.7 + a * 1.1
    y.backward()
    first = a.grad
    y.backward()
    assert a.grad == 2 * first  # before: 4.199999999999999 after 2.1
    y.backward()
    assert a.grad == 3 * first or a.grad == first + 2 * first


def test_backward_adds_a_calls_total_to_a_leafs_existing_gradient_once():
    a = Value(0.1)
    a.grad = 1e16  # a running total whose spacing is 2: adding 0.6 at a time would round each away
    y = a * 0.6 + a * 0.6 + a * 0.6
    y.backward()
    assert a.grad == 1e16 + 2.0  # 1e16 + (0.6 + 0.6 + 0.6), as torch accumulates


def test_complex_numbers_are_refused_everywhere_a_real_number_is_read():
    np = pytest.importorskip("numpy")
    for z in (1j, complex(1, 0), np.complex128(1), np.complex64(1 + 2j)):
        with pytest.raises(TypeError):
            Value(z)
        with pytest.raises(TypeError):
            Value(1.0) + z
        with pytest.raises(TypeError):
            Value(2.0) ** z
        with pytest.raises(TypeError):
            mg.sum([Value(1.0), z])
        with pytest.raises(TypeError):
            mg.dot([Value(1.0)], [z])
        v = Value(1.0)
        with pytest.raises(TypeError):
            v.data = z
        assert v.data == 1.0


def test_a_label_with_a_lone_surrogate_is_a_value_error_and_changes_nothing():
    with pytest.raises(ValueError, match="surrogate"):  # UnicodeEncodeError is a ValueError
        Value(1.0, label="\ud800")
    v = Value(1.0, label="kept")
    with pytest.raises(ValueError, match="surrogate"):
        v.label = "x\udfff"
    assert v.label == "kept"


def test_backward_takes_no_gradient_argument():
    with pytest.raises(TypeError):
        Value.backward(3.0)
    with pytest.raises(TypeError):
        Value(1.0).backward(3.0)
    with pytest.raises(TypeError):
        Value(1.0).backward(gradient=3.0)


def test_none_of_the_repros_crashes_under_a_fresh_interpreter(child):
    """The whole list once more in a child, so that a crash is reported as a failure, not a lost run."""
    code = """if True:
        from micrograd_cpp import Value
        a, b = Value(1e300), Value(1e200)
        (a / b).backward()
        assert b.grad == -1e-100
        x = Value(3.0)
        ((x ** 0) * Value(float("nan"))).backward()
        assert x.grad == 0.0
    """
    child(code, timeout=120)
