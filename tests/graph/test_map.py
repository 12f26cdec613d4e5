"""mg.Graph: a captured graph replayed forward and backward on its own Values, and run over a batch of rows
(map), against the graph built anew, PyTorch, and its own bad input."""

import gc
import math
import pickle
import random
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_reference import CASES

import micrograd_cpp as mg
from micrograd_cpp.losses import hinge_loss
from micrograd_cpp.nn import MLP

SANITIZED = mg._core.sanitized


def moons_like(n, seed=0):
    rng = random.Random(seed)
    return [[rng.uniform(-1.5, 2.5), rng.uniform(-1, 1.5), rng.choice([-1.0, 1.0])] for _ in range(n)]


def captured_model(seed=1337):
    """micrograd's demo model and one sample's hinge loss, captured with the sample as inputs."""
    random.seed(seed)
    model = MLP(2, [16, 16, 1])
    x = [mg.Value(0.0), mg.Value(0.0)]
    t = mg.Value(0.0)
    score = model(x)
    loss = (1 + -t * score).relu()
    return model, mg.Graph([loss, score], inputs=[*x, t])


def per_row(model, rows):
    """The same losses built anew for each row, as a user would without Graph."""
    losses, scores = [], []
    for a, b, label in rows:
        score = model([mg.Value(a), mg.Value(b)])
        losses.append((1 + -label * score).relu())
        scores.append(score)
    return losses, scores


def grads(model):
    return [p.grad for p in model.parameters()]


def close(a, b, rel=1e-12):
    assert len(a) == len(b)
    return all(math.isclose(x, y, rel_tol=rel, abs_tol=rel * 1e-3) for x, y in zip(a, b))


# --- capture ------------------------------------------------------------------


def test_a_graph_has_its_nodes_outputs_and_inputs():
    a, b = mg.Value(2.0), mg.Value(3.0)
    c = a * b + a
    g = mg.Graph(c, inputs=[a])
    assert len(g) == 4  # a, b, a*b, c
    assert g.outputs == (c,)
    assert g.inputs == (a,)
    assert repr(g) == "Graph(4 nodes, 1 outputs, 1 inputs)"
    assert g.nbytes > 0
    assert mg.Graph([c, a * 2]).outputs[0] == c


def test_a_graph_keeps_its_values_alive_and_frees_them_with_itself():
    gc.collect()
    before = mg._core.live_node_count()
    a = mg.Value(1.0)
    g = mg.Graph((a * a + 1).tanh())
    del a
    assert mg._core.live_node_count() == before + 5
    assert g.forward() == math.tanh(2.0)
    del g
    assert mg._core.live_node_count() == before


# --- replay on the Values -----------------------------------------------------


def test_forward_after_an_update_equals_a_rebuild_bit_for_bit():
    model, _ = captured_model()
    rows = moons_like(20)
    inputs = [[mg.Value(a), mg.Value(b)] for a, b, _ in rows]
    labels = [label for _, _, label in rows]
    total = hinge_loss([model(x) for x in inputs], labels) + 1e-4 * mg.sum(p * p for p in model.parameters())
    g = mg.Graph(total)
    for step in range(3):
        for p in model.parameters():
            p.data -= 0.05 * (p.grad + step)
        inputs[0][0].data += 0.1
        replayed = g.forward()
        rebuilt = hinge_loss([model(x) for x in inputs], labels) + 1e-4 * mg.sum(
            p * p for p in model.parameters()
        )
        assert replayed == rebuilt.data
        assert total.data == rebuilt.data  # the user's own Value shows it


def test_backward_equals_value_backward_exactly_and_doubles_exactly():
    model, _ = captured_model()
    inputs = [[mg.Value(a), mg.Value(b)] for a, b, _ in moons_like(10)]
    total = mg.sum(model(x) ** 2 for x in inputs)
    total.backward()
    total.backward()
    direct = grads(model)
    model.zero_grad()
    g = mg.Graph(total)
    g.backward()
    once = grads(model)
    g.backward()
    assert grads(model) == direct
    assert grads(model) == [2 * x for x in once]


