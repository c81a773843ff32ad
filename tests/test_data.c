/* Data layer: Oxford loader (shipped data, original tree, naming variants, stacked files), generic
 * tables, and every kind of bad input. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset_internal.h"
#include "test.h"

static char tmp_root[256];

static const char *tmpdir(void) {
    if (!tmp_root[0]) {
        snprintf(tmp_root, sizeof tmp_root, "/tmp/bml-test-data-XXXXXX");
        if (!mkdtemp(tmp_root)) abort();
    }
    return tmp_root;
}

static char *tpath(const char *name) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir(), name);
    return buf[k];
}

/* a valid Performance Summary header line */
static void header(char *buf, size_t size) {
    buf[0] = 0;
    for (int j = 0; j < BML__OX_NCOLS; j++) {
        strncat(buf, j ? "," : "", size - strlen(buf) - 1);
        strncat(buf, bml__oxford_headers[j], size - strlen(buf) - 1);
    }
    strncat(buf, "\r\n", size - strlen(buf) - 1);
}

static const char *ROW0 = "0,0,,,01/07/2020,0.0,,0.0,0.0,4878.88457,4798.8,0.0259,4878.8,5621.3,5375.5,4567.6,807.9,534.6,1.0,0,0,0,0,0,0.10,0.008,0.97,0.91,0.84,0.008\r\n";
static const char *ROW1 = "1,78,23/07/2020,08/08/2020,10/08/2020,16.0,16.95,627.1,2289.7,4602.5,,,4602.5,5409.9,4912.2,4154.6,757.6,642.2,0.9433,0.0376,0.0861,0.0904,0.0622,0.0653,0.126,0.0087,0.977,0.945,0.845,0.0069\r\n";

static void write_summary(const char *name, const char *rows) {
    char h[4096];
    header(h, sizeof h);
    char *all = malloc(strlen(h) + strlen(rows) + 1);
    strcpy(all, h);
    strcat(all, rows);
    write_text(tpath(name), all);
    free(all);
}

static void test_shipped_experiment5(void) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_cells(ds), 8);
    CHECK_INT(bml_dataset_n_rows(ds), 128);
    bml_cell_view v;
    bml_dataset_cell(ds, 0, &v);
    CHECK_STR(v.cell_id, "A");
    CHECK_INT(v.experiment, 5);
    CHECK_NEAR(v.temperature_c, 10, 0);
    int cap = bml_dataset_column_index(ds, "capacity_c10_ah"), res = bml_dataset_column_index(ds, "resistance_ohm");
    int tm = bml_dataset_column_index(ds, "temperature_measured_c"), rpt = bml_dataset_column_index(ds, "rpt_day");
    CHECK(cap >= 0 && res >= 0 && tm >= 0 && rpt >= 0);
    size_t nc = bml_dataset_n_columns(ds);
    CHECK_NEAR(v.values[0 * nc + (size_t)cap], 4.87888457, 1e-12); /* mAh -> Ah */
    CHECK(isnan(v.values[1 * nc + (size_t)res]));                 /* measured every second RPT: missing, not 0 */
    CHECK(isnan(v.values[0 * nc + (size_t)tm]));                  /* empty in row 0 */
    CHECK_NEAR(v.values[0 * nc + (size_t)rpt], 18444, 0);         /* 01/07/2020 as days since 1970 */
    CHECK_INT(v.lines[0], 2);
    /* the resistance outlier of cell A row 4 survives as a value */
    CHECK_NEAR(v.values[4 * nc + (size_t)res], 0.158, 0.001);
    /* the file without a letter becomes its own cell */
    int found = 0;
    for (size_t i = 0; i < bml_dataset_n_cells(ds); i++) {
        bml_dataset_cell(ds, i, &v);
        found |= !strcmp(v.cell_id, "40degC") && v.temperature_c == 40;
    }
    CHECK(found);
    bml_dataset_free(ds);
}

