/* Cycle-life data from raw cycler exports (data=cycler_life, see cycler_life.h): each file's per-cycle discharge
 * curves on the Qdlin voltage grid (bml__cycler_summarize_qv), its cycle life from its per-cycle discharge
 * capacity, and its set from an optional index; the dataset is the one bml_dataset_load_qdlin makes. */
#define _DEFAULT_SOURCE
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/csvread.h"
#include "data/cycler_internal.h"
#include "data/cycler_life.h"
#include "data/dataset_internal.h"

void bml__cycler_life_opts_default(bml__cycler_life_opts *o) {
    memset(o, 0, sizeof *o);
    o->format = BML_CYCLER_AUTO;
    o->summary = bml_cycler_summary_defaults();
    o->v_start = 3.6, o->v_end = 2.0;
    o->n_points = 1000, o->n_cycles = 99, o->first_cycle = 2;
    o->threshold_fraction = 0.8;
    o->reference = BML__LIFE_REF_INITIAL;
    o->nominal_ah = NAN;
    o->initial_cycles = 5;
}

/* ------------------------------------------------------------------ the index: cell -> set */
typedef struct {
    bml__strvec cells, sets;
    size_t *lines;
    char *used; /* (cells.n) a cell of the data took the row */
    char *path;
} life_index;

static void index_free(life_index *x) {
    bml__strvec_free(&x->cells);
    bml__strvec_free(&x->sets);
    free(x->lines);
    free(x->used);
    free(x->path);
}

