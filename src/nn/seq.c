/* Sequence layers: LSTM, multi-head self-attention, Conv1d (k3, p1), BatchNorm1d, mean over an axis.
 * Forward/backward pairs as in nn.h; PyTorch 1.13 semantics (FACTS.md section 3). */
#include <math.h>
#include <string.h>

#include "nn/fastmath.h"
#include "nn/nn.h"
#include "nn/par.h"

#define tanh_fast bml__tanh_fast

/* one step of one sequence, the gate element-wise part (PyTorch order i, f, g, o): g (4H) holds the gate
 * pre-activations minus the recurrent part hb (4H) and receives the activated gates; c = f cp + i g,
 * h = o tanh(c). Vectorised: AVX-512 and AVX2 clones where the CPU has them, without FMA (target_clones
 * makes one clone per name, so "avx2,fma" would be two clones, and GCC's avx512f implies no FMA): no
 * contraction in any clone, so the same bits on every CPU. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
lstm_cell_forward(int H, float *restrict g, const float *restrict hb, const float *restrict cp, float *restrict c,
                  float *restrict h) {
    for (int j = 0; j < H; j++) {
        float gi = bml__sigmoid_fast(g[j] + hb[j]), gf = bml__sigmoid_fast(g[H + j] + hb[H + j]);
        float gg = tanh_fast(g[2 * H + j] + hb[2 * H + j]), go = bml__sigmoid_fast(g[3 * H + j] + hb[3 * H + j]);
        g[j] = gi, g[H + j] = gf, g[2 * H + j] = gg, g[3 * H + j] = go;
        c[j] = gf * cp[j] + gi * gg;
        h[j] = go * tanh_fast(c[j]);
    }
}

/* the backward of lstm_cell_forward for one sequence and step: dg (4H) d pre-activations from d h (d plus
 * the carried dh_next) and the carried dc_next (updated to the previous step's) */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
lstm_cell_backward(int H, const float *restrict g, const float *restrict c, const float *restrict cp,
                   const float *restrict d, const float *restrict dh_next, float *restrict dc_next, float *restrict dg) {
    for (int j = 0; j < H; j++) {
        float gi = g[j], gf = g[H + j], gg = g[2 * H + j], go = g[3 * H + j];
        float tc = tanh_fast(c[j]);
        float dh = d[j] + dh_next[j];
        float dc = dh * go * (1.0f - tc * tc) + dc_next[j];
        dg[j] = dc * gg * gi * (1.0f - gi);
        dg[H + j] = dc * cp[j] * gf * (1.0f - gf);
        dg[2 * H + j] = dc * gi * (1.0f - gg * gg);
        dg[3 * H + j] = dh * tc * go * (1.0f - go);
        dc_next[j] = dc * gf;
    }
}

/* ------------------------------------------------------------------ LSTM */
size_t bml__nn_lstm_forward_scratch(int B, int H) { return (size_t)B * (6 * (size_t)H) + 4 * (size_t)H * H; }

