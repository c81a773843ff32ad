/* The registry of data sources (data.name): each reads its own data.* keys into typed options — part of the
 * study's resolver, the only reader of the configuration — and loads data.path with them. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "data/cycler_life.h"
#include "run/study.h"


/* ------------------------------------------------------------------ oxford, oxford_curves */
typedef struct {
    int *ids; /* NULL: every experiment */
    size_t n;
} oxford_opts;

static void oxford_free(void *o) {
    if (!o) return;
    free(((oxford_opts *)o)->ids);
    free(o);
}

/* data.experiment: `all` (absent: all) or one Oxford experiment number 1-5 or a non-empty list of them */
static bml_status oxford_resolve(const bml_config *cfg, void **out) {
    oxford_opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    const char *ex = bml_config_get(cfg, "data.experiment");
    if (!ex || !strcmp(ex, "all")) return BML_OK;
    long *l = NULL;
    size_t nl = 0;
    if (bml_config_get_long_list(cfg, "data.experiment", 1, 5, &l, &nl) != BML_OK)
        return bml__fail_prefix(BML_ERR_VALUE, "data.experiment must be all, an Oxford experiment 1-5 or a non-empty list of them");
    o->ids = bml__calloc(nl, sizeof *o->ids);
    if (!o->ids) {
        free(l);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nl; i++) o->ids[i] = (int)l[i]; /* in 1-5: checked */
    o->n = nl;
    free(l);
    return BML_OK;
}

static bml_status oxford_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)cancel; /* a quick read: nothing to stop */
    (void)targets_optional;
    const oxford_opts *o = opts;
    bml_oxford_opts x = {.version = BML_OXFORD_OPTS_VERSION, .experiments = o->ids, .n_experiments = o->n};
    return bml_dataset_load_oxford(path, &x, out);
}

static bml_status oxford_curves_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)cancel; /* a quick read: nothing to stop */
    (void)targets_optional;
    const oxford_opts *o = opts;
    bml_oxford_opts x = {.version = BML_OXFORD_OPTS_VERSION, .experiments = o->ids, .n_experiments = o->n};
    return bml_dataset_load_oxford_curves(path, &x, out);
}

static const bml_param_info OXFORD_PARAMS[] = {
    {"path", "string", "data/oxford-lgm50t", "the folder of the Oxford Performance Summary CSVs"},
    {"experiment", "list", "5", "1, 2, 3, 5, a list [1, 5], or all"},
};
static const bml_param_info OXFORD_CURVES_PARAMS[] = {
    {"path", "string", "data/synthetic-curves", "the folder of the voltage curves"},
    {"experiment", "list", "5", "1, 2, 3, 5, a list [1, 5], or all"},
};

/* ------------------------------------------------------------------ table */
typedef struct {
    bml__strvec features, targets;
    const char *cell, *temperature, *time, *experiment; /* point into the plan's configuration */
    bml_role_column named[BML_ROLE_FEATURE];             /* data.<role>_column: the named roles' columns */
    size_t n_named;
} table_opts;

static void table_free(void *p) {
    table_opts *o = p;
    if (!o) return;
    bml__strvec_free(&o->features);
    bml__strvec_free(&o->targets);
    free(o);
}

static bml_status table_resolve(const bml_config *cfg, void **out) {
    table_opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    if (bml__parse_string_list(bml__study_get(cfg, "data.features", ""), &o->features) != 0 ||
        bml__parse_string_list(bml__study_get(cfg, "data.targets", ""), &o->targets) != 0)
        return bml__fail(BML_ERR_VALUE, "data.features and data.targets must be lists of column names");
    o->cell = bml__study_get(cfg, "data.cell_column", NULL);
    o->temperature = bml__study_get(cfg, "data.temperature_column", NULL);
    o->time = bml__study_get(cfg, "data.time_column", NULL);
    o->experiment = bml__study_get(cfg, "data.experiment_column", NULL);
    /* the further named roles (data.soh_column, data.resistance_ohm_column, ...); time is data.time_column */
    for (int r = 0; r < BML_ROLE_FEATURE; r++) {
        if (r == BML_ROLE_TIME) continue;
        char *key = bml__sprintf("data.%s_column", bml_role_name((bml_role)r));
        if (!key) return bml__fail(BML_ERR_NOMEM, "out of memory");
        const char *col = bml__study_get(cfg, key, NULL);
        free(key);
        if (col && *col) o->named[o->n_named++] = (bml_role_column){(bml_role)r, col};
    }
    return BML_OK;
}

