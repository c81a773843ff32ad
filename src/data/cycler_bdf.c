/* Battery Data Format (BDF, the Battery Data Alliance's format for cycler time series; a Linux Foundation Energy
 * project: github.com/battery-data-alliance/battery-data-format and its ontology, battery-data-format-ontology,
 * releases 0.2.0 to 1.3.0), text serialisation: files named *.bdf, *.bdf.csv or any *.csv whose first line is a
 * BDF header. One header line of column labels, then comma-separated rows, nothing quoted, an empty field (or
 * "NaN", as polars writes a float NaN) where a value is missing; every row has the header's number of fields.
 * A column is named by the quantity's preferred label ("Test Time / s": the quantity, a slash, its unit; the
 * BDF fixes the units) or its machine-readable name ("test_time_second"), or one of the ontology's alternative
 * labels ("test_time_s"); names compare without regard to case or spaces. Required: Test Time / s, Voltage / V,
 * Current / A (test_time_second, voltage_volt, current_ampere). Read besides (the first column of each kind):
 *   Unix Time / s (unix_time_second: seconds since 1970 UTC), the row's wall-clock time and meta.start_time;
 *   Test Time / ms, Unix Time / ms: the ontology's deprecated millisecond forms, read where the second ones
 *     are absent;
 *   Cycle Count / 1 (cycle_count; "Cycle / 1" in ontology 0.2.0): the cycle, a non-negative integer as written
 *     (the BDF says converters must not renumber cycles);
 *   the step, from the first of: Step Count / 1 (step_count; "Step / 1" in 0.2.0: a counter that rises by one
 *     at each new step, never repeats), Step ID (step_id: the program's step, may recur), Step Index / 1
 *     (step_index, deprecated in 1.3.0), Step Record Index / 1 (step_record_index). The ontology defines the
 *     last two as the 1-based position of the row within its step (resetting to 1 at each new step), but the
 *     format's own reference files (docs/examples/reference, exported by SINTEF from Landt and Neware data)
 *     write the program's step number under step_index. So Step Record Index is read as the ontology says (a
 *     new step where it does not rise by one; steps numbered 1, 2, ... by the reader), and Step Index the same
 *     way when its first two rows read 1 and 2, else as a step number (a new step where it changes);
 *   the counters, each of the four from the first of its three scopes present:
 *     Charging / Discharging Capacity / Ah, Charging / Discharging Energy / Wh (charging_capacity_ah, ...):
 *       since the start of the test, never reset (ontology 1.0.0 on);
 *     Cycle Charging Capacity / Ah, ... (cycle_charging_capacity_ah, ...): within the cycle, reset to 0 where
 *       Cycle Count changes;
 *     Step Charging Capacity / Ah, ... (step_charging_capacity_ah, ...): within the step, reset at each step;
 *   the temperature: Surface Temperature / degC, else Temperature T1 / degC (the first auxiliary channel), else
 *     Ambient Temperature / degC (the chamber's: the only one many BDF files have);
 *   the resistance: Internal Resistance / ohm, else DC Internal Resistance / ohm, else AC Internal Resistance
 *     / ohm (a value <= 0 is "not measured": NaN).
 * Net, Cumulative and Schedule counters, Power, Step Time, Step Type, pressures, impedances and any column the
 * BDF does not define are not read. The current is signed, charge positive, as the BDF defines it.
 *
 * Counters. A cycle's capacity is the sum of what its counters rose within it. A fall of a counter where the
 * cycle or the step changes is a restart (counted from 0), a fall anywhere else is noise (the maximum held,
 * counted in meta.n_counter_drops). A test-wide counter (the BDF's own definition) then never falls and is read
 * as its rise within each cycle. A cycle counter restarts where the file's Cycle Count changes and a step
 * counter where the step changes, whatever their value there (from 0 even where the span's first row already
 * passed the last value of the span before). The format's reference files reset Charging / Discharging
 * Capacity at every step (the vendor's step counter kept under the test-wide label, against the definition):
 * read right as long as the file has a step column; without one such a fall inside a cycle is held as noise
 * and the summary's capacity_check names the cycle. A quantity with no counter column (a BDF file needs only time, voltage and
 * current) is the integral of the current over time, as the summary's capacity_check computes it: each row's
 * current over the time since the row before (the first row 0 s), charge where it is > 0, discharge where
 * it is < 0; energy the same with |current x voltage|. capacity_check then agrees by construction.
 *
 * Cycles. Cycle Count when the file has it (meta.has_cycle_index 1). Without it the reader numbers the cycles
 * from 1 as NewareNDA does for Neware's binary files: a new cycle begins at the first charging row (current
 * > 0) after a discharging row (< 0) of the cycle, in another step than that discharging row where the file
 * has a step column (so a step whose current flickers around 0 starts no cycle); meta.has_cycle_index is 1 too
 * (the rows are not all cycle 1). With no step column every row is step 1.
 *
 * Not read: the .bdf.parquet / .bdf.gz serialisations, a quoted field, a separator other than ','. The cell is
 * the file name less its extension and a ".bdf" before it (X.bdf.csv: X). */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "batteryml/cycler.h"
