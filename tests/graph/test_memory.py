"""Out of memory inside Graph.map must leave the Graph usable and the gradients as they were. Run in a child
with RLIMIT_AS (not under ASan, which reserves terabytes of address space). Large blocks are made to come from
mmap (mallopt M_MMAP_THRESHOLD) so that the limit bites where the test means it to, not on glibc's whims."""

import pytest

import micrograd_cpp as mg

pytestmark = pytest.mark.skipif(mg._core.sanitized, reason="RLIMIT_AS cannot be used under AddressSanitizer")

PRELUDE = """
import ctypes, gc, resource
import micrograd_cpp as mg
ctypes.CDLL("libc.so.6").mallopt(-3, 65536)  # M_MMAP_THRESHOLD: big blocks are mapped, and unmapped on free

def vmsize():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

SOFT, HARD = resource.getrlimit(resource.RLIMIT_AS)

def limited(extra_mb, call):
    gc.collect()
    resource.setrlimit(resource.RLIMIT_AS, (vmsize() + extra_mb * 2**20, HARD))
    try:
        return call()
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (SOFT, HARD))
"""


def test_a_map_that_ran_out_of_memory_leaves_the_graph_usable(child):
    # Tape::run sets stride_ before growing lane_data_ and lane_grad_: when lane_data_ grows and lane_grad_
    # does not, the next map (with memory back) skips the growth and writes past the end of lane_grad_
    # (SIGSEGV here; ASan: heap-buffer-overflow).
    out = child(
        PRELUDE
        + """
x, w = mg.Value(0.5), mg.Value(0.3)
y = x * w
for _ in range(2_000_000):      # 2M varying nodes: lane buffers of 16 MB each, one row per chunk
    y = y.tanh()
g = mg.Graph(y, inputs=[x])
reference = mg.Graph(y, inputs=[x])
expected = reference.map([[0.5]], backward=True)
expected_grad = w.grad
del y
failed = 0
for extra_mb in range(4, 60, 2):
    w.grad = 0.0
    try:
        result = limited(extra_mb, lambda: g.map([[0.5]], backward=True))
    except MemoryError:
        failed += 1
        continue
    assert result == expected, (extra_mb, result, expected)
    assert w.grad == expected_grad, (extra_mb, w.grad, expected_grad)
w.grad = 0.0
assert g.map([[0.5]], backward=True) == expected and w.grad == expected_grad
print("ok after", failed, "failures")
""",
        timeout=300,
    )
    assert "ok after" in out


def test_a_map_that_fails_adds_no_gradient(child):
    pytest.importorskip("numpy")  # the child reads its million rows from an array
    # map(backward=True) adds the gradients to the parameters, then builds the result list: when that runs
    # out of memory the call fails (as RuntimeError "Could not allocate list object!", from pybind11, or
    # MemoryError) yet the gradients were added: a retry adds them twice. Either the call succeeds, or
    # nothing has changed; and running out of memory is a MemoryError.
    out = child(
        PRELUDE
        + """
import numpy as np
x, w = mg.Value(0.0), mg.Value(0.0)
g = mg.Graph(w * x, inputs=[x])
rows = np.ones((1_000_000, 1))
g.map(rows[:10], backward=True)
failures = []
for extra_mb in range(1, 80):
    w.grad = 0.0
    try:
        limited(extra_mb, lambda: g.map(rows, backward=True))
    except Exception as e:
        failures.append((extra_mb, type(e).__name__, str(e), w.grad))
        continue
    assert w.grad == 1_000_000.0
    break
else:
    raise AssertionError("never succeeded")
wrong = [f for f in failures if f[1] != "MemoryError" or f[3] != 0.0]
assert not wrong, wrong
print("ok after", len(failures), "failures")
""",
        timeout=300,
    )
    assert "ok after" in out
