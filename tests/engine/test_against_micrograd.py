"""Same expressions through micrograd (PyPI) and micrograd_cpp: same values, same gradients."""

import random

import pytest
from op_reference import CASES
from support import into_domain

import micrograd_cpp

micrograd_engine = pytest.importorskip("micrograd.engine")


# The ops PyPI micrograd has, from the reference table.
MICROGRAD_CASES = {name: case for name, case in CASES.items() if case.micrograd is not None}


def random_expression(Value, seed, n_leaves=4, n_ops=30):
    """A random DAG of micrograd's ops (shared subexpressions included); returns leaves and root."""
    rng = random.Random(seed)
    ours = Value is micrograd_cpp.Value
    leaves = [Value(rng.uniform(-2, 2)) for _ in range(n_leaves)]
    nodes = list(leaves)
    for _ in range(n_ops):
        case = MICROGRAD_CASES[rng.choice(sorted(MICROGRAD_CASES))]
        # Squashed into [-0.5, 0.5] first, so that values stay moderate and the gradients
        # well-conditioned (no cancellation between huge terms, which set-ordered micrograd sums
        # in a different order on each run), then into the op's domain, away from its poles.
        operands = [into_domain(case, x) for x in (rng.choice(nodes) for _ in range(case.operands))]
        nodes.append((case.ours if ours else case.micrograd)(*operands))
    root = nodes[-1] + sum(nodes[n_leaves:-1], 0) * 0.01
    return leaves, root


@pytest.mark.parametrize("seed", range(40))
def test_random_expressions_match_micrograd(seed):
    theirs_leaves, theirs_root = random_expression(micrograd_engine.Value, seed)
    ours_leaves, ours_root = random_expression(micrograd_cpp.Value, seed)
    theirs_root.backward()
    ours_root.backward()
    assert ours_root.data == pytest.approx(theirs_root.data, rel=1e-9, abs=1e-12)
    for ours, theirs in zip(ours_leaves, theirs_leaves):
        assert ours.grad == pytest.approx(theirs.grad, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("name", MICROGRAD_CASES)
def test_same_op_names_as_micrograd(name):
    case = MICROGRAD_CASES[name]
    if case.micrograd is not case.ours:
        pytest.skip("built differently in micrograd (dot and sum are n-ary nodes here)")
    if name in ("sub", "div", "neg"):
        pytest.skip("micrograd builds these from + and * (its _op says '+' or '*'); here they are ops")
    M, V = micrograd_engine.Value, micrograd_cpp.Value
    assert case.ours(*[V(2.0)] * case.operands)._op == case.micrograd(*[M(2.0)] * case.operands)._op


def test_same_repr_format_as_micrograd_for_floats():
    theirs = micrograd_engine.Value(2.0)
    theirs.grad = 0.0
    assert repr(micrograd_cpp.Value(2.0)) == repr(theirs)
