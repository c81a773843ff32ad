/* Fuzz target: the Hydra-style configuration composer (src/config/config.c): config files, group
 * files, resolved run configs and override strings.
 * Input: one selector byte, then [0] a YAML file, FZ_SEP, [1] overrides, one per line (empty lines
 * skipped). The repository's configs/ is copied into the scratch folder once. Selector % 3:
 *   0  [0] is config.yaml of that folder: bml_config_compose(folder, overrides);
 *   1  [0] is a run's resolved config.yaml: bml_config_load_resolved(file, folder, overrides);
 *   2  [0] is the group file model/fuzz.yaml: compose with "model=fuzz" before the overrides.
 * A composed configuration is written back as YAML and loaded again (as `run --config-file` does);
 * with FUZZ_CONFIG_ROUNDTRIP=1 the reloaded keys and values must also equal the written ones. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batteryml/config.h"
#include "core/internal.h"
#include "fuzz_util.h"

static char *cfg_dir, *top_yaml;
static size_t top_len;

static void copy_tree(const char *from, const char *to) {
    DIR *d = opendir(from);
    if (!d || mkdir(to, 0700) != 0) {
        fprintf(stderr, "fuzz harness: cannot copy %s to %s\n", from, to);
        abort();
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *src = bml__path_join(from, e->d_name), *dst = bml__path_join(to, e->d_name);
        if (!src || !dst) abort();
        if (bml__is_dir(src)) {
            copy_tree(src, dst);
        } else {
            char *txt = NULL;
            size_t len = 0;
            if (bml__read_file(src, &txt, &len) != BML_OK) abort();
            free(fz_write(to, e->d_name, (const uint8_t *)txt, len));
            free(txt);
        }
        free(src);
        free(dst);
    }
    closedir(d);
}

static void setup(void) {
    if (cfg_dir) return;
    char *src = bml__path_join(fz_source_dir(), "configs");
    cfg_dir = bml__path_join(fz_scratch(), "configs");
    if (!src || !cfg_dir) abort();
    copy_tree(src, cfg_dir);
    char *top = bml__path_join(cfg_dir, "config.yaml");
    if (!top || bml__read_file(top, &top_yaml, &top_len) != BML_OK) abort();
    free(top);
    free(src);
}

/* the written YAML loads back; with FUZZ_CONFIG_ROUNDTRIP=1, to the same keys and values */
static void round_trip(const bml_config *c) {
    char *yaml = bml_config_to_yaml(c);
    if (!yaml) return; /* out of memory */
    char *path = fz_write(fz_scratch(), "resolved-again.yaml", (const uint8_t *)yaml, strlen(yaml));
    bml_config *back = NULL;
    fz_reset_error();
    bml_status st = bml_config_load_resolved(path, NULL, NULL, 0, &back);
    fz_check_status(st, "bml_config_load_resolved of a written config");
    const char *strict = getenv("FUZZ_CONFIG_ROUNDTRIP");
    if (strict && !strcmp(strict, "1")) {
        int same = st == BML_OK && bml_config_count(back) == bml_config_count(c);
        for (size_t i = 0; same && i < bml_config_count(c); i++) {
            bml_kv kv = bml_config_entry(c, i);
            const char *v = bml_config_get(back, kv.key);
            same = v && !strcmp(v, kv.value);
        }
        if (!same) {
            fprintf(stderr, "fuzz harness: the written config does not load back the same (%s)\n--- written:\n%s",
                    st == BML_OK ? "keys or values differ" : bml_last_error(), yaml);
            abort();
        }
    }
    bml_config_free(back);
    free(path);
    free(yaml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    setup();
    int sel = data[0] % 3;
    const uint8_t *parts[2];
    size_t lens[2];
    fz_split(data + 1, size - 1, parts, lens, 2);
    /* overrides: the lines of part 1 */
    char *ovtxt = fz_strndup(parts[1], lens[1]);
    size_t n_ov = 1;
    for (char *p = ovtxt; *p; p++) n_ov += *p == '\n';
    const char **ov = calloc(n_ov + 1, sizeof *ov);
    if (!ov) abort();
    size_t k = 0;
    if (sel == 2) ov[k++] = "model=fuzz";
    for (char *line = ovtxt, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (*line) ov[k++] = line;
    }
    bml_config *c = NULL;
    bml_status st;
    char *file = NULL;
    if (sel == 0) {
        file = fz_write(cfg_dir, "config.yaml", parts[0], lens[0]);
        fz_reset_error();
        st = bml_config_compose(cfg_dir, ov, k, &c);
        free(fz_write(cfg_dir, "config.yaml", (const uint8_t *)top_yaml, top_len));
    } else if (sel == 1) {
        file = fz_write(fz_scratch(), "resolved.yaml", parts[0], lens[0]);
        fz_reset_error();
        st = bml_config_load_resolved(file, cfg_dir, ov, k, &c);
    } else {
        char *mdir = bml__path_join(cfg_dir, "model");
        if (!mdir) abort();
        file = fz_write(mdir, "fuzz.yaml", parts[0], lens[0]);
        fz_reset_error();
        st = bml_config_compose(cfg_dir, ov, k, &c);
        remove(file);
        free(mdir);
    }
    fz_check_status(st, sel == 1 ? "bml_config_load_resolved" : "bml_config_compose");
    if (st == BML_OK) round_trip(c);
    bml_config_free(c);
    free(file);
    free(ov);
    free(ovtxt);
    return 0;
}
