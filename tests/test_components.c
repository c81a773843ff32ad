/* Every kind of component in one registry shape (batteryml/components.h): listed, described, with parameters
 * whose defaults are those of configs/; and a data source, a split and a tracker each added from one file
 * (tests/components/), then used by a study that names them in its configuration. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "batteryml/components.h"
#include "batteryml/cycler.h"
#include "batteryml/ica.h"
#include "batteryml/sweep.h"
#include "core/internal.h"
#include "run/study.h"
#include "splits/split_internal.h"
#include "test.h"
#include "track/track.h"

const bml__source_def *dummy_source_register(void);
const bml__split_def *dummy_split_register(void);
const bml__tracker_def *dummy_tracker_register(void);

#define CONFIGS BML_SOURCE_DIR "/configs"

static void test_every_kind_listed(void) {
    for (int k = 0; k < BML_KIND_COUNT; k++) {
        const char *kn = bml_component_kind_name((bml_component_kind)k);
        CHECK(kn != NULL);
        bml_component_kind back;
        CHECK_OK(bml_component_kind_parse(kn, &back));
        CHECK_INT(back, k);
        CHECK(bml_component_count((bml_component_kind)k) > 0);
        for (size_t i = 0; i < bml_component_count((bml_component_kind)k); i++) {
            CHECK(bml_component_name((bml_component_kind)k, i) && *bml_component_name((bml_component_kind)k, i));
            CHECK(bml_component_describe((bml_component_kind)k, i) != NULL);
            const bml_param_info *p;
            size_t n = bml_component_params((bml_component_kind)k, i, &p);
            for (size_t j = 0; j < n; j++) CHECK(p[j].key && p[j].type && p[j].default_value && p[j].help);
        }
        CHECK(bml_component_name((bml_component_kind)k, bml_component_count((bml_component_kind)k)) == NULL);
    }
    bml_component_kind k;
    CHECK_OK(bml_component_kind_parse("model", &k));
    CHECK_INT(k, BML_KIND_MODEL);
    CHECK_ERR(bml_component_kind_parse("widgets", &k), BML_ERR_VALUE, "valid: models, pipelines");
    CHECK(bml_component_kind_name(BML_KIND_COUNT) == NULL);
}

/* numbers compare as numbers ("1.0e-7" is "1e-7"), lists and text without spaces */
static int same_value(const char *a, const char *b) {
    double x, y;
    if (bml__parse_double(a, &x) == 0 && bml__parse_double(b, &y) == 0) return x == y;
    while (*a || *b) {
        while (*a == ' ') a++;
        while (*b == ' ') b++;
        if (*a != *b) return 0;
        if (*a) a++, b++;
    }
    return 1;
}

/* configs/<group>/<name>.yaml of every registered component exists, sets only registered parameters, and each
 * value is the parameter's default: the tables and the configs do not drift apart */
