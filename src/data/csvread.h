/* CSV reading on libcsv: a whole file as rows of string fields, each row knowing its source line.
 * Handles quoted fields, CRLF line endings and a UTF-8 byte-order mark. Internal. */
#ifndef BML_DATA_CSVREAD_H
#define BML_DATA_CSVREAD_H

#include <stddef.h>

#include "batteryml/status.h"

typedef struct {
    size_t n_fields;
    char **fields; /* n_fields NUL-terminated strings ("" for empty fields), all inside one allocation */
    size_t line;   /* 1-based line number in the source file */
} bml__csv_row;

typedef struct {
    bml__csv_row *rows; /* rows[0] is the first non-skipped record (usually the header) */
    size_t n_rows, cap;
} bml__csv;

/* Read `path`, skipping its first `skip_lines` physical lines (preambles of instrument exports).
 * Fails on a missing/unreadable file or a CSV syntax error (with file and line). On success the
 * caller owns *out and releases it with bml__csv_free. */
bml_status bml__csv_read(const char *path, size_t skip_lines, bml__csv *out);
void bml__csv_free(bml__csv *c);

#endif
