/* What the tests of the cycler readers share (test_arbin_res, test_batteryarchive, test_cyclers,
 * test_maccor_layouts, test_mactest, test_neware, test_pec): a formatted string, a collector of the points a
 * reader streams, a format by its registry name, temporary files, a whole file read in, the reference tables
 * (plain CSVs) made beside the real files, and main()'s run of the tests on the real files of ../shared (or
 * $BML_SHARED_DIR), skipped (exit 77, CTest's skip) without them. Include it instead of test.h, after
 * `#define _GNU_SOURCE`. */
#ifndef BML_CYCLER_TEST_H
#define BML_CYCLER_TEST_H

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "data/cycler_text.h"
#include "test.h"

/* a formatted string (caller frees); aborts when out of memory */
static inline char *strf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0) abort();
    va_end(ap);
    return out;
}

/* every point a reader streams, in order (cycler_keep is the bml_cycler_point_fn; the caller frees p) */
typedef struct {
    size_t n, cap;
    bml_cycler_point *p;
} cycler_pts;

static inline bml_status cycler_keep(const bml_cycler_point *p, void *user) {
    cycler_pts *s = user;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->p = realloc(s->p, s->cap * sizeof *s->p);
        if (!s->p) abort();
    }
    s->p[s->n++] = *p;
    return BML_OK;
}

/* a bml_cycler_point_fn that counts the points in the size_t at user */
static inline bml_status cycler_count(const bml_cycler_point *p, void *user) {
    (void)p;
    (*(size_t *)user)++;
    return BML_OK;
}

/* the registry's format of that name (a failed CHECK and BML_CYCLER_AUTO when there is none) */
static inline bml_cycler_format cycler_format(const char *name) {
    bml_cycler_format f = BML_CYCLER_AUTO;
    CHECK_OK(bml_cycler_format_parse(name, &f));
    return f;
}

/* the file at path detected (CHECKed) as the format named `name` and read whole: its points into *s (empty
 * first: the caller frees s->p), its meta into *meta (the caller frees it with bml_cycler_meta_free) */
static inline void cycler_read_detected(const char *path, const char *name, cycler_pts *s, bml_cycler_meta *meta) {
    bml_cycler_format f = BML_CYCLER_AUTO;
    CHECK_OK(bml_cycler_detect(path, &f));
    CHECK_INT(f, cycler_format(name));
    *s = (cycler_pts){0, 0, NULL};
    CHECK_OK(bml_cycler_read(path, BML_CYCLER_AUTO, cycler_keep, s, meta));
}

/* a new file made from the mkstemps template tmpl (its last "XXXXXX" replaced; what follows is kept, e.g.
 * "/tmp/bml_pec_XXXXXX.csv") holding the n bytes b: its path (the caller unlinks it and frees the path) */
static inline char *cycler_tmp_file(const char *tmpl, const void *b, size_t n) {
    char *p = strdup(tmpl);
    if (!p) abort();
    char *x = NULL;
    for (char *s = strstr(p, "XXXXXX"); s; s = strstr(s + 1, "XXXXXX")) x = s;
    if (!x) abort();
    int fd = mkstemps(p, (int)strlen(x + 6));
    if (fd < 0 || (n && write(fd, b, n) != (ssize_t)n)) abort();
    close(fd);
    return p;
}

/* the same with a text */
static inline char *cycler_tmp_text(const char *tmpl, const char *text) {
    return cycler_tmp_file(tmpl, text, strlen(text));
}

/* the whole file at path and its size in *n (the caller frees it); NULL when it cannot be opened */
static inline unsigned char *cycler_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0) abort();
    unsigned char *b = malloc((size_t)len + 1);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) abort();
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* ---- a reference table: a CSV with plain commas (the references quote nothing), a header line ---- */
typedef struct {
    size_t n_rows, n_cols;
    char **cols;   /* header */
    char ***cells; /* [row][col] */
} cycler_table;

/* the fields of line (changed in place) as new strings in *out; their number */
static inline size_t cycler_table_split(char *line, char ***out) {
    size_t n = 1;
    for (char *p = line; *p; p++) n += *p == ',';
    char **f = calloc(n, sizeof *f);
    if (!f) abort();
    size_t i = 0;
    for (char *s = line;;) {
        char *c = strchr(s, ',');
        if (c) *c = 0;
        f[i++] = strdup(s);
        if (!c) break;
        s = c + 1;
    }
    *out = f;
    return n;
}

