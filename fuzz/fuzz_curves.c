/* Fuzz target: the voltage-curve readers (src/data/curves.c).
 * Input: one selector byte, then parts split at FZ_SEP. Selector % 3:
 *   0  Basytec export (step 13; cycle = selector / 3 % 4, 0 meaning every cycle; read through the cycler
 *      registry's Basytec reader, as fuzz_cycler's selector 5 reads it): [0] the export;
 *   1  curve table (capacity/voltage CSVs, configs/data/curve_table.yaml's columns and name pattern):
 *      [0] "diagnostic_test_cell_11_cyc_3.csv", [1] "..._cyc_56.csv", [2] "diagnostic_test_cell_7_cyc_3.csv";
 *   2  Oxford 0.1C curves: [0] "Expt 5 - cell A - RPT3 - 0.1C discharge data.csv",
 *      [1] "Expt 5 - cell A (25degC) - Processed Data.csv" (the targets), [2] a second curve (RPT4). */
#include <math.h>
#include <stdlib.h>

#include "batteryml/dataset.h"
#include "data/dataset_internal.h"
#include "fuzz_util.h"

static volatile double sink;

static void walk(const bml_dataset *ds) {
    double acc = 0;
    for (size_t i = 0; i < bml_dataset_n_curves(ds); i++) {
        const bml__curve *c = &ds->curves[i];
        acc += c->cell_id[0] + c->source[0] + c->rpt + c->soh + c->capacity_ah + c->temperature_c;
        for (size_t k = 0; k < c->n; k++) acc += c->q[k] + c->v[k];
    }
    sink = acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int sel = data[0];
    const uint8_t *parts[3];
    size_t lens[3];
    size_t n = fz_split(data + 1, size - 1, parts, lens, 3);
    char *dir = fz_fresh_dir("curves");
    bml_dataset *ds = NULL;
    bml_status st;
    const char *what;
    if (sel % 3 == 0) {
        char *path = fz_write(dir, "Cell782_0p1C_25degC.csv", parts[0], lens[0]);
        fz_reset_error();
        st = bml_dataset_load_basytec(path, 13, sel / 3 % 4, &ds);
        what = "bml_dataset_load_basytec";
        free(path);
    } else if (sel % 3 == 1) {
        static const char *const names[3] = {"diagnostic_test_cell_11_cyc_3.csv", "diagnostic_test_cell_11_cyc_56.csv",
                                             "diagnostic_test_cell_7_cyc_3.csv"};
        for (size_t i = 0; i < n; i++) free(fz_write(dir, names[i], parts[i], lens[i]));
        bml_curve_columns cols = {.version = BML_CURVE_COLUMNS_VERSION,
                                  .capacity_column = "charge_capacity",
                                  .voltage_column = "voltage",
                                  .name_pattern = "cell_([0-9]+)_cyc_([0-9]+)",
                                  .temperature_c = 25};
        fz_reset_error();
        st = bml_dataset_load_curve_table(dir, &cols, &ds);
        what = "bml_dataset_load_curve_table";
    } else {
        static const char *const names[3] = {"Expt 5 - cell A - RPT3 - 0.1C discharge data.csv",
                                             "Expt 5 - cell A (25degC) - Processed Data.csv",
                                             "Expt 5 - cell A - RPT4 - 0.1C discharge data.csv"};
        for (size_t i = 0; i < n; i++) free(fz_write(dir, names[i], parts[i], lens[i]));
        fz_reset_error();
        st = bml_dataset_load_oxford_curves(dir, NULL, &ds);
        what = "bml_dataset_load_oxford_curves";
    }
    fz_check_status(st, what);
    if (st == BML_OK) walk(ds);
    bml_dataset_free(ds);
    free(dir);
    return 0;
}
