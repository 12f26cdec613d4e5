"""Drawing a Value's graph with Graphviz, as micrograd's trace notebook does. ::

    from micrograd_cpp.viz import draw_dot
    draw_dot(loss)                    # a graphviz.Digraph; a Jupyter cell shows it
    draw_dot(loss).render("graph")    # writes graph.svg

Needs the graphviz Python package (pip install "micrograd-cpp[viz]") and Graphviz's
`dot` program (Debian/Ubuntu: apt-get install graphviz). A Value shown in a Jupyter
cell draws itself when both are there (Value._repr_svg_).

The walks are loops, not recursion: a graph of any depth can be traced. Graphviz's
layout time grows much faster than the graph, hence `max_nodes`.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from . import _dot_text
from ._core import Value

if TYPE_CHECKING:
    import graphviz

__all__ = [
    "DEFAULT_MAX_NODES",
    "DISPLAY_MAX_NODES",
    "GraphTooLargeError",
    "GraphvizNotFoundError",
    "draw_dot",
    "trace",
]

#: The largest graph `draw_dot` draws unless given a larger ``max_nodes`` (Graphviz's layout time
#: grows about as the square of the graph: some 2 s for 2,600 Values).
DEFAULT_MAX_NODES = 2000
#: The largest graph a Value shown in a Jupyter cell draws of itself: 100 Values, a drawing that is
#: still readable and made in a fraction of a second; a larger one (a training loss) shows its plain
#: ``repr``, ``Value(data=18.43, grad=0.0)``. 0 turns the drawing off for every Value.
DISPLAY_MAX_NODES = 100
RANKDIRS = ("LR", "TB", "RL", "BT")

INSTALL_GRAPHVIZ = (
    "Install Graphviz, which provides it: Debian/Ubuntu `sudo apt-get install graphviz`, "
    "Fedora `sudo dnf install graphviz`, macOS `brew install graphviz`, conda "
    "`conda install -c conda-forge graphviz`, Windows `winget install graphviz` "
    "(then add its bin folder to PATH); see https://graphviz.org/download/"
)


class GraphTooLargeError(ValueError):
    """The graph has more nodes than draw_dot's max_nodes."""


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's dot program is not on PATH."""


def trace(root: Value, max_nodes: int | None = None) -> tuple[set[Value], set[tuple[Value, Value]]]:
    """Every Value in root's graph and the edges (operand, user) between them, as micrograd's trace.

    A subexpression used several times is one node; `a * a` has one edge from `a`.
    With max_nodes, raises GraphTooLargeError as soon as the graph proves larger.
    """
    _check_root(root, "trace")
    _check_max_nodes(max_nodes)
    nodes, edges = _walk(root, max_nodes)
    return set(nodes), set(edges)


def draw_dot(
    root: Value, format: str = "svg", rankdir: str = "LR", max_nodes: int = DEFAULT_MAX_NODES
) -> graphviz.Digraph:
    """root's graph as a graphviz.Digraph, drawn as in micrograd's trace notebook.

    One record node per Value (its label when set, data and grad), and one small node per op
    between an output and its operands. format: any Graphviz output format ('svg', 'png', ...);
    rankdir: 'LR' (left to right), 'TB', 'RL' or 'BT'. Raises GraphTooLargeError for graphs of
    more than max_nodes Values, and GraphvizNotFoundError when Graphviz's dot program is missing.
    """
    _check_root(root, "draw_dot")
    if not isinstance(rankdir, str) or rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(map(repr, RANKDIRS))}, not {rankdir!r}")
    _check_max_nodes(max_nodes)
    graphviz = _import_graphviz()
    if not isinstance(format, str) or format not in graphviz.FORMATS:
        raise ValueError(f"format must be a Graphviz output format such as 'svg' or 'png', not {format!r}")
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(
            f"draw_dot needs Graphviz's `dot` program, which is not on PATH. {INSTALL_GRAPHVIZ}"
        )

    nodes, edges = _walk(root, max_nodes)
    name = {node: f"n{i}" for i, node in enumerate(nodes)}  # by node identity, as Values hash
    dot = graphviz.Digraph(format=format, graph_attr={"rankdir": rankdir})
    for node in nodes:
        dot.node(name[node], label=_record_label(node), shape="record")
        if node._op:
            dot.node(name[node] + "_op", label=_dot_text.escape(node._op))
            dot.edge(name[node] + "_op", name[node])
    for operand, user in edges:
        dot.edge(name[operand], name[user] + "_op")
    return dot


def _repr_svg_(self: Value) -> str | None:
    """Jupyter's rich display of a Value: its graph as SVG, or None (the plain repr) when
    Graphviz is missing, the graph has more than DISPLAY_MAX_NODES Values, or DISPLAY_MAX_NODES
    is 0 (off)."""
    limit = DISPLAY_MAX_NODES
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise TypeError(
            f"micrograd_cpp.viz.DISPLAY_MAX_NODES must be an int >= 0 (0 turns the drawing off), not {limit!r}"
        )
    if limit == 0:
        return None
    try:
        graph = draw_dot(self, max_nodes=limit)
    except (ImportError, GraphvizNotFoundError, GraphTooLargeError):
        return None
    import graphviz

    try:
        svg: str = graph.pipe(encoding="utf-8")
    except graphviz.ExecutableNotFound:  # found on PATH but could not be run
        return None
    return svg


def _walk(root: Value, max_nodes: int | None) -> tuple[list[Value], list[tuple[Value, Value]]]:
    """The Values of root's graph, root first, and its edges; a loop with an explicit stack."""
    seen: dict[Value, None] = {root: None}  # an ordered set: the drawing is the same on each run
    edges: list[tuple[Value, Value]] = []
    stack = [root]
    while stack:
        user = stack.pop()
        for operand in dict.fromkeys(user._children):  # a * a: one edge, as micrograd's _prev
            edges.append((operand, user))
            if operand not in seen:
                seen[operand] = None
                if max_nodes is not None and len(seen) > max_nodes:
                    raise GraphTooLargeError(
                        f"graph too large to draw: it has more than max_nodes={max_nodes} Values, and "
                        "Graphviz's layout time grows quickly with size. Pass a larger max_nodes, or "
                        "draw a subexpression."
                    )
                stack.append(operand)
    return list(seen), edges


def _record_label(node: Value) -> str:
    fields = [node.label] if node.label else []
    fields += [f"data {_dot_text.number(node.data)}", f"grad {_dot_text.number(node.grad)}"]
    return _dot_text.record(fields)


def _check_root(root: object, caller: str) -> None:
    if not isinstance(root, Value):
        raise TypeError(f"{caller}() takes a micrograd_cpp Value, not {type(root).__name__}")


def _check_max_nodes(max_nodes: int | None) -> None:
    if max_nodes is None:
        return
    if not isinstance(max_nodes, int) or isinstance(max_nodes, bool):
        raise TypeError(f"max_nodes must be an int, not {type(max_nodes).__name__}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be at least 1, not {max_nodes}")


def _import_graphviz() -> Any:  # the graphviz package has no type information
    try:
        import graphviz
    except ImportError as error:
        raise ImportError(
            "drawing needs the graphviz Python package: pip install 'micrograd-cpp[viz]' "
            f"(or pip install graphviz), and Graphviz's dot program. {INSTALL_GRAPHVIZ}"
        ) from error
    return graphviz
