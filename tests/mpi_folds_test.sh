#!/usr/bin/env bash
# One study's folds over MPI ranks (mpirun -n K batteryml run, no -m): the run directory of mpirun -n 3 is
# the serial run's, byte for byte (metrics, predictions, SHAP values, importance, models, histories,
# attention, latent trajectories, figures) and the printed lines are the same (times aside); a fold that
# fails on a worker rank is an error naming the fold, a non-zero exit and no run directory; a rank that
# stops before the folds does not hang the others. Skipped (exit 77) without mpirun.
# Usage: mpi_folds_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
if ! command -v mpirun >/dev/null 2>&1; then
  echo "skip mpi_folds (no mpirun: scripts/install-deps.sh installs openmpi-bin)"
  exit 77
fi
W=$(mktemp -d /tmp/bml-mpi-folds-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   mpi_folds/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL mpi_folds/$1"; }
C="--config-dir $SRC/configs"
# OpenMPI's plugins keep allocations LeakSanitizer cannot attribute (their modules are unloaded at exit):
# no leak check under mpirun (test_fold_exec leak-checks the library's side of it); a hang is a failure
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
MPI=(timeout 600 mpirun --allow-run-as-root --oversubscribe)
strip() { sed -e 's/ in [0-9.]* ms//; s/fit [0-9.]* ms//; s|out/[a-z0-9_-]*||' "$1"; }

# serial and mpirun -n 3: the same files (config.yaml differs in run_name only) and the same lines
same_run() {
  local name=$1; shift
  "$BML" run $C "$@" output_dir=out run_name=$name-serial >$name-serial.txt 2>&1
  local rs=$?
  "${MPI[@]}" -n 3 "$BML" run $C "$@" output_dir=out run_name=$name-mpi >$name-mpi.txt 2>&1
  local rm=$?
  local good=1
  [ $rs -eq 0 ] && [ $rm -eq 0 ] || { echo "  exit $rs (serial), $rm (mpirun)"; good=0; }
  [ -s out/$name-serial/metrics.json ] && [ -s out/$name-serial/predictions.csv ] || { echo "  no serial run"; good=0; }
  for f in "${FILES[@]}"; do
    [ -e out/$name-serial/$f ] || { echo "  serial run has no $f"; good=0; }
  done
  diff -r -x config.yaml out/$name-serial out/$name-mpi >diff.txt || { echo "  the run directories differ:"; head diff.txt; good=0; }
  diff <(grep -v '^run_name:' out/$name-serial/config.yaml) <(grep -v '^run_name:' out/$name-mpi/config.yaml) >/dev/null ||
    { echo "  config.yaml differs"; good=0; }
  diff <(strip $name-serial.txt) <(strip $name-mpi.txt) || { echo "  the printed lines differ"; good=0; }
  if [ $good = 1 ]; then ok "$name"; else bad "$name"; cat $name-mpi.txt; fi
}
FILES=(shap.csv importance.csv model/E5-A/booster_0.json model/E5-H/model.json figures)
same_run lgbm_loco split=loco data.experiment=5
FILES=(step_metrics.csv model/E5-C/model.json)
same_run mlp_loco split=loco data.experiment=5 model=mlp training.epochs=5 figures=false
FILES=(attention.csv latent.csv step_metrics.csv)
same_run acla_loco split=loco data.experiment=5 model=acla pipeline=latent_ode_seq training.epochs=2 figures=false
# more ranks than folds: the ranks left without a fold stop
FILES=(shap.csv)
same_run more_ranks_than_folds split=temperature_holdout figures=false

# a fold that fails on a worker rank (its temporary folder cannot be made): rank 0 names the fold and the
# rank, exits non-zero and leaves no run directory (the output folder is not even made)
A=(run $C split=loco data.experiment=5 figures=false output_dir=failing)
"${MPI[@]}" -n 1 "$BML" "${A[@]}" : -n 2 env TMPDIR=/nonexistent/bml "$BML" "${A[@]}" >fail.txt 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
   grep -Eq "^batteryml: error: fold E5-[A-H]: /nonexistent/bml/bml-fold-.*: cannot create a temporary folder for the fold's model: No such file or directory \(rank [12]\)$" fail.txt &&
   [ ! -e failing ]; then ok fold_fails_on_worker; else bad fold_fails_on_worker; echo "  rc=$rc"; cat fail.txt; ls -la failing 2>&1; fi

# worker ranks of another study (another data set): their results are refused, naming the fold
"${MPI[@]}" -n 1 "$BML" "${A[@]}" : -n 2 "$BML" "${A[@]}" pipeline.target=modes >other.txt 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "^batteryml: error: fold E5-[A-H]: the result was made for .*(a different configuration or data?)" other.txt &&
   [ ! -e failing ]; then ok other_study_refused; else bad other_study_refused; echo "  rc=$rc"; cat other.txt; fi

# worker ranks that stop before the folds (their data cannot be read): rank 0 fits every fold, says
# which rank failed, and the run is the serial one
B=(run $C split=loco data.experiment=5 figures=false output_dir=out)
"${MPI[@]}" -n 1 "$BML" "${B[@]}" run_name=workers-gone : -n 2 "$BML" "${B[@]}" run_name=workers-gone data.path=/nonexistent >gone.txt 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^batteryml: rank [12]: error: .*/nonexistent" gone.txt &&
   cmp -s out/workers-gone/predictions.csv out/lgbm_loco-serial/predictions.csv; then ok worker_ranks_gone; else bad worker_ranks_gone; echo "  rc=$rc"; cat gone.txt; fi

# rank 0 stops before the folds: it reports, the other ranks do not wait for it
"${MPI[@]}" -n 1 "$BML" "${B[@]}" run_name=rank0-gone data.path=/nonexistent : -n 2 "$BML" "${B[@]}" run_name=rank0-gone >r0.txt 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c "^batteryml: error: .*/nonexistent" r0.txt)" -eq 1 ] && [ ! -e out/rank0-gone ]; then
  ok rank0_gone; else bad rank0_gone; echo "  rc=$rc"; cat r0.txt; fi

# a bad configuration: one message (rank 0's), exit 1
"${MPI[@]}" -n 3 "$BML" run $C model.nope=1 >badcfg.txt 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c "unknown config key 'model.nope'" badcfg.txt)" -eq 1 ]; then ok bad_config_once; else bad bad_config_once; echo "  rc=$rc"; cat badcfg.txt; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
