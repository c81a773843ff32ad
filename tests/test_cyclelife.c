/* Cycle life from early cycles: the Qdlin data source (bml_dataset_load_qdlin), the delta_q pipeline against
 * numpy/scipy (tools/gen_dq_reference.py), and the reproduction of Severson et al. 2019's "variance" model on the
 * published data when ../shared/data/severson2019 is present.
 *
 * `test_cyclelife` runs everything (the cases on the published data say "skipped: ..." and pass without it);
 * `test_cyclelife reproduce` runs only those and exits 77 (CTest SKIP_RETURN_CODE) without the data. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "pipelines/delta_q.h"
#include "test.h"

#define SYNTH TEST_DATA "/cyclelife/synth"
#define SEVERSON BML_SOURCE_DIR "/../shared/data/severson2019"

static cJSON *load_json(const char *path) {
    char *txt = NULL;
    if (bml__read_file(path, &txt, NULL) != BML_OK) {
        fprintf(stderr, "cannot read %s\n", path);
        abort();
    }
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!j) abort();
    return j;
}

static char *tmpdir(void) {
    char tmpl[] = "/tmp/bml-cyclelife-XXXXXX";
    char *d = mkdtemp(tmpl);
    if (!d) abort();
    return bml__strdup(d);
}

static void put(const char *dir, const char *rel, const char *text) {
    char *p = bml__path_join(dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    if (bml__mkdir_p(p) != BML_OK) abort();
    *slash = '/';
    write_text(p, text);
    free(p);
}

/* a rows x cols matrix of "r.c"-like numbers (value = r + c / 1000), optionally one field replaced */
static char *matrix_text(size_t rows, size_t cols, size_t bad_r, size_t bad_c, const char *bad) {
    bml__sb b = {0};
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            if (c) bml__sb_str(&b, ",");
            if (bad && r == bad_r && c == bad_c) bml__sb_str(&b, bad);
            else bml__sb_fmt(&b, "%g", (double)r + (double)c / 1000.0);
        }
        bml__sb_str(&b, "\n");
    }
    return b.buf;
}

static void small_opts(bml_qdlin_opts *o, size_t points, size_t cycles) {
    bml_qdlin_opts_default(o);
    o->n_points = points;
    o->n_cycles = cycles;
}

/* ------------------------------------------------------------------ the data source */
static void test_load_synth(void) {
    bml_qdlin_opts o;
    small_opts(&o, 20, 99);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_qdlin(SYNTH, &o, &ds));
    if (!ds) return;
    CHECK(bml_dataset_is_qdlin(ds));
    CHECK_INT(bml_dataset_n_cells(ds), 3);
    CHECK_INT(bml_dataset_n_columns(ds), 20);
    CHECK_STR(bml_dataset_column_name(ds, 0), "Q@3.6000V");
    CHECK_STR(bml_dataset_column_name(ds, 19), "Q@2.0000V");
    const double *v = NULL;
    int first = 0;
    CHECK_INT(bml_dataset_qdlin_grid(ds, &v, &first), 20);
    CHECK_INT(first, 2);
    CHECK_NEAR(v[1], 3.6 - 1.6 / 19, 1e-15);
    CHECK_NEAR(bml_dataset_cell_life(ds, 0), 812, 0);
    CHECK_NEAR(bml_dataset_cell_life(ds, 1), 1431, 0);
    CHECK(isnan(bml_dataset_cell_life(ds, 2))); /* kept for prediction */
    CHECK_STR(bml_dataset_cell_split(ds, 2), "train");
    CHECK_STR(bml_dataset_cell_attr(ds, 1, "charging_policy"), "5C(67%)-4C");
    CHECK(bml_dataset_cell_attr(ds, 1, "nope") == NULL);
    bml_cell_view cv;
    bml_dataset_cell(ds, 0, &cv);
    CHECK_STR(cv.cell_id, "train_cell1");
    CHECK_INT(cv.n_rows, 99);
    /* row k = cycle k + 2, column i = voltage i: the file's (i, k) */
    CHECK_NEAR(cv.values[0], -5.898648e-05, 0);
    CHECK_NEAR(cv.values[1 * 20 + 0], -0.00022738909, 0);
    bml_dataset_free(ds);
}

