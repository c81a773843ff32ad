"""Sweeps, the learning-rate finder and comparisons from Python: what `batteryml run -m`, `batteryml lr-find`
and `batteryml compare` do, over the same library calls.

sweep(overrides, sweeper=, trials=, jobs=)   a Sweep: the jobs' runs and sweep.csv as a DataFrame
lr_find(overrides)                           an LRFind: the suggested learning rate and the curve
compare(runs)                                the overall metrics of runs (or a sweep's jobs) as a DataFrame
"""
from __future__ import annotations

import fcntl
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ._dtypes import normalize
from ._lib import Error, check, ffi, lib, run_cancellable, string, take_string
from .run import Run, _Config, _base_dir, _cstr, _override_list, _read_csv, _Reporter, _opts

__all__ = ["sweep", "Sweep", "lr_find", "LRFind", "compare"]

PathLike = Union[str, "os.PathLike[str]"]
Overrides = Union[None, str, Sequence[str], Dict[str, Any]]

_CANCELLED = -10  # BML_ERR_CANCELLED


# ---- sweeps ---------------------------------------------------------------------------------------------

class Sweep:
    """A sweep folder (what :func:`sweep` or ``batteryml run -m`` wrote): multirun.yaml, sweep.csv and one run
    folder per finished job.

    Parameters
    ----------
    dir : str or os.PathLike
        The sweep folder (it holds sweep.csv).

    Attributes
    ----------
    dir : str
        The sweep folder.
    log : list of str
        The lines the sweep printed (sweeps made in this process).

    Raises
    ------
    batteryml.Error
        The folder holds no sweep.csv.

    Examples
    --------
    >>> s = batteryml.Sweep("multirun/2026-12-07/10-41-07")  # doctest: +SKIP
    >>> s.table.sort_values("soh.rmse").head()  # doctest: +SKIP
    """

    def __init__(self, dir: PathLike) -> None:
        d = os.fspath(dir)
        if not os.path.isfile(os.path.join(d, "sweep.csv")):
            raise Error("%s: not a sweep folder (no sweep.csv)" % d, "BML_ERR_NOT_FOUND")
        self.dir = d
        self.log: List[str] = []
        self._table: Any = None

    def __repr__(self) -> str:
        return "Sweep(%r)" % self.dir

    @property
    def table(self) -> Any:
        """sweep.csv as a DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per job, in job order: index, name, overrides, one column per swept key, status (ok,
            failed or cancelled), error, seconds, fit_s, run_dir, then every aggregate metric
            (``soh.rmse``, ...).
        """
        if self._table is None:
            import pandas as pd
            t = _read_csv(os.path.join(self.dir, "sweep.csv"))
            for c in ("overrides", "status", "error", "run_dir", "name"):
                if c in t.columns:
                    t[c] = t[c].astype(object).where(t[c].notna(), None)
            if "index" in t.columns:
                t["index"] = t["index"].astype("int64")
            for c in ("seconds", "fit_s"):
                if c in t.columns:
                    t[c] = pd.to_numeric(t[c]).astype("float64")
            self._table = t
        return self._table

    @property
    def runs(self) -> List[Run]:
        """The runs of the jobs that finished, in job order.

        Returns
        -------
        list of Run
        """
        t = self.table
        out = []
        for status, rd in zip(t["status"], t["run_dir"]):
            if status == "ok" and rd:
                out.append(Run(self._run_dir(rd)))
        return out

    def _run_dir(self, rd: str) -> str:
        """A job's run folder: sweep.csv names it as seen from where the sweep ran; it is in the sweep folder."""
        return os.path.join(self.dir, os.path.basename(os.path.normpath(rd)))

    def _metric(self, metric: Optional[str]) -> str:
        cols = [str(c) for c in self.table.columns]
        if metric is None:
            for c in cols:
                if c.endswith(".rmse"):
                    return c
            raise Error("%s: sweep.csv has no .rmse column (no job finished?)" % self.dir, "BML_ERR_NOT_FOUND")
        if metric not in cols:
            raise Error("%s: no metric %r in sweep.csv (columns: %s)" % (self.dir, metric, ", ".join(cols)),
                        "BML_ERR_NOT_FOUND")
        return metric

    def ranked(self, metric: Optional[str] = None) -> Any:
        """The jobs sorted by a metric, as ``batteryml compare SWEEP_DIR --sort METRIC`` ranks them.

        Parameters
        ----------
        metric : str, optional
            A sweep.csv column such as ``"soh.rmse"``; None: the first column ending in ``.rmse``. Ascending,
            R² (``.r2``) descending; jobs that did not finish last.

        Returns
        -------
        pandas.DataFrame
            sweep.csv's rows in that order.

        Raises
        ------
        batteryml.Error
            No such metric.
        """
        m = self._metric(metric)
        t = self.table
        ok = t["status"] == "ok"
        asc = not m.endswith(".r2")
        import pandas as pd
        head = t[ok].sort_values(m, ascending=asc, kind="stable", na_position="last")
        return pd.concat([head, t[~ok]])

    def best(self, metric: Optional[str] = None) -> Run:
        """The run of the best finished job by a metric.

        Parameters
        ----------
        metric : str, optional
            As for :meth:`ranked`.

        Returns
        -------
        Run

        Raises
        ------
        batteryml.Error
            No job finished, or no such metric.
        """
        r = self.ranked(metric)
        r = r[(r["status"] == "ok") & r[self._metric(metric)].notna()]
        if not len(r):
            raise Error("%s: no job finished with a value of %s" % (self.dir, self._metric(metric)), "BML_ERR_EMPTY")
        return Run(self._run_dir(r["run_dir"].iloc[0]))

    def compare(self, metric: Optional[str] = None) -> str:
        """The library's text table of the jobs ranked by a metric (what ``batteryml compare`` prints).

        Parameters
        ----------
        metric : str, optional
            As for :meth:`ranked`.

        Returns
        -------
        str

        Raises
        ------
        batteryml.Error
            No such metric, or a sweep.csv that does not read.
        """
        table = ffi.new("char **")
        check(lib.bml_sweep_compare(_cstr(self.dir), _cstr(metric) if metric is not None else ffi.NULL, table))
        return take_string(table[0]) or ""

    def report(self, out_path: PathLike, metric: Optional[str] = None) -> str:
        """Write the sweep's self-contained HTML report (as ``batteryml report SWEEP_DIR``).

        Parameters
        ----------
        out_path : str or os.PathLike
            The HTML file (written atomically).
        metric : str, optional
            The metric the jobs are ranked and drawn by (None: the first ``.rmse``).

        Returns
        -------
        str
            out_path.

        Raises
        ------
        batteryml.Error
            The report cannot be written.
        """
        out = os.fspath(out_path)
        check(lib.bml_sweep_report(_cstr(self.dir), _cstr(metric) if metric is not None else ffi.NULL, _cstr(out)))
        return out

    def _repr_html_(self) -> str:
        import html
        t = self.table
        n_ok = int((t["status"] == "ok").sum())
        head = "<p><b>batteryml sweep</b> %s: %d jobs, %d ok</p>" % (html.escape(self.dir), len(t), n_ok)
        keep = [c for c in t.columns if c not in ("overrides", "run_dir", "error")]
        return head + t[keep].to_html(max_rows=30)


