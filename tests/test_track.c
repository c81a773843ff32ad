/* Trackers: TensorBoard event files decoded back (TFRecord framing, CRC-32C, Event/Summary protocol
 * buffers) and the MLflow file store read back through its documented layout. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <yaml.h>

#include "core/internal.h"
#include "test.h"
#include "track/writers.h"

static char tmp[64];

/* ---- a minimal reader of what we wrote, written from the format descriptions ---- */
typedef struct {
    double wall_time;
    long step;
    char version[32];
    char tag[96];
    float value;
    int has_value;
} event;

static uint64_t varint(const unsigned char **p, const unsigned char *end) {
    uint64_t v = 0;
    for (int s = 0; *p < end && s < 64; s += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) break;
    }
    return v;
}

/* decode a message's fields; nested Summary / Value handled by recursion on field numbers */
static int decode(const unsigned char *p, const unsigned char *end, int level, event *e) {
    while (p < end) {
        uint64_t key = varint(&p, end);
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 0) {
            uint64_t v = varint(&p, end);
            if (level == 0 && field == 2) e->step = (long)v;
        } else if (wire == 1) {
            if (level == 0 && field == 1) memcpy(&e->wall_time, p, 8);
            p += 8;
        } else if (wire == 5) {
            if (level == 2 && field == 2) memcpy(&e->value, p, 4), e->has_value = 1;
            p += 4;
        } else if (wire == 2) {
            uint64_t n = varint(&p, end);
            if (p + n > end) return -1;
            if (level == 0 && field == 3) snprintf(e->version, sizeof e->version, "%.*s", (int)n, (const char *)p);
            else if (level == 0 && field == 5) decode(p, p + n, 1, e);       /* Summary */
            else if (level == 1 && field == 1) decode(p, p + n, 2, e);       /* Summary.Value */
            else if (level == 2 && field == 1) snprintf(e->tag, sizeof e->tag, "%.*s", (int)n, (const char *)p);
            p += n;
        } else {
            return -1;
        }
    }
    return 0;
}

/* read every record of an event file; checks both masked CRCs of each record */
static int read_events(const char *path, event *out, int cap) {
    char *buf;
    size_t len;
    if (bml__read_file(path, &buf, &len) != BML_OK) return -1;
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    int n = 0;
    while (p + 12 <= end && n < cap) {
        uint64_t l;
        uint32_t lc, dc;
        memcpy(&l, p, 8);
        memcpy(&lc, p + 8, 4);
        if (lc != bml__crc32c_masked(p, 8) || p + 12 + l + 4 > end) {
            n = -1;
            break;
        }
        memcpy(&dc, p + 12 + l, 4);
        if (dc != bml__crc32c_masked(p + 12, l)) {
            n = -1;
            break;
        }
        memset(&out[n], 0, sizeof out[n]);
        if (decode(p + 12, p + 12 + l, 0, &out[n]) != 0) {
            n = -1;
            break;
        }
        n++;
        p += 12 + l + 4;
    }
    free(buf);
    return n;
}

static void test_crc32c(void) {
    CHECK_INT(bml__crc32c("123456789", 9), 0xE3069283u); /* the standard check value of CRC-32C */
    CHECK_INT(bml__crc32c("", 0), 0);
}

