/* Fuzz target: the binary checkpoint reader (src/models/checkpoint.c) on its own.
 * Input: the checkpoint file. It is read as a checkpoint of model "mlp" with two tensors,
 * "w" (6 values) and "b" (2 values), the table the seeds were written with. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "models/checkpoint.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *path = fz_write(fz_scratch(), "weights.bin", data, size);
    float w[6], b[2];
    memset(w, 0, sizeof w);
    memset(b, 0, sizeof b);
    bml__ckpt_tensor t[2] = {{"w", w, 6}, {"b", b, 2}};
    fz_reset_error();
    bml_status st = bml__ckpt_read(path, "mlp", t, 2);
    fz_check_status(st, "bml__ckpt_read");
    float acc = 0;
    for (int i = 0; i < 6; i++) acc += w[i];
    sink = acc + b[0] + b[1];
    free(path);
    return 0;
}
