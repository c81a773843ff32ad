/* The study runner: load -> pipeline -> split -> fit per fold -> evaluate -> explain -> write.
 * Output writing (run directory, CSV and JSON files) lives in track/. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "data/dataset_internal.h"
#include "pipelines/pipeline_internal.h"
#include "run/runner.h"
#include "splits/split_internal.h"
#include "track/track.h"
#include "nn/trainer.h"

/* The plan's split of s; data that name each cell's set (data=qdlin) give split=predefined its sets. */
bml_status bml__make_split(const bml__study *plan, const bml_dataset *ds, const bml_samples *s, bml_split **sp) {
    const char **set_of = NULL;
    if (bml_dataset_is_qdlin(ds)) {
        set_of = bml__calloc(s->n ? s->n : 1, sizeof *set_of);
        if (!set_of) return bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < s->n; i++) { /* the set of the sample's cell */
            set_of[i] = "";
            for (size_t c = 0; c < bml_dataset_n_cells(ds); c++) {
                bml_cell_view cv;
                bml_dataset_cell(ds, c, &cv);
                if (!strcmp(cv.cell_id, s->meta[i].cell)) set_of[i] = bml_dataset_cell_split(ds, c);
            }
        }
    }
    bml_status st = bml__split_make(plan->split, plan->split_kv, plan->n_split_kv, s, set_of, plan->seed, sp);
    free(set_of);
    return st;
}

bml_status bml_run_load_data(const bml_config *cfg, const char *base_dir, const char *path_override, int targets_optional,
                             bml_dataset **out) {
    *out = NULL;
    bml__study plan;
    bml_status st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = bml__study_load(&plan, base_dir, path_override, targets_optional, NULL, out);
    bml__study_release(&plan);
    return st;
}

bml_status bml_run_build_samples(const bml_config *cfg, const bml_dataset *ds, int targets_optional, bml_samples **out) {
    *out = NULL;
    bml__study plan;
    bml_status st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = bml__study_samples(&plan, ds, targets_optional, out);
    bml__study_release(&plan);
    return st;
}

/* The pipeline's extra file of the run (ica_peaks: dqdv.csv, the dQ/dV curves of the first evaluated cell with
 * their peaks, for the figures): its name, or NULL; *text malloc'ed. */
static const char *pipeline_extra(const bml__study *plan, const bml_dataset *ds, const bml_samples *s, const bml_fold *f,
                                  char **text) {
    *text = NULL;
    size_t ne;
    const size_t *ev = bml_fold_eval(f, &ne);
    bml_pipeline *pipe = NULL;
    if (!ne || bml_pipeline_create(plan->pipeline, plan->pipeline_kv, plan->n_pipeline_kv, &pipe) != BML_OK) return NULL;
    const char *name = bml__pipeline_extra(pipe, ds, s->meta[ev[0]].cell, s->meta[ev[0]].experiment, text);
    bml_pipeline_free(pipe);
    return *text ? name : NULL;
}

/* ------------------------------------------------------------------ the study */
/* What the stages of a study share; every pointer owned and released by study_release. */
typedef struct {
    const bml_run_opts *opts;
    bml_run_result *res;
    bml__study plan;
    bml__explain_opts ex;
    bml_dataset *ds;
    bml_samples *s;        /* the samples (sequences for sequence pipelines) */
    bml_samples *flat;     /* per-step rows of sequence samples, or NULL */
    const bml_samples *rows; /* flat, or s when static: what metrics, predictions and reports work on */
    size_t *flat_of;       /* (n*T) sample step -> flat row, (size_t)-1 for padding */
    bml_split *sp;
    bml__track_fold *folds; /* (sp->n_folds) */
    char *lr_csv;          /* training.learning_rate=auto: the range test's curve */
    bml__track_eval ev;    /* every evaluated row over the folds */
    cJSON *metrics;
} study;

