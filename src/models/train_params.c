/* Shared pieces of the neural models: training options, target standardisation (see train_params.h). */
#include "models/train_params.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bml_status bml__train_opts_init(const char *what, const bml__train_params *p, uint64_t run_seed, bml_train_opts *o) {
    memset(o, 0, sizeof *o);
    if (strcmp(p->scheduler, "cosine_warm_restarts") && strcmp(p->scheduler, "constant"))
        return bml__fail(BML_ERR_VALUE, "model %s: scheduler must be cosine_warm_restarts or constant, got '%s'", what,
                         p->scheduler);
    if (bml__loss_parse(p->loss, &o->loss.kind) != 0) { /* the valid names: the table of losses below */
        char *names = bml__registry_names(bml__loss_registry_count(), bml__loss_registry_name);
        bml_status st = bml__fail(BML_ERR_VALUE, "model %s: unknown loss '%s' (valid: %s)", what, p->loss, names ? names : "?");
        free(names);
        return st;
    }
    o->loss.delta = (float)p->loss_delta;
    o->loss.monotonicity = (float)p->loss_monotonicity_weight;
    o->loss.smoothness = (float)p->loss_smoothness_weight;
    o->loss.epsilon = (float)p->loss_epsilon;
    o->epochs = p->epochs;
    o->batch_size = p->batch_size;
    o->patience = p->patience;
    o->learning_rate = p->learning_rate;
    o->weight_decay = p->weight_decay;
    o->grad_clip = p->grad_clip;
    o->cosine = !strcmp(p->scheduler, "cosine_warm_restarts");
    o->t0 = p->scheduler_t0;
    o->t_mult = p->scheduler_t_mult;
    o->seed = p->seed >= 0 ? (uint64_t)p->seed : run_seed;
    o->lr_find_steps = p->lr_find_steps;
    o->lr_find_min = p->lr_find_min_lr;
    o->lr_find_max = p->lr_find_max_lr;
    o->threads = (int)p->threads;
    return BML_OK;
}

bml_status bml__target_scaler_fit(const double *y, const double *w, size_t n, size_t O, int enabled, double **mean,
                                  double **scale) {
    *mean = bml__calloc(O, sizeof **mean);
    *scale = bml__calloc(O, sizeof **scale);
    if (!*mean || !*scale) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O; k++) {
        double mu = 0, ss = 0, cnt = 0;
        for (size_t i = 0; i < n; i++)
            if (!w || w[i] != 0) mu += y[i * O + k], cnt++;
        mu = cnt ? mu / cnt : 0;
        for (size_t i = 0; i < n; i++)
            if (!w || w[i] != 0) ss += (y[i * O + k] - mu) * (y[i * O + k] - mu);
        double sd = cnt ? sqrt(ss / cnt) : 0;
        (*mean)[k] = enabled ? mu : 0.0;
        (*scale)[k] = enabled && sd > 0 ? sd : 1.0;
    }
    return BML_OK;
}

void bml__target_scaler_save(cJSON *state, const double *mean, const double *scale, size_t O) {
    cJSON *ym = cJSON_AddArrayToObject(state, "target_mean"), *ys = cJSON_AddArrayToObject(state, "target_scale");
    for (size_t k = 0; k < O; k++) {
        cJSON_AddItemToArray(ym, bml__json_exact_number(mean[k]));
        cJSON_AddItemToArray(ys, bml__json_exact_number(scale[k]));
    }
}

bml_status bml__target_scaler_load(const cJSON *state, size_t O, const char *where, double **mean, double **scale) {
    const cJSON *ym = cJSON_GetObjectItemCaseSensitive(state, "target_mean");
    const cJSON *ys = cJSON_GetObjectItemCaseSensitive(state, "target_scale");
    if (!cJSON_IsArray(ym) || !cJSON_IsArray(ys) || (size_t)cJSON_GetArraySize(ym) != O || (size_t)cJSON_GetArraySize(ys) != O)
        return bml__fail(BML_ERR_PARSE, "%s/model.json: state.target_mean and target_scale must have %zu numbers", where, O);
    *mean = bml__calloc(O, sizeof **mean);
    *scale = bml__calloc(O, sizeof **scale);
    if (!*mean || !*scale) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O; k++) {
        const cJSON *a = cJSON_GetArrayItem(ym, (int)k), *b = cJSON_GetArrayItem(ys, (int)k);
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !isfinite(a->valuedouble) || !isfinite(b->valuedouble) ||
            !(b->valuedouble > 0))
            return bml__fail(BML_ERR_PARSE, "%s/model.json: state.target_mean[%zu] and target_scale[%zu] must be finite numbers, the scale > 0",
                             where, k, k);
        (*mean)[k] = a->valuedouble;
        (*scale)[k] = b->valuedouble;
    }
    return BML_OK;
}

