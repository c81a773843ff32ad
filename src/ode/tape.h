/* The record of a dopri5 solve that its backward pass needs. Internal to src/ode. */
#ifndef BML_ODE_TAPE_H
#define BML_ODE_TAPE_H

#include <stddef.h>

#include "ode/ode.h"

/* the Dormand-Prince 5(4) tableau: stage times, stage weights, error weights (5th - 4th order) and the
 * dense-output midpoint weights */
extern const double bml__dp_alpha[6], bml__dp_beta[6][6], bml__dp_err[7], bml__dp_mid[7];

typedef struct {
    /* initial step: h0 = 0.01 d0 / d1 (or 1e-6), probe at yp = y0 + h0 f0, h1 = (0.01 / max(d1, d2))^(1/5) */
    double d0, d1, d2, h0, h1;
    int h0_const, h1_tiny, dt_from_h0;
    double *yp; /* (n) */
    double *f0, *fp; /* (n) each: f(t0, y0) and f(t0 + h0, yp), the forward's own evaluations */
    /* every attempted step */
    size_t n_steps, cap;
    double *Y;  /* (steps, n) state at the start */
    double *K;  /* (steps, 7, n) slopes; K[0] = f at the start (FSAL), K[6] = f at the end */
    double *YS; /* (steps, 6, n) inputs of stages 1..6; YS[5] is the step's solution */
    double *T, *DT, *ratio;
    int *accepted, *branch; /* branch 0: ratio 0, 1: factor 0.9 ratio^-1/5, 2: capped at 10, 3: floored */
    /* outputs: the accepted step each lies in and its position there */
    size_t *out_step;
    double *out_x;
    double *work; /* scratch of the solve and its backward pass, kept with the tape between solves */
    size_t work_cap;
} bml__dp_tape;

bml_status bml__dopri5(bml_ode_fn f, void *ctx, size_t n, const double *y0, const double *t, size_t T,
                       const bml_ode_opts *o, double *out, long *nfe, bml__dp_tape *tp);
void bml__dp_tape_free(bml__dp_tape *tp); /* and zeroes it */
/* empties the tape for the next solve, keeping its step buffers (no allocation when the next solve takes no
 * more steps) */
void bml__dp_tape_reset(bml__dp_tape *tp);
/* the tape's scratch, at least `need` doubles (contents undefined); NULL without memory */
double *bml__dp_tape_work(bml__dp_tape *tp, size_t need);
/* the backward pass of bml__ode_backprop_dopri5 over the tape of a solve of the same f, y0, t and o */
bml_status bml__dopri5_backward(bml__dp_tape *tape, bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n,
                                const double *y0, const double *t, size_t T, const bml_ode_opts *o, const double *w,
                                double *dy0, double *dparams);

/* euler / rk4 on the grid t with the stage inputs of every step recorded in stages ((T - 1), S, n) when
 * not NULL (S = bml__fixed_stages(method)); nfe is added to */
int bml__fixed_stages(bml_ode_method method);
bml_status bml__fixed_solve(bml_ode_fn f, void *ctx, size_t n, const double *y0, const double *t, size_t T,
                            bml_ode_method method, double *y, long *nfe, double *stages);
/* the backward pass of bml__ode_backprop_fixed over a solve's recorded stage inputs: the vjp is evaluated at
 * the record's own addresses (stages + (step S + stage) n) */
bml_status bml__fixed_backward(bml_ode_vjp vjp, void *ctx, size_t n, const double *t, size_t T, bml_ode_method method,
                               const double *w, const double *stages, double *dy0, double *dparams);

#endif
