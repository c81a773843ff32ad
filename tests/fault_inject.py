#!/usr/bin/env python3
"""Failure injection, as SQLite tests its allocator and its I/O: in a build with -DBML_FAULT_INJECT=ON (and
-DBML_SANITIZE=ON), src/core/fault.c fails the Nth allocation (BML_FAULT_ALLOC=N) or the Nth output call
(BML_FAULT_IO=N: open/fopen for writing, mkdir, write, fwrite, fsync, rename, ...) made by the library and the
program. For each scenario this script counts the calls of a clean run (BML_FAULT_COUNT=1), then runs the
scenario again failing the Nth call, for every N or a sample of them, and checks each run:
  - it ends cleanly: exit status non-zero (not a signal, no sanitizer report, no leak, no hang) with a message
    of ours naming an error, or zero when nothing was injected (the count varies a little between runs);
  - it leaves nothing half-written: no hidden file or directory (a partial run, a temporary file) anywhere
    below its working directory, and every result there is complete: a run directory has the reference run's
    files, each whole (JSON that parses, the reference's number of lines, PNG and SVG ends, the sizes of
    binary files); structure's and predict's files are byte for byte the reference's; a sweep's sweep.csv
    lists as "ok" exactly the jobs whose run directories are there.

Usage: fault_inject.py BATTERYML SOURCE_DIR [options]
  --scenarios a,b   of: study, study_figures, loco, sweep, structure, predict (default: all)
  --kinds a,b       alloc, io (default: both)
  --sample K        every Kth N (from a seeded offset) and as many again drawn at random; default: every N
  --max M           at most M values of N per scenario and kind, drawn at random (the CI sample)
  --max-io M        the same for the output calls alone (default: --max)
  --n N1,N2,...     only these values of N (for reproducing failures)
  --seed S          seed of the draws (default 1)
  --jobs J          runs at once (default 1)
  --persist         every call from the Nth on fails (BML_FAULT_PERSIST=1), not only the Nth
  --work DIR        work directory (default: a new one in /tmp, removed when every case passed)
  --timeout SEC     per run (default 300)
Exit status 0 when every case passed. A failing case's directory is kept; it is reproduced by the command
printed with it.
"""
import argparse
import concurrent.futures as cf
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

SCENARIOS = ["study", "study_figures", "loco", "sweep", "structure", "predict"]


def scenario_args(name, src, prep):
    c = ["--config-dir", os.path.join(src, "configs")]
    small = ["model.n_estimators=20"]
    if name == "study":
        return ["run", *c, "-q", "output_dir=runs", *small, "figures=false"], "run"
    if name == "study_figures":
        return ["run", *c, "-q", "output_dir=runs", *small], "run"
    if name == "loco":
        return ["run", *c, "-q", "output_dir=runs", "model=mlp", "split=loco", "training.epochs=2", "figures=false"], "run"
    if name == "sweep":
        return ["run", *c, "-m", "--jobs", "2", "--sweep-dir", "sweep", "model.n_estimators=10,20", "figures=false"], "sweep"
    if name == "structure":
        return ["structure", os.path.join(src, "tests/data/cyclers"), "--out", "out"], "files"
    if name == "predict":
        return ["predict", "--run", prep, "--data", os.path.join(src, "data/oxford-lgm50t"), "--out", "pred.csv"], "files"
    raise ValueError(name)


def base_env(src):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("BML_FAULT_"):
            del env[k]
    env["ASAN_OPTIONS"] = "detect_leaks=1:exitcode=99:abort_on_error=0"
    env["LSAN_OPTIONS"] = "suppressions=" + os.path.join(src, "tests/lsan.supp")
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:exitcode=98"
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


# ------------------------------------------------------------------ what a complete result looks like
def tree(d):
    """relative paths of every file below d, and of the hidden entries (anything named .*)"""
    files, hidden = [], []
    for root, dirs, names in os.walk(d):
        for n in dirs + names:
            if n.startswith("."):
                hidden.append(os.path.relpath(os.path.join(root, n), d))
        for n in names:
            files.append(os.path.relpath(os.path.join(root, n), d))
    return sorted(files), sorted(hidden)


def visible(d):
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else []


def json_shape(v, path=""):
    """the key paths and array lengths of a JSON value (its numbers and strings left out)"""
    if isinstance(v, dict):
        out = {path + "{}"}
        for k, x in v.items():
            out |= json_shape(x, path + "/" + k)
        return out
    if isinstance(v, list):
        out = {path + "[%d]" % len(v)}
        for i, x in enumerate(v):
            out |= json_shape(x, path + "/%d" % i)
        return out
    return {path}


