/* The acla network (see acla_net.h). */
#include "nn/acla_net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

enum {
    PIN_W, PIN_B, ATT_WIN, ATT_BIN, ATT_WOUT, ATT_BOUT, POUT_W, POUT_B, NORM_W, NORM_B, CNN0_W, CNN0_B, CNN2_W, CNN2_B,
    LSTM_WIH, LSTM_WHH, LSTM_BIH, LSTM_BHH, Z0_W, Z0_B, FUNC0_W, FUNC0_B, FUNC2_W, FUNC2_B, FUNC4_W, FUNC4_B, RO_W, RO_B
};

static const char *const NAMES[BML_ACLA_TENSORS] = {
    "proj_in.weight",      "proj_in.bias",      "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
    "attn.out_proj.bias",  "proj_out.weight",   "proj_out.bias",       "norm.weight",       "norm.bias",
    "cnn.0.weight",        "cnn.0.bias",        "cnn.2.weight",        "cnn.2.bias",        "lstm.weight_ih_l0",
    "lstm.weight_hh_l0",   "lstm.bias_ih_l0",   "lstm.bias_hh_l0",     "to_z0.weight",      "to_z0.bias",
    "func.net.0.weight",   "func.net.0.bias",   "func.net.2.weight",   "func.net.2.bias",   "func.net.4.weight",
    "func.net.4.bias",     "readout.weight",    "readout.bias"};

#define P(i) (n->p[i])
#define G(i) (n->g[i])

void bml__acla_net_free(bml__acla_net *n) {
    if (!n) return;
    free(n->params), free(n->grads), free(n->arena), free(n->len), free(n->one);
    bml__ode_block_release(&n->ode);
    free(n);
}

bml_status bml__acla_net_create(const bml__acla_shape *shape, const bml_ode_opts *solver, int use_adjoint, uint64_t seed,
                                bml__acla_net **out) {
    *out = NULL;
    const bml__acla_shape *s = shape;
    if (s->A % s->heads != 0)
        return bml__fail(BML_ERR_VALUE, "attention width %d must divide into %d heads", s->A, s->heads);
    bml__acla_net *n = calloc(1, sizeof *n);
    if (!n) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->s = *s;
    int D = s->Z + s->aug;
    bml_status st = bml__ode_block_init(&n->ode, D, s->M, solver, use_adjoint);
    if (st != BML_OK) {
        free(n);
        return st;
    }
    size_t F = (size_t)s->F, A = (size_t)s->A, H = (size_t)s->H;
    size_t sz[BML_ACLA_TENSORS] = {A * F, A, 3 * A * A, 3 * A, A * A, A, F * A, F, F, F,
                                   (size_t)s->c1 * 3, (size_t)s->c1, (size_t)s->c2 * s->c1 * 3, (size_t)s->c2,
                                   4 * H * s->c2, 4 * H * H, 4 * H, 4 * H, (size_t)s->Z * H, (size_t)s->Z};
    bml__ode_block_param_sizes(&n->ode, sz + FUNC0_W);
    sz[RO_W] = (size_t)s->O * D, sz[RO_B] = (size_t)s->O;
    n->n_tensors = BML_ACLA_TENSORS;
    for (size_t i = 0; i < n->n_tensors; i++) n->sizes[i] = sz[i], n->names[i] = NAMES[i], n->n_params += sz[i];
    n->params = bml__calloc(n->n_params, sizeof *n->params);
    n->grads = bml__calloc(n->n_params, sizeof *n->grads);
    if (!n->params || !n->grads) {
        bml__acla_net_free(n);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0, off = 0; i < n->n_tensors; off += n->sizes[i], i++) n->p[i] = n->params + off, n->g[i] = n->grads + off;
    bml__ode_block_bind(&n->ode, n->params, n->grads, (size_t)(P(FUNC0_W) - n->params));
    BML__ASSERT(FUNC0_W == BML_ACLA_FUNC_FIRST);
    /* PyTorch's initialisation of each module, in registration order */
    bml__nn_rng_seed(&n->rng, seed);
    bml_nn_rng *r = &n->rng;
    bml__nn_init_uniform(P(PIN_W), n->sizes[PIN_W], 1.0f / sqrtf((float)F), r);
    bml__nn_init_uniform(P(PIN_B), n->sizes[PIN_B], 1.0f / sqrtf((float)F), r);
    bml__nn_init_xavier_uniform(P(ATT_WIN), 3 * s->A, s->A, 1.0f, r); /* in-projection bias and out bias: 0 */
    bml__nn_init_uniform(P(ATT_WOUT), n->sizes[ATT_WOUT], 1.0f / sqrtf((float)A), r);
    bml__nn_init_uniform(P(POUT_W), n->sizes[POUT_W], 1.0f / sqrtf((float)A), r);
    bml__nn_init_uniform(P(POUT_B), n->sizes[POUT_B], 1.0f / sqrtf((float)A), r);
    for (size_t c = 0; c < F; c++) P(NORM_W)[c] = 1.0f;
    bml__nn_init_uniform(P(CNN0_W), n->sizes[CNN0_W], 1.0f / sqrtf(3.0f), r);
    bml__nn_init_uniform(P(CNN0_B), n->sizes[CNN0_B], 1.0f / sqrtf(3.0f), r);
    bml__nn_init_uniform(P(CNN2_W), n->sizes[CNN2_W], 1.0f / sqrtf(3.0f * (float)s->c1), r);
    bml__nn_init_uniform(P(CNN2_B), n->sizes[CNN2_B], 1.0f / sqrtf(3.0f * (float)s->c1), r);
    for (int k = LSTM_WIH; k <= LSTM_BHH; k++) bml__nn_init_uniform(P(k), n->sizes[k], 1.0f / sqrtf((float)H), r);
    bml__nn_init_uniform(P(Z0_W), n->sizes[Z0_W], 1.0f / sqrtf((float)H), r);
    bml__nn_init_uniform(P(Z0_B), n->sizes[Z0_B], 1.0f / sqrtf((float)H), r);
    for (int k = FUNC0_W; k <= FUNC4_W; k += 2) /* normal(0, 0.01) weights, zero biases */
        for (size_t i = 0; i < n->sizes[k]; i++) P(k)[i] = 0.01f * bml__nn_rng_normal(r);
    bml__nn_init_uniform(P(RO_W), n->sizes[RO_W], 1.0f / sqrtf((float)D), r);
    bml__nn_init_uniform(P(RO_B), n->sizes[RO_B], 1.0f / sqrtf((float)D), r);
    *out = n;
    return BML_OK;
}

