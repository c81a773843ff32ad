/* The latent ODE block and the 3-layer tanh MLP (see ode_block.h). */
#include "nn/ode_block.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/fastmath.h"
#include "nn/par.h"

size_t bml__mlp3_sizes(int d0, int d1, int d2, int d3, size_t sizes[6]) {
    int d[4] = {d0, d1, d2, d3};
    size_t total = 0;
    for (int l = 0; l < 3; l++) {
        sizes[2 * l] = (size_t)d[l + 1] * (size_t)d[l];
        sizes[2 * l + 1] = (size_t)d[l + 1];
        total += sizes[2 * l] + sizes[2 * l + 1];
    }
    return total;
}

void bml__mlp3_bind(bml__mlp3 *m, int d0, int d1, int d2, int d3, float *params, float *grads, size_t off) {
    m->d[0] = d0, m->d[1] = d1, m->d[2] = d2, m->d[3] = d3;
    for (int l = 0; l < 3; l++) {
        size_t nw = (size_t)m->d[l + 1] * (size_t)m->d[l], nb = (size_t)m->d[l + 1];
        m->w[l] = params + off, m->dw[l] = grads + off;
        m->b[l] = params + off + nw, m->db[l] = grads + off + nw;
        off += nw + nb;
    }
}


/* ---- the block ---- */

void bml__ode_block_release(bml__ode_block *o) {
    if (!o) return;
    free(o->grid), free(o->slot), free(o->y0), free(o->ysol);
    free(o->in_f), free(o->h1_f), free(o->h2_f), free(o->out_f), free(o->dh_a), free(o->dh_b);
    free(o->dyn_g), free(o->dp_dyn), free(o->last_y), free(o->act), free(o->act_ok), free(o->stages), free(o->wbuf);
    free(o->wt);
    for (int k = 0; k < BML_ODE_MAX_SHARDS; k++) {
        if (o->shard[k]) bml__ode_block_release(o->shard[k]), free(o->shard[k]);
        free(o->shard_err[k]);
    }
    bml__dp_tape_free(&o->tape);
    memset(o, 0, sizeof *o);
}

size_t bml__ode_block_param_sizes(const bml__ode_block *o, size_t sizes[6]) {
    return bml__mlp3_sizes(o->D + 1, o->H, o->H, o->D, sizes);
}

bml_status bml__ode_block_init(bml__ode_block *o, int D, int H, const bml_ode_opts *solver, int use_adjoint) {
    memset(o, 0, sizeof *o);
    if (use_adjoint && solver->method != BML_ODE_DOPRI5) return bml__fail(BML_ERR_VALUE, "use_adjoint needs solver dopri5");
    o->D = D, o->H = H, o->solver = *solver, o->use_adjoint = use_adjoint;
    o->solver.norm_groups = NULL, o->solver.n_norm_groups = 0, o->solver.grad_through_controller = 0;
    o->max_shards = BML_ODE_MAX_SHARDS, o->n_shards = 1;
    o->n_dyn = bml__ode_block_param_sizes(o, o->sizes);
    o->dyn_g = bml__calloc(o->n_dyn, sizeof *o->dyn_g);
    o->dp_dyn = bml__calloc(o->n_dyn, sizeof *o->dp_dyn);
    o->wt = bml__calloc(o->sizes[0] + o->sizes[2] + o->sizes[4], sizeof *o->wt);
    if (!o->dyn_g || !o->dp_dyn || !o->wt) {
        bml__ode_block_release(o);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t l = 0, off = 0; l < 3; l++) { /* the vjp's gradient views, laid out as the dynamics tensors */
        o->dyn_gw[l] = o->dyn_g + off, off += o->sizes[2 * l];
        o->dyn_gb[l] = o->dyn_g + off, off += o->sizes[2 * l + 1];
    }
    for (size_t l = 0, off = 0; l < 3; l++) o->wt_l[l] = o->wt + off, off += o->sizes[2 * l];
    return BML_OK;
}

void bml__ode_block_bind(bml__ode_block *o, float *params, float *grads, size_t off) {
    bml__mlp3_bind(&o->dyn, o->D + 1, o->H, o->H, o->D, params, grads, off);
}

static int grow(void **p, size_t need, size_t elem) {
    void *q = realloc(*p, (need ? need : 1) * elem);
    if (!q) return 1;
    *p = q;
    return 0;
}

