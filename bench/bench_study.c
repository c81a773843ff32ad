/* Benchmark of the gradient-boosting study (not a test: prints one JSON line per case).
 *
 * Cases (field names follow ../shared/bench-peer/bench.py where they overlap):
 *   study_default   the default study end to end (load, pipeline, split, fit, predict, SHAP, write)
 *   study_default_nowrite  the same without writing the run directory
 *   load_pipeline   data load + summary_set pipeline alone
 *   xgb_train       the XGBoost training of the default study alone (same rows, same early stopping)
 *   study_loco      leave-one-cell-out over every experiment-5 cell, end to end
 *   xgb_small       the peer's xgb_small shapes: 2,000 x 7 synthetic rows, 500 rounds, TreeSHAP on 2,000
 *   treeshap        on the xgb_small model: our TreeSHAP (bml_model_shap) against XGBoost's pred_contribs at the
 *                   same thread count (median of reps), the ratio, and the largest difference between the two
 *   treeshap_interactions  the same for SHAP interaction values, on the first 200 rows, once
 * Usage: bench_study [--reps N] [--threads 1,2] [--only xgb_small] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_env.h"
#include "batteryml/batteryml.h"
#include "models/treeshap.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what) {
    fprintf(stderr, "bench_study: %s: %s\n", what, bml_last_error());
    exit(1);
}

static char outdir[64];

static bml_config *config(int threads, const char *split) {
    char th[64], od[128], sp[64];
    snprintf(th, sizeof th, "model.n_jobs=%d", threads);
    snprintf(od, sizeof od, "output_dir=%s", outdir);
    snprintf(sp, sizeof sp, "split=%s", split);
    const char *ov[] = {th, od, sp, "figures=false"}; /* figures are timed on their own */
    bml_config *c;
    if (bml_config_compose(BML_SOURCE_DIR "/configs", ov, 4, &c) != BML_OK) die("config");
    return c;
}

static void study(const char *name, const char *split, int threads, int reps, int write) {
    bml_config *c = config(threads, split);
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = write};
    double *tot = calloc((size_t)reps, sizeof *tot), *back = calloc((size_t)reps, sizeof *back);
    double *lp = calloc((size_t)reps, sizeof *lp), *wr = calloc((size_t)reps, sizeof *wr);
    size_t folds = 0;
    for (int r = -1; r < reps; r++) { /* one warm-up run */
        bml_run_result *res;
        if (bml_run_experiment(c, &o, &res) != BML_OK) die(name);
        if (r >= 0) {
            tot[r] = res->t_total;
            back[r] = res->t_backend;
            lp[r] = res->t_load + res->t_pipeline;
            wr[r] = res->t_write;
        }
        folds = res->n_folds;
        bml_run_result_free(res);
    }
    double mt = median(tot, reps), mb = median(back, reps), mlp = median(lp, reps), mw = median(wr, reps);
    double mn = tot[0];
    bench_line_start(), printf("\"case\": \"%s\", \"threads\": %d, \"folds\": %zu, \"reps\": %d, \"wall_s_median\": %.6f, \"wall_s_min\": %.6f, "
           "\"xgboost_s_median\": %.6f, \"load_pipeline_s_median\": %.6f, \"write_s_median\": %.6f, "
           "\"overhead_frac\": %.4f}\n",
           name, threads, folds, reps, mt, mn, mb, mlp, mw, (mt - mb) / mt);
    fflush(stdout);
    free(tot);
    free(back);
    free(lp);
    free(wr);
    bml_config_free(c);
}

static void load_pipeline(int reps) {
    bml_config *c = config(1, "temperature_holdout");
    double *t = calloc((size_t)reps, sizeof *t);
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
        bml_dataset *ds;
        bml_samples *s;
        if (bml_run_load_data(c, BML_SOURCE_DIR, NULL, 0, &ds) != BML_OK) die("load");
        if (bml_run_build_samples(c, ds, 0, &s) != BML_OK) die("pipeline");
        if (r >= 0) t[r] = now_s() - t0;
        bml_samples_free(s);
        bml_dataset_free(ds);
    }
    bench_line_start(), printf("\"case\": \"load_pipeline\", \"threads\": 1, \"reps\": %d, \"files\": 8, \"rows\": 128, \"wall_s_median\": %.6f}\n",
           reps, median(t, reps));
    free(t);
    bml_config_free(c);
}

