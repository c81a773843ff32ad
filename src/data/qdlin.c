/* Cycle-life data in the published "Qdlin" layout (Severson et al. 2019, as processed by Attia et al. 2021):
 * a folder of per-cell capacity matrices on a voltage grid with an index of cycle lives. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "batteryml/parallel.h"
#include "data/csvread.h"
#include "data/dataset_internal.h"

void bml_qdlin_opts_default(bml_qdlin_opts *o) { bml_qdlin_opts_init(o); }

void bml__qdlin_detach_values(bml_dataset *ds) {
    bml__qdlin *q = ds->qdlin;
    if (!q || !q->arena) return;
    const char *a = (const char *)q->arena, *b = a + q->arena_len;
    for (size_t i = 0; i < ds->n_cells; i++) {
        const char *v = (const char *)ds->cells[i].values;
        if (v && v >= a && v < b) ds->cells[i].values = NULL;
    }
}

void bml__qdlin_free(bml__qdlin *q, size_t n_cells) {
    if (!q) return;
    if (q->arena) munmap(q->arena, q->arena_len);
    free(q->grid);
    for (size_t i = 0; q->split && i < n_cells; i++) free(q->split[i]);
    free(q->split);
    for (size_t i = 0; q->file && i < n_cells; i++) free(q->file[i]);
    free(q->file);
    for (size_t i = 0; q->attr_values && i < n_cells * q->attr_names.n; i++) free(q->attr_values[i]);
    free(q->attr_values);
    bml__strvec_free(&q->attr_names);
    free(q->life);
    free(q);
}

/* ------------------------------------------------------------------ the numeric matrix */
/* Parse a comma-separated numeric matrix without header from buf (len bytes; read in place, not modified). Every
 * field must be a finite number (bml__scan_double: strtod's double, blanks around a field allowed); every row has
 * as many fields as the first. The values, (*rows, *cols) row-major, into the caller's *out of *cap values (grown
 * with realloc; the caller frees it, also on failure). */
static bml_status parse_matrix(const char *path, const char *buf, size_t len, double **out, size_t *out_cap, size_t *rows,
                               size_t *cols) {
    *rows = *cols = 0;
    const char *p = buf, *end = buf + len;
    if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    size_t n_rows = 0, n_cols = 0, cap = *out_cap, n = 0, line = 0;
    double *v = *out;
    bml_status st = BML_OK;
    while (p < end && st == BML_OK) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *next = eol < end ? eol + 1 : end, *le = eol;
        if (le > p && le[-1] == '\r') le--;
        if (le == p) { /* an empty line: only at the end */
            const char *q = next;
            while (q < end && (*q == '\n' || *q == '\r' || *q == ' ' || *q == '\t')) q++;
            if (q < end) st = bml__fail(BML_ERR_PARSE, "%s:%zu: empty line inside the matrix", path, line);
            break;
        }
        size_t col = 0;
        const char *f = p;
        for (;;) {
            col++;
            if (n_rows > 0 && col > n_cols) {
                st = bml__fail(BML_ERR_SCHEMA, "%s:%zu:%zu: more fields than the %zu of line 1", path, line, col, n_cols);
                break;
            }
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 4096;
                double *nv = nc <= SIZE_MAX / sizeof *v ? realloc(v, nc * sizeof *v) : NULL;
                if (!nv) {
                    st = bml__fail(BML_ERR_NOMEM, "out of memory reading %s", path);
                    break;
                }
                *out = v = nv;
                *out_cap = cap = nc;
            }
            const char *sep;
            int rc = bml__scan_double(f, le, ',', &v[n], &sep);
            if (rc != 0) {
                st = rc == -2 ? bml__fail(BML_ERR_NOMEM, "out of memory reading %s", path)
                              : bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: '%.*s' is not a finite number", path, line, col,
                                          (int)(sep - f), f);
                break;
            }
            n++;
            if (sep >= le) break;
            f = sep + 1;
        }
        if (st != BML_OK) break;
        if (n_rows == 0) n_cols = col;
        else if (col != n_cols)
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: %zu fields, line 1 has %zu", path, line, col, n_cols);
        n_rows++;
        p = next;
    }
    if (st == BML_OK && n_rows == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no numbers", path);
    if (st != BML_OK) return st;
    *rows = n_rows;
    *cols = n_cols;
    return BML_OK;
}

