/* Oxford LG M50T Performance Summary loader (Kirkaldy et al. 2024, CC BY 4.0).
 * See SPEC.md section 2.1 and data/oxford-lgm50t/README.md for the layout and its oddities. */
#define _DEFAULT_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/csvread.h"
#include "data/dataset_internal.h"
#include "data/oxford.h"

const char *const bml__oxford_columns[BML__OX_NCOLS] = {
    "ageing_set", "ageing_cycles", "set_start_day", "set_end_day", "rpt_day", "days",
    "temperature_measured_c", "charge_throughput_ah", "energy_throughput_wh", "capacity_c10_ah",
    "capacity_c2_ah", "resistance_ohm", "cell_capacity_ah", "pe_capacity_ah", "ne_capacity_ah",
    "ne_gr_capacity_ah", "ne_si_capacity_ah", "electrode_offset_ah", "soh", "lam_pe", "lam_ne",
    "lam_ne_gr", "lam_ne_si", "lli", "pe_lo", "ne_lo", "pe_hi", "ne_hi", "gr_frac", "ocv_fit_rmse_v"};

const char *const bml__oxford_headers[BML__OX_NCOLS] = {
    "Ageing Sets", "Ageing Cycles", "Age set start date", "Age set end date", "RPT start date",
    "Days of degradation", "Age set av. temperature [°C]", "Charge Throughput [A h]",
    "Energy Throughput [W h]", "C/10 Capacity [mA h]", "C/2 Capacity [mA h]", "0.1s Resistance [Ohms]",
    "Cell Capacity [mA h]", "PE Capacity [mA h]", "NE Capacity [mA h]", "NE_Gr Capacity [mA h]",
    "NE_Si Capacity [mA h]", "Electrode Offset [mA h]", "SoH", "LAM PE", "LAM NE_tot", "LAM NE_Gr",
    "LAM NE_Si", "LLI", "PE_lo", "NE_lo", "PE_hi", "NE_hi", "Gr_frac", "RMSE of OCV-fitting [V]"};

/* Column kinds: 0 number, 1 date, 2 capacity in mAh (converted to Ah). */
static int column_kind(int j) {
    if (j == BML__OX_SET_START || j == BML__OX_SET_END || j == BML__OX_RPT_DATE) return 1;
    if (j == BML__OX_CAP_C10 || j == BML__OX_CAP_C2 || j == BML__OX_CELL_CAP || j == BML__OX_PE_CAP ||
        j == BML__OX_NE_CAP || j == BML__OX_NE_GR_CAP || j == BML__OX_NE_SI_CAP || j == BML__OX_OFFSET)
        return 2;
    return 0;
}

/* Header names compared on their ASCII characters only ('°' may arrive in any encoding). */
static int header_eq(const char *a, const char *b) {
    for (;;) {
        while (*a && ((unsigned char)*a >= 0x80)) a++;
        while (*b && ((unsigned char)*b >= 0x80)) b++;
        while (*a == ' ' && a[1] == ' ') a++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
        if (!*a) return 1;
        a++;
        b++;
    }
}

static const char *skip_ws(const char *s) {
    while (*s == ' ') s++;
    return s;
}

