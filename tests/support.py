"""The tests' shared helpers, one meaning each (pytest puts tests/ on the path: `from support import ...`).
Fixtures live in conftest.py; the op table every oracle iterates is op_reference.py."""

from __future__ import annotations

import math
import random
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from op_reference import CASES, Case

import micrograd_cpp as mg
from micrograd_cpp.nn import MLP

# The checkout, or the wheel tests' copy of tests/ and pyproject.toml (README.md, examples/ and scripts/
# are there only in a checkout: the tests that read them skip elsewhere).
ROOT = Path(__file__).resolve().parent.parent


# --- child processes ---------------------------------------------------------------------------------
# A test whose failure may be a crash, a hang or a change to the interpreter's state (a lowered memory
# limit, a replaced type) runs it in a fresh interpreter: the crash fails that test, not the run.

TAIL = 200  # lines of a failed child's stdout and stderr shown (a sanitizer's report fits)


def run_python(*args: str, timeout: float | None = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """This interpreter (sys.executable) run with args in a child, its output captured as text; its exit
    status is not checked (the caller's test looks at it). kwargs go to subprocess.run (cwd, env, input).
    A child still running after timeout seconds is killed and raises subprocess.TimeoutExpired."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").rstrip().splitlines()[-TAIL:])


def run_in_child(code: str, timeout: float = 600, *, env: dict[str, str] | None = None) -> str:
    """Runs code (dedented) in a fresh interpreter and returns its stdout. Fails the test, with the last
    lines of the child's stdout and stderr, when the child exits with a non-zero status (a crash, an
    uncaught exception, a failed assert) or is still running after timeout seconds (a hang: killed).
    env: the child's environment (default: this one's). The `child` fixture (conftest.py) is this."""
    try:
        proc = run_python("-c", textwrap.dedent(code), timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"child still running after {timeout} s: killed\nstdout:\n{_tail(e.stdout)}\nstderr:\n{_tail(e.stderr)}"
        )
    if proc.returncode != 0:
        pytest.fail(
            f"child exited with {proc.returncode}\nstdout:\n{_tail(proc.stdout)}\nstderr:\n{_tail(proc.stderr)}"
        )
    return proc.stdout


def sigint_after(seconds: float | str) -> str:
    """Code for a child: another process sends it SIGINT `seconds` from now (a number, or an expression the
    child evaluates where this code runs, such as "0.3 * plan"), as a terminal's Ctrl-C comes
    (a thread would need the GIL to send it: its SIGINT could land only between two calls that hold the
    GIL). The code defines sent_at(), which waits for the send and returns its time.monotonic() (one
    clock for both processes), taken just before the signal went."""
    sender = (
        "import os, signal, sys, time\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.monotonic()))\n"
        "print(repr(time.monotonic()), flush=True)\n"
        "os.kill(int(sys.argv[1]), signal.SIGINT)\n"
    )
    return f"""
import os, signal, subprocess, sys, time
if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
    # started in the background (a shell's `&`, nohup): SIGINT came ignored, and Python left it so
    signal.signal(signal.SIGINT, signal.default_int_handler)
_sender = subprocess.Popen(
    [sys.executable, "-c", {sender!r}, str(os.getpid()), repr(time.monotonic() + {seconds})],
    stdout=subprocess.PIPE, text=True,
)
def sent_at():
    return float(_sender.communicate()[0])
"""


# Stand-ins for a plain argument whose Python code runs first: the source of their classes, for a
# child's code (test_constructors, test_reentrancy). Each calls fire(self), which that code defines,
# then behaves as its value does: a number's __float__ or __index__, a flag's __bool__, an iterable's
# __iter__, an iterator's __next__, a sequence's __len__, a mapping's __iter__.
STAND_INS = """
import collections.abc

class Stand:
    def __init__(self, value):
        self.value = value
    def __repr__(self):
        return f"{type(self).__name__}({self.value!r})"

class FloatHook(Stand):
    def __float__(self):
        fire(self)
        return float(self.value)

class IndexHook(Stand):
    def __index__(self):
        fire(self)
        return int(self.value)

class BoolHook(Stand):
    def __bool__(self):
        fire(self)
        return bool(self.value)

class IterHook(Stand):
    def __iter__(self):
        fire(self)
        return iter(self.value)

class NextHook(Stand):
    def __init__(self, value):
        super().__init__(value)
        self.it = iter(value)
    def __iter__(self):
        return self
    def __next__(self):
        fire(self)
        return next(self.it)

class LenHook(Stand):  # a sequence through __len__ and __getitem__ only
    def __len__(self):
        fire(self)
        return len(self.value)
    def __getitem__(self, i):
        return self.value[i]

class MappingHook(Stand, collections.abc.Mapping):
    def __iter__(self):
        fire(self)
        return iter(self.value)
    def __len__(self):
        return len(self.value)
    def __getitem__(self, key):
        return self.value[key]
