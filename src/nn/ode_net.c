/* The neural_ode network (see ode_net.h). */
#include "nn/ode_net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static const char *const NAMES[BML_ODE_NET_TENSORS] = {
    "encoder.0.weight",  "encoder.0.bias",  "encoder.2.weight",  "encoder.2.bias",  "encoder.4.weight",  "encoder.4.bias",
    "dynamics.0.weight", "dynamics.0.bias", "dynamics.2.weight", "dynamics.2.bias", "dynamics.4.weight", "dynamics.4.bias",
    "decoder.0.weight",  "decoder.0.bias",  "decoder.2.weight",  "decoder.2.bias",  "decoder.4.weight",  "decoder.4.bias"};

void bml__ode_net_free(bml__ode_net *n) {
    if (!n) return;
    free(n->params), free(n->grads), free(n->x0), free(n->zs), free(n->dzs), free(n->s0), free(n->s1), free(n->dz0);
    for (int i = 0; i < 3; i++) free(n->enc_h[i]), free(n->dec_h[i]);
    bml__ode_block_release(&n->ode);
    free(n);
}

bml_status bml__ode_net_create(int F, int O, int L, int H, const bml_ode_opts *solver, int use_adjoint, uint64_t seed,
                               bml__ode_net **out) {
    *out = NULL;
    bml__ode_net *n = calloc(1, sizeof *n);
    if (!n) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->F = F, n->O = O, n->L = L, n->H = H;
    bml_status st = bml__ode_block_init(&n->ode, L, H, solver, use_adjoint);
    if (st != BML_OK) {
        free(n);
        return st;
    }
    int h2 = H / 2 > 0 ? H / 2 : 1;
    size_t off_dyn = bml__mlp3_sizes(F, H, H, L, n->sizes);
    size_t off_dec = off_dyn + bml__ode_block_param_sizes(&n->ode, n->sizes + 6);
    n->n_params = off_dec + bml__mlp3_sizes(L, H, h2, O, n->sizes + 12);
    n->n_tensors = BML_ODE_NET_TENSORS;
    for (size_t i = 0; i < n->n_tensors; i++) n->names[i] = NAMES[i];
    n->params = bml__calloc(n->n_params, sizeof *n->params);
    n->grads = bml__calloc(n->n_params, sizeof *n->grads);
    if (!n->params || !n->grads) {
        bml__ode_net_free(n);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml__mlp3_bind(&n->enc, F, H, H, L, n->params, n->grads, 0);
    bml__ode_block_bind(&n->ode, n->params, n->grads, off_dyn);
    bml__mlp3_bind(&n->dec, L, H, h2, O, n->params, n->grads, off_dec);
    bml_nn_rng rng;
    bml__nn_rng_seed(&rng, seed);
    const bml__mlp3 *ms[3] = {&n->enc, &n->ode.dyn, &n->dec};
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++) { /* torch.nn.Linear's default initialisation */
            float bound = 1.0f / sqrtf((float)ms[k]->d[l]);
            bml__nn_init_uniform(ms[k]->w[l], (size_t)ms[k]->d[l + 1] * (size_t)ms[k]->d[l], bound, &rng);
            bml__nn_init_uniform(ms[k]->b[l], (size_t)ms[k]->d[l + 1], bound, &rng);
        }
    *out = n;
    return BML_OK;
}

static int grow(void **p, size_t need, size_t elem) {
    void *q = realloc(*p, (need ? need : 1) * elem);
    if (!q) return 1;
    *p = q;
    return 0;
}

static bml_status ensure(bml__ode_net *n, int B, int T) {
    size_t bt = (size_t)B * (size_t)T, b = (size_t)B, H = (size_t)n->H, L = (size_t)n->L;
    int bad = 0;
    if (bt > n->cap_bt) {
        bad |= grow((void **)&n->zs, bt * L, sizeof *n->zs);
        for (int i = 0; i < 3; i++) bad |= grow((void **)&n->dec_h[i], bt * (i < 2 ? H : (size_t)n->O), sizeof(float));
        bad |= grow((void **)&n->dzs, bt * L, sizeof *n->dzs);
        bad |= grow((void **)&n->s0, bt * H, sizeof *n->s0);
        bad |= grow((void **)&n->s1, bt * H, sizeof *n->s1);
        if (!bad) n->cap_bt = bt;
    }
    if (b > n->cap_b) {
        bad |= grow((void **)&n->x0, b * (size_t)n->F, sizeof *n->x0);
        for (int i = 0; i < 3; i++) bad |= grow((void **)&n->enc_h[i], b * (i < 2 ? H : L), sizeof(float));
        bad |= grow((void **)&n->dz0, b * L, sizeof *n->dz0);
        if (!bad) n->cap_b = b;
    }
    return bad ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
}

bml_status bml__ode_net_forward(bml__ode_net *n, const float *x, const float *mask, int B, int T, float *out) {
    int F = n->F, Fx = F + 1;
    BML__TRY(ensure(n, B, T));
    n->B = B, n->T = T;
    /* encoder on the first step */
    for (int b = 0; b < B; b++) memcpy(n->x0 + (size_t)b * F, x + (size_t)b * T * Fx, (size_t)F * sizeof *x);
    bml__mlp3_forward(&n->enc, n->x0, B, n->enc_h[0], n->enc_h[1], n->enc_h[2]);
    bml_status st = bml__ode_block_forward(&n->ode, x, Fx, F, mask, B, T, n->enc_h[2], n->zs);
    if (st != BML_OK) return bml__fail_prefix(st, "neural_ode");
    bml__mlp3_forward(&n->dec, n->zs, B * T, n->dec_h[0], n->dec_h[1], out);
    memcpy(n->dec_h[2], out, (size_t)B * T * n->O * sizeof *out);
    return BML_OK;
}

bml_status bml__ode_net_backward(bml__ode_net *n, const float *dout) {
    int B = n->B, T = n->T, L = n->L;
    size_t bt = (size_t)B * T;
    memset(n->dzs, 0, bt * L * sizeof *n->dzs);
    bml__mlp3_backward(&n->dec, n->dec.dw, n->dec.db, n->zs, n->dec_h[0], n->dec_h[1], dout, (int)bt, n->dzs, n->s0, n->s1);
    BML__TRY(bml__ode_block_backward(&n->ode, n->dzs, n->dz0));
    bml__mlp3_backward(&n->enc, n->enc.dw, n->enc.db, n->x0, n->enc_h[0], n->enc_h[1], n->dz0, B, NULL, n->s0, n->s1);
    return BML_OK;
}

const float *bml__ode_net_latent(const bml__ode_net *n) { return n->zs; }
