/* Hyperparameter sweeps with Hydra's multirun syntax: overrides that list values are expanded into jobs,
 * each job an ordinary run.
 *
 * An override `key=a,b,c` (or `group=opt1,opt2`) sweeps over its values; `key=range(start,stop[,step])`
 * over start, start+step, ... with stop excluded (Hydra's semantics; integers stay integers);
 * `key=choice(a,b,c)` is a list too; a quoted value (`key='a,b'` or `key="a,b"`) is one value with its
 * commas; values in brackets (`key=[1,2]`) are one list value. Overrides without a list apply to every
 * job. The grid sweeper takes the cartesian product in the order the swept keys are given, the last one
 * varying fastest (Hydra's BasicSweeper: itertools.product); a key given twice keeps its first place and
 * its last value.
 *
 * The random sweeper (Hydra's Optuna sweeper names) draws `trials` jobs: `interval(a,b)` uniform in
 * [a, b), `log_interval(a,b)` (or `tag(log, interval(a,b))`) log-uniform, `int_interval(a,b)` (or
 * `int(interval(a,b))`) a uniform integer in [a, b], and lists, `choice(...)` and `range(...)` a uniform
 * choice. Draws come from `seed`: the same sweep and seed draw the same trials. Drawn reals are written
 * with 6 significant digits, and that text is the value the job runs with.
 *
 * Ownership: a bml_sweep owns every string it returns (valid until bml_sweep_free). */
#ifndef BATTERYML_SWEEP_H
#define BATTERYML_SWEEP_H

#include "batteryml/export.h"

#include <stddef.h>
#include <stdint.h>

#include "batteryml/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { BML_SWEEPER_GRID = 0, BML_SWEEPER_RANDOM = 1 } bml_sweeper;

/* Versioned as bml_run_opts (libgit2's convention): initialise with BML_SWEEP_OPTS_INIT (or bml_sweep_opts_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. */
#define BML_SWEEP_OPTS_VERSION 1
#define BML_SWEEP_OPTS_INIT {BML_SWEEP_OPTS_VERSION, BML_SWEEPER_GRID, 0, 0, 0}
typedef struct {
    unsigned int version; /* BML_SWEEP_OPTS_VERSION */
    bml_sweeper sweeper;
    size_t trials;   /* random sweeper: the number of jobs (> 0) */
    uint64_t seed;   /* random sweeper: the draws */
    size_t max_jobs; /* a sweep of more jobs is an error before anything runs; 0: 10,000 */
} bml_sweep_opts;
/* *o = BML_SWEEP_OPTS_INIT */
BML_API void bml_sweep_opts_init(bml_sweep_opts *o);

typedef struct bml_sweep bml_sweep; /* opaque */

/* Expand the overrides into jobs. Malformed sweep syntax (an unbalanced quote or bracket, an empty
 * value in a list, an empty range, a step of 0, interval() in a grid sweep, a bad number) and a sweep
 * larger than max_jobs fail with a message naming the override. */
BML_API bml_status bml_sweep_expand(const char *const *overrides, size_t n_overrides, const bml_sweep_opts *opts,
                            bml_sweep **out);
BML_API void bml_sweep_free(bml_sweep *s); /* NULL is harmless */

BML_API size_t bml_sweep_n_jobs(const bml_sweep *s);
/* The swept keys (in the order given) and the value of key k in job j. */
BML_API size_t bml_sweep_n_params(const bml_sweep *s);
BML_API const char *bml_sweep_param(const bml_sweep *s, size_t k);
BML_API const char *bml_sweep_job_value(const bml_sweep *s, size_t j, size_t k);
/* Every override of job j (the plain ones and one `key=value` per swept key, in the order given), ready
 * for bml_config_compose. *n receives the count. */
