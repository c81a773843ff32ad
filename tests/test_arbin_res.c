/* Arbin native .res reader (src/data/cycler_arbin_res.c, libmdb) against `mdb-export` (mdbtools 1.0), on the real
 * files of ../shared/data/cyclers-more/arbin (or $BML_SHARED_DIR/data/cyclers-more/arbin) and the references made
 * there: reference/<file>.rows_head.csv (mdb-export's Channel_Normal_Table, first 200 rows, 10 significant
 * digits) and reference/<file>.per_cycle.csv (per cycle: the maximum of each counter, the current's integral, the
 * rows). Without those files the tests on them are skipped with a message (exit 77, CTest's skip).
 *
 * Per row: Test_Time, DateTime (as the row's wall-clock time) within the reference's 10 digits; Step_Index,
 * Cycle_Index exactly; Current, Voltage, Internal_Resistance exactly at their stored precision (float32); the
 * four counters (which restart at each cycle in both files: the within-cycle value is the stored one) within
 * 10 digits. Per cycle: charge/discharge Ah and Wh within 1e-9 relative (the same stored doubles), the
 * current's integral within 1e-6 relative (the reference integrates mdb-export's 8-digit text of the float32
 * current), the rows exactly. Truncated and damaged copies fail with a message naming the file. */
#define _GNU_SOURCE
#include <mdbtools.h>

#include "cycler_test.h"

static char *dir; /* the real files (main) */

/* the reference's value in row r, column name (a reference without that column aborts) */
static double cell(const cycler_table *t, size_t r, const char *name) {
    long c = cycler_table_col(t, name);
    if (c < 0) {
        fprintf(stderr, "  reference has no column %s\n", name);
        abort();
    }
    return strtod(t->cells[r][c], NULL);
}

/* within the reference's 10 significant digits */
static int d10_eq(double ours, double ref) { return fabs(ours - ref) <= 5.01e-10 * fabs(ref) + 1e-300; }
static int f32_eq(double ours, double ref) { return (float)ours == (float)ref; }

