/* The dataset's roles: every source fills the same thing, and the pipelines read roles, not a source's columns.
 * A generic table whose columns have other names, mapped to roles, goes through summary_set and latent_ode_seq
 * exactly as the Oxford data it was written from; a role a pipeline needs and the data lack is an error naming
 * the role and the source. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

static char tmp[64];

static int same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* "%.17g", or an empty field for NaN (missing) */
static void put_num(FILE *f, double v) {
    if (isnan(v)) return;
    fprintf(f, "%.17g", v);
}

/* the columns of the renamed table and the roles they hold */
static const bml_role_column NAMED[] = {
    {BML_ROLE_SET_INDEX, "step no"},   {BML_ROLE_CYCLE, "n_cyc"},         {BML_ROLE_TEMPERATURE_MEASURED, "T_meas"},
    {BML_ROLE_THROUGHPUT_AH, "Q_tot"}, {BML_ROLE_ENERGY_WH, "E_tot"},     {BML_ROLE_RESISTANCE_OHM, "R0"},
    {BML_ROLE_SOH, "health"},          {BML_ROLE_CAPACITY_AH, "cap_ah"},  {BML_ROLE_LAM_NE, "lne"},
    {BML_ROLE_LAM_PE, "lpe"},          {BML_ROLE_LLI, "li"}};
#define N_NAMED (sizeof NAMED / sizeof *NAMED)

/* Write the Oxford experiment-5 cells as one CSV with other column names, in another order; *n_rows: its rows. */
static char *write_renamed(const bml_dataset *ox) {
    char *path = bml__path_join(tmp, "renamed.csv");
    FILE *f = path ? fopen(path, "w") : NULL;
    CHECK(f != NULL);
    if (!f) return path;
    fprintf(f, "who,deg,expt,t_d");
    for (size_t k = N_NAMED; k-- > 0;) fprintf(f, ",%s", NAMED[k].column); /* reversed: position means nothing */
    fprintf(f, "\n");
    size_t tcol = 0;
    CHECK_INT(bml_dataset_role_columns(ox, BML_ROLE_TIME, &tcol), 1);
    for (size_t c = 0; c < bml_dataset_n_cells(ox); c++) {
        bml_cell_view v;
        bml_dataset_cell(ox, c, &v);
        size_t nc = bml_dataset_n_columns(ox);
        for (size_t r = 0; r < v.n_rows; r++) {
            const double *row = v.values + r * nc;
            fprintf(f, "%s,%.17g,%d,", v.cell_id, v.temperature_c, v.experiment);
            put_num(f, row[tcol]);
            for (size_t k = N_NAMED; k-- > 0;) {
                size_t j = 0;
                CHECK_INT(bml_dataset_role_columns(ox, NAMED[k].role, &j), 1);
                fputc(',', f);
                put_num(f, row[j]);
            }
            fputc('\n', f);
        }
    }
    fclose(f);
    return path;
}

static bml_status load_renamed(const char *path, const bml_role_column *named, size_t n_named, bml_dataset **ds) {
    bml_table_roles roles = BML_TABLE_ROLES_INIT;
    roles.cell_column = "who";
    roles.temperature_column = "deg";
    roles.experiment_column = "expt";
    roles.time_column = "t_d";
    return bml_dataset_load_table_named(path, &roles, named, n_named, ds);
}

static bml_status transform(const char *pipeline, const bml_kv *kv, size_t n, const bml_dataset *ds, bml_samples **s) {
    bml_pipeline *p = NULL;
    *s = NULL;
    bml_status st = bml_pipeline_create(pipeline, kv, n, &p);
    if (st == BML_OK) st = bml_pipeline_transform(p, ds, s);
    bml_pipeline_free(p);
    return st;
}

