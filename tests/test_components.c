/* Every kind of component in one registry shape (batteryml/components.h): listed, described, with parameters
 * whose defaults are those of configs/; and a data source, a split and a tracker each added from one file
 * (tests/components/), then used by a study that names them in its configuration. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <ctype.h>
#include <stdint.h>
#include <unistd.h>

#include "batteryml/components.h"
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

TEST_MAIN("components", {"options_versioned", test_options_versioned}, {"every_kind_listed", test_every_kind_listed}, {"defaults_are_the_configs", test_defaults_are_the_configs},
          {"components_from_one_file", test_components_from_one_file}, {"every_bad_key_named", test_every_bad_key_named})
