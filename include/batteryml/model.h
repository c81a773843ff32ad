/* Models: create by registered name, fit, predict, explain, save, load (SPEC section 6).
 *
 * A model consumes samples from a pipeline. Fitted models predict (n, O) targets from (n, F)
 * features, explain with SHAP values where they can, and save to / load from a directory in a
 * versioned format. */
#ifndef BATTERYML_MODEL_H
#define BATTERYML_MODEL_H

#include "batteryml/export.h"

#include <stddef.h>
#include <stdint.h>

#include "batteryml/pipeline.h"
#include "batteryml/status.h"
#include "batteryml/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bml_model bml_model; /* opaque */

/* Create an unfitted model by registered name with key=value parameters. Unknown names, keys and
 * invalid values (negative learning rate, zero estimators, ...) fail with a message naming the
 * valid choices. Caller owns *out (bml_model_free). */
BML_API bml_status bml_model_create(const char *name, const bml_kv *params, size_t n_params, bml_model **out);
BML_API void bml_model_free(bml_model *m); /* NULL is harmless */
BML_API const char *bml_model_name(const bml_model *m);
/* 1 when the model accepts NaN (missing) features as they are; 0 when they must be imputed. */
BML_API int bml_model_handles_missing(const bml_model *m);
/* 1 when the model wants standardised features. */
BML_API int bml_model_wants_scaled(const bml_model *m);

/* Called after every training epoch of models that train by epochs (progress display). */
typedef void (*bml_epoch_fn)(void *user, long epoch, long epochs, double train_loss, double val_loss);
BML_API void bml_model_set_epoch_callback(bml_model *m, bml_epoch_fn fn, void *user);
/* A cancel flag for bml_model_fit (NULL: none; borrowed, it must outlive the fits that use it): when *flag
 * becomes non-zero, from any thread or a signal handler (a plain int store), the fit stops at the next
 * mini-batch or boosting round and returns BML_ERR_CANCELLED, the model left unfitted. The caller resets
 * *flag to 0 before the next fit. */
BML_API void bml_model_set_cancel(bml_model *m, const int *flag);

/* Fit on `train`, stopping early on `val` (may be NULL: no early stopping). The samples are
 * borrowed; the model copies the names it keeps. `seed` fixes the model's random choices where
 * its own parameters do not. Neural models: the first one fitted or run in the process sets OpenBLAS to
 * one thread, once and for the whole process, so that results do not depend on the thread count. */
BML_API bml_status bml_model_fit(bml_model *m, const bml_samples *train, const bml_samples *val, uint64_t seed);
BML_API int bml_model_is_fitted(const bml_model *m);
BML_API size_t bml_model_n_features(const bml_model *m);
BML_API size_t bml_model_n_targets(const bml_model *m);
BML_API const char *bml_model_feature_name(const bml_model *m, size_t j);
BML_API const char *bml_model_target_name(const bml_model *m, size_t k);

/* Predict: x (n, F) row-major, NaN = missing; writes y (n, O). Like every call on a model, one thread at a
 * time per model: a network's forward pass writes into the model's own activation buffers. */
BML_API bml_status bml_model_predict(const bml_model *m, const double *x, size_t n, double *y);

/* Predict for samples: y (n, O) for static samples, (n, T, O) for sequences (padded steps 0). */
BML_API bml_status bml_model_predict_samples(const bml_model *m, const bml_samples *s, double *y);
/* Head-averaged self-attention weights of sequence models: w (n, T, T), query x key; rows of padded
 * queries are not meaningful, padded keys have weight 0. BML_ERR_STATE for models without attention. */
BML_API bml_status bml_model_attention(const bml_model *m, const bml_samples *s, double *w);
/* Latent trajectories of latent-ODE models: z (n, T, latent_dim), 0 at padded steps. BML_ERR_STATE for
 * models without a latent state; bml_model_latent_dim is 0 for them. */
BML_API size_t bml_model_latent_dim(const bml_model *m);
BML_API bml_status bml_model_latent(const bml_model *m, const bml_samples *s, double *z);
/* 1 when the model consumes sequence samples (pipeline latent_ode_seq), 0 for static ones. */
BML_API int bml_model_wants_sequences(const bml_model *m);

/* SHAP values: writes phi (n, O, F + 1); phi[i][k][F] is the expected value (bias), and the F + 1
 * values of (i, k) add up to the prediction. BML_ERR_STATE for models without SHAP support. */
BML_API bml_status bml_model_shap(const bml_model *m, const double *x, size_t n, double *phi);
/* SHAP interaction values of tree models (lgbm), as XGBoost's pred_interactions: writes phi
 * (n, O, F + 1, F + 1); entry (a, b), a != b, is half the interaction of features a and b, the diagonal
 * (a, a) the main effect, so that row a adds up to the SHAP value of a; (F, F) is the bias. BML_ERR_STATE
 * for other models. */
BML_API bml_status bml_model_shap_interactions(const bml_model *m, const double *x, size_t n, double *phi);

/* Feature importance of kind "gain" (average gain per split), "total_gain" or "split" (number of
 * splits): writes imp (O, F). BML_ERR_STATE for models without it. */
BML_API bml_status bml_model_importance(const bml_model *m, const char *kind, double *imp);

/* A JSON object (malloc'ed string, caller frees) describing what fitting found (for tree models:
 * best iteration and number of trees per target). */
BML_API char *bml_model_fit_info_json(const bml_model *m);

/* Per-epoch history as CSV text (epoch,train_loss,val_loss,lr), malloc'ed; NULL for models that
 * train without epochs (errno 0) and when out of memory (errno ENOMEM). */
BML_API char *bml_model_history_csv(const bml_model *m);

/* Save to directory `dir` (created; existing files of the same names are replaced) and load back.
 * The saved form is versioned: model.json (format version, model name, parameters, feature and
 * target names) plus the model's own files. Caller owns *out of load. */
BML_API bml_status bml_model_save(const bml_model *m, const char *dir);
BML_API bml_status bml_model_load(const char *dir, bml_model **out);

/* Registry of model names, descriptions and parameters (static storage, built once, read-only: any
 * thread may call these at any time). */
BML_API size_t bml_model_registry_count(void);
BML_API const char *bml_model_registry_name(size_t i);
BML_API const char *bml_model_registry_describe(size_t i);
BML_API size_t bml_model_registry_params(size_t i, const bml_param_info **params);
/* 1 when the named model trains with the config's training.* and loss.* settings (neural models). */
BML_API int bml_model_registry_takes_training(const char *name);
/* Names joined by ", " into buf (for messages). */
BML_API void bml_model_registry_list(char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
