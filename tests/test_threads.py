"""Several Python threads building and differentiating graphs at once, sharing leaves."""

import sys
import threading

import micrograd_cpp as mg


def test_threads_share_leaves_without_corruption():
    weights = [mg.Value(float(i)) for i in range(8)]
    base = mg._core.live_node_count()
    n_threads, steps = 8, 300
    errors = []

    def work(tid):
        try:
            for step in range(steps):
                xs = [float(tid + step + i) for i in range(8)]
                loss = sum((w * x for w, x in zip(weights, xs)), 0.0).tanh() * 0 + sum(
                    (w * x for w, x in zip(weights, xs)), 0.0
                )
                loss.backward()
                assert loss.data == sum(float(i) * x for i, x in enumerate(xs))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)

    assert not errors
    for i, w in enumerate(weights):
        expected = sum(float(t + s + i) for t in range(n_threads) for s in range(steps))
        assert w.grad == expected
    assert mg._core.live_node_count() == base
