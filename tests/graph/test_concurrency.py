"""mg.Graph and threads: map lets go of the GIL while its kernel runs, graphs in threads give what they
give alone, and one Graph used from two threads at once is an error, not a race."""

import threading
import time

import pytest
from support import captured_model, moons_like

import micrograd_cpp as mg


def test_map_releases_the_gil_while_its_kernel_runs():
    np = pytest.importorskip("numpy")  # rows read in a blink: the map's time is its kernel's
    model, _ = captured_model()
    x = [mg.Value(0.0), mg.Value(0.0)]
    g = mg.Graph(model(x), inputs=x)
    rows = np.array([r[:2] for r in moons_like(200_000)])
    span = []
    ticks = []
    started = threading.Barrier(2)

    def work():
        started.wait()
        begin = time.perf_counter()
        g.map(rows, backward=True)
        span.extend([begin, time.perf_counter()])

    def tick():  # Python code: it can run during the map only if the map let go of the GIL
        started.wait()
        while worker.is_alive():
            ticks.append(time.perf_counter())

    worker, ticker = threading.Thread(target=work), threading.Thread(target=tick)
    for t in (worker, ticker):
        t.start()
    for t in (worker, ticker):
        t.join()
    begin, end = span
    inside = [t for t in ticks if begin + 0.2 * (end - begin) < t < begin + 0.8 * (end - begin)]
    assert len(inside) > 100, (len(inside), end - begin)


def test_graphs_in_threads_give_what_they_give_alone():
    graphs = [captured_model(seed) for seed in (1, 2, 3)]
    rows = moons_like(20_000)
    expected = [g.map(rows) for _, g in graphs]
    results = [None] * len(graphs)

    def work(k):
        results[k] = graphs[k][1].map(rows)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(graphs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


def test_one_graph_from_two_threads_at_once_is_an_error_not_a_race():
    _, g = captured_model()
    rows = moons_like(50000)
    expected = g.map(rows[:100])
    errors = []

    def work():
        try:
            g.map(rows, backward=True)
        except RuntimeError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("in use (by another thread" in e for e in errors)
    assert g.map(rows[:100]) == expected
