/* `lstm_attn` and `cnn_lstm` (SPEC 6) on sequence samples (pipeline latent_ode_seq): the network of
 * nn/seq_net.h, trained with the trainer on masked per-step losses; explain returns the head-averaged
 * attention weights per sample. Saved as weights.bin (models/checkpoint.h) with the BatchNorm running
 * statistics as a tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/checkpoint.h"
#include "models/model_internal.h"
#include "models/train_params.h"
#include "nn/seq_net.h"

typedef struct {
    long hidden_dim, num_heads;
    double dropout;
    bml__train_params train;
} seq_params;

static const bml__param_spec specs[] = {
    {"hidden_dim", BML__P_INT, offsetof(seq_params, hidden_dim), "64", 1, 4096, 0, "LSTM hidden size (attention width 2x)"},
    {"num_heads", BML__P_INT, offsetof(seq_params, num_heads), "4", 1, 64, 0, "attention heads (must divide 2 x hidden_dim)"},
    {"dropout", BML__P_DOUBLE, offsetof(seq_params, dropout), "0.1", 0, 0.999, 0,
     "dropout between the LSTM layers, on the attention weights and in the head"},
    BML__TRAIN_SPECS(seq_params),
};

typedef struct {
    bml__seq_net *net;
    bml_train_history hist;
    double *y_mean, *y_scale;
} seq_state;

static int is_cnn(const bml_model *m) { return !strcmp(m->def->name, "cnn_lstm"); }

static void release(bml_model *m) {
    seq_state *s = m->state;
    if (!s) return;
    bml__seq_net_free(s->net);
    bml__train_history_release(&s->hist);
    free(s->y_mean);
    free(s->y_scale);
    free(s);
    m->state = NULL;
}

static bml_status create_net(bml_model *m, uint64_t seed, seq_state **out) {
    const seq_params *p = m->params;
    seq_state *s = calloc(1, sizeof *s);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->state = s;
    s->hist.best_epoch = -1;
    *out = s;
    bml_status st = bml__seq_net_create(is_cnn(m), (int)m->n_features, (int)m->n_targets, (int)p->hidden_dim,
                                        (int)p->num_heads, (float)p->dropout, seed, &s->net);
    if (st != BML_OK) bml__fail_prefix(st, "model %s", m->def->name);
    return st;
}

typedef struct {
    bml__seq_net *net;
    int T;
} fwd_ctx;

static bml_status net_forward(void *vc, const float *x, const float *mask, int B, int training, float *out) {
    fwd_ctx *c = vc;
    return bml__seq_net_forward(c->net, x, mask, B, c->T, training, out);
}
static bml_status net_backward(void *vc, const float *dout, int B) {
    (void)B;
    bml__seq_net_backward(((fwd_ctx *)vc)->net, dout);
    return BML_OK;
}

/* sequence samples -> float x (n, T, F), standardised y (n, T, O), mask (n, T) */
static bml_status to_float(const bml_samples *s, const double *ym, const double *ys, float **x, float **y, float **mask) {
    size_t T = s->seq_len, F = s->n_features, O = s->n_targets, n = s->n;
    *x = bml__calloc(n * T * F + 1, sizeof **x);
    *y = bml__calloc(n * T * O + 1, sizeof **y);
    *mask = bml__calloc(n * T + 1, sizeof **mask);
    if (!*x || !*y || !*mask) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n * T * F; i++) (*x)[i] = (float)s->x[i];
    for (size_t i = 0; i < n * T * O; i++) (*y)[i] = s->mask[i / O] != 0 ? (float)((s->y[i] - ym[i % O]) / ys[i % O]) : 0.0f;
    for (size_t i = 0; i < n * T; i++) (*mask)[i] = (float)s->mask[i];
    return BML_OK;
}

