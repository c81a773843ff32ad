/* Voltage-curve datasets: Oxford 0.1C timeseries, Basytec exports, generic capacity/voltage CSVs, and the
 * writer of synthetic curves in the Oxford layout. */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batteryml/cycler.h"
#include "data/csvread.h"
#include "data/dataset_internal.h"
#include "data/oxford.h"
#include "data/synth.h"

static bml__curve curve_init(void) {
    bml__curve c = {0};
    c.temperature_c = c.soh = c.capacity_ah = c.lam_ne = c.lam_pe = c.lli = c.days = c.throughput_ah = NAN;
    return c;
}

static void curve_free(bml__curve *c) {
    free(c->cell_id), free(c->source), free(c->q), free(c->v);
}

static int find_col(const bml__csv_row *h, const char *name) {
    for (size_t k = 0; k < h->n_fields; k++) {
        const char *f = h->fields[k];
        while (*f == ' ') f++;
        if (!strncmp(f, name, strlen(name)) && (f[strlen(name)] == 0 || f[strlen(name)] == ' ')) return (int)k;
    }
    return -1;
}

/* Read columns cq (charge) and cv (voltage) of rows[0..n) of a CSV whose header has n_cols fields into
 * c->q, c->v; charge is made positive and relative to the first row. Every row must have the header's
 * field count and two numbers there: a short row (a file cut mid-row) is an error, never skipped. */
static bml_status read_qv(const char *path, const bml__csv_row *rows, size_t n, size_t n_cols, int cq, int cv,
                          double q_scale, bml__curve *c) {
    c->q = calloc(n + 1, sizeof *c->q);
    c->v = calloc(n + 1, sizeof *c->v);
    if (!c->q || !c->v) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const bml__csv_row *r = &rows[i];
        if (r->n_fields != n_cols)
            return bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields, the header has %zu", path, r->line, r->n_fields, n_cols);
        double q, v;
        if (bml__parse_double(r->fields[cq], &q) != 0)
            return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as a number", path, r->line, cq + 1, r->fields[cq]);
        if (bml__parse_double(r->fields[cv], &v) != 0)
            return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as a number", path, r->line, cv + 1, r->fields[cv]);
        c->q[i] = q * q_scale;
        c->v[i] = v;
    }
    if (n < 2) return bml__fail(BML_ERR_EMPTY, "%s: fewer than 2 data rows", path);
    double q0 = c->q[0];
    for (size_t i = 0; i < n; i++) c->q[i] = fabs(c->q[i] - q0);
    c->n = n;
    c->capacity_ah = 0;
    for (size_t i = 0; i < n; i++) c->capacity_ah = fmax(c->capacity_ah, c->q[i]);
    return BML_OK;
}

/* ------------------------------------------------------------------ Oxford 0.1C curves */
/* "Expt 5 - cell A - RPT3 - 0.1C discharge data.csv" (cell ids as the Oxford loader makes them, "10degC-2" for
 * the second cell of a stacked file, as synth-curves writes them): 0 on a match; *cell, *cell_len: the cell id's span
 * inside name (any length) */
static int parse_curve_name(const char *name, int *expt, const char **cell, size_t *cell_len, int *rpt) {
    const char *s = name;
    if (strncasecmp(s, "Expt", 4)) return -1;
    s += 4;
    while (*s == ' ') s++;
    if (!isdigit((unsigned char)*s)) return -1;
    long e = strtol(s, (char **)&s, 10);
    if (e < 0 || e > INT_MAX) return -1;
    *expt = (int)e;
    if (*s == ',')
        for (s++; isdigit((unsigned char)*s);) s++;
    while (*s == ' ' || *s == '-') s++;
    if (strncasecmp(s, "cell", 4)) return -1;
    s += 4;
    while (*s == ' ') s++;
    *cell = s;
    while (isalnum((unsigned char)*s) || (*s == '-' && isalnum((unsigned char)s[1]))) s++; /* "A", "10degC-2" */
    *cell_len = (size_t)(s - *cell);
    while (*s == ' ' || *s == '-') s++;
    if (strncasecmp(s, "RPT", 3) || !isdigit((unsigned char)s[3])) return -1;
    long r = strtol(s + 3, (char **)&s, 10);
    if (r > INT_MAX) return -1;
    *rpt = (int)r;
    return *cell_len && strstr(s, "0.1C") ? 0 : -1;
}

