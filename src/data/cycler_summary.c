/* Per-cycle summary of a cycler time series, its CSV files, and the data=cycler dataset
 * (see batteryml/cycler.h). The summary is built while the file streams: one cycle's points are kept
 * (for its voltage curves), never the whole file; `structure` (bml_cycler_structure) writes each cycle's
 * rows as the cycle closes and keeps no cycle at all. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batteryml/cycler.h"
#include "core/internal.h"
#include "data/cycler_internal.h"
#include "data/dataset_internal.h"

bml_cycler_summary_opts bml_cycler_summary_defaults(void) {
    bml_cycler_summary_opts o = BML_CYCLER_SUMMARY_OPTS_INIT;
    return o;
}

typedef struct {
    double *q, *v;
    size_t n, cap;
} qv_list;

static int qv_push(qv_list *l, double q, double v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        double *nq = realloc(l->q, cap * sizeof *nq);
        if (!nq) return -1;
        l->q = nq;
        double *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->q[l->n] = q, l->v[l->n] = v, l->n++;
    return 0;
}

/* A mean that stays finite however large the values are: the plain sum while it is finite (the mean is then
 * exactly the plain one), else a sum of the values scaled by 2^-64, which cannot overflow before 2^64
 * values, clamped to the largest number against a rounding at the edge. */
typedef struct {
    double sum, scaled;
    size_t n;
} mean_acc;

static void mean_add(mean_acc *a, double x) {
    a->sum += x;
    a->scaled += x * 0x1p-64;
    a->n++;
}

static double mean_get(const mean_acc *a) {
    if (!a->n) return NAN;
    if (isfinite(a->sum)) return a->sum / (double)a->n;
    double m = a->scaled / (double)a->n * 0x1p64;
    return m > DBL_MAX ? DBL_MAX : m < -DBL_MAX ? -DBL_MAX : m;
}

/* ---- the rows of the two CSV files (bml_cycler_summary_write and bml_cycler_structure write the same) */

static const char CYCLES_HEADER[] =
    "cell,format,cycle,complete,first_line,start_time_s,duration_s,start_unix,charge_ah,discharge_ah,charge_wh,"
    "discharge_wh,coulombic_efficiency,energy_efficiency,throughput_ah,mean_abs_current_a,temperature_min_c,"
    "temperature_mean_c,temperature_max_c,resistance_ohm,charge_ah_integral,discharge_ah_integral,capacity_check\n";
static const char CURVES_HEADER[] = "cell,cycle,voltage_v,charge_ah,discharge_ah\n";

/* printf into b (a short text through a stack buffer, a long one allocated) */
static void sb_printf(bml__sb *b, const char *fmt, ...) BML__PRINTF(2, 3);
static void sb_printf(bml__sb *b, const char *fmt, ...) {
    char t[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->nomem = 1;
        return;
    }
    if ((size_t)n < sizeof t) {
        bml__sb_put(b, t, (size_t)n);
        return;
    }
    va_start(ap, fmt);
    char *s = bml__vsprintf(fmt, ap);
    va_end(ap);
    if (s) bml__sb_put(b, s, (size_t)n);
    else b->nomem = 1;
    free(s);
}

/* ",x" with x to 10 digits, or "," when x is missing or not finite */
static void put_num(bml__sb *b, double x) {
    if (isfinite(x)) sb_printf(b, ",%.10g", x);
    else bml__sb_put(b, ",", 1);
}

/* a CSV field: quoted when it holds a comma, quote or newline */
static void put_str(bml__sb *b, const char *s) {
    if (!s) return;
    if (!strpbrk(s, ",\"\n\r")) {
        bml__sb_str(b, s);
        return;
    }
    bml__sb_put(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"') bml__sb_put(b, "\"", 1);
        bml__sb_put(b, s, 1);
    }
    bml__sb_put(b, "\"", 1);
}

/* what every row of one cell's files repeats: the cell field, the format and each grid voltage as text */
typedef struct {
    bml__sb cell;      /* the cell as a CSV field */
    const char *format;
    char **grid;       /* (n_grid) ",%.6f" of each grid voltage */
    size_t n_grid;
} rowfmt;

static void rowfmt_free(rowfmt *r) {
    free(r->cell.buf);
    if (r->grid)
        for (size_t g = 0; g < r->n_grid; g++) free(r->grid[g]);
    free(r->grid);
    memset(r, 0, sizeof *r);
}

