"""batteryml.load_oxford / features / ica_features: against the raw files, the program's `features` table,
the ica_peaks pipeline and scipy's reference values (tests/data/ica/curves.json, tools/gen_scipy_reference.py)."""
import glob
import json
import os
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

import batteryml
from batteryml import Error


@pytest.fixture(scope="module")
def oxford(source_dir):
    return os.path.join(source_dir, "data", "oxford-lgm50t")


def test_load_oxford_against_the_files(oxford):
    df = batteryml.load_oxford(oxford, experiments=5)
    assert list(df.columns[:5]) == ["experiment", "cell", "temperature_c", "source", "line"]
    assert set(df["experiment"]) == {5} and sorted(df["cell"].unique()) == ["40degC"] + list("ABCDEGH")
    assert df["experiment"].dtype == np.int64 and df["line"].dtype == np.int64
    raw = pd.read_csv(os.path.join(oxford, "Expt 5 - cell D (25degC) - Processed Data.csv"))
    d = df[df["cell"] == "D"].reset_index(drop=True)
    assert len(d) == len(raw) and list(d["line"]) == list(range(2, len(raw) + 2))
    assert (d["temperature_c"] == 25).all()
    # capacities in Ah (the file's mA h / 1000), resistance and SoH as written, empty fields NaN
    np.testing.assert_allclose(d["capacity_c10_ah"], raw["C/10 Capacity [mA h]"] / 1000, rtol=1e-15)
    np.testing.assert_array_equal(d["resistance_ohm"], raw["0.1s Resistance [Ohms]"])
    np.testing.assert_array_equal(d["soh"], raw["SoH"])
    np.testing.assert_array_equal(d["days"], raw["Days of degradation"])
    everything = batteryml.load_oxford(oxford)
    assert sorted(everything["experiment"].unique()) == [1, 2, 3, 5] and len(everything) == 431
    two = batteryml.load_oxford(oxford, experiments=[1, 5])
    assert sorted(two["experiment"].unique()) == [1, 5]
    # a relative path of the shipped data is found beside the configs, as the program finds it
    assert len(batteryml.load_oxford("data/oxford-lgm50t", experiments=5)) == len(df)


@pytest.mark.parametrize("args, message", [
    (("/nonexistent/oxford",), "/nonexistent/oxford"),
    (("data/oxford-lgm50t", "5"), "whole number"),
    (("data/oxford-lgm50t", [5.5]), "whole number"),
    (("data/oxford-lgm50t", 2**40), "out of range"),
    ((42,), "must be a string"),
])
def test_load_oxford_bad_input(args, message):
    with pytest.raises(Error, match=message):
        batteryml.load_oxford(*args)


def test_load_oxford_malformed_file(tmp_path):
    bad = tmp_path / "Expt 5 - cell A (10degC) - Processed Data.csv"
    bad.write_text("Ageing Sets,Ageing Cycles\n0,0\n")
    with pytest.raises(Error, match=re.escape(str(bad))):
        batteryml.load_oxford(bad)