static bml_status collect_curves(const char *dir, int depth, bml__strvec *files) {
    DIR *d = opendir(dir);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open directory", dir);
    bml__strvec names = {0};
    struct dirent *e;
    bml_status st = BML_OK;
    while (st == BML_OK && (e = readdir(d)))
        if (e->d_name[0] != '.' && bml__strvec_push(&names, e->d_name) != 0) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    closedir(d);
    if (names.n) qsort(names.items, names.n, sizeof *names.items, bml__strcmp_ptr);
    for (size_t i = 0; i < names.n && st == BML_OK; i++) {
        char *p = bml__path_join(dir, names.items[i]);
        int expt, rpt;
        const char *cell;
        size_t cell_len;
        if (!p) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (bml__is_dir(p)) {
            if (depth < 8) st = collect_curves(p, depth + 1, files);
        } else if (parse_curve_name(names.items[i], &expt, &cell, &cell_len, &rpt) == 0 && bml__strvec_push(files, p)) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        free(p);
    }
    bml__strvec_free(&names);
    return st;
}

static int curve_key_cmp(const void *a, const void *b) {
    const bml__curve *x = *(const bml__curve *const *)a, *y = *(const bml__curve *const *)b;
    if (x->experiment != y->experiment) return x->experiment < y->experiment ? -1 : 1;
    int c = strcmp(x->cell_id, y->cell_id);
    if (c) return c;
    return (x->rpt > y->rpt) - (x->rpt < y->rpt);
}

/* one curve per (experiment, cell, RPT): a second file (a copy in another folder) is an error, not a
 * duplicate sample */
static bml_status check_unique_curves(const bml_dataset *ds) {
    const bml__curve **by_key = bml__calloc(ds->n_curves + 1, sizeof *by_key);
    if (!by_key) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ds->n_curves; i++) by_key[i] = &ds->curves[i];
    qsort(by_key, ds->n_curves, sizeof *by_key, curve_key_cmp);
    bml_status st = BML_OK;
    for (size_t i = 1; i < ds->n_curves && st == BML_OK; i++)
        if (!curve_key_cmp(&by_key[i - 1], &by_key[i]))
            st = bml__fail(BML_ERR_VALUE, "%s and %s: both hold experiment %d cell %s RPT%d", by_key[i - 1]->source,
                           by_key[i]->source, by_key[i]->experiment, by_key[i]->cell_id, by_key[i]->rpt);
    free(by_key);
    return st;
}