static bml_status rowfmt_init(rowfmt *r, const bml_cycler_summary *s) {
    memset(r, 0, sizeof *r);
    put_str(&r->cell, s->meta.cell ? s->meta.cell : "cell");
    r->format = bml_cycler_format_name(s->meta.format);
    r->n_grid = s->opts.n_grid;
    r->grid = bml__calloc(r->n_grid, sizeof *r->grid);
    int bad = r->cell.nomem || !r->cell.buf || !r->grid;
    for (size_t g = 0; !bad && g < r->n_grid; g++) bad = !(r->grid[g] = bml__sprintf(",%.6f", s->grid_v[g]));
    if (bad) {
        rowfmt_free(r);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    return BML_OK;
}

static void put_cycle_row(bml__sb *b, const rowfmt *r, const bml_cycler_cycle *c) {
    bml__sb_put(b, r->cell.buf, r->cell.len);
    sb_printf(b, ",%s,%ld,%d,%zu", r->format, c->cycle, c->complete, c->first_line);
    const double v[] = {c->start_time_s, c->duration_s, c->start_unix, c->charge_ah, c->discharge_ah,
                        c->charge_wh, c->discharge_wh, c->coulombic_efficiency, c->energy_efficiency,
                        c->throughput_ah, c->mean_abs_current_a, c->temperature_min_c, c->temperature_mean_c,
                        c->temperature_max_c, c->resistance_ohm};
    for (size_t k = 0; k < sizeof v / sizeof *v; k++) put_num(b, v[k]);
    put_num(b, c->charge_ah_integral);
    put_num(b, c->discharge_ah_integral);
    static const char *const check[] = {",ok", ",charge", ",discharge", ",charge+discharge"};
    bml__sb_str(b, c->capacity_check >= 0 && c->capacity_check <= 3 ? check[c->capacity_check] : ",");
    bml__sb_put(b, "\n", 1);
}

static void put_curve_rows(bml__sb *b, const rowfmt *r, const bml_cycler_cycle *c) {
    char cyc[32];
    int n = snprintf(cyc, sizeof cyc, ",%ld", c->cycle);
    for (size_t g = 0; g < r->n_grid; g++) {
        bml__sb_put(b, r->cell.buf, r->cell.len);
        bml__sb_put(b, cyc, (size_t)n);
        bml__sb_str(b, r->grid[g]);
        put_num(b, c->charge_curve_ah[g]);
        put_num(b, c->discharge_curve_ah[g]);
        bml__sb_put(b, "\n", 1);
    }
}

/* ---- structure's files: one cell's two CSV files in the staging folder, written as its cycles close */

#define SINK_CHUNK ((size_t)1 << 16) /* rows are written out in pieces of about this many bytes */

typedef struct {
    const char *stage, *out;     /* the staging folder and the output folder (messages name the latter) */
    bml__strvec *cells, *sources; /* the cells written so far and the file of each */
    bml__strvec *names;          /* the files in the staging folder */
    int fd[2];                   /* _cycles.csv, _curves.csv (-1: not open) */
    char *shown[2];              /* their paths under out, for messages */
    bml__sb rows[2];             /* rows not yet written */
    rowfmt fmt;
    double *ch, *dis;            /* (n_grid) the closing cycle's curves */
} sink;

static void sink_release(sink *k) {
    for (int i = 0; i < 2; i++) {
        if (k->fd[i] >= 0) close(k->fd[i]);
        k->fd[i] = -1;
        free(k->shown[i]);
        free(k->rows[i].buf);
        k->shown[i] = NULL;
        memset(&k->rows[i], 0, sizeof k->rows[i]);
    }
    rowfmt_free(&k->fmt);
    free(k->ch);
    free(k->dis);
    k->ch = k->dis = NULL;
}

static bml_status sink_failed(const sink *k, int i, const char *what, int err) {
    return bml__fail(BML_ERR_IO, "%s: cannot %s: %s (nothing is written to %s)", k->shown[i], what, strerror(err), k->out);
}

/* write the rows held (all of them, or only when a chunk's worth is there) */
static bml_status sink_drain(sink *k, int all) {
    for (int i = 0; i < 2; i++) {
        bml__sb *b = &k->rows[i];
        if (b->nomem) return bml__fail(BML_ERR_NOMEM, "out of memory");
        if (!all && b->len < SINK_CHUNK) continue;
        const char *p = b->buf;
        size_t n = b->len;
        while (n > 0) {
            ssize_t w = write(k->fd[i], p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return sink_failed(k, i, "write", w < 0 ? errno : ENOSPC); /* 0 bytes: a full disk */
            p += w;
            n -= (size_t)w;
        }
        b->len = 0;
    }
    return BML_OK;
}

/* what a second file of one cell name adds to the message when the two are numbered files of one name that were not
 * joined (Maccor's NAME.001, NAME.002, ... are joined only as the parts of one Maccor test: bml_cycler_list) */
static const char *split_hint(const char *a, const char *b) {
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
    if (!da || !db || !da[1] || !db[1] || strspn(da + 1, "0123456789") != strlen(da + 1) ||
        strspn(db + 1, "0123456789") != strlen(db + 1) || da - a != db - b || strncmp(a, b, (size_t)(da - a)))
        return "";
    return "; numbered files of one name are joined into one cell only as the parts of one Maccor test (NAME.001, "
           "NAME.002, ...: three digits, each read as a maccor export)";
}

/* the two files of the cell of s, created in the staging folder (a second file of one cell fails) */
static bml_status sink_open(sink *k, const bml_cycler_summary *s) {
    const char *cell = s->meta.cell ? s->meta.cell : "cell";
    int dup = bml__strvec_find(k->cells, cell);
    if (dup >= 0)
        return bml__fail(BML_ERR_VALUE, "%s and %s: two files of one cell name '%s' (they would overwrite each other)%s",
                         k->sources->items[dup], s->meta.path, cell, split_hint(k->sources->items[dup], s->meta.path));
    if (bml__strvec_push(k->cells, cell) || bml__strvec_push(k->sources, s->meta.path))
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    BML__TRY(rowfmt_init(&k->fmt, s));
    k->ch = malloc(s->opts.n_grid * sizeof *k->ch);
    k->dis = malloc(s->opts.n_grid * sizeof *k->dis);
    if (!k->ch || !k->dis) return bml__fail(BML_ERR_NOMEM, "out of memory");
    static const char *const suffix[2] = {"_cycles.csv", "_curves.csv"};
    for (int i = 0; i < 2; i++) {
        char *name = bml__sprintf("%s%s", cell, suffix[i]);
        char *p = name ? bml__path_join(k->stage, name) : NULL;
        k->shown[i] = name ? bml__path_join(k->out, name) : NULL;
        if (!p || !k->shown[i] || bml__strvec_push(k->names, name)) {
            free(name), free(p);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        free(name);
        k->fd[i] = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        int e = errno;
        free(p);
        if (k->fd[i] < 0) return sink_failed(k, i, "create it", e);
        bml__sb_str(&k->rows[i], i == 0 ? CYCLES_HEADER : CURVES_HEADER);
    }
    return BML_OK;
}

/* the last rows written, each file synced and closed */
static bml_status sink_close(sink *k) {
    BML__TRY(sink_drain(k, 1));
    for (int i = 0; i < 2; i++) {
        int bad = fsync(k->fd[i]) != 0 && errno != EINVAL, e = errno;
        if (close(k->fd[i]) != 0 && !bad) bad = 1, e = errno;
        k->fd[i] = -1;
        if (bad) return sink_failed(k, i, "write", e);
    }
    return BML_OK;
}

/* ---- the summary, built as the rows stream */

typedef struct {
    bml_cycler_summary *s;
    sink *out;             /* structure: each cycle written as it closes and none kept; NULL: kept in s->cycles */
    size_t cap;
    size_t n_closed, n_complete;
    int open;
    bml_cycler_point first, last;
    int any_charge, any_discharge;
    mean_acc temp, r_log, r_step;
    double t_min, t_max;
    double flow_q, flow_t; /* integral of |I| dt and time with current flowing */
    double flow_mean;      /* flow_q / flow_t as a running weighted mean: finite where flow_q overflows */
    int pending;           /* a current step waits for its window */
    double step_t, step_v, step_i;
    double throughput;     /* through the cycles closed so far */
    double first_discharge; /* discharge capacity of the first cycle with one (NaN before) */
    double integ_c, integ_d; /* the open cycle's integral of the current (A s), charge and discharge */
    int have_prev;          /* a row has been seen (its time in prev_t) */
    double prev_t;
    size_t n_differs;       /* cycles whose capacity disagrees with the integral */
    bml__sb differs;        /* the first 20 of them, for the warning */
    size_t n_points;        /* rows of the open cycle */
    qv_list ch, dis;
    size_t n_rows;          /* rows seen: the cancel flag is looked at every 4096 */
    /* BML_CYCLER_CAPACITY_LARGEST_STEP: the open run of rows of one step index; its counters' values (within the
     * cycle) where it began; its integrals (A s); the cycle's largest run of each counter so far and the integral
     * over the run of the largest charge (discharge) capacity */
    long run_step;
    double run_base[4], run_integ_c, run_integ_d;
    double best[4], best_integ_c, best_integ_d;
    bml__cycler_qv *qv;     /* NULL, or the cycle-life loader's discharge curves (bml__cycler_summarize_qv) */
    const char *path;       /* the file summarised */
    char *part;             /* the open cycle began in a later part of a Maccor test (bml_cycler_read): that part */
} builder;

/* the open run of one step closes at row l (its last): its increments against the cycle's largest */
static void run_close(builder *b, const bml_cycler_point *l) {
    const double v[4] = {l->charge_ah, l->discharge_ah, l->charge_wh, l->discharge_wh};
    for (int k = 0; k < 4; k++) {
        double inc = v[k] - b->run_base[k];
        if (!isnan(inc) && (isnan(b->best[k]) || inc > b->best[k])) {
            b->best[k] = inc;
            if (k == 0) b->best_integ_c = b->run_integ_c;
            if (k == 1) b->best_integ_d = b->run_integ_d;
        }
        b->run_base[k] = isnan(v[k]) ? 0 : v[k];
    }
    b->run_integ_c = b->run_integ_d = 0;
}

/* the capacity at which the voltage first reaches each grid voltage (rising for charge, falling for
 * discharge), linear between the two rows around the crossing; NaN where it never does. The first row
 * reaching vg is the first whose running maximum (minimum) reaches it, so one pass over the rows fills
 * the grid points the running extreme passes. */
static void interp_first_crossing(const qv_list *l, const double *grid, size_t n_grid, int rising, double *out) {
    for (size_t g = 0; g < n_grid; g++) out[g] = NAN;
    if (!l->n) return;
    /* compare sgn * v: a falling curve is a rising one mirrored; grid point j in that order is G(j) */
    double sgn = rising ? 1.0 : -1.0;
#define G(j) (rising ? (j) : n_grid - 1 - (j))
    double ext = sgn * l->v[0];
    size_t j = 0; /* the first grid point (in rising order) above ext */
    while (j < n_grid && sgn * grid[G(j)] <= ext) {
        if (sgn * grid[G(j)] == ext) out[G(j)] = l->q[0];
        j++;
    }
    for (size_t k = 1; k < l->n && j < n_grid; k++) {
        double v = sgn * l->v[k];
        if (v <= ext) continue;
        double v0 = sgn * l->v[k - 1], q0 = l->q[k - 1];
        for (; j < n_grid && sgn * grid[G(j)] <= v; j++) {
            double vg = sgn * grid[G(j)];
            double q = v == v0 ? l->q[k] : q0 + (l->q[k] - q0) * (vg - v0) / (v - v0);
            /* voltages near the largest number: the same in halves, which cannot overflow */
            if (!isfinite(q)) q = q0 + (l->q[k] - q0) * ((vg / 2 - v0 / 2) / (v / 2 - v0 / 2));
            out[G(j)] = q;
        }
        ext = v;
    }
#undef G
}

/* the cycle-life loader's curve of the closing cycle (bml__cycler_qv): first crossings on its grid (s->grid_v,
 * ascending), the ends held, in the order of the loader's grid */
static void qv_curve(builder *b, bml_cycler_cycle *c) {
    bml__cycler_qv *qv = b->qv;
    const size_t n = qv->n;
    const double *asc = b->s->grid_v;
    double *out = c->discharge_curve_ah;
    interp_first_crossing(&b->dis, asc, n, 0, out);
    if (b->dis.n) {
        size_t kmin = 0;
        for (size_t k = 1; k < b->dis.n; k++)
            if (b->dis.v[k] < b->dis.v[kmin]) kmin = k;
        const double v0 = b->dis.v[0], q0 = b->dis.q[0], vmin = b->dis.v[kmin], qmin = b->dis.q[kmin];
        int low = 0;
        for (size_t g = 0; g < n; g++) {
            if (!isnan(out[g])) continue;
            if (asc[g] > v0) out[g] = q0;
            else if (asc[g] < vmin) out[g] = qmin, low = 1;
        }
        if (low && !qv->n_low++) qv->low_first = c->cycle;
    }
    if (qv->grid[0] > qv->grid[n - 1])
        for (size_t i = 0, j = n - 1; i < j; i++, j--) {
            double t = out[i];
            out[i] = out[j], out[j] = t;
        }
}

/* the cycle's capacities against the integral of its current (issue 21): 2 % and 1e-4 Ah */
static int differs(double q, double integral) {
    double d = fabs(q - integral);
    return d > 0.02 * integral && d > 1e-4;
}

static void capacity_check(builder *b, bml_cycler_cycle *c) {
    int largest = b->s->opts.capacity_rule == BML_CYCLER_CAPACITY_LARGEST_STEP;
    c->charge_ah_integral = (largest ? b->best_integ_c : b->integ_c) / 3600.0;
    c->discharge_ah_integral = (largest ? b->best_integ_d : b->integ_d) / 3600.0;
    /* a half is checked where its counter is logged and the current flowed that way */
    int ck_c = b->any_charge && !isnan(c->charge_ah), ck_d = b->any_discharge && !isnan(c->discharge_ah);
    c->capacity_check = ck_c || ck_d ? BML_CYCLER_CHECK_OK : BML_CYCLER_CHECK_NONE;
    if (ck_c && differs(c->charge_ah, c->charge_ah_integral)) c->capacity_check |= BML_CYCLER_CHECK_CHARGE;
    if (ck_d && differs(c->discharge_ah, c->discharge_ah_integral)) c->capacity_check |= BML_CYCLER_CHECK_DISCHARGE;
    if (c->capacity_check <= 0) return;
    if (b->n_differs++ >= 20) return;
    bml__sb_fmt(&b->differs, "%s cycle %ld (%s%sline %zu)", b->n_differs > 1 ? ";" : "", c->cycle, b->part ? b->part : "",
                b->part ? " " : "", c->first_line);
    if (c->capacity_check & BML_CYCLER_CHECK_CHARGE)
        bml__sb_fmt(&b->differs, " charge %.6g Ah vs %.6g Ah", c->charge_ah, c->charge_ah_integral);
    if (c->capacity_check & BML_CYCLER_CHECK_DISCHARGE)
        bml__sb_fmt(&b->differs, " discharge %.6g Ah vs %.6g Ah", c->discharge_ah, c->discharge_ah_integral);
    /* the file's first row inside a step: what its counters held then was counted before the file began; said
     * when taking it off makes every flagged half agree */
    const bml_cycler_point *f = &b->first;
    double fc = f->charge_ah > 0 ? f->charge_ah : 0, fd = f->discharge_ah > 0 ? f->discharge_ah : 0;
    int explained = b->n_closed == 1 && fc + fd > 0 &&
                    !((c->capacity_check & BML_CYCLER_CHECK_CHARGE) && differs(c->charge_ah - fc, c->charge_ah_integral)) &&
                    !((c->capacity_check & BML_CYCLER_CHECK_DISCHARGE) &&
                      differs(c->discharge_ah - fd, c->discharge_ah_integral));
    if (explained)
        bml__sb_fmt(&b->differs, " (the file begins inside it: less the %.6g / %.6g Ah its counters held at its first "
                                 "row, they agree)", fc, fd);
}

/* close the open cycle; complete: a later cycle follows it */
static bml_status close_cycle(builder *b, int complete) {
    if (!b->open) return BML_OK;
    bml_cycler_summary *s = b->s;
    size_t G = s->opts.n_grid;
    bml_cycler_cycle one, *c = &one;
    if (b->out) {
        memset(c, 0, sizeof *c);
        c->charge_curve_ah = b->out->ch;
        c->discharge_curve_ah = b->out->dis;
    } else {
        if (s->n_cycles == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 64;
            bml_cycler_cycle *nc = realloc(s->cycles, cap * sizeof *nc);
            if (!nc) return bml__fail(BML_ERR_NOMEM, "out of memory");
            s->cycles = nc;
            b->cap = cap;
        }
        c = &s->cycles[s->n_cycles];
        memset(c, 0, sizeof *c);
        if (b->qv) { /* the cycle-life loader: only the discharge curves of the cycles it asks for, on its grid */
            long y = b->first.cycle;
            if (y >= b->qv->first && y <= b->qv->last && !(c->discharge_curve_ah = malloc(b->qv->n * sizeof(double))))
                return bml__fail(BML_ERR_NOMEM, "out of memory");
        } else {
            c->charge_curve_ah = malloc(G * sizeof(double));
            c->discharge_curve_ah = malloc(G * sizeof(double));
            if (!c->charge_curve_ah || !c->discharge_curve_ah) {
                free(c->charge_curve_ah);
                free(c->discharge_curve_ah);
                return bml__fail(BML_ERR_NOMEM, "out of memory");
            }
        }
        s->n_cycles++;
    }
    b->n_closed++;
    b->n_complete += complete != 0;
    const bml_cycler_point *f = &b->first, *l = &b->last;
    c->cycle = f->cycle;
    c->complete = complete;
    c->n_points = b->n_points;
    c->first_line = f->line;
    c->start_time_s = f->test_time_s;
    c->duration_s = l->test_time_s - f->test_time_s;
    c->start_unix = f->unix_time;
    c->charge_ah = b->any_charge ? l->charge_ah : NAN;
    c->charge_wh = b->any_charge ? l->charge_wh : NAN;
    c->discharge_ah = b->any_discharge ? l->discharge_ah : NAN;
    c->discharge_wh = b->any_discharge ? l->discharge_wh : NAN;
    /* the physical throughput: every step, whatever the capacity rule */
    const double sum_c = isnan(c->charge_ah) ? 0 : c->charge_ah, sum_d = isnan(c->discharge_ah) ? 0 : c->discharge_ah;
    if (s->opts.capacity_rule == BML_CYCLER_CAPACITY_LARGEST_STEP) {
        run_close(b, l);
        if (b->any_charge) c->charge_ah = b->best[0], c->charge_wh = b->best[2];
        if (b->any_discharge) c->discharge_ah = b->best[1], c->discharge_wh = b->best[3];
    }
    /* a vendor counter near the largest number can add up past it (a reset counter counts on from its last value) */
    const char *big = isinf(c->charge_ah) ? "charge capacity" : isinf(c->discharge_ah) ? "discharge capacity"
                    : isinf(c->charge_wh) ? "charge energy" : isinf(c->discharge_wh) ? "discharge energy" : NULL;
    if (big)
        return bml__fail(BML_ERR_VALUE, "%s:%zu-%zu: the %s of cycle %ld, counted up over these lines, is larger than the "
                                        "largest number (%g)", s->meta.path ? s->meta.path : "", f->line, l->line, big,
                         c->cycle, DBL_MAX);
    c->coulombic_efficiency = c->charge_ah > 0 ? c->discharge_ah / c->charge_ah : NAN;
    c->energy_efficiency = c->charge_wh > 0 ? c->discharge_wh / c->charge_wh : NAN;
    b->throughput += sum_c + sum_d;
    if (!isfinite(b->throughput))
        return bml__fail(BML_ERR_VALUE, "%s:%zu: the charge throughput to the end of cycle %ld is larger than the largest "
                                        "number (%g Ah)", s->meta.path ? s->meta.path : "", l->line, c->cycle, DBL_MAX);
    c->throughput_ah = b->throughput;
    capacity_check(b, c);
    c->mean_abs_current_a = !(b->flow_t > 0) ? NAN : isfinite(b->flow_q) && isfinite(b->flow_t) ? b->flow_q / b->flow_t
                            : b->flow_mean > DBL_MAX ? DBL_MAX : b->flow_mean;
    c->temperature_min_c = b->temp.n ? b->t_min : NAN;
    c->temperature_max_c = b->temp.n ? b->t_max : NAN;
    c->temperature_mean_c = mean_get(&b->temp);
    c->resistance_ohm = b->r_log.n ? mean_get(&b->r_log) : mean_get(&b->r_step);
    if (isnan(b->first_discharge) && c->discharge_ah > 0) b->first_discharge = c->discharge_ah;
    double ref = s->meta.nominal_capacity_ah > 0 ? s->meta.nominal_capacity_ah : b->first_discharge;
    if (!b->out && s->opts.raw_max_c_rate > 0 && b->dis.n >= 2 && ref > 0 &&
        c->mean_abs_current_a <= s->opts.raw_max_c_rate * ref) {
        c->raw_q_ah = malloc(b->dis.n * sizeof(double));
        c->raw_v = malloc(b->dis.n * sizeof(double));
        if (!c->raw_q_ah || !c->raw_v) return bml__fail(BML_ERR_NOMEM, "out of memory"); /* freed with the summary */
        memcpy(c->raw_q_ah, b->dis.q, b->dis.n * sizeof(double));
        memcpy(c->raw_v, b->dis.v, b->dis.n * sizeof(double));
        c->n_raw = b->dis.n;
    }
    if (b->qv) {
        if (c->discharge_curve_ah) qv_curve(b, c);
    } else {
        interp_first_crossing(&b->ch, s->grid_v, G, 1, c->charge_curve_ah);
        interp_first_crossing(&b->dis, s->grid_v, G, 0, c->discharge_curve_ah);
    }
    b->open = 0;
    if (b->out) {
        put_cycle_row(&b->out->rows[0], &b->out->fmt, c);
        put_curve_rows(&b->out->rows[1], &b->out->fmt, c);
        BML__TRY(sink_drain(b->out, 0));
    }
    return BML_OK;
}

static bml_status on_point(const bml_cycler_point *p, void *user) {
    builder *b = user;
    const int *cancel = b->s->opts.cancel;
    if ((++b->n_rows & 4095) == 0 && cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
        return bml__fail(BML_ERR_CANCELLED, "%s:%zu: cancelled", b->s->meta.path ? b->s->meta.path : "", p->line);
    if (b->out && b->out->fd[0] < 0) BML__TRY(sink_open(b->out, b->s));
    if (b->open && p->cycle != b->first.cycle) {
        if (p->cycle < b->first.cycle)
            return bml__fail(BML_ERR_VALUE, "%s:%zu: the cycle index goes back from %ld to %ld", b->s->meta.path ? b->s->meta.path : "",
                             p->line, b->first.cycle, p->cycle);
        BML__TRY(close_cycle(b, 1));
    }
    if (!b->open) {
        b->open = 1;
        b->first = *p;
        free(b->part);
        b->part = NULL;
        const char *in = b->s->meta.path;
        if (in && b->path && strcmp(in, b->path) && !(b->part = bml__strdup(in))) return bml__fail(BML_ERR_NOMEM, "out of memory");
        b->any_charge = b->any_discharge = 0;
        memset(&b->temp, 0, sizeof b->temp);
        memset(&b->r_log, 0, sizeof b->r_log);
        memset(&b->r_step, 0, sizeof b->r_step);
        b->t_min = INFINITY, b->t_max = -INFINITY;
        b->flow_q = b->flow_t = b->flow_mean = 0;
        b->pending = 0;
        b->ch.n = b->dis.n = 0;
        b->n_points = 0;
        b->last = *p;
        b->integ_c = b->integ_d = 0;
        b->run_step = p->step;
        for (int k = 0; k < 4; k++) b->run_base[k] = 0, b->best[k] = NAN;
        b->run_integ_c = b->run_integ_d = b->best_integ_c = b->best_integ_d = 0;
    } else if (p->step != b->run_step) { /* a new run of steps: the last one closes at the row before */
        run_close(b, &b->last);
        b->run_step = p->step;
    }
    /* the current's integral, right-endpoint: this row's current over the time since the row before it */
    double dt_prev = b->have_prev ? p->test_time_s - b->prev_t : 0;
    if (dt_prev > 0 && isfinite(dt_prev)) {
        if (p->current_a > 0) b->integ_c += p->current_a * dt_prev, b->run_integ_c += p->current_a * dt_prev;
        else if (p->current_a < 0) b->integ_d -= p->current_a * dt_prev, b->run_integ_d -= p->current_a * dt_prev;
    }
    b->have_prev = 1;
    b->prev_t = p->test_time_s;
    /* every time difference within the cycle is then a number (the readers keep the time from going back) */
    if (!isfinite(p->test_time_s - b->first.test_time_s))
        return bml__fail(BML_ERR_VALUE, "%s:%zu: the test time goes from %g s at the start of cycle %ld to %g s, a span "
                                        "larger than the largest number", b->s->meta.path ? b->s->meta.path : "", p->line,
                         b->first.test_time_s, b->first.cycle, p->test_time_s);
    b->n_points++;
    const bml_cycler_point *prev = &b->last;
    double dt = p->test_time_s - prev->test_time_s;
    if (dt > 0 && prev->current_a != 0) {
        double a = fabs(prev->current_a);
        b->flow_q += a * dt;
        b->flow_t += dt;
        b->flow_mean += (a - b->flow_mean) * (dt / b->flow_t); /* both terms >= 0: no overflow */
    }
    /* resistance from a current step: the last row before it and the first row a window after it */
    const bml_cycler_summary_opts *o = &b->s->opts;
    if (fabs(p->current_a - prev->current_a) >= o->ir_min_step_a) {
        b->pending = 1;
        b->step_t = prev->test_time_s, b->step_v = prev->voltage_v, b->step_i = prev->current_a;
    }
    if (b->pending && p->test_time_s - b->step_t >= o->ir_window_s) {
        double di = p->current_a - b->step_i;
        if (fabs(di) >= o->ir_min_step_a) {
            double r = (p->voltage_v - b->step_v) / di;
            if (isfinite(r) && r > 0) mean_add(&b->r_step, r);
        }
        b->pending = 0;
    }
    if (p->current_a > 0) {
        b->any_charge = 1;
        if (!isnan(p->charge_ah) && qv_push(&b->ch, p->charge_ah, p->voltage_v)) return bml__fail(BML_ERR_NOMEM, "out of memory");
    } else if (p->current_a < 0) {
        b->any_discharge = 1;
        if (!isnan(p->discharge_ah) && qv_push(&b->dis, p->discharge_ah, p->voltage_v))
            return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    if (!isnan(p->temperature_c)) {
        mean_add(&b->temp, p->temperature_c);
        if (p->temperature_c < b->t_min) b->t_min = p->temperature_c;
        if (p->temperature_c > b->t_max) b->t_max = p->temperature_c;
    }
    if (!isnan(p->resistance_ohm)) mean_add(&b->r_log, p->resistance_ohm);
    b->last = *p;
    return BML_OK;
}

void bml_cycler_summary_free(bml_cycler_summary *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_cycles; i++) {
        free(s->cycles[i].charge_curve_ah);
        free(s->cycles[i].discharge_curve_ah);
        free(s->cycles[i].raw_q_ah);
        free(s->cycles[i].raw_v);
    }
    free(s->cycles);
    free(s->grid_v);
    free(s->capacity_warning);
    bml_cycler_meta_free(&s->meta);
    free(s);
}

/* an empty summary with checked options and its grid */
static bml_status summary_new(const bml_cycler_summary_opts *opts, bml_cycler_summary **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("cycler summary", opts, bml_cycler_summary_opts, BML_CYCLER_SUMMARY_OPTS));
    bml_cycler_summary_opts o = opts ? *opts : bml_cycler_summary_defaults();
    if (o.capacity_rule != BML_CYCLER_CAPACITY_SUM && o.capacity_rule != BML_CYCLER_CAPACITY_LARGEST_STEP)
        return bml__fail(BML_ERR_VALUE, "cycler summary: capacity_rule %d is neither BML_CYCLER_CAPACITY_SUM (0) nor "
                                        "BML_CYCLER_CAPACITY_LARGEST_STEP (1)", o.capacity_rule);
    if (o.n_grid < 2 || !(o.v_max > o.v_min) || !isfinite(o.v_min) || !isfinite(o.v_max) || !(o.ir_window_s >= 0) ||
        !(o.ir_min_step_a > 0))
        return bml__fail(BML_ERR_VALUE, "cycler summary: need n_grid >= 2, v_min < v_max, ir_window_s >= 0 and "
                                        "ir_min_step_a > 0");
    bml_cycler_summary *s = calloc(1, sizeof *s);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    s->opts = o;
    s->meta.nominal_capacity_ah = NAN;
    s->grid_v = o.n_grid <= SIZE_MAX / sizeof *s->grid_v ? malloc(o.n_grid * sizeof *s->grid_v) : NULL;
    if (!s->grid_v) {
        free(s);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t g = 0; g < o.n_grid; g++) s->grid_v[g] = o.v_min + (o.v_max - o.v_min) * (double)g / (double)(o.n_grid - 1);
    *out = s;
    return BML_OK;
}

/* stream path through a builder into s (cycles kept, or written to k when k is given) */
static bml_status summarize_into(bml_cycler_summary *s, const char *path, bml_cycler_format format, sink *k,
                                 size_t *n_closed, size_t *n_complete, bml__cycler_qv *qv) {
    builder b;
    memset(&b, 0, sizeof b);
    b.s = s;
    b.out = k;
    b.qv = qv;
    b.path = path;
    b.first_discharge = NAN;
    bml_status st = bml_cycler_read(path, format, on_point, &b, &s->meta);
    if (st == BML_OK) st = close_cycle(&b, 0);
    s->n_capacity_differs = b.n_differs;
    if (st == BML_OK && b.n_differs) {
        if (b.n_differs > 20) bml__sb_fmt(&b.differs, "; and %zu more", b.n_differs - 20);
        bml__sb_put(&b.differs, "", 1);
        s->capacity_warning = b.differs.nomem ? NULL
                              : bml__sprintf("%s: %zu cycle(s) whose capacity differs from the integral of the current by "
                                             "more than 2 %% and 1e-4 Ah (capacity_check):%s", path, b.n_differs,
                                             b.differs.buf);
        if (!s->capacity_warning) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    free(b.differs.buf);
    free(b.part);
    free(b.ch.q), free(b.ch.v), free(b.dis.q), free(b.dis.v);
    if (n_closed) *n_closed = b.n_closed;
    if (n_complete) *n_complete = b.n_complete;
    return st;
}

bml_status bml_cycler_summarize(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                bml_cycler_summary **out) {
    *out = NULL;
    bml_cycler_summary *s;
    BML__TRY(summary_new(opts, &s));
    bml_status st = summarize_into(s, path, format, NULL, NULL, NULL, NULL);
    if (st != BML_OK) {
        bml_cycler_summary_free(s);
        return st;
    }
    *out = s;
    return BML_OK;
}

bml_status bml__cycler_summarize_qv(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                    bml__cycler_qv *qv, bml_cycler_summary **out) {
    *out = NULL;
    if (qv->n < 2 || !(qv->grid[0] != qv->grid[qv->n - 1])) return bml__fail(BML_ERR_VALUE, "cycler summary: a grid of at least 2 different voltages");
    bml_cycler_summary *s;
    BML__TRY(summary_new(opts, &s));
    double *asc = qv->n <= SIZE_MAX / sizeof *asc ? malloc(qv->n * sizeof *asc) : NULL;
    if (!asc) {
        bml_cycler_summary_free(s);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    int desc = qv->grid[0] > qv->grid[qv->n - 1];
    for (size_t j = 0; j < qv->n; j++) asc[j] = desc ? qv->grid[qv->n - 1 - j] : qv->grid[j];
    free(s->grid_v);
    s->grid_v = asc;
    s->opts.n_grid = qv->n;
    s->opts.raw_max_c_rate = 0; /* no raw points */
    qv->n_low = 0;
    qv->low_first = 0;
    bml_status st = summarize_into(s, path, format, NULL, NULL, NULL, qv);
    if (st != BML_OK) {
        bml_cycler_summary_free(s);
        return st;
    }
    *out = s;
    return BML_OK;
}

/* ------------------------------------------------------------------ CSV files */

static bml_status write_text(const char *dir, const char *cell, const char *suffix, const bml__sb *b) {
    if (b->nomem) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *name = bml__sprintf("%s%s", cell, suffix);
    char *p = name ? bml__path_join(dir, name) : NULL;
    bml_status st = p ? bml__write_file_atomic(p, b->buf ? b->buf : "", b->len) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(p);
    free(name);
    return st;
}

bml_status bml_cycler_summary_write(const bml_cycler_summary *s, const char *dir) {
    if (!bml__is_dir(dir)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such directory", dir);
    const char *cell = s->meta.cell ? s->meta.cell : "cell";
    rowfmt r;
    BML__TRY(rowfmt_init(&r, s));
    bml__sb b = {0};
    bml__sb_str(&b, CYCLES_HEADER);
    for (size_t i = 0; i < s->n_cycles; i++) put_cycle_row(&b, &r, &s->cycles[i]);
    bml_status st = write_text(dir, cell, "_cycles.csv", &b);
    b.len = 0;
    if (st == BML_OK) {
        bml__sb_str(&b, CURVES_HEADER);
        for (size_t i = 0; i < s->n_cycles; i++) put_curve_rows(&b, &r, &s->cycles[i]);
        st = write_text(dir, cell, "_curves.csv", &b);
    }
    free(b.buf);
    rowfmt_free(&r);
    return st;
}

/* ------------------------------------------------------------------ structure: a folder of cells, all or none */

/* out without trailing slashes split into its folder and its name */
static bml_status split_out(const char *out, char **parent, char **name) {
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && out[b - 1] != '/') b--;
    *name = bml__strndup(out + b, n - b);
    size_t pn = b;
    while (pn > 1 && out[pn - 1] == '/') pn--;
    *parent = b == 0 ? bml__strdup(".") : bml__strndup(out, pn);
    if (!*name || !*parent) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!**name || !strcmp(*name, ".") || !strcmp(*name, ".."))
        return bml__fail(BML_ERR_VALUE, "%s: not a folder name to create", out);
    return BML_OK;
}

/* move the staged files into the existing folder out, one rename each; when one fails, the files moved
 * are taken back out and those they replaced put back (hard links to them are kept in stage/old/ until
 * the end) */
static bml_status publish_into(const char *stage, const char *out, const bml__strvec *names) {
    bml_status st = bml__fsync_tree(stage);
    char *old = st == BML_OK ? bml__path_join(stage, "old") : NULL;
    unsigned char *had = st == BML_OK ? bml__calloc(names->n ? names->n : 1, 1) : NULL;
    if (st == BML_OK && (!old || !had)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && mkdir(old, 0700) != 0) st = bml__fail(BML_ERR_IO, "%s: cannot create: %s", old, strerror(errno));
    size_t moved = 0;
    for (; st == BML_OK && moved < names->n; moved++) {
        const char *nm = names->items[moved];
        char *src = bml__path_join(stage, nm), *dst = bml__path_join(out, nm), *bak = bml__path_join(old, nm);
        struct stat sb;
        if (!src || !dst || !bak) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (lstat(dst, &sb) == 0 && S_ISDIR(sb.st_mode)) st = bml__fail(BML_ERR_IO, "%s: a folder is there", dst);
        else if (linkat(AT_FDCWD, dst, AT_FDCWD, bak, 0) == 0) had[moved] = 1;
        else if (errno != ENOENT)
            st = bml__fail(BML_ERR_IO, "%s: cannot keep the file this run replaces (to put it back on failure): %s", dst,
                           strerror(errno));
        if (st == BML_OK && rename(src, dst) != 0) st = bml__fail(BML_ERR_IO, "cannot move %s to %s: %s", src, dst, strerror(errno));
        free(src), free(dst), free(bak);
        if (st != BML_OK) break;
    }
    if (st != BML_OK && moved > 0) { /* take back what was moved, the last first */
        int lost = 0;
        for (size_t j = moved; j-- > 0;) {
            char *dst = bml__path_join(out, names->items[j]), *bak = old ? bml__path_join(old, names->items[j]) : NULL;
            if (!dst || !bak || (had[j] ? rename(bak, dst) : unlink(dst)) != 0) lost = 1;
            free(dst), free(bak);
        }
        bml__fail_prefix(st, lost ? "%s: some files are from this run, the others as they were" : "%s is as it was", out);
    } else if (st != BML_OK) {
        bml__fail_prefix(st, "%s is as it was", out);
    }
    bml_status st2 = bml__fsync_dir(out);
    if (st == BML_OK && st2 != BML_OK) st = bml__fail_prefix(st2, "the files in %s may not survive a power loss", out);
    free(old);
    free(had);
    return st;
}

/* one file summarised into k's staging folder: its summary (no cycles kept: its metadata and counts, for
 * on_file) in *out, owned by the caller, with the cycles written, those a later cycle follows and the time */
typedef struct {
    bml_cycler_summary *s;
    size_t n_closed, n_complete;
    double seconds;
} file_done;

static bml_status structure_one(const char *file, bml_cycler_format format, const bml_cycler_summary_opts *opts, sink *k,
                                file_done *out) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(out, 0, sizeof *out);
    BML__TRY(summary_new(opts, &out->s));
    k->fd[0] = k->fd[1] = -1;
    bml_status st = summarize_into(out->s, file, format, k, &out->n_closed, &out->n_complete, NULL);
    if (st == BML_OK) st = sink_close(k);
    sink_release(k);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return st;
}

static void report_done(const file_done *d, bml_cycler_structure_fn on_file, void *user) {
    if (!on_file) return;
    bml_cycler_structure_file info = {&d->s->meta, d->n_closed, d->n_complete, d->seconds, d->s->n_capacity_differs,
                                      d->s->capacity_warning};
    on_file(&info, user);
}

static bml_status structure_file(const char *file, bml_cycler_format format, const bml_cycler_summary_opts *opts, sink *k,
                                 bml_cycler_structure_fn on_file, void *user) {
    file_done d;
    bml_status st = structure_one(file, format, opts, k, &d);
    if (st == BML_OK) report_done(&d, on_file, user);
    bml_cycler_summary_free(d.s);
    return st;
}

/* ---- several files at once (opts->jobs > 1): workers summarise the files, each into a folder of its own
 * in the stage (.job-<i>), in any order; this thread takes them in file order as they finish: a failure, a
 * cancel or a second file of one cell name ends the call as it would one file at a time (the first in file
 * order), else the file is reported (on_file) and its two files moved into the stage. The same files, names,
 * reports and messages as one at a time. */
typedef struct {
    char *dir;
    bml__strvec cells, sources, names;
    file_done done;
    bml_status st;
    char *err; /* the worker's message (errors are per thread) */
    int state; /* 0 waiting, 1 taken, 2 finished */
} job_file;

typedef struct {
    char **files;
    job_file *f;
    bml_cycler_format format;
    const bml_cycler_summary_opts *opts;
    const char *out;
} job_set;

/* file i into its own folder of the stage (a task of the pool) */
static void job_task(void *arg, size_t i) {
    job_set *p = arg;
    job_file *f = &p->f[i];
    bml_status st = mkdir(f->dir, 0700) == 0 ? BML_OK : bml__fail(BML_ERR_IO, "%s: cannot create: %s", f->dir, strerror(errno));
    if (st == BML_OK) {
        sink k;
        memset(&k, 0, sizeof k);
        k.stage = f->dir, k.out = p->out, k.cells = &f->cells, k.sources = &f->sources, k.names = &f->names;
        st = structure_one(p->files[i], p->format, p->opts, &k, &f->done);
    }
    f->st = st, f->err = st != BML_OK ? bml__strdup(bml_last_error()) : NULL;
}

/* file i's cells checked against those before it, its files moved into the stage */
static bml_status job_merge(job_file *f, sink *k) {
    for (size_t c = 0; c < f->cells.n; c++) {
        int dup = bml__strvec_find(k->cells, f->cells.items[c]);
        if (dup >= 0)
            return bml__fail(BML_ERR_VALUE, "%s and %s: two files of one cell name '%s' (they would overwrite each other)%s",
                             k->sources->items[dup], f->sources.items[c], f->cells.items[c],
                             split_hint(k->sources->items[dup], f->sources.items[c]));
        if (bml__strvec_push(k->cells, f->cells.items[c]) || bml__strvec_push(k->sources, f->sources.items[c]))
            return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t j = 0; j < f->names.n; j++) {
        char *src = bml__path_join(f->dir, f->names.items[j]), *dst = bml__path_join(k->stage, f->names.items[j]);
        bml_status st = !src || !dst ? bml__fail(BML_ERR_NOMEM, "out of memory")
                        : rename(src, dst) != 0 ? bml__fail(BML_ERR_IO, "cannot move %s to %s: %s", src, dst, strerror(errno))
                        : bml__strvec_push(k->names, f->names.items[j]) ? bml__fail(BML_ERR_NOMEM, "out of memory")
                                                                         : BML_OK;
        free(src), free(dst);
        BML__TRY(st);
    }
    return rmdir(f->dir) == 0 ? BML_OK : bml__fail(BML_ERR_IO, "%s: cannot remove: %s", f->dir, strerror(errno));
}

static bml_status structure_jobs(char **files, size_t n, int jobs, bml_cycler_format format,
                                 const bml_cycler_summary_opts *opts, sink *k, bml_cycler_structure_fn on_file, void *user) {
    job_set p = {files, bml__calloc(n ? n : 1, sizeof *p.f), format, opts, k->out};
    if (!p.f) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = BML_OK;
    for (size_t i = 0; st == BML_OK && i < n; i++)
        if (!(p.f[i].dir = bml__sprintf("%s/.job-%zu", k->stage, i))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    bml__pool *pool = NULL;
    if (st == BML_OK && (st = bml__pool_start(n, jobs, job_task, &p, NULL, &pool)) != BML_OK)
        st = bml__fail_prefix(st, "structure");
    const int *cancel = opts ? opts->cancel : NULL;
    for (size_t i = 0; st == BML_OK && i <= n; i++) {
        if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED)) {
            st = bml__fail(BML_ERR_CANCELLED, "structure: cancelled%s%s", i < n ? " before " : "", i < n ? files[i] : "");
            break;
        }
        if (i == n) break;
        bml__pool_wait(pool, i);
        job_file *f = &p.f[i];
        if (f->st != BML_OK) st = bml__task_status(f->st, f->err);
        else if ((st = job_merge(f, k)) == BML_OK) report_done(&f->done, on_file, user);
    }
    bml__pool_end(pool); /* no file is taken from now on; those being read finish (a cancel flag ends them sooner) */
    for (size_t i = 0; i < n; i++) { /* on failure the job folders go with the stage */
        job_file *f = &p.f[i];
        bml_cycler_summary_free(f->done.s);
        bml__strvec_free(&f->cells), bml__strvec_free(&f->sources), bml__strvec_free(&f->names);
        free(f->dir), free(f->err);
    }
    free(p.f);
    return st;
}

bml_status bml_cycler_structure(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                const char *out, bml_cycler_structure_fn on_file, void *user, size_t *n_cells,
                                size_t *n_companions) {
    if (n_cells) *n_cells = 0;
    if (n_companions) *n_companions = 0;
    bml_cycler_summary *probe;
    BML__TRY(summary_new(opts, &probe)); /* the options checked before anything is read */
    bml_cycler_summary_free(probe);
    if (!out || !*out) return bml__fail(BML_ERR_VALUE, "structure: no output folder given");
    char **files;
    size_t n, n_comp;
    BML__TRY(bml_cycler_list(path, format, &files, &n, &n_comp));
    bml_status st = BML_OK;
    char *parent = NULL, *name = NULL;
    struct stat so;
    int exists = stat(out, &so) == 0; /* a link to a folder is that folder, as before */
    if (exists && !S_ISDIR(so.st_mode)) st = bml__fail(BML_ERR_IO, "%s: cannot create the output folder: a file is there", out);
    else if (!exists && errno != ENOENT) st = bml__fail(BML_ERR_IO, "%s: %s", out, strerror(errno));
    else if (!exists) {
        st = split_out(out, &parent, &name);
        if (st == BML_OK && !bml__is_dir(parent))
            st = bml__fail(BML_ERR_NOT_FOUND, "%s: cannot create the output folder: no folder %s", out, parent);
    }
    bml__stage sd = {NULL, -1};
    if (st == BML_OK) st = bml__stage_open(&sd, exists ? out : parent, "structure");
    bml__strvec cells = {0}, sources = {0}, names = {0};
    sink k;
    memset(&k, 0, sizeof k);
    k.stage = sd.path, k.out = out, k.cells = &cells, k.sources = &sources, k.names = &names;
    const int *cancel = opts ? opts->cancel : NULL;
    if (st == BML_OK && opts && opts->jobs > 1 && n > 1) {
        st = structure_jobs(files, n, opts->jobs, format, opts, &k, on_file, user);
    } else {
        for (size_t i = 0; st == BML_OK && i <= n; i++) { /* the flag also looked at between files and before the move */
            if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED))
                st = bml__fail(BML_ERR_CANCELLED, "structure: cancelled%s%s", i < n ? " before " : "", i < n ? files[i] : "");
            else if (i < n)
                st = structure_file(files[i], format, opts, &k, on_file, user);
        }
    }
    if (st == BML_OK && exists) {
        st = publish_into(sd.path, out, &names);
    } else if (st == BML_OK) {
        char *final = NULL;
        st = bml__stage_publish(&sd, parent, name, 0, &final);
        free(final);
    }
    bml__stage_discard(&sd); /* on failure: the staged files; after publish_into: the links to the old files */
    if (st == BML_OK && n_cells) *n_cells = n;
    if (st == BML_OK && n_companions) *n_companions = n_comp;
    bml__strvec_free(&cells);
    bml__strvec_free(&sources);
    bml__strvec_free(&names);
    free(parent);
    free(name);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
    return st;
}

