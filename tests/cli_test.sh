#!/usr/bin/env bash
# End-to-end tests of the batteryml program: the default study, predict on the saved run, features,
# list, help, and clear one-line errors with non-zero exits for bad input.
# Usage: cli_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   cli/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL cli/$1"; }

# expect_fail NAME EXPECTED_TEXT CMD...: non-zero exit, one-line error containing the text, no crash
expect_fail() {
  local name=$1 want=$2
  shift 2
  "$@" >out.txt 2>err.txt
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "$want" err.txt; then ok "$name"; else
    bad "$name"; echo "  exit $rc; stderr:"; sed 's/^/    /' err.txt; fi
}

# the default study
if "$BML" run --config-dir "$SRC/configs" output_dir=runs run_name=default >run.log 2>&1 &&
   grep -q '^\[7/7\] track' run.log && grep -q 'RMSE' run.log && [ -f runs/default/metrics.json ]; then
  ok run_default; else bad run_default; cat run.log; fi
missing=0
for f in config.yaml metrics.json predictions.csv shap.csv importance.csv model/model.json model/preprocess.json; do
  [ -s "runs/default/$f" ] || { echo "  missing runs/default/$f"; missing=1; }
done
[ $missing -eq 0 ] && ok run_files || bad run_files

# predict on the validation cells reproduces the run's predictions exactly
mkdir -p newcells
cp "$SRC/data/oxford-lgm50t/Expt 5 - cell D (25degC) - Processed Data.csv" "$SRC/data/oxford-lgm50t/Expt 5 - cell E (25degC) - Processed Data.csv" newcells/
if "$BML" predict --run runs/default --data newcells --out pred.csv >pred.log 2>&1 && grep -q rmse pred.log; then
  a=$(cut -d, -f3- runs/default/predictions.csv | sort)
  b=$(sort pred.csv)
  if [ "$a" = "$b" ]; then ok predict_reproduces; else bad predict_reproduces; diff <(echo "$a") <(echo "$b") | head; fi
else bad predict_reproduces; cat pred.log; fi

# re-running the resolved config reproduces the metrics
if "$BML" run --config-file runs/default/config.yaml --config-dir "$SRC/configs" run_name=again -q >/dev/null 2>&1 &&
   cmp -s <(grep -v '"load"\|"pipeline":\s*[0-9]\|"fit"\|"predict"\|"explain"' runs/default/metrics.json | head -60) \
          <(grep -v '"load"\|"pipeline":\s*[0-9]\|"fit"\|"predict"\|"explain"' runs/again/metrics.json | head -60) &&
   cmp -s runs/default/predictions.csv runs/again/predictions.csv; then ok rerun_resolved_config; else bad rerun_resolved_config; fi

# features export
if "$BML" features --config-dir "$SRC/configs" --out feats.csv -q && [ "$(wc -l <feats.csv)" -eq 129 ] &&
   head -1 feats.csv | grep -q '^experiment,cell,temperature_c,set_index,cycle,days,throughput_ah,charge_throughput_ah'; then
  ok features; else bad features; fi

# listing and help
"$BML" list models --config-dir "$SRC/configs" | grep -q 'learning_rate' && ok list_models || bad list_models
"$BML" list splits | grep -q loco && ok list_splits || bad list_splits
"$BML" list pipelines | grep -q summary_set && ok list_pipelines || bad list_pipelines
"$BML" --help | grep -q 'predict' && "$BML" help run | grep -q 'metrics.json' && "$BML" predict --help | grep -q -- '--fold' &&
  ok help || bad help

# bad input: clear errors, non-zero exit, nothing half-written
C="--config-dir $SRC/configs"
expect_fail missing_path "data/none: no such file or directory" "$BML" run $C data.path=data/none output_dir=runs
expect_fail unknown_model "unknown model 'xgb' (valid: acla, cnn_lstm, elastic_net, elastic_net_cv, lasso, lgbm, lstm_attn, mlp, neural_ode, ols, pcr, pls, ridge)" "$BML" run $C model=xgb
expect_fail unknown_split "unknown split 'kfold' (valid: " "$BML" run $C split=kfold
"$BML" run $C explain=false figures=false output_dir=noexp run_name=noexplain -q >/dev/null 2>&1 && [ -f noexp/noexplain/predictions.csv ] &&
  [ ! -e noexp/noexplain/shap.csv ] && grep -q "enabled: false" noexp/noexplain/config.yaml && ok explain_false || bad explain_false
