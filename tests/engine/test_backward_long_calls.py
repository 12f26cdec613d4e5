"""Value.backward beside Ctrl-C, threads and fork() (issue 23, item 6).

Value.backward polls for Ctrl-C between chunks of its walk and of its backward pass (the core's
interrupt poll, answered from Python's pending SIGINT without running Python code inside the walk): an
interrupted call adds no gradient to any leaf and leaves no mark, so the next call is exact; it polls after
its last chunk too, so that a call that raised KeyboardInterrupt added nothing. It holds the GIL
throughout: threads and fork() meet it only between calls. Each case runs in a child process.
"""

from __future__ import annotations

from support import sigint_after

CHAIN = """
import os, signal, sys, threading, time
import micrograd_cpp as mg

x, w, c = mg.Value(0.5), mg.Value(1.0 + 1e-9), mg.Value(1e-9)
y = x
for _ in range(1_000_000):  # two million nodes: tens of milliseconds a backward
    y = y * w + c
y.backward()
one = (x.grad, w.grad, c.grad)
x.grad = w.grad = c.grad = 0.0

def whole_calls(grads, most):
    # the gradients after k whole calls from zero, each adding its sum once: is grads one of them?
    sums = (0.0, 0.0, 0.0)
    for k in range(most + 1):
        if grads == sums:
            return k
        sums = tuple(s + o for s, o in zip(sums, one))
    return None
"""


def test_ctrl_c_during_value_backward_is_answered_at_once_and_adds_no_part_of_a_call(child):
    """SIGINT from another process (as a terminal's Ctrl-C) lands inside one of the back-to-back calls nearly
    every time. Before, the call ran to its end and added its gradients, and KeyboardInterrupt came as it
    returned: the leaves held one call more than the calls that returned (a retry added it twice)."""
    out = child(
        CHAIN
        + sigint_after(0.5)
        + """
calls = 0
try:
    while True:
        y.backward()
        calls += 1
except KeyboardInterrupt:
    late = time.monotonic() - sent_at()
landed = whole_calls((x.grad, w.grad, c.grad), calls + 1)
assert landed == calls, (calls, landed, x.grad)
assert len(mg._core.topological_order(y)) == 2_000_003  # no mark left: a walk sees every node
x.grad = w.grad = c.grad = 0.0
y.backward()
assert (x.grad, w.grad, c.grad) == one  # the retry is exact
print(f"{calls} calls, answered in {late:.3f} s")
assert late < 0.5, late
"""
    )
    assert "answered in" in out


def test_value_backward_in_two_threads_on_two_graphs_gives_each_its_own_gradients(child):
    out = child(
        CHAIN
        + """
x2, w2 = mg.Value(0.25), mg.Value(2.0)
z = x2
for _ in range(200_000):
    z = z * w2 * 0.5
z.backward()
two = (x2.grad, w2.grad)
x2.grad = w2.grad = 0.0
def run(root, n):
    for _ in range(n):
        root.backward()
a, b = threading.Thread(target=run, args=(y, 5)), threading.Thread(target=run, args=(z, 20))
a.start(); b.start(); a.join(); b.join()
assert whole_calls((x.grad, w.grad, c.grad), 5) == 5
sums = (0.0, 0.0)
for _ in range(20):
    sums = tuple(s + o for s, o in zip(sums, two))
assert (x2.grad, w2.grad) == sums
print("ok")
"""
    )
    assert out.endswith("ok\n")


def test_a_fork_beside_a_thread_running_value_backward_leaves_the_child_a_whole_graph(child):
    out = child(
        CHAIN
        + """
import warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads: this test's point
stop = threading.Event()
def work():
    while not stop.is_set():
        y.backward()
t = threading.Thread(target=work)
t.start()
time.sleep(0.3)
pid = os.fork()  # with the GIL: between two of the thread's calls
if pid == 0:
    try:
        x.grad = w.grad = c.grad = 0.0
        y.backward()
        code = 0 if (x.grad, w.grad, c.grad) == one else 3
    except BaseException as e:
        print("child:", repr(e), flush=True)
        code = 4
    os._exit(code)
_, status = os.waitpid(pid, 0)
stop.set()
t.join()
print("child", os.waitstatus_to_exitcode(status))
"""
    )
    assert out.strip().endswith("child 0"), out