/* the transposed orientation and the <split>_cycle_lives.csv index give the same cells */
static void test_load_transposed_and_lives_files(void) {
    char *d = tmpdir();
    char *m = matrix_text(4, 3, 0, 0, NULL), *mt = matrix_text(3, 4, 0, 0, NULL);
    put(d, "a/cell1.csv", m);
    put(d, "a/cell2.csv", m);
    put(d, "a_cycle_lives.csv", "500\n\n");
    put(d, "b_cycle_lives.csv", "700\n");
    put(d, "b/cell1.csv", m);
    bml_qdlin_opts o;
    small_opts(&o, 4, 3);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_qdlin(d, &o, &ds)); /* a blank line at the end is no cell */
    if (ds) CHECK_INT(bml_dataset_n_cells(ds), 2);
    bml_dataset_free(ds);
    ds = NULL;
    put(d, "a_cycle_lives.csv", "500\n\n600\n");
    CHECK_ERR(bml_dataset_load_qdlin(d, &o, &ds), BML_ERR_PARSE, "a_cycle_lives.csv:2: empty line");
    put(d, "a_cycle_lives.csv", "500\n600\n");
    CHECK_OK(bml_dataset_load_qdlin(d, &o, &ds));
    if (ds) {
        CHECK_INT(bml_dataset_n_cells(ds), 3);
        bml_cell_view cv;
        bml_dataset_cell(ds, 2, &cv);
        CHECK_STR(cv.cell_id, "b_cell1");
        CHECK_STR(bml_dataset_cell_split(ds, 2), "b");
        CHECK_NEAR(bml_dataset_cell_life(ds, 1), 600, 0);
        CHECK_NEAR(cv.values[2 * 4 + 3], 3.002, 1e-15); /* cycle index 2, voltage 3 = file row 3, column 2 */
        bml_dataset_free(ds);
        ds = NULL;
    }
    /* transposed: rows = cycles */
    put(d, "t/cells.csv", "file,cycle_life\nx.csv,100\n");
    put(d, "t/x.csv", mt);
    o.transposed = 1;
    char *t = bml__path_join(d, "t");
    CHECK_OK(bml_dataset_load_qdlin(t, &o, &ds));
    if (ds) {
        bml_cell_view cv;
        bml_dataset_cell(ds, 0, &cv);
        CHECK_NEAR(cv.values[2 * 4 + 3], 2.003, 1e-15); /* file row 2 (cycle), column 3 (voltage) */
        CHECK_STR(bml_dataset_cell_split(ds, 0), "");
        bml_dataset_free(ds);
        ds = NULL;
    }
    /* the untransposed file is refused as transposed: wrong shape */
    put(d, "t/x.csv", m);
    CHECK_ERR(bml_dataset_load_qdlin(t, &o, &ds), BML_ERR_SCHEMA, "x.csv: 4 rows x 3 columns, expected 3 x 4");
    free(t);
    free(m);
    free(mt);
    bml__rm_rf(d);
    free(d);
}

/* every number reads as strtod reads it: the loader's own fast path and its fallback */
static void test_numbers_as_strtod(void) {
    char *d = tmpdir();
    static const char *const f[6] = {"0.1234567890123456789", "-1.5e-3", " 2.5 ", "+7", "9007199254740993", "4.9e-324"};
    char text[256];
    snprintf(text, sizeof text, "%s,%s,%s\r\n%s,%s,%s\r\n", f[0], f[1], f[2], f[3], f[4], f[5]);
    put(d, "c.csv", text);
    put(d, "cells.csv", "file,cycle_life\nc.csv,10\n");
    bml_qdlin_opts o;
    small_opts(&o, 2, 3);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_qdlin(d, &o, &ds));
    if (ds) {
        bml_cell_view v;
        bml_dataset_cell(ds, 0, &v);
        for (size_t i = 0; i < 2; i++)
            for (size_t k = 0; k < 3; k++) CHECK(v.values[k * 2 + i] == strtod(f[i * 3 + k], NULL)); /* exact */
    }
    bml_dataset_free(ds);
    bml__rm_rf(d);
    free(d);
}

/* a folder without an index: every *.csv a cell of unknown life, in natural name order, its file name kept */
static void test_load_unindexed(void) {
    char *d = tmpdir();
    char *good = matrix_text(4, 3, 0, 0, NULL);
    static const char *const files[4] = {"cell10.csv", "cell2.csv", "a.csv", "cell1.csv"};
    for (size_t i = 0; i < 4; i++) put(d, files[i], good);
    put(d, "notes.txt", "not a cell");
    put(d, ".hidden.csv", "not a cell");
    put(d, "sub/cell3.csv", good); /* not in subfolders */
    bml_qdlin_opts o;
    small_opts(&o, 4, 3);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_qdlin(d, &o, &ds));
    static const char *const order[4] = {"a.csv", "cell1.csv", "cell2.csv", "cell10.csv"};
    CHECK_INT(bml_dataset_n_cells(ds), 4);
    for (size_t i = 0; ds && i < 4 && i < bml_dataset_n_cells(ds); i++) {
        CHECK_STR(bml_dataset_cell_file(ds, i), order[i]);
        CHECK(isnan(bml_dataset_cell_life(ds, i)));
        CHECK_STR(bml_dataset_cell_split(ds, i), "");
    }
    bml_dataset_free(ds);
    ds = NULL;
    put(d, "cell2.csv", "0,1,2\n1,1,1\n2,2,2\n"); /* the wrong shape: named, as with an index */
    CHECK_ERR(bml_dataset_load_qdlin(d, &o, &ds), BML_ERR_SCHEMA, "cell2.csv: 3 rows x 3 columns, expected 4 x 3");
    CHECK(ds == NULL);
    /* an indexed folder names each cell's file as its index does */
    put(d, "cells.csv", "file,cycle_life\nsub/cell3.csv,100\ncell1.csv,\n");
    CHECK_OK(bml_dataset_load_qdlin(d, &o, &ds));
    if (ds) {
        CHECK_STR(bml_dataset_cell_file(ds, 0), "sub/cell3.csv");
        CHECK_STR(bml_dataset_cell_file(ds, 1), "cell1.csv");
        CHECK(bml_dataset_cell_life(ds, 0) == 100 && isnan(bml_dataset_cell_life(ds, 1)));
    }
    bml_dataset_free(ds);
    free(good);
    bml__rm_rf(d);
    free(d);
}

