/* LG M50 potentials and the pseudo-OCV curve generator (see synth.h). */
#include "data/synth.h"

#include <math.h>
#include <stdlib.h>

#include "core/internal.h"

#define X_MIN 0.0313 /* graphite fit range (Chen 2020) */
#define X_MAX 1.0
#define Y_MIN 0.2661 /* NMC811 fit range */
#define Y_MAX 0.9059

double bml__ocp_graphite(double x) {
    return 1.9793 * exp(-39.3631 * x) + 0.2482 - 0.0909 * tanh(29.8538 * (x - 0.1234)) -
           0.04478 * tanh(14.9159 * (x - 0.2769)) - 0.0205 * tanh(30.4444 * (x - 0.6103));
}

double bml__ocp_nmc811(double y) {
    return -0.8090 * y + 4.4875 - 0.0428 * tanh(18.5138 * (y - 0.5542)) - 17.7326 * tanh(15.7890 * (y - 0.3117)) +
           17.5842 * tanh(15.9308 * (y - 0.3120));
}

double bml__ocp_silicon(double x) {
    double lith = ((((((-96.63 * x + 372.6) * x - 587.6) * x + 489.9) * x - 232.8) * x + 62.99) * x - 9.286) * x + 0.8633 +
                  1e-4 * (1.0 / x + 1.0 / (x - 1.0));
    double delith = (((((-51.02 * x + 161.3) * x - 205.7) * x + 140.2) * x - 58.76) * x + 16.87) * x * x - 3.792 * x + 0.9937;
    return 0.5 * (lith + delith);
}

/* state of charge s in [0, 1] of a half-cell at potential u, from a table of u over s (decreasing):
 * bisection on the table, linear in between */
#define TABLE 4097
typedef struct {
    double u[TABLE]; /* potential at s = i / (TABLE - 1) */
} ocp_table;

static double table_soc(const ocp_table *t, double u) {
    if (u >= t->u[0]) return 0.0;
    if (u <= t->u[TABLE - 1]) return 1.0;
    size_t lo = 0, hi = TABLE - 1; /* u[lo] > u >= u[hi] */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (t->u[mid] > u) lo = mid;
        else hi = mid;
    }
    double f = (t->u[lo] - u) / (t->u[lo] - t->u[hi]);
    return ((double)lo + f) / (TABLE - 1);
}

static void tables(ocp_table *gr, ocp_table *si) {
    for (size_t i = 0; i < TABLE; i++) {
        double s = (double)i / (TABLE - 1);
        gr->u[i] = bml__ocp_graphite(X_MIN + s * (X_MAX - X_MIN));
        double xs = 1e-4 + s * (1 - 2e-4); /* silicon's potential diverges at 0 and 1 */
        si->u[i] = bml__ocp_silicon(xs);
    }
    for (size_t i = 1; i < TABLE; i++) { /* enforce monotonicity against round-off plateaus */
        if (gr->u[i] > gr->u[i - 1]) gr->u[i] = gr->u[i - 1];
        if (si->u[i] > si->u[i - 1]) si->u[i] = si->u[i - 1];
    }
}

bml_status bml__synth_curve(const bml__electrode_state *e, size_t n, double *q, double *v) {
    if (!(e->pe_cap > 0 && e->ne_cap > 0) || !isfinite(e->pe_lo + e->pe_hi + e->ne_lo + e->ne_hi + e->gr_frac))
        return bml__fail(BML_ERR_VALUE, "synthetic curve: the electrode state is incomplete (failed OCV fit?)");
    if (n < 2) return bml__fail(BML_ERR_VALUE, "synthetic curve: need at least 2 points");
    ocp_table *gr = malloc(sizeof *gr), *si = malloc(sizeof *si);
    double *cu = malloc(TABLE * sizeof *cu), *cs = malloc(TABLE * sizeof *cs);
    if (!gr || !si || !cu || !cs) {
        free(gr), free(si), free(cu), free(cs);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    tables(gr, si);
    /* the composite negative electrode: total state of charge S(u) = f s_gr(u) + (1 - f) s_si(u) on a fine
     * potential grid, inverted per point (S decreases with u) */
    double f = fmin(1.0, fmax(0.0, e->gr_frac));
    for (size_t i = 0; i < TABLE; i++) {
        cu[i] = 1.6 * (double)i / (TABLE - 1); /* 0 .. 1.6 V */
        cs[i] = f * table_soc(gr, cu[i]) + (1 - f) * table_soc(si, cu[i]);
    }
    double cell = e->pe_cap * (e->pe_hi - e->pe_lo);
    for (size_t k = 0; k < n; k++) {
        double qk = cell * (double)k / (double)(n - 1);
        double sp = e->pe_hi - qk / e->pe_cap, sn = e->ne_hi - qk / e->ne_cap;
        double y = Y_MAX - sp * (Y_MAX - Y_MIN);
        /* u with S(u) = sn: S decreases along cu */
        double un;
        if (sn >= cs[0]) un = cu[0];
        else if (sn <= cs[TABLE - 1]) un = cu[TABLE - 1];
        else {
            size_t lo = 0, hi = TABLE - 1;
            while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;
                if (cs[mid] > sn) lo = mid;
                else hi = mid;
            }
            double t = cs[lo] > cs[hi] ? (cs[lo] - sn) / (cs[lo] - cs[hi]) : 0.5;
            un = cu[lo] + t * (cu[hi] - cu[lo]);
        }
        q[k] = qk;
        v[k] = bml__ocp_nmc811(y) - un;
    }
    free(gr), free(si), free(cu), free(cs);
    return BML_OK;
}

void bml__synth_curve_windows(double x100, double x0, double y100, double y0, double capacity, size_t n, double *q,
                              double *v) {
    for (size_t k = 0; k < n; k++) {
        double a = (double)k / (double)(n - 1);
        q[k] = capacity * a;
        v[k] = bml__ocp_nmc811(y100 + a * (y0 - y100)) - bml__ocp_graphite(x100 + a * (x0 - x100));
    }
}
