/* Writing what a run produced: metrics, predictions, SHAP values, importance, the models and the
 * resolved configuration, into a run directory that appears whole or not at all. Internal. */
#ifndef BML_TRACK_H
#define BML_TRACK_H

#include <cjson/cJSON.h>

#include "batteryml/batteryml.h"
#include "pipelines/sample_io.h"
#include "track/writers.h"

/* Every evaluated sample over all folds: sample index, fold, prediction (n, O). */
typedef struct {
    size_t n;
    size_t *idx, *fold;
    double *pred;
} bml__track_eval;
void bml__track_eval_release(bml__track_eval *e);

/* ------------------------------------------------------------------ trackers
 * Where a run is recorded besides its run directory (which every study writes): the registry of tracking
 * backends, selected by tracking.name. A tracker gets the run's scalars (metrics, per-epoch losses) and writes
 * them into the partial run directory (in_run) and/or elsewhere once the run is published (after). Adding a
 * tracker: one file in track/ with its functions and one line in the table of track.c (or, in a test,
 * bml__tracker_register), one YAML file in configs/tracking/. */
struct bml__track_settings;
typedef struct bml__tracker_def {
    const char *name;
    const char *help;
    const bml_param_info *params; /* (n_params) its keys of the tracking group */
    size_t n_params;
    /* its settings checked before any work (NULL: none); the error names the key */
    bml_status (*check)(const struct bml__track_settings *set);
    /* into the partial run directory `dir` (NULL: nothing there) */
    bml_status (*in_run)(const struct bml__track_settings *set, const char *dir, const bml__scalar *sc, size_t n);
    /* after the run directory `run_dir` is published (NULL: nothing) */
    bml_status (*after)(const struct bml__track_settings *set, const char *run_dir, const bml__scalar *sc, size_t n);
    /* a tracker made of others ("all"): their names, NULL-terminated; NULL for an ordinary one */
    const char *const *combines;
} bml__tracker_def;
size_t bml__tracker_count(void);
const bml__tracker_def *bml__tracker_at(size_t i);
const bml__tracker_def *bml__tracker_find(const char *name); /* NULL: not registered */
/* "unknown tracking 'x' (valid: local, ...)" as the error, the names from the table */
bml_status bml__tracker_unknown(const char *name);
/* Register a tracker (tests; before any run): NULL when the name is taken or the table is full. */
const bml__tracker_def *bml__tracker_register(const bml__tracker_def *def);

/* How and where a run is written: typed settings made by the study's resolver (track never reads the
 * configuration). Strings are borrowed for the call. */
typedef struct bml__track_settings {
    const char *output_dir;      /* folder of the run directories */
    const char *run_name;        /* NULL or "": <UTC time>-<model>-<split> */
    const char *model_name, *split_name;
    const bml__tracker_def *tracker; /* tracking.name (NULL: local) */
    const char *tensorboard_dir; /* inside the run directory */
    const char *mlruns_dir, *experiment_name;
    int figures;                 /* draw the figures */
    const char *config_yaml;     /* config.yaml's text */
    const bml_kv *params;        /* (n_params) every configuration key, for MLflow's params */
    size_t n_params;
    const bml_kv *study;         /* (n_study) metrics.json's "study" entries before the sample counts */
    size_t n_study;
} bml__track_settings;

/* metrics.json content: overall, per temperature, per cell, per fold (+ summary over folds); NULL when out of
 * memory (never a part of it). study: (n_study) string entries of its "study" block. */
cJSON *bml__track_metrics(const bml_samples *s, const bml__track_eval *ev, const bml_split *sp, const bml_kv *study,
                          size_t n_study);
/* {target: metrics} for rows r of ev (all when rows == NULL); NULL when out of memory. */
cJSON *bml__track_metrics_block(const bml_samples *s, const bml__track_eval *ev, const size_t *rows, size_t n_rows);

/* A file of a saved model, relative to its folder. */
typedef struct {
    char *name;
    char *data;
    size_t len;
} bml__track_file;

