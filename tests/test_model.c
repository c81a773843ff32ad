/* The lgbm model: fit, predict, SHAP additivity, importance, save/load, multi-target, bad parameters.
 * Saved models of every kind: checksums, bounds-checked checkpoints, non-finite weights and predictions. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "models/checkpoint.h"
#include "models/model_internal.h"
#include "nn/mlp_net.h"
#include "test.h"

static bml_samples *samples(const char *target, bml_samples **train, bml_samples **val) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
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
    CHECK_ERR(bml_model_load(dir, &m3), BML_ERR_PARSE, "model.json: no xxh64 checksum");
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

/* ------------------------------------------------------------------ saved-model integrity */
static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static unsigned char *slurp(const char *path, size_t *len) {
    char *b = NULL;
    CHECK_OK(bml__read_file(path, &b, len));
    return (unsigned char *)b;
}
static void spit(const char *path, const void *b, size_t len) { CHECK_OK(bml__write_file_atomic(path, b, len)); }

/* the trailing XXH64 of a checkpoint recomputed, as a writer that put bad values there would */
static void reseal(unsigned char *b, size_t len) {
    uint64_t h = bml__checksum(b, len - 8);
    for (int i = 0; i < 8; i++) b[len - 8 + i] = (unsigned char)(h >> (8 * i));
}
static uint32_t rd32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* every float value of a version-2 checkpoint set to v (the file walked as checkpoint.h describes it) */
static void set_all_values(unsigned char *b, size_t len, float v) {
    size_t o = 12;
    o += 4 + rd32(b + o); /* model name */
    o += 4 + rd32(b + o); /* parameters */
    uint32_t nt = rd32(b + o);
    o += 4;
    for (uint32_t i = 0; i < nt && o < len; i++) {
        o += 4 + rd32(b + o) + 4; /* name, ndim */
        uint32_t n = rd32(b + o);
        o += 4;
        for (uint32_t k = 0; k < n; k++, o += 4) memcpy(b + o, &v, 4);
    }
    CHECK_INT(o, len - 8);
    reseal(b, len);
}

static void test_sealed_json(void) {
    cJSON *doc = cJSON_Parse("{\"a\": 1.5, \"names\": [\"x\", \"xxh64\"], \"nested\": {\"b\": null, \"xxh64\": \"0\"}}");
    char *txt = doc ? bml__json_seal(doc) : NULL;
    CHECK(txt != NULL);
    if (!txt) goto out;
    size_t len = strlen(txt);
    CHECK_OK(bml__json_verify("doc.json", txt, len));
    /* every single-bit change anywhere, whitespace and the checksum itself included, is refused */
    char *c = malloc(len + 1);
    int missed = 0;
    for (size_t i = 0; c && i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(c, txt, len + 1);
            c[i] = (char)(c[i] ^ (1 << bit));
            bml_status st = bml__json_verify("doc.json", c, len);
            missed += st != BML_ERR_PARSE || !contains(bml_last_error(), "doc.json: ") ||
                      !contains(bml_last_error(), "checksum");
        }
    CHECK_INT(missed, 0);
    /* and so is every cut */
    for (size_t n = 0; n < len; n++) missed += bml__json_verify("doc.json", txt, n) == BML_OK;
    CHECK_INT(missed, 0);
    CHECK_ERR(bml__json_verify("doc.json", "{\"a\": 1}", 8), BML_ERR_PARSE, "doc.json: no xxh64 checksum");
    free(c);
    /* through a file; the empty object too */
    char dir[] = "/tmp/bml-test-seal-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = bml__path_join(dir, "doc.json");
    cJSON *back = NULL, *empty = cJSON_CreateObject();
    CHECK_OK(bml__json_write_sealed(path, doc));
    CHECK_OK(bml__json_read_sealed(path, &back));
    CHECK(back && cJSON_GetObjectItemCaseSensitive(back, "a")->valuedouble == 1.5);
    cJSON_Delete(back);
    CHECK_OK(bml__json_write_sealed(path, empty));
    CHECK_OK(bml__json_read_sealed(path, &back));
    CHECK(cJSON_GetArraySize(back) == 1); /* the checksum member alone */
    cJSON_Delete(back);
    cJSON_Delete(empty);
    unlink(path);
    rmdir(dir);
    free(path);
out:
    free(txt);
    cJSON_Delete(doc);
}

