/* Layers: forward/backward pairs (see nn.h). References: PyTorch 1.13 semantics (FACTS.md section 3). */
#include <math.h>
#include <string.h>

#include "nn/fastmath.h"
#include "nn/nn.h"

/* ------------------------------------------------------------------ matrix products (bml__nn_gemm: gemm.c) */
void bml__nn_matmul_abt(float *out, const float *a, const float *b, int M, int N, int K, int accumulate) {
    bml__nn_gemm(0, 1, M, N, K, 1.0f, a, K, b, K, accumulate ? 1.0f : 0.0f, out, N);
}

void bml__nn_matmul_abt_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = accumulate ? out[i * N + j] : 0.0f;
            for (int k = 0; k < K; k++) s += a[i * K + k] * b[j * K + k];
            out[i * N + j] = s;
        }
}

void bml__nn_matmul_ab(float *out, const float *a, const float *b, int M, int N, int K, int accumulate) {
    bml__nn_gemm(0, 0, M, N, K, 1.0f, a, K, b, N, accumulate ? 1.0f : 0.0f, out, N);
}

void bml__nn_matmul_ab_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = accumulate ? out[i * N + j] : 0.0f;
            for (int k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
            out[i * N + j] = s;
        }
}

void bml__nn_matmul_atb(float *out, const float *a, const float *b, int M, int N, int K, int accumulate) {
    bml__nn_gemm(1, 0, M, N, K, 1.0f, a, M, b, N, accumulate ? 1.0f : 0.0f, out, N);
}

void bml__nn_matmul_atb_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = accumulate ? out[i * N + j] : 0.0f;
            for (int k = 0; k < K; k++) s += a[k * M + i] * b[k * N + j];
            out[i * N + j] = s;
        }
}

/* ------------------------------------------------------------------ Linear */
void bml__nn_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC) {
    /* out (N,OC) = inp (N,C) @ w (OC,C)^T + b */
    if (b)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, b, (size_t)OC * sizeof *out);
    bml__nn_matmul_abt(out, inp, w, N, OC, C, b != NULL);
}

void bml__nn_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            int N, int C, int OC) {
    if (dinp) bml__nn_matmul_ab(dinp, dout, w, N, C, OC, 1);  /* dinp (N,C) += dout (N,OC) @ w (OC,C) */
    if (dw) bml__nn_matmul_atb(dw, dout, inp, OC, C, N, 1);   /* dw (OC,C) += dout^T (OC,N) @ inp (N,C) */
    if (db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) db[o] += dout[(size_t)n * OC + o];
}

/* ------------------------------------------------------------------ activations */
void bml__nn_relu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void bml__nn_dropout_relu_backward_set(float *dinp, const float *dout, const float *mask, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float d = 0.0f + dout[i] * mask[i]; /* the adds into zeroed buffers of the two backwards, the same bits */
        dinp[i] = 0.0f + (out[i] > 0.0f ? d : 0.0f);
    }
}

void bml__nn_relu_backward_set(float *dinp, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float d = dout[i];
        dinp[i] = 0.0f + (out[i] > 0.0f ? d : 0.0f); /* what relu_backward adds into zeros, the same bits */
    }
}

void bml__nn_relu_backward(float *dinp, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float d = dout[i]; /* read unconditionally: a select the compiler vectorises, not a branch */
        dinp[i] += out[i] > 0.0f ? d : 0.0f;
    }
}

/* built for AVX-512 and AVX2 as well (no FMA: the same bits everywhere), chosen at load time where the CPU
 * has them; static, because the symbol
 * of a target_clones function keeps default visibility (it would leave the shared library) and clang 14
 * cannot call one from another file */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
tanh_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = bml__tanh_fast(inp[i]);
}

void bml__nn_tanh_forward(float *out, const float *inp, size_t n) { tanh_forward(out, inp, n); }

