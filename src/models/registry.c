/* Model registry and the model object common to every model: names, parameters, save/load. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "models/model_internal.h"

static const bml__model_def *const defs[] = {&bml__model_lgbm, &bml__model_mlp, &bml__model_lstm_attn, &bml__model_cnn_lstm,
                                              &bml__model_neural_ode, &bml__model_acla, &bml__model_ols, &bml__model_ridge,
                                              &bml__model_lasso, &bml__model_elastic_net, &bml__model_elastic_net_cv,
                                              &bml__model_pls, &bml__model_pcr};
#define N_DEFS (sizeof defs / sizeof *defs)

size_t bml_model_registry_count(void) { return N_DEFS; }
const char *bml_model_registry_name(size_t i) { return i < N_DEFS ? defs[i]->name : NULL; }
const char *bml_model_registry_describe(size_t i) { return i < N_DEFS ? defs[i]->description : NULL; }

/* The public descriptions of every model's parameters: written once, before the first reader
 * (pthread_once), read-only after, so that any number of threads may list them at once. */
#define MAX_SPECS 64
static bml_param_info info[N_DEFS][MAX_SPECS];
static pthread_once_t info_once = PTHREAD_ONCE_INIT;

static void info_build(void) {
    for (size_t i = 0; i < N_DEFS; i++) {
        BML__ASSERT(defs[i]->n_specs <= MAX_SPECS);
        bml__params_info(defs[i]->specs, defs[i]->n_specs, info[i]);
    }
}

size_t bml_model_registry_params(size_t i, const bml_param_info **params) {
    if (i >= N_DEFS) return 0;
    pthread_once(&info_once, info_build);
    *params = info[i];
    return defs[i]->n_specs;
}

int bml_model_registry_takes_training(const char *name) {
    for (size_t i = 0; i < N_DEFS; i++)
        if (name && !strcmp(defs[i]->name, name)) return defs[i]->takes_training;
    return 0;
}

void bml_model_set_epoch_callback(bml_model *m, bml_epoch_fn fn, void *user) {
    m->on_epoch = fn;
    m->on_epoch_user = user;
}

void bml_model_set_cancel(bml_model *m, const int *flag) {
    if (m) m->cancel = flag;
}

char *bml_model_history_csv(const bml_model *m) {
    errno = 0; /* NULL and ENOMEM: the history is there, its text could not be made */
    return m->fitted && m->def->history_csv ? m->def->history_csv(m) : NULL;
}

void bml_model_registry_list(char *buf, size_t size) {
    if (!size) return;
    buf[0] = 0;
    for (size_t i = 0; i < N_DEFS; i++) {
        strncat(buf, i ? ", " : "", size - strlen(buf) - 1);
        strncat(buf, defs[i]->name, size - strlen(buf) - 1);
    }
}

bml_status bml_model_create(const char *name, const bml_kv *kv, size_t n_kv, bml_model **out) {
    *out = NULL;
    const bml__model_def *def = NULL;
    for (size_t i = 0; i < N_DEFS; i++)
        if (name && !strcmp(defs[i]->name, name)) def = defs[i];
    if (!def) {
        char *names = bml__registry_names(N_DEFS, bml_model_registry_name);
        bml_status st = bml__fail(BML_ERR_NOT_FOUND, "unknown model '%s' (valid: %s)", name ? name : "(none)",
                                  names ? names : "?");
        free(names);
        return st;
    }
    bml_model *m = calloc(1, sizeof *m);
    if (!m) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->def = def;
    m->params = calloc(1, def->params_size);
    if (!m->params) {
        free(m);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    char what[64];
    snprintf(what, sizeof what, "model %s", def->name);
    bml_status st = bml__params_parse(what, def->specs, def->n_specs, kv, n_kv, m->params);
    for (size_t i = 0; st == BML_OK && i < n_kv; i++)
        if (bml__strvec_push(&m->kv_keys, kv[i].key) || bml__strvec_push(&m->kv_values, kv[i].value))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st != BML_OK) {
        bml_model_free(m);
        return st;
    }
    *out = m;
    return BML_OK;
}

static void free_names(bml_model *m) {
    for (size_t j = 0; m->feature_names && j < m->n_features; j++) free(m->feature_names[j]);
    for (size_t k = 0; m->target_names && k < m->n_targets; k++) free(m->target_names[k]);
    free(m->feature_names);
    free(m->target_names);
    m->feature_names = m->target_names = NULL;
}

