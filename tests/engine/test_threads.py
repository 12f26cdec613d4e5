"""Several Python threads building and differentiating graphs at once, sharing leaves."""

import sys
from concurrent.futures import ThreadPoolExecutor

import micrograd_cpp as mg


def test_threads_share_leaves_without_corruption():
    weights = [mg.Value(float(i)) for i in range(8)]
    base = mg._core.live_node_count()
    n_threads, steps = 8, 300

    def work(tid):
        for step in range(steps):
            xs = [float(tid + step + i) for i in range(8)]
            dot = sum((w * x for w, x in zip(weights, xs)), 0.0)
            loss = dot.tanh() * 0 + dot  # shared subexpression, several ops per leaf
            loss.backward()
            assert loss.data == sum(float(i) * x for i, x in enumerate(xs))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        with ThreadPoolExecutor(n_threads) as pool:
            for done in [pool.submit(work, t) for t in range(n_threads)]:
                done.result()  # re-raises a thread's failure here
    finally:
        sys.setswitchinterval(old)

    for i, w in enumerate(weights):
        expected = sum(float(t + s + i) for t in range(n_threads) for s in range(steps))
        assert w.grad == expected
    assert mg._core.live_node_count() == base