def _claim(given: Optional[str], sw: Any, so: Any, ov: Any, n_ov: int, say: Callable[[str], None]) -> Any:
    """The sweep folder claimed as the program claims it: multirun/<date>/<time> or the given folder, else the
    first of <name>-1, <name>-2, ... that holds no sweep; its lock (flock) is held by the returned fd."""
    if given is None:
        now = time.localtime()
        base = time.strftime("multirun/%Y-%m-%d/%H-%M-%S", now)
        os.makedirs(os.path.dirname(base), exist_ok=True)
    else:
        base = given.rstrip("/") or given
        parent = os.path.dirname(base)
        if parent:
            os.makedirs(parent, exist_ok=True)
    for k in range(1000):
        d = base + ("-%d" % k if k else "")
        try:
            os.mkdir(d)
        except FileExistsError:
            pass
        except OSError as e:
            raise Error("cannot create the sweep directory %s: %s" % (d, e.strerror), "BML_ERR_IO") from None
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except NotADirectoryError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            busy = False
        except BlockingIOError:
            busy = True
        except OSError:
            busy = False  # no locks on this file system: multirun.yaml alone decides
        st = -8 if busy else lib.bml_sweep_write_yaml(sw, so, ov, n_ov, _cstr(d))
        if st == 0:
            if k:
                say("sweep: %s holds another sweep: this one goes to %s" % (base, d))
            return d, fd
        os.close(fd)
        if st != -8:  # not BML_ERR_STATE: a real failure
            check(st)
    raise Error("%s: no free sweep folder among %s-1 ... %s-999" % (base, base, base), "BML_ERR_STATE")


