/* The linear models: `ols`, `ridge`, `lasso`, `elastic_net`, `elastic_net_cv`, `pls` and `pcr`, fitted as
 * scikit-learn 1.2's LinearRegression, Ridge, Lasso, ElasticNet, ElasticNetCV, PLSRegression and
 * make_pipeline(StandardScaler(), PCA(n), LinearRegression()) fit them (models/linear_fit.h: the
 * numerical fits; tests/test_linear.c: parity with scikit-learn).
 *
 * Inputs: standardised by the study's runner with training statistics (wants_scaled) after mean
 * imputation (handles_missing = 0: a NaN feature is refused). Several targets: one independent fit per
 * target (as MultiOutputRegressor; scikit-learn's own multi-target fits of these estimators are
 * column-wise the same, except PLS2, which this is not).
 *
 * Every model ends as coef (O, F) and intercept (O): prediction = intercept + sum_j coef_j x_j on the
 * model's inputs. Exact SHAP values of a linear model with independent features: phi_j = coef_j (x_j -
 * mean_j), the means over the training rows, and the expected value the mean prediction over them, so
 * that sum_j phi_j + expected value = the prediction. Importance: |coef| ("gain", "total_gain": on the
 * standardised scale the runner gives), "split": 1 for a non-zero coefficient (the features a lasso
 * kept), "coef": the signed coefficient. Saved in model.json's state, every number written so that it
 * reads back bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/linear_fit.h"
#include "models/model_internal.h"
#include "models/train_params.h"

typedef struct {
    double alpha, l1_ratio, tol, eps, rcond;
    long max_iter, n_alphas, cv, n_components, n_jobs;
    int scale;
    char *l1_ratios; /* elastic_net_cv */
    int clip;        /* winsorise each input to its training range at prediction */
} lin_params;

#define OFF(f) offsetof(lin_params, f)
#define MAX_ITER_SPEC {"max_iter", BML__P_INT, OFF(max_iter), "1000", 1, 1e9, 0, "maximum coordinate-descent sweeps"}
#define TOL_SPEC                                                                                                   \
    {"tol", BML__P_DOUBLE, OFF(tol), "1e-4", 0, 1e12, 0,                                                           \
     "stop once a sweep moves no coefficient by more than tol x the largest and the duality gap is below tol x "   \
     "||y - mean||^2"}

#define CLIP_SPEC                                                                                                  \
    {"clip", BML__P_BOOL, OFF(clip), "false", 1, 0, 0,                                                             \
     "winsorise: at prediction each input is clipped to [min, max] of the training rows (kept with the model), so "  \
     "a feature far outside the training range does not extrapolate the line"}

