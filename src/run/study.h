/* The typed study plan and its resolver. Internal.
 *
 * bml__study_resolve is the one reader of a composed configuration (bml_config): it turns every key into
 * typed settings — the data source and its options, the pipeline, split and model with their parameters,
 * training and loss for the neural models, explain, lr_find, seed, jobs and where the run is written — and
 * fails naming the key before anything runs. The runner (experiment.c), predict and lr-find run a plan;
 * nothing else looks a key up. Defaults that the shipped configs/ also state are kept here, once, for
 * configurations composed without them (a config file given whole, the Python package).
 *
 * The components each kind registers are found through their registries: models, pipelines and splits
 * (bml_*_registry_*), data sources (below), trackers (track/track.h), cycler formats (batteryml/cycler.h),
 * losses (nn). */
#ifndef BML_RUN_STUDY_H
#define BML_RUN_STUDY_H

#include <stdint.h>

#include "batteryml/batteryml.h"
#include "track/track.h"

/* ------------------------------------------------------------------ data sources
 * A data source turns data.path into a bml_dataset. One definition per source: its name (data.name), a help
 * line, its parameters (for `batteryml list data` and the messages), how it reads its data.* keys into its own
 * typed options (the only place those keys are read) and how it loads. Adding a source: a `load` function
 * wherever the reading lives (data/), a resolve function and one line in the table of study_sources.c, one
 * YAML file in configs/data/. */
typedef struct bml__source_def {
    const char *name;
    const char *help;
    const bml_param_info *params;
    size_t n_params;
    /* data.* of cfg into *opts (malloc'ed; the source's own type; NULL allowed) */
    bml_status (*resolve)(const bml_config *cfg, void **opts);
    /* targets_optional: a table without its target columns loads (predict) */
    /* cancel (may be NULL): the run's flag, for a source whose load can take long (raw cycler files) */
    bml_status (*load)(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out);
    void (*free_opts)(void *opts);
} bml__source_def;

size_t bml__source_count(void);
const bml__source_def *bml__source_at(size_t i);
const bml__source_def *bml__source_find(const char *name);
/* a test registers a source of its own (one file, one call); NULL when the name is taken or the table full */
const bml__source_def *bml__source_register(const bml__source_def *def);

/* ------------------------------------------------------------------ the plan */
typedef struct {
    bml_config *cfg;                /* private: the resolver's own copy (every string below points into it) */
    /* data */
    const bml__source_def *source;
    void *source_opts;
    const char *data_path;          /* data.path as written ("" when absent) */
    const char *data_name;
    const char *experiment;         /* data.experiment as written, or NULL */
    /* pipeline */
    const char *pipeline;
    bml_kv *pipeline_kv;            /* (n_pipeline_kv) pipeline.* without name */
    size_t n_pipeline_kv;
    /* split */
    const char *split;
    bml_kv *split_kv;
    size_t n_split_kv;
    /* model: model.*; a neural model also gets training.* as they are and the loss group as loss=<name>,
     * loss_<key>=<value> */
    const char *model;
    int neural;
    const char *loss;
    bml_kv *model_kv;
    size_t n_model_kv;
    int lr_auto;                    /* training.learning_rate=auto */
    /* the learning-rate range test */
    double lr_min, lr_max;
    long lr_steps;
    /* prediction intervals (uncertainty.*): CV+ over the fold's training cells */
    bml_conformal_method uq;        /* BML_CONFORMAL_NONE or BML_CONFORMAL_CV_PLUS */
    const char *uq_name;
    double uq_alpha;
    size_t uq_groups;               /* 0: one group per training cell (jackknife+) */
    /* explain */
    int explain;
    size_t shap_max_samples;        /* 0: every evaluated row */
    /* the run */
    uint64_t seed;
    long jobs;                      /* 0: the cores */
    /* where it is written */
    bml__track_settings track;
    char *config_yaml;              /* config.yaml's text */
    bml_kv *params;                 /* (n_params) every key, for MLflow */
    size_t n_params;
    bml_kv study[7];                /* metrics.json's "study" block */
    size_t n_study;
    char **owned;                   /* private: the loss_<key> names of model_kv */
    size_t n_owned;
} bml__study;

/* cfg's value of key, or dflt when it is absent or empty (the resolver's files read keys with it) */
const char *bml__study_get(const bml_config *cfg, const char *key, const char *dflt);

/* Resolve cfg into *plan (released with bml__study_release, also after a failure). The configuration is
 * copied: cfg may be freed afterwards. A plan is not copied or moved (its track settings point into it). */
bml_status bml__study_resolve(const bml_config *cfg, bml__study *plan);
void bml__study_release(bml__study *plan);

/* training.learning_rate=auto: the plan with the rate found (config.yaml records the number) */
bml_status bml__study_set_learning_rate(bml__study *plan, const char *rate);

/* The model of the plan, extra keys replacing the plan's. */
bml_status bml__study_create_model(const bml__study *plan, const bml_kv *extra, size_t n_extra, bml_model **out);

/* The plan's data at path (NULL: data.path found from base_dir), and its samples. cancel (may be NULL): the
 * run's flag, passed to the source. */
bml_status bml__study_load(const bml__study *plan, const char *base_dir, const char *path_override, int targets_optional,
                           const int *cancel, bml_dataset **out);
bml_status bml__study_samples(const bml__study *plan, const bml_dataset *ds, int targets_optional, bml_samples **out);

#endif