static void compare_file(const char *name) {
    char *path = strf("%s/%s", dir, name);
    char *rh = strf("%s/reference/%s.rows_head.csv", dir, name), *pc = strf("%s/reference/%s.per_cycle.csv", dir, name);
    cycler_table rows, cyc;
    CHECK(cycler_table_read(rh, &rows));
    CHECK(cycler_table_read(pc, &cyc));
    /* detected from the content */
    cycler_pts s;
    bml_cycler_meta meta;
    cycler_read_detected(path, "arbin_res", &s, &meta);
    size_t total = 0;
    for (size_t r = 0; r < cyc.n_rows; r++) total += (size_t)cell(&cyc, r, "n_rows");
    CHECK_INT(s.n, total);
    CHECK_INT(meta.n_points, total);
    CHECK(meta.has_cycle_index);
    CHECK_INT(meta.n_counter_drops, 0);
    CHECK(meta.start_time != NULL && meta.channel != NULL && meta.protocol != NULL);
    if (!strcmp(name, "20160805_test001_45_cc_01.res")) { /* Global_Table, as mdb-export gives it */
        CHECK_STR(meta.channel, "3");
        CHECK_STR(meta.protocol, "SiNODE\\24h_rest_3cyc_C20_100cyc_c10_MR.sdu");
        CHECK_STR(meta.start_time, "2016-08-05 16:16:23"); /* Start_DateTime 42587.67804398148 */
        CHECK(meta.barcode == NULL);                       /* Item_ID is empty */
    }
    size_t bad = 0;
    for (size_t r = 0; r < rows.n_rows && r < s.n; r++) {
        const bml_cycler_point *p = &s.p[r];
        double ir = cell(&rows, r, "Internal_Resistance");
        int ok = d10_eq(p->test_time_s, cell(&rows, r, "Test_Time")) &&
                 d10_eq(p->unix_time / 86400.0 + 25569.0, cell(&rows, r, "DateTime")) &&
                 p->step == (long)cell(&rows, r, "Step_Index") && p->cycle == (long)cell(&rows, r, "Cycle_Index") &&
                 f32_eq(p->current_a, cell(&rows, r, "Current")) && f32_eq(p->voltage_v, cell(&rows, r, "Voltage")) &&
                 (ir > 0 ? f32_eq(p->resistance_ohm, ir) : isnan(p->resistance_ohm)) &&
                 d10_eq(p->charge_ah, cell(&rows, r, "Charge_Capacity")) &&
                 d10_eq(p->discharge_ah, cell(&rows, r, "Discharge_Capacity")) &&
                 d10_eq(p->charge_wh, cell(&rows, r, "Charge_Energy")) &&
                 d10_eq(p->discharge_wh, cell(&rows, r, "Discharge_Energy")) && p->line == r + 1;
        if (!ok && bad++ < 5)
            fprintf(stderr, "  %s row %zu differs from mdb-export: t %.10g I %.9g V %.9g Qc %.10g Qd %.10g\n", name, r + 1,
                    p->test_time_s, p->current_a, p->voltage_v, p->charge_ah, p->discharge_ah);
    }
    CHECK_INT(bad, 0);
    CHECK_INT(rows.n_rows, 200);
    bml_cycler_meta_free(&meta);
    free(s.p);
    /* per cycle */
    bml_cycler_summary *sum = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &sum));
    if (sum) {
        CHECK_INT(sum->n_cycles, cyc.n_rows);
        CHECK_INT(sum->n_capacity_differs, 0);
        double worst_q = 0, worst_int = 0;
        for (size_t r = 0; r < cyc.n_rows && r < sum->n_cycles; r++) {
            const bml_cycler_cycle *c = &sum->cycles[r];
            CHECK_INT(c->cycle, (long)cell(&cyc, r, "cycle"));
            CHECK_INT(c->n_points, (size_t)cell(&cyc, r, "n_rows"));
            const double ours[6] = {c->charge_ah, c->discharge_ah, c->charge_wh, c->discharge_wh, c->charge_ah_integral,
                                    c->discharge_ah_integral};
            static const char *const ref_col[6] = {"charge_ah", "discharge_ah", "charge_wh", "discharge_wh",
                                                   "charge_ah_integral", "discharge_ah_integral"};
            for (int k = 0; k < 6; k++) {
                double ref = cell(&cyc, r, ref_col[k]), o = ours[k];
                if (ref == 0 && (isnan(o) || o == 0)) continue; /* a half the cycle lacks: NaN here, 0 there */
                double rel = fabs(o - ref) / fabs(ref);
                if (k < 4 && rel > worst_q) worst_q = rel;
                if (k >= 4 && rel > worst_int) worst_int = rel;
                if (!(rel <= (k < 4 ? 1e-9 : 1e-6)))
                    fprintf(stderr, "  %s cycle %ld %s: %.10g, reference %.10g\n", name, c->cycle, ref_col[k], o, ref);
                CHECK(rel <= (k < 4 ? 1e-9 : 1e-6));
            }
        }
        printf("  %s: %zu rows, %zu cycles; worst relative difference: capacities/energies %.2g, integrals %.2g\n", name,
               total, sum->n_cycles, worst_q, worst_int);
    }
    bml_cycler_summary_free(sum);
    cycler_table_free(&rows);
    cycler_table_free(&cyc);
    free(path);
    free(rh);
    free(pc);
}

static void test_cc_mits432(void) { compare_file("20160805_test001_45_cc_01.res"); }
static void test_aux_mits700(void) { compare_file("aux_one_x_dx.res"); }

static char *write_tmp(const unsigned char *b, size_t n) { return cycler_tmp_file("/tmp/bml_arbin_res_XXXXXX.res", b, n); }

/* a damaged copy fails (never reads short) with a message naming the file and `needle` */
static void expect_fail(const unsigned char *b, size_t n, const char *needle) {
    char *p = write_tmp(b, n);
    size_t k = 0;
    bml_status st = bml_cycler_read(p, cycler_format("arbin_res"), cycler_count, &k, NULL);
    CHECK(st != BML_OK);
    CHECK(strstr(bml_last_error(), p) != NULL);
    if (!strstr(bml_last_error(), needle)) {
        fprintf(stderr, "  expected '%s' in: %s\n", needle, bml_last_error());
        t_fail_count++;
    }
    unlink(p);
    free(p);
}

