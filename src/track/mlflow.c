/* MLflow-compatible file store (the layout of mlflow.store.tracking.file_store.FileStore). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "track/writers.h"

static long long ms(double t) { return (long long)llround(t * 1000.0); }

static bml_status write_text(const char *dir, const char *name, const char *text) {
    char *p = bml__path_join(dir, name);
    if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
    /* keys may hold '/': MLflow keeps them as sub-folders */
    char *slash = strrchr(p, '/');
    bml_status st = BML_OK;
    if (slash) {
        *slash = 0;
        st = bml__mkdir_p(p);
        *slash = '/';
    }
    if (st == BML_OK) st = bml__write_file(p, text, strlen(text));
    free(p);
    return st;
}

/* a config key as an MLflow param name: letters, digits, _ - . space / only */
static void safe_key(const char *k, char *out, size_t size) {
    size_t i = 0;
    for (; *k && i + 1 < size; k++)
        out[i++] = (char)((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
                                  strchr("_-. /", *k)
                              ? *k
                              : '_');
    out[i] = 0;
}

/* the id of the experiment called `name` in root, creating it (and the Default experiment 0) if needed */
static bml_status experiment_id(const char *root, const char *name, double now, char *id, size_t size) {
    BML__TRY(bml__mkdir_p(root));
    DIR *d = opendir(root);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open", root);
    long max_id = -1, found = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long v;
        if (bml__parse_long(e->d_name, &v) != 0 || v < 0) continue;
        if (v > max_id) max_id = v;
        char *meta = bml__sprintf("%s/%s/meta.yaml", root, e->d_name), *txt = NULL;
        if (meta && bml__read_file(meta, &txt, NULL) == BML_OK) {
            char want[300];
            snprintf(want, sizeof want, "\nname: %s\n", name);
            if (strstr(txt, want)) found = v;
        }
        free(txt);
        free(meta);
    }
    closedir(d);
    char *abs = realpath(root, NULL);
    if (!abs) return bml__fail(BML_ERR_IO, "%s: %s", root, strerror(errno));
    bml_status st = BML_OK;
    if (max_id < 0) { /* a new store: MLflow's Default experiment first */
        char *m = bml__sprintf("artifact_location: file://%s/0\ncreation_time: %lld\nexperiment_id: '0'\nlast_update_time: %lld\n"
                               "lifecycle_stage: active\nname: Default\n", abs, ms(now), ms(now));
        char *dir0 = bml__sprintf("%s/0", root);
        st = m && dir0 ? bml__mkdir_p(dir0) : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) st = write_text(dir0, "meta.yaml", m);
        free(m);
        free(dir0);
        max_id = 0;
    }
    if (st == BML_OK && found < 0) {
        found = max_id + 1;
        char *dir = bml__sprintf("%s/%ld", root, found);
        char *m = bml__sprintf("artifact_location: file://%s/%ld\ncreation_time: %lld\nexperiment_id: '%ld'\n"
                               "last_update_time: %lld\nlifecycle_stage: active\nname: %s\n",
                               abs, found, ms(now), found, ms(now), name);
        st = m && dir ? bml__mkdir_p(dir) : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) st = write_text(dir, "meta.yaml", m);
        free(m);
        free(dir);
    }
    free(abs);
    snprintf(id, size, "%ld", found);
    return st;
}

static bml_status copy_dir(const char *from, const char *to) {
    BML__TRY(bml__mkdir_p(to));
    DIR *d = opendir(from);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open", from);
    bml_status st = BML_OK;
    struct dirent *e;
    while (st == BML_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *a = bml__path_join(from, e->d_name), *b = bml__path_join(to, e->d_name);
        if (!a || !b) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (bml__is_dir(a)) st = copy_dir(a, b);
        else {
            char *buf;
            size_t len;
            st = bml__read_file(a, &buf, &len);
            if (st == BML_OK) {
                st = bml__write_file(b, buf, len);
                free(buf);
            }
        }
        free(a);
        free(b);
    }
    closedir(d);
    return st;
}

