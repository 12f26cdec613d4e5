"""Drawing graphs with Graphviz: trace, draw_dot, the notebook display. Renders real SVG with `dot`.

What draws takes the `graphviz` fixture (marker graphviz: left out of the wheel tests, which have
neither the package nor `dot`) and skips without the package; trace, the label text, the argument
checks made before Graphviz is imported and the message without the package run everywhere."""

import os
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ROOT, run_python

import micrograd_cpp as mg
from micrograd_cpp import viz
from micrograd_cpp.viz import GraphTooLargeError, GraphvizNotFoundError, draw_dot, trace

SVG = "{http://www.w3.org/2000/svg}"


def neuron():
    x1, w1, b = mg.Value(2.0, label="x1"), mg.Value(-3.0, label="w1"), mg.Value(6.5, label="b")
    n = x1 * w1 + b
    n.label = "n"
    o = n.tanh()
    o.backward()
    return o


def svg_texts(svg: str) -> list[str]:
    """The text shown in a rendered SVG, one string per <text> element (parsing checks the XML)."""
    return [text.text or "" for text in ET.fromstring(svg).iter(f"{SVG}text")]


def render(graph) -> str:
    """graph rendered by dot to SVG; fails on any error or warning from dot."""
    proc = subprocess.run(["dot", "-Tsvg"], input=graph.source, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.stdout


def stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame:
        frame, depth = frame.f_back, depth + 1
    return depth


def chain(n_ops: int):
    x, w, b = mg.Value(1.0), mg.Value(1.0), mg.Value(0.5)
    for _ in range(n_ops // 2):
        x = x * w + b
    return x


# --- trace --------------------------------------------------------------------


def test_trace_returns_micrograd_style_sets():
    a, b = mg.Value(2.0), mg.Value(3.0)
    ab = a * b
    c = ab + a
    nodes, edges = trace(c)
    assert nodes == {a, b, ab, c}
    assert edges == {(a, ab), (b, ab), (ab, c), (a, c)}


def test_trace_shares_subexpressions():
    a = mg.Value(2.0)
    sq = a * a  # one edge a -> sq, as micrograd's _prev set gives
    s = sq + sq
    nodes, edges = trace(s)
    assert nodes == {a, sq, s}
    assert edges == {(a, sq), (sq, s)}


def test_trace_of_a_leaf():
    a = mg.Value(1.0)
    assert trace(a) == ({a}, set())


def test_trace_100k_nodes_without_recursion():
    x = chain(100_000)
    depth = stack_depth()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 60)  # a recursive walk would need 100k frames
    try:
        start = time.perf_counter()
        nodes, edges = trace(x)
        seconds = time.perf_counter() - start
    finally:
        sys.setrecursionlimit(limit)
    assert len(nodes) == 100_000 + 3  # the ops, and the leaves x0, w, b
    assert len(edges) == 2 * 100_000
    assert seconds < 10


@pytest.mark.usefixtures("graphviz")
def test_draw_dot_100k_nodes_without_recursion():
    x = chain(100_000)
    graph = draw_dot(x, max_nodes=200_000)
    records = sum("shape=record" in line for line in graph.body)
    assert records == 100_003


# --- draw_dot -----------------------------------------------------------------


def test_draw_dot_returns_a_digraph_as_micrograd(graphviz):
    o = neuron()
    graph = draw_dot(o)
    assert isinstance(graph, graphviz.Digraph)
    assert graph.format == "svg"
    assert "rankdir=LR" in graph.source
    nodes, edges = trace(o)
    records = [line for line in graph.body if "shape=record" in line]
    ops = [line for line in graph.body if "_op [label=" in line]
    arrows = [line for line in graph.body if "->" in line]
    assert len(records) == len(nodes) == 6
    assert len(ops) == 3  # *, +, tanh
    assert len(arrows) == len(edges) + len(ops)


@pytest.mark.usefixtures("graphviz")
def test_drawing_shows_labels_data_grad_and_ops():
    graph = draw_dot(neuron())
    texts = svg_texts(render(graph))
    for expected in ["x1", "w1", "b", "n", "data 2.0000", "data -3.0000", "grad 1.0000", "*", "+", "tanh"]:
        assert expected in texts, expected
    assert any('label="{data -6.0000|grad' in line for line in graph.body)  # x1*w1: no empty label field


@pytest.mark.usefixtures("graphviz")
def test_pipe_renders_real_svg():
    svg = draw_dot(neuron()).pipe(encoding="utf-8")
    assert ET.fromstring(svg).tag == f"{SVG}svg"


@pytest.mark.usefixtures("graphviz")
def test_shared_subexpression_is_drawn_once():
    a = mg.Value(2.0, label="a")
    b = a + 1
    b.label = "shared"
    c = b * b + b
    texts = svg_texts(render(draw_dot(c)))
    assert texts.count("shared") == 1
    assert texts.count("a") == 1


@pytest.mark.usefixtures("graphviz")
def test_rankdir_and_format():
    graph = draw_dot(neuron(), format="png", rankdir="TB")
    assert "rankdir=TB" in graph.source
    assert graph.format == "png"
    assert graph.pipe()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"rankdir": "XY"}, ValueError, "rankdir must be one of 'LR', 'TB', 'RL', 'BT'"),
        ({"rankdir": None}, ValueError, "rankdir"),
        ({"max_nodes": 0}, ValueError, "max_nodes must be at least 1"),
        ({"max_nodes": "10"}, TypeError, "max_nodes must be an int, not str"),
        ({"max_nodes": True}, TypeError, "max_nodes must be an int"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        draw_dot(mg.Value(1.0), **kwargs)


@pytest.mark.usefixtures("graphviz")
def test_an_unknown_format_is_named():  # checked against the package's list of formats
    with pytest.raises(ValueError, match="format must be a Graphviz output format"):
        draw_dot(mg.Value(1.0), format="nope")


@pytest.mark.parametrize("not_a_value", [1.0, "a", None, [mg.Value(1.0)]])
def test_non_values_are_type_errors(not_a_value):
    with pytest.raises(TypeError, match=f"takes a micrograd_cpp Value, not {type(not_a_value).__name__}"):
        draw_dot(not_a_value)
    with pytest.raises(TypeError, match="trace"):
        trace(not_a_value)


def test_micrograd_values_are_type_errors(micrograd):
    with pytest.raises(TypeError, match="Value"):
        draw_dot(micrograd.engine.Value(1.0))


# --- max_nodes ----------------------------------------------------------------


@pytest.mark.usefixtures("graphviz")
def test_max_nodes_guard_says_the_graph_is_too_large():
    x = chain(1_000_000)
    start = time.perf_counter()
    with pytest.raises(
        GraphTooLargeError, match=r"graph too large to draw: it has more than max_nodes=2000 Values"
    ):
        draw_dot(x)
    assert time.perf_counter() - start < 1.0  # stops early, without walking the million nodes
    assert issubclass(GraphTooLargeError, ValueError)


@pytest.mark.usefixtures("graphviz")
def test_max_nodes_is_the_number_of_values():
    o = neuron()  # 6 Values
    assert draw_dot(o, max_nodes=6)
    with pytest.raises(GraphTooLargeError, match="max_nodes=5"):
        draw_dot(o, max_nodes=5)
    with pytest.raises(GraphTooLargeError):
        trace(o, max_nodes=5)
    assert len(trace(o, max_nodes=6)[0]) == 6


# --- labels that DOT would misread --------------------------------------------

NASTY_LABELS = [
    'say "hi"',
    "{braces}",
    "a|b",
    "<port>",
    "x < y > z",
    "two\nlines",
    "back\\slash",
    "\\N \\G \\l \\n",  # Graphviz escapes, to be shown as typed
    "trailing\\",
    '\\"',
    "tab\there",
    "{ | < > }",
    "naïve ∂L/∂w",
]


@pytest.mark.usefixtures("graphviz")
@pytest.mark.parametrize("label", NASTY_LABELS)
def test_labels_are_escaped_and_shown_as_typed(label):
    v = mg.Value(1.0, label=label)
    out = (v * 2).tanh()
    out.label = label
    texts = svg_texts(render(draw_dot(out)))
    shown = [line.strip() for line in label.replace("\t", "\\x09").split("\n")]
    for line in shown:
        assert texts.count(line) == 2, (line, texts)


DOT_SPECIALS = st.sampled_from(list('{}|<>"\\\n\r\t lN'))


@pytest.mark.usefixtures("graphviz")
@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=DOT_SPECIALS | st.characters(exclude_categories=("Cs",)), max_size=30))
def test_any_label_keeps_the_dot_source_valid(label):
    texts = svg_texts(render(draw_dot(mg.Value(0.5, label=label))))
    shown = " ".join(" ".join(texts[:-2]).split())  # the label's lines; then data, grad
    visible = "".join(
        f"\\x{ord(c):02x}" if c not in "\r\n" and unicodedata.category(c) == "Cc" else c for c in label
    )
    expected = " ".join(visible.split())
    assert shown == expected


