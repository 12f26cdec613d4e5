"""Hostile rows for Graph.map: buffers whose sizes overflow, rows that never end. Each test failed on main at
ecc9ffd; the crash and the hang run in a child process."""

import itertools
import subprocess

import pytest

import micrograd_cpp as mg


def test_a_zero_width_buffer_whose_rows_times_outputs_overflows_is_an_error_not_a_heap_overflow(child):
    # 2**62 rows of width 0 take no memory, and 2**62 rows x 4 outputs wraps size_t to 0: the result buffer
    # was made empty and the kernel wrote 2**64 doubles into it (SIGSEGV; ASan: heap-buffer-overflow in
    # Tape::run). ctypes is enough (NumPy refuses past 2**59 rows, where 32 outputs do the same).
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
    # known to be too long at its width + 1st number.
    try:
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
    except subprocess.TimeoutExpired:
        pytest.fail("Graph.map([itertools.repeat(1.0)]) still running after 20 s (and ignores Ctrl-C)")
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
