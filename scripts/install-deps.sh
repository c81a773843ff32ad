#!/usr/bin/env bash
# Installs the Debian packages BatteryML-C needs to build, test, fuzz (clang with libFuzzer) and benchmark.
# Idempotent: re-running it installs nothing new. Needs root (or sudo).
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config
  libxgboost-dev libopenblas-dev libcsv-dev libyaml-dev libcjson-dev
  libplplot-dev plplot-driver-cairo fonts-dejavu-core libxxhash-dev
  libzip-dev libisal-dev mdbtools-dev
  valgrind chromium
  clang libclang-rt-14-dev
  libopenmpi-dev openmpi-bin
  # the Python package (python/) and its tests: a venv over Debian's packages, installed offline
  python3 python3-venv python3-pip python3-setuptools python3-wheel
  python3-numpy python3-pandas python3-cffi python3-sklearn python3-pytest python3-xgboost
  # the example notebook, executed headlessly by the Python tests, and the plot helpers
  python3-nbclient python3-ipykernel python3-matplotlib
)
# The reference generators (tools/) use XGBoost's Python package and PyTorch: BML_WITH_TOOLS=1.
if [ "${BML_WITH_TOOLS:-0}" = 1 ]; then PKGS+=(python3-xgboost python3-numpy python3-torch); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached package lists"
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
