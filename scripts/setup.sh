#!/usr/bin/env bash
# One command on a fresh machine: install the Debian packages, build (Release), and run the default
# study (summary_set + lgbm, temperature holdout 10/40 -> 25 degC on the shipped experiment-5 data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
# the Python package into .venv, carrying this build (python/setup.py): .venv/bin/python -c 'import batteryml'
if [ ! -d .venv ]; then /usr/bin/python3 -m venv --system-site-packages .venv; fi
.venv/bin/pip install --quiet --no-index --no-build-isolation --disable-pip-version-check ./python
./build/batteryml run "$@"