def whole(path, ref, exact):
    """None when the file at path is the reference file ref (byte for byte when exact; else, for a file whose
    bytes differ between two clean runs, as whole: its JSON shape, its lines and fields), else why not"""
    with open(path, "rb") as f:
        data = f.read()
    with open(ref, "rb") as f:
        want = f.read()
    if exact:
        return None if data == want else "differs from the clean run's (%d bytes, %d expected)" % (len(data), len(want))
    if path.endswith(".json"):
        try:
            if json_shape(json.loads(data)) != json_shape(json.loads(want)):
                return "JSON of another shape than the clean run's"
        except ValueError as e:
            return "JSON does not parse: %s" % e
        return None
    lines, wlines = data.split(b"\n"), want.split(b"\n")
    if len(lines) != len(wlines):
        return "%d lines, the clean run's has %d" % (len(lines) - 1, len(wlines) - 1)
    if path.endswith(".csv") and [l.count(b",") for l in lines[:1]] != [l.count(b",") for l in wlines[:1]]:
        return "another header than the clean run's"
    return None


def units(kind, d):
    """what must be whole in a result directory: {name: path}; a run directory, a sweep's job directory and
    its files, structure's and predict's files"""
    if kind == "run":
        return {"run" + ("" if i == 0 else "-%d" % i): os.path.join(d, "runs", r) for i, r in enumerate(visible(os.path.join(d, "runs")))}
    if kind == "sweep":
        sd = os.path.join(d, "sweep")
        return {j: os.path.join(sd, j) for j in visible(sd)}
    files, _ = tree(d)
    return {f: os.path.join(d, f) for f in files if not any(p.startswith(".") for p in f.split(os.sep))}


def unit_problem(path, ref, varying, name):
    """None when the unit at path (a file or a directory) is whole as the reference's ref, else why not"""
    if os.path.isdir(ref):
        if not os.path.isdir(path):
            return "not a directory"
        got, _ = tree(path)
        want, _ = tree(ref)
        if got != want:
            return "files %s missing, %s extra" % (sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5])
        for f in got:
            why = whole(os.path.join(path, f), os.path.join(ref, f), (name + "/" + f) not in varying)
            if why:
                return "%s: %s" % (f, why)
        return None
    if not os.path.isfile(path):
        return "not a file"
    return whole(path, ref, name not in varying)


def varying_files(kind, ref, ref2):
    """the files (unit/relative path) whose bytes differ between two clean runs"""
    out = set()
    a, b = units(kind, ref), units(kind, ref2)
    for n, p in a.items():
        q = b.get(n)
        if q is None:
            continue
        if os.path.isdir(p):
            for f in tree(p)[0]:
                g = os.path.join(q, f)
                if not os.path.isfile(g) or open(os.path.join(p, f), "rb").read() != open(g, "rb").read():
                    out.add(n + "/" + f)
        elif open(p, "rb").read() != open(q, "rb").read():
            out.add(n)
    return out


def check_output(kind, out, ref, varying, rc):
    """problems with what the run left in out (ref: the clean run's directory); rc: its exit status"""
    probs = []
    _, hidden = tree(out)
    if hidden:
        probs.append("left hidden entries (partial or temporary): %s" % hidden[:5])
    got, want = units(kind, out), units(kind, ref)
    if rc == 0 and sorted(got) != sorted(want):
        probs.append("exit status 0 but results %s, the clean run has %s" % (sorted(got)[:6], sorted(want)[:6]))
    for n, p in got.items():
        if n not in want:
            probs.append("%s: not in the clean run's results" % n)
            continue
        if kind == "sweep" and n == "sweep.csv":
            continue  # its rows differ in status and error: checked below
        why = unit_problem(p, want[n], varying, n)
        if why:
            probs.append("%s is not whole: %s" % (n, why))
    p = os.path.join(out, "sweep", "sweep.csv")
    if kind == "sweep" and os.path.exists(p):
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
        why = whole(p, os.path.join(ref, "sweep", "sweep.csv"), False)
        if why and "header" in why and not any(r.get("status") == "ok" for r in rows):
            why = None  # no job finished: no metric columns
        if why:
            probs.append("sweep.csv: " + why)
        else:
            ok = sorted(r["name"] for r in rows if r["status"] == "ok")
            # failed jobs whose complete run is there: published but not synced into the sweep folder, or finished
            # but its metrics not read back (the sweep's own memory failed)
            kept = sorted(r["name"] for r in rows if r["status"] != "ok" and
                          ("may not survive a power loss" in r["error"] or r["error"].startswith("the job finished but")))
            jobs = sorted(n for n, q in got.items() if os.path.isdir(q))
            if sorted(set(jobs) - set(kept)) != ok:
                probs.append("sweep.csv lists %s as ok, the sweep directory has %s" % (ok, jobs))
            n_failed = sum(1 for r in rows if r["status"] != "ok")
            if n_failed and rc == 0:
                probs.append("exit status 0 with %d failed jobs in sweep.csv" % n_failed)
    return probs


