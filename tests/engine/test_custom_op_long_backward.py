"""Issue 17 on top of issue 23's chunked backward: a closure node's exception, raised in any chunk of a
long Value.backward (one that polls for Ctrl-C between chunks of 2**16 nodes), lands no gradient and
leaves no marks, as Ctrl-C does."""

import pytest

from micrograd_cpp import Value

CHUNK = 1 << 16  # interrupt.hpp's interrupt_interval


def chain_over(node, length):
    for _ in range(length):
        node = node + 1.0
    return node


@pytest.mark.parametrize("error", [ZeroDivisionError, KeyboardInterrupt])
@pytest.mark.parametrize("where", ["first chunk", "last chunk"])
def test_a_closure_raising_in_a_long_backward_lands_no_gradient(where, error):
    x = Value(1.5)
    calls = []

    def step():
        calls.append(1)
        if len(calls) == 1:
            raise error("in the user's backward")
        x.grad += 3.0 * cube.grad

    # "last chunk": the closure sits below 2 chunks of built-in nodes, so it runs after a poll; "first
    # chunk": it is the root's operand, run before any poll.
    below = 2 * CHUNK + 10 if where == "last chunk" else 0
    cube = Value(x.data * 3, (x,), "triple")
    cube._backward = step
    loss = chain_over(cube, below) * x
    x.grad = 0.25
    with pytest.raises(error, match="user's backward"):
        loss.backward()
    assert x.grad == 0.25  # no gradient landed
    loss.backward()  # no node left marked: the next call sees the whole graph
    assert x.grad == 0.25 + (cube.data + below) + 3.0 * x.data
