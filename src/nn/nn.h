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

#include "core/internal.h"

/* ---- matrix products: out (M, N) (+)= a (M, K) @ b^T or b, through cblas; naive references beside ---- */
/* The library's one matrix product: c (M,N) = alpha op(a) op(b) + beta c, row-major, op = transpose when
 * trans_* is 1 (cblas_sgemm's arguments otherwise); its own kernels (gemm.c), not BLAS. Each element is
 * sum_k op(a)_ik op(b)_kj accumulated in the order of k with fused multiply-adds, then times alpha (plus beta
 * c): the same bits for any split of the product into row or column parts, on any number of threads, with
 * any of the kernels. A large product runs its rows in parts on the calling thread's threads (par.h).
 * Calls from several threads at once are safe. */
void bml__nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc);
/* Tests only: the kernels of instruction set isa (0 plain C, 1 AVX2 + FMA, 2 AVX-512) from now on, for the
 * whole process; 0 (and no change) where the CPU lacks them. All give the same bits. Not thread-safe. */
int bml__nn_gemm_use_isa(int isa);
/* the kernel the products use now: "avx512f", "avx2+fma" or "c" (static) */
const char *bml__nn_gemm_kernel(void);
/* out (M,N) = [accumulate ? out : 0] + a (M,K) @ b (N,K)^T */
void bml__nn_matmul_abt(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
void bml__nn_matmul_abt_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
/* out (M,N) = [accumulate ? out : 0] + a (M,K) @ b (K,N) */
void bml__nn_matmul_ab(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
void bml__nn_matmul_ab_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
/* out (M,N) = [accumulate ? out : 0] + a (K,M)^T @ b (K,N) */
void bml__nn_matmul_atb(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);
void bml__nn_matmul_atb_naive(float *out, const float *a, const float *b, int M, int N, int K, int accumulate);

/* ---- Linear: out (N, OC) = inp (N, C) @ w (OC, C)^T + b (OC) ---- */
void bml__nn_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int C, int OC);
void bml__nn_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            int N, int C, int OC);

/* ---- element-wise activations over n values ---- */
void bml__nn_relu_forward(float *out, const float *inp, size_t n);
void bml__nn_relu_backward(float *dinp, const float *dout, const float *out, size_t n); /* uses the output */
void bml__nn_tanh_forward(float *out, const float *inp, size_t n);
void bml__nn_tanh_backward(float *dinp, const float *dout, const float *out, size_t n); /* uses the output */

/* ---- Dropout (inverted): out = inp * mask, mask = 0 or 1/(1-p) drawn from a seeded stream ---- */
typedef bml__rng bml_nn_rng; /* the library's xoshiro256** stream (core/internal.h) */
void bml__nn_rng_seed(bml_nn_rng *r, uint64_t seed);
float bml__nn_rng_uniform(bml_nn_rng *r);   /* [0, 1) */
float bml__nn_rng_normal(bml_nn_rng *r);    /* N(0, 1), Box-Muller */
/* mask (n) = dropout multipliers, 0 with probability p else 1/(1-p): one draw from rng whatever n */
void bml__nn_dropout_mask(float *mask, size_t n, float p, bml_nn_rng *rng);
void bml__nn_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p, bml_nn_rng *rng);
/* dinp (n) = relu backward of (dropout backward of dout): what the two give into zeroed buffers, in one pass
 * and without them; out is the relu's output, mask the dropout's multipliers */
/* dinp (n) = relu backward of dout, written: what bml__nn_relu_backward adds into a zeroed buffer */
void bml__nn_relu_backward_set(float *dinp, const float *dout, const float *out, size_t n);
void bml__nn_dropout_relu_backward_set(float *dinp, const float *dout, const float *mask, const float *out, size_t n);
void bml__nn_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/* ---- LayerNorm over the last dim: out (N, C), mean (N), rstd (N); eps as PyTorch (1e-5) ---- */
void bml__nn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                              int N, int C, float eps);
void bml__nn_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int N, int C);

/* ---- initialisation (PyTorch semantics) ---- */
/* Xavier (Glorot) uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) */
void bml__nn_init_xavier_uniform(float *w, int fan_out, int fan_in, float gain, bml_nn_rng *rng);
/* nn.Linear default: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
void bml__nn_init_uniform(float *w, size_t n, float bound, bml_nn_rng *rng);

/* ---- LSTM, one direction, PyTorch gate order (i, f, g, o) ----
 * gates_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh; c_t = f c_{t-1} + i g; h_t = o tanh(c_t).
 * inp (B, T, C), len (B): steps t >= len[b] are padding (output 0, never read); `reverse` runs each
 * sequence from len[b]-1 down to 0, as PyTorch does for a packed sequence.
 * forward writes out (B, T, H), cell (B, T, H) and gates (B, T, 4H) (activated), all saved for backward;
 * scratch: lstm_forward_scratch(B, H) floats. */
size_t bml__nn_lstm_forward_scratch(int B, int H);
void bml__nn_lstm_forward(float *out, float *cell, float *gates, const float *inp, const int *len, const float *w_ih,
                         const float *w_hh, const float *b_ih, const float *b_hh, int B, int T, int C, int H, int reverse,
                         float *scratch);
