/* Thread settings of the numerical backends (see batteryml/parallel.h). */
#define _GNU_SOURCE
#include "batteryml/parallel.h"

#include <stdatomic.h>

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include "core/internal.h"

int bml_parallel_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* OpenMP comes with XGBoost's library (libgomp), which reads OMP_NUM_THREADS once when it is loaded: its
 * runtime setter is looked up in the process rather than linked, so the library needs no OpenMP of its own */
static _Thread_local int thread_budget; /* 0: not set in this thread */
static atomic_int process_budget;       /* 0: not set */

int bml__parallel_thread_budget(void) { return thread_budget > 0 ? thread_budget : atomic_load(&process_budget); }

void bml_parallel_set_thread_local(int n) {
    thread_budget = n < 1 ? 1 : n;
    void (*omp_set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (omp_set) omp_set(n < 1 ? 1 : n);
}

/* The networks' own worker threads (src/nn/par.c) stay within the budget too; their matrix products are
 * the library's own (bml__nn_gemm), not OpenBLAS's */
void bml_parallel_set_threads(int n) {
    atomic_store(&process_budget, n < 1 ? 1 : n);
    bml_parallel_set_thread_local(n);
}
