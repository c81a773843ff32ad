/* Battery Archive time series CSV (src/data/cycler_batteryarchive.c): the made-up pair of
 * tests/data/cyclers/batteryarchive/ (made_up_timeseries.csv and its per-cycle table made_up_cycle_data.csv, written
 * in the archive's layout: counters at 0 on the rows that do not flow their way in cycle 1, held in cycle 2, a dip
 * of 0.0003 Ah inside cycle 2's discharge, an empty cell temperature), near matches and bad rows; and, when
 * $BML_BATTERYARCHIVE names a real <cell>_timeseries.csv (or _timeseries_data.csv) downloaded from
 * batteryarchive.org, that file against the archive's own per-cycle table beside it (<cell>_cycle_data.csv):
 * per cycle, each capacity and energy equal (the archive's table takes each counter's largest value within the
 * cycle, both files round to 3 decimals), skipped with a message otherwise. */
#define _GNU_SOURCE
#include <time.h>

#include "cycler_test.h"
#include "data/cycler_text.h"

#define BA_DIR TEST_DATA "/cyclers/batteryarchive"
#define HDR "Date_Time,Test_Time (s),Cycle_Index,Current (A),Voltage (V),Charge_Capacity (Ah),Discharge_Capacity (Ah)," \
            "Charge_Energy (Wh),Discharge_Energy (Wh),Environment_Temperature (C),Cell_Temperature (C)\n"

static char *tmp_with(const char *text) { return cycler_tmp_text("/tmp/bml_ba_XXXXXX_timeseries.csv", text); }

/* the archive's per-cycle table at `path`: each row's Cycle_Index and the four counters (NaN when empty) */
typedef struct {
    long cycle;
    double v[4]; /* charge Ah, discharge Ah, charge Wh, discharge Wh */
} table_row;

static size_t read_table(const char *path, table_row **out) {
    static const char *const want[5] = {"Cycle_Index", "Charge_Capacity (Ah)", "Discharge_Capacity (Ah)",
                                        "Charge_Energy (Wh)", "Discharge_Energy (Wh)"};
    double *v;
    size_t n = cycler_table_numbers(path, want, 5, &v);
    if (!(*out = calloc(n + 1, sizeof **out))) abort();
    for (size_t i = 0; i < n; i++) {
        (*out)[i].cycle = isnan(v[5 * i]) ? -1 : (long)v[5 * i];
        for (int k = 0; k < 4; k++) (*out)[i].v[k] = v[5 * i + 1 + (size_t)k];
    }
    free(v);
    return n;
}

/* every cycle of the table against the summary of the time series: the same cycles, each counter within tol (the
 * archive writes 0 where the summary has none: a half whose current never flows); returns the cycles compared */
static size_t compare_with_table(const char *series, const char *table, double tol) {
    table_row *rows = NULL;
    size_t n = read_table(table, &rows);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(series, BML_CYCLER_AUTO, NULL, &y));
    size_t compared = 0, differ = 0;
    if (y) {
        CHECK_INT(y->meta.format, cycler_format("batteryarchive"));
        CHECK_INT(y->n_cycles, n);
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            while (j < y->n_cycles && y->cycles[j].cycle < rows[i].cycle) j++;
            if (j == y->n_cycles || y->cycles[j].cycle != rows[i].cycle) {
                fprintf(stderr, "  %s: cycle %ld of the table is not in the time series\n", table, rows[i].cycle);
                t_fail_count++;
                continue;
            }
            const bml_cycler_cycle *c = &y->cycles[j];
            const double ours[4] = {c->charge_ah, c->discharge_ah, c->charge_wh, c->discharge_wh};
            for (int k = 0; k < 4; k++) {
                double a = isnan(ours[k]) ? 0 : ours[k], b = isnan(rows[i].v[k]) ? 0 : rows[i].v[k];
                if (!(fabs(a - b) <= tol)) {
                    if (differ++ < 10)
                        fprintf(stderr, "  %s: cycle %ld, counter %d: %.9g in the time series' summary, %.9g in the table\n",
                                table, rows[i].cycle, k, a, b);
                    t_fail_count++;
                }
            }
            compared++;
        }
        if (differ) fprintf(stderr, "  %s: %zu value(s) differ\n", table, differ);
    }
    bml_cycler_summary_free(y);
    free(rows);
    return compared;
}