def sweep(overrides: Overrides = (), sweeper: str = "basic", trials: Optional[int] = None,
          jobs: int = 1, *, config_dir: Optional[PathLike] = None, config_file: Optional[PathLike] = None,
          sweep_dir: Optional[PathLike] = None, seed: Optional[int] = None, max_jobs: int = 0,
          log: Union[None, bool, Callable[[str], None]] = None, quiet: bool = False) -> Sweep:
    """Run a hyperparameter sweep, as ``batteryml run -m`` does: every job an ordinary run in the sweep folder.

    Overrides that list values (``model.learning_rate=0.01,0.1``, ``key=range(1,5)``, ``key=choice(a,b)``,
    and for the random sweeper ``interval(a,b)``, ``log_interval(a,b)``, ``int_interval(a,b)``) become jobs
    (``bml_sweep_expand``); the folder is claimed as the program claims it (multirun.yaml written where none is,
    a lock held while the sweep runs: a folder holding another sweep is never shared, the sweep goes to
    ``DIR-1``, ...); sweep.csv is written by the library (``bml_sweep_write_csv``) once the jobs are done. A
    failing job is recorded with its error and the sweep goes on. The jobs run on threads of this process
    (``jobs`` at a time), the program's run in worker processes: the run folders hold the same files.

    Parameters
    ----------
    overrides : list of str, str or dict
        ``key=value`` overrides, some listing values.
    sweeper : {"basic", "grid", "random"}, default "basic"
        ``basic`` (or ``grid``): the cartesian product; ``random``: ``trials`` draws.
    trials : int, optional
        The random sweeper's number of jobs (required there).
    jobs : int, default 1
        Jobs run at once (threads; each study still fits its folds on the configuration's ``jobs`` threads).
    config_dir : str or os.PathLike, optional
        The configuration folder (found as the program finds it by default).
    config_file : str or os.PathLike, optional
        A resolved configuration to start from, as ``--config-file``.
    sweep_dir : str or os.PathLike, optional
        The sweep folder (default ``multirun/<date>/<time>`` under the working directory).
    seed : int, optional
        The random sweeper's draws (default: the configuration's ``seed``, as the program).
    max_jobs : int, default 0
        A sweep of more jobs fails before anything runs (0: 10,000).
    log : None, False or callable, optional
        None prints the program's lines (the folder, one line per finished job, the summary); False drops
        them; a callable receives each.
    quiet : bool, default False
        Print nothing.

    Returns
    -------
    Sweep
        The sweep folder, its table (sweep.csv) and runs.

    Raises
    ------
    batteryml.Error
        Malformed sweep syntax, an unknown key or option in any job (before anything runs), a sweep of more
        than max_jobs jobs, a folder that cannot be claimed or sweep.csv that cannot be written.
    KeyboardInterrupt
        Ctrl-C: the running jobs stop at their next stage, fold, mini-batch or boosting round (no partial run
        folder is left), no further job starts, and sweep.csv records the finished jobs and the others as
        cancelled before the interrupt is raised. An exception raised by the log callable stops the sweep the
        same way and is raised.

    Examples
    --------
    >>> s = batteryml.sweep(["model=ridge,lasso", "split=loco"])  # doctest: +SKIP
    >>> s.table[["name", "status", "soh.rmse"]]  # doctest: +SKIP
    >>> s.best("soh.rmse").metrics["overall"]  # doctest: +SKIP
    """
    ov = _override_list(overrides)
    if sweeper not in ("basic", "grid", "random"):
        raise Error("sweeper must be 'basic' (or 'grid') or 'random', not %r" % (sweeper,), "BML_ERR_VALUE")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise Error("jobs must be a whole number >= 1, not %r" % (jobs,), "BML_ERR_VALUE")
    so = ffi.new("bml_sweep_opts *")
    lib.bml_sweep_opts_init(so)
    so.sweeper = 1 if sweeper == "random" else 0
    if sweeper == "random":
        if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
            raise Error("the random sweeper needs trials= (a whole number >= 1), not %r" % (trials,), "BML_ERR_VALUE")
        so.trials = trials
        if seed is None:  # the configuration's seed, as the program (a seed= override counts)
            base = _Config([o for o in ov if o.startswith("seed=")], config_dir, config_file)
            sv = base.get("seed")
            seed = int(sv) if sv and sv.isdigit() else 42
    elif trials is not None:
        raise Error("trials= is for the random sweeper", "BML_ERR_VALUE")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 64:
            raise Error("seed must be a whole number from 0 to 2^64-1, not %r" % (seed,), "BML_ERR_VALUE")
        so.seed = seed
    if not isinstance(max_jobs, int) or max_jobs < 0:
        raise Error("max_jobs must be a whole number >= 0, not %r" % (max_jobs,), "BML_ERR_VALUE")
    so.max_jobs = max_jobs
    keep = [_cstr(o, "override") for o in ov]
    arr = ffi.new("const char *[]", keep) if keep else ffi.NULL
    out = ffi.new("bml_sweep **")
    check(lib.bml_sweep_expand(arr, len(keep), so, out))
    sw = ffi.gc(out[0], lib.bml_sweep_free)
    n_jobs = lib.bml_sweep_n_jobs(sw)
    lines: List[str] = []
    flag = ffi.new("int *", 0)
    stop: Dict[str, Any] = {"why": None, "error": None}  # what stopped the sweep, and the exception to raise

    def say(text: str) -> None:
        """A line for the log; an exception the log callable raises stops the sweep (raised at the end)."""
        lines.append(text)
        if quiet or log is False:
            return
        try:
            if callable(log):
                log(text)
            else:
                print(text, flush=True)
        except BaseException as e:  # noqa: B902 - stops the sweep; raised once sweep.csv is written
            if stop["error"] is None:
                stop["why"], stop["error"] = "an exception in the log callback (%s)" % type(e).__name__, e
            flag[0] = 1

    # every job's configuration before anything runs: an unknown key or option in a list stops here
    cfgs = []
    n = ffi.new("size_t *")
    for j in range(n_jobs):
        jo = lib.bml_sweep_job_overrides(sw, j, n)
        job_ov = [string(jo[i]) for i in range(n[0])]
        try:
            cfgs.append(_Config(job_ov, config_dir, config_file))
        except Error as e:
            raise Error("job %d (%s): %s" % (j, string(lib.bml_sweep_job_label(sw, j)), e), e.status) from None
    base_dir = _base_dir(cfgs[0].dir) if cfgs else None
    d, lock_fd = _claim(os.fspath(sweep_dir) if sweep_dir is not None else None, sw, so, arr, len(keep), say)
    try:
        say("sweep: %d jobs (%s) into %s" % (n_jobs, "random" if sweeper == "random" else "grid", d))
        t0 = time.monotonic()
        res: List[Dict[str, Any]] = [{"ok": -1, "error": None, "started": False} for _ in range(n_jobs)]
        counter = {"done": 0}
        lock = threading.Lock()

        def run_job(j: int) -> None:
            r = res[j]
            if flag[0]:
                return
            r["started"] = True
            start = time.monotonic()
            c = ffi.new("bml_config **")
            st = lib.bml_config_copy(cfgs[j].ptr, c)
            cfg = ffi.gc(c[0], lib.bml_config_free) if st == 0 else None
            if st == 0:
                st = lib.bml_config_set(cfg, b"output_dir", _cstr(d))
            if st == 0:
                st = lib.bml_config_set(cfg, b"run_name", lib.bml_sweep_job_name(sw, j))
            ro = ffi.new("bml_run_opts *")
            lib.bml_run_opts_init(ro)
            bd = _cstr(base_dir) if base_dir is not None else ffi.NULL
            ro.base_dir = bd
            ro.write_run_dir = 1
            ro.cancel = flag
            rr = ffi.new("bml_run_result **")
            rr[0] = ffi.NULL
            if st == 0:
                st = lib.bml_run_experiment(cfg, ro, rr)
            r["seconds"] = time.monotonic() - start
            if st == 0:
                r.update(ok=1, fit_seconds=rr[0].t_fit, run_dir=string(rr[0].run_dir),
                         metrics_json=string(rr[0].metrics_json))
            elif st == _CANCELLED and flag[0]:
                r.update(ok=-1, error=None)  # the message says what stopped the sweep (below)
            else:
                r.update(ok=0, error=string(lib.bml_last_error()) or string(lib.bml_status_describe(st)))
            lib.bml_run_result_free(rr[0])
            with lock:
                counter["done"] += 1
                name = string(lib.bml_sweep_job_name(sw, j))
                k = counter["done"]
                if r["ok"] < 0:
                    say("[%d/%d] %s  cancelled after %.2f s" % (k, n_jobs, name, r["seconds"]))
                elif not r["ok"]:
                    say("[%d/%d] %s  FAILED after %.2f s: %s" % (k, n_jobs, name, r["seconds"], r["error"]))
                else:
                    rmse = _first_rmse(r["metrics_json"])
                    say("[%d/%d] %s  ok  %.2f s%s" % (k, n_jobs, name, r["seconds"],
                                                       "  RMSE %.5g" % rmse if rmse is not None else ""))

        def work() -> None:
            if jobs == 1:
                for j in range(n_jobs):
                    run_job(j)
            else:
                with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="batteryml-sweep") as ex:
                    for f in [ex.submit(run_job, j) for j in range(n_jobs)]:
                        f.result()
        try:
            run_cancellable(flag, work)
        except BaseException as e:  # noqa: B902 - Ctrl-C (or anything else): sweep.csv first, then raised
            flag[0] = 1
            if stop["error"] is None or isinstance(e, KeyboardInterrupt):
                stop["why"], stop["error"] = type(e).__name__, e
        # sweep.csv: every job (those a stop cut short or that never started: cancelled)
        results = ffi.new("bml_sweep_result[]", max(n_jobs, 1))
        keep_s = []
        why = stop["why"] or "KeyboardInterrupt"
        for j, r in enumerate(res):
            if r["ok"] < 0 and r["error"] is None:
                r["error"] = ("the sweep was stopped by %s while the job ran" % why if r["started"] else
                              "the sweep was stopped by %s before the job started" % why)
            results[j].ok = r["ok"]
            for k in ("error", "run_dir", "metrics_json"):
                if r.get(k) is not None:
                    keep_s.append(_cstr(r[k]))
                    setattr(results[j], k, keep_s[-1])
            results[j].seconds = r.get("seconds", math.nan) if r["started"] else math.nan
            results[j].fit_seconds = r.get("fit_seconds", math.nan)
        check(lib.bml_sweep_write_csv(sw, results, _cstr(d)))
        lib.bml_sweep_clean(_cstr(d), ffi.NULL)
        failed = sum(1 for r in res if r["ok"] == 0)
        cancelled = sum(1 for r in res if r["ok"] < 0)
        say("sweep: %d jobs, %d failed%s, in %.2f s: %s/sweep.csv" % (
            n_jobs, failed, ", %d cancelled" % cancelled if cancelled else "", time.monotonic() - t0, d))
    finally:
        os.close(lock_fd)
    if stop["error"] is not None:
        raise stop["error"]
    s = Sweep(os.path.abspath(d))  # the folder stays found when the working directory changes
    s.log = lines
    return s


