/* `lgbm`: gradient-boosted trees with the seed's LightGBM parameters, on XGBoost's C API.
 *
 * Mapping (SPEC 6): n_estimators -> boosting rounds, learning_rate -> eta, max_depth, num_leaves ->
 * max_leaves with grow_policy=lossguide (leaf-wise growth, as LightGBM), tree_method=hist,
 * reg_alpha -> alpha, reg_lambda -> lambda, min_child_samples -> min_child_weight (the hessian of the
 * squared error is 1 per sample, so this is LightGBM's minimum sample count), random_state -> seed,
 * base_score = mean of the training targets (LightGBM's boost_from_average).
 * Early stopping on the validation RMSE, as xgboost.train: stop after early_stopping_rounds rounds
 * without a strictly lower score, keep the trees up to the best round. One booster per target.
 * SHAP values and SHAP interaction values are the library's own exact TreeSHAP (models/treeshap.h) over the
 * trees read back from each booster's JSON; XGBoost's (pred_contribs, pred_interactions) stay reachable as
 * bml__lgbm_shap_xgboost / bml__lgbm_interactions_xgboost, the reference of the tests and the benchmark. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "core/json.h"
#include "models/model_internal.h"
#include "models/treeshap.h"

typedef struct {
    long n_estimators, max_depth, num_leaves, early_stopping_rounds, random_state, min_child_samples, max_bin, n_jobs;
    double learning_rate, reg_alpha, reg_lambda, subsample, colsample_bytree;
} lgbm_params;

#define OFF(f) offsetof(lgbm_params, f)
static const bml__param_spec specs[] = {
    {"n_estimators", BML__P_INT, OFF(n_estimators), "1000", 1, 1e9, 0, "boosting rounds (upper bound with early stopping)"},
    {"learning_rate", BML__P_DOUBLE, OFF(learning_rate), "0.05", 0, 1e6, 1, "shrinkage (eta), > 0"},
    {"max_depth", BML__P_INT, OFF(max_depth), "6", -1, 1e4, 0, "maximum tree depth (-1 or 0: no limit)"},
    {"num_leaves", BML__P_INT, OFF(num_leaves), "31", 2, 1e7, 0, "maximum leaves per tree (leaf-wise growth)"},
    {"reg_alpha", BML__P_DOUBLE, OFF(reg_alpha), "0.1", 0, 1e12, 0, "L1 regularisation of leaf weights"},
    {"reg_lambda", BML__P_DOUBLE, OFF(reg_lambda), "0.1", 0, 1e12, 0, "L2 regularisation of leaf weights"},
    {"early_stopping_rounds", BML__P_INT, OFF(early_stopping_rounds), "50", 0, 1e9, 0,
     "stop after this many rounds without improvement on validation (0: off)"},
    {"random_state", BML__P_INT, OFF(random_state), "42", 0, 2147483647.0, 0, "seed of the booster"},
    {"min_child_samples", BML__P_INT, OFF(min_child_samples), "20", 0, 1e9, 0, "minimum samples in a leaf"},
    {"subsample", BML__P_DOUBLE, OFF(subsample), "1.0", 0, 1, 1, "row subsampling per tree, (0, 1]"},
    {"colsample_bytree", BML__P_DOUBLE, OFF(colsample_bytree), "1.0", 0, 1, 1, "feature subsampling per tree, (0, 1]"},
    {"max_bin", BML__P_INT, OFF(max_bin), "255", 2, 1e6, 0, "histogram bins per feature"},
    {"n_jobs", BML__P_INT, OFF(n_jobs), "0", 0, 1024, 0, "threads (0: all cores); results do not depend on it"},
};

typedef struct {
    size_t n_targets;
    BoosterHandle *boosters; /* (O), each cut to its best iteration */
    long *best_iteration;    /* (O) */
    double *best_score;      /* (O) validation RMSE at the best iteration (NaN without validation) */
    double *base_score;      /* (O) */
    bml__treeshap **shap;    /* (O) the boosters' trees for our TreeSHAP */
} lgbm_state;