static void study_release(study *x) {
    cJSON_Delete(x->metrics);
    bml__track_eval_release(&x->ev);
    free(x->lr_csv);
    bml_samples_free(x->flat);
    free(x->flat_of);
    for (size_t f = 0; x->folds && f < x->sp->n_folds; f++) bml__track_fold_release(&x->folds[f]);
    free(x->folds);
    bml_split_free(x->sp);
    bml_samples_free(x->s);
    bml_dataset_free(x->ds);
    bml__study_release(&x->plan);
}

static void log_metrics(const bml_run_opts *opts, const char *label, const bml_metrics *m) {
    bml__say(opts, "      %-16s n=%-4zu RMSE %.5f  MAE %.5f  MAPE %.3f%%  R2 %.4f  max|e| %.5f", label, m->n, m->rmse, m->mae,
             m->mape, m->r2, m->max_abs_error);
}

/* 1. load */
static bml_status stage_load(study *x) {
    const bml__study *p = &x->plan;
    double t = bml__run_clock();
    BML__TRY(bml__study_load(p, x->opts->base_dir, NULL, 0, x->opts->cancel, &x->ds));
    x->res->t_load = bml__run_clock() - t;
    const char *path = *p->data_path ? p->data_path : "?";
    if (bml_dataset_n_curves(x->ds))
        bml__say(x->opts, "[1/7] load      %zu voltage curves from %s (%s) in %.1f ms", bml_dataset_n_curves(x->ds), path,
                 p->data_name, 1e3 * x->res->t_load);
    else
        bml__say(x->opts, "[1/7] load      %zu cells, %zu rows from %s (%s, experiment %s) in %.1f ms", bml_dataset_n_cells(x->ds),
                 bml_dataset_n_rows(x->ds), path, p->data_name, p->experiment && *p->experiment ? p->experiment : "all",
                 1e3 * x->res->t_load);
    if (*bml_dataset_note(x->ds)) bml__say(x->opts, "      %s", bml_dataset_note(x->ds)); /* what the loader left out */
    return BML_OK;
}

/* 2. pipeline, and the per-step view of sequence samples */
static bml_status stage_pipeline(study *x) {
    double t = bml__run_clock();
    BML__TRY(bml__check_cancel(x->opts, "after loading the data"));
    BML__TRY(bml__study_samples(&x->plan, x->ds, 0, &x->s));
    x->res->t_pipeline = bml__run_clock() - t;
    const bml_samples *s = x->s;
    char *fn = bml__join(s->feature_names, s->n_features, ", ");
    char *tn = bml__join(s->target_names, s->n_targets, ", ");
    bml__say(x->opts, "[2/7] pipeline  %s: %zu samples, %zu features [%s] -> %zu targets [%s] in %.1f ms", x->plan.pipeline, s->n,
             s->n_features, fn ? fn : "", s->n_targets, tn ? tn : "", 1e3 * x->res->t_pipeline);
    if (*bml_pipeline_last_note()) bml__say(x->opts, "      %s", bml_pipeline_last_note());
    free(fn);
    free(tn);
    size_t T = s->seq_len ? s->seq_len : 1;
    x->flat_of = bml__calloc(s->n * T + 1, sizeof *x->flat_of);
    if (!x->flat_of) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0, k = 0; i < s->n * T; i++) x->flat_of[i] = !s->seq_len || s->mask[i] != 0 ? k++ : (size_t)-1;
    if (s->seq_len) BML__TRY(bml_samples_flatten(s, &x->flat));
    x->rows = x->flat ? x->flat : s;
    return BML_OK;
}

/* 3. split */
static bml_status stage_split(study *x) {
    double t = bml__run_clock();
    BML__TRY(bml__make_split(&x->plan, x->ds, x->s, &x->sp));
    x->res->t_split = bml__run_clock() - t;
    x->res->n_folds = x->sp->n_folds;
    const bml_fold *f0 = &x->sp->folds[0];
    if (x->sp->n_folds == 1)
        bml__say(x->opts, "[3/7] split     %s: train %zu, val %zu, test %zu", x->plan.split, f0->n_train, f0->n_val, f0->n_test);
    else
        bml__say(x->opts, "[3/7] split     %s: %zu folds", x->plan.split, x->sp->n_folds);
    return BML_OK;
}

