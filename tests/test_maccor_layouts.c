/* Maccor text layouts beyond the plain export (src/data/cycler_read.c, open_maccor): cellpy's milli-unit "three"
 * layout ("Today''s Date", blank lines, "Date of Test:", mAmp-hr / mWatt-hr / mAmps, Volts in mV, a counter that
 * counts on across steps of one direction) and battery-data-toolkit's minutes layout ("Test (Min)"), on made-up
 * files whose answers are known; the near match of an unknown title; the capacity cross-check on them; and, when
 * $BML_MACCOR_THREE names a copy of cellpy's examples/data/maccor_three.txt, that file against per-cycle values
 * computed from its documented layout (skipped otherwise: the project ships no copy of it). */
#define _GNU_SOURCE
#include "cycler_test.h"

static char tmpdir[64];

static char *tpath(const char *name) {
    char *p = NULL;
    if (asprintf(&p, "%s/%s", tmpdir, name) < 0) abort();
    return p;
}

#define THREE_TITLE "Today''s Date\t03/28/2022 12:50:27 PM\n\nDate of Test:\t08/23/2021 6:04:18 PM\n\n"
#define THREE_HEADER                                                                                                   \
    "Rec#\tCyc#\tStep\tTestTime\tStepTime\tmAmp-hr\tmWatt-hr\tmAmps\tVolts\tState\tES\tDPt Time\tUnnamed: 12\n"

/* One cycle of CC charge (step 4), CV charge (step 5: mAmp-hr counts on from step 4), discharge (step 6: it
 * restarts), then a second cycle. Right-endpoint integrals of mAmps equal the counters by construction. */
static const char *three_rows =
    "1\t0\t1\t  0d 00:00:00.00\t  0d 00:00:00.00\t0.0\t0.0\t0.0\t1853.8186\tR\t0\t08/23/2021 6:04:18 PM\t\n"
    "2\t0\t4\t  0d 01:00:00.00\t  0d 01:00:00.00\t180.0\t540.0\t180.0\t3600.0\tC\t1\t08/23/2021 7:04:18 PM\t\n"
    "3\t0\t4\t  0d 02:00:00.00\t  0d 02:00:00.00\t360.0\t1100.0\t180.0\t3800.0\tC\t133\t08/23/2021 8:04:18 PM\t\n"
    "4\t0\t5\t  0d 03:00:00.00\t  0d 01:00:00.00\t400.0\t1250.0\t40.0\t3800.0\tC\t132\t08/23/2021 9:04:18 PM\t\n"
    "5\t0\t6\t  0d 04:00:00.00\t  0d 01:00:00.00\t300.0\t1000.0\t-300.0\t3000.0\tD\t0\t08/23/2021 10:04:18 PM\t\n"
    "6\t0\t6\t  0d 04:30:00.00\t  0d 01:30:00.00\t390.0\t1270.0\t-180.0\t2500.0\tD\t133\t08/23/2021 10:34:18 PM\t\n"
    "7\t1\t4\t  0d 05:30:00.00\t  0d 01:00:00.00\t180.0\t560.0\t180.0\t3700.0\tC\t0\t08/23/2021 11:34:18 PM\t\n"
    "8\t1\t6\t  0d 06:00:00.00\t  0d 00:30:00.00\t150.0\t480.0\t-300.0\t3100.0\tD\t133\t08/24/2021 12:04:18 AM\t\n";

static char *write_file(const char *name, const char *a, const char *b, const char *c) {
    char *p = tpath(name);
    char *text = NULL;
    if (asprintf(&text, "%s%s%s", a, b, c) < 0) abort();
    write_text(p, text);
    free(text);
    return p;
}