static bml_status index_read(const char *path, life_index *x) {
    memset(x, 0, sizeof *x);
    if (!(x->path = bml__strdup(path))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml__csv csv;
    BML__TRY(bml__csv_read(path, 0, &csv));
    bml_status st = BML_OK;
    int c_cell = -1, c_split = -1;
    if (csv.n_rows == 0) st = bml__fail(BML_ERR_EMPTY, "%s: empty index (a header cell,split expected)", path);
    for (size_t j = 0; st == BML_OK && j < csv.rows[0].n_fields; j++) {
        if (!strcmp(csv.rows[0].fields[j], "cell")) c_cell = (int)j;
        if (!strcmp(csv.rows[0].fields[j], "split")) c_split = (int)j;
    }
    if (st == BML_OK && (c_cell < 0 || c_split < 0))
        st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: the header has no '%s' column (cell and split are required)", path, csv.rows[0].line,
                       c_cell < 0 ? "cell" : "split");
    x->lines = bml__calloc(csv.n_rows + 1, sizeof *x->lines);
    if (st == BML_OK && !x->lines) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t r = 1; st == BML_OK && r < csv.n_rows; r++) {
        const bml__csv_row *row = &csv.rows[r];
        if (row->n_fields != csv.rows[0].n_fields) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: %zu fields, the header has %zu", path, row->line, row->n_fields,
                           csv.rows[0].n_fields);
            break;
        }
        const char *cell = bml__trim(row->fields[c_cell]);
        int prev = bml__strvec_find(&x->cells, cell);
        if (!*cell) st = bml__fail(BML_ERR_SCHEMA, "%s:%zu:%d: empty cell name", path, row->line, c_cell + 1);
        else if (prev >= 0)
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: cell '%s' is listed twice (first at line %zu)", path, row->line, c_cell + 1, cell,
                           x->lines[prev]);
        else if (bml__strvec_push(&x->cells, cell) || bml__strvec_push(&x->sets, bml__trim(row->fields[c_split])))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else x->lines[x->cells.n - 1] = row->line;
    }
    if (st == BML_OK && x->cells.n == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no cells listed", path);
    if (st == BML_OK && !(x->used = bml__calloc(x->cells.n, 1))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    bml__csv_free(&csv);
    return st;
}

/* ------------------------------------------------------------------ one file */
static bml_status cell_id_of(const bml_cycler_summary *s, const char *cell_from, const char **out) {
    const char *from = cell_from && *cell_from ? cell_from : "file";
    const char *id = !strcmp(from, "file") ? s->meta.cell : !strcmp(from, "barcode") ? s->meta.barcode : s->meta.channel;
    if (!id || !*id) return bml__fail(BML_ERR_VALUE, "%s: cell_from=%s but the file gives no %s", s->meta.path, from, from);
    const char *why = bml__cell_id_problem(id);
    if (why) return bml__fail(BML_ERR_VALUE, "%s: cell_from=%s: '%s' cannot be a cell id: it %s", s->meta.path, from, id, why);
    *out = id;
    return BML_OK;
}

/* The cell's Q(V) matrix: rows = cycles first .. first + n_cycles - 1, each one's discharge curve. */
static bml_status cell_matrix(const bml_cycler_summary *s, const bml__cycler_life_opts *o, const double *grid, bml__cell *c) {
    const size_t P = o->n_points, R = o->n_cycles;
    const char *file = s->meta.path;
    c->values = bml__calloc(R * P, sizeof *c->values);
    c->lines = bml__calloc(R, sizeof *c->lines);
    c->file_column = bml__calloc(P, sizeof *c->file_column); /* 0: no column of the file holds them */
    if (!c->values || !c->lines || !c->file_column) return bml__fail(BML_ERR_NOMEM, "out of memory");
    c->n_rows = R;
    long last = o->first_cycle + (long)R - 1;
    size_t i = 0;
    for (size_t k = 0; k < R; k++) {
        long want = o->first_cycle + (long)k;
        while (i < s->n_cycles && s->cycles[i].cycle < want) i++;
        if (i == s->n_cycles || s->cycles[i].cycle != want) {
            if (s->n_cycles == 0) return bml__fail(BML_ERR_EMPTY, "%s: no cycles", file);
            return bml__fail(BML_ERR_VALUE, "%s: no cycle %ld: the Q(V) matrix needs cycles %ld..%ld (data.first_cycle, data.cycles) "
                                            "and the file's cycles run %ld..%ld",
                             file, want, o->first_cycle, last, s->cycles[0].cycle, s->cycles[s->n_cycles - 1].cycle);
        }
        const bml_cycler_cycle *y = &s->cycles[i];
        const double *q = y->discharge_curve_ah;
        if (!(y->discharge_ah > 0) || !q || isnan(q[0]))
            return bml__fail(BML_ERR_VALUE, "%s:%zu: cycle %ld has no discharge, and the Q(V) matrix needs cycles %ld..%ld", file,
                             y->first_line, want, o->first_cycle, last);
        for (size_t g = 0; g < P; g++) {
            if (!isfinite(q[g]))
                return bml__fail(BML_ERR_VALUE, "%s:%zu: cycle %ld: no discharge capacity at %.4f V (a voltage that is not a number?)",
                                 file, y->first_line, want, grid[g]);
            c->values[k * P + g] = q[g];
        }
        c->lines[k] = y->first_line;
    }
    return BML_OK;
}

/* The cell's life: the first cycle (of those a later cycle follows: the last one may be cut short) whose discharge
 * capacity is at or below the threshold; NaN when none is (censored). *thr and *min_cap for the note. */
static bml_status cell_life(const bml_cycler_summary *s, const bml__cycler_life_opts *o, double *life, double *thr, double *ref,
                            double *min_cap, size_t *n_used) {
    const char *file = s->meta.path;
    *life = NAN, *min_cap = INFINITY, *n_used = 0;
    if (o->reference == BML__LIFE_REF_NOMINAL) {
        *ref = o->nominal_ah > 0 ? o->nominal_ah : s->meta.nominal_capacity_ah;
        if (!(*ref > 0))
            return bml__fail(BML_ERR_VALUE, "%s: data.life_reference=nominal but neither data.life_nominal_ah nor the file gives a "
                                            "nominal capacity", file);
    } else {
        double sum = 0;
        size_t k = 0;
        for (size_t i = 0; i < s->n_cycles && k < o->initial_cycles; i++)
            if (s->cycles[i].complete && s->cycles[i].discharge_ah > 0) sum += s->cycles[i].discharge_ah, k++;
        if (k < o->initial_cycles)
            return bml__fail(BML_ERR_VALUE, "%s: data.life_reference=initial averages the first %zu cycles with a discharge, the file "
                                            "has %zu", file, o->initial_cycles, k);
        *ref = sum / (double)k;
    }
    *thr = o->threshold_fraction * *ref;
    for (size_t i = 0; i < s->n_cycles; i++) {
        const bml_cycler_cycle *y = &s->cycles[i];
        if (!y->complete || !(y->discharge_ah > 0)) continue;
        ++*n_used;
        if (y->discharge_ah < *min_cap) *min_cap = y->discharge_ah;
        if (y->discharge_ah <= *thr) {
            *life = (double)y->cycle;
            break;
        }
    }
    if (!isnan(*life) && !(*life > 0))
        return bml__fail(BML_ERR_VALUE, "%s: the capacity is at or below the threshold (%.6g Ah) at cycle %.0f: a cycle life must be "
                                        "a positive cycle number", file, *thr, *life);
    return BML_OK;
}

/* ------------------------------------------------------------------ the dataset */
static bml_status check_opts(const bml__cycler_life_opts *o) {
    if (o->n_points < 2) return bml__fail(BML_ERR_VALUE, "cycler_life: the voltage grid needs at least 2 points (got %zu)", o->n_points);
    if (!isfinite(o->v_start) || !isfinite(o->v_end) || o->v_start == o->v_end)
        return bml__fail(BML_ERR_VALUE, "cycler_life: the voltage grid's ends must be two different finite voltages");
    if (o->n_cycles < 1 || o->n_cycles > 100000000)
        return bml__fail(BML_ERR_VALUE, "cycler_life: data.cycles must be 1 to 100000000 (got %zu)", o->n_cycles);
    if (o->first_cycle < 0 || o->first_cycle > INT_MAX - (long)o->n_cycles)
        return bml__fail(BML_ERR_VALUE, "cycler_life: data.first_cycle %ld is out of range", o->first_cycle);
    if (!(o->threshold_fraction > 0 && o->threshold_fraction <= 1))
        return bml__fail(BML_ERR_VALUE, "cycler_life: data.life_threshold_fraction must be in (0, 1], got %g", o->threshold_fraction);
    if (o->reference != BML__LIFE_REF_INITIAL && o->reference != BML__LIFE_REF_NOMINAL)
        return bml__fail(BML_ERR_VALUE, "cycler_life: the life reference must be initial or nominal");
    if (o->reference == BML__LIFE_REF_INITIAL && o->initial_cycles < 1)
        return bml__fail(BML_ERR_VALUE, "cycler_life: data.life_initial_cycles must be at least 1");
    if (!isnan(o->nominal_ah) && !(o->nominal_ah >= 0 && isfinite(o->nominal_ah)))
        return bml__fail(BML_ERR_VALUE, "cycler_life: data.life_nominal_ah must be a positive number of Ah (0: the file's)");
    return BML_OK;
}

/* ---- the files' summaries on several threads (o->summary.jobs > 1): each file's summary and low-discharge
 * count kept in its slot (its failure too: bml__parallel_try), then taken in file order as one at a time takes
 * them: the same dataset, note and first error at any count */
typedef struct {
    char **files;
    const bml__cycler_life_opts *o;
    bml_cycler_summary **sum;
    bml__cycler_qv *qv;
    bml_status *st;
    char **err;
} life_set;

static bml_status life_task(void *arg, size_t i) {
    life_set *p = arg;
    return bml__cycler_summarize_qv(p->files[i], p->o->format, &p->o->summary, &p->qv[i], &p->sum[i]);
}

bml_status bml__dataset_load_cycler_life(const char *path, const bml__cycler_life_opts *o, bml_dataset **out) {
    *out = NULL;
    BML__TRY(check_opts(o));
    const size_t P = o->n_points;
    life_index idx;
    memset(&idx, 0, sizeof idx);
    int have_index = o->index && *o->index;
    if (have_index) {
        bml_status st = index_read(o->index, &idx);
        if (st != BML_OK) {
            index_free(&idx);
            return st;
        }
    }
    char **files = NULL;
    size_t n = 0;
    bml_status st = bml_cycler_list(path, o->format, &files, &n, NULL);
    bml_dataset *ds = NULL;
    bml__qdlin *q = NULL;
    double *grid = NULL;
    if (st == BML_OK) {
        ds = bml__dataset_new("cycler_life", path);
        q = bml__calloc(1, sizeof *q);
        if (ds) ds->qdlin = q;
        if (q) {
            q->n_points = P;
            q->first_cycle = (int)o->first_cycle;
            q->grid = grid = bml__calloc(P, sizeof *q->grid);
            q->life = bml__calloc(n, sizeof *q->life);
            q->split = bml__calloc(n, sizeof *q->split);
            q->file = bml__calloc(n ? n : 1, sizeof *q->file);
            q->attr_values = bml__calloc(1, sizeof *q->attr_values);
        }
        if (!ds || !q || !q->grid || !q->life || !q->split || !q->file || !q->attr_values) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            if (!ds) bml__qdlin_free(q, 0);
        }
    }
    if (st == BML_OK) {
        ds->n_cols = P;
        ds->col_names = bml__calloc(P, sizeof *ds->col_names);
        if (!ds->col_names) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t i = 0; st == BML_OK && i < P; i++) { /* the grid of bml_dataset_load_qdlin, to the bit */
            grid[i] = o->v_start + (o->v_end - o->v_start) * (double)i / (double)(P - 1);
            if (!(ds->col_names[i] = bml__sprintf("Q@%.4fV", grid[i]))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        if (st == BML_OK) bml__dataset_set_role(ds, BML_ROLE_CURVE, 0, P);
    }
    bml__sb cens = {0}, low = {0};
    size_t n_cens = 0;
    const bml__cycler_qv qv0 = {grid, P, o->first_cycle, o->first_cycle + (long)o->n_cycles - 1, 0, 0};
    life_set par = {files, o, NULL, NULL, NULL, NULL};
    if (st == BML_OK && o->summary.jobs > 1 && n > 1) {
        par.sum = bml__calloc(n, sizeof *par.sum), par.qv = bml__calloc(n, sizeof *par.qv);
        par.st = bml__calloc(n, sizeof *par.st), par.err = bml__calloc(n, sizeof *par.err);
        if (!par.sum || !par.qv || !par.st || !par.err) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t f = 0; st == BML_OK && f < n; f++) par.qv[f] = qv0;
        if (st == BML_OK) bml__parallel_try(n, o->summary.jobs, life_task, &par, par.st, par.err, NULL);
    }
    for (size_t f = 0; st == BML_OK && f < n; f++) {
        bml__cycler_qv qv = qv0;
        bml_cycler_summary *s = NULL;
        if (par.sum) {
            s = par.sum[f], par.sum[f] = NULL, qv = par.qv[f];
            st = bml__task_status(par.st[f], par.err[f]);
        } else
            st = bml__cycler_summarize_qv(files[f], o->format, &o->summary, &qv, &s);
        if (st != BML_OK) break;
        const char *id = NULL;
        bml__cell c;
        memset(&c, 0, sizeof c);
        c.temperature_c = NAN;
        double life = NAN, thr = NAN, ref = NAN, min_cap = NAN;
        size_t n_used = 0;
        char *set = NULL;
        st = cell_id_of(s, o->cell_from, &id);
        for (size_t k = 0; st == BML_OK && k < ds->n_cells; k++)
            if (!strcmp(ds->cells[k].cell_id, id))
                st = bml__fail(BML_ERR_VALUE, "%s and %s: two files of one cell '%s'", ds->cells[k].source, files[f], id);
        if (st == BML_OK) {
            int k = have_index ? bml__strvec_find(&idx.cells, id) : -1;
            if (have_index && k < 0 && !o->index_partial)
                st = bml__fail(BML_ERR_NOT_FOUND, "%s: the index names no cell '%s' (the cell of %s)", idx.path, id, files[f]);
            else if (!(set = bml__strdup(k >= 0 ? idx.sets.items[k] : "")))
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
            if (k >= 0) idx.used[k] = 1;
        }
        if (st == BML_OK && (!(c.cell_id = bml__strdup(id)) || !(c.source = bml__strdup(files[f]))))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) st = cell_matrix(s, o, grid, &c);
        if (st == BML_OK) st = cell_life(s, o, &life, &thr, &ref, &min_cap, &n_used);
        if (st == BML_OK) {
            double tsum = 0;
            size_t tn = 0;
            for (size_t i = 0; i < s->n_cycles; i++)
                if (!isnan(s->cycles[i].temperature_mean_c)) tsum += s->cycles[i].temperature_mean_c, tn++;
            c.temperature_c = tn ? tsum / (double)tn : NAN;
        }
        if (st == BML_OK && isnan(life)) { /* censored: said under the load line, by name */
            bml__sb_fmt(&cens, "%s%s (lowest %.4g Ah over %zu cycles > %.4g Ah)", n_cens ? ", " : "", id, min_cap, n_used, thr);
            n_cens++;
        }
        if (st == BML_OK && qv.n_low)
            bml__sb_fmt(&low, "%s%s: %zu cycle(s) from cycle %ld", low.len ? "; " : "", id, qv.n_low, qv.low_first);
        if (st == BML_OK) st = bml__dataset_push_cell(ds, &c);
        if (st == BML_OK) {
            q->life[ds->n_cells - 1] = life;
            q->split[ds->n_cells - 1] = set;
            set = NULL;
            /* the file as predict names it: its path below the folder (the file itself when path is one) */
            size_t pl = strlen(path);
            const char *rel = !strncmp(files[f], path, pl) && files[f][pl] == '/' ? files[f] + pl + 1 : NULL;
            if (!rel) rel = strrchr(files[f], '/') ? strrchr(files[f], '/') + 1 : files[f];
            if (!(q->file[ds->n_cells - 1] = bml__strdup(rel))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        } else {
            bml__cell_free(&c);
        }
        free(set);
        bml_cycler_summary_free(s);
    }
    for (size_t k = 0; st == BML_OK && have_index && !o->index_partial && k < idx.cells.n; k++)
        if (!idx.used[k])
            st = bml__fail(BML_ERR_NOT_FOUND, "%s:%zu: cell '%s' is no cell of %s", idx.path, idx.lines[k], idx.cells.items[k], path);
    if (st == BML_OK) {
        bml__sb note = {0};
        const char *ref = o->reference == BML__LIFE_REF_NOMINAL ? "the nominal capacity" : "the first cycles' mean";
        if (n_cens)
            bml__sb_fmt(&note, "%zu cell(s) censored, their capacity never at or below %g x %s: no life, predicted but left out of "
                               "fitting and metrics: %.*s", n_cens, o->threshold_fraction, ref, (int)cens.len, cens.buf ? cens.buf : "");
        if (low.len)
            bml__sb_fmt(&note, "%sdischarges that stop above %.4g V, Q(V) held at their lowest voltage's capacity below it: %.*s",
                        note.len ? "; " : "", grid[P - 1] < grid[0] ? grid[P - 1] : grid[0], (int)low.len, low.buf);
        if (note.len) {
            bml__sb_put(&note, "", 1);
            if (note.nomem) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            else ds->note = note.buf, note.buf = NULL;
        }
        free(note.buf);
    }
    if (st == BML_OK && (cens.nomem || low.nomem)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0; par.sum && f < n; f++) bml_cycler_summary_free(par.sum[f]);
    for (size_t f = 0; par.err && f < n; f++) free(par.err[f]);
    free(par.sum), free(par.qv), free(par.st), free(par.err);
    free(cens.buf);
    free(low.buf);
    for (size_t f = 0; f < n; f++) free(files[f]);
    free(files);
    index_free(&idx);
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    *out = ds;
    return BML_OK;
}