/* scratch: lstm_backward_scratch(B, T, H) floats */
size_t bml__nn_lstm_backward_scratch(int B, int T, int H);
void bml__nn_lstm_backward(float *dinp, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, const float *dout,
                          const float *inp, const float *out, const float *cell, const float *gates, const int *len,
                          const float *w_ih, const float *w_hh, int B, int T, int C, int H, int reverse, float *scratch);

/* ---- multi-head self-attention (torch.nn.MultiheadAttention, batch_first, packed in-projection) ----
 * x (B, T, D), w_in (3D, D), b_in (3D), w_out (D, D), b_out (D), nh heads of D/nh; keys t >= len[b]
 * are masked (key padding mask). Saves qkv (B, T, 3D), probs (B, nh, T, T) (softmax, before dropout),
 * dmask (B, nh, T, T) (dropout multipliers; all 1 when not training), ctx (B, T, D). The multipliers are
 * drawn first, all of them, in that layout's order; then the samples run on the calling thread's threads
 * (par.h), forward and backward. */
void bml__nn_mha_forward(float *out, float *qkv, float *probs, float *dmask, float *ctx, const float *x, const int *len,
                        const float *w_in, const float *b_in, const float *w_out, const float *b_out, int B, int T, int D,
                        int nh, float dropout, int training, bml_nn_rng *rng);
/* mha_forward in two steps: the n = B nh T T dropout multipliers of dmask (all 1 unless training with
 * dropout > 0), drawn from rng as mha_forward draws them, then the rest with dmask as given */
void bml__nn_mha_dropout_draw(float *dmask, size_t n, float dropout, int training, bml_nn_rng *rng);
void bml__nn_mha_forward_drawn(float *out, float *qkv, float *probs, const float *dmask, float *ctx, const float *x,
                              const int *len, const float *w_in, const float *b_in, const float *w_out, const float *b_out,
                              int B, int T, int D, int nh);
/* scratch: bml__nn_mha_backward_scratch(B, T, D) floats */
size_t bml__nn_mha_backward_scratch(int B, int T, int D);
void bml__nn_mha_backward(float *dx, float *dw_in, float *db_in, float *dw_out, float *db_out, const float *dout,
                         const float *x, const float *qkv, const float *probs, const float *dmask, const float *ctx,
                         const int *len, const float *w_in, const float *w_out, int B, int T, int D, int nh, float *scratch);
/* ---- the same attention read at the first step only: out (B, D) = the row t = 0 of mha_forward's out ----
 * For a network that uses nothing else (acla): the query from x[:, 0] alone, keys and values from every
 * step. Saves q (B, D), kv (B, T, 2D), probs (B, nh, T) (softmax, before dropout), dmask (B, nh, T) and
 * ctx (B, D). */
void bml__nn_mha_first_forward(float *out, float *q, float *kv, float *probs, float *dmask, float *ctx, const float *x,
                              const int *len, const float *w_in, const float *b_in, const float *w_out, const float *b_out,
                              int B, int T, int D, int nh, float dropout, int training, bml_nn_rng *rng);
/* dout (B, D); dx (B, T, D) may be NULL; scratch: bml__nn_mha_first_backward_scratch(B, T, D) floats */
size_t bml__nn_mha_first_backward_scratch(int B, int T, int D);
void bml__nn_mha_first_backward(float *dx, float *dw_in, float *db_in, float *dw_out, float *db_out, const float *dout,
                               const float *x, const float *q, const float *kv, const float *probs, const float *dmask,
                               const float *ctx, const int *len, const float *w_in, const float *w_out, int B, int T, int D,
                               int nh, float *scratch);
/* head-averaged attention weights (B, T, T) from probs (B, nh, T, T) */
void bml__nn_mha_average_heads(float *avg, const float *probs, int B, int T, int nh);

/* ---- Conv1d, kernel 3, padding 1, channels last: inp (N, L, Cin), w (Cout, Cin, 3) as PyTorch,
 * b (Cout), out (N, L, Cout); col (N*L, Cin*3) is the saved im2col matrix ---- */
void bml__nn_conv1d_k3_forward(float *out, float *col, const float *inp, const float *w, const float *b, int N, int L,
                              int Cin, int Cout);
/* scratch: N*L*Cin*3 floats */
void bml__nn_conv1d_k3_backward(float *dinp, float *dw, float *db, const float *dout, const float *col, const float *w,
                               int N, int L, int Cin, int Cout, float *scratch);

/* ---- BatchNorm1d over rows (R, C) (channels last; rows = every position of every sample; C <= 4096) ----
 * training: batch statistics over the rows with row_w[r] != 0 (all when NULL), biased variance for the
 * normalisation, running stats updated with momentum and the unbiased variance (PyTorch); eval: running
 * statistics. Saves mean (C) and rstd (C) of what was used. */
void bml__nn_batchnorm_forward(float *out, float *mean, float *rstd, float *run_mean, float *run_var, const float *inp,
                              const float *w, const float *b, const float *row_w, int R, int C, float eps, float momentum,
                              int training);
void bml__nn_batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, const float *row_w, int R, int C, int training);

/* ---- mean over the middle axis: inp (N, L, C) -> out (N, C) ---- */
void bml__nn_mean_mid_forward(float *out, const float *inp, int N, int L, int C);
void bml__nn_mean_mid_backward(float *dinp, const float *dout, int N, int L, int C);

#endif