def test_backward_differentiates_the_first_output_only():
    a, b = mg.Value(2.0), mg.Value(3.0)
    first, second = a * a, b * b
    b.grad = 5.0
    g = mg.Graph([first, second])
    g.backward()
    assert (a.grad, b.grad) == (4.0, 5.0)
    assert first.grad == 1.0


def test_forward_recomputes_data_dependent_ops():
    x = mg.Value(-1.0)
    y = (x * 3).relu() + (x * 2).tanh()
    g = mg.Graph(y)
    x.data = 2.0
    assert g.forward() == 6.0 + math.tanh(4.0)
    g.backward()
    assert x.grad == pytest.approx(3 + 2 * (1 - math.tanh(4.0) ** 2), rel=1e-15)


# --- map: a batch of rows -------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_map_equals_a_rebuild_per_row(reduction):
    model, g = captured_model()
    rows = moons_like(100)
    outs = g.map(rows, backward=True, reduction=reduction)
    batched = grads(model)
    model.zero_grad()
    losses, scores = per_row(model, rows)
    assert [o[0] for o in outs] == [v.data for v in losses]  # bit for bit
    assert [o[1] for o in outs] == [v.data for v in scores]
    total = mg.sum(losses)
    (total / len(rows) if reduction == "mean" else total).backward()
    assert close(batched, grads(model))


def _on_either_side(op, side):
    f = CASES[op].ours
    return (lambda x, w, v: f(w, x)) if side == "w, x" else (lambda x, w, v: f(x, w))


UNIFORM_MIXES = {
    # an op whose operands are an input's lanes (x), a parameter (w, one value for every row) or both
    **{
        f"{op} {side}": _on_either_side(op, side)
        for op in ("add", "sub", "mul", "div", "pow")
        for side in ("w, x", "x, w")
    },
    "dot of every pairing": lambda x, w, v: mg.dot([w, x, w, x, w, v], [x, w, w, x, w, v]),
    "dot with a parameter start": lambda x, w, v: w + x * v + w * x + v * w,  # fused: start, then pairs
    "dot with an input start": lambda x, w, v: x + w * v + x * x,
    "sum of inputs and parameters": lambda x, w, v: mg.sum([w, x, v, w, x]),
    "sum with a start": lambda x, w, v: mg.sum([x, w, v], start=w),
    "sum with an input start": lambda x, w, v: mg.sum([w, x, v], start=x),
}


@pytest.mark.parametrize("mix", sorted(UNIFORM_MIXES))
def test_map_reads_parameters_as_one_value_for_every_row(mix):
    """A varying step reads a parameter once for all rows and sums its gradient over them: values bit for
    bit and gradients within 1e-12 of a rebuild per row, on either side of every op, in every pairing."""
    build = UNIFORM_MIXES[mix]
    x = mg.Value(0.0)
    w, v = mg.Value(0.7), mg.Value(1.3)
    g = mg.Graph(build(x, w, v).tanh(), inputs=[x])
    rows = [[0.25 + 0.125 * k] for k in range(150)]  # more than one chunk of rows
    out = g.map(rows, backward=True)
    batched = [w.grad, v.grad]
    w.grad = v.grad = 0.0
    rebuilt = [build(mg.Value(a), w, v).tanh() for (a,) in rows]
    assert out == [r.data for r in rebuilt]
    mg.sum(rebuilt).backward()
    assert close(batched, [w.grad, v.grad])


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
    with pytest.raises(TypeError, match="rows\\[0\\]\\[1\\] must be a real number, not str"):
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


def test_map_adds_to_the_parameters_gradients_and_leaves_data_alone():
    model, g = captured_model()
    data = [p.data for p in model.parameters()]
    for p in model.parameters():
        p.grad = 1.0
    g.map(moons_like(5), backward=True)
    once = [x - 1.0 for x in grads(model)]
    g.map(moons_like(5), backward=True)
    assert close([x - 1.0 for x in grads(model)], [2 * x for x in once])
    assert [p.data for p in model.parameters()] == data
    assert all(v.grad == 0.0 for v in g.inputs)


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


