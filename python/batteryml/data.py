"""Data and features from Python: the library's loaders and pipelines, their results as pandas DataFrames.

load_oxford(path)      the Oxford LG M50T Performance Summary files, one row per (cell, ageing set)
features(overrides)    the pipeline's table of a study (what `batteryml features --out FILE` writes)
ica_features(q, v)     the incremental-capacity (dQ/dV) peak features of one voltage curve (ica_peaks)
"""
from __future__ import annotations

import numbers
import os
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from ._dtypes import normalize
from ._lib import Error, check, ffi, lib, string
from .run import _Config, _base_dir, _cstr, _resolve_data_path

__all__ = ["load_oxford", "features", "ica_features"]

META_COLUMNS = ["experiment", "cell", "temperature_c", "set_index", "cycle", "days", "throughput_ah"]


def _doubles(ptr, n):
    """n doubles at ptr as a new numpy array (a copy: the C memory is freed after)."""
    if n == 0:
        return np.empty(0)
    return np.frombuffer(ffi.buffer(ptr, n * 8), dtype=np.float64).copy()


def load_oxford(path: Union[str, "os.PathLike[str]"], experiments: Union[None, int, Sequence[int]] = None) -> Any:
    """Load Oxford LG M50T Performance Summary data (one file, a folder of them, or the original tree).

    Parameters
    ----------
    path : str or os.PathLike
        A file, a folder of them, or the original tree (relative paths also looked up beside the configs).
    experiments : int or list of int, optional
        The experiment ids to load (default: all).

    Returns
    -------
    pandas.DataFrame
        One row per (cell, ageing set): experiment, cell, temperature_c, source (the file), line (its 1-based
        line), then the data columns in the library's units (Ah, Ohm, days; empty fields NaN).
        ``.attrs["note"]`` says what the loader noticed.

    Raises
    ------
    batteryml.Error
        A missing or malformed file (file, line and column), a bad experiment id.

    Examples
    --------
    >>> batteryml.load_oxford("data/oxford-lgm50t", experiments=[1, 5]).head()  # doctest: +SKIP
    """
    import pandas as pd
    if experiments is None:
        exps = []
    elif isinstance(experiments, numbers.Integral) and not isinstance(experiments, bool):
        exps = [int(experiments)]
    else:
        try:
            exps = list(experiments)
        except TypeError:
            raise Error("experiments must be an id or a list of ids, not %r" % (experiments,), "BML_ERR_VALUE") from None
        for e in exps:
            if not isinstance(e, numbers.Integral) or isinstance(e, bool):
                raise Error("experiment id %r is not a whole number" % (e,), "BML_ERR_VALUE")
        exps = [int(e) for e in exps]
    for e in exps:
        if not -2**31 <= e < 2**31:
            raise Error("experiment id %d out of range" % e, "BML_ERR_VALUE")
    opts = ffi.new("bml_oxford_opts *")
    lib.bml_oxford_opts_init(opts)
    ids = ffi.new("int[]", exps) if exps else ffi.NULL
    opts.experiments = ids
    opts.n_experiments = len(exps)
    out = ffi.new("bml_dataset **")
    check(lib.bml_dataset_load_oxford(_cstr(_resolve_data_path(path), "path"), opts, out))
    ds = ffi.gc(out[0], lib.bml_dataset_free)
    ncol = lib.bml_dataset_n_columns(ds)
    names = [string(lib.bml_dataset_column_name(ds, j)) for j in range(ncol)]
    meta = {"experiment": [], "cell": [], "temperature_c": [], "source": [], "line": []}
    blocks = []
    view = ffi.new("bml_cell_view *")
    for i in range(lib.bml_dataset_n_cells(ds)):
        lib.bml_dataset_cell(ds, i, view)
        n = view.n_rows
        meta["experiment"] += [view.experiment] * n
        meta["cell"] += [string(view.cell_id)] * n
        meta["temperature_c"] += [view.temperature_c] * n
        meta["source"] += [string(view.source)] * n
        meta["line"] += list(ffi.unpack(view.lines, n)) if n else []
        blocks.append(_doubles(view.values, n * ncol).reshape(n, ncol))
    values = np.concatenate(blocks) if blocks else np.empty((0, ncol))
    df = pd.DataFrame(meta)
    df["experiment"] = df["experiment"].astype("int64")
    df["line"] = df["line"].astype("int64")
    df["temperature_c"] = df["temperature_c"].astype("float64")
    data = pd.DataFrame(values, columns=names)
    df = pd.concat([df, data], axis=1)
    df.attrs["note"] = string(lib.bml_dataset_note(ds)) or ""
    return normalize(df)