expect_fail nested_key_refused "config key 'model.foo.bar': sections hold plain keys" "$BML" run $C +model.foo.bar=1 output_dir=runs
expect_fail basytec_step_range "data.step must be an integer from 0 to" "$BML" run $C data=basytec pipeline=ica_peaks pipeline.target=capacity data.step=99999999999 output_dir=runs
expect_fail unknown_key "unknown config key 'model.lr'" "$BML" run $C model.lr=0.1
expect_fail negative_lr "learning_rate must be > 0" "$BML" run $C model.learning_rate=-0.5 output_dir=runs
expect_fail zero_estimators "n_estimators must be >= 1" "$BML" run $C model.n_estimators=0 output_dir=runs
mkdir -p badcells
printf 'Ageing Sets,SoH\n0,1\n' >"badcells/Expt 5 - cell Z (25degC) - Processed Data.csv"
expect_fail wrong_columns "missing Performance Summary column(s) 'Ageing Cycles'" "$BML" run $C data.path=badcells output_dir=runs
: >"badcells/Expt 5 - cell Z (25degC) - Processed Data.csv"
expect_fail empty_file "empty file" "$BML" run $C data.path=badcells output_dir=runs
head -1 "$SRC/data/oxford-lgm50t/Expt 5 - cell A (10degC) - Processed Data.csv" >"badcells/Expt 5 - cell Z (25degC) - Processed Data.csv"
expect_fail header_only "header only, no data rows" "$BML" run $C data.path=badcells output_dir=runs
sed '4s/^2,156,/2,1x6,/' "$SRC/data/oxford-lgm50t/Expt 5 - cell A (10degC) - Processed Data.csv" >"badcells/Expt 5 - cell Z (25degC) - Processed Data.csv"
expect_fail bad_number "cell Z (25degC) - Processed Data.csv:4:2: cannot parse '1x6'" "$BML" run $C data.path=badcells output_dir=runs
sed '3s/,0\.943355484,/,,/' "$SRC/data/oxford-lgm50t/Expt 5 - cell A (10degC) - Processed Data.csv" >"badcells/Expt 5 - cell Z (25degC) - Processed Data.csv"
expect_fail missing_target ":3:19: target 'SoH' is missing" "$BML" run $C data.path=badcells output_dir=runs
head -c 3000 /dev/urandom >"badcells/Expt 5 - cell Z (25degC) - Processed Data.csv"
"$BML" run $C data.path=badcells output_dir=runs >/dev/null 2>err.txt; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(wc -l <err.txt)" -ge 1 ] && ok garbage_file || { bad garbage_file; cat err.txt; }
expect_fail predict_no_run "no such run directory" "$BML" predict --run nowhere --data newcells
expect_fail predict_usage "predict needs --run RUN_DIR and --data PATH" "$BML" predict --run runs/default
expect_fail bad_override "not of the form key=value" "$BML" run $C =x
expect_fail unknown_command "unknown command" "$BML" train
# the failed runs left only the finished ones behind
if [ "$(ls -A runs | tr '\n' ' ')" = "again default " ]; then ok nothing_half_written; else bad nothing_half_written; ls -A runs; fi