/* the made-up pair: detection, the rows, the counters read by the archive's definition, the per-cycle table */
static void test_made_up(void) {
    const char *p = BA_DIR "/made_up_timeseries.csv";
    cycler_pts s;
    bml_cycler_meta meta;
    cycler_read_detected(p, "batteryarchive", &s, &meta);
    CHECK_INT(s.n, 15);
    CHECK_INT(meta.n_points, 15);
    CHECK_INT(meta.has_cycle_index, 1);
    CHECK_INT(meta.n_counter_drops, 1); /* cycle 2's dip; not cycle 1's zeros on the rows that do not flow their way */
    CHECK_NEAR(meta.counter_drop_max, 0.0003, 1e-12);
    CHECK_STR(meta.start_time, "2020-06-01 12:00:00.000000");
    if (s.n == 15) {
        CHECK_NEAR(s.p[0].unix_time, 1591012800.0, 1e-6); /* 2020-06-01 12:00:00 */
        CHECK_NEAR(s.p[1].unix_time, 1591013700.0, 1e-6);   /* written without its fraction */
        CHECK_NEAR(s.p[2].charge_ah, 0.5, 1e-12);
        CHECK_NEAR(s.p[2].charge_wh, 1.7, 1e-12);
        CHECK_NEAR(s.p[3].charge_ah, 0.5, 1e-12); /* the archive's 0 on a rest row: held */
        CHECK_NEAR(s.p[5].current_a, -1.0, 0);
        CHECK_NEAR(s.p[5].voltage_v, 3.0, 0);
        CHECK_NEAR(s.p[5].discharge_ah, 0.5, 1e-12);
        CHECK_NEAR(s.p[5].charge_ah, 0.5, 1e-12);
        CHECK_NEAR(s.p[5].discharge_wh, 1.6, 1e-12);
        CHECK_NEAR(s.p[5].temperature_c, 27.0, 0); /* the cell's, not the chamber's 25 */
        CHECK_INT(s.p[6].cycle, 2);
        CHECK_NEAR(s.p[6].charge_ah, 0, 0); /* restarted with the cycle */
        CHECK_NEAR(s.p[11].discharge_ah, 0.25, 1e-12); /* the dip held */
        CHECK_NEAR(s.p[12].discharge_ah, 0.5, 1e-12);
        CHECK(isnan(s.p[13].temperature_c));
        CHECK_INT(s.p[13].step, 1);
        CHECK_INT(s.p[14].line, 16);
        CHECK(isnan(s.p[14].resistance_ohm));
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    /* the summary: each cycle as the archive's own table has it; the capacities agree with the current's integral */
    CHECK_INT(compare_with_table(p, BA_DIR "/made_up_cycle_data.csv", 1e-12), 3);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 3) {
        CHECK_INT(y->n_capacity_differs, 0);
        CHECK_NEAR(y->cycles[1].discharge_ah_integral, 0.5, 1e-12);
        CHECK_INT(y->cycles[1].complete, 1);
        CHECK_INT(y->cycles[2].complete, 0);
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
    /* a folder of the pair: the per-cycle table is a companion, not data */
    char **files = NULL;
    size_t n = 0, comp = 0;
    CHECK_OK(bml_cycler_list(BA_DIR, BML_CYCLER_AUTO, &files, &n, &comp));
    CHECK_INT(n, 1);
    CHECK_INT(comp, 1);
    if (n == 1) CHECK(strstr(files[0], "made_up_timeseries.csv") != NULL);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* near matches named; bad rows fail with file, line and column */
static void test_near_and_bad(void) {
    bml_cycler_format f;
    /* the per-cycle table given as data */
    CHECK_ERR(bml_cycler_detect(BA_DIR "/made_up_cycle_data.csv", &f), BML_ERR_SCHEMA, "per-cycle table");
    char *p = tmp_with("Date_Time,Test_Time (s),Cycle_Index,Voltage (V)\n2020-01-01 00:00:00,0,1,3.5\n");
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, "nearly batteryarchive, but a Battery Archive header (Test_Time (s), "
                                                        "Cycle_Index) without a Current (A) column");
    unlink(p), free(p);
    cycler_pts s = {0, 0, NULL};
    static const struct {
        const char *rows, *needle;
        bml_status st;
    } bad[] = {
        {"2020-06-01 12:00:00,0,1,0,3.3,0,0,0,0,25,25\n2020-06-01 12:00:01,1,1,1,3.4,0.1,0", ":3: truncated: the last row has 7 of",
         BML_ERR_PARSE},
        {"2020-06-01 12:00:00,0,1,0,3.3,0,0,0,0,25,25\n2020-06-01 12:00:01,1,1,,3.4,0,0,0,0,25,25\n",
         ":3:4: column 'Current (A)': '' is empty", BML_ERR_PARSE},
        {"2020-06-01 12:00:00,0,1,0,3.3,0,0,0,0,25,25\n2020-06-01 12:00:01,1,1.5,1,3.4,0,0,0,0,25,25\n",
         ":3:3: column 'Cycle_Index': '1.5' is not an integer index", BML_ERR_PARSE},
        {"2020-06-01 12:00:00,5,1,0,3.3,0,0,0,0,25,25\n2020-06-01 12:00:01,4,1,1,3.4,0,0,0,0,25,25\n",
         ":3:2: time goes backwards", BML_ERR_VALUE},
        {"2020-06-01 12:00:00,0,1,0,3.3,0,0,0,0,25,25\n2020-06-01 12:00:01,1,1,1,3.4,0,0,0,0,25,25,7\n",
         ":3: 12 fields where the header (line 1) has 11", BML_ERR_PARSE},
        {"2020-06-01 12:00:00,0,1,0,3.3,0,0,0,0,25,25\n2020-06-01 12:00:01,1,1,1,x3.4,0,0,0,0,25,25\n",
         ":3:5: column 'Voltage (V)': 'x3.4' is not a number", BML_ERR_PARSE},
        {"", "a Battery Archive header and no data rows", BML_ERR_EMPTY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = NULL;
        if (asprintf(&text, "%s%s", HDR, bad[i].rows) < 0) abort();
        p = tmp_with(text);
        CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), bad[i].st, bad[i].needle);
        unlink(p), free(p), free(text);
    }
    /* a Date_Time that does not parse leaves the wall clock NaN; a forced format without Current (A) fails */
    p = tmp_with(HDR "01/06/2020 12:00,0,1,0,3.3,0,0,0,0,25,25\n");
    s.n = 0;
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    CHECK(s.n == 1 && isnan(s.p[0].unix_time));
    unlink(p), free(p);
    p = tmp_with("Test_Time (s),Voltage (V)\n0,3.3\n");
    CHECK_ERR(bml_cycler_read(p, cycler_format("batteryarchive"), cycler_keep, &s, NULL), BML_ERR_SCHEMA, ":1: Battery Archive header without a Current (A) column");
    unlink(p), free(p);
    free(s.p);
}

