/* Cycle life with CV+ / jackknife+ 90 % intervals, through the library alone (include/batteryml/uncertainty.h):
 * the Qdlin folder -> delta_q -> a model fitted on the `train` cells (standardised with training statistics when
 * the model wants it) -> its point predictions, and CV+ intervals from the leave-group-out models over the train
 * cells; RMSE, MAPE, coverage and mean width in cycles per set.
 *
 *     example_cyclelife_conformal QDLIN_DIR FEATURES MODEL [GROUPS [ALPHA [key=value ...]]]
 *     example_cyclelife_conformal ../shared/data/severson2019 '[variance]' ols 0 0.1
 *
 * GROUPS 0: one group per train cell (jackknife+). Intervals are computed on the log10 scale the model predicts
 * and mapped to cycles (10^), which keeps their coverage. test1_cell22 is reported apart, as the paper does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/batteryml.h"

static int fail(const char *what) {
    fprintf(stderr, "example_cyclelife_conformal: %s: %s\n", what, bml_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s QDLIN_DIR FEATURES MODEL [GROUPS [ALPHA [key=value ...]]]\n", argv[0]);
        return 2;
    }
    size_t groups = argc > 4 ? (size_t)strtoul(argv[4], NULL, 10) : 0;
    double alpha = argc > 5 ? strtod(argv[5], NULL) : 0.1;
    size_t n_params = argc > 6 ? (size_t)(argc - 6) : 0;
    bml_kv *params = calloc(n_params + 1, sizeof *params);
    char **owned = calloc(n_params + 1, sizeof *owned);
    for (size_t i = 0; i < n_params; i++) {
        size_t len = strlen(argv[6 + i]);
        owned[i] = malloc(len + 1);
        memcpy(owned[i], argv[6 + i], len + 1);
        char *eq = strchr(owned[i], '=');
        if (!eq) {
            fprintf(stderr, "parameter '%s' is not key=value\n", argv[6 + i]);
            return 2;
        }
        *eq = 0;
        params[i] = (bml_kv){owned[i], eq + 1};
    }
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL, *train = NULL;
    bml_model *m = NULL;
    bml_cvplus *cv = NULL;
    bml_scaler sc = {0};
    int rc = 1;
    bml_kv pp[1] = {{"features", argv[2]}};
    if (bml_dataset_load_qdlin(argv[1], NULL, &ds) != BML_OK) return fail(argv[1]);
    if (bml_pipeline_create("delta_q", pp, 1, &p) != BML_OK || bml_pipeline_transform(p, ds, &s) != BML_OK) {
        rc = fail("pipeline delta_q");
        goto done;
    }
    size_t n = s->n, F = s->n_features, n_train = 0;
    size_t *idx = calloc(n, sizeof *idx);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(bml_dataset_cell_split(ds, i), "train") && isfinite(s->y[i])) idx[n_train++] = i;
    bml_status st = bml_samples_subset(s, idx, n_train, &train);
    free(idx);
    if (st != BML_OK) {
        rc = fail("train subset");
        goto done;
    }
    /* the point model, preprocessed as the runner does (the delta_q features have no missing values) */
    if (bml_model_create(argv[3], params, n_params, &m) != BML_OK) {
        rc = fail(argv[3]);
        goto done;
    }
    double *x = malloc(n * F * sizeof *x), *pred = malloc(n * sizeof *pred);
    double *lo = malloc(n * sizeof *lo), *hi = malloc(n * sizeof *hi);
    memcpy(x, s->x, n * F * sizeof *x);
    if (bml_model_wants_scaled(m)) {
        size_t *rows = malloc(n_train * sizeof *rows);
        for (size_t r = 0; r < n_train; r++) rows[r] = r;
        bml_scaler_fit(&sc, train, rows, n_train);
        free(rows);
        bml_scaler_transform(&sc, train->x, n_train, F);
        bml_scaler_transform(&sc, x, n, F);
    }
    if (bml_model_fit(m, train, NULL, 42) != BML_OK || bml_model_predict(m, x, n, pred) != BML_OK) {
        rc = fail("fit");
        goto free_arrays;
    }
    bml_samples_free(train);
    train = NULL;
    /* CV+ on the raw train features (bml_cvplus_fit does its own preprocessing per group) */
    idx = calloc(n, sizeof *idx);
    n_train = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(bml_dataset_cell_split(ds, i), "train") && isfinite(s->y[i])) idx[n_train++] = i;
    st = bml_samples_subset(s, idx, n_train, &train);
    free(idx);
    if (st != BML_OK || bml_cvplus_fit(argv[3], params, n_params, train, 42, groups, NULL, &cv) != BML_OK ||
        bml_cvplus_interval(cv, s->x, n, alpha, lo, hi) != BML_OK) {
        rc = fail("CV+");
        goto free_arrays;
    }
    printf("features %s, model %s, CV+ with %zu groups of train cells, alpha %g (%g %% intervals)\n", argv[2], argv[3],
           bml_cvplus_n_groups(cv), alpha, 100 * (1 - alpha));
    printf("%-22s %3s %8s %7s %9s %12s\n", "set", "n", "RMSE", "MAPE", "coverage", "mean width");
    const char *sets[] = {"train", "test1", "test1 without cell22"};
    for (int k = 0; k < 3; k++) {
        double se = 0, ape = 0, *yl = malloc(n * sizeof *yl), *ll = malloc(n * sizeof *ll), *hl = malloc(n * sizeof *hl);
        size_t c = 0;
        for (size_t i = 0; i < n; i++) {
            const char *sp = bml_dataset_cell_split(ds, i);
            if (!isfinite(s->y[i]) || strcmp(sp, k == 0 ? "train" : "test1")) continue;
            if (k == 2 && !strcmp(s->meta[i].cell, "test1_cell22")) continue;
            double t = pow(10, s->y[i]), pr = pow(10, pred[i]);
            se += (pr - t) * (pr - t);
            ape += fabs(pr - t) / t;
            yl[c] = t, ll[c] = pow(10, lo[i]), hl[c] = pow(10, hi[i]);
            c++;
        }
        double cov = NAN, width = NAN;
        bml_interval_coverage(yl, ll, hl, c, &cov, &width, NULL);
        printf("%-22s %3zu %8.1f %6.1f%% %8.1f%% %12.1f%s\n", sets[k], c, sqrt(se / (double)c), 100 * ape / (double)c,
               100 * cov, width, k == 0 ? "  (train: in-sample point fit; intervals from the held-out models)" : "");
        free(yl), free(ll), free(hl);
    }
    rc = 0;
free_arrays:
    free(x), free(pred), free(lo), free(hi);
done:
    bml_scaler_release(&sc);
    bml_cvplus_free(cv);
    bml_model_free(m);
    bml_samples_free(train);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    for (size_t i = 0; i < n_params; i++) free(owned[i]);
    free(owned);
    free(params);
    return rc;
}
