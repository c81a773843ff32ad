/* MLflow-compatible file store (the layout of mlflow.store.tracking.file_store.FileStore).
 * Names come from the user and the data (experiment and run names, configuration keys, target names in
 * metric tags): every one is quoted in YAML, and a key becomes a path inside the run only after each of
 * its '/'-separated parts is made a plain file name, so nothing is written outside the run's folder. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/internal.h"
#include "track/writers.h"

static long long ms(double t) { return (long long)llround(t * 1000.0); }

/* s as a YAML double-quoted scalar (caller frees): quotes, backslashes and control characters escaped,
 * so any name reads back as itself */
static char *yaml_quote(const char *s) {
    size_t n = 3;
    for (const char *p = s; *p; p++) n += 4;
    char *q = malloc(n), *o = q;
    if (!q) return NULL;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') *o++ = '\\', *o++ = (char)*p;
        else if (*p == '\n') *o++ = '\\', *o++ = 'n';
        else if (*p == '\t') *o++ = '\\', *o++ = 't';
        else if (*p < 0x20 || *p == 0x7f) o += sprintf(o, "\\x%02x", *p);
        else *o++ = (char)*p;
    }
    *o++ = '"';
    *o = 0;
    return q;
}

/* A key as a relative path of plain names: MLflow keeps '/' in keys as sub-folders; each part keeps
 * letters, digits and "_-. " and anything else becomes '_'; empty, "." and ".." parts become "_", so
 * the result never leaves the folder it is joined to. Caller frees. */
static char *safe_key(const char *k) {
    size_t n = strlen(k);
    char *out = malloc(2 * n + 2), *o = out;
    if (!out) return NULL;
    const char *part = k;
    for (;;) {
        const char *end = strchr(part, '/');
        size_t len = end ? (size_t)(end - part) : strlen(part);
        if (len == 0 || (len == 1 && part[0] == '.') || (len == 2 && part[0] == '.' && part[1] == '.')) {
            *o++ = '_';
        } else {
            for (size_t i = 0; i < len; i++) {
                char c = part[i];
                *o++ = (char)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("_-. ", c))
                                  ? c
                                  : '_');
            }
        }
        if (!end) break;
        *o++ = '/';
        part = end + 1;
    }
    *o = 0;
    return out;
}

/* write `text` to dir/rel, creating rel's folders; append adds to an existing file */
static bml_status write_rel(const char *dir, const char *rel, const char *text, int append) {
    char *p = bml__path_join(dir, rel);
    if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *slash = strrchr(p, '/');
    bml_status st = BML_OK;
    if (slash) {
        *slash = 0;
        st = bml__mkdir_p(p);
        *slash = '/';
    }
    if (st == BML_OK && !append) {
        st = bml__write_file(p, text, strlen(text));
    } else if (st == BML_OK) {
        FILE *f = fopen(p, "ab");
        if (!f) {
            st = bml__fail(BML_ERR_IO, "%s: %s", p, strerror(errno));
        } else {
            size_t len = strlen(text);
            int bad = fwrite(text, 1, len, f) != len;
            bad |= fclose(f) != 0;
            if (bad) st = bml__fail(BML_ERR_IO, "%s: write failed: %s", p, strerror(errno));
        }
    }
    free(p);
    return st;
}

/* an experiment's meta.yaml, in the store itself: atomically (a full disk never leaves an unreadable one) */
static bml_status write_meta(const char *dir, const char *text) {
    char *p = bml__path_join(dir, "meta.yaml");
    bml_status st = p ? bml__write_file_atomic(p, text, strlen(text)) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(p);
    return st;
}

/* The `name` of an experiment's meta.yaml (a top-level scalar), parsed as YAML: *name NULL when the
 * file has none. A file that is not YAML is an error: the store is damaged. */
static bml_status meta_name(const char *path, char **name) {
    *name = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return bml__fail(BML_ERR_IO, "%s: %s", path, strerror(errno));
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&p, f);
    bml_status st = BML_OK;
    int depth = 0, want_value = 0, is_key = 1, done = 0;
    while (!done && st == BML_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: %s: not an MLflow experiment's meta.yaml", path, p.problem_mark.line + 1,
                           p.problem_mark.column + 1, p.problem ? p.problem : "YAML error");
            break;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (depth == 1) is_key = 1, want_value = 0; /* a nested value of a top-level key */
            depth++;
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT:
            if (depth == 1) {
                const char *v = (const char *)ev.data.scalar.value;
                if (is_key) want_value = !strcmp(v, "name");
                else if (want_value && !*name && !(*name = bml__strdup(v))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
                is_key = !is_key;
            }
            break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (st != BML_OK) {
        free(*name);
        *name = NULL;
    }
    return st;
}

