/* The training parameters every neural model takes (the config's training.* and loss group). Internal. */
#ifndef BML_MODELS_TRAIN_PARAMS_H
#define BML_MODELS_TRAIN_PARAMS_H

#include <cjson/cJSON.h>

#include "core/internal.h"
#include "core/json.h"
#include "nn/trainer.h"

typedef struct {
    char *scheduler, *loss;
    double learning_rate, weight_decay, grad_clip, loss_delta, loss_epsilon, loss_monotonicity_weight,
        loss_smoothness_weight;
    long epochs, batch_size, patience, scheduler_t0, scheduler_t_mult, seed, lr_find_steps, threads;
    double lr_find_min_lr, lr_find_max_lr;
    int scale_targets;
} bml__train_params;

/* spec entries for a params struct holding a bml__train_params member `train` */
#define BML__TRAIN_SPECS(T)                                                                                             \
    {"epochs", BML__P_INT, offsetof(T, train.epochs), "200", 1, 1e7, 0, "maximum epochs"},                              \
    {"batch_size", BML__P_INT, offsetof(T, train.batch_size), "32", 1, 1e7, 0, "mini-batch size"},                      \
    {"learning_rate", BML__P_DOUBLE, offsetof(T, train.learning_rate), "0.001", 0, 10, 1, "AdamW learning rate"},       \
    {"weight_decay", BML__P_DOUBLE, offsetof(T, train.weight_decay), "0.01", 0, 10, 0, "AdamW decoupled weight decay"}, \
    {"patience", BML__P_INT, offsetof(T, train.patience), "20", 0, 1e7, 0, "early-stopping patience in epochs (0: off)"}, \
    {"grad_clip", BML__P_DOUBLE, offsetof(T, train.grad_clip), "1.0", 0, 1e12, 0, "gradient-norm clipping (0: off)"},   \
    {"scheduler", BML__P_STRING, offsetof(T, train.scheduler), "cosine_warm_restarts", 1, 0, 0,                        \
     "cosine_warm_restarts | constant"},                                                                                \
    {"scheduler_t0", BML__P_INT, offsetof(T, train.scheduler_t0), "50", 1, 1e9, 0, "first restart period (epochs)"},    \
    {"scheduler_t_mult", BML__P_INT, offsetof(T, train.scheduler_t_mult), "2", 1, 1e3, 0, "period growth factor"},      \
    {"loss", BML__P_STRING, offsetof(T, train.loss), "mse", 1, 0, 0, "mse | mae | huber | mape | physics_informed"},    \
    {"loss_monotonicity_weight", BML__P_DOUBLE, offsetof(T, train.loss_monotonicity_weight), "0.1", 0, 1e12, 0,       \
     "physics_informed: weight of mean ReLU(pred[t+1] - pred[t])"},                                                     \
    {"loss_smoothness_weight", BML__P_DOUBLE, offsetof(T, train.loss_smoothness_weight), "0.01", 0, 1e12, 0,           \
     "physics_informed: weight of the mean squared second difference"},                                                 \
    {"loss_delta", BML__P_DOUBLE, offsetof(T, train.loss_delta), "1.0", 0, 1e12, 1, "huber delta"},                     \
    {"loss_epsilon", BML__P_DOUBLE, offsetof(T, train.loss_epsilon), "1e-8", 0, 1e12, 1, "mape epsilon"},               \
    {"seed", BML__P_INT, offsetof(T, train.seed), "-1", -1, 9.2e18, 0,                                                  \
     "initialisation, shuffling and dropout seed (-1: the run's)"},                                                     \
    {"scale_targets", BML__P_BOOL, offsetof(T, train.scale_targets), "true", 1, 0, 0,                                   \
     "train on targets standardised with training statistics (predictions are returned in target units)"},              \
    {"threads", BML__P_INT, offsetof(T, train.threads), "0", 0, 4096, 0,                                               \
     "training threads (0: every core, within a fold's share); results do not depend on it"},                    \
    {"lr_find_steps", BML__P_INT, offsetof(T, train.lr_find_steps), "0", 0, 1e7, 0,                                     \
     "set by batteryml lr-find: > 0 runs the learning-rate range test over that many mini-batches instead of training"}, \
    {"lr_find_min_lr", BML__P_DOUBLE, offsetof(T, train.lr_find_min_lr), "1e-7", 1e-20, 1e6, 0,                           \
     "lr-find: first rate (from 1e-20: the rates are single precision)"},    \
    {"lr_find_max_lr", BML__P_DOUBLE, offsetof(T, train.lr_find_max_lr), "1", 1e-20, 1e6, 0, "lr-find: last rate"}

/* The registry of losses (the config's loss group): name, help line, the group's parameters (their keys without
 * the loss_ prefix). Static storage, read-only: any thread may call these. */
size_t bml__loss_registry_count(void);
const char *bml__loss_registry_name(size_t i);
const char *bml__loss_registry_describe(size_t i);
size_t bml__loss_registry_params(size_t i, const bml_param_info **params);

/* Validate scheduler and loss names and fill the trainer's options (what = model name for messages). */
bml_status bml__train_opts_init(const char *what, const bml__train_params *p, uint64_t run_seed, bml_train_opts *o);

/* Target standardisation: per target mean and scale over the rows (n, O) with weight w (NULL: all). */
bml_status bml__target_scaler_fit(const double *y, const double *w, size_t n, size_t O, int enabled, double **mean,
                                  double **scale);
/* cJSON arrays target_mean/target_scale in/out of a model's saved state (exact numbers) */
void bml__target_scaler_save(cJSON *state, const double *mean, const double *scale, size_t O);
bml_status bml__target_scaler_load(const cJSON *state, size_t O, const char *where, double **mean, double **scale);
/* Per-epoch history as CSV text (epoch,train_loss,val_loss,lr), malloc'ed; NULL when empty. */
char *bml__history_csv(const bml_train_history *h);
/* what fitting a neural model found: {"params", "epochs_run", "best_epoch" (1-based), "best_val_loss"} */
cJSON *bml__train_fit_info(size_t n_params, const bml_train_history *h);
/* The model's parameters (as given, training.threads left out) as a JSON object text, for checkpoints
 * (malloc'ed). */
char *bml__params_json(const bml__strvec *keys, const bml__strvec *values);

#endif
