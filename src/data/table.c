/* Generic CSV table loader: one row per (cell, step), columns mapped to roles by the config. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

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

/* Open-addressing hash map (XXH3, linear probing) from a cell (experiment, cell id) to its index in ds->cells;
 * the keys are the cells' own. */
typedef struct {
    size_t *slots; /* (cap) cell index + 1; 0: empty */
    size_t cap;    /* a power of two, at least twice the entries */
} cell_map;

static size_t slot_of(const cell_map *m, int experiment, const char *id) {
    return (size_t)XXH3_64bits_withSeed(id, strlen(id), (uint64_t)(int64_t)experiment) & (m->cap - 1);
}

/* 1 and *index when (experiment, id) is a cell of ds, 0 otherwise */
static int cell_map_find(const cell_map *m, const bml_dataset *ds, int experiment, const char *id, size_t *index) {
    if (!m->cap) return 0;
    for (size_t k = slot_of(m, experiment, id); m->slots[k]; k = (k + 1) & (m->cap - 1))
        if (ds->cells[m->slots[k] - 1].experiment == experiment && !strcmp(ds->cells[m->slots[k] - 1].cell_id, id)) {
            *index = m->slots[k] - 1;
            return 1;
        }
    return 0;
}

static void cell_map_put(cell_map *m, const bml_dataset *ds, size_t index) {
    size_t k = slot_of(m, ds->cells[index].experiment, ds->cells[index].cell_id);
    while (m->slots[k]) k = (k + 1) & (m->cap - 1);
    m->slots[k] = index + 1;
}

