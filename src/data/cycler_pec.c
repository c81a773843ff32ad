/* PEC (SBT test stations, LifeTest) CSV export: a preamble of "Key:,Value" lines (Request Year:, Test:,
 * TestRegime Name:, TestRegime CellSize:, Start Time:, ...), optionally a "#RESULTS CHECK" ... "#END RESULTS
 * CHECK" block, then the header
 *     Test,Cell,Rack,Shelf,Position,Cell ID,Step,[Instruction Name,]Cycle,Total Time (Seconds),...,Real Time,
 *     ...,Voltage (mV),Current (mA),Charge Capacity (mAh),Discharge Capacity (mAh),Charge Capacity (mWh),...
 * and comma-separated rows (a trailing comma on each; nothing quoted). Two layouts are known (cellpy's test
 * files): 2019 (pec.csv: times in seconds, mV/mA, the energies named "Charge Capacity (mWh)") and 2026
 * (Test25195/25205.csv: times as "Hours in hh:mm:ss.xxx", V/A, "Charge Energy (mWh)").
 *
 * Units are read from the names: (mV)/(V), (mA)/(A), (mAh)/(Ah), (mWh)/(Wh), (mOhm)/(Ohm); "Total Time (Seconds)"
 * or "(Hours in hh:mm:ss.xxx)"; Real Time as M/D/YYYY HH:MM:SS. The current is signed (discharge < 0).
 * Counters: Charge Capacity and Discharge Capacity (and the energies) count up over the whole cycle (pec.csv:
 * across its steps, never restarting inside a cycle): they restart where the Cycle index changes; a fall
 * inside a cycle is noise (the maximum is held). A file whose rows belong to more than one test or cell is
 * refused rather than mixed. */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batteryml/cycler.h"
#include "core/internal.h"
#include "data/cycler_internal.h"
#include "data/cycler_text.h"

#define MAX_PREAMBLE 500 /* lines before the header */
static const char HEADER_START[] = "Test,Cell,Rack,Shelf,Position";

/* ---- the sniffer: the whole head (the header comes after 30-50 preamble lines) ---- */

static const char *find_line(const char *p, const char *end, const char *prefix) {
    size_t k = strlen(prefix);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (memchr(p, 0, (size_t)(e - p))) return NULL;
        if ((size_t)(e - p) >= k && !memcmp(p, prefix, k)) return p;
        if (!nl) break;
        p = nl + 1;
    }
    return NULL;
}

static int has_in_line(const char *p, const char *end, const char *needle) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    size_t k = strlen(needle);
    for (const char *q = p; q + k <= e; q++)
        if (!memcmp(q, needle, k)) return 1;
    return 0;
}

int bml__pec_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    (void)path;
    const char *p = (const char *)head, *end = p + n;
    p = bml__tl_skip_bom(p, end);
    int preamble = (size_t)(end - p) > 14 && !memcmp(p, "Request Year:,", 14);
    const char *h = find_line(p, end, HEADER_START);
    if (h) {
        int tt = has_in_line(h, end, ",Total Time ("), v = has_in_line(h, end, ",Voltage ("),
            i = has_in_line(h, end, ",Current (");
        if (tt && v && i) return 100;
        return bml__sniff_near(why, !tt ? "a PEC header (Test,Cell,Rack,Shelf,Position,...) without a Total Time column"
                                    : !v ? "a PEC header (Test,Cell,Rack,Shelf,Position,...) without a Voltage column"
                                         : "a PEC header (Test,Cell,Rack,Shelf,Position,...) without a Current column",
                               20);
    }
    if (preamble)
        return bml__sniff_near(why, "a PEC preamble (Request Year:, Test:) but no Test,Cell,Rack,Shelf,Position,... "
                                    "header in its first 64 KB", 20);
    return 0;
}

/* ---- reading ---- */

enum { P_TEST, P_CELL, P_CYCLE, P_STEP, P_TIME, P_V, P_I, P_QC, P_QD, P_EC, P_ED, P_TEMP, P_IR, P_DATE, P_N };

static bml_status set_meta(char **dst, const char *s) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == ',')) n--;
    if (!n || *dst) return BML_OK;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return BML_OK;
    *dst = bml__strndup(s, n);
    return *dst ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
}

