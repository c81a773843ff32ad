/* Battery Data Format time series CSV (src/data/cycler_bdf.c): the made-up files of tests/data/cyclers/bdf/ in the
 * two label styles (made_up_labels.bdf.csv: preferred labels, Cycle Count, Step Count, test-wide counters with a
 * 0.0003 Ah dip inside a discharge, the surface temperature beside the ambient one, an empty and a NaN
 * temperature, a 0 resistance; made_up_machine.bdf: machine-readable names, a byte-order mark and CRLF, no cycle
 * column, Step ID, no counters), each per-cycle summary against values computed by hand; the step columns'
 * readings, cycle- and step-scope counters, counters reset at every step as the format's own reference files
 * write them; near matches and bad rows named by file, line and column; and, when $BML_BDF names a real BDF CSV
 * (e.g. a file of the format's docs/examples/reference), that file read and summarised with every cycle's
 * capacity agreeing with the current's integral (skipped with a message otherwise). */
#define _GNU_SOURCE
#include "cycler_test.h"

#define BDF_DIR TEST_DATA "/cyclers/bdf"

static char *tmp_with(const char *text) { return cycler_tmp_text("/tmp/bml_bdf_XXXXXX.csv", text); }

/* a cycle as computed by hand: its index and its four counters (NaN: none) */
typedef struct {
    long cycle;
    double v[4]; /* charge Ah, discharge Ah, charge Wh, discharge Wh */
} hand_cycle;

static int same(double a, double b, double tol) { return isnan(a) ? isnan(b) : fabs(a - b) <= tol; }

/* the summary of path against the cycles computed by hand; returns the summary (the caller frees it) */
static bml_cycler_summary *expect_cycles(const char *path, const hand_cycle *want, size_t n, double tol) {
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (!y) return NULL;
    CHECK_INT(y->meta.format, cycler_format("bdf"));
    CHECK_INT(y->n_cycles, n);
    for (size_t i = 0; i < n && i < y->n_cycles; i++) {
        const bml_cycler_cycle *c = &y->cycles[i];
        const double got[4] = {c->charge_ah, c->discharge_ah, c->charge_wh, c->discharge_wh};
        CHECK_INT(c->cycle, want[i].cycle);
        for (int k = 0; k < 4; k++)
            if (!same(got[k], want[i].v[k], tol)) {
                fprintf(stderr, "  %s: cycle %ld, counter %d: %.17g, by hand %.17g\n", path, c->cycle, k, got[k],
                        want[i].v[k]);
                t_fail_count++;
            }
        CHECK_INT(c->complete, i + 1 < n);
    }
    return y;
}

