"""The linear estimators (OLSRegressor, RidgeRegressor, LassoRegressor, ElasticNetRegressor,
ElasticNetCVRegressor, PLSRegressor, PCRRegressor) against scikit-learn's estimators on the same standardised
features, their SHAP values, save/load and pickling, and the program's runs."""
import json
import os
import pickle
import subprocess
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from batteryml._lib import Error
from batteryml.estimators import (ElasticNetCVRegressor, ElasticNetRegressor, LassoRegressor, OLSRegressor,
                                  PCRRegressor, PLSRegressor, RidgeRegressor, load_model)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

RTOL = 1e-8  # the C test (tests/test_linear.c) holds 1e-8 on identical inputs; here the scalers differ in the last bits


def _data(n=90, F=6, O=1, seed=3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, F)) * np.linspace(1, 50, F) + np.arange(F)
    X[:, 1] = X[:, 0] * 0.5 + rng.normal(size=n)  # correlated
    w = rng.uniform(-2, 2, size=(F, O))
    y = X @ w / 10 + rng.normal(size=(n, O)) + 3.0
    return X, (y[:, 0] if O == 1 else y)


def _sk(name, **p):
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.decomposition import PCA
    from sklearn.linear_model import ElasticNet, ElasticNetCV, Lasso, LinearRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    est = {"ols": lambda: LinearRegression(), "ridge": lambda: Ridge(**p), "lasso": lambda: Lasso(**p),
           "elastic_net": lambda: ElasticNet(**p), "elastic_net_cv": lambda: ElasticNetCV(**p),
           "pls": lambda: PLSRegression(**p),
           "pcr": lambda: make_pipeline(StandardScaler(), PCA(svd_solver="full", **p), LinearRegression())}[name]()
    return make_pipeline(StandardScaler(), est)


CASES = [
    ("ols", OLSRegressor, {}),
    ("ridge", RidgeRegressor, {"alpha": 3.0}),
    ("lasso", LassoRegressor, {"alpha": 0.05}),
    ("elastic_net", ElasticNetRegressor, {"alpha": 0.1, "l1_ratio": 0.3}),
    ("elastic_net_cv", ElasticNetCVRegressor, {"l1_ratio": (0.3, 0.9), "n_alphas": 25, "cv": 4}),
    ("pls", PLSRegressor, {"n_components": 3}),
    ("pcr", PCRRegressor, {"n_components": 4}),
]


@pytest.mark.parametrize("name,cls,params", CASES)
def test_equals_sklearn(name, cls, params):
    X, y = _data()
    Xt, _ = _data(seed=4)
    ours = cls(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _sk(name, **params).fit(X, y)
    assert_allclose(ours.predict(Xt), np.ravel(ref.predict(Xt)), rtol=RTOL, atol=0)
    final = ref.steps[-1][1]
    if name not in ("pls", "pcr"):
        assert_allclose(ours.coef_, final.coef_, rtol=RTOL, atol=RTOL * np.abs(final.coef_).max())
        assert_allclose(ours.intercept_, final.intercept_, rtol=RTOL)
    if name == "elastic_net_cv":
        assert ours.alpha_ == pytest.approx(final.alpha_, rel=RTOL) and ours.l1_ratio_ == final.l1_ratio_
    if name in ("lasso", "elastic_net", "elastic_net_cv"):
        assert ours.fit_info_["y"]["n_iter"] == final.n_iter_


def test_outputs_are_fitted_one_by_one():
    X, y = _data(O=3)
    both = ElasticNetCVRegressor(l1_ratio=[0.5, 1.0], n_alphas=20).fit(X, y)
    assert both.coef_.shape == (3, X.shape[1]) and both.alpha_.shape == (3,)
    for k in range(3):
        one = ElasticNetCVRegressor(l1_ratio=[0.5, 1.0], n_alphas=20).fit(X, y[:, k])
        assert_array_equal(both.coef_[k], one.coef_)
        assert_array_equal(both.predict(X)[:, k], one.predict(X))


@pytest.mark.parametrize("name,cls,params", CASES)
def test_shap_adds_up_and_round_trips(name, cls, params, tmp_path):
    X, y = _data(O=2)
    X[::7, 2] = np.nan  # imputed with the training mean
    est = cls(**params).fit(X, y)
    p = est.predict(X)
    phi = est.shap_values(X)
    assert phi.shape == (len(X), 2, X.shape[1] + 1)
    assert_allclose(phi.sum(axis=2), p, rtol=0, atol=1e-12 * np.abs(p).max())
    assert_allclose(phi[0, :, -1], p.mean(axis=0), rtol=1e-12)
    assert_array_equal(est.importance("gain"), np.abs(est.importance("coef")))
    assert est.feature_importances_.sum() == pytest.approx(1.0)
    est.save(tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert type(back) is cls and back.get_params() == est.get_params()
    assert_array_equal(back.predict(X), p)
    assert_array_equal(back.shap_values(X), phi)
    assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), p)


def test_check_estimator_linear():
    from sklearn.utils.estimator_checks import check_estimator
    for est in (RidgeRegressor(), ElasticNetCVRegressor(n_alphas=10, cv=3), PLSRegressor(n_components=1)):
        failed = []
        for e, check in check_estimator(est, generate_only=True):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    check(e)
            except Exception as ex:  # collect them all
                failed.append("%s %s: %r" % (type(est).__name__, getattr(check, "func", check).__name__, ex))
        assert not failed, "\n".join(failed)


@pytest.mark.parametrize("cls,params,msg", [
    (RidgeRegressor, {"alpha": -1.0}, "alpha must be >= 0"),
    (LassoRegressor, {"alpha": -0.1}, "alpha must be >= 0"),
    (ElasticNetRegressor, {"l1_ratio": 2.0}, "l1_ratio must be <= 1"),
    (ElasticNetCVRegressor, {"l1_ratio": [0.0, 0.5]}, "l1_ratio must be a list of numbers in"),
    (ElasticNetCVRegressor, {"cv": 50}, "cv=50 folds need at least 50 training rows"),
    (PLSRegressor, {"n_components": 7}, "n_components=7 must be from 1 to the 6 features"),
    (PCRRegressor, {"n_components": 0}, "n_components must be >= 1"),
])
def test_bad_parameters_raise_library_errors(cls, params, msg):
    X, y = _data(n=40)
    with pytest.raises(Error, match=msg):
        cls(**params).fit(X, y)


def test_runs_of_the_program(tmp_path):
    cli = os.environ.get("BATTERYML_CLI") or os.path.join(ROOT, "build", "batteryml")
    if not os.access(cli, os.X_OK):
        pytest.skip("the batteryml program is not built")
    r = subprocess.run([cli, "run", "--config-dir", os.path.join(ROOT, "configs"), "model=elastic_net_cv",
                        "split=loco", "figures=false", "output_dir=%s" % tmp_path, "run_name=r"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    run = tmp_path / "r"
    assert (run / "shap.csv").exists() and (run / "importance.csv").exists()
    folds = sorted(os.listdir(run / "model"))
    est = load_model(run / "model" / folds[0])
    assert isinstance(est, ElasticNetCVRegressor) and est.l1_ratio == (0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1)
    with open(run / "metrics.json") as f:
        assert json.load(f)
