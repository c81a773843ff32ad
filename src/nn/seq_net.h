/* The sequence networks of SPEC 6 (lstm_attn, cnn_lstm), one parameter allocation:
 *   [cnn_lstm only] per step, the feature vector as a 1-channel signal: Conv1d(1, 64, k3, p1)-ReLU-
 *     BatchNorm1d(64)-Conv1d(64, 32, k3, p1)-ReLU-BatchNorm1d(32), mean over the features -> (B, T, 32)
 *   2-layer bidirectional LSTM(hidden H, dropout between the layers) -> (B, T, 2H)
 *   multi-head self-attention (2H, heads, dropout, key padding mask) -> LayerNorm(attention + lstm)
 *   per-step head Linear(2H, 64)-ReLU-Dropout-Linear(64, out).
 * Padded steps (t >= len[b]) never influence real ones.
 *
 * Data-parallel shards: a batch of B >= 2 BML_SEQ_SHARD_MIN sequences runs everything after the cnn front
 * end (the LSTM, attention and head: "the body") as min(B / BML_SEQ_SHARD_MIN, BML_SEQ_MAX_SHARDS) shards
 * of consecutive sequences, each in its own workspace with its own gradients, on the calling thread's
 * threads (par.h); the gradients are then summed shard by shard in order. The partition depends on B
 * alone, never on the number of threads, so the numbers are the same at any thread count. The front end
 * (whose BatchNorm needs statistics over the whole batch) and the dropout multipliers (drawn from the
 * network's generator for the whole batch, in the order an unsharded forward draws them) belong to the
 * whole batch. Internal. */
#ifndef BML_NN_SEQ_NET_H
#define BML_NN_SEQ_NET_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/status.h"
#include "nn/nn.h"

#define BML_SEQ_MAX_TENSORS 40
#define BML_SEQ_SHARD_MIN 16 /* sequences per shard, at least */
#define BML_SEQ_MAX_SHARDS 8

typedef struct bml__seq_net {
    int cnn;               /* 1: cnn_lstm front end */
    int F, O, H, D, heads, hh, c1, c2, in0;
    float dropout;
    /* parameters: one allocation, tensors in the order of names[]; gradients in the same layout */
    float *params, *grads;
    size_t n_params, n_tensors;
    size_t sizes[BML_SEQ_MAX_TENSORS];
    const char *names[BML_SEQ_MAX_TENSORS];
    float *p[BML_SEQ_MAX_TENSORS], *g[BML_SEQ_MAX_TENSORS];
    float *bn_run;         /* running mean and variance of both BatchNorms: (2 c1 + 2 c2), not trained */
    bml_nn_rng rng;
    /* activations of the last forward: one arena sized for cap rows of B*T */
    float *arena;
    size_t cap_bt, cap_b, cap_t;
    int B, T, training;
    int *len;
    float *x, *rowmask, *c1_col, *c1_out, *c1_relu, *bn1_out, *c2_col, *c2_out, *c2_relu, *bn2_out, *bn_stat,
        *lstm_in, *h_out[2][2], *h_cell[2][2], *h_gates[2][2], *cat[2], *drop_mask, *cat_drop, *qkv, *probs, *amask,
        *ctx, *attn, *res, *ln_out, *ln_mean, *ln_rstd, *h1, *h1_relu, *h1_mask, *h1_drop, *scratch, *scratch_rev, *d1, *d2, *d3, *d4;
    /* the shards of the last forward (n_shards 1: the body ran here); each owns its arena, len and
     * gradients, and reads the parameters, inputs and dropout multipliers of this network */
    int n_shards;
    int max_shards; /* the most a forward may use: BML_SEQ_MAX_SHARDS (1: every batch whole, as a test sets) */
    struct bml__seq_net *shard[BML_SEQ_MAX_SHARDS];
    int shard_row0[BML_SEQ_MAX_SHARDS + 1]; /* first sequence of each shard, then B */
    bml_status shard_status[BML_SEQ_MAX_SHARDS];
    int is_shard;
} bml__seq_net;

bml_status bml__seq_net_create(int cnn, int F, int O, int H, int heads, float dropout, uint64_t seed, bml__seq_net **out);
void bml__seq_net_free(bml__seq_net *n);
/* x (B, T, F), mask (B, T) -> out (B, T, O); training enables dropout and BatchNorm batch statistics. */
bml_status bml__seq_net_forward(bml__seq_net *n, const float *x, const float *mask, int B, int T, int training, float *out);
/* grads += d loss / d params of the last forward (dout (B, T, O), zero at padded steps). */
void bml__seq_net_backward(bml__seq_net *n, const float *dout);
/* head-averaged attention weights of the last forward: (B, T, T) */
void bml__seq_net_attention(const bml__seq_net *n, float *w);

#endif
