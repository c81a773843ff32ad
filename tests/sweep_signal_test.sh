#!/usr/bin/env bash
# A sweep stopped by SIGTERM or SIGINT stops whole: no worker outlives it, sweep.csv records the jobs that
# finished (ok, with their run folders) and the others cancelled, no partial run folder stays, and the exit
# status is 128 + the signal. Repeated, with the signal at different points of the sweep; then the same under
# mpirun (where installed), then a worker whose parent is killed outright (SIGKILL) dies with it.
# Usage: sweep_signal_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-sweep-signal-XXXXXX)
LEADERS=()
cleanup() {
  # whatever a failed round left running: its whole session
  for s in "${LEADERS[@]}"; do pkill -KILL -s "$s" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   sweep_signal/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL sweep_signal/$1"; }
C="--config-dir $SRC/configs"
GRID=(split=loco data.experiment=5 'model.learning_rate=0.05,0.1,0.2,0.3' 'model.num_leaves=4,8' model.n_estimators=60 figures=false)

# wait (at most 120 s) until file $1 has a line matching $2
wait_for() {
  for _ in $(seq 1 1200); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "  timed out waiting for '$2' in $1"
  return 1
}

# the processes of session $1, but for zombies
alive() { ps -o pid=,stat= -s "$1" 2>/dev/null | awk '$2 !~ /^Z/' | wc -l; }

# sweep folder $1 of $2 jobs after a stop: sweep.csv records every finished job's folder as ok and the rest
# as cancelled, with no other run folder and no partial one
consistent() {
  local d=$1 n=$2 good=1
  [ -s "$d/sweep.csv" ] || { echo "  $d: no sweep.csv"; ls -a "$d"; return 1; }
  [ "$(wc -l <"$d/sweep.csv")" -eq $((n + 1)) ] || { echo "  $d/sweep.csv: not $n jobs"; good=0; }
  local folders rows
  folders=$(find "$d" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | sort | tr '\n' ' ')
  rows=$(tail -n +2 "$d/sweep.csv" | awk -F, '$6 == "ok" {print $2}' | sort | tr '\n' ' ')
  [ "$folders" = "$rows" ] || { echo "  $d: run folders '$folders', ok rows '$rows'"; good=0; }
  for n in $rows; do [ -s "$d/$n/metrics.json" ] || { echo "  $d/$n: incomplete"; good=0; }; done
  local others
  others=$(tail -n +2 "$d/sweep.csv" | awk -F, '$6 != "ok" && $6 != "cancelled"' | wc -l)
  [ "$others" -eq 0 ] || { echo "  $d/sweep.csv: rows neither ok nor cancelled"; good=0; }
  [ -z "$(find "$d" -mindepth 1 -maxdepth 1 -name '.partial-*')" ] || { echo "  $d: partial folders left"; ls -a "$d"; good=0; }
  [ $good = 1 ]
}

# round: signal, after how many finished jobs (0: once the sweep has started)
round() {
  local sig=$1 after=$2 d want tries=0 pid
  case $sig in TERM) want=143 ;; INT) want=130 ;; HUP) want=129 ;; esac
  while :; do
    d="s-$sig-$after-$tries"
    # its own session: the workers are found by session id, whatever becomes of their parent
    setsid "$BML" run -m $C "${GRID[@]}" --jobs 2 --sweep-dir "$d" >"$d.txt" 2>&1 &
    pid=$!
    LEADERS+=("$pid")
    if [ "$after" -eq 0 ]; then wait_for "$d.txt" "^sweep: 8 jobs"; else wait_for "$d.txt" "^\[$after/8\]"; fi
    kill -"$sig" "$pid" 2>/dev/null && break
    # the sweep ended before the signal came (a slow machine): nothing was tested, again
    wait "$pid"
    tries=$((tries + 1))
    [ $tries -lt 3 ] || { bad "sig${sig}_after_$after (the sweep always ended first)"; return; }
  done
  wait "$pid"
  local rc=$? good=1
  local left
  left=$(alive "$pid")
  [ "$left" -eq 0 ] || { echo "  $left processes of the sweep still run after it ended:"; ps -o pid,stat,cmd -s "$pid"; good=0; }
  [ $rc -eq $want ] || { echo "  exit status $rc, want $want"; good=0; }
  consistent "$d" 8 || good=0
  grep -q "stopped by SIG$sig" "$d.txt" || { echo "  no word of the stop"; good=0; }
  if [ $good = 1 ]; then ok "sig${sig}_after_$after"; else bad "sig${sig}_after_$after"; cat "$d.txt"; fi
}

round TERM 0
round TERM 1
round TERM 3
round INT 2
round HUP 1