static void test_defaults_are_the_configs(void) {
    static const struct {
        bml_component_kind kind;
        const char *group;
    } kinds[] = {{BML_KIND_MODEL, "model"}, {BML_KIND_PIPELINE, "pipeline"}, {BML_KIND_SPLIT, "split"},
                 {BML_KIND_DATA, "data"},   {BML_KIND_TRACKER, "tracking"}, {BML_KIND_LOSS, "loss"},
                 {BML_KIND_UNCERTAINTY, "uncertainty"}};
    size_t compared = 0;
    for (size_t g = 0; g < sizeof kinds / sizeof *kinds; g++)
        for (size_t i = 0; i < bml_component_count(kinds[g].kind); i++) {
            const char *name = bml_component_name(kinds[g].kind, i);
            char ov[128];
            snprintf(ov, sizeof ov, "%s=%s", kinds[g].group, name);
            const char *ovs[] = {ov};
            bml_config *c = NULL;
            if (bml_config_compose(CONFIGS, ovs, 1, &c) != BML_OK) {
                fprintf(stderr, "  no configs/%s/%s.yaml: %s\n", kinds[g].group, name, bml_last_error());
                CHECK(0);
                continue;
            }
            const bml_param_info *p;
            size_t np = bml_component_params(kinds[g].kind, i, &p);
            size_t n = bml_config_section(c, kinds[g].group, NULL, 0);
            bml_kv *kv = calloc(n + 1, sizeof *kv);
            bml_config_section(c, kinds[g].group, kv, n);
            for (size_t k = 0; kv && k < n; k++) {
                size_t j = 0;
                while (j < np && strcmp(p[j].key, kv[k].key)) j++;
                if (kinds[g].kind == BML_KIND_MODEL && j == np) continue; /* neural models: training keys live in training.* */
                if (j == np) {
                    fprintf(stderr, "  configs/%s/%s.yaml: %s is no parameter of the registry\n", kinds[g].group, name, kv[k].key);
                    CHECK(0);
                } else if (kinds[g].kind == BML_KIND_DATA) {
                    /* configs/data/ describe the shipped datasets (their paths and columns): keys only */
                    compared++;
                } else if (!same_value(p[j].default_value, kv[k].value)) {
                    fprintf(stderr, "  configs/%s/%s.yaml: %s: %s, the registry's default %s\n", kinds[g].group, name, kv[k].key,
                            kv[k].value, p[j].default_value);
                    CHECK(0);
                } else {
                    compared++;
                }
            }
            free(kv);
            bml_config_free(c);
        }
    CHECK(compared > 50);
}

static int file_has(const char *path, const char *needle) {
    char *t = NULL;
    if (bml__read_file(path, &t, NULL) != BML_OK) return 0;
    int yes = strstr(t, needle) != NULL;
    free(t);
    return yes;
}

/* one file each: registered, listed, named by a configuration, run */
static void test_components_from_one_file(void) {
    CHECK(dummy_source_register() != NULL);
    CHECK(dummy_split_register() != NULL);
    CHECK(dummy_tracker_register() != NULL);
    CHECK(dummy_split_register() == NULL); /* a name is registered once */
    static const struct {
        bml_component_kind kind;
        const char *name;
    } mine[] = {{BML_KIND_DATA, "dummy_oxford"}, {BML_KIND_SPLIT, "every_kth_cell"}, {BML_KIND_TRACKER, "tally"}};
    for (size_t m = 0; m < 3; m++) {
        size_t i = 0, n = bml_component_count(mine[m].kind);
        while (i < n && strcmp(bml_component_name(mine[m].kind, i), mine[m].name)) i++;
        CHECK(i < n);
    }
    char dir[] = "/tmp/bml-components-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char cfg_path[128], text[1024];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", dir);
    snprintf(text, sizeof text,
             "data:\n  name: dummy_oxford\n  path: %s\n  experiment_id: 5\npipeline:\n  name: summary_set\nmodel:\n  name: ridge\n"
             "split:\n  name: every_kth_cell\n  every: 3\ntracking:\n  name: tally\nseed: 42\noutput_dir: %s\nrun_name: t\n"
             "figures: false\n",
             DATA_DIR, dir);
    CHECK_OK(bml__write_file(cfg_path, text, strlen(text)));
    bml_config *c = NULL;
    CHECK_OK(bml_config_load_resolved(cfg_path, NULL, NULL, 0, &c));
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    bml_run_result *r = NULL;
    if (c) CHECK_OK(bml_run_experiment(c, &o, &r));
    if (r) {
        char p[256];
        snprintf(p, sizeof p, "%s/t/tally.csv", dir);
        CHECK(file_has(p, "tag,step,value\n"));
        CHECK(file_has(p, "rmse"));
        snprintf(p, sizeof p, "%s/t/metrics.json", dir);
        CHECK(file_has(p, "\"every_kth\""));
        CHECK(file_has(p, "\"data\":\t\"dummy_oxford\""));
    }
    bml_run_result_free(r);
    /* their parameters are checked like any component's */
    bml_config *bad = NULL;
    if (c && bml_config_copy(c, &bad) == BML_OK) {
        bml_config_set(bad, "split.every", "1");
        CHECK_ERR(bml_run_experiment(bad, &o, &r), BML_ERR_VALUE, "every");
        bml_config_set(bad, "split.every", "3");
        bml_config_set(bad, "data.experiment_id", "9");
        CHECK_ERR(bml_run_experiment(bad, &o, &r), BML_ERR_VALUE, "data.experiment_id");
        bml_config_set(bad, "data.experiment_id", "5");
        bml_config_set(bad, "tracking.name", "tallyho");
        CHECK_ERR(bml_run_experiment(bad, &o, &r), BML_ERR_VALUE, "unknown tracking 'tallyho' (valid: local, tensorboard, mlflow, all, tally)");
        bml_config_free(bad);
    }
    bml_config_free(c);
    bml__rm_rf(dir);
}

