/* `mlp` (SPEC 6): Linear(in, 64)-act-Dropout-Linear(64, 32)-act-Dropout-Linear(32, out), act relu or
 * tanh, Xavier-uniform weights, zero biases, hidden_dims configurable; trained with the trainer
 * (AdamW, cosine warm restarts, clipping, early stopping with the best weights restored).
 * Saved as weights.bin, a versioned binary checkpoint (models/checkpoint.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/checkpoint.h"
#include "models/model_internal.h"
#include "models/train_params.h"
#include "nn/mlp_net.h"

typedef struct {
    char *hidden_dims, *activation;
    double dropout;
    bml__train_params train;
} mlp_params;

static const bml__param_spec specs[] = {
    {"hidden_dims", BML__P_LIST, offsetof(mlp_params, hidden_dims), "[64, 32]", 1, 0, 0, "sizes of the hidden layers"},
    {"activation", BML__P_STRING, offsetof(mlp_params, activation), "relu", 1, 0, 0, "relu | tanh"},
    {"dropout", BML__P_DOUBLE, offsetof(mlp_params, dropout), "0.1", 0, 0.999, 0, "dropout after each hidden layer"},
    BML__TRAIN_SPECS(mlp_params),
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
    bml__train_history_release(&s->hist);
    free(s->y_mean);
    free(s->y_scale);
    free(s);
    m->state = NULL;
}

/* parameters -> layer sizes (dims[0] = features, dims[L] = targets) and activation */
static bml_status layer_dims(const bml_model *m, int **dims, int *L, int *tanh_act) {
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

static bml_status net_forward(void *net, const float *x, const float *mask, int B, int training, float *out) {
    (void)mask;
    return bml__mlp_net_forward(net, x, B, training, out);
}
static bml_status net_backward(void *net, const float *dout, int B) {
    bml__mlp_net_backward(net, dout, B, NULL);
    return BML_OK;
}

/* doubles -> floats; y is standardised with (mean, scale) when given */
static float *to_float(const double *v, size_t n, const double *mean, const double *scale, size_t O) {
    float *f = bml__calloc(n ? n : 1, sizeof *f);
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = (float)(mean ? (v[i] - mean[i % O]) / scale[i % O] : v[i]);
    return f;
}

/* the model's state and network (layer sizes from the parameters), owned by m->state */
static bml_status create_net(bml_model *m, float dropout, uint64_t seed, mlp_state **out) {
    int *dims = NULL, L = 0, tanh_act = 0;
    BML__TRY(layer_dims(m, &dims, &L, &tanh_act));
    mlp_state *s = calloc(1, sizeof *s);
    if (!s) {
        free(dims);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    m->state = s;
    s->hist.best_epoch = -1;
    *out = s;
    bml_status st = bml__mlp_net_create(dims, L, tanh_act, dropout, seed, &s->net);
    free(dims);
    return st;
}

static bml_status fit(bml_model *m, const bml_samples *tr, const bml_samples *va, uint64_t seed) {
    const mlp_params *p = m->params;
    bml_train_opts o;
    BML__TRY(bml__train_opts_init("mlp", &p->train, seed, &o));
    o.on_epoch = m->on_epoch;
    o.on_epoch_user = m->on_epoch_user;
    o.cancel = m->cancel;
    for (size_t i = 0; i < tr->n * tr->n_features; i++)
        if (isnan(tr->x[i])) return bml__fail(BML_ERR_VALUE, "model mlp: missing feature values must be imputed first");
    mlp_state *s = NULL;
    BML__TRY(create_net(m, (float)p->dropout, o.seed, &s));
    bml_status st = BML_OK;
    int L = s->net->n_layers;
    size_t F = tr->n_features, O = tr->n_targets, nv = va ? va->n : 0;
    BML__TRY(bml__target_scaler_fit(tr->y, NULL, tr->n, O, p->train.scale_targets, &s->y_mean, &s->y_scale));
    float *x = to_float(tr->x, tr->n * F, NULL, NULL, 1), *y = to_float(tr->y, tr->n * O, s->y_mean, s->y_scale, O);
    float *xv = to_float(va ? va->x : NULL, nv * F, NULL, NULL, 1);
    float *yv = to_float(va ? va->y : NULL, nv * O, s->y_mean, s->y_scale, O);
    if (!x || !y || !xv || !yv) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_trainable t = {s->net, s->net->params, s->net->grads, s->net->n_params, s->net->sizes,
                       2 * (size_t)L,  F, O, 0, net_forward, net_backward};
    if (st == BML_OK) st = bml__train(&t, x, y, NULL, tr->n, xv, yv, NULL, nv, &o, &s->hist);
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
    return bml__train_fit_info(s->net->n_params, &s->hist);
}

static char *history_csv(const bml_model *m) {
    const mlp_state *s = m->state;
    return s ? bml__history_csv(&s->hist) : NULL;
}

/* tensor table of the network: layers.<l>.weight, layers.<l>.bias */
static bml__ckpt_tensor *tensors(const mlp_state *s, char (*names)[32]) {
    int L = s->net->n_layers;
    bml__ckpt_tensor *t = bml__calloc(2 * (size_t)L, sizeof *t);
    for (int l = 0; t && l < L; l++) {
        snprintf(names[2 * l], 32, "layers.%d.weight", l);
        snprintf(names[2 * l + 1], 32, "layers.%d.bias", l);
        t[2 * l] = (bml__ckpt_tensor){names[2 * l], s->net->w[l], s->net->sizes[2 * l]};
        t[2 * l + 1] = (bml__ckpt_tensor){names[2 * l + 1], s->net->b[l], s->net->sizes[2 * l + 1]};
    }
    return t;
}

static bml_status save(const bml_model *m, const char *dir, cJSON **state) {
    const mlp_state *s = m->state;
    char (*names)[32] = calloc(2 * (size_t)s->net->n_layers, sizeof *names);
    bml__ckpt_tensor *t = names ? tensors(s, names) : NULL;
    char *path = bml__path_join(dir, "weights.bin"), *pj = bml__params_json(&m->kv_keys, &m->kv_values);
    bml_status st = t && path && pj ? bml__ckpt_write(path, "mlp", pj, t, 2 * (size_t)s->net->n_layers)
                                    : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(names);
    free(t);
    free(path);
    free(pj);
    BML__TRY(st);
    *state = cJSON_CreateObject();
    cJSON_AddStringToObject(*state, "weights", "weights.bin");
    cJSON_AddNumberToObject(*state, "epochs_run", (double)s->hist.n_epochs);
    bml__target_scaler_save(*state, s->y_mean, s->y_scale, m->n_targets);
    return BML_OK;
}

static bml_status load(bml_model *m, const char *dir, const cJSON *stj) {
    mlp_state *s = NULL;
    BML__TRY(create_net(m, 0.0f, 0, &s));
    int L = s->net->n_layers;
    bml_status st;
    BML__TRY(bml__target_scaler_load(stj, m->n_targets, dir, &s->y_mean, &s->y_scale));
    char (*names)[32] = calloc(2 * (size_t)L, sizeof *names);
    bml__ckpt_tensor *t = names ? tensors(s, names) : NULL;
    char *path = bml__path_join(dir, "weights.bin");
    st = t && path ? bml__ckpt_read(path, "mlp", t, 2 * (size_t)L) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(names);
    free(t);
    free(path);
    return st;
}

static bml_status check_weights(const bml_model *m, const char *what) {
    const mlp_state *s = m->state;
    char (*names)[32] = calloc(2 * (size_t)s->net->n_layers, sizeof *names);
    bml__ckpt_tensor *t = names ? tensors(s, names) : NULL;
    bml_status st = t ? bml__ckpt_check_finite(what, t, 2 * (size_t)s->net->n_layers) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(names);
    free(t);
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
    .fit_info = fit_info,
    .history_csv = history_csv,
    .save = save,
    .load = load,
    .release = release,
    .check_weights = check_weights,
};
