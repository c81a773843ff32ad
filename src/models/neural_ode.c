/* `neural_ode` (SPEC 6) on sequence samples (pipeline latent_ode_seq): the network of nn/ode_net.h,
 * trained with the trainer on masked per-step losses. Step times are the samples' t (days), shifted to
 * start at 0 per sample and divided by the longest training span, so the solve runs over [0, ~1]. Saved as
 * weights.bin (models/checkpoint.h) with the time scale in model.json. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/checkpoint.h"
#include "models/model_internal.h"
#include "models/train_params.h"
#include "nn/ode_net.h"

typedef struct {
    long latent_dim, hidden_dim, max_steps;
    char *solver;
    double rtol, atol;
    int use_adjoint;
    bml__train_params train;
} node_params;

static const bml__param_spec specs[] = {
    {"latent_dim", BML__P_INT, offsetof(node_params, latent_dim), "32", 1, 4096, 0, "latent state size"},
    {"hidden_dim", BML__P_INT, offsetof(node_params, hidden_dim), "64", 2, 4096, 0,
     "hidden width of the encoder, dynamics and decoder (decoder second layer: half)"},
    {"solver", BML__P_STRING, offsetof(node_params, solver), "dopri5", 1, 0, 0, "dopri5 | rk4 | euler"},
    {"rtol", BML__P_DOUBLE, offsetof(node_params, rtol), "1e-3", 0, 1, 1, "dopri5 relative tolerance"},
    {"atol", BML__P_DOUBLE, offsetof(node_params, atol), "1e-4", 0, 1, 1, "dopri5 absolute tolerance"},
    {"use_adjoint", BML__P_BOOL, offsetof(node_params, use_adjoint), "false", 1, 0, 0,
     "gradients by the adjoint method (memory independent of the steps; dopri5) instead of backpropagation"},
    {"max_steps", BML__P_INT, offsetof(node_params, max_steps), "10000", 1, 1e9, 0,
     "dopri5 steps per solve before it fails with a message"},
    BML__TRAIN_SPECS(node_params),
};

typedef struct {
    bml__ode_net *net;
    bml_train_history hist;
    double *y_mean, *y_scale, t_scale;
} node_state;

static void release(bml_model *m) {
    node_state *s = m->state;
    if (!s) return;
    bml__ode_net_free(s->net);
    bml_train_history_release(&s->hist);
    free(s->y_mean), free(s->y_scale), free(s);
    m->state = NULL;
}

static bml_status create_net(bml_model *m, uint64_t seed, node_state **out) {
    const node_params *p = m->params;
    bml_ode_opts o = {BML_ODE_DOPRI5, p->rtol, p->atol, p->max_steps, NULL, 0, 0};
    if (!strcmp(p->solver, "rk4")) o.method = BML_ODE_RK4;
    else if (!strcmp(p->solver, "euler")) o.method = BML_ODE_EULER;
    else if (strcmp(p->solver, "dopri5"))
        return bml__fail(BML_ERR_VALUE, "model neural_ode: unknown solver '%s' (dopri5, rk4, euler)", p->solver);
    node_state *s = calloc(1, sizeof *s);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m->state = s;
    s->hist.best_epoch = -1;
    s->t_scale = 1;
    *out = s;
    bml_status st = bml__ode_net_create((int)m->n_features, (int)m->n_targets, (int)p->latent_dim, (int)p->hidden_dim, &o,
                                        p->use_adjoint, seed, &s->net);
    if (st != BML_OK) bml__fail_prefix(st, "model neural_ode");
    return st;
}

static bml_status net_forward(void *vc, const float *x, const float *mask, int B, int training, float *out) {
    (void)training;
    bml__ode_net *n = vc;
    return bml__ode_net_forward(n, x, mask, B, n->T > 0 ? n->T : 1, out);
}
static void net_backward(void *vc, const float *dout, int B) {
    (void)B;
    bml__ode_net_backward(vc, dout); /* the forward's solve succeeded; the backward repeats it */
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

