/* Fuzz target: the generic table loader (src/data/table.c) with the roles of configs/data/table.yaml,
 * targets required and then optional, and with named roles only (bml_dataset_load_table_named). Input: the
 * CSV file. */
#include <stdlib.h>

#include "batteryml/dataset.h"
#include "fuzz_util.h"

static volatile double sink;

static void walk(const bml_dataset *ds) {
    double acc = 0;
    size_t C = bml_dataset_n_columns(ds);
    for (size_t j = 0; j < C; j++) acc += bml_dataset_column_name(ds, j)[0];
    for (size_t i = 0; i < bml_dataset_n_cells(ds); i++) {
        bml_cell_view v;
        bml_dataset_cell(ds, i, &v);
        acc += v.cell_id[0] + v.source[0] + v.temperature_c + v.experiment;
        for (size_t r = 0; r < v.n_rows; r++) {
            acc += (double)v.lines[r];
            for (size_t j = 0; j < C; j++) acc += v.values[r * C + j];
        }
    }
    const char *const *names;
    size_t nf = bml_dataset_role_features(ds, &names);
    for (size_t j = 0; j < nf; j++) acc += names[j][0];
    size_t nt = bml_dataset_role_targets(ds, &names);
    for (size_t j = 0; j < nt; j++) acc += names[j][0];
    sink = acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const features[] = {"charge_throughput_ah", "resistance_ohm", "temperature_k"};
    static const char *const targets[] = {"LLI"};
    char *path = fz_write(fz_scratch(), "table.csv", data, size);
    for (int optional = 0; optional < 2; optional++) {
        bml_table_roles roles = {.version = BML_TABLE_ROLES_VERSION,
                                 .cell_column = "cell",
                                 .temperature_column = "temperature_c",
                                 .time_column = "days",
                                 .experiment_column = "experiment",
                                 .features = features,
                                 .n_features = 3,
                                 .targets = targets,
                                 .n_targets = 1,
                                 .targets_optional = optional};
        bml_dataset *ds = NULL;
        fz_reset_error();
        bml_status st = bml_dataset_load_table(path, &roles, &ds);
        fz_check_status(st, "bml_dataset_load_table");
        if (st == BML_OK) walk(ds);
        bml_dataset_free(ds);
    }
    /* the columns of summary_set's roles, no features or targets */
    static const bml_role_column named[] = {{BML_ROLE_SET_INDEX, "set_index"},
                                            {BML_ROLE_THROUGHPUT_AH, "charge_throughput_ah"},
                                            {BML_ROLE_RESISTANCE_OHM, "resistance_ohm"},
                                            {BML_ROLE_LLI, "LLI"}};
    bml_table_roles roles = {.version = BML_TABLE_ROLES_VERSION, .cell_column = "cell", .temperature_column = "temperature_c", .time_column = "days"};
    bml_dataset *ds = NULL;
    fz_reset_error();
    bml_status st = bml_dataset_load_table_named(path, &roles, named, sizeof named / sizeof *named, &ds);
    fz_check_status(st, "bml_dataset_load_table_named");
    if (st == BML_OK) {
        walk(ds);
        size_t j = 0;
        if (bml_dataset_role_columns(ds, BML_ROLE_LLI, &j) != 1 || j >= bml_dataset_n_columns(ds)) abort();
    }
    bml_dataset_free(ds);
    free(path);
    return 0;
}
