/* Run figures with PLplot (see figures.h).
 *
 * Every CSV a figure reads is untrusted: it is checked whole (same number of fields on every line,
 * the columns the figure needs, numbers where numbers belong) before anything is drawn, and a bad
 * one is an error naming file, line and column. A file the run does not have is no error: its
 * figures are skipped and the reason is recorded for bml__figures_skipped().
 *
 * PLplot keeps process-global state and calls exit() on fatal errors: every use of it holds
 * g_plplot, and the drawing runs under an exit handler that jumps back (thread-local jmp_buf) so the
 * library never exits. Each figure is drawn into a hidden temporary file beside its final name,
 * checked (non-empty; a PNG has its signature and IEND chunk, an SVG ends with </svg>) and only then
 * renamed into place: a full disk is an error naming the figure, never a 0-byte or truncated file. */
#define _GNU_SOURCE /* close_range */
#include "explain/figures.h"

#include <errno.h>
#include <math.h>
#include <plplot.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "data/csvread.h"

/* ------------------------------------------------------------------ notes: figures skipped and why */
/* append "a: b" (formatted by fmt) as a line of *notes; notes may be NULL (nothing recorded) */
static bml_status note_skip(char **notes, const char *fmt, const char *a, const char *b) {
    if (!notes) return BML_OK;
    char *line = bml__sprintf(fmt, a, b);
    char *all = line ? bml__sprintf("%s%s%s", *notes ? *notes : "", *notes ? "\n" : "", line) : NULL;
    free(line);
    if (!all) return bml__fail(BML_ERR_NOMEM, "out of memory");
    free(*notes);
    *notes = all;
    return BML_OK;
}

/* ------------------------------------------------------------------ tables from the run's CSV files */
typedef struct {
    bml__csv csv;
    size_t n;   /* data rows */
    char *path; /* owned */
} table;

static void table_free(table *t) {
    bml__csv_free(&t->csv);
    free(t->path);
    memset(t, 0, sizeof *t);
}

/* Read dir/name whole and check its shape. *present = 0 (and BML_OK) when the run has no such file. */
static bml_status table_load(const char *dir, const char *name, table *t, int *present) {
    memset(t, 0, sizeof *t);
    *present = 0;
    t->path = bml__path_join(dir, name);
    if (!t->path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (stat(t->path, &sb) != 0) {
        if (errno == ENOENT) return BML_OK;
        return bml__fail(BML_ERR_IO, "%s: %s", t->path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) return bml__fail(BML_ERR_IO, "%s: not a regular file", t->path);
    BML__TRY(bml__csv_read(t->path, 0, &t->csv));
    if (t->csv.n_rows == 0) return bml__fail(BML_ERR_PARSE, "%s: empty file (no header)", t->path);
    const bml__csv_row *h = &t->csv.rows[0];
    if (t->csv.n_rows == 1)
        return bml__fail(BML_ERR_PARSE, "%s:%zu: a header and no data rows (truncated file?)", t->path, h->line + 1);
    for (size_t i = 1; i < t->csv.n_rows; i++)
        if (t->csv.rows[i].n_fields != h->n_fields)
            return bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields where the header has %zu (truncated or corrupt file?)", t->path,
                             t->csv.rows[i].line, t->csv.rows[i].n_fields, h->n_fields);
    /* the run writes whole lines: a last line without its end was cut short (a full disk, a copy
     * interrupted), even when it has its number of fields */
    FILE *f = fopen(t->path, "rb");
    int last = f && fseek(f, -1, SEEK_END) == 0 ? fgetc(f) : EOF;
    if (f) fclose(f);
    if (last != '\n')
        return bml__fail(BML_ERR_PARSE, "%s:%zu: the last line has no end of line (truncated file?)", t->path,
                         t->csv.rows[t->csv.n_rows - 1].line);
    t->n = t->csv.n_rows - 1;
    *present = 1;
    return BML_OK;
}

static int col(const table *t, const char *name) {
    for (size_t j = 0; j < t->csv.rows[0].n_fields; j++)
        if (!strcmp(t->csv.rows[0].fields[j], name)) return (int)j;
    return -1;
}

static const char *str(const table *t, size_t i, int c) {
    const bml__csv_row *r = &t->csv.rows[i + 1];
    return c >= 0 && (size_t)c < r->n_fields ? r->fields[c] : "";
}

/* a checked numeric field: NaN when empty (a missing value) */
static double num(const table *t, size_t i, int c) {
    double v;
    return bml__parse_double(str(t, i, c), &v) == 0 ? v : NAN;
}

/* every field of column c is empty or a number (integral when `integral`, then also within [0, max]) */
static bml_status check_numbers(const table *t, int c, int integral, double max) {
    for (size_t i = 0; i < t->n; i++) {
        const char *s = str(t, i, c);
        double v;
        const char *why = NULL;
        if (!*s) {
            if (integral) why = "is empty where a step number belongs";
        } else if (bml__parse_double(s, &v) != 0) {
            why = "is not a number";
        } else if (integral && (v != floor(v) || v < 0 || v > max)) {
            why = "is not a whole number in range";
        }
        if (why)
            return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: '%.40s' %s (column %s)", t->path, t->csv.rows[i + 1].line, c + 1, s, why,
                             t->csv.rows[0].fields[c]);
    }
    return BML_OK;
}

/* column `name`, which must exist; kind 0: text, 1: number, 2: step number (0 <= v <= data rows) */
static bml_status need(const table *t, const char *name, int kind, int *c) {
    *c = col(t, name);
    if (*c < 0) return bml__fail(BML_ERR_PARSE, "%s:%zu:1: no column '%s' in the header", t->path, t->csv.rows[0].line, name);
    return kind ? check_numbers(t, *c, kind == 2, (double)t->n) : BML_OK;
}

/* ------------------------------------------------------------------ drawing helpers */
/* Scatters above this many points draw every k-th point (k = ceil(n / BML__FIGURE_MAX_POINTS)),
 * in file order: the same points at every run and thread count; the title says so. */
static size_t stride_for(size_t n) { return n > BML__FIGURE_MAX_POINTS ? (n + BML__FIGURE_MAX_POINTS - 1) / BML__FIGURE_MAX_POINTS : 1; }

/* a drawing callback that runs out of memory sets this; render() then fails instead of writing a
 * half-drawn figure */
static _Thread_local int g_draw_oom;

static void *draw_alloc(size_t n, size_t size) {
    void *p = bml__calloc(n ? n : 1, size);
    if (!p) g_draw_oom = 1;
    return p;
}

static char *draw_sprintf(const char *fmt, ...) BML__PRINTF(1, 2);
static char *draw_sprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = bml__vsprintf(fmt, ap);
    va_end(ap);
    if (!s) g_draw_oom = 1;
    return s;
}

/* index of s in v, added when new; -1 when out of memory. `last` speeds up runs of equal keys. */
static int intern(bml__strvec *v, const char *s, int *last) {
    if (*last >= 0 && (size_t)*last < v->n && !strcmp(v->items[*last], s)) return *last;
    int k = bml__strvec_find(v, s);
    if (k < 0) {
        if (bml__strvec_push(v, s) != 0) {
            g_draw_oom = 1;
            return -1;
        }
        k = (int)v->n - 1;
    }
    return *last = k;
}

