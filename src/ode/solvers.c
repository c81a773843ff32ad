/* ODE solvers (see ode.h). The tableaus are Dormand & Prince (1980) and Kutta's 3/8 rule; the step
 * control and dense output follow torchdiffeq 0.2's rk_common.py as FACTS.md section 4 describes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "ode/ode.h"
#include "ode/tape.h"

/* ------------------------------------------------------------------ Dormand-Prince 5(4) */
const double bml__dp_alpha[6] = {1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0};
const double bml__dp_beta[6][6] = {
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
const double bml__dp_err[7] = {35.0 / 384 - 1951.0 / 21600, 0, 500.0 / 1113 - 22642.0 / 50085,
                               125.0 / 192 - 451.0 / 720, -2187.0 / 6784 - -12231.0 / 42400,
                               11.0 / 84 - 649.0 / 6300, -1.0 / 60};
const double bml__dp_mid[7] = {6025192743.0 / 30085553152 / 2, 0, 51252292925.0 / 65400821598 / 2,
                               -2691868925.0 / 45128329728 / 2, 187940372067.0 / 1594534317056 / 2,
                               -1776094331.0 / 19743644256 / 2, 11237099.0 / 235043384 / 2};
#define DP_ALPHA bml__dp_alpha
#define DP_BETA bml__dp_beta
#define DP_ERR bml__dp_err
#define DP_MID bml__dp_mid

static double rms(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i] * v[i];
    return sqrt(s / (double)n);
}

/* the error norm: RMS over the state, or with norm groups the largest RMS over the groups */
static double norm(const bml_ode_opts *o, const double *v, size_t n) {
    if (!o->n_norm_groups) return rms(v, n);
    double m = 0;
    size_t off = 0;
    for (size_t g = 0; g < o->n_norm_groups && off < n; g++) {
        size_t len = o->norm_groups[g] < n - off ? o->norm_groups[g] : n - off;
        if (len) m = fmax(m, rms(v + off, len));
        off += len;
    }
    return m;
}

/* out[j] = [base[j] +] sum_{q < m} k[q n + j] (w[q] dt), the terms added in q order: the scalar
 * per-element sum, as one pass per m that the compiler vectorises (the solve's state can be large: the
 * adjoint carries every parameter gradient) */
#define COMBINE_TERMS1 k0[j] * c[0]
#define COMBINE_TERMS2 COMBINE_TERMS1 + k0[n + j] * c[1]
#define COMBINE_TERMS3 COMBINE_TERMS2 + k0[2 * n + j] * c[2]
#define COMBINE_TERMS4 COMBINE_TERMS3 + k0[3 * n + j] * c[3]
#define COMBINE_TERMS5 COMBINE_TERMS4 + k0[4 * n + j] * c[4]
#define COMBINE_TERMS6 COMBINE_TERMS5 + k0[5 * n + j] * c[5]
#define COMBINE_TERMS7 COMBINE_TERMS6 + k0[6 * n + j] * c[6]
#define COMBINE_CASE(M)                                                        \
    case M:                                                                    \
        if (base)                                                              \
            for (size_t j = 0; j < n; j++) out[j] = base[j] + (COMBINE_TERMS##M); \
        else                                                                   \
            for (size_t j = 0; j < n; j++) out[j] = COMBINE_TERMS##M;          \
        break;
static void combine(double *restrict out, const double *restrict base, const double *restrict k0, const double *w, int m,
                    double dt, size_t n) {
    double c[7];
    for (int q = 0; q < m; q++) c[q] = w[q] * dt;
    switch (m) {
        COMBINE_CASE(1)
        COMBINE_CASE(2)
        COMBINE_CASE(3)
        COMBINE_CASE(4)
        COMBINE_CASE(5)
        COMBINE_CASE(6)
        COMBINE_CASE(7)
    default: BML__ASSERT(!"combine: 1..7 terms");
    }
}
#undef COMBINE_CASE

static int finite_all(const double *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* Hairer's initial step (torchdiffeq's _select_initial_step with order 4 for dopri5) */
static double initial_step(bml_ode_fn f, void *ctx, size_t n, double t0, const double *y0, const double *f0,
                           const bml_ode_opts *o, double *tmp, double *tmp2, long *nfe, bml__dp_tape *tp) {
    double rtol = o->rtol, atol = o->atol;
    for (size_t i = 0; i < n; i++) tmp[i] = y0[i] / (atol + fabs(y0[i]) * rtol);
    double d0 = norm(o, tmp, n);
    for (size_t i = 0; i < n; i++) tmp[i] = f0[i] / (atol + fabs(y0[i]) * rtol);
    double d1 = norm(o, tmp, n);
    double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
    for (size_t i = 0; i < n; i++) tmp[i] = y0[i] + h0 * f0[i];
    if (tp && (tp->yp = malloc(n * sizeof *tp->yp))) memcpy(tp->yp, tmp, n * sizeof *tmp);
    f(ctx, t0 + h0, tmp, tmp2);
    (*nfe)++;
    if (tp && (tp->f0 = malloc(n * sizeof *tp->f0)) && (tp->fp = malloc(n * sizeof *tp->fp))) { /* for the backward pass */
        memcpy(tp->f0, f0, n * sizeof *f0);
        memcpy(tp->fp, tmp2, n * sizeof *tmp2);
    }
    for (size_t i = 0; i < n; i++) tmp[i] = (tmp2[i] - f0[i]) / (atol + fabs(y0[i]) * rtol);
    double d2 = norm(o, tmp, n) / h0;
    double h1 = d1 <= 1e-15 && d2 <= 1e-15 ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / fmax(d1, d2), 1.0 / 5.0);
    if (tp) {
        tp->d0 = d0, tp->d1 = d1, tp->d2 = d2, tp->h0 = h0, tp->h1 = h1;
        tp->h0_const = d0 < 1e-5 || d1 < 1e-5;
        tp->h1_tiny = d1 <= 1e-15 && d2 <= 1e-15;
        tp->dt_from_h0 = 100 * h0 < h1;
    }
    return fmin(100 * h0, h1);
}