static void test_tensorboard_round_trip(void) {
    bml__scalar s[3] = {{"loss/train", 1, 0.5}, {"loss/train", 2, 0.25}, {"soh/rmse", 0, 0.0123}};
    char dir[128], *path = NULL;
    snprintf(dir, sizeof dir, "%s/tb", tmp);
    CHECK_OK(bml__tensorboard_write(dir, 1700000000.5, s, 3, &path));
    CHECK(path && strstr(path, "/events.out.tfevents.1700000000."));
    event ev[8];
    int n = path ? read_events(path, ev, 8) : -1;
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK_STR(ev[0].version, "brain.Event:2");
        CHECK_NEAR(ev[0].wall_time, 1700000000.5, 0);
        for (int i = 0; i < 3; i++) {
            CHECK_STR(ev[i + 1].tag, s[i].tag);
            CHECK_INT(ev[i + 1].step, s[i].step);
            CHECK(ev[i + 1].has_value);
            CHECK_NEAR(ev[i + 1].value, (float)s[i].value, 0);
        }
    }
    /* a flipped byte is caught by the CRC */
    if (path) {
        char *buf;
        size_t len;
        CHECK_OK(bml__read_file(path, &buf, &len));
        buf[len - 10] ^= 1;
        write_text(path, ""); /* rewrite with the damage */
        FILE *f = fopen(path, "wb");
        fwrite(buf, 1, len, f);
        fclose(f);
        CHECK_INT(read_events(path, ev, 8), -1);
        free(buf);
    }
    free(path);
}

/* first file in dir whose name starts with prefix (malloc'ed path) or NULL */
static char *find(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    char *r = NULL;
    struct dirent *e;
    while (d && !r && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && e->d_name[0] != '.') r = bml__path_join(dir, e->d_name);
    if (d) closedir(d);
    return r;
}

/* a flat mapping of a YAML file (parsed with libyaml: the file must be valid YAML) */
static int yaml_get(const char *path, const char *key, char *out, size_t size) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    yaml_parser_t p;
    yaml_event_t e;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int found = -1, is_key = 1, depth = 0, next = 0;
    while (yaml_parser_parse(&p, &e)) {
        int done = e.type == YAML_STREAM_END_EVENT;
        if (e.type == YAML_MAPPING_START_EVENT || e.type == YAML_SEQUENCE_START_EVENT) depth++, is_key = 1;
        if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) depth--, is_key = 1;
        if (e.type == YAML_SCALAR_EVENT && depth == 1) {
            if (is_key) next = !strcmp((char *)e.data.scalar.value, key);
            else if (next) snprintf(out, size, "%s", (char *)e.data.scalar.value), found = 0, next = 0;
            is_key = !is_key;
        } else if (e.type == YAML_SEQUENCE_START_EVENT && depth == 2) {
            is_key = 0; /* tags: [] */
        }
        yaml_event_delete(&e);
        if (done) break;
    }
    yaml_parser_delete(&p);
    fclose(f);
    return found;
}

