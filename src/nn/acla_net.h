/* The acla network of SPEC 6 (attention, CNN-LSTM encoder, augmented neural ODE), one parameter
 * allocation, tensors named as the PyTorch module's state_dict:
 *   attention block  p = Linear(F, A)(x); a = MHA(p) (A, heads, attention dropout, key padding mask);
 *                    u = LayerNorm(F)(Linear(A, F)(a) + x)                                   (B, T, F)
 *   CNN-LSTM encoder per step, u as a 1-channel length-F signal: Conv1d(1, c1, k3, p1)-ReLU-
 *                    Conv1d(c1, c2, k3, p1)-ReLU, mean over the F positions -> LSTM(c2 -> H) (B, T, H)
 *   z0               Linear(H, Z)(encoder output at the first step); y0 = [z0, 0 x augment]  (B, Z + aug)
 *   augmented ODE    dy/dt = Linear(Z+aug+1, M)-tanh-Linear(M, M)-tanh-Linear(M, Z+aug) of [y, t]
 *                    (weights N(0, 0.01), zero biases), solved over each sample's step times  (B, T, Z + aug)
 *   read-out         Linear(Z + aug, O) at every step                                         (B, T, O)
 * Only the encoder's first step reaches the output, and an LSTM is causal: its first output depends on the
 * first step's input alone. So everything before the ODE runs for the first step only — its query reads
 * the keys and values of every step; the CNN, the LSTM, the projections and the LayerNorm see the first
 * step alone — the same numbers as running them over every step and keeping the first. The full attention
 * map (every query), which explain shows, is computed on request.
 * Input rows carry the step time as an extra last column: x (B, T, F + 1). Internal. */
#ifndef BML_NN_ACLA_NET_H
#define BML_NN_ACLA_NET_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/status.h"
#include "nn/nn.h"
#include "nn/ode_block.h"

#define BML_ACLA_TENSORS 28
#define BML_ACLA_FUNC_FIRST 20 /* tensor index of func.net.0.weight, the first of the six ODE tensors */

typedef struct {
    int F, O, A, heads, c1, c2, H, Z, aug, M;
    float dropout;
} bml__acla_shape;

typedef struct {
    bml__acla_shape s;
    float *params, *grads; /* (n_params) each, tensors in names[] order */
    size_t n_params, n_tensors;
    size_t sizes[BML_ACLA_TENSORS];
    const char *names[BML_ACLA_TENSORS];
    float *p[BML_ACLA_TENSORS], *g[BML_ACLA_TENSORS];
    bml__ode_block ode;    /* tensors 20..25 (func.net.*); nfe counts in ode.nfe_forward / backward */
    bml_nn_rng rng;        /* attention dropout */
    /* the last forward: one arena of activations and backward scratch */
    int B, T;
    int *len, *one;        /* (B) real steps per sample; (B) ones for the one-step LSTM */
    float *arena;
    size_t cap_b, cap_t;
    float *xf, *pin, *q0, *kv, *probs0, *amask0, *ctx0, *att0, *x0, *res0, *ln_mean, *ln_rstd, *u0, *c1_col, *c1_out,
        *c1_relu, *c2_col, *c2_out, *c2_relu, *cm, *h, *cell, *gates, *z0, *y0, *ys, *scratch, *d1, *d2, *d3;
    float *qkv, *probs, *amask, *ctx, *att; /* the full attention of bml__acla_net_attention */
} bml__acla_net;

/* solver: method, rtol, atol, max_steps. Initialisation as the PyTorch module's (Linear, LSTM, Conv1d
 * defaults, Xavier-uniform attention in-projection, ODE weights N(0, 0.01)) from `seed`. */
bml_status bml__acla_net_create(const bml__acla_shape *shape, const bml_ode_opts *solver, int use_adjoint, uint64_t seed,
                                bml__acla_net **out);
void bml__acla_net_free(bml__acla_net *n);
/* x (B, T, F + 1) with the time in the last column, mask (B, T) -> out (B, T, O); training enables the
 * attention dropout. Fails with the solver's message when the solve fails. */
bml_status bml__acla_net_forward(bml__acla_net *n, const float *x, const float *mask, int B, int T, int training, float *out);
/* grads += d loss / d params of the last forward (dout (B, T, O), zero at padded steps). */
bml_status bml__acla_net_backward(bml__acla_net *n, const float *dout);
/* the augmented ODE state of the last forward: (B, T, Z + aug), 0 at padded steps */
const float *bml__acla_net_latent(const bml__acla_net *n);
/* head-averaged attention weights (B, T, T) of every query over the last forward's batch (evaluation mode:
 * no dropout); row 0 is what the network used */
void bml__acla_net_attention(bml__acla_net *n, float *w);

#endif
