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

# the cycle-life jackknife+ study on the published data (Severson et al. 2019): predict writes one row per cell,
# file, cell, the life in cycles (true_, pred_, lower_, upper_cycle_life) and the model's log10 values, which are the
# study's predictions.csv numbers bit for bit
S="$SRC/../shared/data/severson2019"
[ -f "$S/cells.csv" ] || S=/work/shared/data/severson2019
CL_HEADER="file,cell,true_cycle_life,pred_cycle_life,lower_cycle_life,upper_cycle_life,true_log10_cycle_life,pred_log10_cycle_life,lower_log10_cycle_life,upper_log10_cycle_life"
# cycles FILE: every row's cycle columns are 10^ its log10 columns (to 1e-12), lower <= prediction <= upper in both
# scales, the cell is the file's path without .csv ('/' as '_'), a known life is 10^true_log10; prints the rows
cycles() {
  awk -F, -v hdr="$CL_HEADER" '
    function close_to(a, b) { d = a - b; if (d < 0) d = -d; return d <= 1e-12 * (b < 0 ? -b : b) }
    NR == 1 { if ($0 != hdr) { print "header: " $0 > "/dev/stderr"; bad = 1 } next }
    { id = $1; sub(/\.csv$/, "", id); gsub(/\//, "_", id)
      if (id != $2) { print "cell " $2 " for file " $1 > "/dev/stderr"; bad = 1 }
      for (k = 4; k <= 6; k++) if ($k == "" || !close_to($k, 10 ^ $(k + 4))) { print $2 ": column " k " " $k " is not 10^" $(k + 4) > "/dev/stderr"; bad = 1 }
      if (($3 == "") != ($7 == "") || ($3 != "" && !close_to($3, 10 ^ $7))) { print $2 ": life " $3 " vs 10^" $7 > "/dev/stderr"; bad = 1 }
      if (!($5 <= $4 && $4 <= $6 && $9 <= $8 && $8 <= $10)) { print $2 ": not lower <= pred <= upper" > "/dev/stderr"; bad = 1 }
      n++ }
    END { print n + 0; exit bad }' "$1"
}
if [ -f "$S/cells.csv" ]; then
  if "$BML" run $C -q data=qdlin data.path="$S" pipeline=delta_q split=predefined model=ols uncertainty=jackknife_plus \
       output_dir=runs run_name=jk figures=false >jk.log 2>&1 &&
     "$BML" predict --run runs/jk --data "$S" --out jk.csv >p4.log 2>&1 &&
     n=$(cycles jk.csv 2>same4.log) && [ "$n" -eq 84 ] &&
     n=$(awk -F, 'FNR == 1 { next } NR == FNR { want[$4] = $11 "," $12 "," $13; next }
                  $2 in want { if ($8 "," $9 "," $10 == want[$2]) same++; else print "differs: " $2 > "/dev/stderr" }
                  END { print same + 0 }' runs/jk/predictions.csv jk.csv 2>>same4.log) && [ "$n" -eq 43 ] &&
     awk -F, 'NR > 1 && $1 == "test1/cell22.csv" && $3 == "148" { f = 1 } END { exit !f }' jk.csv &&
     grep -q '"cycle_life":' p4.log; then ok severson_jackknife_plus_predict
  else cat same4.log 2>/dev/null | head -3; bad severson_jackknife_plus_predict p4.log; fi

  # a folder of new cells, no index: every *.csv a cell of unknown life (empty truth, no metrics), in natural name
  # order, predicted as the same cells are in the published folder
  mkdir new && cp "$S/test1/cell1.csv" new/cell1.csv && cp "$S/test1/cell2.csv" new/cell2.csv && cp "$S/test1/cell10.csv" new/cell10.csv
  if "$BML" predict --run runs/jk --data new --out new.csv >p5.log 2>&1 && grep -q "no metrics" p5.log &&
     n=$(cycles new.csv 2>same5.log) && [ "$n" -eq 3 ] &&
     [ "$(cut -d, -f1-3 new.csv | tail -n +2 | tr '\n' ' ')" = "cell1.csv,cell1, cell2.csv,cell2, cell10.csv,cell10, " ] &&
     n=$(awk -F, 'FNR == 1 { next } NR == FNR { k = $1; sub(/^test1\//, "", k); want[k] = $4 "," $5 "," $6; next }
                  want[$1] == $4 "," $5 "," $6 { same++ } END { print same + 0 }' jk.csv new.csv) && [ "$n" -eq 3 ]; then
    ok severson_predict_folder_without_index
  else cat same5.log 2>/dev/null | head -3; bad severson_predict_folder_without_index p5.log; fi

  # such a folder cannot be trained on
  if ! "$BML" run $C -q data=qdlin data.path=new pipeline=delta_q split=predefined model=ols output_dir=runs \
       run_name=nolife >nolife.log 2>&1 && grep -q "no cell with a known cycle life" nolife.log && [ ! -e runs/nolife ]; then
    ok severson_run_without_lives_refused
  else bad severson_run_without_lives_refused nolife.log; fi

  # a cell file of the wrong shape, a field that is no number: an error naming the file (and line, column), no file
  cp -r new short && head -500 "$S/test1/cell3.csv" >short/cell3.csv
  if ! "$BML" predict --run runs/jk --data short --out short.csv >p6.log 2>&1 && [ ! -e short.csv ] &&
     grep -q "short/cell3.csv: 500 rows x 99 columns, expected 1000 x 99" p6.log; then ok severson_predict_wrong_shape_named
  else bad severson_predict_wrong_shape_named p6.log; fi
  cp -r new word && sed '7s/^[^,]*,/1.0,x9,/' "$S/test1/cell3.csv" >word/cell3.csv
  if ! "$BML" predict --run runs/jk --data word --out word.csv >p7.log 2>&1 && [ ! -e word.csv ] &&
     grep -q "word/cell3.csv:7:2: 'x9' is not a finite number" p7.log; then ok severson_predict_bad_number_named
  else bad severson_predict_bad_number_named p7.log; fi
else
  echo "skipped: the Severson et al. 2019 Qdlin data are not present ($SRC/../shared/data/severson2019, /work/shared/data/severson2019)"
fi
echo "predict_intervals: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
