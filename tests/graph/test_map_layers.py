"""Graph.map's layers (cpp/src/graph_batch_layer.hpp): sibling Dot steps over the same lanes run as matrix
products over lanes x neurons. Every value bit for bit a per-row rebuild's; every gradient bit for bit what
the kernel gives with each step run alone (MICROGRAD_KERNEL_ISA=steps), for every instruction set the
kernels are built for, within Higham's bound of the exact sum of the rebuild's rows (fractions), and over one
row the rebuild's bit for bit. Odd widths and widths 1 to 257, lanes in blocks and tails (1 to 130 rows),
operands shared by Dot steps that are not a layer, a neuron reading a parameter twice, weights shared
between neurons, a regulariser after and before the model, rows that overflow on the way."""

from __future__ import annotations

import json
import math
import os
import random
import sys
from fractions import Fraction
from pathlib import Path
from typing import Callable

import pytest
from support import run_in_child, same_bits

import micrograd_cpp as mg
from micrograd_cpp.nn import Neuron

HERE = Path(__file__).resolve().parent
WIDTHS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 31, 32, 33, 47, 63, 64, 65, 127, 128, 129, 255,
          256, 257)  # fmt: skip
ISAS = ("generic", "avx2", "avx512", "")  # "": the running CPU's pick
Build = Callable[[list[mg.Value]], tuple[mg.Value, list[mg.Value]]]  # inputs -> (output, parameters)


def mlp(
    width: int, depth: int, activation: str = "tanh", reg: str = "none"
) -> Callable[[], tuple[Build, int]]:
    """An MLP 3 -> width x depth -> 1 of nn.Neuron (each one chain b + w0 * x0 + ...: a Dot step), with
    terms on its weights (L2, L1) after the model in the order, before it, both, two before, or none."""

    def make() -> tuple[Build, int]:
        random.seed(width * 100 + depth)
        layers, nin = [], 3
        for _ in range(depth):
            layers.append([Neuron(nin, activation=activation) for _ in range(width)])
            nin = width
        head = Neuron(nin, activation="linear")
        params = [p for layer in layers for n in layer for p in n.parameters()] + head.parameters()

        def build(x: list[mg.Value]) -> tuple[mg.Value, list[mg.Value]]:
            l2 = 1e-3 * mg.sum(p * p for p in params)
            l1 = mg.sum(p * 1e-3 for p in params)
            h = x
            for layer in layers:
                h = [n(h) for n in layer]
            y = head(h)
            # In the order, the model first: a rebuild's backward gives the L2 terms before the model's.
            return {"none": y, "after": y + l2, "before": l2 + y, "both": (l2 + y) + l1,
                    "two before": (l2 + l1) + y}[reg], params  # fmt: skip

        return build, 3

    return make


def not_a_layer() -> tuple[Build, int]:
    """Dot steps that share their lanes but are no layer: a reader of x0 between two of them, the same
    lanes in another order, a pair of two lanes, a start that is a lane (and one that is an x)."""
    random.seed(7)
    w = [[mg.Value(random.uniform(-1, 1)) for _ in range(4)] for _ in range(6)]
    b = [mg.Value(random.uniform(-1, 1)) for _ in range(6)]

    def build(x: list[mg.Value]) -> tuple[mg.Value, list[mg.Value]]:
        d0 = sum((wi * xi for wi, xi in zip(w[0], x)), b[0])
        t = x[0].tanh()  # reads x0 between d0 and d1
        d1 = sum((wi * xi for wi, xi in zip(w[1], x)), b[1])
        d2 = sum((wi * xi for wi, xi in zip(w[2], reversed(x))), b[2])  # same lanes, another order
        d3 = sum((wi * xi for wi, xi in zip(w[3], x)), t)  # a lane start
        d4 = sum((wi * xi for wi, xi in zip(w[4], x)), x[2])  # a start that is one of the x
        d5 = sum((wi * xi for wi, xi in zip(w[5][:3], x[:3])), b[5]) + x[1] * x[3]  # a pair of two lanes
        d6 = sum((wi * xi for wi, xi in zip(w[5], x)), b[4])
        y = mg.sum([d0.relu(), t * d1, d2.tanh(), d3, d4 * d4, d5, d6.relu(), d1])
        return y, [p for row in w for p in row] + b

    return build, 4


