"""Running out of memory, and giving memory back (issue 8, items 4 and 5).

Each test builds millions of nodes in a child process. The out-of-memory ones lower the child's
address-space limit (RLIMIT_AS) to just above what it uses, so that the next large allocation fails:
  - freeing a graph must not allocate (before: std::bad_alloc in a noexcept function, SIGABRT);
  - a walk (backward, zero_grad, topological_order) that runs out of memory leaves no mark on any
    node, so that a retry sees the whole graph (before: 1,048,576 leaves kept grad 0 after a retry);
  - memory freed by `del` goes back to the system (before: an 80 MB stack was kept for good).
Under AddressSanitizer they are skipped: ASan reserves terabytes of address space for its shadow
memory at start-up, so an RLIMIT_AS cannot be set, and its quarantine keeps freed memory resident.
"""

import sys

import pytest

from micrograd_cpp._core import sanitized as SANITIZED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self and sets RLIMIT_AS"),
    pytest.mark.skipif(
        SANITIZED,
        reason="ASan reserves terabytes of address space (no RLIMIT_AS) and quarantines freed memory",
    ),
]

HELPERS = """
import gc, resource
import micrograd_cpp as mg
from micrograd_cpp import Value

MiB = 1 << 20

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)

SOFT, HARD = resource.getrlimit(resource.RLIMIT_AS)

class memory_limit:
    '''Lets the process map only `margin` more bytes of address space while inside.'''
    def __init__(self, margin):
        self.margin = margin
    def __enter__(self):
        resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + self.margin, HARD))
    def __exit__(self, *exc):
        resource.setrlimit(resource.RLIMIT_AS, (SOFT, HARD))
"""


def test_freeing_a_long_right_leaning_chain_with_no_memory_to_spare_does_not_abort(child):
    child(
        HELPERS
        + """
base = mg._core.live_node_count()
s = Value(0.0)
for _ in range(2_000_000):
    s = Value(1.0) + s  # each operand pair: a leaf (left) and the chain (right): 4M nodes
assert mg._core.live_node_count() - base == 4_000_001
with memory_limit(4 * MiB):  # freeing must not need any of it
    del s
assert mg._core.live_node_count() == base
"""
    )


WALKS = """
import ctypes
# Large blocks straight from mmap and back to it when freed (glibc otherwise raises this threshold
# after the first free and recycles heap space, which the limit does not see): every growth of a
# walk's buffers then needs new address space, so each margin below fails at a different point.
M_MMAP_THRESHOLD = -3
assert ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 64 * 1024) == 1

N = 1 << 20
leaves = [Value(1.0) for _ in range(N)]
y = leaves[0]
for leaf in leaves[1:]:
    y = y + leaf  # a left-leaning chain: 2N - 1 nodes to walk
base = mg._core.live_node_count()

def grads():
    return sorted({leaf.grad for leaf in leaves})

def set_grads(g):
    for leaf in leaves:
        leaf.grad = g

def exercise(walk, check, start_grad=0.0):
    # Runs walk() with less and less memory to spare, and check(failed) after each try.
    failures = 0
    for margin_kib in (0, 256, 1024, 2048, 4096, 6144, 8192, 12288, 16384, 24576, 32768):
        set_grads(start_grad)
        failed = False
        with memory_limit(margin_kib * 1024):
            try:
                walk()
            except MemoryError:
                failed = True
        failures += failed
        check(failed)
    assert failures > 0, "the memory limit never made the walk fail: the test tested nothing"
    assert mg._core.live_node_count() == base
    print("failures", failures)
"""


def test_a_backward_that_runs_out_of_memory_changes_nothing_and_a_retry_is_exact(child):
    child(
        HELPERS
        + WALKS
        + """
def check(failed):
    if failed:
        assert grads() == [0.0], grads()  # the failed call added nothing
        y.backward()  # the retry, with memory
    assert grads() == [1.0], grads()
    y.backward()
    assert grads() == [2.0], grads()  # and a later call skips no node

exercise(y.backward, check)
"""
    )


def test_a_zero_grad_that_runs_out_of_memory_changes_nothing_and_a_retry_zeroes_all(child):
    child(
        HELPERS
        + WALKS
        + """
def check(failed):
    if failed:
        assert grads() == [5.0], grads()
        y.zero_grad()
    assert grads() == [0.0], grads()
    y.backward()
    assert grads() == [1.0], grads()

exercise(y.zero_grad, check, start_grad=5.0)
"""
    )


def test_a_topological_order_that_runs_out_of_memory_leaves_the_graph_whole(child):
    child(
        HELPERS
        + WALKS
        + """
def walk():
    order = mg._core.topological_order(y)
    del order

def check(failed):
    order = mg._core.topological_order(y)
    assert len(order) == 2 * N - 1 and order[-1] == y
    del order
    y.backward()
    assert grads() == [1.0], grads()

exercise(walk, check)
"""
    )


def test_memory_goes_back_to_the_system_after_deleting_a_long_chain(child):
    """Before: the freeing stack grew to 8 bytes per pending node (80 MB for 10M) and was never shrunk."""
    out = child(
        HELPERS
        + """
def rss():
    gc.collect()
    return status("VmRSS")

for lean in ("right", "left"):
    s = Value(0.0)
    base = rss()
    for _ in range(4_000_000):
        s = Value(1.0) + s if lean == "right" else s + Value(1.0)
    grown = rss() - base
    del s
    kept = rss() - base
    print(lean, grown // MiB, kept // MiB)
    assert grown > 200 * MiB, grown  # 8M nodes were alive
    assert kept < 16 * MiB, f"{lean}-leaning chain: {kept / MiB:.1f} MiB kept after del"
"""
    )
    print(out)