def test_map_of_one_output_gives_a_list_of_floats():
    x, w = mg.Value(0.0), mg.Value(2.0)
    g = mg.Graph(x * w, inputs=[x])
    assert g.map([[1.0], [2.5], [-3]]) == [2.0, 5.0, -6.0]
    assert g.map([]) == []


def test_map_over_many_rows_crosses_chunks():
    x, w = mg.Value(0.0), mg.Value(0.5)
    g = mg.Graph((x * w).tanh() * w, inputs=[x])
    rows = [[math.sin(i)] for i in range(5000)]
    out = g.map(rows, backward=True)
    assert out == [math.tanh(r[0] * 0.5) * 0.5 for r in rows]
    expected = sum(math.tanh(r[0] * 0.5) + (1 - math.tanh(r[0] * 0.5) ** 2) * r[0] * 0.5 for r in rows)
    assert w.grad == pytest.approx(expected, rel=1e-12)


def test_data_dependent_ops_stay_correct_per_row():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph((x * w).relu(), inputs=[x])
    assert g.map([[-2.0], [3.0], [-1.0], [4.0]], backward=True) == [0.0, 3.0, 0.0, 4.0]
    assert w.grad == 7.0  # only the rows where relu passes


def numbers_in(case_name):
    """Inputs inside the op's domain for random rows."""
    lo, hi = CASES[case_name].domain
    return st.floats(max(lo, -3.0), min(hi, 3.0), allow_nan=False)


recipes = st.lists(
    st.tuples(st.sampled_from(sorted(CASES)), st.lists(st.integers(0, 10**6), min_size=6, max_size=6)),
    min_size=1,
    max_size=25,
)


def build(steps, x, params):
    """A random graph of every op over inputs x and parameters, shared subexpressions included; each op's
    operands squashed into its domain (x / (1 + x*x) then x*x + lo where it needs positive numbers)."""
    nodes = [*x, *params]
    for name, picks in steps:
        case = CASES[name]
        operands = [nodes[i % len(nodes)] for i in picks[: case.operands]]
        operands = [v / (1 + v * v) for v in operands]
        if case.domain[0] > 0:
            operands = [v * v + case.domain[0] for v in operands]
        nodes.append(case.ours(*operands))
    return nodes[-1] + mg.sum([*x, *nodes[len(x) :: 3]])  # every input in the graph


@settings(max_examples=60, deadline=None)
@given(recipes, st.lists(st.lists(st.floats(-2, 2, allow_nan=False), min_size=2, max_size=2), max_size=12))
def test_map_equals_a_rebuild_on_random_graphs_of_every_op(steps, rows):
    x = [mg.Value(0.0), mg.Value(0.0)]
    params = [mg.Value(0.3), mg.Value(-1.1), mg.Value(0.7)]
    g = mg.Graph(build(steps, x, params), inputs=x)
    if not rows:
        assert g.map(rows) == []
        return
    out = g.map(rows, backward=True)
    batched = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    rebuilt = [build(steps, [mg.Value(a), mg.Value(b)], params) for a, b in rows]
    assert out == [r.data for r in rebuilt]  # bit for bit, transcendental ops too
    mg.sum(rebuilt).backward()
    for ours, theirs in zip(batched, (p.grad for p in params)):
        assert math.isclose(ours, theirs, rel_tol=1e-11, abs_tol=1e-11 * (1 + abs(theirs))) or (
            math.isnan(ours) and math.isnan(theirs)
        )


def test_map_gradients_match_pytorch_batched(torch):
    model, g = captured_model()
    rows = moons_like(64)
    g.map(rows, backward=True, reduction="mean")
    layers = model.layers
    weights = [
        torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        for layer in layers
    ]
    biases = [
        torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        for layer in layers
    ]
    data = torch.tensor(rows, dtype=torch.float64)
    h = data[:, :2]
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = torch.relu(h)
    torch.relu(1 - data[:, 2] * h[:, 0]).mean().backward()
    theirs = []
    for w, b in zip(weights, biases):
        for row_w, row_b in zip(w.grad.tolist(), b.grad.tolist()):
            theirs += [*row_w, row_b]
    assert close(grads(model), theirs, rel=1e-12)


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("outputs", "error"),
    [(3.0, TypeError), ([mg.Value(1.0), "x"], TypeError), ([], ValueError), (None, TypeError)],
)
def test_bad_outputs_are_refused(outputs, error):
    with pytest.raises(error):
        mg.Graph(outputs)


