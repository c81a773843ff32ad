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

/* lay out an MLP's tensors from *off in params / grads; sizes and names continue at *ti */
static void mlp3_bind(bml__ode_net *n, bml__mlp3 *m, int d0, int d1, int d2, int d3, size_t *off, size_t *ti) {
    m->d[0] = d0, m->d[1] = d1, m->d[2] = d2, m->d[3] = d3;
    for (int l = 0; l < 3; l++) {
        size_t nw = (size_t)m->d[l + 1] * (size_t)m->d[l], nb = (size_t)m->d[l + 1];
        if (n->params) {
            m->w[l] = n->params + *off, m->dw[l] = n->grads + *off;
            m->b[l] = n->params + *off + nw, m->db[l] = n->grads + *off + nw;
        }
        n->sizes[*ti] = nw, n->names[*ti] = NAMES[*ti], (*ti)++;
        n->sizes[*ti] = nb, n->names[*ti] = NAMES[*ti], (*ti)++;
        *off += nw + nb;
    }
}

/* h0 = tanh(x W0^T + b0), h1 = tanh(h0 W1^T + b1), out = h1 W2^T + b2 over N rows */
static void mlp3_forward(const bml__mlp3 *m, const float *x, int N, float *h0, float *h1, float *out) {
    bml_nn_linear_forward(h0, x, m->w[0], m->b[0], N, m->d[0], m->d[1]);
    bml_nn_tanh_forward(h0, h0, (size_t)N * (size_t)m->d[1]);
    bml_nn_linear_forward(h1, h0, m->w[1], m->b[1], N, m->d[1], m->d[2]);
    bml_nn_tanh_forward(h1, h1, (size_t)N * (size_t)m->d[2]);
    bml_nn_linear_forward(out, h1, m->w[2], m->b[2], N, m->d[2], m->d[3]);
}

/* gradients into dw/db (given, layer order), dx (N, d0) += when not NULL; s0 (N, d1), s1 (N, d2) scratch */
static void mlp3_backward(const bml__mlp3 *m, float *const dw[3], float *const db[3], const float *x, const float *h0,
                          const float *h1, const float *dout, int N, float *dx, float *s0, float *s1) {
    size_t n1 = (size_t)N * (size_t)m->d[1], n2 = (size_t)N * (size_t)m->d[2];
    memset(s1, 0, n2 * sizeof *s1);
    bml_nn_linear_backward(s1, dw[2], db[2], dout, h1, m->w[2], N, m->d[2], m->d[3]);
    for (size_t i = 0; i < n2; i++) s1[i] *= 1.0f - h1[i] * h1[i];
    memset(s0, 0, n1 * sizeof *s0);
    bml_nn_linear_backward(s0, dw[1], db[1], s1, h0, m->w[1], N, m->d[1], m->d[2]);
    for (size_t i = 0; i < n1; i++) s0[i] *= 1.0f - h0[i] * h0[i];
    bml_nn_linear_backward(dx, dw[0], db[0], s0, x, m->w[0], N, m->d[0], m->d[1]);
}

void bml__ode_net_free(bml__ode_net *n) {
    if (!n) return;
    free(n->params), free(n->grads), free(n->grid), free(n->slot), free(n->x0), free(n->zs), free(n->z0), free(n->zsol);
    for (int i = 0; i < 3; i++) free(n->enc_h[i]), free(n->dec_h[i]);
    free(n->in_f), free(n->h1_f), free(n->h2_f), free(n->out_f), free(n->dh_a), free(n->dh_b), free(n->dyn_g), free(n->dp_dyn), free(n->last_y);
    bml__dp_tape_free(&n->tape);
    free(n);
}