/* One fold's result, the one type the runner fills (run/fold.c), sends between processes (run/fold_wire.c)
 * and track writes. Indexed by rows of the flat (per-step) samples: for static samples these are the samples
 * themselves, for sequences the unpadded steps. Every pointer but `fold` is owned (bml__track_fold_release). */
typedef struct {
    bml_fold *fold;     /* the split's (borrowed) */
    bml_model *model;   /* NULL: a fold fitted in another process, the model given by history_csv, fit_info and files */
    bml__preprocess pre;
    size_t n_eval;      /* flat rows evaluated */
    size_t *eval_idx;   /* (n_eval) rows of the flat samples */
    int eval_is_test;
    double *pred;       /* (n_eval, O) */
    double *lower, *upper; /* (n_eval, O) prediction intervals (uncertainty.*), or both NULL */
    bml_cvplus *cv;     /* the CV+ that made them (saved in the model's folder, uncertainty/), or NULL: none, or a fold
                           fitted in another process (its files are then among `files`) */
    double *shap;       /* (n_shap, O, F + 1) or NULL */
    size_t n_shap;      /* evaluated rows explained (the explain.shap_max_samples subsample) */
    size_t *shap_rows;  /* (n_shap) positions in 0..n_eval-1 of those rows, increasing */
    double *imp;        /* (3, O, F): gain, total_gain, split; or NULL */
    size_t n_att;       /* sequence models: evaluated samples with attention weights */
    size_t *att_idx;    /* (n_att) sample indices */
    double *att;        /* (n_att, T, T) head-averaged attention, or NULL */
    size_t lat_dim;     /* latent-ODE models: latent size, 0 otherwise */
    double *lat;        /* (n_att, T, lat_dim) latent trajectories of the evaluated samples, or NULL */
    char *history_csv, *fit_info;   /* model == NULL: bml_model_history_csv's and bml_model_fit_info_json's texts, or NULL */
    bml__track_file *files;         /* model == NULL: (n_files) the files bml_model_save wrote */
    size_t n_files;
} bml__track_fold;
void bml__track_fold_release(bml__track_fold *f); /* NULL-safe; leaves *f to be zeroed by the caller */

/* Write the run directory under set->output_dir; *run_dir receives its
 * path (caller frees). Everything is written into a hidden staging directory (bml__stage_open: made by
 * mkdtemp, locked while this process lives; stale ones of killed runs are removed first), synced and
 * renamed at the end to the first free name of run_name (or <UTC time>-<model>-<split>), name-2, ...
 * so parallel runs never collide. On failure nothing is left behind.
 * s holds the per-step rows (the samples themselves when static); seq the sequence samples (for
 * attention.csv). *t_model_save receives the seconds spent in the models' own serialisation. */
typedef struct {
    const char *name; /* file name in the run directory */
    const char *text; /* content */
} bml__track_extra;

/* Check the names and sub-paths of a run before any work: run_name a plain name (no '/', not starting with
 * '.'), tracking.tensorboard_dir relative without '..' (when TensorBoard is written). The error names the key. */
bml_status bml__track_check_paths(const bml__track_settings *set);

bml_status bml__track_write_run(const bml__track_settings *set, const bml_samples *s, const bml_samples *seq, const bml_split *sp,
                                const bml__track_fold *folds, cJSON *metrics, const bml__track_extra *extra,
                                size_t n_extra, char **run_dir, double *t_model_save);

/* Predictions CSV of rows of s: meta, then true_<t>/pred_<t> per target (and lower_<t>/upper_<t> when lower and
 * upper, (n, O), are not NULL). fold_names may be NULL. */
bml_status bml__track_write_predictions(const char *path, const bml_samples *s, const size_t *idx, size_t n,
                                        const double *pred, const double *lower, const double *upper,
                                        const char *const *fold_names, const size_t *fold_of, const char *const *roles);

#endif
