"""Gradients of gradients: what mg.grad costs per node, beside building the graph and Value.backward().

    python benchmarks/bench_grad.py [--nodes 1000000] [--repeat 5]

On graphs of about a million nodes, in one run: a chain x = (x * w + b).tanh() of one input, and the
layers of an MLP(4, [64, 64, 1]) with tanh evaluated again and again on 4 inputs and summed. For each:
  build      building the graph from Python (ns per node of the graph)
  backward   Value.backward() (per node)
  grad       mg.grad(y, inputs): the numbers (per node of the graph)
  graph      mg.grad(y, inputs, create_graph=True): the gradient graph (per node of the graph it
             differentiates), and its size in nodes per node
  graph bwd  Value.backward() of the gradient graph (per node it walks: its own and those below)
  free       dropping the gradient graph (per node of it)
Times are the best of the repeats, wall clock and, beside it, this thread's CPU time (a shared machine
slows both; the CPU time less). The target: building the gradient graph costs about what building the
graph did.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Callable

import micrograd_cpp as mg
from micrograd_cpp import Value


def chain(nodes: int) -> tuple[list[Value], Callable[[], Value]]:
    x, w, b = Value(0.3), Value(0.999), Value(0.001)

    def build() -> Value:
        y = x
        for _ in range(nodes // 3):
            y = (y * w + b).tanh()
        return y

    return [x], build


def mlp(nodes: int) -> tuple[list[Value], Callable[[], Value]]:
    random.seed(0)
    model = mg.nn.MLP(4, [64, 64, 1], activation="tanh")
    xs = [Value(random.uniform(-1.0, 1.0)) for _ in range(4)]
    per_pass = 64 * (4 * 2 + 1) + 64 * (64 * 2 + 1) + 64 * 2  # nodes of one forward pass

    def build() -> Value:
        return mg.sum([model(xs) for _ in range(max(1, nodes // per_pass))])

    return xs, build


def best(f: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(wall, cpu) seconds of the fastest call, and the last result."""
    wall = cpu = float("inf")
    result = None
    for _ in range(repeat):
        result = None  # the last one freed first
        w0, c0 = time.perf_counter(), time.thread_time()
        result = f()
        c1, w1 = time.thread_time(), time.perf_counter()
        wall, cpu = min(wall, w1 - w0), min(cpu, c1 - c0)
    return wall, cpu, result


def report(name: str, inputs: list[Value], build: Callable[[], Value], repeat: int) -> None:
    wall_build, cpu_build, y = best(build, repeat)
    assert isinstance(y, Value)
    n = len(mg._core.topological_order(y))
    wall_bwd, cpu_bwd, _ = best(y.backward, repeat)
    wall_num, cpu_num, _ = best(lambda: mg.grad(y, inputs), repeat)
    wall_graph = cpu_graph = wall_gbwd = cpu_gbwd = wall_free = cpu_free = float("inf")
    size = walked = 1
    for _ in range(repeat):
        before = mg._core.live_node_count()
        w0, c0 = time.perf_counter(), time.thread_time()
        grads = mg.grad(y, inputs, create_graph=True)
        c1, w1 = time.thread_time(), time.perf_counter()
        wall_graph, cpu_graph = min(wall_graph, w1 - w0), min(cpu_graph, c1 - c0)
        size = mg._core.live_node_count() - before  # the gradient graph's own nodes
        top = grads[0] if len(grads) == 1 else mg.sum(grads)
        walked = len(mg._core.topological_order(top))  # the gradient graph and the nodes below it
        w0, c0 = time.perf_counter(), time.thread_time()
        top.backward()
        c1, w1 = time.thread_time(), time.perf_counter()
        wall_gbwd, cpu_gbwd = min(wall_gbwd, w1 - w0), min(cpu_gbwd, c1 - c0)
        w0, c0 = time.perf_counter(), time.thread_time()
        del grads, top
        c1, w1 = time.thread_time(), time.perf_counter()
        wall_free, cpu_free = min(wall_free, w1 - w0), min(cpu_free, c1 - c0)

    def ns(wall: float, cpu: float, per: int) -> str:
        return f"{wall / per * 1e9:8.1f} {cpu / per * 1e9:7.1f}"

    print(f"\n{name}: {n:,} nodes; its gradient graph {size:,} nodes ({size / n:.2f} per node)")
    print("                     wall     cpu   (ns per node)")
    print(f"  build           {ns(wall_build, cpu_build, n)}")
    print(f"  backward        {ns(wall_bwd, cpu_bwd, n)}")
    print(f"  grad            {ns(wall_num, cpu_num, n)}")
    print(f"  graph           {ns(wall_graph, cpu_graph, n)}   {wall_graph / wall_build:.2f}x build")
    print(f"  graph backward  {ns(wall_gbwd, cpu_gbwd, walked)}   (per node it walks)")
    print(f"  free            {ns(wall_free, cpu_free, max(size, 1))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000, help="nodes per graph (default: 1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions per figure (default: 5)")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, micrograd_cpp {mg.__version__}")
    for name, make in (("chain y = tanh(y * w + b)", chain), ("MLP(4, [64, 64, 1]) tanh, summed", mlp)):
        inputs, build = make(args.nodes)
        report(name, inputs, build, args.repeat)


if __name__ == "__main__":
    main()