# SIGKILL of the parent alone (nothing to catch): its workers die with it (PR_SET_PDEATHSIG). The kernel
# sends the parent-death signal while the parent exits, before the shell can reap it: right after `wait`,
# every worker is gone, a zombie, or has SIGKILL pending.
dying() { # pid: 0 when it is gone, a zombie or has SIGKILL pending
  local st
  st=$(cat "/proc/$1/status" 2>/dev/null) || return 0
  echo "$st" | grep -q '^State:.*Z' && return 0
  local pend
  for pend in $(echo "$st" | awk '/^(ShdPnd|SigPnd):/ {print $2}'); do
    (( (16#$pend >> 8) & 1 )) && return 0
  done
  return 1
}
setsid "$BML" run -m $C "${GRID[@]}" --jobs 2 --sweep-dir k >k.txt 2>&1 &
pid=$!
LEADERS+=("$pid")
wait_for k.txt '^\[1/8\]'
kill -KILL "$pid"
wait "$pid" 2>/dev/null
survivors=""
for p in $(ps -o pid= -s "$pid"); do dying "$p" || survivors="$survivors $p"; done
if [ -z "$survivors" ]; then ok parent_killed_workers_die; else bad parent_killed_workers_die; ps -o pid,stat,cmd -s "$pid"; fi

if command -v mpirun >/dev/null 2>&1; then
  M=(split=loco data.experiment=5 'model.learning_rate=0.05,0.1,0.2,0.3' 'model.num_leaves=4,8,16' model.n_estimators=100 figures=false)
  "$BML" run -m $C "${M[@]}" --jobs 2 --sweep-dir mref -q >/dev/null 2>&1
  folders() { find "$1" -mindepth 1 -maxdepth 1 -type d ! -name '.*' 2>/dev/null | wc -l; }
  # numbers of sweep.csv: every column but seconds, fit_s and run_dir
  numbers() { cut -d, -f1-7,11- "$1/sweep.csv"; }
  for target in rank0 mpirun; do
    d=m-$target
    setsid env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" mpirun --allow-run-as-root --oversubscribe -n 2 \
      "$BML" run -m $C "${M[@]}" --sweep-dir "$d" >"$d.txt" 2>&1 &
    pid=$!
    LEADERS+=("$pid")
    # mpirun passes the ranks' output on late: the run folders say how far the sweep is
    for _ in $(seq 1 1200); do [ "$(folders "$d")" -ge 2 ] && break; sleep 0.05; done
    if [ $target = rank0 ]; then
      victim=""
      for p in $(pgrep -P "$pid"); do tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=0' && victim=$p; done
    else
      victim=$pid
    fi
    kill -TERM "$victim"
    wait "$pid"
    rc=$?
    for _ in $(seq 1 100); do [ "$(alive "$pid")" -eq 0 ] && break; sleep 0.1; done
    left=$(alive "$pid")
    good=1
    [ "$left" -eq 0 ] || { echo "  $left processes of the sweep still run"; ps -o pid,stat,cmd -s "$pid"; good=0; }
    [ "$rc" -ne 0 ] || { echo "  exit status 0"; good=0; }
    if [ $target = rank0 ]; then
      # rank 0 records what finished and exits 143; mpirun then ends the other rank, whose job in flight
      # may still publish its folder (sweep.csv says cancelled: --resume finds it done)
      [ "$rc" -eq 143 ] || { echo "  exit status $rc, want 143"; good=0; }
      [ -s "$d/sweep.csv" ] && [ "$(wc -l <"$d/sweep.csv")" -eq 13 ] && grep -q ',cancelled,' "$d/sweep.csv" ||
        { echo "  $d/sweep.csv missing or without cancelled jobs"; good=0; }
      for n in $(tail -n +2 "$d/sweep.csv" | awk -F, '$6 == "ok" {print $2}'); do
        [ -s "$d/$n/metrics.json" ] || { echo "  $d/$n: recorded ok, incomplete"; good=0; }
      done
    fi
    # either way --resume (here without mpirun) ends the sweep: the numbers of the whole sweep, nothing left
    "$BML" run -m $C --resume "$d" --jobs 2 >"$d-resume.txt" 2>&1 || { echo "  --resume failed"; cat "$d-resume.txt"; good=0; }
    diff <(numbers mref) <(numbers "$d") >/dev/null || { echo "  resumed sweep.csv differs"; diff <(numbers mref) <(numbers "$d"); good=0; }
    [ -z "$(find "$d" -mindepth 1 -maxdepth 1 -name '.*')" ] || { echo "  left in $d:"; ls -a "$d"; good=0; }
    if [ $good = 1 ]; then ok "mpirun_sigterm_$target"; else bad "mpirun_sigterm_$target"; echo "  rc=$rc"; cat "$d.txt"; fi
  done
else
  echo "skip sweep_signal/mpirun_sigterm (no mpirun)"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
