/* ICA numerics against scipy (tools/gen_scipy_reference.py): Savitzky-Golay with polynomial edges,
 * find_peaks with plateaus, ties and every filter, prominences, widths, and the whole ica_peaks
 * feature computation on smooth, noisy, plateaued and real curves. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/ica.h"

#include "core/internal.h"
#include "pipelines/ica.h"
#include "test.h"

#define REF TEST_DATA "/ica"

static cJSON *load_json(const char *name) {
    char *txt = NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/%s", REF, name);
    if (bml__read_file(path, &txt, NULL) != BML_OK) {
        fprintf(stderr, "  cannot read %s\n", path);
        t_fail_count++;
        return NULL;
    }
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    return j;
}

static double *nums(const cJSON *a, size_t *n) {
    *n = (size_t)cJSON_GetArraySize(a);
    double *v = calloc(*n + 1, sizeof *v);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) v[i++] = cJSON_IsNumber(e) ? e->valuedouble : NAN;
    return v;
}

/* max |a - b| / (atol + rtol |b|) <= 1, NaN matching NaN */
static void close_all(const char *what, const double *a, const double *b, size_t n, double rtol, double atol) {
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        if (!(fabs(a[i] - b[i]) <= atol + rtol * fabs(b[i]))) {
            fprintf(stderr, "  %s[%zu]: %.17g, scipy %.17g\n", what, i, a[i], b[i]);
            t_fail_count++;
            return;
        }
    }
}

static void test_savgol(void) {
    cJSON *j = load_json("savgol.json");
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, j) {
        size_t n, m;
        double *x = nums(cJSON_GetObjectItem(c, "x"), &n), *y = nums(cJSON_GetObjectItem(c, "y"), &m);
        double *out = calloc(n, sizeof *out);
        int w = cJSON_GetObjectItem(c, "window")->valueint, o = cJSON_GetObjectItem(c, "order")->valueint;
        CHECK_OK(bml__savgol(x, n, w, o, out));
        char what[64];
        snprintf(what, sizeof what, "savgol n=%zu w=%d o=%d", n, w, o);
        close_all(what, out, y, n, 1e-9, 1e-9);
        free(x), free(y), free(out);
        cases++;
    }
    CHECK_INT(cases, 7);
    double x[10] = {0}, out[10];
    CHECK_ERR(bml__savgol(x, 10, 4, 2, out), BML_ERR_VALUE, "must be odd");
    CHECK_ERR(bml__savgol(x, 10, 11, 2, out), BML_ERR_VALUE, "<= the 10 points");
    cJSON_Delete(j);
}

/* the filter's interior equals, bit for bit, the plain sum per point from zero in tap order (a product, then
 * an addition) with the coefficients the filter itself applies (read back from its response to an impulse),
 * at lengths around the blocks of points it computes together */
static void test_savgol_interior_exact(void) {
    const int windows[3] = {5, 51, 101}, orders[3] = {2, 3, 4};
    const size_t lengths[5] = {101, 131, 500, 499, 1537};
    for (int c = 0; c < 3; c++) {
        int w = windows[c], h = w / 2;
        size_t ni = 3 * (size_t)w;
        double *imp = calloc(ni, sizeof *imp), *resp = calloc(ni, sizeof *resp), *ck = calloc((size_t)w, sizeof *ck);
        imp[w + h] = 1;
        CHECK_OK(bml__savgol(imp, ni, w, orders[c], resp));
        for (int k = 0; k < w; k++) ck[k] = resp[w + h + h - k]; /* out[i] = ck[p - i + h] for the impulse at p */
        for (int l = 0; l < 5; l++) {
            size_t n = lengths[l];
            if (n < (size_t)w) continue;
            double *x = malloc(n * sizeof *x), *out = malloc(n * sizeof *out);
            unsigned long long r = 88172645463325252ULL + n;
            for (size_t i = 0; i < n; i++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                x[i] = (double)(r >> 11) / 9007199254740992.0 * 4 - 2 + 0.001 * (double)i;
            }
            CHECK_OK(bml__savgol(x, n, w, orders[c], out));
            size_t bad = 0;
            for (size_t i = (size_t)h; i + (size_t)h < n; i++) {
                double a = 0;
                for (int k = 0; k < w; k++) {
                    double p = ck[k] * x[i - (size_t)h + (size_t)k];
                    a = a + p;
                }
                if (memcmp(&a, &out[i], sizeof a)) bad++;
            }
            if (bad) {
                fprintf(stderr, "  savgol w=%d n=%zu: %zu interior points differ from the plain sum\n", w, n, bad);
                t_fail_count++;
            }
            free(x), free(out);
        }
        free(imp), free(resp), free(ck);
    }
}

