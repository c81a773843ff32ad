/* The MLP network: Linear(d0, d1)-act-Dropout-...-Linear(d_{L-1}, d_L), one parameter allocation.
 * Parameter layout: for each layer l: weight (d_{l+1}, d_l) then bias (d_{l+1}). Internal. */
#ifndef BML_NN_MLP_NET_H
#define BML_NN_MLP_NET_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/status.h"
#include "nn/nn.h"

typedef struct {
    int n_layers;    /* number of Linear layers L */
    int *dims;       /* (L + 1) */
    int tanh_act;    /* 0: ReLU, 1: Tanh */
    float dropout;
    float *params, *grads; /* (n_params), one allocation each */
    size_t n_params;
    size_t *sizes;   /* (2L) tensor sizes: w0, b0, w1, b1, ... */
    float **w, **b, **dw, **db; /* (L) views into params / grads */
    /* activations of the last forward, for B <= cap rows */
    int cap, last_B;
    float *x;        /* (cap, d0) input copy */
    float **pre, **act, **mask, **drop; /* (L) each (cap, d_{l+1}); act/mask/drop unused for the last layer */
    float *scratch_a, *scratch_b;       /* (cap, max dim) */
    bml_nn_rng rng;  /* dropout stream */
} bml__mlp_net;

/* dims (L + 1) copied. Weights Xavier-uniform, biases zero (SPEC 6), from `seed`. */
bml_status bml__mlp_net_create(const int *dims, int n_layers, int tanh_act, float dropout, uint64_t seed,
                               bml__mlp_net **out);
void bml__mlp_net_free(bml__mlp_net *n);
/* x (B, d0) -> out (B, dL); training enables dropout. */
bml_status bml__mlp_net_forward(bml__mlp_net *n, const float *x, int B, int training, float *out);
/* grads += d loss / d params for the last forward; dx (B, d0) += d loss / d x when not NULL. */
void bml__mlp_net_backward(bml__mlp_net *n, const float *dout, int B, float *dx);

#endif
