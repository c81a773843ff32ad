/* `batteryml report` (one self-contained HTML page per run) and `batteryml compare` (runs side by side).
 * A run directory is untrusted input: metrics.json is parsed strictly and every member that is read is
 * checked for its type first, so a damaged or hand-edited file is an error naming the file and the
 * member, never a crash and never a half-written page. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batteryml/run.h"
#include "core/internal.h"
#include "track/html.h"

/* HTML-escaped text of n bytes; control characters other than newline and tab (NUL included) become
 * U+FFFD, so nothing in a file can end the text early or reach the page unescaped */
static void text_n(bml__sb *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '<': bml__sb_str(o, "&lt;"); break;
        case '>': bml__sb_str(o, "&gt;"); break;
        case '&': bml__sb_str(o, "&amp;"); break;
        case '"': bml__sb_str(o, "&quot;"); break;
        case '\'': bml__sb_str(o, "&#39;"); break;
        default:
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) bml__sb_str(o, "&#xfffd;");
            else bml__sb_put(o, s + i, 1);
        }
    }
}
static void text(bml__sb *o, const char *s) { text_n(o, s, strlen(s)); }

/* plain text for the terminal table: control characters shown as '?', padded to width */
static void plain(bml__sb *o, const char *s, int width) {
    int w = 0;
    for (; *s; s++, w++) bml__sb_put(o, (unsigned char)*s < 0x20 || *s == 0x7f ? "?" : s, 1);
    for (; w < width; w++) bml__sb_put(o, " ", 1);
}

static void base64(bml__sb *o, const unsigned char *d, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        q[0] = tbl[v >> 18 & 63], q[1] = tbl[v >> 12 & 63];
        q[2] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? tbl[v & 63] : '=';
        bml__sb_put(o, q, 4);
    }
}

/* ------------------------------------------------------------------ reading metrics.json */

/* line and column (1-based) of byte `at` of txt */
static void line_col(const char *txt, size_t at, size_t *line, size_t *col) {
    *line = 1, *col = 1;
    for (size_t i = 0; i < at && txt[i]; i++) {
        if (txt[i] == '\n') (*line)++, *col = 1;
        else (*col)++;
    }
}

/* Parse a whole file as one JSON value: a syntax error, a NUL byte or anything after the value is an
 * error naming file, line and column. *out is owned by the caller (cJSON_Delete). */
static bml_status read_json(const char *path, cJSON **out) {
    *out = NULL;
    char *txt = NULL;
    size_t len = 0;
    BML__TRY(bml__read_file(path, &txt, &len));
    size_t nul = strlen(txt), line, col;
    bml_status st = BML_OK;
    if (nul != len) {
        line_col(txt, nul, &line, &col);
        st = bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: a NUL byte: not a JSON text", path, line, col);
    } else {
        const char *end = NULL;
        *out = cJSON_ParseWithLengthOpts(txt, len + 1, &end, 1);
        if (!*out) {
            size_t at = end && end >= txt && end <= txt + len ? (size_t)(end - txt) : 0;
            line_col(txt, at, &line, &col);
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: not valid JSON", path, line, col);
        }
    }
    free(txt);
    return st;
}

static const char *const METRICS[] = {"n", "rmse", "mae", "mape", "r2", "max_abs_error"};
#define N_METRICS (sizeof METRICS / sizeof *METRICS)
static const char *const FOLD_SUMMARY[] = {"n_folds", "rmse_mean", "rmse_std", "mae_mean"};
#define N_FOLD_SUMMARY (sizeof FOLD_SUMMARY / sizeof *FOLD_SUMMARY)

static bml_status bad_member(const char *path, const char *a, const char *b, const char *c, const char *what) {
    return bml__fail(BML_ERR_PARSE, "%s: %s%s%s%s%s: %s", path, a, b ? "." : "", b ? b : "", c ? "." : "", c ? c : "", what);
}