void bml_model_free(bml_model *m) {
    if (!m) return;
    if (m->def->release) m->def->release(m);
    bml__params_free(m->def->specs, m->def->n_specs, m->params);
    free(m->params);
    bml__strvec_free(&m->kv_keys);
    bml__strvec_free(&m->kv_values);
    free_names(m);
    free(m);
}

const char *bml_model_name(const bml_model *m) { return m->def->name; }
int bml_model_handles_missing(const bml_model *m) { return m->def->handles_missing; }
int bml_model_wants_scaled(const bml_model *m) { return m->def->wants_scaled; }
int bml_model_is_fitted(const bml_model *m) { return m->fitted; }
size_t bml_model_n_features(const bml_model *m) { return m->n_features; }
size_t bml_model_n_targets(const bml_model *m) { return m->n_targets; }
const char *bml_model_feature_name(const bml_model *m, size_t j) { return j < m->n_features ? m->feature_names[j] : NULL; }
const char *bml_model_target_name(const bml_model *m, size_t k) { return k < m->n_targets ? m->target_names[k] : NULL; }

static bml_status set_names(bml_model *m, size_t F, char *const *fn, size_t O, char *const *tn) {
    free_names(m);
    m->feature_names = bml__calloc(F ? F : 1, sizeof(char *));
    m->target_names = bml__calloc(O ? O : 1, sizeof(char *));
    m->n_features = F;
    m->n_targets = O;
    if (!m->feature_names || !m->target_names) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < F; j++)
        if (!(m->feature_names[j] = bml__strdup(fn[j]))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O; k++)
        if (!(m->target_names[k] = bml__strdup(tn[k]))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    return BML_OK;
}

