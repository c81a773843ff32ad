/* Fuzz target: a Maccor test split over numbered parts (src/data/cycler_read.c: maccor_parts, read_maccor_parts;
 * src/data/cycler_summary.c: join_parts), read as one stream.
 * Input: one selector byte, then up to three parts split at FZ_SEP, written as cell.001, cell.002, cell.003 (an
 * empty later part is not written: a number skipped, or fewer parts).
 * Selector:
 *   % 2        the format: 0 detect (BML_CYCLER_AUTO), 1 maccor;
 *   / 2 % 3    what runs: 0 bml_cycler_read of cell.001, then bml_cycler_summarize of it; 1 bml_cycler_list of the
 *              folder; 2 bml_dataset_load_cycler of the folder.
 * Besides "no crash, a failure has a message", the harness checks what a successful read of the parts promises: the
 * test time finite and non-decreasing across the parts, capacities NaN or >= 0, meta.n_points rows handed over, the
 * first part's path in meta; of a summary, cycle indices rising; of a listing, cell.002 and cell.003 never listed
 * beside a cell.001 that is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/cycler.h"
#include "fuzz_util.h"

#define TARGET "maccor_parts"

typedef struct {
    size_t n;
    double t;
} rows;

static bml_status on_row(const bml_cycler_point *p, void *user) {
    rows *r = user;
    if (!isfinite(p->test_time_s)) fz_fail(TARGET, "test time not finite", p->line);
    if (r->n && p->test_time_s < r->t) fz_fail(TARGET, "test time goes backwards across the parts", p->line);
    const double q[4] = {p->charge_ah, p->discharge_ah, p->charge_wh, p->discharge_wh};
    for (int k = 0; k < 4; k++)
        if (!(isnan(q[k]) || q[k] >= 0)) fz_fail(TARGET, "a capacity or energy below 0", p->line);
    r->t = p->test_time_s;
    r->n++;
    return BML_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sel = data[0];
    bml_cycler_format fmt = sel % 2 ? BML_CYCLER_MACCOR : BML_CYCLER_AUTO;
    int mode = sel / 2 % 3;
    const uint8_t *parts[3];
    size_t lens[3];
    size_t n = fz_split(data + 1, size - 1, parts, lens, 3);
    char *dir = fz_fresh_dir("maccor_parts");
    static const char *const names[3] = {"cell.001", "cell.002", "cell.003"};
    char *first = fz_write(dir, names[0], parts[0], lens[0]);
    for (size_t i = 1; i < n; i++)
        if (lens[i]) free(fz_write(dir, names[i], parts[i], lens[i]));
    bml_status st;
    if (mode == 0) {
        rows rs = {0};
        bml_cycler_meta meta;
        fz_reset_error();
        st = bml_cycler_read(first, fmt, on_row, &rs, &meta);
        fz_check_status(st, "bml_cycler_read");
        if (st == BML_OK && meta.n_points != rs.n) fz_fail(TARGET, "meta.n_points is not the rows handed over", meta.n_points);
        if (st == BML_OK && (!meta.path || strcmp(meta.path, first))) fz_fail(TARGET, "meta.path is not the first part", 0);
        bml_cycler_meta_free(&meta);
        bml_cycler_summary *s = NULL;
        fz_reset_error();
        bml_status st2 = bml_cycler_summarize(first, fmt, NULL, &s);
        fz_check_status(st2, "bml_cycler_summarize");
        if (st2 == BML_OK && st != BML_OK) fz_fail(TARGET, "the summary read parts that bml_cycler_read refused", 0);
        for (size_t i = 1; st2 == BML_OK && i < s->n_cycles; i++)
            if (s->cycles[i].cycle <= s->cycles[i - 1].cycle) fz_fail(TARGET, "summary cycles do not rise", i);
        bml_cycler_summary_free(s);
    } else if (mode == 1) {
        char **files = NULL;
        size_t nf = 0;
        fz_reset_error();
        st = bml_cycler_list(dir, fmt, &files, &nf, NULL);
        fz_check_status(st, "bml_cycler_list");
        int one = 0, later = 0;
        for (size_t i = 0; i < nf; i++) {
            const char *b = strrchr(files[i], '/');
            b = b ? b + 1 : files[i];
            one |= !strcmp(b, names[0]);
            later |= !strcmp(b, names[1]) || !strcmp(b, names[2]);
            free(files[i]);
        }
        free(files);
        if (st == BML_OK && fmt == BML_CYCLER_MACCOR && one && later) fz_fail(TARGET, "a later part listed beside the first", nf);
    } else {
        bml_dataset *ds = NULL;
        fz_reset_error();
        st = bml_dataset_load_cycler(dir, fmt, NULL, NULL, NULL, &ds);
        fz_check_status(st, "bml_dataset_load_cycler");
        bml_dataset_free(ds);
    }
    free(first);
    free(dir);
    return 0;
}