def _cli_features(cli, configs, overrides, path):
    p = subprocess.run([cli, "features", "--config-dir", configs, "--out", str(path)] + overrides,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    df = pd.read_csv(path, dtype={"cell": str}, float_precision="round_trip")
    with open(path) as f:  # the names as written (pandas renames a repeated one: a feature named days)
        df.columns = f.readline().rstrip("\n").split(",")
    return df


@pytest.mark.parametrize("overrides", [[], ["data.experiment=[1, 5]"],
                                       ["data=curve_table", "pipeline=ica_peaks", "pipeline.cache=false"],
                                       ["pipeline=latent_ode_seq"]])
def test_features_equal_the_program(cli, configs, tmp_path, overrides):
    df = batteryml.features(overrides, config_dir=configs)
    ref = _cli_features(cli, configs, overrides, tmp_path / "features.csv")
    assert list(df.columns) == list(ref.columns)
    assert list(df.columns[:7]) == batteryml.data.META_COLUMNS
    assert df.attrs["features"] + df.attrs["targets"] == list(df.columns[7:])
    assert df.shape == ref.shape and len(df) > 0
    assert list(df["cell"]) == list(ref["cell"]) and list(df["experiment"]) == list(ref["experiment"])
    # features and targets written with 17 digits: exactly the same doubles; meta rounded to 10 digits
    np.testing.assert_array_equal(df[df.columns[7:]].to_numpy(), ref[ref.columns[7:]].to_numpy())
    for c in ["temperature_c", "set_index", "cycle", "days", "throughput_ah"]:
        np.testing.assert_allclose(df[c].to_numpy(dtype=float), ref[c].to_numpy(dtype=float), rtol=1e-9, equal_nan=True)


def test_features_default_table(configs):
    df = batteryml.features(config_dir=configs)
    assert df.shape == (128, 13)
    assert df.attrs["features"] == ["charge_throughput_ah", "resistance_ohm", "temperature_k", "arrhenius",
                                    "inv_temperature_1000_k"]
    assert df.attrs["targets"] == ["soh"]
    seq = batteryml.features({"pipeline": "latent_ode_seq"}, config_dir=configs)
    assert len(seq) == 128 and seq["cell"].nunique() == 8  # one row per real step of each cell


@pytest.mark.parametrize("overrides, message", [
    (["data.path=/nonexistent/dir"], "/nonexistent/dir"),
    (["pipeline=nosuch"], "nosuch"),
    (["pipeline.window=4", "data=curve_table", "pipeline=ica_peaks", "pipeline.cache=false"], "window"),
])
def test_features_bad_input(configs, overrides, message):
    with pytest.raises(Error, match=message):
        batteryml.features(overrides, config_dir=configs)


def test_ica_features_equal_the_pipeline(configs, source_dir):
    """ica_features on each curve file = the ica_peaks pipeline's row for it."""
    df = batteryml.features(["data=curve_table", "pipeline=ica_peaks", "pipeline.cache=false"], config_dir=configs)
    files = glob.glob(os.path.join(source_dir, "data", "fast-formation-c20", "diagnostic_test_cell_*_cyc_*.csv"))
    assert len(files) == 4
    names = df.attrs["features"]
    for f in files:
        cyc = int(re.search(r"cyc_([0-9]+)", f).group(1))
        raw = pd.read_csv(f, float_precision="round_trip")
        got = batteryml.ica_features(raw["charge_capacity"].to_numpy(), raw["voltage"].to_numpy())
        assert list(got) == names
        row = df[df["set_index"] == cyc]
        assert len(row) == 1
        # the same code on the same points; the loader's number parser and pandas' may differ in the last bit
        np.testing.assert_allclose(np.array([got[n] for n in names]), row[names].to_numpy()[0], rtol=1e-13, atol=0)


def test_ica_features_against_scipy(source_dir):
    with open(os.path.join(source_dir, "tests", "data", "ica", "curves.json")) as f:
        cases = json.load(f)
    assert len(cases) == 5
    for c in cases:
        got = batteryml.ica_features(c["q"], c["v"], curve=True)
        feats = np.array([v for k, v in got.items() if k not in ("v_mid", "dqdv")])
        ref = np.array([np.nan if x is None else x for x in c["features"]], dtype=float)
        np.testing.assert_allclose(feats, ref, rtol=1e-7, atol=1e-9, err_msg=c["name"])
        assert got["dqdv"].shape == (499,) and got["v_mid"].shape == (499,)
        np.testing.assert_allclose(got["dqdv"], c["ds"], rtol=1e-7, atol=1e-9, err_msg=c["name"])


def test_ica_features_params_and_inputs():
    v = np.linspace(4.2, 3.0, 800)  # a discharge
    q = 5 * (1 - (v - 3.0) / 1.2) + 0.2 * np.tanh((v - 3.6) / 0.02)
    base = batteryml.ica_features(q, v)
    assert base["n_peaks"] >= 1 and len(base) == 15
    # any order, lists, float32 and ints give the same numbers
    perm = np.random.default_rng(0).permutation(len(v))
    values = np.array(list(base.values()))
    np.testing.assert_array_equal(np.array(list(batteryml.ica_features(q[perm], v[perm]).values())), values)
    np.testing.assert_array_equal(np.array(list(batteryml.ica_features(list(q), list(v)).values())), values)
    # parameters named as the pipeline's
    six = batteryml.ica_features(q, v, num_peaks=6, window=21, order=2, resample=300)
    assert len(six) == 4 * 6 + 3 and "peak6_area_ah" in six
    with_curve = batteryml.ica_features(q, v, curve=True, resample=300)
    assert with_curve["dqdv"].shape == (299,)


@pytest.mark.parametrize("q, v, params, message", [
    (np.zeros(10), np.zeros(9), {}, "differ in length"),
    (np.zeros((10, 2)), np.zeros((10, 2)), {}, "1-D"),
    (np.array(["a"] * 10), np.zeros(10), {}, "dtype"),
    ([[1, 2], [3]], np.zeros(2), {}, "q"),
    (np.zeros(10), np.zeros(10) + 3.5, {}, "spans no voltage range"),
    (np.arange(600.0), 3.0 + np.arange(600) * 0.002, {"window": 50}, "window must be odd"),
    (np.arange(600.0), 3.0 + np.arange(600) * 0.002, {"order": 60}, "order"),
    (np.arange(600.0), 3.0 + np.arange(600) * 0.002, {"window": 51.5}, "whole number"),
    (np.arange(600.0), 3.0 + np.arange(600) * 0.002, {"v_min": "3"}, "must be a number"),
    (np.arange(600.0), 3.0 + np.arange(600) * 0.002, {"v_min": 5.0}, "v_min"),
    (np.arange(600.0), 3.0 + np.arange(600) * 0.002, {"windw": 51}, "unknown parameter 'windw'"),
    (np.arange(600.0), 3.0 + np.arange(600) * 0.002, {"num_peaks": float("nan")}, "whole number"),
    (np.arange(2.0), np.array([1.0, 2.0]), {}, "fewer than 2 points"),
])
def test_ica_features_bad_input(q, v, params, message):
    with pytest.raises(Error, match=message):
        batteryml.ica_features(q, v, **params)
