"""scikit-learn estimators over the library's models (bml_model_*).

Static models take X (n_samples, n_features) and y (n_samples,) or (n_samples, n_outputs):

    GBDTRegressor        the `lgbm` model (gradient-boosted trees on XGBoost; NaN features are missing values)
    MLPRegressor         the `mlp` model
    OLSRegressor `ols`, RidgeRegressor `ridge`, LassoRegressor `lasso`, ElasticNetRegressor `elastic_net`,
    ElasticNetCVRegressor `elastic_net_cv`, PLSRegressor `pls`, PCRRegressor `pcr`: the linear models
    (scikit-learn's LinearRegression, Ridge, Lasso, ElasticNet, ElasticNetCV, PLSRegression and
    StandardScaler-PCA-LinearRegression on the standardised features, one fit per output)

Sequence models take one sequence per cell: X (n_cells, T, F), y (n_cells, T) or (n_cells, T, n_outputs), the
padded steps at the end of each sequence marked by `lengths=` (steps per cell) or by rows of X that are all NaN
(a list of (T_i, F) arrays is padded for you), and the step times `t` (n_cells, T) in days where the model
needs them (NeuralODERegressor and ACLARegressor; the others accept and ignore them):

    LSTMAttentionRegressor  `lstm_attn`     CNNLSTMRegressor  `cnn_lstm`
    NeuralODERegressor      `neural_ode`    ACLARegressor     `acla`

Parameters are named as in configs/model/<name>.yaml; the neural models also take the study's training.*
settings (epochs, batch_size, learning_rate, ...) and its loss group (loss="mse", loss_delta, ...) under the
names `batteryml list` shows. `random_state` is the study's seed (`seed=` in the configuration): it seeds the
neural models where their own `seed` is -1, as `batteryml run` does; GBDTRegressor's random_state is the
booster's seed.

Inputs are prepared as `batteryml run` prepares them, with statistics of the training data only: models that
cannot take missing values (every one but GBDTRegressor) get NaN features replaced by the training mean, and
models that want standardised inputs (the same ones) get x := (x - mean) / std (population std, 1 for a
constant feature). The statistics come from the library's own bml_scaler_fit, so a model fitted here on a
study's training split equals the model `batteryml run` fits, bit for bit. They are kept as impute_mean_,
scaler_mean_ and scaler_scale_ and saved beside the model (preprocess.json).

fit(..., on_epoch=fn) reports the neural models' epochs as they end (a progress display). Sequence models
take t as a keyword of fit, predict and score; the ODE models' time_feature= names a feature of X holding
the times instead, which lets cross_val_score and GridSearchCV (X and y only) drive them.

`save(path)` writes the library's model directory (model.json, the model's own files, preprocess.json): the
same folder `batteryml run` writes as <run>/model/ (or <run>/model/<fold>/), so `load_model` reads the
models of CLI runs and `batteryml predict` reads a model saved here when it is put in a run folder's place.
Estimators pickle (the model travels as its saved files). Failures of the library raise batteryml.Error (a
ValueError) with its message; shapes and values sklearn checks raise sklearn's ValueError.
"""
from __future__ import annotations

import json
import numbers
import os
import tempfile
import threading
import warnings
from collections import namedtuple
from typing import Any, Optional, Sequence, Union

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from ._lib import Error, call_cancellable, check, ffi, lib, string, take_string
from ._samples import CSamples, as_double_ptr, scaler_fit

__all__ = ["GBDTRegressor", "MLPRegressor", "OLSRegressor", "RidgeRegressor", "LassoRegressor", "ElasticNetRegressor",
           "ElasticNetCVRegressor", "PLSRegressor", "PCRRegressor", "LSTMAttentionRegressor", "CNNLSTMRegressor",
           "NeuralODERegressor", "ACLARegressor", "load_model", "to_sequences", "Sequences", "EarlyStoppingWarning"]



class EarlyStoppingWarning(UserWarning):
    """An early-stopping setting that cannot act: GBDTRegressor's early_stopping_rounds without an eval_set.

    Parameters
    ----------
    *args
        The message (as for any warning).

    Examples
    --------
    >>> import warnings  # doctest: +SKIP
    >>> warnings.simplefilter("ignore", batteryml.estimators.EarlyStoppingWarning)  # doctest: +SKIP
    """

# --------------------------------------------------------------------------------------------- the C model


class _Model:
    """An owned bml_model * (freed with this object)."""

    def __init__(self, ptr):
        self.ptr = ffi.gc(ptr, lib.bml_model_free)

    @property
    def name(self):
        return string(lib.bml_model_name(self.ptr))

    def n_features(self):
        return lib.bml_model_n_features(self.ptr)

    def n_targets(self):
        return lib.bml_model_n_targets(self.ptr)

    def save(self, path):
        check(lib.bml_model_save(self.ptr, os.fsencode(path)))


class _Verbose:
    """An estimator's verbose=: a line when the fit starts and one when it ends (its time and what fitting
    found), and the neural models' epochs in between as batteryml.run shows them (its _Reporter): one updating
    line in a notebook or on a terminal, else (or with verbose >= 2) a line per epoch on stdout."""

    def __init__(self, est, n, n_features, n_outputs, val):
        from .run import _in_notebook, _isatty, _Reporter
        import sys
        import time
        self.name = type(est).__name__
        self.clock = time.monotonic
        lines = int(est.verbose) >= 2 or not (_in_notebook() or _isatty(sys.stderr))
        self.reporter = _Reporter(verbose=lines)
        self.t0 = self.clock()
        print("[%s] fitting %d samples, %d features, %d output(s)%s" % (
            self.name, n, n_features, n_outputs, ", %d validation samples" % val if val else ""), flush=True)

    def epoch(self, epoch, epochs, train_loss, val_loss):
        self.reporter._on_epoch(None, epoch, epochs, train_loss, val_loss)

    def done(self, info):
        self.reporter._clear()
        found = []
        for k, v in (info or {}).items():
            if isinstance(v, dict):  # per target (GBDT)
                parts = ["%d trees" % v["n_trees"]] if "n_trees" in v else []
                if "best_val_rmse" in v:
                    parts.append("best iteration %d, validation RMSE %.6g" % (v["best_iteration"], v["best_val_rmse"]))
                found.append("%s: %s" % (k, ", ".join(parts) or json.dumps(v)))
            elif k in ("epochs_run", "best_epoch", "n_iter", "iterations"):
                found.append("%s %s" % (k.replace("_", " "), v))
        print("[%s] fitted in %.3f s%s" % (self.name, self.clock() - self.t0, ": " + "; ".join(found) if found else ""),
              flush=True)


def _fit_with_callback(model, train, val, seed, on_epoch, verbose=None):
    """bml_model_fit, calling on_epoch(epoch, epochs, train_loss, val_loss or None) after every epoch (and
    verbose.epoch, a _Verbose, when given).

    The fit runs in a helper thread (the library releases the GIL) while this thread waits for it, so that
    Ctrl-C (KeyboardInterrupt) arrives here at once: it sets the model's cancel flag, the library stops at
    the next mini-batch or boosting round (BML_ERR_CANCELLED), and the KeyboardInterrupt is raised. An
    exception raised by on_epoch cancels the fit the same way and is raised once it has stopped."""
    flag = ffi.new("int *", 0)
    raised = []
    cb = None
    if on_epoch is not None or verbose is not None:
        def call(user, epoch, epochs, train_loss, val_loss):
            if raised:
                return
            try:
                if verbose is not None:
                    verbose.epoch(int(epoch), int(epochs), float(train_loss), float(val_loss))
                if on_epoch is not None:
                    on_epoch(int(epoch), int(epochs), float(train_loss),
                             None if val_loss != val_loss else float(val_loss))
            except BaseException as e:  # noqa: B902 - cancels the fit; raised to the caller below
                raised.append(e)
                flag[0] = 1

        def on_error(exc, value, tb):  # an exception cffi would otherwise only print ("ignored")
            if not raised:
                raised.append(value if value is not None else exc())
            flag[0] = 1
        cb = ffi.callback("bml_epoch_fn", call, onerror=on_error)
    lib.bml_model_set_cancel(model.ptr, flag)
    if cb is not None:
        lib.bml_model_set_epoch_callback(model.ptr, cb, ffi.NULL)
    try:
        call_cancellable(flag, lib.bml_model_fit, model.ptr, train, val, seed)
    except Error:
        if not raised:
            raise
    finally:
        lib.bml_model_set_epoch_callback(model.ptr, ffi.NULL, ffi.NULL)
        lib.bml_model_set_cancel(model.ptr, ffi.NULL)
    if raised:
        raise raised[0]


def _load_c_model(path):
    out = ffi.new("bml_model **")
    check(lib.bml_model_load(os.fsencode(path), out))
    return _Model(out[0])


_registry_cache = {}


