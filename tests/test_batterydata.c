/* Battery Data Hub time series CSV (src/data/cycler_batterydata.c): the made-up pair of tests/data/cyclers/batterydata/
 * (made_up-raw.csv, with pandas' leading index column, and its per-cycle table made_up-summary.csv, written as the
 * provider's processing writes it: a cycle's capacity and energy the largest value of its counter, NaN unless more
 * than one row flows that way). In the raw file: a CC charge and its CV (the counter running on), a cycle that
 * charges twice (the counter restarting in between: the table has the larger, and capacity_check flags it), a dip of
 * 0.0003 Ah inside a discharge step, EIS rows (NaN counters and temperature), a last cycle with one discharge row.
 * Then near matches and bad rows; and, when $BML_BATTERYDATA names a real <cell>-raw.csv from batterydata.energy.gov,
 * that file against the provider's <cell>-summary.csv beside it (per cycle, each capacity and energy), skipped with a
 * message otherwise. */
#define _GNU_SOURCE
#include "cycler_test.h"
#include "data/cycler_text.h"

#define BD_DIR TEST_DATA "/cyclers/batterydata"
#define HDR "Cycle_Index,Step,Time_s,Amphr,Watthr,Current_A,Voltage_V,Cell_Temperature_C,Temp2,Datenum_d,Power_W," \
            "Charge_Capacity_Ah,Discharge_Capacity_Ah,Charge_Energy_Wh,Discharge_Energy_Wh,Cycle_Label,Segment_Label\n"
/* a good first row of HDR */
#define ROW1 "1,1,0,0,0,0,3.3,25,25,737943.5,0,0,0,0,0,,\n"

static char *tmp_with(const char *text) { return cycler_tmp_text("/tmp/bml_bd_XXXXXX-raw.csv", text); }

/* the provider's per-cycle table at `path`: each row's Cycle_Index, tsecs_end and the four counters (NaN for NaN) */
typedef struct {
    long cycle;
    double end_s;
    double v[4]; /* Q_chg, Q_dis, E_chg, E_dis */
} table_row;

static size_t read_table(const char *path, table_row **out) {
    static const char *const want[6] = {"Cycle_Index", "tsecs_end", "Q_chg", "Q_dis", "E_chg", "E_dis"};
    double *v;
    size_t n = cycler_table_numbers(path, want, 6, &v); /* "NaN" reads as NaN */
    if (!(*out = calloc(n + 1, sizeof **out))) abort();
    for (size_t i = 0; i < n; i++) {
        (*out)[i].cycle = isnan(v[6 * i]) ? -1 : (long)v[6 * i];
        (*out)[i].end_s = v[6 * i + 1];
        for (int k = 0; k < 4; k++) (*out)[i].v[k] = v[6 * i + 2 + (size_t)k];
    }
    free(v);
    return n;
}

/* rows per cycle whose current flows each way (the provider leaves a half NaN unless more than one row flows) */
typedef struct {
    size_t n, cap;
    long *cycle;
    size_t (*flow)[2];
} flows;

static bml_status count_flow(const bml_cycler_point *p, void *user) {
    flows *f = user;
    if (!f->n || f->cycle[f->n - 1] != p->cycle) {
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 64;
            f->cycle = realloc(f->cycle, f->cap * sizeof *f->cycle);
            f->flow = realloc(f->flow, f->cap * sizeof *f->flow);
            if (!f->cycle || !f->flow) abort();
        }
        f->cycle[f->n] = p->cycle;
        f->flow[f->n][0] = f->flow[f->n][1] = 0;
        f->n++;
    }
    f->flow[f->n - 1][0] += p->current_a > 0;
    f->flow[f->n - 1][1] += p->current_a < 0;
    return BML_OK;
}

/* every cycle of the raw file's summary against the table: each counter within tol + tol * |table's| (a half the
 * table leaves NaN: ours NaN too, or its current flows on one row only). The file's last cycle is compared when the
 * table ends it where the file ends (else the file was cut inside it). Returns the cycles compared; the largest
 * difference into *max_diff. */
