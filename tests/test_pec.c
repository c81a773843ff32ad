/* PEC CSV export (src/data/cycler_pec.c): made-up files (near matches, truncation, several cells, an unknown
 * unit, the capacity cross-check) and the real pec.csv, Test25195.csv and Test25205.csv of
 * ../shared/data/cyclers-more/pec (or $BML_SHARED_DIR/...) against their references (reference/<file>.per_cycle.csv:
 * per cycle the largest of each counter, the current's integral, the rows), skipped with a message (exit 77)
 * without them. Per cycle: each counter's value on the cycle's last row and the summary's capacities (where the
 * summary gives one: it has none for a half whose current never flows) within 1e-9 relative, the integrals
 * within 1e-6 relative, the rows exactly. */
#define _GNU_SOURCE
#include "cycler_test.h"

static char *dir; /* the real files (main) */

static char *tmp_with(const char *text) { return cycler_tmp_text("/tmp/bml_pec_XXXXXX.csv", text); }

#define PRE "Request Year:,2019\nTest:,187\nTestRegime Name:,R1\nTestRegime CellSize:,1500 mAh\nStart Time:,02/22/2019 16:21:35\n" \
            "#RESULTS CHECK\nReqYear,Test,CellNr,Type,Value,Reason,\n2019,187,1,1,3272,3,\n#END RESULTS CHECK\n"
#define HDR "Test,Cell,Rack,Shelf,Position,Cell ID,Step,Cycle,Total Time (Seconds),Real Time,Voltage (mV),Current (mA)," \
            "Charge Capacity (mAh),Discharge Capacity (mAh),Charge Capacity (mWh),Discharge Capacity (mWh),\n"

/* the 2019 layout: units, the counters over the cycle, the cross-check */
static void test_made_up(void) {
    char *p = tmp_with(PRE HDR
                       "187,1,R,001,1,,1,0,0,02/22/2019 16:23:27,3600,1000,0,0,0,0,\n"
                       "187,1,R,001,1,,1,0,1800,02/22/2019 16:53:27,3700,1000,500,0,1800,0,\n"
                       "187,1,R,001,1,,2,0,3600,02/22/2019 17:23:27,3800,1000,1000,0,3700,0,\n"  /* CV: same cycle, counts on */
                       "187,1,R,001,1,,3,0,5400,02/22/2019 17:53:27,3500,-1000,1000,2000,3700,7000,\n" /* 2 Ah for 0.5 h at 1 A */
                       "187,1,R,001,1,,1,1,5401,02/22/2019 17:53:28,3500,0,0,0,0,0,\n");
    cycler_pts s;
    bml_cycler_meta meta;
    cycler_read_detected(p, "pec", &s, &meta);
    CHECK_INT(s.n, 5);
    if (s.n == 5) {
        CHECK_NEAR(s.p[2].charge_ah, 1.0, 1e-12);
        CHECK_NEAR(s.p[2].charge_wh, 3.7, 1e-12);
        CHECK_NEAR(s.p[3].current_a, -1.0, 1e-12);
        CHECK_NEAR(s.p[3].voltage_v, 3.5, 1e-12);
        CHECK_NEAR(s.p[3].discharge_ah, 2.0, 1e-12);
        CHECK_NEAR(s.p[4].charge_ah, 0, 0);
        CHECK_INT(s.p[4].cycle, 1);
        CHECK_INT(s.p[0].line, 11);
        CHECK_NEAR(s.p[1].unix_time - s.p[0].unix_time, 1800, 1e-9);
    }
    CHECK_STR(meta.protocol, "R1");
    CHECK_STR(meta.channel, "R/001/1");
    CHECK_NEAR(meta.nominal_capacity_ah, 1.5, 1e-12);
    bml_cycler_meta_free(&meta);
    free(s.p);
    bml_cycler_summary *sum = NULL;
    CHECK_OK(bml_cycler_summarize(p, BML_CYCLER_AUTO, NULL, &sum));
    if (sum) {
        CHECK_INT(sum->n_cycles, 2);
        CHECK_INT(sum->cycles[0].capacity_check, BML_CYCLER_CHECK_DISCHARGE); /* 2 Ah counted, 0.5 Ah passed */
        CHECK_INT(sum->n_capacity_differs, 1);
    }
    bml_cycler_summary_free(sum);
    unlink(p);
    free(p);
}

