/* Battery Archive (batteryarchive.org, Sandia's public archive of cycling data) time series CSV: one header line
 *     Date_Time,Test_Time (s),Cycle_Index,Current (A),Voltage (V),Charge_Capacity (Ah),Discharge_Capacity (Ah),
 *     Charge_Energy (Wh),Discharge_Energy (Wh),Environment_Temperature (C),Cell_Temperature (C)
 * then comma-separated rows, nothing quoted, an empty field where the archive has no value (files named
 * <cell>_timeseries.csv or <cell>_timeseries_data.csv). This is the header the archive's own export writes
 * (battery-archive-sfw / battery-archive-sandbox, scripts/data_import.py, generate_timeseries_data) and that
 * BEEP's BatteryArchiveDatapath reads; every source of the archive (SNL, CALCE, HNEI, Michigan, Oxford,
 * UL-Purdue) shares it. Date_Time is "YYYY-MM-DD HH:MM:SS[.ffffff]" (BEEP parses it as such); a value that does
 * not parse leaves the row's wall-clock time NaN. The current is signed, charge positive (the archive counts
 * charge where the current is > 0). The temperature is the cell's (Cell_Temperature (C)); the chamber's is not
 * read. The archive logs no step index: every row is step 1.
 *
 * Counters: the archive computes Charge_/Discharge_Capacity and _Energy itself from the current (a running
 * integral within each cycle, restarted at every Cycle_Index) and its own per-cycle table (<cell>_cycle_data.csv)
 * takes each counter's largest value within the cycle. Read so: they restart where the Cycle_Index changes; a
 * fall inside a cycle is noise (the maximum is held); a counter that reads 0 on a row whose current does not
 * flow its way (the archive leaves a charge counter at 0 on the rows that do not charge, in some of its exports)
 * is not running there: held, and not counted as a fall. A cycle's capacity is then its counter's largest
 * value, as the archive's per-cycle table has it. The per-cycle table itself is a companion, not data
 * (bml_cycler_list leaves *_cycle_data.csv out). */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batteryml/cycler.h"
#include "core/internal.h"
#include "data/cycler_internal.h"
#include "data/cycler_text.h"

/* ---- the sniffer: the header line ---- */

int bml__batteryarchive_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    (void)path;
    const char *p, *e;
    if (!bml__tl_head_line(head, n, &p, &e)) return 0;
#define HAS(name) bml__tl_line_has(p, e, name, 0)
    int tt = HAS("Test_Time (s)"), cy = HAS("Cycle_Index"),
        i = HAS("Current (A)"), v = HAS("Voltage (V)");
    if (tt && cy && i && v)
        return HAS("Charge_Capacity (Ah)") || HAS("Discharge_Capacity (Ah)") ? 100 : 90;
    if (cy && HAS("Min_Current (A)"))
        return bml__sniff_near(why, "the header of Battery Archive's per-cycle table (<cell>_cycle_data.csv: "
                                    "Min_Current (A), ...), not of its time series (<cell>_timeseries.csv)", 20);
    if (tt && cy)
        return bml__sniff_near(why,
                               !i ? "a Battery Archive header (Test_Time (s), Cycle_Index) without a Current (A) column"
                                  : "a Battery Archive header (Test_Time (s), Cycle_Index) without a Voltage (V) column",
                               20);
    return 0;
}
#undef HAS

/* ---- reading ---- */

enum { B_TIME, B_CYCLE, B_I, B_V, B_QC, B_QD, B_EC, B_ED, B_TEMP, B_DATE, B_N };

static const char *const COLUMN[B_N] = {"Test_Time (s)", "Cycle_Index", "Current (A)", "Voltage (V)",
                                        "Charge_Capacity (Ah)", "Discharge_Capacity (Ah)", "Charge_Energy (Wh)",
                                        "Discharge_Energy (Wh)", "Cell_Temperature (C)", "Date_Time"};

static int empty(const char *s) {
    while (*s == ' ') s++;
    return !*s;
}

