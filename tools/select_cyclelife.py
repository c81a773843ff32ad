#!/usr/bin/python3
"""Choose the cycle-life study's configuration by cross-validation on the TRAINING cells only, then report it.

    /usr/bin/python3 tools/select_cyclelife.py BATTERYML SEVERSON_DIR [WORK_DIR]

Selection (test1 is never read here): a folder holding only the `train` cells (a link to SEVERSON_DIR/train and
a cells.csv of the train rows) is studied with `split=loco` -- leave-one-cell-out over the 41 training cells,
each fold a full fit (elastic_net_cv's own inner 5-fold CV included) -- for every candidate below, swept with
`batteryml run -m`. The score of a candidate is the RMSE in cycles of its 41 held-out predictions
(10^prediction against the life, read from each run's predictions.csv). The candidate with the lowest score
wins; ties go to the earlier one in the list (simpler feature sets and models come first).

Report: the winner is then run once with `split=predefined` on a folder that lists the train cells a second time
as the set `trainfit` (a copy of the same files), so that the runner reports the training error beside test1:
train / test1 / test1 without test1_cell22 RMSE and MAPE, in cycles.

What the runner lacks for this (why a script): K-fold or leave-one-cell-out restricted to the `train` set of a
predefined split (here: a separate train-only index), a training-set error in metrics (here: the `trainfit`
copy), and a selection step in sweeps that ranks jobs by a metric in cycles (here: computed from
predictions.csv).
"""
import csv
import math
import os
import re
import shutil
import subprocess
import sys

FEATURE_SETS = ["[variance]", "[discharge]", "[fade]", "[variance,fade]", "[discharge,fade]", "[curve]",
                "[discharge,curve]", "[discharge,fade,curve]"]
MODELS = [  # (model, swept overrides)
    ("ols", []),
    ("ridge", ["model.alpha=0.01,0.1,1,10,100"]),
    ("elastic_net_cv", []),
    ("pls", ["model.n_components=1,2,3,4,5,6"]),
    ("pcr", ["model.n_components=1,2,3,4,5,6"]),
]


def cycles_metrics(pred_csv, cells=None):
    """RMSE (cycles) and MAPE (%) of 10^pred vs 10^true over the rows (optionally of the given cells)"""
    se, ape, n = 0.0, 0.0, 0
    with open(pred_csv, newline="") as f:
        for row in csv.DictReader(f):
            if cells is not None and row["cell"] not in cells:
                continue
            t, p = 10 ** float(row["true_log10_cycle_life"]), 10 ** float(row["pred_log10_cycle_life"])
            se += (p - t) ** 2
            ape += abs(p - t) / t
            n += 1
    return math.sqrt(se / n), 100 * ape / n, n


def run(cmd, log):
    with open(log, "w") as f:
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode


