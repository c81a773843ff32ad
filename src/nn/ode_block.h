/* The continuous-time part shared by the neural_ode and acla networks (SPEC 6):
 *   dy/dt = Linear(D+1, H)-tanh-Linear(H, H)-tanh-Linear(H, D) of [y, t], solved from y0 (B, D) over the
 *   batch's step times (each sample's times shifted to start at 0; one solve over the union of the batch's
 *   times, one step size for the batch, as torchdiffeq), read out at every sample's own steps.
 * The ODE state is double; the layers are float32. Gradients by backpropagation through the solver (the
 * forward dopri5 solve's tape is reused) or by the adjoint method. The block does not own its parameters:
 * its dynamics tensors are views into the owning network's single parameter / gradient allocation.
 * Internal. */
#ifndef BML_NN_ODE_BLOCK_H
#define BML_NN_ODE_BLOCK_H

#include <stddef.h>

#include "batteryml/status.h"
#include "nn/nn.h"
#include "ode/ode.h"
#include "ode/tape.h"

/* a 3-layer tanh MLP d0 -> d1 -> d2 -> d3 as views into a parameter allocation: weights (d1, d0), (d2, d1),
 * (d3, d2) each followed by its bias, in that order (PyTorch's nn.Sequential(Linear, Tanh, Linear, Tanh,
 * Linear)); dw / db are the same views into the gradients */
typedef struct {
    int d[4];
    float *w[3], *b[3], *dw[3], *db[3];
} bml__mlp3;

/* the six tensor sizes of an MLP (w0, b0, w1, b1, w2, b2) into sizes[6]; returns their sum */
size_t bml__mlp3_sizes(int d0, int d1, int d2, int d3, size_t sizes[6]);
/* bind the views at params + off and grads + off (the layout of bml__mlp3_sizes) */
void bml__mlp3_bind(bml__mlp3 *m, int d0, int d1, int d2, int d3, float *params, float *grads, size_t off);
/* h0 (N, d1) = tanh(x W0^T + b0), h1 (N, d2) = tanh(h0 W1^T + b1), out (N, d3) = h1 W2^T + b2 */
void bml__mlp3_forward(const bml__mlp3 *m, const float *x, int N, float *h0, float *h1, float *out);
/* gradients added into dw / db (given in layer order), dx (N, d0) += when not NULL; s0 (N, d1) and
 * s1 (N, d2) are scratch */
void bml__mlp3_backward(const bml__mlp3 *m, float *const dw[3], float *const db[3], const float *x, const float *h0,
                        const float *h1, const float *dout, int N, float *dx, float *s0, float *s1);

#define BML_ODE_SHARD_MIN 16
#define BML_ODE_MAX_SHARDS 8

typedef struct bml__ode_block_s {
    int D, H;
    bml_ode_opts solver;
    int use_adjoint;
    bml__mlp3 dyn;         /* views into the owner's parameters */
    size_t n_dyn;          /* dynamics parameters, contiguous from dyn.w[0] */
    size_t sizes[6];
    /* the last forward */
    int B, T, K;           /* K: solve times (the union of the batch's shifted step times) */
    double *grid;          /* (K) */
    int *slot;             /* (B, T) index into grid of each real step, -1 for padding */
    double *y0, *ysol;     /* (B D), (K, B D) */
    long nfe_forward, nfe_backward;
    bml__dp_tape tape;     /* dopri5 with backpropagation: the last forward solve's record, reused by backward */
    double *stages;        /* euler / rk4: the last forward solve's stage inputs ((K - 1), stages, B D) */
    size_t stages_cap;
    double *wbuf;          /* backward: the loss's weights on the solution (K, B D), then d y0 (B D) */
    size_t wbuf_cap;
    /* scratch of the dynamics evaluations */
    float *in_f, *h1_f, *h2_f, *out_f, *dh_a, *dh_b;
    float *dyn_g, *dyn_gw[3], *dyn_gb[3]; /* (n_dyn) one vjp's parameter gradient, and its tensor views */
    float *wt, *wt_l[3];   /* the dynamics weights transposed ((in, out) per layer), refreshed by every forward and
                            * backward pass: the evaluations' products read them as they lie, packing nothing */
    double *dp_dyn;        /* (n_dyn) the solve's parameter gradient */
    double *last_y, last_t; /* (B D): the point whose activations in_f, h1_f, h2_f hold (a vjp there reuses them) */
    int last_ok;
    /* with backpropagation: the dynamics' activations at every stage input of the forward solve, by its slot
     * in the tape or the stage record (step * stages + stage), so the backward's vector-Jacobian products
     * need not evaluate them again */
    float *act;            /* (act_cap, B (D + 1) + 2 B H) */
    unsigned char *act_ok; /* (act_cap) */
    size_t act_cap, act_stride;
    int recording;
    size_t cap_bt, cap_b, cap_k;
    /* euler / rk4 with backpropagation: a batch of B >= 2 BML_ODE_SHARD_MIN rows is solved as
     * min(B / BML_ODE_SHARD_MIN, max_shards) shards of consecutive rows, each a block of its own (the same
     * dynamics, workspaces of its own) on the calling thread's threads, over the whole batch's time grid. The
     * rows of a fixed-grid solve never meet, so the states and dy0 are those of the batch solved whole, bit for
     * bit; the parameter gradients are summed shard by shard in order. The partition depends on B alone: the
     * same numbers at any thread count. (dopri5's step control couples the rows: it is never sharded.) */
    int max_shards;        /* BML_ODE_MAX_SHARDS (1: every batch whole, as a test sets) */
    int n_shards;          /* of the last forward; 1: not sharded */
    struct bml__ode_block_s *shard[BML_ODE_MAX_SHARDS];
    int shard_row0[BML_ODE_MAX_SHARDS + 1];
    bml_status shard_status[BML_ODE_MAX_SHARDS];
    char *shard_err[BML_ODE_MAX_SHARDS]; /* a failing shard's message (errors are per thread), or NULL */
} bml__ode_block;

/* Sets up a block for state size D and hidden width H (solver: method, rtol, atol, max_steps; the other
 * fields are ignored). Its dynamics are bound with bml__ode_block_bind before use; release with
 * bml__ode_block_release (harmless on a zeroed block). */
bml_status bml__ode_block_init(bml__ode_block *o, int D, int H, const bml_ode_opts *solver, int use_adjoint);
void bml__ode_block_release(bml__ode_block *o);
/* the dynamics tensors' sizes (6) and their total */
size_t bml__ode_block_param_sizes(const bml__ode_block *o, size_t sizes[6]);
void bml__ode_block_bind(bml__ode_block *o, float *params, float *grads, size_t off);

/* x (B, T, stride) holds each step's time in column tcol, mask (B, T); y0 (B, D) -> ys (B, T, D), 0 at
 * padded steps. Fails with the solver's message (step-size underflow, non-finite state, too many steps) or
 * when a sample's times are not finite and increasing. */
bml_status bml__ode_block_forward(bml__ode_block *o, const float *x, int stride, int tcol, const float *mask, int B, int T,
                                  const float *y0, float *ys);
/* dynamics gradients += d loss / d params, and dy0 (B, D) = d loss / d y0, from dys (B, T, D) of the last
 * forward */
bml_status bml__ode_block_backward(bml__ode_block *o, const float *dys, float *dy0);

/* Tests only: with on, the dynamics' and the encoder's and decoder's products take bml__nn_gemm's path
 * instead of the block's own fused AVX-512 kernels (the same bits either way); returns the previous
 * setting. Not thread-safe: set it while no network runs. */
int bml__ode_block_plain_products(int on);

#endif
