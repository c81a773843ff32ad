/* The lgbm model: fit, predict, SHAP additivity, importance, save/load, multi-target, bad parameters. */
#define _DEFAULT_SOURCE
#include <stdlib.h>

#include "test.h"

static bml_samples *samples(const char *target, bml_samples **train, bml_samples **val) {
    int e[] = {5};
    bml_oxford_opts o = {e, 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    bml_split *sp = NULL;
    bml_kv kv[] = {{"target", target}};
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("summary_set", kv, 1, &p));
    if (ds && p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (s) CHECK_OK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &sp));
    if (sp) {
        CHECK_OK(bml_samples_subset(s, sp->folds[0].train, sp->folds[0].n_train, train));
        CHECK_OK(bml_samples_subset(s, sp->folds[0].val, sp->folds[0].n_val, val));
    }
    bml_split_free(sp);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    return s;
}

static void test_fit_predict_shap(void) {
    bml_samples *tr = NULL, *va = NULL, *s = samples("soh", &tr, &va);
    bml_model *m = NULL;
    bml_kv kv[] = {{"n_estimators", "300"}, {"early_stopping_rounds", "0"}};
    CHECK_OK(bml_model_create("lgbm", kv, 2, &m));
    if (!s || !tr || !va || !m) goto out;
    CHECK(!bml_model_is_fitted(m));
    double y[64], phi[64 * 6], imp[5];
    CHECK_ERR(bml_model_predict(m, va->x, va->n, y), BML_ERR_STATE, "predict before fit");
    CHECK_OK(bml_model_fit(m, tr, va, 42));
    CHECK_INT(bml_model_n_features(m), 5);
    CHECK_STR(bml_model_feature_name(m, 1), "resistance_ohm");
    CHECK_OK(bml_model_predict(m, va->x, va->n, y));
    CHECK_OK(bml_model_shap(m, va->x, va->n, phi));
    /* additivity: SHAP values plus the expected value equal the prediction */
    double worst = 0;
    for (size_t i = 0; i < va->n; i++) {
        double sum = 0;
        for (size_t j = 0; j <= 5; j++) sum += phi[i * 6 + j];
        worst = fmax(worst, fabs(sum - y[i]));
    }
    CHECK(worst < 1e-5);
    /* the model learned something: training error well below the spread of SoH */
    double ytr[128];
    CHECK_OK(bml_model_predict(m, tr->x, tr->n, ytr));
    bml_metrics mt = bml_metrics_compute(tr->y, ytr, tr->n, 1);
    CHECK(mt.rmse < 0.03);
    CHECK_OK(bml_model_importance(m, "split", imp));
    CHECK(imp[0] > 0); /* throughput is used */
    CHECK_OK(bml_model_importance(m, "gain", imp));
    CHECK_ERR(bml_model_importance(m, "cover", imp), BML_ERR_VALUE, "unknown importance kind 'cover'");
    /* missing values are passed as missing: a row with NaN resistance predicts like the tree says, finite */
    double xm[5] = {500, NAN, 283.15, 5.97e-10, 3.53}, ym;
    CHECK_OK(bml_model_predict(m, xm, 1, &ym));
    CHECK(isfinite(ym));
    char *info = bml_model_fit_info_json(m);
    CHECK(info && strstr(info, "\"best_iteration\""));
    free(info);
out:
    bml_model_free(m);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

static void test_save_load_exact(void) {
    bml_samples *tr = NULL, *va = NULL, *s = samples("modes", &tr, &va);
    bml_model *m = NULL, *m2 = NULL;
    CHECK_OK(bml_model_create("lgbm", NULL, 0, &m));
    if (!s || !tr || !va || !m) goto out;
    CHECK_OK(bml_model_fit(m, tr, va, 42));
    CHECK_INT(bml_model_n_targets(m), 3);
    char dir[] = "/tmp/bml-test-model-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(bml_model_save(m, dir));
    CHECK_OK(bml_model_load(dir, &m2));
    if (!m2) goto out;
    CHECK_STR(bml_model_target_name(m2, 1), "LAM_PE");
    double a[32 * 3], b[32 * 3], pa[32 * 3 * 6], pb[32 * 3 * 6];
    CHECK_OK(bml_model_predict(m, va->x, va->n, a));
    CHECK_OK(bml_model_predict(m2, va->x, va->n, b));
    CHECK(!memcmp(a, b, sizeof a)); /* bit-identical */
    CHECK_OK(bml_model_shap(m, va->x, va->n, pa));
    CHECK_OK(bml_model_shap(m2, va->x, va->n, pb));
    CHECK(!memcmp(pa, pb, sizeof pa));
    /* per-target additivity for the multi-target model */
    for (size_t i = 0; i < va->n; i++)
        for (size_t k = 0; k < 3; k++) {
            double sum = 0;
            for (size_t j = 0; j <= 5; j++) sum += pa[(i * 3 + k) * 6 + j];
            CHECK_NEAR(sum, a[i * 3 + k], 1e-5);
        }
    /* a damaged model directory fails clearly */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm %s/booster_1.json", dir);
    CHECK_INT(system(cmd), 0);
    bml_model *m3 = NULL;
    CHECK_ERR(bml_model_load(dir, &m3), BML_ERR_NOT_FOUND, "booster_1.json: booster file missing");
    snprintf(cmd, sizeof cmd, "echo '{not json' > %s/model.json", dir);
    CHECK_INT(system(cmd), 0);
    CHECK_ERR(bml_model_load(dir, &m3), BML_ERR_PARSE, "model.json: not valid JSON");
    CHECK_ERR(bml_model_load("/nonexistent", &m3), BML_ERR_IO, "/nonexistent/model.json: cannot open");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
out:
    bml_model_free(m);
    bml_model_free(m2);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

static void test_reproducible(void) {
    bml_samples *tr = NULL, *va = NULL, *s = samples("soh", &tr, &va);
    bml_model *a = NULL, *b = NULL;
    bml_kv kv[] = {{"subsample", "0.7"}, {"colsample_bytree", "0.8"}};
    CHECK_OK(bml_model_create("lgbm", kv, 2, &a));
    CHECK_OK(bml_model_create("lgbm", kv, 2, &b));
    if (s && tr && va && a && b) {
        double ya[32], yb[32];
        CHECK_OK(bml_model_fit(a, tr, va, 1));
        CHECK_OK(bml_model_fit(b, tr, va, 1));
        CHECK_OK(bml_model_predict(a, va->x, va->n, ya));
        CHECK_OK(bml_model_predict(b, va->x, va->n, yb));
        CHECK(!memcmp(ya, yb, sizeof ya));
    }
    bml_model_free(a);
    bml_model_free(b);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

static void test_bad_parameters(void) {
    bml_model *m = NULL;
    bml_kv lr[] = {{"learning_rate", "-0.1"}};
    CHECK_ERR(bml_model_create("lgbm", lr, 1, &m), BML_ERR_VALUE, "model lgbm: learning_rate must be > 0 (got -0.1)");
    bml_kv ne[] = {{"n_estimators", "0"}};
    CHECK_ERR(bml_model_create("lgbm", ne, 1, &m), BML_ERR_VALUE, "n_estimators must be >= 1");
    bml_kv nl[] = {{"num_leaves", "abc"}};
    CHECK_ERR(bml_model_create("lgbm", nl, 1, &m), BML_ERR_VALUE, "num_leaves expects an integer, got 'abc'");
    bml_kv unk[] = {{"n_trees", "5"}};
    CHECK_ERR(bml_model_create("lgbm", unk, 1, &m), BML_ERR_VALUE, "unknown parameter 'n_trees' (valid: n_estimators");
    CHECK_ERR(bml_model_create("transformer", NULL, 0, &m), BML_ERR_NOT_FOUND, "unknown model 'transformer' (valid: lgbm");
    CHECK(m == NULL);
    /* non-finite training targets are refused */
    CHECK_OK(bml_model_create("lgbm", NULL, 0, &m));
    bml_samples *tr = NULL, *va = NULL, *s = samples("soh", &tr, &va);
    if (m && tr) {
        tr->y[3] = NAN;
        CHECK_ERR(bml_model_fit(m, tr, va, 1), BML_ERR_VALUE, "training target of sample 3");
    }
    bml_model_free(m);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

TEST_MAIN("model", T(test_fit_predict_shap), T(test_save_load_exact), T(test_reproducible), T(test_bad_parameters))