static size_t compare_with_table(const char *raw, const char *table, double tol, double *max_diff) {
    table_row *rows = NULL;
    size_t n = read_table(table, &rows);
    bml_cycler_summary *y = NULL;
    flows fl = {0, 0, NULL, NULL};
    CHECK_OK(bml_cycler_read(raw, BML_CYCLER_AUTO, count_flow, &fl, NULL));
    CHECK_OK(bml_cycler_summarize(raw, BML_CYCLER_AUTO, NULL, &y));
    size_t compared = 0, differ = 0;
    *max_diff = 0;
    if (y) {
        CHECK_INT(y->meta.format, cycler_format("batterydata"));
        CHECK_INT(fl.n, y->n_cycles);
        size_t i = 0;
        for (size_t j = 0; j < y->n_cycles; j++) {
            const bml_cycler_cycle *c = &y->cycles[j];
            while (i < n && rows[i].cycle < c->cycle) i++;
            if (i == n || rows[i].cycle != c->cycle) {
                fprintf(stderr, "  %s: cycle %ld of the raw file is not in the table\n", table, c->cycle);
                t_fail_count++;
                continue;
            }
            if (!c->complete && !(rows[i].end_s == c->start_time_s + c->duration_s)) continue; /* cut inside it */
            const double ours[4] = {c->charge_ah, c->discharge_ah, c->charge_wh, c->discharge_wh};
            for (int k = 0; k < 4; k++) {
                double a = ours[k], b = rows[i].v[k];
                size_t rows_flowing = j < fl.n ? fl.flow[j][k % 2] : 0;
                int same = isnan(b) ? isnan(a) || rows_flowing == 1 : fabs(a - b) <= tol + tol * fabs(b);
                if (!isnan(a) && !isnan(b) && fabs(a - b) > *max_diff) *max_diff = fabs(a - b);
                if (!same) {
                    if (differ++ < 10)
                        fprintf(stderr, "  %s: cycle %ld, counter %d: %.9g in the raw file's summary, %.9g in the table\n",
                                table, c->cycle, k, a, b);
                    t_fail_count++;
                }
            }
            compared++;
        }
        if (differ) fprintf(stderr, "  %s: %zu value(s) differ\n", table, differ);
    }
    bml_cycler_summary_free(y);
    free(rows);
    free(fl.cycle);
    free(fl.flow);
    return compared;
}

