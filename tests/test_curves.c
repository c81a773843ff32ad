/* Voltage curves: the LG M50 potentials, the physics-based generator (checked against a measured fresh
 * LG M50 C/10 discharge), the Oxford / Basytec / generic readers, the ica_peaks pipeline and its cache. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "data/dataset_internal.h"
#include "data/synth.h"
#include "test.h"

static char tmp[64];

static void test_potentials(void) {
    /* FACTS.md section 1 check values */
    CHECK_NEAR(bml__ocp_graphite(0.0), 2.3835, 5e-5);
    CHECK_NEAR(bml__ocp_graphite(0.5), 0.1331, 5e-5);
    CHECK_NEAR(bml__ocp_graphite(1.0), 0.0920, 5e-5);
    CHECK_NEAR(bml__ocp_nmc811(0.0), 4.6785, 5e-5);
    CHECK_NEAR(bml__ocp_nmc811(0.5), 3.9720, 5e-5);
    CHECK_NEAR(bml__ocp_nmc811(1.0), 3.4873, 5e-5);
    /* silicon: finite inside (0, 1), decreasing over the bulk of the range */
    CHECK(isfinite(bml__ocp_silicon(0.5)));
    CHECK(bml__ocp_silicon(0.2) > bml__ocp_silicon(0.8));
}

/* the measured fresh LG M50 C/10 discharge against Chen 2020's windows through the same potentials */
static void test_generator_against_measured_curve(void) {
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_basytec(DATA_DIR "/../lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv", 13, 1, &ds));
    if (!ds) return;
    const bml__curve *m = &ds->curves[0];
    size_t n = 2000;
    double *q = calloc(n, sizeof *q), *v = calloc(n, sizeof *v);
    bml__synth_curve_windows(0.9014, 0.0279, 0.2661, 0.9084, m->capacity_ah, n, q, v);
    /* RMSE over the measured charge points (the synthetic curve interpolated there) */
    double se = 0, worst = 0, at = 0, bias = 0;
    for (size_t i = 0; i < m->n; i++) {
        double a = m->q[i] / m->capacity_ah * (double)(n - 1);
        size_t k = (size_t)a;
        if (k >= n - 1) k = n - 2;
        double vs = v[k] + (a - (double)k) * (v[k + 1] - v[k]), e = vs - m->v[i];
        se += e * e;
        bias += e;
        if (fabs(e) > worst) worst = fabs(e), at = m->q[i];
    }
    double rmse = sqrt(se / (double)m->n);
    printf("  synthetic (Chen 2020 windows) vs measured fresh LG M50 C/10: RMSE %.1f mV over %zu points, mean "
           "(synthetic - measured) %+.1f mV, largest |error| %.0f mV at %.2f of %.2f Ah\n",
           1e3 * rmse, m->n, 1e3 * bias / (double)m->n, 1e3 * worst, at, m->capacity_ah);
    CHECK(rmse < 0.05); /* a pseudo-OCV against a C/10 discharge: the overpotential, tens of mV */
    CHECK(bias > 0);    /* the measured discharge lies below the open-circuit curve */
    CHECK(m->capacity_ah > 4.9); /* step 13, cycle 1: 4.94 Ah */
    free(q), free(v);
    bml_dataset_free(ds);
}

static void test_generator_capacity(void) {
    /* Expt 5 cell A row 0 (values from its Performance Summary, Ah) */
    bml__electrode_state e = {5.6213342942788095, 5.375572077668229, 0.1033642231813236, 0.9712870889051008,
                              0.0086352080887809, 0.9162380640062356, 0.8497034484465764};
    double q[300], v[300];
    CHECK_OK(bml__synth_curve(&e, 300, q, v));
    CHECK_NEAR(q[299], e.pe_cap * (e.pe_hi - e.pe_lo), 1e-12);            /* Cell = PE (PE_hi - PE_lo) */
    CHECK_NEAR(e.pe_cap * (e.pe_hi - e.pe_lo), e.ne_cap * (e.ne_hi - e.ne_lo), 1e-6); /* = NE (NE_hi - NE_lo) */
    CHECK(v[0] > 4.0 && v[0] < 4.3);
    CHECK(v[299] > 2.3 && v[299] < 3.3);
    for (int i = 1; i < 300; i++) CHECK(v[i] <= v[i - 1] + 1e-3); /* a discharge */
    bml__electrode_state bad = e;
    bad.pe_lo = NAN;
    CHECK_ERR(bml__synth_curve(&bad, 300, q, v), BML_ERR_VALUE, "electrode state is incomplete");
}

