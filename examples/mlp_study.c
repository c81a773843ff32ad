/* What the seed's MLP snippet does, through the public C API:
 *
 *   model = MLPModel(input_dim=..., hidden_dims=[64, 32], dropout=0.1, output_dim=1)
 *   trainer = Trainer(model, config, tracker); history = trainer.fit(train_samples, val_samples)
 *
 * Trains on the 10 and 40 degC cells of experiment 5, validates (early stopping) at 25 degC, prints
 * the validation metrics and the per-epoch history. Features are standardised and missing values
 * imputed with statistics of the training split, as the runner does.
 * Usage: example_mlp [DATA_PATH] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "batteryml/batteryml.h"

#define CHECK(call)                                                  \
    do {                                                             \
        if ((call) != BML_OK) {                                      \
            fprintf(stderr, "example_mlp: %s\n", bml_last_error());  \
            goto out;                                                \
        }                                                            \
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
    double *y = NULL;
    char *history = NULL;
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    CHECK(bml_dataset_load_oxford(path, &o, &ds));
    CHECK(bml_pipeline_create("summary_set", NULL, 0, &pipe));
    CHECK(bml_pipeline_transform(pipe, ds, &s));
    CHECK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &split));
    const bml_fold *f = &split->folds[0];
    /* training statistics only: impute missing resistance, then standardise */
    CHECK(bml_samples_impute_mean(s, f->train, f->n_train));
    CHECK(bml_scaler_fit(&sc, s, f->train, f->n_train));
    bml_scaler_transform(&sc, s->x, s->n, s->n_features);
    CHECK(bml_samples_subset(s, f->train, f->n_train, &train));
    CHECK(bml_samples_subset(s, f->val, f->n_val, &val));

    bml_kv params[] = {{"hidden_dims", "[64, 32]"}, {"dropout", "0.1"}, {"epochs", "200"}, {"patience", "20"}};
    CHECK(bml_model_create("mlp", params, 4, &model));
    CHECK(bml_model_fit(model, train, val, 42));
    y = calloc(val->n, sizeof *y);
    if (!y) goto out;
    CHECK(bml_model_predict(model, val->x, val->n, y));
    bml_metrics m = bml_metrics_compute(val->y, y, val->n, 1);
    printf("validation (25 degC): n=%zu RMSE %.4f MAE %.4f R2 %.3f\n", m.n, m.rmse, m.mae, m.r2);
    history = bml_model_history_csv(model);
    printf("%s", history ? history : "");
    rc = 0;
out:
    free(history);
    free(y);
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
