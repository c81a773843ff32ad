/* CSV reading on libcsv (see csvread.h). */
#include "data/csvread.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

typedef struct {
    bml__csv *out;
    char *text;          /* the current record's fields, NUL-separated */
    size_t text_len, text_cap;
    size_t *offs;        /* start of each field in text */
    size_t n_fields, offs_cap;
    size_t line;         /* line being fed */
    size_t record_line;  /* line where the current record started */
    int nomem;
} ctx_t;

static void on_field(void *s, size_t len, void *data) {
    ctx_t *c = data;
    if (c->nomem) return;
    if (c->n_fields == 0) c->record_line = c->line;
    if (c->n_fields == c->offs_cap) {
        size_t cap = c->offs_cap ? 2 * c->offs_cap : 32;
        size_t *o = realloc(c->offs, cap * sizeof *o);
        if (!o) {
            c->nomem = 1;
            return;
        }
        c->offs = o;
        c->offs_cap = cap;
    }
    if (!s) len = 0;
    if (c->text_len + len + 1 > c->text_cap) {
        size_t cap = (c->text_len + len + 1) * 2;
        char *t = realloc(c->text, cap);
        if (!t) {
            c->nomem = 1;
            return;
        }
        c->text = t;
        c->text_cap = cap;
    }
    c->offs[c->n_fields++] = c->text_len;
    if (len) memcpy(c->text + c->text_len, s, len);
    c->text_len += len;
    c->text[c->text_len++] = 0;
}

/* one allocation per record: the field pointers followed by the text */
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
    size_t n = c->n_fields, head = n * sizeof(char *);
    char **block = malloc(head + c->text_len + 1);
    if (!block) {
        c->nomem = 1;
        return;
    }
    char *text = (char *)block + head;
    if (c->text_len) memcpy(text, c->text, c->text_len);
    for (size_t i = 0; i < n; i++) block[i] = text + c->offs[i];
    bml__csv_row *row = &o->rows[o->n_rows++];
    row->fields = block;
    row->n_fields = n;
    row->line = n ? c->record_line : c->line;
    c->n_fields = 0;
    c->text_len = 0;
}

void bml__csv_free(bml__csv *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_rows; i++) free(c->rows[i].fields);
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
    free(c.text);
    free(c.offs);
    free(buf);
    if (st != BML_OK) bml__csv_free(out);
    return st;
}
