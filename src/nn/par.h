/* The library's own worker threads for the neural networks: a task list whose partition is fixed by the
 * shapes (never by the number of threads), each task writing only its own outputs, so that what a
 * computation gives does not depend on how many threads run it (see README "Threads and reentrancy").
 *
 * How many threads a calling thread may use is its own setting (thread-local): bml__nn_threads_set (the
 * trainer sets training.threads for the length of a fit) under a cap: bml__nn_threads_cap where set, else
 * the budget of bml_parallel_set_thread_local / bml_parallel_set_threads (batteryml/parallel.h), which the
 * fold threads of a study and the processes of a sweep already set to their share of the cores. Internal. */
#ifndef BML_NN_PAR_H
#define BML_NN_PAR_H

/* Threads the calling thread may use for its parallel loops now: its setting (0: every core of the
 * process), at most its cap (else the bml_parallel_* budget; none where neither is set), at least 1. */
int bml__nn_threads(void);
/* Sets the calling thread's setting (n <= 0: every core) and returns the previous one. */
int bml__nn_threads_set(int n);
/* Caps the calling thread's thread count at n (n <= 0: back to the bml_parallel_* budget) and returns the
 * previous cap. */
int bml__nn_threads_cap(int n);

/* Runs fn(ctx, i) for every i in [0, n) and returns when all have run: on the calling thread and up to
 * bml__nn_threads() - 1 helpers of a process-wide pool (started on first use). Tasks run in any order and
 * at once, so each must write only its own outputs. When the pool is busy with another caller's loop, the
 * caller runs every task itself. */
void bml__nn_parallel_for(int n, void (*fn)(void *ctx, int i), void *ctx);

#endif