static bml_status check_times(const bml_samples *s) {
    if (!s->t) return bml__fail(BML_ERR_VALUE, "model neural_ode needs step times: use pipeline=latent_ode_seq");
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->seq_len && s->mask[i * s->seq_len + k] != 0; k++) {
            double t = s->t[i * s->seq_len + k];
            if (!isfinite(t) || (k > 0 && !(t > s->t[i * s->seq_len + k - 1])))
                return bml__fail(BML_ERR_VALUE, "model neural_ode: sample %zu (%s) step %zu: time %g is missing or not after the step before",
                                 i, s->meta ? s->meta[i].cell : "?", k, t);
        }
    return BML_OK;
}

static bml_status fit(bml_model *m, const bml_samples *tr, const bml_samples *va, uint64_t seed) {
    const node_params *p = m->params;
    bml_train_opts o;
    BML__TRY(bml__train_opts_init(m->def->name, &p->train, seed, &o));
    o.on_epoch = m->on_epoch;
    o.on_epoch_user = m->on_epoch_user;
    if (va && va->seq_len != tr->seq_len)
        return bml__fail(BML_ERR_VALUE, "model neural_ode: training and validation sequences differ in length (%zu, %zu)",
                         tr->seq_len, va->seq_len);
    BML__TRY(check_times(tr));
    if (va) BML__TRY(check_times(va));
    size_t T = tr->seq_len, F = tr->n_features, O = tr->n_targets, nv = va ? va->n : 0;
    for (size_t i = 0; i < tr->n * T * F; i++)
        if (isnan(tr->x[i])) return bml__fail(BML_ERR_VALUE, "model neural_ode: missing feature values must be imputed first");
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
    s->net->T = (int)T;
    o.loss.T = (int)T, o.loss.O = (int)O;
    bml_trainable t = {s->net, s->net->params, s->net->grads, s->net->n_params, s->net->sizes, s->net->n_tensors,
                       T * (F + 1), T * O, T, net_forward, net_backward};
    if (st == BML_OK) st = bml_train(&t, x, y, mask, tr->n, xv, yv, mv, nv, &o, &s->hist);
    free(x), free(y), free(mask), free(xv), free(yv), free(mv);
    return st;
}

/* evaluation over chunks: y (n, T, O) in target units (0 at padded steps) and/or z (n, T, L) */
static bml_status run(const bml_model *m, const bml_samples *smp, double *y, double *z) {
    node_state *s = m->state;
    BML__TRY(check_times(smp));
    size_t T = smp->seq_len, O = smp->n_targets, chunk = 64;
    float *x = NULL, *yy = NULL, *mask = NULL;
    double *zero = calloc(O + 1, sizeof *zero), *one = calloc(O + 1, sizeof *one);
    float *yf = bml__calloc(chunk * T * O + 1, sizeof *yf);
    bml_status st = zero && one && yf ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O; k++) one[k] = 1;
    if (st == BML_OK) st = to_float(smp, s->t_scale, zero, one, &x, &yy, &mask);
    size_t F1 = smp->n_features + 1;
    for (size_t i = 0; st == BML_OK && i < smp->n; i += chunk) {
        size_t B = smp->n - i < chunk ? smp->n - i : chunk;
        st = bml__ode_net_forward(s->net, x + i * T * F1, mask + i * T, (int)B, (int)T, yf);
        for (size_t k = 0; y && st == BML_OK && k < B * T * O; k++)
            y[i * T * O + k] = mask[i * T + k / O] != 0 ? yf[k] * s->y_scale[k % O] + s->y_mean[k % O] : 0.0;
        const float *zl = bml__ode_net_latent(s->net);
        size_t L = (size_t)s->net->L;
        for (size_t k = 0; z && st == BML_OK && k < B * T * L; k++) z[i * T * L + k] = zl[k];
    }
    free(x), free(yy), free(mask), free(zero), free(one), free(yf);
    return st;
}