static void test_near_and_bad(void) {
    bml_cycler_format f;
    cycler_pts s = {0, 0, NULL};
    char *p = tmp_with(PRE "Test,Cell,Rack,Shelf,Position,Step,Cycle,Total Time (Seconds),Voltage (mV),\n187,1,R,1,1,1,0,0,3600,\n");
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, "nearly pec, but a PEC header (Test,Cell,Rack,Shelf,Position,...) without a Current");
    CHECK_ERR(bml_cycler_read(p, cycler_format("pec"), cycler_keep, &s, NULL), BML_ERR_SCHEMA, ":10: PEC header without a Current column");
    unlink(p);
    free(p);
    p = tmp_with(PRE "no header here\n");
    CHECK_ERR(bml_cycler_detect(p, &f), BML_ERR_SCHEMA, "nearly pec, but a PEC preamble (Request Year:, Test:) but no");
    unlink(p);
    free(p);
    p = tmp_with(PRE HDR "187,1,R,001,1,,1,0,0,02/22/2019 16:23:27,3600,1000,0,0,0,0,\n187,1,R,001,1,,1,0,1");
    CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), BML_ERR_PARSE, ":12: truncated: the last row has 9 of the header's 16");
    unlink(p);
    free(p);
    p = tmp_with(PRE HDR "187,1,R,001,1,,1,0,0,x,3600,1000,0,0,0,0,\n187,2,R,001,2,,1,0,1,x,3600,1000,0,0,0,0,\n");
    CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), BML_ERR_VALUE, ":12: a row of another test or cell");
    unlink(p);
    free(p);
    p = tmp_with(PRE "Test,Cell,Rack,Shelf,Position,Step,Cycle,Total Time (Seconds),Voltage (kV),Current (A),\n");
    CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), BML_ERR_SCHEMA,
              ":10:9: column 'Voltage (kV)': a unit this reader does not know");
    unlink(p);
    free(p);
    p = tmp_with(PRE HDR "187,1,R,001,1,,1,0,0:00:01,x,3600,1000,0,0,0,0,\n");
    CHECK_ERR(bml_cycler_read(p, BML_CYCLER_AUTO, cycler_keep, &s, NULL), BML_ERR_PARSE,
              ":11:9: column 'Total Time (Seconds)': '0:00:01' is not a number");
    unlink(p);
    free(p);
    free(s.p);
}

static void compare_file(const char *name) {
    char *path, *ref;
    if (asprintf(&path, "%s/%s", dir, name) < 0 || asprintf(&ref, "%s/reference/%s.per_cycle.csv", dir, name) < 0) abort();
    cycler_pts s = {0, 0, NULL};
    bml_cycler_meta meta;
    CHECK_OK(bml_cycler_read(path, BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(meta.format, cycler_format("pec"));
    CHECK_INT(meta.n_counter_drops, 0);
    bml_cycler_meta_free(&meta);
    bml_cycler_summary *sum = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &sum));
    FILE *f = fopen(ref, "r");
    CHECK(f != NULL);
    char line[1024];
    size_t r = 0, first = 0;
    double worst = 0, worst_int = 0;
    if (f && sum && fgets(line, sizeof line, f)) {
        long cyc, n;
        double q[6];
        while (fscanf(f, "%ld,%lf,%lf,%lf,%lf,%lf,%lf,%ld", &cyc, &q[0], &q[1], &q[2], &q[3], &q[4], &q[5], &n) == 8) {
            CHECK(r < sum->n_cycles && first + (size_t)n <= s.n);
            if (r >= sum->n_cycles || first + (size_t)n > s.n) break;
            const bml_cycler_cycle *c = &sum->cycles[r];
            const bml_cycler_point *last = &s.p[first + (size_t)n - 1];
            CHECK_INT(c->cycle, cyc);
            CHECK_INT(c->n_points, n);
            CHECK_INT(last->cycle, cyc);
            const double row[4] = {last->charge_ah, last->discharge_ah, last->charge_wh, last->discharge_wh};
            const double cy[6] = {c->charge_ah, c->discharge_ah, c->charge_wh, c->discharge_wh, c->charge_ah_integral,
                                  c->discharge_ah_integral};
            for (int k = 0; k < 6; k++) {
                double tol = k < 4 ? 1e-9 : 1e-6;
                double rel_c = q[k] == 0 ? fabs(cy[k]) : fabs(cy[k] - q[k]) / q[k];
                if (k < 4 && isnan(cy[k])) rel_c = 0; /* no current of that sign: the summary has no capacity there */
                double rel_r = k < 4 ? (q[k] == 0 ? fabs(row[k]) : fabs(row[k] - q[k]) / q[k]) : 0;
                double w = rel_c > rel_r ? rel_c : rel_r;
                if (k < 4 && w > worst) worst = w;
                if (k >= 4 && w > worst_int) worst_int = w;
                if (!(w <= tol)) fprintf(stderr, "  %s cycle %ld column %d: %.10g / %.10g, reference %.10g\n", name, cyc, k, cy[k],
                                         k < 4 ? row[k] : NAN, q[k]);
                CHECK(w <= tol);
            }
            first += (size_t)n;
            r++;
        }
        CHECK_INT(r, sum->n_cycles);
        CHECK_INT(first, s.n);
        CHECK_INT(sum->n_capacity_differs, 0);
    }
    printf("  %s: %zu rows, %zu cycles; worst relative difference: capacities/energies %.2g, integrals %.2g\n", name, s.n, r,
           worst, worst_int);
    if (f) fclose(f);
    bml_cycler_summary_free(sum);
    free(s.p);
    free(path);
    free(ref);
}

static void test_pec_2019(void) { compare_file("pec.csv"); }
static void test_pec_2026_25195(void) { compare_file("Test25195.csv"); }
static void test_pec_2026_25205(void) { compare_file("Test25205.csv"); }

int main(void) {
    static const test_case base[] = {{"made_up", test_made_up}, {"near_and_bad", test_near_and_bad}};
    static const test_case shared[] = {
        {"pec_2019", test_pec_2019}, {"pec_2026_25195", test_pec_2026_25195}, {"pec_2026_25205", test_pec_2026_25205}};
    return cycler_run_with_files("pec", base, sizeof base / sizeof *base, "pec", &dir, shared, sizeof shared / sizeof *shared);
}
