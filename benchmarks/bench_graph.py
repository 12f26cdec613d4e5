"""Graph capture and replay, side by side with rebuilding each step and with PyTorch batched.

    python benchmarks/bench_graph.py [--repeat 200] [--plot graph.svg] [--json graph.json]

All in one process, same data and initial weights, PyTorch on one thread in float64:
1. micrograd's demo training step (100 moons, MLP(2, [16, 16, 1]), hinge loss + 1e-4 L2, SGD):
   rebuilding the graph (nn + losses + optim), Graph.forward/backward on the whole loss graph,
   Graph.map(rows, backward=True) over the 100 rows, and PyTorch batched. Ratios are to PyTorch.
2. Replay cost per node, forward + backward, on chains of 1,000 to 1,000,000 nodes and on the demo's
   loss graph over 1,500 points (971,181 nodes): Graph.forward + Graph.backward (on the Values, each
   node's data and grad written) beside Value.backward(), and Graph.map of one row on the chains.
3. Scaling with the batch (1 to 10,000 rows) and with the model's width, PyTorch beside it.
4. Memory a captured graph costs per node (Graph.nbytes / len(graph)).
--plot draws 1. and 3. (time per step against batch size and width, PyTorch beside Graph.map) into an
image (.svg, .png, .pdf; needs matplotlib), as the docs' performance page shows it; --json writes the
figures of 1. and 3. for `python benchmarks/bench_graph.py --replot graph.json --plot graph.svg`.
Targets (issue 9): whole-graph step <= 1.0x PyTorch (moonshot 0.5x), map step <= 0.25x (0.1x),
replay <= 4 ns per node on a 1M-node graph (2 ns).
"""

from __future__ import annotations

import os

# One thread for every BLAS and OpenMP pool (PyTorch's and NumPy's): idle pool threads spin on the
# second core and slow whatever runs beside them; and PyTorch is compared on one thread.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import micrograd_cpp as mg
from micrograd_cpp.demo import make_moons
from micrograd_cpp.losses import hinge_loss
from micrograd_cpp.nn import MLP
from micrograd_cpp.optim import SGD

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None  # --replot needs no PyTorch; main() says how to get it for the measurements
else:
    torch.set_num_threads(1)

Results = dict[str, Any]  # what --json writes: {"machine": ..., "demo": {...}, "scaling": [...]}


