/* `mlp` (SPEC 6): Linear(in, 64)-act-Dropout-Linear(64, 32)-act-Dropout-Linear(32, out), act relu or
 * tanh, Xavier-uniform weights, zero biases, hidden_dims configurable; trained with the trainer
 * (AdamW, cosine warm restarts, clipping, early stopping with the best weights restored).
 * Saved as weights.bin: a versioned binary checkpoint (magic, version, model name, parameters as
 * JSON, then a table of named float32 tensors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/model_internal.h"
#include "nn/mlp_net.h"
#include "train/trainer.h"

typedef struct {
    char *hidden_dims, *activation, *scheduler, *loss;
    double dropout, learning_rate, weight_decay, grad_clip, loss_delta, loss_epsilon;
    long epochs, batch_size, patience, scheduler_t0, scheduler_t_mult, seed;
    int scale_targets;
} mlp_params;

#define OFF(f) offsetof(mlp_params, f)
static const bml__param_spec specs[] = {
    {"hidden_dims", BML__P_LIST, OFF(hidden_dims), "[64, 32]", 1, 0, 0, "sizes of the hidden layers"},
    {"activation", BML__P_STRING, OFF(activation), "relu", 1, 0, 0, "relu | tanh"},
    {"dropout", BML__P_DOUBLE, OFF(dropout), "0.1", 0, 0.999, 0, "dropout after each hidden layer"},
    {"epochs", BML__P_INT, OFF(epochs), "200", 1, 1e7, 0, "maximum epochs"},
    {"batch_size", BML__P_INT, OFF(batch_size), "32", 1, 1e7, 0, "mini-batch size"},
    {"learning_rate", BML__P_DOUBLE, OFF(learning_rate), "0.001", 0, 10, 1, "AdamW learning rate"},
    {"weight_decay", BML__P_DOUBLE, OFF(weight_decay), "0.01", 0, 10, 0, "AdamW decoupled weight decay"},
    {"patience", BML__P_INT, OFF(patience), "20", 0, 1e7, 0, "early-stopping patience in epochs (0: off)"},
    {"grad_clip", BML__P_DOUBLE, OFF(grad_clip), "1.0", 0, 1e12, 0, "gradient-norm clipping (0: off)"},
    {"scheduler", BML__P_STRING, OFF(scheduler), "cosine_warm_restarts", 1, 0, 0, "cosine_warm_restarts | constant"},
    {"scheduler_t0", BML__P_INT, OFF(scheduler_t0), "50", 1, 1e9, 0, "first restart period (epochs)"},
    {"scheduler_t_mult", BML__P_INT, OFF(scheduler_t_mult), "2", 1, 1e3, 0, "period growth factor"},
    {"loss", BML__P_STRING, OFF(loss), "mse", 1, 0, 0, "mse | mae | huber | mape"},
    {"loss_delta", BML__P_DOUBLE, OFF(loss_delta), "1.0", 0, 1e12, 1, "huber delta"},
    {"loss_epsilon", BML__P_DOUBLE, OFF(loss_epsilon), "1e-8", 0, 1e12, 1, "mape epsilon"},
    {"seed", BML__P_INT, OFF(seed), "-1", -1, 9.2e18, 0, "initialisation, shuffling and dropout seed (-1: the run's)"},
    {"scale_targets", BML__P_BOOL, OFF(scale_targets), "true", 1, 0, 0,
     "train on targets standardised with training statistics (predictions are returned in target units)"},
};

typedef struct {
    bml__mlp_net *net;
    bml_train_history hist;
    double *y_mean, *y_scale; /* (O) target standardisation (0 and 1 when off) */
} mlp_state;

static void release(bml_model *m) {
    mlp_state *s = m->state;
    if (!s) return;
    bml__mlp_net_free(s->net);
    bml_train_history_release(&s->hist);
    free(s->y_mean);
    free(s->y_scale);
    free(s);
    m->state = NULL;
}

