#!/usr/bin/env bash
# Every test: installs the Debian packages, then builds and runs the suite twice: a Release build
# (with the valgrind check of the main paths) and an AddressSanitizer + UndefinedBehaviorSanitizer
# build with failure injection (test_fault, fault_inject_sample); then runs every fuzz target for a
# bounded time (scripts/fuzz.sh, FUZZ_SECONDS each, default 30).
# Exits non-zero when any test fails or a fuzz target crashes.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || exit 1
jobs=$(nproc)
status=0
for cfg in "build-test:-DCMAKE_BUILD_TYPE=Release" "build-sanitize:-DCMAKE_BUILD_TYPE=Debug -DBML_SANITIZE=ON -DBML_FAULT_INJECT=ON"; do
  dir=${cfg%%:*}
  flags=${cfg#*:}
  echo "== $dir ($flags)"
  cmake -S . -B "$dir" $flags >/dev/null || exit 1
  cmake --build "$dir" -j"$jobs" || exit 1
  (cd "$dir" && BML_REQUIRE_CHROMIUM=1 OMP_WAIT_POLICY=PASSIVE ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$jobs") || status=1
done
echo "== fuzz (scripts/fuzz.sh)"
FUZZ_JOBS=$jobs scripts/fuzz.sh || status=1
[ $status -eq 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $status