static void test_checkpoint_bounds(void) {
    char dir[] = "/tmp/bml-test-ckpt-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = bml__path_join(dir, "weights.bin");
    float a[3] = {1, -2, 3.5f}, bb[2] = {0.25f, 7}, ra[3], rb[2];
    bml__ckpt_tensor w[2] = {{"a", a, 3}, {"bb", bb, 2}}, r[2] = {{"a", ra, 3}, {"bb", rb, 2}};
    CHECK_OK(bml__ckpt_write(path, "toy", "{\"k\":\"v\"}", w, 2));
    CHECK_OK(bml__ckpt_read(path, "toy", r, 2));
    CHECK(!memcmp(a, ra, sizeof a) && !memcmp(bb, rb, sizeof bb));
    size_t len = 0;
    unsigned char *orig = slurp(path, &len), *b = malloc(len + 16);
    if (!orig || !b) goto out;
    /* every single-bit change: magic, version and checksum each caught, never anything read */
    int missed = 0;
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, orig, len);
            b[i] ^= (unsigned char)(1 << bit);
            spit(path, b, len);
            bml_status st = bml__ckpt_read(path, "toy", r, 2);
            const char *e = bml_last_error();
            missed += st == BML_OK || !contains(e, "weights.bin: ") ||
                      !(i < 8 ? contains(e, "bad magic") : i < 12 ? contains(e, "version") : contains(e, "checksum mismatch"));
        }
    CHECK_INT(missed, 0);
    /* every cut: a clear error, the version named only when it was read */
    for (size_t n = 0; n < len; n++) {
        spit(path, orig, n);
        bml_status st = bml__ckpt_read(path, "toy", r, 2);
        const char *e = bml_last_error();
        missed += st == BML_OK || !contains(e, "truncated") || (n < 12 && contains(e, "checkpoint format version"));
    }
    CHECK_INT(missed, 0);
    spit(path, orig, 8);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_PARSE, "truncated: the file ends at byte 8 while reading the format version");
    /* version 1 (no checksum) and unknown versions */
    memcpy(b, orig, len);
    b[8] = 1;
    spit(path, b, len);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_VALUE, "format version 1 carries no checksum");
    CHECK(contains(bml_last_error(), "re-train"));
    b[8] = 3;
    spit(path, b, len);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_VALUE, "checkpoint format version 3, this program reads version 2");
    /* a valid checksum over bad fields: every field still checked against the model and the file's length */
    bml__ckpt_tensor other[2] = {{"a", ra, 3}, {"c", rb, 2}}, bigger[2] = {{"a", ra, 3}, {"bb", rb, 1}};
    CHECK_ERR(bml__ckpt_read(path, "other", r, 1), BML_ERR_VALUE, "version 3"); /* the version is checked first */
    spit(path, orig, len);
    CHECK_ERR(bml__ckpt_read(path, "other", r, 2), BML_ERR_VALUE, "a checkpoint of model 'toy', expected other");
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 1), BML_ERR_VALUE, "2 tensors, the model toy has 1");
    CHECK_ERR(bml__ckpt_read(path, "toy", other, 2), BML_ERR_VALUE, "tensor 1 (byte offset 61) is 'bb', the model expects 'c'");
    CHECK_ERR(bml__ckpt_read(path, "toy", bigger, 2), BML_ERR_VALUE, "tensor 'bb' has 2 values, the model expects 1");
    /* lengths larger than the file: refused with the offset, nothing allocated from them */
    size_t name_at = 12; /* u32 length of the model name */
    memcpy(b, orig, len);
    b[name_at] = b[name_at + 1] = b[name_at + 2] = b[name_at + 3] = 0xff;
    reseal(b, len);
    spit(path, b, len);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_PARSE,
              "damaged: the model name at byte offset 16 needs 4294967295 bytes, only");
    memcpy(b, orig, len);
    b[len - 8 - 8 - 4 + 0] = 0xff; /* the size of tensor bb: 0x...ff values */
    b[len - 8 - 8 - 4 + 3] = 0x7f;
    reseal(b, len);
    spit(path, b, len);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_VALUE, "tensor 'bb' has");
    /* trailing bytes inside the checksummed part */
    memcpy(b, orig, len);
    memmove(b + len - 8 + 4, b + len - 8, 8);
    memset(b + len - 8, 0, 4);
    reseal(b, len + 4);
    spit(path, b, len + 4);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_PARSE, "4 unexpected bytes after the tensor table");
    /* a NaN or Inf weight with a valid checksum is refused */
    memcpy(b, orig, len);
    float nan = NAN, inf = INFINITY;
    memcpy(b + len - 12, &nan, 4);
    reseal(b, len);
    spit(path, b, len);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_VALUE, "weights.bin: tensor 'bb' value 1 is not finite (nan)");
    memcpy(b + len - 16, &inf, 4);
    reseal(b, len);
    spit(path, b, len);
    CHECK_ERR(bml__ckpt_read(path, "toy", r, 2), BML_ERR_VALUE, "tensor 'bb' value 0 is not finite (inf)");