/* "a/b" keys (or "Ea-b" with prefix E) of rows, in order of first appearance: gid[i] for each row */
static int group_rows(const table *t, int c1, int c2, const char *fmt, bml__strvec *names, int *gid) {
    int last = -1;
    for (size_t i = 0; i < t->n; i++) {
        char *key = draw_sprintf(fmt, str(t, i, c1), str(t, i, c2));
        gid[i] = key ? intern(names, key, &last) : -1;
        free(key);
        if (gid[i] < 0) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ PLplot plumbing */
static pthread_mutex_t g_plplot = PTHREAD_MUTEX_INITIALIZER; /* PLplot is one process-global state machine */
static _Thread_local jmp_buf g_jump;
static _Thread_local char g_plmsg[512];

static int on_exit_request(PLCHAR_VECTOR msg) {
    snprintf(g_plmsg, sizeof g_plmsg, "%s", msg ? msg : "PLplot error");
    longjmp(g_jump, 1);
    return 0;
}

static void on_abort(PLCHAR_VECTOR msg) { snprintf(g_plmsg, sizeof g_plmsg, "%s", msg ? msg : ""); }

static int have_device(const char *dev) {
    int n = 128, found = 0;
    const char **menu = calloc((size_t)n, sizeof *menu), **names = calloc((size_t)n, sizeof *names);
    if (menu && names) {
        pthread_mutex_lock(&g_plplot);
        plgDevs(&menu, &names, &n);
        pthread_mutex_unlock(&g_plplot);
        for (int i = 0; i < n; i++) found |= names[i] && !strcmp(names[i], dev);
    }
    free(menu);
    free(names);
    return found;
}

/* palette: 0 white background, 1 black, 2.. a qualitative set */
static void palette(void) {
    static const int rgb[][3] = {{255, 255, 255}, {0, 0, 0},      {31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                 {214, 39, 40},   {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                 {188, 189, 34},  {23, 190, 207},  {200, 200, 200}, {90, 90, 90},  {0, 0, 128},
                                 {128, 0, 0}};
    plscmap0n(16);
    for (int i = 0; i < 16; i++) plscol0(i, rgb[i][0], rgb[i][1], rgb[i][2]);
    /* cmap1: blue (low) -> red (high), as SHAP plots do */
    PLFLT pos[3] = {0, 0.5, 1}, r[3] = {0.0, 0.55, 1.0}, g[3] = {0.55, 0.2, 0.0}, b[3] = {1.0, 0.75, 0.32};
    plscmap1n(256);
    plscmap1l(1, 3, pos, r, g, b, NULL);
}

static int color_of(size_t k) { return 2 + (int)(k % 10); }

/* Is the file at path a complete PNG (signature, IEND chunk last) or SVG (ends with </svg>)? NULL when
 * it is, else why not. */
static const char *incomplete(const char *path, int svg, long *size) {
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return "was not written";
    unsigned char head[8] = {0}, tail[256] = {0};
    const char *why = NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (*size = ftell(f)) <= 0) why = "is empty";
    else if (!svg) {
        static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        if (*size < 8 + 12 || fseek(f, 0, SEEK_SET) != 0 || fread(head, 1, 8, f) != 8 || memcmp(head, sig, 8))
            why = "is not a PNG";
        else if (fseek(f, -12, SEEK_END) != 0 || fread(tail, 1, 12, f) != 12 || memcmp(tail + 4, "IEND", 4))
            why = "is a truncated PNG (no IEND chunk)";
    } else {
        long k = *size < (long)sizeof tail ? *size : (long)sizeof tail;
        if (fseek(f, -k, SEEK_END) != 0 || fread(tail, 1, (size_t)k, f) != (size_t)k) why = "cannot be read back";
        else {
            while (k > 0 && (tail[k - 1] == '\n' || tail[k - 1] == ' ' || tail[k - 1] == '\r' || tail[k - 1] == '\t')) k--;
            if (k < 6 || memcmp(tail + k - 6, "</svg>", 6)) why = "is a truncated SVG (no closing </svg>)";
        }
    }
    fclose(f);
    return why;
}

typedef void (*draw_fn)(void *ctx);

/* Draw one figure with one device into tmp, holding the PLplot lock. */
static bml_status draw_one(const char *dev, const char *tmp, draw_fn fn, void *ctx, int w, int h) {
    pthread_mutex_lock(&g_plplot);
    volatile int started = 0;
    g_plmsg[0] = 0;
    g_draw_oom = 0;
    if (setjmp(g_jump)) {
        if (started) plend();
        pthread_mutex_unlock(&g_plplot);
        return bml__fail(BML_ERR_BACKEND, "PLplot failed: %s", g_plmsg);
    }
    plsexit(on_exit_request);
    plsabort(on_abort);
    plsdev(dev);
    plsfnam(tmp);
    plspage(0, 0, w, h, 0, 0);
    palette();
    plinit();
    started = 1;
    plsabort(on_abort);
    pladv(0);
    plfontld(1);
    plschr(0, 0.9);
    fn(ctx);
    plend();
    pthread_mutex_unlock(&g_plplot);
    return g_draw_oom ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
}

/* draw one figure as PNG and SVG under dir/name.{png,svg}: each drawn into dir/.name.ext.partial,
 * checked, then renamed into place */
static bml_status render(const char *dir, const char *name, draw_fn fn, void *ctx, int w, int h) {
    static const char *const devs[2][2] = {{"pngcairo", "png"}, {"svgcairo", "svg"}};
    bml_status st = BML_OK;
    for (int k = 0; st == BML_OK && k < 2; k++) {
        char *path = bml__sprintf("%s/%s.%s", dir, name, devs[k][1]);
        char *tmp = bml__sprintf("%s/.%s.%s.partial", dir, name, devs[k][1]);
        if (!path || !tmp) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) {
            unlink(tmp);
            st = draw_one(devs[k][0], tmp, fn, ctx, w, h);
            if (st != BML_OK) bml__fail_prefix(st, "figure %s", path);
        }
        if (st == BML_OK) {
            long size;
            const char *why = incomplete(tmp, k == 1, &size);
            if (why)
                st = bml__fail(BML_ERR_IO, "figure %s: the %s drawn (%ld bytes) %s: is the disk full?", path, devs[k][1], size, why);
            else if (rename(tmp, path) != 0)
                st = bml__fail(BML_ERR_IO, "figure %s: cannot move it into place: %s", path, strerror(errno));
        }
        if (st != BML_OK && tmp) unlink(tmp);
        free(path);
        free(tmp);
    }
    return st;
}

static void minmax(const double *v, size_t n, double *lo, double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) *lo = fmin(*lo, v[i]), *hi = fmax(*hi, v[i]);
    if (!(*lo <= *hi)) *lo = 0, *hi = 1;
    double pad = (*hi - *lo) * 0.05;
    if (pad == 0) pad = fabs(*hi) * 0.05 + 1e-6;
    *lo -= pad, *hi += pad;
}

/* Legends list at most this many entries; the rest are summed up in a last "+N more" entry. */
#define LEGEND_MAX 16

static void legend(int n, const char *const *text, const int *colors, int lines) {
    char *more = NULL;
    int shown = n;
    if (n > LEGEND_MAX) {
        shown = LEGEND_MAX;
        more = draw_sprintf("+%d more", n - (LEGEND_MAX - 1));
        if (!more) return;
    }
    int *opt = draw_alloc((size_t)shown, sizeof *opt), *styles = draw_alloc((size_t)shown, sizeof *styles);
    PLFLT *widths = draw_alloc((size_t)shown, sizeof *widths), *scales = draw_alloc((size_t)shown, sizeof *scales);
    int *nsym = draw_alloc((size_t)shown, sizeof *nsym), *cols = draw_alloc((size_t)shown, sizeof *cols);
    const char **sym = draw_alloc((size_t)shown, sizeof *sym), **txt = draw_alloc((size_t)shown, sizeof *txt);
    if (shown > 0 && opt && styles && widths && scales && nsym && sym && txt && cols) {
        for (int i = 0; i < shown; i++) {
            int rest = more && i == shown - 1; /* the "+N more" entry: text only, in black */
            opt[i] = rest ? PL_LEGEND_NONE : lines ? PL_LEGEND_LINE : PL_LEGEND_SYMBOL;
            styles[i] = 1, widths[i] = 2.0, scales[i] = 1.0, nsym[i] = 1, sym[i] = "•";
            txt[i] = rest ? more : text[i];
            cols[i] = rest ? 1 : colors[i];
        }
        PLFLT lw, lh;
        plcol0(1);
        pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.02, 0.0,
                 0.06, 0, 1, 1, 0, 0, shown, opt, 1.0, 0.8, 2.0, 0.0, cols, txt, NULL, NULL, NULL, NULL, cols, styles, widths,
                 cols, scales, nsym, sym);
    }
    free(opt), free(styles), free(widths), free(scales), free(nsym), free(sym), free(txt), free(cols), free(more);
}

/* colours 0..n-1 of a legend and the text pointers of a string vector */
static int legend_of(const bml__strvec *v, int lines) {
    const char **text = draw_alloc(v->n, sizeof *text);
    int *colors = draw_alloc(v->n, sizeof *colors);
    if (text && colors) {
        for (size_t k = 0; k < v->n; k++) text[k] = v->items[k], colors[k] = color_of(k);
        legend((int)v->n, text, colors, lines);
    }
    free(text), free(colors);
    return 0;
}

/* axis labels and a title that says when only every stride-th of n points is drawn; title is freed */
static void label(const char *x, const char *y, char *title, size_t stride, size_t n) {
    char *tl = title && stride > 1 ? draw_sprintf("%s (one point in %zu of %zu drawn)", title, stride, n) : NULL;
    if (title) pllab(x, y, tl ? tl : title);
    free(title), free(tl);
}

/* ------------------------------------------------------------------ prediction vs truth, fade */
typedef struct {
    const table *p;
    const char *target;
    int c_true, c_pred, c_temp, c_days, c_cell, c_exp;
    int c_lower, c_upper; /* the prediction intervals' bounds (uncertainty=...), or -1 */
} pred_ctx;

static void draw_pred_vs_truth(void *vc) {
    pred_ctx *c = vc;
    size_t n = c->p->n, stride = stride_for(n);
    int bars = c->c_lower >= 0 && c->c_upper >= 0;
    double *t = draw_alloc(n, sizeof *t), *y = draw_alloc(n, sizeof *y), *temps = draw_alloc(n, sizeof *temps);
    double *ylo = bars ? draw_alloc(n, sizeof *ylo) : NULL, *yhi = bars ? draw_alloc(n, sizeof *yhi) : NULL;
    bml__strvec names = {0};
    if (!t || !y || !temps || (bars && (!ylo || !yhi))) goto out;
    for (size_t i = 0; i < n; i++) t[i] = num(c->p, i, c->c_true), y[i] = num(c->p, i, c->c_pred);
    double lo, hi, lo2, hi2;
    minmax(t, n, &lo, &hi);
    minmax(y, n, &lo2, &hi2);
    lo = fmin(lo, lo2), hi = fmax(hi, hi2);
    if (bars) { /* the intervals within the axes too */
        for (size_t i = 0; i < n; i++) ylo[i] = num(c->p, i, c->c_lower), yhi[i] = num(c->p, i, c->c_upper);
        minmax(ylo, n, &lo2, &hi2);
        lo = fmin(lo, lo2);
        minmax(yhi, n, &lo2, &hi2);
        hi = fmax(hi, hi2);
    }
    plvpor(0.12, 0.78, 0.12, 0.9);
    plwind(lo, hi, lo, hi);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char *xl = draw_sprintf("measured %s", c->target), *yl = draw_sprintf("predicted %s", c->target);
    if (xl && yl)
        label(xl, yl,
              bars ? draw_sprintf("Prediction vs truth: %s (bars: prediction intervals)", c->target)
                   : draw_sprintf("Prediction vs truth: %s", c->target),
              stride, n);
    free(xl), free(yl);
    PLFLT id[2] = {lo, hi};
    plcol0(9);
    pllsty(2);
    plline(2, id, id);
    pllsty(1);
    if (bars) { /* each drawn point's interval, a vertical bar behind the points */
        plcol0(15);
        for (size_t i = 0; i < n; i += stride)
            if (isfinite(t[i]) && isfinite(ylo[i]) && isfinite(yhi[i])) {
                PLFLT px = t[i], a = ylo[i], b = yhi[i];
                plerry(1, &px, &a, &b);
            }
    }
    /* one colour per temperature (of the drawn points), in order of appearance */
    size_t nt = 0;
    for (size_t i = 0; i < n; i += stride) {
        double v = num(c->p, i, c->c_temp);
        size_t k = 0;
        while (k < nt && !(temps[k] == v || (isnan(v) && isnan(temps[k])))) k++;
        if (k == nt) temps[nt++] = v;
    }
    for (size_t k = 0; k < nt; k++) {
        plcol0(color_of(k));
        for (size_t i = 0; i < n; i += stride) {
            double v = num(c->p, i, c->c_temp);
            if (v == temps[k] || (isnan(v) && isnan(temps[k]))) {
                PLFLT px = t[i], py = y[i];
                plstring(1, &px, &py, "•");
            }
        }
        char *s = isnan(temps[k]) ? draw_sprintf("unknown temperature") : draw_sprintf("%g degC", temps[k]);
        if (!s || bml__strvec_push(&names, s) != 0) g_draw_oom = 1;
        free(s);
        if (g_draw_oom) goto out;
    }
    legend_of(&names, 0);
out:
    bml__strvec_free(&names);
    free(t), free(y), free(temps), free(ylo), free(yhi);
}