static void test_oxford_curves_and_pipeline_cache(void) {
    char out[128], cache[160];
    snprintf(out, sizeof out, "%s/curves", tmp);
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    int e5[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e5, .n_experiments = 1};
    size_t n = 0;
    CHECK_OK(bml_synth_curves_write(DATA_DIR, &o, out, 600, &n));
    CHECK_INT(n, 128);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_oxford_curves(out, NULL, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_curves(ds), 128);
    /* targets from the same RPT of the Performance Summary */
    const bml__curve *c = &ds->curves[1];
    CHECK_INT(c->experiment, 5);
    CHECK_STR(c->cell_id, "40degC");
    CHECK(c->rpt >= 0 && isfinite(c->soh) && isfinite(c->lli));
    int found = 0;
    for (size_t i = 0; i < ds->n_curves; i++)
        if (!strcmp(ds->curves[i].cell_id, "A") && ds->curves[i].rpt == 2) {
            CHECK_NEAR(ds->curves[i].soh, 0.911022432, 1e-12);
            CHECK_NEAR(ds->curves[i].temperature_c, 10, 0);
            found = 1;
        }
    CHECK(found);
    /* the pipeline, twice: misses, then hits with the same numbers */
    char cd[200];
    snprintf(cd, sizeof cd, "%s", cache);
    bml_kv kv[] = {{"cache_dir", cd}, {"target", "modes"}};
    bml_pipeline *p = NULL;
    bml_samples *a = NULL, *b = NULL, *d = NULL;
    CHECK_OK(bml_pipeline_create("ica_peaks", kv, 2, &p));
    if (p) CHECK_OK(bml_pipeline_transform(p, ds, &a));
    CHECK(strstr(bml_pipeline_last_note(), "0 hits, 128 misses") != NULL);
    if (p) CHECK_OK(bml_pipeline_transform(p, ds, &b));
    CHECK(strstr(bml_pipeline_last_note(), "128 hits, 0 misses") != NULL);
    if (a && b) {
        CHECK_INT(a->n_features, 15);
        CHECK_STR(a->feature_names[0], "peak1_voltage_v");
        CHECK_STR(a->target_names[2], "LLI");
        CHECK(!memcmp(a->x, b->x, a->n * a->n_features * sizeof *a->x));
    }
    /* a damaged entry is recomputed, never trusted */
    DIR *dir = opendir(cache);
    struct dirent *ent;
    int damaged = 0;
    while (dir && (ent = readdir(dir)) && damaged < 3)
        if (ent->d_name[0] != '.') {
            char path[600];
            snprintf(path, sizeof path, "%s/%s", cache, ent->d_name);
            FILE *f = fopen(path, "r+b");
            if (f) {
                fseek(f, 40, SEEK_SET);
                fputc(0x55, f);
                fclose(f);
                damaged++;
            }
        }
    if (dir) closedir(dir);
    if (p) CHECK_OK(bml_pipeline_transform(p, ds, &d));
    CHECK(strstr(bml_pipeline_last_note(), "125 hits, 3 misses") != NULL);
    if (a && d) CHECK(!memcmp(a->x, d->x, a->n * a->n_features * sizeof *a->x));
    bml_samples_free(d);
    d = NULL;
    bml_pipeline_free(p);
    /* other parameters: other keys */
    bml_kv kv2[] = {{"cache_dir", cd}, {"prominence", "0.02"}};
    CHECK_OK(bml_pipeline_create("ica_peaks", kv2, 2, &p));
    if (p) CHECK_OK(bml_pipeline_transform(p, ds, &d));
    CHECK(strstr(bml_pipeline_last_note(), "0 hits, 128 misses") != NULL);
    bml_pipeline_free(p);
    bml_samples_free(a), bml_samples_free(b), bml_samples_free(d);
    /* summary pipelines do not take curves, ica_peaks takes nothing else */
    CHECK_OK(bml_pipeline_create("summary_set", NULL, 0, &p));
    if (p) CHECK_ERR(bml_pipeline_transform(p, ds, &a), BML_ERR_VALUE, "needs Oxford Performance Summary data");
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    bml_dataset *sum = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &sum));
    CHECK_OK(bml_pipeline_create("ica_peaks", NULL, 0, &p));
    if (p && sum) CHECK_ERR(bml_pipeline_transform(p, sum, &a), BML_ERR_VALUE, "needs voltage curves");
    bml_pipeline_free(p);
    bml_dataset_free(sum);
    CHECK_ERR(bml_dataset_load_oxford_curves(DATA_DIR, NULL, &ds), BML_ERR_EMPTY, "no 0.1C voltage-curve files");
}