out:
    free(orig);
    free(b);
    unlink(path);
    rmdir(dir);
    free(path);
}

/* experiment 5 through `pipeline`, temperature holdout, imputed and standardised with training statistics */
static bml_samples *prepared(const char *pipeline, const char *target, bml_samples **tr, bml_samples **va) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    bml_split *sp = NULL;
    bml_scaler sc = {0};
    size_t *rows = NULL, n_rows = 0;
    bml_kv kv[] = {{"target", target}};
    *tr = *va = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create(pipeline, kv, 1, &p));
    if (ds && p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (s) CHECK_OK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &sp));
    if (sp) {
        CHECK_OK(bml_samples_subset(s, sp->folds[0].train, sp->folds[0].n_train, tr));
        CHECK_OK(bml_samples_subset(s, sp->folds[0].val, sp->folds[0].n_val, va));
    }
    if (*tr && *va) {
        size_t T = s->seq_len ? s->seq_len : 1, F = s->n_features;
        CHECK_OK(bml_samples_data_rows(*tr, &rows, &n_rows));
        CHECK_OK(bml_samples_impute_mean(*tr, rows, n_rows));
        CHECK_OK(bml_scaler_fit(&sc, *tr, rows, n_rows));
        for (size_t r = 0; sc.mean && r < (*va)->n * T; r++)
            for (size_t j = 0; j < F; j++)
                if (isnan((*va)->x[r * F + j])) (*va)->x[r * F + j] = sc.mean[j];
        if (sc.mean) {
            bml_scaler_transform(&sc, (*tr)->x, (*tr)->n * T, F);
            bml_scaler_transform(&sc, (*va)->x, (*va)->n * T, F);
        }
    }
    free(rows);
    bml_scaler_release(&sc);
    bml_split_free(sp);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    return s;
}

/* One model kind: fit tiny, save, the round trip predicts bit-identically; then each saved file with a
 * flipped bit or cut is refused naming the file; a NaN weight with a valid checksum is refused. */
