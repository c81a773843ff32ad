/* Saved-model files and their integrity. Internal.
 *
 * weights.bin, the versioned binary checkpoint of the neural models, version 2 (little-endian):
 *   offset 0   "BMLCKPT\0"                         magic, 8 bytes
 *   offset 8   u32 version                         BML_CKPT_VERSION
 *   offset 12  u32 length + model name
 *              u32 length + parameters as JSON
 *              u32 tensor count
 *              per tensor: u32 length + name, u32 ndim (1), u32 size, size x float32
 *   last 8     u64 XXH64 (seed 0) of every byte before it
 * Version 1 files (no checksum) are refused with a message asking to re-train or re-save.
 *
 * The checksum (bml__checksum) and the sealed JSON documents (model.json, preprocess.json) are core's
 * (core/json.h). */
#ifndef BML_MODELS_CHECKPOINT_H
#define BML_MODELS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "batteryml/status.h"
#include "core/json.h"

#define BML_CKPT_VERSION 2u

typedef struct {
    const char *name;
    float *data; /* borrowed: n values */
    size_t n;
} bml__ckpt_tensor;

/* Write the checkpoint atomically (temporary file + rename). The tensors are borrowed. */
bml_status bml__ckpt_write(const char *path, const char *model, const char *params_json, const bml__ckpt_tensor *t,
                           size_t nt);
/* Read into t (names and sizes must match the file, in order; every value finite). Checks magic, version
 * and checksum before anything else; every field is bounds-checked against the file's length and an early
 * end names what was being read and at which byte offset. On failure t's data may be partly overwritten. */
bml_status bml__ckpt_read(const char *path, const char *model, const bml__ckpt_tensor *t, size_t nt);
/* BML_OK when every value of every tensor is finite, else BML_ERR_VALUE naming `what`, the tensor and
 * the index of the first bad value. */
bml_status bml__ckpt_check_finite(const char *what, const bml__ckpt_tensor *t, size_t nt);

#endif