static bml_status predict_seq(const bml_model *m, const bml_samples *smp, double *y) { return run(m, smp, y, NULL); }
static bml_status latent(const bml_model *m, const bml_samples *smp, double *z) { return run(m, smp, NULL, z); }
static size_t latent_dim(const bml_model *m) { return m->state ? (size_t)((node_state *)m->state)->net->L : 0; }

static bml_status predict_static(const bml_model *m, const double *x, size_t n, double *y) {
    (void)x, (void)n, (void)y;
    return bml__fail(BML_ERR_VALUE, "model %s predicts sequences: use pipeline=latent_ode_seq", m->def->name);
}

static cJSON *fit_info(const bml_model *m) {
    const node_state *s = m->state;
    cJSON *o = bml__train_fit_info(s->net->n_params, &s->hist);
    cJSON_AddNumberToObject(o, "nfe_forward_last", (double)s->net->ode.nfe_forward);
    cJSON_AddNumberToObject(o, "time_scale_days", s->t_scale);
    return o;
}

static char *history_csv(const bml_model *m) {
    const node_state *s = m->state;
    return s ? bml__history_csv(&s->hist) : NULL;
}

static bml__ckpt_tensor *tensors(const bml__ode_net *n) {
    bml__ckpt_tensor *t = bml__calloc(n->n_tensors + 1, sizeof *t);
    size_t off = 0;
    for (size_t i = 0; t && i < n->n_tensors; i++) {
        t[i] = (bml__ckpt_tensor){n->names[i], n->params + off, n->sizes[i]};
        off += n->sizes[i];
    }
    return t;
}

static bml_status save(const bml_model *m, const char *dir, cJSON **state) {
    const node_state *s = m->state;
    bml__ckpt_tensor *t = tensors(s->net);
    char *path = bml__path_join(dir, "weights.bin"), *pj = bml__params_json(&m->kv_keys, &m->kv_values);
    bml_status st = t && path && pj ? bml__ckpt_write(path, m->def->name, pj, t, s->net->n_tensors)
                                    : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t), free(path), free(pj);
    BML__TRY(st);
    *state = cJSON_CreateObject();
    cJSON_AddStringToObject(*state, "weights", "weights.bin");
    cJSON_AddNumberToObject(*state, "epochs_run", (double)s->hist.n_epochs);
    cJSON_AddNumberToObject(*state, "time_scale_days", s->t_scale);
    bml__target_scaler_save(*state, s->y_mean, s->y_scale, m->n_targets);
    return BML_OK;
}

static bml_status load(bml_model *m, const char *dir, const cJSON *stj) {
    node_state *s = NULL;
    BML__TRY(create_net(m, 0, &s));
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(stj, "time_scale_days");
    if (!cJSON_IsNumber(ts) || !(ts->valuedouble > 0))
        return bml__fail(BML_ERR_PARSE, "%s/model.json: state.time_scale_days missing or not positive", dir);
    s->t_scale = ts->valuedouble;
    BML__TRY(bml__target_scaler_load(stj, m->n_targets, dir, &s->y_mean, &s->y_scale));
    bml__ckpt_tensor *t = tensors(s->net);
    char *path = bml__path_join(dir, "weights.bin");
    bml_status st = t && path ? bml__ckpt_read(path, m->def->name, t, s->net->n_tensors) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(t), free(path);
    return st;
}

const bml__model_def bml__model_neural_ode = {
    .name = "neural_ode",
    .description = "encoder MLP -> latent ODE dz/dt = MLP([z, t]) solved over the step times (dopri5/rk4/euler) -> per-step decoder (sequences)",
    .specs = specs, .n_specs = sizeof specs / sizeof *specs, .params_size = sizeof(node_params), .handles_missing = 0,
    .wants_scaled = 1, .takes_training = 1, .fit = fit, .predict = predict_static, .predict_seq = predict_seq,
    .latent = latent, .latent_dim = latent_dim, .fit_info = fit_info, .history_csv = history_csv, .save = save, .load = load, .release = release};
