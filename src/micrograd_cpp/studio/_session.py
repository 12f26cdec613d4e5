"""A training session: the data, the model, its optimizer, the steps on the engine and the frames.

Training runs on the engine as micrograd's demo does with ``--engine batch``: one sample's loss graph
captured with the sample as inputs and run over every point in C++ (``Graph.map``, the mean and its
gradient in one call), the L2 term a second captured graph, then the optimizer's step in C++.

The loss is the logistic loss of the labels y = +1/-1, ``softplus(-y * score)`` (binary cross-entropy
on the logit, as PyTorch's binary_cross_entropy_with_logits): unlike micrograd's hinge, its gradient
never stops at zero for a point classified with margin, so every sample's graph keeps moving.
A frame (``snapshot``) reads everything the page draws: the decision boundary and every neuron's
output on a grid (one ``Graph.map`` forward over the grid's points), the weights, the curves, the
optimizer's state and the chosen sample's autograd graph (``SampleGraph``).

Every public method takes the session's lock: the page's server threads, the trainer thread and a
notebook's handle may call it at once."""

from __future__ import annotations

import copy
import math
import random
import threading
import time
from collections.abc import Sequence
from typing import Any, cast

from .. import _core
from .._core import Adam, Graph, Value
from ..nn import MLP
from ..optim import SGD
from . import _data
from ._autograd import SampleGraph, encode, encode_heatmaps
from ._config import MAX_DATA, Config, ConfigError, checked, defaults

GRID = 48  # the decision boundary's heatmap: GRID x GRID points
NEURON_GRID = 16  # each neuron's heatmap: NEURON_GRID x NEURON_GRID points of the same square
HISTORY = 600  # points kept of the loss and accuracy curves (thinned by half when full)
MAX_STEPS_PER_CALL = 100_000
BETAS = (0.9, 0.999)
EPS = 1e-8