static void test_truncated(void) {
    char *path = strf("%s/20160805_test001_45_cc_01.res", dir);
    size_t n;
    unsigned char *b = cycler_slurp(path, &n);
    if (!b) abort();
    expect_fail(b, 1000000, "ends inside a database page");        /* inside a page */
    expect_fail(b, 200 * 4096, "truncated or damaged");             /* at a page boundary: libmdb alone reads short */
    expect_fail(b, 0, "not an MS Access");
    expect_fail(b, 4096, "ends inside a database page");
    /* the data table renamed: an Access database, not an Arbin file */
    unsigned char *c = malloc(n);
    memcpy(c, b, n);
    size_t hits = 0;
    for (size_t i = 0; i + 40 < n; i++) /* the table's name in the catalog: UCS-2 in Jet 4 ("C\0h\0a\0n\0...") */
        if (!memcmp(c + i, "C\0h\0a\0n\0n\0e\0l\0_\0N\0o\0r\0m\0a\0l\0", 28)) c[i] = 'X', hits++;
    CHECK(hits > 0);
    expect_fail(c, n, "without a Channel_Normal_Table");
    free(c);
    free(b);
    free(path);
}

/* tests/data/cyclers/arbin-res/arbin-made-up.res (made by fuzz/make_arbin_res_corpus.py: a Jet 4 database of our own):
 * three cycles of 1 A, 20 rows per half; in cycle 2 the counters are reset at the discharge step and a 5-row
 * charge follows (a restart at a step: 25/60 Ah of charge); in cycle 3 a 1e-9 Ah dip inside the charge step
 * (noise: held, counted) */
static void test_made_up(void) {
    const char *path = TEST_DATA "/cyclers/arbin-res/arbin-made-up.res";
    cycler_pts s;
    bml_cycler_meta meta;
    cycler_read_detected(path, "arbin_res", &s, &meta);
    CHECK_INT(s.n, 126);
    CHECK_INT(meta.n_counter_drops, 1);
    CHECK_NEAR(meta.counter_drop_max, 1e-9, 1e-12);
    CHECK_STR(meta.channel, "7");
    CHECK_STR(meta.protocol, "made_up.sdu");
    CHECK_STR(meta.barcode, "cell-7");
    CHECK_STR(meta.start_time, "2023-03-15 12:00:00");
    if (s.n == 126) {
        CHECK_NEAR(s.p[1].current_a, 1.0, 0);
        CHECK(s.p[1].voltage_v == (double)3.6f);
        CHECK(s.p[1].resistance_ohm == (double)0.05f);
        CHECK(isnan(s.p[0].resistance_ohm));
        CHECK_NEAR(s.p[1].unix_time, (45000.5 - 25569.0) * 86400.0 + 60.0, 1e-4);
        CHECK_INT(s.p[41].cycle, 2);
        CHECK_INT(s.p[125].line, 126);
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    bml_cycler_summary *sum = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &sum));
    if (sum) {
        CHECK_INT(sum->n_cycles, 3);
        const double chg[3] = {20.0 / 60, 25.0 / 60, 20.0 / 60};
        for (size_t c = 0; c < 3 && c < sum->n_cycles; c++) {
            CHECK_NEAR(sum->cycles[c].charge_ah, chg[c], 1e-12);
            CHECK_NEAR(sum->cycles[c].discharge_ah, 20.0 / 60, 1e-12);
            CHECK_NEAR(sum->cycles[c].charge_wh, chg[c] * 3.8, 1e-12);
            CHECK_NEAR(sum->cycles[c].discharge_wh, 20.0 / 60 * 3.7, 1e-12);
        }
        CHECK_INT(sum->n_capacity_differs, 0);
    }
    bml_cycler_summary_free(sum);
    /* the seeds of fuzz/corpus/arbin_res with a NULL voltage and a second test (a selector byte first) */
    static const char *const bad[][2] = {{"made-up-null-voltage", "row 3: column Voltage is NULL"},
                                         {"made-up-second-test", "row 5: a second test (Test_ID 2 after 1)"}};
    for (int k = 0; k < 2; k++) {
        char *seed = strf("%s/fuzz/corpus/arbin_res/%s", BML_SOURCE_DIR, bad[k][0]);
        size_t n;
        unsigned char *b = cycler_slurp(seed, &n);
        if (!b) abort();
        expect_fail(b + 1, n - 1, bad[k][1]);
        free(b);
        free(seed);
    }
}