static void test_three_layout(void) {
    char *p = write_file("three.txt", THREE_TITLE, THREE_HEADER, three_rows);
    bml_cycler_format f = BML_CYCLER_AUTO;
    CHECK_OK(bml_cycler_detect(p, &f));
    CHECK_INT(f, BML_CYCLER_MACCOR);
    cycler_pts s = {0};
    bml_cycler_meta meta = {0};
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(s.n, 8);
    CHECK_STR(meta.start_time, "08/23/2021 6:04:18 PM");
    if (s.n == 8) {
        CHECK_INT(s.p[0].line, 6);
        CHECK_NEAR(s.p[0].voltage_v, 1.8538186, 1e-12); /* Volts in mV */
        CHECK_NEAR(s.p[1].current_a, 0.18, 1e-12);      /* mAmps */
        CHECK_NEAR(s.p[1].test_time_s, 3600, 1e-9);
        CHECK_NEAR(s.p[2].charge_ah, 0.36, 1e-12); /* mAmp-hr */
        CHECK_NEAR(s.p[3].charge_ah, 0.40, 1e-12); /* CV counts on from CC: not 0.36 + 0.40 */
        CHECK_NEAR(s.p[3].charge_wh, 1.25, 1e-12);
        CHECK_NEAR(s.p[4].current_a, -0.3, 1e-12);
        CHECK_NEAR(s.p[4].discharge_ah, 0.30, 1e-12); /* restarts at the change of direction */
        CHECK_NEAR(s.p[5].discharge_ah, 0.39, 1e-12);
        CHECK_NEAR(s.p[5].discharge_wh, 1.27, 1e-12);
        CHECK_NEAR(s.p[5].charge_ah, 0.40, 1e-12);
        CHECK_NEAR(s.p[6].charge_ah, 0.18, 1e-12); /* a new cycle from zero */
        CHECK_NEAR(s.p[7].discharge_ah, 0.15, 1e-12);
        CHECK_NEAR(s.p[7].test_time_s, 21600, 1e-9);
        CHECK_NEAR(s.p[7].unix_time - s.p[0].unix_time, 21600, 1e-9);
    }
    CHECK_INT(meta.n_counter_drops, 0);
    bml_cycler_meta_free(&meta);
    free(s.p);
    /* the summary: counters equal the current's integral, the cross-check passes */
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 2) {
        CHECK_NEAR(y->cycles[0].charge_ah, 0.40, 1e-12);
        CHECK_NEAR(y->cycles[0].discharge_ah, 0.39, 1e-12);
        CHECK_NEAR(y->cycles[0].charge_ah_integral, 0.40, 1e-12);
        CHECK_NEAR(y->cycles[0].discharge_ah_integral, 0.39, 1e-12);
        CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_OK);
        CHECK_INT(y->cycles[1].capacity_check, BML_CYCLER_CHECK_OK);
        CHECK_INT(y->n_capacity_differs, 0);
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
    free(p);
}

/* a milli-unit file whose counter disagrees with its current (mAmp-hr twice the integral in the first charge):
 * the cross-check names the cycle */
static void test_three_cross_check(void) {
    const char *rows =
        "1\t0\t4\t  0d 00:00:00.00\t  0d 00:00:00.00\t0.0\t0.0\t180.0\t3600.0\tC\t0\t08/23/2021 6:04:18 PM\t\n"
        "2\t0\t4\t  0d 01:00:00.00\t  0d 01:00:00.00\t360.0\t1100.0\t180.0\t3800.0\tC\t0\t08/23/2021 7:04:18 PM\t\n"
        "3\t0\t6\t  0d 02:00:00.00\t  0d 01:00:00.00\t300.0\t1000.0\t-300.0\t3000.0\tD\t0\t08/23/2021 8:04:18 PM\t\n";
    char *p = write_file("three-bad.txt", THREE_TITLE, THREE_HEADER, rows);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 1) {
        CHECK_NEAR(y->cycles[0].charge_ah, 0.36, 1e-12);
        CHECK_NEAR(y->cycles[0].charge_ah_integral, 0.18, 1e-12);
        CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_CHARGE);
        CHECK_INT(y->n_capacity_differs, 1);
        CHECK(y->capacity_warning && strstr(y->capacity_warning, "three-bad.txt"));
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
    free(p);
}

/* a title this reader does not know above a Rec#<TAB> header: still the near match, naming both titles */
static void test_unknown_title_near_match(void) {
    char *p = write_file("other-title.txt", "Todays Date\t03/28/2022\n\nDate of Test:\t08/23/2021 6:04:18 PM\n\n",
                         THREE_HEADER, three_rows);
    bml_cycler_format f = BML_CYCLER_AUTO;
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, "nearly maccor, but a Rec#<TAB> header below a title line it does not know");
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, "Today''s Date");
    free(p);
}

#define MIN_TITLE                                                                                                    \
    "Today's Date 04/04/2016  Date of Test:\t03/31/2016\t Filename:\tC:\\Data\\SET-1a.001 Procedure: F-4p1.000NCM 523, " \
    "Formation\tComment/Barcode: SET-1, NCM811 vs. Li\n"
#define MIN_HEADER "Rec#\tCyc#\tStep\tTest (Min)\tStep (Min)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n"

