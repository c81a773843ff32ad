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
    /* optional: a file of the run for its figures (extra_name), made from the curves of one cell
     * (extra_csv: malloc'ed text, NULL when out of memory) */
    const char *extra_name;
    char *(*extra_csv)(const void *params, const bml_dataset *ds, const char *cell, int experiment);
} bml__pipeline_def;

/* For the runner: the pipeline's extra run file (its name, or NULL when it has none; *text malloc'ed, NULL
 * when out of memory), and whether the named pipeline takes parameter `key`. */
const char *bml__pipeline_extra(const bml_pipeline *p, const bml_dataset *ds, const char *cell, int experiment, char **text);
int bml__pipeline_has_param(const char *name, const char *key);
/* Replace this thread's pipeline note (bml_pipeline_last_note) with `note` (malloc'ed, taken; NULL: none). */
void bml__pipeline_set_note(char *note);

extern const bml__pipeline_def bml__pipeline_summary_set;
extern const bml__pipeline_def bml__pipeline_table;

/* Allocate samples with n rows, F features and O targets (names unset). */
bml_samples *bml__samples_alloc(size_t n, size_t n_features, size_t n_targets);
/* Allocate sequence samples (n, T, F) -> (n, T, O) with mask, t and step_meta, all zero. */
bml_samples *bml__samples_alloc_seq(size_t n, size_t T, size_t n_features, size_t n_targets);
/* Copy ids[0..n) into s's cell-id storage (which must be empty); out[k] receives the stored copy of ids[k],
 * for meta[].cell. */
bml_status bml__samples_store_cells(bml_samples *s, const char *const *ids, size_t n, const char **out);
/* Give dst (cell-id storage empty) a copy of src's cell ids. */
bml_status bml__samples_copy_cells(bml_samples *dst, const bml_samples *src);
/* bml_samples_check_range, naming the file a cell's row came from when ds (NULL: none) holds the cell. */
bml_status bml__samples_check_range(const bml_samples *s, const char *who, int check_targets, const bml_dataset *ds);
/* *to = *from, with a cell id stored in src re-pointed at dst's copy (bml__samples_copy_cells first). */
void bml__meta_copy(const bml_samples *dst, const bml_samples *src, bml_sample_meta *to, const bml_sample_meta *from);
extern const bml__pipeline_def bml__pipeline_latent_ode_seq;
extern const bml__pipeline_def bml__pipeline_ica_peaks;
extern const bml__pipeline_def bml__pipeline_delta_q;

#endif
