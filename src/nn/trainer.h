/* A trainer for networks on static feature vectors: seeded shuffling, mini-batches, AdamW, cosine
 * warm restarts (stepped per epoch), gradient-norm clipping, early stopping on a validation set with
 * the best weights restored, per-epoch history. Internal. */
#ifndef BML_NN_TRAINER_H
#define BML_NN_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/status.h"
#include "nn/optim.h"

/* What the trainer needs of a network: its flat parameters and gradients, and a forward/backward pair
 * over a batch of B samples (x (B, in_dim) -> out (B, out_dim)). backward adds into grads.
 * Sequence networks have mask_dim = T: each sample carries a mask (T) (1 real step, 0 padding), the
 * out_dim values of a sample are T steps of out_dim / T values, and padded steps never count. */
typedef struct {
    void *net;
    float *params, *grads;   /* (n_params) */
    size_t n_params;
    const size_t *sizes;     /* parameter tensor sizes, for clipping */
    size_t n_tensors;
    size_t in_dim, out_dim, mask_dim; /* mask_dim 0: static samples */
    bml_status (*forward)(void *net, const float *x, const float *mask, int B, int training, float *out);
    bml_status (*backward)(void *net, const float *dout, int B); /* fails only for a failing backward solve or memory */
} bml_trainable;

typedef struct {
    long epochs, batch_size, patience;
    double learning_rate, weight_decay, grad_clip; /* grad_clip <= 0: off */
    int cosine;                                    /* 1: cosine warm restarts, 0: constant */
    long t0, t_mult;
    bml_loss loss;
    uint64_t seed;
    void (*on_epoch)(void *user, long epoch, long epochs, double train_loss, double val_loss); /* may be NULL */
    void *on_epoch_user;
    /* non-NULL: training stops at the next mini-batch once *cancel is non-zero (BML_ERR_CANCELLED) */
    const int *cancel;
    /* lr_find_steps > 0: instead of training, the learning-rate range test (Smith 2015; fastai's lr_find,
     * Lightning's Tuner.lr_find): from the network as it is, lr_find_steps mini-batches (epochs of seeded
     * shuffles, as training) with the learning rate growing exponentially from lr_find_min to lr_find_max,
     * the loss smoothed exponentially (beta 0.98, bias-corrected); it stops once the smoothed loss exceeds
     * 4x its minimum or is not finite. The history then has one row per step: train_loss the smoothed
     * loss, val_loss the batch's own loss, lr the rate used. */
    long lr_find_steps;
    double lr_find_min, lr_find_max;
    /* threads of the network's parallel loops while training (nn/par.h; 0: every core), under the calling
     * thread's cap (bml__nn_threads_cap). The numbers do not depend on it. */
    int threads;
} bml_train_opts;

typedef struct {
    size_t n_epochs;
    double *train_loss, *val_loss, *lr; /* (n_epochs); val_loss NaN without validation */
    long best_epoch;                    /* -1 without validation */
} bml_train_history;
void bml__train_history_release(bml_train_history *h);

/* Train t on (x (n, in_dim), y (n, out_dim), mask (n, mask_dim) or NULL), validating on (xv, yv, mv)
 * (nv may be 0). */
bml_status bml__train(bml_trainable *t, const float *x, const float *y, const float *mask, size_t n, const float *xv,
                     const float *yv, const float *mv, size_t nv, const bml_train_opts *o, bml_train_history *h);

/* The suggested learning rate of a range test: the rate at the steepest descent of the smoothed loss
 * (the minimum of numpy.gradient over the steps, the first 10 and the last step left out, as
 * Lightning's suggestion). BML_ERR_VALUE when fewer than 2 finite steps remain. */
bml_status bml__lr_find_suggest(const double *lr, const double *loss, size_t n, double *out);

/* Mean loss of t over a set (over its unmasked values), evaluation mode, in chunks of `batch` samples. */
bml_status bml__train_eval_loss(bml_trainable *t, const float *x, const float *y, const float *mask, size_t n, long batch,
                               const bml_loss *loss, double *out);

#endif
