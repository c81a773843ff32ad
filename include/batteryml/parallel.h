/* How many threads XGBoost (OpenMP: boosting and TreeSHAP) and the neural networks' own worker threads
 * (training.threads, at most this budget) use in this process.
 *
 * OpenMP keeps its thread count per thread, initialised from the process's setting: worker processes of a
 * sweep (`batteryml run -m --jobs N`), MPI ranks and the threads that fit folds at once set it so that
 * workers x threads does not exceed the cores. Results do not depend on it. OpenBLAS is not used for the
 * networks' products (the library's own kernels are; see README "Threads and reentrancy"). */
#ifndef BATTERYML_PARALLEL_H
#define BATTERYML_PARALLEL_H

#include "batteryml/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cores this process may run on (its CPU affinity), at least 1. */
BML_API int bml_parallel_cores(void);
/* n threads (n < 1: 1) for the OpenMP parallel regions and the networks' parallel loops the calling thread
 * starts from now on; bml_parallel_set_threads, called from the main thread before others start, also sets
 * the default of every thread. */
BML_API void bml_parallel_set_threads(int n);
BML_API void bml_parallel_set_thread_local(int n);

#ifdef __cplusplus
}
#endif
#endif
