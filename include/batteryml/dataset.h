/* Loading battery ageing data.
 *
 * A bml_dataset is a set of cells; each cell has meta data (experiment, cell id, nominal temperature)
 * and a table of numeric rows (one per ageing set for summary data) over named columns. Values are
 * in the program's internal units (Ah, Ohm, days); empty fields are NaN (missing), never zero. */
#ifndef BATTERYML_DATASET_H
#define BATTERYML_DATASET_H

#include "batteryml/export.h"

#include <stddef.h>

#include "batteryml/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bml_dataset bml_dataset; /* opaque */

/* Read-only view of one cell; pointers stay valid until the dataset is freed. */
typedef struct {
    int experiment;        /* 1..5 for the Oxford data; 0 when the source has none */
    const char *cell_id;   /* "A", or "40degC" for a file that names no letter */
    double temperature_c;  /* nominal temperature, deg C (NaN if unknown) */
    const char *source;    /* file the rows came from */
    size_t n_rows;
    const double *values;  /* (n_rows, n_columns) row-major */
    const size_t *lines;   /* (n_rows) 1-based line of each row in `source` */
} bml_cell_view;

/* Which experiments to load from the Oxford data: a list of ids, or all (n == 0).
 * Versioned as bml_run_opts (libgit2's convention): initialise with BML_OXFORD_OPTS_INIT (or bml_oxford_opts_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. */
#define BML_OXFORD_OPTS_VERSION 1
#define BML_OXFORD_OPTS_INIT {BML_OXFORD_OPTS_VERSION, NULL, 0}
typedef struct {
    unsigned int version; /* BML_OXFORD_OPTS_VERSION */
    const int *experiments;
    size_t n_experiments;
} bml_oxford_opts;
/* *o = BML_OXFORD_OPTS_INIT (for languages without the macro: Python) */
BML_API void bml_oxford_opts_init(bml_oxford_opts *o);

/* Load Oxford LG M50T Performance Summary data from `path`: one file, a flat folder of
 * `Expt N - cell X (TdegC) - Processed Data.csv` files, or the original folder tree (searched
 * recursively; `Expt 2,2`, `Cell A`/`cell A`). Meta comes from the file names; a file that stacks
 * several cells is split where `Ageing Sets` restarts, and a segment identical to a cell loaded from
 * its own file is dropped (counted in bml_dataset_note). Capacities are converted from mAh to Ah. opts may be NULL (all).
 * On success *out is owned by the caller (bml_dataset_free). */
BML_API bml_status bml_dataset_load_oxford(const char *path, const bml_oxford_opts *opts, bml_dataset **out);

/* ---- roles: what a dataset's columns mean, whatever the source calls them ----
 *
 * Every source fills the same thing: cells (id, experiment, nominal temperature: bml_cell_view) whose rows
 * are steps of the cell's time or cycle axis, over columns that carry roles. Pipelines look columns up by
 * role, never by a source's column name or position (summary_set reads set_index, throughput_ah,
 * resistance_ohm, ...; table reads feature and target). A named role (BML_ROLE_SET_INDEX .. BML_ROLE_LLI)
 * is held by at most one column, and one column may hold several (raw cycler data: the cycle is both the
 * set index and the cycle count); feature, target and curve are spans of consecutive columns. */
typedef enum {
    BML_ROLE_SET_INDEX = 0,     /* "set_index": the row's step on the cycle axis (Oxford ageing set, cycle number) */
    BML_ROLE_CYCLE,             /* "cycle": cycles done by the end of the row */
    BML_ROLE_TIME,              /* "time": the time axis (days for Oxford and raw cycler data) */
    BML_ROLE_TEMPERATURE_MEASURED, /* "temperature_measured_c": the row's measured temperature, deg C */
    BML_ROLE_THROUGHPUT_AH,     /* "throughput_ah": charge throughput so far, Ah */
    BML_ROLE_ENERGY_WH,         /* "energy_wh": energy throughput so far, Wh */
    BML_ROLE_RESISTANCE_OHM,    /* "resistance_ohm": resistance, Ohm (NaN where not measured) */
    BML_ROLE_CAPACITY_AH,       /* "capacity_ah": the reference capacity (Oxford C/10, a cycle's discharge), Ah */
    BML_ROLE_SOH,               /* "soh": state of health */
    BML_ROLE_LAM_NE,            /* "lam_ne": loss of active material, negative electrode */
    BML_ROLE_LAM_PE,            /* "lam_pe": loss of active material, positive electrode */
    BML_ROLE_LLI,               /* "lli": loss of lithium inventory */
    BML_ROLE_FEATURE,           /* "feature": the feature columns of a generic table */
    BML_ROLE_TARGET,            /* "target": the target columns of a generic table */
    BML_ROLE_CURVE,             /* "curve": a per-cycle curve, one column per grid point (cycle-life data) */
    BML_ROLE_COUNT
} bml_role;
/* The role's name ("soh", ...; "?" out of range). Static storage. */
BML_API const char *bml_role_name(bml_role role);
/* Which columns of ds hold the role: returns their number (0: none; at most 1 for a named role) and sets
 * *first (may be NULL) to the first of them. */
