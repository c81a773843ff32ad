/* What the seed's LightGBM snippet does, through the public C API:
 *
 *   model = LGBMModel(n_estimators=500, learning_rate=0.05, max_depth=6, early_stopping_rounds=50)
 *   model.fit(X_train, y_train, X_val, y_val, feature_names=pipeline.get_feature_names())
 *   y_pred = model.predict(X_val)
 *   for name, imp in zip(feature_names, model.feature_importances_): print(f"{name}: {imp:.1f}")
 *
 * Usage: example_lgbm [DATA_PATH]   (default: the shipped Oxford experiment-5 data) */
#include <stdio.h>
#include <stdlib.h>

#include "batteryml/batteryml.h"

#ifndef BML_DATA_DEFAULT
#define BML_DATA_DEFAULT "data/oxford-lgm50t"
#endif

#define CHECK(call)                                                          \
    do {                                                                     \
        if ((call) != BML_OK) {                                              \
            fprintf(stderr, "example_lgbm: %s\n", bml_last_error());         \
            goto out;                                                        \
        }                                                                    \
    } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : BML_DATA_DEFAULT;
    int rc = 1;
    bml_dataset *ds = NULL;
    bml_pipeline *pipe = NULL;
    bml_samples *s = NULL, *train = NULL, *val = NULL;
    bml_split *split = NULL;
    bml_model *model = NULL;
    double *y_pred = NULL, *imp = NULL;

    int experiments[] = {5};
    bml_oxford_opts opts = {.version = BML_OXFORD_OPTS_VERSION, .experiments = experiments, .n_experiments = 1};
    CHECK(bml_dataset_load_oxford(path, &opts, &ds));
    CHECK(bml_pipeline_create("summary_set", NULL, 0, &pipe));
    CHECK(bml_pipeline_transform(pipe, ds, &s));
    CHECK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &split)); /* 10, 40 -> 25 degC */
    CHECK(bml_samples_subset(s, split->folds[0].train, split->folds[0].n_train, &train));
    CHECK(bml_samples_subset(s, split->folds[0].val, split->folds[0].n_val, &val));

    bml_kv params[] = {{"n_estimators", "500"}, {"learning_rate", "0.05"}, {"max_depth", "6"},
                       {"early_stopping_rounds", "50"}};
    CHECK(bml_model_create("lgbm", params, 4, &model));
    CHECK(bml_model_fit(model, train, val, 42));

    y_pred = calloc(val->n, sizeof *y_pred);
    imp = calloc(val->n_features, sizeof *imp);
    if (!y_pred || !imp) goto out;
    CHECK(bml_model_predict(model, val->x, val->n, y_pred));
    bml_metrics m = bml_metrics_compute(val->y, y_pred, val->n, 1);
    printf("validation (25 degC): n=%zu RMSE %.4f MAE %.4f R2 %.3f\n", m.n, m.rmse, m.mae, m.r2);

    CHECK(bml_model_importance(model, "split", imp));
    for (size_t j = 0; j < val->n_features; j++) printf("%s: %.1f\n", val->feature_names[j], imp[j]);
    rc = 0;
out:
    free(y_pred);
    free(imp);
    bml_model_free(model);
    bml_samples_free(train);
    bml_samples_free(val);
    bml_split_free(split);
    bml_samples_free(s);
    bml_pipeline_free(pipe);
    bml_dataset_free(ds);
    return rc;
}
