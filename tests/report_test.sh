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
want_tree="pred_vs_truth_soh fade_soh shap_summary_soh shap_waterfall_soh importance_soh"
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
"$BML" plot runs/tree | grep -q "drew 5 figures" && [ -s runs/tree/figures/shap_summary_soh.png ] && ok plot_redraws || bad plot_redraws
"$BML" plot nowhere 2>err.txt; [ $? -eq 1 ] && grep -q "no such run directory" err.txt && ok plot_missing || bad plot_missing

# report: one self-contained page
"$BML" report runs/tree --out tree.html -q && [ -s tree.html ] && ok report_written || bad report_written
imgs=$(grep -o '<img [^>]*src="[^"]\{0,30\}' tree.html | wc -l)
external=$(grep -o 'src="[^d][^"]*"\|href="http[^"]*"' tree.html | wc -l)
if [ "$imgs" -eq 5 ] && [ "$external" -eq 0 ] && grep -q "Per temperature" tree.html && grep -q "Resolved configuration" tree.html; then
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