static bml_status table_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)cancel; /* a quick read: nothing to stop */
    const table_opts *o = opts;
    bml_table_roles r = {
        .version = BML_TABLE_ROLES_VERSION,
        .cell_column = o->cell,
        .temperature_column = o->temperature,
        .time_column = o->time,
        .experiment_column = o->experiment,
        .features = (const char *const *)o->features.items,
        .n_features = o->features.n,
        .targets = (const char *const *)o->targets.items,
        .n_targets = o->targets.n,
        .targets_optional = targets_optional,
    };
    return bml_dataset_load_table_named(path, &r, o->named, o->n_named, out);
}

static const bml_param_info TABLE_PARAMS[] = {
    {"path", "string", "tests/data/table_small.csv", "the CSV file"},
    {"cell_column", "string", "", "column of the cell id"},
    {"temperature_column", "string", "", "column of the temperature (°C)"},
    {"time_column", "string", "", "column of the time axis (e.g. days)"},
    {"experiment_column", "string", "", "column of the experiment number"},
    {"features", "list", "[]", "feature columns"},
    {"targets", "list", "[]", "target columns"},
    /* the further named roles (the time axis is time_column), read by the pipelines that read roles */
    {"set_index_column", "string", "", "column of the ageing set / cycle index (role set_index, for summary_set)"},
    {"cycle_column", "string", "", "column of the cycles done (role cycle)"},
    {"temperature_measured_c_column", "string", "", "column of the measured temperature, °C (role temperature_measured_c)"},
    {"throughput_ah_column", "string", "", "column of the charge throughput, Ah (role throughput_ah, a summary_set feature)"},
    {"energy_wh_column", "string", "", "column of the energy throughput, Wh (role energy_wh)"},
    {"resistance_ohm_column", "string", "", "column of the resistance, Ohm (role resistance_ohm, a summary_set feature)"},
    {"capacity_ah_column", "string", "", "column of the capacity, Ah (role capacity_ah, summary_set target=capacity)"},
    {"soh_column", "string", "", "column of the state of health (role soh, summary_set target=soh)"},
    {"lam_ne_column", "string", "", "column of the LAM of the negative electrode (role lam_ne, target=modes)"},
    {"lam_pe_column", "string", "", "column of the LAM of the positive electrode (role lam_pe, target=modes)"},
    {"lli_column", "string", "", "column of the loss of lithium inventory (role lli, target=modes)"},
};

/* ------------------------------------------------------------------ basytec */
typedef struct {
    long step, cycle;
} basytec_opts;

static bml_status basytec_resolve(const bml_config *cfg, void **out) {
    basytec_opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    o->step = 13, o->cycle = 0;
    BML__TRY(bml_config_get_long(cfg, "data.step", 0, INT_MAX, &o->step));
    return bml_config_get_long(cfg, "data.cycle", 0, INT_MAX, &o->cycle);
}

static bml_status basytec_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)cancel; /* a quick read: nothing to stop */
    (void)targets_optional;
    const basytec_opts *o = opts;
    return bml_dataset_load_basytec(path, (int)o->step, (int)o->cycle, out);
}

static const bml_param_info BASYTEC_PARAMS[] = {
    {"path", "string", "data/lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv", "the Basytec export"},
    {"step", "int", "13", "the step of the slow discharge"},
    {"cycle", "int", "0", "the cycle (0: every cycle)"},
};

/* ------------------------------------------------------------------ curve_table */
typedef struct {
    bml_curve_columns cc; /* strings point into the plan's configuration */
} curve_table_opts;

static bml_status curve_table_resolve(const bml_config *cfg, void **out) {
    curve_table_opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    double temp = NAN;
    const char *ts = bml__study_get(cfg, "data.temperature_c", "");
    if (*ts && bml__parse_double(ts, &temp)) return bml__fail(BML_ERR_VALUE, "data.temperature_c must be a number");
    o->cc = (bml_curve_columns){.version = BML_CURVE_COLUMNS_VERSION,
                                .capacity_column = bml__study_get(cfg, "data.capacity_column", "capacity"),
                                .voltage_column = bml__study_get(cfg, "data.voltage_column", "voltage"),
                                .name_pattern = bml__study_get(cfg, "data.name_pattern", "cell_([0-9]+)_cyc_([0-9]+)"),
                                .temperature_c = temp};
    return BML_OK;
}

