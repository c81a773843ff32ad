#!/usr/bin/python3
"""Independent reference values for the conformal intervals (tests/test_uncertainty.c).

Regenerate (numpy only; MAPIE is not installed on Debian 12):
    /usr/bin/python3 tools/gen_conformal_reference.py tests/data/conformal/reference.json

The ranks are computed in exact rational arithmetic (fractions.Fraction of alpha's decimal text), as the paper
writes them -- Barber, Candes, Ramdas & Tibshirani (2021), "Predictive inference with the jackknife+":
    q+_alpha{v_i} = the ceil((1 - alpha)(n + 1))-th smallest of v_1..v_n   (+inf when that exceeds n)
    q-_alpha{v_i} = the floor(alpha (n + 1))-th smallest                    (-inf when that is 0)
and every quantile by a full sort (numpy.sort), not by selection. Cases:
- "ranks": (n, alpha) -> ku, kl, including products that binary floating point rounds across an integer
  ((1 - 0.7) * 10 = 3.0000000000000004, 0.29 * 100 = 28.999999999999996);
- "split": absolute residuals (with ties) -> q = q+ of the residuals;
- "cv_plus": groups, residuals and each group model's predictions at test points -> lower, upper;
- "cv_plus_fit": a small data set of cells with two rows each; OLS with intercept (numpy.linalg.lstsq) fitted
  without each group of cells (unshuffled contiguous groups of cells, the first ones one larger), out-of-group
  residuals, and the CV+ interval at test points -- for K = 3 groups and for one group per cell (jackknife+).
"""
import json
import math
import sys
from fractions import Fraction

import numpy as np


def ranks(n, alpha_text):
    a = Fraction(alpha_text)
    ku = math.ceil((1 - a) * (n + 1))
    kl = math.floor(a * (n + 1))
    return ku, kl


def kth(values, k):
    """k-th smallest, 1-based; +inf past the end, -inf at 0"""
    if k > len(values):
        return math.inf
    if k < 1:
        return -math.inf
    return float(np.sort(np.asarray(values, dtype=float))[k - 1])


def cv_plus(group, resid, group_pred, alpha_text):
    n = len(resid)
    ku, kl = ranks(n, alpha_text)
    m = len(group_pred[0])
    lo, hi = [], []
    for j in range(m):
        lo.append(kth([group_pred[group[i]][j] - resid[i] for i in range(n)], kl))
        hi.append(kth([group_pred[group[i]][j] + resid[i] for i in range(n)], ku))
    return lo, hi


def jnum(v):
    return "inf" if v == math.inf else "-inf" if v == -math.inf else v


def ols_fit_predict(x, y, xt):
    a = np.hstack([np.ones((x.shape[0], 1)), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return np.hstack([np.ones((xt.shape[0], 1)), xt]) @ coef


def main(out):
    rng = np.random.default_rng(20210101)
    ref = {"ranks": [], "split": [], "cv_plus": [], "cv_plus_fit": []}
    for n, a in [(9, "0.1"), (8, "0.1"), (19, "0.1"), (20, "0.1"), (10, "0.3"), (9, "0.3"), (39, "0.05"),
                 (14, "0.2"), (4, "0.2"), (0, "0.5"), (1, "0.5"), (99, "0.01"), (1000, "0.1"),
                 (149, "0.18"), (99, "0.29"), (24, "0.44"), (9, "0.7")]:  # the last four: binary rounding crosses
        ku, kl = ranks(n, a)
        ref["ranks"].append({"n": n, "alpha": float(a), "ku": ku, "kl": kl})

    for n, a in [(9, "0.1"), (8, "0.1"), (19, "0.1"), (20, "0.1"), (14, "0.2"), (9, "0.3")]:
        r = np.round(np.abs(rng.normal(size=n)), 2)  # rounded: ties
        r[: n // 3] = r[n // 3]                      # more ties, at the front
        rng.shuffle(r)
        ku, _ = ranks(n, a)
        ref["split"].append({"alpha": float(a), "residuals": r.tolist(), "q": jnum(kth(r, ku))})

    for n, K, m, a in [(12, 4, 5, "0.1"), (12, 4, 5, "0.2"), (14, 3, 4, "0.2"), (10, 10, 3, "0.2"),
                       (7, 7, 2, "0.1")]:
        group = list(range(K)) * (n // K) + list(range(n % K))
        rng.shuffle(group)
        resid = np.round(np.abs(rng.normal(size=n)), 2).tolist()
        gp = np.round(rng.normal(size=(K, m)) + 5, 3).tolist()
        lo, hi = cv_plus(group, resid, gp, a)
        ref["cv_plus"].append({"alpha": float(a), "K": K, "m": m, "group": group, "residual": resid,
                               "group_pred": gp, "lower": [jnum(v) for v in lo], "upper": [jnum(v) for v in hi]})

    # OLS through the model API: 7 cells x 2 rows, 2 features
    n_cells, per = 7, 2
    x = rng.normal(size=(n_cells * per, 2))
    y = 1.0 + 2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.3 * rng.normal(size=n_cells * per)
    cells = [f"c{c}" for c in range(n_cells) for _ in range(per)]
    xt = rng.normal(size=(4, 2))
    for K in (3, n_cells):
        base, extra = divmod(n_cells, K)
        cell_group = []
        for g in range(K):
            cell_group += [g] * (base + (g < extra))
        group = [cell_group[int(c[1:])] for c in cells]
        oof = np.zeros(len(y))
        gp = []
        for k in range(K):
            tr = np.array([g != k for g in group])
            oof[~tr] = ols_fit_predict(x[tr], y[tr], x[~tr])
            gp.append(ols_fit_predict(x[tr], y[tr], xt).tolist())
        resid = np.abs(y - oof).tolist()
        for a in ("0.2", "0.1"):
            lo, hi = cv_plus(group, resid, gp, a)
            ref["cv_plus_fit"].append({"alpha": float(a), "max_groups": K if K < n_cells else 0, "x": x.tolist(),
                                       "y": y.tolist(), "cells": cells, "x_test": xt.tolist(), "group": group,
                                       "oof": oof.tolist(), "lower": [jnum(v) for v in lo],
                                       "upper": [jnum(v) for v in hi]})
    with open(out, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/conformal/reference.json")
