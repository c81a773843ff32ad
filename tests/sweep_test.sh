#!/usr/bin/env bash
# Sweeps through the batteryml program: run -m end to end, the same numbers with --jobs 1, --jobs 2 and
# (where mpirun is installed) mpirun -n 3, a failing job, the exit status, bad sweeps that stop before any
# job runs, random search reproducibility, compare on a sweep directory.
# Usage: sweep_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-sweep-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   sweep/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL sweep/$1"; }
C="--config-dir $SRC/configs"
GRID=(split=loco data.experiment=5 'model.learning_rate=0.05,0.1' 'model.num_leaves=4,8' model.n_estimators=60 figures=false)

# the same jobs, the same files: every job's predictions, SHAP values and models
same_jobs() {
  local a=$1 b=$2 good=1
  for j in "$a"/*/; do
    n=$(basename "$j")
    for f in predictions.csv shap.csv importance.csv; do cmp -s "$j/$f" "$b/$n/$f" || { echo "  $n/$f differs"; good=0; }; done
    # the configuration differs only in where the sweep was written
    diff <(grep -v '^output_dir:' "$j/config.yaml") <(grep -v '^output_dir:' "$b/$n/config.yaml") >/dev/null || { echo "  $n/config.yaml differs"; good=0; }
    diff -r "$j/model" "$b/$n/model" >/dev/null || { echo "  $n/model differs"; good=0; }
  done
  # sweep.csv without the seconds, fit_s and run_dir columns
  diff <(cut -d, -f1-7,11- "$a/sweep.csv") <(cut -d, -f1-7,11- "$b/sweep.csv") >/dev/null || { echo "  sweep.csv differs"; good=0; }
  [ $good = 1 ]
}

"$BML" run -m $C "${GRID[@]}" --jobs 1 --sweep-dir j1 >out1.txt 2>&1
rc=$?
n_dirs=$(find j1 -mindepth 1 -maxdepth 1 -type d | wc -l)
if [ $rc -eq 0 ] && [ "$n_dirs" -eq 4 ] && [ -s j1/multirun.yaml ] && [ "$(wc -l <j1/sweep.csv)" -eq 5 ] &&
   grep -q "^0,0-0.05_4,model.learning_rate=0.05 model.num_leaves=4,0.05,4,ok,," j1/sweep.csv &&
   grep -q "^3,3-0.1_8,model.learning_rate=0.1 model.num_leaves=8,0.1,8,ok," j1/sweep.csv &&
   head -1 j1/sweep.csv | grep -q "soh.rmse,soh.mae,soh.mape,soh.r2,soh.max_abs_error,soh.fold_rmse_mean,soh.fold_rmse_std$" &&
   [ -s j1/2-0.1_4/metrics.json ] && [ -d j1/2-0.1_4/model/E5-A ]; then ok grid_end_to_end; else bad grid_end_to_end; cat out1.txt; ls j1; fi

"$BML" run -m $C "${GRID[@]}" --jobs 2 --sweep-dir j2 -q >/dev/null 2>&1
if same_jobs j1 j2; then ok jobs1_equals_jobs2; else bad jobs1_equals_jobs2; fi

if command -v mpirun >/dev/null 2>&1; then
  # OpenMPI's plugins keep allocations LeakSanitizer cannot attribute (their modules are unloaded at exit):
  # no leak check under mpirun; the same code paths are leak-checked without it above
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    mpirun --allow-run-as-root --oversubscribe -n 3 "$BML" run -m $C "${GRID[@]}" --sweep-dir m3 -q >mpi.txt 2>&1
  if [ $? -eq 0 ] && same_jobs j1 m3; then ok serial_equals_mpirun_n3; else bad serial_equals_mpirun_n3; cat mpi.txt; fi
else
  echo "skip sweep/serial_equals_mpirun_n3 (no mpirun: scripts/install-deps.sh installs openmpi-bin)"
fi

# a failing job is recorded with its error; the others run; the exit status is the number that failed
"$BML" run -m $C 'model.learning_rate=0.05,-1,-2' figures=false --jobs 2 --sweep-dir f1 >f1.txt 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "^0,0-0.05,.*,ok," f1/sweep.csv && grep -q '^1,1--1,.*,failed,.*learning_rate must be > 0' f1/sweep.csv &&
   grep -q "sweep: 3 jobs, 2 failed" f1.txt; then ok failing_job; else bad failing_job; echo "  rc=$rc"; cat f1.txt f1/sweep.csv; fi

# bad sweeps stop before any job runs, naming the override
check_bad() {
  local name=$1 needle=$2; shift 2
  "$BML" run -m $C "$@" --sweep-dir never >err.txt 2>&1
  local rc=$?
  if [ $rc -eq 2 ] && grep -qF -- "$needle" err.txt && [ ! -e never ]; then ok "$name"; else bad "$name"; echo "  rc=$rc"; cat err.txt; fi
}
check_bad empty_range "override 'model.num_leaves=range(5,5)': the range is empty" 'model.num_leaves=range(5,5)'
check_bad unknown_key_in_list "job 0 (model.nope=1): unknown config key 'model.nope'" 'model.nope=1,2'
check_bad unknown_option_in_list "unknown model 'xgb'" 'model=lgbm,xgb'
check_bad unbalanced_quote "unbalanced quote" "model.learning_rate='0.1,0.2"
check_bad too_many_values "12 values, more than --max-jobs 10" 'seed=range(0,12)' --max-jobs 10
check_bad too_many_jobs "the sweep has 12 jobs, more than --max-jobs 10" 'seed=range(0,4)' 'model.num_leaves=4,5,6' --max-jobs 10
check_bad interval_in_grid "interval() draws values: use --sweeper random" 'model.learning_rate=interval(0.01,0.1)'
"$BML" run $C --trials 3 >err.txt 2>&1; [ $? -eq 2 ] && grep -q "add -m" err.txt && ok sweep_options_need_m || bad sweep_options_need_m

# -m without a list: one job
"$BML" run -m $C figures=false --sweep-dir one -q >/dev/null 2>&1 && [ "$(wc -l <one/sweep.csv)" -eq 2 ] && ok one_job || bad one_job

# random search: the same seed draws the same trials
R=(--sweeper random --trials 3 'model.learning_rate=log_interval(0.01,0.2)' 'model.num_leaves=int_interval(4,16)' figures=false)
"$BML" run -m $C "${R[@]}" seed=5 --sweep-dir r1 -q >/dev/null 2>&1
"$BML" run -m $C "${R[@]}" seed=5 --sweep-dir r2 -q >/dev/null 2>&1
if [ "$(cut -d, -f1-5 r1/sweep.csv)" = "$(cut -d, -f1-5 r2/sweep.csv)" ] && [ "$(wc -l <r1/sweep.csv)" -eq 4 ] &&
   grep -q "sweeper: random" r1/multirun.yaml; then ok random_reproducible; else bad random_reproducible; cat r1/sweep.csv r2/sweep.csv; fi

# compare on a sweep directory: ranked by the metric
"$BML" compare j1 >cmp.txt 2>&1 && grep -q "4 jobs in j1, sorted by soh.rmse (ascending)" cmp.txt && [ "$(grep -c ' ok ' cmp.txt)" -eq 4 ] &&
  "$BML" compare f1 --sort soh.r2 | tail -1 | grep -q failed && ok compare_sweep || { bad compare_sweep; cat cmp.txt; }

# report on a sweep directory: the ranked jobs and the metric against each swept key, embedded
png() { [ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
if "$BML" report j1 -q && [ -s j1/report.html ] && grep -q "4 jobs, 0 failed; ranked by <b>soh.rmse</b>" j1/report.html &&
   [ "$(grep -o '<img ' j1/report.html | wc -l)" -eq 2 ] && png j1/figures/sweep_soh_rmse_vs_model_learning_rate.png &&
   png j1/figures/sweep_soh_rmse_vs_model_num_leaves.png && "$BML" report f1 --sort soh.r2 --out f1.html -q &&
   grep -q "learning_rate must be &gt; 0" f1.html; then ok report_sweep; else bad report_sweep; fi

# the folds of one study on threads (jobs=2, --jobs 2): the numbers, the models and the printed lines
# (timings aside) are those of the folds one after another
for m in lgbm mlp; do
  extra=""; [ $m = mlp ] && extra="training.epochs=15"
  "$BML" run $C split=loco model=$m $extra figures=false output_dir=folds run_name=$m-1 jobs=1 >f-$m-1.txt 2>&1
  "$BML" run $C split=loco model=$m $extra figures=false output_dir=folds run_name=$m-2 --jobs 2 >f-$m-2.txt 2>&1
  strip() { sed -e 's/ in [0-9.]* ms//; s/fit [0-9.]* ms//; s|folds/[a-z]*-[12]||' "$1"; }
  if cmp -s folds/$m-1/predictions.csv folds/$m-2/predictions.csv && diff -r folds/$m-1/model folds/$m-2/model >/dev/null &&
     diff <(strip f-$m-1.txt) <(strip f-$m-2.txt) >/dev/null; then
    ok "parallel_folds_$m"; else bad "parallel_folds_$m"; diff <(strip f-$m-1.txt) <(strip f-$m-2.txt); fi
done
"$BML" run $C jobs=-1 >err.txt 2>&1; [ $? -eq 1 ] && grep -q "jobs must be a whole number from 0" err.txt && ok bad_jobs || bad bad_jobs

# the learning-rate finder from the command line: the suggestion, its curve and figure
"$BML" lr-find $C model=mlp --out lrf >lrf.txt 2>&1
if [ $? -eq 0 ] && grep -q "suggested learning rate" lrf.txt && [ "$(grep -c ',1$' lrf/lr_find.csv)" -eq 1 ] &&
   head -1 lrf/lr_find.csv | grep -q "^step,lr,smoothed_loss,batch_loss,suggested$" && png lrf/figures/lr_find.png; then ok lr_find_cli; else bad lr_find_cli; cat lrf.txt; fi
# figures=false (resolved with the study plan): the curve, no figure; a bad value is named before anything runs
"$BML" lr-find $C model=mlp figures=false --out lrf0 >lrf0.txt 2>&1
[ $? -eq 0 ] && [ -s lrf0/lr_find.csv ] && [ ! -e lrf0/figures ] && ! grep -q "figures/lr_find.png" lrf0.txt &&
  ok lr_find_no_figures || { bad lr_find_no_figures; cat lrf0.txt; }
"$BML" lr-find $C model=mlp figures=maybe --out lrf1 >err.txt 2>&1
[ $? -eq 1 ] && grep -q "figures must be true or false, got 'maybe'" err.txt && [ ! -e lrf1 ] && ok lr_find_bad_figures ||
  { bad lr_find_bad_figures; cat err.txt; }
"$BML" lr-find $C model=lgbm >err.txt 2>&1; [ $? -eq 1 ] && grep -q "for the neural models" err.txt && ok lr_find_trees || bad lr_find_trees

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
