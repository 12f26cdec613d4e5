"""micrograd-cpp: micrograd's scalar autograd engine with a C++ core.

import micrograd_cpp as mg
a, b = mg.Value(2.0), mg.Value(3.0)
c = a * b + a
c.backward()
a.grad, b.grad  # 4.0, 2.0
mg.viz.draw_dot(c)  # the graph, drawn with Graphviz
"""

from importlib.metadata import PackageNotFoundError, version

from . import engine, losses, nn, optim, viz
from ._core import Value

# A Value in a Jupyter cell shows its graph (when Graphviz is installed). The stub _core.pyi
# declares the method, so mypy sees this as replacing one.
Value._repr_svg_ = viz._repr_svg_  # type: ignore[method-assign]

try:
    __version__ = version("micrograd-cpp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Value", "__version__", "engine", "losses", "nn", "optim", "viz"]
