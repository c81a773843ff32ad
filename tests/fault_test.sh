#!/usr/bin/env bash
# Fault tests of the run directory and of every crash-safe write:
#  - runs killed (SIGKILL) at random moments never leave a complete-looking result, and the next run in
#    that output directory removes the partials they left;
#  - parallel runs with one run_name all succeed and are all kept, in distinct directories;
#  - a full disk (a small tmpfs in a private mount namespace, or a file size limit where mounting is not
#    allowed) makes run, predict and tracking=all exit non-zero with a clear message and leaves no
#    complete-looking output and no temporary file;
#  - symbolic links planted in the output directory and sub-paths leaving the run are refused: nothing
#    is written outside.
# Usage: fault_test.sh BATTERYML SOURCE_DIR
#        fault_test.sh --full-disk BATTERYML SOURCE_DIR MOUNT_POINT WORK   (internal: the full-disk part)
set -u

# ------------------------------------------------------------------ shared helpers
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   fault/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL fault/$1"; }

# the files every finished run of the default study has (figures included)
RUN_FILES="config.yaml metrics.json predictions.csv shap.csv importance.csv model/model.json model/booster_0.json
model/preprocess.json figures/pred_vs_truth_soh.png figures/pred_vs_truth_soh.svg figures/shap_summary_soh.png"