static bml_status ensure(bml__ode_block *o, int B, int T, size_t K) {
    size_t bt = (size_t)B * (size_t)T, b = (size_t)B, H = (size_t)o->H, D = (size_t)o->D;
    size_t wide = H > D + 1 ? H : D + 1;
    int bad = 0;
    if (bt > o->cap_bt) {
        bad |= grow((void **)&o->slot, bt, sizeof *o->slot);
        bad |= grow((void **)&o->grid, bt + 1, sizeof *o->grid);
        if (!bad) o->cap_bt = bt;
    }
    if (b > o->cap_b) {
        bad |= grow((void **)&o->y0, b * D, sizeof *o->y0);
        bad |= grow((void **)&o->last_y, b * D, sizeof *o->last_y);
        bad |= grow((void **)&o->in_f, b * (D + 1), sizeof *o->in_f);
        bad |= grow((void **)&o->h1_f, b * H, sizeof *o->h1_f);
        bad |= grow((void **)&o->h2_f, b * H, sizeof *o->h2_f);
        bad |= grow((void **)&o->out_f, b * wide * 2, sizeof *o->out_f);
        bad |= grow((void **)&o->dh_a, b * wide, sizeof *o->dh_a);
        bad |= grow((void **)&o->dh_b, b * wide, sizeof *o->dh_b);
        if (!bad) o->cap_b = b;
    }
    if (K * b > o->cap_k) {
        bad |= grow((void **)&o->ysol, K * b * D, sizeof *o->ysol);
        if (!bad) o->cap_k = K * b;
    }
    return bad ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
}

/* ---- the dynamics over the flat state (B D) in double, evaluated in float ---- */

/* ---- the dynamics' products, fused with their bias, tanh and tanh' (AVX-512) ----
 * out (M, N) = op (acc + bias) where acc(i, j) = sum_k A(i, k) B(k, j), summed from zero in k order with
 * fused multiply-adds (A(i, k) = a[i ai + k ak], B(k, j) = b[k ldb + j]), then op: the bias added (bias not
 * NULL), or the product times 1 - g^2 (g not NULL, (M, N) with rows ldc apart): exactly what bml__nn_gemm
 * and the separate passes of the layers give, bit for bit, without the bias copy, the output tile's round
 * trip and the packing of a last narrow panel (masked loads instead). Without AVX-512, bml__nn_gemm. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DYN_AVX512 1
#include <immintrin.h>

enum { EPI_PLAIN, EPI_BIAS, EPI_DTANH, EPI_ADD }; /* the epilogue: acc, acc + bias, acc (1 - g^2), acc + c */

__attribute__((target("avx512f"), always_inline)) static inline void
dyn_tile(int mr, int epi, int K, const float *a, size_t ai, size_t ak, const float *b, size_t ldb, __mmask16 m0,
         __mmask16 m1, const float *e, float *c, size_t ldc) {
    __m512 acc[8][2];
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        const float *bk = b + (size_t)k * ldb, *ak_ = a + (size_t)k * ak;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bk), b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(ak_[(size_t)r * ai]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < mr; r++) {
        __m512 v0 = acc[r][0], v1 = acc[r][1];
        if (epi == EPI_BIAS) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, e));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, e + 16));
        } else if (epi == EPI_DTANH) {
            __m512 one = _mm512_set1_ps(1.0f);
            __m512 g0 = _mm512_maskz_loadu_ps(m0, e + (size_t)r * ldc), g1 = _mm512_maskz_loadu_ps(m1, e + (size_t)r * ldc + 16);
            v0 = _mm512_mul_ps(v0, _mm512_sub_ps(one, _mm512_mul_ps(g0, g0)));
            v1 = _mm512_mul_ps(v1, _mm512_sub_ps(one, _mm512_mul_ps(g1, g1)));
        } else if (epi == EPI_ADD) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c + (size_t)r * ldc));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + (size_t)r * ldc + 16));
        }
        _mm512_mask_storeu_ps(c + (size_t)r * ldc, m0, v0);
        _mm512_mask_storeu_ps(c + (size_t)r * ldc + 16, m1, v1);
    }
}

/* e: the bias (EPI_BIAS) or g (EPI_DTANH, rows ldc apart); a constant epilogue and row count per instance,
 * so that the accumulators stay in registers */
