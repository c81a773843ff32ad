#!/usr/bin/env bash
# The library installed like any C library: cmake --install into a temporary prefix, then an example built
# against the install with pkg-config and with find_package(batteryml), both run; the installed program
# finds its configs and data without --config-dir; libbatteryml.so exports the public API alone; the Python
# package installed in a venv finds the installed library, its configs and data.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-install-XXXXXX)
trap 'rm -rf "$W"' EXIT
P="$W/prefix"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   install/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL install/$1"; }

cmake --install "$BUILD" --prefix "$P" >"$W/install.log" 2>&1 && ok cmake_install || { bad cmake_install; cat "$W/install.log"; }
LIB=$(ls -d "$P"/lib*/ 2>/dev/null | head -1)
LIB=${LIB%/}
so=$(ls "$LIB"/libbatteryml.so.0.* 2>/dev/null | head -1)
if [ -n "$so" ] && [ -L "$LIB/libbatteryml.so.0" ] && [ -L "$LIB/libbatteryml.so" ] && [ -f "$LIB/libbatteryml.a" ] &&
   [ -f "$P/include/batteryml/batteryml.h" ] && [ -x "$P/bin/batteryml" ] && [ -f "$P/share/batteryml/configs/config.yaml" ] &&
   [ -f "$LIB/pkgconfig/batteryml.pc" ] && [ -f "$LIB/cmake/batteryml/batterymlConfig.cmake" ] &&
   objdump -p "$so" | grep -q "SONAME *libbatteryml.so.0$"; then ok layout; else bad layout; find "$P" -maxdepth 3 | head -40; fi

# only the public API is exported: every dynamic symbol the library defines is a function declared with BML_API
declared=$(grep -ho 'BML_API [^(]*(' "$SRC"/include/batteryml/*.h | grep -o 'bml_[a-z0-9_]*(' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$so" 2>/dev/null | awk '$2 ~ /^[TDBRVWi]$/ {print $3}' | sort -u)
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
n=$(echo "$exported" | grep -c .)
if [ -z "$extra" ] && [ -z "$missing" ] && [ "$n" -gt 100 ]; then ok "exports_public_api_only ($n symbols)"; else
  bad exports_public_api_only; echo "  not public but exported: $(echo $extra | head -c 600)"; echo "  public but not exported: $(echo $missing | head -c 600)"; fi

# an example through pkg-config (shared library), and linked statically with pkg-config --static
export PKG_CONFIG_PATH="$LIB/pkgconfig"
if cc -o "$W/ex_pc" "$SRC/examples/lgbm_study.c" $(pkg-config --cflags --libs batteryml) 2>"$W/pc.log" &&
   LD_LIBRARY_PATH="$LIB" "$W/ex_pc" "$SRC/data/oxford-lgm50t" >"$W/ex_pc.txt" 2>&1 && LD_LIBRARY_PATH="$LIB" ldd "$W/ex_pc" | grep -q "libbatteryml.so.0 => $LIB"; then
  ok pkg_config_shared; else bad pkg_config_shared; cat "$W/pc.log" "$W/ex_pc.txt" 2>/dev/null | tail -5; fi
if cc -o "$W/ex_static" "$SRC/examples/lgbm_study.c" $(pkg-config --cflags batteryml) "$LIB/libbatteryml.a" \
     $(pkg-config --static --libs-only-other --libs-only-l batteryml | sed 's/-lbatteryml//') 2>"$W/st.log" &&
   "$W/ex_static" "$SRC/data/oxford-lgm50t" >"$W/ex_static.txt" 2>&1 && cmp -s "$W/ex_pc.txt" "$W/ex_static.txt"; then
  ok pkg_config_static; else bad pkg_config_static; tail -5 "$W/st.log" "$W/ex_static.txt" 2>/dev/null; fi

# the same example through find_package(batteryml)
if cmake -S "$SRC/tests/install" -B "$W/consumer" -DCMAKE_PREFIX_PATH="$P" -DEXAMPLE="$SRC/examples/lgbm_study.c" >"$W/fp.log" 2>&1 &&
   cmake --build "$W/consumer" >>"$W/fp.log" 2>&1 &&
   LD_LIBRARY_PATH="$LIB" "$W/consumer/consumer" "$SRC/data/oxford-lgm50t" >"$W/ex_fp.txt" 2>&1 && cmp -s "$W/ex_pc.txt" "$W/ex_fp.txt"; then
  ok find_package; else bad find_package; tail -15 "$W/fp.log"; cat "$W/ex_fp.txt" 2>/dev/null | tail -3; fi

# the installed program, from an empty folder: configs and shipped data found beside it
mkdir -p "$W/elsewhere"
if (cd "$W/elsewhere" && env -u BATTERYML_CONFIG_DIR "$P/bin/batteryml" run -q figures=false >out.txt 2>err.txt) &&
   [ -f "$W/elsewhere/$(cat "$W/elsewhere/out.txt")/metrics.json" ]; then ok installed_program_runs; else
  bad installed_program_runs; cat "$W/elsewhere/err.txt"; fi

# the Python package in a venv finds the installed library on the loader's path (LD_LIBRARY_PATH) and, through
# the library's own location, the installed configs and data: a study runs from an empty folder
PY=${BML_PYTHON:-/usr/bin/python3}
mkdir -p "$W/pysrc" && cp -r "$SRC/python/pyproject.toml" "$SRC/python/batteryml" "$W/pysrc/" && rm -rf "$W/pysrc/batteryml/__pycache__"
if "$PY" -m venv --system-site-packages "$W/venv" >"$W/venv.log" 2>&1 &&
   "$W/venv/bin/pip" install --quiet --no-index --no-cache-dir --no-build-isolation --disable-pip-version-check "$W/pysrc" >>"$W/venv.log" 2>&1 &&
   (cd "$W/elsewhere" && env -u BATTERYML_LIBRARY -u BATTERYML_CONFIG_DIR LD_LIBRARY_PATH="$LIB" PYTHONDONTWRITEBYTECODE=1 \
      "$W/venv/bin/python" - "$P" >"$W/py.txt" 2>&1 <<'PYEOF'
import os, sys
import batteryml
from batteryml._lib import lib, string
prefix = os.path.realpath(sys.argv[1])
want = os.path.join(prefix, "share", "batteryml", "configs")
assert os.path.realpath(string(lib.bml_config_installed_dir())) == want, string(lib.bml_config_installed_dir())
assert os.path.realpath(batteryml.config_dir()) == want, batteryml.config_dir()
r = batteryml.run(["figures=false", "output_dir=py-runs"], quiet=True)
assert r.metrics["overall"]["soh"]["n"] == len(r.predictions) > 0
assert batteryml.features().shape == (128, 13)
print("ok", r.dir)
PYEOF
   ); then ok python_package_finds_installed_library; else bad python_package_finds_installed_library; tail -5 "$W/venv.log" "$W/py.txt"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