/* ------------------------------------------------------------------ folders and the dataset */

/* a companion of a run, not data: metadata, EC-Lab's settings (.mpl log, .mps settings), notes, Battery Archive's
 * per-cycle table (<cell>_cycle_data.csv beside <cell>_timeseries.csv); EC-Lab's text export NAME.mpt beside
 * its binary NAME.mpr in `dir` (the same run twice: the .mpr is read); and the Battery Data Hub's per-cycle table
 * <cell>-summary.csv beside its <cell>-raw.csv (either joined by '-' or ' ', as battery-data-toolkit groups them) */
static int companion(const char *dir, const char *name) {
    size_t n = strlen(name);
    if (n > 12 && bml__streq_ci(name + n - 11, "summary.csv") && (name[n - 12] == '-' || name[n - 12] == ' ')) {
        int twin = 0;
        for (int k = 0; k < 2 && !twin; k++) {
            char *raw = bml__sprintf("%s/%.*s%craw.csv", dir, (int)(n - 12), name, k ? ' ' : '-');
            twin = raw && bml__is_file(raw);
            free(raw);
        }
        if (twin) return 1;
    }
    if (n > 4 && bml__streq_ci(name + n - 4, ".mpt")) {
        char *mpr = bml__sprintf("%s/%.*s.mpr", dir, (int)(n - 4), name);
        int twin = mpr && bml__is_file(mpr);
        free(mpr);
        if (twin) return 1;
    }
    static const char *const suffixes[] = {"_metadata.csv", ".mpl", ".mps", ".json", ".md", "_cycle_data.csv"};
    for (size_t k = 0; k < sizeof suffixes / sizeof *suffixes; k++) {
        size_t m = strlen(suffixes[k]);
        if (n >= m && bml__streq_ci(name + n - m, suffixes[k])) return 1;
    }
    return !strncasecmp(name, "LICENSE", 7) || !strncasecmp(name, "README", 6) || name[0] == '.';
}