static void xgb_train(int threads, int reps) {
    bml_config *c = config(threads, "temperature_holdout");
    bml_dataset *ds;
    bml_samples *s, *tr, *va;
    bml_split *sp;
    if (bml_run_load_data(c, BML_SOURCE_DIR, NULL, 0, &ds) != BML_OK || bml_run_build_samples(c, ds, 0, &s) != BML_OK ||
        bml_split_create("temperature_holdout", NULL, 0, s, 42, &sp) != BML_OK ||
        bml_samples_subset(s, sp->folds[0].train, sp->folds[0].n_train, &tr) != BML_OK ||
        bml_samples_subset(s, sp->folds[0].val, sp->folds[0].n_val, &va) != BML_OK)
        die("xgb_train setup");
    char th[16];
    snprintf(th, sizeof th, "%d", threads);
    bml_kv kv[] = {{"n_jobs", th}};
    double *t = calloc((size_t)reps, sizeof *t);
    for (int r = -1; r < reps; r++) {
        bml_model *m;
        if (bml_model_create("lgbm", kv, 1, &m) != BML_OK) die("model");
        double t0 = now_s();
        if (bml_model_fit(m, tr, va, 42) != BML_OK) die("fit");
        if (r >= 0) t[r] = now_s() - t0;
        bml_model_free(m);
    }
    bench_line_start(), printf("\"case\": \"xgb_train\", \"threads\": %d, \"reps\": %d, \"rows\": %zu, \"features\": %zu, \"train_s\": %.6f}\n",
           threads, reps, tr->n, tr->n_features, median(t, reps));
    free(t);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_split_free(sp);
    bml_samples_free(s);
    bml_dataset_free(ds);
    bml_config_free(c);
}

/* the peer's xgb_small: X ~ N(0,1) (2000, 7), y = sin(x0) + 0.5 x1 x2 - 0.3 x3^2 + noise, 500 rounds, no
 * early stopping; our own RNG, so data differ from the peer's, shapes and parameters do not */