def _param_types(model_name):
    """{key: type} of a registered model's parameters ("int", "double", "bool", "string", "list")."""
    if model_name not in _registry_cache:
        for i in range(lib.bml_model_registry_count()):
            if string(lib.bml_model_registry_name(i)) == model_name:
                pp = ffi.new("bml_param_info **")
                n = lib.bml_model_registry_params(i, pp)
                _registry_cache[model_name] = {string(pp[0][k].key): string(pp[0][k].type) for k in range(n)}
                break
        else:
            raise Error("model %s is not in this library's registry" % model_name)
    return _registry_cache[model_name]


def _format(value, kind):
    """A parameter value as the library parses it (it validates; anything odd reaches it as text)."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if kind == "list" and isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_format(v, "double") for v in value) + "]"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        return repr(v) if np.isfinite(v) else str(v)
    return str(value)


def _parse(text, kind):
    """A saved parameter (model.json holds text) as the Python value of the estimator's parameter."""
    try:
        if kind == "int":
            return int(text)
        if kind == "double":
            return float(text)
        if kind == "bool":
            return text.strip().lower() in ("true", "1", "yes", "on")
        if kind == "list":  # sizes stay ints (hidden_dims), fractions floats (l1_ratio)
            vals = [float(v) for v in text.strip().strip("[]").split(",") if v.strip()]
            return tuple(int(v) if v.is_integer() else v for v in vals)
    except ValueError:
        pass
    return text


def _seed_of(random_state):
    """The study seed: an int as it is, None the configuration's default 42, a RandomState one draw."""
    if random_state is None:
        return 42
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise Error("random_state must be a non-negative integer, got %d" % random_state)
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2 ** 31 - 1))


# --------------------------------------------------------------------------------------------- the base


class _BMLEstimator(RegressorMixin, BaseEstimator):
    _model_name = None

    # -- state handling
    def __sklearn_is_fitted__(self):
        return hasattr(self, "_model")

    def _reset(self):
        for k in list(vars(self)):
            if k.endswith("_") and not k.startswith("__") or k in ("_model", "_lock", "_y_ndim"):
                delattr(self, k)

    def _create(self):
        types = _param_types(self._model_name)
        kv = [(k, _format(v, types[k])) for k, v in self.get_params(deep=False).items() if k in types and v is not None]
        keep = []
        arr = ffi.new("bml_kv[]", max(len(kv), 1))
        for i, (k, v) in enumerate(kv):
            kb, vb = ffi.new("char[]", k.encode("utf-8")), ffi.new("char[]", v.encode("utf-8"))
            keep += [kb, vb]
            arr[i].key, arr[i].value = kb, vb
        out = ffi.new("bml_model **")
        check(lib.bml_model_create(self._model_name.encode("utf-8"), arr, len(kv), out))
        return _Model(out[0])

    def _fit_seed(self):
        return _seed_of(self.get_params(deep=False).get("random_state"))

    # -- preprocessing (as the study's runner: impute with training means, then standardise)
    def _fit_preprocess(self, model, x2d, rows):
        impute = not lib.bml_model_handles_missing(model.ptr)
        scale = bool(lib.bml_model_wants_scaled(model.ptr))
        self.impute_mean_ = self.scaler_mean_ = self.scaler_scale_ = None
        if impute or scale:
            mean, sd = scaler_fit(x2d, rows)
            if impute:
                self.impute_mean_ = mean.copy()  # the same sum over the same rows as the runner's imputation
            if scale:
                self.scaler_mean_, self.scaler_scale_ = mean, sd

    def _apply_preprocess(self, x2d):
        """x2d (rows, F) float64: the model's inputs; x2d itself when nothing is to be done (no copy)."""
        x = x2d
        if self.impute_mean_ is not None:
            nan = np.isnan(x)
            if nan.any():
                x = np.where(nan, self.impute_mean_, x)
        if self.scaler_mean_ is not None:  # (x - mean) / scale, as the library's bml_scaler_transform
            x = np.subtract(x, self.scaler_mean_)
            np.divide(x, self.scaler_scale_, out=x)
        return x

    def _finish_fit(self, model):
        self._model = model
        self._lock = threading.Lock()
        self.n_outputs_ = model.n_targets()
        info = take_string(lib.bml_model_fit_info_json(model.ptr))
        self.fit_info_ = json.loads(info) if info else {}
        if getattr(self, "_has_history", False):
            text = take_string(lib.bml_model_history_csv(model.ptr))
            self.history_ = None
            if text:
                import io

                import pandas as pd
                from ._dtypes import normalize
                self.history_ = normalize(pd.read_csv(io.StringIO(text)))

    # -- save, load, pickle
    def save(self, path: Union[str, "os.PathLike[str]"]) -> str:
        """Write the fitted model into a directory in the library's format.

        model.json, the model's own files and preprocess.json, as `batteryml run` writes <run>/model/.

        Parameters
        ----------
        path : str or os.PathLike
            The directory (created; files of the same names replaced).

        Returns
        -------
        str
            path.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            The estimator is not fitted.
        batteryml.Error
            The directory cannot be written.
        """
        check_is_fitted(self)
        path = os.fspath(path)
        with self._lock:
            self._model.save(path)
        keep = []

        def ptr(a):
            return ffi.NULL if a is None else as_double_ptr(np.ascontiguousarray(a, dtype=np.float64), keep)
        check(lib.bml_preprocess_save(os.fsencode(path), self._model.n_features(), ptr(self.impute_mean_),
                                      ptr(self.scaler_mean_), ptr(self.scaler_scale_)))
        return path

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> Any:
        """A fitted estimator of this class from a model directory (saved by save() or by `batteryml run`).

        Parameters
        ----------
        path : str or os.PathLike
            The model directory.

        Returns
        -------
        estimator
            An instance of this class, fitted.

        Raises
        ------
        batteryml.Error
            A missing, corrupt or foreign folder, or a model of another class.
        """
        est = load_model(path)
        if not isinstance(est, cls):
            raise Error("%s holds a %s model (%s), not %s" % (path, est._model.name, type(est).__name__, cls.__name__))
        return est

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_lock", None)
        if "_model" in state:
            with tempfile.TemporaryDirectory(prefix="batteryml-pickle-") as d:
                with self._lock:
                    self._model.save(d)
                files = {}
                for root, _, names in os.walk(d):
                    for n in names:
                        p = os.path.join(root, n)
                        with open(p, "rb") as f:
                            files[os.path.relpath(p, d)] = f.read()
            state["_model"] = {"batteryml_model_files": files}
        return state

    def __setstate__(self, state):
        m = state.get("_model")
        if isinstance(m, dict) and "batteryml_model_files" in m:
            with tempfile.TemporaryDirectory(prefix="batteryml-pickle-") as d:
                for rel, data in m["batteryml_model_files"].items():
                    if os.path.isabs(rel) or ".." in rel.split(os.sep):
                        raise Error("pickled model: file name %r leaves the model's folder" % rel)
                    p = os.path.join(d, rel)
                    os.makedirs(os.path.dirname(p), exist_ok=True)
                    with open(p, "wb") as f:
                        f.write(data)
                state["_model"] = _load_c_model(d)
        super().__setstate__(state)
        if "_model" in state:
            self._lock = threading.Lock()

    def _more_tags(self):
        return {"allow_nan": True, "multioutput": True}


def _names(obj, n, prefix):
    """Column names of a DataFrame / name of a Series, else prefix0.. (prefix alone for one column)."""
    cols = getattr(obj, "columns", None)
    if cols is not None and len(cols) == n:
        return [str(c) for c in cols]
    name = getattr(obj, "name", None)
    if n == 1 and name is not None:
        return [str(name)]
    return [prefix] if n == 1 else ["%s%d" % (prefix, k) for k in range(n)]


# --------------------------------------------------------------------------------------------- static models


