/* The study runner: load -> pipeline -> split -> fit per fold -> evaluate -> explain -> write.
 * Output writing (run directory, CSV and JSON files) lives in track/. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "data/dataset_internal.h"
#include "pipelines/ica.h"
#include "track/track.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void say(const bml_run_opts *o, const char *fmt, ...) BML__PRINTF(2, 3);
static void say(const bml_run_opts *o, const char *fmt, ...) {
    if (!o || !o->log) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->log(o->log_user, buf);
}

/* A relative path that does not exist from the working directory is looked up under base_dir. */
static char *resolve_path(const char *base_dir, const char *path) {
    if (!path) return NULL;
    if (path[0] == '/' || !base_dir || bml__is_dir(path) || bml__is_file(path)) return bml__strdup(path);
    char *p = bml__path_join(base_dir, path);
    if (p && (bml__is_dir(p) || bml__is_file(p))) return p;
    free(p);
    return bml__strdup(path);
}

static const char *cfg_str(const bml_config *c, const char *key, const char *dflt) {
    const char *v = bml_config_get(c, key);
    return v && *v ? v : dflt;
}

bml_status bml_run_load_data(const bml_config *cfg, const char *base_dir, const char *path_override, int targets_optional,
                             bml_dataset **out) {
    *out = NULL;
    const char *name = cfg_str(cfg, "data.name", "oxford");
    const char *raw = path_override ? path_override : bml_config_get(cfg, "data.path");
    if (!raw || !*raw) return bml__fail(BML_ERR_VALUE, "no data path: set data.path=PATH");
    char *path = path_override ? bml__strdup(path_override) : resolve_path(base_dir, raw);
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st;
    if (!strcmp(name, "oxford")) {
        const char *ex = cfg_str(cfg, "data.experiment", "all");
        double *e = NULL;
        size_t ne = 0;
        int ids[16];
        bml_oxford_opts o = {ids, 0};
        if (strcmp(ex, "all") != 0) {
            if (bml__parse_double_list(ex, &e, &ne) != 0 || ne > 16) {
                free(path);
                free(e);
                return bml__fail(BML_ERR_VALUE, "data.experiment must be all, a number 1-5 or a list like [1, 5]; got '%s'", ex);
            }
            for (size_t i = 0; i < ne; i++) {
                if (e[i] < 1 || e[i] > 5 || e[i] != floor(e[i])) {
                    free(path);
                    free(e);
                    return bml__fail(BML_ERR_VALUE, "data.experiment: %g is not an Oxford experiment (1-5)", e[i]);
                }
                ids[i] = (int)e[i];
            }
            o.n_experiments = ne;
            free(e);
        }
        st = bml_dataset_load_oxford(path, &o, out);
    } else if (!strcmp(name, "table")) {
        bml__strvec feats = {0}, targs = {0};
        if (bml__parse_string_list(cfg_str(cfg, "data.features", ""), &feats) != 0 ||
            bml__parse_string_list(cfg_str(cfg, "data.targets", ""), &targs) != 0) {
            st = bml__fail(BML_ERR_VALUE, "data.features and data.targets must be lists of column names");
        } else {
            bml_table_roles r = {
                .cell_column = cfg_str(cfg, "data.cell_column", NULL),
                .temperature_column = cfg_str(cfg, "data.temperature_column", NULL),
                .time_column = cfg_str(cfg, "data.time_column", NULL),
                .experiment_column = cfg_str(cfg, "data.experiment_column", NULL),
                .features = (const char *const *)feats.items,
                .n_features = feats.n,
                .targets = (const char *const *)targs.items,
                .n_targets = targs.n,
                .targets_optional = targets_optional,
            };
            st = bml_dataset_load_table(path, &r, out);
        }
        bml__strvec_free(&feats);
        bml__strvec_free(&targs);
    } else if (!strcmp(name, "oxford_curves")) {
        const char *ex = cfg_str(cfg, "data.experiment", "all");
        double *e = NULL;
        size_t ne = 0;
        int ids[16];
        bml_oxford_opts o = {ids, 0};
        if (strcmp(ex, "all") != 0 && (bml__parse_double_list(ex, &e, &ne) != 0 || ne > 16))
            st = bml__fail(BML_ERR_VALUE, "data.experiment must be all, a number 1-5 or a list like [1, 5]; got '%s'", ex);
        else {
            for (size_t i = 0; i < ne; i++) ids[i] = (int)e[i];
            o.n_experiments = ne;
            st = bml_dataset_load_oxford_curves(path, &o, out);
        }
        free(e);
    } else if (!strcmp(name, "basytec")) {
        long step = 13, cycle = 0;
        if (bml__parse_long(cfg_str(cfg, "data.step", "13"), &step) || bml__parse_long(cfg_str(cfg, "data.cycle", "0"), &cycle))
            st = bml__fail(BML_ERR_VALUE, "data.step and data.cycle must be integers");
        else st = bml_dataset_load_basytec(path, (int)step, (int)cycle, out);
    } else if (!strcmp(name, "curve_table")) {
        double temp = NAN;
        const char *ts = cfg_str(cfg, "data.temperature_c", "");
        if (*ts && bml__parse_double(ts, &temp)) st = bml__fail(BML_ERR_VALUE, "data.temperature_c must be a number");
        else {
            bml_curve_columns cc = {cfg_str(cfg, "data.capacity_column", "capacity"), cfg_str(cfg, "data.voltage_column", "voltage"),
                                    cfg_str(cfg, "data.name_pattern", "cell_([0-9]+)_cyc_([0-9]+)"), temp};
            st = bml_dataset_load_curve_table(path, &cc, out);
        }
    } else {
        st = bml__fail(BML_ERR_VALUE, "unknown data source '%s' (valid: oxford, table, oxford_curves, basytec, curve_table)", name);
    }
    free(path);
    return st;
}

