/* Running whole studies: load -> pipeline -> split -> model -> train -> evaluate -> explain ->
 * track (SPEC section 8), predicting with a saved run, and exporting feature tables. */
#ifndef BATTERYML_RUN_H
#define BATTERYML_RUN_H

#include "batteryml/export.h"

#include <stddef.h>

#include "batteryml/config.h"
#include "batteryml/dataset.h"
#include "batteryml/model.h"
#include "batteryml/pipeline.h"
#include "batteryml/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress and stage messages (one line each, no newline). */
typedef void (*bml_log_fn)(void *user, const char *line);

/* Options of a study. Versioned as libgit2's options: initialise with BML_RUN_OPTS_INIT (or bml_run_opts_init)
 * and set the fields by name, so that a program built against this header keeps working when fields are added:
 *     bml_run_opts o = BML_RUN_OPTS_INIT;
 *     o.base_dir = "."; o.write_run_dir = 1;
 * A call given another version fails (BML_ERR_VALUE) naming both. */
#define BML_RUN_OPTS_VERSION 1
#define BML_RUN_OPTS_INIT {BML_RUN_OPTS_VERSION, NULL, NULL, NULL, 0, NULL, NULL, NULL}
typedef struct {
    unsigned int version; /* BML_RUN_OPTS_VERSION */
    const char *base_dir; /* relative data paths not found from the working directory are looked up here */
    bml_log_fn log;       /* NULL: silent */
    void *log_user;
    int write_run_dir;    /* 1: write the run directory under config key output_dir */
    bml_epoch_fn progress; /* NULL: none; called after each training epoch of neural models */
    void *progress_user;
    /* NULL: none. When *cancel becomes non-zero (from any thread or a signal handler: a plain int store), the
     * study stops at the next stage, fold, mini-batch or boosting round and returns BML_ERR_CANCELLED, leaving
     * no run directory (as after any failure). Borrowed: it must outlive the call. */
    const int *cancel;
} bml_run_opts;
/* *o = BML_RUN_OPTS_INIT (for languages without the macro: Python) */
BML_API void bml_run_opts_init(bml_run_opts *o);

typedef struct {
    char *run_dir;        /* the run directory written (NULL when write_run_dir is 0) */
    char *metrics_json;   /* metrics.json content */
    size_t n_folds;
    /* wall time of each stage, seconds */
    double t_load, t_pipeline, t_split, t_fit, t_predict, t_explain, t_write, t_total;
    double t_backend;     /* time inside the model's library calls: fit, predict, SHAP, importance, saving */
} bml_run_result;

/* Run the study the configuration describes. On success *out is owned by the caller
 * (bml_run_result_free). When writing fails half-way, no run directory is left behind.
 * Reentrant: several studies may run at once in different threads (each with its own cfg, opts and
 * result; give them distinct run_name or output_dir) and give the numbers they give one after the other.
 * The folds of a multi-fold study are fitted `jobs` at a time (the configuration's top-level key; 0: the
 * cores) on threads, progress not called while several run; the numbers and the output do not depend on
 * it. */
BML_API bml_status bml_run_experiment(const bml_config *cfg, const bml_run_opts *opts, bml_run_result **out);
BML_API void bml_run_result_free(bml_run_result *r);

/* Fitting a study's folds in other processes (the command-line program's mpirun: the library itself knows
 * nothing of MPI). Every process runs the same study with bml_run_experiment_exec; once its data, samples
 * and split are ready (the same in every process: they depend on the configuration only), the executor is
 * called in place of fitting the folds on threads. It hands the folds out as it likes: some process fits
 * fold f with bml_fold_job_run, which gives the fold's whole result (predictions, SHAP values, importance,
 * attention, the history, the fit information, the saved model's files, the fold's log lines) as bytes;
 * the process that assembles the run takes those bytes in with bml_fold_job_accept, or records the fold's
 * failure with bml_fold_job_fail. Results are the bytes the fold gives wherever it ran: the run directory
 * is the one the folds fitted here give (times aside). The bytes are for processes of one build on machines
 * of one architecture (they hold raw doubles; a header checks the format, version and sizes). */