/* the file offset of a table's definition page (libmdb's catalog), or -1 */
static long tdef_offset(const char *path, const char *name) {
    MdbHandle *m = mdb_open(path, MDB_NOFLAGS);
    if (!m) return -1;
    long off = -1;
    if (mdb_read_catalog(m, MDB_TABLE)) {
        MdbCatalogEntry *e = mdb_get_catalogentry_by_name(m, name);
        if (e) off = (long)e->table_pg * 4096;
    }
    mdb_close(m);
    return off;
}

/* real data made wrong: a column of another type, a row of a second test */
static void test_guards(void) {
    char *path = strf("%s/20160805_test001_45_cc_01.res", dir);
    size_t n;
    unsigned char *b = cycler_slurp(path, &n);
    if (!b) abort();
    /* Current (the 9th column, Single) declared Boolean in the table definition (Jet 4: the column entries, 25
     * bytes each, follow the 12-byte index entries from byte 63; byte 0 the type, bytes 5-6 the column number) */
    long td = tdef_offset(path, "Channel_Normal_Table");
    CHECK(td > 0 && (size_t)td + 4096 <= n);
    if (td > 0 && (size_t)td + 4096 <= n) {
        unsigned nridx = b[td + 51] | b[td + 52] << 8;
        size_t at = (size_t)td + 63 + nridx * 12 + 8 * 25;
        CHECK_INT(b[at], MDB_FLOAT);
        CHECK_INT(b[at + 5] | b[at + 6] << 8, 8);
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        c[at] = MDB_BOOL;
        expect_fail(c, n, "column Current is of type Boolean, not a number");
        free(c);
    }
    /* the row of Data_Point 5000 moved to Test_ID 2 (a row: its column count, 18, then Test_ID, Data_Point) */
    static const unsigned char row[] = {0x12, 0, 1, 0, 0, 0, 0x88, 0x13, 0, 0};
    size_t hits = 0, where = 0;
    for (size_t i = 0; i + sizeof row <= n; i++)
        if (!memcmp(b + i, row, sizeof row)) hits++, where = i;
    CHECK_INT(hits, 1);
    if (hits == 1) {
        b[where + 2] = 2;
        expect_fail(b, n, "a second test (Test_ID 2 after 1)");
    }
    free(b);
    free(path);
}

/* not a .res: text, or a binary .res without the signature (the near match names what is missing) */
static void test_sniff(void) {
    unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 7);
    char *p = write_tmp(junk, sizeof junk);
    bml_cycler_format f;
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_PARSE, "nearly arbin_res, but a binary .res file without the MS Access");
    size_t k = 0;
    CHECK_ERR(bml_cycler_read(p, cycler_format("arbin_res"), cycler_count, &k, NULL), BML_ERR_PARSE, "byte 4: not an MS Access");
    unlink(p);
    free(p);
    /* the signature alone claims the file */
    memset(junk, 0, sizeof junk);
    memcpy(junk, "\0\1\0\0Standard Jet DB", 19);
    p = write_tmp(junk, sizeof junk);
    CHECK_OK(bml_cycler_detect(p, &f));
    CHECK_INT(f, cycler_format("arbin_res"));
    CHECK(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_count, &k, NULL) != BML_OK); /* no database behind it */
    CHECK(strstr(bml_last_error(), p) != NULL);
    unlink(p);
    free(p);
}

int main(void) {
    static const test_case base[] = {{"sniff", test_sniff}, {"made_up_res", test_made_up}};
    static const test_case shared[] = {
        {"res_mits432_18_cycles", test_cc_mits432},
        {"res_mits700_aux", test_aux_mits700},
        {"res_truncated_damaged", test_truncated},
        {"res_wrong_type_second_test", test_guards},
    };
    return cycler_run_with_files("arbin_res", base, sizeof base / sizeof *base, "arbin", &dir, shared,
                                 sizeof shared / sizeof *shared);
}
