/* Line-at-a-time reading of delimited text exports for the cycler readers in files of their own
 * (src/data/cycler_mactest.c, src/data/cycler_pec.c, src/data/cycler_batteryarchive.c, src/data/cycler_batterydata.c,
 * src/data/cycler_bdf.c). Internal.
 *
 * A line is read whole (any length), its "\r\n" or "\n" removed, and split in place at a one-byte delimiter
 * (no quoting: the layouts that use these helpers quote nothing). Numbers may have a decimal comma. */
#ifndef BML_DATA_CYCLER_TEXT_H
#define BML_DATA_CYCLER_TEXT_H

#include <stddef.h>
#include <stdio.h>

#include "batteryml/status.h"

typedef struct {
    FILE *f;
    const char *path;
    char *line;       /* the current line, NUL-terminated (split replaces delimiters by NULs) */
    size_t cap, len;
    size_t lineno;    /* 1-based number of the current line */
    double bytes;     /* bytes read so far */
    int last_newline; /* 1 when the current line ended with a newline (0: the file ends inside it) */
    char **fields;    /* after bml__tl_split: n_fields pointers into line */
    size_t n_fields, fcap;
} bml__tl;

/* Open path (fails naming it). */
bml_status bml__tl_open(bml__tl *t, const char *path);
/* The next line: 1 read, 0 end of file, -1 failed (*st set: a read error, out of memory, or a NUL byte:
 * binary data, not text). */
int bml__tl_next(bml__tl *t, bml_status *st);
/* Split the current line at delim into fields (fails only out of memory). */
bml_status bml__tl_split(bml__tl *t, char delim);
void bml__tl_close(bml__tl *t);
/* The first line, a header: read, its UTF-8 byte-order mark removed (an empty file fails naming it). */
bml_status bml__tl_first(bml__tl *t);
/* p past a UTF-8 byte-order mark at [p, end), if there is one (the sniffers' view of a file's first bytes). */
const char *bml__tl_skip_bom(const char *p, const char *end);
/* Copies of the current line's first n fields (after bml__tl_split) into *names, the caller's (free with
 * bml__tl_names_free, also after a failure: what was copied is there). */
bml_status bml__tl_names(const bml__tl *t, size_t n, char ***names);
void bml__tl_names_free(char **names, size_t n);
/* The first line [*p, *e) of a file's first n bytes, a byte-order mark skipped: 1, or 0 where it holds a NUL byte
 * (binary data: no text export). For the sniffers. */
int bml__tl_head_line(const unsigned char *head, size_t n, const char **p, const char **e);
/* Whether the comma-separated line [p, e) has a field named name: case-insensitive, spaces and a '\r' around it
 * ignored, and double quotes too where quotes is set. */
int bml__tl_line_has(const char *p, const char *e, const char *name, int quotes);
/* The current row (after bml__tl_split; its first nf fields) against a header of n_names: 1 when every field holds
 * only bytes of `blanks` (a blank row: the caller counts and skips it); 0 when it has the header's width; -1 with
 * *st set (BML_ERR_PARSE) where it has not: "truncated" for a last row cut short, else a row of another layout,
 * naming `header` ("the header", "the PEC header") and its line hdr_line. */
int bml__tl_row_shape(const bml__tl *t, size_t nf, size_t n_names, const char *blanks, const char *header, size_t hdr_line,
                      bml_status *st);
/* A bad field of the current line: "path:line:column: column 'NAME': 'VALUE' WHAT", BML_ERR_PARSE. */
bml_status bml__tl_field_error(const bml__tl *t, char *const *names, int col, const char *v, const char *what);

/* A number with a decimal point or a decimal comma, spaces around allowed: 0 and *out, else -1. */
int bml__tl_num(const char *s, double *out);
/* "M/D/YYYY h:mm:ss[.fff] [AM|PM]" (Maccor) as seconds since 1970, the wall clock as written: 0, else -1. */
int bml__tl_mdy(const char *s, double *out);
/* "YYYY-MM-DD HH:MM:SS[.ffffff]" (or a 'T' between date and time; Battery Archive) as seconds since 1970, the
 * wall clock as written: 0, else -1. */
int bml__tl_ymd(const char *s, double *out);
/* "hh:mm:ss[.fff]" (hours may pass 24) as seconds: 0, else -1. */
int bml__tl_hms(const char *s, double *out);
/* the field with this name (case-insensitive, spaces around ignored) among n names, or -1 */
int bml__tl_find(char *const *names, size_t n, const char *name);

#endif
