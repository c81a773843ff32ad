/* One fold of a study: preprocessing fitted on its training rows, the model fitted, its evaluation rows
 * predicted and explained (SHAP values, importance, attention, latent trajectories). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "run/runner.h"
#include "splits/split_internal.h"

void bml__say(const bml_run_opts *o, const char *fmt, ...) {
    if (!o || !o->log) return;
    va_list ap;
    va_start(ap, fmt);
    char *buf = bml__vsprintf(fmt, ap);
    va_end(ap);
    if (!buf) return;
    o->log(o->log_user, buf); /* as long as it is: feature lists of wide tables are not cut */
    free(buf);
}

double bml__run_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Preprocessing of the model's inputs with statistics of the training split: mean imputation for
 * models that cannot take missing values, standardisation for those that want it. */
bml_status bml__preprocess_fit(const bml_model *m, const bml_samples *tr, bml__preprocess *pre) {
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
void bml__preprocess_samples(const bml__preprocess *pre, bml_samples *s) {
    size_t T = s->seq_len ? s->seq_len : 1, F = s->n_features;
    bml__preprocess_apply(pre, s->x, s->n * T, F);
    if (s->seq_len)
        for (size_t r = 0; r < s->n * T; r++)
            if (s->mask[r] == 0) memset(s->x + r * F, 0, F * sizeof *s->x);
}


/* The positions (in 0..n_eval-1) of this fold's rows among the study's strided subsample. */
static bml_status shap_rows_of(const bml__explain_opts *ex, size_t n_eval, size_t **rows, size_t *n) {
    size_t N = ex->n_total, m = ex->max_samples && ex->max_samples < N ? ex->max_samples : N;
    *n = 0;
    *rows = bml__calloc(n_eval + 1, sizeof **rows);
    if (!*rows) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < m; k++) {
        size_t g = k * (N / m) + k * (N % m) / m; /* floor(k * N / m) without overflowing k * N */
        if (g >= ex->offset && g < ex->offset + n_eval) (*rows)[(*n)++] = g - ex->offset;
    }
    return BML_OK;
}

void bml_run_opts_init(bml_run_opts *o) {
    bml_run_opts init = BML_RUN_OPTS_INIT;
    *o = init;
}

bml_status bml__run_opts_check(const bml_run_opts *o) {
    return BML__OPTS_CHECK(NULL, o, bml_run_opts, BML_RUN_OPTS);
}

/* BML_ERR_CANCELLED once the caller asked the study to stop (bml_run_opts.cancel) */
bml_status bml__check_cancel(const bml_run_opts *opts, const char *where) {
    if (opts && opts->cancel && __atomic_load_n(opts->cancel, __ATOMIC_RELAXED))
        return bml__fail(BML_ERR_CANCELLED, "study cancelled %s: nothing written", where);
    return BML_OK;
}

/* sequence models: the attention weights of the evaluated sequences and, for latent-ODE models, their latent
 * trajectories (a model without them: none) */
static bml_status explain_sequences(bml__track_fold *fo, const bml_samples *ev, const size_t *ev_idx, size_t n_ev_samples,
                                    size_t T) {
    bml_status st;
    fo->att = bml__calloc(n_ev_samples * T * T + 1, sizeof *fo->att);
    fo->att_idx = bml__calloc(n_ev_samples + 1, sizeof *fo->att_idx);
    if (!fo->att || !fo->att_idx) return bml__fail(BML_ERR_NOMEM, "out of memory");
    st = bml_model_attention(fo->model, ev, fo->att);
    if (st == BML_ERR_STATE) {
        free(fo->att);
        fo->att = NULL;
        st = BML_OK;
    } else if (st != BML_OK) {
        return st;
    }
    fo->n_att = n_ev_samples;
    memcpy(fo->att_idx, ev_idx, n_ev_samples * sizeof *ev_idx);
    if ((fo->lat_dim = bml_model_latent_dim(fo->model)) > 0) { /* latent trajectories */
        fo->lat = bml__calloc(n_ev_samples * T * fo->lat_dim + 1, sizeof *fo->lat);
        if (!fo->lat) return bml__fail(BML_ERR_NOMEM, "out of memory");
        if ((st = bml_model_latent(fo->model, ev, fo->lat)) != BML_OK) return st;
    }
    return BML_OK;
}