void bml__nn_lstm_forward(float *out, float *cell, float *gates, const float *inp, const int *len, const float *w_ih,
                         const float *w_hh, const float *b_ih, const float *b_hh, int B, int T, int C, int H, int reverse,
                         float *scratch) {
    size_t G = 4 * (size_t)H;
    float *hh = scratch;                       /* (B, 4H) h_{t-1} W_hh^T */
    float *hprev = hh + (size_t)B * G;         /* (B, H) */
    float *cprev = hprev + (size_t)B * H;      /* (B, H) */
    float *w_hh_t = cprev + (size_t)B * H;     /* (H, 4H) W_hh^T: each step's product reads it as it lies */
    for (size_t j = 0; j < G; j++)
        for (int i = 0; i < H; i++) w_hh_t[(size_t)i * G + j] = w_hh[j * H + i];
    /* input projections of every step at once: gates (B*T, 4H) = inp W_ih^T + b_ih + b_hh */
    for (size_t r = 0; r < (size_t)B * T; r++)
        for (size_t j = 0; j < G; j++) gates[r * G + j] = b_ih[j] + b_hh[j];
    bml__nn_matmul_abt(gates, inp, w_ih, B * T, (int)G, C, 1);
    memset(hprev, 0, (size_t)B * H * sizeof *hprev);
    memset(cprev, 0, (size_t)B * H * sizeof *cprev);
    for (int b = 0; b < B; b++) /* padded steps hold zeros; every other row is written below */
        if (len[b] < T) {
            memset(out + ((size_t)b * T + len[b]) * H, 0, (size_t)(T - len[b]) * H * sizeof *out);
            memset(cell + ((size_t)b * T + len[b]) * H, 0, (size_t)(T - len[b]) * H * sizeof *cell);
        }
    /* all sequences of one length: each step's rows of out and cell lie T H apart, and the product and the
     * cells read the previous step's where they lie (no copies into hprev and cprev) */
    int same = B > 0;
    for (int b = 1; b < B; b++) same &= len[b] == len[0];
    for (int k = 0; k < T; k++) {
        if (same && k >= len[0]) break;
        int tp = same ? (reverse ? len[0] - k : k - 1) : 0; /* the previous step, when same */
        if (same && k > 0)
            bml__nn_gemm(0, 0, B, (int)G, H, 1.0f, out + (size_t)tp * H, T * H, w_hh_t, (int)G, 0.0f, hh, (int)G);
        else
            bml__nn_matmul_ab(hh, hprev, w_hh_t, B, (int)G, H, 0); /* h_{t-1} W_hh^T */
        for (int b = 0; b < B; b++) {
            if (k >= len[b]) continue;
            int t = reverse ? len[b] - 1 - k : k;
            float *g = gates + ((size_t)b * T + t) * G;
            const float *hb = hh + (size_t)b * G;
            float *c = cell + ((size_t)b * T + t) * H, *h = out + ((size_t)b * T + t) * H;
            if (same) {
                lstm_cell_forward(H, g, hb, k > 0 ? cell + ((size_t)b * T + tp) * H : cprev + (size_t)b * H, c, h);
                continue;
            }
            lstm_cell_forward(H, g, hb, cprev + (size_t)b * H, c, h);
            memcpy(cprev + (size_t)b * H, c, (size_t)H * sizeof *c);
            memcpy(hprev + (size_t)b * H, h, (size_t)H * sizeof *h);
        }
    }
    for (int b = 0; b < B; b++) /* padded steps hold no gates */
        if (len[b] < T) memset(gates + ((size_t)b * T + len[b]) * G, 0, (size_t)(T - len[b]) * G * sizeof *gates);
}

size_t bml__nn_lstm_backward_scratch(int B, int T, int H) {
    return (size_t)B * T * 4 * H + (size_t)B * T * H + (size_t)B * 4 * H + 2 * (size_t)B * H + (size_t)H;
}

