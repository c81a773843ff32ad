/* Versioned binary checkpoints of the neural models. Internal.
 * Layout (little-endian): "BMLCKPT\0", u32 version, u32 length + model name, u32 length + parameters
 * as JSON, u32 tensor count, then per tensor: u32 length + name, u32 ndim (1), u32 size, float32 data. */
#ifndef BML_MODELS_CHECKPOINT_H
#define BML_MODELS_CHECKPOINT_H

#include <stddef.h>

#include "batteryml/status.h"

#define BML_CKPT_VERSION 1u

typedef struct {
    const char *name;
    float *data;
    size_t n;
} bml__ckpt_tensor;

bml_status bml__ckpt_write(const char *path, const char *model, const char *params_json, const bml__ckpt_tensor *t,
                           size_t nt);
/* Read into t (names and sizes must match the file, in order). */
bml_status bml__ckpt_read(const char *path, const char *model, const bml__ckpt_tensor *t, size_t nt);

#endif
