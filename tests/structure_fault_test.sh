#!/usr/bin/env bash
# `batteryml structure` writes all cells or none: two cells (a.052, then b.052 with 30 cycles) summarised
#  - on a file system with little room (a small tmpfs in a private mount namespace, or a file size limit
#    where mounting is not allowed) for a range of room sizes, among them sizes where the first cell's
#    files fit and the second's do not: every run either succeeds with the full output, or fails with a
#    clear message leaving no output folder and no temporary file;
#  - into an existing folder, where the last file cannot be moved in (a folder of its name is in the way):
#    the folder is left as it was (the file the run would have replaced is back, no new file stays);
#  - into an existing folder that works: other files kept, same-named ones replaced;
#  - two files of one cell name, a missing parent, a file at --out: refused, nothing written;
#  - 50,000 cycles under a 100 MB address-space limit (memory does not grow with the cycles).
# Usage: structure_fault_test.sh BATTERYML SOURCE_DIR
#        structure_fault_test.sh --full-disk BATTERYML WORK MOUNT_POINT MODE   (internal: the full-disk part)
set -u
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   structure_fault/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL structure_fault/$1"; }
# temporary files and staging folders below DIR
leftovers() { find "$1" \( -name '.partial-*' -o -name '.*.tmp-*' \) 2>/dev/null; }
# same DIR_A DIR_B: the four output files equal
same() {
  local f
  for f in a_cycles.csv a_curves.csv b_cycles.csv b_curves.csv; do cmp -s "$1/$f" "$2/$f" || return 1; done
  [ "$(ls -A "$2" | wc -l)" -eq 4 ]
}

