/* Split conformal and CV+ / jackknife+ intervals (include/batteryml/uncertainty.h; Barber et al. 2021).
 * tools/gen_conformal_reference.py computes the same intervals independently (exact rational ranks) for
 * tests/test_uncertainty.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/uncertainty.h"
#include "core/internal.h"
#include "uncertainty/registry.h"

/* a product within this of an integer is that integer (alpha = 0.1 is not exactly 1/10 in binary) */
#define RANK_EPS 1e-9

static int alpha_ok(double alpha) { return alpha > 0 && alpha < 1; }

static bml_status check_alpha(double alpha) {
    if (!alpha_ok(alpha))
        return bml__fail(BML_ERR_VALUE, "conformal: alpha %g is outside (0, 1) (0.1 gives 90%% intervals)", alpha);
    return BML_OK;
}

/* The registry of interval methods (uncertainty.method) */
static const struct {
    const char *name, *help;
    bml_conformal_method method;
    int one_per_group;
} methods[] = {
    {"none", "no intervals", BML_CONFORMAL_NONE, 0},
    {"split", "split conformal: the quantile of held-out absolute residuals around each prediction", BML_CONFORMAL_SPLIT, 0},
    {"cv_plus", "CV+ (Barber et al. 2021): K models each fitted without one group of training cells", BML_CONFORMAL_CV_PLUS, 0},
    {"jackknife_plus", "jackknife+: CV+ with one group per training cell", BML_CONFORMAL_CV_PLUS, 1},
};
#define N_METHODS (sizeof methods / sizeof *methods)

static const bml_param_info method_params[] = {
    {"alpha", "double", "0.1", "miscoverage: 0.1 -> 90 % intervals"},
    {"groups", "int", "5", "cv_plus: the fold's training cells dealt into this many groups (jackknife_plus: one per cell)"},
};

size_t bml__uncertainty_registry_params(size_t i, const bml_param_info **params) {
    *params = method_params;
    return i < N_METHODS ? 2 : 0;
}

size_t bml__uncertainty_registry_count(void) { return N_METHODS; }
const char *bml__uncertainty_registry_name(size_t i) { return i < N_METHODS ? methods[i].name : NULL; }
const char *bml__uncertainty_registry_describe(size_t i) { return i < N_METHODS ? methods[i].help : NULL; }

bml_status bml_conformal_method_parse(const char *name, bml_conformal_method *out, int *one_per_group) {
    for (size_t i = 0; name && i < N_METHODS; i++)
        if (!strcmp(name, methods[i].name)) {
            *out = methods[i].method;
            if (one_per_group) *one_per_group = methods[i].one_per_group;
            return BML_OK;
        }
    char *names = bml__registry_names(N_METHODS, bml__uncertainty_registry_name);
    bml_status st = bml__fail(BML_ERR_VALUE, "conformal: unknown method '%s' (valid: %s)", name ? name : "(null)", names ? names : "?");
    free(names);
    return st;
}

bml_status bml_conformal_ranks(size_t n, double alpha, size_t *ku, size_t *kl) {
    BML__TRY(check_alpha(alpha));
    double np1 = (double)n + 1.0;
    double up = ceil((1.0 - alpha) * np1 - RANK_EPS);
    double lo = floor(alpha * np1 + RANK_EPS);
    if (up < 1) up = 1; /* (1 - alpha)(n + 1) > 0 always; guards the rounding */
    if (up > np1) up = np1;
    if (lo < 0) lo = 0;
    if (lo > (double)n) lo = (double)n;
    if (ku) *ku = (size_t)up;
    if (kl) *kl = (size_t)lo;
    return BML_OK;
}

size_t bml_conformal_min_n(double alpha) {
    if (!alpha_ok(alpha)) return 0;
    /* ku(n) <= n  <=>  (1 - alpha)(n + 1) <= n (up to RANK_EPS)  <=>  n >= (1 - alpha) / alpha */
    double est = floor((1.0 - alpha) / alpha);
    size_t n = est > 2 ? (size_t)est - 2 : 0;
    for (;; n++) {
        size_t ku = 0;
        bml_conformal_ranks(n, alpha, &ku, NULL);
        if (ku <= n) return n;
    }
}

/* the k-th smallest (1-based, 1 <= k <= n) of v[0..n) (no NaN), reordering v: quickselect with a median-of-three
 * pivot and a three-way partition, so that ties (common among residuals) end the search at once */