static bml_status xgb_fail(const char *what) {
    return bml__fail(BML_ERR_BACKEND, "XGBoost %s failed: %s", what, XGBGetLastError());
}
#define XGB(call, what)                          \
    do {                                         \
        if ((call) != 0) return xgb_fail(what);  \
    } while (0)

static void release(bml_model *m) {
    lgbm_state *s = m->state;
    if (!s) return;
    for (size_t k = 0; k < s->n_targets; k++)
        if (s->boosters[k]) XGBoosterFree(s->boosters[k]);
    for (size_t k = 0; k < s->n_targets; k++) bml__treeshap_free(s->shap[k]);
    free(s->shap);
    free(s->boosters);
    free(s->best_iteration);
    free(s->best_score);
    free(s->base_score);
    free(s);
    m->state = NULL;
}

static lgbm_state *state_alloc(size_t O) {
    lgbm_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n_targets = O;
    s->boosters = bml__calloc(O, sizeof *s->boosters);
    s->best_iteration = bml__calloc(O, sizeof *s->best_iteration);
    s->best_score = bml__calloc(O, sizeof *s->best_score);
    s->base_score = bml__calloc(O, sizeof *s->base_score);
    s->shap = bml__calloc(O, sizeof *s->shap);
    if (!s->boosters || !s->best_iteration || !s->best_score || !s->base_score || !s->shap) {
        free(s->shap);
        free(s->boosters);
        free(s->best_iteration);
        free(s->best_score);
        free(s->base_score);
        free(s);
        return NULL;
    }
    return s;
}

/* (n, F) doubles -> XGBoost DMatrix of floats; NaN stays missing. Optional label column k of y (n, O). */
static bml_status make_dmatrix(const double *x, size_t n, size_t F, const double *y, size_t O, size_t k,
                               DMatrixHandle *out) {
    *out = NULL; /* on any failure *out stays NULL: the caller frees only what it holds */
    float *xf = bml__calloc(n * F, sizeof *xf);
    float *yf = y ? bml__calloc(n, sizeof *yf) : NULL;
    if (!xf || (y && !yf)) {
        free(xf);
        free(yf);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n * F; i++) xf[i] = (float)x[i];
    int rc = XGDMatrixCreateFromMat(xf, (bst_ulong)n, (bst_ulong)F, NAN, out);
    free(xf);
    if (rc != 0) {
        free(yf);
        *out = NULL;
        return xgb_fail("DMatrix creation");
    }
    if (y) {
        for (size_t i = 0; i < n; i++) yf[i] = (float)y[i * O + k];
        rc = XGDMatrixSetFloatInfo(*out, "label", yf, (bst_ulong)n);
        free(yf);
        if (rc != 0) {
            bml_status st = xgb_fail("setting labels");
            XGDMatrixFree(*out);
            *out = NULL; /* freed here: fit_one must not free it again */
            return st;
        }
    }
    return BML_OK;
}

static bml_status set_param(BoosterHandle b, const char *k, const char *fmt, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    XGB(XGBoosterSetParam(b, k, buf), "parameter setting");
    return BML_OK;
}

/* Parse "[i]\tval-rmse:0.123" */
static int parse_eval(const char *s, double *score) {
    const char *c = strrchr(s, ':');
    return c && bml__parse_double(c + 1, score) == 0 ? 0 : -1;
}

