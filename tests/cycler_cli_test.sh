#!/usr/bin/env bash
# End-to-end tests of raw cycler data from the command line: `batteryml structure` on the shipped exports
# of four vendors, all-or-nothing output on a bad file, and a whole study (data=cycler, split=loco) on a
# folder of Maccor exports made from the real one by tools/cycler_repeat.sh.
# Usage: cycler_cli_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-cycler-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   cycler_cli/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL cycler_cli/$1"; }
C="--config-dir $SRC/configs"

# structure: every shipped export, companions left alone
if "$BML" structure "$SRC/tests/data/cyclers" --out sum >structure.log 2>&1 &&
   grep -q 'arbin, 287 rows' structure.log && grep -q 'maccor, 332 rows' structure.log &&
   grep -q 'biologic, 9999 rows, 3 cycles (2 complete)' structure.log && grep -q 'novonix, 3942 rows' structure.log &&
   grep -q '5 cell(s) written' structure.log &&
   grep -q '^PredictionDiagnostics_000151_test,maccor,37,0,3,769267.24,3.33,[0-9]*,,0.0236349063,' sum/PredictionDiagnostics_000151_test_cycles.csv &&
   [ "$(wc -l <sum/test_loopsnewoutput_MB_CE1_short10k_curves.csv)" -eq 301 ]; then
  ok structure_folder; else bad structure_folder; cat structure.log; ls sum; fi

# --jobs: the same files, the same lines (but the time and rate) and the same messages as one at a time,
# whichever file fails: a truncated export among good ones, two files of one cell name (the first in file
# order reported, nothing written)
mask() { sed -e 's/ in [0-9.]* s ([0-9]* MB\/s)//' -e "s/ to $1 / to OUT /" "$2"; }
"$BML" structure "$SRC/tests/data/cyclers" --out j1 >j1.log 2>&1; r1=$?
"$BML" structure "$SRC/tests/data/cyclers" --out j4 --jobs 4 >j4.log 2>&1; r4=$?
if [ $r1 -eq 0 ] && [ $r4 -eq 0 ] && diff -r j1 j4 >/dev/null && diff <(mask j1 j1.log) <(mask j4 j4.log) >/dev/null; then
  ok structure_jobs_same; else bad structure_jobs_same; diff <(mask j1 j1.log) <(mask j4 j4.log); fi