/* every value and name of two sample sets alike (meta too, but the file lines: the two files differ) */
static void check_same_samples(const bml_samples *a, const bml_samples *b) {
    CHECK_INT(a->n, b->n);
    CHECK_INT(a->n_features, b->n_features);
    CHECK_INT(a->n_targets, b->n_targets);
    CHECK_INT(a->seq_len, b->seq_len);
    if (a->n != b->n || a->n_features != b->n_features || a->n_targets != b->n_targets || a->seq_len != b->seq_len) return;
    for (size_t j = 0; j < a->n_features; j++) CHECK_STR(a->feature_names[j], b->feature_names[j]);
    for (size_t k = 0; k < a->n_targets; k++) CHECK_STR(a->target_names[k], b->target_names[k]);
    size_t rows = a->n * (a->seq_len ? a->seq_len : 1), bad = 0;
    for (size_t i = 0; i < rows * a->n_features; i++) bad += !same(a->x[i], b->x[i]);
    for (size_t i = 0; i < rows * a->n_targets; i++) bad += !same(a->y[i], b->y[i]);
    for (size_t i = 0; a->seq_len && i < rows; i++) bad += !same(a->t[i], b->t[i]) || a->mask[i] != b->mask[i];
    for (size_t i = 0; i < a->n; i++) {
        const bml_sample_meta *m = &a->meta[i], *o = &b->meta[i];
        bad += m->experiment != o->experiment || strcmp(m->cell, o->cell) || !same(m->temperature_c, o->temperature_c) ||
               m->set_index != o->set_index || !same(m->cycle, o->cycle) || !same(m->days, o->days) ||
               !same(m->throughput_ah, o->throughput_ah);
    }
    CHECK_INT(bad, 0);
}

/* The Oxford cells written as a table of other column names, mapped to roles: summary_set (every option) and
 * latent_ode_seq give the samples the Oxford loader's data give. */
static void test_renamed_table_is_oxford(void) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ox = NULL, *tb = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ox));
    if (!ox) return;
    char *path = write_renamed(ox);
    CHECK_OK(load_renamed(path, NAMED, N_NAMED, &tb));
    if (tb) {
        CHECK_STR(bml_dataset_source(tb), "table");
        CHECK_INT(bml_dataset_n_cells(tb), bml_dataset_n_cells(ox));
        CHECK_INT(bml_dataset_n_rows(tb), bml_dataset_n_rows(ox));
        const char *const *names;
        CHECK_INT(bml_dataset_role_features(tb, &names), 0); /* roles only: no features, no targets */
        CHECK_INT(bml_dataset_role_targets(tb, &names), 0);
    }
    static const bml_kv k_default[] = {{"target", "soh"}};
    static const bml_kv k_all[] = {{"target", "modes"},          {"include_days", "true"},       {"include_energy", "true"},
                                   {"include_set_index", "true"}, {"missing_indicator", "true"}, {"temperature_source", "measured"},
                                   {"require_targets", "false"},  {"ea_kj_mol", "30"}};
    static const bml_kv k_cap[] = {{"target", "capacity"}};
    static const bml_kv k_seq[] = {{"target", "modes"}, {"require_targets", "false"}};
    static const bml_kv k_seq_q[] = {{"time", "throughput"}, {"require_targets", "false"}};
    static const struct {
        const char *pipeline;
        const bml_kv *kv;
        size_t n;
    } cases[] = {{"summary_set", NULL, 0},       {"summary_set", k_default, 1},    {"summary_set", k_all, 8},
                 {"summary_set", k_cap, 1},      {"latent_ode_seq", k_seq, 2},     {"latent_ode_seq", k_seq_q, 2}};
    size_t compared = 0;
    for (size_t c = 0; tb && c < sizeof cases / sizeof *cases; c++) {
        bml_samples *a = NULL, *b = NULL;
        CHECK_OK(transform(cases[c].pipeline, cases[c].kv, cases[c].n, ox, &a));
        CHECK_OK(transform(cases[c].pipeline, cases[c].kv, cases[c].n, tb, &b));
        if (a && b) {
            check_same_samples(a, b);
            compared += a->n;
        }
        bml_samples_free(a);
        bml_samples_free(b);
    }
    CHECK(compared > 400);
    bml_dataset_free(tb);
    bml_dataset_free(ox);
    free(path);
}