static bml_status fit_one(const lgbm_params *p, const bml_samples *tr, const bml_samples *va, size_t k,
                          lgbm_state *s, const int *cancel) {
    size_t F = tr->n_features, O = tr->n_targets;
    double mean = 0;
    for (size_t i = 0; i < tr->n; i++) mean += tr->y[i * O + k];
    mean /= (double)tr->n;
    s->base_score[k] = mean;
    DMatrixHandle dtr = NULL, dva = NULL;
    BoosterHandle b = NULL;
    bml_status st = make_dmatrix(tr->x, tr->n, F, tr->y, O, k, &dtr);
    if (st == BML_OK && va && va->n) st = make_dmatrix(va->x, va->n, F, va->y, O, k, &dva);
    DMatrixHandle cache[2] = {dtr, dva};
    if (st == BML_OK && XGBoosterCreate(cache, dva ? 2 : 1, &b) != 0) st = xgb_fail("booster creation");
    long depth = p->max_depth < 0 ? 0 : p->max_depth;
    if (st == BML_OK) {
        const char *fixed[][2] = {{"objective", "reg:squarederror"}, {"tree_method", "hist"},
                                  {"grow_policy", "lossguide"},      {"eval_metric", "rmse"},
                                  {"verbosity", "0"}};
        for (size_t i = 0; st == BML_OK && i < sizeof fixed / sizeof *fixed; i++)
            if (XGBoosterSetParam(b, fixed[i][0], fixed[i][1]) != 0) st = xgb_fail("parameter setting");
    }
    if (st == BML_OK) st = set_param(b, "eta", "%.17g", p->learning_rate);
    if (st == BML_OK) st = set_param(b, "max_depth", "%.0f", (double)depth);
    if (st == BML_OK) st = set_param(b, "max_leaves", "%.0f", (double)p->num_leaves);
    if (st == BML_OK) st = set_param(b, "alpha", "%.17g", p->reg_alpha);
    if (st == BML_OK) st = set_param(b, "lambda", "%.17g", p->reg_lambda);
    if (st == BML_OK) st = set_param(b, "min_child_weight", "%.0f", (double)p->min_child_samples);
    if (st == BML_OK) st = set_param(b, "subsample", "%.17g", p->subsample);
    if (st == BML_OK) st = set_param(b, "colsample_bytree", "%.17g", p->colsample_bytree);
    if (st == BML_OK) st = set_param(b, "max_bin", "%.0f", (double)p->max_bin);
    if (st == BML_OK) st = set_param(b, "seed", "%.0f", (double)p->random_state);
    if (st == BML_OK && p->n_jobs > 0) st = set_param(b, "nthread", "%.0f", (double)p->n_jobs);
    if (st == BML_OK) st = set_param(b, "base_score", "%.17g", mean);
    long best = -1, since = 0, rounds = 0;
    double best_score = INFINITY;
    const char *names[1] = {"val"};
    for (long it = 0; st == BML_OK && it < p->n_estimators; it++) {
        if (bml__model_cancelled(cancel)) {
            st = bml__fail(BML_ERR_CANCELLED, "lgbm: training cancelled at boosting round %ld of %ld (target %zu)", it + 1,
                           p->n_estimators, k);
            break;
        }
        if (XGBoosterUpdateOneIter(b, (int)it, dtr) != 0) {
            st = xgb_fail("training round");
            break;
        }
        rounds = it + 1;
        if (!dva) continue;
        const char *ev = NULL;
        double score;
        if (XGBoosterEvalOneIter(b, (int)it, &dva, names, 1, &ev) != 0) {
            st = xgb_fail("evaluation");
            break;
        }
        if (parse_eval(ev, &score) != 0) {
            st = bml__fail(BML_ERR_BACKEND, "XGBoost evaluation: cannot read '%s'", ev);
            break;
        }
        if (score < best_score) {
            best_score = score;
            best = it;
            since = 0;
        } else if (p->early_stopping_rounds > 0 && ++since >= p->early_stopping_rounds) {
            break;
        }
    }
    if (!dva) best = rounds - 1, best_score = NAN;
    if (p->early_stopping_rounds == 0 && dva) best = rounds - 1; /* no early stopping: keep every round */
    if (st == BML_OK) {
        BoosterHandle cut = NULL;
        if (best + 1 < rounds) {
            if (XGBoosterSlice(b, 0, (int)(best + 1), 1, &cut) != 0) st = xgb_fail("slicing to the best iteration");
        }
        if (cut) {
            XGBoosterFree(b);
            b = cut;
        }
    }
    if (dtr) XGDMatrixFree(dtr);
    if (dva) XGDMatrixFree(dva);
    if (st != BML_OK) {
        if (b) XGBoosterFree(b);
        return st;
    }
    s->boosters[k] = b;
    s->best_iteration[k] = best;
    s->best_score[k] = best_score;
    return BML_OK;
}

