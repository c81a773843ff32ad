/* Train/validation/test splits (SPEC section 5).
 *
 * A split is one or more folds of sample indices. Temperature holdout, random, stratified and
 * temporal give one fold; leave-one-cell-out gives one fold per cell. Models stop early on `val`;
 * metrics are reported on `test` when the fold has one, else on `val`. */
#ifndef BATTERYML_SPLIT_H
#define BATTERYML_SPLIT_H

#include "batteryml/export.h"

#include <stddef.h>
#include <stdint.h>

#include "batteryml/pipeline.h"
#include "batteryml/status.h"
#include "batteryml/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *name;              /* "holdout", or the held-out cell's key for LOCO ("E5-A"), as long as it is; owned by
                              * the split */
    size_t *train, n_train;  /* sample indices */
    size_t *val, n_val;
    size_t *test, n_test;    /* may be empty */
} bml_fold;

typedef struct {
    size_t n_folds;
    bml_fold *folds;
} bml_split;

/* Split `s` with the named strategy and key=value parameters; `seed` fixes every random choice.
 * Fails when a fold would have no training or no validation samples. Caller owns *out. */
BML_API bml_status bml_split_create(const char *name, const bml_kv *params, size_t n_params, const bml_samples *s,
                            uint64_t seed, bml_split **out);
BML_API void bml_split_free(bml_split *sp); /* NULL is harmless */
/* The indices metrics are computed on: test when non-empty, else val. */
BML_API const size_t *bml_fold_eval(const bml_fold *f, size_t *n);

/* Registry of split names, descriptions and parameters (static storage, built once, read-only: any
 * thread may call these at any time). */
BML_API size_t bml_split_registry_count(void);
BML_API const char *bml_split_registry_name(size_t i);
BML_API const char *bml_split_registry_describe(size_t i);
BML_API size_t bml_split_registry_params(size_t i, const bml_param_info **params);

#ifdef __cplusplus
}
#endif
#endif
