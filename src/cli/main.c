/* batteryml: the command-line program, built on the public C API only. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batteryml/batteryml.h"
#include "cli/multirun.h"

#ifndef BML_SOURCE_DIR
#define BML_SOURCE_DIR "."
#endif

static const char *MAIN_HELP =
    "batteryml " BML_VERSION " - machine learning for battery degradation research\n"
    "\n"
    "Usage: batteryml <command> [options] [overrides]\n"
    "\n"
    "Commands:\n"
    "  run       run a study: load -> pipeline -> split -> train -> evaluate -> explain -> track\n"
    "  predict   predict with a saved run on new cells\n"
    "  features  export the pipeline's feature table (meta, features, targets) as CSV\n"
    "  synth-curves  write physics-based 0.1C voltage curves of every Performance Summary row\n"
    "  plot      (re)draw a saved run's figures into RUN_DIR/figures (PNG and SVG)\n"
    "  report    write one self-contained HTML page for a saved run or a sweep\n"
    "  compare   print the metrics of several runs side by side, or rank a sweep's jobs\n";
/* then the structure line, its formats those of the registry (print_main_help), then this */
static const char *MAIN_HELP_TAIL =
    "  list      list the components of one kind (models, pipelines, splits, data, formats, trackers,\n"
    "            losses, uncertainty) and their parameters\n"
    "  lr-find   the learning-rate range test of a neural model: a suggested learning rate\n"
    "  config    print the composed configuration\n"
    "  help      help on a command (batteryml help run)\n"
    "\n"
    "Overrides (Hydra-style): group=option (model=lgbm, split=loco), group.key=value\n"
    "(model.learning_rate=0.01, data.experiment=5), key=value (seed=7), +group.key=value adds a key.\n"
    "run, features, config and synth-curves take overrides; the other commands take none, so their\n"
    "arguments are paths even with an '=' in them. An argument or option a command does not use is an error.\n"
    "\n"
    "Options for every command:\n"
    "  --config-dir DIR   configuration directory (default: $BATTERYML_CONFIG_DIR, ./configs, an installed\n"
    "                     program's <prefix>/share/batteryml/configs, or the source tree's)\n"
    "  -q, --quiet        print errors only (run prints the run directory)\n"
    "  -v, --verbose      also print every training epoch as a line (default: a progress line on a terminal)\n"
    "  -h, --help         this help; --version prints the version\n"
    "\n"
    "Examples: batteryml run                      (the default study: summary_set + lgbm, 10/40 -> 25 degC)\n"
    "          batteryml run split=loco data.experiment=5\n"
    "          batteryml run model=mlp training.epochs=500 loss=huber\n"
    "          batteryml run pipeline=latent_ode_seq model=lstm_attn pipeline.target=modes\n"
    "          batteryml run pipeline=latent_ode_seq model=neural_ode pipeline.target=modes split=loco\n"
    "          batteryml run pipeline=latent_ode_seq model=acla pipeline.target=modes\n";

/* "NAME, NAME, ..." of the registered cycler formats, wrapped at 100 columns, each line after the first
 * indented by `indent` spaces (the first continues a line of `col` columns) */
static void print_format_names(FILE *f, size_t col, size_t indent) {
    size_t n = bml_cycler_format_count();
    for (size_t i = 1; i <= n; i++) {
        const char *name = bml_cycler_format_name((bml_cycler_format)i);
        size_t w = strlen(name) + (i < n ? 1 : 0);
        if (i > 1 && col + 1 + w > 100) {
            fprintf(f, "\n%*s", (int)indent, "");
            col = indent;
        } else if (i > 1) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%s%s", name, i < n ? "," : "");
        col += w;
    }
}

/* the main help: its structure line names every registered cycler format (what format= takes), so that it
 * cannot drift from the registry */
static void print_main_help(FILE *f) {
    fputs(MAIN_HELP, f);
    fputs("  structure summarise raw cycler exports cycle by cycle; the formats (batteryml list formats):\n"
          "            ", f);
    print_format_names(f, 12, 12);
    fputs("\n", f);
    fputs(MAIN_HELP_TAIL, f);
}

