#!/usr/bin/env bash
# Read speed and memory of the cycler readers on large exports made by repeating the shipped real ones
# (tests/data/cyclers) N times (cycle indices and test times shifted so that they keep rising), against
# `wc -l` on the same file. Usage: bench/cycler_speed.sh BATTERYML WORK_DIR [N]  (N = 600 by default:
# about 160-1700 MB per file). Prints one JSON line per format.
set -eu
BML=$(realpath "$1")
W=$2
N=${3:-600}
SRC=$(cd "$(dirname "$0")/.." && pwd)/tests/data/cyclers
mkdir -p "$W"
cd "$W"
"$SRC/../../../tools/cycler_repeat.sh" "$SRC/PredictionDiagnostics_000151_test.052" "$N" 0.00001 >maccor.052
# Arbin: Test_Time and DateTime shifted; its cycle index is empty (one cycle), so it stays one long cycle
awk -v n="$N" 'BEGIN { FS = OFS = "," } NR == 1 { print; next } { r[++m] = $0; t1 = $2 }
  END { for (k = 0; k < n; k++) for (i = 1; i <= m; i++) { $0 = r[i]; $2 = $2 + k * (t1 + 1); $3 = $3 + k * (t1 + 1); print } }' \
  "$SRC/2017-05-09_test-TC-contact_CH33.csv" >arbin.csv
# BioLogic: the date-and-time column moved on by a year per copy, the cycle number by 3
awk -v n="$N" 'BEGIN { FS = OFS = ";" } NR == 1 { print; next } { r[++m] = $0 }
  END { for (k = 0; k < n; k++) for (i = 1; i <= m; i++) { $0 = r[i];
          split($5, a, /[\/ ]/); $5 = a[1] "/" a[2] "/" (a[3] + k) " " a[4]; $15 = $15 + 3 * k; print } }' \
  "$SRC/test_loopsnewoutput_MB_CE1_short10k.csv" >biologic.csv
N2=$((N / 4 > 0 ? N / 4 : 1))
# Novonix: the preamble once, the data rows (unquoted) with Run Time and Cycle Number shifted
awk -v n="$N2" 'BEGIN { FS = OFS = "," } !data { print; if ($0 == "[Data]") { data = 1; hdr = 1 }; next }
  hdr { print; hdr = 0; next } { gsub(/"/, ""); r[++m] = $0; t1 = $4 }
  END { for (k = 0; k < n; k++) for (i = 1; i <= m; i++) { $0 = r[i]; $2 = $2 + k; $4 = sprintf("%.7f", $4 + k * (t1 + 0.01)); print } }' \
  "$SRC/test_Nova_Form-CH01-01_short.csv" >novonix.csv
for f in maccor.052 arbin.csv biologic.csv novonix.csv; do
  mb=$(($(stat -c %s "$f") / 1000000))
  s0=$(date +%s.%N); wc -l "$f" >/dev/null; s1=$(date +%s.%N)
  /usr/bin/time -f "%e %U %M" -o time.txt "$BML" structure "$f" --out "out_${f%%.*}" >log.txt
  read -r wall user rss <time.txt
  line=$(head -1 log.txt)
  echo "{\"format\": \"${f%%.*}\", \"mb\": $mb, \"rows\": $(echo "$line" | sed 's/.*, \([0-9]*\) rows.*/\1/'), \"cycles\": $(echo "$line" | sed 's/.*rows, \([0-9]*\) cycles.*/\1/'), \"read_mb_s\": $(echo "$line" | sed 's/.*(\([0-9]*\) MB\/s).*/\1/'), \"structure_wall_s\": $wall, \"structure_user_s\": $user, \"mb_per_user_s\": $(echo "$mb / $user" | bc), \"max_rss_mb\": $((rss / 1024)), \"wc_l_s\": $(echo "$s1 - $s0" | bc)}"
done
