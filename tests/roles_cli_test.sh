#!/usr/bin/env bash
# The dataset's roles from the command line: a generic table whose columns are mapped to roles
# (+data.<role>_column=...) runs pipeline=summary_set and predicts exactly what the Oxford data it was exported
# from predict; a role the pipeline needs and the table lacks fails naming the role and the source, and writes
# no run folder.
# Usage: roles_cli_test.sh BATTERYML SOURCE_DIR
set -u
BML=$(realpath "$1")
SRC=$(realpath "$2")
W=$(mktemp -d /tmp/bml-roles-cli-XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   roles_cli/$1"; }
bad() { fail=$((fail + 1)); echo "FAIL roles_cli/$1"; }
C=(--config-dir "$SRC/configs" -q)
# tests/data/table_small.csv: the Oxford experiment-5 cells' summary_set export, its own column names
ROLES=(data=table "data.path=$SRC/tests/data/table_small.csv" pipeline=summary_set pipeline.target=modes split=loco
       +data.throughput_ah_column=charge_throughput_ah +data.lam_ne_column=LAM_NE +data.lam_pe_column=LAM_PE
       +data.lli_column=LLI +data.set_index_column=set_index +data.cycle_column=cycle)

if "$BML" run "${C[@]}" "${ROLES[@]}" +data.resistance_ohm_column=resistance_ohm output_dir=t run_name=r >t.log 2>&1 &&
   "$BML" run "${C[@]}" "data.path=$SRC/data/oxford-lgm50t" data.experiment=5 pipeline.target=modes split=loco \
     output_dir=o run_name=r >o.log 2>&1 &&
   cmp t/r/predictions.csv o/r/predictions.csv && [ "$(wc -l <t/r/predictions.csv)" -eq 129 ]; then
  ok table_roles_predict_as_oxford; else bad table_roles_predict_as_oxford; cat t.log o.log; fi

if ! "$BML" run "${C[@]}" "${ROLES[@]}" output_dir=m run_name=r >m.log 2>&1 &&
   grep -q "pipeline summary_set needs a column of role 'resistance_ohm' (for the feature resistance_ohm), but the data of source 'table' (.*table_small.csv) have none (name it with data.resistance_ohm_column)" m.log &&
   [ ! -e m/r ]; then
  ok missing_role_named; else bad missing_role_named; cat m.log; fi

echo "roles_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
