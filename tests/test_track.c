/* Trackers: TensorBoard event files decoded back (TFRecord framing, CRC-32C, Event/Summary protocol
 * buffers) and the MLflow file store read back through its documented layout. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
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
    bml_run_opts o = {BML_SOURCE_DIR, NULL, NULL, 1, NULL, NULL};
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

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-track-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    static const test_case tests[] = {T(test_crc32c), T(test_tensorboard_round_trip),
                                      T(test_mlflow_store_and_tensorboard_of_a_run)};
    int rc = run_tests("track", tests, sizeof tests / sizeof *tests);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    return rc;
}