void bml__dp_tape_reset(bml__dp_tape *tp) {
    free(tp->yp), free(tp->f0), free(tp->fp), free(tp->out_step), free(tp->out_x);
    tp->yp = tp->f0 = tp->fp = NULL, tp->out_step = NULL, tp->out_x = NULL;
    tp->n_steps = 0;
    tp->d0 = tp->d1 = tp->d2 = tp->h0 = tp->h1 = 0;
    tp->h0_const = tp->h1_tiny = tp->dt_from_h0 = 0;
}

double *bml__dp_tape_work(bml__dp_tape *tp, size_t need) {
    if (need > tp->work_cap) {
        double *w = realloc(tp->work, need * sizeof *w);
        if (!w) return NULL;
        tp->work = w, tp->work_cap = need;
    }
    return tp->work;
}

static int tape_grow(bml__dp_tape *tp, size_t n) {
    if (tp->n_steps < tp->cap) return 0;
    size_t cap = tp->cap ? 2 * tp->cap : 16;
    double *Y = realloc(tp->Y, cap * n * sizeof *Y), *K = realloc(tp->K, cap * 7 * n * sizeof *K);
    if (Y) tp->Y = Y;
    if (K) tp->K = K;
    double *YS = realloc(tp->YS, cap * 6 * n * sizeof *YS);
    if (YS) tp->YS = YS;
    double *TT = realloc(tp->T, cap * sizeof *TT), *DT = realloc(tp->DT, cap * sizeof *DT), *R = realloc(tp->ratio, cap * sizeof *R);
    if (TT) tp->T = TT;
    if (DT) tp->DT = DT;
    if (R) tp->ratio = R;
    int *A = realloc(tp->accepted, cap * sizeof *A), *B = realloc(tp->branch, cap * sizeof *B);
    if (A) tp->accepted = A;
    if (B) tp->branch = B;
    if (!Y || !K || !YS || !TT || !DT || !R || !A || !B) return -1;
    tp->cap = cap;
    return 0;
}

void bml__dp_tape_free(bml__dp_tape *tp) {
    free(tp->Y), free(tp->K), free(tp->YS), free(tp->T), free(tp->DT), free(tp->ratio), free(tp->accepted), free(tp->branch);
    free(tp->yp), free(tp->f0), free(tp->fp), free(tp->out_step), free(tp->out_x), free(tp->work);
    memset(tp, 0, sizeof *tp);
}