class _StaticEstimator(_BMLEstimator):
    def fit(self, X: Any, y: Any, eval_set: Any = None, on_epoch: Optional[Any] = None) -> Any:
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The features; NaN is a missing value.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        eval_set : list of one (X_val, y_val) pair, optional
            The validation data of early stopping (GBDTRegressor: early_stopping_rounds; neural models:
            patience); without it every round or epoch runs.
        on_epoch : callable, optional
            on_epoch(epoch, epochs, train_loss, val_loss or None), called after every epoch of the neural
            models (progress). An exception it raises stops the fit and is raised.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            Shapes or values scikit-learn's checks refuse (batteryml.Error for the library's refusals).
        KeyboardInterrupt
            Ctrl-C: the fit stops at the next mini-batch or boosting round.
        """
        self._reset()
        if eval_set is None:
            self._warn_without_eval_set()
        y_obj = y
        X, y = self._validate_data(X, y, dtype=np.float64, order="C", force_all_finite="allow-nan",
                                   multi_output=True, y_numeric=True)
        y_ndim = y.ndim
        y2 = np.ascontiguousarray(y.reshape(len(y), -1), dtype=np.float64)
        if y2.shape[1] == 0:
            raise ValueError("y has no columns")
        model = self._create()
        fnames = [str(c) for c in self.feature_names_in_] if hasattr(self, "feature_names_in_") else \
            ["x%d" % j for j in range(X.shape[1])]
        tnames = _names(y_obj, y2.shape[1], "y")
        self._fit_preprocess(model, X, np.arange(X.shape[0]))
        keep = [CSamples(self._apply_preprocess(X), y2, fnames, tnames)]
        va = ffi.NULL
        if eval_set is not None:
            Xv, yv = self._eval_pair(eval_set)
            Xv = self._validate_data(Xv, reset=False, dtype=np.float64, order="C", force_all_finite="allow-nan")
            yv = check_array(yv, ensure_2d=False, dtype=np.float64, input_name="y of eval_set")
            yv = np.ascontiguousarray(yv.reshape(len(yv), -1))
            if yv.shape != (Xv.shape[0], y2.shape[1]):
                raise ValueError("eval_set: y has shape %s, expected (%d, %d) (%d rows of X, %d outputs as in y)"
                                 % (yv.shape, Xv.shape[0], y2.shape[1], Xv.shape[0], y2.shape[1]))
            keep.append(CSamples(self._apply_preprocess(Xv), yv, fnames, tnames))
            va = keep[-1].ptr
        vb = _Verbose(self, X.shape[0], X.shape[1], y2.shape[1], 0 if eval_set is None else Xv.shape[0]) \
            if getattr(self, "verbose", 0) else None
        _fit_with_callback(model, keep[0].ptr, va, self._fit_seed(), on_epoch, vb)
        self._y_ndim = y_ndim
        self._finish_fit(model)
        if vb is not None:
            vb.done(self.fit_info_)
        return self

    def _warn_without_eval_set(self):
        """Early-stopping settings that need an eval_set: nothing by default."""

    @staticmethod
    def _eval_pair(eval_set):
        if isinstance(eval_set, tuple) and len(eval_set) == 2 and not isinstance(eval_set[0], tuple):
            return eval_set
        eval_set = list(eval_set)
        if len(eval_set) != 1 or len(eval_set[0]) != 2:
            raise ValueError("eval_set must be [(X_val, y_val)]: one validation set (early stopping watches one)")
        return eval_set[0]

    def _inputs(self, X):
        check_is_fitted(self)
        X = self._validate_data(X, reset=False, dtype=np.float64, order="C", force_all_finite="allow-nan")
        return self._apply_preprocess(X)

    def predict(self, X: Any) -> np.ndarray:
        """Predict.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The features (the columns fitted on).

        Returns
        -------
        numpy.ndarray
            (n_samples,) for a model fitted on a 1-d y, else (n_samples, n_outputs).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            The estimator is not fitted.
        ValueError
            X has another number of features (or other names) than the data fitted on.
        """
        x = self._inputs(X)
        n, O = x.shape[0], self.n_outputs_
        out = np.empty((n, O), dtype=np.float64)
        keep = []
        with self._lock:
            check(lib.bml_model_predict(self._model.ptr, as_double_ptr(x, keep), n, as_double_ptr(out, keep)))
        return out.reshape(n) if self._y_ndim == 1 else out


class GBDTRegressor(_StaticEstimator):
    """Gradient-boosted trees: the library's `lgbm` model (LightGBM's parameters, trained by XGBoost with
    hist and leaf-wise growth; configs/model/lgbm.yaml). One booster per output. NaN features are missing
    values (no imputation, no scaling). Early stopping needs an eval_set (without one, every round runs).

    Fitted attributes: n_features_in_, feature_names_in_ (DataFrames), n_outputs_, fit_info_ (what fitting
    found), best_iteration_ (per output), feature_importances_ (total gain, normalised to sum 1, averaged over
    outputs). shap_values(X) gives TreeSHAP values; importance(kind) the raw importances."""
    _model_name = "lgbm"

    def __init__(self, n_estimators=1000, learning_rate=0.05, max_depth=6, num_leaves=31, reg_alpha=0.1,
                 reg_lambda=0.1, early_stopping_rounds=None, random_state=42, min_child_samples=20, subsample=1.0,
                 colsample_bytree=1.0, max_bin=255, n_jobs=0, verbose=0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.max_bin = max_bin
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _warn_without_eval_set(self):
        """early_stopping_rounds needs an eval_set: without one (GridSearchCV's fits, cross_val_score) every round
        runs. XGBoost raises there; this warns when early_stopping_rounds was set (> 0), so that model-selection
        tools keep working. The default (None: the library's 50 rounds with an eval_set, off without one) does
        not warn: nothing is wrong."""
        esr = self.early_stopping_rounds
        if esr is not None and not isinstance(esr, bool) and isinstance(esr, numbers.Real) and esr > 0:
            warnings.warn("GBDTRegressor: early_stopping_rounds=%s is not used without eval_set: all n_estimators=%s "
                          "rounds run. Pass eval_set=[(X_val, y_val)] to stop early, or early_stopping_rounds=0 to "
                          "say that every round should run." % (esr, self.n_estimators), EarlyStoppingWarning,
                          stacklevel=3)

    def _finish_fit(self, model):
        super()._finish_fit(model)
        names = [string(lib.bml_model_target_name(model.ptr, k)) for k in range(self.n_outputs_)]
        best = [self.fit_info_.get(n, {}).get("best_iteration") for n in names]
        self.best_iteration_ = np.asarray(best) if None not in best else None

    def shap_values(self, X: Any) -> np.ndarray:
        """TreeSHAP values (XGBoost's pred_contribs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to explain.

        Returns
        -------
        numpy.ndarray
            (n_samples, n_features + 1) for one output, else (n_samples, n_outputs, n_features + 1); the last
            column is the expected value (bias), and each row adds up to the prediction.
        """
        x = self._inputs(X)
        n, O, F = x.shape[0], self.n_outputs_, x.shape[1]
        phi = np.empty((n, O, F + 1), dtype=np.float64)
        keep = []
        with self._lock:
            check(lib.bml_model_shap(self._model.ptr, as_double_ptr(x, keep), n, as_double_ptr(phi, keep)))
        return phi[:, 0, :] if O == 1 else phi

    def importance(self, kind: str = "gain") -> np.ndarray:
        """The boosters' feature importance.

        Parameters
        ----------
        kind : {"gain", "total_gain", "split"}, default "gain"
            Average gain per split, total gain, or the number of splits.

        Returns
        -------
        numpy.ndarray
            (n_features,) for one output, else (n_outputs, n_features).
        """
        check_is_fitted(self)
        O, F = self.n_outputs_, self.n_features_in_
        imp = np.empty((O, F), dtype=np.float64)
        keep = []
        with self._lock:
            check(lib.bml_model_importance(self._model.ptr, str(kind).encode("utf-8"), as_double_ptr(imp, keep)))
        return imp[0] if O == 1 else imp

    @property
    def feature_importances_(self) -> np.ndarray:
        """Total gain per feature, normalised to sum 1 (mean over outputs).

        Returns
        -------
        numpy.ndarray
            (n_features,); zeros when no tree splits.
        """
        check_is_fitted(self)
        imp = np.atleast_2d(self.importance("total_gain"))
        tot = imp.sum(axis=1, keepdims=True)
        imp = np.divide(imp, tot, out=np.zeros_like(imp), where=tot > 0)
        return imp.mean(axis=0)


class MLPRegressor(_StaticEstimator):
    """Multi-layer perceptron: the library's `mlp` model (configs/model/mlp.yaml) trained by its trainer (AdamW,
    cosine warm restarts, gradient clipping; early stopping on eval_set with the best weights restored).
    Missing features are imputed with training means and every feature standardised (see the module's help).

    Fitted attributes: n_features_in_, feature_names_in_, n_outputs_, impute_mean_, scaler_mean_,
    scaler_scale_, history_ (DataFrame: epoch, train_loss, val_loss, lr), fit_info_."""
    _model_name = "mlp"
    _has_history = True

    def __init__(self, hidden_dims=(64, 32), activation="relu", dropout=0.1, epochs=200, batch_size=32,
                 learning_rate=0.001, weight_decay=0.01, patience=20, grad_clip=1.0, scheduler="cosine_warm_restarts",
                 scheduler_t0=50, scheduler_t_mult=2, loss="mse", loss_delta=1.0, loss_epsilon=1e-8,
                 loss_monotonicity_weight=0.1, loss_smoothness_weight=0.01, scale_targets=True, seed=-1,
                 random_state=42, verbose=0):
        self.hidden_dims = hidden_dims
        self.activation = activation
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.scheduler = scheduler
        self.scheduler_t0 = scheduler_t0
        self.scheduler_t_mult = scheduler_t_mult
        self.loss = loss
        self.loss_delta = loss_delta
        self.loss_epsilon = loss_epsilon
        self.loss_monotonicity_weight = loss_monotonicity_weight
        self.loss_smoothness_weight = loss_smoothness_weight
        self.scale_targets = scale_targets
        self.seed = seed
        self.random_state = random_state
        self.verbose = verbose


class _LinearEstimator(_StaticEstimator):
    """The linear models: the features standardised with the training rows' statistics (after mean imputation of
    NaN), then one fit per output. coef_ and intercept_ are on those standardised inputs."""

    def _finish_fit(self, model):
        super()._finish_fit(model)
        names = [string(lib.bml_model_target_name(model.ptr, k)) for k in range(self.n_outputs_)]
        coef = np.atleast_2d(self.importance("coef"))
        self.coef_ = coef[0] if self._y_ndim == 1 else coef
        icpt = np.array([float(self.fit_info_[n]["intercept"]) for n in names])
        self.intercept_ = float(icpt[0]) if self._y_ndim == 1 else icpt
        if "n_iter" in self.fit_info_[names[0]]:  # coordinate descent: sweeps of the (final) fit per output
            it = np.array([int(self.fit_info_[n]["n_iter"]) for n in names])
            self.n_iter_ = int(it[0]) if self._y_ndim == 1 else it

    def shap_values(self, X: Any) -> np.ndarray:
        """Exact SHAP values of the linear model: coef_j * (x_j - mean of x_j over the training rows) on the
        standardised inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows to explain.

        Returns
        -------
        numpy.ndarray
            (n_samples, n_features + 1) for one output, else (n_samples, n_outputs, n_features + 1); the last
            column is the expected value (the mean training prediction), and each row adds up to the prediction.
        """
        x = self._inputs(X)
        n, O, F = x.shape[0], self.n_outputs_, x.shape[1]
        phi = np.empty((n, O, F + 1), dtype=np.float64)
        keep = []
        with self._lock:
            check(lib.bml_model_shap(self._model.ptr, as_double_ptr(x, keep), n, as_double_ptr(phi, keep)))
        return phi[:, 0, :] if O == 1 else phi

    def importance(self, kind: str = "gain") -> np.ndarray:
        """Coefficients as importance.

        Parameters
        ----------
        kind : {"gain", "total_gain", "split", "coef"}, default "gain"
            |coef| ("gain", "total_gain"), 1 for a non-zero coefficient ("split"), the signed coefficient
            ("coef").

        Returns
        -------
        numpy.ndarray
            (n_features,) for one output, else (n_outputs, n_features).
        """
        check_is_fitted(self)
        O, F = self.n_outputs_, self.n_features_in_
        imp = np.empty((O, F), dtype=np.float64)
        keep = []
        with self._lock:
            check(lib.bml_model_importance(self._model.ptr, str(kind).encode("utf-8"), as_double_ptr(imp, keep)))
        return imp[0] if O == 1 else imp

    @property
    def feature_importances_(self) -> np.ndarray:
        """|coef_| normalised to sum 1 (mean over outputs).

        Returns
        -------
        numpy.ndarray
            (n_features,); zeros when every coefficient is zero.
        """
        check_is_fitted(self)
        imp = np.atleast_2d(self.importance("gain"))
        tot = imp.sum(axis=1, keepdims=True)
        imp = np.divide(imp, tot, out=np.zeros_like(imp), where=tot > 0)
        return imp.mean(axis=0)


_LINEAR_DOC = """

    The features are standardised with the training rows' statistics (NaN first replaced by the training mean), as
    `batteryml run` prepares them; several outputs are fitted one by one.

    Fitted attributes: n_features_in_, feature_names_in_ (DataFrames), n_outputs_, impute_mean_, scaler_mean_,
    scaler_scale_, coef_ ((n_features,) or (n_outputs, n_features), on the standardised inputs), intercept_,
    n_iter_ (coordinate descent: sweeps), fit_info_ (per output: what fitting found). shap_values(X) gives exact SHAP values, importance(kind) the
    coefficients."""


class OLSRegressor(_LinearEstimator):
    """Ordinary least squares: the library's `ols` model (configs/model/ols.yaml), scikit-learn's LinearRegression
    on the standardised features. Collinear features get the minimum-norm solution.

    Parameters
    ----------
    rcond : float, default=-1
        Singular values below rcond times the largest count as zero. Negative: machine epsilon times
        max(n_samples, n_features), numpy.linalg.lstsq's default (LinearRegression uses 2.220446049250313e-16)."""
    _model_name = "ols"

    def __init__(self, rcond=-1.0):
        self.rcond = rcond


class RidgeRegressor(_LinearEstimator):
    """Ridge regression: the library's `ridge` model (configs/model/ridge.yaml), scikit-learn's Ridge (Cholesky
    solver) on the standardised features.

    Parameters
    ----------
    alpha : float, default=1.0
        The L2 penalty: minimises ||y - Xw||^2 + alpha ||w||^2 (alpha >= 0)."""
    _model_name = "ridge"

    def __init__(self, alpha=1.0):
        self.alpha = alpha


class LassoRegressor(_LinearEstimator):
    """Lasso: the library's `lasso` model (configs/model/lasso.yaml), scikit-learn's Lasso (cyclic coordinate
    descent, the same duality-gap stop) on the standardised features.

    Parameters
    ----------
    alpha : float, default=1.0
        The L1 penalty: minimises ||y - Xw||^2 / (2 n_samples) + alpha ||w||_1.
    max_iter : int, default=1000
        The most coordinate-descent sweeps.
    tol : float, default=1e-4
        Stop once a sweep changes no coefficient by more than tol times the largest and the duality gap is below
        tol times the centred ||y||^2."""
    _model_name = "lasso"

    def __init__(self, alpha=1.0, max_iter=1000, tol=1e-4):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol


class ElasticNetRegressor(_LinearEstimator):
    """Elastic net: the library's `elastic_net` model (configs/model/elastic_net.yaml), scikit-learn's ElasticNet
    on the standardised features.

    Parameters
    ----------
    alpha : float, default=1.0
        The penalty: ||y - Xw||^2 / (2 n) + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio) ||w||^2 / 2.
    l1_ratio : float, default=0.5
        The mix of L1 (1) and L2 (0).
    max_iter : int, default=1000
        The most coordinate-descent sweeps.
    tol : float, default=1e-4
        The stopping tolerance (see LassoRegressor)."""
    _model_name = "elastic_net"

    def __init__(self, alpha=1.0, l1_ratio=0.5, max_iter=1000, tol=1e-4):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol


class ElasticNetCVRegressor(_LinearEstimator):
    """Elastic net with alpha and l1_ratio chosen by K-fold cross-validation: the library's `elastic_net_cv`
    model (configs/model/elastic_net_cv.yaml), scikit-learn's ElasticNetCV with cv=KFold(cv) (no shuffling) on
    the standardised features, one output at a time.

    Parameters
    ----------
    l1_ratio : sequence of float, default=(0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1)
        The L1 mixes to try, each in (0, 1].
    n_alphas : int, default=100
        Alphas per l1_ratio, log-spaced from alpha_max = max|X^T y| / (n l1_ratio) down to eps * alpha_max.
    eps : float, default=1e-3
        The smallest alpha over alpha_max.
    cv : int, default=5
        Folds: contiguous runs of the training rows (shuffle them first if their order matters).
    max_iter : int, default=1000
        The most coordinate-descent sweeps per fit.
    tol : float, default=1e-4
        The stopping tolerance (see LassoRegressor)."""
    _model_name = "elastic_net_cv"

    def __init__(self, l1_ratio=(0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1), n_alphas=100, eps=1e-3, cv=5, max_iter=1000,
                 tol=1e-4):
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.max_iter = max_iter
        self.tol = tol

    def _finish_fit(self, model):
        super()._finish_fit(model)
        names = [string(lib.bml_model_target_name(model.ptr, k)) for k in range(self.n_outputs_)]
        a = np.array([float(self.fit_info_[n]["alpha"]) for n in names])
        r = np.array([float(self.fit_info_[n]["l1_ratio"]) for n in names])
        self.alpha_, self.l1_ratio_ = (float(a[0]), float(r[0])) if self._y_ndim == 1 else (a, r)


class PLSRegressor(_LinearEstimator):
    """Partial least squares regression: the library's `pls` model (configs/model/pls.yaml), scikit-learn's
    PLSRegression (NIPALS) on the standardised features, one output at a time (PLS1).

    Parameters
    ----------
    n_components : int, default=2
        Latent components, at most n_features.
    scale : bool, default=True
        Divide the centred inputs and output by their standard deviations (n - 1) first."""
    _model_name = "pls"

    def __init__(self, n_components=2, scale=True):
        self.n_components = n_components
        self.scale = scale


class PCRRegressor(_LinearEstimator):
    """Principal component regression: the library's `pcr` model (configs/model/pcr.yaml),
    make_pipeline(StandardScaler(), PCA(n_components), LinearRegression()) on the standardised features.

    Parameters
    ----------
    n_components : int, default=2
        Principal components regressed on, at most min(n_samples, n_features)."""
    _model_name = "pcr"

    def __init__(self, n_components=2):
        self.n_components = n_components

    def _more_tags(self):
        # a few principal components may explain y poorly (check_regressors_train's R^2 > 0.5 on iris), as
        # scikit-learn's own make_pipeline(StandardScaler(), PCA(k), LinearRegression()), which it equals
        return {"allow_nan": True, "multioutput": True, "poor_score": True}


# --------------------------------------------------------------------------------------------- sequences

Sequences = namedtuple("Sequences", "X y t lengths cells meta")
Sequences.__doc__ = """Padded sequence arrays, what :func:`to_sequences` returns (a named tuple).

Parameters
----------
X : numpy.ndarray
    (n_cells, T, F), NaN rows after each cell's last step.
y : numpy.ndarray
    (n_cells, T) or (n_cells, T, n_outputs), NaN at padding.
t : numpy.ndarray or None
    (n_cells, T) step times in days (NaN at padding).
lengths : numpy.ndarray
    (n_cells,) int64: real steps per cell.
cells : numpy.ndarray of str (object dtype)
    The group keys, in order ("5-A"): an array, as the other fields.
meta : pandas.DataFrame
    The table's meta columns at each cell's first step: experiment, cell, temperature_c where present.

Examples
--------
>>> s = to_sequences(batteryml.features(["pipeline=latent_ode_seq"]))  # doctest: +SKIP
>>> s.X.shape, s.lengths  # doctest: +SKIP
"""


def to_sequences(frame: Any, features: Union[None, str, Sequence[str]] = None,
                 target: Union[None, str, Sequence[str]] = None,
                 cell: Union[str, Sequence[str]] = ("experiment", "cell"),
                 time: Optional[str] = "days", order: Optional[str] = "set_index") -> Sequences:
    """Group a table with one row per cell and step into padded sequences, one per cell.

    The table is the pipeline's (batteryml.features(...) or the CSV `batteryml features` writes). Where a name
    is both a meta column and a feature (days with include_days), the features and targets take its last
    column and cell, time and order its first.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    features : str or list of str, optional
        The feature columns (default: ``frame.attrs["features"]``, as batteryml.features sets it).
    target : str or list of str, optional
        The target column(s) (default: ``frame.attrs["targets"]``); a string gives y (n_cells, T), a list
        (n_cells, T, n_outputs).
    cell : str or tuple of str, default ("experiment", "cell")
        The column(s) naming a sequence (those present are used).
    time : str or None, default "days"
        The column of the step times in days (None: no times).
    order : str or None, default "set_index"
        The column the steps are sorted by (None keeps the table's order).

    Returns
    -------
    Sequences
        X, y, t, lengths, cells, meta.

    Raises
    ------
    ValueError
        Not a DataFrame, a column that is not there, no rows.

    Examples
    --------
    >>> t = batteryml.features(["pipeline=latent_ode_seq"])  # doctest: +SKIP
    >>> X, y, t, lengths, cells, meta = to_sequences(t)  # doctest: +SKIP
    """
    import pandas as pd
    if not isinstance(frame, pd.DataFrame):
        raise ValueError("to_sequences needs a pandas DataFrame, got %s" % type(frame).__name__)
    if features is None:
        features = frame.attrs.get("features")
    if target is None:
        target = frame.attrs.get("targets")
        if target is not None and len(target) == 1:
            target = target[0]
    if features is None or target is None:
        raise ValueError("to_sequences: name the feature and target columns (features=, target=)")
    features = [features] if isinstance(features, str) else list(features)
    targets = [target] if isinstance(target, str) else list(target)
    cols = [str(c) for c in frame.columns]
    keys = [cell] if isinstance(cell, str) else [c for c in cell if c in cols]
    missing = [c for c in features + targets + keys + ([time] if time else []) + ([order] if order else [])
               if c not in cols]
    if missing:
        raise ValueError("to_sequences: no column %s in the table (columns: %s)"
                         % (", ".join(map(repr, missing)), ", ".join(cols)))

    def column(name, last):
        where = [i for i, c in enumerate(cols) if c == name]
        return frame.iloc[:, where[-1] if last else where[0]].to_numpy()

    fx = np.column_stack([column(c, True).astype(np.float64) for c in features])
    fy = np.column_stack([column(c, True).astype(np.float64) for c in targets])
    ft = column(time, False).astype(np.float64) if time else None
    fo = column(order, False) if order else None
    if keys:
        kd = pd.DataFrame({"k%d" % i: column(k, False) for i, k in enumerate(keys)})
        codes = kd.groupby(list(kd.columns), sort=False).ngroup().to_numpy()
        first = [np.flatnonzero(codes == g)[0] for g in range(codes.max() + 1)] if len(codes) else []
        names = ["-".join(str(kd.iloc[r, j]) for j in range(len(keys))) for r in first]
    else:
        codes = np.zeros(len(frame), dtype=np.int64)
        names = ["all"]
    groups = [np.flatnonzero(codes == g) for g in range(len(names))]
    if not groups or not len(frame):
        raise ValueError("to_sequences: the table has no rows")
    if fo is not None:
        groups = [g[np.argsort(fo[g], kind="stable")] for g in groups]
    n, T = len(groups), max(len(g) for g in groups)
    X = np.full((n, T, len(features)), np.nan)
    y = np.full((n, T, len(targets)), np.nan)
    t = np.full((n, T), np.nan)
    lengths = np.array([len(g) for g in groups], dtype=np.int64)
    for i, g in enumerate(groups):
        X[i, :len(g)] = fx[g]
        y[i, :len(g)] = fy[g]
        if ft is not None:
            t[i, :len(g)] = ft[g]
    mcols = [i for i, c in enumerate(cols) if c in keys or c in ("experiment", "cell", "temperature_c")]
    mcols = [i for i in mcols if cols.index(cols[i]) == i]  # first of duplicated names
    meta = frame.iloc[[g[0] for g in groups], mcols].reset_index(drop=True)
    return Sequences(X, y[:, :, 0] if isinstance(target, str) else y, t if time else None, lengths,
                     np.asarray(names, dtype=object), meta)


def _as_steps(a, what, n=None, T=None, allow_nan=True):
    """a (n, T, K) float64 array from an array or a list of per-cell arrays (ragged: padded with NaN)."""
    if isinstance(a, (list, tuple)) and len(a) and all(hasattr(v, "__len__") for v in a) and \
            len({len(v) for v in a}) > 1:
        Tm = max(len(v) for v in a)
        parts = [np.asarray(v) for v in a]
        arr = np.full((len(parts), Tm) + parts[0].shape[1:], np.nan)
        for i, v in enumerate(parts):
            arr[i, :len(v)] = v
        a = arr
    a = np.asarray(a)
    if a.dtype == object or np.iscomplexobj(a) or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        a = check_array(a.reshape(a.shape[0] if a.ndim else 1, -1), dtype=np.float64,
                        force_all_finite="allow-nan" if allow_nan else True, input_name=what).reshape(a.shape)
    if a.ndim not in ((3,) if what == "X" else (2, 3)):
        raise ValueError("%s must have shape %s, got %s" % (
            what, "(n_cells, T, n_features)" if what == "X" else "(n_cells, T) or (n_cells, T, k)", a.shape))
    if a.ndim == 2:
        a = a[:, :, None]
    if n is not None and a.shape[0] != n:
        raise ValueError("%s has %d cells, X has %d" % (what, a.shape[0], n))
    if T is not None and a.shape[1] != T:
        raise ValueError("%s has %d steps per cell, X has %d" % (what, a.shape[1], T))
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError("%s is empty: shape %s" % (what, a.shape))
    a = check_array(a.reshape(a.shape[0], -1), dtype=np.float64, force_all_finite="allow-nan",
                    input_name=what).reshape(a.shape)
    if np.isinf(a).any():
        raise ValueError("%s contains infinity" % what)
    return np.ascontiguousarray(a, dtype=np.float64)


class _SequenceEstimator(_BMLEstimator):
    _needs_time = False
    _has_history = True
    _has_attention = False

    def _time_index(self, F, names):
        tf = self.time_feature
        if isinstance(tf, str):
            names = list(names) if names is not None else []
            if tf not in names:
                raise ValueError("time_feature %r: no feature of that name (feature names: %s)"
                                 % (tf, ", ".join(names) if names else "none given"))
            return names.index(tf)
        if isinstance(tf, numbers.Integral) and not isinstance(tf, bool) and -F <= tf < F:
            return int(tf) % F
        raise ValueError("time_feature must be the index (0 to %d) or the name of a feature, got %r" % (F - 1, tf))

    def _steps(self, X, y=None, t=None, lengths=None, fit=False, feature_names=None):
        """Validated arrays of one call: dict x (n, T, F) raw, mask (n, T), t (n, T) or None, y (n, T, O)."""
        x = _as_steps(X, "X")
        n, T, F = x.shape
        if t is None and getattr(self, "time_feature", None) is not None:
            names = feature_names if fit else getattr(self, "feature_names_in_", None)
            t = x[:, :, self._time_index(F, names)]
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer) or \
                    (lengths < 1).any() or (lengths > T).any():
                raise ValueError("lengths must hold %d whole numbers from 1 to %d (steps per cell)" % (n, T))
            mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.float64)
        else:
            real = ~np.isnan(x).all(axis=2)
            mask = real.astype(np.float64)
            last = np.where(real.any(axis=1), T - np.argmax(real[:, ::-1], axis=1), 0)
            bad = np.flatnonzero((real.sum(axis=1) != last) | (last == 0))
            if len(bad):
                raise ValueError("X: cell %d has %s: padded steps (rows of NaN) must come after the cell's last "
                                 "step, or give lengths=" % (bad[0], "no step" if last[bad[0]] == 0 else "a gap"))
        if not fit and F != self.n_features_in_:
            raise ValueError("X has %d features per step, but %s is expecting %d features as input"
                             % (F, type(self).__name__, self.n_features_in_))
        pad = mask == 0
        out = {"x": x, "mask": np.ascontiguousarray(mask), "t": None}
        if t is None and self._needs_time:
            raise ValueError("%s needs the step times: t (n_cells, T) in days, or time_feature="
                             % type(self).__name__)
        if t is not None:
            tt = _as_steps(t, "t", n, T)[:, :, 0].copy()
            tt[pad] = 0.0
            if np.isnan(tt).any():
                i, k = np.argwhere(np.isnan(tt))[0]
                raise ValueError("t: cell %d step %d: no time at a real step" % (i, k))
            out["t"] = np.ascontiguousarray(tt)
        if y is not None:
            yy = _as_steps(y, "y", n, T).copy()
            yy[pad] = 0.0
            if np.isnan(yy).any():
                i, k, _ = np.argwhere(np.isnan(yy))[0]
                raise ValueError("y: cell %d step %d: the target is NaN at a real step" % (i, k))
            out["y"] = yy
            ragged = isinstance(y, (list, tuple)) and len(y) and hasattr(y[0], "__len__")
            out["y_ndim"] = np.asarray(y[0]).ndim + 1 if ragged else np.asarray(y).ndim
        return out

    def _inputs(self, d):
        """Preprocessed x (n, T, F) of validated steps d: padded steps 0."""
        n, T, F = d["x"].shape
        x = self._apply_preprocess(d["x"].reshape(n * T, F))
        if np.shares_memory(x, d["x"]):
            x = x.copy()
        x[d["mask"].reshape(-1) == 0] = 0.0
        return np.ascontiguousarray(x.reshape(n, T, F))

    @staticmethod
    def _pad(d, T):
        """d's arrays padded with padding steps to T steps."""
        n, t0 = d["mask"].shape
        if t0 == T:
            return d
        e = dict(d)
        for k in ("x", "y", "mask", "t"):
            if d.get(k) is not None:
                a = d[k]
                b = np.zeros((n, T) + a.shape[2:])
                b[:, :t0] = a
                e[k] = b
        return e

    def _samples(self, d, x, fnames, tnames, cells=None):
        y = d.get("y")
        if y is None:
            y = np.zeros(x.shape[:2] + (self.n_outputs_,))
        return CSamples(x, np.ascontiguousarray(y), fnames, tnames, mask=d["mask"], t=d["t"], cells=cells)

    def fit(self, X: Any, y: Any, t: Any = None, lengths: Any = None, eval_set: Any = None,
            feature_names: Optional[Sequence[str]] = None, target_names: Union[None, str, Sequence[str]] = None,
            cells: Optional[Sequence[str]] = None, on_epoch: Optional[Any] = None) -> Any:
        """Fit on sequences, one per cell.

        Parameters
        ----------
        X : array-like of shape (n_cells, T, F), or a list of (T_i, F) arrays
            The features per step; padded steps at the end of each cell.
        y : array-like of shape (n_cells, T) or (n_cells, T, n_outputs)
            The targets per step.
        t : array-like of shape (n_cells, T), optional
            The step times in days (required by the ODE models unless time_feature names the feature that
            holds them).
        lengths : array-like of shape (n_cells,), optional
            The real steps per cell (default: a step is padding when its row of X is all NaN).
        eval_set : list of one tuple, optional
            [(X_val, y_val)], [(X_val, y_val, t_val)] or [(X_val, y_val, t_val, lengths_val)]: validation
            cells for early stopping (patience).
        feature_names, target_names, cells : list of str, optional
            Names kept with the model.
        on_epoch : callable, optional
            on_epoch(epoch, epochs, train_loss, val_loss or None), called after every epoch.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            Shapes or values that cannot be fitted (padding inside a sequence, NaN targets at real steps).
        KeyboardInterrupt
            Ctrl-C: the fit stops at the next mini-batch.
        """
        self._reset()
        d = self._steps(X, y, t, lengths, fit=True, feature_names=feature_names)
        n, T, F = d["x"].shape
        O = d["y"].shape[2]
        model = self._create()
        self.n_features_in_ = F
        fnames = ["x%d" % j for j in range(F)]
        if feature_names is not None:
            fnames = [str(v) for v in feature_names]
            if len(fnames) != F:
                raise ValueError("feature_names: %d names for %d features" % (len(fnames), F))
            self.feature_names_in_ = np.asarray(fnames, dtype=object)
        tnames = ["y"] if O == 1 else ["y%d" % k for k in range(O)]
        if target_names is not None:
            tnames = [target_names] if isinstance(target_names, str) else [str(v) for v in target_names]
            if len(tnames) != O:
                raise ValueError("target_names: %d names for %d outputs" % (len(tnames), O))
        dv = None
        if eval_set is not None:
            ev = list(eval_set) if not (isinstance(eval_set, tuple) and 2 <= len(eval_set) <= 4 and
                                        not isinstance(eval_set[0], tuple)) else [eval_set]
            if len(ev) != 1 or not 2 <= len(ev[0]) <= 4:
                raise ValueError("eval_set must be [(X_val, y_val[, t_val[, lengths_val]])]: one validation set")
            e = tuple(ev[0]) + (None,) * (4 - len(ev[0]))
            dv = self._steps(e[0], e[1], e[2], e[3], fit=True, feature_names=feature_names)
            if dv["x"].shape[2] != F or dv["y"].shape[2] != O:
                raise ValueError("eval_set: %d features/%d outputs per step, the training data %d/%d"
                                 % (dv["x"].shape[2], dv["y"].shape[2], F, O))
            if (dv["t"] is None) != (d["t"] is None):
                raise ValueError("eval_set: give step times for both the training and the validation cells, or neither")
            Tm = max(T, dv["x"].shape[1])  # the library wants one length: pad the shorter set
            d, dv = self._pad(d, Tm), self._pad(dv, Tm)
        rows = np.flatnonzero(d["mask"].reshape(-1))
        self._fit_preprocess(model, d["x"].reshape(-1, F), rows)
        keep = [self._samples(d, self._inputs(d), fnames, tnames, cells)]
        va = ffi.NULL
        if dv is not None:
            keep.append(self._samples(dv, self._inputs(dv), fnames, tnames))
            va = keep[-1].ptr
        self.n_outputs_ = O
        vb = _Verbose(self, d["x"].shape[0], F, O, 0 if dv is None else dv["x"].shape[0]) \
            if getattr(self, "verbose", 0) else None
        _fit_with_callback(model, keep[0].ptr, va, self._fit_seed(), on_epoch, vb)
        self._y_ndim = d["y_ndim"]
        self._finish_fit(model)
        if vb is not None:
            vb.done(self.fit_info_)
        return self

    def _call(self, fn, X, t, lengths, width):
        check_is_fitted(self)
        d = self._steps(X, None, t, lengths)
        x = self._inputs(d)
        n, T, _ = x.shape
        s = self._samples(d, x, ["x%d" % j for j in range(x.shape[2])], ["y"] * self.n_outputs_)
        out = np.zeros((n, T, width(T)), dtype=np.float64)
        keep = []
        with self._lock:
            check(fn(self._model.ptr, s.ptr, as_double_ptr(out, keep)))
        out[d["mask"] == 0] = np.nan
        return out

    def predict(self, X: Any, t: Any = None, lengths: Any = None) -> np.ndarray:
        """Predict every step of every cell.

        Parameters
        ----------
        X : array-like of shape (n_cells, T, F)
            As in fit.
        t : array-like of shape (n_cells, T), optional
            As in fit.
        lengths : array-like of shape (n_cells,), optional
            As in fit.

        Returns
        -------
        numpy.ndarray
            (n_cells, T) (one output fitted from a 2-d y) or (n_cells, T, n_outputs); NaN at padded steps.
        """
        out = self._call(lib.bml_model_predict_samples, X, t, lengths, lambda T: self.n_outputs_)
        return out[:, :, 0] if self._y_ndim == 2 else out

    def score(self, X: Any, y: Any, t: Any = None, lengths: Any = None, sample_weight: Any = None) -> float:
        """R^2 over the real steps of every cell (uniform average over outputs).

        Parameters
        ----------
        X : array-like of shape (n_cells, T, F)
            As in fit.
        y : array-like of shape (n_cells, T) or (n_cells, T, n_outputs)
            The true targets.
        t : array-like of shape (n_cells, T), optional
            As in fit.
        lengths : array-like of shape (n_cells,), optional
            As in fit.
        sample_weight : array-like, optional
            One weight per real step.

        Returns
        -------
        float
        """
        d = self._steps(X, y, t, lengths)
        p = self.predict(X, t, lengths)
        p = p.reshape(p.shape[0], p.shape[1], -1)
        real = d["mask"] != 0
        return r2_score(d["y"][real], p[real], sample_weight=sample_weight)

    def attention(self, X: Any, t: Any = None, lengths: Any = None) -> np.ndarray:
        """Head-averaged self-attention weights, query step x key step (models with attention only).

        Parameters
        ----------
        X : array-like of shape (n_cells, T, F)
            As in fit.
        t : array-like of shape (n_cells, T), optional
            As in fit.
        lengths : array-like of shape (n_cells,), optional
            As in fit.

        Returns
        -------
        numpy.ndarray
            (n_cells, T, T); NaN rows at padded queries, padded keys weigh 0.

        Raises
        ------
        batteryml.Error
            The model has no attention (NeuralODERegressor).
        """
        if not self._has_attention:
            raise Error("model %s has no attention weights" % self._model_name)
        out = self._call(lib.bml_model_attention, X, t, lengths, lambda T: T)
        return out

    def _more_tags(self):
        return {"allow_nan": True, "multioutput": True, "X_types": ["3darray"]}


