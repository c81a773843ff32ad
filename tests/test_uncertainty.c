/* Conformal intervals (include/batteryml/uncertainty.h): the ranks, split conformal and CV+ against an independent
 * reference (tools/gen_conformal_reference.py: exact rational ranks, full sorts, numpy least squares), coverage on
 * synthetic data whose answer is known, and bad input. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/internal.h"
#include "core/json.h"
#include "pipelines/pipeline_internal.h"
#include "test.h"

#define REF TEST_DATA "/conformal/reference.json"

static cJSON *load_json(const char *path) {
    char *txt = NULL;
    if (bml__read_file(path, &txt, NULL) != BML_OK) {
        fprintf(stderr, "cannot read %s\n", path);
        abort();
    }
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!j) abort();
    return j;
}

/* a number, or the strings "inf" / "-inf" */
static double jnum(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring[0] == '-' ? -INFINITY : INFINITY;
    return v->valuedouble;
}

static double *jarr(const cJSON *a, size_t *n) {
    size_t len = (size_t)cJSON_GetArraySize(a);
    double *v = calloc(len + 1, sizeof *v);
    for (size_t i = 0; i < len; i++) v[i] = jnum(cJSON_GetArrayItem(a, (int)i));
    if (n) *n = len;
    return v;
}

/* equal, infinities included */
static int same(double a, double b, double tol) { return isinf(b) ? a == b : fabs(a - b) <= tol * (1 + fabs(b)); }
#define CHECK_SAME(a, b, tol)                                                                                     \
    do {                                                                                                          \
        double t_a = (a), t_b = (b);                                                                              \
        if (!same(t_a, t_b, tol)) {                                                                               \
            fprintf(stderr, "  %s:%d: %s == %s failed: %.17g vs %.17g\n", __FILE__, __LINE__, #a, #b, t_a, t_b); \
            t_fail_count++;                                                                                       \
        }                                                                                                         \
    } while (0)

static void ranks_match_reference(void) {
    cJSON *j = load_json(REF), *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "ranks")) {
        size_t n = (size_t)cJSON_GetObjectItem(c, "n")->valuedouble, ku = 99999, kl = 99999;
        double alpha = cJSON_GetObjectItem(c, "alpha")->valuedouble;
        CHECK_OK(bml_conformal_ranks(n, alpha, &ku, &kl));
        if (ku != (size_t)cJSON_GetObjectItem(c, "ku")->valuedouble || kl != (size_t)cJSON_GetObjectItem(c, "kl")->valuedouble) {
            fprintf(stderr, "  n %zu alpha %g: ku %zu kl %zu, reference %g %g\n", n, alpha, ku, kl,
                    cJSON_GetObjectItem(c, "ku")->valuedouble, cJSON_GetObjectItem(c, "kl")->valuedouble);
            t_fail_count++;
        }
        cases++;
    }
    CHECK(cases >= 10);
    CHECK_INT(bml_conformal_min_n(0.1), 9);
    CHECK_INT(bml_conformal_min_n(0.05), 19);
    CHECK_INT(bml_conformal_min_n(0.2), 4);
    CHECK_INT(bml_conformal_min_n(0.5), 1);
    CHECK_INT(bml_conformal_min_n(0), 0);
    cJSON_Delete(j);
}

static void split_matches_reference(void) {
    cJSON *j = load_json(REF), *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "split")) {
        size_t n;
        double *r = jarr(cJSON_GetObjectItem(c, "residuals"), &n);
        double alpha = cJSON_GetObjectItem(c, "alpha")->valuedouble, want = jnum(cJSON_GetObjectItem(c, "q")), q = -1;
        CHECK_OK(bml_conformal_quantile(r, n, alpha, &q));
        CHECK_SAME(q, want, 0);
        double pred[2] = {1.5, -3}, lo[2], hi[2], q2 = -1;
        CHECK_OK(bml_conformal_split(r, n, pred, 2, alpha, lo, hi, &q2));
        CHECK_SAME(q2, want, 0);
        CHECK_SAME(lo[0], 1.5 - want, 0);
        CHECK_SAME(hi[1], -3 + want, 0);
        free(r);
        cases++;
    }
    CHECK(cases >= 5);
    cJSON_Delete(j);
}

