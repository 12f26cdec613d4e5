"""Graphs of millions of nodes: built, differentiated and freed without
recursion, crash or leak. Each runs in a child process, so that a crash fails
the test instead of the run, and memory figures are the child's own."""

import os

import pytest

from micrograd_cpp._core import sanitized

pytestmark = pytest.mark.slow

# Memory figures need Linux's /proc and the system allocator (ASan keeps freed
# memory in quarantine on purpose).
measures_rss = pytest.mark.skipif(
    not os.path.exists("/proc/self/statm") or sanitized, reason="needs /proc and the system allocator"
)

CHAIN = """
import micrograd_cpp as mg
n = {n}
base = mg._core.live_node_count()
w, b, x = mg.Value(1.0), mg.Value(0.5), mg.Value(1.0)
for _ in range(n // 2):
    x = x * w + b           # two nodes per step
x.backward()
# d x_n / d b = number of steps (w = 1); d x_n / d w = sum of x_k = k * 0.5 summed
steps = n // 2
assert x.data == 1.0 + 0.5 * steps, x.data
assert b.grad == steps, b.grad
assert w.grad == sum(1.0 + 0.5 * k for k in range(steps)), w.grad
x.zero_grad()
assert (w.grad, b.grad) == (0.0, 0.0)
assert mg._core.live_node_count() == base + n + 3
del x
assert mg._core.live_node_count() == base + 2, mg._core.live_node_count()
print("ok")
"""


@pytest.mark.parametrize("n", [1_000_000, 10_000_000])
def test_chain_builds_differentiates_and_frees(child, n):
    assert child(CHAIN.format(n=n)).strip() == "ok"


def test_deep_chain_of_unary_ops(child):
    out = child(
        """
        import micrograd_cpp as mg
        x = leaf = mg.Value(0.1)
        for _ in range(1_000_000):
            x = x.tanh()
        x.backward()
        assert 0 < leaf.grad <= 1
        del x
        print(mg._core.live_node_count())
        """
    )
    assert out.split() == ["1"]


def test_wide_graph_sum_of_a_million_leaves(child):
    out = child(
        """
        import micrograd_cpp as mg
        xs = [mg.Value(1.0) for _ in range(1_000_000)]
        s = sum(xs)
        s.backward()
        assert s.data == 1_000_000 and all(x.grad == 1.0 for x in xs)
        del s, xs
        print(mg._core.live_node_count())
        """
    )
    assert out.split() == ["0"]


RSS = """
import os

def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
"""


@measures_rss
def test_memory_is_returned_after_del(child):
    out = child(
        RSS
        + """
import micrograd_cpp as mg
w, b, x = mg.Value(1.0), mg.Value(0.5), mg.Value(1.0)
before = rss_mib()
for _ in range(2_000_000):
    x = x * w + b
built = rss_mib()
x.backward()
del x
after = rss_mib()
print(built - before, after - before)
"""
    )
    grown, left = map(float, out.split())
    assert grown > 150  # 4M nodes at 48 bytes: ~183 MiB
    assert left < 0.1 * grown, f"{left:.1f} MiB of {grown:.1f} MiB not returned"


@measures_rss
def test_rss_is_flat_across_training_steps(child):
    out = child(
        RSS
        + """
import random
import micrograd_cpp as mg
random.seed(0)
params = [mg.Value(random.uniform(-1, 1)) for _ in range(60)]
data = [[random.uniform(-1, 1) for _ in range(6)] for _ in range(200)]
readings = []
for step in range(30):
    loss = 0
    for row in data:
        h = [sum((params[6 * j + i] * x for i, x in enumerate(row)), params[36 + j]).tanh() for j in range(6)]
        out = sum((params[42 + j] * hj for j, hj in enumerate(h)), params[48])
        loss = loss + (out - 0.5) ** 2
    for p in params:
        p.grad = 0
    loss.backward()
    for p in params:
        p.data -= 0.001 * p.grad
    del loss, h, out
    readings.append(rss_mib())
print(readings[5], readings[-1], mg._core.live_node_count())
"""
    )
    early, late, live = out.split()
    assert float(late) - float(early) < 2.0, (early, late)
    assert int(live) == 60
