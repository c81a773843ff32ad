/* Fuzz target: the raw cycler-export readers (src/data/cycler_read.c: Arbin, Maccor, BioLogic, Novonix,
 * Basytec, and format detection) and the per-cycle summary and datasets built on them
 * (src/data/cycler_summary.c).
 * Input: one selector byte, then parts split at FZ_SEP: [0] the export, [1] (optional) its companion,
 * written both as "<stem>_Metadata.csv" (Arbin's metadata) and "<stem>.mpl" (BioLogic's settings log).
 * Selector:
 *   % 6        the format: 0 detect (BML_CYCLER_AUTO), 1 arbin, 2 maccor, 3 biologic, 4 novonix, 5 basytec;
 *   / 6 % 4    what runs: 0 bml_cycler_read, then bml_cycler_summarize (default options);
 *              1 the same with other options (a 7-point grid over 0-5 V, a 0 s resistance window, raw
 *                discharge curves of cycles up to 1C kept); 2 bml_dataset_load_cycler on the folder;
 *              3 bml_dataset_load_cycler_curves on the folder (up to 1C);
 *   / 24 % 3   the cell id (datasets): from the file name, the barcode, the channel;
 *   / 72 % 2   the SoH reference (datasets): the first cycle, the nominal capacity;
 *   / 144      the export's name: 0 "cell.csv", 1 "cell.052" (a Maccor channel number).
 * Besides "no crash, a failure has a message", the harness checks what batteryml/cycler.h promises of a
 * successful read: lines rising, test time finite and non-decreasing, current and voltage finite,
 * capacities and energies NaN or >= 0 and non-decreasing within a cycle, meta.n_points rows handed over;
 * and of a summary: cycle indices rising, only the last cycle incomplete, each cycle's first line and
 * point count those of its rows, throughput non-decreasing, curves within the cycle's capacity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/cycler.h"
#include "data/dataset_internal.h"
#include "fuzz_util.h"

static volatile double sink;

#define TARGET "cycler"

/* ---- the rows as read, checked against the reader's contract; kept for the summary's checks ---- */
typedef struct {
    size_t n, cap;
    size_t *line;
    long *cycle;
    bml_cycler_point prev;
} rows;

static int nonneg(double x) { return isnan(x) || x >= 0; }

/* x within [lo, hi] up to rounding */
static int within(double x, double lo, double hi) {
    double tol = 1e-9 * (fabs(lo) + fabs(hi)) + 1e-12;
    return x >= lo - tol && x <= hi + tol;
}

static bml_status on_row(const bml_cycler_point *p, void *user) {
    rows *r = user;
    if (p->line < 1 || (r->n && p->line <= r->prev.line)) fz_fail(TARGET, "row lines do not rise", p->line);
    if (!isfinite(p->test_time_s)) fz_fail(TARGET, "test time not finite", p->line);
    if (r->n && p->test_time_s < r->prev.test_time_s) fz_fail(TARGET, "test time goes backwards", p->line);
    if (!isfinite(p->current_a) || !isfinite(p->voltage_v)) fz_fail(TARGET, "current or voltage not finite", p->line);
    if (!(isnan(p->resistance_ohm) || p->resistance_ohm > 0)) fz_fail(TARGET, "resistance neither NaN nor > 0", p->line);
    if (isinf(p->temperature_c) || isinf(p->unix_time)) fz_fail(TARGET, "temperature or wall-clock time infinite", p->line);
    const double now[4] = {p->charge_ah, p->discharge_ah, p->charge_wh, p->discharge_wh};
    const double was[4] = {r->prev.charge_ah, r->prev.discharge_ah, r->prev.charge_wh, r->prev.discharge_wh};
    for (int k = 0; k < 4; k++) {
        if (!nonneg(now[k])) fz_fail(TARGET, "a capacity or energy below 0", p->line);
        /* within a cycle: non-decreasing, and logged on every row or on none */
        if (r->n && p->cycle == r->prev.cycle && (isnan(now[k]) != isnan(was[k]) || now[k] < was[k]))
            fz_fail(TARGET, "a capacity or energy decreases within a cycle", p->line);
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        size_t *l = realloc(r->line, cap * sizeof *l);
        long *c = realloc(r->cycle, cap * sizeof *c);
        if (!l || !c) abort();
        r->line = l, r->cycle = c, r->cap = cap;
    }
    r->line[r->n] = p->line, r->cycle[r->n] = p->cycle, r->n++;
    r->prev = *p;
    return BML_OK;
}