static const bml__param_spec ols_specs[] = {
    {"rcond", BML__P_DOUBLE, OFF(rcond), "-1", -1, 1, 0,
     "singular values below rcond x the largest count as zero (the minimum-norm solution of collinear features); "
     "negative: machine epsilon x max(rows, features), numpy.linalg.lstsq's default (scikit-learn: 2.220446049250313e-16)"},
    CLIP_SPEC,
};
static const bml__param_spec ridge_specs[] = {
    {"alpha", BML__P_DOUBLE, OFF(alpha), "1.0", 0, 1e300, 0, "L2 penalty: minimises ||y - Xw||^2 + alpha ||w||^2"},
    CLIP_SPEC,
};
static const bml__param_spec lasso_specs[] = {
    {"alpha", BML__P_DOUBLE, OFF(alpha), "1.0", 0, 1e300, 0, "L1 penalty: minimises ||y - Xw||^2 / (2 n) + alpha ||w||_1"},
    MAX_ITER_SPEC,
    TOL_SPEC,
    CLIP_SPEC,
};
static const bml__param_spec enet_specs[] = {
    {"alpha", BML__P_DOUBLE, OFF(alpha), "1.0", 0, 1e300, 0,
     "penalty: ||y - Xw||^2 / (2 n) + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio) ||w||^2 / 2"},
    {"l1_ratio", BML__P_DOUBLE, OFF(l1_ratio), "0.5", 0, 1, 0, "mix of L1 (1) and L2 (0)"},
    MAX_ITER_SPEC,
    TOL_SPEC,
    CLIP_SPEC,
};
static const bml__param_spec enet_cv_specs[] = {
    {"l1_ratio", BML__P_LIST, OFF(l1_ratios), "[0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1]", 1, 0, 0,
     "the L1 mixes to try, each in (0, 1]"},
    {"n_alphas", BML__P_INT, OFF(n_alphas), "100", 1, 1e6, 0, "alphas per l1_ratio, log-spaced from alpha_max down"},
    {"eps", BML__P_DOUBLE, OFF(eps), "1e-3", 0, 1, 1, "the smallest alpha over alpha_max = max|X^T y| / (n l1_ratio)"},
    {"cv", BML__P_INT, OFF(cv), "5", 2, 1e6, 0, "folds (KFold without shuffling: contiguous runs of the training rows)"},
    {"n_jobs", BML__P_INT, OFF(n_jobs), "0", 0, 1024, 0,
     "threads for the (l1_ratio, fold) paths (0: the thread budget, else every core); results do not depend on it"},
    MAX_ITER_SPEC,
    TOL_SPEC,
    CLIP_SPEC,
};
static const bml__param_spec pls_specs[] = {
    {"n_components", BML__P_INT, OFF(n_components), "2", 1, 1e6, 0, "latent components (at most the features)"},
    {"scale", BML__P_BOOL, OFF(scale), "true", 1, 0, 0, "divide the centred inputs and target by their std (n - 1)"},
    CLIP_SPEC,
};
static const bml__param_spec pcr_specs[] = {
    {"n_components", BML__P_INT, OFF(n_components), "2", 1, 1e6, 0,
     "principal components regressed on (at most min(rows, features))"},
    CLIP_SPEC,
};

typedef enum { K_OLS, K_RIDGE, K_LASSO, K_ENET, K_ENET_CV, K_PLS, K_PCR } lin_kind;

typedef struct {
    size_t O, F;
    double *coef;      /* (O, F) on the model's inputs */
    double *intercept; /* (O) */
    double *x_mean;    /* (F) means of the training inputs: SHAP's reference */
    double *expected;  /* (O) mean prediction over the training rows: SHAP's expected value */
    cJSON *fit;        /* what fitting found: an object per target name */
    cJSON *cv_path;    /* elastic_net_cv: per target {l1_ratio, alphas, mse_mean}; else NULL */
    double *x_lo, *x_hi; /* (F) clip: the training rows' range of each input; else NULL */
} lin_state;

static lin_kind kind_of(const bml_model *m);

static void release(bml_model *m) {
    lin_state *s = m->state;
    if (!s) return;
    free(s->coef);
    free(s->intercept);
    free(s->x_mean);
    free(s->expected);
    free(s->x_lo);
    free(s->x_hi);
    cJSON_Delete(s->fit);
    cJSON_Delete(s->cv_path);
    free(s);
    m->state = NULL;
}

static lin_state *state_alloc(size_t O, size_t F) {
    lin_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->O = O;
    s->F = F;
    s->coef = bml__calloc(O * F > 0 ? O * F : 1, sizeof *s->coef);
    s->intercept = bml__calloc(O ? O : 1, sizeof *s->intercept);
    s->x_mean = bml__calloc(F ? F : 1, sizeof *s->x_mean);
    s->expected = bml__calloc(O ? O : 1, sizeof *s->expected);
    s->fit = cJSON_CreateObject();
    if (!s->coef || !s->intercept || !s->x_mean || !s->expected || !s->fit) {
        free(s->coef), free(s->intercept), free(s->x_mean), free(s->expected);
        cJSON_Delete(s->fit);
        free(s);
        return NULL;
    }
    return s;
}

/* a NaN among the inputs x (n, F): these models take imputed inputs */
static bml_status refuse_missing(const bml_model *m, const double *x, size_t n, size_t F, char *const *names,
                                 const bml_samples *s, const char *rows) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < F; j++)
            if (isnan(x[i * F + j])) {
                const char *cell = s && s->meta ? s->meta[i].cell : NULL;
                return bml__fail(BML_ERR_VALUE,
                                 "model %s: feature '%s' of %s %zu%s%s is missing (NaN): linear models take imputed inputs "
                                 "(the study's runner and the Python estimators impute training means)",
                                 m->def->name, names ? names[j] : "?", rows, i, cell ? ", cell " : "", cell ? cell : "");
            }
    return BML_OK;
}

