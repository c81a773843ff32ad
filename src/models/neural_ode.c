/* `neural_ode` and `acla` (SPEC 6) on sequence samples (pipeline latent_ode_seq): the networks of
 * nn/ode_net.h and nn/acla_net.h, both built on the latent ODE block, trained with the trainer on masked
 * per-step losses; explain returns the latent trajectories (and acla's head-averaged attention). Step
 * times are the samples' t (days), shifted to start at 0 per sample and divided by the longest training
 * span, so the solve runs over [0, ~1]. Saved as weights.bin (models/checkpoint.h) with the time scale in
 * model.json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/checkpoint.h"
#include "models/model_internal.h"
#include "models/train_params.h"
#include "nn/acla_net.h"
#include "nn/ode_net.h"

typedef struct {
    long latent_dim, hidden_dim, max_steps, augment_dim, attn_dim, num_heads, ode_hidden, cnn_filters1, cnn_filters2;
    char *solver;
    double rtol, atol, dropout;
    int use_adjoint;
    bml__train_params train;
} node_params;

#define SOLVER_SPECS(RTOL, ATOL)                                                                               \
    {"solver", BML__P_STRING, offsetof(node_params, solver), "dopri5", 1, 0, 0, "dopri5 | rk4 | euler"},        \
    {"rtol", BML__P_DOUBLE, offsetof(node_params, rtol), RTOL, 0, 1, 1, "dopri5 relative tolerance"},          \
    {"atol", BML__P_DOUBLE, offsetof(node_params, atol), ATOL, 0, 1, 1, "dopri5 absolute tolerance"},          \
    {"use_adjoint", BML__P_BOOL, offsetof(node_params, use_adjoint), "false", 1, 0, 0,                         \
     "gradients by the adjoint method (memory independent of the steps; dopri5) instead of backpropagation"}, \
    {"max_steps", BML__P_INT, offsetof(node_params, max_steps), "10000", 1, 1e9, 0,                            \
     "dopri5 steps per solve before it fails with a message"}

static const bml__param_spec node_specs[] = {
    {"latent_dim", BML__P_INT, offsetof(node_params, latent_dim), "32", 1, 4096, 0, "latent state size"},
    {"hidden_dim", BML__P_INT, offsetof(node_params, hidden_dim), "64", 2, 4096, 0,
     "hidden width of the encoder, dynamics and decoder (decoder second layer: half)"},
    SOLVER_SPECS("1e-3", "1e-4"),
    BML__TRAIN_SPECS(node_params),
};

static const bml__param_spec acla_specs[] = {
    {"attn_dim", BML__P_INT, offsetof(node_params, attn_dim), "64", 1, 4096, 0, "attention block width"},
    {"num_heads", BML__P_INT, offsetof(node_params, num_heads), "4", 1, 64, 0, "attention heads (must divide attn_dim)"},
    {"dropout", BML__P_DOUBLE, offsetof(node_params, dropout), "0.1", 0, 0.999, 0, "dropout on the attention weights"},
    {"cnn_filters1", BML__P_INT, offsetof(node_params, cnn_filters1), "64", 1, 4096, 0, "channels of the first Conv1d"},
    {"cnn_filters2", BML__P_INT, offsetof(node_params, cnn_filters2), "32", 1, 4096, 0, "channels of the second Conv1d"},
    {"hidden_dim", BML__P_INT, offsetof(node_params, hidden_dim), "64", 1, 4096, 0, "LSTM hidden size"},
    {"latent_dim", BML__P_INT, offsetof(node_params, latent_dim), "64", 1, 4096, 0, "z0 = Linear(hidden_dim, latent_dim)"},
    {"augment_dim", BML__P_INT, offsetof(node_params, augment_dim), "20", 0, 4096, 0,
     "zeros appended to z0 (augmented neural ODE state: latent_dim + augment_dim)"},
    {"ode_hidden", BML__P_INT, offsetof(node_params, ode_hidden), "128", 1, 4096, 0, "hidden width of the ODE dynamics"},
    SOLVER_SPECS("1e-4", "1e-5"),
    BML__TRAIN_SPECS(node_params),
};

typedef struct {
    bml__ode_net *node;  /* one of the two */
    bml__acla_net *acla;
    bml_train_history hist;
    double *y_mean, *y_scale, t_scale;
} node_state;

