"""pip install ./python: the package carries its own copy of the C library, the program and their configs and
data (as the xgboost wheel carries libxgboost), so that `import batteryml` works in any venv or Jupyter kernel
with no variable set, and `python -m batteryml` / the venv's `batteryml` run the program.

At build time (build_py) the C build is found: $BATTERYML_BUILD_DIR (a CMake build folder), else build/ of the
source tree this python/ folder sits in; it is built there first (cmake, Release) when the source tree has no
build yet. The build is installed (`cmake --install BUILD --prefix STAGE`, the project's own install rules)
into a temporary prefix, and the shared library, the program, configs/ and data/ are copied from it into
batteryml/_prefix/ with the install's layout (<libdir>/libbatteryml.so.0, bin/batteryml,
share/batteryml/{configs,data}): the library finds its configs from its own location as an installed one does.
Without a C build or source tree (a copy of python/ alone) the package is built without the copy and looks for
the library as before ($BATTERYML_LIBRARY, the loader's path, <sys.prefix>/lib). The metadata is in
pyproject.toml.
"""
import glob
import os
import shutil
import subprocess
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _say(text):
    print("batteryml setup: " + text, flush=True)


def _find_build():
    env = os.environ.get("BATTERYML_BUILD_DIR")
    if env:
        if not os.path.isfile(os.path.join(env, "CMakeCache.txt")):
            raise SystemExit("BATTERYML_BUILD_DIR=%s is not a CMake build folder (no CMakeCache.txt)" % env)
        return os.path.abspath(env)
    src = os.path.dirname(HERE)
    if not os.path.isfile(os.path.join(src, "CMakeLists.txt")) or not os.path.isdir(os.path.join(src, "src")):
        return None  # python/ copied alone: no C sources to find or build
    build = os.path.join(src, "build")
    built = [os.path.join(build, n) for n in ("libbatteryml.so.0", "batteryml")]
    if not all(os.path.isfile(p) for p in built):
        if shutil.which("cmake") is None:
            _say("no C build in %s and no cmake: the package is built without its own copy of the library" % build)
            return None
        _say("building the C library in %s (cmake, Release)" % build)
        subprocess.check_call(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
        subprocess.check_call(["cmake", "--build", build, "-j%d" % max(1, os.cpu_count() or 1),
                               "--target", "batteryml_shared", "batteryml-cli"])
    return build


def _carry(build, dest):
    """Install the build into a temporary prefix and copy the library, program, configs and data into dest."""
    with tempfile.TemporaryDirectory(prefix="batteryml-stage-") as stage:
        subprocess.check_call(["cmake", "--install", build, "--prefix", stage], stdout=subprocess.DEVNULL)
        libs = [p for p in glob.glob(os.path.join(stage, "**", "libbatteryml.so.0"), recursive=True)]
        if len(libs) != 1 or not os.path.isfile(os.path.join(stage, "bin", "batteryml")):
            raise SystemExit("cmake --install %s: no libbatteryml.so.0 and bin/batteryml in the install (%s)"
                             % (build, libs))
        shutil.rmtree(dest, ignore_errors=True)
        libdir = os.path.relpath(os.path.dirname(libs[0]), stage)
        os.makedirs(os.path.join(dest, libdir))
        shutil.copy2(os.path.realpath(libs[0]), os.path.join(dest, libdir, "libbatteryml.so.0"))  # one file, no links
        os.makedirs(os.path.join(dest, "bin"))
        shutil.copy2(os.path.join(stage, "bin", "batteryml"), os.path.join(dest, "bin", "batteryml"))
        for what in ("configs", "data"):
            src = os.path.join(stage, "share", "batteryml", what)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(dest, "share", "batteryml", what))
    _say("carrying %s (library %s, the program, configs, data) from %s" % (dest, libdir, build))


class BuildPy(build_py):
    def run(self):
        super().run()
        if os.environ.get("BATTERYML_NO_CARRY"):
            return
        build = _find_build()
        if build is not None:
            _carry(build, os.path.join(self.build_lib, "batteryml", "_prefix"))


setup(cmdclass={"build_py": BuildPy})
