"""micrograd's nn layer: Module, Neuron, Layer, MLP, with micrograd's signatures.

Same initialisation as micrograd (``random.uniform(-1, 1)`` per weight, in its order; biases 0), so
``random.seed(s)`` gives the same model. A neuron's forward pass is one call into C++ (``_core.neuron``)
instead of a Python ``+`` and ``*`` per input. Beyond micrograd: an activation per layer
(``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"linear"``), ``state_dict``/``load_state_dict``, pickling.
"""

from __future__ import annotations

import itertools
import operator
import random
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, SupportsIndex, Union

from . import _core
from ._core import Value

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
_REPR_NAMES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Linear"}

Input = Union[Value, float]


def _activation_name(activation: object) -> str:
    """The canonical name of an activation (None and "none" mean "linear")."""
    if activation is None:
        return "linear"
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a str or None, not {type(activation).__name__}")
    name = "linear" if activation == "none" else activation
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, ACTIVATIONS))} or None, not {activation!r}"
        )
    return name


def _size(n: object, what: str) -> int:
    """A layer size: a positive int (numpy integers too), not a bool or a float."""
    if isinstance(n, bool) or not isinstance(n, SupportsIndex):
        raise TypeError(f"{what} must be an int, not {type(n).__name__}")
    size = operator.index(n)
    if size < 1:
        raise ValueError(f"{what} must be at least 1, not {size}")
    if size > sys.maxsize:
        raise OverflowError(f"{what} {size} is too large")
    return size