static int is_acla(const bml_model *m) { return !strcmp(m->def->name, "acla"); }

static void release(bml_model *m) {
    node_state *s = m->state;
    if (!s) return;
    bml__ode_net_free(s->node);
    bml__acla_net_free(s->acla);
    bml__train_history_release(&s->hist);
    free(s->y_mean), free(s->y_scale), free(s);
    m->state = NULL;
}

/* the network's parameters, whichever it is */
typedef struct {
    float *params, *grads;
    size_t n_params, n_tensors;
    const size_t *sizes;
    const char *const *names;
    const bml__ode_block *ode;
} net_view;

static net_view view(const node_state *s) {
    if (s->acla) {
        const bml__acla_net *n = s->acla;
        return (net_view){n->params, n->grads, n->n_params, n->n_tensors, n->sizes, n->names, &n->ode};
    }
    const bml__ode_net *n = s->node;
    return (net_view){n->params, n->grads, n->n_params, n->n_tensors, n->sizes, n->names, &n->ode};
}

static bml_status create_net(bml_model *m, uint64_t seed, node_state **out) {
    const node_params *p = m->params;
    bml_ode_opts o = {BML_ODE_DOPRI5, p->rtol, p->atol, p->max_steps, NULL, 0, 0};
    if (!strcmp(p->solver, "rk4")) o.method = BML_ODE_RK4;
    else if (!strcmp(p->solver, "euler")) o.method = BML_ODE_EULER;
    else if (strcmp(p->solver, "dopri5"))
        return bml__fail(BML_ERR_VALUE, "model %s: unknown solver '%s' (dopri5, rk4, euler)", m->def->name, p->solver);
    node_state *s = calloc(1, sizeof *s);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->state = s;
    s->hist.best_epoch = -1;
    s->t_scale = 1;
    *out = s;
    bml_status st;
    if (is_acla(m)) {
        bml__acla_shape sh = {(int)m->n_features, (int)m->n_targets, (int)p->attn_dim, (int)p->num_heads, (int)p->cnn_filters1,
                              (int)p->cnn_filters2, (int)p->hidden_dim, (int)p->latent_dim, (int)p->augment_dim,
                              (int)p->ode_hidden, (float)p->dropout};
        st = bml__acla_net_create(&sh, &o, p->use_adjoint, seed, &s->acla);
    } else {
        st = bml__ode_net_create((int)m->n_features, (int)m->n_targets, (int)p->latent_dim, (int)p->hidden_dim, &o,
                                 p->use_adjoint, seed, &s->node);
    }
    if (st != BML_OK) bml__fail_prefix(st, "model %s", m->def->name);
    return st;
}

static bml_status forward(node_state *s, const float *x, const float *mask, int B, int T, int training, float *out) {
    return s->acla ? bml__acla_net_forward(s->acla, x, mask, B, T, training, out) : bml__ode_net_forward(s->node, x, mask, B, T, out);
}

typedef struct {
    node_state *s;
    int T;
} fwd_ctx;

static bml_status net_forward(void *vc, const float *x, const float *mask, int B, int training, float *out) {
    fwd_ctx *c = vc;
    return forward(c->s, x, mask, B, c->T, training, out);
}
static bml_status net_backward(void *vc, const float *dout, int B) {
    (void)B;
    node_state *s = ((fwd_ctx *)vc)->s; /* the adjoint's backward solve can fail as a forward solve can */
    return s->acla ? bml__acla_net_backward(s->acla, dout) : bml__ode_net_backward(s->node, dout);
}

