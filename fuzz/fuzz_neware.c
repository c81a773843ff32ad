/* Fuzz target: the Neware readers (src/data/cycler_neware.c): the binary .nda (versions 29 and 130), the .ndax
 * zip archive (libzip, then the .ndc members), the .ndc page parser on its own and BTSDA's CSV exports.
 * Input: one selector byte, then
 *   % 3 == 0   the bytes of an .nda file or a CSV export ("cell.nda"; the reader goes by the content), read by
 *              bml__neware_read;
 *   % 3 == 1   the bytes of an .ndax file ("cell.ndax"), read by bml__neware_read;
 *   % 3 == 2   three parts split at FZ_SEP: data.ndc, data_runInfo.ndc, data_step.ndc, read from memory by
 *              bml__neware_ndc_records.
 * Besides "no crash, a failure has a message", the harness checks what batteryml/cycler.h promises of a
 * successful read: lines (the row Index, a CSV's line) rising, test time finite and non-decreasing, current and
 * voltage finite, capacities and energies NaN on every row (a CSV without the column) or >= 0 and
 * non-decreasing within a cycle, cycles never going back,
 * meta.n_points rows handed over; and of the records: Index rising, step and cycle from 1, never going back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/cycler_neware.h"
#include "fuzz_util.h"

#define TARGET "neware"

typedef struct {
    size_t n;
    bml_cycler_point prev;
} rows;

static bml_status on_point(const bml_cycler_point *p, void *user) {
    rows *r = user;
    if (!isfinite(p->test_time_s) || !isfinite(p->current_a) || !isfinite(p->voltage_v)) fz_fail(TARGET, "time, current or voltage not finite", p->line);
    const double q[4] = {p->charge_ah, p->discharge_ah, p->charge_wh, p->discharge_wh};
    const double w[4] = {r->prev.charge_ah, r->prev.discharge_ah, r->prev.charge_wh, r->prev.discharge_wh};
    for (int k = 0; k < 4; k++) { /* NaN: not in the file (on every row then) */
        if (r->n && isnan(q[k]) != isnan(w[k])) fz_fail(TARGET, "a capacity or energy logged on some rows only", p->line);
        if (isnan(q[k])) continue;
        if (!(q[k] >= 0) || isinf(q[k])) fz_fail(TARGET, "a capacity or energy not finite and >= 0", p->line);
        if (r->n && p->cycle == r->prev.cycle && q[k] < w[k]) fz_fail(TARGET, "a capacity or energy decreases within a cycle", p->line);
    }
    if (r->n && (p->line <= r->prev.line || p->test_time_s < r->prev.test_time_s || p->cycle < r->prev.cycle ||
                 p->step < r->prev.step))
        fz_fail(TARGET, "row, time, cycle or step goes back", p->line);
    if (p->cycle < 0 || p->step < 1) fz_fail(TARGET, "cycle below 0 or step below 1", p->line); /* a CSV may count from 0 */
    r->prev = *p;
    r->n++;
    return BML_OK;
}

typedef struct {
    size_t n;
    bml__neware_record prev;
} recs;

static bml_status on_record(const bml__neware_record *r, void *user) {
    recs *s = user;
    if (s->n && (r->index <= s->prev.index || r->step < s->prev.step || r->cycle < s->prev.cycle))
        fz_fail(TARGET, "record Index, step or cycle goes back", r->index);
    if (r->step < 1 || r->cycle < 1) fz_fail(TARGET, "record step or cycle below 1", r->index); /* .ndc: cycles from 1 */
    if (!isfinite(r->time_s) || !isfinite(r->voltage_v) || !isfinite(r->current_ma)) fz_fail(TARGET, "record value not finite", r->index);
    (void)bml__neware_status_name(r->status);
    s->prev = *r;
    s->n++;
    return BML_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sel = data[0] % 3;
    if (sel < 2) {
        char *dir = fz_fresh_dir("neware");
        char *path = fz_write(dir, sel ? "cell.ndax" : "cell.nda", data + 1, size - 1);
        (void)bml__neware_sniff(data + 1, size - 1, path, NULL);
        rows r = {0};
        bml_cycler_meta meta;
        memset(&meta, 0, sizeof meta);
        fz_reset_error();
        bml_status st = bml__neware_read(path, on_point, &r, &meta);
        fz_check_status(st, "bml__neware_read");
        if (st == BML_OK && (meta.n_points != r.n || !meta.path || !meta.cell)) fz_fail(TARGET, "meta.n_points or path", meta.n_points);
        bml_cycler_meta_free(&meta);
        free(path);
        free(dir);
    } else {
        const uint8_t *parts[3];
        size_t lens[3];
        fz_split(data + 1, size - 1, parts, lens, 3);
        recs s = {0};
        bml__neware_info info;
        fz_reset_error();
        bml_status st = bml__neware_ndc_records("fuzz.ndax", parts[0], lens[0], lens[1] ? parts[1] : NULL, lens[1],
                                                lens[2] ? parts[2] : NULL, lens[2], on_record, &s, &info);
        fz_check_status(st, "bml__neware_ndc_records");
        if (st == BML_OK && info.n_records != s.n) fz_fail(TARGET, "info.n_records is not the records handed over", s.n);
    }
    return 0;
}
