/* Fuzz target: the Oxford Performance Summary loader (src/data/oxford.c) with the cell's Summary per
 * Set / per Cycle files beside it.
 * Input: parts split at FZ_SEP: [0] "Expt 5 - cell A (25degC) - Processed Data.csv",
 * [1] "expt 5 - cell A - set_data.csv", [2] "expt 5 - cell A - cycle_data.csv",
 * [3] "Expt 5 - 25degC - Processed Data.csv" (a file stacking several cells); the folder is loaded.
 * An empty part after the first writes no file (an input of one part is one summary file). */
#include <math.h>
#include <stdlib.h>

#include "batteryml/dataset.h"
#include "fuzz_util.h"

static const char *const names[4] = {"Expt 5 - cell A (25degC) - Processed Data.csv", "expt 5 - cell A - set_data.csv",
                                     "expt 5 - cell A - cycle_data.csv", "Expt 5 - 25degC - Processed Data.csv"};

/* read every value a caller may read, so that a dataset inconsistent with its counts is caught */
static volatile double sink;
static void walk(const bml_dataset *ds) {
    double acc = 0;
    for (size_t j = 0; j < bml_dataset_n_columns(ds); j++) acc += (double)(bml_dataset_column_name(ds, j)[0]);
    for (size_t i = 0; i < bml_dataset_n_cells(ds); i++) {
        bml_cell_view v;
        bml_dataset_cell(ds, i, &v);
        acc += v.cell_id[0] + v.source[0] + v.temperature_c;
        for (size_t r = 0; r < v.n_rows; r++) {
            acc += (double)v.lines[r];
            for (size_t j = 0; j < bml_dataset_n_columns(ds); j++) acc += v.values[r * bml_dataset_n_columns(ds) + j];
        }
        const char *kinds[2] = {"cycle", "set"};
        for (int k = 0; k < 2; k++) {
            bml_table_view t;
            if (!bml_dataset_cell_summary(ds, i, kinds[k], &t)) continue;
            for (size_t j = 0; j < t.n_columns; j++) acc += t.column_names[j][0];
            for (size_t r = 0; r < t.n_rows * t.n_columns; r++) acc += t.values[r];
        }
    }
    sink = acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *parts[4];
    size_t lens[4];
    size_t n = fz_split(data, size, parts, lens, 4);
    char *dir = fz_fresh_dir("oxford");
    for (size_t i = 0; i < n; i++)
        if (i == 0 || lens[i]) free(fz_write(dir, names[i], parts[i], lens[i]));
    bml_dataset *ds = NULL;
    fz_reset_error();
    bml_status st = bml_dataset_load_oxford(dir, NULL, &ds);
    fz_check_status(st, "bml_dataset_load_oxford");
    if (st == BML_OK) walk(ds);
    bml_dataset_free(ds);
    free(dir);
    return 0;
}