static bml_status curve_table_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)cancel; /* a quick read: nothing to stop */
    (void)targets_optional;
    return bml_dataset_load_curve_table(path, &((const curve_table_opts *)opts)->cc, out);
}

static const bml_param_info CURVE_TABLE_PARAMS[] = {
    {"path", "string", "data/fast-formation-c20", "the folder of curve tables"},
    {"capacity_column", "string", "capacity", "column of the capacity (Ah)"},
    {"voltage_column", "string", "voltage", "column of the voltage (V)"},
    {"name_pattern", "string", "cell_([0-9]+)_cyc_([0-9]+)", "file names: a regular expression of cell and cycle"},
    {"temperature_c", "double", "", "the temperature of every cell (°C)"},
};

/* ------------------------------------------------------------------ cycler */
typedef struct {
    bml_cycler_format format;
    bml_cycler_summary_opts summary;
    bml_cycler_cells cells; /* strings point into the plan's configuration */
    double ica_rate;        /* > 0: the measured discharge curves of cycles slower than this C-rate */
} cycler_opts;

static bml_status cfg_number(const bml_config *cfg, const char *key, double *x) {
    const char *v = bml_config_get(cfg, key);
    if (!v || !*v) return BML_OK;
    if (bml__parse_double(v, x) != 0) return bml__fail(BML_ERR_VALUE, "%s must be a number, got '%s'", key, v);
    return BML_OK;
}

/* data.format and data.capacity_rule, as data=cycler and data=cycler_life both read their files */
static bml_status cycler_file_settings(const bml_config *cfg, bml_cycler_format *format, bml_cycler_summary_opts *summary) {
    const char *f = bml_config_get(cfg, "data.format");
    if (f && *f) BML__TRY(bml_cycler_format_parse(f, format));
    const char *rule = bml_config_get(cfg, "data.capacity_rule");
    if (rule && *rule && !strcmp(rule, "largest_step")) summary->capacity_rule = BML_CYCLER_CAPACITY_LARGEST_STEP;
    else if (rule && *rule && strcmp(rule, "sum"))
        return bml__fail(BML_ERR_VALUE, "data.capacity_rule must be sum or largest_step, got '%s'", rule);
    return BML_OK;
}

static bml_status cycler_resolve(const bml_config *cfg, void **out) {
    cycler_opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    o->summary = bml_cycler_summary_defaults();
    o->format = BML_CYCLER_AUTO;
    BML__TRY(cycler_file_settings(cfg, &o->format, &o->summary));
    double grid = (double)o->summary.n_grid;
    BML__TRY(cfg_number(cfg, "data.v_min", &o->summary.v_min));
    BML__TRY(cfg_number(cfg, "data.v_max", &o->summary.v_max));
    BML__TRY(cfg_number(cfg, "data.grid", &grid));
    BML__TRY(cfg_number(cfg, "data.ir_window_s", &o->summary.ir_window_s));
    BML__TRY(cfg_number(cfg, "data.ir_min_step_a", &o->summary.ir_min_step_a));
    if (!(grid >= 2 && grid <= 1e6 && grid == floor(grid)))
        return bml__fail(BML_ERR_VALUE, "data.grid must be an integer from 2 to 1000000, got %g", grid);
    o->summary.n_grid = (size_t)grid;
    const char *ref = bml_config_get(cfg, "data.soh_reference"), *from = bml_config_get(cfg, "data.cell_from");
    o->cells = (bml_cycler_cells){.version = BML_CYCLER_CELLS_VERSION, .soh_reference = ref && *ref ? ref : NULL, .cell_from = from && *from ? from : NULL};
    /* data.ica_cycles: "none" (a row per cycle) or "c_rate<X" (the measured discharge curves of the slow cycles) */
    const char *ica = bml_config_get(cfg, "data.ica_cycles");
    if (ica && *ica && strcmp(ica, "none")) {
        double rate;
        if (strncmp(ica, "c_rate<", 7) || bml__parse_double(ica + 7, &rate) != 0 || !(rate > 0))
            return bml__fail(BML_ERR_VALUE, "data.ica_cycles must be none or c_rate<X with X > 0 (c_rate<0.2: C/5), got '%s'",
                             ica);
        o->ica_rate = rate;
    }
    return BML_OK;
}

