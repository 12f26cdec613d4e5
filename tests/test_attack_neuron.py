"""_core.neuron (nn.Neuron.__call__) keeps raw node pointers of the Values in the temporary list that
PySequence_Fast makes of a generator, and that list dies when NodeList's constructor returns: the nodes are freed
before micrograd::neuron reads them (issue 8, item 1, still open on main at ecc9ffd). With the node free list
full, the freed nodes go back to malloc and ASan reports heap-use-after-free in micrograd::new_node."""

import micrograd_cpp as mg
from micrograd_cpp.nn import Neuron


def test_a_neuron_called_on_a_generator_of_values_gives_the_right_value():
    n = Neuron(3, nonlin=False)
    for w in n.w:
        w.data = 1.0
    assert n(mg.Value(float(v)) for v in (1, 2, 3)).data == 6.0  # was 0.0


def test_a_neuron_on_a_generator_of_weights_reads_no_freed_node(child):
    out = child(
        """
        import micrograd_cpp as mg
        junk = [mg.Value(float(i)) for i in range(70_000)]
        def weights():
            for _ in range(3):
                yield mg.Value(1.0)
            junk.clear()  # fills the node free list: the weights, freed next, go back to malloc
        print(mg._core.neuron(weights(), mg.Value(0.0), [1.0, 2.0, 3.0]).data)
        """,
        timeout=120,
    )
    assert out.split() == ["6.0"]  # 2.8e-309 (release) or heap-use-after-free (ASan)


def test_a_neuron_whose_input_clears_the_weights_reads_no_freed_node(child):
    out = child(
        """
        import micrograd_cpp as mg
        w = [mg.Value(1.0) for _ in range(3)]
        class Evil:
            def __float__(self):
                w.clear()
                return 3.0
        print(mg._core.neuron(w, mg.Value(0.0), [1.0, 2.0, Evil()]).data)
        """,
        timeout=120,
    )
    assert out.split() == ["6.0"]  # was 18.0: the freed weights' nodes reused for the constants