# ------------------------------------------------------------------ running
def run(cmd, cwd, env, timeout):
    os.makedirs(cwd, exist_ok=True)
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), time.time() - t0
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return None, out, time.time() - t0


SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|internal error|AddressSanitizer:DEADLYSIGNAL")


def judge(kind, rc, text, out, ref, varying):
    """(verdict, problems): verdict 'ok', 'ok-untouched' (nothing injected), 'ok-tolerated' (injected, exit 0)"""
    probs = []
    fired = "bml-fault: failing" in text
    ours = "\n".join(l for l in text.splitlines() if not l.startswith("bml-fault:"))
    if rc is None:
        probs.append("hung (timed out)")
    elif rc < 0:
        probs.append("killed by signal %d" % -rc)
    elif rc in (98, 99) or SANITIZER.search(text):
        probs.append("sanitizer report" + ("" if rc not in (98, 99) else " (exit %d)" % rc))
    elif rc != 0:
        if not fired:
            probs.append("exit status %d with nothing injected" % rc)
        if not re.search(r"error|failed", ours, re.I):
            probs.append("exit status %d without an error message" % rc)
    if rc is not None and os.path.isdir(out):
        probs += check_output(kind, out, ref, varying, rc)
    verdict = "ok" if rc else ("ok-tolerated" if fired else "ok-untouched")
    return verdict, probs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("batteryml")
    ap.add_argument("source_dir")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--kinds", default="alloc,io")
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--max", type=int, default=0)
    ap.add_argument("--max-io", type=int, default=None)
    ap.add_argument("--n", default="")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--persist", action="store_true")
    ap.add_argument("--work")
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    bml, src = os.path.abspath(a.batteryml), os.path.abspath(a.source_dir)
    scen = [s for s in a.scenarios.split(",") if s]
    kinds = [k for k in a.kinds.split(",") if k]
    for s in scen:
        if s not in SCENARIOS:
            sys.exit("unknown scenario %s (valid: %s)" % (s, ", ".join(SCENARIOS)))
    for k in kinds:
        if k not in ("alloc", "io"):
            sys.exit("unknown kind %s (valid: alloc, io)" % k)
    work = os.path.abspath(a.work) if a.work else tempfile.mkdtemp(prefix="bml-fault-inject-")
    os.makedirs(work, exist_ok=True)
    env0 = base_env(src)
    rng = random.Random(a.seed)
    t_start = time.time()
    print("fault_inject: work %s, seed %d, sample %s, max %s, jobs %d%s" %
          (work, a.seed, a.sample or "every N", a.max or "-", a.jobs, ", persistent" if a.persist else ""), flush=True)

    # a saved run for predict, with CV+ intervals (predict loads the interval models too)
    prep = os.path.join(work, "prep")
    if "predict" in scen:
        shutil.rmtree(prep, ignore_errors=True)
        rc, text, _ = run([bml, "run", "--config-dir", os.path.join(src, "configs"), "-q", "output_dir=runs",
                           "model.n_estimators=20", "figures=false", "uncertainty=cv_plus", "uncertainty.groups=3"],
                          prep, env0, a.timeout)
        if rc != 0:
            print(text)
            sys.exit("fault_inject: the run for predict failed")
        prep = os.path.join(prep, "runs", visible(os.path.join(prep, "runs"))[0])

    cases, counts, varying = [], {}, {}
    for s in scen:
        args, kind = scenario_args(s, src, prep)
        ref = os.path.join(work, s, "ref")
        shutil.rmtree(ref, ignore_errors=True)
        rc, text, secs = run([bml, *args], ref, dict(env0, BML_FAULT_COUNT="1"), a.timeout)
        m = re.search(r"^bml-fault: alloc (\d+) io (\d+)$", text, re.M)
        if rc != 0 or not m:
            print(text)
            sys.exit("fault_inject: the clean run of %s failed (exit %s): is this a BML_FAULT_INJECT build?" % (s, rc))
        _, hidden = tree(ref)
        if hidden:
            sys.exit("fault_inject: the clean run of %s left hidden entries %s" % (s, hidden))
        counts[s] = {"alloc": int(m.group(1)), "io": int(m.group(2)), "seconds": secs}
        # a second clean run: the files whose bytes differ between clean runs (timings) are compared by shape
        ref2 = os.path.join(work, s, "ref2")
        shutil.rmtree(ref2, ignore_errors=True)
        rc, text, _ = run([bml, *args], ref2, env0, a.timeout)
        if rc != 0:
            print(text)
            sys.exit("fault_inject: the second clean run of %s failed (exit %s)" % (s, rc))
        varying[s] = varying_files(kind, ref, ref2)
        shutil.rmtree(ref2, ignore_errors=True)
        for k in kinds:
            total = counts[s][k]
            ns = list(range(1, total + 1))
            if a.sample > 1:
                off = rng.randrange(a.sample)
                picked = set(ns[off::a.sample])
                rest = [n for n in ns if n not in picked]
                picked |= set(rng.sample(rest, min(len(rest), len(picked))))
                ns = sorted(picked)
            most = a.max_io if k == "io" and a.max_io is not None else a.max
            if most and len(ns) > most:
                ns = sorted(rng.sample(ns, most))
            if a.n:
                ns = [int(x) for x in a.n.split(",") if x]
            counts[s][k + "_run"] = len(ns)
            cases += [(s, kind, k, n, args, ref) for n in ns]
        print("fault_inject: %-13s %5d allocations, %4d I/O calls (clean run %.1f s); running %s; varying: %s" %
              (s, counts[s]["alloc"], counts[s]["io"], secs,
               ", ".join("%d %s" % (counts[s][k + "_run"], k) for k in kinds), " ".join(sorted(varying[s])) or "-"), flush=True)

    def one(case):
        s, kind, k, n, args, ref = case
        out = os.path.join(work, s, "%s-%d" % (k, n))
        shutil.rmtree(out, ignore_errors=True)
        env = dict(env0)
        env["BML_FAULT_ALLOC" if k == "alloc" else "BML_FAULT_IO"] = str(n)
        if a.persist:
            env["BML_FAULT_PERSIST"] = "1"
        rc, text, secs = run([bml, *args], out, env, a.timeout)
        verdict, probs = judge(kind, rc, text, out, ref, varying[s])
        where = re.search(r"^bml-fault: failing (\S+)", text, re.M)
        if not probs:
            shutil.rmtree(out, ignore_errors=True)
        return case, verdict, probs, text, (where.group(1) if where else "-"), secs

    tally, failures, tolerated = {}, [], {}
    done = 0
    with cf.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for case, verdict, probs, text, fn, secs in ex.map(one, cases):
            s, kind, k, n, args, ref = case
            t = tally.setdefault((s, k), {"run": 0, "failed": 0, "ok-tolerated": 0, "ok-untouched": 0})
            t["run"] += 1
            done += 1
            if probs:
                t["failed"] += 1
                failures.append(case)
                env = "BML_FAULT_%s=%d%s" % ("ALLOC" if k == "alloc" else "IO", n, " BML_FAULT_PERSIST=1" if a.persist else "")
                print("FAIL %s %s %d (%s): %s\n  reproduce: cd %s && %s %s %s" %
                      (s, k, n, fn, "; ".join(probs), os.path.join(work, s, "%s-%d" % (k, n)), env, bml,
                       " ".join(args)), flush=True)
                tail = [l for l in text.splitlines() if l.strip()][-12:]
                print("  | " + "\n  | ".join(tail), flush=True)
            elif verdict != "ok":
                t[verdict] += 1
                if verdict == "ok-tolerated":
                    tolerated.setdefault(s, []).append("%s %d (%s)" % (k, n, fn))
            if done % 200 == 0:
                print("fault_inject: %d/%d runs, %d failed, %.0f s" % (done, len(cases), len(failures), time.time() - t_start),
                      flush=True)

    print("\nscenario       kind   calls  run  failed  tolerated(exit 0)  not reached")
    for s in scen:
        for k in kinds:
            t = tally.get((s, k), {"run": 0, "failed": 0, "ok-tolerated": 0, "ok-untouched": 0})
            print("%-13s  %-5s  %5d  %4d  %6d  %17d  %11d" %
                  (s, k, counts[s][k], t["run"], t["failed"], t["ok-tolerated"], t["ok-untouched"]))
    for s, v in tolerated.items():
        print("tolerated in %s: %s%s" % (s, ", ".join(v[:10]), " ..." if len(v) > 10 else ""))
    print("fault_inject: %d runs, %d failed, %.0f s" % (len(cases), len(failures), time.time() - t_start))
    if not failures and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