bml_status bml_run_build_samples(const bml_config *cfg, const bml_dataset *ds, int targets_optional, bml_samples **out) {
    *out = NULL;
    const char *name = cfg_str(cfg, "pipeline.name", "summary_set");
    size_t n = bml_config_section(cfg, "pipeline", NULL, 0);
    bml_kv *kv = bml__calloc(n + 1, sizeof *kv);
    if (!kv) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_config_section(cfg, "pipeline", kv, n);
    if (targets_optional && (!strcmp(name, "summary_set") || !strcmp(name, "latent_ode_seq") || !strcmp(name, "ica_peaks")))
        kv[n++] = (bml_kv){"require_targets", "false"};
    bml_pipeline *p = NULL;
    bml_status st = bml_pipeline_create(name, kv, n, &p);
    if (st == BML_OK) st = bml_pipeline_transform(p, ds, out);
    bml_pipeline_free(p);
    free(kv);
    return st;
}

/* ------------------------------------------------------------------ one fold */
/* Results of one fold, indexed by rows of the flat (per-step) samples: for static samples these are
 * the samples themselves, for sequences the unpadded steps. */
typedef struct {
    bml_fold *fold;
    bml_model *model;
    bml__track_preprocess pre;
    size_t n_eval;     /* flat rows evaluated */
    size_t *eval_idx;  /* (n_eval) rows of the flat samples */
    int eval_is_test;
    double *pred;      /* (n_eval, O) */
    double *shap;      /* (n_eval, O, F + 1) or NULL */
    double *imp;       /* (3, O, F): gain, total_gain, split; or NULL */
    size_t n_att;      /* sequence models: evaluated samples with attention weights */
    size_t *att_idx;   /* (n_att) sample indices */
    double *att;       /* (n_att, T, T) head-averaged attention, or NULL */
    size_t lat_dim;    /* latent-ODE models: latent size, 0 otherwise */
    double *lat;       /* (n_att, T, lat_dim) latent trajectories of the evaluated samples, or NULL */
} fold_out;

static void fold_out_release(fold_out *f) {
    bml_model_free(f->model);
    bml__track_preprocess_release(&f->pre);
    free(f->eval_idx);
    free(f->pred);
    free(f->shap);
    free(f->imp);
    free(f->att_idx);
    free(f->att);
    free(f->lat);
}