static const char *RUN_HELP =
    "Usage: batteryml run [-m [--resume DIR]] [--jobs N] [--config-file FILE] [--config-dir DIR] [-q] [overrides]\n"
    "\n"
    "Composes configs/config.yaml with its defaults (data, pipeline, model, split, loss, tracking, uncertainty)\n"
    "and the overrides, then runs the study and writes a run directory under output_dir (default runs/):\n"
    "  config.yaml      the resolved configuration (batteryml run --config-file it reproduces the run)\n"
    "  metrics.json     RMSE, MAE, MAPE, R2, max abs error: overall, per temperature, per cell, per fold\n"
    "  predictions.csv  meta, truth and prediction of every evaluated sample (and its interval with\n"
    "                   uncertainty=cv_plus or jackknife_plus: lower_<target>, upper_<target>)\n"
    "  shap.csv         TreeSHAP values (+ expected value) per target of at most explain.shap_max_samples (2000)\n"
    "                   evaluated samples, strided (lgbm; explain=false: none)\n"
    "  importance.csv   gain, total gain, split count and mean |SHAP| per feature (lgbm)\n"
    "  step_metrics.csv per-epoch train loss, validation loss and learning rate (neural models)\n"
    "  attention.csv    head-averaged attention weights per evaluated cell (lstm_attn, cnn_lstm, acla)\n"
    "  latent.csv       latent state at every step of each evaluated cell (neural_ode, acla)\n"
    "  model/           the model (model/<fold>/ for LOCO) with its preprocessing\n"
    "The directory appears only when complete. --config-file FILE runs a resolved config.yaml.\n"
    "training.learning_rate=auto runs the learning-rate range test first (see batteryml help lr-find).\n"
    "\n"
    "  --jobs N       the cores to use (default: all): folds fitted at once; with -m, jobs run at once,\n"
    "                 each on its share of the N cores (--jobs 1: one after another on one core)\n"
    "\n"
    "Sweeps (Hydra's multirun): -m, --multirun runs one job per combination of the listed values:\n"
    "  key=a,b,c  group=opt1,opt2  key=range(start,stop[,step])  key=choice(a,b)  key='a,b' (one value)\n"
    "  --sweeper grid|random   grid (default): the cartesian product, the last swept key varying fastest\n"
    "  --trials N              random: N jobs drawn from seed (or --seed S) with interval(a,b),\n"
    "                          log_interval(a,b), int_interval(a,b) and lists as uniform choices\n"
    "  --max-jobs N            refuse larger sweeps before anything runs (default 10000)\n"
    "  --sweep-dir DIR         where the sweep goes (default multirun/<date>/<time>; a folder that holds\n"
    "                          another sweep is not shared: DIR-1, DIR-2, ... instead)\n"
    "  --resume DIR            go on with the sweep in DIR (stopped or killed): its multirun.yaml gives the\n"
    "                          jobs; those whose run folder is complete are not run again, the rest run, and\n"
    "                          sweep.csv covers every job. Overrides, --sweeper, --trials and --seed, if given,\n"
    "                          must be the sweep's own; a run folder whose config.yaml is not its job's as\n"
    "                          composed now (the configs changed) is an error. --jobs may differ.\n"
    "Each job is a run in DIR/<index>-<values>/; DIR/multirun.yaml lists the jobs, DIR/sweep.csv has one\n"
    "row per job (overrides, status, error, seconds, every aggregate metric). A failing job is recorded\n"
    "and the sweep goes on; the exit status is then the number of failed jobs (at most 100). SIGINT,\n"
    "SIGTERM or SIGHUP stop a sweep: its workers stop too, sweep.csv records the jobs that finished (the\n"
    "others 'cancelled'), and the exit status is 128 + the signal (130, 143, 129); --resume goes on. Under\n"
    "mpirun -n K the jobs are spread over the ranks (rank 0 hands out the next job to whichever is free).\n"
    "Without -m, mpirun -n K batteryml run spreads one study's folds (split=loco) over the ranks the same way;\n"
    "rank 0 writes the run directory, the files of the serial run.\n"
    "batteryml compare DIR ranks the jobs (--sort COLUMN, e.g. soh.r2).\n";

static const char *PREDICT_HELP =
    "Usage: batteryml predict --run RUN_DIR --data PATH [--fold NAME] [--out FILE]\n"
    "\n"
    "Applies a saved run's model to new data: a Performance Summary file, a folder of them (flat or the\n"
    "original Oxford tree), or a table CSV for runs on data=table. Writes predictions (meta, truth,\n"
    "prediction) to FILE (default predictions.csv) and prints metrics when every target is present.\n"
    "Runs with one model per fold (LOCO) need --fold (a folder name under RUN_DIR/model/).\n"
    "\n"
    "Cycle-life runs (data=qdlin): PATH is a folder of Qdlin cell files, with an index (cells.csv or\n"
    "<split>_cycle_lives.csv) or without one (every *.csv in it is a new cell of unknown life). FILE has one\n"
    "row per cell: file (as the index names it, or its file name), cell, true_cycle_life (empty when unknown),\n"
    "pred_cycle_life, lower_cycle_life, upper_cycle_life (the interval, for a run with uncertainty=), all in\n"
    "cycles (10^ of the model's log10 values), then the model's true_/pred_/lower_/upper_log10_cycle_life.\n"
    "Metrics cover the cells whose life is known (in cycles too: \"cycle_life\").\n";

static const char *FEATURES_HELP =
    "Usage: batteryml features --out FILE [--config-dir DIR] [overrides]\n"
    "\n"
    "Loads the configured data, runs the configured pipeline and writes its feature table as CSV:\n"
    "experiment, cell, temperature_c, set_index, cycle, days, throughput_ah, the features, the targets.\n"
    "Sequence pipelines (latent_ode_seq) write one row per real step of each cell. Missing values are\n"
    "empty fields.\n";

static const char *LIST_HELP =
    "Usage: batteryml list KIND\n"
    "\n"
    "Lists the registered components of one kind with their parameters and defaults. KIND: models, pipelines,\n"
    "splits, data (data sources), formats (cycler files), trackers, losses, uncertainty (interval methods);\n"
    "the singular works too.\n";

static const char *PLOT_HELP =
    "Usage: batteryml plot RUN_DIR\n"
    "\n"
    "Draws the figures of a saved run from its files into RUN_DIR/figures/ as PNG and SVG: prediction vs\n"
    "truth and the measured and predicted fade of each evaluated cell (per target); SHAP summary (beeswarm),\n"
    "waterfall, dependence of the top 3 features and importance bars (lgbm); attention heatmap and attention\n"
    "over time (sequence models);\n"
    "training curves (neural models). `batteryml run` draws them too unless figures=false.\n";

static const char *REPORT_HELP =
    "Usage: batteryml report RUN_DIR [--out FILE]\n"
    "       batteryml report SWEEP_DIR [--out FILE] [--sort COLUMN]\n"
    "\n"
    "Writes one self-contained HTML page (default RUN_DIR/report.html): the study, metrics tables (overall,\n"
    "per temperature, per cell, over folds), the figures embedded, the resolved configuration. It opens in a\n"
    "browser with no server. For a sweep directory (run -m): its jobs ranked by a metric (--sort, default the\n"
    "first <target>.rmse) with their overrides and errors, and figures of the metric against each swept key.\n";

static const char *COMPARE_HELP =
    "Usage: batteryml compare RUN_DIR RUN_DIR...\n"
    "       batteryml compare SWEEP_DIR [--sort COLUMN]\n"
    "\n"
    "Prints the overall metrics of the runs side by side, one line per run and target, with the mean and\n"
    "standard deviation of the RMSE over folds for LOCO runs. Given a sweep directory (run -m), ranks its\n"
    "jobs by a sweep.csv column (default: the first <target>.rmse; R2 columns descending), failed jobs last.\n";

