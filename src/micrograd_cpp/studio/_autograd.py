"""The autograd view's data: one sample's loss graph, built with Values on a copy of the model.

The graph is the training loss of one point ``(x1, x2)`` of class ``y`` (+1 or -1), the logistic loss
``softplus(-y * mlp([x1, x2]))``, every Value a node. It is built once per model shape on a mirror of the model's parameters (so
that its backward never touches the gradients the training uses), captured (``Graph``), and refreshed
for each frame: the mirror takes the model's current parameters and the sample's numbers, the graph is
replayed forward and backward, and every node's data and grad are read.

Each edge's local gradient (d parent / d operand) comes from the engine too: for each op a probe, the
op applied to fresh leaves holding the operands' numbers and differentiated (a captured Graph per op,
so a probe is a forward and a backward in C++). A neuron, collapsed to one box, has one local gradient
per input, d out / d input, from a probe of the whole neuron."""

from __future__ import annotations

import base64
import copy
import math
import operator
from array import array
from collections.abc import Sequence
from typing import Any, Callable, cast

from .. import _core
from .._core import Graph, Value
from ..nn import MLP

Encoded = dict[str, str]


def encode(values: Sequence[float], dtype: str = "float64") -> Encoded:
    """Numbers as base64 little-endian float64 (exact) or float32 (heatmaps): what the page decodes."""
    data = array("d" if dtype == "float64" else "f", values)
    if data.itemsize * 8 != int(dtype[-2:]):  # pragma: no cover - every platform CPython supports
        raise RuntimeError(f"array type for {dtype} has {data.itemsize} bytes")
    if array("H", [1]).tobytes() != b"\x01\x00":  # pragma: no cover - big-endian machines
        data.byteswap()
    return {"dtype": dtype, "b64": base64.b64encode(data.tobytes()).decode("ascii")}