static bml_status cycler_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)targets_optional;
    const cycler_opts *o = opts;
    bml_cycler_summary_opts so = o->summary;
    so.cancel = cancel; /* a folder of large exports: the run's flag stops the read within a few thousand rows */
    so.jobs = bml__parallel_thread_budget(); /* a folder's files on the run's cores (the same dataset at any count) */
    if (so.jobs <= 0) so.jobs = bml_parallel_cores();
    if (o->ica_rate > 0) return bml_dataset_load_cycler_curves(path, o->format, &so, o->ica_rate, &o->cells, out);
    return bml_dataset_load_cycler(path, o->format, &so, &o->cells, NULL, out);
}

static const bml_param_info CYCLER_PARAMS[] = {
    {"path", "string", "", "a cycler export or a folder of them"},
    {"format", "string", "auto", "auto (detected from the content) or a registered format (batteryml list formats)"},
    {"cell_from", "string", "file", "the cell id: file (its name) | barcode | channel"},
    {"soh_reference", "string", "first_cycle", "first_cycle | nominal (from the file)"},
    {"v_min", "double", "2.5", "voltage grid of the per-cycle curves (V)"},
    {"v_max", "double", "4.3", "voltage grid of the per-cycle curves (V)"},
    {"grid", "int", "100", "points of the voltage grid"},
    {"ir_window_s", "double", "1.0", "resistance from a current step: dV/dI over this window (s)"},
    {"ir_min_step_a", "double", "0.1", "smallest current step that counts (A)"},
    {"capacity_rule", "string", "sum", "a cycle's capacity: sum (of its steps) | largest_step (BEEP's rule)"},
    {"ica_cycles", "string", "none", "none: one row per cycle | c_rate<X: the measured discharge curves of slower cycles"},
    {"experiment", "string", "all", "(read by the study's log line)"},
};

/* ------------------------------------------------------------------ qdlin */
static bml_status qdlin_resolve(const bml_config *cfg, void **out) {
    bml_qdlin_opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    bml_qdlin_opts_default(o);
    o->index = bml__study_get(cfg, "data.index", NULL);
    static const char *const dkeys[2] = {"data.v_start", "data.v_end"};
    double *dv[2] = {&o->v_start, &o->v_end};
    for (int k = 0; k < 2; k++) {
        const char *v = bml__study_get(cfg, dkeys[k], NULL);
        if (v && bml__parse_double(v, dv[k])) return bml__fail(BML_ERR_VALUE, "%s must be a number (V), got '%s'", dkeys[k], v);
    }
    static const char *const lkeys[4] = {"data.points", "data.cycles", "data.first_cycle", "data.transposed"};
    long lv[4] = {(long)o->n_points, (long)o->n_cycles, o->first_cycle, o->transposed};
    static const long lmin[4] = {2, 0, 0, 0}, lmax[4] = {100000000, 100000000, 100000000, 1};
    for (int k = 0; k < 4; k++) {
        const char *v = bml__study_get(cfg, lkeys[k], NULL);
        if (k == 3 && v && (!strcmp(v, "true") || !strcmp(v, "false"))) lv[k] = !strcmp(v, "true");
        else if (v) BML__TRY(bml_config_get_long(cfg, lkeys[k], lmin[k], lmax[k], &lv[k]));
    }
    o->n_points = (size_t)lv[0], o->n_cycles = (size_t)lv[1], o->first_cycle = (int)lv[2], o->transposed = (int)lv[3];
    return BML_OK;
}

static bml_status qdlin_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)cancel; /* a quick read: nothing to stop */
    BML__TRY(bml_dataset_load_qdlin(path, opts, out));
    /* a folder without an index (or with every life empty) is new cells to predict: nothing to train on */
    size_t known = 0;
    for (size_t i = 0; i < bml_dataset_n_cells(*out); i++) known += !isnan(bml_dataset_cell_life(*out, i));
    if (known || targets_optional) return BML_OK;
    bml_dataset_free(*out);
    *out = NULL;
    return bml__fail(BML_ERR_EMPTY,
                     "%s: no cell with a known cycle life (an index, cells.csv or <split>_cycle_lives.csv, gives them): "
                     "cells without one can only be predicted (batteryml predict)", path);
}

