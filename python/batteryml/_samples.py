"""bml_samples between numpy and the C library (internal).

`CSamples` builds a `bml_samples` in cffi memory whose x, y, mask and t point at numpy arrays (no copy when
they are float64 and C-contiguous) and keeps every array, name and cell id alive for as long as it lives.
It is never passed to bml_samples_free: the library only borrows it during a call.

`from_c` turns samples the library made (a pipeline's output) into numpy arrays and a meta DataFrame, and
`study_samples` composes a configuration and runs the study's data and pipeline stages and its split, as
`batteryml run` does before it fits (used by the tests to fit in Python on exactly the CLI's data).
"""
import os

import numpy as np

from ._lib import check, ffi, lib, string

__all__ = ["CSamples", "as_double_ptr", "meta_dtype", "from_c", "study_samples", "scaler_fit"]

_META_FIELDS = (("experiment", "i4"), ("cell", "u8"), ("temperature_c", "f8"), ("set_index", "i4"),
                ("cycle", "f8"), ("days", "f8"), ("throughput_ah", "f8"), ("line", "u8"))
_meta_dtype = None


def meta_dtype():
    """numpy dtype laid out exactly as bml_sample_meta (offsets from cffi; the cell pointer as an integer)."""
    global _meta_dtype
    if _meta_dtype is None:
        names = [f for f, _ in _META_FIELDS]
        offsets = [ffi.offsetof("bml_sample_meta", f) for f in names]
        sizes = {"i4": ffi.sizeof("int"), "u8": ffi.sizeof("char *"), "f8": 8}
        assert ffi.sizeof("size_t") == 8 and sizes["u8"] == 8 and sizes["i4"] == 4, "unexpected C type sizes"
        _meta_dtype = np.dtype({"names": names, "formats": [t for _, t in _META_FIELDS], "offsets": offsets,
                                "itemsize": ffi.sizeof("bml_sample_meta")})
    return _meta_dtype


def as_double_ptr(a, keep):
    """A double * to float64 C-contiguous array a (read-only arrays too: the library does not write through it);
    the buffer object is appended to `keep`, which must outlive the call."""
    assert a.dtype == np.float64 and a.flags.c_contiguous
    buf = ffi.from_buffer("double[]", a)
    keep.append(buf)
    return buf


def _c_strings(names, keep):
    arr = ffi.new("char *[]", max(len(names), 1))
    for i, n in enumerate(names):
        s = ffi.new("char[]", str(n).encode("utf-8"))
        keep.append(s)
        arr[i] = s
    keep.append(arr)
    return arr


class CSamples:
    """A bml_samples over numpy arrays (borrowed by the library during calls; owned by this object).

    x: (n, F) or (n, T, F) float64 C-contiguous; y: (n, O) or (n, T, O) float64 C-contiguous (padded steps 0);
    mask: (n, T) float64 (1 real, 0 padding) and t: (n, T) float64 or None, for sequences; cells: n ids.
    """

    def __init__(self, x, y, feature_names, target_names, mask=None, t=None, cells=None):
        keep = self._keep = [x, y, mask, t]
        seq = x.ndim == 3
        n, F = x.shape[0], x.shape[-1]
        O = y.shape[-1]
        s = self.ptr = ffi.new("bml_samples *")
        s.n, s.n_features, s.n_targets = n, F, O
        s.seq_len = x.shape[1] if seq else 0
        s.x = as_double_ptr(x, keep)
        s.y = as_double_ptr(y, keep)
        if seq:
            s.mask = as_double_ptr(mask, keep)
            if t is not None:
                s.t = as_double_ptr(t, keep)
        s.feature_names = _c_strings(feature_names, keep)
        s.target_names = _c_strings(target_names, keep)
        # cell ids back to back, each meta's cell pointing at its own
        if cells is None:
            cells = [str(i) for i in range(n)] if seq else None
        if cells is None:  # static samples: every row's cell is ""
            blob = b"\0"
            offsets = np.zeros(n, dtype=np.uint64)
        else:
            enc = [str(c).encode("utf-8") + b"\0" for c in cells]
            blob = b"".join(enc)
            offsets = np.zeros(n, dtype=np.uint64)
            if n > 1:
                offsets[1:] = np.cumsum([len(e) for e in enc[:-1]], dtype=np.uint64)
        ids = ffi.new("char[]", blob)
        keep.append(ids)
        s.cell_ids = ids
        s.cell_ids_size = len(blob)
        meta = np.zeros(max(n, 1), dtype=meta_dtype())
        meta["cell"][:n] = int(ffi.cast("uintptr_t", ids)) + offsets
        meta["temperature_c"] = np.nan
        meta["cycle"] = meta["days"] = meta["throughput_ah"] = np.nan
        if seq and t is not None and n:
            meta["days"][:n] = t[:, 0]
        self.meta = meta
        s.meta = ffi.cast("bml_sample_meta *", ffi.from_buffer(meta))
        keep.append(meta)