mkdir -p jbad jdup
cp "$SRC"/tests/data/cyclers/*.052 "$SRC"/tests/data/cyclers/test_*.csv jbad/
head -c 30000 "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" >jbad/PredictionDiagnostics_000151_zcut.052
cp "$SRC"/tests/data/cyclers/*.052 jdup/ && cp jdup/PredictionDiagnostics_000151_test.052 jdup/PredictionDiagnostics_000151_test.txt
good=1
for d in jbad jdup; do
  for j in 1 2 4; do
    if "$BML" structure $d --out ${d}_out$j --jobs $j >$d$j.log 2>$d$j.err || [ -e ${d}_out$j ]; then good=0; echo "  $d --jobs $j: wrote"; fi
  done
  for j in 2 4; do
    cmp -s $d$j.err ${d}1.err && diff <(mask x $d$j.log) <(mask x ${d}1.log) >/dev/null || { good=0; echo "  $d --jobs $j differs"; }
  done
done
grep -q 'zcut.052:[0-9]*: truncated' jbad1.err && grep -q "two files of one cell name 'PredictionDiagnostics_000151_test'" jdup1.err || good=0
[ -z "$(ls -A . | grep '^\.partial')" ] || good=0
[ $good = 1 ] && ok structure_jobs_failures || { bad structure_jobs_failures; cat jbad1.err jdup1.err; }
"$BML" structure jbad --out x --jobs 0 >/dev/null 2>jz.err; [ $? -eq 2 ] && grep -q -- "--jobs" jz.err &&
  ok structure_jobs_bad_count || bad structure_jobs_bad_count

# a folder with one file of no known format: an error naming it, and nothing written
mkdir -p mixed
cp "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" mixed/
printf 'a,b\n1,2\n' >mixed/notes.csv
if ! "$BML" structure mixed --out mixed_out >m.log 2>&1 && grep -q 'mixed/notes.csv:1: not a cycler export' m.log &&
   [ ! -e mixed_out ]; then ok structure_bad_file_nothing_written; else bad structure_bad_file_nothing_written; cat m.log; fi

# a truncated export: file and line, non-zero exit, nothing written
head -c 20000 "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" >cut.052
if ! "$BML" structure cut.052 --out cut_out >c.log 2>&1 && grep -q 'cut.052:[0-9]*: truncated' c.log && [ ! -e cut_out ]; then
  ok structure_truncated; else bad structure_truncated; cat c.log; fi

# a forced format that does not fit names the missing column
if ! "$BML" structure "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" --out f_out format=arbin >f.log 2>&1 &&
   grep -q 'arbin header without a current column' f.log; then ok structure_forced_format; else bad structure_forced_format; cat f.log; fi

# a study on a folder of raw exports: four cells, twelve cycles each, leave one cell out
mkdir -p lab
for c in 1 2 3 4; do
  "$SRC/tools/cycler_repeat.sh" "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" 12 "0.00$c" >"lab/cell$c.052"
done
if "$BML" run $C data=cycler data.path=lab split=loco output_dir=runs run_name=lab model.min_child_samples=2 >run.log 2>&1 &&
   grep -q '4 cells, 48 rows from lab (cycler' run.log && grep -q '^\[7/7\] track' run.log && [ -s runs/lab/metrics.json ] &&
   [ "$(grep -c ',cell[1-4],' runs/lab/predictions.csv)" -eq 48 ]; then
  ok study_loco_on_raw_exports; else bad study_loco_on_raw_exports; cat run.log; fi

# a sequence model over the cycles of each cell
if "$BML" run $C data=cycler data.path=lab pipeline=latent_ode_seq model=lstm_attn split=loco training.epochs=2 figures=false \
     output_dir=runs run_name=seq >seq.log 2>&1 && grep -q '^\[7/7\] track' seq.log && [ -s runs/seq/metrics.json ]; then
  ok study_latent_ode_seq_on_raw_exports; else bad study_latent_ode_seq_on_raw_exports; cat seq.log; fi

# ICA features on the slow cycles' measured discharge curves (the BioLogic cell cycles at about C/7)
if "$BML" features $C --out ica.csv data=cycler data.path="$SRC/tests/data/cyclers/test_loopsnewoutput_MB_CE1_short10k.csv" \
     'data.ica_cycles=c_rate<0.2' pipeline=ica_peaks pipeline.cache=false >ica.log 2>&1 && [ "$(wc -l <ica.csv)" -eq 3 ]; then
  ok ica_features_on_slow_cycles; else bad ica_features_on_slow_cycles; cat ica.log; fi
if ! "$BML" features $C --out ica2.csv data=cycler data.path=lab 'data.ica_cycles=c_rate<0.2' pipeline=ica_peaks >ica2.log 2>&1 &&
   grep -q 'no cycle with a mean |current| at most C/5' ica2.log; then ok ica_no_slow_cycles; else bad ica_no_slow_cycles; cat ica2.log; fi

# cells from the metadata: the four copies carry one barcode, so they would be one cell twice
if ! "$BML" run $C data=cycler data.path=lab data.cell_from=barcode output_dir=runs >b.log 2>&1 &&
   grep -q "two files of one cell '00001E'" b.log; then ok cell_from_barcode; else bad cell_from_barcode; cat b.log; fi

# data=cycler with a bad key value names it
if ! "$BML" run $C data=cycler data.path=lab data.grid=1.5 output_dir=runs >g.log 2>&1 && grep -q 'data.grid must be an integer' g.log; then
  ok bad_grid; else bad bad_grid; cat g.log; fi
# a folder loaded on the run's cores: the same dataset, predictions and load line at --jobs 1 and 2; a truncated
# file among good ones fails with the same message, no run folder
"$BML" run $C --jobs 1 -q data=cycler data.path=lab split=loco output_dir=runs run_name=lj1 model.min_child_samples=2 >lj1.log 2>&1
"$BML" run $C --jobs 2 -q data=cycler data.path=lab split=loco output_dir=runs run_name=lj2 model.min_child_samples=2 >lj2.log 2>&1
if cmp -s runs/lj1/predictions.csv runs/lj2/predictions.csv && [ -s runs/lj1/predictions.csv ]; then ok load_jobs_same; else
  bad load_jobs_same; cat lj1.log lj2.log; fi
mkdir -p labcut && cp lab/*.052 labcut/ && head -c 30000 lab/cell2.052 >labcut/cell2.052
for j in 1 2; do "$BML" run $C --jobs $j data=cycler data.path=labcut split=loco output_dir=runs run_name=lc$j >lc$j.log 2>&1; echo $? >lc$j.rc; done
if [ "$(cat lc1.rc)" = 1 ] && [ "$(cat lc2.rc)" = 1 ] && grep -q 'cell2.052:[0-9]*: truncated' lc1.log &&
   diff <(grep error lc1.log) <(grep error lc2.log) >/dev/null && [ ! -e runs/lc1 ] && [ ! -e runs/lc2 ]; then
  ok load_jobs_failure; else bad load_jobs_failure; cat lc1.log lc2.log; fi

# data.capacity_rule (BEEP's largest step) in a study: recorded in config.yaml; a bad one named before anything runs
"$BML" run $C -q data=cycler data.path=lab data.capacity_rule=largest_step split=loco output_dir=runs run_name=rule >r.log 2>&1 &&
  grep -q "capacity_rule: largest_step" runs/rule/config.yaml && ok study_capacity_rule || { bad study_capacity_rule; cat r.log; }
if ! "$BML" run $C data=cycler data.path=lab data.capacity_rule=max output_dir=runs run_name=rule2 >r2.log 2>&1 &&
   grep -q "data.capacity_rule must be sum or largest_step, got 'max'" r2.log && [ ! -e runs/rule2 ]; then
  ok study_capacity_rule_bad; else bad study_capacity_rule_bad; cat r2.log; fi

# BEEP's largest-step rule (capacity_rule=largest_step): a cycle with a pulse step repeated counts its largest step
mkdir -p hppc
printf "Today's Date 01/02/2020  Date of Test:\t01/01/2020\nRec#\tCyc#\tStep\tTest (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\n\
1\t1\t1\t0\t0\t0\t1\t3.5\tC\n2\t1\t1\t3600\t1.0\t3.7\t1\t4.1\tC\n3\t1\t2\t3636\t0.01\t0.037\t1\t3.9\tD\n\
4\t1\t3\t3736\t0\t0\t0\t4.0\tR\n5\t1\t2\t3772\t0.01\t0.037\t1\t3.9\tD\n6\t1\t4\t5572\t0.5\t1.85\t1\t3.2\tD\n" >hppc/h.001
if "$BML" structure hppc --out hppc-sum --quiet >hs.log 2>&1 && grep -q '^h,maccor,1,0,3,0,5572,,1,0.52,3.7,1.924,.*,1,0.52,ok$' hppc-sum/h_cycles.csv &&
   "$BML" structure hppc --out hppc-max capacity_rule=largest_step --quiet >hm.log 2>&1 &&
   grep -q '^h,maccor,1,0,3,0,5572,,1,0.5,3.7,1.85,.*,1,0.5,ok$' hppc-max/h_cycles.csv; then
  ok capacity_rule_largest_step; else bad capacity_rule_largest_step; cat hs.log hm.log hppc-*/h_cycles.csv; fi
