"""micrograd's import path: ``from micrograd_cpp.engine import Value``."""

from ._core import Value

__all__ = ["Value"]