#include "core/internal.h"
#include "data/cycler_internal.h"
#include "data/cycler_text.h"

/* ---- the quantities and the names a header may give them ---- */

enum {
    Q_TIME, Q_TIME_MS, Q_V, Q_I, Q_UNIX, Q_UNIX_MS, Q_CYCLE,
    Q_STEP_COUNT, Q_STEP_ID, Q_STEP_INDEX, Q_STEP_RECORD,
    Q_QC, Q_QD, Q_EC, Q_ED,         /* since the test's start */
    Q_CY_QC, Q_CY_QD, Q_CY_EC, Q_CY_ED, /* within the cycle */
    Q_ST_QC, Q_ST_QD, Q_ST_EC, Q_ST_ED, /* within the step */
    Q_T_SURFACE, Q_T_1, Q_T_AMBIENT, Q_R, Q_R_DC, Q_R_AC,
    Q_N
};

/* the preferred label first (what the messages name), then the machine-readable name and the ontology's
 * alternative labels (battery-data-format.ttl, skos:prefLabel / skos:notation / skos:altLabel, 0.2.0 to 1.3.0) */
static const struct {
    int q;
    const char *name;
} NAMES[] = {
    {Q_TIME, "Test Time / s"}, {Q_TIME, "test_time_second"}, {Q_TIME, "test_time_s"},
    {Q_TIME_MS, "Test Time / ms"}, {Q_TIME_MS, "test_time_millisecond"}, {Q_TIME_MS, "test_time_ms"},
    {Q_V, "Voltage / V"}, {Q_V, "voltage_volt"}, {Q_V, "voltage_v"},
    {Q_I, "Current / A"}, {Q_I, "current_ampere"}, {Q_I, "current_a"},
    {Q_UNIX, "Unix Time / s"}, {Q_UNIX, "unix_time_second"}, {Q_UNIX, "unix_time_s"},
    {Q_UNIX_MS, "Unix Time / ms"}, {Q_UNIX_MS, "unix_time_millisecond"}, {Q_UNIX_MS, "unix_time_ms"},
    {Q_CYCLE, "Cycle Count / 1"}, {Q_CYCLE, "cycle_count"}, {Q_CYCLE, "cycle_count_1"}, {Q_CYCLE, "cycle_dimensionless"},
    {Q_CYCLE, "Cycle / 1"},
    {Q_STEP_COUNT, "Step Count / 1"}, {Q_STEP_COUNT, "step_count"}, {Q_STEP_COUNT, "step_count_1"},
    {Q_STEP_COUNT, "step_dimensionless"}, {Q_STEP_COUNT, "Step / 1"},
    {Q_STEP_ID, "Step ID"}, {Q_STEP_ID, "step_id"}, {Q_STEP_ID, "Step ID / 1"},
    {Q_STEP_INDEX, "Step Index / 1"}, {Q_STEP_INDEX, "step_index"}, {Q_STEP_INDEX, "step_index_1"},
    {Q_STEP_RECORD, "Step Record Index / 1"}, {Q_STEP_RECORD, "step_record_index"}, {Q_STEP_RECORD, "step_record_index_1"},
    {Q_QC, "Charging Capacity / Ah"}, {Q_QC, "charging_capacity_ah"}, {Q_QC, "charging_capacity_ampere_hour"},
    {Q_QD, "Discharging Capacity / Ah"}, {Q_QD, "discharging_capacity_ah"}, {Q_QD, "discharging_capacity_ampere_hour"},
    {Q_EC, "Charging Energy / Wh"}, {Q_EC, "charging_energy_wh"}, {Q_EC, "charging_energy_watt_hour"},
    {Q_ED, "Discharging Energy / Wh"}, {Q_ED, "discharging_energy_wh"}, {Q_ED, "discharging_energy_watt_hour"},
    {Q_CY_QC, "Cycle Charging Capacity / Ah"}, {Q_CY_QC, "cycle_charging_capacity_ah"},
    {Q_CY_QC, "cycle_charge_capacity_ah"}, {Q_CY_QC, "cycle_charging_capacity_ampere_hour"},
    {Q_CY_QD, "Cycle Discharging Capacity / Ah"}, {Q_CY_QD, "cycle_discharging_capacity_ah"},
    {Q_CY_QD, "cycle_discharge_capacity_ah"}, {Q_CY_QD, "cycle_discharging_capacity_ampere_hour"},
    {Q_CY_EC, "Cycle Charging Energy / Wh"}, {Q_CY_EC, "cycle_charging_energy_wh"},
    {Q_CY_EC, "cycle_charge_energy_wh"}, {Q_CY_EC, "cycle_charging_energy_watt_hour"},
    {Q_CY_ED, "Cycle Discharging Energy / Wh"}, {Q_CY_ED, "cycle_discharging_energy_wh"},
    {Q_CY_ED, "cycle_discharge_energy_wh"}, {Q_CY_ED, "cycle_discharging_energy_watt_hour"},
    {Q_ST_QC, "Step Charging Capacity / Ah"}, {Q_ST_QC, "step_charging_capacity_ah"},
    {Q_ST_QC, "step_charge_capacity_ah"}, {Q_ST_QC, "step_charging_capacity_ampere_hour"},
    {Q_ST_QD, "Step Discharging Capacity / Ah"}, {Q_ST_QD, "step_discharging_capacity_ah"},
    {Q_ST_QD, "step_discharge_capacity_ah"}, {Q_ST_QD, "step_discharging_capacity_ampere_hour"},
    {Q_ST_EC, "Step Charging Energy / Wh"}, {Q_ST_EC, "step_charging_energy_wh"},
    {Q_ST_EC, "step_charge_energy_wh"}, {Q_ST_EC, "step_charging_energy_watt_hour"},
    {Q_ST_ED, "Step Discharging Energy / Wh"}, {Q_ST_ED, "step_discharging_energy_wh"},
    {Q_ST_ED, "step_discharge_energy_wh"}, {Q_ST_ED, "step_discharging_energy_watt_hour"},
    {Q_T_SURFACE, "Surface Temperature / degC"}, {Q_T_SURFACE, "surface_temperature_celsius"},
    {Q_T_SURFACE, "surface_temperature_degc"},
    {Q_T_1, "Temperature T1 / degC"}, {Q_T_1, "temperature_t1_celsius"}, {Q_T_1, "temperature_t1_degc"},
    {Q_T_1, "Surface Temperature T1 / degC"}, {Q_T_1, "surface_temperature_t1_celsius"},
    {Q_T_AMBIENT, "Ambient Temperature / degC"}, {Q_T_AMBIENT, "ambient_temperature_celsius"},
    {Q_T_AMBIENT, "ambient_temperature_degc"},
    {Q_R, "Internal Resistance / ohm"}, {Q_R, "internal_resistance_ohm"},
    {Q_R_DC, "DC Internal Resistance / ohm"}, {Q_R_DC, "dc_internal_resistance_ohm"}, {Q_R_DC, "dc_resistance_ohm"},
    {Q_R_DC, "dcir"},
    {Q_R_AC, "AC Internal Resistance / ohm"}, {Q_R_AC, "ac_internal_resistance_ohm"}, {Q_R_AC, "ac_resistance_ohm"},
    {Q_R_AC, "acr"},
};
#define N_NAMES (sizeof NAMES / sizeof *NAMES)

