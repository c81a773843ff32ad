/* `batteryml predict`: a saved run's model on new cells. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "track/track.h"

bml_status bml_run_predict(const char *run_dir, const char *data_path, const char *fold, const char *out_csv,
                           const bml_run_opts *opts, char **metrics_json) {
    *metrics_json = NULL;
    if (!bml__is_dir(run_dir)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such run directory", run_dir);
    char *cfg_path = bml__path_join(run_dir, "config.yaml");
    char *model_dir = NULL, *pre_path = NULL, *pre_txt = NULL;
    bml_config *cfg = NULL;
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    bml_model *m = NULL;
    cJSON *pre_j = NULL;
    bml__track_preprocess pre = {0};
    double *x = NULL, *pred = NULL;
    size_t *idx = NULL;
    bml_status st = cfg_path ? bml_config_load_resolved(cfg_path, NULL, NULL, 0, &cfg) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st != BML_OK) goto done;
    /* new cells may come from any experiment: the run's experiment filter does not apply */
    if ((st = bml_config_set(cfg, "data.experiment", "all")) != BML_OK) goto done;
    char *single = bml__path_join(run_dir, "model/model.json");
    int is_single = single && bml__is_file(single);
    free(single);
    if (is_single) {
        model_dir = bml__path_join(run_dir, "model");
    } else if (!fold) {
        st = bml__fail(BML_ERR_VALUE, "%s holds one model per fold (a LOCO run): choose one with --fold NAME (see %s/model/)",
                       run_dir, run_dir);
        goto done;
    } else {
        model_dir = bml__sprintf("%s/model/%s", run_dir, fold);
    }
    if (!model_dir) goto nomem;
    if (!bml__is_dir(model_dir)) {
        st = bml__fail(BML_ERR_NOT_FOUND, "%s: no saved model there", model_dir);
        goto done;
    }
    if ((st = bml_model_load(model_dir, &m)) != BML_OK) goto done;
    if ((st = bml_run_load_data(cfg, NULL, data_path, 1, &ds)) != BML_OK) goto done;
    if ((st = bml_run_build_samples(cfg, ds, 1, &s)) != BML_OK) goto done;
    size_t F = s->n_features, O = s->n_targets;
    if (F != bml_model_n_features(m) || O != bml_model_n_targets(m)) {
        st = bml__fail(BML_ERR_VALUE, "the data gives %zu features/%zu targets, the model expects %zu/%zu", F, O,
                       bml_model_n_features(m), bml_model_n_targets(m));
        goto done;
    }
    for (size_t j = 0; j < F; j++)
        if (strcmp(s->feature_names[j], bml_model_feature_name(m, j)) != 0) {
            st = bml__fail(BML_ERR_VALUE, "feature %zu is '%s' in the data but '%s' in the model", j, s->feature_names[j],
                           bml_model_feature_name(m, j));
            goto done;
        }
    pre_path = bml__path_join(model_dir, "preprocess.json");
    if (!pre_path) goto nomem;
    if ((st = bml__read_file(pre_path, &pre_txt, NULL)) != BML_OK) goto done;
    if (!(pre_j = cJSON_Parse(pre_txt))) {
        st = bml__fail(BML_ERR_PARSE, "%s: not valid JSON", pre_path);
        goto done;
    }
    if ((st = bml__track_preprocess_parse(pre_j, F, pre_path, &pre)) != BML_OK) goto done;
    x = bml__calloc(s->n * F + 1, sizeof *x);
    pred = bml__calloc(s->n * O + 1, sizeof *pred);
    idx = bml__calloc(s->n + 1, sizeof *idx);
    if (!x || !pred || !idx) goto nomem;
    memcpy(x, s->x, s->n * F * sizeof *x);
    bml__track_preprocess_apply(&pre, x, s->n, F);
    if ((st = bml_model_predict(m, x, s->n, pred)) != BML_OK) goto done;
    for (size_t i = 0; i < s->n; i++) idx[i] = i;
    if ((st = bml__track_write_predictions(out_csv, s, idx, s->n, pred, NULL, NULL, NULL)) != BML_OK) goto done;
    if (opts && opts->log) {
        char line[512];
        snprintf(line, sizeof line, "predicted %zu samples of %zu cells with %s; written to %s", s->n, bml_dataset_n_cells(ds),
                 model_dir, out_csv);
        opts->log(opts->log_user, line);
    }
    int have_targets = 1;
    for (size_t i = 0; i < s->n * O; i++) have_targets &= isfinite(s->y[i]) != 0;
    if (have_targets) {
        bml__track_eval ev = {s->n, idx, NULL, pred};
        cJSON *blk = bml__track_metrics_block(s, &ev, NULL, 0);
        if (blk) {
            *metrics_json = cJSON_Print(blk);
            cJSON_Delete(blk);
        }
    }
    goto done;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
done:
    bml__track_preprocess_release(&pre);
    cJSON_Delete(pre_j);
    free(pre_txt);
    free(pre_path);
    free(x);
    free(pred);
    free(idx);
    bml_model_free(m);
    bml_samples_free(s);
    bml_dataset_free(ds);
    bml_config_free(cfg);
    free(model_dir);
    free(cfg_path);
    return st;
}