def test_numbers_are_formatted_readably():
    from micrograd_cpp._dot_text import number

    assert [number(x) for x in (2.0, -0.5, 0.0, 1234.5)] == ["2.0000", "-0.5000", "0.0000", "1234.5000"]
    assert number(1e-20) == "1.0000e-20"
    assert number(3e12) == "3.0000e+12"
    assert [number(float(x)) for x in ("inf", "-inf", "nan")] == ["inf", "-inf", "nan"]


# --- the notebook display -------------------------------------------------------


@pytest.mark.usefixtures("graphviz")
def test_repr_svg_shows_the_graph():
    svg = neuron()._repr_svg_()
    assert svg is not None
    assert "tanh" in svg_texts(svg)


@pytest.mark.usefixtures("graphviz")
def test_repr_svg_of_a_large_graph_falls_back_to_repr():  # without graphviz it is always None
    assert chain(2 * viz.DISPLAY_MAX_NODES)._repr_svg_() is None


def test_without_the_graphviz_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'micrograd-cpp\[viz\]'"):
        draw_dot(mg.Value(1.0))
    assert mg.Value(1.0)._repr_svg_() is None


@pytest.mark.usefixtures("graphviz")  # without the package, draw_dot's ImportError comes first
def test_without_dot_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz") as error:
        draw_dot(neuron())
    assert "`dot` program, which is not on PATH" in str(error.value)
    assert isinstance(error.value, RuntimeError)
    assert neuron()._repr_svg_() is None
    assert len(trace(neuron())[0]) == 6  # tracing needs no Graphviz