/* parameters -> layer sizes, activation, loss */
static bml_status setup(const bml_model *m, int **dims, int *L, int *tanh_act, bml_loss *loss) {
    const mlp_params *p = m->params;
    double *h = NULL;
    size_t nh = 0;
    if (bml__parse_double_list(p->hidden_dims, &h, &nh) != 0)
        return bml__fail(BML_ERR_VALUE, "model mlp: hidden_dims must be a list of sizes, got '%s'", p->hidden_dims);
    for (size_t i = 0; i < nh; i++)
        if (h[i] < 1 || h[i] != floor(h[i]) || h[i] > 1e6) {
            free(h);
            return bml__fail(BML_ERR_VALUE, "model mlp: hidden_dims must hold positive integers, got '%s'", p->hidden_dims);
        }
    if (strcmp(p->activation, "relu") && strcmp(p->activation, "tanh")) {
        free(h);
        return bml__fail(BML_ERR_VALUE, "model mlp: activation must be relu or tanh, got '%s'", p->activation);
    }
    if (strcmp(p->scheduler, "cosine_warm_restarts") && strcmp(p->scheduler, "constant")) {
        free(h);
        return bml__fail(BML_ERR_VALUE, "model mlp: scheduler must be cosine_warm_restarts or constant, got '%s'",
                         p->scheduler);
    }
    memset(loss, 0, sizeof *loss);
    if (bml_loss_parse(p->loss, &loss->kind) != 0) {
        free(h);
        return bml__fail(BML_ERR_VALUE, "model mlp: unknown loss '%s' (valid: mse, mae, huber, mape)", p->loss);
    }
    loss->delta = (float)p->loss_delta;
    loss->epsilon = (float)p->loss_epsilon;
    *L = (int)nh + 1;
    *dims = bml__calloc(nh + 2, sizeof **dims);
    if (!*dims) {
        free(h);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    (*dims)[0] = (int)m->n_features;
    for (size_t i = 0; i < nh; i++) (*dims)[i + 1] = (int)h[i];
    (*dims)[nh + 1] = (int)m->n_targets;
    *tanh_act = !strcmp(p->activation, "tanh");
    free(h);
    return BML_OK;
}

static bml_status net_forward(void *net, const float *x, int B, int training, float *out) {
    return bml__mlp_net_forward(net, x, B, training, out);
}
static void net_backward(void *net, const float *dout, int B) { bml__mlp_net_backward(net, dout, B, NULL); }

static float *to_float(const double *v, size_t n) {
    float *f = bml__calloc(n ? n : 1, sizeof *f);
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}

static bml_status fit(bml_model *m, const bml_samples *tr, const bml_samples *va, uint64_t seed) {
    const mlp_params *p = m->params;
    int *dims = NULL, L, tanh_act;
    bml_loss loss;
    BML__TRY(setup(m, &dims, &L, &tanh_act, &loss));
    for (size_t i = 0; i < tr->n * tr->n_features; i++)
        if (isnan(tr->x[i])) {
            free(dims);
            return bml__fail(BML_ERR_VALUE, "model mlp: missing feature values must be imputed first");
        }
    uint64_t sd = p->seed >= 0 ? (uint64_t)p->seed : seed;
    mlp_state *s = calloc(1, sizeof *s);
    if (!s) {
        free(dims);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    m->state = s;
    bml_status st = bml__mlp_net_create(dims, L, tanh_act, (float)p->dropout, sd, &s->net);
    free(dims);
    BML__TRY(st);
    size_t O = tr->n_targets, nv = va ? va->n : 0;
    s->y_mean = bml__calloc(O, sizeof *s->y_mean);
    s->y_scale = bml__calloc(O, sizeof *s->y_scale);
    if (!s->y_mean || !s->y_scale) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O; k++) {
        double mu = 0, ss = 0;
        for (size_t i = 0; i < tr->n; i++) mu += tr->y[i * O + k];
        mu /= (double)tr->n;
        for (size_t i = 0; i < tr->n; i++) ss += (tr->y[i * O + k] - mu) * (tr->y[i * O + k] - mu);
        double sdv = sqrt(ss / (double)tr->n);
        s->y_mean[k] = p->scale_targets ? mu : 0.0;
        s->y_scale[k] = p->scale_targets && sdv > 0 ? sdv : 1.0;
    }
    float *x = to_float(tr->x, tr->n * tr->n_features), *y = to_float(tr->y, tr->n * O);
    float *xv = to_float(va ? va->x : NULL, nv * tr->n_features), *yv = to_float(va ? va->y : NULL, nv * O);
    if (!x || !y || !xv || !yv) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < tr->n * O; i++) y[i] = (float)((tr->y[i] - s->y_mean[i % O]) / s->y_scale[i % O]);
    for (size_t i = 0; st == BML_OK && i < nv * O; i++) yv[i] = (float)((va->y[i] - s->y_mean[i % O]) / s->y_scale[i % O]);
    bml_trainable t = {s->net, s->net->params, s->net->grads, s->net->n_params, s->net->sizes,
                       2 * (size_t)L,  tr->n_features, tr->n_targets, net_forward, net_backward};
    bml_train_opts o = {p->epochs, p->batch_size, p->patience, p->learning_rate, p->weight_decay, p->grad_clip,
                        !strcmp(p->scheduler, "cosine_warm_restarts"), p->scheduler_t0, p->scheduler_t_mult, loss, sd,
                        m->on_epoch, m->on_epoch_user};
    if (st == BML_OK) st = bml_train(&t, x, y, tr->n, xv, yv, nv, &o, &s->hist);
    free(x);
    free(y);
    free(xv);
    free(yv);
    return st;
}