static void draw_fade(void *vc) {
    pred_ctx *c = vc;
    size_t n = c->p->n, stride = stride_for(n);
    double *d = draw_alloc(n, sizeof *d), *v = draw_alloc(2 * n, sizeof *v);
    int *gid = draw_alloc(n, sizeof *gid);
    PLFLT *xs = draw_alloc(n, sizeof *xs), *ys = draw_alloc(n, sizeof *ys), *ps = draw_alloc(n, sizeof *ps);
    bml__strvec cells = {0};
    if (!d || !v || !gid || !xs || !ys || !ps) goto out;
    for (size_t i = 0; i < n; i++) d[i] = num(c->p, i, c->c_days), v[i] = num(c->p, i, c->c_true), v[n + i] = num(c->p, i, c->c_pred);
    double x0, x1, y0, y1;
    minmax(d, n, &x0, &x1);
    minmax(v, 2 * n, &y0, &y1);
    plvpor(0.12, 0.78, 0.12, 0.9);
    plwind(x0, x1, y0, y1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    label("days of degradation", c->target, draw_sprintf("%s over time: measured (solid) and predicted (dashed)", c->target), stride, n);
    /* cells in order of appearance */
    if (group_rows(c->p, c->c_exp, c->c_cell, "E%s-%s", &cells, gid) != 0) goto out;
    for (size_t k = 0; k < cells.n; k++) {
        int m = 0;
        for (size_t i = 0; i < n; i += stride)
            if (gid[i] == (int)k && isfinite(d[i])) xs[m] = d[i], ys[m] = v[i], ps[m] = v[n + i], m++;
        plcol0(color_of(k));
        plwidth(2);
        plline(m, xs, ys);
        plstring(m, xs, ys, "•");
        pllsty(2);
        plline(m, xs, ps);
        pllsty(1);
        plwidth(1);
    }
    legend_of(&cells, 1);
out:
    bml__strvec_free(&cells);
    free(d), free(v), free(gid), free(xs), free(ys), free(ps);
}

/* ------------------------------------------------------------------ SHAP */
typedef struct {
    const table *s;
    const char *target;
    int nf;
    int *c_shap, *c_val; /* (nf) */
    const char **fname;  /* (nf) */
    int c_target, c_expected, c_pred, c_cell, c_set;
} shap_ctx;

static size_t rows_of_target(const shap_ctx *c, size_t *rows) {
    size_t m = 0;
    for (size_t i = 0; i < c->s->n; i++)
        if (!strcmp(str(c->s, i, c->c_target), c->target)) rows[m++] = i;
    return m;
}

/* order[] = feature indices by decreasing key */
static void order_by(int *order, const double *key, int n) {
    for (int j = 0; j < n; j++) order[j] = j;
    for (int a = 0; a < n; a++) /* most important first (top) */
        for (int b = a + 1; b < n; b++)
            if (key[order[b]] > key[order[a]]) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
}

static void draw_beeswarm(void *vc) {
    shap_ctx *c = vc;
    size_t nf = (size_t)c->nf;
    size_t *rows = draw_alloc(c->s->n, sizeof *rows);
    double *mabs = draw_alloc(nf, sizeof *mabs), *all = NULL;
    int *order = draw_alloc(nf, sizeof *order);
    if (!rows || !mabs || !order) goto out;
    size_t m_all = rows_of_target(c, rows), stride = stride_for(m_all), m = 0;
    for (size_t r = 0; r < m_all; r += stride) rows[m++] = rows[r]; /* the drawn samples */
    if (!(all = draw_alloc(m * nf, sizeof *all))) goto out;
    for (size_t j = 0; j < nf; j++)
        for (size_t r = 0; r < m; r++) {
            double v = num(c->s, rows[r], c->c_shap[j]);
            mabs[j] += fabs(v);
            all[j * m + r] = v;
        }
    order_by(order, mabs, c->nf);
    double lo, hi;
    minmax(all, m * nf, &lo, &hi);
    plvpor(0.3, 0.84, 0.12, 0.9);
    plwind(lo, hi, -0.5, c->nf - 0.5);
    plcol0(12);
    plbox("g", 0, 0, "", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    label("SHAP value (impact on the prediction)", "", draw_sprintf("SHAP values for %s (colour: feature value)", c->target), stride,
          m_all);
    PLFLT zx[2] = {0, 0}, zy[2] = {-0.5, c->nf - 0.5};
    plcol0(9);
    plline(2, zx, zy);
    for (size_t k = 0; k < nf; k++) {
        size_t j = (size_t)order[k];
        double y = (double)(nf - 1 - k);
        plcol0(1);
        plmtex("lv", 0.8, (y + 0.5) / (double)nf, 1.0, c->fname[j]);
        /* colour by the feature value between its smallest and largest among the samples */
        double vlo = INFINITY, vhi = -INFINITY;
        for (size_t r = 0; r < m; r++) {
            double v = num(c->s, rows[r], c->c_val[j]);
            if (isfinite(v)) vlo = fmin(vlo, v), vhi = fmax(vhi, v);
        }
        for (size_t r = 0; r < m; r++) {
            double v = num(c->s, rows[r], c->c_val[j]);
            double jitter = 0.3 * (((unsigned)(r * 2654435761u) % 1000) / 1000.0 - 0.5);
            PLFLT px = all[j * m + r], py = y + jitter;
            if (!isfinite(v)) plcol0(9);
            else plcol1(vhi > vlo ? (v - vlo) / (vhi - vlo) : 0.5);
            plstring(1, &px, &py, "•");
        }
    }
    /* colour bar: low -> high feature value, a gradient of N_STOPS stops */
    enum { N_STOPS = 64 };
    PLINT n_values[1] = {N_STOPS}, label_opts[1] = {PL_COLORBAR_LABEL_RIGHT}, sub_ticks[1] = {0};
    PLFLT values[N_STOPS], *vals[1] = {values}, ticks[1] = {0};
    for (int i = 0; i < N_STOPS; i++) values[i] = i / (double)(N_STOPS - 1);
    const char *labels[1] = {"feature value: low (blue) to high (red)"}, *axis_opts[1] = {"bc"};
    PLFLT cw, ch;
    plcol0(1);
    plcolorbar(&cw, &ch, PL_COLORBAR_GRADIENT, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.03, 0.0, 0.03, 0.78, 0, 1, 1, 0.0,
               0.0, 0, 0.0, 1, label_opts, labels, 1, axis_opts, ticks, sub_ticks, n_values, (const PLFLT *const *)vals);
out:
    free(rows), free(mabs), free(all), free(order);
}

/* Dependence of the top features (by mean |SHAP|): x = the feature's value, y = its SHAP value, one panel
 * each, coloured by the feature that interacts most with it. That feature is estimated from shap.csv alone
 * (no interaction values there): sorted by the feature's value, the part of its SHAP value that a running
 * mean over 11 neighbours leaves unexplained is correlated with every other feature's value; the largest
 * |correlation| wins (the idea of the shap package's approximate_interactions). */
#define DEPENDENCE_TOP 3

static int cmp_by_value(const void *a, const void *b) {
    const double *x = a, *y = b; /* (value, shap, row) triples */
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[2] > y[2]) - (x[2] < y[2]);
}

/* the other feature whose value best follows what the running mean of j's SHAP values misses; -1 if none */
static int strongest_interaction(const shap_ctx *c, const size_t *rows, size_t m, int j, double *trip, double *res) {
    size_t n = 0;
    for (size_t r = 0; r < m; r++) {
        double v = num(c->s, rows[r], c->c_val[j]);
        if (!isfinite(v)) continue;
        trip[3 * n] = v, trip[3 * n + 1] = num(c->s, rows[r], c->c_shap[j]), trip[3 * n + 2] = (double)rows[r];
        n++;
    }
    if (n < 12) return -1;
    qsort(trip, n, 3 * sizeof *trip, cmp_by_value);
    for (size_t i = 0; i < n; i++) {
        size_t a = i >= 5 ? i - 5 : 0, b = i + 6 < n ? i + 6 : n;
        double mean = 0;
        for (size_t k = a; k < b; k++) mean += trip[3 * k + 1];
        res[i] = trip[3 * i + 1] - mean / (double)(b - a);
    }
    int best = -1;
    double best_r = 0.05; /* below this, no colour */
    for (int k = 0; k < c->nf; k++) {
        if (k == j) continue;
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, cnt = 0;
        for (size_t i = 0; i < n; i++) {
            double v = num(c->s, (size_t)trip[3 * i + 2], c->c_val[k]);
            if (!isfinite(v)) continue;
            sx += v, sy += res[i], sxx += v * v, syy += res[i] * res[i], sxy += v * res[i], cnt++;
        }
        if (cnt < 12) continue;
        double vx = sxx - sx * sx / cnt, vy = syy - sy * sy / cnt, cv = sxy - sx * sy / cnt;
        double r = vx > 0 && vy > 0 ? fabs(cv) / sqrt(vx * vy) : 0;
        if (r > best_r) best_r = r, best = k;
    }
    return best;
}

static void draw_dependence(void *vc) {
    shap_ctx *c = vc;
    size_t nf = (size_t)c->nf;
    size_t *rows = draw_alloc(c->s->n, sizeof *rows);
    double *mabs = draw_alloc(nf, sizeof *mabs), *trip = draw_alloc(3 * c->s->n, sizeof *trip);
    double *res = draw_alloc(c->s->n, sizeof *res), *xs = draw_alloc(c->s->n, sizeof *xs), *ys = draw_alloc(c->s->n, sizeof *ys);
    int *order = draw_alloc(nf, sizeof *order);
    if (!rows || !mabs || !trip || !res || !xs || !ys || !order) goto out;
    size_t m_all = rows_of_target(c, rows), stride = stride_for(m_all), m = 0;
    for (size_t r = 0; r < m_all; r += stride) rows[m++] = rows[r]; /* the drawn samples */
    for (size_t j = 0; j < nf; j++)
        for (size_t r = 0; r < m; r++) mabs[j] += fabs(num(c->s, rows[r], c->c_shap[j]));
    order_by(order, mabs, c->nf);
    int panels = c->nf < DEPENDENCE_TOP ? c->nf : DEPENDENCE_TOP;
    for (int p = 0; p < panels; p++) {
        int j = order[p];
        int k = strongest_interaction(c, rows, m, j, trip, res);
        for (size_t r = 0; r < m; r++) xs[r] = num(c->s, rows[r], c->c_val[j]), ys[r] = num(c->s, rows[r], c->c_shap[j]);
        double xlo, xhi, ylo, yhi;
        minmax(xs, m, &xlo, &xhi);
        minmax(ys, m, &ylo, &yhi);
        double w = 1.0 / panels;
        plvpor(p * w + 0.075, (p + 1) * w - 0.03, 0.14, 0.76);
        plwind(xlo, xhi, ylo, yhi);
        plcol0(12);
        plbox("g", 0, 0, "g", 0, 0);
        plcol0(1);
        plbox("bcnst", 0, 0, "bcnstv", 0, 0);
        char *xl = draw_sprintf("%s", c->fname[j]), *tl = k >= 0 ? draw_sprintf("colour: %s", c->fname[k])
                                                                 : draw_sprintf("no clear interaction");
        char *yl = draw_sprintf("SHAP value of %s", c->fname[j]);
        if (xl && yl) pllab(xl, yl, "");
        if (tl) plmtex("t", 2.4, 0.5, 0.5, tl);
        free(xl), free(yl), free(tl);
        double vlo = INFINITY, vhi = -INFINITY;
        for (size_t r = 0; k >= 0 && r < m; r++) {
            double v = num(c->s, rows[r], c->c_val[k]);
            if (isfinite(v)) vlo = fmin(vlo, v), vhi = fmax(vhi, v);
        }
        for (size_t r = 0; r < m; r++) {
            if (!isfinite(xs[r])) continue; /* a missing value has no place on the x axis */
            double v = k >= 0 ? num(c->s, rows[r], c->c_val[k]) : NAN;
            if (!isfinite(v)) plcol0(k >= 0 ? 9 : 3);
            else plcol1(vhi > vlo ? (v - vlo) / (vhi - vlo) : 0.5);
            PLFLT px = xs[r], py = ys[r];
            plstring(1, &px, &py, "•");
        }
    }
    plvpor(0, 1, 0, 1);
    plwind(0, 1, 0, 1);
    plcol0(1);
    char *title = stride > 1 ? draw_sprintf("SHAP dependence, %s: top %d features (1 point in %zu of %zu); colour = most "
                                            "interacting feature (blue low, red high, grey missing)", c->target, panels, stride, m_all)
                             : draw_sprintf("SHAP dependence, %s: top %d features; colour = most interacting feature "
                                            "(blue low, red high, grey missing)", c->target, panels);
    if (title) plmtex("t", -1.6, 0.5, 0.5, title);
    free(title);
out:
    free(rows), free(mabs), free(trip), free(res), free(xs), free(ys), free(order);
}

static void draw_waterfall(void *vc) {
    shap_ctx *c = vc;
    size_t *rows = draw_alloc(c->s->n, sizeof *rows);
    int *order = draw_alloc((size_t)c->nf, sizeof *order);
    double *phi = draw_alloc((size_t)c->nf, sizeof *phi), *aphi = draw_alloc((size_t)c->nf, sizeof *aphi);
    if (!rows || !order || !phi || !aphi) goto out;
    if (rows_of_target(c, rows) == 0) goto out;
    size_t r0 = rows[0];
    double base = num(c->s, r0, c->c_expected), pred = num(c->s, r0, c->c_pred);
    for (int j = 0; j < c->nf; j++) phi[j] = num(c->s, r0, c->c_shap[j]), aphi[j] = fabs(phi[j]);
    order_by(order, aphi, c->nf);
    double lo = fmin(base, pred), hi = fmax(base, pred), acc = base;
    for (int k = 0; k < c->nf; k++) acc += phi[order[k]], lo = fmin(lo, acc), hi = fmax(hi, acc);
    double pad = (hi - lo) * 0.08 + 1e-9;
    plvpor(0.36, 0.95, 0.12, 0.88);
    plwind(lo - pad, hi + 4 * pad, -0.5, c->nf + 0.5);
    plcol0(12);
    plbox("g", 0, 0, "", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    char *tl = draw_sprintf("SHAP waterfall, cell %s set %s: %.4g -> %.4g", str(c->s, r0, c->c_cell), str(c->s, r0, c->c_set),
                            base, pred);
    if (tl) pllab(c->target, "", tl);
    free(tl);
    acc = base;
    for (int k = 0; k < c->nf; k++) {
        int j = order[k];
        double y = c->nf - k, a = acc, b = acc + phi[j];
        PLFLT bx[4] = {a, b, b, a}, by[4] = {y - 0.35, y - 0.35, y + 0.35, y + 0.35};
        plcol0(phi[j] >= 0 ? 5 : 2); /* red pushes up, blue down */
        plfill(4, bx, by);
        char *lab = draw_sprintf("%s = %.4g", c->fname[j], num(c->s, r0, c->c_val[j]));
        plcol0(1);
        if (lab) plmtex("lv", 0.8, (y + 0.5) / (c->nf + 1.0), 1.0, lab);
        free(lab);
        char val[64];
        snprintf(val, sizeof val, "%+.2g", phi[j]);
        plptex(fmax(a, b), y, 1, 0, -0.1, val);
        acc = b;
    }
    PLFLT ex[2] = {base, base}, ey[2] = {-0.5, c->nf + 0.5};
    plcol0(9);
    pllsty(2);
    plline(2, ex, ey);
    pllsty(1);
    plptex(base, 0, 1, 0, 0.5, "E[f(x)]");
out:
    free(rows), free(order), free(phi), free(aphi);
}

typedef struct {
    const table *t;
    const char *target;
    int c_target, c_feature, c_gain, c_shap;
} imp_ctx;

static void draw_bars(const imp_ctx *c, int value_col, const char *title, double vp_y0, double vp_y1) {
    size_t n = c->t->n;
    /* one value per feature: mean over folds */
    bml__strvec names = {0};
    double *val = draw_alloc(n, sizeof *val);
    size_t *cnt = draw_alloc(n, sizeof *cnt);
    if (!val || !cnt) goto out;
    int last = -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(str(c->t, i, c->c_target), c->target)) continue;
        int k = intern(&names, str(c->t, i, c->c_feature), &last);
        if (k < 0) goto out;
        double v = num(c->t, i, value_col);
        if (isfinite(v)) val[k] += v, cnt[k]++;
    }
    int nf = (int)names.n;
    double hi = 0;
    for (int k = 0; k < nf; k++) val[k] = cnt[k] ? val[k] / (double)cnt[k] : 0, hi = fmax(hi, val[k]);
    plvpor(0.3, 0.95, vp_y0, vp_y1);
    plwind(0, hi > 0 ? hi * 1.1 : 1, -0.5, nf - 0.5);
    plcol0(12);
    plbox("g", 0, 0, "", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    plmtex("t", 1.0, 0.5, 0.5, title);
    for (int k = 0; k < nf; k++) {
        double y = nf - 1 - k;
        PLFLT bx[4] = {0, val[k], val[k], 0}, by[4] = {y - 0.35, y - 0.35, y + 0.35, y + 0.35};
        plcol0(2);
        plfill(4, bx, by);
        plcol0(1);
        plmtex("lv", 0.8, (y + 0.5) / nf, 1.0, names.items[k]);
    }
out:
    bml__strvec_free(&names);
    free(val), free(cnt);
}

static void draw_importance(void *vc) {
    imp_ctx *c = vc;
    char *t1 = draw_sprintf("mean |SHAP| for %s", c->target), *t2 = draw_sprintf("gain per split (lgbm) or |coefficient| (linear models) for %s", c->target);
    if (t1 && t2) {
        draw_bars(c, c->c_shap, t1, 0.58, 0.92);
        draw_bars(c, c->c_gain, t2, 0.1, 0.44);
    }
    free(t1), free(t2);
}

/* ------------------------------------------------------------------ attention */
typedef struct {
    const table *a;
    const char *cell;
    size_t T;
    double *w; /* (T, T) of the first evaluated cell */
    int c_cell, c_q, c_k, c_w, c_fold;
} att_ctx;

static void draw_heatmap(void *vc) {
    att_ctx *c = vc;
    size_t T = c->T;
    PLFLT **z = draw_alloc(T, sizeof *z);
    if (!z) return;
    double hi = 0;
    for (size_t k = 0; k < T; k++) {
        z[k] = draw_alloc(T, sizeof **z); /* z[key][query]: x = key step, y = query step */
        for (size_t q = 0; z[k] && q < T; q++) z[k][q] = c->w[q * T + k], hi = fmax(hi, z[k][q]);
    }
    if (g_draw_oom) goto out;
    double e = (double)T - 0.5;
    plvpor(0.12, 0.8, 0.12, 0.9);
    plwind(-0.5, e, -0.5, e);
    plimage((const PLFLT *const *)z, (PLINT)T, (PLINT)T, -0.5, e, -0.5, e, 0, hi > 0 ? hi : 1, -0.5, e, -0.5, e);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char *tl = draw_sprintf("Attention of cell %s (head average)", c->cell);
    if (tl) pllab("key: ageing set attended to", "query: ageing set", tl);
    free(tl);
    enum { N_STOPS = 64 };
    PLINT n_values[1] = {N_STOPS}, label_opts[1] = {PL_COLORBAR_LABEL_RIGHT}, sub_ticks[1] = {0};
    PLFLT values[N_STOPS], *vals[1] = {values}, ticks[1] = {0};
    for (int i = 0; i < N_STOPS; i++) values[i] = hi * i / (double)(N_STOPS - 1);
    const char *labels[1] = {"attention weight"}, *axis_opts[1] = {"bcvtm"};
    PLFLT cw, ch;
    plcolorbar(&cw, &ch, PL_COLORBAR_GRADIENT, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.03, 0.0, 0.03, 0.78, 0, 1, 1, 0.0,
               0.0, 0, 0.0, 1, label_opts, labels, 1, axis_opts, ticks, sub_ticks, n_values, (const PLFLT *const *)vals);
out:
    for (size_t k = 0; k < T; k++) free(z[k]);
    free(z);
}

static void draw_attention_over_time(void *vc) {
    att_ctx *c = vc;
    const table *a = c->a;
    size_t n = a->n, maxk = 0;
    /* per cell: attention each key step receives, averaged over the cell's queries: recv (nc, maxk) */
    bml__strvec cells = {0};
    int *gid = draw_alloc(n, sizeof *gid);
    double *recv = NULL;
    size_t *cnt = NULL;
    PLFLT *xs = NULL, *ys = NULL;
    if (!gid || group_rows(a, c->c_fold, c->c_cell, "%s/%s", &cells, gid) != 0) goto out;
    for (size_t i = 0; i < n; i++) {
        size_t kk = (size_t)num(a, i, c->c_k); /* checked: a whole number in [0, rows] */
        if (kk + 1 > maxk) maxk = kk + 1;
    }
    size_t nc = cells.n;
    recv = draw_alloc(nc * maxk, sizeof *recv);
    cnt = draw_alloc(nc * maxk, sizeof *cnt);
    xs = draw_alloc(maxk, sizeof *xs), ys = draw_alloc(maxk, sizeof *ys);
    if (!recv || !cnt || !xs || !ys) goto out;
    for (size_t i = 0; i < n; i++) {
        size_t kk = (size_t)num(a, i, c->c_k);
        double w = num(a, i, c->c_w);
        if (isfinite(w)) recv[(size_t)gid[i] * maxk + kk] += w, cnt[(size_t)gid[i] * maxk + kk]++;
    }
    double hi = 0;
    for (size_t s = 0; s < nc * maxk; s++)
        if (cnt[s]) recv[s] /= (double)cnt[s], hi = fmax(hi, recv[s]);
    plvpor(0.12, 0.75, 0.12, 0.9);
    plwind(-0.5, (double)maxk - 0.5, 0, hi > 0 ? hi * 1.1 : 1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("ageing set (key step)", "mean attention received", "Where attention goes over each cell's life");
    for (size_t k = 0; k < nc; k++) {
        int m = 0;
        for (size_t s = 0; s < maxk; s++)
            if (cnt[k * maxk + s]) xs[m] = (double)s, ys[m] = recv[k * maxk + s], m++;
        plcol0(color_of(k));
        plwidth(2);
        plline(m, xs, ys);
        plwidth(1);
    }
    legend_of(&cells, 1);
out:
    bml__strvec_free(&cells);
    free(gid), free(recv), free(cnt), free(xs), free(ys);
}

/* ------------------------------------------------------------------ training curves */
typedef struct {
    const table *h;
    int c_fold, c_epoch, c_train, c_val, c_lr;
} hist_ctx;

static void draw_training(void *vc) {
    hist_ctx *c = vc;
    const table *h = c->h;
    size_t n = h->n;
    double *lt = draw_alloc(2 * n, sizeof *lt), *ep = draw_alloc(n, sizeof *ep), *lr = draw_alloc(n, sizeof *lr);
    PLFLT *xs = draw_alloc(n, sizeof *xs), *ys = draw_alloc(n, sizeof *ys), *vs = draw_alloc(n, sizeof *vs);
    int *gid = draw_alloc(n, sizeof *gid);
    bml__strvec folds = {0};
    if (!lt || !ep || !lr || !xs || !ys || !vs || !gid) goto out;
    for (size_t i = 0; i < n; i++) {
        double a = num(h, i, c->c_train), b = num(h, i, c->c_val);
        lt[i] = a > 0 ? log10(a) : NAN;
        lt[n + i] = b > 0 ? log10(b) : NAN;
        ep[i] = num(h, i, c->c_epoch);
        lr[i] = num(h, i, c->c_lr);
    }
    double x0, x1, y0, y1;
    minmax(ep, n, &x0, &x1);
    minmax(lt, 2 * n, &y0, &y1);
    /* folds in order of appearance */
    int last = -1;
    for (size_t i = 0; i < n; i++)
        if ((gid[i] = intern(&folds, str(h, i, c->c_fold), &last)) < 0) goto out;
    plvpor(0.12, 0.78, 0.42, 0.9);
    plwind(x0, x1, y0, y1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcst", 0, 0, "bcnstvl", 0, 0);
    pllab("", "loss (log scale)", "Training: train loss (solid), validation loss (dashed)");
    for (size_t k = 0; k < folds.n; k++) {
        int m = 0;
        for (size_t i = 0; i < n; i++)
            if (gid[i] == (int)k) xs[m] = ep[i], ys[m] = lt[i], vs[m] = lt[n + i], m++;
        plcol0(color_of(k));
        plline(m, xs, ys);
        pllsty(2);
        plline(m, xs, vs);
        pllsty(1);
    }
    legend_of(&folds, 1);
    double l0, l1;
    minmax(lr, n, &l0, &l1);
    plvpor(0.12, 0.78, 0.1, 0.34);
    plwind(x0, x1, l0, l1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("epoch", "learning rate", "");
    int m = 0;
    for (size_t i = 0; i < n; i++)
        if (gid[i] == 0) xs[m] = ep[i], ys[m] = lr[i], m++;
    plcol0(2);
    plline(m, xs, ys);
out:
    bml__strvec_free(&folds);
    free(lt), free(ep), free(lr), free(xs), free(ys), free(vs), free(gid);
}

/* ------------------------------------------------------------------ dQ/dV curves */
typedef struct {
    const table *d;
    int c_cell, c_rpt, c_v, c_dq, c_peak;
} dqdv_ctx;

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void draw_dqdv(void *vc) {
    dqdv_ctx *c = vc;
    const table *d = c->d;
    size_t n = d->n;
    double *v = draw_alloc(n, sizeof *v), *y = draw_alloc(n, sizeof *y);
    PLFLT *xs = draw_alloc(n, sizeof *xs), *ys = draw_alloc(n, sizeof *ys);
    long *rpts = draw_alloc(n, sizeof *rpts);
    if (!v || !y || !xs || !ys || !rpts) goto out;
    for (size_t i = 0; i < n; i++) v[i] = num(d, i, c->c_v), y[i] = num(d, i, c->c_dq);
    double x0, x1, y0, y1;
    minmax(v, n, &x0, &x1);
    minmax(y, n, &y0, &y1);
    y0 = 0;
    plvpor(0.12, 0.8, 0.12, 0.9);
    plwind(x0, x1, y0, y1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char *tl = draw_sprintf("dQ/dV of cell %s at each reference test (detected peaks marked)", str(d, 0, c->c_cell));
    if (tl) pllab("voltage (V)", "|dQ/dV| (Ah/V)", tl);
    free(tl);
    /* one line per RPT, colour by order (chronological); peaks as filled dots */
    for (size_t i = 0; i < n; i++) rpts[i] = (long)num(d, i, c->c_rpt);
    qsort(rpts, n, sizeof *rpts, cmp_long);
    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if (!nr || rpts[i] != rpts[nr - 1]) rpts[nr++] = rpts[i];
    const char *text[2];
    int colors[2] = {2, 5}, shown = 0;
    char first[32], lastn[32];
    snprintf(first, sizeof first, "RPT %ld", rpts[0]);
    snprintf(lastn, sizeof lastn, "RPT %ld", rpts[nr - 1]);
    text[shown++] = first;
    if (nr > 1) text[shown++] = lastn;
    for (size_t k = 0; k < nr; k++) {
        int m = 0;
        for (size_t i = 0; i < n; i++)
            if ((long)num(d, i, c->c_rpt) == rpts[k]) xs[m] = v[i], ys[m] = y[i], m++;
        plcol1(nr > 1 ? (double)k / (double)(nr - 1) : 0.0);
        plline(m, xs, ys);
        for (size_t i = 0; i < n; i++)
            if ((long)num(d, i, c->c_rpt) == rpts[k] && num(d, i, c->c_peak) > 0) {
                PLFLT px = v[i], py = y[i];
                plcol0(1);
                plstring(1, &px, &py, "•");
            }
    }
    legend(shown, text, colors, 1); /* the first and the last test; the colour runs between them */
out:
    free(v), free(y), free(xs), free(ys), free(rpts);
}

/* ------------------------------------------------------------------ latent trajectories */
typedef struct {
    const table *d;
    int c_fold, c_cell, c_days, c_z[3];
    int nz;
} latent_ctx;

/* the first latent dimensions over each cell's days, one panel per dimension, one line per cell */
static void draw_latent(void *vc) {
    latent_ctx *c = vc;
    const table *d = c->d;
    size_t n = d->n;
    PLFLT *xs = draw_alloc(n, sizeof *xs), *ys = draw_alloc(n, sizeof *ys);
    int *gid = draw_alloc(n, sizeof *gid);
    bml__strvec cells = {0};
    if (!xs || !ys || !gid || group_rows(d, c->c_fold, c->c_cell, "%s/%s", &cells, gid) != 0) goto out;
    double t0 = INFINITY, t1 = -INFINITY;
    for (size_t i = 0; i < n; i++) t0 = fmin(t0, num(d, i, c->c_days)), t1 = fmax(t1, num(d, i, c->c_days));
    if (!(t1 > t0)) t1 = t0 + 1;
    if (!isfinite(t0)) t0 = 0, t1 = 1;
    for (int p = 0; p < c->nz; p++) {
        double z0 = INFINITY, z1 = -INFINITY;
        for (size_t i = 0; i < n; i++) z0 = fmin(z0, num(d, i, c->c_z[p])), z1 = fmax(z1, num(d, i, c->c_z[p]));
        if (!(z1 > z0)) z0 = isfinite(z0) ? z0 - 1 : -1, z1 = isfinite(z1) ? z1 + 1 : 1;
        double top = 0.92 - p * (0.8 / c->nz), bottom = top - 0.8 / c->nz + 0.05;
        plvpor(0.12, 0.78, bottom, top);
        plwind(t0, t1, z0 - 0.05 * (z1 - z0), z1 + 0.05 * (z1 - z0));
        plcol0(12);
        plbox("g", 0, 0, "g", 0, 0);
        plcol0(1);
        plbox(p == c->nz - 1 ? "bcnst" : "bcst", 0, 0, "bcnstv", 0, 0);
        char yl[16];
        snprintf(yl, sizeof yl, "z%d", p);
        pllab(p == c->nz - 1 ? "days of degradation" : "", yl, p == 0 ? "Latent ODE trajectories of the evaluated cells" : "");
        for (size_t k = 0; k < cells.n; k++) {
            int m = 0;
            for (size_t i = 0; i < n; i++)
                if (gid[i] == (int)k) xs[m] = num(d, i, c->c_days), ys[m] = num(d, i, c->c_z[p]), m++;
            plcol0(color_of(k));
            plwidth(2);
            plline(m, xs, ys);
            plwidth(1);
        }
    }
    plvpor(0.12, 0.78, 0.12, 0.92);
    legend_of(&cells, 1);
out:
    bml__strvec_free(&cells);
    free(xs), free(ys), free(gid);
}

/* ------------------------------------------------------------------ the figures of each file */
typedef struct {
    const char *dir; /* run_dir/figures */
    int count;
} out_t;

static bml_status figure(out_t *o, const char *name, draw_fn fn, void *ctx, int w, int h) {
    BML__TRY(render(o->dir, name, fn, ctx, w, h));
    o->count++;
    return BML_OK;
}

static bml_status figure_named(out_t *o, const char *prefix, const char *target, draw_fn fn, void *ctx, int w, int h) {
    char *name = bml__sprintf("%s%s", prefix, target);
    if (!name) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = figure(o, name, fn, ctx, w, h);
    free(name);
    return st;
}

/* prediction vs truth and fade, per target (true_<t> and pred_<t> columns) */
static bml_status predictions_figures(out_t *o, const table *pr) {
    pred_ctx c = {pr, NULL, -1, -1, -1, -1, -1, -1, -1, -1};
    BML__TRY(need(pr, "temperature_c", 1, &c.c_temp));
    BML__TRY(need(pr, "days", 1, &c.c_days));
    BML__TRY(need(pr, "cell", 0, &c.c_cell));
    BML__TRY(need(pr, "experiment", 0, &c.c_exp));
    const bml__csv_row *h = &pr->csv.rows[0];
    int pairs = 0;
    bml_status st;
    for (size_t j = 0; j < h->n_fields; j++) {
        if (strncmp(h->fields[j], "true_", 5)) continue;
        c.target = h->fields[j] + 5;
        char *pc = bml__sprintf("pred_%s", c.target);
        if (!pc) return bml__fail(BML_ERR_NOMEM, "out of memory");
        st = need(pr, pc, 1, &c.c_pred);
        free(pc);
        BML__TRY(st);
        c.c_true = (int)j;
        BML__TRY(check_numbers(pr, c.c_true, 0, 0));
        /* prediction intervals, when the run made them: both bounds or neither */
        char *lc = bml__sprintf("lower_%s", c.target), *uc = bml__sprintf("upper_%s", c.target);
        if (!lc || !uc) {
            free(lc), free(uc);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        c.c_lower = col(pr, lc), c.c_upper = col(pr, uc);
        st = BML_OK;
        if ((c.c_lower < 0) != (c.c_upper < 0))
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:1: column '%s' without '%s' in the header", pr->path, h->line,
                           c.c_lower < 0 ? uc : lc, c.c_lower < 0 ? lc : uc);
        free(lc), free(uc);
        BML__TRY(st);
        if (c.c_lower >= 0) {
            BML__TRY(check_numbers(pr, c.c_lower, 0, 0));
            BML__TRY(check_numbers(pr, c.c_upper, 0, 0));
            for (size_t i = 0; i < pr->n; i++) {
                double a = num(pr, i, c.c_lower), b = num(pr, i, c.c_upper);
                if (a > b)
                    return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: the interval's lower bound %g is above its upper bound %g",
                                     pr->path, pr->csv.rows[i + 1].line, c.c_lower + 1, a, b);
            }
        }
        pairs++;
        BML__TRY(figure_named(o, "pred_vs_truth_", c.target, draw_pred_vs_truth, &c, 900, 700));
        BML__TRY(figure_named(o, "fade_", c.target, draw_fade, &c, 1000, 650));
    }
    if (!pairs) return bml__fail(BML_ERR_PARSE, "%s:%zu:1: no true_<target> column in the header", pr->path, h->line);
    return BML_OK;
}

/* pixels of a figure with a row per feature: `per` for each of the first 20 rows, `more` for the rest */
static int height(int base, int per, int more, int nf) { return base + per * (nf < 20 ? nf : 20) + (nf > 20 ? more * (nf - 20) : 0); }

/* SHAP beeswarm, waterfall and dependence (and importance bars when importance.csv is there), per target */
static bml_status shap_figures(out_t *o, const table *sh, const table *im) {
    const bml__csv_row *h = &sh->csv.rows[0];
    shap_ctx c = {sh, NULL, 0, NULL, NULL, NULL, -1, -1, -1, -1, -1};
    BML__TRY(need(sh, "target", 0, &c.c_target));
    BML__TRY(need(sh, "expected_value", 1, &c.c_expected));
    BML__TRY(need(sh, "prediction", 1, &c.c_pred));
    BML__TRY(need(sh, "cell", 0, &c.c_cell));
    BML__TRY(need(sh, "set_index", 0, &c.c_set));
    imp_ctx ic = {im, NULL, -1, -1, -1, -1};
    if (im) {
        BML__TRY(need(im, "target", 0, &ic.c_target));
        BML__TRY(need(im, "feature", 0, &ic.c_feature));
        BML__TRY(need(im, "gain", 1, &ic.c_gain));
        BML__TRY(need(im, "mean_abs_shap", 1, &ic.c_shap));
    }
    for (size_t j = 0; j < h->n_fields; j++) c.nf += !strncmp(h->fields[j], "shap_", 5);
    if (c.nf == 0) return bml__fail(BML_ERR_PARSE, "%s:%zu:1: no shap_<feature> column in the header", sh->path, h->line);
    c.c_shap = bml__calloc((size_t)c.nf, sizeof *c.c_shap);
    c.c_val = bml__calloc((size_t)c.nf, sizeof *c.c_val);
    c.fname = bml__calloc((size_t)c.nf, sizeof *c.fname);
    bml__strvec targets = {0};
    bml_status st = c.c_shap && c.c_val && c.fname ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t j = 0, k = 0; st == BML_OK && j < h->n_fields; j++) {
        if (strncmp(h->fields[j], "shap_", 5)) continue;
        c.fname[k] = h->fields[j] + 5;
        c.c_shap[k] = (int)j;
        char *vc = bml__sprintf("value_%s", c.fname[k]);
        st = vc ? need(sh, vc, 1, &c.c_val[k]) : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) st = check_numbers(sh, c.c_shap[k], 0, 0);
        free(vc);
        k++;
    }
    int last = -1;
    for (size_t i = 0; st == BML_OK && i < sh->n; i++) {
        size_t before = targets.n;
        if (intern(&targets, str(sh, i, c.c_target), &last) < 0) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st != BML_OK || targets.n == before) continue;
        c.target = ic.target = targets.items[targets.n - 1];
        st = figure_named(o, "shap_summary_", c.target, draw_beeswarm, &c, 1000, height(120, 70, 24, c.nf));
        if (st == BML_OK) st = figure_named(o, "shap_waterfall_", c.target, draw_waterfall, &c, 1000, height(160, 60, 24, c.nf));
        if (st == BML_OK) st = figure_named(o, "shap_dependence_", c.target, draw_dependence, &c, 1500, 520);
        if (st == BML_OK && im) st = figure_named(o, "importance_", c.target, draw_importance, &ic, 900, height(260, 90, 48, c.nf));
    }
    bml__strvec_free(&targets);
    free(c.c_shap), free(c.c_val), free(c.fname);
    return st;
}

static bml_status attention_figures(out_t *o, const table *at) {
    att_ctx c = {at, NULL, 0, NULL, -1, -1, -1, -1, -1};
    BML__TRY(need(at, "cell", 0, &c.c_cell));
    BML__TRY(need(at, "fold", 0, &c.c_fold));
    BML__TRY(need(at, "query_step", 2, &c.c_q));
    BML__TRY(need(at, "key_step", 2, &c.c_k));
    BML__TRY(need(at, "weight", 1, &c.c_w));
    /* the heatmap of the first evaluated sequence (fold and cell of the first row) */
    c.cell = str(at, 0, c.c_cell);
    const char *ffold = str(at, 0, c.c_fold);
    size_t rows = 0;
    for (size_t i = 0; i < at->n; i++)
        if (!strcmp(str(at, i, c.c_cell), c.cell) && !strcmp(str(at, i, c.c_fold), ffold)) {
            rows++;
            c.T = (size_t)fmax((double)c.T, fmax(num(at, i, c.c_q), num(at, i, c.c_k)) + 1);
        }
    if (c.T * c.T > 4 * rows + 64) /* a (T, T) matrix has T^2 entries: steps far beyond the rows are corrupt */
        return bml__fail(BML_ERR_PARSE, "%s: steps up to %zu for %zu rows of cell %s (fold %s): not an attention matrix", at->path,
                         c.T - 1, rows, c.cell, ffold);
    c.w = bml__calloc(c.T * c.T, sizeof *c.w);
    if (!c.w) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < at->n; i++)
        if (!strcmp(str(at, i, c.c_cell), c.cell) && !strcmp(str(at, i, c.c_fold), ffold)) {
            size_t q = (size_t)num(at, i, c.c_q), k = (size_t)num(at, i, c.c_k);
            c.w[q * c.T + k] = num(at, i, c.c_w);
        }
    bml_status st = figure(o, "attention_heatmap", draw_heatmap, &c, 850, 750);
    if (st == BML_OK) st = figure(o, "attention_over_time", draw_attention_over_time, &c, 1000, 650);
    free(c.w);
    return st;
}