@pytest.mark.usefixtures("graphviz")  # without the package, draw_dot's ImportError comes first
def test_without_dot_in_a_fresh_interpreter(child, tmp_path):
    code = """
        import micrograd_cpp as mg
        from micrograd_cpp.viz import draw_dot
        v = mg.Value(2.0, label="a") * 3
        print(repr(v._repr_svg_()), repr(v))
        try:
            draw_dot(v)
        except Exception as error:
            print(type(error).__name__, error)
    """
    env = {**os.environ, "PATH": str(tmp_path)}  # a folder without dot
    first, second = child(code, env=env).splitlines()
    assert first == "None Value(data=6.0, grad=0.0)"
    assert second.startswith("GraphvizNotFoundError draw_dot needs Graphviz's `dot` program")
    assert "https://graphviz.org/download/" in second


@pytest.mark.usefixtures("graphviz")
def test_the_readme_example_draws_its_graph(tmp_path):
    out = tmp_path / "graph.svg"
    example = str(ROOT / "examples" / "draw_graph.py")
    proc = run_python(example, str(out), timeout=None)
    assert proc.returncode == 0, proc.stderr
    texts = svg_texts(out.read_text(encoding="utf-8"))
    for expected in ["x1", "w2", "x1*w1 + x2*w2", "tanh", "o", "data 0.7071", "grad -1.5000"]:
        assert expected in texts, expected