/* "Base (unit)": the column and the factor to SI-ish units (V, A, Ah, Wh, ohm); 0 none, -1 unknown unit (failed) */
static int col_unit(const bml__tl *t, size_t hl, char *const *names, size_t n, const char *base, int *col, double *scale,
                    bml_status *st) {
    static const struct {
        const char *u;
        double f;
    } units[] = {{"V", 1}, {"mV", 1e-3}, {"A", 1}, {"mA", 1e-3}, {"Ah", 1}, {"mAh", 1e-3}, {"Wh", 1}, {"mWh", 1e-3},
                 {"Ohm", 1}, {"mOhm", 1e-3}};
    size_t bl = strlen(base);
    for (size_t i = 0; i < n; i++) {
        const char *a = names[i];
        if (strncasecmp(a, base, bl) || strncmp(a + bl, " (", 2)) continue;
        const char *u = a + bl + 2, *e = strchr(u, ')');
        if (e && !e[1])
            for (size_t k = 0; k < sizeof units / sizeof *units; k++)
                if (strlen(units[k].u) == (size_t)(e - u) && !strncmp(u, units[k].u, (size_t)(e - u))) {
                    *col = (int)i;
                    *scale = units[k].f;
                    return 1;
                }
        *st = bml__fail(BML_ERR_SCHEMA, "%s:%zu:%zu: column '%s': a unit this reader does not know (V, mV, A, mA, Ah, mAh, "
                                        "Wh, mWh, Ohm, mOhm)", t->path, hl, i + 1, a);
        return -1;
    }
    return 0;
}

static bml_status field_error(const bml__tl *t, char *const *names, int col, const char *v, const char *what) {
    return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: column '%s': '%s' %s", t->path, t->lineno, col + 1, names[col], v, what);
}

static int empty(const char *s) {
    while (*s == ' ') s++;
    return !*s;
}