/* milestone B through the runner: ICA features of the synthetic curves, lgbm, LOCO, SHAP of the features */
static void test_ica_study(void) {
    char dp[160], cd[200], od[160];
    snprintf(dp, sizeof dp, "data.path=%s/curves", tmp);
    snprintf(cd, sizeof cd, "pipeline.cache_dir=%s/cache2", tmp);
    snprintf(od, sizeof od, "output_dir=%s/runs", tmp);
    const char *ov[] = {"data=oxford_curves", dp, "pipeline=ica_peaks", cd, od, "split=loco", "split.cells=[E5-A, E5-E]",
                        "figures=false"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov, 8, &c));
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    bml_run_result *r = NULL;
    if (c) CHECK_OK(bml_run_experiment(c, &o, &r));
    if (r) {
        CHECK(strstr(r->metrics_json, "\"rmse\"") != NULL);
        char *p = bml__path_join(r->run_dir, "shap.csv"), *txt = NULL;
        CHECK_OK(bml__read_file(p, &txt, NULL));
        CHECK(txt && strstr(txt, "shap_peak1_voltage_v") && strstr(txt, "shap_total_area_ah"));
        free(txt);
        free(p);
        /* the dQ/dV curves of the first evaluated cell, with the detected peaks, for the figure */
        p = bml__path_join(r->run_dir, "dqdv.csv");
        txt = NULL;
        CHECK_OK(bml__read_file(p, &txt, NULL));
        CHECK(txt && !strncmp(txt, "cell,rpt,voltage_v,dqdv_ah_per_v,is_peak\nA,", 43) && strstr(txt, ",1\n"));
        free(txt);
        free(p);
        int nfig = 0;
        CHECK_OK(bml_run_plot(r->run_dir, &nfig));
        p = bml__path_join(r->run_dir, "figures/dqdv_curves.png");
        CHECK(bml__is_file(p));
        free(p);
        /* predict with a fold's model on the curves of one cell */
        char data[200], out[200], *metrics = NULL;
        snprintf(data, sizeof data, "%s/curves", tmp);
        snprintf(out, sizeof out, "%s/pred.csv", tmp);
        bml_run_opts q = {.version = BML_RUN_OPTS_VERSION};
        CHECK_OK(bml_run_predict(r->run_dir, data, "E5-A", out, &q, &metrics));
        CHECK(metrics != NULL);
        free(metrics);
    }
    bml_run_result_free(r);
    bml_config_free(c);
}

