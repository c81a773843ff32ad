/* Pipeline definitions for the registry. Internal. */
#ifndef BML_PIPELINES_INTERNAL_H
#define BML_PIPELINES_INTERNAL_H

#include "batteryml/pipeline.h"
#include "core/internal.h"

typedef struct {
    const char *name;
    const char *description;
    const bml__param_spec *specs;
    size_t n_specs;
    size_t params_size;
    bml_status (*transform)(const void *params, const bml_dataset *ds, bml_samples **out);
} bml__pipeline_def;

extern const bml__pipeline_def bml__pipeline_summary_set;
extern const bml__pipeline_def bml__pipeline_table;

/* Allocate samples with n rows, F features and O targets (names unset). */
bml_samples *bml__samples_alloc(size_t n, size_t n_features, size_t n_targets);

#endif