/* A role a pipeline needs and the data lack: an error naming the role, what it is for, and the source. */
static void test_missing_role(void) {
    char *path = bml__path_join(tmp, "few.csv");
    const char *text = "cell,T,Q,health\nA,25,0,1\nA,25,10,0.99\nB,40,0,1\nB,40,10,0.98\n";
    CHECK_OK(bml__write_file(path, text, strlen(text)));
    bml_table_roles roles = BML_TABLE_ROLES_INIT;
    roles.cell_column = "cell";
    roles.temperature_column = "T";
    bml_role_column named[] = {{BML_ROLE_THROUGHPUT_AH, "Q"}, {BML_ROLE_SOH, "health"}};
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    CHECK_OK(bml_dataset_load_table_named(path, &roles, named, 2, &ds));
    if (ds) {
        CHECK_ERR(transform("summary_set", NULL, 0, ds, &s), BML_ERR_VALUE,
                  "pipeline summary_set needs a column of role 'resistance_ohm' (for the feature resistance_ohm), but the "
                  "data of source 'table'");
        CHECK(strstr(bml_last_error(), "few.csv") && strstr(bml_last_error(), "data.resistance_ohm_column"));
        CHECK(s == NULL);
        /* the table pipeline reads the roles feature and target, which this table has not */
        CHECK_ERR(transform("table", NULL, 0, ds, &s), BML_ERR_VALUE, "pipeline table needs a generic table");
        CHECK(strstr(bml_last_error(), "no 'feature' column") != NULL);
    }
    bml_dataset_free(ds);
    ds = NULL;
    /* with a resistance column: soh runs, capacity names its role, latent_ode_seq its time axis */
    bml_role_column named3[] = {{BML_ROLE_THROUGHPUT_AH, "Q"}, {BML_ROLE_SOH, "health"}, {BML_ROLE_RESISTANCE_OHM, "Q"}};
    CHECK_OK(bml_dataset_load_table_named(path, &roles, named3, 3, &ds));
    if (ds) {
        CHECK_OK(transform("summary_set", NULL, 0, ds, &s));
        if (s) {
            CHECK_INT(s->n, 4);
            CHECK_NEAR(s->x[1 * 5 + 0], 10, 0);              /* throughput */
            CHECK_NEAR(s->x[2 * 5 + 2], 313.15, 1e-12);       /* temperature (K), the cell's */
            CHECK_NEAR(s->y[3], 0.98, 0);                     /* soh */
            CHECK_INT(s->meta[3].set_index, 1);               /* without a set_index column: the row's place in its cell */
            CHECK(isnan(s->meta[3].days) && isnan(s->meta[3].cycle));
        }
        bml_samples_free(s);
        s = NULL;
        bml_kv cap[] = {{"target", "capacity"}};
        CHECK_ERR(transform("summary_set", cap, 1, ds, &s), BML_ERR_VALUE,
                  "needs a column of role 'capacity_ah' (for the target capacity_ah (target=capacity))");
        bml_kv meas[] = {{"temperature_source", "measured"}};
        CHECK_ERR(transform("summary_set", meas, 1, ds, &s), BML_ERR_VALUE, "role 'temperature_measured_c'");
        CHECK_ERR(transform("latent_ode_seq", NULL, 0, ds, &s), BML_ERR_VALUE,
                  "pipeline latent_ode_seq needs a column of role 'time' (for the time vector (time=days))");
        CHECK(s == NULL);
    }
    bml_dataset_free(ds);
    /* cycle-life data have rows, but none of the summary roles */
    bml_dataset *q = NULL;
    size_t j0 = 1;
    bml_qdlin_opts qo;
    bml_qdlin_opts_default(&qo);
    qo.n_points = 20, qo.n_cycles = 99;
    CHECK_OK(bml_dataset_load_qdlin(TEST_DATA "/cyclelife/synth", &qo, &q));
    if (q) {
        CHECK_INT(bml_dataset_role_columns(q, BML_ROLE_CURVE, &j0), 20); /* each row: its cycle's Q(V) */
        CHECK_ERR(transform("summary_set", NULL, 0, q, &s), BML_ERR_VALUE, "role 'throughput_ah'");
        CHECK(strstr(bml_last_error(), "source 'qdlin'") != NULL);
    }
    bml_dataset_free(q);
    free(path);
}

