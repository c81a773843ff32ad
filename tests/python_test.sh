#!/usr/bin/env bash
# The Python package (python/) as a user installs it: a fresh venv that sees Debian's numpy, pandas, cffi,
# scikit-learn and pytest (--system-site-packages), `pip install --no-build-isolation` of a copy of python/
# (offline: nothing is downloaded), then pytest over python/tests with the build's library and program.
# Release builds only (CTest adds it where the shared library is built: not under the sanitizers, whose
# runtime the interpreter does not load).
# Usage: python_test.sh BUILD_DIR SOURCE_DIR [TEST_FILE ...]   (test files of python/tests; default: all)
set -u
BUILD=$(realpath "$1")
SRC=$(realpath "$2")
PY=${BML_PYTHON:-/usr/bin/python3} # Debian's interpreter, which has the packages (not a pyenv one on PATH)
W=$(mktemp -d /tmp/bml-python-XXXXXX)
trap 'rm -rf "$W"' EXIT
"$PY" -m venv --system-site-packages "$W/venv" || { echo "FAIL python/venv (python3-venv installed?)"; exit 1; }
# pip builds inside the folder it installs from: a copy keeps the source tree clean
mkdir "$W/src" && cp -r "$SRC/python/pyproject.toml" "$SRC/python/batteryml" "$W/src/" && rm -rf "$W/src/batteryml/__pycache__"
if ! "$W/venv/bin/pip" install --quiet --no-index --no-cache-dir --no-build-isolation --disable-pip-version-check "$W/src" >"$W/pip.log" 2>&1; then
  echo "FAIL python/pip_install"; cat "$W/pip.log"; exit 1
fi
echo "ok   python/pip_install"
cd "$W" || exit 1
export BATTERYML_LIBRARY="$BUILD/libbatteryml.so.0" BATTERYML_CLI="$BUILD/batteryml" PYTHONDONTWRITEBYTECODE=1
unset BATTERYML_CONFIG_DIR
where=$("$W/venv/bin/python" -c 'import batteryml, os; print(os.path.dirname(batteryml.__file__))' 2>&1)
case "$where" in
  "$W/venv/"*) echo "ok   python/installed_package_imported ($where)" ;;
  *) echo "FAIL python/installed_package_imported: $where"; exit 1 ;;
esac
shift 2
TESTS=("$SRC/python/tests")
if [ $# -gt 0 ]; then TESTS=(); for t in "$@"; do TESTS+=("$SRC/python/tests/$t"); done; fi
exec "$W/venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$SRC/python" "${TESTS[@]}"
