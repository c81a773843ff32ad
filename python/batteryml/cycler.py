"""Raw battery-cycler exports from Python: the library's streaming readers (Arbin, Maccor, BioLogic, Novonix,
Basytec) and `batteryml structure`.

read_cycler(path)        one file's canonical time series as a DataFrame (metadata in .attrs)
structure(path, out=)    the per-cycle table and the voltage-grid curves of every export under path, written as
                         `batteryml structure path --out DIR` writes them, and read back as DataFrames
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from ._dtypes import INT64_COLUMNS
from ._lib import Error, check, ffi, lib, run_cancellable, string

__all__ = ["read_cycler", "structure", "Structure", "CYCLER_COLUMNS"]

PathLike = Union[str, "os.PathLike[str]"]

#: The columns of read_cycler's frame, in order, and their dtypes (float64 for measured quantities and the
#: cycle, int64 for the step index and line numbers: one dtype per column name, batteryml._dtypes).
CYCLER_COLUMNS: Dict[str, str] = {
    "test_time_s": "float64", "cycle": "float64", "step": "int64", "current_a": "float64", "voltage_v": "float64",
    "charge_ah": "float64", "discharge_ah": "float64", "charge_wh": "float64", "discharge_wh": "float64",
    "temperature_c": "float64", "resistance_ohm": "float64", "unix_time": "float64", "line": "int64",
}

_CANCELLED = -10  # BML_ERR_CANCELLED
_POINT = None


def _point_dtype() -> np.dtype:
    """numpy's view of bml_cycler_point (offsets and size from the C declaration)."""
    global _POINT
    if _POINT is None:
        kinds = {"cycle": "<i%d" % ffi.sizeof("long"), "step": "<i%d" % ffi.sizeof("long"),
                 "line": "<u%d" % ffi.sizeof("size_t")}
        names = list(CYCLER_COLUMNS)
        _POINT = np.dtype({"names": names, "formats": [kinds.get(n, "<f8") for n in names],
                           "offsets": [ffi.offsetof("bml_cycler_point", n) for n in names],
                           "itemsize": ffi.sizeof("bml_cycler_point")})
    return _POINT


def _format(format: Optional[str]) -> int:
    if format is None:
        return 0  # BML_CYCLER_AUTO
    if not isinstance(format, str):
        raise Error("format must be a name such as 'arbin' or None, not %r" % (format,), "BML_ERR_VALUE")
    out = ffi.new("bml_cycler_format *")
    check(lib.bml_cycler_format_parse(format.encode("utf-8"), out))
    return int(out[0])


def _path(p: Any, what: str = "path") -> bytes:
    if not isinstance(p, (str, bytes, os.PathLike)):
        raise Error("%s must be a path, not %s" % (what, type(p).__name__), "BML_ERR_VALUE")
    b = os.fsencode(p)
    if b"\0" in b:
        raise Error("%s %r holds a NUL character" % (what, p), "BML_ERR_VALUE")
    return b


def _meta_dict(m: Any) -> Dict[str, Any]:
    return {"format": string(lib.bml_cycler_format_name(m.format)), "path": string(m.path), "cell": string(m.cell),
            "channel": string(m.channel), "barcode": string(m.barcode), "protocol": string(m.protocol),
            "start_time": string(m.start_time), "nominal_capacity_ah": float(m.nominal_capacity_ah),
            "n_points": int(m.n_points), "n_blank": int(m.n_blank), "n_stop": int(m.n_stop),
            "has_cycle_index": bool(m.has_cycle_index), "mb_read": float(m.mb_read)}


