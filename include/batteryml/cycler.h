/* Raw battery-cycler exports: streaming readers (a registry of formats: Arbin, Maccor, BioLogic text and
 * binary .mpr, Novonix, Basytec; bml_cycler_format_count), one canonical time series, and the per-cycle
 * summary built from it.
 *
 * A reader turns the vendor's layout into bml_cycler_point rows, one per data row of the file, handed to a
 * callback as it reads: memory does not grow with the file. Units: seconds, amperes (charge positive),
 * volts, ampere-hours and watt-hours (counted up from zero within each cycle, charge and discharge apart,
 * however the vendor counts: per step with a state code, per half cycle, per cycle or over the whole test,
 * each read by the vendor's own definition: a counter that falls where the instrument does not restart it
 * is noise, its maximum held and the fall counted in bml_cycler_meta.n_counter_drops), degrees Celsius, ohms.
 * Quantities a file does not log are NaN. */
#ifndef BATTERYML_CYCLER_H
#define BATTERYML_CYCLER_H

#include "batteryml/export.h"

#include <stddef.h>

#include "batteryml/dataset.h"
#include "batteryml/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BML_CYCLER_AUTO = 0, /* detect from the content */
    BML_CYCLER_ARBIN,    /* MITS Pro CSV export (+ NAME_Metadata.csv beside it) */
    BML_CYCLER_MACCOR,   /* text export: title line, tab-separated header (Rec#, Cyc#, Step, ...) */
    BML_CYCLER_BIOLOGIC, /* EC-Lab / BT-Lab text export (';' or tab, units in the column names) */
    BML_CYCLER_NOVONIX,  /* HPC data file ([Summary], [Protocol], [Data]) */
    BML_CYCLER_BASYTEC   /* CSV export: "Key,Value" lines, Step,Status,...,AhAccu,... header, a units row */
} bml_cycler_format;

/* The formats are a registry (src/data/cycler_read.c, one entry per format: name, content sniffer, reader,
 * counter rule, help): the registered formats are 1 .. bml_cycler_format_count() in registry order (the
 * constants above are the first five; a format registered later has a number but no constant: parse its
 * name). Static storage, read-only: any thread may call these at any time. */
BML_API size_t bml_cycler_format_count(void);
/* "arbin", "maccor", "biologic", "novonix", "basytec", ... ("auto" for BML_CYCLER_AUTO, "?" out of range). */
BML_API const char *bml_cycler_format_name(bml_cycler_format f);
/* One line: the layouts the format's reader reads (NULL out of range). */
BML_API const char *bml_cycler_format_describe(bml_cycler_format f);
/* How the format's capacity and energy counters count and how they are read (NULL for auto / out of range). */
BML_API const char *bml_cycler_format_counters(bml_cycler_format f);
/* Parse a format name (case-insensitive; "auto" too). Fails naming the valid names. */
BML_API bml_status bml_cycler_format_parse(const char *name, bml_cycler_format *out);
/* Detect the format of a file from its first lines. Fails (BML_ERR_SCHEMA) naming the file and the
 * formats it knows when none matches. */
BML_API bml_status bml_cycler_detect(const char *path, bml_cycler_format *out);

/* One row of the canonical time series. */
typedef struct {
    double test_time_s;       /* since the start of the test */
    long cycle, step;         /* the cycler's own indices (1 for both when the file logs none) */
    double current_a;         /* charge positive */
    double voltage_v;
    double charge_ah, discharge_ah, charge_wh, discharge_wh; /* within the cycle, non-decreasing */
    double temperature_c;     /* NaN when not logged */
    double resistance_ohm;    /* NaN when not logged (a logged 0 means "not measured" and is NaN) */
    double unix_time;         /* wall-clock time of the row as written (seconds since 1970), NaN if none */
    size_t line;              /* 1-based line in the file (a Maccor test's later part: in that part) */
} bml_cycler_point;

/* What the file says about itself. Strings are owned by the struct (NULL when absent); release with
 * bml_cycler_meta_free. */