/* the cells' files are read on the thread budget's threads: the same dataset, and the same first error in file
 * order, at any count */
static void test_load_threads_same(void) {
    char *d = tmpdir();
    bml__sb idx = {0};
    bml__sb_str(&idx, "file,cycle_life\n");
    for (int i = 0; i < 9; i++) {
        char name[32], num[32];
        snprintf(name, sizeof name, "c%d.csv", i);
        snprintf(num, sizeof num, "%d.%d5e-3", i, i * 7);
        char *m = matrix_text(4, 3, (size_t)i % 4, (size_t)i % 3, num); /* each cell its own value */
        put(d, name, m);
        free(m);
        bml__sb_fmt(&idx, "%s,%d\n", name, 100 + i);
    }
    put(d, "cells.csv", idx.buf);
    free(idx.buf);
    bml_qdlin_opts o;
    small_opts(&o, 4, 0); /* the cycles: as the first file has */
    bml_dataset *one = NULL, *many = NULL;
    bml_parallel_set_thread_local(1);
    CHECK_OK(bml_dataset_load_qdlin(d, &o, &one));
    bml_parallel_set_thread_local(4);
    CHECK_OK(bml_dataset_load_qdlin(d, &o, &many));
    CHECK_INT(bml_dataset_n_cells(one), 9);
    CHECK_INT(bml_dataset_n_cells(many), 9);
    for (size_t i = 0; one && many && i < 9; i++) {
        bml_cell_view a, b;
        bml_dataset_cell(one, i, &a);
        bml_dataset_cell(many, i, &b);
        CHECK_STR(a.cell_id, b.cell_id);
        CHECK(a.n_rows == 3 && b.n_rows == 3 && memcmp(a.values, b.values, 3 * 4 * sizeof *a.values) == 0);
    }
    bml_dataset_free(one);
    bml_dataset_free(many);
    /* failures: the first in file order wins, whichever thread met it first */
    struct {
        const char *index, *needle;
    } cases[] = {
        {"file,cycle_life\nc0.csv,1\nc1.csv,1\nc2.csv,1\nbad_shape.csv,1\nc4.csv,1\nbad_num.csv,1\nc6.csv,1\n",
         "bad_shape.csv: 3 rows x 3 columns, expected 4 x 3"},
        {"file,cycle_life\nc0.csv,1\nc1.csv,1\nbad_num.csv,1\nc3.csv,1\nbad_shape.csv,1\nc6.csv,1\n", "bad_num.csv:2:2: 'x' is not"},
        {"file,cycle_life\nc0.csv,1\nc1.csv,1\nc2.csv,1\nc1.csv,1\nc4.csv,1\nbad_num.csv,1\n", "cells.csv:5: file 'c1.csv' is listed twice"},
        {"file,cycle_life\nc0.csv,1\nc1.csv,1\nbad_num.csv,1\nc1.csv,1\nc4.csv,1\n", "bad_num.csv:2:2: 'x' is not"},
        {"file,cycle_life\nc0.csv,1\nc1.csv,1\nc2.csv,1\n.hid.csv,1\nbad_num.csv,1\n", "cells.csv:5: file '.hid.csv' gives the cell id"},
        {"file,cycle_life\nc0.csv,1\nbad_shape.csv,1\nc2.csv,1\n.hid.csv,1\n", "bad_shape.csv: 3 rows x 3 columns"},
        {"file,cycle_life\nbad_shape.csv,1\nc0.csv,1\nc2.csv,1\n", "bad_shape.csv: 3 rows x 3 columns, expected 4 x 3"},
    };
    put(d, "bad_shape.csv", "0,1,2\n1,1,1\n2,2,2\n");
    put(d, "bad_num.csv", "0,1,2\n1,x,1\n2,2,2\n3,3,3\n");
    put(d, ".hid.csv", "0,1,2\n1,1,1\n2,2,2\n3,3,3\n");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        put(d, "cells.csv", cases[k].index);
        for (int t = 1; t <= 4; t += 3) {
            bml_parallel_set_thread_local(t);
            bml_dataset *ds = NULL;
            bml_status st = bml_dataset_load_qdlin(d, &o, &ds);
            if (st == BML_OK || !strstr(bml_last_error(), cases[k].needle)) {
                fprintf(stderr, "  case %zu, %d thread(s): expected '%s', got %s: '%s'\n", k, t, cases[k].needle, bml_status_name(st),
                        bml_last_error());
                t_fail_count++;
            }
            CHECK(ds == NULL);
            bml_dataset_free(ds);
        }
    }
    bml__rm_rf(d);
    free(d);
}

