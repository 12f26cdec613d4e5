"""The studio's numbers against independent computations: a training step against the whole loss
rebuilt with Values and backward(); the optimizer's table against the engine's own update; the
autograd view's local gradients against the chain rule and finite differences; show()'s handle."""

from __future__ import annotations

import base64
import math
import random
from array import array

import pytest

import micrograd_cpp as mg
from micrograd_cpp import studio
from micrograd_cpp.nn import MLP
from micrograd_cpp.studio._autograd import SampleGraph
from micrograd_cpp.studio._config import ConfigError, checked
from micrograd_cpp.studio._data import MAKERS, make
from micrograd_cpp.studio._session import Session


def decode(encoded):
    return array("d" if encoded["dtype"] == "float64" else "f", base64.b64decode(encoded["b64"])).tolist()


def rebuilt_loss(session):
    """The training loss as micrograd would build it: every point's graph, Python's sum, backward()."""
    terms = []
    for (x, y), t in zip(session.points, session.labels):
        score = session.model([mg.Value(x), mg.Value(y)])
        terms.append((-t * score).softplus())
    loss = mg.sum(terms) / len(terms)
    if session.config["l2"]:
        loss = loss + session.config["l2"] * mg.sum([p * p for p in session.params])
    return loss


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_step_is_the_rebuilt_losss_gradient_step(optimizer):
    session = Session(
        checked({"hidden": [5, 3], "points": 40, "optimizer": optimizer, "learning_rate": 0.05})
    )
    session.step(3)
    before = [p.data for p in session.params]
    loss = rebuilt_loss(session)
    for p in session.params:
        p.grad = 0.0
    loss.backward()
    expected = [p.grad for p in session.params]
    session.step(1)
    # summed in another order by Graph.map: equal within the sums' rounding (terms * eps * magnitudes)
    assert session.last_grad == pytest.approx(expected, rel=1e-10, abs=1e-15)
    # the loss the session reports is the one of the parameters before its step
    assert session.history[-1][1] == pytest.approx(loss.data, rel=1e-13)
    update = [p.data - b for p, b in zip(session.params, before)]
    assert session.last_update == update
    if optimizer == "sgd":
        # p += -lr * g, read back as the difference: exact but for p's own rounding
        assert update == pytest.approx([-0.05 * g for g in session.last_grad], rel=1e-12, abs=1e-15)


def test_the_tables_adam_moments_give_the_engines_update():
    session = Session(checked({"hidden": [4], "optimizer": "adam", "learning_rate": 0.02, "l2": 0.0}))
    session.step(7)
    k = session.step_count
    (b1, b2), eps, lr = (0.9, 0.999), 1e-8, 0.02
    predicted = [
        -lr / (1 - b1**k) * m / (math.sqrt(v) / math.sqrt(1 - b2**k) + eps)
        for m, v in zip(session.exp_avg, session.exp_avg_sq)
    ]
    assert session.last_update == pytest.approx(predicted, rel=1e-9, abs=1e-15)


def test_the_sample_graph_is_the_values_graph_and_its_local_gradients_obey_the_chain_rule():
    random.seed(3)
    model = MLP(2, [3, 2, 1], activation="tanh")
    graph = SampleGraph(model)
    frame = graph.refresh(model, 0.3, -0.7, -1.0)
    data, grad, local = decode(frame["data"]), decode(frame["grad"]), decode(frame["local"])
    # against the same loss built afresh on the model itself
    x = [mg.Value(0.3), mg.Value(-0.7)]
    y = -1.0
    loss = (-y * model(x)).softplus()
    loss.backward()
    assert data[graph.index[graph.loss]] == loss.data
    by_label = {v.label: i for i, v in enumerate(graph.nodes) if v.label}
    for name, p in zip(graph.param_names, model.parameters()):
        label = graph.params[[n for n in graph.param_names].index(name)].label
        assert grad[by_label[label]] == pytest.approx(p.grad, rel=1e-12, abs=1e-15)
    # every node's grad is the sum over its users of local * the user's grad: the step-through's rule
    flowing = [0.0] * len(graph.nodes)
    for (operand, node, _), l in zip(graph.edges, local):
        flowing[operand] += l * grad[node]
    root = graph.index[graph.loss]
    for i in range(len(graph.nodes)):
        if i != root:
            assert flowing[i] == pytest.approx(grad[i], rel=1e-12, abs=1e-15)
    # each local gradient against a central difference of its op
    for (_, node, slot), l in zip(graph.edges, local):
        v = graph.nodes[node]
        numbers = [data[graph.index[c]] for c in v._children]

        def f(t, v=v, numbers=numbers, slot=slot):
            leaves = [mg.Value(n + (t if j == slot else 0.0)) for j, n in enumerate(numbers)]
            return {
                "+": lambda a: a[0] + a[1],
                "*": lambda a: a[0] * a[1],
                "tanh": lambda a: a[0].tanh(),
                "neg": lambda a: -a[0],
                "softplus": lambda a: a[0].softplus(),
            }[v._op](leaves).data

        h = 1e-6
        assert l == pytest.approx((f(h) - f(-h)) / (2 * h), rel=1e-5, abs=1e-7)