static void check_meta(const bml_cycler_meta *m, size_t n_rows) {
    if (m->format == BML_CYCLER_AUTO || !m->path || !m->cell) fz_fail(TARGET, "meta without format, path or cell", 0);
    if (m->n_points != n_rows) fz_fail(TARGET, "meta.n_points is not the rows handed over", m->n_points);
    if (!(isnan(m->nominal_capacity_ah) || (m->nominal_capacity_ah > 0 && isfinite(m->nominal_capacity_ah))))
        fz_fail(TARGET, "nominal capacity neither NaN nor finite and > 0", 0);
}

static void check_curve(const double *c, size_t n, double cap) {
    for (size_t g = 0; g < n; g++)
        if (!isnan(c[g]) && !(cap >= 0 && within(c[g], 0, cap))) fz_fail(TARGET, "a curve point outside [0, the cycle's capacity]", g);
}

/* the summary against the rows read (rs, from bml_cycler_read of the same file) */
static void check_summary(const bml_cycler_summary *s, const rows *rs) {
    check_meta(&s->meta, rs->n);
    if (!s->n_cycles) fz_fail(TARGET, "a summary without cycles", 0);
    size_t row = 0;
    double through = 0;
    for (size_t i = 0; i < s->n_cycles; i++) {
        const bml_cycler_cycle *c = &s->cycles[i];
        if (i && c->cycle <= s->cycles[i - 1].cycle) fz_fail(TARGET, "summary cycles do not rise", c->first_line);
        if (c->complete != (i + 1 < s->n_cycles)) fz_fail(TARGET, "complete is not 'a later cycle follows'", c->first_line);
        /* the cycle's rows: those from its first line with its index */
        if (row >= rs->n || rs->line[row] != c->first_line) fz_fail(TARGET, "a cycle's first line is not its first row's", c->first_line);
        size_t n = 0;
        while (row < rs->n && rs->cycle[row] == c->cycle) row++, n++;
        if (c->n_points != n) fz_fail(TARGET, "a cycle's n_points is not the count of its rows", c->first_line);
        if (!(c->duration_s >= 0) || !isfinite(c->start_time_s)) fz_fail(TARGET, "a cycle's start or duration", c->first_line);
        const double q[] = {c->charge_ah,  c->discharge_ah,       c->charge_wh,          c->discharge_wh,
                            c->coulombic_efficiency, c->energy_efficiency, c->mean_abs_current_a};
        for (size_t k = 0; k < sizeof q / sizeof *q; k++)
            if (!nonneg(q[k])) fz_fail(TARGET, "a cycle's capacity, energy, efficiency or current below 0", c->first_line);
        if (!(c->throughput_ah >= through)) fz_fail(TARGET, "throughput decreases", c->first_line);
        /* the curves count every step of the cycle: under the largest-step rule they reach the sum of the steps (the
         * cycle's throughput), which the largest step is at most */
        const int largest = s->opts.capacity_rule == BML_CYCLER_CAPACITY_LARGEST_STEP;
        const double moved = (c->throughput_ah - through) * (1 + 1e-9);
        const double cap_c = largest && !isnan(c->charge_ah) ? moved : c->charge_ah;
        const double cap_d = largest && !isnan(c->discharge_ah) ? moved : c->discharge_ah;
        if (largest && ((c->charge_ah > cap_c) || (c->discharge_ah > cap_d)))
            fz_fail(TARGET, "a largest step above the sum of the cycle's steps", c->first_line);
        through = c->throughput_ah;
        if (!(isnan(c->resistance_ohm) || c->resistance_ohm > 0)) fz_fail(TARGET, "a cycle's resistance", c->first_line);
        if (!isnan(c->temperature_mean_c) &&
            !within(c->temperature_mean_c, c->temperature_min_c, c->temperature_max_c))
            fz_fail(TARGET, "mean temperature outside [min, max]", c->first_line);
        check_curve(c->charge_curve_ah, s->opts.n_grid, cap_c);
        check_curve(c->discharge_curve_ah, s->opts.n_grid, cap_d);
        if (c->n_raw) {
            if (!(s->opts.raw_max_c_rate > 0) || c->n_raw < 2 || !c->raw_q_ah || !c->raw_v) fz_fail(TARGET, "raw curve", c->first_line);
            for (size_t k = 0; k < c->n_raw; k++)
                if (!within(c->raw_q_ah[k], 0, cap_d) || !isfinite(c->raw_v[k]))
                    fz_fail(TARGET, "a raw curve point outside [0, the discharge capacity]", c->first_line);
        }
    }
    if (row != rs->n) fz_fail(TARGET, "rows left out of every cycle", row);
}