bml_status bml__batteryarchive_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
    bml__tl t;
    BML__TRY(bml__tl_open(&t, path));
    bml_status st = BML_OK;
    char **names = NULL;
    size_t n_names = 0;
    int k;
    if ((st = bml__tl_first(&t)) != BML_OK) goto done;
    if ((st = bml__tl_split(&t, ',')) != BML_OK) goto done;
    n_names = t.n_fields;
    if ((st = bml__tl_names(&t, n_names, &names)) != BML_OK) goto done;
    int col[B_N];
    for (int c = 0; c < B_N; c++) col[c] = bml__tl_find(names, n_names, COLUMN[c]);
    const int need[] = {B_TIME, B_I, B_V};
    for (int j = 0; j < 3; j++)
        if (col[need[j]] < 0) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:1: Battery Archive header without a %s column", path, COLUMN[need[j]]);
            goto done;
        }
    meta->has_cycle_index = col[B_CYCLE] >= 0;
    bml__counter ctr[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    double sum[4] = {0, 0, 0, 0}, t_prev = 0;
    long cyc_prev = 0;
    int started = 0;
    for (;;) {
        k = bml__tl_next(&t, &st);
        if (k < 0) goto done;
        if (k == 0) break;
        if ((st = bml__tl_split(&t, ',')) != BML_OK) goto done;
        size_t nf = t.n_fields;
        int shape = bml__tl_row_shape(&t, nf, n_names, " ", "the header", 1, &st);
        if (shape < 0) goto done;
        if (shape) {
            meta->n_blank++;
            continue;
        }
        double v[B_N];
        for (int c = 0; c < B_N; c++) {
            v[c] = NAN;
            if (col[c] < 0 || c == B_DATE) continue;
            const char *f = t.fields[col[c]];
            int required = c == B_TIME || c == B_I || c == B_V || c == B_CYCLE;
            if (empty(f)) {
                if (required) {
                    st = bml__tl_field_error(&t, names, col[c], f, "is empty");
                    goto done;
                }
                continue;
            }
            if (bml__tl_num(f, &v[c]) != 0 || !isfinite(v[c])) {
                st = bml__tl_field_error(&t, names, col[c], f, "is not a number");
                goto done;
            }
            if (c == B_CYCLE && (v[c] != floor(v[c]) || fabs(v[c]) > 1e15)) {
                st = bml__tl_field_error(&t, names, col[c], f, "is not an integer index");
                goto done;
            }
        }
        bml_cycler_point p;
        p.line = t.lineno;
        p.test_time_s = v[B_TIME];
        p.cycle = isnan(v[B_CYCLE]) ? 1 : (long)v[B_CYCLE];
        p.step = 1;
        p.current_a = v[B_I];
        p.voltage_v = v[B_V];
        p.temperature_c = v[B_TEMP];
        p.resistance_ohm = NAN;
        p.unix_time = NAN;
        if (col[B_DATE] >= 0) {
            double u;
            if (bml__tl_ymd(t.fields[col[B_DATE]], &u) == 0) {
                p.unix_time = u;
                if (!meta->start_time && !(meta->start_time = bml__strdup(t.fields[col[B_DATE]]))) {
                    st = bml__fail(BML_ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
        }
        if (started && p.test_time_s < t_prev) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: time goes backwards (%.9g s after %.9g s on the row before)", path,
                           t.lineno, col[B_TIME] + 1, p.test_time_s, t_prev);
            goto done;
        }
        int new_cycle = !started || p.cycle != cyc_prev;
        if (new_cycle) memset(sum, 0, sizeof sum);
        const int qk[4] = {B_QC, B_QD, B_EC, B_ED};
        double out[4];
        for (int j = 0; j < 4; j++) {
            double q = v[qk[j]];
            int own = j % 2 == 0 ? p.current_a > 0 : p.current_a < 0; /* charge counters 0, 2; discharge 1, 3 */
            if (col[qk[j]] >= 0 && !isnan(q) && !(q == 0 && !own && !new_cycle))
                sum[j] += bml__counter_step(&ctr[j], fabs(q), new_cycle, &meta->n_counter_drops, &meta->counter_drop_max);
            out[j] = col[qk[j]] >= 0 ? sum[j] : NAN;
        }
        p.charge_ah = out[0], p.discharge_ah = out[1], p.charge_wh = out[2], p.discharge_wh = out[3];
        started = 1;
        t_prev = p.test_time_s;
        cyc_prev = p.cycle;
        meta->n_points++;
        if ((st = fn(&p, user)) != BML_OK) goto done;
    }
    if (meta->n_points == 0) st = bml__fail(BML_ERR_EMPTY, "%s: a Battery Archive header and no data rows", path);
done:
    meta->mb_read = t.bytes / 1e6;
    bml__tl_names_free(names, n_names);
    bml__tl_close(&t);
    return st;
}