/* battery-data-toolkit's layout: "Test (Min)" in minutes; DPt Time with or without its date */
static void test_minutes_layout(void) {
    const char *rows = "1\t0\t1\t0.0000\t0.0000\t0.0000000000\t0.0000000000\t0.0000000000\t3.30678264\tR\t0\t03/31/2016 16:05:31\n"
                       "2\t0\t2\t0.5000\t0.0000\t0.0000000000\t0.0000000000\t0.0024000000\t3.40000000\tC\t0\t03/31/2016 16:06:01\n"
                       "3\t0\t2\t60.5000\t60.0000\t0.0024000000\t0.0090000000\t0.0024000000\t4.10000000\tC\t1\t03/31/2016 17:06:01\n"
                       "4\t0\t3\t90.5000\t30.0000\t0.0012000000\t0.0042000000\t0.0024000000\t3.60000000\tD\t1\t17:36:01\n";
    char *p = write_file("SET-1a.001", MIN_TITLE, MIN_HEADER, rows);
    cycler_pts s = {0};
    bml_cycler_meta meta = {0};
    CHECK_OK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(meta.format, BML_CYCLER_MACCOR);
    CHECK_INT(s.n, 4);
    CHECK_STR(meta.start_time, "03/31/2016");
    CHECK_STR(meta.barcode, "SET-1, NCM811 vs. Li");
    CHECK_STR(meta.channel, "001"); /* the extension's number */
    if (s.n == 4) {
        CHECK_NEAR(s.p[1].test_time_s, 30, 1e-9);
        CHECK_NEAR(s.p[2].test_time_s, 3630, 1e-9);
        CHECK_NEAR(s.p[3].test_time_s, 5430, 1e-9);
        CHECK_NEAR(s.p[2].charge_ah, 0.0024, 1e-15);
        CHECK_NEAR(s.p[3].discharge_ah, 0.0012, 1e-15);
        CHECK_NEAR(s.p[3].current_a, -0.0024, 1e-15);
        CHECK_NEAR(s.p[2].unix_time - s.p[0].unix_time, 3630, 1e-9);
        CHECK(isnan(s.p[3].unix_time)); /* a time of day without its date is no wall-clock time */
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 1) {
        CHECK_NEAR(y->cycles[0].charge_ah_integral, 0.00242, 1e-12); /* 30 s + 1 h at 2.4 mA */
        CHECK_NEAR(y->cycles[0].discharge_ah_integral, 0.0012, 1e-12);
        CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_OK);
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
    free(p);
    /* minutes past the largest number of seconds: an error naming the field, not an infinite time */
    p = write_file("huge.001", MIN_TITLE, MIN_HEADER,
                   "1\t0\t1\t1e308\t0\t0\t0\t0\t3.3\tR\t0\t03/31/2016 16:05:31\n");
    s = (cycler_pts){0};
    CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), BML_ERR_PARSE, ":3:4: column 'Test (Min)': '1e308' is too large a time");
    free(s.p);
    free(p);
}

/* cellpy's examples/data/maccor_three.txt (MIT), when $BML_MACCOR_THREE names a copy: per cycle the largest mAmp-hr of
 * its C rows and of its D rows / 1000 (the counter counts on through steps 4 and 5 and restarts at the discharge), the
 * right-endpoint integral of mAmps / 1000 over TestTime, and the rows; values computed from the file with awk */
static void test_cellpy_three(void) {
    const char *path = getenv("BML_MACCOR_THREE");
    if (!path || !*path) {
        printf("  skipped: set BML_MACCOR_THREE to a copy of cellpy's examples/data/maccor_three.txt\n");
        return;
    }
    static const struct {
        long cycle;
        double qc, qd, ic, id;
        size_t rows;
    } ref[] = {
#include "maccor_three_ref.inc"
    };
    const size_t n_ref = sizeof ref / sizeof *ref;
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (!y) return;
    CHECK_INT(y->meta.format, BML_CYCLER_MACCOR);
    CHECK_INT(y->n_cycles, n_ref);
    for (size_t i = 0; i < n_ref && i < y->n_cycles; i++) {
        const bml_cycler_cycle *c = &y->cycles[i];
        CHECK_INT(c->cycle, ref[i].cycle);
        CHECK_INT(c->n_points, ref[i].rows);
        CHECK_NEAR(c->charge_ah, ref[i].qc, 1e-9);
        CHECK_NEAR(c->discharge_ah, ref[i].qd, 1e-9);
        CHECK_NEAR(c->charge_ah_integral, ref[i].ic, 1e-9);
        CHECK_NEAR(c->discharge_ah_integral, ref[i].id, 1e-9);
        CHECK_INT(c->capacity_check, BML_CYCLER_CHECK_OK);
    }
    bml_cycler_summary_free(y);
}