bml_status bml__ode_net_create(int F, int O, int L, int H, const bml_ode_opts *solver, int use_adjoint, uint64_t seed,
                               bml__ode_net **out) {
    *out = NULL;
    if (use_adjoint && solver->method != BML_ODE_DOPRI5)
        return bml__fail(BML_ERR_VALUE, "use_adjoint needs solver dopri5");
    bml__ode_net *n = calloc(1, sizeof *n);
    if (!n) return bml__fail(BML_ERR_NOMEM, "out of memory");
    n->F = F, n->O = O, n->L = L, n->H = H, n->solver = *solver, n->use_adjoint = use_adjoint;
    n->solver.norm_groups = NULL, n->solver.n_norm_groups = 0, n->solver.grad_through_controller = 0;
    size_t off = 0, ti = 0;
    mlp3_bind(n, &n->enc, F, H, H, L, &off, &ti); /* sizes first */
    mlp3_bind(n, &n->dyn, L + 1, H, H, L, &off, &ti);
    mlp3_bind(n, &n->dec, L, H, H / 2 > 0 ? H / 2 : 1, O, &off, &ti);
    n->n_params = off, n->n_tensors = ti;
    n->params = bml__calloc(off, sizeof *n->params);
    n->grads = bml__calloc(off, sizeof *n->grads);
    for (int i = 6; i < 12; i++) n->n_dyn += n->sizes[i];
    n->dyn_g = bml__calloc(n->n_dyn, sizeof *n->dyn_g);
    n->dp_dyn = bml__calloc(n->n_dyn, sizeof *n->dp_dyn);
    if (!n->params || !n->grads || !n->dyn_g || !n->dp_dyn) {
        bml__ode_net_free(n);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    off = 0, ti = 0;
    mlp3_bind(n, &n->enc, F, H, H, L, &off, &ti);
    mlp3_bind(n, &n->dyn, L + 1, H, H, L, &off, &ti);
    mlp3_bind(n, &n->dec, L, H, H / 2 > 0 ? H / 2 : 1, O, &off, &ti);
    for (size_t l = 0, o = 0; l < 3; l++) { /* the vjp's gradient views, laid out as the dynamics tensors */
        n->dyn_gw[l] = n->dyn_g + o, o += n->sizes[6 + 2 * l];
        n->dyn_gb[l] = n->dyn_g + o, o += n->sizes[7 + 2 * l];
    }
    bml_nn_rng rng;
    bml_nn_rng_seed(&rng, seed);
    const bml__mlp3 *ms[3] = {&n->enc, &n->dyn, &n->dec};
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 3; l++) { /* torch.nn.Linear's default initialisation */
            float bound = 1.0f / sqrtf((float)ms[k]->d[l]);
            bml_nn_init_uniform(ms[k]->w[l], (size_t)ms[k]->d[l + 1] * (size_t)ms[k]->d[l], bound, &rng);
            bml_nn_init_uniform(ms[k]->b[l], (size_t)ms[k]->d[l + 1], bound, &rng);
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

static bml_status ensure(bml__ode_net *n, int B, int T, size_t K) {
    size_t bt = (size_t)B * (size_t)T, b = (size_t)B, H = (size_t)n->H, L = (size_t)n->L;
    size_t wide = H > L + 1 ? H : L + 1;
    int bad = 0;
    if (bt > n->cap_bt) {
        bad |= grow((void **)&n->slot, bt, sizeof *n->slot);
        bad |= grow((void **)&n->zs, bt * L, sizeof *n->zs);
        for (int i = 0; i < 3; i++) bad |= grow((void **)&n->dec_h[i], bt * (i < 2 ? H : (size_t)n->O > wide ? (size_t)n->O : wide), sizeof(float));
        bad |= grow((void **)&n->grid, bt + 1, sizeof *n->grid);
        if (!bad) n->cap_bt = bt;
    }
    if (b > n->cap_b) {
        bad |= grow((void **)&n->x0, b * (size_t)n->F, sizeof *n->x0);
        for (int i = 0; i < 3; i++) bad |= grow((void **)&n->enc_h[i], b * (i < 2 ? H : L), sizeof(float));
        bad |= grow((void **)&n->z0, b * L, sizeof *n->z0);
        bad |= grow((void **)&n->last_y, b * L, sizeof *n->last_y);
        bad |= grow((void **)&n->in_f, b * (L + 1), sizeof *n->in_f);
        bad |= grow((void **)&n->h1_f, b * H, sizeof *n->h1_f);
        bad |= grow((void **)&n->h2_f, b * H, sizeof *n->h2_f);
        bad |= grow((void **)&n->out_f, b * wide * 2, sizeof *n->out_f);
        bad |= grow((void **)&n->dh_a, b * wide, sizeof *n->dh_a);
        bad |= grow((void **)&n->dh_b, b * wide, sizeof *n->dh_b);
        if (!bad) n->cap_b = b;
    }
    if (K * b > n->cap_k) {
        bad |= grow((void **)&n->zsol, K * b * L, sizeof *n->zsol);
        if (!bad) n->cap_k = K * b;
    }
    return bad ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
}

/* ---- the dynamics over the flat state (B L) in double, evaluated in float ---- */
static void dyn_input(bml__ode_net *n, double t, const double *y) {
    int L = n->L;
    for (int b = 0; b < n->B; b++) {
        for (int j = 0; j < L; j++) n->in_f[b * (L + 1) + j] = (float)y[b * L + j];
        n->in_f[b * (L + 1) + L] = (float)t;
    }
}

/* evaluate the dynamics' layers at (t, y) unless they hold that point already */
static void dyn_eval(bml__ode_net *n, double t, const double *y) {
    size_t bl = (size_t)n->B * (size_t)n->L;
    if (n->last_ok && t == n->last_t && !memcmp(y, n->last_y, bl * sizeof *y)) return;
    dyn_input(n, t, y);
    mlp3_forward(&n->dyn, n->in_f, n->B, n->h1_f, n->h2_f, n->out_f);
    memcpy(n->last_y, y, bl * sizeof *y);
    n->last_t = t, n->last_ok = 1;
}

static void dyn_f(void *vc, double t, const double *y, double *dy) {
    bml__ode_net *n = vc;
    n->last_ok = 0; /* out_f is rewritten by every vjp: evaluate afresh */
    dyn_eval(n, t, y);
    for (size_t i = 0; i < (size_t)n->B * (size_t)n->L; i++) dy[i] = n->out_f[i];
}

static void dyn_vjp(void *vc, double t, const double *y, const double *v, double *dy, double *dparams, double *dt) {
    bml__ode_net *n = vc;
    int B = n->B, L = n->L;
    size_t bl = (size_t)B * (size_t)L;
    dyn_eval(n, t, y);
    float *vf = n->out_f, *dx = n->out_f + (size_t)B * (size_t)(L + 1 > n->H ? L + 1 : n->H);
    for (size_t i = 0; i < bl; i++) vf[i] = (float)v[i];
    memset(dx, 0, (size_t)B * (size_t)(L + 1) * sizeof *dx);
    memset(n->dyn_g, 0, n->n_dyn * sizeof *n->dyn_g);
    mlp3_backward(&n->dyn, n->dyn_gw, n->dyn_gb, n->in_f, n->h1_f, n->h2_f, vf, B, dx, n->dh_a, n->dh_b);
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < L; j++) dy[b * L + j] += dx[b * (L + 1) + j];
        if (dt) *dt += dx[b * (L + 1) + L];
    }
    for (size_t i = 0; i < n->n_dyn; i++) dparams[i] += n->dyn_g[i];
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

bml_status bml__ode_net_forward(bml__ode_net *n, const float *x, const float *mask, int B, int T, float *out) {
    int F = n->F, L = n->L, Fx = F + 1;
    BML__TRY(ensure(n, B, T, (size_t)B * (size_t)T + 1));
    n->B = B, n->T = T;
    n->last_ok = 0; /* the weights may have changed since */
    /* the union of the shifted step times */
    size_t K = 0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++)
            if (mask[b * T + k] != 0) {
                double tau = (double)x[((size_t)b * T + k) * Fx + F] - (double)x[(size_t)b * T * Fx + F];
                if (!isfinite(tau) || tau < 0)
                    return bml__fail(BML_ERR_VALUE, "neural_ode: step times must be finite and increasing (sample %d, step %d)", b, k);
                n->grid[K++] = tau;
            }
    n->grid[K++] = 0;
    qsort(n->grid, K, sizeof *n->grid, cmp_double);
    size_t u = 0;
    for (size_t i = 0; i < K; i++)
        if (u == 0 || n->grid[i] != n->grid[u - 1]) n->grid[u++] = n->grid[i];
    K = u, n->K = (int)K;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++) {
            n->slot[b * T + k] = -1;
            if (mask[b * T + k] == 0) continue;
            double tau = (double)x[((size_t)b * T + k) * Fx + F] - (double)x[(size_t)b * T * Fx + F];
            const double *p = bsearch(&tau, n->grid, K, sizeof *n->grid, cmp_double);
            n->slot[b * T + k] = (int)(p - n->grid);
        }
    /* encoder on the first step */
    for (int b = 0; b < B; b++) memcpy(n->x0 + (size_t)b * F, x + (size_t)b * T * Fx, (size_t)F * sizeof *x);
    mlp3_forward(&n->enc, n->x0, B, n->enc_h[0], n->enc_h[1], n->enc_h[2]);
    size_t bl = (size_t)B * (size_t)L;
    for (size_t i = 0; i < bl; i++) n->z0[i] = n->enc_h[2][i];
    /* solve */
    n->nfe_forward = 0;
    bml__dp_tape_free(&n->tape);
    if (n->solver.method == BML_ODE_DOPRI5 && !n->use_adjoint) /* record the solve for the backward pass */
        BML__TRY(bml__dopri5(dyn_f, n, bl, n->z0, n->grid, K, &n->solver, n->zsol, &n->nfe_forward, &n->tape));
    else
        BML__TRY(bml_ode_solve(dyn_f, n, bl, n->z0, n->grid, K, &n->solver, n->zsol, &n->nfe_forward));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++) {
            float *z = n->zs + ((size_t)b * T + k) * L;
            int s = n->slot[b * T + k];
            for (int j = 0; j < L; j++) z[j] = s < 0 ? 0.0f : (float)n->zsol[(size_t)s * bl + (size_t)b * L + j];
        }
    mlp3_forward(&n->dec, n->zs, B * T, n->dec_h[0], n->dec_h[1], out);
    memcpy(n->dec_h[2], out, (size_t)B * T * n->O * sizeof *out);
    return BML_OK;
}

