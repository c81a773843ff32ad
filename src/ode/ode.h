/* ODE solvers with torchdiffeq 0.2 semantics (FACTS.md section 4): euler and rk4 (3/8 rule) on the
 * output grid, dopri5 (Dormand-Prince 5(4), FSAL, Hairer's initial step, mixed RMS error norm, safety 0.9,
 * growth <= 10, shrink >= 0.2, no shrink after an accepted step, 4th-order dense output at the requested
 * times). Double precision over a flat state of n values (a batch is one state: one step size for all).
 * Backpropagation through the fixed-grid solvers by vector-Jacobian products of the dynamics. Internal. */
#ifndef BML_ODE_H
#define BML_ODE_H

#include <stddef.h>

#include "batteryml/status.h"

/* dy/dt = f(t, y): writes dydt (n) */
typedef void (*bml_ode_fn)(void *ctx, double t, const double *y, double *dydt);
/* vector-Jacobian product at (t, y): dy += (df/dy)^T v, dparams += (df/dparams)^T v, and *dt += (df/dt) . v
 * when dt is not NULL */
typedef void (*bml_ode_vjp)(void *ctx, double t, const double *y, const double *v, double *dy, double *dparams, double *dt);

typedef enum { BML_ODE_EULER, BML_ODE_RK4, BML_ODE_DOPRI5 } bml_ode_method;

typedef struct {
    bml_ode_method method;
    double rtol, atol;  /* dopri5 */
    long max_steps;     /* dopri5: a solve needing more steps fails (0: 1e6) */
    const size_t *norm_groups; /* dopri5: consecutive groups of the state (sizes); the error norm is the */
    size_t n_norm_groups;      /* largest RMS over them (torchdiffeq's mixed norm); 0: one RMS over all */
    int grad_through_controller; /* dopri5 backprop: 0 = torchdiffeq (the step controller's output is a
                                    constant), 1 = the exact derivative of the solve */
} bml_ode_opts;

/* Solve from y0 at t[0] and write the solution at every t[i] (strictly increasing) into y (T, n).
 * *nfe receives the number of dynamics evaluations. Fails on a step-size underflow, a non-finite state
 * or more than max_steps steps, with a message saying so. */
bml_status bml__ode_solve(bml_ode_fn f, void *ctx, size_t n, const double *y0, const double *t, size_t T,
                         const bml_ode_opts *o, double *y, long *nfe);

/* Gradient of L = sum(w * y) (w (T, n)) with respect to y0 (dy0, n) and the dynamics' parameters
 * (accumulated into dparams) by backpropagation through a fixed-grid solve (euler, rk4). y_fwd (T, n), the
 * solution bml__ode_solve gave for the same inputs, saves solving again; NULL solves. */
bml_status bml__ode_backprop_fixed(bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n, const double *y0, const double *t,
                                  size_t T, bml_ode_method method, const double *w, const double *y_fwd, double *dy0,
                                  double *dparams);

/* The same through dopri5, as torchdiffeq's direct mode differentiates it: the stages, the dense output,
 * the initial step and the step times, with the accept/reject decisions fixed and the controller's next
 * step a constant (o->grad_through_controller also differentiates the error ratios and step factors).
 * *nfe receives the forward evaluations. */
bml_status bml__ode_backprop_dopri5(bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n, const double *y0, const double *t,
                                   size_t T, const bml_ode_opts *o, const double *w, double *dy0, double *dparams, long *nfe);

/* The same gradient by the adjoint method (torchdiffeq's odeint_adjoint): a forward dopri5 solve, then for
 * each output interval, last first, a dopri5 solve backward in time of the augmented state [y, a, g] with
 * dy/dt = f, da/dt = -a^T df/dy, dg/dt = -a^T df/dparams, restarting y from the forward solution and adding
 * w at each output time. The backward error norm is the largest RMS over y, a and each parameter family
 * (param_sizes, n_param_groups; their sum is np). Memory does not depend on the number of steps.
 * nfe_forward / nfe_backward receive the evaluations of f and of the augmented dynamics. */
bml_status bml__ode_adjoint_dopri5(bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n, size_t np, const size_t *param_sizes,
                                  size_t n_param_groups, const double *y0, const double *t, size_t T, const bml_ode_opts *o,
                                  const double *w, double *dy0, double *dparams, long *nfe_forward, long *nfe_backward);

#endif