void bml__nn_lstm_backward(float *dinp, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, const float *dout,
                          const float *inp, const float *out, const float *cell, const float *gates, const int *len,
                          const float *w_ih, const float *w_hh, int B, int T, int C, int H, int reverse, float *scratch) {
    size_t G = 4 * (size_t)H;
    float *dG = scratch;                           /* (B, T, 4H) d loss / d gate pre-activations */
    float *hp = dG + (size_t)B * T * G;            /* (B, T, H) h_{t-1} of each step */
    float *gk = hp + (size_t)B * T * H;            /* (B, 4H) this step's dG rows */
    float *dh_next = gk + (size_t)B * G;           /* (B, H) */
    float *dc_next = dh_next + (size_t)B * H;      /* (B, H) */
    float *zero_h = dc_next + (size_t)B * H;       /* (H) zeros: the cell before the first step */
    for (int b = 0; b < B; b++) { /* zeros where no step writes: padded steps, h_{-1} of the first step */
        if (len[b] < T) {
            memset(dG + ((size_t)b * T + len[b]) * G, 0, (size_t)(T - len[b]) * G * sizeof *dG);
            memset(hp + ((size_t)b * T + len[b]) * H, 0, (size_t)(T - len[b]) * H * sizeof *hp);
        }
        int t0 = reverse ? len[b] - 1 : 0;
        if (len[b] > 0) memset(hp + ((size_t)b * T + t0) * H, 0, (size_t)H * sizeof *hp);
    }
    memset(dh_next, 0, (size_t)B * H * sizeof *dh_next);
    memset(dc_next, 0, (size_t)B * H * sizeof *dc_next);
    memset(zero_h, 0, (size_t)H * sizeof *zero_h);
    int same = B > 0; /* all of one length: each step's dG rows lie T 4H apart, the product reads them there */
    for (int b = 1; b < B; b++) same &= len[b] == len[0];
    for (int k = T - 1; k >= 0; k--) {
        if (same && k >= len[0]) continue; /* no sequence has this step: dh_next stays zero */
        if (!same) memset(gk, 0, (size_t)B * G * sizeof *gk);
        for (int b = 0; b < B; b++) {
            if (k >= len[b]) continue;
            int t = reverse ? len[b] - 1 - k : k, tp = reverse ? t + 1 : t - 1;
            const float *g = gates + ((size_t)b * T + t) * G, *c = cell + ((size_t)b * T + t) * H;
            const float *cp = k > 0 ? cell + ((size_t)b * T + tp) * H : zero_h; /* c_{-1} = 0 */
            const float *d = dout + ((size_t)b * T + t) * H;
            float *dg = dG + ((size_t)b * T + t) * G;
            if (k > 0) memcpy(hp + ((size_t)b * T + t) * H, out + ((size_t)b * T + tp) * H, (size_t)H * sizeof *hp);
            lstm_cell_backward(H, g, c, cp, d, dh_next + (size_t)b * H, dc_next + (size_t)b * H, dg);
            if (!same) memcpy(gk + (size_t)b * G, dg, G * sizeof *gk);
        }
        /* dh_{t-1} = dG_t W_hh (B, H); sequences that are done or not started contribute zero rows */
        if (same)
            bml__nn_gemm(0, 0, B, H, (int)G, 1.0f, dG + (size_t)(reverse ? len[0] - 1 - k : k) * G, T * (int)G, w_hh, H, 0.0f,
                         dh_next, H);
        else
            bml__nn_matmul_ab(dh_next, gk, w_hh, B, H, (int)G, 0);
    }
    if (dw_hh) bml__nn_matmul_atb(dw_hh, dG, hp, (int)G, H, B * T, 1); /* (4H, H) += dG^T hp */
    if (dw_ih) bml__nn_matmul_atb(dw_ih, dG, inp, (int)G, C, B * T, 1);
    if (dinp) bml__nn_matmul_ab(dinp, dG, w_ih, B * T, C, (int)G, 1);
    for (size_t r = 0; r < (size_t)B * T; r++)
        for (size_t j = 0; j < G; j++) {
            if (db_ih) db_ih[j] += dG[r * G + j];
            if (db_hh) db_hh[j] += dG[r * G + j];
        }
}

/* ------------------------------------------------------------------ multi-head self-attention */
/* The dropout multipliers of the attention probabilities, n of them in the order the rows are laid out
 * (0 or 1/(1-p) when training with dropout, 1 otherwise): drawn before the rows are computed (from one key,
 * bml__nn_dropout_mask), so that the rows can be computed in any order. */
static void attn_dropout_draw(float *dm, size_t n, float dropout, int training, bml_nn_rng *rng) {
    if (training && dropout > 0) bml__nn_dropout_mask(dm, n, dropout, rng);
    else
        for (size_t i = 0; i < n; i++) dm[i] = 1.0f;
}

void bml__nn_mha_dropout_draw(float *dmask, size_t n, float dropout, int training, bml_nn_rng *rng) {
    attn_dropout_draw(dmask, n, dropout, training, rng);
}