static double kth_smallest(double *v, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1, want = k - 1;
    for (;;) {
        if (lo == hi) return v[lo];
        size_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        /* [lo, lt) < piv, [lt, i) == piv, (gt, hi] > piv; an element equal to piv stays in [lt, gt], so gt never
         * passes below lt (and never wraps) */
        size_t lt = lo, i = lo, gt = hi;
        while (i <= gt) {
            double t = v[i];
            if (t < piv) {
                v[i++] = v[lt];
                v[lt++] = t;
            } else if (t > piv) {
                v[i] = v[gt];
                v[gt--] = t;
            } else {
                i++;
            }
        }
        if (want < lt) hi = lt - 1;
        else if (want > gt) lo = gt + 1;
        else return piv;
    }
}

static bml_status check_residuals(const double *r, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(r[i]) || r[i] < 0)
            return bml__fail(BML_ERR_VALUE, "conformal: %s[%zu] = %g: a residual must be finite and >= 0 (|y - prediction|)",
                             what, i, r[i]);
    return BML_OK;
}

static bml_status check_finite(const double *v, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return bml__fail(BML_ERR_VALUE, "conformal: %s[%zu] = %g is not finite", what, i, v[i]);
    return BML_OK;
}

bml_status bml_conformal_quantile(const double *residuals, size_t n, double alpha, double *q) {
    BML__TRY(check_alpha(alpha));
    if (n == 0) return bml__fail(BML_ERR_EMPTY, "conformal: no calibration residuals");
    BML__TRY(check_residuals(residuals, n, "residuals"));
    size_t ku;
    BML__TRY(bml_conformal_ranks(n, alpha, &ku, NULL));
    if (ku > n) {
        *q = INFINITY;
        return BML_OK;
    }
    double *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return bml__fail(BML_ERR_NOMEM, "out of memory");
    memcpy(tmp, residuals, n * sizeof *tmp);
    *q = kth_smallest(tmp, n, ku);
    free(tmp);
    return BML_OK;
}

bml_status bml_conformal_split(const double *residuals, size_t n, const double *pred, size_t m, double alpha,
                               double *lower, double *upper, double *q) {
    double qq;
    BML__TRY(bml_conformal_quantile(residuals, n, alpha, &qq));
    BML__TRY(check_finite(pred, m, "pred"));
    for (size_t j = 0; j < m; j++) {
        lower[j] = pred[j] - qq;
        upper[j] = pred[j] + qq;
    }
    if (q) *q = qq;
    return BML_OK;
}

bml_status bml_conformal_cv_plus(const size_t *group, const double *residual, size_t n, const double *group_pred,
                                 size_t K, size_t m, double alpha, double *lower, double *upper) {
    BML__TRY(check_alpha(alpha));
    if (n == 0) return bml__fail(BML_ERR_EMPTY, "conformal: CV+ without training residuals");
    if (K == 0) return bml__fail(BML_ERR_EMPTY, "conformal: CV+ without group models");
    for (size_t i = 0; i < n; i++)
        if (group[i] >= K)
            return bml__fail(BML_ERR_VALUE, "conformal: group[%zu] = %zu, but there are %zu groups (0..%zu)", i, group[i],
                             K, K - 1);
    BML__TRY(check_residuals(residual, n, "residual"));
    if (m && K > ((size_t)-1) / m) return bml__fail(BML_ERR_NOMEM, "conformal: too many predictions");
    BML__TRY(check_finite(group_pred, K * m, "group_pred"));
    size_t ku, kl;
    BML__TRY(bml_conformal_ranks(n, alpha, &ku, &kl));
    double *v = malloc(n * sizeof *v);
    if (!v) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < m; j++) {
        double lo = -INFINITY, hi = INFINITY;
        if (kl >= 1) {
            for (size_t i = 0; i < n; i++) v[i] = group_pred[group[i] * m + j] - residual[i];
            lo = kth_smallest(v, n, kl);
        }
        if (ku <= n) {
            for (size_t i = 0; i < n; i++) v[i] = group_pred[group[i] * m + j] + residual[i];
            hi = kth_smallest(v, n, ku);
        }
        lower[j] = lo;
        upper[j] = hi;
    }
    free(v);
    return BML_OK;
}

bml_status bml_interval_coverage(const double *y, const double *lower, const double *upper, size_t n, double *coverage,
                                 double *mean_width, size_t *n_used) {
    size_t used = 0, in = 0;
    double wsum = 0;
    for (size_t j = 0; j < n; j++) {
        if (isnan(lower[j]) || isnan(upper[j]) || lower[j] > upper[j])
            return bml__fail(BML_ERR_VALUE, "interval %zu: [%g, %g] is not an interval", j, lower[j], upper[j]);
        if (!isfinite(y[j])) continue;
        used++;
        if (lower[j] <= y[j] && y[j] <= upper[j]) in++;
        wsum += upper[j] - lower[j];
    }
    if (coverage) *coverage = used ? (double)in / (double)used : NAN;
    if (mean_width) *mean_width = used ? wsum / (double)used : NAN;
    if (n_used) *n_used = used;
    return BML_OK;
}