static void cv_plus_matches_reference(void) {
    cJSON *j = load_json(REF), *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cv_plus")) {
        size_t n, K = (size_t)cJSON_GetObjectItem(c, "K")->valuedouble, m = (size_t)cJSON_GetObjectItem(c, "m")->valuedouble;
        double alpha = cJSON_GetObjectItem(c, "alpha")->valuedouble;
        double *g = jarr(cJSON_GetObjectItem(c, "group"), &n), *r = jarr(cJSON_GetObjectItem(c, "residual"), NULL);
        size_t *group = calloc(n, sizeof *group);
        for (size_t i = 0; i < n; i++) group[i] = (size_t)g[i];
        double *gp = calloc(K * m, sizeof *gp);
        for (size_t k = 0; k < K; k++) {
            double *row = jarr(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "group_pred"), (int)k), NULL);
            memcpy(gp + k * m, row, m * sizeof *gp);
            free(row);
        }
        double *wl = jarr(cJSON_GetObjectItem(c, "lower"), NULL), *wu = jarr(cJSON_GetObjectItem(c, "upper"), NULL);
        double *lo = calloc(m, sizeof *lo), *hi = calloc(m, sizeof *hi);
        CHECK_OK(bml_conformal_cv_plus(group, r, n, gp, K, m, alpha, lo, hi));
        for (size_t i = 0; i < m; i++) {
            CHECK_SAME(lo[i], wl[i], 0);
            CHECK_SAME(hi[i], wu[i], 0);
        }
        free(g), free(r), free(group), free(gp), free(wl), free(wu), free(lo), free(hi);
        cases++;
    }
    CHECK(cases >= 4);
    cJSON_Delete(j);
}

/* static samples: x (n, F), y (n), one cell id per row (the strings are borrowed by the meta) */
static bml_samples *make_samples(const double *x, const double *y, const char *const *cells, size_t n, size_t F) {
    bml_samples *s = bml__samples_alloc(n, F, 1);
    if (!s) abort();
    for (size_t j = 0; j < F; j++) s->feature_names[j] = bml__sprintf("x%zu", j);
    s->target_names[0] = bml__strdup("y");
    memcpy(s->x, x, n * F * sizeof *x);
    memcpy(s->y, y, n * sizeof *y);
    for (size_t i = 0; i < n; i++) s->meta[i].cell = cells[i], s->meta[i].line = i + 1;
    return s;
}

static void cvplus_fit_matches_reference(void) {
    cJSON *j = load_json(REF), *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cv_plus_fit")) {
        cJSON *xs = cJSON_GetObjectItem(c, "x"), *xts = cJSON_GetObjectItem(c, "x_test"), *cs = cJSON_GetObjectItem(c, "cells");
        size_t n = (size_t)cJSON_GetArraySize(xs), F = 2, m = (size_t)cJSON_GetArraySize(xts);
        double *x = calloc(n * F, sizeof *x), *xt = calloc(m * F, sizeof *xt);
        const char **cells = calloc(n, sizeof *cells);
        for (size_t i = 0; i < n; i++) {
            for (size_t f = 0; f < F; f++) x[i * F + f] = cJSON_GetArrayItem(cJSON_GetArrayItem(xs, (int)i), (int)f)->valuedouble;
            cells[i] = cJSON_GetArrayItem(cs, (int)i)->valuestring;
        }
        for (size_t i = 0; i < m; i++)
            for (size_t f = 0; f < F; f++) xt[i * F + f] = cJSON_GetArrayItem(cJSON_GetArrayItem(xts, (int)i), (int)f)->valuedouble;
        double *y = jarr(cJSON_GetObjectItem(c, "y"), NULL), *oof = jarr(cJSON_GetObjectItem(c, "oof"), NULL);
        double *g = jarr(cJSON_GetObjectItem(c, "group"), NULL);
        double *wl = jarr(cJSON_GetObjectItem(c, "lower"), NULL), *wu = jarr(cJSON_GetObjectItem(c, "upper"), NULL);
        double alpha = cJSON_GetObjectItem(c, "alpha")->valuedouble;
        size_t max_groups = (size_t)cJSON_GetObjectItem(c, "max_groups")->valuedouble;
        bml_samples *s = make_samples(x, y, cells, n, F);
        bml_cvplus *cv = NULL;
        CHECK_OK(bml_cvplus_fit("ols", NULL, 0, s, 42, max_groups, NULL, &cv));
        bml_samples_free(s); /* borrowed only during the fit */
        if (cv) {
            CHECK_INT(bml_cvplus_n_train(cv), n);
            CHECK_INT(bml_cvplus_n_groups(cv), max_groups ? max_groups : n / 2);
            const size_t *grp = bml_cvplus_groups(cv);
            const double *o = bml_cvplus_oof_predictions(cv), *r = bml_cvplus_residuals(cv);
            for (size_t i = 0; i < n; i++) {
                CHECK_INT(grp[i], (size_t)g[i]);
                CHECK_SAME(o[i], oof[i], 1e-10);
                CHECK_SAME(r[i], fabs(y[i] - oof[i]), 1e-10);
            }
            double lo[8], hi[8];
            CHECK_OK(bml_cvplus_interval(cv, xt, m, alpha, lo, hi));
            for (size_t i = 0; i < m; i++) {
                CHECK_SAME(lo[i], wl[i], 1e-10);
                CHECK_SAME(hi[i], wu[i], 1e-10);
            }
        }
        bml_cvplus_free(cv);
        free(x), free(xt), free(cells), free(y), free(oof), free(g), free(wl), free(wu);
        cases++;
    }
    CHECK_INT(cases, 4);
    cJSON_Delete(j);
}

