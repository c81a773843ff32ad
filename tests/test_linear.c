/* The linear models (ols, ridge, lasso, elastic_net, elastic_net_cv, pls, pcr): parity with scikit-learn 1.2
 * (tests/data/sklearn/linear_reference.json, written by tools/gen_sklearn_reference.py), exact save/load,
 * SHAP additivity, importance, bad parameters, missing features, cancelling.
 *
 * Parity is measured as a relative error per compared vector: max_i |c_i - r_i| / max_i |r_i| (C against the
 * reference r; for a scalar |c - r| / |r|), and must stay below 1e-8 for every coefficient vector, intercept,
 * test prediction, alpha grid, CV error curve, PLS weight/loading/rotation/score and PCR component; the
 * iteration counts of coordinate descent must be equal. The largest error of each model is printed. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/internal.h"
#include "core/json.h"
#include "models/linear_fit.h"
#include "test.h"

#define REF TEST_DATA "/sklearn/linear_reference.json"
#define TOL 1e-8

/* ------------------------------------------------------------------ the reference file */

typedef struct {
    const char *name;
    bml_samples train; /* x (n, F) row-major, y (n, O) */
    double *xcol;      /* (n, F) column-major, for the internal fits */
    double *x_test;    /* (n_test, F) row-major */
    size_t n_test;
} dataset;

static cJSON *ref_root;
static dataset sets[3];
static size_t n_sets;