static void test_stacked_file_deduplicated(void) {
    int e[] = {1};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    if (!ds) return;
    /* A, B, E, F, J, L, M + the unlettered 25 and 40 degC cells; the stacked 10 degC file is A, B, J again */
    CHECK_INT(bml_dataset_n_cells(ds), 9);
    /* what was dropped is said, not silent */
    CHECK_STR(bml_dataset_note(ds), "3 segment(s) (41 rows) of stacked files dropped: identical to cells loaded from their own files");
    bml_dataset_free(ds);
    /* the stacked file alone is split where Ageing Sets restarts */
    bml_dataset *st = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR "/Expt 1 - 10degC - Processed Data.csv", NULL, &st));
    if (!st) return;
    CHECK_INT(bml_dataset_n_cells(st), 3);
    CHECK_INT(bml_dataset_n_rows(st), 41);
    bml_cell_view v;
    bml_dataset_cell(st, 1, &v);
    CHECK_STR(v.cell_id, "10degC-2");
    CHECK_STR(bml_dataset_note(st), "");
    bml_dataset_free(st);
}

static void test_all_experiments(void) {
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, NULL, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_cells(ds), 32);
    bml_dataset_free(ds);
}

static void test_file_names(void) {
    int e;
    const char *cell;
    size_t n;
    double t;
    CHECK_INT(bml__oxford_parse_name("Expt 2,2 - cell D (25degC) - Processed Data.csv", &e, &cell, &n, &t), 0);
    CHECK_INT(e, 2);
    CHECK(n == 1 && cell[0] == 'D');
    CHECK_NEAR(t, 25, 0);
    CHECK_INT(bml__oxford_parse_name("Expt 5 - Cell A (10degC) - Processed Data.csv", &e, &cell, &n, &t), 0);
    CHECK(n == 1 && cell[0] == 'A');
    CHECK_INT(bml__oxford_parse_name("expt 3 - 40degC - Processed Data.csv", &e, &cell, &n, &t), 0);
    CHECK_INT(n, 0);
    CHECK_NEAR(t, 40, 0);
    CHECK(bml__oxford_parse_name("expt 5 - cell A - cycle_data.csv", &e, &cell, &n, &t) != 0);
    CHECK(bml__oxford_parse_name("notes.csv", &e, &cell, &n, &t) != 0);
    CHECK(bml__oxford_parse_name("Expt 5 - cell A (nandegC) - Processed Data.csv", &e, &cell, &n, &t) != 0);
    /* a cell id of any length, never cut */
    const char *lng = "Expt 5 - cell Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG (25degC) - Processed Data.csv";
    CHECK_INT(bml__oxford_parse_name(lng, &e, &cell, &n, &t), 0);
    CHECK_INT(n, 43);
    CHECK(!strncmp(cell, "Abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG (", 45));
}

/* Two Performance Summary files whose cell ids differ only after character 32 stay two cells, ids whole
 * (the old 32-byte parse buffer cut them and their files were dropped). */
static void test_long_oxford_cell_ids(void) {
    char rows[2048];
    snprintf(rows, sizeof rows, "%s%s", ROW0, ROW1);
    write_summary("Expt 5 - cell LongCellIdentifierOfTheOxfordDataSetX1 (25degC) - Processed Data.csv", rows);
    write_summary("Expt 5 - cell LongCellIdentifierOfTheOxfordDataSetX2 (25degC) - Processed Data.csv", rows);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_oxford(tpath(""), NULL, &ds));
    if (!ds) return;
    size_t found = 0;
    for (size_t i = 0; i < bml_dataset_n_cells(ds); i++) {
        bml_cell_view v;
        bml_dataset_cell(ds, i, &v);
        found += !strcmp(v.cell_id, "LongCellIdentifierOfTheOxfordDataSetX1") + !strcmp(v.cell_id, "LongCellIdentifierOfTheOxfordDataSetX2");
    }
    CHECK_INT(found, 2);
    bml_dataset_free(ds);
    remove(tpath("Expt 5 - cell LongCellIdentifierOfTheOxfordDataSetX1 (25degC) - Processed Data.csv"));
    remove(tpath("Expt 5 - cell LongCellIdentifierOfTheOxfordDataSetX2 (25degC) - Processed Data.csv"));
}

