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
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "data/dataset_internal.h"
#include "pipelines/pipeline_internal.h"
#include "run/study.h"
#include "splits/split_internal.h"
#include "track/track.h"
#include "nn/trainer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void say(const bml_run_opts *o, const char *fmt, ...) BML__PRINTF(2, 3);
static void say(const bml_run_opts *o, const char *fmt, ...) {
    if (!o || !o->log) return;
    va_list ap;
    va_start(ap, fmt);
    char *buf = bml__vsprintf(fmt, ap);
    va_end(ap);
    if (!buf) return;
    o->log(o->log_user, buf); /* as long as it is: feature lists of wide tables are not cut */
    free(buf);
}

/* The plan's split of s; split=predefined on data that name each cell's set (data=qdlin) takes the sets from ds. */
static bml_status make_split(const bml__study *plan, const bml_dataset *ds, const bml_samples *s, bml_split **sp) {
    if (strcmp(plan->split, "predefined") || !bml_dataset_is_qdlin(ds))
        return bml_split_create(plan->split, plan->split_kv, plan->n_split_kv, s, plan->seed, sp);
    const char **set_of = bml__calloc(s->n ? s->n : 1, sizeof *set_of);
    if (!set_of) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n; i++) { /* the set of the sample's cell */
        set_of[i] = "";
        for (size_t c = 0; c < bml_dataset_n_cells(ds); c++) {
            bml_cell_view cv;
            bml_dataset_cell(ds, c, &cv);
            if (!strcmp(cv.cell_id, s->meta[i].cell)) set_of[i] = bml_dataset_cell_split(ds, c);
        }
    }
    bml_status st = bml__split_predefined(plan->split_kv, plan->n_split_kv, s, set_of, sp);
    free(set_of);
    return st;
}

bml_status bml_run_load_data(const bml_config *cfg, const char *base_dir, const char *path_override, int targets_optional,
                             bml_dataset **out) {
    *out = NULL;
    bml__study plan;
    bml_status st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = bml__study_load(&plan, base_dir, path_override, targets_optional, out);
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
    double *shap;      /* (n_shap, O, F + 1) or NULL */
    size_t n_shap;     /* evaluated rows explained (the explain.shap_max_samples subsample) */
    size_t *shap_rows; /* (n_shap) positions in 0..n_eval-1 of those rows, increasing */
    double *imp;       /* (3, O, F): gain, total_gain, split; or NULL */
    size_t n_att;      /* sequence models: evaluated samples with attention weights */
    size_t *att_idx;   /* (n_att) sample indices */
    double *att;       /* (n_att, T, T) head-averaged attention, or NULL */
    size_t lat_dim;    /* latent-ODE models: latent size, 0 otherwise */
    double *lat;       /* (n_att, T, lat_dim) latent trajectories of the evaluated samples, or NULL */
    /* a fold fitted in another process (model == NULL): what its model gave */
    char *history_csv, *fit_info;   /* or NULL */
    bml__track_file *files;         /* (n_files) the saved model's files */
    size_t n_files;
} fold_out;

