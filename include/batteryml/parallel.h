/* How many threads the library's numerical backends use in this process.
 *
 * OpenBLAS (the neural models' matrix products) and OpenMP (XGBoost's boosting and TreeSHAP) each keep
 * one thread setting per process: this is process-global state, and it is the only global the library
 * changes. Worker processes of a sweep (`batteryml run -m --jobs N`) and MPI ranks set it so that
 * workers x threads does not exceed the cores. Results do not depend on it. */
#ifndef BATTERYML_PARALLEL_H
#define BATTERYML_PARALLEL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Cores this process may run on (its CPU affinity), at least 1. */
int bml_parallel_cores(void);
/* Let OpenBLAS and OpenMP use n threads from now on (n < 1: 1). */
void bml_parallel_set_threads(int n);
/* OpenMP's setting is kept per thread: n threads for the parallel regions the calling thread starts. */
void bml_parallel_set_thread_local(int n);

#ifdef __cplusplus
}
#endif
#endif
