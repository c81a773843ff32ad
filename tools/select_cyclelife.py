#!/usr/bin/python3
"""Choose the cycle-life study's configuration by cross-validation on the TRAINING cells only, then report it.

    /usr/bin/python3 tools/select_cyclelife.py prepare SEVERSON_DIR TRAIN_DIR
    /usr/bin/python3 tools/select_cyclelife.py select BATTERYML TRAIN_DIR WORK_DIR
    /usr/bin/python3 tools/select_cyclelife.py report BATTERYML SEVERSON_DIR WORK_DIR
    /usr/bin/python3 tools/select_cyclelife.py nested WORK_DIR

prepare: TRAIN_DIR gets a link to SEVERSON_DIR/train and a cells.csv of the train rows only -- nothing else.

select (test1 cannot be read here: it is given TRAIN_DIR only, and refuses a folder holding anything but
`cells.csv` and `train/`, or a cells.csv naming another set): every candidate below is studied with `split=loco`
-- leave-one-cell-out over the 41 training cells, each fold a full fit (elastic_net_cv's own inner 5-fold CV and
the clipping range included, fitted on the fold's 40 training cells) -- swept with `batteryml run -m`. The score
of a candidate is the RMSE in cycles of its 41 held-out predictions (10^prediction against the life, read from
each run's predictions.csv). THE RULE, fixed before anything was run on test1: the candidate with the lowest
score wins; ties go to the earlier one in the list (simpler feature sets and models first). No one-standard-error
rule. The ranking goes to WORK_DIR/selection.csv, the winner to WORK_DIR/chosen.txt (its overrides).

report: the winner (WORK_DIR/chosen.txt) is run once with `split=predefined` and `uncertainty=jackknife_plus`
(90 % intervals, alpha 0.1, one group per training cell) on a folder that lists the train cells a second time
as the set `trainfit` (a copy of the same files), so that the runner reports the training error beside test1:
train / test1 / test1 without test1_cell22 RMSE and MAPE in cycles, the intervals' coverage of the true lives
and their mean width in cycles.

nested (train only, after select; reads WORK_DIR/cv's held-out predictions and nothing else): how well does the
RULE generalise, as opposed to its winner's own CV score (which is optimistic: the lowest of hundreds of noisy
scores)? For each train cell i, the rule is applied to the other 40 cells' held-out predictions (each
candidate's RMSE over them), and the chosen candidate's held-out prediction of cell i is scored: the RMSE of
those 41 is the rule's nested estimate. The rule is evaluated over the whole candidate list and over
sub-lists declared here (one model family, clip false or true, one feature set), so that a sub-list could be
chosen by this estimate -- also on train only. An approximation of full nested CV: the inner predictions of
the other cells came from fits that included cell i (one of their 40 training cells); full nesting would
refit every candidate 41 x 40 times. For information, the mean of the top-k candidates' predictions (log10)
is estimated the same way (the runner has no such ensemble model).

THE CANDIDATES (declared before any run on test1):
  feature sets  [variance] [discharge] [fade] [variance,fade] [discharge,fade] [curve] [discharge,curve]
                [discharge,fade,curve]
  x pipeline.capacity_max_ratio  0 (capacities as they are) | 1.5 (corrupt cycles left out): sets using
                capacities (discharge, fade) only
  x pipeline.kurtosis  fisher | pearson: sets with `discharge` only
  x model.clip  false | true (each input winsorised to its training range at prediction)
  x models      ols; ridge alpha 0.01, 0.1, 1, 10, 100; elastic_net_cv (its defaults: 7 l1_ratios x 100
                alphas, inner 5-fold CV); pls n_components 1..6; pcr n_components 1..6
  (pls/pcr with more components than features fail and are listed as failed, as in the earlier selection)
  Dropped before any score was looked at, for run time only: elastic_net_cv on the three sets with `curve`
  (101+ features, 41 folds x 7 l1_ratios x 100 alphas x 6 fits: about half an hour per candidate on the shared
  2-core machine), 18 candidates -- 818 remain.

What the runner lacks for this (why a script): K-fold or leave-one-cell-out restricted to the `train` set of a
predefined split (here: a separate train-only folder), a training-set error in metrics (here: the `trainfit`
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
UNCERTAINTY = ["uncertainty=jackknife_plus", "uncertainty.alpha=0.1"]


def preprocessing(fs):
    """the swept preprocessing options that apply to feature set fs"""
    sw = []
    if "discharge" in fs or "fade" in fs:
        sw.append("pipeline.capacity_max_ratio=0,1.5")
    if "discharge" in fs:
        sw.append("pipeline.kurtosis=fisher,pearson")
    sw.append("model.clip=false,true")
    return sw


def cycles_metrics(pred_csv, cells=None):
    """RMSE (cycles), MAPE (%), n, and for intervals coverage and mean width (cycles) of 10^pred vs 10^true"""
    se, ape, n, cov, width, nint = 0.0, 0.0, 0, 0, 0.0, 0
    sq = []
    with open(pred_csv, newline="") as f:
        for row in csv.DictReader(f):
            if cells is not None and row["cell"] not in cells:
                continue
            lt = float(row["true_log10_cycle_life"])
            t, p = 10 ** lt, 10 ** float(row["pred_log10_cycle_life"])
            se += (p - t) ** 2
            sq.append((p - t) ** 2)
            ape += abs(p - t) / t
            n += 1
            if row.get("lower_log10_cycle_life", "") != "":
                lo, hi = float(row["lower_log10_cycle_life"]), float(row["upper_log10_cycle_life"])
                cov += lo <= lt <= hi
                width += 10 ** hi - 10 ** lo
                nint += 1
    rmse = math.sqrt(se / n)
    # standard error of the RMSE (delta method on the mean of the squared errors): informational only
    m = se / n
    sd = math.sqrt(sum((v - m) ** 2 for v in sq) / (n - 1)) if n > 1 else math.nan
    se_rmse = sd / math.sqrt(n) / (2 * rmse) if rmse > 0 else math.nan
    return {"rmse": rmse, "mape": 100 * ape / n, "n": n, "se": se_rmse,
            "coverage": cov / nint if nint else math.nan, "width": width / nint if nint else math.nan}


def run(cmd, log):
    with open(log, "w") as f:
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode


def common_args():
    cfgdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
    return ["--config-dir", cfgdir, "data=qdlin", "pipeline=delta_q", "figures=false", "explain=false"]


def prepare(sev, tr):
    with open(os.path.join(sev, "cells.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    si = header.index("split")
    os.makedirs(tr, exist_ok=True)
    if not os.path.lexists(os.path.join(tr, "train")):
        os.symlink(os.path.join(sev, "train"), os.path.join(tr, "train"))
    with open(os.path.join(tr, "cells.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(r for r in body if r[si] == "train")
    print(f"{tr}: {sum(1 for r in body if r[si] == 'train')} train cells")


def select(bml, tr, work):
    extra = sorted(set(os.listdir(tr)) - {"cells.csv", "train"})
    if extra:
        sys.exit(f"{tr}: holds {', '.join(extra)}: selection takes a folder of the train cells only (see prepare)")
    with open(os.path.join(tr, "cells.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    si, li, fi = header.index("split"), header.index("cycle_life"), header.index("file")
    bad = [r[fi] for r in body if r[si] != "train" or not r[fi].startswith("train/")]
    if bad:
        sys.exit(f"{tr}/cells.csv: names cells outside the train set ({', '.join(bad[:3])}...): refused")
    n_train = sum(1 for r in body if r[li].strip())
    os.makedirs(os.path.join(work, "cv"), exist_ok=True)  # an earlier call's finished sweeps are reused
    results = []
    order = 0
    for fs in FEATURE_SETS:
        for model, swept in MODELS:
            if model == "elastic_net_cv" and "curve" in fs:
                continue  # dropped for run time (see THE CANDIDATES)
            tag = re.sub(r"[^a-z0-9]+", "_", f"{fs}_{model}").strip("_")
            sweep_dir = os.path.join(work, "cv", tag)
            cmd = [bml, "run", "-m", "--jobs", "2", *common_args(), f"data.path={tr}", "split=loco",
                   f"pipeline.features={fs}", f"model={model}", *preprocessing(fs), *swept,
                   "output_dir=" + os.path.join(work, "runs"), "--sweep-dir", sweep_dir]
            if not os.path.isfile(os.path.join(sweep_dir, "sweep.csv")):
                run(cmd, sweep_dir + ".log")
            with open(os.path.join(sweep_dir, "sweep.csv"), newline="") as f:
                for job in csv.DictReader(f):
                    order += 1
                    ov = job["overrides"]
                    if job["status"] != "ok":
                        results.append((math.inf, order, fs, model, ov, math.nan, math.nan, job["error"][:80]))
                        continue
                    m = cycles_metrics(os.path.join(job["run_dir"], "predictions.csv"))
                    assert m["n"] == n_train, (m["n"], n_train)  # every train cell held out once
                    results.append((m["rmse"], order, fs, model, ov, m["mape"], m["se"], ""))
    results.sort()
    with open(os.path.join(work, "selection.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "cv_rmse", "cv_rmse_se", "cv_mape", "features", "model", "overrides", "error"])
        for k, (rmse, _, fs, model, ov, mape, se, err) in enumerate(results):
            w.writerow([k + 1, f"{rmse:.3f}", f"{se:.3f}", f"{mape:.3f}", fs, model, ov, err])
    print("leave-one-cell-out CV on the 41 training cells (RMSE and MAPE in cycles of the held-out predictions;")
    print("se: standard error of the RMSE, for information -- the rule is the lowest RMSE)")
    print(f"{'rank':>4}  {'cv_rmse':>8}  {'se':>5}  {'cv_mape':>7}  features / model / overrides")
    for k, (rmse, _, fs, model, ov, mape, se, err) in enumerate(results[:25]):
        print(f"{k + 1:>4}  {rmse:8.1f}  {se:5.1f}  {mape:6.1f}%  {fs} {model} {ov} {err}")
    failed = [r for r in results if math.isinf(r[0])]
    print(f"{len(results)} candidates, {len(failed)} failed"
          + (": " + "; ".join(f"{r[2]} {r[3]} {r[4]}: {r[7]}" for r in failed[:5]) if failed else ""))
    _, _, fs, model, ov, _, _, _ = results[0]
    chosen = [f"pipeline.features={fs}", f"model={model}"] + ov.split()  # sweep.csv: the swept "key=value"s
    with open(os.path.join(work, "chosen.txt"), "w") as f:
        f.write("\n".join(chosen) + "\n")
    print("chosen (by CV on train only):", " ".join(chosen))


def report(bml, sev, work):
    with open(os.path.join(work, "chosen.txt")) as f:
        chosen = [ln.strip() for ln in f if ln.strip()]
    with open(os.path.join(sev, "cells.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    si, fi = header.index("split"), header.index("file")
    # train (as set trainfit: copies of the train files, since the loader refuses one file listed twice, links
    # included), test1, test1 without cell 22
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
    cmd = [bml, "run", *common_args(), f"data.path={full}", "split=predefined", *chosen, *UNCERTAINTY,
           "output_dir=" + out, "run_name=chosen"]
    print("run:", " ".join(cmd))
    rc = run(cmd, out + ".log")
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
    print(f"{'set':<22} {'n':>3} {'RMSE':>7} {'MAPE':>7} {'cover90':>7} {'width':>7}")
    for name, cs in sets.items():
        m = cycles_metrics(pred, cs)
        print(f"{name:<22} {m['n']:>3} {m['rmse']:7.1f} {m['mape']:6.1f}% {100 * m['coverage']:6.1f}% {m['width']:7.1f}")


def nested(work):
    cand = []  # (order, label, {cell: (true log10, pred log10)})
    for sweep in sorted(os.listdir(os.path.join(work, "cv"))):
        sc = os.path.join(work, "cv", sweep, "sweep.csv")
        if not os.path.isfile(sc):
            continue
        with open(sc, newline="") as f:
            for job in csv.DictReader(f):
                if job["status"] != "ok":
                    continue
                with open(os.path.join(job["run_dir"], "predictions.csv"), newline="") as g:
                    rows = {r["cell"]: (float(r["true_log10_cycle_life"]), float(r["pred_log10_cycle_life"]))
                            for r in csv.DictReader(g)}
                if all(math.isfinite(p) for _, p in rows.values()):
                    cand.append((sweep, job["overrides"], rows))
    if not cand:
        sys.exit(f"{work}/cv: no finished candidates: run select first")
    # the candidate list's declared order (feature set, then model), as select ranks ties
    rank = {re.sub(r"[^a-z0-9]+", "_", f"{fs}_{m}").strip("_"): k * len(MODELS) + j
            for k, fs in enumerate(FEATURE_SETS) for j, (m, _) in enumerate(MODELS)}
    cand.sort(key=lambda c: rank.get(c[0], len(rank)))
    cells = sorted(cand[0][2])
    if any(sorted(c[2]) != cells for c in cand):
        sys.exit(f"{work}/cv: candidates held out different cells")
    life = [10 ** cand[0][2][c][0] for c in cells]
    pred = [[10 ** c[2][x][1] for x in cells] for c in cand]
    err = [[(p - t) ** 2 for p, t in zip(pr, life)] for pr in pred]
    tot = [sum(e) for e in err]
    n = len(cells)

    def fam(c):
        sweep, ov = c[0], c[1]
        model = next(m for m, _ in sorted(MODELS, key=lambda m: -len(m[0])) if sweep.endswith("_" + m))
        return {"model": model, "clip": "model.clip=true" in ov.split(), "features": sweep[: -len(model) - 1]}

    fams = [fam(c) for c in cand]
    spaces = [("every candidate", range(len(cand)))]
    spaces += [(f"model={m}", [k for k, f in enumerate(fams) if f["model"] == m]) for m, _ in MODELS]
    spaces += [(f"clip={v}", [k for k, f in enumerate(fams) if f["clip"] == (v == "true")]) for v in ("false", "true")]
    for fs in FEATURE_SETS:
        tag = re.sub(r"[^a-z0-9]+", "_", fs).strip("_")
        spaces.append((f"features={fs}", [k for k, f in enumerate(fams) if f["features"] == tag]))
    print(f"{len(cand)} candidates, {n} train cells; nested = the rule's held-out RMSE (cycles), CV = its winner's own")
    print(f"{'rule: lowest LOO RMSE among':<34} {'n':>4} {'nested':>7} {'CV':>7}  winner on all {n} cells")
    for name, idx in spaces:
        idx = list(idx)
        if not idx:
            continue
        sq = 0.0
        for i in range(n):
            k = min(idx, key=lambda c: (tot[c] - err[c][i], c))  # ties: the earlier candidate
            sq += err[k][i]
        w = min(idx, key=lambda c: (tot[c], c))
        print(f"{name:<34} {len(idx):>4} {math.sqrt(sq / n):7.1f} {math.sqrt(tot[w] / n):7.1f}  "
              f"{cand[w][0]} {cand[w][1]}")
    for top in (5, 10, 20, 50):
        sq = 0.0
        for i in range(n):
            best = sorted(range(len(cand)), key=lambda c: (tot[c] - err[c][i], c))[:top]
            p = 10 ** (sum(math.log10(pred[c][i]) for c in best) / top)
            sq += (p - life[i]) ** 2
        print(f"{'(mean of the top %d, log10)' % top:<34} {len(cand):>4} {math.sqrt(sq / n):7.1f}")


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "prepare":
        prepare(os.path.abspath(a[1]), os.path.abspath(a[2]))
    elif len(a) == 4 and a[0] == "select":
        select(os.path.abspath(a[1]), os.path.abspath(a[2]), os.path.abspath(a[3]))
    elif len(a) == 2 and a[0] == "nested":
        nested(os.path.abspath(a[1]))
    elif len(a) == 4 and a[0] == "report":
        report(os.path.abspath(a[1]), os.path.abspath(a[2]), os.path.abspath(a[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