/* the Maccor parts of the list (part[i]) ordered by name then number */
static int part_cmp(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t nx = (size_t)(strrchr(x, '.') - x), ny = (size_t)(strrchr(y, '.') - y);
    int c = strncmp(x, y, nx < ny ? nx : ny);
    if (c) return c;
    if (nx != ny) return nx < ny ? -1 : 1;
    return bml__cycler_part_number(x) - bml__cycler_part_number(y);
}

static int ptr_cmp(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(char *const *)a, y = (uintptr_t)*(char *const *)b;
    return x < y ? -1 : x > y;
}

/* A Maccor test split over NAME.001, NAME.002, ... is one cell: its later parts leave the list (bml_cycler_read of
 * the first reads on into them). Numbers of one name that skip one fail, naming the part not there. */
static bml_status join_parts(bml__strvec *v, const unsigned char *part) {
    size_t m = 0;
    for (size_t i = 0; i < v->n; i++) m += part[i];
    if (m < 2) return BML_OK;
    char **p = bml__calloc(m, sizeof *p);
    if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
    m = 0;
    for (size_t i = 0; i < v->n; i++)
        if (part[i]) p[m++] = v->items[i];
    qsort(p, m, sizeof *p, part_cmp);
    bml_status st = BML_OK;
    size_t n_drop = 0; /* the later parts, moved to the front of p */
    int run_first = bml__cycler_part_number(p[0]); /* the first number of the current name's run */
    const char *prev = p[0];
    for (size_t i = 1; st == BML_OK && i < m; i++) {
        const char *cur = p[i];
        size_t stem = (size_t)(strrchr(cur, '.') - cur);
        int same = stem == (size_t)(strrchr(prev, '.') - prev) && !strncmp(cur, prev, stem);
        int a = bml__cycler_part_number(prev), b = bml__cycler_part_number(cur);
        if (!same) run_first = b;
        /* a run of numbers that does not start at .001 is no split test (Maccor names a channel's file by its
         * number: NAME.052 and NAME.053 are two channels) and stays as it is */
        if (same && run_first == 1) {
            if (b != a + 1)
                st = bml__fail(BML_ERR_VALUE, "%s and %s: numbered parts of one Maccor test with %.*s.%03d missing between "
                                              "them (a test split over NAME.001, NAME.002, ... is read as one, in order)",
                               prev, cur, (int)stem, cur, a + 1);
            else
                p[n_drop++] = p[i]; /* n_drop < i: what it overwrites has been looked at (prev keeps its own pointer) */
        }
        prev = cur;
    }
    if (st == BML_OK && n_drop) { /* the list keeps its order; each later part leaves it */
        qsort(p, n_drop, sizeof *p, ptr_cmp);
        size_t k = 0;
        for (size_t i = 0; i < v->n; i++) {
            if (part[i] && bsearch(&v->items[i], p, n_drop, sizeof *p, ptr_cmp)) free(v->items[i]);
            else v->items[k++] = v->items[i];
        }
        v->n = k;
    }
    free(p);
    return st;
}

