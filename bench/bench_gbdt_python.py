#!/usr/bin/python3
"""GBDTRegressor.fit (the library's lgbm model through the Python package) against xgboost.XGBRegressor.fit on
the same data and the same parameters (the mapping of configs/model/lgbm.yaml: hist, leaf-wise growth,
base_score the training mean), back to back in one process; also predict. Each line of output is one JSON
object: what, impl, rows, features, n_jobs, rounds, median_s (of --repeat runs), and for each pair the ratio
batteryml/xgboost and whether the predictions are identical.

    cd python && BATTERYML_LIBRARY=../build/libbatteryml.so.0 /usr/bin/python3 ../bench/bench_gbdt_python.py \
        [--rows 10000] [--features 20] [--rounds 200] [--repeat 5] [--jobs 1 2]

The data: uniform features, 5 % missing, a smooth target with noise (seeded). OMP_WAIT_POLICY defaults to
PASSIVE here (as in scripts/test.sh): with spinning OpenMP threads, n_jobs > 1 on a loaded machine measures
the contention, not the libraries."""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before XGBoost's OpenMP runtime starts

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import xgboost  # noqa: E402

from batteryml.estimators import GBDTRegressor  # noqa: E402


def data(n, F, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, F))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3] ** 2 + 0.05 * rng.randn(n)
    X[rng.uniform(size=X.shape) < 0.05] = np.nan
    return X, y


def base_score(y):
    s = 0.0
    for v in y:  # the library's mean: summed in order
        s += float(v)
    return s / len(y)


def xgb_for(p, y):
    return xgboost.XGBRegressor(
        n_estimators=p["n_estimators"], learning_rate=p["learning_rate"], max_depth=p["max_depth"],
        max_leaves=p["num_leaves"], grow_policy="lossguide", tree_method="hist", reg_alpha=p["reg_alpha"],
        reg_lambda=p["reg_lambda"], min_child_weight=p["min_child_samples"], subsample=p["subsample"],
        colsample_bytree=p["colsample_bytree"], max_bin=p["max_bin"], random_state=p["random_state"],
        base_score=base_score(y), n_jobs=p["n_jobs"] or None, objective="reg:squarederror")


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    X, y = data(a.rows, a.features)
    for jobs in a.jobs:
        g = GBDTRegressor(n_estimators=a.rounds, n_jobs=jobs)
        x = xgb_for(g.get_params(), y)
        common = {"rows": a.rows, "features": a.features, "n_jobs": jobs, "rounds": a.rounds,
                  "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "load_1min": round(os.getloadavg()[0], 2)}
        res = {}
        for impl, est in (("batteryml", g), ("xgboost", x)):
            res[impl, "fit"] = timed(lambda: est.fit(X, y), a.repeat)[0]
            res[impl, "predict"], res[impl, "pred"] = timed(lambda: np.asarray(est.predict(X), dtype=np.float64),
                                                            a.repeat)
        same = bool(np.array_equal(res["batteryml", "pred"], res["xgboost", "pred"]))
        for what in ("fit", "predict"):
            for impl in ("batteryml", "xgboost"):
                print(json.dumps(dict(what=what, impl=impl, median_s=round(res[impl, what], 6), **common)))
            print(json.dumps(dict(what=what, impl="ratio batteryml/xgboost",
                                  ratio=round(res["batteryml", what] / res["xgboost", what], 3),
                                  predictions_identical=same, **common)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