int bml__oxford_parse_name(const char *name, int *experiment, const char **cell, size_t *cell_len,
                           double *temperature_c) {
    const char *s = name;
    if (strncasecmp(s, "Expt", 4) != 0) return -1;
    s = skip_ws(s + 4);
    if (!isdigit((unsigned char)*s)) return -1;
    long e = strtol(s, (char **)&s, 10);
    if (e > INT_MAX) return -1;
    if (*s == ',') { /* "Expt 2,2": repeat number of the experiment */
        s++;
        while (isdigit((unsigned char)*s)) s++;
    }
    s = skip_ws(s);
    if (*s != '-') return -1;
    s = skip_ws(s + 1);
    const char *c = s;
    size_t n = 0;
    if (strncasecmp(s, "cell", 4) == 0) {
        c = s = skip_ws(s + 4);
        while (isalnum((unsigned char)*s)) s++;
        n = (size_t)(s - c);
        if (n == 0) return -1;
        s = skip_ws(s);
        if (*s != '(') return -1;
        s++;
    }
    char *end;
    double t = strtod(s, &end);
    if (end == s || !isfinite(t) || strncasecmp(end, "degC", 4) != 0) return -1;
    s = end + 4;
    if (n) {
        if (*s != ')') return -1;
        s++;
    }
    s = skip_ws(s);
    if (*s != '-') return -1;
    s = skip_ws(s + 1);
    if (strncasecmp(s, "Processed Data", 14) != 0) return -1;
    *experiment = (int)e;
    *cell = c;
    *cell_len = n;
    *temperature_c = t;
    return 0;
}

/* Dates "DD/MM/YYYY" (experiment 5) or "YYYY-MM-DD" (others) -> days since 1970-01-01. */
/* n digits at s as an integer, or -1 */
static int digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int parse_date(const char *s, double *days) {
    int y, m, d;
    if (strlen(s) != 10) return -1;
    if (s[4] == '-' && s[7] == '-') {
        y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    } else if (s[2] == '/' && s[5] == '/') {
        d = digits(s, 2), m = digits(s + 3, 2), y = digits(s + 6, 4);
    } else {
        return -1;
    }
    if (m < 1 || m > 12 || d < 1 || d > 31 || y < 1900) return -1;
    /* days from civil (Howard Hinnant's algorithm) */
    y -= m <= 2;
    int era = y / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153u * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *days = (double)era * 146097.0 + (double)doe - 719468.0;
    return 0;
}

static int is_missing_token(const char *s) {
    if (!*s) return 1;
    if (*s != 'n' && *s != 'N') return 0;
    return bml__streq_ci(s, "nan") || bml__streq_ci(s, "na") || bml__streq_ci(s, "null");
}

static int cells_equal(const bml__cell *a, const double *vals, size_t n_rows) {
    if (a->n_rows != n_rows) return 0;
    for (size_t i = 0; i < n_rows * BML__OX_NCOLS; i++) {
        double x = a->values[i], y = vals[i];
        if (!(x == y || (isnan(x) && isnan(y)))) return 0;
    }
    return 1;
}

static bml_status aux_attach(bml__cell *c, const char *summary_path);