static size_t max3(size_t a, size_t b, size_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

/* carve the activation arena for B sequences of T steps */
static bml_status ensure(bml__acla_net *n, int B, int T) {
    if ((size_t)B <= n->cap_b && (size_t)T <= n->cap_t) return BML_OK;
    const bml__acla_shape *s = &n->s;
    size_t b = (size_t)B, bt = b * (size_t)T, F = (size_t)s->F, A = (size_t)s->A, H = (size_t)s->H;
    size_t c1 = (size_t)s->c1, c2 = (size_t)s->c2, D = (size_t)(s->Z + s->aug), nh = (size_t)s->heads;
    size_t lstm_scr = bml__nn_lstm_forward_scratch(B, s->H) + bml__nn_lstm_backward_scratch(B, 1, s->H);
    size_t scr = max3(lstm_scr, bml__nn_mha_first_backward_scratch(B, T, s->A), b * F * c1 * 3);
    size_t wide = max3(bt * max3(A, D, F), b * F * (c1 > c2 ? c1 : c2), b * 4 * H);
    size_t total = bt * F + bt * A + b * A + bt * 2 * A + 2 * b * nh * T + 2 * b * A + 2 * b * F + 2 * b + b * F +
                   b * F * 3 + 2 * b * F * c1 + b * F * c1 * 3 + 2 * b * F * c2 + b * c2 + 2 * b * H + b * 4 * H +
                   b * (size_t)s->Z + b * D + bt * D + scr + 3 * wide + bt * 3 * A + 2 * b * nh * T * T + 2 * bt * A;
    float *a = realloc(n->arena, total * sizeof *a);
    if (a) n->arena = a;
    int *len = realloc(n->len, b * sizeof *len);
    if (len) n->len = len;
    int *one = realloc(n->one, b * sizeof *one);
    if (one) n->one = one;
    if (!a || !len || !one) return bml__fail(BML_ERR_NOMEM, "out of memory");
    memset(a, 0, total * sizeof *a);
#define CARVE(field, count) (n->field = a, a += (count))
    CARVE(xf, bt * F);
    CARVE(pin, bt * A);
    CARVE(q0, b * A);
    CARVE(kv, bt * 2 * A);
    CARVE(probs0, b * nh * T);
    CARVE(amask0, b * nh * T);
    CARVE(ctx0, b * A);
    CARVE(att0, b * A);
    CARVE(x0, b * F);
    CARVE(res0, b * F);
    CARVE(ln_mean, b);
    CARVE(ln_rstd, b);
    CARVE(u0, b * F);
    CARVE(c1_col, b * F * 3);
    CARVE(c1_out, b * F * c1);
    CARVE(c1_relu, b * F * c1);
    CARVE(c2_col, b * F * c1 * 3);
    CARVE(c2_out, b * F * c2);
    CARVE(c2_relu, b * F * c2);
    CARVE(cm, b * c2);
    CARVE(h, b * H);
    CARVE(cell, b * H);
    CARVE(gates, b * 4 * H);
    CARVE(z0, b * (size_t)s->Z);
    CARVE(y0, b * D);
    CARVE(ys, bt * D);
    CARVE(scratch, scr);
    CARVE(d1, wide);
    CARVE(d2, wide);
    CARVE(d3, wide);
    CARVE(qkv, bt * 3 * A);
    CARVE(probs, b * nh * T * T);
    CARVE(amask, b * nh * T * T);
    CARVE(ctx, bt * A);
    CARVE(att, bt * A);
#undef CARVE
    n->cap_b = b, n->cap_t = (size_t)T;
    return BML_OK;
}

bml_status bml__acla_net_forward(bml__acla_net *n, const float *x, const float *mask, int B, int T, int training, float *out) {
    BML__TRY(ensure(n, B, T));
    const bml__acla_shape *s = &n->s;
    n->B = B, n->T = T;
    int F = s->F, Fx = F + 1, A = s->A, D = s->Z + s->aug, bt = B * T;
    for (int b = 0; b < B; b++) {
        int L = 0;
        for (int t = 0; t < T; t++) L += mask[(size_t)b * T + t] != 0;
        n->len[b] = L > 0 ? L : 1; /* padded steps are at the end */
        n->one[b] = 1;
    }
    for (int i = 0; i < bt; i++) memcpy(n->xf + (size_t)i * F, x + (size_t)i * Fx, (size_t)F * sizeof *x);
    /* attention block at the first step: u0 (B, F) = LayerNorm(proj_out(MHA(proj_in(x))[:, 0]) + x[:, 0]) */
    bml__nn_linear_forward(n->pin, n->xf, P(PIN_W), P(PIN_B), bt, F, A);
    bml__nn_mha_first_forward(n->att0, n->q0, n->kv, n->probs0, n->amask0, n->ctx0, n->pin, n->len, P(ATT_WIN), P(ATT_BIN),
                             P(ATT_WOUT), P(ATT_BOUT), B, T, A, s->heads, s->dropout, training, &n->rng);
    for (int b = 0; b < B; b++) memcpy(n->x0 + (size_t)b * F, n->xf + (size_t)b * T * F, (size_t)F * sizeof *n->x0);
    bml__nn_linear_forward(n->res0, n->att0, P(POUT_W), P(POUT_B), B, A, F);
    for (size_t i = 0; i < (size_t)B * F; i++) n->res0[i] += n->x0[i];
    bml__nn_layernorm_forward(n->u0, n->ln_mean, n->ln_rstd, n->res0, P(NORM_W), P(NORM_B), B, F, 1e-5f);
    /* CNN-LSTM encoder: u0 (B, F, 1) -> (B, F, c1) -> (B, F, c2) -> mean (B, c2) -> h (B, H) */
    bml__nn_conv1d_k3_forward(n->c1_out, n->c1_col, n->u0, P(CNN0_W), P(CNN0_B), B, F, 1, s->c1);
    bml__nn_relu_forward(n->c1_relu, n->c1_out, (size_t)B * F * s->c1);
    bml__nn_conv1d_k3_forward(n->c2_out, n->c2_col, n->c1_relu, P(CNN2_W), P(CNN2_B), B, F, s->c1, s->c2);
    bml__nn_relu_forward(n->c2_relu, n->c2_out, (size_t)B * F * s->c2);
    bml__nn_mean_mid_forward(n->cm, n->c2_relu, B, F, s->c2);
    bml__nn_lstm_forward(n->h, n->cell, n->gates, n->cm, n->one, P(LSTM_WIH), P(LSTM_WHH), P(LSTM_BIH), P(LSTM_BHH), B, 1,
                        s->c2, s->H, 0, n->scratch);
    /* y0 = [to_z0(h), 0 x aug], solved over the step times, read out at every step */
    bml__nn_linear_forward(n->z0, n->h, P(Z0_W), P(Z0_B), B, s->H, s->Z);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) n->y0[(size_t)b * D + j] = j < s->Z ? n->z0[(size_t)b * s->Z + j] : 0.0f;
    bml_status st = bml__ode_block_forward(&n->ode, x, Fx, F, mask, B, T, n->y0, n->ys);
    if (st != BML_OK) return bml__fail_prefix(st, "acla");
    bml__nn_linear_forward(out, n->ys, P(RO_W), P(RO_B), bt, D, s->O);
    return BML_OK;
}

