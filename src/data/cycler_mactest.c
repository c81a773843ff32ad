/* Maccor MacTest text export (the newer layout written by Maccor's MacTest/MIMS export, as in cellpy's
 * maccor_002.txt, WMG/KIT SIMBA files): a preamble of "Key<TAB>Value" lines (Name:, Channel:, Tester,
 * Procedure, Description, Started, SCap, C Rate, limits), a blank line, the header
 *     Rec  Cycle P  Cycle C  Step  TestTime  StepTime  Cap. [Ah]  Ener. [Wh]  Current [A]  Voltage [V]  Md  ES
 *     DPT Time  VAR1 .. VAR15
 * another blank line, then tab-separated rows (a trailing tab on all but the last).
 *
 * Units: read from the brackets of the names: Cap. [Ah] or [mAh], Ener. [Wh] or [mWh], Current [A] or [mA],
 * Voltage [V] or [mV]; a unit not in that list fails naming the column. TestTime has no unit in its name and
 * is in MINUTES (seen in both MacTest files at hand: maccor_002.txt's last row, 3809.84, is the span of its
 * DPT Time column in minutes, and cellpy's maccor_two.txt advances 1.000000 per minute of DPT Time);
 * "TestTime [s]", "[min]" or "[h]" are read by their unit. Numbers may have a decimal comma (KIT's
 * exports: "0,017"). DPT Time is M/D/YYYY h:mm:ss with AM/PM (Maccor writes US dates).
 *
 * Cycle: "Cycle C" (the charge-cycle counter; "Cycle P" counts procedure loops), else "Cycle P". Current is
 * unsigned: Md says its direction (C charge, D discharge; R rest and others as logged).
 * Counters: Cap. and Ener. restart at 0 at every step and count up whatever the direction; Md says which half
 * they belong to; a cycle's capacity is the sum over its steps of each step's final value; a fall inside a
 * step is noise (the maximum is held). */
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

#define MAX_PREAMBLE 200 /* lines before the header */

/* ---- the sniffer ---- */

/* the first lines of head (up to 40, none past a NUL byte), each as [start, end) */
typedef struct {
    const char *s[40];
    size_t len[40];
    size_t n;
} lines;

static void head_lines(const unsigned char *head, size_t n, lines *L) {
    L->n = 0;
    const char *p = (const char *)head, *end = p + n;
    while (p < end && L->n < 40) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (memchr(p, 0, (size_t)(e - p))) break;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r') len--;
        L->s[L->n] = p;
        L->len[L->n++] = len;
        if (!nl) break;
        p = nl + 1;
    }
}

static int line_has(const lines *L, size_t i, const char *needle) {
    size_t k = strlen(needle);
    for (size_t j = 0; j + k <= L->len[i]; j++)
        if (!memcmp(L->s[i] + j, needle, k)) return 1;
    return 0;
}

static int line_starts(const lines *L, size_t i, const char *prefix) {
    size_t k = strlen(prefix);
    return L->len[i] >= k && !memcmp(L->s[i], prefix, k);
}

int bml__mactest_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    (void)path;
    lines L;
    head_lines(head, n, &L);
    int preamble = L.n > 1 && line_starts(&L, 0, "Name:\t") && line_starts(&L, 1, "Channel:\t");
    for (size_t i = 0; i < L.n; i++) {
        if (!line_starts(&L, i, "Rec\t")) continue;
        int md = line_has(&L, i, "\tMd\t") || line_has(&L, i, "\tMd\r") ||
                 (L.len[i] >= 3 && !memcmp(L.s[i] + L.len[i] - 3, "\tMd", 3));
        int tt = line_has(&L, i, "\tTestTime");
        int cap = line_has(&L, i, "\tCap. [");
        if (md && tt && cap) return 100;
        if (tt || cap || preamble)
            return bml__sniff_near(why,
                                   !md   ? "a MacTest header (Rec<TAB>...) without the Md column (the direction of "
                                           "Cap. comes from it)"
                                   : !tt ? "a MacTest header (Rec<TAB>...) without a TestTime column"
                                         : "a MacTest header (Rec<TAB>...) without a Cap. [Ah] column",
                                   20);
    }
    if (preamble)
        return bml__sniff_near(why, "a MacTest preamble (Name:, Channel:) but no Rec<TAB>... header in its first 40 lines",
                               20);
    return 0;
}

/* ---- reading ---- */

enum { X_CYCLE, X_STEP, X_TIME, X_Q, X_E, X_I, X_V, X_MD, X_DATE, X_N };

