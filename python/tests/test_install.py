"""The one-step install (issue 23): `pip install` of python/ from a source tree with a C build carries the
library, the program, configs and data in the package, so that in a fresh venv, from an empty folder and with no
variable set (no BATTERYML_LIBRARY, LD_LIBRARY_PATH, BATTERYML_CONFIG_DIR or BATTERYML_CLI), `import batteryml`
loads the package's own library, a study runs with the shipped configs and data, and `python -m batteryml` and
the venv's `batteryml` run the program. (Before: the import failed until LD_LIBRARY_PATH or BATTERYML_LIBRARY
was set, and there was no program in the venv.)"""
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
CLEAN = ("BATTERYML_LIBRARY", "BATTERYML_CLI", "BATTERYML_CONFIG_DIR", "LD_LIBRARY_PATH", "PYTHONPATH")


def _build_dir():
    """The C build the tests run against (BATTERYML_LIBRARY's folder, else build/ of the source tree)."""
    lib = os.environ.get("BATTERYML_LIBRARY", "")
    for d in (os.path.dirname(os.path.realpath(lib)) if lib else "", os.path.join(SOURCE, "build")):
        if d and os.path.isfile(os.path.join(d, "CMakeCache.txt")) and os.path.isfile(os.path.join(d, "batteryml")):
            return d
    return None


def test_pip_install_carries_the_library_and_the_program(tmp_path):
    build = _build_dir()
    if build is None or shutil.which("cmake") is None:
        pytest.skip("no C build folder (CMakeCache.txt and the program) or no cmake")
    py = os.environ.get("BML_PYTHON", "/usr/bin/python3")
    venv = tmp_path / "venv"
    subprocess.run([py, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    src = tmp_path / "pysrc"  # a copy of python/ (pip builds where it installs from); the build named by variable
    src.mkdir()
    shutil.copy(os.path.join(SOURCE, "python", "pyproject.toml"), src)
    if os.path.exists(os.path.join(SOURCE, "python", "setup.py")):
        shutil.copy(os.path.join(SOURCE, "python", "setup.py"), src)
    shutil.copytree(os.path.join(SOURCE, "python", "batteryml"), src / "batteryml",
                    ignore=shutil.ignore_patterns("__pycache__", "_prefix"))
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    p = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", "--no-cache-dir", "--no-build-isolation",
                        "--disable-pip-version-check", str(src)], env=dict(env, BATTERYML_BUILD_DIR=build),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    code = r"""
import os, sys
import batteryml
from batteryml._lib import library_path
site = os.path.dirname(os.path.realpath(batteryml.__file__))
assert site.startswith(os.path.realpath(sys.argv[1])), site
assert os.path.realpath(library_path).startswith(os.path.join(site, "_prefix")), library_path
assert os.path.realpath(batteryml.config_dir()) == os.path.join(site, "_prefix", "share", "batteryml", "configs")
r = batteryml.run(["figures=false", "output_dir=py-runs"], quiet=True)
assert r.metrics["overall"]["soh"]["n"] == len(r.predictions) > 0
print("ok", r.dir)
"""
    p = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(venv)], cwd=str(empty), env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("ok py-runs/"), p.stdout + p.stderr
    for cmd in ([str(venv / "bin" / "python"), "-m", "batteryml", "--version"],
                [str(venv / "bin" / "batteryml"), "--version"]):
        p = subprocess.run(cmd, cwd=str(empty), env=env, capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.startswith("batteryml "), (cmd, p.stdout, p.stderr)
    # the program from the venv runs a study from the empty folder too (its configs and data: the package's)
    p = subprocess.run([str(venv / "bin" / "batteryml"), "run", "-q", "figures=false"], cwd=str(empty), env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0 and os.path.isfile(os.path.join(str(empty), p.stdout.strip(), "metrics.json")), p.stderr
    # an unknown option: the program's own exit status comes back through python -m batteryml
    p = subprocess.run([str(venv / "bin" / "python"), "-m", "batteryml", "--no-such-option"], cwd=str(empty), env=env,
                       capture_output=True, text=True)
    assert p.returncode != 0 and p.stderr, p