class _Collector:
    """The rows bml_cycler_read hands over, copied as they come into C buffers of bml_cycler_point (chunks of
    65,536 rows, 96 bytes each: no Python object per row, nothing copied as they fill); the frame's columns are
    then gathered from them once."""

    CHUNK = 65536

    def __init__(self, flag: Any) -> None:
        self.size = ffi.sizeof("bml_cycler_point")
        self.chunks: List[Any] = []
        self.cur: Any = None
        self.used = self.CHUNK  # rows of the current chunk in use (full: a new chunk on the next row)
        self.flag = flag
        self.error: Optional[BaseException] = None
        self.c_fn = ffi.callback("bml_cycler_point_fn", self._on_point, error=_CANCELLED, onerror=self._on_error)

    def _on_point(self, pt: Any, user: Any) -> int:
        if self.flag[0]:
            return _CANCELLED
        if self.used == self.CHUNK:
            self.cur = ffi.new("char[]", self.CHUNK * self.size)
            self.chunks.append(self.cur)
            self.used = 0
        ffi.memmove(self.cur + self.used * self.size, pt, self.size)
        self.used += 1
        return 0

    def _on_error(self, exc: Any, value: Any, tb: Any) -> None:  # MemoryError and the like
        if self.error is None:
            self.error = value if value is not None else exc()
        self.flag[0] = 1

    @property
    def n(self) -> int:
        return (len(self.chunks) - 1) * self.CHUNK + self.used if self.chunks else 0

    def frame(self) -> Any:
        import pandas as pd
        n, dt = self.n, _point_dtype()
        views = []
        for k, chunk in enumerate(self.chunks):
            rows = self.used if k == len(self.chunks) - 1 else self.CHUNK
            views.append(np.frombuffer(ffi.buffer(chunk, rows * self.size), dtype=dt, count=rows))
        cols = {}
        for name, dtype in CYCLER_COLUMNS.items():
            col = np.empty(n, dtype=dtype)
            at = 0
            for v in views:
                col[at:at + len(v)] = v[name]
                at += len(v)
            cols[name] = col
        del views
        self.chunks, self.cur = [], None  # the columns are made: release the C buffers
        return pd.DataFrame(cols, copy=False)  # the columns as they are, not copied into one block


def read_cycler(path: PathLike, format: Optional[str] = None) -> Any:
    """Read one cycler export as the library's canonical time series.

    The file is streamed through the library's reader (``bml_cycler_read``), every row copied into C buffers
    as it comes (no Python object per row): memory peaks at about twice the frame's own (13 columns of 8 bytes
    a row).

    Parameters
    ----------
    path : str or os.PathLike
        The export (an Arbin CSV, a Maccor text export, a BioLogic text export, a Novonix or Basytec file).
    format : str, optional
        ``"arbin"``, ``"maccor"``, ``"biologic"``, ``"novonix"`` or ``"basytec"``; None (or ``"auto"``)
        detects it from the content.

    Returns
    -------
    pandas.DataFrame
        One row per data row of the file, the columns of :data:`CYCLER_COLUMNS`: test_time_s (s), cycle,
        step, current_a (A, charge positive), voltage_v (V), charge_ah, discharge_ah, charge_wh,
        discharge_wh (counted from zero within each cycle), temperature_c, resistance_ohm (NaN when not
        logged), unix_time (s since 1970, NaN when the file has no wall-clock time), line (1-based line of
        the file). ``.attrs`` holds the file's metadata: format, path, cell, channel, barcode, protocol,
        start_time (None when absent), nominal_capacity_ah (NaN when absent), n_points, n_blank, n_stop,
        has_cycle_index, mb_read.

    Raises
    ------
    batteryml.Error
        A missing file, a file of no known format, malformed content (the message names file, line and
        column), or a wrong argument.
    KeyboardInterrupt
        Ctrl-C: the read stops at the next row.

    Examples
    --------
    >>> df = batteryml.read_cycler("tests/data/cyclers/PredictionDiagnostics_000151_test.052")  # doctest: +SKIP
    >>> df.attrs["format"], df.groupby("cycle").discharge_ah.max()  # doctest: +SKIP
    """
    p = _path(path)
    fmt = _format(format)
    flag = ffi.new("int *", 0)
    col = _Collector(flag)
    meta = ffi.new("bml_cycler_meta *")
    try:
        def call() -> Any:
            st = lib.bml_cycler_read(p, fmt, col.c_fn, ffi.NULL, meta)
            if st != 0 and col.error is None and not flag[0]:
                check(st)
            return st
        run_cancellable(flag, call)
        if col.error is not None:
            raise col.error
        df = col.frame()
        df.attrs.update(_meta_dict(meta))
        return df
    finally:
        lib.bml_cycler_meta_free(meta)


