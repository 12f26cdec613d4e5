"""Graph.map(threads=...): the rows split among threads where the batch is large enough, every value and
gradient the same bits whatever the count (the chunks' sums are added in the chunks' order), a rerun
after an overflow and Ctrl-C as with one thread; threads is None or a positive integer (an int, or
anything with __index__), never more than the machine's cores."""

from __future__ import annotations

import math
import random

import pytest
from support import same_bits

import micrograd_cpp as mg
from micrograd_cpp.nn import MLP


def model_graph(width: int, l2: bool = True) -> tuple[mg.Graph, list[mg.Value]]:
    random.seed(width)
    model = MLP(2, [width, width, 1])
    x, t = [mg.Value(0.0), mg.Value(0.0)], mg.Value(0.0)
    loss = (1 + -t * model(x)).relu()
    if l2:
        loss = loss + 1e-4 * mg.sum(p * p for p in model.parameters())
    return mg.Graph(loss, inputs=[*x, t]), model.parameters()


def moons_rows(n: int, scale: float = 1.0) -> list[list[float]]:
    rnd = random.Random(n)
    return [[rnd.uniform(-2, 2) * scale, rnd.uniform(-2, 2), rnd.choice((-1.0, 1.0))] for _ in range(n)]


def run(graph: mg.Graph, params: list[mg.Value], rows: list[list[float]], **kwargs: object):
    for p in params:
        p.grad = 0.0
    values = graph.map(rows, backward=True, **kwargs)
    return values, [p.grad for p in params]


@pytest.mark.parametrize(("width", "count"), [(16, 5_000), (33, 1_500), (8, 20_000)])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_values_and_gradients_are_the_same_bits_for_every_thread_count(width, count, reduction):
    graph, params = model_graph(width)
    rows = moons_rows(count)
    values, grads = run(graph, params, rows, reduction=reduction, threads=1)
    for threads in (2, 3, 4, 7, None, 1):
        v, g = run(graph, params, rows, reduction=reduction, threads=threads)
        assert all(same_bits(a, b) for a, b in zip(v, values, strict=True)), threads
        assert all(same_bits(a, b) for a, b in zip(g, grads, strict=True)), threads


def test_an_overflow_rerun_is_the_same_bits_with_threads():
    """Rows whose gradients meet past the largest double in a running sum: the scaled rerun."""
    x, w = mg.Value(0.0), mg.Value(1.0)
    graph = mg.Graph(
        mg.sum([w * x * 1e307 for _ in range(3)] + [x.tanh() * w for _ in range(200)]), inputs=[x]
    )
    rows = [[(-1.0) ** k * 1.5] for k in range(6_000)] + [[0.5]] * 3
    found = []
    for threads in (1, 2, 4):
        w.grad = 0.0
        values = graph.map(rows, backward=True, threads=threads)
        found.append((values, w.grad))
    assert math.isfinite(found[0][1]), found[0][1]  # 3 rows' 4.5e307, the rest cancelling
    assert all(f == found[0] for f in found[1:])


def test_a_small_batch_with_many_threads_asked_is_exact():
    graph, params = model_graph(4, l2=False)
    rows = moons_rows(3)
    assert run(graph, params, rows, threads=64) == run(graph, params, rows, threads=1)


@pytest.mark.parametrize("threads", [0, -1, -(2**70), 2**70])
def test_threads_not_a_positive_int_is_a_value_error(threads):
    graph, params = model_graph(2, l2=False)
    with pytest.raises(ValueError, match="threads"):
        graph.map([[0.0, 0.0, 1.0]], backward=True, threads=threads)
    assert all(p.grad == 0.0 for p in params)


@pytest.mark.parametrize("threads", [True, 1.0, "2", [2], 2 + 0j])
def test_threads_of_another_type_is_a_type_error(threads):
    graph, _ = model_graph(2, l2=False)
    with pytest.raises(TypeError, match="threads must be an int or None"):
        graph.map([[0.0, 0.0, 1.0]], threads=threads)


class Index:
    """An integer as NumPy's are: __index__ alone."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __index__(self) -> int:
        return self.n


def test_threads_with_index_is_a_count():
    graph, params = model_graph(8)
    rows = moons_rows(3_000)
    expected = run(graph, params, rows, threads=2)
    assert run(graph, params, rows, threads=Index(2)) == expected
    with pytest.raises(ValueError, match="threads"):
        graph.map(rows[:1], threads=Index(0))
    np = pytest.importorskip("numpy")
    assert run(graph, params, rows, threads=np.int64(2)) == expected


def test_an_index_that_raises_raises_its_own_error_and_adds_nothing():
    class Broken:
        def __index__(self) -> int:
            raise KeyError("its own")

    graph, params = model_graph(2)
    with pytest.raises(KeyError, match="its own"):
        graph.map([[0.0, 0.0, 1.0]], backward=True, threads=Broken())
    assert all(p.grad == 0.0 for p in params)


def test_more_threads_than_cores_keep_no_more_buffers():
    """threads=1024 on a machine of a few cores: as many threads as cores, and their buffers alone."""
    graph, params = model_graph(16)
    rows = moons_rows(20_000)
    expected = run(graph, params, rows, threads=None)
    nbytes = graph.nbytes
    assert run(graph, params, rows, threads=1024) == expected
    assert graph.nbytes == nbytes
