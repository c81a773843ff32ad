/* Battery Data Hub (batterydata.energy.gov, the DOE's battery data repository) time series CSV: each cell is two files,
 * <cell>-raw.csv (this layout) and <cell>-summary.csv (the provider's per-cycle table: a companion, not data;
 * bml_cycler_list leaves it out when its -raw.csv is beside it). The raw file is one header line of names, e.g.
 *     Cycle_Index,Step,Time_s,Amphr,Watthr,Current_A,Voltage_V,Cell_Temperature_C,Temp2,Datenum_d,Power_W,
 *     Charge_Capacity_Ah,Discharge_Capacity_Ah,Charge_Energy_Wh,Discharge_Energy_Wh,Frequency_Hz,...,Z_Real_Ohm,
 *     Absolute_Charge_Throughput_Ah,Charge_Throughput_Ah,...,Cycle_Label,Segment_Label,...
 * (the XCEL file battery-data-toolkit ships; a copy written by pandas has a leading unnamed index column,
 * ",Cycle_Index,...", read the same; any column order), then
 * comma-separated rows; a missing value is "NaN" (as MATLAB writes it) or empty; a field may be quoted ("a,b", ""
 * for a quote: the label columns are free text). The columns are the provider's own format: its processing code
 * (check_IVt_data_formatting.m) requires Datenum_d, Time_s, Cycle_Index, Step, Current_A, Voltage_V, Power_W,
 * Charge_/Discharge_Capacity_Ah and Charge_/Discharge_Energy_Wh; battery-data-toolkit's BDReader
 * (battdat/io/batterydata.py) reads Cycle_Index, Step, Time_s, Current_A, Voltage_V, Cell_Temperature_C and
 * Datenum_d. Read here: Time_s (seconds since the test began; must not go backwards), Cycle_Index and Step (integer
 * indices; without a Step column every row is step 1, without Cycle_Index every row is cycle 1), Current_A (signed,
 * charge positive: the provider counts charge where Current_A > 0), Voltage_V, the four counters, Cell_Temperature_C
 * (the cell's; Temp2 is not read) and Datenum_d (a MATLAB datenum: days since year 0, the lab's wall clock: the row's
 * wall-clock time, and the first row's as the start; a value outside 1900-9999 leaves the row's time NaN; datenum
 * 737792 is 2020-01-02, where battery-data-toolkit's conversion, 0001-01-01 + (datenum - 366) days, lands a day
 * later). A row needs its time, current and voltage (and cycle and step where those columns exist): "NaN" there is
 * an error.
 * The EIS rows (Frequency_Hz, Z_*; current 0) are read as rows like any other; their impedance is not read.
 *
 * Counters. Amphr and Watthr are the cycler's own counters (the XCEL files: a Maccor's), unsigned: from 0 at most
 * steps, on across steps of one direction (a CC charge then its CV), and across an HPPC pulse train, where they hold
 * the net charge since their last restart (they fall during a charge pulse that follows a discharge pulse). The
 * provider's Charge_Capacity_Ah (Charge_Energy_Wh) is Amphr (Watthr) on the rows whose current is > 0 and 0 on the
 * others; Discharge_Capacity_Ah (_Energy_Wh) the same for current < 0 (so on all 2021 rows of the XCEL file
 * p492-13-raw.csv). Its per-cycle table takes a cycle's capacity (energy) as the largest value of the counter over
 * the cycle's rows (process_IVt_data.m: Q_chg = max(Charge_Capacity_Ah), NaN when the cycle has at most one
 * charging row; the same for Q_dis, E_chg, E_dis). They are read by that definition: each counter is its running
 * maximum within the cycle, restarted where Cycle_Index changes, so a cycle's capacity is the summary's. A fall of a
 * counter is its restart (at a step, or the 0 on rows that do not flow its way) and is held, never added again;
 * a fall between two rows of one step that both flow its way is an anomaly of the counter (the HPPC pulses above)
 * and is counted (meta n_counter_drops, counter_drop_max). A cycle that charges (discharges) more than once (an
 * HPPC, a charge in two parts) gets its largest, as the provider's table has it, not the sum; capacity_check then
 * flags it against the current's integral (cycles 4 and 5 of p492-13: a real difference between the provider's
 * definition and the charge passed). A counter below 0 is an error (the provider's format has none). The
 * throughput and energy-throughput columns are the provider's derived sums and are not read. */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "batteryml/cycler.h"
#include "core/internal.h"
#include "data/cycler_internal.h"
#include "data/cycler_text.h"

/* ---- fields: comma-separated; a field may be quoted ("..." with "" for a quote) ---- */

/* split the current line in place; *bad: 0, or the 1-based column of a quoted field that does not close on its line
 * or is followed by something other than a comma */