/* ------------------------------------------------------------------ the index */
typedef struct {
    char *rel;      /* the file as the index names it */
    char *index;    /* the index file */
    size_t line;    /* its line there */
    double life;
    char *split;
    char **attrs;   /* (n_attr) */
} entry;

typedef struct {
    entry *e;
    size_t n, cap;
    bml__strvec attr_names; /* moved to the dataset once it exists */
    size_t n_attr;          /* entries of every attrs (attr_names.n before the move) */
} index_list;

static void index_free(index_list *L) {
    for (size_t i = 0; i < L->n; i++) {
        free(L->e[i].rel);
        free(L->e[i].index);
        free(L->e[i].split);
        for (size_t k = 0; L->e[i].attrs && k < L->n_attr; k++) free(L->e[i].attrs[k]);
        free(L->e[i].attrs);
    }
    free(L->e);
    bml__strvec_free(&L->attr_names);
}

static entry *index_push(index_list *L) {
    if (L->n == L->cap) {
        size_t nc = L->cap ? 2 * L->cap : 64;
        entry *ne = realloc(L->e, nc * sizeof *ne);
        if (!ne) return NULL;
        L->e = ne;
        L->cap = nc;
    }
    entry *e = &L->e[L->n++];
    memset(e, 0, sizeof *e);
    e->life = NAN;
    return e;
}

/* A life field: empty (unknown, NaN) or a positive finite number. */
static bml_status parse_life(const char *index, size_t line, int col, const char *text, double *out) {
    char *s = bml__strdup(text);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *t = bml__trim(s);
    bml_status st = BML_OK;
    if (!*t) *out = NAN;
    else if (bml__parse_double(t, out) != 0)
        st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: cycle life '%s' is not a number", index, line, col, t);
    else if (!(*out > 0))
        st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: cycle life %s is not positive", index, line, col, t);
    free(s);
    return st;
}

static int find_col(const bml__csv_row *h, const char *name) {
    for (size_t j = 0; j < h->n_fields; j++)
        if (!strcmp(h->fields[j], name)) return (int)j;
    return -1;
}

/* cells.csv: file, cycle_life, [split], further columns kept as attributes */
static bml_status read_cells_index(const char *index, index_list *L) {
    bml__csv csv;
    BML__TRY(bml__csv_read(index, 0, &csv));
    bml_status st = BML_OK;
    int c_file = -1, c_life = -1, c_split = -1;
    if (csv.n_rows == 0) st = bml__fail(BML_ERR_EMPTY, "%s: empty index (a header file,cycle_life[,split,...] expected)", index);
    else {
        const bml__csv_row *h = &csv.rows[0];
        c_file = find_col(h, "file"), c_life = find_col(h, "cycle_life"), c_split = find_col(h, "split");
        if (c_file < 0 || c_life < 0)
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: the header has no '%s' column (file and cycle_life are required)", index,
                           h->line, c_file < 0 ? "file" : "cycle_life");
        for (size_t j = 0; st == BML_OK && j < h->n_fields; j++)
            if ((int)j != c_file && (int)j != c_life && (int)j != c_split && bml__strvec_push(&L->attr_names, h->fields[j]))
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
        L->n_attr = L->attr_names.n;
    }
    for (size_t r = 1; st == BML_OK && r < csv.n_rows; r++) {
        const bml__csv_row *row = &csv.rows[r];
        if (row->n_fields != csv.rows[0].n_fields) {
            st = bml__fail(BML_ERR_SCHEMA, "%s:%zu: %zu fields, the header has %zu", index, row->line, row->n_fields,
                           csv.rows[0].n_fields);
            break;
        }
        entry *e = index_push(L);
        if (!e) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        e->line = row->line;
        e->rel = bml__strdup(row->fields[c_file]);
        e->index = bml__strdup(index);
        e->split = bml__strdup(c_split >= 0 ? row->fields[c_split] : "");
        e->attrs = bml__calloc(L->attr_names.n ? L->attr_names.n : 1, sizeof *e->attrs);
        if (!e->rel || !e->index || !e->split || !e->attrs) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t j = 0, k = 0; j < row->n_fields && st == BML_OK; j++)
            if ((int)j != c_file && (int)j != c_life && (int)j != c_split)
                if (!(e->attrs[k++] = bml__strdup(row->fields[j]))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st != BML_OK) break;
        if (!*bml__trim(e->rel)) st = bml__fail(BML_ERR_SCHEMA, "%s:%zu:%d: empty file name", index, row->line, c_file + 1);
        else st = parse_life(index, row->line, c_life + 1, row->fields[c_life], &e->life);
    }
    if (st == BML_OK && L->n == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no cells listed", index);
    bml__csv_free(&csv);
    return st;
}

