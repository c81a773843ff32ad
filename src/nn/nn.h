/* Neural-network layers as forward/backward function pairs (float32, row-major, last index fastest).
 *
 * Conventions (after llm.c): forward overwrites its outputs and saves what backward needs; backward
 * ADDS into the gradients it is given (zero them with one memset before a backward pass), and a NULL
 * gradient pointer skips that gradient. Shapes are in the comments: N rows (batch x time flattened),
 * C input channels, OC output channels. Internal to the library. */
#ifndef BML_NN_H
#define BML_NN_H

#include <stddef.h>
#include <stdint.h>

/* ---- matrix products: out (M, N) (+)= a (M, K) @ b^T or b, through cblas; naive references beside ---- */
/* out (M,N) = [accumulate ? out : 0] + a (M,K) @ b (N,K)^T */
void bml_nn_matmul_abt(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
void bml_nn_matmul_abt_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
/* out (M,N) = [accumulate ? out : 0] + a (M,K) @ b (K,N) */
void bml_nn_matmul_ab(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
void bml_nn_matmul_ab_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
/* out (M,N) = [accumulate ? out : 0] + a (K,M)^T @ b (K,N) */
void bml_nn_matmul_atb(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
void bml_nn_matmul_atb_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);

/* ---- Linear: out (N, OC) = inp (N, C) @ w (OC, C)^T + b (OC) ---- */
void bml_nn_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC);
void bml_nn_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            int N, int C, int OC);

/* ---- element-wise activations over n values ---- */
void bml_nn_relu_forward(float *out, const float *inp, size_t n);
void bml_nn_relu_backward(float *dinp, const float *dout, const float *out, size_t n); /* uses the output */
void bml_nn_tanh_forward(float *out, const float *inp, size_t n);
void bml_nn_tanh_backward(float *dinp, const float *dout, const float *out, size_t n); /* uses the output */

/* ---- Dropout (inverted): out = inp * mask, mask = 0 or 1/(1-p) drawn from a seeded stream ---- */
typedef struct {
    uint64_t s[4];
} bml_nn_rng;
void bml_nn_rng_seed(bml_nn_rng *r, uint64_t seed);
float bml_nn_rng_uniform(bml_nn_rng *r);   /* [0, 1) */
float bml_nn_rng_normal(bml_nn_rng *r);    /* N(0, 1), Box-Muller */
void bml_nn_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, bml_nn_rng *rng);
void bml_nn_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/* ---- LayerNorm over the last dim: out (N, C), mean (N), rstd (N); eps as PyTorch (1e-5) ---- */
void bml_nn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                              int N, int C, float eps);
void bml_nn_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int N, int C);

/* ---- initialisation (PyTorch semantics) ---- */
/* Xavier (Glorot) uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) */
void bml_nn_init_xavier_uniform(float *w, int fan_out, int fan_in, float gain, bml_nn_rng *rng);
/* nn.Linear default: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
void bml_nn_init_uniform(float *w, size_t n, float bound, bml_nn_rng *rng);

#endif
