/* The _init functions of the data layer's versioned options structs (batteryml/dataset.h, batteryml/cycler.h):
 * each sets its struct to the _INIT macro, for languages without the macro (Python). */
#include "batteryml/cycler.h"
#include "batteryml/dataset.h"

void bml_oxford_opts_init(bml_oxford_opts *o) {
    bml_oxford_opts init = BML_OXFORD_OPTS_INIT;
    *o = init;
}

void bml_table_roles_init(bml_table_roles *r) {
    bml_table_roles init = BML_TABLE_ROLES_INIT;
    *r = init;
}

void bml_curve_columns_init(bml_curve_columns *c) {
    bml_curve_columns init = BML_CURVE_COLUMNS_INIT;
    *c = init;
}

void bml_qdlin_opts_init(bml_qdlin_opts *o) {
    bml_qdlin_opts init = BML_QDLIN_OPTS_INIT;
    *o = init;
}

void bml_cycler_summary_opts_init(bml_cycler_summary_opts *o) {
    bml_cycler_summary_opts init = BML_CYCLER_SUMMARY_OPTS_INIT;
    *o = init;
}

void bml_cycler_cells_init(bml_cycler_cells *c) {
    bml_cycler_cells init = BML_CYCLER_CELLS_INIT;
    *c = init;
}