static void saved_model_verified(const char *kind, const char *pipeline, const bml_kv *kv, size_t n_kv) {
    bml_samples *tr = NULL, *va = NULL, *s = prepared(pipeline, "modes", &tr, &va);
    bml_model *m = NULL, *m2 = NULL;
    double *a = NULL, *b = NULL;
    char dir[] = "/tmp/bml-test-saved-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(bml_model_create(kind, kv, n_kv, &m));
    if (!s || !tr || !va || !m) goto out;
    CHECK_OK(bml_model_fit(m, tr, va, 7));
    CHECK_OK(bml_model_save(m, dir));
    CHECK_OK(bml_model_load(dir, &m2));
    size_t ny = va->n * (va->seq_len ? va->seq_len : 1) * va->n_targets;
    a = calloc(ny, sizeof *a);
    b = calloc(ny, sizeof *b);
    if (!m2 || !a || !b) goto out;
    CHECK_OK(bml_model_predict_samples(m, va, a));
    CHECK_OK(bml_model_predict_samples(m2, va, b));
    if (memcmp(a, b, ny * sizeof *a)) {
        double worst = 0;
        for (size_t i = 0; i < ny; i++) worst = fmax(worst, fabs(a[i] - b[i]));
        fprintf(stderr, "  %s: the loaded model predicts differently (max %g)\n", kind, worst);
        t_fail_count++;
    }
    const char *files[] = {"model.json", "weights.bin", "booster_0.json", "booster_1.json", "booster_2.json"};
    for (size_t fi = 0; fi < sizeof files / sizeof *files; fi++) {
        char *path = bml__path_join(dir, files[fi]);
        if (!bml__is_file(path)) {
            int expected = fi == 0 || (fi == 1) == (strcmp(kind, "lgbm") != 0); /* weights.bin or 3 boosters */
            CHECK(!expected);
            free(path);
            continue;
        }
        size_t len = 0;
        unsigned char *orig = slurp(path, &len), *c = malloc(len);
        int missed = 0, is_ckpt = fi == 1;
        size_t offs[] = {is_ckpt ? 12 : 0, len / 3, len / 2, len - 9, len - 1}, cuts[] = {0, 8, len / 2, len - 1};
        for (size_t k = 0; orig && c && k < 5; k++) {
            memcpy(c, orig, len);
            c[offs[k]] ^= (unsigned char)(1 << (offs[k] % 8));
            spit(path, c, len);
            bml_model *bad = NULL;
            bml_status st = bml_model_load(dir, &bad);
            int good = st == BML_ERR_PARSE && contains(bml_last_error(), files[fi]) && contains(bml_last_error(), "checksum") && !bad;
            if (!good) fprintf(stderr, "  %s %s flip at %zu: %s\n", kind, files[fi], offs[k], bml_last_error());
            missed += !good;
            bml_model_free(bad);
        }
        for (size_t k = 0; orig && k < 4; k++) {
            spit(path, orig, cuts[k]);
            bml_model *bad = NULL;
            bml_status st = bml_model_load(dir, &bad);
            int good = st != BML_OK && contains(bml_last_error(), files[fi]) && contains(bml_last_error(), "truncated") && !bad;
            if (!good) fprintf(stderr, "  %s %s cut at %zu: %s\n", kind, files[fi], cuts[k], bml_last_error());
            missed += !good;
            bml_model_free(bad);
        }
        CHECK_INT(missed, 0);
        if (is_ckpt && orig && c) {
            bml_model *bad = NULL;
            memcpy(c, orig, len);
            float nan = NAN;
            memcpy(c + len - 12, &nan, 4); /* the last value of the last tensor */
            reseal(c, len);
            spit(path, c, len);
            CHECK_ERR(bml_model_load(dir, &bad), BML_ERR_VALUE, "is not finite (nan)");
            CHECK(bad == NULL);
        }
        if (orig) spit(path, orig, len);
        free(orig);
        free(c);
        free(path);
    }
    bml_model *again = NULL;
    CHECK_OK(bml_model_load(dir, &again));
    bml_model_free(again);
out:
    bml__rm_rf(dir);
    free(a);
    free(b);
    bml_model_free(m);
    bml_model_free(m2);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

static void test_saved_lgbm(void) {
    bml_kv kv[] = {{"n_estimators", "20"}};
    saved_model_verified("lgbm", "summary_set", kv, 1);
}
static void test_saved_mlp(void) {
    bml_kv kv[] = {{"epochs", "2"}};
    saved_model_verified("mlp", "summary_set", kv, 1);
}
static void test_saved_lstm_attn(void) {
    bml_kv kv[] = {{"epochs", "2"}};
    saved_model_verified("lstm_attn", "latent_ode_seq", kv, 1);
}
static void test_saved_cnn_lstm(void) {
    bml_kv kv[] = {{"epochs", "2"}};
    saved_model_verified("cnn_lstm", "latent_ode_seq", kv, 1);
}
static void test_saved_neural_ode(void) {
    bml_kv kv[] = {{"epochs", "2"}};
    saved_model_verified("neural_ode", "latent_ode_seq", kv, 1);
}
static void test_saved_acla(void) {
    bml_kv kv[] = {{"epochs", "2"}};
    saved_model_verified("acla", "latent_ode_seq", kv, 1);
}

/* the epoch callback of the test below: poison the first weight, as a diverging step would */
static void poison(void *user, long epoch, long epochs, double train_loss, double val_loss) {
    (void)epoch, (void)epochs, (void)train_loss, (void)val_loss;
    bml_model *m = user;
    bml__mlp_net *net = *(bml__mlp_net **)m->state; /* mlp_state starts with its network */
    net->params[0] = NAN;
}

/* a fit ending with non-finite weights is an error; finite weights predicting Inf are refused at predict */
static void test_non_finite_weights_and_predictions(void) {
    bml_samples *tr = NULL, *va = NULL, *s = prepared("summary_set", "soh", &tr, &va);
    bml_model *m = NULL, *m2 = NULL;
    bml_kv kv[] = {{"epochs", "1"}};
    CHECK_OK(bml_model_create("mlp", kv, 1, &m));
    if (!s || !tr || !va || !m) goto out;
    bml_model_set_epoch_callback(m, poison, m);
    CHECK_ERR(bml_model_fit(m, tr, NULL, 7), BML_ERR_VALUE,
              "model mlp: training produced a non-finite weight (lower learning_rate?): tensor 'layers.0.weight' value 0 is not finite (nan)");
    CHECK(!bml_model_is_fitted(m));
    bml_model_set_epoch_callback(m, NULL, NULL);
    CHECK_OK(bml_model_fit(m, tr, NULL, 7));
    char dir[] = "/tmp/bml-test-inf-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_OK(bml_model_save(m, dir));
    char *path = bml__path_join(dir, "weights.bin");
    size_t len = 0;
    unsigned char *w = slurp(path, &len);
    if (w) {
        set_all_values(w, len, 3e38f); /* finite, but every sum overflows */
        spit(path, w, len);
    }
    CHECK_OK(bml_model_load(dir, &m2));
    double y[64];
    if (m2) {
        CHECK_ERR(bml_model_predict_samples(m2, va, y), BML_ERR_VALUE, "model mlp: the prediction of soh for cell");
        CHECK(contains(bml_last_error(), "is not finite (inf)"));
        CHECK_ERR(bml_model_predict(m2, va->x, 1, y), BML_ERR_VALUE, "the prediction of soh for row 0 is not finite");
    }
    free(w);
    free(path);
    bml__rm_rf(dir);
out:
    bml_model_free(m);
    bml_model_free(m2);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

/* `batteryml predict` (bml_run_predict) on a saved run whose model predicts Inf fails, no metrics */
static void test_predict_refuses_non_finite(void) {
    char out[] = "/tmp/bml-test-predict-XXXXXX";
    CHECK(mkdtemp(out) != NULL);
    char *od = bml__sprintf("output_dir=%s", out);
    const char *ov[] = {od, "run_name=mlp", "model=mlp", "training.epochs=2", "figures=false"};
    bml_config *c = NULL;
    bml_run_result *r = NULL;
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov, 5, &c));
    if (c) CHECK_OK(bml_run_experiment(c, &o, &r));
    if (r && r->run_dir) {
        char *w = bml__path_join(r->run_dir, "model/weights.bin"), *csv = bml__path_join(out, "pred.csv"), *metrics = NULL;
        const char *cell = DATA_DIR "/Expt 5 - cell D (25degC) - Processed Data.csv";
        CHECK_OK(bml_run_predict(r->run_dir, cell, NULL, csv, &o, &metrics));
        CHECK(metrics && strstr(metrics, "\"rmse\"") && !strstr(metrics, "null"));
        free(metrics);
        metrics = NULL;
        size_t len = 0;
        unsigned char *b = slurp(w, &len);
        if (b) {
            set_all_values(b, len, 3e38f);
            spit(w, b, len);
        }
        CHECK_ERR(bml_run_predict(r->run_dir, cell, NULL, csv, &o, &metrics), BML_ERR_VALUE,
                  "model mlp: the prediction of soh for cell E5-D, sample 0 is not finite (inf)");
        CHECK(metrics == NULL);
        free(metrics);
        free(b);
        free(w);
        free(csv);
    }
    bml_run_result_free(r);
    bml_config_free(c);
    free(od);
    bml__rm_rf(out);
}