_TRAIN_DOC = """
    Training (the study's training.* and loss group): epochs, batch_size, learning_rate, weight_decay, patience
    (early stopping on eval_set, best weights restored), grad_clip, scheduler (cosine_warm_restarts |
    constant), scheduler_t0, scheduler_t_mult, loss (mse | mae | huber | mape | physics_informed) with
    loss_delta (huber), loss_epsilon (mape), loss_monotonicity_weight and loss_smoothness_weight
    (physics_informed), scale_targets; seed (-1: random_state) and random_state (the study's seed)."""


_TIME_DOC = """
    time_feature (Python only, not saved with the model): the index or name of the feature of X that holds
    the step times in days, used where t is not given; with it scikit-learn's cross_val_score, GridSearchCV
    and Pipeline, which hand over X and y only, work with this model (pipeline latent_ode_seq has `days` as
    its last feature)."""


class LSTMAttentionRegressor(_SequenceEstimator):
    """2-layer bidirectional LSTM -> multi-head self-attention -> LayerNorm -> per-step head: the library's
    `lstm_attn` model (configs/model/lstm_attn.yaml). attention(X) gives the attention weights."""
    _model_name = "lstm_attn"
    _has_attention = True

    def __init__(self, hidden_dim=64, num_heads=4, dropout=0.1, epochs=200, batch_size=32, learning_rate=0.001,
                 weight_decay=0.01, patience=20, grad_clip=1.0, scheduler="cosine_warm_restarts", scheduler_t0=50,
                 scheduler_t_mult=2, loss="mse", loss_delta=1.0, loss_epsilon=1e-8, loss_monotonicity_weight=0.1,
                 loss_smoothness_weight=0.01, scale_targets=True, seed=-1, random_state=42, verbose=0):
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.scheduler = scheduler
        self.scheduler_t0 = scheduler_t0
        self.scheduler_t_mult = scheduler_t_mult
        self.loss = loss
        self.loss_delta = loss_delta
        self.loss_epsilon = loss_epsilon
        self.loss_monotonicity_weight = loss_monotonicity_weight
        self.loss_smoothness_weight = loss_smoothness_weight
        self.scale_targets = scale_targets
        self.seed = seed
        self.random_state = random_state
        self.verbose = verbose