def _first_rmse(metrics_json: Optional[str]) -> Optional[float]:
    import json
    try:
        overall = json.loads(metrics_json or "")["overall"]
        return float(next(iter(overall.values()))["rmse"])
    except (ValueError, KeyError, TypeError, StopIteration):
        return None


# ---- the learning-rate finder ---------------------------------------------------------------------------

class LRFind:
    """The result of :func:`lr_find`: the suggested learning rate and the range test's curve.

    Parameters
    ----------
    suggestion : float
        The suggested learning rate.
    curve : pandas.DataFrame
        lr_find.csv: step, lr, smoothed_loss, batch_loss, suggested.
    dir : str, optional
        The folder written (lr_find.csv, config.yaml, figures/), None when nothing was written.

    Attributes
    ----------
    suggestion : float
    curve : pandas.DataFrame
    dir : str or None
    log : list of str
        The stage lines the test printed.

    Examples
    --------
    >>> f = batteryml.lr_find(["model=mlp"])  # doctest: +SKIP
    >>> f.suggestion, f.curve.tail()  # doctest: +SKIP
    """

    def __init__(self, suggestion: float, curve: Any, dir: Optional[str] = None) -> None:
        self.suggestion = suggestion
        self.curve = curve
        self.dir = dir
        self.log: List[str] = []

    def __repr__(self) -> str:
        return "LRFind(suggestion=%.6g, steps=%d, dir=%r)" % (self.suggestion, len(self.curve), self.dir)

    @property
    def figures(self) -> List[str]:
        """The figure files the program's drawing wrote (figures/lr_find.png and .svg), [] without any.

        Returns
        -------
        list of str
        """
        if self.dir is None:
            return []
        d = os.path.join(self.dir, "figures")
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith((".png", ".svg")))

    def plot(self, ax: Any = None) -> Any:
        """Draw the smoothed loss against the learning rate (log scale), the suggestion marked, with matplotlib.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw (default: a new figure's axes).

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        ImportError
            matplotlib is not installed.
        """
        from .plot import lr_find as _plot
        return _plot(self, ax=ax)