static const char *SYNTH_HELP =
    "Usage: batteryml synth-curves --out DIR [--data PATH] [--points N] [data.experiment=...]\n"
    "\n"
    "For every row of the Performance Summary files at PATH (default: the configured data.path), writes the\n"
    "0.1C pseudo-OCV discharge curve its fitted electrode state implies (cell voltage = U_PE - U_NE over\n"
    "the stoichiometry windows, LG M50 potentials, graphite-silicon negative electrode) in the Oxford\n"
    "timeseries format and folder layout, with the summary files beside them. Use them with\n"
    "data=oxford_curves data.path=DIR pipeline=ica_peaks.\n";

static const char *LR_FIND_HELP =
    "Usage: batteryml lr-find [--out DIR] [--config-dir DIR] [overrides]\n"
    "\n"
    "The learning-rate range test of the configured neural model (Smith 2015, as fastai's lr_find and\n"
    "Lightning's Tuner.lr_find) on the training split of the study's first fold: from a fresh model,\n"
    "lr_find.num_steps mini-batches (100) with the learning rate growing exponentially from lr_find.min_lr\n"
    "(1e-7) to lr_find.max_lr (1), the loss smoothed exponentially, stopping once it exceeds 4x its minimum.\n"
    "Prints the suggested rate (the steepest descent of the smoothed loss) and writes DIR/lr_find.csv (step,\n"
    "lr, smoothed_loss, batch_loss, suggested), DIR/config.yaml and DIR/figures/lr_find.png (and .svg): the\n"
    "loss against the learning rate with the suggestion marked. DIR defaults to <output_dir>/<time>-lr_find-\n"
    "<model>. training.learning_rate=auto in `batteryml run` does the same first and trains with the\n"
    "suggestion.\n";

static const char *CONFIG_HELP =
    "Usage: batteryml config [--config-file FILE] [--config-dir DIR] [overrides]\n"
    "\n"
    "Prints the composed configuration as YAML without running anything.\n";

typedef struct {
    const char *config_dir, *config_file, *out, *run, *data, *fold, *points;
    const char *jobs, *sweeper, *trials, *max_jobs, *sweep_dir, *seed, *sort, *resume;
    int quiet, help, verbose, multirun;
    const char **overrides;
    size_t n_overrides;
    const char *positional;
    const char **positionals; /* all of them, for compare */
    size_t n_positionals;
} args_t;

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "batteryml: %s%s%s\n(see batteryml --help)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

static int out_of_memory(void) {
    fprintf(stderr, "batteryml: error: out of memory\n");
    return 1;
}

static int fail(void) {
    fprintf(stderr, "batteryml: error: %s\n", bml_last_error());
    return 1;
}

/* SIGINT / SIGTERM during a study or lr-find: the library's cancel flag (bml_run_opts.cancel), so that it stops
 * at the next stage, fold, mini-batch or boosting round and leaves nothing behind; one message and exit
 * 128 + the signal. The handler is reset by the first signal: a second one ends the program at once. */
static int g_cancel;
static volatile sig_atomic_t g_stop_signal;

static void on_stop_signal(int sig) {
    g_stop_signal = sig;
    __atomic_store_n(&g_cancel, 1, __ATOMIC_RELAXED);
}

