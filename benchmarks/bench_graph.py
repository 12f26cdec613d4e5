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
5. The grid of issue 19 (`--grid` runs it alone): rows 100 / 1,000 / 10,000 x width 16 and 100 / 1,000 x
   width 64, the moons step (MLP 2-W-W-1, hinge mean + 1e-4 L2, SGD) with Graph.map, PyTorch batched on one
   thread and on its default threads, and JAX's jit of the whole step (float64) when JAX is installed (an
   optional anchor: pip install jax); map's GFLOP/s (6 (W^2 + 3W) flops a row: the layers' products,
   forward and both backward) beside this machine's double-precision peak, probed by a small C program
   (cc, -march=native; one core and all): with fused multiply-adds, and with a multiply and an add apart,
   the most an exact kernel can do (map never fuses: dot(a, b) equals Python's sum of products bit for bit).
--plot draws 1. and 3. (time per step against batch size and width, PyTorch beside Graph.map) into an
image (.svg, .png, .pdf; needs matplotlib), as the docs' performance page shows it; --json writes the
figures of 1. and 3. for `python benchmarks/bench_graph.py --replot graph.json --plot graph.svg`.
Targets (issue 9): whole-graph step <= 1.0x PyTorch (moonshot 0.5x), map step <= 0.25x (0.1x),
replay <= 4 ns per node on a 1M-node graph (2 ns). Issue 19: map <= 1.0x JAX jit at every grid point (0.5x).
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
import math
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def map_step(
    model: MLP, X: list[list[float]], y: list[int], threads: int | None = None
) -> tuple[Callable[[], float], mg.Graph]:
    opt = SGD(model.parameters(), lr=0.1)
    x = [mg.Value(0.0), mg.Value(0.0)]
    t = mg.Value(0.0)
    reg = 1e-4 * mg.sum(p * p for p in model.parameters())
    graph = mg.Graph((1 + -t * model(x)).relu() + reg, inputs=[*x, t])  # mean over rows: hinge mean + reg
    rows: Any = [[a, b, float(label)] for (a, b), label in zip(X, y)]
    try:  # made once, as PyTorch's and JAX's arrays are: map reads a float64 array's rows with no Python floats
        import numpy
    except ImportError:  # pragma: no cover
        pass
    else:
        rows = numpy.array(rows, dtype=numpy.float64)

    def step() -> float:
        opt.zero_grad()
        losses = graph.map(rows, backward=True, reduction="mean", threads=threads)
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


# The peak probe: independent chains of x = x * b + c over vectors of doubles (16 chains of one AVX-512
# register where there is AVX-512, else 12 of one AVX2 or 16-byte register: all in registers, with b and c),
# in each of N threads; 2 flops an element a step.
PEAK_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX512F__)
#define BYTES 64
#define CHAINS 16
#elif defined(__AVX__)
#define BYTES 32
#define CHAINS 12
#else
#define BYTES 16
#define CHAINS 12
#endif
typedef double vec __attribute__((vector_size(BYTES)));
#define LANES (BYTES / 8)
static long iters = 20000000;
static volatile double sink;
static void* run(void* arg) {
    double seed = (double)(long)arg;
    vec b = (vec){0} + 0.999999, c = (vec){0} + 1e-9;
    vec a[CHAINS];
    for (int k = 0; k < CHAINS; ++k) a[k] = b + seed + k;
    for (long i = 0; i < iters; ++i) {
        for (int k = 0; k < CHAINS; ++k) a[k] = a[k] * b + c;
    }
    vec s = a[0];
    for (int k = 1; k < CHAINS; ++k) s += a[k];
    sink = s[0];
    return 0;
}
int main(int argc, char** argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2) iters = atol(argv[2]);
    pthread_t t[256];
    struct timespec s, e;
    if (threads < 1 || threads > 256) return 2;
    clock_gettime(CLOCK_MONOTONIC, &s);
    for (long i = 0; i < threads; ++i) pthread_create(&t[i], 0, run, (void*)i);
    for (int i = 0; i < threads; ++i) pthread_join(t[i], 0);
    clock_gettime(CLOCK_MONOTONIC, &e);
    double sec = (e.tv_sec - s.tv_sec) + 1e-9 * (e.tv_nsec - s.tv_nsec);
    printf("%.3f\n", 2.0 * LANES * CHAINS * (double)iters * threads / sec / 1e9);
    return 0;
}
"""


def peak_gflops() -> dict[str, float] | None:
    """This machine's double-precision peak, GFLOP/s, best of three: {"fma 1 core", "fma all cores",
    "mul+add 1 core", "mul+add all cores"}; None without a C compiler (or off x86-64 and arm64)."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    found = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "peak.c")
        source.write_text(PEAK_C, encoding="utf-8")
        for name, contract in (("fma", "fast"), ("mul+add", "off")):
            exe = Path(tmp, f"peak-{contract}")
            cmd = [
                compiler,
                "-O3",  # unrolls the chains' loop: each chain in a register
                "-march=native",
                f"-ffp-contract={contract}",
                "-pthread",
                str(source),
                "-o",
                str(exe),
            ]
            if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
                return None
            for label, threads in (("1 core", 1), ("all cores", os.cpu_count() or 1)):
                runs = [float(subprocess.run([str(exe), str(threads), "20000000"], capture_output=True, text=True,
                                             check=True).stdout) for _ in range(3)]  # fmt: skip
                found[f"{name} {label}"] = max(runs)
    return found