static bml_status predict(const bml_model *m, const double *x, size_t n, double *y) {
    mlp_state *s = m->state;
    size_t F = m->n_features, O = m->n_targets, chunk = 256;
    float *xf = bml__calloc(chunk * F, sizeof *xf), *yf = bml__calloc(chunk * O, sizeof *yf);
    bml_status st = xf && yf ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < n; i += chunk) {
        size_t B = n - i < chunk ? n - i : chunk;
        for (size_t k = 0; k < B * F; k++) xf[k] = (float)x[i * F + k];
        st = bml__mlp_net_forward(s->net, xf, (int)B, 0, yf);
        for (size_t k = 0; st == BML_OK && k < B * O; k++) y[i * O + k] = yf[k] * s->y_scale[k % O] + s->y_mean[k % O];
    }
    free(xf);
    free(yf);
    return st;
}

static cJSON *fit_info(const bml_model *m) {
    const mlp_state *s = m->state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "params", (double)s->net->n_params);
    cJSON_AddNumberToObject(o, "epochs_run", (double)s->hist.n_epochs);
    cJSON_AddNumberToObject(o, "best_epoch", (double)s->hist.best_epoch);
    if (s->hist.best_epoch >= 0) cJSON_AddNumberToObject(o, "best_val_loss", s->hist.val_loss[s->hist.best_epoch]);
    return o;
}

static char *history_csv(const bml_model *m) {
    const mlp_state *s = m->state;
    if (!s || !s->hist.n_epochs) return NULL;
    size_t cap = 64 + s->hist.n_epochs * 96;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t off = (size_t)snprintf(out, cap, "epoch,train_loss,val_loss,lr\n");
    for (size_t e = 0; e < s->hist.n_epochs; e++) {
        char v[40] = "";
        if (!isnan(s->hist.val_loss[e])) snprintf(v, sizeof v, "%.9g", s->hist.val_loss[e]);
        off += (size_t)snprintf(out + off, cap - off, "%zu,%.9g,%s,%.9g\n", e + 1, s->hist.train_loss[e], v, s->hist.lr[e]);
    }
    return out;
}

/* ---- checkpoint: "BMLCKPT\0", u32 version, u32 name length + name, u32 params-JSON length + JSON,
 *      u32 tensor count, then per tensor: u32 name length + name, u32 ndim, u32 dims[ndim], float32 data */
