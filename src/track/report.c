/* `batteryml report` (one self-contained HTML page per run) and `batteryml compare` (runs side by side). */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/run.h"
#include "core/internal.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int nomem;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
    if (o->nomem) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap + n + 1) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->nomem = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
}
static void puts_(out_t *o, const char *s) { put(o, s, strlen(s)); }
static void printf_(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(out_t *o, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* HTML-escaped text */
static void text(out_t *o, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': puts_(o, "&lt;"); break;
        case '>': puts_(o, "&gt;"); break;
        case '&': puts_(o, "&amp;"); break;
        case '"': puts_(o, "&quot;"); break;
        default: put(o, s, 1);
        }
    }
}

static void base64(out_t *o, const unsigned char *d, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        q[0] = tbl[v >> 18 & 63], q[1] = tbl[v >> 12 & 63];
        q[2] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        q[3] = i + 2 < n ? tbl[v & 63] : '=';
        put(o, q, 4);
    }
}

static const char *const METRICS[] = {"n", "rmse", "mae", "mape", "r2", "max_abs_error"};

static void metric_cell(out_t *o, const cJSON *v) {
    if (cJSON_IsNumber(v)) printf_(o, "<td>%.5g</td>", v->valuedouble);
    else puts_(o, "<td>&ndash;</td>");
}

/* a table of {group: {target: metrics}} (or {target: metrics} when flat) */
static void metrics_table(out_t *o, const char *title, const cJSON *groups, int flat) {
    if (!groups) return;
    printf_(o, "<h3>%s</h3>\n<table><tr>%s<th>target</th>", title, flat ? "" : "<th>group</th>");
    for (size_t k = 0; k < 6; k++) printf_(o, "<th>%s</th>", METRICS[k]);
    puts_(o, "</tr>\n");
    const cJSON *g;
    if (flat) {
        cJSON_ArrayForEach(g, groups) {
            puts_(o, "<tr><td>");
            text(o, g->string);
            puts_(o, "</td>");
            for (size_t k = 0; k < 6; k++) metric_cell(o, cJSON_GetObjectItemCaseSensitive(g, METRICS[k]));
            puts_(o, "</tr>\n");
        }
    } else {
        cJSON_ArrayForEach(g, groups) {
            const cJSON *t;
            cJSON_ArrayForEach(t, g) {
                puts_(o, "<tr><td>");
                text(o, g->string);
                puts_(o, "</td><td>");
                text(o, t->string);
                puts_(o, "</td>");
                for (size_t k = 0; k < 6; k++) metric_cell(o, cJSON_GetObjectItemCaseSensitive(t, METRICS[k]));
                puts_(o, "</tr>\n");
            }
        }
    }
    puts_(o, "</table>\n");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

bml_status bml_run_report(const char *run_dir, const char *out_path) {
    char *mpath = bml__path_join(run_dir, "metrics.json"), *mtxt = NULL, *cfg = NULL;
    char *cpath = bml__path_join(run_dir, "config.yaml");
    bml_status st = mpath && cpath ? bml__read_file(mpath, &mtxt, NULL) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__read_file(cpath, &cfg, NULL);
    cJSON *m = st == BML_OK ? cJSON_Parse(mtxt) : NULL;
    if (st == BML_OK && !m) st = bml__fail(BML_ERR_PARSE, "%s: not valid JSON", mpath);
    out_t o = {0};
    if (st == BML_OK) {
        const cJSON *study = cJSON_GetObjectItemCaseSensitive(m, "study");
        const char *slash = strrchr(run_dir, '/');
        const char *name = slash && slash[1] ? slash + 1 : run_dir;
        puts_(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>BatteryML run ");
        text(&o, name);
        puts_(&o, "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}"
                  "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
                  "text-align:right}th{background:#f2f2f2}td:first-child,td:nth-child(2){text-align:left}"
                  "img{max-width:100%;border:1px solid #eee;margin:0.5em 0}pre{background:#f7f7f7;padding:1em;"
                  "overflow-x:auto}figure{margin:0 0 1.5em}figcaption{color:#555}</style></head><body>\n<h1>Run ");
        text(&o, name);
        puts_(&o, "</h1>\n<p>");
        const char *keys[] = {"model", "pipeline", "split", "data", "experiment", "seed", "n_samples", "n_evaluated"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(study, keys[k]);
            if (!v) continue;
            printf_(&o, "<b>%s</b>: ", keys[k]);
            if (cJSON_IsString(v)) text(&o, v->valuestring);
            else printf_(&o, "%g", v->valuedouble);
            puts_(&o, " &nbsp; ");
        }
        puts_(&o, "</p>\n<h2>Metrics</h2>\n");
        metrics_table(&o, "Overall", cJSON_GetObjectItemCaseSensitive(m, "overall"), 1);
        metrics_table(&o, "Per temperature (&deg;C)", cJSON_GetObjectItemCaseSensitive(m, "per_temperature"), 0);
        metrics_table(&o, "Per cell", cJSON_GetObjectItemCaseSensitive(m, "per_cell"), 0);
        const cJSON *fs = cJSON_GetObjectItemCaseSensitive(m, "fold_summary");
        if (fs) {
            puts_(&o, "<h3>Over the folds</h3><table><tr><th>target</th><th>folds</th><th>RMSE mean</th><th>RMSE std</th>"
                      "<th>MAE mean</th></tr>\n");
            const cJSON *t;
            cJSON_ArrayForEach(t, fs) {
                puts_(&o, "<tr><td>");
                text(&o, t->string);
                puts_(&o, "</td>");
                const char *k2[] = {"n_folds", "rmse_mean", "rmse_std", "mae_mean"};
                for (size_t k = 0; k < 4; k++) metric_cell(&o, cJSON_GetObjectItemCaseSensitive(t, k2[k]));
                puts_(&o, "</tr>\n");
            }
            puts_(&o, "</table>\n");
        }
        /* figures, embedded */
        char *fdir = bml__path_join(run_dir, "figures");
        DIR *d = fdir ? opendir(fdir) : NULL;
        bml__strvec pngs = {0};
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcmp(e->d_name + l - 4, ".png")) bml__strvec_push(&pngs, e->d_name);
        }
        if (d) closedir(d);
        if (pngs.n) qsort(pngs.items, pngs.n, sizeof *pngs.items, cmp_str);
        puts_(&o, "<h2>Figures</h2>\n");
        if (!pngs.n) puts_(&o, "<p>No figures (run <code>batteryml plot RUN_DIR</code> to draw them).</p>\n");
        for (size_t i = 0; i < pngs.n && st == BML_OK; i++) {
            char *p = bml__path_join(fdir, pngs.items[i]), *img = NULL;
            size_t len = 0;
            st = p ? bml__read_file(p, &img, &len) : bml__fail(BML_ERR_NOMEM, "out of memory");
            if (st == BML_OK) {
                puts_(&o, "<figure><img alt=\"");
                text(&o, pngs.items[i]);
                puts_(&o, "\" src=\"data:image/png;base64,");
                base64(&o, (const unsigned char *)img, len);
                puts_(&o, "\"><figcaption>");
                text(&o, pngs.items[i]);
                puts_(&o, "</figcaption></figure>\n");
            }
            free(img);
            free(p);
        }
        bml__strvec_free(&pngs);
        free(fdir);
        puts_(&o, "<h2>Resolved configuration</h2>\n<pre>");
        text(&o, cfg);
        puts_(&o, "</pre>\n</body></html>\n");
    }
    if (st == BML_OK) st = o.nomem ? bml__fail(BML_ERR_NOMEM, "out of memory") : bml__write_file_atomic(out_path, o.buf, o.len);
    free(o.buf);
    cJSON_Delete(m);
    free(mtxt);
    free(cfg);
    free(mpath);
    free(cpath);
    return st;
}