def jax_step(model: MLP, X: list[list[float]], y: list[int]) -> Callable[[], float] | None:
    """The same step in JAX, its whole step under jit, float64; None without JAX."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    params = [
        (jnp.array([[p.data for p in n.w] for n in layer.neurons], dtype=jnp.float64),
         jnp.array([n.b.data for n in layer.neurons], dtype=jnp.float64))
        for layer in model.layers
    ]  # fmt: skip
    data = jnp.array(X, dtype=jnp.float64)
    labels = jnp.array(y, dtype=jnp.float64)

    def loss_of(ps: Any) -> Any:
        h = data
        for i, (w, b) in enumerate(ps):
            h = h @ w.T + b
            if i < len(ps) - 1:
                h = jax.nn.relu(h)
        reg = sum((w * w).sum() + (b * b).sum() for w, b in ps)
        return jax.nn.relu(1 - labels * h[:, 0]).mean() + 1e-4 * reg

    @jax.jit
    def update(ps: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_of)(ps)
        return loss, jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, ps, grads)

    state = [params]

    def step() -> float:
        loss, state[0] = update(state[0])
        loss.block_until_ready()
        return float(loss)

    return step


GRID = ((100, 16), (1_000, 16), (10_000, 16), (100, 64), (1_000, 64))


def grid(repeat: int) -> dict[str, Any]:
    print(
        "5. the grid (issue 19): ms per step, median; map (its default threads) and its GFLOP/s, map on one"
    )
    print(
        "   thread, PyTorch on one thread and on all, JAX jit (its default threads); ratios of map to JAX, PyTorch;"
    )
    print(
        "   each reads its rows from an array made once (map: a NumPy float64 array, where NumPy is installed)"
    )
    peak = peak_gflops()
    if peak is None:
        print("   peak probe: not built (it needs cc, gcc or clang, and x86-64 or arm64)")
    else:
        print(
            "   this machine's double-precision peak (GFLOP/s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in peak.items())
        )
    print(f"   {'rows':>7} {'width':>5} {'map':>8} {'GFLOP/s':>8} {'map 1':>8} {'torch 1':>8} {'torch N':>8} "
          f"{'JAX jit':>8} {'/JAX':>6} {'/torch 1':>8}")  # fmt: skip
    found = []
    threads = torch.get_num_threads()
    for rows, width in GRID:
        runs = max(5, repeat * 100 // rows)
        step, _ = map_step(*model_and_data(rows, width))
        step_one, _ = map_step(*model_and_data(rows, width), threads=1)
        torch_one = torch_step(*model_and_data(rows, width))
        torch.set_num_threads(os.cpu_count() or 1)
        torch_all = torch_step(*model_and_data(rows, width))
        torch.set_num_threads(threads)
        jax_one = jax_step(*model_and_data(rows, width))
        # interleaved, a round of each in turn, so that the machine's load falls on all alike
        times: dict[str, list[float]] = {"map": [], "map 1": [], "torch 1": [], "torch N": [], "jax": []}
        for _ in range(5):
            times["map"].append(median_seconds(step, runs))
            times["map 1"].append(median_seconds(step_one, runs))
            times["torch 1"].append(median_seconds(torch_one, runs))
            torch.set_num_threads(os.cpu_count() or 1)
            times["torch N"].append(median_seconds(torch_all, runs))
            torch.set_num_threads(threads)
            if jax_one is not None:
                times["jax"].append(median_seconds(jax_one, runs))
        ms = {k: statistics.median(v) * 1e3 if v else math.nan for k, v in times.items()}
        flops = 6 * (width * width + 3 * width) * rows
        gflops = flops / (ms["map"] * 1e-3) / 1e9
        print(f"   {rows:>7,} {width:>5} {ms['map']:>8.3f} {gflops:>8.1f} {ms['map 1']:>8.3f} {ms['torch 1']:>8.3f} "
              f"{ms['torch N']:>8.3f} {ms['jax']:>8.3f} {ms['map'] / ms['jax']:>5.2f}x "
              f"{ms['map'] / ms['torch 1']:>7.2f}x")  # fmt: skip
        found.append({"rows": rows, "width": width, "map_ms": ms["map"], "map_gflops": gflops,
                      "map_1_thread_ms": ms["map 1"], "torch_1_ms": ms["torch 1"], "torch_n_ms": ms["torch N"],
                      "jax_ms": ms["jax"]})  # fmt: skip
    print()
    return {"peak": peak, "points": found}


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
    parser.add_argument(
        "--grid", action="store_true", help="measure only 5., the grid against PyTorch and JAX"
    )
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
    if args.grid:
        found = grid(args.repeat)
        if args.json:
            args.json.write_text(
                json.dumps({"machine": machine, "grid": found}, indent=1) + "\n", encoding="utf-8"
            )
        return
    results: Results = {"machine": f"{machine}, {platform.machine()}", "demo": demo_step(args.repeat)}
    replay_cost(args.repeat)
    results["scaling"] = scaling(args.repeat)
    memory()
    results["grid"] = grid(args.repeat)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"figures saved to {args.json}")
    if args.plot:
        plot(results, args.plot)
        print(f"figure saved to {args.plot}")


if __name__ == "__main__":
    main()