def main():
    bml, sev = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    work = os.path.abspath(sys.argv[3] if len(sys.argv) > 3 else "cyclelife-selection")
    cfgdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
    os.makedirs(work, exist_ok=True)  # an earlier call's finished sweeps are reused
    with open(os.path.join(sev, "cells.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    si, fi = header.index("split"), header.index("file")

    # the train-only folder
    tr = os.path.join(work, "train-only")
    os.makedirs(os.path.join(work, "cv"), exist_ok=True)
    if not os.path.isdir(tr):
        os.makedirs(tr)
        os.symlink(os.path.join(sev, "train"), os.path.join(tr, "train"))
    with open(os.path.join(tr, "cells.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(r for r in body if r[si] == "train")

    n_train = sum(1 for r in body if r[si] == "train" and r[header.index("cycle_life")].strip())
    common = ["--config-dir", cfgdir, "data=qdlin", "pipeline=delta_q", "figures=false", "explain=false"]
    results = []
    order = 0
    for fs in FEATURE_SETS:
        for model, swept in MODELS:
            tag = re.sub(r"[^a-z0-9]+", "_", f"{fs}_{model}").strip("_")
            sweep_dir = os.path.join(work, "cv", tag)
            cmd = [bml, "run", "-m", *common, f"data.path={tr}", "split=loco", f"pipeline.features={fs}",
                   f"model={model}", *swept, "output_dir=" + os.path.join(work, "runs"), "--sweep-dir", sweep_dir]
            if not os.path.isfile(os.path.join(sweep_dir, "sweep.csv")):
                run(cmd, sweep_dir + ".log")
            with open(os.path.join(sweep_dir, "sweep.csv"), newline="") as f:
                for job in csv.DictReader(f):
                    order += 1
                    ov = job["overrides"]
                    if job["status"] != "ok":
                        results.append((math.inf, order, fs, model, ov, math.nan, job["error"][:80]))
                        continue
                    rmse, mape, n = cycles_metrics(os.path.join(job["run_dir"], "predictions.csv"))
                    assert n == n_train, (n, n_train)  # every train cell held out once
                    results.append((rmse, order, fs, model, ov, mape, ""))
    results.sort()
    print("leave-one-cell-out CV on the 41 training cells (RMSE and MAPE in cycles of the held-out predictions)")
    print(f"{'rank':>4}  {'cv_rmse':>8}  {'cv_mape':>7}  features / model / overrides")
    for k, (rmse, _, fs, model, ov, mape, err) in enumerate(results[:25]):
        print(f"{k + 1:>4}  {rmse:8.1f}  {mape:6.1f}%  {fs} {model} {ov} {err}")
    failed = [r for r in results if math.isinf(r[0])]
    print(f"{len(results)} candidates, {len(failed)} failed"
          + (": " + "; ".join(f"{r[2]} {r[3]} {r[4]}: {r[6]}" for r in failed[:5]) if failed else ""))

    best = results[0]
    _, _, fs, model, ov, _, _ = best
    chosen = [f"pipeline.features={fs}", f"model={model}"] + ([ov] if ov else [])
    print("chosen (by CV on train only):", " ".join(chosen))

    # report: train (as set trainfit: copies of the train files, since the loader refuses one file listed
    # twice, links included), test1, test1 without cell 22
    full = os.path.join(work, "full")
    shutil.rmtree(full, ignore_errors=True)
    shutil.rmtree(os.path.join(work, "final"), ignore_errors=True)
    os.makedirs(full)
    for d in ("train", "test1"):
        os.symlink(os.path.join(sev, d), os.path.join(full, d))
    shutil.copytree(os.path.join(sev, "train"), os.path.join(full, "trainfit"))
    with open(os.path.join(full, "cells.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(body)
        for r in body:
            if r[si] == "train":
                r2 = list(r)
                r2[si] = "trainfit"
                r2[fi] = "trainfit/" + r[fi].split("/", 1)[1]
                w.writerow(r2)
    out = os.path.join(work, "final")
    rc = run([bml, "run", *common, f"data.path={full}", "split=predefined", *chosen, "output_dir=" + out,
              "run_name=chosen"], out + ".log")
    if rc:
        sys.exit(f"the final run failed: see {out}.log")
    pred = os.path.join(out, "chosen", "predictions.csv")
    with open(pred, newline="") as f:
        cells = {r["cell"]: r["fold"] for r in csv.DictReader(f)}
    sets = {
        "train (trainfit)": {c for c, fo in cells.items() if fo == "trainfit"},
        "test1": {c for c, fo in cells.items() if fo == "test1"},
        "test1 without cell22": {c for c, fo in cells.items() if fo == "test1" and c != "test1_cell22"},
    }
    print(f"{'set':<22} {'n':>3} {'RMSE':>7} {'MAPE':>7}")
    for name, cs in sets.items():
        rmse, mape, n = cycles_metrics(pred, cs)
        print(f"{name:<22} {n:>3} {rmse:7.1f} {mape:6.1f}%")


if __name__ == "__main__":
    main()
