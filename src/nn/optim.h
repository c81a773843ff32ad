/* Training machinery: AdamW, cosine annealing with warm restarts, gradient-norm clipping and the
 * losses, with PyTorch 1.13 semantics (FACTS.md section 3). Internal. */
#ifndef BML_NN_OPTIM_H
#define BML_NN_OPTIM_H

#include <stddef.h>

#include "batteryml/status.h"

/* AdamW over one flat parameter buffer; m and v share its layout. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    long step;
    float *m, *v; /* (n) */
    size_t n;
} bml_adamw;
bml_status bml__adamw_init(bml_adamw *o, size_t n, float lr, float weight_decay);
void bml__adamw_release(bml_adamw *o);
/* One step: p -= lr*wd*p; m, v moments; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
void bml__adamw_step(bml_adamw *o, float *params, const float *grads);

/* CosineAnnealingWarmRestarts(T_0, T_mult, eta_min): the learning rate of epoch e (0-based). */
double bml__cosine_warm_restarts_lr(double base_lr, double eta_min, int t0, int t_mult, long epoch);

/* clip_grad_norm_: the total 2-norm over the tensors (sizes[i] values each, consecutive in g); when
 * above max_norm, scale every gradient by max_norm / (norm + 1e-6). Returns the norm before clipping. */
double bml__clip_grad_norm(float *g, const size_t *sizes, size_t n_tensors, double max_norm);

/* Losses over the values with mask[i] != 0 (mask NULL: all); write d loss / d pred into dpred
 * (overwritten; 0 where masked) and return the loss. */
typedef enum { BML_LOSS_MSE, BML_LOSS_MAE, BML_LOSS_HUBER, BML_LOSS_MAPE, BML_LOSS_PHYSICS } bml_loss_kind;
typedef struct {
    bml_loss_kind kind;
    float delta;   /* huber */
    float epsilon; /* mape: |y| + epsilon in the denominator; result in percent */
    /* physics_informed, on sequences (pred (n / (T O), T, O)):
     *   MSE + monotonicity * mean ReLU(pred[t+1] - pred[t]) + smoothness * mean (pred[t+1] - 2 pred[t] + pred[t-1])^2
     * over the pairs and triples of unmasked steps */
    float monotonicity, smoothness;
    int T, O;
} bml_loss;
/* "mse", "mae", "huber", "mape", "physics_informed" -> kind; -1 for an unknown name */
int bml__loss_parse(const char *name, bml_loss_kind *kind);
double bml__loss_eval(const bml_loss *l, const float *pred, const float *y, const float *mask, size_t n, float *dpred);

#endif
