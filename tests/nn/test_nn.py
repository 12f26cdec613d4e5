"""micrograd_cpp.nn as a drop-in for micrograd.nn: same models, same results, plus saving.

The comparisons take the `micrograd` fixture (PyPI's micrograd) and skip without it; the rest runs
everywhere."""

import json
import pickle
import random

import pytest

import micrograd_cpp
from micrograd_cpp import Value
from micrograd_cpp.nn import MLP, Layer, Module, Neuron


def pair(make, micrograd):
    """The same model built by micrograd and by micrograd_cpp from the same seed."""
    random.seed(7)
    theirs = make(micrograd.nn)
    random.seed(7)
    ours = make(micrograd_cpp.nn)
    return theirs, ours


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.Neuron(3),
        lambda nn: nn.Neuron(3, nonlin=False),
        lambda nn: nn.Layer(2, 4),
        lambda nn: nn.Layer(3, 1, nonlin=False),
        lambda nn: nn.MLP(2, [16, 16, 1]),
        lambda nn: nn.MLP(3, [4, 4, 2]),
    ],
)
def test_same_initial_parameters_and_repr_as_micrograd(micrograd, make):
    theirs, ours = pair(make, micrograd)
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    assert repr(ours) == repr(theirs)
    assert all(isinstance(p, Value) for p in ours.parameters())


def test_outputs_match_micrograd_bit_for_bit(micrograd):
    theirs, ours = pair(lambda nn: nn.MLP(3, [8, 8, 2]), micrograd)
    x = [0.3, -1.2, 2.0]
    out_theirs = theirs([micrograd.engine.Value(v) for v in x])
    out_ours = ours(x)
    assert [o.data for o in out_ours] == [o.data for o in out_theirs]


def test_single_output_layer_returns_a_value():
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)
    out = Layer(2, 3)([1.0, 2.0])
    assert isinstance(out, list)
    assert len(out) == 3


def test_inputs_may_be_values_floats_tuples_or_numpy():
    np = pytest.importorskip("numpy")
    random.seed(0)
    model = MLP(2, [3, 1])
    expected = model([0.5, -0.25]).data
    assert model([Value(0.5), Value(-0.25)]).data == expected
    assert model((0.5, -0.25)).data == expected
    assert model(np.array([0.5, -0.25])).data == expected
    assert model([Value(0.5), -0.25]).data == expected


