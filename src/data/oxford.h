/* The Oxford Performance Summary layout (src/data/oxford.c): its columns, for the Oxford loaders and the
 * synthetic-curve writer only. Pipelines read the dataset's roles (data/dataset_internal.h), never these. */
#ifndef BML_DATA_OXFORD_H
#define BML_DATA_OXFORD_H

#include <stddef.h>

/* Oxford canonical column names, in the order of the Performance Summary header. */
enum {
    BML__OX_SET, BML__OX_CYCLES, BML__OX_SET_START, BML__OX_SET_END, BML__OX_RPT_DATE, BML__OX_DAYS,
    BML__OX_TEMP_MEASURED, BML__OX_CHARGE_AH, BML__OX_ENERGY_WH, BML__OX_CAP_C10, BML__OX_CAP_C2,
    BML__OX_RESISTANCE, BML__OX_CELL_CAP, BML__OX_PE_CAP, BML__OX_NE_CAP, BML__OX_NE_GR_CAP,
    BML__OX_NE_SI_CAP, BML__OX_OFFSET, BML__OX_SOH, BML__OX_LAM_PE, BML__OX_LAM_NE, BML__OX_LAM_NE_GR,
    BML__OX_LAM_NE_SI, BML__OX_LLI, BML__OX_PE_LO, BML__OX_NE_LO, BML__OX_PE_HI, BML__OX_NE_HI,
    BML__OX_GR_FRAC, BML__OX_OCV_RMSE, BML__OX_NCOLS
};
extern const char *const bml__oxford_columns[BML__OX_NCOLS];
extern const char *const bml__oxford_headers[BML__OX_NCOLS];

/* Parse an Oxford Performance Summary file name ("Expt 5 - cell A (10degC) - Processed Data.csv",
 * "Expt 1 - 10degC - Processed Data.csv", "Expt 2,2 - ..."). Returns 0 on a match; the cell id (any
 * length) is the span (*cell, *cell_len) inside basename, *cell_len 0 when the name gives no letter. */
int bml__oxford_parse_name(const char *basename, int *experiment, const char **cell, size_t *cell_len,
                           double *temperature_c);

#endif
