/* `batteryml predict`: a saved run's model on new cells. */
#define _POSIX_C_SOURCE 200809L /* lstat */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "core/json.h"
#include "explain/figures.h"
#include "run/runner.h"
#include "track/track.h"

bml_status bml_run_plot(const char *run_dir, int *n_figures) { return bml__figures_draw(run_dir, n_figures); }
bml_status bml_run_plot_noting(const char *run_dir, int *n_figures, char **skipped) {
    return bml__figures_draw_noting(run_dir, n_figures, skipped);
}

/* preprocess.json is sealed by the run writer (bml__json_write_sealed): a changed bit is refused here as in
 * every other saved model file */
static bml_status read_preprocess(const char *path, cJSON **doc) { return bml__json_read_sealed(path, doc); }

/* *n: the folders of run_dir/model holding a model.json (a LOCO run's models, one per fold) */
static bml_status count_fold_models(const char *run_dir, int *n) {
    *n = 0;
    char *dir = bml__path_join(run_dir, "model");
    if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        bml_status st = errno == ENOENT ? BML_OK : bml__fail(BML_ERR_IO, "%s: cannot read: %s", dir, strerror(errno));
        free(dir);
        return st;
    }
    struct dirent *e;
    bml_status st = BML_OK;
    while (st == BML_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *p = bml__sprintf("%s/%s/model.json", dir, e->d_name);
        if (!p) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (bml__is_file(p)) (*n)++;
        free(p);
    }
    closedir(d);
    free(dir);
    return st;
}

/* The saved model's folder: RUN/model (one model) or RUN/model/FOLD (a LOCO run's, --fold); *out malloc'ed. */
static bml_status model_dir_of(const char *run_dir, const char *fold, char **out) {
    *out = NULL;
    /* model/model.json: one model; absent, model/<fold>/model.json: a LOCO run's models */
    char *single = bml__path_join(run_dir, "model/model.json");
    if (!single) return bml__fail(BML_ERR_NOMEM, "out of memory");
    struct stat sb;
    int have = lstat(single, &sb) == 0, is_single = have && S_ISREG(sb.st_mode);
    bml_status st = BML_OK;
    if (have && !is_single) st = bml__fail(BML_ERR_IO, "%s: not a regular file: refused (a saved model is a plain file)", single);
    free(single);
    BML__TRY(st);
    if (!is_single && !fold) {
        int n_folds = 0;
        BML__TRY(count_fold_models(run_dir, &n_folds));
        if (n_folds)
            return bml__fail(BML_ERR_VALUE, "%s holds one model per fold (a LOCO run): choose one with --fold NAME (see %s/model/)",
                             run_dir, run_dir);
        return bml__fail(BML_ERR_NOT_FOUND, "%s/model/model.json: missing: the run holds no saved model (nor one per fold)", run_dir);
    }
    *out = is_single ? bml__path_join(run_dir, "model") : bml__sprintf("%s/model/%s", run_dir, fold);
    if (!*out) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!bml__is_dir(*out)) {
        st = bml__fail(BML_ERR_NOT_FOUND, "%s: no saved model there", *out);
        free(*out);
        *out = NULL;
    }
    return st;
}

/* the data's features are the model's, in its order */
static bml_status check_features(const bml_samples *s, const bml_model *m) {
    size_t F = s->n_features, O = s->n_targets;
    if (F != bml_model_n_features(m) || O != bml_model_n_targets(m))
        return bml__fail(BML_ERR_VALUE, "the data gives %zu features/%zu targets, the model expects %zu/%zu", F, O,
                         bml_model_n_features(m), bml_model_n_targets(m));
    for (size_t j = 0; j < F; j++)
        if (strcmp(s->feature_names[j], bml_model_feature_name(m, j)) != 0)
            return bml__fail(BML_ERR_VALUE, "feature %zu is '%s' in the data but '%s' in the model", j, s->feature_names[j],
                             bml_model_feature_name(m, j));
    return BML_OK;
}

/* The model's predictions on s (raw samples: the run's preprocessing of model_dir/preprocess.json applied to a
 * copy's features in place), *pred (s->n * T, O) malloc'ed. */