# ---- structure ------------------------------------------------------------------------------------------

_STRUCTURE_KEYS = ("v_min", "v_max", "grid", "ir_window_s", "ir_min_step_a")


class Structure:
    """What :func:`structure` wrote: the folder and its per-cell files, read as DataFrames.

    Parameters
    ----------
    dir : str or os.PathLike
        The output folder.
    cells : list of str
        The cells written (each has ``<cell>_cycles.csv`` and ``<cell>_curves.csv`` in dir).
    n_companions : int, default 0
        Companion files (metadata, licences) found beside the exports and not read as data.

    Attributes
    ----------
    dir : str
        The output folder.
    cells : list of str
        The cells written, in the order of their files.
    n_companions : int
        Companion files not read as data.
    files : list of dict
        What the library said of each export: path, cell, format, n_points, n_cycles, n_complete, n_blank, seconds.

    Examples
    --------
    >>> s = batteryml.structure("lab/", out="lab-summary")  # doctest: +SKIP
    >>> s.cycles.groupby("cell").discharge_ah.plot()  # doctest: +SKIP
    """

    def __init__(self, dir: PathLike, cells: List[str], n_companions: int = 0) -> None:
        self.dir = os.fspath(dir)
        self.cells = list(cells)
        self.n_companions = n_companions
        self.files: List[Dict[str, Any]] = []
        self._cache: Dict[str, Any] = {}

    def __repr__(self) -> str:
        return "Structure(%r, cells=%r)" % (self.dir, self.cells)

    def _read(self, suffix: str) -> Any:
        import pandas as pd

        from .run import _read_csv
        if suffix not in self._cache:
            parts = []
            for c in self.cells:
                df = _read_csv(os.path.join(self.dir, "%s_%s.csv" % (c, suffix)))
                if "cell" not in df.columns:
                    df.insert(0, "cell", c)
                for col in df.columns:  # one dtype per column name, whatever a file's values happen to be
                    if col not in INT64_COLUMNS and col not in ("cell", "format", "capacity_check"):
                        df[col] = df[col].astype("float64")  # an all-empty column too
                parts.append(df)
            self._cache[suffix] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return self._cache[suffix]

    @property
    def cycles(self) -> Any:
        """The per-cycle table of every cell (the ``<cell>_cycles.csv`` files, concatenated).

        Returns
        -------
        pandas.DataFrame
            cell, format, cycle, complete, first_line, start_time_s, duration_s, start_unix, charge_ah,
            discharge_ah, charge_wh, discharge_wh, coulombic_efficiency, energy_efficiency, throughput_ah,
            mean_abs_current_a, temperature_min_c, temperature_mean_c, temperature_max_c, resistance_ohm.
        """
        return self._read("cycles")

    @property
    def curves(self) -> Any:
        """Each cycle's charge and discharge capacity on the voltage grid (``<cell>_curves.csv``, concatenated).

        Returns
        -------
        pandas.DataFrame
            cell, then the curves file's columns (cycle, voltage and the capacities at each grid point).
        """
        return self._read("curves")

    def _repr_html_(self) -> str:
        import html
        head = "<p><b>batteryml structure</b> %s: %d cell(s)</p>" % (html.escape(self.dir), len(self.cells))
        try:
            return head + self.cycles.head(10).to_html(max_cols=12)
        except Error as e:
            return head + "<p>%s</p>" % html.escape(str(e))