/* an object whose listed members, where present, are numbers or null (NaN is written as null) */
static bml_status check_numbers(const cJSON *v, const char *const *keys, size_t n_keys, const char *path, const char *a,
                                const char *b) {
    if (!cJSON_IsObject(v)) return bad_member(path, a, b, NULL, "expected an object of metrics");
    for (size_t k = 0; k < n_keys; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, keys[k]);
        if (x && !cJSON_IsNumber(x) && !cJSON_IsNull(x))
            return bml__fail(BML_ERR_PARSE, "%s: %s%s%s.%s: expected a number or null", path, a, b ? "." : "", b ? b : "", keys[k]);
    }
    return BML_OK;
}

/* {target: metrics} */
static bml_status check_targets(const cJSON *v, const char *path, const char *a) {
    if (!cJSON_IsObject(v)) return bad_member(path, a, NULL, NULL, "expected an object of targets");
    const cJSON *t;
    cJSON_ArrayForEach(t, v) BML__TRY(check_numbers(t, METRICS, N_METRICS, path, a, t->string));
    return BML_OK;
}

/* The members of metrics.json that report and compare read, each checked for its type; optional
 * sections may be absent, `overall` may not. */
static bml_status check_metrics_json(const cJSON *m, const char *path) {
    if (!cJSON_IsObject(m)) return bml__fail(BML_ERR_PARSE, "%s: expected a JSON object at the top", path);
    const cJSON *study = cJSON_GetObjectItemCaseSensitive(m, "study");
    if (study) {
        if (!cJSON_IsObject(study)) return bad_member(path, "study", NULL, NULL, "expected an object");
        const cJSON *v;
        cJSON_ArrayForEach(v, study) {
            if (cJSON_IsArray(v) || cJSON_IsObject(v)) continue; /* features, targets: not shown */
            if (!cJSON_IsString(v) && !cJSON_IsNumber(v) && !cJSON_IsBool(v) && !cJSON_IsNull(v))
                return bad_member(path, "study", v->string, NULL, "expected a string or a number");
        }
    }
    const cJSON *overall = cJSON_GetObjectItemCaseSensitive(m, "overall");
    if (!overall) return bml__fail(BML_ERR_PARSE, "%s: no 'overall' metrics: not the metrics of a finished run", path);
    BML__TRY(check_targets(overall, path, "overall"));
    const char *grouped[] = {"per_temperature", "per_cell"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(m, grouped[i]), *e;
        if (!g) continue;
        if (!cJSON_IsObject(g)) return bad_member(path, grouped[i], NULL, NULL, "expected an object of groups");
        cJSON_ArrayForEach(e, g) {
            if (!cJSON_IsObject(e)) return bad_member(path, grouped[i], e->string, NULL, "expected an object of targets");
            const cJSON *t;
            cJSON_ArrayForEach(t, e) {
                if (!cJSON_IsObject(t)) return bad_member(path, grouped[i], e->string, t->string, "expected an object of metrics");
                for (size_t k = 0; k < N_METRICS; k++) {
                    const cJSON *x = cJSON_GetObjectItemCaseSensitive(t, METRICS[k]);
                    if (x && !cJSON_IsNumber(x) && !cJSON_IsNull(x))
                        return bml__fail(BML_ERR_PARSE, "%s: %s.%s.%s.%s: expected a number or null", path, grouped[i],
                                         e->string, t->string, METRICS[k]);
                }
            }
        }
    }
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(m, "fold_summary"), *t;
    if (fs) {
        if (!cJSON_IsObject(fs)) return bad_member(path, "fold_summary", NULL, NULL, "expected an object of targets");
        cJSON_ArrayForEach(t, fs) BML__TRY(check_numbers(t, FOLD_SUMMARY, N_FOLD_SUMMARY, path, "fold_summary", t->string));
    }
    return BML_OK;
}

/* read and check a run's metrics.json; *out owned by the caller */
static bml_status load_metrics(const char *run_dir, cJSON **out) {
    *out = NULL;
    char *path = bml__path_join(run_dir, "metrics.json");
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = read_json(path, out);
    if (st == BML_OK) st = check_metrics_json(*out, path);
    if (st != BML_OK) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(path);
    return st;
}