static int blank_char(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* whether [a, a + n) is name, ignoring case and spaces */
static int same_name(const char *a, size_t n, const char *name) {
    const char *e = a + n;
    for (;;) {
        while (a < e && blank_char(*a)) a++;
        while (*name == ' ') name++;
        if (a == e || !*name) return a == e && !*name;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*name)) return 0;
        a++, name++;
    }
}

/* the quantity a column name [a, a + n) stands for, or -1 */
static int quantity_of(const char *a, size_t n) {
    for (size_t k = 0; k < N_NAMES; k++)
        if (same_name(a, n, NAMES[k].name)) return NAMES[k].q;
    return -1;
}

/* ---- the sniffer: the header line ---- */

/* the required quantities (bits: 1 time, 2 voltage, 4 current) whose label [a, a + n) gives another unit
 * ("Current / mA"): the BDF fixes the units */
static int other_unit(const char *a, size_t n) {
    const char *slash = memchr(a, '/', n);
    if (!slash) return 0;
    static const char *const base[3] = {"Test Time", "Voltage", "Current"};
    for (int k = 0; k < 3; k++)
        if (same_name(a, (size_t)(slash - a), base[k])) return 1 << k;
    return 0;
}

int bml__bdf_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    (void)path;
    const char *p, *e;
    if (!bml__tl_head_line(head, n, &p, &e)) return 0;
    int have = 0, unit = 0, n_known = 0;
    unsigned char seen[Q_N] = {0};
    for (const char *f = p; f <= e;) {
        const char *c = memchr(f, ',', (size_t)(e - f));
        const char *fe = c ? c : e;
        int q = quantity_of(f, (size_t)(fe - f));
        if (q >= 0 && !seen[q]) seen[q] = 1, n_known++;
        if (q == Q_TIME || q == Q_TIME_MS) have |= 1;
        else if (q == Q_V) have |= 2;
        else if (q == Q_I) have |= 4;
        else if (q < 0) unit |= other_unit(f, (size_t)(fe - f));
        if (!c) break;
        f = c + 1;
    }
    if (have == 7) return 100;
    unit &= ~have;
    if (unit && n_known >= 1) {
        static const char *const u[3] = {
            "a Battery Data Format header with the test time in another unit (the BDF fixes the units: Test Time / s)",
            "a Battery Data Format header with the voltage in another unit (the BDF fixes the units: Voltage / V)",
            "a Battery Data Format header with the current in another unit (the BDF fixes the units: Current / A)"};
        return bml__sniff_near(why, u[(unit & 1) ? 0 : (unit & 2) ? 1 : 2], 20);
    }
    if (n_known >= 2) {
        /* by the missing ones (bits as `have`) */
        static const char *const m[8] = {
            NULL,
            "a Battery Data Format header without a Test Time / s (test_time_second) column",
            "a Battery Data Format header without a Voltage / V (voltage_volt) column",
            "a Battery Data Format header without Test Time / s and Voltage / V columns",
            "a Battery Data Format header without a Current / A (current_ampere) column",
            "a Battery Data Format header without Test Time / s and Current / A columns",
            "a Battery Data Format header without Voltage / V and Current / A columns",
            "Battery Data Format labels without its required Test Time / s, Voltage / V and Current / A columns"};
        return bml__sniff_near(why, m[7 & ~have], 20);
    }
    return 0;
}

