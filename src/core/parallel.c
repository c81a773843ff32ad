/* Thread settings of the numerical backends (see batteryml/parallel.h). */
#define _GNU_SOURCE
#include "batteryml/parallel.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

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
void bml_parallel_set_thread_local(int n) {
    void (*omp_set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (omp_set) omp_set(n < 1 ? 1 : n);
}

/* OpenBLAS is not touched: the library runs every product single-threaded (bml__nn_gemm), since OpenBLAS's
 * threaded kernels round differently from its one-thread path */
void bml_parallel_set_threads(int n) { bml_parallel_set_thread_local(n); }