class CNNLSTMRegressor(LSTMAttentionRegressor):
    """Per-step Conv1d-ReLU-BatchNorm encoder (64, 32 channels) -> BiLSTM -> attention -> per-step head: the
    library's `cnn_lstm` model (configs/model/cnn_lstm.yaml). Parameters as LSTMAttentionRegressor's."""
    _model_name = "cnn_lstm"


class _LatentODEEstimator(_SequenceEstimator):
    _needs_time = True

    def latent(self, X: Any, t: Any = None, lengths: Any = None) -> np.ndarray:
        """Latent trajectories of the ODE solve.

        Parameters
        ----------
        X : array-like of shape (n_cells, T, F)
            As in fit.
        t : array-like of shape (n_cells, T), optional
            As in fit.
        lengths : array-like of shape (n_cells,), optional
            As in fit.

        Returns
        -------
        numpy.ndarray
            (n_cells, T, latent size); NaN at padded steps.
        """
        check_is_fitted(self)
        dim = lib.bml_model_latent_dim(self._model.ptr)
        return self._call(lib.bml_model_latent, X, t, lengths, lambda T: dim)


class NeuralODERegressor(_LatentODEEstimator):
    """Latent neural ODE: encoder MLP on the first step -> dz/dt = MLP([z, t]) solved over the step times ->
    per-step decoder: the library's `neural_ode` model (configs/model/neural_ode.yaml). Needs t (days since
    any origin: each cell's times are shifted to start at 0 and scaled by the longest training span).
    latent(X, t) gives the latent trajectories."""
    _model_name = "neural_ode"

    def __init__(self, latent_dim=32, hidden_dim=64, solver="dopri5", rtol=1e-3, atol=1e-4, use_adjoint=False,
                 max_steps=10000, epochs=200, batch_size=32, learning_rate=0.001, weight_decay=0.01, patience=20,
                 grad_clip=1.0, scheduler="cosine_warm_restarts", scheduler_t0=50, scheduler_t_mult=2, loss="mse",
                 loss_delta=1.0, loss_epsilon=1e-8, loss_monotonicity_weight=0.1, loss_smoothness_weight=0.01,
                 scale_targets=True, seed=-1, random_state=42, time_feature=None, verbose=0):
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.solver = solver
        self.rtol = rtol
        self.atol = atol
        self.use_adjoint = use_adjoint
        self.max_steps = max_steps
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.scheduler = scheduler
        self.scheduler_t0 = scheduler_t0
        self.scheduler_t_mult = scheduler_t_mult
        self.loss = loss
        self.loss_delta = loss_delta
        self.loss_epsilon = loss_epsilon
        self.loss_monotonicity_weight = loss_monotonicity_weight
        self.loss_smoothness_weight = loss_smoothness_weight
        self.scale_targets = scale_targets
        self.seed = seed
        self.random_state = random_state
        self.time_feature = time_feature
        self.verbose = verbose