/* every bad input is an error naming file, line (and column) */
static void test_load_bad_inputs(void) {
    char *d = tmpdir();
    char *good = matrix_text(4, 3, 0, 0, NULL);
    put(d, "c1.csv", good);
    put(d, "c2.csv", good);
    bml_qdlin_opts o;
    small_opts(&o, 4, 3);
    bml_dataset *ds = NULL;
    struct {
        const char *index, *c2, *needle;
        bml_status st;
    } cases[] = {
        {"file,cycle_life\nc1.csv,100\nc2.csv,200\n", NULL, NULL, BML_OK},
        /* shape */
        {NULL, "0,1,2\n1,1,1\n2,2,2\n", "c2.csv: 3 rows x 3 columns, expected 4 x 3", BML_ERR_SCHEMA},
        {NULL, "0,1,2,3\n1,1,1,1\n2,2,2,2\n3,3,3,3\n", "c2.csv: 4 rows x 4 columns, expected 4 x 3", BML_ERR_SCHEMA},
        {NULL, "0,1,2\n1,1,1\n2,2\n3,3,3\n", "c2.csv:3: 2 fields, line 1 has 3", BML_ERR_SCHEMA},
        {NULL, "0,1,2\n1,1,1,1\n2,2,2\n3,3,3\n", "c2.csv:2:4: more fields", BML_ERR_SCHEMA},
        {NULL, "0,1,2\n\n2,2,2\n3,3,3\n", "c2.csv:2: empty line", BML_ERR_PARSE},
        /* values */
        {NULL, "0,1,2\n1,NaN,1\n2,2,2\n3,3,3\n", "c2.csv:2:2: 'NaN' is not a finite number", BML_ERR_PARSE},
        {NULL, "0,1,2\n1,1,1\n2,2,abc\n3,3,3\n", "c2.csv:3:3: 'abc' is not a finite number", BML_ERR_PARSE},
        {NULL, "0,1,2\n1,1,1\n2,2,2\n3,3x,3\n", "c2.csv:4:2: '3x' is not a finite number", BML_ERR_PARSE},
        {NULL, "0,1,2\n1,1,1\n2,2,2\n3,,3\n", "c2.csv:4:2: '' is not a finite number", BML_ERR_PARSE},
        {NULL, "0,1,2\n1,1,1\n2,2,2\n3,3,1e999\n", "c2.csv:4:3: '1e999' is not a finite number", BML_ERR_PARSE},
        /* the index */
        {"file,cycle_life\nc1.csv,100\nc3.csv,200\n", NULL, "cells.csv:3: file 'c3.csv' not found", BML_ERR_NOT_FOUND},
        {"file,cycle_life\nc1.csv,100\nc2.csv,0\n", NULL, "cells.csv:3:2: cycle life 0 is not positive", BML_ERR_VALUE},
        {"file,cycle_life\nc1.csv,-5\nc2.csv,1\n", NULL, "cells.csv:2:2: cycle life -5 is not positive", BML_ERR_VALUE},
        {"file,cycle_life\nc1.csv,100\nc2.csv,many\n", NULL, "cells.csv:3:2: cycle life 'many' is not a number", BML_ERR_PARSE},
        {"cycle_life,file\n100,c1.csv\n200,c1.csv\n", NULL, "cells.csv:3: file 'c1.csv' is listed twice (first at", BML_ERR_VALUE},
        {"file,cycle_life\nc1.csv,100\n./c1.csv,100\n", NULL, "cells.csv:3: file './c1.csv' is listed twice", BML_ERR_VALUE},
        {"file,life\nc1.csv,100\n", NULL, "cells.csv:1: the header has no 'cycle_life' column", BML_ERR_SCHEMA},
        {"file,cycle_life\nc1.csv,100,x\n", NULL, "cells.csv:2: 3 fields, the header has 2", BML_ERR_SCHEMA},
        {"file,cycle_life\n", NULL, "no cells listed", BML_ERR_EMPTY},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        put(d, "cells.csv", cases[k].index ? cases[k].index : "file,cycle_life\nc1.csv,100\nc2.csv,200\n");
        put(d, "c2.csv", cases[k].c2 ? cases[k].c2 : good);
        if (cases[k].st == BML_OK) {
            CHECK_OK(bml_dataset_load_qdlin(d, &o, &ds));
            CHECK_INT(bml_dataset_n_cells(ds), 2);
        } else {
            bml_status st = bml_dataset_load_qdlin(d, &o, &ds);
            if (st != cases[k].st || !strstr(bml_last_error(), cases[k].needle)) {
                fprintf(stderr, "  case %zu: expected %s with '%s', got %s: '%s'\n", k, bml_status_name(cases[k].st), cases[k].needle,
                        bml_status_name(st), bml_last_error());
                t_fail_count++;
            }
            CHECK(ds == NULL);
        }
        bml_dataset_free(ds);
        ds = NULL;
    }
    /* no index at all */
    char *e = bml__path_join(d, "empty");
    CHECK_OK(bml__mkdir_p(e));
    CHECK_ERR(bml_dataset_load_qdlin(e, &o, &ds), BML_ERR_NOT_FOUND, "neither cells.csv nor any <split>_cycle_lives.csv");
    free(e);
    free(good);
    bml__rm_rf(d);
    free(d);
}