static cJSON *num(double v) { return bml__json_exact_number(v); }

static size_t nonzero(const double *w, size_t F) {
    size_t c = 0;
    for (size_t j = 0; j < F; j++) c += w[j] != 0;
    return c;
}

static void add_cd_info(cJSON *t, const bml__cd_result *r, const double *w, size_t F) {
    cJSON_AddNumberToObject(t, "n_iter", (double)r->n_iter);
    cJSON_AddItemToObject(t, "dual_gap", num(r->dual_gap));
    cJSON_AddBoolToObject(t, "converged", r->converged);
    cJSON_AddNumberToObject(t, "n_nonzero", (double)nonzero(w, F));
}

/* the list of elastic_net_cv's l1_ratio parameter (malloc'ed) */
static bml_status parse_l1_ratios(const char *name, const char *text, double **out, size_t *n) {
    if (bml__parse_double_list(text, out, n) != 0 || *n == 0)
        return bml__fail(BML_ERR_VALUE, "model %s: l1_ratio must be a list of numbers in (0, 1], got '%s'", name, text);
    for (size_t i = 0; i < *n; i++)
        if (!((*out)[i] > 0 && (*out)[i] <= 1)) {
            free(*out);
            *out = NULL;
            return bml__fail(BML_ERR_VALUE, "model %s: l1_ratio must be a list of numbers in (0, 1], got '%s'", name, text);
        }
    return BML_OK;
}

