"""mg.Graph's capture: the nodes, outputs and inputs it holds, the Values it keeps alive, and what it
refuses to capture (bad outputs and inputs, a Graph made without __init__ or by unpickling)."""

import gc
import math
import pickle

import pytest

import micrograd_cpp as mg


def test_a_graph_has_its_nodes_outputs_and_inputs():
    a, b = mg.Value(2.0), mg.Value(3.0)
    c = a * b + a
    g = mg.Graph(c, inputs=[a])
    assert len(g) == 4  # a, b, a*b, c
    assert g.outputs == (c,)
    assert g.inputs == (a,)
    assert repr(g) == "Graph(4 nodes, 1 outputs, 1 inputs)"
    assert g.nbytes > 0
    assert mg.Graph([c, a * 2]).outputs[0] == c


def test_a_graph_keeps_its_values_alive_and_frees_them_with_itself():
    gc.collect()
    before = mg._core.live_node_count()
    a = mg.Value(1.0)
    g = mg.Graph((a * a + 1).tanh())
    del a
    assert mg._core.live_node_count() == before + 5
    assert g.forward() == math.tanh(2.0)
    del g
    assert mg._core.live_node_count() == before


@pytest.mark.parametrize(
    ("outputs", "error"),
    [(3.0, TypeError), ([mg.Value(1.0), "x"], TypeError), ([], ValueError), (None, TypeError)],
)
def test_bad_outputs_are_refused(outputs, error):
    with pytest.raises(error):
        mg.Graph(outputs)


def test_bad_inputs_are_refused():
    a, b = mg.Value(1.0), mg.Value(2.0)
    c = a * b
    with pytest.raises(ValueError, match="not a node of the graph"):
        mg.Graph(c, inputs=[mg.Value(5.0)])
    with pytest.raises(ValueError, match="not a leaf"):
        mg.Graph(c, inputs=[c])
    with pytest.raises(ValueError, match="given twice"):
        mg.Graph(c, inputs=[a, a])
    with pytest.raises(TypeError, match="Graph inputs must hold Values"):
        mg.Graph(c, inputs=[a, 2.0])
    with pytest.raises(TypeError):
        mg.Graph(c, inputs=a)


def test_a_graph_made_without_init_or_unpickled_is_refused():
    g = mg.Graph.__new__(mg.Graph)
    for call in (g.forward, g.backward, lambda: g.map([]), lambda: len(g), lambda: g.outputs):
        with pytest.raises(TypeError, match="without __init__"):
            call()
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(mg.Graph(mg.Value(1.0) * 2))