/* <split>_cycle_lives.csv: one life per line for <split>/cell1.csv, <split>/cell2.csv, ... */
static bml_status read_lives_file(const char *index, const char *split, index_list *L) {
    char *buf = NULL;
    size_t len = 0;
    BML__TRY(bml__read_file(index, &buf, &len));
    bml_status st = BML_OK;
    size_t line = 0, k = 0;
    char *p = buf, *end = buf + len;
    while (p < end && st == BML_OK) {
        line++;
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        *eol = '\0';
        char *t = bml__trim(p);
        p = eol + 1;
        if (!*t) { /* blank lines only at the end */
            char *q = p;
            while (q < end && (*q == '\n' || *q == '\r' || *q == ' ' || *q == '\t')) q++;
            if (q < end) st = bml__fail(BML_ERR_PARSE, "%s:%zu: empty line (one cycle life per line)", index, line);
            break;
        }
        entry *e = index_push(L);
        if (!e) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        k++;
        e->line = line;
        e->rel = bml__sprintf("%s/cell%zu.csv", split, k);
        e->index = bml__strdup(index);
        e->split = bml__strdup(split);
        e->attrs = bml__calloc(1, sizeof *e->attrs);
        if (!e->rel || !e->index || !e->split || !e->attrs) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else st = parse_life(index, line, 1, t, &e->life);
    }
    if (st == BML_OK && k == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no cycle lives", index);
    free(buf);
    return st;
}

/* "cell2.csv" before "cell10.csv": runs of digits compared as numbers (then as text, for "01" vs "1") */
static int natural_cmp(const void *pa, const void *pb) {
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *a0 = a, *b0 = b;
            while (*a0 == '0') a0++;
            while (*b0 == '0') b0++;
            const char *ae = a0, *be = b0;
            while (*ae >= '0' && *ae <= '9') ae++;
            while (*be >= '0' && *be <= '9') be++;
            if (ae - a0 != be - b0) return ae - a0 < be - b0 ? -1 : 1;
            int c = strncmp(a0, b0, (size_t)(ae - a0));
            if (c) return c;
            a = ae, b = be;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++, b++;
    }
    if (*a || *b) return *a ? 1 : -1;
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* A folder without an index (new cells to predict): every regular *.csv file in it is a cell of unknown life,
 * in natural name order (cell2.csv before cell10.csv); the entries' index is the folder itself. */
static bml_status read_unindexed(const char *dir, index_list *L) {
    DIR *d = opendir(dir);
    if (!d) return bml__fail(BML_ERR_NOT_FOUND, "%s: cannot open the folder", dir);
    bml__strvec names = {0};
    bml_status st = BML_OK;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n <= 4 || strcmp(de->d_name + n - 4, ".csv") != 0) continue;
        char *p = bml__path_join(dir, de->d_name);
        int is_file = p && bml__is_file(p);
        free(p);
        if (is_file && bml__strvec_push(&names, de->d_name)) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
    }
    closedir(d);
    if (st == BML_OK && names.n == 0)
        st = bml__fail(BML_ERR_NOT_FOUND,
                       "%s: no index (neither cells.csv nor any <split>_cycle_lives.csv) and no cell file (*.csv) to predict", dir);
    if (st == BML_OK) qsort(names.items, names.n, sizeof *names.items, natural_cmp);
    for (size_t i = 0; st == BML_OK && i < names.n; i++) {
        entry *e = index_push(L);
        if (!e) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        e->rel = bml__strdup(names.items[i]);
        e->index = bml__strdup(dir);
        e->split = bml__strdup("");
        e->attrs = bml__calloc(1, sizeof *e->attrs);
        if (!e->rel || !e->index || !e->split || !e->attrs) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml__strvec_free(&names);
    return st;
}