static double *numbers(const cJSON *a, size_t *n) { /* a flat array, or an array of rows, row after row */
    size_t cnt = 0, cap = 64;
    double *v = malloc(cap * sizeof *v);
    const cJSON *r, *e;
    cJSON_ArrayForEach(r, a) {
        const cJSON *row = cJSON_IsArray(r) ? r : NULL;
        if (!row) {
            if (cnt == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            v[cnt++] = r->valuedouble;
            continue;
        }
        cJSON_ArrayForEach(e, row) {
            if (cnt == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            v[cnt++] = e->valuedouble;
        }
    }
    if (n) *n = cnt;
    return v;
}

static char **names(const cJSON *a, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(a);
    char **s = calloc(*n, sizeof *s);
    for (size_t i = 0; i < *n; i++) s[i] = strdup(cJSON_GetArrayItem(a, (int)i)->valuestring);
    return s;
}

static int load_reference(void) {
    if (ref_root) return 1;
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(bml__read_file(REF, &text, &len));
    ref_root = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(ref_root != NULL);
    if (!ref_root) return 0;
    const cJSON *ds, *d;
    ds = cJSON_GetObjectItem(ref_root, "datasets");
    cJSON_ArrayForEach(d, ds) {
        dataset *s = &sets[n_sets++];
        s->name = d->string;
        size_t F, O, nx, ny, nt;
        s->train.feature_names = names(cJSON_GetObjectItem(d, "feature_names"), &F);
        s->train.target_names = names(cJSON_GetObjectItem(d, "target_names"), &O);
        s->train.x = numbers(cJSON_GetObjectItem(d, "x_train"), &nx);
        s->train.y = numbers(cJSON_GetObjectItem(d, "y_train"), &ny);
        s->x_test = numbers(cJSON_GetObjectItem(d, "x_test"), &nt);
        s->train.n = nx / F;
        s->train.n_features = F;
        s->train.n_targets = O;
        s->n_test = nt / F;
        CHECK_INT(ny, s->train.n * O);
        s->xcol = malloc(nx * sizeof *s->xcol);
        for (size_t i = 0; i < s->train.n; i++)
            for (size_t j = 0; j < F; j++) s->xcol[j * s->train.n + i] = s->train.x[i * F + j];
    }
    return n_sets == 3;
}

static dataset *dataset_named(const char *name) {
    for (size_t i = 0; i < n_sets; i++)
        if (!strcmp(sets[i].name, name)) return &sets[i];
    return NULL;
}

/* ------------------------------------------------------------------ errors */

/* max_i |c_i - r_i| / max_i |r_i| (absolute where r is all zero) */
static double rel_err(const double *c, const double *r, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(c[i] - r[i]);
        if (!(e <= d)) d = e; /* NaN counts as the worst */
        m = fmax(m, fabs(r[i]));
    }
    return m > 0 ? d / m : d;
}

#define N_MODELS 7
static const char *const model_names[N_MODELS] = {"ols", "ridge", "lasso", "elastic_net", "elastic_net_cv", "pls", "pcr"};
/* the largest errors per model: [0] coefficients, intercepts, predictions, chosen alpha and l1_ratio;
 * [1] the other quantities (alpha grid, CV curve, PLS and PCR internals) */
static double worst[N_MODELS][2];
static const char *worst_what[N_MODELS][2];
static char worst_case[N_MODELS][2][400];

static int model_index(const char *m) {
    for (int i = 0; i < N_MODELS; i++)
        if (!strcmp(model_names[i], m)) return i;
    return 0;
}

/* compare c (n) with the reference array `key` of t (checks its length), record the error */
static void compare(int mi, const char *label, const char *key, const double *c, size_t n, const cJSON *t) {
    size_t nr = 0;
    const cJSON *a = cJSON_GetObjectItem(t, key);
    if (!a) {
        fprintf(stderr, "  %s: no '%s' in the reference\n", label, key);
        t_fail_count++;
        return;
    }
    double *r = cJSON_IsNumber(a) ? NULL : numbers(a, &nr), one = a->valuedouble, e;
    if (!r) r = &one, nr = 1;
    if (nr != n) {
        fprintf(stderr, "  %s %s: %zu values, the reference %zu\n", label, key, n, nr);
        t_fail_count++;
        e = INFINITY;
    } else {
        e = rel_err(c, r, n);
    }
    int g = strcmp(key, "coef") && strcmp(key, "intercept") && strcmp(key, "pred_test") && strcmp(key, "alpha") &&
            strcmp(key, "l1_ratio");
    if (!(e <= worst[mi][g]) || !worst_what[mi][g]) {
        worst[mi][g] = e;
        worst_what[mi][g] = key;
        snprintf(worst_case[mi][g], sizeof worst_case[mi][g], "%s", label);
    }
    if (!(e < TOL)) {
        fprintf(stderr, "  %s %s: relative error %.3g >= %g\n", label, key, e, TOL);
        t_fail_count++;
    }
    if (r != &one) free(r);
}

static double num_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* the case's parameters as key=value strings (lists "[a, b]", booleans true/false) */
static size_t case_kv(const cJSON *params, bml_kv *kv, char (*vals)[256]) {
    size_t n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        char *v = vals[n];
        if (cJSON_IsArray(p)) {
            size_t off = (size_t)snprintf(v, 256, "[");
            const cJSON *e;
            cJSON_ArrayForEach(e, p) off += (size_t)snprintf(v + off, 256 - off, "%s%.17g", off > 1 ? ", " : "", e->valuedouble);
            snprintf(v + off, 256 - off, "]");
        } else if (cJSON_IsBool(p)) {
            snprintf(v, 256, "%s", cJSON_IsTrue(p) ? "true" : "false");
        } else {
            snprintf(v, 256, "%.17g", p->valuedouble);
        }
        kv[n].key = p->string;
        kv[n].value = v;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ parity */

/* the internal fit of one target compared with the reference's details */
static void compare_internals(int mi, const char *label, const char *model, const dataset *d, const cJSON *params,
                              const double *y, const cJSON *t, size_t k) {
    size_t n = d->train.n, F = d->train.n_features;
    double *coef = calloc(F, sizeof *coef), icpt = 0;
    if (!strcmp(model, "elastic_net_cv")) {
        size_t nl = 0;
        double *l1 = numbers(cJSON_GetObjectItem(params, "l1_ratio"), &nl);
        const cJSON *na = cJSON_GetObjectItem(params, "n_alphas"), *cv = cJSON_GetObjectItem(params, "cv"),
                    *eps = cJSON_GetObjectItem(params, "eps");
        bml__cd_opts o = {1000, 1e-4, NULL, 0, 0};
        bml__enet_cv r;
        CHECK_OK(bml__lin_enet_cv("test", d->xcol, n, F, y, l1, nl, na ? (size_t)na->valuedouble : 100,
                                  eps ? eps->valuedouble : 1e-3, cv ? (size_t)cv->valuedouble : 5, &o, coef, &icpt, &r));
        size_t stride = (size_t)num_of(t, "stride"), na_ = r.n_alphas, m = (na_ + stride - 1) / stride;
        double *al = calloc(nl * m, sizeof *al), *ms = calloc(nl * m, sizeof *ms);
        for (size_t l = 0; r.alphas && l < nl; l++)
            for (size_t a = 0; a < m; a++) {
                al[l * m + a] = r.alphas[l * na_ + a * stride];
                ms[l * m + a] = r.mse_mean[l * na_ + a * stride];
            }
        if (r.alphas) {
            compare(mi, label, "alphas", al, nl * m, t);
            compare(mi, label, "mse_mean", ms, nl * m, t);
        }
        free(al);
        free(ms);
        free(l1);
        bml__enet_cv_release(&r);
    } else if (!strcmp(model, "pls")) {
        const cJSON *nc = cJSON_GetObjectItem(params, "n_components"), *sc = cJSON_GetObjectItem(params, "scale");
        bml__pls p;
        size_t c = (size_t)nc->valuedouble;
        CHECK_OK(bml__lin_pls("test", d->xcol, n, F, y, c, sc ? cJSON_IsTrue(sc) : 1, coef, &icpt, &p));
        if (p.x_weights) {
            compare(mi, label, "x_weights", p.x_weights, F * c, t); /* reference: (k, F) rows = our columns */
            compare(mi, label, "x_loadings", p.x_loadings, F * c, t);
            compare(mi, label, "x_rotations", p.x_rotations, F * c, t);
            compare(mi, label, "y_loadings", p.y_loadings, c, t);
            compare(mi, label, "coef_scaled", p.coef_scaled, F, t);
            compare(mi, label, "x_mean", p.x_mean, F, t);
            compare(mi, label, "x_std", p.x_std, F, t);
            compare(mi, label, "y_mean", &p.y_mean, 1, t);
            compare(mi, label, "y_std", &p.y_std, 1, t);
            if (k == 0) compare(mi, label, "x_scores", p.x_scores, n * (c < 2 ? c : 2), t);
        }
        bml__pls_release(&p);
    } else if (!strcmp(model, "pcr")) {
        size_t c = (size_t)num_of(params, "n_components");
        bml__pcr p;
        CHECK_OK(bml__lin_pcr("test", d->xcol, n, F, y, c, coef, &icpt, &p));
        if (p.components) {
            compare(mi, label, "scaler_mean", p.scaler_mean, F, t);
            compare(mi, label, "scaler_scale", p.scaler_scale, F, t);
            compare(mi, label, "pca_mean", p.pca_mean, F, t);
            compare(mi, label, "components", p.components, c * F, t);
            compare(mi, label, "singular_values", p.singular_values, c, t);
            compare(mi, label, "explained_variance_ratio", p.explained_variance_ratio, c, t);
            compare(mi, label, "lr_coef", p.lr_coef, c, t);
            compare(mi, label, "lr_intercept", &p.lr_intercept, 1, t);
        }
        bml__pcr_release(&p);
    }
    free(coef);
}

static void test_sklearn_parity(void) {
    if (!load_reference()) return;
    const cJSON *c;
    size_t n_cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref_root, "cases")) {
        const char *model = cJSON_GetObjectItem(c, "model")->valuestring;
        dataset *d = dataset_named(cJSON_GetObjectItem(c, "dataset")->valuestring);
        const cJSON *params = cJSON_GetObjectItem(c, "params");
        int mi = model_index(model);
        bml_kv kv[8];
        char vals[8][256];
        size_t nkv = case_kv(params, kv, vals);
        char *ptxt = cJSON_PrintUnformatted(params), label[320];
        snprintf(label, sizeof label, "%s %s %s", d->name, model, ptxt);
        free(ptxt);
        n_cases++;
        bml_model *m = NULL;
        CHECK_OK(bml_model_create(model, kv, nkv, &m));
        if (!m) continue;
        CHECK_OK(bml_model_fit(m, &d->train, NULL, 42));
        if (!bml_model_is_fitted(m)) {
            fprintf(stderr, "  %s: not fitted\n", label);
            bml_model_free(m);
            continue;
        }
        size_t F = d->train.n_features, O = d->train.n_targets, n = d->train.n;
        double *coef = calloc(O * F, sizeof *coef), *pred = calloc(d->n_test * O, sizeof *pred), *y = calloc(n, sizeof *y);
        double *pk = calloc(d->n_test, sizeof *pk);
        CHECK_OK(bml_model_importance(m, "coef", coef));
        CHECK_OK(bml_model_predict(m, d->x_test, d->n_test, pred));
        char *info = bml_model_fit_info_json(m);
        cJSON *ij = info ? cJSON_Parse(info) : NULL;
        free(info);
        for (size_t k = 0; k < O; k++) {
            const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "targets"), (int)k);
            const cJSON *ti = cJSON_GetObjectItem(ij, d->train.target_names[k]);
            char lt[400];
            snprintf(lt, sizeof lt, "%s target %zu", label, k);
            compare(mi, lt, "coef", coef + k * F, F, t);
            double icpt = num_of(ti, "intercept");
            compare(mi, lt, "intercept", &icpt, 1, t);
            for (size_t i = 0; i < d->n_test; i++) pk[i] = pred[i * O + k];
            compare(mi, lt, "pred_test", pk, d->n_test, t);
            if (cJSON_GetObjectItem(t, "n_iter")) {
                long want = (long)num_of(t, "n_iter"), got = (long)num_of(ti, "n_iter");
                if (got != want) {
                    fprintf(stderr, "  %s: n_iter %ld, scikit-learn %ld\n", lt, got, want);
                    t_fail_count++;
                }
            }
            if (cJSON_GetObjectItem(t, "rank")) CHECK_INT((long)num_of(ti, "rank"), (long)num_of(t, "rank"));
            if (!strcmp(model, "elastic_net_cv")) {
                double a = num_of(ti, "alpha"), l = num_of(ti, "l1_ratio");
                compare(mi, lt, "alpha", &a, 1, t);
                compare(mi, lt, "l1_ratio", &l, 1, t);
            }
            for (size_t i = 0; i < n; i++) y[i] = d->train.y[i * O + k];
            compare_internals(mi, lt, model, d, params, y, t, k);
        }
        cJSON_Delete(ij);
        free(coef);
        free(pred);
        free(y);
        free(pk);
        bml_model_free(m);
    }
    CHECK_INT(n_cases, 27);
    printf("  scikit-learn %s parity over %zu cases: largest relative error per model, of the coefficients, intercepts,\n"
           "  test predictions and chosen alpha/l1_ratio | of the other quantities compared\n",
           cJSON_GetObjectItem(ref_root, "sklearn")->valuestring, n_cases);
    for (int i = 0; i < N_MODELS; i++)
        printf("    %-15s %9.3g (%s)  | %9.3g (%s)\n", model_names[i], worst[i][0], worst_what[i][0] ? worst_what[i][0] : "-",
               worst[i][1], worst_what[i][1] ? worst_what[i][1] : "-");
    for (int i = 0; i < N_MODELS; i++)
        if (worst_case[i][0][0]) printf("    %-15s largest in: %s\n", model_names[i], worst_case[i][0]);
}