/* a cycle with a step repeated within it (an HPPC-like pulse, step 2, twice): the sum of the steps (the default)
 * counts both pulses, BEEP's largest step (capacity_rule) the one largest step, its integral that step's */
#define HPPC_HEADER "Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n"
static const char *hppc_rows = "1\t1\t1\t0\t0\t0\t0\t1\t3.5\tC\t0\t01/01/2020 10:00:00\n"
                               "2\t1\t1\t3600\t3600\t1.0\t3.7\t1\t4.1\tC\t0\t01/01/2020 11:00:00\n"
                               "3\t1\t2\t3636\t36\t0.01\t0.037\t1\t3.9\tD\t0\t01/01/2020 11:00:36\n"
                               "4\t1\t3\t3736\t100\t0\t0\t0\t4.0\tR\t0\t01/01/2020 11:02:16\n"
                               "5\t1\t2\t3772\t36\t0.01\t0.037\t1\t3.9\tD\t0\t01/01/2020 11:02:52\n"
                               "6\t1\t3\t3872\t100\t0\t0\t0\t4.0\tR\t0\t01/01/2020 11:04:32\n"
                               "7\t1\t4\t5672\t1800\t0.5\t1.85\t1\t3.2\tD\t0\t01/01/2020 11:34:32\n"
                               "8\t2\t1\t9272\t3600\t1.0\t3.7\t1\t4.1\tC\t0\t01/01/2020 12:34:32\n";

static void test_largest_step_rule(void) {
    char *p = write_file("hppc.001", "Today's Date 01/02/2020  Date of Test:\t01/01/2020\n", HPPC_HEADER, hppc_rows);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &y)); /* the default: the sum of the steps */
    if (y && y->n_cycles == 2) {
        CHECK_INT(y->opts.capacity_rule, BML_CYCLER_CAPACITY_SUM);
        CHECK_NEAR(y->cycles[0].discharge_ah, 0.52, 1e-12);
        CHECK_NEAR(y->cycles[0].discharge_wh, 1.924, 1e-12);
        CHECK_NEAR(y->cycles[0].discharge_ah_integral, 0.52, 1e-12);
        CHECK_NEAR(y->cycles[0].charge_ah, 1.0, 1e-12);
        CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_OK);
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
    bml_cycler_summary_opts o = BML_CYCLER_SUMMARY_OPTS_INIT;
    o.capacity_rule = BML_CYCLER_CAPACITY_LARGEST_STEP;
    y = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, &o, &y));
    if (y && y->n_cycles == 2) {
        CHECK_NEAR(y->cycles[0].discharge_ah, 0.5, 1e-12);   /* step 4, not 0.5 + 2 x 0.01 */
        CHECK_NEAR(y->cycles[0].discharge_wh, 1.85, 1e-12);
        CHECK_NEAR(y->cycles[0].discharge_ah_integral, 0.5, 1e-12); /* step 4's own integral */
        CHECK_NEAR(y->cycles[0].charge_ah, 1.0, 1e-12);
        CHECK_NEAR(y->cycles[0].charge_ah_integral, 1.0, 1e-12);
        CHECK_NEAR(y->cycles[0].coulombic_efficiency, 0.5, 1e-12);
        CHECK_NEAR(y->cycles[0].throughput_ah, 1.52, 1e-12); /* every step: the charge that passed */
        CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_OK);
        CHECK_NEAR(y->cycles[1].charge_ah, 1.0, 1e-12);
        CHECK(isnan(y->cycles[1].discharge_ah));
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
    o.capacity_rule = 7;
    y = NULL;
    CHECK_ERR(bml_cycler_summarize(p, BML_CYCLER_AUTO, &o, &y), BML_ERR_VALUE, "capacity_rule 7");
    CHECK(y == NULL);
    free(p);
}

/* a test split over NAME.001 and NAME.002 (battery-data-toolkit's maccor_example.001/.002): a part read alone is one
 * file, its channel the extension's number; the folder is one cell, the second part's test time and cycle index, which
 * restart, going on from the first's */
