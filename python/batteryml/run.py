"""Whole studies from Python: `run(overrides)` runs what `batteryml run <overrides>` runs (the same
configuration, the same numbers, the same run folder) and returns a `Run`; `load_run(dir)` opens a saved one.

The configuration folder is found as the program finds it: the `config_dir` argument, $BATTERYML_CONFIG_DIR,
./configs (when it holds config.yaml), the installed library's <prefix>/share/batteryml/configs, then the
configs/ folder of the source tree (beside this package, or beside the build folder the library was loaded
from). Relative data paths of the configs are looked up
from the working directory, then from the folder above the config folder (where the shipped data lives).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ._dtypes import normalize
from ._lib import Error, call_cancellable, check, ffi, lib, library_path, string, take_string

__all__ = ["run", "load_run", "Run", "config_dir"]

PathLike = Union[str, "os.PathLike[str]"]
Overrides = Union[None, str, Sequence[str], Dict[str, Any]]

_HERE = os.path.dirname(os.path.abspath(__file__))


# ---- configuration -------------------------------------------------------------------------------------

def _has_config(d):
    return os.path.isfile(os.path.join(d, "config.yaml"))


def config_dir(config_dir: Optional[PathLike] = None) -> str:
    """The configuration folder a study would use.

    Found as the program finds it: the argument, $BATTERYML_CONFIG_DIR, ./configs (when it holds config.yaml),
    the installed library's <prefix>/share/batteryml/configs, then the source tree's configs/.

    Parameters
    ----------
    config_dir : str or os.PathLike, optional
        A folder to use (checked to exist).

    Returns
    -------
    str
        The folder.

    Raises
    ------
    batteryml.Error
        The given folder does not exist, or none is found.

    Examples
    --------
    >>> batteryml.config_dir()  # doctest: +SKIP
    '/usr/local/share/batteryml/configs'
    """
    if config_dir is not None:
        d = os.fspath(config_dir)
        if not os.path.isdir(d):
            raise Error("config_dir %r: no such folder" % d, "BML_ERR_NOT_FOUND")
        return d
    env = os.environ.get("BATTERYML_CONFIG_DIR")
    if env:
        return env
    if _has_config("configs"):
        return "configs"
    installed = string(lib.bml_config_installed_dir())
    if installed:
        return installed
    # the source tree: beside this package (python/batteryml), or beside the build folder the library is in
    for source in (os.path.join(_HERE, "..", "..", "configs"),
                   os.path.join(os.path.dirname(os.path.abspath(library_path)), "..", "configs")):
        source = os.path.normpath(source)
        if _has_config(source):
            return source
    raise Error("no configuration folder: pass config_dir=, set $BATTERYML_CONFIG_DIR, run from a folder with "
                "configs/config.yaml, or install the library (cmake --install) so that <prefix>/share/batteryml/"
                "configs is found", "BML_ERR_NOT_FOUND")


def _base_dir(cfg_dir):
    """The folder above the config folder: where relative data paths of the shipped configs live."""
    return os.path.join(cfg_dir, "..")


def _cstr(s, what="argument"):
    """A str or path as a NUL-terminated UTF-8 C string (kept alive by the caller's reference)."""
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, bytes):
        b = s
    elif isinstance(s, str):
        b = os.fsencode(s)  # UTF-8 (undecodable bytes of a file name come back as they were)
    else:
        raise Error("%s must be a string, not %s" % (what, type(s).__name__), "BML_ERR_VALUE")
    if b"\0" in b:
        raise Error("%s %r holds a NUL character" % (what, s), "BML_ERR_VALUE")
    return ffi.new("char[]", b)


