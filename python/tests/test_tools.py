"""batteryml.sweep / lr_find / compare / read_cycler / structure against the program: the same library calls
give the same files, byte for byte; bad input raises batteryml.Error; Ctrl-C (a real SIGINT to a child
interpreter) raises KeyboardInterrupt and leaves nothing half-written."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

import batteryml
from batteryml import Error

RUN_FILES = ["metrics.json", "predictions.csv", "shap.csv", "importance.csv", "config.yaml"]


def _read(p):
    with open(p, "rb") as f:
        return f.read()


def _csv_without(p, drop):
    """sweep.csv's rows without the timing columns (wall times differ from run to run)."""
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    keep = [i for i, h in enumerate(rows[0]) if h not in drop]
    return [[r[i] for i in keep] for r in rows]


def _child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(batteryml.__file__)))]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


# ---- sweeps ---------------------------------------------------------------------------------------------

def test_sweep_equals_cli(cli, configs, tmp_path):
    """The same sweep from Python and from `batteryml run -m`: the same multirun.yaml, the same run folders
    file for file, the same sweep.csv but its wall times; a failing job is recorded and the sweep goes on."""
    ov = ["model=ridge", "model.alpha=1,-1,0.5", "figures=false"]
    (tmp_path / "py").mkdir()
    (tmp_path / "cli").mkdir()
    lines = []
    cwd = os.getcwd()
    os.chdir(tmp_path / "py")
    try:
        s = batteryml.sweep(ov, config_dir=configs, sweep_dir="sw", log=lines.append)
    finally:
        os.chdir(cwd)
    p = subprocess.run([cli, "run", "-m", "--config-dir", configs, "--sweep-dir", "sw"] + ov, cwd=str(tmp_path / "cli"),
                       capture_output=True, text=True)
    assert p.returncode == 1, p.stderr  # one failed job
    py, cl = tmp_path / "py" / "sw", tmp_path / "cli" / "sw"
    assert sorted(os.listdir(py)) == sorted(os.listdir(cl)) == ["0-1", "2-0.5", "multirun.yaml", "sweep.csv"]
    assert _read(py / "multirun.yaml") == _read(cl / "multirun.yaml")
    drop = {"seconds", "fit_s"}
    assert _csv_without(py / "sweep.csv", drop) == _csv_without(cl / "sweep.csv", drop)
    for job in ("0-1", "2-0.5"):
        for f in RUN_FILES:
            assert _read(py / job / f) == _read(cl / job / f), (job, f)
    t = s.table
    assert list(t["status"]) == ["ok", "failed", "ok"]
    assert "alpha must be >= 0" in t["error"][1]
    assert t["soh.rmse"].dtype == np.float64 and t["index"].dtype == np.int64
    assert [os.path.basename(r.dir) for r in s.runs] == ["0-1", "2-0.5"]
    best = s.best("soh.rmse")
    assert best.metrics["overall"]["soh"]["rmse"] == pytest.approx(min(t["soh.rmse"].dropna()), rel=1e-8)  # 9 digits
    assert list(s.ranked("soh.r2")["status"])[-1] == "failed"
    assert "FAILED" in "\n".join(lines) and lines[-1].startswith("sweep: 3 jobs, 1 failed")
    text = s.compare("soh.rmse")
    pc = subprocess.run([cli, "compare", str(cl), "--sort", "soh.rmse"], capture_output=True, text=True)
    assert text.replace(str(py), "X") == pc.stdout.replace(str(cl), "X")


