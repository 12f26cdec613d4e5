"""Same expressions through micrograd (PyPI) and micrograd_cpp: same values, same gradients."""

import random

import pytest

import micrograd_cpp

micrograd_engine = pytest.importorskip("micrograd.engine")


def random_expression(Value, seed, n_leaves=4, n_ops=30):
    """A random DAG of micrograd's ops (shared subexpressions included); returns leaves and root."""
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-2, 2)) for _ in range(n_leaves)]
    nodes = list(leaves)
    for _ in range(n_ops):
        x, y = rng.choice(nodes), rng.choice(nodes)
        k = rng.choice([2, 3, 0.5])
        op = rng.randrange(9)
        if op == 0:
            out = x + y
        elif op == 1:
            out = x * y
        elif op == 2:
            out = x - y
        elif op == 3:
            out = x / (y * y + 1)
        elif op == 4:
            out = (x * x + 0.5) ** k
        elif op == 5:
            out = x.relu()
        elif op == 6:
            out = -x
        elif op == 7:
            out = 1.5 * x + 0.25
        else:
            out = 2 / (x * x + 1) - x
        nodes.append(out)
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


def test_same_op_names_as_micrograd():
    M, V = micrograd_engine.Value, micrograd_cpp.Value
    for make in (lambda a: a + a, lambda a: a * a, lambda a: a**2, lambda a: a**0.5, lambda a: a.relu()):
        assert make(V(2.0))._op == make(M(2.0))._op


def test_same_repr_format_as_micrograd_for_floats():
    theirs = micrograd_engine.Value(2.0)
    theirs.grad = 0.0
    assert repr(micrograd_cpp.Value(2.0)) == repr(theirs)
