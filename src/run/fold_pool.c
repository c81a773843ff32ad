/* The folds of a study on threads (or through a fold executor: other processes, MPI ranks). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "run/runner.h"
#include "nn/trainer.h"

/* Folds are independent: each its own model, seed and data. With opts->jobs > 1 they run on that many
 * threads (each backend limited to cores / threads), every fold's log lines kept and printed in fold order
 * afterwards, so the output and the numbers are those of the folds run one after another. */
typedef struct {
    const bml__study *plan;
    const bml_samples *s;
    const size_t *flat_of;
    const bml_split *sp;
    uint64_t seed;
    const bml__explain_opts *ex; /* (n_folds) */
    const bml_run_opts *opts;
    bml__track_fold *folds;
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
        p->status[f] = bml__run_fold(p->plan, p->s, p->flat_of, &p->sp->folds[f], p->seed, &p->ex[f], &o, &p->folds[f], &p->times[f]);
        if (p->status[f] != BML_OK) p->error[f] = bml__strdup(bml_last_error());
    }
    return NULL;
}

static bml_status run_folds_with(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                                 uint64_t seed, const bml__explain_opts *fex, const bml_run_opts *opts, bml__track_fold *folds,
                                 bml_run_result *res);

/* The folds on threads, or through exec when given (*assemble: whether this process writes the run) */
bml_status bml__run_folds(const bml__study *plan, const bml_samples *s, const size_t *flat_of, const bml_split *sp,
                            uint64_t seed, const bml__explain_opts *ex, const bml_run_opts *opts, bml__track_fold *folds,
                            bml_run_result *res, const bml_fold_executor *exec, int *assemble) {
    *assemble = 1;
    size_t F = sp->n_folds;
    /* each fold's place in the study's evaluated rows (the SHAP subsample), known before any fold runs */
    bml__explain_opts *fex = bml__calloc(F, sizeof *fex);
    if (!fex) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t f = 0, off = 0; f < F; f++) {
        size_t ne;
        bml_fold_eval(&sp->folds[f], &ne);
        fex[f] = *ex;
        fex[f].offset = off;
        off += ne;
    }
    bml_status st = exec ? bml__run_folds_exec(plan, s, flat_of, sp, seed, fex, opts, folds, res, exec, assemble)
                         : run_folds_with(plan, s, flat_of, sp, seed, fex, opts, folds, res);
    free(fex);
    return st;
}

/* A fold fitted elsewhere (another thread or process), taken in fold order: its log lines (NUL-separated in place:
 * `log` is the fold's own, newline-joined) to opts->log, its stage times added to res. */
void bml__fold_replay(const bml_run_opts *opts, char *log, const bml_run_result *t, bml_run_result *res) {
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
                                 uint64_t seed, const bml__explain_opts *fex, const bml_run_opts *opts, bml__track_fold *folds,
                                 bml_run_result *res) {
    size_t F = sp->n_folds;
    long jobs = plan->jobs;
    int workers = jobs == 0 ? bml_parallel_cores() : (int)jobs;
    if ((size_t)workers > F) workers = (int)F;
    if (workers <= 1) {
        for (size_t f = 0; f < F; f++) {
            bml_status st = bml__run_fold(plan, s, flat_of, &sp->folds[f], seed, &fex[f], opts, &folds[f], res);
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
        bml__fold_replay(opts, p.log[f], &p.times[f], res);
        if (p.status[f] != BML_OK) {
            st = bml__fail(p.status[f], "fold %s: %s", sp->folds[f].name, p.error[f] ? p.error[f] : "failed");
        }
    }
    for (size_t f = 0; p.error && p.log && f < F; f++) free(p.error[f]), free(p.log[f]);
    free(p.times), free(p.status), free(p.error), free(p.log), free(th);
    return st;
}