bml_status bml__dopri5(bml_ode_fn f, void *ctx, size_t n, const double *y0_in, const double *t, size_t T,
                       const bml_ode_opts *o, double *out, long *nfe, bml__dp_tape *tp) {
    /* every part of the scratch is written before it is read; with a tape, the tape's (kept between solves) */
    double *buf = tp ? bml__dp_tape_work(tp, n * 16) : malloc(n * 16 * sizeof *buf);
    if (!buf) return bml__fail(BML_ERR_NOMEM, "out of memory");
    double *y0 = buf, *f0 = buf + n, *k = buf + 2 * n /* 7 stages */, *yi = buf + 9 * n, *err = buf + 10 * n;
    double *coef = buf + 11 * n; /* 5 dense-output coefficients */
    memcpy(y0, y0_in, n * sizeof *y0);
    memcpy(out, y0, n * sizeof *out);
    f(ctx, t[0], y0, f0);
    (*nfe)++;
    double t0 = t[0], t1 = t[0]; /* the last accepted step [t0, t1] */
    double dt = initial_step(f, ctx, n, t[0], y0, f0, o, yi, err, nfe, tp);
    if (tp) {
        tp->out_step = calloc(T, sizeof *tp->out_step);
        tp->out_x = calloc(T, sizeof *tp->out_x);
        if (!tp->out_step || !tp->out_x) {
            if (!tp) free(buf);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
    }
    size_t last_accepted = (size_t)-1;
    for (size_t i = 0; i < n; i++) coef[i] = y0[i]; /* before any step: constant y0 */
    memset(coef + n, 0, 4 * n * sizeof *coef);
    long steps = 0, max_steps = o->max_steps > 0 ? o->max_steps : 1000000;
    bml_status st = BML_OK;
    for (size_t ti = 1; ti < T && st == BML_OK; ti++) {
        while (t[ti] > t1) {
            if (++steps > max_steps) {
                st = bml__fail(BML_ERR_VALUE, "dopri5: more than %ld steps before t = %g (stiff or diverging dynamics?)",
                               max_steps, t[ti]);
                break;
            }
            double ts = t1, te = t1 + dt;
            if (!(dt > 0) || te == ts) {
                st = bml__fail(BML_ERR_VALUE, "dopri5: step size underflow (%g) at t = %g", dt, ts);
                break;
            }
            /* stages: k0 = f0 (FSAL), k_i = f(t + alpha_i dt, y0 + dt sum beta_ij k_j); with a tape the stage
             * inputs are written straight into it */
            double *ysv = NULL;
            if (tp) {
                if (tape_grow(tp, n)) {
                    st = bml__fail(BML_ERR_NOMEM, "out of memory");
                    break;
                }
                ysv = tp->YS + tp->n_steps * 6 * n;
            }
            memcpy(k, f0, n * sizeof *k);
            for (int s = 0; s < 6; s++) {
                double *in = ysv ? ysv + (size_t)s * n : yi;
                combine(in, y0, k, DP_BETA[s], s + 1, dt, n);
                f(ctx, DP_ALPHA[s] == 1.0 ? te : ts + DP_ALPHA[s] * dt, in, k + (size_t)(s + 1) * n);
                (*nfe)++;
            }
            const double *y1 = ysv ? ysv + 5 * n : yi; /* FSAL: the last stage's input; k6 = f(t1, y1) */
            /* error estimate and ratio */
            combine(err, NULL, k, DP_ERR, 7, dt, n);
            for (size_t j = 0; j < n; j++) { /* y0 is finite; a non-finite y1 fails below either way */
                double a = fabs(y0[j]), b = fabs(y1[j]);
                err[j] = err[j] / (o->atol + o->rtol * (a > b ? a : b));
            }
            double ratio = norm(o, err, n);
            if (!finite_all(y1, n) || !isfinite(ratio)) {
                st = bml__fail(BML_ERR_VALUE, "dopri5: the state became non-finite at t = %g", te);
                break;
            }
            double mid = ratio == 0 ? 0 : 0.9 / pow(ratio, 1.0 / 5.0), lowf = ratio < 1 ? 1.0 : 0.2;
            int branch = ratio == 0 ? 0 : mid >= 10.0 ? 2 : mid >= lowf ? 1 : 3; /* 1: the factor depends on the ratio */
            if (tp) {
                size_t s_ = tp->n_steps++;
                memcpy(tp->Y + s_ * n, y0, n * sizeof *y0);
                memcpy(tp->K + s_ * 7 * n, k, 7 * n * sizeof *k);
                tp->T[s_] = ts, tp->DT[s_] = dt, tp->ratio[s_] = ratio, tp->accepted[s_] = ratio <= 1, tp->branch[s_] = branch;
            }
            if (ratio <= 1) last_accepted = tp ? tp->n_steps - 1 : 0;
            if (ratio <= 1) { /* accept: dense output on [ts, te], move on */
                double *ym = err; /* the error is spent: the midpoint y0 + dt sum mid_q k_q */
                combine(ym, y0, k, DP_MID, 7, dt, n);
                for (size_t j = 0; j < n; j++) {
                    double fa = k[j], fb = k[6 * n + j], ya = y0[j], yb = y1[j], m = ym[j];
                    coef[j] = ya;                                                                 /* e */
                    coef[n + j] = dt * fa;                                                        /* d */
                    coef[2 * n + j] = dt * (fb - 4 * fa) - 11 * ya - 5 * yb + 16 * m;             /* c */
                    coef[3 * n + j] = dt * (5 * fa - 3 * fb) + 18 * ya + 14 * yb - 32 * m;        /* b */
                    coef[4 * n + j] = 2 * dt * (fb - fa) - 8 * (yb + ya) + 16 * m;                /* a */
                }
                t0 = ts;
                t1 = te;
                memcpy(y0, y1, n * sizeof *y0);
                memcpy(f0, k + 6 * n, n * sizeof *f0);
            }
            /* next step: min(10, max(0.9 ratio^(-1/5), 0.2)), never below 1 after an accepted step */
            double factor = ratio == 0 ? 10.0 : fmin(10.0, fmax(0.9 / pow(ratio, 1.0 / 5.0), ratio < 1 ? 1.0 : 0.2));
            dt *= factor;
        }
        if (st != BML_OK) break;
        /* dense output at t[ti] inside [t0, t1] */
        double x = (t[ti] - t0) / (t1 - t0);
        if (tp) tp->out_step[ti] = last_accepted, tp->out_x[ti] = x;
        for (size_t j = 0; j < n; j++) {
            double tot = coef[j] + x * coef[n + j], xp = x;
            for (int c = 2; c < 5; c++) {
                xp *= x;
                tot += xp * coef[(size_t)c * n + j];
            }
            out[ti * n + j] = tot;
        }
    }
    if (!tp) free(buf);
    return st;
}

/* ------------------------------------------------------------------ fixed grid: euler, rk4 (3/8) */
typedef struct {
    int stages;
    double c[4], a[4][4], b[4];
} tableau;

static const tableau EULER = {1, {0}, {{0}}, {1}};
static const tableau RK38 = {4, {0, 1.0 / 3, 2.0 / 3, 1}, {{0}, {1.0 / 3}, {-1.0 / 3, 1}, {1, -1, 1}}, {0.125, 0.375, 0.375, 0.125}};

/* one step; stage inputs Y (stages, n) and slopes K (stages, n) kept for backpropagation */
static void fixed_step(bml_ode_fn f, void *ctx, const tableau *tb, size_t n, double t0, double dt, const double *y0,
                       double *Y, double *K, double *y1) {
    for (int s = 0; s < tb->stages; s++) {
        double *ys = Y + (size_t)s * n;
        for (size_t j = 0; j < n; j++) {
            double acc = 0;
            for (int q = 0; q < s; q++) acc += tb->a[s][q] * K[(size_t)q * n + j];
            ys[j] = y0[j] + dt * acc;
        }
        double ts = tb->c[s] == 1.0 ? t0 + dt : t0 + tb->c[s] * dt;
        f(ctx, ts, ys, K + (size_t)s * n);
    }
    for (size_t j = 0; j < n; j++) {
        double acc = 0;
        for (int s = 0; s < tb->stages; s++) acc += tb->b[s] * K[(size_t)s * n + j];
        y1[j] = y0[j] + dt * acc;
    }
}

int bml__fixed_stages(bml_ode_method method) { return method == BML_ODE_EULER ? EULER.stages : RK38.stages; }

bml_status bml__fixed_solve(bml_ode_fn f, void *ctx, size_t n, const double *y0, const double *t, size_t T,
                            bml_ode_method method, double *y, long *nfe, double *stages) {
    const tableau *tb = method == BML_ODE_EULER ? &EULER : &RK38;
    size_t S = (size_t)tb->stages;
    double *buf = malloc(S * n * (stages ? 1 : 2) * sizeof *buf); /* slopes, and stage inputs without a record */
    if (!buf) return bml__fail(BML_ERR_NOMEM, "out of memory");
    memcpy(y, y0, n * sizeof *y);
    bml_status st = BML_OK;
    for (size_t i = 1; i < T; i++) {
        double *Y = stages ? stages + (i - 1) * S * n : buf + S * n;
        fixed_step(f, ctx, tb, n, t[i - 1], t[i] - t[i - 1], y + (i - 1) * n, Y, buf, y + i * n);
        *nfe += tb->stages;
        if (!finite_all(y + i * n, n)) {
            st = bml__fail(BML_ERR_VALUE, "ODE solve: the state became non-finite at t = %g", t[i]);
            break;
        }
    }
    free(buf);
    return st;
}

bml_status bml__ode_solve(bml_ode_fn f, void *ctx, size_t n, const double *y0, const double *t, size_t T,
                         const bml_ode_opts *o, double *y, long *nfe) {
    *nfe = 0;
    if (T == 0) return BML_OK;
    for (size_t i = 1; i < T; i++)
        if (!(t[i] > t[i - 1])) return bml__fail(BML_ERR_VALUE, "ODE solve: times must increase (t[%zu] = %g)", i, t[i]);
    if (o->method == BML_ODE_DOPRI5) return bml__dopri5(f, ctx, n, y0, t, T, o, y, nfe, NULL);
    return bml__fixed_solve(f, ctx, n, y0, t, T, o->method, y, nfe, NULL);
}

bml_status bml__fixed_backward(bml_ode_vjp vjp, void *ctx, size_t n, const double *t, size_t T, bml_ode_method method,
                               const double *w, const double *stages, double *dy0, double *dparams) {
    const tableau *tb = method == BML_ODE_EULER ? &EULER : &RK38;
    size_t S = (size_t)tb->stages;
    double *a = calloc(n, sizeof *a), *g = calloc(S * n, sizeof *g), *dY = calloc(n, sizeof *dY);
    if (!a || !g || !dY) {
        free(a), free(g), free(dY);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    /* adjoint of the outputs, backwards through every step */
    memcpy(a, w + (T - 1) * n, n * sizeof *a);
    for (size_t i = T - 1; i >= 1; i--) {
        double t0 = t[i - 1], dt = t[i] - t[i - 1];
        const double *Y = stages + (i - 1) * S * n; /* the step's stage inputs, as the forward solve made them */
        /* y1 = y0 + dt sum b_s k_s: dL/dk_s = dt b_s a */
        for (size_t s = 0; s < S; s++)
            for (size_t j = 0; j < n; j++) g[s * n + j] = dt * tb->b[s] * a[j];
        /* a stays as dL/dy0 through the identity path; stages add through their inputs */
        for (size_t s = S; s-- > 0;) {
            memset(dY, 0, n * sizeof *dY);
            double ts = tb->c[s] == 1.0 ? t0 + dt : t0 + tb->c[s] * dt;
            vjp(ctx, ts, Y + s * n, g + s * n, dY, dparams, NULL);
            for (size_t j = 0; j < n; j++) a[j] += dY[j];
            for (size_t q = 0; q < s; q++)
                if (tb->a[s][q] != 0)
                    for (size_t j = 0; j < n; j++) g[q * n + j] += dt * tb->a[s][q] * dY[j];
        }
        for (size_t j = 0; j < n; j++) a[j] += w[(i - 1) * n + j];
    }
    memcpy(dy0, a, n * sizeof *a);
    free(a), free(g), free(dY);
    return BML_OK;
}

bml_status bml__ode_backprop_fixed(bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n, const double *y0, const double *t,
                                  size_t T, bml_ode_method method, const double *w, const double *y_fwd, double *dy0,
                                  double *dparams) {
    if (method == BML_ODE_DOPRI5) return bml__fail(BML_ERR_STATE, "backpropagation through dopri5 is not available here");
    const tableau *tb = method == BML_ODE_EULER ? &EULER : &RK38;
    size_t S = (size_t)tb->stages;
    double *stages = malloc(((T > 1 ? T - 1 : 0) * S + 1) * n * sizeof *stages), *ys = malloc((T * n + 1) * sizeof *ys);
    double *K = malloc(S * n * sizeof *K), *tmp = malloc(n * sizeof *tmp);
    bml_status st = stages && ys && K && tmp ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) {
        if (y_fwd) /* the stage inputs of each step from the given solution */
            for (size_t i = 1; i < T; i++)
                fixed_step(f, ctx, tb, n, t[i - 1], t[i] - t[i - 1], y_fwd + (i - 1) * n, stages + (i - 1) * S * n, K, tmp);
        else {
            long nfe = 0;
            st = bml__fixed_solve(f, ctx, n, y0, t, T, method, ys, &nfe, stages);
        }
    }
    if (st == BML_OK) st = bml__fixed_backward(vjp, ctx, n, t, T, method, w, stages, dy0, dparams);
    free(stages), free(ys), free(K), free(tmp);
    return st;
}
