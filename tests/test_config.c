/* Configuration: composition, overrides, errors naming the valid choices, resolved round trip. */
#define _DEFAULT_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
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
    CHECK_ERR(bml_config_compose(CONFIGS, a, 1, &c), BML_ERR_NOT_FOUND, "unknown model 'transformer' (valid: acla, cnn_lstm, elastic_net, elastic_net_cv, lasso, lgbm, lstm_attn, mlp, neural_ode, ols, pcr, pls, ridge)");
    const char *b[] = {"model.learning_rat=0.1"};
    CHECK_ERR(bml_config_compose(CONFIGS, b, 1, &c), BML_ERR_VALUE,
              "unknown config key 'model.learning_rat' (valid keys of 'model': name, n_estimators, learning_rate");
    const char *d[] = {"optimizer=adam"};
    CHECK_ERR(bml_config_compose(CONFIGS, d, 1, &c), BML_ERR_VALUE,
              "unknown config key or group 'optimizer' (valid: seed, output_dir, run_name, figures, jobs, data, pipeline, model, split, loss, tracking, uncertainty)");
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

/* ---- issue #10 items 3 and 14: data.experiment, typed integer values ---- */
static bml_status load_with(const char *experiment, const char *data_group) {
    char ov1[256], ov2[64];
    snprintf(ov1, sizeof ov1, "data.experiment=%s", experiment);
    snprintf(ov2, sizeof ov2, "data=%s", data_group);
    const char *ov[] = {ov2, ov1, "data.path=" DATA_DIR};
    bml_config *c = NULL;
    bml_dataset *ds = NULL;
    bml_status st = bml_config_compose(CONFIGS, ov, 3, &c);
    if (st == BML_OK) st = bml_run_load_data(c, BML_SOURCE_DIR, NULL, 0, &ds);
    bml_dataset_free(ds);
    bml_config_free(c);
    return st;
}

static void test_experiment_list(void) {
    /* the rejected value itself is named (it was read after being freed) */
    CHECK_ERR(load_with("[9]", "oxford"), BML_ERR_VALUE, "data.experiment: 9 is out of range (1 to 5)");
    CHECK_ERR(load_with("[1, 0]", "oxford"), BML_ERR_VALUE, "data.experiment: 0 is out of range");
    /* checked before any cast to int (99999999999999 became 276447231) */
    CHECK_ERR(load_with("99999999999999", "oxford"), BML_ERR_VALUE, "99999999999999 is out of range");
    CHECK_ERR(load_with("[5, 1e300]", "oxford"), BML_ERR_VALUE, "1e300 is out of range");
    /* an empty list is not "all" */
    CHECK_ERR(load_with("[]", "oxford"), BML_ERR_VALUE, "data.experiment: the list is empty");
    CHECK_ERR(load_with("", "oxford"), BML_ERR_VALUE, "data.experiment: the list is empty");
    CHECK_ERR(load_with("[1, 5", "oxford"), BML_ERR_VALUE, "data.experiment must be all");
    CHECK_ERR(load_with("2.5", "oxford"), BML_ERR_VALUE, "'2.5' is not an integer");
    /* the voltage-curve loader reads the same key the same way (it cast without any check) */
    CHECK_ERR(load_with("[9]", "oxford_curves"), BML_ERR_VALUE, "data.experiment: 9 is out of range (1 to 5)");
    CHECK_ERR(load_with("[]", "oxford_curves"), BML_ERR_VALUE, "data.experiment: the list is empty");
    /* more experiments than the old fixed array held */
    CHECK_OK(load_with("[5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]", "oxford"));
    CHECK_OK(load_with("5.0", "oxford"));
    CHECK_OK(load_with("all", "oxford"));
}