/* several bad keys: every one named in one error, before anything runs */
static void test_every_bad_key_named(void) {
    const char *ov[] = {"seed=-1", "jobs=many", "figures=maybe", "tracking=local", "explain.enabled=perhaps"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, 5, &c));
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR};
    bml_run_result *r = NULL;
    if (c) {
        CHECK_ERR(bml_run_experiment(c, &o, &r), BML_ERR_VALUE, "4 problems in the configuration");
        CHECK(strstr(bml_last_error(), "seed must be") && strstr(bml_last_error(), "jobs must be") &&
              strstr(bml_last_error(), "figures must be") && strstr(bml_last_error(), "explain.enabled must be"));
    }
    bml_config_free(c);
}

/* options structs carry a version: BML_RUN_OPTS_INIT and bml_run_opts_init give this library's, another fails */
static void test_options_versioned(void) {
    bml_run_opts a = BML_RUN_OPTS_INIT, b;
    memset(&b, 0xab, sizeof b);
    bml_run_opts_init(&b);
    CHECK_INT(a.version, BML_RUN_OPTS_VERSION);
    CHECK(b.version == a.version && !b.base_dir && !b.log && !b.log_user && !b.write_run_dir && !b.progress && !b.progress_user &&
          !b.cancel);
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, NULL, 0, &c));
    bml_run_result *r = NULL;
    a.version = 99;
    if (c) CHECK_ERR(bml_run_experiment(c, &a, &r), BML_ERR_VALUE, "bml_run_opts version 99; this library knows version 1");
    CHECK(r == NULL);
    bml_lr_find_result *lf = NULL;
    if (c) CHECK_ERR(bml_run_lr_find(c, &a, &lf), BML_ERR_VALUE, "version 99");
    bml_config_free(c);
}

/* Every versioned options struct: the _INIT macro and the _init function give the same (every byte the caller
 * sees), the defaults functions carry the version, and each function that takes one refuses another version
 * before it does anything, naming both ("<struct> version 0; this library knows version 1"). */
#define VERSION_MSG(type) type " version 0; this library knows version 1 (initialise with "
#define SAME_AS_INIT(type, MACRO, init_fn, same)                                                                \
    do {                                                                                                           \
        type m_ = MACRO, f_;                                                                                       \
        memset(&f_, 0xab, sizeof f_);                                                                              \
        init_fn(&f_);                                                                                              \
        CHECK(m_.version == 1 && f_.version == 1 && (same));                                                       \
    } while (0)
#define SAME(field) (m_.field == f_.field)
/* where the calls below may not write, even without their version check: below a regular file */
#define NOWHERE BML_SOURCE_DIR "/README.md/absent"
#define SAME_NAN(field) (m_.field == f_.field || (isnan(m_.field) && isnan(f_.field)))

