#!/usr/bin/env bash
# run -m --resume DIR: a sweep stopped (SIGTERM) or killed outright (SIGKILL of every process) goes on
# where it was: the jobs whose run folder is complete are not run again (their folders untouched), the
# rest run, and sweep.csv has the numbers of the uninterrupted sweep; grid and random sweeps. A resume
# whose overrides or sweeper settings differ from the sweep's, of a run folder that is not its job's, or
# beside the running sweep is refused and changes nothing.
# Usage: sweep_resume_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-sweep-resume-XXXXXX)
LEADERS=()
cleanup() {
  for s in "${LEADERS[@]}"; do pkill -KILL -s "$s" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   sweep_resume/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL sweep_resume/$1"; }
C="--config-dir $SRC/configs"
GRID=(split=loco data.experiment=5 'model.learning_rate=0.05,0.1,0.2,0.3' 'model.num_leaves=4,8' model.n_estimators=60 figures=false)
RAND=(--sweeper random --trials 6 'model.learning_rate=log_interval(0.02,0.3)' 'model.num_leaves=int_interval(4,16)' split=loco
      data.experiment=5 model.n_estimators=60 figures=false)

wait_for() { # file, pattern: at most 120 s
  for _ in $(seq 1 1200); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "  timed out waiting for '$2' in $1"
  return 1
}
# the numbers of sweep.csv: every column but seconds, fit_s and run_dir
numbers() { cut -d, -f1-7,11- "$1/sweep.csv"; }
# the run folders of a sweep with the inode and change time of their metrics.json
stamps() { for f in "$1"/*/metrics.json; do [ -e "$f" ] && stat -c '%n %i %Z.%z' "$f"; done; }
# the folder's entries but the run folders and the sweep's two files
extras() { find "$1" -mindepth 1 -maxdepth 1 ! -name multirun.yaml ! -name sweep.csv ! -type d -o -mindepth 1 -maxdepth 1 -name '.*'; }

"$BML" run -m $C "${GRID[@]}" --jobs 2 --sweep-dir ref -q >/dev/null 2>&1 || { bad reference_sweep; exit 1; }
"$BML" run -m $C "${RAND[@]}" --jobs 2 --sweep-dir rref -q >/dev/null 2>&1 || { bad reference_random_sweep; exit 1; }

# stop sweep $1 (args $3...) with signal $2 once $4 jobs finished: SIGTERM to the parent, or SIGKILL to every
# process of it (a crash: no sweep.csv, partial folders left)
stopped_sweep() {
  local d=$1 sig=$2 after=$3
  shift 3
  setsid "$BML" run -m $C "$@" --jobs 2 --sweep-dir "$d" >"$d.txt" 2>&1 &
  local pid=$!
  LEADERS+=("$pid")
  wait_for "$d.txt" "^\[$after/"
  if [ "$sig" = KILL ]; then kill -KILL -- "-$pid"; else kill -"$sig" "$pid"; fi
  wait "$pid" 2>/dev/null
  for _ in $(seq 1 100); do [ -z "$(ps -o pid= -s "$pid")" ] && break; sleep 0.1; done
}

# resume sweep $1 and compare it with the reference $2
check_resume() {
  local name=$1 d=$2 r=$3 n_jobs=$4 good=1
  local before done_before
  before=$(stamps "$d")
  done_before=$(echo -n "$before" | grep -c .)
  [ "$done_before" -lt "$n_jobs" ] || { echo "  the sweep ended before it was stopped: nothing to test"; good=0; }
  "$BML" run -m $C --resume "$d" --jobs 2 >"$d-resume.txt" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || { echo "  exit status $rc"; good=0; }
  grep -q "^sweep: resuming $d: $n_jobs jobs ([a-z]*), $done_before done before, $((n_jobs - done_before)) to run" "$d-resume.txt" ||
    { echo "  not '$done_before done before'"; good=0; }
  # the jobs run now are the others: as many progress lines, none for a job done before
  [ "$(grep -c '^\[' "$d-resume.txt")" -eq $((n_jobs - done_before)) ] || { echo "  not $((n_jobs - done_before)) jobs run"; good=0; }
  for f in $(echo "$before" | awk '{print $1}'); do
    j=$(basename "$(dirname "$f")")
    ! grep -q "^\[.*\] $j " "$d-resume.txt" || { echo "  $j ran again"; good=0; }
  done
  # the finished jobs' folders untouched
  [ "$(stamps "$d" | grep -F -x -f <(echo "$before") | grep -c .)" -eq "$done_before" ] || { echo "  finished folders changed"; good=0; }
  diff <(numbers "$r") <(numbers "$d") >/dev/null || { echo "  sweep.csv differs from the uninterrupted sweep's:"; diff <(numbers "$r") <(numbers "$d"); good=0; }
  [ "$(find "$d" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | wc -l)" -eq "$n_jobs" ] || { echo "  not $n_jobs run folders"; ls -a "$d"; good=0; }
  [ -z "$(extras "$d")" ] || { echo "  left in $d:"; extras "$d"; good=0; }
  if [ $good = 1 ]; then ok "$name"; else bad "$name"; cat "$d.txt" "$d-resume.txt"; fi
}

stopped_sweep t1 TERM 2 "${GRID[@]}"
grep -q ',cancelled,' t1/sweep.csv 2>/dev/null || echo "  (t1 has no cancelled job)"
check_resume after_sigterm t1 ref 8

stopped_sweep k1 KILL 3 "${GRID[@]}"
check_resume after_sigkill_of_everything k1 ref 8

stopped_sweep rt TERM 2 "${RAND[@]}"
check_resume random_after_sigterm rt rref 6

# a second resume of a finished sweep runs nothing and gives the same sweep.csv
cp t1/sweep.csv t1.csv
"$BML" run -m $C --resume t1 -q >again.txt 2>&1
if [ $? -eq 0 ] && [ "$(cat again.txt)" = t1 ] && diff <(cut -d, -f1-7,11- t1.csv) <(numbers t1) >/dev/null; then ok resume_finished_sweep
else bad resume_finished_sweep; cat again.txt; fi

# refusals: nothing runs, nothing changes
refused() {
  local name=$1 want_rc=$2 needle=$3 d=$4
  shift 4
  local sum_before
  sum_before=$(cd "$d" && find . -type f | sort | xargs md5sum)
  "$BML" run -m "$@" >err.txt 2>&1
  local rc=$?
  if [ $rc -eq "$want_rc" ] && grep -qF -- "$needle" err.txt && [ "$(cd "$d" && find . -type f | sort | xargs md5sum)" = "$sum_before" ]; then ok "$name"
  else bad "$name"; echo "  rc=$rc"; cat err.txt; fi
}
refused other_overrides 2 "the overrides given differ from the sweep's" t1 $C --resume t1 split=loco data.experiment=5 \
  'model.learning_rate=0.05,0.1,0.2,0.3' 'model.num_leaves=4,16' model.n_estimators=60 figures=false
refused other_seed 2 "the --seed given differ from the sweep's" rt $C --resume rt --seed 99
refused other_sweeper 2 "the --sweeper given differ from the sweep's" t1 $C --resume t1 --sweeper random --trials 8
refused with_sweep_dir 2 "--sweep-dir does not go with it" t1 $C --resume t1 --sweep-dir t1
refused no_sweep_there 2 "multirun.yaml" ref/0-0.05_4 $C --resume ref/0-0.05_4
# a run folder that is not its job's: matched by the job's configuration, not by its name
cp -r t1 t2
sed -i 's/^  num_leaves: 8$/  num_leaves: 9/' t2/1-0.05_8/config.yaml
rm -rf t2/3-0.1_8 t2/sweep.csv
refused folder_of_another_job 2 "t2/1-0.05_8 is not job 1 (model.learning_rate=0.05 model.num_leaves=8) as the sweep composes it now: model.num_leaves is '9' there, '8' now" \
  t2 $C --resume t2
# the same overrides on other configs (another --config-dir, or the files edited since)
cp -r "$SRC/configs" cfg2
sed -i 's/^max_depth: 6$/max_depth: 5/' cfg2/model/lgbm.yaml
cp -r t1 t3
rm -rf t3/2-0.1_4 t3/sweep.csv
refused other_configs 2 "t3/0-0.05_4 is not job 0 (model.learning_rate=0.05 model.num_leaves=4) as the sweep composes it now: model.max_depth is '6' there, '5' now" \
  t3 --config-dir cfg2 --resume t3
# the same multirun.yaml with a job's overrides edited
cp -r t1 t4
sed -i '0,/      - "model.num_leaves=4"/s//      - "model.num_leaves=5"/' t4/multirun.yaml
refused edited_multirun_yaml 2 "t4/multirun.yaml:" t4 $C --resume t4

# beside the sweep it would resume: refused while that runs
setsid "$BML" run -m $C "${GRID[@]}" --jobs 1 --sweep-dir busy >busy.txt 2>&1 &
pid=$!
LEADERS+=("$pid")
wait_for busy.txt '^\[1/8\]'
"$BML" run -m $C --resume busy >err.txt 2>&1
rc=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid"
if [ $rc -eq 1 ] && grep -q "the sweep is running" err.txt; then ok refused_while_running; else bad refused_while_running; echo "  rc=$rc"; cat err.txt; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