static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* the exit of a failed study: 128 + signal when it was cancelled by one */
static int fail_or_cancelled(bml_status st) {
    if (st == BML_ERR_CANCELLED && g_stop_signal) {
        fprintf(stderr, "\nbatteryml: cancelled by %s: nothing written\n", g_stop_signal == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM");
        return 128 + g_stop_signal;
    }
    return fail();
}

static int g_progress_shown;

static void log_line(void *user, const char *line) {
    (void)user;
    if (g_progress_shown) fputs("\r\033[K", stderr), g_progress_shown = 0;
    printf("%s\n", line);
    fflush(stdout);
}

/* --verbose: one line per epoch, for logs */
static void epoch_line(void *user, long epoch, long epochs, double train_loss, double val_loss) {
    (void)user;
    printf("      epoch %ld/%ld  train loss %.6g  val loss %.6g\n", epoch, epochs, train_loss, val_loss);
    fflush(stdout);
}

/* one self-overwriting line on a terminal; nothing in logs and CI */
static void progress_line(void *user, long epoch, long epochs, double train_loss, double val_loss) {
    (void)user;
    fprintf(stderr, "\r\033[K      epoch %ld/%ld  train loss %.6g  val loss %.6g", epoch, epochs, train_loss, val_loss);
    fflush(stderr);
    g_progress_shown = 1;
}

/* Commands that take overrides (key=value) take no other arguments; the others (plot, report,
 * compare, predict, list, help) take no overrides, so each of their arguments is what it says: a run
 * directory named `lr=0.1` is a path. Nothing is dropped: an argument a command cannot use is an error. */
static int takes_overrides(const char *cmd) {
    return !strcmp(cmd, "run") || !strcmp(cmd, "features") || !strcmp(cmd, "config") || !strcmp(cmd, "synth-curves") ||
           !strcmp(cmd, "lr-find") || !strcmp(cmd, "structure");
}

/* The options each command reads (--config-dir and the flags apply to every command): one given to a
 * command that does not read it is an error, not ignored. */
static const char *unused_option(const args_t *a, const char *cmd) {
    static const struct {
        const char *cmd, *opts;
    } uses[] = {{"run", "fjmwtxseR"},  {"predict", "ordk"}, {"features", "fo"}, {"synth-curves", "fodp"},
                {"report", "oS"},      {"config", "f"},     {"plot", ""},       {"compare", "S"},
                {"list", ""},          {"help", ""},        {"lr-find", "fo"},  {"structure", "oj"}};
    const char *opts = NULL;
    for (size_t i = 0; i < sizeof uses / sizeof *uses; i++)
        if (!strcmp(uses[i].cmd, cmd)) opts = uses[i].opts;
    if (!opts) return NULL; /* an unknown command: said so later */
    if (a->config_file && !strchr(opts, 'f')) return "--config-file";
    if (a->out && !strchr(opts, 'o')) return "--out";
    if (a->run && !strchr(opts, 'r')) return "--run";
    if (a->data && !strchr(opts, 'd')) return "--data";
    if (a->fold && !strchr(opts, 'k')) return "--fold";
    if (a->points && !strchr(opts, 'p')) return "--points";
    if (a->jobs && !strchr(opts, 'j')) return "--jobs";
    if (a->multirun && !strchr(opts, 'm')) return "-m";
    if (a->sweeper && !strchr(opts, 'w')) return "--sweeper";
    if (a->trials && !strchr(opts, 't')) return "--trials";
    if (a->max_jobs && !strchr(opts, 'x')) return "--max-jobs";
    if (a->sweep_dir && !strchr(opts, 's')) return "--sweep-dir";
    if (a->seed && !strchr(opts, 'e')) return "--seed";
    if (a->sort && !strchr(opts, 'S')) return "--sort";
    if (a->resume && !strchr(opts, 'R')) return "--resume";
    return NULL;
}

static int parse_args(int argc, char **argv, int first, const char *cmd, args_t *a) {
    a->overrides = calloc((size_t)argc + 1, sizeof *a->overrides);
    a->positionals = calloc((size_t)argc + 1, sizeof *a->positionals);
    if (!a->overrides || !a->positionals) return out_of_memory();
    int overrides = takes_overrides(cmd);
    for (int i = first; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (!strcmp(s, "--config-dir")) slot = &a->config_dir;
        else if (!strcmp(s, "--config-file")) slot = &a->config_file;
        else if (!strcmp(s, "--out") || !strcmp(s, "-o")) slot = &a->out;
        else if (!strcmp(s, "--run")) slot = &a->run;
        else if (!strcmp(s, "--data")) slot = &a->data;
        else if (!strcmp(s, "--fold")) slot = &a->fold;
        else if (!strcmp(s, "--points")) slot = &a->points;
        else if (!strcmp(s, "--jobs") || !strcmp(s, "-j")) slot = &a->jobs;
        else if (!strcmp(s, "--sweeper")) slot = &a->sweeper;
        else if (!strcmp(s, "--trials")) slot = &a->trials;
        else if (!strcmp(s, "--max-jobs")) slot = &a->max_jobs;
        else if (!strcmp(s, "--sweep-dir")) slot = &a->sweep_dir;
        else if (!strcmp(s, "--seed")) slot = &a->seed;
        else if (!strcmp(s, "--sort")) slot = &a->sort;
        else if (!strcmp(s, "--resume")) slot = &a->resume;
        else if (!strcmp(s, "-m") || !strcmp(s, "--multirun")) {
            a->multirun = 1;
            continue;
        }
        else if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) {
            a->quiet = 1;
            continue;
        } else if (!strcmp(s, "-v") || !strcmp(s, "--verbose")) {
            a->verbose = 1;
            continue;
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            a->help = 1;
            continue;
        } else if (s[0] == '-' && s[1] == '-') {
            return usage_error("unknown option", s);
        } else if (overrides && strchr(s, '=')) {
            a->overrides[a->n_overrides++] = s;
            continue;
        } else {
            if (!a->positional) a->positional = s;
            a->positionals[a->n_positionals++] = s;
            continue;
        }
        if (i + 1 >= argc) return usage_error("option needs a value", s);
        if (*slot) return usage_error("option given twice", s);
        *slot = argv[++i];
    }
    return 0;
}

/* a whole decimal integer: no trailing text, no overflow */
static int parse_count(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE) return 0;
    *out = v;
    return 1;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --config-dir, $BATTERYML_CONFIG_DIR, ./configs, an installed program's share/batteryml/configs, the
 * source tree's configs */
static const char *find_config_dir(const args_t *a) {
    if (a->config_dir) return a->config_dir;
    const char *env = getenv("BATTERYML_CONFIG_DIR");
    if (env && *env) return env;
    if (is_dir("configs") && access("configs/config.yaml", R_OK) == 0) return "configs";
    const char *installed = bml_config_installed_dir();
    if (installed) return installed;
    return BML_SOURCE_DIR "/configs";
}

/* the folder above the config dir: where relative data paths of the shipped configs live */
static char *base_dir_of(const char *config_dir) {
    size_t n = strlen(config_dir);
    char *b = malloc(n + 4);
    if (!b) return NULL;
    snprintf(b, n + 4, "%s/..", config_dir);
    return b;
}

static bml_status load_config(const args_t *a, bml_config **cfg) {
    const char *dir = find_config_dir(a);
    if (a->config_file) return bml_config_load_resolved(a->config_file, dir, a->overrides, a->n_overrides, cfg);
    return bml_config_compose(dir, a->overrides, a->n_overrides, cfg);
}

static bml_status compose_job(void *user, const char *const *ov, size_t n, bml_config **out) {
    const args_t *a = user;
    const char *dir = find_config_dir(a);
    if (a->config_file) return bml_config_load_resolved(a->config_file, dir, ov, n, out);
    return bml_config_compose(dir, ov, n, out);
}

