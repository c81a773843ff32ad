"""The scikit-learn estimators (batteryml.estimators) against scikit-learn's own checks, XGBoost, the
`batteryml` program and hostile input.

Run from the source tree after building: cd python && BATTERYML_LIBRARY=../build/libbatteryml.so.0
/usr/bin/python3 -m pytest tests/test_estimators.py (the program is looked up beside the library, or set
BATTERYML_PROGRAM)."""
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from batteryml._lib import Error, library_path
from batteryml._samples import study_samples
from batteryml.estimators import (ACLARegressor, CNNLSTMRegressor, GBDTRegressor, LSTMAttentionRegressor,
                                  MLPRegressor, NeuralODERegressor, load_model, to_sequences)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CONFIGS = os.path.join(ROOT, "configs")
DATA = os.path.join(ROOT, "data", "oxford-lgm50t")
CELL_D = os.path.join(DATA, "Expt 5 - cell D (25degC) - Processed Data.csv")


def _program():
    cands = [os.environ.get("BATTERYML_PROGRAM")]
    libdir = os.path.dirname(os.path.abspath(library_path)) if os.sep in library_path else None
    if libdir:
        cands += [os.path.join(libdir, "batteryml"), os.path.join(libdir, "..", "bin", "batteryml")]
    cands += [shutil.which("batteryml"), os.path.join(ROOT, "build", "batteryml")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    pytest.skip("the batteryml program is not built (set BATTERYML_PROGRAM)")


def _cli(*args, cwd=None):
    r = subprocess.run([_program(), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _cli_run(tmp_path, overrides, name="run"):
    _cli("run", "--config-dir", CONFIGS, *overrides, "figures=false", "output_dir=%s" % tmp_path,
         "run_name=%s" % name, cwd=ROOT)
    return tmp_path / name


def _toy(n=120, F=4, O=1, seed=0, nan=0.0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, F))
    w = rng.uniform(-2, 2, size=(F, O))
    y = np.tanh(X @ w) + 0.3 * X[:, :1] ** 2 + 0.02 * rng.randn(n, O)
    if nan:
        X[rng.uniform(size=X.shape) < nan] = np.nan
    return X, (y[:, 0] if O == 1 else y)


# ------------------------------------------------------------------------------ scikit-learn's checks

# Checks the MLP cannot pass exactly, each with the reason (README "From Python"): none. Its products are the
# library's own (src/nn/gemm.c: each element summed in k order), so a row predicts the same bits in any batch.
MLP_SKIPS = {}


def _run_checks(estimator, skips):
    from sklearn.utils.estimator_checks import check_estimator
    ran, failed, seen = [], [], set()
    for est, check in check_estimator(estimator, generate_only=True):
        name = getattr(check, "func", check).__name__
        seen.add(name)
        if name in skips:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check(est)
            ran.append(name)
        except Exception as e:  # collect them all, then fail naming each
            failed.append("%s: %r" % (name, e))
    assert not failed, "\n".join(failed)
    assert set(skips) <= seen, "skipped checks sklearn no longer runs: %s" % (set(skips) - seen)
    assert len(ran) >= 30
    return ran


def test_check_estimator_gbdt():
    ran = _run_checks(GBDTRegressor(n_estimators=100, n_jobs=1), {})
    assert "check_estimators_pickle" in ran and "check_regressor_multioutput" in ran


def test_check_estimator_mlp():
    ran = _run_checks(MLPRegressor(), MLP_SKIPS)
    assert "check_fit_idempotent" in ran and "check_estimators_pickle" in ran


def test_mlp_rows_agree_in_any_batch():
    """A row's prediction does not depend on the rows predicted with it, bit for bit (sklearn's subset and
    sample-order invariance checks ask this to rtol 1e-7)."""
    X, y = _toy(300)
    m = MLPRegressor(epochs=40).fit(X, y)
    full = m.predict(X)
    assert_array_equal(full, m.predict(X))
    by_row = np.concatenate([m.predict(X[i:i + 7]) for i in range(0, len(X), 7)])
    assert_array_equal(by_row, full)
    perm = np.random.RandomState(1).permutation(len(X))
    assert_array_equal(m.predict(X[perm]), full[perm])


def test_sklearn_tools():
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = _toy(150)
    cv = KFold(3, shuffle=True, random_state=0)
    s = cross_val_score(GBDTRegressor(n_estimators=60, min_child_samples=5, n_jobs=1), X, y, cv=cv)
    assert s.shape == (3,) and (s > 0.5).all()
    s = cross_val_score(MLPRegressor(epochs=60, hidden_dims=(32,)), X, y, cv=cv)
    assert s.shape == (3,) and np.isfinite(s).all()
    g = GridSearchCV(GBDTRegressor(n_estimators=40, n_jobs=1), {"min_child_samples": [5, 40], "max_depth": [2, 4]},
                     cv=cv).fit(X, y)
    assert g.best_params_["min_child_samples"] == 5 and isinstance(g.best_estimator_, GBDTRegressor)
    assert g.best_estimator_.get_params()["max_depth"] == g.best_params_["max_depth"]
    p = make_pipeline(StandardScaler(), GBDTRegressor(n_estimators=30, min_child_samples=5, n_jobs=1)).fit(X, y)
    q = GBDTRegressor(n_estimators=30, min_child_samples=5, n_jobs=1).fit(StandardScaler().fit_transform(X), y)
    assert_array_equal(p.predict(X), q.predict(StandardScaler().fit(X).transform(X)))


# ------------------------------------------------------------------------------ GBDT against XGBoost


def _base_score(y):
    s = 0.0
    for v in y:  # the library's sum: in order, in doubles
        s += float(v)
    return s / len(y)


def _xgb(p, y, **kw):
    import xgboost
    return xgboost.XGBRegressor(
        n_estimators=p["n_estimators"], learning_rate=p["learning_rate"], max_depth=p["max_depth"],
        max_leaves=p["num_leaves"], grow_policy="lossguide", tree_method="hist", reg_alpha=p["reg_alpha"],
        reg_lambda=p["reg_lambda"], min_child_weight=p["min_child_samples"], subsample=p["subsample"],
        colsample_bytree=p["colsample_bytree"], max_bin=p["max_bin"], random_state=p["random_state"],
        base_score=_base_score(y), n_jobs=1, objective="reg:squarederror", **kw)


def test_gbdt_equals_xgboost():
    X, y = _toy(400, F=6, nan=0.05)
    g = GBDTRegressor(n_estimators=80, learning_rate=0.1, num_leaves=12, min_child_samples=5, subsample=0.8,
                      colsample_bytree=0.7, n_jobs=1, random_state=7)
    g.fit(X, y)
    x = _xgb(g.get_params(), y).fit(X, y)
    assert_array_equal(g.predict(X), x.predict(X).astype(np.float64))
    # TreeSHAP: the booster's contributions (float32 arithmetic: agreement to float32)
    contrib = x.get_booster().predict(__import__("xgboost").DMatrix(X.astype(np.float32), missing=np.nan),
                                      pred_contribs=True)
    np.testing.assert_allclose(g.shap_values(X[:50]), contrib[:50], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g.shap_values(X[:50]).sum(axis=1), g.predict(X[:50]), rtol=1e-5, atol=1e-5)
    imp = g.feature_importances_
    assert imp.shape == (6,) and abs(imp.sum() - 1) < 1e-12


def test_gbdt_early_stopping_equals_xgboost():
    X, y = _toy(500, F=5, seed=3)
    tr, va = slice(0, 350), slice(350, None)
    g = GBDTRegressor(n_estimators=400, learning_rate=0.2, early_stopping_rounds=10, min_child_samples=5, n_jobs=1)
    g.fit(X[tr], y[tr], eval_set=[(X[va], y[va])])
    x = _xgb(g.get_params(), y[tr], early_stopping_rounds=10, eval_metric="rmse")
    x.fit(X[tr], y[tr], eval_set=[(X[va], y[va])], verbose=False)
    assert g.best_iteration_[0] == x.best_iteration < 399
    assert_array_equal(g.predict(X), x.predict(X).astype(np.float64))


def test_gbdt_multi_output_is_one_booster_per_output():
    X, Y = _toy(300, F=4, O=3, seed=5)
    g = GBDTRegressor(n_estimators=40, min_child_samples=5, n_jobs=1).fit(X, Y)
    P = g.predict(X)
    assert P.shape == (300, 3) and g.shap_values(X[:5]).shape == (5, 3, 5)
    for k in range(3):
        x = _xgb(g.get_params(), Y[:, k]).fit(X, Y[:, k])
        assert_array_equal(P[:, k], x.predict(X).astype(np.float64))


# ------------------------------------------------------------------------------ against the program


def _study(overrides):
    d = study_samples(overrides, CONFIGS)
    f = d["folds"][0]
    ev = f["test"] if len(f["test"]) else f["val"]
    return d, f["train"], f["val"], ev


def _frame(d, rows):
    return pd.DataFrame(d["x"][rows], columns=d["feature_names"]), pd.Series(d["y"][rows, 0], name=d["target_names"][0])


def _csv_text(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_mlp_equals_the_program(tmp_path):
    """The default study with model=mlp: the model `batteryml run` fits and saves, and the one fitted here on
    the same training and validation cells with the same seed, are the same model."""
    ov = ["model=mlp", "training.epochs=40"]
    run = _cli_run(tmp_path, ov)
    d, tr, va, ev = _study(ov)
    Xtr, ytr = _frame(d, tr)
    Xva, yva = _frame(d, va)
    Xev, _ = _frame(d, ev)
    est = MLPRegressor(epochs=40, random_state=d["seed"]).fit(Xtr, ytr, eval_set=[(Xva, yva)])
    cli = load_model(run / "model")
    assert isinstance(cli, MLPRegressor) and list(cli.feature_names_in_) == d["feature_names"]
    for a in ("impute_mean_", "scaler_mean_", "scaler_scale_"):
        assert_array_equal(getattr(est, a), getattr(cli, a))  # preprocess.json holds the exact numbers
    p = est.predict(Xev)
    assert_array_equal(p, cli.predict(Xev))
    pred = _csv_text(run / "predictions.csv")
    assert list(pred["cell"]) == list(d["meta"]["cell"].iloc[ev])
    assert [float(v) for v in pred["pred_soh"]] == list(p)  # the run writes each number exactly
    assert est.history_ is not None and len(est.history_) == est.fit_info_["epochs_run"] <= 40


def test_gbdt_equals_the_program(tmp_path):
    ov = ["model=lgbm", "model.n_estimators=150", "explain=false"]
    run = _cli_run(tmp_path, ov)
    d, tr, va, ev = _study(ov)
    Xtr, ytr = _frame(d, tr)
    Xva, yva = _frame(d, va)
    Xev, _ = _frame(d, ev)
    est = GBDTRegressor(n_estimators=150).fit(Xtr, ytr, eval_set=[(Xva, yva)])
    cli = load_model(run / "model")
    assert cli.impute_mean_ is None and cli.scaler_mean_ is None
    p = est.predict(Xev)
    assert_array_equal(p, cli.predict(Xev))
    assert [float(v) for v in _csv_text(run / "predictions.csv")["pred_soh"]] == list(p)
    assert est.fit_info_ == cli.fit_info_


def test_sequence_model_equals_the_program(tmp_path):
    """neural_ode on the latent_ode_seq pipeline: sequences, padding, step times and preprocessing as the
    runner prepares them."""
    ov = ["pipeline=latent_ode_seq", "data.experiment=[1,5]", "model=neural_ode", "model.solver=rk4",
          "training.epochs=4", "split=random"]
    run = _cli_run(tmp_path, ov)
    d, tr, va, ev = _study(ov)
    lengths = d["mask"].sum(axis=1).astype(int)
    assert lengths.min() < lengths.max()  # experiment 1 has short cells: padding is exercised
    X, y, t = d["x"], d["y"], d["t"]
    est = NeuralODERegressor(solver="rk4", epochs=4, random_state=d["seed"])
    est.fit(X[tr], y[tr], t=t[tr], lengths=lengths[tr], eval_set=[(X[va], y[va], t[va], lengths[va])],
            feature_names=d["feature_names"], target_names=d["target_names"])
    cli = load_model(run / "model")
    assert isinstance(cli, NeuralODERegressor)
    p = est.predict(X[ev], t=t[ev], lengths=lengths[ev])
    assert p.shape == X[ev].shape[:2] + (1,)
    # a loaded model of one output predicts (n_cells, T), as one fitted on a 2-d y
    assert_array_equal(p[:, :, 0], cli.predict(X[ev], t=t[ev], lengths=lengths[ev]))
    assert np.isnan(p[d["mask"][ev] == 0]).all() and np.isfinite(p[d["mask"][ev] != 0]).all()
    real = p[d["mask"][ev] != 0][:, 0]  # steps in order: cell by cell
    assert [float(v) for v in _csv_text(run / "predictions.csv")["pred_soh"]] == list(real)


def test_python_model_predicts_with_the_program(tmp_path):
    """A model fitted and saved here stands in for a run's model: `batteryml predict` gives its predictions."""
    ov = ["model=mlp", "training.epochs=3"]
    run = _cli_run(tmp_path, ov)
    d, tr, va, ev = _study(ov)
    Xtr, ytr = _frame(d, tr)
    est = MLPRegressor(epochs=25, hidden_dims=(16, 8), activation="tanh", random_state=11).fit(Xtr, ytr)
    shutil.rmtree(run / "model")
    est.save(run / "model")
    out = tmp_path / "pred.csv"
    _cli("predict", "--run", run, "--data", CELL_D, "--out", out)
    pred = _csv_text(out)
    rows = np.flatnonzero((d["meta"]["cell"] == "D").to_numpy() & (d["meta"]["experiment"] == 5).to_numpy())
    Xd, _ = _frame(d, rows)
    assert list(pred["set_index"]) == [str(v) for v in d["meta"]["set_index"].iloc[rows]]
    assert [float(v) for v in pred["pred_soh"]] == list(est.predict(Xd))


def test_loco_fold_models_load(tmp_path):
    run = _cli_run(tmp_path, ["model=lgbm", "model.n_estimators=20", "split=loco", "explain=false"])
    folds = sorted(os.listdir(run / "model"))
    assert len(folds) == 8
    m = load_model(run / "model" / folds[0])
    assert isinstance(m, GBDTRegressor) and m.n_estimators == 20 and m.n_features_in_ == 5


# ------------------------------------------------------------------------------ save, load, pickle

def _seq_data(n=10, T=8, F=3, O=1, seed=0):
    rng = np.random.RandomState(seed)
    lengths = rng.randint(4, T + 1, size=n)
    lengths[0] = T
    t = np.cumsum(rng.uniform(5, 20, size=(n, T)), axis=1)
    X = rng.randn(n, T, F)
    y = 1 - 0.001 * t[:, :, None] * (1 + 0.1 * X[:, :, :1]) + 0.01 * rng.randn(n, T, O)
    for i, k in enumerate(lengths):
        X[i, k:] = np.nan
        y[i, k:] = np.nan
    return X, (y[:, :, 0] if O == 1 else y), t, lengths


SMALL = {
    "lstm_attn": lambda: LSTMAttentionRegressor(hidden_dim=8, num_heads=2, epochs=5),
    "cnn_lstm": lambda: CNNLSTMRegressor(hidden_dim=8, num_heads=2, epochs=5),
    "neural_ode": lambda: NeuralODERegressor(latent_dim=4, hidden_dim=8, solver="rk4", epochs=5),
    "acla": lambda: ACLARegressor(attn_dim=8, num_heads=2, cnn_filters1=4, cnn_filters2=4, hidden_dim=8,
                                  latent_dim=4, augment_dim=2, ode_hidden=8, solver="euler", epochs=5),
}
# the models as the real-data test trains them: the configs' sizes (ACLA small: it is the slow one)
REAL = {
    "lstm_attn": lambda: LSTMAttentionRegressor(epochs=30),
    "cnn_lstm": lambda: CNNLSTMRegressor(epochs=30),
    "neural_ode": lambda: NeuralODERegressor(epochs=30, learning_rate=0.01),
    "acla": lambda: SMALL["acla"]().set_params(epochs=30, learning_rate=0.01),
}


@pytest.mark.parametrize("kind", ["lgbm", "mlp"] + list(SMALL))
def test_save_load_pickle_round_trip(kind, tmp_path):
    if kind in SMALL:
        X, y, t, lengths = _seq_data(O=2 if kind == "acla" else 1)
        est = SMALL[kind]().fit(X, y, t=t)
        kw = {"t": t}
    else:
        X, y = _toy(80, nan=0.1)
        est = (GBDTRegressor(n_estimators=20, min_child_samples=3, n_jobs=1) if kind == "lgbm" else
               MLPRegressor(epochs=10)).fit(X, y)
        kw = {}
    p = est.predict(X, **kw)
    est.save(tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert type(back) is type(est)
    assert_array_equal(back.predict(X, **kw), p)
    assert type(est).load(tmp_path / "m").get_params() == back.get_params()
    saved = {k: v for k, v in est.get_params().items() if k != "random_state"}
    assert {k: v for k, v in back.get_params().items() if k != "random_state"} == saved
    again = pickle.loads(pickle.dumps(est))
    assert_array_equal(again.predict(X, **kw), p)
    with pytest.raises(Error, match="holds a"):
        (MLPRegressor if kind != "mlp" else GBDTRegressor).load(tmp_path / "m")


def test_load_refuses_bad_folders(tmp_path):
    with pytest.raises(Error, match="model.json"):
        load_model(tmp_path / "nothing-here")
    X, y = _toy(50)
    MLPRegressor(epochs=2).fit(X, y).save(tmp_path / "m")
    p = tmp_path / "m" / "preprocess.json"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 1
    p.write_bytes(bytes(b))
    with pytest.raises(Error, match="checksum"):
        load_model(tmp_path / "m")


# ------------------------------------------------------------------------------ sequences on real data

def test_sequence_models_on_the_oxford_cells():
    """Every sequence model learns the fade of experiments 1 and 5 from a DataFrame of the pipeline's table
    (the 10 and 40 degC cells), and predicts the 25 degC cells."""
    d = study_samples(["pipeline=latent_ode_seq", "data.experiment=[1,5]"], CONFIGS)
    # the table as batteryml.features gives it: one row per real step
    rows = []
    for i in range(d["x"].shape[0]):
        for k in range(int(d["mask"][i].sum())):
            m = d["meta"].iloc[i]
            rows.append([m["experiment"], m["cell"], m["temperature_c"], k, d["t"][i, k]] + list(d["x"][i, k]) +
                        [d["y"][i, k, 0]])
    table = pd.DataFrame(rows, columns=["experiment", "cell", "temperature_c", "set_index", "days"] +
                         d["feature_names"] + d["target_names"])
    table = table.sample(frac=1.0, random_state=0)  # order comes from set_index, not from the rows
    seq = to_sequences(table, d["feature_names"], "soh")
    order = np.argsort(seq.cells)  # cells in the order of their names, whatever the table's row order
    seq = seq._replace(X=seq.X[order], y=seq.y[order], t=seq.t[order], lengths=seq.lengths[order],
                       cells=[seq.cells[i] for i in order], meta=seq.meta.iloc[order].reset_index(drop=True))
    assert list(seq.meta["experiment"].astype(str) + "-" + seq.meta["cell"]) == list(seq.cells)
    assert seq.X.shape == (17, 16, 6) and sorted(seq.lengths) == sorted(d["mask"].sum(axis=1).astype(int))
    temp = seq.meta["temperature_c"].to_numpy()
    tr, ev = temp != 25, temp == 25
    for kind, make in REAL.items():
        est = make().fit(seq.X[tr], seq.y[tr], t=seq.t[tr])
        p = est.predict(seq.X[ev], t=seq.t[ev])
        real = ~np.isnan(seq.X[ev]).all(axis=2)
        assert p.shape == seq.y[ev].shape and np.isfinite(p[real]).all() and np.isnan(p[~real]).all()
        assert est.score(seq.X[tr], seq.y[tr], t=seq.t[tr]) > 0.5, kind  # it learned the training cells
        assert est.score(seq.X[ev], seq.y[ev], t=seq.t[ev]) > 0.3, kind  # and the fade of the 25 degC ones
        if kind in ("lstm_attn", "cnn_lstm", "acla"):
            w = est.attention(seq.X[ev], t=seq.t[ev])
            np.testing.assert_allclose(np.nansum(w, axis=2)[real], 1.0, rtol=1e-5)
        if kind in ("neural_ode", "acla"):
            z = est.latent(seq.X[ev], t=seq.t[ev])
            assert z.shape[:2] == seq.X[ev].shape[:2] and np.isfinite(z[real]).all()


def test_ragged_lists_equal_padded_arrays():
    X, y, t, lengths = _seq_data(seed=4)
    Xl = [X[i, :k] for i, k in enumerate(lengths)]
    yl = [y[i, :k] for i, k in enumerate(lengths)]
    tl = [t[i, :k] for i, k in enumerate(lengths)]
    a = NeuralODERegressor(latent_dim=4, hidden_dim=8, solver="rk4", epochs=3).fit(X, y, t=t)
    b = NeuralODERegressor(latent_dim=4, hidden_dim=8, solver="rk4", epochs=3).fit(Xl, yl, t=tl)
    assert_array_equal(a.predict(X, t=t), b.predict(Xl, t=tl))
    Xz = np.nan_to_num(X)  # padding given by lengths instead of NaN rows
    assert_array_equal(a.predict(X, t=t), a.predict(Xz, t=t, lengths=lengths))


# ------------------------------------------------------------------------------ the interface

def test_dataframes_name_features_and_targets(tmp_path):
    X, Y = _toy(60, F=3, O=2)
    Xf = pd.DataFrame(X, columns=["a", "b", "c"])
    Yf = pd.DataFrame(Y, columns=["LLI", "LAM_NE"])
    g = GBDTRegressor(n_estimators=5, n_jobs=1).fit(Xf, Yf)
    assert list(g.feature_names_in_) == ["a", "b", "c"] and g.n_features_in_ == 3 and g.n_outputs_ == 2
    g.save(tmp_path / "g")
    import json
    saved = json.loads((tmp_path / "g" / "model.json").read_text())
    assert saved["feature_names"] == ["a", "b", "c"] and saved["target_names"] == ["LLI", "LAM_NE"]
    with pytest.raises(ValueError, match="feature names"):
        g.predict(Xf[["c", "b", "a"]])


def test_no_copies_where_layout_allows():
    X, y = _toy(100)
    g = GBDTRegressor(n_estimators=5, n_jobs=1).fit(X, y)
    assert np.shares_memory(g._inputs(X), X)  # float64, C order: handed to the library as it is
    assert not np.shares_memory(g._inputs(np.asfortranarray(X)), X)
    ro = X.copy()
    ro.setflags(write=False)  # read-only buffers too
    assert_array_equal(g.predict(ro), g.predict(X))
    m = MLPRegressor(epochs=2).fit(X, y)
    before = X.copy()
    m.predict(X)
    assert_array_equal(X, before)  # standardising works on a copy, never on the caller's array


def test_concurrent_predictions_are_serialised_per_model():
    X, y = _toy(2000, F=5)
    m = MLPRegressor(epochs=3).fit(X, y)
    want = m.predict(X)
    got = [None] * 4

    def work(i):
        got[i] = m.predict(X)
    th = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    for g in got:
        assert_array_equal(g, want)


def test_library_calls_release_the_gil(tmp_path):
    """cffi releases the GIL around every call into the library. Proof without timing: a thread runs a fit
    of 10^8 boosting rounds that only the main thread can stop (by setting the model's cancel flag from Python);
    if the call held the GIL, the main thread could never set it and the child would hang (and time out).
    (A FIFO as model.json served as the blocking call before: the library now refuses FIFOs at once.)"""
    code = textwrap.dedent("""
        import threading
        import numpy as np
        from batteryml._lib import ffi, lib
        from batteryml._samples import CSamples
        from batteryml.estimators import GBDTRegressor
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 4)); y = X @ rng.normal(size=4)
        model = GBDTRegressor(n_estimators=10**8, early_stopping_rounds=0, n_jobs=1)._create()
        s = CSamples(X, y.reshape(-1, 1).copy(), ["a", "b", "c", "d"], ["y"])
        flag = ffi.new("int *", 0)
        lib.bml_model_set_cancel(model.ptr, flag)
        res = {}
        def fit():
            res["st"] = lib.bml_model_fit(model.ptr, s.ptr, ffi.NULL, 1)
        th = threading.Thread(target=fit)
        th.start()
        th.join(0.2)  # Python runs here only while the C call does not hold the GIL
        flag[0] = 1
        th.join()
        print("status", lib.bml_status_name(res["st"]) and ffi.string(lib.bml_status_name(res["st"])).decode())
        """)
    path = [os.path.join(HERE, "..")] + [os.path.abspath(p) for p in sys.path if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "status BML_ERR_CANCELLED" in r.stdout, r.stdout + r.stderr


# ------------------------------------------------------------------------------ hostile input

@pytest.mark.parametrize("make", [lambda: GBDTRegressor(n_estimators=5, n_jobs=1), lambda: MLPRegressor(epochs=2)])
def test_bad_static_input_raises(make):
    X, y = _toy(40)
    bad = [
        (X[:, 0], y), (X[None], y), (X, y[:-1]), (X[:0], y[:0]), (X[:, :0], y),
        (X, np.where(np.arange(40) == 3, np.nan, y)), (X, np.where(np.arange(40) == 3, np.inf, y)),
        (np.where(X > 0.9, np.inf, X), y), (X.astype(str).astype(object) + "x", y), (X.astype(complex), y),
        (np.array([["a", "b"]] * 40, dtype=object), y), (X, np.array(["high"] * 40, dtype=object)),
        ([[1, 2], [3]] * 20, y), (None, y), (X, None),
    ]
    for Xb, yb in bad:
        with pytest.raises((ValueError, TypeError)):
            make().fit(Xb, yb)
    est = make().fit(X, y)
    for Xb in (X[:, :3], X[0], np.full((2, 4), np.inf), np.array([["x"] * 4], dtype=object), X[:0]):
        with pytest.raises(ValueError):
            est.predict(Xb)
    for ev in ([(X[:5], y[:4])], [(X[:5, :2], y[:5])], [(X, y), (X, y)], [(X,)]):
        with pytest.raises(ValueError):
            make().fit(X, y, eval_set=ev)


@pytest.mark.parametrize("params,msg", [
    ({"learning_rate": -1.0}, "learning_rate"), ({"n_estimators": 0}, "n_estimators"),
    ({"subsample": 2.0}, "subsample"), ({"max_bin": "many"}, "max_bin"), ({"random_state": -3}, "random_state"),
])
def test_bad_gbdt_parameters_raise_library_errors(params, msg):
    X, y = _toy(30)
    with pytest.raises(Error, match=msg):
        GBDTRegressor(n_jobs=1, **params).fit(X, y)


@pytest.mark.parametrize("params,msg", [
    ({"activation": "sigmoid"}, "activation"), ({"hidden_dims": (64, 0)}, "hidden_dims"),
    ({"hidden_dims": "wide"}, "hidden_dims"), ({"dropout": 1.5}, "dropout"), ({"loss": "l7"}, "loss"),
    ({"scheduler": "step"}, "scheduler"), ({"epochs": 0}, "epochs"), ({"learning_rate": 1e9}, "learning_rate"),
])
def test_bad_mlp_parameters_raise_library_errors(params, msg):
    X, y = _toy(30)
    with pytest.raises(Error, match=msg):
        MLPRegressor(**params).fit(X, y)


def test_bad_sequence_input_raises():
    X, y, t, lengths = _seq_data()
    make = SMALL["neural_ode"]
    gap = X.copy()
    gap[1, 1] = np.nan  # a padded step before a real one
    t_down = t.copy()
    t_down[0, 3] = t_down[0, 2] - 1  # time going backwards
    y_nan = y.copy()
    y_nan[0, 2] = np.nan  # a NaN target at a real step
    cases = [
        dict(X=X[:, :, 0], y=y, t=t), dict(X=X, y=y[:, :5], t=t), dict(X=X, y=y[:3], t=t), dict(X=X, y=y),
        dict(X=X, y=y, t=t[:, :4]), dict(X=gap, y=y, t=t), dict(X=X, y=y_nan, t=t),
        dict(X=X, y=y, t=t, lengths=lengths + 20), dict(X=X, y=y, t=t, lengths=lengths[:3]),
        dict(X=X, y=y, t=t, lengths=lengths.astype(float)), dict(X=X.astype(complex), y=y, t=t),
        dict(X=np.full_like(X, np.nan), y=y, t=t), dict(X=np.where(np.isnan(X), X, np.inf), y=y, t=t),
        dict(X=np.full(X.shape, "abc", dtype=object), y=y, t=t), dict(X=X, y=y, t=t_down),
        dict(X=X[:0], y=y[:0], t=t[:0]),
    ]
    for c in cases:
        with pytest.raises(ValueError):
            make().fit(c.pop("X"), c.pop("y"), **c)
    est = make().fit(X, y, t=t)
    for c in (dict(X=X[:, :, :2], t=t), dict(X=X), dict(X=X, t=t[:, :3]), dict(X=X[0], t=t)):
        with pytest.raises(ValueError):
            est.predict(c.pop("X"), **c)
    with pytest.raises(Error, match="no attention"):
        est.attention(X, t=t)
    with pytest.raises(ValueError, match="one validation set"):
        make().fit(X, y, t=t, eval_set=[(X, y, t), (X, y, t)])
    with pytest.raises(ValueError, match="step times for both"):
        SMALL["lstm_attn"]().fit(X, y, t=t, eval_set=[(X, y)])


def test_to_sequences_from_the_features_table():
    """The pipeline's table (batteryml.features): meta columns, then features and targets named in attrs; a name
    that is both (days with include_days) is the meta column for t and the feature column for X."""
    meta = pd.DataFrame({"experiment": [1, 1, 1, 5, 5], "cell": ["B", "A", "A", "A", "A"],
                         "temperature_c": [10.0, 25, 25, 40, 40], "set_index": [0, 1, 0, 0, 1],
                         "days": [0.0, 20, 0, 0, 15]})
    feats = pd.DataFrame({"r": [1.0, 2, 3, 4, np.nan], "days": [100.0, 120, 100, 100, 115]})
    table = pd.concat([meta, feats, pd.DataFrame({"soh": [1.0, 0.9, 1.0, 1.0, 0.95]})], axis=1)
    table.attrs["features"], table.attrs["targets"] = ["r", "days"], ["soh"]
    s = to_sequences(table)
    assert list(s.cells) == ["1-B", "1-A", "5-A"] and list(s.lengths) == [1, 2, 2]
    assert isinstance(s.cells, np.ndarray)  # an array, as the other fields (issue 23: it was a list)
    assert s.X.shape == (3, 2, 2) and s.y.shape == (3, 2)
    assert_array_equal(s.X[1], [[3, 100], [2, 120]])  # sorted by set_index; days the feature column
    assert_array_equal(s.t[1], [0, 20])  # days the meta column
    assert np.isnan(s.X[0, 1]).all() and np.isnan(s.y[0, 1]) and np.isnan(s.X[2, 1, 0])
    assert list(s.meta["temperature_c"]) == [10, 25, 40]
    assert to_sequences(table, target=["soh"]).y.shape == (3, 2, 1)
    with pytest.raises(ValueError, match="no column 'q'"):
        to_sequences(table, features=["q"])
    with pytest.raises(ValueError, match="DataFrame"):
        to_sequences(table.to_numpy())


def test_time_feature_lets_model_selection_tools_work():
    """cross_val_score and GridSearchCV hand over X and y only: time_feature takes t from a feature of X."""
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    X, y, t, lengths = _seq_data(n=12, seed=2)
    Xt = np.concatenate([X, np.where(np.isnan(X[:, :, :1]), np.nan, t[:, :, None])], axis=2)  # days last
    a = SMALL["neural_ode"]().fit(X, y, t=t)
    b = SMALL["neural_ode"]().set_params(time_feature=-1).fit(Xt, y)
    c = SMALL["neural_ode"]().set_params(time_feature="days").fit(Xt, y, feature_names=["a", "b", "c", "days"])
    assert_array_equal(b.predict(Xt), c.predict(Xt))
    assert_array_equal(b.predict(Xt), b.predict(Xt, t=t))
    assert not np.array_equal(a.predict(X, t=t), b.predict(Xt), equal_nan=True)  # days is also an input of b
    s = cross_val_score(SMALL["acla"]().set_params(time_feature=3), Xt, y, cv=KFold(3))
    assert s.shape == (3,) and np.isfinite(s).all()
    g = GridSearchCV(SMALL["neural_ode"]().set_params(time_feature=3), {"latent_dim": [2, 4]}, cv=KFold(2)).fit(Xt, y)
    assert g.best_params_["latent_dim"] in (2, 4)
    with pytest.raises(ValueError, match="no feature of that name"):
        SMALL["neural_ode"]().set_params(time_feature="time").fit(Xt, y)
    with pytest.raises(ValueError, match="time_feature must be"):
        SMALL["neural_ode"]().set_params(time_feature=4).fit(Xt, y)


def test_on_epoch_reports_progress():
    X, y = _toy(100)
    seen = []
    m = MLPRegressor(epochs=7).fit(X[:70], y[:70], eval_set=[(X[70:], y[70:])],
                                   on_epoch=lambda *a: seen.append(a))
    assert [s[:2] for s in seen] == [(e, 7) for e in range(1, 8)]
    assert list(m.history_["train_loss"]) == pytest.approx([s[2] for s in seen], rel=1e-6)
    assert all(s[3] is not None for s in seen)
    X3, y3, t3, _ = _seq_data()
    seen.clear()
    SMALL["lstm_attn"]().fit(X3, y3, on_epoch=lambda *a: seen.append(a))
    assert len(seen) == 5 and all(s[3] is None for s in seen)

    def boom(*a):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        MLPRegressor(epochs=3).fit(X, y, on_epoch=boom)


_INTERRUPT_CHILD = r"""
import sys, time
import numpy as np
from batteryml import MLPRegressor, GBDTRegressor
rng = np.random.default_rng(0)
X = rng.normal(size=(400, 5)); y = X @ rng.normal(size=5)
kind = sys.argv[1]
seen = []
def on_epoch(*a):
    if not seen:
        print("started", flush=True)
    seen.append(a)
if kind == "gbdt":
    m = GBDTRegressor(n_estimators=10**8, early_stopping_rounds=0, learning_rate=1e-6)
else:
    m = MLPRegressor(epochs=10**7, batch_size=8, hidden_dims=(64, 64))
t0 = time.monotonic()
try:
    if kind == "mlp_callback":
        m.fit(X, y, on_epoch=on_epoch)
    else:
        print("started", flush=True)
        m.fit(X, y)
except KeyboardInterrupt:
    print("interrupted %d %.3f" % (len(seen), time.monotonic()), flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(3)
"""


@pytest.mark.parametrize("kind", ["mlp_callback", "mlp", "gbdt"])
def test_ctrl_c_stops_a_fit(kind, tmp_path):
    """A real SIGINT to a child interpreter during fit: KeyboardInterrupt is raised within a generous bound,
    with or without an epoch callback (issue 19: it was "ignored from cffi callback" and the fit ran on)."""
    import signal
    import subprocess
    import time
    script = tmp_path / "child.py"
    script.write_text(_INTERRUPT_CHILD)
    import batteryml
    env = dict(os.environ)  # the child imports the package these tests import
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(batteryml.__file__)))]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    p = subprocess.Popen([sys.executable, str(script), kind], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "started"
        time.sleep(0.5)  # inside the fit
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (out, err)
    assert "Exception ignored" not in err, err
    words = out.split()
    assert words[0] == "interrupted", (out, err)
    latency = float(words[2]) - sent
    assert latency < 5.0, latency  # generous: the library checks between mini-batches and rounds
    print("%s: KeyboardInterrupt %.3f s after SIGINT" % (kind, latency))


# ---- verbose ------------------------------------------------------------------------------------------------

def test_verbose_prints_progress(capsys):
    """issue 23: estimators printed nothing while they fit. verbose=1 prints a start line, the neural models'
    epochs (a line each where there is no notebook or terminal: here pytest's captured stderr) and an end line
    with what fitting found; the default prints nothing."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    y = X[:, 0]
    MLPRegressor(epochs=3).fit(X, y)
    GBDTRegressor(n_estimators=5).fit(X, y)
    assert capsys.readouterr().out == ""
    MLPRegressor(epochs=3, verbose=1).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[MLPRegressor] fitting 60 samples, 3 features, 1 output(s)", out
    assert [ln.split("  ")[3] for ln in out[1:4]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], out
    assert out[4].startswith("[MLPRegressor] fitted in ") and "epochs run 3" in out[4] and len(out) == 5, out
    GBDTRegressor(n_estimators=5, learning_rate=0.3, verbose=True).fit(X[:40], y[:40], eval_set=[(X[40:], y[40:])])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[GBDTRegressor] fitting 40 samples, 3 features, 1 output(s), 20 validation samples", out
    assert out[1].startswith("[GBDTRegressor] fitted in ") and "5 trees, best iteration" in out[1], out
    assert len(out) == 2
    assert "verbose : int or bool, default=0" in GBDTRegressor.__doc__


def test_verbose_in_a_notebook_is_one_updating_line(monkeypatch, capsys):
    """In a notebook the epochs are one updating output (as batteryml.run shows them), not a line each."""
    import sys
    import types
    run_module = sys.modules["batteryml.run"]  # the module (batteryml.run is the function)
    shown = []

    class Handle:
        def update(self, obj):
            shown[-1].append(str(obj))

    def display(obj, display_id=False):
        assert display_id
        shown.append([str(obj)])
        return Handle()
    fake = types.ModuleType("IPython.display")
    fake.display = display
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setattr(run_module, "_in_notebook", lambda: True)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 2))
    MLPRegressor(epochs=4, verbose=1).fit(X, X[:, 1])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("[MLPRegressor] fitting") and out[1].startswith("[MLPRegressor] fitted")
    assert len(shown) == 1 and len(shown[0]) == 4 and shown[0][-1].split("  ")[3] == "epoch 4/4", shown
