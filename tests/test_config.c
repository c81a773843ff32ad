/* Configuration: composition, overrides, errors naming the valid choices, resolved round trip. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

#define CONFIGS BML_SOURCE_DIR "/configs"

static void test_defaults(void) {
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, NULL, 0, &c));
    if (!c) return;
    CHECK_STR(bml_config_get(c, "model.name"), "lgbm");
    CHECK_STR(bml_config_get(c, "model.learning_rate"), "0.05");
    CHECK_STR(bml_config_get(c, "split.train_temps"), "[10, 40]");
    CHECK_STR(bml_config_get(c, "data.experiment"), "5");
    CHECK_STR(bml_config_get(c, "seed"), "42");
    bml_kv kv[32];
    size_t n = bml_config_section(c, "model", kv, 32);
    CHECK_INT(n, 13);
    CHECK_STR(kv[0].key, "n_estimators");
    bml_config_free(c);
}

static void test_overrides(void) {
    const char *ov[] = {"split=loco", "model.learning_rate=0.01", "data.experiment=[1, 5]", "seed=7", "+model.extra=1"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, 5, &c));
    if (!c) return;
    CHECK_STR(bml_config_get(c, "split.name"), "loco");
    CHECK(bml_config_get(c, "split.train_temps") == NULL); /* the old group's keys are gone */
    CHECK_STR(bml_config_get(c, "model.learning_rate"), "0.01");
    CHECK_STR(bml_config_get(c, "data.experiment"), "[1, 5]");
    CHECK_STR(bml_config_get(c, "seed"), "7");
    CHECK_STR(bml_config_get(c, "model.extra"), "1");
    bml_config_free(c);
    /* a key override after a group change applies to the new group's keys */
    const char *ov2[] = {"split.cells=[E5-A]", "split=loco"};
    CHECK_OK(bml_config_compose(CONFIGS, ov2, 2, &c));
    if (c) CHECK_STR(bml_config_get(c, "split.cells"), "[E5-A]");
    bml_config_free(c);
}

static void test_errors(void) {
    bml_config *c = NULL;
    const char *a[] = {"model=transformer"};
    CHECK_ERR(bml_config_compose(CONFIGS, a, 1, &c), BML_ERR_NOT_FOUND, "unknown model 'transformer' (valid: acla, cnn_lstm, lgbm, lstm_attn, mlp, neural_ode)");
    const char *b[] = {"model.learning_rat=0.1"};
    CHECK_ERR(bml_config_compose(CONFIGS, b, 1, &c), BML_ERR_VALUE,
              "unknown config key 'model.learning_rat' (valid keys of 'model': name, n_estimators, learning_rate");
    const char *d[] = {"optimizer=adam"};
    CHECK_ERR(bml_config_compose(CONFIGS, d, 1, &c), BML_ERR_VALUE,
              "unknown config key or group 'optimizer' (valid: seed, output_dir, run_name, figures, jobs, data, pipeline, model, split, loss, tracking)");
    const char *e[] = {"trainer.epochs=5"};
    CHECK_ERR(bml_config_compose(CONFIGS, e, 1, &c), BML_ERR_VALUE, "unknown config section 'trainer'");
    const char *f[] = {"justaword"};
    CHECK_ERR(bml_config_compose(CONFIGS, f, 1, &c), BML_ERR_VALUE, "not of the form key=value");
    const char *g[] = {"split=../model/lgbm"};
    CHECK_ERR(bml_config_compose(CONFIGS, g, 1, &c), BML_ERR_VALUE, "invalid option");
    CHECK_ERR(bml_config_compose("/nonexistent", NULL, 0, &c), BML_ERR_NOT_FOUND, "/nonexistent/config.yaml: no such file");
    CHECK(c == NULL);
}

static void test_yaml_errors(void) {
    char dir[] = "/tmp/bml-test-cfg-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p[256];
    snprintf(p, sizeof p, "%s/config.yaml", dir);
    write_text(p, "seed: 1\nmodel: [unclosed\n");
    bml_config *c = NULL;
    CHECK_ERR(bml_config_compose(dir, NULL, 0, &c), BML_ERR_PARSE, "config.yaml:");
    write_text(p, "- a\n- b\n");
    CHECK_ERR(bml_config_compose(dir, NULL, 0, &c), BML_ERR_PARSE, "a config file must be a mapping");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

static void test_resolved_round_trip(void) {
    const char *ov[] = {"model.learning_rate=0.01", "run_name=with: colon # and hash", "+data.note="};
    bml_config *c = NULL, *r = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, 3, &c));
    if (!c) return;
    char *y = bml_config_to_yaml(c);
    char path[] = "/tmp/bml-test-resolved-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    write_text(path, y);
    const char *ov2[] = {"seed=9"};
    CHECK_OK(bml_config_load_resolved(path, CONFIGS, ov2, 1, &r));
    if (r) {
        CHECK_INT(bml_config_count(r), bml_config_count(c));
        for (size_t i = 0; i < bml_config_count(c); i++) {
            bml_kv kv = bml_config_entry(c, i);
            const char *v = bml_config_get(r, kv.key);
            if (!strcmp(kv.key, "seed")) CHECK_STR(v, "9");
            else CHECK_STR(v, kv.value);
        }
    }
    bml_config_free(r);
    /* a config with a defaults list is not a resolved one */
    CHECK_ERR(bml_config_load_resolved(CONFIGS "/config.yaml", CONFIGS, NULL, 0, &r), BML_ERR_VALUE, "has a defaults list");
    unlink(path);
    if (fd >= 0) close(fd);
    free(y);
    bml_config_free(c);
}

TEST_MAIN("config", T(test_defaults), T(test_overrides), T(test_errors), T(test_yaml_errors), T(test_resolved_round_trip))
