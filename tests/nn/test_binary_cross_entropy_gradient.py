"""binary_cross_entropy's gradient is PyTorch's formula (the audit: where p(1 - p) < 1e-12 ours was the
derivative of the clamped logs, -1e20 at p = 1e-20 and 0 at the -100 clamp; PyTorch divides by
max(p (1 - p), 1e-12), giving -1e12 and +-1e12). One node per term, op binary_cross_entropy, checked at the
op's special points by the op-reference tests; here the losses and a captured graph."""

import math

import pytest

import micrograd_cpp as mg
from micrograd_cpp import losses as L

POINTS = [(1e-20, 1.0), (1e-20, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, 0.0), (1.0, 1.0), (1 - 2**-53, 0.0),
          (1e-300, 0.5), (0.3, 0.7), (0.5, 0.5)]  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_values_and_gradients_equal_pytorchs_bit_for_bit_where_p_1_minus_p_is_below_1e_12(torch, reduction):
    probs = [mg.Value(p) for p, _ in POINTS]
    targets = [t for _, t in POINTS]
    loss = L.binary_cross_entropy(probs, targets, reduction=reduction)
    loss.backward()
    tp = torch.tensor([p for p, _ in POINTS], dtype=torch.float64, requires_grad=True)
    tloss = torch.nn.functional.binary_cross_entropy(
        tp, torch.tensor(targets, dtype=torch.float64), reduction=reduction
    )
    tloss.backward()
    assert loss.data == pytest.approx(tloss.item(), rel=1e-15)
    for p, expected in zip(probs, tp.grad.tolist()):
        assert p.grad == pytest.approx(expected, rel=1e-15), (p.data, p.grad, expected)


def test_the_audits_numbers():
    p = mg.Value(1e-20)
    L.binary_cross_entropy([p], [1.0], reduction="sum").backward()
    assert p.grad == pytest.approx(-1e12, rel=1e-8)  # not -1e20
    for x, t, sign in [(0.0, 1.0, -1), (1.0, 0.0, 1)]:
        p = mg.Value(x)
        loss = L.binary_cross_entropy([p], [t], reduction="sum")
        assert loss.data == 100.0  # the clamp
        loss.backward()
        assert p.grad == pytest.approx(sign * 1e12, rel=1e-8)  # not 0


def test_each_term_is_one_node_and_a_captured_graph_clamps_per_row():
    p, t = mg.Value(0.5), mg.Value(1.0)
    term = p.binary_cross_entropy(t)
    assert term._op == "binary_cross_entropy"
    assert list(term._children) == [p, t]
    g = mg.Graph(term, inputs=[p, t])
    rows = [[0.5, 1.0], [0.0, 1.0], [1.0, 1.0], [1e-20, 1.0]]
    for row, out in zip(rows, g.map(rows)):
        expected = mg.Value(row[0]).binary_cross_entropy(row[1]).data
        assert out == expected
    assert g.map([[0.0, 1.0]]) == [100.0]  # clamped in this row, though the graph was built at p = 0.5
    assert math.isclose(g.map([[0.5, 1.0]])[0], math.log(2.0))