static void test_basytec_and_generic(void) {
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_basytec(DATA_DIR "/../lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv", 13, 0, &ds));
    if (ds) {
        CHECK_INT(bml_dataset_n_curves(ds), 2); /* cycles 1 and 2 */
        CHECK_INT(ds->curves[0].n, 760);
        CHECK_NEAR(ds->curves[1].capacity_ah, 4.9149, 1e-4);
    }
    bml_dataset_free(ds);
    CHECK_ERR(bml_dataset_load_basytec(DATA_DIR "/../lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv", 99, 0, &ds), BML_ERR_EMPTY,
              "no rows of step 99");
    CHECK_ERR(bml_dataset_load_basytec(DATA_DIR "/Expt 5 - cell A (10degC) - Processed Data.csv", 13, 0, &ds), BML_ERR_SCHEMA,
              "no Basytec header row");
    bml_curve_columns cc = {.version = BML_CURVE_COLUMNS_VERSION, .capacity_column = "charge_capacity", .voltage_column = "voltage", .name_pattern = "cell_([0-9]+)_cyc_([0-9]+)", .temperature_c = 25};
    CHECK_OK(bml_dataset_load_curve_table(DATA_DIR "/../fast-formation-c20", &cc, &ds));
    if (ds) {
        CHECK_INT(bml_dataset_n_curves(ds), 4);
        CHECK_INT(ds->curves[0].rpt, 3);
        CHECK_INT(ds->curves[3].rpt, 262);
        CHECK_NEAR(ds->curves[0].soh, 1.0, 0);
        CHECK(ds->curves[3].soh < 0.95);
        CHECK_NEAR(ds->curves[0].capacity_ah, 2.472, 0.002);
    }
    bml_dataset_free(ds);
    bml_curve_columns bad = {.version = BML_CURVE_COLUMNS_VERSION, .capacity_column = "charge_capacity", .voltage_column = "volts", .name_pattern = "cell_([0-9]+)_cyc_([0-9]+)", .temperature_c = 25};
    CHECK_ERR(bml_dataset_load_curve_table(DATA_DIR "/../fast-formation-c20", &bad, &ds), BML_ERR_SCHEMA, "'volts'");
    bml_curve_columns nomatch = {.version = BML_CURVE_COLUMNS_VERSION, .capacity_column = "charge_capacity", .voltage_column = "voltage", .name_pattern = "battery_([0-9]+)_n([0-9]+)", .temperature_c = 25};
    CHECK_ERR(bml_dataset_load_curve_table(DATA_DIR "/../fast-formation-c20", &nomatch, &ds), BML_ERR_VALUE,
              "does not match");
}

static void put(const char *name, const char *text) {
    char *p = bml__path_join(tmp, name);
    CHECK_OK(bml__write_file(p, text, strlen(text)));
    free(p);
}

static bml_status load_basytec(const char *name, bml_dataset **ds) {
    char *p = bml__path_join(tmp, name);
    bml_status st = bml_dataset_load_basytec(p, 13, 0, ds);
    free(p);
    return st;
}

/* A Basytec export as data=basytec reads it (through the cycler registry's Basytec reader): a preamble, the
 * header (Cycle after AhAccu, as in the fuzz input where a short row was read past its fields), the units row,
 * then the rows given: discharge rows of step 13 take "13,DCH,<time>,<V>,-0.5,<AhAccu>,<cycle>". */
static void put_basytec(const char *name, const char *rows) {
    const char *head = "Measurement ID,1\nBattery Name,T\n\nStep,Status,Prog Time,Voltage,Current,AhAccu,Cycle\n";
    char *text = malloc(strlen(head) + strlen(rows) + 1);
    if (!text) return;
    strcpy(text, head);
    strcat(text, rows);
    put(name, text);
    free(text);
}
#define BASY_UNITS "[],[],[ss.xxx],[V],[A],[Ah],[]\n"

/* A Basytec row shorter than its header is an error naming file and line, in the middle of the file or cut at
 * its end; a step or cycle that is not a number ('xx', '1e400', 'one') or not an integer is an error naming file,
 * line and column, not a row skipped; so are a cycle beyond an int, a header without AhAccu or Cycle and a run
 * of one row. Without a units row the first row is data, not dropped. */