typedef struct bml_fold_job bml_fold_job; /* owned by the library; valid during the executor's call */
typedef struct {
    /* Called once per study. Set *assemble to 1 in the process that writes the run (every fold then
     * accepted or failed), to 0 in the others: bml_run_experiment_exec then returns BML_OK with a result
     * without run_dir or metrics_json. A status other than BML_OK fails the study. */
    bml_status (*run)(void *user, bml_fold_job *job, int *assemble);
    void *user;
} bml_fold_executor;
/* The study as bml_run_experiment, its folds through exec (NULL: on threads, as bml_run_experiment). */
BML_API bml_status bml_run_experiment_exec(const bml_config *cfg, const bml_run_opts *opts, const bml_fold_executor *exec,
                                           bml_run_result **out);
BML_API size_t bml_fold_job_n_folds(const bml_fold_job *job);
/* the fold's name (a cell, E5-A; "all"), owned by the job */
BML_API const char *bml_fold_job_fold_name(const bml_fold_job *job, size_t f);
/* Fit, predict and explain fold f in this process; *bytes (malloc'ed, *len bytes; caller frees) its result.
 * The fold's log lines go into the bytes, not to opts->log. The model's files pass through a temporary
 * folder under $TMPDIR (default /tmp), removed before returning. Thread-safe with accept and fail. */
BML_API bml_status bml_fold_job_run(bml_fold_job *job, size_t f, char **bytes, size_t *len);
/* Take in fold f's result (bytes of bml_fold_job_run, copied). Every size and index is checked: malformed
 * bytes are BML_ERR_PARSE, the message saying what is wrong (record it with bml_fold_job_fail to fail the
 * study naming the fold). A fold is accepted or failed once. */
BML_API bml_status bml_fold_job_accept(bml_fold_job *job, size_t f, const char *bytes, size_t len);
/* Record that fold f failed with `message` (copied): the study then fails with "fold <name>: <message>"
 * (the first failed fold in fold order). */
BML_API bml_status bml_fold_job_fail(bml_fold_job *job, size_t f, const char *message);

/* The learning-rate range test of a neural model (Smith 2015, as fastai's lr_find and Lightning's
 * Tuner.lr_find): from a fresh model, lr_find.num_steps mini-batches (default 100) of the training split of
 * the configured study's first fold, the learning rate growing exponentially from lr_find.min_lr (1e-7) to
 * lr_find.max_lr (1); the loss smoothed exponentially (beta 0.98, bias-corrected); the test stops once the
 * smoothed loss exceeds 4x its minimum. The suggestion is the rate of the steepest descent of the smoothed
 * loss (Lightning's rule: the minimum of its gradient, the first 10 and the last step left out).
 * `training.learning_rate=auto` in a run does this first and trains with the suggestion (the run's
 * config.yaml records the number, lr_find.csv the curve). */
typedef struct {
    size_t n;           /* steps run */
    double *lr;         /* (n) the rate of each step */
    double *loss;       /* (n) the smoothed loss */
    double *batch_loss; /* (n) each step's own mini-batch loss */
    double suggestion;
    int figures;        /* the study's `figures` setting (1: draw lr_find.png with bml_run_plot after writing) */
} bml_lr_find_result;
BML_API bml_status bml_run_lr_find(const bml_config *cfg, const bml_run_opts *opts, bml_lr_find_result **out);
BML_API void bml_lr_find_result_free(bml_lr_find_result *r);
/* step,lr,smoothed_loss,batch_loss,suggested rows as CSV text (malloc'ed; caller frees), NULL without memory. */
BML_API char *bml_lr_find_csv(const bml_lr_find_result *r);
/* Write lr_find.csv and config.yaml into out_dir (created; NULL: <output_dir>/<UTC time>-lr_find-<model>, a
 * new folder), each atomically. *dir_out receives the folder (caller frees). `batteryml plot` draws its
 * figure. */
BML_API bml_status bml_lr_find_write(const bml_lr_find_result *r, const bml_config *cfg, const char *out_dir, char **dir_out);

