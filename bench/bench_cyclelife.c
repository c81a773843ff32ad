/* Benchmark of the whole cycle-life study through the library (the paper's "discharge" model with intervals):
 * load the Qdlin folder (84 cells of 1000 x 99), delta_q features [discharge], standardise with training statistics,
 * elastic_net_cv (ElasticNetCV's defaults: 7 l1_ratios x 100 alphas x 5 folds) on the 41 train cells, predictions
 * for every cell, and CV+ 90 % intervals (5 groups of train cells: 5 more elastic_net_cv fits). No figures, nothing
 * written. One JSON line: wall and CPU seconds, best and median of the repetitions, per stage of the best one,
 * and test1 RMSE / coverage as a check that bench/bench_cyclelife.py computes the same study. The machine's other
 * load shows in the numbers: report them as rough. bench/bench_cyclelife.sh runs both back to back.
 * Usage: bench_cyclelife [folder] [--reps 5]   (folder: ../shared/data/severson2019 by default) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_env.h"
#include "batteryml/batteryml.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double load, features, fit, conformal, total, cpu, rmse_test1, coverage_test1, width_test1;
} result;

static int study(const char *dir, result *r) {
    double t0 = now_s(), c0 = cpu_s();
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL, *train = NULL;
    bml_model *m = NULL;
    bml_cvplus *cv = NULL;
    bml_scaler sc = {0};
    double *x = NULL, *pred = NULL, *lo = NULL, *hi = NULL;
    size_t *idx = NULL;
    int rc = 1;
    bml_kv pp[1] = {{"features", "[discharge]"}};
    if (bml_dataset_load_qdlin(dir, NULL, &ds) != BML_OK) goto done;
    double t1 = now_s();
    if (bml_pipeline_create("delta_q", pp, 1, &p) != BML_OK || bml_pipeline_transform(p, ds, &s) != BML_OK) goto done;
    double t2 = now_s();
    size_t n = s->n, F = s->n_features, nt = 0;
    idx = malloc(n * sizeof *idx);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(bml_dataset_cell_split(ds, i), "train")) idx[nt++] = i;
    if (bml_samples_subset(s, idx, nt, &train) != BML_OK) goto done;
    x = malloc(n * F * sizeof *x), pred = malloc(n * sizeof *pred), lo = malloc(n * sizeof *lo), hi = malloc(n * sizeof *hi);
    memcpy(x, s->x, n * F * sizeof *x);
    for (size_t i = 0; i < nt; i++) idx[i] = i;
    if (bml_scaler_fit(&sc, train, idx, nt) != BML_OK) goto done;
    bml_scaler_transform(&sc, train->x, nt, F);
    bml_scaler_transform(&sc, x, n, F);
    if (bml_model_create("elastic_net_cv", NULL, 0, &m) != BML_OK || bml_model_fit(m, train, NULL, 42) != BML_OK ||
        bml_model_predict(m, x, n, pred) != BML_OK)
        goto done;
    double t3 = now_s();
    bml_samples_free(train);
    train = NULL;
    nt = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(bml_dataset_cell_split(ds, i), "train")) idx[nt++] = i;
    if (bml_samples_subset(s, idx, nt, &train) != BML_OK ||
        bml_cvplus_fit("elastic_net_cv", NULL, 0, train, 42, 5, NULL, &cv) != BML_OK ||
        bml_cvplus_interval(cv, s->x, n, 0.1, lo, hi) != BML_OK)
        goto done;
    double t4 = now_s();
    double se = 0, *yv = malloc(n * sizeof *yv), *lv = malloc(n * sizeof *lv), *hv = malloc(n * sizeof *hv);
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(bml_dataset_cell_split(ds, i), "test1")) continue;
        double t = pow(10, s->y[i]), pr = pow(10, pred[i]);
        se += (pr - t) * (pr - t);
        yv[c] = t, lv[c] = pow(10, lo[i]), hv[c] = pow(10, hi[i]);
        c++;
    }
    r->rmse_test1 = sqrt(se / (double)c);
    bml_interval_coverage(yv, lv, hv, c, &r->coverage_test1, &r->width_test1, NULL);
    free(yv), free(lv), free(hv);
    r->load = t1 - t0, r->features = t2 - t1, r->fit = t3 - t2, r->conformal = t4 - t3, r->total = t4 - t0;
    r->cpu = cpu_s() - c0;
    rc = 0;
done:
    if (rc) fprintf(stderr, "bench_cyclelife: %s\n", bml_last_error());
    bml_scaler_release(&sc);
    bml_cvplus_free(cv);
    bml_model_free(m);
    bml_samples_free(train);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    free(idx), free(x), free(pred), free(lo), free(hi);
    return rc;
}

int main(int argc, char **argv) {
    const char *dir = BML_SOURCE_DIR "/../shared/data/severson2019";
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else dir = argv[i];
    }
    if (reps < 1) reps = 1;
    result *res = calloc((size_t)reps, sizeof *res), best = {0};
    double *tot = calloc((size_t)reps, sizeof *tot), *cpu = calloc((size_t)reps, sizeof *cpu);
    for (int k = 0; k < reps; k++) {
        if (study(dir, &res[k])) return 1;
        tot[k] = res[k].total, cpu[k] = res[k].cpu;
        if (k == 0 || res[k].total < best.total) best = res[k];
    }
    qsort(tot, (size_t)reps, sizeof *tot, cmp_d);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmp_d);
    bench_line_start(), printf("\"bench\":\"cyclelife_study\",\"impl\":\"batteryml-c\",\"model\":\"elastic_net_cv\",\"features\":\"discharge\","
           "\"conformal\":\"cv_plus_5\",\"reps\":%d,\"wall_best_s\":%.4f,\"wall_median_s\":%.4f,\"cpu_best_s\":%.4f,"
           "\"stages_best_s\":{\"load\":%.4f,\"features\":%.4f,\"fit_predict\":%.4f,\"conformal\":%.4f},"
           "\"test1_rmse_cycles\":%.2f,\"test1_coverage\":%.4f,\"test1_mean_width_cycles\":%.1f}\n",
           reps, tot[0], tot[reps / 2], cpu[0], best.load, best.features, best.fit, best.conformal, best.rmse_test1,
           best.coverage_test1, best.width_test1);
    free(res), free(tot), free(cpu);
    return 0;
}
