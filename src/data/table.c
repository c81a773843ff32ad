/* Generic CSV table loader: one row per (cell, step), columns mapped to roles by the config. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/csvread.h"
#include "data/dataset_internal.h"

static int find_col(const bml__csv_row *h, const char *name) {
    for (size_t k = 0; k < h->n_fields; k++) {
        char *t = bml__strdup(h->fields[k]);
        int eq = t && strcmp(bml__trim(t), name) == 0;
        free(t);
        if (eq) return (int)k;
    }
    return -1;
}

static int missing(const char *s) { return !*s || bml__streq_ci(s, "nan") || bml__streq_ci(s, "na"); }

bml_status bml_dataset_load_table(const char *path, const bml_table_roles *roles, bml_dataset **out) {
    *out = NULL;
    if (!roles || !roles->cell_column || !*roles->cell_column)
        return bml__fail(BML_ERR_VALUE, "table data: the cell column role (data.cell_column) is required");
    if (roles->n_targets == 0) return bml__fail(BML_ERR_VALUE, "table data: no target columns (data.targets) given");
    if (roles->n_features == 0) return bml__fail(BML_ERR_VALUE, "table data: no feature columns (data.features) given");
    if (!bml__is_file(path)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file", path);
    bml__csv csv;
    BML__TRY(bml__csv_read(path, 0, &csv));
    bml_status st = BML_OK;
    bml_dataset *ds = NULL;
    int *src = NULL;
    if (csv.n_rows == 0) {
        st = bml__fail(BML_ERR_EMPTY, "%s: empty file (expected a header row)", path);
        goto fail;
    }
    if (csv.n_rows == 1) {
        st = bml__fail(BML_ERR_EMPTY, "%s: header only, no data rows", path);
        goto fail;
    }
    const bml__csv_row *h = &csv.rows[0];
    ds = calloc(1, sizeof *ds);
    if (!ds) goto nomem;
    /* dataset columns: time?, features..., targets... */
    size_t nc = (roles->time_column ? 1 : 0) + roles->n_features + roles->n_targets;
    ds->n_cols = nc;
    ds->col_names = bml__calloc(nc, sizeof *ds->col_names);
    src = bml__calloc(nc, sizeof *src);
    if (!ds->col_names || !src) goto nomem;
    size_t j = 0;
    if (roles->time_column) ds->col_names[j++] = bml__strdup(roles->time_column);
    for (size_t k = 0; k < roles->n_features; k++) {
        ds->col_names[j++] = bml__strdup(roles->features[k]);
        if (bml__strvec_push(&ds->role_features, roles->features[k]) != 0) goto nomem;
    }
    for (size_t k = 0; k < roles->n_targets; k++) {
        ds->col_names[j++] = bml__strdup(roles->targets[k]);
        if (bml__strvec_push(&ds->role_targets, roles->targets[k]) != 0) goto nomem;
    }
    for (j = 0; j < nc; j++)
        if (!ds->col_names[j]) goto nomem;
    /* locate every mapped column; report all that are missing */
    char miss[1024];
    size_t off = 0;
    miss[0] = 0;
    for (j = 0; j < nc; j++) {
        src[j] = find_col(h, ds->col_names[j]);
        if (src[j] < 0 && off < sizeof miss)
            off += (size_t)snprintf(miss + off, sizeof miss - off, "%s'%s'", off ? ", " : "", ds->col_names[j]);
    }
    int c_cell = find_col(h, roles->cell_column);
    int c_temp = roles->temperature_column ? find_col(h, roles->temperature_column) : -1;
    int c_exp = roles->experiment_column ? find_col(h, roles->experiment_column) : -1;
    if (c_cell < 0 && off < sizeof miss)
        off += (size_t)snprintf(miss + off, sizeof miss - off, "%s'%s'", off ? ", " : "", roles->cell_column);
    if (roles->temperature_column && c_temp < 0 && off < sizeof miss)
        off += (size_t)snprintf(miss + off, sizeof miss - off, "%s'%s'", off ? ", " : "", roles->temperature_column);
    if (roles->experiment_column && c_exp < 0 && off < sizeof miss)
        off += (size_t)snprintf(miss + off, sizeof miss - off, "%s'%s'", off ? ", " : "", roles->experiment_column);
    if (off) {
        char *have = bml__join(h->fields, h->n_fields, ", ");
        st = bml__fail(BML_ERR_SCHEMA, "%s:1: missing column(s) %s (the header has: %s)", path, miss, have ? have : "?");
        free(have);
        goto fail;
    }
    size_t n_target0 = nc - roles->n_targets;
    for (size_t i = 1; i < csv.n_rows; i++) {
        const bml__csv_row *r = &csv.rows[i];
        if (r->n_fields != h->n_fields) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields, the header has %zu", path, r->line, r->n_fields, h->n_fields);
            goto fail;
        }
        const char *cid = bml__trim(r->fields[c_cell]);
        if (!*cid) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: empty cell id", path, r->line, c_cell + 1);
            goto fail;
        }
        size_t c;
        for (c = 0; c < ds->n_cells; c++)
            if (strcmp(ds->cells[c].cell_id, cid) == 0) break;
        if (c == ds->n_cells) {
            if (ds->n_cells == ds->cap_cells) {
                size_t cap = ds->cap_cells ? 2 * ds->cap_cells : 16;
                bml__cell *ncell = realloc(ds->cells, cap * sizeof *ncell);
                if (!ncell) goto nomem;
                ds->cells = ncell;
                ds->cap_cells = cap;
            }
            bml__cell *cell = &ds->cells[ds->n_cells++];
            memset(cell, 0, sizeof *cell);
            cell->cell_id = bml__strdup(cid);
            cell->source = bml__strdup(path);
            cell->temperature_c = NAN;
            cell->file_column = bml__calloc(nc, sizeof *cell->file_column);
            if (!cell->cell_id || !cell->source || !cell->file_column) goto nomem;
            for (j = 0; j < nc; j++) cell->file_column[j] = src[j] + 1;
            if (c_temp >= 0 && bml__parse_double(r->fields[c_temp], &cell->temperature_c) != 0) {
                st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as a temperature", path, r->line, c_temp + 1,
                               r->fields[c_temp]);
                goto fail;
            }
            if (c_exp >= 0) {
                long e;
                if (bml__parse_long(r->fields[c_exp], &e) != 0) {
                    st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as an experiment number", path, r->line,
                                   c_exp + 1, r->fields[c_exp]);
                    goto fail;
                }
                cell->experiment = (int)e;
            }
        }
        bml__cell *cell = &ds->cells[c];
        double *nv = realloc(cell->values, (cell->n_rows + 1) * nc * sizeof *nv);
        if (!nv) goto nomem;
        cell->values = nv;
        size_t *nl = realloc(cell->lines, (cell->n_rows + 1) * sizeof *nl);
        if (!nl) goto nomem;
        cell->lines = nl;
        cell->lines[cell->n_rows] = r->line;
        for (j = 0; j < nc; j++) {
            const char *f = bml__trim(r->fields[src[j]]);
            double v = NAN;
            int is_target = j >= n_target0;
            if (missing(f)) {
                if (is_target && !roles->targets_optional) {
                    st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: target '%s' is missing (%s)", path, r->line, src[j] + 1,
                                   ds->col_names[j], *f ? f : "empty field");
                    goto fail;
                }
            } else if (bml__parse_double(f, &v) != 0) {
                st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as a finite number (column '%s')", path,
                               r->line, src[j] + 1, f, ds->col_names[j]);
                goto fail;
            }
            cell->values[cell->n_rows * nc + j] = v;
        }
        cell->n_rows++;
    }
    free(src);
    bml__csv_free(&csv);
    *out = ds;
    return BML_OK;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
fail:
    free(src);
    bml__csv_free(&csv);
    bml_dataset_free(ds);
    return st;
}