/* target k of samples fitted on x (n, F) column-major: coef (F), intercept, its fit information into t */
static bml_status fit_target(bml_model *m, lin_kind kind, const double *x, size_t n, size_t F, const double *y, double *coef,
                             double *intercept, cJSON *t, cJSON **path) {
    const lin_params *p = m->params;
    char *what = bml__sprintf("model %s", m->def->name);
    if (!what) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml__cd_opts o = {p->max_iter, p->tol, m->cancel, (int)p->n_jobs, 0};
    bml__cd_result r = {0};
    bml_status st = BML_OK;
    switch (kind) {
    case K_OLS: {
        int rank = 0;
        st = bml__lin_ols(what, x, n, F, y, p->rcond, coef, intercept, &rank);
        if (st == BML_OK) cJSON_AddNumberToObject(t, "rank", rank);
        break;
    }
    case K_RIDGE: {
        const char *solver = "";
        st = bml__lin_ridge(what, x, n, F, y, p->alpha, coef, intercept, &solver);
        if (st == BML_OK) cJSON_AddStringToObject(t, "solver", solver);
        break;
    }
    case K_LASSO:
    case K_ENET: {
        double l1 = kind == K_LASSO ? 1.0 : p->l1_ratio;
        st = bml__lin_enet(what, x, n, F, y, p->alpha, l1, &o, coef, intercept, &r);
        if (st == BML_OK) add_cd_info(t, &r, coef, F);
        break;
    }
    case K_ENET_CV: {
        double *l1 = NULL;
        size_t nl = 0;
        bml__enet_cv cv;
        memset(&cv, 0, sizeof cv);
        st = parse_l1_ratios(m->def->name, p->l1_ratios, &l1, &nl);
        if (st == BML_OK)
            st = bml__lin_enet_cv(what, x, n, F, y, l1, nl, (size_t)p->n_alphas, p->eps, (size_t)p->cv, &o, coef, intercept, &cv);
        if (st == BML_OK) {
            cJSON_AddItemToObject(t, "alpha", num(cv.alpha));
            cJSON_AddItemToObject(t, "l1_ratio", num(cv.l1_ratio));
            cJSON_AddItemToObject(t, "cv_mse", num(cv.mse_mean[cv.best_l1 * cv.n_alphas + cv.best_alpha]));
            cJSON_AddNumberToObject(t, "alpha_index", (double)cv.best_alpha);
            add_cd_info(t, &cv.refit, coef, F);
            /* the CV curve in brief: per l1_ratio, the lowest mean error and its alpha */
            cJSON *best = cJSON_AddArrayToObject(t, "cv_best_mse"), *ba = cJSON_AddArrayToObject(t, "cv_best_alpha");
            /* the whole curve goes to the saved state */
            cJSON *pj = cJSON_CreateObject(), *lr = cJSON_AddArrayToObject(pj, "l1_ratio");
            cJSON *al = cJSON_AddArrayToObject(pj, "alphas"), *ms = cJSON_AddArrayToObject(pj, "mse_mean");
            for (size_t l = 0; l < cv.n_l1; l++) {
                size_t ib = 0;
                const double *mm = cv.mse_mean + l * cv.n_alphas, *aa = cv.alphas + l * cv.n_alphas;
                cJSON *ar = cJSON_CreateArray(), *mr = cJSON_CreateArray();
                for (size_t a = 0; a < cv.n_alphas; a++) {
                    if (mm[a] < mm[ib]) ib = a;
                    cJSON_AddItemToArray(ar, num(aa[a]));
                    cJSON_AddItemToArray(mr, num(mm[a]));
                }
                cJSON_AddItemToArray(best, num(mm[ib]));
                cJSON_AddItemToArray(ba, num(aa[ib]));
                cJSON_AddItemToArray(lr, num(cv.l1_ratios[l]));
                cJSON_AddItemToArray(al, ar);
                cJSON_AddItemToArray(ms, mr);
            }
            *path = pj;
        }
        bml__enet_cv_release(&cv);
        free(l1);
        break;
    }
    case K_PLS: {
        bml__pls pls;
        st = bml__lin_pls(what, x, n, F, y, (size_t)p->n_components, p->scale, coef, intercept, &pls);
        if (st == BML_OK) {
            cJSON_AddNumberToObject(t, "n_components", (double)pls.k);
            cJSON_AddNumberToObject(t, "n_components_fitted", (double)pls.n_fitted);
        }
        bml__pls_release(&pls);
        break;
    }
    case K_PCR: {
        bml__pcr pcr;
        st = bml__lin_pcr(what, x, n, F, y, (size_t)p->n_components, coef, intercept, &pcr);
        if (st == BML_OK) {
            cJSON_AddNumberToObject(t, "n_components", (double)pcr.k);
            cJSON *ev = cJSON_AddArrayToObject(t, "explained_variance_ratio");
            for (size_t c = 0; c < pcr.k; c++) cJSON_AddItemToArray(ev, num(pcr.explained_variance_ratio[c]));
        }
        bml__pcr_release(&pcr);
        break;
    }
    }
    if (st == BML_OK) cJSON_AddItemToObject(t, "intercept", num(*intercept));
    free(what);
    return st;
}

static bml_status fit(bml_model *m, const bml_samples *tr, const bml_samples *va, uint64_t seed) {
    (void)va; /* no early stopping; elastic_net_cv validates by its own folds */
    (void)seed; /* deterministic: cyclic coordinate descent, unshuffled folds */
    size_t n = tr->n, F = tr->n_features, O = tr->n_targets;
    BML__TRY(refuse_missing(m, tr->x, n, F, tr->feature_names, tr, "training sample"));
    lin_state *s = state_alloc(O, F);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->state = s;
    lin_kind kind = kind_of(m);
    double *x = bml__calloc(n * F, sizeof *x), *y = bml__calloc(n, sizeof *y);
    bml_status st = x && y ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) {
        for (size_t i = 0; i < n; i++) /* column-major: feature j at x + j n */
            for (size_t j = 0; j < F; j++) x[j * n + i] = tr->x[i * F + j];
        for (size_t j = 0; j < F; j++) {
            double sum = 0;
            for (size_t i = 0; i < n; i++) sum += x[j * n + i];
            s->x_mean[j] = sum / (double)n;
        }
        if (((const lin_params *)m->params)->clip) {
            s->x_lo = bml__calloc(F ? F : 1, sizeof *s->x_lo);
            s->x_hi = bml__calloc(F ? F : 1, sizeof *s->x_hi);
            if (!s->x_lo || !s->x_hi) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            for (size_t j = 0; st == BML_OK && j < F; j++) {
                double lo = INFINITY, hi = -INFINITY;
                for (size_t i = 0; i < n; i++) lo = fmin(lo, x[j * n + i]), hi = fmax(hi, x[j * n + i]);
                s->x_lo[j] = n ? lo : 0, s->x_hi[j] = n ? hi : 0;
            }
        }
    }
    if (st == BML_OK && kind == K_ENET_CV && !(s->cv_path = cJSON_CreateObject())) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; st == BML_OK && k < O; k++) {
        for (size_t i = 0; i < n; i++) y[i] = tr->y[i * O + k];
        cJSON *t = cJSON_AddObjectToObject(s->fit, tr->target_names[k]), *path = NULL;
        if (!t) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        double *coef = s->coef + k * F;
        st = fit_target(m, kind, x, n, F, y, coef, &s->intercept[k], t, &path);
        if (path) cJSON_AddItemToObject(s->cv_path, tr->target_names[k], path);
        if (st != BML_OK) break;
        double sum = 0; /* the mean prediction over the training rows */
        for (size_t i = 0; i < n; i++) {
            double v = s->intercept[k];
            for (size_t j = 0; j < F; j++) v += coef[j] * x[j * n + i];
            sum += v;
        }
        s->expected[k] = sum / (double)n;
    }
    free(x);
    free(y);
    return st;
}