/* static samples: SHAP values of the fold's share of the study's subsample, and the model's own importance */
static bml_status explain_static(bml__track_fold *fo, const bml_samples *ev, const bml__explain_opts *ex, size_t F, size_t O) {
    bml_status st = BML_OK;
    double *xs = NULL;
    if (ex->enabled) {
        if ((st = shap_rows_of(ex, fo->n_eval, &fo->shap_rows, &fo->n_shap)) != BML_OK) return st;
        fo->shap = bml__calloc(fo->n_shap * O * (F + 1) + 1, sizeof *fo->shap);
        fo->imp = bml__calloc(3 * O * F, sizeof *fo->imp);
        xs = bml__calloc(fo->n_shap * F + 1, sizeof *xs);
        if (!fo->shap || !fo->imp || !xs) {
            free(xs);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        for (size_t r = 0; r < fo->n_shap; r++) /* static samples: evaluated row i is ev's sample i */
            memcpy(xs + r * F, ev->x + fo->shap_rows[r] * F, F * sizeof *xs);
        st = bml_model_shap(fo->model, xs, fo->n_shap, fo->shap); /* BML_ERR_STATE also when n_shap = 0 */
        free(xs);
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
    return st;
}

/* Prediction intervals (uncertainty=cv_plus|jackknife_plus): CV+ over the fold's training cells — the plan's model
 * refitted without each group of them (bml_cvplus_fit: from the raw training rows tr, preprocessing refitted per
 * group) — at the fold's raw evaluated samples ev, into fo->lower/upper (n_eval, O). Static samples only. */
static bml_status fold_intervals(const bml__study *plan, const bml_samples *tr, const bml_samples *ev, uint64_t seed,
                                 const bml_run_opts *opts, bml__track_fold *fo) {
    if (plan->uq != BML_CONFORMAL_CV_PLUS) return BML_OK;
    if (tr->seq_len)
        return bml__fail(BML_ERR_VALUE, "uncertainty=%s: intervals for static samples only (pipeline %s makes sequences)",
                         plan->uq_name, plan->pipeline);
    size_t O = tr->n_targets;
    bml_cvplus *cv = NULL;
    bml_status st = bml_cvplus_fit(plan->model, plan->model_kv, plan->n_model_kv, tr, seed, plan->uq_groups, opts->cancel, &cv);
    if (st == BML_OK) {
        fo->lower = bml__calloc(ev->n * O + 1, sizeof *fo->lower);
        fo->upper = bml__calloc(ev->n * O + 1, sizeof *fo->upper);
        st = fo->lower && fo->upper ? bml_cvplus_interval(cv, ev->x, ev->n, plan->uq_alpha, fo->lower, fo->upper)
                                    : bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    if (st != BML_OK) bml__fail_prefix(st, "uncertainty=%s", plan->uq_name);
    if (st == BML_OK) fo->cv = cv; /* saved with the fold's model: `predict` gives the same intervals */
    else bml_cvplus_free(cv);
    return st;
}

bml_status bml__run_fold(const bml__study *plan, const bml_samples *all, const size_t *flat_of, bml_fold *fold,
                           uint64_t seed, const bml__explain_opts *ex, const bml_run_opts *opts, bml__track_fold *fo,
                           bml_run_result *res) {
    memset(fo, 0, sizeof *fo);
    fo->fold = fold;
    size_t n_ev_samples;
    const size_t *ev_idx = bml_fold_eval(fold, &n_ev_samples);
    fo->eval_is_test = fold->n_test > 0;
    BML__TRY(bml__check_cancel(opts, "before a fold"));
    BML__TRY(bml__study_create_model(plan, NULL, 0, &fo->model));
    bml_model_set_epoch_callback(fo->model, opts->progress, opts->progress_user);
    bml_model_set_cancel(fo->model, opts->cancel);
    bml_status st;
    bml_samples *tr = NULL, *va = NULL, *ev = NULL;
    double *yp = NULL;
    size_t F = all->n_features, O = all->n_targets, T = all->seq_len ? all->seq_len : 1;
    if ((st = bml_samples_subset(all, fold->train, fold->n_train, &tr)) != BML_OK) goto done;
    { /* early stopping on the validation samples whose targets are known (a split also validates on cells
       * whose life is not known yet, to predict them) */
        size_t *kv = bml__calloc(fold->n_val + 1, sizeof *kv), nk = 0;
        if (!kv) goto nomem;
        for (size_t i = 0; i < fold->n_val; i++)
            if (bml__split_target_known(all, fold->val[i])) kv[nk++] = fold->val[i];
        st = bml_samples_subset(all, kv, nk, &va);
        free(kv);
        if (st != BML_OK) goto done;
    }
    if ((st = bml_samples_subset(all, ev_idx, n_ev_samples, &ev)) != BML_OK) goto done;
    double tu = bml__run_clock(); /* the intervals' models, from the raw rows (before the preprocessing below) */
    if ((st = fold_intervals(plan, tr, ev, seed, opts, fo)) != BML_OK) goto done;
    tu = bml__run_clock() - tu;
    res->t_fit += tu;
    res->t_backend += tu;
    if ((st = bml__preprocess_fit(fo->model, tr, &fo->pre)) != BML_OK) goto done;
    bml__preprocess_samples(&fo->pre, tr);
    bml__preprocess_samples(&fo->pre, va);
    bml__preprocess_samples(&fo->pre, ev);

    double t0 = bml__run_clock();
    st = bml_model_fit(fo->model, tr, va, seed);
    double t1 = bml__run_clock();
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
    double t2 = bml__run_clock();
    res->t_predict += t2 - t1;
    res->t_backend += t2 - t1;
    st = all->seq_len ? explain_sequences(fo, ev, ev_idx, n_ev_samples, T) : explain_static(fo, ev, ex, F, O);
    double t3 = bml__run_clock();
    res->t_explain += t3 - t2;
    res->t_backend += t3 - t2;
    if (st != BML_OK) goto done;
    {
        char *info = bml_model_fit_info_json(fo->model);
        bml__say(opts, "      fold %-10s train %3zu  val %3zu  %s %3zu  fit %.1f ms  %s", fold->name, fold->n_train, fold->n_val,
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
