#!/usr/bin/env bash
# Peak memory of `batteryml structure` against the number of cycles: a generated Arbin export of N short
# cycles (4 rows each: two charging, two discharging, about 320 bytes a cycle), summarised with the default
# grid (100 points, so the curves file has 100 rows a cycle), measured by /usr/bin/time -v.
# Usage: bench/cycler_memory.sh BATTERYML WORK_DIR [N ...]   (N: 20000 200000 1000000 by default)
# Prints one JSON line per N. Each N's files are removed before the next (1e6 cycles: 0.3 GB in, 4.4 GB out).
set -eu
BML=$(realpath "$1")
W=$2
shift 2
[ $# -gt 0 ] || set -- 20000 200000 1000000
mkdir -p "$W"
cd "$W"
for n in "$@"; do
  awk -v n="$n" 'BEGIN {
    print "Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),Charge_Capacity(Ah),Discharge_Capacity(Ah),Charge_Energy(Wh),Discharge_Energy(Wh),Aux_Temperature_1(C)"
    t = 0; qc = 0; qd = 0; ec = 0; ed = 0; dp = 0
    for (c = 1; c <= n; c++) {
      cap = 1 - 0.1 * c / n
      printf "%d,%.1f,1,%d,1,3.0,%.6f,%.6f,%.6f,%.6f,25.0\n", dp++, t, c, qc, qd, ec, ed
      t += 3600; qc += cap; ec += 3.6 * cap
      printf "%d,%.1f,1,%d,1,4.2,%.6f,%.6f,%.6f,%.6f,26.0\n", dp++, t, c, qc, qd, ec, ed
      t += 1
      printf "%d,%.1f,2,%d,-1,4.1,%.6f,%.6f,%.6f,%.6f,26.5\n", dp++, t, c, qc, qd, ec, ed
      t += 3600; qd += 0.95 * cap; ed += 3.5 * 0.95 * cap
      printf "%d,%.1f,2,%d,-1,2.9,%.6f,%.6f,%.6f,%.6f,27.0\n", dp++, t, c, qc, qd, ec, ed
      t += 1
    }
  }' >"cells_$n.csv"
  rm -rf "out_$n"
  /usr/bin/time -v -o "time_$n.txt" "$BML" structure "cells_$n.csv" --out "out_$n" >"log_$n.txt"
  rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "time_$n.txt")
  user=$(sed -n 's/.*User time (seconds): //p' "time_$n.txt")
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "time_$n.txt")
  cycles=$(sed -n 's/.* rows, \([0-9]*\) cycles.*/\1/p' "log_$n.txt")
  in_mb=$(($(stat -c %s "cells_$n.csv") / 1000000))
  curves_mb=$(($(stat -c %s "out_$n/cells_${n}_curves.csv") / 1000000))
  echo "{\"cycles\": $cycles, \"file_mb\": $in_mb, \"curves_csv_mb\": $curves_mb, \"max_rss_mb\": $((rss_kb / 1024)), \"user_s\": $user, \"wall\": \"$wall\"}"
  rm -rf "cells_$n.csv" "out_$n" "time_$n.txt" "log_$n.txt"
done