/* ------------------------------------------------------------------ the pipeline */
static void test_moments_vs_scipy(void) {
    cJSON *j = load_json(TEST_DATA "/cyclelife/dq_reference.json");
    cJSON *m;
    int n = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "moments")) {
        cJSON *xs = cJSON_GetObjectItem(m, "x");
        size_t len = (size_t)cJSON_GetArraySize(xs);
        double *x = calloc(len, sizeof *x);
        for (size_t i = 0; i < len; i++) x[i] = cJSON_GetArrayItem(xs, (int)i)->valuedouble;
        bml__dq_stats s;
        bml__dq_moments(x, len, &s);
        double var = cJSON_GetObjectItem(m, "var")->valuedouble;
        CHECK_NEAR(s.min, cJSON_GetObjectItem(m, "min")->valuedouble, 0);
        CHECK_NEAR(s.var, var, 1e-13 * var);
        CHECK_NEAR(s.skew, cJSON_GetObjectItem(m, "skew")->valuedouble, 1e-12);
        CHECK_NEAR(s.kurt, cJSON_GetObjectItem(m, "kurt")->valuedouble, 1e-11);
        free(x);
        n++;
    }
    CHECK_INT(n, 3);
    cJSON_Delete(j);
}

static bml_status make_dq(const char *features, const char *log_target, bml_pipeline **p) {
    bml_kv kv[] = {{"features", features}, {"curve_step", "3"}, {"log_target", log_target}};
    return bml_pipeline_create("delta_q", kv, 3, p);
}

static void test_pipeline_vs_scipy(void) {
    cJSON *j = load_json(TEST_DATA "/cyclelife/dq_reference.json");
    bml_qdlin_opts o;
    small_opts(&o, 20, 99);
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    CHECK_OK(bml_dataset_load_qdlin(SYNTH, &o, &ds));
    CHECK_OK(make_dq("[discharge, variance, fade, curve]", "true", &p));
    if (!ds || !p) goto done;
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (!s) goto done;
    CHECK_INT(s->n, 3);
    CHECK_INT(s->n_features, 6 + 2 + 7); /* log10_var_dq once; 20 points every 3rd: 7 */
    CHECK_STR(s->feature_names[1], "log10_var_dq");
    CHECK_STR(s->feature_names[8], "dq@3.6000V");
    CHECK_STR(s->target_names[0], "log10_cycle_life");
    for (size_t c = 0; c < 3; c++) {
        cJSON *cell = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "cells"), (int)c);
        cJSON *f = cJSON_GetObjectItem(cell, "features");
        CHECK_STR(s->meta[c].cell, c == 0 ? "train_cell1" : c == 1 ? "train_cell2" : "train_cell3");
        for (size_t k = 0; k < 8; k++) {
            double want = cJSON_GetObjectItem(f, s->feature_names[k])->valuedouble;
            if (!(fabs(s->x[c * s->n_features + k] - want) <= 1e-9 * fmax(1, fabs(want)))) {
                fprintf(stderr, "  cell %zu %s: %.17g vs scipy %.17g\n", c, s->feature_names[k], s->x[c * s->n_features + k], want);
                t_fail_count++;
            }
        }
        cJSON *curve = cJSON_GetObjectItem(f, "curve");
        CHECK_INT(cJSON_GetArraySize(curve), 7);
        for (size_t k = 0; k < 7; k++) CHECK_NEAR(s->x[c * s->n_features + 8 + k], cJSON_GetArrayItem(curve, (int)k)->valuedouble, 1e-15);
        cJSON *life = cJSON_GetObjectItem(cell, "cycle_life");
        if (cJSON_IsNumber(life)) CHECK_NEAR(s->y[c], log10(life->valuedouble), 1e-15);
        else CHECK(isnan(s->y[c]));
    }
    bml_samples_free(s);
    s = NULL;
    bml_pipeline_free(p);
    p = NULL;
    /* the target as it is; the variance set alone */
    CHECK_OK(make_dq("[variance]", "false", &p));
    if (p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (s) {
        CHECK_INT(s->n_features, 1);
        CHECK_STR(s->target_names[0], "cycle_life");
        CHECK_NEAR(s->y[1], 1431, 0);
    }
    bml_samples_free(s);
    s = NULL;
    bml_pipeline_free(p);
    p = NULL;
    /* cycles the data do not hold; an unknown feature set; another dataset */
    bml_kv kv[] = {{"cycle_a", "101"}};
    CHECK_OK(bml_pipeline_create("delta_q", kv, 1, &p));
    if (p) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "has cycles 2..100, the features need cycles 10..101");
    bml_pipeline_free(p);
    p = NULL;
    CHECK_OK(make_dq("[variance, shape]", "true", &p));
    if (p) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "unknown feature set 'shape'");