static void test_peaks(void) {
    cJSON *j = load_json("peaks.json");
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, j) {
        size_t n, np_ref, k;
        double *x = nums(cJSON_GetObjectItem(c, "x"), &n), *pr = nums(cJSON_GetObjectItem(c, "peaks"), &np_ref);
        size_t *peaks = calloc(n + 1, sizeof *peaks);
        size_t np = bml__find_peaks(x, n, cJSON_GetObjectItem(c, "height")->valuedouble,
                                    cJSON_GetObjectItem(c, "distance")->valuedouble,
                                    cJSON_GetObjectItem(c, "prominence")->valuedouble, peaks, n);
        CHECK_INT(np, np_ref);
        for (size_t i = 0; i < np && i < np_ref; i++) CHECK_INT(peaks[i], (size_t)pr[i]);
        if (np == np_ref) {
            double *prom = calloc(np + 1, sizeof *prom), *w = calloc(np + 1, sizeof *w), *wh = calloc(np + 1, sizeof *wh);
            double *li = calloc(np + 1, sizeof *li), *ri = calloc(np + 1, sizeof *ri);
            size_t *lb = calloc(np + 1, sizeof *lb), *rb = calloc(np + 1, sizeof *rb);
            bml__peak_prominences(x, n, peaks, np, prom, lb, rb);
            bml__peak_widths(x, n, peaks, np, 0.5, w, wh, li, ri);
            double *r;
            r = nums(cJSON_GetObjectItem(c, "prominences"), &k);
            close_all("prominences", prom, r, np, 1e-12, 1e-12);
            free(r);
            r = nums(cJSON_GetObjectItem(c, "left_bases"), &k);
            for (size_t i = 0; i < np; i++) CHECK_INT(lb[i], (size_t)r[i]);
            free(r);
            r = nums(cJSON_GetObjectItem(c, "right_bases"), &k);
            for (size_t i = 0; i < np; i++) CHECK_INT(rb[i], (size_t)r[i]);
            free(r);
            r = nums(cJSON_GetObjectItem(c, "widths"), &k);
            close_all("widths", w, r, np, 1e-12, 1e-12);
            free(r);
            r = nums(cJSON_GetObjectItem(c, "width_heights"), &k);
            close_all("width heights", wh, r, np, 1e-12, 1e-12);
            free(r);
            r = nums(cJSON_GetObjectItem(c, "left_ips"), &k);
            close_all("left ips", li, r, np, 1e-12, 1e-12);
            free(r);
            r = nums(cJSON_GetObjectItem(c, "right_ips"), &k);
            close_all("right ips", ri, r, np, 1e-12, 1e-12);
            free(r);
            free(prom), free(w), free(wh), free(li), free(ri), free(lb), free(rb);
        }
        free(x), free(pr), free(peaks);
        cases++;
    }
    CHECK_INT(cases, 16);
    cJSON_Delete(j);
}