/* ------------------------------------------------------------------ the model object */

static const char *const kv_of[N_MODELS][2] = {{NULL, NULL}, {"alpha", "0.5"}, {"alpha", "0.05"}, {"alpha", "0.1"},
                                               {"n_alphas", "20"}, {"n_components", "3"}, {"n_components", "3"}};

static bml_model *fitted(int i, const dataset *d) {
    bml_model *m = NULL;
    bml_kv kv = {kv_of[i][0], kv_of[i][1]};
    CHECK_OK(bml_model_create(model_names[i], &kv, kv_of[i][0] ? 1 : 0, &m));
    if (m) CHECK_OK(bml_model_fit(m, &d->train, NULL, 42));
    if (m && !bml_model_is_fitted(m)) {
        bml_model_free(m);
        return NULL;
    }
    return m;
}

/* save, load: predictions, SHAP values, importance and fit information bit for bit; SHAP additivity */
static void test_save_load_shap(void) {
    if (!load_reference()) return;
    const dataset *d = dataset_named("collinear");
    size_t F = d->train.n_features, O = d->train.n_targets, nt = d->n_test, W = F + 1, n = d->train.n;
    double worst_add = 0;
    for (int i = 0; i < N_MODELS; i++) {
        bml_model *m = fitted(i, d), *m2 = NULL;
        char dir[] = "/tmp/bml-test-linear-XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        if (!m) continue;
        CHECK_OK(bml_model_save(m, dir));
        CHECK_OK(bml_model_load(dir, &m2));
        double *a = calloc(nt * O, sizeof *a), *b = calloc(nt * O, sizeof *b);
        double *pa = calloc(nt * O * W, sizeof *pa), *pb = calloc(nt * O * W, sizeof *pb);
        double *ia = calloc(O * F, sizeof *ia), *ib = calloc(O * F, sizeof *ib), *ytr = calloc(n * O, sizeof *ytr);
        if (m2) {
            CHECK_OK(bml_model_predict(m, d->x_test, nt, a));
            CHECK_OK(bml_model_predict(m2, d->x_test, nt, b));
            CHECK(!memcmp(a, b, nt * O * sizeof *a));
            CHECK_OK(bml_model_shap(m, d->x_test, nt, pa));
            CHECK_OK(bml_model_shap(m2, d->x_test, nt, pb));
            CHECK(!memcmp(pa, pb, nt * O * W * sizeof *pa));
            const char *kinds[] = {"gain", "total_gain", "split", "coef"};
            for (int k = 0; k < 4; k++) {
                CHECK_OK(bml_model_importance(m, kinds[k], ia));
                CHECK_OK(bml_model_importance(m2, kinds[k], ib));
                CHECK(!memcmp(ia, ib, O * F * sizeof *ia));
            }
            char *fa = bml_model_fit_info_json(m), *fb = bml_model_fit_info_json(m2);
            CHECK_STR(fa, fb);
            free(fa);
            free(fb);
            /* additivity: sum of phi + expected value = prediction; the expected value is the mean training prediction */
            for (size_t r = 0; r < nt; r++)
                for (size_t k = 0; k < O; k++) {
                    double s = 0;
                    for (size_t j = 0; j <= F; j++) s += pa[(r * O + k) * W + j];
                    double e = fabs(s - a[r * O + k]) / fmax(1.0, fabs(a[r * O + k]));
                    worst_add = fmax(worst_add, e);
                    CHECK(e <= 1e-12);
                }
            CHECK_OK(bml_model_predict(m, d->train.x, n, ytr));
            for (size_t k = 0; k < O; k++) {
                double s = 0;
                for (size_t r = 0; r < n; r++) s += ytr[r * O + k];
                CHECK_NEAR(pa[k * W + F], s / (double)n, 1e-12 * fmax(1.0, fabs(s / (double)n)));
            }
            /* importance: |coef| for gain and total_gain, 1 where the coefficient is not zero for split */
            CHECK_OK(bml_model_importance(m, "coef", ia));
            CHECK_OK(bml_model_importance(m, "gain", ib));
            for (size_t j = 0; j < O * F; j++) CHECK(ib[j] == fabs(ia[j]));
            CHECK_OK(bml_model_importance(m, "split", ib));
            for (size_t j = 0; j < O * F; j++) CHECK(ib[j] == (ia[j] != 0));
            CHECK_ERR(bml_model_importance(m, "cover", ib), BML_ERR_VALUE, "unknown importance kind 'cover'");
        }
        /* a damaged state is refused, naming the place */
        char *path = bml__path_join(dir, "model.json"), *text = NULL;
        size_t len = 0;
        CHECK_OK(bml__read_file(path, &text, &len));
        cJSON *root = text ? cJSON_Parse(text) : NULL;
        if (root) {
            cJSON *st = cJSON_GetObjectItem(root, "state");
            cJSON_ReplaceItemInArray(cJSON_GetObjectItem(st, "intercept"), 0, cJSON_CreateString("x"));
            cJSON_DeleteItemFromObject(root, "xxh64");
            CHECK_OK(bml__json_write_sealed(path, root));
            bml_model *bad = NULL;
            CHECK_ERR(bml_model_load(dir, &bad), BML_ERR_PARSE, "state.intercept[0] must be a finite number");
            CHECK(bad == NULL);
            cJSON_Delete(root);
        }
        free(text);
        free(path);
        bml__rm_rf(dir);
        free(a), free(b), free(pa), free(pb), free(ia), free(ib), free(ytr);
        bml_model_free(m);
        bml_model_free(m2);
    }
    printf("  SHAP additivity: largest |sum phi + expected - prediction| / max(1, |prediction|) %.3g\n", worst_add);
}