/* training.learning_rate=auto: the range test on the first fold's training split, then the study with its
 * suggestion (the plan re-resolved with the number, so that config.yaml records it) */
static bml_status stage_lr_auto(study *x) {
    if (!x->plan.lr_auto) return BML_OK;
    bml_lr_find_result *lr = NULL;
    bml_status st = bml__lr_find_on_fold(&x->plan, x->s, &x->sp->folds[0], x->plan.seed, x->opts, &lr);
    if (st != BML_OK) return bml__fail_prefix(st, "training.learning_rate=auto");
    char num[40];
    snprintf(num, sizeof num, "%.6g", lr->suggestion);
    bml__say(x->opts, "      lr-find   %zu steps from %.3g to %.3g: training with the suggested learning rate %s", lr->n,
             lr->lr[0], lr->lr[lr->n - 1], num);
    x->lr_csv = bml_lr_find_csv(lr);
    bml_lr_find_result_free(lr);
    if (!x->lr_csv) return bml__fail(BML_ERR_NOMEM, "out of memory");
    return bml__study_set_learning_rate(&x->plan, num);
}

/* 4. fit, evaluate and explain every fold; *assemble: whether this process writes the run */
static bml_status stage_folds(study *x, const bml_fold_executor *exec, int *assemble) {
    BML__TRY(bml__check_cancel(x->opts, "before training"));
    bml__say(x->opts, "[4/7] train     model %s (%s)", x->plan.model, x->sp->n_folds == 1 ? "one fold" : "every fold");
    x->folds = bml__calloc(x->sp->n_folds, sizeof *x->folds);
    if (!x->folds) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0; f < x->sp->n_folds; f++) { /* evaluated rows of the study, for the SHAP subsample */
        size_t ne;
        bml_fold_eval(&x->sp->folds[f], &ne);
        x->ex.n_total += ne;
    }
    return bml__run_folds(&x->plan, x->s, x->flat_of, x->sp, x->plan.seed, &x->ex, x->opts, x->folds, x->res, exec, assemble);
}

/* a log10 cycle-life target (pipeline delta_q): the metrics in cycles too, per fold (a predefined split's set) */
static void cycle_life_metrics(study *x, size_t k) {
    const bml_samples *rows = x->rows;
    size_t O = rows->n_targets, n_eval = x->ev.n;
    cJSON *cyc = cJSON_AddObjectToObject(x->metrics, "cycle_life");
    double *yt = bml__calloc(n_eval ? n_eval : 1, sizeof *yt), *yp = bml__calloc(n_eval ? n_eval : 1, sizeof *yp);
    for (size_t f = 0; yt && yp && cyc && f < x->sp->n_folds; f++) {
        size_t n = 0;
        for (size_t r = 0; r < n_eval; r++)
            if (x->ev.fold[r] == f) {
                yt[n] = pow(10.0, rows->y[x->ev.idx[r] * O + k]);
                yp[n] = pow(10.0, x->ev.pred[r * O + k]);
                n++;
            }
        bml_metrics m = bml_metrics_compute(yt, yp, n, 1);
        bml__say(x->opts, "      %-16s n=%-4zu RMSE %.1f cycles  MAPE %.1f%%  (10^prediction vs cycle life)", x->sp->folds[f].name,
                 m.n, m.rmse, m.mape);
        cJSON *o = cJSON_AddObjectToObject(cyc, x->sp->folds[f].name);
        if (o) {
            cJSON_AddNumberToObject(o, "n", (double)m.n);
            cJSON_AddNumberToObject(o, "rmse", m.rmse);
            cJSON_AddNumberToObject(o, "mape", m.mape);
        }
    }
    free(yt);
    free(yp);
}