static void test_typed_values(void) {
    const char *ov[] = {"+x.big=99999999999999999999", "+x.frac=3.5", "+x.neg=-1", "+x.ok=7", "+x.list=[1, 2e0, 3]",
                        "+x.huge=1e20"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, 6, &c));
    if (!c) return;
    long v = 0, *l = NULL;
    size_t n = 0;
    CHECK_OK(bml_config_get_long(c, "x.ok", 0, 10, &v));
    CHECK_INT(v, 7);
    CHECK_ERR(bml_config_get_long(c, "x.big", 0, 10, &v), BML_ERR_VALUE, "x.big must be an integer from 0 to 10, got '99999999999999999999'");
    CHECK_ERR(bml_config_get_long(c, "x.huge", 0, 2147483647, &v), BML_ERR_VALUE, "x.huge must be an integer from 0 to 2147483647");
    CHECK_ERR(bml_config_get_long(c, "x.frac", 0, 10, &v), BML_ERR_VALUE, "x.frac must be an integer, got '3.5'");
    CHECK_ERR(bml_config_get_long(c, "x.neg", 0, 10, &v), BML_ERR_VALUE, "x.neg must be an integer from 0 to 10");
    CHECK_ERR(bml_config_get_long(c, "x.none", 0, 10, &v), BML_ERR_NOT_FOUND, "x.none");
    CHECK_INT(v, 7); /* failures change nothing */
    CHECK_OK(bml_config_get_long_list(c, "x.list", 1, 3, &l, &n));
    CHECK_INT(n, 3);
    if (l && n == 3) CHECK_INT(l[0] + 10 * l[1] + 100 * l[2], 321);
    free(l);
    CHECK_ERR(bml_config_get_long_list(c, "x.list", 1, 2, &l, &n), BML_ERR_VALUE, "x.list: 3 is out of range (1 to 2)");
    CHECK(l == NULL && n == 0);
    bml_config_free(c);
}

/* integer parameters: unbounded ones hold an int; bounds are checked before anything is stored */
typedef struct {
    long count, bounded;
} int_params;
static const bml__param_spec INT_SPECS[] = {
    {"count", BML__P_INT, offsetof(int_params, count), "3", 1, 0, 0, "no bounds given"},
    {"bounded", BML__P_INT, offsetof(int_params, bounded), "5", 0, 10, 0, "0-10"},
};

static void test_int_params(void) {
    int_params p = {0};
    const bml_kv big[] = {{"count", "3000000000"}}, huge[] = {{"count", "1e20"}}, frac[] = {{"bounded", "3.5"}},
                 neg[] = {{"bounded", "-1"}}, ok[] = {{"count", "-7"}, {"bounded", "10"}};
    CHECK_ERR(bml__params_parse("thing", INT_SPECS, 2, big, 1, &p), BML_ERR_VALUE, "thing: count must be <= 2147483647 (got 3000000000)");
    CHECK_ERR(bml__params_parse("thing", INT_SPECS, 2, huge, 1, &p), BML_ERR_VALUE, "thing: count expects an integer, got '1e20'");
    CHECK_ERR(bml__params_parse("thing", INT_SPECS, 2, frac, 1, &p), BML_ERR_VALUE, "thing: bounded expects an integer, got '3.5'");
    CHECK_ERR(bml__params_parse("thing", INT_SPECS, 2, neg, 1, &p), BML_ERR_VALUE, "thing: bounded must be >= 0 (got -1)");
    CHECK_INT(p.bounded, 5); /* the rejected value was not stored */
    CHECK_OK(bml__params_parse("thing", INT_SPECS, 2, ok, 2, &p));
    CHECK_INT(p.count, -7);
    CHECK_INT(p.bounded, 10);
    /* a list with an unbalanced bracket or quote is not a list */
    bml__strvec v = {0};
    CHECK(bml__parse_string_list("[a, b", &v) != 0);
    bml__strvec_free(&v);
    CHECK(bml__parse_string_list("a, b]", &v) != 0);
    bml__strvec_free(&v);
    CHECK(bml__parse_string_list("['a, b]", &v) != 0);
    bml__strvec_free(&v);
    CHECK(bml__parse_string_list("[", &v) != 0);
    bml__strvec_free(&v);
}

/* ---- issue #10 item 12: a config file is checked like the command line ---- */
static char g_dir[64];

