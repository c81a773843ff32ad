#!/usr/bin/python3
"""The ICA feature steps in Python with numpy/scipy (Debian python3-scipy), timed on the same curves as
bench_ica: reads the curves from a binary file (u64 count, then per curve u64 n, n doubles q, n doubles v)
and prints one JSON line with curves_per_s."""
import json
import struct
import sys
import time

import numpy as np
from scipy.signal import find_peaks, peak_widths, savgol_filter


def features(q, v):
    keep = (v >= 3.0) & (v <= 4.2)
    q, v = q[keep], v[keep]
    o = np.argsort(v, kind="stable")
    q, v = q[o], v[o]
    grid = np.linspace(v[0], v[-1], 500)
    qs = savgol_filter(np.interp(grid, v, q), 51, 3, mode="interp")
    dq = np.diff(qs) / np.diff(grid)
    vm = 0.5 * (grid[:-1] + grid[1:])
    ds = np.abs(savgol_filter(dq, 51, 3, mode="interp"))
    peaks, _ = find_peaks(ds, height=0.01, distance=200, prominence=0.01)
    widths = peak_widths(ds, peaks, rel_height=0.5)[0]
    return peaks, widths, np.trapz(ds, vm), vm[np.argmax(ds)]


def main(path, reps):
    data = open(path, "rb").read()
    (count,) = struct.unpack_from("<Q", data, 0)
    off, curves = 8, []
    for _ in range(count):
        (n,) = struct.unpack_from("<Q", data, off)
        off += 8
        q = np.frombuffer(data, "<f8", n, off)
        off += 8 * n
        v = np.frombuffer(data, "<f8", n, off)
        off += 8 * n
        curves.append((q, v))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for q, v in curves:
            features(q, v)
        best = min(best, time.perf_counter() - t0)
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    print(json.dumps({"cpu": cpu, "case": "ica_features_python", "threads": 1, "curves": count, "points_per_curve": int(len(curves[0][0])),
                      "seconds": round(best, 6), "curves_per_s": round(count / best, 1)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