/* a checked number member, NaN when null or absent */
static double num(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* ------------------------------------------------------------------ report */

static void metric_cell(bml__sb *o, const cJSON *v) {
    if (cJSON_IsNumber(v)) bml__sb_fmt(o, "<td>%.5g</td>", v->valuedouble);
    else bml__sb_str(o, "<td>&ndash;</td>");
}

/* a table of {group: {target: metrics}} (or {target: metrics} when flat); shapes checked by load_metrics */
static void metrics_table(bml__sb *o, const char *title, const cJSON *groups, int flat) {
    if (!groups) return;
    bml__sb_fmt(o, "<h3>%s</h3>\n<table><tr>%s<th>target</th>", title, flat ? "" : "<th>group</th>");
    for (size_t k = 0; k < N_METRICS; k++) bml__sb_fmt(o, "<th>%s</th>", METRICS[k]);
    bml__sb_str(o, "</tr>\n");
    const cJSON *g;
    if (flat) {
        cJSON_ArrayForEach(g, groups) {
            bml__sb_str(o, "<tr><td>");
            text(o, g->string);
            bml__sb_str(o, "</td>");
            for (size_t k = 0; k < N_METRICS; k++) metric_cell(o, cJSON_GetObjectItemCaseSensitive(g, METRICS[k]));
            bml__sb_str(o, "</tr>\n");
        }
    } else {
        cJSON_ArrayForEach(g, groups) {
            const cJSON *t;
            cJSON_ArrayForEach(t, g) {
                bml__sb_str(o, "<tr><td>");
                text(o, g->string);
                bml__sb_str(o, "</td><td>");
                text(o, t->string);
                bml__sb_str(o, "</td>");
                for (size_t k = 0; k < N_METRICS; k++) metric_cell(o, cJSON_GetObjectItemCaseSensitive(t, METRICS[k]));
                bml__sb_str(o, "</tr>\n");
            }
        }
    }
    bml__sb_str(o, "</table>\n");
}

/* the last component of a run directory's path, for titles */
static const char *run_name(const char *run_dir) {
    size_t n = strlen(run_dir);
    while (n > 1 && run_dir[n - 1] == '/') n--;
    const char *s = run_dir + n;
    while (s > run_dir && s[-1] != '/') s--;
    return s;
}

/* The figures of a run embedded as data: URIs. Only regular files (never a symlink planted in the run
 * directory) with a PNG signature; anything else named *.png is an error. */
static bml_status embed_figures(bml__sb *o, const char *run_dir) {
    char *fdir = bml__path_join(run_dir, "figures");
    if (!fdir) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = BML_OK;
    bml__strvec pngs = {0};
    DIR *d = opendir(fdir);
    if (!d && errno != ENOENT) st = bml__fail(BML_ERR_IO, "%s: %s", fdir, strerror(errno));
    struct dirent *e;
    while (st == BML_OK && d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".png") && bml__strvec_push(&pngs, e->d_name) != 0)
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    if (d) closedir(d);
    if (pngs.n) qsort(pngs.items, pngs.n, sizeof *pngs.items, bml__strcmp_ptr);
    bml__sb_str(o, "<h2>Figures</h2>\n");
    if (st == BML_OK && !pngs.n) bml__sb_str(o, "<p>No figures (run <code>batteryml plot RUN_DIR</code> to draw them).</p>\n");
    for (size_t i = 0; i < pngs.n && st == BML_OK; i++) {
        char *p = bml__path_join(fdir, pngs.items[i]), *img = NULL;
        size_t len = 0;
        struct stat sb;
        if (!p) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (lstat(p, &sb) != 0) st = bml__fail(BML_ERR_IO, "%s: %s", p, strerror(errno));
        else if (!S_ISREG(sb.st_mode)) st = bml__fail(BML_ERR_IO, "%s: not a regular file (a link or a folder is never embedded)", p);
        if (st == BML_OK) st = bml__read_file(p, &img, &len);
        if (st == BML_OK && (len < 8 || memcmp(img, "\x89PNG\r\n\x1a\n", 8) != 0))
            st = bml__fail(BML_ERR_PARSE, "%s: not a PNG image", p);
        if (st == BML_OK) {
            bml__sb_str(o, "<figure><img alt=\"");
            text(o, pngs.items[i]);
            bml__sb_str(o, "\" src=\"data:image/png;base64,");
            base64(o, (const unsigned char *)img, len);
            bml__sb_str(o, "\"><figcaption>");
            text(o, pngs.items[i]);
            bml__sb_str(o, "</figcaption></figure>\n");
        }
        free(img);
        free(p);
    }
    bml__strvec_free(&pngs);
    free(fdir);
    return st;
}