/* One query row of one head, its scores in p[0..len) (keys t >= len are padding): the softmax with the key
 * padding mask (p (T) becomes the probabilities), and c (hd) += sum_k p_k dm_k v_k with the dropout
 * multipliers dm (T), the value rows ld apart. Built for AVX2 as well, without FMA: the same roundings, so
 * the same bits, on any CPU. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
attn_row_forward(float *p, const float *dm, int len, int T, const float *v, size_t ld, int hd, float *c) {
    float mx = -INFINITY;
    for (int tk = 0; tk < len; tk++)
        if (p[tk] > mx) mx = p[tk];
    for (int tk = 0; tk < T; tk++) p[tk] = tk < len ? bml__exp_nonpos(p[tk] - mx) : 0.0f; /* key padding mask */
    double sum = 0; /* in order, apart from the exponentials so that those vectorise */
    for (int tk = 0; tk < T; tk++) sum += p[tk];
    float inv = (float)(1.0 / sum);
    for (int tk = 0; tk < T; tk++) {
        p[tk] *= inv;
        float a = p[tk] * dm[tk];
        if (a == 0.0f) continue;
        const float *vr = v + (size_t)tk * ld;
        for (int i = 0; i < hd; i++) c[i] += a * vr[i];
    }
}

/* The backward of attn_row_forward and of the scaled scores: dc (hd) = d c, dp (T) holds d (p dm) of the len
 * real keys (overwritten); adds into dq (hd), and into dk and dv, whose rows are ld apart as those of k. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
attn_row_backward(const float *p, const float *dm, float *dp, int len, float scale, const float *dc, const float *qr,
                  const float *k, size_t ld, int hd, float *dq, float *dk, float *dv) {
    double dot = 0;
    for (int tk = 0; tk < len; tk++) {
        float a = p[tk] * dm[tk], *dvr = dv + (size_t)tk * ld;
        for (int i = 0; i < hd; i++) dvr[i] += a * dc[i];
        dp[tk] *= dm[tk]; /* through the dropout multipliers to the probabilities */
        dot += (double)p[tk] * dp[tk];
    }
    for (int tk = 0; tk < len; tk++) {
        float ds = p[tk] * (dp[tk] - (float)dot) * scale; /* softmax backward, then the scale */
        if (ds == 0.0f) continue;
        const float *kr = k + (size_t)tk * ld;
        float *dkr = dk + (size_t)tk * ld;
        for (int i = 0; i < hd; i++) {
            dq[i] += ds * kr[i];
            dkr[i] += ds * qr[i];
        }
    }
}

/* the arguments of one sample's attention, forward or backward (one task per sample) */
typedef struct {
    const float *qkv, *probs_c, *dmask, *dctx;
    float *probs, *ctx, *dqkv, *dpd;
    const int *len;
    int T, D, nh, hd;
    float scale;
} mha_args;

static void mha_forward_sample(void *arg, int b) {
    const mha_args *a = arg;
    int T = a->T, D = a->D, nh = a->nh, hd = a->hd;
    size_t ld = 3 * (size_t)D; /* row stride of q, k and v inside qkv */
    for (int h = 0; h < nh; h++) {
        const float *q = a->qkv + (size_t)b * T * ld + h * hd, *k = q + D, *v = q + 2 * D;
        float *pb = a->probs + ((size_t)b * nh + h) * T * T; /* (T, T) */
        /* scores (T, T) = scale q k^T for this sample and head */
        bml__nn_gemm(0, 1, T, T, hd, a->scale, q, (int)ld, k, (int)ld, 0.0f, pb, T);
        for (int tq = 0; tq < T; tq++)
            attn_row_forward(pb + (size_t)tq * T, a->dmask + (((size_t)b * nh + h) * T + tq) * T, a->len[b], T, v, ld, hd,
                             a->ctx + ((size_t)b * T + tq) * D + h * hd);
    }
}