class ACLARegressor(_LatentODEEstimator):
    """ACLA: attention block -> CNN-LSTM encoder -> augmented neural ODE over the step times -> per-step head:
    the library's `acla` model (configs/model/acla.yaml; made for the three degradation modes as outputs).
    Needs t. attention(X, t) and latent(X, t) give the attention weights and latent trajectories."""
    _model_name = "acla"
    _has_attention = True

    def __init__(self, attn_dim=64, num_heads=4, dropout=0.1, cnn_filters1=64, cnn_filters2=32, hidden_dim=64,
                 latent_dim=64, augment_dim=20, ode_hidden=128, solver="dopri5", rtol=1e-4, atol=1e-5,
                 use_adjoint=False, max_steps=10000, epochs=200, batch_size=32, learning_rate=0.001,
                 weight_decay=0.01, patience=20, grad_clip=1.0, scheduler="cosine_warm_restarts", scheduler_t0=50,
                 scheduler_t_mult=2, loss="mse", loss_delta=1.0, loss_epsilon=1e-8, loss_monotonicity_weight=0.1,
                 loss_smoothness_weight=0.01, scale_targets=True, seed=-1, random_state=42, time_feature=None,
                 verbose=0):
        self.attn_dim = attn_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.cnn_filters1 = cnn_filters1
        self.cnn_filters2 = cnn_filters2
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.augment_dim = augment_dim
        self.ode_hidden = ode_hidden
        self.solver = solver
        self.rtol = rtol
        self.atol = atol
        self.use_adjoint = use_adjoint
        self.max_steps = max_steps
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.scheduler = scheduler
        self.scheduler_t0 = scheduler_t0
        self.scheduler_t_mult = scheduler_t_mult
        self.loss = loss
        self.loss_delta = loss_delta
        self.loss_epsilon = loss_epsilon
        self.loss_monotonicity_weight = loss_monotonicity_weight
        self.loss_smoothness_weight = loss_smoothness_weight
        self.scale_targets = scale_targets
        self.seed = seed
        self.random_state = random_state
        self.time_feature = time_feature
        self.verbose = verbose