/* input j of a row as the model takes it: clipped to the training range when the model clips */
static double input(const lin_state *s, const double *row, size_t j) {
    double v = row[j];
    if (s->x_lo) v = v < s->x_lo[j] ? s->x_lo[j] : v > s->x_hi[j] ? s->x_hi[j] : v;
    return v;
}

static bml_status predict(const bml_model *m, const double *x, size_t n, double *y) {
    const lin_state *s = m->state;
    size_t F = s->F, O = s->O;
    BML__TRY(refuse_missing(m, x, n, F, m->feature_names, NULL, "row"));
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < O; k++) {
            double v = s->intercept[k];
            for (size_t j = 0; j < F; j++) v += s->coef[k * F + j] * input(s, x + i * F, j);
            y[i * O + k] = v;
        }
    return BML_OK;
}

/* phi (n, O, F + 1): coef_j (x_j - mean_j), the last entry the expected value */
static bml_status shap(const bml_model *m, const double *x, size_t n, double *phi) {
    const lin_state *s = m->state;
    size_t F = s->F, O = s->O, W = F + 1;
    BML__TRY(refuse_missing(m, x, n, F, m->feature_names, NULL, "row"));
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < O; k++) {
            double *ph = phi + (i * O + k) * W;
            for (size_t j = 0; j < F; j++) ph[j] = s->coef[k * F + j] * (input(s, x + i * F, j) - s->x_mean[j]);
            ph[F] = s->expected[k];
        }
    return BML_OK;
}

static bml_status importance(const bml_model *m, const char *kind, double *imp) {
    const lin_state *s = m->state;
    int which = !strcmp(kind, "gain") || !strcmp(kind, "total_gain") ? 0 : !strcmp(kind, "split") ? 1
              : !strcmp(kind, "coef")                                 ? 2
                                                                      : -1;
    if (which < 0)
        return bml__fail(BML_ERR_VALUE,
                         "model %s: unknown importance kind '%s' (valid: gain, total_gain (|coef|), split (1 for a non-zero coef), coef)",
                         m->def->name, kind);
    for (size_t i = 0; i < s->O * s->F; i++) imp[i] = which == 0 ? fabs(s->coef[i]) : which == 1 ? (s->coef[i] != 0) : s->coef[i];
    return BML_OK;
}

static cJSON *fit_info(const bml_model *m) {
    const lin_state *s = m->state;
    return cJSON_Duplicate(s->fit, 1);
}

static bml_status check_weights(const bml_model *m, const char *what) {
    const lin_state *s = m->state;
    for (size_t k = 0; k < s->O; k++) {
        int ok = isfinite(s->intercept[k]) && isfinite(s->expected[k]);
        for (size_t j = 0; j < s->F; j++) ok = ok && isfinite(s->coef[k * s->F + j]);
        if (!ok) return bml__fail(BML_ERR_VALUE, "%s: a coefficient of target %s is not finite", what, m->target_names[k]);
    }
    return BML_OK;
}