/* booster k's trees, read back from its JSON form, for our TreeSHAP */
static bml_status read_trees(const bml_model *m, lgbm_state *s, size_t k) {
    bst_ulong len = 0;
    const char *raw = NULL;
    XGB(XGBoosterSaveModelToBuffer(s->boosters[k], "{\"format\": \"json\"}", &len, &raw), "model serialisation");
    char what[64];
    snprintf(what, sizeof what, "booster %zu", k);
    return bml__treeshap_from_json(raw, (size_t)len, m->n_features, what, &s->shap[k]);
}

static bml_status fit(bml_model *m, const bml_samples *tr, const bml_samples *va, uint64_t seed) {
    (void)seed; /* the booster's seed is random_state, as in the seed's LGBMModel */
    lgbm_state *s = state_alloc(tr->n_targets);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->state = s;
    for (size_t k = 0; k < tr->n_targets; k++) {
        BML__TRY(fit_one(m->params, tr, va, k, s, m->cancel));
        BML__TRY(read_trees(m, s, k));
    }
    return BML_OK;
}

/* type 0: value (n, O); type 2: contributions (n, O, F + 1); type 4: interactions (n, O, F + 1, F + 1) */
static bml_status predict_type(const bml_model *m, const double *x, size_t n, int type, double *out) {
    const lgbm_state *s = m->state;
    size_t F = m->n_features, O = m->n_targets, w = type == 2 ? F + 1 : type == 4 ? (F + 1) * (F + 1) : 1;
    DMatrixHandle d;
    BML__TRY(make_dmatrix(x, n, F, NULL, 0, 0, &d));
    char cfg[128];
    snprintf(cfg, sizeof cfg,
             "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, \"strict_shape\": false}",
             type);
    for (size_t k = 0; k < O; k++) {
        const bst_ulong *shape;
        bst_ulong dim;
        const float *res;
        if (XGBoosterPredictFromDMatrix(s->boosters[k], d, cfg, &shape, &dim, &res) != 0) {
            XGDMatrixFree(d);
            return xgb_fail("prediction");
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < w; j++) out[(i * O + k) * w + j] = res[i * w + j];
    }
    XGDMatrixFree(d);
    return BML_OK;
}

static bml_status predict(const bml_model *m, const double *x, size_t n, double *y) { return predict_type(m, x, n, 0, y); }
bml_status bml__lgbm_shap_xgboost(const bml_model *m, const double *x, size_t n, double *phi) {
    return predict_type(m, x, n, 2, phi);
}
bml_status bml__lgbm_interactions_xgboost(const bml_model *m, const double *x, size_t n, double *phi) {
    return predict_type(m, x, n, 4, phi);
}

/* our TreeSHAP on as many threads as the booster (n_jobs; 0: OpenMP's default) */
static bml_status shap(const bml_model *m, const double *x, size_t n, double *phi) {
    const lgbm_state *s = m->state;
    const lgbm_params *p = m->params;
    size_t W = m->n_features + 1, O = m->n_targets;
    for (size_t k = 0; k < O; k++) BML__TRY(bml__treeshap_values(s->shap[k], x, n, (int)p->n_jobs, phi + k * W, O * W));
    return BML_OK;
}

bml_status bml_model_shap_interactions(const bml_model *m, const double *x, size_t n, double *phi) {
    if (m->def != &bml__model_lgbm)
        return bml__fail(BML_ERR_STATE, "model %s has no SHAP interaction values", m->def->name);
    if (!m->fitted) return bml__fail(BML_ERR_STATE, "model %s: shap_interactions before fit", m->def->name);
    if (n == 0) return BML_OK;
    const lgbm_state *s = m->state;
    const lgbm_params *p = m->params;
    size_t W = (m->n_features + 1) * (m->n_features + 1), O = m->n_targets;
    for (size_t k = 0; k < O; k++)
        BML__TRY(bml__treeshap_interactions(s->shap[k], x, n, (int)p->n_jobs, phi + k * W, O * W));
    return BML_OK;
}