bml_status bml__pec_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
    bml__tl t;
    BML__TRY(bml__tl_open(&t, path));
    bml_status st = BML_OK;
    char **names = NULL;
    size_t n_names = 0, hdr_line = 0;
    int in_check = 0;
    for (;;) {
        int k = bml__tl_next(&t, &st);
        if (k < 0) goto done;
        if (k == 0) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: ends before a PEC header (%s,...)", path, t.lineno, HEADER_START);
            goto done;
        }
        char *l = t.line;
        if (t.lineno == 1) l += bml__tl_skip_bom(l, l + t.len) - l;
        if (!strncmp(l, HEADER_START, sizeof HEADER_START - 1)) {
            if (l != t.line) { /* the byte-order mark out of the header */
                memmove(t.line, l, strlen(l) + 1);
                t.len -= 3;
            }
            break;
        }
        if (t.lineno > MAX_PREAMBLE) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: no PEC header (%s,...) in the first %d lines", path, t.lineno,
                           HEADER_START, MAX_PREAMBLE);
            goto done;
        }
        if (!strncmp(l, "#RESULTS CHECK", 14)) in_check = 1;
        if (!strncmp(l, "#END RESULTS CHECK", 18)) in_check = 0;
        if (in_check) continue;
        char *comma = strchr(l, ',');
        if (!comma) continue;
        *comma = 0;
        const char *val = comma + 1;
        if (!strcmp(l, "TestRegime Name:")) st = set_meta(&meta->protocol, val);
        else if (!strcmp(l, "Start Time:")) st = set_meta(&meta->start_time, val);
        else if (!strcmp(l, "TestRegime CellSize:")) {
            double c;
            char unit[8];
            if (sscanf(val, "%lf %7s", &c, unit) == 2 && c > 0 && isfinite(c) && (!strcmp(unit, "mAh") || !strcmp(unit, "Ah")))
                meta->nominal_capacity_ah = c * (unit[0] == 'm' ? 1e-3 : 1);
        }
        if (st != BML_OK) goto done;
    }
    hdr_line = t.lineno;
    if ((st = bml__tl_split(&t, ',')) != BML_OK) goto done;
    n_names = t.n_fields;
    while (n_names > 1 && empty(t.fields[n_names - 1])) n_names--; /* the trailing comma */
    if ((st = bml__tl_names(&t, n_names, &names)) != BML_OK) goto done;
    int col[P_N];
    double scale[P_N];
    for (int k = 0; k < P_N; k++) col[k] = -1, scale[k] = 1;
    col[P_TEST] = bml__tl_find(names, n_names, "Test");
    col[P_CELL] = bml__tl_find(names, n_names, "Cell");
    col[P_CYCLE] = bml__tl_find(names, n_names, "Cycle");
    col[P_STEP] = bml__tl_find(names, n_names, "Step");
    col[P_DATE] = bml__tl_find(names, n_names, "Real Time");
    int hms = 0;
    if ((col[P_TIME] = bml__tl_find(names, n_names, "Total Time (Seconds)")) < 0 &&
        (col[P_TIME] = bml__tl_find(names, n_names, "Total Time (Hours in hh:mm:ss.xxx)")) >= 0)
        hms = 1;
    for (size_t i = 0; i < n_names && col[P_TEMP] < 0; i++)
        if (!strncasecmp(names[i], "Cell surface temperature", 24)) col[P_TEMP] = (int)i;
    if (col_unit(&t, hdr_line, names, n_names, "Voltage", &col[P_V], &scale[P_V], &st) < 0 ||
        col_unit(&t, hdr_line, names, n_names, "Current", &col[P_I], &scale[P_I], &st) < 0 ||
        col_unit(&t, hdr_line, names, n_names, "DC Internal Resistance", &col[P_IR], &scale[P_IR], &st) < 0)
        goto done;
    /* capacities (Ah units) and energies (Wh units): "Charge Capacity (mAh)", "Charge Capacity (mWh)" (2019),
     * "Charge Energy (mWh)" (2026) */
    for (size_t i = 0; i < n_names; i++) {
        const char *a = names[i];
        int chg = !strncasecmp(a, "Charge ", 7), dis = !strncasecmp(a, "Discharge ", 10);
        if (!chg && !dis) continue;
        const char *u = strrchr(a, '(');
        if (!u) continue;
        int ah = !strcmp(u, "(Ah)") || !strcmp(u, "(mAh)"), wh = !strcmp(u, "(Wh)") || !strcmp(u, "(mWh)");
        if (!ah && !wh) continue;
        int role = ah ? (chg ? P_QC : P_QD) : (chg ? P_EC : P_ED);
        if (col[role] >= 0) continue;
        col[role] = (int)i;
        scale[role] = u[1] == 'm' ? 1e-3 : 1;
    }
    static const char *const need_name[] = {"Total Time (Seconds or Hours in hh:mm:ss.xxx)", "Voltage", "Current"};
    const int need[] = {P_TIME, P_V, P_I};
    for (int k = 0; k < 3; k++)
        if (col[need[k]] < 0) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: PEC header without a %s column", path, hdr_line, need_name[k]);
            goto done;
        }
    meta->has_cycle_index = col[P_CYCLE] >= 0;
    bml__counter ctr[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    double sum[4] = {0, 0, 0, 0}, t_prev = 0, test0 = NAN, cell0 = NAN;
    long cyc_prev = 0;
    int started = 0;
    for (;;) {
        int k = bml__tl_next(&t, &st);
        if (k < 0) goto done;
        if (k == 0) break;
        if ((st = bml__tl_split(&t, ',')) != BML_OK) goto done;
        size_t nf = t.n_fields;
        while (nf > n_names && empty(t.fields[nf - 1])) nf--;
        int shape = bml__tl_row_shape(&t, nf, n_names, " ", "the PEC header", hdr_line, &st);
        if (shape < 0) goto done;
        if (shape) {
            meta->n_blank++;
            continue;
        }
        double v[P_N];
        for (int c = 0; c < P_N; c++) {
            v[c] = NAN;
            if (col[c] < 0 || c == P_DATE) continue;
            const char *f = t.fields[col[c]];
            int required = c == P_TIME || c == P_V || c == P_I;
            if (empty(f)) {
                if (required) {
                    st = field_error(&t, names, col[c], f, "is empty");
                    goto done;
                }
                continue;
            }
            int bad = c == P_TIME && hms ? bml__tl_hms(f, &v[c]) != 0 : bml__tl_num(f, &v[c]) != 0;
            if (bad || !isfinite(v[c])) {
                st = field_error(&t, names, col[c], f, c == P_TIME && hms ? "is not a time (hh:mm:ss.xxx)" : "is not a number");
                goto done;
            }
            if ((c == P_CYCLE || c == P_STEP || c == P_TEST || c == P_CELL) && (v[c] != floor(v[c]) || fabs(v[c]) > 1e15)) {
                st = field_error(&t, names, col[c], f, "is not an integer index");
                goto done;
            }
            v[c] *= scale[c];
        }
        if (!isnan(v[P_TEST]) || !isnan(v[P_CELL])) {
            if (!started) test0 = v[P_TEST], cell0 = v[P_CELL];
            else if (!(v[P_TEST] == test0 || (isnan(v[P_TEST]) && isnan(test0))) ||
                     !(v[P_CELL] == cell0 || (isnan(v[P_CELL]) && isnan(cell0)))) {
                st = bml__fail(BML_ERR_VALUE, "%s:%zu: a row of another test or cell (Test %g, Cell %g after Test %g, Cell %g): "
                                              "a PEC file holding several is not read (export each cell apart)",
                               path, t.lineno, v[P_TEST], v[P_CELL], test0, cell0);
                goto done;
            }
        }
        bml_cycler_point p;
        p.line = t.lineno;
        p.test_time_s = v[P_TIME];
        p.cycle = isnan(v[P_CYCLE]) ? 1 : (long)v[P_CYCLE];
        p.step = isnan(v[P_STEP]) ? 1 : (long)v[P_STEP];
        p.voltage_v = v[P_V];
        p.current_a = v[P_I];
        p.temperature_c = v[P_TEMP];
        p.resistance_ohm = v[P_IR] > 0 ? v[P_IR] : NAN;
        p.unix_time = NAN;
        if (col[P_DATE] >= 0) {
            double u;
            if (bml__tl_mdy(t.fields[col[P_DATE]], &u) == 0) p.unix_time = u;
        }
        if (started && p.test_time_s < t_prev) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: time goes backwards (%.9g s after %.9g s on the row before)", path,
                           t.lineno, col[P_TIME] + 1, p.test_time_s, t_prev);
            goto done;
        }
        int new_cycle = !started || p.cycle != cyc_prev;
        if (new_cycle) memset(sum, 0, sizeof sum);
        const int qk[4] = {P_QC, P_QD, P_EC, P_ED};
        double out[4];
        for (int j = 0; j < 4; j++) {
            if (col[qk[j]] >= 0 && !isnan(v[qk[j]]))
                sum[j] += bml__counter_step(&ctr[j], fabs(v[qk[j]]), new_cycle, &meta->n_counter_drops,
                                            &meta->counter_drop_max);
            out[j] = col[qk[j]] >= 0 ? sum[j] : NAN;
        }
        p.charge_ah = out[0], p.discharge_ah = out[1], p.charge_wh = out[2], p.discharge_wh = out[3];
        if (!started && col[P_CELL] >= 0) {
            /* the channel: Rack/Shelf/Position of the first row */
            int r = bml__tl_find(names, n_names, "Rack"), s = bml__tl_find(names, n_names, "Shelf"),
                q = bml__tl_find(names, n_names, "Position");
            if (r >= 0 && s >= 0 && q >= 0 && !meta->channel) {
                char *ch = bml__sprintf("%s/%s/%s", t.fields[r], t.fields[s], t.fields[q]);
                if (!ch) {
                    st = bml__fail(BML_ERR_NOMEM, "out of memory");
                    goto done;
                }
                st = set_meta(&meta->channel, ch);
                free(ch);
                if (st != BML_OK) goto done;
            }
        }
        started = 1;
        t_prev = p.test_time_s;
        cyc_prev = p.cycle;
        meta->n_points++;
        if ((st = fn(&p, user)) != BML_OK) goto done;
    }
    if (meta->n_points == 0) st = bml__fail(BML_ERR_EMPTY, "%s: a PEC header (line %zu) and no data rows", path, hdr_line);
done:
    meta->mb_read = t.bytes / 1e6;
    bml__tl_names_free(names, n_names);
    bml__tl_close(&t);
    return st;
}