/* samples -> float x (n, T, F + 1) with the scaled time last, standardised y (n, T, O), mask (n, T) */
static bml_status to_float(const bml_samples *s, double t_scale, const double *ym, const double *ys, float **x, float **y,
                           float **mask) {
    size_t T = s->seq_len, F = s->n_features, O = s->n_targets, n = s->n;
    *x = bml__calloc(n * T * (F + 1) + 1, sizeof **x);
    *y = bml__calloc(n * T * O + 1, sizeof **y);
    *mask = bml__calloc(n * T + 1, sizeof **mask);
    if (!*x || !*y || !*mask) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n * T; i++) {
        for (size_t j = 0; j < F; j++) (*x)[i * (F + 1) + j] = (float)s->x[i * F + j];
        (*x)[i * (F + 1) + F] = s->mask[i] != 0 ? (float)((s->t[i] - s->t[(i / T) * T]) / t_scale) : 0.0f;
        (*mask)[i] = (float)s->mask[i];
    }
    for (size_t i = 0; i < n * T * O; i++) (*y)[i] = s->mask[i / O] != 0 ? (float)((s->y[i] - ym[i % O]) / ys[i % O]) : 0.0f;
    return BML_OK;
}

static bml_status check_times(const bml_model *m, const bml_samples *s) {
    if (!s->t) return bml__fail(BML_ERR_VALUE, "model %s needs step times: use pipeline=latent_ode_seq", m->def->name);
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->seq_len && s->mask[i * s->seq_len + k] != 0; k++) {
            double t = s->t[i * s->seq_len + k];
            if (!isfinite(t) || (k > 0 && !(t > s->t[i * s->seq_len + k - 1])))
                return bml__fail(BML_ERR_VALUE, "model %s: sample %zu (%s) step %zu: time %g is missing or not after the step before",
                                 m->def->name, i, s->meta ? s->meta[i].cell : "?", k, t);
        }
    return BML_OK;
}

static bml_status fit(bml_model *m, const bml_samples *tr, const bml_samples *va, uint64_t seed) {
    const node_params *p = m->params;
    const char *name = m->def->name;
    bml_train_opts o;
    BML__TRY(bml__train_opts_init(name, &p->train, seed, &o));
    o.on_epoch = m->on_epoch;
    o.on_epoch_user = m->on_epoch_user;
    o.cancel = m->cancel;
    if (va && va->seq_len != tr->seq_len)
        return bml__fail(BML_ERR_VALUE, "model %s: training and validation sequences differ in length (%zu, %zu)", name,
                         tr->seq_len, va->seq_len);
    BML__TRY(check_times(m, tr));
    if (va) BML__TRY(check_times(m, va));
    size_t T = tr->seq_len, F = tr->n_features, O = tr->n_targets, nv = va ? va->n : 0;
    for (size_t i = 0; i < tr->n * T * F; i++)
        if (isnan(tr->x[i])) return bml__fail(BML_ERR_VALUE, "model %s: missing feature values must be imputed first", name);
    node_state *s = NULL;
    BML__TRY(create_net(m, o.seed, &s));
    double span = 0;
    for (size_t i = 0; i < tr->n; i++)
        for (size_t k = 0; k < T && tr->mask[i * T + k] != 0; k++) span = fmax(span, tr->t[i * T + k] - tr->t[i * T]);
    s->t_scale = span > 0 ? span : 1;
    BML__TRY(bml__target_scaler_fit(tr->y, tr->mask, tr->n * T, O, p->train.scale_targets, &s->y_mean, &s->y_scale));
    float *x = NULL, *y = NULL, *mask = NULL, *xv = NULL, *yv = NULL, *mv = NULL;
    bml_status st = to_float(tr, s->t_scale, s->y_mean, s->y_scale, &x, &y, &mask);
    if (st == BML_OK && va) st = to_float(va, s->t_scale, s->y_mean, s->y_scale, &xv, &yv, &mv);
    fwd_ctx ctx = {s, (int)T};
    o.loss.T = (int)T, o.loss.O = (int)O;
    net_view v = view(s);
    bml_trainable t = {&ctx, v.params, v.grads, v.n_params, v.sizes, v.n_tensors, T * (F + 1), T * O, T, net_forward, net_backward};
    if (st == BML_OK) st = bml__train(&t, x, y, mask, tr->n, xv, yv, mv, nv, &o, &s->hist);
    free(x), free(y), free(mask), free(xv), free(yv), free(mv);
    return st;
}