static void test_original_tree(void) {
    /* Raw Data/<Expt folder>/Summary Data/Performance Summary/..., with per-cycle files that are not summaries */
    char d[512];
    snprintf(d, sizeof d, "%s/Raw Data/Expt 2,2 - C-based Degradation 2/Summary Data/Performance Summary", tmpdir());
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s/../Ageing Sets Summary/Summary per Cycle'", d, d);
    CHECK_INT(system(cmd), 0);
    char name[700];
    snprintf(name, sizeof name, "Raw Data/Expt 2,2 - C-based Degradation 2/Summary Data/Performance Summary/Expt 2,2 - cell D (25degC) - Processed Data.csv");
    write_summary(name, ROW0);
    snprintf(name, sizeof name, "Raw Data/Expt 2,2 - C-based Degradation 2/Summary Data/Ageing Sets Summary/Summary per Cycle/expt 2 - cell D - cycle_data.csv");
    write_text(tpath(name), "Cycle,Date,Capacity [mA h]\r\n1,2020-07-23,4800.5\r\n2,,4790\r\n");
    snprintf(name, sizeof name, "Raw Data/Expt 2,2 - C-based Degradation 2/Summary Data/Ageing Sets Summary/Summary per Set/expt 2 - cell D - set_data.csv");
    char setdir[700];
    snprintf(setdir, sizeof setdir, "mkdir -p '%s/Raw Data/Expt 2,2 - C-based Degradation 2/Summary Data/Ageing Sets Summary/Summary per Set'", tmpdir());
    CHECK_INT(system(setdir), 0);
    write_text(tpath(name), "Set,Throughput\n0,0\n1,x7\n");
    char root[512];
    snprintf(root, sizeof root, "%s/Raw Data", tmpdir());
    bml_dataset *ds = NULL;
    /* the per-set file has a bad number: the error names it */
    CHECK_ERR(bml_dataset_load_oxford(root, NULL, &ds), BML_ERR_PARSE, "set_data.csv:3:2: cannot parse 'x7'");
    char fix[900];
    snprintf(fix, sizeof fix, "printf 'Set,Throughput\\n0,0\\n1,7\\n' > '%s/Raw Data/Expt 2,2 - C-based Degradation 2/Summary Data/Ageing Sets Summary/Summary per Set/expt 2 - cell D - set_data.csv'", tmpdir());
    CHECK_INT(system(fix), 0);
    CHECK_OK(bml_dataset_load_oxford(root, NULL, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_cells(ds), 1);
    bml_cell_view v;
    bml_dataset_cell(ds, 0, &v);
    CHECK_INT(v.experiment, 2);
    CHECK_STR(v.cell_id, "D");
    bml_table_view t;
    CHECK_INT(bml_dataset_cell_summary(ds, 0, "cycle", &t), 1);
    CHECK_INT(t.n_rows, 2);
    CHECK_INT(t.n_columns, 3);
    CHECK_STR(t.column_names[2], "Capacity [mA h]");
    CHECK_NEAR(t.values[0 * 3 + 1], 18466, 0); /* 2020-07-23 */
    CHECK(isnan(t.values[1 * 3 + 1]));
    CHECK_INT(bml_dataset_cell_summary(ds, 0, "set", &t), 1);
    CHECK_NEAR(t.values[1 * 2 + 1], 7, 0);
    CHECK_INT(bml_dataset_cell_summary(ds, 0, "rpt", &t), 0);
    bml_dataset_free(ds);
}

static void test_bad_oxford_inputs(void) {
    bml_dataset *ds = NULL;
    CHECK_ERR(bml_dataset_load_oxford("/nonexistent/path", NULL, &ds), BML_ERR_NOT_FOUND, "/nonexistent/path: no such");
    write_text(tpath("Expt 5 - cell Z (25degC) - Processed Data.csv"), "");
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell Z (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_EMPTY,
              "empty file");
    write_summary("Expt 5 - cell Y (25degC) - Processed Data.csv", "");
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell Y (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_EMPTY,
              "header only");
    write_text(tpath("Expt 5 - cell X (25degC) - Processed Data.csv"), "Ageing Sets,SoH\n0,1\n");
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell X (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_SCHEMA,
              "missing Performance Summary column(s) 'Ageing Cycles'");
    /* an unparsable number: file, line and column */
    char bad[2048];
    snprintf(bad, sizeof bad, "%s%s", ROW0, "1,78,23/07/2020,08/08/2020,10/08/2020,16.0,16.95,6x7.1,2289.7,4602.5,,,4602.5,5409.9,4912.2,4154.6,757.6,642.2,0.94,0.03,0.08,0.09,0.06,0.06,0.12,0.008,0.97,0.94,0.84,0.006\r\n");
    write_summary("Expt 5 - cell W (25degC) - Processed Data.csv", bad);
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell W (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_PARSE,
              "Expt 5 - cell W (25degC) - Processed Data.csv:3:8: cannot parse '6x7.1'");
    /* inf is not a number we accept */
    snprintf(bad, sizeof bad, "%s%s", ROW0, "1,78,,,10/08/2020,16.0,16.95,inf,2289.7,4602.5,,,4602.5,5409.9,4912.2,4154.6,757.6,642.2,0.94,0.03,0.08,0.09,0.06,0.06,0.12,0.008,0.97,0.94,0.84,0.006\r\n");
    write_summary("Expt 5 - cell V (25degC) - Processed Data.csv", bad);
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell V (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_PARSE, ":3:8:");
    /* a short row */
    snprintf(bad, sizeof bad, "%s1,78,3\r\n", ROW0);
    write_summary("Expt 5 - cell U (25degC) - Processed Data.csv", bad);
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell U (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_PARSE,
              ":3: 3 fields, the header has 30");
    /* a bad date */
    snprintf(bad, sizeof bad, "%s%s", ROW0, "1,78,31/31/2020,08/08/2020,10/08/2020,16.0,16.95,627.1,2289.7,4602.5,,,4602.5,5409.9,4912.2,4154.6,757.6,642.2,0.94,0.03,0.08,0.09,0.06,0.06,0.12,0.008,0.97,0.94,0.84,0.006\r\n");
    write_summary("Expt 5 - cell T (25degC) - Processed Data.csv", bad);
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell T (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_PARSE,
              ":3:3: cannot parse '31/31/2020' as a date");
    /* binary garbage */
    write_text(tpath("Expt 5 - cell S (25degC) - Processed Data.csv"), "\x7f" "ELF\x01\x02");
    FILE *f = fopen(tpath("Expt 5 - cell S (25degC) - Processed Data.csv"), "ab");
    fputc(0, f);
    fclose(f);
    CHECK_ERR(bml_dataset_load_oxford(tpath("Expt 5 - cell S (25degC) - Processed Data.csv"), NULL, &ds), BML_ERR_PARSE,
              "binary data");
    /* a file whose name gives no meta */
    write_summary("mystery.csv", ROW0);
    CHECK_ERR(bml_dataset_load_oxford(tpath("mystery.csv"), NULL, &ds), BML_ERR_VALUE, "cannot read experiment, cell");
    /* a folder with no summaries */
    char empty[512];
    snprintf(empty, sizeof empty, "%s/emptydir", tmpdir());
    mkdir(empty, 0777);
    CHECK_ERR(bml_dataset_load_oxford(empty, NULL, &ds), BML_ERR_EMPTY, "no Performance Summary files");
    CHECK(ds == NULL);
}

static void test_good_small_file(void) {
    char rows[2048];
    snprintf(rows, sizeof rows, "%s%s", ROW0, ROW1);
    write_summary("Expt 5 - cell Q (40degC) - Processed Data.csv", rows);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_oxford(tpath("Expt 5 - cell Q (40degC) - Processed Data.csv"), NULL, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_rows(ds), 2);
    bml_dataset_free(ds);
}

static const char *FEATS[] = {"throughput_ah", "resistance_ohm"};
static const char *TARGS[] = {"soh"};

static void test_table_loader(void) {
    write_text(tpath("t.csv"), "cell,temperature_c,days,throughput_ah,resistance_ohm,soh\n"
                               "c1,25,0,0,0.02,1.0\nc1,25,10,100,,0.98\n\"c,2\",40,0,0,0.03,1.0\nc1,25,20,200,0.021,0.96\n");
    bml_table_roles r = {.version = BML_TABLE_ROLES_VERSION, .cell_column = "cell", .temperature_column = "temperature_c", .time_column = "days", .features = FEATS, .n_features = 2, .targets = TARGS, .n_targets = 1};
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_table(tpath("t.csv"), &r, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_cells(ds), 2);
    bml_cell_view v;
    bml_dataset_cell(ds, 0, &v);
    CHECK_INT(v.n_rows, 3);
    CHECK(isnan(v.values[1 * 4 + 2])); /* empty resistance */
    CHECK_INT(v.lines[2], 5);
    bml_dataset_cell(ds, 1, &v);
    CHECK_STR(v.cell_id, "c,2");
    CHECK_NEAR(v.temperature_c, 40, 0);
    bml_dataset_free(ds);
}

static void test_table_bad_inputs(void) {
    bml_table_roles r = {.version = BML_TABLE_ROLES_VERSION, .cell_column = "cell", .temperature_column = "temperature_c", .features = FEATS, .n_features = 2, .targets = TARGS, .n_targets = 1};
    bml_dataset *ds = NULL;
    write_text(tpath("t1.csv"), "cell,temperature_c,throughput_ah,soh\nc1,25,0,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t1.csv"), &r, &ds), BML_ERR_SCHEMA, "missing column(s) 'resistance_ohm'");
    write_text(tpath("t2.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\nc1,25,0,0.1,\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t2.csv"), &r, &ds), BML_ERR_VALUE, "t2.csv:2:5: target 'soh' is missing");
    write_text(tpath("t3.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\nc1,25,0,0.1,NaN\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t3.csv"), &r, &ds), BML_ERR_VALUE, "t3.csv:2:5: target 'soh' is missing (NaN)");
    write_text(tpath("t4.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\nc1,25,abc,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t4.csv"), &r, &ds), BML_ERR_PARSE, "t4.csv:2:3: cannot parse 'abc'");
    write_text(tpath("t5.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t5.csv"), &r, &ds), BML_ERR_EMPTY, "header only");
    write_text(tpath("t6.csv"), "");
    CHECK_ERR(bml_dataset_load_table(tpath("t6.csv"), &r, &ds), BML_ERR_EMPTY, "empty file");
    write_text(tpath("t7.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\nc1,25,1,0.1,inf\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t7.csv"), &r, &ds), BML_ERR_PARSE, "t7.csv:2:5: cannot parse 'inf'");
    write_text(tpath("t8.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\n\"c1,25,1,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t8.csv"), &r, &ds), BML_ERR_PARSE, "unterminated quoted field");
    CHECK_ERR(bml_dataset_load_table(tpath("nope.csv"), &r, &ds), BML_ERR_NOT_FOUND, "nope.csv: no such file");
    /* a cell id names its fold's model folder: refused at load, naming file, line and column (issue 19) */
    write_text(tpath("t9.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\nc1,25,1,0.1,1\na/b,25,1,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t9.csv"), &r, &ds), BML_ERR_VALUE, "t9.csv:3:1: cell id 'a/b' holds a '/'");
    write_text(tpath("t10.csv"), "cell,temperature_c,throughput_ah,resistance_ohm,soh\n.hidden,25,1,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("t10.csv"), &r, &ds), BML_ERR_VALUE, "t10.csv:2:1: cell id '.hidden' starts with '.'");
    CHECK(ds == NULL);
}