#define DYN_GEMM512(NAME, EPI)                                                                                         \
    __attribute__((target("avx512f"))) static void NAME(int M, int N, int K, const float *a, size_t ai, size_t ak,      \
                                                        const float *b, size_t ldb, const float *e, float *c, size_t ldc) { \
        for (int j0 = 0; j0 < N; j0 += 32) {                                                                           \
            int w = N - j0 < 32 ? N - j0 : 32;                                                                         \
            __mmask16 m0 = (__mmask16)(w >= 16 ? 0xFFFFu : (1u << w) - 1);                                             \
            __mmask16 m1 = (__mmask16)(w <= 16 ? 0u : w >= 32 ? 0xFFFFu : (1u << (w - 16)) - 1);                       \
            const float *bj = b + j0;                                                                                  \
            for (int i0 = 0; i0 < M; i0 += 8) {                                                                        \
                int mr = M - i0 < 8 ? M - i0 : 8;                                                                      \
                const float *ai0 = a + (size_t)i0 * ai;                                                                \
                const float *ei = EPI == EPI_BIAS ? e + j0 : EPI == EPI_DTANH ? e + (size_t)i0 * ldc + j0 : NULL;       \
                float *ci = c + (size_t)i0 * ldc + j0;                                                                 \
                switch (mr) {                                                                                          \
                case 8: dyn_tile(8, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                         \
                case 7: dyn_tile(7, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                         \
                case 6: dyn_tile(6, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                         \
                case 5: dyn_tile(5, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                         \
                case 4: dyn_tile(4, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                         \
                case 3: dyn_tile(3, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                         \
                case 2: dyn_tile(2, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                         \
                default: dyn_tile(1, EPI, K, ai0, ai, ak, bj, ldb, m0, m1, ei, ci, ldc); break;                        \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }
DYN_GEMM512(gemm512_plain, EPI_PLAIN)
DYN_GEMM512(gemm512_bias, EPI_BIAS)
DYN_GEMM512(gemm512_dtanh, EPI_DTANH)
DYN_GEMM512(gemm512_add, EPI_ADD)

__attribute__((target("avx512f"))) static void tanh512(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = bml__tanh_fast(x[i]);
}

static int plain_only; /* tests: bml__nn_gemm's path however the CPU is */
static int have_avx512(void) { return !plain_only && __builtin_cpu_supports("avx512f") ? 1 : 0; }
#else
#define DYN_AVX512 0
static int plain_only;
#endif

int bml__ode_block_plain_products(int on) {
    int was = plain_only;
    plain_only = on;
    return was;
}

/* c (M, N) = op(a) (M, K) @ b (K, N) + bias, or times 1 - g^2 (see above), or added to c (accumulate): one
 * of the three at most; trans_a: a is (K, M) */
static void dyn_gemm(int trans_a, int M, int N, int K, const float *a, int lda, const float *b, int ldb, const float *bias,
                     const float *g, int accumulate, float *c, int ldc) {
#if DYN_AVX512
    /* a product big enough to be shared among threads goes to bml__nn_gemm (the same sums either way) */
    if (have_avx512() && ((double)M * N * K < (1 << 21) || bml__nn_threads() < 2)) {
        size_t ai = trans_a ? 1 : (size_t)lda, ak = trans_a ? (size_t)lda : 1;
        if (bias) gemm512_bias(M, N, K, a, ai, ak, b, (size_t)ldb, bias, c, (size_t)ldc);
        else if (g) gemm512_dtanh(M, N, K, a, ai, ak, b, (size_t)ldb, g, c, (size_t)ldc);
        else if (accumulate) gemm512_add(M, N, K, a, ai, ak, b, (size_t)ldb, NULL, c, (size_t)ldc);
        else gemm512_plain(M, N, K, a, ai, ak, b, (size_t)ldb, NULL, c, (size_t)ldc);
        return;
    }
#endif
    if (bias)
        for (int i = 0; i < M; i++) memcpy(c + (size_t)i * ldc, bias, (size_t)N * sizeof *c);
    bml__nn_gemm(trans_a, 0, M, N, K, 1.0f, a, lda, b, ldb, bias || accumulate ? 1.0f : 0.0f, c, ldc);
    if (g)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) c[(size_t)i * ldc + j] *= 1.0f - g[(size_t)i * ldc + j] * g[(size_t)i * ldc + j];
}

static void dyn_tanh(float *x, size_t n) {
#if DYN_AVX512
    if (have_avx512()) {
        tanh512(x, n);
        return;
    }
#endif
    bml__nn_tanh_forward(x, x, n);
}

/* d[i] += s[i] in double, and db (OC) = the column sums of g (N, OC) from zero in row order: plain loops,
 * built for AVX-512 as well (the same operations, element by element) */
#define ADD_F2D_BODY                                                                                                   \
    for (size_t i = 0; i < n; i++) d[i] += (double)s[i];
#define COLSUM_BODY                                                                                                    \
    for (int j = 0; j < OC; j++) db[j] = 0.0f;                                                                         \
    for (int r = 0; r < N; r++)                                                                                        \
        for (int j = 0; j < OC; j++) db[j] += g[(size_t)r * OC + j];
#if DYN_AVX512
__attribute__((target("avx512f"))) static void add_f2d512(double *d, const float *s, size_t n) { ADD_F2D_BODY }
__attribute__((target("avx512f"))) static void colsum512(float *db, const float *g, int N, int OC) { COLSUM_BODY }
#endif

static void add_f2d(double *d, const float *s, size_t n) {
#if DYN_AVX512
    if (have_avx512()) {
        add_f2d512(d, s, n);
        return;
    }
#endif
    ADD_F2D_BODY
}

static void colsum(float *db, const float *g, int N, int OC) {
#if DYN_AVX512
    if (have_avx512()) {
        colsum512(db, g, N, OC);
        return;
    }
#endif
    COLSUM_BODY
}

/* ---- the encoder's and decoder's MLP, on the same products ---- */

#define MLP3_WT_MAX 8192 /* a transposed weight on the stack up to this size; bigger ones take bml__nn_gemm's path */

void bml__mlp3_forward(const bml__mlp3 *m, const float *x, int N, float *h0, float *h1, float *out) {
    const float *src = x;
    float *dst[3] = {h0, h1, out};
    float wt[MLP3_WT_MAX];
    for (int l = 0; l < 3; l++) {
        int C = m->d[l], OC = m->d[l + 1];
        size_t n = (size_t)N * (size_t)OC;
        if ((size_t)C * (size_t)OC <= MLP3_WT_MAX) {
            for (int i = 0; i < OC; i++)
                for (int k = 0; k < C; k++) wt[(size_t)k * OC + i] = m->w[l][(size_t)i * C + k];
            dyn_gemm(0, N, OC, C, src, C, wt, OC, m->b[l], NULL, 0, dst[l], OC);
        } else
            bml__nn_linear_forward(dst[l], src, m->w[l], m->b[l], N, C, OC);
        if (l < 2) dyn_tanh(dst[l], n);
        src = dst[l];
    }
}

void bml__mlp3_backward(const bml__mlp3 *m, float *const dw[3], float *const db[3], const float *x, const float *h0,
                        const float *h1, const float *dout, int N, float *dx, float *s0, float *s1) {
    const float *act[3] = {x, h0, h1}, *g = dout;
    float *s[3] = {dx, s0, s1};
    for (int l = 2; l >= 0; l--) {
        int C = m->d[l], OC = m->d[l + 1];
        /* dinp = g @ w: times tanh' of the layer's input, or added to dx at the first */
        if (s[l]) dyn_gemm(0, N, C, OC, g, OC, m->w[l], C, NULL, l > 0 ? act[l] : NULL, l == 0, s[l], C);
        if (dw[l]) dyn_gemm(1, OC, C, N, g, OC, act[l], C, NULL, NULL, 1, dw[l], C); /* dw += g^T @ inp */
        if (db[l])
            for (int n = 0; n < N; n++)
                for (int o = 0; o < OC; o++) db[l][o] += g[(size_t)n * OC + o];
        g = s[l];
    }
}

/* the weights transposed, for the products of this pass (the weights change only between passes) */
static void refresh_wt(bml__ode_block *o) {
    const bml__mlp3 *m = &o->dyn;
    for (int l = 0; l < 3; l++) {
        int C = m->d[l], OC = m->d[l + 1];
        const float *w = m->w[l];
        float *wt = o->wt_l[l];
        for (int i = 0; i < OC; i++)
            for (int k = 0; k < C; k++) wt[(size_t)k * OC + i] = w[(size_t)i * C + k];
    }
}

/* bml__mlp3_forward of the dynamics, bit for bit (every element summed in k order from the bias), with
 * the products reading the transposed weights: N rows of in (N, D + 1) to h1, h2 (N, H) and out (N, D) */
static void dyn_forward(const bml__ode_block *o, const float *in, int N, float *h1, float *h2, float *out) {
    const bml__mlp3 *m = &o->dyn;
    const float *src = in;
    float *dst[3] = {h1, h2, out};
    for (int l = 0; l < 3; l++) {
        int C = m->d[l], OC = m->d[l + 1];
        dyn_gemm(0, N, OC, C, src, C, o->wt_l[l], OC, m->b[l], NULL, 0, dst[l], OC);
        if (l < 2) dyn_tanh(dst[l], (size_t)N * (size_t)OC);
        src = dst[l];
    }
}

/* the backward of dyn_forward into the gradient views dyn_gw, dyn_gb (overwritten: no zeroing first) and
 * dx (N, D + 1), of which only the first D columns unless with_t */
static void dyn_backward(bml__ode_block *o, const float *in, const float *h1, const float *h2, const float *dout, int N,
                         float *dx, int with_t) {
    const bml__mlp3 *m = &o->dyn;
    const float *act[3] = {in, h1, h2}, *g = dout;
    float *s[3] = {dx, o->dh_a, o->dh_b};
    for (int l = 2; l >= 0; l--) {
        int C = m->d[l], OC = m->d[l + 1], NC = l == 0 && !with_t ? C - 1 : C;
        /* dinp = g @ w, times tanh' of the layer's input but at the first */
        dyn_gemm(0, N, NC, OC, g, OC, m->w[l], C, NULL, l > 0 ? act[l] : NULL, 0, s[l], C);
        dyn_gemm(1, OC, C, N, g, OC, act[l], C, NULL, NULL, 0, o->dyn_gw[l], C); /* dw = g^T @ inp */
        colsum(o->dyn_gb[l], g, N, OC);
        g = s[l];
    }
}

static void dyn_eval(bml__ode_block *o, double t, const double *y) {
    int D = o->D;
    size_t bd = (size_t)o->B * (size_t)D;
    if (o->last_ok && t == o->last_t && !memcmp(y, o->last_y, bd * sizeof *y)) return;
    for (int b = 0; b < o->B; b++) {
        for (int j = 0; j < D; j++) o->in_f[b * (D + 1) + j] = (float)y[b * D + j];
        o->in_f[b * (D + 1) + D] = (float)t;
    }
    dyn_forward(o, o->in_f, o->B, o->h1_f, o->h2_f, o->out_f);
    memcpy(o->last_y, y, bd * sizeof *y);
    o->last_t = t, o->last_ok = 1;
}

/* the slot (step * stages + stage) of the forward solve's record whose stage input y is, or -1 when y is
 * not one: the dopri5 tape's or the fixed-grid stage record's */
static long tape_slot(const bml__ode_block *o, const double *y) {
    size_t n = (size_t)o->B * (size_t)o->D;
    const double *base = o->solver.method == BML_ODE_DOPRI5 ? o->tape.YS : o->stages;
    size_t count = o->solver.method == BML_ODE_DOPRI5 ? o->tape.cap * 6 : o->stages_cap / (n ? n : 1);
    uintptr_t a = (uintptr_t)y, lo = (uintptr_t)base, hi = lo + count * n * sizeof(double);
    if (!base || a < lo || a >= hi || (a - lo) % (n * sizeof(double))) return -1;
    return (long)((a - lo) / (n * sizeof(double)));
}

/* the three activation buffers of slot i of the cache */
static void act_views(const bml__ode_block *o, size_t i, float **in, float **h1, float **h2) {
    size_t B = (size_t)o->B;
    *in = o->act + i * o->act_stride;
    *h1 = *in + B * (size_t)(o->D + 1);
    *h2 = *h1 + B * (size_t)o->H;
}

/* room in the cache for slot i; 0 without memory (then the activations are simply not kept) */
static int act_room(bml__ode_block *o, long i) {
    if ((size_t)i < o->act_cap) return 1;
    size_t cap = o->act_cap ? o->act_cap : 64;
    while (cap <= (size_t)i) cap *= 2;
    float *a = realloc(o->act, cap * o->act_stride * sizeof *a);
    if (a) o->act = a;
    unsigned char *ok = realloc(o->act_ok, cap);
    if (ok) o->act_ok = ok;
    if (!a || !ok) return 0;
    memset(o->act_ok + o->act_cap, 0, cap - o->act_cap);
    o->act_cap = cap;
    return 1;
}

static void dyn_f(void *vc, double t, const double *y, double *dy) {
    bml__ode_block *o = vc;
    o->last_ok = 0; /* out_f is rewritten by every vjp: evaluate afresh */
    long slot = o->recording ? tape_slot(o, y) : -1;
    if (slot >= 0 && act_room(o, slot)) { /* a stage of the recorded solve: evaluate straight into the cache */
        int D = o->D;
        float *in, *h1, *h2;
        act_views(o, (size_t)slot, &in, &h1, &h2);
        for (int b = 0; b < o->B; b++) {
            for (int j = 0; j < D; j++) in[b * (D + 1) + j] = (float)y[b * D + j];
            in[b * (D + 1) + D] = (float)t;
        }
        dyn_forward(o, in, o->B, h1, h2, o->out_f);
        o->act_ok[slot] = 1;
    } else
        dyn_eval(o, t, y);
    for (size_t i = 0; i < (size_t)o->B * (size_t)o->D; i++) dy[i] = o->out_f[i];
}

static void dyn_vjp(void *vc, double t, const double *y, const double *v, double *dy, double *dparams, double *dt) {
    bml__ode_block *o = vc;
    int B = o->B, D = o->D;
    size_t bd = (size_t)B * (size_t)D;
    const float *in = o->in_f, *h1 = o->h1_f, *h2 = o->h2_f;
    long slot = tape_slot(o, y);
    if (slot >= 0 && (size_t)slot < o->act_cap && o->act_ok[slot]) { /* the forward solve's own evaluation there */
        float *ci, *c1, *c2;
        act_views(o, (size_t)slot, &ci, &c1, &c2);
        in = ci, h1 = c1, h2 = c2;
    } else {
        dyn_eval(o, t, y);
    }
    float *vf = o->out_f, *dx = o->out_f + (size_t)B * (size_t)(D + 1 > o->H ? D + 1 : o->H);
    for (size_t i = 0; i < bd; i++) vf[i] = (float)v[i];
    dyn_backward(o, in, h1, h2, vf, B, dx, dt != NULL);
    for (int b = 0; b < B; b++) {
        add_f2d(dy + (size_t)b * D, dx + (size_t)b * (D + 1), (size_t)D);
        if (dt) *dt += dx[b * (D + 1) + D];
    }
    add_f2d(dparams, o->dyn_g, o->n_dyn);
}

/* the first index of sorted a (n) whose value is not below v */
static size_t lower_bound(const double *a, size_t n, double v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bml_status solve_rows(bml__ode_block *o);

/* ys (batch, T, D) of the rows [row0, row0 + src->B) of the batch from src's solution (the batch's own block, or
 * a shard of it), 0 at padded steps (slot (batch, T): -1) */
static void read_out(const bml__ode_block *src, const int *slot, int T, int row0, float *ys) {
    int D = src->D;
    size_t bd = (size_t)src->B * (size_t)D;
    for (int b = 0; b < src->B; b++)
        for (int t = 0; t < T; t++) {
            float *y = ys + ((size_t)(row0 + b) * T + t) * D;
            int s = slot[(row0 + b) * T + t];
            for (int j = 0; j < D; j++) y[j] = s < 0 ? 0.0f : (float)src->ysol[(size_t)s * bd + (size_t)b * D + j];
        }
}
static bml_status backward_rows(bml__ode_block *o, const float *dys, int T, const int *slot, int row0);

/* ---- shards: blocks of consecutive rows of one batch (see ode_block.h) ---- */
typedef struct {
    bml__ode_block *o;
    const float *y0, *dys;
} shard_args;

/* shard k of o for its rows of the batch: a block sharing o's dynamics, over o's grid, from y0's rows */
static bml_status shard_prepare(bml__ode_block *o, int k, const float *y0) {
    bml__ode_block *sh = o->shard[k];
    if (!sh) {
        sh = calloc(1, sizeof *sh);
        if (!sh) return bml__fail(BML_ERR_NOMEM, "out of memory");
        bml_status st = bml__ode_block_init(sh, o->D, o->H, &o->solver, 0);
        if (st != BML_OK) {
            free(sh);
            return st;
        }
        sh->max_shards = 1;
        o->shard[k] = sh;
    }
    sh->dyn = o->dyn; /* the owner's parameter views; the shard writes no gradients there */
    int r0 = o->shard_row0[k], B = o->shard_row0[k + 1] - r0, K = o->K;
    BML__TRY(ensure(sh, B, K / B + 2, (size_t)K)); /* the grid: B (K / B + 2) + 1 > K */
    sh->B = B, sh->T = 0, sh->K = K;
    memcpy(sh->grid, o->grid, (size_t)K * sizeof *sh->grid);
    for (size_t i = 0; i < (size_t)B * (size_t)o->D; i++) sh->y0[i] = y0[(size_t)r0 * o->D + i];
    sh->last_ok = 0;
    refresh_wt(sh);
    return BML_OK;
}

/* a shard's outcome, with its message kept (it may have run on another thread) */
static void shard_done(bml__ode_block *o, int k, bml_status st) {
    free(o->shard_err[k]);
    o->shard_err[k] = st != BML_OK ? bml__strdup(bml_last_error()) : NULL;
    o->shard_status[k] = st;
}

/* the first failing shard's status and message on the calling thread, or BML_OK */
static bml_status shards_status(const bml__ode_block *o) {
    for (int k = 0; k < o->n_shards; k++)
        if (o->shard_status[k] != BML_OK) return bml__task_status(o->shard_status[k], o->shard_err[k]);
    return BML_OK;
}

static void shard_forward_task(void *arg, int k) {
    const shard_args *a = arg;
    bml__ode_block *o = a->o;
    bml_status st = shard_prepare(o, k, a->y0);
    if (st == BML_OK) st = solve_rows(o->shard[k]);
    shard_done(o, k, st);
}

static void shard_backward_task(void *arg, int k) {
    const shard_args *a = arg;
    bml__ode_block *o = a->o, *sh = o->shard[k];
    sh->dyn = o->dyn;
    shard_done(o, k, backward_rows(sh, a->dys, o->T, o->slot, o->shard_row0[k]));
}

bml_status bml__ode_block_forward(bml__ode_block *o, const float *x, int stride, int tcol, const float *mask, int B, int T,
                                  const float *y0, float *ys) {
    int D = o->D;
    BML__TRY(ensure(o, B, T, (size_t)B * (size_t)T + 1));
    o->B = B, o->T = T;
    o->last_ok = 0; /* the weights may have changed since */
    refresh_wt(o);
    /* the union of the shifted step times */
    size_t K = 0;
#define TAU(b, k) ((double)x[((size_t)(b) * T + (k)) * stride + tcol] - (double)x[(size_t)(b) * T * stride + tcol])
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++)
            if (mask[b * T + k] != 0) {
                double tau = TAU(b, k);
                if (!isfinite(tau) || tau < 0)
                    return bml__fail(BML_ERR_VALUE, "step times must be finite and increasing (sample %d, step %d)", b, k);
                o->grid[K++] = tau + 0.0; /* -0 as 0: which of the two a sort would keep is left to chance */
            }
    o->grid[K++] = 0;
    /* the distinct times, sorted: inserted one by one into a short list while they are few (the samples of a
     * batch mostly share their times), else by sorting them all */
    double few[256];
    size_t u = 0;
    for (size_t i = 0; i < K && u <= 256; i++) {
        double v = o->grid[i];
        size_t lo = lower_bound(few, u, v);
        if (lo < u && few[lo] == v) continue;
        if (u == 256) {
            u = 257; /* too many */
            break;
        }
        memmove(few + lo + 1, few + lo, (u - lo) * sizeof *few);
        few[lo] = v, u++;
    }
    if (u <= 256)
        memcpy(o->grid, few, u * sizeof *few);
    else {
        qsort(o->grid, K, sizeof *o->grid, cmp_double);
        u = 0;
        for (size_t i = 0; i < K; i++)
            if (u == 0 || o->grid[i] != o->grid[u - 1]) o->grid[u++] = o->grid[i];
    }
    K = u, o->K = (int)K;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++) {
            o->slot[b * T + k] = -1;
            if (mask[b * T + k] == 0) continue;
            double tau = TAU(b, k);
            o->slot[b * T + k] = (int)lower_bound(o->grid, K, tau + 0.0); /* present: the grid holds every step's */
        }
#undef TAU
    o->n_shards = 1;
    if (o->solver.method != BML_ODE_DOPRI5 && !o->use_adjoint && B >= 2 * BML_ODE_SHARD_MIN && o->max_shards > 1) {
        int S = B / BML_ODE_SHARD_MIN;
        S = S > o->max_shards ? o->max_shards : S > BML_ODE_MAX_SHARDS ? BML_ODE_MAX_SHARDS : S;
        o->n_shards = S;
        for (int k = 0; k <= S; k++) o->shard_row0[k] = (int)((long)k * B / S);
        shard_args a = {o, y0, NULL};
        bml__nn_parallel_for(S, shard_forward_task, &a);
        BML__TRY(shards_status(o));
        o->nfe_forward = o->shard[0]->nfe_forward; /* the batch's evaluations: every shard makes the same */
        for (int k = 0; k < S; k++) read_out(o->shard[k], o->slot, T, o->shard_row0[k], ys);
        return BML_OK;
    }
    for (size_t i = 0; i < (size_t)B * (size_t)D; i++) o->y0[i] = y0[i];
    BML__TRY(solve_rows(o));
    read_out(o, o->slot, T, 0, ys);
    return BML_OK;
}

/* the solve of o's B rows from o->y0 over o->grid (K): into o->ysol, recording what the backward pass needs */
static bml_status solve_rows(bml__ode_block *o) {
    int B = o->B, D = o->D;
    size_t K = (size_t)o->K, bd = (size_t)B * (size_t)D;
    o->nfe_forward = 0;
    bml__dp_tape_reset(&o->tape);
    size_t act_stride = (size_t)B * (size_t)(D + 1 + 2 * o->H);
    if (act_stride != o->act_stride) { /* another batch size: the cache's layout changes */
        free(o->act), free(o->act_ok);
        o->act = NULL, o->act_ok = NULL, o->act_cap = 0, o->act_stride = act_stride;
    }
    if (o->act_ok) memset(o->act_ok, 0, o->act_cap);
    if (o->solver.method == BML_ODE_DOPRI5 && !o->use_adjoint) { /* record the solve for the backward pass */
        o->recording = 1;
        bml_status st = bml__dopri5(dyn_f, o, bd, o->y0, o->grid, K, &o->solver, o->ysol, &o->nfe_forward, &o->tape);
        o->recording = 0;
        BML__TRY(st);
    } else if (o->solver.method != BML_ODE_DOPRI5) { /* euler / rk4: record the stage inputs for the backward pass */
        size_t need = (K - 1) * (size_t)bml__fixed_stages(o->solver.method) * bd;
        if (need > o->stages_cap) {
            double *p = realloc(o->stages, (need ? need : 1) * sizeof *p);
            if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
            o->stages = p, o->stages_cap = need;
        }
        o->recording = 1;
        bml_status st = bml__fixed_solve(dyn_f, o, bd, o->y0, o->grid, K, o->solver.method, o->ysol, &o->nfe_forward, o->stages);
        o->recording = 0;
        BML__TRY(st);
    } else
        BML__TRY(bml__ode_solve(dyn_f, o, bd, o->y0, o->grid, K, &o->solver, o->ysol, &o->nfe_forward));
    return BML_OK;
}

/* the backward pass of o's rows [row0, row0 + B) of the batch (dys (batch, T, D), slot (batch, T)): into
 * o->dp_dyn (the parameter gradient) and o->wbuf + K B D (d y0) */
static bml_status backward_rows(bml__ode_block *o, const float *dys, int T, const int *slot, int row0) {
    int B = o->B, D = o->D;
    size_t bd = (size_t)B * D, K = (size_t)o->K, need = (K + 1) * bd;
    if (need > o->wbuf_cap) { /* kept between batches: no allocation per backward pass */
        double *p = realloc(o->wbuf, need * sizeof *p);
        if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
        o->wbuf = p, o->wbuf_cap = need;
    }
    double *w = o->wbuf, *dz0 = o->wbuf + K * bd;
    memset(w, 0, need * sizeof *w);
    /* the loss's weights on the solution at each grid time */
    for (int b = 0; b < B; b++)
        for (int k = 0; k < T; k++) {
            int s = slot[(row0 + b) * T + k];
            if (s < 0) continue;
            for (int j = 0; j < D; j++) w[(size_t)s * bd + (size_t)b * D + j] += dys[((size_t)(row0 + b) * T + k) * D + j];
        }
    memset(o->dp_dyn, 0, o->n_dyn * sizeof *o->dp_dyn);
    o->nfe_backward = 0;
    refresh_wt(o); /* as the forward pass left them, unless the weights were changed in between */
    if (K == 1) {
        memcpy(dz0, w, bd * sizeof *dz0);
        return BML_OK;
    }
    if (o->use_adjoint) {
        long nf = 0;
        return bml__ode_adjoint_dopri5(dyn_f, dyn_vjp, o, bd, o->n_dyn, o->sizes, 6, o->y0, o->grid, K, &o->solver, w, dz0,
                                       o->dp_dyn, &nf, &o->nfe_backward);
    }
    if (o->solver.method == BML_ODE_DOPRI5)
        return bml__dopri5_backward(&o->tape, dyn_f, dyn_vjp, o, bd, o->y0, o->grid, K, &o->solver, w, dz0, o->dp_dyn);
    return bml__fixed_backward(dyn_vjp, o, bd, o->grid, K, o->solver.method, w, o->stages, dz0, o->dp_dyn);
}

bml_status bml__ode_block_backward(bml__ode_block *o, const float *dys, float *dy0) {
    int B = o->B, T = o->T, D = o->D;
    float *g = o->dyn.dw[0]; /* the dynamics tensors are contiguous from dw[0] */
    if (o->n_shards > 1) {
        shard_args a = {o, NULL, dys};
        bml__nn_parallel_for(o->n_shards, shard_backward_task, &a);
        BML__TRY(shards_status(o));
        for (size_t i = 0; i < o->n_dyn; i++) { /* shard by shard, in order */
            double acc = o->shard[0]->dp_dyn[i];
            for (int k = 1; k < o->n_shards; k++) acc += o->shard[k]->dp_dyn[i];
            g[i] += (float)acc;
        }
        o->nfe_backward = 0;
        for (int k = 0; k < o->n_shards; k++) {
            const bml__ode_block *sh = o->shard[k];
            const double *dz0 = sh->wbuf + (size_t)sh->K * (size_t)sh->B * (size_t)D;
            for (size_t i = 0; i < (size_t)sh->B * (size_t)D; i++) dy0[(size_t)o->shard_row0[k] * D + i] = (float)dz0[i];
            o->nfe_backward += k == 0 ? sh->nfe_backward : 0;
        }
        return BML_OK;
    }
    BML__TRY(backward_rows(o, dys, T, o->slot, 0));
    const double *dz0 = o->wbuf + (size_t)o->K * (size_t)B * (size_t)D;
    for (size_t i = 0; i < o->n_dyn; i++) g[i] += (float)o->dp_dyn[i];
    for (size_t i = 0; i < (size_t)B * (size_t)D; i++) dy0[i] = (float)dz0[i];
    return BML_OK;
}