BML_API size_t bml_dataset_role_columns(const bml_dataset *ds, bml_role role, size_t *first);
/* The data source that filled ds ("oxford", "cycler", "table", "qdlin", "cycler_life", "curves"). Static storage. */
BML_API const char *bml_dataset_source(const bml_dataset *ds);

/* Column roles for a generic CSV table: one row per (cell, step). Names are CSV header names.
 * cell_column is required; temperature, time and experiment columns are optional (NULL). The time column
 * holds BML_ROLE_TIME, the features BML_ROLE_FEATURE, the targets BML_ROLE_TARGET.
 * Versioned as bml_run_opts (libgit2's convention): initialise with BML_TABLE_ROLES_INIT (or bml_table_roles_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. */
#define BML_TABLE_ROLES_VERSION 1
#define BML_TABLE_ROLES_INIT {BML_TABLE_ROLES_VERSION, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, 0}
typedef struct {
    unsigned int version; /* BML_TABLE_ROLES_VERSION */
    const char *cell_column;
    const char *temperature_column;
    const char *time_column;
    const char *experiment_column;
    const char *const *features;
    size_t n_features;
    const char *const *targets;
    size_t n_targets;
    int targets_optional; /* 1: empty target fields are kept as NaN (prediction on new data) */
} bml_table_roles;
/* *r = BML_TABLE_ROLES_INIT */
BML_API void bml_table_roles_init(bml_table_roles *r);

/* Load a generic CSV table with the given column roles. Feature fields may be empty (missing);
 * target fields must be finite numbers. On success *out is owned by the caller. */
BML_API bml_status bml_dataset_load_table(const char *path, const bml_table_roles *roles, bml_dataset **out);

/* A column of a named role (BML_ROLE_SET_INDEX .. BML_ROLE_LLI). */
typedef struct {
    bml_role role;
    const char *column; /* CSV header name */
} bml_role_column;
/* bml_dataset_load_table with columns of further named roles (each role once; the time axis is
 * roles->time_column's), so that the pipelines that read roles (summary_set) run on the table; their empty
 * fields are NaN. With at least one (n_named > 0), roles->features and roles->targets may be empty. named
 * is the caller's, read during the call only. */
BML_API bml_status bml_dataset_load_table_named(const char *path, const bml_table_roles *roles, const bml_role_column *named,
                                                size_t n_named, bml_dataset **out);

BML_API void bml_dataset_free(bml_dataset *ds); /* NULL is harmless */

BML_API size_t bml_dataset_n_cells(const bml_dataset *ds);
BML_API size_t bml_dataset_n_rows(const bml_dataset *ds);
BML_API size_t bml_dataset_n_columns(const bml_dataset *ds);
BML_API const char *bml_dataset_column_name(const bml_dataset *ds, size_t j);
/* Index of a column by name, or -1. */
BML_API int bml_dataset_column_index(const bml_dataset *ds, const char *name);
/* Fill *view for cell i (i < n_cells). */
BML_API void bml_dataset_cell(const bml_dataset *ds, size_t i, bml_cell_view *view);
/* A per-cell auxiliary table: the Oxford "Summary per Cycle" and "Summary per Set" files. Columns
 * keep their header names; numbers as given, dates as days since 1970-01-01, empty fields NaN. */
typedef struct {
    const char *source;
    size_t n_rows, n_columns;
    const char *const *column_names; /* (n_columns) */
    const double *values;            /* (n_rows, n_columns) */
} bml_table_view;

/* The cell's "cycle" (Summary per Cycle) or "set" (Summary per Set) table, found beside its
 * Performance Summary (the original tree's `Ageing Sets Summary/Summary per Cycle|Set/expt N - cell X
 * - cycle_data.csv|set_data.csv`, or the same folder). Returns 1 and fills *view when the cell has one,
 * 0 otherwise. */