def median_seconds(step: Callable[[], object], repeat: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        step()
    times = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(times)


def model_and_data(
    n_rows: int, width: int = 16, seed: int = 1337
) -> tuple[MLP, list[list[float]], list[int]]:
    X, y01 = make_moons(n_rows, 0.1, seed)
    random.seed(seed)
    return MLP(2, [width, width, 1]), X, [2 * label - 1 for label in y01]


def torch_step(model: MLP, X: list[list[float]], y: list[int]) -> Callable[[], float]:
    """The same step in PyTorch, batched over the rows: one matrix per layer, float64, one thread."""
    layers = []
    for layer in model.layers:
        w = torch.tensor(
            [[p.data for p in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True
        )
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((w, b))
    params = [t for pair in layers for t in pair]
    opt = torch.optim.SGD(params, lr=0.1)
    data = torch.tensor(X, dtype=torch.float64)
    labels = torch.tensor(y, dtype=torch.float64)

    def step() -> float:
        h = data
        for i, (w, b) in enumerate(layers):
            h = h @ w.T + b
            if i < len(layers) - 1:
                h = torch.relu(h)
        loss = torch.relu(1 - labels * h[:, 0]).mean() + 1e-4 * sum((p * p).sum() for p in params)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def rebuild_step(model: MLP, X: list[list[float]], y: list[int]) -> Callable[[], float]:
    opt = SGD(model.parameters(), lr=0.1)
    inputs = [[mg.Value(a), mg.Value(b)] for a, b in X]

    def step() -> float:
        total = hinge_loss([model(x) for x in inputs], y) + 1e-4 * mg.sum(p * p for p in model.parameters())
        opt.zero_grad()
        total.backward()
        opt.step()
        return total.data

    return step


def whole_graph_step(model: MLP, X: list[list[float]], y: list[int]) -> tuple[Callable[[], float], mg.Graph]:
    opt = SGD(model.parameters(), lr=0.1)
    inputs = [[mg.Value(a), mg.Value(b)] for a, b in X]
    total = hinge_loss([model(x) for x in inputs], y) + 1e-4 * mg.sum(p * p for p in model.parameters())
    graph = mg.Graph(total)

    def step() -> float:
        loss = graph.forward()
        opt.zero_grad()
        graph.backward()
        opt.step()
        return loss

    return step, graph


def map_step(model: MLP, X: list[list[float]], y: list[int]) -> tuple[Callable[[], float], mg.Graph]:
    opt = SGD(model.parameters(), lr=0.1)
    x = [mg.Value(0.0), mg.Value(0.0)]
    t = mg.Value(0.0)
    reg = 1e-4 * mg.sum(p * p for p in model.parameters())
    graph = mg.Graph((1 + -t * model(x)).relu() + reg, inputs=[*x, t])  # mean over rows: hinge mean + reg
    rows = [[a, b, float(label)] for (a, b), label in zip(X, y)]

    def step() -> float:
        opt.zero_grad()
        losses = graph.map(rows, backward=True, reduction="mean")
        opt.step()
        return sum(losses) / len(losses)

    return step, graph


def demo_step(repeat: int) -> dict[str, float]:
    print("1. micrograd's demo step: 100 moons, MLP(2, [16, 16, 1]), hinge + L2, SGD (median ms per step)")
    timings = {}
    model, X, y = model_and_data(100)
    timings["PyTorch batched (float64, 1 thread)"] = median_seconds(torch_step(model, X, y), repeat)
    timings["rebuild each step (nn + losses + optim)"] = median_seconds(
        rebuild_step(*model_and_data(100)), repeat
    )
    whole, graph = whole_graph_step(*model_and_data(100))
    timings[f"Graph.forward + backward ({len(graph):,} nodes)"] = median_seconds(whole, repeat)
    batched, small = map_step(*model_and_data(100))
    timings[f"Graph.map over 100 rows ({len(small):,}-node graph)"] = median_seconds(batched, repeat * 5)
    reference = timings["PyTorch batched (float64, 1 thread)"]
    for name, seconds in timings.items():
        print(f"   {name:<48} {seconds * 1e3:8.3f} ms  {seconds / reference:6.2f}x PyTorch")
    print()
    return {name: seconds * 1e3 for name, seconds in timings.items()}


def chain(n: int) -> tuple[mg.Value, mg.Value, mg.Value]:
    x, w, b = mg.Value(0.5), mg.Value(1.0 + 1e-9), mg.Value(1e-9)
    y = x
    for _ in range(n // 2):
        y = y * w + b
    return y, x, w


def replay_cost(repeat: int) -> None:
    print("2. replay cost per node, forward + backward (best of runs, ns per node)")
    print(f"   {'graph':<32} {'nodes':>10} {'Graph fwd+bwd':>14} {'Value.backward':>15} {'map, 1 row':>11}")

    def report(name: str, y: mg.Value, graph: mg.Graph, one_row: list[list[float]] | None) -> None:
        runs = max(3, min(repeat, 20_000_000 // len(graph)))
        replay = min(median_seconds(lambda: (graph.forward(), graph.backward()), 1, 0) for _ in range(runs))
        backward = min(median_seconds(y.backward, 1, 0) for _ in range(runs))
        per = 1e9 / len(graph)
        batch = "-"
        if one_row is not None:
            seconds = min(
                median_seconds(lambda: graph.map(one_row, backward=True), 1, 0) for _ in range(runs)
            )
            batch = f"{seconds * per:.2f}"
        print(f"   {name:<32} {len(graph):>10,} {replay * per:>14.2f} {backward * per:>15.2f} {batch:>11}")

    for n in (1_000, 100_000, 1_000_000):
        y, x, _ = chain(n)
        report("chain y = y * w + b", y, mg.Graph(y, inputs=[x]), [[0.5]])
        del y, x
    # micrograd's demo loss over 1,500 points: a million nodes of neurons, relus and the hinge
    _, graph = whole_graph_step(*model_and_data(1_500))
    report("moons loss graph, 1,500 points", graph.outputs[0], graph, None)
    print(
        "   (map of one row: the batched kernel with a single lane; on a chain each step waits for the last)"
    )
    print()


def scaling(repeat: int) -> list[dict[str, float]]:
    print("3. scaling: Graph.map(backward=True) and PyTorch batched, ms per step (and ratio)")
    print(f"   {'rows':>7} {'width':>6} {'nodes':>7} {'Graph.map':>10} {'PyTorch':>9} {'ratio':>7}")
    cases = [(rows, 16) for rows in (1, 10, 100, 1_000, 10_000)] + [(100, w) for w in (4, 32, 64)]
    found = []
    for rows, width in cases:
        model, X, y = model_and_data(rows, width)
        torch_seconds = median_seconds(torch_step(model, X, y), max(5, repeat // 4))
        step, graph = map_step(*model_and_data(rows, width))
        ours = median_seconds(step, max(5, repeat // 4))
        print(
            f"   {rows:>7,} {width:>6} {len(graph):>7,} {ours * 1e3:>10.3f} {torch_seconds * 1e3:>9.3f} "
            f"{ours / torch_seconds:>6.2f}x"
        )
        found.append({"rows": rows, "width": width, "nodes": len(graph), "map_ms": ours * 1e3,
                      "torch_ms": torch_seconds * 1e3})  # fmt: skip
    print()
    return found


def memory() -> None:
    print("4. memory a captured graph holds, per node (Graph.nbytes / len), beside the 48-byte node itself")
    for n in (1_000, 1_000_000):
        y, x, _ = chain(n)
        graph = mg.Graph(y, inputs=[x])
        graph.map([[0.5]], backward=True)  # its lane buffers allocated
        print(f"   {len(graph):>10,} nodes: {graph.nbytes / len(graph):6.1f} bytes per node")
    model, X, y = model_and_data(100)
    _, graph = map_step(model, X, y)
    graph.map([[0.0, 0.0, 1.0]] * 100, backward=True)
    print(
        f"   moons per-sample graph, {len(graph):,} nodes, after a 100-row map: {graph.nbytes / 1024:.0f} KiB"
    )


def plot(results: Results, path: Path) -> None:
    """Time per step of micrograd's demo (1.) and against batch size and width (3.), PyTorch beside
    Graph.map, as one figure with three panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: a small, searchable SVG
    ours, theirs = "#1f77b4", "#d62728"
    fig, (demo, rows, width) = plt.subplots(
        1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.25, 1, 1]}
    )
    names = list(results["demo"])
    ms = [results["demo"][name] for name in names]
    colors = [theirs if name.startswith("PyTorch") else ours for name in names]
    demo.barh(range(len(names)), ms, color=colors)
    demo.set_yticks(range(len(names)), [name.replace(" (", "\n(", 1) for name in names], fontsize=8)
    demo.invert_yaxis()
    demo.set_xscale("log")
    demo.set_xlabel("ms per training step (log scale)")
    demo.set_title("micrograd's demo step (100 moons, MLP(2, [16, 16, 1]))", fontsize=10)
    for y, value in enumerate(ms):
        demo.text(value * 1.1, y, f"{value:.3g} ms", va="center", fontsize=8)
    demo.set_xlim(right=max(ms) * 6)
    for axis, key, fixed, label in ((rows, "rows", ("width", 16), "rows in the batch"),
                                    (width, "width", ("rows", 100), "neurons per hidden layer")):  # fmt: skip
        cases = sorted((c for c in results["scaling"] if c[fixed[0]] == fixed[1]), key=lambda c: c[key])
        xs = [c[key] for c in cases]
        axis.plot(xs, [c["map_ms"] for c in cases], "o-", color=ours, label="micrograd_cpp Graph.map")
        axis.plot(xs, [c["torch_ms"] for c in cases], "s--", color=theirs, label="PyTorch batched (float64)")
        axis.set_xscale("log", base=10 if key == "rows" else 2)
        axis.set_yscale("log")
        axis.set_xlabel(label)
        axis.set_ylabel("ms per step (forward, backward, SGD)")
        axis.set_title(f"against {label} ({fixed[0]} {fixed[1]})", fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(f"bench_graph.py, one thread: {results['machine']}", fontsize=9, y=0.02, va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed repetitions per figure (default: 200)")
    parser.add_argument("--plot", type=Path, help="draw the demo step and the scaling into this image")
    parser.add_argument("--json", type=Path, help="write the demo step's and the scaling's figures here")
    parser.add_argument("--replot", type=Path, help="measure nothing: --plot the figures of this --json file")
    args = parser.parse_args()
    if args.replot:
        if not args.plot:
            parser.error("--replot needs --plot")
        plot(json.loads(args.replot.read_text(encoding="utf-8")), args.plot)
        print(f"figure saved to {args.plot}")
        return
    if torch is None:
        sys.exit(
            "needs PyTorch (the CPU wheel): pip install torch --index-url https://download.pytorch.org/whl/cpu"
        )
    machine = f"Python {sys.version.split()[0]}, micrograd_cpp {mg.__version__}, torch {torch.__version__}"
    print(f"{machine}\n")
    results: Results = {"machine": f"{machine}, {platform.machine()}", "demo": demo_step(args.repeat)}
    replay_cost(args.repeat)
    results["scaling"] = scaling(args.repeat)
    memory()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"figures saved to {args.json}")
    if args.plot:
        plot(results, args.plot)
        print(f"figure saved to {args.plot}")


if __name__ == "__main__":
    main()
