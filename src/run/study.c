/* The study's resolver: the one reader of a composed configuration (see study.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "pipelines/pipeline_internal.h"
#include "run/study.h"

/* The defaults of the keys the runner reads, for configurations composed without configs/config.yaml's
 * values (a config file given whole, the Python package); configs/ states the same values. */
#define D_SEED "42"
#define D_OUTPUT_DIR "runs"
#define D_TRACKING "local"
#define D_TENSORBOARD_DIR "tensorboard"
#define D_MLRUNS_DIR "mlruns"
#define D_EXPERIMENT_NAME "batteryml"
#define D_DATA "oxford"
#define D_PIPELINE "summary_set"
#define D_SPLIT "temperature_holdout"
#define D_MODEL "lgbm"
#define D_LOSS "mse"

const char *bml__study_get(const bml_config *c, const char *key, const char *dflt) {
    const char *v = bml_config_get(c, key);
    return v && *v ? v : dflt;
}

/* ------------------------------------------------------------------ problems, collected */
/* Each check runs; the message of every one that fails is kept, so that one run of the resolver names every
 * bad key. One problem: its own status and message; several: BML_ERR_VALUE and all of them. */
typedef struct {
    bml__sb msg;
    size_t n;
    bml_status first;
} problems;

static void note(problems *p, bml_status st) {
    if (st == BML_OK) return;
    if (st == BML_ERR_NOMEM && p->first != BML_ERR_NOMEM) p->first = BML_ERR_NOMEM;
    if (!p->n && p->first == BML_OK) p->first = st;
    bml__sb_str(&p->msg, p->n ? "\n  " : "");
    bml__sb_str(&p->msg, bml_last_error());
    p->n++;
}

static bml_status verdict(problems *p) {
    bml_status st = BML_OK;
    if (p->first == BML_ERR_NOMEM || p->msg.nomem) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    else if (p->n == 1) st = bml__fail(p->first, "%s", p->msg.buf);
    else if (p->n > 1) st = bml__fail(BML_ERR_VALUE, "%zu problems in the configuration:\n  %s", p->n, p->msg.buf);
    free(p->msg.buf);
    return st;
}

/* ------------------------------------------------------------------ sections */
/* the keys of `section` (without name) as kv pointing into c; *kv malloc'ed (never NULL on success) */
static bml_status section(const bml_config *c, const char *name, bml_kv **kv, size_t *n) {
    *n = bml_config_section(c, name, NULL, 0);
    *kv = bml__calloc(*n + 1, sizeof **kv);
    if (!*kv) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_config_section(c, name, *kv, *n);
    return BML_OK;
}

/* model.*; a neural model also training.* as they are and the loss group as loss=<name>, loss_<key>=<value> */
static bml_status model_params(bml__study *p, char ***owned, size_t *n_owned) {
    const bml_config *c = p->cfg;
    size_t nm = bml_config_section(c, "model", NULL, 0);
    size_t nt = p->neural ? bml_config_section(c, "training", NULL, 0) : 0;
    size_t nl = p->neural ? bml_config_section(c, "loss", NULL, 0) : 0;
    p->model_kv = bml__calloc(nt + nm + nl + 2, sizeof *p->model_kv);
    *owned = bml__calloc(nl + 1, sizeof **owned);
    if (!p->model_kv || !*owned) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t k = 0;
    if (p->neural) {
        k += bml_config_section(c, "training", p->model_kv + k, nt);
        p->model_kv[k++] = (bml_kv){"loss", p->loss};
        bml_config_section(c, "loss", p->model_kv + k, nl);
        for (size_t i = 0; i < nl; i++) {
            (*owned)[i] = bml__sprintf("loss_%s", p->model_kv[k + i].key);
            if (!(*owned)[i]) return bml__fail(BML_ERR_NOMEM, "out of memory");
            (*n_owned)++;
            p->model_kv[k + i].key = (*owned)[i];
        }
        k += nl;
    }
    k += bml_config_section(c, "model", p->model_kv + k, nm);
    p->n_model_kv = k;
    return BML_OK;
}

/* the plan's private storage of loss_<key> names */
typedef struct {
    char **owned;
    size_t n;
} owned_keys;

