#!/usr/bin/env bash
# Sweep throughput, one JSON line per case: a 24-job lgbm grid (LOCO over every shipped cell, the three
# degradation modes) at --jobs 1, --jobs 2 and mpirun -n 2, the scheduling cost per job (200 jobs that
# end at once: fork, compose, collect, sweep.csv), and one such LOCO study (32 folds) fitted serially
# (--jobs 1), on the folds' threads (--jobs 2) and over MPI ranks (mpirun -n 2 batteryml run, no -m).
# Usage: [BENCH_SWEEP_PART=all|study] bench/bench_sweep.sh [BATTERYML] (default build/batteryml; study: the
# last part alone, a minute instead of ten)
set -u
BML=$(realpath "${1:-build/batteryml}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/bml-bench-sweep-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
C="--config-dir $SRC/configs"
GRID=(split=loco pipeline.target=modes data.experiment=all figures=false
      'model.learning_rate=0.02,0.05,0.1,0.2' 'model.num_leaves=8,31,63' 'model.max_depth=4,-1')
now() { date +%s.%N; }
sum_seconds() { awk -F, 'NR > 1 { s += $(NF0) } END { print s }' NF0="$1" "$2"; }
col() { head -1 "$2" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }

run_case() {
  local mode=$1; shift
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1
  local rc=$?
  t1=$(now)
  local c; c=$(col seconds "$W/$mode/sweep.csv")
  local jobs_s; jobs_s=$(awk -F, -v c="$c" 'NR > 1 { s += $c } END { printf "%.3f", s }' "$W/$mode/sweep.csv")
  local n; n=$(($(wc -l <"$W/$mode/sweep.csv") - 1))
  awk -v m="$mode" -v a="$t0" -v b="$t1" -v s="$jobs_s" -v n="$n" -v rc="$rc" 'BEGIN {
    printf "{\"case\":\"sweep_lgbm_loco_modes_all\",\"mode\":\"%s\",\"jobs\":%d,\"exit\":%d,\"wall_s\":%.3f,\"sum_job_s\":%.3f}\n", m, n, rc, b - a, s }'
}

if [ "${BENCH_SWEEP_PART:-all}" != study ]; then
run_case jobs1 "$BML" run -m $C "${GRID[@]}" --jobs 1 --sweep-dir "$W/jobs1"
run_case jobs2 "$BML" run -m $C "${GRID[@]}" --jobs 2 --sweep-dir "$W/jobs2"
if command -v mpirun >/dev/null 2>&1; then
  run_case mpi2 mpirun --allow-run-as-root -n 2 "$BML" run -m $C "${GRID[@]}" --sweep-dir "$W/mpi2"
fi
# the numbers of every mode are the same (sweep.csv without seconds and run_dir)
for m in jobs2 mpi2; do
  [ -f "$W/$m/sweep.csv" ] || continue
  if diff <(cut -d, -f1-8,12- "$W/jobs1/sweep.csv") <(cut -d, -f1-8,12- "$W/$m/sweep.csv") >/dev/null; then same=true; else same=false; fi
  echo "{\"case\":\"sweep_identical\",\"mode\":\"$m\",\"same_as_jobs1\":$same}"
done

# scheduling cost: 200 jobs that stop at once (their data path does not exist)
for j in 1 2; do
  t0=$(now)
  "$BML" run -m $C 'seed=range(0,200)' data.path=/nonexistent --jobs $j --sweep-dir "$W/empty$j" >/dev/null 2>&1
  t1=$(now)
  awk -v a="$t0" -v b="$t1" -v j="$j" 'BEGIN { printf "{\"case\":\"sweep_scheduling\",\"jobs\":200,\"workers\":%d,\"wall_s\":%.3f,\"per_job_ms\":%.3f}\n", j, b - a, 1000 * (b - a) / 200 }'
done
fi

# one study, its folds serially, on threads and over ranks: wall time and whether the files are the same
STUDY=(split=loco pipeline.target=modes data.experiment=all figures=false output_dir="$W/study")
study_case() { # mode, then the launcher (none or mpirun ...) and the options after run, split by --
  local mode=$1; shift
  local launch=() t0 t1
  while [ "$1" != -- ]; do launch+=("$1"); shift; done
  shift
  t0=$(now)
  "${launch[@]}" "$BML" run $C "${STUDY[@]}" run_name=$mode "$@" >/dev/null 2>&1
  local rc=$?
  t1=$(now)
  local same=true
  for f in metrics.json predictions.csv shap.csv importance.csv; do
    cmp -s "$W/study/jobs1/$f" "$W/study/$mode/$f" || same=false
  done
  diff -r "$W/study/jobs1/model" "$W/study/$mode/model" >/dev/null 2>&1 || same=false
  local folds; folds=$(ls "$W/study/$mode/model" 2>/dev/null | wc -l)
  awk -v m="$mode" -v a="$t0" -v b="$t1" -v rc="$rc" -v f="$folds" -v s="$same" 'BEGIN {
    printf "{\"case\":\"study_lgbm_loco_modes_all\",\"mode\":\"%s\",\"folds\":%d,\"exit\":%d,\"wall_s\":%.3f,\"same_as_jobs1\":%s}\n", m, f, rc, b - a, s }'
}
study_case jobs1 -- --jobs 1
study_case jobs2 -- --jobs 2
if command -v mpirun >/dev/null 2>&1; then
  study_case mpi2 mpirun --allow-run-as-root -n 2 --
fi