# complete DIR: all of a run's files there, none empty or cut short
complete() {
  local d=$1 f
  for f in $RUN_FILES; do [ -s "$d/$f" ] || { echo "  $d: $f missing or empty"; return 1; }; done
  tail -c 4 "$d/metrics.json" | grep -q '}' || { echo "  $d: metrics.json cut short"; return 1; }
  for f in "$d"/figures/*.png; do
    [ -e "$f" ] || continue
    [ "$(tail -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 49454e44ae426082 ] || { echo "  $f: cut short"; return 1; }
  done
  for f in "$d"/figures/*.svg; do
    [ -e "$f" ] || continue
    tail -c 64 "$f" | grep -q '</svg>' || { echo "  $f: cut short"; return 1; }
  done
  return 0
}

# all_complete DIR: every visible entry of DIR is a complete run (hidden partials are not results)
all_complete() {
  local d rc=0
  for d in "$1"/*; do
    [ -e "$d" ] || continue
    complete "$d" || rc=1
  done
  return $rc
}

# leftovers DIR: partial directories and temporary files below DIR, one per line
leftovers() { find "$1" \( -name '.partial-*' -o -name '.*.tmp-*' -o -name '*.tmp.*' \) 2>/dev/null; }

# ------------------------------------------------------------------ full disk (inside its own mount)
# run, predict and tracking=all on a file system with little room left: each either succeeds whole or
# fails with a clear message, leaving no complete-looking output and no temporary file.
if [ "${1:-}" = --full-disk ]; then
  BML=$2 SRC=$3 M=$4 W=$5 MODE=$6
  if [ "$MODE" = tmpfs ]; then
    mount -t tmpfs -o size=4m tmpfs "$M" || { echo "FAIL fault/full_disk_mount"; exit 1; }
    WANT='No space left on device'
  else
    WANT='File too large'
    trap '' XFSZ # writes past the limit fail with EFBIG instead of killing the process
  fi
  CLEAR="$WANT|not written whole|Write incomplete|is the disk full"
  # room K: K KiB free on the file system (tmpfs: a filler file takes the rest; fsize: a K KiB file size limit)
  room() {
    rm -rf "${M:?}"/* "$M"/.[!.]* 2>/dev/null
    if [ "$MODE" = tmpfs ] && [ "$1" != all ]; then head -c $(((4096 - $1) * 1024)) /dev/zero >"$M/filler" 2>/dev/null; fi
    return 0
  }
  limited() { # limited ERR_FILE CMD...: CMD under the room's limit, its stderr into ERR_FILE
    local err=$1
    shift
    if [ "$MODE" = fsize ] && [ "$ROOM" != all ]; then # through a pipe: the size limit does not apply there
      (ulimit -f "$ROOM" && exec "$@" 2>&1 >/dev/null) | cat >"$err"
      return "${PIPESTATUS[0]}"
    fi
    "$@" >/dev/null 2>"$err"
  }
  # run with tracking=all: both the run directory and the MLflow store on the small file system
  n_ok=0
  n_fail=0
  for ROOM in 0 8 16 24 32 48 64 512 2048 all; do
    room "$ROOM"
    limited "$W/full.err" "$BML" run --config-dir "$SRC/configs" data.path="$SRC/data/oxford-lgm50t" output_dir="$M/runs" \
      tracking=all tracking.mlruns_dir="$M/mlruns" run_name=full
    rc=$?
    problem=""
    if [ $rc -ge 128 ]; then problem="killed by a signal ($rc)"; fi
    if [ $rc -ne 0 ] && ! grep -qE "$CLEAR" "$W/full.err"; then problem="no clear message"; fi
    if [ $rc -eq 0 ] && ! complete "$M/runs/full"; then problem="exit 0 without a complete run"; fi
    all_complete "$M/runs" >/dev/null || problem="a complete-looking but incomplete run"
    for r in "$M"/mlruns/*/*/; do # an MLflow run is there whole or not at all
      [ -d "$r" ] || continue
      { [ -s "$r/meta.yaml" ] && [ -s "$r/artifacts/metrics.json" ]; } || problem="an incomplete MLflow run $r"
    done
    if [ -n "$(leftovers "$M")" ]; then problem="left behind: $(leftovers "$M" | tr '\n' ' ')"; fi
    if [ -n "$problem" ]; then
      bad "full_disk_run_room_${ROOM}k"
      echo "  $problem; exit $rc; stderr:"
      sed 's/^/    /' "$W/full.err" | head -5
    elif [ $rc -eq 0 ]; then n_ok=$((n_ok + 1)); else n_fail=$((n_fail + 1)); fi
  done
  # the test means something only if the disk was full for some runs and roomy enough for others
  if [ $n_ok -ge 1 ] && [ $n_fail -ge 3 ]; then ok full_disk_run; else
    bad full_disk_run
    echo "  $n_ok runs succeeded, $n_fail failed cleanly"
  fi
  # predict into the small file system
  for ROOM in 0 all; do
    room "$ROOM"
    mkdir -p "$M/out"
    limited "$W/pred.err" "$BML" predict --run "$W/base" --data "$SRC/data/oxford-lgm50t" --out "$M/out/pred.csv"
    rc=$?
    if [ "$ROOM" = all ]; then
      if [ $rc -eq 0 ] && [ -s "$M/out/pred.csv" ] && [ -z "$(leftovers "$M")" ]; then ok full_disk_predict_room; else
        bad full_disk_predict_room
        sed 's/^/    /' "$W/pred.err" | head -5
      fi
    elif [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF "$WANT" "$W/pred.err" && grep -qF "$M/out/pred.csv" "$W/pred.err" &&
      [ ! -e "$M/out/pred.csv" ] && [ -z "$(leftovers "$M")" ]; then
      ok full_disk_predict
    else
      bad full_disk_predict
      echo "  exit $rc; left: $(ls -A "$M/out")"
      sed 's/^/    /' "$W/pred.err" | head -5
    fi
  done
  echo "$pass passed, $fail failed (full disk, $MODE)"
  [ $fail -eq 0 ]
  exit
fi

# ------------------------------------------------------------------ main
BML=$(realpath "$1")
SRC=$(realpath "$2")
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} # parallel runs on few cores: no spinning threads
SELF=$(realpath "$0")
W=$(mktemp -d /tmp/bml-fault-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
ARGS=(run --config-dir "$SRC/configs" data.path="$SRC/data/oxford-lgm50t" -q)

# a finished run to predict with, and the time one run takes (the range of the random kill moments)
t0=$(date +%s%N)
if "$BML" "${ARGS[@]}" output_dir="$W" run_name=base >base.out 2>&1 && complete "$W/base"; then ok base_run; else
  bad base_run
  cat base.out
fi
t1=$(date +%s%N)
dur_ms=$(((t1 - t0) / 1000000 + 1))
echo "# one run takes $dur_ms ms: the kills fall in that range"

# --- runs killed at random moments: never a complete-looking result; the next run cleans up
K=$W/kill
delays=""
for i in $(seq 1 20); do
  "$BML" "${ARGS[@]}" output_dir="$K" run_name=k >/dev/null 2>&1 &
  pid=$!
  d=$((RANDOM * 32768 + RANDOM))
  d=$((d % dur_ms))
  delays="$delays $d"
  sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
done
if all_complete "$K"; then ok kill_never_complete_looking; else
  bad kill_never_complete_looking
  echo "  kill delays (ms):$delays"
fi
# a partial left by a killed run (whatever the random moments hit) and one from an older version
mkdir -p "$K/.partial-k-Zq3xY9" "$K/.partial-k-4242/model"
echo '{"overall": {}}' >"$K/.partial-k-Zq3xY9/metrics.json"
stale_before=$(ls -A "$K" | grep -c '^\.partial-')
if "$BML" "${ARGS[@]}" output_dir="$K" run_name=k >next.out 2>&1 && [ -z "$(ls -A "$K" | grep '^\.partial-')" ] &&
  all_complete "$K"; then ok kill_next_run_cleans_up; else
  bad kill_next_run_cleans_up
  echo "  $stale_before partials before; after: $(ls -A "$K" | tr '\n' ' ')"
  cat next.out
fi

# --- killed while its figures are drawn (a child process): the child must not keep the partial folder's lock
# (it did: the flock is shared across fork), or the next run cannot clean up the folder
F=$W/killfig
caught=0
for i in 1 2 3 4 5 6 7 8; do
  "$BML" "${ARGS[@]}" output_dir="$F" run_name=f >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 2000); do # poll for the figures folder of the partial run
    if compgen -G "$F/.partial-f-*/figures" >/dev/null; then
      kill -KILL $pid 2>/dev/null && caught=$((caught + 1))
      break
    fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.005
  done
  kill -KILL $pid 2>/dev/null
  wait $pid 2>/dev/null
  [ $caught -gt 0 ] && break
done
if [ $caught -eq 0 ]; then
  bad kill_while_drawing_cleans_up
  echo "  no run was caught drawing its figures in 8 tries"
elif "$BML" "${ARGS[@]}" output_dir="$F" run_name=f figures=false >nextf.out 2>&1 &&
  [ -z "$(ls -A "$F" | grep '^\.partial-')" ]; then ok kill_while_drawing_cleans_up; else
  bad kill_while_drawing_cleans_up
  echo "  after: $(ls -A "$F" | tr '\n' ' ')"
  cat nextf.out
fi

echo "# $SECONDS s"
# --- parallel runs in one output directory with the same run_name: all succeed, all kept
P=$W/par
pids=""
for i in 1 2 3 4 5 6; do
  "$BML" "${ARGS[@]}" output_dir="$P" run_name=same figures=false >"par$i.out" 2>&1 &
  pids="$pids $!"
done
prc=0
for p in $pids; do wait "$p" || prc=1; done
names=$(ls -A "$P" | sort | tr '\n' ' ')
RUN_FILES_SAVED=$RUN_FILES
RUN_FILES="config.yaml metrics.json predictions.csv shap.csv importance.csv model/model.json model/booster_0.json model/preprocess.json"
if [ $prc -eq 0 ] && [ "$names" = "same same-2 same-3 same-4 same-5 same-6 " ] && all_complete "$P"; then ok parallel_runs_all_kept; else
  bad parallel_runs_all_kept
  echo "  exits ok: $([ $prc -eq 0 ] && echo yes || echo no); entries: $names"
  cat par*.out | grep -v '^/' | head -5
fi
RUN_FILES=$RUN_FILES_SAVED

echo "# $SECONDS s"
# --- planted symbolic links: never followed; nothing written outside
L=$W/links
O=$W/outside
mkdir -p "$L" "$O"
ln -s "$O" "$L/x"          # the run's final name
ln -s "$O" "$L/.partial-x" # a planted partial, to be neither followed nor removed
# the partial name older versions used, .partial-<run_name>-<pid>, planted for the pid the program gets
bash -c 'ln -s "$1" "$2/.partial-x-$$" && exec "$3" "${@:4}"' _ "$O" "$L" "$BML" "${ARGS[@]}" output_dir="$L" \
  run_name=x figures=false >links.out 2>&1
rc=$?
if [ $rc -eq 0 ] && [ -z "$(ls -A "$O")" ] && [ -L "$L/x" ] && [ -L "$L/.partial-x" ] && [ ! -L "$L/x-2" ] &&
  [ -d "$L/x-2" ]; then ok symlinks_not_followed; else
  bad symlinks_not_followed
  echo "  exit $rc; outside: $(ls -A "$O" | tr '\n' ' '); links dir: $(ls -lA "$L" | tail -n +2 | tr '\n' ';')"
  cat links.out
fi

# --- sub-paths of the run that leave it: refused, naming the key, before anything is written
# expect_refused NAME TEXT FORBIDDEN_PATH ARGS...: non-zero exit, the text in the message, nothing there
expect_refused() {
  local name=$1 want=$2 forbidden=$3
  shift 3
  "$BML" "${ARGS[@]}" "$@" >ref.out 2>ref.err
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "$want" ref.err && [ ! -e "$forbidden" ] &&
    [ -z "$(ls -A "$W/sub" 2>/dev/null)" ]; then ok "$name"; else
    bad "$name"
    echo "  exit $rc; $forbidden exists: $([ -e "$forbidden" ] && echo yes || echo no); stderr:"
    sed 's/^/    /' ref.err
  fi
}
expect_refused tensorboard_dir_dotdot tracking.tensorboard_dir "$W/sub/tbx" output_dir="$W/sub/runs" tracking=tensorboard \
  tracking.tensorboard_dir=../../tbx
expect_refused tensorboard_dir_absolute tracking.tensorboard_dir "$W/abs" output_dir="$W/sub/runs" tracking=all \
  tracking.mlruns_dir="$W/sub/mlruns" tracking.tensorboard_dir="$W/abs"
expect_refused run_name_dotdot run_name "$W/evil" output_dir="$W/sub/runs" run_name=../../evil
expect_refused run_name_hidden run_name "$W/sub/runs/.partial-x" output_dir="$W/sub/runs" run_name=.partial-x

echo "# $SECONDS s"
# --- a full disk: in a private mount namespace with a small tmpfs where allowed, else a file size limit
mkdir -p "$W/mnt"
if unshare -rm true 2>/dev/null; then
  unshare -rm bash "$SELF" --full-disk "$BML" "$SRC" "$W/mnt" "$W" tmpfs
elif [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
  unshare -m bash "$SELF" --full-disk "$BML" "$SRC" "$W/mnt" "$W" tmpfs
else
  echo "note: cannot mount a tmpfs here; the full disk is simulated by a file size limit (EFBIG)"
  bash "$SELF" --full-disk "$BML" "$SRC" "$W/mnt" "$W" fsize
fi
[ $? -eq 0 ] && ok full_disk || bad full_disk

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