if ! "$BML" structure hppc --out hppc-bad capacity_rule=max >hb.log 2>&1 && grep -q 'capacity_rule must be sum or largest_step' hb.log; then
  ok capacity_rule_bad; else bad capacity_rule_bad; cat hb.log; fi

# a Maccor test split over numbered parts (P.001, P.002, P.003: cycles 1-2 | 3 and 150 rows of 4 | the rest of 4) is
# one cell: the folder's summary is the whole export's (but first_line, the line in the part a cycle begins in, which
# the capacity warning names with the part); a part not there (P.001 and P.003) fails naming it, and nothing is written
mkdir -p mparts/whole mparts/on mparts/gap
bash "$SRC/tools/cycler_repeat.sh" "$SRC/tests/data/cyclers/PredictionDiagnostics_000151_test.052" 4 0.01 >mparts/whole/P.txt
awk -F'\t' 'NR <= 2 { h = h $0 "\n"; next }
  NR == 3 { for (i = 1; i <= 3; i++) printf "%s", h > ("mparts/on/P.00" i) }
  { c = $2; k[c]++; print > ("mparts/on/P.00" (c <= 2 ? 1 : c == 3 || k[c] <= 150 ? 2 : 3)) }' mparts/whole/P.txt
cp mparts/on/P.001 mparts/on/P.003 mparts/gap/
if "$BML" structure mparts/whole --out mp-w >mpw.log 2>&1 && "$BML" structure mparts/on --out mp-on >mpo.log 2>&1 &&
   grep -q '^1 cell(s) written' mpo.log && grep -q 'mparts/on/P.001: maccor, 1332 rows, 4 cycles (3 complete)' mpo.log &&
   grep -q 'cycle 2 (line 336) .*; cycle 3 (mparts/on/P.002 line 3) .*; cycle 4 (mparts/on/P.002 line 336)' mpo.log &&
   [ "$(wc -l <mp-on/P_cycles.csv)" -eq 5 ] && [ "$(ls mp-on | wc -l)" -eq 2 ] &&
   diff <(cut -d, -f1-4,6- mp-w/P_cycles.csv) <(cut -d, -f1-4,6- mp-on/P_cycles.csv) && cmp -s mp-w/P_curves.csv mp-on/P_curves.csv &&
   cp mparts/whole/P.txt mparts/on/Q.txt && "$BML" structure mparts/on --out mp-j2 --jobs 2 >mpj.log 2>&1 &&
   grep -q '^2 cell(s) written' mpj.log && cmp -s mp-on/P_cycles.csv mp-j2/P_cycles.csv && rm mparts/on/Q.txt; then
  ok maccor_parts_joined; else bad maccor_parts_joined; cat mpw.log mpo.log; fi
if ! "$BML" structure mparts/gap --out mp-gap >mpg.log 2>&1 &&
   grep -q 'mparts/gap/P.001 and mparts/gap/P.003: numbered parts of one Maccor test with mparts/gap/P.002 missing' mpg.log &&
   [ ! -e mp-gap ]; then
  ok maccor_parts_gap; else bad maccor_parts_gap; cat mpg.log; fi

# the help names every registered format (batteryml list formats), in `--help`, `help` and `help structure`:
# generated from the registry, it cannot drift from it
names=$("$BML" list formats | sed -n 's/^  \([a-z_0-9]*\) .*/\1/p')
"$BML" --help >h_main.txt 2>&1; "$BML" help >h_help.txt 2>&1; "$BML" help structure >h_st.txt 2>&1
missing=""
for n in $names; do
  grep -qw -- "$n" h_main.txt && grep -q "^  $n " h_st.txt || missing="$missing $n"
done
if [ "$(echo "$names" | wc -w)" -ge 10 ] && [ -z "$missing" ] && cmp -s h_main.txt h_help.txt; then
  ok help_names_formats; else bad help_names_formats; echo "not named:$missing"; cat h_main.txt; fi

echo "cycler_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
