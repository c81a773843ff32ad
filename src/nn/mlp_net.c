/* The MLP network (see mlp_net.h). */
#include "nn/mlp_net.h"

#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

void bml__mlp_net_free(bml__mlp_net *n) {
    if (!n) return;
    /* a net that ran out of memory while being made may lack any of the four arrays */
    for (int l = 0; l < n->n_layers; l++) {
        if (n->pre) free(n->pre[l]);
        if (n->act) free(n->act[l]);
        if (n->mask) free(n->mask[l]);
        if (n->drop) free(n->drop[l]);
    }
    free(n->pre);
    free(n->act);
    free(n->mask);
    free(n->drop);
    free(n->x);
    free(n->scratch_a);
    free(n->scratch_b);
    free(n->params);
    free(n->grads);
    free(n->sizes);
    free(n->w);
    free(n->b);
    free(n->dw);
    free(n->db);
    free(n->dims);
    free(n);
}

bml_status bml__mlp_net_create(const int *dims, int L, int tanh_act, float dropout, uint64_t seed, bml__mlp_net **out) {
    *out = NULL;
    bml__mlp_net *n = calloc(1, sizeof *n);
    if (!n) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->n_layers = L;
    n->tanh_act = tanh_act;
    n->dropout = dropout;
    n->dims = bml__calloc((size_t)L + 1, sizeof *n->dims);
    n->sizes = bml__calloc(2 * (size_t)L, sizeof *n->sizes);
    n->w = bml__calloc((size_t)L, sizeof *n->w);
    n->b = bml__calloc((size_t)L, sizeof *n->b);
    n->dw = bml__calloc((size_t)L, sizeof *n->dw);
    n->db = bml__calloc((size_t)L, sizeof *n->db);
    n->pre = bml__calloc((size_t)L, sizeof *n->pre);
    n->act = bml__calloc((size_t)L, sizeof *n->act);
    n->mask = bml__calloc((size_t)L, sizeof *n->mask);
    n->drop = bml__calloc((size_t)L, sizeof *n->drop);
    if (!n->dims || !n->sizes || !n->w || !n->b || !n->dw || !n->db || !n->pre || !n->act || !n->mask || !n->drop) goto nomem;
    memcpy(n->dims, dims, ((size_t)L + 1) * sizeof *dims);
    for (int l = 0; l < L; l++) {
        n->sizes[2 * l] = (size_t)dims[l + 1] * (size_t)dims[l];
        n->sizes[2 * l + 1] = (size_t)dims[l + 1];
        n->n_params += n->sizes[2 * l] + n->sizes[2 * l + 1];
    }
    n->params = bml__calloc(n->n_params, sizeof *n->params);
    n->grads = bml__calloc(n->n_params, sizeof *n->grads);
    if (!n->params || !n->grads) goto nomem;
    bml__nn_rng_seed(&n->rng, seed);
    size_t off = 0;
    for (int l = 0; l < L; l++) {
        n->w[l] = n->params + off;
        n->dw[l] = n->grads + off;
        off += n->sizes[2 * l];
        n->b[l] = n->params + off;
        n->db[l] = n->grads + off;
        off += n->sizes[2 * l + 1];
        bml__nn_init_xavier_uniform(n->w[l], dims[l + 1], dims[l], 1.0f, &n->rng); /* biases stay zero */
    }
    *out = n;
    return BML_OK;
nomem:
    bml__mlp_net_free(n);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
}

static bml_status ensure_cap(bml__mlp_net *n, int B) {
    if (B <= n->cap) return BML_OK;
    int maxd = 0;
    for (int l = 0; l <= n->n_layers; l++) maxd = n->dims[l] > maxd ? n->dims[l] : maxd;
    float *x = realloc(n->x, (size_t)B * (size_t)n->dims[0] * sizeof *x);
    if (!x) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->x = x;
    float *sa = realloc(n->scratch_a, (size_t)B * (size_t)maxd * sizeof *sa);
    if (!sa) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->scratch_a = sa;
    float *sb = realloc(n->scratch_b, (size_t)B * (size_t)maxd * sizeof *sb);
    if (!sb) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->scratch_b = sb;
    for (int l = 0; l < n->n_layers; l++) {
        size_t sz = (size_t)B * (size_t)n->dims[l + 1] * sizeof(float);
        float **bufs[4] = {&n->pre[l], &n->act[l], &n->mask[l], &n->drop[l]};
        for (int k = 0; k < 4; k++) {
            float *p = realloc(*bufs[k], sz);
            if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
            *bufs[k] = p;
        }
    }
    n->cap = B;
    return BML_OK;
}

bml_status bml__mlp_net_forward(bml__mlp_net *n, const float *x, int B, int training, float *out) {
    BML__TRY(ensure_cap(n, B));
    int L = n->n_layers;
    memcpy(n->x, x, (size_t)B * (size_t)n->dims[0] * sizeof *x);
    const float *h = n->x;
    for (int l = 0; l < L; l++) {
        int C = n->dims[l], OC = n->dims[l + 1];
        size_t m = (size_t)B * (size_t)OC;
        bml__nn_linear_forward(n->pre[l], h, n->w[l], n->b[l], B, C, OC); /* pre (B,OC) */
        if (l == L - 1) break;
        if (n->tanh_act) bml__nn_tanh_forward(n->act[l], n->pre[l], m);
        else bml__nn_relu_forward(n->act[l], n->pre[l], m);
        if (training && n->dropout > 0) {
            bml__nn_dropout_forward(n->drop[l], n->mask[l], n->act[l], m, n->dropout, &n->rng);
        } else {
            memcpy(n->drop[l], n->act[l], m * sizeof(float));
            for (size_t i = 0; i < m; i++) n->mask[l][i] = 1.0f;
        }
        h = n->drop[l];
    }
    memcpy(out, n->pre[L - 1], (size_t)B * (size_t)n->dims[L] * sizeof *out);
    n->last_B = B;
    return BML_OK;
}

void bml__mlp_net_backward(bml__mlp_net *n, const float *dout, int B, float *dx) {
    BML__ASSERT(B == n->last_B);
    int L = n->n_layers;
    float *buf[2] = {n->scratch_a, n->scratch_b};
    int cur = 1;           /* buffer holding d (unused while d is dout) */
    const float *d = dout; /* d loss / d pre[l], (B, d_{l+1}) */
    for (int l = L - 1; l >= 0; l--) {
        int C = n->dims[l], OC = n->dims[l + 1];
        int q = 1 - cur;   /* the buffer d is not in */
        const float *h = l == 0 ? n->x : n->drop[l - 1];
        size_t m = (size_t)B * (size_t)C;
        float *dh = l == 0 ? dx : buf[q]; /* d loss / d h, (B, C) */
        if (dh && l > 0) memset(dh, 0, m * sizeof *dh);
        bml__nn_linear_backward(dh, n->dw[l], n->db[l], d, h, n->w[l], B, C, OC);
        if (l == 0) break;
        if (n->tanh_act) {
            float *dact = buf[cur]; /* d has been consumed: its buffer is free */
            memset(dact, 0, m * sizeof *dact);
            bml__nn_dropout_backward(dact, dh, n->mask[l - 1], m);
            memset(dh, 0, m * sizeof *dh);
            bml__nn_tanh_backward(dh, dact, n->act[l - 1], m);
        } else {
            bml__nn_dropout_relu_backward_set(dh, dh, n->mask[l - 1], n->act[l - 1], m);
        }
        d = dh; /* d loss / d pre[l-1] */
        cur = q;
    }
}