/* ---- reading ---- */

/* 1: an empty field; 2: "NaN" (polars writes a float NaN so); 0: anything else */
static int missing(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return 1;
    if (strncasecmp(s, "nan", 3)) return 0;
    for (s += 3; *s == ' ' || *s == '\t'; s++) {}
    return *s ? 0 : 2;
}

typedef struct {
    bml__tl *t;
    char **names;
} row_ctx;

static bml_status field_error(const row_ctx *r, int col, const char *what) {
    return bml__tl_field_error(r->t, r->names, col, r->t->fields[col], what);
}

/* the number in column col (-1: none, NaN); need: it must be one (an empty field or NaN fails); index: 1 an
 * integer, 2 a non-negative one (which it must be too) */
static bml_status number(const row_ctx *r, int col, int need, int index, double *out) {
    *out = NAN;
    if (col < 0) return BML_OK;
    const char *f = r->t->fields[col];
    int m = missing(f);
    if (m && !need && !index) return BML_OK;
    if (m == 1) return field_error(r, col, "is empty");
    if (bml__tl_num(f, out) != 0 || !isfinite(*out)) return field_error(r, col, "is not a number");
    if (index && (*out != floor(*out) || fabs(*out) > 1e15)) return field_error(r, col, "is not an integer index");
    if (index == 2 && *out < 0) return field_error(r, col, "is negative (the BDF's cycle count is a non-negative integer)");
    return BML_OK;
}

/* the first of the quantities (-1 ends the list) the header has, its column into *col, or -1 */
static int first_of(const int *col, const int *qs, int *which) {
    if (which) *which = -1;
    for (; *qs >= 0; qs++)
        if (col[*qs] >= 0) {
            if (which) *which = *qs;
            return col[*qs];
        }
    return -1;
}