BML_API int bml_dataset_cell_summary(const bml_dataset *ds, size_t i, const char *kind, bml_table_view *view);

/* ---- voltage curves (SPEC 2.1, 2.2): datasets of slow-rate discharge/charge curves ---- */

/* Oxford 0.1C voltage curves in the original layout (`Processed Timeseries Data/0.1C Voltage Curves/
 * Cell A/Expt 5 - cell A - RPT3 - 0.1C discharge data.csv`, columns Time (s), Voltage (V),
 * Current (mA), Charge (mA.h), Temperature (degC)) below `path`; each curve's targets come from the
 * Performance Summary row of the same RPT found in the same tree. */
BML_API bml_status bml_dataset_load_oxford_curves(const char *path, const bml_oxford_opts *opts, bml_dataset **out);
/* A Basytec export: the rows of one step (e.g. 13, the C/10 discharge) become one curve per cycle
 * (cycle 0: every cycle; each run of consecutive rows of the step in one cycle is a curve). Charge from
 * AhAccu (from the curve's first row), capacity target = the curve's total charge. The file is read by the
 * cycler registry's Basytec reader (bml_cycler_read, batteryml/cycler.h), with its checks and messages; a
 * curve also needs the Cycle and AhAccu columns and at least 2 rows. */
BML_API bml_status bml_dataset_load_basytec(const char *path, int step, int cycle, bml_dataset **out);
/* Generic capacity/voltage CSVs (a file or a folder of them), one curve per file: the columns named,
 * the cell and cycle read from the file name with a POSIX extended regular expression of two groups
 * (e.g. "cell_([0-9]+)_cyc_([0-9]+)"). Targets: capacity (total charge) and SoH = capacity / the cell's
 * first capacity. Versioned as bml_run_opts (libgit2's convention): initialise with BML_CURVE_COLUMNS_INIT (or bml_curve_columns_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. */
#if defined(__GNUC__) || defined(__clang__)
#define BML__NAN_INIT __builtin_nan("")
#else
#include <math.h>
#define BML__NAN_INIT NAN
#endif
#define BML_CURVE_COLUMNS_VERSION 1
#define BML_CURVE_COLUMNS_INIT {BML_CURVE_COLUMNS_VERSION, NULL, NULL, NULL, BML__NAN_INIT}
typedef struct {
    unsigned int version; /* BML_CURVE_COLUMNS_VERSION */
    const char *capacity_column, *voltage_column, *name_pattern;
    double temperature_c; /* NaN if unknown (the INIT) */
} bml_curve_columns;
/* *c = BML_CURVE_COLUMNS_INIT */
BML_API void bml_curve_columns_init(bml_curve_columns *c);
BML_API bml_status bml_dataset_load_curve_table(const char *path, const bml_curve_columns *cols, bml_dataset **out);
BML_API size_t bml_dataset_n_curves(const bml_dataset *ds);

/* Write the 0.1C pseudo-OCV discharge curve of every Performance Summary row under `summary_path`
 * (physics-based generator, SPEC 4.2) into out_dir in the Oxford layout, with the summary files beside
 * them; *n_written receives the number of curves. Rows without a complete electrode state are skipped. */
BML_API bml_status bml_synth_curves_write(const char *summary_path, const bml_oxford_opts *opts, const char *out_dir, size_t points,
                                  size_t *n_written);

/* ---- cycle life from early cycles (Severson et al. 2019; the published "Qdlin" layout) ----
 *
 * A folder of per-cell matrices of discharge capacity (Ah) interpolated on a voltage grid: by default
 * 1000 rows, row i at V_i = v_start + (v_end - v_start) * i / (n_points - 1) (3.6 V down to 2.0 V), and
 * 99 columns, column j = cycle first_cycle + j (cycles 2..100); comma-separated, no header. Cycle lives
 * come from an index: `cells.csv` in the folder (columns `file` (path relative to the folder) and
 * `cycle_life`, optionally `split`; any other column is kept as a per-cell attribute), or, without one,
 * every `<split>_cycle_lives.csv` (one life per line for `<split>/cell1.csv`, `<split>/cell2.csv`, ...).
 * An empty life is a cell without a known life: loaded (for prediction) with life NaN. A folder with neither
 * index is a folder of new cells: every regular `*.csv` file in it (not in subfolders; names starting with '.'
 * skipped) is a cell of unknown life, in natural name order (cell2.csv before cell10.csv).
 *
 * In the dataset each cell's rows are its cycles (row k = cycle first_cycle + k) and its columns the
 * capacity at each grid voltage (column j = V_j), whatever the file's orientation; the cell id is the
 * file's path without `.csv`, '/' written '_' ("train_cell1"); a row's `lines` entry is its file line when
 * transposed, 0 otherwise (a cycle is a column of the file). Refused, naming file, line and column: a
 * matrix of another shape, a field that is not a finite number, an index naming a missing file or one file
 * twice, a life that is not a positive number.
 * Versioned as bml_run_opts (libgit2's convention): initialise with BML_QDLIN_OPTS_INIT (or bml_qdlin_opts_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. The INIT holds the published defaults. */