/* ---- coverage on synthetic data: a fixed-seed generator, so each test gives the same numbers every run ---- */
static uint64_t rng_state;
static double urand(void) { /* splitmix64 -> [0, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}
static double nrand(void) { /* Box-Muller */
    double u = urand(), v = urand();
    return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

/* Split conformal on y = mu(x) + N(0, 1) noise with mu known: the coverage of one new point is exactly
 * ku / (n + 1) for continuous noise (0.9 for n = 19, alpha = 0.1), and 1 when n is too small. 20,000 draws: the
 * standard error is about 0.002; the tolerance 0.01 also tells ku from ku - 1 (0.85 for n = 19). */
static void split_coverage_gaussian(void) {
    rng_state = 12345;
    const struct {
        size_t n;
        double alpha;
    } cases[] = {{19, 0.1}, {10, 0.1}, {30, 0.2}, {99, 0.05}, {8, 0.1}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n = cases[c].n, trials = 20000, covered = 0, ku;
        double alpha = cases[c].alpha, r[128], wsum = 0;
        CHECK_OK(bml_conformal_ranks(n, alpha, &ku, NULL));
        for (size_t t = 0; t < trials; t++) {
            for (size_t i = 0; i < n; i++) r[i] = fabs(nrand()); /* |y - mu(x)| */
            double mu = 3.0, y = mu + nrand(), lo, hi, q;
            CHECK_OK(bml_conformal_split(r, n, &mu, 1, alpha, &lo, &hi, &q));
            covered += lo <= y && y <= hi;
            wsum += hi - lo;
        }
        double cov = (double)covered / (double)trials;
        double want = ku > n ? 1.0 : (double)ku / (double)(n + 1);
        if (fabs(cov - want) > 0.01) {
            fprintf(stderr, "  n %zu alpha %g: coverage %.4f, expected %.4f\n", n, alpha, cov, want);
            t_fail_count++;
        }
        CHECK(cov >= 1 - alpha - 0.01);
        if (ku > n) CHECK(isinf(wsum));
    }
}

/* CV+ through the model API (ols) on y = 2 + 3 x1 - x2 + N(0, 1), one row per cell: over 400 data sets of 20
 * training cells and 25 test cells each, the coverage is at least 1 - 2 alpha (the guarantee) and near 1 - alpha
 * (within 0.03); likewise for jackknife+ (one group per cell) and for cells of 3 rows each (grouped by cell). */
static void cvplus_coverage_gaussian(void) {
    rng_state = 777;
    const struct {
        size_t max_groups, rows_per_cell, trials;
    } cases[] = {{5, 1, 400}, {0, 1, 150}, {4, 3, 200}};
    char names[64][8];
    const char *cell_of[64];
    for (size_t c = 0; c < 64; c++) snprintf(names[c], sizeof names[c], "c%zu", c);
    for (size_t cs = 0; cs < sizeof cases / sizeof *cases; cs++) {
        size_t per = cases[cs].rows_per_cell, n = 20 * per, m = 25, F = 2, covered = 0, total = 0;
        double alpha = 0.1, x[64 * 2], y[64], xt[25 * 2], yt[25], lo[25], hi[25];
        for (size_t i = 0; i < n; i++) cell_of[i] = names[i / per];
        for (size_t t = 0; t < cases[cs].trials; t++) {
            for (size_t i = 0; i < n; i++) {
                x[2 * i] = urand() * 4, x[2 * i + 1] = urand() * 2;
                y[i] = 2 + 3 * x[2 * i] - x[2 * i + 1] + nrand();
            }
            for (size_t i = 0; i < m; i++) {
                xt[2 * i] = urand() * 4, xt[2 * i + 1] = urand() * 2;
                yt[i] = 2 + 3 * xt[2 * i] - xt[2 * i + 1] + nrand();
            }
            bml_samples *s = make_samples(x, y, cell_of, n, F);
            bml_cvplus *cv = NULL;
            bml_status st = bml_cvplus_fit("ols", NULL, 0, s, 1, cases[cs].max_groups, NULL, &cv);
            bml_samples_free(s);
            if (st != BML_OK) {
                CHECK_OK(st);
                break;
            }
            CHECK_INT(bml_cvplus_n_groups(cv), cases[cs].max_groups ? cases[cs].max_groups : 20);
            CHECK_OK(bml_cvplus_interval(cv, xt, m, alpha, lo, hi));
            bml_cvplus_free(cv);
            double c;
            size_t used;
            CHECK_OK(bml_interval_coverage(yt, lo, hi, m, &c, NULL, &used));
            covered += (size_t)lround(c * (double)used);
            total += used;
        }
        double cov = (double)covered / (double)total;
        if (!(cov >= 1 - 2 * alpha && fabs(cov - (1 - alpha)) <= 0.03)) {
            fprintf(stderr, "  case %zu: CV+ coverage %.4f over %zu points\n", cs, cov, total);
            t_fail_count++;
        }
    }
}

static void coverage_and_width(void) {
    double y[5] = {1, 2, NAN, 4, 5}, lo[5] = {0, 2.5, 0, 4, 4}, hi[5] = {1, 3, 1, 6, 4.5}, c = -1, w = -1;
    size_t used = 99;
    CHECK_OK(bml_interval_coverage(y, lo, hi, 5, &c, &w, &used));
    CHECK_INT(used, 4);
    CHECK_NEAR(c, 0.5, 0); /* 1 in [0,1] (closed), 2 not in [2.5,3], 4 in [4,6], 5 not in [4,4.5] */
    CHECK_NEAR(w, (1 + 0.5 + 2 + 0.5) / 4.0, 1e-15);
    hi[0] = INFINITY;
    CHECK_OK(bml_interval_coverage(y, lo, hi, 5, &c, &w, NULL));
    CHECK(isinf(w));
    double ny[2] = {NAN, NAN};
    CHECK_OK(bml_interval_coverage(ny, lo, hi, 2, &c, &w, &used));
    CHECK(isnan(c) && isnan(w) && used == 0);
    lo[1] = 3.5;
    CHECK_ERR(bml_interval_coverage(y, lo, hi, 5, &c, &w, &used), BML_ERR_VALUE, "interval 1: [3.5, 3] is not an interval");
}

static void bad_input(void) {
    double r[3] = {0.5, 1, 2}, pred[1] = {0}, lo[1] = {7}, hi[1] = {7}, q = 7;
    size_t ku;
    const double bad_alpha[] = {0, 1, -0.1, 1.5, NAN};
    for (size_t i = 0; i < sizeof bad_alpha / sizeof *bad_alpha; i++) {
        CHECK_ERR(bml_conformal_quantile(r, 3, bad_alpha[i], &q), BML_ERR_VALUE, "is outside (0, 1)");
        CHECK_ERR(bml_conformal_ranks(3, bad_alpha[i], &ku, NULL), BML_ERR_VALUE, "is outside (0, 1)");
        size_t g[3] = {0, 1, 1};
        double gp[2] = {0, 1};
        CHECK_ERR(bml_conformal_cv_plus(g, r, 3, gp, 2, 1, bad_alpha[i], lo, hi), BML_ERR_VALUE, "is outside (0, 1)");
    }
    CHECK(q == 7 && lo[0] == 7 && hi[0] == 7); /* nothing written */
    CHECK_ERR(bml_conformal_quantile(r, 0, 0.1, &q), BML_ERR_EMPTY, "no calibration residuals");
    double neg[3] = {0.5, -1, 2}, nan_r[3] = {0.5, NAN, 2};
    CHECK_ERR(bml_conformal_quantile(neg, 3, 0.1, &q), BML_ERR_VALUE, "residuals[1] = -1: a residual must be finite and >= 0");
    CHECK_ERR(bml_conformal_quantile(nan_r, 3, 0.1, &q), BML_ERR_VALUE, "residuals[1] = nan");
    double inf_pred[1] = {INFINITY};
    CHECK_ERR(bml_conformal_split(r, 3, inf_pred, 1, 0.1, lo, hi, NULL), BML_ERR_VALUE, "pred[0] = inf is not finite");
    CHECK(lo[0] == 7);
    /* too few calibration points for 90 %: the infinite interval, documented, not an error */
    CHECK_OK(bml_conformal_split(r, 3, pred, 1, 0.1, lo, hi, &q));
    CHECK(isinf(q) && lo[0] == -INFINITY && hi[0] == INFINITY);
    size_t g[3] = {0, 2, 1};
    double gp[2] = {0, 1};
    CHECK_ERR(bml_conformal_cv_plus(g, r, 3, gp, 2, 1, 0.5, lo, hi), BML_ERR_VALUE, "group[1] = 2, but there are 2 groups");
    g[1] = 1;
    CHECK_OK(bml_conformal_cv_plus(g, r, 3, gp, 2, 1, 0.1, lo, hi));
    CHECK(lo[0] == -INFINITY && hi[0] == INFINITY);
    bml_conformal_method meth;
    int one = -1;
    CHECK_OK(bml_conformal_method_parse("jackknife_plus", &meth, &one));
    CHECK(meth == BML_CONFORMAL_CV_PLUS && one == 1);
    CHECK_ERR(bml_conformal_method_parse("mapie", &meth, NULL), BML_ERR_VALUE, "valid: none, split, cv_plus, jackknife_plus");

    /* CV+ fit: one cell, a missing target, sequences, an unknown model */
    double x[4] = {1, 2, 3, 4}, y[4] = {1, 2, 3, 4};
    const char *one_cell[4] = {"a", "a", "a", "a"}, *two[4] = {"a", "a", "b", "b"};
    bml_samples *s = make_samples(x, y, one_cell, 4, 1);
    bml_cvplus *cv = (bml_cvplus *)1;
    CHECK_ERR(bml_cvplus_fit("ols", NULL, 0, s, 1, 0, NULL, &cv), BML_ERR_VALUE,
              "needs at least 2 groups of cells; the training samples hold 1 cell(s)");
    CHECK(cv == NULL);
    bml_samples_free(s);
    s = make_samples(x, y, two, 4, 1);
    CHECK_ERR(bml_cvplus_fit("ols", NULL, 0, s, 1, 1, NULL, &cv), BML_ERR_VALUE, "and max_groups is 1");
    CHECK_ERR(bml_cvplus_fit("no_such_model", NULL, 0, s, 1, 0, NULL, &cv), BML_ERR_NOT_FOUND, "CV+ group 1 of 2");
    s->y[3] = NAN;
    CHECK_ERR(bml_cvplus_fit("ols", NULL, 0, s, 1, 0, NULL, &cv), BML_ERR_VALUE,
              "training row 3 (cell 'b', line 4) has target y = nan; leave rows without a target out");
    bml_samples_free(s);
    /* groups follow the cells in order of first appearance, whatever the row order: rows of one cell never split */
    double x6[6] = {1, 2, 3, 4, 5, 7}, y6[6] = {1, 2.5, 2.9, 4.2, 5, 6.6};
    const char *inter[6] = {"b", "a", "b", "a", "c", "c"};
    s = make_samples(x6, y6, inter, 6, 1);
    CHECK_OK(bml_cvplus_fit("ols", NULL, 0, s, 1, 0, NULL, &cv));
    if (cv) {
        const size_t want[6] = {0, 1, 0, 1, 2, 2};
        for (size_t i = 0; i < 6; i++) CHECK_INT(bml_cvplus_groups(cv)[i], want[i]);
        bml_cvplus_free(cv);
    }
    CHECK_OK(bml_cvplus_fit("ols", NULL, 0, s, 1, 2, NULL, &cv)); /* 3 cells into 2 groups: sizes 2 and 1 */
    if (cv) {
        const size_t want[6] = {0, 0, 0, 0, 1, 1};
        for (size_t i = 0; i < 6; i++) CHECK_INT(bml_cvplus_groups(cv)[i], want[i]);
        bml_cvplus_free(cv);
    }
    bml_samples_free(s);
    bml_samples *seq = bml__samples_alloc_seq(2, 3, 1, 1);
    CHECK_ERR(bml_cvplus_fit("ols", NULL, 0, seq, 1, 0, NULL, &cv), BML_ERR_VALUE, "sequence samples");
    bml_samples_free(seq);
}

/* bml_cvplus_save / bml_cvplus_load: the loaded CV+ gives the saved one's intervals bit for bit (ridge on features
 * with a NaN: imputation and standardisation saved too); a changed byte, a missing file, and each field out of its
 * type, size or range (resealed, so that only the field is wrong) are errors naming the file and the field. */
static void cvplus_save_load(void) {
    size_t n = 12, F = 2, m = 5;
    char names[12][4];
    const char *cells[12];
    double x[24], y[12], xt[10];
    rng_state = 99;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "c%zu", i / 2); /* 6 cells of 2 rows */
        cells[i] = names[i];
        x[2 * i] = urand() * 4, x[2 * i + 1] = urand();
        y[i] = 1 + 2 * x[2 * i] - x[2 * i + 1] + 0.3 * nrand();
    }
    x[3] = NAN;
    for (size_t j = 0; j < 2 * m; j++) xt[j] = urand() * 3;
    xt[1] = NAN;
    bml_samples *s = make_samples(x, y, cells, n, F);
    bml_kv params[] = {{"alpha", "0.5"}};
    bml_cvplus *cv = NULL, *back = NULL;
    CHECK_OK(bml_cvplus_fit("ridge", params, 1, s, 7, 3, NULL, &cv));
    bml_samples_free(s);
    if (!cv) return;
    char dir[] = "/tmp/bml-cvplus-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[64], path[96];
    snprintf(sub, sizeof sub, "%s/uq", dir);
    snprintf(path, sizeof path, "%s/cvplus.json", sub);
    CHECK_OK(bml_cvplus_save(cv, sub));
    CHECK_OK(bml_cvplus_load(sub, &back));
    double lo[5], hi[5], lo2[5], hi2[5];
    CHECK_OK(bml_cvplus_interval(cv, xt, m, 0.2, lo, hi));
    if (back) {
        CHECK_INT(bml_cvplus_n_groups(back), 3);
        CHECK_INT(bml_cvplus_n_train(back), n);
        CHECK_OK(bml_cvplus_interval(back, xt, m, 0.2, lo2, hi2));
        CHECK(!memcmp(lo, lo2, sizeof lo) && !memcmp(hi, hi2, sizeof hi)); /* bit for bit */
        CHECK(!memcmp(bml_cvplus_residuals(cv), bml_cvplus_residuals(back), n * sizeof(double)));
        CHECK(!memcmp(bml_cvplus_groups(cv), bml_cvplus_groups(back), n * sizeof(size_t)));
    }
    bml_cvplus_free(back);
    back = NULL;
    char *good = NULL;
    size_t len = 0;
    CHECK_OK(bml__read_file(path, &good, &len));
    if (!good) return;
    /* a changed byte: the checksum */
    char *bad = malloc(len);
    memcpy(bad, good, len);
    char *digit = strstr(bad, "\"n_train\":");
    if (digit) digit[strlen("\"n_train\":") + 1] ^= 1;
    CHECK_OK(bml__write_file_atomic(path, bad, len));
    CHECK_ERR(bml_cvplus_load(sub, &back), BML_ERR_PARSE, "cvplus.json");
    CHECK(back == NULL);
    free(bad);
    /* missing */
    remove(path);
    CHECK_ERR(bml_cvplus_load(sub, &back), BML_ERR_NOT_FOUND, "cvplus.json: missing");
    /* one field wrong at a time */
    static const struct {
        const char *key, *json; /* the new value (NULL: the member removed) */
        bml_status st;
        const char *msg;
    } cases[] = {
        {"format", "\"other\"", BML_ERR_SCHEMA, "cvplus.json: field 'format'"},
        {"version", "2", BML_ERR_VALUE, "cvplus.json: field 'version': 2"},
        {"n_groups", "1", BML_ERR_VALUE, "cvplus.json: field 'n_groups'"},
        {"n_train", "1.5", BML_ERR_VALUE, "cvplus.json: field 'n_train'"},
        {"n_features", "\"2\"", BML_ERR_SCHEMA, "cvplus.json: field 'n_features': not a number"},
        {"group", "[0,1,2]", BML_ERR_SCHEMA, "cvplus.json: field 'group': not one group per training row"},
        {"group", "[0,0,0,0,1,1,1,1,2,2,2,3]", BML_ERR_VALUE, "cvplus.json: field 'group': item 11 is not a group index"},
        {"residual", NULL, BML_ERR_SCHEMA, "cvplus.json: field 'residual': missing"},
        {"residual", "[1,-1,1,1,1,1,1,1,1,1,1,1]", BML_ERR_VALUE, "cvplus.json: field 'residual': item 1 is negative"},
        {"residual", "[1,1,1]", BML_ERR_SCHEMA, "cvplus.json: field 'residual': 3 numbers, expected 12"},
        {"oof_prediction", "[1,1,1,1,1,null,1,1,1,1,1,1]", BML_ERR_VALUE, "cvplus.json: field 'oof_prediction': item 5"},
        {"scale", NULL, BML_ERR_SCHEMA, "cvplus.json: fields 'mean' and 'scale': both or neither"},
        {"scale", "[1,1,1,1,1,0]", BML_ERR_VALUE, "cvplus.json: field 'scale': item 5 is not positive"},
        {"impute", NULL, BML_ERR_SCHEMA, "cvplus.json: field 'impute': missing, but needed"},
        {"n_features", "3", BML_ERR_SCHEMA, "cvplus.json: field 'impute': 6 numbers, expected 9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *doc = cJSON_ParseWithLength(good, len);
        if (!doc) break;
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "xxh64");
        if (cases[i].json) cJSON_ReplaceItemInObjectCaseSensitive(doc, cases[i].key, cJSON_Parse(cases[i].json));
        else cJSON_DeleteItemFromObjectCaseSensitive(doc, cases[i].key);
        CHECK_OK(bml__json_write_sealed(path, doc));
        cJSON_Delete(doc);
        CHECK_ERR(bml_cvplus_load(sub, &back), cases[i].st, cases[i].msg);
        CHECK(back == NULL);
    }
    /* a group model missing */
    CHECK_OK(bml__write_file_atomic(path, good, len));
    char g[128];
    snprintf(g, sizeof g, "%s/group_1/model.json", sub);
    remove(g);
    CHECK_ERR(bml_cvplus_load(sub, &back), BML_ERR_IO, "group_1/model.json");
    CHECK(back == NULL);
    free(good);
    bml_cvplus_free(cv);
    bml__rm_rf(dir);
}

TEST_MAIN("uncertainty", T(ranks_match_reference), T(split_matches_reference), T(cv_plus_matches_reference),
          T(cvplus_fit_matches_reference), T(split_coverage_gaussian), T(cvplus_coverage_gaussian), T(coverage_and_width),
          T(bad_input), T(cvplus_save_load))