static void test_numbered_parts(void) {
    const char *rows = "1\t0\t1\t0.0\t0.0\t0.0\t0.0\t1.0\t3.3\tC\t0\t03/31/2016 16:05:31\n"
                       "2\t0\t1\t60.0\t60.0\t1.0\t3.5\t1.0\t3.4\tC\t0\t03/31/2016 17:05:31\n"
                       "3\t1\t2\t90.0\t30.0\t0.5\t1.7\t1.0\t3.2\tD\t0\t03/31/2016 17:35:31\n";
    char *dir = tpath("parts");
    if (mkdir(dir, 0777) != 0) abort();
    char *a = tpath("parts/t.001"), *b = tpath("parts/t.002"), *out = tpath("parts-out");
    char *text = NULL;
    if (asprintf(&text, "%s%s%s", MIN_TITLE, MIN_HEADER, rows) < 0) abort();
    write_text(a, text);
    write_text(b, text);
    free(text);
    bml_cycler_meta meta = {0};
    cycler_pts s = {0};
    CHECK_OK(bml_cycler_read(b, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_STR(meta.channel, "002");
    CHECK_INT(s.n, 3);
    bml_cycler_meta_free(&meta);
    s.n = 0;
    CHECK_OK(bml_cycler_read(a, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(s.n, 6);
    CHECK_STR(meta.path, a);
    CHECK_INT(meta.n_points, 6);
    static const double t[6] = {0, 3600, 5400, 5400, 9000, 10800};
    static const long cyc[6] = {0, 0, 1, 2, 2, 3};
    for (size_t i = 0; i < 6 && i < s.n; i++) {
        CHECK_NEAR(s.p[i].test_time_s, t[i], 1e-9);
        CHECK_INT(s.p[i].cycle, cyc[i]);
        CHECK_INT(s.p[i].line, 3 + i % 3); /* the line in its part */
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    s.p = NULL, s.n = s.cap = 0;
    size_t n_cells = 0;
    CHECK_OK(bml_cycler_structure(dir, BML_CYCLER_AUTO, NULL, out, NULL, NULL, &n_cells, NULL));
    CHECK_INT(n_cells, 1);
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_cycler(dir, BML_CYCLER_AUTO, NULL, NULL, NULL, &ds));
    CHECK(ds && bml_dataset_n_cells(ds) == 1);
    bml_dataset_free(ds);
    /* newer exports name the tester channel in the title: parts on two channels are not one test */
    char *ch1 = strf("%s    Tester Channel:\t7\n%s%s", MIN_TITLE, MIN_HEADER, rows), *ch2 = strf("%s    Tester Channel:\t8\n%s%s",
                                                                                           MIN_TITLE, MIN_HEADER, rows);
    write_text(a, ch1);
    write_text(b, ch2);
    char *msg = strf("%s:1: its title names tester channel '8' where %s's names '7': not a part of the same test", b, a);
    CHECK_ERR(bml_cycler_read(a, BML_CYCLER_AUTO, cycler_count, &(size_t){0}, NULL), BML_ERR_VALUE, msg);
    write_text(b, ch1);
    CHECK_OK(bml_cycler_read(a, BML_CYCLER_AUTO, cycler_keep, &s, &meta)); /* the same channel: joined */
    CHECK_STR(meta.channel, "7");
    CHECK_INT(meta.n_points, 6);
    bml_cycler_meta_free(&meta);
    free(s.p);
    free(msg), free(ch1), free(ch2);
    /* two digits: not parts of one test, two files of one cell name (the message says which numbered files join) */
    char *dir2 = tpath("parts2"), *a2 = tpath("parts2/t.01"), *b2 = tpath("parts2/t.02");
    if (mkdir(dir2, 0777) != 0 || rename(a, a2) != 0 || rename(b, b2) != 0) abort();
    CHECK_ERR(bml_cycler_structure(dir2, BML_CYCLER_AUTO, NULL, out, NULL, NULL, NULL, NULL), BML_ERR_VALUE,
              "two files of one cell name 't' (they would overwrite each other); numbered files of one name are joined "
              "into one cell only as the parts of one Maccor test (NAME.001, NAME.002, ...: three digits");
    free(a), free(b), free(out), free(dir), free(dir2), free(a2), free(b2);
}

/* ---- parts made from a real export (BEEP's PredictionDiagnostics_000151_test.052, one step of 333 rows) repeated as
 * cycles 1..4 (as tools/cycler_repeat.sh does): split at cycle boundaries and inside a cycle, numbered on or restarted,
 * the folder reads as the whole file does */

typedef struct {
    char *title, *header;
    char **rows; /* the data rows, fields split at tabs into row k's own copy */
    size_t n;
} export_rows;

#define N_REP 4
/* row r of cycle k (0-based) with its record number, cycle index and test time as the whole file writes them, the
 * cycle index less c_less and the time less t_less */
static char *rep_row(const export_rows *e, size_t k, size_t r, long c_less, double t_less, double t0, double span) {
    char *copy = strdup(e->rows[r]);
    if (!copy) abort();
    char *f[64];
    size_t nf = 0;
    for (char *p = copy, *q; nf < 64; p = q + 1) {
        f[nf++] = p;
        if (!(q = strchr(p, '\t'))) break;
        *q = 0;
    }
    (void)t0;
    double tt = atof(f[3]) + (double)k * span - t_less;
    char *head = strf("%zu\t%ld\t%s\t%.4f", k * e->n + r + 1, (long)(k + 1) - c_less, f[2], tt);
    char *row = strdup(head);
    for (size_t j = 4; j < nf; j++) {
        char *x = strf("%s\t%s", row, f[j]);
        free(row);
        row = x;
    }
    free(head), free(copy);
    return row;
}

static void export_load(export_rows *e) {
    memset(e, 0, sizeof *e);
    FILE *f = fopen(BML_SOURCE_DIR "/tests/data/cyclers/PredictionDiagnostics_000151_test.052", "r");
    if (!f) abort();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t no = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        no++;
        if (no == 1) e->title = strdup(line);
        else if (no == 2) e->header = strdup(line);
        else if (len > 0 && strspn(line, " \t") < (size_t)len) {
            e->rows = realloc(e->rows, (e->n + 1) * sizeof *e->rows);
            if (!e->rows || !(e->rows[e->n++] = strdup(line))) abort();
        }
    }
    free(line);
    fclose(f);
    if (!e->title || !e->header || e->n < 300) abort();
}

static void export_free(export_rows *e) {
    for (size_t i = 0; i < e->n; i++) free(e->rows[i]);
    free(e->rows), free(e->title), free(e->header);
}

/* a file of rows [from, to) of the repeated export (row i: cycle i / n, row i % n); restart: the cycle index and
 * time less those of the last row before `from` (a part numbered from its own start) */
static void write_rows(const export_rows *e, const char *path, size_t from, size_t to, int restart, const char *title) {
    double t0 = atof(strchr(strchr(strchr(e->rows[0], '\t') + 1, '\t') + 1, '\t') + 1);
    double t1 = atof(strchr(strchr(strchr(e->rows[e->n - 1], '\t') + 1, '\t') + 1, '\t') + 1);
    double span = t1 - t0 + 1;
    long c_less = 0;
    double t_less = 0;
    if (restart && from > 0) {
        size_t k = (from - 1) / e->n, r = (from - 1) % e->n;
        char *last = rep_row(e, k, r, 0, 0, t0, span);
        c_less = (long)k + 1;
        t_less = atof(strchr(strchr(strchr(last, '\t') + 1, '\t') + 1, '\t') + 1);
        free(last);
    }
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fprintf(f, "%s\n%s\n", title ? title : e->title, e->header);
    for (size_t i = from; i < to; i++) {
        char *row = rep_row(e, i / e->n, i % e->n, c_less, t_less, t0, span);
        fprintf(f, "%s\n", row);
        free(row);
    }
    if (fclose(f) != 0) abort();
}

/* the points and per-cycle summaries of the joined parts against the whole file's: to the bit, or (tol > 0: the parts'
 * times restart, written to 4 decimals from their own start) the times and what comes of them within tol relative */
#define SAME(x, y) (tol > 0 ? fabs((x) - (y)) <= tol * fabs(x) : (x) == (y))
static void check_same(const char *whole, const char *dir, const char *first, double tol) {
    cycler_pts a = {0}, b = {0};
    CHECK_OK(bml_cycler_read(whole, BML_CYCLER_AUTO, cycler_keep, &a, NULL));
    CHECK_OK(bml_cycler_read(first, BML_CYCLER_AUTO, cycler_keep, &b, NULL));
    CHECK_INT(b.n, a.n);
    size_t bad = 0;
    for (size_t i = 0; i < a.n && i < b.n; i++) {
        bml_cycler_point x = a.p[i], y = b.p[i];
        x.line = y.line = 0;
        bad += !SAME(x.test_time_s, y.test_time_s);
        x.test_time_s = y.test_time_s = 0;
        bad += memcmp(&x, &y, sizeof x) != 0;
    }
    CHECK_INT(bad, 0); /* the same stream of points, to the bit, but for the line numbers */
    free(a.p), free(b.p);
    bml_cycler_summary *sa = NULL, *sb = NULL;
    CHECK_OK(bml_cycler_summarize(whole, BML_CYCLER_AUTO, NULL, &sa));
    CHECK_OK(bml_cycler_summarize(first, BML_CYCLER_AUTO, NULL, &sb));
    if (sa && sb) {
        CHECK_INT(sa->n_cycles, N_REP);
        CHECK_INT(sb->n_cycles, sa->n_cycles);
        for (size_t c = 0; c < sa->n_cycles && c < sb->n_cycles; c++) {
            const bml_cycler_cycle *x = &sa->cycles[c], *y = &sb->cycles[c];
            CHECK_INT(y->cycle, x->cycle);
            CHECK_INT(y->complete, x->complete);
            CHECK_INT(y->n_points, x->n_points);
            CHECK(y->discharge_ah == x->discharge_ah && y->discharge_wh == x->discharge_wh);
            CHECK(y->throughput_ah == x->throughput_ah);
            CHECK(SAME(x->start_time_s, y->start_time_s) && SAME(x->duration_s, y->duration_s));
            CHECK(SAME(x->discharge_ah_integral, y->discharge_ah_integral));
            CHECK(memcmp(y->discharge_curve_ah, x->discharge_curve_ah, sa->opts.n_grid * sizeof(double)) == 0);
        }
    }
    bml_cycler_summary_free(sa), bml_cycler_summary_free(sb);
    char **files = NULL;
    size_t n = 0;
    CHECK_OK(bml_cycler_list(dir, BML_CYCLER_AUTO, &files, &n, NULL));
    CHECK_INT(n, 1);
    if (n == 1) CHECK_STR(files[0], first);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
    bml_dataset *da = NULL, *db = NULL;
    CHECK_OK(bml_dataset_load_cycler(whole, BML_CYCLER_AUTO, NULL, NULL, NULL, &da));
    CHECK_OK(bml_dataset_load_cycler(dir, BML_CYCLER_AUTO, NULL, NULL, NULL, &db));
    CHECK(db && bml_dataset_n_cells(db) == 1);
    CHECK(da && db && bml_dataset_n_rows(da) == bml_dataset_n_rows(db));
    bml_dataset_free(da), bml_dataset_free(db);
}

static void test_parts_join(void) {
    export_rows e;
    export_load(&e);
    const size_t n = e.n, all = N_REP * e.n;
    char *whole = tpath("P.txt");
    write_rows(&e, whole, 0, all, 0, NULL);
    /* three parts, numbered on: cycles 1-2 | 3 and the first 150 rows of 4 | the rest of 4 */
    char *d1 = tpath("on"), *d2 = tpath("restart");
    if (mkdir(d1, 0777) != 0 || mkdir(d2, 0777) != 0) abort();
    char *p1 = tpath("on/P.001"), *p2 = tpath("on/P.002"), *p3 = tpath("on/P.003");
    write_rows(&e, p1, 0, 2 * n, 0, NULL);
    write_rows(&e, p2, 2 * n, 3 * n + 150, 0, NULL);
    write_rows(&e, p3, 3 * n + 150, all, 0, NULL);
    check_same(whole, d1, p1, 0);
    /* two parts, the second's test time and cycle index from its own start: cycles 1-2 | 3-4 */
    char *r1 = tpath("restart/P.001"), *r2 = tpath("restart/P.002");
    write_rows(&e, r1, 0, 2 * n, 0, NULL);
    write_rows(&e, r2, 2 * n, all, 1, NULL);
    check_same(whole, d2, r1, 1e-12);
    /* a part not there: P.001 and P.003 */
    CHECK(unlink(p2) == 0);
    bml_dataset *ds = NULL;
    char *msg = strf("%s and %s: numbered parts of one Maccor test with %s missing between them", p1, p3, p2);
    CHECK_ERR(bml_dataset_load_cycler(d1, BML_CYCLER_AUTO, NULL, NULL, NULL, &ds), BML_ERR_VALUE, msg);
    free(msg);
    char *out = tpath("out");
    CHECK_ERR(bml_cycler_structure(d1, BML_CYCLER_AUTO, NULL, out, NULL, NULL, NULL, NULL), BML_ERR_VALUE,
              "missing between them");
    CHECK(access(out, F_OK) != 0);
    /* a part whose title names another barcode */
    char *title = strf("%.*s00009Z", (int)(strstr(e.title, "Barcode: ") + 9 - e.title), e.title);
    write_rows(&e, p2, 2 * n, 3 * n + 150, 0, title);
    msg = strf("%s:1: its title names barcode '00009Z' where %s's names '00001E': not a part of the same test", p2, p1);
    CHECK_ERR(bml_cycler_structure(d1, BML_CYCLER_AUTO, NULL, out, NULL, NULL, NULL, NULL), BML_ERR_VALUE, msg);
    free(msg);
    CHECK(access(out, F_OK) != 0);
    /* a part whose date of test is before the part before's */
    char *early = strf("%.*s10/09/2019%s", (int)(strstr(e.title, "Test:\t") + 6 - e.title), e.title,
                       strstr(e.title, "Test:\t") + 16);
    write_rows(&e, p2, 2 * n, 3 * n + 150, 0, early);
    msg = strf("%s:1: its date of test 10/09/2019 is before %s's 10/10/2019", p2, p1);
    CHECK_ERR(bml_cycler_structure(d1, BML_CYCLER_AUTO, NULL, out, NULL, NULL, NULL, NULL), BML_ERR_VALUE, msg);
    free(msg), free(early);
    /* a restarted part whose first time is before 0: backwards after the offset, named by file, line and column */
    write_rows(&e, r2, 2 * n, all, 1, NULL);
    char *cmd = strf("sed -i '3s/\\t1\\.0000\\t/\\t-5.0000\\t/' '%s'", r2);
    CHECK(system(cmd) == 0);
    free(cmd);
    msg = strf("%s:3:4: time goes backwards", r2);
    CHECK_ERR(bml_dataset_load_cycler(d2, BML_CYCLER_AUTO, NULL, NULL, NULL, &ds), BML_ERR_VALUE, msg);
    free(msg);
    CHECK(ds == NULL);
    /* a part whose test time restarts and whose cycle index is the part before's last: a new run, the next cycle
     * (a copy of a one-cycle export as P.001 and P.002: cycles 1 and 2) */
    char *d3 = tpath("again"), *a1 = tpath("again/P.001"), *a2 = tpath("again/P.002");
    if (mkdir(d3, 0777) != 0) abort();
    write_rows(&e, a1, 0, n, 0, NULL);
    write_rows(&e, a2, 0, n, 0, NULL);
    bml_cycler_summary *sa = NULL;
    CHECK_OK(bml_cycler_summarize(a1, BML_CYCLER_AUTO, NULL, &sa));
    if (sa) {
        CHECK_INT(sa->n_cycles, 2);
        CHECK(sa->n_cycles == 2 && sa->cycles[0].cycle == 1 && sa->cycles[1].cycle == 2);
        CHECK(sa->n_cycles == 2 && sa->cycles[1].discharge_ah == sa->cycles[0].discharge_ah);
        CHECK(sa->n_cycles == 2 && sa->cycles[1].start_time_s > sa->cycles[0].start_time_s + sa->cycles[0].duration_s);
        CHECK_INT(sa->meta.n_counter_drops, 0);
    }
    bml_cycler_summary_free(sa);
    /* numbers that do not start at .001 are channels (Maccor names a channel's file by its number), not parts:
     * P.052 and P.053 are read apart, listed apart, and a folder of both is two files of one cell name, as before */
    char *d4 = tpath("chan"), *c1 = tpath("chan/P.052"), *c2 = tpath("chan/P.053");
    if (mkdir(d4, 0777) != 0) abort();
    write_rows(&e, c1, 0, n, 0, NULL);
    write_rows(&e, c2, 0, n, 0, NULL);
    CHECK_OK(bml_cycler_summarize(c1, BML_CYCLER_AUTO, NULL, &sa));
    if (sa) CHECK_INT(sa->n_cycles, 1);
    bml_cycler_summary_free(sa);
    sa = NULL;
    char **cf = NULL;
    size_t ncf = 0;
    CHECK_OK(bml_cycler_list(d4, BML_CYCLER_AUTO, &cf, &ncf, NULL));
    CHECK_INT(ncf, 2);
    for (size_t i = 0; i < ncf; i++) free(cf[i]);
    free(cf);
    CHECK_ERR(bml_dataset_load_cycler(d4, BML_CYCLER_AUTO, NULL, NULL, NULL, &ds), BML_ERR_VALUE, "two files of one cell");
    free(d4), free(c1), free(c2);
    free(d3), free(a1), free(a2);
    free(title), free(out), free(whole), free(d1), free(d2), free(p1), free(p2), free(p3), free(r1), free(r2);
    export_free(&e);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bml_maccor_layouts_XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
    static const test_case tests[] = {
        {"three_layout", test_three_layout},
        {"three_cross_check", test_three_cross_check},
        {"unknown_title_near_match", test_unknown_title_near_match},
        {"minutes_layout", test_minutes_layout},
        {"cellpy_three", test_cellpy_three},
        {"largest_step_rule", test_largest_step_rule},
        {"numbered_parts", test_numbered_parts},
        {"parts_join", test_parts_join},
    };
    int rc = run_tests("maccor_layouts", tests, sizeof tests / sizeof *tests);
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", tmpdir) >= 0) {
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
        free(cmd);
    }
    return rc;
}
