/* The dataset every source fills (Oxford, raw cycler data, generic tables, cycle-life data, voltage curves):
 * cells whose rows run over columns identified by role and name, its accessors, and the role look-up the
 * pipelines use. The loaders live beside it (oxford.c, cycler_summary.c, table.c, qdlin.c, curves.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"

static const char *const ROLE_NAMES[BML_ROLE_COUNT] = {
    "set_index", "cycle", "time", "temperature_measured_c", "throughput_ah", "energy_wh", "resistance_ohm",
    "capacity_ah", "soh", "lam_ne", "lam_pe", "lli", "feature", "target", "curve"};

const char *bml_role_name(bml_role role) {
    return (int)role >= 0 && role < BML_ROLE_COUNT ? ROLE_NAMES[role] : "?";
}

bml_dataset *bml__dataset_new(const char *kind, const char *path) {
    bml_dataset *ds = bml__calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->source_kind = kind;
    if (!(ds->path = bml__strdup(path ? path : ""))) {
        free(ds);
        return NULL;
    }
    return ds;
}

bml_status bml__dataset_set_columns(bml_dataset *ds, size_t n, const char *const *names, const char *const *headers) {
    BML__ASSERT(!ds->col_names);
    ds->col_names = bml__calloc(n ? n : 1, sizeof *ds->col_names);
    if (headers) ds->col_headers = bml__calloc(n ? n : 1, sizeof *ds->col_headers);
    if (!ds->col_names || (headers && !ds->col_headers)) return bml__fail(BML_ERR_NOMEM, "out of memory");
    ds->n_cols = n; /* set before the copies: bml_dataset_free frees what was copied */
    for (size_t j = 0; j < n; j++)
        if (!(ds->col_names[j] = bml__strdup(names[j])) || (headers && !(ds->col_headers[j] = bml__strdup(headers[j]))))
            return bml__fail(BML_ERR_NOMEM, "out of memory");
    return BML_OK;
}

void bml__dataset_set_role(bml_dataset *ds, bml_role role, size_t first, size_t n) {
    BML__ASSERT((int)role >= 0 && role < BML_ROLE_COUNT && first + n <= ds->n_cols);
    BML__ASSERT(n <= 1 || role >= BML_ROLE_FEATURE);
    ds->role_first[role] = first;
    ds->role_n[role] = n;
}

size_t bml_dataset_role_columns(const bml_dataset *ds, bml_role role, size_t *first) {
    if ((int)role < 0 || role >= BML_ROLE_COUNT || !ds->role_n[role]) return 0;
    if (first) *first = ds->role_first[role];
    return ds->role_n[role];
}

int bml__dataset_role_col(const bml_dataset *ds, bml_role role) {
    size_t j;
    return bml_dataset_role_columns(ds, role, &j) ? (int)j : -1;
}

bml_status bml__dataset_need_role(const bml_dataset *ds, bml_role role, const char *who, const char *what, int *col) {
    if ((*col = bml__dataset_role_col(ds, role)) >= 0) return BML_OK;
    return bml__fail(BML_ERR_VALUE,
                     "%s needs a column of role '%s' (for %s), but the data of source '%s' (%s) have none%s%s%s",
                     who, bml_role_name(role), what, bml_dataset_source(ds), ds->path,
                     !strcmp(bml_dataset_source(ds), "table") ? " (name it with data." : "",
                     !strcmp(bml_dataset_source(ds), "table") ? bml_role_name(role) : "",
                     !strcmp(bml_dataset_source(ds), "table") ? "_column)" : "");
}

const char *bml__dataset_header(const bml_dataset *ds, size_t j) {
    BML__ASSERT(j < ds->n_cols);
    return ds->col_headers ? ds->col_headers[j] : ds->col_names[j];
}

const char *bml_dataset_source(const bml_dataset *ds) { return ds->source_kind ? ds->source_kind : "?"; }

bml_status bml__dataset_push_cell(bml_dataset *ds, bml__cell *c) {
    if (ds->n_cells == ds->cap_cells) {
        size_t cap = ds->cap_cells ? 2 * ds->cap_cells : 16;
        bml__cell *nc = realloc(ds->cells, cap * sizeof *nc);
        if (!nc) return bml__fail(BML_ERR_NOMEM, "out of memory");
        ds->cells = nc;
        ds->cap_cells = cap;
    }
    ds->cells[ds->n_cells++] = *c;
    return BML_OK;
}

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