/* Load one Performance Summary file into ds (one or several cells). */
static bml_status load_file(bml_dataset *ds, const char *path, const char *base, int expt, const char *cell,
                            double temp) {
    bml__csv csv;
    BML__TRY(bml__csv_read(path, 0, &csv));
    bml_status st = BML_OK;
    double *vals = NULL;
    size_t *lines = NULL;
    int filecol[BML__OX_NCOLS];
    if (csv.n_rows == 0) {
        st = bml__fail(BML_ERR_EMPTY, "%s: empty file (expected a header with the %d Performance Summary columns)",
                       path, BML__OX_NCOLS);
        goto done;
    }
    /* header -> column map */
    const bml__csv_row *h = &csv.rows[0];
    for (int j = 0; j < BML__OX_NCOLS; j++) {
        filecol[j] = 0;
        for (size_t k = 0; k < h->n_fields; k++) {
            if (header_eq(bml__trim(h->fields[k]), bml__oxford_headers[j])) {
                filecol[j] = (int)k + 1;
                break;
            }
        }
    }
    {
        char missing[1024];
        size_t off = 0;
        missing[0] = 0;
        for (int j = 0; j < BML__OX_NCOLS; j++)
            if (!filecol[j] && off < sizeof missing)
                off += (size_t)snprintf(missing + off, sizeof missing - off, "%s'%s'", off ? ", " : "",
                                        bml__oxford_headers[j]);
        if (off) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:1: missing Performance Summary column(s) %s", path, missing);
            goto done;
        }
    }
    size_t n = csv.n_rows - 1;
    if (n == 0) {
        st = bml__fail(BML_ERR_EMPTY, "%s: header only, no data rows", path);
        goto done;
    }
    vals = bml__calloc(n * BML__OX_NCOLS, sizeof *vals);
    lines = bml__calloc(n, sizeof *lines);
    if (!vals || !lines) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const bml__csv_row *r = &csv.rows[i + 1];
        lines[i] = r->line;
        if (r->n_fields != h->n_fields) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields, the header has %zu", path, r->line, r->n_fields,
                           h->n_fields);
            goto done;
        }
        for (int j = 0; j < BML__OX_NCOLS; j++) {
            char *f = r->fields[filecol[j] - 1];
            char *t = bml__trim(f);
            double v = NAN;
            if (!is_missing_token(t)) {
                int bad = column_kind(j) == 1 ? parse_date(t, &v) : bml__parse_double(t, &v);
                if (bad) {
                    st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as %s (column '%s')", path, r->line,
                                   filecol[j], t, column_kind(j) == 1 ? "a date" : "a finite number",
                                   bml__oxford_headers[j]);
                    goto done;
                }
                if (column_kind(j) == 2) v /= 1000.0; /* mAh -> Ah */
            }
            vals[i * BML__OX_NCOLS + (size_t)j] = v;
        }
        if (isnan(vals[i * BML__OX_NCOLS + BML__OX_SET])) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: 'Ageing Sets' is empty", path, r->line, filecol[BML__OX_SET]);
            goto done;
        }
    }
    /* split where Ageing Sets restarts */
    size_t start = 0, segment = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && vals[i * BML__OX_NCOLS + BML__OX_SET] > vals[(i - 1) * BML__OX_NCOLS + BML__OX_SET]) continue;
        size_t m = i - start;
        const double *seg = vals + start * BML__OX_NCOLS;
        int dup = 0;
        if (!cell[0])
            for (size_t c = 0; c < ds->n_cells && !dup; c++)
                dup = ds->cells[c].experiment == expt && ds->cells[c].temperature_c == temp &&
                      cells_equal(&ds->cells[c], seg, m);
        if (dup) {
            ds->n_dup_segments++;
            ds->n_dup_rows += m;
        } else {
            segment++;
            bml__cell c = {.experiment = expt, .temperature_c = temp, .n_rows = m};
            c.cell_id = cell[0] ? (segment > 1 ? bml__sprintf("%s-%zu", cell, segment) : bml__strdup(cell))
                                : (segment > 1 ? bml__sprintf("%gdegC-%zu", temp, segment) : bml__sprintf("%gdegC", temp));
            c.source = bml__strdup(path);
            c.values = bml__calloc(m * BML__OX_NCOLS, sizeof *c.values);
            c.lines = bml__calloc(m, sizeof *c.lines);
            c.file_column = bml__calloc(BML__OX_NCOLS, sizeof *c.file_column);
            if (!c.cell_id || !c.source || !c.values || !c.lines || !c.file_column) {
                bml__cell_free(&c);
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
                goto done;
            }
            memcpy(c.values, seg, m * BML__OX_NCOLS * sizeof *seg);
            memcpy(c.lines, lines + start, m * sizeof *lines);
            memcpy(c.file_column, filecol, sizeof filecol);
            if (cell[0] && (st = aux_attach(&c, path)) != BML_OK) {
                bml__cell_free(&c);
                goto done;
            }
            if ((st = bml__dataset_push_cell(ds, &c)) != BML_OK) {
                bml__cell_free(&c);
                goto done;
            }
        }
        start = i;
    }
    (void)base;
done:
    free(vals);
    free(lines);
    bml__csv_free(&csv);
    return st;
}