static void test_mlflow_store_and_tensorboard_of_a_run(void) {
    char od[128], ml[128];
    snprintf(od, sizeof od, "output_dir=%s/runs", tmp);
    snprintf(ml, sizeof ml, "tracking.mlruns_dir=%s/mlruns", tmp);
    const char *ov[] = {od, "tracking=all", ml, "model=mlp", "training.epochs=7", "training.patience=0"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov, 6, &c));
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    bml_run_result *r = NULL;
    if (c) CHECK_OK(bml_run_experiment(c, &o, &r));
    if (!r) {
        bml_config_free(c);
        return;
    }
    cJSON *m = cJSON_Parse(r->metrics_json);
    double rmse = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "overall"), "soh"), "rmse")->valuedouble;
    /* the experiment, found by name as MLflow does: <root>/<id>/meta.yaml */
    char root[128], v[512], path[512];
    snprintf(root, sizeof root, "%s/mlruns", tmp);
    snprintf(path, sizeof path, "%s/0/meta.yaml", root);
    CHECK_INT(yaml_get(path, "name", v, sizeof v), 0);
    CHECK_STR(v, "Default");
    snprintf(path, sizeof path, "%s/1/meta.yaml", root);
    CHECK_INT(yaml_get(path, "name", v, sizeof v), 0);
    CHECK_STR(v, "batteryml");
    CHECK_INT(yaml_get(path, "experiment_id", v, sizeof v), 0);
    CHECK_STR(v, "1");
    CHECK_INT(yaml_get(path, "lifecycle_stage", v, sizeof v), 0);
    CHECK_STR(v, "active");
    char exp_dir[160];
    snprintf(exp_dir, sizeof exp_dir, "%s/1", root);
    char *run_dir = NULL;
    DIR *d = opendir(exp_dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strlen(e->d_name) == 32) run_dir = bml__path_join(exp_dir, e->d_name);
    if (d) closedir(d);
    CHECK(run_dir != NULL);
    if (run_dir) {
        snprintf(path, sizeof path, "%s/meta.yaml", run_dir);
        CHECK_INT(yaml_get(path, "run_id", v, sizeof v), 0);
        CHECK_STR(v, strrchr(run_dir, '/') + 1);
        CHECK_INT(yaml_get(path, "status", v, sizeof v), 0);
        CHECK_STR(v, "3"); /* FINISHED */
        CHECK_INT(yaml_get(path, "experiment_id", v, sizeof v), 0);
        CHECK_STR(v, "1");
        CHECK_INT(yaml_get(path, "artifact_uri", v, sizeof v), 0);
        CHECK(!strncmp(v, "file:///", 8) && strstr(v, "/artifacts"));
        /* every config key is a param with its value */
        for (size_t i = 0; i < bml_config_count(c); i++) {
            bml_kv kv = bml_config_entry(c, i);
            char *txt = NULL;
            snprintf(path, sizeof path, "%s/params/%s", run_dir, kv.key);
            CHECK_OK(bml__read_file(path, &txt, NULL));
            if (txt) CHECK_STR(txt, kv.value);
            free(txt);
        }
        /* metrics: "timestamp value step" lines */
        char *txt = NULL;
        snprintf(path, sizeof path, "%s/metrics/soh/rmse", run_dir);
        CHECK_OK(bml__read_file(path, &txt, NULL));
        long long ts;
        double val;
        long step;
        CHECK(txt && sscanf(txt, "%lld %lf %ld", &ts, &val, &step) == 3);
        if (txt) CHECK_NEAR(val, rmse, 0);
        free(txt);
        snprintf(path, sizeof path, "%s/metrics/loss/train", run_dir);
        CHECK_OK(bml__read_file(path, &txt, NULL));
        int lines = 0;
        for (char *q = txt; q && *q; q++) lines += *q == '\n';
        CHECK_INT(lines, 7);
        free(txt);
        snprintf(path, sizeof path, "%s/tags/mlflow.runName", run_dir);
        CHECK_OK(bml__read_file(path, &txt, NULL));
        if (txt) CHECK_STR(txt, strrchr(r->run_dir, '/') + 1);
        free(txt);
        snprintf(path, sizeof path, "%s/artifacts/metrics.json", run_dir);
        CHECK(bml__is_file(path));
        free(run_dir);
    }
    /* TensorBoard inside the run directory */
    char tbd[300];
    snprintf(tbd, sizeof tbd, "%s/tensorboard", r->run_dir);
    char *ef = find(tbd, "events.out.tfevents.");
    CHECK(ef != NULL);
    event ev[64];
    int n = ef ? read_events(ef, ev, 64) : -1;
    CHECK(n > 8);
    int seen_rmse = 0, seen_train = 0;
    for (int i = 1; i < n; i++) {
        if (!strcmp(ev[i].tag, "soh/rmse")) seen_rmse = fabs(ev[i].value - (float)rmse) < 1e-7;
        if (!strcmp(ev[i].tag, "loss/train")) seen_train++;
    }
    CHECK(seen_rmse);
    CHECK_INT(seen_train, 7);
    free(ef);
    cJSON_Delete(m);
    bml_run_result_free(r);
    /* a second run lands in the same experiment */
    r = NULL;
    CHECK_OK(bml_run_experiment(c, &o, &r));
    int runs = 0;
    d = opendir(exp_dir);
    while (d && (e = readdir(d))) runs += strlen(e->d_name) == 32;
    if (d) closedir(d);
    CHECK_INT(runs, 2);
    bml_run_result_free(r);
    bml_config_free(c);
    const char *bad[] = {"tracking=wandb"};
    CHECK_ERR(bml_config_compose(BML_SOURCE_DIR "/configs", bad, 1, &c), BML_ERR_NOT_FOUND,
              "unknown tracking 'wandb' (valid: all, local, mlflow, tensorboard)");
}