def _opts(params: Dict[str, Any]) -> Any:
    o = ffi.new("bml_cycler_summary_opts *")
    lib.bml_cycler_summary_opts_init(o)
    for k, v in params.items():
        if k not in _STRUCTURE_KEYS:
            raise Error("structure: unknown key '%s' (valid: %s)" % (k, ", ".join(_STRUCTURE_KEYS)), "BML_ERR_VALUE")
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise Error("structure: %s must be a number, not %r" % (k, v), "BML_ERR_VALUE")
        if k == "grid":
            if v != int(v) or not 2 <= v <= 1e6:
                raise Error("structure: grid must be an integer >= 2, not %r" % (v,), "BML_ERR_VALUE")
            o.n_grid = int(v)
        else:
            setattr(o, k, float(v))
    return o


def _list(path: bytes, fmt: int) -> Any:
    files, n, comp = ffi.new("char ***"), ffi.new("size_t *"), ffi.new("size_t *")
    check(lib.bml_cycler_list(path, fmt, files, n, comp))
    out = []
    for i in range(n[0]):
        out.append(ffi.string(files[0][i]))
        lib.bml_free(files[0][i])
    lib.bml_free(files[0])
    return out, int(comp[0])


_CAPACITY_RULES = {"sum": 0, "largest_step": 1}  # BML_CYCLER_CAPACITY_SUM, BML_CYCLER_CAPACITY_LARGEST_STEP


def _rule_and_jobs(o: Any, capacity_rule: Any, jobs: Any) -> int:
    """capacity_rule and jobs checked and set in the options; returns jobs."""
    if not isinstance(capacity_rule, str) or capacity_rule not in _CAPACITY_RULES:
        raise Error("structure: capacity_rule must be 'sum' or 'largest_step', not %r" % (capacity_rule,),
                    "BML_ERR_VALUE")
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise Error("structure: jobs must be an integer >= 1, not %r" % (jobs,), "BML_ERR_VALUE")
    o.capacity_rule = _CAPACITY_RULES[capacity_rule]
    jobs = int(min(jobs, 256))  # the library's most threads (it also uses no more than there are files)
    o.jobs = jobs
    return jobs