static size_t latent_dim(const bml_model *m) { return m->state ? (size_t)view(m->state).ode->D : 0; }

/* evaluation over chunks: y (n, T, O) in target units (0 at padded steps), z (n, T, latent_dim) and
 * w (n, T, T) (acla's head-averaged attention), each when not NULL */
static bml_status run(const bml_model *m, const bml_samples *smp, double *y, double *z, double *w) {
    node_state *s = m->state;
    BML__TRY(check_times(m, smp));
    size_t T = smp->seq_len, O = smp->n_targets, L = latent_dim(m), chunk = 64;
    float *x = NULL, *yy = NULL, *mask = NULL;
    double *zero = calloc(O + 1, sizeof *zero), *one = calloc(O + 1, sizeof *one);
    float *yf = bml__calloc(chunk * T * O + 1, sizeof *yf), *wf = w ? bml__calloc(chunk * T * T + 1, sizeof *wf) : NULL;
    bml_status st = zero && one && yf && (wf || !w) ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O; k++) one[k] = 1;
    if (st == BML_OK) st = to_float(smp, s->t_scale, zero, one, &x, &yy, &mask);
    size_t F1 = smp->n_features + 1;
    for (size_t i = 0; st == BML_OK && i < smp->n; i += chunk) {
        size_t B = smp->n - i < chunk ? smp->n - i : chunk;
        st = forward(s, x + i * T * F1, mask + i * T, (int)B, (int)T, 0, yf);
        if (st != BML_OK) break;
        for (size_t k = 0; y && k < B * T * O; k++)
            y[i * T * O + k] = mask[i * T + k / O] != 0 ? yf[k] * s->y_scale[k % O] + s->y_mean[k % O] : 0.0;
        const float *zl = s->acla ? bml__acla_net_latent(s->acla) : bml__ode_net_latent(s->node);
        for (size_t k = 0; z && k < B * T * L; k++) z[i * T * L + k] = zl[k];
        if (w && s->acla) {
            bml__acla_net_attention(s->acla, wf);
            for (size_t k = 0; k < B * T * T; k++) w[i * T * T + k] = wf[k];
        }
    }
    free(x), free(yy), free(mask), free(zero), free(one), free(yf), free(wf);
    return st;
}

static bml_status predict_seq(const bml_model *m, const bml_samples *smp, double *y) { return run(m, smp, y, NULL, NULL); }
static bml_status latent(const bml_model *m, const bml_samples *smp, double *z) { return run(m, smp, NULL, z, NULL); }
static bml_status attention(const bml_model *m, const bml_samples *smp, double *w) { return run(m, smp, NULL, NULL, w); }

static bml_status predict_static(const bml_model *m, const double *x, size_t n, double *y) {
    (void)x, (void)n, (void)y;
    return bml__fail(BML_ERR_VALUE, "model %s predicts sequences: use pipeline=latent_ode_seq", m->def->name);
}

static cJSON *fit_info(const bml_model *m) {
    const node_state *s = m->state;
    net_view v = view(s);
    cJSON *o = bml__train_fit_info(v.n_params, &s->hist);
    cJSON_AddNumberToObject(o, "nfe_forward_last", (double)v.ode->nfe_forward);
    cJSON_AddNumberToObject(o, "time_scale_days", s->t_scale);
    return o;
}