def lr_find(overrides: Overrides = (), config_dir: Optional[PathLike] = None, *,
            config_file: Optional[PathLike] = None, out: Optional[PathLike] = None, write: bool = True,
            log: Union[None, bool, Callable[[str], None]] = None, progress: Any = False) -> LRFind:
    """Run the learning-rate range test of the configured neural model, as ``batteryml lr-find``.

    From a fresh model, ``lr_find.num_steps`` mini-batches (100) of the training split of the study's first
    fold, the rate growing exponentially from ``lr_find.min_lr`` (1e-7) to ``lr_find.max_lr`` (1), the loss
    smoothed exponentially; it stops once the smoothed loss exceeds 4x its minimum. The suggestion is the
    rate of the steepest descent of the smoothed loss (``bml_run_lr_find``).

    Parameters
    ----------
    overrides : list of str, str or dict
        ``key=value`` overrides (``model=mlp``, ``lr_find.num_steps=50``, ...).
    config_dir : str or os.PathLike, optional
        The configuration folder.
    config_file : str or os.PathLike, optional
        A resolved configuration to start from.
    out : str or os.PathLike, optional
        The folder to write (default: ``<output_dir>/<UTC time>-lr_find-<model>``, as the program).
    write : bool, default True
        Write lr_find.csv, config.yaml and (unless ``figures=false``) figures/lr_find.png as the program
        does; False keeps everything in memory.
    log : None, False or callable, optional
        The stage lines: None prints them, False drops them, a callable receives each.
    progress : bool or callable, default False
        As for :func:`batteryml.run`.

    Returns
    -------
    LRFind
        ``.suggestion``, ``.curve`` (the lr_find.csv rows as a DataFrame), ``.dir``, ``.plot()``.

    Raises
    ------
    batteryml.Error
        A model that does not train by mini-batches, a bad key, a folder that cannot be written.
    KeyboardInterrupt
        Ctrl-C: the test stops at the next mini-batch, nothing written.

    Examples
    --------
    >>> f = batteryml.lr_find(["model=mlp", "lr_find.num_steps=60"], write=False)  # doctest: +SKIP
    >>> f.suggestion  # doctest: +SKIP
    """
    import io
    cfg = _Config(overrides, config_dir, config_file)
    reporter = _Reporter(log=log, progress=progress)
    opts, keep = _opts(_base_dir(cfg.dir), reporter, False)
    res = ffi.new("bml_lr_find_result **")
    res[0] = ffi.NULL
    dir_out = ffi.new("char **")
    try:
        from ._lib import call_cancellable
        try:
            call_cancellable(reporter.cancel, lib.bml_run_lr_find, cfg.ptr, opts, res)
        except Error:
            if reporter.error is None:
                raise
        reporter.finish()
        r = res[0]
        text = take_string(lib.bml_lr_find_csv(r))
        if text is None:
            raise Error("out of memory", "BML_ERR_NOMEM")
        d = None
        if write:
            target = _cstr(out, "out") if out is not None else ffi.NULL
            check(lib.bml_lr_find_write(r, cfg.ptr, target, dir_out))
            d = take_string(dir_out[0])
            if (cfg.get("figures") or "true") != "false":
                nfig = ffi.new("int *")
                check(lib.bml_run_plot(_cstr(d), nfig))
        suggestion = float(r.suggestion)
    finally:
        if res[0] != ffi.NULL:
            lib.bml_lr_find_result_free(res[0])
    del keep
    import pandas as pd
    curve = normalize(pd.read_csv(io.StringIO(text), float_precision="round_trip"))
    f = LRFind(suggestion, curve, d)
    f.log = reporter.lines
    return f