/* every table entry: recomputed bit by bit, so a wrong constant in the table cannot pass */
static void test_crc32c_table(void) {
    for (unsigned b = 0; b < 256; b++) {
        unsigned char byte = (unsigned char)b;
        uint32_t c = 0xFFFFFFFFu ^ byte;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        CHECK_INT(bml__crc32c(&byte, 1), c ^ 0xFFFFFFFFu);
    }
}

/* a fake run directory holding the given metrics.json and a config.yaml */
static void fake_run(const char *dir, const char *metrics, size_t len) {
    bml__mkdir_p(dir);
    char *p = bml__path_join(dir, "metrics.json");
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(metrics, 1, len, f);
        fclose(f);
    }
    free(p);
    p = bml__path_join(dir, "config.yaml");
    write_text(p, "seed: 42\nmodel:\n  name: lgbm\n");
    free(p);
}

/* report and compare read metrics.json as untrusted input: every damaged shape is an error naming the
 * file and the member, and no report is written */
static void test_report_compare_hostile_metrics(void) {
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"overall\":{\"soh\":1}}", "overall.soh: expected an object of metrics"},
        {"{\"overall\":[1,2],\"per_cell\":[3]}", "overall: expected an object of targets"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"per_cell\":[3]}", "per_cell: expected an object of groups"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"per_cell\":{\"E5-A\":7}}", "per_cell.E5-A: expected an object of targets"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"per_temperature\":{\"25\":{\"soh\":[]}}}", "per_temperature.25.soh: expected an object"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"per_cell\":{\"A\":{\"soh\":{\"mae\":\"x\"}}}}", "per_cell.A.soh.mae: expected a number"},
        {"{\"overall\":{\"soh\":{\"rmse\":\"0.1\"}}}", "overall.soh.rmse: expected a number or null"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"fold_summary\":{\"soh\":{\"rmse_mean\":{}}}}", "fold_summary.soh.rmse_mean"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"fold_summary\":3}", "fold_summary: expected an object"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"study\":[1]}", "study: expected an object"},
        {"{\"overall\":{\"soh\":{\"rmse\":0.1}},\"study\":{\"model\":{\"a\":1}}}", ""}, /* nested study values are not shown: fine */
        {"{\"study\":{}}", "no 'overall' metrics"},
        {"[1,2,3]", "expected a JSON object at the top"},
        {"", "metrics.json:1:1: not valid JSON"},
        {"{\"overall\":\n  {\"soh\": {]}}", "metrics.json:2:"},
        {"{\"overall\":{}} trailing", "not valid JSON"},
        {"\x89PNG\r\n\x1a\n\x00\x01garbage", "metrics.json:3:1: a NUL byte"},
        {"{\"overall\":{}}\n\n", NULL}, /* valid: no targets */
    };
    char dir[200], out[240];
    snprintf(dir, sizeof dir, "%s/hostile-run", tmp);
    snprintf(out, sizeof out, "%s/report.html", dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = strlen(cases[i].json);
        if (cases[i].json[0] == '\x89') len = 12;
        fake_run(dir, cases[i].json, len);
        remove(out);
        const char *dirs[] = {dir};
        char *table = NULL;
        if (cases[i].needle && *cases[i].needle) {
            CHECK_ERR(bml_run_report(dir, out), BML_ERR_PARSE, cases[i].needle);
            CHECK(!bml__is_file(out));
            CHECK_ERR(bml_run_compare(dirs, 1, &table), BML_ERR_PARSE, cases[i].needle);
            CHECK(table == NULL);
        } else {
            CHECK_OK(bml_run_report(dir, out));
            CHECK_OK(bml_run_compare(dirs, 1, &table));
            CHECK(table != NULL);
        }
        free(table);
        if (t_fail_count) fprintf(stderr, "  (case %zu: %s)\n", i, cases[i].json);
    }
    /* a NUL byte inside the file: an error with its place, not a silently shorter text */
    fake_run(dir, "{\"overall\":{}}\n\0{}", 18);
    CHECK_ERR(bml_run_report(dir, out), BML_ERR_PARSE, "metrics.json:2:1: a NUL byte");
    /* a missing metrics.json, a folder in its place */
    char *m = bml__path_join(dir, "metrics.json");
    remove(m);
    remove(out);
    CHECK(bml_run_report(dir, out) != BML_OK);
    bml__mkdir_p(m);
    CHECK(bml_run_report(dir, out) != BML_OK);
    CHECK(!bml__is_file(out));
    bml__rm_rf(dir);
    free(m);
}