/* write text as file `name` in g_dir; the path is static storage until the next call */
static const char *put_file(const char *name, const char *text) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    write_text(path, text);
    return path;
}

/* the default resolved configuration with `edit` applied: the line starting with `find` replaced by
 * `repl` (NULL find: repl appended) */
static char *resolved_with(const char *find, const char *repl) {
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, NULL, 0, &c));
    char *y = c ? bml_config_to_yaml(c) : NULL;
    bml_config_free(c);
    if (!y) return NULL;
    char *out = malloc(strlen(y) + strlen(repl) + 2);
    const char *at = find ? strstr(y, find) : NULL;
    if (find && !at) {
        fprintf(stderr, "  no line '%s' in the resolved config\n", find);
        t_fail_count++;
        free(y);
        free(out);
        return NULL;
    }
    if (!at) sprintf(out, "%s%s", y, repl);
    else {
        const char *eol = strchr(at, '\n');
        sprintf(out, "%.*s%s%s", (int)(at - y), y, repl, eol ? eol : "");
    }
    free(y);
    return out;
}

static void check_resolved_err(const char *find, const char *repl, bml_status want, const char *needle) {
    char *text = resolved_with(find, repl);
    if (!text) return;
    const char *p = put_file("run.yaml", text);
    bml_config *c = NULL;
    CHECK_ERR(bml_config_load_resolved(p, CONFIGS, NULL, 0, &c), want, needle);
    CHECK((c == NULL) == (want != BML_OK));
    bml_config_free(c);
    free(text);
}

