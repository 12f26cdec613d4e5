"""Graph.map(backward=True) against a per-row rebuild when the sum over rows cancels. The kernel sums each
parameter's per-row contributions in its own order (four running sums over the lanes, chunk by chunk); a
rebuild sums them in the order of its backward walk. Where the sum is well-conditioned the two agree to
1e-12 relative (tests/test_graph.py); where it cancels, no order is right and both are within the
rounding bound of a sum of n terms, |ours - exact| <= n * eps * sum |term| (Higham, 2002, eq. 4.4). The
README and Graph.map's docstring say so."""

import itertools
import math
import sys

import micrograd_cpp as mg


def test_map_gradient_is_within_the_rounding_bound_of_the_sum_when_it_cancels():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph(w * x, inputs=[x])
    terms = [1e16, 1.0, 1.0, -1e16, 3.0]
    exact = math.fsum(terms)
    bound = len(terms) * sys.float_info.epsilon * sum(abs(t) for t in terms)
    for rows in itertools.permutations(terms):
        w.grad = 0.0
        g.map([[r] for r in rows], backward=True)
        assert abs(w.grad - exact) <= bound, (rows, w.grad)
        w.grad = 0.0
        mg.sum([w * mg.Value(r) for r in rows]).backward()
        assert abs(w.grad - exact) <= bound  # the rebuild is no closer than the bound either


def test_map_gradient_of_a_well_conditioned_sum_equals_the_rebuild_to_1e12():
    x, w = mg.Value(0.0), mg.Value(1.0)
    g = mg.Graph((w * x).tanh(), inputs=[x])
    rows = [[0.01 * i] for i in range(1, 1000)]
    g.map(rows, backward=True)
    ours = w.grad
    w.grad = 0.0
    mg.sum([(w * mg.Value(r[0])).tanh() for r in rows]).backward()
    assert math.isclose(ours, w.grad, rel_tol=1e-12)