void bml__nn_mha_forward(float *out, float *qkv, float *probs, float *dmask, float *ctx, const float *x, const int *len,
                        const float *w_in, const float *b_in, const float *w_out, const float *b_out, int B, int T, int D,
                        int nh, float dropout, int training, bml_nn_rng *rng) {
    attn_dropout_draw(dmask, (size_t)B * nh * T * T, dropout, training, rng);
    bml__nn_mha_forward_drawn(out, qkv, probs, dmask, ctx, x, len, w_in, b_in, w_out, b_out, B, T, D, nh);
}

void bml__nn_mha_forward_drawn(float *out, float *qkv, float *probs, const float *dmask, float *ctx, const float *x,
                              const int *len, const float *w_in, const float *b_in, const float *w_out, const float *b_out,
                              int B, int T, int D, int nh) {
    int hd = D / nh;
    bml__nn_linear_forward(qkv, x, w_in, b_in, B * T, D, 3 * D);
    memset(ctx, 0, (size_t)B * T * D * sizeof *ctx);
    mha_args a = {.qkv = qkv, .dmask = dmask, .probs = probs, .ctx = ctx, .len = len, .T = T, .D = D, .nh = nh, .hd = hd,
                  .scale = 1.0f / sqrtf((float)hd)};
    bml__nn_parallel_for(B, mha_forward_sample, &a);
    bml__nn_linear_forward(out, ctx, w_out, b_out, B * T, D, D);
}

static void mha_backward_sample(void *arg, int b) {
    const mha_args *a = arg;
    int T = a->T, D = a->D, nh = a->nh, hd = a->hd;
    size_t ld = 3 * (size_t)D;
    float *dpd = a->dpd + (size_t)b * T * T; /* (T, T) d (dropped-out probabilities) of this sample, one head at a time */
    for (int h = 0; h < nh; h++) {
        const float *q = a->qkv + (size_t)b * T * ld + h * hd, *k = q + D, *v = q + 2 * D;
        const float *dcb = a->dctx + (size_t)b * T * D + h * hd; /* d ctx (T, hd), row stride D */
        /* d (p * dmask) (T, T) = d ctx v^T */
        bml__nn_gemm(0, 1, T, T, hd, 1.0f, dcb, D, v, (int)ld, 0.0f, dpd, T);
        for (int tq = 0; tq < T; tq++)
            attn_row_backward(a->probs_c + (((size_t)b * nh + h) * T + tq) * T, a->dmask + (((size_t)b * nh + h) * T + tq) * T,
                              dpd + (size_t)tq * T, a->len[b], a->scale, dcb + (size_t)tq * D, q + (size_t)tq * ld, k, ld, hd,
                              a->dqkv + ((size_t)b * T + tq) * ld + h * hd, a->dqkv + (size_t)b * T * ld + D + h * hd,
                              a->dqkv + (size_t)b * T * ld + 2 * D + h * hd);
    }
}

void bml__nn_mha_backward(float *dx, float *dw_in, float *db_in, float *dw_out, float *db_out, const float *dout,
                         const float *x, const float *qkv, const float *probs, const float *dmask, const float *ctx,
                         const int *len, const float *w_in, const float *w_out, int B, int T, int D, int nh, float *scratch) {
    int hd = D / nh;
    float *dqkv = scratch;                      /* (B, T, 3D) */
    float *dctx = dqkv + (size_t)B * T * 3 * D; /* (B, T, D) d ctx = dout W_out */
    float *dpd = dctx + (size_t)B * T * D;      /* (B, T, T) one (T, T) work matrix per sample */
    memset(dqkv, 0, (size_t)B * T * 3 * D * sizeof *dqkv);
    memset(dctx, 0, (size_t)B * T * D * sizeof *dctx);
    bml__nn_linear_backward(dctx, dw_out, db_out, dout, ctx, w_out, B * T, D, D);
    mha_args a = {.qkv = qkv, .probs_c = probs, .dmask = dmask, .dctx = dctx, .dqkv = dqkv, .dpd = dpd, .len = len, .T = T,
                  .D = D, .nh = nh, .hd = hd, .scale = 1.0f / sqrtf((float)hd)};
    bml__nn_parallel_for(B, mha_backward_sample, &a);
    bml__nn_linear_backward(dx, dw_in, db_in, dqkv, x, w_in, B * T, D, 3 * D);
}