static void test_file_strictness(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/bml-test-cfg-XXXXXX");
    if (!mkdtemp(g_dir)) {
        CHECK(0);
        return;
    }
    /* the unmodified file loads */
    char *text = resolved_with(NULL, "");
    bml_config *c = NULL;
    if (text) CHECK_OK(bml_config_load_resolved(put_file("run.yaml", text), CONFIGS, NULL, 0, &c));
    bml_config_free(c);
    free(text);
    /* unknown keys are errors, as they are as overrides: file, line, column and key */
    check_resolved_err(NULL, "bogus_key: 1\n", BML_ERR_VALUE, "run.yaml:65:1: unknown config key or group 'bogus_key'");
    check_resolved_err("  epochs: 200", "  epochs: 200\n  bogus_t: 3", BML_ERR_VALUE,
                       "run.yaml:16:3: unknown config key 'training.bogus_t' (valid keys of 'training': epochs, batch_size");
    check_resolved_err(NULL, "training:\n  bogus_t: 3\n", BML_ERR_PARSE, "run.yaml:65:1: duplicate key 'training'");
    check_resolved_err("model:", "trainer:\n  epochs: 3\nmodel:", BML_ERR_VALUE, "unknown config section 'trainer' in 'trainer.epochs'");
    /* a value written as a mapping no longer drops the seed */
    check_resolved_err("seed: 42", "seed: {a: 1}", BML_ERR_VALUE, "run.yaml:2:8: config key 'seed' takes a value, not a mapping");
    check_resolved_err("training:", "training: 5\nxtraining:", BML_ERR_VALUE, "'training' is a section (keys: epochs,");
    check_resolved_err("seed: 42", "seed: 42\nseed: 7", BML_ERR_PARSE, "run.yaml:3:1: duplicate key 'seed'");
    check_resolved_err("  learning_rate: 0.05", "  learning_rate: 0.05\n  learning_rate: 0.5", BML_ERR_PARSE,
                       "duplicate key 'model.learning_rate'");
    check_resolved_err(NULL, "---\nseed: 3\n", BML_ERR_PARSE, "run.yaml:65:1: a second YAML document");
    /* every key must be there: a missing seed would silently be 42 */
    check_resolved_err("seed: 42", "", BML_ERR_VALUE, "missing key 'seed'");
    check_resolved_err("  name: lgbm", "  name: xgb", BML_ERR_NOT_FOUND, "model.name: unknown model 'xgb' (valid: acla,");
    check_resolved_err("  name: lgbm", "  name: ../x", BML_ERR_VALUE, "invalid option '../x'");
    check_resolved_err(NULL, "+bogus_key: 1\n+newsec:\n  extra: 2\n", BML_OK, "");
    check_resolved_err(NULL, "a..b: 1\n", BML_ERR_PARSE, "run.yaml:65:1: invalid key 'a..b'");
    check_resolved_err(NULL, "++a: 1\n", BML_ERR_PARSE, "run.yaml:65:1: invalid key '++a'");
    /* composing: the configuration directory's own files are held to the same rules */
    char *cmd = bml__sprintf("cp -r %s/. %s/", CONFIGS, g_dir);
    CHECK_INT(system(cmd), 0);
    free(cmd);
    put_file("model/dup.yaml", "name: dup\nn_estimators: 10\nn_estimators: 20\n");
    const char *dup[] = {"model=dup"};
    CHECK_ERR(bml_config_compose(g_dir, dup, 1, &c), BML_ERR_PARSE, "model/dup.yaml:3:1: duplicate key 'model.n_estimators'");
    put_file("model/dup.yaml", "name: dup\n---\nn_estimators: 20\n");
    CHECK_ERR(bml_config_compose(g_dir, dup, 1, &c), BML_ERR_PARSE, "model/dup.yaml:2:1: a second YAML document");
    /* a long list is a value like any other (4096 characters used to be the limit) */
    char *big = malloc(20000);
    strcpy(big, "name: dup\nitems: [");
    for (int i = 0; i < 2000; i++) sprintf(big + strlen(big), "%sitem%d", i ? ", " : "", i);
    strcat(big, "]\n");
    put_file("model/dup.yaml", big);
    free(big);
    CHECK_OK(bml_config_compose(g_dir, dup, 1, &c));
    if (c) CHECK(strstr(bml_config_get(c, "model.items"), "item1999]") != NULL);
    bml_config_free(c);
    c = NULL;
    /* defaults naming a group twice */
    char *top = NULL;
    char *tp = bml__sprintf("%s/config.yaml", g_dir);
    CHECK_OK(bml__read_file(tp, &top, NULL));
    free(tp);
    if (top) {
        char *t2 = bml__sprintf("%s", top);
        char *at = strstr(t2, "  - tracking: local");
        if (at) memcpy(at, "  - model: mlp     ", 19);
        put_file("config.yaml", t2);
        CHECK_ERR(bml_config_compose(g_dir, NULL, 0, &c), BML_ERR_PARSE, "group 'model' appears twice in the defaults list");
        free(t2);
    }
    free(top);
    cmd = bml__sprintf("rm -rf %s", g_dir);
    CHECK_INT(system(cmd), 0);
    free(cmd);
}

