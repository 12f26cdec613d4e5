"""What Graph.map reads: rows of any real numbers in any sequence (NumPy arrays read in place), its
arguments, and the rows it refuses without changing anything. Then hostile rows: buffers whose sizes
overflow, rows that never end (each failed on main at ecc9ffd; the crash and the hang run in a child
process)."""

import itertools

import pytest
from support import captured_model, moons_like

import micrograd_cpp as mg

# --- rows and arguments -----------------------------------------------------------------------


def test_rows_of_any_real_numbers_read_as_floats():
    """Lists and tuples of floats and ints are read in place; other rows (bools, float subclasses, ints
    past a float, generators) by the general reader, with the same values or its errors."""
    x, y = mg.Value(0.0), mg.Value(0.0)
    g = mg.Graph(x * 1.0 + y * 1.0, inputs=[x, y])

    class Float(float):
        pass

    assert g.map([[1, 2.5], (3, 4), [True, Float(0.5)], iter([6, 7.0])]) == [3.5, 7.0, 1.5, 13.0]
    with pytest.raises(OverflowError):
        g.map([[10**400, 1.0]])
    with pytest.raises(ValueError, match="rows\\[1\\] has more than 2 numbers, but the graph has 2 inputs"):
        g.map([[1.0, 2.0], (1.0, 2.0, 3.0)])
    with pytest.raises(TypeError, match="rows\\[0\\] must hold real numbers, not str \\(at index 1\\)"):
        g.map([[1.0, "2"]])


@pytest.mark.parametrize(
    "rows", [[{1.0, 2.0}], [{"a": 1.0, "b": 2.0}], [b"\x01\x02"], [bytearray(2)], {(1.0, 2.0)}]
)
def test_rows_without_an_order_are_refused_not_read_in_hash_order(rows):
    """A set or a dict would give its numbers to the inputs in hash order, bytes as small ints: a
    TypeError, nothing changed."""
    x, y, w = mg.Value(0.0), mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph(x * w + y, inputs=[x, y])
    with pytest.raises(TypeError, match="must be a sequence"):
        g.map(rows, backward=True)
    assert w.grad == 0.0


def test_map_reads_numpy_arrays_and_any_iterable_of_rows():
    np = pytest.importorskip("numpy")
    _, g = captured_model()
    rows = moons_like(37)
    expected = g.map(rows)
    assert g.map(np.array(rows)) == expected
    single = np.array(rows, dtype=np.float32)  # not float64: read row by row, as numbers
    assert g.map(single) == g.map(single.tolist())
    assert g.map(tuple(tuple(r) for r in rows)) == expected
    assert g.map(iter(rows)) == expected
    assert g.map(map(list, rows)) == expected
    assert g.map(np.asfortranarray(np.array(rows))) == expected  # not C-contiguous: read row by row


@pytest.mark.parametrize(
    ("rows", "kwargs", "error", "message"),
    [
        ([[1.0]], {}, ValueError, "rows\\[0\\] has 1 numbers, but the graph has 2 inputs"),
        ([[1.0, 2.0], [1.0, 2.0, 3.0]], {}, ValueError, "rows\\[1\\] has more than 2 numbers"),
        ([[1.0, "2"]], {}, TypeError, "rows\\[0\\] must hold real numbers, not str \\(at index 1\\)"),
        ([[1.0, mg.Value(2.0)]], {}, TypeError, "not micrograd_cpp._core.Value"),
        ([1.0, 2.0], {}, TypeError, "rows\\[0\\] must be a sequence"),
        (5, {}, TypeError, "rows must be a sequence"),
        ([[1.0, 2.0]], {"reduction": "max"}, ValueError, "reduction must be 'sum' or 'mean'"),
        ([], {"backward": True}, ValueError, "at least one row"),
        ([[1.0, complex(1, 1)]], {}, TypeError, "complex"),
    ],
)
def test_bad_rows_are_refused_and_change_nothing(rows, kwargs, error, message):
    a, b, w = mg.Value(0.0), mg.Value(0.0), mg.Value(1.5)
    w.grad = 0.25
    g = mg.Graph(a * w + b, inputs=[a, b])
    with pytest.raises(error, match=message):
        g.map(rows, **kwargs)
    assert w.grad == 0.25
    assert g.map([[1.0, 2.0]]) == [3.5]


