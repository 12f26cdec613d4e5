"""micrograd's nn layer: Module, Neuron, Layer, MLP, with micrograd's signatures.

Same initialisation as micrograd (``random.uniform(-1, 1)`` per weight, in its order; biases 0), so
``random.seed(s)`` gives the same model. A neuron's forward pass is one call into C++ (``_core.neuron``)
instead of a Python ``+`` and ``*`` per input. Beyond micrograd: an activation per layer
(``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"linear"``), ``state_dict``/``load_state_dict``, pickling.
"""

from __future__ import annotations

import numbers
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

from . import _core
from ._core import Value

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
_REPR_NAMES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Linear"}

Input = Union[Value, float]


def _activation_name(activation: str | None) -> str:
    name = "linear" if activation in (None, "none") else activation
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, ACTIVATIONS))} or None, not {activation!r}"
        )
    return name


class Module:
    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0

    def parameters(self) -> list[Value]:
        return []

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """(name, parameter) pairs; names are dotted paths such as ``layers.0.neurons.3.w.1``."""
        for i, p in enumerate(self.parameters()):
            yield str(i), p

    def state_dict(self) -> dict[str, float]:
        """The parameters' values by name: plain floats, JSON-serialisable."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Sets every parameter from ``state``. Checks everything first: on an error (ValueError for
        missing or unexpected names, TypeError for a value that is not a real number) the model is
        unchanged."""
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
        values: dict[str, float] = {}
        for name, x in state.items():
            if isinstance(x, bool) or not isinstance(x, numbers.Real):
                raise TypeError(f"state[{name!r}] must be a real number, not {type(x).__name__}")
            values[name] = float(x)
        for name, p in params.items():
            p.data = values[name]


class Neuron(Module):
    def __init__(self, nin: int, nonlin: bool = True, activation: str | None = None) -> None:
        self.w: list[Value] = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b: Value = Value(0)
        self.nonlin: bool = nonlin
        self.activation: str = (
            _activation_name(activation) if activation is not None else ("relu" if nonlin else "linear")
        )

    def __call__(self, x: Sequence[Input]) -> Value:
        return _core.neuron(self.w, self.b, x, self.activation)

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, w in enumerate(self.w):
            yield f"w.{i}", w
        yield "b", self.b

    def __repr__(self) -> str:
        return f"{_REPR_NAMES[self.activation]}Neuron({len(self.w)})"


class Layer(Module):
    def __init__(self, nin: int, nout: int, **kwargs: Any) -> None:
        self.neurons: list[Neuron] = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x: Sequence[Input]) -> Any:
        """One Value when the layer has one neuron, else a list of Values (micrograd's convention).

        Typed ``Any``, as ``torch.nn.Module.__call__``: which of the two it is depends on the layer's
        size, which a type checker cannot see, and either use must type-check without a cast."""
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, n in enumerate(self.neurons):
            for name, p in n.named_parameters():
                yield f"neurons.{i}.{name}", p

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes ``nouts``. ``activation``: one name for every hidden layer (the last layer stays
    linear, as in micrograd), or a sequence with one name per layer."""

    def __init__(
        self, nin: int, nouts: Sequence[int], activation: str | Sequence[str | None] = "relu"
    ) -> None:
        sz = [nin, *nouts]
        per_layer: list[str | None]
        if isinstance(activation, str) or activation is None:
            per_layer = [activation if i != len(nouts) - 1 else "linear" for i in range(len(nouts))]
        else:
            per_layer = list(activation)
            if len(per_layer) != len(nouts):
                raise ValueError(f"activation lists {len(per_layer)} names for {len(nouts)} layers")
        self.layers: list[Layer] = [
            Layer(
                sz[i], sz[i + 1], nonlin=_activation_name(per_layer[i]) != "linear", activation=per_layer[i]
            )
            for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Input]) -> Any:
        """The last layer's output: one Value when it has one neuron (``MLP(2, [16, 1])``), else a
        list of Values. Typed ``Any`` for the reason given at ``Layer.__call__``."""
        out: Any = x
        for layer in self.layers:
            out = layer(out)
        return out

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for i, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"layers.{i}.{name}", p

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


__all__ = ["MLP", "Layer", "Module", "Neuron"]
