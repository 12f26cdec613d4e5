"""Sphinx configuration of micrograd-cpp's documentation: furo, MyST markdown, myst-nb.

Built by `nox -s docs` (warnings as errors, nitpicky) and by Read the Docs (.readthedocs.yaml). Every
tutorial is a MyST notebook (a .md file with {code-cell}s), executed on every build: a failing cell
fails the build. Nothing is downloaded while building (no intersphinx)."""

from __future__ import annotations

import sys
from pathlib import Path

import micrograd_cpp

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "micrograd-cpp"
author = "micrograd-cpp developers"
copyright = "micrograd-cpp developers (MIT)"
release = version = micrograd_cpp.__version__

extensions = [
    "myst_nb",  # MyST markdown and notebooks (it brings myst_parser)
    "sphinx.ext.autodoc",
    "stub_signatures",  # signatures of the compiled module from src/micrograd_cpp/_core.pyi
    "api_coverage",  # the build fails when a public name has no entry in the API reference
]

source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}  # the API reference is reST, for autodoc
root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "README.md"]
default_role = "code"  # `x` in a docstring is code, as help() readers take it
nitpicky = True
# Types the reference names but documents elsewhere (no intersphinx: the build is offline).
nitpick_ignore_regex = [
    (
        "py:class",
        r"(graphviz\.Digraph|typing\..*|collections\.abc\..*|os\.PathLike|_Real|SupportsFloat|SupportsIndex)",
    ),
    ("py:class", r"micrograd_cpp\.(nn\.Input|losses\.Scalar|_core\._pybind11_type)"),
]

# --- MyST and myst-nb -------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "attrs_inline"]
myst_heading_anchors = 3
nb_execution_mode = "force"  # every notebook runs on every build, against the package installed
nb_execution_raise_on_error = True  # a failing cell fails the build
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_merge_streams = True
nb_execution_in_temp = False  # a notebook runs in its own folder (it finds examples/ and benchmarks/ from there) and writes no files

# --- autodoc ----------------------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "undoc-members": False}

# --- HTML -------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"micrograd-cpp {release}"
html_theme_options = {
    "source_repository": "https://github.com/micrograd-cpp/micrograd-cpp/",
    "source_branch": "main",
    "source_directory": "docs/",
}
