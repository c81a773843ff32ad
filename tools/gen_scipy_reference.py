#!/usr/bin/python3
"""scipy reference values for the ICA pipeline (tests/test_ica.c).

Regenerate (Debian: apt-get install python3-scipy python3-numpy):
    /usr/bin/python3 tools/gen_scipy_reference.py tests/data/ica

Writes JSON files:
- savgol.json: savgol_filter(x, window, order, mode='interp') of random series for several windows/orders;
- peaks.json: find_peaks / peak_prominences / peak_widths on constructed signals (plateaus, ties, edges);
- curves.json: the whole ica_peaks computation (SPEC 4.2) on smooth, noisy, plateaued and real curves:
  sort by voltage (stable), window 3.0-4.2 V, numpy.interp onto numpy.linspace(500), savgol 51/3 of Q,
  dQ/dV by differences at midpoints, savgol 51/3, abs, find_peaks(height=0.01, distance=200,
  prominence=0.01), peak_widths(rel_height=0.5), features of the 3 highest peaks, trapezoid area,
  number of peaks, voltage of the maximum.
Real curves: the fresh LG M50 C/10 discharge (Basytec step 13, cycle 1; BSD-3, Brosa Planella 2020) and
a fast-formation C/20 charge (cell 11, cycle 3; Weng et al. 2021), from ../shared/data, copied beside
the JSON as inputs.
"""
import csv
import json
import os
import sys

import numpy as np
import scipy
from scipy.signal import find_peaks, peak_prominences, peak_widths, savgol_filter

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/data/ica"
SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def features(q, v, vmin=3.0, vmax=4.2, n=500, window=51, order=3, height=0.01, distance=200, prominence=0.01, k=3):
    q, v = np.asarray(q, float), np.asarray(v, float)
    keep = np.isfinite(q) & np.isfinite(v) & (v >= vmin) & (v <= vmax)
    q, v = q[keep], v[keep]
    o = np.argsort(v, kind="stable")
    q, v = q[o], v[o]
    grid = np.linspace(v[0], v[-1], n)
    qr = np.interp(grid, v, q)
    qs = savgol_filter(qr, window, order, mode="interp")
    dq = np.diff(qs) / np.diff(grid)
    vm = 0.5 * (grid[:-1] + grid[1:])
    ds = np.abs(savgol_filter(dq, window, order, mode="interp"))
    peaks, _ = find_peaks(ds, height=height, distance=distance, prominence=prominence)
    widths = peak_widths(ds, peaks, rel_height=0.5)[0]
    order_ = np.argsort(-ds[peaks], kind="stable")
    dv = grid[1] - grid[0]
    f = []
    for j in range(k):
        if j < len(peaks):
            p, w = peaks[order_[j]], widths[order_[j]]
            f += [vm[p], ds[p], w * dv, ds[p] * w * dv]
        else:
            f += [None] * 4
    f += [float(np.trapz(ds, vm)), int(len(peaks)), float(vm[np.argmax(ds)])]
    return {"qs": qs.tolist(), "ds": ds.tolist(), "peaks": peaks.tolist(), "features": f}


def basytec(path, step=13, cycle=1):
    rows = list(csv.reader(open(path, encoding="utf-8", errors="replace")))
    h = next(i for i, r in enumerate(rows) if r and r[0] == "Step")
    c = {name: i for i, name in enumerate(rows[h])}
    q, v = [], []
    for r in rows[h + 2:]:
        if len(r) > c["AhAccu"] and r[c["Step"]] == str(step) and r[c["Cycle"]] == str(cycle):
            q.append(-float(r[c["AhAccu"]]))
            v.append(float(r[c["Voltage"]]))
    return q, v


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(3)
    sg = []
    for n, w, o in [(60, 5, 2), (200, 51, 3), (51, 51, 3), (120, 11, 4), (500, 51, 3), (80, 7, 0), (90, 9, 1)]:
        x = np.cumsum(rng.normal(size=n))
        sg.append({"x": x.tolist(), "window": w, "order": o, "y": savgol_filter(x, w, o, mode="interp").tolist()})
    json.dump(sg, open(os.path.join(OUT, "savgol.json"), "w"))

    signals = [
        [0, 1, 1, 1, 0, 2, 2, 0, 3, 3, 3, 3, 1, 0],                     # plateaus (middle index)
        [0, 5, 0, 5, 0, 5, 0, 4, 0, 6, 0],                               # ties under distance
        [3, 1, 2, 1, 4, 4, 2, 5, 1, 1, 2, 0],                            # edges are never peaks
        (np.sin(np.linspace(0, 12, 300)) + 0.3 * np.sin(np.linspace(0, 70, 300))).tolist(),
    ]
    pk = []
    for s in signals:
        x = np.asarray(s, float)
        for height, distance, prom in [(None, None, None), (0.5, 3, None), (None, 4, 0.8), (1.0, 2, 0.5)]:
            p, _ = find_peaks(x, height=height, distance=distance, prominence=prom)
            pr, lb, rb = peak_prominences(x, p)
            w, wh, li, ri = peak_widths(x, p, rel_height=0.5)
            pk.append({"x": x.tolist(), "height": height or 0, "distance": distance or 0, "prominence": prom or 0,
                       "peaks": p.tolist(), "prominences": pr.tolist(), "left_bases": lb.tolist(),
                       "right_bases": rb.tolist(), "widths": w.tolist(), "width_heights": wh.tolist(),
                       "left_ips": li.tolist(), "right_ips": ri.tolist()})
    json.dump(pk, open(os.path.join(OUT, "peaks.json"), "w"))

    curves = []
    qq = np.linspace(0, 5.0, 1500)
    # a smooth pseudo-OCV discharge: plateaus make dQ/dV peaks
    v_smooth = 4.2 - 0.25 * qq - 0.08 * np.tanh((qq - 1.2) / 0.15) - 0.12 * np.tanh((qq - 3.2) / 0.2) - 0.5 * np.exp(qq - 5.0)
    curves.append(("smooth", qq, v_smooth))
    curves.append(("noisy", qq, v_smooth + rng.normal(scale=0.002, size=qq.size)))
    v_plat = np.round(v_smooth / 0.005) * 0.005                          # logged in 5 mV steps: plateaus
    curves.append(("plateaued", qq, v_plat))
    q, v = basytec(os.path.join(SHARED, "lgm50-fresh-0p1C", "Cell782_0p1C_25degC.csv"))
    curves.append(("lgm50_fresh", np.asarray(q), np.asarray(v)))
    rows = list(csv.reader(open(os.path.join(SHARED, "fast-formation-c20", "diagnostic_test_cell_11_cyc_3.csv"))))
    curves.append(("fast_formation", np.array([float(r[1]) for r in rows[1:]]), np.array([float(r[2]) for r in rows[1:]])))
    out = []
    for name, q, v in curves:
        r = features(q, v)
        r.update({"name": name, "q": np.asarray(q).tolist(), "v": np.asarray(v).tolist()})
        out.append(r)
    json.dump(out, open(os.path.join(OUT, "curves.json"), "w"))
    print("scipy", scipy.__version__, "->", OUT)


if __name__ == "__main__":
    main()