bml_status bml_cycler_list(const char *path, bml_cycler_format format, char ***files, size_t *n, size_t *n_companions) {
    *files = NULL;
    *n = 0;
    if (n_companions) *n_companions = 0;
    bml__strvec v = {0};
    bml_status st = BML_OK;
    if (bml__is_file(path)) {
        if (bml__strvec_push(&v, path) != 0) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    } else if (bml__is_dir(path)) {
        DIR *d = opendir(path);
        if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open the folder", path);
        struct dirent *e;
        while (st == BML_OK && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = bml__path_join(path, e->d_name);
            if (!p) {
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
                break;
            }
            if (bml__is_file(p)) {
                if (companion(path, e->d_name)) {
                    if (n_companions) (*n_companions)++;
                } else if (bml__strvec_push(&v, p) != 0) {
                    st = bml__fail(BML_ERR_NOMEM, "out of memory");
                }
            }
            free(p);
        }
        closedir(d);
        if (st == BML_OK) qsort(v.items, v.n, sizeof *v.items, bml__strcmp_ptr);
    } else {
        struct stat sb;
        if (stat(path, &sb) == 0) /* a FIFO is never opened: it would block */
            return bml__fail(BML_ERR_IO, "%s: %s, not a regular file or a folder: refused", path,
                             S_ISFIFO(sb.st_mode) ? "a FIFO" : "a device or socket");
        return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file or folder", path);
    }
    unsigned char *part = bml__calloc(v.n ? v.n : 1, 1); /* 1: a Maccor export with a three-digit extension */
    if (!part) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < v.n; i++) {
        bml_cycler_format f = format;
        if (f == BML_CYCLER_AUTO) st = bml_cycler_detect(v.items[i], &f);
        part[i] = f == BML_CYCLER_MACCOR && bml__cycler_part_number(v.items[i]) >= 0;
    }
    if (st == BML_OK && v.n > 1) st = join_parts(&v, part);
    free(part);
    if (st == BML_OK && v.n == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no cycler exports in the folder", path);
    if (st != BML_OK) {
        bml__strvec_free(&v);
        return st;
    }
    *files = v.items;
    *n = v.n;
    return BML_OK;
}

