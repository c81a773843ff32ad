/* Figures of a run, drawn with PLplot (cairo PNG and SVG) from the files of its run directory:
 * prediction vs truth, measured and predicted fade per cell, SHAP beeswarm and waterfall, importance
 * bars, attention heatmap and attention over time, training curves. Internal. */
#ifndef BML_EXPLAIN_FIGURES_H
#define BML_EXPLAIN_FIGURES_H

#include "batteryml/status.h"

/* Read run_dir's outputs and write run_dir/figures/<name>.png and .svg (figures whose inputs the run
 * does not have are skipped). *n_written receives the number of figures (may be NULL). */
bml_status bml__figures_draw(const char *run_dir, int *n_written);

/* A sweep's figures from its sweep.csv: `metric` (a column; NULL: the first <target>.rmse) against each
 * swept key, numbers on a linear or (positive over a decade or more) log axis, other values as categories;
 * written to sweep_dir/figures/sweep_<metric>_vs_<key>.{png,svg}. */
bml_status bml__figures_sweep(const char *sweep_dir, const char *metric, int *n_written);

#endif