# ------------------------------------------------------------------ full disk (inside its own mount)
if [ "${1:-}" = --full-disk ]; then
  BML=$2 W=$3 M=$4 MODE=$5
  if [ "$MODE" = tmpfs ]; then
    mount -t tmpfs -o size=2m tmpfs "$M" || { echo "FAIL structure_fault/full_disk_mount"; exit 1; }
    WANT='No space left on device'
  else
    WANT='File too large'
    trap '' XFSZ # writes past the limit fail with EFBIG instead of killing the process
  fi
  # room K: K KiB free (tmpfs: a filler takes the rest; fsize: a K KiB file size limit)
  room() {
    rm -rf "${M:?}"/* "$M"/.[!.]* 2>/dev/null
    if [ "$MODE" = tmpfs ] && [ "$1" != all ]; then head -c $(((2048 - $1) * 1024)) /dev/zero >"$M/filler" 2>/dev/null; fi
    return 0
  }
  n_ok=0 n_fail=0 n_second=0
  for ROOM in 0 4 8 16 32 64 128 256 all; do
    room "$ROOM"
    if [ "$MODE" = fsize ] && [ "$ROOM" != all ]; then # through a pipe: the size limit does not apply there
      (ulimit -f "$ROOM" && exec "$BML" structure "$W/lab" --out "$M/sum" 2>&1) | cat >"$W/full.log"
      rc=${PIPESTATUS[0]}
    else
      "$BML" structure "$W/lab" --out "$M/sum" >"$W/full.log" 2>&1
      rc=$?
    fi
    problem=""
    if [ $rc -ge 128 ]; then problem="killed by a signal ($rc)"; fi
    if [ $rc -ne 0 ] && ! grep -qF "$WANT" "$W/full.log"; then problem="no clear message"; fi
    if [ $rc -ne 0 ] && [ -e "$M/sum" ]; then problem="failed, and left $M/sum: $(ls -A "$M/sum" | tr '\n' ' ')"; fi
    if [ $rc -eq 0 ] && ! same "$W/ref" "$M/sum"; then problem="exit 0 without the full output"; fi
    if [ -n "$(leftovers "$M")" ]; then problem="left behind: $(leftovers "$M" | tr '\n' ' ')"; fi
    if [ -n "$problem" ]; then
      bad "full_disk_room_${ROOM}k"
      echo "  $problem; exit $rc; output:"
      sed 's/^/    /' "$W/full.log" | head -5
    elif [ $rc -eq 0 ]; then n_ok=$((n_ok + 1)); else
      n_fail=$((n_fail + 1))
      grep -q 'a.052: maccor' "$W/full.log" && n_second=$((n_second + 1)) # the first cell had been written
    fi
  done
  # meaningful only if some runs had room and some failed after the first cell's files were written
  if [ $n_ok -ge 1 ] && [ $n_fail -ge 3 ] && [ $n_second -ge 1 ]; then ok "full_disk_all_or_none_$MODE"; else
    bad "full_disk_all_or_none_$MODE"
    echo "  $n_ok runs succeeded, $n_fail failed cleanly ($n_second of them on the second cell)"
  fi
  echo "$pass passed, $fail failed (full disk, $MODE)"
  [ $fail -eq 0 ]
  exit
fi

# ------------------------------------------------------------------ main
BML=$(realpath "$1")
SRC=$(realpath "$2")
SELF=$(realpath "$0")
W=$(mktemp -d /tmp/bml-structure-fault-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
mkdir lab
cp "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" lab/a.052
"$SRC/tools/cycler_repeat.sh" lab/a.052 30 0.001 >lab/b.052
if "$BML" structure lab --out ref >ref.log 2>&1 && [ "$(ls ref | wc -l)" -eq 4 ]; then ok reference; else bad reference; cat ref.log; fi

# --- a full disk: a small tmpfs in a private mount namespace where allowed; a file size limit always
mkdir -p mnt
if unshare -rm true 2>/dev/null; then
  unshare -rm bash "$SELF" --full-disk "$BML" "$W" "$W/mnt" tmpfs
  [ $? -eq 0 ] && ok full_disk_tmpfs || bad full_disk_tmpfs
else
  echo "note: cannot mount a tmpfs here; only the file size limit is tried"
fi
bash "$SELF" --full-disk "$BML" "$W" "$W/mnt" fsize
[ $? -eq 0 ] && ok full_disk_fsize || bad full_disk_fsize

# --- an existing folder where the last file cannot be moved in: left as it was
mkdir -p ex
echo "old a" >ex/a_cycles.csv
echo "mine" >ex/notes.txt
mkdir ex/b_curves.csv # a folder where b's curves would go
"$BML" structure lab --out ex >ex.log 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "ex is as it was: ex/b_curves.csv: a folder is there" ex.log && [ "$(cat ex/a_cycles.csv)" = "old a" ] &&
  [ "$(cat ex/notes.txt)" = mine ] && [ -d ex/b_curves.csv ] && [ "$(ls -A ex | tr '\n' ' ')" = "a_cycles.csv b_curves.csv notes.txt " ] &&
  [ -z "$(leftovers "$W")" ]; then ok existing_folder_put_back; else
  bad existing_folder_put_back
  echo "  exit $rc; ex: $(ls -A ex | tr '\n' ' '); a_cycles.csv: $(head -c 40 ex/a_cycles.csv)"
  cat ex.log
fi

# --- an existing folder that works: the cells' files replaced, other files kept
rmdir ex/b_curves.csv
if "$BML" structure lab --out ex >ex2.log 2>&1 && [ "$(cat ex/notes.txt)" = mine ] && rm ex/notes.txt && same ref ex &&
  [ -z "$(leftovers "$W")" ]; then ok existing_folder_replaced; else
  bad existing_folder_replaced
  echo "  ex: $(ls -A ex | tr '\n' ' ')"
  cat ex2.log
fi

# --- refused before anything is written
mkdir -p dup
cp lab/a.052 dup/x.052
cp lab/a.052 dup/x.txt # (not x.053: a .053 beside the .052 is the next part of its test, joined)
if ! "$BML" structure dup --out dup_out >dup.log 2>&1 && grep -q "two files of one cell name 'x'" dup.log && [ ! -e dup_out ] &&
  [ -z "$(leftovers "$W")" ]; then ok two_files_one_cell; else bad two_files_one_cell; cat dup.log; fi
if ! "$BML" structure lab --out nowhere/sum >np.log 2>&1 && grep -q 'no folder nowhere' np.log && [ ! -e nowhere ]; then
  ok missing_parent; else bad missing_parent; cat np.log; fi
echo x >afile
if ! "$BML" structure lab --out afile >af.log 2>&1 && grep -q 'a file is there' af.log && [ "$(cat afile)" = x ] &&
  [ -z "$(leftovers "$W")" ]; then ok out_is_a_file; else bad out_is_a_file; cat af.log; fi

# --- memory does not grow with the cycles: 50,000 short cycles (a 220 MB curves file) under a 100 MB
# address-space limit (keeping every cycle's curves needed more than the file's size). Not under the
# sanitizers (their shadow memory is address space); skipped where the program cannot start under it.
if [ -n "${BML_SANITIZED:-}" ]; then
  echo "note: memory bound not checked under the sanitizers"
# OpenBLAS's server threads, started when the library loads, retry a failed allocation for ever under an
# address-space limit (seen: `batteryml --version` spinning in blas_memory_alloc): one BLAS thread here, and a
# time limit on every command under the limit
elif ! (ulimit -v 100000 && OPENBLAS_NUM_THREADS=1 exec timeout 60 "$BML" --version >/dev/null 2>&1); then
  echo "note: the program does not start in 100 MB of address space here; memory bound not checked"
else
  awk 'BEGIN { print "Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),Charge_Capacity(Ah),Discharge_Capacity(Ah)"
    t = 0; q = 0; d = 0
    for (c = 1; c <= 50000; c++) {
      printf "%d,%d,1,%d,1,3.0,%.4f,%.4f\n", 4 * c, t, c, q, d; t += 3600; q += 1
      printf "%d,%d,1,%d,1,4.2,%.4f,%.4f\n", 4 * c + 1, t, c, q, d; t += 1
      printf "%d,%d,2,%d,-1,4.1,%.4f,%.4f\n", 4 * c + 2, t, c, q, d; t += 3600; d += 0.9
      printf "%d,%d,2,%d,-1,2.9,%.4f,%.4f\n", 4 * c + 3, t, c, q, d; t += 1
    } }' >many.csv
  (ulimit -v 100000 && OPENBLAS_NUM_THREADS=1 exec timeout 300 "$BML" structure many.csv --out many_out) >many.log 2>&1
  rc=$?
  if [ $rc -eq 0 ] && [ "$(wc -l <many_out/many_curves.csv)" -eq 5000001 ] && [ "$(wc -l <many_out/many_cycles.csv)" -eq 50001 ]; then
    ok memory_bounded_50k_cycles; else bad memory_bounded_50k_cycles; echo "  exit $rc"; tail -3 many.log; fi
  rm -rf many.csv many_out
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
