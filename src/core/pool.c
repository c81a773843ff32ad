/* The data and pipeline layers' worker threads (see core/internal.h): a shared counter hands out the tasks in
 * increasing order; each task's completion is recorded so that a caller can take results in order. */
#include <pthread.h>
#include <stdlib.h>

#include "core/internal.h"

enum { POOL_MAX_THREADS = 256 };

struct bml__pool {
    size_t n, next, ran;
    unsigned char *done; /* (n) */
    int stop, caller_helps;
    void (*fn)(void *, size_t);
    void *ctx;
    void (*at_exit)(void);
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t tid[POOL_MAX_THREADS];
    int started;
};

/* tasks until none is left or the pool stops */
static void pool_drain(bml__pool *p) {
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next;
        int take = !p->stop && i < p->n;
        if (take) p->next++;
        pthread_mutex_unlock(&p->mu);
        if (!take) return;
        p->fn(p->ctx, i);
        pthread_mutex_lock(&p->mu);
        p->done[i] = 1, p->ran++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *pool_worker(void *arg) {
    bml__pool *p = arg;
    pool_drain(p);
    if (p->at_exit) p->at_exit();
    return NULL;
}

static bml__pool *pool_new(size_t n, int threads, void (*fn)(void *, size_t), void *ctx, void (*at_exit)(void)) {
    bml__pool *p = bml__calloc(1, sizeof *p);
    unsigned char *done = p ? bml__calloc(n ? n : 1, 1) : NULL;
    if (!done) {
        free(p);
        bml__fail(BML_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->n = n, p->done = done, p->fn = fn, p->ctx = ctx, p->at_exit = at_exit;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (threads > POOL_MAX_THREADS) threads = POOL_MAX_THREADS;
    if ((size_t)threads > n) threads = (int)n;
    for (; p->started < threads; p->started++)
        if (pthread_create(&p->tid[p->started], NULL, pool_worker, p) != 0) break;
    return p;
}

bml_status bml__pool_start(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx, void (*at_exit)(void),
                           bml__pool **out) {
    bml__pool *p = pool_new(n, threads < 1 ? 1 : threads, fn, ctx, at_exit);
    *out = NULL;
    if (!p) return BML_ERR_NOMEM; /* the message is set */
    if (p->started == 0 && n > 0) {
        bml__pool_end(p);
        return bml__fail(BML_ERR_IO, "cannot start a thread");
    }
    *out = p;
    return BML_OK;
}

void bml__pool_wait(bml__pool *p, size_t i) {
    pthread_mutex_lock(&p->mu);
    while (i < p->n && !p->done[i]) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

size_t bml__pool_end(bml__pool *p) {
    if (!p) return 0;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_mutex_unlock(&p->mu);
    for (int t = 0; t < p->started; t++) pthread_join(p->tid[t], NULL);
    size_t ran = p->ran;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->done);
    free(p);
    return ran;
}

void bml__parallel_run(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx, void (*at_exit)(void)) {
    if (threads <= 1 || n <= 1) {
        for (size_t i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    bml__pool *p = pool_new(n, threads - 1, fn, ctx, at_exit); /* the caller is the last thread */
    if (!p) { /* no memory for the pool: every task here */
        for (size_t i = 0; i < n; i++) fn(ctx, i);
        return;
    }
    pool_drain(p);
    for (size_t i = 0; i < n; i++) bml__pool_wait(p, i);
    bml__pool_end(p);
}

typedef struct {
    bml_status (*fn)(void *ctx, size_t i);
    void *ctx;
    bml_status *st;
    char **err;
} try_ctx;

static void try_task(void *arg, size_t i) {
    try_ctx *t = arg;
    t->st[i] = t->fn(t->ctx, i);
    t->err[i] = t->st[i] != BML_OK ? bml__strdup(bml_last_error()) : NULL;
}

void bml__parallel_try(size_t n, int threads, bml_status (*fn)(void *ctx, size_t i), void *ctx, bml_status *st, char **err,
                       void (*at_exit)(void)) {
    try_ctx t = {fn, ctx, st, err};
    bml__parallel_run(n, threads, try_task, &t, at_exit);
}

bml_status bml__task_status(bml_status st, const char *err) {
    return st == BML_OK ? BML_OK : bml__fail(st, "%s", err ? err : "out of memory");
}
