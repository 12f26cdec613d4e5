"""Train an MLP on two moons and plot the decision boundary it learns: micrograd's demo, on micrograd_cpp.

    python -m micrograd_cpp.demo [--steps 100] [--seed 1337] [--out moons.png]

As micrograd's demo notebook: 100 points of scikit-learn's ``make_moons`` (noise 0.1), labels +-1,
``MLP(2, [16, 16, 1])``, the max-margin (hinge) loss plus 1e-4 L2, SGD with the learning rate falling
from 1.0 to 0.1. Shows a progress bar with loss and accuracy, saves the decision boundary as a PNG, and
ends with a line stating the final training accuracy. The optional packages (``pip install
"micrograd-cpp[demo]"``) add the plot (matplotlib), the progress bar (tqdm) and scikit-learn's data.
Without scikit-learn the moons are built in: the same points as scikit-learn's when NumPy is
installed, other points of the same shape (from Python's own random numbers) when it is not.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Protocol, cast

from ._core import Graph, Value
from .losses import hinge_loss
from .nn import MLP
from .optim import SGD

EXTRA_HINT = 'pip install "micrograd-cpp[demo]"'
Points = list[list[float]]


def optional(name: str) -> Any:
    """The module if it can be imported, else None."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def make_moons(n_samples: int, noise: float, seed: int) -> tuple[Points, list[int]]:
    """Two interleaving half circles, labels 0/1, as ``sklearn.datasets.make_moons`` with the global
    NumPy state seeded by ``seed`` (micrograd's notebook). Without scikit-learn, the same points,
    bit for bit, when NumPy is installed; with neither, the same construction with Python's own
    random numbers (other points, the same shape)."""
    np = optional("numpy")
    if np is not None:
        np.random.seed(seed)
        datasets = optional("sklearn.datasets")
        if datasets is not None:
            X, y = datasets.make_moons(n_samples=n_samples, noise=noise)
            return X.tolist(), y.tolist()
    n_out = n_samples // 2
    n_in = n_samples - n_out
    if np is not None:  # scikit-learn's arithmetic and draws: a permutation, then Gaussian noise
        t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
        points = np.vstack(
            [np.append(np.cos(t_out), 1 - np.cos(t_in)), np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)]
        ).T
        labels = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
        rng = np.random.mtrand._rand
        order = np.arange(n_samples)
        rng.shuffle(order)
        points = points[order] + rng.normal(scale=noise, size=(n_samples, 2))
        return points.tolist(), labels[order].tolist()
    angles_out = [math.pi * i / (n_out - 1) for i in range(n_out)]
    angles_in = [math.pi * i / (n_in - 1) for i in range(n_in)]
    X = [[math.cos(t), math.sin(t)] for t in angles_out] + [
        [1 - math.cos(t), 1 - math.sin(t) - 0.5] for t in angles_in
    ]
    y = [0] * n_out + [1] * n_in
    rng_py = random.Random(seed)
    order = list(range(n_samples))
    rng_py.shuffle(order)
    noise_xy = [[rng_py.gauss(0, noise), rng_py.gauss(0, noise)] for _ in range(n_samples)]
    X = [[X[i][0] + dx, X[i][1] + dy] for i, (dx, dy) in zip(order, noise_xy)]
    y = [y[i] for i in order]
    return X, y


class ProgressBar(Protocol):
    def set_postfix_str(self, text: str, refresh: bool = ...) -> None: ...


