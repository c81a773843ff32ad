#!/usr/bin/env bash
# Neural training speed against the Python peer, back to back in one session (issue 12): bench_nn at 2 and 1
# threads, then the peer's bench.py (PyTorch on OpenBLAS, 2 and 1 threads) and bench/node_peer.py (the ODE
# cases with a torchdiffeq-semantics stand-in solver). Every line is JSON; compare each case at each side's
# best thread count. Needs python3-torch and libopenblas0-openmp for the peer.
#   bench/nn_vs_peer.sh [BUILD_DIR] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
EPOCHS=${2:-20}
PEER=${BML_PEER_DIR:-../shared/bench-peer}
export OMP_WAIT_POLICY=PASSIVE
CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/["\\]/?/g')
echo "{\"bench\": \"nn_vs_peer\", \"cpu\": \"$CPU\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\"}"
"$BUILD/bench_nn" --epochs "$EPOCHS" --threads 2,1 \
  --cases mlp,lstm_attn,cnn_lstm,node_dopri5,node_rk4,node_euler,node_dopri5_adjoint,acla | sed 's/^{/{"side": "ours", /'
if [ -f "$PEER/bench.py" ]; then
  /usr/bin/python3 "$PEER/bench.py" --blas openblas --threads 2,1 --epochs "$EPOCHS" --cases mlp,lstm_attn,cnn_lstm |
    sed "s/^{/{\"side\": \"peer\", \"cpu\": \"$CPU\", /"
fi
BML_PEER_DIR=$PEER /usr/bin/python3 bench/node_peer.py --epochs "$EPOCHS" | sed "s/^{/{\"side\": \"peer\", \"cpu\": \"$CPU\", /"