class Module:
    """The base of ``Neuron``, ``Layer`` and ``MLP``, as micrograd's: ``parameters()`` and
    ``zero_grad()``, plus ``named_parameters()``, ``state_dict()`` and ``load_state_dict()``. A
    subclass lists its Values in ``parameters()``; models pickle."""

    def zero_grad(self) -> None:
        """Sets ``grad = 0`` on every parameter (between training steps: gradients accumulate)."""
        for p in self.parameters():
            p.grad = 0

    def parameters(self) -> list[Value]:
        """The trainable Values, in a fixed order (what an optimizer takes)."""
        return []

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """(name, parameter) pairs in ``parameters()`` order. A name is the dotted path of attributes,
        list indices and dict keys that leads to the parameter, such as ``layers.0.neurons.3.w.1``;
        if the attributes do not hold exactly ``parameters()`` (a subclass that keeps them elsewhere),
        names are the positions in ``parameters()`` instead.

        Names are unique: two different parameters whose paths spell the same name (a dict key with a
        dot in it, ``{"a.b": p}`` beside ``{"a": {"b": q}}``) are a ValueError naming both paths, since
        ``state_dict()`` would keep only one of them and ``load_state_dict()`` restore the other from it."""
        found = list(_walk(self, "", "", set()))
        params = self.parameters()
        if len(found) == len(params) and all(p is q or p == q for (_, _, p), q in zip(found, params)):
            first: dict[str, tuple[str, Value]] = {}
            for name, path, p in found:
                if name in first and first[name][1] != p:
                    raise ValueError(
                        f"two parameters of {type(self).__name__} have the name {name!r}: "
                        f"{type(self).__name__}{first[name][0]} and {type(self).__name__}{path}; "
                        "rename a key (names join the path with dots) so that each name is unique"
                    )
                first.setdefault(name, (path, p))
            yield from ((name, p) for name, _, p in found)
        else:
            yield from ((str(i), p) for i, p in enumerate(params))

    def state_dict(self) -> dict[str, float]:
        """The parameters' values by name: plain floats, JSON-serialisable."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Sets every parameter from ``state``. Checks everything first: on an error (ValueError for
        missing or unexpected names, TypeError for a value that is not a real number as ``Value()``
        takes it) the model is unchanged."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping of names to floats, not {type(state).__name__}")
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise ValueError(
                f"state does not fit {type(self).__name__}: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        values = {
            name: _core._real(x, f"state[{name!r}]") for name, x in state.items()
        }  # as Value() reads it
        for name, p in params.items():
            p.data = values[name]


def _walk(item: object, prefix: str, path: str, seen: set[int]) -> Iterator[tuple[str, str, Value]]:
    """The Values in item (a Value, a Module, or a list, tuple or dict of them), each with its dotted
    name and the Python path that reaches it (``.layers[0].neurons[3].w[1]``, ``.table['a.b']``)."""
    if isinstance(item, Value):
        yield prefix[:-1], path, item
        return
    if not isinstance(item, (Module, list, tuple, dict)) or id(item) in seen:
        return  # not a container of parameters, or met before (a module that refers back to its parent)
    seen.add(id(item))
    if isinstance(item, Module):
        for key, x in getattr(item, "__dict__", {}).items():
            if isinstance(key, str):
                yield from _walk(x, f"{prefix}{key}.", f"{path}.{key}", seen)
    elif isinstance(item, dict):
        for key, x in item.items():
            if isinstance(key, str):
                yield from _walk(x, f"{prefix}{key}.", f"{path}[{key!r}]", seen)
    else:
        for i, x in enumerate(item):
            yield from _walk(x, f"{prefix}{i}.", f"{path}[{i}]", seen)


class Neuron(Module):
    """``activation(w . x + b)`` on ``nin`` inputs, as micrograd's ``Neuron``: weights drawn with
    ``random.uniform(-1, 1)``, bias 0. ``activation`` (``"relu"``, ``"tanh"``, ``"sigmoid"``,
    ``"linear"`` or ``"none"``) or micrograd's ``nonlin`` (ReLU if true, the default, else linear)
    chooses it; given both, they must agree. The choice is kept once, as ``activation``; ``nonlin``
    reads it. Calling it is one call into C++ (``_core.neuron``).

    >>> import random
    >>> from micrograd_cpp.nn import Neuron
    >>> random.seed(0)
    >>> n = Neuron(2, activation="tanh")
    >>> n, n.nonlin
    (TanhNeuron(2), True)
    """

    def __init__(self, nin: int, nonlin: bool | None = None, activation: str | None = None) -> None:
        nin = _size(nin, "Neuron nin")
        if nonlin is not None and not isinstance(nonlin, (bool, int)):
            raise TypeError(f"nonlin must be a bool, not {type(nonlin).__name__}")
        if activation is None:
            name = "linear" if nonlin is not None and not nonlin else "relu"  # micrograd: nonlin=True
        else:
            name = _activation_name(activation)
            if nonlin is not None and bool(nonlin) != (name != "linear"):
                raise ValueError(f"nonlin={nonlin!r} contradicts activation={activation!r}")
        self.w: list[Value] = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b: Value = Value(0)
        self.activation: str = name

    @property
    def nonlin(self) -> bool:
        return self.activation != "linear"

    def __call__(self, x: Iterable[Input]) -> Value:
        return _core.neuron(self.w, self.b, x, self.activation)

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{_REPR_NAMES[self.activation]}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons, each on the same ``nin`` inputs, as micrograd's ``Layer``. ``kwargs`` go to each
    ``Neuron`` (``activation="tanh"``, or micrograd's ``nonlin=False``)."""

    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        self.neurons: list[Neuron] = [Neuron(nin, **kwargs) for _ in range(_size(nout, "Layer nout"))]

    def __call__(self, x: Iterable[Input]) -> Any:
        """One Value when the layer has one neuron, else a list of Values (micrograd's convention).

        Typed ``Any``, as ``torch.nn.Module.__call__``: which of the two it is depends on the layer's
        size, which a type checker cannot see, and either use must type-check without a cast."""
        if not isinstance(x, (list, tuple)):  # read once, for every neuron; never more than nin + 1 items
            x = tuple(itertools.islice(x, len(self.neurons[0].w) + 1))
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron, as micrograd's: ``nin`` inputs, then one layer per size in ``nouts``.

    ``activation`` says what each neuron applies to its weighted sum ``w . x + b``:

    - ``"relu"``: ``max(x, 0)`` (the default, micrograd's)
    - ``"tanh"``: ``tanh(x)`` (the lecture's)
    - ``"sigmoid"``: ``1 / (1 + exp(-x))``
    - ``"linear"``: nothing (``None`` and ``"none"`` mean the same)

    One name applies to every hidden layer and the last layer stays linear, as in micrograd; a list
    gives one name per layer, the last included. Weights are drawn with ``random.uniform(-1, 1)`` in
    micrograd's order (biases 0), so the same ``random.seed`` gives micrograd's model.

    >>> import random
    >>> from micrograd_cpp.nn import MLP
    >>> random.seed(1337)
    >>> model = MLP(2, [3, 1], activation="tanh")
    >>> model
    MLP of [Layer of [TanhNeuron(2), TanhNeuron(2), TanhNeuron(2)], Layer of [LinearNeuron(3)]]
    >>> len(model.parameters())
    13
    >>> round(model([0.5, -1.0]).data, 4)  # one output neuron: a single Value
    -0.82
    >>> MLP(2, [4, 2], activation=["tanh", "sigmoid"])  # one name per layer
    MLP of [Layer of [TanhNeuron(2), TanhNeuron(2), TanhNeuron(2), TanhNeuron(2)], Layer of [SigmoidNeuron(4), SigmoidNeuron(4)]]
    """

    def __init__(
        self, nin: int, nouts: Iterable[int], activation: str | Iterable[str | None] | None = "relu"
    ) -> None:
        if not isinstance(nouts, Iterable) or isinstance(nouts, (str, bytes)):
            raise TypeError(f"nouts must be a sequence of layer sizes, not {type(nouts).__name__}")
        sz = [_size(nin, "MLP nin"), *(_size(n, "MLP layer size") for n in nouts)]
        layers = len(sz) - 1
        if layers == 0:
            raise ValueError("MLP needs at least one layer size in nouts")
        per_layer: list[str]
        if isinstance(activation, str) or activation is None:
            hidden = _activation_name(activation)
            per_layer = [hidden if i != layers - 1 else "linear" for i in range(layers)]
        elif isinstance(activation, Iterable):
            per_layer = [_activation_name(a) for a in activation]
            if len(per_layer) != layers:
                raise ValueError(f"activation lists {len(per_layer)} names for {layers} layers")
        else:
            raise TypeError(
                f"activation must be a str, None or a sequence of them, not {type(activation).__name__}"
            )
        self.layers: list[Layer] = [Layer(sz[i], sz[i + 1], activation=per_layer[i]) for i in range(layers)]

    def __call__(self, x: Iterable[Input]) -> Any:
        """The last layer's output: one Value when it has one neuron (``MLP(2, [16, 1])``), else a
        list of Values. Typed ``Any`` for the reason given at ``Layer.__call__``."""
        out: Any = x
        for layer in self.layers:
            out = layer(out)
        return out

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


__all__ = ["MLP", "Layer", "Module", "Neuron"]