static bml_status training_figures(out_t *o, const table *hi) {
    hist_ctx c;
    BML__TRY(need(hi, "fold", 0, &c.c_fold));
    BML__TRY(need(hi, "epoch", 1, &c.c_epoch));
    BML__TRY(need(hi, "train_loss", 1, &c.c_train));
    BML__TRY(need(hi, "val_loss", 1, &c.c_val));
    BML__TRY(need(hi, "lr", 1, &c.c_lr));
    c.h = hi;
    return figure(o, "training_curves", draw_training, &c, 1000, 750);
}

static bml_status dqdv_figures(out_t *o, const table *dq) {
    dqdv_ctx c;
    BML__TRY(need(dq, "cell", 0, &c.c_cell));
    BML__TRY(need(dq, "rpt", 2, &c.c_rpt));
    BML__TRY(need(dq, "voltage_v", 1, &c.c_v));
    BML__TRY(need(dq, "dqdv_ah_per_v", 1, &c.c_dq));
    BML__TRY(need(dq, "is_peak", 1, &c.c_peak));
    c.d = dq;
    return figure(o, "dqdv_curves", draw_dqdv, &c, 1000, 700);
}

static bml_status latent_figures(out_t *o, const table *la) {
    latent_ctx c = {la, -1, -1, -1, {-1, -1, -1}, 0};
    BML__TRY(need(la, "fold", 0, &c.c_fold));
    BML__TRY(need(la, "cell", 0, &c.c_cell));
    BML__TRY(need(la, "days", 1, &c.c_days));
    BML__TRY(need(la, "z0", 1, &c.c_z[0]));
    for (c.nz = 1; c.nz < 3; c.nz++) {
        char zn[16];
        snprintf(zn, sizeof zn, "z%d", c.nz);
        if (col(la, zn) < 0) break;
        BML__TRY(need(la, zn, 1, &c.c_z[c.nz]));
    }
    return figure(o, "latent_trajectories", draw_latent, &c, 1000, 800);
}