def progress(steps: int) -> Iterator[tuple[int, ProgressBar]]:
    """(step, bar) pairs; bar.set_postfix_str shows the figures. tqdm when installed, else plain lines."""
    tqdm = optional("tqdm")
    if tqdm is not None:
        with tqdm.tqdm(total=steps, desc="training", unit="step", file=sys.stdout, mininterval=0.5) as bar:
            for k in range(steps):
                yield k, bar
                bar.update(1)
        return

    class LineBar:
        def __init__(self) -> None:
            self.text = ""

        def set_postfix_str(self, text: str, refresh: bool = True) -> None:
            self.text = text

    bar = LineBar()
    width = 30
    for k in range(steps):
        yield k, bar
        if (k + 1) % max(1, steps // 10) == 0 or k + 1 == steps:
            filled = width * (k + 1) // steps
            print(f"training [{'#' * filled}{'.' * (width - filled)}] {k + 1}/{steps} {bar.text}", flush=True)


def accuracy(scores: Iterable[Value], labels: list[int]) -> float:
    hits = [(y > 0) == (s.data > 0) for y, s in zip(labels, scores)]
    return sum(hits) / len(hits)


def score(model: MLP, x: list[Value] | list[float]) -> Value:
    return cast(Value, model(x))  # the last layer has one output: a single Value


# How each step's loss and gradient are computed; all three give micrograd's figures (see train()).
ENGINES = ("batch", "graph", "rebuild")
Step = Callable[[bool], tuple[float, float]]  # step(backward) -> (loss, accuracy), before the update


def rebuild_engine(model: MLP, X: Points, y: list[int]) -> Step:
    """As micrograd does: the whole graph built anew each step, then backward()."""
    inputs = [[Value(a), Value(b)] for a, b in X]  # leaves made once, not once per step and neuron

    def step(backward: bool) -> tuple[float, float]:
        scores = [score(model, x) for x in inputs]
        total = hinge_loss(scores, y) + 1e-4 * sum(p * p for p in model.parameters())
        if backward:
            total.backward()
        return total.data, accuracy(scores, y)

    return step


def graph_engine(model: MLP, X: Points, y: list[int]) -> Step:
    """The same graph built once and captured (mg.Graph): each step replays it forward and backward in C++
    on the same Values, bit for bit what rebuilding gives."""
    inputs = [[Value(a), Value(b)] for a, b in X]
    scores = [score(model, x) for x in inputs]
    total = hinge_loss(scores, y) + 1e-4 * sum(p * p for p in model.parameters())
    graph = Graph([total, *scores])  # the loss first: backward() differentiates it

    def step(backward: bool) -> tuple[float, float]:
        loss = graph.forward()
        if backward:
            graph.backward()
        return loss, accuracy(scores, y)

    return step


def batch_engine(model: MLP, X: Points, y: list[int]) -> Step:
    """One sample's graph captured with the sample as inputs, run over the 100 points in C++ (Graph.map):
    the mean of the hinge terms and its gradient in one call; the L2 term replayed apart. Same values as
    rebuilding; gradients equal to the last bits (summed in another order)."""
    x, label = [Value(0.0), Value(0.0)], Value(0.0)
    one = score(model, x)
    sample = Graph([(1 + -label * one).relu(), one], inputs=[*x, label])
    reg = Graph(1e-4 * sum(p * p for p in model.parameters()))
    rows = [[a, b, float(t)] for (a, b), t in zip(X, y)]

    def step(backward: bool) -> tuple[float, float]:
        # two outputs: a [hinge, score] pair per row
        outs = cast("list[list[float]]", sample.map(rows, backward=backward, reduction="mean"))
        reg_loss = reg.forward()
        if backward:
            reg.backward()
        data_loss = outs[0][0]
        for hinge, _ in outs[1:]:  # left to right, as hinge_loss sums its Values
            data_loss += hinge
        hits = [(t > 0) == (s > 0) for t, (_, s) in zip(y, outs)]
        return data_loss * (1.0 / len(outs)) + reg_loss, sum(hits) / len(hits)

    return step


def train(X: Points, y: list[int], steps: int, engine: str = "batch") -> tuple[MLP, float, float]:
    """micrograd's training loop with micrograd_cpp's nn, losses and optimizer. Returns the model and the
    loss and accuracy after the last step. engine (ENGINES): how each step is computed, see above."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    model = MLP(2, [16, 16, 1])
    optimizer = SGD(model.parameters(), lr=1.0)
    make: dict[str, Callable[[MLP, Points, list[int]], Step]] = {
        "batch": batch_engine,
        "graph": graph_engine,
        "rebuild": rebuild_engine,
    }
    step = make[engine](model, X, y)
    loss = acc = float("nan")
    for k, bar in progress(steps):
        optimizer.zero_grad()
        loss, acc = step(True)
        optimizer.lr = 1.0 - 0.9 * k / steps
        optimizer.step()
        bar.set_postfix_str(f"loss {loss:.4f}, accuracy {acc:.1%}", refresh=False)
    loss, acc = step(False)  # the figures of the trained model, after the last step
    return model, loss, acc


def plot(model: MLP, X: Points, y: list[int], path: str, acc: float) -> None:
    """Saves the decision boundary, the training points and the accuracy as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig = figure(model, X, y, acc)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def figure(model: MLP, X: Points, y: list[int], acc: float) -> Any:
    """The plot as a matplotlib Figure: the model's class as shading, the points by class (legend),
    axis labels, and the training accuracy in the title."""
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np

    points = np.array(X)
    labels = np.array(y)
    h = 0.05
    x_min, x_max = points[:, 0].min() - 1, points[:, 0].max() + 1
    y_min, y_max = points[:, 1].min() - 1, points[:, 1].max() + 1
    xx, yy = np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))
    Z = np.array([score(model, list(p)).data > 0 for p in np.c_[xx.ravel(), yy.ravel()].tolist()]).reshape(
        xx.shape
    )
    spectral = matplotlib.colormaps["Spectral"]  # micrograd's colour map: its two ends, one per class
    colors = {-1: spectral(0.0), 1: spectral(1.0)}
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(xx, yy, Z, levels=[-0.5, 0.5, 1.5], colors=[colors[-1], colors[1]], alpha=0.35)
    for label, name in ((-1, "class -1 (first moon)"), (1, "class +1 (second moon)")):
        mine = labels == label
        ax.scatter(points[mine, 0], points[mine, 1], color=colors[label], s=40, edgecolors="k", label=name)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_xlabel("x₁")  # plain text: mathtext ($x_1$) warns with some matplotlib and pyparsing pairs
    ax.set_ylabel("x₂")
    ax.legend(loc="upper right", title="training points; shading: the model's class", fontsize="small")
    ax.set_title(f"micrograd_cpp: MLP(2, [16, 16, 1]) decision boundary\ntraining accuracy {acc:.1%}")
    return fig