#define CKPT_MAGIC "BMLCKPT"
#define CKPT_VERSION 1u

static int put_u32(FILE *f, uint32_t v) { return fwrite(&v, sizeof v, 1, f) == 1 ? 0 : -1; }
static int put_str(FILE *f, const char *s) {
    uint32_t l = (uint32_t)strlen(s);
    return put_u32(f, l) || fwrite(s, 1, l, f) != l ? -1 : 0;
}

static bml_status save(const bml_model *m, const char *dir, cJSON **state) {
    const mlp_state *s = m->state;
    char *path = bml__path_join(dir, "weights.bin");
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "wb");
    if (!f) {
        bml_status e = bml__fail(BML_ERR_IO, "%s: cannot write", path);
        free(path);
        return e;
    }
    cJSON *pj = cJSON_CreateObject();
    for (size_t i = 0; i < m->kv_keys.n; i++) cJSON_AddStringToObject(pj, m->kv_keys.items[i], m->kv_values.items[i]);
    char *ptxt = cJSON_PrintUnformatted(pj);
    cJSON_Delete(pj);
    int bad = !ptxt || fwrite(CKPT_MAGIC, 1, 8, f) != 8 || put_u32(f, CKPT_VERSION) || put_str(f, "mlp") || put_str(f, ptxt);
    free(ptxt);
    int L = s->net->n_layers;
    bad |= put_u32(f, (uint32_t)(2 * L));
    for (int l = 0; l < L && !bad; l++) {
        char name[32];
        snprintf(name, sizeof name, "layers.%d.weight", l);
        bad |= put_str(f, name) || put_u32(f, 2) || put_u32(f, (uint32_t)s->net->dims[l + 1]) ||
               put_u32(f, (uint32_t)s->net->dims[l]) ||
               fwrite(s->net->w[l], sizeof(float), s->net->sizes[2 * l], f) != s->net->sizes[2 * l];
        snprintf(name, sizeof name, "layers.%d.bias", l);
        bad |= put_str(f, name) || put_u32(f, 1) || put_u32(f, (uint32_t)s->net->dims[l + 1]) ||
               fwrite(s->net->b[l], sizeof(float), s->net->sizes[2 * l + 1], f) != s->net->sizes[2 * l + 1];
    }
    bad |= fclose(f) != 0;
    bml_status st = bad ? bml__fail(BML_ERR_IO, "%s: write failed", path) : BML_OK;
    free(path);
    if (st == BML_OK) {
        *state = cJSON_CreateObject();
        cJSON_AddStringToObject(*state, "weights", "weights.bin");
        cJSON_AddNumberToObject(*state, "epochs_run", (double)s->hist.n_epochs);
        cJSON_AddNumberToObject(*state, "best_epoch", (double)s->hist.best_epoch);
        cJSON *ym = cJSON_AddArrayToObject(*state, "target_mean"), *ys = cJSON_AddArrayToObject(*state, "target_scale");
        for (size_t k = 0; k < m->n_targets; k++) {
            cJSON_AddItemToArray(ym, cJSON_CreateNumber(s->y_mean[k]));
            cJSON_AddItemToArray(ys, cJSON_CreateNumber(s->y_scale[k]));
        }
    }
    return st;
}

static int get_u32(FILE *f, uint32_t *v) { return fread(v, sizeof *v, 1, f) == 1 ? 0 : -1; }