done:
    bml_pipeline_free(p);
    bml_samples_free(s);
    bml_dataset_free(ds);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------------ corrupt cycles, kurtosis definition */
/* a copy of the synthetic folder with field (row, col) of train/<file> replaced by `value` in each edit */
typedef struct {
    const char *file;
    size_t row, col;
    const char *value;
} field_edit;

static char *synth_copy_with(const field_edit *ed, size_t n_ed) {
    char *dir = tmpdir(), *txt = NULL;
    CHECK_OK(bml__read_file(SYNTH "/cells.csv", &txt, NULL));
    put(dir, "cells.csv", txt ? txt : "");
    free(txt);
    for (int c = 1; c <= 3; c++) {
        char rel[32], *src;
        snprintf(rel, sizeof rel, "train/cell%d.csv", c);
        src = bml__path_join(SYNTH, rel);
        txt = NULL;
        CHECK_OK(bml__read_file(src, &txt, NULL));
        free(src);
        bml__sb b = {0};
        size_t r = 0, col = 0;
        for (const char *q = txt; q && *q;) { /* copy field by field, replacing the edited ones */
            size_t len = strcspn(q, ",\n");
            const char *rep = NULL;
            for (size_t e = 0; e < n_ed; e++)
                if (!strcmp(ed[e].file, rel) && ed[e].row == r && ed[e].col == col) rep = ed[e].value;
            if (rep) bml__sb_str(&b, rep);
            else bml__sb_put(&b, q, len);
            q += len;
            if (*q == ',') col++;
            else if (*q == '\n') r++, col = 0;
            if (*q) bml__sb_put(&b, q++, 1);
        }
        put(dir, rel, b.buf ? b.buf : "");
        free(b.buf);
        free(txt);
    }
    return dir;
}