static bml_status fit(bml_model *m, const bml_samples *tr, const bml_samples *va, uint64_t seed) {
    const seq_params *p = m->params;
    bml_train_opts o;
    BML__TRY(bml__train_opts_init(m->def->name, &p->train, seed, &o));
    o.on_epoch = m->on_epoch;
    o.on_epoch_user = m->on_epoch_user;
    o.cancel = m->cancel;
    if (va && va->seq_len != tr->seq_len)
        return bml__fail(BML_ERR_VALUE, "model %s: training and validation sequences differ in length (%zu, %zu)",
                         m->def->name, tr->seq_len, va->seq_len);
    size_t T = tr->seq_len, F = tr->n_features, O = tr->n_targets, nv = va ? va->n : 0;
    for (size_t i = 0; i < tr->n * T * F; i++)
        if (isnan(tr->x[i])) return bml__fail(BML_ERR_VALUE, "model %s: missing feature values must be imputed first", m->def->name);
    seq_state *s = NULL;
    BML__TRY(create_net(m, o.seed, &s));
    BML__TRY(bml__target_scaler_fit(tr->y, tr->mask, tr->n * T, O, p->train.scale_targets, &s->y_mean, &s->y_scale));
    float *x = NULL, *y = NULL, *mask = NULL, *xv = NULL, *yv = NULL, *mv = NULL;
    bml_status st = to_float(tr, s->y_mean, s->y_scale, &x, &y, &mask);
    if (st == BML_OK && va) st = to_float(va, s->y_mean, s->y_scale, &xv, &yv, &mv);
    fwd_ctx ctx = {s->net, (int)T};
    o.loss.T = (int)T, o.loss.O = (int)O;
    bml_trainable t = {&ctx, s->net->params, s->net->grads, s->net->n_params, s->net->sizes, s->net->n_tensors,
                       T * F, T * O, T, net_forward, net_backward};
    if (st == BML_OK) st = bml__train(&t, x, y, mask, tr->n, xv, yv, mv, nv, &o, &s->hist);
    free(x), free(y), free(mask), free(xv), free(yv), free(mv);
    return st;
}

/* forward in evaluation mode over chunks; y (n, T, O) in target units (0 at padded steps); w (n, T, T)
 * head-averaged attention when not NULL */
static bml_status run(const bml_model *m, const bml_samples *smp, double *y, double *w) {
    seq_state *s = m->state;
    size_t T = smp->seq_len, F = smp->n_features, O = smp->n_targets, chunk = 64;
    float *xf = bml__calloc(chunk * T * F, sizeof *xf), *mf = bml__calloc(chunk * T, sizeof *mf);
    float *yf = bml__calloc(chunk * T * O, sizeof *yf), *wf = bml__calloc(chunk * T * T, sizeof *wf);
    bml_status st = xf && mf && yf && wf ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < smp->n; i += chunk) {
        size_t B = smp->n - i < chunk ? smp->n - i : chunk;
        for (size_t k = 0; k < B * T * F; k++) xf[k] = (float)smp->x[i * T * F + k];
        for (size_t k = 0; k < B * T; k++) mf[k] = (float)smp->mask[i * T + k];
        st = bml__seq_net_forward(s->net, xf, mf, (int)B, (int)T, 0, yf);
        if (st != BML_OK) break;
        for (size_t k = 0; y && k < B * T * O; k++)
            y[i * T * O + k] = mf[k / O] != 0 ? yf[k] * s->y_scale[k % O] + s->y_mean[k % O] : 0.0;
        if (w) {
            bml__seq_net_attention(s->net, wf);
            for (size_t k = 0; k < B * T * T; k++) w[i * T * T + k] = wf[k];
        }
    }
    free(xf), free(mf), free(yf), free(wf);
    return st;
}

static bml_status predict_seq(const bml_model *m, const bml_samples *smp, double *y) { return run(m, smp, y, NULL); }
static bml_status attention(const bml_model *m, const bml_samples *smp, double *w) { return run(m, smp, NULL, w); }