BML_API const char *const *bml_sweep_job_overrides(const bml_sweep *s, size_t j, size_t *n);
/* The job's swept overrides as one line ("model=mlp training.learning_rate=0.01"). */
BML_API const char *bml_sweep_job_label(const bml_sweep *s, size_t j);
/* A file-name-safe job name: the zero-padded index, then the swept values ("03-mlp_0.01"). */
BML_API const char *bml_sweep_job_name(const bml_sweep *s, size_t j);
/* The overrides the sweep was expanded from, as given (*n receives the count). */
BML_API const char *const *bml_sweep_overrides(const bml_sweep *s, size_t *n);

/* What one job gave: ok with its run directory and metrics.json text, failed with its message, or
 * cancelled (the sweep was stopped before the job finished) with why. */
typedef struct {
    int ok;                   /* 1 ok, 0 failed, -1 cancelled */
    const char *error;        /* failed or cancelled: the message */
    const char *run_dir;      /* ok: the run directory */
    const char *metrics_json; /* ok: metrics.json as written */
    double seconds;           /* the job's wall time (NaN: unknown, written empty) */
    double fit_seconds;       /* ok: the time spent fitting, every fold (NaN: unknown) */
} bml_sweep_result;

/* multirun.yaml of the sweep in `dir`: the sweeper, the overrides as given, and every job (index, name,
 * overrides). Written atomically, before the jobs run, and never over an existing one: this claims the
 * directory for the sweep. When dir already holds a multirun.yaml (another sweep's, or one written at the same
 * moment by another process: exactly one of them succeeds) it fails with BML_ERR_STATE and changes nothing. */
BML_API bml_status bml_sweep_write_yaml(const bml_sweep *s, const bml_sweep_opts *opts, const char *const *overrides,
                                size_t n_overrides, const char *dir);
/* The sweep of a directory, from its multirun.yaml: the sweeper settings into *opts (initialised by the caller,
 * BML_SWEEP_OPTS_INIT; sweeper, trials, seed;
 * opts->max_jobs, 0 for the default, bounds the expansion as in bml_sweep_expand, and is raised to the
 * number of jobs the file lists) and the stored overrides expanded again into *out (caller frees). The
 * jobs must come out as the file lists them (index, name, every override): a file edited by hand or
 * written by a version of batteryml that expands differently is an error naming file, line and column. */
BML_API bml_status bml_sweep_load(const char *dir, bml_sweep_opts *opts, bml_sweep **out);
/* Remove what killed processes left in the sweep directory dir: the partial run directories no living
 * process is writing (a job still running keeps its own) and the temporary file of a sweep.csv write cut
 * short. Only the sweep's owner (the process that writes its sweep.csv) may call it. *n_removed (may be
 * NULL) receives their count. */
BML_API bml_status bml_sweep_clean(const char *dir, size_t *n_removed);
/* sweep.csv in `dir`: one row per job in job order: index, name, overrides, one column per swept key,
 * status (ok | failed | cancelled), error, seconds (the job's wall time), fit_s (fitting, every fold), run_dir, then
 * every aggregate metric the jobs have (<target>.rmse, .mae, .mape, .r2, .max_abs_error, and for multi-fold
 * studies .fold_rmse_mean, .fold_rmse_std), columns in order of first appearance. Written atomically. A
 * job whose metrics.json cannot be read is an error. */
BML_API bml_status bml_sweep_write_csv(const bml_sweep *s, const bml_sweep_result *results, const char *dir);

/* The jobs of a sweep directory (its sweep.csv) as a text table sorted by `metric` (a sweep.csv column
 * such as "soh.rmse"; NULL: the first column ending in ".rmse"), ascending (R2: descending), failed jobs
 * last. *table malloc'ed; caller frees. */
BML_API bml_status bml_sweep_compare(const char *sweep_dir, const char *metric, char **table);
/* A self-contained HTML page of the sweep (out_path, atomically): the jobs ranked as bml_sweep_compare
 * does, with their overrides and errors, and figures of the metric against each swept key (drawn into
 * sweep_dir/figures/ first). */
BML_API bml_status bml_sweep_report(const char *sweep_dir, const char *metric, const char *out_path);

#ifdef __cplusplus
}
#endif
#endif