void bml__nn_tanh_backward(float *dinp, const float *dout, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

/* ------------------------------------------------------------------ RNG and dropout */
void bml__nn_rng_seed(bml_nn_rng *r, uint64_t seed) { bml__rng_seed(r, seed); }

static inline float uniform24(bml_nn_rng *r) { return (float)(bml__rng_next(r) >> 40) * 0x1.0p-24f; }
float bml__nn_rng_uniform(bml_nn_rng *r) { return uniform24(r); }

float bml__nn_rng_normal(bml_nn_rng *r) {
    double u1 = ((double)(bml__rng_next(r) >> 11) + 1.0) * 0x1.0p-53, u2 = (double)(bml__rng_next(r) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* The dropout multipliers (0 with probability p, else 1/(1-p)) from one 64-bit key drawn from rng: the
 * i-th uniform is the top 24 bits of a keyed 32-bit integer hash of i (two rounds of the "lowbias32"
 * mixer, constants found by C. Wellons' hash prospector), so the loop has no carried state and vectorises
 * (32-bit multiplies, shifts, xors), and any element can be computed alone. */
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
dropout_mask_block(float *mask, uint32_t n, uint32_t k0, uint32_t k1, float p, float scale) {
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = mix32(mix32(i + k0) ^ k1);
        float u = (float)(h >> 8) * 0x1.0p-24f;
        mask[i] = (float)(u >= p) * scale; /* 0 or scale, without a branch */
    }
}

void bml__nn_dropout_mask(float *mask, size_t n, float p, bml_nn_rng *rng) {
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    uint64_t key = bml__rng_next(rng);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (size_t off = 0; off < n; off += (size_t)1 << 30) { /* blocks of 2^30, each with its own key */
        size_t len = n - off < ((size_t)1 << 30) ? n - off : (size_t)1 << 30;
        dropout_mask_block(mask + off, (uint32_t)len, k0, k1, p, scale);
        k1 = mix32(k1 + 0x9e3779b9U);
    }
}

void bml__nn_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, bml_nn_rng *rng) {
    bml__nn_dropout_mask(mask, n, p, rng);
    for (size_t i = 0; i < n; i++) out[i] = inp[i] * mask[i];
}

void bml__nn_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}

/* ------------------------------------------------------------------ LayerNorm */
void bml__nn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                              int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        double m = 0, v = 0; /* biased variance, as torch.nn.LayerNorm */
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += ((double)x[c] - m) * ((double)x[c] - m);
        v /= C;
        float s = (float)(1.0 / sqrt(v + eps));
        for (int c = 0; c < C; c++) o[c] = ((x[c] - (float)m) * s) * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
        mean[n] = (float)m;
        rstd[n] = s;
    }
}

void bml__nn_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        /* dxhat = dout * w; dx = s * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
        double dsum = 0, dxsum = 0;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * s, dxhat = d[c] * (w ? w[c] : 1.0f);
            dsum += dxhat;
            dxsum += dxhat * xhat;
            if (dw) dw[c] += d[c] * xhat;
            if (db) db[c] += d[c];
        }
        float dmean = (float)(dsum / C), dxmean = (float)(dxsum / C);
        if (dinp)
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * s, dxhat = d[c] * (w ? w[c] : 1.0f);
                dinp[(size_t)n * C + c] += s * (dxhat - dmean - xhat * dxmean);
            }
    }
}

/* ------------------------------------------------------------------ initialisation */
void bml__nn_init_xavier_uniform(float *w, int fan_out, int fan_in, float gain, bml_nn_rng *rng) {
    float a = gain * sqrtf(6.0f / (float)(fan_in + fan_out));
    for (size_t i = 0; i < (size_t)fan_out * (size_t)fan_in; i++) w[i] = (2.0f * bml__nn_rng_uniform(rng) - 1.0f) * a;
}

void bml__nn_init_uniform(float *w, size_t n, float bound, bml_nn_rng *rng) {
    for (size_t i = 0; i < n; i++) w[i] = (2.0f * bml__nn_rng_uniform(rng) - 1.0f) * bound;
}
