/* `batteryml run -m`: a sweep's jobs run by worker processes on this machine, or by MPI ranks across
 * machines; `batteryml run` under mpirun: one study's folds over the ranks. Part of the command-line
 * program, on the public C API only. */
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
    int sweeper_given, trials_given; /* sweep.sweeper, sweep.trials were set explicitly */
    int jobs;                       /* worker processes (0: the cores) */
    const char *sweep_dir;          /* NULL: multirun/<date>/<time> */
    int quiet;
    /* a sweep folder to go on with (run -m --resume DIR): its multirun.yaml gives the jobs (overrides and
     * sweeper settings given must be its own), the jobs whose run folder is complete are not run again */
    const char *resume;
} bml_cli_multirun_opts;

/* Keep this process to n of the cores it may use (--jobs N of a single run): the folds' threads and
 * XGBoost's are sized from them. */
void bml_cli_limit_cores(int n);

/* Runs the sweep; returns the program's exit status: 0 when every job succeeded, the number of failed
 * jobs (at most 100) when some failed, 1 or 2 when the sweep could not start, 128 + the signal when SIGINT,
 * SIGTERM or SIGHUP stopped it (sweep.csv then records the jobs that finished, the others cancelled). */
int bml_cli_multirun(const bml_cli_multirun_opts *o, int *argc, char ***argv);

/* `batteryml run` under mpirun (no -m): every rank prepares the study (data, samples, split), then rank 0
 * hands its folds out to whichever rank is free (itself included), takes their results back and alone
 * prints and writes the run directory, the files those of the folds fitted one after another. opts are
 * rank 0's; the other ranks print nothing and write nothing but temporary files. Returns the program's
 * exit status (rank 0's, on every rank): 0, 1 when the study failed, 2 without MPI in this build. */
int bml_cli_run_ranks(const bml_config *cfg, const bml_run_opts *opts, int quiet, int *argc, char ***argv);

#endif
