#!/usr/bin/env bash
# Runs the shipped studies with two builds of batteryml and compares the run folders byte for byte (the
# wall-clock times aside). Made for refactors that must not change behaviour:
#
#     tools/compare_runs.sh OLD_BATTERYML NEW_BATTERYML [SHARED_DIR]
#
# OLD_BATTERYML is a binary built from the commit before the change (e.g. a copy of build/batteryml kept
# aside). Each study runs once per binary into the same path (so that config.yaml's output_dir matches);
# the first folder is moved aside before the second run. Prints one line per study and exits 1 when a
# folder differs (diff's output follows). SHARED_DIR (default ../shared beside the repository) adds the
# cycle-life study on the Severson et al. data when present.
set -u
OLD=$(realpath "$1")
NEW=$(realpath "$2")
SRC=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${3:-$SRC/../shared}
W=$(mktemp -d /tmp/bml-compare-XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMP_WAIT_POLICY=PASSIVE
D=$SRC/data/oxford-lgm50t
COMMON=(--config-dir "$SRC/configs" -q)
fail=0

# name | arguments (one string, split on spaces)
STUDIES=(
  "lgbm_temperature_holdout|run data.path=$D"
  "lgbm_loco|run data.path=$D split=loco"
  "lgbm_loco_modes|run data.path=$D split=loco pipeline.target=modes"
  "lgbm_tracking_all|run data.path=$D tracking=all"
  "mlp|run data.path=$D model=mlp training.epochs=30"
  "acla|run data.path=$D model=acla pipeline=latent_ode_seq pipeline.target=modes training.epochs=2 split=loco split.cells=[E5-A,E5-D]"
  "ridge_random|run data.path=$D model=ridge split=random"
  "mlp_lr_auto|run data.path=$D model=mlp training.epochs=10 training.learning_rate=auto lr_find.num_steps=20"
  "ica_peaks|run data=curve_table data.path=$SRC/data/fast-formation-c20 pipeline=ica_peaks pipeline.cache=false pipeline.target=capacity split=random model.min_child_samples=2"
  "table|run data=table data.path=$SRC/tests/data/table_small.csv pipeline=table split=random model.min_child_samples=2"
  "cycler|run data=cycler data.path=$W/lab split=loco model.min_child_samples=2"
  "sweep|run -m data.path=$D model.learning_rate=0.05,0.1 model.n_estimators=50 figures=false --jobs 2"
)
if [ -d "$SHARED/data/severson2019" ]; then
  STUDIES+=("cyclelife|run data=qdlin data.path=$SHARED/data/severson2019 pipeline=delta_q split=predefined model=elastic_net_cv")
fi

# time fields differ from run to run: MLflow's start/end times, TensorBoard event wall times (whole files)
normalise() {
  find "$1" -name meta.yaml -exec sed -i -E 's/^(start_time|end_time): .*/\1: T/' {} +
  find "$1" -name 'events.out.tfevents.*' -exec sh -c 'echo events >"$(dirname "$1")/events.out.tfevents"; rm "$1"' _ {} \;
  find "$1" -name sweep.csv -exec sed -i -E 's/(,(ok|failed|cancelled),[^,]*),[0-9.]*,[0-9.]*,/\1,T,T,/' {} +
}

# a folder of raw cycler exports: four cells, twelve cycles each (as tests/cycler_cli_test.sh makes it)
mkdir -p "$W/lab"
for c in 1 2 3 4; do
  "$SRC/tools/cycler_repeat.sh" "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" 12 "0.00$c" >"$W/lab/cell$c.052"
done

for s in "${STUDIES[@]}"; do
  name=${s%%|*}
  read -r -a args <<<"${s#*|}"
  out=$W/$name
  extra=(output_dir="$out" run_name=r)
  [ "${args[1]}" = -m ] && extra=(--sweep-dir "$out/sweep")
  for side in old new; do
    bin=$OLD
    [ $side = new ] && bin=$NEW
    rm -rf "$out"
    if ! (cd "$W" && "$bin" "${args[0]}" "${COMMON[@]}" "${args[@]:1}" "${extra[@]}" >"$W/$name.$side.log" 2>&1); then
      echo "FAIL $name: the $side build failed"
      tail -3 "$W/$name.$side.log"
      fail=1
      continue 2
    fi
    rm -rf "$out/mlruns/.trash" 2>/dev/null
    normalise "$out"
    mv "$out" "$W/$name.$side"
  done
  if diff -r "$W/$name.old" "$W/$name.new" >"$W/$name.diff" 2>&1; then
    echo "same $name ($(find "$W/$name.new" -type f | wc -l) files)"
  else
    echo "DIFF $name"
    head -20 "$W/$name.diff"
    fail=1
  fi
done
exit $fail