def scaler_fit(x2d, rows):
    """The study's statistics of the features, by the library's own bml_scaler_fit over rows of x2d (n, F)
    (NaN ignored): (mean, scale) as float64 arrays; mean is also the imputed value of missing features."""
    n, F = x2d.shape
    y = np.zeros((n, 1))
    s = CSamples(np.ascontiguousarray(x2d, dtype=np.float64), y, ["x%d" % j for j in range(F)], ["y"])
    rows = np.ascontiguousarray(rows, dtype=np.uint64)
    rbuf = ffi.from_buffer("size_t[]", rows)
    sc = ffi.new("bml_scaler *")
    check(lib.bml_scaler_fit(sc, s.ptr, rbuf, len(rows)))
    try:
        mean = np.array(ffi.unpack(sc.mean, F), dtype=np.float64)
        scale = np.array(ffi.unpack(sc.scale, F), dtype=np.float64)
    finally:
        lib.bml_scaler_release(sc)
    return mean, scale


def from_c(p):
    """numpy copies of the library's samples *p: dict with x, y, mask, t (None for static), feature_names,
    target_names and meta (a pandas DataFrame: experiment, cell, temperature_c, set_index, cycle, days,
    throughput_ah; one row per sample)."""
    import pandas as pd
    n, F, O, T = p.n, p.n_features, p.n_targets, p.seq_len
    steps = n * (T or 1)
    shape_x = (n, T, F) if T else (n, F)
    shape_y = (n, T, O) if T else (n, O)

    def doubles(ptr, shape):
        k = int(np.prod(shape))
        return np.frombuffer(ffi.buffer(ptr, k * 8), dtype=np.float64).reshape(shape).copy() if k else np.zeros(shape)
    x, y = doubles(p.x, shape_x), doubles(p.y, shape_y)
    mask = t = None
    if T:
        mask = doubles(p.mask, (n, T))
        if p.t != ffi.NULL:
            t = doubles(p.t, (n, T))
    rows = []
    for i in range(n):
        m = p.meta[i]
        rows.append((m.experiment, string(m.cell), m.temperature_c, m.set_index, m.cycle, m.days, m.throughput_ah))
    meta = pd.DataFrame(rows, columns=["experiment", "cell", "temperature_c", "set_index", "cycle", "days",
                                       "throughput_ah"])
    return {"x": x, "y": y, "mask": mask, "t": t, "meta": meta,
            "feature_names": [string(p.feature_names[j]) for j in range(F)],
            "target_names": [string(p.target_names[k]) for k in range(O)]}


def default_config_dir():
    """$BATTERYML_CONFIG_DIR, else configs/ of the source tree this package sits in."""
    env = os.environ.get("BATTERYML_CONFIG_DIR")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs")


def study_samples(overrides=(), config_dir=None):
    """The samples and folds `batteryml run <overrides>` fits on: a dict as from_c's plus `folds`, a list of
    {name, train, val, test} index arrays, and `seed` (the configuration's)."""
    config_dir = config_dir or default_config_dir()
    keep = [ffi.new("char[]", o.encode("utf-8")) for o in overrides]
    ov = ffi.new("char *[]", keep) if keep else ffi.NULL
    cfg_p = ffi.new("bml_config **")
    check(lib.bml_config_compose(config_dir.encode("utf-8"), ov, len(keep), cfg_p))
    cfg = ffi.gc(cfg_p[0], lib.bml_config_free)
    ds_p = ffi.new("bml_dataset **")
    base = os.path.join(config_dir, "..").encode("utf-8")
    check(lib.bml_run_load_data(cfg, base, ffi.NULL, 0, ds_p))
    ds = ffi.gc(ds_p[0], lib.bml_dataset_free)
    s_p = ffi.new("bml_samples **")
    check(lib.bml_run_build_samples(cfg, ds, 0, s_p))
    s = ffi.gc(s_p[0], lib.bml_samples_free)
    out = from_c(s)
    seed = int(string(lib.bml_config_get(cfg, b"seed")) or 42)
    split = string(lib.bml_config_get(cfg, b"split.name")) or "temperature_holdout"
    nkv = lib.bml_config_section(cfg, b"split", ffi.NULL, 0)
    kv = ffi.new("bml_kv[]", max(nkv, 1))
    lib.bml_config_section(cfg, b"split", kv, nkv)
    sp_p = ffi.new("bml_split **")
    check(lib.bml_split_create(split.encode("utf-8"), kv, nkv, s, seed, sp_p))
    sp = ffi.gc(sp_p[0], lib.bml_split_free)
    folds = []
    for f in range(sp.n_folds):
        fo = sp.folds[f]

        def idx(p, k):
            return np.array(ffi.unpack(p, k), dtype=np.int64) if k else np.zeros(0, dtype=np.int64)
        folds.append({"name": string(fo.name), "train": idx(fo.train, fo.n_train), "val": idx(fo.val, fo.n_val),
                      "test": idx(fo.test, fo.n_test)})
    out["folds"] = folds
    out["seed"] = seed
    return out