bml_status bml__ode_net_backward(bml__ode_net *n, const float *dout) {
    int B = n->B, T = n->T, L = n->L;
    size_t bt = (size_t)B * T, bl = (size_t)B * L, K = (size_t)n->K;
    float *dzs = calloc(bt * L + 1, sizeof *dzs), *s0 = calloc(bt * n->H + 1, sizeof *s0), *s1 = calloc(bt * n->H + 1, sizeof *s1);
    double *w = calloc(K * bl + 1, sizeof *w), *dz0 = calloc(bl + 1, sizeof *dz0);
    float *dz0f = calloc(bl + 1, sizeof *dz0f);
    bml_status st = dzs && s0 && s1 && w && dz0 && dz0f ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) {
        mlp3_backward(&n->dec, n->dec.dw, n->dec.db, n->zs, n->dec_h[0], n->dec_h[1], dout, (int)bt, dzs, s0, s1);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < T; k++) {
                int s = n->slot[b * T + k];
                if (s < 0) continue;
                for (int j = 0; j < L; j++) w[(size_t)s * bl + (size_t)b * L + j] += dzs[((size_t)b * T + k) * L + j];
            }
        memset(n->dp_dyn, 0, n->n_dyn * sizeof *n->dp_dyn);
        n->nfe_backward = 0;
        if (K == 1) memcpy(dz0, w, bl * sizeof *dz0);
        else if (n->use_adjoint) {
            long nf = 0;
            st = bml_ode_adjoint_dopri5(dyn_f, dyn_vjp, n, bl, n->n_dyn, n->sizes + 6, 6, n->z0, n->grid, K, &n->solver, w, dz0, n->dp_dyn,
                                        &nf, &n->nfe_backward);
        } else if (n->solver.method == BML_ODE_DOPRI5) {
            st = bml__dopri5_backward(&n->tape, dyn_f, dyn_vjp, n, bl, n->z0, n->grid, K, &n->solver, w, dz0, n->dp_dyn);
        } else {
            st = bml_ode_backprop_fixed(dyn_f, dyn_vjp, n, bl, n->z0, n->grid, K, n->solver.method, w, n->zsol, dz0, n->dp_dyn);
        }
    }
    if (st == BML_OK) {
        float *g = n->dyn.dw[0]; /* the dynamics tensors are contiguous from dw[0] */
        for (size_t i = 0; i < n->n_dyn; i++) g[i] += (float)n->dp_dyn[i];
        for (size_t i = 0; i < bl; i++) dz0f[i] = (float)dz0[i];
        mlp3_backward(&n->enc, n->enc.dw, n->enc.db, n->x0, n->enc_h[0], n->enc_h[1], dz0f, B, NULL, s0, s1);
    }
    free(dzs), free(s0), free(s1), free(w), free(dz0), free(dz0f);
    return st;
}

const float *bml__ode_net_latent(const bml__ode_net *n) { return n->zs; }