/* ---- issue #10 item 13: the resolved YAML loads back to the same values, whatever they hold ---- */
static void test_hostile_round_trip(void) {
    static const char *const hostile[] = {
        "rt1:", "a: b", "# hash", "a #b", " lead", "trail ", "\ttab", "tab\t", "cr\r", "a\rb", "line\nbreak", "\n",
        "ctl\001\002\037\177", "\"quoted\"", "'single'", "back\\slash", "\\n", "unicode: é ∑ 😀 \xc2\x85 \xe2\x80\xa8",
        "\xef\xbb\xbf" "bom", "{a: 1}", "{", "}", "[", "]", "[a, b]", "[1,5]", "[]", "[ ]", "[a, ]", "[, a]", "[a,  b]",
        "[x, 'y']", "[[1], 2]", "[a\tb, c]", "null", "Null", "NULL", "~", "", " ", "true", "no", "on", "1", "0x1F",
        "1e3", "-5", ".inf", ".nan", "- item", "? key", "!tag", "&anchor", "*alias", "|", ">", "%percent", "@at",
        "`tick", ",comma", "a, b", "---", "...", "key=value", "+plus", "=", "!!str x", "%YAML 1.1",
        "very long value with spaces repeated to exceed the emitter's line width of eighty columns, and more, and more"};
    size_t n = sizeof hostile / sizeof *hostile;
    char dir[] = "/tmp/bml-test-rt-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    for (size_t i = 0; i < n; i++) {
        char *ov_name = bml__sprintf("run_name=%s", hostile[i]);
        char *ov_note = bml__sprintf("+data.note=%s", hostile[i]);
        char *ov_top = bml__sprintf("+extra_%zu=%s", i, hostile[i]);
        char *ov_deep = bml__sprintf("+model.deep.k%zu=%s", i, hostile[i]);
        const char *ov[] = {ov_name, ov_note, ov_top, ov_deep, "split.train_temps=[10,40]"};
        bml_config *c = NULL, *r = NULL;
        CHECK_OK(bml_config_compose(CONFIGS, ov, 5, &c));
        char *y = c ? bml_config_to_yaml(c) : NULL;
        CHECK(c == NULL || y != NULL);
        if (y) {
            write_text(path, y);
            bml_status st = bml_config_load_resolved(path, CONFIGS, NULL, 0, &r);
            if (st != BML_OK) {
                fprintf(stderr, "  value %zu '%s' does not load back: %s\n", i, hostile[i], bml_last_error());
                t_fail_count++;
            }
        }
        if (r) {
            CHECK_INT(bml_config_count(r), bml_config_count(c));
            for (size_t k = 0; k < bml_config_count(c); k++) {
                bml_kv kv = bml_config_entry(c, k);
                const char *v = bml_config_get(r, kv.key);
                if (!v || strcmp(v, kv.value)) {
                    fprintf(stderr, "  value %zu: key %s: '%s' came back as '%s'\n", i, kv.key, kv.value, v ? v : "(none)");
                    t_fail_count++;
                }
            }
            /* and writing it again gives the same file */
            char *y2 = bml_config_to_yaml(r);
            CHECK(y2 && !strcmp(y, y2));
            free(y2);
        }
        free(y);
        bml_config_free(c);
        bml_config_free(r);
        free(ov_name);
        free(ov_note);
        free(ov_top);
        free(ov_deep);
    }
    /* bytes that are not UTF-8 cannot be written as YAML: refused where they come in */
    const char *bad[] = {"run_name=\xff\xfe"};
    bml_config *c = NULL;
    CHECK_ERR(bml_config_compose(CONFIGS, bad, 1, &c), BML_ERR_VALUE, "is not valid UTF-8");
    CHECK(c == NULL);
    /* a key cannot be both a value and a section: no YAML file could hold it */
    const char *both[] = {"+seed.x=1"};
    CHECK_ERR(bml_config_compose(CONFIGS, both, 1, &c), BML_ERR_VALUE, "'seed' is a value, not a section");
    const char *both2[] = {"+training=1"};
    CHECK_ERR(bml_config_compose(CONFIGS, both2, 1, &c), BML_ERR_VALUE, "'training' is a section");
    /* a leading '+' in a file marks an added key, so no name may start with one */
    const char *plus[] = {"++x=1"}, *plus2[] = {"+model.+x=1"};
    CHECK_ERR(bml_config_compose(CONFIGS, plus, 1, &c), BML_ERR_VALUE, "invalid config key '+x'");
    CHECK_ERR(bml_config_compose(CONFIGS, plus2, 1, &c), BML_ERR_VALUE, "invalid config key 'model.+x'");
    unlink(path);
    rmdir(dir);
}

/* A program linked with the static library is no install of the shared one: no installed configs (the
 * install test checks the other side: the installed libbatteryml.so.0 finds <prefix>/share/batteryml/configs).
 * Looked up once, the same answer every time. */
static void test_installed_dir(void) {
    CHECK(bml_config_installed_dir() == NULL);
    CHECK(bml_config_installed_dir() == NULL);
    bml_free(NULL);
    bml_free(malloc(16));
}

TEST_MAIN("config", T(test_installed_dir), T(test_defaults), T(test_overrides), T(test_errors), T(test_yaml_errors), T(test_resolved_round_trip),
          T(test_experiment_list), T(test_typed_values), T(test_int_params), T(test_file_strictness),
          T(test_hostile_round_trip))
