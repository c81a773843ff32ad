#!/usr/bin/env bash
# `batteryml run data=qdlin pipeline=delta_q split=predefined`: the sets of cells.csv, a cell without a life left
# out of every fold, metrics in cycles per set; on the published data in ../shared/data/severson2019 (skipped when
# absent) the figures of Severson et al. 2019's "variance" model.
# Usage: cyclelife_cli_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-cyclelife-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   cyclelife_cli/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL cyclelife_cli/$1"; cat "$2" 2>/dev/null | tail -5; }
C="--config-dir $SRC/configs"

# every cell in `train`: nothing to evaluate, said so, non-zero exit
if ! "$BML" run $C data=qdlin data.path="$SRC/tests/data/cyclelife/synth" data.points=20 pipeline=delta_q split=predefined \
     model=ols >one.log 2>&1 && grep -q "split predefined: no set besides 'train' to evaluate on" one.log; then ok only_train
else bad only_train one.log; fi

# cell2 moved to a set `test`; cell3 (no life yet, in `train`) is not trained on but predicted, without a truth, and
# left out of the metrics, said under the load line: one fold `test`, its metrics in cycles over cell2 alone
cp -r "$SRC/tests/data/cyclelife/synth" d
sed -i 's#^train/cell2.csv,1431,train,#train/cell2.csv,1431,test,#' d/cells.csv
if "$BML" run $C data=qdlin data.path=d data.points=20 pipeline=delta_q split=predefined 'pipeline.features=[fade]' \
     model=ols output_dir=runs run_name=two figures=false >two.log 2>&1 && grep -q "split     predefined: train 1, val 2, test 0" two.log &&
   grep -q "1 cell(s) without a known life (empty in the index): predicted, left out of fitting and metrics: train_cell3" two.log &&
   grep -Eq "test +n=1 +RMSE [0-9.]+ cycles" two.log && grep -q '^test,val,0,train_cell3,,0,100,,,,[-0-9]' runs/two/predictions.csv &&
   grep -q '^test,val,0,train_cell2,,0,100,,,3.15' runs/two/predictions.csv; then ok sets_from_cells_csv
else bad sets_from_cells_csv two.log; fi

# a cell id to exclude that is no cell
if ! "$BML" run $C data=qdlin data.path=d data.points=20 pipeline=delta_q split=predefined 'split.exclude=[nope]' \
     model=ols >three.log 2>&1 && grep -q "exclude names 'nope', which is no cell of the data" three.log; then ok exclude_unknown
else bad exclude_unknown three.log; fi

# split=loco (and random) with cell3's life unknown: no fold for cell3, never trained on, predicted in each fold
# without a truth; two folds of one training cell each (the old runner failed: "training target ... is not finite")
if "$BML" run $C data=qdlin data.path=d data.points=20 pipeline=delta_q split=loco 'pipeline.features=[fade]' \
     model=ols output_dir=runs run_name=loco figures=false >loco.log 2>&1 && grep -q "split     loco: 2 folds" loco.log &&
   [ "$(grep -c ',train_cell3,,0,100,,,,[-0-9]' runs/loco/predictions.csv)" = 2 ] &&
   grep -q '^train_cell1,val,0,train_cell1,' runs/loco/predictions.csv && ! grep -q '^train_cell3,' runs/loco/predictions.csv &&
   "$BML" run $C data=qdlin data.path=d data.points=20 pipeline=delta_q split=random 'pipeline.features=[fade]' \
     model=ols output_dir=runs run_name=random figures=false >random.log 2>&1 &&
   grep -q ',train_cell3,,0,100,,,,[-0-9]' runs/random/predictions.csv; then ok unknown_life_loco_random
else bad unknown_life_loco_random loco.log; tail -3 random.log; fi

# the published data: Severson et al. 2019, Table 1, variance model (primary test, and without cell 22)
S="$SRC/../shared/data/severson2019"
if [ -f "$S/cells.csv" ]; then
  if "$BML" run $C data=qdlin data.path="$S" pipeline=delta_q split=predefined model=ols >four.log 2>&1 &&
     grep -Eq "test1 +n=43 +RMSE 137.9 cycles  MAPE 14.7%" four.log; then ok severson_variance_test1
  else bad severson_variance_test1 four.log; fi
  if "$BML" run $C data=qdlin data.path="$S" pipeline=delta_q split=predefined 'split.exclude=[test1_cell22]' model=ols \
       >five.log 2>&1 && grep -Eq "test1 +n=42 +RMSE 138.3 cycles  MAPE 13.2%" five.log; then ok severson_variance_without_cell22
  else bad severson_variance_without_cell22 five.log; fi
  # jackknife+ intervals of the runner (uncertainty=jackknife_plus) = those the example computes on its own through the
  # library's CV+ (examples/cyclelife_conformal.c: its own features and fits, no runner)
  EX="$(dirname "$BML")/example_cyclelife_conformal"
  if "$BML" run $C data=qdlin data.path="$S" pipeline=delta_q split=predefined model=ols uncertainty=jackknife_plus \
       output_dir=runs run_name=jk figures=false >six.log 2>&1 && [ -x "$EX" ] && "$EX" "$S" "[variance]" ols 0 0.1 >six_ex.log 2>&1; then
    want=$(awk '$1 == "test1" && NF == 6 {print $5, $6}' six_ex.log)
    got=$(grep -E "test1 +log10_cycle_life: 90% intervals \(jackknife_plus\) cover" six.log | sed -E 's/.*cover ([0-9.]+%), mean width ([0-9.]+) cycles/\1 \2/')
    if [ -n "$want" ] && [ "$want" = "$got" ] && grep -q '"coverage":' runs/jk/metrics.json &&
       head -1 runs/jk/predictions.csv | grep -q ',lower_log10_cycle_life,upper_log10_cycle_life$'; then ok severson_jackknife_plus_intervals
    else echo "  runner: '$got', example: '$want'"; bad severson_jackknife_plus_intervals six.log; fi
  else bad severson_jackknife_plus_intervals six.log; fi
else
  echo "skipped: $S not present (the Severson et al. 2019 Qdlin data)"
fi
echo "cyclelife_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
