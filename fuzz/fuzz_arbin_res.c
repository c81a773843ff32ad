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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/cycler.h"
#include "fuzz_util.h"

static void fail(const char *what, size_t line) {
    fprintf(stderr, "fuzz harness: arbin_res: %s (point %zu)\n", what, line);
    abort();
}

typedef struct {
    size_t n;
    bml_cycler_point prev;
} rows;

static int nonneg(double x) { return isnan(x) || x >= 0; }

static bml_status on_row(const bml_cycler_point *p, void *user) {
    rows *r = user;
    if (p->line < 1 || (r->n && p->line <= r->prev.line)) fail("points do not rise", p->line);
    if (!isfinite(p->test_time_s)) fail("test time not finite", p->line);
    if (r->n && p->test_time_s < r->prev.test_time_s) fail("test time goes backwards", p->line);
    if (!isfinite(p->current_a) || !isfinite(p->voltage_v)) fail("current or voltage not finite", p->line);
    if (!(isnan(p->resistance_ohm) || p->resistance_ohm > 0)) fail("resistance neither NaN nor > 0", p->line);
    const double now[4] = {p->charge_ah, p->discharge_ah, p->charge_wh, p->discharge_wh};
    const double was[4] = {r->prev.charge_ah, r->prev.discharge_ah, r->prev.charge_wh, r->prev.discharge_wh};
    for (int k = 0; k < 4; k++) {
        if (!nonneg(now[k])) fail("a capacity or energy below 0", p->line);
        if (r->n && p->cycle == r->prev.cycle && (isnan(now[k]) != isnan(was[k]) || now[k] < was[k]))
            fail("a capacity or energy decreases within a cycle", p->line);
    }
    r->n++;
    r->prev = *p;
    return BML_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sel = data[0];
    char *dir = fz_fresh_dir("arbin_res");
    char *path = fz_write(dir, "cell.res", data + 1, size - 1);
    bml_cycler_format fmt = BML_CYCLER_AUTO;
    if (sel & 1 && bml_cycler_format_parse("arbin_res", &fmt) != BML_OK) fail("arbin_res is not registered", 0);
    rows rs = {0};
    bml_cycler_meta meta;
    fz_reset_error();
    bml_status st = bml_cycler_read(path, fmt, on_row, &rs, &meta);
    fz_check_status(st, "bml_cycler_read");
    if (st == BML_OK && meta.n_points != rs.n) fail("meta.n_points is not the points handed over", meta.n_points);
    /* a failure names the file */
    if (st != BML_OK && st != BML_ERR_NOMEM && !strstr(bml_last_error(), path)) fail("a failure without the file's name", 0);
    bml_cycler_meta_free(&meta);
    if (sel & 2) {
        bml_cycler_summary *s = NULL;
        fz_reset_error();
        bml_status st2 = bml_cycler_summarize(path, fmt, NULL, &s);
        fz_check_status(st2, "bml_cycler_summarize");
        if (st2 == BML_OK && st != BML_OK) fail("the summary read a file that bml_cycler_read refused", 0);
        bml_cycler_summary_free(s);
    }
    free(path);
    free(dir);
    return 0;
}
