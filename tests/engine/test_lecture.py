"""Issue 17: the first half of the lecture ("the spelled-out intro to neural networks and
backpropagation") run on micrograd_cpp.Value, adapted only by the import, against the same code on
the lecture's own Value class (written out below as the lecture builds it)."""

import math
import random
import textwrap

import pytest

import micrograd_cpp as mg

graphviz = pytest.importorskip("graphviz")


class LectureValue:
    """The Value class the lecture builds, closure by closure."""

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Value(data={self.data})"

    def __add__(self, other):
        other = other if isinstance(other, LectureValue) else LectureValue(other)
        out = LectureValue(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += 1.0 * out.grad
            other.grad += 1.0 * out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, LectureValue) else LectureValue(other)
        out = LectureValue(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other):
        out = LectureValue(self.data**other, (self,), f"**{other}")

        def _backward():
            self.grad += other * (self.data ** (other - 1)) * out.grad

        out._backward = _backward
        return out

    def __rmul__(self, other):
        return self * other

    def __radd__(self, other):
        return self + other

    def __truediv__(self, other):
        return self * other**-1

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def tanh(self):
        t = (math.exp(2 * self.data) - 1) / (math.exp(2 * self.data) + 1)
        out = LectureValue(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        out = LectureValue(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()


# The lecture's code, as typed in its notebook (Value is whichever engine runs it).
LECTURE = textwrap.dedent(
    """
    from graphviz import Digraph

    def trace(root):
        nodes, edges = set(), set()
        def build(v):
            if v not in nodes:
                nodes.add(v)
                for child in v._prev:
                    edges.add((child, v))
                    build(child)
        build(root)
        return nodes, edges

    def draw_dot(root):
        dot = Digraph(format='svg', graph_attr={'rankdir': 'LR'})
        nodes, edges = trace(root)
        for n in nodes:
            uid = str(id(n))
            dot.node(name=uid, label="{ %s | data %.4f | grad %.4f }" % (n.label, n.data, n.grad), shape='record')
            if n._op:
                dot.node(name=uid + n._op, label=n._op)
                dot.edge(uid + n._op, uid)
        for n1, n2 in edges:
            dot.edge(str(id(n1)), str(id(n2)) + n2._op)
        return dot

    a = Value(2.0, label='a')
    b = Value(-3.0, label='b')
    c = Value(10.0, label='c')
    e = a*b; e.label = 'e'
    d = e + c; d.label = 'd'
    f = Value(-2.0, label='f')
    L = d * f; L.label = 'L'
    first_drawing = draw_dot(L)

    # inputs x1,x2; weights w1,w2; bias b
    x1 = Value(2.0, label='x1')
    x2 = Value(0.0, label='x2')
    w1 = Value(-3.0, label='w1')
    w2 = Value(1.0, label='w2')
    b = Value(6.8813735870195432, label='b')
    x1w1 = x1*w1; x1w1.label = 'x1*w1'
    x2w2 = x2*w2; x2w2.label = 'x2*w2'
    x1w1x2w2 = x1w1 + x2w2; x1w1x2w2.label = 'x1*w1 + x2*w2'
    n = x1w1x2w2 + b; n.label = 'n'
    o = n.tanh(); o.label = 'o'

    o.grad = 1.0
    o._backward()
    n._backward()
    b._backward()
    x1w1x2w2._backward()
    x2w2._backward()
    x1w1._backward()
    manual = [v.grad for v in (x1, x2, w1, w2, b, n, o)]
    neuron_drawing = draw_dot(o)

    for v in (x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o):
        v.grad = 0.0
    topo = []
    visited = set()
    def build_topo(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build_topo(child)
            topo.append(v)
    build_topo(o)
    o.grad = 1.0
    for node in reversed(topo):
        node._backward()
    topo_grads = [v.grad for v in (x1, x2, w1, w2, b, n, o)]

    # tanh broken up into exp, as the lecture does next
    x1 = Value(2.0, label='x1')
    x2 = Value(0.0, label='x2')
    w1 = Value(-3.0, label='w1')
    w2 = Value(1.0, label='w2')
    b = Value(6.8813735870195432, label='b')
    n = x1*w1 + x2*w2 + b
    e = (2*n).exp()
    o = (e - 1) / (e + 1)
    o.backward()
    exp_grads = [v.grad for v in (x1, x2, w1, w2, b)]

    class Neuron:
        def __init__(self, nin):
            self.w = [Value(random.uniform(-1,1)) for _ in range(nin)]
            self.b = Value(random.uniform(-1,1))
        def __call__(self, x):
            act = sum((wi*xi for wi, xi in zip(self.w, x)), self.b)
            out = act.tanh()
            return out
        def parameters(self):
            return self.w + [self.b]

    class Layer:
        def __init__(self, nin, nout):
            self.neurons = [Neuron(nin) for _ in range(nout)]
        def __call__(self, x):
            outs = [n(x) for n in self.neurons]
            return outs[0] if len(outs) == 1 else outs
        def parameters(self):
            return [p for neuron in self.neurons for p in neuron.parameters()]

    class MLP:
        def __init__(self, nin, nouts):
            sz = [nin] + nouts
            self.layers = [Layer(sz[i], sz[i+1]) for i in range(len(nouts))]
        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x
        def parameters(self):
            return [p for layer in self.layers for p in layer.parameters()]

    random.seed(1337)
    n = MLP(3, [4, 4, 1])
    xs = [
      [2.0, 3.0, -1.0],
      [3.0, -1.0, 0.5],
      [0.5, 1.0, 1.0],
      [1.0, 1.0, -1.0],
    ]
    ys = [1.0, -1.0, -1.0, 1.0]
    losses = []
    for k in range(20):
        # forward pass
        ypred = [n(x) for x in xs]
        loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))
        # backward pass
        for p in n.parameters():
            p.grad = 0.0
        loss.backward()
        # update
        for p in n.parameters():
            p.data += -0.1 * p.grad
        losses.append(loss.data)
    predictions = [y.data for y in ypred]
    """
)


def run_lecture(value_class):
    scope = {"Value": value_class, "random": random, "math": math}
    exec(compile(LECTURE, "lecture", "exec"), scope)  # noqa: S102 - the lecture's cells, run as a notebook runs them
    return scope


@pytest.fixture(scope="module")
def ours():
    return run_lecture(mg.Value)


@pytest.fixture(scope="module")
def theirs():
    return run_lecture(LectureValue)


def drawn_nodes_and_edges(dot):
    """The node names a Digraph declares and the edges it draws, from its source."""
    names, edges = set(), []
    for line in dot.body:
        line = line.strip()
        if "->" in line:
            tail, head = (part.strip().split(" ")[0] for part in line.split("->"))
            edges.append((tail, head))
        else:
            names.add(line.split(" ")[0])
    return names, edges


@pytest.mark.parametrize("drawing", ["first_drawing", "neuron_drawing"])
def test_the_lectures_draw_dot_draws_no_phantom_nodes(ours, theirs, drawing):
    for scope in (ours, theirs):
        names, edges = drawn_nodes_and_edges(scope[drawing])
        assert all(tail in names and head in names for tail, head in edges), edges
    assert len(drawn_nodes_and_edges(ours[drawing])[0]) == len(drawn_nodes_and_edges(theirs[drawing])[0])
    assert len(drawn_nodes_and_edges(ours[drawing])[1]) == len(drawn_nodes_and_edges(theirs[drawing])[1])


def test_manual_backward_steps_give_the_lectures_gradients(ours, theirs):
    assert ours["manual"] == pytest.approx(theirs["manual"], rel=1e-15, abs=1e-15)
    assert ours["manual"][:4] == pytest.approx([-1.5, 0.5, 1.0, 0.0])


def test_the_topological_loop_and_backward_agree_bit_for_bit(ours, theirs):
    assert ours["topo_grads"] == pytest.approx(theirs["topo_grads"], rel=1e-15, abs=1e-15)
    # the neuron again, through backward(): the same gradients, bit for bit
    x1, x2, w1, w2, b = (mg.Value(v) for v in (2.0, 0.0, -3.0, 1.0, 6.8813735870195432))
    (((x1 * w1) + (x2 * w2)) + b).tanh().backward()
    assert ours["topo_grads"][:5] == [x1.grad, x2.grad, w1.grad, w2.grad, b.grad]


def test_tanh_through_exp_matches(ours, theirs):
    assert ours["exp_grads"] == pytest.approx(theirs["exp_grads"], rel=1e-12, abs=1e-15)


def test_the_mlp_trains_as_in_the_lecture(ours, theirs):
    assert ours["losses"] == pytest.approx(theirs["losses"], rel=1e-9)
    assert ours["predictions"] == pytest.approx(theirs["predictions"], rel=1e-9)
    assert ours["losses"][-1] < ours["losses"][0] / 5