bml_status bml_run_compare(const char *const *run_dirs, size_t n, char **table) {
    *table = NULL;
    out_t o = {0};
    printf_(&o, "%-44s %-10s %-15s %-20s %-8s %10s %10s %8s %12s\n", "run", "model", "pipeline", "split", "target", "RMSE", "MAE",
            "R2", "fold RMSE");
    for (size_t i = 0; i < n; i++) {
        char *p = bml__path_join(run_dirs[i], "metrics.json"), *txt = NULL;
        bml_status st = p ? bml__read_file(p, &txt, NULL) : bml__fail(BML_ERR_NOMEM, "out of memory");
        cJSON *m = st == BML_OK ? cJSON_Parse(txt) : NULL;
        if (st == BML_OK && !m) st = bml__fail(BML_ERR_PARSE, "%s: not valid JSON", p);
        free(p);
        free(txt);
        if (st != BML_OK) {
            free(o.buf);
            return bml__fail_prefix(st, "compare %s", run_dirs[i]);
        }
        const cJSON *study = cJSON_GetObjectItemCaseSensitive(m, "study"), *t;
        const char *slash = strrchr(run_dirs[i], '/');
        const char *name = slash && slash[1] ? slash + 1 : run_dirs[i];
        const cJSON *fs = cJSON_GetObjectItemCaseSensitive(m, "fold_summary");
#define S(k) (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(study, k)) ? cJSON_GetObjectItemCaseSensitive(study, k)->valuestring : "?")
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m, "overall")) {
            char fold[40] = "";
            const cJSON *ft = fs ? cJSON_GetObjectItemCaseSensitive(fs, t->string) : NULL;
            if (ft)
                snprintf(fold, sizeof fold, "%.4f+-%.4f", cJSON_GetObjectItemCaseSensitive(ft, "rmse_mean")->valuedouble,
                         cJSON_GetObjectItemCaseSensitive(ft, "rmse_std")->valuedouble);
            printf_(&o, "%-44.44s %-10s %-15s %-20s %-8s %10.5f %10.5f %8.4f %12s\n", name, S("model"), S("pipeline"), S("split"),
                    t->string, cJSON_GetObjectItemCaseSensitive(t, "rmse")->valuedouble,
                    cJSON_GetObjectItemCaseSensitive(t, "mae")->valuedouble, cJSON_GetObjectItemCaseSensitive(t, "r2")->valuedouble,
                    fold);
        }
#undef S
        cJSON_Delete(m);
    }
    if (o.nomem) {
        free(o.buf);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *table = o.buf;
    return BML_OK;
}
