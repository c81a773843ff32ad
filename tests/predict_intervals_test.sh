#!/usr/bin/env bash
# `batteryml predict` with a run that made prediction intervals (uncertainty=cv_plus|jackknife_plus): on the rows
# the study evaluated it writes the study's predictions.csv intervals (lower_<t>, upper_<t>) bit for bit, from the
# CV+ saved in the run (model/uncertainty/); a run without intervals predicts as before; a corrupted or missing
# interval file fails naming it and writes nothing. With ../shared/data/severson2019 present, the same for the
# cycle-life jackknife+ study. Usage: predict_intervals_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-predict-iv-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   predict_intervals/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL predict_intervals/$1"; [ -n "${2:-}" ] && tail -5 "$2"; }
C="--config-dir $SRC/configs"
D="$SRC/data/oxford-lgm50t"

# same RUN_CSV PREDICT_CSV [FOLD]: every row of the run's predictions.csv (of fold FOLD when given) is in predict's
# output (matched on experiment, cell, set_index) with the same pred_, lower_ and upper_ texts; prints the count
same() {
  awk -F, -v fold="${3:-}" '
    FNR == 1 { for (i = 1; i <= NF; i++) col[FILENAME, $i] = i
               if (NR == 1) for (i = 1; i <= NF; i++) if ($i ~ /^(pred|lower|upper)_/) { names[++nn] = $i; n_lo += $i ~ /^lower_/ }
               next }
    { k = $col[FILENAME, "experiment"] "," $col[FILENAME, "cell"] "," $col[FILENAME, "set_index"]
      v = ""
      for (j = 1; j <= nn; j++) v = v names[j] "=" ((FILENAME, names[j]) in col ? $col[FILENAME, names[j]] : "?") ";" }
    NR == FNR { if (fold == "" || $1 == fold) want[k] = v; next }
    k in want { if (v == want[k] && n_lo > 0) seen[k] = 1; else print "differs: " k ": run " want[k] " predict " v > "/dev/stderr" }
    END { n = 0; for (k in want) { if (!(k in seen)) { print "missing or different: " k > "/dev/stderr"; bad = 1 } n++ }
          print n; exit bad }' "$1" "$2"
}

# the default study (one model) with CV+ over 3 groups
if "$BML" run $C -q output_dir=runs run_name=iv uncertainty=cv_plus uncertainty.groups=3 >iv.log 2>&1 &&
   "$BML" predict --run runs/iv --data "$D" --out iv.csv >p1.log 2>&1 && head -1 iv.csv | grep -q ",pred_soh,lower_soh,upper_soh$" &&
   n=$(same runs/iv/predictions.csv iv.csv 2>same1.log) && [ "$n" -gt 0 ]; then ok predict_gives_the_study_intervals
else cat same1.log 2>/dev/null | head -3; bad predict_gives_the_study_intervals p1.log; fi

# a LOCO run: each fold saved its CV+ beside its model (--fold)
if "$BML" run $C -q output_dir=runs run_name=loco split=loco model=ridge data.experiment=5 uncertainty=cv_plus \
     uncertainty.groups=3 explain.enabled=false figures=false >loco.log 2>&1 &&
   "$BML" predict --run runs/loco --fold E5-B --data "$D" --out loco.csv >p2.log 2>&1 &&
   n=$(same runs/loco/predictions.csv loco.csv E5-B 2>same2.log) && [ "$n" -gt 0 ]; then ok predict_loco_fold_intervals
else cat same2.log 2>/dev/null | head -3; bad predict_loco_fold_intervals p2.log; fi

# a run without intervals: no interval columns, nothing asked of model/uncertainty
if "$BML" run $C -q output_dir=runs run_name=plain model=ridge figures=false explain.enabled=false >plain.log 2>&1 &&
   [ ! -e runs/plain/model/uncertainty ] && "$BML" predict --run runs/plain --data "$D" --out plain.csv >p3.log 2>&1 &&
   head -1 plain.csv | grep -q ",pred_soh$"; then ok no_intervals_as_before
else bad no_intervals_as_before p3.log; fi

# broken interval files: an error naming the file, non-zero exit, no output
cp -r runs/iv flipped && sed -i '0,/"n_train":/s/"n_train":\t\?\([0-9]\)/"n_train":\t9\1/' flipped/model/uncertainty/cvplus.json
if ! cmp -s runs/iv/model/uncertainty/cvplus.json flipped/model/uncertainty/cvplus.json &&
   ! "$BML" predict --run flipped --data "$D" --out f.csv >f.log 2>&1 && [ ! -e f.csv ] &&
   grep -q "flipped/model/uncertainty/cvplus.json" f.log && grep -qi "checksum" f.log; then ok corrupted_interval_file_named
else bad corrupted_interval_file_named f.log; fi
cp -r runs/iv missing && rm missing/model/uncertainty/cvplus.json
if ! "$BML" predict --run missing --data "$D" --out m.csv >m.log 2>&1 && [ ! -e m.csv ] &&
   grep -q "missing/model/uncertainty/cvplus.json: missing" m.log; then ok missing_interval_file_named
else bad missing_interval_file_named m.log; fi
cp -r runs/iv nogroup && rm nogroup/model/uncertainty/group_1/model.json
if ! "$BML" predict --run nogroup --data "$D" --out g.csv >g.log 2>&1 && [ ! -e g.csv ] &&
   grep -q "nogroup/model/uncertainty/group_1/model.json" g.log; then ok missing_group_model_named
else bad missing_group_model_named g.log; fi

# the cycle-life jackknife+ study on the published data (Severson et al. 2019)
S="$SRC/../shared/data/severson2019"
if [ -f "$S/cells.csv" ]; then
  if "$BML" run $C -q data=qdlin data.path="$S" pipeline=delta_q split=predefined model=ols uncertainty=jackknife_plus \
       output_dir=runs run_name=jk figures=false >jk.log 2>&1 &&
     "$BML" predict --run runs/jk --data "$S" --out jk.csv >p4.log 2>&1 &&
     head -1 jk.csv | grep -q ",lower_log10_cycle_life,upper_log10_cycle_life$" &&
     n=$(same runs/jk/predictions.csv jk.csv 2>same4.log) && [ "$n" -eq 43 ]; then ok severson_jackknife_plus_predict
  else cat same4.log 2>/dev/null | head -3; bad severson_jackknife_plus_predict p4.log; fi
else
  echo "skipped: $S not present (the Severson et al. 2019 Qdlin data)"
fi
echo "predict_intervals: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