/* a whole number in [lo, hi] given for option opt */
static int parse_option_count(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "batteryml: %s must be a whole number from %ld to %ld, not '%s'\n(see batteryml help run)\n", opt, lo, hi,
                s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int cmd_multirun(const args_t *a, int *argc, char ***argv) {
    bml_cli_multirun_opts o = {.compose = compose_job, .compose_user = (void *)a, .overrides = a->overrides, .n_overrides = a->n_overrides,
                               .sweep = BML_SWEEP_OPTS_INIT, .sweep_dir = a->sweep_dir, .quiet = a->quiet, .resume = a->resume};
    if (a->resume && a->sweep_dir) return usage_error("--resume DIR goes on in DIR: --sweep-dir does not go with it", NULL);
    o.sweeper_given = a->sweeper != NULL;
    o.trials_given = a->trials != NULL;
    long v;
    if (a->sweeper && strcmp(a->sweeper, "grid") && strcmp(a->sweeper, "basic") && strcmp(a->sweeper, "random"))
        return usage_error("--sweeper must be grid (or basic) or random, not", a->sweeper);
    o.sweep.sweeper = a->sweeper && !strcmp(a->sweeper, "random") ? BML_SWEEPER_RANDOM : BML_SWEEPER_GRID;
    if (a->trials) {
        if (parse_option_count("--trials", a->trials, 1, 1000000, &v)) return 2;
        o.sweep.trials = (size_t)v;
    }
    if (a->max_jobs) {
        if (parse_option_count("--max-jobs", a->max_jobs, 1, 100000000, &v)) return 2;
        o.sweep.max_jobs = (size_t)v;
    }
    if (a->jobs) {
        if (parse_option_count("--jobs", a->jobs, 1, 4096, &v)) return 2;
        o.jobs = (int)v;
    }
    if (a->seed) {
        if (parse_option_count("--seed", a->seed, 0, 2147483647L, &v)) return 2;
        o.sweep.seed = (uint64_t)v;
        o.seed_given = 1;
    }
    char *base = base_dir_of(find_config_dir(a));
    if (!base) return out_of_memory();
    o.base_dir = base;
    int rc = bml_cli_multirun(&o, argc, argv);
    free(base);
    return rc;
}

/* A rank other than 0 that stops before MPI starts says nothing (rank 0 reports the same error once), but it
 * waits a moment before exiting: mpirun ends the whole job as soon as one rank exits non-zero, which could
 * kill rank 0 before its message is out (seen in CI under the sanitizers). */
static int quiet_rank_exit(int rc) {
    struct timespec ts = {2, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return rc;
}

static int cmd_run(const args_t *a, int *argc, char ***argv) {
    if (a->help) return fputs(RUN_HELP, stdout), 0;
    if (a->n_positionals) return usage_error("run takes overrides (key=value), not", a->positional);
    if (a->multirun) return cmd_multirun(a, argc, argv);
    /* under mpirun the folds of the study are spread over the ranks; rank 0 alone reports */
    const char *ranks = getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE") : getenv("PMI_SIZE");
    const char *rank_s = getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : getenv("PMI_RANK");
    int under_mpi = ranks && atoi(ranks) > 1, rank = rank_s ? atoi(rank_s) : 0;
    if (a->sweeper || a->trials || a->max_jobs || a->sweep_dir || a->seed || a->resume)
        return rank ? quiet_rank_exit(2) : usage_error("--sweeper, --trials, --max-jobs, --sweep-dir, --seed and --resume are for sweeps: add -m", NULL);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return rank ? quiet_rank_exit(1) : fail();
    long jobs;
    if (a->jobs && parse_option_count("--jobs", a->jobs, 1, 4096, &jobs)) {
        bml_config_free(cfg);
        return 2;
    }
    if (a->jobs && !under_mpi) bml_cli_limit_cores((int)jobs); /* folds and XGBoost size their threads from these cores */
    char *base = base_dir_of(find_config_dir(a));
    if (!base) {
        bml_config_free(cfg);
        return out_of_memory();
    }
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = base, .log = a->quiet ? NULL : log_line, .write_run_dir = 1, .cancel = &g_cancel};
    if (a->verbose && !a->quiet) o.progress = epoch_line;
    else if (!a->quiet && isatty(fileno(stderr))) o.progress = progress_line;
    catch_stop_signals();
    if (under_mpi) {
        int rc = bml_cli_run_ranks(cfg, &o, a->quiet, argc, argv);
        free(base);
        bml_config_free(cfg);
        return rc;
    }
    bml_run_result *r;
    bml_status st = bml_run_experiment(cfg, &o, &r);
    free(base);
    bml_config_free(cfg);
    if (st != BML_OK) return fail_or_cancelled(st);
    if (a->quiet) printf("%s\n", r->run_dir);
    bml_run_result_free(r);
    return 0;
}

static int cmd_lr_find(const args_t *a) {
    if (a->help) return fputs(LR_FIND_HELP, stdout), 0;
    if (a->n_positionals) return usage_error("lr-find takes overrides (key=value), not", a->positional);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *base = base_dir_of(find_config_dir(a));
    if (!base) {
        bml_config_free(cfg);
        return out_of_memory();
    }
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = base, .log = a->quiet ? NULL : log_line, .cancel = &g_cancel};
    if (a->verbose && !a->quiet) o.progress = epoch_line;
    catch_stop_signals();
    bml_lr_find_result *r = NULL;
    char *dir = NULL;
    int n_fig = 0;
    bml_status st = bml_run_lr_find(cfg, &o, &r);
    if (st == BML_OK) st = bml_lr_find_write(r, cfg, a->out, &dir);
    if (st == BML_OK && r->figures) st = bml_run_plot(dir, &n_fig);
    int rc = st == BML_OK ? 0 : fail_or_cancelled(st);
    if (!rc && a->quiet) printf("%g\n", r->suggestion);
    else if (!rc)
        printf("lr-find: %zu steps from %.3g to %.3g; suggested learning rate %.6g (steepest descent of the smoothed loss)\n"
               "wrote %s/lr_find.csv%s\n",
               r->n, r->lr[0], r->lr[r->n - 1], r->suggestion, dir, n_fig ? " and figures/lr_find.png" : "");
    bml_lr_find_result_free(r);
    free(dir);
    free(base);
    bml_config_free(cfg);
    return rc;
}