# --------------------------------------------------------------------------------------------- help

_PY_TYPES = {"int": "int", "double": "float", "bool": "bool", "string": "str", "list": "sequence of float"}
_PY_ONLY = {
    "verbose": ("int or bool", "Python only: 0 (False) prints nothing; 1 (True) prints a line when the fit starts "
                "and one when it ends (its time; trees and best iteration, or epochs run), and the neural models' "
                "epochs in between as batteryml.run shows them: one updating line in a notebook or on a terminal, "
                "else a line per epoch on stdout; 2 a line per epoch always. GBDT's boosting rounds are not "
                "reported one by one."),
    "random_state": ("int, RandomState or None", "The study's seed (``seed=`` of the configuration): it seeds the "
                     "network where its own seed is -1, as `batteryml run` does; None: 42."),
    "time_feature": ("int, str or None", "Python only, not saved with the model: the index or name of the feature "
                     "of X that holds the step times in days, used where t is not given; with it scikit-learn's "
                     "cross_val_score, GridSearchCV and Pipeline, which hand over X and y only, work with this model "
                     "(pipeline latent_ode_seq has `days` as its last feature)."),
}
_EXAMPLE_STATIC = """>>> t = batteryml.features(["data.experiment=5"])  # doctest: +SKIP
>>> X, y = t[t.attrs["features"]], t["soh"]  # doctest: +SKIP
>>> m = batteryml.{name}().fit(X, y)  # doctest: +SKIP
>>> m.predict(X)  # doctest: +SKIP"""
_EXAMPLE_SEQ = """>>> from batteryml.estimators import to_sequences  # doctest: +SKIP
>>> s = to_sequences(batteryml.features(["pipeline=latent_ode_seq"]))  # doctest: +SKIP
>>> m = batteryml.{name}(epochs=20).fit(s.X, s.y, t=s.t, lengths=s.lengths)  # doctest: +SKIP
>>> m.predict(s.X, t=s.t, lengths=s.lengths)  # doctest: +SKIP"""