def test_bad_inputs_are_refused():
    a, b = mg.Value(1.0), mg.Value(2.0)
    c = a * b
    with pytest.raises(ValueError, match="not a node of the graph"):
        mg.Graph(c, inputs=[mg.Value(5.0)])
    with pytest.raises(ValueError, match="not a leaf"):
        mg.Graph(c, inputs=[c])
    with pytest.raises(ValueError, match="given twice"):
        mg.Graph(c, inputs=[a, a])
    with pytest.raises(TypeError, match="Graph inputs must hold Values"):
        mg.Graph(c, inputs=[a, 2.0])
    with pytest.raises(TypeError):
        mg.Graph(c, inputs=a)


@pytest.mark.parametrize(
    ("rows", "kwargs", "error", "message"),
    [
        ([[1.0]], {}, ValueError, "rows\\[0\\] has 1 numbers, but the graph has 2 inputs"),
        ([[1.0, 2.0], [1.0, 2.0, 3.0]], {}, ValueError, "rows\\[1\\] has more than 2 numbers"),
        ([[1.0, "2"]], {}, TypeError, "rows\\[0\\]\\[1\\] must be a real number, not str"),
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


def test_backward_needs_a_differentiable_first_output():
    a, b = mg.Value(1.0), mg.Value(2.0)
    g = mg.Graph(a * b, inputs=[a, b])
    with pytest.raises(ValueError, match="no leaf that is not an input"):
        g.map([[1.0, 2.0]], backward=True)
    assert g.map([[1.0, 2.0]]) == [2.0]


def test_a_numpy_array_of_the_wrong_shape_is_refused():
    np = pytest.importorskip("numpy")
    a, b = mg.Value(0.0), mg.Value(0.0)
    g = mg.Graph(a + b, inputs=[a, b])
    with pytest.raises(ValueError, match="3 columns, but the graph has 2 inputs"):
        g.map(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="must be a sequence"):
        g.map(np.zeros(4))  # 1-D: rows of scalars


def test_a_graph_made_without_init_or_unpickled_is_refused():
    g = mg.Graph.__new__(mg.Graph)
    for call in (g.forward, g.backward, lambda: g.map([]), lambda: len(g), lambda: g.outputs):
        with pytest.raises(TypeError, match="without __init__"):
            call()
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(mg.Graph(mg.Value(1.0) * 2))


# --- threads, size, memory --------------------------------------------------------


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


@pytest.mark.slow
def test_a_ten_million_node_graph_is_captured_and_replayed(child):
    out = child(
        """
        import micrograd_cpp as mg
        w, b, x = mg.Value(1.0 + 1e-9), mg.Value(1e-9), mg.Value(0.0)
        y = x
        for _ in range(5_000_000):
            y = y * w + b
        g = mg.Graph(y, inputs=[x])
        assert len(g) == 10_000_003, len(g)
        value = g.forward()
        g.backward()
        assert w.grad > 0 and b.grad > 0
        assert g.map([[0.0], [1.0]], backward=True)[0] == value
        print("ok", len(g), g.nbytes // len(g))
        """
    )
    assert out.startswith("ok")


@pytest.mark.skipif(SANITIZED, reason="ASan's allocator keeps freed memory: RSS says nothing there")
def test_memory_stays_flat_over_a_thousand_replays(child):
    out = child(
        """
        import random, resource
        import micrograd_cpp as mg
        from micrograd_cpp.nn import MLP
        random.seed(0)
        model = MLP(2, [16, 16, 1])
        x = [mg.Value(0.0), mg.Value(0.0)]
        g = mg.Graph(model(x), inputs=x)
        rows = [[random.random(), random.random()] for _ in range(200)]
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize()
        for _ in range(50):
            g.map(rows, backward=True); g.forward(); g.backward()
        before = rss()
        for _ in range(1000):
            g.map(rows, backward=True); g.forward(); g.backward()
        print(rss() - before)
        """
    )
    assert int(out) < 1 << 20