bml_status bml__acla_net_backward(bml__acla_net *n, const float *dout) {
    const bml__acla_shape *s = &n->s;
    int B = n->B, T = n->T, F = s->F, A = s->A, Z = s->Z, D = Z + s->aug, bt = B * T;
    size_t bF = (size_t)B * F;
    float *d1 = n->d1, *d2 = n->d2, *d3 = n->d3;
    /* read-out, then the solve: d ys (B, T, D) in d1 -> d y0 (B, D) in d2 */
    memset(d1, 0, (size_t)bt * D * sizeof *d1);
    bml__nn_linear_backward(d1, G(RO_W), G(RO_B), dout, n->ys, P(RO_W), bt, D, s->O);
    BML__TRY(bml__ode_block_backward(&n->ode, d1, d2));
    /* z0 is the first Z of y0 (the augmented zeros are constants) */
    for (int b = 0; b < B; b++) memcpy(d3 + (size_t)b * Z, d2 + (size_t)b * D, (size_t)Z * sizeof *d3);
    memset(d1, 0, (size_t)B * s->H * sizeof *d1);
    bml__nn_linear_backward(d1, G(Z0_W), G(Z0_B), d3, n->h, P(Z0_W), B, s->H, Z);
    /* the one-step LSTM, the mean over positions, ReLU, Conv1d(c1, c2), ReLU, Conv1d(1, c1) */
    memset(d2, 0, (size_t)B * s->c2 * sizeof *d2);
    bml__nn_lstm_backward(d2, G(LSTM_WIH), G(LSTM_WHH), G(LSTM_BIH), G(LSTM_BHH), d1, n->cm, n->h, n->cell, n->gates, n->one,
                         P(LSTM_WIH), P(LSTM_WHH), B, 1, s->c2, s->H, 0, n->scratch);
    memset(d1, 0, bF * s->c2 * sizeof *d1);
    bml__nn_mean_mid_backward(d1, d2, B, F, s->c2);
    memset(d3, 0, bF * s->c2 * sizeof *d3);
    bml__nn_relu_backward(d3, d1, n->c2_relu, bF * s->c2);
    memset(d1, 0, bF * s->c1 * sizeof *d1);
    bml__nn_conv1d_k3_backward(d1, G(CNN2_W), G(CNN2_B), d3, n->c2_col, P(CNN2_W), B, F, s->c1, s->c2, n->scratch);
    memset(d3, 0, bF * s->c1 * sizeof *d3);
    bml__nn_relu_backward(d3, d1, n->c1_relu, bF * s->c1);
    memset(d1, 0, bF * sizeof *d1);
    bml__nn_conv1d_k3_backward(d1, G(CNN0_W), G(CNN0_B), d3, n->c1_col, P(CNN0_W), B, F, 1, s->c1, n->scratch);
    /* LayerNorm, the residual (x is an input: no gradient), proj_out, the first-step attention, proj_in */
    memset(d3, 0, bF * sizeof *d3);
    bml__nn_layernorm_backward(d3, G(NORM_W), G(NORM_B), d1, n->res0, P(NORM_W), n->ln_mean, n->ln_rstd, B, F);
    memset(d2, 0, (size_t)B * A * sizeof *d2);
    bml__nn_linear_backward(d2, G(POUT_W), G(POUT_B), d3, n->att0, P(POUT_W), B, A, F);
    memset(d1, 0, (size_t)bt * A * sizeof *d1);
    bml__nn_mha_first_backward(d1, G(ATT_WIN), G(ATT_BIN), G(ATT_WOUT), G(ATT_BOUT), d2, n->pin, n->q0, n->kv, n->probs0,
                              n->amask0, n->ctx0, n->len, P(ATT_WIN), P(ATT_WOUT), B, T, A, s->heads, n->scratch);
    bml__nn_linear_backward(NULL, G(PIN_W), G(PIN_B), d1, n->xf, P(PIN_W), bt, F, A);
    return BML_OK;
}

const float *bml__acla_net_latent(const bml__acla_net *n) { return n->ys; }

void bml__acla_net_attention(bml__acla_net *n, float *w) {
    const bml__acla_shape *s = &n->s;
    bml__nn_mha_forward(n->att, n->qkv, n->probs, n->amask, n->ctx, n->pin, n->len, P(ATT_WIN), P(ATT_BIN), P(ATT_WOUT),
                       P(ATT_BOUT), n->B, n->T, s->A, s->heads, 0.0f, 0, NULL);
    bml__nn_mha_average_heads(w, n->probs, n->B, n->T, s->heads);
}