/* a real export when $BML_BATTERYARCHIVE names one: against the archive's own per-cycle table beside it */
static void test_real_file(void) {
    const char *path = getenv("BML_BATTERYARCHIVE");
    if (!path || !*path) {
        printf("  skipped: set BML_BATTERYARCHIVE to a <cell>_timeseries.csv from batteryarchive.org, its "
               "<cell>_cycle_data.csv beside it\n");
        return;
    }
    char *table = NULL;
    const char *suffixes[] = {"_timeseries_data.csv", "_timeseries.csv"};
    size_t n = strlen(path);
    for (int k = 0; k < 2 && !table; k++) {
        size_t m = strlen(suffixes[k]);
        if (n > m && !strcmp(path + n - m, suffixes[k]) && asprintf(&table, "%.*s_cycle_data.csv", (int)(n - m), path) < 0)
            abort();
    }
    if (!table) {
        fprintf(stderr, "  BML_BATTERYARCHIVE=%s: not a <cell>_timeseries.csv\n", path);
        t_fail_count++;
        return;
    }
    size_t k = compare_with_table(path, table, 1e-9);
    printf("  %s: %zu cycles compared with %s\n", path, k, table);
    CHECK(k > 0);
    free(table);
}

/* the text readers' number and date fields (src/data/cycler_text.c, read in place on their common forms) against
 * strtod and timegm: random numbers in both decimal styles, canonical dates with and without fractions, and forms
 * that must fail */