def test_gradients_reach_every_parameter():
    random.seed(1)
    model = MLP(2, [4, 1], activation="tanh")
    model([0.3, 0.8]).backward()
    assert all(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


@pytest.mark.parametrize(("activation", "name"), [("relu", "ReLU"), ("tanh", "Tanh"), ("sigmoid", "Sigmoid")])
def test_activation_per_layer(activation, name):
    model = MLP(2, [3, 1], activation=activation)
    assert repr(model).startswith(f"MLP of [Layer of [{name}Neuron(2)")
    assert repr(model).endswith("[LinearNeuron(3)]]")
    x = [0.2, -0.7]
    hidden = model.layers[0](x)
    pre = [sum((w * xi for w, xi in zip(n.w, x)), n.b) for n in model.layers[0].neurons]
    assert [h.data for h in hidden] == [getattr(p, activation)().data for p in pre]


def test_activation_list_sets_every_layer():
    model = MLP(2, [3, 3, 1], activation=["tanh", "sigmoid", "tanh"])
    assert repr(model) == (
        "MLP of [Layer of [TanhNeuron(2), TanhNeuron(2), TanhNeuron(2)], "
        "Layer of [SigmoidNeuron(3), SigmoidNeuron(3), SigmoidNeuron(3)], Layer of [TanhNeuron(3)]]"
    )
    assert -1 < model([5.0, 5.0]).data < 1
    assert repr(MLP(1, [2], activation=[None])) == "MLP of [Layer of [LinearNeuron(1), LinearNeuron(1)]]"
    assert repr(Neuron(2, activation="none")) == "LinearNeuron(2)"


def test_bad_configuration_and_inputs():
    with pytest.raises(ValueError, match="activation"):
        Neuron(2, activation="gelu")
    with pytest.raises(ValueError, match="2 names for 3 layers"):
        MLP(2, [3, 3, 1], activation=["relu", "relu"])
    n = Neuron(2)
    with pytest.raises(ValueError, match="2 weights but got 3 inputs"):
        n([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="str"):
        n([1.0, "2"])
    with pytest.raises(TypeError):
        n(5)


def run_notebook(engine, nn, X, y, steps):
    """micrograd's demo notebook training loop, verbatim but for the modules it is given.
    Returns the (loss, accuracy) of each step and the final parameters."""
    Value, MLP = engine.Value, nn.MLP
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    history = []
    for k in range(steps):
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        alpha = 1e-4
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append((total_loss.data, sum(accuracy) / len(accuracy)))
    return history, [p.data for p in model.parameters()]


def assert_same_runs(ours, theirs):
    (ours_history, ours_params), (theirs_history, theirs_params) = ours, theirs
    for (l1, a1), (l2, a2) in zip(ours_history, theirs_history):
        assert isinstance(l1, float)
        assert l1 == pytest.approx(l2, rel=1e-9)
        assert a1 == a2
    assert ours_params == pytest.approx(theirs_params, rel=1e-9, abs=1e-12)


def test_micrograd_demo_code_runs_unchanged_on_both(micrograd):
    """micrograd's demo notebook loop, imports switched: same losses, accuracies and parameters."""
    rng = random.Random(1337)
    X = [[rng.uniform(-1, 2), rng.uniform(-1, 1)] for _ in range(30)]
    y = [1 if a * a + b > 0.5 else -1 for a, b in X]
    assert_same_runs(
        run_notebook(micrograd_cpp.engine, micrograd_cpp.nn, X, y, 4),
        run_notebook(micrograd.engine, micrograd.nn, X, y, 4),
    )


def test_state_dict_round_trips_through_json():
    random.seed(3)
    model = MLP(2, [4, 1])
    state = json.loads(json.dumps(model.state_dict()))
    assert len(state) == len(model.parameters()) == 17
    assert "layers.0.neurons.3.w.1" in state
    assert "layers.1.neurons.0.b" in state
    random.seed(4)
    other = MLP(2, [4, 1])
    other.load_state_dict(state)
    assert [p.data for p in other.parameters()] == [p.data for p in model.parameters()]
    assert other([0.1, 0.2]).data == model([0.1, 0.2]).data


@pytest.mark.parametrize(
    ("damage", "error", "match"),
    [
        (lambda s: s.pop("layers.0.neurons.0.b"), ValueError, "missing"),
        (lambda s: s.update({"layers.9.neurons.0.b": 1.0}), ValueError, "unexpected"),
        (lambda s: s.update({"layers.1.neurons.0.b": "x"}), TypeError, "real number"),
        (lambda s: s.update({"layers.1.neurons.0.b": None}), TypeError, "real number"),
    ],
)
def test_loading_a_wrong_state_raises_and_leaves_the_model_unchanged(damage, error, match):
    random.seed(3)
    model = MLP(2, [4, 1])
    before = [p.data for p in model.parameters()]
    state = {name: 0.5 for name in model.state_dict()}
    damage(state)
    with pytest.raises(error, match=match):
        model.load_state_dict(state)
    assert [p.data for p in model.parameters()] == before


def test_state_of_another_shape_is_refused():
    model = MLP(2, [4, 1])
    with pytest.raises(ValueError, match="missing"):
        model.load_state_dict(MLP(2, [3, 1]).state_dict())
    with pytest.raises(TypeError):
        model.load_state_dict([0.0] * 17)


def test_pickle_a_whole_model():
    random.seed(5)
    model = MLP(3, [5, 5, 2], activation="tanh")
    clone = pickle.loads(pickle.dumps(model))
    assert repr(clone) == repr(model)
    x = [0.1, -0.4, 0.9]
    assert [o.data for o in clone(x)] == [o.data for o in model(x)]
    assert all(a is not b for a, b in zip(clone.parameters(), model.parameters()))


def test_module_base_class():
    assert Module().parameters() == []
    assert Module().state_dict() == {}


def test_micrograd_notebook_with_numpy_moons_runs_unchanged(micrograd):
    """The notebook's own data path: make_moons arrays, numpy labels, Value over numpy rows."""
    np = pytest.importorskip("numpy")
    datasets = pytest.importorskip("sklearn.datasets")
    np.random.seed(1337)
    X, y = datasets.make_moons(n_samples=100, noise=0.1)
    y = y * 2 - 1
    assert_same_runs(
        run_notebook(micrograd_cpp.engine, micrograd_cpp.nn, X, y, 2),
        run_notebook(micrograd.engine, micrograd.nn, X, y, 2),
    )