static void xgb_small(int threads, int reps) {
    size_t n = 2000, F = 7;
    unsigned long long st = 12345;
    bml_samples s = {0};
    s.n = n;
    s.n_features = F;
    s.n_targets = 1;
    s.x = calloc(n * F, sizeof *s.x);
    s.y = calloc(n, sizeof *s.y);
    s.meta = calloc(n, sizeof *s.meta);
    char *fn[7] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6"}, *tn[1] = {"y"};
    s.feature_names = fn;
    s.target_names = tn;
    for (size_t i = 0; i < n * F + n; i++) {
        /* Box-Muller on an LCG: reproducible normal draws */
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        double u1 = ((st >> 11) + 1.0) / 9007199254740993.0;
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        double u2 = (st >> 11) / 9007199254740992.0;
        double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
        if (i < n * F) s.x[i] = z;
        else s.y[i - n * F] = 0.1 * z;
    }
    for (size_t i = 0; i < n; i++) {
        const double *x = s.x + i * F;
        s.y[i] += sin(x[0]) + 0.5 * x[1] * x[2] - 0.3 * x[3] * x[3];
    }
    char th[16];
    snprintf(th, sizeof th, "%d", threads);
    bml_kv kv[] = {{"n_jobs", th}, {"n_estimators", "500"}, {"early_stopping_rounds", "0"}, {"min_child_samples", "1"}};
    bml_model *m;
    if (bml_model_create("lgbm", kv, 4, &m) != BML_OK) die("model");
    double t0 = now_s();
    if (bml_model_fit(m, &s, NULL, 42) != BML_OK) die("fit");
    double t1 = now_s();
    double *pred = calloc(n, sizeof *pred), *phi = calloc(n * (F + 1), sizeof *phi);
    if (bml_model_predict(m, s.x, n, pred) != BML_OK) die("predict");
    double t2 = now_s();
    if (bml_model_shap(m, s.x, n, phi) != BML_OK) die("shap");
    double t3 = now_s(), maxerr = 0, se = 0;
    for (size_t i = 0; i < n; i++) {
        double sum = 0;
        for (size_t j = 0; j <= F; j++) sum += phi[i * (F + 1) + j];
        maxerr = fmax(maxerr, fabs(sum - pred[i]));
        se += (pred[i] - s.y[i]) * (pred[i] - s.y[i]);
    }
    bench_line_start(), printf("\"case\": \"xgb_small\", \"threads\": %d, \"rows\": %zu, \"features\": %zu, \"rounds\": 500, \"train_s\": %.4f, "
           "\"predict_s\": %.4f, \"shap_rows\": %zu, \"treeshap_s\": %.4f, \"shap_additivity_maxerr\": %.3g, "
           "\"train_rmse\": %.4f}\n",
           threads, n, F, t1 - t0, t2 - t1, n, t3 - t2, maxerr, sqrt(se / (double)n));
    /* ours against XGBoost's, back to back on the same model and rows */
    double *ref = calloc(n * (F + 1), sizeof *ref), *to = calloc((size_t)reps, sizeof *to);
    double *tx = calloc((size_t)reps, sizeof *tx), diff = 0;
    for (int r = 0; r < reps; r++) {
        double a = now_s();
        if (bml_model_shap(m, s.x, n, phi) != BML_OK) die("shap");
        double b = now_s();
        if (bml__lgbm_shap_xgboost(m, s.x, n, ref) != BML_OK) die("xgboost shap");
        to[r] = b - a;
        tx[r] = now_s() - b;
    }
    for (size_t i = 0; i < n * (F + 1); i++) diff = fmax(diff, fabs(phi[i] - ref[i]));
    double mo = median(to, reps), mx = median(tx, reps);
    bench_line_start(), printf("\"case\": \"treeshap\", \"threads\": %d, \"rows\": %zu, \"trees\": 500, \"reps\": %d, \"ours_s\": %.4f, "
           "\"xgboost_s\": %.4f, \"speedup\": %.2f, \"max_abs_diff\": %.3g}\n",
           threads, n, reps, mo, mx, mx / mo, diff);
    fflush(stdout);
    /* interaction values on the first 200 rows (XGBoost's costs 2F + 3 TreeSHAP passes) */
    size_t ni = 200, W2 = (F + 1) * (F + 1);
    double *io = calloc(ni * W2, sizeof *io), *ix = calloc(ni * W2, sizeof *ix), idiff = 0;
    double a = now_s();
    if (bml_model_shap_interactions(m, s.x, ni, io) != BML_OK) die("shap interactions");
    double b = now_s();
    if (bml__lgbm_interactions_xgboost(m, s.x, ni, ix) != BML_OK) die("xgboost shap interactions");
    double c = now_s();
    for (size_t i = 0; i < ni * W2; i++) idiff = fmax(idiff, fabs(io[i] - ix[i]));
    bench_line_start(), printf("\"case\": \"treeshap_interactions\", \"threads\": %d, \"rows\": %zu, \"trees\": 500, \"ours_s\": %.4f, "
           "\"xgboost_s\": %.4f, \"speedup\": %.2f, \"max_abs_diff\": %.3g}\n",
           threads, ni, b - a, c - b, (c - b) / (b - a), idiff);
    fflush(stdout);
    free(io);
    free(ix);
    free(ref);
    free(to);
    free(tx);
    free(pred);
    free(phi);
    bml_model_free(m);
    free(s.x);
    free(s.y);
    free(s.meta);
}

int main(int argc, char **argv) {
    int reps = 20;
    const char *threads = "2,1", *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = argv[i + 1];
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
    }
    if (reps < 1) reps = 1;
    snprintf(outdir, sizeof outdir, "/tmp/bml-bench-XXXXXX");
    if (!mkdtemp(outdir)) return 1;
    bench_line_start(), printf("\"case\": \"env\", \"batteryml\": \"%s\", \"cores\": %ld}\n", BML_VERSION, sysconf(_SC_NPROCESSORS_ONLN));
    if (!only) load_pipeline(reps);
    char buf[64];
    snprintf(buf, sizeof buf, "%s", threads);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int th = atoi(tok);
        if (!only) {
            study("study_default", "temperature_holdout", th, reps, 1);
            study("study_default_nowrite", "temperature_holdout", th, reps, 0);
            xgb_train(th, reps);
            study("study_loco", "loco", th, reps > 5 ? 5 : reps, 1);
        }
        xgb_small(th, reps > 3 ? 3 : reps);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", outdir);
    return system(cmd) == 0 ? 0 : 1;
}