static void test_curve_features(void) {
    cJSON *j = load_json("curves.json");
    const cJSON *c;
    int cases = 0;
    bml__ica_params p = {3.0, 4.2, 500, 51, 3, 0.01, 200, 0.01, 3};
    cJSON_ArrayForEach(c, j) {
        size_t n, m, k, nf = bml__ica_n_features(&p);
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        double *q = nums(cJSON_GetObjectItem(c, "q"), &n), *v = nums(cJSON_GetObjectItem(c, "v"), &m);
        double *f = calloc(nf, sizeof *f), *vm = calloc(500, sizeof *vm), *ds = calloc(500, sizeof *ds);
        CHECK_OK(bml__ica_features(&p, q, v, n, f, vm, ds));
        double *rds = nums(cJSON_GetObjectItem(c, "ds"), &k), *rf = nums(cJSON_GetObjectItem(c, "features"), &k);
        char what[64];
        snprintf(what, sizeof what, "%s dQ/dV", name);
        close_all(what, ds, rds, 499, 1e-7, 1e-9);
        snprintf(what, sizeof what, "%s features", name);
        close_all(what, f, rf, nf, 1e-7, 1e-9);
        free(q), free(v), free(f), free(vm), free(ds), free(rds), free(rf);
        cases++;
    }
    CHECK_INT(cases, 5);
    cJSON_Delete(j);
    double q[3] = {0, 1, 2}, v[3] = {2.0, 2.5, 2.9}, f[15];
    CHECK_ERR(bml__ica_features(&p, q, v, 3, f, NULL, NULL), BML_ERR_EMPTY, "fewer than 2 points between 3 and 4.2 V");
}

/* Many curves at once, at 1, 2 and 5 threads: each curve's features exactly as alone; a failing curve
 * (one of several) is named by the lowest index, with its own message, at every thread count. */
static void test_many_curves(void) {
    enum { N = 48, P = 700 };
    bml__ica_params p = {3.0, 4.2, 500, 51, 3, 0.01, 200, 0.01, 3};
    size_t nf = bml__ica_n_features(&p), len[N];
    double *qd = calloc((size_t)N * P, sizeof *qd), *vd = calloc((size_t)N * P, sizeof *vd);
    const double *q[N], *v[N];
    for (int i = 0; i < N; i++) { /* discharges with two plateaus that move from curve to curve */
        len[i] = P - (size_t)i;
        for (int k = 0; k < P; k++) {
            double x = (double)k / (P - 1);
            vd[(size_t)i * P + k] = 4.2 - 1.1 * x + 0.035 * tanh(30 * (x - 0.25 - 0.001 * i)) + 0.04 * tanh(25 * (x - 0.8 + 0.001 * i));
            qd[(size_t)i * P + k] = (2.5 + 0.01 * i) * x;
        }
        q[i] = qd + (size_t)i * P, v[i] = vd + (size_t)i * P;
    }
    double *alone = calloc((size_t)N * nf, sizeof *alone), *many = calloc((size_t)N * nf, sizeof *many);
    for (int i = 0; i < N; i++) {
        CHECK_OK(bml__ica_features(&p, q[i], v[i], len[i], alone + (size_t)i * nf, NULL, NULL));
        CHECK(alone[(size_t)i * nf + nf - 2] >= 2); /* both plateaus seen as peaks */
    }
    int threads[] = {1, 2, 5};
    for (int t = 0; t < 3; t++) {
        size_t bad = 99;
        memset(many, 0, (size_t)N * nf * sizeof *many);
        CHECK_OK(bml__ica_features_many(&p, N, q, v, len, many, threads[t], &bad));
        CHECK(bad == N);
        CHECK(!memcmp(alone, many, (size_t)N * nf * sizeof *many)); /* NaN features compare as bits too */
    }
    /* curves 30 and 41 lie below the window: 30 is named, with ICA's own message */
    for (int k = 0; k < P; k++) vd[30 * P + k] = 2.5, vd[41 * P + k] = 2.0;
    for (int t = 0; t < 3; t++) {
        size_t bad = 0;
        CHECK_ERR(bml__ica_features_many(&p, N, q, v, len, many, threads[t], &bad), BML_ERR_EMPTY,
                  "fewer than 2 points between 3 and 4.2 V");
        CHECK(bad == 30);
    }
    free(qd), free(vd), free(alone), free(many);
}

