#!/usr/bin/python3
"""numpy/scipy reference values for the delta_q pipeline (tests/test_cyclelife.c).

Regenerate (Debian: apt-get install python3-scipy python3-numpy):
    /usr/bin/python3 tools/gen_dq_reference.py tests/data/cyclelife

Writes:
- synth/: a small cycle-life folder in the published Qdlin layout, but with a 20-point grid (3.6 V to 2.0 V):
  cells.csv (file, cycle_life, split, charging_policy) and three 20 x 99 matrices (cycles 2..100) whose capacity
  fades with the cycle number, with noise;
- dq_reference.json: for each cell, every feature of the pipeline (cycle_a 100, cycle_b 10, fade 91..100,
  curve_step 3) computed independently here: numpy.var (ddof 0), scipy.stats.skew / kurtosis (bias=True,
  fisher=True), numpy.polyfit(deg 1) for the fade line, the discharge capacity of a cycle = its last row
  (lowest voltage); and moments of a few vectors (random, skewed, heavy-tailed).
"""
import json
import os
import sys

import numpy as np
from scipy.stats import kurtosis, skew

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/data/cyclelife"
P, C = 20, 99
rng = np.random.default_rng(20190326)
grid = np.linspace(3.6, 2.0, P)
syn = os.path.join(OUT, "synth")
os.makedirs(os.path.join(syn, "train"), exist_ok=True)
cells = []
ref = {"cells": []}
lives = [812, 1431, None]
for k in range(3):
    cyc = np.arange(2, 2 + C)
    shape = 1.05 * (1 - np.exp(-(3.6 - grid) * (2.0 + k)))              # capacity reached at V (rows)
    fade = 1 - (2e-4 * (k + 1)) * cyc - 3e-6 * (k + 1) * (cyc - 50) ** 2 / 50  # per cycle (columns)
    q = shape[:, None] * fade[None, :] + rng.normal(0, 2e-4, (P, C))
    rel = "train/cell%d.csv" % (k + 1)
    with open(os.path.join(syn, rel), "w") as f:
        for i in range(P):
            f.write(",".join("%.8g" % v for v in q[i]) + "\n")
    q = np.loadtxt(os.path.join(syn, rel), delimiter=",")  # the values as written
    dq = q[:, 100 - 2] - q[:, 10 - 2]
    qd = q[-1, :]  # discharge capacity of each cycle: the lowest voltage
    slope, icpt = np.polyfit(np.arange(91, 101), qd[91 - 2:100 - 2 + 1], 1)
    feats = {
        "log10_abs_min_dq": float(np.log10(abs(dq.min()))),
        "log10_var_dq": float(np.log10(np.var(dq))),
        "log10_abs_skew_dq": float(np.log10(abs(skew(dq, bias=True)))),
        "log10_abs_kurt_dq": float(np.log10(abs(kurtosis(dq, fisher=True, bias=True)))),
        "q_first": float(qd[0]),
        "q_max_minus_first": float(qd[:100 - 2 + 1].max() - qd[0]),
        "fade_slope": float(slope),
        "fade_intercept": float(icpt),
        "curve": [float(v) for v in dq[::3]],
    }
    ref["cells"].append({"file": rel, "cycle_life": lives[k], "features": feats})
    cells.append((rel, lives[k]))
with open(os.path.join(syn, "cells.csv"), "w") as f:
    f.write("file,cycle_life,split,charging_policy\n")
    for rel, life in cells:
        f.write("%s,%s,train,\"5C(67%%)-4C\"\n" % (rel, "" if life is None else life))
vecs = [rng.normal(0, 1, 1000), rng.exponential(1.0, 1000) - 3.0, rng.standard_t(3, 1000) * 1e-3]
ref["moments"] = [{"x": [float(v) for v in x], "min": float(x.min()), "var": float(np.var(x)),
                   "skew": float(skew(x, bias=True)), "kurt": float(kurtosis(x, fisher=True, bias=True))} for x in vecs]
with open(os.path.join(OUT, "dq_reference.json"), "w") as f:
    json.dump(ref, f, indent=None)
    f.write("\n")