/* one cell of the dataset from a summary; *dropped counts the cycles without a discharge */
/* the SoH reference capacity of a cell */
static bml_status soh_ref(const bml_cycler_summary *s, int nominal, double *out) {
    double ref = NAN;
    if (nominal) {
        ref = s->meta.nominal_capacity_ah;
        if (!(ref > 0))
            return bml__fail(BML_ERR_VALUE, "%s: soh_reference=nominal but the file gives no nominal capacity", s->meta.path);
    } else {
        for (size_t i = 0; i < s->n_cycles && isnan(ref); i++) {
            const bml_cycler_cycle *y = &s->cycles[i];
            if (y->complete && y->charge_ah > 0 && y->discharge_ah > 0) ref = y->discharge_ah;
        }
        for (size_t i = 0; i < s->n_cycles && isnan(ref); i++)
            if (s->cycles[i].discharge_ah > 0) ref = s->cycles[i].discharge_ah;
        if (isnan(ref)) return bml__fail(BML_ERR_EMPTY, "%s: no cycle with a discharge (no SoH reference)", s->meta.path);
    }
    *out = ref;
    return BML_OK;
}

/* "first_cycle" / "nominal" and "file" / "barcode" / "channel", checked */
static bml_status cells_parse(const bml_cycler_cells *cells, int *nominal, int *cell_from) {
    const char *r = cells && cells->soh_reference ? cells->soh_reference : "first_cycle";
    const char *c = cells && cells->cell_from ? cells->cell_from : "file";
    *nominal = !strcmp(r, "nominal");
    if (!*nominal && strcmp(r, "first_cycle"))
        return bml__fail(BML_ERR_VALUE, "cycler data: soh_reference must be first_cycle or nominal, got '%s'", r);
    *cell_from = !strcmp(c, "file") ? 0 : !strcmp(c, "barcode") ? 1 : !strcmp(c, "channel") ? 2 : -1;
    if (*cell_from < 0) return bml__fail(BML_ERR_VALUE, "cycler data: cell_from must be file, barcode or channel, got '%s'", c);
    return BML_OK;
}

