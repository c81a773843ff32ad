#!/usr/bin/env bash
# One command on a fresh machine: install the Debian packages, build (Release), and run the default
# study (summary_set + lgbm, temperature holdout 10/40 -> 25 degC on the shipped experiment-5 data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
./build/batteryml run "$@"
