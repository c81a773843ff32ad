#!/usr/bin/python3
"""Same-session peer timings of the ODE cases of ../shared/bench-peer/bench.py without torchdiffeq.

torchdiffeq is not packaged for Debian, so bench.py skips `node_*` and `acla`; their figures in the issues
were measured elsewhere in time. This script supplies a stand-in `odeint` with torchdiffeq 0.2's
semantics for the non-adjoint cases -- fixed-grid `euler` and `rk4` (3/8 rule) on the output grid, and
`dopri5` (Hairer's initial step, RMS error norm, step control with safety 0.9 and factors in [0.2, 10],
4th-order dense output; differentiated by autograd through its steps, the step-size controller's output
detached) -- written with torch operations, then runs bench.py's own models, data and training loop on it.
The stand-in is leaner Python than torchdiffeq's solver classes, so if anything it flatters the peer.
`node_dopri5_adjoint` is not reproduced (torchdiffeq's adjoint is not re-implemented here).

    /usr/bin/python3 bench/node_peer.py [--epochs 10] [--cases node_dopri5,node_rk4,node_euler,acla]

Prints bench.py's JSON lines, with "peer_solver": "stand-in (bench/node_peer.py)".
"""
import os
import sys

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench-peer")
PEER = os.environ.get("BML_PEER_DIR", PEER)
OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
if os.environ.get("PEER_BLAS_REEXEC") != "1":  # torch on OpenBLAS, as bench.py --blas openblas does
    env = dict(os.environ, PEER_BLAS_REEXEC="1", LD_LIBRARY_PATH=OPENBLAS_DIR + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import argparse  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--cases", default="node_dopri5,node_rk4,node_euler,acla")
opts = ap.parse_args()

sys.argv = [os.path.join(PEER, "bench.py"), "--blas", "openblas", "--threads", "1", "--epochs", str(opts.epochs),
            "--warmup", str(opts.warmup), "--cases", opts.cases]
sys.path.insert(0, PEER)
import torch  # noqa: E402

import bench  # noqa: E402  (parses the argv above)
import models as M  # noqa: E402

ALPHA = [1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0]
BETA = [[1 / 5], [3 / 40, 9 / 40], [44 / 45, -56 / 15, 32 / 9],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]]
C_ERR = [35 / 384 - 1951 / 21600, 0, 500 / 1113 - 22642 / 50085, 125 / 192 - 451 / 720,
         -2187 / 6784 + 12231 / 42400, 11 / 84 - 649 / 6300, -1 / 60]
C_MID = [6025192743 / 30085553152 / 2, 0, 51252292925 / 65400821598 / 2, -2691868925 / 45128329728 / 2,
         187940372067 / 1594534317056 / 2, -1776094331 / 19743644256 / 2, 11237099 / 235043384 / 2]


def rms(x):
    return x.pow(2).mean().sqrt()


def dopri5(func, y0, t, rtol, atol):
    f0 = func(t[0], y0)
    scale = atol + y0.abs() * rtol
    d0, d1 = rms(y0 / scale), rms(f0 / scale)
    h0 = torch.tensor(1e-6) if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = func(t[0] + h0, y0 + h0 * f0)
    d2 = rms((f1 - f0) / scale) / h0
    h1 = torch.clamp(h0 * 1e-3, min=1e-6) if d1 <= 1e-15 and d2 <= 1e-15 else (0.01 / torch.max(d1, d2)) ** 0.2
    dt = torch.min(100 * h0, h1)
    out, t0, t1, y, f = [y0], t[0], t[0], y0, f0
    coef = None
    for ti in t[1:]:
        while ti > t1:
            k = [f]
            for s in range(6):
                yi = y + dt * sum(b * kq for b, kq in zip(BETA[s], k) if b != 0)
                k.append(func(t1 + ALPHA[s] * dt, yi))
            err = dt * sum(c * kq for c, kq in zip(C_ERR, k) if c != 0)
            ratio = rms(err / (atol + rtol * torch.max(y.abs(), yi.abs())))
            r = float(ratio)
            if r <= 1:  # accept: the dense-output polynomial of [t1, t1 + dt]
                ym = y + dt * sum(c * kq for c, kq in zip(C_MID, k) if c != 0)
                fa, fb = f, k[6]
                coef = (y, dt * fa, dt * (fb - 4 * fa) - 11 * y - 5 * yi + 16 * ym,
                        dt * (5 * fa - 3 * fb) + 18 * y + 14 * yi - 32 * ym, 2 * dt * (fb - fa) - 8 * (yi + y) + 16 * ym)
                t0, t1, y, f = t1, t1 + dt, yi, fb
            factor = 10.0 if r == 0 else min(10.0, max(0.9 * r ** -0.2, 1.0 if r < 1 else 0.2))
            dt = dt.detach() * factor  # the controller's output: a constant to autograd
        x = (ti - t0) / (t1 - t0)
        out.append(coef[0] + x * (coef[1] + x * (coef[2] + x * (coef[3] + x * coef[4]))))
    return torch.stack(out)


def fixed(func, y0, t, rk4):
    out, y = [y0], y0
    for t0, t1 in zip(t[:-1], t[1:]):
        dt = t1 - t0
        if rk4:  # torchdiffeq's rk4: the 3/8 rule
            k1 = func(t0, y)
            k2 = func(t0 + dt / 3, y + dt * k1 / 3)
            k3 = func(t0 + dt * 2 / 3, y + dt * (k2 - k1 / 3))
            k4 = func(t1, y + dt * (k1 - k2 + k3))
            y = y + (k1 + 3 * (k2 + k3) + k4) * dt * 0.125
        else:
            y = y + dt * func(t0, y)
        out.append(y)
    return torch.stack(out)


def odeint(func, y0, t, rtol=1e-7, atol=1e-9, method="dopri5"):
    if method == "dopri5":
        return dopri5(func, y0, t, rtol, atol)
    return fixed(func, y0, t, method == "rk4")


M.odeint = odeint
M.odeint_adjoint = None
M.HAVE_TORCHDIFFEQ = True


def main():
    bench.set_threads(1)
    for case in opts.cases.split(","):
        rec = bench.run_nn(case, 1)
        rec["peer_solver"] = "stand-in (bench/node_peer.py)"
        bench.emit(rec)


if __name__ == "__main__":
    main()
