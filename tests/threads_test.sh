#!/usr/bin/env bash
# Same configuration and seed, same numbers, whatever the thread count: every model trains briefly at
# 1 and 2 threads (OPENBLAS_NUM_THREADS, then OMP_NUM_THREADS) and its predictions, training history,
# SHAP values and metrics must match bit for bit.
#
# OpenBLAS's threaded products round differently from its one-thread ones with the Haswell kernels
# (the ones it picks on most AVX2 machines), so where the CPU has AVX2 and FMA those kernels are forced:
# the case that went wrong is then tested even where OpenBLAS would pick another kernel by itself.
# Usage: threads_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-threads-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0

core=()
if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo; then core=(OPENBLAS_CORETYPE=Haswell); fi
echo "OpenBLAS kernels: ${core[*]:-as detected}"

# metrics.json without wall times, should it ever carry some
strip_times() { sed -E 's/"(t_[a-z_]+|[a-z_]*_(ms|seconds)|timings?)": *[0-9.eE+-]+,? *//g' "$1"; }

run() { # run DIR VAR THREADS ARGS...: one brief study
  local dir=$1 var=$2 n=$3
  shift 3
  env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u GOTO_NUM_THREADS "${core[@]}" "$var=$n" \
    "$BML" run --config-dir "$SRC/configs" data.path="$SRC/data/oxford-lgm50t" "$@" training.epochs=2 figures=false \
    output_dir="$dir" run_name=r -q >"$dir.log" 2>&1
}

for m in lgbm mlp lstm_attn cnn_lstm neural_ode acla; do
  case $m in
    lgbm) args=(model=lgbm model.n_estimators=20) ;;
    mlp) args=(model=mlp) ;;
    *) args=(pipeline=latent_ode_seq "model=$m" pipeline.target=modes) ;;
  esac
  for var in OPENBLAS_NUM_THREADS OMP_NUM_THREADS; do
    name="$m/$var"
    if ! run "$m-$var-1" "$var" 1 "${args[@]}" || ! run "$m-$var-2" "$var" 2 "${args[@]}"; then
      fail=$((fail + 1)); echo "FAIL threads/$name: a run failed"; cat "$m-$var-"*.log; continue
    fi
    a="$m-$var-1/r" b="$m-$var-2/r" same=1
    for f in predictions.csv step_metrics.csv shap.csv attention.csv latent.csv; do
      [ -f "$a/$f" ] || [ -f "$b/$f" ] || continue
      cmp -s "$a/$f" "$b/$f" || { same=0; echo "  $f differs between 1 and 2 threads"; }
    done
    cmp -s <(strip_times "$a/metrics.json") <(strip_times "$b/metrics.json") || { same=0; echo "  metrics.json differs"; }
    [ -s "$a/predictions.csv" ] || { same=0; echo "  no predictions.csv"; }
    if [ $same -eq 1 ]; then pass=$((pass + 1)); echo "ok   threads/$name"; else fail=$((fail + 1)); echo "FAIL threads/$name"; fi
  done
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
