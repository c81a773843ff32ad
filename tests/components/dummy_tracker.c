/* A tracker added from one file (test_components): the run's scalars as tally.csv in the run directory.
 * Registered with bml__tracker_register; nothing else in the library names it. */
#include <stdio.h>
#include <stdlib.h>

#include "core/internal.h"
#include "track/track.h"

static bml_status in_run(const bml__track_settings *set, const char *dir, const bml__scalar *sc, size_t n) {
    (void)set;
    bml__sb b = {0};
    bml__sb_str(&b, "tag,step,value\n");
    for (size_t i = 0; i < n; i++) bml__sb_fmt(&b, "%s,%ld,%.17g\n", sc[i].tag, sc[i].step, sc[i].value);
    char *p = bml__path_join(dir, "tally.csv");
    bml_status st = p && !b.nomem ? bml__write_file(p, b.buf, b.len) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(p);
    free(b.buf);
    return st;
}

const bml__tracker_def *dummy_tracker_register(void) {
    static const bml__tracker_def def = {"tally", "the run's scalars as tally.csv (a test's tracker)", NULL, 0, NULL, in_run, NULL, NULL};
    return bml__tracker_register(&def);
}