/* 1 and the table in *t; 0 (and an empty table) when path cannot be opened; a row of another number of fields
 * than the header aborts */
static inline int cycler_table_read(const char *path, cycler_table *t) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        char **fields;
        size_t n = cycler_table_split(line, &fields);
        if (!t->cols) {
            t->cols = fields, t->n_cols = n;
            continue;
        }
        if (n != t->n_cols) abort();
        t->cells = realloc(t->cells, (t->n_rows + 1) * sizeof *t->cells);
        if (!t->cells) abort();
        t->cells[t->n_rows++] = fields;
    }
    free(line);
    fclose(f);
    return 1;
}

static inline void cycler_table_free(cycler_table *t) {
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) free(t->cells[r][c]);
        free(t->cells[r]);
    }
    for (size_t c = 0; c < t->n_cols; c++) free(t->cols[c]);
    free(t->cells);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

/* the index of the column of that name; -1 when the table has none */
static inline long cycler_table_col(const cycler_table *t, const char *name) {
    for (size_t c = 0; c < t->n_cols; c++)
        if (!strcmp(t->cols[c], name)) return (long)c;
    return -1;
}

/* The numbers of k named columns of a provider's per-cycle table (a CSV, a header line, plain commas): *out (the
 * caller's) holds them row by row, k a row, NaN where a field is not a number; the row count. A file that does not
 * read, a missing column or a row of another width is a test failure (counted), and the table ends there. */
static inline size_t cycler_table_numbers(const char *path, const char *const *names, int k, double **out) {
    *out = NULL;
    bml__tl t;
    bml_status st = BML_OK;
    if (bml__tl_open(&t, path) != BML_OK) {
        fprintf(stderr, "  %s: cannot open it\n", path);
        t_fail_count++;
        return 0;
    }
    size_t n = 0, cap = 0, nf = 0;
    int *col = calloc((size_t)k, sizeof *col);
    if (!col) abort();
    if (bml__tl_next(&t, &st) != 1 || bml__tl_split(&t, ',') != BML_OK) {
        fprintf(stderr, "  %s: cannot read its header\n", path);
        t_fail_count++;
        goto done;
    }
    for (int c = 0; c < k; c++)
        if ((col[c] = bml__tl_find(t.fields, t.n_fields, names[c])) < 0) {
            fprintf(stderr, "  %s: no %s column\n", path, names[c]);
            t_fail_count++;
            goto done;
        }
    nf = t.n_fields;
    while (bml__tl_next(&t, &st) == 1) {
        if (bml__tl_split(&t, ',') != BML_OK || t.n_fields != nf) {
            fprintf(stderr, "  %s:%zu: not a row of the table\n", path, t.lineno);
            t_fail_count++;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            if (!(*out = realloc(*out, cap * (size_t)k * sizeof **out))) abort();
        }
        for (int c = 0; c < k; c++)
            if (bml__tl_num(t.fields[col[c]], &(*out)[n * (size_t)k + (size_t)c]) != 0) (*out)[n * (size_t)k + (size_t)c] = NAN;
        n++;
    }
done:
    free(col);
    bml__tl_close(&t);
    return n;
}

/* ---- the real files of ../shared ---- */

/* main() of a test with tests on real files: the tests `base` as suite `suite`; then, when the folder of the
 * real files of `instrument` ($BML_SHARED_DIR/data/cyclers-more/<instrument>, else ../shared/... beside the
 * source) exists, *dir set to it (freed and reset to NULL on return), the tests `files` as suite
 * "<suite>_files". Without the folder: a message naming it, and 77 (CTest's skip) when the base tests passed.
 * The exit status. */
static inline int cycler_run_with_files(const char *suite, const test_case *base, size_t n_base, const char *instrument,
                                        char **dir, const test_case *files, size_t n_files) {
    int rc = run_tests(suite, base, n_base);
    const char *env = getenv("BML_SHARED_DIR");
    *dir = strf("%s/data/cyclers-more/%s", env ? env : BML_SOURCE_DIR "/../shared", instrument);
    struct stat sb;
    if (stat(*dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char *files_suite = strf("%s_files", suite);
        rc |= run_tests(files_suite, files, n_files);
        free(files_suite);
    } else {
        printf("%s: skipped %s: %s not found (set BML_SHARED_DIR)\n", suite,
               n_files == 1 ? "the test on the real file" : "the tests on real files", *dir);
        if (!rc) rc = 77;
    }
    free(*dir);
    *dir = NULL;
    return rc;
}

#endif
