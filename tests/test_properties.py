"""Property-based: random expression DAGs with shared subexpressions against PyTorch."""

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from micrograd_cpp import Value

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def apply(op, x, y, k):
    """One step of the recipe, written once for both engines (they share the operator API)."""
    if op == "add":
        return x + y
    if op == "sub":
        return x - y
    if op == "mul":
        return x * y
    if op == "div":
        return x / (y * y + 0.5)
    if op == "pow_const":
        return (x * x + 0.25) ** k
    if op == "pow":
        return (x * x + 0.25) ** y.tanh()
    if op == "rpow":
        return k**x
    if op == "neg":
        return -x
    if op == "scalar":
        return k * x - k / (y * y + 1)
    if op == "log":
        return (x * x + 0.1).log()
    if op in ("tanh", "relu", "sigmoid", "exp"):
        return getattr(x, op)() if isinstance(x, Value) else getattr(torch, op)(x)
    raise AssertionError(op)


OPS = [
    "add",
    "sub",
    "mul",
    "div",
    "pow_const",
    "pow",
    "rpow",
    "neg",
    "scalar",
    "log",
    "tanh",
    "relu",
    "sigmoid",
    "exp",
]

recipes = st.tuples(
    st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=5),
    st.lists(
        st.tuples(
            st.sampled_from(OPS),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.sampled_from([-1, 0.5, 2, 3]),
        ),
        min_size=1,
        max_size=40,
    ),
)


def build(leaves, steps, make_leaf):
    leaf_nodes = [make_leaf(x) for x in leaves]
    nodes = list(leaf_nodes)
    for op, i, j, k in steps:
        nodes.append(apply(op, nodes[i % len(nodes)], nodes[j % len(nodes)], k))
    root = nodes[-1]
    for node in nodes[len(leaves) : -1 : 3]:  # many nodes feed the root more than once
        root = root + node * 0.1
    return leaf_nodes, root


@settings(max_examples=300, deadline=None)
@given(recipes)
def test_random_dags_match_pytorch(recipe):
    leaves, steps = recipe
    t_leaves, t_root = build(
        leaves, steps, lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True)
    )
    t_root.backward()
    t_grads = [0.0 if t.grad is None else t.grad.item() for t in t_leaves]
    assume(all(math.isfinite(g) for g in [t_root.item(), *t_grads]))

    leaves_ours, root = build(leaves, steps, Value)
    root.backward()
    scale = 1.0 + max(abs(g) for g in t_grads)
    assert math.isclose(root.data, t_root.item(), rel_tol=1e-9, abs_tol=1e-12)
    for ours, theirs in zip(leaves_ours, t_grads):
        assert math.isclose(ours.grad, theirs, rel_tol=1e-9, abs_tol=1e-9 * scale), (ours.grad, theirs)

    root.backward()  # a second call doubles leaf gradients exactly
    for ours, theirs in zip(leaves_ours, t_grads):
        assert math.isclose(ours.grad, 2 * theirs, rel_tol=1e-9, abs_tol=2e-9 * scale)