/* the made-up pair: detection, the rows, the counters read by the provider's definition, the per-cycle table */
static void test_made_up(void) {
    const char *p = BD_DIR "/made_up-raw.csv";
    cycler_pts s;
    bml_cycler_meta meta;
    cycler_read_detected(p, "batterydata", &s, &meta);
    CHECK_INT(s.n, 21);
    CHECK_INT(meta.n_points, 21);
    CHECK_INT(meta.has_cycle_index, 1);
    /* the 0.0003 Ah dip of cycle 2's discharge (and its 0.00102 Wh): not the restarts at steps or the 0 on rows
     * that do not flow the counter's way */
    CHECK_INT(meta.n_counter_drops, 2);
    CHECK_NEAR(meta.counter_drop_max, 0.00102, 1e-12);
    CHECK_STR(meta.start_time, "2020-06-01 12:00:00"); /* datenum 737943.5 */
    if (s.n == 21) {
        CHECK_NEAR(s.p[0].unix_time, 1591012800.0, 0);
        CHECK_NEAR(s.p[1].unix_time, 1591013700.0, 1e-3); /* datenum to 9 decimals: 86 us */
        CHECK_INT(s.p[0].cycle, 1);
        CHECK_INT(s.p[0].step, 1);
        CHECK_NEAR(s.p[0].voltage_v, 3.3, 0); /* not the index column's 0 */
        CHECK_NEAR(s.p[3].charge_ah, 0.55, 1e-12); /* the CV step runs the CC step's counter on */
        CHECK_NEAR(s.p[3].charge_wh, 1.98, 1e-12);
        CHECK_NEAR(s.p[4].charge_ah, 0.55, 1e-12); /* the rest's 0: held */
        CHECK_NEAR(s.p[6].current_a, -1.0, 0);
        CHECK_NEAR(s.p[6].discharge_ah, 0.5, 1e-12);
        CHECK_NEAR(s.p[6].discharge_wh, 1.7, 1e-12);
        CHECK_NEAR(s.p[6].temperature_c, 27.0, 0); /* the cell's, not Temp2 */
        CHECK_INT(s.p[7].cycle, 2);
        CHECK_NEAR(s.p[7].charge_ah, 0, 0); /* restarted with the cycle */
        CHECK_NEAR(s.p[10].charge_ah, 0.25, 1e-12); /* the second charge: the first one's 0.25 held */
        CHECK_NEAR(s.p[11].charge_ah, 0.5, 1e-12);
        CHECK_NEAR(s.p[13].discharge_ah, 0.25, 1e-12); /* the dip held */
        CHECK_NEAR(s.p[14].discharge_ah, 0.5, 1e-12);
        CHECK_INT(s.p[15].step, 11);
        CHECK(isnan(s.p[15].temperature_c)); /* EIS rows */
        CHECK_NEAR(s.p[15].charge_ah, 0, 0);
        CHECK_INT(s.p[20].line, 22);
        CHECK(isnan(s.p[20].resistance_ohm));
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    /* the summary: each cycle as the provider's table has it */
    double d = -1;
    CHECK_INT(compare_with_table(p, BD_DIR "/made_up-summary.csv", 1e-12, &d), 4);
    CHECK(d <= 1e-12);
    /* the cycle that charged twice has the larger charge, as the provider's table: capacity_check says it */
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 4) {
        CHECK_INT(y->n_capacity_differs, 1);
        CHECK_INT(y->cycles[1].capacity_check, BML_CYCLER_CHECK_CHARGE);
        CHECK_NEAR(y->cycles[1].charge_ah, 0.5, 1e-12);
        CHECK_NEAR(y->cycles[1].charge_ah_integral, 0.75, 1e-12);
        CHECK(y->capacity_warning && strstr(y->capacity_warning, "cycle 2 (line 9) charge 0.5 Ah vs 0.75 Ah"));
        CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_OK);
        CHECK_INT(y->cycles[3].capacity_check, BML_CYCLER_CHECK_OK);
        CHECK_NEAR(y->cycles[3].discharge_ah, 0.01666667, 1e-12); /* one row: the table's NaN, ours its counter */
        CHECK_INT(y->cycles[2].complete, 1);
        CHECK_INT(y->cycles[3].complete, 0);
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
    /* a folder of the pair: the per-cycle table is a companion, not data */
    char **files = NULL;
    size_t n = 0, comp = 0;
    CHECK_OK(bml_cycler_list(BD_DIR, BML_CYCLER_AUTO, &files, &n, &comp));
    CHECK_INT(n, 1);
    CHECK_INT(comp, 1);
    if (n == 1) CHECK(strstr(files[0], "made_up-raw.csv") != NULL);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* near matches named; bad rows fail with file, line and column; quoted fields; no index column */
static void test_near_and_bad(void) {
    bml_cycler_format f;
    /* the per-cycle table given as data */
    CHECK_ERR(bml_cycler_detect(BD_DIR "/made_up-summary.csv", &f), BML_ERR_SCHEMA,
              "nearly batterydata, but the header of the Battery Data Hub's per-cycle summary");
    char *p = tmp_with("Cycle_Index,Step,Time_s,Voltage_V\n1,1,0,3.5\n");
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, "nearly batterydata, but a Battery Data Hub header (Time_s, "
                                                        "Cycle_Index) without a Current_A column");
    unlink(p), free(p);
    cycler_pts s = {0, 0, NULL};
    static const struct {
        const char *rows, *needle;
        bml_status st;
    } bad[] = {
        {ROW1 "1,2,1,0.1,0.3,1,3.4,25,25,737943.5,3.4,0.1", ":3: truncated: the last row has 12 of", BML_ERR_PARSE},
        {ROW1 "1,2,1,0,0,NaN,3.4,25,25,737943.5,0,0,0,0,0,,\n",
         ":3:6: column 'Current_A': 'NaN' is missing: every row needs", BML_ERR_PARSE},
        {ROW1 "1,2,1,0,0,1,,25,25,737943.5,0,0,0,0,0,,\n", ":3:7: column 'Voltage_V': '' is missing", BML_ERR_PARSE},
        {ROW1 "1.5,2,1,0,0,1,3.4,25,25,737943.5,0,0,0,0,0,,\n", ":3:1: column 'Cycle_Index': '1.5' is not an integer index",
         BML_ERR_PARSE},
        {ROW1 "1,NaN,1,0,0,1,3.4,25,25,737943.5,0,0,0,0,0,,\n", ":3:2: column 'Step': 'NaN' is missing", BML_ERR_PARSE},
        {"1,1,5,0,0,0,3.3,25,25,737943.5,0,0,0,0,0,,\n1,1,4,0,0,0,3.3,25,25,737943.5,0,0,0,0,0,,\n",
         ":3:3: time goes backwards", BML_ERR_VALUE},
        {ROW1 "1,2,1,0,0,1,3.4,25,25,737943.5,0,0,0,0,0,,,7\n", ":3: 18 fields where the header (line 1) has 17",
         BML_ERR_PARSE},
        {ROW1 "1,2,1,0,0,1,x3.4,25,25,737943.5,0,0,0,0,0,,\n", ":3:7: column 'Voltage_V': 'x3.4' is not a number",
         BML_ERR_PARSE},
        {ROW1 "1,2,1,0,0,1,3.4,25,25,737943.5,0,-0.1,0,0,0,,\n",
         ":3:12: column 'Charge_Capacity_Ah': '-0.1' is negative", BML_ERR_PARSE},
        {ROW1 "1,2,1,0,0,1,3.4,25,25,737943.5,0,0,0,0,0,\"Aging, 25C,\n", ":3:16: a quoted field not closed on its line",
         BML_ERR_PARSE},
        {ROW1 "1,2,1,0,0,1,3.4,25,25,737943.5,0,0,0,0,0,\"Aging\"x,\n", ":3:16: a quoted field not closed on its line, or "
         "text after its closing quote", BML_ERR_PARSE},
        {"", "a Battery Data Hub header and no data rows", BML_ERR_EMPTY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = NULL;
        if (asprintf(&text, "%s%s", HDR, bad[i].rows) < 0) abort();
        p = tmp_with(text);
        CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), bad[i].st, bad[i].needle);
        unlink(p), free(p), free(text);
    }
    /* a quoted label with a comma and a quote in it; no index column; NaN where a value may be missing; a datenum
     * that is no date leaves the wall clock NaN */
    p = tmp_with(HDR ROW1 "2,3,60,0.1,0.3,1,3.4,NaN,,1.5,3.4,0.1,0,0.3,0,\"Aging, \"\"25C\"\"\",Charge\n");
    s.n = 0;
    bml_cycler_meta meta;
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(s.n, 2);
    if (s.n == 2) {
        CHECK_INT(s.p[1].cycle, 2);
        CHECK_INT(s.p[1].step, 3);
        CHECK_NEAR(s.p[1].charge_ah, 0.1, 1e-12);
        CHECK(isnan(s.p[1].temperature_c));
        CHECK(isnan(s.p[1].unix_time));
        CHECK_NEAR(s.p[0].unix_time, 1591012800.0, 0);
    }
    CHECK_STR(meta.start_time, "2020-06-01 12:00:00");
    bml_cycler_meta_free(&meta);
    unlink(p), free(p);
    /* a forced format without Current_A fails naming it */
    p = tmp_with("Time_s,Voltage_V\n0,3.3\n");
    CHECK_ERR(bml_cycler_read(p, cycler_format("batterydata"), cycler_keep, &s, NULL), BML_ERR_SCHEMA,
              ":1: Battery Data Hub header without a Current_A column");
    unlink(p), free(p);
    free(s.p);
}

