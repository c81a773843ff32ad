#!/usr/bin/python3
"""scikit-learn references for the linear models (src/models/linear.c, tests/test_linear.c).

Regenerate (Debian: apt-get install python3-sklearn python3-numpy python3-scipy):
    /usr/bin/python3 tools/gen_sklearn_reference.py tests/data/sklearn/linear_reference.json

Three datasets, written into the JSON as the models receive them (standardised with the training rows'
mean and population standard deviation, as the study's runner does; missing values imputed first with the
training means), so that the C test feeds both sides the same numbers:
- oxford: tests/data/xgb_parity/features_expt5.csv (the shipped Oxford summary_set features, target soh),
  trained on the 10 and 40 degC cells, tested on the 25 degC cells. Its three temperature features are
  exactly collinear (two temperatures in training), so least squares has no unique solution there: the
  `ols` reference is the minimum-norm solution of numpy.linalg.lstsq (rcond=None, eps x max(n, F)), the
  default of the `ols` model; scikit-learn's LinearRegression (scipy's rcond = eps) keeps the rounding
  noise of the null directions and returns coefficients of 1e12 there.
- collinear: 60 + 20 rows of 8 correlated features (x7 = x0 + x1 + 1e-3 noise, x6 nearly 2 x2: condition
  number printed below), two targets fitted independently.
- wide: 24 + 10 rows of 30 features (more features than rows: ridge's kernel solve, dense coordinate descent
  in the CV folds, the minimum-norm least squares).

Each case runs a scikit-learn 1.2 estimator on one target at a time (the C models fit each target on its own)
and records the coefficients, the intercept, the predictions of the test rows and what the estimator reports
(n_iter_, alpha_, l1_ratio_, alphas_, the mean CV error path, PLS weights/loadings/rotations/scores, the PCR
scaler, components, singular values and regression). ElasticNetCV uses KFold(cv) without shuffling (an int
cv); PCA uses svd_solver="full" (its "auto" choice for fewer than 500 rows). To keep the file small, the data
are rounded to 10 significant digits before anything is fitted, the CV curves of 100-alpha grids keep every
10th alpha, and the PLS training scores are those of the first two components of the first target.
"""
import csv
import json
import os
import sys

import numpy as np
import scipy
import sklearn
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA
from sklearn.linear_model import ElasticNet, ElasticNetCV, Lasso, LinearRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
OXFORD = os.path.join(HERE, "..", "tests", "data", "xgb_parity", "features_expt5.csv")
META = ["experiment", "cell", "temperature_c", "set_index", "cycle", "days", "throughput_ah"]


def short(a):
    """a rounded to 10 significant digits: a shorter file; both sides are fed these rounded numbers"""
    return np.vectorize(lambda v: float("%.10g" % v))(a)


def standardise(xtr, xte):
    """Mean imputation and standardisation with the training rows' statistics (population std, 1 when 0)."""
    mean = np.nanmean(xtr, axis=0)
    xtr = np.where(np.isnan(xtr), mean, xtr)
    xte = np.where(np.isnan(xte), mean, xte)
    sd = xtr.std(axis=0)
    sd[sd == 0] = 1.0
    return short((xtr - mean) / sd), short((xte - mean) / sd)