bml_status bml_dataset_load_oxford_curves(const char *path, const bml_oxford_opts *opts, bml_dataset **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_oxford_curves", opts, bml_oxford_opts, BML_OXFORD_OPTS));
    if (!bml__is_dir(path)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such directory", path);
    bml__strvec files = {0};
    bml_status st = collect_curves(path, 0, &files);
    if (st != BML_OK) {
        bml__strvec_free(&files);
        return st;
    }
    if (!files.n) {
        bml__strvec_free(&files);
        return bml__fail(BML_ERR_EMPTY, "%s: no 0.1C voltage-curve files (expected names like "
                                        "'Expt 5 - cell A - RPT3 - 0.1C discharge data.csv')", path);
    }
    /* the Performance Summary of the same tree gives each curve's targets; a tree without one leaves
     * them unknown (NaN), but a summary that is there and broken is an error */
    bml_dataset *summary = NULL;
    st = bml_dataset_load_oxford(path, opts, &summary);
    if (st == BML_ERR_EMPTY) st = BML_OK;
    else if (st != BML_OK) st = bml__fail_prefix(st, "%s: the Performance Summary of the curves", path);
    bml_dataset *ds = NULL;
    if (st == BML_OK && !(ds = bml__dataset_new("curves", path))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0; st == BML_OK && f < files.n; f++) {
        const char *base = strrchr(files.items[f], '/') ? strrchr(files.items[f], '/') + 1 : files.items[f];
        int expt, rpt;
        const char *cell;
        size_t cell_len;
        int named = parse_curve_name(base, &expt, &cell, &cell_len, &rpt);
        BML__ASSERT(named == 0); /* collect_curves kept only such names */
        int wanted = !opts || !opts->n_experiments;
        for (size_t k = 0; opts && k < opts->n_experiments; k++) wanted |= opts->experiments[k] == expt;
        if (!wanted) continue;
        bml__csv csv;
        if ((st = bml__csv_read(files.items[f], 0, &csv)) != BML_OK) break;
        bml__curve c = curve_init();
        c.experiment = expt;
        c.rpt = rpt;
        c.cell_id = bml__strndup(cell, cell_len);
        c.source = bml__strdup(files.items[f]);
        int cq = csv.n_rows ? find_col(&csv.rows[0], "Charge") : -1, cv = csv.n_rows ? find_col(&csv.rows[0], "Voltage") : -1;
        if (!c.cell_id || !c.source) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (csv.n_rows < 3) st = bml__fail(BML_ERR_EMPTY, "%s: no data rows", files.items[f]);
        else if (cq < 0 || cv < 0)
            st = bml__fail(BML_ERR_SCHEMA, "%s:1: missing column(s) 'Charge (mA.h)' and/or 'Voltage (V)'", files.items[f]);
        else st = read_qv(files.items[f], csv.rows + 1, csv.n_rows - 1, csv.rows[0].n_fields, cq, cv, 1e-3, &c); /* mAh -> Ah */
        bml__csv_free(&csv);
        /* targets and nominal temperature from the summary row of the same RPT (its columns by role) */
        for (size_t i = 0; st == BML_OK && summary && i < summary->n_cells; i++) {
            const bml__cell *sc = &summary->cells[i];
            if (sc->experiment != expt || strcmp(sc->cell_id, c.cell_id)) continue;
            c.temperature_c = sc->temperature_c;
            for (size_t r = 0; r < sc->n_rows; r++) {
                const double *v = sc->values + r * summary->n_cols;
#define ROLE(R) v[bml__dataset_role_col(summary, R)] /* the Oxford loader gives every one of these roles */
                if ((int)ROLE(BML_ROLE_SET_INDEX) != rpt) continue;
                c.soh = ROLE(BML_ROLE_SOH), c.capacity_ah = ROLE(BML_ROLE_CAPACITY_AH), c.lam_ne = ROLE(BML_ROLE_LAM_NE);
                c.lam_pe = ROLE(BML_ROLE_LAM_PE), c.lli = ROLE(BML_ROLE_LLI), c.days = ROLE(BML_ROLE_TIME);
                c.throughput_ah = ROLE(BML_ROLE_THROUGHPUT_AH);
#undef ROLE
            }
        }
        if (st == BML_OK) st = bml__dataset_push_curve(ds, &c);
        if (st != BML_OK) curve_free(&c);
    }
    bml_dataset_free(summary);
    bml__strvec_free(&files);
    if (st == BML_OK && ds->n_curves == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no curves of the requested experiment(s)", path);
    if (st == BML_OK) st = check_unique_curves(ds);
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    *out = ds;
    return BML_OK;
}

/* ------------------------------------------------------------------ Basytec */
/* A Basytec export is read by the cycler registry's Basytec reader (bml_cycler_read, src/data/cycler_read.c:
 * its preamble, header, units row, closing STO rows and every check of a row), and its points are cut here:
 * each run of consecutive rows of the step (and of the cycle, when one is asked for) becomes one curve as it
 * closes. A row's charge is what the reader counted from AhAccu within the cycle since the run's first row,
 * charge and discharge apart, then added (a step of either direction): |AhAccu - AhAccu of the first row| for
 * a step that passes current one way, as the reader's increments telescope (on the shipped export the same
 * doubles as that difference). What a curve needs beyond the reader's columns: Cycle and AhAccu. */
typedef struct {
    const char *path, *cell; /* cell: the file name up to its first '.' */
    size_t cell_len;
    int step, cycle;
    bml_dataset *ds;
    const bml_cycler_meta *meta; /* the reader's, filled as it reads (has_cycle_index before the first row) */
    bml__curve c;            /* the run being read; c.q NULL: none */
    size_t cap, first_line;
    double q0[2];            /* the charge and the discharge counted up to the run's first row */
} basytec_cut;

/* the run being read, if any, into the dataset */
static bml_status basytec_close(basytec_cut *b) {
    if (!b->c.q) return BML_OK;
    bml__curve c = b->c;
    b->c = curve_init();
    bml_status st = BML_OK;
    if (c.n < 2)
        st = bml__fail(BML_ERR_EMPTY, "%s:%zu: fewer than 2 data rows in step %d of cycle %d", b->path, b->first_line,
                       b->step, c.rpt);
    c.capacity_ah = 0;
    for (size_t i = 0; i < c.n; i++) c.capacity_ah = fmax(c.capacity_ah, c.q[i]);
    if (st == BML_OK) st = bml__dataset_push_curve(b->ds, &c);
    if (st != BML_OK) curve_free(&c);
    return st;
}

static bml_status basytec_point(const bml_cycler_point *p, void *user) {
    basytec_cut *b = user;
    int in = p->step == b->step && (b->cycle <= 0 || p->cycle == b->cycle);
    if (b->c.q && (!in || p->cycle != b->c.rpt)) BML__TRY(basytec_close(b));
    if (!in) return BML_OK;
    if (isnan(p->charge_ah + p->discharge_ah)) /* the header has no AhAccu column */
        return bml__fail(BML_ERR_SCHEMA, "%s:%zu: no AhAccu column: the charge of a curve is read from it", b->path, p->line);
    if (!b->meta->has_cycle_index)
        return bml__fail(BML_ERR_SCHEMA,
                         "%s:%zu: no cycle index (a Cycle column, on every row): a curve is one step of one cycle", b->path,
                         p->line);
    if (!b->c.q) {
        if (p->cycle > INT_MAX || p->cycle < INT_MIN)
            return bml__fail(BML_ERR_VALUE, "%s:%zu: cycle %ld is out of range", b->path, p->line, p->cycle);
        b->c.rpt = (int)p->cycle;
        b->cap = 256;
        b->c.q = calloc(b->cap, sizeof *b->c.q);
        b->c.v = calloc(b->cap, sizeof *b->c.v);
        b->c.cell_id = bml__strndup(b->cell, b->cell_len);
        b->c.source = bml__strdup(b->path);
        if (!b->c.q || !b->c.v || !b->c.cell_id || !b->c.source) return bml__fail(BML_ERR_NOMEM, "out of memory");
        b->q0[0] = p->charge_ah, b->q0[1] = p->discharge_ah;
        b->first_line = p->line;
    }
    if (b->c.n == b->cap) {
        size_t cap = 2 * b->cap;
        double *nq = realloc(b->c.q, cap * sizeof *nq);
        if (nq) b->c.q = nq;
        double *nv = nq ? realloc(b->c.v, cap * sizeof *nv) : NULL;
        if (nv) b->c.v = nv;
        if (!nq || !nv) return bml__fail(BML_ERR_NOMEM, "out of memory");
        b->cap = cap;
    }
    b->c.q[b->c.n] = (p->charge_ah - b->q0[0]) + (p->discharge_ah - b->q0[1]);
    b->c.v[b->c.n] = p->voltage_v;
    b->c.n++;
    return BML_OK;
}

bml_status bml_dataset_load_basytec(const char *path, int step, int cycle, bml_dataset **out) {
    *out = NULL;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    basytec_cut b = {.path = path, .cell = base, .cell_len = strcspn(base, "."), .step = step, .cycle = cycle,
                     .c = curve_init()};
    if (!(b.ds = bml__dataset_new("curves", path))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_cycler_meta meta;
    b.meta = &meta;
    bml_status st = bml_cycler_read(path, BML_CYCLER_BASYTEC, basytec_point, &b, &meta);
    bml_cycler_meta_free(&meta);
    if (st == BML_OK) st = basytec_close(&b);
    curve_free(&b.c); /* a run cut short by an error */
    if (st == BML_OK && b.ds->n_curves == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: no rows of step %d%s", path, step, cycle > 0 ? " in that cycle" : "");
    if (st != BML_OK) {
        bml_dataset_free(b.ds);
        return st;
    }
    *out = b.ds;
    return BML_OK;
}

/* ------------------------------------------------------------------ generic capacity/voltage files */
/* curves of a cell by cycle */
static int curve_cmp(const void *a, const void *b) {
    const bml__curve *x = a, *y = b;
    int c = strcmp(x->cell_id, y->cell_id);
    if (c) return c;
    return (x->rpt > y->rpt) - (x->rpt < y->rpt);
}

/* the .csv files of folder `path`, sorted */
static bml_status list_csv(const char *path, bml__strvec *files) {
    DIR *d = opendir(path);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open directory", path);
    struct dirent *e;
    bml_status st = BML_OK;
    while (st == BML_OK && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcasecmp(e->d_name + l - 4, ".csv")) {
            char *p = bml__path_join(path, e->d_name);
            if (!p || bml__strvec_push(files, p) != 0) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            free(p);
        }
    }
    closedir(d);
    if (files->n) qsort(files->items, files->n, sizeof *files->items, bml__strcmp_ptr);
    return st;
}

bml_status bml_dataset_load_curve_table(const char *path, const bml_curve_columns *cols, bml_dataset **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_curve_table", cols, bml_curve_columns, BML_CURVE_COLUMNS));
    bml__strvec files = {0};
    bml_status st = BML_OK;
    if (bml__is_file(path)) {
        if (bml__strvec_push(&files, path) != 0) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    } else if (bml__is_dir(path)) {
        st = list_csv(path, &files);
    } else {
        return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file or directory", path);
    }
    if (st != BML_OK) {
        bml__strvec_free(&files);
        return st;
    }
    regex_t re;
    if (regcomp(&re, cols->name_pattern, REG_EXTENDED) != 0) {
        bml__strvec_free(&files);
        return bml__fail(BML_ERR_VALUE, "curve files: invalid name pattern '%s'", cols->name_pattern);
    }
    bml_dataset *ds = bml__dataset_new("curves", path);
    if (!ds) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0; st == BML_OK && f < files.n; f++) {
        const char *base = strrchr(files.items[f], '/') ? strrchr(files.items[f], '/') + 1 : files.items[f];
        regmatch_t m[3];
        if (regexec(&re, base, 3, m, 0) != 0 || m[1].rm_so < 0 || m[2].rm_so < 0) {
            st = bml__fail(BML_ERR_VALUE, "%s: the file name does not match '%s' (cell and cycle groups)", files.items[f],
                           cols->name_pattern);
            break;
        }
        bml__curve c = curve_init();
        c.cell_id = bml__strndup(base + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
        const char *why = c.cell_id ? bml__cell_id_problem(c.cell_id) : NULL;
        if (why) {
            st = bml__fail(BML_ERR_VALUE, "%s: the cell id '%s' that the file name gives (name_pattern) %s", files.items[f],
                           c.cell_id, why);
            curve_free(&c);
            break;
        }
        char *cyc = bml__strndup(base + m[2].rm_so, (size_t)(m[2].rm_eo - m[2].rm_so));
        c.source = bml__strdup(files.items[f]);
        c.temperature_c = cols->temperature_c;
        long cy = 0;
        if (!c.cell_id || !cyc || !c.source) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (!*c.cell_id)
            st = bml__fail(BML_ERR_VALUE, "%s: the cell group of '%s' matches an empty cell id", files.items[f], cols->name_pattern);
        else if (bml__parse_long(cyc, &cy) != 0 || cy < INT_MIN || cy > INT_MAX)
            st = bml__fail(BML_ERR_VALUE, "%s: cannot read '%s' (the cycle group of '%s') as a cycle number", files.items[f], cyc,
                           cols->name_pattern);
        free(cyc);
        c.rpt = (int)cy;
        bml__csv csv = {0};
        if (st == BML_OK) st = bml__csv_read(files.items[f], 0, &csv);
        if (st == BML_OK) {
            int cq = csv.n_rows ? find_col(&csv.rows[0], cols->capacity_column) : -1;
            int cv = csv.n_rows ? find_col(&csv.rows[0], cols->voltage_column) : -1;
            if (csv.n_rows < 3) st = bml__fail(BML_ERR_EMPTY, "%s: no data rows", files.items[f]);
            else if (cq < 0 || cv < 0)
                st = bml__fail(BML_ERR_SCHEMA, "%s:1: missing column(s) '%s' and/or '%s'", files.items[f],
                               cols->capacity_column, cols->voltage_column);
            else st = read_qv(files.items[f], csv.rows + 1, csv.n_rows - 1, csv.rows[0].n_fields, cq, cv, 1.0, &c);
        }
        bml__csv_free(&csv);
        if (st == BML_OK) st = bml__dataset_push_curve(ds, &c);
        if (st != BML_OK) curve_free(&c);
    }
    regfree(&re);
    bml__strvec_free(&files);
    if (st == BML_OK && !ds->n_curves) st = bml__fail(BML_ERR_EMPTY, "%s: no curve files", path);
    if (st == BML_OK) { /* curves of a cell by cycle; one file per (cell, cycle); SoH relative to its first */
        qsort(ds->curves, ds->n_curves, sizeof *ds->curves, curve_cmp);
        for (size_t a = 1; st == BML_OK && a < ds->n_curves; a++)
            if (!curve_cmp(&ds->curves[a - 1], &ds->curves[a]))
                st = bml__fail(BML_ERR_VALUE, "%s and %s: two curves of cell '%s' cycle %d", ds->curves[a - 1].source,
                               ds->curves[a].source, ds->curves[a].cell_id, ds->curves[a].rpt);
        for (size_t a = 0, first = 0; st == BML_OK && a < ds->n_curves; a++) {
            if (strcmp(ds->curves[first].cell_id, ds->curves[a].cell_id)) first = a;
            ds->curves[a].soh = ds->curves[a].capacity_ah / ds->curves[first].capacity_ah;
        }
    }
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    *out = ds;
    return BML_OK;
}

/* ------------------------------------------------------------------ synthetic curves in the Oxford layout */
static const char *const EXPT_FOLDER[6] = {"", "Expt 1 - Si-based Degradation", "Expt 2,2 - C-based Degradation 2",
                                           "Expt 3 - Cathode Degradation and Li-Plating",
                                           "Expt 4 - Drive Cycle Aging (Control)", "Expt 5 - Standard Cycle Aging (Control)"};

static bml_status copy_file(const char *from, const char *to) {
    char *buf;
    size_t len;
    BML__TRY(bml__read_file(from, &buf, &len));
    bml_status st = bml__write_file_atomic(to, buf, len);
    free(buf);
    return st;
}

bml_status bml_synth_curves_write(const char *summary_path, const bml_oxford_opts *opts, const char *out_dir, size_t points,
                                  size_t *n_written) {
    *n_written = 0;
    BML__TRY(BML__OPTS_CHECK("bml_synth_curves_write", opts, bml_oxford_opts, BML_OXFORD_OPTS));
    bml_dataset *ds = NULL;
    BML__TRY(bml_dataset_load_oxford(summary_path, opts, &ds));
    double *q = calloc(points, sizeof *q), *v = calloc(points, sizeof *v);
    size_t cap = points * 96 + 256;
    char *text = malloc(cap);
    bml_status st = q && v && text ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t c = 0; st == BML_OK && c < ds->n_cells; c++) {
        const bml__cell *cell = &ds->cells[c];
        int e = cell->experiment;
        if (e < 1 || e > 5) { /* never written under another experiment's folder */
            st = bml__fail(BML_ERR_VALUE, "%s: experiment %d has no folder in the Oxford layout (1 to 5)", cell->source, e);
            break;
        }
        char *sdir = bml__sprintf("%s/%s/Summary Data/Performance Summary", out_dir, EXPT_FOLDER[e]);
        char *cdir = bml__sprintf("%s/%s/Processed Timeseries Data/0.1C Voltage Curves/%s %s", out_dir, EXPT_FOLDER[e],
                                  e == 5 ? "Cell" : "cell", cell->cell_id);
        if (!sdir || !cdir) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) st = bml__mkdir_p(sdir);
        if (st == BML_OK) st = bml__mkdir_p(cdir);
        if (st == BML_OK) { /* the summary beside the curves, so their targets are found */
            const char *b = strrchr(cell->source, '/') ? strrchr(cell->source, '/') + 1 : cell->source;
            char *dst = bml__path_join(sdir, b);
            if (dst && !bml__is_file(dst)) st = copy_file(cell->source, dst);
            free(dst);
        }
        for (size_t r = 0; st == BML_OK && r < cell->n_rows; r++) {
            const double *row = cell->values + r * ds->n_cols;
            bml__electrode_state es = {row[BML__OX_PE_CAP], row[BML__OX_NE_CAP], row[BML__OX_PE_LO], row[BML__OX_PE_HI],
                                       row[BML__OX_NE_LO],  row[BML__OX_NE_HI],  row[BML__OX_GR_FRAC]};
            if (bml__synth_curve(&es, points, q, v) != BML_OK) continue; /* incomplete fit: skipped */
            size_t off = 0;
            for (size_t k = 0; st == BML_OK && k <= points; k++) { /* the header, then C/10 of the nominal 5 Ah: 500 mA */
                for (;;) {
                    int w = k == 0 ? snprintf(text + off, cap - off, "Time (s),Voltage (V),Current (mA),Charge (mA.h),Temperature (degC)\r\n")
                                   : snprintf(text + off, cap - off, "%.1f,%.6f,-500.0,%.4f,%g\r\n", q[k - 1] / 0.5 * 3600.0,
                                              v[k - 1], q[k - 1] * 1000.0, cell->temperature_c);
                    if (w < 0) {
                        st = bml__fail(BML_ERR_IO, "synthetic curves: cannot format a curve row");
                        break;
                    }
                    if ((size_t)w < cap - off) {
                        off += (size_t)w;
                        break;
                    }
                    char *grown = realloc(text, 2 * cap + (size_t)w);
                    if (!grown) {
                        st = bml__fail(BML_ERR_NOMEM, "out of memory");
                        break;
                    }
                    text = grown;
                    cap = 2 * cap + (size_t)w;
                }
            }
            if (st != BML_OK) break;
            char *p = bml__sprintf("%s/Expt %d - cell %s - RPT%d - 0.1C discharge data.csv", cdir, e, cell->cell_id,
                                   (int)row[BML__OX_SET]);
            st = p ? bml__write_file_atomic(p, text, off) : bml__fail(BML_ERR_NOMEM, "out of memory");
            free(p);
            if (st == BML_OK) (*n_written)++;
        }
        free(sdir);
        free(cdir);
    }
    free(q), free(v), free(text);
    bml_dataset_free(ds);
    return st;
}