/* preferred labels: the file's cycles and steps, test-wide counters read as their rise within each cycle */
static void test_labels(void) {
    const char *p = BDF_DIR "/made_up_labels.bdf.csv";
    cycler_pts s;
    bml_cycler_meta meta;
    cycler_read_detected(p, "bdf", &s, &meta);
    CHECK_INT(s.n, 12);
    CHECK_INT(meta.n_points, 12);
    CHECK_INT(meta.has_cycle_index, 1);
    CHECK_STR(meta.cell, "made_up_labels"); /* less .bdf.csv */
    CHECK_INT(meta.n_counter_drops, 1);     /* the dip of line 10 */
    CHECK_NEAR(meta.counter_drop_max, 0.0003, 1e-12);
    CHECK_STR(meta.start_time, "2024-06-01 12:00:00 UTC");
    if (s.n == 12) {
        CHECK_NEAR(s.p[0].unix_time, 1717243200.0, 0);
        CHECK_NEAR(s.p[0].temperature_c, 25.0, 0); /* the surface's, not the ambient 20 (an earlier column) */
        CHECK_NEAR(s.p[0].resistance_ohm, 0.05, 0);
        CHECK_INT(s.p[2].step, 2);
        CHECK_NEAR(s.p[2].charge_ah, 0.5, 1e-12);
        CHECK_NEAR(s.p[2].charge_wh, 1.9, 1e-12);
        CHECK_NEAR(s.p[4].current_a, -1.0, 0);
        CHECK_NEAR(s.p[4].voltage_v, 3.5, 0);
        CHECK_NEAR(s.p[4].discharge_ah, 0.5, 1e-12);
        CHECK_INT(s.p[5].cycle, 2);
        CHECK_NEAR(s.p[5].charge_ah, 0.25, 1e-12);    /* 0.75 over the test: 0.25 of it in cycle 2 */
        CHECK_NEAR(s.p[5].discharge_ah, 0, 0);        /* 0.5 over the test, none of it in cycle 2 */
        CHECK_NEAR(s.p[8].discharge_ah, 0.25, 1e-12); /* the dip (0.7497 after 0.75) held */
        CHECK_NEAR(s.p[9].discharge_ah, 0.5, 1e-12);
        CHECK(isnan(s.p[9].temperature_c));   /* empty */
        CHECK(isnan(s.p[9].resistance_ohm));  /* empty */
        CHECK(isnan(s.p[10].temperature_c));  /* NaN */
        CHECK(isnan(s.p[10].resistance_ohm)); /* 0: not measured */
        CHECK_INT(s.p[11].cycle, 3);
        CHECK_INT(s.p[11].step, 7);
        CHECK_INT(s.p[11].line, 13);
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    const hand_cycle want[] = {{1, {0.5, 0.5, 1.9, 1.8}}, {2, {0.5, 0.5, 1.9, 1.9}}, {3, {0.25, NAN, 0.95, NAN}}};
    bml_cycler_summary *y = expect_cycles(p, want, 3, 1e-12);
    if (y && y->n_cycles == 3) {
        CHECK_INT(y->n_capacity_differs, 0);
        CHECK_NEAR(y->cycles[1].discharge_ah_integral, 0.5, 1e-12);
        CHECK_NEAR(y->cycles[0].temperature_mean_c, 25.8, 1e-12);
        CHECK_NEAR(y->cycles[1].temperature_max_c, 27.0, 0);
        CHECK_NEAR(y->cycles[1].resistance_ohm, 0.05, 1e-15);
        CHECK_NEAR(y->cycles[0].start_unix, 1717243200.0, 0);
    }
    bml_cycler_summary_free(y);
}

/* machine-readable names, no cycle column (cycles numbered by the reader), no counters (the current's integral) */
static void test_machine(void) {
    const char *p = BDF_DIR "/made_up_machine.bdf";
    cycler_pts s;
    bml_cycler_meta meta;
    cycler_read_detected(p, "bdf", &s, &meta);
    CHECK_INT(s.n, 10);
    CHECK_STR(meta.cell, "made_up_machine");
    CHECK(meta.start_time == NULL);
    CHECK_INT(meta.n_counter_drops, 0);
    if (s.n == 10) {
        static const long cyc[10] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 3}, step[10] = {1, 2, 2, 2, 3, 4, 4, 5, 5, 6};
        for (int i = 0; i < 10; i++) {
            CHECK_INT(s.p[i].cycle, cyc[i]); /* the flicker of line 5 (+0.5 mA inside discharge step 2) starts none */
            CHECK_INT(s.p[i].step, step[i]);
            CHECK_NEAR(s.p[i].temperature_c, 25.0, 0); /* the ambient: the file's only temperature */
            CHECK(isnan(s.p[i].unix_time));
        }
        CHECK_NEAR(s.p[0].discharge_ah, 0, 0);
        CHECK_NEAR(s.p[1].discharge_ah, 2.0 * 600 / 3600, 1e-15);
        CHECK_NEAR(s.p[1].discharge_wh, 2.0 * 2.9 * 600 / 3600, 1e-15);
        CHECK_NEAR(s.p[5].charge_ah, 1.5 * 600 / 3600, 1e-15); /* restarted with cycle 2 */
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    const hand_cycle want[] = {
        {1, {0.0005 * 300 / 3600, 2 * 2.0 * 600 / 3600, 0.0005 * 2.85 * 300 / 3600, 2.0 * (2.9 + 2.8) * 600 / 3600}},
        {2, {2 * 1.5 * 600 / 3600, 2 * 1.0 * 600 / 3600, 1.5 * (3.5 + 3.6) * 600 / 3600, (3.2 + 3.1) * 600 / 3600}},
        {3, {600.0 / 3600, NAN, 3.6 * 600 / 3600, NAN}}};
    bml_cycler_summary *y = expect_cycles(p, want, 3, 1e-12);
    if (y) CHECK_INT(y->n_capacity_differs, 0);
    bml_cycler_summary_free(y);
    /* the folder: both files, nothing left out */
    char **files = NULL;
    size_t n = 0, comp = 0;
    CHECK_OK(bml_cycler_list(BDF_DIR, BML_CYCLER_AUTO, &files, &n, &comp));
    CHECK_INT(n, 2);
    CHECK_INT(comp, 0);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* the steps of a file whose step column(s) read `values` (rows separated by spaces; 1 A, 1 s apart) against `want` */
static void steps_of(const char *label, const char *values, const long *want, size_t n) {
    char *text = strf("Test Time / s,Voltage / V,Current / A,%s\n", label);
    char *v = strdup(values);
    size_t i = 0;
    for (char *tok = strtok(v, " "); tok; tok = strtok(NULL, " ")) {
        char *row = strf("%s%zu,3.5,1,%s\n", text, i++, tok);
        free(text);
        text = row;
    }
    char *p = tmp_with(text);
    cycler_pts s = {0, 0, NULL};
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    CHECK_INT(s.n, n);
    for (size_t k = 0; k < n && k < s.n; k++)
        if (s.p[k].step != want[k]) {
            fprintf(stderr, "  %s = %s: row %zu is step %ld, want %ld\n", label, values, k + 1, s.p[k].step, want[k]);
            t_fail_count++;
        }
    unlink(p), free(p), free(text), free(v), free(s.p);
}

/* the step columns: a count or an id as written; Step Index a row counter when it reads 1, 2 first, else a step
 * number; Step Record Index a row counter (steps numbered by the reader); the first column of the list wins */
static void test_steps(void) {
    steps_of("Step Count / 1", "3 3 4 5 5", (const long[]){3, 3, 4, 5, 5}, 5);
    steps_of("step_id", "1 1 2 1 1", (const long[]){1, 1, 2, 1, 1}, 5);
    steps_of("Step Index / 1", "1 1 2 2 3 2", (const long[]){1, 1, 2, 2, 3, 2}, 6);
    steps_of("Step Index / 1", "4 5 5", (const long[]){4, 5, 5}, 3);
    steps_of("step_index", "1 2 3 1 2 1", (const long[]){1, 1, 1, 2, 2, 3}, 6);
    steps_of("Step Record Index / 1", "1 1 2 3 1 2", (const long[]){1, 2, 2, 2, 3, 3}, 6);
    steps_of("Step ID,Step Count / 1", "9,1", (const long[]){1}, 1); /* Step Count read, not the Step ID before it */
    steps_of("Power / W", "1 2 1", (const long[]){1, 1, 1}, 3);    /* no step column: step 1 */
}

/* counters of the three scopes, and the reference files' layout: test-wide labels reset at every step */
static void test_counters(void) {
    /* within the cycle (Cycle Count / 1 restarts them) */
    char *p = tmp_with("Test Time / s,Voltage / V,Current / A,Cycle Count / 1,Cycle Charging Capacity / Ah,"
                       "Cycle Discharging Capacity / Ah,Cycle Charging Energy / Wh,Cycle Discharging Energy / Wh\n"
                       "0,3.5,0,0,0,0,0,0\n1800,4.0,1,0,0.5,0,2.0,0\n3600,3.0,-1,0,0.5,0.5,2.0,1.75\n"
                       "5400,4.0,1,1,0.5,0,2.0,0\n7200,3.0,-1,1,0.5,0.4,2.0,1.5\n");
    const hand_cycle cy[] = {{0, {0.5, 0.5, 2.0, 1.75}}, {1, {0.5, 0.4, 2.0, 1.5}}}; /* cycle 1's first row: 0.5 */
    bml_cycler_summary *y = expect_cycles(p, cy, 2, 1e-12);
    if (y && y->n_cycles == 2) CHECK_INT(y->cycles[1].capacity_check, BML_CYCLER_CHECK_DISCHARGE); /* 0.4 vs 0.5 */
    bml_cycler_summary_free(y);
    unlink(p), free(p);
    /* within the step (Step Count / 1 restarts them, step 2 from its first row's 0.5); a cycle's capacity is the sum
     * of its steps */
    p = tmp_with("test_time_second,voltage_volt,current_ampere,cycle_count,step_count,step_charging_capacity_ah,"
                 "step_discharging_capacity_ah\n"
                 "0,3.5,1,1,1,0,0\n1800,4.0,1,1,1,0.5,0\n3600,4.1,1,1,2,0.5,0\n5400,4.2,1,1,2,1.0,0\n"
                 "7200,3.0,-1,1,3,0,0.5\n");
    const hand_cycle st[] = {{1, {1.5, 0.5, (4.0 + 4.1 + 4.2) * 1800 / 3600, 3.0 * 1800 / 3600}}}; /* Wh: integrals */
    y = expect_cycles(p, st, 1, 1e-12);
    if (y) CHECK_INT(y->n_capacity_differs, 0);
    bml_cycler_summary_free(y);
    unlink(p), free(p);
    /* the reference files' layout: Charging/Discharging Capacity reset at every step, the step under step_index (a step
     * number: it does not read 1, 2 first), no cycle column; cycle 1 discharges in two steps with a rest between. The
     * same rows without the step column: the discharge counter's fall at the rest is held as noise, cycle 1 counts
     * one step of its two, and the summary's check names it */
    static const char rows[] = "0,3.0,0,1,0,0\n600,3.0,0,1,0,0\n2400,2.8,-1,2,0,0.5\n3000,2.9,0,3,0,0\n"
                               "4800,2.6,-1,4,0,0.5\n6600,3.5,1,5,0.5,0\n8400,3.9,1,5,1.0,0\n10200,2.8,-1,2,0,0.5\n"
                               "12000,2.6,-1,2,0,1.0\n";
    char *text = strf("test_time_second,voltage_volt,current_ampere,step_index,charging_capacity_ah,"
                      "discharging_capacity_ah\n%s", rows);
    p = tmp_with(text);
    /* no energy counters: |current x voltage| integrated */
    const double wh_dis = (2.8 + 2.6) * 1800 / 3600, wh_ch = (3.5 + 3.9) * 1800 / 3600;
    const hand_cycle ref[] = {{1, {NAN, 1.0, NAN, wh_dis}}, {2, {1.0, 1.0, wh_ch, wh_dis}}};
    bml_cycler_meta meta = {0};
    cycler_pts s = {0, 0, NULL};
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(meta.n_counter_drops, 0);
    bml_cycler_meta_free(&meta);
    free(s.p);
    y = expect_cycles(p, ref, 2, 1e-12);
    if (y) CHECK_INT(y->n_capacity_differs, 0);
    bml_cycler_summary_free(y);
    unlink(p), free(p), free(text);
    text = strf("test_time_second,voltage_volt,current_ampere,power_watt,charging_capacity_ah,"
                "discharging_capacity_ah\n%s", rows);
    p = tmp_with(text);
    s = (cycler_pts){0, 0, NULL};
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(meta.n_counter_drops, 3); /* discharge at line 5, charge at lines 9 and 10 */
    bml_cycler_meta_free(&meta);
    free(s.p);
    const hand_cycle held[] = {{1, {NAN, 0.5, NAN, wh_dis}}, {2, {1.0, 1.0, wh_ch, wh_dis}}};
    y = expect_cycles(p, held, 2, 1e-12);
    if (y) {
        CHECK_INT(y->n_capacity_differs, 1);
        CHECK(y->capacity_warning && strstr(y->capacity_warning, "cycle 1 (line 2) discharge 0.5 Ah vs 1 Ah"));
    }
    bml_cycler_summary_free(y);
    unlink(p), free(p), free(text);
}

/* near matches named; bad rows fail with file, line and column */
static void test_near_and_bad(void) {
    bml_cycler_format f;
    static const struct {
        const char *text, *needle;
    } near[] = {
        {"Test Time / s,Voltage / V\n0,3.5\n",
         "nearly bdf, but a Battery Data Format header without a Current / A (current_ampere) column"},
        {"test_time_second,voltage_volt,cycle_count\n0,3.5,1\n", "without a Current / A (current_ampere) column"},
        {"Test Time / s,Voltage / V,Current / mA\n0,3.5,100\n",
         "nearly bdf, but a Battery Data Format header with the current in another unit (the BDF fixes the units: "
         "Current / A)"},
        {"Test Time / h,Voltage / V,Current / A\n0,3.5,1\n", "with the test time in another unit"},
        {"cycle_count,charging_capacity_ah,Voltage / V\n1,0,3.5\n", "without Test Time / s and Current / A columns"},
    };
    for (size_t i = 0; i < sizeof near / sizeof *near; i++) {
        char *p = tmp_with(near[i].text);
        CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, near[i].needle);
        unlink(p), free(p);
    }
    /* one known label is no near match */
    char *p = tmp_with("voltage_volt,x\n3.5,1\n");
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, "not a cycler export of a known format");
    CHECK(!strstr(bml_last_error(), "nearly bdf"));
    unlink(p), free(p);
    cycler_pts s = {0, 0, NULL};
#define HDR "Test Time / s,Voltage / V,Current / A,Cycle Count / 1,Step ID,Surface Temperature / degC\n"
#define ROW1 "0,3.5,0,1,1,25\n"
    static const struct {
        const char *rows, *needle;
        bml_status st;
    } bad[] = {
        {ROW1 "1,3.6,1,1,1", ":3: truncated: the last row has 5 of the header's 6 fields", BML_ERR_PARSE},
        {ROW1 "1,3.6,,1,1,25\n", ":3:3: column 'Current / A': '' is empty", BML_ERR_PARSE},
        {ROW1 "1,3.6,NaN,1,1,25\n", ":3:3: column 'Current / A': 'NaN' is not a number", BML_ERR_PARSE},
        {ROW1 "1,x3.6,1,1,1,25\n", ":3:2: column 'Voltage / V': 'x3.6' is not a number", BML_ERR_PARSE},
        {ROW1 "1,3.6,1,1.5,1,25\n", ":3:4: column 'Cycle Count / 1': '1.5' is not an integer index", BML_ERR_PARSE},
        {ROW1 "1,3.6,1,-1,1,25\n", ":3:4: column 'Cycle Count / 1': '-1' is negative", BML_ERR_PARSE},
        {ROW1 "1,3.6,1,1,,25\n", ":3:5: column 'Step ID': '' is empty", BML_ERR_PARSE},
        {ROW1 "1,3.6,1,1,1,warm\n", ":3:6: column 'Surface Temperature / degC': 'warm' is not a number", BML_ERR_PARSE},
        {"5,3.5,0,1,1,25\n4,3.6,1,1,1,25\n", ":3:1: time goes backwards", BML_ERR_VALUE},
        {ROW1 "1,3.6,1,1,1,25,7\n", ":3: 7 fields where the header (line 1) has 6", BML_ERR_PARSE},
        {"", "a Battery Data Format header and no data rows", BML_ERR_EMPTY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = strf("%s%s", HDR, bad[i].rows);
        p = tmp_with(text);
        CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), bad[i].st, bad[i].needle);
        CHECK(strstr(bml_last_error(), p) != NULL); /* the file named */
        unlink(p), free(p), free(text);
    }
    /* blank rows skipped and counted; a forced format without a required column fails naming it */
    p = tmp_with(HDR ROW1 ",,,,,\n" "1,3.6,1,1,1,25\n");
    bml_cycler_meta meta = {0};
    s.n = 0;
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(s.n, 2);
    CHECK_INT(meta.n_blank, 1);
    bml_cycler_meta_free(&meta);
    unlink(p), free(p);
    /* a charge integral past the largest number: +inf, its energy at 0 V 0 (not inf * 0 = NaN); the summary says so */
    p = tmp_with("Test Time / s,Voltage / V,Current / A\n0,0,1e300\n1e10,0,1e300\n");
    s.n = 0;
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    CHECK(s.n == 2 && isinf(s.p[1].charge_ah) && s.p[1].charge_wh == 0);
    bml_cycler_summary *y = NULL;
    CHECK_ERR(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &y), BML_ERR_VALUE, "is larger than the largest number");
    bml_cycler_summary_free(y);
    unlink(p), free(p);
    p = tmp_with("Test Time / s,Current / A\n0,1\n");
    CHECK_ERR(bml_cycler_read(p, cycler_format("bdf"), cycler_keep, &s, NULL), BML_ERR_SCHEMA,
              ":1: Battery Data Format header without a Voltage / V (voltage_volt) column");
    unlink(p), free(p);
    free(s.p);