def test_a_collapsed_neurons_local_gradients_are_d_out_d_input():
    random.seed(5)
    model = MLP(2, [3, 1], activation="relu")
    graph = SampleGraph(model)
    frame = graph.refresh(model, 0.4, 0.9, 1.0)
    group_local = decode(frame["group_local"])
    data = decode(frame["data"])
    offset = 0
    for group in graph.groups:
        neuron = graph.mirror.layers[group["layer"]].neurons[group["neuron"]]
        for j in range(len(group["inputs"])):
            xs = [data[k] for k in group["inputs"]]
            pre = sum(w.data * xv for w, xv in zip(neuron.w, xs)) + neuron.b.data
            slope = {"relu": 1.0 if pre > 0 else 0.0, "linear": 1.0}[neuron.activation]
            assert group_local[offset + j] == pytest.approx(slope * neuron.w[j].data, rel=1e-12, abs=1e-15)
        offset += len(group["inputs"])


def test_the_sample_graph_never_touches_the_models_gradients():
    session = Session(checked({"hidden": [3]}))
    session.step(1)
    grads = [p.grad for p in session.params]
    session.snapshot()
    assert [p.grad for p in session.params] == grads


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_data_sets_are_deterministic_balanced_and_leave_the_global_random_state(name):
    state = random.getstate()
    points, labels = make(name, 101, 0.1, 7)
    assert random.getstate() == state
    assert (points, labels) == make(name, 101, 0.1, 7)
    assert len(points) == 101
    assert set(labels) == {-1, 1}
    assert abs(labels.count(1) - labels.count(-1)) <= 1
    assert all(abs(c) < 3 for p in points for c in p)


def test_the_seeded_model_leaves_the_global_random_state():
    random.seed(11)
    expected = random.random()
    random.seed(11)
    Session(checked({"hidden": [8, 8]}))
    assert random.random() == expected


def test_show_outside_a_notebook_prints_the_url_and_the_handle_drives_the_session(capsys, tmp_path):
    h = studio.show(hidden=[4], points=30)
    try:
        out = capsys.readouterr().out
        assert out.startswith("micrograd_cpp studio: http://127.0.0.1:")
        assert h.url in out
        assert h.state()["step"] == 0
        assert h.step(5)["step"] == 5
        h.play()
        assert h.state()["playing"] is True
        h.pause()
        assert h.state()["playing"] is False
        steps = h.state()["step"]
        assert steps >= 5
        path = h.export(tmp_path / "run.html")
        assert path.endswith("run.html")
        assert (tmp_path / "run.html").stat().st_size > 10_000
        h.reset()
        assert h.state()["step"] == 0
    finally:
        h.close()


def test_show_trains_the_users_model_on_the_users_data_in_place():
    random.seed(0)
    model = MLP(2, [6, 1], activation="tanh")
    data = [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 5
    labels = [0, 0, 1, 1] * 5
    before = [p.data for p in model.parameters()]
    h = studio.show(model, data=data, labels=labels, optimizer="adam", learning_rate=0.05)
    try:
        assert h.model is model
        assert h.state()["config"]["hidden"] == [6]
        assert h.state()["config"]["activation"] == "tanh"
        h.step(300)
        assert [p.data for p in model.parameters()] != before
        assert h.state()["accuracy"] == 1.0
        h.reset()
        assert [p.data for p in model.parameters()] == before
    finally:
        h.close()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"bogus": 1}, ConfigError),
        ({"hidden": [0]}, ConfigError),
        ({"learning_rate": "abc"}, ConfigError),
        ({"model": MLP(3, [2, 1])}, ValueError),
        ({"model": MLP(2, [2, 2])}, ValueError),
        ({"model": "mlp"}, TypeError),
        ({"data": [[0, 0], [1, 1]]}, ValueError),
        ({"data": [[0, 0], [1, 1]], "labels": [0, 1, 2]}, ValueError),
        ({"data": [[0, 0], [1, 1], [2, 2]], "labels": [0, 1, 2]}, ValueError),
        ({"data": [[0, "a"], [1, 1]], "labels": [0, 1]}, TypeError),
        ({"data": [[0, math.nan], [1, 1]], "labels": [0, 1]}, ValueError),
        ({"data": [[0, 0, 0], [1, 1, 1]], "labels": [0, 1]}, ValueError),
    ],
)
def test_show_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error):
        studio.show(**kwargs)


def test_a_recording_cannot_end_the_pages_script_element():
    from micrograd_cpp.studio._page import page_html

    hostile = "</script><script>alert(1)</script><!--\u2028"
    page = page_html({"static": {"label": hostile}, "frames": [], "history": []}).decode()
    assert hostile not in page
    assert page.count("</script>") == 2  # the page's own two script elements
