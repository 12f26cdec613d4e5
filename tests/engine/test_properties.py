"""Property-based: random expression DAGs with shared subexpressions against PyTorch."""

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from op_reference import CASES
from support import picked

from micrograd_cpp import Value

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


NAMES = sorted(CASES)


def apply(name, nodes, picks, torch_engine):
    """One step of the recipe: the op of CASES[name] on the chosen nodes moved into its domain (not
    squashed first), for either engine."""
    case = CASES[name]
    return (case.torch_op() if torch_engine else case.ours)(*picked(case, nodes, picks, squash=False))


recipes = st.tuples(
    st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=5),
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.lists(st.integers(0, 10**6), min_size=6, max_size=6)),
        min_size=1,
        max_size=40,
    ),
)


def build(leaves, steps, make_leaf, torch_engine):
    leaf_nodes = [make_leaf(x) for x in leaves]
    nodes = list(leaf_nodes)
    for name, picks in steps:
        nodes.append(apply(name, nodes, picks, torch_engine))
    root = nodes[-1]
    for node in nodes[len(leaves) : -1 : 3]:  # many nodes feed the root more than once
        root = root + node * 0.1
    return leaf_nodes, root


@settings(max_examples=300, deadline=None)
@given(recipes)
def test_random_dags_match_pytorch(recipe):
    leaves, steps = recipe
    t_leaves, t_root = build(
        leaves, steps, lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True), torch_engine=True
    )
    t_root.backward()
    t_grads = [0.0 if t.grad is None else t.grad.item() for t in t_leaves]
    assume(all(math.isfinite(g) for g in [t_root.item(), *t_grads]))

    leaves_ours, root = build(leaves, steps, Value, torch_engine=False)
    root.backward()
    scale = 1.0 + max(abs(g) for g in t_grads)
    assert math.isclose(root.data, t_root.item(), rel_tol=1e-9, abs_tol=1e-12)
    for ours, theirs in zip(leaves_ours, t_grads):
        assert math.isclose(ours.grad, theirs, rel_tol=1e-9, abs_tol=1e-9 * scale), (ours.grad, theirs)

    root.backward()  # a second call doubles leaf gradients exactly
    for ours, theirs in zip(leaves_ours, t_grads):
        assert math.isclose(ours.grad, 2 * theirs, rel_tol=1e-9, abs_tol=2e-9 * scale)