static bml_status load(bml_model *m, const char *dir, const cJSON *stj) {
    int *dims = NULL, L, tanh_act;
    bml_loss loss;
    BML__TRY(setup(m, &dims, &L, &tanh_act, &loss));
    mlp_state *s = calloc(1, sizeof *s);
    if (!s) {
        free(dims);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    m->state = s;
    s->hist.best_epoch = -1;
    bml_status st = bml__mlp_net_create(dims, L, tanh_act, 0.0f, 0, &s->net);
    free(dims);
    BML__TRY(st);
    size_t O = m->n_targets;
    const cJSON *ym = cJSON_GetObjectItemCaseSensitive(stj, "target_mean");
    const cJSON *ys = cJSON_GetObjectItemCaseSensitive(stj, "target_scale");
    s->y_mean = bml__calloc(O, sizeof *s->y_mean);
    s->y_scale = bml__calloc(O, sizeof *s->y_scale);
    if (!s->y_mean || !s->y_scale) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!cJSON_IsArray(ym) || !cJSON_IsArray(ys) || (size_t)cJSON_GetArraySize(ym) != O ||
        (size_t)cJSON_GetArraySize(ys) != O)
        return bml__fail(BML_ERR_PARSE, "%s/model.json: state.target_mean and target_scale must have %zu numbers", dir, O);
    for (size_t k = 0; k < O; k++) {
        s->y_mean[k] = cJSON_GetArrayItem(ym, (int)k)->valuedouble;
        s->y_scale[k] = cJSON_GetArrayItem(ys, (int)k)->valuedouble;
    }
    char *path = bml__path_join(dir, "weights.bin");
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        st = bml__fail(BML_ERR_IO, "%s: cannot open the checkpoint", path ? path : dir);
        free(path);
        return st;
    }
    char magic[8];
    uint32_t ver, len, nt;
    char buf[4096];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CKPT_MAGIC, 8) != 0) {
        st = bml__fail(BML_ERR_PARSE, "%s: not a BatteryML checkpoint (bad magic)", path);
    } else if (get_u32(f, &ver) || ver != CKPT_VERSION) {
        st = bml__fail(BML_ERR_VALUE, "%s: checkpoint version %u, this program reads %u", path, ver, CKPT_VERSION);
    } else if (get_u32(f, &len) || len >= sizeof buf || fread(buf, 1, len, f) != len || (buf[len] = 0, strcmp(buf, "mlp"))) {
        st = bml__fail(BML_ERR_PARSE, "%s: checkpoint of another model", path);
    } else if (get_u32(f, &len) || fseek(f, (long)len, SEEK_CUR) != 0 || get_u32(f, &nt) || nt != (uint32_t)(2 * L)) {
        st = bml__fail(BML_ERR_PARSE, "%s: expected %d tensors", path, 2 * L);
    }
    for (uint32_t t = 0; st == BML_OK && t < nt; t++) {
        uint32_t nd, d[4], count = 1;
        int l = (int)t / 2, is_w = t % 2 == 0;
        if (get_u32(f, &len) || len >= sizeof buf || fread(buf, 1, len, f) != len || get_u32(f, &nd) || nd < 1 || nd > 2) {
            st = bml__fail(BML_ERR_PARSE, "%s: damaged tensor table", path);
            break;
        }
        for (uint32_t k = 0; k < nd && st == BML_OK; k++) {
            if (get_u32(f, &d[k])) st = bml__fail(BML_ERR_PARSE, "%s: damaged tensor table", path);
            count *= d[k];
        }
        size_t want = s->net->sizes[t];
        if (st == BML_OK && count != want)
            st = bml__fail(BML_ERR_VALUE, "%s: tensor %u has %u values, the model expects %zu", path, t, count, want);
        if (st == BML_OK && fread(is_w ? s->net->w[l] : s->net->b[l], sizeof(float), want, f) != want)
            st = bml__fail(BML_ERR_PARSE, "%s: truncated checkpoint", path);
    }
    fclose(f);
    free(path);
    return st;
}

const bml__model_def bml__model_mlp = {
    .name = "mlp",
    .description = "multi-layer perceptron (Linear-act-Dropout blocks), AdamW + cosine warm restarts, early stopping",
    .specs = specs,
    .n_specs = sizeof specs / sizeof *specs,
    .params_size = sizeof(mlp_params),
    .handles_missing = 0,
    .wants_scaled = 1,
    .takes_training = 1,
    .fit = fit,
    .predict = predict,
    .shap = NULL,
    .importance = NULL,
    .fit_info = fit_info,
    .history_csv = history_csv,
    .save = save,
    .load = load,
    .release = release,
};