def _registry_params(model_name):
    for i in range(lib.bml_model_registry_count()):
        if string(lib.bml_model_registry_name(i)) == model_name:
            pp = ffi.new("bml_param_info **")
            n = lib.bml_model_registry_params(i, pp)
            return {string(pp[0][k].key): (string(pp[0][k].type), string(pp[0][k].help)) for k in range(n)}
    return {}


def _registry_default(model_name, key):
    for i in range(lib.bml_model_registry_count()):
        if string(lib.bml_model_registry_name(i)) == model_name:
            pp = ffi.new("bml_param_info **")
            n = lib.bml_model_registry_params(i, pp)
            for k in range(n):
                if string(pp[0][k].key) == key:
                    return string(pp[0][k].default_value)
    return None


def _numpydoc(cls, notes=""):
    """cls.__doc__ as numpydoc: its own text, a Parameters section generated from the library's parameter table
    (bml_model_registry_params: type and help; defaults from the signature) where the text has none, Notes and
    Examples."""
    import inspect
    own = inspect.cleandoc(cls.__doc__ or "")
    parts = [own]
    if "\nParameters\n---" not in "\n" + own:
        table = _registry_params(cls._model_name)
        lines = ["Parameters", "----------"]
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name == "self":
                continue
            kind, text = table.get(name, (None, None))
            if name in _PY_ONLY and (kind is None or name == "random_state" and cls._model_name != "lgbm"):
                kind, text = _PY_ONLY[name]
            else:
                kind = _PY_TYPES.get(kind, kind or "object")
            if name == "hidden_dims":
                kind = "sequence of int"
            if cls._model_name == "lgbm" and name == "early_stopping_rounds":
                kind = "int or None"
                text = ("Stop after this many rounds without a better validation RMSE (eval_set); 0: every round. "
                        "None: the library's default (%s) with an eval_set, early stopping off without one. "
                        "Set (> 0) without an eval_set it cannot act: EarlyStoppingWarning"
                        % _registry_default("lgbm", "early_stopping_rounds"))
            lines.append("%s : %s, default=%r" % (name, kind, p.default))
            lines.append("    " + (text or "").rstrip(".") + ".")
        parts.append("\n".join(lines))
    if notes:
        parts.append("Notes\n-----\n" + inspect.cleandoc(notes))
    example = _EXAMPLE_SEQ if issubclass(cls, _SequenceEstimator) else _EXAMPLE_STATIC
    parts.append("Examples\n--------\n" + example.format(name=cls.__name__))
    cls.__doc__ = "\n\n".join(parts)


for _cls in (GBDTRegressor, MLPRegressor):
    _numpydoc(_cls)
for _cls in (OLSRegressor, RidgeRegressor, LassoRegressor, ElasticNetRegressor, PLSRegressor, PCRRegressor):
    _numpydoc(_cls, _LINEAR_DOC)
_numpydoc(ElasticNetCVRegressor, _LINEAR_DOC + " alpha_ and l1_ratio_ (chosen, per output where there are several).")
_numpydoc(LSTMAttentionRegressor, _TRAIN_DOC)
CNNLSTMRegressor.__doc__ = CNNLSTMRegressor.__doc__.replace(" Parameters as LSTMAttentionRegressor's.", "")
_numpydoc(CNNLSTMRegressor, _TRAIN_DOC)
_numpydoc(NeuralODERegressor, _TRAIN_DOC + _TIME_DOC)
_numpydoc(ACLARegressor, _TRAIN_DOC + _TIME_DOC)
del _cls


_CLASSES = {c._model_name: c for c in (GBDTRegressor, MLPRegressor, OLSRegressor, RidgeRegressor, LassoRegressor,
                                       ElasticNetRegressor, ElasticNetCVRegressor, PLSRegressor, PCRRegressor,
                                       LSTMAttentionRegressor, CNNLSTMRegressor, NeuralODERegressor, ACLARegressor)}


def load_model(path: Union[str, "os.PathLike[str]"]) -> Any:
    """The fitted estimator saved in a model directory.

    Saved by save(), or by `batteryml run` (<run>/model/, or <run>/model/<fold>/ for LOCO runs). Its class
    follows the saved model's name; its parameters are the saved ones; preprocess.json, where present,
    restores the inputs' preprocessing.

    Parameters
    ----------
    path : str or os.PathLike
        The model directory.

    Returns
    -------
    estimator
        A fitted GBDTRegressor, MLPRegressor, ... (the class of the saved model).

    Raises
    ------
    batteryml.Error
        A missing, corrupt (checksums) or foreign folder.

    Examples
    --------
    >>> m = batteryml.load_model("runs/<run>/model/E5-A")  # doctest: +SKIP
    >>> m.predict(X)  # doctest: +SKIP
    """
    path = os.fspath(path)
    model = _load_c_model(path)
    cls = _CLASSES.get(model.name)
    if cls is None:
        raise Error("%s: model %s has no Python estimator" % (path, model.name))
    with open(os.path.join(path, "model.json"), encoding="utf-8") as f:  # verified by bml_model_load
        saved = json.load(f)
    types = _param_types(model.name)
    names = cls._get_param_names()
    est = cls(**{k: _parse(v, types.get(k, "string")) for k, v in saved.get("params", {}).items() if k in names})
    F, O = model.n_features(), model.n_targets()
    fnames = [string(lib.bml_model_feature_name(model.ptr, j)) for j in range(F)]
    est.n_features_in_ = F
    if fnames != ["x%d" % j for j in range(F)]:
        est.feature_names_in_ = np.asarray(fnames, dtype=object)
    impute, mean, scale = (np.zeros(F) for _ in range(3))
    has_i, has_s = ffi.new("int *"), ffi.new("int *")
    keep = []
    st = lib.bml_preprocess_load(os.fsencode(path), F, as_double_ptr(impute, keep), as_double_ptr(mean, keep),
                                 as_double_ptr(scale, keep), has_i, has_s)
    if st != 0 and string(lib.bml_status_name(st)) != "BML_ERR_NOT_FOUND":
        check(st)
    est.impute_mean_ = impute if has_i[0] else None
    est.scaler_mean_, est.scaler_scale_ = (mean, scale) if has_s[0] else (None, None)
    seq = issubclass(cls, _SequenceEstimator)
    est._y_ndim = (2 if seq else 1) if O == 1 else (3 if seq else 2)
    est._finish_fit(model)
    return est