/* bml_preprocess_save/load: every number back bit for bit (values cJSON's own printing would round), the parts
 * that are absent reported as absent, a flipped bit, a wrong feature count or a missing file refused. */
static void test_preprocess_round_trip(void) {
    char dir[] = "/tmp/bml-test-preprocess-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    enum { F = 5 };
    double imp[F] = {0.1 + 0.2, 1.0 / 3.0, -1e-300, 12345.678901234567, 0};
    double mu[F] = {2.0 / 3.0, 0.7, 1e300, -5.551115123125783e-17, 4};
    double sd[F] = {1.0 / 7.0, 1e-12, 3.0000000000000004, 1, 2.5};
    double a[F], b[F], c[F];
    int hi = -1, hs = -1;
    CHECK_OK(bml_preprocess_save(dir, F, imp, mu, sd));
    CHECK_OK(bml_preprocess_load(dir, F, a, b, c, &hi, &hs));
    CHECK(hi == 1 && hs == 1);
    CHECK(memcmp(a, imp, sizeof a) == 0 && memcmp(b, mu, sizeof b) == 0 && memcmp(c, sd, sizeof c) == 0);
    /* the parts one by one: absent parts leave the caller's arrays alone */
    for (size_t j = 0; j < F; j++) a[j] = b[j] = c[j] = -7;
    CHECK_OK(bml_preprocess_save(dir, F, NULL, mu, sd));
    CHECK_OK(bml_preprocess_load(dir, F, a, b, c, &hi, &hs));
    CHECK(hi == 0 && hs == 1 && a[0] == -7 && memcmp(b, mu, sizeof b) == 0);
    CHECK_OK(bml_preprocess_save(dir, F, imp, NULL, NULL));
    CHECK_OK(bml_preprocess_load(dir, F, a, b, c, &hi, &hs));
    CHECK(hi == 1 && hs == 0 && memcmp(a, imp, sizeof a) == 0);
    /* refused on the way in */
    CHECK_ERR(bml_preprocess_save(dir, F, imp, mu, NULL), BML_ERR_VALUE, "mean and scale, or neither");
    sd[2] = 0;
    CHECK_ERR(bml_preprocess_save(dir, F, imp, mu, sd), BML_ERR_VALUE, "feature 2");
    sd[2] = 3;
    imp[4] = NAN;
    CHECK_ERR(bml_preprocess_save(dir, F, imp, mu, sd), BML_ERR_VALUE, "feature 4");
    imp[4] = 0;
    CHECK_ERR(bml_preprocess_save("/nonexistent/bml", F, imp, mu, sd), BML_ERR_NOT_FOUND, "/nonexistent/bml");
    /* and on the way out */
    CHECK_OK(bml_preprocess_save(dir, F, imp, mu, sd));
    CHECK_ERR(bml_preprocess_load(dir, F - 1, a, b, c, &hi, &hs), BML_ERR_PARSE, "must be an array of 4 numbers");
    char *path = bml__path_join(dir, "preprocess.json");
    size_t len = 0;
    unsigned char *txt = slurp(path, &len);
    if (txt && len > 20) {
        txt[len / 2] ^= 4;
        spit(path, txt, len);
        CHECK_ERR(bml_preprocess_load(dir, F, a, b, c, &hi, &hs), BML_ERR_PARSE, "checksum");
    }
    free(txt);
    unlink(path);
    CHECK_ERR(bml_preprocess_load(dir, F, a, b, c, &hi, &hs), BML_ERR_NOT_FOUND, "preprocess.json: no such file");
    free(path);
    rmdir(dir);
}

