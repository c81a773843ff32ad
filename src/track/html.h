/* Self-contained HTML pages (internal): the page `batteryml report` writes for a run, for other modules'
 * reports (a sweep's). Text is escaped, figures are embedded as data: URIs. */
#ifndef BML_TRACK_HTML_H
#define BML_TRACK_HTML_H

#include "batteryml/status.h"

typedef struct bml__html bml__html;

/* A page with its head, style and <h1>title</h1>; NULL without memory. Release with bml__html_finish or
 * bml__html_free. */
bml__html *bml__html_begin(const char *title);
void bml__html_raw(bml__html *h, const char *markup); /* as is */
void bml__html_text(bml__html *h, const char *s);     /* HTML-escaped; control characters made visible */
/* Every PNG figure in dir/figures (regular files only) embedded, sorted by name. */
bml_status bml__html_figures(bml__html *h, const char *dir);
/* Close the page, write it to out_path atomically and free h (in every case). */
bml_status bml__html_finish(bml__html *h, const char *out_path);
void bml__html_free(bml__html *h);

#endif