static cJSON *exact_array(const double *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, num(v[i]));
    return a;
}

static bml_status save(const bml_model *m, const char *dir, cJSON **state) {
    (void)dir; /* everything is in model.json */
    const lin_state *s = m->state;
    cJSON *st = cJSON_CreateObject(), *coef = cJSON_AddArrayToObject(st, "coef");
    for (size_t k = 0; k < s->O; k++) cJSON_AddItemToArray(coef, exact_array(s->coef + k * s->F, s->F));
    cJSON_AddItemToObject(st, "intercept", exact_array(s->intercept, s->O));
    cJSON_AddItemToObject(st, "x_mean", exact_array(s->x_mean, s->F));
    cJSON_AddItemToObject(st, "expected_value", exact_array(s->expected, s->O));
    if (s->x_lo) {
        cJSON_AddItemToObject(st, "clip_min", exact_array(s->x_lo, s->F));
        cJSON_AddItemToObject(st, "clip_max", exact_array(s->x_hi, s->F));
    }
    cJSON_AddItemToObject(st, "fit", cJSON_Duplicate(s->fit, 1));
    if (s->cv_path) cJSON_AddItemToObject(st, "cv_path", cJSON_Duplicate(s->cv_path, 1));
    /* one check that nothing failed to allocate: every part is there */
    if (!st || !cJSON_GetObjectItemCaseSensitive(st, "fit") || (s->cv_path && !cJSON_GetObjectItemCaseSensitive(st, "cv_path")) ||
        (s->x_lo && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "clip_max")) != (int)s->F) ||
        cJSON_GetArraySize(coef) != (int)s->O) {
        cJSON_Delete(st);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *state = st;
    return BML_OK;
}

/* array `key` of st: n finite numbers into out */
static bml_status load_array(const cJSON *a, const char *dir, const char *key, size_t n, double *out) {
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n)
        return bml__fail(BML_ERR_PARSE, "%s/model.json: state.%s must be an array of %zu numbers", dir, key, n);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
            return bml__fail(BML_ERR_PARSE, "%s/model.json: state.%s[%zu] must be a finite number", dir, key, i);
        out[i++] = e->valuedouble;
    }
    return BML_OK;
}

/* the numbers of a read tree written back as they were written (exact "%.17g"): fit_info prints the same
 * text after a load */
static void exact_numbers(cJSON *j) {
    for (cJSON *e = j ? j->child : NULL; e; e = e->next) {
        if (cJSON_IsNumber(e)) {
            cJSON *r = num(e->valuedouble);
            if (r) {
                r->string = e->string; /* the key moves to the replacement */
                e->string = NULL;
                cJSON_ReplaceItemViaPointer(j, e, r);
                e = r;
            }
        } else {
            exact_numbers(e);
        }
    }
}