/* clip=true: the inputs' range over the TRAINING rows (here the first half of them) is kept with the model and
 * every predicted row is clipped to it (winsorised); the fit itself is the same as without clipping */
static void test_clip(void) {
    if (!load_reference()) return;
    const dataset *d = dataset_named("collinear");
    size_t F = d->train.n_features, O = d->train.n_targets, W = F + 1;
    bml_samples half = d->train;
    half.n = d->train.n / 2;
    double *lo = calloc(F, sizeof *lo), *hi = calloc(F, sizeof *hi), *out = calloc(2 * F, sizeof *out);
    double *in = calloc(2 * F, sizeof *in); /* row 0: the clipped far row; row 1: a training row of the other half */
    for (size_t j = 0; j < F; j++) {
        lo[j] = INFINITY, hi[j] = -INFINITY;
        for (size_t r = 0; r < half.n; r++) lo[j] = fmin(lo[j], half.x[r * F + j]), hi[j] = fmax(hi[j], half.x[r * F + j]);
        double span = hi[j] - lo[j] + 1;
        out[j] = j % 2 ? lo[j] - 3 * span : hi[j] + 3 * span; /* far outside, below or above */
        in[j] = j % 2 ? lo[j] : hi[j];
        double v = d->train.x[(d->train.n - 1) * F + j]; /* a row the fit did not see: clipped to the half's range */
        out[F + j] = v, in[F + j] = fmin(fmax(v, lo[j]), hi[j]);
    }
    for (int i = 0; i < N_MODELS; i++) {
        bml_kv kv[2] = {{"clip", "true"}, {kv_of[i][0], kv_of[i][1]}};
        bml_model *m = NULL, *m0 = NULL, *m2 = NULL;
        CHECK_OK(bml_model_create(model_names[i], kv, kv_of[i][0] ? 2 : 1, &m));
        CHECK_OK(bml_model_create(model_names[i], kv + 1, kv_of[i][0] ? 1 : 0, &m0));
        if (!m || !m0) goto next;
        CHECK_OK(bml_model_fit(m, &half, NULL, 42));
        CHECK_OK(bml_model_fit(m0, &half, NULL, 42));
        double a[4], b[4], c[4], phi[4 * 16];
        CHECK_OK(bml_model_predict(m, out, 2, a));
        CHECK_OK(bml_model_predict(m0, in, 2, b));
        for (size_t k = 0; k < 2 * O; k++) CHECK(a[k] == b[k]); /* clipped = the unclipped model on the clipped rows */
        CHECK_OK(bml_model_predict(m, half.x, 1, c));
        CHECK_OK(bml_model_predict(m0, half.x, 1, b));
        for (size_t k = 0; k < O; k++) CHECK(c[k] == b[k]); /* a training row: unchanged */
        if (i == 0) { /* ols extrapolates without clipping */
            CHECK_OK(bml_model_predict(m0, out, 1, b));
            CHECK(fabs(b[0] - a[0]) > 1e-3);
        }
        CHECK(W * O * 2 <= 4 * 16);
        CHECK_OK(bml_model_shap(m, out, 1, phi)); /* additivity holds on the clipped inputs */
        for (size_t k = 0; k < O; k++) {
            double sum = 0;
            for (size_t j = 0; j <= F; j++) sum += phi[k * W + j];
            CHECK_NEAR(sum, a[k], 1e-12 * fmax(1, fabs(a[k])));
        }
        /* saved with the model: the range of the training rows, the same predictions after a load */
        char dir[] = "/tmp/bml-test-linear-XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        CHECK_OK(bml_model_save(m, dir));
        CHECK_OK(bml_model_load(dir, &m2));
        if (m2) {
            CHECK_OK(bml_model_predict(m2, out, 2, c));
            CHECK(!memcmp(a, c, 2 * O * sizeof *a));
        }
        char *path = bml__path_join(dir, "model.json"), *text = NULL;
        CHECK_OK(bml__read_file(path, &text, NULL));
        cJSON *root = text ? cJSON_Parse(text) : NULL;
        if (root) {
            cJSON *st = cJSON_GetObjectItem(root, "state");
            for (size_t j = 0; j < F; j++) {
                CHECK(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "clip_min"), (int)j)->valuedouble == lo[j]);
                CHECK(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "clip_max"), (int)j)->valuedouble == hi[j]);
            }
            cJSON_DeleteItemFromObject(st, "clip_max"); /* a clipping model without its range is refused */
            cJSON_DeleteItemFromObject(root, "xxh64");
            CHECK_OK(bml__json_write_sealed(path, root));
            bml_model *bad = NULL;
            CHECK_ERR(bml_model_load(dir, &bad), BML_ERR_PARSE, "state.clip_max must be an array of");
            CHECK(bad == NULL);
            cJSON_Delete(root);
        }
        free(text);
        free(path);
        bml__rm_rf(dir);
    next:
        bml_model_free(m);
        bml_model_free(m0);
        bml_model_free(m2);
    }
    free(lo), free(hi), free(out), free(in);
}