enum { S_NONE, S_NUMBER, S_INDEX, S_RECORD }; /* how the step column reads (see the header comment) */

bml_status bml__bdf_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
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
    int col[Q_N];
    for (int q = 0; q < Q_N; q++) col[q] = -1;
    for (size_t i = 0; i < n_names; i++) {
        int q = quantity_of(names[i], strlen(names[i]));
        if (q >= 0 && col[q] < 0) col[q] = (int)i;
    }
    /* the columns read */
    const int c_time = col[Q_TIME] >= 0 ? col[Q_TIME] : col[Q_TIME_MS];
    const double time_scale = col[Q_TIME] >= 0 ? 1 : 1e-3;
    const int c_unix = col[Q_UNIX] >= 0 ? col[Q_UNIX] : col[Q_UNIX_MS];
    const double unix_scale = col[Q_UNIX] >= 0 ? 1 : 1e-3;
    const char *lack = c_time < 0 ? "Test Time / s (test_time_second)" : col[Q_V] < 0 ? "Voltage / V (voltage_volt)"
                     : col[Q_I] < 0 ? "Current / A (current_ampere)" : NULL;
    if (lack) {
        st = bml__fail(BML_ERR_SCHEMA, "%s:1: Battery Data Format header without a %s column", path, lack);
        goto done;
    }
    static const int step_qs[] = {Q_STEP_COUNT, Q_STEP_ID, Q_STEP_INDEX, Q_STEP_RECORD, -1};
    int step_q = -1;
    const int c_step = first_of(col, step_qs, &step_q);
    const int step_kind = c_step < 0 ? S_NONE : step_q == Q_STEP_INDEX ? S_INDEX : step_q == Q_STEP_RECORD ? S_RECORD
                                                                                                     : S_NUMBER;
    int c_cnt[4], scope[4]; /* scope: the quantity read (Q_QC + j: the test's, Q_CY_QC + j: the cycle's, Q_ST_QC + j) */
    for (int j = 0; j < 4; j++) {
        const int qs[] = {Q_QC + j, Q_CY_QC + j, Q_ST_QC + j, -1};
        c_cnt[j] = first_of(col, qs, &scope[j]);
    }
    static const int temp_qs[] = {Q_T_SURFACE, Q_T_1, Q_T_AMBIENT, -1}, res_qs[] = {Q_R, Q_R_DC, Q_R_AC, -1};
    const int c_temp = first_of(col, temp_qs, NULL), c_res = first_of(col, res_qs, NULL);
    meta->has_cycle_index = 1; /* the file's Cycle Count, else cycles the reader numbers (see above) */
    /* X.bdf.csv is cell X (bml_cycler_read made it "X.bdf" and frees what this replaces) */
    size_t cl = meta->cell ? strlen(meta->cell) : 0;
    if (cl > 4 && !strcasecmp(meta->cell + cl - 4, ".bdf")) {
        char *cell = bml__strndup(meta->cell, cl - 4);
        if (!cell) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            goto done;
        }
        meta->cell = cell;
    }

    row_ctx r = {&t, names};
    bml__counter ctr[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    double sum[4] = {0, 0, 0, 0}, t_prev = 0;
    long cyc = 1, step = 1, raw_prev = 0, dis_step = 0;
    int started = 0, index_mode = 0 /* S_INDEX: 0 undecided, S_NUMBER or S_RECORD */, discharged = 0;
    for (;;) {
        k = bml__tl_next(&t, &st);
        if (k < 0) goto done;
        if (k == 0) break;
        if ((st = bml__tl_split(&t, ',')) != BML_OK) goto done;
        size_t nf = t.n_fields;
        int shape = bml__tl_row_shape(&t, nf, n_names, " 	", "the header", 1, &st);
        if (shape < 0) goto done;
        if (shape) {
            meta->n_blank++;
            continue;
        }
        double tt, v, i_a, unix_t, cy, sv, q[4], temp, res;
        if ((st = number(&r, c_time, 1, 0, &tt)) != BML_OK || (st = number(&r, col[Q_V], 1, 0, &v)) != BML_OK ||
            (st = number(&r, col[Q_I], 1, 0, &i_a)) != BML_OK || (st = number(&r, c_unix, 0, 0, &unix_t)) != BML_OK ||
            (st = number(&r, col[Q_CYCLE], 1, 2, &cy)) != BML_OK || (st = number(&r, c_step, 1, 1, &sv)) != BML_OK ||
            (st = number(&r, c_temp, 0, 0, &temp)) != BML_OK || (st = number(&r, c_res, 0, 0, &res)) != BML_OK)
            goto done;
        for (int j = 0; j < 4; j++)
            if ((st = number(&r, c_cnt[j], 0, 0, &q[j])) != BML_OK) goto done;
        tt *= time_scale;
        if (started && tt < t_prev) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: time goes backwards (%.9g s after %.9g s on the row before)", path,
                           t.lineno, c_time + 1, tt, t_prev);
            goto done;
        }
        /* the step */
        long raw = c_step >= 0 ? (long)sv : 1;
        int new_step = !started;
        if (!started) {
            step = step_kind == S_RECORD ? 1 : raw;
            if (step_kind == S_INDEX && raw != 1) index_mode = S_NUMBER; /* a row counter starts at 1 */
        } else if (step_kind != S_NONE) {
            if (step_kind == S_INDEX && !index_mode) index_mode = raw == 2 ? S_RECORD : S_NUMBER; /* 1 then 2: a row counter */
            if (step_kind == S_RECORD || (step_kind == S_INDEX && index_mode == S_RECORD)) {
                new_step = raw != raw_prev + 1;
                step += new_step;
            } else {
                new_step = raw != raw_prev;
                step = raw;
            }
        }
        /* the cycle: the file's, else a charge after a discharge (in another step) begins one */
        int new_cycle;
        if (col[Q_CYCLE] >= 0) {
            new_cycle = !started || (long)cy != cyc;
            cyc = (long)cy;
        } else {
            new_cycle = !started;
            if (started && i_a > 0 && discharged && (step_kind == S_NONE || step != dis_step)) {
                cyc++;
                new_cycle = 1;
                discharged = 0;
            }
            if (i_a < 0) discharged = 1, dis_step = step;
        }
        if (new_cycle) memset(sum, 0, sizeof sum);
        double dt = started ? tt - t_prev : 0;
        for (int j = 0; j < 4; j++) {
            if (c_cnt[j] >= 0) {
                /* a cycle's counter restarts where the file's Cycle Count changes, a step's where the step does,
                 * whatever its value there (it counts from 0 even when its first row already passed the last
                 * value of the span before) */
                if ((scope[j] == Q_CY_QC + j && col[Q_CYCLE] >= 0 && new_cycle) ||
                    (scope[j] == Q_ST_QC + j && step_kind != S_NONE && (new_step || new_cycle)))
                    ctr[j].max = 0, ctr[j].seen = 1;
                if (!isnan(q[j]))
                    sum[j] += bml__counter_step(&ctr[j], fabs(q[j]), new_cycle || new_step, &meta->n_counter_drops,
                                                &meta->counter_drop_max);
            } else if (dt > 0 && (j % 2 == 0 ? i_a > 0 : i_a < 0)) { /* charge 0, 2; discharge 1, 3 */
                /* I V first: an overflow is +inf, never inf * 0 = NaN */
                sum[j] += (j < 2 ? fabs(i_a) : fabs(i_a * v)) * dt / 3600;
            }
        }
        bml_cycler_point p;
        p.line = t.lineno;
        p.test_time_s = tt;
        p.cycle = cyc;
        p.step = step;
        p.current_a = i_a;
        p.voltage_v = v;
        p.charge_ah = sum[0], p.discharge_ah = sum[1], p.charge_wh = sum[2], p.discharge_wh = sum[3];
        p.temperature_c = temp;
        p.resistance_ohm = res > 0 ? res : NAN;
        p.unix_time = unix_t * unix_scale;
        if (fabs(p.unix_time) < 1e11 && (st = bml__cycler_start_time(meta, p.unix_time, " UTC")) != BML_OK) goto done;
        started = 1;
        t_prev = tt;
        raw_prev = raw;
        meta->n_points++;
        if ((st = fn(&p, user)) != BML_OK) goto done;
    }
    if (meta->n_points == 0) st = bml__fail(BML_ERR_EMPTY, "%s: a Battery Data Format header and no data rows", path);
done:
    meta->mb_read = t.bytes / 1e6;
    bml__tl_names_free(names, n_names);
    bml__tl_close(&t);
    return st;
}
