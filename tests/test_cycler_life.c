/* Cycle life from raw cycler exports (data=cycler_life, src/data/cycler_life.c): synthetic Arbin CSV exports with a
 * known capacity fade per cycle, so that the life is known exactly; a cell that never reaches the threshold
 * (censored); the Q(V) matrix against a plain interpolation of the samples written; bad input; and a study end to
 * end (pipeline delta_q, split predefined from an index). */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "data/cycler_life.h"
#include "data/dataset_internal.h"
#include "test.h"

#define CONFIGS BML_SOURCE_DIR "/configs"
#define K_DIS 60 /* discharge rows per cycle */

static char tmp[] = "/tmp/bml-cycler-life-XXXXXX";

static char *tpath(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* the capacity of cycle c (1-based) of a cell: linear fade from c0 */
static double cap_of(double c0, double fade, int c) { return c0 * (1.0 - fade * (c - 1)); }

/* the voltage of a discharge at depth x = q / cap (strictly falling from 3.5 V to 1.95 V); `bend` shapes the cell */
static double v_of(double x, double bend) { return 3.5 - 0.9 * x - 0.65 * pow(x, bend); }

/* One Arbin CSV export: n_cycles cycles of a charge (5 rows), a rest, a discharge of K_DIS + 1 rows, a rest; the
 * counters count within each cycle. `skip_discharge`: that cycle has no discharge. Voltages and capacities are
 * printed with %.17g, so the reader sees exactly the numbers the test interpolates. */
static void write_cell(const char *path, int n_cycles, double c0, double fade, double bend, int skip_discharge) {
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs("Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),Charge_Capacity(Ah),Discharge_Capacity(Ah)\n", f);
    long dp = 1;
    double t = 0;
    for (int c = 1; c <= n_cycles; c++) {
        double cap = cap_of(c0, fade, c), qc = 0;
        for (int k = 0; k < 5; k++, t += 10) {
            if (k) qc += cap / 4;
            fprintf(f, "%ld,%.1f,1,%d,%.17g,%.17g,%.17g,0\n", dp++, t, c, cap * 3600 / 40, 3.0 + 0.15 * k, qc);
        }
        fprintf(f, "%ld,%.1f,2,%d,0,3.6,%.17g,0\n", dp++, t, c, qc), t += 10;
        if (c == skip_discharge) continue;
        double q = 0;
        for (int k = 0; k <= K_DIS; k++, t += 10) {
            q = cap * k / K_DIS;
            fprintf(f, "%ld,%.1f,3,%d,%.17g,%.17g,%.17g,%.17g\n", dp++, t, c, -cap * 3600 / (10.0 * K_DIS), v_of((double)k / K_DIS, bend), qc, q);
        }
        fprintf(f, "%ld,%.1f,4,%d,0,2.1,%.17g,%.17g\n", dp++, t, c, qc, q), t += 10;
    }
    fclose(f);
}

/* Q at grid voltage V by a plain reading of the samples: the first sample at or below V and the one before it,
 * linear between them; above the first sample its capacity, below the last one the last capacity */
static double plain_q(const double *q, const double *v, int n, double V) {
    if (V >= v[0]) return q[0];
    for (int k = 1; k < n; k++)
        if (v[k] <= V) return q[k - 1] + (q[k] - q[k - 1]) * (v[k - 1] - V) / (v[k - 1] - v[k]);
    return q[n - 1];
}

/* the samples of cycle c as written (parsed back from the %.17g text) */
static void samples(double c0, double fade, double bend, int c, double *q, double *v) {
    double cap = cap_of(c0, fade, c);
    char b[64];
    for (int k = 0; k <= K_DIS; k++) {
        snprintf(b, sizeof b, "%.17g", cap * k / K_DIS);
        q[k] = strtod(b, NULL);
        snprintf(b, sizeof b, "%.17g", v_of((double)k / K_DIS, bend));
        v[k] = strtod(b, NULL);
    }
}

/* the life the rule gives: the first cycle (followed by another) at or below 0.8 x the mean of the first 5 */
static int expected_life(double c0, double fade, int n_cycles) {
    double ref = 0;
    for (int c = 1; c <= 5; c++) ref += cap_of(c0, fade, c);
    ref /= 5;
    for (int c = 1; c < n_cycles; c++)
        if (cap_of(c0, fade, c) <= 0.8 * ref) return c;
    return -1;
}

static bml__cycler_life_opts small_opts(void) {
    bml__cycler_life_opts o;
    bml__cycler_life_opts_default(&o);
    o.n_points = 200; /* 3.6 -> 2.0 V */
    return o;
}

/* 1 when a and b hold the same cells, matrices (bit for bit), lives, sets and note */
static int same_dataset(const bml_dataset *a, const bml_dataset *b) {
    if (bml_dataset_n_cells(a) != bml_dataset_n_cells(b) || strcmp(bml_dataset_note(a), bml_dataset_note(b))) return 0;
    for (size_t i = 0; i < bml_dataset_n_cells(a); i++) {
        bml_cell_view x, y;
        bml_dataset_cell(a, i, &x);
        bml_dataset_cell(b, i, &y);
        double la = bml_dataset_cell_life(a, i), lb = bml_dataset_cell_life(b, i);
        if (strcmp(x.cell_id, y.cell_id) || x.n_rows != y.n_rows || memcmp(&la, &lb, sizeof la) ||
            strcmp(bml_dataset_cell_split(a, i), bml_dataset_cell_split(b, i)) ||
            memcmp(x.values, y.values, x.n_rows * bml_dataset_n_columns(a) * sizeof *x.values))
            return 0;
    }
    return 1;
}

/* cells A (life 103), B (faster: 70) and C (never below the threshold: censored) */
static void test_life_censoring_and_matrix(void) {
    CHECK(mkdir(tpath("lab"), 0755) == 0);
    write_cell(tpath("lab/cellA.csv"), 110, 1.1, 0.002, 4.0, 0);
    write_cell(tpath("lab/cellB.csv"), 110, 1.05, 0.003, 6.0, 0);
    write_cell(tpath("lab/cellC.csv"), 110, 1.08, 0.0005, 5.0, 0);
    CHECK_INT(expected_life(1.1, 0.002, 110), 103);
    CHECK_INT(expected_life(1.05, 0.003, 110), 70);
    CHECK_INT(expected_life(1.08, 0.0005, 110), -1);
    bml__cycler_life_opts o = small_opts();
    bml_dataset *ds = NULL;
    CHECK_OK(bml__dataset_load_cycler_life(tpath("lab"), &o, &ds));
    if (!ds) return;
    CHECK(bml_dataset_is_qdlin(ds));
    CHECK_STR(bml_dataset_source(ds), "cycler_life");
    CHECK_INT(bml_dataset_n_cells(ds), 3);
    CHECK_INT(bml_dataset_cell_life(ds, 0), 103);
    CHECK_INT(bml_dataset_cell_life(ds, 1), 70);
    CHECK(isnan(bml_dataset_cell_life(ds, 2)));
    /* the censored cell named under the load line */
    CHECK(strstr(bml_dataset_note(ds), "1 cell(s) censored") != NULL);
    CHECK(strstr(bml_dataset_note(ds), "cellC (lowest") != NULL);
    CHECK(strstr(bml_dataset_note(ds), "cellA") == NULL);
    const double *grid;
    int first;
    CHECK_INT(bml_dataset_qdlin_grid(ds, &grid, &first), 200);
    CHECK_INT(first, 2);
    for (int g = 0; g < 200; g++) CHECK(grid[g] == 3.6 + (2.0 - 3.6) * (double)g / 199.0); /* the Qdlin grid, to the bit */
    /* Q(V): every cell, every cycle 2..100, every grid voltage, against the plain interpolation */
    static const double par[3][3] = {{1.1, 0.002, 4.0}, {1.05, 0.003, 6.0}, {1.08, 0.0005, 5.0}};
    double q[K_DIS + 1], v[K_DIS + 1], worst = 0;
    for (size_t i = 0; i < 3; i++) {
        bml_cell_view cv;
        bml_dataset_cell(ds, i, &cv);
        CHECK_INT(cv.n_rows, 99);
        for (int r = 0; r < 99; r++) {
            samples(par[i][0], par[i][1], par[i][2], r + 2, q, v);
            for (int g = 0; g < 200; g++) {
                double want = plain_q(q, v, K_DIS + 1, grid[g]), got = cv.values[(size_t)r * 200 + (size_t)g];
                double d = fabs(got - want);
                if (!(d <= worst)) worst = d;
            }
        }
    }
    CHECK(worst <= 1e-12);
    fprintf(stderr, "  largest |Q(V) - plain interpolation| = %.3g Ah\n", worst);
    /* the files summarised on 2 and 3 threads: the same dataset */
    for (int jobs = 2; jobs <= 3; jobs++) {
        bml__cycler_life_opts oj = small_opts();
        oj.summary.jobs = jobs;
        bml_dataset *dj = NULL;
        CHECK_OK(bml__dataset_load_cycler_life(tpath("lab"), &oj, &dj));
        CHECK(dj && same_dataset(ds, dj));
        bml_dataset_free(dj);
    }
    bml_dataset_free(ds);

    /* the nominal reference, 0.9 x 1 Ah */
    o.reference = BML__LIFE_REF_NOMINAL;
    o.nominal_ah = 1.0;
    o.threshold_fraction = 0.9; /* 0.9 Ah */
    CHECK_OK(bml__dataset_load_cycler_life(tpath("lab"), &o, &ds));
    if (ds) {
        /* A: 1.1 (1 - 0.002 (c - 1)) <= 0.9 from c = 92 (0.902 at 91); B: 1.05 (1 - 0.003 (c - 1)) <= 0.9 from c = 49 */
        CHECK_INT(bml_dataset_cell_life(ds, 0), 92);
        CHECK_INT(bml_dataset_cell_life(ds, 1), 49);
        CHECK(isnan(bml_dataset_cell_life(ds, 2)));
    }
    bml_dataset_free(ds);
}

/* a discharge that stops above the grid's lowest voltage: held, and said */
static void test_short_discharge_held(void) {
    CHECK(mkdir(tpath("low"), 0755) == 0);
    write_cell(tpath("low/cellA.csv"), 110, 1.1, 0.002, 4.0, 0);
    write_cell(tpath("low/cellB.csv"), 110, 1.05, 0.003, 6.0, 0);
    bml__cycler_life_opts o = small_opts();
    o.v_end = 1.5; /* below the lowest voltage (1.95 V) */
    bml_dataset *ds = NULL, *dj = NULL;
    CHECK_OK(bml__dataset_load_cycler_life(tpath("low"), &o, &ds));
    if (!ds) return;
    CHECK(strstr(bml_dataset_note(ds), "cellA: 99 cycle(s) from cycle 2; cellB: 99 cycle(s) from cycle 2") != NULL);
    o.summary.jobs = 2; /* the files on two threads: the same note */
    CHECK_OK(bml__dataset_load_cycler_life(tpath("low"), &o, &dj));
    CHECK(dj && same_dataset(ds, dj));
    bml_dataset_free(dj);
    bml_cell_view cv;
    bml_dataset_cell(ds, 0, &cv);
    CHECK_NEAR(cv.values[199], cap_of(1.1, 0.002, 2), 1e-12); /* 1.5 V: the whole discharge */
    bml_dataset_free(ds);
}

/* bad input: a cycle without a discharge, too few cycles, an index that does not fit */
static void test_bad_input(void) {
    CHECK(mkdir(tpath("nodis"), 0755) == 0);
    write_cell(tpath("nodis/cellA.csv"), 110, 1.1, 0.002, 4.0, 0);
    write_cell(tpath("nodis/cellB.csv"), 110, 1.1, 0.002, 4.0, 50);
    bml__cycler_life_opts o = small_opts();
    bml_dataset *ds = NULL;
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("nodis"), &o, &ds), BML_ERR_VALUE, "cellB.csv:");
    CHECK(strstr(bml_last_error(), "cycle 50 has no discharge") != NULL);
    CHECK(ds == NULL);
    /* with the files on two threads: the same message, and of two bad files the first one's */
    write_cell(tpath("nodis/cellC.csv"), 110, 1.1, 0.002, 4.0, 40);
    o.summary.jobs = 2;
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("nodis"), &o, &ds), BML_ERR_VALUE, "cellB.csv:");
    CHECK(strstr(bml_last_error(), "cycle 50 has no discharge") != NULL);
    CHECK(ds == NULL);
    o.summary.jobs = 0;
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("nodis"), &o, &ds), BML_ERR_VALUE, "cellB.csv:");
    unlink(tpath("nodis/cellC.csv"));
    /* files the reader itself refuses (a field that is no number), at 1 and 2 threads: the first one's message */
    CHECK(mkdir(tpath("badnum"), 0755) == 0);
    write_cell(tpath("badnum/cellA.csv"), 110, 1.1, 0.002, 4.0, 0);
    for (int k = 0; k < 2; k++) {
        char *p = bml__strdup(tpath(k ? "badnum/cellC.csv" : "badnum/cellB.csv"));
        write_cell(p, 110, 1.1, 0.002, 4.0, 0);
        FILE *f = fopen(p, "a");
        if (f) fputs(k ? "99999,999999.0,3,110,-0.1,3.1,0.5,zz\n" : "99999,999999.0,3,110,-0.1,x3.1,0.5,0.5\n", f), fclose(f);
        free(p);
    }
    for (int jobs = 1; jobs <= 2; jobs++) {
        o.summary.jobs = jobs;
        bml_status st = bml__dataset_load_cycler_life(tpath("badnum"), &o, &ds);
        CHECK(st != BML_OK && ds == NULL);
        CHECK(strstr(bml_last_error(), "badnum/cellB.csv:") != NULL && strstr(bml_last_error(), "x3.1") != NULL);
        if (jobs == 2) fprintf(stderr, "  %s\n", bml_last_error());
    }
    o.summary.jobs = 0;

    CHECK(mkdir(tpath("short"), 0755) == 0);
    write_cell(tpath("short/cellS.csv"), 60, 1.1, 0.002, 4.0, 0);
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("short"), &o, &ds), BML_ERR_VALUE, "short/cellS.csv: no cycle 61");
    CHECK(strstr(bml_last_error(), "needs cycles 2..100") != NULL);

    /* an index naming a cell that is not there, and one that misses a cell */
    write_text(tpath("idx1.csv"), "cell,split\ncellA,train\ncellB,test\ncellC,test\ncellZ,test\n");
    o.index = tpath("idx1.csv");
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("lab"), &o, &ds), BML_ERR_NOT_FOUND, "idx1.csv:5: cell 'cellZ' is no cell");
    write_text(tpath("idx2.csv"), "cell,split\ncellA,train\ncellB,test\n");
    o.index = tpath("idx2.csv");
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("lab"), &o, &ds), BML_ERR_NOT_FOUND, "names no cell 'cellC'");
    write_text(tpath("idx3.csv"), "cell,set\ncellA,train\n");
    o.index = tpath("idx3.csv");
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("lab"), &o, &ds), BML_ERR_SCHEMA, "idx3.csv:1: the header has no 'split' column");
    /* the nominal reference without a nominal capacity */
    o = small_opts();
    o.reference = BML__LIFE_REF_NOMINAL;
    CHECK_ERR(bml__dataset_load_cycler_life(tpath("lab"), &o, &ds), BML_ERR_VALUE, "neither data.life_nominal_ah nor the file");
}