static bml_status importance(const bml_model *m, const char *kind, double *imp) {
    const lgbm_state *s = m->state;
    const char *xk = !strcmp(kind, "gain") ? "gain" : !strcmp(kind, "total_gain") ? "total_gain"
                   : !strcmp(kind, "split") ? "weight" : NULL;
    if (!xk) return bml__fail(BML_ERR_VALUE, "unknown importance kind '%s' (valid: gain, total_gain, split)", kind);
    size_t F = m->n_features;
    char cfg[96];
    snprintf(cfg, sizeof cfg, "{\"importance_type\": \"%s\"}", xk);
    for (size_t k = 0; k < m->n_targets; k++) {
        for (size_t j = 0; j < F; j++) imp[k * F + j] = 0;
        bst_ulong nf, dim;
        const char **names;
        const bst_ulong *shape;
        const float *scores;
        XGB(XGBoosterFeatureScore(s->boosters[k], cfg, &nf, &names, &dim, &shape, &scores), "feature importance");
        for (bst_ulong i = 0; i < nf; i++) {
            long j; /* names are "f<index>" */
            if (names[i][0] == 'f' && bml__parse_long(names[i] + 1, &j) == 0 && j >= 0 && (size_t)j < F)
                imp[k * F + (size_t)j] = scores[i];
        }
    }
    return BML_OK;
}

static cJSON *fit_info(const bml_model *m) {
    const lgbm_state *s = m->state;
    cJSON *o = cJSON_CreateObject();
    for (size_t k = 0; k < m->n_targets; k++) {
        cJSON *t = cJSON_AddObjectToObject(o, m->target_names[k]);
        cJSON_AddNumberToObject(t, "best_iteration", (double)s->best_iteration[k]);
        cJSON_AddNumberToObject(t, "n_trees", (double)(s->best_iteration[k] + 1));
        if (isfinite(s->best_score[k])) cJSON_AddNumberToObject(t, "best_val_rmse", s->best_score[k]);
        cJSON_AddNumberToObject(t, "base_score", s->base_score[k]);
    }
    return o;
}

/* Each booster is written as XGBoost serialises it (JSON), and its XXH64 recorded in model.json's state
 * (state.booster_xxh64), which is itself sealed: a changed or cut booster file is refused on load. */
static bml_status save(const bml_model *m, const char *dir, cJSON **state) {
    const lgbm_state *s = m->state;
    cJSON *st = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(st, "boosters");
    cJSON *sums = cJSON_AddArrayToObject(st, "booster_xxh64");
    cJSON *best = cJSON_AddArrayToObject(st, "best_iteration"), *base = cJSON_AddArrayToObject(st, "base_score");
    cJSON *bs = cJSON_AddArrayToObject(st, "best_score");
    for (size_t k = 0; k < m->n_targets; k++) {
        char name[64], hex[17];
        snprintf(name, sizeof name, "booster_%zu.json", k);
        bst_ulong len = 0;
        const char *raw = NULL;
        if (XGBoosterSaveModelToBuffer(s->boosters[k], "{\"format\": \"json\"}", &len, &raw) != 0) {
            cJSON_Delete(st);
            return xgb_fail("model saving");
        }
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)bml__checksum(raw, (size_t)len));
        char *path = bml__path_join(dir, name);
        bml_status e = path ? bml__write_file_atomic(path, raw, (size_t)len) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(path);
        if (e != BML_OK) {
            cJSON_Delete(st);
            return e;
        }
        cJSON_AddItemToArray(files, cJSON_CreateString(name));
        cJSON_AddItemToArray(sums, cJSON_CreateString(hex));
        cJSON_AddItemToArray(best, cJSON_CreateNumber((double)s->best_iteration[k]));
        cJSON_AddItemToArray(base, cJSON_CreateNumber(s->base_score[k]));
        cJSON_AddItemToArray(bs, isfinite(s->best_score[k]) ? cJSON_CreateNumber(s->best_score[k]) : cJSON_CreateNull());
    }
    *state = st;
    return BML_OK;
}

