#!/usr/bin/env bash
# Saved models are verified on load. For every model kind that saves (lgbm, mlp, lstm_attn, cnn_lstm,
# neural_ode, acla), one flipped bit anywhere in a saved file (model.json, weights.bin, booster files,
# preprocess.json) makes `batteryml predict` fail with the checksum error naming the file, and a file cut
# at 0, 8, half or all but one byte fails with a clear error naming it: never a crash, never a bogus
# version, never a prediction. The untouched runs still predict.
# Usage: model_corrupt_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-corrupt-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL model_corrupt/$1"; }
CELL="$SRC/data/oxford-lgm50t/Expt 5 - cell D (25degC) - Processed Data.csv"
# preprocess.json is written by src/pipelines/sample_io.c: 1 once its writer seals the file (bml__json_write_sealed)
PREPROCESS_SEALED=1

predict() { "$BML" predict --run "runs/$1" --data "$CELL" --out pred.csv >out.txt 2>err.txt; }

# expect_refused NAME RUN FILE TEXT: predict fails (exit 1..127), one error naming FILE and containing TEXT
expect_refused() {
  predict "$2"
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "$3" err.txt && grep -qF -- "$4" err.txt &&
     ! grep -q 'version 255' err.txt && [ "$(wc -l <err.txt)" -eq 1 ]; then ok; else
    bad "$1"; echo "  exit $rc; stderr:"; sed 's/^/    /' err.txt; fi
}

# flip_bit FILE OFFSET BIT
flip_bit() {
  local v
  v=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  v=$((v ^ (1 << $3)))
  printf "\\$(printf %03o "$v")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

run_model() { # NAME PIPELINE [OVERRIDES...]
  local m=$1 pipe=$2
  shift 2
  "$BML" run --config-dir "$SRC/configs" output_dir=runs run_name="$m" model="$m" pipeline="$pipe" figures=false \
    training.epochs=2 "$@" >"run_$m.log" 2>&1
}

for spec in lgbm:summary_set mlp:summary_set lstm_attn:latent_ode_seq cnn_lstm:latent_ode_seq \
            neural_ode:latent_ode_seq acla:latent_ode_seq; do
  m=${spec%%:*}
  extra=()
  [ "$m" = lgbm ] && extra=(model.n_estimators=30 pipeline.target=modes) # three booster files
  if ! run_model "$m" "${spec#*:}" "${extra[@]}" || [ ! -s "runs/$m/model/model.json" ]; then
    bad "run_$m"; cat "run_$m.log"; continue; fi
  # the untouched run predicts (so that every refusal below is the corruption's doing)
  if predict "$m"; then ok; else bad "predict_$m"; cat err.txt; continue; fi
  files=$(cd "runs/$m/model" && ls model.json weights.bin booster_*.json 2>/dev/null)
  if [ $PREPROCESS_SEALED = 1 ]; then files="$files preprocess.json";
  elif grep -q '"xxh64"' "runs/$m/model/preprocess.json"; then
    bad "preprocess_sealed_$m"; echo "  preprocess.json is sealed now: set PREPROCESS_SEALED=1"; fi
  for f in $files; do
    p="runs/$m/model/$f"
    cp "$p" orig
    len=$(stat -c %s orig)
    first=0
    [ "$f" = weights.bin ] && first=12 # magic and version: their own errors, tested in test_model
    for off in $first $((len / 3)) $((len / 2)) $((len - 9)) $((len - 1)); do
      cp orig "$p"
      flip_bit "$p" "$off" $((off % 8))
      expect_refused "flip_${m}_${f}_$off" "$m" "$f" checksum
    done
    for cut in 0 8 $((len / 2)) $((len - 1)); do
      cp orig "$p"
      truncate -s "$cut" "$p"
      expect_refused "cut_${m}_${f}_$cut" "$m" "$f" truncated
    done
    cp orig "$p"
  done
  if predict "$m" && grep -q rmse out.txt; then ok; else bad "restored_$m"; cat err.txt; fi
done

echo "model_corrupt: $pass passed, $fail failed"
[ $fail -eq 0 ]