static char *history_csv(const bml_model *m) {
    const node_state *s = m->state;
    return s ? bml__history_csv(&s->hist) : NULL;
}

static bml__ckpt_tensor *tensors(const net_view *v) {
    bml__ckpt_tensor *t = bml__calloc(v->n_tensors + 1, sizeof *t);
    size_t off = 0;
    for (size_t i = 0; t && i < v->n_tensors; i++) {
        t[i] = (bml__ckpt_tensor){v->names[i], v->params + off, v->sizes[i]};
        off += v->sizes[i];
    }
    return t;
}

static bml_status save(const bml_model *m, const char *dir, cJSON **state) {
    const node_state *s = m->state;
    net_view v = view(s);
    bml__ckpt_tensor *t = tensors(&v);
    char *path = bml__path_join(dir, "weights.bin"), *pj = bml__params_json(&m->kv_keys, &m->kv_values);
    bml_status st = t && path && pj ? bml__ckpt_write(path, m->def->name, pj, t, v.n_tensors)
                                    : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t), free(path), free(pj);
    BML__TRY(st);
    *state = cJSON_CreateObject();
    cJSON_AddStringToObject(*state, "weights", "weights.bin");
    cJSON_AddNumberToObject(*state, "epochs_run", (double)s->hist.n_epochs);
    cJSON_AddItemToObject(*state, "time_scale_days", bml__json_exact_number(s->t_scale));
    bml__target_scaler_save(*state, s->y_mean, s->y_scale, m->n_targets);
    return BML_OK;
}

static bml_status load(bml_model *m, const char *dir, const cJSON *stj) {
    node_state *s = NULL;
    BML__TRY(create_net(m, 0, &s));
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(stj, "time_scale_days");
    if (!cJSON_IsNumber(ts) || !(ts->valuedouble > 0) || !isfinite(ts->valuedouble))
        return bml__fail(BML_ERR_PARSE, "%s/model.json: state.time_scale_days missing or not positive", dir);
    s->t_scale = ts->valuedouble;
    BML__TRY(bml__target_scaler_load(stj, m->n_targets, dir, &s->y_mean, &s->y_scale));
    net_view v = view(s);
    bml__ckpt_tensor *t = tensors(&v);
    char *path = bml__path_join(dir, "weights.bin");
    bml_status st = t && path ? bml__ckpt_read(path, m->def->name, t, v.n_tensors) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t), free(path);
    return st;
}

static bml_status check_weights(const bml_model *m, const char *what) {
    net_view v = view(m->state);
    bml__ckpt_tensor *t = tensors(&v);
    bml_status st = t ? bml__ckpt_check_finite(what, t, v.n_tensors) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t);
    return st;
}

#define NODE_DEF(NAME, DESC, SPECS, ATTENTION)                                                                          \
    {.name = NAME, .description = DESC, .specs = SPECS, .n_specs = sizeof SPECS / sizeof *SPECS,                       \
     .params_size = sizeof(node_params), .handles_missing = 0, .wants_scaled = 1, .takes_training = 1, .fit = fit,     \
     .predict = predict_static, .predict_seq = predict_seq, .attention = ATTENTION, .latent = latent,                  \
     .latent_dim = latent_dim, .fit_info = fit_info, .history_csv = history_csv, .save = save, .load = load,           \
     .release = release, .check_weights = check_weights}

const bml__model_def bml__model_neural_ode =
    NODE_DEF("neural_ode",
             "encoder MLP -> latent ODE dz/dt = MLP([z, t]) solved over the step times (dopri5/rk4/euler) -> per-step decoder (sequences)",
             node_specs, NULL);
const bml__model_def bml__model_acla =
    NODE_DEF("acla",
             "attention block -> CNN-LSTM encoder -> augmented neural ODE over the step times -> per-step read-out (sequences)",
             acla_specs, attention);