static void test_options_versioned_data(void) {
    bml_dataset *ds = (bml_dataset *)1;
    /* bml_oxford_opts */
    SAME_AS_INIT(bml_oxford_opts, BML_OXFORD_OPTS_INIT, bml_oxford_opts_init, SAME(experiments) && SAME(n_experiments));
    bml_oxford_opts ox;
    bml_oxford_opts_init(&ox);
    CHECK(!ox.experiments && ox.n_experiments == 0);
    ox.version = 0;
    CHECK_ERR(bml_dataset_load_oxford(BML_SOURCE_DIR "/data/oxford-lgm50t", &ox, &ds), BML_ERR_VALUE,
              "bml_dataset_load_oxford: " VERSION_MSG("bml_oxford_opts") "BML_OXFORD_OPTS_INIT or bml_oxford_opts_init)");
    CHECK(ds == NULL);
    ds = (bml_dataset *)1;
    CHECK_ERR(bml_dataset_load_oxford_curves(BML_SOURCE_DIR "/data", &ox, &ds), BML_ERR_VALUE, VERSION_MSG("bml_oxford_opts"));
    CHECK(ds == NULL);
    size_t n_written = 7;
    CHECK_ERR(bml_synth_curves_write(BML_SOURCE_DIR "/data/oxford-lgm50t", &ox, NOWHERE, 100, &n_written), BML_ERR_VALUE,
              VERSION_MSG("bml_oxford_opts"));
    CHECK(n_written == 0);
    /* bml_table_roles */
    SAME_AS_INIT(bml_table_roles, BML_TABLE_ROLES_INIT, bml_table_roles_init,
                 SAME(cell_column) && !f_.cell_column && SAME(temperature_column) && SAME(time_column) && SAME(experiment_column) &&
                     SAME(features) && SAME(n_features) && SAME(targets) && SAME(n_targets) && SAME(targets_optional) && !f_.targets_optional);
    static const char *const f[1] = {"x"}, *const y[1] = {"y"};
    bml_table_roles r = {.version = 2, .cell_column = "cell", .features = f, .n_features = 1, .targets = y, .n_targets = 1};
    CHECK_ERR(bml_dataset_load_table(BML_SOURCE_DIR "/data/oxford-lgm50t", &r, &ds), BML_ERR_VALUE,
              "bml_table_roles version 2; this library knows version 1 (initialise with BML_TABLE_ROLES_INIT or bml_table_roles_init)");
    /* bml_curve_columns: unknown temperature by default */
    SAME_AS_INIT(bml_curve_columns, BML_CURVE_COLUMNS_INIT, bml_curve_columns_init,
                 SAME(capacity_column) && SAME(voltage_column) && SAME(name_pattern) && SAME_NAN(temperature_c) && isnan(m_.temperature_c));
    bml_curve_columns cc;
    bml_curve_columns_init(&cc);
    CHECK(!cc.capacity_column && !cc.voltage_column && !cc.name_pattern && isnan(cc.temperature_c));
    cc = (bml_curve_columns){.capacity_column = "q", .voltage_column = "v", .name_pattern = "(a)(b)", .temperature_c = 25};
    CHECK_ERR(bml_dataset_load_curve_table(BML_SOURCE_DIR "/data", &cc, &ds), BML_ERR_VALUE, VERSION_MSG("bml_curve_columns"));
    /* bml_qdlin_opts: the INIT holds the published defaults, as bml_qdlin_opts_default */
    SAME_AS_INIT(bml_qdlin_opts, BML_QDLIN_OPTS_INIT, bml_qdlin_opts_init,
                 SAME(index) && SAME(v_start) && SAME(v_end) && SAME(n_points) && SAME(n_cycles) && SAME(first_cycle) && SAME(transposed));
    bml_qdlin_opts q, d;
    bml_qdlin_opts_init(&q);
    memset(&d, 0xab, sizeof d);
    bml_qdlin_opts_default(&d);
    CHECK(q.version == 1 && d.version == 1 && !q.index && !d.index && q.v_start == 3.6 && d.v_start == 3.6 && q.v_end == 2.0 &&
          d.v_end == 2.0 && q.n_points == 1000 && d.n_points == 1000 && q.n_cycles == 99 && d.n_cycles == 99 && q.first_cycle == 2 &&
          d.first_cycle == 2 && !q.transposed && !d.transposed);
    q.version = 0;
    CHECK_ERR(bml_dataset_load_qdlin(BML_SOURCE_DIR "/data", &q, &ds), BML_ERR_VALUE,
              "bml_dataset_load_qdlin: " VERSION_MSG("bml_qdlin_opts") "BML_QDLIN_OPTS_INIT or bml_qdlin_opts_init)");
    CHECK(ds == NULL);
}