/* Preprocessing of the model's inputs with statistics of the training split: mean imputation for
 * models that cannot take missing values, standardisation for those that want it. */
static bml_status preprocess_fit(const bml_model *m, const bml_samples *tr, bml__track_preprocess *pre) {
    size_t F = tr->n_features, *rows, nr;
    BML__TRY(bml_samples_data_rows(tr, &rows, &nr));
    bml_status st = BML_OK;
    if (!bml_model_handles_missing(m)) {
        pre->impute = bml__calloc(F, sizeof *pre->impute);
        if (!pre->impute) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t j = 0; st == BML_OK && j < F; j++) {
            double sum = 0;
            size_t c = 0;
            for (size_t r = 0; r < nr; r++) {
                double v = tr->x[rows[r] * F + j];
                if (!isnan(v)) sum += v, c++;
            }
            pre->impute[j] = c ? sum / (double)c : 0.0;
        }
    }
    if (st == BML_OK && bml_model_wants_scaled(m)) st = bml_scaler_fit(&pre->scaler, tr, rows, nr);
    free(rows);
    return st;
}

/* apply to every row (or step) of s; padded steps are set back to 0 */
static void preprocess_samples(const bml__track_preprocess *pre, bml_samples *s) {
    size_t T = s->seq_len ? s->seq_len : 1, F = s->n_features;
    bml__track_preprocess_apply(pre, s->x, s->n * T, F);
    if (s->seq_len)
        for (size_t r = 0; r < s->n * T; r++)
            if (s->mask[r] == 0) memset(s->x + r * F, 0, F * sizeof *s->x);
}

/* The model of the config: its model.* keys; neural models also get training.* as they are and the
 * loss group as loss=<name>, loss_<key>=<value>. */