def build_parser() -> argparse.ArgumentParser:
    """The command line; each option says what it changes, with its default."""
    parser = argparse.ArgumentParser(
        prog="python -m micrograd_cpp.demo",
        description=__doc__.split("\n\n")[0],
        epilog=(
            'The plot needs matplotlib and NumPy (pip install "micrograd-cpp[demo]"); '
            "without them the demo still trains and reports its accuracy."
        ),
    )
    parser.add_argument("--steps", type=int, default=100, help="training steps (default: 100)")
    parser.add_argument(
        "--seed", type=int, default=1337, help="seed of the data and the initial weights (default: 1337)"
    )
    parser.add_argument(
        "--out",
        default="moons.png",
        metavar="PNG",
        help="where to save the plot of the decision boundary (default: moons.png)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="batch",
        help="how each step is computed: 'batch' runs one sample's captured graph over all points in C++ "
        "(fastest), 'graph' replays the whole captured loss graph, 'rebuild' builds it anew each step as "
        "micrograd does; all three reach the same loss and accuracy (default: batch)",
    )
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Rejects what would fail later, before any training (argparse's error: usage, exit code 2)."""
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        parser.error(f"--out {args.out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        parser.error(f"--out {args.out}: the folder {folder} is not writable")
    if os.path.isdir(args.out):
        parser.error(
            f"--out {args.out} is a folder: give a file name, such as {os.path.join(args.out, 'moons.png')}"
        )
    problem = cannot_save(args.out)
    if problem:
        parser.error(f"--out {args.out}: {problem}")


def cannot_save(path: str) -> str | None:
    """Why the plot could not be saved at path (a file that cannot be opened for writing, or, with
    matplotlib installed, an image format it does not know), or None. Opens the file as the save will,
    without changing it: an existing file is opened to append nothing, a new one is made and removed
    again. Permission bits are not enough: root may write anywhere, and /proc or a read-only mount
    refuse even root."""
    if optional("matplotlib") is not None:
        from matplotlib.backend_bases import FigureCanvasBase

        extension = os.path.splitext(path)[1][1:].lower()
        formats = FigureCanvasBase.get_supported_filetypes()
        if extension and extension not in formats:
            return f"matplotlib cannot save .{extension} files (it saves {', '.join(sorted(formats))})"
    existed = os.path.exists(path)
    try:
        with open(path, "ab"):
            pass
    except OSError as error:
        return f"cannot write the file: {error.strerror or error}"
    if not existed:
        with contextlib.suppress(OSError):
            os.remove(path)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)

    missing = [name for name in ("matplotlib", "numpy") if optional(name) is None]
    if missing:
        print(
            f"note: no plot without {' and '.join(missing)}; install them with {EXTRA_HINT}", file=sys.stderr
        )

    random.seed(args.seed)
    X, y01 = make_moons(100, 0.1, args.seed)
    y = [2 * label - 1 for label in y01]  # labels -1 / +1 for the hinge loss
    start = time.perf_counter()
    model, loss, acc = train(X, y, args.steps, args.engine)
    seconds = time.perf_counter() - start
    print(
        f"trained {model.__class__.__name__}(2, [16, 16, 1]) on {len(X)} points for {args.steps} steps "
        f"(engine: {args.engine})"
    )
    print(f"time: {seconds:.2f} s ({1000 * seconds / args.steps:.1f} ms per step)")
    print(f"final loss (hinge + L2): {loss:.4f}")
    saved = True
    if not missing:
        try:
            plot(model, X, y, args.out, acc)
            print(f"decision boundary saved to {args.out}")
        except OSError as error:  # checked before training, but the disk may fill or the folder go
            print(f"error: could not save the plot to {args.out}: {error}", file=sys.stderr)
            saved = False
    print(f"final training accuracy: {acc:.1%}")
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main())