/* bml_cycler_summary_opts is at version 2 (capacity_rule appended) */
#define SUMMARY_VERSION_MSG "bml_cycler_summary_opts version 0; this library knows version 2 (initialise with "
static void test_options_versioned_cycler(void) {
    {
        bml_cycler_summary_opts m_ = BML_CYCLER_SUMMARY_OPTS_INIT, f_;
        memset(&f_, 0xab, sizeof f_);
        bml_cycler_summary_opts_init(&f_);
        CHECK(m_.version == 2 && f_.version == 2 && SAME(v_min) && SAME(v_max) && SAME(n_grid) && SAME(ir_window_s) &&
              SAME(ir_min_step_a) && SAME(raw_max_c_rate) && SAME(capacity_rule) && f_.capacity_rule == BML_CYCLER_CAPACITY_SUM);
    }
    bml_cycler_summary_opts o, d = bml_cycler_summary_defaults();
    bml_cycler_summary_opts_init(&o);
    CHECK(o.version == 2 && d.version == 2 && d.capacity_rule == BML_CYCLER_CAPACITY_SUM && o.v_min == 2.5 && d.v_min == 2.5 && o.v_max == 4.3 && d.v_max == 4.3 && o.n_grid == 100 &&
          d.n_grid == 100 && o.ir_window_s == 1.0 && d.ir_window_s == 1.0 && o.ir_min_step_a == 0.1 && d.ir_min_step_a == 0.1 &&
          o.raw_max_c_rate == 0 && d.raw_max_c_rate == 0);
    SAME_AS_INIT(bml_cycler_cells, BML_CYCLER_CELLS_INIT, bml_cycler_cells_init, SAME(soh_reference) && SAME(cell_from));
    bml_cycler_cells c;
    bml_cycler_cells_init(&c);
    CHECK(!c.soh_reference && !c.cell_from);
    const char *file = BML_SOURCE_DIR "/tests/data/cyclers";
    bml_cycler_summary *s = (bml_cycler_summary *)1;
    bml_dataset *ds = (bml_dataset *)1;
    o.version = 0;
    CHECK_ERR(bml_cycler_summarize(file, BML_CYCLER_AUTO, &o, &s), BML_ERR_VALUE,
              SUMMARY_VERSION_MSG "BML_CYCLER_SUMMARY_OPTS_INIT or bml_cycler_summary_opts_init)");
    CHECK(s == NULL);
    CHECK_ERR(bml_cycler_structure(file, BML_CYCLER_AUTO, &o, NOWHERE, NULL, NULL, NULL, NULL), BML_ERR_VALUE,
              SUMMARY_VERSION_MSG);
    CHECK_ERR(bml_dataset_load_cycler(file, BML_CYCLER_AUTO, &o, NULL, NULL, &ds), BML_ERR_VALUE,
              "bml_dataset_load_cycler: " SUMMARY_VERSION_MSG);
    CHECK(ds == NULL);
    CHECK_ERR(bml_dataset_load_cycler_curves(file, BML_CYCLER_AUTO, &o, 0.2, NULL, &ds), BML_ERR_VALUE,
              "bml_dataset_load_cycler_curves: " SUMMARY_VERSION_MSG);
    c.version = 0;
    CHECK_ERR(bml_dataset_load_cycler(file, BML_CYCLER_AUTO, NULL, &c, NULL, &ds), BML_ERR_VALUE,
              VERSION_MSG("bml_cycler_cells") "BML_CYCLER_CELLS_INIT or bml_cycler_cells_init)");
    CHECK_ERR(bml_dataset_load_cycler_curves(file, BML_CYCLER_AUTO, NULL, 0.2, &c, &ds), BML_ERR_VALUE, VERSION_MSG("bml_cycler_cells"));
}

