/* Fuzz target: the BioLogic binary .mpr reader (src/data/cycler_mpr.c) through bml_cycler_read and the
 * per-cycle summary.
 * Input: one selector byte, then the file's bytes, written as "cell.mpr".
 * Selector: bit 0: the format forced ("biologic_mpr") or detected (BML_CYCLER_AUTO); bit 1: the summary
 * (bml_cycler_summarize, default options) after the read.
 * Besides "no crash, no read past the input, a failure has a message", the harness checks what
 * batteryml/cycler.h promises of a successful read: points rising, time finite and non-decreasing, current
 * and voltage finite, capacities and energies NaN or >= 0 and non-decreasing within a cycle, meta.n_points
 * points handed over; and that a failure of a file that the reader took as .mpr names a byte offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/cycler.h"
#include "fuzz_util.h"

#define TARGET "mpr"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sel = data[0];
    char *dir = fz_fresh_dir("mpr");
    char *path = fz_write(dir, "cell.mpr", data + 1, size - 1);
    bml_cycler_format fmt = BML_CYCLER_AUTO;
    if (sel & 1 && bml_cycler_format_parse("biologic_mpr", &fmt) != BML_OK) fz_fail(TARGET, "biologic_mpr is not registered", 0);
    fz_points rs = {.target = TARGET};
    bml_cycler_meta meta;
    fz_reset_error();
    bml_status st = bml_cycler_read(path, fmt, fz_check_point, &rs, &meta);
    fz_check_status(st, "bml_cycler_read");
    if (st == BML_OK && meta.n_points != rs.n) fz_fail(TARGET, "meta.n_points is not the points handed over", meta.n_points);
    /* a file taken as .mpr (forced, or the magic there) that fails says where */
    if (st != BML_OK && st != BML_ERR_NOMEM && meta.format == fmt && fmt != BML_CYCLER_AUTO && meta.path &&
        !strstr(bml_last_error(), ": byte "))
        fz_fail(TARGET, "an .mpr failure without a byte offset", 0);
    bml_cycler_meta_free(&meta);
    if (sel & 2) fz_check_summary(TARGET, path, fmt, st);
    free(path);
    free(dir);
    return 0;
}
