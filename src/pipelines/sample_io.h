/* What samples carry to and from files: the preprocessing a study fits for a model and saves beside it
 * (preprocess.json, bml_preprocess_save/load), and the samples' CSV columns (bml_samples_write_csv, and the
 * run writer's predictions). Internal. */
#ifndef BML_PIPELINES_SAMPLE_IO_H
#define BML_PIPELINES_SAMPLE_IO_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "batteryml/pipeline.h"
#include "core/internal.h"

/* What a fold's model needs besides itself to predict on raw samples. */
typedef struct {
    double *impute;     /* (F) training means used for missing features, or NULL */
    bml_scaler scaler;  /* mean == NULL when not scaled */
} bml__preprocess;
void bml__preprocess_release(bml__preprocess *p);
/* preprocess.json's object (exact numbers); NULL-safe for cJSON, owned by the caller */
cJSON *bml__preprocess_json(const bml__preprocess *p, size_t F);
/* Parse preprocess.json's object for F features (path: for messages). On failure *p is released. */
bml_status bml__preprocess_parse(const cJSON *j, size_t F, const char *path, bml__preprocess *p);
/* Impute, then scale, n rows of F features in place. */
void bml__preprocess_apply(const bml__preprocess *p, double *x, size_t n, size_t F);

/* The meta columns of a samples CSV ("experiment,cell,...,throughput_ah") and one sample's fields. */
void bml__sb_sample_meta_header(bml__sb *b);
void bml__sb_sample_meta(bml__sb *b, const bml_sample_meta *m);

#endif