size_t bml__nn_mha_backward_scratch(int B, int T, int D) { return (size_t)B * T * 4 * D + (size_t)B * T * T; }

void bml__nn_mha_first_forward(float *out, float *q, float *kv, float *probs, float *dmask, float *ctx, const float *x,
                              const int *len, const float *w_in, const float *b_in, const float *w_out, const float *b_out,
                              int B, int T, int D, int nh, float dropout, int training, bml_nn_rng *rng) {
    int hd = D / nh;
    float scale = 1.0f / sqrtf((float)hd);
    size_t ldx = (size_t)T * D; /* row stride of the first steps x[:, 0] */
    /* q (B, D) = x[:, 0] W_q^T + b_q; kv (B, T, 2D) = x W_kv^T + b_kv (the in-projection's rows D..3D) */
    bml__nn_gemm(0, 1, B, D, D, 1.0f, x, (int)ldx, w_in, D, 0.0f, q, D);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++) q[(size_t)b * D + i] += b_in[i];
    bml__nn_linear_forward(kv, x, w_in + (size_t)D * D, b_in + D, B * T, D, 2 * D);
    memset(ctx, 0, (size_t)B * D * sizeof *ctx);
    attn_dropout_draw(dmask, (size_t)B * nh * T, dropout, training, rng);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            const float *qh = q + (size_t)b * D + h * hd;
            const float *k = kv + (size_t)b * T * 2 * D + h * hd, *v = k + D; /* row stride 2D */
            float *p = probs + ((size_t)b * nh + h) * T;
            for (int tk = 0; tk < len[b]; tk++) {
                float sc = 0;
                for (int i = 0; i < hd; i++) sc += (qh[i] * scale) * k[(size_t)tk * 2 * D + i];
                p[tk] = sc;
            }
            attn_row_forward(p, dmask + ((size_t)b * nh + h) * T, len[b], T, v, 2 * (size_t)D, hd, ctx + (size_t)b * D + h * hd);
        }
    bml__nn_linear_forward(out, ctx, w_out, b_out, B, D, D);
}

size_t bml__nn_mha_first_backward_scratch(int B, int T, int D) { return (size_t)B * T * 2 * D + 2 * (size_t)B * D + (size_t)T; }

void bml__nn_mha_first_backward(float *dx, float *dw_in, float *db_in, float *dw_out, float *db_out, const float *dout,
                               const float *x, const float *q, const float *kv, const float *probs, const float *dmask,
                               const float *ctx, const int *len, const float *w_in, const float *w_out, int B, int T, int D,
                               int nh, float *scratch) {
    int hd = D / nh;
    float scale = 1.0f / sqrtf((float)hd);
    size_t ldx = (size_t)T * D;
    float *dkv = scratch;                       /* (B, T, 2D) */
    float *dq = dkv + (size_t)B * T * 2 * D;    /* (B, D) */
    float *dctx = dq + (size_t)B * D;           /* (B, D) */
    float *dp = dctx + (size_t)B * D;           /* (T) */
    memset(dkv, 0, ((size_t)B * T * 2 * D + 2 * (size_t)B * D) * sizeof *dkv);
    bml__nn_linear_backward(dctx, dw_out, db_out, dout, ctx, w_out, B, D, D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            const float *qh = q + (size_t)b * D + h * hd, *dc = dctx + (size_t)b * D + h * hd;
            const float *k = kv + (size_t)b * T * 2 * D + h * hd, *v = k + D;
            float *dk = dkv + (size_t)b * T * 2 * D + h * hd, *dv = dk + D, *dqh = dq + (size_t)b * D + h * hd;
            for (int tk = 0; tk < len[b]; tk++) { /* d (p dm) = d ctx . v */
                const float *vr = v + (size_t)tk * 2 * D;
                float sv = 0;
                for (int i = 0; i < hd; i++) sv += dc[i] * vr[i];
                dp[tk] = sv;
            }
            attn_row_backward(probs + ((size_t)b * nh + h) * T, dmask + ((size_t)b * nh + h) * T, dp, len[b], scale, dc, qh, k,
                              2 * (size_t)D, hd, dqh, dk, dv);
        }
    /* keys and values: every step; the query: the first steps, rows ldx apart */
    bml__nn_linear_backward(dx, dw_in + (size_t)D * D, db_in + D, dkv, x, w_in + (size_t)D * D, B * T, D, 2 * D);
    bml__nn_gemm(1, 0, D, D, B, 1.0f, dq, D, x, (int)ldx, 1.0f, dw_in, D);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++) db_in[i] += dq[(size_t)b * D + i];
    if (dx) bml__nn_gemm(0, 0, B, D, D, 1.0f, dq, D, w_in, D, 1.0f, dx, (int)ldx);
}