#undef HDR
#undef ROW1
}

/* a real file when $BML_BDF names one: read, summarised, every cycle's capacity agreeing with the integral */
static void test_real_file(void) {
    const char *path = getenv("BML_BDF");
    if (!path || !*path) {
        printf("  skipped: set BML_BDF to a Battery Data Format CSV (e.g. one of battery-data-format's "
               "docs/examples/reference/*.bdf.csv)\n");
        return;
    }
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (!y) return;
    CHECK_INT(y->meta.format, cycler_format("bdf"));
    printf("  %s: %zu rows, %zu cycles, %zu counter drops (largest %g)\n", path, y->meta.n_points, y->n_cycles,
           y->meta.n_counter_drops, y->meta.counter_drop_max);
    for (size_t i = 0; i < y->n_cycles; i++) {
        const bml_cycler_cycle *c = &y->cycles[i];
        printf("    cycle %ld: charge %.6g Ah (integral %.6g), discharge %.6g Ah (integral %.6g), check %d\n", c->cycle,
               c->charge_ah, c->charge_ah_integral, c->discharge_ah, c->discharge_ah_integral, c->capacity_check);
    }
    CHECK_INT(y->n_capacity_differs, 0);
    bml_cycler_summary_free(y);
}

int main(void) {
    static const test_case tests[] = {{"labels", test_labels},       {"machine", test_machine},
                                      {"steps", test_steps},         {"counters", test_counters},
                                      {"near_and_bad", test_near_and_bad}, {"real_file", test_real_file}};
    return run_tests("bdf", tests, sizeof tests / sizeof *tests);
}
