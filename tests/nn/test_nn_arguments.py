"""micrograd_cpp.nn's constructors check what they are given (issue 8, item 8; issue 12): sizes, activations,
nonlin against activation; and named_parameters, written once in Module, names every parameter.
(Needs neither micrograd nor torch: the comparisons with micrograd are in test_nn.py.)
"""

import random

import pytest

from micrograd_cpp import Value
from micrograd_cpp.nn import MLP, Layer, Module, Neuron


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLP(-3, [2]),
        lambda: MLP(2, [-1, 1]),
        lambda: MLP(2, [1, 0]),
        lambda: MLP(0, [1]),
        lambda: MLP(2, []),
        lambda: MLP(2, [1], activation="bogus"),
        lambda: MLP(2, [3, 1], activation="Relu"),
        lambda: MLP(2, [3, 1], activation=["relu", "bogus"]),
        lambda: MLP(2, [3, 1], activation=["relu"]),
        lambda: Neuron(-1),
        lambda: Neuron(0),
        lambda: Neuron(2, activation="gelu"),
        lambda: Layer(2, 0),
        lambda: Layer(-2, 3),
        lambda: Neuron(2, nonlin=False, activation="relu"),
        lambda: Neuron(2, nonlin=True, activation="linear"),
        lambda: Layer(2, 3, nonlin=False, activation="tanh"),
    ],
)
def test_impossible_sizes_and_unknown_activations_are_value_errors(make):
    with pytest.raises(ValueError):  # noqa: PT011  (the messages are checked below)
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLP(True, [2]),
        lambda: MLP(2.0, [2]),
        lambda: MLP(2, [2.5]),
        lambda: MLP(2, [False]),
        lambda: MLP(2, 3),
        lambda: MLP(2, "3"),
        lambda: MLP(2, None),
        lambda: MLP(2, [1], activation=3),
        lambda: MLP(2, [1], activation=[3]),
        lambda: Neuron(2.0),
        lambda: Neuron("2"),
        lambda: Neuron(None),
        lambda: Neuron(2, nonlin="yes"),
        lambda: Layer(2, 1.0),
        lambda: Layer(True, 2),
    ],
)
def test_sizes_of_the_wrong_type_are_type_errors(make):
    with pytest.raises(TypeError):
        make()


def test_sizes_too_large_to_build_are_refused_at_once(child):
    """In a child with a timeout and (but under ASan, which needs its huge shadow mappings) a memory
    limit: before, these ran until memory ran out."""
    child(
        """
import sys
from micrograd_cpp import _core
from micrograd_cpp.nn import MLP, Layer, Neuron
if sys.platform.startswith("linux") and not _core.sanitized:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
for size in (10**30, 2**63, -(2**70)):
    for make in (lambda: MLP(size, [1]), lambda: Layer(2, size), lambda: Neuron(size), lambda: MLP(2, [size])):
        try:
            make()
        except (OverflowError, ValueError):
            pass
        else:
            raise AssertionError(size)
""",
        timeout=60,
    )


def test_the_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="nin must be at least 1, not -3"):
        MLP(-3, [2])
    with pytest.raises(ValueError, match="layer size must be at least 1, not -1"):
        MLP(2, [-1, 1])
    with pytest.raises(ValueError, match="'bogus'"):
        MLP(2, [1], activation="bogus")
    with pytest.raises(ValueError, match="contradicts"):
        Neuron(2, nonlin=False, activation="relu")
    with pytest.raises(TypeError, match="bool"):
        MLP(True, [2])


def test_numpy_integers_are_sizes():
    np = pytest.importorskip("numpy")
    model = MLP(np.int64(2), [np.int32(3), np.uint8(1)])
    assert len(model.parameters()) == 13


def test_nonlin_and_activation_agree_and_activation_is_the_one_record():
    assert Neuron(2).activation == "relu"  # micrograd's default, nonlin=True
    assert Neuron(2, nonlin=False).activation == "linear"
    assert Neuron(2, False).activation == "linear"  # micrograd passes it by position too
    assert Neuron(2, nonlin=True, activation="tanh").activation == "tanh"
    assert Neuron(2, nonlin=False, activation="linear").activation == "linear"
    assert Neuron(2, activation="none").activation == "linear"
    for activation, nonlin in (("relu", True), ("tanh", True), ("sigmoid", True), ("linear", False)):
        n = Neuron(2, activation=activation)
        assert n.nonlin is nonlin
        assert "nonlin" not in vars(n)  # derived, never stored beside activation