static int cmd_synth(const args_t *a) {
    if (a->help) return fputs(SYNTH_HELP, stdout), 0;
    if (!a->out) return usage_error("synth-curves needs --out DIR", NULL);
    if (a->n_positionals) return usage_error("synth-curves takes overrides (key=value), not", a->positional);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *base = base_dir_of(find_config_dir(a));
    const char *data = a->data ? a->data : bml_config_get(cfg, "data.path");
    char *path = NULL;
    int rc = base ? 0 : out_of_memory();
    if (!rc && data && data[0] != '/' && access(data, F_OK) != 0) {
        size_t l = strlen(base) + strlen(data) + 2;
        path = malloc(l);
        if (path) snprintf(path, l, "%s/%s", base, data);
        else rc = out_of_memory();
    }
    long points = 1500;
    if (!rc && a->points && !parse_count(a->points, &points)) rc = usage_error("--points must be an integer", a->points);
    long *ex = NULL;
    size_t n_ex = 0;
    int *ids = NULL;
    const char *exv = bml_config_get(cfg, "data.experiment");
    if (rc == 0 && exv && strcmp(exv, "all")) {
        if (bml_config_get_long_list(cfg, "data.experiment", 1, 5, &ex, &n_ex) != BML_OK) rc = fail();
        else if (!(ids = calloc(n_ex, sizeof *ids))) rc = out_of_memory();
        for (size_t i = 0; ids && i < n_ex; i++) ids[i] = (int)ex[i]; /* in 1-5: checked */
        free(ex);
    }
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = ids, .n_experiments = ids ? n_ex : 0};
    size_t n = 0;
    if (rc == 0 && (points < 10 || points > 100000000)) rc = usage_error("--points must be from 10 to 100000000", a->points);
    if (rc == 0 && (!data || !*data)) rc = usage_error("synth-curves needs --data PATH or data.path=PATH", NULL);
    if (rc == 0) {
        if (bml_synth_curves_write(path ? path : data, &o, a->out, (size_t)points, &n) != BML_OK) rc = fail();
        else if (!a->quiet) printf("wrote %zu synthetic 0.1C discharge curves (%ld points each) to %s\n", n, points, a->out);
    }
    free(ids);
    free(path);
    free(base);
    bml_config_free(cfg);
    return rc;
}

static int cmd_plot(const args_t *a) {
    if (a->help) return fputs(PLOT_HELP, stdout), 0;
    if (a->n_positionals != 1) return usage_error("plot needs one RUN_DIR", NULL);
    int n = 0;
    char *skipped = NULL;
    int rc = bml_run_plot_noting(a->positional, &n, &skipped) != BML_OK ? fail() : 0;
    for (char *l = skipped, *e; !a->quiet && l && *l; l = e ? e + 1 : l + strlen(l)) { /* one file per line */
        e = strchr(l, '\n');
        printf("skipped %.*s\n", e ? (int)(e - l) : (int)strlen(l), l);
    }
    if (!a->quiet && rc == 0) printf("drew %d figures (PNG and SVG) into %s/figures\n", n, a->positional);
    free(skipped);
    return rc;
}

/* a directory written by run -m */
static int is_sweep_dir(const char *p) {
    size_t n = strlen(p) + 16;
    char *f = malloc(n);
    if (!f) return 0;
    snprintf(f, n, "%s/sweep.csv", p);
    int yes = access(f, F_OK) == 0;
    free(f);
    return yes;
}

static int cmd_report(const args_t *a) {
    if (a->help) return fputs(REPORT_HELP, stdout), 0;
    if (a->n_positionals != 1) return usage_error("report needs one RUN_DIR", NULL);
    char *def = NULL;
    const char *out = a->out;
    if (!out) {
        size_t l = strlen(a->positional) + 16;
        def = malloc(l);
        if (!def) return 1;
        snprintf(def, l, "%s/report.html", a->positional);
        out = def;
    }
    int rc = 0;
    if (is_sweep_dir(a->positional) ? bml_sweep_report(a->positional, a->sort, out) != BML_OK
                                    : bml_run_report(a->positional, out) != BML_OK)
        rc = fail();
    else if (!a->quiet) printf("wrote %s\n", out);
    free(def);
    return rc;
}

static int cmd_compare(const args_t *a) {
    if (a->help) return fputs(COMPARE_HELP, stdout), 0;
    if (a->n_positionals < 1) return usage_error("compare needs RUN_DIRs", NULL);
    char *table = NULL;
    if (a->n_positionals == 1 && is_sweep_dir(a->positional)) { /* a sweep: its jobs ranked by a metric */
        if (bml_sweep_compare(a->positional, a->sort, &table) != BML_OK) return fail();
        fputs(table, stdout);
        free(table);
        return 0;
    }
    if (a->sort) return usage_error("--sort is for a sweep directory (one with sweep.csv)", NULL);
    if (bml_run_compare(a->positionals, a->n_positionals, &table) != BML_OK) return fail();
    fputs(table, stdout);
    free(table);
    return 0;
}

static int cmd_config(const args_t *a) {
    if (a->help) return fputs(CONFIG_HELP, stdout), 0;
    if (a->n_positionals) return usage_error("config takes overrides (key=value), not", a->positional);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *y = bml_config_to_yaml(cfg);
    bml_config_free(cfg);
    if (!y) return out_of_memory();
    fputs(y, stdout);
    free(y);
    return 0;
}