/* a column "Base [unit]": 1 and its index and scale when found; -1 (failed) for a unit it does not know */
static int unit_col(bml__tl *t, size_t hdr_line, char *const *names, size_t n, const char *base, const char *known,
                    const char *const *units, const double *scales, double dflt, int *col, double *scale,
                    bml_status *st) {
    size_t bl = strlen(base);
    for (size_t i = 0; i < n; i++) {
        const char *a = names[i];
        while (*a == ' ') a++;
        if (strncasecmp(a, base, bl) || (a[bl] && a[bl] != ' ' && a[bl] != '[')) continue;
        const char *u = a + bl;
        while (*u == ' ') u++;
        *col = (int)i;
        if (!*u) {
            if (isnan(dflt)) break;
            *scale = dflt;
            return 1;
        }
        const char *e = strchr(u, ']');
        if (*u == '[' && e) {
            u++;
            for (int k = 0; units[k]; k++)
                if (strlen(units[k]) == (size_t)(e - u) && !strncasecmp(u, units[k], (size_t)(e - u))) {
                    *scale = scales[k];
                    return 1;
                }
        }
        *st = bml__fail(BML_ERR_SCHEMA, "%s:%zu:%zu: column '%s': a unit this reader does not know (it reads %s)", t->path,
                        hdr_line, i + 1, names[i], known);
        return -1;
    }
    *col = -1;
    return 0;
}

static bml_status set_meta(char **dst, const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (!n || *dst) return BML_OK;
    /* text only: the Description line of real files holds control bytes */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return BML_OK;
    *dst = bml__strndup(s, n);
    return *dst ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
}

static bml_status field_error(const bml__tl *t, char *const *names, int col, const char *v, const char *what) {
    return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: column '%s': '%s' %s", t->path, t->lineno, col + 1, names[col], v, what);
}