def test_micrograd_reprs_and_seeding_are_unchanged():
    random.seed(11)
    model = MLP(3, [4, 4, 1])
    assert repr(model) == (
        "MLP of [Layer of [ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3), ReLUNeuron(3)], "
        "Layer of [ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4), ReLUNeuron(4)], Layer of [LinearNeuron(4)]]"
    )
    random.seed(11)
    expected = [random.uniform(-1, 1) for _ in range(3 * 4 + 4 * 4 + 4)]  # micrograd's order, biases 0
    weights = [p.data for name, p in model.named_parameters() if not name.endswith(".b")]
    assert weights == expected
    assert repr(Neuron(2, nonlin=False)) == "LinearNeuron(2)"
    assert repr(Layer(1, 2)) == "Layer of [ReLUNeuron(1), ReLUNeuron(1)]"


def test_named_parameters_are_dotted_attribute_paths_in_parameters_order():
    model = MLP(2, [3, 1])
    named = list(model.named_parameters())
    assert [p for _, p in named] == model.parameters()
    assert [name for name, _ in named][:4] == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0",
    ]
    assert named[-1][0] == "layers.1.neurons.0.b"
    assert [name for name, _ in Neuron(2).named_parameters()] == ["w.0", "w.1", "b"]
    assert [name for name, _ in Layer(1, 2).named_parameters()] == [
        "neurons.0.w.0",
        "neurons.0.b",
        "neurons.1.w.0",
        "neurons.1.b",
    ]


def test_named_parameters_is_defined_once_in_module():
    for cls in (Neuron, Layer, MLP):
        assert "named_parameters" not in vars(cls)


def test_a_users_module_gets_names_from_its_attributes():
    class Affine(Module):
        def __init__(self):
            self.scale = Value(2.0)
            self.shift = {"x": Value(1.0), "y": Value(-1.0)}
            self.blocks = (Neuron(1), Neuron(1, nonlin=False))

        def parameters(self):
            return [self.scale, *self.shift.values(), *(p for b in self.blocks for p in b.parameters())]

    m = Affine()
    assert [name for name, _ in m.named_parameters()] == [
        "scale",
        "shift.x",
        "shift.y",
        "blocks.0.w.0",
        "blocks.0.b",
        "blocks.1.w.0",
        "blocks.1.b",
    ]
    state = m.state_dict()
    state["shift.y"] = 5.0
    m.load_state_dict(state)
    assert m.shift["y"].data == 5.0


def test_a_module_keeping_its_parameters_elsewhere_gets_positional_names():
    class Hidden(Module):
        def __init__(self):
            self._store = {1: Value(1.0)}  # not reachable by name
            self.cache = Value(9.0)  # reachable, but not a parameter

        def parameters(self):
            return list(self._store.values())

    assert [name for name, _ in Hidden().named_parameters()] == ["0"]


def test_a_module_that_refers_back_to_its_parent_is_walked_once():
    class Parent(Module):
        def __init__(self):
            self.child = Neuron(1)
            self.child.parent = self

        def parameters(self):
            return self.child.parameters()

    assert [name for name, _ in Parent().named_parameters()] == ["child.w.0", "child.b"]


def test_layers_read_a_generator_of_inputs_once_for_all_their_neurons():
    random.seed(2)
    layer = Layer(2, 3)
    expected = [o.data for o in layer([0.5, -1.0])]
    assert [o.data for o in layer(x for x in [0.5, -1.0])] == expected
    model = MLP(2, [3, 1])
    assert model(iter([0.5, -1.0])).data == model([0.5, -1.0]).data


def test_layers_and_models_refuse_an_endless_iterator_of_inputs(child):
    child(
        """
import itertools
from micrograd_cpp.nn import MLP, Layer
for model in (Layer(3, 2), MLP(3, [2, 1])):
    try:
        model(itertools.count())
    except ValueError as e:
        assert "3 weights but got 4 inputs" in str(e), e
    else:
        raise AssertionError("accepted")
""",
        timeout=60,
    )


def test_load_state_dict_takes_a_real_number_exactly_as_value_does():
    """Issue 12: one rule for a real number. Whatever Value() accepts, loading accepts (bool too)."""
    model = Neuron(1)
    for x in (True, 3, 2.5, Value(4.0).data, 10**20):
        model.load_state_dict({"w.0": x, "b": 0.0})
        assert model.w[0].data == Value(x).data
    for bad in ("1.0", None, 1j, [1.0]):
        with pytest.raises(TypeError):
            Value(bad)
        with pytest.raises(TypeError, match="real number"):
            model.load_state_dict({"w.0": bad, "b": 0.0})
    assert model.w[0].data == 1e20  # unchanged by the refused loads