/* ------------------------------------------------------------------ all figures of a run */
/* ------------------------------------------------------------------ learning-rate range test */
typedef struct {
    const table *t;
    int c_lr, c_loss, c_sug;
} lrf_ctx;

static void draw_lr_find(void *vc) {
    lrf_ctx *c = vc;
    size_t n = c->t->n;
    PLFLT *x = draw_alloc(n + 1, sizeof *x), *y = draw_alloc(n + 1, sizeof *y);
    double *xs = draw_alloc(n + 1, sizeof *xs), *ys = draw_alloc(n + 1, sizeof *ys);
    if (!x || !y || !xs || !ys) goto out;
    size_t m = 0, sug = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        double lr = num(c->t, i, c->c_lr), l = num(c->t, i, c->c_loss);
        if (!(lr > 0) || !isfinite(l)) continue;
        if (c->c_sug >= 0 && num(c->t, i, c->c_sug) == 1) sug = m;
        x[m] = xs[m] = log10(lr), y[m] = ys[m] = l, m++;
    }
    if (!m) goto out;
    double x0, x1, y0, y1;
    minmax(xs, m, &x0, &x1);
    minmax(ys, m, &y0, &y1);
    plvpor(0.12, 0.95, 0.12, 0.9);
    plwind(x0, x1, y0, y1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnstl", 0, 0, "bcnstv", 0, 0);
    pllab("learning rate (log scale)", "smoothed training loss", "Learning-rate range test");
    plcol0(2);
    plwidth(2);
    plline((PLINT)m, x, y);
    plwidth(1);
    if (sug != (size_t)-1) {
        PLFLT px[1] = {x[sug]}, py[1] = {y[sug]}, vx[2] = {x[sug], x[sug]}, vy[2] = {y0, y1};
        plcol0(5);
        pllsty(2);
        plline(2, vx, vy);
        pllsty(1);
        plpoin(1, px, py, 17);
        char lab[64];
        snprintf(lab, sizeof lab, " suggested %.3g", pow(10, x[sug]));
        plptex(x[sug], y1 - 0.08 * (y1 - y0), 1, 0, 0, lab);
    }
out:
    free(x), free(y), free(xs), free(ys);
}