static void walk_dataset(const bml_dataset *ds) {
    double acc = 0;
    for (size_t i = 0; i < ds->n_cells; i++) {
        const bml__cell *c = &ds->cells[i];
        if (!c->n_rows) fz_fail(TARGET, "a cell without rows", 0);
        acc += c->cell_id[0] + c->source[0] + c->temperature_c;
        for (size_t r = 0; r < c->n_rows; r++) {
            acc += (double)c->lines[r];
            for (size_t j = 0; j < ds->n_cols; j++) acc += c->values[r * ds->n_cols + j];
        }
    }
    for (size_t i = 0; i < ds->n_curves; i++) {
        const bml__curve *c = &ds->curves[i];
        acc += c->cell_id[0] + c->source[0] + c->soh + c->capacity_ah + c->days + c->throughput_ah;
        /* the curve's reference-test index is its cycle ("PATH:LINE (cycle N)") */
        const char *cy = strrchr(c->source, '(');
        if (!cy || strtol(cy + 7, NULL, 10) != c->rpt) fz_fail(TARGET, "a curve's rpt is not its cycle", 0);
        for (size_t k = 0; k < c->n; k++) acc += c->q[k] + c->v[k];
    }
    sink = acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sel = data[0];
    bml_cycler_format fmt = (bml_cycler_format)(sel % 6);
    int mode = sel / 6 % 4;
    static const char *const cell_from[3] = {"file", "barcode", "channel"};
    bml_cycler_cells cells = {.version = BML_CYCLER_CELLS_VERSION, .soh_reference = sel / 72 % 2 ? "nominal" : "first_cycle",
                              .cell_from = cell_from[sel / 24 % 3]};
    const uint8_t *parts[2];
    size_t lens[2];
    size_t n = fz_split(data + 1, size - 1, parts, lens, 2);
    char *dir = fz_fresh_dir("cycler");
    char *path = fz_write(dir, sel / 144 ? "cell.052" : "cell.csv", parts[0], lens[0]);
    if (n > 1) {
        free(fz_write(dir, "cell_Metadata.csv", parts[1], lens[1]));
        free(fz_write(dir, "cell.mpl", parts[1], lens[1]));
    }
    bml_status st;
    if (mode < 2) {
        rows rs = {0};
        bml_cycler_meta meta;
        fz_reset_error();
        st = bml_cycler_read(path, fmt, on_row, &rs, &meta);
        fz_check_status(st, "bml_cycler_read");
        if (st == BML_OK) check_meta(&meta, rs.n);
        bml_cycler_meta_free(&meta);
        bml_cycler_summary_opts o = bml_cycler_summary_defaults();
        if (mode == 1)
            o.v_min = 0, o.v_max = 5, o.n_grid = 7, o.ir_window_s = 0, o.raw_max_c_rate = 1,
            o.capacity_rule = BML_CYCLER_CAPACITY_LARGEST_STEP; /* BEEP's rule */
        bml_cycler_summary *s = NULL;
        fz_reset_error();
        bml_status st2 = bml_cycler_summarize(path, fmt, &o, &s);
        fz_check_status(st2, "bml_cycler_summarize");
        /* the summary reads what bml_cycler_read reads; it may stop earlier only at a cycle index going back */
        if ((st2 == BML_OK) && st != BML_OK) fz_fail(TARGET, "the summary read a file that bml_cycler_read refused", 0);
        if (st2 == BML_OK) check_summary(s, &rs);
        bml_cycler_summary_free(s);
        free(rs.line);
        free(rs.cycle);
    } else {
        bml_dataset *ds = NULL;
        fz_reset_error();
        if (mode == 2) {
            size_t dropped = 0;
            st = bml_dataset_load_cycler(dir, fmt, NULL, &cells, &dropped, &ds);
            fz_check_status(st, "bml_dataset_load_cycler");
        } else {
            st = bml_dataset_load_cycler_curves(dir, fmt, NULL, 1.0, &cells, &ds);
            fz_check_status(st, "bml_dataset_load_cycler_curves");
        }
        if (st == BML_OK) walk_dataset(ds);
        bml_dataset_free(ds);
    }
    free(path);
    free(dir);
    return 0;
}
