"""Graph's long calls (map, forward, backward) beside threads, fork() and Ctrl-C (issue 23, items 5, 6, 7).

- Threads: every member of a Graph (nbytes, outputs, inputs, len, repr) is safe to read while another thread
  runs map with the GIL released; nbytes reads only what the capture fixed and an atomic count of the
  buffers, which map grows.
- fork(): a Graph that another thread was using when the process forked is not "in use" in the child (the
  thread is not there): the child uses it, its results exact.
- Ctrl-C: SIGINT (from another process, as a terminal's comes) stops a long map within 0.5 s (the kernel
  takes the GIL back to look, every 20 ms), and an interrupted call adds no gradient; a retry is exact.
  forward and backward hold the GIL: they answer between chunks of nodes, and after the last one, so that
  a backward that raised KeyboardInterrupt added nothing to any leaf.

Each case runs in a child process: it sends signals to itself, forks, or builds graphs of a million nodes.
"""

from __future__ import annotations

import pytest
from support import sigint_after

# A graph whose map over many rows runs for seconds: 2,000 tanh neurons in a row, two parameters.
LONG_MAP = """
import math, os, signal, sys, threading, time
import micrograd_cpp as mg

def build(x, w, b, depth=2000):
    h = x
    for _ in range(depth):
        h = (h * w + b).tanh()
    return h

x, w, b = mg.Value(0.0), mg.Value(0.9), mg.Value(0.1)
g = mg.Graph(build(x, w, b), inputs=[x])
rows = [[0.001 * (i % 997)] for i in range(150_000)]
small = rows[:300]

def fresh_gradients(rows):
    # the same graph, captured anew: what a retry must give, bit for bit
    x2, w2, b2 = mg.Value(0.0), mg.Value(0.9), mg.Value(0.1)
    g2 = mg.Graph(build(x2, w2, b2), inputs=[x2])
    w2.grad, b2.grad = 1.5, -2.5
    g2.map(rows, backward=True)
    return w2.grad, b2.grad
"""

# A chain of a million nodes: forward and backward take milliseconds, back to back.
CHAIN = """
import os, signal, sys, threading, time
import micrograd_cpp as mg

x, w, c = mg.Value(0.5), mg.Value(1.0 + 1e-9), mg.Value(1e-9)
y = x
for _ in range(500_000):
    y = y * w + c
g = mg.Graph(y)
"""


# --- threads --------------------------------------------------------------------------------------


def test_every_member_of_a_graph_is_safe_to_read_while_another_thread_runs_map(child):
    """The audit read nbytes = 18446744073709421834 while map grew its lane buffers. Here map grows them
    some four thousand times (a new Graph, then 1, 2, ..., 128 rows) while another thread reads every member."""
    out = child(
        """
import threading
import micrograd_cpp as mg

x, w = mg.Value(0.0), mg.Value(0.5)
h = x
for _ in range(50):
    h = (h * w).tanh()
graphs = [mg.Graph(h, inputs=[x]) for _ in range(32)]
floor = min(g.nbytes for g in graphs)
seen, bad, stop = [0], [], threading.Event()
def read():
    while not stop.is_set():
        for g in graphs:
            n = g.nbytes
            if not floor <= n < 2**30 or (len(g), len(g.outputs), len(g.inputs)) != (len(graphs[0]), 1, 1):
                bad.append(n)
            repr(g)
            seen[0] += 1
reader = threading.Thread(target=read)
reader.start()
for g in graphs:
    for count in range(1, 129):  # each a wider chunk of lanes: the buffers grow
        g.map([[0.01 * i] for i in range(count)], backward=True)
stop.set()
reader.join()
assert not bad, bad[:5]
assert seen[0] > 100, seen
print("ok")
"""
    )
    assert out == "ok\n"


def test_a_second_thread_calling_forward_backward_or_map_during_map_gets_a_runtime_error(child):
    out = child(
        LONG_MAP
        + """
errors, started = [], threading.Event()
def work():
    started.set()
    g.map(rows[:30_000], backward=True)
t = threading.Thread(target=work)
t.start()
started.wait()
time.sleep(0.05)
for call in (g.forward, g.backward, lambda: g.map(small)):
    try:
        call()
    except RuntimeError as e:
        errors.append(str(e))
t.join()
assert len(errors) == 3 and all("in use" in e for e in errors), errors
print("ok")
"""
    )
    assert out == "ok\n"


# --- fork -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["map", "forward", "backward"])
def test_a_graph_in_use_by_another_thread_when_the_process_forks_is_free_and_exact_in_the_child(child, call):
    """map releases the GIL, so the fork lands inside its kernel; forward and backward hold it, so it lands
    between two of their calls. Either way the child's Graph works and gives the parent's results."""
    body = {
        "map": "g.map(rows[:60_000], backward=True)",
        "forward": "end = time.perf_counter() + 1.0\n    while time.perf_counter() < end: g.forward()",
        "backward": "end = time.perf_counter() + 1.0\n    while time.perf_counter() < end: g.backward()",
    }[call]
    out = child(
        LONG_MAP
        + f"""
import warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads: this test's point
started = threading.Event()
def work():
    started.set()
    {body}
t = threading.Thread(target=work)
t.start()
started.wait()
time.sleep(0.2)
pid = os.fork()
if pid == 0:
    code = 0
    try:
        w.grad, b.grad = 1.5, -2.5
        g.map(small, backward=True)  # not "in use": the thread that used it is not in this process
        code = 0 if (w.grad, b.grad) == fresh_gradients(small) else 3
        g.forward(); g.backward()
    except BaseException as e:
        print("child:", repr(e), flush=True)
        code = 4
    os._exit(code)
_, status = os.waitpid(pid, 0)
t.join()
print("child", os.waitstatus_to_exitcode(status))
"""
    )
    assert out.strip().endswith("child 0"), out


