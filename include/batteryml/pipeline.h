/* Pipelines turn a dataset into samples (SPEC section 3 and 4).
 *
 * A sample has meta data (never fed to a model), a feature vector x (F) and targets y (O).
 * Feature and target names travel with the samples. Missing features are NaN. */
#ifndef BATTERYML_PIPELINE_H
#define BATTERYML_PIPELINE_H

#include "batteryml/export.h"

#include <stddef.h>

#include "batteryml/dataset.h"
#include "batteryml/status.h"
#include "batteryml/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int experiment;        /* 0 when the source has none */
    const char *cell;      /* cell id, any length ("" for padded steps); points into the `cell_ids` storage of the
                            * bml_samples that holds this meta (valid until those samples are freed: copy it to
                            * keep it longer) */
    double temperature_c;  /* nominal temperature, deg C */
    int set_index;         /* ageing set / step index within the cell (0 = beginning of life) */
    double cycle;          /* ageing cycles (NaN if unknown) */
    double days;           /* days of degradation (NaN if unknown) */
    double throughput_ah;  /* charge throughput (NaN if unknown) */
    size_t line;           /* source line of the row */
} bml_sample_meta;

/* Static samples (seq_len == 0): x (n, F), y (n, O), one meta per sample.
 * Sequence samples (seq_len == T > 0, one per cell): x (n, T, F), y (n, T, O), mask (n, T) with 1 for
 * real steps and 0 for padding (padded steps are at the end, their values 0), t (n, T) the time of each
 * step in days, step_meta (n, T) the meta of each step; meta (n) is the cell's (its first step). */
typedef struct {
    size_t n, n_features, n_targets;
    size_t seq_len;              /* T; 0 for static samples */
    double *x;                   /* (n, F) or (n, T, F) row-major; NaN = missing */
    double *y;                   /* (n, O) or (n, T, O) */
    bml_sample_meta *meta;       /* (n) */
    double *mask;                /* (n, T) or NULL */
    double *t;                   /* (n, T) or NULL */
    bml_sample_meta *step_meta;  /* (n, T) or NULL */
    char **feature_names;        /* (n_features) */
    char **target_names;         /* (n_targets) */
    char *cell_ids;              /* the strings meta[].cell and step_meta[].cell point into: NUL-terminated ids
                                  * back to back (cell_ids_size bytes); owned by the samples. NULL if none */
    size_t cell_ids_size;
} bml_samples;

BML_API void bml_samples_free(bml_samples *s); /* NULL is harmless; frees the struct too (and the cell ids) */
/* Group key of a sample's cell, unique across experiments: "E5-A" (or "A" without experiment), written to
 * buf as snprintf does. Returns the key's full length: a result >= size means buf was too small (the key
 * is cut), so size a buffer from bml_sample_cell_key(m, NULL, 0) + 1 to hold any cell id. */
BML_API size_t bml_sample_cell_key(const bml_sample_meta *m, char *buf, size_t size);
/* New samples holding rows idx[0..n) of s (deep copy, their own cell ids); caller owns the result. */
BML_API bml_status bml_samples_subset(const bml_samples *s, const size_t *idx, size_t n, bml_samples **out);
/* Rows of x (n, F) or steps of x (n*T, F) that hold data: all rows of static samples, the unpadded
 * steps of sequences. *rows (malloc'ed, caller frees) indexes x as an (rows, F) matrix. */
BML_API bml_status bml_samples_data_rows(const bml_samples *s, size_t **rows, size_t *n_rows);
/* Static samples of the unpadded steps of sequence samples (meta from step_meta); a copy of static
 * samples. Caller owns *out. */
BML_API bml_status bml_samples_flatten(const bml_samples *s, bml_samples **out);
/* Every feature and target value of s within what the models compute in (single precision): finite or
 * NaN (a missing feature; a missing target), and 0 or of magnitude in [FLT_MIN, FLT_MAX] (no overflow to
 * infinity and no denormal). `who` starts the message ("pipeline summary_set", "model lgbm: training");
 * the error names the column, the cell, its source line and the sample. Targets are checked only when
 * check_targets. BML_OK or BML_ERR_VALUE. */
