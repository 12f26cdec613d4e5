"""The installed distribution's metadata: one version, no runtime dependencies."""

from importlib.metadata import metadata, version

import micrograd_cpp


def test_version_is_read_from_the_installed_metadata():
    # pyproject.toml holds the only copy of the version; __version__ must not fall back.
    assert micrograd_cpp.__version__ == version("micrograd-cpp")
    assert micrograd_cpp.__version__ != "0+unknown"


def test_no_runtime_dependencies():
    requires = metadata("micrograd-cpp").get_all("Requires-Dist") or []
    assert all("extra ==" in requirement for requirement in requires), requires