/* ------------------------------------------------------------------ a sweep: metric against each parameter */
typedef struct {
    const table *t;
    int c_param, c_metric, c_status;
    const char *param, *metric;
} sweep_ctx;

static void draw_sweep(void *vc) {
    sweep_ctx *c = vc;
    size_t n = c->t->n;
    double *xv = draw_alloc(n + 1, sizeof *xv), *yv = draw_alloc(n + 1, sizeof *yv);
    PLFLT *px = draw_alloc(n + 1, sizeof *px), *py = draw_alloc(n + 1, sizeof *py);
    const char **cats = draw_alloc(n + 1, sizeof *cats);
    if (!xv || !yv || !px || !py || !cats) goto out;
    /* numbers on a (log, when positive over more than a decade) axis; anything else as categories in order */
    int numeric = 1;
    double lo = INFINITY, hi = -INFINITY, v;
    for (size_t i = 0; i < n; i++) {
        if (bml__parse_double(str(c->t, i, c->c_param), &v) != 0) numeric = 0;
        else lo = fmin(lo, v), hi = fmax(hi, v);
    }
    int logx = numeric && lo > 0 && hi / lo >= 10;
    size_t nc = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = str(c->t, i, c->c_param);
        size_t k = 0;
        while (k < nc && strcmp(cats[k], p)) k++;
        if (k == nc) cats[nc++] = p;
        double y = num(c->t, i, c->c_metric);
        if (strcmp(str(c->t, i, c->c_status), "ok") || !isfinite(y)) continue;
        double x = numeric ? (bml__parse_double(p, &v), logx ? log10(v) : v) : (double)k;
        xv[m] = x, yv[m] = y, px[m] = x, py[m] = y, m++;
    }
    double x0, x1, y0, y1;
    if (numeric) minmax(xv, m, &x0, &x1);
    else x0 = -0.5, x1 = (double)nc - 0.5;
    minmax(yv, m, &y0, &y1);
    plvpor(0.12, 0.95, numeric ? 0.12 : 0.2, 0.9);
    plwind(x0, x1, y0, y1);
    plcol0(12);
    plbox(numeric ? "g" : "", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox(numeric ? (logx ? "bcnstl" : "bcnst") : "bc", 0, 0, "bcnstv", 0, 0);
    if (!numeric)
        for (size_t k = 0; k < nc; k++) plptex((double)k, y0 - 0.04 * (y1 - y0), 1, 0, 0.5, cats[k]);
    char *title = draw_sprintf("%s against %s (%zu jobs)", c->metric, c->param, m);
    pllab(c->param, c->metric, title ? title : "");
    free(title);
    plcol0(2);
    plpoin((PLINT)m, px, py, 17);
out:
    free(xv), free(yv), free(px), free(py), free(cats);
}


