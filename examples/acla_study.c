/* What the seed's ACLA snippet does, through the public C API:
 *
 *   model = ACLAModel(input_dim=20, output_dim=3, hidden_dim=64, augment_dim=20, cnn_filters=[64, 32],
 *                     solver='dopri5', use_adjoint=True)
 *   history = Trainer(model, config, tracker).fit(train_samples, val_samples)
 *   attention_weights = model.explain(x_batch)['attention_weights']
 *
 * One sequence per cell (pipeline latent_ode_seq, multi-target LAM_NE, LAM_PE, LLI), trained on the 10 and
 * 40 degC cells of experiment 5 with adjoint-method gradients, validated at 25 degC; prints the metrics
 * per degradation mode and, for the first validation cell, the attention its first step (the one that
 * sets the ODE's initial state) pays to each ageing set.
 * Usage: example_acla [DATA_PATH] */
#include <stdio.h>
#include <stdlib.h>

#include "batteryml/batteryml.h"

#define CHECK(call)                                                        \
    do {                                                                   \
        if ((call) != BML_OK) {                                            \
            fprintf(stderr, "example_acla: %s\n", bml_last_error()); \
            goto out;                                                      \
        }                                                                  \
    } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "data/oxford-lgm50t";
    int rc = 1;
    bml_dataset *ds = NULL;
    bml_pipeline *pipe = NULL;
    bml_samples *s = NULL, *train = NULL, *val = NULL;
    bml_split *split = NULL;
    bml_model *model = NULL;
    bml_scaler sc = {0};
    double *y = NULL, *z = NULL, *yt = NULL, *yp = NULL;
    size_t *rows = NULL, n_rows = 0;
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    CHECK(bml_dataset_load_oxford(path, &o, &ds));
    bml_kv pp[] = {{"target", "modes"}};
    CHECK(bml_pipeline_create("latent_ode_seq", pp, 1, &pipe));
    CHECK(bml_pipeline_transform(pipe, ds, &s));
    CHECK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &split));
    const bml_fold *f = &split->folds[0];
    CHECK(bml_samples_subset(s, f->train, f->n_train, &train));
    CHECK(bml_samples_subset(s, f->val, f->n_val, &val));
    /* impute and standardise the steps with statistics of the training cells' real steps (the model's
     * time axis is the samples' days, which scaling the features leaves alone) */
    CHECK(bml_samples_data_rows(train, &rows, &n_rows));
    CHECK(bml_samples_impute_mean(train, rows, n_rows));
    CHECK(bml_scaler_fit(&sc, train, rows, n_rows));
    size_t T = s->seq_len, F = s->n_features, O = s->n_targets;
    for (size_t r = 0; r < val->n * T; r++)
        for (size_t j = 0; j < F; j++)
            if (val->x[r * F + j] != val->x[r * F + j]) val->x[r * F + j] = sc.mean[j];
    bml_scaler_transform(&sc, train->x, train->n * T, F);
    bml_scaler_transform(&sc, val->x, val->n * T, F);

    bml_kv params[] = {{"hidden_dim", "64"},   {"augment_dim", "20"}, {"cnn_filters1", "64"}, {"cnn_filters2", "32"},
                       {"solver", "dopri5"}, {"use_adjoint", "true"}, {"epochs", "60"}};
    CHECK(bml_model_create("acla", params, 7, &model));
    CHECK(bml_model_fit(model, train, val, 42));
    y = calloc(val->n * T * O, sizeof *y);
    z = calloc(val->n * T * T, sizeof *z);
    yt = calloc(val->n * T, sizeof *yt);
    yp = calloc(val->n * T, sizeof *yp);
    if (!y || !z || !yt || !yp) goto out;
    CHECK(bml_model_predict_samples(model, val, y));
    printf("validation (25 degC, %zu cells x %zu steps):\n", val->n, T);
    for (size_t k = 0; k < O; k++) { /* experiment 5 cells are all 16 steps long: no padding */
        for (size_t i = 0; i < val->n * T; i++) yt[i] = val->y[i * O + k], yp[i] = y[i * O + k];
        bml_metrics m = bml_metrics_compute(yt, yp, val->n * T, 1);
        printf("  %-7s RMSE %.4f MAE %.4f R2 %.3f\n", bml_model_target_name(model, k), m.rmse, m.mae, m.r2);
    }
    CHECK(bml_model_attention(model, val, z)); /* (cells, T, T), averaged over the heads */
    printf("attention of cell %s's first step over its ageing sets:\n", val->meta[0].cell);
    for (size_t k = 0; k < T; k++) printf("  day %5.0f  %.3f\n", val->t[k], z[k]);
    rc = 0;
out:
    free(y), free(z), free(yt), free(yp);
    free(rows);
    bml_scaler_release(&sc);
    bml_model_free(model);
    bml_samples_free(train);
    bml_samples_free(val);
    bml_split_free(split);
    bml_samples_free(s);
    bml_pipeline_free(pipe);
    bml_dataset_free(ds);
    return rc;
}