def reads_twice() -> tuple[Build, int]:
    """A layer whose neurons read a parameter twice (w in two pairs of one neuron), a weight shared by two
    neurons, and a weight read by four steps whose gradient is the same in every row (terms after)."""
    random.seed(11)
    width = 9
    w = [[mg.Value(random.uniform(-1, 1)) for _ in range(5)] for _ in range(width)]
    b = [mg.Value(random.uniform(-1, 1)) for _ in range(width)]
    tied = mg.Value(0.75)
    w[3][1] = w[3][4]  # read twice by neuron 3
    w[5][2] = tied
    w[6][2] = tied  # shared by neurons 5 and 6
    params = [p for row in w for p in row] + b + [tied]

    def build(x: list[mg.Value]) -> tuple[mg.Value, list[mg.Value]]:
        h = [sum((wi * xi for wi, xi in zip(w[n], x)), b[n]).tanh() for n in range(width)]
        y = mg.sum(h) + w[0][0] * 0.5 + w[0][0] * w[0][0] + w[0][0].exp() + 2.0 * w[0][0]
        return y, list(dict.fromkeys(params))

    return build, 5


def start_made_between() -> tuple[Build, int]:
    """A layer whose second neuron starts from a value made of parameters after the first neuron (the fuzz
    driver's seed 1638878891): uniform, but its gradient differs per row (a row's value multiplies it too),
    so its gradient is passed on to the parameters per row, by a step between the two neurons. The group
    gives the start its term only at the first neuron, after that step has run: the start's maker must come
    before the layer's first neuron (else p and q lost the start's terms: 0 where a row's was nan)."""
    random.seed(13)
    w = [[mg.Value(random.uniform(-1, 1)) for _ in range(3)] for _ in range(4)]
    p, q = mg.Value(0.5), mg.Value(-1.5)

    def build(x: list[mg.Value]) -> tuple[mg.Value, list[mg.Value]]:
        d0 = mg.dot(w[0], x)
        s = (p * q + p) + q  # made after d0
        d1 = sum((wi * xi for wi, xi in zip(w[1], x)), s)
        d2 = sum((wi * xi for wi, xi in zip(w[2], x)), p * q)  # and one made before it
        d3 = mg.dot(w[3], x)
        y = mg.sum([s * x[0], d1.tanh(), d2, d0.tanh(), d3.relu(), (p * q) * x[1]])  # d0 first in the order
        return y, [v for row in w for v in row] + [p, q]

    return build, 3


CASES: dict[str, Callable[[], tuple[Build, int]]] = {
    **{f"width {w}": mlp(w, 2) for w in WIDTHS},
    "width 16 relu, L2 after": mlp(16, 2, "relu", "after"),
    "width 17, L2 before": mlp(17, 2, "tanh", "before"),
    "width 64, L2 after": mlp(64, 2, "relu", "after"),
    "width 12, L2 before, L1 after": mlp(12, 2, "relu", "both"),
    "width 9, L2 and L1 before": mlp(9, 2, "tanh", "two before"),
    "not a layer": not_a_layer,
    "a parameter read twice": reads_twice,
    "a start made between": start_made_between,
}


def rows_for(name: str, n_in: int, count: int) -> list[list[float]]:
    rnd = random.Random(name)
    rows = [[rnd.uniform(-2, 2) for _ in range(n_in)] for _ in range(count)]
    if name == "width 5":  # a sum over the rows past the largest double on the way: rerun scaled
        rows = [[1e300 * (-1) ** i, 1e300, -3.0] for i in range(count)]
    return rows


def row_counts(name: str) -> tuple[int, ...]:
    width = int(name.split()[1].rstrip(",")) if name.startswith("width") else 9
    return (1, 7, 130) if width <= 65 else (1, 19)


def run_cases(mean_too: bool = True) -> dict[str, list[list[str]]]:
    """Each case over each row count (and reduction): the map's values and its parameters' gradients,
    as float.hex."""
    found = {}
    for name, make in CASES.items():
        build, n_in = make()
        x = [mg.Value(0.0) for _ in range(n_in)]
        y, params = build(x)
        graph = mg.Graph(y, inputs=x)
        for count in row_counts(name):
            for reduction in ("sum", "mean") if mean_too else ("sum",):
                for p in params:
                    p.grad = 0.0
                values = graph.map(rows_for(name, n_in, count), backward=True, reduction=reduction)
                found[f"{name}, {count} rows, {reduction}"] = [
                    [float(v).hex() for v in values],
                    [p.grad.hex() for p in params],
                ]
    return found


