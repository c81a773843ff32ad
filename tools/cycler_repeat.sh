#!/usr/bin/env bash
# Make a long Maccor export from a real one: its data rows repeated N times as cycles 1..N, the test time
# shifted so that it keeps rising, Amp-hr and Watt-hr scaled by (1 - FADE * (cycle - 1)) so that the
# capacity fades. Usage: cycler_repeat.sh MACCOR_FILE N FADE > OUT
set -eu
awk -v n="$2" -v fade="$3" 'BEGIN { FS = OFS = "\t" }
  NR <= 2 { head[NR] = $0; next }
  /^[[:space:]]*$/ { next }
  { rows[++m] = $0; if (NR == 3) t0 = $4; t1 = $4 }
  END {
    print head[1]; print head[2]
    span = t1 - t0 + 1; rec = 0
    for (k = 0; k < n; k++) {
      f = 1 - fade * k
      for (i = 1; i <= m; i++) {
        $0 = rows[i]
        $1 = ++rec; $2 = k + 1; $4 = sprintf("%.4f", $4 + k * span)
        $6 = sprintf("%.10f", $6 * f); $7 = sprintf("%.10f", $7 * f)
        print
      }
    }
  }' "$1"