def _samples_frame(s):
    """A bml_samples as a DataFrame: the meta columns, the features, the targets (one row per sample; for
    sequence samples one row per real step)."""
    import pandas as pd
    n, F, O = s.n, s.n_features, s.n_targets
    meta = s.meta
    cols = {
        "experiment": np.fromiter((meta[i].experiment for i in range(n)), dtype=np.int64, count=n),
        "cell": [string(meta[i].cell) for i in range(n)],
        "temperature_c": np.fromiter((meta[i].temperature_c for i in range(n)), dtype=np.float64, count=n),
        "set_index": np.fromiter((meta[i].set_index for i in range(n)), dtype=np.int64, count=n),
        "cycle": np.fromiter((meta[i].cycle for i in range(n)), dtype=np.float64, count=n),
        "days": np.fromiter((meta[i].days for i in range(n)), dtype=np.float64, count=n),
        "throughput_ah": np.fromiter((meta[i].throughput_ah for i in range(n)), dtype=np.float64, count=n),
    }
    df = pd.DataFrame(cols)
    fnames = [string(s.feature_names[j]) for j in range(F)]
    tnames = [string(s.target_names[k]) for k in range(O)]
    x = pd.DataFrame(_doubles(s.x, n * F).reshape(n, F), columns=fnames)
    y = pd.DataFrame(_doubles(s.y, n * O).reshape(n, O), columns=tnames)
    df = pd.concat([df, x, y], axis=1)
    df.attrs["features"] = fnames
    df.attrs["targets"] = tnames
    return normalize(df)


def features(overrides: Any = (), config_dir: Optional[Union[str, "os.PathLike[str]"]] = None, *,
             config_file: Optional[Union[str, "os.PathLike[str]"]] = None, targets_optional: bool = False) -> Any:
    """The pipeline's table of the study the configuration describes (its data and pipeline sections).

    What `batteryml features --out FILE <overrides>` writes. Sequence pipelines give one row per real step of
    each cell.

    Parameters
    ----------
    overrides : list of str, str or dict
        `key=value` overrides.
    config_dir : str or os.PathLike, optional
        The configuration folder.
    config_file : str or os.PathLike, optional
        A resolved configuration to start from.
    targets_optional : bool, default False
        Keep rows without targets (NaN) instead of failing.

    Returns
    -------
    pandas.DataFrame
        The meta columns (experiment, cell, temperature_c, set_index, cycle, days, throughput_ah), the
        features, the targets; ``.attrs["features"]`` and ``.attrs["targets"]`` name them.

    Raises
    ------
    batteryml.Error
        A bad configuration or data that does not read.

    Examples
    --------
    >>> t = batteryml.features(["pipeline=summary_set"])  # doctest: +SKIP
    >>> t[t.attrs["features"]].describe()  # doctest: +SKIP
    """
    cfg = _Config(overrides, config_dir, config_file)
    ds_out = ffi.new("bml_dataset **")
    check(lib.bml_run_load_data(cfg.ptr, _cstr(_base_dir(cfg.dir), "base_dir"), ffi.NULL, 1 if targets_optional else 0,
                                ds_out))
    ds = ffi.gc(ds_out[0], lib.bml_dataset_free)
    s_out = ffi.new("bml_samples **")
    check(lib.bml_run_build_samples(cfg.ptr, ds, 1 if targets_optional else 0, s_out))
    s = ffi.gc(s_out[0], lib.bml_samples_free)
    if s.seq_len:
        flat = ffi.new("bml_samples **")
        check(lib.bml_samples_flatten(s, flat))
        s = ffi.gc(flat[0], lib.bml_samples_free)
    return _samples_frame(s)


