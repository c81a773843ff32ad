/* Fuzz target: the Arbin .res reader (src/data/cycler_arbin_res.c, through libmdb) through bml_cycler_read and the
 * per-cycle summary.
 * Input: one selector byte, then the file's bytes, written as "cell.res" (libmdb reads files, not memory).
 * Selector: bit 0: the format forced ("arbin_res") or detected (BML_CYCLER_AUTO); bit 1: the summary
 * (bml_cycler_summarize, default options) after the read.
 * Besides "no crash, no read past the input, a failure has a message", the harness checks what
 * batteryml/cycler.h promises of a successful read: points rising, time finite and non-decreasing, current
 * and voltage finite, capacities and energies NaN or >= 0 and non-decreasing within a cycle, meta.n_points
 * points handed over; and that a failure of a file that the reader took as .res names the file.
 * libmdb (a system library, not instrumented here) prints its own warnings on stderr for damaged files; a crash
 * inside it is still a finding (the reader checks the signature, the page size and the table's row count around
 * it, and every value's size and place before it reads one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/cycler.h"
#include "fuzz_util.h"

#define TARGET "arbin_res"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sel = data[0];
    char *dir = fz_fresh_dir("arbin_res");
    char *path = fz_write(dir, "cell.res", data + 1, size - 1);
    bml_cycler_format fmt = BML_CYCLER_AUTO;
    if (sel & 1 && bml_cycler_format_parse("arbin_res", &fmt) != BML_OK) fz_fail(TARGET, "arbin_res is not registered", 0);
    fz_points rs = {.target = TARGET};
    bml_cycler_meta meta;
    fz_reset_error();
    bml_status st = bml_cycler_read(path, fmt, fz_check_point, &rs, &meta);
    fz_check_status(st, "bml_cycler_read");
    if (st == BML_OK && meta.n_points != rs.n) fz_fail(TARGET, "meta.n_points is not the points handed over", meta.n_points);
    /* a failure names the file */
    if (st != BML_OK && st != BML_ERR_NOMEM && !strstr(bml_last_error(), path)) fz_fail(TARGET, "a failure without the file's name", 0);
    bml_cycler_meta_free(&meta);
    if (sel & 2) fz_check_summary(TARGET, path, fmt, st);
    free(path);
    free(dir);
    return 0;
}
