/* Fuzz target: a saved run's preprocess.json (src/pipelines/sample_io.c bml__preprocess_parse), then
 * applied to a few rows with missing values, as `batteryml predict` does.
 * Input: one byte giving the number of features (% 8), then the JSON text. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "pipelines/sample_io.h"

static volatile double sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t F = data[0] % 8;
    char *txt = fz_strndup(data + 1, size - 1);
    cJSON *j = cJSON_Parse(txt);
    if (j) {
        bml__preprocess p;
        fz_reset_error();
        bml_status st = bml__preprocess_parse(j, F, "preprocess.json", &p);
        fz_check_status(st, "bml__preprocess_parse");
        if (st == BML_OK) {
            double x[3 * 8];
            for (size_t i = 0; i < 3 * F; i++) x[i] = i % 2 ? NAN : (double)i;
            bml__preprocess_apply(&p, x, 3, F);
            double acc = 0;
            for (size_t i = 0; i < 3 * F; i++) acc += x[i];
            sink = acc;
        }
        bml__preprocess_release(&p);
    }
    cJSON_Delete(j);
    free(txt);
    return 0;
}