/* names from the data and the user reach the page escaped; a link planted among the figures is refused */
static void test_report_escapes_and_refuses_links(void) {
    char dir[240], out[300], fig[300], link[340];
    snprintf(dir, sizeof dir, "%s/run <i>&\"x\"'", tmp);
    snprintf(out, sizeof out, "%s/report.html", dir);
    const char *json = "{\"study\":{\"model\":\"<script>alert(1)</script>\"},"
                       "\"overall\":{\"s<o>h\":{\"n\":3,\"rmse\":0.5,\"mae\":null}},"
                       "\"per_cell\":{\"E1-\\u0001<img src=x>\":{\"soh\":{\"rmse\":1}}}}";
    fake_run(dir, json, strlen(json));
    CHECK_OK(bml_run_report(dir, out));
    char *html = NULL;
    CHECK_OK(bml__read_file(out, &html, NULL));
    if (html) {
        CHECK(!strstr(html, "<script>") && strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
        CHECK(!strstr(html, "<img src=x>") && strstr(html, "&lt;img src=x&gt;"));
        CHECK(strstr(html, "s&lt;o&gt;h") != NULL);
        CHECK(strstr(html, "run &lt;i&gt;&amp;&quot;x&quot;&#39;") != NULL);
        CHECK(strstr(html, "E1-&#xfffd;") != NULL); /* a control character, made visible */
        CHECK(strstr(html, "<td>&ndash;</td>") != NULL); /* null metric */
    }
    free(html);
    const char *dirs[] = {dir};
    char *table = NULL;
    CHECK_OK(bml_run_compare(dirs, 1, &table));
    CHECK(table && strstr(table, "<script>alert(1)</script>") && strstr(table, " nan"));
    free(table);
    /* figures: a symbolic link to a file outside is never embedded; a non-PNG named .png is an error */
    snprintf(fig, sizeof fig, "%s/figures", dir);
    bml__mkdir_p(fig);
    snprintf(link, sizeof link, "%s/a.png", fig);
    CHECK(symlink("/etc/passwd", link) == 0);
    CHECK_ERR(bml_run_report(dir, out), BML_ERR_IO, "not a regular file");
    remove(link);
    write_text(link, "not a png at all");
    CHECK_ERR(bml_run_report(dir, out), BML_ERR_PARSE, "a.png: not a PNG image");
    bml__rm_rf(dir);
}

/* a long store path and hostile names: every file lands where MLflow expects it, every name reads back */
static void test_mlflow_long_paths_and_hostile_names(void) {
    char root[400];
    int n = snprintf(root, sizeof root, "%s/", tmp);
    for (; n < 300; n++) root[n] = n % 50 == 0 ? '/' : 'd';
    snprintf(root + n, sizeof root - (size_t)n, "/mlruns");
    const char *ov[] = {"seed=3"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", ov, 1, &c));
    bml__scalar s[] = {{"soh/rmse", 0, 0.25}, {"../../escape", 0, 1}, {"a/./b/../c", 1, 2}, {"loss/train", 1, 0.5}, {"loss/train", 2, 0.4}};
    const char *exp_name = "exp: \"quoted\" # not a comment\nsecond line", *run = "run: x\t'y'\\z";
    char *id = NULL, *id2 = NULL;
    size_t np = bml_config_count(c);
    bml_kv *params = calloc(np + 1, sizeof *params);
    for (size_t i = 0; params && i < np; i++) params[i] = bml_config_entry(c, i);
    CHECK_OK(bml__mlflow_log(root, exp_name, run, params, np, s, 5, NULL, 1.0, 2.0, &id));
    CHECK_OK(bml__mlflow_log(root, exp_name, run, params, np, s, 5, NULL, 1.0, 2.0, &id2)); /* found again by name */
    char path[700], v[512];
    snprintf(path, sizeof path, "%s/1/meta.yaml", root);
    CHECK_INT(yaml_get(path, "name", v, sizeof v), 0);
    CHECK_STR(v, exp_name);
    snprintf(path, sizeof path, "%s/2", root);
    CHECK(!bml__is_dir(path)); /* the same experiment both times */
    if (id && id2) {
        snprintf(path, sizeof path, "%s/1/%s/meta.yaml", root, id);
        CHECK_INT(yaml_get(path, "run_name", v, sizeof v), 0);
        CHECK_STR(v, run);
        char *txt = NULL;
        snprintf(path, sizeof path, "%s/1/%s/metrics/soh/rmse", root, id2);
        CHECK_OK(bml__read_file(path, &txt, NULL));
        free(txt);
        txt = NULL;
        snprintf(path, sizeof path, "%s/1/%s/metrics/loss/train", root, id2);
        CHECK_OK(bml__read_file(path, &txt, NULL));
        int lines = 0;
        for (char *q = txt; q && *q; q++) lines += *q == '\n';
        CHECK_INT(lines, 2);
        free(txt);
        /* tags with ".." stay inside the run's metrics folder */
        snprintf(path, sizeof path, "%s/1/%s/metrics/_/_/escape", root, id);
        CHECK(bml__is_file(path));
        snprintf(path, sizeof path, "%s/1/%s/metrics/a/_/b/_/c", root, id);
        CHECK(bml__is_file(path));
        snprintf(path, sizeof path, "%s/1/escape", root);
        CHECK(!bml__is_file(path));
        snprintf(path, sizeof path, "%s/escape", root);
        CHECK(!bml__is_file(path));
    }
    free(id);
    free(id2);
    /* two tags that would share one file are an error, not mixed lines */
    bml__scalar clash[] = {{"a?b", 0, 1}, {"a_b", 0, 2}};
    CHECK_ERR(bml__mlflow_log(root, "clash", "r", params, np, clash, 2, NULL, 1.0, 2.0, NULL), BML_ERR_VALUE, "the same MLflow key 'a_b'");
    /* a damaged experiment meta.yaml is an error naming it, not a silent new experiment */
    snprintf(path, sizeof path, "%s/7", root);
    bml__mkdir_p(path);
    snprintf(path, sizeof path, "%s/7/meta.yaml", root);
    write_text(path, "name: [unclosed\n");
    CHECK_ERR(bml__mlflow_log(root, "other", "r", params, np, s, 1, NULL, 1.0, 2.0, NULL), BML_ERR_PARSE, "7/meta.yaml:");
    bml_config_free(c);
    free(params);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-track-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    static const test_case tests[] = {T(test_crc32c), T(test_crc32c_table), T(test_tensorboard_round_trip),
                                      T(test_mlflow_store_and_tensorboard_of_a_run), T(test_report_compare_hostile_metrics),
                                      T(test_report_escapes_and_refuses_links), T(test_mlflow_long_paths_and_hostile_names)};
    int rc = run_tests("track", tests, sizeof tests / sizeof *tests);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return rc;
}