static bml_status predict_samples(const bml_model *m, const char *model_dir, bml_samples *s, double **pred) {
    *pred = NULL;
    size_t F = s->n_features, O = s->n_targets, T = s->seq_len ? s->seq_len : 1;
    char *pre_path = bml__path_join(model_dir, "preprocess.json");
    cJSON *pre_j = NULL;
    bml__preprocess pre = {0};
    bml_status st = pre_path ? read_preprocess(pre_path, &pre_j) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__preprocess_parse(pre_j, F, pre_path, &pre);
    if (st == BML_OK && !(*pred = bml__calloc(s->n * T * O + 1, sizeof **pred))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) {
        /* preprocess the samples in place (they are ours), padded steps back to 0 */
        bml__preprocess_apply(&pre, s->x, s->n * T, F);
        for (size_t r = 0; s->seq_len && r < s->n * T; r++)
            if (s->mask[r] == 0) memset(s->x + r * F, 0, F * sizeof *s->x);
        st = bml_model_predict_samples(m, s, *pred);
    }
    if (st != BML_OK) free(*pred), *pred = NULL;
    bml__preprocess_release(&pre);
    cJSON_Delete(pre_j);
    free(pre_path);
    return st;
}

/* A run made with uncertainty=cv_plus|jackknife_plus saved its CV+ beside each fold's model (model_dir/uncertainty,
 * bml_cvplus_save): loaded into *cv, each group model checked against the data's features. */
static bml_status load_intervals(const bml__study *plan, const char *model_dir, const bml_samples *s, bml_cvplus **cv) {
    *cv = NULL;
    char *u = bml__path_join(model_dir, "uncertainty");
    bml_status st = u ? bml_cvplus_load(u, cv) : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; st == BML_OK && k < bml_cvplus_n_groups(*cv); k++)
        if ((st = check_features(s, bml_cvplus_model(*cv, k))) != BML_OK)
            bml__fail_prefix(st, "%s/group_%zu", u, k);
    if (st != BML_OK) {
        bml__fail_prefix(st, "the run made intervals (uncertainty=%s)", plan->uq_name);
        bml_cvplus_free(*cv);
        *cv = NULL;
    }
    free(u);
    return st;
}

/* Cycle-life data (data=qdlin): per predicted row its cell's file as the index names it (or its file name in a
 * folder without one) and its cycle life (NaN: unknown), for bml_run_predict's one-row-per-cell file. */
typedef struct {
    int on;      /* the data are cycle-life data with one target, cycle_life or log10_cycle_life */
    int log10;   /* the target is log10_cycle_life: the model's scale is log10 cycles */
    char **file; /* (n) */
    double *life;
    size_t n;
} cl_rows;

static void cl_rows_release(cl_rows *c) {
    for (size_t i = 0; c->file && i < c->n; i++) free(c->file[i]);
    free(c->file);
    free(c->life);
    memset(c, 0, sizeof *c);
}

/* each flat row's cell in ds (row i is cell i for delta_q; found by id otherwise) */
static bml_status cl_rows_fill(const bml_dataset *ds, const bml_samples *flat, cl_rows *c) {
    c->n = flat->n;
    c->file = bml__calloc(flat->n + 1, sizeof *c->file);
    c->life = bml__calloc(flat->n + 1, sizeof *c->life);
    if (!c->file || !c->life) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t nc = bml_dataset_n_cells(ds);
    for (size_t r = 0; r < flat->n; r++) {
        size_t i = r;
        bml_cell_view v;
        if (i < nc) bml_dataset_cell(ds, i, &v);
        if (i >= nc || strcmp(v.cell_id, flat->meta[r].cell) != 0)
            for (i = 0; i < nc; i++) {
                bml_dataset_cell(ds, i, &v);
                if (!strcmp(v.cell_id, flat->meta[r].cell)) break;
            }
        if (i == nc) return bml__fail(BML_ERR_VALUE, "predicted row %zu: cell '%s' is not in the data", r + 1, flat->meta[r].cell);
        if (!(c->file[r] = bml__strdup(bml_dataset_cell_file(ds, i)))) return bml__fail(BML_ERR_NOMEM, "out of memory");
        c->life[r] = bml_dataset_cell_life(ds, i);
    }
    return BML_OK;
}

/* What bml_run_predict and bml_run_predict_rows share: the saved model's predictions on the data, as the
 * flat per-step rows (*flat), their predictions (*pred, (flat->n, O)), the intervals when the run made them
 * (*lower, *upper, (flat->n, O), from the CV+ saved with the model; else NULL; lower may be NULL when not wanted),
 * the metrics when every target is present (*metrics_json, else NULL), and for the log line the number of samples
 * and cells and the model's folder (*model_dir_out). On failure every output is NULL. */
