/* `batteryml run -m`: a sweep's jobs run by worker processes on this machine, or by MPI ranks across
 * machines. Part of the command-line program, on the public C API only. */
#ifndef BML_CLI_MULTIRUN_H
#define BML_CLI_MULTIRUN_H

#include <stddef.h>

#include "batteryml/batteryml.h"

typedef struct {
    /* composes one job's configuration from its overrides (the program's --config-dir/--config-file logic) */
    bml_status (*compose)(void *user, const char *const *overrides, size_t n, bml_config **out);
    void *compose_user;
    const char *base_dir;           /* for relative data paths (bml_run_opts.base_dir) */
    const char *const *overrides;   /* as given on the command line */
    size_t n_overrides;
    bml_sweep_opts sweep;           /* sweeper, trials, max_jobs (seed: filled from the configuration when 0) */
    int seed_given;                 /* sweep.seed was set explicitly */
    int jobs;                       /* worker processes (0: the cores) */
    const char *sweep_dir;          /* NULL: multirun/<date>/<time> */
    int quiet;
} bml_cli_multirun_opts;

/* Keep this process to n of the cores it may use (--jobs N of a single run): the folds' threads and
 * XGBoost's are sized from them. */
void bml_cli_limit_cores(int n);

/* Runs the sweep; returns the program's exit status: 0 when every job succeeded, the number of failed
 * jobs (at most 100) when some failed, 1 or 2 when the sweep could not start. */
int bml_cli_multirun(const bml_cli_multirun_opts *o, int *argc, char ***argv);

#endif