static bml_status load(bml_model *m, const char *dir, const cJSON *st) {
    size_t O = m->n_targets, F = m->n_features;
    if (!cJSON_IsObject(st)) return bml__fail(BML_ERR_PARSE, "%s/model.json: state must be an object", dir);
    lin_state *s = state_alloc(O, F);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->state = s;
    const cJSON *coef = cJSON_GetObjectItemCaseSensitive(st, "coef");
    if (!cJSON_IsArray(coef) || (size_t)cJSON_GetArraySize(coef) != O)
        return bml__fail(BML_ERR_PARSE, "%s/model.json: state.coef must hold one array per target (%zu)", dir, O);
    for (size_t k = 0; k < O; k++) {
        char key[48];
        snprintf(key, sizeof key, "coef[%zu]", k);
        BML__TRY(load_array(cJSON_GetArrayItem(coef, (int)k), dir, key, F, s->coef + k * F));
    }
    BML__TRY(load_array(cJSON_GetObjectItemCaseSensitive(st, "intercept"), dir, "intercept", O, s->intercept));
    BML__TRY(load_array(cJSON_GetObjectItemCaseSensitive(st, "x_mean"), dir, "x_mean", F, s->x_mean));
    BML__TRY(load_array(cJSON_GetObjectItemCaseSensitive(st, "expected_value"), dir, "expected_value", O, s->expected));
    if (((const lin_params *)m->params)->clip) { /* the range the model was fitted with: required */
        s->x_lo = bml__calloc(F ? F : 1, sizeof *s->x_lo);
        s->x_hi = bml__calloc(F ? F : 1, sizeof *s->x_hi);
        if (!s->x_lo || !s->x_hi) return bml__fail(BML_ERR_NOMEM, "out of memory");
        BML__TRY(load_array(cJSON_GetObjectItemCaseSensitive(st, "clip_min"), dir, "clip_min", F, s->x_lo));
        BML__TRY(load_array(cJSON_GetObjectItemCaseSensitive(st, "clip_max"), dir, "clip_max", F, s->x_hi));
        for (size_t j = 0; j < F; j++)
            if (!(s->x_lo[j] <= s->x_hi[j]))
                return bml__fail(BML_ERR_PARSE, "%s/model.json: state.clip_min[%zu] is above state.clip_max[%zu]", dir, j, j);
    }
    const cJSON *fitj = cJSON_GetObjectItemCaseSensitive(st, "fit"), *path = cJSON_GetObjectItemCaseSensitive(st, "cv_path");
    if (!cJSON_IsObject(fitj)) return bml__fail(BML_ERR_PARSE, "%s/model.json: state.fit must be an object", dir);
    cJSON_Delete(s->fit);
    s->fit = cJSON_Duplicate(fitj, 1);
    if (cJSON_IsObject(path)) s->cv_path = cJSON_Duplicate(path, 1);
    if (!s->fit || (cJSON_IsObject(path) && !s->cv_path)) return bml__fail(BML_ERR_NOMEM, "out of memory");
    exact_numbers(s->fit);
    exact_numbers(s->cv_path);
    return BML_OK;
}

#define LINEAR_DEF(var, nm, desc, sp)                                                                               \
    const bml__model_def var = {.name = nm,                                                                         \
                                .description = desc,                                                                \
                                .specs = sp,                                                                        \
                                .n_specs = sizeof sp / sizeof *sp,                                                  \
                                .params_size = sizeof(lin_params),                                                  \
                                .handles_missing = 0,                                                               \
                                .wants_scaled = 1,                                                                  \
                                .fit = fit,                                                                         \
                                .predict = predict,                                                                 \
                                .shap = shap,                                                                       \
                                .importance = importance,                                                           \
                                .fit_info = fit_info,                                                               \
                                .save = save,                                                                       \
                                .load = load,                                                                       \
                                .release = release,                                                                 \
                                .check_weights = check_weights}

LINEAR_DEF(bml__model_ols, "ols", "ordinary least squares (minimum-norm, LAPACK dgelsd), exact linear SHAP", ols_specs);
LINEAR_DEF(bml__model_ridge, "ridge", "ridge regression (Cholesky, as scikit-learn's Ridge), exact linear SHAP", ridge_specs);
LINEAR_DEF(bml__model_lasso, "lasso", "lasso by cyclic coordinate descent (as scikit-learn's Lasso), exact linear SHAP",
           lasso_specs);
LINEAR_DEF(bml__model_elastic_net, "elastic_net", "elastic net by coordinate descent (as scikit-learn's ElasticNet)",
           enet_specs);
LINEAR_DEF(bml__model_elastic_net_cv, "elastic_net_cv",
           "elastic net with alpha and l1_ratio chosen by K-fold cross-validation (as scikit-learn's ElasticNetCV)",
           enet_cv_specs);
LINEAR_DEF(bml__model_pls, "pls", "partial least squares regression (NIPALS, as scikit-learn's PLSRegression)", pls_specs);
LINEAR_DEF(bml__model_pcr, "pcr", "principal component regression (standardise, PCA, least squares on the scores)",
           pcr_specs);

static lin_kind kind_of(const bml_model *m) {
    const bml__model_def *d = m->def;
    return d == &bml__model_ols ? K_OLS : d == &bml__model_ridge ? K_RIDGE : d == &bml__model_lasso ? K_LASSO
         : d == &bml__model_elastic_net ? K_ENET : d == &bml__model_elastic_net_cv ? K_ENET_CV : d == &bml__model_pls ? K_PLS
         : K_PCR;
}