/* The id of the experiment called `name` in root, creating it (and the Default experiment 0) if
 * needed. *id owned by the caller. */
static bml_status experiment_id(const char *root, const char *name, double now, char **id) {
    *id = NULL;
    BML__TRY(bml__mkdir_p(root));
    DIR *d = opendir(root);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", root, strerror(errno));
    long max_id = -1, found = -1;
    struct dirent *e;
    bml_status st = BML_OK;
    while (st == BML_OK && (e = readdir(d))) {
        long v;
        if (bml__parse_long(e->d_name, &v) != 0 || v < 0) continue; /* not an experiment folder */
        if (v > max_id) max_id = v;
        char *meta = bml__sprintf("%s/%s/meta.yaml", root, e->d_name), *have = NULL;
        st = meta ? meta_name(meta, &have) : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK && have && !strcmp(have, name) && (found < 0 || v < found)) found = v;
        free(have);
        free(meta);
    }
    closedir(d);
    if (st != BML_OK) return st;
    char *abs = realpath(root, NULL);
    if (!abs) return bml__fail(BML_ERR_IO, "%s: %s", root, strerror(errno));
    if (max_id < 0) { /* a new store: MLflow's Default experiment first */
        char *loc = bml__sprintf("file://%s/0", abs), *qloc = loc ? yaml_quote(loc) : NULL;
        char *m = qloc ? bml__sprintf("artifact_location: %s\ncreation_time: %lld\nexperiment_id: '0'\nlast_update_time: %lld\n"
                                      "lifecycle_stage: active\nname: Default\n", qloc, ms(now), ms(now))
                       : NULL;
        free(loc);
        free(qloc);
        char *dir0 = bml__sprintf("%s/0", root);
        st = m && dir0 ? bml__mkdir_p(dir0) : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) st = write_meta(dir0, m);
        free(m);
        free(dir0);
        max_id = 0;
    }
    if (st == BML_OK && found < 0) {
        if (max_id == LONG_MAX) st = bml__fail(BML_ERR_VALUE, "%s: no experiment id left", root);
        found = max_id + 1;
        char *dir = bml__sprintf("%s/%ld", root, found), *qname = yaml_quote(name);
        char *loc = bml__sprintf("file://%s/%ld", abs, found), *qloc = loc ? yaml_quote(loc) : NULL;
        char *m = qname && qloc ? bml__sprintf("artifact_location: %s\ncreation_time: %lld\nexperiment_id: '%ld'\n"
                                               "last_update_time: %lld\nlifecycle_stage: active\nname: %s\n",
                                               qloc, ms(now), found, ms(now), qname)
                                : NULL;
        free(loc);
        if (st == BML_OK) st = m && dir ? bml__mkdir_p(dir) : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK) st = write_meta(dir, m);
        free(m);
        free(dir);
        free(qname);
        free(qloc);
    }
    free(abs);
    if (st == BML_OK && !(*id = bml__sprintf("%ld", found))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    return st;
}