static bml_status split_csv(bml__tl *t, int *bad) {
    *bad = 0;
    size_t k = 1;
    for (size_t i = 0; i < t->len; i++) k += t->line[i] == ',';
    if (k > t->fcap) {
        char **x = realloc(t->fields, k * sizeof *x);
        if (!x) return bml__fail(BML_ERR_NOMEM, "out of memory");
        t->fields = x, t->fcap = k;
    }
    char *r = t->line, *w = t->line, *end = t->line + t->len;
    size_t j = 0;
    for (;;) {
        t->fields[j++] = w;
        if (r < end && *r == '"') {
            r++;
            for (;;) {
                if (r == end) {
                    *bad = (int)j;
                    break;
                }
                if (*r == '"') {
                    if (r + 1 < end && r[1] == '"') {
                        *w++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
            if (!*bad && r < end && *r != ',') *bad = (int)j;
            if (*bad) break;
        } else {
            while (r < end && *r != ',') *w++ = *r++;
        }
        *w++ = 0; /* w <= r: at the comma or the line's NUL */
        if (r >= end) break;
        r++;
    }
    t->n_fields = j;
    return BML_OK;
}

/* ---- the sniffer: the header line ---- */

int bml__batterydata_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    (void)path;
    const char *p, *e;
    if (!bml__tl_head_line(head, n, &p, &e)) return 0;
#define HAS(name) bml__tl_line_has(p, e, name, 1)
    int tt = HAS("Time_s"), cy = HAS("Cycle_Index"), i = HAS("Current_A"), v = HAS("Voltage_V");
    if (tt && cy && i && v)
        return HAS("Charge_Capacity_Ah") || HAS("Discharge_Capacity_Ah") ? 100 : 90;
    if (cy && (HAS("Q_chg") || HAS("Q_dis")))
        return bml__sniff_near(why, "the header of the Battery Data Hub's per-cycle summary (<cell>-summary.csv: Q_chg, "
                                    "Q_dis, ...), not of its time series (<cell>-raw.csv)", 20);
    if (tt && cy)
        return bml__sniff_near(why,
                               !i ? "a Battery Data Hub header (Time_s, Cycle_Index) without a Current_A column"
                                  : "a Battery Data Hub header (Time_s, Cycle_Index) without a Voltage_V column",
                               20);
    return 0;
}
#undef HAS

/* ---- reading ---- */

enum { D_TIME, D_CYCLE, D_STEP, D_I, D_V, D_QC, D_QD, D_EC, D_ED, D_TEMP, D_DATE, D_N };

static const char *const COLUMN[D_N] = {"Time_s", "Cycle_Index", "Step", "Current_A", "Voltage_V",
                                        "Charge_Capacity_Ah", "Discharge_Capacity_Ah", "Charge_Energy_Wh",
                                        "Discharge_Energy_Wh", "Cell_Temperature_C", "Datenum_d"};

/* the column of that name: spelled exactly (the summary has both Datenum_d and datenum_d), else in any case */
static int find_column(char *const *names, size_t n, const char *name) {
    size_t k = strlen(name);
    for (size_t i = 0; i < n; i++) {
        const char *a = names[i];
        while (*a == ' ') a++;
        size_t la = strlen(a);
        while (la && a[la - 1] == ' ') la--;
        if (la == k && !strncmp(a, name, k)) return (int)i;
    }
    return bml__tl_find(names, n, name);
}

/* empty or NaN (spaces around ignored): no value */
static int missing(const char *s) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') n--;
    return n == 0 || (n == 3 && !strncasecmp(s, "nan", 3));
}

/* MATLAB's datenum of 1970-01-01, and of 1900-01-01 and 10000-01-01 (the dates taken as wall-clock times) */
#define DATENUM_1970 719529.0
#define DATENUM_MIN 693962.0
#define DATENUM_MAX 3652426.0

bml_status bml__batterydata_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
    bml__tl t;
    BML__TRY(bml__tl_open(&t, path));
    bml_status st = BML_OK;
    char **names = NULL;
    size_t n_names = 0;
    int bad = 0;
    int k;
    if ((st = bml__tl_first(&t)) != BML_OK) goto done;
    if ((st = split_csv(&t, &bad)) != BML_OK) goto done;
    if (bad) {
        st = bml__fail(BML_ERR_PARSE, "%s:1:%d: a quoted name not closed, or text after its closing quote", path, bad);
        goto done;
    }
    n_names = t.n_fields;
    if ((st = bml__tl_names(&t, n_names, &names)) != BML_OK) goto done;
    int col[D_N];
    for (int c = 0; c < D_N; c++) col[c] = find_column(names, n_names, COLUMN[c]);
    const int need[] = {D_TIME, D_I, D_V};
    for (int j = 0; j < 3; j++)
        if (col[need[j]] < 0) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:1: Battery Data Hub header without a %s column", path, COLUMN[need[j]]);
            goto done;
        }
    meta->has_cycle_index = col[D_CYCLE] >= 0;
    double top[4] = {0, 0, 0, 0};            /* each counter's running maximum within the cycle */
    double before[4] = {NAN, NAN, NAN, NAN}; /* its value on the row before */
    double t_prev = 0, i_prev = 0;
    long cyc_prev = 0, step_prev = 0;
    int started = 0;
    for (;;) {
        k = bml__tl_next(&t, &st);
        if (k < 0) goto done;
        if (k == 0) break;
        if ((st = split_csv(&t, &bad)) != BML_OK) goto done;
        if (bad) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: a quoted field not closed on its line, or text after its closing "
                                          "quote", path, t.lineno, bad);
            goto done;
        }
        size_t nf = t.n_fields;
        int shape = bml__tl_row_shape(&t, nf, n_names, " ", "the header", 1, &st);
        if (shape < 0) goto done;
        if (shape) {
            meta->n_blank++;
            continue;
        }
        double v[D_N];
        for (int c = 0; c < D_N; c++) {
            v[c] = NAN;
            if (col[c] < 0) continue;
            const char *f = t.fields[col[c]];
            int required = c == D_TIME || c == D_I || c == D_V || c == D_CYCLE || c == D_STEP;
            if (missing(f)) {
                if (required) {
                    st = bml__tl_field_error(&t, names, col[c], f, "is missing: every row needs its Time_s, Current_A, Voltage_V "
                                                           "(and Cycle_Index, Step)");
                    goto done;
                }
                continue;
            }
            if (bml__tl_num(f, &v[c]) != 0 || !isfinite(v[c])) {
                st = bml__tl_field_error(&t, names, col[c], f, "is not a number");
                goto done;
            }
            if ((c == D_CYCLE || c == D_STEP) && (v[c] != floor(v[c]) || fabs(v[c]) > 1e15)) {
                st = bml__tl_field_error(&t, names, col[c], f, "is not an integer index");
                goto done;
            }
            if (c >= D_QC && c <= D_ED && v[c] < 0) {
                st = bml__tl_field_error(&t, names, col[c], f, "is negative (the provider's capacity and energy counters never are)");
                goto done;
            }
        }
        bml_cycler_point p;
        p.line = t.lineno;
        p.test_time_s = v[D_TIME];
        p.cycle = isnan(v[D_CYCLE]) ? 1 : (long)v[D_CYCLE];
        p.step = isnan(v[D_STEP]) ? 1 : (long)v[D_STEP];
        p.current_a = v[D_I];
        p.voltage_v = v[D_V];
        p.temperature_c = v[D_TEMP];
        p.resistance_ohm = NAN;
        p.unix_time = NAN;
        double d = v[D_DATE];
        if (d >= DATENUM_MIN && d < DATENUM_MAX) {
            p.unix_time = (d - DATENUM_1970) * 86400.0;
            if ((st = bml__cycler_start_time(meta, p.unix_time, NULL)) != BML_OK) goto done;
        }
        if (started && p.test_time_s < t_prev) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: time goes backwards (%.9g s after %.9g s on the row before)", path,
                           t.lineno, col[D_TIME] + 1, p.test_time_s, t_prev);
            goto done;
        }
        int new_cycle = !started || p.cycle != cyc_prev, same_step = !new_cycle && p.step == step_prev;
        double out[4];
        for (int j = 0; j < 4; j++) {
            int c = D_QC + j;
            double q = v[c];
            if (new_cycle) top[j] = 0;
            if (!isnan(q)) {
                /* charge counters 0 and 2, discharge 1 and 3: a fall inside a step on rows that both flow its way */
                int own = j % 2 == 0 ? p.current_a > 0 && i_prev > 0 : p.current_a < 0 && i_prev < 0;
                if (same_step && own && q < before[j]) {
                    meta->n_counter_drops++;
                    if (before[j] - q > meta->counter_drop_max) meta->counter_drop_max = before[j] - q;
                }
                if (q > top[j]) top[j] = q;
            }
            before[j] = q;
            out[j] = col[c] >= 0 ? top[j] : NAN;
        }
        p.charge_ah = out[0], p.discharge_ah = out[1], p.charge_wh = out[2], p.discharge_wh = out[3];
        started = 1;
        t_prev = p.test_time_s;
        i_prev = p.current_a;
        cyc_prev = p.cycle;
        step_prev = p.step;
        meta->n_points++;
        if ((st = fn(&p, user)) != BML_OK) goto done;
    }
    if (meta->n_points == 0) st = bml__fail(BML_ERR_EMPTY, "%s: a Battery Data Hub header and no data rows", path);
done:
    meta->mb_read = t.bytes / 1e6;
    bml__tl_names_free(names, n_names);
    bml__tl_close(&t);
    return st;
}