static bml_status create_model(const bml_config *cfg, const char *mname, bml_model **out) {
    int neural = bml_model_registry_takes_training(mname);
    size_t nm = bml_config_section(cfg, "model", NULL, 0);
    size_t nt = neural ? bml_config_section(cfg, "training", NULL, 0) : 0;
    size_t nl = neural ? bml_config_section(cfg, "loss", NULL, 0) : 0;
    size_t n = nt + nm + nl + 1;
    bml_kv *kv = bml__calloc(n, sizeof *kv);
    char **owned = bml__calloc(nl + 1, sizeof *owned);
    if (!kv || !owned) {
        free(kv);
        free(owned);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    if (neural) {
        k += bml_config_section(cfg, "training", kv + k, nt);
        kv[k++] = (bml_kv){"loss", cfg_str(cfg, "loss.name", "mse")};
        bml_config_section(cfg, "loss", kv + k, nl);
        for (size_t i = 0; i < nl; i++) {
            owned[i] = bml__sprintf("loss_%s", kv[k + i].key);
            kv[k + i].key = owned[i] ? owned[i] : "";
        }
        k += nl;
    }
    k += bml_config_section(cfg, "model", kv + k, nm);
    bml_status st = bml_model_create(mname, kv, k, out);
    for (size_t i = 0; i < nl; i++) free(owned[i]);
    free(owned);
    free(kv);
    return st;
}

static bml_status run_fold(const bml_config *cfg, const bml_samples *all, const size_t *flat_of, bml_fold *fold,
                           uint64_t seed, const bml_run_opts *opts, fold_out *fo, bml_run_result *res) {
    memset(fo, 0, sizeof *fo);
    fo->fold = fold;
    size_t n_ev_samples;
    const size_t *ev_idx = bml_fold_eval(fold, &n_ev_samples);
    fo->eval_is_test = fold->n_test > 0;
    const char *mname = cfg_str(cfg, "model.name", "lgbm");
    BML__TRY(create_model(cfg, mname, &fo->model));
    bml_model_set_epoch_callback(fo->model, opts->progress, opts->progress_user);
    bml_status st;
    bml_samples *tr = NULL, *va = NULL, *ev = NULL;
    double *yp = NULL;
    size_t F = all->n_features, O = all->n_targets, T = all->seq_len ? all->seq_len : 1;
    if ((st = bml_samples_subset(all, fold->train, fold->n_train, &tr)) != BML_OK) goto done;
    if ((st = bml_samples_subset(all, fold->val, fold->n_val, &va)) != BML_OK) goto done;
    if ((st = bml_samples_subset(all, ev_idx, n_ev_samples, &ev)) != BML_OK) goto done;
    if ((st = preprocess_fit(fo->model, tr, &fo->pre)) != BML_OK) goto done;
    preprocess_samples(&fo->pre, tr);
    preprocess_samples(&fo->pre, va);
    preprocess_samples(&fo->pre, ev);

    double t0 = now_s();
    st = bml_model_fit(fo->model, tr, va, seed);
    double t1 = now_s();
    res->t_fit += t1 - t0;
    res->t_backend += t1 - t0;
    if (st != BML_OK) goto done;
    yp = bml__calloc(n_ev_samples * T * O + 1, sizeof *yp);
    if (!yp) goto nomem;
    if ((st = bml_model_predict_samples(fo->model, ev, yp)) != BML_OK) goto done;
    /* evaluated rows of the flat samples and their predictions */
    for (size_t i = 0; i < n_ev_samples * T; i++) fo->n_eval += !all->seq_len || ev->mask[i] != 0;
    fo->eval_idx = bml__calloc(fo->n_eval + 1, sizeof *fo->eval_idx);
    fo->pred = bml__calloc(fo->n_eval * O + 1, sizeof *fo->pred);
    if (!fo->eval_idx || !fo->pred) goto nomem;
    for (size_t i = 0, k = 0; i < n_ev_samples; i++)
        for (size_t t = 0; t < T; t++) {
            if (all->seq_len && ev->mask[i * T + t] == 0) continue;
            fo->eval_idx[k] = flat_of[ev_idx[i] * T + t];
            memcpy(fo->pred + k * O, yp + (i * T + t) * O, O * sizeof *yp);
            k++;
        }
    double t2 = now_s();
    res->t_predict += t2 - t1;
    res->t_backend += t2 - t1;
    if (all->seq_len) { /* attention weights of the evaluated sequences */
        fo->att = bml__calloc(n_ev_samples * T * T + 1, sizeof *fo->att);
        fo->att_idx = bml__calloc(n_ev_samples + 1, sizeof *fo->att_idx);
        if (!fo->att || !fo->att_idx) goto nomem;
        st = bml_model_attention(fo->model, ev, fo->att);
        if (st == BML_ERR_STATE) {
            free(fo->att);
            fo->att = NULL;
            st = BML_OK;
        } else if (st != BML_OK) {
            goto done;
        }
        fo->n_att = n_ev_samples;
        memcpy(fo->att_idx, ev_idx, n_ev_samples * sizeof *ev_idx);
        if ((fo->lat_dim = bml_model_latent_dim(fo->model)) > 0) { /* latent trajectories */
            fo->lat = bml__calloc(n_ev_samples * T * fo->lat_dim + 1, sizeof *fo->lat);
            if (!fo->lat) goto nomem;
            if ((st = bml_model_latent(fo->model, ev, fo->lat)) != BML_OK) goto done;
        }
    } else {
        fo->shap = bml__calloc(fo->n_eval * O * (F + 1), sizeof *fo->shap);
        fo->imp = bml__calloc(3 * O * F, sizeof *fo->imp);
        if (!fo->shap || !fo->imp) goto nomem;
        st = bml_model_shap(fo->model, ev->x, ev->n, fo->shap);
        if (st == BML_ERR_STATE) { /* model without SHAP */
            free(fo->shap);
            fo->shap = NULL;
            st = BML_OK;
        }
        static const char *const kinds[3] = {"gain", "total_gain", "split"};
        for (int k = 0; st == BML_OK && k < 3; k++)
            st = bml_model_importance(fo->model, kinds[k], fo->imp + (size_t)k * O * F);
        if (st == BML_ERR_STATE) {
            free(fo->imp);
            fo->imp = NULL;
            st = BML_OK;
        }
    }
    double t3 = now_s();
    res->t_explain += t3 - t2;
    res->t_backend += t3 - t2;
    if (st != BML_OK) goto done;
    {
        char *info = bml_model_fit_info_json(fo->model);
        say(opts, "      fold %-10s train %3zu  val %3zu  %s %3zu  fit %.1f ms  %s", fold->name, fold->n_train, fold->n_val,
            fo->eval_is_test ? "test" : "eval", n_ev_samples, 1e3 * (t1 - t0), info ? info : "");
        free(info);
    }
    goto done;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
done:
    free(yp);
    bml_samples_free(tr);
    bml_samples_free(va);
    bml_samples_free(ev);
    return st;
}

/* The dQ/dV curves of the first evaluated cell (every reference test), with the detected peaks, for the
 * figures: cell, rpt, voltage_v, dqdv_ah_per_v, is_peak. NULL when not an ica_peaks study. */
static char *dqdv_csv(const bml_config *cfg, const bml_dataset *ds, const bml_samples *s, const bml_fold *f) {
    if (strcmp(cfg_str(cfg, "pipeline.name", ""), "ica_peaks")) return NULL;
    size_t ne;
    const size_t *ev = bml_fold_eval(f, &ne);
    if (!ne) return NULL;
    const bml_sample_meta *m0 = &s->meta[ev[0]];
    bml__ica_params ip = {3.0, 4.2, 500, 51, 3, 0.01, 200, 0.01, 3};
    double d;
    if (!bml__parse_double(cfg_str(cfg, "pipeline.v_min", "3.0"), &d)) ip.v_min = d;
    if (!bml__parse_double(cfg_str(cfg, "pipeline.v_max", "4.2"), &d)) ip.v_max = d;
    if (!bml__parse_double(cfg_str(cfg, "pipeline.height", "0.01"), &d)) ip.height = d;
    if (!bml__parse_double(cfg_str(cfg, "pipeline.distance", "200"), &d)) ip.distance = d;
    if (!bml__parse_double(cfg_str(cfg, "pipeline.prominence", "0.01"), &d)) ip.prominence = d;
    long l;
    if (!bml__parse_long(cfg_str(cfg, "pipeline.resample", "500"), &l)) ip.resample = (int)l;
    if (!bml__parse_long(cfg_str(cfg, "pipeline.window", "51"), &l)) ip.window = (int)l;
    if (!bml__parse_long(cfg_str(cfg, "pipeline.order", "3"), &l)) ip.order = (int)l;
    size_t R = (size_t)ip.resample, cap = 64, len = 0;
    double *vm = calloc(R, sizeof *vm), *dq = calloc(R, sizeof *dq), *feat = calloc(bml__ica_n_features(&ip), sizeof *feat);
    size_t *pk = calloc(R, sizeof *pk);
    char *out = malloc(cap);
    if (!vm || !dq || !feat || !pk || !out) goto fail;
    len = (size_t)snprintf(out, cap, "cell,rpt,voltage_v,dqdv_ah_per_v,is_peak\n");
    for (size_t i = 0; i < bml_dataset_n_curves(ds); i++) {
        const bml__curve *c = &ds->curves[i];
        if (c->experiment != m0->experiment || strcmp(c->cell_id, m0->cell)) continue;
        if (bml__ica_features(&ip, c->q, c->v, c->n, feat, vm, dq) != BML_OK) continue;
        size_t np = bml__find_peaks(dq, R - 1, ip.height, ip.distance, ip.prominence, pk, R);
        for (size_t k = 0; k + 1 < R; k++) {
            int is_peak = 0;
            for (size_t j = 0; j < np; j++) is_peak |= pk[j] == k;
            if (len + 128 > cap) {
                cap = 2 * cap + 256;
                char *nb = realloc(out, cap);
                if (!nb) goto fail;
                out = nb;
            }
            len += (size_t)snprintf(out + len, cap - len, "%s,%d,%.6f,%.6g,%d\n", c->cell_id, c->rpt, vm[k], dq[k], is_peak);
        }
    }
    free(vm), free(dq), free(feat), free(pk);
    return out;
fail:
    free(vm), free(dq), free(feat), free(pk), free(out);
    return NULL;
}

/* ------------------------------------------------------------------ the study */
static void log_metrics(const bml_run_opts *opts, const char *label, const bml_metrics *m) {
    say(opts, "      %-16s n=%-4zu RMSE %.5f  MAE %.5f  MAPE %.3f%%  R2 %.4f  max|e| %.5f", label, m->n, m->rmse, m->mae,
        m->mape, m->r2, m->max_abs_error);
}

bml_status bml_run_experiment(const bml_config *cfg, const bml_run_opts *opts, bml_run_result **out) {
    *out = NULL;
    double t_start = now_s();
    bml_run_result *res = calloc(1, sizeof *res);
    if (!res) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    bml_split *sp = NULL;
    fold_out *folds = NULL;
    bml_samples *flat = NULL; /* per-step rows of sequence samples */
    size_t *flat_of = NULL;   /* (n*T) sample step -> flat row */
    bml_status st;
    long seed_l = 42;
    const char *seed_s = cfg_str(cfg, "seed", "42");
    if (bml__parse_long(seed_s, &seed_l) != 0 || seed_l < 0) {
        st = bml__fail(BML_ERR_VALUE, "seed must be a non-negative integer, got '%s'", seed_s);
        goto fail;
    }
    const char *loss = cfg_str(cfg, "loss.name", "mse");
    const char *mname = cfg_str(cfg, "model.name", "lgbm");
    if (!bml_model_registry_takes_training(mname) && strcmp(loss, "mse") != 0) {
        st = bml__fail(BML_ERR_VALUE, "model %s trains on squared error: use loss=mse (loss=%s is for the neural models)",
                       mname, loss);
        goto fail;
    }
    const char *tracking = cfg_str(cfg, "tracking.name", "local");
    if (strcmp(tracking, "local") && strcmp(tracking, "mlflow") && strcmp(tracking, "tensorboard") && strcmp(tracking, "all")) {
        st = bml__fail(BML_ERR_VALUE, "unknown tracking '%s' (valid: local, mlflow, tensorboard, all)", tracking);
        goto fail;
    }

    /* 1. load */
    double t = now_s();
    if ((st = bml_run_load_data(cfg, opts->base_dir, NULL, 0, &ds)) != BML_OK) goto fail;
    res->t_load = now_s() - t;
    if (bml_dataset_n_curves(ds))
        say(opts, "[1/7] load      %zu voltage curves from %s (%s) in %.1f ms", bml_dataset_n_curves(ds),
            cfg_str(cfg, "data.path", "?"), cfg_str(cfg, "data.name", "oxford"), 1e3 * res->t_load);
    else
        say(opts, "[1/7] load      %zu cells, %zu rows from %s (%s, experiment %s) in %.1f ms", bml_dataset_n_cells(ds),
            bml_dataset_n_rows(ds), cfg_str(cfg, "data.path", "?"), cfg_str(cfg, "data.name", "oxford"),
            cfg_str(cfg, "data.experiment", "all"), 1e3 * res->t_load);
    if (*bml_dataset_note(ds)) say(opts, "      %s", bml_dataset_note(ds)); /* what the loader left out */

    /* 2. pipeline */
    t = now_s();
    if ((st = bml_run_build_samples(cfg, ds, 0, &s)) != BML_OK) goto fail;
    res->t_pipeline = now_s() - t;
    {
        char *fn = bml__join(s->feature_names, s->n_features, ", ");
        char *tn = bml__join(s->target_names, s->n_targets, ", ");
        say(opts, "[2/7] pipeline  %s: %zu samples, %zu features [%s] -> %zu targets [%s] in %.1f ms",
            cfg_str(cfg, "pipeline.name", "summary_set"), s->n, s->n_features, fn ? fn : "", s->n_targets, tn ? tn : "",
            1e3 * res->t_pipeline);
        if (*bml_pipeline_last_note()) say(opts, "      %s", bml_pipeline_last_note());
        free(fn);
        free(tn);
    }

    /* 3. split */
    t = now_s();
    {
        size_t nkv = bml_config_section(cfg, "split", NULL, 0);
        bml_kv *kv = bml__calloc(nkv ? nkv : 1, sizeof *kv);
        if (!kv) goto nomem;
        bml_config_section(cfg, "split", kv, nkv);
        st = bml_split_create(cfg_str(cfg, "split.name", "temperature_holdout"), kv, nkv, s, (uint64_t)seed_l, &sp);
        free(kv);
        if (st != BML_OK) goto fail;
    }
    res->t_split = now_s() - t;
    res->n_folds = sp->n_folds;
    if (sp->n_folds == 1)
        say(opts, "[3/7] split     %s: train %zu, val %zu, test %zu", cfg_str(cfg, "split.name", "?"), sp->folds[0].n_train,
            sp->folds[0].n_val, sp->folds[0].n_test);
    else
        say(opts, "[3/7] split     %s: %zu folds", cfg_str(cfg, "split.name", "?"), sp->n_folds);

    /* per-step view of sequence samples: metrics, predictions and reports work on its rows */
    {
        size_t T = s->seq_len ? s->seq_len : 1;
        flat_of = bml__calloc(s->n * T + 1, sizeof *flat_of);
        if (!flat_of) goto nomem;
        for (size_t i = 0, k = 0; i < s->n * T; i++) flat_of[i] = !s->seq_len || s->mask[i] != 0 ? k++ : (size_t)-1;
        if (s->seq_len && (st = bml_samples_flatten(s, &flat)) != BML_OK) goto fail;
    }
    const bml_samples *rows = flat ? flat : s;

    /* 4-6. fit, evaluate, explain per fold */
    say(opts, "[4/7] train     model %s (%s)", mname, sp->n_folds == 1 ? "one fold" : "every fold");
    folds = bml__calloc(sp->n_folds, sizeof *folds);
    if (!folds) goto nomem;
    for (size_t f = 0; f < sp->n_folds; f++)
        if ((st = run_fold(cfg, s, flat_of, &sp->folds[f], (uint64_t)seed_l, opts, &folds[f], res)) != BML_OK) {
            bml__fail_prefix(st, "fold %s", sp->folds[f].name);
            goto fail;
        }

    /* metrics over every fold's evaluation rows */
    bml__track_eval ev = {0};
    size_t n_eval = 0;
    for (size_t f = 0; f < sp->n_folds; f++) n_eval += folds[f].n_eval;
    size_t O = rows->n_targets;
    ev.n = n_eval;
    ev.idx = bml__calloc(n_eval, sizeof *ev.idx);
    ev.fold = bml__calloc(n_eval, sizeof *ev.fold);
    ev.pred = bml__calloc(n_eval * O, sizeof *ev.pred);
    if (!ev.idx || !ev.fold || !ev.pred) {
        bml__track_eval_release(&ev);
        goto nomem;
    }
    for (size_t f = 0, r = 0; f < sp->n_folds; f++)
        for (size_t i = 0; i < folds[f].n_eval; i++, r++) {
            ev.idx[r] = folds[f].eval_idx[i];
            ev.fold[r] = f;
            memcpy(ev.pred + r * O, folds[f].pred + i * O, O * sizeof *ev.pred);
        }
    say(opts, "[5/7] evaluate  %zu predictions", n_eval);
    cJSON *metrics = bml__track_metrics(rows, &ev, sp, cfg);
    if (!metrics) {
        bml__track_eval_release(&ev);
        goto nomem;
    }
    for (size_t k = 0; k < O; k++) {
        /* overall metrics per target */
        double *yt = bml__calloc(n_eval, sizeof *yt), *yp = bml__calloc(n_eval, sizeof *yp);
        if (yt && yp) {
            for (size_t r = 0; r < n_eval; r++) {
                yt[r] = rows->y[ev.idx[r] * O + k];
                yp[r] = ev.pred[r * O + k];
            }
            bml_metrics m = bml_metrics_compute(yt, yp, n_eval, 1);
            log_metrics(opts, rows->target_names[k], &m);
        }
        free(yt);
        free(yp);
    }
    say(opts, "[6/7] explain   %s", folds[0].shap  ? "TreeSHAP values and feature importance"
        : folds[0].att && folds[0].lat ? "attention weights and latent trajectories per sequence"
        : folds[0].att ? "attention weights per sequence"
        : folds[0].lat ? "latent trajectories per sequence"
                       : "no SHAP or attention for this model");

    /* 7. write */
    t = now_s();
    if (opts->write_run_dir) {
        bml__track_fold *tf = bml__calloc(sp->n_folds, sizeof *tf);
        if (!tf) {
            cJSON_Delete(metrics);
            bml__track_eval_release(&ev);
            goto nomem;
        }
        for (size_t f = 0; f < sp->n_folds; f++) {
            tf[f].fold = folds[f].fold;
            tf[f].model = folds[f].model;
            tf[f].pre = &folds[f].pre;
            tf[f].n_eval = folds[f].n_eval;
            tf[f].eval_idx = folds[f].eval_idx;
            tf[f].eval_is_test = folds[f].eval_is_test;
            tf[f].pred = folds[f].pred;
            tf[f].shap = folds[f].shap;
            tf[f].imp = folds[f].imp;
            tf[f].n_att = folds[f].n_att;
            tf[f].att_idx = folds[f].att_idx;
            tf[f].att = folds[f].att;
            tf[f].lat_dim = folds[f].lat_dim;
            tf[f].lat = folds[f].lat;
        }
        double t_save = 0;
        char *dqdv = bml_dataset_n_curves(ds) ? dqdv_csv(cfg, ds, s, &sp->folds[0]) : NULL;
        bml__track_extra extra[1] = {{"dqdv.csv", dqdv}};
        st = bml__track_write_run(cfg, rows, s, sp, tf, metrics, extra, dqdv ? 1 : 0, &res->run_dir, &t_save);
        free(dqdv);
        res->t_backend += t_save; /* the model files are XGBoost's own serialisation */
        free(tf);
        if (st != BML_OK) {
            cJSON_Delete(metrics);
            bml__track_eval_release(&ev);
            goto fail;
        }
    }
    res->t_write = now_s() - t;
    res->t_total = now_s() - t_start;
    cJSON *timing = cJSON_AddObjectToObject(metrics, "timing_s");
    cJSON_AddNumberToObject(timing, "load", res->t_load);
    cJSON_AddNumberToObject(timing, "pipeline", res->t_pipeline);
    cJSON_AddNumberToObject(timing, "fit", res->t_fit);
    cJSON_AddNumberToObject(timing, "predict", res->t_predict);
    cJSON_AddNumberToObject(timing, "explain", res->t_explain);
    res->metrics_json = cJSON_Print(metrics);
    cJSON_Delete(metrics);
    bml__track_eval_release(&ev);
    if (res->run_dir) say(opts, "[7/7] track     run written to %s in %.1f ms", res->run_dir, 1e3 * res->t_write);
    else say(opts, "[7/7] track     (no run directory written)");
    say(opts, "done in %.1f ms", 1e3 * res->t_total);
    st = BML_OK;
    goto cleanup;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
fail:
    bml_run_result_free(res);
    res = NULL;
cleanup:
    bml_samples_free(flat);
    free(flat_of);
    for (size_t f = 0; folds && f < sp->n_folds; f++) fold_out_release(&folds[f]);
    free(folds);
    bml_split_free(sp);
    bml_samples_free(s);
    bml_dataset_free(ds);
    *out = res;
    return st;
}

void bml_run_result_free(bml_run_result *r) {
    if (!r) return;
    free(r->run_dir);
    free(r->metrics_json);
    free(r);
}