def test_sweep_random_equals_cli(cli, configs, tmp_path):
    """The random sweeper draws the program's trials from the configuration's seed (or seed=)."""
    ov = ["model=ridge", "model.alpha=log_interval(0.01,10)", "figures=false", "seed=7"]
    (tmp_path / "cli").mkdir()
    s = batteryml.sweep(ov, sweeper="random", trials=3, config_dir=configs, sweep_dir=str(tmp_path / "py"),
                        log=False)
    p = subprocess.run([cli, "run", "-m", "--sweeper", "random", "--trials", "3", "--config-dir", configs,
                        "--sweep-dir", "sw", "-q"] + ov, cwd=str(tmp_path / "cli"), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert _read(tmp_path / "py" / "multirun.yaml") == _read(tmp_path / "cli" / "sw" / "multirun.yaml")
    assert list(s.table["model.alpha"]) == list(pd.read_csv(tmp_path / "cli" / "sw" / "sweep.csv")["model.alpha"])
    s2 = batteryml.sweep(ov, sweeper="random", trials=3, seed=8, config_dir=configs, sweep_dir=str(tmp_path / "s8"),
                         log=False)
    assert list(s2.table["model.alpha"]) != list(s.table["model.alpha"])


def test_sweep_claims_its_folder(configs, tmp_path):
    """A folder holding a sweep is never shared: the next sweep given it goes to DIR-1."""
    ov = ["model=ridge,lasso", "figures=false"]
    a = batteryml.sweep(ov, config_dir=configs, sweep_dir=str(tmp_path / "sw"), log=False)
    b = batteryml.sweep(ov, config_dir=configs, sweep_dir=str(tmp_path / "sw"), log=False)
    assert a.dir == str(tmp_path / "sw") and b.dir == str(tmp_path / "sw-1")


@pytest.mark.parametrize("kwargs, message", [
    ({"overrides": ["model=ridge,"]}, "empty"),
    ({"overrides": ["model=ridge,nosuchmodel"]}, "nosuchmodel"),
    ({"overrides": ["model.alpha=interval(0,1)"]}, "interval"),
    ({"overrides": ["model=ridge"], "sweeper": "random"}, "trials"),
    ({"overrides": ["model=ridge"], "sweeper": "bayes"}, "sweeper"),
    ({"overrides": ["model=ridge"], "jobs": 0}, "jobs"),
    ({"overrides": ["model.alpha=range(0,100000)"], "max_jobs": 10}, "10"),
])
def test_sweep_bad_input_runs_nothing(configs, tmp_path, kwargs, message):
    with pytest.raises(Error, match=message):
        batteryml.sweep(config_dir=configs, sweep_dir=str(tmp_path / "sw"), log=False, **kwargs)
    assert not (tmp_path / "sw").exists()


def test_sweep_jobs_on_threads(configs, tmp_path):
    """jobs=2 runs two studies at once (the library is reentrant): the same numbers as one at a time."""
    ov = ["model=ridge,lasso,elastic_net", "figures=false"]
    a = batteryml.sweep(ov, config_dir=configs, sweep_dir=str(tmp_path / "a"), log=False)
    b = batteryml.sweep(ov, jobs=2, config_dir=configs, sweep_dir=str(tmp_path / "b"), log=False)
    pd.testing.assert_frame_equal(a.table.drop(columns=["seconds", "fit_s", "run_dir"]),
                                  b.table.drop(columns=["seconds", "fit_s", "run_dir"]))


_SWEEP_CHILD = r"""
import os, sys, time
import batteryml
try:
    batteryml.sweep(["model=mlp", "training.epochs=10000000,20000000,30000000", "training.patience=0",
                     "figures=false"], config_dir=sys.argv[1], sweep_dir=sys.argv[2],
                    log=lambda line: print("line", line, flush=True))
except KeyboardInterrupt:
    print("interrupted %.3f" % time.monotonic(), flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(3)
"""


def test_ctrl_c_stops_a_sweep(configs, tmp_path):
    """A real SIGINT during a sweep: KeyboardInterrupt within a generous bound; sweep.csv records every job as
    cancelled (the running one stopped through bml_run_opts.cancel, the others never started); no partial run
    folder is left."""
    d = tmp_path / "sw"
    p = subprocess.Popen([sys.executable, "-c", _SWEEP_CHILD, configs, str(d)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_child_env())
    try:
        for line in p.stdout:
            if line.startswith("line sweep: 3 jobs"):
                break
        time.sleep(1.0)  # inside the first job's training
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (rest, err)
    words = rest.split()
    assert "interrupted" in words, (rest, err)
    latency = float(words[words.index("interrupted") + 1]) - sent
    assert latency < 5.0, latency
    assert sorted(os.listdir(d)) == ["multirun.yaml", "sweep.csv"], os.listdir(d)
    t = batteryml.Sweep(str(d)).table
    assert list(t["status"]) == ["cancelled"] * 3
    assert "while the job ran" in t["error"][0] and "before the job started" in t["error"][2]
    print("batteryml.sweep: KeyboardInterrupt %.3f s after SIGINT" % latency)


# ---- lr_find --------------------------------------------------------------------------------------------

def test_lr_find_equals_cli(cli, configs, tmp_path):
    ov = ["model=mlp", "lr_find.num_steps=40", "figures=false"]
    f = batteryml.lr_find(ov, config_dir=configs, out=str(tmp_path / "py"), log=False)
    p = subprocess.run([cli, "lr-find", "--config-dir", configs, "--out", str(tmp_path / "cli"), "-q"] + ov,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert _read(tmp_path / "py" / "lr_find.csv") == _read(tmp_path / "cli" / "lr_find.csv")
    assert _read(tmp_path / "py" / "config.yaml") == _read(tmp_path / "cli" / "config.yaml")
    assert float(p.stdout) == pytest.approx(f.suggestion, rel=1e-5)  # the program prints %g
    curve = pd.read_csv(tmp_path / "cli" / "lr_find.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(f.curve, curve)
    assert f.curve["suggested"].sum() == 1 and f.curve["lr"].is_monotonic_increasing
    assert f.dir == str(tmp_path / "py") and f.figures == []
    g = batteryml.lr_find(ov, config_dir=configs, write=False, log=False)
    assert g.dir is None and g.suggestion == f.suggestion


def test_lr_find_bad_model(configs, tmp_path):
    with pytest.raises(Error, match="ridge|neural|mini-batch|train"):
        batteryml.lr_find(["model=ridge", "output_dir=%s" % tmp_path], config_dir=configs, log=False)
    assert os.listdir(tmp_path) == []


# ---- compare --------------------------------------------------------------------------------------------

def test_compare_runs(cli, configs, tmp_path):
    a = batteryml.run(["model=ridge", "figures=false", "run_name=a", "output_dir=%s" % tmp_path], config_dir=configs,
                      log=False)
    b = batteryml.run(["model=lasso", "split=loco", "figures=false", "run_name=b", "output_dir=%s" % tmp_path],
                      config_dir=configs, log=False)
    df = batteryml.compare([a, b.dir])
    assert list(df["run"]) == ["a", "b"] and list(df["model"]) == ["ridge", "lasso"]
    assert df["rmse"][0] == a.metrics["overall"]["soh"]["rmse"]
    assert np.isnan(df["fold_rmse_mean"][0]) and df["fold_rmse_mean"][1] > 0
    assert all(df[c].dtype == np.float64 for c in ("rmse", "mae", "r2", "fold_rmse_mean"))
    p = subprocess.run([cli, "compare", a.dir, b.dir], capture_output=True, text=True)
    assert df.attrs["text"] == p.stdout
    with pytest.raises(Error, match="metrics.json"):
        batteryml.compare([a.dir, str(tmp_path)])


# ---- cycler files ---------------------------------------------------------------------------------------

def test_read_cycler_equals_beep(source_dir):
    """The Maccor reader against BEEP's own parse of the same file (tests/data/cyclers/reference), row by row;
    the metadata in .attrs; one dtype per column."""
    cyc = os.path.join(source_dir, "tests", "data", "cyclers")
    df = batteryml.read_cycler(os.path.join(cyc, "PredictionDiagnostics_000151_paused.052"))
    ref = pd.read_csv(os.path.join(cyc, "reference", "BEEPDatapath_maccor_paused_memloaded.csv"))
    assert len(df) == len(ref) == df.attrs["n_points"]
    assert list(df.columns) == list(batteryml.cycler.CYCLER_COLUMNS)
    assert [str(t) for t in df.dtypes] == list(batteryml.cycler.CYCLER_COLUMNS.values())
    assert (df["cycle"].to_numpy() == ref["cycle_index"].to_numpy()).all()
    assert (df["step"].to_numpy() == ref["step_index"].to_numpy()).all()
    for ours, theirs in (("test_time_s", "test_time"), ("current_a", "current"), ("voltage_v", "voltage")):
        np.testing.assert_allclose(df[ours], ref[theirs], rtol=1e-7)  # BEEP holds float32
    for ours in ("charge_ah", "discharge_ah", "charge_wh", "discharge_wh"):
        np.testing.assert_allclose(df[ours], ref[ours.replace("_ah", "_capacity").replace("_wh", "_energy")],
                                   atol=1e-12, rtol=0)
    assert df.attrs["format"] == "maccor" and df.attrs["cell"] == "PredictionDiagnostics_000151_paused"
    assert df.attrs["channel"] == "052" and df.attrs["has_cycle_index"] is True
    assert df["line"].is_monotonic_increasing


@pytest.mark.parametrize("name, fmt", [
    ("2017-05-09_test-TC-contact_CH33.csv", "arbin"), ("test_loopsnewoutput_MB_CE1_short10k.csv", "biologic"),
    ("test_Nova_Form-CH01-01_short.csv", "novonix"), ("PredictionDiagnostics_000151_test.052", None),
])
def test_read_cycler_agrees_with_structure(source_dir, tmp_path, name, fmt):
    """Every format: the per-cycle capacities of the series equal the cycles table `structure` writes (the
    same reader underneath), rows equal n_points."""
    path = os.path.join(source_dir, "tests", "data", "cyclers", name)
    df = batteryml.read_cycler(path, format=fmt)
    assert len(df) == df.attrs["n_points"] > 0
    s = batteryml.structure(path, out=str(tmp_path / "out"), log=False)
    cyc = s.cycles.set_index("cycle")
    for c, g in df.groupby("cycle"):
        for col in ("charge_ah", "discharge_ah"):
            top = g[col].max()
            want = cyc.loc[c, col]
            if np.isnan(want):
                assert not top > 1e-9  # no such half: the counter stays at zero (to rounding)
            else:
                assert top == pytest.approx(want, rel=1e-9, abs=1e-12), (c, col)  # the file writes 10 digits


def test_read_cycler_errors(tmp_path, source_dir):
    with pytest.raises(Error, match="nonexistent"):
        batteryml.read_cycler(str(tmp_path / "nonexistent.csv"))
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    with pytest.raises(Error, match="junk.csv"):
        batteryml.read_cycler(str(junk))
    src = os.path.join(source_dir, "tests", "data", "cyclers", "2017-05-09_test-TC-contact_CH33.csv")
    bad = tmp_path / "bad.csv"
    lines = open(src).read().splitlines()
    lines[5] = lines[5].replace(",", ",x", 1)
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(Error, match=r"bad.csv.*6"):  # file and line
        batteryml.read_cycler(str(bad), format="arbin")
    with pytest.raises(Error, match="nosuchformat"):
        batteryml.read_cycler(src, format="nosuchformat")


def test_structure_equals_cli(cli, source_dir, tmp_path):
    """structure(path, out=) writes the program's files byte for byte, all cells; into an existing folder it
    replaces files of the same names and leaves the others; settings are the program's key=value."""
    cyc = os.path.join(source_dir, "tests", "data", "cyclers")
    lines = []
    s = batteryml.structure(cyc, out=str(tmp_path / "py"), log=lines.append, grid=50, v_min=2.8)
    p = subprocess.run([cli, "structure", cyc, "--out", str(tmp_path / "cli"), "grid=50", "v_min=2.8"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    names = sorted(os.listdir(tmp_path / "cli"))
    assert sorted(os.listdir(tmp_path / "py")) == names and len(names) == 2 * len(s.cells) == 10
    for n in names:
        assert _read(tmp_path / "py" / n) == _read(tmp_path / "cli" / n), n
    assert len(lines) == 6 and lines[-1].startswith("5 cell(s) written")
    assert s.n_companions == 4 and len(s.files) == 5
    c = s.cycles
    assert set(c["cell"]) == set(s.cells) and c["cycle"].dtype == np.float64 and c["complete"].dtype == np.int64
    assert c["start_unix"].dtype == np.float64
    assert s.curves["cell"].nunique() == 5
    # into an existing folder: the same names replaced, other files kept
    (tmp_path / "py" / "mine.txt").write_text("keep")
    s2 = batteryml.structure(cyc, out=str(tmp_path / "py"), log=False)
    assert (tmp_path / "py" / "mine.txt").read_text() == "keep"
    assert not [n for n in os.listdir(tmp_path / "py") if n.startswith(".partial")]
    assert s2.curves.groupby("cell").size().iloc[0] != s.curves.groupby("cell").size().iloc[0]  # grid 100 now


def test_structure_all_or_nothing(source_dir, tmp_path):
    """A file that does not read leaves no output and no hidden folder; an unknown key is refused."""
    cyc = os.path.join(source_dir, "tests", "data", "cyclers")
    lab = tmp_path / "lab"
    lab.mkdir()
    for n in ("PredictionDiagnostics_000151_test.052", "test_Nova_Form-CH01-01_short.csv"):
        shutil.copy(os.path.join(cyc, n), lab / n)
    text = open(os.path.join(cyc, "2017-05-09_test-TC-contact_CH33.csv")).read().splitlines()
    (lab / "zz_truncated.csv").write_text("\n".join(text[:50]) + "\n" + text[50][:10])
    with pytest.raises(Error, match="zz_truncated"):
        batteryml.structure(str(lab), out=str(tmp_path / "out"), log=False)
    assert sorted(os.listdir(tmp_path)) == ["lab"]
    with pytest.raises(Error, match="unknown key"):
        batteryml.structure(str(lab), out=str(tmp_path / "out"), log=False, nosuchkey=1)
    with pytest.raises(Error, match="grid"):
        batteryml.structure(str(lab), out=str(tmp_path / "out"), log=False, grid=1)
    # two files of one cell name (a.csv and a.052 both make cell "a")
    dup = tmp_path / "dup"
    dup.mkdir()
    shutil.copy(os.path.join(cyc, "PredictionDiagnostics_000151_test.052"), dup / "a.052")
    shutil.copy(os.path.join(cyc, "test_Nova_Form-CH01-01_short.csv"), dup / "a.csv")
    with pytest.raises(Error, match="one cell name"):
        batteryml.structure(str(dup), out=str(tmp_path / "out"), log=False)
    assert sorted(os.listdir(tmp_path)) == ["dup", "lab"]


def _lines_without_times(lines):
    """structure's log lines without the figures that change from run to run (seconds, MB/s)."""
    return [ln.split(" MB in ")[0] for ln in lines]


def test_structure_jobs_same(cli, source_dir, tmp_path):
    """jobs=2 (files read on two threads) writes the files of jobs=1 byte for byte, the same cells, file reports
    and log lines in file order, and the program's --jobs 2 files; a folder with a file that does not read fails
    as one at a time does, leaving nothing."""
    cyc = os.path.join(source_dir, "tests", "data", "cyclers")
    l1, l2 = [], []
    s1 = batteryml.structure(cyc, out=str(tmp_path / "j1"), log=l1.append, jobs=1)
    s2 = batteryml.structure(cyc, out=str(tmp_path / "j2"), log=l2.append, jobs=2)
    p = subprocess.run([cli, "structure", cyc, "--out", str(tmp_path / "cli"), "--jobs", "2"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    names = sorted(os.listdir(tmp_path / "j1"))
    assert len(names) == 10 and sorted(os.listdir(tmp_path / "j2")) == names == sorted(os.listdir(tmp_path / "cli"))
    for n in names:
        assert _read(tmp_path / "j2" / n) == _read(tmp_path / "j1" / n) == _read(tmp_path / "cli" / n), n
    assert s2.cells == s1.cells and len(s1.cells) == 5 and s2.n_companions == s1.n_companions
    assert [{k: v for k, v in f.items() if k != "seconds"} for f in s2.files] == \
        [{k: v for k, v in f.items() if k != "seconds"} for f in s1.files]
    assert _lines_without_times(l2[:-1]) == _lines_without_times(l1[:-1]) and len(l1) == 6
    assert l2[-1] == l1[-1].replace(str(tmp_path / "j1"), str(tmp_path / "j2"))  # "5 cell(s) written to DIR ..."
    pd.testing.assert_frame_equal(s2.cycles, s1.cycles)
    # a failure in the folder: the same error at jobs=2, nothing left
    lab = tmp_path / "lab"
    lab.mkdir()
    for n in ("PredictionDiagnostics_000151_test.052", "test_Nova_Form-CH01-01_short.csv"):
        shutil.copy(os.path.join(cyc, n), lab / n)
    text = open(os.path.join(cyc, "2017-05-09_test-TC-contact_CH33.csv")).read().splitlines()
    (lab / "zz_truncated.csv").write_text("\n".join(text[:50]) + "\n" + text[50][:10])
    errors = []
    for jobs in (1, 2):
        with pytest.raises(Error, match="zz_truncated") as e:
            batteryml.structure(str(lab), out=str(tmp_path / "bad"), log=False, jobs=jobs)
        errors.append(str(e.value))
    assert errors[0] == errors[1]
    assert not os.path.exists(tmp_path / "bad") and not [n for n in os.listdir(tmp_path) if n.startswith(".partial")]


# a Maccor export whose cycle 1 repeats a discharge pulse (step 2, twice) before its main discharge (step 4):
# the C tests' HPPC-like file (tests/cycler_cli_test.sh, tests/test_maccor_layouts.c)
_HPPC = ("Today's Date 01/02/2020  Date of Test:\t01/01/2020\n"
         "Rec#\tCyc#\tStep\tTest (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\n"
         "1\t1\t1\t0\t0\t0\t1\t3.5\tC\n2\t1\t1\t3600\t1.0\t3.7\t1\t4.1\tC\n"
         "3\t1\t2\t3636\t0.01\t0.037\t1\t3.9\tD\n4\t1\t3\t3736\t0\t0\t0\t4.0\tR\n"
         "5\t1\t2\t3772\t0.01\t0.037\t1\t3.9\tD\n6\t1\t4\t5572\t0.5\t1.85\t1\t3.2\tD\n")


def test_structure_capacity_rule(cli, tmp_path):
    """capacity_rule="largest_step" (BEEP's rule) counts the repeated pulse once: discharge 0.5 Ah, not the sum's
    0.52; its files are the program's capacity_rule=largest_step ones byte for byte; "sum" is the default."""
    lab = tmp_path / "hppc"
    lab.mkdir()
    (lab / "h.001").write_text(_HPPC)
    d = batteryml.structure(str(lab), out=str(tmp_path / "default"), log=False).cycles
    s = batteryml.structure(str(lab), out=str(tmp_path / "sum"), log=False, capacity_rule="sum").cycles
    m = batteryml.structure(str(lab), out=str(tmp_path / "max"), log=False, capacity_rule="largest_step").cycles
    pd.testing.assert_frame_equal(d, s)
    assert s["discharge_ah"].iloc[0] == pytest.approx(0.52) and s["discharge_wh"].iloc[0] == pytest.approx(1.924)
    assert m["discharge_ah"].iloc[0] == pytest.approx(0.5) and m["discharge_wh"].iloc[0] == pytest.approx(1.85)
    assert m["charge_ah"].iloc[0] == pytest.approx(1.0) and m["throughput_ah"].iloc[0] == pytest.approx(1.52)
    p = subprocess.run([cli, "structure", str(lab), "--out", str(tmp_path / "cli"), "capacity_rule=largest_step"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for n in ("h_cycles.csv", "h_curves.csv"):
        assert _read(tmp_path / "max" / n) == _read(tmp_path / "cli" / n), n


_RULE = "capacity_rule must be 'sum' or 'largest_step'"
_JOBS = "jobs must be an integer >= 1"


@pytest.mark.parametrize("kw, what", [
    ({"capacity_rule": "max"}, _RULE), ({"capacity_rule": 1}, _RULE), ({"capacity_rule": None}, _RULE),
    ({"jobs": 0}, _JOBS), ({"jobs": -2}, _JOBS), ({"jobs": 1.5}, _JOBS), ({"jobs": True}, _JOBS), ({"jobs": "2"}, _JOBS),
])
def test_structure_rule_jobs_bad(source_dir, tmp_path, kw, what):
    """A bad capacity_rule or jobs raises a ValueError (batteryml.Error) naming the argument and what it takes;
    nothing written."""
    cyc = os.path.join(source_dir, "tests", "data", "cyclers", "test_Nova_Form-CH01-01_short.csv")
    with pytest.raises(ValueError, match=what) as e:
        batteryml.structure(cyc, out=str(tmp_path / "out"), log=False, **kw)
    assert isinstance(e.value, Error)
    assert os.listdir(tmp_path) == []


_CYCLER_CHILD = r"""
import os, sys, time
import batteryml
what, path, out = sys.argv[1:4]
print("started", flush=True)
try:
    if what == "read":
        batteryml.read_cycler(path)
    else:
        batteryml.structure(path, out=out, log=False)
except KeyboardInterrupt:
    print("interrupted %.3f" % time.monotonic(), flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(3)
"""


def _big_arbin(path, rows):
    """An Arbin export of `rows` rows (one cycle of charge and discharge halves)."""
    t = np.arange(rows, dtype=np.float64)
    cur = np.where((t // 1000) % 2 == 0, 1.0, -1.0)
    with open(path, "w") as f:
        f.write("Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage,Charge_Capacity,Discharge_Capacity,"
                "Charge_Energy,Discharge_Energy\n")
        step = 200000
        for a in range(0, rows, step):
            b = min(rows, a + step)
            k = np.arange(a, b)
            q = np.cumsum(np.ones(b - a)) * 1e-4 + a * 1e-4
            blk = np.column_stack([k, t[a:b], np.ones(b - a), np.ones(b - a), cur[a:b], 3.7 + 0 * q, q, q, q, q])
            np.savetxt(f, blk, fmt=["%d", "%.1f", "%d", "%d", "%.1f", "%.3f", "%.6f", "%.6f", "%.6f", "%.6f"],
                       delimiter=",")


@pytest.mark.parametrize("what", ["read", "structure"])
def test_ctrl_c_stops_cycler_reading(tmp_path, what):
    """A real SIGINT while a large export is read (read_cycler: the row callback returns BML_ERR_CANCELLED) or
    while a folder of exports is summarised (structure: between files): KeyboardInterrupt within a generous
    bound, no output folder and no hidden partial folder left."""
    lab = tmp_path / "lab"
    lab.mkdir()
    big = lab / "big.csv"
    _big_arbin(str(big), 1500000 if what == "read" else 60000)
    if what == "structure":
        for k in range(3000):  # the same file under many names: a long folder at no disk cost
            os.link(big, lab / ("cell%04d.csv" % k))
    p = subprocess.Popen([sys.executable, "-c", _CYCLER_CHILD, what, str(big if what == "read" else lab),
                          str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=_child_env())
    try:
        assert p.stdout.readline().strip() == "started"
        time.sleep(1.5)  # reading
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (rest, err)
    words = rest.split()
    assert words and words[0] == "interrupted", (rest, err)
    latency = float(words[1]) - sent
    assert latency < 5.0, latency
    left = sorted(os.listdir(tmp_path))
    assert left == ["lab"], (left, [os.listdir(tmp_path / d) for d in left if d != "lab"], rest, err)
    print("%s: KeyboardInterrupt %.3f s after SIGINT" % (what, latency))


_STRUCTURE_ONE_CHILD = r"""
import sys, time
import batteryml
try:
    batteryml.structure(sys.argv[1], out=sys.argv[2])  # log: a line per export done
except KeyboardInterrupt:
    print("interrupted %.3f" % time.monotonic(), flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(3)
"""


def test_ctrl_c_stops_structure_inside_one_export(tmp_path):
    """A real SIGINT while structure() reads one large export (one library call): the library's cancel flag
    (bml_cycler_summary_opts.cancel) stops it inside the file, so the export is never reported done; then
    KeyboardInterrupt, and neither the output folder nor a hidden staging folder is left. (Before the flag,
    the export was read to its end, its line printed, and only then did the interrupt stop the work.)"""
    lab = tmp_path / "lab"
    lab.mkdir()
    _big_arbin(str(lab / "big.csv"), 1500000)
    p = subprocess.Popen([sys.executable, "-c", _STRUCTURE_ONE_CHILD, str(lab), str(tmp_path / "out")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env())
    try:
        deadline = time.monotonic() + 60
        inner = []
        while not inner and time.monotonic() < deadline and p.poll() is None:  # the library's own staging folder
            for d in [n for n in os.listdir(tmp_path) if n.startswith(".partial-structure-")]:
                try:
                    inner = [n for n in os.listdir(tmp_path / d) if n.startswith(".partial-structure-")]
                except FileNotFoundError:
                    pass
            time.sleep(0.001)
        assert inner, "the library call never started"
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (rest, err)
    assert "big.csv" not in rest, rest  # the export was stopped before its end
    words = rest.split()
    assert words and words[0] == "interrupted", (rest, err)
    latency = float(words[1]) - sent
    assert latency < 5.0, latency
    left = sorted(os.listdir(tmp_path))
    assert left == ["lab"], (left, [os.listdir(tmp_path / d) for d in left if d != "lab"], rest, err)
    print("structure (one export): KeyboardInterrupt %.3f s after SIGINT" % latency)


@pytest.mark.parametrize("when", ["before", "after"])
def test_ctrl_c_cutting_the_thread_start_short(monkeypatch, when):
    """A Ctrl-C that cuts Thread.start short, before the helper thread came to be or after (Thread.start waits
    for the new thread to say it started; a loaded machine makes that wait long): the work still runs exactly
    once, is waited for, and then KeyboardInterrupt is raised. (Before, the interrupt escaped at once and the
    process could end with the library mid-call: structure() left its hidden folder.)"""
    import threading
    from batteryml import _lib
    real_start = threading.Thread.start
    cut = []

    def start(self):
        if self.name == "batteryml-call" and not cut:
            cut.append(1)
            if when == "after":
                real_start(self)
            raise KeyboardInterrupt
        real_start(self)
    monkeypatch.setattr(threading.Thread, "start", start)
    flag = _lib.ffi.new("int *", 0)
    runs = []

    def fn():
        time.sleep(0.2)  # still running when the interrupt is handled
        runs.append(flag[0])
        return 7
    with pytest.raises(KeyboardInterrupt):
        _lib.run_cancellable(flag, fn)
    assert cut == [1]
    assert runs == [1], runs  # once, with the flag set, and over before the interrupt was raised


@pytest.mark.parametrize("which", ["call_cancellable", "run_cancellable"])
def test_interrupted_wait_outlasts_the_call(which):
    """Ctrl-C while a call runs: the wait goes on until the call has really ended (it was told by Thread.join,
    which CPython 3.11 leaves saying 'ended' once a KeyboardInterrupt cuts it short: the caller then freed
    what the library was still using, and structure() left its hidden folder)."""
    import threading
    from batteryml import _lib
    flag = _lib.ffi.new("int *", 0)
    ended = []

    def fn():
        while not flag[0]:
            time.sleep(0.01)
        time.sleep(0.3)  # the library finishing its mini-batch
        ended.append(1)
        return 0
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        if which == "call_cancellable":
            _lib.call_cancellable(flag, fn)
        else:
            _lib.run_cancellable(flag, fn)
    assert ended == [1]


def test_list_components_equals_the_program(cli):
    """list_components gives what `batteryml list KIND` prints for every kind: every name, parameter, type,
    default and help, from the same tables."""
    for kind in ("models", "pipelines", "splits", "data", "formats", "trackers", "losses", "uncertainty"):
        p = subprocess.run([cli, "list", kind], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        df = batteryml.list_components(kind)
        names = [line.split()[0] for line in p.stdout.splitlines() if line.startswith("  ") and
                 not line.startswith("      ")]
        assert list(dict.fromkeys(df["name"])) == names
        params = [line.split()[:2] for line in p.stdout.splitlines() if line.startswith("      ")]
        rows = df[df["parameter"].notna()]
        assert [[a, b] for a, b in zip(rows["parameter"], rows["type"])] == params
        for line, (_, r) in zip([ln for ln in p.stdout.splitlines() if ln.startswith("      ")], rows.iterrows()):
            assert ("default " + r["default"]) in line and line.rstrip().endswith(r["help"].rstrip())
    all_ = batteryml.list_components()
    assert set(all_["kind"]) == {"model", "pipeline", "split", "data", "format", "tracker", "loss", "uncertainty"}
    with pytest.raises(Error, match="kind must be"):
        batteryml.list_components("widgets")


@pytest.mark.parametrize("jobs", [1, 2])
def test_sweep_log_callback_exception_stops_the_sweep(configs, tmp_path, jobs):
    """An exception in the log callable stops the sweep (no further job starts), sweep.csv is still written (the
    jobs that had not finished: cancelled, saying why) and the exception is raised."""
    def log(line):
        if line.startswith("[1/"):
            raise KeyError("from the callback")
    d = tmp_path / "sw"
    with pytest.raises(KeyError, match="from the callback"):
        batteryml.sweep(["model=ridge", "model.alpha=1,2,3,4,5,6", "figures=false"], jobs=jobs, config_dir=configs,
                        sweep_dir=str(d), log=log)
    t = batteryml.Sweep(str(d)).table
    assert (t["status"] == "ok").sum() >= 1 and (t["status"] == "cancelled").sum() >= 1
    assert all("log callback (KeyError)" in e for e in t["error"][t["status"] == "cancelled"])
    assert not [n for n in os.listdir(d) if n.startswith(".")]


def test_structure_log_callback_exception_stops_it(source_dir, tmp_path):
    """An exception in structure()'s log callable (called after each export, from the library's callback) stops
    the work and is raised; nothing is written (before: cffi printed "Exception ignored" and went on)."""
    cyc = os.path.join(source_dir, "tests", "data", "cyclers")
    seen = []

    def log(line):
        seen.append(line)
        raise KeyError("from the callback")
    with pytest.raises(KeyError, match="from the callback"):
        batteryml.structure(cyc, out=str(tmp_path / "out"), log=log)
    assert len(seen) == 1 and sorted(os.listdir(tmp_path)) == []
