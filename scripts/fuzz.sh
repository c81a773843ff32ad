#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang, -DBML_FUZZ=ON) and runs each for a bounded time,
# one at a time, starting from its committed seeds (fuzz/corpus/<name>/) and crash regressions
# (fuzz/regressions/<name>/). Fails when a target crashes, leaks, hangs or runs out of memory; the
# input is left in build-fuzz/fuzz-artifacts/<name>/.
#   FUZZ_SECONDS  seconds per target (default 30)
#   FUZZ_TARGETS  the targets to run (default: all of fuzz/targets.cmake)
#   FUZZ_JOBS     build parallelism (default: nproc)
#   FUZZ_ARGS     extra libFuzzer flags (e.g. -max_len=4096; "-fork=1 -ignore_crashes=1" to go on
#                 past known crashes, each one still failing the run)
# New inputs that reach new code are kept in build-fuzz/fuzz-work/<name>/ (not committed), so a
# second run continues where the first stopped. Prints the executions per target and in total.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-$(nproc)}
targets=${FUZZ_TARGETS:-$(sed -n 's/^set(BML_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/targets.cmake)}
# the config target also checks that a written config.yaml loads back the same
export FUZZ_CONFIG_ROUNDTRIP=${FUZZ_CONFIG_ROUNDTRIP:-1}
[ -n "$targets" ] || { echo "fuzz: no targets in fuzz/targets.cmake"; exit 1; }

# clang with libFuzzer's runtime (Debian: clang and libclang-rt-14-dev, see scripts/install-deps.sh)
probe=$(mktemp -d)
# the targets write their inputs as files: into a folder of this run (in memory where /dev/shm exists)
scratch=$(mktemp -d -p "$([ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")" bml-fuzz-run-XXXXXX)
trap 'rm -rf "$probe" "$scratch"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
  > "$probe/probe.c"
if ! command -v clang >/dev/null || ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>"$probe/err"; then
  echo "fuzz: clang with libFuzzer is not available (install clang and libclang-rt-14-dev: scripts/install-deps.sh)"
  cat "$probe/err" 2>/dev/null | head -5
  exit 1
fi

echo "== build-fuzz (clang, BML_FUZZ=ON)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBML_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null || exit 1
cmake --build build-fuzz -j"$jobs" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done) >/dev/null || {
  echo "fuzz: the fuzz build failed"; exit 1; }

export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 TMPDIR=$scratch
status=0
total=0
for t in $targets; do
  work=build-fuzz/fuzz-work/$t
  art=build-fuzz/fuzz-artifacts/$t
  mkdir -p "$work" "$art"
  dirs=("$work" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
  log=build-fuzz/fuzz-$t.log
  before=$(ls "$art" | wc -l)
  # -timeout: an input that takes this long is a hang; -rss_limit_mb: a runaway allocation is a finding
  build-fuzz/fuzz_$t -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/" "${dict[@]}" ${FUZZ_ARGS:-} "${dirs[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\)[:\t ].*/\1/p' "$log" | tail -1) # -fork mode
  execs=${execs:-0}
  crashes=$(($(ls "$art" | wc -l) - before)) # new crash, leak, timeout or oom inputs (also under -fork)
  total=$((total + execs))
  if [ $rc -eq 0 ] && [ "$crashes" -eq 0 ]; then
    printf 'fuzz: %-11s ok      %10s executions in %ss\n' "$t" "$execs" "$secs"
  else
    status=1
    printf 'fuzz: %-11s FAILED  %10s executions (exit %d, %d new inputs in %s); log: %s\n' "$t" "$execs" "$rc" \
      "$crashes" "$art" "$log"
    grep -m1 -E '^SUMMARY|ERROR: libFuzzer|==ERROR' "$log"
    grep -m4 -E '^ +#[0-9]+ ' "$log" | cut -c1-200
  fi
done
echo "fuzz: $total executions in total"
[ $status -eq 0 ] && echo "fuzz: no crash" || echo "fuzz: CRASHES FOUND (replay one: build-fuzz/fuzz_<name> <input>; keep it as fuzz/regressions/<name>/crash-<sha1>)"
exit $status