static void test_basytec_bad_rows(void) {
    bml_dataset *ds = NULL;
    put_basytec("b1.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,1\n13,DCH,10\n13,DCH,20,3.9,-0.5,-0.2,1\n");
    CHECK_ERR(load_basytec("b1.csv", &ds), BML_ERR_PARSE, "b1.csv:7: 3 fields where the basytec header (line 4) has 7");
    put_basytec("b2.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,1\n13,DCH,10,4.0,-0.5,-0.1,1\nxx,DCH,20,3.9,-0.5,-0.2,1\n"
                                     "13,DCH,30,3.8,-0.5,-0.3,1\n");
    CHECK_ERR(load_basytec("b2.csv", &ds), BML_ERR_PARSE, "b2.csv:8:1: column 'Step': 'xx' is not a number");
    put_basytec("b3.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,1\n1e400,DCH,10,4.0,-0.5,-0.1,1\n13,DCH,30,3.8,-0.5,-0.3,1\n");
    CHECK_ERR(load_basytec("b3.csv", &ds), BML_ERR_PARSE, "b3.csv:7:1: column 'Step': '1e400' is not a number");
    put_basytec("b3i.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,1\n13.5,DCH,10,4.0,-0.5,-0.1,1\n");
    CHECK_ERR(load_basytec("b3i.csv", &ds), BML_ERR_PARSE, "b3i.csv:7:1: column 'Step': '13.5' is not an integer index");
    put_basytec("b4.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,1\n13,DCH,10,4.0,-0.5,-0.1,one\n");
    CHECK_ERR(load_basytec("b4.csv", &ds), BML_ERR_PARSE, "b4.csv:7:7: column 'Cycle': 'one' is not a number");
    put_basytec("b5.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,1\n13,DCH,10,4.0,-0.5,-0.1,1\n13,DCH,20,3.9,-0.5,-0.2,1\n13,DCH");
    CHECK_ERR(load_basytec("b5.csv", &ds), BML_ERR_PARSE, "b5.csv:9: truncated: the last row has 2 of the header's 7 fields");
    put_basytec("b7.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,3000000000\n13,DCH,10,4.0,-0.5,-0.1,3000000000\n");
    CHECK_ERR(load_basytec("b7.csv", &ds), BML_ERR_VALUE, "b7.csv:6: cycle 3000000000 is out of range");
    put("b8.csv", "Step,Status,Prog Time,Voltage,Current,AhAccu [Ah],Cycle\n13,DCH,0,4.1,-0.5,0.0,1\n13,DCH,10,4.0,-0.5,-0.1,1\n");
    CHECK_ERR(load_basytec("b8.csv", &ds), BML_ERR_SCHEMA, "b8.csv:2: no AhAccu column");
    put("b10.csv", "Step,Status,Prog Time,Voltage,Current,AhAccu\n13,DCH,0,4.1,-0.5,0.0\n13,DCH,10,4.0,-0.5,-0.1\n");
    CHECK_ERR(load_basytec("b10.csv", &ds), BML_ERR_SCHEMA, "b10.csv:2: no cycle index");
    put_basytec("b9.csv", BASY_UNITS "13,DCH,0,4.1,-0.5,0.0,1\n13,DCH,10,4.0,-0.5,-0.1,1\n14,PAU,20,4.0,0,-0.1,1\n"
                                     "13,DCH,30,3.9,-0.5,0.0,2\n14,PAU,40,3.9,0,0.0,2\n");
    CHECK_ERR(load_basytec("b9.csv", &ds), BML_ERR_EMPTY, "b9.csv:9: fewer than 2 data rows in step 13 of cycle 2");
    CHECK(ds == NULL);
    /* without a units row the first row is data, not dropped */
    put_basytec("b6.csv", "13,DCH,0,4.1,-0.5,0.0,1\n13,DCH,10,4.0,-0.5,-0.1,1\n13,DCH,20,3.9,-0.5,-0.5,1\n");
    CHECK_OK(load_basytec("b6.csv", &ds));
    if (ds) {
        CHECK_INT(ds->n_curves, 1);
        CHECK_INT(ds->curves[0].n, 3);
        CHECK_NEAR(ds->curves[0].capacity_ah, 0.5, 1e-12);
    }
    bml_dataset_free(ds);
}