/* the cell id of a file (owned by s) */
static bml_status cell_id(const bml_cycler_summary *s, int cell_from, const char **out) {
    const char *id = cell_from == 0 ? s->meta.cell : cell_from == 1 ? s->meta.barcode : s->meta.channel;
    if (!id || !*id)
        return bml__fail(BML_ERR_VALUE, "%s: cell_from=%s but the file gives no %s", s->meta.path,
                         cell_from == 1 ? "barcode" : "channel", cell_from == 1 ? "barcode" : "channel");
    const char *why = bml__cell_id_problem(id);
    if (why)
        return bml__fail(BML_ERR_VALUE, "%s: cell_from=%s: the %s '%s' cannot be a cell id: it %s", s->meta.path,
                         cell_from == 0 ? "file" : cell_from == 1 ? "barcode" : "channel",
                         cell_from == 0 ? "file name's cell" : cell_from == 1 ? "barcode" : "channel", id, why);
    *out = id;
    return BML_OK;
}

/* The columns of a cycler dataset (a row per cycle) and their roles: the cycle is both the set index and the
 * cycle count. */
enum { CY_CYCLE, CY_DAYS, CY_TEMP, CY_THROUGHPUT, CY_ENERGY, CY_CAPACITY, CY_RESISTANCE, CY_SOH, CY_NCOLS };
static const char *const CY_NAMES[CY_NCOLS] = {"cycle", "days", "temperature_measured_c", "charge_throughput_ah",
                                               "energy_throughput_wh", "discharge_capacity_ah", "resistance_ohm", "soh"};

static bml_status cycler_columns(bml_dataset *ds) {
    BML__TRY(bml__dataset_set_columns(ds, CY_NCOLS, CY_NAMES, NULL));
    static const struct {
        bml_role role;
        int col;
    } roles[] = {{BML_ROLE_SET_INDEX, CY_CYCLE},          {BML_ROLE_CYCLE, CY_CYCLE},
                 {BML_ROLE_TIME, CY_DAYS},                {BML_ROLE_TEMPERATURE_MEASURED, CY_TEMP},
                 {BML_ROLE_THROUGHPUT_AH, CY_THROUGHPUT}, {BML_ROLE_ENERGY_WH, CY_ENERGY},
                 {BML_ROLE_CAPACITY_AH, CY_CAPACITY},     {BML_ROLE_RESISTANCE_OHM, CY_RESISTANCE},
                 {BML_ROLE_SOH, CY_SOH}};
    for (size_t k = 0; k < sizeof roles / sizeof *roles; k++) bml__dataset_set_role(ds, roles[k].role, (size_t)roles[k].col, 1);
    return BML_OK;
}

static bml_status summary_cell(const bml_cycler_summary *s, int nominal, int cell_from, bml__cell *c, size_t *dropped) {
    memset(c, 0, sizeof *c);
    double ref = NAN;
    const char *id = NULL;
    BML__TRY(soh_ref(s, nominal, &ref));
    BML__TRY(cell_id(s, cell_from, &id));
    size_t n = 0;
    for (size_t i = 0; i < s->n_cycles; i++) n += s->cycles[i].discharge_ah > 0;
    *dropped += s->n_cycles - n;
    c->cell_id = bml__strdup(id);
    c->source = bml__strdup(s->meta.path);
    c->values = bml__calloc(n * CY_NCOLS, sizeof *c->values);
    c->lines = bml__calloc(n ? n : 1, sizeof *c->lines);
    c->file_column = bml__calloc(CY_NCOLS, sizeof *c->file_column); /* 0: no column of the file holds them */
    if (!c->cell_id || !c->source || (n && !c->values) || !c->lines || !c->file_column)
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    c->n_rows = n;
    double t0 = NAN;
    mean_acc temp = {0};
    size_t r = 0;
    for (size_t i = 0; i < s->n_cycles; i++) {
        const bml_cycler_cycle *y = &s->cycles[i];
        if (!(y->discharge_ah > 0)) continue;
        double *v = c->values + r * CY_NCOLS;
        if (isnan(t0)) t0 = y->start_time_s;
        v[CY_CYCLE] = (double)y->cycle;
        v[CY_DAYS] = (y->start_time_s - t0) / 86400.0;
        v[CY_TEMP] = y->temperature_mean_c;
        v[CY_THROUGHPUT] = y->throughput_ah;
        v[CY_ENERGY] = NAN;
        v[CY_CAPACITY] = y->discharge_ah;
        v[CY_RESISTANCE] = y->resistance_ohm;
        v[CY_SOH] = y->discharge_ah / ref;
        c->lines[r] = y->first_line;
        if (!isnan(y->temperature_mean_c)) mean_add(&temp, y->temperature_mean_c);
        r++;
    }
    /* energy throughput so far */
    double e = 0;
    r = 0;
    for (size_t i = 0; i < s->n_cycles; i++) {
        const bml_cycler_cycle *y = &s->cycles[i];
        e += (isnan(y->charge_wh) ? 0 : y->charge_wh) + (isnan(y->discharge_wh) ? 0 : y->discharge_wh);
        if (y->discharge_ah > 0) c->values[r++ * CY_NCOLS + CY_ENERGY] = e;
    }
    c->temperature_c = mean_get(&temp);
    return BML_OK;
}

