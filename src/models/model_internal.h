/* Model definitions (vtable) and the common model object. Internal. */
#ifndef BML_MODELS_INTERNAL_H
#define BML_MODELS_INTERNAL_H

#include <cjson/cJSON.h>

#include "batteryml/model.h"
#include "core/internal.h"

/* 2: model.json sealed with its xxh64 checksum, weights.bin version 2, booster checksums in the state */
#define BML_MODEL_FORMAT_VERSION 2

typedef struct bml__model_def bml__model_def;

struct bml_model {
    const bml__model_def *def;
    void *params;       /* def->params_size bytes, parsed from specs */
    bml__strvec kv_keys, kv_values; /* parameters as given (saved with the model) */
    int fitted;
    size_t n_features, n_targets;
    char **feature_names, **target_names;
    void *state;        /* def-specific */
    bml_epoch_fn on_epoch;
    void *on_epoch_user;
    const int *cancel; /* bml_model_set_cancel; NULL: none */
};

/* 1 when the fit of m was asked to stop (bml_model_set_cancel) */
static inline int bml__model_cancelled(const int *flag) { return flag && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0; }

struct bml__model_def {
    const char *name, *description;
    const bml__param_spec *specs;
    size_t n_specs, params_size;
    int handles_missing, wants_scaled;
    int takes_training; /* receives the config's training.* and loss.* keys as parameters */
    bml_status (*fit)(bml_model *m, const bml_samples *train, const bml_samples *val, uint64_t seed);
    bml_status (*predict)(const bml_model *m, const double *x, size_t n, double *y);
    /* sequence models: y (n, T, O) from sequence samples; NULL for static models */
    bml_status (*predict_seq)(const bml_model *m, const bml_samples *s, double *y);
    bml_status (*shap)(const bml_model *m, const double *x, size_t n, double *phi);         /* may be NULL */
    bml_status (*importance)(const bml_model *m, const char *kind, double *imp);            /* may be NULL */
    bml_status (*attention)(const bml_model *m, const bml_samples *s, double *w);             /* may be NULL */
    bml_status (*latent)(const bml_model *m, const bml_samples *s, double *z);                /* may be NULL */
    size_t (*latent_dim)(const bml_model *m);                                                 /* may be NULL */
    cJSON *(*fit_info)(const bml_model *m);
    char *(*history_csv)(const bml_model *m); /* may be NULL: epoch,train_loss,val_loss,lr rows */
    /* save writes the model's own files into dir and returns its state description (owned by caller) */
    bml_status (*save)(const bml_model *m, const char *dir, cJSON **state);
    bml_status (*load)(bml_model *m, const char *dir, const cJSON *state);
    void (*release)(bml_model *m); /* frees m->state */
    /* may be NULL: BML_OK when every weight is finite, else BML_ERR_VALUE with "<what>: tensor ..." */
    bml_status (*check_weights)(const bml_model *m, const char *what);
};

extern const bml__model_def bml__model_lgbm;
extern const bml__model_def bml__model_mlp;
extern const bml__model_def bml__model_lstm_attn;
extern const bml__model_def bml__model_cnn_lstm;
extern const bml__model_def bml__model_neural_ode;
extern const bml__model_def bml__model_acla;
/* models/linear.c */
extern const bml__model_def bml__model_ols;
extern const bml__model_def bml__model_ridge;
extern const bml__model_def bml__model_lasso;
extern const bml__model_def bml__model_elastic_net;
extern const bml__model_def bml__model_elastic_net_cv;
extern const bml__model_def bml__model_pls;
extern const bml__model_def bml__model_pcr;

#endif
