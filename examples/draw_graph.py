"""Draws the graph of one neuron, o = tanh(x1*w1 + x2*w2 + b), after o.backward().

    python examples/draw_graph.py [OUT.svg]    # default: docs/graph.svg, shown in the README

Needs the graphviz Python package (pip install "micrograd-cpp[viz]") and Graphviz's dot program.
"""

import sys
from pathlib import Path

import micrograd_cpp as mg
from micrograd_cpp.viz import draw_dot

README_PICTURE = Path(__file__).resolve().parent.parent / "docs" / "graph.svg"


def neuron() -> mg.Value:
    """micrograd's neuron example: its inputs, weights and each step labelled."""
    x1, x2 = mg.Value(2.0, label="x1"), mg.Value(0.0, label="x2")
    w1, w2 = mg.Value(-3.0, label="w1"), mg.Value(1.0, label="w2")
    b = mg.Value(6.8813735870195432, label="b")  # makes the output a round 0.7071
    x1w1, x2w2 = x1 * w1, x2 * w2
    x1w1.label, x2w2.label = "x1*w1", "x2*w2"
    sum_ = x1w1 + x2w2
    sum_.label = "x1*w1 + x2*w2"
    n = sum_ + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    o.backward()
    return o


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else README_PICTURE
    svg: str = draw_dot(neuron()).pipe(format="svg", encoding="utf-8")
    out.write_text(svg, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