# ---- comparing runs -------------------------------------------------------------------------------------

_COMPARE_METRICS = ("rmse", "mae", "mape", "r2", "max_abs_error")


def compare(runs: Union[PathLike, Run, Sweep, Sequence[Union[PathLike, Run]]], metric: Optional[str] = None) -> Any:
    """The overall metrics of several runs side by side, as ``batteryml compare RUN_DIR...``; for a sweep folder
    its jobs ranked by a metric, as ``batteryml compare SWEEP_DIR --sort METRIC``.

    Parameters
    ----------
    runs : path, Run, Sweep, or a list of paths and Runs
        Run folders (or one sweep folder: one that holds sweep.csv).
    metric : str, optional
        For a sweep: the column to rank by (None: the first ``.rmse``). Not used for runs.

    Returns
    -------
    pandas.DataFrame
        For runs: one row per run and target: run (the folder's name), dir, model, pipeline, split, target,
        rmse, mae, mape, r2, max_abs_error (float64, NaN where absent), fold_rmse_mean, fold_rmse_std (multi-fold
        studies). ``.attrs["text"]`` holds the library's text table (what the program prints). For a sweep:
        :meth:`Sweep.ranked`.

    Raises
    ------
    batteryml.Error
        A folder that is not a run (no metrics.json) or holds a malformed one; metric given for runs.

    Examples
    --------
    >>> batteryml.compare(["runs/a", "runs/b"])[["run", "target", "rmse", "r2"]]  # doctest: +SKIP
    """
    import json

    import pandas as pd
    if isinstance(runs, Sweep):
        return runs.ranked(metric)
    if isinstance(runs, (str, bytes, os.PathLike, Run)):
        runs = [runs]
    dirs = [r.dir if isinstance(r, Run) else os.fspath(r) for r in runs]
    if len(dirs) == 1 and os.path.isfile(os.path.join(dirs[0], "sweep.csv")):
        return Sweep(dirs[0]).ranked(metric)
    if metric is not None:
        raise Error("metric= is for a sweep folder (one with sweep.csv)", "BML_ERR_VALUE")
    if not dirs:
        raise Error("compare needs run folders", "BML_ERR_VALUE")
    keep = [_cstr(d, "run folder") for d in dirs]
    table = ffi.new("char **")
    check(lib.bml_run_compare(ffi.new("const char *[]", keep), len(keep), table))  # the program's checks
    text = take_string(table[0]) or ""
    rows = []
    for d in dirs:
        with open(os.path.join(d, "metrics.json"), encoding="utf-8") as f:
            m = json.load(f)
        study = m.get("study", {}) or {}
        fs = m.get("fold_summary", {}) or {}
        for target, vals in (m.get("overall", {}) or {}).items():
            row: Dict[str, Any] = {"run": os.path.basename(os.path.normpath(d)), "dir": d}
            for k in ("model", "pipeline", "split"):
                row[k] = study.get(k) if isinstance(study.get(k), str) else None
            row["target"] = target
            for k in _COMPARE_METRICS:
                v = vals.get(k) if isinstance(vals, dict) else None
                row[k] = float(v) if isinstance(v, (int, float)) else math.nan
            ft = fs.get(target) if isinstance(fs, dict) else None
            for k in ("rmse_mean", "rmse_std"):
                v = ft.get(k) if isinstance(ft, dict) else None
                row["fold_" + k] = float(v) if isinstance(v, (int, float)) else math.nan
            rows.append(row)
    cols = ["run", "dir", "model", "pipeline", "split", "target"] + list(_COMPARE_METRICS) + \
        ["fold_rmse_mean", "fold_rmse_std"]
    df = pd.DataFrame(rows, columns=cols)
    for c in list(_COMPARE_METRICS) + ["fold_rmse_mean", "fold_rmse_std"]:
        df[c] = df[c].astype("float64")
    df.attrs["text"] = text
    return normalize(df)
