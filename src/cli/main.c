/* batteryml: the command-line program, built on the public C API only. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batteryml/batteryml.h"

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
    "  report    write one self-contained HTML page for a saved run\n"
    "  compare   print the metrics of several runs side by side\n"
    "  list      list models, pipelines, splits or losses and their parameters\n"
    "  config    print the composed configuration\n"
    "  help      help on a command (batteryml help run)\n"
    "\n"
    "Overrides (Hydra-style): group=option (model=lgbm, split=loco), group.key=value\n"
    "(model.learning_rate=0.01, data.experiment=5), key=value (seed=7), +group.key=value adds a key.\n"
    "\n"
    "Options for every command:\n"
    "  --config-dir DIR   configuration directory (default: $BATTERYML_CONFIG_DIR, ./configs, or the\n"
    "                     one shipped with the source tree)\n"
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

static const char *RUN_HELP =
    "Usage: batteryml run [--config-file FILE] [--config-dir DIR] [-q] [overrides]\n"
    "\n"
    "Composes configs/config.yaml with its defaults (data, pipeline, model, split, loss, tracking) and\n"
    "the overrides, then runs the study and writes a run directory under output_dir (default runs/):\n"
    "  config.yaml      the resolved configuration (batteryml run --config-file it reproduces the run)\n"
    "  metrics.json     RMSE, MAE, MAPE, R2, max abs error: overall, per temperature, per cell, per fold\n"
    "  predictions.csv  meta, truth and prediction of every evaluated sample\n"
    "  shap.csv         TreeSHAP values (+ expected value) per evaluated sample and target (lgbm)\n"
    "  importance.csv   gain, total gain, split count and mean |SHAP| per feature (lgbm)\n"
    "  step_metrics.csv per-epoch train loss, validation loss and learning rate (neural models)\n"
    "  attention.csv    head-averaged attention weights per evaluated cell (lstm_attn, cnn_lstm, acla)\n"
    "  latent.csv       latent state at every step of each evaluated cell (neural_ode, acla)\n"
    "  model/           the model (model/<fold>/ for LOCO) with its preprocessing\n"
    "The directory appears only when complete. --config-file FILE runs a resolved config.yaml.\n";

static const char *PREDICT_HELP =
    "Usage: batteryml predict --run RUN_DIR --data PATH [--fold NAME] [--out FILE]\n"
    "\n"
    "Applies a saved run's model to new data: a Performance Summary file, a folder of them (flat or the\n"
    "original Oxford tree), or a table CSV for runs on data=table. Writes predictions (meta, truth,\n"
    "prediction) to FILE (default predictions.csv) and prints metrics when every target is present.\n"
    "Runs with one model per fold (LOCO) need --fold (a folder name under RUN_DIR/model/).\n";

static const char *FEATURES_HELP =
    "Usage: batteryml features --out FILE [--config-dir DIR] [overrides]\n"
    "\n"
    "Loads the configured data, runs the configured pipeline and writes its feature table as CSV:\n"
    "experiment, cell, temperature_c, set_index, cycle, days, throughput_ah, the features, the targets.\n"
    "Missing values are empty fields.\n";

static const char *LIST_HELP =
    "Usage: batteryml list models|pipelines|splits|losses\n"
    "\n"
    "Lists the registered components with their parameters and defaults.\n";

static const char *PLOT_HELP =
    "Usage: batteryml plot RUN_DIR\n"
    "\n"
    "Draws the figures of a saved run from its files into RUN_DIR/figures/ as PNG and SVG: prediction vs\n"
    "truth and the measured and predicted fade of each evaluated cell (per target); SHAP summary (beeswarm),\n"
    "waterfall and importance bars (lgbm); attention heatmap and attention over time (sequence models);\n"
    "training curves (neural models). `batteryml run` draws them too unless figures=false.\n";

static const char *REPORT_HELP =
    "Usage: batteryml report RUN_DIR [--out FILE]\n"
    "\n"
    "Writes one self-contained HTML page (default RUN_DIR/report.html): the study, metrics tables (overall,\n"
    "per temperature, per cell, over folds), the figures embedded, the resolved configuration. It opens in a\n"
    "browser with no server.\n";

static const char *COMPARE_HELP =
    "Usage: batteryml compare RUN_DIR RUN_DIR...\n"
    "\n"
    "Prints the overall metrics of the runs side by side, one line per run and target, with the mean and\n"
    "standard deviation of the RMSE over folds for LOCO runs.\n";

static const char *SYNTH_HELP =
    "Usage: batteryml synth-curves --out DIR [--data PATH] [--points N] [data.experiment=...]\n"
    "\n"
    "For every row of the Performance Summary files at PATH (default: the configured data.path), writes the\n"
    "0.1C pseudo-OCV discharge curve its fitted electrode state implies (cell voltage = U_PE - U_NE over\n"
    "the stoichiometry windows, LG M50 potentials, graphite-silicon negative electrode) in the Oxford\n"
    "timeseries format and folder layout, with the summary files beside them. Use them with\n"
    "data=oxford_curves data.path=DIR pipeline=ica_peaks.\n";

static const char *CONFIG_HELP =
    "Usage: batteryml config [--config-file FILE] [--config-dir DIR] [overrides]\n"
    "\n"
    "Prints the composed configuration as YAML without running anything.\n";

typedef struct {
    const char *config_dir, *config_file, *out, *run, *data, *fold, *points;
    int quiet, help, verbose;
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

static int fail(void) {
    fprintf(stderr, "batteryml: error: %s\n", bml_last_error());
    return 1;
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

static int parse_args(int argc, char **argv, int first, args_t *a) {
    a->overrides = calloc((size_t)argc + 1, sizeof *a->overrides);
    a->positionals = calloc((size_t)argc + 1, sizeof *a->positionals);
    if (!a->overrides || !a->positionals) return usage_error("out of memory", NULL);
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
        } else if (strchr(s, '=')) {
            a->overrides[a->n_overrides++] = s;
            continue;
        } else {
            if (!a->positional) a->positional = s;
            a->positionals[a->n_positionals++] = s;
            continue;
        }
        if (i + 1 >= argc) return usage_error("option needs a value", s);
        *slot = argv[++i];
    }
    return 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --config-dir, $BATTERYML_CONFIG_DIR, ./configs, the source tree's configs */
