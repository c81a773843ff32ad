/* Figures of a run, drawn with PLplot (cairo PNG and SVG) from the files of its run directory:
 * prediction vs truth, measured and predicted fade per cell, SHAP beeswarm and waterfall, importance
 * bars, attention heatmap and attention over time, training curves, dQ/dV curves, latent
 * trajectories. Internal.
 *
 * Threads: PLplot is one process-global state machine; every use of it in this module holds one
 * mutex (its exit handler jumps back through a thread-local jmp_buf), so two threads may call
 * bml__figures_draw at once: their figures are drawn one after the other. */
#ifndef BML_EXPLAIN_FIGURES_H
#define BML_EXPLAIN_FIGURES_H

#include "batteryml/status.h"

/* Scatters of more points than this (prediction vs truth, fade per cell, SHAP beeswarm per target)
 * draw every k-th point in file order, k = ceil(n / BML__FIGURE_MAX_POINTS): the same points at every
 * run whatever the thread count; the figure's title says "(one point in k of n drawn)". */
#define BML__FIGURE_MAX_POINTS 5000

/* Read run_dir's outputs and write run_dir/figures/<name>.png and .svg. Every CSV read is checked
 * whole first: a malformed one (binary, truncated, a missing column, text where a number belongs)
 * fails with file, line and column. A file the run does not have skips its figures; the reasons are
 * listed by bml__figures_draw_noting. Each figure is drawn into a temporary file, checked complete (a
 * full disk makes truncated files) and renamed into place; a figure that cannot be written is an error
 * naming it. *n_written receives the number of figures written and checked, also on failure (may be
 * NULL). */
bml_status bml__figures_draw(const char *run_dir, int *n_written);

/* A sweep's figures from its sweep.csv: `metric` (a column; NULL: the first <target>.rmse) against each
 * swept key, numbers on a linear or (positive over a decade or more) log axis, other values as categories;
 * written to sweep_dir/figures/sweep_<metric>_vs_<key>.{png,svg}. */
bml_status bml__figures_sweep(const char *sweep_dir, const char *metric, int *n_written);

/* The same, and *skipped (may be NULL) receives the figures skipped for want of a file, one
 * "file: reason" per line, or NULL when none; the caller frees it (also on failure). */
bml_status bml__figures_draw_noting(const char *run_dir, int *n_written, char **skipped);

#endif