static void test_bad_parameters(void) {
    if (!load_reference()) return;
    const dataset *d = dataset_named("collinear");
    bml_model *m = NULL;
    bml_kv neg = {"alpha", "-1"};
    CHECK_ERR(bml_model_create("ridge", &neg, 1, &m), BML_ERR_VALUE, "model ridge: alpha must be >= 0 (got -1)");
    CHECK_ERR(bml_model_create("lasso", &neg, 1, &m), BML_ERR_VALUE, "model lasso: alpha must be >= 0 (got -1)");
    bml_kv l1 = {"l1_ratio", "1.5"};
    CHECK_ERR(bml_model_create("elastic_net", &l1, 1, &m), BML_ERR_VALUE, "l1_ratio must be <= 1 (got 1.5)");
    bml_kv zero = {"n_components", "0"};
    CHECK_ERR(bml_model_create("pls", &zero, 1, &m), BML_ERR_VALUE, "n_components must be >= 1 (got 0)");
    bml_kv it = {"max_iter", "0"};
    CHECK_ERR(bml_model_create("lasso", &it, 1, &m), BML_ERR_VALUE, "max_iter must be >= 1 (got 0)");
    bml_kv one = {"cv", "1"};
    CHECK_ERR(bml_model_create("elastic_net_cv", &one, 1, &m), BML_ERR_VALUE, "cv must be >= 2 (got 1)");
    CHECK(m == NULL);
    /* parameters these data cannot take: at fit, with the numbers */
    bml_kv many = {"n_components", "9"};
    CHECK_OK(bml_model_create("pls", &many, 1, &m));
    if (m) CHECK_ERR(bml_model_fit(m, &d->train, NULL, 1), BML_ERR_VALUE, "n_components=9 must be from 1 to the 8 features");
    bml_model_free(m), m = NULL;
    CHECK_OK(bml_model_create("pcr", &many, 1, &m));
    if (m) CHECK_ERR(bml_model_fit(m, &d->train, NULL, 1), BML_ERR_VALUE, "n_components=9 must be from 1 to min(rows, features)");
    bml_model_free(m), m = NULL;
    bml_samples few = d->train;
    few.n = 4;
    bml_kv cv = {"cv", "5"};
    CHECK_OK(bml_model_create("elastic_net_cv", &cv, 1, &m));
    if (m) CHECK_ERR(bml_model_fit(m, &few, NULL, 1), BML_ERR_VALUE, "cv=5 folds need at least 5 training rows (n_samples=4)");
    CHECK(m && !bml_model_is_fitted(m));
    bml_model_free(m), m = NULL;
    const char *lists[] = {"[0, 0.5]", "[0.5, 1.01]", "abc", "[]"};
    for (int i = 0; i < 4; i++) {
        bml_kv kl = {"l1_ratio", lists[i]};
        CHECK_OK(bml_model_create("elastic_net_cv", &kl, 1, &m));
        if (m) CHECK_ERR(bml_model_fit(m, &d->train, NULL, 1), BML_ERR_VALUE, "l1_ratio must be a list of numbers in (0, 1]");
        bml_model_free(m), m = NULL;
    }
    bml_kv un = {"learning_rate", "0.1"};
    CHECK_ERR(bml_model_create("ridge", &un, 1, &m), BML_ERR_VALUE, "unknown parameter 'learning_rate' (valid: alpha, clip)");
}

