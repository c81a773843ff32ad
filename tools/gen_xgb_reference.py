#!/usr/bin/python3
"""Parity references for the `lgbm` model: XGBoost's own Python package on the same features.

Regenerate (Debian: apt-get install python3-xgboost python3-numpy):
    ./build/batteryml features data.experiment=5 --out tests/data/xgb_parity/features_expt5.csv
    ./build/batteryml features data.experiment=5 pipeline.target=modes pipeline.include_days=true \
        --out tests/data/xgb_parity/features_expt5_modes.csv
    /usr/bin/python3 tools/gen_xgb_reference.py tests/data/xgb_parity

For each case: train on the 10 and 40 degC cells, stop early on the 25 degC cells, and write the
predictions and TreeSHAP contributions (last column: expected value) of the 25 degC rows, with the
parameter mapping that src/models/lgbm.c documents (one booster per target, base_score = mean of the
training targets). tests/test_parity.c trains the C model on the same CSV and compares to 1e-5.
"""
import csv
import json
import os
import sys

import numpy as np
import xgboost as xgb

META = ["experiment", "cell", "temperature_c", "set_index", "cycle", "days", "throughput_ah"]

CASES = [
    {"name": "soh_default", "file": "features_expt5.csv", "targets": ["soh"],
     "params": {"n_estimators": 1000, "learning_rate": 0.05, "max_depth": 6, "num_leaves": 31, "reg_alpha": 0.1,
                "reg_lambda": 0.1, "early_stopping_rounds": 50, "random_state": 42, "min_child_samples": 20}},
    {"name": "modes_small_leaves", "file": "features_expt5_modes.csv", "targets": ["LAM_NE", "LAM_PE", "LLI"],
     "params": {"n_estimators": 300, "learning_rate": 0.1, "max_depth": 4, "num_leaves": 8, "reg_alpha": 0.0,
                "reg_lambda": 1.0, "early_stopping_rounds": 20, "random_state": 7, "min_child_samples": 5}},
]


def num(s):
    return float(s) if s != "" else np.nan


def main(outdir):
    for case in CASES:
        with open(os.path.join(outdir, case["file"]), newline="") as f:
            rows = list(csv.reader(f))
        header, rows = rows[0], rows[1:]
        tcols = [header.index(t) for t in case["targets"]]
        fcols = [i for i in range(len(META), len(header)) if i not in tcols]  # features follow the meta columns
        X = np.array([[num(r[i]) for i in fcols] for r in rows], dtype=np.float64)
        Y = np.array([[num(r[i]) for i in tcols] for r in rows], dtype=np.float64)
        temp = np.array([float(r[header.index("temperature_c")]) for r in rows])
        tr, va = np.isin(temp, [10.0, 40.0]), temp == 25.0
        p = case["params"]
        out_pred, out_shap, info = [], [], {}
        for k, tname in enumerate(case["targets"]):
            base = float(np.mean(Y[tr, k]))
            params = {"objective": "reg:squarederror", "tree_method": "hist", "grow_policy": "lossguide",
                      "eval_metric": "rmse", "eta": p["learning_rate"], "max_depth": p["max_depth"],
                      "max_leaves": p["num_leaves"], "alpha": p["reg_alpha"], "lambda": p["reg_lambda"],
                      "min_child_weight": p["min_child_samples"], "subsample": 1.0, "colsample_bytree": 1.0,
                      "max_bin": 255, "seed": p["random_state"], "base_score": base, "verbosity": 0}
            dtr = xgb.DMatrix(X[tr], label=Y[tr, k], missing=np.nan)
            dva = xgb.DMatrix(X[va], label=Y[va, k], missing=np.nan)
            bst = xgb.train(params, dtr, num_boost_round=p["n_estimators"], evals=[(dva, "val")],
                            early_stopping_rounds=p["early_stopping_rounds"], verbose_eval=False)
            rng = (0, bst.best_iteration + 1)
            out_pred.append(bst.predict(dva, iteration_range=rng))
            out_shap.append(bst.predict(dva, pred_contribs=True, iteration_range=rng))
            info[tname] = {"best_iteration": int(bst.best_iteration)}
        with open(os.path.join(outdir, case["name"] + "_reference.csv"), "w", newline="") as f:
            w = csv.writer(f)
            F = len(fcols)
            w.writerow(["row", "target", "prediction"] + ["shap_%s" % header[i] for i in fcols] + ["expected_value"])
            for k, tname in enumerate(case["targets"]):
                for i in range(out_pred[k].shape[0]):
                    w.writerow([i, tname, repr(float(out_pred[k][i]))] +
                               [repr(float(v)) for v in out_shap[k][i, :F + 1]])
        with open(os.path.join(outdir, case["name"] + "_case.json"), "w") as f:
            json.dump({"file": case["file"], "targets": case["targets"], "params": p, "xgboost": xgb.__version__,
                       "fit": info}, f, indent=1)
        print(case["name"], info)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/xgb_parity")