static bml_status lr_find_figures(out_t *o, const table *lf) {
    lrf_ctx c = {lf, -1, -1, -1};
    BML__TRY(need(lf, "lr", 1, &c.c_lr));
    BML__TRY(need(lf, "smoothed_loss", 1, &c.c_loss));
    BML__TRY(need(lf, "suggested", 1, &c.c_sug));
    return figure(o, "lr_find", draw_lr_find, &c, 900, 650);
}

bml_status bml__figures_sweep(const char *sweep_dir, const char *metric, int *n_written) {
    if (n_written) *n_written = 0;
    if (!have_device("pngcairo") || !have_device("svgcairo"))
        return bml__fail(BML_ERR_BACKEND, "PLplot's cairo driver is missing (Debian: apt-get install plplot-driver-cairo)");
    table t;
    int have = 0;
    bml_status st = table_load(sweep_dir, "sweep.csv", &t, &have);
    if (st != BML_OK || !have) { /* no sweep.csv: no figures */
        table_free(&t);
        return st;
    }
    const bml__csv_row *h = &t.csv.rows[0];
    int c_status = -1, c_ovr = -1, c_metric = -1;
    st = need(&t, "status", 0, &c_status);
    if (st == BML_OK) st = need(&t, "overrides", 0, &c_ovr);
    if (st == BML_OK && metric) st = need(&t, metric, 1, &c_metric);
    for (size_t j = 0; st == BML_OK && !metric && j < h->n_fields; j++) {
        size_t l = strlen(h->fields[j]);
        if (l > 5 && !strcmp(h->fields[j] + l - 5, ".rmse")) {
            st = need(&t, h->fields[j], 1, &c_metric);
            break;
        }
    }
    char *dir = bml__path_join(sweep_dir, "figures");
    if (st == BML_OK && !dir) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && c_metric >= 0) st = bml__mkdir_p(dir);
    out_t o = {dir, 0};
    /* the swept keys are the columns between overrides and status */
    for (int j = c_ovr + 1; st == BML_OK && c_metric >= 0 && j < c_status; j++) {
        sweep_ctx c = {&t, j, c_metric, c_status, h->fields[j], h->fields[c_metric]};
        char *name = bml__sprintf("sweep_%s_vs_%s", h->fields[c_metric], h->fields[j]);
        for (char *q = name; q && *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' || *q == '-'))
                *q = '_';
        st = name ? figure(&o, name, draw_sweep, &c, 900, 650) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(name);
    }
    table_free(&t);
    free(dir);
    if (n_written) *n_written = o.count;
    return st;
}