#define BML_QDLIN_OPTS_VERSION 1
#define BML_QDLIN_OPTS_INIT {BML_QDLIN_OPTS_VERSION, NULL, 3.6, 2.0, 1000, 99, 2, 0}
typedef struct {
    unsigned int version; /* BML_QDLIN_OPTS_VERSION */
    const char *index;  /* index file, relative to the folder (NULL: cells.csv, else *_cycle_lives.csv) */
    double v_start, v_end;
    size_t n_points;    /* grid points (file rows, or columns when transposed) */
    size_t n_cycles;    /* cycles per file (0: as the first file has) */
    int first_cycle;    /* cycle number of the first cycle column */
    int transposed;     /* 1: rows are cycles and columns voltages */
} bml_qdlin_opts;
/* *opts = BML_QDLIN_OPTS_INIT: the published defaults, 3.6 V to 2.0 V in 1000 points, 99 cycles from cycle 2,
 * rows = voltage. bml_qdlin_opts_default is the same. */
BML_API void bml_qdlin_opts_init(bml_qdlin_opts *opts);
BML_API void bml_qdlin_opts_default(bml_qdlin_opts *opts);
/* Load the folder `path` (opts NULL: the defaults). On success *out is owned by the caller. The cells' files are
 * read on bml_parallel_set_thread_local's / bml_parallel_set_threads' thread budget (every core when neither was
 * called): the dataset, and the first error in file order, are the same at any count. */
BML_API bml_status bml_dataset_load_qdlin(const char *path, const bml_qdlin_opts *opts, bml_dataset **out);
/* 1 for a cycle-life dataset: bml_dataset_load_qdlin, or data=cycler_life (raw cycler exports, src/data/cycler_life.h). */
BML_API int bml_dataset_is_qdlin(const bml_dataset *ds);
/* Cycle life of cell i (NaN: unknown, or not a cycle-life dataset). */
BML_API double bml_dataset_cell_life(const bml_dataset *ds, size_t i);
/* The set cell i belongs to ("train", "test1", ...; "" when none). Owned by ds. */
BML_API const char *bml_dataset_cell_split(const bml_dataset *ds, size_t i);
/* The file of cell i as its index names it (relative to the folder, as in cells.csv: "train/cell1.csv"), or
 * its file name in a folder without an index ("cell7.csv"); NULL when ds is not a cycle-life dataset. Owned by
 * ds. */
BML_API const char *bml_dataset_cell_file(const bml_dataset *ds, size_t i);
/* A further index column of cell i by name ("charging_policy"), as written; NULL when there is none. */
BML_API const char *bml_dataset_cell_attr(const bml_dataset *ds, size_t i, const char *name);
/* The voltage grid (*v, n_points values; owned by ds) and the cycle number of each cell's row 0. Returns
 * n_points (0 when ds is not a cycle-life dataset). */
BML_API size_t bml_dataset_qdlin_grid(const bml_dataset *ds, const double **v, int *first_cycle);

/* What the loader left out on purpose, for the caller to print ("2 segment(s) (41 rows) of stacked files
 * dropped: identical to cells loaded from their own files"); "" when it kept everything. Owned by ds. */
BML_API const char *bml_dataset_note(const bml_dataset *ds);
/* 1 for Oxford Performance Summary data and raw cycler data (sources "oxford" and "cycler": rows of the
 * summary roles), 0 otherwise. */
BML_API int bml_dataset_is_oxford(const bml_dataset *ds);
/* The names of the columns of role feature / target (a generic table's data.features / data.targets; none
 * for the other sources). *names is owned by ds. */
BML_API size_t bml_dataset_role_features(const bml_dataset *ds, const char *const **names);
BML_API size_t bml_dataset_role_targets(const bml_dataset *ds, const char *const **names);

#ifdef __cplusplus
}
#endif
#endif