/* Coverage and mean width of one target's intervals over rows r of ev in fold f (f = SIZE_MAX: every fold); the
 * width in cycles too for a log10 cycle-life target. NULL when out of memory. */
static cJSON *interval_block(const study *x, size_t k, size_t f, int cycles) {
    const bml_samples *rows = x->rows;
    size_t O = rows->n_targets, n = 0;
    double *y = bml__calloc(x->ev.n + 1, sizeof *y), *lo = bml__calloc(x->ev.n + 1, sizeof *lo), *up = bml__calloc(x->ev.n + 1, sizeof *up);
    cJSON *o = y && lo && up ? cJSON_CreateObject() : NULL;
    for (size_t r = 0, in_fold = 0, fr = 0; o && r < x->ev.n; r++) {
        size_t fold = x->ev.fold[r];
        if (r == 0 || fold != x->ev.fold[r - 1]) in_fold = 0;
        fr = in_fold++; /* the row's place among its fold's evaluated rows */
        if (f != SIZE_MAX && fold != f) continue;
        y[n] = rows->y[x->ev.idx[r] * O + k];
        lo[n] = x->folds[fold].lower[fr * O + k];
        up[n] = x->folds[fold].upper[fr * O + k];
        if (cycles) y[n] = pow(10.0, y[n]), lo[n] = pow(10.0, lo[n]), up[n] = pow(10.0, up[n]);
        n++;
    }
    double cov = NAN, width = NAN;
    size_t used = 0;
    if (o && bml_interval_coverage(y, lo, up, n, &cov, &width, &used) == BML_OK) {
        cJSON_AddNumberToObject(o, "n", (double)used);
        cJSON_AddNumberToObject(o, "coverage", cov);
        if (isfinite(width)) cJSON_AddNumberToObject(o, cycles ? "mean_width_cycles" : "mean_width", width);
        else cJSON_AddStringToObject(o, cycles ? "mean_width_cycles" : "mean_width", "inf"); /* too few cells for this alpha */
    }
    free(y), free(lo), free(up);
    return o;
}

/* metrics.json's "intervals": per target, overall and per fold; and the log lines */
static bml_status interval_metrics(study *x) {
    if (!x->folds[0].lower) return BML_OK;
    const bml_samples *rows = x->rows;
    cJSON *iv = cJSON_AddObjectToObject(x->metrics, "intervals");
    if (!iv || !cJSON_AddStringToObject(iv, "method", x->plan.uq_name) || !cJSON_AddNumberToObject(iv, "alpha", x->plan.uq_alpha))
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < rows->n_targets; k++) {
        int cycles = !strcmp(rows->target_names[k], "log10_cycle_life");
        cJSON *t = cJSON_AddObjectToObject(iv, rows->target_names[k]);
        cJSON *all = interval_block(x, k, SIZE_MAX, cycles), *per = t ? cJSON_AddObjectToObject(t, "folds") : NULL;
        if (!t || !all || !cJSON_AddItemToObject(t, "overall", all) || !per) return cJSON_Delete(all), bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t f = 0; f < x->sp->n_folds; f++) {
            cJSON *b = interval_block(x, k, f, cycles);
            if (!b || !cJSON_AddItemToObject(per, x->sp->folds[f].name, b)) return cJSON_Delete(b), bml__fail(BML_ERR_NOMEM, "out of memory");
            cJSON *cov = cJSON_GetObjectItemCaseSensitive(b, "coverage"), *w = cJSON_GetObjectItemCaseSensitive(b, cycles ? "mean_width_cycles" : "mean_width");
            char wt[48] = "inf";
            if (w && cJSON_IsNumber(w)) snprintf(wt, sizeof wt, "%.4g", w->valuedouble);
            bml__say(x->opts, "      %-16s %s: %.0f%% intervals (%s) cover %.1f%%, mean width %s%s", x->sp->folds[f].name,
                     rows->target_names[k], 100 * (1 - x->plan.uq_alpha), x->plan.uq_name, cov ? 100 * cov->valuedouble : NAN, wt,
                     cycles ? " cycles" : "");
        }
    }
    return BML_OK;
}

