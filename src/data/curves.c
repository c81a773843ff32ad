/* Voltage-curve datasets: Oxford 0.1C timeseries, Basytec exports, generic capacity/voltage CSVs, and the
 * writer of synthetic curves in the Oxford layout. */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/csvread.h"
#include "data/dataset_internal.h"
#include "data/synth.h"

bml_status bml__dataset_push_curve(bml_dataset *ds, bml__curve *c) {
    if (ds->n_curves == ds->cap_curves) {
        size_t cap = ds->cap_curves ? 2 * ds->cap_curves : 32;
        bml__curve *n = realloc(ds->curves, cap * sizeof *n);
        if (!n) return bml__fail(BML_ERR_NOMEM, "out of memory");
        ds->curves = n;
        ds->cap_curves = cap;
    }
    ds->curves[ds->n_curves++] = *c;
    return BML_OK;
}

size_t bml_dataset_n_curves(const bml_dataset *ds) { return ds->n_curves; }

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

/* read two numeric columns of a CSV (header at row `hdr`) into q, v; charge is made positive and
 * relative to the first row */
static bml_status read_qv(const char *path, const bml__csv *csv, size_t hdr, int cq, int cv, double q_scale, bml__curve *c) {
    size_t n = csv->n_rows - hdr - 1;
    c->q = calloc(n + 1, sizeof *c->q);
    c->v = calloc(n + 1, sizeof *c->v);
    if (!c->q || !c->v) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = hdr + 1; i < csv->n_rows; i++) {
        const bml__csv_row *r = &csv->rows[i];
        if (r->n_fields <= (size_t)(cq > cv ? cq : cv)) continue;
        double q, v;
        if (bml__parse_double(r->fields[cq], &q) != 0)
            return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as a number", path, r->line, cq + 1, r->fields[cq]);
        if (bml__parse_double(r->fields[cv], &v) != 0)
            return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as a number", path, r->line, cv + 1, r->fields[cv]);
        c->q[m] = q * q_scale;
        c->v[m] = v;
        m++;
    }
    if (m < 2) return bml__fail(BML_ERR_EMPTY, "%s: fewer than 2 data rows", path);
    double q0 = c->q[0];
    for (size_t i = 0; i < m; i++) c->q[i] = fabs(c->q[i] - q0);
    c->n = m;
    c->capacity_ah = 0;
    for (size_t i = 0; i < m; i++) c->capacity_ah = fmax(c->capacity_ah, c->q[i]);
    return BML_OK;
}

/* ------------------------------------------------------------------ Oxford 0.1C curves */
/* "Expt 5 - cell A - RPT3 - 0.1C discharge data.csv" */
static int parse_curve_name(const char *name, int *expt, char *cell, size_t cell_size, int *rpt) {
    const char *s = name;
    if (strncasecmp(s, "Expt", 4)) return -1;
    s += 4;
    while (*s == ' ') s++;
    if (!isdigit((unsigned char)*s)) return -1;
    *expt = (int)strtol(s, (char **)&s, 10);
    if (*s == ',')
        for (s++; isdigit((unsigned char)*s);) s++;
    while (*s == ' ' || *s == '-') s++;
    if (strncasecmp(s, "cell", 4)) return -1;
    s += 4;
    while (*s == ' ') s++;
    size_t n = 0;
    while (isalnum((unsigned char)*s) && n + 1 < cell_size) cell[n++] = *s++;
    cell[n] = 0;
    while (*s == ' ' || *s == '-') s++;
    if (strncasecmp(s, "RPT", 3) || !isdigit((unsigned char)s[3])) return -1;
    *rpt = (int)strtol(s + 3, (char **)&s, 10);
    return n && strstr(s, "0.1C") ? 0 : -1;
}