static void page_head(bml__sb *o, const char *title) {
    bml__sb_str(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    text(o, title);
    bml__sb_str(o, "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}"
             "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}th{background:#f2f2f2}td:first-child,td:nth-child(2){text-align:left}"
             "img{max-width:100%;border:1px solid #eee;margin:0.5em 0}pre{background:#f7f7f7;padding:1em;"
             "overflow-x:auto}figure{margin:0 0 1.5em}figcaption{color:#555}</style></head><body>\n<h1>");
    text(o, title);
    bml__sb_str(o, "</h1>\n");
}

/* ------------------------------------------------------------------ pages for other modules */
struct bml__html {
    bml__sb o;
};

bml__html *bml__html_begin(const char *title) {
    bml__html *h = calloc(1, sizeof *h);
    if (h) page_head(&h->o, title);
    return h;
}
void bml__html_raw(bml__html *h, const char *s) { bml__sb_str(&h->o, s); }
void bml__html_text(bml__html *h, const char *s) { text(&h->o, s); }
bml_status bml__html_figures(bml__html *h, const char *dir) { return embed_figures(&h->o, dir); }
void bml__html_free(bml__html *h) {
    if (!h) return;
    free(h->o.buf);
    free(h);
}
bml_status bml__html_finish(bml__html *h, const char *out_path) {
    bml__sb_str(&h->o, "</body></html>\n");
    bml_status st = h->o.nomem ? bml__fail(BML_ERR_NOMEM, "out of memory") : bml__write_file_atomic(out_path, h->o.buf, h->o.len);
    bml__html_free(h);
    return st;
}

bml_status bml_run_report(const char *run_dir, const char *out_path) {
    char *cpath = bml__path_join(run_dir, "config.yaml"), *cfg = NULL;
    size_t cfg_len = 0;
    cJSON *m = NULL;
    bml_status st = cpath ? load_metrics(run_dir, &m) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__read_file(cpath, &cfg, &cfg_len);
    bml__sb o = {0};
    if (st == BML_OK) {
        const cJSON *study = cJSON_GetObjectItemCaseSensitive(m, "study");
        char *title = bml__sprintf("Run %s", run_name(run_dir));
        if (!title) o.nomem = 1;
        else page_head(&o, title);
        free(title);
        bml__sb_str(&o, "<p>");
        const char *keys[] = {"model", "pipeline", "split", "data", "experiment", "seed", "n_samples", "n_evaluated"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(study, keys[k]);
            if (!cJSON_IsString(v) && !cJSON_IsNumber(v)) continue;
            bml__sb_fmt(&o, "<b>%s</b>: ", keys[k]);
            if (cJSON_IsString(v)) text(&o, v->valuestring);
            else bml__sb_fmt(&o, "%g", v->valuedouble);
            bml__sb_str(&o, " &nbsp; ");
        }
        bml__sb_str(&o, "</p>\n<h2>Metrics</h2>\n");
        metrics_table(&o, "Overall", cJSON_GetObjectItemCaseSensitive(m, "overall"), 1);
        metrics_table(&o, "Per temperature (&deg;C)", cJSON_GetObjectItemCaseSensitive(m, "per_temperature"), 0);
        metrics_table(&o, "Per cell", cJSON_GetObjectItemCaseSensitive(m, "per_cell"), 0);
        const cJSON *fs = cJSON_GetObjectItemCaseSensitive(m, "fold_summary");
        if (fs) {
            bml__sb_str(&o, "<h3>Over the folds</h3><table><tr><th>target</th><th>folds</th><th>RMSE mean</th><th>RMSE std</th>"
                      "<th>MAE mean</th></tr>\n");
            const cJSON *t;
            cJSON_ArrayForEach(t, fs) {
                bml__sb_str(&o, "<tr><td>");
                text(&o, t->string);
                bml__sb_str(&o, "</td>");
                for (size_t k = 0; k < N_FOLD_SUMMARY; k++) metric_cell(&o, cJSON_GetObjectItemCaseSensitive(t, FOLD_SUMMARY[k]));
                bml__sb_str(&o, "</tr>\n");
            }
            bml__sb_str(&o, "</table>\n");
        }
        st = embed_figures(&o, run_dir);
        bml__sb_str(&o, "<h2>Resolved configuration</h2>\n<pre>");
        text_n(&o, cfg, cfg_len);
        bml__sb_str(&o, "</pre>\n</body></html>\n");
    }
    if (st == BML_OK) st = o.nomem ? bml__fail(BML_ERR_NOMEM, "out of memory") : bml__write_file_atomic(out_path, o.buf, o.len);
    free(o.buf);
    cJSON_Delete(m);
    free(cfg);
    free(cpath);
    return st;
}

/* ------------------------------------------------------------------ compare */

/* " %width.precf", or "nan" in the same width */
static void number(bml__sb *o, int width, int precision, double v) {
    if (isfinite(v)) bml__sb_fmt(o, " %*.*f", width, precision, v);
    else bml__sb_fmt(o, " %*s", width, "nan");
}

bml_status bml_run_compare(const char *const *run_dirs, size_t n, char **table) {
    *table = NULL;
    bml__sb o = {0};
    bml__sb_fmt(&o, "%-44s %-10s %-15s %-20s %-8s %10s %10s %8s %16s\n", "run", "model", "pipeline", "split", "target", "RMSE", "MAE",
            "R2", "fold RMSE");
    for (size_t i = 0; i < n; i++) {
        cJSON *m = NULL;
        bml_status st = load_metrics(run_dirs[i], &m);
        if (st != BML_OK) {
            free(o.buf);
            return bml__fail_prefix(st, "compare %s", run_dirs[i]);
        }
        const cJSON *study = cJSON_GetObjectItemCaseSensitive(m, "study"), *t;
        const cJSON *fs = cJSON_GetObjectItemCaseSensitive(m, "fold_summary");
        const char *keys[] = {"model", "pipeline", "split"};
        const int width[] = {10, 15, 20};
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m, "overall")) {
            plain(&o, run_name(run_dirs[i]), 44);
            for (size_t k = 0; k < 3; k++) {
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(study, keys[k]);
                bml__sb_put(&o, " ", 1);
                plain(&o, cJSON_IsString(v) ? v->valuestring : "?", width[k]);
            }
            bml__sb_put(&o, " ", 1);
            plain(&o, t->string, 8);
            number(&o, 10, 5, num(t, "rmse"));
            number(&o, 10, 5, num(t, "mae"));
            number(&o, 8, 4, num(t, "r2"));
            const cJSON *ft = fs ? cJSON_GetObjectItemCaseSensitive(fs, t->string) : NULL;
            if (ft) {
                char *fold = bml__sprintf("%.4f+-%.4f", num(ft, "rmse_mean"), num(ft, "rmse_std"));
                if (!fold) o.nomem = 1;
                else bml__sb_fmt(&o, " %16s", fold);
                free(fold);
            } else {
                bml__sb_fmt(&o, " %16s", "");
            }
            bml__sb_put(&o, "\n", 1);
        }
        cJSON_Delete(m);
    }
    if (o.nomem) {
        free(o.buf);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *table = o.buf;
    return BML_OK;
}