static bml_status resolve_lr_find(const bml_config *c, bml__study *p) {
    const char *a = bml__study_get(c, "lr_find.min_lr", "1e-7"), *b = bml__study_get(c, "lr_find.max_lr", "1"), *s = bml__study_get(c, "lr_find.num_steps", "100");
    /* the rates are single precision (and their ratio must stay finite): 1e-20 .. 1e6 */
    if (bml__parse_double(a, &p->lr_min) != 0 || !(p->lr_min >= 1e-20 && p->lr_min <= 1e6))
        return bml__fail(BML_ERR_VALUE, "lr_find.min_lr must be a number from 1e-20 to 1e6, got '%s'", a);
    if (bml__parse_double(b, &p->lr_max) != 0 || !(p->lr_max > p->lr_min && p->lr_max <= 1e6))
        return bml__fail(BML_ERR_VALUE, "lr_find.max_lr must be a number > lr_find.min_lr and at most 1e6, got '%s'", b);
    if (bml__parse_long(s, &p->lr_steps) != 0 || p->lr_steps < 2 || p->lr_steps > 10000000)
        return bml__fail(BML_ERR_VALUE, "lr_find.num_steps must be a whole number from 2 to 10000000, got '%s'", s);
    return BML_OK;
}

/* uncertainty.name (default none), alpha (0.1), groups (5) */
static bml_status resolve_uncertainty(const bml_config *c, bml__study *p) {
    p->uq_name = bml__study_get(c, "uncertainty.name", "none");
    int one = 0;
    BML__TRY(bml_conformal_method_parse(p->uq_name, &p->uq, &one));
    if (p->uq == BML_CONFORMAL_SPLIT)
        return bml__fail(BML_ERR_VALUE, "uncertainty=split: split conformal needs calibration cells that neither train nor are "
                                        "evaluated, which a study's folds do not set aside: use uncertainty=cv_plus or "
                                        "jackknife_plus (or the library's bml_conformal_split)");
    const char *a = bml__study_get(c, "uncertainty.alpha", "0.1"), *g = bml__study_get(c, "uncertainty.groups", "5");
    long groups;
    if (bml__parse_double(a, &p->uq_alpha) != 0 || !(p->uq_alpha > 0 && p->uq_alpha < 1))
        return bml__fail(BML_ERR_VALUE, "uncertainty.alpha must be a number between 0 and 1 (0.1: 90 %% intervals), got '%s'", a);
    if (bml__parse_long(g, &groups) != 0 || groups < 2 || groups > 1000000)
        return bml__fail(BML_ERR_VALUE, "uncertainty.groups must be a whole number from 2, got '%s'", g);
    p->uq_groups = one ? 0 : (size_t)groups;
    return BML_OK;
}

/* explain.enabled (default true), explain.shap_max_samples (default 2000, 0 = all) */
static bml_status resolve_explain(const bml_config *c, bml__study *p) {
    const char *en = bml__study_get(c, "explain.enabled", "true"), *mx = bml__study_get(c, "explain.shap_max_samples", "2000");
    long m;
    if (bml__parse_bool(en, &p->explain) != 0)
        return bml__fail(BML_ERR_VALUE, "explain.enabled must be true or false, got '%s'", en);
    if (bml__parse_long(mx, &m) != 0 || m < 0)
        return bml__fail(BML_ERR_VALUE, "explain.shap_max_samples must be a whole number >= 0 (0: every evaluated row), got '%s'", mx);
    p->shap_max_samples = (size_t)m;
    return BML_OK;
}

static bml_status resolve_run(const bml_config *c, bml__study *p, problems *pr) {
    long seed = 42;
    const char *seed_s = bml__study_get(c, "seed", D_SEED);
    if (bml__parse_long(seed_s, &seed) != 0 || seed < 0)
        note(pr, bml__fail(BML_ERR_VALUE, "seed must be a non-negative integer, got '%s'", seed_s));
    p->seed = (uint64_t)seed;
    const char *js = bml__study_get(c, "jobs", "0");
    if (bml__parse_long(js, &p->jobs) != 0 || p->jobs < 0 || p->jobs > 4096)
        note(pr, bml__fail(BML_ERR_VALUE, "jobs must be a whole number from 0 (the cores) to 4096, got '%s'", js));
    const char *fig = bml_config_get(c, "figures");
    p->track.figures = 1;
    if (fig && *fig && bml__parse_bool(fig, &p->track.figures) != 0)
        note(pr, bml__fail(BML_ERR_VALUE, "figures must be true or false, got '%s'", fig));
    return BML_OK;
}

static void resolve_track(const bml_config *c, bml__study *p, problems *pr) {
    bml__track_settings *t = &p->track;
    t->output_dir = bml__study_get(c, "output_dir", D_OUTPUT_DIR);
    t->run_name = bml__study_get(c, "run_name", NULL);
    t->model_name = bml_config_get(c, "model.name");
    t->split_name = bml_config_get(c, "split.name");
    const char *tracking = bml__study_get(c, "tracking.name", D_TRACKING);
    const bml__tracker_def *tr = bml__tracker_find(tracking);
    if (!tr) note(pr, bml__tracker_unknown(tracking));
    t->tracker = tr;
    t->tensorboard_dir = bml__study_get(c, "tracking.tensorboard_dir", D_TENSORBOARD_DIR);
    t->mlruns_dir = bml__study_get(c, "tracking.mlruns_dir", D_MLRUNS_DIR);
    t->experiment_name = bml__study_get(c, "tracking.experiment_name", D_EXPERIMENT_NAME);
}