void bml__aux_free(bml__aux *a) {
    for (size_t j = 0; a->names && j < a->n_cols; j++) free(a->names[j]);
    free(a->names);
    free(a->values);
    free(a->source);
    memset(a, 0, sizeof *a);
}

void bml__cell_free(bml__cell *c) {
    bml__aux_free(&c->aux[0]);
    bml__aux_free(&c->aux[1]);
    free(c->cell_id);
    free(c->source);
    free(c->values);
    free(c->lines);
    free(c->file_column);
    memset(c, 0, sizeof *c);
}

void bml_dataset_free(bml_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n_curves; i++) {
        free(ds->curves[i].cell_id);
        free(ds->curves[i].source);
        free(ds->curves[i].q);
        free(ds->curves[i].v);
    }
    free(ds->curves);
    if (ds->qdlin) bml__qdlin_detach_values(ds);
    for (size_t i = 0; i < ds->n_cells; i++) bml__cell_free(&ds->cells[i]);
    free(ds->cells);
    for (size_t j = 0; ds->col_names && j < ds->n_cols; j++) free(ds->col_names[j]);
    free(ds->col_names);
    for (size_t j = 0; ds->col_headers && j < ds->n_cols; j++) free(ds->col_headers[j]);
    free(ds->col_headers);
    free(ds->path);
    free(ds->note);
    bml__qdlin_free(ds->qdlin, ds->n_cells);
    free(ds);
}

size_t bml_dataset_n_cells(const bml_dataset *ds) { return ds->n_cells; }
size_t bml_dataset_n_columns(const bml_dataset *ds) { return ds->n_cols; }
size_t bml_dataset_n_curves(const bml_dataset *ds) { return ds->n_curves; }
const char *bml_dataset_column_name(const bml_dataset *ds, size_t j) { return j < ds->n_cols ? ds->col_names[j] : NULL; }
const char *bml_dataset_note(const bml_dataset *ds) { return ds->note ? ds->note : ""; }

int bml_dataset_is_oxford(const bml_dataset *ds) {
    const char *k = bml_dataset_source(ds);
    return !strcmp(k, "oxford") || !strcmp(k, "cycler");
}

size_t bml_dataset_n_rows(const bml_dataset *ds) {
    size_t n = 0;
    for (size_t i = 0; i < ds->n_cells; i++) n += ds->cells[i].n_rows;
    return n;
}

int bml_dataset_column_index(const bml_dataset *ds, const char *name) {
    for (size_t j = 0; j < ds->n_cols; j++)
        if (strcmp(ds->col_names[j], name) == 0) return (int)j;
    return -1;
}

void bml_dataset_cell(const bml_dataset *ds, size_t i, bml_cell_view *v) {
    BML__ASSERT(i < ds->n_cells);
    const bml__cell *c = &ds->cells[i];
    v->experiment = c->experiment;
    v->cell_id = c->cell_id;
    v->temperature_c = c->temperature_c;
    v->source = c->source;
    v->n_rows = c->n_rows;
    v->values = c->values;
    v->lines = c->lines;
}

int bml_dataset_cell_summary(const bml_dataset *ds, size_t i, const char *kind, bml_table_view *view) {
    BML__ASSERT(i < ds->n_cells);
    int k = !strcmp(kind, "cycle") ? 0 : !strcmp(kind, "set") ? 1 : -1;
    if (k < 0) return 0;
    const bml__aux *a = &ds->cells[i].aux[k];
    if (!a->n_rows) return 0;
    view->source = a->source;
    view->n_rows = a->n_rows;
    view->n_columns = a->n_cols;
    view->column_names = (const char *const *)a->names;
    view->values = a->values;
    return 1;
}

/* the names of a span role's columns: consecutive entries of col_names */
static size_t span_names(const bml_dataset *ds, bml_role role, const char *const **names) {
    size_t first = 0, n = bml_dataset_role_columns(ds, role, &first);
    *names = n ? (const char *const *)ds->col_names + first : NULL;
    return n;
}

size_t bml_dataset_role_features(const bml_dataset *ds, const char *const **names) {
    return span_names(ds, BML_ROLE_FEATURE, names);
}

size_t bml_dataset_role_targets(const bml_dataset *ds, const char *const **names) {
    return span_names(ds, BML_ROLE_TARGET, names);
}
