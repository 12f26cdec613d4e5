"""dot and sum against iterables Python accepts: dot(a, b) reads all of a, then all of b, and compares the
lengths only at the end. An endless (or merely long) b is read until memory runs out, where the error is
known one item past the end of a, as zip(a, b, strict=True) knows it."""

import itertools

import pytest

import micrograd_cpp as mg


def endless(limit):
    """1.0, 1.0, ... and an AssertionError if read past item `limit` (standing in for an endless iterator)."""
    for k in itertools.count():
        if k > limit:
            raise AssertionError(f"read item {k}")
        yield 1.0


def test_dot_with_an_endless_b_is_a_value_error_one_item_past_a():
    with pytest.raises(ValueError, match=r"dot\(a, b\)"):
        mg.dot([1.0, 2.0, 3.0], endless(3))


def test_dot_with_an_endless_a_is_a_value_error_one_item_past_b():
    with pytest.raises(ValueError, match=r"dot\(a, b\)"):
        mg.dot(endless(3), [1.0, 2.0, 3.0])


@pytest.mark.skipif(mg._core.sanitized, reason="RLIMIT_AS cannot be used under AddressSanitizer")
def test_dot_with_itertools_count_does_not_eat_all_memory(child):
    # Without the limit this takes every byte of the machine (the OOM killer's choice of victim).
    out = child(
        """
        import itertools, resource
        import micrograd_cpp as mg
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, resource.RLIM_INFINITY))
        try:
            mg.dot([1.0, 2.0, 3.0], itertools.count())
        except ValueError as e:
            print("refused:", e)
        except MemoryError:
            print("ran out of memory")
        """,
        timeout=120,
    )
    assert "refused" in out


@pytest.mark.parametrize(
    "values",
    [[2**53, 1, 1], [10**308, 10**308, -(10**308)], [0.1] * 10],
    ids=["ints-past-2**53", "ints-past-the-float-range", "floats-python-3.12-compensates"],
)
def test_sum_of_plain_numbers_adds_them_as_values_as_the_docstring_says(values):
    # The docstring: numbers become constant Values first, so they are added as floats, left to right
    # (Python's sum adds ints exactly, and floats with compensation from 3.12).
    expected = mg.Value(0) + mg.Value(values[0])
    for v in values[1:]:
        expected = expected + v
    assert mg.sum(values).data == expected.data
