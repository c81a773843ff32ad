"""batteryml.run / load_run / Run against the program: the same configuration and seed give the same files,
byte for byte; predict equals `batteryml predict`; bad input raises batteryml.Error."""
import io
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

import batteryml
from batteryml import Error

STUDIES = {
    "lgbm": ["figures=false"],
    "mlp": ["model=mlp", "split=loco", "training.epochs=4", "figures=false"],
}
SAME_FILES = ["metrics.json", "predictions.csv", "shap.csv", "importance.csv", "step_metrics.csv"]


def _files(d):
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            out[os.path.relpath(p, d)] = p
    return out


def _read(p):
    with open(p, "rb") as f:
        return f.read()


@pytest.fixture(scope="module", params=sorted(STUDIES))
def pair(request, tmp_path_factory, cli, configs):
    """(Python run, the program's run folder) of one study."""
    name = request.param
    tmp = tmp_path_factory.mktemp("run_" + name)
    ov = STUDIES[name] + ["run_name=" + name]
    lines = []
    r = batteryml.run(ov + ["output_dir=%s" % (tmp / "py")], config_dir=configs, log=lines.append)
    p = subprocess.run([cli, "run", "--config-dir", configs] + ov + ["output_dir=%s" % (tmp / "cli")], cwd=str(tmp),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    r.test_lines = lines
    return name, r, str(tmp / "cli" / name)


def test_python_run_equals_cli(pair):
    name, r, cli_dir = pair
    assert r.dir.endswith(os.path.join("py", name))
    py, cl = _files(r.dir), _files(cli_dir)
    assert sorted(py) == sorted(cl)  # the same files, models included
    compared = 0
    for rel in sorted(py):
        a, b = _read(py[rel]), _read(cl[rel])
        if rel == "config.yaml":  # only output_dir differs
            a = b"\n".join(ln for ln in a.split(b"\n") if not ln.startswith(b"output_dir:"))
            b = b"\n".join(ln for ln in b.split(b"\n") if not ln.startswith(b"output_dir:"))
        assert a == b, "%s differs between batteryml.run and the program" % rel
        compared += 1
    assert "metrics.json" in py and "predictions.csv" in py and compared >= 4
    if name == "lgbm":
        assert "shap.csv" in py and "importance.csv" in py
    else:
        assert "step_metrics.csv" in py


def test_run_frames(pair):
    name, r, cli_dir = pair
    with open(os.path.join(cli_dir, "metrics.json")) as f:
        assert r.metrics == json.load(f)
    m = r.metrics["overall"]["soh"]
    assert m["n"] == len(r.predictions) and np.isfinite(m["rmse"])
    pred = r.predictions
    assert list(pred.columns[:2]) == ["fold", "split"] and "pred_soh" in pred and "true_soh" in pred
    # the metrics are those of the predictions (to the 9 digits predictions.csv keeps)
    err = pred["pred_soh"] - pred["true_soh"]
    assert np.sqrt(np.mean(err ** 2)) == pytest.approx(m["rmse"], rel=1e-6)
    assert pred["cell"].dtype == object
    assert r.config["seed"] == "42" and r.config["model.name"] == name
    assert r.figures == []  # figures=false
    lines = r.test_lines
    assert lines[0].startswith("[1/7] load") and any(ln.startswith("[7/7] track") for ln in lines)
    if name == "lgbm":
        assert r.shap is not None and len(r.shap) == len(pred)
        assert set(r.importance["feature"]) == set(r.metrics["study"]["features"])
        assert r.history is None
    else:
        h = r.history
        assert r.shap is None and r.importance is None
        assert list(h.columns) == ["fold", "epoch", "train_loss", "val_loss", "lr"]
        assert h["fold"].nunique() == 8 and h["epoch"].max() == 4


def test_load_run(pair):
    name, r, cli_dir = pair
    for d in (r.dir, cli_dir):
        s = batteryml.load_run(d)
        assert s.metrics == r.metrics
        pd.testing.assert_frame_equal(s.predictions, r.predictions)
        assert (s.shap is None) == (r.shap is None) and (s.history is None) == (r.history is None)
    assert repr(batteryml.load_run(r.dir)).startswith("Run(")


def test_predict_equals_cli(pair, cli, source_dir, tmp_path):
    name, r, cli_dir = pair
    data = os.path.join(source_dir, "data", "oxford-lgm50t")
    fold = [] if name == "lgbm" else ["--fold", "E5-A"]
    out = tmp_path / "cli.csv"
    p = subprocess.run([cli, "predict", "--run", cli_dir, "--data", data, "--out", str(out)] + fold,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    kept = tmp_path / "py.csv"
    df = batteryml.load_run(r.dir).predict(data, fold=fold[1] if fold else None, out=kept)
    assert _read(kept) == _read(out)  # the same file, byte for byte
    assert len(df) == 431 and "pred_soh" in df  # every experiment's rows
    m = df.attrs["metrics"]["soh"]
    assert m["n"] == 431
    assert np.sqrt(np.mean((df["pred_soh"] - df["true_soh"]) ** 2)) == pytest.approx(m["rmse"], rel=1e-6)
    # a plain call (the frame from the library's memory, no file): what pandas reads from the program's file
    before = set(os.listdir(tmp_path))
    mem = r.predict(data, fold=fold[1] if fold else None)
    _assert_frame_is_csv(mem, out)
    assert mem.attrs["metrics"] == df.attrs["metrics"]
    assert set(os.listdir(tmp_path)) == before


def _csv_frame(path):
    """the program's file as pandas reads it, the numeric columns in the package's dtypes (batteryml._dtypes)"""
    from batteryml._dtypes import normalize
    return normalize(pd.read_csv(path, dtype={"cell": str}, float_precision="round_trip", keep_default_na=False,
                                 na_values=[""]))


def _assert_frame_is_csv(df, path):
    """df is pandas.read_csv(path, float_precision="round_trip") exactly, in the package's dtypes: columns,
    dtypes, every value to the bit (NaN where the file has an empty field)."""
    ref = _csv_frame(path)
    assert list(df.columns) == list(ref.columns)
    assert df.dtypes.to_dict() == ref.dtypes.to_dict()
    pd.testing.assert_frame_equal(df, ref, check_exact=True)
    for c in df.columns:
        a, b = df[c].to_numpy(), ref[c].to_numpy()
        if a.dtype == np.float64:
            assert np.array_equal(np.isnan(a), np.isnan(b)), c
            ok = ~np.isnan(a)
            assert np.array_equal(a[ok].view(np.int64), b[ok].view(np.int64)), c  # -0.0 too
        else:
            assert [type(v) for v in a] == [type(v) for v in b], c


# a table data set with a LOCO fold, a sequence model (one row per real step), and a run with CV+ intervals (the
# frame carries lower_/upper_ as the file does)
PREDICT_STUDIES = {
    "intervals": (["model=ridge", "uncertainty=cv_plus", "uncertainty.groups=3", "explain.enabled=false"],
                  os.path.join("data", "oxford-lgm50t"), None),
    "table_loco": (["data=table", "pipeline=table", "split=loco", "model=mlp", "training.epochs=2"],
                   os.path.join("tests", "data", "table_small.csv"), "E5-A"),
    "sequence": (["model=lstm_attn", "pipeline=latent_ode_seq", "training.epochs=2"], os.path.join("data", "oxford-lgm50t"),
                 None),
}


@pytest.mark.parametrize("name", sorted(PREDICT_STUDIES))
def test_predict_frame_is_cli_file(name, cli, configs, source_dir, tmp_path):
    ov, data, fold = PREDICT_STUDIES[name]
    data = os.path.join(source_dir, data)
    r = batteryml.run(ov + ["figures=false", "run_name=" + name, "output_dir=%s" % tmp_path], config_dir=configs, quiet=True)
    out = tmp_path / "cli.csv"
    p = subprocess.run([cli, "predict", "--run", r.dir, "--data", data, "--out", str(out)] + (["--fold", fold] if fold else []),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    df = r.predict(data, fold=fold)
    _assert_frame_is_csv(df, out)
    n_rows = len(_csv_frame(out))
    assert len(df) == n_rows > 100 and df.attrs["metrics"] is not None
    if name == "sequence":  # the steps of several cells
        assert df["cell"].nunique() > 1 and df["set_index"].max() > 0
    if name == "intervals":
        assert list(df.columns[-3:]) == ["pred_soh", "lower_soh", "upper_soh"]
        assert (df["lower_soh"] <= df["upper_soh"]).all()
    kept = tmp_path / "py.csv"
    pd.testing.assert_frame_equal(r.predict(data, fold=fold, out=kept), df, check_exact=True)
    assert _read(kept) == _read(out)


def _severson(source_dir):
    for d in (os.path.join(source_dir, "..", "shared", "data", "severson2019"), "/work/shared/data/severson2019"):
        if os.path.isfile(os.path.join(d, "cells.csv")):
            return d
    pytest.skip("the Severson et al. 2019 Qdlin data are not present (../shared/data/severson2019)")


def test_predict_cycle_life_frame_is_cli_file(cli, configs, source_dir, tmp_path):
    """a cycle-life run: one row per cell, the life in cycles, the frame the program's file (a folder of new cells
    without an index)"""
    import shutil
    s = _severson(source_dir)
    r = batteryml.run(["data=qdlin", "data.path=" + s, "pipeline=delta_q", "split=predefined", "model=ols",
                       "uncertainty=jackknife_plus", "figures=false", "run_name=cl", "output_dir=%s" % tmp_path],
                      config_dir=configs, quiet=True)
    new = tmp_path / "new"
    new.mkdir()
    for c in ("cell1.csv", "cell2.csv"):
        shutil.copy(os.path.join(s, "test1", c), str(new / c))
    out = tmp_path / "cli.csv"
    p = subprocess.run([cli, "predict", "--run", r.dir, "--data", str(new), "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    df = r.predict(str(new))
    _assert_frame_is_csv(df, out)
    assert list(df.columns[:6]) == ["file", "cell", "true_cycle_life", "pred_cycle_life", "lower_cycle_life", "upper_cycle_life"]
    assert list(df["file"]) == ["cell1.csv", "cell2.csv"] and df["true_cycle_life"].isna().all()
    assert np.allclose(df["pred_cycle_life"], 10 ** df["pred_log10_cycle_life"], rtol=1e-12, atol=0)
    assert (df["lower_cycle_life"] <= df["pred_cycle_life"]).all() and (df["pred_cycle_life"] <= df["upper_cycle_life"]).all()
    assert df.attrs["metrics"] is None


def _arbin_cell(path, n_cycles, c0, fade, bend):
    """An Arbin CSV export with a linear capacity fade (as tests/test_cycler_life.c writes them): per cycle a charge,
    a rest, a 61-row discharge from 3.5 V, a rest."""
    rows, dp, t = [], 1, 0.0
    for c in range(1, n_cycles + 1):
        cap, qc = c0 * (1.0 - fade * (c - 1)), 0.0
        for k in range(5):
            if k:
                qc += cap / 4
            rows.append("%d,%.1f,1,%d,%r,%r,%r,0" % (dp, t, c, cap * 3600 / 40, 3.0 + 0.15 * k, qc))
            dp, t = dp + 1, t + 10
        rows.append("%d,%.1f,2,%d,0,3.6,%r,0" % (dp, t, c, qc))
        dp, t = dp + 1, t + 10
        q = 0.0
        for k in range(61):
            q, x = cap * k / 60, k / 60
            rows.append("%d,%.1f,3,%d,%r,%r,%r,%r" % (dp, t, c, -cap * 3600 / 600.0, 3.5 - 0.9 * x - 0.65 * x ** bend, qc, q))
            dp, t = dp + 1, t + 10
        rows.append("%d,%.1f,4,%d,0,2.1,%r,%r" % (dp, t, c, qc, q))
        dp, t = dp + 1, t + 10
    with open(path, "w") as f:
        f.write("Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),Charge_Capacity(Ah),"
                "Discharge_Capacity(Ah)\n" + "\n".join(rows) + "\n")


def test_cycle_life_from_raw_cycler_files(cli, configs, tmp_path):
    """data=cycler_life from Python: a study on raw Arbin exports (the lives from their fade, a censored cell
    predicted and left out of the metrics), and predict on a folder of new raw files gives the program's file"""
    lab, new = tmp_path / "lab", tmp_path / "new"
    lab.mkdir()
    new.mkdir()
    for name, c0, fade, bend in (("c1", 1.1, 0.002, 4.0), ("c2", 1.05, 0.003, 6.0), ("c3", 1.07, 0.0025, 5.0),
                                 ("c4", 1.09, 0.0022, 4.5), ("c5", 1.08, 0.0005, 5.0)):
        _arbin_cell(str(lab / (name + ".csv")), 110, c0, fade, bend)
    _arbin_cell(str(new / "n1.csv"), 110, 1.06, 0.0028, 5.5)
    (tmp_path / "cells.csv").write_text("cell,split\nc1,train\nc2,train\nc3,train\nc4,test\nc5,test\n")
    lines = []
    r = batteryml.run(["data=cycler_life", "data.path=%s" % lab, "data.index=%s" % (tmp_path / "cells.csv"),
                       "data.points=100", "pipeline=delta_q", "split=predefined", "model=ols", "figures=false",
                       "run_name=raw", "output_dir=%s" % tmp_path], config_dir=configs, log=lines.append)
    text = "\n".join(lines)
    assert "1 cell(s) censored" in text and "c5 (lowest" in text
    preds = r.predictions
    assert set(preds["cell"]) == {"c4", "c5"}
    assert preds.loc[preds["cell"] == "c5", "true_log10_cycle_life"].isna().all()
    fold = r.metrics["folds"][0]
    assert fold["name"] == "test" and fold["metrics"]["log10_cycle_life"]["n"] == 1  # c5 censored: predicted, not scored
    out = tmp_path / "cli.csv"
    p = subprocess.run([cli, "predict", "--run", r.dir, "--data", str(new), "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    df = r.predict(str(new))
    _assert_frame_is_csv(df, out)
    assert list(df.columns[:4]) == ["file", "cell", "true_cycle_life", "pred_cycle_life"]
    assert len(df) == 1 and np.isfinite(df["pred_cycle_life"]).all()
    # the new cell is in no index: its life from its own capacity, 80 % of its first 5 cycles' mean
    cap = [1.06 * (1.0 - 0.0028 * (c - 1)) for c in range(1, 111)]
    life = next(c for c in range(1, 110) if cap[c - 1] <= 0.8 * sum(cap[:5]) / 5)
    assert list(df["file"]) == ["n1.csv"] and list(df["cell"]) == ["n1"] and df["true_cycle_life"].iloc[0] == life
    assert abs(df["pred_cycle_life"].iloc[0] - life) < 0.05 * life  # the fade feature predicts these cells closely


def test_predict_rows_numbers(pair, source_dir):
    """What the frame holds of the predictions: each model output itself, as a double (float32 outputs of lgbm,
    double outputs of the MLP), because the file writes every number so that it reads back exactly."""
    from batteryml._lib import ffi, lib
    name, r, _ = pair
    fold = None if name == "lgbm" else "E5-A"
    data = os.path.join(source_dir, "data", "oxford-lgm50t")
    rows, pred, metrics = ffi.new("bml_samples **"), ffi.new("double **"), ffi.new("char **")
    st = lib.bml_run_predict_rows(r.dir.encode(), data.encode(), fold.encode() if fold else ffi.NULL, ffi.NULL, rows, pred,
                                  metrics)
    assert st == 0
    try:
        n, O = rows[0].n, rows[0].n_targets
        raw = np.frombuffer(ffi.buffer(pred[0], n * O * 8), dtype=np.float64).copy()
        y = np.frombuffer(ffi.buffer(rows[0].y, n * O * 8), dtype=np.float64).copy()
    finally:
        lib.bml_samples_free(rows[0])
        lib.bml_free(pred[0])
        lib.bml_free(metrics[0])
    df = r.predict(data, fold=fold)
    assert n == len(df) and O == 1
    got = df["pred_soh"].to_numpy()
    assert np.array_equal(got, raw)
    if name == "lgbm":  # float32 outputs
        assert np.array_equal(raw.astype(np.float32).astype(np.float64), raw)
    else:  # the MLP's outputs are doubles, not float32: 9 digits would not keep them
        assert not np.array_equal(raw.astype(np.float32).astype(np.float64), raw)
    assert np.array_equal(df["true_soh"].to_numpy(), y)  # the targets themselves


def test_progress_and_log(configs, tmp_path):
    """The training progress: a callable gets every epoch; verbose prints a line per epoch; a terminal gets one
    self-overwriting line (stderr); a notebook one updating output."""
    seen, lines = [], []
    batteryml.run(["model=mlp", "training.epochs=3", "figures=false", "output_dir=%s" % tmp_path],
                  config_dir=configs, log=lines.append, progress=lambda *a: seen.append(a))
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)] and all(np.isfinite(s[2]) for s in seen)
    assert len(lines) >= 8 and lines[-1].startswith("done in")

    from batteryml.run import _Reporter
    out, err = io.StringIO(), io.StringIO()
    rep = _Reporter(verbose=True, out=out, err=err)
    rep._on_log(None, batteryml._lib.ffi.new("char[]", b"[4/7] train"))
    rep._on_epoch(None, 1, 2, 0.5, 0.25)
    rep.finish()
    assert out.getvalue() == "[4/7] train\n      epoch 1/2  train loss 0.5  val loss 0.25\n" and err.getvalue() == ""

    out, err = io.StringIO(), io.StringIO()
    rep = _Reporter(progress=True, out=out, err=err)
    assert rep.mode == "terminal"
    rep._on_epoch(None, 1, 2, 0.5, 0.25)
    rep._on_epoch(None, 2, 2, 0.4, 0.2)
    rep._on_log(None, batteryml._lib.ffi.new("char[]", b"[5/7] evaluate"))
    rep.finish()
    assert err.getvalue() == ("\r\033[K      epoch 1/2  train loss 0.5  val loss 0.25"
                              "\r\033[K      epoch 2/2  train loss 0.4  val loss 0.2\r\033[K")
    assert out.getvalue() == "[5/7] evaluate\n"

    shown = []

    class Handle:
        def update(self, obj):
            shown[-1].append(str(getattr(obj, "data", obj)))

    def display(obj, display_id=False):
        assert display_id
        shown.append([str(getattr(obj, "data", obj))])
        return Handle()

    rep = _Reporter(display=display, out=io.StringIO(), err=io.StringIO())
    assert rep.mode == "notebook"
    for e in (1, 2, 3):
        rep._on_epoch(None, e, 3, 1.0 / e, 2.0 / e)
    rep._on_log(None, batteryml._lib.ffi.new("char[]", b"      fold E5-A"))
    rep._on_epoch(None, 1, 3, 1.0, 2.0)
    rep.finish()
    assert len(shown) == 2 and len(shown[0]) == 3  # one updating output per fold
    assert shown[0][-1] == "      epoch 3/3  train loss 0.333333  val loss 0.666667"

    # quiet: nothing printed; progress=False: no progress
    assert _Reporter(quiet=True).mode is None and _Reporter(progress=False).mode is None


def test_callback_exception_raised_after_the_call(configs, tmp_path):
    def bad(line):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        batteryml.run(["figures=false", "output_dir=%s" % tmp_path], config_dir=configs, log=bad)
    assert os.listdir(tmp_path) == []  # the exception cancelled the study: nothing written


_RUN_CHILD = r"""
import os, sys, time
import batteryml
out = sys.argv[2]
try:
    batteryml.run(["model=mlp", "training.epochs=10000000", "training.patience=0", "figures=false",
                   "output_dir=" + out], config_dir=sys.argv[1],
                  log=lambda line: print("line", line, flush=True), progress=False)
except KeyboardInterrupt:
    print("interrupted %.3f" % time.monotonic(), flush=True)
    sys.exit(0)
print("finished", flush=True)
sys.exit(3)
"""


def test_ctrl_c_stops_a_study(configs, tmp_path):
    """A real SIGINT to a child interpreter inside batteryml.run: KeyboardInterrupt within a generous bound,
    the study stopped through bml_run_opts.cancel, nothing written."""
    import signal
    import time
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(batteryml.__file__)))]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    out = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-c", _RUN_CHILD, configs, str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in p.stdout:
            if line.startswith("line [4/7]"):
                break
        time.sleep(0.5)  # training
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        rest, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (rest, err)
    last = rest.split()
    assert "interrupted" in last, (rest, err)
    latency = float(last[last.index("interrupted") + 1]) - sent
    assert latency < 5.0, latency
    assert not out.exists() or [f for f in os.listdir(out)] == [], os.listdir(out)
    print("batteryml.run: KeyboardInterrupt %.3f s after SIGINT" % latency)


def test_gil_released_during_the_study(configs, tmp_path):
    """cffi releases the GIL around each C call (ABI mode too): another Python thread runs while a study
    trains. Were the GIL held, the counter below could not move between the study's first and last line."""
    marks, count, done = [], [0], threading.Event()

    def log(line):
        marks.append(count[0])

    def study():
        try:
            batteryml.run(["model=mlp", "training.epochs=20", "figures=false", "output_dir=%s" % tmp_path],
                          config_dir=configs, log=log, progress=False)
        finally:
            done.set()

    t = threading.Thread(target=study)
    t.start()
    while not done.is_set():
        count[0] += 1
    t.join()
    assert len(marks) >= 8 and marks[-1] > marks[0]


def test_config_dir_resolution(configs, monkeypatch, tmp_path):
    assert batteryml.config_dir(configs) == configs
    monkeypatch.setenv("BATTERYML_CONFIG_DIR", configs)
    assert batteryml.config_dir() == configs
    monkeypatch.delenv("BATTERYML_CONFIG_DIR")
    monkeypatch.chdir(tmp_path)  # no ./configs: the library's install, else the source tree
    assert os.path.samefile(batteryml.config_dir(), configs)
    with pytest.raises(Error, match="no such folder"):
        batteryml.config_dir(str(tmp_path / "none"))


@pytest.mark.parametrize("overrides, message", [
    (["data.path=/nonexistent/oxford"], "/nonexistent/oxford"),
    (["model=nosuchmodel"], "nosuchmodel"),
    (["model.nosuchkey=1"], "nosuchkey"),
    (["seed"], "seed"),
    (["seed=-1"], "seed"),
    ([42], "not a string"),
    ("model=mlp\0x", "NUL"),
    (5, "overrides must be"),
])
def test_bad_input_raises_error(configs, tmp_path, overrides, message):
    with pytest.raises(Error, match=message.replace(".", r"\.")) as e:
        ov = overrides + ["figures=false", "output_dir=%s" % tmp_path] if isinstance(overrides, list) else overrides
        batteryml.run(ov, config_dir=configs, quiet=True)
    assert isinstance(e.value, ValueError) and e.value.status.startswith("BML_ERR")
    assert not os.path.exists(tmp_path) or os.listdir(tmp_path) == []  # nothing half-written


def test_bad_run_folders(tmp_path, source_dir):
    with pytest.raises(Error, match="no such run folder"):
        batteryml.load_run(tmp_path / "missing")
    with pytest.raises(Error, match="no metrics.json"):
        batteryml.load_run(tmp_path)
    (tmp_path / "metrics.json").write_text("{}")
    r = batteryml.load_run(tmp_path)
    with pytest.raises(Error, match="predictions.csv: missing"):
        r.predictions
    (tmp_path / "predictions.csv").write_bytes(b"fold,cell,true_soh\nholdout,A,1,2,3\n\xff\xfe")
    with pytest.raises(Error, match="predictions.csv"):
        r.predictions
    (tmp_path / "shap.csv").write_text('fold,"unterminated\n1,2\n')
    with pytest.raises(Error, match="shap.csv"):
        r.shap
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(Error, match="metrics.json"):
        batteryml.load_run(tmp_path).metrics
    with pytest.raises(Error, match="config.yaml"):
        batteryml.load_run(tmp_path).config
    with pytest.raises(Error):
        r.predict(os.path.join(source_dir, "data", "oxford-lgm50t"))


def test_predict_bad_data(pair, tmp_path, source_dir):
    name, r, _ = pair
    fold = None if name == "lgbm" else "E5-A"
    with pytest.raises(Error, match="nothing-here"):
        r.predict(tmp_path / "nothing-here", fold=fold)
    bad = tmp_path / "Expt 5 - cell A (10degC) - Processed Data.csv"
    bad.write_text("not,a,summary\n1,2\n")
    with pytest.raises(Error, match="Processed Data.csv"):
        r.predict(bad, fold=fold)
    if fold:
        good = os.path.join(source_dir, "data", "oxford-lgm50t")
        with pytest.raises(Error, match="no-such-fold"):
            r.predict(good, fold="no-such-fold")
        with pytest.raises(Error, match="one model per fold"):
            r.predict(good)


def test_cdef_up_to_date(source_dir):
    """python/batteryml/_cdef.h declares what include/batteryml/*.h declares (tools/gen_cdef.py)."""
    import shutil
    if not shutil.which("cc"):
        pytest.skip("no C compiler to preprocess the headers")
    p = subprocess.run([sys.executable, os.path.join(source_dir, "tools", "gen_cdef.py"), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_import_is_light_and_complete():
    """`import batteryml` leaves scikit-learn unimported (the estimators load on first use), and every name of
    the package's interface is there."""
    code = ("import sys, batteryml; assert 'sklearn' not in sys.modules, 'sklearn imported'; "
            "from batteryml import *; "
            "g = globals(); missing = [n for n in batteryml.__all__ if n not in g]; assert not missing, missing; "
            "assert issubclass(batteryml.Error, ValueError) and batteryml.Error.__module__ == 'batteryml'")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr


def test_one_dtype_per_column_name(configs, source_dir, tmp_path):
    """issue 23: one dtype per column name across the frames the package returns (batteryml._dtypes: int64 for
    the library's integer indices and counts, float64 for every other number). Before, a column's dtype
    followed its values: temperature_c, cycle and days were int64 in the predictions and shap frames of a run
    whose values happen to be integral, float64 in the feature table; cycle int64 in the cycler frames."""
    from batteryml._dtypes import INT64_COLUMNS
    r = batteryml.run(["figures=false", "output_dir=" + str(tmp_path / "runs")], config_dir=configs, log=False,
                      quiet=True)
    data = os.path.join(source_dir, "data", "oxford-lgm50t")
    cyc = os.path.join(source_dir, "tests", "data", "cyclers")
    st = batteryml.structure(cyc, out=str(tmp_path / "st"), log=False)
    frames = {"predictions": r.predictions, "shap": r.shap, "importance": r.importance, "predict": r.predict(data),
              "metrics_frame": r.metrics_frame(), "compare": batteryml.compare([r]),
              "features": batteryml.features(["figures=false"], config_dir=configs),
              "load_oxford": batteryml.load_oxford(data), "structure.cycles": st.cycles, "structure.curves": st.curves,
              "read_cycler": batteryml.read_cycler(os.path.join(cyc, "test_Nova_Form-CH01-01_short.csv"))}
    seen = {}
    for what, df in frames.items():
        for c in df.columns:
            seen.setdefault(c, set()).add((str(df[c].dtype), what))
    mixed = {c: sorted(v) for c, v in seen.items() if len({d for d, _ in v}) > 1}
    assert not mixed, mixed
    for c, v in seen.items():
        d = next(iter(v))[0]
        if d != "object":
            assert d == ("int64" if c in INT64_COLUMNS else "float64"), (c, sorted(v))
    for c in ("cycle", "days", "temperature_c", "true_soh", "pred_soh"):
        assert {d for d, _ in seen[c]} == {"float64"}, c
    assert {d for d, _ in seen["experiment"]} == {"int64"}