BML_API bml_status bml_samples_check_range(const bml_samples *s, const char *who, int check_targets);

typedef struct bml_pipeline bml_pipeline; /* opaque: a pipeline name plus validated parameters */

/* Create a pipeline by registered name with key=value parameters (unknown keys fail, naming the
 * valid ones). Caller owns *out (bml_pipeline_free). */
BML_API bml_status bml_pipeline_create(const char *name, const bml_kv *params, size_t n_params, bml_pipeline **out);
BML_API void bml_pipeline_free(bml_pipeline *p);
BML_API const char *bml_pipeline_name(const bml_pipeline *p);
/* Turn a dataset into samples. Caller owns *out (bml_samples_free). */
BML_API bml_status bml_pipeline_transform(const bml_pipeline *p, const bml_dataset *ds, bml_samples **out);

/* A note the last pipeline run on this thread left (e.g. its feature cache's hits and misses); "" if none. */
BML_API const char *bml_pipeline_last_note(void);

/* Registry: names, descriptions and parameters of the built-in pipelines (static storage, built once,
 * read-only: any thread may call these at any time). */
BML_API size_t bml_pipeline_registry_count(void);
BML_API const char *bml_pipeline_registry_name(size_t i);
BML_API const char *bml_pipeline_registry_describe(size_t i);
BML_API size_t bml_pipeline_registry_params(size_t i, const bml_param_info **params);

/* Standard scaler: per feature mean and standard deviation (population, ddof 0) over the rows
 * given, ignoring NaN. A constant feature gets scale 1. */
typedef struct {
    size_t n_features;
    double *mean;  /* (F) */
    double *scale; /* (F) */
} bml_scaler;
BML_API bml_status bml_scaler_fit(bml_scaler *sc, const bml_samples *s, const size_t *rows, size_t n_rows);
/* x := (x - mean) / scale for every row; NaN stays NaN. */
BML_API void bml_scaler_transform(const bml_scaler *sc, double *x, size_t n, size_t n_features);
BML_API void bml_scaler_release(bml_scaler *sc); /* frees mean/scale, not the struct */

/* Replace NaN features by their mean over `rows` (for models that cannot take missing values).
 * A feature missing in every training row gets 0. */
BML_API bml_status bml_samples_impute_mean(bml_samples *s, const size_t *rows, size_t n_rows);

/* Write samples as CSV: meta columns, features, targets (atomically); sequence samples as one row per real
 * step with the step's meta (as bml_samples_flatten). */
BML_API bml_status bml_samples_write_csv(const bml_samples *s, const char *path);

/* The preprocessing a study applies to a model's inputs (SPEC 6), saved beside the model as
 * DIR/preprocess.json (the file `batteryml run` writes into <run>/model/ and `batteryml predict` reads):
 * missing features (NaN) replaced by impute_mean, then x := (x - mean) / scale per feature, both fitted
 * on the training rows. Every number is written so that it reads back bit-identically.
 * Save: impute_mean (F) or NULL (no imputation); mean and scale (F) both given or both NULL (no scaling);
 * each value finite and every scale non-zero. DIR must exist; the file is written atomically and sealed with
 * its checksum. The arrays are borrowed. */
BML_API bml_status bml_preprocess_save(const char *dir, size_t n_features, const double *impute_mean, const double *mean,
                                       const double *scale);
/* Read DIR/preprocess.json (checksum verified) written for n_features features into the caller's arrays of
 * n_features values each: *has_impute and *has_scaler say which parts the file holds (the arrays of a
 * missing part are left as they were). BML_ERR_NOT_FOUND when DIR holds no preprocess.json; a changed bit,
 * a wrong count or a non-finite value is BML_ERR_PARSE naming the file. */
BML_API bml_status bml_preprocess_load(const char *dir, size_t n_features, double *impute_mean, double *mean, double *scale,
                                       int *has_impute, int *has_scaler);

#ifdef __cplusplus
}
#endif
#endif
