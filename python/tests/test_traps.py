"""scikit-learn's estimator rules for every estimator of the package: check_estimator where it applies (the static
estimators not covered in test_estimators.py / test_linear.py), the construction rules for the sequence
estimators (which take 3-D input check_estimator cannot make), NotFittedError before fit, n_features_in_ /
feature_names_in_ mismatches, clone, and the traps of issue 23 (early_stopping_rounds without eval_set, cells as
a list)."""
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec

from batteryml.estimators import (ACLARegressor, CNNLSTMRegressor, EarlyStoppingWarning, ElasticNetCVRegressor,
                                  ElasticNetRegressor, GBDTRegressor, LassoRegressor, LSTMAttentionRegressor,
                                  MLPRegressor, NeuralODERegressor, OLSRegressor, PCRRegressor, PLSRegressor,
                                  RidgeRegressor)

STATIC = [GBDTRegressor, MLPRegressor, OLSRegressor, RidgeRegressor, LassoRegressor, ElasticNetRegressor,
          ElasticNetCVRegressor, PLSRegressor, PCRRegressor]
SEQUENCE = [LSTMAttentionRegressor, CNNLSTMRegressor, NeuralODERegressor, ACLARegressor]
FAST = {GBDTRegressor: {"n_estimators": 20, "early_stopping_rounds": 0}, MLPRegressor: {"epochs": 3},
        ElasticNetCVRegressor: {"n_alphas": 5, "cv": 3}, PLSRegressor: {"n_components": 1},
        PCRRegressor: {"n_components": 1}}
SEQ_FAST = {"epochs": 2, "batch_size": 4}


def _run_checks(est):
    failed = []
    for e, check in ec.check_estimator(est, generate_only=True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check(e)
        except Exception as ex:  # collect them all
            failed.append("%s %s: %r" % (type(est).__name__, getattr(check, "func", check).__name__, ex))
    return failed


@pytest.mark.parametrize("est", [OLSRegressor(), LassoRegressor(alpha=0.01), ElasticNetRegressor(alpha=0.01),
                                 PCRRegressor()], ids=lambda e: type(e).__name__)
def test_check_estimator_other_linear(est):
    """The linear estimators test_linear.py does not run through check_estimator (PCR is tagged poor_score, as
    its few components explain check_regressors_train's data poorly: it failed that check before the tag)."""
    failed = _run_checks(est)
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("cls", SEQUENCE, ids=lambda c: c.__name__)
def test_sequence_estimators_follow_the_construction_rules(cls):
    """check_estimator needs 2-D input; the rules that do not fit still apply: no work or attributes in
    __init__, parameters default-constructible, get_params / set_params round trip, clone."""
    name = cls.__name__
    ec.check_no_attributes_set_in_init(name, cls())
    ec.check_parameters_default_constructible(name, cls())
    ec.check_get_params_invariance(name, cls())
    ec.check_set_params(name, cls())
    est = cls(epochs=7, random_state=3)
    params = est.get_params()
    assert cls(**params).get_params() == params
    c = clone(est)
    assert c is not est and c.get_params() == params
    assert est.set_params(epochs=9) is est and est.epochs == 9


def _seq_data(n=6, T=5, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    y = X.sum(axis=2) * 0.1
    t = np.tile(np.arange(T, dtype=float), (n, 1)) * 10.0
    return X, y, t


@pytest.mark.parametrize("cls", STATIC + SEQUENCE, ids=lambda c: c.__name__)
def test_not_fitted_errors(cls, tmp_path):
    """Every method that needs a fitted model raises scikit-learn's NotFittedError, and no fitted attribute
    (ending in _) exists before fit."""
    est = cls()
    assert not [k for k in vars(est) if k.endswith("_")]
    X2 = np.zeros((4, 3))
    X3, _, t = _seq_data(n=2)
    calls = [lambda: est.save(str(tmp_path / "m"))]
    if cls in SEQUENCE:
        calls.append(lambda: est.predict(X3, t=t))
        if hasattr(est, "latent"):
            calls.append(lambda: est.latent(X3, t=t))
    else:
        calls.append(lambda: est.predict(X2))
        if hasattr(est, "shap_values"):
            calls += [lambda: est.shap_values(X2), lambda: est.importance()]
    for call in calls:
        with pytest.raises(NotFittedError):
            call()


@pytest.mark.parametrize("cls", STATIC, ids=lambda c: c.__name__)
def test_feature_count_and_names_must_match(cls):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=["a", "b", "c", "d"])
    y = X["a"] * 2 + X["b"]
    est = cls(**FAST.get(cls, {})).fit(X, y)
    assert est.n_features_in_ == 4 and list(est.feature_names_in_) == ["a", "b", "c", "d"]
    fitted = [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    assert "n_features_in_" in fitted and "n_outputs_" in fitted
    with pytest.raises(ValueError, match="4 features"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's "X does not have valid feature names"
        est.predict(X.to_numpy()[:, :3])
    with pytest.raises(ValueError, match="[Ff]eature names"):
        est.predict(X.rename(columns={"a": "z"}))
    c = clone(est)  # a clone is unfitted
    assert not hasattr(c, "n_features_in_")
    with pytest.raises(NotFittedError):
        c.predict(X)


@pytest.mark.parametrize("cls", SEQUENCE, ids=lambda c: c.__name__)
def test_sequence_feature_count_must_match(cls):
    X, y, t = _seq_data()
    est = cls(**SEQ_FAST).fit(X, y, t=t)
    assert est.n_features_in_ == 3
    with pytest.raises(ValueError, match="3 features"):
        est.predict(X[:, :, :2], t=t)


def test_early_stopping_without_eval_set_warns():
    """issue 23: GBDTRegressor() without eval_set ignored early_stopping_rounds silently (what GridSearchCV's
    fits do). XGBoost raises there; this warns (EarlyStoppingWarning), so model-selection tools keep working."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = X[:, 0]
    with pytest.warns(EarlyStoppingWarning, match="early_stopping_rounds=5 is not used without eval_set"):
        GBDTRegressor(n_estimators=10, early_stopping_rounds=5).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GBDTRegressor(n_estimators=10, early_stopping_rounds=0).fit(X, y)  # every round, said so: no warning
        GBDTRegressor(n_estimators=10, early_stopping_rounds=5).fit(X[:60], y[:60], eval_set=[(X[60:], y[60:])])


def test_default_gbdt_without_eval_set_does_not_warn():
    """The default GBDTRegressor().fit(X, y) (what GridSearchCV and cross_val_score do) warned on every fit (44
    warnings in this suite) although nothing was wrong: without an eval_set the default early stopping is
    simply off. The default is None now: the library's 50 rounds with an eval_set, off without one."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=120)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GBDTRegressor(n_estimators=30).fit(X, y)
        GBDTRegressor(n_estimators=30, early_stopping_rounds=None).fit(X, y)
    # with an eval_set the default still stops early: the library's default rounds
    a = GBDTRegressor(n_estimators=2000, learning_rate=0.5, n_jobs=1).fit(X[:80], y[:80], eval_set=[(X[80:], y[80:])])
    b = GBDTRegressor(n_estimators=2000, learning_rate=0.5, n_jobs=1, early_stopping_rounds=50).fit(
        X[:80], y[:80], eval_set=[(X[80:], y[80:])])
    assert a.best_iteration_[0] == b.best_iteration_[0] < 1999
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert "None: the library's default (50)" in GBDTRegressor.__doc__