void bml__nn_mha_average_heads(float *avg, const float *probs, int B, int T, int nh) {
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < (size_t)T * T; i++) {
            float s = 0;
            for (int h = 0; h < nh; h++) s += probs[((size_t)b * nh + h) * T * T + i];
            avg[(size_t)b * T * T + i] = s / (float)nh;
        }
}

/* ------------------------------------------------------------------ Conv1d k3 p1 (channels last) */
void bml__nn_conv1d_k3_forward(float *out, float *col, const float *inp, const float *w, const float *b, int N, int L,
                              int Cin, int Cout) {
    size_t K = (size_t)Cin * 3;
    for (int n = 0; n < N; n++)
        for (int l = 0; l < L; l++) {
            float *cr = col + ((size_t)n * L + l) * K;
            for (int ci = 0; ci < Cin; ci++)
                for (int kk = 0; kk < 3; kk++) {
                    int src = l + kk - 1;
                    cr[(size_t)ci * 3 + kk] = src >= 0 && src < L ? inp[((size_t)n * L + src) * Cin + ci] : 0.0f;
                }
        }
    bml__nn_linear_forward(out, col, w, b, N * L, (int)K, Cout); /* w (Cout, Cin, 3) is (Cout, K) */
}

void bml__nn_conv1d_k3_backward(float *dinp, float *dw, float *db, const float *dout, const float *col, const float *w,
                               int N, int L, int Cin, int Cout, float *scratch) {
    size_t K = (size_t)Cin * 3;
    float *dcol = scratch;
    /* dcol (N L, K) = dout w, written (not added into a zeroed buffer: the same sums, and a -0 sum, which
     * would have become +0, adds into dinp alike) */
    if (dinp) bml__nn_gemm(0, 0, N * L, (int)K, Cout, 1.0f, dout, Cout, w, (int)K, 0.0f, dcol, (int)K);
    bml__nn_linear_backward(NULL, dw, db, dout, col, w, N * L, (int)K, Cout);
    if (!dinp) return;
    for (int n = 0; n < N; n++)
        for (int l = 0; l < L; l++) {
            const float *dr = dcol + ((size_t)n * L + l) * K;
            for (int ci = 0; ci < Cin; ci++)
                for (int kk = 0; kk < 3; kk++) {
                    int src = l + kk - 1;
                    if (src >= 0 && src < L) dinp[((size_t)n * L + src) * Cin + ci] += dr[(size_t)ci * 3 + kk];
                }
        }
}

/* ------------------------------------------------------------------ BatchNorm1d */
/* Both passes walk the rows in memory order and keep per-channel sums (C <= 4096). */
#define BN_MAX_C 4096
/* built for AVX-512 and AVX2 as well, without FMA: the per-channel loops vectorise across the channels,
 * each channel's sum keeps its order, so the same bits on every CPU (static: see tanh_forward, layers.c) */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