static bml_status read_lives_files(const char *dir, index_list *L) {
    DIR *d = opendir(dir);
    if (!d) return bml__fail(BML_ERR_NOT_FOUND, "%s: cannot open the folder", dir);
    bml__strvec names = {0};
    bml_status st = BML_OK;
    static const char suffix[] = "_cycle_lives.csv";
    const size_t ls = sizeof suffix - 1;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t n = strlen(de->d_name);
        if (n > ls && !strcmp(de->d_name + n - ls, suffix) && bml__strvec_push(&names, de->d_name)) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
    }
    closedir(d);
    if (st == BML_OK && names.n == 0) {
        bml__strvec_free(&names);
        return read_unindexed(dir, L);
    }
    if (st == BML_OK) qsort(names.items, names.n, sizeof *names.items, bml__strcmp_ptr);
    for (size_t i = 0; st == BML_OK && i < names.n; i++) {
        char *split = bml__strndup(names.items[i], strlen(names.items[i]) - ls);
        char *path = bml__path_join(dir, names.items[i]);
        st = split && path ? read_lives_file(path, split, L) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(split);
        free(path);
    }
    bml__strvec_free(&names);
    return st;
}

/* ------------------------------------------------------------------ loading */
/* The caller's buffers for one file: its text and its numbers as read (grown as needed). Freed by the caller. */
typedef struct {
    char *text;
    size_t text_cap;
    double *num;
    size_t num_cap;
} load_buf;

/* One cell's file into c (values, lines, file_column, source) and *real (its resolved path). n_cycles: the cycles
 * every file has (0: any; the caller takes the first file's). dest: where the values go (room for o->n_points x
 * n_cycles; NULL: malloc'ed). */
static bml_status load_cell(const char *dir, const entry *e, const bml_qdlin_opts *o, size_t n_cycles, double *dest,
                            bml__cell *c, char **real, load_buf *lb) {
    char *path = e->rel[0] == '/' ? bml__strdup(e->rel) : bml__path_join(dir, e->rel);
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!bml__is_file(path)) {
        bml_status st = bml__fail(BML_ERR_NOT_FOUND, "%s:%zu: file '%s' not found (%s)", e->index, e->line, e->rel, path);
        free(path);
        return st;
    }
    *real = realpath(path, NULL);
    size_t len = 0;
    size_t rows = 0, cols = 0;
    bml_status st = *real ? bml__read_file_into(path, &lb->text, &lb->text_cap, &len)
                          : bml__fail(BML_ERR_IO, "%s: cannot resolve the path", path);
    if (st == BML_OK) st = parse_matrix(path, lb->text, len, &lb->num, &lb->num_cap, &rows, &cols);
    const double *m = lb->num;
    size_t n_pts = o->transposed ? cols : rows, n_cyc = o->transposed ? rows : cols;
    if (st == BML_OK && (n_pts != o->n_points || (n_cycles && n_cyc != n_cycles)))
        st = bml__fail(BML_ERR_SCHEMA,
                       "%s: %zu rows x %zu columns, expected %zu x %zu (%s; %s %s%s%.0zu)", path, rows, cols,
                       o->transposed ? (n_cycles ? n_cycles : rows) : o->n_points,
                       o->transposed ? o->n_points : (n_cycles ? n_cycles : cols),
                       o->transposed ? "rows = cycles, columns = voltage grid points" : "rows = voltage grid points, columns = cycles",
                       e->line ? "listed at" : "a cell file of the folder", e->index, e->line ? ":" : " (no index)",
                       e->line);
    if (st == BML_OK) {
        c->n_rows = n_cyc;
        c->source = path;
        path = NULL;
        c->values = dest && n_cycles ? dest : malloc(n_cyc * n_pts * sizeof *c->values);
        if (c->values && o->transposed) /* n_pts * n_cyc: m holds it */
            memcpy(c->values, m, n_cyc * n_pts * sizeof *c->values);
        else if (c->values)
            for (size_t k0 = 0; k0 < n_cyc; k0 += 16) /* in blocks of 16 cycles: 16 pages written at a time, not 99 */
                for (size_t i = 0; i < n_pts; i++)
                    for (size_t k = k0; k < n_cyc && k < k0 + 16; k++) c->values[k * n_pts + i] = m[i * n_cyc + k];
        if (!c->values) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        c->lines = bml__calloc(n_cyc, sizeof *c->lines);
        c->file_column = bml__calloc(n_pts, sizeof *c->file_column);
        if (!c->lines || !c->file_column) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t k = 0; st == BML_OK && o->transposed && k < n_cyc; k++) c->lines[k] = k + 1;
    }
    free(path);
    return st;
}