def test_a_numpy_array_of_the_wrong_shape_is_refused():
    np = pytest.importorskip("numpy")
    a, b = mg.Value(0.0), mg.Value(0.0)
    g = mg.Graph(a + b, inputs=[a, b])
    with pytest.raises(ValueError, match="3 columns, but the graph has 2 inputs"):
        g.map(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="must be a sequence"):
        g.map(np.zeros(4))  # 1-D: rows of scalars


def test_reduction_must_be_the_str_sum_or_mean_not_bytes():
    """b"sum" != "sum" in Python; pybind11's std::string caster takes bytes too."""
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph(w * x, inputs=[x])
    with pytest.raises((TypeError, ValueError)):
        g.map([[1.0]], backward=True, reduction=b"sum")
    assert w.grad == 0.0


# --- hostile rows -----------------------------------------------------------------------------


def test_a_zero_width_buffer_whose_rows_times_outputs_overflows_is_an_error_not_a_heap_overflow(child):
    # 2**62 rows of width 0 take no memory, and 2**62 rows x 4 outputs wraps size_t to 0: the result buffer
    # was made empty and the kernel wrote 2**64 doubles into it (SIGSEGV; ASan: heap-buffer-overflow in
    # Tape::run, now Batch::run). ctypes is enough (NumPy refuses past 2**59 rows, where 32 outputs do the same).
    out = child(
        """
        import ctypes
        import micrograd_cpp as mg
        w = mg.Value(1.0)
        g = mg.Graph([w, w * 2.0, w * 3.0, w * 4.0])      # no inputs: rows have width 0
        rows = ((ctypes.c_double * 0) * 2**62)()            # a 2-D C-contiguous '<d' buffer, shape (2**62, 0)
        try:
            g.map(rows)
        except (MemoryError, ValueError, OverflowError) as e:
            print("refused:", type(e).__name__)
        """,
        timeout=120,
    )
    assert "refused" in out


def test_the_same_overflow_through_a_numpy_array_is_an_error(child):
    pytest.importorskip("numpy")
    out = child(
        """
        import numpy as np
        import micrograd_cpp as mg
        w = mg.Value(1.0)
        g = mg.Graph([w * float(k) for k in range(32)])
        try:
            g.map(np.empty((2**59, 0)))                     # 2**59 x 32 = 2**64
        except (MemoryError, ValueError, OverflowError) as e:
            print("refused:", type(e).__name__)
        """,
        timeout=120,
    )
    assert "refused" in out


def test_a_row_that_never_ends_is_a_value_error_not_an_endless_loop(child):
    # read_rows counts a row's numbers to the end before comparing with the width: an endless row spins
    # forever in C++, without allocating and without checking signals (Ctrl-C does nothing). A row is
    # known to be too long at its width + 1st number. The child fails the test if still running after 20 s.
    out = child(
        """
        import itertools
        import micrograd_cpp as mg
        x = mg.Value(0.0)
        g = mg.Graph(x * 2.0, inputs=[x])
        try:
            g.map([itertools.repeat(1.0)])
        except ValueError as e:
            print("refused:", e)
        """,
        timeout=20,
    )
    assert "refused" in out


def test_a_row_is_read_no_further_than_one_number_past_the_width():
    # The same defect without a child process: the row raises if read too far.
    x, y = mg.Value(0.0), mg.Value(0.0)
    g = mg.Graph(x * y, inputs=[x, y])

    def row():
        for k in itertools.count():
            if k > 2:
                raise AssertionError(f"read number {k} of a row of a 2-input graph")
            yield 1.0

    with pytest.raises(ValueError, match="rows\\[0\\]"):
        g.map([row()])