/* ------------------------------------------------------------------ Summary per Cycle / per Set */
/* "expt 5 - cell A - cycle_data.csv" (any case, "Expt 2,2" too) */
static int aux_name_matches(const char *name, int expt, const char *cell, const char *suffix) {
    const char *s = name;
    if (strncasecmp(s, "expt", 4) != 0) return 0;
    s = skip_ws(s + 4);
    if (!isdigit((unsigned char)*s) || (int)strtol(s, (char **)&s, 10) != expt) return 0;
    if (*s == ',')
        for (s++; isdigit((unsigned char)*s);) s++;
    s = skip_ws(s);
    if (*s != '-') return 0;
    s = skip_ws(s + 1);
    if (strncasecmp(s, "cell", 4) != 0) return 0;
    s = skip_ws(s + 4);
    size_t cl = strlen(cell);
    if (strncmp(s, cell, cl) != 0) return 0;
    s = skip_ws(s + cl);
    if (*s != '-') return 0;
    s = skip_ws(s + 1);
    return bml__streq_ci(s, suffix);
}

static bml_status aux_load(const char *path, bml__aux *a) {
    bml__csv csv;
    BML__TRY(bml__csv_read(path, 0, &csv));
    bml_status st = BML_OK;
    if (csv.n_rows == 0) {
        st = bml__fail(BML_ERR_EMPTY, "%s: empty file", path);
        goto done;
    }
    const bml__csv_row *h = &csv.rows[0];
    a->n_cols = h->n_fields;
    a->n_rows = csv.n_rows - 1;
    a->names = bml__calloc(a->n_cols, sizeof *a->names);
    a->values = bml__calloc(a->n_rows * a->n_cols + 1, sizeof *a->values);
    a->source = bml__strdup(path);
    if (!a->names || !a->values || !a->source) goto nomem;
    for (size_t j = 0; j < a->n_cols; j++)
        if (!(a->names[j] = bml__strdup(bml__trim(h->fields[j])))) goto nomem;
    for (size_t i = 0; i < a->n_rows; i++) {
        const bml__csv_row *r = &csv.rows[i + 1];
        if (r->n_fields != a->n_cols) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields, the header has %zu", path, r->line, r->n_fields, a->n_cols);
            goto done;
        }
        for (size_t j = 0; j < a->n_cols; j++) {
            char *t = bml__trim(r->fields[j]);
            double v = NAN;
            if (!is_missing_token(t) && bml__parse_double(t, &v) != 0 && parse_date(t, &v) != 0) {
                st = bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: cannot parse '%s' as a number or date (column '%s')", path,
                               r->line, j + 1, t, a->names[j]);
                goto done;
            }
            a->values[i * a->n_cols + j] = v;
        }
    }
    goto done;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
done:
    bml__csv_free(&csv);
    if (st != BML_OK) bml__aux_free(a);
    return st;
}

/* Look for the cell's per-cycle and per-set files beside its Performance Summary. */
static bml_status aux_attach(bml__cell *c, const char *summary_path) {
    static const char *const suffix[2] = {"cycle_data.csv", "set_data.csv"};
    static const char *const sub[2] = {"Ageing Sets Summary/Summary per Cycle", "Ageing Sets Summary/Summary per Set"};
    char *dir = bml__strdup(summary_path);
    if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    bml_status st = BML_OK;
    for (int k = 0; k < 2 && st == BML_OK; k++) {
        char *cands[2] = {bml__sprintf("%s/../%s", dir, sub[k]), bml__strdup(dir)};
        if (!cands[0] || !cands[1]) st = bml__fail(BML_ERR_NOMEM, "out of memory"); /* not "no such file" */
        for (int d = 0; d < 2 && st == BML_OK && !c->aux[k].n_rows; d++) {
            DIR *dh = cands[d] ? opendir(cands[d]) : NULL;
            if (!dh) continue;
            struct dirent *e;
            char *found = NULL;
            int matched = 0;
            while (!matched && (e = readdir(dh)))
                if ((matched = aux_name_matches(e->d_name, c->experiment, c->cell_id, suffix[k])))
                    found = bml__path_join(cands[d], e->d_name);
            closedir(dh);
            if (matched) st = found ? aux_load(found, &c->aux[k]) : bml__fail(BML_ERR_NOMEM, "out of memory");
            free(found);
        }
        free(cands[0]);
        free(cands[1]);
    }
    free(dir);
    return st;
}