static bml_status predict_static(const bml_model *m, const double *x, size_t n, double *y) {
    (void)x, (void)n, (void)y;
    return bml__fail(BML_ERR_VALUE, "model %s predicts sequences: use pipeline=latent_ode_seq", m->def->name);
}

static cJSON *fit_info(const bml_model *m) {
    const seq_state *s = m->state;
    return bml__train_fit_info(s->net->n_params, &s->hist);
}

static char *history_csv(const bml_model *m) {
    const seq_state *s = m->state;
    return s ? bml__history_csv(&s->hist) : NULL;
}

/* the network's tensors plus the BatchNorm running statistics */
static bml__ckpt_tensor *tensors(const bml__seq_net *n, size_t *count) {
    bml__ckpt_tensor *t = bml__calloc(n->n_tensors + 1, sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < n->n_tensors; i++) t[i] = (bml__ckpt_tensor){n->names[i], n->p[i], n->sizes[i]};
    *count = n->n_tensors;
    if (n->cnn) t[(*count)++] = (bml__ckpt_tensor){"cnn.batchnorm_running_stats", n->bn_run, 2 * (size_t)(n->c1 + n->c2)};
    return t;
}

static bml_status save(const bml_model *m, const char *dir, cJSON **state) {
    const seq_state *s = m->state;
    size_t nt = 0;
    bml__ckpt_tensor *t = tensors(s->net, &nt);
    char *path = bml__path_join(dir, "weights.bin"), *pj = bml__params_json(&m->kv_keys, &m->kv_values);
    bml_status st = t && path && pj ? bml__ckpt_write(path, m->def->name, pj, t, nt) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t), free(path), free(pj);
    BML__TRY(st);
    *state = cJSON_CreateObject();
    cJSON_AddStringToObject(*state, "weights", "weights.bin");
    cJSON_AddNumberToObject(*state, "epochs_run", (double)s->hist.n_epochs);
    bml__target_scaler_save(*state, s->y_mean, s->y_scale, m->n_targets);
    return BML_OK;
}

static bml_status load(bml_model *m, const char *dir, const cJSON *stj) {
    seq_state *s = NULL;
    BML__TRY(create_net(m, 0, &s));
    BML__TRY(bml__target_scaler_load(stj, m->n_targets, dir, &s->y_mean, &s->y_scale));
    size_t nt = 0;
    bml__ckpt_tensor *t = tensors(s->net, &nt);
    char *path = bml__path_join(dir, "weights.bin");
    bml_status st = t && path ? bml__ckpt_read(path, m->def->name, t, nt) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t), free(path);
    return st;
}

static bml_status check_weights(const bml_model *m, const char *what) {
    const seq_state *s = m->state;
    size_t nt = 0;
    bml__ckpt_tensor *t = tensors(s->net, &nt);
    bml_status st = t ? bml__ckpt_check_finite(what, t, nt) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t);
    return st;
}

#define SEQ_DEF(NAME, DESC)                                                                                        \
    {.name = NAME, .description = DESC, .specs = specs, .n_specs = sizeof specs / sizeof *specs,                  \
     .params_size = sizeof(seq_params), .handles_missing = 0, .wants_scaled = 1, .takes_training = 1, .fit = fit, \
     .predict = predict_static, .predict_seq = predict_seq, .attention = attention, .fit_info = fit_info,          \
     .history_csv = history_csv, .save = save, .load = load, .release = release,            \
     .check_weights = check_weights}

const bml__model_def bml__model_lstm_attn =
    SEQ_DEF("lstm_attn", "2-layer bidirectional LSTM -> multi-head self-attention -> LayerNorm -> per-step head (sequences)");
const bml__model_def bml__model_cnn_lstm =
    SEQ_DEF("cnn_lstm", "per-step Conv1d-BatchNorm feature encoder -> BiLSTM -> attention -> per-step head (sequences)");