# issue #10: configuration and arguments
expect_fail experiment_out_of_range "data.experiment: 9 is out of range (1 to 5)" "$BML" run $C 'data.experiment=[9]' output_dir=runs
expect_fail experiment_huge "data.experiment: 99999999999999 is out of range" "$BML" run $C data.experiment=99999999999999 output_dir=runs
expect_fail experiment_empty "data.experiment: the list is empty" "$BML" run $C 'data.experiment=[]' output_dir=runs
expect_fail synth_experiment "data.experiment: 15 is out of range" "$BML" synth-curves $C --out synth 'data.experiment=[15]'
[ ! -e synth ] && ok synth_nothing_written || bad synth_nothing_written
expect_fail synth_points "--points must be an integer" "$BML" synth-curves $C --out synth --points 12abc
# a saved config.yaml loads again, whatever the values hold
if "$BML" run $C 'run_name=rt1:' "+data.note=$(printf 'a #b\tc\r')" figures=false output_dir=rt -q >/dev/null 2>err.txt &&
   "$BML" config --config-file 'rt/rt1:/config.yaml' $C >again.yaml 2>>err.txt &&
   cmp -s 'rt/rt1:/config.yaml' again.yaml; then ok config_file_round_trip; else bad config_file_round_trip; cat err.txt; fi
# --config-file is checked as overrides are: file, line, column and key
sed 's/^seed: 42$/seed: 42\nbogus_key: 1/' 'rt/rt1:/config.yaml' >bogus.yaml
expect_fail config_file_unknown_key "bogus.yaml:3:1: unknown config key or group 'bogus_key'" "$BML" run --config-file bogus.yaml $C
sed 's/^  epochs: 200$/  epochs: 200\n  bogus_t: 3/' 'rt/rt1:/config.yaml' >bogus.yaml
expect_fail config_file_unknown_section_key "bogus.yaml:16:3: unknown config key 'training.bogus_t'" "$BML" run --config-file bogus.yaml $C
sed 's/^seed: 42$/seed: {a: 1}/' 'rt/rt1:/config.yaml' >bogus.yaml
expect_fail config_file_seed_mapping "config key 'seed' takes a value, not a mapping" "$BML" run --config-file bogus.yaml $C
sed 's/^seed: 42$/seed: 42\nseed: 7/' 'rt/rt1:/config.yaml' >bogus.yaml
expect_fail config_file_duplicate "bogus.yaml:3:1: duplicate key 'seed'" "$BML" run --config-file bogus.yaml $C
{ cat 'rt/rt1:/config.yaml'; printf -- '---\nseed: 7\n'; } >bogus.yaml
expect_fail config_file_two_documents "a second YAML document" "$BML" run --config-file bogus.yaml $C
# run directories named with '=' are paths for plot, report and compare; nothing is dropped
cp -r runs/default 'runs2=x'
if "$BML" report 'runs2=x' -q && [ -s 'runs2=x/report.html' ]; then ok report_path_with_equals; else bad report_path_with_equals; fi
if "$BML" compare runs/default 'runs2=x' >cmp.txt 2>err.txt && grep -qF 'runs2=x' cmp.txt; then ok compare_path_with_equals
else bad compare_path_with_equals; cat err.txt; fi
expect_fail compare_missing_run "nothere=1" "$BML" compare runs/default nothere=1
expect_fail config_positional "config takes overrides (key=value), not: stray" "$BML" config $C stray
expect_fail unused_option "run does not take --out" "$BML" run $C --out x.csv
expect_fail option_twice "option given twice: --out" "$BML" features $C --out a.csv --out b.csv
if [ "$(ls -A runs | tr '\n' ' ')" = "again default " ] && [ ! -e a.csv ]; then ok config_errors_write_nothing
else bad config_errors_write_nothing; ls -A runs; fi