char *bml__history_csv(const bml_train_history *h) {
    if (!h->n_epochs) return NULL;
    size_t cap = 64 + h->n_epochs * 96;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t off = (size_t)snprintf(out, cap, "epoch,train_loss,val_loss,lr\n");
    for (size_t e = 0; e < h->n_epochs; e++) {
        char v[40] = "";
        if (!isnan(h->val_loss[e])) snprintf(v, sizeof v, "%.9g", h->val_loss[e]);
        off += (size_t)snprintf(out + off, cap - off, "%zu,%.9g,%s,%.9g\n", e + 1, h->train_loss[e], v, h->lr[e]);
    }
    return out;
}

char *bml__params_json(const bml__strvec *keys, const bml__strvec *values) {
    cJSON *pj = cJSON_CreateObject();
    for (size_t i = 0; i < keys->n; i++)
        if (strcmp(keys->items[i], "threads")) /* how fast, not what: a checkpoint is the same at any count */
            cJSON_AddStringToObject(pj, keys->items[i], values->items[i]);
    char *txt = cJSON_PrintUnformatted(pj);
    cJSON_Delete(pj);
    return txt;
}

cJSON *bml__train_fit_info(size_t n_params, const bml_train_history *h) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "params", (double)n_params);
    cJSON_AddNumberToObject(o, "epochs_run", (double)h->n_epochs);
    cJSON_AddNumberToObject(o, "best_epoch", (double)h->best_epoch + 1);
    if (h->best_epoch >= 0) cJSON_AddNumberToObject(o, "best_val_loss", h->val_loss[h->best_epoch]);
    return o;
}

/* ------------------------------------------------------------------ the losses (the config's loss group) */
/* Each loss with the loss_* training parameters it reads, which the loss group sets without the prefix
 * (loss.delta -> loss_delta); parameter types and defaults from the training specs. */
typedef struct {
    bml__train_params train;
} loss_holder;
static const bml__param_spec train_specs[] = {BML__TRAIN_SPECS(loss_holder)};
static const struct {
    const char *name, *help;
    const char *keys[2];
} losses[] = {
    {"mse", "mean squared error", {NULL, NULL}},
    {"mae", "mean absolute error", {NULL, NULL}},
    {"huber", "Huber loss: squared within delta of the target, linear beyond", {"loss_delta", NULL}},
    {"mape", "mean absolute percentage error, |y| floored at epsilon", {"loss_epsilon", NULL}},
    {"physics_informed", "MSE plus penalties on a rising and on a curving predicted trajectory (sequence models)",
     {"loss_monotonicity_weight", "loss_smoothness_weight"}},
};
#define N_LOSSES (sizeof losses / sizeof *losses)
static bml_param_info loss_info[N_LOSSES][2];
static size_t loss_n_info[N_LOSSES];
static pthread_once_t loss_once = PTHREAD_ONCE_INIT;

static void loss_info_build(void) {
    for (size_t i = 0; i < N_LOSSES; i++)
        for (size_t k = 0; k < 2 && losses[i].keys[k]; k++)
            for (size_t j = 0; j < sizeof train_specs / sizeof *train_specs; j++)
                if (!strcmp(train_specs[j].key, losses[i].keys[k])) {
                    bml__params_info(&train_specs[j], 1, &loss_info[i][loss_n_info[i]]);
                    loss_info[i][loss_n_info[i]++].key = losses[i].keys[k] + 5; /* without loss_ */
                }
}

size_t bml__loss_registry_count(void) { return N_LOSSES; }
const char *bml__loss_registry_name(size_t i) { return i < N_LOSSES ? losses[i].name : NULL; }
const char *bml__loss_registry_describe(size_t i) { return i < N_LOSSES ? losses[i].help : NULL; }
size_t bml__loss_registry_params(size_t i, const bml_param_info **params) {
    if (i >= N_LOSSES) return 0;
    pthread_once(&loss_once, loss_info_build);
    *params = loss_info[i];
    return loss_n_info[i];
}
