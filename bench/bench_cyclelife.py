#!/usr/bin/python3
"""The cycle-life study of bench/bench_cyclelife.c in Python (numpy, scipy, scikit-learn): load the Qdlin folder
(pandas' C CSV parser when pandas is installed, else numpy.loadtxt), the "discharge" features (as
tools/gen_dq_reference.py defines them), StandardScaler + ElasticNetCV (l1_ratio [0.1, 0.5, 0.7, 0.9, 0.95, 0.99,
1], n_alphas 100, eps 1e-3, cv 5) on the train cells, predictions, and CV+ 90 % intervals over 5 contiguous groups
of train cells (5 more ElasticNetCV fits). One JSON line, as the C side's. Rough numbers: the machine's other load
shows in them.

    /usr/bin/python3 bench/bench_cyclelife.py [folder] [--reps 5]
"""
import csv
import json
import math
import os
import sys
import time
import warnings

import numpy as np
from scipy.stats import kurtosis, skew
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNetCV
from sklearn.preprocessing import StandardScaler

try:
    import pandas as pd
except ImportError:  # pragma: no cover
    pd = None

L1 = [0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0]


def load(folder):
    with open(os.path.join(folder, "cells.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    mats = []
    for r in rows:
        path = os.path.join(folder, r["file"])
        if pd is not None:
            mats.append(pd.read_csv(path, header=None, dtype=np.float64, engine="c").to_numpy())
        else:
            mats.append(np.loadtxt(path, delimiter=","))
    return rows, mats


def features(mats):
    x = []
    for q in mats:
        dq = q[:, 100 - 2] - q[:, 10 - 2]
        qd = q[-1, :]
        x.append([np.log10(abs(dq.min())), np.log10(np.var(dq)), np.log10(abs(skew(dq, bias=True))),
                  np.log10(abs(kurtosis(dq, fisher=True, bias=True))), qd[0], qd[:99].max() - qd[0]])
    return np.array(x)


def fit(xtr, ytr):
    sc = StandardScaler().fit(xtr)
    m = ElasticNetCV(l1_ratio=L1, n_alphas=100, eps=1e-3, cv=5, max_iter=1000, tol=1e-4).fit(sc.transform(xtr), ytr)
    return sc, m


def cv_plus(xtr, ytr, xall, K=5, alpha=0.1):
    n = len(ytr)
    base, extra = divmod(n, K)
    group = np.concatenate([[g] * (base + (g < extra)) for g in range(K)]).astype(int)
    resid = np.zeros(n)
    gp = np.zeros((K, len(xall)))
    for k in range(K):
        tr = group != k
        sc, m = fit(xtr[tr], ytr[tr])
        resid[~tr] = np.abs(ytr[~tr] - m.predict(sc.transform(xtr[~tr])))
        gp[k] = m.predict(sc.transform(xall))
    ku, kl = math.ceil((1 - alpha) * (n + 1) - 1e-9), math.floor(alpha * (n + 1) + 1e-9)
    v_lo = gp[group, :] - resid[:, None]
    v_hi = gp[group, :] + resid[:, None]
    lo = np.sort(v_lo, axis=0)[kl - 1] if kl >= 1 else np.full(len(xall), -np.inf)
    hi = np.sort(v_hi, axis=0)[ku - 1] if ku <= n else np.full(len(xall), np.inf)
    return lo, hi


def study(folder):
    t0, c0 = time.perf_counter(), time.process_time()
    rows, mats = load(folder)
    t1 = time.perf_counter()
    x = features(mats)
    y = np.log10([float(r["cycle_life"]) for r in rows])
    split = np.array([r["split"] for r in rows])
    t2 = time.perf_counter()
    tr = split == "train"
    sc, m = fit(x[tr], y[tr])
    pred = m.predict(sc.transform(x))
    t3 = time.perf_counter()
    lo, hi = cv_plus(x[tr], y[tr], x)
    t4 = time.perf_counter()
    te = split == "test1"
    life, p = 10 ** y[te], 10 ** pred[te]
    rmse = float(np.sqrt(np.mean((p - life) ** 2)))
    cov = float(np.mean((10 ** lo[te] <= life) & (life <= 10 ** hi[te])))
    width = float(np.mean(10 ** hi[te] - 10 ** lo[te]))
    return dict(load=t1 - t0, features=t2 - t1, fit=t3 - t2, conformal=t4 - t3, total=t4 - t0,
                cpu=time.process_time() - c0, rmse=rmse, cov=cov, width=width)


def main():
    # the C side stops coordinate descent at the same max_iter (same numbers); the warnings say nothing new
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "severson2019")
    reps, args = 5, sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--reps":
            reps = int(args.pop(0))
        else:
            folder = a
    res = [study(folder) for _ in range(reps)]
    best = min(res, key=lambda r: r["total"])
    tot = sorted(r["total"] for r in res)
    print(json.dumps({
        "bench": "cyclelife_study", "impl": "python", "model": "ElasticNetCV", "features": "discharge",
        "conformal": "cv_plus_5", "reps": reps, "csv_reader": "pandas" if pd is not None else "numpy.loadtxt",
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "wall_best_s": round(tot[0], 4), "wall_median_s": round(tot[reps // 2], 4),
        "cpu_best_s": round(min(r["cpu"] for r in res), 4),
        "stages_best_s": {k: round(best[k], 4) for k in ("load", "features", "fit", "conformal")},
        "test1_rmse_cycles": round(best["rmse"], 2), "test1_coverage": round(best["cov"], 4),
        "test1_mean_width_cycles": round(best["width"], 1)}))


if __name__ == "__main__":
    main()