typedef struct {
    bml_cycler_format format;
    char *path;        /* the file read */
    char *cell;        /* the file name without its extension */
    char *channel, *barcode, *protocol, *start_time;
    double nominal_capacity_ah; /* NaN when the file gives none */
    size_t n_points;   /* rows handed to the callback */
    size_t n_blank;    /* blank rows skipped (every field empty, e.g. Maccor's trailing line) */
    size_t n_stop;     /* Basytec: closing rows after the test ("STO": the last state repeated) left out */
    int has_cycle_index; /* 0: the file logs no cycle index; every row is cycle 1 */
    double mb_read;    /* bytes read / 1e6 */
    /* capacity or energy counters that fell inside a span where the instrument does not restart them
     * (noise, or a real anomaly): the running maximum was held, never the fall taken for a reset */
    size_t n_counter_drops;
    double counter_drop_max; /* the largest such fall, in the counter's unit (Ah or Wh); 0 when none */
} bml_cycler_meta;
BML_API void bml_cycler_meta_free(bml_cycler_meta *m); /* NULL is harmless; leaves *m zeroed */

/* Called once per row; a status other than BML_OK stops the read and is returned. */
typedef bml_status (*bml_cycler_point_fn)(const bml_cycler_point *pt, void *user);

/* Stream `path` (format BML_CYCLER_AUTO: detected) through fn. Bad input fails with file, line and column
 * (a truncated last row, a row of another layout, an unparsable number, time going backwards, a missing
 * current or voltage column). meta may be NULL; when given it is filled (also on failure, as far as read)
 * and owned by the caller. A Maccor NAME.001 (three digits) followed by NAME.002, ... beside it that read as
 * Maccor exports: the parts of one test, streamed as one (README, "numbered parts"): meta is the first part's,
 * meta->path names the part being read while fn is called. */
BML_API bml_status bml_cycler_read(const char *path, bml_cycler_format format, bml_cycler_point_fn fn, void *user,
                           bml_cycler_meta *meta);

/* ---- per-cycle summary ---- */

/* Versioned as bml_run_opts (libgit2's convention): initialise with BML_CYCLER_SUMMARY_OPTS_INIT (or bml_cycler_summary_opts_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. The INIT holds
 * the defaults: 2.5-4.3 V, 100 points, 1 s, 0.1 A, no raw curves, no cancel flag, one file at a time. */
/* How a cycle's charge (discharge) capacity and energy are counted from its steps (issue 21): the sum over the
 * cycle's charge (discharge) steps (the default), or the largest single step, as BEEP's summary takes it (a step
 * repeated within a cycle, as in HPPC loops, then counts once). */
enum { BML_CYCLER_CAPACITY_SUM = 0, BML_CYCLER_CAPACITY_LARGEST_STEP = 1 };
#define BML_CYCLER_SUMMARY_OPTS_VERSION 2
#define BML_CYCLER_SUMMARY_OPTS_INIT {BML_CYCLER_SUMMARY_OPTS_VERSION, 2.5, 4.3, 100, 1.0, 0.1, 0.0, 0, 0, BML_CYCLER_CAPACITY_SUM}
typedef struct {
    unsigned int version;  /* BML_CYCLER_SUMMARY_OPTS_VERSION */
    double v_min, v_max;   /* voltage grid of the interpolated curves (V) */
    size_t n_grid;         /* points on it (>= 2) */
    double ir_window_s;    /* resistance from a current step: dV/dI between the last point before the
                              step and the first point at least this long after it */
    double ir_min_step_a;  /* smallest |dI| that counts as a current step */
    double raw_max_c_rate; /* keep the measured discharge points of the cycles whose mean |current| is at most
                              this C-rate (of the nominal capacity, else of the first discharge); 0: none */
    /* NULL: none. When *cancel becomes non-zero (from any thread or a signal handler: a plain int store), the
     * read stops within a few thousand rows and the call returns BML_ERR_CANCELLED, nothing written
     * (bml_cycler_structure removes its staging folder). Borrowed: it must outlive the call. */
    const int *cancel;
    /* bml_cycler_structure and bml_dataset_load_cycler: files read at once, each on a thread of its own (0 or
     * 1: one at a time). The same files, dataset, reports (in file order) and messages at any count; memory
     * grows with it (one cycle's points per file being read; the load keeps every file's cycle rows). */
    int jobs;
    /* BML_CYCLER_CAPACITY_*: the sum of the cycle's steps (default) or its largest step (BEEP). With the largest
     * step, charge_ah_integral and discharge_ah_integral are the integrals over the step each capacity comes
     * from (so capacity_check compares like with like); throughput_ah stays the sum of every step. */
    int capacity_rule;
} bml_cycler_summary_opts;
/* The defaults: 2.5-4.3 V, 100 points, 1 s, 0.1 A, no raw curves, no cancel flag, one file at a time, the sum of
 * the steps.
 * *o = BML_CYCLER_SUMMARY_OPTS_INIT; bml_cycler_summary_defaults returns the same. */
