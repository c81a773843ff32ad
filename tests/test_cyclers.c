/* Raw cycler exports: the readers against independent references (BEEP's parse of a Maccor file, the
 * instruments' own cumulative columns), the per-cycle summary on a file with known answers, the dataset
 * built from a folder, and every kind of bad input. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "data/csvread.h"
#include "data/cycler_internal.h"
#include "data/dataset_internal.h"
#include "cycler_test.h"

#define CYC TEST_DATA "/cyclers"
static char tmp[64];

static char *tpath(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* equal within the precision BEEP printed b with: test_time, current and voltage are float32 there, printed
 * as the shortest decimal that reads back as the same float32 */
static int same_f32(double a, double b) { return (float)a == (float)b; }

static void test_maccor_against_beep(void) {
    cycler_pts s = {0};
    bml_cycler_meta m;
    CHECK_OK(bml_cycler_read(CYC "/PredictionDiagnostics_000151_paused.052", BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_INT(m.format, BML_CYCLER_MACCOR);
    CHECK_STR(m.barcode, "00001E");
    CHECK_STR(m.protocol, "PredictionDiagnostics_000151.000");
    CHECK_STR(m.channel, "052");
    CHECK_STR(m.start_time, "10/10/2019");
    bml__csv ref;
    CHECK_OK(bml__csv_read(CYC "/reference/BEEPDatapath_maccor_paused_memloaded.csv", 0, &ref));
    const bml__csv_row *h = &ref.rows[0];
    int col[9];
    const char *names[9] = {"cycle_index",      "step_index",        "test_time",     "current",         "voltage",
                            "charge_capacity", "discharge_capacity", "charge_energy", "discharge_energy"};
    for (int k = 0; k < 9; k++) {
        col[k] = -1;
        for (size_t j = 0; j < h->n_fields; j++)
            if (!strcmp(h->fields[j], names[k])) {
                col[k] = (int)j;
                break; /* BEEP writes date_time twice; these names are unique */
            }
        CHECK(col[k] >= 0);
    }
    CHECK_INT(s.n, ref.n_rows - 1);
    size_t bad = 0;
    for (size_t i = 0; i + 1 < ref.n_rows && i < s.n; i++) {
        const bml__csv_row *r = &ref.rows[i + 1];
        double v[9];
        for (int k = 0; k < 9; k++) v[k] = strtod(r->fields[col[k]], NULL);
        const bml_cycler_point *p = &s.p[i];
        int ok = p->cycle == (long)v[0] && p->step == (long)v[1] && same_f32(p->test_time_s, v[2]) &&
                 same_f32(p->current_a, v[3]) && same_f32(p->voltage_v, v[4]) && fabs(p->charge_ah - v[5]) <= 1e-12 &&
                 fabs(p->discharge_ah - v[6]) <= 1e-12 && fabs(p->charge_wh - v[7]) <= 1e-12 &&
                 fabs(p->discharge_wh - v[8]) <= 1e-12;
        if (!ok && bad++ < 3)
            fprintf(stderr, "  row %zu (line %zu): ours %ld %ld %.9g %.9g %.9g %.10g %.10g %.10g %.10g\n", i, p->line, p->cycle,
                    p->step, p->test_time_s, p->current_a, p->voltage_v, p->charge_ah, p->discharge_ah, p->charge_wh,
                    p->discharge_wh);
    }
    CHECK_INT(bad, 0);
    bml__csv_free(&ref);
    bml_cycler_meta_free(&m);
    free(s.p);
}

/* the Maccor counter restarts at every step and takes its sign from State: two charge steps of one cycle
 * add up (the second starting above where the first ended), a rest adds nothing, the next cycle starts from
 * zero; time also as "Nd HH:MM:SS" */
static void test_maccor_steps_and_day_time(void) {
    const char *hdr = "Today's Date 01/02/2020  Date of Test:\t01/01/2020\t Filename:\tC:\\x.001 Procedure:\tp.000\t"
                      "Comment/Barcode: B7\n"
                      "Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n";
    char *text = bml__sprintf("%s"
                              "1\t1\t1\t0d 00:00:00.00\t0\t0.0\t0.0\t1.0\t3.5\tC\t0\t01/01/2020 10:00:00\n"
                              "2\t1\t1\t0d 00:30:00.00\t1800\t0.05\t0.18\t1.0\t3.7\tC\t0\t01/01/2020 10:30:00\n"
                              "3\t1\t2\t0d 00:30:01.00\t0\t0.1\t0.37\t0.5\t3.8\tC\t0\t01/01/2020 10:30:01\n"
                              "4\t1\t3\t0d 00:30:02.00\t0\t0.0\t0.0\t0.0\t3.6\tR\t0\t01/01/2020 10:30:02\n"
                              "5\t1\t4\t0d 01:00:00.00\t0\t0.1\t0.35\t1.0\t3.6\tD\t0\t01/01/2020 11:00:00\n"
                              "6\t2\t5\t1d 00:00:00.00\t0\t0.02\t0.07\t1.0\t3.5\tD\t0\t01/02/2020 10:00:00\n",
                              hdr);
    write_text(tpath("steps.001"), text);
    free(text);
    cycler_pts s = {0};
    CHECK_OK(bml_cycler_read(tpath("steps.001"), BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    CHECK_INT(s.n, 6);
    if (s.n == 6) {
        CHECK_NEAR(s.p[1].charge_ah, 0.05, 1e-12);
        CHECK_NEAR(s.p[2].charge_ah, 0.15, 1e-12); /* a new charge step (CV after CC) counts from its own zero */
        CHECK_NEAR(s.p[2].charge_wh, 0.55, 1e-12);
        CHECK_NEAR(s.p[3].charge_ah, 0.15, 1e-12); /* a rest adds nothing */
        CHECK_NEAR(s.p[4].discharge_ah, 0.1, 1e-12);
        CHECK_NEAR(s.p[4].current_a, -1.0, 0);      /* sign from State D */
        CHECK_NEAR(s.p[5].discharge_ah, 0.02, 1e-12); /* a new cycle starts from zero */
        CHECK_NEAR(s.p[5].charge_ah, 0.0, 0);
        CHECK_NEAR(s.p[5].test_time_s, 86400.0, 1e-9);
        CHECK_NEAR(s.p[1].unix_time - s.p[0].unix_time, 1800.0, 1e-9);
    }
    free(s.p);
}

/* a newer Maccor export: a preamble of Key:<TAB>value lines (Filename:, Tester Channel:, Procedure:) between the
 * title line and the header; and the shared cellpy file of that layout against its reference (skipped when absent) */
static void test_maccor_preamble(void) {
    write_text(tpath("pre.txt"), "Today's Date:\t14 December 2020\tDate of Test:\t11 December 2020, 12:22:12 PM\n"
                                 "    Filename:\tM50_x\tTester Channel:\t7\n"
                                 "Procedure:\tM50_Validation.000\tDescription:\n"
                                 "Rec#\tCyc#\tStep\tTestTime\tStepTime\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\n"
                                 "1\t0\t1\t  0d 00:00:00.00\t0\t0.0\t0.0\t1.0\t3.5\tC\n"
                                 "2\t0\t1\t  0d 01:00:00.00\t3600\t1.0\t3.6\t1.0\t3.7\tC\n");
    cycler_pts s = {0};
    bml_cycler_meta meta = {0};
    CHECK_OK(bml_cycler_read(tpath("pre.txt"), BML_CYCLER_AUTO, cycler_keep, &s, &meta));
    CHECK_INT(s.n, 2);
    CHECK_STR(meta.channel, "7");
    CHECK_STR(meta.protocol, "M50_Validation.000");
    CHECK_INT(meta.format, BML_CYCLER_MACCOR);
    if (s.n == 2) {
        CHECK_NEAR(s.p[1].charge_ah, 1.0, 1e-12);
        CHECK_INT(s.p[0].line, 5);
    }
    bml_cycler_meta_free(&meta);
    free(s.p);
    const char *shared = BML_SOURCE_DIR "/../shared/data/cyclers-more/maccor/maccor_001.txt";
    if (!bml__is_file(shared)) {
        printf("  skipped: %s absent\n", shared);
        return;
    }
    /* reference/maccor_001.txt.per_cycle.csv: cycle 0, the step sums 17.6236 / 17.36311 Ah, the current's integral
     * 17.59953742 / 17.36306143 Ah, 6704 rows */
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(shared, BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 1) {
        CHECK_INT(y->meta.n_points, 6704);
        CHECK_INT(y->cycles[0].cycle, 0);
        CHECK_NEAR(y->cycles[0].charge_ah, 17.6236, 17.6236 * 1e-6);
        CHECK_NEAR(y->cycles[0].discharge_ah, 17.36311, 17.36311 * 1e-6);
        CHECK_NEAR(y->cycles[0].charge_ah_integral, 17.59953742, 1e-7);
        CHECK_NEAR(y->cycles[0].discharge_ah_integral, 17.36306143, 1e-7);
    } else {
        CHECK(0);
    }
    bml_cycler_summary_free(y);
}

static void test_arbin_against_its_columns(void) {
    bml_cycler_summary *y;
    CHECK_OK(bml_cycler_summarize(CYC "/2017-05-09_test-TC-contact_CH33.csv", BML_CYCLER_AUTO, NULL, &y));
    if (!y) return;
    CHECK_INT(y->meta.format, BML_CYCLER_ARBIN);
    CHECK_STR(y->meta.channel, "32");
    CHECK_STR(y->meta.protocol, "20170509-6C_1C_36CV.sdu");
    CHECK_STR(y->meta.barcode, "EL150800460659");
    CHECK_INT(y->meta.has_cycle_index, 0); /* the file's Cycle_Index fields are empty: one cycle */
    /* the maxima of the file's own cumulative columns */
    bml__csv c;
    CHECK_OK(bml__csv_read(CYC "/2017-05-09_test-TC-contact_CH33.csv", 0, &c));
    double mx[4] = {0, 0, 0, 0};
    int neg = 0;
    for (size_t i = 1; i < c.n_rows; i++) {
        for (int k = 0; k < 4; k++) {
            double v = strtod(c.rows[i].fields[8 + k], NULL);
            if (v > mx[k]) mx[k] = v;
        }
        neg |= strtod(c.rows[i].fields[6], NULL) < 0;
    }
    bml__csv_free(&c);
    CHECK_INT(y->n_cycles, 1);
    if (y->n_cycles == 1) {
        const bml_cycler_cycle *k = &y->cycles[0];
        CHECK_NEAR(k->charge_ah, mx[0], 1e-12);
        CHECK_NEAR(k->charge_wh, mx[2], 1e-12);
        /* the current never goes negative: no discharge rather than the column's 4e-11 */
        CHECK(!neg);
        CHECK(mx[1] < 1e-9);
        CHECK(isnan(k->discharge_ah) && isnan(k->discharge_wh) && isnan(k->coulombic_efficiency));
        CHECK(k->temperature_min_c > 25 && k->temperature_max_c < 28);
        CHECK(isnan(k->resistance_ohm)); /* Internal_Resistance is 0 throughout: not measured */
        CHECK_NEAR(k->start_unix, 1494377253.17, 1e-3);
    }
    bml_cycler_summary_free(y);
}

/* Basytec: per-cycle capacities and energies against the file's own columns. AhAccu holds, at the end of each
 * step that passes current, that step's signed Ah; WhAccu is the net energy since the test began. */
static void test_basytec_against_its_columns(void) {
    const char *path = BML_SOURCE_DIR "/data/lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv";
    bml_cycler_summary *y;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (!y) return;
    CHECK_INT(y->meta.format, BML_CYCLER_BASYTEC);
    CHECK_STR(y->meta.barcode, "LG M50");
    CHECK_STR(y->meta.channel, "MCCD_1252");
    CHECK_STR(y->meta.protocol, "189 - MSM_Rate_C10");
    CHECK_INT(y->meta.n_stop, 2); /* the two closing STO rows */
    /* WhAccu is a net energy (it falls on every discharge), not a counter: its falls are no noise; AhAccu never
     * falls inside a step of this file */
    CHECK_INT(y->meta.n_counter_drops, 0);
    /* expected from the raw rows: per cycle, the sum of |AhAccu| at the last row of each CHA / DCH step, and the
     * rises and falls of WhAccu */
    bml__csv c;
    CHECK_OK(bml__csv_read(path, 15, &c)); /* the header row is line 16 */
    double want[3][4] = {{0}};
    double prev_wh = 0;
    for (size_t i = 2; i < c.n_rows; i++) { /* rows[0] header, rows[1] units */
        char **f = c.rows[i].fields;
        if (!strcmp(f[1], "STO")) continue;
        long cyc = strtol(f[4], NULL, 10);
        if (cyc < 0 || cyc > 2) continue;
        double ah = strtod(f[9], NULL), wh = strtod(f[11], NULL);
        int last_of_step = i + 1 >= c.n_rows || strcmp(c.rows[i + 1].fields[0], f[0]) || strcmp(c.rows[i + 1].fields[4], f[4]);
        if (last_of_step && !strcmp(f[1], "CHA")) want[cyc][0] += fabs(ah);
        if (last_of_step && !strcmp(f[1], "DCH")) want[cyc][1] += fabs(ah);
        if (wh > prev_wh) want[cyc][2] += wh - prev_wh;
        else want[cyc][3] += prev_wh - wh;
        prev_wh = wh;
    }
    bml__csv_free(&c);
    CHECK_INT(y->n_cycles, 3);
    for (size_t k = 1; k < y->n_cycles && k < 3; k++) {
        const bml_cycler_cycle *cy = &y->cycles[k];
        /* the pause after a step shows its Ah once more, up to 3e-5 Ah later (the file's last digit) */
        CHECK_NEAR(cy->charge_ah, want[k][0], 3e-5);
        CHECK_NEAR(cy->discharge_ah, want[k][1], 3e-5);
        CHECK_NEAR(cy->charge_wh, want[k][2], 1e-9);
        CHECK_NEAR(cy->discharge_wh, want[k][3], 1e-9);
    }
    /* the C/10 discharges of a fresh 5 Ah LG M50 */
    if (y->n_cycles == 3) CHECK(y->cycles[1].discharge_ah > 4.9 && y->cycles[2].discharge_ah > 4.9);
    bml_cycler_summary_free(y);
}

/* split a ';' line in place */
static size_t split_semis(char *line, char **f, size_t max) {
    size_t n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ';') *p = 0, f[n++] = p + 1;
    return n;
}

static void test_biologic_against_its_columns(void) {
    bml_cycler_summary *y;
    const char *path = CYC "/test_loopsnewoutput_MB_CE1_short10k.csv";
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (!y) return;
    CHECK_INT(y->meta.format, BML_CYCLER_BIOLOGIC);
    CHECK_STR(y->meta.channel, "E1 (SN 0600)"); /* from the .mpl beside it */
    /* per cycle: Q charge and Q discharge count up within each half cycle; one of each per cycle here */
    double qc[8] = {0}, qd[8] = {0};
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    long nl = 0;
    char *fld[128];
    while (f && getline(&line, &cap, f) > 0) {
        if (nl++ == 0) continue;
        size_t n = split_semis(line, fld, 128);
        if (n < 31) continue;
        long cyc = strtol(fld[14], NULL, 10);
        double c = strtod(fld[29], NULL) / 1000, d = strtod(fld[30], NULL) / 1000;
        if (cyc >= 0 && cyc < 8) {
            if (c > qc[cyc]) qc[cyc] = c;
            if (d > qd[cyc]) qd[cyc] = d;
        }
    }
    free(line);
    if (f) fclose(f);
    CHECK_INT(y->n_cycles, 3);
    for (size_t i = 0; i < y->n_cycles && i < 8; i++) {
        const bml_cycler_cycle *k = &y->cycles[i];
        CHECK_INT(k->cycle, (long)i);
        CHECK_NEAR(k->charge_ah, qc[i], 1e-12);
        if (qd[i] > 0) CHECK_NEAR(k->discharge_ah, qd[i], 1e-12);
        else CHECK(isnan(k->discharge_ah)); /* cycle 2 ends before its discharge */
    }
    CHECK_INT(y->cycles[0].complete, 1);
    CHECK_INT(y->cycles[2].complete, 0);
    /* the charge curve of cycle 1 rises with the voltage */
    const bml_cycler_cycle *k = &y->cycles[1];
    double last = -1;
    int mono = 1, seen = 0;
    for (size_t g = 0; g < y->opts.n_grid; g++)
        if (!isnan(k->charge_curve_ah[g])) {
            mono &= k->charge_curve_ah[g] >= last;
            last = k->charge_curve_ah[g];
            seen++;
        }
    CHECK(mono && seen > 10);
    bml_cycler_summary_free(y);
}

/* The instrument's own per-cycle summary (Qc, Qd of cycle 1) against the time series. The shipped file
 * is BEEP's 4,000-line cut: it ends inside cycle 1's charge, so no cycle in it is complete and the
 * 0.5 % comparison has no cycle to run on; what the cut allows is checked: cycle 1 is marked incomplete,
 * its charge so far stays below the instrument's Qc, and the capacity counter agrees with the integral
 * of the current. */
static void test_novonix_against_instrument_summary(void) {
    const char *path = CYC "/test_Nova_Form-CH01-01_short.csv";
    cycler_pts s = {0};
    bml_cycler_meta m;
    CHECK_OK(bml_cycler_read(path, BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_INT(m.format, BML_CYCLER_NOVONIX);
    CHECK_NEAR(m.nominal_capacity_ah, 0.24, 1e-12);
    CHECK_STR(m.channel, "01");
    CHECK_STR(m.protocol, "XC_Formation_Entree_Test.pro1");
    CHECK_STR(m.start_time, "2022-04-11 10:58:07 AM");
    bml__csv ref;
    CHECK_OK(bml__csv_read(CYC "/reference/test_Nova_Form-CH01-01_short_metadata.csv", 0, &ref));
    double qc_ref = NAN;
    for (size_t j = 0; j < ref.rows[0].n_fields; j++)
        if (!strcmp(ref.rows[0].fields[j], "Qc")) qc_ref = strtod(ref.rows[1].fields[j], NULL);
    bml__csv_free(&ref);
    CHECK_NEAR(qc_ref, 0.0664822211, 1e-12);
    double q_int = 0;
    for (size_t i = 1; i < s.n; i++)
        q_int += 0.5 * (s.p[i].current_a + s.p[i - 1].current_a) * (s.p[i].test_time_s - s.p[i - 1].test_time_s) / 3600.0;
    CHECK(s.n > 3000);
    if (s.n) {
        CHECK_NEAR(s.p[s.n - 1].charge_ah, q_int, 0.01 * q_int);
        CHECK(s.p[s.n - 1].charge_ah < qc_ref);
    }
    bml_cycler_summary *y;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (y) {
        CHECK_INT(y->n_cycles, 1);
        CHECK_INT(y->cycles[0].complete, 0);
        for (size_t i = 0; i < y->n_cycles; i++)
            if (y->cycles[i].complete) CHECK_NEAR(y->cycles[i].charge_ah, qc_ref, 0.005 * qc_ref);
    }
    bml_cycler_summary_free(y);
    bml_cycler_meta_free(&m);
    free(s.p);
}

/* ---- a synthetic Arbin cell with known answers: open-circuit voltage 3.1 + 0.9 q / cap on charge (cap Ah
 * at cap A, a 10-minute pause in the middle), a rest, 0.9 cap Ah of discharge at cap A with 4.0 - q / cap,
 * a rest; an ohmic drop of R = 0.05 Ohm; rows every minute, each counting the charge of the minute before
 * it, and at every change of current a row with the old current at the same instant (as cyclers log step
 * ends); capacity counters cumulative over the whole test, as some Arbin exports are ---- */
typedef struct {
    FILE *f;
    double t, qc, qd, ec, ed, I, ocv;
    long dp;
    int step, cycle, any;
} gen;

static void emit(gen *g, int step, int cycle, double I, double ocv, double temp) {
    const double R = 0.05;
    if (g->any && I != g->I) /* the old step's last row at this instant */
        fprintf(g->f, "%ld,%.3f,%d,%d,%.9f,%.12f,%.12f,%.12f,%.12f,%.12f,%.1f\n", g->dp++, g->t, g->step, g->cycle, g->I,
                ocv + g->I * R, g->qc, g->qd, g->ec, g->ed, temp);
    fprintf(g->f, "%ld,%.3f,%d,%d,%.9f,%.12f,%.12f,%.12f,%.12f,%.12f,%.1f\n", g->dp++, g->t, step, cycle, I, ocv + I * R,
            g->qc, g->qd, g->ec, g->ed, temp);
    g->I = I, g->ocv = ocv, g->step = step, g->cycle = cycle, g->any = 1;
    g->t += 60;
}

static void write_arbin_cell(const char *path, int n_cycles, double fade) {
    gen g = {0};
    g.f = fopen(path, "w");
    if (!g.f) abort();
    fputs("Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),Charge_Capacity(Ah),"
          "Discharge_Capacity(Ah),Charge_Energy(Wh),Discharge_Energy(Wh),Aux_Temperature_1(C)\n",
          g.f);
    for (int c = 1; c <= n_cycles; c++) {
        double cap = 1.0 - fade * (c - 1), dis = 0.9 * cap;
        double q0 = 0;
        for (int k = 0; k <= 70; k++) {
            double I = k > 30 && k <= 40 ? 0 : cap;
            if (k > 0 && g.I != 0) q0 += cap / 60.0, g.qc += cap / 60.0, g.ec += 3.5 * cap / 60.0;
            emit(&g, 1, c, I, 3.1 + 0.9 * q0 / cap, 25.0);
        }
        for (int k = 0; k < 5; k++) emit(&g, 2, c, 0, 4.0, 26.0);
        double q1 = 0;
        for (int k = 0; k <= 54; k++) {
            if (k > 0) q1 += dis / 54.0, g.qd += dis / 54.0, g.ed += 3.4 * dis / 54.0;
            emit(&g, 3, c, -cap, 4.0 - q1 / cap, 27.0);
        }
        emit(&g, 4, c, 0, 4.0 - q1 / cap, 26.0);
    }
    fclose(g.f);
}

static void test_summary_known_answers(void) {
    write_arbin_cell(tpath("known.csv"), 3, 0.05);
    bml_cycler_summary_opts o = bml_cycler_summary_defaults();
    o.v_min = 3.0, o.v_max = 4.0, o.n_grid = 11, o.ir_window_s = 0;
    bml_cycler_summary *y;
    CHECK_OK(bml_cycler_summarize(tpath("known.csv"), BML_CYCLER_AUTO, &o, &y));
    if (!y) return;
    CHECK_INT(y->n_cycles, 3);
    double thr = 0;
    for (size_t i = 0; i < y->n_cycles; i++) {
        const bml_cycler_cycle *k = &y->cycles[i];
        double cap = 1.0 - 0.05 * (double)i;
        CHECK_INT(k->cycle, (long)i + 1);
        CHECK_INT(k->complete, i + 1 < y->n_cycles);
        CHECK_NEAR(k->charge_ah, cap, 1e-9); /* the pause does not break the sum */
        CHECK_NEAR(k->discharge_ah, 0.9 * cap, 1e-9);
        CHECK_NEAR(k->coulombic_efficiency, 0.9, 1e-9);
        CHECK_NEAR(k->energy_efficiency, 0.9 * 3.4 / 3.5, 1e-9);
        thr += 1.9 * cap;
        CHECK_NEAR(k->throughput_ah, thr, 1e-9);
        CHECK_NEAR(k->temperature_min_c, 25, 0);
        CHECK_NEAR(k->temperature_max_c, 27, 0);
        CHECK_NEAR(k->resistance_ohm, 0.05, 1e-6);
        /* charge: V = 3.1 + 0.9 q / cap + 0.05 cap while charging; grid 3.0, 3.1, ..., 4.0 */
        CHECK(isnan(k->charge_curve_ah[0]) && isnan(k->charge_curve_ah[1])); /* below the charge's first voltage */
        CHECK_NEAR(k->charge_curve_ah[5], (3.5 - 3.1 - 0.05 * cap) * cap / 0.9, 1e-9);
        /* discharge: V = 4.0 - q / cap - 0.05 cap; it stops above 3.0 V */
        CHECK_NEAR(k->discharge_curve_ah[5], (0.5 - 0.05 * cap) * cap, 1e-9);
        CHECK(isnan(k->discharge_curve_ah[0]));
        CHECK_NEAR(k->mean_abs_current_a, cap, 1e-9);
    }
    /* written and read back */
    CHECK_OK(bml_cycler_summary_write(y, tmp));
    bml__csv c;
    CHECK_OK(bml__csv_read(tpath("known_cycles.csv"), 0, &c));
    CHECK_INT(c.n_rows, 4);
    if (c.n_rows == 4) {
        CHECK_STR(c.rows[0].fields[9], "discharge_ah");
        CHECK_NEAR(strtod(c.rows[2].fields[9], NULL), 0.9 * 0.95, 1e-9);
    }
    bml__csv_free(&c);
    CHECK_OK(bml__csv_read(tpath("known_curves.csv"), 0, &c));
    CHECK_INT(c.n_rows, 1 + 3 * 11);
    bml__csv_free(&c);
    bml_cycler_summary_free(y);
}

static void test_dataset_and_study(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/lab", tmp);
    CHECK(mkdir(dir, 0777) == 0);
    for (int c = 0; c < 3; c++) {
        char p[256];
        snprintf(p, sizeof p, "%s/cell%d.csv", dir, c + 1);
        write_arbin_cell(p, 6, 0.01 * (c + 1));
    }
    char readme[256];
    snprintf(readme, sizeof readme, "%s/README.md", dir);
    write_text(readme, "# my lab's cells\n");
    bml_dataset *ds;
    size_t dropped = 99;
    CHECK_OK(bml_dataset_load_cycler(dir, BML_CYCLER_AUTO, NULL, NULL, &dropped, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_cells(ds), 3);
    CHECK_INT(bml_dataset_n_rows(ds), 18);
    CHECK_INT(dropped, 0);
    bml_cell_view v;
    bml_dataset_cell(ds, 1, &v);
    CHECK_STR(v.cell_id, "cell2");
    int soh = bml_dataset_column_index(ds, "soh");
    CHECK(soh >= 0);
    if (soh >= 0) CHECK_NEAR(v.values[5 * bml_dataset_n_columns(ds) + (size_t)soh], 1.0 - 5 * 0.02, 1e-9);
    bml_pipeline *p;
    CHECK_OK(bml_pipeline_create("summary_set", NULL, 0, &p));
    bml_samples *s = NULL;
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    CHECK_ERR(bml_dataset_load_cycler(dir, BML_CYCLER_AUTO, NULL, &(bml_cycler_cells){.version = BML_CYCLER_CELLS_VERSION, .soh_reference = "nominal"}, NULL, &ds), BML_ERR_VALUE, "nominal capacity");
    CHECK_ERR(bml_dataset_load_cycler(dir, BML_CYCLER_AUTO, NULL, &(bml_cycler_cells){.version = BML_CYCLER_CELLS_VERSION, .soh_reference = "rated"}, NULL, &ds), BML_ERR_VALUE, "first_cycle or nominal");
    CHECK_ERR(bml_dataset_load_cycler(dir, BML_CYCLER_AUTO, NULL, &(bml_cycler_cells){.version = BML_CYCLER_CELLS_VERSION, .cell_from = "barcode"}, NULL, &ds), BML_ERR_VALUE,
              "cell1.csv: cell_from=barcode but the file gives no barcode");
    CHECK_ERR(bml_dataset_load_cycler(dir, BML_CYCLER_AUTO, NULL, &(bml_cycler_cells){.version = BML_CYCLER_CELLS_VERSION, .cell_from = "name"}, NULL, &ds), BML_ERR_VALUE,
              "cell_from must be file, barcode or channel");
}

/* the slow cycles' measured discharge curves as an ica_peaks dataset: the BioLogic cells cycle at about
 * C/7 (0.34 A on 2.3 Ah), so cycles 0 and 1 (with a discharge) qualify at C/5 and none at C/10 */
static void test_slow_cycle_curves_for_ica(void) {
    const char *path = CYC "/test_loopsnewoutput_MB_CE1_short10k.csv";
    bml_dataset *ds;
    CHECK_OK(bml_dataset_load_cycler_curves(path, BML_CYCLER_AUTO, NULL, 0.2, &(bml_cycler_cells){.version = BML_CYCLER_CELLS_VERSION, .cell_from = "channel"}, &ds));
    if (!ds) return;
    CHECK_INT(bml_dataset_n_curves(ds), 2);
    CHECK_STR(ds->curves[0].cell_id, "E1 (SN 0600)"); /* cell_from=channel: from the .mpl */
    bml_pipeline *p;
    CHECK_OK(bml_pipeline_create("ica_peaks", (bml_kv[]){{"cache", "false"}}, 1, &p));
    bml_samples *s = NULL;
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (s) {
        CHECK_NEAR(s->y[0], 1.0, 0);
        CHECK_NEAR(s->y[1], 2.326586103 / 2.324597681, 1e-8);
        int tot = -1;
        for (size_t j = 0; j < s->n_features; j++)
            if (!strcmp(s->feature_names[j], "total_area_ah")) tot = (int)j;
        CHECK(tot >= 0);
        /* the area under dQ/dV over 3.0-4.2 V: most of the 2.32 Ah discharge */
        if (tot >= 0) CHECK(s->x[tot] > 2.0 && s->x[tot] < 2.33);
    }
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    CHECK_ERR(bml_dataset_load_cycler_curves(path, BML_CYCLER_AUTO, NULL, 0.1, NULL, &ds), BML_ERR_EMPTY, "at most C/10");
}

/* ---- bad input ---- */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) abort();
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static bml_status read_count(const char *path, bml_cycler_format fmt) {
    cycler_pts s = {0};
    bml_status st = bml_cycler_read(path, fmt, cycler_keep, &s, NULL);
    free(s.p);
    return st;
}

static void test_bad_input(void) {
    size_t n;
    char *maccor = slurp(CYC "/PredictionDiagnostics_000151_test.052", &n);
    /* truncated inside a row */
    FILE *f = fopen(tpath("trunc.052"), "wb");
    char *nl = maccor;
    for (int k = 0; k < 12; k++) nl = strchr(nl, '\n') + 1;
    fwrite(maccor, 1, (size_t)(nl - maccor) + 40, f);
    fclose(f);
    CHECK_ERR(read_count(tpath("trunc.052"), BML_CYCLER_AUTO), BML_ERR_PARSE, "trunc.052:13: truncated");
    /* time going backwards: rows 5 and 6 swapped */
    char *l5 = maccor;
    for (int k = 0; k < 6; k++) l5 = strchr(l5, '\n') + 1;
    char *l6 = strchr(l5, '\n') + 1, *l7 = strchr(l6, '\n') + 1;
    f = fopen(tpath("back.052"), "wb");
    fwrite(maccor, 1, (size_t)(l5 - maccor), f);
    fwrite(l6, 1, (size_t)(l7 - l6), f);
    fwrite(l5, 1, (size_t)(l6 - l5), f);
    fputs(l7, f);
    fclose(f);
    CHECK_ERR(read_count(tpath("back.052"), BML_CYCLER_AUTO), BML_ERR_VALUE, "back.052:8:4: time goes backwards");
    /* no current column */
    char *amps = strstr(maccor, "\tAmps\t");
    memcpy(amps, "\tAmpz\t", 6);
    write_text(tpath("noamps.052"), maccor);
    CHECK_ERR(read_count(tpath("noamps.052"), BML_CYCLER_AUTO), BML_ERR_SCHEMA, "noamps.052:2: maccor header without a current column");
    free(maccor);
    /* an Arbin header with Maccor rows */
    write_text(tpath("mixed.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage\n"
                                   "249791\t37\t44\t769267.2400\t14.2500\t0.0191579754\t0.0744874270\n");
    CHECK_ERR(read_count(tpath("mixed.csv"), BML_CYCLER_AUTO), BML_ERR_PARSE, "mixed.csv:2: 1 fields where the arbin header");
    /* an unparsable number names line and column */
    write_text(tpath("nan.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage\n0,0,1,1,1.0,3.5\n1,1,1,1,1.O,3.6\n");
    CHECK_ERR(read_count(tpath("nan.csv"), BML_CYCLER_AUTO), BML_ERR_PARSE, "nan.csv:3:5: column 'Current': '1.O' is not a number");
    /* cycle indices on some rows only */
    write_text(tpath("holes.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage\n0,0,1,1,1.0,3.5\n1,1,1,,1.0,3.6\n");
    CHECK_ERR(read_count(tpath("holes.csv"), BML_CYCLER_AUTO), BML_ERR_PARSE, "holes.csv:3:4");
    /* a cycle index going back */
    write_text(tpath("cycback.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage\n0,0,1,2,1.0,3.5\n1,1,1,1,1.0,3.6\n");
    bml_cycler_summary *y = NULL;
    CHECK_ERR(bml_cycler_summarize(tpath("cycback.csv"), BML_CYCLER_AUTO, NULL, &y), BML_ERR_VALUE,
              "cycback.csv:3: the cycle index goes back from 2 to 1");
    /* header only, empty file, unknown layout */
    write_text(tpath("hdr.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage\n");
    CHECK_ERR(read_count(tpath("hdr.csv"), BML_CYCLER_AUTO), BML_ERR_EMPTY, "no data rows");
    write_text(tpath("empty.csv"), "");
    CHECK_ERR(read_count(tpath("empty.csv"), BML_CYCLER_AUTO), BML_ERR_EMPTY, "empty file");
    write_text(tpath("other.csv"), "a,b,c\n1,2,3\n");
    CHECK_ERR(read_count(tpath("other.csv"), BML_CYCLER_AUTO), BML_ERR_SCHEMA, "known: Arbin CSV");
    CHECK_ERR(read_count(tpath("other.csv"), BML_CYCLER_ARBIN), BML_ERR_SCHEMA, "without a current column");
    /* a Basytec header forced onto a Maccor reader: the Maccor header it expects is not there */
    CHECK(read_count(BML_SOURCE_DIR "/data/lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv", BML_CYCLER_MACCOR) != BML_OK);
    /* a Basytec export cut before its header */
    write_text(tpath("basytec_head.csv"), "Measurement ID,6311\nBattery Name,LG M50\n\n");
    CHECK(read_count(tpath("basytec_head.csv"), BML_CYCLER_BASYTEC) == BML_ERR_EMPTY);
    /* a file of another layout forced onto the Basytec reader: not an export cut before its header */
    CHECK_ERR(read_count(tpath("other.csv"), BML_CYCLER_BASYTEC), BML_ERR_SCHEMA, "other.csv:1: no Basytec header row");
    CHECK_ERR(read_count(tpath("missing.csv"), BML_CYCLER_AUTO), BML_ERR_NOT_FOUND, "no such file");
    bml_cycler_format fm;
    CHECK_ERR(bml_cycler_format_parse("digatron", &fm), BML_ERR_VALUE,
              "valid: auto, arbin, maccor, biologic, novonix, basytec, biologic_mpr, neware, arbin_res, maccor_mactest, pec");
    /* a folder with a file of no known format fails naming it */
    char **files;
    size_t nf;
    CHECK(mkdir(tpath("mixdir"), 0777) == 0);
    write_arbin_cell(tpath("mixdir/a.csv"), 1, 0);
    write_text(tpath("mixdir/b.csv"), "a,b,c\n1,2,3\n");
    CHECK_ERR(bml_cycler_list(tpath("mixdir"), BML_CYCLER_AUTO, &files, &nf, NULL), BML_ERR_SCHEMA, "mixdir/b.csv:1: not a cycler export");
}

/* every real export cut at many places (inside the preamble, the header, a row, a field) either reads or
 * fails with a message naming the file; never a crash (this runs under ASan/UBSan) */
static void test_truncated_everywhere(void) {
    const char *files[] = {"/2017-05-09_test-TC-contact_CH33.csv", "/PredictionDiagnostics_000151_paused.052",
                           "/test_loopsnewoutput_MB_CE1_short10k.csv", "/test_Nova_Form-CH01-01_short.csv"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char src[512];
        snprintf(src, sizeof src, "%s%s", CYC, files[i]);
        size_t n;
        char *text = slurp(src, &n);
        const char *ext = strrchr(files[i], '.');
        char dst[256];
        snprintf(dst, sizeof dst, "%s/cut%s", tmp, ext);
        size_t bad = 0, good = 0;
        uint64_t x = 88172645463325252ULL; /* xorshift: the same cuts every run */
        for (int k = 0; k < 60; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t cut = k < 20 ? (size_t)k * 97 % (n < 4000 ? n : 4000) : (size_t)(x % n);
            FILE *f = fopen(dst, "wb");
            if (!f) abort();
            fwrite(text, 1, cut, f);
            fclose(f);
            bml_cycler_summary *y = NULL;
            bml_status st = bml_cycler_summarize(dst, BML_CYCLER_AUTO, NULL, &y);
            if (st == BML_OK) good++;
            else if (!strstr(bml_last_error(), "/cut")) {
                if (bad++ < 3) fprintf(stderr, "  %s cut at %zu: message without the file: %s\n", files[i], cut, bml_last_error());
            }
            bml_cycler_summary_free(y);
        }
        CHECK_INT(bad, 0);
        (void)good;
        free(text);
    }
}

/* BioLogic exports of some locales: tab-separated, decimal commas, the EC-Lab header block */
static void test_biologic_decimal_comma(void) {
    write_text(tpath("comma.mpt"), "EC-Lab ASCII FILE\nNb header lines : 4\nRun on channel : 3\n"
                                   "mode\ttime/s\tEcell/V\tI/mA\tcycle number\tNs\tQ charge/mA.h\tQ discharge/mA.h\n"
                                   "1\t0\t3,5\t1000\t0\t0\t0\t0\n"
                                   "1\t1800\t3,75\t1000\t0\t0\t500,5\t0\n"
                                   "1\t3600\t3,5\t-1000,0\t0\t1\t0\t400,25\n");
    cycler_pts s = {0};
    bml_cycler_meta m;
    CHECK_OK(bml_cycler_read(tpath("comma.mpt"), BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_INT(s.n, 3);
    CHECK_STR(m.channel, "3");
    if (s.n == 3) {
        CHECK_NEAR(s.p[1].voltage_v, 3.75, 0);
        CHECK_NEAR(s.p[1].charge_ah, 0.5005, 1e-12);
        CHECK_NEAR(s.p[2].current_a, -1.0, 0);
        CHECK_NEAR(s.p[2].discharge_ah, 0.40025, 1e-12);
        CHECK_NEAR(s.p[2].charge_ah, 0.5005, 1e-12);
    }
    bml_cycler_meta_free(&m);
    free(s.p);
}

/* A barcode that cannot be a cell id (it names its fold's model folder) is refused when the data are
 * loaded, naming the file, before anything is fitted (issue 19: it was refused only when the run was
 * written, after every fold trained, without the file's name). */
static void test_cell_id_not_a_folder_name(void) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/barcodes", tmp);
    CHECK(mkdir(dir, 0777) == 0);
    char *txt = NULL;
    size_t len = 0;
    CHECK_OK(bml__read_file(CYC "/PredictionDiagnostics_000151_test.052", &txt, &len));
    char *at = txt ? strstr(txt, "Comment/Barcode: 00001E") : NULL;
    CHECK(at != NULL);
    if (!at) {
        free(txt);
        return;
    }
    const char *bad[] = {"a/b/1E", ".hidde"}; /* as long as the barcode they replace */
    for (int k = 0; k < 2; k++) {
        memcpy(at + strlen("Comment/Barcode: "), bad[k], 6);
        char p[256];
        snprintf(p, sizeof p, "%s/cell%d.052", dir, k);
        FILE *f = fopen(p, "wb");
        CHECK(f && fwrite(txt, 1, len, f) == len);
        if (f) fclose(f);
        bml_dataset *ds = NULL;
        char want[300];
        snprintf(want, sizeof want, "cell%d.052: cell_from=barcode: the barcode '%s' cannot be a cell id: it %s", k, bad[k],
                 k ? "starts with '.'" : "holds a '/'");
        CHECK_ERR(bml_dataset_load_cycler(p, BML_CYCLER_AUTO, NULL, &(bml_cycler_cells){.version = BML_CYCLER_CELLS_VERSION, .cell_from = "barcode"}, NULL, &ds),
                  BML_ERR_VALUE, want);
        CHECK(ds == NULL);
    }
    free(txt);
}

/* values near the largest double: means of temperature, current and resistance stay numbers (their plain
 * sums overflow), a capacity that cannot be a number is an error naming the file and lines */
static void test_huge_values(void) {
    const char *hdr = "Data_Point,Test_Time(s),Step_Index,Cycle_Index,Current(A),Voltage(V),Charge_Capacity(Ah),"
                      "Discharge_Capacity(Ah),Charge_Energy(Wh),Discharge_Energy(Wh),Aux_Temperature_1(C),"
                      "Internal_Resistance(Ohm)\n";
    char text[1024];
    snprintf(text, sizeof text, "%s%s", hdr,
             "0,0,1,1,1e308,3.0,0,0,0,0,1.5e308,1.6e308\n"
             "1,10,1,1,1e308,4.0,1,0,1,0,1.7e308,1.7e308\n"
             "2,20,2,1,-1e308,4.0,1,0,1,0,1.7e308,1.5e308\n"
             "3,30,2,1,-1e308,3.0,1,1,1,1,1.6e308,1.7e308\n"
             "4,40,1,2,1,3.0,1,1,1,1,25,0.1\n");
    write_text(tpath("huge.csv"), text);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(tpath("huge.csv"), BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 2) {
        const bml_cycler_cycle *c = &y->cycles[0];
        CHECK_NEAR(c->temperature_mean_c, 1.625e308, 1e295);
        CHECK_NEAR(c->mean_abs_current_a, 1e308, 1e295);
        CHECK_NEAR(c->resistance_ohm, 1.625e308, 1e295);
        CHECK_NEAR(y->cycles[1].temperature_mean_c, 25, 0); /* the next cycle starts afresh */
    } else {
        CHECK(y && y->n_cycles == 2);
    }
    bml_cycler_summary_free(y);
    /* a voltage swinging across the whole range: the charge curve is still interpolated */
    snprintf(text, sizeof text, "%s%s", hdr, "0,0,1,1,1,-1.7e308,0,0,0,0,,\n1,10,1,1,1,1.7e308,1e308,0,1,0,,\n");
    write_text(tpath("hugev.csv"), text);
    y = NULL;
    CHECK_OK(bml_cycler_summarize(tpath("hugev.csv"), BML_CYCLER_AUTO, NULL, &y));
    if (y && y->n_cycles == 1) CHECK_NEAR(y->cycles[0].charge_curve_ah[0], 5e307, 1e295);
    bml_cycler_summary_free(y);
    /* a counter reset within a cycle that counts on past the largest number */
    snprintf(text, sizeof text, "%s%s", hdr,
             "0,0,1,1,1,3.0,0,0,0,0,,\n1,10,1,1,1,4.0,1.5e308,0,1,0,,\n2,20,2,1,1,4.0,0,0,1,0,,\n3,30,2,1,1,3.0,1.5e308,0,1,1,,\n");
    write_text(tpath("hugeq.csv"), text);
    CHECK_ERR(bml_cycler_summarize(tpath("hugeq.csv"), BML_CYCLER_AUTO, NULL, &y), BML_ERR_VALUE,
              "hugeq.csv:2-5: the charge capacity of cycle 1, counted up over these lines, is larger than the largest number");
    /* a throughput past it over two cycles */
    snprintf(text, sizeof text, "%s%s", hdr,
             "0,0,1,1,1,3.0,0,0,0,0,,\n1,10,1,1,1,4.0,1.5e308,0,1,0,,\n2,20,2,1,-1,4.0,1.5e308,0,1,0,,\n"
             "3,30,2,1,-1,3.0,1.5e308,1.6e308,1,1,,\n4,40,1,2,1,3.0,1.5e308,1.6e308,1,1,,\n");
    write_text(tpath("hugethr.csv"), text);
    CHECK_ERR(bml_cycler_summarize(tpath("hugethr.csv"), BML_CYCLER_AUTO, NULL, &y), BML_ERR_VALUE,
              "hugethr.csv:5: the charge throughput to the end of cycle 1 is larger than the largest number");
    /* test times whose difference is not a number */
    snprintf(text, sizeof text, "%s%s", hdr, "0,-1.5e308,1,1,1,3.0,0,0,0,0,,\n1,1.5e308,1,1,1,4.0,1,0,1,0,,\n");
    write_text(tpath("huget.csv"), text);
    CHECK_ERR(bml_cycler_summarize(tpath("huget.csv"), BML_CYCLER_AUTO, NULL, &y), BML_ERR_VALUE,
              "huget.csv:3: the test time goes from -1.5e+308 s at the start of cycle 1 to 1.5e+308 s");
}

static void count_file(const bml_cycler_structure_file *f, void *user) {
    size_t *k = user;
    k[0]++;
    k[1] += f->n_cycles;
    k[2] += f->n_complete;
    CHECK(f->meta && f->meta->n_points > 0);
}

/* bml_cycler_structure streams the same bytes bml_cycler_summary_write writes from a kept summary */
static void test_structure_streams_the_same(void) {
    CHECK(mkdir(tpath("stlab"), 0777) == 0);
    write_arbin_cell(tpath("stlab/c1.csv"), 4, 0.02);
    write_arbin_cell(tpath("stlab/c2.csv"), 7, 0.01);
    CHECK(mkdir(tpath("stkept"), 0777) == 0);
    bml_cycler_summary_opts o = bml_cycler_summary_defaults();
    o.v_min = 3.0, o.v_max = 4.0, o.n_grid = 23;
    const char *cells[] = {"c1", "c2"};
    for (int i = 0; i < 2; i++) {
        char src[64];
        snprintf(src, sizeof src, "stlab/%s.csv", cells[i]);
        bml_cycler_summary *y = NULL;
        CHECK_OK(bml_cycler_summarize(tpath(src), BML_CYCLER_AUTO, &o, &y));
        if (y) CHECK_OK(bml_cycler_summary_write(y, tpath("stkept")));
        bml_cycler_summary_free(y);
    }
    size_t counts[3] = {0}, n_cells = 0, n_comp = 9;
    CHECK_OK(bml_cycler_structure(tpath("stlab"), BML_CYCLER_AUTO, &o, tpath("stout"), count_file, counts, &n_cells, &n_comp));
    CHECK_INT(n_cells, 2);
    CHECK_INT(n_comp, 0);
    CHECK_INT(counts[0], 2);
    CHECK_INT(counts[1], 11);
    CHECK_INT(counts[2], 9);
    static const char *const suffix[] = {"_cycles.csv", "_curves.csv"};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "stkept/%s%s", cells[i], suffix[k]);
            snprintf(b, sizeof b, "stout/%s%s", cells[i], suffix[k]);
            size_t na, nb;
            char *ta = slurp(tpath(a), &na), *tb = slurp(tpath(b), &nb);
            CHECK(na == nb && na > 0 && !memcmp(ta, tb, na));
            free(ta);
            free(tb);
        }
    /* a bad option is refused before anything is read or made */
    o.n_grid = 1;
    CHECK_ERR(bml_cycler_structure(tpath("stlab"), BML_CYCLER_AUTO, &o, tpath("stout2"), NULL, NULL, NULL, NULL), BML_ERR_VALUE,
              "n_grid >= 2");
    CHECK(access(tpath("stout2"), F_OK) != 0);
}

/* 1 when the folder has an entry whose name starts with prefix */
static int has_entry(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) found = !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return found;
}

static void cancel_after_file(const bml_cycler_structure_file *f, void *user) {
    (void)f;
    *(int *)user = 1;
}

/* the cancel flag of bml_cycler_summary_opts: a read stops inside one file (within 4096 rows), structure
 * between files too, nothing written and no staging folder left */
static void test_structure_cancel(void) {
    CHECK(mkdir(tpath("cancel"), 0777) == 0);
    CHECK(mkdir(tpath("cancel/lab"), 0777) == 0);
    write_arbin_cell(tpath("cancel/lab/a.csv"), 40, 0.001); /* 5,320 rows */
    write_arbin_cell(tpath("cancel/lab/b.csv"), 2, 0.01);
    int flag = 1;
    bml_cycler_summary_opts o = bml_cycler_summary_defaults();
    CHECK(o.cancel == NULL);
    o.cancel = &flag;
    bml_cycler_summary *y = NULL;
    CHECK_ERR(bml_cycler_summarize(tpath("cancel/lab/a.csv"), BML_CYCLER_AUTO, &o, &y), BML_ERR_CANCELLED, "a.csv:4097: cancelled");
    CHECK(y == NULL);
    /* the flag set during the call (here by the callback after the first file): a new folder is not made */
    flag = 0;
    o.cancel = &flag;
    CHECK_ERR(bml_cycler_structure(tpath("cancel/lab"), BML_CYCLER_AUTO, &o, tpath("cancel/out"), cancel_after_file, &flag,
                                   NULL, NULL),
              BML_ERR_CANCELLED, "cancelled before");
    CHECK(access(tpath("cancel/out"), F_OK) != 0);
    CHECK(!has_entry(tpath("cancel"), ".partial-structure"));
    /* an existing folder keeps what it had and gets no staging folder */
    CHECK(mkdir(tpath("cancel/old"), 0777) == 0);
    flag = 0;
    CHECK_ERR(bml_cycler_structure(tpath("cancel/lab"), BML_CYCLER_AUTO, &o, tpath("cancel/old"), cancel_after_file, &flag,
                                   NULL, NULL),
              BML_ERR_CANCELLED, "cancelled");
    CHECK(!has_entry(tpath("cancel/old"), ".partial-structure"));
    CHECK(!has_entry(tpath("cancel/old"), "a_"));
    /* the flag clear: the same call writes both cells */
    flag = 0;
    size_t n_cells = 0;
    CHECK_OK(bml_cycler_structure(tpath("cancel/lab"), BML_CYCLER_AUTO, &o, tpath("cancel/out"), NULL, NULL, &n_cells, NULL));
    CHECK_INT(n_cells, 2);
}

/* found by fuzz/fuzz_cycler.c: each cycle's n_points is the count of its rows (it was never set: always 0) */
static void test_summary_point_counts(void) {
    write_arbin_cell(tpath("counts.csv"), 3, 0.05);
    cycler_pts s = {0};
    CHECK_OK(bml_cycler_read(tpath("counts.csv"), BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    bml_cycler_summary *y;
    CHECK_OK(bml_cycler_summarize(tpath("counts.csv"), BML_CYCLER_AUTO, NULL, &y));
    if (y) {
        CHECK_INT(y->n_cycles, 3);
        size_t total = 0;
        for (size_t i = 0; i < y->n_cycles; i++) {
            size_t n = 0;
            for (size_t k = 0; k < s.n; k++) n += s.p[k].cycle == y->cycles[i].cycle;
            CHECK(n > 0);
            CHECK_INT(y->cycles[i].n_points, n);
            total += y->cycles[i].n_points;
        }
        CHECK_INT(total, y->meta.n_points);
        CHECK_INT(total, s.n);
    }
    bml_cycler_summary_free(y);
    free(s.p);
}

/* found by fuzz/fuzz_cycler.c: a BioLogic time/s with a decimal comma (the locales that write "3,75" for
 * 3.75 write the time so too) was refused as "neither seconds nor a date and time" */
static void test_biologic_decimal_comma_time(void) {
    write_text(tpath("commatime.mpt"), "EC-Lab ASCII FILE\nNb header lines : 3\n"
                                       "time/s\tEcell/V\tI/mA\tQ charge/mA.h\tQ discharge/mA.h\n"
                                       "0,000\t3,5\t1000\t0\t0\n"
                                       "1800,25\t3,75\t1000\t500,5\t0\n"
                                       "3600,5\t3,5\t-1000\t0\t400,25\n");
    cycler_pts s = {0};
    CHECK_OK(bml_cycler_read(tpath("commatime.mpt"), BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    CHECK_INT(s.n, 3);
    if (s.n == 3) {
        CHECK_NEAR(s.p[0].test_time_s, 0, 0);
        CHECK_NEAR(s.p[1].test_time_s, 1800.25, 0);
        CHECK_NEAR(s.p[2].test_time_s, 3600.5, 0);
        CHECK(isnan(s.p[2].unix_time));
    }
    free(s.p);
    s = (cycler_pts){0};
    /* a comma and a point together is not a number */
    write_text(tpath("commatime2.mpt"), "time/s;Ecell/V;I/mA\n0;3,5;1\n1,000.5;3,5;1\n");
    CHECK_ERR(bml_cycler_read(tpath("commatime2.mpt"), BML_CYCLER_BIOLOGIC, cycler_keep, &s, NULL), BML_ERR_PARSE,
              "commatime2.mpt:3:1: column 'time/s': '1,000.5' is neither seconds nor a date and time");
    free(s.p);
}

/* found with fuzz/fuzz_cycler.c's checks: a Novonix run time in hours past DBL_MAX / 3600 became an infinite
 * test time (taken as a time that never goes backwards); a BioLogic .mpl's "Battery capacity : inf A.h" (or
 * 1e999) became an infinite nominal capacity, so SoH against it was 0 */
static bml_status ignore_row(const bml_cycler_point *pt, void *user) {
    (void)pt, (void)user;
    return BML_OK;
}

static void test_infinite_time_and_capacity(void) {
    write_text(tpath("hours.csv"), "[Data]\nDate and Time,Cycle Number,Run Time (h),Current (A),Potential (V),Capacity (Ah)\n"
                                   "2022-04-11 10:58:07,1,0,1,3.5,0\n2022-04-11 10:58:08,1,1e306,1,3.6,0.1\n");
    CHECK_ERR(read_count(tpath("hours.csv"), BML_CYCLER_NOVONIX), BML_ERR_PARSE,
              "hours.csv:4:3: column 'Run Time (h)': '1e306' is too large a time");
    const char *mpl[2] = {"Battery capacity : inf A.h\n", "Battery capacity : 1e999 mA.h\n"};
    for (int k = 0; k < 2; k++) {
        write_text(tpath("infcap.csv"), "time/s;Ecell/V;I/mA;Q discharge/mA.h\n0;3,5;-1000;0\n1;3,4;-1000;0,5\n");
        write_text(tpath("infcap.mpl"), mpl[k]);
        bml_cycler_meta m;
        CHECK_OK(bml_cycler_read(tpath("infcap.csv"), BML_CYCLER_BIOLOGIC, ignore_row, NULL, &m));
        CHECK(isnan(m.nominal_capacity_ah));
        bml_cycler_meta_free(&m);
    }
    /* a finite one is read */
    write_text(tpath("infcap.mpl"), "Battery capacity : 2500 mA.h\n");
    bml_cycler_meta m;
    CHECK_OK(bml_cycler_read(tpath("infcap.csv"), BML_CYCLER_BIOLOGIC, ignore_row, NULL, &m));
    CHECK_NEAR(m.nominal_capacity_ah, 2.5, 1e-12);
    bml_cycler_meta_free(&m);
}

/* found while seeding fuzz/fuzz_cycler.c: an Arbin export with Discharge_Capacity but no Charge_Capacity
 * column (or the energies likewise) read every discharge as NaN: the rule "no capacity column: NaN" took
 * the charge column's absence for both */
static void test_discharge_without_charge_column(void) {
    write_text(tpath("dis_only.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage,Discharge_Capacity,"
                                      "Discharge_Energy\n0,0,1,1,-1,4.0,0,0\n1,1800,1,1,-1,3.8,0.5,1.95\n"
                                      "2,3600,1,1,-1,3.6,1.0,3.8\n");
    cycler_pts s = {0};
    CHECK_OK(bml_cycler_read(tpath("dis_only.csv"), BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    CHECK_INT(s.n, 3);
    if (s.n == 3) {
        CHECK_NEAR(s.p[2].discharge_ah, 1.0, 1e-12);
        CHECK_NEAR(s.p[2].discharge_wh, 3.8, 1e-12);
        CHECK(isnan(s.p[2].charge_ah) && isnan(s.p[2].charge_wh)); /* not logged */
    }
    free(s.p);
    /* and the other way round */
    write_text(tpath("ch_only.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage,Charge_Capacity\n"
                                     "0,0,1,1,1,3.6,0\n1,1800,1,1,1,3.8,0.5\n");
    s = (cycler_pts){0};
    CHECK_OK(bml_cycler_read(tpath("ch_only.csv"), BML_CYCLER_AUTO, cycler_keep, &s, NULL));
    CHECK_INT(s.n, 2);
    if (s.n == 2) CHECK(s.p[1].charge_ah == 0.5 && isnan(s.p[1].discharge_ah) && isnan(s.p[1].charge_wh));
    free(s.p);
}

/* found by fuzz/fuzz_cycler.c's check: a cycle index beyond int became a wrapped curve index (rpt) in the
 * curves dataset (cycle 4294967297 was curve 1) */
static void test_curve_cycle_beyond_int(void) {
    write_text(tpath("bigcyc.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage,Charge_Capacity,"
                                    "Discharge_Capacity\n0,0,1,4294967297,-1,4.0,0,0\n1,1800,1,4294967297,-1,3.8,0,0.5\n"
                                    "2,3600,1,4294967297,-1,3.6,0,1.0\n");
    bml_dataset *ds = NULL;
    CHECK_ERR(bml_dataset_load_cycler_curves(tpath("bigcyc.csv"), BML_CYCLER_AUTO, NULL, 1.0, NULL, &ds), BML_ERR_VALUE,
              "bigcyc.csv:2: cycle 4294967297 is out of range");
    CHECK(ds == NULL);
    bml_dataset_free(ds);
    /* the row-per-cycle dataset keeps it (as a number) */
    CHECK_OK(bml_dataset_load_cycler(tpath("bigcyc.csv"), BML_CYCLER_AUTO, NULL, NULL, NULL, &ds));
    if (ds) CHECK_NEAR(ds->cells[0].values[BML__OX_SET], 4294967297.0, 0);
    bml_dataset_free(ds);
}

/* found while reading the splitter for fuzz/fuzz_cycler.c: with a format forced (detection refuses NUL
 * bytes), a NUL in a row split it like a delimiter, so "1800<NUL>1" read as two fields */
static void test_nul_bytes_forced_format(void) {
    const char text[] = "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage\n0,0,1,1,1.0,3.5\n1,1800\0001,1,1.0,3.6\n";
    FILE *f = fopen(tpath("nul.csv"), "wb");
    if (!f) abort();
    fwrite(text, 1, sizeof text - 1, f);
    fclose(f);
    CHECK_ERR(read_count(tpath("nul.csv"), BML_CYCLER_ARBIN), BML_ERR_PARSE, "nul.csv:3: binary data (NUL bytes)");
    CHECK_ERR(read_count(tpath("nul.csv"), BML_CYCLER_AUTO), BML_ERR_PARSE, "nul.csv:3: binary data (NUL bytes)");
}

/* issue 21: the formats are one registry; names, the parse, the "not a known format" list and what a near
 * match lacked all come from it */
static void test_format_registry(void) {
    size_t n = bml_cycler_format_count();
    CHECK(n >= 5);
    CHECK_STR(bml_cycler_format_name(BML_CYCLER_ARBIN), "arbin");
    CHECK_STR(bml_cycler_format_name(BML_CYCLER_BASYTEC), "basytec");
    CHECK_STR(bml_cycler_format_name((bml_cycler_format)(n + 1)), "?");
    CHECK(bml_cycler_format_describe((bml_cycler_format)(n + 1)) == NULL);
    for (size_t i = 1; i <= n; i++) {
        bml_cycler_format f = (bml_cycler_format)i, back = BML_CYCLER_AUTO;
        CHECK_OK(bml_cycler_format_parse(bml_cycler_format_name(f), &back));
        CHECK_INT(back, (int)i);
        CHECK(bml_cycler_format_describe(f) && *bml_cycler_format_describe(f));
        CHECK(bml_cycler_format_counters(f) && *bml_cycler_format_counters(f));
    }
    /* the message lists every registered format by name */
    write_text(tpath("reg_other.csv"), "a,b,c\n1,2,3\n");
    bml_cycler_format f;
    CHECK_ERR(bml_cycler_detect(tpath("reg_other.csv"), &f), BML_ERR_SCHEMA, "[basytec]");
    for (size_t i = 1; i <= n; i++) {
        char want[64];
        snprintf(want, sizeof want, "[%s]", bml_cycler_format_name((bml_cycler_format)i));
        CHECK(strstr(bml_last_error(), want) != NULL);
    }
    /* a near match says what it lacked */
    write_text(tpath("reg_near.csv"), "Data_Point,Time,Current,Voltage\n0,0,1,3.5\n");
    CHECK_ERR(bml_cycler_detect(tpath("reg_near.csv"), &f), BML_ERR_SCHEMA, "nearly arbin, but a Data_Point column but no "
                                                                            "Test_Time column");
    write_text(tpath("reg_near.mpt"), "mode\ttime/s\tI/mA\n1\t0\t1\n");
    CHECK_ERR(bml_cycler_detect(tpath("reg_near.mpt"), &f), BML_ERR_SCHEMA, "nearly biologic, but a time/s column but no "
                                                                            "Ecell/V or Ewe/V column");
}

/* bml_cycler_detect's whole message on a file no format claims, built from the registry's names and help
 * lines: "<where>: <what> (known: <help> [<name>]; ...<nearly>)<tail>" */
static void check_whole_message(const char *path, bml_status want, const char *where_what, const char *nearly,
                                const char *tail) {
    char *list = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&list, &len);
    if (!m) abort();
    for (size_t i = 1; i <= bml_cycler_format_count(); i++)
        fprintf(m, "%s%s [%s]", i > 1 ? "; " : "", bml_cycler_format_describe((bml_cycler_format)i),
                bml_cycler_format_name((bml_cycler_format)i));
    fclose(m);
    char *expected = NULL;
    if (asprintf(&expected, "%s:%s (known: %s%s)%s", path, where_what, list, nearly, tail) < 0) abort();
    bml_cycler_format f = BML_CYCLER_AUTO;
    CHECK_INT(bml_cycler_detect(path, &f), want);
    CHECK_STR(bml_last_error(), expected);
    free(expected);
    free(list);
}

/* every registered sniffer on the head of a file: the same score whether the caller wants the why or not
 * (why NULL), and a why given exactly where the score is a near match, as the message has it */
static void check_sniffers(const unsigned char *head, size_t n, const char *path, const char *nearly) {
    for (size_t i = 1; i <= bml_cycler_format_count(); i++) {
        const bml__cycler_format_def *d = bml__cycler_format_def_of((bml_cycler_format)i);
        const char *why = NULL;
        int k = d->sniff(head, n, path, &why), k_null = d->sniff(head, n, path, NULL);
        CHECK_INT(k, k_null);
        CHECK(k < BML__SNIFF_MATCH);
        char *part = NULL;
        if (asprintf(&part, "; nearly %s, but ", d->name) < 0) abort();
        int in_message = strstr(nearly, part) != NULL;
        CHECK_INT(k > 0 && why != NULL, in_message);
        if (in_message && why) CHECK(strstr(nearly, why) != NULL);
        free(part);
    }
}

/* the "nearly X, but ..." part of the message, whole and in the registry's order, from each format that nearly
 * matched: a text file three text formats nearly claim, and a binary file named .res two binary formats nearly
 * claim (the sniffers say what a near match lacks in the same pass that scores it; each sniffer called
 * directly, with and without a why) */
static void test_near_match_message(void) {
    static const char text[] = "Step,Data_Point,time/s\n1,2,3\n";
    static const char text_nearly[] = "; nearly arbin, but a Data_Point column but no Test_Time column"
                                      "; nearly biologic, but a time/s column but no Ecell/V or Ewe/V column"
                                      "; nearly basytec, but a Step,... header row without an AhAccu column";
    write_text(tpath("near3.csv"), text);
    check_whole_message(tpath("near3.csv"), BML_ERR_SCHEMA, "1: not a cycler export of a known format", text_nearly,
                        "; force one with data.format=");
    check_sniffers((const unsigned char *)text, sizeof text - 1, tpath("near3.csv"), text_nearly);
    static const unsigned char bin[] = "BIO-LOGIC title\n\0\0\1";
    static const char bin_nearly[] = "; nearly biologic_mpr, but a BIO-LOGIC title but not the modular file's magic"
                                     "; nearly arbin_res, but a binary .res file without the MS Access (Jet) signature "
                                     "at byte 4 (\"Standard Jet DB\")";
    FILE *f = fopen(tpath("near2.res"), "wb");
    if (!f) abort();
    fwrite(bin, 1, sizeof bin - 1, f);
    fclose(f);
    check_whole_message(tpath("near2.res"), BML_ERR_PARSE,
                        "2: binary data (NUL bytes), not a text export, and no binary format matched", bin_nearly, "");
    check_sniffers(bin, sizeof bin - 1, tpath("near2.res"), bin_nearly);
}

/* issue 21: EC-Lab's own text export (.mpt) as EC-Lab 11 writes it (tests/data/cyclers/ec-lab/, written by
 * its make_mpt.py): the header line's trailing tab, decimal commas in every column, Windows-1252 names,
 * I/mA or <I>/mA, Q charge/discharge (signed, per half cycle), (Q-Qo), half cycle, the technique on line 4,
 * an OCV file without a current column. Each file failed on the old reader ("N fields where the biologic
 * header has N+1", or "without a current column"). */
#define ECLAB CYC "/ec-lab"
static void check_mpt_cycles(const char *path, size_t n_rows, size_t n_cycles, const double *qc, const double *qd) {
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
    if (!y) return;
    CHECK_INT(y->meta.format, BML_CYCLER_BIOLOGIC);
    CHECK_INT(y->meta.n_points, n_rows);
    CHECK_INT(y->n_cycles, n_cycles);
    for (size_t i = 0; i < y->n_cycles && i < n_cycles; i++) {
        CHECK_NEAR(y->cycles[i].charge_ah, qc[i], 1e-9);
        CHECK_NEAR(y->cycles[i].discharge_ah, qd[i], 1e-9);
    }
    bml_cycler_summary_free(y);
}

static void test_eclab_mpt_as_written(void) {
    /* GCPL, 2 cycles at 1 A, rows every 600 s: charge 5 and 6 intervals, discharge 5 and 4 (right-endpoint) */
    const double qc[2] = {3000.0 / 3600, 1.0}, qd[2] = {3000.0 / 3600, 2400.0 / 3600};
    check_mpt_cycles(ECLAB "/gcpl_comma.mpt", 21, 2, qc, qd);
    check_mpt_cycles(ECLAB "/gcpl_point.mpt", 21, 2, qc, qd);
    cycler_pts s = {0};
    bml_cycler_meta m;
    CHECK_OK(bml_cycler_read(ECLAB "/gcpl_comma.mpt", BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_STR(m.protocol, "Galvanostatic Cycling with Potential Limitation");
    CHECK_STR(m.channel, "2 (SN 12345)");
    CHECK_NEAR(m.nominal_capacity_ah, 1.0, 0); /* "Battery capacity : 1,000 A.h" */
    CHECK_INT(m.n_counter_drops, 0);
    if (s.n == 21) {
        CHECK_INT(s.p[0].line, 36);
        CHECK_NEAR(s.p[1].test_time_s, 600, 0);
        CHECK_NEAR(s.p[1].current_a, 1.0, 0);
        CHECK_NEAR(s.p[1].voltage_v, 3.7, 1e-12);
        CHECK_NEAR(s.p[6].current_a, -1.0, 0);
        CHECK_NEAR(s.p[6].charge_wh, 3.25, 1e-9);
        /* the wall clock: "Acquisition started on : 03/15/2024 10:30:53.000" + time/s */
        CHECK_NEAR(s.p[1].unix_time, 1710498653.0 + 600, 1e-6);
    }
    CHECK_STR(m.start_time, "03/15/2024 10:30:53.000");
    bml_cycler_meta_free(&m);
    free(s.p);
    /* Modulo Bat: rest, CC, CV charge (one half cycle over two sequences), CC discharge and a rest in which
     * Q discharge dips by 1e-7 mA.h twice: held, counted, never taken for a reset (the old rule added the
     * whole discharge again at each dip: 3x) */
    const double mc[1] = {0.25 + 0.025}, md[1] = {8 * 300 * 0.5 / 3600};
    check_mpt_cycles(ECLAB "/modulo_bat.mpt", 25, 1, mc, md);
    s = (cycler_pts){0};
    CHECK_OK(bml_cycler_read(ECLAB "/modulo_bat.mpt", BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_STR(m.protocol, "Modulo Bat");
    CHECK_INT(m.n_counter_drops, 2);
    CHECK_NEAR(m.counter_drop_max, 1e-10, 1e-14); /* 1e-7 mA.h */
    for (size_t i = 1; i < s.n; i++) CHECK(s.p[i].discharge_ah >= s.p[i - 1].discharge_ah);
    bml_cycler_meta_free(&m);
    free(s.p);
    /* Chronopotentiometry with (Q-Qo) alone: its rises are charge, its falls discharge */
    const double pc[1] = {4 * 60 * 0.2 / 3600}, pd[1] = {5 * 60 * 0.2 / 3600};
    check_mpt_cycles(ECLAB "/cp_comma.mpt", 10, 1, pc, pd);
    /* Open Circuit Voltage: no current column, a rest */
    s = (cycler_pts){0};
    CHECK_OK(bml_cycler_read(ECLAB "/ocv_comma.mpt", BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_INT(s.n, 11);
    CHECK_STR(m.protocol, "Open Circuit Voltage");
    for (size_t i = 0; i < s.n; i++) CHECK(s.p[i].current_a == 0);
    if (s.n == 11) {
        CHECK_NEAR(s.p[10].test_time_s, 600, 0);
        CHECK_NEAR(s.p[10].voltage_v, 3.59, 1e-12);
        CHECK_NEAR(s.p[10].temperature_c, 26.0, 1e-9); /* "T/\xb0C", Windows-1252 */
    }
    bml_cycler_meta_free(&m);
    free(s.p);
    /* a technique that passes current, without a current column, is still an error */
    write_text(tpath("nocur.mpt"), "EC-Lab ASCII FILE\r\nNb header lines : 5\r\n\r\nModulo Bat\r\n"
                                   "mode\ttime/s\tEwe/V\t\r\n1\t0\t3,5\r\n");
    CHECK_ERR(read_count(tpath("nocur.mpt"), BML_CYCLER_AUTO), BML_ERR_SCHEMA, "nocur.mpt:5: biologic header without a current column");
}

/* issue 21: a counter that falls inside a span where the instrument does not restart it is noise: the
 * running maximum is held and the fall counted (the old rule took it for a reset and added the whole value
 * again); a fall where the vendor restarts (a Maccor step) is still a restart */
static void test_counter_falls_are_noise(void) {
    const char *hdr = "Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n";
    char *text = bml__sprintf("%s"
                              "1\t1\t1\t0\t0\t0.0\t0.0\t1.0\t3.5\tC\t0\t01/01/2020 10:00:00\n"
                              "2\t1\t1\t1800\t1800\t0.5\t1.8\t1.0\t3.7\tC\t0\t01/01/2020 10:30:00\n"
                              "3\t1\t1\t1801\t1801\t0.4999999\t1.8\t1.0\t3.7\tC\t0\t01/01/2020 10:30:01\n"
                              "4\t1\t1\t3600\t3600\t1.0\t3.7\t1.0\t3.8\tC\t0\t01/01/2020 11:00:00\n"
                              "5\t1\t2\t3601\t0\t0.0\t0.0\t1.0\t3.6\tD\t0\t01/01/2020 11:00:01\n"
                              "6\t1\t2\t5400\t1800\t0.5\t1.7\t1.0\t3.4\tD\t0\t01/01/2020 11:30:00\n",
                              hdr);
    write_text(tpath("dip.001"), text);
    free(text);
    cycler_pts s = {0};
    bml_cycler_meta m;
    CHECK_OK(bml_cycler_read(tpath("dip.001"), BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_INT(s.n, 6);
    if (s.n == 6) {
        CHECK_NEAR(s.p[2].charge_ah, 0.5, 1e-12); /* held, not 0.5 + 0.4999999 */
        CHECK_NEAR(s.p[3].charge_ah, 1.0, 1e-12);
        CHECK_NEAR(s.p[5].discharge_ah, 0.5, 1e-12); /* the step's restart at 0 */
    }
    CHECK_INT(m.n_counter_drops, 1);
    CHECK_NEAR(m.counter_drop_max, 1e-7, 1e-15);
    bml_cycler_meta_free(&m);
    free(s.p);
    /* Arbin: a dip of a discharge counter inside a step (1e-13 during charge, as in real .res files) */
    write_text(tpath("dip.csv"), "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage,Charge_Capacity,Discharge_Capacity\n"
                                 "1,0,1,1,1.0,3.5,0,1e-13\n2,10,1,1,1.0,3.6,0.1,0\n3,20,1,1,1.0,3.7,0.2,1e-13\n"
                                 "4,30,2,1,-1.0,3.6,0.2,0.1\n5,40,2,1,-1.0,3.5,0.2,0.0999\n6,50,2,1,-1.0,3.4,0.2,0.2\n");
    s = (cycler_pts){0};
    CHECK_OK(bml_cycler_read(tpath("dip.csv"), BML_CYCLER_AUTO, cycler_keep, &s, &m));
    if (s.n == 6) {
        CHECK_NEAR(s.p[5].charge_ah, 0.2, 1e-12);
        CHECK_NEAR(s.p[5].discharge_ah, 0.2, 1e-12); /* old rule: 1e-13 + 1e-13 + 0.1 + 0.0999 + ... */
    }
    CHECK_INT(m.n_counter_drops, 2);
    bml_cycler_meta_free(&m);
    free(s.p);
}

/* issue 21: every cycle's capacity against the integral of its current (right-endpoint rule); a cycle that
 * differs by more than 2 % and 1e-4 Ah is marked (capacity_check, the cycles CSV) and named in a warning */
static const char *seen_warning;
static char warning_copy[1024];
static void keep_warning(const bml_cycler_structure_file *f, void *user) {
    (void)user;
    seen_warning = f->capacity_warning ? warning_copy : NULL;
    if (f->capacity_warning) snprintf(warning_copy, sizeof warning_copy, "%s", f->capacity_warning);
}

static void test_capacity_cross_check(void) {
    /* 1 A for 10 intervals of 360 s: 1 Ah by the integral, in every cycle */
    const char *hdr = "Data_Point,Test_Time,Step_Index,Cycle_Index,Current,Voltage,Charge_Capacity,Discharge_Capacity\n";
    bml__sb b = {0};
    bml__sb_str(&b, hdr);
    bml__sb_str(&b, "0,0,1,1,0,3.7,0,0\n"); /* the start */
    /* counters: cycle 1 agrees; cycle 2's charge counter says 1.05 Ah (5 %: differs); cycle 3's discharge
     * says 1.015 Ah (1.5 %: within); cycle 4 is 0.001 Ah with a counter at 0.00105 (5 % but 5e-5 Ah: within) */
    const double qc_end[4] = {1.0, 1.05, 1.0, 0.001}, qd_end[4] = {1.0, 1.0, 1.015, 0.001};
    const double amps[4] = {1, 1, 1, 0.001};
    double t = 0;
    int row = 1;
    for (int c = 0; c < 4; c++) {
        for (int half = 0; half < 2; half++)
            for (int k = 1; k <= 10; k++) {
                t += 360;
                double i = half ? -amps[c] : amps[c];
                double qc = half ? qc_end[c] : qc_end[c] * k / 10, qd = half ? qd_end[c] * k / 10 : 0;
                bml__sb_fmt(&b, "%d,%.3f,%d,%d,%g,%.3f,%.10g,%.10g\n", row++, t, half + 1, c + 1, i, 3.7, qc, qd);
            }
    }
    bml__sb_put(&b, "", 1);
    write_text(tpath("xcheck.csv"), b.buf);
    free(b.buf);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(tpath("xcheck.csv"), BML_CYCLER_AUTO, NULL, &y));
    if (!y) return;
    CHECK_INT(y->n_cycles, 4);
    if (y->n_cycles == 4) {
        CHECK_NEAR(y->cycles[0].charge_ah_integral, 1.0, 1e-12);
        CHECK_NEAR(y->cycles[0].discharge_ah_integral, 1.0, 1e-12);
        CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_OK);
        CHECK_INT(y->cycles[1].capacity_check, BML_CYCLER_CHECK_CHARGE);
        CHECK_INT(y->cycles[2].capacity_check, BML_CYCLER_CHECK_OK);
        CHECK_INT(y->cycles[3].capacity_check, BML_CYCLER_CHECK_OK);
    }
    CHECK_INT(y->n_capacity_differs, 1);
    CHECK(y->capacity_warning && strstr(y->capacity_warning, "xcheck.csv: 1 cycle(s)") &&
          strstr(y->capacity_warning, "cycle 2 (line 23) charge 1.05 Ah vs 1 Ah"));
    CHECK_OK(bml_cycler_summary_write(y, tmp));
    bml_cycler_summary_free(y);
    bml__csv c;
    CHECK_OK(bml__csv_read(tpath("xcheck_cycles.csv"), 0, &c));
    int col = -1;
    for (size_t j = 0; j < c.rows[0].n_fields; j++)
        if (!strcmp(c.rows[0].fields[j], "capacity_check")) col = (int)j;
    CHECK(col >= 0 && c.n_rows == 5);
    if (col >= 0 && c.n_rows == 5) {
        CHECK_STR(c.rows[1].fields[col], "ok");
        CHECK_STR(c.rows[2].fields[col], "charge");
        CHECK_STR(c.rows[3].fields[col], "ok");
    }
    bml__csv_free(&c);
    /* structure says it after the file */
    seen_warning = NULL;
    CHECK_OK(bml_cycler_structure(tpath("xcheck.csv"), BML_CYCLER_AUTO, NULL, tpath("xcheck_out"), keep_warning, NULL, NULL, NULL));
    CHECK(seen_warning && strstr(seen_warning, "cycle 2 (line 23)"));
    /* where the counters are the instrument's own definitions, nothing fires: the EC-Lab files (the old
     * counter rule tripled modulo_bat's discharge, which this check then named) */
    static const char *const mpt[] = {"gcpl_comma.mpt", "gcpl_point.mpt", "modulo_bat.mpt", "cp_comma.mpt"};
    for (size_t k = 0; k < sizeof mpt / sizeof *mpt; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", ECLAB, mpt[k]);
        CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
        if (!y) continue;
        CHECK_INT(y->n_capacity_differs, 0);
        CHECK(y->capacity_warning == NULL);
        for (size_t i = 0; i < y->n_cycles; i++) CHECK_INT(y->cycles[i].capacity_check, BML_CYCLER_CHECK_OK);
        bml_cycler_summary_free(y);
    }
    /* nothing to compare: an OCV rest */
    CHECK_OK(bml_cycler_summarize(ECLAB "/ocv_comma.mpt", BML_CYCLER_AUTO, NULL, &y));
    if (y) CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_NONE);
    bml_cycler_summary_free(y);
}

/* ---- BioLogic .mpr (src/data/cycler_mpr.c) ---- */

/* a small .mpr of our own: a v2 module header (EC-Lab >= 11.50), data module version 2, columns flags,
 * Ns, time/s, Ewe/V, I/mA, cycle number, Q charge/discharge/mA.h, half cycle; n rows of a 1 A charge then
 * discharge, 60 s apart. Returns the file's size. */
static void put_u32(unsigned char *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static size_t write_mpr(const char *path, int n) {
    static const unsigned ids[] = {1, 131, 4, 6, 8, 24, 211, 212};
    const size_t nc = sizeof ids / sizeof *ids, rec = 1 + 2 + 8 + 4 + 4 + 8 + 8 + 4;
    size_t data_len = 405 + (size_t)n * rec, total = 52 + (6 + 59 + 8) + (6 + 59 + data_len);
    unsigned char *b = calloc(1, total);
    if (!b) abort();
    memcpy(b, "BIO-LOGIC MODULAR FILE\x1a", 23);
    memset(b + 23, ' ', 48 - 23);
    size_t o = 52;
    /* a settings module of 8 bytes */
    memcpy(b + o, "MODULE", 6), memcpy(b + o + 6, "VMP Set   ", 10), memcpy(b + o + 16, "VMP settings", 12);
    put_u32(b + o + 6 + 35, 0xFFFFFFFFu), put_u32(b + o + 6 + 39, 8), memcpy(b + o + 6 + 51, "03/15/24", 8);
    o += 6 + 59 + 8;
    memcpy(b + o, "MODULE", 6), memcpy(b + o + 6, "VMP data  ", 10), memcpy(b + o + 16, "VMP data", 8);
    put_u32(b + o + 6 + 35, 0xFFFFFFFFu), put_u32(b + o + 6 + 39, (uint32_t)data_len), put_u32(b + o + 6 + 43, 2);
    unsigned char *d = b + o + 6 + 59;
    put_u32(d, (uint32_t)n);
    d[4] = (unsigned char)nc;
    for (size_t i = 0; i < nc; i++) d[5 + 2 * i] = (unsigned char)(ids[i] & 0xff), d[6 + 2 * i] = (unsigned char)(ids[i] >> 8);
    double q = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *r = d + 405 + (size_t)i * rec;
        int dis = i >= n / 2;
        double t = 60.0 * i;
        float v = dis ? 4.0f - 0.01f * (float)i : 3.5f + 0.01f * (float)i, cur = dis ? -1000.0f : 1000.0f;
        if (i == n / 2) q = 0; /* a new half cycle */
        q += i ? cur * 60.0 / 3600.0 : 0;
        double cyc = 0;
        uint16_t ns = (uint16_t)dis;
        uint32_t half = (uint32_t)dis;
        r[0] = (unsigned char)(1 | (dis ? 0 : 4));
        memcpy(r + 1, &ns, 2), memcpy(r + 3, &t, 8), memcpy(r + 11, &v, 4), memcpy(r + 15, &cur, 4);
        memcpy(r + 19, &cyc, 8), memcpy(r + 27, &q, 8), memcpy(r + 35, &half, 4);
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(b, 1, total, f);
    fclose(f);
    free(b);
    return total;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(b, 1, n, f);
    fclose(f);
}

static void test_mpr_synthetic_and_corrupt(void) {
    size_t size = write_mpr(tpath("syn.mpr"), 20);
    bml_cycler_format f;
    CHECK_OK(bml_cycler_detect(tpath("syn.mpr"), &f));
    CHECK_STR(bml_cycler_format_name(f), "biologic_mpr");
    cycler_pts s = {0};
    bml_cycler_meta m;
    CHECK_OK(bml_cycler_read(tpath("syn.mpr"), BML_CYCLER_AUTO, cycler_keep, &s, &m));
    CHECK_INT(s.n, 20);
    CHECK_STR(m.start_time, "03/15/24");
    if (s.n == 20) {
        CHECK_NEAR(s.p[5].test_time_s, 300, 0);
        CHECK_NEAR(s.p[5].voltage_v, (double)(3.5f + 0.05f), 0);
        CHECK_NEAR(s.p[5].current_a, 1.0, 0);
        CHECK_NEAR(s.p[9].charge_ah, 9 * 60.0 / 3600, 1e-12);
        CHECK_NEAR(s.p[19].current_a, -1.0, 0);
        CHECK_NEAR(s.p[19].discharge_ah, 10 * 60.0 / 3600, 1e-12);
        CHECK_INT(s.p[19].step, 1);
    }
    bml_cycler_meta_free(&m);
    free(s.p);
    bml_cycler_summary *y = NULL;
    CHECK_OK(bml_cycler_summarize(tpath("syn.mpr"), BML_CYCLER_AUTO, NULL, &y));
    if (y) CHECK_INT(y->cycles[0].capacity_check, BML_CYCLER_CHECK_OK);
    bml_cycler_summary_free(y);
    /* every truncation fails naming the file and a byte offset, never reads past the end */
    size_t n;
    unsigned char *b = (unsigned char *)slurp(tpath("syn.mpr"), &n);
    CHECK(b && n == size);
    if (!b) return;
    bml_cycler_format fm = BML_CYCLER_AUTO;
    CHECK_OK(bml_cycler_format_parse("biologic_mpr", &fm));
    for (size_t cut = 1; cut < n; cut += cut < 200 ? 1 : 37) {
        write_bytes(tpath("cut.mpr"), b, cut);
        CHECK(read_count(tpath("cut.mpr"), fm) != BML_OK);
        CHECK(strstr(bml_last_error(), "cut.mpr: byte ") != NULL);
    }
    /* a module length past the end of the file */
    unsigned char *c = malloc(n);
    memcpy(c, b, n);
    put_u32(c + 52 + 73 + 6 + 39, 0x7FFFFFF0u);
    write_bytes(tpath("len.mpr"), c, n);
    CHECK_ERR(read_count(tpath("len.mpr"), BML_CYCLER_AUTO), BML_ERR_PARSE, "len.mpr: byte 125: module 'VMP data  ' says 2147483632 bytes, past the end");
    /* a column id no one knows: the record size cannot be known */
    memcpy(c, b, n);
    c[52 + 73 + 65 + 5 + 2] = 0xEE, c[52 + 73 + 65 + 5 + 3] = 0x03;
    write_bytes(tpath("col.mpr"), c, n);
    CHECK_ERR(read_count(tpath("col.mpr"), BML_CYCLER_AUTO), BML_ERR_PARSE, "col.mpr: byte 197: column id 1006 (column 2)");
    /* a point count that the module does not hold */
    memcpy(c, b, n);
    put_u32(c + 52 + 73 + 65, 21);
    write_bytes(tpath("npts.mpr"), c, n);
    CHECK_ERR(read_count(tpath("npts.mpr"), BML_CYCLER_AUTO), BML_ERR_PARSE, "npts.mpr: byte 595: 21 points of 39 bytes need 819 bytes");
    free(c);
    free(b);
}

/* an EC-Lab folder: NAME.mpr, its text export NAME.mpt and its settings NAME.mps; the .mpr is the run, the
 * others companions (before, the .mps failed as "not a known format" and the .mpt/.mpr pair as two files of
 * one cell) */
static void test_eclab_folder(void) {
    CHECK(mkdir(tpath("eclab"), 0777) == 0);
    write_mpr(tpath("eclab/run.mpr"), 10);
    size_t n;
    char *t = slurp(ECLAB "/gcpl_comma.mpt", &n);
    if (t) write_bytes(tpath("eclab/run.mpt"), (const unsigned char *)t, n);
    free(t);
    write_text(tpath("eclab/run.mps"), "EC-LAB SETTING FILE\r\n\r\nNumber of linked techniques : 1\r\n");
    char **files = NULL;
    size_t nf = 0, nc = 0;
    CHECK_OK(bml_cycler_list(tpath("eclab"), BML_CYCLER_AUTO, &files, &nf, &nc));
    CHECK_INT(nf, 1);
    CHECK_INT(nc, 2);
    if (nf == 1) CHECK(strstr(files[0], "eclab/run.mpr") != NULL);
    for (size_t i = 0; i < nf; i++) free(files[i]);
    free(files);
}

/* the three .mpr files of ../shared/data/cyclers-more/biologic/ against galvani's parse (rows_head: per row)
 * and per cycle (within 0.1 %) */
#define SHARED TEST_DATA "/../../../shared/data/cyclers-more/biologic"
static int col_of(const bml__csv *c, const char *name) {
    for (size_t j = 0; j < c->rows[0].n_fields; j++)
        if (!strcmp(c->rows[0].fields[j], name)) return (int)j;
    return -1;
}

static int close_rel(double a, double b, double rel) { return fabs(a - b) <= rel * fabs(b) + 1e-15; }

static void test_mpr_against_galvani(void) {
    if (!bml__is_dir(SHARED)) {
        printf("  SKIP test_mpr_against_galvani: %s is absent (the shared oracle files)\n", SHARED);
        return;
    }
    static const char *const files[] = {"MB-1", "PEIS-0", "biol"};
    for (size_t k = 0; k < 3; k++) {
        char path[512], ref[512];
        snprintf(path, sizeof path, "%s/%s.mpr", SHARED, files[k]);
        cycler_pts s = {0};
        bml_cycler_meta m;
        CHECK_OK(bml_cycler_read(path, BML_CYCLER_AUTO, cycler_keep, &s, &m));
        CHECK_STR(bml_cycler_format_name(m.format), "biologic_mpr");
        bml_cycler_meta_free(&m);
        /* per row: every column the canonical series holds */
        snprintf(ref, sizeof ref, "%s/reference/%s.mpr.rows_head.csv", SHARED, files[k]);
        bml__csv c;
        CHECK_OK(bml__csv_read(ref, 0, &c));
        int ct = col_of(&c, "time/s"), cv = col_of(&c, "Ewe/V"), ci = col_of(&c, "I/mA"), cn = col_of(&c, "Ns"),
            cc = col_of(&c, "cycle number");
        CHECK(ct >= 0 && cv >= 0);
        size_t bad = 0, nr = c.n_rows - 1;
        CHECK(s.n >= nr);
        for (size_t i = 0; i < nr && i < s.n; i++) {
            char **f = c.rows[i + 1].fields;
            const bml_cycler_point *p = &s.p[i];
            int ok = close_rel(p->test_time_s, strtod(f[ct], NULL), 1e-9) && close_rel(p->voltage_v, strtod(f[cv], NULL), 1e-9);
            if (ci >= 0) ok &= close_rel(p->current_a * 1e3, strtod(f[ci], NULL), 1e-9);
            if (cn >= 0) ok &= p->step == strtol(f[cn], NULL, 10);
            if (cc >= 0) ok &= p->cycle == strtol(f[cc], NULL, 10);
            if (!ok && bad++ < 3) printf("  %s row %zu differs from galvani's\n", files[k], i + 1);
        }
        CHECK_INT(bad, 0);
        bml__csv_free(&c);
        free(s.p);
        /* per cycle, within 0.1 % */
        bml_cycler_summary *y = NULL;
        CHECK_OK(bml_cycler_summarize(path, BML_CYCLER_AUTO, NULL, &y));
        snprintf(ref, sizeof ref, "%s/reference/%s.mpr.per_cycle.csv", SHARED, files[k]);
        CHECK_OK(bml__csv_read(ref, 0, &c));
        CHECK(y && y->n_cycles == c.n_rows - 1);
        static const char *const names[] = {"charge_ah", "discharge_ah", "charge_wh", "discharge_wh",
                                            "charge_ah_integral", "discharge_ah_integral"};
        for (size_t i = 0; y && i < y->n_cycles && i + 1 < c.n_rows; i++) {
            const bml_cycler_cycle *q = &y->cycles[i];
            const double ours[] = {q->charge_ah, q->discharge_ah, q->charge_wh, q->discharge_wh, q->charge_ah_integral,
                                   q->discharge_ah_integral};
            CHECK_INT(q->cycle, strtol(c.rows[i + 1].fields[col_of(&c, "cycle")], NULL, 10));
            for (size_t j = 0; j < 6; j++) {
                int col = col_of(&c, names[j]);
                if (col < 0) continue;
                double want = fabs(strtod(c.rows[i + 1].fields[col], NULL));
                /* no current of that sign: the summary says none (NaN) where the counter stayed at 0 */
                double got = isnan(ours[j]) ? 0 : ours[j];
                if (!(fabs(got - want) <= 1e-3 * want + 1e-15)) {
                    printf("  %s cycle %ld %s: %.10g vs galvani %.10g\n", files[k], q->cycle, names[j], got, want);
                    CHECK(0);
                }
            }
        }
        bml__csv_free(&c);
        bml_cycler_summary_free(y);
    }
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-cyclers-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    static const test_case tests[] = {T(test_maccor_against_beep),        T(test_maccor_steps_and_day_time), T(test_maccor_preamble),
                                      T(test_arbin_against_its_columns),  T(test_biologic_against_its_columns), T(test_basytec_against_its_columns),
                                      T(test_novonix_against_instrument_summary), T(test_summary_known_answers),
                                      T(test_biologic_decimal_comma),     T(test_dataset_and_study), T(test_slow_cycle_curves_for_ica),
                                      T(test_bad_input), T(test_truncated_everywhere), T(test_huge_values),
                                      T(test_structure_streams_the_same), T(test_structure_cancel), T(test_cell_id_not_a_folder_name),
                                      T(test_summary_point_counts), T(test_biologic_decimal_comma_time),
                                      T(test_infinite_time_and_capacity), T(test_discharge_without_charge_column),
                                      T(test_curve_cycle_beyond_int), T(test_nul_bytes_forced_format),
                                      T(test_format_registry), T(test_near_match_message), T(test_eclab_mpt_as_written), T(test_counter_falls_are_noise),
                                      T(test_capacity_cross_check), T(test_mpr_synthetic_and_corrupt), T(test_mpr_against_galvani),
                                      T(test_eclab_folder)};
    int rc = run_tests("cyclers", tests, sizeof tests / sizeof *tests);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return rc;
}
