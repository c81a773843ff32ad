/* Fuzz target: loading a saved model (src/models/registry.c bml_model_load, each model's load: lgbm's
 * XGBoost booster files, the neural models' checkpoints) and its preprocess.json (src/pipelines/sample_io.c).
 * Input: parts split at FZ_SEP: [0] model.json, [1] the model's own file, written both as
 * booster_0.json (lgbm) and weights.bin (neural models), [2] preprocess.json.
 * A loaded model predicts two rows of zeros, as `batteryml predict` would. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "batteryml/model.h"
#include "fuzz_util.h"
#include "pipelines/sample_io.h"

static volatile double sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *parts[3];
    size_t lens[3];
    fz_split(data, size, parts, lens, 3);
    char *dir = fz_fresh_dir("model");
    free(fz_write(dir, "model.json", parts[0], lens[0]));
    free(fz_write(dir, "booster_0.json", parts[1], lens[1]));
    free(fz_write(dir, "weights.bin", parts[1], lens[1]));
    bml_model *m = NULL;
    fz_reset_error();
    bml_status st = bml_model_load(dir, &m);
    fz_check_status(st, "bml_model_load");
    if (st == BML_OK) {
        size_t F = bml_model_n_features(m), O = bml_model_n_targets(m);
        double acc = 0;
        for (size_t j = 0; j < F; j++) acc += bml_model_feature_name(m, j)[0];
        for (size_t k = 0; k < O; k++) acc += bml_model_target_name(m, k)[0];
        char *pre_txt = fz_strndup(parts[2], lens[2]);
        cJSON *pj = cJSON_Parse(pre_txt);
        bml__preprocess pre;
        if (pj) {
            fz_reset_error();
            st = bml__preprocess_parse(pj, F, "preprocess.json", &pre);
            fz_check_status(st, "bml__preprocess_parse");
            bml__preprocess_release(&pre);
        }
        cJSON_Delete(pj);
        free(pre_txt);
        if (F <= 4096 && O <= 4096 && !bml_model_wants_sequences(m)) {
            double *x = calloc(2 * F + 1, sizeof *x), *y = calloc(2 * O + 1, sizeof *y);
            if (x && y) {
                fz_reset_error();
                st = bml_model_predict(m, x, 2, y);
                fz_check_status(st, "bml_model_predict");
                for (size_t k = 0; st == BML_OK && k < 2 * O; k++) acc += y[k];
            }
            free(x);
            free(y);
        }
        sink = acc;
    }
    bml_model_free(m);
    free(dir);
    return 0;
}