bml_status bml__mactest_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
    bml__tl t;
    BML__TRY(bml__tl_open(&t, path));
    bml_status st = BML_OK;
    char **names = NULL;
    size_t n_names = 0, hdr_line = 0;
    /* the preamble, up to the header */
    for (;;) {
        int k = bml__tl_next(&t, &st);
        if (k < 0) goto done;
        if (k == 0) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: ends before a MacTest header (Rec<TAB>Cycle P<TAB>...)", path, t.lineno);
            goto done;
        }
        if (!strncmp(t.line, "Rec\t", 4)) break;
        if (t.lineno > MAX_PREAMBLE) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: no MacTest header (Rec<TAB>...) in the first %d lines", path, t.lineno,
                           MAX_PREAMBLE);
            goto done;
        }
        char *tab = strchr(t.line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *key = t.line, *val = tab + 1;
        if (!strcmp(key, "Channel:") || !strcmp(key, "Channel")) st = set_meta(&meta->channel, val);
        else if (!strcmp(key, "Procedure") || !strcmp(key, "Procedure:")) st = set_meta(&meta->protocol, val);
        else if (!strcmp(key, "Name:") || !strcmp(key, "Name")) st = set_meta(&meta->barcode, val);
        else if (!strcmp(key, "Started") || !strcmp(key, "Started:")) st = set_meta(&meta->start_time, val);
        if (st != BML_OK) goto done;
    }
    hdr_line = t.lineno;
    if ((st = bml__tl_split(&t, '\t')) != BML_OK) goto done;
    n_names = t.n_fields;
    while (n_names > 1 && !*t.fields[n_names - 1]) n_names--; /* a trailing tab */
    if ((st = bml__tl_names(&t, n_names, &names)) != BML_OK) goto done;
    int col[X_N];
    double scale[X_N];
    for (int k = 0; k < X_N; k++) col[k] = -1, scale[k] = 1;
    col[X_CYCLE] = bml__tl_find(names, n_names, "Cycle C");
    if (col[X_CYCLE] < 0) col[X_CYCLE] = bml__tl_find(names, n_names, "Cycle P");
    col[X_STEP] = bml__tl_find(names, n_names, "Step");
    col[X_MD] = bml__tl_find(names, n_names, "Md");
    col[X_DATE] = bml__tl_find(names, n_names, "DPT Time");
    {
        static const char *const tu[] = {"s", "sec", "min", "h", NULL};
        static const double ts[] = {1, 1, 60, 3600};
        static const char *const qu[] = {"Ah", "mAh", NULL};
        static const char *const eu[] = {"Wh", "mWh", NULL};
        static const char *const iu[] = {"A", "mA", NULL};
        static const char *const vu[] = {"V", "mV", NULL};
        static const double milli[] = {1, 1e-3};
        if (unit_col(&t, hdr_line, names, n_names, "TestTime", "[s], [min], [h], none: minutes", tu, ts, 60.0, &col[X_TIME], &scale[X_TIME], &st) < 0 ||
            unit_col(&t, hdr_line, names, n_names, "Cap.", "[Ah], [mAh]", qu, milli, NAN, &col[X_Q], &scale[X_Q], &st) < 0 ||
            unit_col(&t, hdr_line, names, n_names, "Ener.", "[Wh], [mWh]", eu, milli, NAN, &col[X_E], &scale[X_E], &st) < 0 ||
            unit_col(&t, hdr_line, names, n_names, "Current", "[A], [mA]", iu, milli, NAN, &col[X_I], &scale[X_I], &st) < 0 ||
            unit_col(&t, hdr_line, names, n_names, "Voltage", "[V], [mV]", vu, milli, NAN, &col[X_V], &scale[X_V], &st) < 0)
            goto done;
    }
    static const char *const need_name[] = {"TestTime", "Current [A]", "Voltage [V]", "Md"};
    const int need[] = {X_TIME, X_I, X_V, X_MD};
    for (int k = 0; k < 4; k++)
        if (col[need[k]] < 0) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: MacTest header without a %s column%s", path, hdr_line, need_name[k],
                           need[k] == X_MD ? " (the direction of the current and of Cap. comes from it)" : "");
            goto done;
        }
    meta->has_cycle_index = col[X_CYCLE] >= 0;
    bml__counter q = {0, 0}, e = {0, 0};
    double sum[4] = {0, 0, 0, 0}, t_prev = 0;
    long cyc_prev = 0, step_prev = 0;
    int started = 0;
    for (;;) {
        int k = bml__tl_next(&t, &st);
        if (k < 0) goto done;
        if (k == 0) break;
        if ((st = bml__tl_split(&t, '\t')) != BML_OK) goto done;
        size_t nf = t.n_fields;
        while (nf > n_names && !*t.fields[nf - 1]) nf--;
        int shape = bml__tl_row_shape(&t, nf, n_names, " \t\n\v\f\r", "the MacTest header", hdr_line, &st);
        if (shape < 0) goto done;
        if (shape) {
            meta->n_blank++;
            continue;
        }
        double v[X_N];
        for (int c = 0; c < X_N; c++) {
            v[c] = NAN;
            if (col[c] < 0 || c == X_MD || c == X_DATE) continue;
            const char *f = t.fields[col[c]];
            if (bml__tl_num(f, &v[c]) != 0 || !isfinite(v[c])) {
                st = field_error(&t, names, col[c], f, "is not a number");
                goto done;
            }
            if ((c == X_CYCLE || c == X_STEP) && (v[c] != floor(v[c]) || fabs(v[c]) > 1e15)) {
                st = field_error(&t, names, col[c], f, "is not an integer index");
                goto done;
            }
            v[c] *= scale[c];
            if (!isfinite(v[c])) {
                st = field_error(&t, names, col[c], f, "is too large");
                goto done;
            }
        }
        bml_cycler_point p;
        p.line = t.lineno;
        p.test_time_s = v[X_TIME];
        p.cycle = col[X_CYCLE] >= 0 ? (long)v[X_CYCLE] : 1;
        p.step = col[X_STEP] >= 0 ? (long)v[X_STEP] : 1;
        p.voltage_v = v[X_V];
        p.current_a = v[X_I];
        p.temperature_c = NAN;
        p.resistance_ohm = NAN;
        p.unix_time = NAN;
        if (col[X_DATE] >= 0) {
            double u;
            if (bml__tl_mdy(t.fields[col[X_DATE]], &u) == 0) p.unix_time = u;
        }
        if (started && p.test_time_s < t_prev) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: time goes backwards (%.9g s after %.9g s on the row before)", path,
                           t.lineno, col[X_TIME] + 1, p.test_time_s, t_prev);
            goto done;
        }
        const char *md = t.fields[col[X_MD]];
        while (*md == ' ') md++;
        int dir = (md[0] == 'C' || md[0] == 'c') && (!md[1] || md[1] == ' ') ? 1
                  : (md[0] == 'D' || md[0] == 'd') && (!md[1] || md[1] == ' ') ? -1
                                                                               : 0;
        if (dir) p.current_a = dir * fabs(p.current_a);
        int new_cycle = !started || p.cycle != cyc_prev;
        int new_step = new_cycle || p.step != step_prev;
        if (new_cycle) memset(sum, 0, sizeof sum);
        if (new_step) q.max = e.max = 0, q.seen = e.seen = 1; /* both restart at every step */
        double dq = isnan(v[X_Q]) ? 0 : bml__counter_step(&q, fabs(v[X_Q]), new_step, &meta->n_counter_drops,
                                                         &meta->counter_drop_max);
        double de = isnan(v[X_E]) ? 0 : bml__counter_step(&e, fabs(v[X_E]), new_step, &meta->n_counter_drops,
                                                         &meta->counter_drop_max);
        if (dir > 0) sum[0] += dq, sum[2] += de;
        else if (dir < 0) sum[1] += dq, sum[3] += de;
        p.charge_ah = col[X_Q] >= 0 ? sum[0] : NAN;
        p.discharge_ah = col[X_Q] >= 0 ? sum[1] : NAN;
        p.charge_wh = col[X_E] >= 0 ? sum[2] : NAN;
        p.discharge_wh = col[X_E] >= 0 ? sum[3] : NAN;
        started = 1;
        t_prev = p.test_time_s;
        cyc_prev = p.cycle, step_prev = p.step;
        meta->n_points++;
        if ((st = fn(&p, user)) != BML_OK) goto done;
    }
    if (meta->n_points == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: a MacTest header (line %zu) and no data rows", path, hdr_line);
done:
    meta->mb_read = t.bytes / 1e6;
    bml__tl_names_free(names, n_names);
    bml__tl_close(&t);
    return st;
}