CHILD = """
import json, sys
sys.path[:0] = [{tests!r}, {here!r}]
import test_map_layers
print(json.dumps(test_map_layers.run_cases()))
"""


@pytest.fixture(scope="module")
def by_isa() -> dict[str, dict[str, list[list[str]]]]:
    code = CHILD.format(tests=str(HERE.parent), here=str(HERE))
    found = {}
    for isa in ("steps", *ISAS):
        env = {**os.environ, "MICROGRAD_KERNEL_ISA": isa}
        found[isa] = json.loads(run_in_child(code, env=env).splitlines()[-1])
    return found


@pytest.mark.parametrize("isa", ISAS)
def test_every_value_and_gradient_is_the_one_each_step_run_alone_gives_bit_for_bit(by_isa, isa):
    steps, grouped = by_isa["steps"], by_isa[isa]
    assert steps.keys() == grouped.keys()
    wrong = [key for key in steps if steps[key] != grouped[key]]
    assert not wrong, wrong


def rebuild_rows(build: Build, rows: list[list[float]]) -> tuple[list[float], list[list[float]]]:
    """Per row: the graph built anew, its value and its parameters' gradients from Value.backward()."""
    values, grads = [], []
    for row in rows:
        y, params = build([mg.Value(v) for v in row])
        for p in params:
            p.grad = 0.0
        y.backward()
        values.append(y.data)
        grads.append([p.grad for p in params])
    return values, grads


@pytest.mark.parametrize("name", list(CASES))
def test_values_are_a_rebuilds_and_gradients_within_highams_bound_of_the_exact_sum(by_isa, name):
    build, n_in = CASES[name]()
    for count in row_counts(name):
        rows = rows_for(name, n_in, count)
        values, grads = rebuild_rows(build, rows)
        ours_values, ours_grads = by_isa[""][f"{name}, {count} rows, sum"]
        assert all(same_bits(float.fromhex(a), b) for a, b in zip(ours_values, values, strict=True)), count
        for k, ours in enumerate(float.fromhex(g) for g in ours_grads):
            column = [row[k] for row in grads]
            if count == 1:
                assert same_bits(ours, column[0]), (k, ours, column[0])
                continue
            if not all(math.isfinite(g) for g in column):
                continue  # a row's own inf or nan: the rebuild's, checked by the steps' own tests
            exact = sum((Fraction(g) for g in column), Fraction(0))
            bound = (
                count * sys.float_info.epsilon * sum(abs(g) for g in column) + 2 * abs(float(exact)) * 2**-52
            )
            assert abs(Fraction(ours) - exact) <= Fraction(bound), (k, ours, float(exact))


def test_a_layer_over_rows_in_blocks_and_tails_is_exact_for_every_row_count_1_to_40():
    """Rows 1 .. 40: every split of a chunk into blocks of 16 and 8 lanes and a tail, against a rebuild."""
    build, n_in = mlp(13, 2, "relu", "after")()
    x = [mg.Value(0.0) for _ in range(n_in)]
    y, _ = build(x)
    graph = mg.Graph(y, inputs=x)
    for count in range(1, 41):
        rows = rows_for("blocks", n_in, count)
        values, _ = rebuild_rows(build, rows)
        assert all(same_bits(a, b) for a, b in zip(graph.map(rows), values, strict=True)), count


def test_a_start_made_between_passes_every_rows_gradient_on_nan_included():
    """The fuzz driver's case: a row with nan gives the start's parameters nan, never 0."""
    build, n_in = start_made_between()
    x = [mg.Value(0.0) for _ in range(n_in)]
    y, params = build(x)
    graph = mg.Graph(y, inputs=x)
    for rows in (
        [[0.5, -1.0, 2.0], [1.0, 2.0, 3.0]],
        [[0.5, -1.0, 2.0], [math.nan, 1.0, 1.0], [1.0, 2.0, 3.0]],
    ):
        for v in params:
            v.grad = 0.0
        graph.map(rows, backward=True)
        p, q = params[-2].grad, params[-1].grad
        _, grads = rebuild_rows(build, rows)  # sets the parameters' .grad: read map's before
        if any(math.isnan(r[-1]) for r in grads):
            assert math.isnan(p), p
            assert math.isnan(q), q
        else:
            assert p == pytest.approx(sum(r[-2] for r in grads), rel=1e-12)
            assert q == pytest.approx(sum(r[-1] for r in grads), rel=1e-12)