static void test_corrupt_cycles(void) {
    /* the detection on a crafted series: not finite, not positive, above 1.5 x the median */
    const double cap[] = {1.07, 1.06, NAN, -0.2, 49.0, 1.05, 1.08, 0.0, 1.60, 1.59};
    unsigned char valid[10];
    double med = 0;
    CHECK_INT(bml__dq_valid_capacities(cap, 10, 1.5, valid, &med), 4);
    CHECK_NEAR(med, 1.07, 0); /* finite ones sorted: -0.2 0 1.05 1.06 1.07 1.08 1.59 1.6 49 */
    const unsigned char want[10] = {1, 1, 0, 0, 0, 1, 1, 0, 1, 1}; /* 1.60 <= 1.5 x 1.07 = 1.605: kept */
    CHECK(!memcmp(valid, want, sizeof want));
    CHECK_INT(bml__dq_valid_capacities(cap, 10, 0, valid, NULL), 0); /* off: every cycle as it is */

    /* through the pipeline: cell1's cycle 12 reads 49 Ah, cell2's cycle 95 -1 Ah at the grid's last point (row 19) */
    const field_edit ed[] = {{"train/cell1.csv", 19, 10, "49"}, {"train/cell2.csv", 19, 93, "-1"}};
    char *dir = synth_copy_with(ed, 2);
    bml_qdlin_opts o;
    small_opts(&o, 20, 99);
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL, *p0 = NULL;
    bml_samples *s = NULL, *s0 = NULL;
    CHECK_OK(bml_dataset_load_qdlin(dir, &o, &ds));
    bml_kv kv[] = {{"features", "[discharge, fade]"}, {"capacity_max_ratio", "1.5"}, {"kurtosis", "pearson"}};
    CHECK_OK(bml_pipeline_create("delta_q", kv, 3, &p));
    CHECK_OK(bml_pipeline_create("delta_q", kv, 1, &p0)); /* capacities as they are, fisher's kurtosis */
    if (!ds || !p || !p0) goto done;
    CHECK_OK(bml_pipeline_transform(p0, ds, &s0));
    CHECK_STR(bml_pipeline_last_note(), "");
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (!s || !s0) goto done;
    CHECK(strstr(bml_pipeline_last_note(), "2 corrupt cycles") != NULL);
    CHECK(strstr(bml_pipeline_last_note(), "train_cell1 cycle 12 (49 Ah); train_cell2 cycle 95 (-1 Ah)") != NULL);
    size_t F = s->n_features;
    CHECK_INT(F, 8);
    CHECK_STR(s->feature_names[5], "q_max_minus_first");
    for (size_t c = 0; c < 3; c++) {
        bml_cell_view cv;
        bml_dataset_cell(ds, c, &cv);
        /* expected from the matrix, the edited cycles left out: row k = cycle k + 2, the capacity at column 19 */
        double q1 = cv.values[19], qmax = q1, xs[10], ys[10], sl, ic;
        size_t m = 0;
        for (size_t k = 0; k <= 98; k++) {
            double v = cv.values[k * 20 + 19];
            int bad = (c == 0 && k == 10) || (c == 1 && k == 93);
            if (!bad && v > qmax) qmax = v;
            if (!bad && k + 2 >= 91) xs[m] = (double)(k + 2), ys[m++] = v;
        }
        CHECK_NEAR(s->x[c * F + 4], q1, 0);
        CHECK_NEAR(s->x[c * F + 5], qmax - q1, 0);
        bml__dq_linfit(xs, ys, m, &sl, &ic);
        CHECK_INT(m, c == 1 ? 9 : 10);
        CHECK_NEAR(s->x[c * F + 6], sl, 1e-15);
        CHECK_NEAR(s->x[c * F + 7], ic, 1e-12);
        /* kurtosis: pearson = fisher + 3 */
        double dq[20];
        for (size_t i = 0; i < 20; i++) dq[i] = cv.values[98 * 20 + i] - cv.values[8 * 20 + i];
        bml__dq_stats st;
        bml__dq_moments(dq, 20, &st);
        CHECK_NEAR(s->x[c * F + 3], log10(fabs(st.kurt + 3.0)), 1e-12);
        CHECK_NEAR(s0->x[c * F + 3], log10(fabs(st.kurt)), 1e-12);
    }
    CHECK_NEAR(s0->x[0 * F + 5], 49.0 - s0->x[4], 0); /* off: the corrupt 49 Ah is the max */
    bml_samples_free(s);
    s = NULL;
    bml_pipeline_free(p);
    p = NULL;
    /* a corrupt cycle that ΔQ itself uses: an error naming it; an unknown kurtosis */
    bml_kv kb[] = {{"cycle_b", "12"}, {"capacity_max_ratio", "1.5"}};
    CHECK_OK(bml_pipeline_create("delta_q", kb, 2, &p));
    if (p) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "cycle 12, which ΔQ100-12 uses, is corrupt");
    bml_pipeline_free(p);
    p = NULL;
    bml_kv kk[] = {{"kurtosis", "excess"}};
    CHECK_OK(bml_pipeline_create("delta_q", kk, 1, &p));
    if (p) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "kurtosis='excess' (valid: fisher, pearson)");
done:
    bml_pipeline_free(p);
    bml_pipeline_free(p0);
    bml_samples_free(s);
    bml_samples_free(s0);
    bml_dataset_free(ds);
    bml__rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ the published data */
static int have_severson(void) {
    if (bml__is_file(SEVERSON "/cells.csv")) return 1;
    printf("skipped: %s not present (the Severson et al. 2019 Qdlin data)\n", SEVERSON);
    return 0;
}

static void test_severson_load(void) {
    if (!have_severson()) return;
    bml_dataset *ds = NULL, *ds2 = NULL;
    CHECK_OK(bml_dataset_load_qdlin(SEVERSON, NULL, &ds)); /* cells.csv */
    bml_qdlin_opts o;
    bml_qdlin_opts_default(&o);
    o.index = "test1_cycle_lives.csv";
    CHECK_OK(bml_dataset_load_qdlin(SEVERSON, &o, &ds2));
    if (!ds || !ds2) goto done;
    CHECK_INT(bml_dataset_n_cells(ds), 84);
    CHECK_INT(bml_dataset_n_cells(ds2), 43);
    size_t n_train = 0, n_test = 0;
    for (size_t i = 0; i < 84; i++) {
        const char *sp = bml_dataset_cell_split(ds, i);
        n_train += !strcmp(sp, "train");
        n_test += !strcmp(sp, "test1");
        CHECK(bml_dataset_cell_life(ds, i) >= 148 && bml_dataset_cell_life(ds, i) <= 2237);
        bml_cell_view a;
        bml_dataset_cell(ds, i, &a);
        CHECK_INT(a.n_rows, 99);
        for (size_t k = 0; k < 43; k++) { /* the lives of the published list = those of cells.csv */
            bml_cell_view b;
            bml_dataset_cell(ds2, k, &b);
            if (!strcmp(a.cell_id, b.cell_id)) CHECK_NEAR(bml_dataset_cell_life(ds, i), bml_dataset_cell_life(ds2, k), 0);
        }
        if (!strcmp(a.cell_id, "train_cell1")) {
            CHECK_NEAR(a.values[0], -0.00046003, 0); /* file row 1, column 1 */
            CHECK_NEAR(a.values[1000], -0.0003519, 0);   /* file row 1, column 2 = cycle 3 */
            CHECK_STR(bml_dataset_cell_attr(ds, i, "cell_barcode"), "EL150800460486");
            CHECK_NEAR(bml_dataset_cell_life(ds, i), 2160, 0);
        }
        if (!strcmp(a.cell_id, "test1_cell22")) CHECK_NEAR(bml_dataset_cell_life(ds, i), 148, 0);
    }
    CHECK_INT(n_train, 41);
    CHECK_INT(n_test, 43);
done:
    bml_dataset_free(ds);
    bml_dataset_free(ds2);
}