bml_status bml_model_fit(bml_model *m, const bml_samples *train, const bml_samples *val, uint64_t seed) {
    if (!train || train->n == 0) return bml__fail(BML_ERR_EMPTY, "model %s: no training samples", m->def->name);
    if (train->n_features == 0) return bml__fail(BML_ERR_EMPTY, "model %s: samples have no features", m->def->name);
    if (!!train->seq_len != !!m->def->predict_seq)
        return bml__fail(BML_ERR_VALUE, "model %s takes %s samples: use pipeline=%s", m->def->name,
                         m->def->predict_seq ? "sequence" : "static", m->def->predict_seq ? "latent_ode_seq" : "summary_set");
    if (val && (val->n_features != train->n_features || val->n_targets != train->n_targets))
        return bml__fail(BML_ERR_VALUE, "model %s: validation samples have %zu features/%zu targets, training %zu/%zu",
                         m->def->name, val->n_features, val->n_targets, train->n_features, train->n_targets);
    size_t T = train->seq_len ? train->seq_len : 1, O = train->n_targets;
    for (size_t i = 0; i < train->n * T * O; i++) /* padded steps of sequences hold 0: every value counts */
        if (!(train->y[i] == train->y[i]) || train->y[i] - train->y[i] != 0) {
            size_t sample = i / O / T; /* meta is (n): one per sequence, not per step */
            const char *cell = train->meta ? train->meta[sample].cell : NULL;
            if (train->seq_len)
                return bml__fail(BML_ERR_VALUE, "model %s: training target of sample %zu (cell %s) step %zu is not finite",
                                 m->def->name, sample, cell ? cell : "?", i / O % T);
            return bml__fail(BML_ERR_VALUE, "model %s: training target of sample %zu (cell %s) is not finite", m->def->name,
                             sample, cell ? cell : "?");
        }
    char *who = bml__sprintf("model %s: training samples", m->def->name);
    bml_status range = who ? bml_samples_check_range(train, who, 1) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (range == BML_OK && val) {
        free(who);
        who = bml__sprintf("model %s: validation samples", m->def->name);
        range = who ? bml_samples_check_range(val, who, 1) : bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    free(who);
    BML__TRY(range);
    if (m->def->release) m->def->release(m);
    m->fitted = 0;
    BML__TRY(set_names(m, train->n_features, train->feature_names, train->n_targets, train->target_names));
    BML__TRY(m->def->fit(m, train, val, seed));
    if (m->def->check_weights) { /* a diverged fit is an error, never a model predicting NaN */
        char *what = bml__sprintf("model %s: training produced a non-finite weight (lower learning_rate?)", m->def->name);
        bml_status st = what ? m->def->check_weights(m, what) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(what);
        BML__TRY(st);
    }
    m->fitted = 1;
    return BML_OK;
}

#define REQUIRE_FITTED(m, what)                                                                     \
    do {                                                                                            \
        if (!(m)->fitted) return bml__fail(BML_ERR_STATE, "model %s: %s before fit", (m)->def->name, what); \
    } while (0)

/* every prediction of rows (n, O) finite: a model predicting NaN or Inf is an error, never a metric of null */
static bml_status check_predictions(const bml_model *m, const double *y, size_t n, const bml_samples *s) {
    size_t O = m->n_targets, T = s && s->seq_len ? s->seq_len : 1;
    for (size_t i = 0; i < n * O; i++)
        if (!isfinite(y[i])) {
            size_t r = i / O;
            if (s && s->meta) {
                const bml_sample_meta *c = &s->meta[r / T];
                char ex[24] = "";
                if (c->experiment) snprintf(ex, sizeof ex, "E%d-", c->experiment);
                return bml__fail(BML_ERR_VALUE, "model %s: the prediction of %s for cell %s%s, %s %zu is not finite (%g)",
                                 m->def->name, m->target_names[i % O], ex, c->cell, T > 1 ? "step" : "sample",
                                 T > 1 ? r % T : r, y[i]);
            }
            return bml__fail(BML_ERR_VALUE, "model %s: the prediction of %s for row %zu is not finite (%g)", m->def->name,
                             m->target_names[i % O], r, y[i]);
        }
    return BML_OK;
}

bml_status bml_model_predict(const bml_model *m, const double *x, size_t n, double *y) {
    REQUIRE_FITTED(m, "predict");
    if (n == 0) return BML_OK;
    bml_samples rows = {.n = n, .n_features = m->n_features, .x = (double *)x, .feature_names = m->feature_names};
    char *who = bml__sprintf("model %s: prediction", m->def->name);
    bml_status range = who ? bml_samples_check_range(&rows, who, 0) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(who);
    BML__TRY(range);
    BML__TRY(m->def->predict(m, x, n, y));
    return check_predictions(m, y, n, NULL);
}

bml_status bml_model_predict_samples(const bml_model *m, const bml_samples *s, double *y) {
    REQUIRE_FITTED(m, "predict");
    if (s->n_features != m->n_features || s->n_targets != m->n_targets)
        return bml__fail(BML_ERR_VALUE, "model %s: samples have %zu features/%zu targets, the model %zu/%zu", m->def->name,
                         s->n_features, s->n_targets, m->n_features, m->n_targets);
    if (!!s->seq_len != !!m->def->predict_seq)
        return bml__fail(BML_ERR_VALUE, "model %s takes %s samples (pipeline %s)", m->def->name,
                         m->def->predict_seq ? "sequence" : "static", m->def->predict_seq ? "latent_ode_seq" : "summary_set or table");
    if (s->n == 0) return BML_OK;
    char *who = bml__sprintf("model %s: prediction", m->def->name);
    bml_status range = who ? bml_samples_check_range(s, who, 0) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(who);
    BML__TRY(range);
    BML__TRY(m->def->predict_seq ? m->def->predict_seq(m, s, y) : m->def->predict(m, s->x, s->n, y));
    return check_predictions(m, y, s->n * (s->seq_len ? s->seq_len : 1), s);
}

int bml_model_wants_sequences(const bml_model *m) { return m->def->predict_seq != NULL; }

bml_status bml_model_attention(const bml_model *m, const bml_samples *s, double *w) {
    REQUIRE_FITTED(m, "attention");
    if (!m->def->attention || !s->seq_len) return bml__fail(BML_ERR_STATE, "model %s has no attention weights", m->def->name);
    if (s->n == 0) return BML_OK;
    return m->def->attention(m, s, w);
}

size_t bml_model_latent_dim(const bml_model *m) {
    return m && m->fitted && m->def->latent_dim ? m->def->latent_dim(m) : 0;
}

bml_status bml_model_latent(const bml_model *m, const bml_samples *s, double *z) {
    REQUIRE_FITTED(m, "latent");
    if (!m->def->latent || !s->seq_len) return bml__fail(BML_ERR_STATE, "model %s has no latent trajectories", m->def->name);
    if (s->n == 0) return BML_OK;
    return m->def->latent(m, s, z);
}

bml_status bml_model_shap(const bml_model *m, const double *x, size_t n, double *phi) {
    REQUIRE_FITTED(m, "shap");
    if (!m->def->shap) return bml__fail(BML_ERR_STATE, "model %s has no SHAP values", m->def->name);
    if (n == 0) return BML_OK;
    return m->def->shap(m, x, n, phi);
}

bml_status bml_model_importance(const bml_model *m, const char *kind, double *imp) {
    REQUIRE_FITTED(m, "importance");
    if (!m->def->importance) return bml__fail(BML_ERR_STATE, "model %s has no feature importance", m->def->name);
    return m->def->importance(m, kind, imp);
}

char *bml_model_fit_info_json(const bml_model *m) {
    cJSON *j = m->fitted && m->def->fit_info ? m->def->fit_info(m) : cJSON_CreateObject();
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

static cJSON *names_json(char *const *names, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    return a;
}

bml_status bml_model_save(const bml_model *m, const char *dir) {
    REQUIRE_FITTED(m, "save");
    BML__TRY(bml__mkdir_p(dir));
    cJSON *state = NULL;
    BML__TRY(m->def->save(m, dir, &state));
    /* the model's own files (booster, checkpoint) are on disk before model.json, written last, names them */
    bml_status synced = bml__fsync_tree(dir);
    if (synced != BML_OK) {
        cJSON_Delete(state);
        return synced;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "format_version", BML_MODEL_FORMAT_VERSION);
    cJSON_AddStringToObject(root, "model", m->def->name);
    cJSON *params = cJSON_AddObjectToObject(root, "params");
    for (size_t i = 0; i < m->kv_keys.n; i++) cJSON_AddStringToObject(params, m->kv_keys.items[i], m->kv_values.items[i]);
    cJSON_AddItemToObject(root, "feature_names", names_json(m->feature_names, m->n_features));
    cJSON_AddItemToObject(root, "target_names", names_json(m->target_names, m->n_targets));
    cJSON_AddItemToObject(root, "state", state ? state : cJSON_CreateObject());
    char *path = bml__path_join(dir, "model.json");
    bml_status st = path ? bml__json_write_sealed(path, root) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(path);
    cJSON_Delete(root);
    return st;
}

static bml_status names_from_json(const cJSON *a, const char *path, const char *what, bml__strvec *out) {
    if (!cJSON_IsArray(a)) return bml__fail(BML_ERR_PARSE, "%s: '%s' must be an array of strings", path, what);
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsString(e)) return bml__fail(BML_ERR_PARSE, "%s: '%s' must be an array of strings", path, what);
        if (bml__strvec_push(out, e->valuestring)) return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    return BML_OK;
}

bml_status bml_model_load(const char *dir, bml_model **out) {
    *out = NULL;
    char *path = bml__path_join(dir, "model.json");
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    cJSON *root = NULL;
    bml_status st = bml__json_read_sealed(path, &root);
    bml_kv *kv = NULL;
    bml_model *m = NULL;
    bml__strvec fn = {0}, tn = {0};
    if (st != BML_OK) goto done;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "format_version");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (!cJSON_IsNumber(ver) || !cJSON_IsString(name) || !cJSON_IsObject(params)) {
        st = bml__fail(BML_ERR_PARSE, "%s: missing format_version, model or params", path);
        goto done;
    }
    if (ver->valuedouble != BML_MODEL_FORMAT_VERSION) {
        st = bml__fail(BML_ERR_VALUE, "%s: model format version %g, this program reads version %d", path, ver->valuedouble,
                       BML_MODEL_FORMAT_VERSION);
        goto done;
    }
    size_t n_kv = (size_t)cJSON_GetArraySize(params), i = 0;
    kv = bml__calloc(n_kv ? n_kv : 1, sizeof *kv);
    if (!kv) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
        goto done;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        if (!cJSON_IsString(p)) {
            st = bml__fail(BML_ERR_PARSE, "%s: parameter '%s' must be a string", path, p->string);
            goto done;
        }
        kv[i].key = p->string;
        kv[i++].value = p->valuestring;
    }
    if ((st = bml_model_create(name->valuestring, kv, n_kv, &m)) != BML_OK) goto done;
    if ((st = names_from_json(cJSON_GetObjectItemCaseSensitive(root, "feature_names"), path, "feature_names", &fn)) ||
        (st = names_from_json(cJSON_GetObjectItemCaseSensitive(root, "target_names"), path, "target_names", &tn)))
        goto done;
    if ((st = set_names(m, fn.n, fn.items, tn.n, tn.items)) != BML_OK) goto done;
    if ((st = m->def->load(m, dir, cJSON_GetObjectItemCaseSensitive(root, "state"))) != BML_OK) goto done;
    m->fitted = 1;
done:
    if (st != BML_OK) {
        bml_model_free(m);
        m = NULL;
    }
    bml__strvec_free(&fn);
    bml__strvec_free(&tn);
    free(kv);
    cJSON_Delete(root);
    free(path);
    *out = m;
    return st;
}