/* copy a folder tree; only regular files and folders (never a symbolic link) */
static bml_status copy_dir(const char *from, const char *to) {
    BML__TRY(bml__mkdir_p(to));
    DIR *d = opendir(from);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    bml_status st = BML_OK;
    struct dirent *e;
    while (st == BML_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ".", "..", and the run's own hidden scratch */
        char *a = bml__path_join(from, e->d_name), *b = bml__path_join(to, e->d_name);
        struct stat sb;
        if (!a || !b) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (lstat(a, &sb) != 0) st = bml__fail(BML_ERR_IO, "%s: %s", a, strerror(errno));
        else if (S_ISDIR(sb.st_mode)) st = copy_dir(a, b);
        else if (!S_ISREG(sb.st_mode)) st = bml__fail(BML_ERR_IO, "%s: not a regular file: not copied as an artifact", a);
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

/* metrics: one file per key, "timestamp value step" lines; two tags that become the same key would mix their
 * lines in one file: an error */
static bml_status write_metrics(const char *tmp, const bml__scalar *s, size_t n, double end_time) {
    bml_status st = BML_OK;
    bml__strvec tags_seen = {0}, keys_seen = {0};
    for (size_t i = 0; st == BML_OK && i < n; i++) {
        char *key = safe_key(s[i].tag), *rel = key ? bml__path_join("metrics", key) : NULL;
        int k = key ? bml__strvec_find(&keys_seen, key) : -1;
        if (k >= 0 && strcmp(tags_seen.items[k], s[i].tag))
            st = bml__fail(BML_ERR_VALUE, "metrics '%s' and '%s' are the same MLflow key '%s'", tags_seen.items[k], s[i].tag, key);
        else if (k < 0 && key && (bml__strvec_push(&keys_seen, key) || bml__strvec_push(&tags_seen, s[i].tag)))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st != BML_OK) {
            free(key);
            free(rel);
            break;
        }
        char *line = bml__sprintf("%lld %.17g %ld\n", ms(end_time), s[i].value, s[i].step);
        st = rel && line ? write_rel(tmp, rel, line, 1) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(key);
        free(rel);
        free(line);
    }
    bml__strvec_free(&tags_seen);
    bml__strvec_free(&keys_seen);
    return st;
}

bml_status bml__mlflow_log(const char *root, const char *experiment, const char *run_name, const bml_kv *params,
                           size_t n_params, const bml__scalar *s, size_t n, const char *artifacts_dir, double start_time,
                           double end_time, char **run_id) {
    if (run_id) *run_id = NULL;
    char *exp = NULL;
    BML__TRY(experiment_id(root, experiment, end_time, &exp));
    /* run id: 32 hex digits from the system's random source (ids are names, not random choices of a study) */
    unsigned char rnd[16] = {0};
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(rnd, 1, 16, ur) != 16) {
        if (ur) fclose(ur);
        free(exp);
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
    const char *user = getenv("USER") && *getenv("USER") ? getenv("USER") : "batteryml";
    if (st == BML_OK) {
        char *qname = yaml_quote(run_name), *quser = yaml_quote(user), *quri = bml__sprintf("file://%s/%s/%s/artifacts", abs_root, exp, id);
        char *qq = quri ? yaml_quote(quri) : NULL;
        char *meta = qname && quser && qq
                         ? bml__sprintf("artifact_uri: %s\nend_time: %lld\nentry_point_name: ''\nexperiment_id: '%s'\n"
                                        "lifecycle_stage: active\nrun_id: %s\nrun_name: %s\nrun_uuid: %s\nsource_name: ''\n"
                                        "source_type: 4\nsource_version: ''\nstart_time: %lld\nstatus: 3\ntags: []\nuser_id: %s\n",
                                        qq, ms(end_time), exp, id, qname, id, ms(start_time), quser)
                         : NULL;
        st = meta ? write_rel(tmp, "meta.yaml", meta, 0) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(meta);
        free(qname);
        free(quser);
        free(quri);
        free(qq);
    }
    /* params: every configuration key */
    for (size_t i = 0; st == BML_OK && i < n_params; i++) {
        bml_kv kv = params[i];
        char *key = safe_key(kv.key), *rel = key ? bml__path_join("params", key) : NULL;
        st = rel ? write_rel(tmp, rel, kv.value, 0) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(key);
        free(rel);
    }
    if (st == BML_OK) st = write_metrics(tmp, s, n, end_time);
    const char *tags[][2] = {{"mlflow.runName", run_name}, {"mlflow.source.name", "batteryml"},
                             {"mlflow.source.type", "LOCAL"}, {"mlflow.user", user}};
    for (size_t i = 0; st == BML_OK && i < sizeof tags / sizeof *tags; i++) {
        char *rel = bml__path_join("tags", tags[i][0]);
        st = rel ? write_rel(tmp, rel, tags[i][1], 0) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(rel);
    }
    if (st == BML_OK && artifacts_dir) {
        char *a = bml__path_join(tmp, "artifacts");
        st = a ? copy_dir(artifacts_dir, a) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(a);
    }
    if (st == BML_OK) st = bml__stage_publish(&stage, expdir, id, 0, &final);
    bml__stage_discard(&stage);
    if (st == BML_OK && run_id && !(*run_id = bml__strdup(id))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    free(final);
    free(expdir);
    free(abs_root);
    free(exp);
    return st;
}