/* ---- the cells' files on several threads (bml__parallel_try): each cell's result (and a failure with its
 * message) kept in its slot, for the caller to take in file order */
typedef struct {
    const char *dir;
    const entry *e;
    const bml_qdlin_opts *o;
    size_t n_cycles;
    double *arena; /* cell i's values at arena + (i - 1) * n_points * n_cycles; NULL: malloc'ed */
    bml__cell *cells;
    char **reals;
} load_job;

/* task t: cell t + 1 (cell 0 is loaded first, alone) */
static bml_status load_task(void *ctx, size_t t) {
    load_job *p = ctx;
    size_t i = t + 1;
    load_buf lb = {0};
    double *dest = p->arena ? p->arena + (i - 1) * p->o->n_points * p->n_cycles : NULL;
    bml_status st = load_cell(p->dir, &p->e[i], p->o, p->n_cycles, dest, &p->cells[i], &p->reals[i], &lb);
    free(lb.text);
    free(lb.num);
    return st;
}

/* "train/cell1.csv" -> "train_cell1" */
static char *cell_id_of(const char *rel) {
    const char *s = rel;
    while (s[0] == '.' && s[1] == '/') s += 2;
    size_t n = strlen(s);
    if (n > 4 && !strcmp(s + n - 4, ".csv")) n -= 4;
    char *id = bml__strndup(s, n);
    for (char *p = id; p && *p; p++)
        if (*p == '/') *p = '_';
    return id;
}