bml_status bml__mlflow_log(const char *root, const char *experiment, const char *run_name, const bml_config *cfg,
                           const bml__scalar *s, size_t n, const char *artifacts_dir, double start_time,
                           double end_time, char **run_id) {
    if (run_id) *run_id = NULL;
    char exp[32];
    BML__TRY(experiment_id(root, experiment, end_time, exp, sizeof exp));
    /* run id: 32 hex digits from the system's random source (ids are names, not random choices of a study) */
    unsigned char rnd[16] = {0};
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(rnd, 1, 16, ur) != 16) {
        if (ur) fclose(ur);
        return bml__fail(BML_ERR_IO, "cannot read /dev/urandom for a run id");
    }
    fclose(ur);
    char id[33];
    for (int i = 0; i < 16; i++) snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    /* the run is written into a staging directory (stale ones of killed runs removed first) and published whole */
    char *final = NULL, *expdir = bml__sprintf("%s/%s", root, exp);
    char *abs_root = realpath(root, NULL);
    bml__stage stage = {NULL, -1};
    bml_status st = expdir && abs_root ? bml__stage_clean(expdir, NULL) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__stage_open(&stage, expdir, "run");
    const char *tmp = stage.path;
    char *meta = NULL;
    if (st == BML_OK) {
        char *user = getenv("USER");
        meta = bml__sprintf("artifact_uri: file://%s/%s/%s/artifacts\nend_time: %lld\nentry_point_name: ''\nexperiment_id: '%s'\n"
                            "lifecycle_stage: active\nrun_id: %s\nrun_name: %s\nrun_uuid: %s\nsource_name: ''\nsource_type: 4\n"
                            "source_version: ''\nstart_time: %lld\nstatus: 3\ntags: []\nuser_id: %s\n",
                            abs_root, exp, id, ms(end_time), exp, id, run_name, id, ms(start_time), user ? user : "batteryml");
        st = meta ? write_text(tmp, "meta.yaml", meta) : bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    /* params: every configuration key */
    for (size_t i = 0; st == BML_OK && i < bml_config_count(cfg); i++) {
        bml_kv kv = bml_config_entry(cfg, i);
        char key[256], rel[300];
        safe_key(kv.key, key, sizeof key);
        snprintf(rel, sizeof rel, "params/%s", key);
        st = write_text(tmp, rel, kv.value);
    }
    /* metrics: one file per key, "timestamp value step" lines */
    for (size_t i = 0; st == BML_OK && i < n; i++) {
        char key[128], rel[160], line[96];
        safe_key(s[i].tag, key, sizeof key);
        snprintf(rel, sizeof rel, "%s/metrics/%s", tmp, key);
        char *slash = strrchr(rel, '/');
        *slash = 0;
        st = bml__mkdir_p(rel);
        *slash = '/';
        FILE *f = st == BML_OK ? fopen(rel, "ab") : NULL;
        if (st == BML_OK && !f) st = bml__fail(BML_ERR_IO, "%s: cannot write", rel);
        if (f) {
            snprintf(line, sizeof line, "%lld %.17g %ld\n", ms(end_time), s[i].value, s[i].step);
            if (fputs(line, f) < 0) st = bml__fail(BML_ERR_IO, "%s: write failed", rel);
            if (fclose(f) != 0 && st == BML_OK) st = bml__fail(BML_ERR_IO, "%s: write failed", rel);
        }
    }
    const char *tags[][2] = {{"mlflow.runName", run_name}, {"mlflow.source.name", "batteryml"},
                             {"mlflow.source.type", "LOCAL"}, {"mlflow.user", getenv("USER") ? getenv("USER") : "batteryml"}};
    for (size_t i = 0; st == BML_OK && i < sizeof tags / sizeof *tags; i++) {
        char rel[96];
        snprintf(rel, sizeof rel, "tags/%s", tags[i][0]);
        st = write_text(tmp, rel, tags[i][1]);
    }
    if (st == BML_OK && artifacts_dir) {
        char *a = bml__path_join(tmp, "artifacts");
        st = a ? copy_dir(artifacts_dir, a) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(a);
    }
    if (st == BML_OK) st = bml__stage_publish(&stage, expdir, id, 0, &final);
    bml__stage_discard(&stage);
    if (st == BML_OK && run_id) *run_id = bml__strdup(id);
    free(meta);
    free(final);
    free(expdir);
    free(abs_root);
    return st;
}
