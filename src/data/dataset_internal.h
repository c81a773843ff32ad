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
    char **file;       /* (n_cells) the cell's file as the index names it, or its name in a folder without one */
    double *arena;     /* the values of cells 1.. in one mapping (huge pages where the kernel gives them: a page
                        * fault per 2 MiB, not per 4 KiB); NULL: each cell's own malloc'ed values */
    size_t arena_len;  /* bytes mapped */
    bml__strvec attr_names;
    char **attr_values; /* (n_cells * attr_names.n) further index columns, as written */
} bml__qdlin;

/* A dataset (src/data/dataset.c): cells whose rows run over columns identified by role (and name), or voltage
 * curves. Every source fills the same thing; pipelines look columns up by role (bml__dataset_need_role). */
struct bml_dataset {
    const char *source_kind; /* "oxford", "cycler", "table", "qdlin", "cycler_life", "curves" (static storage) */
    char *path;              /* what the source was loaded from, for messages */
    bml__qdlin *qdlin;       /* cycle-life data (NULL otherwise) */
    size_t n_cols;
    char **col_names;   /* (n_cols) */
    char **col_headers; /* (n_cols) each column's name in the source's files, for messages (NULL: col_names) */
    size_t role_first[BML_ROLE_COUNT], role_n[BML_ROLE_COUNT]; /* the columns of each role (role_n 0: none) */
    size_t n_cells, cap_cells;
    bml__cell *cells;
    size_t n_curves, cap_curves;             /* voltage-curve datasets */
    bml__curve *curves;
    size_t n_dup_segments, n_dup_rows; /* Oxford: segments of stacked files dropped as duplicates */
    char *note;                        /* what the loader left out, for bml_dataset_note (NULL: nothing) */
};

/* A new empty dataset of the source `kind` (static storage) loaded from path (copied); NULL when out of memory. */
bml_dataset *bml__dataset_new(const char *kind, const char *path);
/* Give ds (without columns yet) n columns named names[j] (copied); headers (may be NULL) their names in the
 * source's files, for messages. No column holds a role until bml__dataset_set_role. */
bml_status bml__dataset_set_columns(bml_dataset *ds, size_t n, const char *const *names, const char *const *headers);
/* Columns first .. first + n - 1 hold role (n 1 for a named role). */
void bml__dataset_set_role(bml_dataset *ds, bml_role role, size_t first, size_t n);
/* The column of a named role, or -1. */
int bml__dataset_role_col(const bml_dataset *ds, bml_role role);
/* The column of a named role that `who` (a pipeline: "pipeline summary_set") needs for `what` (e.g. "the
 * feature resistance_ohm") in *col; fails naming the role, what it is for and the source when ds has none. */
bml_status bml__dataset_need_role(const bml_dataset *ds, bml_role role, const char *who, const char *what, int *col);
/* The header of column j in the source's files (for messages). */
const char *bml__dataset_header(const bml_dataset *ds, size_t j);
/* Append cell c (takes ownership of its arrays; on failure the caller still owns them). */
bml_status bml__dataset_push_cell(bml_dataset *ds, bml__cell *c);
void bml__cell_free(bml__cell *c); /* the cell's arrays; leaves *c zeroed */
void bml__aux_free(bml__aux *a);   /* leaves *a zeroed */

void bml__qdlin_free(bml__qdlin *q, size_t n_cells); /* NULL is harmless (src/data/qdlin.c) */
/* The cells' values that lie in the qdlin arena set to NULL (bml_dataset_free: the arena is unmapped, not freed per
 * cell). */
void bml__qdlin_detach_values(bml_dataset *ds);

bml_status bml__dataset_push_curve(bml_dataset *ds, bml__curve *c); /* takes ownership of c's arrays */

/* Why a cell id cannot be one (NULL: it can). A cell id names folders (model/<fold>/ of a LOCO run) and CSV
 * rows, so it is checked where the data are loaded, before anything runs: not empty, no '/', not starting
 * with '.', no control character. */
const char *bml__cell_id_problem(const char *id);

/* The Oxford layout's column indices, for the Oxford loaders (and their tests); pipelines read roles. */
#include "data/oxford.h"

#endif