bml_status bml__figures_draw(const char *run_dir, int *n_written) { return bml__figures_draw_noting(run_dir, n_written, NULL); }

static bml_status draw_here(const char *run_dir, int *n_written, char **skipped) {
    if (n_written) *n_written = 0;
    if (skipped) *skipped = NULL;
    if (!bml__is_dir(run_dir)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such run directory", run_dir);
    if (!have_device("pngcairo") || !have_device("svgcairo"))
        return bml__fail(BML_ERR_BACKEND, "PLplot's cairo driver is missing (Debian: apt-get install plplot-driver-cairo)");
    char *dir = bml__path_join(run_dir, "figures");
    if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
    out_t o = {dir, 0};
    enum { PR, SH, IM, AT, HI, DQ, LA, N_FILES };
    static const char *const files[N_FILES] = {"predictions.csv", "shap.csv",   "importance.csv", "attention.csv",
                                               "step_metrics.csv", "dqdv.csv", "latent.csv"};
    static const char *const what[N_FILES] = {
        "prediction vs truth and fade figures", "SHAP summary, waterfall and importance figures (models without TreeSHAP, explain.enabled=false)",
        "importance bars (models without feature importance)", "attention figures (models without attention)",
        "training curves (models not trained by epochs)", "dQ/dV curves (ica_peaks studies only)",
        "latent trajectories (latent-ODE models only)"};
    table t[N_FILES];
    int have[N_FILES] = {0};
    memset(t, 0, sizeof t);
    bml_status st = BML_OK;
    for (int f = 0; st == BML_OK && f < N_FILES; f++) {
        st = table_load(run_dir, files[f], &t[f], &have[f]);
        if (st == BML_OK && !have[f]) st = note_skip(skipped, "%s: not in the run, no %s", files[f], what[f]);
    }
    if (st == BML_OK && have[IM] && !have[SH]) st = note_skip(skipped, "%s: %s", files[IM], "not drawn without shap.csv");
    if (st == BML_OK) st = bml__mkdir_p(dir);
    if (st == BML_OK && have[PR]) st = predictions_figures(&o, &t[PR]);
    if (st == BML_OK && have[SH]) st = shap_figures(&o, &t[SH], have[IM] ? &t[IM] : NULL);
    if (st == BML_OK && have[AT]) st = attention_figures(&o, &t[AT]);
    if (st == BML_OK && have[HI]) st = training_figures(&o, &t[HI]);
    if (st == BML_OK && have[DQ]) st = dqdv_figures(&o, &t[DQ]);
    if (st == BML_OK && have[LA]) st = latent_figures(&o, &t[LA]);
    /* the learning-rate range test (lr-find, training.learning_rate=auto): only where it was run, so its
     * absence is not noted */
    table lf;
    memset(&lf, 0, sizeof lf);
    int have_lf = 0;
    if (st == BML_OK) st = table_load(run_dir, "lr_find.csv", &lf, &have_lf);
    if (st == BML_OK && have_lf) st = lr_find_figures(&o, &lf);
    table_free(&lf);
    for (int f = 0; f < N_FILES; f++) table_free(&t[f]);
    free(dir);
    if (n_written) *n_written = o.count;
    return st;
}

/* ------------------------------------------------------------------ drawing in a child process
 * PLplot, cairo, pango and fontconfig abort or crash on an allocation failure (seen under `ulimit -v`: GLib
 * aborting when it cannot create pango's thread, SIGSEGV in fontconfig), which would take the whole study (or a
 * Python interpreter) with them. So the figures are drawn by a child process (fork): it writes into the run's
 * figures/ folder and reports its status, message, count and notes through a pipe; a child that crashes or
 * is killed is an error naming the signal, and the study fails cleanly (its partial folder is removed as after
 * any failure). BML_FIGURES_IN_PROCESS=1 draws in this process instead (debugging). */
static int write_all_fd(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* the child's report: int32 status, int32 count, then the message and the notes, each as uint32 length + bytes */
static void child_report(int fd, bml_status st, int n, const char *msg, const char *notes) {
    int32_t head[2] = {(int32_t)st, (int32_t)n};
    uint32_t lm = msg ? (uint32_t)strlen(msg) : 0, ln = notes ? (uint32_t)strlen(notes) : 0;
    int bad = write_all_fd(fd, head, sizeof head) || write_all_fd(fd, &lm, sizeof lm) || write_all_fd(fd, msg ? msg : "", lm) ||
              write_all_fd(fd, &ln, sizeof ln) || write_all_fd(fd, notes ? notes : "", ln);
    close(fd);
    _exit(bad ? 3 : 0);
}

/* The child holds nothing of its parent's but the pipe: above all not the lock of the run's partial folder
 * (an flock belongs to the open file, which fork shares), so that a study killed while its figures are drawn
 * leaves a folder the next run can clean up at once. And it dies with its parent. */
static void child_detach(pid_t parent, int keep) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(4); /* the parent died before prctl */
    unsigned lo = 3, k = (unsigned)keep;
    if (k > lo && close_range(lo, k - 1, 0) != 0)
        for (unsigned fd = lo; fd < k; fd++) close((int)fd);
    unsigned hi = k + 1 > lo ? k + 1 : lo; /* stdin, stdout and stderr stay */
    long max = sysconf(_SC_OPEN_MAX);
    if (close_range(hi, ~0U, 0) != 0)
        for (long fd = (long)hi; fd < (max > 0 && max < 65536 ? max : 65536); fd++) close((int)fd);
}

static int take(const char *buf, size_t len, size_t *at, void *out, size_t n) {
    if (len - *at < n) return -1;
    memcpy(out, buf + *at, n);
    *at += n;
    return 0;
}

bml_status bml__figures_draw_noting(const char *run_dir, int *n_written, char **skipped) {
    if (n_written) *n_written = 0;
    if (skipped) *skipped = NULL;
    const char *inproc = getenv("BML_FIGURES_IN_PROCESS");
    if (inproc && !strcmp(inproc, "1")) return draw_here(run_dir, n_written, skipped);
    int p[2];
    if (pipe(p) != 0) return bml__fail(BML_ERR_IO, "figures: cannot make a pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return bml__fail(BML_ERR_IO, "figures: cannot start the drawing process: %s", strerror(e));
    }
    if (pid == 0) { /* the child: draw, report, _exit (no atexit handlers, no stdio flushed twice) */
        close(p[0]);
        child_detach(parent, p[1]);
        int n = 0;
        char *notes = NULL;
        bml_status st = draw_here(run_dir, &n, skipped ? &notes : NULL);
        child_report(p[1], st, n, st == BML_OK ? "" : bml_last_error(), notes);
    }
    close(p[1]);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rerr = 0;
    for (;;) {
        if (len + 4096 > cap) {
            size_t nc = cap ? 2 * cap : 8192;
            char *nb = realloc(buf, nc);
            if (!nb) {
                rerr = ENOMEM;
                break;
            }
            buf = nb, cap = nc;
        }
        ssize_t r = read(p[0], buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rerr = errno;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    bml_status st;
    int32_t head[2];
    uint32_t lm = 0, ln = 0;
    size_t at = 0;
    if (WIFSIGNALED(status)) {
        st = bml__fail(BML_ERR_BACKEND,
                       "figures: the drawing process was killed by signal %d (%s): a crash or abort in PLplot, cairo, pango "
                       "or fontconfig (out of memory?); nothing written (figures=false skips the figures)",
                       WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (rerr == ENOMEM) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || rerr || take(buf, len, &at, head, sizeof head) ||
               take(buf, len, &at, &lm, sizeof lm) || len - at < lm) {
        st = bml__fail(BML_ERR_BACKEND, "figures: the drawing process ended with status %d and no report",
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else {
        const char *msg = buf + at;
        at += lm;
        const char *notes = NULL;
        if (take(buf, len, &at, &ln, sizeof ln) == 0 && len - at >= ln) notes = buf + at;
        st = (bml_status)head[0];
        if (st != BML_OK) {
            bml__fail(st, "%.*s", (int)lm, msg);
        } else {
            if (n_written) *n_written = head[1];
            if (skipped && notes && ln) {
                *skipped = bml__strndup(notes, ln);
                if (!*skipped) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            }
        }
    }
    free(buf);
    return st;
}