/* The public function (batteryml/ica.h) over the same reference curves, its names against the pipeline's
 * columns, its parameter checks. */
static void test_public_api(void) {
    bml_ica_params p = bml_ica_defaults();
    CHECK_INT(bml_ica_n_features(&p), 15);
    cJSON *j = load_json("curves.json");
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, j) {
        size_t n, m, k;
        double *q = nums(cJSON_GetObjectItem(c, "q"), &n), *v = nums(cJSON_GetObjectItem(c, "v"), &m);
        double f[15], vm[499], ds[499];
        CHECK_OK(bml_ica_features(&p, q, v, n, f, vm, ds));
        double *rds = nums(cJSON_GetObjectItem(c, "ds"), &k), *rf = nums(cJSON_GetObjectItem(c, "features"), &k);
        close_all("public dQ/dV", ds, rds, 499, 1e-7, 1e-9);
        close_all("public features", f, rf, 15, 1e-7, 1e-9);
        free(q), free(v), free(rds), free(rf);
        cases++;
    }
    CHECK_INT(cases, 5);
    cJSON_Delete(j);
    char name[64];
    CHECK_INT(bml_ica_feature_name(&p, 0, name, sizeof name), strlen("peak1_voltage_v"));
    CHECK(!strcmp(name, "peak1_voltage_v"));
    bml_ica_feature_name(&p, 11, name, sizeof name);
    CHECK(!strcmp(name, "peak3_area_ah"));
    bml_ica_feature_name(&p, 14, name, sizeof name);
    CHECK(!strcmp(name, "v_max_dqdv"));
    CHECK_INT(bml_ica_feature_name(&p, 15, name, sizeof name), 0);
    CHECK(!strcmp(name, ""));
    CHECK_INT(bml_ica_feature_name(&p, 12, name, 4), strlen("total_area_ah")); /* cut as snprintf */
    CHECK(!strcmp(name, "tot"));
    double q[600], v[600], f[15];
    for (int i = 0; i < 600; i++) q[i] = i * 0.01, v[i] = 3.0 + i * 0.002;
    bml_ica_params bad = p;
    bad.window = 50;
    CHECK_ERR(bml_ica_features(&bad, q, v, 600, f, NULL, NULL), BML_ERR_VALUE, "window must be odd");
    bad = p, bad.window = 501;
    CHECK_ERR(bml_ica_features(&bad, q, v, 600, f, NULL, NULL), BML_ERR_VALUE, "window must be odd");
    bad = p, bad.order = 51;
    CHECK_ERR(bml_ica_features(&bad, q, v, 600, f, NULL, NULL), BML_ERR_VALUE, "order");
    bad = p, bad.v_min = 4.5;
    CHECK_ERR(bml_ica_features(&bad, q, v, 600, f, NULL, NULL), BML_ERR_VALUE, "v_min");
    bad = p, bad.resample = 4;
    CHECK_ERR(bml_ica_features(&bad, q, v, 600, f, NULL, NULL), BML_ERR_VALUE, "resample");
    bad = p, bad.num_peaks = 0;
    CHECK_ERR(bml_ica_features(&bad, q, v, 600, f, NULL, NULL), BML_ERR_VALUE, "num_peaks");
    bad = p, bad.prominence = NAN;
    CHECK_ERR(bml_ica_features(&bad, q, v, 600, f, NULL, NULL), BML_ERR_VALUE, "prominence");
    CHECK_ERR(bml_ica_features(&p, q, v, 1, f, NULL, NULL), BML_ERR_EMPTY, "fewer than 2 points");
    CHECK_OK(bml_ica_features(&p, q, v, 600, f, NULL, NULL));
}

TEST_MAIN("ica", T(test_savgol), T(test_savgol_interior_exact), T(test_peaks), T(test_curve_features), T(test_many_curves), T(test_public_api))