/* Hostile cell ids: longer than 31 and 63 characters and distinct only after that, with ':' '=' quotes and
 * spaces. The table loader, the table pipeline and a LOCO split keep every cell distinct and whole (a
 * 32-byte meta field once merged them: "loco needs at least two cells, the data has 1"). */
static const char *const HOSTILE[] = {
    "cell with a long identifier: 0123456789 = A",
    "cell with a long identifier: 0123456789 = B",
    "cell \"quoted\" id: key=value, more text to pass 64 characters ........ 1",
    "cell \"quoted\" id: key=value, more text to pass 64 characters ........ 2",
    "c",
};
#define N_HOSTILE (sizeof HOSTILE / sizeof *HOSTILE)

static void test_table_hostile_cell_ids(void) {
    size_t cap = 8192, off = 0;
    char *text = malloc(cap);
    off += (size_t)snprintf(text + off, cap - off, "cell,throughput_ah,resistance_ohm,soh\n");
    for (int r = 0; r < 3; r++)
        for (size_t c = 0; c < N_HOSTILE; c++) {
            off += (size_t)snprintf(text + off, cap - off, "\"");
            for (const char *p = HOSTILE[c]; *p; p++) off += (size_t)snprintf(text + off, cap - off, *p == '"' ? "\"\"" : "%c", *p);
            off += (size_t)snprintf(text + off, cap - off, "\",%d,0.0%zu,%g\n", 100 * r, c + 1, 1.0 - 0.01 * r);
        }
    write_text(tpath("hostile.csv"), text);
    free(text);
    bml_table_roles roles = {.version = BML_TABLE_ROLES_VERSION, .cell_column = "cell", .features = FEATS, .n_features = 2, .targets = TARGS, .n_targets = 1};
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_table(tpath("hostile.csv"), &roles, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_cells(ds), N_HOSTILE);
    for (size_t c = 0; c < bml_dataset_n_cells(ds) && c < N_HOSTILE; c++) {
        bml_cell_view v;
        bml_dataset_cell(ds, c, &v);
        CHECK_STR(v.cell_id, HOSTILE[c]);
        CHECK_INT(v.n_rows, 3);
    }
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    CHECK_OK(bml_pipeline_create("table", NULL, 0, &p));
    if (p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    bml_dataset_free(ds); /* the samples own their cell ids */
    bml_pipeline_free(p);
    if (!s) return;
    CHECK_INT(s->n, 3 * N_HOSTILE);
    for (size_t i = 0; i < s->n; i++) CHECK_STR(s->meta[i].cell, HOSTILE[i / 3]); /* rows grouped by cell */
    bml_split *sp = NULL;
    CHECK_OK(bml_split_create("loco", NULL, 0, s, 42, &sp));
    if (sp) {
        CHECK_INT(sp->n_folds, N_HOSTILE);
        int seen[N_HOSTILE] = {0};
        for (size_t f = 0; f < sp->n_folds; f++) {
            const bml_fold *fo = &sp->folds[f];
            CHECK_INT(fo->n_val, 3);
            CHECK_INT(fo->n_train, 3 * (N_HOSTILE - 1));
            for (size_t k = 0; k < fo->n_val; k++) CHECK_STR(s->meta[fo->val[k]].cell, s->meta[fo->val[0]].cell);
            for (size_t c = 0; c < N_HOSTILE; c++) seen[c] += !strcmp(s->meta[fo->val[0]].cell, HOSTILE[c]);
        }
        for (size_t c = 0; c < N_HOSTILE; c++) CHECK_INT(seen[c], 1);
        /* a subset holds its own copy of the ids */
        bml_samples *sub = NULL;
        CHECK_OK(bml_samples_subset(s, sp->folds[0].val, sp->folds[0].n_val, &sub));
        bml_samples_free(s);
        s = NULL;
        if (sub) {
            for (size_t k = 0; k < sub->n; k++) CHECK(strlen(sub->meta[k].cell) > 0);
            char key[8];
            CHECK_INT(bml_sample_cell_key(&sub->meta[0], key, sizeof key), strlen(sub->meta[0].cell));
        }
        bml_samples_free(sub);
    }
    bml_split_free(sp);
    bml_samples_free(s);
}

/* A cell's temperature and experiment come from every row: a later row that cannot be parsed, or whose
 * temperature disagrees, is an error (they were read from the cell's first row only, the rest never looked at). */
static void test_table_cell_meta_every_row(void) {
    bml_table_roles r = {.version = BML_TABLE_ROLES_VERSION, .cell_column = "cell", .temperature_column = "temperature_c", .experiment_column = "experiment", .features = FEATS, .n_features = 2, .targets = TARGS, .n_targets = 1};
    bml_dataset *ds = NULL;
    write_text(tpath("m1.csv"), "cell,experiment,temperature_c,throughput_ah,resistance_ohm,soh\n"
                                "c1,1,25,0,0.1,1\nc1,1,abc,1,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("m1.csv"), &r, &ds), BML_ERR_PARSE, "m1.csv:3:3: cannot parse 'abc' as a temperature");
    write_text(tpath("m2.csv"), "cell,experiment,temperature_c,throughput_ah,resistance_ohm,soh\n"
                                "c1,1,25,0,0.1,1\nc2,1,40,0,0.1,1\nc1,1,40,1,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("m2.csv"), &r, &ds), BML_ERR_VALUE,
              "m2.csv:4:3: cell 'c1' has temperature 40 here but 25 at line 2");
    write_text(tpath("m3.csv"), "cell,experiment,temperature_c,throughput_ah,resistance_ohm,soh\n"
                                "c1,1,25,0,0.1,1\nc1,x,25,1,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("m3.csv"), &r, &ds), BML_ERR_PARSE, "m3.csv:3:2: cannot parse 'x' as an experiment");
    write_text(tpath("m4.csv"), "cell,experiment,temperature_c,throughput_ah,resistance_ohm,soh\n"
                                "c1,1,25,0,0.1,1\nc1,99999999999,25,1,0.1,1\n");
    CHECK_ERR(bml_dataset_load_table(tpath("m4.csv"), &r, &ds), BML_ERR_PARSE, "m4.csv:3:2: cannot parse '99999999999'");
    /* a table cut mid-row */
    write_text(tpath("m6.csv"), "cell,experiment,temperature_c,throughput_ah,resistance_ohm,soh\n"
                                "c1,1,25,0,0.1,1\nc1,1,25,1");
    CHECK_ERR(bml_dataset_load_table(tpath("m6.csv"), &r, &ds), BML_ERR_PARSE, "m6.csv:3: 4 fields, the header has 6");
    CHECK(ds == NULL);
    /* with an experiment column a cell is (experiment, id): cell 'A' of experiments 1 and 5 are two cells
     * (they were merged into one, under the first row's experiment) */
    write_text(tpath("m5.csv"), "cell,experiment,temperature_c,throughput_ah,resistance_ohm,soh\n"
                                "A,1,25,0,0.1,1\nA,5,25,1,0.1,1\nA,1,25,2,0.1,1\n");
    CHECK_OK(bml_dataset_load_table(tpath("m5.csv"), &r, &ds));
    if (ds) {
        CHECK_INT(bml_dataset_n_cells(ds), 2);
        bml_cell_view v;
        bml_dataset_cell(ds, 0, &v);
        CHECK_INT(v.experiment, 1);
        CHECK_INT(v.n_rows, 2);
        bml_dataset_cell(ds, 1, &v);
        CHECK_INT(v.experiment, 5);
        CHECK_INT(v.n_rows, 1);
    }
    bml_dataset_free(ds);
}

/* synthetic curves of a cell of an experiment outside 1..5 are an error (they were written as experiment 5) */
static void test_synth_unknown_experiment(void) {
    char rows[2048];
    snprintf(rows, sizeof rows, "%s%s", ROW0, ROW1);
    write_summary("Expt 7 - cell Z (25degC) - Processed Data.csv", rows);
    size_t n = 0;
    CHECK_ERR(bml_synth_curves_write(tpath("Expt 7 - cell Z (25degC) - Processed Data.csv"), NULL, tpath("synth"), 50, &n),
              BML_ERR_VALUE, "experiment 7 has no folder in the Oxford layout");
    CHECK_INT(n, 0);
    remove(tpath("Expt 7 - cell Z (25degC) - Processed Data.csv"));
}

/* two files of one experiment and cell (here at two temperatures) are an error: splits would merge them */
static void test_oxford_duplicate_cell(void) {
    char d[512];
    snprintf(d, sizeof d, "%s/dup", tmpdir());
    CHECK_OK(bml__mkdir_p(d));
    char rows[2048];
    snprintf(rows, sizeof rows, "%s%s", ROW0, ROW1);
    write_summary("dup/Expt 5 - cell Q (40degC) - Processed Data.csv", rows);
    write_summary("dup/Expt 5 - cell Q (25degC) - Processed Data.csv", rows);
    bml_dataset *ds = NULL;
    CHECK_ERR(bml_dataset_load_oxford(d, NULL, &ds), BML_ERR_VALUE, "both hold experiment 5 cell Q");
    CHECK(ds == NULL);
}

static void cleanup(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir());
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
}

static void test_zz_cleanup(void) { cleanup(); }

TEST_MAIN("data", T(test_shipped_experiment5), T(test_stacked_file_deduplicated), T(test_all_experiments),
          T(test_file_names), T(test_long_oxford_cell_ids), T(test_original_tree), T(test_bad_oxford_inputs), T(test_good_small_file),
          T(test_table_loader), T(test_table_bad_inputs), T(test_table_hostile_cell_ids),
          T(test_table_cell_meta_every_row), T(test_synth_unknown_experiment), T(test_oxford_duplicate_cell),
          T(test_zz_cleanup))