/* the data source and its options */
static void resolve_data(const bml_config *c, bml__study *p, problems *pr) {
    p->data_name = bml__study_get(c, "data.name", D_DATA);
    p->data_path = bml__study_get(c, "data.path", "");
    p->experiment = bml_config_get(c, "data.experiment");
    p->source = bml__source_find(p->data_name);
    if (!p->source) {
        bml__sb b = {0};
        for (size_t i = 0; i < bml__source_count(); i++) bml__sb_str(&b, i ? ", " : ""), bml__sb_str(&b, bml__source_at(i)->name);
        note(pr, b.nomem ? bml__fail(BML_ERR_NOMEM, "out of memory")
                          : bml__fail(BML_ERR_VALUE, "unknown data source '%s' (valid: %s)", p->data_name, b.buf));
        free(b.buf);
    } else if (p->source->resolve) {
        note(pr, p->source->resolve(c, &p->source_opts));
    }

}

/* what the run records of its configuration: config.yaml, MLflow's params, metrics.json's study block */
static void resolve_record(const bml_config *c, bml__study *p, problems *pr) {
    if (!(p->config_yaml = bml_config_to_yaml(c))) note(pr, bml__fail(BML_ERR_NOMEM, "out of memory"));
    p->n_params = bml_config_count(c);
    p->params = bml__calloc(p->n_params + 1, sizeof *p->params);
    if (!p->params) note(pr, bml__fail(BML_ERR_NOMEM, "out of memory"));
    for (size_t i = 0; p->params && i < p->n_params; i++) p->params[i] = bml_config_entry(c, i);
    static const char *const study_keys[][2] = {{"data", "data.name"}, {"data_path", "data.path"}, {"experiment", "data.experiment"},
                                                {"pipeline", "pipeline.name"}, {"model", "model.name"}, {"split", "split.name"},
                                                {"seed", "seed"}};
    for (size_t i = 0; i < sizeof study_keys / sizeof *study_keys; i++) {
        const char *v = bml_config_get(c, study_keys[i][1]);
        if (v) p->study[p->n_study++] = (bml_kv){study_keys[i][0], v};
    }
    p->track.config_yaml = p->config_yaml;
    p->track.params = p->params;
    p->track.n_params = p->n_params;
    p->track.study = p->study;
    p->track.n_study = p->n_study;
}

bml_status bml__study_resolve(const bml_config *cfg, bml__study *p) {
    memset(p, 0, sizeof *p);
    BML__TRY(bml_config_copy(cfg, &p->cfg));
    const bml_config *c = p->cfg;
    problems pr = {{0}, 0, BML_OK};

    /* every section is read one level deep: a deeper key (+model.foo.bar=1) would be ignored, so it is an error */
    for (size_t i = 0; i < bml_config_count(c); i++) {
        const char *k = bml_config_entry(c, i).key, *dot = strchr(k, '.');
        if (dot && strchr(dot + 1, '.'))
            note(&pr, bml__fail(BML_ERR_VALUE, "config key '%s': sections hold plain keys (section.key), nothing deeper", k));
    }
    resolve_run(c, p, &pr);

    /* the model and its loss */
    p->model = bml__study_get(c, "model.name", D_MODEL);
    p->loss = bml__study_get(c, "loss.name", D_LOSS);
    p->neural = bml_model_registry_takes_training(p->model);
    if (!p->neural && strcmp(p->loss, D_LOSS) != 0)
        note(&pr, bml__fail(BML_ERR_VALUE, "model %s trains on squared error: use loss=mse (loss=%s is for the neural models)",
                            p->model, p->loss));
    p->lr_auto = p->neural && !strcmp(bml__study_get(c, "training.learning_rate", ""), "auto");
    note(&pr, resolve_explain(c, p));
    note(&pr, resolve_uncertainty(c, p));
    note(&pr, resolve_lr_find(c, p));
    resolve_track(c, p, &pr);
    note(&pr, bml__track_check_paths(&p->track));

    resolve_data(c, p, &pr);

    /* the pipeline, the split and the model: names and parameters as their registries check them */
    p->pipeline = bml__study_get(c, "pipeline.name", D_PIPELINE);
    p->split = bml__study_get(c, "split.name", D_SPLIT);
    bml_status st = section(c, "pipeline", &p->pipeline_kv, &p->n_pipeline_kv);
    if (st == BML_OK) st = section(c, "split", &p->split_kv, &p->n_split_kv);
    owned_keys ok = {NULL, 0};
    if (st == BML_OK) st = model_params(p, &ok.owned, &ok.n);
    p->owned = ok.owned;
    p->n_owned = ok.n;
    if (st != BML_OK) {
        free(pr.msg.buf);
        return st;
    }
    bml_pipeline *pipe = NULL;
    note(&pr, bml_pipeline_create(p->pipeline, p->pipeline_kv, p->n_pipeline_kv, &pipe));
    bml_pipeline_free(pipe);
    bml_model *m = NULL;
    bml_kv lr = {"learning_rate", "0.001"}; /* auto: the rate is found later */
    note(&pr, bml__study_create_model(p, &lr, p->lr_auto, &m));
    bml_model_free(m);

    resolve_record(c, p, &pr);
    return verdict(&pr);
}