/* 5. metrics over every fold's evaluation rows */
static bml_status stage_metrics(study *x) {
    const bml_samples *rows = x->rows;
    size_t n_eval = 0, O = rows->n_targets;
    for (size_t f = 0; f < x->sp->n_folds; f++) n_eval += x->folds[f].n_eval;
    bml__track_eval *ev = &x->ev;
    ev->n = n_eval;
    ev->idx = bml__calloc(n_eval, sizeof *ev->idx);
    ev->fold = bml__calloc(n_eval, sizeof *ev->fold);
    ev->pred = bml__calloc(n_eval * O, sizeof *ev->pred);
    if (!ev->idx || !ev->fold || !ev->pred) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0, r = 0; f < x->sp->n_folds; f++)
        for (size_t i = 0; i < x->folds[f].n_eval; i++, r++) {
            ev->idx[r] = x->folds[f].eval_idx[i];
            ev->fold[r] = f;
            memcpy(ev->pred + r * O, x->folds[f].pred + i * O, O * sizeof *ev->pred);
        }
    bml__say(x->opts, "[5/7] evaluate  %zu predictions", n_eval);
    if (!(x->metrics = bml__track_metrics(rows, ev, x->sp, x->plan.study, x->plan.n_study)))
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < O; k++) { /* overall metrics per target */
        double *yt = bml__calloc(n_eval, sizeof *yt), *yp = bml__calloc(n_eval, sizeof *yp);
        if (yt && yp) {
            for (size_t r = 0; r < n_eval; r++) {
                yt[r] = rows->y[ev->idx[r] * O + k];
                yp[r] = ev->pred[r * O + k];
            }
            bml_metrics m = bml_metrics_compute(yt, yp, n_eval, 1);
            log_metrics(x->opts, rows->target_names[k], &m);
        }
        free(yt);
        free(yp);
    }
    for (size_t k = 0; k < O; k++)
        if (!strcmp(rows->target_names[k], "log10_cycle_life")) cycle_life_metrics(x, k);
    return interval_metrics(x);
}

/* 6. what was explained */
static void log_explain(const study *x) {
    const bml__track_fold *f0 = &x->folds[0];
    size_t n_shap = 0;
    for (size_t f = 0; f < x->sp->n_folds; f++) n_shap += x->folds[f].shap ? x->folds[f].n_shap : 0;
    if (f0->shap)
        bml__say(x->opts, "[6/7] explain   %s values of %zu of %zu evaluated rows (explain.shap_max_samples=%zu) and feature importance",
                 strcmp(x->plan.model, "lgbm") ? "exact SHAP" : "TreeSHAP", n_shap, x->ev.n, x->ex.max_samples);
    else if (!x->ex.enabled && !x->s->seq_len)
        bml__say(x->opts, "[6/7] explain   skipped (explain.enabled=false): no SHAP values or feature importance");
    else
        bml__say(x->opts, "[6/7] explain   %s", f0->att && f0->lat ? "attention weights and latent trajectories per sequence"
                                                 : f0->att            ? "attention weights per sequence"
                                                 : f0->lat            ? "latent trajectories per sequence"
                                                                      : "no SHAP or attention for this model");
}