BML_API void bml_cycler_summary_opts_init(bml_cycler_summary_opts *o);
BML_API bml_cycler_summary_opts bml_cycler_summary_defaults(void);

typedef struct {
    long cycle;
    size_t n_points, first_line;
    int complete;              /* 1 when a later cycle follows it in the file */
    double start_time_s, duration_s, start_unix; /* start_unix: NaN when the file has no wall-clock time */
    double charge_ah, discharge_ah, charge_wh, discharge_wh; /* NaN when the current never has that sign */
    double coulombic_efficiency, energy_efficiency;          /* discharge / charge; NaN when either is */
    double throughput_ah;      /* charge + discharge Ah from the start of the file to the end of this cycle */
    double mean_abs_current_a; /* over the time the current flows */
    double temperature_min_c, temperature_mean_c, temperature_max_c;
    double resistance_ohm;     /* mean logged value, else mean of current-step estimates, else NaN */
    double *charge_curve_ah, *discharge_curve_ah; /* (n_grid) capacity at each grid voltage; NaN outside
                                                     the cycle's range or when it has no such half */
    size_t n_raw;              /* measured discharge points kept (opts.raw_max_c_rate), else 0 */
    double *raw_q_ah, *raw_v;  /* (n_raw) discharge capacity and voltage of each discharging row */
    /* The capacities against the integral of the current over time (right-endpoint rule: each row's current
     * over the time since the row before it, the file's first row 0 s): charge (I > 0) and discharge
     * (I < 0), Ah, both >= 0. capacity_check: BML_CYCLER_CHECK_* (a half is checked where the cycle has both
     * its counter and its current; it differs when |capacity - integral| > 2 % of the integral and > 1e-4 Ah). */
    double charge_ah_integral, discharge_ah_integral;
    int capacity_check;
} bml_cycler_cycle;
enum {
    BML_CYCLER_CHECK_NONE = -1,     /* nothing to compare (no counter logged, or no current in either half) */
    BML_CYCLER_CHECK_OK = 0,        /* every half checked agrees */
    BML_CYCLER_CHECK_CHARGE = 1,    /* bit: the charge capacity differs from its integral */
    BML_CYCLER_CHECK_DISCHARGE = 2  /* bit: the discharge capacity differs from its integral */
};

typedef struct {
    bml_cycler_meta meta;
    bml_cycler_summary_opts opts;
    size_t n_cycles;
    bml_cycler_cycle *cycles;
    double *grid_v;            /* (opts.n_grid) */
    size_t n_capacity_differs; /* cycles whose capacity_check has a bit set */
    char *capacity_warning;    /* NULL, or a message naming the file and those cycles (the first 20) */
} bml_cycler_summary;

/* Read `path` and summarise every cycle. opts may be NULL (defaults). *out is owned by the caller
 * (bml_cycler_summary_free). */
BML_API bml_status bml_cycler_summarize(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                bml_cycler_summary **out);
BML_API void bml_cycler_summary_free(bml_cycler_summary *s); /* NULL is harmless */

/* Write `<dir>/<cell>_cycles.csv` (one row per cycle) and `<dir>/<cell>_curves.csv` (cycle, voltage,
 * charge and discharge capacity on the grid). Each file is written atomically. dir must exist. */
BML_API bml_status bml_cycler_summary_write(const bml_cycler_summary *s, const char *dir);

/* What bml_cycler_structure says after each file it has written. */
typedef struct {
    const bml_cycler_meta *meta; /* the file read (valid during the call only) */
    size_t n_cycles, n_complete; /* cycles written; those a later cycle follows */
    double seconds;              /* reading, summarising and writing it */
    size_t n_capacity_differs;   /* cycles whose capacity disagrees with the current's integral */
    const char *capacity_warning; /* NULL, or the message naming them (valid during the call only) */
} bml_cycler_structure_file;
typedef void (*bml_cycler_structure_fn)(const bml_cycler_structure_file *file, void *user);