/* Load the data the configuration names (data.name oxford|table, data.path, ...), or
 * `path_override` instead of data.path. targets_optional: rows without targets are kept (NaN). */
BML_API bml_status bml_run_load_data(const bml_config *cfg, const char *base_dir, const char *path_override,
                             int targets_optional, bml_dataset **out);
/* Build samples with the configured pipeline. */
BML_API bml_status bml_run_build_samples(const bml_config *cfg, const bml_dataset *ds, int targets_optional,
                                 bml_samples **out);

/* Predict with a saved run on new data (a Performance Summary file or folder, or a table).
 * `fold` picks the model of a multi-fold run (NULL for single-fold runs). Writes predictions to
 * out_csv (with lower_<t>/upper_<t> after each pred_<t> when the run made intervals: see
 * bml_run_predict_intervals); *metrics_json (caller frees) is the metrics when every target is present, else NULL. */
BML_API bml_status bml_run_predict(const char *run_dir, const char *data_path, const char *fold, const char *out_csv,
                           const bml_run_opts *opts, char **metrics_json);
/* The same prediction, its result in memory instead of a file (bml_run_predict computes this, then writes
 * it): *rows (caller owns; bml_samples_free) the rows of the predictions file, one per sample of a table
 * and one per real step of a sequence, as static samples: meta (the file's first columns; cells point into
 * rows->cell_ids), y (n, n_targets) the true targets (NaN where missing), target_names, and x the raw
 * features; *pred (n, n_targets) row-major the model's predictions of those rows (float32 outputs as double;
 * caller frees, bml_free); *metrics_json as bml_run_predict (caller frees; NULL unless every target is
 * present). opts->log gets one line (opts may be NULL). On failure *rows, *pred and *metrics_json are
 * NULL. */
BML_API bml_status bml_run_predict_rows(const char *run_dir, const char *data_path, const char *fold, const bml_run_opts *opts,
                                        bml_samples **rows, double **pred, char **metrics_json);
/* bml_run_predict_rows with the prediction intervals bml_run_predict writes (lower_<t>, upper_<t>): for a run made
 * with uncertainty=cv_plus|jackknife_plus, *lower and *upper (n, n_targets) row-major (caller frees, bml_free) are
 * the CV+ intervals of the rows from the interval models the run saved beside its model (model/uncertainty/, or
 * model/<fold>/uncertainty/), the study's own intervals bit for bit on the rows it evaluated; for a run without
 * intervals both are NULL. A run with intervals whose saved interval models are missing or damaged is an error
 * naming the file (bml_cvplus_load). On failure every output is NULL. */
BML_API bml_status bml_run_predict_intervals(const char *run_dir, const char *data_path, const char *fold,
                                             const bml_run_opts *opts, bml_samples **rows, double **pred, double **lower,
                                             double **upper, char **metrics_json);

/* (Re)draw the figures of a saved run into run_dir/figures/ (PNG and SVG): prediction vs truth, fade
 * per cell, SHAP summary and waterfall, importance, attention, training curves, as the run has them.
 * *n_figures receives how many were written and checked complete (may be NULL). Every CSV read is
 * checked: a malformed one is an error naming file, line and column; a figure that cannot be written
 * (disk full) is an error naming it. Thread-safe (drawing is serialised: PLplot is process-global). */
BML_API bml_status bml_run_plot(const char *run_dir, int *n_figures);
/* The same, and *skipped (may be NULL) receives the figures skipped because the run has no file for
 * them, one "file: reason" per line, or NULL when none; the caller frees it (also on failure). */
BML_API bml_status bml_run_plot_noting(const char *run_dir, int *n_figures, char **skipped);

/* One self-contained HTML page (figures embedded as data, metrics tables, resolved configuration)
 * for a saved run, written to out_path atomically. */
BML_API bml_status bml_run_report(const char *run_dir, const char *out_path);

/* The overall metrics of several runs side by side (and LOCO folds aggregated), as a text table
 * (*table malloc'ed; caller frees). */
BML_API bml_status bml_run_compare(const char *const *run_dirs, size_t n, char **table);

#ifdef __cplusplus
}
#endif
#endif