/* A non-finite training target of a sequence names its sample and step (meta is one per sequence). */
static void test_sequence_target_not_finite(void) {
    enum { N = 2, T = 3, F = 1, O = 1 };
    double x[N * T * F] = {1, 2, 3, 4, 5, 6}, y[N * T * O] = {1, 1, 1, 1, 1, NAN}, mask[N * T] = {1, 1, 1, 1, 1, 1};
    double t[N * T] = {0, 1, 2, 0, 1, 2};
    char ids[] = "a\0b";
    bml_sample_meta meta[N] = {{0, ids, 25, 0, 0, 0, 0, 0}, {0, ids + 2, 25, 0, 0, 0, 0, 0}};
    bml_sample_meta step_meta[N * T];
    for (size_t i = 0; i < N * T; i++) step_meta[i] = meta[i / T];
    char *fn[] = {"f"}, *tn[] = {"soh"};
    bml_samples s = {N, F, O, T, x, y, meta, mask, t, step_meta, fn, tn, ids, sizeof ids};
    bml_model *m = NULL;
    bml_kv kv[] = {{"epochs", "1"}};
    CHECK_OK(bml_model_create("lstm_attn", kv, 1, &m));
    if (m) CHECK_ERR(bml_model_fit(m, &s, NULL, 1), BML_ERR_VALUE, "training target of sample 1 (cell b) step 2 is not finite");
    bml_model_free(m);
}

