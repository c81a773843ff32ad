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
/* Allocate sequence samples (n, T, F) -> (n, T, O) with mask, t and step_meta, all zero. */
bml_samples *bml__samples_alloc_seq(size_t n, size_t T, size_t n_features, size_t n_targets);
extern const bml__pipeline_def bml__pipeline_latent_ode_seq;
extern const bml__pipeline_def bml__pipeline_ica_peaks;

#endif