def _override_list(overrides):
    """Overrides as `key=value` strings: a list/tuple of them, one string, or a dict {key: value}."""
    if overrides is None:
        return []
    if isinstance(overrides, (str, bytes)):
        overrides = [overrides]
    if isinstance(overrides, dict):
        out = []
        for k, v in overrides.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (list, tuple)):
                v = "[" + ", ".join(str(x) for x in v) + "]"
            out.append("%s=%s" % (k, v))
        return out
    try:
        items = list(overrides)
    except TypeError:
        raise Error("overrides must be a list of 'key=value' strings or a dict, not %s" % type(overrides).__name__,
                    "BML_ERR_VALUE") from None
    for o in items:
        if not isinstance(o, str):
            raise Error("override %r is not a string ('key=value')" % (o,), "BML_ERR_VALUE")
    return items


class _Config:
    """A composed bml_config (freed with the object)."""

    def __init__(self, overrides=(), config_dir_=None, config_file=None):
        self.dir = config_dir(config_dir_)
        ov = _override_list(overrides)
        keep = [_cstr(o, "override") for o in ov]
        arr = ffi.new("const char *[]", keep) if keep else ffi.NULL
        out = ffi.new("bml_config **")
        d = _cstr(self.dir, "config_dir")
        if config_file is not None:
            check(lib.bml_config_load_resolved(_cstr(config_file, "config_file"), d, arr, len(keep), out))
        else:
            check(lib.bml_config_compose(d, arr, len(keep), out))
        self.ptr = ffi.gc(out[0], lib.bml_config_free)

    def get(self, key):
        return string(lib.bml_config_get(self.ptr, key.encode()))

    def as_dict(self):
        return _config_dict(self.ptr)


def _config_dict(ptr):
    d = {}
    for i in range(lib.bml_config_count(ptr)):
        kv = lib.bml_config_entry(ptr, i)
        d[string(kv.key)] = string(kv.value)
    return d


# ---- progress and log lines -----------------------------------------------------------------------------

