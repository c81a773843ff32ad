#!/usr/bin/env bash
# The main paths under valgrind: no invalid accesses, no definite or indirect leaks.
# (OpenMP's thread stacks inside libxgboost are "possibly lost" by design and not counted.)
# Usage: valgrind_test.sh VALGRIND BATTERYML SOURCE_DIR
set -u
VG=$1
BML=$(realpath "$2")
SRC=$(realpath "$3")
W=$(mktemp -d /tmp/bml-vg-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
check() {
  local name=$1
  shift
  if "$VG" -q --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
       --suppressions="$SRC/tests/valgrind.supp" \
       --error-exitcode=99 "$@" >out.txt 2>vg.txt; [ $? -ne 99 ] && ! grep -q "Invalid\|uninitialised" vg.txt; then
    pass=$((pass + 1)); echo "ok   valgrind/$name"
  else
    fail=$((fail + 1)); echo "FAIL valgrind/$name"; head -40 vg.txt
  fi
}
C="--config-dir $SRC/configs"
check run_default "$BML" run $C -q output_dir=runs run_name=r1
check run_loco_modes "$BML" run $C -q output_dir=runs run_name=r2 split=loco pipeline.target=modes model.n_estimators=60
check predict "$BML" predict --run runs/r1 --data "$SRC/data/oxford-lgm50t" --out p.csv -q
check run_mlp "$BML" run $C -q output_dir=runs run_name=r3 model=mlp training.epochs=15
check run_neural_ode "$BML" run $C -q output_dir=runs run_name=r4 pipeline=latent_ode_seq model=neural_ode \
  training.epochs=3 model.hidden_dim=16 model.latent_dim=8 figures=false
check run_neural_ode_adjoint "$BML" run $C -q output_dir=runs run_name=r5 pipeline=latent_ode_seq model=neural_ode \
  training.epochs=2 model.hidden_dim=8 model.latent_dim=4 model.use_adjoint=true figures=false
check run_acla "$BML" run $C -q output_dir=runs run_name=r6 pipeline=latent_ode_seq model=acla pipeline.target=modes \
  training.epochs=2 model.attn_dim=8 model.num_heads=2 model.hidden_dim=8 model.ode_hidden=16 model.cnn_filters1=8
check predict_acla "$BML" predict --run runs/r6 --data "$SRC/data/oxford-lgm50t" --out pa.csv -q
check features "$BML" features $C --out f.csv -q
check plot "$BML" plot runs/r1 -q
check report "$BML" report runs/r1 -q
check bad_input "$BML" run $C data.path=/nonexistent
check bad_model "$BML" run $C model.learning_rate=-1
echo "valgrind: $pass passed, $fail failed"
[ $fail -eq 0 ]