/* booster k from dir: file name and checksum from the state, contents checked before XGBoost reads them */
static bml_status load_booster(const char *dir, const cJSON *f, const cJSON *sum, size_t k, BoosterHandle *b) {
    if (!cJSON_IsString(f) || !*f->valuestring || strchr(f->valuestring, '/') || !strcmp(f->valuestring, ".."))
        return bml__fail(BML_ERR_PARSE, "%s/model.json: invalid booster file name for target %zu", dir, k);
    if (!cJSON_IsString(sum) || strlen(sum->valuestring) != 16 || strspn(sum->valuestring, "0123456789abcdef") != 16)
        return bml__fail(BML_ERR_PARSE, "%s/model.json: state.booster_xxh64[%zu] must be 16 hex digits", dir, k);
    char *path = bml__path_join(dir, f->valuestring), *raw = NULL;
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t len = 0;
    bml_status st = bml__is_file(path) ? bml__read_file(path, &raw, &len)
                                       : bml__fail(BML_ERR_NOT_FOUND, "%s: booster file missing", path);
    unsigned long long stored = strtoull(sum->valuestring, NULL, 16), computed = st == BML_OK ? bml__checksum(raw, len) : 0;
    if (st == BML_OK && stored != computed)
        st = bml__fail(BML_ERR_PARSE, "%s: checksum mismatch (stored %016llx in model.json, computed %016llx): the file is corrupt or truncated",
                       path, stored, computed);
    if (st == BML_OK && (XGBoosterCreate(NULL, 0, b) != 0 || XGBoosterLoadModelFromBuffer(*b, raw, (bst_ulong)len) != 0))
        st = bml__fail(BML_ERR_BACKEND, "%s: XGBoost cannot load the booster: %s", path, XGBGetLastError());
    free(raw);
    free(path);
    return st;
}

static bml_status load(bml_model *m, const char *dir, const cJSON *st) {
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(st, "boosters");
    const cJSON *sums = cJSON_GetObjectItemCaseSensitive(st, "booster_xxh64");
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(st, "best_iteration");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(st, "base_score");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(st, "best_score");
    size_t O = m->n_targets;
    if (!cJSON_IsArray(files) || (size_t)cJSON_GetArraySize(files) != O || !cJSON_IsArray(best) ||
        (size_t)cJSON_GetArraySize(best) != O || !cJSON_IsArray(sums) || (size_t)cJSON_GetArraySize(sums) != O)
        return bml__fail(BML_ERR_PARSE,
                         "%s/model.json: state.boosters, booster_xxh64 and best_iteration must have one entry per target (%zu)",
                         dir, O);
    lgbm_state *s = state_alloc(O);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->state = s;
    for (size_t k = 0; k < O; k++) {
        BML__TRY(load_booster(dir, cJSON_GetArrayItem(files, (int)k), cJSON_GetArrayItem(sums, (int)k), k, &s->boosters[k]));
        const cJSON *it = cJSON_GetArrayItem(best, (int)k);
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= -1 && it->valuedouble < 1e9))
            return bml__fail(BML_ERR_PARSE, "%s/model.json: state.best_iteration[%zu] must be an iteration number", dir, k);
        s->best_iteration[k] = (long)it->valuedouble;
        const cJSON *b = cJSON_GetArrayItem(base, (int)k);
        s->base_score[k] = cJSON_IsNumber(b) ? b->valuedouble : NAN;
        const cJSON *sc = cJSON_GetArrayItem(bs, (int)k);
        s->best_score[k] = cJSON_IsNumber(sc) ? sc->valuedouble : NAN;
        bst_ulong nf = 0;
        XGB(XGBoosterGetNumFeature(s->boosters[k], &nf), "model inspection");
        if ((size_t)nf != m->n_features)
            return bml__fail(BML_ERR_VALUE, "%s: booster %zu has %lu features, model.json names %zu", dir, k,
                             (unsigned long)nf, m->n_features);
        BML__TRY(read_trees(m, s, k));
    }
    return BML_OK;
}

const bml__model_def bml__model_lgbm = {
    .name = "lgbm",
    .description = "gradient-boosted trees (LightGBM parameters on XGBoost: hist, leaf-wise), TreeSHAP",
    .specs = specs,
    .n_specs = sizeof specs / sizeof *specs,
    .params_size = sizeof(lgbm_params),
    .handles_missing = 1,
    .wants_scaled = 0,
    .fit = fit,
    .predict = predict,
    .shap = shap,
    .importance = importance,
    .fit_info = fit_info,
    .save = save,
    .load = load,
    .release = release,
};