"""


# --- floats, bit for bit ---------------------------------------------------------------------------


def bits(x: float) -> bytes:
    """x's identity as a float: its eight bytes, every nan the one value b"nan" (a nan's sign and payload
    are not compared). Equal bits mean the same float: the sign of zero counts, 0.0 is not -0.0."""
    return b"nan" if math.isnan(x) else struct.pack("<d", x)


def same_bits(a: float, b: float) -> bool:
    """Whether a and b are the same float bit for bit, as bits() says: any nan equals any nan, 0.0 is
    not -0.0."""
    return bits(a) == bits(b)


# --- graphs -------------------------------------------------------------------------------------------


def reachable(outputs: list[mg.Value]) -> set[mg.Value]:
    """The nodes of the graph below the outputs, as a set of Values: Values hash and compare by node
    (not by id(): _children makes new wrappers on each access, whose ids say nothing of the nodes)."""
    seen: set[mg.Value] = set()
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(v._children)
    return seen


# --- random graphs -----------------------------------------------------------------------------------
# Each random test draws its graphs its own way (hypothesis strategies, seeded generators biased to what it
# attacks); these build them, with one meaning for every test.


def into_domain(case: Case, x: Any, *, squash: bool = True) -> Any:
    """x moved smoothly into where case's op is smooth and finite: first squashed into [-0.5, 0.5] as
    x / (1 + x * x), so that values stay moderate through long chains (unless squash=False), then as the
    reference table moves it (Case.into_domain: x * x + lo for an op of positive numbers, a sigmoid for an
    op of a bounded domain). For Values and tensors alike."""
    if squash:
        x = x / (1 + x * x)
    return case.into_domain(x)


def picked(case: Case, nodes: list[Any], picks: list[int], *, squash: bool = True) -> list[Any]:
    """The operands of one step of a random graph drawn as integers: nodes[picks[k] % len(nodes)] for each
    of case's operands, each moved into_domain."""
    return [into_domain(case, nodes[i % len(nodes)], squash=squash) for i in picks[: case.operands]]


def rooted(leaves: list[Any], steps: list[tuple[str, list[int]]], *, torch_engine: bool = False) -> Any:
    """A random DAG over every op on leaves (Values, or tensors with torch_engine), one node per step
    (name, picks): CASES[name]'s op (PyTorch's, with torch_engine) on its operands picked() from the nodes
    so far. Returns the last node plus 0.1 times every third node made, so that many nodes reach the
    root along several paths (what the gradient tests differentiate, to any order)."""
    nodes = list(leaves)
    for name, picks in steps:
        case = CASES[name]
        nodes.append((case.torch_op() if torch_engine else case.ours)(*picked(case, nodes, picks)))
    root = nodes[-1]
    for node in nodes[len(leaves) : -1 : 3]:
        root = root + node * 0.1
    return root


def grow(nodes: list[mg.Value], steps: list[tuple[Any, ...]]) -> list[mg.Value]:
    """Appends to nodes (and returns it) one node for each step (kind, op, operands, extra), where operands
    are indices into nodes, earlier steps' nodes included:
      ("op", name, operands, None)       CASES[name]'s op (add, tanh, dot, ...) on those nodes
      ("power", None, (i,), k)           nodes[i] ** k, k a number
      ("sum", None, operands, start)     mg.sum of those nodes; start None, a number, or ("node", j)
      ("dot", None, operands, None)      mg.dot(even operands, odd operands)
      ("chain", None, operands, mask)    x0 + (x1 * x2 or x1) + (x3 * x4 or x3) + ..., left to right: a
                                         product where mask[j] is true (a chain that fuses into a dot)
      ("scale", None, (i,), c)           nodes[i] * c, c a number (a constant operand)"""
    for kind, op, operands, extra in steps:
        x = [nodes[i] for i in operands]
        if kind == "op":
            v = CASES[op].ours(*x)
        elif kind == "power":
            v = x[0] ** extra
        elif kind == "sum":
            if extra is None:
                v = mg.sum(x)
            elif isinstance(extra, tuple):
                v = mg.sum(x, nodes[extra[1]])
            else:
                v = mg.sum(x, extra)
        elif kind == "dot":
            v = mg.dot(x[0::2], x[1::2])
        elif kind == "chain":
            v = x[0]
            for j, product in enumerate(extra):
                a, b = x[1 + 2 * j], x[2 + 2 * j]
                v = v + (a * b if product else a)
        elif kind == "scale":
            v = x[0] * extra
        else:
            raise ValueError(f"unknown step kind {kind!r}")
        nodes.append(v)
    return nodes


# --- micrograd's demo model, captured (the Graph tests' common case) ---------------------------------


def moons_like(n: int, seed: int = 0) -> list[list[float]]:
    """n rows [x, y, label] spread like the two-moons data set's, labels -1.0 or 1.0 (not the moons)."""
    rng = random.Random(seed)
    return [[rng.uniform(-1.5, 2.5), rng.uniform(-1, 1.5), rng.choice([-1.0, 1.0])] for _ in range(n)]


def captured_model(seed: int = 1337) -> tuple[MLP, mg.Graph]:
    """micrograd's demo model and one sample's hinge loss, captured with the sample as inputs: outputs
    [loss, score], inputs [x, y, label]. Seeds the global random module (as the demo does)."""
    random.seed(seed)
    model = MLP(2, [16, 16, 1])
    x = [mg.Value(0.0), mg.Value(0.0)]
    t = mg.Value(0.0)
    score = model(x)
    loss = (1 + -t * score).relu()
    return model, mg.Graph([loss, score], inputs=[*x, t])


def grads(model: MLP) -> list[float]:
    """The model's parameter gradients, in parameters() order."""
    return [p.grad for p in model.parameters()]


def close(a: list[float], b: list[float], rel: float = 1e-12) -> bool:
    """Two equally long lists of floats agree within rel, relative (and rel * 1e-3 absolute, near 0)."""
    assert len(a) == len(b)
    return all(math.isclose(x, y, rel_tol=rel, abs_tol=rel * 1e-3) for x, y in zip(a, b))
