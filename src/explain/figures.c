/* Run figures with PLplot (see figures.h). PLplot keeps global state and calls exit() on fatal
 * errors: every drawing runs under an exit handler that jumps back here, so the library never exits. */
#define _DEFAULT_SOURCE
#include "explain/figures.h"

#include <math.h>
#include <plplot.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "data/csvread.h"

/* ------------------------------------------------------------------ tables from the run's CSV files */
typedef struct {
    bml__csv csv;
    size_t n; /* data rows */
} table;

static int load(const char *dir, const char *name, table *t) {
    memset(t, 0, sizeof *t);
    char *p = bml__path_join(dir, name);
    int ok = p && bml__is_file(p) && bml__csv_read(p, 0, &t->csv) == BML_OK && t->csv.n_rows > 1;
    free(p);
    if (!ok) bml__csv_free(&t->csv);
    t->n = ok ? t->csv.n_rows - 1 : 0;
    return ok;
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

static double num(const table *t, size_t i, int c) {
    double v;
    return bml__parse_double(str(t, i, c), &v) == 0 ? v : NAN;
}

/* ------------------------------------------------------------------ PLplot plumbing */
static jmp_buf g_jump;
static char g_plmsg[256];

static int on_exit_request(PLCHAR_VECTOR msg) {
    snprintf(g_plmsg, sizeof g_plmsg, "%s", msg ? msg : "PLplot error");
    longjmp(g_jump, 1);
    return 0;
}

static void on_abort(PLCHAR_VECTOR msg) { snprintf(g_plmsg, sizeof g_plmsg, "%s", msg ? msg : ""); }

static int have_device(const char *dev) {
    const char **menu, **names;
    int n = 64;
    menu = calloc((size_t)n, sizeof *menu);
    names = calloc((size_t)n, sizeof *names);
    int found = 0;
    if (menu && names) {
        plgDevs(&menu, &names, &n);
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

typedef void (*draw_fn)(void *ctx);

/* draw one figure as PNG and SVG under dir/name.{png,svg} */
static bml_status render(const char *dir, const char *name, draw_fn fn, void *ctx, int w, int h) {
    static const char *const devs[2][2] = {{"pngcairo", "png"}, {"svgcairo", "svg"}};
    for (int k = 0; k < 2; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.%s", dir, name, devs[k][1]);
        volatile int started = 0;
        if (setjmp(g_jump)) {
            if (started) plend();
            return bml__fail(BML_ERR_BACKEND, "PLplot failed drawing %s: %s", path, g_plmsg);
        }
        plsexit(on_exit_request);
        plsabort(on_abort);
        plsdev(devs[k][0]);
        plsfnam(path);
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
    }
    return BML_OK;
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

static void legend(int n, const char **text, const int *colors, int lines) {
    int *opt = calloc((size_t)n, sizeof *opt), *styles = calloc((size_t)n, sizeof *styles);
    PLFLT *widths = calloc((size_t)n, sizeof *widths), *scales = calloc((size_t)n, sizeof *scales);
    int *nsym = calloc((size_t)n, sizeof *nsym);
    const char **sym = calloc((size_t)n, sizeof *sym);
    if (opt && styles && widths && scales && nsym && sym) {
        for (int i = 0; i < n; i++) {
            opt[i] = lines ? PL_LEGEND_LINE : PL_LEGEND_SYMBOL;
            styles[i] = 1, widths[i] = 2.0, scales[i] = 1.0, nsym[i] = 1, sym[i] = "•";
        }
        PLFLT lw, lh;
        plcol0(1);
        pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.02, 0.0,
                 0.06, 0, 1, 1, 0, 0, n, opt, 1.0, 0.8, 2.0, 0.0, colors, text, NULL, NULL, NULL, NULL, colors, styles,
                 widths, colors, scales, nsym, sym);
    }
    free(opt), free(styles), free(widths), free(scales), free(nsym), free(sym);
}

/* ------------------------------------------------------------------ prediction vs truth, fade */
typedef struct {
    const table *p;
    const char *target;
    int c_true, c_pred, c_temp, c_days, c_cell, c_exp;
} pred_ctx;

static void draw_pred_vs_truth(void *vc) {
    pred_ctx *c = vc;
    size_t n = c->p->n;
    double *t = calloc(n + 1, sizeof *t), *y = calloc(n + 1, sizeof *y);
    if (!t || !y) goto out;
    for (size_t i = 0; i < n; i++) t[i] = num(c->p, i, c->c_true), y[i] = num(c->p, i, c->c_pred);
    double lo, hi, lo2, hi2;
    minmax(t, n, &lo, &hi);
    minmax(y, n, &lo2, &hi2);
    lo = fmin(lo, lo2), hi = fmax(hi, hi2);
    plvpor(0.12, 0.78, 0.12, 0.9);
    plwind(lo, hi, lo, hi);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char xl[128], yl[128], tl[160];
    snprintf(xl, sizeof xl, "measured %s", c->target);
    snprintf(yl, sizeof yl, "predicted %s", c->target);
    snprintf(tl, sizeof tl, "Prediction vs truth: %s", c->target);
    pllab(xl, yl, tl);
    PLFLT id[2] = {lo, hi};
    plcol0(9);
    pllsty(2);
    plline(2, id, id);
    pllsty(1);
    /* one colour per temperature */
    double temps[16];
    int nt = 0;
    for (size_t i = 0; i < n && nt < 16; i++) {
        double v = num(c->p, i, c->c_temp);
        int seen = 0;
        for (int k = 0; k < nt; k++) seen |= temps[k] == v;
        if (!seen) temps[nt++] = v;
    }
    char names[16][32];
    const char *text[16];
    int colors[16];
    for (int k = 0; k < nt; k++) {
        plcol0(color_of((size_t)k));
        for (size_t i = 0; i < n; i++)
            if (num(c->p, i, c->c_temp) == temps[k]) {
                PLFLT px = t[i], py = y[i];
                plstring(1, &px, &py, "•");
            }
        snprintf(names[k], sizeof names[k], "%g degC", temps[k]);
        text[k] = names[k];
        colors[k] = color_of((size_t)k);
    }
    legend(nt, text, colors, 0);
out:
    free(t);
    free(y);
}

static void draw_fade(void *vc) {
    pred_ctx *c = vc;
    size_t n = c->p->n;
    double *d = calloc(n + 1, sizeof *d), *v = calloc(2 * n + 1, sizeof *v);
    if (!d || !v) goto out;
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
    char yl[128], tl[160];
    snprintf(yl, sizeof yl, "%s", c->target);
    snprintf(tl, sizeof tl, "%s over time: measured (solid) and predicted (dashed)", c->target);
    pllab("days of degradation", yl, tl);
    /* cells in order of appearance */
    char cells[24][40];
    const char *text[24];
    int colors[24], nc = 0;
    for (size_t i = 0; i < n && nc < 24; i++) {
        char key[40];
        snprintf(key, sizeof key, "E%s-%s", str(c->p, i, c->c_exp), str(c->p, i, c->c_cell));
        int seen = 0;
        for (int k = 0; k < nc; k++) seen |= !strcmp(cells[k], key);
        if (!seen) snprintf(cells[nc++], sizeof cells[0], "%s", key);
    }
    PLFLT *xs = calloc(n + 1, sizeof *xs), *ys = calloc(n + 1, sizeof *ys), *ps = calloc(n + 1, sizeof *ps);
    for (int k = 0; xs && ys && ps && k < nc; k++) {
        int m = 0;
        for (size_t i = 0; i < n; i++) {
            char key[40];
            snprintf(key, sizeof key, "E%s-%s", str(c->p, i, c->c_exp), str(c->p, i, c->c_cell));
            if (!strcmp(key, cells[k]) && isfinite(d[i])) xs[m] = d[i], ys[m] = v[i], ps[m] = v[n + i], m++;
        }
        plcol0(color_of((size_t)k));
        plwidth(2);
        plline(m, xs, ys);
        plstring(m, xs, ys, "•");
        pllsty(2);
        plline(m, xs, ps);
        pllsty(1);
        plwidth(1);
        text[k] = cells[k];
        colors[k] = color_of((size_t)k);
    }
    legend(nc, text, colors, 1);
    free(xs), free(ys), free(ps);
out:
    free(d);
    free(v);
}

/* ------------------------------------------------------------------ SHAP */
typedef struct {
    const table *s;
    const char *target;
    int nf;
    int *c_shap, *c_val; /* (nf) */
    char **fname;        /* (nf) */
    int c_target, c_expected, c_pred;
} shap_ctx;

static int rows_of_target(const shap_ctx *c, size_t *rows) {
    int m = 0;
    for (size_t i = 0; i < c->s->n; i++)
        if (!strcmp(str(c->s, i, c->c_target), c->target)) rows[m++] = i;
    return m;
}

static void draw_beeswarm(void *vc) {
    shap_ctx *c = vc;
    size_t *rows = calloc(c->s->n + 1, sizeof *rows);
    double *mabs = calloc((size_t)c->nf, sizeof *mabs), *all = calloc(c->s->n * (size_t)c->nf + 1, sizeof *all);
    int *order = calloc((size_t)c->nf, sizeof *order);
    if (!rows || !mabs || !all || !order) goto out;
    int m = rows_of_target(c, rows);
    for (int j = 0; j < c->nf; j++) {
        for (int r = 0; r < m; r++) {
            double v = num(c->s, rows[r], c->c_shap[j]);
            mabs[j] += fabs(v);
            all[(size_t)j * (size_t)m + (size_t)r] = v;
        }
        order[j] = j;
    }
    for (int a = 0; a < c->nf; a++) /* most important first (top) */
        for (int b = a + 1; b < c->nf; b++)
            if (mabs[order[b]] > mabs[order[a]]) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    double lo, hi;
    minmax(all, (size_t)m * (size_t)c->nf, &lo, &hi);
    plvpor(0.3, 0.84, 0.12, 0.9);
    plwind(lo, hi, -0.5, c->nf - 0.5);
    plcol0(12);
    plbox("g", 0, 0, "", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    char tl[160];
    snprintf(tl, sizeof tl, "SHAP values for %s (colour: feature value)", c->target);
    pllab("SHAP value (impact on the prediction)", "", tl);
    PLFLT zx[2] = {0, 0}, zy[2] = {-0.5, c->nf - 0.5};
    plcol0(9);
    plline(2, zx, zy);
    for (int k = 0; k < c->nf; k++) {
        int j = order[k];
        double y = c->nf - 1 - k;
        plcol0(1);
        plmtex("lv", 0.8, (y + 0.5) / c->nf, 1.0, c->fname[j]);
        /* colour by the feature value's rank among the samples */
        double vlo = INFINITY, vhi = -INFINITY;
        for (int r = 0; r < m; r++) {
            double v = num(c->s, rows[r], c->c_val[j]);
            if (isfinite(v)) vlo = fmin(vlo, v), vhi = fmax(vhi, v);
        }
        for (int r = 0; r < m; r++) {
            double v = num(c->s, rows[r], c->c_val[j]);
            double jitter = 0.3 * (((unsigned)(r * 2654435761u) % 1000) / 1000.0 - 0.5);
            PLFLT px = all[(size_t)j * (size_t)m + (size_t)r], py = y + jitter;
            if (!isfinite(v)) plcol0(9);
            else plcol1(vhi > vlo ? (v - vlo) / (vhi - vlo) : 0.5);
            plstring(1, &px, &py, "•");
        }
    }
    /* colour bar: low -> high feature value */
    PLINT n_values[1] = {64}, label_opts[1] = {PL_COLORBAR_LABEL_RIGHT}, sub_ticks[1] = {0};
    PLFLT values[64], *vals[1] = {values}, ticks[1] = {0};
    for (int i = 0; i < 64; i++) values[i] = i / 63.0;
    const char *labels[1] = {"feature value: low (blue) to high (red)"}, *axis_opts[1] = {"bc"};
    PLFLT cw, ch;
    plcol0(1);
    plcolorbar(&cw, &ch, PL_COLORBAR_GRADIENT, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.03, 0.0, 0.03, 0.78, 0, 1, 1, 0.0,
               0.0, 0, 0.0, 1, label_opts, labels, 1, axis_opts, ticks, sub_ticks, n_values, (const PLFLT *const *)vals);
out:
    free(rows), free(mabs), free(all), free(order);
}

static void draw_waterfall(void *vc) {
    shap_ctx *c = vc;
    size_t *rows = calloc(c->s->n + 1, sizeof *rows);
    int *order = calloc((size_t)c->nf, sizeof *order);
    double *phi = calloc((size_t)c->nf, sizeof *phi);
    if (!rows || !order || !phi) goto out;
    if (rows_of_target(c, rows) == 0) goto out;
    size_t r0 = rows[0];
    double base = num(c->s, r0, c->c_expected), pred = num(c->s, r0, c->c_pred);
    for (int j = 0; j < c->nf; j++) phi[j] = num(c->s, r0, c->c_shap[j]), order[j] = j;
    for (int a = 0; a < c->nf; a++)
        for (int b = a + 1; b < c->nf; b++)
            if (fabs(phi[order[b]]) > fabs(phi[order[a]])) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    double lo = fmin(base, pred), hi = fmax(base, pred), acc = base;
    for (int k = 0; k < c->nf; k++) acc += phi[order[k]], lo = fmin(lo, acc), hi = fmax(hi, acc);
    double pad = (hi - lo) * 0.08 + 1e-9;
    plvpor(0.36, 0.95, 0.12, 0.88);
    plwind(lo - pad, hi + 4 * pad, -0.5, c->nf + 0.5);
    plcol0(12);
    plbox("g", 0, 0, "", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    char tl[200];
    snprintf(tl, sizeof tl, "SHAP waterfall, cell %s set %s: %.4g -> %.4g", str(c->s, r0, col(c->s, "cell")),
             str(c->s, r0, col(c->s, "set_index")), base, pred);
    pllab(c->target, "", tl);
    acc = base;
    for (int k = 0; k < c->nf; k++) {
        int j = order[k];
        double y = c->nf - k, a = acc, b = acc + phi[j];
        PLFLT bx[4] = {a, b, b, a}, by[4] = {y - 0.35, y - 0.35, y + 0.35, y + 0.35};
        plcol0(phi[j] >= 0 ? 5 : 2); /* red pushes up, blue down */
        plfill(4, bx, by);
        char lab[160];
        snprintf(lab, sizeof lab, "%s = %.4g", c->fname[j], num(c->s, r0, c->c_val[j]));
        plcol0(1);
        plmtex("lv", 0.8, (y + 0.5) / (c->nf + 1.0), 1.0, lab);
        snprintf(lab, sizeof lab, "%+.2g", phi[j]);
        plptex(fmax(a, b), y, 1, 0, -0.1, lab);
        acc = b;
    }
    PLFLT ex[2] = {base, base}, ey[2] = {-0.5, c->nf + 0.5};
    plcol0(9);
    pllsty(2);
    plline(2, ex, ey);
    pllsty(1);
    plptex(base, 0, 1, 0, 0.5, "E[f(x)]");
out:
    free(rows), free(order), free(phi);
}

typedef struct {
    const table *t;
    const char *target;
    int c_target, c_feature, c_gain, c_shap;
} imp_ctx;

static void draw_bars(const imp_ctx *c, int value_col, const char *title, double vp_y0, double vp_y1) {
    size_t n = c->t->n;
    /* one value per feature: mean over folds */
    char names[64][64];
    double val[64] = {0};
    int cnt[64] = {0}, nf = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(str(c->t, i, c->c_target), c->target)) continue;
        const char *f = str(c->t, i, c->c_feature);
        int k;
        for (k = 0; k < nf; k++)
            if (!strcmp(names[k], f)) break;
        if (k == nf && nf < 64) snprintf(names[nf++], sizeof names[0], "%s", f);
        if (k < 64) {
            double v = num(c->t, i, value_col);
            if (isfinite(v)) val[k] += v, cnt[k]++;
        }
    }
    double hi = 0;
    for (int k = 0; k < nf; k++) val[k] = cnt[k] ? val[k] / cnt[k] : 0, hi = fmax(hi, val[k]);
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
        plmtex("lv", 0.8, (y + 0.5) / nf, 1.0, names[k]);
    }
}

static void draw_importance(void *vc) {
    imp_ctx *c = vc;
    char t1[128], t2[128];
    snprintf(t1, sizeof t1, "mean |SHAP| for %s", c->target);
    snprintf(t2, sizeof t2, "average gain per split (XGBoost) for %s", c->target);
    draw_bars(c, c->c_shap, t1, 0.58, 0.92);
    draw_bars(c, c->c_gain, t2, 0.1, 0.44);
}

/* ------------------------------------------------------------------ attention */
typedef struct {
    const table *a;
    char cell[48];
    int T;
    double *w; /* (T, T) of the first evaluated cell */
    int c_cell, c_q, c_k, c_w, c_fold;
} att_ctx;

static void draw_heatmap(void *vc) {
    att_ctx *c = vc;
    int T = c->T;
    PLFLT **z = calloc((size_t)T, sizeof *z);
    if (!z) return;
    double hi = 0;
    for (int k = 0; k < T; k++) {
        z[k] = calloc((size_t)T, sizeof **z); /* z[key][query]: x = key step, y = query step */
        for (int q = 0; z[k] && q < T; q++) z[k][q] = c->w[q * T + k], hi = fmax(hi, z[k][q]);
    }
    plvpor(0.12, 0.8, 0.12, 0.9);
    plwind(-0.5, T - 0.5, -0.5, T - 0.5);
    plimage((const PLFLT *const *)z, T, T, -0.5, T - 0.5, -0.5, T - 0.5, 0, hi > 0 ? hi : 1, -0.5, T - 0.5, -0.5, T - 0.5);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char tl[160];
    snprintf(tl, sizeof tl, "Attention of cell %s (head average)", c->cell);
    pllab("key: ageing set attended to", "query: ageing set", tl);
    PLINT n_values[1] = {64}, label_opts[1] = {PL_COLORBAR_LABEL_RIGHT}, sub_ticks[1] = {0};
    PLFLT values[64], *vals[1] = {values}, ticks[1] = {0};
    for (int i = 0; i < 64; i++) values[i] = hi * i / 63.0;
    const char *labels[1] = {"attention weight"}, *axis_opts[1] = {"bcvtm"};
    PLFLT cw, ch;
    plcolorbar(&cw, &ch, PL_COLORBAR_GRADIENT, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.03, 0.0, 0.03, 0.78, 0, 1, 1, 0.0,
               0.0, 0, 0.0, 1, label_opts, labels, 1, axis_opts, ticks, sub_ticks, n_values, (const PLFLT *const *)vals);
    for (int k = 0; k < T; k++) free(z[k]);
    free(z);
}

static void draw_attention_over_time(void *vc) {
    att_ctx *c = vc;
    const table *a = c->a;
    /* per cell: attention each key step receives, averaged over the cell's queries */
    char cells[24][48];
    int nc = 0;
    double recv[24][256] = {{0}};
    int cnt[24][256] = {{0}}, maxk = 0;
    for (size_t i = 0; i < a->n; i++) {
        char key[48];
        snprintf(key, sizeof key, "%s/%s", str(a, i, c->c_fold), str(a, i, c->c_cell));
        int k;
        for (k = 0; k < nc; k++)
            if (!strcmp(cells[k], key)) break;
        if (k == nc) {
            if (nc == 24) continue;
            snprintf(cells[nc++], sizeof cells[0], "%s", key);
        }
        int kk = (int)num(a, i, c->c_k);
        if (kk < 0 || kk >= 256) continue;
        recv[k][kk] += num(a, i, c->c_w);
        cnt[k][kk]++;
        if (kk + 1 > maxk) maxk = kk + 1;
    }
    double hi = 0;
    for (int k = 0; k < nc; k++)
        for (int s = 0; s < maxk; s++)
            if (cnt[k][s]) recv[k][s] /= cnt[k][s], hi = fmax(hi, recv[k][s]);
    plvpor(0.12, 0.75, 0.12, 0.9);
    plwind(-0.5, maxk - 0.5, 0, hi > 0 ? hi * 1.1 : 1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab("ageing set (key step)", "mean attention received", "Where attention goes over each cell's life");
    const char *text[24];
    int colors[24];
    for (int k = 0; k < nc; k++) {
        PLFLT xs[256], ys[256];
        int m = 0;
        for (int s = 0; s < maxk; s++)
            if (cnt[k][s]) xs[m] = s, ys[m] = recv[k][s], m++;
        plcol0(color_of((size_t)k));
        plwidth(2);
        plline(m, xs, ys);
        plwidth(1);
        text[k] = cells[k];
        colors[k] = color_of((size_t)k);
    }
    legend(nc, text, colors, 1);
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
    double *lt = calloc(2 * n + 1, sizeof *lt), *ep = calloc(n + 1, sizeof *ep), *lr = calloc(n + 1, sizeof *lr);
    if (!lt || !ep || !lr) goto out;
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
    char folds[24][48];
    int nf = 0;
    for (size_t i = 0; i < n && nf < 24; i++) {
        int seen = 0;
        for (int k = 0; k < nf; k++) seen |= !strcmp(folds[k], str(h, i, c->c_fold));
        if (!seen) snprintf(folds[nf++], sizeof folds[0], "%s", str(h, i, c->c_fold));
    }
    PLFLT *xs = calloc(n + 1, sizeof *xs), *ys = calloc(n + 1, sizeof *ys), *vs = calloc(n + 1, sizeof *vs);
    plvpor(0.12, 0.78, 0.42, 0.9);
    plwind(x0, x1, y0, y1);
    plcol0(12);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcst", 0, 0, "bcnstvl", 0, 0);
    pllab("", "loss (log scale)", "Training: train loss (solid), validation loss (dashed)");
    const char *text[24];
    int colors[24];
    for (int k = 0; xs && ys && vs && k < nf; k++) {
        int m = 0;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(str(h, i, c->c_fold), folds[k])) xs[m] = ep[i], ys[m] = lt[i], vs[m] = lt[n + i], m++;
        plcol0(color_of((size_t)k));
        plline(m, xs, ys);
        pllsty(2);
        plline(m, xs, vs);
        pllsty(1);
        text[k] = folds[k];
        colors[k] = color_of((size_t)k);
    }
    legend(nf, text, colors, 1);
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
    for (size_t i = 0; xs && ys && i < n; i++)
        if (!strcmp(str(h, i, c->c_fold), folds[0])) xs[m] = ep[i], ys[m] = lr[i], m++;
    plcol0(2);
    plline(m, xs, ys);
    free(xs), free(ys), free(vs);
out:
    free(lt), free(ep), free(lr);
}

/* ------------------------------------------------------------------ dQ/dV curves */
typedef struct {
    const table *d;
    int c_cell, c_rpt, c_v, c_dq, c_peak;
} dqdv_ctx;

static void draw_dqdv(void *vc) {
    dqdv_ctx *c = vc;
    const table *d = c->d;
    size_t n = d->n;
    double *v = calloc(n + 1, sizeof *v), *y = calloc(n + 1, sizeof *y);
    PLFLT *xs = calloc(n + 1, sizeof *xs), *ys = calloc(n + 1, sizeof *ys);
    if (!v || !y || !xs || !ys) goto out;
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
    char tl[160];
    snprintf(tl, sizeof tl, "dQ/dV of cell %s at each reference test (detected peaks marked)", str(d, 0, c->c_cell));
    pllab("voltage (V)", "|dQ/dV| (Ah/V)", tl);
    /* one line per RPT, colour by order; peaks as filled dots */
    int rpts[64], nr = 0;
    for (size_t i = 0; i < n && nr < 64; i++) {
        int r = (int)num(d, i, c->c_rpt), seen = 0;
        for (int k = 0; k < nr; k++) seen |= rpts[k] == r;
        if (!seen) rpts[nr++] = r;
    }
    for (int a = 0; a < nr; a++) /* chronological: colour runs from the first test to the last */
        for (int b = a + 1; b < nr; b++)
            if (rpts[b] < rpts[a]) {
                int t = rpts[a];
                rpts[a] = rpts[b];
                rpts[b] = t;
            }
    char names[64][16];
    const char *text[64];
    int colors[64], shown = 0;
    for (int k = 0; k < nr; k++) {
        int m = 0;
        for (size_t i = 0; i < n; i++)
            if ((int)num(d, i, c->c_rpt) == rpts[k]) xs[m] = v[i], ys[m] = y[i], m++;
        plcol1(nr > 1 ? (double)k / (nr - 1) : 0.0);
        plline(m, xs, ys);
        for (size_t i = 0; i < n; i++)
            if ((int)num(d, i, c->c_rpt) == rpts[k] && num(d, i, c->c_peak) > 0) {
                PLFLT px = v[i], py = y[i];
                plcol0(1);
                plstring(1, &px, &py, "•");
            }
        if (k == 0 || k == nr - 1 || nr <= 6) { /* legend: first and last tests (all when few) */
            snprintf(names[shown], sizeof names[0], "RPT %d", rpts[k]);
            text[shown] = names[shown];
            colors[shown++] = k == 0 ? 2 : 5;
        }
    }
    legend(shown, text, colors, 1);
out:
    free(v), free(y), free(xs), free(ys);
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
    PLFLT *xs = calloc(n + 1, sizeof *xs), *ys = calloc(n + 1, sizeof *ys);
    if (!xs || !ys) goto out;
    char cells[24][48];
    int nc = 0;
    for (size_t i = 0; i < n; i++) {
        char key[48];
        snprintf(key, sizeof key, "%s/%s", str(d, i, c->c_fold), str(d, i, c->c_cell));
        int k;
        for (k = 0; k < nc; k++)
            if (!strcmp(cells[k], key)) break;
        if (k == nc && nc < 24) snprintf(cells[nc++], sizeof cells[0], "%s", key);
    }
    double t0 = INFINITY, t1 = -INFINITY;
    for (size_t i = 0; i < n; i++) t0 = fmin(t0, num(d, i, c->c_days)), t1 = fmax(t1, num(d, i, c->c_days));
    if (!(t1 > t0)) t1 = t0 + 1;
    for (int p = 0; p < c->nz; p++) {
        double z0 = INFINITY, z1 = -INFINITY;
        for (size_t i = 0; i < n; i++) z0 = fmin(z0, num(d, i, c->c_z[p])), z1 = fmax(z1, num(d, i, c->c_z[p]));
        if (!(z1 > z0)) z0 -= 1, z1 += 1;
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
        for (int k = 0; k < nc; k++) {
            int m = 0;
            for (size_t i = 0; i < n; i++) {
                char key[48];
                snprintf(key, sizeof key, "%s/%s", str(d, i, c->c_fold), str(d, i, c->c_cell));
                if (!strcmp(key, cells[k])) xs[m] = num(d, i, c->c_days), ys[m] = num(d, i, c->c_z[p]), m++;
            }
            plcol0(color_of((size_t)k));
            plwidth(2);
            plline(m, xs, ys);
            plwidth(1);
        }
    }
    const char *text[24];
    int colors[24];
    for (int k = 0; k < nc; k++) text[k] = cells[k], colors[k] = color_of((size_t)k);
    plvpor(0.12, 0.78, 0.12, 0.92);
    legend(nc, text, colors, 1);
out:
    free(xs), free(ys);
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
    PLFLT *x = calloc(n + 1, sizeof *x), *y = calloc(n + 1, sizeof *y);
    double *xs = calloc(n + 1, sizeof *xs), *ys = calloc(n + 1, sizeof *ys);
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
    double *xv = calloc(n + 1, sizeof *xv), *yv = calloc(n + 1, sizeof *yv);
    PLFLT *px = calloc(n + 1, sizeof *px), *py = calloc(n + 1, sizeof *py);
    const char **cats = calloc(n + 1, sizeof *cats);
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
    char *title = bml__sprintf("%s against %s (%zu jobs)", c->metric, c->param, m);
    pllab(c->param, c->metric, title ? title : "");
    free(title);
    plcol0(2);
    plpoin((PLINT)m, px, py, 17);
out:
    free(xv), free(yv), free(px), free(py), free(cats);
}

bml_status bml__figures_sweep(const char *sweep_dir, const char *metric, int *n_written) {
    if (n_written) *n_written = 0;
    if (!have_device("pngcairo") || !have_device("svgcairo"))
        return bml__fail(BML_ERR_BACKEND, "PLplot's cairo driver is missing (Debian: apt-get install plplot-driver-cairo)");
    table t;
    if (!load(sweep_dir, "sweep.csv", &t)) return BML_OK; /* no jobs: no figures */
    const bml__csv_row *h = &t.csv.rows[0];
    int c_status = col(&t, "status"), c_metric = metric ? col(&t, metric) : -1, c_run = col(&t, "run_dir");
    for (size_t j = 0; !metric && j < h->n_fields; j++) {
        size_t l = strlen(h->fields[j]);
        if (l > 5 && !strcmp(h->fields[j] + l - 5, ".rmse")) {
            c_metric = (int)j;
            break;
        }
    }
    char *dir = bml__path_join(sweep_dir, "figures");
    bml_status st = dir ? bml__mkdir_p(dir) : bml__fail(BML_ERR_NOMEM, "out of memory");
    int count = 0;
    /* the swept keys are the columns between overrides and status */
    int c_ovr = col(&t, "overrides");
    for (int j = c_ovr + 1; st == BML_OK && c_metric >= 0 && c_status > j && j < c_status && j != c_run; j++) {
        sweep_ctx c = {&t, j, c_metric, c_status, h->fields[j], h->fields[c_metric]};
        char *name = bml__sprintf("sweep_%s_vs_%s", h->fields[c_metric], h->fields[j]);
        for (char *q = name; q && *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_' || *q == '-'))
                *q = '_';
        st = name ? render(dir, name, draw_sweep, &c, 900, 650) : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) count++;
        free(name);
    }
    bml__csv_free(&t.csv);
    free(dir);
    if (n_written) *n_written = count;
    return st;
}

bml_status bml__figures_draw(const char *run_dir, int *n_written) {
    if (n_written) *n_written = 0;
    if (!bml__is_dir(run_dir)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such run directory", run_dir);
    if (!have_device("pngcairo") || !have_device("svgcairo"))
        return bml__fail(BML_ERR_BACKEND, "PLplot's cairo driver is missing (Debian: apt-get install plplot-driver-cairo)");
    char *dir = bml__path_join(run_dir, "figures");
    if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = bml__mkdir_p(dir);
    int count = 0;
    table pr = {0}, sh = {0}, im = {0}, at = {0}, hi = {0}, dq = {0}, la = {0};
    /* prediction vs truth and fade, per target */
    if (st == BML_OK && load(run_dir, "predictions.csv", &pr)) {
        const bml__csv_row *h = &pr.csv.rows[0];
        for (size_t j = 0; st == BML_OK && j < h->n_fields; j++) {
            if (strncmp(h->fields[j], "true_", 5)) continue;
            const char *target = h->fields[j] + 5;
            char pc[128], name[160];
            snprintf(pc, sizeof pc, "pred_%s", target);
            pred_ctx c = {&pr, target, (int)j, col(&pr, pc), col(&pr, "temperature_c"), col(&pr, "days"), col(&pr, "cell"),
                          col(&pr, "experiment")};
            if (c.c_pred < 0) continue;
            snprintf(name, sizeof name, "pred_vs_truth_%s", target);
            if ((st = render(dir, name, draw_pred_vs_truth, &c, 900, 700)) == BML_OK) count++;
            snprintf(name, sizeof name, "fade_%s", target);
            if (st == BML_OK && (st = render(dir, name, draw_fade, &c, 1000, 650)) == BML_OK) count++;
        }
    }
    /* SHAP beeswarm and waterfall, importance bars, per target */
    if (st == BML_OK && load(run_dir, "shap.csv", &sh)) {
        const bml__csv_row *h = &sh.csv.rows[0];
        int nf = 0;
        for (size_t j = 0; j < h->n_fields; j++) nf += !strncmp(h->fields[j], "shap_", 5);
        shap_ctx c = {&sh, NULL, nf, calloc((size_t)nf + 1, sizeof(int)), calloc((size_t)nf + 1, sizeof(int)),
                      calloc((size_t)nf + 1, sizeof(char *)), col(&sh, "target"), col(&sh, "expected_value"),
                      col(&sh, "prediction")};
        for (size_t j = 0, k = 0; c.c_shap && c.c_val && c.fname && j < h->n_fields; j++)
            if (!strncmp(h->fields[j], "shap_", 5)) {
                char vc[160];
                c.fname[k] = h->fields[j] + 5;
                c.c_shap[k] = (int)j;
                snprintf(vc, sizeof vc, "value_%s", h->fields[j] + 5);
                c.c_val[k++] = col(&sh, vc);
            }
        int has_imp = load(run_dir, "importance.csv", &im);
        char done_targets[8][64];
        int nt = 0;
        for (size_t i = 0; c.c_shap && c.c_val && c.fname && st == BML_OK && i < sh.n && nt < 8; i++) {
            const char *target = str(&sh, i, c.c_target);
            int seen = 0;
            for (int k = 0; k < nt; k++) seen |= !strcmp(done_targets[k], target);
            if (seen) continue;
            snprintf(done_targets[nt++], sizeof done_targets[0], "%s", target);
            c.target = done_targets[nt - 1];
            char name[160];
            snprintf(name, sizeof name, "shap_summary_%s", c.target);
            if ((st = render(dir, name, draw_beeswarm, &c, 1000, 120 + 70 * nf)) == BML_OK) count++;
            snprintf(name, sizeof name, "shap_waterfall_%s", c.target);
            if (st == BML_OK && (st = render(dir, name, draw_waterfall, &c, 1000, 160 + 60 * nf)) == BML_OK) count++;
            if (st == BML_OK && has_imp) {
                imp_ctx ic = {&im, c.target, col(&im, "target"), col(&im, "feature"), col(&im, "gain"), col(&im, "mean_abs_shap")};
                snprintf(name, sizeof name, "importance_%s", c.target);
                if ((st = render(dir, name, draw_importance, &ic, 900, 260 + 90 * nf)) == BML_OK) count++;
            }
        }
        free(c.c_shap), free(c.c_val), free(c.fname);
    }
    /* attention */
    if (st == BML_OK && load(run_dir, "attention.csv", &at)) {
        att_ctx c = {&at, "", 0, NULL, col(&at, "cell"), col(&at, "query_step"), col(&at, "key_step"), col(&at, "weight"),
                     col(&at, "fold")};
        const char *first = str(&at, 0, c.c_cell), *ffold = str(&at, 0, c.c_fold);
        snprintf(c.cell, sizeof c.cell, "%s", first);
        for (size_t i = 0; i < at.n; i++)
            if (!strcmp(str(&at, i, c.c_cell), first) && !strcmp(str(&at, i, c.c_fold), ffold)) {
                int q = (int)num(&at, i, c.c_q);
                if (q + 1 > c.T) c.T = q + 1;
            }
        c.w = calloc((size_t)c.T * (size_t)c.T + 1, sizeof *c.w);
        for (size_t i = 0; c.w && i < at.n; i++)
            if (!strcmp(str(&at, i, c.c_cell), first) && !strcmp(str(&at, i, c.c_fold), ffold)) {
                int q = (int)num(&at, i, c.c_q), k = (int)num(&at, i, c.c_k);
                if (q >= 0 && k >= 0 && q < c.T && k < c.T) c.w[q * c.T + k] = num(&at, i, c.c_w);
            }
        if (c.w && c.T > 0 && (st = render(dir, "attention_heatmap", draw_heatmap, &c, 850, 750)) == BML_OK) count++;
        if (st == BML_OK && (st = render(dir, "attention_over_time", draw_attention_over_time, &c, 1000, 650)) == BML_OK) count++;
        free(c.w);
    }
    /* training curves */
    if (st == BML_OK && load(run_dir, "step_metrics.csv", &hi)) {
        hist_ctx c = {&hi, col(&hi, "fold"), col(&hi, "epoch"), col(&hi, "train_loss"), col(&hi, "val_loss"), col(&hi, "lr")};
        if ((st = render(dir, "training_curves", draw_training, &c, 1000, 750)) == BML_OK) count++;
    }
    /* dQ/dV curves of ICA studies */
    if (st == BML_OK && load(run_dir, "dqdv.csv", &dq)) {
        dqdv_ctx c = {&dq, col(&dq, "cell"), col(&dq, "rpt"), col(&dq, "voltage_v"), col(&dq, "dqdv_ah_per_v"), col(&dq, "is_peak")};
        if ((st = render(dir, "dqdv_curves", draw_dqdv, &c, 1000, 700)) == BML_OK) count++;
    }
    /* latent trajectories of latent-ODE models */
    if (st == BML_OK && load(run_dir, "latent.csv", &la)) {
        latent_ctx c = {&la, col(&la, "fold"), col(&la, "cell"), col(&la, "days"), {col(&la, "z0"), col(&la, "z1"), col(&la, "z2")}, 0};
        while (c.nz < 3 && c.c_z[c.nz] >= 0) c.nz++;
        if (c.nz > 0 && c.c_days >= 0 && (st = render(dir, "latent_trajectories", draw_latent, &c, 1000, 800)) == BML_OK) count++;
    }
    /* the learning-rate range test (lr-find, training.learning_rate=auto) */
    table lf = {0};
    if (st == BML_OK && load(run_dir, "lr_find.csv", &lf)) {
        lrf_ctx c = {&lf, col(&lf, "lr"), col(&lf, "smoothed_loss"), col(&lf, "suggested")};
        if (c.c_lr >= 0 && c.c_loss >= 0 && (st = render(dir, "lr_find", draw_lr_find, &c, 900, 650)) == BML_OK) count++;
    }
    bml__csv_free(&lf.csv);
    bml__csv_free(&la.csv);
    bml__csv_free(&dq.csv);
    bml__csv_free(&pr.csv);
    bml__csv_free(&sh.csv);
    bml__csv_free(&im.csv);
    bml__csv_free(&at.csv);
    bml__csv_free(&hi.csv);
    free(dir);
    if (n_written) *n_written = count;
    return st;
}