def oxford():
    with open(OXFORD, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    fcols = [i for i in range(len(META), len(header)) if header[i] != "soh"]
    x = np.array([[float(r[i]) if r[i] != "" else np.nan for i in fcols] for r in rows])
    y = np.array([[float(r[header.index("soh")])] for r in rows])
    temp = np.array([float(r[header.index("temperature_c")]) for r in rows])
    tr, te = np.isin(temp, [10.0, 40.0]), temp == 25.0
    xtr, xte = standardise(x[tr], x[te])
    return {"feature_names": [header[i] for i in fcols], "target_names": ["soh"], "x_train": xtr, "y_train": y[tr],
            "x_test": xte, "y_test": y[te]}


def collinear():
    rng = np.random.default_rng(20240601)
    n, F = 80, 8
    x = rng.standard_normal((n, F))
    x[:, 7] = x[:, 0] + x[:, 1] + 1e-3 * rng.standard_normal(n)
    x[:, 6] = 2.0 * x[:, 2] + 1e-2 * rng.standard_normal(n)
    x[:, 5] = 1000.0 * x[:, 5] + 50.0  # a feature of another scale before standardisation
    w = np.array([1.5, -2.0, 0.0, 0.7, 0.0, 0.3e-3, 0.0, 1.0])
    y0 = x @ w + 0.5 * rng.standard_normal(n) + 10.0
    y1 = np.sin(x[:, 0]) + 0.1 * x[:, 3] ** 2 + 0.2 * rng.standard_normal(n) - 3.0
    xtr, xte = standardise(x[:60], x[60:])
    y = short(np.stack([y0, y1], axis=1))
    xc = xtr - xtr.mean(axis=0)
    print("collinear: condition number of the centred training features %.3g" % np.linalg.cond(xc))
    return {"feature_names": ["x%d" % j for j in range(F)], "target_names": ["y_linear", "y_curved"], "x_train": xtr,
            "y_train": y[:60], "x_test": xte, "y_test": y[60:]}


def wide():
    rng = np.random.default_rng(7)
    n, F = 34, 30
    x = rng.standard_normal((n, F))
    x[:, 1] = x[:, 0] + 0.05 * rng.standard_normal(n)
    w = np.zeros(F)
    w[[0, 3, 10, 17]] = [2.0, -1.0, 0.5, 1.5]
    y = short(x @ w + 0.3 * rng.standard_normal(n) + 100.0)
    xtr, xte = standardise(x[:24], x[24:])
    return {"feature_names": ["f%d" % j for j in range(F)], "target_names": ["y"], "x_train": xtr,
            "y_train": y[:24, None], "x_test": xte, "y_test": y[24:, None]}


def floats(a):
    return [float(v) for v in np.ravel(a)]


def matrix(a):
    """(rows, cols) as a list of rows"""
    return [floats(r) for r in np.atleast_2d(a)]


def fit_case(model, params, d):
    """One case: the estimator fitted on each target of dataset d; what it found, per target."""
    out = []
    for k in range(d["y_train"].shape[1]):
        X, y, Xt = d["x_train"], d["y_train"][:, k].copy(), d["x_test"]
        t = {}
        if model == "ols":
            rcond = params.get("rcond", -1)
            if rcond == 2.220446049250313e-16:  # scikit-learn's LinearRegression
                est = LinearRegression().fit(X, y)
                coef, icpt = est.coef_, float(est.intercept_)
                t["rank"] = int(est.rank_)
            else:  # the minimum-norm solution with numpy's default cutoff
                xm, ym = X.mean(axis=0), y.mean()
                coef, _, rank, _ = np.linalg.lstsq(X - xm, y - ym, rcond=None)
                icpt = float(ym - xm @ coef)
                t["rank"] = int(rank)
            pred = Xt @ coef + icpt
        elif model == "ridge":
            est = Ridge(alpha=params["alpha"]).fit(X, y)
            coef, icpt, pred = est.coef_, float(est.intercept_), est.predict(Xt)
        elif model in ("lasso", "elastic_net"):
            if model == "lasso":
                est = Lasso(alpha=params["alpha"], max_iter=params.get("max_iter", 1000), tol=params.get("tol", 1e-4))
            else:
                est = ElasticNet(alpha=params["alpha"], l1_ratio=params["l1_ratio"], max_iter=params.get("max_iter", 1000),
                                 tol=params.get("tol", 1e-4))
            est.fit(X, y)
            coef, icpt, pred = est.coef_, float(est.intercept_), est.predict(Xt)
            t["n_iter"] = int(est.n_iter_)
            t["dual_gap"] = float(est.dual_gap_)
        elif model == "elastic_net_cv":
            est = ElasticNetCV(l1_ratio=params["l1_ratio"], n_alphas=params.get("n_alphas", 100), eps=params.get("eps", 1e-3),
                               cv=params.get("cv", 5), max_iter=params.get("max_iter", 1000), tol=params.get("tol", 1e-4))
            est.fit(X, y)
            coef, icpt, pred = est.coef_, float(est.intercept_), est.predict(Xt)
            nl = len(params["l1_ratio"])
            alphas = np.asarray(est.alphas_).reshape(nl, -1)
            # mse_path_ is (n_l1, n_alphas, n_folds) (squeezed): the mean over the folds, as ElasticNetCV takes it
            mse = np.moveaxis(np.asarray(est.mse_path_).reshape(nl, alphas.shape[1], -1), 2, 1)
            stride = 10 if alphas.shape[1] > 50 else 1  # every stride-th alpha of a long grid (a shorter file)
            t.update({"alpha": float(est.alpha_), "l1_ratio": float(est.l1_ratio_), "n_iter": int(est.n_iter_),
                      "dual_gap": float(est.dual_gap_), "stride": stride, "alphas": matrix(alphas[:, ::stride]),
                      "mse_mean": matrix(mse.mean(axis=1)[:, ::stride])})
        elif model == "pls":
            est = PLSRegression(n_components=params["n_components"], scale=params.get("scale", True)).fit(X, y)
            pred = est.predict(Xt).ravel()
            coef_scaled = est._coef_.ravel()
            coef = coef_scaled / est._x_std
            icpt = float(est._y_mean[0] - est._x_mean @ coef)
            t.update({"coef_scaled": floats(coef_scaled), "x_mean": floats(est._x_mean), "x_std": floats(est._x_std),
                      "y_mean": float(est._y_mean[0]), "y_std": float(est._y_std[0]),
                      "x_weights": matrix(est.x_weights_.T), "x_loadings": matrix(est.x_loadings_.T),
                      "x_rotations": matrix(est.x_rotations_.T),
                      "y_loadings": floats(est.y_loadings_)})
            if k == 0:  # the training scores of the first two components of the first target
                t["x_scores"] = matrix(est._x_scores[:, :2].T)
        elif model == "pcr":
            est = make_pipeline(StandardScaler(), PCA(n_components=params["n_components"], svd_solver="full"),
                                LinearRegression()).fit(X, y)
            sc, pca, lr = est.steps[0][1], est.steps[1][1], est.steps[2][1]
            pred = est.predict(Xt)
            v = pca.components_.T @ lr.coef_
            coef = v / sc.scale_
            icpt = float(lr.intercept_ - (sc.mean_ / sc.scale_ + pca.mean_) @ v)
            t.update({"scaler_mean": floats(sc.mean_), "scaler_scale": floats(sc.scale_), "pca_mean": floats(pca.mean_),
                      "components": matrix(pca.components_), "singular_values": floats(pca.singular_values_),
                      "explained_variance_ratio": floats(pca.explained_variance_ratio_),
                      "lr_coef": floats(lr.coef_), "lr_intercept": float(lr.intercept_)})
        t.update({"coef": floats(coef), "intercept": icpt, "pred_test": floats(pred)})
        out.append(t)
    return out


CASES = [
    ("oxford", "ols", {}),
    ("oxford", "ridge", {"alpha": 1.0}),
    ("oxford", "ridge", {"alpha": 0.01}),
    ("oxford", "lasso", {"alpha": 0.001}),
    ("oxford", "elastic_net", {"alpha": 0.01, "l1_ratio": 0.5}),
    ("oxford", "elastic_net_cv", {"l1_ratio": [0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0]}),
    ("oxford", "pls", {"n_components": 2}),
    ("oxford", "pls", {"n_components": 3}),  # the rank of these features: a 4th component fits rounding noise
    ("oxford", "pcr", {"n_components": 2}),
    ("oxford", "pcr", {"n_components": 3}),
    ("collinear", "ols", {"rcond": 2.220446049250313e-16}),
    ("collinear", "ols", {}),
    ("collinear", "ridge", {"alpha": 0.5}),
    ("collinear", "ridge", {"alpha": 0.0}),
    ("collinear", "lasso", {"alpha": 0.05}),
    ("collinear", "lasso", {"alpha": 0.002, "max_iter": 50, "tol": 1e-8}),
    ("collinear", "elastic_net", {"alpha": 0.1, "l1_ratio": 0.3}),
    ("collinear", "elastic_net_cv", {"l1_ratio": [0.2, 0.8, 1.0], "n_alphas": 30, "cv": 4}),
    ("collinear", "pls", {"n_components": 4}),
    ("collinear", "pls", {"n_components": 3, "scale": False}),
    ("collinear", "pcr", {"n_components": 5}),
    ("wide", "ols", {}),
    ("wide", "ridge", {"alpha": 2.0}),
    ("wide", "lasso", {"alpha": 0.1}),
    ("wide", "elastic_net_cv", {"l1_ratio": [0.5, 1.0], "n_alphas": 20, "cv": 3, "eps": 1e-2}),
    ("wide", "pls", {"n_components": 3}),
    ("wide", "pcr", {"n_components": 4}),
]


def main(out):
    data = {"oxford": oxford(), "collinear": collinear(), "wide": wide()}
    doc = {"generator": "tools/gen_sklearn_reference.py", "sklearn": sklearn.__version__, "numpy": np.__version__,
           "scipy": scipy.__version__, "datasets": {}, "cases": []}
    for name, d in data.items():
        doc["datasets"][name] = {"feature_names": d["feature_names"], "target_names": d["target_names"],
                                 "x_train": matrix(d["x_train"]), "y_train": matrix(d["y_train"]),
                                 "x_test": matrix(d["x_test"])}
    for ds, model, params in CASES:
        targets = fit_case(model, params, data[ds])
        doc["cases"].append({"dataset": ds, "model": model, "params": params, "targets": targets})
        print("%-10s %-15s %-60s %s" % (ds, model, json.dumps(params),
                                        ", ".join("n_iter %d" % t["n_iter"] for t in targets if "n_iter" in t)))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d bytes)" % (out, os.path.getsize(out)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/sklearn/linear_reference.json")