batchnorm_forward(float *out, float *mean, float *rstd, float *run_mean, float *run_var, const float *inp, const float *w,
                  const float *b, const float *row_w, int R, int C, float eps, float momentum, int training) {
    if (training) {
        double sum[BN_MAX_C] = {0}, ss[BN_MAX_C] = {0}, cnt = 0;
        for (int r = 0; r < R; r++) {
            if (row_w && row_w[r] == 0) continue;
            const float *x = inp + (size_t)r * C;
            for (int c = 0; c < C; c++) sum[c] += x[c];
            cnt++;
        }
        for (int c = 0; c < C; c++) sum[c] = cnt ? sum[c] / cnt : 0; /* now the means */
        for (int r = 0; r < R; r++) {
            if (row_w && row_w[r] == 0) continue;
            const float *x = inp + (size_t)r * C;
            for (int c = 0; c < C; c++) ss[c] += (x[c] - sum[c]) * (x[c] - sum[c]);
        }
        for (int c = 0; c < C; c++) {
            double var = cnt ? ss[c] / cnt : 0;
            mean[c] = (float)sum[c];
            rstd[c] = (float)(1.0 / sqrt(var + eps));
            run_mean[c] = (1 - momentum) * run_mean[c] + momentum * (float)sum[c];
            run_var[c] = (1 - momentum) * run_var[c] + momentum * (float)(cnt > 1 ? ss[c] / (cnt - 1) : var);
        }
    } else {
        for (int c = 0; c < C; c++) {
            mean[c] = run_mean[c];
            rstd[c] = 1.0f / sqrtf(run_var[c] + eps);
        }
    }
    for (int r = 0; r < R; r++) {
        const float *x = inp + (size_t)r * C;
        float *o = out + (size_t)r * C;
        for (int c = 0; c < C; c++) o[c] = (x[c] - mean[c]) * rstd[c] * w[c] + b[c];
    }
}

void bml__nn_batchnorm_forward(float *out, float *mean, float *rstd, float *run_mean, float *run_var, const float *inp,
                              const float *w, const float *b, const float *row_w, int R, int C, float eps, float momentum,
                              int training) {
    batchnorm_forward(out, mean, rstd, run_mean, run_var, inp, w, b, row_w, R, C, eps, momentum, training);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, const float *mean,
                   const float *rstd, const float *row_w, int R, int C, int training) {
    double sd[BN_MAX_C] = {0}, sdx[BN_MAX_C] = {0}, cnt = 0;
    for (int r = 0; r < R; r++) {
        if (row_w && row_w[r] == 0) continue;
        const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - mean[c]) * rstd[c];
            sd[c] += d[c];
            sdx[c] += d[c] * xhat;
        }
        cnt++;
    }
    for (int c = 0; c < C; c++) {
        if (dw) dw[c] += (float)sdx[c];
        if (db) db[c] += (float)sd[c];
    }
    if (!dinp) return;
    float md[BN_MAX_C], mdx[BN_MAX_C];
    for (int c = 0; c < C; c++) {
        md[c] = training && cnt ? (float)(sd[c] * w[c] / cnt) : 0.0f;
        mdx[c] = training && cnt ? (float)(sdx[c] * w[c] / cnt) : 0.0f;
    }
    for (int r = 0; r < R; r++) {
        if (row_w && row_w[r] == 0) continue;
        const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
        float *di = dinp + (size_t)r * C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - mean[c]) * rstd[c];
            di[c] += rstd[c] * (d[c] * w[c] - md[c] - xhat * mdx[c]);
        }
    }
}

void bml__nn_batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, const float *row_w, int R, int C, int training) {
    batchnorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, row_w, R, C, training);
}

/* ------------------------------------------------------------------ mean over the middle axis */
void bml__nn_mean_mid_forward(float *out, const float *inp, int N, int L, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            float s = 0;
            for (int l = 0; l < L; l++) s += inp[((size_t)n * L + l) * C + c];
            out[(size_t)n * C + c] = s / (float)L;
        }
}

void bml__nn_mean_mid_backward(float *dinp, const float *dout, int N, int L, int C) {
    for (int n = 0; n < N; n++)
        for (int l = 0; l < L; l++)
            for (int c = 0; c < C; c++) dinp[((size_t)n * L + l) * C + c] += dout[(size_t)n * C + c] / (float)L;
}