/* `batteryml structure`: summarise every export under `path` (bml_cycler_list) into the folder `out`, per
 * cell the two files of bml_cycler_summary_write, each cycle's rows written as the cycle closes: memory
 * holds one cycle's points, whatever the number of cycles (opts->raw_max_c_rate is not used).
 * All cells or none. `out` missing (its parent must exist): everything is written into a new hidden folder
 * beside it (`.partial-structure-XXXXXX`, mkdtemp), synced, and renamed to `out` at the end. `out` an
 * existing folder: the folder is made inside it, and at the end each file is renamed into `out`, replacing
 * a file of its name (other files are left alone); if a rename fails, the files already moved are taken
 * out again and the ones they replaced put back. On failure (a file that does not read, two files of one
 * cell name, a full disk) nothing is written and no temporary file is left; a killed process leaves its
 * hidden `.partial-structure-*` folder. on_file (may be NULL) is called after each file; *n_cells and
 * *n_companions (each may be NULL) receive the number of cells written and of companion files left out. */
BML_API bml_status bml_cycler_structure(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                const char *out, bml_cycler_structure_fn on_file, void *user, size_t *n_cells,
                                size_t *n_companions);

/* Files under `path` (one file, or a folder's regular files, not recursive, sorted) that are cycler
 * exports: companions (`*_Metadata.csv`, `*_metadata.csv`, `.mpl`, `.mps`, `.json`, `.md`, `*_cycle_data.csv`
 * (Battery Archive's per-cycle table), `LICENSE*`,
 * `README*`, and `NAME.mpt` beside `NAME.mpr`: EC-Lab's text export of the binary file read) are left out and counted in *n_companions (may be NULL). A file of no known format fails naming it.
 * A Maccor test's later numbered parts (NAME.002, ... after NAME.001) are left out, not counted: bml_cycler_read of
 * the first reads them; numbers of one name that skip one fail naming the part not there.
 * *files (n entries) is owned by the caller: free each string, then the array. */
BML_API bml_status bml_cycler_list(const char *path, bml_cycler_format format, char ***files, size_t *n,
                           size_t *n_companions);

/* How files become cells: the SoH reference and where the cell id comes from. NULL fields: the defaults.
 * Versioned as bml_run_opts (libgit2's convention): initialise with BML_CYCLER_CELLS_INIT (or bml_cycler_cells_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. */
#define BML_CYCLER_CELLS_VERSION 1
#define BML_CYCLER_CELLS_INIT {BML_CYCLER_CELLS_VERSION, NULL, NULL}
typedef struct {
    unsigned int version;      /* BML_CYCLER_CELLS_VERSION */
    const char *soh_reference; /* "first_cycle" (default): the first complete cycle's discharge | "nominal" */
    const char *cell_from;     /* "file" (default): the file name without extension | "barcode" | "channel"
                                  (from the file's metadata; a file without one fails) */
} bml_cycler_cells;
/* *c = BML_CYCLER_CELLS_INIT */
BML_API void bml_cycler_cells_init(bml_cycler_cells *c);

/* A dataset of one row per cycle, one cell per file (data=cycler, source "cycler"), with the roles summary_set
 * reads (bml_role): columns cycle (roles set_index and cycle), days (time: since the first cycle),
 * temperature_measured_c (the cycle's mean), charge_throughput_ah, energy_throughput_wh,
 * discharge_capacity_ah (capacity_ah), resistance_ohm, soh = discharge capacity over the cell's first complete
 * cycle with both halves (or over the nominal capacity when cells->soh_reference is "nominal"). The cell's
 * nominal temperature is its mean measured one. Cycles without a discharge are left out and counted in
 * *n_dropped (may be NULL). *out is owned by the caller. */
BML_API bml_status bml_dataset_load_cycler(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                   const bml_cycler_cells *cells, size_t *n_dropped, bml_dataset **out);

/* A dataset of voltage curves for pipeline=ica_peaks: the measured discharge of every cycle whose mean
 * |current| is at most max_c_rate (see raw_max_c_rate), one curve per cycle, targets SoH (as
 * bml_dataset_load_cycler) and capacity (the cycle's discharge capacity). Fails when no cycle qualifies.
 * *out is owned by the caller. */
BML_API bml_status bml_dataset_load_cycler_curves(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                          double max_c_rate, const bml_cycler_cells *cells, bml_dataset **out);

#ifdef __cplusplus
}
#endif
#endif