/* what a table refuses of the named roles */
static void test_named_table_errors(void) {
    char *path = bml__path_join(tmp, "two.csv");
    const char *text = "cell,t,Q,R\nA,0,0,1\nA,1,10,1\n";
    CHECK_OK(bml__write_file(path, text, strlen(text)));
    bml_table_roles roles = BML_TABLE_ROLES_INIT;
    roles.cell_column = "cell";
    roles.time_column = "t";
    bml_dataset *ds = NULL;
    bml_role_column twice[] = {{BML_ROLE_THROUGHPUT_AH, "Q"}, {BML_ROLE_THROUGHPUT_AH, "R"}};
    CHECK_ERR(bml_dataset_load_table_named(path, &roles, twice, 2, &ds), BML_ERR_VALUE, "the role 'throughput_ah' is given twice");
    bml_role_column time2[] = {{BML_ROLE_TIME, "Q"}};
    CHECK_ERR(bml_dataset_load_table_named(path, &roles, time2, 1, &ds), BML_ERR_VALUE, "by data.time_column and again");
    bml_role_column span[] = {{BML_ROLE_FEATURE, "Q"}};
    CHECK_ERR(bml_dataset_load_table_named(path, &roles, span, 1, &ds), BML_ERR_VALUE, "is not a named role");
    bml_role_column none[] = {{BML_ROLE_SOH, ""}};
    CHECK_ERR(bml_dataset_load_table_named(path, &roles, none, 1, &ds), BML_ERR_VALUE, "no column named for the role 'soh'");
    bml_role_column absent[] = {{BML_ROLE_SOH, "health"}};
    CHECK_ERR(bml_dataset_load_table_named(path, &roles, absent, 1, &ds), BML_ERR_SCHEMA, "missing column(s) 'health'");
    /* no named role: features and targets are still required */
    CHECK_ERR(bml_dataset_load_table_named(path, &roles, NULL, 0, &ds), BML_ERR_VALUE, "no target columns");
    CHECK(ds == NULL);
    free(path);
}

/* every source says which columns hold which roles */
static void test_role_accessors(void) {
    CHECK_STR(bml_role_name(BML_ROLE_SOH), "soh");
    CHECK_STR(bml_role_name(BML_ROLE_RESISTANCE_OHM), "resistance_ohm");
    CHECK_STR(bml_role_name(BML_ROLE_COUNT), "?");
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    size_t j = 99;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    if (ds) {
        CHECK_STR(bml_dataset_source(ds), "oxford");
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_SOH, &j), 1);
        CHECK_INT(j, bml_dataset_column_index(ds, "soh"));
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_THROUGHPUT_AH, &j), 1);
        CHECK_INT(j, bml_dataset_column_index(ds, "charge_throughput_ah"));
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_FEATURE, NULL), 0);
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_COUNT, NULL), 0);
    }
    bml_dataset_free(ds);
    /* raw cycler data: a row per cycle, the cycle both the set index and the cycle count */
    CHECK_OK(bml_dataset_load_cycler(TEST_DATA "/cyclers/PredictionDiagnostics_000151_test.052", BML_CYCLER_AUTO, NULL, NULL,
                                     NULL, &ds));
    if (ds) {
        size_t a = 0, b = 1;
        CHECK_STR(bml_dataset_source(ds), "cycler");
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_SET_INDEX, &a), 1);
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_CYCLE, &b), 1);
        CHECK_INT(a, b);
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_SOH, &j), 1);
        CHECK_STR(bml_dataset_column_name(ds, j), "soh");
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_LLI, NULL), 0);
    }
    bml_dataset_free(ds);
    /* a generic table: its features and targets are spans */
    bml_table_roles roles = BML_TABLE_ROLES_INIT;
    roles.cell_column = "cell";
    roles.time_column = "days";
    const char *f[] = {"charge_throughput_ah", "resistance_ohm"}, *t[] = {"LLI"};
    roles.features = f, roles.n_features = 2, roles.targets = t, roles.n_targets = 1;
    CHECK_OK(bml_dataset_load_table(TEST_DATA "/table_small.csv", &roles, &ds));
    if (ds) {
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_FEATURE, &j), 2);
        CHECK_STR(bml_dataset_column_name(ds, j + 1), "resistance_ohm");
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_TARGET, &j), 1);
        CHECK_STR(bml_dataset_column_name(ds, j), "LLI");
        CHECK_INT(bml_dataset_role_columns(ds, BML_ROLE_TIME, &j), 1);
        CHECK_STR(bml_dataset_column_name(ds, j), "days");
        CHECK_INT(bml_dataset_is_oxford(ds), 0);
    }
    bml_dataset_free(ds);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-roles-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    static const test_case tests[] = {{"renamed_table_is_oxford", test_renamed_table_is_oxford},
                                      {"missing_role", test_missing_role},
                                      {"named_table_errors", test_named_table_errors},
                                      {"role_accessors", test_role_accessors}};
    int rc = run_tests("roles", tests, sizeof tests / sizeof *tests);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