/* ---- the summaries of several files at once (opts->jobs > 1): each file on one worker, kept in its slot */
typedef struct {
    char **files;
    bml_cycler_format format;
    const bml_cycler_summary_opts *opts;
    bml_cycler_summary **sum;
} summ_set;

static bml_status summ_task(void *arg, size_t i) {
    summ_set *p = arg;
    return bml_cycler_summarize(p->files[i], p->format, p->opts, &p->sum[i]);
}

/* every file summarised on up to jobs threads; 0, or the first failure's status in file order (with its
 * message), the others left in sum[] for the caller to free */
static bml_status summarize_files(char **files, size_t n, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                  int jobs, bml_cycler_summary **sum) {
    bml_status *st = bml__calloc(n ? n : 1, sizeof *st);
    char **err = bml__calloc(n ? n : 1, sizeof *err);
    if (!st || !err) {
        free(st), free(err);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    summ_set p = {files, format, opts, sum};
    bml__parallel_try(n, jobs, summ_task, &p, st, err, NULL);
    bml_status res = BML_OK;
    for (size_t i = 0; i < n && res == BML_OK; i++) res = bml__task_status(st[i], err[i]);
    for (size_t i = 0; i < n; i++) free(err[i]);
    free(st), free(err);
    return res;
}

bml_status bml_dataset_load_cycler(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                   const bml_cycler_cells *cells, size_t *n_dropped, bml_dataset **out) {
    *out = NULL;
    if (n_dropped) *n_dropped = 0;
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_cycler", opts, bml_cycler_summary_opts, BML_CYCLER_SUMMARY_OPTS));
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_cycler", cells, bml_cycler_cells, BML_CYCLER_CELLS));
    int nominal, cell_from;
    BML__TRY(cells_parse(cells, &nominal, &cell_from));
    char **files;
    size_t n;
    BML__TRY(bml_cycler_list(path, format, &files, &n, NULL));
    bml_status st = BML_OK;
    bml_dataset *ds = bml__dataset_new("cycler", path);
    if (!ds) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = cycler_columns(ds);
    size_t dropped = 0;
    bml__sb warn = {0}; /* the capacity cross-check's warnings, said in the note */
    /* several files at once (opts->jobs > 1): summarised first, then taken in file order as one at a time
     * takes them (the same dataset, note and messages) */
    bml_cycler_summary **sum = NULL;
    if (st == BML_OK && opts && opts->jobs > 1 && n > 1) {
        sum = bml__calloc(n, sizeof *sum);
        st = sum ? summarize_files(files, n, format, opts, opts->jobs, sum) : bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == BML_OK && i < n; i++) {
        bml_cycler_summary *s;
        if (sum) s = sum[i], sum[i] = NULL;
        else st = bml_cycler_summarize(files[i], format, opts, &s);
        if (st != BML_OK) break;
        if (s->capacity_warning && *s->capacity_warning) bml__sb_str(&warn, warn.len ? "; " : ""), bml__sb_str(&warn, s->capacity_warning);
        bml__cell c;
        memset(&c, 0, sizeof c);
        if (st == BML_OK) st = summary_cell(s, nominal, cell_from, &c, &dropped);
        for (size_t k = 0; k < ds->n_cells && st == BML_OK; k++)
            if (!strcmp(ds->cells[k].cell_id, c.cell_id))
                st = bml__fail(BML_ERR_VALUE, "%s and %s: two files of one cell '%s'%s", ds->cells[k].source, files[i], c.cell_id,
                               split_hint(ds->cells[k].source, files[i]));
        if (st == BML_OK && c.n_rows) st = bml__dataset_push_cell(ds, &c);
        else if (st == BML_OK) st = bml__fail(BML_ERR_EMPTY, "%s: no cycle with a discharge", files[i]);
        if (st != BML_OK) bml__cell_free(&c);
        bml_cycler_summary_free(s);
    }
    for (size_t i = 0; sum && i < n; i++) bml_cycler_summary_free(sum[i]);
    free(sum);
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
    if (st != BML_OK) {
        free(warn.buf);
        bml_dataset_free(ds);
        return st;
    }
    if (n_dropped) *n_dropped = dropped;
    /* said under the run's load line (bml_dataset_note): nothing is left out silently, no capacity doubted silently */
    if (dropped && !(ds->note = bml__sprintf("%zu cycle%s without a discharge left out (no capacity to learn from)%s%s", dropped,
                                              dropped == 1 ? "" : "s", warn.len ? "; " : "", warn.len ? warn.buf : "")))
        warn.nomem = 1;
    else if (!dropped && warn.len && !(ds->note = bml__strdup(warn.buf)))
        warn.nomem = 1;
    free(warn.buf);
    if (warn.nomem) {
        bml_dataset_free(ds);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *out = ds;
    return BML_OK;
}

bml_status bml_dataset_load_cycler_curves(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                          double max_c_rate, const bml_cycler_cells *cells, bml_dataset **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_cycler_curves", opts, bml_cycler_summary_opts, BML_CYCLER_SUMMARY_OPTS));
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_cycler_curves", cells, bml_cycler_cells, BML_CYCLER_CELLS));
    int nominal, cell_from;
    BML__TRY(cells_parse(cells, &nominal, &cell_from));
    if (!(max_c_rate > 0) || !isfinite(max_c_rate))
        return bml__fail(BML_ERR_VALUE, "cycler curves: the C-rate limit must be a positive number, got %g", max_c_rate);
    bml_cycler_summary_opts o = opts ? *opts : bml_cycler_summary_defaults();
    o.raw_max_c_rate = max_c_rate;
    char **files;
    size_t n;
    BML__TRY(bml_cycler_list(path, format, &files, &n, NULL));
    bml_status st = BML_OK;
    bml_dataset *ds = bml__dataset_new("curves", path);
    if (!ds) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < n; i++) {
        bml_cycler_summary *s;
        st = bml_cycler_summarize(files[i], format, &o, &s);
        if (st != BML_OK) break;
        double ref = NAN, t0 = s->n_cycles ? s->cycles[0].start_time_s : 0, temp = NAN;
        const char *id = NULL;
        st = soh_ref(s, nominal, &ref);
        if (st == BML_OK) st = cell_id(s, cell_from, &id);
        for (size_t k = 0; k < s->n_cycles && isnan(temp); k++) temp = s->cycles[k].temperature_mean_c;
        for (size_t k = 0; st == BML_OK && k < s->n_cycles; k++) {
            bml_cycler_cycle *y = &s->cycles[k];
            if (!y->n_raw) continue;
            if (y->cycle > INT_MAX || y->cycle < INT_MIN) { /* a curve's index (rpt) is an int */
                st = bml__fail(BML_ERR_VALUE, "%s:%zu: cycle %ld is out of range for a curve's index", s->meta.path,
                               y->first_line, y->cycle);
                break;
            }
            bml__curve c;
            memset(&c, 0, sizeof c);
            c.cell_id = bml__strdup(id);
            c.source = bml__sprintf("%s:%zu (cycle %ld)", s->meta.path, y->first_line, y->cycle);
            c.temperature_c = temp;
            c.rpt = (int)y->cycle;
            c.n = y->n_raw;
            c.q = y->raw_q_ah, c.v = y->raw_v;
            y->raw_q_ah = y->raw_v = NULL, y->n_raw = 0; /* the curve owns them now */
            c.soh = y->discharge_ah / ref;
            c.capacity_ah = y->discharge_ah;
            c.lam_ne = c.lam_pe = c.lli = NAN;
            c.days = (y->start_time_s - t0) / 86400.0;
            c.throughput_ah = y->throughput_ah;
            if (!c.cell_id || !c.source) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            if (st == BML_OK) st = bml__dataset_push_curve(ds, &c);
            if (st != BML_OK) free(c.cell_id), free(c.source), free(c.q), free(c.v);
        }
        bml_cycler_summary_free(s);
    }
    for (size_t i = 0; i < n; i++) free(files[i]);
    free(files);
    if (st == BML_OK && ds->n_curves == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: no cycle with a mean |current| at most C/%g (%g C) and a discharge", path,
                       1.0 / max_c_rate, max_c_rate);
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    *out = ds;
    return BML_OK;
}
