/* Parity with XGBoost's own Python package (tools/gen_xgb_reference.py): the same features and
 * split give the same predictions and TreeSHAP values to 1e-5. */
#include "core/internal.h"
#include "data/csvread.h"
#include "test.h"

#define PARITY TEST_DATA "/xgb_parity"
#define EXPECT_MODES_BEST 15 /* LAM_NE, from modes_small_leaves_case.json */

static void run_case(const char *features_file, const char *const *feats, size_t nf, const char *const *targs, size_t nt,
                     const bml_kv *params, size_t np, const char *reference, int expect_best0) {
    bml_table_roles roles = {.version = BML_TABLE_ROLES_VERSION, .cell_column = "cell", .temperature_column = "temperature_c", .experiment_column = "experiment", .features = feats, .n_features = nf, .targets = targs, .n_targets = nt};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL, *tr = NULL, *va = NULL;
    bml_split *sp = NULL;
    bml_model *m = NULL;
    bml__csv ref = {0};
    double *pred = NULL, *phi = NULL;
    CHECK_OK(bml_dataset_load_table(features_file, &roles, &ds));
    CHECK_OK(bml_pipeline_create("table", NULL, 0, &p));
    if (!ds || !p) goto out;
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (!s) goto out;
    CHECK_OK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &sp));
    if (!sp) goto out;
    CHECK_OK(bml_samples_subset(s, sp->folds[0].train, sp->folds[0].n_train, &tr));
    CHECK_OK(bml_samples_subset(s, sp->folds[0].val, sp->folds[0].n_val, &va));
    CHECK_OK(bml_model_create("lgbm", params, np, &m));
    if (!tr || !va || !m) goto out;
    CHECK_OK(bml_model_fit(m, tr, va, 42));
    size_t n = va->n, F = nf, O = nt;
    pred = calloc(n * O, sizeof *pred);
    phi = calloc(n * O * (F + 1), sizeof *phi);
    CHECK_OK(bml_model_predict(m, va->x, n, pred));
    CHECK_OK(bml_model_shap(m, va->x, n, phi));
    char *info = bml_model_fit_info_json(m);
    char want[64];
    snprintf(want, sizeof want, "\"best_iteration\":%d,", expect_best0);
    CHECK(info && strstr(info, want));
    free(info);
    CHECK_OK(bml__csv_read(reference, 0, &ref));
    CHECK_INT(ref.n_rows, 1 + n * O);
    double worst_p = 0, worst_s = 0;
    for (size_t r = 1; r < ref.n_rows && ref.n_rows == 1 + n * O; r++) {
        const bml__csv_row *row = &ref.rows[r];
        if (row->n_fields != 3 + F + 1) {
            CHECK_INT(row->n_fields, 3 + F + 1);
            break;
        }
        long i;
        double v;
        bml__parse_long(row->fields[0], &i);
        size_t k = (r - 1) / n;
        CHECK_STR(row->fields[1], targs[k]);
        bml__parse_double(row->fields[2], &v);
        worst_p = fmax(worst_p, fabs(v - pred[(size_t)i * O + k]));
        for (size_t j = 0; j <= F; j++) {
            bml__parse_double(row->fields[3 + j], &v);
            worst_s = fmax(worst_s, fabs(v - phi[((size_t)i * O + k) * (F + 1) + j]));
        }
    }
    printf("  %s: max |prediction diff| %.3g, max |SHAP diff| %.3g over %zu rows x %zu targets\n", reference, worst_p,
           worst_s, n, O);
    CHECK(worst_p <= 1e-5);
    CHECK(worst_s <= 1e-5);
out:
    bml__csv_free(&ref);
    free(pred);
    free(phi);
    bml_model_free(m);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_split_free(sp);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

static const char *FEATS[] = {"charge_throughput_ah", "resistance_ohm", "temperature_k", "arrhenius",
                              "inv_temperature_1000_k", "days"};

static void test_soh_default_params(void) {
    const char *t[] = {"soh"};
    run_case(PARITY "/features_expt5.csv", FEATS, 5, t, 1, NULL, 0, PARITY "/soh_default_reference.csv", 23);
}

static void test_modes_multi_target(void) {
    const char *t[] = {"LAM_NE", "LAM_PE", "LLI"};
    bml_kv kv[] = {{"n_estimators", "300"}, {"learning_rate", "0.1"}, {"max_depth", "4"},  {"num_leaves", "8"},
                   {"reg_alpha", "0"},      {"reg_lambda", "1"},      {"early_stopping_rounds", "20"},
                   {"random_state", "7"},   {"min_child_samples", "5"}};
    run_case(PARITY "/features_expt5_modes.csv", FEATS, 6, t, 3, kv, 9, PARITY "/modes_small_leaves_reference.csv", EXPECT_MODES_BEST);
}

TEST_MAIN("parity", T(test_soh_default_params), T(test_modes_multi_target))