static bml_status collect_curves(const char *dir, int depth, bml__strvec *files) {
    DIR *d = opendir(dir);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open directory", dir);
    bml__strvec names = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') bml__strvec_push(&names, e->d_name);
    closedir(d);
    if (names.n) qsort(names.items, names.n, sizeof *names.items, bml__strcmp_ptr);
    bml_status st = BML_OK;
    for (size_t i = 0; i < names.n && st == BML_OK; i++) {
        char *p = bml__path_join(dir, names.items[i]);
        int expt, rpt;
        char cell[32];
        if (!p) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (bml__is_dir(p)) {
            if (depth < 8) st = collect_curves(p, depth + 1, files);
        } else if (parse_curve_name(names.items[i], &expt, cell, sizeof cell, &rpt) == 0 && bml__strvec_push(files, p)) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        free(p);
    }
    bml__strvec_free(&names);
    return st;
}

bml_status bml_dataset_load_oxford_curves(const char *path, const bml_oxford_opts *opts, bml_dataset **out) {
    *out = NULL;
    if (!bml__is_dir(path)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such directory", path);
    bml__strvec files = {0};
    BML__TRY(collect_curves(path, 0, &files));
    if (!files.n) {
        bml__strvec_free(&files);
        return bml__fail(BML_ERR_EMPTY, "%s: no 0.1C voltage-curve files (expected names like "
                                        "'Expt 5 - cell A - RPT3 - 0.1C discharge data.csv')", path);
    }
    /* the Performance Summary of the same tree gives each curve's targets */
    bml_dataset *summary = NULL;
    if (bml_dataset_load_oxford(path, opts, &summary) != BML_OK) summary = NULL;
    bml_dataset *ds = calloc(1, sizeof *ds);
    bml_status st = ds ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0; st == BML_OK && f < files.n; f++) {
        const char *base = strrchr(files.items[f], '/') ? strrchr(files.items[f], '/') + 1 : files.items[f];
        int expt, rpt;
        char cell[32];
        parse_curve_name(base, &expt, cell, sizeof cell, &rpt);
        int wanted = !opts || !opts->n_experiments;
        for (size_t k = 0; opts && k < opts->n_experiments; k++) wanted |= opts->experiments[k] == expt;
        if (!wanted) continue;
        bml__csv csv;
        if ((st = bml__csv_read(files.items[f], 0, &csv)) != BML_OK) break;
        bml__curve c = curve_init();
        c.experiment = expt;
        c.rpt = rpt;
        c.cell_id = bml__strdup(cell);
        c.source = bml__strdup(files.items[f]);
        int cq = csv.n_rows ? find_col(&csv.rows[0], "Charge") : -1, cv = csv.n_rows ? find_col(&csv.rows[0], "Voltage") : -1;
        if (!c.cell_id || !c.source) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (csv.n_rows < 3) st = bml__fail(BML_ERR_EMPTY, "%s: no data rows", files.items[f]);
        else if (cq < 0 || cv < 0)
            st = bml__fail(BML_ERR_SCHEMA, "%s:1: missing column(s) 'Charge (mA.h)' and/or 'Voltage (V)'", files.items[f]);
        else st = read_qv(files.items[f], &csv, 0, cq, cv, 1e-3, &c); /* mAh -> Ah */
        int ct = st == BML_OK ? find_col(&csv.rows[0], "Temperature") : -1;
        bml__csv_free(&csv);
        (void)ct;
        /* targets and nominal temperature from the summary row of the same RPT */
        for (size_t i = 0; st == BML_OK && summary && i < summary->n_cells; i++) {
            const bml__cell *sc = &summary->cells[i];
            if (sc->experiment != expt || strcmp(sc->cell_id, cell)) continue;
            c.temperature_c = sc->temperature_c;
            for (size_t r = 0; r < sc->n_rows; r++) {
                const double *v = sc->values + r * summary->n_cols;
                if ((int)v[BML__OX_SET] != rpt) continue;
                c.soh = v[BML__OX_SOH], c.capacity_ah = v[BML__OX_CAP_C10], c.lam_ne = v[BML__OX_LAM_NE];
                c.lam_pe = v[BML__OX_LAM_PE], c.lli = v[BML__OX_LLI], c.days = v[BML__OX_DAYS];
                c.throughput_ah = v[BML__OX_CHARGE_AH];
            }
        }
        if (st == BML_OK) st = bml__dataset_push_curve(ds, &c);
        if (st != BML_OK) curve_free(&c);
    }
    bml_dataset_free(summary);
    bml__strvec_free(&files);
    if (st == BML_OK && ds->n_curves == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no curves of the requested experiment(s)", path);
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    *out = ds;
    return BML_OK;
}

/* ------------------------------------------------------------------ Basytec */
bml_status bml_dataset_load_basytec(const char *path, int step, int cycle, bml_dataset **out) {
    *out = NULL;
    if (!bml__is_file(path)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file", path);
    bml__csv csv;
    BML__TRY(bml__csv_read(path, 0, &csv));
    size_t hdr = 0;
    while (hdr < csv.n_rows && !(csv.rows[hdr].n_fields && !strcmp(csv.rows[hdr].fields[0], "Step"))) hdr++;
    bml_status st = BML_OK;
    int c_step = -1, c_cycle = -1, c_v = -1, c_ah = -1;
    if (hdr == csv.n_rows) st = bml__fail(BML_ERR_SCHEMA, "%s: no Basytec header row (Step, ..., Voltage, Current, AhAccu)", path);
    else {
        const bml__csv_row *h = &csv.rows[hdr];
        c_step = find_col(h, "Step"), c_cycle = find_col(h, "Cycle"), c_v = find_col(h, "Voltage"), c_ah = find_col(h, "AhAccu");
        if (c_cycle < 0 || c_v < 0 || c_ah < 0)
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: missing Basytec column(s) Cycle, Voltage or AhAccu", path, h->line);
    }
    bml_dataset *ds = st == BML_OK ? calloc(1, sizeof *ds) : NULL;
    if (st == BML_OK && !ds) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    /* rows of the step, grouped by cycle in order */
    for (size_t i = hdr + 2; st == BML_OK && i < csv.n_rows;) {
        const bml__csv_row *r = &csv.rows[i];
        long s, cy;
        if (r->n_fields <= (size_t)c_ah || bml__parse_long(r->fields[c_step], &s) || s != step ||
            bml__parse_long(r->fields[c_cycle], &cy) || (cycle > 0 && cy != cycle)) {
            i++;
            continue;
        }
        size_t j = i;
        long cy2;
        while (j < csv.n_rows && csv.rows[j].n_fields > (size_t)c_ah && !bml__parse_long(csv.rows[j].fields[c_step], &s) &&
               s == step && !bml__parse_long(csv.rows[j].fields[c_cycle], &cy2) && cy2 == cy)
            j++;
        bml__curve c = curve_init();
        c.cell_id = bml__strndup(base, strcspn(base, "."));
        c.source = bml__strdup(path);
        c.rpt = (int)cy;
        if (!c.cell_id || !c.source) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        bml__csv part = {csv.rows + i - 1, j - i + 1, 0}; /* a view: header slot + the block's rows */
        if (st == BML_OK) st = read_qv(path, &part, 0, c_ah, c_v, 1.0, &c);
        if (st == BML_OK) st = bml__dataset_push_curve(ds, &c);
        if (st != BML_OK) curve_free(&c);
        i = j;
    }
    bml__csv_free(&csv);
    if (st == BML_OK && ds->n_curves == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: no rows of step %d%s", path, step, cycle > 0 ? " in that cycle" : "");
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    *out = ds;
    return BML_OK;
}

/* ------------------------------------------------------------------ generic capacity/voltage files */
bml_status bml_dataset_load_curve_table(const char *path, const bml_curve_columns *cols, bml_dataset **out) {
    *out = NULL;
    bml__strvec files = {0};
    if (bml__is_file(path)) bml__strvec_push(&files, path);
    else if (bml__is_dir(path)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcasecmp(e->d_name + l - 4, ".csv")) {
                char *p = bml__path_join(path, e->d_name);
                if (p) bml__strvec_push(&files, p);
                free(p);
            }
        }
        if (d) closedir(d);
        if (files.n) qsort(files.items, files.n, sizeof *files.items, bml__strcmp_ptr);
    } else {
        return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file or directory", path);
    }
    regex_t re;
    if (regcomp(&re, cols->name_pattern, REG_EXTENDED) != 0) {
        bml__strvec_free(&files);
        return bml__fail(BML_ERR_VALUE, "curve files: invalid name pattern '%s'", cols->name_pattern);
    }
    bml_dataset *ds = calloc(1, sizeof *ds);
    bml_status st = ds ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0; st == BML_OK && f < files.n; f++) {
        const char *base = strrchr(files.items[f], '/') ? strrchr(files.items[f], '/') + 1 : files.items[f];
        regmatch_t m[3];
        if (regexec(&re, base, 3, m, 0) != 0 || m[1].rm_so < 0 || m[2].rm_so < 0) {
            st = bml__fail(BML_ERR_VALUE, "%s: the file name does not match '%s' (cell and cycle groups)", files.items[f],
                           cols->name_pattern);
            break;
        }
        bml__csv csv;
        if ((st = bml__csv_read(files.items[f], 0, &csv)) != BML_OK) break;
        bml__curve c = curve_init();
        c.cell_id = bml__strndup(base + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
        char cyc[32];
        snprintf(cyc, sizeof cyc, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), base + m[2].rm_so);
        c.rpt = atoi(cyc);
        c.source = bml__strdup(files.items[f]);
        c.temperature_c = cols->temperature_c;
        int cq = csv.n_rows ? find_col(&csv.rows[0], cols->capacity_column) : -1;
        int cv = csv.n_rows ? find_col(&csv.rows[0], cols->voltage_column) : -1;
        if (!c.cell_id || !c.source) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (csv.n_rows < 3) st = bml__fail(BML_ERR_EMPTY, "%s: no data rows", files.items[f]);
        else if (cq < 0 || cv < 0)
            st = bml__fail(BML_ERR_SCHEMA, "%s:1: missing column(s) '%s' and/or '%s'", files.items[f], cols->capacity_column,
                           cols->voltage_column);
        else st = read_qv(files.items[f], &csv, 0, cq, cv, 1.0, &c);
        bml__csv_free(&csv);
        if (st == BML_OK) st = bml__dataset_push_curve(ds, &c);
        if (st != BML_OK) curve_free(&c);
    }
    regfree(&re);
    bml__strvec_free(&files);
    if (st == BML_OK && !ds->n_curves) st = bml__fail(BML_ERR_EMPTY, "%s: no curve files", path);
    if (st == BML_OK) { /* curves of a cell by cycle; SoH relative to its first */
        for (size_t a = 0; a < ds->n_curves; a++)
            for (size_t b = a + 1; b < ds->n_curves; b++) {
                bml__curve *x = &ds->curves[a], *y = &ds->curves[b];
                int c = strcmp(x->cell_id, y->cell_id);
                if (c > 0 || (c == 0 && x->rpt > y->rpt)) {
                    bml__curve t = *x;
                    *x = *y;
                    *y = t;
                }
            }
        for (size_t a = 0; a < ds->n_curves; a++) {
            size_t first = a;
            while (first > 0 && !strcmp(ds->curves[first - 1].cell_id, ds->curves[a].cell_id)) first--;
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
    bml_dataset *ds = NULL;
    BML__TRY(bml_dataset_load_oxford(summary_path, opts, &ds));
    double *q = calloc(points, sizeof *q), *v = calloc(points, sizeof *v);
    size_t cap = points * 96 + 256;
    char *text = malloc(cap);
    bml_status st = q && v && text ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t c = 0; st == BML_OK && c < ds->n_cells; c++) {
        const bml__cell *cell = &ds->cells[c];
        int e = cell->experiment >= 1 && cell->experiment <= 5 ? cell->experiment : 5;
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
            size_t off = (size_t)snprintf(text, cap, "Time (s),Voltage (V),Current (mA),Charge (mA.h),Temperature (degC)\r\n");
            for (size_t k = 0; k < points && off < cap; k++) /* C/10 of the nominal 5 Ah: 500 mA */
                off += (size_t)snprintf(text + off, cap - off, "%.1f,%.6f,-500.0,%.4f,%g\r\n", q[k] / 0.5 * 3600.0, v[k],
                                        q[k] * 1000.0, cell->temperature_c);
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