/* NaN features: refused at fit (the runner imputes first), at predict and for SHAP */
static void test_missing_refused(void) {
    if (!load_reference()) return;
    const dataset *d = dataset_named("collinear");
    size_t F = d->train.n_features, n = d->train.n;
    for (int i = 0; i < N_MODELS; i++) {
        bml_samples s = d->train;
        s.x = malloc(n * F * sizeof *s.x);
        memcpy(s.x, d->train.x, n * F * sizeof *s.x);
        s.x[3 * F + 2] = NAN;
        bml_model *m = NULL;
        CHECK_OK(bml_model_create(model_names[i], NULL, 0, &m));
        if (m) CHECK_ERR(bml_model_fit(m, &s, NULL, 1), BML_ERR_VALUE, "feature 'x2' of training sample 3 is missing (NaN)");
        bml_model_free(m);
        m = fitted(i, d);
        double y[2], phi[2 * 9];
        if (m) {
            CHECK_ERR(bml_model_predict(m, s.x + 3 * F, 1, y), BML_ERR_VALUE, "feature 'x2' of row 0 is missing (NaN)");
            CHECK_ERR(bml_model_shap(m, s.x + 3 * F, 1, phi), BML_ERR_VALUE, "feature 'x2' of row 0 is missing (NaN)");
        }
        bml_model_free(m);
        free(s.x);
    }
}