# issue 19: a FIFO or a device where a file belongs is refused at once, naming it, never waited on or read
# without end (each command under `timeout`: a hang fails the test)
mkfifo fifo.yaml
expect_fail config_file_fifo "fifo.yaml: is a FIFO, not a regular file: refused" timeout 20 "$BML" run --config-file fifo.yaml $C
ln -s /dev/zero zero.yaml
expect_fail config_file_device "zero.yaml: is a device, not a regular file: refused" timeout 20 "$BML" run --config-file zero.yaml $C
cp -r runs/default fiforun && rm fiforun/metrics.json && mkfifo fiforun/metrics.json
expect_fail report_metrics_fifo "fiforun/metrics.json: is a FIFO" timeout 20 "$BML" report fiforun
expect_fail compare_metrics_fifo "fiforun/metrics.json: is a FIFO" timeout 20 "$BML" compare runs/default fiforun
rm fiforun/metrics.json && ln -s /dev/zero fiforun/metrics.json
expect_fail report_metrics_device "fiforun/metrics.json: is a device" timeout 20 "$BML" report fiforun
mkfifo lab.csv
expect_fail structure_fifo "lab.csv: a FIFO, not a regular file or a folder: refused" timeout 20 "$BML" structure lab.csv --out labout
expect_fail cycler_fifo "lab.csv: a FIFO, not a regular file or a folder: refused" timeout 20 "$BML" run $C data=cycler data.path=lab.csv
# predict: a missing or non-regular model/model.json is said so (it was taken for a LOCO run)
cp -r runs/default nomodel && rm nomodel/model/model.json
D5="$SRC/data/oxford-lgm50t/Expt 5 - cell D (25degC) - Processed Data.csv"
expect_fail predict_model_missing "nomodel/model/model.json: missing: the run holds no saved model" "$BML" predict --run nomodel --data "$D5"
mkfifo nomodel/model/model.json
expect_fail predict_model_fifo "nomodel/model/model.json: not a regular file: refused" timeout 20 "$BML" predict --run nomodel --data "$D5"

# the linear models: a LOCO study with SHAP values and importance, and predict with its first fold's model
if "$BML" run --config-dir "$SRC/configs" model=elastic_net_cv split=loco figures=false output_dir=runs run_name=enet >enet.log 2>&1 &&
   [ -s runs/enet/shap.csv ] && [ -s runs/enet/importance.csv ] && [ -s runs/enet/model/E5-A/model.json ] &&
   grep -q '"l1_ratio"' enet.log; then ok run_elastic_net_cv_loco; else bad run_elastic_net_cv_loco; cat enet.log; fi
"$BML" list models --config-dir "$SRC/configs" | grep -q '^  elastic_net_cv' && ok list_linear_models || bad list_linear_models
expect_fail pls_too_many_components "n_components=9 must be from 1 to the 5 features" "$BML" run $C model=pls model.n_components=9


# SIGINT / SIGTERM stop a study through the library's cancel flag: one message, exit 128 + signal, nothing written
for sig in INT TERM; do
  rm -rf cancelled
  "$BML" run $C output_dir=cancelled model=mlp training.epochs=10000000 training.patience=0 figures=false >c.out 2>c.err &
  pid=$!
  for _ in $(seq 100); do grep -q '^\[4/7\]' c.out && break; sleep 0.1; done
  sleep 0.3
  kill -$sig $pid
  wait $pid
  rc=$?
  want=$([ $sig = INT ] && echo 130 || echo 143)
  if [ $rc -eq "$want" ] && grep -q "cancelled by SIG$sig" c.err && [ -z "$(ls -A cancelled 2>/dev/null)" ]; then ok "run_sig$sig"
  else bad "run_sig$sig"; echo "  exit $rc"; cat c.err; ls -A cancelled; fi
done


# figures are drawn by a child process: PLplot aborting (here made to, through LD_PRELOAD of its plinit) fails the
# study cleanly, with nothing written, instead of killing the program (issue 19: GLib/fontconfig aborts under
# memory limits took the study, or a Python interpreter, with them)
printf '#include <stdlib.h>\nvoid c_plinit(void) { abort(); }\n' >plabort.c
if cc -shared -fPIC -o plabort.so plabort.c 2>/dev/null; then
  rm -rf figcrash
  expect_fail figures_crash_contained "the drawing process was killed by signal 6" \
    env LD_PRELOAD="$PWD/plabort.so" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    "$BML" run $C output_dir=figcrash
  [ -z "$(ls -A figcrash 2>/dev/null)" ] && ok figures_crash_nothing_written || { bad figures_crash_nothing_written; ls -A figcrash; }
  expect_fail plot_crash_contained "the drawing process was killed by signal 6" \
    env LD_PRELOAD="$PWD/plabort.so" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$BML" plot runs/default
else
  echo "skip cli/figures_crash_contained: no C compiler for the PLplot shim"
fi

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