/* The Performance Summary's columns, and the roles of those the pipelines read. */
static bml_status oxford_columns(bml_dataset *ds) {
    BML__TRY(bml__dataset_set_columns(ds, BML__OX_NCOLS, bml__oxford_columns, bml__oxford_headers));
    static const struct {
        bml_role role;
        int col;
    } roles[] = {{BML_ROLE_SET_INDEX, BML__OX_SET},          {BML_ROLE_CYCLE, BML__OX_CYCLES},
                 {BML_ROLE_TIME, BML__OX_DAYS},              {BML_ROLE_TEMPERATURE_MEASURED, BML__OX_TEMP_MEASURED},
                 {BML_ROLE_THROUGHPUT_AH, BML__OX_CHARGE_AH}, {BML_ROLE_ENERGY_WH, BML__OX_ENERGY_WH},
                 {BML_ROLE_RESISTANCE_OHM, BML__OX_RESISTANCE}, {BML_ROLE_CAPACITY_AH, BML__OX_CAP_C10},
                 {BML_ROLE_SOH, BML__OX_SOH},                {BML_ROLE_LAM_NE, BML__OX_LAM_NE},
                 {BML_ROLE_LAM_PE, BML__OX_LAM_PE},          {BML_ROLE_LLI, BML__OX_LLI}};
    for (size_t k = 0; k < sizeof roles / sizeof *roles; k++) bml__dataset_set_role(ds, roles[k].role, (size_t)roles[k].col, 1);
    return BML_OK;
}