static const bml_param_info QDLIN_PARAMS[] = {
    {"path", "string", "data/severson2019", "the folder of per-cell Qdlin matrices"},
    {"index", "string", "", "\"\": cells.csv, else every <split>_cycle_lives.csv; or a file name in the folder"},
    {"v_start", "double", "3.6", "voltage of the first grid point (V)"},
    {"v_end", "double", "2.0", "voltage of the last grid point (V)"},
    {"points", "int", "1000", "grid points"},
    {"cycles", "int", "99", "cycle columns per file (0: as the first file has)"},
    {"first_cycle", "int", "2", "cycle number of the first column"},
    {"transposed", "bool", "false", "true: rows are cycles, columns the grid"},
};

/* ------------------------------------------------------------------ cycler_life */
static bml_status cycler_life_resolve(const bml_config *cfg, void **out) {
    bml__cycler_life_opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    bml__cycler_life_opts_default(o);
    BML__TRY(cycler_file_settings(cfg, &o->format, &o->summary));
    o->cell_from = bml__study_get(cfg, "data.cell_from", NULL);
    if (o->cell_from && *o->cell_from && strcmp(o->cell_from, "file") && strcmp(o->cell_from, "barcode") && strcmp(o->cell_from, "channel"))
        return bml__fail(BML_ERR_VALUE, "data.cell_from must be file, barcode or channel, got '%s'", o->cell_from);
    o->index = bml__study_get(cfg, "data.index", NULL);
    BML__TRY(cfg_number(cfg, "data.v_start", &o->v_start));
    BML__TRY(cfg_number(cfg, "data.v_end", &o->v_end));
    BML__TRY(cfg_number(cfg, "data.life_threshold_fraction", &o->threshold_fraction));
    double nominal = 0;
    BML__TRY(cfg_number(cfg, "data.life_nominal_ah", &nominal));
    o->nominal_ah = nominal > 0 ? nominal : NAN;
    if (nominal < 0) return bml__fail(BML_ERR_VALUE, "data.life_nominal_ah must be a positive capacity in Ah (0: the file's nominal)");
    static const char *const lkeys[4] = {"data.points", "data.cycles", "data.first_cycle", "data.life_initial_cycles"};
    long lv[4] = {(long)o->n_points, (long)o->n_cycles, o->first_cycle, (long)o->initial_cycles};
    static const long lmin[4] = {2, 1, 0, 1}, lmax[4] = {100000000, 100000000, 100000000, 100000000};
    for (int k = 0; k < 4; k++)
        if (bml_config_get(cfg, lkeys[k])) BML__TRY(bml_config_get_long(cfg, lkeys[k], lmin[k], lmax[k], &lv[k]));
    o->n_points = (size_t)lv[0], o->n_cycles = (size_t)lv[1], o->first_cycle = lv[2], o->initial_cycles = (size_t)lv[3];
    const char *ref = bml__study_get(cfg, "data.life_reference", "initial");
    if (!strcmp(ref, "nominal")) o->reference = BML__LIFE_REF_NOMINAL;
    else if (strcmp(ref, "initial"))
        return bml__fail(BML_ERR_VALUE, "data.life_reference must be initial (the mean of the first data.life_initial_cycles cycles) "
                                        "or nominal, got '%s'", ref);
    if (!(o->threshold_fraction > 0 && o->threshold_fraction <= 1))
        return bml__fail(BML_ERR_VALUE, "data.life_threshold_fraction must be in (0, 1], got %g", o->threshold_fraction);
    return BML_OK;
}

static bml_status cycler_life_load(const void *opts, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    bml__cycler_life_opts o = *(const bml__cycler_life_opts *)opts;
    o.index_partial = targets_optional; /* predict: new cells need not be in the study's index */
    o.summary.cancel = cancel; /* a folder of large exports: the run's flag stops the read */
    o.summary.jobs = bml__parallel_thread_budget(); /* the files on the run's cores (the same dataset at any count) */
    if (o.summary.jobs <= 0) o.summary.jobs = bml_parallel_cores();
    return bml__dataset_load_cycler_life(path, &o, out);
}