static int cmd_features(const args_t *a) {
    if (a->help) return fputs(FEATURES_HELP, stdout), 0;
    if (!a->out) return usage_error("features needs --out FILE", NULL);
    if (a->n_positionals) return usage_error("features takes overrides (key=value), not", a->positional);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *base = base_dir_of(find_config_dir(a));
    if (!base) {
        bml_config_free(cfg);
        return out_of_memory();
    }
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    bml_status st = bml_run_load_data(cfg, base, NULL, 0, &ds);
    if (st == BML_OK) st = bml_run_build_samples(cfg, ds, 0, &s);
    if (st == BML_OK) st = bml_samples_write_csv(s, a->out);
    if (st == BML_OK && !a->quiet)
        printf("wrote %zu samples x %zu features + %zu targets of %zu cells to %s\n", s->n, s->n_features, s->n_targets,
               bml_dataset_n_cells(ds), a->out);
    bml_samples_free(s);
    bml_dataset_free(ds);
    bml_config_free(cfg);
    free(base);
    return st == BML_OK ? 0 : fail();
}

static int cmd_predict(const args_t *a) {
    if (a->help) return fputs(PREDICT_HELP, stdout), 0;
    if (!a->run || !a->data) return usage_error("predict needs --run RUN_DIR and --data PATH", NULL);
    if (a->n_positionals) return usage_error("unexpected argument", a->positional);
    const char *out = a->out ? a->out : "predictions.csv";
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .log = a->quiet ? NULL : log_line};
    char *metrics = NULL;
    if (bml_run_predict(a->run, a->data, a->fold, out, &o, &metrics) != BML_OK) return fail();
    if (metrics && !a->quiet) printf("metrics:\n%s\n", metrics);
    else if (!a->quiet) printf("(no metrics: some targets are missing in the new data)\n");
    free(metrics);
    return 0;
}

static void print_params(const bml_param_info *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        printf("      %-22s %-7s default %-10s %s\n", p[i].key, p[i].type, p[i].default_value, p[i].help);
}

static int cmd_list(const args_t *a) {
    if (a->help || !a->positional) return fputs(LIST_HELP, a->help ? stdout : stderr), a->help ? 0 : 2;
    if (a->n_positionals > 1) return usage_error("list takes one kind of component; unexpected", a->positionals[1]);
    bml_component_kind kind;
    if (bml_component_kind_parse(a->positional, &kind) != BML_OK)
        return usage_error("list what? (models, pipelines, splits, data, formats, trackers, losses, uncertainty), not",
                           a->positional);
    size_t width = 14;
    for (size_t i = 0; i < bml_component_count(kind); i++)
        if (strlen(bml_component_name(kind, i)) > width) width = strlen(bml_component_name(kind, i));
    for (size_t i = 0; i < bml_component_count(kind); i++) {
        const bml_param_info *p;
        printf("  %-*s %s\n", (int)width, bml_component_name(kind, i), bml_component_describe(kind, i));
        size_t n = bml_component_params(kind, i, &p);
        print_params(p, n);
    }
    return 0;
}

/* ---- structure: raw cycler exports -> per-cycle summary CSVs ---- */
static const char *STRUCTURE_HELP =
    "Usage: batteryml structure FILE_OR_DIR --out DIR [--jobs N] [format=auto|NAME (the formats below)]\n"
    "                           [v_min=2.5] [v_max=4.3] [grid=100] [ir_window_s=1] [ir_min_step_a=0.1]\n"
    "                           [capacity_rule=sum|largest_step]\n"
    "\n"
    "  --jobs N   files read at once, each on a core of its own (default 1); the same files, lines and\n"
    "             messages at any N\n"
    "  capacity_rule  a cycle's capacity and energy: the sum over its charge (discharge) steps (default), or\n"
    "             its largest single step, as BEEP's summary takes it (a step repeated within a cycle, as in\n"
    "             HPPC loops, counts once); with largest_step the integrals are those of that step\n"
    "\n"
    "Reads raw cycler exports (one file or a folder's files; the format detected from the content unless\n"
    "given) and writes, per cell, DIR/<cell>_cycles.csv (one row per cycle: charge and discharge capacity\n"
    "and energy, coulombic and energy efficiency, throughput so far, start, duration, temperature min/mean/\n"
    "max, resistance) and DIR/<cell>_curves.csv (each cycle's charge and discharge capacity on a voltage\n"
    "grid from v_min to v_max). The keys may be written data.KEY as in run.\n"
    "\n"
    "All cells or none: the files are written into a hidden folder (beside DIR, or inside DIR when it exists)\n"
    "and moved into place at the end; a file that does not read or a full disk leaves nothing. Into an\n"
    "existing DIR, files of the same names are replaced and other files left alone.\n"
    "\n"
    "A cycle whose capacity differs from the integral of its current by more than 2 % and 1e-4 Ah is named\n"
    "in a warning and in the capacity_check column. Formats (the registry):\n";

/* the help of structure, then one line per registered format (also for `batteryml help structure`) */
static void print_structure_help(FILE *f) {
    fputs(STRUCTURE_HELP, f);
    for (size_t i = 1; i <= bml_cycler_format_count(); i++)
        fprintf(f, "  %-14s %s\n", bml_cycler_format_name((bml_cycler_format)i), bml_cycler_format_describe((bml_cycler_format)i));
}

/* the line said after each file */
static void structure_line(const bml_cycler_structure_file *f, void *user) {
    const int quiet = *(const int *)user;
    const bml_cycler_meta *m = f->meta;
    /* said even with --quiet: a capacity that the current does not account for, counter falls held */
    if (f->capacity_warning) fprintf(stderr, "batteryml: warning: %s\n", f->capacity_warning);
    if (m->n_counter_drops)
        fprintf(stderr, "batteryml: note: %s: %zu fall(s) of a capacity or energy counter inside a step or half cycle "
                        "held as noise (the largest %.3g)\n", m->path, m->n_counter_drops, m->counter_drop_max);
    if (quiet) return;
    double s = f->seconds;
    printf("%s: %s, %zu rows, %zu cycles (%zu complete), %zu blank rows skipped%s%.0zu%s, %.1f MB in %.3f s (%.0f MB/s)\n",
           m->path, bml_cycler_format_name(m->format), m->n_points, f->n_cycles, f->n_complete, m->n_blank,
           m->n_stop ? ", " : "", m->n_stop, m->n_stop ? " closing STO rows left out" : "", m->mb_read, s,
           s > 0 ? m->mb_read / s : 0.0);
    fflush(stdout);
}

