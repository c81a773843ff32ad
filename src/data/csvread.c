/* CSV reading on libcsv (see csvread.h). */
#include "data/csvread.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

typedef struct {
    bml__csv *out;
    bml__csv_row cur;
    size_t cur_cap;
    size_t line;        /* line being fed */
    size_t record_line; /* line where the current record started */
    int nomem;
} ctx_t;

static void on_field(void *s, size_t len, void *data) {
    ctx_t *c = data;
    if (c->nomem) return;
    if (c->cur.n_fields == 0) c->record_line = c->line;
    if (c->cur.n_fields == c->cur_cap) {
        size_t cap = c->cur_cap ? 2 * c->cur_cap : 32;
        char **f = realloc(c->cur.fields, cap * sizeof *f);
        if (!f) {
            c->nomem = 1;
            return;
        }
        c->cur.fields = f;
        c->cur_cap = cap;
    }
    char *v = s ? bml__strndup(s, len) : bml__strdup("");
    if (!v) {
        c->nomem = 1;
        return;
    }
    c->cur.fields[c->cur.n_fields++] = v;
}

static void on_record(int term, void *data) {
    (void)term;
    ctx_t *c = data;
    if (c->nomem) return;
    bml__csv *o = c->out;
    if (o->n_rows == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        bml__csv_row *r = realloc(o->rows, cap * sizeof *r);
        if (!r) {
            c->nomem = 1;
            return;
        }
        o->rows = r;
        o->cap = cap;
    }
    c->cur.line = c->cur.n_fields ? c->record_line : c->line;
    /* shrink to fit, hand over */
    o->rows[o->n_rows++] = c->cur;
    memset(&c->cur, 0, sizeof c->cur);
    c->cur_cap = 0;
}

void bml__csv_free(bml__csv *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_rows; i++) {
        for (size_t j = 0; j < c->rows[i].n_fields; j++) free(c->rows[i].fields[j]);
        free(c->rows[i].fields);
    }
    free(c->rows);
    memset(c, 0, sizeof *c);
}

bml_status bml__csv_read(const char *path, size_t skip_lines, bml__csv *out) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    BML__TRY(bml__read_file(path, &buf, &len));
    if (memchr(buf, 0, len)) {
        free(buf);
        return bml__fail(BML_ERR_PARSE, "%s: binary data (NUL bytes), not a CSV text file", path);
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL | CSV_STRICT | CSV_STRICT_FINI) != 0) {
        free(buf);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    ctx_t c = {.out = out, .line = 1};
    char *s = buf;
    if (len >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) s += 3;
    char *end = buf + len;
    bml_status st = BML_OK;
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
        if (c.line > skip_lines) {
            if (csv_parse(&p, s, n, on_field, on_record, &c) != n) {
                st = bml__fail(BML_ERR_PARSE, "%s:%zu: CSV syntax error: %s", path, c.line,
                               csv_strerror(csv_error(&p)));
                break;
            }
        }
        if (c.nomem) break;
        s += n;
        c.line++;
    }
    if (st == BML_OK && !c.nomem) {
        c.line--;
        if (csv_fini(&p, on_field, on_record, &c) != 0)
            st = bml__fail(BML_ERR_PARSE, "%s:%zu: CSV syntax error: unterminated quoted field", path, c.line);
    }
    if (st == BML_OK && c.nomem) st = bml__fail(BML_ERR_NOMEM, "%s: out of memory", path);
    csv_free(&p);
    for (size_t j = 0; j < c.cur.n_fields; j++) free(c.cur.fields[j]);
    free(c.cur.fields);
    free(buf);
    if (st != BML_OK) bml__csv_free(out);
    return st;
}