static const bml_param_info CYCLER_LIFE_PARAMS[] = {
    {"path", "string", "", "a cycler export or a folder of them (one cell per file)"},
    {"format", "string", "auto", "auto (detected from the content) or a registered format (batteryml list formats)"},
    {"cell_from", "string", "file", "the cell id: file (its name) | barcode | channel"},
    {"capacity_rule", "string", "sum", "a cycle's capacity: sum (of its steps) | largest_step (BEEP's rule)"},
    {"index", "string", "", "\"\": every cell in no set; else a CSV with columns cell, split (split=predefined's sets)"},
    {"v_start", "double", "3.6", "voltage of the first grid point (V)"},
    {"v_end", "double", "2.0", "voltage of the last grid point (V)"},
    {"points", "int", "1000", "grid points"},
    {"cycles", "int", "99", "cycles of the Q(V) matrix, from first_cycle"},
    {"first_cycle", "int", "2", "the matrix's first cycle (the cycler's own cycle index)"},
    {"life_threshold_fraction", "double", "0.8", "cycle life: the first cycle at or below this fraction of the reference"},
    {"life_reference", "string", "initial", "initial (mean of the first life_initial_cycles cycles) | nominal"},
    {"life_nominal_ah", "double", "0", "the nominal capacity for life_reference=nominal (Ah; 0: the file's)"},
    {"life_initial_cycles", "int", "5", "cycles averaged for life_reference=initial"},
    {"experiment", "string", "all", "(read by the study's log line)"},
};

/* ------------------------------------------------------------------ the registry */
#define N_PARAMS(a) (sizeof(a) / sizeof *(a))
static const bml__source_def BUILTIN[] = {
    {"oxford", "the Oxford Battery Degradation Dataset's Performance Summary: one row per ageing set", OXFORD_PARAMS,
     N_PARAMS(OXFORD_PARAMS), oxford_resolve, oxford_load, oxford_free},
    {"table", "a generic CSV table: features and targets named by data.features / data.targets", TABLE_PARAMS,
     N_PARAMS(TABLE_PARAMS), table_resolve, table_load, table_free},
    {"oxford_curves", "voltage curves of the Oxford layout (ica_peaks)", OXFORD_CURVES_PARAMS, N_PARAMS(OXFORD_CURVES_PARAMS),
     oxford_resolve, oxford_curves_load, oxford_free},
    {"basytec", "one Basytec export: the slow discharge of one step and cycle as a voltage curve", BASYTEC_PARAMS,
     N_PARAMS(BASYTEC_PARAMS), basytec_resolve, basytec_load, free},
    {"curve_table", "a folder of curve tables, one file per cell and cycle", CURVE_TABLE_PARAMS, N_PARAMS(CURVE_TABLE_PARAMS),
     curve_table_resolve, curve_table_load, free},
    {"cycler", "raw cycler exports (batteryml list formats): a row per cycle, or the slow cycles' discharge curves",
     CYCLER_PARAMS, N_PARAMS(CYCLER_PARAMS), cycler_resolve, cycler_load, free},
    {"qdlin", "cycle-life data in the published Qdlin layout (Severson et al. 2019): discharge capacity on a voltage grid per cycle",
     QDLIN_PARAMS, N_PARAMS(QDLIN_PARAMS), qdlin_resolve, qdlin_load, free},
    {"cycler_life", "cycle-life data from raw cycler exports: each cycle's discharge Q(V) on the Qdlin grid, the life from the "
                    "per-cycle discharge capacity (pipeline delta_q)",
     CYCLER_LIFE_PARAMS, N_PARAMS(CYCLER_LIFE_PARAMS), cycler_life_resolve, cycler_life_load, free},
};
#define N_BUILTIN (sizeof BUILTIN / sizeof *BUILTIN)

/* Sources registered at run time (bml__source_register: tests). The table is process-wide and written only
 * before any study runs; it is not locked. */
#define MAX_EXTRA 8
static bml__source_def g_extra[MAX_EXTRA];
static size_t g_n_extra;

size_t bml__source_count(void) { return N_BUILTIN + g_n_extra; }

const bml__source_def *bml__source_at(size_t i) {
    if (i < N_BUILTIN) return &BUILTIN[i];
    return i - N_BUILTIN < g_n_extra ? &g_extra[i - N_BUILTIN] : NULL;
}

const bml__source_def *bml__source_find(const char *name) {
    for (size_t i = 0; name && i < bml__source_count(); i++)
        if (!strcmp(bml__source_at(i)->name, name)) return bml__source_at(i);
    return NULL;
}

const bml__source_def *bml__source_register(const bml__source_def *def) {
    if (!def || !def->name || bml__source_find(def->name) || g_n_extra == MAX_EXTRA || !def->load) return NULL;
    g_extra[g_n_extra] = *def;
    return &g_extra[g_n_extra++];
}