/* A curve table cut mid-row is an error (the short row was skipped); so is a cycle group that is no number
 * and two files of one cell and cycle. */
static void test_curve_table_bad_files(void) {
    char dir[128];
    bml_curve_columns cc = {.version = BML_CURVE_COLUMNS_VERSION, .capacity_column = "q", .voltage_column = "v", .name_pattern = "cell_(.*)_cyc_(.*)\\.csv", .temperature_c = 25};
    bml_dataset *ds = NULL;
    snprintf(dir, sizeof dir, "%s/ct1", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    put("ct1/cell_1_cyc_2.csv", "q,v\n0,4.1\n0.5,4.0\n1.0,3.9\n1.5");
    CHECK_ERR(bml_dataset_load_curve_table(dir, &cc, &ds), BML_ERR_PARSE, "cell_1_cyc_2.csv:5: 1 fields, the header has 2");
    snprintf(dir, sizeof dir, "%s/ct2", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    put("ct2/cell_1_cyc_x2.csv", "q,v\n0,4.1\n0.5,4.0\n1.0,3.9\n");
    CHECK_ERR(bml_dataset_load_curve_table(dir, &cc, &ds), BML_ERR_VALUE, "cannot read 'x2'");
    snprintf(dir, sizeof dir, "%s/ct3", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    put("ct3/cell_1_cyc_2.csv", "q,v\n0,4.1\n0.5,4.0\n1.0,3.9\n");
    put("ct3/cell_1_cyc_02.csv", "q,v\n0,4.1\n0.5,4.0\n1.0,3.9\n");
    CHECK_ERR(bml_dataset_load_curve_table(dir, &cc, &ds), BML_ERR_VALUE, "two curves of cell '1' cycle 2");
    CHECK(ds == NULL);
}

/* ica_peaks on curves without the requested target fails with a message (it read the freed samples for it) */
static void test_ica_missing_target(void) {
    bml_kv kv[] = {{"cache", "false"}, {"target", "soh"}};
    bml_pipeline *p = NULL;
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    CHECK_OK(bml_dataset_load_basytec(DATA_DIR "/../lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv", 13, 0, &ds));
    CHECK_OK(bml_pipeline_create("ica_peaks", kv, 2, &p));
    if (ds && p) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "Cell782_0p1C_25degC.csv: no soh target");
    CHECK(s == NULL);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    bml_curve_columns cc = {.version = BML_CURVE_COLUMNS_VERSION, .capacity_column = "charge_capacity", .voltage_column = "voltage", .name_pattern = "cell_([0-9]+)_cyc_([0-9]+)", .temperature_c = 25};
    kv[1].value = "modes";
    CHECK_OK(bml_dataset_load_curve_table(DATA_DIR "/../fast-formation-c20", &cc, &ds));
    CHECK_OK(bml_pipeline_create("ica_peaks", kv, 2, &p));
    if (ds && p) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "no LAM_NE target");
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

/* cell ids longer than 31 characters, distinct only after that, stay whole and distinct through the curve
 * readers and ica_peaks */
static void test_long_curve_cell_ids(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/long", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    const char *curve = "q,v\n0,4.1\n0.5,4.0\n1.0,3.9\n";
    put("long/cell_averyveryverylongcellidentifier-number-1_cyc_1.csv", curve);
    put("long/cell_averyveryverylongcellidentifier-number-2_cyc_1.csv", curve);
    bml_curve_columns cc = {.version = BML_CURVE_COLUMNS_VERSION, .capacity_column = "q", .voltage_column = "v", .name_pattern = "cell_(.*)_cyc_([0-9]+)", .temperature_c = 25};
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_curve_table(dir, &cc, &ds));
    if (ds) {
        CHECK_INT(ds->n_curves, 2);
        CHECK_STR(ds->curves[0].cell_id, "averyveryverylongcellidentifier-number-1");
        CHECK_STR(ds->curves[1].cell_id, "averyveryverylongcellidentifier-number-2");
    }
    bml_dataset_free(ds);
    /* the Oxford 0.1C layout */
    snprintf(dir, sizeof dir, "%s/longox", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    const char *ox = "Time (s),Voltage (V),Current (mA),Charge (mA.h),Temperature (degC)\n0,4.1,-500,0,25\n1,4.0,-500,100,25\n"
                     "2,3.9,-500,200,25\n";
    put("longox/Expt 5 - cell AVeryLongCellIdentifierOfTheOxfordLayout1 - RPT1 - 0.1C discharge data.csv", ox);
    put("longox/Expt 5 - cell AVeryLongCellIdentifierOfTheOxfordLayout2 - RPT1 - 0.1C discharge data.csv", ox);
    CHECK_OK(bml_dataset_load_oxford_curves(dir, NULL, &ds));
    if (ds) {
        CHECK_INT(ds->n_curves, 2);
        CHECK_STR(ds->curves[0].cell_id, "AVeryLongCellIdentifierOfTheOxfordLayout1");
        CHECK_STR(ds->curves[1].cell_id, "AVeryLongCellIdentifierOfTheOxfordLayout2");
        bml_kv kv[] = {{"cache", "false"}, {"require_targets", "false"}, {"resample", "50"}, {"window", "5"}};
        bml_pipeline *p = NULL;
        bml_samples *s = NULL;
        CHECK_OK(bml_pipeline_create("ica_peaks", kv, 4, &p));
        if (p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
        if (s) {
            CHECK_STR(s->meta[0].cell, "AVeryLongCellIdentifierOfTheOxfordLayout1");
            CHECK_STR(s->meta[1].cell, "AVeryLongCellIdentifierOfTheOxfordLayout2");
        }
        bml_samples_free(s);
        bml_pipeline_free(p);
    }
    bml_dataset_free(ds);
}

/* the same curve twice (a copy in another folder) is an error, not two samples */
static void test_oxford_curve_twice(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/twice/a", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    snprintf(dir, sizeof dir, "%s/twice/b", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    const char *ox = "Time (s),Voltage (V),Current (mA),Charge (mA.h),Temperature (degC)\n0,4.1,-500,0,25\n1,4.0,-500,100,25\n";
    put("twice/a/Expt 5 - cell A - RPT1 - 0.1C discharge data.csv", ox);
    put("twice/b/Expt 5 - cell A - RPT1 - 0.1C discharge data.csv", ox);
    snprintf(dir, sizeof dir, "%s/twice", tmp);
    bml_dataset *ds = NULL;
    CHECK_ERR(bml_dataset_load_oxford_curves(dir, NULL, &ds), BML_ERR_VALUE, "both hold experiment 5 cell A RPT1");
    CHECK(ds == NULL);
    /* the id of a stacked file's second cell, as synth-curves names it, is read whole (the file was skipped) */
    snprintf(dir, sizeof dir, "%s/stacked", tmp);
    CHECK_OK(bml__mkdir_p(dir));
    put("stacked/Expt 1 - cell 10degC-2 - RPT1 - 0.1C discharge data.csv", ox);
    CHECK_OK(bml_dataset_load_oxford_curves(dir, NULL, &ds));
    if (ds) {
        CHECK_INT(ds->n_curves, 1);
        CHECK_STR(ds->curves[0].cell_id, "10degC-2");
    }
    bml_dataset_free(ds);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-curves-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    static const test_case tests[] = {T(test_potentials), T(test_generator_against_measured_curve), T(test_generator_capacity),
                                      T(test_oxford_curves_and_pipeline_cache), T(test_ica_study),
                                      T(test_basytec_and_generic), T(test_basytec_bad_rows), T(test_curve_table_bad_files),
                                      T(test_ica_missing_target), T(test_long_curve_cell_ids),
                                      T(test_oxford_curve_twice)};
    int rc = run_tests("curves", tests, sizeof tests / sizeof *tests);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return rc;
}