/* add cell `index` of ds (not yet in the map), growing the table to keep it at most half full */
static bml_status cell_map_insert(cell_map *m, const bml_dataset *ds, size_t index) {
    if (2 * (index + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        size_t *slots = bml__calloc(cap, sizeof *slots);
        if (!slots) return bml__fail(BML_ERR_NOMEM, "out of memory");
        cell_map grown = {slots, cap};
        for (size_t c = 0; c < index; c++) cell_map_put(&grown, ds, c);
        free(m->slots);
        *m = grown;
    }
    cell_map_put(m, ds, index);
    return BML_OK;
}

static int missing(const char *s) { return !*s || bml__streq_ci(s, "nan") || bml__streq_ci(s, "na"); }

bml_status bml_dataset_load_table(const char *path, const bml_table_roles *roles, bml_dataset **out) {
    return bml_dataset_load_table_named(path, roles, NULL, 0, out);
}

bml_status bml_dataset_load_table_named(const char *path, const bml_table_roles *roles, const bml_role_column *named,
                                        size_t n_named, bml_dataset **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_table", roles, bml_table_roles, BML_TABLE_ROLES));
    if (!roles || !roles->cell_column || !*roles->cell_column)
        return bml__fail(BML_ERR_VALUE, "table data: the cell column role (data.cell_column) is required");
    if (!named) n_named = 0;
    if (roles->n_targets == 0 && !n_named) return bml__fail(BML_ERR_VALUE, "table data: no target columns (data.targets) given");
    if (roles->n_features == 0 && !n_named) return bml__fail(BML_ERR_VALUE, "table data: no feature columns (data.features) given");
    int taken[BML_ROLE_COUNT] = {0};
    taken[BML_ROLE_TIME] = roles->time_column != NULL;
    for (size_t k = 0; k < n_named; k++) {
        bml_role r = named[k].role;
        if ((int)r < 0 || r >= BML_ROLE_FEATURE)
            return bml__fail(BML_ERR_VALUE, "table data: role %d is not a named role (set_index .. lli)", (int)r);
        if (!named[k].column || !*named[k].column)
            return bml__fail(BML_ERR_VALUE, "table data: no column named for the role '%s'", bml_role_name(r));
        if (taken[r]++)
            return bml__fail(BML_ERR_VALUE, "table data: the role '%s' is given %s", bml_role_name(r),
                             r == BML_ROLE_TIME ? "by data.time_column and again" : "twice");
    }
    if (!bml__is_file(path)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file", path);
    bml__csv csv;
    BML__TRY(bml__csv_read(path, 0, &csv));
    bml_status st = BML_OK;
    bml_dataset *ds = NULL;
    int *src = NULL;
    size_t *row_cell = NULL; /* (csv rows) the cell of each data row */
    cell_map map = {0};
    if (csv.n_rows == 0) {
        st = bml__fail(BML_ERR_EMPTY, "%s: empty file (expected a header row)", path);
        goto fail;
    }
    if (csv.n_rows == 1) {
        st = bml__fail(BML_ERR_EMPTY, "%s: header only, no data rows", path);
        goto fail;
    }
    const bml__csv_row *h = &csv.rows[0];
    ds = bml__dataset_new("table", path);
    if (!ds) goto nomem;
    /* dataset columns: time?, features..., targets..., the further named roles' columns */
    size_t n_time = roles->time_column ? 1 : 0;
    size_t nc = n_time + roles->n_features + roles->n_targets + n_named;
    const char **cols = bml__calloc(nc, sizeof *cols);
    src = bml__calloc(nc, sizeof *src);
    if (!cols || !src) {
        free(cols);
        goto nomem;
    }
    size_t j = 0;
    if (roles->time_column) cols[j++] = roles->time_column;
    for (size_t k = 0; k < roles->n_features; k++) cols[j++] = roles->features[k];
    for (size_t k = 0; k < roles->n_targets; k++) cols[j++] = roles->targets[k];
    for (size_t k = 0; k < n_named; k++) cols[j++] = named[k].column;
    st = bml__dataset_set_columns(ds, nc, cols, NULL);
    free(cols);
    if (st != BML_OK) goto fail;
    if (n_time) bml__dataset_set_role(ds, BML_ROLE_TIME, 0, 1);
    if (roles->n_features) bml__dataset_set_role(ds, BML_ROLE_FEATURE, n_time, roles->n_features);
    if (roles->n_targets) bml__dataset_set_role(ds, BML_ROLE_TARGET, n_time + roles->n_features, roles->n_targets);
    for (size_t k = 0; k < n_named; k++)
        bml__dataset_set_role(ds, named[k].role, n_time + roles->n_features + roles->n_targets + k, 1);
    /* locate every mapped column; report all that are missing (names of any length) */
    bml__strvec miss = {0};
    int nomem_miss = 0;
    for (j = 0; j < nc; j++)
        if ((src[j] = find_col(h, ds->col_names[j])) < 0) nomem_miss |= bml__strvec_push(&miss, ds->col_names[j]);
    int c_cell = find_col(h, roles->cell_column);
    int c_temp = roles->temperature_column ? find_col(h, roles->temperature_column) : -1;
    int c_exp = roles->experiment_column ? find_col(h, roles->experiment_column) : -1;
    if (c_cell < 0) nomem_miss |= bml__strvec_push(&miss, roles->cell_column);
    if (roles->temperature_column && c_temp < 0) nomem_miss |= bml__strvec_push(&miss, roles->temperature_column);
    if (roles->experiment_column && c_exp < 0) nomem_miss |= bml__strvec_push(&miss, roles->experiment_column);
    if (nomem_miss) {
        bml__strvec_free(&miss);
        goto nomem;
    }
    if (miss.n) {
        char *names = bml__join(miss.items, miss.n, "', '"), *have = bml__join(h->fields, h->n_fields, ", ");
        st = bml__fail(BML_ERR_SCHEMA, "%s:1: missing column(s) '%s' (the header has: %s)", path, names ? names : "?",
                       have ? have : "?");
        free(names);
        free(have);
        bml__strvec_free(&miss);
        goto fail;
    }
    size_t n_target0 = n_time + roles->n_features, n_target_end = n_target0 + roles->n_targets;
    /* pass 1: every row's cell (a hash map from cell id to index: linear in the rows), its meta checked */
    row_cell = bml__calloc(csv.n_rows, sizeof *row_cell);
    if (!row_cell) goto nomem;
    for (size_t i = 1; i < csv.n_rows; i++) {
        const bml__csv_row *r = &csv.rows[i];
        if (r->n_fields != h->n_fields) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields, the header has %zu", path, r->line, r->n_fields, h->n_fields);
            goto fail;
        }
        const char *cid = bml__trim(r->fields[c_cell]);
        const char *why = bml__cell_id_problem(cid);
        if (why) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: cell id '%s' %s", path, r->line, c_cell + 1, cid, why);
            goto fail;
        }
        double temp = NAN;
        long e = 0;
        if (c_temp >= 0 && bml__parse_double(r->fields[c_temp], &temp) != 0) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as a temperature", path, r->line, c_temp + 1,
                           r->fields[c_temp]);
            goto fail;
        }
        if (c_exp >= 0 && (bml__parse_long(r->fields[c_exp], &e) != 0 || e < INT_MIN || e > INT_MAX)) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cannot parse '%s' as an experiment number", path, r->line, c_exp + 1,
                           r->fields[c_exp]);
            goto fail;
        }
        size_t c = 0;
        if (!cell_map_find(&map, ds, (int)e, cid, &c)) { /* a cell is its experiment and id */
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
            cell->temperature_c = temp;
            cell->experiment = (int)e;
            cell->file_column = bml__calloc(nc, sizeof *cell->file_column);
            cell->lines = malloc(sizeof *cell->lines); /* lines[0]: the cell's first line until pass 2 */
            if (!cell->cell_id || !cell->source || !cell->file_column || !cell->lines) goto nomem;
            cell->lines[0] = r->line;
            for (j = 0; j < nc; j++) cell->file_column[j] = src[j] + 1;
            c = ds->n_cells - 1;
            if ((st = cell_map_insert(&map, ds, c)) != BML_OK) goto fail;
        } else {
            /* a cell's temperature holds for all its rows: a row that disagrees is an error */
            const bml__cell *cell = &ds->cells[c];
            if (c_temp >= 0 && temp != cell->temperature_c) {
                st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: cell '%s' has temperature %g here but %g at line %zu", path,
                               r->line, c_temp + 1, cid, temp, cell->temperature_c, cell->lines[0]);
                goto fail;
            }
        }
        row_cell[i] = c;
        ds->cells[c].n_rows++;
    }
    /* pass 2: each cell's rows, in file order, into arrays of their final size */
    for (size_t c = 0; c < ds->n_cells; c++) {
        bml__cell *cell = &ds->cells[c];
        free(cell->lines);
        cell->values = bml__calloc(cell->n_rows * nc, sizeof *cell->values);
        cell->lines = bml__calloc(cell->n_rows, sizeof *cell->lines);
        if (!cell->values || !cell->lines) goto nomem;
        cell->n_rows = 0;
    }
    for (size_t i = 1; i < csv.n_rows; i++) {
        const bml__csv_row *r = &csv.rows[i];
        bml__cell *cell = &ds->cells[row_cell[i]];
        cell->lines[cell->n_rows] = r->line;
        for (j = 0; j < nc; j++) {
            const char *f = bml__trim(r->fields[src[j]]);
            double v = NAN;
            int is_target = j >= n_target0 && j < n_target_end;
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
    free(map.slots);
    free(row_cell);
    free(src);
    bml__csv_free(&csv);
    *out = ds;
    return BML_OK;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
fail:
    free(map.slots);
    free(row_cell);
    free(src);
    bml__csv_free(&csv);
    bml_dataset_free(ds);
    return st;
}

const char *bml__cell_id_problem(const char *id) {
    if (!id || !*id) return "is empty";
    if (id[0] == '.') return "starts with '.' (a cell id names the folder of its fold's model)";
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
        if (*c == '/') return "holds a '/' (a cell id names the folder of its fold's model)";
        if (*c < 0x20 || *c == 0x7f) return "holds a control character";
    }
    return NULL;
}
