"""The engine side by side with micrograd (PyPI) and plain Python floats.

    python benchmarks/bench_engine.py [--chain 1000000] [--repeat 7]

Times, in one run so that machine noise hits all three alike:
- single operations: a*b, a*2.0, constructing a Value, reading .data (ns per op, net of loop overhead);
- a long chain x = x*w + b: building (per op), backward (per node), freeing (per node);
- memory per node (resident-set growth, measured in a child process per engine);
and prints the ratios. Timings are minima over repeats; the machine is shared, so absolute times drift
but ratios within one run hold.
"""

import argparse
import gc
import os
import subprocess
import sys
import time
import timeit

import micrograd_cpp

try:
    from micrograd.engine import Value as MicrogradValue
except ImportError:  # pragma: no cover - the comparison needs the reference
    sys.exit("needs micrograd: pip install micrograd")

ENGINES = {"micrograd_cpp": micrograd_cpp.Value, "micrograd": MicrogradValue, "float": float}


def time_single_ops(repeat):
    """ns per operation for each engine, net of the timing loop's own overhead."""
    rows = {}
    for name, V in ENGINES.items():
        number = 20_000 if name == "micrograd" else 500_000
        g = {"V": V}
        read = "a.real" if name == "float" else "a.data"
        stmts = {"a*b": "a * b", "a*2.0": "a * 2.0", "V(x)": "V(x)", ".data": read}
        rows[name] = {}
        for label, stmt in stmts.items():
            timer = timeit.Timer(stmt, "a = V(2.0); b = V(3.0); x = 2.5", globals=g)
            empty = timeit.Timer("pass", "a = V(2.0); b = V(3.0); x = 2.5", globals=g)
            best = min(timer.repeat(repeat, number)) / number
            overhead = min(empty.repeat(repeat, number)) / number
            rows[name][label] = max(best - overhead, 0.0) * 1e9
    return rows


def chain(V, steps):
    """Builds x = x*w + b for `steps` steps: 2*steps nodes. Returns (x, seconds per op)."""
    w, b, x = V(1.0), V(1e-9), V(1.0)
    start = time.perf_counter()
    for _ in range(steps):
        x = x * w + b
    return x, (time.perf_counter() - start) / (2 * steps)


def time_chain(V, steps, repeat, collect):
    """Best per-node times of build, backward and free over `repeat` chains."""
    build = backward = free = float("inf")
    for _ in range(repeat):
        x, per_op = chain(V, steps)
        start = time.perf_counter()
        x.backward()
        per_backward = (time.perf_counter() - start) / (2 * steps)
        start = time.perf_counter()
        del x
        if collect:  # micrograd's closures form reference cycles: only the cyclic GC frees them
            gc.collect()
        per_free = (time.perf_counter() - start) / (2 * steps)
        build, backward, free = min(build, per_op), min(backward, per_backward), min(free, per_free)
    return {"build": build * 1e9, "backward": backward * 1e9, "free": free * 1e9}


MEMORY_CHILD = """
import os, sys
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
if sys.argv[1] == "micrograd_cpp":
    from micrograd_cpp import Value
else:
    from micrograd.engine import Value
steps = int(sys.argv[2])
w, b, x = Value(1.0), Value(1e-9), Value(1.0)
before = rss()
for _ in range(steps):
    x = x * w + b
print((rss() - before) / (2 * steps))
"""


def bytes_per_node(engine, steps):
    if not os.path.exists("/proc/self/statm"):
        return float("nan")
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, engine, str(steps)], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chain", type=int, default=1_000_000, help="nodes in micrograd_cpp's long chain")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]}, micrograd_cpp {micrograd_cpp.__version__}")
    print("\nSingle operations, ns per op (net of loop overhead)")
    ops = time_single_ops(args.repeat)
    print(f"{'':8}" + "".join(f"{name:>15}" for name in ENGINES) + f"{'cpp/float':>12}{'micrograd/cpp':>15}")
    for label in ops["float"]:
        cpp, mg, fl = ops["micrograd_cpp"][label], ops["micrograd"][label], ops["float"][label]
        print(
            f"{label:8}{cpp:15.1f}{mg:15.1f}{fl:15.1f}{cpp / fl if fl else float('nan'):11.1f}x"
            f"{mg / cpp if cpp else float('nan'):14.1f}x"
        )

    # micrograd's recursive topological sort dies near depth 1000: give it a chain it survives.
    short = 400
    print(f"\nChain x = x*w + b, ns per node ({2 * short} nodes for both; {args.chain:,} for micrograd_cpp)")
    ours_short = time_chain(micrograd_cpp.Value, short, args.repeat * 20, collect=False)
    theirs_short = time_chain(MicrogradValue, short, args.repeat * 5, collect=True)
    ours_long = time_chain(micrograd_cpp.Value, args.chain // 2, max(2, args.repeat // 3), collect=False)
    print(f"{'':10}{'cpp short':>12}{'micrograd':>12}{'speed-up':>10}{'cpp long':>12}")
    for key in ("build", "backward", "free"):
        print(
            f"{key:10}{ours_short[key]:12.1f}{theirs_short[key]:12.1f}"
            f"{theirs_short[key] / ours_short[key]:9.0f}x{ours_long[key]:12.1f}"
        )
    ratio = ours_long["free"] / ours_long["build"]
    print(f"freeing costs {ratio:.2f}x building (target <= 1)")

    print("\nMemory per node (resident-set growth over a 2M-node chain, child process per engine)")
    ours = bytes_per_node("micrograd_cpp", 1_000_000)
    theirs = bytes_per_node("micrograd", 100_000)
    print(
        f"micrograd_cpp {ours:.0f} B/node (C++ node: {micrograd_cpp._core.node_size} B), micrograd {theirs:.0f} B/node"
    )
    print(
        f"\nTargets: operator <= 5x float: a*b {ops['micrograd_cpp']['a*b'] / ops['float']['a*b']:.1f}x, "
        f"a*2.0 {ops['micrograd_cpp']['a*2.0'] / ops['float']['a*2.0']:.1f}x; "
        f"backward <= 30 ns/node: {ours_long['backward']:.1f}; <= 64 B/node: {ours:.0f}"
    )


if __name__ == "__main__":
    main()
