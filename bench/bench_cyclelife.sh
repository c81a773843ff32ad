#!/usr/bin/env bash
# The whole cycle-life study (load, features, elastic-net CV, CV+ intervals, predictions; no figures) in C and in
# Python, back to back, one JSON line each, plus the load average before each. Rough numbers on a shared machine:
# run it when nothing else builds or runs.
# Usage: bench/bench_cyclelife.sh BUILD_DIR [QDLIN_DIR] [REPS]
set -eu
B=$1
D=${2:-$(dirname "$0")/../../shared/data/severson2019}
R=${3:-5}
echo "{\"loadavg_before_c\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
"$B/bench_cyclelife" "$D" --reps "$R"
echo "{\"loadavg_before_python\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
/usr/bin/python3 "$(dirname "$0")/bench_cyclelife.py" "$D" --reps "$R"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$(dirname "$0")/bench_cyclelife.py" "$D" --reps "$R"
