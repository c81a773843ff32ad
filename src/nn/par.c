/* Worker threads of the neural networks (see par.h). One loop at a time owns the pool; helpers take the
 * next task index from an atomic counter, so a loop with helpers and one without run the same tasks with
 * the same code and inputs: only who runs which task differs. */
#define _POSIX_C_SOURCE 200809L
#include "nn/par.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "batteryml/parallel.h"
#include "core/internal.h"

#define MAX_HELPERS 63

static _Thread_local int tl_threads; /* 0: every core */
static _Thread_local int tl_cap;     /* 0: no cap */

int bml__nn_threads(void) {
    int n = tl_threads > 0 ? tl_threads : bml_parallel_cores();
    int cap = tl_cap > 0 ? tl_cap : bml__parallel_thread_budget();
    if (cap > 0 && n > cap) n = cap;
    return n < 1 ? 1 : n;
}

int bml__nn_threads_set(int n) {
    int old = tl_threads;
    tl_threads = n > 0 ? n : 0;
    return old;
}

int bml__nn_threads_cap(int n) {
    int old = tl_cap;
    tl_cap = n > 0 ? n : 0;
    return old;
}

typedef struct {
    void (*fn)(void *, int);
    void *ctx;
    int n;
    atomic_int next;
} loop;

static pthread_mutex_t owner = PTHREAD_MUTEX_INITIALIZER; /* held by the caller whose loop the pool runs */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;    /* guards everything below */
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static loop *cur;                   /* the loop helpers may join, NULL between loops */
static atomic_ulong generation;     /* one per loop: a helper joins each loop once (read unlocked to spin) */
static int wanted, joined;          /* helpers the loop may take, that took it */
static atomic_int active;           /* helpers still at work on the loop (changed under mu, read unlocked to spin) */
static int n_helpers, quitting;
static pthread_t helpers[MAX_HELPERS];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void run_tasks(loop *l) {
    for (int i; (i = atomic_fetch_add(&l->next, 1)) < l->n;) l->fn(l->ctx, i);
}

/* A helper out of work first watches for the next loop for a while (SPIN_US), then sleeps: the loops of a
 * training step come microseconds apart, and a helper woken from sleep comes tens of microseconds late on a
 * virtual machine (its idle CPU must be woken first), too late to take a part of a small loop. The loops
 * between two optimizer steps can be a few hundred microseconds apart (the serial parts of an ODE solve). */
#define SPIN_US 500.0
static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/* for the spins below, called every round i from 1: 1 once `us` microseconds have passed since round 64
 * (the clock is read every 64 rounds only, and not at all by a spin that ends sooner) */
static int spun_out(unsigned i, double *until, double us) {
    if (i % 64) return 0;
    double t = now_us();
    if (*until == 0) *until = t + us;
    return t > *until;
}

static void spin_for_next(unsigned long seen) {
    double until = 0;
    for (unsigned i = 1; atomic_load_explicit(&generation, memory_order_relaxed) == seen; i++) {
        cpu_relax();
        if (spun_out(i, &until, SPIN_US)) return;
    }
}

/* mu is only ever held for a few instructions: take it spinning rather than sleep on it (a thread put to
 * sleep on a mutex wakes some microseconds after its release, longer than a task of a small loop) */
static void lock_mu(void) {
    for (int i = 0; i < 4096; i++) {
        if (pthread_mutex_trylock(&mu) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&mu);
}

/* 1 once no helper works on the loop any more, 0 after ~50 microseconds of waiting for that */
static int spin_until_idle(void) {
    double until = 0;
    for (unsigned i = 1; atomic_load(&active) != 0; i++) {
        cpu_relax();
        if (spun_out(i, &until, 50.0)) return 0;
    }
    return 1;
}

static void *helper_main(void *unused) {
    (void)unused;
    unsigned long seen = 0;
    pthread_mutex_lock(&mu);
    for (;;) {
        if (!quitting && (!cur || atomic_load(&generation) == seen || joined >= wanted)) {
            pthread_mutex_unlock(&mu);
            spin_for_next(seen);
            lock_mu();
        }
        while (!quitting && (!cur || atomic_load(&generation) == seen || joined >= wanted)) pthread_cond_wait(&cv_work, &mu);
        if (quitting) break;
        loop *l = cur;
        seen = atomic_load(&generation);
        joined++;
        atomic_fetch_add(&active, 1);
        pthread_mutex_unlock(&mu);
        run_tasks(l);
        lock_mu();
        if (atomic_fetch_sub(&active, 1) == 1) pthread_cond_signal(&cv_done);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* a forked child has none of the parent's helpers */
static void after_fork_child(void) {
    pthread_mutex_init(&owner, NULL);
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&cv_work, NULL);
    pthread_cond_init(&cv_done, NULL);
    cur = NULL, wanted = joined = 0, n_helpers = 0, quitting = 0;
    atomic_store(&active, 0);
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, after_fork_child); }

/* the helpers end with the process (so that leak checkers see no live threads) */
__attribute__((destructor)) static void stop_helpers(void) {
    pthread_mutex_lock(&mu);
    quitting = 1;
    int n = n_helpers;
    n_helpers = 0;
    pthread_cond_broadcast(&cv_work);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++) pthread_join(helpers[i], NULL);
}

void bml__nn_parallel_for(int n, void (*fn)(void *ctx, int i), void *ctx) {
    loop l = {fn, ctx, n, 0};
    int want = bml__nn_threads() - 1;
    if (want > n - 1) want = n - 1;
    if (want > MAX_HELPERS) want = MAX_HELPERS;
    if (want <= 0 || pthread_mutex_trylock(&owner) != 0) { /* alone, or the pool is someone else's now */
        run_tasks(&l);
        return;
    }
    pthread_once(&atfork_once, register_atfork);
    lock_mu();
    while (n_helpers < want && !quitting && pthread_create(&helpers[n_helpers], NULL, helper_main, NULL) == 0) n_helpers++;
    cur = &l;
    atomic_fetch_add(&generation, 1);
    wanted = want < n_helpers ? want : n_helpers;
    joined = 0;
    if (wanted > 0) pthread_cond_broadcast(&cv_work);
    pthread_mutex_unlock(&mu);
    run_tasks(&l);
    lock_mu();
    cur = NULL; /* no helper joins from now on; wait for those that did */
    pthread_mutex_unlock(&mu);
    /* they are finishing their last tasks, a few microseconds at most as a rule: watch for that before
     * sleeping (a wake-up from sleep costs more than such a task) */
    if (!spin_until_idle()) {
        pthread_mutex_lock(&mu);
        while (atomic_load(&active) > 0) pthread_cond_wait(&cv_done, &mu);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_unlock(&owner);
}