def encode_heatmaps(rows: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Each column (a neuron's output over the grid's points) as bytes, 128 + 127 * value / scale,
    with its scale (the largest magnitude): what a heatmap shows, at a quarter of float32's size."""
    columns = list(zip(*rows))
    scales = [max(map(abs, c), default=0.0) for c in columns]
    out = bytearray()
    for column, scale in zip(columns, scales):
        if scale > 0 and math.isfinite(scale):
            k = 127.0 / scale
            out.extend(128 if math.isnan(v) else 128 + round(v * k) for v in column)
        else:  # a column with an infinity (a diverged model): its signs only
            out.extend(128 + (v > 0) * 127 - (v < 0) * 127 for v in column)  # nan: neither, 128
    return {"dtype": "uint8", "b64": base64.b64encode(bytes(out)).decode("ascii"), "scales": scales}


_BINARY: dict[str, Callable[[Any, Any], Value]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


Probe = Callable[[Sequence[float]], list[float]]


def _probe(build: Callable[[list[Value]], Value]) -> Probe:
    """local(numbers) -> d out / d each operand: the op built on fresh leaves and differentiated
    (0.2 us for a binary op; a captured Graph's replay costs more than building one node)."""

    def local(numbers: Sequence[float]) -> list[float]:
        leaves = [Value(x) for x in numbers]
        build(leaves).backward()
        return [leaf.grad for leaf in leaves]

    return local


def _make_probe(symbol: str, arity: int) -> Probe | None:
    """The probe of the op whose _op is symbol, with arity operands (None: no probe, such as x ** k,
    whose constant k the node keeps to itself)."""
    if arity == 2 and symbol in _BINARY:
        binary = _BINARY[symbol]
        return _probe(lambda v: binary(v[0], v[1]))
    if symbol == "neg" and arity == 1:
        return _probe(lambda v: -v[0])
    if symbol == "sum":
        return _probe(_core.sum)
    if symbol == "dot" and arity % 2 == 0:
        return _probe(lambda v: _core.dot(v[0::2], v[1::2]))  # its operands are a0, b0, a1, b1, ...
    for op in _core.OPS:
        if op.symbol == symbol and op.arity == 1 and op.method and arity == 1:
            method: str = op.method

            def unary(v: list[Value], method: str = method) -> Value:
                return cast(Value, getattr(v[0], method)())

            return _probe(unary)
    return None


class SampleGraph:
    """One sample's loss graph for a model of the given shape; see the module's docstring."""

    def __init__(self, model: MLP) -> None:
        self.mirror: MLP = copy.deepcopy(model)
        self.params = self.mirror.parameters()
        self.x = [Value(0.0, "x1"), Value(0.0, "x2")]
        self.y = Value(1.0, "y")
        for name, p in self.mirror.named_parameters():
            p.label = _short(name)
        # Built neuron by neuron, to know which Values make up each neuron.
        layer_inputs: list[Value] = list(self.x)
        neuron_outputs: list[tuple[int, int, Value, list[Value], list[Value]]] = []
        for li, layer in enumerate(self.mirror.layers):
            outs = []
            for ni, neuron in enumerate(layer.neurons):
                out = neuron(layer_inputs)
                neuron_outputs.append((li, ni, out, list(layer_inputs), neuron.parameters()))
                outs.append(out)
            layer_inputs = outs
        score = layer_inputs[0]
        score.label = "score"
        minus_y = -self.y
        minus_y.label = "-y"
        margin = minus_y * score
        margin.label = "-y·score"
        self.loss = margin.softplus()
        self.loss.label = "loss"
        self.nodes: list[Value] = _core.topological_order(self.loss)
        index = {v: i for i, v in enumerate(self.nodes)}
        self.index = index
        group = [-1] * len(self.nodes)
        self.groups: list[dict[str, Any]] = []
        for g, (li, ni, out, inputs, params) in enumerate(neuron_outputs):
            stop = set(inputs)
            todo = [out]
            while todo:
                v = todo.pop()
                i = index[v]
                if group[i] == g:
                    continue
                group[i] = g
                todo.extend(c for c in v._children if c not in stop)
            neuron = self.mirror.layers[li].neurons[ni]
            self.groups.append(
                {
                    "id": g,
                    "layer": li,
                    "neuron": ni,
                    "label": f"L{li + 1}.n{ni + 1}",
                    "activation": neuron.activation,
                    "out": index[out],
                    "inputs": [index[v] for v in inputs],
                    "params": [index[p] for p in params],
                }
            )
        self.group_of = group
        self.score_index = index[score]
        self.edges: list[tuple[int, int, int]] = []  # (operand, node, operand slot)
        for i, v in enumerate(self.nodes):
            for slot, c in enumerate(v._children):
                self.edges.append((index[c], i, slot))
        self.graph = Graph(self.loss)
        self.leaves = [v for v in self.nodes if not v._children]
        probes: dict[tuple[str, int], Probe | None] = {}
        self._ops: list[tuple[Probe | None, list[int]]] = []  # each op node's probe and operands
        for v in self.nodes:
            children = v._children
            if children:
                key = (v._op, len(children))
                if key not in probes:
                    probes[key] = _make_probe(*key)
                self._ops.append((probes[key], [index[c] for c in children]))
        self.param_names = [name for name, _ in self.mirror.named_parameters()]

    def topology(self) -> dict[str, Any]:
        """The graph's structure: nodes (op, label, kind, group), edges, neuron groups, the loss node."""
        inputs = {self.index[v] for v in self.x}
        param_set = {self.index[p] for p in self.params}
        nodes = []
        for i, v in enumerate(self.nodes):
            if v._children:
                kind = "op"
            elif i in inputs:
                kind = "input"
            elif i in param_set:
                kind = "param"
            elif v is self.y or v == self.y:
                kind = "target"
            else:
                kind = "const"
            nodes.append({"op": v._op, "label": v.label, "kind": kind, "group": self.group_of[i]})
        return {
            "nodes": nodes,
            "edges": [list(e) for e in self.edges],
            "groups": self.groups,
            "loss": self.index[self.loss],
            "score": self.score_index,
        }

    def refresh(self, model: MLP, x1: float, x2: float, y: float) -> dict[str, Encoded]:
        """The sample's graph for the model's current parameters: every node's data and grad, every
        edge's local gradient, and each neuron's local gradients d out / d input (in group order)."""
        for mine, theirs in zip(self.params, model.parameters()):
            mine.data = theirs.data
        self.x[0].data, self.x[1].data, self.y.data = x1, x2, y
        for leaf in self.leaves:
            leaf.grad = 0.0
        self.graph.forward()
        self.graph.backward()
        data = [v.data for v in self.nodes]
        grad = [v.grad for v in self.nodes]
        local: list[float] = []
        for probe, operands in self._ops:
            numbers = [data[i] for i in operands]
            local.extend(probe(numbers) if probe is not None else [math.nan] * len(numbers))
        group_local: list[float] = []
        for group in self.groups:  # d out / d input of the whole neuron, probed the same way
            weights = [Value(data[i]) for i in group["params"][:-1]]
            bias = Value(data[group["params"][-1]])
            inputs = [Value(data[i]) for i in group["inputs"]]
            _core.neuron(weights, bias, inputs, group["activation"]).backward()
            group_local.extend(x.grad for x in inputs)
        return {
            "data": encode(data),
            "grad": encode(grad),
            "local": encode(local),
            "group_local": encode(group_local),
        }


def _short(name: str) -> str:
    """layers.0.neurons.3.w.1 -> w[1.4.2] (layer, neuron, input, counted from 1); ...b -> b[1.4]."""
    parts = name.split(".")
    if len(parts) >= 5 and parts[0] == "layers" and parts[2] == "neurons":
        layer, neuron = int(parts[1]) + 1, int(parts[3]) + 1
        if parts[4] == "w" and len(parts) == 6:
            return f"w{layer}.{neuron}.{int(parts[5]) + 1}"
        if parts[4] == "b":
            return f"b{layer}.{neuron}"
    return name