/* RMSE (cycles) and MAPE (%) of 10^pred against the lives of the cells of `split`, leaving out `skip` (NULL: none) */
static void metrics(const bml_dataset *ds, const double *pred, const char *split, const char *skip, double *rmse, double *mape) {
    double se = 0, ape = 0;
    size_t n = 0;
    for (size_t i = 0; i < bml_dataset_n_cells(ds); i++) {
        bml_cell_view v;
        bml_dataset_cell(ds, i, &v);
        if (strcmp(bml_dataset_cell_split(ds, i), split) || (skip && !strcmp(v.cell_id, skip))) continue;
        double life = bml_dataset_cell_life(ds, i), yhat = pow(10.0, pred[i]);
        se += (yhat - life) * (yhat - life);
        ape += fabs(yhat - life) / life;
        n++;
    }
    *rmse = sqrt(se / (double)n);
    *mape = 100.0 * ape / (double)n;
}

/* Severson et al. 2019, Table 1, "variance" model: OLS of log10(cycle life) on log10 var(ΔQ100-10), trained on
 * `train`: train 103.6 cycles / 14.1 %, primary test 137.9 / 14.7 %, without test1_cell22 138.3 / 13.2 %. */
static void test_severson_variance_model(void) {
    if (!have_severson()) return;
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL, *train = NULL;
    bml_model *m = NULL;
    double *pred = NULL;
    size_t *idx = NULL;
    CHECK_OK(bml_dataset_load_qdlin(SEVERSON, NULL, &ds));
    CHECK_OK(bml_pipeline_create("delta_q", NULL, 0, &p)); /* defaults: variance, ΔQ100-10, log10 target */
    if (!ds || !p) goto done;
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (!s) goto done;
    idx = calloc(s->n, sizeof *idx);
    size_t n_train = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(bml_dataset_cell_split(ds, i), "train")) idx[n_train++] = i;
    CHECK_INT(n_train, 41);
    CHECK_OK(bml_samples_subset(s, idx, n_train, &train));
    CHECK_OK(bml_model_create("ols", NULL, 0, &m));
    if (!train || !m) goto done;
    CHECK_OK(bml_model_fit(m, train, NULL, 0));
    pred = calloc(s->n, sizeof *pred);
    CHECK_OK(bml_model_predict(m, s->x, s->n, pred));
    double rmse, mape;
    metrics(ds, pred, "train", NULL, &rmse, &mape);
    printf("  variance model: train %.1f cycles / %.1f %%", rmse, mape);
    CHECK(round(rmse * 10) == 1036 && round(mape * 10) == 141);
    metrics(ds, pred, "test1", NULL, &rmse, &mape);
    printf(", primary test %.1f / %.1f %%", rmse, mape);
    CHECK(round(rmse * 10) == 1379 && round(mape * 10) == 147);
    metrics(ds, pred, "test1", "test1_cell22", &rmse, &mape);
    printf(" (without cell 22: %.1f / %.1f %%)\n", rmse, mape);
    CHECK(round(rmse * 10) == 1383 && round(mape * 10) == 132);
done:
    free(idx);
    free(pred);
    bml_model_free(m);
    bml_samples_free(train);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "reproduce")) {
        if (!bml__is_file(SEVERSON "/cells.csv")) {
            printf("skipped: %s not present (the Severson et al. 2019 Qdlin data, see README)\n", SEVERSON);
            return 77;
        }
        static const test_case t[] = {T(test_severson_load), T(test_severson_variance_model)};
        return run_tests("cyclelife_reproduce", t, sizeof t / sizeof *t);
    }
    static const test_case t[] = {T(test_load_synth),        T(test_load_transposed_and_lives_files), T(test_load_bad_inputs), T(test_load_unindexed), T(test_load_threads_same), T(test_numbers_as_strtod),
                                  T(test_moments_vs_scipy),  T(test_pipeline_vs_scipy), T(test_corrupt_cycles),              T(test_severson_load),
                                  T(test_severson_variance_model)};
    return run_tests("cyclelife", t, sizeof t / sizeof *t);
}
