#!/usr/bin/env bash
# A folder of many cells (issue 21): N Maccor exports (default 1000), each the shipped real one repeated 12
# times as cycles with its own fade (tools/cycler_repeat.sh), summarised by `structure --jobs J` and loaded by a
# study (`data=cycler`, `run --jobs J`, figures off), J = 1 and 2; the outputs compared across J. One JSON line
# per case (the capacity cross-check's warnings about the repeated file, which begins inside a cycle, go to
# WORK_DIR/warnings.log). Usage: bench/structure_folder.sh BATTERYML WORK_DIR [N]
set -eu
BML=$(realpath "$1")
W=$2
N=${3:-1000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$W/lab"
cd "$W"
CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/["\\]/?/g')
for i in $(seq 1 "$N"); do
  [ -e "lab/cell$i.052" ] || "$SRC/tools/cycler_repeat.sh" "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" 12 \
    "0.000$((i % 90 + 10))" >"lab/cell$i.052"
done
MB=$(du -sm lab | cut -f1)
for j in 1 2; do
  rm -rf "out$j"
  t0=$(date +%s.%N)
  "$BML" structure lab --out "out$j" --jobs "$j" -q >/dev/null 2>>warnings.log
  t1=$(date +%s.%N)
  echo "{\"cpu\": \"$CPU\", \"case\": \"structure_folder\", \"files\": $N, \"mb\": $MB, \"jobs\": $j, \"seconds\": $(echo "$t1 - $t0" | bc)}"
  rm -rf "runs$j"
  t0=$(date +%s.%N)
  "$BML" run --config-dir "$SRC/configs" --jobs "$j" -q data=cycler data.path=lab split=random figures=false \
    explain.enabled=false output_dir="runs$j" run_name=r >/dev/null 2>>warnings.log
  t1=$(date +%s.%N)
  echo "{\"cpu\": \"$CPU\", \"case\": \"study_load_folder\", \"files\": $N, \"mb\": $MB, \"jobs\": $j, \"seconds\": $(echo "$t1 - $t0" | bc)}"
done
diff -r out1 out2 >/dev/null && cmp -s runs1/r/predictions.csv runs2/r/predictions.csv &&
  echo "{\"case\": \"same_outputs\", \"structure\": true, \"predictions\": true}" ||
  echo "{\"case\": \"same_outputs\", \"error\": \"the outputs differ between --jobs 1 and 2\"}"