static void test_options_versioned_ica(void) {
    SAME_AS_INIT(bml_ica_params, BML_ICA_PARAMS_INIT, bml_ica_params_init,
                 SAME(v_min) && SAME(v_max) && SAME(resample) && SAME(window) && SAME(order) && SAME(height) && SAME(distance) &&
                     SAME(prominence) && SAME(num_peaks));
    bml_ica_params p, d = bml_ica_defaults();
    bml_ica_params_init(&p);
    CHECK(p.version == 1 && d.version == 1 && p.v_min == 3.0 && p.v_max == 4.2 && p.resample == 500 && p.window == 51 && p.order == 3 &&
          p.height == 0.01 && p.distance == 200 && p.prominence == 0.01 && p.num_peaks == 3 &&
          d.v_min == p.v_min && d.v_max == p.v_max && d.resample == p.resample && d.window == p.window && d.order == p.order &&
          d.height == p.height && d.distance == p.distance && d.prominence == p.prominence && d.num_peaks == p.num_peaks);
    CHECK_INT(bml_ica_n_features(&p), 15);
    static const double q[3] = {0, 1, 2}, v[3] = {3.5, 3.6, 3.7};
    double feat[15];
    p.version = 0;
    CHECK_ERR(bml_ica_features(&p, q, v, 3, feat, NULL, NULL), BML_ERR_VALUE,
              "bml_ica_features: " VERSION_MSG("bml_ica_params") "BML_ICA_PARAMS_INIT or bml_ica_params_init)");
    CHECK_INT(bml_ica_n_features(&p), 0);
    CHECK(strstr(bml_last_error(), VERSION_MSG("bml_ica_params")) != NULL);
    char buf[32] = "x";
    CHECK_INT(bml_ica_feature_name(&p, 0, buf, sizeof buf), 0);
    CHECK(buf[0] == 0 && strstr(bml_last_error(), "bml_ica_feature_name: ") != NULL);
}

static void test_options_versioned_sweep(void) {
    SAME_AS_INIT(bml_sweep_opts, BML_SWEEP_OPTS_INIT, bml_sweep_opts_init,
                 SAME(sweeper) && SAME(trials) && SAME(seed) && SAME(max_jobs));
    bml_sweep_opts o;
    bml_sweep_opts_init(&o);
    CHECK(o.sweeper == BML_SWEEPER_GRID && o.trials == 0 && o.seed == 0 && o.max_jobs == 0);
    static const char *const ov[1] = {"model=lgbm,mlp"};
    bml_sweep *s = NULL;
    CHECK_OK(bml_sweep_expand(ov, 1, &o, &s));
    CHECK(s && bml_sweep_n_jobs(s) == 2);
    o.version = 0;
    bml_sweep *t = (bml_sweep *)1;
    CHECK_ERR(bml_sweep_expand(ov, 1, &o, &t), BML_ERR_VALUE,
              "bml_sweep_expand: " VERSION_MSG("bml_sweep_opts") "BML_SWEEP_OPTS_INIT or bml_sweep_opts_init)");
    CHECK(t == NULL);
    CHECK_ERR(bml_sweep_write_yaml(s, &o, ov, 1, NOWHERE), BML_ERR_VALUE, "bml_sweep_write_yaml: " VERSION_MSG("bml_sweep_opts"));
    t = (bml_sweep *)1;
    CHECK_ERR(bml_sweep_load(NOWHERE, &o, &t), BML_ERR_VALUE, "bml_sweep_load: " VERSION_MSG("bml_sweep_opts"));
    CHECK(t == NULL);
    bml_sweep_free(s);
}

TEST_MAIN("components", {"options_versioned", test_options_versioned}, {"every_kind_listed", test_every_kind_listed}, {"defaults_are_the_configs", test_defaults_are_the_configs},
          {"components_from_one_file", test_components_from_one_file}, {"every_bad_key_named", test_every_bad_key_named},
          {"options_versioned_data", test_options_versioned_data}, {"options_versioned_cycler", test_options_versioned_cycler},
          {"options_versioned_ica", test_options_versioned_ica}, {"options_versioned_sweep", test_options_versioned_sweep})
