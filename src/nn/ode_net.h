/* The neural_ode network of SPEC 6, one parameter allocation:
 *   encoder  Linear(F, 64)-tanh-Linear(64, 64)-tanh-Linear(64, L) on each sample's first step -> z0 (B, L)
 *   dynamics dz/dt = Linear(L+1, 64)-tanh-Linear(64, 64)-tanh-Linear(64, L) of [z, t], solved from z0 over
 *            the batch's step times (each sample's times shifted to start at 0; one solve over the union of
 *            the batch's times, one step size for the batch, as torchdiffeq) -> z (B, T, L)
 *   decoder  Linear(L, 64)-tanh-Linear(64, 32)-tanh-Linear(32, O) at every step -> out (B, T, O).
 * Input rows carry the step time as an extra last column: x (B, T, F + 1). The ODE state is double; the
 * layers are float32. Gradients by backpropagation through the solver or by the adjoint method. Internal. */
#ifndef BML_NN_ODE_NET_H
#define BML_NN_ODE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/status.h"
#include "nn/nn.h"
#include "nn/ode_block.h"

#define BML_ODE_NET_TENSORS 18

typedef struct {
    int F, O, L, H;
    float *params, *grads; /* (n_params) each: encoder, dynamics, decoder tensors in names[] order */
    size_t n_params, n_tensors;
    size_t sizes[BML_ODE_NET_TENSORS];
    const char *names[BML_ODE_NET_TENSORS];
    bml__mlp3 enc, dec;
    bml__ode_block ode;    /* the dynamics (tensors 6..11) and the solve; nfe counts in ode.nfe_forward / backward */
    /* the last forward */
    int B, T;
    float *x0, *enc_h[3];  /* encoder input (B, F) and layer outputs */
    float *zs, *dec_h[3];  /* latent per step (B*T, L) and decoder layer outputs */
    float *dzs, *s0, *s1, *dz0; /* backward scratch: (B*T, L), (B*T, H) twice, (B, L) */
    size_t cap_bt, cap_b;
} bml__ode_net;

/* solver: method, rtol, atol, max_steps (the remaining fields unused). Weights U(-1/sqrt(fan_in), ..) as
 * torch.nn.Linear, from `seed`. */
bml_status bml__ode_net_create(int F, int O, int L, int H, const bml_ode_opts *solver, int use_adjoint, uint64_t seed,
                               bml__ode_net **out);
void bml__ode_net_free(bml__ode_net *n);
/* x (B, T, F + 1) with the time in the last column, mask (B, T) -> out (B, T, O). Fails with the
 * solver's message when the solve fails (step-size underflow, non-finite state, too many steps). */
bml_status bml__ode_net_forward(bml__ode_net *n, const float *x, const float *mask, int B, int T, float *out);
/* grads += d loss / d params of the last forward (dout (B, T, O), zero at padded steps). */
bml_status bml__ode_net_backward(bml__ode_net *n, const float *dout);
/* the latent trajectory of the last forward: z (B, T, L), 0 at padded steps */
const float *bml__ode_net_latent(const bml__ode_net *n);

#endif
