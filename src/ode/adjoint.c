/* The adjoint method for dopri5 solves, as torchdiffeq 0.2's odeint_adjoint computes it. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "ode/ode.h"
#include "ode/tape.h"

typedef struct {
    bml_ode_fn f;
    bml_ode_vjp vjp;
    void *ctx;
    size_t n, np;
    double *v; /* (n) scratch: -a */
} aug_ctx;

/* the augmented dynamics in reversed time s = -t: d[y, a, g]/ds = -[f, -a^T df/dy, -a^T df/dp] at t = -s */
static void aug_rev(void *vc, double s, const double *z, double *dz) {
    aug_ctx *c = vc;
    size_t n = c->n;
    const double *y = z, *a = z + n;
    c->f(c->ctx, -s, y, dz);
    for (size_t i = 0; i < n; i++) dz[i] = -dz[i], c->v[i] = -a[i];
    memset(dz + n, 0, (n + c->np) * sizeof *dz);
    c->vjp(c->ctx, -s, y, c->v, dz + n, dz + 2 * n, NULL); /* (df/dy)^T (-a), (df/dp)^T (-a) */
    for (size_t i = n; i < 2 * n + c->np; i++) dz[i] = -dz[i];
}

bml_status bml__ode_adjoint_dopri5(bml_ode_fn f, bml_ode_vjp vjp, void *ctx, size_t n, size_t np, const size_t *param_sizes,
                                  size_t n_param_groups, const double *y0, const double *t, size_t T, const bml_ode_opts *o,
                                  const double *w, double *dy0, double *dparams, long *nfe_forward, long *nfe_backward) {
    *nfe_forward = *nfe_backward = 0;
    if (o->method != BML_ODE_DOPRI5) return bml__fail(BML_ERR_VALUE, "the adjoint method is implemented for dopri5");
    size_t na = 2 * n + np, *groups = calloc(2 + n_param_groups, sizeof *groups);
    double *y = calloc(T * n, sizeof *y), *z = calloc(2 * na, sizeof *z), *v = calloc(n, sizeof *v);
    if (!groups || !y || !z || !v) {
        free(groups), free(y), free(z), free(v);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml_status st = bml__ode_solve(f, ctx, n, y0, t, T, o, y, nfe_forward);
    groups[0] = n, groups[1] = n;
    for (size_t g = 0; g < n_param_groups; g++) groups[2 + g] = param_sizes[g];
    bml_ode_opts ob = *o;
    ob.norm_groups = groups, ob.n_norm_groups = 2 + n_param_groups;
    aug_ctx ac = {f, vjp, ctx, n, np, v};
    /* z = [y(t_last), w_last, 0] */
    if (st == BML_OK && T > 0) {
        memcpy(z, y + (T - 1) * n, n * sizeof *z);
        memcpy(z + n, w + (T - 1) * n, n * sizeof *z);
    }
    for (size_t i = T - 1; st == BML_OK && i > 0; i--) {
        double s[2] = {-t[i], -t[i - 1]};
        long nfe = 0;
        st = bml__dopri5(aug_rev, &ac, na, z, s, 2, &ob, z, &nfe, NULL); /* z (2, na): z[na..] is the end */
        *nfe_backward += nfe;
        if (st != BML_OK) break;
        memmove(z, z + na, na * sizeof *z);
        memcpy(z, y + (i - 1) * n, n * sizeof *z); /* the forward solution at t[i-1] */
        for (size_t j = 0; j < n; j++) z[n + j] += w[(i - 1) * n + j];
    }
    if (st == BML_OK) {
        memcpy(dy0, z + n, n * sizeof *dy0);
        for (size_t j = 0; j < np; j++) dparams[j] += z[2 * n + j];
    }
    free(groups), free(y), free(z), free(v);
    return st;
}