static int cmd_structure(const args_t *a) {
    if (a->help) return print_structure_help(stdout), 0;
    if (a->n_positionals != 1 || !a->out) return usage_error("structure needs one FILE_OR_DIR and --out DIR", NULL);
    bml_cycler_summary_opts o = bml_cycler_summary_defaults();
    bml_cycler_format fmt = BML_CYCLER_AUTO;
    for (size_t i = 0; i < a->n_overrides; i++) {
        const char *kv = a->overrides[i], *eq = strchr(kv, '=');
        const char *k = !strncmp(kv, "data.", 5) ? kv + 5 : kv, *v = eq + 1;
        size_t kn = (size_t)(eq - k);
        char *end = NULL;
        double x = strtod(v, &end);
        int num_ok = end && end != v && !*end;
        if (kn == 6 && !strncmp(k, "format", 6)) {
            if (bml_cycler_format_parse(v, &fmt) != BML_OK) return fail();
            continue;
        }
        double *dst = kn == 5 && !strncmp(k, "v_min", 5) ? &o.v_min : kn == 5 && !strncmp(k, "v_max", 5) ? &o.v_max
                    : kn == 11 && !strncmp(k, "ir_window_s", 11) ? &o.ir_window_s
                    : kn == 13 && !strncmp(k, "ir_min_step_a", 13) ? &o.ir_min_step_a : NULL;
        if (kn == 13 && !strncmp(k, "capacity_rule", 13)) {
            if (!strcmp(v, "sum")) o.capacity_rule = BML_CYCLER_CAPACITY_SUM;
            else if (!strcmp(v, "largest_step")) o.capacity_rule = BML_CYCLER_CAPACITY_LARGEST_STEP;
            else return usage_error("capacity_rule must be sum or largest_step, not", v);
            continue;
        }
        if (kn == 4 && !strncmp(k, "grid", 4)) {
            if (!num_ok || x < 2 || x > 1e6 || x != (double)(size_t)x) return usage_error("grid must be an integer >= 2, not", v);
            o.n_grid = (size_t)x;
        } else if (dst) {
            if (!num_ok) return usage_error("not a number", kv);
            *dst = x;
        } else {
            return usage_error("unknown key (valid: format, v_min, v_max, grid, ir_window_s, ir_min_step_a, capacity_rule)", kv);
        }
    }
    if (a->jobs) {
        long v;
        if (parse_option_count("--jobs", a->jobs, 1, 256, &v)) return 2;
        o.jobs = (int)v;
    }
    size_t n = 0, n_comp = 0;
    int quiet = a->quiet;
    if (bml_cycler_structure(a->positional, fmt, &o, a->out, structure_line, &quiet, &n, &n_comp) != BML_OK)
        return fail();
    if (!a->quiet) printf("%zu cell(s) written to %s (%zu companion file(s) not read as data)\n", n, a->out, n_comp);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_main_help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) return print_main_help(stdout), 0;
    if (!strcmp(cmd, "--version")) return printf("batteryml %s\n", BML_VERSION), 0;
    args_t a = {0};
    int rc = parse_args(argc, argv, 2, cmd, &a);
    const char *unused = rc == 0 && !a.help ? unused_option(&a, cmd) : NULL;
    if (unused) {
        fprintf(stderr, "batteryml: %s does not take %s\n(see batteryml help %s)\n", cmd, unused, cmd);
        rc = 2;
    } else if (rc == 0) {
        if (!strcmp(cmd, "run")) rc = cmd_run(&a, &argc, &argv);
        else if (!strcmp(cmd, "predict")) rc = cmd_predict(&a);
        else if (!strcmp(cmd, "features")) rc = cmd_features(&a);
        else if (!strcmp(cmd, "list")) rc = cmd_list(&a);
        else if (!strcmp(cmd, "config")) rc = cmd_config(&a);
        else if (!strcmp(cmd, "plot")) rc = cmd_plot(&a);
        else if (!strcmp(cmd, "synth-curves")) rc = cmd_synth(&a);
        else if (!strcmp(cmd, "report")) rc = cmd_report(&a);
        else if (!strcmp(cmd, "compare")) rc = cmd_compare(&a);
        else if (!strcmp(cmd, "structure")) rc = cmd_structure(&a);
        else if (!strcmp(cmd, "lr-find")) rc = cmd_lr_find(&a);
        else if (!strcmp(cmd, "help")) {
            const char *t = a.positional;
            const char *h = !t ? MAIN_HELP_TAIL : !strcmp(t, "run") ? RUN_HELP : !strcmp(t, "predict") ? PREDICT_HELP
                          : !strcmp(t, "features") ? FEATURES_HELP : !strcmp(t, "list") ? LIST_HELP
                          : !strcmp(t, "config") ? CONFIG_HELP : !strcmp(t, "plot") ? PLOT_HELP
                          : !strcmp(t, "report") ? REPORT_HELP : !strcmp(t, "compare") ? COMPARE_HELP
                          : !strcmp(t, "synth-curves") ? SYNTH_HELP : !strcmp(t, "structure") ? STRUCTURE_HELP
                          : !strcmp(t, "lr-find") ? LR_FIND_HELP : NULL;
            if (a.n_positionals > 1) rc = usage_error("help takes one command; unexpected", a.positionals[1]);
            else if (!t) rc = (print_main_help(stdout), 0);
            else if (h == STRUCTURE_HELP) rc = (print_structure_help(stdout), 0);
            else rc = h ? (fputs(h, stdout), 0) : usage_error("no such command", t);
        } else rc = usage_error("unknown command", cmd);
    }
    free(a.overrides);
    free(a.positionals);
    return rc;
}