/* 7. the run directory */
static bml_status stage_write(study *x) {
    double t = bml__run_clock();
    BML__TRY(bml__check_cancel(x->opts, "before writing the run"));
    if (x->opts->write_run_dir) {
        double t_save = 0;
        char *pex = NULL;
        const char *pex_name = pipeline_extra(&x->plan, x->ds, x->s, &x->sp->folds[0], &pex);
        bml__track_extra extra[2];
        size_t n_extra = 0;
        if (pex_name) extra[n_extra++] = (bml__track_extra){pex_name, pex};
        if (x->lr_csv) extra[n_extra++] = (bml__track_extra){"lr_find.csv", x->lr_csv};
        bml_status st = bml__track_write_run(&x->plan.track, x->rows, x->s, x->sp, x->folds, x->metrics, extra, n_extra,
                                             &x->res->run_dir, &t_save);
        free(pex);
        x->res->t_backend += t_save; /* the model files are XGBoost's own serialisation */
        BML__TRY(st);
    }
    x->res->t_write = bml__run_clock() - t;
    return BML_OK;
}

/* the stage times into metrics.json's timing_s, and the result's copy of metrics.json */
static bml_status finish(study *x, double t_start) {
    bml_run_result *res = x->res;
    res->t_total = bml__run_clock() - t_start;
    cJSON *timing = cJSON_AddObjectToObject(x->metrics, "timing_s");
    cJSON_AddNumberToObject(timing, "load", res->t_load);
    cJSON_AddNumberToObject(timing, "pipeline", res->t_pipeline);
    cJSON_AddNumberToObject(timing, "fit", res->t_fit);
    cJSON_AddNumberToObject(timing, "predict", res->t_predict);
    cJSON_AddNumberToObject(timing, "explain", res->t_explain);
    res->metrics_json = cJSON_Print(x->metrics);
    if (res->run_dir) bml__say(x->opts, "[7/7] track     run written to %s in %.1f ms", res->run_dir, 1e3 * res->t_write);
    else bml__say(x->opts, "[7/7] track     (no run directory written)");
    bml__say(x->opts, "done in %.1f ms", 1e3 * res->t_total);
    return BML_OK;
}

bml_status bml_run_experiment(const bml_config *cfg, const bml_run_opts *opts, bml_run_result **out) {
    return bml_run_experiment_exec(cfg, opts, NULL, out);
}

bml_status bml_run_experiment_exec(const bml_config *cfg, const bml_run_opts *opts, const bml_fold_executor *exec,
                                   bml_run_result **out) {
    *out = NULL;
    if (!opts) return bml__fail(BML_ERR_VALUE, "bml_run_experiment: opts must not be NULL");
    BML__TRY(bml__run_opts_check(opts));
    double t_start = bml__run_clock();
    study x;
    memset(&x, 0, sizeof x);
    x.opts = opts;
    x.res = calloc(1, sizeof *x.res);
    if (!x.res) return bml__fail(BML_ERR_NOMEM, "out of memory");
    /* every key of the configuration, typed and checked, before any work */
    bml_status st = bml__study_resolve(cfg, &x.plan);
    x.ex = (bml__explain_opts){x.plan.explain, x.plan.shap_max_samples, 0, 0};
    int assemble = 1;
    if (st == BML_OK) st = stage_load(&x);
    if (st == BML_OK) st = stage_pipeline(&x);
    if (st == BML_OK) st = stage_split(&x);
    if (st == BML_OK) st = stage_lr_auto(&x);
    if (st == BML_OK) st = stage_folds(&x, exec, &assemble);
    if (st == BML_OK && !assemble) { /* the folds this process fitted went to the one that writes the run */
        x.res->t_total = bml__run_clock() - t_start;
    } else {
        if (st == BML_OK) st = stage_metrics(&x);
        if (st == BML_OK) log_explain(&x);
        if (st == BML_OK) st = stage_write(&x);
        if (st == BML_OK) st = finish(&x, t_start);
    }
    if (st != BML_OK) {
        bml_run_result_free(x.res);
        x.res = NULL;
    }
    *out = x.res;
    study_release(&x);
    return st;
}

void bml_run_result_free(bml_run_result *r) {
    if (!r) return;
    free(r->run_dir);
    free(r->metrics_json);
    free(r);
}
