#!/usr/bin/env bash
# Two sweeps given one --sweep-dir at the same moment: exactly one owns the folder, the other goes to DIR-1;
# each folder holds one sweep only (its multirun.yaml, its sweep.csv, its run folders). Repeated, since the
# old check-then-write lost the race most of the time, not every time.
# Usage: sweep_claim_test.sh BATTERYML SOURCE_DIR [ROUNDS]
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
ROUNDS=${3:-15}
W=$(mktemp -d /tmp/bml-sweep-claim-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   sweep_claim/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL sweep_claim/$1"; }
C="--config-dir $SRC/configs"
A=('model.learning_rate=0.05,0.1' model.n_estimators=20 figures=false)
B=('model.learning_rate=0.3,0.4' model.n_estimators=20 figures=false)

# folder $1 holds exactly the sweep of the overrides $2 (one string, ' '-joined) and jobs $3 (names, ' '-joined)
holds() {
  local d=$1 ov=$2 names=$3 good=1
  [ -s "$d/multirun.yaml" ] && [ -s "$d/sweep.csv" ] || { echo "  $d: no multirun.yaml or sweep.csv"; return 1; }
  # the overrides as given, from multirun.yaml (the lines between 'overrides:' and 'params:')
  got=$(sed -n '/^overrides:/,/^params:/p' "$d/multirun.yaml" | sed -n 's/^  - "\(.*\)"$/\1/p' | tr '\n' ' ' | sed 's/ $//')
  [ "$got" = "$ov" ] || { echo "  $d/multirun.yaml: overrides '$got', this sweep's '$ov'"; good=0; }
  # the jobs of multirun.yaml, of sweep.csv and the run folders: the same
  yjobs=$(sed -n 's/^    name: "\(.*\)"$/\1/p' "$d/multirun.yaml" | sort | tr '\n' ' ')
  cjobs=$(tail -n +2 "$d/sweep.csv" | cut -d, -f2 | sort | tr '\n' ' ')
  djobs=$(find "$d" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' ')
  want=$(echo "$names" | tr ' ' '\n' | sort | tr '\n' ' ')
  [ "$yjobs" = "$want" ] || { echo "  $d/multirun.yaml: jobs $yjobs, want $want"; good=0; }
  [ "$cjobs" = "$want" ] || { echo "  $d/sweep.csv: jobs $cjobs, want $want"; good=0; }
  [ "$djobs" = "$want" ] || { echo "  $d: run folders $djobs, want $want"; good=0; }
  # every row ok, its run folder inside this sweep's folder
  [ "$(tail -n +2 "$d/sweep.csv" | grep -c ",ok,,.*,$d/")" -eq 2 ] || { echo "  $d/sweep.csv: not two ok rows in $d"; cat "$d/sweep.csv"; good=0; }
  [ $good = 1 ]
}

good_rounds=0
for r in $(seq 1 "$ROUNDS"); do
  rm -rf s s-1 s-2
  "$BML" run -m $C "${A[@]}" --jobs 1 --sweep-dir s -q >a.txt 2>&1 &
  pa=$!
  "$BML" run -m $C "${B[@]}" --jobs 1 --sweep-dir s -q >b.txt 2>&1 &
  pb=$!
  wait $pa
  ra=$?
  wait $pb
  rb=$?
  da=$(tail -1 a.txt)
  db=$(tail -1 b.txt)
  good=1
  [ $ra -eq 0 ] && [ $rb -eq 0 ] || { echo "  round $r: exit $ra, $rb"; cat a.txt b.txt; good=0; }
  # one owns s, the other s-1
  [ "$(printf '%s\n%s\n' "$da" "$db" | sort | tr '\n' ' ')" = "s s-1 " ] || { echo "  round $r: the sweeps went to '$da' and '$db'"; good=0; }
  [ -e s-2 ] && { echo "  round $r: s-2 made"; good=0; }
  if [ $good = 1 ]; then
    holds "$da" "${A[*]}" "0-0.05 1-0.1" || good=0
    holds "$db" "${B[*]}" "0-0.3 1-0.4" || good=0
  fi
  [ $good = 1 ] && good_rounds=$((good_rounds + 1)) || echo "  (round $r)"
done
if [ $good_rounds -eq "$ROUNDS" ]; then ok "one_owner_per_folder_$ROUNDS"; else bad "one_owner_per_folder ($good_rounds of $ROUNDS rounds right)"; fi

# a folder that holds a sweep already is not shared by a later one either; an existing empty folder is used
rm -rf s s-1 e
mkdir e
"$BML" run -m $C "${A[@]}" --jobs 1 --sweep-dir s -q >/dev/null 2>&1
d2=$("$BML" run -m $C "${B[@]}" --jobs 1 --sweep-dir s/ -q 2>&1)
d3=$("$BML" run -m $C "${B[@]}" --jobs 1 --sweep-dir e -q 2>&1)
if [ "$d2" = "s-1" ] && holds s "${A[*]}" "0-0.05 1-0.1" && holds s-1 "${B[*]}" "0-0.3 1-0.4" && [ "$d3" = e ] &&
   holds e "${B[*]}" "0-0.3 1-0.4"; then ok later_sweep_new_folder; else bad later_sweep_new_folder; echo "  $d2 $d3"; fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
