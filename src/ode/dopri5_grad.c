/* Backpropagation through a dopri5 solve (torchdiffeq's direct mode): reverse-mode differentiation of
 * the computations recorded on the tape; the accept/reject decisions and the branches of the min/max
 * operations stay as the forward took them. As in torchdiffeq, the step-size controller's output (the next
 * step from the error ratio) is a constant to the gradient while the initial step is not; with
 * o->grad_through_controller the error ratios and step factors are differentiated too, which gives the
 * exact derivative of the forward solve (the one finite differences see). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "ode/ode.h"
#include "ode/tape.h"

#define ALPHA bml__dp_alpha
#define BETA bml__dp_beta
#define CERR bml__dp_err
#define MID bml__dp_mid

static double sgn(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

/* sum_i a[i] b[i] in four interleaved partial sums (independent chains the CPU overlaps) */
static double dot(const double *a, const double *b, size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* the backward of r = rms(q): accumulate r_bar * q_i / (n r) into q_bar */
static void rms_back(const double *q, size_t n, double r, double r_bar, double *q_bar) {
    if (r <= 0 || r_bar == 0) return;
    for (size_t i = 0; i < n; i++) q_bar[i] += r_bar * q[i] / ((double)n * r);
}

bml_status bml__ode_backprop_dopri5(bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n, const double *y0, const double *t,
                                   size_t T, const bml_ode_opts *o, const double *w, double *dy0, double *dparams, long *nfe) {
    if (o->n_norm_groups) return bml__fail(BML_ERR_VALUE, "dopri5 backprop: norm groups are not supported");
    bml__dp_tape tp = {0};
    double *out = calloc(T * n + 1, sizeof *out);
    if (!out) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *nfe = 0;
    bml_status st = bml__dopri5(f, ctx, n, y0, t, T, o, out, nfe, &tp);
    free(out);
    if (st == BML_OK) st = bml__dopri5_backward(&tp, f, vjp, ctx, n, y0, t, T, o, w, dy0, dparams);
    bml__dp_tape_free(&tp);
    return st;
}

bml_status bml__dopri5_backward(bml__dp_tape *tape, bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n,
                                const double *y0, const double *t, size_t T, const bml_ode_opts *o, const double *w,
                                double *dy0, double *dparams) {
    /* the sub-arrays are padded by a cache line each: whole multiples of 4 KiB apart, the loads of one would
     * wait on stores to another (4K aliasing) */
    size_t m = n + 8;
    double *work = bml__dp_tape_work(tape, 34 * m); /* the tape's scratch: no allocation per backward pass */
    if (!work) return bml__fail(BML_ERR_NOMEM, "out of memory");
    const bml__dp_tape tp = *tape; /* read only from here */
    double rtol = o->rtol, atol = o->atol;
    /* carry: adjoints of the state after the step being processed (y, f, t, dt); the step's adjoints, the
     * dense-output coefficients d, c, b, a (dc), and scratch */
    double *aY = work, *aF = aY + m, *bK = aF + m, *bYS = bK + 7 * m, *bY = bYS + 6 * m, *bym = bY + m, *bc = bym + m;
    double *dY = bc + 5 * m, *tmp = dY + m, *dc = tmp + 3 * m, *qv = dc + 4 * m, *bq = qv + m, *byp = bq + m, *f0 = byp + m;
    memset(aY, 0, n * sizeof *aY);
    memset(aF, 0, n * sizeof *aF);
    double aT = 0, aDT = 0;
    const int ctl = o->grad_through_controller;
    for (size_t j = tp.n_steps; j-- > 0;) {
        const double *Y = tp.Y + j * n, *K = tp.K + j * 7 * n, *YS = tp.YS + j * 6 * n, *y1 = YS + 5 * n;
        double DT = tp.DT[j], T0 = tp.T[j], ratio = tp.ratio[j];
        memset(bK, 0, 7 * n * sizeof *bK);
        memset(bYS, 0, 6 * n * sizeof *bYS);
        memset(bY, 0, n * sizeof *bY);
        double bT = 0, bDT = 0;
        /* the state transition */
        if (tp.accepted[j]) {
            for (size_t i = 0; i < n; i++) bYS[5 * n + i] += aY[i], bK[6 * n + i] += aF[i];
            bT += aT, bDT += aT;
        } else {
            for (size_t i = 0; i < n; i++) bY[i] += aY[i], bK[i] += aF[i];
            bT += aT;
        }
        double mid = ratio > 0 ? 0.9 / pow(ratio, 0.2) : 0, factor;
        switch (tp.branch[j]) {
        case 0: case 2: factor = 10.0; break;
        case 1: factor = mid; break;
        default: factor = ratio < 1 ? 1.0 : 0.2;
        }
        if (ctl) bDT += aDT * factor; /* dt_next = factor * DT */
        double bratio = ctl && tp.branch[j] == 1 ? aDT * DT * (-0.2) * mid / ratio : 0;
        /* dense output of the outputs in this step */
        memset(bc, 0, 5 * n * sizeof *bc); /* e, d, c, b, a */
        int has_out = 0;
        for (size_t ti = 1; ti < T; ti++) {
            if (tp.out_step[ti] != j) continue;
            if (!has_out) /* the step's polynomial coefficients, once */
                for (size_t i = 0; i < n; i++) {
                    double fa = K[i], fb = K[6 * n + i], ya = Y[i], yb = y1[i], ym = ya;
                    for (int q = 0; q < 7; q++) ym += K[(size_t)q * n + i] * (DT * MID[q]);
                    dc[i] = DT * fa;
                    dc[n + i] = DT * (fb - 4 * fa) - 11 * ya - 5 * yb + 16 * ym;
                    dc[2 * n + i] = DT * (5 * fa - 3 * fb) + 18 * ya + 14 * yb - 32 * ym;
                    dc[3 * n + i] = 2 * DT * (fb - fa) - 8 * (yb + ya) + 16 * ym;
                }
            has_out = 1;
            double x = tp.out_x[ti], x2 = x * x, x3 = x2 * x, x4 = x3 * x;
            const double *wi = w + ti * n;
            for (size_t i = 0; i < n; i++) {
                double wv = wi[i];
                bc[i] += wv;
                bc[n + i] += x * wv;
                bc[2 * n + i] += x2 * wv;
                bc[3 * n + i] += x3 * wv;
                bc[4 * n + i] += x4 * wv;
            }
            /* d out / d x = d + 2 x c + 3 x^2 b + 4 x^3 a */
            double bx = dot(wi, dc, n) + 2 * x * dot(wi, dc + n, n) + 3 * x2 * dot(wi, dc + 2 * n, n) + 4 * x3 * dot(wi, dc + 3 * n, n);
            bT += -bx / DT; /* x = (t - T0) / ((T0 + DT) - T0) */
            bDT += -bx * x / DT;
        }
        if (has_out) {
            memset(bym, 0, n * sizeof *bym);
            for (size_t i = 0; i < n; i++) {
                double fa = K[i], fb = K[6 * n + i];
                double be = bc[i], bd = bc[n + i], bcc = bc[2 * n + i], bb = bc[3 * n + i], ba = bc[4 * n + i];
                bY[i] += be;
                bK[i] += DT * bd;
                bDT += bd * fa;
                bK[6 * n + i] += DT * bcc, bK[i] += -4 * DT * bcc, bDT += bcc * (fb - 4 * fa);
                bY[i] += -11 * bcc, bYS[5 * n + i] += -5 * bcc, bym[i] += 16 * bcc;
                bK[i] += 5 * DT * bb, bK[6 * n + i] += -3 * DT * bb, bDT += bb * (5 * fa - 3 * fb);
                bY[i] += 18 * bb, bYS[5 * n + i] += 14 * bb, bym[i] += -32 * bb;
                bK[6 * n + i] += 2 * DT * ba, bK[i] += -2 * DT * ba, bDT += ba * 2 * (fb - fa);
                bYS[5 * n + i] += -8 * ba, bY[i] += -8 * ba, bym[i] += 16 * ba;
                /* ym = Y + sum_q K_q (DT mid_q) */
                bY[i] += bym[i];
                for (int q = 0; q < 7; q++) {
                    bK[(size_t)q * n + i] += bym[i] * DT * MID[q];
                    bDT += bym[i] * K[(size_t)q * n + i] * MID[q];
                }
            }
        }
        /* the error ratio: rms(err / tol), err = sum_q K_q DT c_q, tol = atol + rtol max(|Y|, |y1|) */
        if (bratio != 0 && ratio > 0) {
            double *u = tmp, *bu = tmp + n;
            for (size_t i = 0; i < n; i++) {
                double e = 0;
                for (int q = 0; q < 7; q++) e += K[(size_t)q * n + i] * (DT * CERR[q]);
                u[i] = e / (atol + rtol * fmax(fabs(Y[i]), fabs(y1[i])));
                bu[i] = 0;
            }
            rms_back(u, n, ratio, bratio, bu);
            for (size_t i = 0; i < n; i++) {
                double tol = atol + rtol * fmax(fabs(Y[i]), fabs(y1[i])), berr = bu[i] / tol, btol = -bu[i] * u[i] / tol;
                for (int q = 0; q < 7; q++) {
                    bK[(size_t)q * n + i] += berr * DT * CERR[q];
                    bDT += berr * K[(size_t)q * n + i] * CERR[q];
                }
                if (fabs(Y[i]) >= fabs(y1[i])) bY[i] += btol * rtol * sgn(Y[i]);
                else bYS[5 * n + i] += btol * rtol * sgn(y1[i]);
            }
        }
        /* the stages, last first: K[s+1] = f(T0 + alpha_s DT, YS[s]), YS[s] = Y + sum_{q<=s} K_q beta_sq DT */
        for (int s = 5; s >= 0; s--) {
            double *bys = bYS + (size_t)s * n, bts = 0;
            memset(dY, 0, n * sizeof *dY);
            double ts = ALPHA[s] == 1.0 ? T0 + DT : T0 + ALPHA[s] * DT;
            vjp(ctx, ts, YS + (size_t)s * n, bK + (size_t)(s + 1) * n, dY, dparams, &bts);
            for (size_t i = 0; i < n; i++) bys[i] += dY[i];
            bT += bts;
            bDT += bts * ALPHA[s];
            for (size_t i = 0; i < n; i++) bY[i] += bys[i];
            for (int q = 0; q <= s; q++) {
                double *bKq = bK + (size_t)q * n;
                for (size_t i = 0; i < n; i++) bKq[i] += bys[i] * BETA[s][q] * DT;
                bDT += dot(bys, K + (size_t)q * n, n) * BETA[s][q];
            }
        }
        memcpy(aY, bY, n * sizeof *aY);
        memcpy(aF, bK, n * sizeof *aF); /* K[0] is the step's input slope */
        aT = bT;
        aDT = bDT;
    }
    /* the start: y(t0) = y0, f0 = f(t0, y0), dt0 from Hairer's rule */
    {
        double *scale = tmp, *bscale = tmp + n, *fp = tmp + 2 * n;
        double *bf0 = aF, *by0 = aY; /* continue accumulating */
        for (size_t i = 0; i < n; i++) by0[i] += w[i], scale[i] = atol + fabs(y0[i]) * rtol, bscale[i] = 0;
        memset(byp, 0, n * sizeof *byp);
        if (tp.f0) memcpy(f0, tp.f0, n * sizeof *f0); /* the forward's own evaluation */
        else f(ctx, t[0], y0, f0);
        double bh0 = 0, bh1 = 0, bd0 = 0, bd1 = 0, bd2 = 0;
        if (tp.dt_from_h0) bh0 += 100 * aDT;
        else bh1 += aDT;
        if (!tp.h1_tiny) {
            double dm = fmax(tp.d1, tp.d2), bm = bh1 * (-tp.h1 / (5 * dm));
            if (tp.d1 >= tp.d2) bd1 += bm;
            else bd2 += bm;
        } else if (tp.h0 * 1e-3 > 1e-6) {
            bh0 += 1e-3 * bh1;
        }
        /* d2 = rms((fp - f0) / scale) / h0 with fp = f(t0 + h0, yp), yp = y0 + h0 f0 */
        if (tp.fp) memcpy(fp, tp.fp, n * sizeof *fp);
        else f(ctx, t[0] + tp.h0, tp.yp, fp);
        double rz = tp.d2 * tp.h0;
        bh0 += -bd2 * tp.d2 / tp.h0;
        for (size_t i = 0; i < n; i++) qv[i] = (fp[i] - f0[i]) / scale[i], bq[i] = 0;
        rms_back(qv, n, rz, bd2 / tp.h0, bq);
        double *bfp = fp; /* reuse: fp itself is no longer needed */
        for (size_t i = 0; i < n; i++) {
            double bz = bq[i];
            bfp[i] = bz / scale[i];
            bf0[i] += -bz / scale[i];
            bscale[i] += -bz * qv[i] / scale[i];
        }
        double bt = 0;
        vjp(ctx, t[0] + tp.h0, tp.yp, bfp, byp, dparams, &bt);
        bh0 += bt;
        for (size_t i = 0; i < n; i++) {
            by0[i] += byp[i];
            bf0[i] += tp.h0 * byp[i];
            bh0 += byp[i] * f0[i];
        }
        if (!tp.h0_const) {
            bd0 += bh0 * 0.01 / tp.d1;
            bd1 += -bh0 * 0.01 * tp.d0 / (tp.d1 * tp.d1);
        }
        /* d0 = rms(y0 / scale), d1 = rms(f0 / scale) */
        for (size_t i = 0; i < n; i++) qv[i] = y0[i] / scale[i], bq[i] = 0;
        rms_back(qv, n, tp.d0, bd0, bq);
        for (size_t i = 0; i < n; i++) by0[i] += bq[i] / scale[i], bscale[i] += -bq[i] * qv[i] / scale[i];
        for (size_t i = 0; i < n; i++) qv[i] = f0[i] / scale[i], bq[i] = 0;
        rms_back(qv, n, tp.d1, bd1, bq);
        for (size_t i = 0; i < n; i++) bf0[i] += bq[i] / scale[i], bscale[i] += -bq[i] * qv[i] / scale[i];
        for (size_t i = 0; i < n; i++) by0[i] += bscale[i] * rtol * sgn(y0[i]);
        /* f0 = f(t0, y0) */
        memset(byp, 0, n * sizeof *byp);
        vjp(ctx, t[0], y0, bf0, byp, dparams, NULL);
        for (size_t i = 0; i < n; i++) dy0[i] = by0[i] + byp[i];
    }
    return BML_OK;
}