static void fold_out_release(fold_out *f) {
    bml_model_free(f->model);
    bml__track_preprocess_release(&f->pre);
    free(f->eval_idx);
    free(f->pred);
    free(f->shap);
    free(f->shap_rows);
    free(f->imp);
    free(f->att_idx);
    free(f->att);
    free(f->lat);
    free(f->history_csv);
    free(f->fit_info);
    for (size_t i = 0; i < f->n_files; i++) free(f->files[i].name), free(f->files[i].data);
    free(f->files);
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

/* ------------------------------------------------------------------ explain settings */
/* explain.enabled (default true): TreeSHAP values and feature importance of tree models.
 * explain.shap_max_samples (default 2000, 0 = all): SHAP values for at most this many evaluated rows of
 * the whole study: rows floor(k * N / m), k = 0..m-1, of the N evaluated rows in fold order (the same
 * rows at every run and thread count). */
typedef struct {
    int enabled;
    size_t max_samples; /* m (0: all) */
    size_t n_total;     /* N: evaluated rows of every fold */
    size_t offset;      /* evaluated rows of the folds before this one */
} explain_opts;

/* The positions (in 0..n_eval-1) of this fold's rows among the study's strided subsample. */
static bml_status shap_rows_of(const explain_opts *ex, size_t n_eval, size_t **rows, size_t *n) {
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

/* BML_ERR_CANCELLED once the caller asked the study to stop (bml_run_opts.cancel) */
static bml_status check_cancel(const bml_run_opts *opts, const char *where) {
    if (opts && opts->cancel && __atomic_load_n(opts->cancel, __ATOMIC_RELAXED))
        return bml__fail(BML_ERR_CANCELLED, "study cancelled %s: nothing written", where);
    return BML_OK;
}

static bml_status run_fold(const bml__study *plan, const bml_samples *all, const size_t *flat_of, bml_fold *fold,
                           uint64_t seed, const explain_opts *ex, const bml_run_opts *opts, fold_out *fo,
                           bml_run_result *res) {
    memset(fo, 0, sizeof *fo);
    fo->fold = fold;
    size_t n_ev_samples;
    const size_t *ev_idx = bml_fold_eval(fold, &n_ev_samples);
    fo->eval_is_test = fold->n_test > 0;
    BML__TRY(check_cancel(opts, "before a fold"));
    BML__TRY(bml__study_create_model(plan, NULL, 0, &fo->model));
    bml_model_set_epoch_callback(fo->model, opts->progress, opts->progress_user);
    bml_model_set_cancel(fo->model, opts->cancel);
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
        /* SHAP values of the fold's share of the subsample, and the models' own importance */
        double *xs = NULL;
        if (ex->enabled) {
            if ((st = shap_rows_of(ex, fo->n_eval, &fo->shap_rows, &fo->n_shap)) != BML_OK) goto done;
            fo->shap = bml__calloc(fo->n_shap * O * (F + 1) + 1, sizeof *fo->shap);
            fo->imp = bml__calloc(3 * O * F, sizeof *fo->imp);
            xs = bml__calloc(fo->n_shap * F + 1, sizeof *xs);
            if (!fo->shap || !fo->imp || !xs) {
                free(xs);
                goto nomem;
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

/* ------------------------------------------------------------------ the folds, in parallel */
/* Folds are independent: each its own model, seed and data. With opts->jobs > 1 they run on that many
 * threads (each backend limited to cores / threads), every fold's log lines kept and printed in fold order
 * afterwards, so the output and the numbers are those of the folds run one after another. */
typedef struct {
    const bml__study *plan;
    const bml_samples *s;
    const size_t *flat_of;
    const bml_split *sp;
    uint64_t seed;
    const explain_opts *ex; /* (n_folds) */
    const bml_run_opts *opts;
    fold_out *folds;
    bml_run_result *times; /* (n_folds) each fold's stage times */
    bml_status *status;    /* (n_folds) */
    char **error, **log;   /* (n_folds) the failing fold's message, the lines it logged */
    size_t next;
    int threads;
    pthread_mutex_t mu;
} fold_pool;

typedef struct {
    fold_pool *pool;
    size_t fold;
} fold_log_ctx;

/* a fold's log line, kept for later */
static void keep_line(void *user, const char *line) {
    fold_log_ctx *c = user;
    char **log = &c->pool->log[c->fold];
    char *joined = *log ? bml__sprintf("%s\n%s", *log, line) : bml__strdup(line);
    if (joined) free(*log), *log = joined;
}

static void *fold_worker(void *arg) {
    fold_pool *p = arg;
    bml_parallel_set_thread_local(p->threads);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t f = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (f >= p->sp->n_folds) break;
        fold_log_ctx lc = {p, f};
        bml_run_opts o = *p->opts;
        o.log = p->opts->log ? keep_line : NULL;
        o.log_user = &lc;
        o.progress = NULL; /* one progress line cannot show several folds */
        p->status[f] = run_fold(p->plan, p->s, p->flat_of, &p->sp->folds[f], p->seed, &p->ex[f], &o, &p->folds[f], &p->times[f]);
        if (p->status[f] != BML_OK) p->error[f] = bml__strdup(bml_last_error());
    }
    return NULL;
}

static bml_status run_folds_with(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                                 uint64_t seed, const explain_opts *fex, const bml_run_opts *opts, fold_out *folds,
                                 bml_run_result *res);

static bml_status run_folds_exec(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                                 uint64_t seed, const explain_opts *fex, const bml_run_opts *opts, fold_out *folds,
                                 bml_run_result *res, const bml_fold_executor *exec, int *assemble);

/* The folds on threads, or through exec when given (*assemble: whether this process writes the run) */
static bml_status run_folds(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                            uint64_t seed, const explain_opts *ex, const bml_run_opts *opts, fold_out *folds,
                            bml_run_result *res, const bml_fold_executor *exec, int *assemble) {
    *assemble = 1;
    size_t F = sp->n_folds;
    /* each fold's place in the study's evaluated rows (the SHAP subsample), known before any fold runs */
    explain_opts *fex = bml__calloc(F, sizeof *fex);
    if (!fex) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0, off = 0; f < F; f++) {
        size_t ne;
        bml_fold_eval(&sp->folds[f], &ne);
        fex[f] = *ex;
        fex[f].offset = off;
        off += ne;
    }
    bml_status st = exec ? run_folds_exec(plan, s, flat_of, sp, seed, fex, opts, folds, res, exec, assemble)
                         : run_folds_with(plan, s, flat_of, sp, seed, fex, opts, folds, res);
    free(fex);
    return st;
}

/* A fold fitted elsewhere (another thread or process), taken in fold order: its log lines (NUL-separated in place:
 * `log` is the fold's own, newline-joined) to opts->log, its stage times added to res. */
static void fold_replay(const bml_run_opts *opts, char *log, const bml_run_result *t, bml_run_result *res) {
    if (log && opts->log) {
        char *line = log;
        for (char *nl; (nl = strchr(line, '\n')); line = nl + 1) {
            *nl = 0;
            opts->log(opts->log_user, line);
        }
        opts->log(opts->log_user, line);
    }
    res->t_fit += t->t_fit, res->t_predict += t->t_predict;
    res->t_explain += t->t_explain, res->t_backend += t->t_backend;
}

static bml_status run_folds_with(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                                 uint64_t seed, const explain_opts *fex, const bml_run_opts *opts, fold_out *folds,
                                 bml_run_result *res) {
    size_t F = sp->n_folds;
    long jobs = plan->jobs;
    int workers = jobs == 0 ? bml_parallel_cores() : (int)jobs;
    if ((size_t)workers > F) workers = (int)F;
    if (workers <= 1) {
        for (size_t f = 0; f < F; f++) {
            bml_status st = run_fold(plan, s, flat_of, &sp->folds[f], seed, &fex[f], opts, &folds[f], res);
            if (st != BML_OK) return bml__fail_prefix(st, "fold %s", sp->folds[f].name);
        }
        return BML_OK;
    }
    int cores = bml_parallel_cores();
    fold_pool p = {plan, s, flat_of, sp, seed, fex, opts, folds, bml__calloc(F, sizeof(bml_run_result)), bml__calloc(F, sizeof(bml_status)),
                   bml__calloc(F, sizeof(char *)), bml__calloc(F, sizeof(char *)), 0, cores / workers > 0 ? cores / workers : 1,
                   PTHREAD_MUTEX_INITIALIZER};
    pthread_t *th = bml__calloc((size_t)workers, sizeof *th);
    bml_status st = p.times && p.status && p.error && p.log && th ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    int started = 0;
    if (st == BML_OK) {
        for (; started < workers; started++)
            if (pthread_create(&th[started], NULL, fold_worker, &p) != 0) break;
        if (started == 0) st = bml__fail(BML_ERR_BACKEND, "cannot start threads for the folds");
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    }
    /* in fold order: the log lines, the stage times, the first failure */
    for (size_t f = 0; st == BML_OK && f < F; f++) {
        fold_replay(opts, p.log[f], &p.times[f], res);
        if (p.status[f] != BML_OK) {
            st = bml__fail(p.status[f], "fold %s: %s", sp->folds[f].name, p.error[f] ? p.error[f] : "failed");
        }
    }
    for (size_t f = 0; p.error && p.log && f < F; f++) free(p.error[f]), free(p.log[f]);
    free(p.times), free(p.status), free(p.error), free(p.log), free(th);
    return st;
}

/* ------------------------------------------------------------------ folds fitted in other processes */
/* A fold's result as bytes: the magic "BMLFOLD1", the sizes it was made for (features F, targets O, steps
 * T, flat rows), then every field of fold_out in order. Counts and indices are u64, reals raw doubles,
 * texts a u64 length and their bytes; an optional array is preceded by a u64 1 (present) or 0. */
static const char FOLD_MAGIC[8] = {'B', 'M', 'L', 'F', 'O', 'L', 'D', '1'};

/* written into the core's text builder (bml__sb: binary-safe, out of memory noted once); nothing for n == 0, where
 * p may be NULL */
static void w_put(bml__sb *b, const void *p, size_t n) {
    if (n) bml__sb_put(b, p, n);
}
static void w_u64(bml__sb *b, uint64_t v) { w_put(b, &v, sizeof v); }
static void w_sizes(bml__sb *b, const size_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) w_u64(b, v[i]);
}
static void w_reals(bml__sb *b, const double *v, size_t n) { w_put(b, v, n * sizeof *v); }
static void w_opt_reals(bml__sb *b, const double *v, size_t n) {
    w_u64(b, v != NULL);
    if (v) w_reals(b, v, n);
}
static void w_text(bml__sb *b, const char *t, size_t n) {
    w_u64(b, n);
    w_put(b, t, n);
}
static void w_opt_str(bml__sb *b, const char *t) {
    w_u64(b, t != NULL);
    if (t) w_text(b, t, strlen(t));
}

typedef struct {
    const char *p;
    size_t left;
    const char *bad; /* what was malformed first, or NULL */
} rbuf;

static void r_get(rbuf *b, void *out, size_t n, const char *what) {
    if (b->bad) return;
    if (n > b->left) {
        b->bad = what;
        return;
    }
    memcpy(out, b->p, n);
    b->p += n, b->left -= n;
}
static uint64_t r_u64(rbuf *b, const char *what) {
    uint64_t v = 0;
    r_get(b, &v, sizeof v, what);
    return v;
}
/* a 0/1 flag */
static int r_flag(rbuf *b, const char *what) {
    uint64_t v = r_u64(b, what);
    if (v > 1 && !b->bad) b->bad = what;
    return !b->bad && v == 1;
}
/* n items of `size` bytes each: NULL (b->bad set) when the bytes left cannot hold them */
static void *r_array(rbuf *b, uint64_t n, size_t size, const char *what) {
    if (b->bad) return NULL;
    if (n > b->left / size) {
        b->bad = what;
        return NULL;
    }
    void *a = bml__calloc((size_t)n + 1, size);
    if (!a) {
        b->bad = "out of memory";
        return NULL;
    }
    r_get(b, a, (size_t)n * size, what);
    return a;
}
/* n reals */
static double *r_reals(rbuf *b, uint64_t n, const char *what) { return r_array(b, n, sizeof(double), what); }
static double *r_opt_reals(rbuf *b, uint64_t n, const char *what) { return r_flag(b, what) ? r_reals(b, n, what) : NULL; }
/* n indices, each below bound */
static size_t *r_sizes(rbuf *b, uint64_t n, uint64_t bound, const char *what) {
    uint64_t *v = r_array(b, n, sizeof(uint64_t), what);
    if (!v) return NULL;
    size_t *out = bml__calloc((size_t)n + 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        if (v[i] >= bound) b->bad = what;
        out[i] = (size_t)v[i];
    }
    if (!out) b->bad = "out of memory";
    free(v);
    return out;
}
/* a text without NUL bytes (malloc'ed) */
static char *r_text(rbuf *b, size_t *len, const char *what) {
    uint64_t n = r_u64(b, what);
    char *t = r_array(b, n, 1, what);
    if (t && memchr(t, 0, (size_t)n)) b->bad = what;
    if (len) *len = (size_t)n;
    return t;
}
static char *r_opt_str(rbuf *b, const char *what) { return r_flag(b, what) ? r_text(b, NULL, what) : NULL; }

/* the files below root/rel (rel "" for root), sorted by name, appended to *files */
static bml_status read_tree(const char *root, const char *rel, bml__track_file **files, size_t *n, size_t *cap) {
    char *dir = *rel ? bml__path_join(root, rel) : bml__strdup(root);
    if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml__strvec names = {0};
    DIR *d = opendir(dir);
    bml_status st = d ? BML_OK : bml__fail(BML_ERR_IO, "%s: %s", dir, strerror(errno));
    for (struct dirent *e; st == BML_OK && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && bml__strvec_push(&names, e->d_name))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (d) closedir(d);
    if (st == BML_OK) qsort(names.items, names.n, sizeof *names.items, bml__strcmp_ptr);
    for (size_t i = 0; st == BML_OK && i < names.n; i++) {
        char *r = *rel ? bml__sprintf("%s/%s", rel, names.items[i]) : bml__strdup(names.items[i]);
        char *full = r ? bml__path_join(root, r) : NULL;
        if (!full) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (bml__is_dir(full)) st = read_tree(root, r, files, n, cap);
        else {
            if (*n == *cap) {
                size_t nc = 2 * *cap + 8;
                bml__track_file *nf = realloc(*files, nc * sizeof *nf);
                if (!nf) st = bml__fail(BML_ERR_NOMEM, "out of memory");
                else *files = nf, *cap = nc;
            }
            if (st == BML_OK) {
                bml__track_file *f = &(*files)[*n];
                memset(f, 0, sizeof *f);
                st = bml__read_file(full, &f->data, &f->len);
                if (st == BML_OK) f->name = r, r = NULL, (*n)++;
            }
        }
        free(r);
        free(full);
    }
    bml__strvec_free(&names);
    free(dir);
    return st;
}

/* the files bml_model_save writes for m, read back from a temporary folder */
static bml_status model_files(const bml_model *m, bml__track_file **files, size_t *n) {
    *files = NULL;
    *n = 0;
    const char *tmp = getenv("TMPDIR");
    char *root = bml__sprintf("%s/bml-fold-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!root) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!mkdtemp(root)) {
        bml_status st = bml__fail(BML_ERR_IO, "%s: cannot create a temporary folder for the fold's model: %s", root, strerror(errno));
        free(root);
        return st;
    }
    char *dir = bml__path_join(root, "model");
    size_t cap = 0;
    bml_status st = dir ? bml_model_save(m, dir) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = read_tree(dir, "", files, n, &cap);
    bml__rm_rf(root);
    free(dir);
    free(root);
    if (st != BML_OK) {
        for (size_t i = 0; i < *n; i++) free((*files)[i].name), free((*files)[i].data);
        free(*files);
        *files = NULL;
        *n = 0;
    }
    return st;
}

/* names ordered as paths: '/' before every other character, so that the files of folder "a/" follow "a" at once */
static int path_order(const void *a, const void *b) {
    const unsigned char *x = *(const unsigned char *const *)a, *y = *(const unsigned char *const *)b;
    for (; *x && *x == *y; x++, y++) {}
    int cx = *x == '/' ? 1 : *x, cy = *y == '/' ? 1 : *y;
    return (cx > cy) - (cx < cy);
}

/* The model files of a result from another process name files inside the fold's model folder: relative paths
 * of components that are not empty and do not start with '.' (no "..", no hidden files, no "a//b" or "a/"),
 * each file once, and no file that is also another file's folder ("a" beside "a/b"). */
static bml_status check_model_file_names(const bml__track_file *files, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *c = files[i].name;
        for (;;) {
            size_t l = strcspn(c, "/");
            if (l == 0 || c[0] == '.')
                return bml__fail(BML_ERR_PARSE, "malformed fold result: a model file's name '%s' is not a plain relative path",
                                 files[i].name);
            if (!c[l]) break;
            c += l + 1;
        }
    }
    const char **names = bml__calloc(n + 1, sizeof *names);
    if (!names) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) names[i] = files[i].name;
    qsort(names, n, sizeof *names, path_order);
    bml_status st = BML_OK;
    for (size_t i = 1; i < n && st == BML_OK; i++) {
        size_t l = strlen(names[i - 1]);
        if (!strcmp(names[i - 1], names[i]))
            st = bml__fail(BML_ERR_PARSE, "malformed fold result: the model file '%s' comes twice", names[i]);
        else if (!strncmp(names[i - 1], names[i], l) && names[i][l] == '/')
            st = bml__fail(BML_ERR_PARSE, "malformed fold result: '%s' is a model file and a folder of '%s'", names[i - 1], names[i]);
    }
    free(names);
    return st;
}

