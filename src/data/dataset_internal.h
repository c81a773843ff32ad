/* The dataset's layout, shared by the loaders and the pipelines. Internal. */
#ifndef BML_DATA_DATASET_INTERNAL_H
#define BML_DATA_DATASET_INTERNAL_H

#include "batteryml/dataset.h"
#include "core/internal.h"

/* an auxiliary numeric table of a cell (Summary per Cycle / per Set) */
typedef struct {
    char *source;
    size_t n_rows, n_cols;
    char **names;
    double *values;
} bml__aux;

typedef struct {
    int experiment;
    char *cell_id;
    double temperature_c;
    char *source;
    size_t n_rows;
    double *values;   /* (n_rows, n_cols) */
    size_t *lines;    /* (n_rows) */
    int *file_column; /* (n_cols) 1-based column of each dataset column in `source` (0: absent) */
    bml__aux aux[2];  /* [0] Summary per Cycle, [1] Summary per Set (n_rows 0: none) */
} bml__cell;

/* one voltage curve (a slow-rate discharge or charge) with the targets of its reference test */
typedef struct {
    int experiment;
    char *cell_id;
    double temperature_c;
    int rpt;                /* reference test / set index */
    char *source;
    size_t n;
    double *q, *v;          /* (n) charge (Ah) and voltage (V) */
    double soh, capacity_ah, lam_ne, lam_pe, lli, days, throughput_ah; /* NaN when unknown */
} bml__curve;

/* Per-cell values of a cycle-life dataset (bml_dataset_load_qdlin): each cell's rows are its cycles, its
 * columns the capacity at each voltage of the grid. */
typedef struct {
    size_t n_points;   /* voltage grid points (= the dataset's n_cols) */
    double *grid;      /* (n_points) voltages, V */
    int first_cycle;   /* cycle number of row 0 of every cell */
    double *life;      /* (n_cells) cycle life; NaN when unknown (prediction only) */
    char **split;      /* (n_cells) set named by the index ("" when none) */
    bml__strvec attr_names;
    char **attr_values; /* (n_cells * attr_names.n) further index columns, as written */
} bml__qdlin;

struct bml_dataset {
    int oxford;
    bml__qdlin *qdlin; /* cycle-life data (NULL otherwise) */
    size_t n_cols;
    char **col_names; /* (n_cols) */
    size_t n_cells, cap_cells;
    bml__cell *cells;
    bml__strvec role_features, role_targets; /* generic tables only */
    size_t n_curves, cap_curves;             /* voltage-curve datasets */
    bml__curve *curves;
    size_t n_dup_segments, n_dup_rows; /* Oxford: segments of stacked files dropped as duplicates */
    char *note;                        /* what the loader left out, for bml_dataset_note (NULL: nothing) */
};

void bml__qdlin_free(bml__qdlin *q, size_t n_cells); /* NULL is harmless (src/data/qdlin.c) */

bml_status bml__dataset_push_curve(bml_dataset *ds, bml__curve *c); /* takes ownership of c's arrays */

/* Why a cell id cannot be one (NULL: it can). A cell id names folders (model/<fold>/ of a LOCO run) and CSV
 * rows, so it is checked where the data are loaded, before anything runs: not empty, no '/', not starting
 * with '.', no control character. */
const char *bml__cell_id_problem(const char *id);

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
