#!/usr/bin/env bash
# Figures, plot, report and compare through the batteryml program; the report is rendered in headless
# Chromium and the screenshot checked. Usage: report_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-report-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   report/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL report/$1"; }
C="--config-dir $SRC/configs"

"$BML" run $C -q output_dir=runs run_name=tree >/dev/null && "$BML" run $C -q output_dir=runs run_name=seq \
  pipeline=latent_ode_seq model=lstm_attn training.epochs=5 model.hidden_dim=16 >/dev/null && ok runs || bad runs

# every figure the runs have inputs for, as PNG (signature) and SVG
want_tree="pred_vs_truth_soh fade_soh shap_summary_soh shap_waterfall_soh shap_dependence_soh importance_soh"
want_seq="pred_vs_truth_soh fade_soh attention_heatmap attention_over_time training_curves"
good=1
for f in $want_tree; do
  [ "$(head -c 8 runs/tree/figures/$f.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "  bad $f.png"; good=0; }
  grep -q "<svg" runs/tree/figures/$f.svg || { echo "  bad $f.svg"; good=0; }
done
for f in $want_seq; do [ -s runs/seq/figures/$f.png ] && grep -q "<svg" runs/seq/figures/$f.svg || { echo "  bad seq $f"; good=0; }; done
[ $good = 1 ] && ok figures || bad figures

# plot redraws from the saved files alone
rm -rf runs/tree/figures
"$BML" plot runs/tree | grep -q "drew 6 figures" && [ -s runs/tree/figures/shap_summary_soh.png ] && ok plot_redraws || bad plot_redraws
"$BML" plot nowhere 2>err.txt; [ $? -eq 1 ] && grep -q "no such run directory" err.txt && ok plot_missing || bad plot_missing

# plot names what it skips and why
"$BML" plot runs/tree >out.txt && grep -q "^skipped attention.csv: not in the run" out.txt && ok plot_names_skipped || bad plot_names_skipped

# a full disk (simulated by a file size limit) while drawing: an error naming the figure, non-zero exit,
# no 0-byte, truncated or temporary file left among the figures
cp -r runs/tree full && rm -rf full/figures
(trap '' XFSZ; ulimit -f 40; "$BML" plot full >out.txt 2>err.txt); rc=$?
half=$(find full/figures -type f \( -size 0 -o -name '.*' \) | wc -l)
trunc=0
for f in full/figures/*.png; do [ -e "$f" ] && [ "$(tail -c 8 "$f" | head -c 4)" != "IEND" ] && trunc=1; done
for f in full/figures/*.svg; do [ -e "$f" ] && ! tail -c 16 "$f" | grep -q "</svg>" && trunc=1; done
if [ $rc -eq 1 ] && grep -q "error: figure full/figures/.*is the disk full" err.txt && [ "$half" -eq 0 ] && [ $trunc -eq 0 ] &&
  ! grep -q "drew" out.txt; then ok plot_disk_full; else bad plot_disk_full; echo "  rc $rc, half-written $half, truncated $trunc"; cat err.txt; fi
(trap '' XFSZ; ulimit -f 40; "$BML" run $C -q output_dir=full_runs run_name=full >/dev/null 2>err.txt); rc=$?
[ $rc -ne 0 ] && [ ! -e full_runs/full ] && [ -z "$(ls -A full_runs 2>/dev/null)" ] && ok run_disk_full ||
  { bad run_disk_full; echo "  rc $rc"; ls -la full_runs; cat err.txt; }

# a run's CSVs are untrusted: binary, truncated or corrupt files are errors naming file, line and column
bad_csv() { # name file how expected-message
  rm -rf "bad_$1" && cp -r "runs/$2" "bad_$1" && eval "$3" && "$BML" plot "bad_$1" >/dev/null 2>err.txt
  if [ $? -eq 1 ] && grep -q "$4" err.txt; then ok "plot_bad_$1"; else bad "plot_bad_$1"; cat err.txt; fi
}
bad_csv binary_shap tree 'head -c 4000 "$BML" > bad_binary_shap/shap.csv' "bad_binary_shap/shap.csv"
bad_csv cut_predictions tree 'head -c 2000 runs/tree/predictions.csv > bad_cut_predictions/predictions.csv' \
  "bad_cut_predictions/predictions.csv:[0-9]*: .*(truncated"
bad_csv text_in_importance tree 'sed -i "3s/,[^,]*\$/,abc/" bad_text_in_importance/importance.csv' \
  "bad_text_in_importance/importance.csv:3:7: 'abc' is not a number (column mean_abs_shap)"
bad_csv cut_step_metrics seq 'head -c 150 runs/seq/step_metrics.csv > bad_cut_step_metrics/step_metrics.csv' \
  "bad_cut_step_metrics/step_metrics.csv:[0-9]*"
bad_csv cut_attention seq 'head -c 5000 runs/seq/attention.csv > bad_cut_attention/attention.csv' "bad_cut_attention/attention.csv:[0-9]*"
bad_csv step_attention seq 'awk -F, "BEGIN{OFS=\",\"} NR==3{\$5=99999} {print}" runs/seq/attention.csv > bad_step_attention/attention.csv' \
  "bad_step_attention/attention.csv:3:5: '99999' is not a whole number in range (column query_step)"
bad_csv empty_shap tree ': > bad_empty_shap/shap.csv' "bad_empty_shap/shap.csv: empty file"

# prediction intervals (uncertainty=cv_plus): pred_vs_truth draws each point's interval as a bar (more paths
# than the same run drawn without its lower_/upper_ columns, at least one per point); bounds are checked
"$BML" run $C -q output_dir=runs run_name=iv uncertainty=cv_plus uncertainty.groups=3 >/dev/null &&
  head -1 runs/iv/predictions.csv | grep -q ",lower_soh,upper_soh" && ok interval_run || bad interval_run
rm -rf noiv && cp -r runs/iv noiv && rm -rf noiv/figures && cut -d, -f1-11 runs/iv/predictions.csv >noiv/predictions.csv &&
  "$BML" plot noiv >/dev/null
with=$(grep -o "<path" runs/iv/figures/pred_vs_truth_soh.svg | wc -l)
without=$(grep -o "<path" noiv/figures/pred_vs_truth_soh.svg | wc -l)
points=$(($(wc -l <runs/iv/predictions.csv) - 1))
[ "$with" -ge $((without + points)) ] && ok plot_interval_bars || { bad plot_interval_bars; echo "  paths $with with, $without without, $points points"; }
bad_csv interval_reversed iv 'awk -F, "BEGIN{OFS=\",\"} NR==4{t=\$12; \$12=\$13; \$13=t} {print}" runs/iv/predictions.csv > bad_interval_reversed/predictions.csv' \
  "bad_interval_reversed/predictions.csv:4:12: the interval's lower bound .* is above its upper bound"
bad_csv interval_half iv 'cut -d, -f1-12 runs/iv/predictions.csv > bad_interval_half/predictions.csv' \
  "bad_interval_half/predictions.csv:1:1: column 'lower_soh' without 'upper_soh'"

# explain.enabled=false: no SHAP, no importance, the other figures, exit 0
"$BML" run $C -q output_dir=runs run_name=noexplain explain.enabled=false >/dev/null && [ ! -e runs/noexplain/shap.csv ] &&
  [ ! -e runs/noexplain/importance.csv ] && [ -s runs/noexplain/figures/pred_vs_truth_soh.png ] && ok explain_disabled || bad explain_disabled

# report: one self-contained page
"$BML" report runs/tree --out tree.html -q && [ -s tree.html ] && ok report_written || bad report_written
imgs=$(grep -o '<img [^>]*src="[^"]\{0,30\}' tree.html | wc -l)
external=$(grep -o 'src="[^d][^"]*"\|href="http[^"]*"' tree.html | wc -l)
if [ "$imgs" -eq 6 ] && [ "$external" -eq 0 ] && grep -q "Per temperature" tree.html && grep -q "Resolved configuration" tree.html; then
  ok report_self_contained; else bad report_self_contained; echo "  images $imgs, external references $external"; fi

# rendered in headless Chromium: a real screenshot, not a blank page
if command -v chromium >/dev/null 2>&1; then
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$W/chrome" --window-size=1280,1800 \
    --screenshot="$W/shot.png" "file://$W/tree.html" >/dev/null 2>&1
  size=$(stat -c %s shot.png 2>/dev/null || echo 0)
  if [ "$size" -gt 60000 ]; then ok report_renders; else bad report_renders; echo "  screenshot $size bytes"; fi
elif [ "${BML_REQUIRE_CHROMIUM:-0}" = 1 ]; then
  bad report_renders; echo "  chromium is not installed (scripts/install-deps.sh installs it)"
else
  echo "skip report/report_renders (no chromium)"
fi

# compare: the runs side by side
"$BML" compare runs/tree runs/seq >cmp.txt && grep -q "^tree .* lgbm .*temperature_holdout .*soh" cmp.txt && grep -q "^seq .*lstm_attn" cmp.txt &&
  ok compare || { bad compare; cat cmp.txt; }
"$BML" compare runs/none 2>err.txt; [ $? -eq 1 ] && grep -q "compare runs/none" err.txt && ok compare_missing || bad compare_missing

# --verbose prints epochs, --quiet only the run directory
"$BML" run $C output_dir=runs run_name=v model=mlp training.epochs=3 figures=false -v >v.txt && grep -q "epoch 3/3" v.txt && ok verbose || bad verbose
[ "$("$BML" run $C -q output_dir=runs run_name=q figures=false)" = "runs/q" ] && ok quiet || bad quiet

echo "report: $pass passed, $fail failed"
[ $fail -eq 0 ]
