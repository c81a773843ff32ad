/* Experiment trackers: an MLflow-compatible file store and TensorBoard scalar event files. Internal. */
#ifndef BML_TRACK_WRITERS_H
#define BML_TRACK_WRITERS_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/types.h"
#include "batteryml/status.h"

/* One scalar: a tag ("soh/rmse", "holdout/train_loss"), a step and a value. */
typedef struct {
    const char *tag; /* any length; owned by whoever built the array */
    long step;
    double value;
} bml__scalar;

/* CRC-32C (Castagnoli) and TensorBoard's masked form ((crc >> 15 | crc << 17) + 0xa282ead8). */
uint32_t bml__crc32c(const void *data, size_t n);
uint32_t bml__crc32c_masked(const void *data, size_t n);

/* Write a TensorBoard event file into dir (created): the file_version record, then one Event with a
 * simple_value Summary per scalar, each record framed as TFRecord (length, masked CRC of the length,
 * data, masked CRC of the data). *path receives the file's path (caller frees; may be NULL). */
bml_status bml__tensorboard_write(const char *dir, double wall_time, const bml__scalar *s, size_t n, char **path);

/* Log a finished run into an MLflow file store (MLflow's documented FileStore layout):
 * <root>/<experiment id>/meta.yaml, <root>/<experiment id>/<run id>/{meta.yaml, params/, metrics/, tags/,
 * artifacts/}. The experiment is found by name or created; params are the configuration's keys (params),
 * metrics the scalars (with their steps), artifacts a copy of the files in artifacts_dir. The run
 * appears whole or not at all. *run_id (caller frees; may be NULL). */
bml_status bml__mlflow_log(const char *root, const char *experiment, const char *run_name, const bml_kv *params,
                           size_t n_params, const bml__scalar *s, size_t n, const char *artifacts_dir, double start_time,
                           double end_time, char **run_id);

#endif