static void test_cancel(void) {
    if (!load_reference()) return;
    const dataset *d = dataset_named("oxford");
    int flag = 1;
    const char *names_[] = {"lasso", "elastic_net", "elastic_net_cv"};
    for (int i = 0; i < 3; i++) {
        bml_model *m = NULL;
        bml_kv kv = {"tol", "0"};
        CHECK_OK(bml_model_create(names_[i], &kv, 1, &m));
        if (!m) continue;
        bml_model_set_cancel(m, &flag);
        CHECK_ERR(bml_model_fit(m, &d->train, NULL, 1), BML_ERR_CANCELLED, "fit cancelled at coordinate-descent sweep 1");
        CHECK(!bml_model_is_fitted(m));
        bml_model_free(m);
    }
}

/* the internal numbers: numpy's pairwise sum, the duality-gap stop, the KFold sizes in the CV curve */
static void test_internals(void) {
    double a[300];
    for (int i = 0; i < 300; i++) a[i] = 1.0 / (i + 1) * (i % 3 ? 1 : -1e3);
    /* numpy's np.sum of these 300 values (halves of 144 and 156 rows, each eight running sums):
     * python3 -c "import numpy as np; print(repr(np.sum([1/(i+1)*(1 if i%3 else -1e3) for i in range(300)])))"
     * prints -2574.8092126245606; adding them in order gives -2574.809212624565 */
    CHECK(bml__lin_pairwise_sum(a, 300, 1) == -2574.8092126245606);
    CHECK(bml__lin_pairwise_sum(a, 0, 1) == 0);
    CHECK(bml__lin_pairwise_sum(a, 3, 2) == a[0] + a[2] + a[4]);
    /* one sweep suffices for an orthogonal design without penalty: the gap is 0 at once */
    double x[4 * 2] = {1, -1, 1, -1, 1, 1, -1, -1}, y[4] = {3, 1, -1, -3}, w[2], icpt;
    bml__cd_opts o = {100, 1e-4, NULL, 0, 0};
    bml__cd_result r;
    CHECK_OK(bml__lin_enet("t", x, 4, 2, y, 0.0, 1.0, &o, w, &icpt, &r));
    CHECK_INT(r.n_iter, 2); /* sweep 1 moves w from 0; sweep 2 moves nothing and checks the gap */
    CHECK(r.converged);
    CHECK_NEAR(w[0], 1.0, 1e-15);
    CHECK_NEAR(w[1], 2.0, 1e-15);
    CHECK_NEAR(icpt, 0.0, 1e-15);
}

