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
 * Sealed JSON documents (model.json, preprocess.json): the object's text ends with a member
 * "xxh64": "<16 lowercase hex digits>", the XXH64 (seed 0) of every byte of the file with those 16
 * digits read as '0'. Every byte counts, whitespace included, so any changed bit is caught. */
#ifndef BML_MODELS_CHECKPOINT_H
#define BML_MODELS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "batteryml/status.h"

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

/* XXH64 (seed 0) of a buffer, as used by every saved-model checksum. */
uint64_t bml__checksum(const void *data, size_t len);

/* Text of the object doc (which must not hold an "xxh64" member) sealed with its checksum as the last
 * member; malloc'ed, owned by the caller; NULL without memory. */
char *bml__json_seal(const cJSON *doc);
/* bml__json_seal written atomically to path. doc is borrowed. */
bml_status bml__json_write_sealed(const char *path, const cJSON *doc);
/* Verify the checksum of a sealed document text (len bytes) read from path (for messages). */
bml_status bml__json_verify(const char *path, const char *text, size_t len);
/* Read path, verify its checksum, parse it: *doc owned by the caller (cJSON_Delete), NULL on failure.
 * The "xxh64" member stays in the parsed document. */
bml_status bml__json_read_sealed(const char *path, cJSON **doc);

#endif