/* fold fo's result, its stage times t and its log lines as bytes */
static bml_status fold_pack(const fold_out *fo, const bml_samples *s, size_t n_flat, const bml_run_result *t, const char *log,
                            char **bytes, size_t *len) {
    size_t F = s->n_features, O = s->n_targets, T = s->seq_len ? s->seq_len : 1;
    bml__track_file *files = NULL;
    size_t n_files = 0;
    BML__TRY(model_files(fo->model, &files, &n_files));
    char *hist = bml_model_history_csv(fo->model), *info = bml_model_fit_info_json(fo->model);
    bml__sb b = {0};
    w_put(&b, FOLD_MAGIC, sizeof FOLD_MAGIC);
    w_u64(&b, F), w_u64(&b, O), w_u64(&b, T), w_u64(&b, n_flat);
    w_u64(&b, fo->n_eval);
    w_u64(&b, (uint64_t)fo->eval_is_test);
    w_sizes(&b, fo->eval_idx, fo->n_eval);
    w_reals(&b, fo->pred, fo->n_eval * O);
    w_u64(&b, fo->n_shap);
    w_u64(&b, fo->shap_rows != NULL);
    if (fo->shap_rows) w_sizes(&b, fo->shap_rows, fo->n_shap);
    w_opt_reals(&b, fo->shap, fo->n_shap * O * (F + 1));
    w_opt_reals(&b, fo->imp, 3 * O * F);
    w_u64(&b, fo->n_att);
    w_u64(&b, fo->att_idx != NULL);
    if (fo->att_idx) w_sizes(&b, fo->att_idx, fo->n_att);
    w_opt_reals(&b, fo->att, fo->n_att * T * T);
    w_u64(&b, fo->lat_dim);
    w_opt_reals(&b, fo->lat, fo->n_att * T * fo->lat_dim);
    w_opt_reals(&b, fo->pre.impute, F);
    w_opt_reals(&b, fo->pre.scaler.mean, F);
    w_opt_reals(&b, fo->pre.scaler.scale, F);
    double times[4] = {t->t_fit, t->t_predict, t->t_explain, t->t_backend};
    w_reals(&b, times, 4);
    w_opt_str(&b, log);
    w_opt_str(&b, hist);
    w_opt_str(&b, info);
    w_u64(&b, n_files);
    for (size_t i = 0; i < n_files; i++) {
        w_text(&b, files[i].name, strlen(files[i].name));
        w_text(&b, files[i].data, files[i].len);
    }
    free(hist);
    free(info);
    for (size_t i = 0; i < n_files; i++) free(files[i].name), free(files[i].data);
    free(files);
    if (b.nomem) {
        free(b.buf);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *bytes = b.buf;
    *len = b.len;
    return BML_OK;
}

/* bytes of fold_pack back into fo (model NULL), t and *log; every size and index checked against this
 * study's samples */
static bml_status fold_unpack(const char *bytes, size_t len, const bml_samples *s, size_t n_flat, fold_out *fo,
                              bml_run_result *t, char **log) {
    size_t F = s->n_features, O = s->n_targets, T = s->seq_len ? s->seq_len : 1;
    rbuf b = {bytes, len, NULL};
    char magic[sizeof FOLD_MAGIC] = {0};
    r_get(&b, magic, sizeof magic, "the header");
    if (!b.bad && memcmp(magic, FOLD_MAGIC, sizeof magic))
        return bml__fail(BML_ERR_PARSE, "the result is not a fold result of this version (expected %.8s)", FOLD_MAGIC);
    uint64_t sizes[4];
    for (int i = 0; i < 4; i++) sizes[i] = r_u64(&b, "the header");
    if (!b.bad && (sizes[0] != F || sizes[1] != O || sizes[2] != T || sizes[3] != n_flat))
        return bml__fail(BML_ERR_PARSE, "the result was made for %llu features, %llu targets, %llu steps and %llu rows; this study has "
                                        "%zu, %zu, %zu and %zu (a different configuration or data?)",
                         (unsigned long long)sizes[0], (unsigned long long)sizes[1], (unsigned long long)sizes[2],
                         (unsigned long long)sizes[3], F, O, T, n_flat);
    uint64_t n_eval = r_u64(&b, "the evaluated rows");
    if (!b.bad && n_eval > n_flat) b.bad = "the evaluated rows";
    fo->n_eval = (size_t)n_eval;
    fo->eval_is_test = r_flag(&b, "eval_is_test");
    fo->eval_idx = r_sizes(&b, n_eval, n_flat, "the evaluated rows");
    fo->pred = r_reals(&b, n_eval * O, "the predictions");
    uint64_t n_shap = r_u64(&b, "the SHAP rows");
    if (!b.bad && n_shap > n_eval) b.bad = "the SHAP rows";
    fo->n_shap = (size_t)n_shap;
    if (r_flag(&b, "the SHAP rows")) fo->shap_rows = r_sizes(&b, n_shap, n_eval, "the SHAP rows");
    for (size_t i = 1; fo->shap_rows && i < fo->n_shap && !b.bad; i++)
        if (fo->shap_rows[i] <= fo->shap_rows[i - 1]) b.bad = "the SHAP rows (not increasing)";
    if (!b.bad && !fo->shap_rows && n_shap) b.bad = "the SHAP rows";
    fo->shap = r_opt_reals(&b, n_shap * O * (F + 1), "the SHAP values");
    /* a run's writer reads SHAP values without rows as one per evaluated row: a fold always sends its rows */
    if (!b.bad && fo->shap && !fo->shap_rows) b.bad = "the SHAP values (without their rows)";
    fo->imp = r_opt_reals(&b, 3 * O * F, "the importance");
    uint64_t n_att = r_u64(&b, "the attention samples");
    if (!b.bad && n_att > s->n) b.bad = "the attention samples";
    fo->n_att = (size_t)n_att;
    if (r_flag(&b, "the attention samples")) fo->att_idx = r_sizes(&b, n_att, s->n, "the attention samples");
    if (!b.bad && !fo->att_idx && n_att) b.bad = "the attention samples";
    fo->att = r_opt_reals(&b, n_att * T * T, "the attention weights");
    /* the latent size heads latent.csv's columns even without samples: bounded by the bytes left then too */
    uint64_t lat_dim = r_u64(&b, "the latent size");
    if (!b.bad && lat_dim > b.left / sizeof(double) / (n_att ? n_att * T : 1)) b.bad = "the latent size";
    fo->lat_dim = (size_t)lat_dim;
    fo->lat = r_opt_reals(&b, n_att * T * lat_dim, "the latent trajectories");
    if (!b.bad && !fo->lat != !lat_dim) b.bad = "the latent trajectories (present exactly when the latent size is not 0)";
    fo->pre.impute = r_opt_reals(&b, F, "the imputation means");
    fo->pre.scaler.mean = r_opt_reals(&b, F, "the scaler");
    fo->pre.scaler.scale = r_opt_reals(&b, F, "the scaler");
    if (!b.bad && !fo->pre.scaler.mean != !fo->pre.scaler.scale) b.bad = "the scaler";
    fo->pre.scaler.n_features = fo->pre.scaler.mean ? F : 0;
    double times[4] = {0};
    r_get(&b, times, sizeof times, "the stage times");
    t->t_fit = times[0], t->t_predict = times[1], t->t_explain = times[2], t->t_backend = times[3];
    *log = r_opt_str(&b, "the log lines");
    fo->history_csv = r_opt_str(&b, "the history");
    fo->fit_info = r_opt_str(&b, "the fit information");
    uint64_t n_files = r_u64(&b, "the model's files");
    if (!b.bad && (n_files == 0 || n_files > b.left / 16)) b.bad = "the model's files";
    if (!b.bad && !(fo->files = bml__calloc((size_t)n_files, sizeof *fo->files))) b.bad = "out of memory";
    for (size_t i = 0; !b.bad && i < n_files; i++) {
        bml__track_file *f = &fo->files[i];
        fo->n_files++;
        f->name = r_text(&b, NULL, "a model file's name");
        uint64_t fl = r_u64(&b, "a model file");
        f->data = r_array(&b, fl, 1, "a model file");
        f->len = (size_t)fl;
    }
    if (!b.bad && b.left) b.bad = "bytes after the end";
    if (b.bad) return bml__fail(!strcmp(b.bad, "out of memory") ? BML_ERR_NOMEM : BML_ERR_PARSE, "malformed fold result: %s", b.bad);
    return check_model_file_names(fo->files, fo->n_files);
}

struct bml_fold_job {
    const bml__study *plan;
    const bml_samples *s;
    const size_t *flat_of;
    size_t n_flat;          /* rows of the flat samples */
    const bml_split *sp;
    uint64_t seed;
    const explain_opts *fex; /* (n_folds) */
    const bml_run_opts *opts;
    fold_out *folds;         /* (n_folds) filled by accept */
    bml_run_result *times;   /* (n_folds) */
    char **log, **error;     /* (n_folds) */
    unsigned char *state;    /* (n_folds) 0: nothing yet, 1: accepted, 2: failed */
    pthread_mutex_t mu;
    size_t lat_dim;          /* the latent size of the results accepted so far (0: none yet) */
};

size_t bml_fold_job_n_folds(const bml_fold_job *job) { return job->sp->n_folds; }

const char *bml_fold_job_fold_name(const bml_fold_job *job, size_t f) {
    return f < job->sp->n_folds ? job->sp->folds[f].name : NULL;
}

/* a log line appended to the text *user */
static void append_line(void *user, const char *line) {
    char **log = user;
    char *joined = *log ? bml__sprintf("%s\n%s", *log, line) : bml__strdup(line);
    if (joined) free(*log), *log = joined;
}

bml_status bml_fold_job_run(bml_fold_job *job, size_t f, char **bytes, size_t *len) {
    *bytes = NULL;
    *len = 0;
    if (f >= job->sp->n_folds) return bml__fail(BML_ERR_VALUE, "fold %zu: the study has %zu folds", f, job->sp->n_folds);
    char *log = NULL;
    bml_run_opts o = *job->opts;
    o.log = append_line; /* the lines go with the result: the process that writes the run prints them */
    o.log_user = &log;
    o.progress = NULL;
    fold_out fo;
    bml_run_result t = {0};
    bml_status st = run_fold(job->plan, job->s, job->flat_of, &job->sp->folds[f], job->seed, &job->fex[f], &o, &fo, &t);
    if (st == BML_OK) st = fold_pack(&fo, job->s, job->n_flat, &t, log, bytes, len);
    fold_out_release(&fo);
    free(log);
    return st;
}

/* claim fold f for a result or a failure: BML_OK once, an error the second time. A result's latent size (0: none)
 * must be the one of the results accepted before: one model gives every fold the same. */
static bml_status claim(bml_fold_job *job, size_t f, unsigned char state, size_t lat_dim) {
    if (f >= job->sp->n_folds) return bml__fail(BML_ERR_VALUE, "fold %zu: the study has %zu folds", f, job->sp->n_folds);
    pthread_mutex_lock(&job->mu);
    int taken = job->state[f] != 0, other = lat_dim && job->lat_dim && lat_dim != job->lat_dim;
    size_t had = job->lat_dim;
    if (!taken && !other) {
        job->state[f] = state;
        if (lat_dim) job->lat_dim = lat_dim;
    }
    pthread_mutex_unlock(&job->mu);
    if (taken) return bml__fail(BML_ERR_STATE, "fold %s: a second result", job->sp->folds[f].name);
    if (other)
        return bml__fail(BML_ERR_PARSE, "malformed fold result: fold %s has latent size %zu, the folds before it %zu",
                         job->sp->folds[f].name, lat_dim, had);
    return BML_OK;
}

bml_status bml_fold_job_accept(bml_fold_job *job, size_t f, const char *bytes, size_t len) {
    if (f >= job->sp->n_folds) return bml__fail(BML_ERR_VALUE, "fold %zu: the study has %zu folds", f, job->sp->n_folds);
    fold_out fo;
    memset(&fo, 0, sizeof fo);
    bml_run_result t = {0};
    char *log = NULL;
    bml_status st = fold_unpack(bytes, len, job->s, job->n_flat, &fo, &t, &log);
    if (st == BML_OK) st = claim(job, f, 1, fo.lat_dim);
    if (st != BML_OK) {
        fold_out_release(&fo);
        free(log);
        return st;
    }
    fo.fold = &job->sp->folds[f];
    job->folds[f] = fo;
    job->times[f] = t;
    job->log[f] = log;
    return BML_OK;
}

bml_status bml_fold_job_fail(bml_fold_job *job, size_t f, const char *message) {
    char *m = bml__strdup(message ? message : "failed");
    if (!m) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = claim(job, f, 2, 0);
    if (st != BML_OK) {
        free(m);
        return st;
    }
    job->error[f] = m;
    return BML_OK;
}

/* The folds through the executor: in fold order afterwards, as the threads' results, the log lines, the
 * stage times and the first failure. *assemble: whether this process writes the run. */
static bml_status run_folds_exec(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                                 uint64_t seed, const explain_opts *fex, const bml_run_opts *opts, fold_out *folds,
                                 bml_run_result *res, const bml_fold_executor *exec, int *assemble) {
    size_t F = sp->n_folds, T = s->seq_len ? s->seq_len : 1, n_flat = 0;
    for (size_t i = 0; i < s->n * T; i++) n_flat += flat_of[i] != (size_t)-1;
    bml_fold_job job = {plan, s, flat_of, n_flat, sp, seed, fex, opts, folds, bml__calloc(F, sizeof(bml_run_result)),
                        bml__calloc(F, sizeof(char *)), bml__calloc(F, sizeof(char *)), bml__calloc(F, 1), PTHREAD_MUTEX_INITIALIZER, 0};
    bml_status st = job.times && job.log && job.error && job.state ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    *assemble = 1;
    if (st == BML_OK) st = exec->run(exec->user, &job, assemble);
    /* in fold order: the log lines and stage times of the folds up to the first without a result */
    for (size_t f = 0; st == BML_OK && *assemble && f < F && job.state[f] == 1; f++) {
        fold_replay(opts, job.log[f], &job.times[f], res);
    }
    /* the first failed fold, else the first without a result */
    int failed = 0;
    for (size_t f = 0; job.state && f < F && !failed; f++)
        if (job.state[f] == 2) st = bml__fail(BML_ERR_BACKEND, "fold %s: %s", sp->folds[f].name, job.error[f]), failed = 1;
    for (size_t f = 0; st == BML_OK && *assemble && f < F; f++)
        if (job.state[f] == 0) st = bml__fail(BML_ERR_STATE, "fold %s: no result came back", sp->folds[f].name);
    for (size_t f = 0; job.log && job.error && f < F; f++) free(job.log[f]), free(job.error[f]);
    free(job.times), free(job.log), free(job.error), free(job.state);
    pthread_mutex_destroy(&job.mu);
    return st;
}

/* ------------------------------------------------------------------ learning-rate range test */

void bml_lr_find_result_free(bml_lr_find_result *r) {
    if (!r) return;
    free(r->lr);
    free(r->loss);
    free(r->batch_loss);
    free(r);
}

char *bml_lr_find_csv(const bml_lr_find_result *r) {
    size_t cap = 64 + 96 * (r->n + 1), len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    len += (size_t)snprintf(out + len, cap - len, "step,lr,smoothed_loss,batch_loss,suggested\n");
    for (size_t i = 0; i < r->n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%zu,%.9g,%.9g,%.9g,%d\n", i + 1, r->lr[i], r->loss[i], r->batch_loss[i],
                                r->lr[i] == r->suggestion);
    return out;
}

/* The range test on the training split of `fold`, from a fresh model of the configuration. */
static bml_status lr_find_on_fold(const bml__study *plan, const bml_samples *all, const bml_fold *fold, uint64_t seed,
                                  const bml_run_opts *opts, bml_lr_find_result **out) {
    *out = NULL;
    const char *mname = plan->model;
    if (!plan->neural)
        return bml__fail(BML_ERR_VALUE, "the learning-rate finder is for the neural models (mlp, lstm_attn, cnn_lstm, neural_ode, "
                                        "acla), not %s", mname);
    double min_lr = plan->lr_min, max_lr = plan->lr_max;
    long steps = plan->lr_steps;
    char s_steps[32], s_min[40], s_max[40];
    snprintf(s_steps, sizeof s_steps, "%ld", steps);
    snprintf(s_min, sizeof s_min, "%.17g", min_lr);
    snprintf(s_max, sizeof s_max, "%.17g", max_lr);
    /* a learning rate the model accepts: the range test sets its own */
    bml_kv extra[4] = {{"lr_find_steps", s_steps}, {"lr_find_min_lr", s_min}, {"lr_find_max_lr", s_max}, {"learning_rate", "0.001"}};
    bml_model *m = NULL;
    BML__TRY(bml__study_create_model(plan, extra, 4, &m));
    bml_model_set_epoch_callback(m, opts ? opts->progress : NULL, opts ? opts->progress_user : NULL);
    bml_model_set_cancel(m, opts ? opts->cancel : NULL);
    bml_samples *tr = NULL;
    bml__track_preprocess pre = {0};
    bml_lr_find_result *r = calloc(1, sizeof *r);
    char *csv = NULL;
    bml_status st = r ? bml_samples_subset(all, fold->train, fold->n_train, &tr) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = preprocess_fit(m, tr, &pre);
    if (st == BML_OK) {
        preprocess_samples(&pre, tr);
        st = bml_model_fit(m, tr, NULL, seed);
    }
    if (st == BML_OK && !(csv = bml_model_history_csv(m))) st = bml__fail(BML_ERR_VALUE, "lr-find: the model kept no history");
    /* the history's rows: epoch (the step), train_loss (smoothed), val_loss (the batch's), lr */
    size_t n = 0;
    for (const char *p = csv; st == BML_OK && p && *p; p++) n += *p == '\n';
    if (st == BML_OK) {
        r->lr = bml__calloc(n + 1, sizeof *r->lr);
        r->loss = bml__calloc(n + 1, sizeof *r->loss);
        r->batch_loss = bml__calloc(n + 1, sizeof *r->batch_loss);
        if (!r->lr || !r->loss || !r->batch_loss) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    const char *line = csv ? strchr(csv, '\n') : NULL; /* after the header */
    while (st == BML_OK && line && line[1]) {
        line++;
        double step, tl, vl, lr;
        if (sscanf(line, "%lf,%lf,%lf,%lf", &step, &tl, &vl, &lr) != 4) {
            /* non-finite losses are written as nan/inf: strtod reads those too */
            char *e;
            step = strtod(line, &e);
            tl = strtod(e + 1, &e);
            vl = strtod(e + 1, &e);
            lr = strtod(e + 1, &e);
        }
        r->lr[r->n] = lr, r->loss[r->n] = tl, r->batch_loss[r->n] = vl;
        r->n++;
        line = strchr(line, '\n');
    }
    if (st == BML_OK) st = bml__lr_find_suggest(r->lr, r->loss, r->n, &r->suggestion);
    free(csv);
    bml_samples_free(tr);
    bml__track_preprocess_release(&pre);
    bml_model_free(m);
    if (st != BML_OK) {
        bml_lr_find_result_free(r);
        return st;
    }
    *out = r;
    return BML_OK;
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
static void log_metrics(const bml_run_opts *opts, const char *label, const bml_metrics *m) {
    say(opts, "      %-16s n=%-4zu RMSE %.5f  MAE %.5f  MAPE %.3f%%  R2 %.4f  max|e| %.5f", label, m->n, m->rmse, m->mae,
        m->mape, m->r2, m->max_abs_error);
}

bml_status bml_run_experiment(const bml_config *cfg, const bml_run_opts *opts, bml_run_result **out) {
    return bml_run_experiment_exec(cfg, opts, NULL, out);
}

bml_status bml_run_experiment_exec(const bml_config *cfg, const bml_run_opts *opts, const bml_fold_executor *exec,
                                   bml_run_result **out) {
    *out = NULL;
    double t_start = now_s();
    bml_run_result *res = calloc(1, sizeof *res);
    if (!res) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    bml_split *sp = NULL;
    fold_out *folds = NULL;
    bml_samples *flat = NULL; /* per-step rows of sequence samples */
    bml__study plan_store, *plan = &plan_store;
    char *lr_csv = NULL;         /* training.learning_rate=auto: the range test's curve */
    size_t *flat_of = NULL;   /* (n*T) sample step -> flat row */
    bml_status st;
    /* every key of the configuration, typed and checked, before any work */
    if ((st = bml__study_resolve(cfg, plan)) != BML_OK) goto fail;
    const char *mname = plan->model;
    explain_opts ex = {plan->explain, plan->shap_max_samples, 0, 0};

    /* 1. load */
    double t = now_s();
    if ((st = bml__study_load(plan, opts->base_dir, NULL, 0, &ds)) != BML_OK) goto fail;
    res->t_load = now_s() - t;
    if (bml_dataset_n_curves(ds))
        say(opts, "[1/7] load      %zu voltage curves from %s (%s) in %.1f ms", bml_dataset_n_curves(ds),
            *plan->data_path ? plan->data_path : "?", plan->data_name, 1e3 * res->t_load);
    else
        say(opts, "[1/7] load      %zu cells, %zu rows from %s (%s, experiment %s) in %.1f ms", bml_dataset_n_cells(ds),
            bml_dataset_n_rows(ds), *plan->data_path ? plan->data_path : "?", plan->data_name,
            plan->experiment && *plan->experiment ? plan->experiment : "all", 1e3 * res->t_load);
    if (*bml_dataset_note(ds)) say(opts, "      %s", bml_dataset_note(ds)); /* what the loader left out */

    /* 2. pipeline */
    t = now_s();
    if ((st = check_cancel(opts, "after loading the data")) != BML_OK) goto fail;
    if ((st = bml__study_samples(plan, ds, 0, &s)) != BML_OK) goto fail;
    res->t_pipeline = now_s() - t;
    {
        char *fn = bml__join(s->feature_names, s->n_features, ", ");
        char *tn = bml__join(s->target_names, s->n_targets, ", ");
        say(opts, "[2/7] pipeline  %s: %zu samples, %zu features [%s] -> %zu targets [%s] in %.1f ms",
            plan->pipeline, s->n, s->n_features, fn ? fn : "", s->n_targets, tn ? tn : "",
            1e3 * res->t_pipeline);
        if (*bml_pipeline_last_note()) say(opts, "      %s", bml_pipeline_last_note());
        free(fn);
        free(tn);
    }

    /* 3. split */
    t = now_s();
    if ((st = make_split(plan, ds, s, &sp)) != BML_OK) goto fail;
    res->t_split = now_s() - t;
    res->n_folds = sp->n_folds;
    if (sp->n_folds == 1)
        say(opts, "[3/7] split     %s: train %zu, val %zu, test %zu", plan->split, sp->folds[0].n_train,
            sp->folds[0].n_val, sp->folds[0].n_test);
    else
        say(opts, "[3/7] split     %s: %zu folds", plan->split, sp->n_folds);

    /* per-step view of sequence samples: metrics, predictions and reports work on its rows */
    {
        size_t T = s->seq_len ? s->seq_len : 1;
        flat_of = bml__calloc(s->n * T + 1, sizeof *flat_of);
        if (!flat_of) goto nomem;
        for (size_t i = 0, k = 0; i < s->n * T; i++) flat_of[i] = !s->seq_len || s->mask[i] != 0 ? k++ : (size_t)-1;
        if (s->seq_len && (st = bml_samples_flatten(s, &flat)) != BML_OK) goto fail;
    }
    const bml_samples *rows = flat ? flat : s;

    /* training.learning_rate=auto: the range test on the first fold's training split, then the study with
     * its suggestion (in a copy of the configuration, so that config.yaml records the number) */
    if (plan->lr_auto) {
        bml_lr_find_result *lr = NULL;
        char num[40];
        if ((st = lr_find_on_fold(plan, s, &sp->folds[0], plan->seed, opts, &lr)) != BML_OK) {
            bml__fail_prefix(st, "training.learning_rate=auto");
            goto fail;
        }
        snprintf(num, sizeof num, "%.6g", lr->suggestion);
        say(opts, "      lr-find   %zu steps from %.3g to %.3g: training with the suggested learning rate %s", lr->n, lr->lr[0],
            lr->lr[lr->n - 1], num);
        lr_csv = bml_lr_find_csv(lr);
        bml_lr_find_result_free(lr);
        if (!lr_csv) goto nomem;
        if ((st = bml__study_set_learning_rate(plan, num)) != BML_OK) goto fail;
        mname = plan->model;
    }

    /* 4-6. fit, evaluate, explain per fold */
    if ((st = check_cancel(opts, "before training")) != BML_OK) goto fail;
    say(opts, "[4/7] train     model %s (%s)", mname, sp->n_folds == 1 ? "one fold" : "every fold");
    folds = bml__calloc(sp->n_folds, sizeof *folds);
    if (!folds) goto nomem;
    for (size_t f = 0; f < sp->n_folds; f++) { /* evaluated rows of the study, for the SHAP subsample */
        size_t ne;
        bml_fold_eval(&sp->folds[f], &ne);
        ex.n_total += ne;
    }
    int assemble = 1;
    if ((st = run_folds(plan, s, flat_of, sp, plan->seed, &ex, opts, folds, res, exec, &assemble)) != BML_OK) goto fail;
    if (!assemble) { /* the folds this process fitted went to the one that writes the run */
        res->t_total = now_s() - t_start;
        st = BML_OK;
        goto cleanup;
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
    cJSON *metrics = bml__track_metrics(rows, &ev, sp, plan->study, plan->n_study);
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
    /* a log10 cycle-life target (pipeline delta_q): the metrics in cycles too, per fold (a predefined split's set) */
    for (size_t k = 0; k < O; k++) {
        if (strcmp(rows->target_names[k], "log10_cycle_life")) continue;
        cJSON *cyc = cJSON_AddObjectToObject(metrics, "cycle_life");
        double *yt = bml__calloc(n_eval ? n_eval : 1, sizeof *yt), *yp = bml__calloc(n_eval ? n_eval : 1, sizeof *yp);
        for (size_t f = 0; yt && yp && cyc && f < sp->n_folds; f++) {
            size_t n = 0;
            for (size_t r = 0; r < n_eval; r++)
                if (ev.fold[r] == f) {
                    yt[n] = pow(10.0, rows->y[ev.idx[r] * O + k]);
                    yp[n] = pow(10.0, ev.pred[r * O + k]);
                    n++;
                }
            bml_metrics m = bml_metrics_compute(yt, yp, n, 1);
            say(opts, "      %-16s n=%-4zu RMSE %.1f cycles  MAPE %.1f%%  (10^prediction vs cycle life)", sp->folds[f].name, m.n, m.rmse,
                m.mape);
            cJSON *o = cJSON_AddObjectToObject(cyc, sp->folds[f].name);
            if (o) {
                cJSON_AddNumberToObject(o, "n", (double)m.n);
                cJSON_AddNumberToObject(o, "rmse", m.rmse);
                cJSON_AddNumberToObject(o, "mape", m.mape);
            }
        }
        free(yt);
        free(yp);
    }
    size_t n_shap = 0;
    for (size_t f = 0; f < sp->n_folds; f++) n_shap += folds[f].shap ? folds[f].n_shap : 0;
    if (folds[0].shap)
        say(opts, "[6/7] explain   %s values of %zu of %zu evaluated rows (explain.shap_max_samples=%zu) and feature importance",
            strcmp(mname, "lgbm") ? "exact SHAP" : "TreeSHAP", n_shap, n_eval, ex.max_samples);
    else if (!ex.enabled && !s->seq_len)
        say(opts, "[6/7] explain   skipped (explain.enabled=false): no SHAP values or feature importance");
    else say(opts, "[6/7] explain   %s", folds[0].shap  ? "TreeSHAP values and feature importance"
        : folds[0].att && folds[0].lat ? "attention weights and latent trajectories per sequence"
        : folds[0].att ? "attention weights per sequence"
        : folds[0].lat ? "latent trajectories per sequence"
                       : "no SHAP or attention for this model");

    /* 7. write */
    t = now_s();
    if ((st = check_cancel(opts, "before writing the run")) != BML_OK) {
        cJSON_Delete(metrics);
        bml__track_eval_release(&ev);
        goto fail;
    }
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
            tf[f].history_csv = folds[f].history_csv;
            tf[f].fit_info = folds[f].fit_info;
            tf[f].model_files = folds[f].files;
            tf[f].n_model_files = folds[f].n_files;
            tf[f].pre = &folds[f].pre;
            tf[f].n_eval = folds[f].n_eval;
            tf[f].eval_idx = folds[f].eval_idx;
            tf[f].eval_is_test = folds[f].eval_is_test;
            tf[f].pred = folds[f].pred;
            tf[f].shap = folds[f].shap;
            tf[f].n_shap = folds[f].n_shap;
            tf[f].shap_rows = folds[f].shap_rows;
            tf[f].imp = folds[f].imp;
            tf[f].n_att = folds[f].n_att;
            tf[f].att_idx = folds[f].att_idx;
            tf[f].att = folds[f].att;
            tf[f].lat_dim = folds[f].lat_dim;
            tf[f].lat = folds[f].lat;
        }
        double t_save = 0;
        char *pex = NULL;
        const char *pex_name = pipeline_extra(plan, ds, s, &sp->folds[0], &pex);
        bml__track_extra extra[2];
        size_t n_extra = 0;
        if (pex_name) extra[n_extra++] = (bml__track_extra){pex_name, pex};
        if (lr_csv) extra[n_extra++] = (bml__track_extra){"lr_find.csv", lr_csv};
        st = bml__track_write_run(&plan->track, rows, s, sp, tf, metrics, extra, n_extra, &res->run_dir, &t_save);
        free(pex);
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
    bml__study_release(plan);
    free(lr_csv);
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

bml_status bml_run_lr_find(const bml_config *cfg, const bml_run_opts *opts, bml_lr_find_result **out) {
    *out = NULL;
    bml__study plan;
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    bml_split *sp = NULL;
    bml_status st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = bml__study_load(&plan, opts ? opts->base_dir : NULL, NULL, 0, &ds);
    if (st == BML_OK) st = bml__study_samples(&plan, ds, 0, &s);
    if (st == BML_OK) st = make_split(&plan, ds, s, &sp);
    if (st == BML_OK) st = lr_find_on_fold(&plan, s, &sp->folds[0], plan.seed, opts, out);
    bml_split_free(sp);
    bml_samples_free(s);
    bml_dataset_free(ds);
    bml__study_release(&plan);
    return st;
}

static bml_status lr_find_write(const bml_lr_find_result *r, const bml__study *plan, const char *out_dir, char **dir_out);

bml_status bml_lr_find_write(const bml_lr_find_result *r, const bml_config *cfg, const char *out_dir, char **dir_out) {
    *dir_out = NULL;
    bml__study plan;
    bml_status st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = lr_find_write(r, &plan, out_dir, dir_out);
    bml__study_release(&plan);
    return st;
}

static bml_status lr_find_write(const bml_lr_find_result *r, const bml__study *plan, const char *out_dir, char **dir_out) {
    char *dir = NULL;
    if (out_dir) {
        dir = bml__strdup(out_dir);
        if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
        bml_status st = bml__mkdir_p(dir);
        if (st != BML_OK) {
            free(dir);
            return st;
        }
    } else { /* a new folder beside the runs */
        const char *outdir = plan->track.output_dir;
        BML__TRY(bml__mkdir_p(outdir));
        time_t t = time(NULL);
        struct tm tmv;
        gmtime_r(&t, &tmv);
        char ts[32];
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tmv);
        for (int k = 1; k < 1000 && !dir; k++) {
            char *cand = k == 1 ? bml__sprintf("%s/%s-lr_find-%s", outdir, ts, plan->model)
                                : bml__sprintf("%s/%s-lr_find-%s-%d", outdir, ts, plan->model, k);
            if (!cand) return bml__fail(BML_ERR_NOMEM, "out of memory");
            if (mkdir(cand, 0777) == 0) dir = cand;
            else {
                int e = errno;
                free(cand);
                if (e != EEXIST) return bml__fail(BML_ERR_IO, "%s: cannot create a folder: %s", outdir, strerror(e));
            }
        }
        if (!dir) return bml__fail(BML_ERR_IO, "%s: too many lr-find folders", outdir);
    }
    char *csv = bml_lr_find_csv(r), *yaml = bml__strdup(plan->config_yaml);
    char *p1 = bml__path_join(dir, "lr_find.csv"), *p2 = bml__path_join(dir, "config.yaml");
    bml_status st = csv && yaml && p1 && p2 ? bml__write_file_atomic(p1, csv, strlen(csv)) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__write_file_atomic(p2, yaml, strlen(yaml));
    free(csv), free(yaml), free(p1), free(p2);
    if (st != BML_OK) {
        free(dir);
        return st;
    }
    *dir_out = dir;
    return BML_OK;
}