/* Recursively collect Performance Summary files below dir (sorted for determinism). */
static bml_status collect(const char *dir, int depth, bml__strvec *files) {
    DIR *d = opendir(dir);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open directory", dir);
    bml__strvec names = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && bml__strvec_push(&names, e->d_name) != 0) {
            closedir(d);
            bml__strvec_free(&names);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
    closedir(d);
    if (names.n) qsort(names.items, names.n, sizeof *names.items, bml__strcmp_ptr);
    bml_status st = BML_OK;
    for (size_t i = 0; i < names.n && st == BML_OK; i++) {
        char *p = bml__path_join(dir, names.items[i]);
        if (!p) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        int expt;
        const char *cell;
        size_t cell_len;
        double t;
        if (bml__is_dir(p)) {
            /* voltage-curve and per-cycle folders hold no Performance Summary files */
            if (depth < 6 && !strstr(names.items[i], "Timeseries")) st = collect(p, depth + 1, files);
        } else {
            size_t l = strlen(names.items[i]);
            if (l > 4 && bml__streq_ci(names.items[i] + l - 4, ".csv") &&
                bml__oxford_parse_name(names.items[i], &expt, &cell, &cell_len, &t) == 0 &&
                bml__strvec_push(files, p) != 0)
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        free(p);
    }
    bml__strvec_free(&names);
    return st;
}

static const char *basename_of(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

static int cell_cmp(const void *a, const void *b) {
    const bml__cell *x = a, *y = b;
    if (x->experiment != y->experiment) return x->experiment < y->experiment ? -1 : 1;
    if (x->temperature_c != y->temperature_c) return x->temperature_c < y->temperature_c ? -1 : 1;
    return strcmp(x->cell_id, y->cell_id);
}

static int key_cmp(const void *a, const void *b) {
    const bml__cell *x = *(const bml__cell *const *)a, *y = *(const bml__cell *const *)b;
    if (x->experiment != y->experiment) return x->experiment < y->experiment ? -1 : 1;
    return strcmp(x->cell_id, y->cell_id);
}

/* A cell is known by its experiment and id ("E5-A"): two files giving the same one (a copy in another folder,
 * the same cell at two temperatures) would be merged by every split, so they are an error. */
static bml_status check_unique_cells(const bml_dataset *ds) {
    const bml__cell **by_key = bml__calloc(ds->n_cells + 1, sizeof *by_key);
    if (!by_key) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t c = 0; c < ds->n_cells; c++) by_key[c] = &ds->cells[c];
    qsort(by_key, ds->n_cells, sizeof *by_key, key_cmp);
    bml_status st = BML_OK;
    for (size_t c = 1; c < ds->n_cells && st == BML_OK; c++)
        if (!key_cmp(&by_key[c - 1], &by_key[c]))
            st = bml__fail(BML_ERR_VALUE, "%s and %s: both hold experiment %d cell %s", by_key[c - 1]->source, by_key[c]->source,
                           by_key[c]->experiment, by_key[c]->cell_id);
    free(by_key);
    return st;
}

bml_status bml_dataset_load_oxford(const char *path, const bml_oxford_opts *opts, bml_dataset **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_oxford", opts, bml_oxford_opts, BML_OXFORD_OPTS));
    if (!path || !*path) return bml__fail(BML_ERR_VALUE, "no data path given");
    if (!bml__is_dir(path) && !bml__is_file(path))
        return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file or directory", path);
    bml__strvec files = {0};
    bml_status st = BML_OK;
    if (bml__is_dir(path)) {
        st = collect(path, 0, &files);
        if (st == BML_OK && files.n == 0)
            st = bml__fail(BML_ERR_EMPTY,
                           "%s: no Performance Summary files found (expected names like "
                           "'Expt 5 - cell A (10degC) - Processed Data.csv')",
                           path);
    } else if (bml__strvec_push(&files, path) != 0) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml_dataset *ds = bml__dataset_new("oxford", path);
    if (!ds && st == BML_OK) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = oxford_columns(ds);
    /* two passes: files naming their cell first, so stacked duplicates can be recognised */
    for (int pass = 0; pass < 2 && st == BML_OK; pass++) {
        for (size_t i = 0; i < files.n && st == BML_OK; i++) {
            const char *base = basename_of(files.items[i]);
            int expt;
            const char *cell_at;
            size_t cell_len;
            double t;
            if (bml__oxford_parse_name(base, &expt, &cell_at, &cell_len, &t) != 0) {
                st = bml__fail(BML_ERR_VALUE,
                               "%s: cannot read experiment, cell and temperature from the file name (expected "
                               "'Expt N - cell X (TdegC) - Processed Data.csv' or 'Expt N - TdegC - Processed Data.csv')",
                               files.items[i]);
                break;
            }
            if ((pass == 0) != (cell_len != 0)) continue;
            int wanted = !opts || opts->n_experiments == 0;
            for (size_t k = 0; opts && k < opts->n_experiments; k++) wanted |= opts->experiments[k] == expt;
            if (!wanted) continue;
            char *cell = bml__strndup(cell_at, cell_len);
            st = cell ? load_file(ds, files.items[i], base, expt, cell, t) : bml__fail(BML_ERR_NOMEM, "out of memory");
            free(cell);
        }
    }
    bml__strvec_free(&files);
    if (st == BML_OK && ds->n_cells == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: no cells of the requested experiment(s) found", path);
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    qsort(ds->cells, ds->n_cells, sizeof *ds->cells, cell_cmp);
    if ((st = check_unique_cells(ds)) != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    if (ds->n_dup_segments &&
        !(ds->note = bml__sprintf("%zu segment(s) (%zu rows) of stacked files dropped: identical to cells loaded from "
                                  "their own files", ds->n_dup_segments, ds->n_dup_rows))) {
        bml_dataset_free(ds);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *out = ds;
    return BML_OK;
}