/* ElasticNetCV's paths run interleaved on each thread (lanes) and on several threads: the cross-validation
 * curve, the chosen alpha and the refit are the same bits at any number of lanes and threads as one path at a
 * time on one thread. Correlated features make the paths' sweep counts differ, so lanes finish and are
 * refilled at different times; the second design (12 rows, 9 features) mixes folds with the Gram matrix
 * (10 training rows) and without it (9). */
static void test_cv_lanes_threads(void) {
    const size_t shapes[2][2] = {{40, 6}, {12, 9}};
    const double l1[3] = {0.1, 0.5, 1.0};
    for (int s = 0; s < 2; s++) {
        size_t n = shapes[s][0], F = shapes[s][1];
        double *x = malloc(n * F * sizeof *x), *y = malloc(n * sizeof *y);
        uint64_t st = 12345 + (uint64_t)s;
        for (size_t i = 0; i < n; i++) {
            double common = 0;
            y[i] = 0;
            for (size_t j = 0; j < F; j++) {
                st = st * 6364136223846793005ULL + 1442695040888963407ULL;
                double u = (double)(st >> 11) / 9007199254740992.0 - 0.5;
                if (j == 0) common = u;
                x[j * n + i] = 0.8 * common + u; /* columns correlated through the first */
                y[i] += (double)(j % 3) * x[j * n + i];
            }
            y[i] += 0.05 * (double)(i % 7);
        }
        const int cfg[5][2] = {{1, 1}, {1, 8}, {2, 1}, {2, 3}, {2, 8}};
        double coef0[9], icpt0 = 0;
        bml__enet_cv ref;
        memset(&ref, 0, sizeof ref);
        for (int c = 0; c < 5; c++) {
            bml__cd_opts o = {1000, 1e-4, NULL, cfg[c][0], (size_t)cfg[c][1]};
            bml__enet_cv r;
            double coef[9], icpt;
            CHECK_OK(bml__lin_enet_cv("t", x, n, F, y, l1, 3, 30, 1e-3, 5, &o, coef, &icpt, &r));
            if (c == 0) {
                ref = r;
                memcpy(coef0, coef, F * sizeof *coef);
                icpt0 = icpt;
                continue;
            }
            size_t nm = r.n_l1 * r.n_folds * r.n_alphas, differ = 0;
            for (size_t i = 0; i < nm; i++) differ += memcmp(&r.mse[i], &ref.mse[i], sizeof(double)) != 0;
            if (differ) fprintf(stderr, "  %zux%zu, %d threads, %d lanes: %zu of %zu fold errors differ\n", n, F, cfg[c][0],
                                cfg[c][1], differ, nm);
            CHECK(differ == 0);
            CHECK(!memcmp(coef, coef0, F * sizeof *coef) && !memcmp(&icpt, &icpt0, sizeof icpt));
            CHECK(r.best_l1 == ref.best_l1 && r.best_alpha == ref.best_alpha);
            bml__enet_cv_release(&r);
        }
        bml__enet_cv_release(&ref);
        free(x);
        free(y);
    }
}

static void cleanup(void) {
    for (size_t i = 0; i < n_sets; i++) {
        for (size_t j = 0; j < sets[i].train.n_features; j++) free(sets[i].train.feature_names[j]);
        for (size_t k = 0; k < sets[i].train.n_targets; k++) free(sets[i].train.target_names[k]);
        free(sets[i].train.feature_names);
        free(sets[i].train.target_names);
        free(sets[i].train.x);
        free(sets[i].train.y);
        free(sets[i].xcol);
        free(sets[i].x_test);
    }
    n_sets = 0;
    cJSON_Delete(ref_root);
    ref_root = NULL;
}

TEST_MAIN("linear", T(test_sklearn_parity), T(test_save_load_shap), T(test_bad_parameters), T(test_missing_refused),
          T(test_cancel), T(test_internals), T(test_cv_lanes_threads), T(test_clip), T(cleanup))