void bml__study_release(bml__study *p) {
    if (!p) return;
    if (p->source && p->source->free_opts) p->source->free_opts(p->source_opts);
    free(p->pipeline_kv);
    free(p->split_kv);
    free(p->model_kv);
    for (size_t i = 0; i < p->n_owned; i++) free(p->owned[i]);
    free(p->owned);
    free(p->config_yaml);
    free(p->params);
    bml_config_free(p->cfg);
    memset(p, 0, sizeof *p);
}

bml_status bml__study_set_learning_rate(bml__study *p, const char *rate) {
    bml_config *c = NULL;
    BML__TRY(bml_config_copy(p->cfg, &c));
    bml_status st = bml_config_set(c, "training.learning_rate", rate);
    bml__study q = {0};
    if (st == BML_OK) st = bml__study_resolve(c, &q);
    bml_config_free(c);
    if (st != BML_OK) {
        bml__study_release(&q);
        return st;
    }
    bml__study_release(p);
    *p = q;
    p->track.study = p->study; /* it pointed into q */
    return BML_OK;
}

bml_status bml__study_create_model(const bml__study *p, const bml_kv *extra, size_t n_extra, bml_model **out) {
    *out = NULL;
    bml_kv *kv = bml__calloc(p->n_model_kv + n_extra + 1, sizeof *kv);
    if (!kv) return bml__fail(BML_ERR_NOMEM, "out of memory");
    /* extra keys replace those of the configuration */
    size_t k = 0;
    for (size_t i = 0; i < p->n_model_kv; i++) {
        int replaced = 0;
        for (size_t e = 0; e < n_extra; e++) replaced |= !strcmp(p->model_kv[i].key, extra[e].key);
        if (!replaced) kv[k++] = p->model_kv[i];
    }
    for (size_t i = 0; i < n_extra; i++) kv[k++] = extra[i];
    bml_status st = bml_model_create(p->model, kv, k, out);
    free(kv);
    return st;
}

/* A relative path that does not exist from the working directory is looked up under base_dir. */
static char *resolve_path(const char *base_dir, const char *path) {
    if (path[0] == '/' || !base_dir || bml__is_dir(path) || bml__is_file(path)) return bml__strdup(path);
    char *p = bml__path_join(base_dir, path);
    if (p && (bml__is_dir(p) || bml__is_file(p))) return p;
    free(p);
    return bml__strdup(path);
}

bml_status bml__study_load(const bml__study *p, const char *base_dir, const char *path_override, int targets_optional,
                           const int *cancel, bml_dataset **out) {
    *out = NULL;
    if (!path_override && !*p->data_path) return bml__fail(BML_ERR_VALUE, "no data path: set data.path=PATH");
    char *path = path_override ? bml__strdup(path_override) : resolve_path(base_dir, p->data_path);
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = p->source->load(p->source_opts, path, targets_optional, cancel, out);
    free(path);
    return st;
}

bml_status bml__study_samples(const bml__study *p, const bml_dataset *ds, int targets_optional, bml_samples **out) {
    *out = NULL;
    bml_kv *kv = bml__calloc(p->n_pipeline_kv + 2, sizeof *kv);
    if (!kv) return bml__fail(BML_ERR_NOMEM, "out of memory");
    memcpy(kv, p->pipeline_kv, p->n_pipeline_kv * sizeof *kv);
    size_t n = p->n_pipeline_kv;
    /* predict: samples without their targets, where the pipeline can make them */
    if (targets_optional && bml__pipeline_has_param(p->pipeline, "require_targets")) kv[n++] = (bml_kv){"require_targets", "false"};
    bml_pipeline *pipe = NULL;
    bml_status st = bml_pipeline_create(p->pipeline, kv, n, &pipe);
    if (st == BML_OK) st = bml_pipeline_transform(pipe, ds, out);
    bml_pipeline_free(pipe);
    free(kv);
    return st;
}