bml_status bml_dataset_load_qdlin(const char *path, const bml_qdlin_opts *opts, bml_dataset **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_dataset_load_qdlin", opts, bml_qdlin_opts, BML_QDLIN_OPTS));
    bml_qdlin_opts o;
    if (opts) o = *opts;
    else bml_qdlin_opts_default(&o);
    if (o.n_points < 2) return bml__fail(BML_ERR_VALUE, "qdlin: the voltage grid needs at least 2 points (got %zu)", o.n_points);
    if (!isfinite(o.v_start) || !isfinite(o.v_end) || o.v_start == o.v_end)
        return bml__fail(BML_ERR_VALUE, "qdlin: the voltage grid's ends must be two different finite voltages");
    if (!bml__is_dir(path)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such folder", path);
    index_list L = {0};
    bml_status st;
    if (o.index) {
        char *ip = o.index[0] == '/' ? bml__strdup(o.index) : bml__path_join(path, o.index);
        if (!ip) return bml__fail(BML_ERR_NOMEM, "out of memory");
        size_t n = strlen(ip), ls = strlen("_cycle_lives.csv");
        if (n > ls && !strcmp(ip + n - ls, "_cycle_lives.csv")) {
            const char *base = strrchr(ip, '/') ? strrchr(ip, '/') + 1 : ip;
            char *split = bml__strndup(base, strlen(base) - ls);
            st = split ? read_lives_file(ip, split, &L) : bml__fail(BML_ERR_NOMEM, "out of memory");
            free(split);
        } else st = read_cells_index(ip, &L);
        free(ip);
    } else {
        char *ip = bml__path_join(path, "cells.csv");
        if (!ip) return bml__fail(BML_ERR_NOMEM, "out of memory");
        st = bml__is_file(ip) ? read_cells_index(ip, &L) : read_lives_files(path, &L);
        free(ip);
    }
    bml_dataset *ds = NULL;
    bml__qdlin *q = NULL;
    char **reals = NULL;
    if (st == BML_OK) {
        ds = bml__dataset_new("qdlin", path);
        q = bml__calloc(1, sizeof *q);
        reals = bml__calloc(L.n, sizeof *reals);
        if (ds) {
            ds->qdlin = q;
            ds->cells = bml__calloc(L.n, sizeof *ds->cells);
            ds->cap_cells = L.n;
        }
        if (q) {
            q->n_points = o.n_points;
            q->first_cycle = o.first_cycle;
            q->grid = bml__calloc(o.n_points, sizeof *q->grid);
            q->life = bml__calloc(L.n, sizeof *q->life);
            q->split = bml__calloc(L.n, sizeof *q->split);
            q->file = bml__calloc(L.n, sizeof *q->file);
            q->attr_values = bml__calloc(L.n * L.attr_names.n + 1, sizeof *q->attr_values);
            q->attr_names = L.attr_names;
            L.attr_names = (bml__strvec){0};
        }
        if (!ds || !q || !reals || !ds->cells || !q->grid || !q->life || !q->split || !q->file || !q->attr_values) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            if (!ds) bml__qdlin_free(q, 0); /* else freed with ds */
        }
    }
    if (st == BML_OK) {
        ds->n_cols = o.n_points;
        ds->col_names = bml__calloc(o.n_points, sizeof *ds->col_names);
        if (!ds->col_names) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t i = 0; st == BML_OK && i < o.n_points; i++) {
            q->grid[i] = o.v_start + (o.v_end - o.v_start) * (double)i / (double)(o.n_points - 1);
            if (!(ds->col_names[i] = bml__sprintf("Q@%.4fV", q->grid[i]))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        if (st == BML_OK) bml__dataset_set_role(ds, BML_ROLE_CURVE, 0, o.n_points); /* each row: its cycle's Q(V) */
    }
    /* the cells' ids and index columns (an id that cannot be one stops the load at that cell: `stop`) */
    size_t stop = L.n;
    bml_status stop_st = BML_OK;
    char *stop_err = NULL;
    for (size_t i = 0; st == BML_OK && i < L.n; i++) {
        entry *e = &L.e[i];
        bml__cell *c = &ds->cells[i];
        c->temperature_c = NAN;
        c->cell_id = cell_id_of(e->rel);
        if (!c->cell_id) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        ds->n_cells = i + 1; /* the cell is freed with ds from here on */
        q->split[i] = e->split;
        e->split = NULL;
        if (!(q->file[i] = bml__strdup(e->rel))) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        q->life[i] = e->life;
        for (size_t k = 0; k < q->attr_names.n; k++) {
            q->attr_values[i * q->attr_names.n + k] = e->attrs[k];
            e->attrs[k] = NULL;
        }
        const char *why = bml__cell_id_problem(c->cell_id);
        if (why) {
            stop = i;
            stop_st = bml__fail(BML_ERR_VALUE, "%s:%zu: file '%s' gives the cell id '%s', which %s", e->index, e->line, e->rel,
                                c->cell_id, why);
            if (!(stop_err = bml__strdup(bml_last_error()))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
    }
    /* the files of the cells before `stop`: the first alone (its cycles are every file's when n_cycles is 0),
     * the others on the thread budget's threads (every core when none is set); then taken in file order, so
     * that the dataset and the first error are those of one file at a time */
    bml_status *lst = st == BML_OK ? bml__calloc(stop + 1, sizeof *lst) : NULL;
    char **lerr = st == BML_OK ? bml__calloc(stop + 1, sizeof *lerr) : NULL;
    if (st == BML_OK && (!lst || !lerr)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && stop > 0) {
        load_buf lb = {0};
        lst[0] = load_cell(path, &L.e[0], &o, o.n_cycles, NULL, &ds->cells[0], &reals[0], &lb);
        free(lb.text);
        free(lb.num);
        if (lst[0] != BML_OK) lerr[0] = bml__strdup(bml_last_error());
        else if (stop > 1) {
            int jobs = bml__parallel_thread_budget();
            if (jobs <= 0) jobs = bml_parallel_cores();
            size_t n_cyc = o.n_cycles ? o.n_cycles : ds->cells[0].n_rows, per = o.n_points * n_cyc;
            /* the other cells' values in one mapping, with huge pages where the kernel has them */
            if (per && n_cyc <= SIZE_MAX / o.n_points && stop - 1 <= SIZE_MAX / sizeof(double) / per) {
                size_t len = (stop - 1) * per * sizeof(double), huge = (size_t)2 << 20;
                len = len <= SIZE_MAX - huge ? (len + huge - 1) / huge * huge : len;
                void *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (a != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
                    madvise(a, len, MADV_HUGEPAGE); /* advice: ignored where not available */
#endif
                    q->arena = a;
                    q->arena_len = len;
                }
            }
            load_job lj = {path, L.e, &o, n_cyc, q->arena, ds->cells, reals};
            bml__parallel_try(stop - 1, jobs, load_task, &lj, lst + 1, lerr + 1, NULL);
        }
    }
    for (size_t i = 0; st == BML_OK && i < stop; i++) {
        entry *e = &L.e[i];
        if (lst[i] != BML_OK) {
            st = bml__task_status(lst[i], lerr[i]);
            break;
        }
        for (size_t j = 0; st == BML_OK && j < i; j++) {
            if (!strcmp(reals[j], reals[i]))
                st = bml__fail(BML_ERR_VALUE, "%s:%zu: file '%s' is listed twice (first at %s:%zu)", e->index, e->line, e->rel,
                               L.e[j].index, L.e[j].line);
            else if (!strcmp(ds->cells[j].cell_id, ds->cells[i].cell_id))
                st = bml__fail(BML_ERR_VALUE, "%s:%zu: file '%s' gives the cell id '%s' of '%s' (line %zu)", e->index, e->line,
                               e->rel, ds->cells[i].cell_id, L.e[j].rel, L.e[j].line);
        }
    }
    if (st == BML_OK && stop < L.n) st = bml__fail(stop_st, "%s", stop_err);
    for (size_t i = 0; lerr && i < stop; i++) free(lerr[i]);
    free(lerr);
    free(lst);
    free(stop_err);
    for (size_t i = 0; reals && i < L.n; i++) free(reals[i]);
    free(reals);
    index_free(&L);
    if (st == BML_OK) { /* the cells without a life, by name under the load line */
        bml__sb b = {0};
        size_t k = 0;
        for (size_t i = 0; i < ds->n_cells; i++)
            if (isnan(q->life[i])) bml__sb_str(&b, k++ ? ", " : ""), bml__sb_str(&b, ds->cells[i].cell_id);
        if (k) {
            ds->note = bml__sprintf("%zu cell(s) without a known life (empty in the index): predicted, left out of fitting and "
                                    "metrics: %.*s", k, (int)b.len, b.buf ? b.buf : "");
            if (!ds->note || b.nomem) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        free(b.buf);
    }
    if (st != BML_OK) {
        bml_dataset_free(ds);
        return st;
    }
    *out = ds;
    return BML_OK;
}

/* ------------------------------------------------------------------ accessors */
int bml_dataset_is_qdlin(const bml_dataset *ds) { return ds && ds->qdlin; }

double bml_dataset_cell_life(const bml_dataset *ds, size_t i) {
    return ds && ds->qdlin && i < ds->n_cells ? ds->qdlin->life[i] : NAN;
}

const char *bml_dataset_cell_split(const bml_dataset *ds, size_t i) {
    return ds && ds->qdlin && i < ds->n_cells && ds->qdlin->split[i] ? ds->qdlin->split[i] : "";
}

const char *bml_dataset_cell_file(const bml_dataset *ds, size_t i) {
    return ds && ds->qdlin && ds->qdlin->file && i < ds->n_cells ? ds->qdlin->file[i] : NULL;
}

const char *bml_dataset_cell_attr(const bml_dataset *ds, size_t i, const char *name) {
    if (!ds || !ds->qdlin || i >= ds->n_cells || !name) return NULL;
    int k = bml__strvec_find(&ds->qdlin->attr_names, name);
    return k < 0 ? NULL : ds->qdlin->attr_values[i * ds->qdlin->attr_names.n + (size_t)k];
}

size_t bml_dataset_qdlin_grid(const bml_dataset *ds, const double **v, int *first_cycle) {
    if (!ds || !ds->qdlin) return 0;
    if (v) *v = ds->qdlin->grid;
    if (first_cycle) *first_cycle = ds->qdlin->first_cycle;
    return ds->qdlin->n_points;
}
