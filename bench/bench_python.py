#!/usr/bin/python3
"""The Python package's overhead over the program, printed as JSON lines:

- study: the default study (`batteryml run`, figures included) through batteryml.run in this process vs the
  program in a subprocess, and vs a fresh interpreter that imports the package and runs it (what a script
  costs: interpreter start and imports included);
- predict: a saved run predicting 10,000 rows of a table through Run.predict vs `batteryml predict`.

Each case runs `--reps` times alternating (median reported); overhead_pct = (python / program - 1) * 100.
OMP_WAIT_POLICY=PASSIVE unless set; each line records the load average.

    BATTERYML_LIBRARY=build/libbatteryml.so.0 PYTHONPATH=python /usr/bin/python3 bench/bench_python.py [--reps 7]
        [--case all|study|predict]
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# OpenMP threads (XGBoost's) that spin while waiting make timings on a shared machine noise: passive waiting, for
# the program and this process alike (set before the library loads; the environment's value wins)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
if not os.environ.get("BATTERYML_LIBRARY") and os.path.exists(os.path.join(SOURCE, "build", "libbatteryml.so.0")):
    os.environ["BATTERYML_LIBRARY"] = os.path.join(SOURCE, "build", "libbatteryml.so.0")
sys.path.insert(0, os.path.join(SOURCE, "python"))
import batteryml  # noqa: E402
from batteryml._lib import library_path  # noqa: E402

CONFIGS = os.path.join(SOURCE, "configs")


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_cli(cli, args):
    p = subprocess.run([cli] + args, capture_output=True, text=True)
    if p.returncode:
        sys.exit("batteryml %s failed: %s" % (" ".join(args), p.stderr))


def table_10k(path):
    """10,000 rows of tests/data/table_small.csv's columns: its 128 rows repeated under new cell ids."""
    with open(os.path.join(SOURCE, "tests", "data", "table_small.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    cell = header.index("cell")
    out = []
    k = 0
    while len(out) < 10000:
        for r in body:
            r = list(r)
            r[cell] = "%s%d" % (r[cell], k)
            out.append(r)
        k += 1
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(out[:10000])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--case", choices=["all", "study", "predict"], default="all", help="the cases to time")
    ap.add_argument("--cli", default=os.path.join(os.path.dirname(os.path.abspath(library_path)), "batteryml"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bml-bench-python-")
    os.chdir(tmp)

    if a.case in ("all", "study"):
        study(a, tmp)
    if a.case in ("all", "predict"):
        predict(a, tmp)
    subprocess.run(["rm", "-rf", tmp])


def study(a, tmp):
    """The default study."""
    py, cli, script = [], [], []
    code = ("import batteryml; batteryml.run(['output_dir=%s/s'], config_dir=%r, quiet=True)" % (tmp, CONFIGS))
    env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE, "python"))
    for i in range(a.reps):
        py.append(timed(lambda: batteryml.run(["output_dir=%s/py" % tmp], config_dir=CONFIGS, quiet=True)))
        cli.append(timed(lambda: run_cli(a.cli, ["run", "-q", "--config-dir", CONFIGS, "output_dir=%s/cli" % tmp])))
        script.append(timed(lambda: subprocess.run([sys.executable, "-c", code], env=env, check=True)))
    p, c, s = statistics.median(py), statistics.median(cli), statistics.median(script)
    print(json.dumps({"case": "study_default", "reps": a.reps, "load": os.getloadavg()[0], "python_s": round(p, 4), "cli_s": round(c, 4),
                      "overhead_pct": round((p / c - 1) * 100, 1), "python_script_s": round(s, 4),
                      "script_overhead_pct": round((s / c - 1) * 100, 1)}), flush=True)


def predict(a, tmp):
    """predict on 10,000 rows with a saved run trained on the table data: Run.predict (the DataFrame from the
    library's memory) and Run.predict(out=...) (the program's file written, then read) vs the program writing
    its file."""
    data = os.path.join(tmp, "table_10k.csv")
    table_10k(data)
    r = batteryml.run(["data=table", "pipeline=table", "figures=false", "output_dir=%s/table" % tmp], config_dir=CONFIGS, quiet=True)
    py, py_out, cli = [], [], []
    for i in range(a.reps):
        py.append(timed(lambda: r.predict(data)))
        py_out.append(timed(lambda: r.predict(data, out=os.path.join(tmp, "q.csv"))))
        cli.append(timed(lambda: run_cli(a.cli, ["predict", "-q", "--run", r.dir, "--data", data,
                                                 "--out", os.path.join(tmp, "p.csv")])))
    n = len(r.predict(data))
    p, q, c = statistics.median(py), statistics.median(py_out), statistics.median(cli)
    print(json.dumps({"case": "predict_10k_rows", "rows": n, "reps": a.reps, "load": os.getloadavg()[0], "python_s": round(p, 4),
                      "cli_s": round(c, 4), "overhead_pct": round((p / c - 1) * 100, 1), "python_out_s": round(q, 4),
                      "out_overhead_pct": round((q / c - 1) * 100, 1)}), flush=True)


if __name__ == "__main__":
    main()