def _in_notebook():
    ip = sys.modules.get("IPython")
    if ip is None:
        return False
    try:
        shell = ip.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _Reporter:
    """Stage lines and the training progress of a study, as the program prints them: stage lines on
    stdout; per-epoch progress as one self-overwriting line on a terminal (stderr) or in a notebook (an
    updating output), one line per epoch with verbose=True, nothing in logs. Exceptions raised by a user's
    callbacks are kept and raised once the C call returns (a callback cannot stop the library)."""

    def __init__(self, log=None, progress=None, verbose=False, quiet=False, out=None, err=None, display=None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.error = None
        self.lines = []  # every stage line, also when quiet
        self.log_fn = log if callable(log) else None
        self.print_log = not quiet and log is not False and self.log_fn is None
        self.progress_fn = progress if callable(progress) else None
        self.mode = None
        self._display = display  # IPython.display.display by default; injectable for tests
        self._handle = None
        self._shown = False
        if self.progress_fn is None and not quiet and progress is not False:
            if verbose:
                self.mode = "lines"
            elif progress is True or progress is None:
                if display is not None or _in_notebook():
                    self.mode = "notebook"
                elif progress is True or _isatty(self.err):
                    self.mode = "terminal"
        self.c_log = ffi.callback("void(void *, const char *)", self._on_log, onerror=self._on_error)
        self.c_progress = ffi.callback("void(void *, long, long, double, double)", self._on_epoch,
                                       onerror=self._on_error)
        self.cancel = ffi.new("int *", 0)  # bml_run_opts.cancel: set by Ctrl-C or a failing callback

    def wants_progress(self):
        return self.mode is not None or self.progress_fn is not None

    def _on_error(self, exc, value, tb):
        if self.error is None:
            self.error = value if value is not None else exc()
        self.cancel[0] = 1  # an exception in a callback stops the study; it is raised once the call returns

    def _clear(self):
        if not self._shown:
            return
        self._shown = False
        if self.mode == "terminal":
            self.err.write("\r\033[K")
            self.err.flush()
        elif self.mode == "notebook" and self._handle is not None:
            self._handle = None  # the last epoch's line stays; the next fold starts a new one

    def _on_log(self, user, line):
        text = ffi.string(line).decode("utf-8", "replace")
        self.lines.append(text)
        if self.log_fn is not None:
            self.log_fn(text)
        elif self.print_log:
            self._clear()
            print(text, file=self.out, flush=True)

    def _on_epoch(self, user, epoch, epochs, train_loss, val_loss):
        if self.progress_fn is not None:
            self.progress_fn(epoch, epochs, train_loss, val_loss)
            return
        text = "      epoch %d/%d  train loss %s  val loss %s" % (epoch, epochs, _g(train_loss), _g(val_loss))
        if self.mode == "lines":
            print(text, file=self.out, flush=True)
        elif self.mode == "terminal":
            self.err.write("\r\033[K" + text)
            self.err.flush()
            self._shown = True
        elif self.mode == "notebook":
            self._notebook(text)
            self._shown = True

    def _notebook(self, text):
        if self._display is None:
            from IPython.display import display as _display
            self._display = _display
        try:
            from IPython.display import Pretty
            obj = Pretty(text)
        except ImportError:
            obj = text
        if self._handle is None:
            self._handle = self._display(obj, display_id=True)
        else:
            self._handle.update(obj)

    def finish(self):
        self._clear()
        if self.error is not None:
            err, self.error = self.error, None
            raise err


def _isatty(f):
    try:
        return f.isatty()
    except (AttributeError, ValueError):
        return False


def _g(x):
    """printf's %.6g"""
    return "%.6g" % x


def _opts(base_dir, reporter, write_run_dir):
    o = ffi.new("bml_run_opts *")
    lib.bml_run_opts_init(o)
    keep = []
    if base_dir is not None:
        b = _cstr(base_dir, "base_dir")
        keep.append(b)
        o.base_dir = b
    if reporter is not None:
        o.log = reporter.c_log
        if reporter.wants_progress():
            o.progress = reporter.c_progress
    o.write_run_dir = 1 if write_run_dir else 0
    if reporter is not None:
        o.cancel = reporter.cancel
    return o, keep


# ---- running a study ----------------------------------------------------------------------------------

def run(overrides: Overrides = (), config_dir: Optional[PathLike] = None, *, config_file: Optional[PathLike] = None,
        log: Union[None, bool, Callable[[str], None]] = None, progress: Any = None, verbose: bool = False,
        quiet: bool = False) -> "Run":
    """Run the study the configuration describes, as `batteryml run` does, and return its `Run`.

    The run folder is written under the configuration's output_dir (run.dir). The GIL is released while the
    library works: other Python threads run meanwhile.

    Parameters
    ----------
    overrides : list of str, str or dict
        `key=value` strings (["model=mlp", "split=loco", "training.epochs=50"]) or a dict.
    config_dir : str or os.PathLike, optional
        The configuration folder (default: found as the program finds it).
    config_file : str or os.PathLike, optional
        A resolved configuration (a run's config.yaml) to start from, as --config-file.
    log : None, False or callable, optional
        None prints the stage lines ([1/7] load ...) on stdout; False drops them; a callable receives each.
    progress : None, bool or callable, optional
        None shows training progress as one updating line on a terminal or in a notebook (nothing
        otherwise); True forces it; False switches it off; a callable(epoch, epochs, train_loss, val_loss)
        receives each epoch instead.
    verbose : bool, default False
        One printed line per epoch instead of the updating line.
    quiet : bool, default False
        Nothing printed.

    Returns
    -------
    Run
        The run folder written.

    Raises
    ------
    batteryml.Error
        A bad configuration, data that does not read, a model that fails; nothing is left written.
    KeyboardInterrupt
        Ctrl-C: the study stops at its next stage, fold, mini-batch or boosting round; nothing is left written.

    Examples
    --------
    >>> r = batteryml.run(["model=mlp", "split=loco", "training.epochs=50"])  # doctest: +SKIP
    >>> r.metrics["overall"]["soh"]["rmse"]  # doctest: +SKIP
    """
    cfg = _Config(overrides, config_dir, config_file)
    reporter = _Reporter(log=log, progress=progress, verbose=verbose, quiet=quiet)
    opts, keep = _opts(_base_dir(cfg.dir), reporter, True)
    out = ffi.new("bml_run_result **")
    out[0] = ffi.NULL
    try:
        try:
            call_cancellable(reporter.cancel, lib.bml_run_experiment, cfg.ptr, opts, out)
        except Error:
            if reporter.error is None:
                raise
        reporter.finish()  # raises the exception a callback raised (it cancelled the study)
    finally:
        if out[0] != ffi.NULL:
            res = out[0]
            run_dir = string(res.run_dir)
            lib.bml_run_result_free(res)
    del keep
    r = Run(run_dir)
    r.log = reporter.lines
    return r


def load_run(dir: PathLike) -> "Run":
    """Open a saved run folder (what `batteryml run` or `batteryml.run` wrote).

    Parameters
    ----------
    dir : str or os.PathLike
        The run folder.

    Returns
    -------
    Run

    Raises
    ------
    batteryml.Error
        No such folder, or no metrics.json in it.

    Examples
    --------
    >>> batteryml.load_run("runs/20261207-101500-lgbm").predictions  # doctest: +SKIP
    """
    return Run(dir)


def _resolve_data_path(path):
    """A path as given; a relative one that is not there is looked up beside the config folder (where the
    shipped data lives), as the program does for the data of a study."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise Error("a data path must be a string, not %s" % type(path).__name__, "BML_ERR_VALUE")
    p = os.fspath(path)
    if isinstance(p, bytes) or os.path.exists(p) or os.path.isabs(p):
        return p
    try:
        alt = os.path.join(_base_dir(config_dir()), p)
    except Error:
        return p
    return alt if os.path.exists(alt) else p


def _read_csv(path, **kw):
    import pandas as pd
    # cell ids and fold names stay text ("1" is a cell, not a number); numbers are read exactly
    try:
        df = pd.read_csv(path, dtype={"cell": str, "file": str, "fold": str, "split": str, "target": str, "feature": str},
                         float_precision="round_trip", keep_default_na=False, na_values=[""], **kw)
    except (ValueError, OSError, UnicodeDecodeError) as e:  # a damaged file of a saved run
        raise Error("%s: %s" % (path, str(e).strip()), "BML_ERR_PARSE") from None
    return normalize(df)  # one dtype per column name (_dtypes.py), whatever the values


_META = None


def _meta_dtype():
    """numpy's view of bml_sample_meta (offsets and size from the C declaration)."""
    global _META
    if _META is None:
        import numpy as np
        ints = "<i%d" % ffi.sizeof("int")
        fields = [("experiment", ints), ("cell", np.uintp), ("temperature_c", "<f8"), ("set_index", ints),
                  ("cycle", "<f8"), ("days", "<f8"), ("throughput_ah", "<f8")]
        _META = np.dtype({"names": [f for f, _ in fields], "formats": [t for _, t in fields],
                          "offsets": [ffi.offsetof("bml_sample_meta", f) for f, _ in fields],
                          "itemsize": ffi.sizeof("bml_sample_meta")})
    return _META


def _prediction_frame(rows, pred, lower=ffi.NULL, upper=ffi.NULL):
    """The DataFrame of bml_run_predict_intervals' result, as pandas reads the CSV bml_run_predict writes of it
    (track.c's bml__track_write_predictions: meta, then true_<t>, pred_<t> per target, and lower_<t>, upper_<t>
    when the run made intervals)."""
    import numpy as np
    import pandas as pd
    n, O = rows.n, rows.n_targets
    dt = _meta_dtype()
    meta = np.frombuffer(ffi.buffer(rows.meta, n * dt.itemsize), dtype=dt) if n else np.zeros(0, dt)
    # cells: the pointers into rows.cell_ids, each distinct one read once
    ptrs, inverse = np.unique(meta["cell"], return_inverse=True)
    names = [string(ffi.cast("char *", int(p))) for p in ptrs]
    distinct = np.empty(len(names), dtype=object)
    distinct[:] = [c if c != "" else np.nan for c in names]  # an empty field is NaN to pandas
    cells = distinct[inverse]
    cols = {"experiment": meta["experiment"].astype(np.int64), "cell": cells}
    cols["temperature_c"] = np.array(meta["temperature_c"])
    cols["set_index"] = meta["set_index"].astype(np.int64)
    for f in ("cycle", "days", "throughput_ah"):
        cols[f] = np.array(meta[f])
    y = np.frombuffer(ffi.buffer(rows.y, n * O * 8), dtype=np.float64).reshape(n, O) if n else np.zeros((0, O))
    p = np.frombuffer(ffi.buffer(pred, n * O * 8), dtype=np.float64).reshape(n, O) if n else np.zeros((0, O))
    iv = lower != ffi.NULL
    if iv:
        lo = np.frombuffer(ffi.buffer(lower, n * O * 8), dtype=np.float64).reshape(n, O) if n else np.zeros((0, O))
        up = np.frombuffer(ffi.buffer(upper, n * O * 8), dtype=np.float64).reshape(n, O) if n else np.zeros((0, O))
    for k in range(O):
        t = string(rows.target_names[k])
        cols["true_" + t] = np.array(y[:, k])
        cols["pred_" + t] = np.array(p[:, k])
        if iv:
            cols["lower_" + t] = np.array(lo[:, k])
            cols["upper_" + t] = np.array(up[:, k])
    return normalize(pd.DataFrame(cols))


class Run:
    """A run folder and what it holds. DataFrames are read when first asked for and kept.

    Parameters
    ----------
    dir : str or os.PathLike
        The run folder (it holds metrics.json).

    Attributes
    ----------
    dir : str
        The folder.
    log : list of str
        The stage lines the study printed (runs made in this process).

    Raises
    ------
    batteryml.Error
        No such folder, or no metrics.json in it.

    Examples
    --------
    >>> r = batteryml.Run("runs/20261207-101500-lgbm")  # doctest: +SKIP
    >>> r.metrics["overall"], r.predictions.head(), r.figures  # doctest: +SKIP
    """

    def __init__(self, dir: PathLike) -> None:
        d = os.fspath(dir)
        if not os.path.isdir(d):
            raise Error("%s: no such run folder" % d, "BML_ERR_NOT_FOUND")
        if not os.path.isfile(os.path.join(d, "metrics.json")):
            raise Error("%s: not a run folder (no metrics.json)" % d, "BML_ERR_NOT_FOUND")
        self.dir = d
        self.log = []
        self._cache = {}

    def __repr__(self) -> str:
        return "Run(%r)" % self.dir

    def path(self, name: str) -> str:
        """A file of the run folder.

        Parameters
        ----------
        name : str
            The file's name inside the folder ("metrics.json", "figures/pred_vs_true.png").

        Returns
        -------
        str
            dir/name.
        """
        return os.path.join(self.dir, name)

    def _csv(self, name, required):
        if name not in self._cache:
            p = self.path(name)
            if not os.path.isfile(p):
                if required:
                    raise Error("%s: missing" % p, "BML_ERR_NOT_FOUND")
                self._cache[name] = None
            else:
                self._cache[name] = _read_csv(p)
        return self._cache[name]

    @property
    def metrics(self) -> Any:
        """metrics.json as a dict (overall, per temperature, per cell, per fold).

        Returns
        -------
        dict
        """
        if "metrics" not in self._cache:
            p = self.path("metrics.json")
            try:
                with open(p, encoding="utf-8") as f:
                    self._cache["metrics"] = json.load(f)
            except ValueError as e:
                raise Error("%s: %s" % (p, e), "BML_ERR_PARSE") from None
        return self._cache["metrics"]

    @property
    def config(self) -> Any:
        """The resolved configuration: dotted keys to their text.

        Returns
        -------
        dict
        """
        if "config" not in self._cache:
            out = ffi.new("bml_config **")
            check(lib.bml_config_load_resolved(_cstr(self.path("config.yaml")), ffi.NULL, ffi.NULL, 0, out))
            c = ffi.gc(out[0], lib.bml_config_free)
            self._cache["config"] = _config_dict(c)
        return self._cache["config"]

    @property
    def predictions(self) -> Any:
        """predictions.csv.

        Returns
        -------
        pandas.DataFrame
        """
        return self._csv("predictions.csv", True)

    @property
    def shap(self) -> Any:
        """shap.csv (None without one).

        Returns
        -------
        pandas.DataFrame or None
        """
        return self._csv("shap.csv", False)

    @property
    def importance(self) -> Any:
        """importance.csv (None without one).

        Returns
        -------
        pandas.DataFrame or None
        """
        return self._csv("importance.csv", False)

    @property
    def history(self) -> Any:
        """The training curves, step_metrics.csv (None for models that do not train by epochs).

        Returns
        -------
        pandas.DataFrame or None
        """
        return self._csv("step_metrics.csv", False)

    @property
    def attention(self) -> Any:
        """attention.csv (None without one).

        Returns
        -------
        pandas.DataFrame or None
        """
        return self._csv("attention.csv", False)

    @property
    def figures(self) -> Any:
        """The figure files (PNG and SVG) of the run's figures/ folder.

        Returns
        -------
        list of str
        """
        d = self.path("figures")
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".png", ".svg")))

    def predict(self, data: PathLike, fold: Optional[str] = None, out: Optional[PathLike] = None, *,
                log: Union[bool, Callable[[str], None]] = False) -> Any:
        """Predict with this run's model on new data, as `batteryml predict --run DIR --data PATH`.

        Parameters
        ----------
        data : str or os.PathLike
            A Performance Summary file or folder, or a table with the run's columns.
        fold : str, optional
            The model of a multi-fold run to use (e.g. "E5-A").
        out : str or os.PathLike, optional
            Also write the CSV there (the program's file, byte for byte; the frame is then read from it).
        log : bool or callable, default False
            The library's line: False drops it, True prints it, a callable receives it.

        Returns
        -------
        pandas.DataFrame
            The predictions, the frame pandas reads from the program's file (the same columns, dtypes and
            values: ``lower_<target>``/``upper_<target>`` too when the run made intervals, ``uncertainty=``;
            for a cycle-life run, ``data=qdlin`` or ``data=cycler_life``, one row per cell: ``file``, ``cell``, ``true_cycle_life``,
            ``pred_cycle_life``, ``lower_cycle_life``, ``upper_cycle_life`` in cycles, then the model's
            ``*_log10_cycle_life`` values);
            ``.attrs["metrics"]`` holds the metrics (dict) when every target is present, else None.

        Raises
        ------
        batteryml.Error
            Data that does not read or lacks the run's columns, a fold that is not there.
        """
        reporter = _Reporter(log=log, progress=False)
        opts, keep = _opts(None, reporter, False)
        metrics = ffi.new("char **")
        run_dir, data_path = _cstr(self.dir, "run folder"), _cstr(_resolve_data_path(data), "data")
        cfold = _cstr(fold, "fold") if fold is not None else ffi.NULL
        cycle_life = self.config.get("data.name") in ("qdlin", "cycler_life")  # the sources of bml_dataset_is_qdlin
        if out is not None or cycle_life:
            # a cycle-life run's file (one row per cell: file, cell, the life in cycles) is read back from the
            # program's own file (a temporary one when out is not given)
            tmp = tempfile.TemporaryDirectory(prefix="bml-predict-") if out is None else None
            try:
                target = os.fspath(out) if out is not None else os.path.join(tmp.name, "predictions.csv")
                st = lib.bml_run_predict(run_dir, data_path, cfold, _cstr(target, "out"), opts, metrics)
                reporter.finish()
                text = take_string(metrics[0])
                check(st)
                df = _read_csv(target)
            finally:
                if tmp is not None:
                    tmp.cleanup()
        else:
            rows, pred = ffi.new("bml_samples **"), ffi.new("double **")
            lower, upper = ffi.new("double **"), ffi.new("double **")
            st = lib.bml_run_predict_intervals(run_dir, data_path, cfold, opts, rows, pred, lower, upper, metrics)
            reporter.finish()
            text = take_string(metrics[0])
            check(st)
            try:
                df = _prediction_frame(rows[0], pred[0], lower[0], upper[0])
            finally:
                lib.bml_samples_free(rows[0])
                lib.bml_free(pred[0])
                lib.bml_free(lower[0])
                lib.bml_free(upper[0])
        del keep
        df.attrs["metrics"] = json.loads(text) if text else None
        return df

    def metrics_frame(self) -> Any:
        """metrics.json as one tidy table: one row per (scope, group, target, metric).

        Returns
        -------
        pandas.DataFrame
            scope ("overall", "per_temperature", "per_cell", "fold"), group (the temperature, the cell or the
            fold's name; "" for overall), target, metric (n, rmse, mae, mape, r2, max_abs_error), value
            (float64).

        Raises
        ------
        batteryml.Error
            metrics.json does not read.

        Examples
        --------
        >>> m = run.metrics_frame()  # doctest: +SKIP
        >>> m[(m.scope == "per_cell") & (m.metric == "rmse")]  # doctest: +SKIP
        """
        import pandas as pd
        m = self.metrics
        rows: List[Any] = []

        def add(scope: str, group: str, by_target: Any) -> None:
            if not isinstance(by_target, dict):
                return
            for target, vals in by_target.items():
                if not isinstance(vals, dict):
                    continue
                for metric, v in vals.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        rows.append((scope, group, target, metric, float(v)))
        add("overall", "", m.get("overall"))
        for scope in ("per_temperature", "per_cell"):
            for group, by_target in (m.get(scope) or {}).items():
                add(scope, str(group), by_target)
        for fold in m.get("folds") or []:
            if isinstance(fold, dict):
                add("fold", str(fold.get("name", "")), fold.get("metrics"))
        df = pd.DataFrame(rows, columns=["scope", "group", "target", "metric", "value"])
        df["value"] = df["value"].astype("float64")
        return normalize(df)

    def _repr_html_(self) -> str:
        """The study, its headline metrics and its figures (small, inline), for Jupyter."""
        import base64
        import html
        m = self.metrics
        study = m.get("study", {}) if isinstance(m, dict) else {}
        head = ", ".join("%s=%s" % (k, html.escape(str(study[k]))) for k in ("model", "pipeline", "split", "data")
                         if k in study)
        out = ["<div><p><b>batteryml run</b> <code>%s</code><br>%s</p>" % (html.escape(self.dir), head)]
        try:
            f = self.metrics_frame()
            o = f[f["scope"] == "overall"].pivot(index="target", columns="metric", values="value")
            out.append(o.to_html(float_format=lambda x: "%.5g" % x))
        except Exception as e:  # noqa: B902 - a display never raises
            out.append("<p>metrics: %s</p>" % html.escape(str(e)))
        for path in [p for p in self.figures if p.endswith(".png")][:6]:
            try:
                with open(path, "rb") as fh:
                    data = base64.b64encode(fh.read()).decode("ascii")
            except OSError:
                continue
            out.append('<img src="data:image/png;base64,%s" title="%s" style="width:260px;margin:2px">'
                       % (data, html.escape(os.path.basename(path))))
        out.append("</div>")
        return "\n".join(out)

    def plot(self) -> List[str]:
        """(Re)draw the run's figures into dir/figures with the library (PNG and SVG).

        Returns
        -------
        list of str
            The figure files.

        Raises
        ------
        batteryml.Error
            A malformed run file, a figure that cannot be written.
        """
        n = ffi.new("int *")
        check(lib.bml_run_plot(_cstr(self.dir, "run folder"), n))
        return self.figures

    def report(self, out_path: PathLike) -> PathLike:
        """Write the run's self-contained HTML report (as `batteryml report`).

        Parameters
        ----------
        out_path : str or os.PathLike
            The HTML file (written atomically).

        Returns
        -------
        str or os.PathLike
            out_path.

        Raises
        ------
        batteryml.Error
            The report cannot be written.
        """
        check(lib.bml_run_report(_cstr(self.dir, "run folder"), _cstr(out_path, "out")))
        return out_path