/* Values no single-precision model can take are refused before a model sees them, naming column and row
 * (issue 19: a target of 1e39 made XGBoost reject the labels, and make_dmatrix freed the matrix that
 * fit_one then freed again: a double free). */
static void test_values_beyond_float_range(void) {
    bml_samples *tr = NULL, *va = NULL, *s = samples("soh", &tr, &va);
    bml_model *m = NULL;
    bml_kv kv[] = {{"n_estimators", "5"}};
    CHECK_OK(bml_model_create("lgbm", kv, 1, &m));
    if (!s || !tr || !va || !m) goto out;
    double keep_y = tr->y[3], keep_x = tr->x[2 * 5 + 1];
    const double big[] = {1e39, -1e39, 1e308};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        tr->y[3] = big[i];
        CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_VALUE, "model lgbm: training samples: target 'soh' of cell E5-");
        CHECK(contains(bml_last_error(), "beyond the single-precision range"));
        CHECK(contains(bml_last_error(), "(sample 3)"));
    }
    tr->y[3] = keep_y;
    tr->x[4 * 5 + 2] = -INFINITY;
    CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_VALUE, "training samples: feature 'temperature_k' of cell");
    CHECK(contains(bml_last_error(), "(sample 4) is -inf: infinite"));
    tr->x[4 * 5 + 2] = tr->x[3 * 5 + 2];
    tr->y[3] = 1e-310; /* a double denormal: XGBoost's base_score cannot be parsed from it */
    CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_VALUE, "is 1e-310: below the single-precision normal range");
    tr->y[3] = keep_y;
    tr->x[2 * 5 + 1] = 1e300;
    CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_VALUE, "training samples: feature 'resistance_ohm' of cell");
    tr->x[2 * 5 + 1] = keep_x;
    va->y[0] = 1e39;
    CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_VALUE, "model lgbm: validation samples: target 'soh'");
    va->y[0] = tr->y[0];
    CHECK(!bml_model_is_fitted(m));
    CHECK_OK(bml_model_fit(m, tr, va, 42));
    double y[64], keep = va->x[0];
    va->x[0] = -2e38 * 10;
    CHECK_ERR(bml_model_predict(m, va->x, va->n, y), BML_ERR_VALUE, "model lgbm: prediction: feature 'charge_throughput_ah' of row 0");
    CHECK_ERR(bml_model_predict_samples(m, va, y), BML_ERR_VALUE, "model lgbm: prediction: feature 'charge_throughput_ah' of cell");
    va->x[0] = keep;
    /* XGBoost itself refusing the labels: the backend's error, once, and no double free (ASan) */
    bml_model_free(m);
    m = NULL;
    CHECK_OK(bml_model_create("lgbm", kv, 1, &m));
    if (m) {
        tr->y[3] = 1e39;
        CHECK_ERR(m->def->fit(m, tr, NULL, 42), BML_ERR_BACKEND, "XGBoost setting labels failed");
        if (m->def->release) m->def->release(m);
        tr->y[3] = keep_y;
    }
    bml_model_free(m);
    m = NULL;
    /* the neural models compute in single precision too */
    bml_kv nk[] = {{"epochs", "1"}};
    CHECK_OK(bml_model_create("mlp", nk, 1, &m));
    tr->y[5] = 5e38;
    if (m) CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_VALUE, "model mlp: training samples: target 'soh'");
    tr->y[5] = tr->y[4];