static void keep_log(void *user, const char *line) {
    bml__sb *b = user;
    bml__sb_str(b, line);
    bml__sb_str(b, "\n");
}

/* a study: five cells, three train, two test of which one is censored */
static void test_study_end_to_end(void) {
    CHECK(mkdir(tpath("study"), 0755) == 0);
    write_cell(tpath("study/c1.csv"), 110, 1.1, 0.002, 4.0, 0);
    write_cell(tpath("study/c2.csv"), 110, 1.05, 0.003, 6.0, 0);
    write_cell(tpath("study/c3.csv"), 110, 1.07, 0.0025, 5.0, 0);
    write_cell(tpath("study/c4.csv"), 110, 1.09, 0.0022, 4.5, 0);
    write_cell(tpath("study/c5.csv"), 110, 1.08, 0.0005, 5.0, 0); /* censored */
    write_text(tpath("cells.csv"), "cell,split\nc1,train\nc2,train\nc3,train\nc4,test\nc5,test\n");
    char data_path[600], index[600], out_dir[600];
    snprintf(data_path, sizeof data_path, "data.path=%s", tpath("study"));
    snprintf(index, sizeof index, "data.index=%s", tpath("cells.csv"));
    snprintf(out_dir, sizeof out_dir, "output_dir=%s", tpath("runs"));
    const char *ov[] = {"data=cycler_life", data_path, index, "data.points=100", "pipeline=delta_q", "split=predefined",
                        "model=ols", out_dir, "run_name=r", "figures=false"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, sizeof ov / sizeof *ov, &c));
    if (!c) return;
    bml__sb log = {0};
    bml_run_opts ro = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1, .log = keep_log, .log_user = &log};
    bml_run_result *r = NULL;
    CHECK_OK(bml_run_experiment(c, &ro, &r));
    bml__sb_put(&log, "", 1);
    const char *text = log.buf ? log.buf : "";
    CHECK(strstr(text, "5 cells, 495 rows") != NULL);
    CHECK(strstr(text, "1 cell(s) censored") != NULL && strstr(text, "c5 (lowest") != NULL);
    CHECK(strstr(text, "split     predefined: train 3, val 2, test 0") != NULL);
    CHECK(strstr(text, "test             n=1    RMSE") != NULL); /* the censored cell is not scored */
    char *pred = NULL, *cfg = NULL;
    CHECK_OK(bml__read_file(tpath("runs/r/predictions.csv"), &pred, NULL));
    CHECK_OK(bml__read_file(tpath("runs/r/config.yaml"), &cfg, NULL));
    if (pred) {
        /* c4 with its truth (log10 of its life), c5 predicted without one */
        CHECK(strstr(pred, ",c4,,0,100,,,") != NULL);
        CHECK(strstr(pred, ",c5,,0,100,,,,") != NULL);
        CHECK(strstr(pred, ",c1,") == NULL); /* training cells are not evaluated */
        if (!strstr(pred, ",c5,,0,100,,,,")) fprintf(stderr, "%s", pred);
    }
    if (cfg) {
        CHECK(strstr(cfg, "life_threshold_fraction: 0.8") != NULL);
        CHECK(strstr(cfg, "life_reference: initial") != NULL);
        CHECK(strstr(cfg, "life_initial_cycles: 5") != NULL);
    }
    free(pred);
    free(cfg);
    if (r && r->metrics_json) CHECK(strstr(r->metrics_json, "\"n\":\t1") != NULL || strstr(r->metrics_json, "\"n\": 1") != NULL);
    /* predict with the run on a folder of new raw files that the study's index does not name: one row per cell,
     * its file, its life in cycles (the old loader crashed here: no file names for the cells) */
    CHECK(mkdir(tpath("fresh"), 0755) == 0);
    write_cell(tpath("fresh/n1.csv"), 110, 1.1, 0.002, 4.0, 0); /* life 103, as cell A above */
    char *mj = NULL, *pc = NULL;
    CHECK_OK(bml_run_predict(tpath("runs/r"), tpath("fresh"), NULL, tpath("fresh.csv"), &ro, &mj));
    CHECK_OK(bml__read_file(tpath("fresh.csv"), &pc, NULL));
    if (pc) CHECK(!strncmp(pc, "file,cell,true_cycle_life,pred_cycle_life,", 42) && strstr(pc, "\nn1.csv,n1,103,") != NULL);
    free(mj);
    free(pc);
    bml_run_result_free(r);
    bml_config_free(c);
    free(log.buf);
    /* a model that stops early on the validation cells: it validates on c4 alone, and predicts c5 */
    const char *ov2[] = {"data=cycler_life", data_path, index, "data.points=100", "pipeline=delta_q", "split=predefined",
                         "model=lgbm", "model.min_child_samples=1", out_dir, "run_name=lgbm", "figures=false"};
    c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov2, sizeof ov2 / sizeof *ov2, &c));
    if (!c) return;
    ro.log = NULL;
    r = NULL;
    CHECK_OK(bml_run_experiment(c, &ro, &r));
    CHECK_OK(bml__read_file(tpath("runs/lgbm/predictions.csv"), &pred, NULL));
    if (pred) CHECK(strstr(pred, ",c5,,0,100,,,,") != NULL && strstr(pred, ",c4,,0,100,,,1.9") != NULL);
    free(pred);
    bml_run_result_free(r);
    bml_config_free(c);
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    static const test_case t_tests[] = {T(test_life_censoring_and_matrix), T(test_short_discharge_held), T(test_bad_input),
                                        T(test_study_end_to_end)};
    int rc = run_tests("cycler_life", t_tests, sizeof t_tests / sizeof *t_tests);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