# --- Ctrl-C ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_ctrl_c_stops_a_long_map_within_half_a_second_adding_no_gradient_and_a_retry_is_exact(
    child, reduction
):
    out = child(
        LONG_MAP
        + sigint_after(0.5)
        + f"""
w.grad, b.grad = 1.5, -2.5
start = time.perf_counter()
try:
    g.map(rows, backward=True, reduction="{reduction}")
    sys.exit("map was not interrupted")
except KeyboardInterrupt:
    late = time.monotonic() - sent_at()
assert (w.grad, b.grad) == (1.5, -2.5), (w.grad, b.grad)  # no gradient landed
g.map(small, backward=True)  # the retry: exact
assert (w.grad, b.grad) == fresh_gradients(small), (w.grad, b.grad)
print(f"answered in {{late:.3f}} s")
assert late < 0.5, late
"""
    )
    assert out.startswith("answered in")


def test_ctrl_c_while_the_first_map_plans_a_big_graph_is_answered_in_a_small_part_of_the_planning(child):
    """The first map of a graph plans its batch (a second or more for millions of nodes, the GIL held):
    the planner's passes look for Ctrl-C as they go. A SIGINT at 30% of the planning is answered within
    a quarter of it (before: at its end, 70% later), no batch is kept half made, and the next map plans
    anew and is exact. The planning time is measured on a twin graph first."""
    out = child(
        """
import time
import micrograd_cpp as mg

def build():
    x, w, b = mg.Value(0.0), mg.Value(0.9), mg.Value(0.1)
    h = x
    for _ in range(400_000):
        h = (h * w + b).tanh()
    return mg.Graph(h, inputs=[x])

twin, g = build(), build()
start = time.monotonic()
expected = twin.map([[0.5], [-1.0]])
plan = time.monotonic() - start
"""
        + sigint_after("0.3 * plan")
        + """
try:
    g.map([[0.5], [-1.0]])
    sys.exit("map was not interrupted")
except KeyboardInterrupt:
    late = time.monotonic() - sent_at()
assert g.map([[0.5], [-1.0]]) == expected
print(f"answered in {late:.3f} s of a {plan:.3f} s plan")
assert late < 0.25 * plan + 0.02, (late, plan)
"""
    )
    assert out.startswith("answered in")


def test_a_signal_handler_that_does_not_raise_lets_map_run_to_its_exact_end(child):
    """The kernel takes the SIGINT, stops, and runs Python's handler outside the core: a handler that only
    counts makes map start again and finish, with the gradients of one whole call."""
    out = child(
        LONG_MAP
        + """
caught = []
signal.signal(signal.SIGINT, lambda *args: caught.append(1))
rows = rows[:40_000]
"""
        + sigint_after(0.2)
        + """
w.grad, b.grad = 1.5, -2.5
g.map(rows, backward=True)
assert caught == [1], caught
assert (w.grad, b.grad) == fresh_gradients(rows)
print("ok")
"""
    )
    assert out == "ok\n"


@pytest.mark.parametrize("call", ["forward", "backward"])
def test_ctrl_c_during_back_to_back_replays_is_answered_inside_the_call_and_adds_no_part_of_a_call(
    child, call
):
    """The million-node replay takes milliseconds: the SIGINT lands inside a call nearly every time, where
    the replay polls between chunks of nodes (and after the last, before any gradient lands). Python's
    handler then runs inside the call, the Graph still in use (the handler sees that); before, it ran once
    the call had returned, and a backward that raised KeyboardInterrupt had added its gradients. Every
    leaf's gradient is that of whole calls only."""
    out = child(
        CHAIN
        + """
g.backward()
one = (x.grad, w.grad, c.grad)
x.grad = w.grad = c.grad = 0.0
inside = []
def on_sigint(*args):
    try:
        g.forward()
        inside.append("after the call")
    except RuntimeError as e:
        inside.append("in use" in str(e) or repr(e))
    raise KeyboardInterrupt
signal.signal(signal.SIGINT, on_sigint)
"""
        + sigint_after(0.4)
        + f"""
calls = 0
try:
    while True:
        g.{call}()
        calls += 1
except KeyboardInterrupt:
    late = time.monotonic() - sent_at()
grads = (x.grad, w.grad, c.grad)
if "{call}" == "backward":
    whole = [(0.0, 0.0, 0.0)]
    for _ in range(calls):
        whole.append(tuple(s + o for s, o in zip(whole[-1], one)))
    assert grads == whole[-1], (grads, whole[-1], calls)
else:
    assert grads == (0.0, 0.0, 0.0)
assert inside == [True], inside
print(f"{{calls}} calls, answered in {{late:.3f}} s")
assert late < 0.5, late
"""
    )
    assert "answered in" in out