/* a real export when $BML_BATTERYDATA names one: against the provider's per-cycle table beside it */
static void test_real_file(void) {
    const char *path = getenv("BML_BATTERYDATA");
    if (!path || !*path) {
        printf("  skipped: set BML_BATTERYDATA to a <cell>-raw.csv from batterydata.energy.gov, its <cell>-summary.csv "
               "beside it\n");
        return;
    }
    size_t n = strlen(path), m = strlen("-raw.csv");
    char *table = NULL;
    if (n > m && (path[n - m] == '-' || path[n - m] == ' ') && !strcmp(path + n - m + 1, "raw.csv") &&
        asprintf(&table, "%.*s%csummary.csv", (int)(n - m), path, path[n - m]) < 0)
        abort();
    if (!table) {
        fprintf(stderr, "  BML_BATTERYDATA=%s: not a <cell>-raw.csv\n", path);
        t_fail_count++;
        return;
    }
    double d = 0;
    size_t k = compare_with_table(path, table, 1e-6, &d);
    printf("  %s: %zu cycles compared with %s, the largest difference %.3g\n", path, k, table, d);
    CHECK(k > 0);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (y)
        printf("  %zu cycle(s) whose capacity differs from the current's integral%s%s\n", y->n_capacity_differs,
               y->capacity_warning ? ": " : "", y->capacity_warning ? y->capacity_warning : "");
    bml_cycler_summary_free(y);
    free(table);
}

int main(void) {
    static const test_case tests[] = {
        {"made_up", test_made_up}, {"near_and_bad", test_near_and_bad}, {"real_file", test_real_file}};
    return run_tests("batterydata", tests, sizeof tests / sizeof *tests);
}
