/* The study runner's parts, shared by its files. Internal.
 *   experiment.c  the stages of a study: load, pipeline, split, folds, metrics, write
 *   fold.c        one fold: preprocessing, fit, predict, explain
 *   fold_pool.c   the folds on threads, or through a fold executor
 *   fold_wire.c   a fold's result as bytes (other processes, MPI ranks) and the fold job API
 *   lr_find.c     the learning-rate range test
 * Every setting comes from the typed plan (run/study.h); nothing here reads the configuration. */
#ifndef BML_RUN_RUNNER_H
#define BML_RUN_RUNNER_H

#include <stdint.h>

#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "run/study.h"
#include "track/track.h"

/* a line to opts->log (nothing when NULL) */
void bml__say(const bml_run_opts *o, const char *fmt, ...) BML__PRINTF(2, 3);
/* seconds of a monotonic clock */
double bml__run_clock(void);

/* opts NULL or of this library's BML_RUN_OPTS_VERSION; else BML_ERR_VALUE naming both */
bml_status bml__run_opts_check(const bml_run_opts *opts);

/* BML_ERR_CANCELLED once the caller asked the study to stop (bml_run_opts.cancel) */
bml_status bml__check_cancel(const bml_run_opts *opts, const char *where);

/* explain.enabled: TreeSHAP values and feature importance of tree models (exact SHAP of linear ones).
 * explain.shap_max_samples (0 = all): SHAP values for at most this many evaluated rows of the whole study:
 * rows floor(k * N / m), k = 0..m-1, of the N evaluated rows in fold order (the same rows at every run and
 * thread count). */
typedef struct {
    int enabled;
    size_t max_samples; /* m (0: all) */
    size_t n_total;     /* N: evaluated rows of every fold */
    size_t offset;      /* evaluated rows of the folds before this one */
} bml__explain_opts;

/* Preprocessing of the model's inputs with statistics of the training split (mean imputation for models
 * that cannot take missing values, standardisation for those that want it), and its application to every
 * row (or step) of s. */
bml_status bml__preprocess_fit(const bml_model *m, const bml_samples *tr, bml__preprocess *pre);
void bml__preprocess_samples(const bml__preprocess *pre, bml_samples *s);

/* One fold: *fo filled (released by the caller, also after a failure); its stage times added to res. */
bml_status bml__run_fold(const bml__study *plan, const bml_samples *all, const size_t *flat_of, bml_fold *fold, uint64_t seed,
                         const bml__explain_opts *ex, const bml_run_opts *opts, bml__track_fold *fo, bml_run_result *res);

/* Every fold of sp: on threads (plan->jobs), or through exec when given (*assemble: whether this process
 * writes the run). Log lines and stage times in fold order, as if the folds ran one after another. */
bml_status bml__run_folds(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                          uint64_t seed, const bml__explain_opts *ex, const bml_run_opts *opts, bml__track_fold *folds,
                          bml_run_result *res, const bml_fold_executor *exec, int *assemble);
/* through an executor (fold_wire.c); fex: (n_folds) each fold's explain slice */
bml_status bml__run_folds_exec(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                               uint64_t seed, const bml__explain_opts *fex, const bml_run_opts *opts, bml__track_fold *folds,
                               bml_run_result *res, const bml_fold_executor *exec, int *assemble);
/* A fold fitted elsewhere, taken in fold order: its log lines (newline-joined; split in place) to opts->log,
 * its stage times added to res. */
void bml__fold_replay(const bml_run_opts *opts, char *log, const bml_run_result *t, bml_run_result *res);

/* The plan's split of s; split=predefined on data that name each cell's set (data=qdlin) takes the sets from ds. */
bml_status bml__make_split(const bml__study *plan, const bml_dataset *ds, const bml_samples *s, bml_split **sp);

/* The range test on the training split of `fold`, from a fresh model of the plan. */
bml_status bml__lr_find_on_fold(const bml__study *plan, const bml_samples *all, const bml_fold *fold, uint64_t seed,
                                const bml_run_opts *opts, bml_lr_find_result **out);

#endif