class Session:
    """One model trained on one data set; see the module's docstring."""

    def __init__(
        self,
        config: Config | None = None,
        model: MLP | None = None,
        points: Sequence[Sequence[float]] | None = None,
        labels: Sequence[int] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.config: Config = config if config is not None else defaults()
        self.custom_data = points is not None
        self.sample = 0
        if points is not None:
            self.points, self.labels = _check_data(points, labels)
        else:
            self.points, self.labels = _data.make(
                self.config["dataset"], self.config["points"], self.config["noise"], self.config["seed"]
            )
        self.user_model = model
        if model is not None:
            self._adopt(model)
        self.playing = False
        self.waiting = 0  # frames waiting for the lock: the trainer's slice ends early for them
        self.speed = 0.0  # steps per second while playing; 0: as fast as it goes
        self.data_version = 0
        self.graph_version = 0
        self._rate_marks: list[tuple[float, int]] = []
        self._build_model(model)

    # --- building -----------------------------------------------------------------------------

    def _adopt(self, model: MLP) -> None:
        """The configuration that describes a user's model (its hidden widths and activation)."""
        if not isinstance(model, MLP):
            raise TypeError(f"model must be a micrograd_cpp.nn.MLP, not {type(model).__name__}")
        first = model.layers[0].neurons[0]
        if len(first.w) != 2 or len(model.layers[-1].neurons) != 1:
            sizes = [len(first.w), *(len(layer.neurons) for layer in model.layers)]
            raise ValueError(
                f"model must take 2 inputs and give 1 output, as MLP(2, [..., 1]); its sizes: {sizes}"
            )
        hidden = [len(layer.neurons) for layer in model.layers[:-1]]
        activation = model.layers[0].neurons[0].activation if hidden else self.config["activation"]
        self.config = checked({"hidden": hidden, "activation": activation}, self.config)

    def _build_model(self, model: MLP | None = None) -> None:
        config = self.config
        if model is None:
            state = random.getstate()  # the model's seed, without touching the caller's random numbers
            random.seed(config["seed"])
            try:
                model = MLP(2, [*config["hidden"], 1], activation=config["activation"])
            finally:
                random.setstate(state)
        self.model = model
        self.initial_state = model.state_dict()
        self.params = model.parameters()
        self.param_names = [name for name, _ in model.named_parameters()]
        self._build_optimizer()
        self._build_training()
        self.sample_graph = SampleGraph(model)
        self.graph_version += 1
        self.step_count = 0
        self.history: list[tuple[int, float, float]] = []
        self._history_stride = 1
        self.loss, self.accuracy, self.scores = self._evaluate()
        self.last_update = [0.0] * len(self.params)

    def _build_optimizer(self) -> None:
        config = self.config
        if config["optimizer"] == "adam":
            self.optimizer: SGD | Adam = Adam(self.params, lr=config["learning_rate"], betas=BETAS, eps=EPS)
        else:
            self.optimizer = SGD(self.params, lr=config["learning_rate"])
        # Adam's moments, kept beside the engine's with its arithmetic (optim.cpp's Adam::step), for
        # the optimizer's table: the engine does not expose its own.
        self.exp_avg = [0.0] * len(self.params)
        self.exp_avg_sq = [0.0] * len(self.params)

    def _build_training(self) -> None:
        x1, x2, label = Value(0.0), Value(0.0), Value(0.0)
        score = cast(Value, self.model([x1, x2]))
        self.train_graph = Graph([(-label * score).softplus(), score], inputs=[x1, x2, label])
        l2 = self.config["l2"]
        self.reg_graph = Graph(l2 * _core.sum([p * p for p in self.params])) if l2 > 0 else None
        # Every neuron's output, for the heatmaps, as one graph of the two inputs.
        gx, gy = Value(0.0), Value(0.0)
        outputs: list[Value] = []
        layer_in: list[Value] = [gx, gy]
        for layer in self.model.layers:
            layer_in = [n(layer_in) for n in layer.neurons]
            outputs.extend(layer_in)
        self.neuron_graph = Graph(outputs, inputs=[gx, gy])
        self.boundary_graph = Graph(outputs[-1], inputs=[gx, gy])
        self.layer_sizes = [2, *(len(layer.neurons) for layer in self.model.layers)]
        self._set_rows()

    def _set_rows(self, keep_view: bool = False) -> None:
        """The training rows from the points, and the view (a square around them) unless keep_view."""
        self.rows = [[x, y, float(t)] for (x, y), t in zip(self.points, self.labels)]
        if not keep_view:
            xs = [p[0] for p in self.points]
            ys = [p[1] for p in self.points]
            cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
            half = max(max(xs) - min(xs), max(ys) - min(ys), 1.0) / 2 + 0.4
            self.bounds = [cx - half, cx + half, cy - half, cy + half]
            self.grid = _grid(self.bounds, GRID)
            self.neuron_grid = _grid(self.bounds, NEURON_GRID)
        self.data_version += 1
        self.sample = min(self.sample, len(self.points) - 1)

    # --- training -----------------------------------------------------------------------------

    def _evaluate(self) -> tuple[float, float, list[float]]:
        outs = cast("list[list[float]]", self.train_graph.map(self.rows, backward=False))
        return self._figures(outs)

    def _figures(self, outs: list[list[float]]) -> tuple[float, float, list[float]]:
        n = len(outs)
        data_loss = math.fsum(h for h, _ in outs) / n
        reg = self.reg_graph.forward() if self.reg_graph is not None else 0.0
        scores = [s for _, s in outs]
        hits = sum(1 for s, t in zip(scores, self.labels) if (s > 0) == (t > 0))
        return data_loss + reg, hits / n, scores

    def _one_step(self, record: bool) -> None:
        optimizer = self.optimizer
        optimizer.zero_grad()
        outs = cast("list[list[float]]", self.train_graph.map(self.rows, backward=True, reduction="mean"))
        self.loss, self.accuracy, self.scores = self._figures(outs)  # the L2 graph's forward, too
        if self.reg_graph is not None:
            self.reg_graph.backward()  # its gradient added to the data term's
        adam = isinstance(optimizer, Adam)
        if record or adam:
            grads = [p.grad for p in self.params]
        if adam:
            b1, b2 = BETAS
            w = 1.0 - b1
            self.exp_avg = [m + w * (g - m) for m, g in zip(self.exp_avg, grads)]
            self.exp_avg_sq = [v * b2 + (1.0 - b2) * g * g for v, g in zip(self.exp_avg_sq, grads)]
        if record:
            before = [p.data for p in self.params]
            self.last_grad = grads
        optimizer.step()
        if record:
            self.last_update = [p.data - b for p, b in zip(self.params, before)]
        self.step_count += 1
        if self.step_count % self._history_stride == 0:
            self.history.append((self.step_count, self.loss, self.accuracy))
            if len(self.history) >= HISTORY:
                self.history = self.history[1::2]
                self._history_stride *= 2

    def step(self, n: int = 1) -> None:
        """n training steps (1 to 100,000)."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise ConfigError(f"steps must be an integer; got {n!r}")
        if not 1 <= n <= MAX_STEPS_PER_CALL:
            raise ConfigError(f"steps must be between 1 and {MAX_STEPS_PER_CALL}; got {n}")
        with self.lock:
            for k in range(n):
                self._one_step(record=k == n - 1)
            self._mark_rate()

    def run_for(self, seconds: float, limit: int) -> int:
        """Steps for about `seconds` (at most `limit`), the lock held; returns how many it took."""
        with self.lock:
            if not self.playing:
                return 0
            end = time.perf_counter() + seconds
            done = 0
            while done < limit:
                done += 1
                last = done == limit or self.waiting > 0 or time.perf_counter() >= end
                self._one_step(record=last)
                if last:
                    break
            self._mark_rate()
            return done

    def _mark_rate(self) -> None:
        now = time.perf_counter()
        self._rate_marks.append((now, self.step_count))
        while len(self._rate_marks) > 2 and now - self._rate_marks[0][0] > 2.0:
            self._rate_marks.pop(0)

    def steps_per_second(self) -> float:
        """Training steps per second over the last two seconds of playing (0 when paused)."""
        with self.lock:
            if not self.playing or len(self._rate_marks) < 2:
                return 0.0
            (t0, s0), (t1, s1) = self._rate_marks[0], self._rate_marks[-1]
            return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    # --- controls -----------------------------------------------------------------------------

    def play(self) -> None:
        with self.lock:
            self.playing = True
            self._rate_marks = [(time.perf_counter(), self.step_count)]

    def pause(self) -> None:
        with self.lock:
            self.playing = False

    def reset(self) -> None:
        """Step 0: the model's initial parameters again (the seed's, or the user's model as given),
        a new optimizer, empty curves. The data stays, points added by clicks included."""
        with self.lock:
            self.playing = False
            if self.user_model is not None and self.model is self.user_model:
                self.model.load_state_dict(self.initial_state)
                self._build_model(self.model)
            else:
                self._build_model()

    def configure(self, changes: dict[str, Any]) -> None:
        """Applies config changes (checked first: on a ConfigError nothing changes). A new data set,
        number of points, noise or seed makes new data; a new shape or seed a new model; a new
        optimizer, learning rate or L2 starts training again from the initial parameters."""
        with self.lock:
            new = checked(changes, self.config)
            old = self.config
            self.config = new
            if any(new[k] != old[k] for k in ("dataset", "points", "noise", "seed")) or (
                self.custom_data and "dataset" in changes
            ):
                self.points, self.labels = _data.make(
                    new["dataset"], new["points"], new["noise"], new["seed"]
                )
                self.custom_data = False
                self._set_rows()
            if any(new[k] != old[k] for k in ("hidden", "activation", "seed")):
                self.user_model = None  # a new shape: a new model (show()'s handle.model follows)
                self._build_model()
            elif any(
                new[k] != old[k] for k in ("optimizer", "learning_rate", "l2", "dataset", "points", "noise")
            ):
                self.model.load_state_dict(self.initial_state)
                self._build_model(self.model)

    def add_point(self, x: float, y: float, label: int) -> None:
        """A training point at (x, y) of class label (+1 or -1)."""
        for name, value in (("x", x), ("y", y)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"point {name} must be a finite number; got {value!r}")
            if abs(value) > 1e3:
                raise ConfigError(f"point {name} must be within [-1000, 1000]; got {value!r}")
        if label not in (1, -1) or isinstance(label, bool):
            raise ConfigError(f"label must be 1 or -1; got {label!r}")
        with self.lock:
            if len(self.points) >= MAX_DATA:
                raise ConfigError(f"at most {MAX_DATA} points: choose the data set again to start anew")
            x0, x1, y0, y1 = self.bounds
            self.points.append((float(x), float(y)))
            self.labels.append(int(label))
            self._set_rows(keep_view=x0 <= x <= x1 and y0 <= y <= y1)  # the view stays put if it can
            self.sample = len(self.points) - 1
            self.loss, self.accuracy, self.scores = self._evaluate()

    def select(self, index: int) -> None:
        """Chooses the autograd view's sample: the point at index."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise ConfigError(f"sample must be a point's index (an integer); got {index!r}")
        with self.lock:
            if not 0 <= index < len(self.points):
                raise ConfigError(f"sample must be between 0 and {len(self.points) - 1}; got {index}")
            self.sample = index

    def set_speed(self, steps_per_second: float) -> None:
        if isinstance(steps_per_second, bool) or not isinstance(steps_per_second, (int, float)):
            raise ConfigError(f"steps_per_second must be a number; got {steps_per_second!r}")
        if not (0 <= steps_per_second <= 1e6) or math.isnan(steps_per_second):
            raise ConfigError(
                f"steps_per_second must be between 0 (as fast as possible) and 1e6; got {steps_per_second!r}"
            )
        with self.lock:
            self.speed = float(steps_per_second)

    # --- frames -------------------------------------------------------------------------------

    def snapshot(self, data_version: int = -1, graph_version: int = -1, graph: bool = True) -> dict[str, Any]:
        """What the page draws, as JSON-ready data. The points and the graph's structure are left
        out when the caller already has their version; graph=False leaves out the autograd view."""
        self.waiting += 1
        try:
            self.lock.acquire()
        finally:
            self.waiting -= 1
        try:
            started = time.perf_counter()
            state = self._snapshot(data_version, graph_version, graph)
            state["server_ms"] = 1000 * (time.perf_counter() - started)  # what this frame cost here
            return state
        finally:
            self.lock.release()

    def _snapshot(self, data_version: int, graph_version: int, graph: bool) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step_count,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "config": copy.deepcopy(dict(self.config)),
            "playing": self.playing,
            "speed": self.speed,
            "steps_per_second": self.steps_per_second(),
            "data_version": self.data_version,
            "graph_version": self.graph_version,
            "custom_data": self.custom_data,
            "layer_sizes": self.layer_sizes,
            "history": [list(h) for h in self.history[-HISTORY:]],
            "sample": self.sample,
            "scores": encode(self.scores, "float32"),  # each point's score: its class is the sign
        }
        if data_version != self.data_version:
            state["points"] = [[x, y, t] for (x, y), t in zip(self.points, self.labels)]
            state["bounds"] = self.bounds
            state["grid"] = GRID
            state["neuron_grid"] = NEURON_GRID
        state["boundary"] = encode(cast("list[float]", self.boundary_graph.map(self.grid)), "float32")
        outs = self.neuron_graph.map(self.neuron_grid)
        rows = [[v] for v in outs] if len(self.neuron_graph.outputs) == 1 else outs  # no hidden layer
        state["heatmaps"] = encode_heatmaps(cast("list[list[float]]", rows))  # neuron by neuron
        state["weights"] = [
            [[*(w.data for w in n.w), n.b.data] for n in layer.neurons] for layer in self.model.layers
        ]
        state["optimizer"] = self._optimizer_state(graph_version != self.graph_version)
        if graph:
            x, y = self.points[self.sample]
            label = float(self.labels[self.sample])
            state["values"] = self.sample_graph.refresh(self.model, x, y, label)
            state["sample_point"] = [x, y, label]
            if graph_version != self.graph_version:
                state["graph"] = self.sample_graph.topology()
        return state

    def _optimizer_state(self, names: bool) -> dict[str, Any]:
        adam = isinstance(self.optimizer, Adam)
        out: dict[str, Any] = {
            "kind": "adam" if adam else "sgd",
            "lr": self.optimizer.lr,
            "step": self.step_count,
            "data": encode([p.data for p in self.params]),
            "grad": encode(getattr(self, "last_grad", [p.grad for p in self.params])),
            "update": encode(self.last_update),
        }
        if adam:
            out["m"] = encode(self.exp_avg)
            out["v"] = encode(self.exp_avg_sq)
        if names:
            out["names"] = self.param_names
        return out


