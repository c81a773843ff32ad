"""Test setup: the package (installed, or python/ of this tree), the library (BATTERYML_LIBRARY, default
../build/libbatteryml.so.0) and the program (BATTERYML_CLI, default the `batteryml` beside the library) that the
tests compare the package with. scripts/test.sh runs these through CTest (tests/python_test.sh)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))

if not os.environ.get("BATTERYML_LIBRARY"):
    built = os.path.join(SOURCE, "build", "libbatteryml.so.0")
    if os.path.exists(built):
        os.environ["BATTERYML_LIBRARY"] = built
try:
    import batteryml  # noqa: F401  (installed into the environment)
except ImportError:
    sys.path.insert(0, os.path.join(SOURCE, "python"))


def _cli():
    cli = os.environ.get("BATTERYML_CLI")
    if cli:
        return cli
    from batteryml._lib import library_path
    return os.path.join(os.path.dirname(os.path.abspath(library_path)), "batteryml")


@pytest.fixture(scope="session")
def source_dir():
    """The source tree: its configs/, data/ and tests/data/."""
    return SOURCE


@pytest.fixture(scope="session")
def configs(source_dir):
    return os.path.join(source_dir, "configs")


@pytest.fixture(scope="session")
def cli():
    """The `batteryml` program built with the library under test."""
    path = _cli()
    if not os.access(path, os.X_OK):
        pytest.fail("the batteryml program is not at %s (set BATTERYML_CLI)" % path)
    return path