def structure(path: PathLike, out: Optional[PathLike] = None, format: Optional[str] = None, *,
              log: Union[None, bool, Callable[[str], None]] = None, capacity_rule: str = "sum", jobs: int = 1,
              **params: Any) -> Structure:
    """Summarise every cycler export under path per cycle, as ``batteryml structure PATH --out OUT``.

    Each export is summarised by the library's ``bml_cycler_structure`` (streaming: memory holds one cycle's
    rows) into a hidden ``.partial-structure-*`` folder; the files are moved into out at the end, all cells or
    none, as the program does: a new out is made by renaming the hidden folder, into an existing out each
    file is renamed in, replacing a file of its name (should a rename fail, those moved are taken out again
    and the replaced ones put back). The files are the program's, byte for byte. Ctrl-C stops the export
    being read (the library's cancel flag, looked at every 4096 rows) and leaves nothing.

    Parameters
    ----------
    path : str or os.PathLike
        One export, or a folder of them (companion files such as ``*_Metadata.csv`` are not read as data).
    out : str or os.PathLike, optional
        The output folder (its parent must exist). None: a new temporary folder (``Structure.dir``), left
        for the caller to delete.
    format : str, optional
        Force the format (``"arbin"``, ``"maccor"``, ...); None detects each file's.
    log : None, False or callable, optional
        None prints one line per export as it is done (as the program does); False prints nothing; a callable
        receives each line (an exception it raises stops the work, nothing written, and is raised).
    capacity_rule : {"sum", "largest_step"}, default "sum"
        A cycle's capacity and energy: the sum over its charge (discharge) steps, or its largest single step,
        as BEEP's summary takes it (a step repeated within a cycle, as in HPPC loops, counts once; the
        integrals are then that step's). The program's ``capacity_rule=``.
    jobs : int, default 1
        Files read at once, each on a thread of its own (the program's ``--jobs``; at most 256, and no more
        than there are files). The same files, cells and log lines, in file order, at any count.
    **params
        The summary's settings, as the program's ``key=value``: ``v_min`` (2.5 V), ``v_max`` (4.3 V), ``grid``
        (100 points), ``ir_window_s`` (1 s), ``ir_min_step_a`` (0.1 A).

    Returns
    -------
    Structure
        The folder, the cells written, and ``.cycles`` / ``.curves`` as DataFrames.

    Raises
    ------
    batteryml.Error
        A file that does not read (file, line and column), two files of one cell name, an unknown key,
        a folder that cannot be written. A bad capacity_rule or a jobs below 1 raises it (a ValueError)
        naming the argument before anything is read.
    KeyboardInterrupt
        Ctrl-C, also inside one large export; nothing is left written (the hidden folder is removed).

    Examples
    --------
    >>> s = batteryml.structure("tests/data/cyclers", out="summary", grid=50)  # doctest: +SKIP
    >>> s.cycles[["cell", "cycle", "discharge_ah"]]  # doctest: +SKIP
    >>> beep = batteryml.structure("lab/", out="beep", capacity_rule="largest_step", jobs=4)  # doctest: +SKIP
    """
    src = _path(path)
    fmt = _format(format)
    o = _opts(params)
    jobs = _rule_and_jobs(o, capacity_rule, jobs)
    if out is None:
        target = tempfile.mkdtemp(prefix="batteryml-structure-")
    else:
        target = os.fspath(out)
    files, n_comp = _list(src, fmt)
    exists = os.path.isdir(target)
    parent = target if exists else (os.path.dirname(os.path.abspath(target)) or ".")
    if not exists and not os.path.isdir(parent):
        raise Error("%s: the folder above it does not exist" % target, "BML_ERR_IO")
    flag = ffi.new("int *", 0)
    o.cancel = flag  # bml_cycler_summary_opts.cancel: the library stops within a few thousand rows
    stop: List[BaseException] = []  # an exception of the log callable: it stops the work and is raised
    result = Structure(target, [], n_comp)

    def say(text: str) -> None:
        """One line, as it comes (from the working thread)."""
        if log is False:
            return
        try:
            if callable(log):
                log(text)
            else:
                print(text, flush=True)
        except BaseException as e:  # noqa: B902 - raised once the work has stopped
            if not stop:
                stop.append(e)
            flag[0] = 1

    def on_file(f: Any, user: Any) -> None:
        m = f.meta
        info = {"path": string(m.path), "cell": string(m.cell), "format": string(lib.bml_cycler_format_name(m.format)),
                "n_points": int(m.n_points), "n_cycles": int(f.n_cycles), "n_complete": int(f.n_complete),
                "n_blank": int(m.n_blank), "n_stop": int(m.n_stop), "mb_read": float(m.mb_read),
                "seconds": float(f.seconds)}
        result.files.append(info)
        s = f.seconds
        say("%s: %s, %d rows, %d cycles (%d complete), %d blank rows skipped%s, %.1f MB in %.3f s (%.0f MB/s)" % (
            info["path"], info["format"], info["n_points"], info["n_cycles"], info["n_complete"], info["n_blank"],
            ", %d closing STO rows left out" % info["n_stop"] if info["n_stop"] else "", info["mb_read"], s,
            info["mb_read"] / s if s > 0 else 0.0))
    def on_error(exc: Any, value: Any, tb: Any) -> None:
        if not stop:
            stop.append(value if value is not None else exc())
        flag[0] = 1
    c_on_file = ffi.callback("bml_cycler_structure_fn", on_file, onerror=on_error)
    stage = tempfile.mkdtemp(prefix=".partial-structure-", dir=parent)

    def work() -> Optional[List[str]]:
        """Every export into its own folder of stage (stopping between two when flag is set), then the move
        into place, which a Ctrl-C does not cut short; stage is removed unless it became the output."""
        keep_stage = False
        try:
            names: Dict[str, bytes] = {}
            cells = []
            if jobs > 1 and len(files) > 1:
                # the library reads the files on its threads and reports them in file order (on this thread):
                # one call over path, its files in one folder of stage; the cells are those of on_file's reports
                sub = os.path.join(stage, "%06d" % 0)
                try:
                    check(lib.bml_cycler_structure(src, fmt, o, os.fsencode(sub), c_on_file, ffi.NULL, ffi.NULL,
                                                   ffi.NULL))
                except Error as e:
                    if e.status == "BML_ERR_CANCELLED" and flag[0]:
                        return None
                    raise
                cells = [f["cell"] for f in result.files]
                files_done = True
            else:
                files_done = False
            for k, f in enumerate([] if files_done else files):
                if flag[0]:
                    return None
                sub = os.path.join(stage, "%06d" % k)
                try:
                    check(lib.bml_cycler_structure(f, fmt, o, os.fsencode(sub), c_on_file, ffi.NULL, ffi.NULL, ffi.NULL))
                except Error as e:
                    if e.status == "BML_ERR_CANCELLED" and flag[0]:
                        return None  # Ctrl-C or a failing callback: raised by the caller
                    raise
                for name in sorted(os.listdir(sub)):
                    if name in names:
                        raise Error("%s and %s: two files of one cell name (%s)" % (
                            os.fsdecode(names[name]), os.fsdecode(f), name), "BML_ERR_VALUE")
                    names[name] = f
                    if name.endswith("_cycles.csv"):
                        cells.append(name[:-len("_cycles.csv")])
            if flag[0]:
                return None
            try:
                keep_stage = _commit(stage, target, exists)
            except OSError as e:
                raise Error("%s: %s" % (target, e.strerror or e), "BML_ERR_IO") from None
            return cells
        finally:
            if not keep_stage:
                shutil.rmtree(stage, ignore_errors=True)

    try:
        cells = run_cancellable(flag, work)
        if stop:
            raise stop[0]
    except BaseException:
        if out is None:
            shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(stage, ignore_errors=True)  # a Ctrl-C before work() began (work() has ended otherwise)
        raise
    result.cells = cells or []
    say("%d cell(s) written to %s (%d companion file(s) not read as data)" % (len(result.cells), target, n_comp))
    if stop:  # the last line's callback failed: everything is written; the exception is still the caller's
        raise stop[0]
    return result