def _grid(bounds: list[float], n: int) -> list[list[float]]:
    """n x n points at the centres of the cells of the square, row by row, top (largest y) first, as
    an image's pixels."""
    x0, x1, y0, y1 = bounds
    return [
        [x0 + (i + 0.5) * (x1 - x0) / n, y1 - (j + 0.5) * (y1 - y0) / n] for j in range(n) for i in range(n)
    ]


def _check_data(
    points: Sequence[Sequence[float]], labels: Sequence[int] | None
) -> tuple[list[tuple[float, float]], list[int]]:
    """A user's 2-D points and their two classes (any two distinct labels: 0/1, -1/+1, False/True,
    strings); the larger becomes +1. ValueError or TypeError for anything else."""
    if labels is None:
        raise ValueError("data needs labels: show(data=points, labels=classes)")
    try:
        rows = [tuple(_core._real(c, "data") for c in p) for p in points]
    except TypeError as error:
        raise TypeError(f"data must be a sequence of (x, y) pairs of real numbers: {error}") from None
    if len(rows) < 2 or any(len(r) != 2 for r in rows):
        raise ValueError("data must hold at least 2 points, each an (x, y) pair")
    if not all(math.isfinite(c) for r in rows for c in r):
        raise ValueError("data must hold finite numbers")
    if len(rows) > MAX_DATA:
        raise ValueError(f"data may hold at most {MAX_DATA} points; got {len(rows)}")
    classes = list(labels)
    if len(classes) != len(rows):
        raise ValueError(f"got {len(rows)} points but {len(classes)} labels")
    distinct = sorted(set(classes), key=lambda c: (str(type(c)), c))
    if len(distinct) > 2:
        raise ValueError(f"labels must take two values (two classes); got {len(distinct)}: {distinct[:5]}")
    positive = distinct[-1] if len(distinct) == 2 else 1  # one class only: 1 and True are +1
    signs = [1 if c == positive else -1 for c in classes]
    return [(r[0], r[1]) for r in rows], signs