static const char *find_config_dir(const args_t *a) {
    if (a->config_dir) return a->config_dir;
    const char *env = getenv("BATTERYML_CONFIG_DIR");
    if (env && *env) return env;
    if (is_dir("configs") && access("configs/config.yaml", R_OK) == 0) return "configs";
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

static int cmd_run(const args_t *a) {
    if (a->help) return fputs(RUN_HELP, stdout), 0;
    if (a->n_positionals) return usage_error("run takes overrides (key=value), not", a->positional);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *base = base_dir_of(find_config_dir(a));
    bml_run_opts o = {base, a->quiet ? NULL : log_line, NULL, 1, NULL, NULL};
    if (a->verbose && !a->quiet) o.progress = epoch_line;
    else if (!a->quiet && isatty(fileno(stderr))) o.progress = progress_line;
    bml_run_result *r;
    bml_status st = bml_run_experiment(cfg, &o, &r);
    free(base);
    bml_config_free(cfg);
    if (st != BML_OK) return fail();
    if (a->quiet) printf("%s\n", r->run_dir);
    bml_run_result_free(r);
    return 0;
}

static int cmd_synth(const args_t *a) {
    if (a->help) return fputs(SYNTH_HELP, stdout), 0;
    if (!a->out) return usage_error("synth-curves needs --out DIR", NULL);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *base = base_dir_of(find_config_dir(a));
    const char *data = a->data ? a->data : bml_config_get(cfg, "data.path");
    char *path = NULL;
    if (data && data[0] != '/' && access(data, F_OK) != 0 && base) {
        size_t l = strlen(base) + strlen(data) + 2;
        path = malloc(l);
        if (path) snprintf(path, l, "%s/%s", base, data);
    }
    long points = 1500;
    if (a->points) points = atol(a->points);
    const char *ex = bml_config_get(cfg, "data.experiment");
    int ids[8], n_ids = 0;
    if (ex && strcmp(ex, "all")) {
        for (const char *p = ex; *p && n_ids < 8; p++)
            if (*p >= '1' && *p <= '5') ids[n_ids++] = *p - '0';
    }
    bml_oxford_opts o = {ids, (size_t)n_ids};
    size_t n = 0;
    int rc = 0;
    if (points < 10) rc = usage_error("--points must be at least 10", a->points);
    else if (bml_synth_curves_write(path ? path : data, &o, a->out, (size_t)points, &n) != BML_OK) rc = fail();
    else if (!a->quiet) printf("wrote %zu synthetic 0.1C discharge curves (%ld points each) to %s\n", n, points, a->out);
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
    if (bml_run_report(a->positional, out) != BML_OK) rc = fail();
    else if (!a->quiet) printf("wrote %s\n", out);
    free(def);
    return rc;
}

static int cmd_compare(const args_t *a) {
    if (a->help) return fputs(COMPARE_HELP, stdout), 0;
    if (a->n_positionals < 1) return usage_error("compare needs RUN_DIRs", NULL);
    char *table = NULL;
    if (bml_run_compare(a->positionals, a->n_positionals, &table) != BML_OK) return fail();
    fputs(table, stdout);
    free(table);
    return 0;
}

static int cmd_config(const args_t *a) {
    if (a->help) return fputs(CONFIG_HELP, stdout), 0;
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *y = bml_config_to_yaml(cfg);
    fputs(y ? y : "", stdout);
    free(y);
    bml_config_free(cfg);
    return 0;
}

static int cmd_features(const args_t *a) {
    if (a->help) return fputs(FEATURES_HELP, stdout), 0;
    if (!a->out) return usage_error("features needs --out FILE", NULL);
    if (a->n_positionals) return usage_error("features takes overrides (key=value), not", a->positional);
    bml_config *cfg;
    if (load_config(a, &cfg) != BML_OK) return fail();
    char *base = base_dir_of(find_config_dir(a));
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
    bml_run_opts o = {NULL, a->quiet ? NULL : log_line, NULL, 0, NULL, NULL};
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
    const char *what = a->positional;
    const bml_param_info *p;
    if (!strcmp(what, "models")) {
        for (size_t i = 0; i < bml_model_registry_count(); i++) {
            printf("  %-14s %s\n", bml_model_registry_name(i), bml_model_registry_describe(i));
            size_t n = bml_model_registry_params(i, &p);
            print_params(p, n);
        }
    } else if (!strcmp(what, "pipelines")) {
        for (size_t i = 0; i < bml_pipeline_registry_count(); i++) {
            printf("  %-14s %s\n", bml_pipeline_registry_name(i), bml_pipeline_registry_describe(i));
            size_t n = bml_pipeline_registry_params(i, &p);
            print_params(p, n);
        }
    } else if (!strcmp(what, "splits")) {
        for (size_t i = 0; i < bml_split_registry_count(); i++) {
            printf("  %-20s %s\n", bml_split_registry_name(i), bml_split_registry_describe(i));
            size_t n = bml_split_registry_params(i, &p);
            print_params(p, n);
        }
    } else if (!strcmp(what, "losses")) {
        char *dir = NULL;
        const char *cd = find_config_dir(a);
        size_t n = strlen(cd) + 8;
        dir = malloc(n);
        if (!dir) return 1;
        snprintf(dir, n, "%s/loss", cd);
        DIR *d = opendir(dir);
        free(dir);
        if (!d) return fprintf(stderr, "batteryml: error: no loss configs in %s\n", cd), 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) printf("  %.*s\n", (int)(l - 5), e->d_name);
        }
        closedir(d);
    } else {
        return usage_error("list what? (models, pipelines, splits, losses), not", what);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(MAIN_HELP, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) return fputs(MAIN_HELP, stdout), 0;
    if (!strcmp(cmd, "--version")) return printf("batteryml %s\n", BML_VERSION), 0;
    args_t a = {0};
    int rc = parse_args(argc, argv, 2, &a);
    if (rc == 0) {
        if (!strcmp(cmd, "run")) rc = cmd_run(&a);
        else if (!strcmp(cmd, "predict")) rc = cmd_predict(&a);
        else if (!strcmp(cmd, "features")) rc = cmd_features(&a);
        else if (!strcmp(cmd, "list")) rc = cmd_list(&a);
        else if (!strcmp(cmd, "config")) rc = cmd_config(&a);
        else if (!strcmp(cmd, "plot")) rc = cmd_plot(&a);
        else if (!strcmp(cmd, "synth-curves")) rc = cmd_synth(&a);
        else if (!strcmp(cmd, "report")) rc = cmd_report(&a);
        else if (!strcmp(cmd, "compare")) rc = cmd_compare(&a);
        else if (!strcmp(cmd, "help")) {
            const char *t = a.positional;
            const char *h = !t ? MAIN_HELP : !strcmp(t, "run") ? RUN_HELP : !strcmp(t, "predict") ? PREDICT_HELP
                          : !strcmp(t, "features") ? FEATURES_HELP : !strcmp(t, "list") ? LIST_HELP
                          : !strcmp(t, "config") ? CONFIG_HELP : !strcmp(t, "plot") ? PLOT_HELP
                          : !strcmp(t, "report") ? REPORT_HELP : !strcmp(t, "compare") ? COMPARE_HELP
                          : !strcmp(t, "synth-curves") ? SYNTH_HELP : NULL;
            rc = h ? (fputs(h, stdout), 0) : usage_error("no such command", t);
        } else rc = usage_error("unknown command", cmd);
    }
    free(a.overrides);
    free(a.positionals);
    return rc;
}