_ICA_PARAMS = ("v_min", "v_max", "resample", "window", "order", "height", "distance", "prominence", "num_peaks")
_ICA_INTS = ("resample", "window", "order", "num_peaks")


def _curve_array(a, what):
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists and the like
        raise Error("%s: not an array of numbers (%s)" % (what, e), "BML_ERR_VALUE") from None
    if arr.dtype.kind not in "biuf":
        raise Error("%s: numbers wanted, got dtype %s" % (what, arr.dtype), "BML_ERR_VALUE")
    if arr.ndim != 1:
        raise Error("%s: a 1-D array wanted, got shape %s" % (what, arr.shape), "BML_ERR_VALUE")
    return np.ascontiguousarray(arr, dtype=np.float64)  # no copy when already float64 and contiguous


def ica_features(q: Any, v: Any, curve: bool = False, **params: Any) -> Dict[str, Any]:
    """The incremental-capacity (dQ/dV) peak features of one voltage curve, as the ica_peaks pipeline
    computes them (scipy semantics).

    Parameters
    ----------
    q : array-like, 1-D
        The charge (Ah).
    v : array-like, 1-D
        The voltage (V), as long as q, any order.
    curve : bool, default False
        Also return "v_mid" and "dqdv", the smoothed |dQ/dV| curve (resample - 1 points each).
    **params
        As configs/pipeline/ica_peaks.yaml: v_min=3.0, v_max=4.2, resample=500, window=51, order=3,
        height=0.01, distance=200, prominence=0.01, num_peaks=3.

    Returns
    -------
    dict
        {feature name: value}: peak1_voltage_v, peak1_height_ah_per_v, peak1_width_v, peak1_area_ah, ...,
        total_area_ah, n_peaks, v_max_dqdv (NaN for peaks that are not there).

    Raises
    ------
    batteryml.Error
        An unknown parameter, arrays of another shape or dtype, values the library refuses.

    Examples
    --------
    >>> f = batteryml.ica_features(q, v, window=51, num_peaks=3)  # doctest: +SKIP
    >>> f["peak1_voltage_v"]  # doctest: +SKIP
    """
    p = ffi.new("bml_ica_params *")
    lib.bml_ica_params_init(p)
    for k, val in params.items():
        if k not in _ICA_PARAMS:
            raise Error("ica_features: unknown parameter '%s' (valid: %s)" % (k, ", ".join(_ICA_PARAMS)),
                        "BML_ERR_VALUE")
        if isinstance(val, bool) or not isinstance(val, numbers.Real):
            raise Error("ica_features: %s must be a number, not %r" % (k, val), "BML_ERR_VALUE")
        if k in _ICA_INTS:
            if val != int(val) if np.isfinite(val) else True:
                raise Error("ica_features: %s must be a whole number, not %r" % (k, val), "BML_ERR_VALUE")
            if not -2**62 < int(val) < 2**62:
                raise Error("ica_features: %s out of range: %r" % (k, val), "BML_ERR_VALUE")
            val = int(val)
        setattr(p, k, val)
    qa = _curve_array(q, "q")
    va = _curve_array(v, "v")
    if qa.shape != va.shape:
        raise Error("ica_features: q and v differ in length (%d, %d)" % (qa.size, va.size), "BML_ERR_VALUE")
    pp = p
    nf = lib.bml_ica_n_features(pp)
    f = np.empty(nf)
    m = max(int(p.resample) - 1, 0) if curve else 0
    vm = np.empty(m) if curve else None
    dq = np.empty(m) if curve else None
    check(lib.bml_ica_features(pp, ffi.from_buffer("double[]", qa), ffi.from_buffer("double[]", va), qa.size,
                               ffi.from_buffer("double[]", f, require_writable=True),
                               ffi.from_buffer("double[]", vm, require_writable=True) if curve else ffi.NULL,
                               ffi.from_buffer("double[]", dq, require_writable=True) if curve else ffi.NULL))
    buf = ffi.new("char[]", 64)
    out = {}
    for j in range(nf):
        lib.bml_ica_feature_name(pp, j, buf, 64)
        out[string(buf)] = float(f[j])
    if curve:
        out["v_mid"] = vm
        out["dqdv"] = dq
    return out