static bml_status predict_rows(const char *run_dir, const char *data_path, const char *fold, bml_samples **flat_out,
                               double **pred_out, double **lower_out, double **upper_out, char **metrics_json,
                               size_t *n_samples, size_t *n_cells, char **model_dir_out, cl_rows *cl) {
    *flat_out = NULL;
    *pred_out = NULL;
    if (lower_out) *lower_out = *upper_out = NULL;
    *metrics_json = NULL;
    *model_dir_out = NULL;
    if (!bml__is_dir(run_dir)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such run directory", run_dir);
    char *cfg_path = bml__path_join(run_dir, "config.yaml"), *model_dir = NULL;
    bml_config *cfg = NULL;
    bml__study plan = {0};
    bml_dataset *ds = NULL;
    bml_samples *s = NULL, *flat = NULL;
    bml_model *m = NULL;
    bml_cvplus *cv = NULL;
    double *x = NULL, *pred = NULL, *lo = NULL, *up = NULL;
    size_t *idx = NULL;
    bml_status st = cfg_path ? bml_config_load_resolved(cfg_path, NULL, NULL, 0, &cfg) : bml__fail(BML_ERR_NOMEM, "out of memory");
    /* new cells may come from any experiment: the run's experiment filter does not apply */
    if (st == BML_OK) st = bml_config_set(cfg, "data.experiment", "all");
    if (st == BML_OK) st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = model_dir_of(run_dir, fold, &model_dir);
    if (st == BML_OK) st = bml_model_load(model_dir, &m);
    if (st == BML_OK) st = bml__study_load(&plan, NULL, data_path, 1, NULL, &ds);
    if (st == BML_OK) st = bml__study_samples(&plan, ds, 1, &s);
    if (st == BML_OK) st = check_features(s, m);
    if (st == BML_OK && lower_out && plan.uq == BML_CONFORMAL_CV_PLUS) st = load_intervals(&plan, model_dir, s, &cv);
    if (st == BML_OK) st = predict_samples(m, model_dir, s, &pred);
    if (st != BML_OK) goto done;
    size_t O = s->n_targets, T = s->seq_len ? s->seq_len : 1;
    /* per-step rows: the raw features and targets of the data, with the predictions of the unpadded steps */
    *n_samples = s->n;
    bml_samples_free(s);
    s = NULL;
    if ((st = bml__study_samples(&plan, ds, 1, &s)) != BML_OK) goto done;
    if ((st = bml_samples_flatten(s, &flat)) != BML_OK) goto done;
    x = bml__calloc(flat->n * O + 1, sizeof *x); /* predictions of the flat rows */
    idx = bml__calloc(flat->n + 1, sizeof *idx);
    if (!x || !idx) goto nomem;
    for (size_t i = 0, k = 0; i < s->n * T; i++) {
        if (s->seq_len && s->mask[i] == 0) continue;
        memcpy(x + k * O, pred + i * O, O * sizeof *x);
        idx[k] = k;
        k++;
    }
    if (cv) { /* the study's intervals: CV+ at the raw features of the rows (static samples: one row per sample) */
        lo = bml__calloc(flat->n * O + 1, sizeof *lo);
        up = bml__calloc(flat->n * O + 1, sizeof *up);
        if (!lo || !up) goto nomem;
        if ((st = bml_cvplus_interval(cv, flat->x, flat->n, plan.uq_alpha, lo, up)) != BML_OK) {
            bml__fail_prefix(st, "uncertainty=%s", plan.uq_name);
            goto done;
        }
    }
    int have_targets = 1, cyclelife = bml_dataset_is_qdlin(ds) && O == 1 && !s->seq_len &&
                                     (!strcmp(flat->target_names[0], "log10_cycle_life") || !strcmp(flat->target_names[0], "cycle_life"));
    for (size_t i = 0; i < flat->n * O; i++) have_targets &= isfinite(flat->y[i]) != 0;
    /* cycle-life data: the metrics over the cells whose life is known (new cells have none), in cycles too */
    size_t *known = NULL, n_known = 0;
    if (cyclelife) {
        if (!(known = bml__calloc(flat->n + 1, sizeof *known))) goto nomem;
        for (size_t r = 0; r < flat->n; r++)
            if (isfinite(flat->y[r])) known[n_known++] = r;
    }
    if (have_targets || n_known) {
        bml__track_eval ev = {flat->n, idx, NULL, x};
        cJSON *blk = bml__track_metrics_block(flat, &ev, known, n_known);
        if (blk && cyclelife && !strcmp(flat->target_names[0], "log10_cycle_life")) { /* 10^prediction against the life */
            double *yt = bml__calloc(n_known + 1, sizeof *yt), *yp = bml__calloc(n_known + 1, sizeof *yp);
            cJSON *o = yt && yp ? cJSON_AddObjectToObject(blk, "cycle_life") : NULL;
            if (o) {
                for (size_t r = 0; r < n_known; r++) yt[r] = pow(10.0, flat->y[known[r]]), yp[r] = pow(10.0, x[known[r]]);
                bml_metrics mc = bml_metrics_compute(yt, yp, n_known, 1);
                cJSON_AddNumberToObject(o, "n", (double)mc.n);
                cJSON_AddNumberToObject(o, "rmse", mc.rmse);
                cJSON_AddNumberToObject(o, "mape", mc.mape);
            } else cJSON_Delete(blk), blk = NULL;
            free(yt), free(yp);
        }
        if (blk) *metrics_json = cJSON_Print(blk);
        cJSON_Delete(blk);
        if (!*metrics_json) {
            free(known);
            goto nomem;
        }
    }
    free(known);
    if (cl && cyclelife) {
        cl->on = 1;
        cl->log10 = !strcmp(flat->target_names[0], "log10_cycle_life");
        if ((st = cl_rows_fill(ds, flat, cl)) != BML_OK) {
            free(*metrics_json);
            *metrics_json = NULL;
            goto done;
        }
    }
    *n_cells = bml_dataset_n_cells(ds);
    *flat_out = flat;
    *pred_out = x;
    if (lower_out) *lower_out = lo, *upper_out = up, lo = up = NULL;
    *model_dir_out = model_dir;
    flat = NULL;
    x = NULL;
    model_dir = NULL;
    goto done;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
done:
    free(x);
    free(pred);
    free(lo);
    free(up);
    free(idx);
    bml_model_free(m);
    bml_cvplus_free(cv);
    bml_samples_free(s);
    bml_samples_free(flat);
    bml_dataset_free(ds);
    bml__study_release(&plan);
    bml_config_free(cfg);
    free(model_dir);
    free(cfg_path);
    return st;
}

/* bml_run_predict_rows, and with lower (not NULL) bml_run_predict_intervals */
static bml_status predict_rows_logged(const char *run_dir, const char *data_path, const char *fold, const bml_run_opts *opts,
                                      bml_samples **rows, double **pred, double **lower, double **upper, char **metrics_json) {
    size_t n_samples = 0, n_cells = 0;
    char *model_dir = NULL;
    if (bml__run_opts_check(opts) != BML_OK) {
        if (rows) *rows = NULL;
        if (pred) *pred = NULL;
        if (lower) *lower = NULL;
        if (upper) *upper = NULL;
        if (metrics_json) *metrics_json = NULL;
        return BML_ERR_VALUE;
    }
    bml_status st = predict_rows(run_dir, data_path, fold, rows, pred, lower, upper, metrics_json, &n_samples, &n_cells,
                                 &model_dir, NULL);
    if (st == BML_OK && opts && opts->log) {
        char *line = bml__sprintf("predicted %zu samples (%zu rows) of %zu cells with %s", n_samples, (*rows)->n, n_cells,
                                  model_dir);
        if (line) opts->log(opts->log_user, line);
        free(line);
    }
    free(model_dir);
    return st;
}

bml_status bml_run_predict_rows(const char *run_dir, const char *data_path, const char *fold, const bml_run_opts *opts,
                                bml_samples **rows, double **pred, char **metrics_json) {
    return predict_rows_logged(run_dir, data_path, fold, opts, rows, pred, NULL, NULL, metrics_json);
}

bml_status bml_run_predict_intervals(const char *run_dir, const char *data_path, const char *fold, const bml_run_opts *opts,
                                     bml_samples **rows, double **pred, double **lower, double **upper, char **metrics_json) {
    if (!lower || !upper) {
        if (rows) *rows = NULL;
        if (pred) *pred = NULL;
        if (lower) *lower = NULL;
        if (upper) *upper = NULL;
        if (metrics_json) *metrics_json = NULL;
        return bml__fail(BML_ERR_VALUE, "bml_run_predict_intervals: lower and upper must not be NULL");
    }
    return predict_rows_logged(run_dir, data_path, fold, opts, rows, pred, lower, upper, metrics_json);
}

/* The predictions file of cycle-life data, one row per cell: file, cell, then the life in cycles (true_, pred_,
 * and the interval, lower_/upper_, when the run made intervals) and, for a log10 target, the model's own values
 * (true_/pred_/lower_/upper_log10_cycle_life, the study's predictions.csv numbers). In cycles: the index's life
 * as written, 10^ of the model's log10 prediction and of each end of its interval (CV+ on the model's scale,
 * both ends mapped by the inverse transform). An unknown life is an empty field. */
static bml_status write_cyclelife(const char *path, const bml_samples *flat, const double *pred, const double *lower,
                                  const double *upper, const cl_rows *cl) {
    bml__sb b = {0};
    static const char *const parts[4] = {"true_", "pred_", "lower_", "upper_"};
    int n_parts = lower ? 4 : 2;
    bml__sb_str(&b, "file,cell");
    for (int scale = 0; scale <= cl->log10; scale++)
        for (int k = 0; k < n_parts; k++) bml__sb_str(&b, ","), bml__sb_str(&b, parts[k]), bml__sb_str(&b, scale ? "log10_cycle_life" : "cycle_life");
    bml__sb_str(&b, "\n");
    for (size_t r = 0; r < flat->n; r++) {
        const double v[4] = {flat->y[r], pred[r], lower ? lower[r] : NAN, upper ? upper[r] : NAN};
        bml__sb_csv(&b, cl->file[r]);
        bml__sb_str(&b, ",");
        bml__sb_csv(&b, flat->meta[r].cell);
        for (int k = 0; k < n_parts; k++) {
            bml__sb_str(&b, ",");
            bml__sb_num(&b, k == 0 ? cl->life[r] : cl->log10 ? pow(10.0, v[k]) : v[k]);
        }
        for (int k = 0; cl->log10 && k < n_parts; k++) bml__sb_str(&b, ","), bml__sb_num(&b, v[k]);
        bml__sb_str(&b, "\n");
    }
    bml_status st = b.nomem ? bml__fail(BML_ERR_NOMEM, "out of memory") : bml__write_file_atomic(path, b.buf ? b.buf : "", b.len);
    free(b.buf);
    return st;
}

bml_status bml_run_predict(const char *run_dir, const char *data_path, const char *fold, const char *out_csv,
                           const bml_run_opts *opts, char **metrics_json) {
    if (bml__run_opts_check(opts) != BML_OK) {
        if (metrics_json) *metrics_json = NULL;
        return BML_ERR_VALUE;
    }
    size_t n_samples = 0, n_cells = 0;
    char *model_dir = NULL, *metrics = NULL;
    bml_samples *flat = NULL;
    double *pred = NULL, *lower = NULL, *upper = NULL;
    size_t *idx = NULL;
    *metrics_json = NULL;
    cl_rows cl = {0};
    bml_status st = predict_rows(run_dir, data_path, fold, &flat, &pred, &lower, &upper, &metrics, &n_samples, &n_cells,
                                 &model_dir, &cl);
    if (st != BML_OK) goto done;
    if (cl.on) {
        if ((st = write_cyclelife(out_csv, flat, pred, lower, upper, &cl)) != BML_OK) goto done;
    } else {
        idx = bml__calloc(flat->n + 1, sizeof *idx);
        if (!idx) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < flat->n; k++) idx[k] = k;
        if ((st = bml__track_write_predictions(out_csv, flat, idx, flat->n, pred, lower, upper, NULL, NULL, NULL)) != BML_OK) goto done;
    }
    if (opts && opts->log) {
        char *line = bml__sprintf("predicted %zu samples (%zu rows) of %zu cells with %s; written to %s", n_samples, flat->n,
                                  n_cells, model_dir, out_csv);
        if (line) opts->log(opts->log_user, line);
        free(line);
    }
    *metrics_json = metrics;
    metrics = NULL;
done:
    cl_rows_release(&cl);
    free(metrics);
    free(idx);
    free(pred);
    free(lower);
    free(upper);
    free(model_dir);
    bml_samples_free(flat);
    return st;
}
