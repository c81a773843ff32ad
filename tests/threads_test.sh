#!/usr/bin/env bash
# Same configuration and seed, same numbers, whatever the thread count: every model trains briefly at
# 1 and 2 threads (OPENBLAS_NUM_THREADS, then OMP_NUM_THREADS, then the networks' own training.threads) and
# its predictions, training history, SHAP values and metrics must match bit for bit. The neural models run
# at training.threads 1, 2 and 3, neural_ode with each solver and with adjoint gradients.
#
# OpenBLAS's threaded products round differently from its one-thread ones with the Haswell kernels
# (the ones it picks on most AVX2 machines), so where the CPU has AVX2 and FMA those kernels are forced:
# the case that once went wrong stays tested should the networks' products ever go through OpenBLAS
# again (they are the library's own now: src/nn/gemm.c).
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

run() { # run DIR VAR THREADS ARGS...: one brief study (VAR training.threads: a configuration key)
  local dir=$1 var=$2 n=$3 env_set=() key=()
  shift 3
  if [ "$var" = training.threads ]; then key=("training.threads=$n"); else env_set=("$var=$n"); fi
  env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u GOTO_NUM_THREADS "${core[@]}" "${env_set[@]}" \
    "$BML" run "${key[@]}" --config-dir "$SRC/configs" data.path="$SRC/data/oxford-lgm50t" "$@" training.epochs=2 figures=false \
    output_dir="$dir" run_name=r -q >"$dir.log" 2>&1
}

same_run() { # same_run A B: the outputs of two runs match (metrics.json without wall times)
  local a=$1/r b=$2/r ok=0
  for f in predictions.csv step_metrics.csv shap.csv attention.csv latent.csv model/weights.bin; do
    [ -f "$a/$f" ] || [ -f "$b/$f" ] || continue
    cmp -s "$a/$f" "$b/$f" || { ok=1; echo "  $f differs between $1 and $2"; }
  done
  cmp -s <(strip_times "$a/metrics.json") <(strip_times "$b/metrics.json") || { ok=1; echo "  metrics.json differs ($1, $2)"; }
  [ -s "$a/predictions.csv" ] || { ok=1; echo "  no predictions.csv in $1"; }
  return $ok
}

for m in lgbm mlp lstm_attn cnn_lstm neural_ode neural_ode_rk4 neural_ode_euler neural_ode_adjoint acla; do
  case $m in
    lgbm) args=(model=lgbm model.n_estimators=20) ;;
    mlp) args=(model=mlp) ;;
    neural_ode_rk4) args=(pipeline=latent_ode_seq model=neural_ode pipeline.target=modes model.solver=rk4) ;;
    neural_ode_euler) args=(pipeline=latent_ode_seq model=neural_ode pipeline.target=modes model.solver=euler) ;;
    neural_ode_adjoint) args=(pipeline=latent_ode_seq model=neural_ode pipeline.target=modes model.use_adjoint=true) ;;
    *) args=(pipeline=latent_ode_seq "model=$m" pipeline.target=modes) ;;
  esac
  vars=(OPENBLAS_NUM_THREADS OMP_NUM_THREADS)
  case $m in lgbm) ;; neural_ode_*) vars=(training.threads) ;; *) vars+=(training.threads) ;; esac
  for var in "${vars[@]}"; do
    name="$m/$var" counts=(1 2)
    [ "$var" = training.threads ] && counts=(1 2 3)
    failed=0
    for n in "${counts[@]}"; do run "$m-$var-$n" "$var" "$n" "${args[@]}" || failed=1; done
    if [ $failed -eq 1 ]; then
      fail=$((fail + 1)); echo "FAIL threads/$name: a run failed"; cat "$m-$var-"*.log; continue
    fi
    same=1
    for n in "${counts[@]:1}"; do same_run "$m-$var-1" "$m-$var-$n" || same=0; done
    if [ $same -eq 1 ]; then pass=$((pass + 1)); echo "ok   threads/$name"; else fail=$((fail + 1)); echo "FAIL threads/$name"; fi
  done
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
