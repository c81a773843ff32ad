/* What the seed's LSTM + attention snippet does, through the public C API:
 *
 *   model = LSTMAttentionModel(input_dim=5, hidden_dim=64, num_layers=2, num_heads=4, dropout=0.1)
 *   history = Trainer(model, config, tracker).fit(train_samples, val_samples)
 *   attention_weights = model.explain(x_batch)
 *
 * One sequence per cell (pipeline latent_ode_seq), trained on the 10 and 40 degC cells of experiment 5,
 * validated at 25 degC; prints the metrics per step and the attention of the first validation cell's
 * last step over its ageing sets.
 * Usage: example_lstm_attn [DATA_PATH] */
#include <stdio.h>
#include <stdlib.h>

#include "batteryml/batteryml.h"

#define CHECK(call)                                                        \
    do {                                                                   \
        if ((call) != BML_OK) {                                            \
            fprintf(stderr, "example_lstm_attn: %s\n", bml_last_error());  \
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
    double *y = NULL, *att = NULL;
    size_t *rows = NULL, n_rows = 0;
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    CHECK(bml_dataset_load_oxford(path, &o, &ds));
    CHECK(bml_pipeline_create("latent_ode_seq", NULL, 0, &pipe));
    CHECK(bml_pipeline_transform(pipe, ds, &s));
    CHECK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &split));
    const bml_fold *f = &split->folds[0];
    CHECK(bml_samples_subset(s, f->train, f->n_train, &train));
    CHECK(bml_samples_subset(s, f->val, f->n_val, &val));
    /* impute and standardise the steps with statistics of the training cells' real steps */
    CHECK(bml_samples_data_rows(train, &rows, &n_rows));
    CHECK(bml_samples_impute_mean(train, rows, n_rows));
    CHECK(bml_scaler_fit(&sc, train, rows, n_rows));
    size_t T = s->seq_len, F = s->n_features;
    for (size_t r = 0; r < val->n * T; r++)
        for (size_t j = 0; j < F; j++)
            if (val->x[r * F + j] != val->x[r * F + j]) val->x[r * F + j] = sc.mean[j];
    bml_scaler_transform(&sc, train->x, train->n * T, F);
    bml_scaler_transform(&sc, val->x, val->n * T, F);

    bml_kv params[] = {{"hidden_dim", "64"}, {"num_heads", "4"}, {"dropout", "0.1"}, {"epochs", "100"}};
    CHECK(bml_model_create("lstm_attn", params, 4, &model));
    CHECK(bml_model_fit(model, train, val, 42));
    y = calloc(val->n * T, sizeof *y);
    att = calloc(val->n * T * T, sizeof *att);
    if (!y || !att) goto out;
    CHECK(bml_model_predict_samples(model, val, y));
    bml_metrics m = bml_metrics_compute(val->y, y, val->n * T, 1); /* experiment 5 cells are all 16 steps long */
    printf("validation (25 degC, %zu cells x %zu steps): RMSE %.4f MAE %.4f R2 %.3f\n", val->n, T, m.rmse, m.mae, m.r2);
    CHECK(bml_model_attention(model, val, att));
    printf("attention of cell %s, last step, over its ageing sets:\n", val->meta[0].cell);
    for (size_t k = 0; k < T; k++) printf("  set %2zu  %.3f\n", k, att[(T - 1) * T + k]);
    rc = 0;
out:
    free(y);
    free(att);
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