static void test_text_fields(void) {
    unsigned long long r = 88172645463325252ULL;
    size_t bad = 0;
    for (int i = 0; i < 200000; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        double x = (double)(long long)(r >> 11) / (double)(1ULL << (r % 60)) * (r & 1 ? -1 : 1);
        char buf[64], *comma;
        snprintf(buf, sizeof buf, i % 3 ? "%.*g" : " %.*g ", (int)(1 + r % 17), x);
        double want = strtod(buf, NULL), got = NAN;
        if (bml__tl_num(buf, &got) != 0 || got != want) bad++, fprintf(stderr, "  number '%s': %.17g, not %.17g\n", buf, got, want);
        if ((comma = strchr(buf, '.'))) { /* the decimal comma: the same number */
            *comma = ',';
            if (bml__tl_num(buf, &got) != 0 || got != want) bad++;
        }
        struct tm tm = {0};
        tm.tm_year = (int)(r % 8000), tm.tm_mon = (int)((r >> 8) % 12), tm.tm_mday = 1 + (int)((r >> 12) % 28);
        tm.tm_hour = (int)((r >> 20) % 24), tm.tm_min = (int)((r >> 28) % 60);
        int sec = (int)((r >> 36) % 60), frac = (int)((r >> 44) % 1000000);
        double base = (double)timegm(&tm);
        if (i % 2) snprintf(buf, sizeof buf, "%04d-%02d-%02d%c%02d:%02d:%02d.%06d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                            i % 4 == 1 ? 'T' : ' ', tm.tm_hour, tm.tm_min, sec, frac);
        else snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, sec);
        char sbuf[16];
        snprintf(sbuf, sizeof sbuf, i % 2 ? "%02d.%06d" : "%02d", sec, frac);
        want = base + strtod(sbuf, NULL);
        if (bml__tl_ymd(buf, &got) != 0 || got != want) bad++, fprintf(stderr, "  date '%s': %.17g, not %.17g\n", buf, got, want);
    }
    CHECK_INT(bad, 0);
    static const char *const not_numbers[] = {"", " ", "1,2,3", "1.5,2", "abc", "1e999", "nan", "0x", "1 2"};
    double v;
    for (size_t i = 0; i < sizeof not_numbers / sizeof *not_numbers; i++) CHECK(bml__tl_num(not_numbers[i], &v) != 0);
    static const char *const not_dates[] = {"2020-13-01 00:00:00", "2020-00-10 00:00:00", "2020-01-32 00:00:00",
                                            "2020-01-01 24:00:00", "2020-01-01 00:60:00", "2020-01-01 00:00:61",
                                            "1899-12-31 23:59:59", "2020-01-01X00:00:00", "2020-01-01 00:00:00 x",
                                            "2020-01-01 00:00:00.5.5", "2020/01/01 00:00:00"};
    for (size_t i = 0; i < sizeof not_dates / sizeof *not_dates; i++)
        if (bml__tl_ymd(not_dates[i], &v) == 0) fprintf(stderr, "  '%s' read as a date\n", not_dates[i]), t_fail_count++;
    CHECK(bml__tl_ymd(" 2020-01-02 03:04:05.5 ", &v) == 0 && v == 1577934245.5);
}

int main(void) {
    static const test_case tests[] = {{"made_up", test_made_up},
                                      {"near_and_bad", test_near_and_bad},
                                      {"real_file", test_real_file},
                                      {"text_fields", test_text_fields}};
    return run_tests("batteryarchive", tests, sizeof tests / sizeof *tests);
}