out:
    bml_model_free(m);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

/* bml_model_set_cancel: a fit stops at the next mini-batch or boosting round with BML_ERR_CANCELLED (issue 19:
 * Ctrl-C in a Python epoch callback was swallowed and the fit ran to its end) */
static void cancel_at_epoch_2(void *user, long epoch, long epochs, double tl, double vl) {
    (void)epochs, (void)tl, (void)vl;
    if (epoch == 2) *(int *)user = 1;
}

static void test_cancel(void) {
    bml_samples *tr = NULL, *va = NULL, *s = prepared("summary_set", "soh", &tr, &va);
    int flag = 0;
    const char *names[] = {"mlp", "lgbm"};
    for (int k = 0; k < 2 && s && tr && va; k++) {
        bml_model *m = NULL;
        bml_kv kv[] = {{"epochs", "50"}};
        CHECK_OK(bml_model_create(names[k], kv, k == 0, &m));
        if (!m) continue;
        bml_model_set_cancel(m, &flag);
        flag = 1;
        CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_CANCELLED, k == 0 ? "training cancelled in epoch 1 of 50" : "cancelled at boosting round 1");
        CHECK(!bml_model_is_fitted(m));
        flag = 0;
        if (k == 0) { /* asked from the epoch callback: it stops after that epoch */
            bml_model_set_epoch_callback(m, cancel_at_epoch_2, &flag);
            CHECK_ERR(bml_model_fit(m, tr, va, 42), BML_ERR_CANCELLED, "training cancelled after epoch 2 of 50");
            bml_model_set_epoch_callback(m, NULL, NULL);
            flag = 0;
        }
        CHECK_OK(bml_model_fit(m, tr, va, 42)); /* flag reset: fits again, whole */
        CHECK(bml_model_is_fitted(m));
        bml_model_free(m);
    }
    CHECK_STR(bml_status_name(BML_ERR_CANCELLED), "BML_ERR_CANCELLED");
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(s);
}

TEST_MAIN("model", T(test_fit_predict_shap), T(test_save_load_exact), T(test_reproducible), T(test_bad_parameters),
          T(test_sealed_json), T(test_checkpoint_bounds), T(test_saved_lgbm), T(test_saved_mlp), T(test_saved_lstm_attn),
          T(test_saved_cnn_lstm), T(test_saved_neural_ode), T(test_saved_acla), T(test_non_finite_weights_and_predictions),
          T(test_predict_refuses_non_finite), T(test_preprocess_round_trip), T(test_sequence_target_not_finite),
          T(test_values_beyond_float_range), T(test_cancel))