def _fsync_dir(d: str) -> None:
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(stage: str, target: str, exists: bool) -> bool:
    """Move the staged per-file folders' files into target (all or none). Returns True when stage itself
    became target (nothing left to remove)."""
    subs = sorted(os.listdir(stage))
    staged = [(os.path.join(stage, s, n), n) for s in subs for n in sorted(os.listdir(os.path.join(stage, s)))]
    if not exists:
        for p, n in staged:
            os.rename(p, os.path.join(stage, n))
        for s in subs:
            os.rmdir(os.path.join(stage, s))
        _fsync_dir(stage)
        os.rename(stage, target)
        _fsync_dir(os.path.dirname(os.path.abspath(target)))
        return True
    backup = os.path.join(stage, ".replaced")
    os.mkdir(backup)
    done = []  # (name, had an old file)
    try:
        for p, n in staged:
            dst = os.path.join(target, n)
            old = os.path.lexists(dst)
            if old:
                os.link(dst, os.path.join(backup, n))
            os.rename(p, dst)
            done.append((n, old))
    except OSError as e:
        for n, old in reversed(done):  # undo: take the new files out, put the replaced ones back
            try:
                if old:
                    os.rename(os.path.join(backup, n), os.path.join(target, n))
                else:
                    os.unlink(os.path.join(target, n))
            except OSError:
                pass
        raise Error("%s: %s" % (target, e), "BML_ERR_IO") from None
    _fsync_dir(target)
    return False
