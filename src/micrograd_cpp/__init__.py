"""micrograd-cpp: micrograd's scalar autograd engine with a C++ core.

import micrograd_cpp as mg
a, b = mg.Value(2.0), mg.Value(3.0)
c = a * b + a
c.backward()
a.grad, b.grad  # 4.0, 2.0
mg.dot([a, b], [b, c]), mg.sum([a, b, c])  # one node each
mg.viz.draw_dot(c)  # the graph, drawn with Graphviz
dc, = mg.grad(c, [a], create_graph=True)  # dc/da as a Value of a new graph: differentiable again
mg.hessian(c, [a, b])  # [[0.0, 1.0], [1.0, 0.0]]
"""

from importlib.metadata import PackageNotFoundError, version

from . import engine, losses, nn, optim, viz
from ._core import Graph, Value, dot, grad, hessian
from ._core import sum as sum  # not in __all__: `import *` must not shadow the builtin sum

try:
    __version__ = version("micrograd-cpp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Graph",
    "Value",
    "__version__",
    "dot",
    "engine",
    "grad",
    "hessian",
    "losses",
    "nn",
    "optim",
    "viz",
]
