/* Hydra-style configuration composition on libyaml (see batteryml/config.h). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "batteryml/config.h"
#include "core/internal.h"

struct bml_config {
    bml__strvec keys, values;
    bml__strvec groups, options; /* defaults list: group -> selected option */
};

/* ------------------------------------------------------------------ YAML -> flat keys */
typedef struct {
    yaml_parser_t parser;
    const char *path;
    bml_config *cfg;
    int defaults_seen;
} yctx;

static bml_status yerr(yctx *y, const yaml_event_t *ev, const char *msg) {
    return bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: %s", y->path, ev->start_mark.line + 1, ev->start_mark.column + 1, msg);
}

static bml_status next_event(yctx *y, yaml_event_t *ev) {
    if (!yaml_parser_parse(&y->parser, ev))
        return bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: YAML syntax error: %s", y->path, y->parser.problem_mark.line + 1,
                         y->parser.problem_mark.column + 1, y->parser.problem ? y->parser.problem : "?");
    return BML_OK;
}

static bml_status put(bml_config *c, const char *key, const char *value) {
    int at = bml__strvec_find(&c->keys, key);
    if (at >= 0) {
        char *v = bml__strdup(value);
        if (!v) return bml__fail(BML_ERR_NOMEM, "out of memory");
        free(c->values.items[at]);
        c->values.items[at] = v;
        return BML_OK;
    }
    if (bml__strvec_push(&c->keys, key) || bml__strvec_push(&c->values, value))
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    return BML_OK;
}

static bml_status parse_node(yctx *y, yaml_event_t *ev, const char *prefix);

/* sequence of scalars -> "[a, b]"; the `defaults` list of {group: option} maps is recorded */
static bml_status parse_sequence(yctx *y, const char *prefix) {
    int is_defaults = !strcmp(prefix, "defaults");
    char buf[4096];
    size_t off = 0;
    buf[off++] = '[';
    buf[off] = 0;
    int first = 1;
    for (;;) {
        yaml_event_t ev;
        BML__TRY(next_event(y, &ev));
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (is_defaults && ev.type == YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&ev);
            yaml_event_t k, v;
            BML__TRY(next_event(y, &k));
            if (k.type != YAML_SCALAR_EVENT) {
                bml_status st = yerr(y, &k, "defaults entries must be 'group: option'");
                yaml_event_delete(&k);
                return st;
            }
            bml_status st = next_event(y, &v);
            if (st == BML_OK && v.type != YAML_SCALAR_EVENT) st = yerr(y, &v, "defaults entries must be 'group: option'");
            if (st == BML_OK && (bml__strvec_push(&y->cfg->groups, (char *)k.data.scalar.value) ||
                                 bml__strvec_push(&y->cfg->options, (char *)v.data.scalar.value)))
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
            yaml_event_delete(&k);
            if (st == BML_OK || v.type) yaml_event_delete(&v);
            if (st != BML_OK) return st;
            yaml_event_t end;
            BML__TRY(next_event(y, &end));
            int ok = end.type == YAML_MAPPING_END_EVENT;
            bml_status st2 = ok ? BML_OK : yerr(y, &end, "defaults entries must have exactly one 'group: option'");
            yaml_event_delete(&end);
            BML__TRY(st2);
            continue;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            bml_status st = yerr(y, &ev, "only lists of plain values are supported here");
            yaml_event_delete(&ev);
            return st;
        }
        const char *s = (const char *)ev.data.scalar.value;
        size_t l = strlen(s);
        if (off + l + 4 >= sizeof buf) {
            yaml_event_delete(&ev);
            return bml__fail(BML_ERR_VALUE, "%s: list '%s' is too long", y->path, prefix);
        }
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", first ? "" : ", ", s);
        first = 0;
        yaml_event_delete(&ev);
    }
    if (is_defaults) {
        y->defaults_seen = 1;
        return BML_OK;
    }
    snprintf(buf + off, sizeof buf - off, "]");
    return put(y->cfg, prefix, buf);
}

static bml_status parse_mapping(yctx *y, const char *prefix) {
    for (;;) {
        yaml_event_t k;
        BML__TRY(next_event(y, &k));
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return BML_OK;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            bml_status st = yerr(y, &k, "mapping keys must be plain names");
            yaml_event_delete(&k);
            return st;
        }
        char *key = *prefix ? bml__sprintf("%s.%s", prefix, (char *)k.data.scalar.value)
                            : bml__strdup((char *)k.data.scalar.value);
        yaml_event_delete(&k);
        if (!key) return bml__fail(BML_ERR_NOMEM, "out of memory");
        yaml_event_t v;
        bml_status st = next_event(y, &v);
        if (st == BML_OK) {
            st = parse_node(y, &v, key);
            yaml_event_delete(&v);
        }
        free(key);
        BML__TRY(st);
    }
}

static bml_status parse_node(yctx *y, yaml_event_t *ev, const char *prefix) {
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        /* a plain `~`/`null` is an empty value */
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!strcmp(v, "~") || !strcmp(v, "null"))) v = "";
        return put(y->cfg, prefix, v);
    }
    case YAML_SEQUENCE_START_EVENT: return parse_sequence(y, prefix);
    case YAML_MAPPING_START_EVENT: return parse_mapping(y, prefix);
    case YAML_ALIAS_EVENT: return yerr(y, ev, "YAML aliases are not supported in configs");
    default: return yerr(y, ev, "unexpected YAML content");
    }
}

/* Parse the file at path into cfg with every key prefixed by `prefix` ("" for none). */
static bml_status load_yaml(bml_config *cfg, const char *path, const char *prefix, int *had_defaults) {
    char *txt;
    size_t len;
    BML__TRY(bml__read_file(path, &txt, &len));
    yctx y = {.path = path, .cfg = cfg};
    yaml_parser_initialize(&y.parser);
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)txt, len);
    bml_status st = BML_OK;
    int done = 0;
    while (st == BML_OK && !done) {
        yaml_event_t ev;
        st = next_event(&y, &ev);
        if (st != BML_OK) break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_MAPPING_START_EVENT: st = parse_mapping(&y, prefix); break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length == 0) break; /* empty document */
            /* fallthrough */
        default: st = yerr(&y, &ev, "a config file must be a mapping of keys to values");
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.parser);
    free(txt);
    if (had_defaults) *had_defaults = y.defaults_seen;
    return st;
}

/* ------------------------------------------------------------------ composition */
static char *list_options(const char *config_dir, const char *group) {
    char *dir = bml__sprintf("%s/%s", config_dir, group);
    bml__strvec v = {0};
    DIR *d = dir ? opendir(dir) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) {
                char *n = bml__strndup(e->d_name, l - 5);
                if (n) bml__strvec_push(&v, n);
                free(n);
            }
        }
        closedir(d);
    }
    free(dir);
    if (v.n) qsort(v.items, v.n, sizeof *v.items, bml__strcmp_ptr);
    char *s = bml__join(v.items, v.n, ", ");
    bml__strvec_free(&v);
    return s;
}

static void drop_prefix(bml_config *c, const char *group) {
    size_t gl = strlen(group), w = 0;
    for (size_t i = 0; i < c->keys.n; i++) {
        if (!strncmp(c->keys.items[i], group, gl) && c->keys.items[i][gl] == '.') {
            free(c->keys.items[i]);
            free(c->values.items[i]);
            continue;
        }
        c->keys.items[w] = c->keys.items[i];
        c->values.items[w++] = c->values.items[i];
    }
    c->keys.n = c->values.n = w;
}

static bml_status load_group(bml_config *c, const char *config_dir, const char *group, const char *option) {
    if (!config_dir) return bml__fail(BML_ERR_NOT_FOUND, "no config directory to read group '%s' from", group);
    if (strchr(option, '/') || !*option)
        return bml__fail(BML_ERR_VALUE, "invalid option '%s' for config group '%s'", option, group);
    char *path = bml__sprintf("%s/%s/%s.yaml", config_dir, group, option);
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st;
    if (!bml__is_file(path)) {
        char *opts = list_options(config_dir, group);
        st = bml__fail(BML_ERR_NOT_FOUND, "unknown %s '%s' (valid: %s)", group, option, opts && *opts ? opts : "none");
        free(opts);
    } else {
        drop_prefix(c, group);
        st = load_yaml(c, path, group, NULL);
        char *nk = bml__sprintf("%s.name", group);
        if (st == BML_OK && nk && !bml_config_get(c, nk)) st = put(c, nk, option);
        free(nk);
    }
    free(path);
    return st;
}

static int is_group(const bml_config *c, const char *name) {
    if (bml__strvec_find(&c->groups, name) >= 0) return 1;
    char *k = bml__sprintf("%s.name", name);
    int r = k && bml_config_get(c, k) != NULL;
    free(k);
    return r;
}

static bml_status bad_key(const bml_config *c, const char *key) {
    /* name the valid keys of the section (or the top level) */
    const char *dot = strrchr(key, '.');
    size_t pl = dot ? (size_t)(dot - key) : 0;
    char buf[1024];
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < c->keys.n && off < sizeof buf; i++) {
        const char *k = c->keys.items[i];
        int same_section = pl ? (!strncmp(k, key, pl) && k[pl] == '.' && !strchr(k + pl + 1, '.')) : !strchr(k, '.');
        if (same_section) off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", off ? ", " : "", pl ? k + pl + 1 : k);
    }
    if (!pl) {
        for (size_t g = 0; g < c->groups.n && off < sizeof buf; g++)
            off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", off ? ", " : "", c->groups.items[g]);
        return bml__fail(BML_ERR_VALUE, "unknown config key or group '%s' (valid: %s)", key, buf);
    }
    if (!off) {
        char *sec = bml__strndup(key, pl);
        char gl[512];
        size_t o2 = 0;
        gl[0] = 0;
        for (size_t g = 0; g < c->groups.n && o2 < sizeof gl; g++)
            o2 += (size_t)snprintf(gl + o2, sizeof gl - o2, "%s%s", o2 ? ", " : "", c->groups.items[g]);
        bml_status st = bml__fail(BML_ERR_VALUE, "unknown config section '%s' in '%s' (groups: %s)", sec ? sec : "?", key, gl);
        free(sec);
        return st;
    }
    return bml__fail(BML_ERR_VALUE, "unknown config key '%s' (valid keys of '%.*s': %s; add a new key with +%s=...)", key,
                     (int)pl, key, buf, key);
}

static bml_status apply_overrides(bml_config *c, const char *config_dir, const char *const *ov, size_t n, int groups_pass) {
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(ov[i], '=');
        if (!eq || eq == ov[i])
            return bml__fail(BML_ERR_VALUE, "override '%s' is not of the form key=value (e.g. model=lgbm, model.learning_rate=0.01)",
                             ov[i]);
        int add = ov[i][0] == '+';
        char *key = bml__strndup(ov[i] + add, (size_t)(eq - ov[i]) - (size_t)add);
        if (!key) return bml__fail(BML_ERR_NOMEM, "out of memory");
        char *k = bml__trim(key);
        const char *val = eq + 1;
        bml_status st = BML_OK;
        int group_sel = !strchr(k, '.') && is_group(c, k);
        if (groups_pass && group_sel && !add) {
            int at = bml__strvec_find(&c->groups, k);
            if (at >= 0) {
                char *nv = bml__strdup(val);
                if (!nv) st = bml__fail(BML_ERR_NOMEM, "out of memory");
                else {
                    free(c->options.items[at]);
                    c->options.items[at] = nv;
                }
            }
            if (st == BML_OK) st = load_group(c, config_dir, k, val);
        } else if (!groups_pass && !(group_sel && !add)) {
            if (!*k) st = bml__fail(BML_ERR_VALUE, "override '%s' has an empty key", ov[i]);
            else if (!add && !bml_config_get(c, k)) st = bad_key(c, k);
            else st = put(c, k, val);
        }
        free(key);
        BML__TRY(st);
    }
    return BML_OK;
}

static bml_config *cfg_new(void) { return calloc(1, sizeof(bml_config)); }

bml_status bml_config_compose(const char *config_dir, const char *const *ov, size_t n, bml_config **out) {
    *out = NULL;
    bml_config *c = cfg_new();
    if (!c) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *path = bml__path_join(config_dir, "config.yaml");
    bml_status st = path ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && !bml__is_file(path))
        st = bml__fail(BML_ERR_NOT_FOUND, "%s: no such file (set --config-dir or BATTERYML_CONFIG_DIR)", path);
    if (st == BML_OK) st = load_yaml(c, path, "", NULL);
    free(path);
    for (size_t g = 0; st == BML_OK && g < c->groups.n; g++)
        st = load_group(c, config_dir, c->groups.items[g], c->options.items[g]);
    if (st == BML_OK) st = apply_overrides(c, config_dir, ov, n, 1);
    if (st == BML_OK) st = apply_overrides(c, config_dir, ov, n, 0);
    if (st != BML_OK) {
        bml_config_free(c);
        return st;
    }
    *out = c;
    return BML_OK;
}

bml_status bml_config_load_resolved(const char *path, const char *config_dir, const char *const *ov, size_t n,
                                    bml_config **out) {
    *out = NULL;
    bml_config *c = cfg_new();
    if (!c) return bml__fail(BML_ERR_NOMEM, "out of memory");
    int had_defaults = 0;
    bml_status st = load_yaml(c, path, "", &had_defaults);
    if (st == BML_OK && had_defaults)
        st = bml__fail(BML_ERR_VALUE, "%s: has a defaults list; it is a config to compose (use --config-dir), not a resolved one",
                       path);
    /* groups of a resolved config: the sections that name a component */
    static const char *const known[] = {"data", "pipeline", "model", "split", "loss", "tracking"};
    for (size_t g = 0; st == BML_OK && g < sizeof known / sizeof *known; g++) {
        char *k = bml__sprintf("%s.name", known[g]);
        const char *v = k ? bml_config_get(c, k) : NULL;
        if (v && (bml__strvec_push(&c->groups, known[g]) || bml__strvec_push(&c->options, v)))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        free(k);
    }
    if (st == BML_OK) st = apply_overrides(c, config_dir, ov, n, 1);
    if (st == BML_OK) st = apply_overrides(c, config_dir, ov, n, 0);
    if (st != BML_OK) {
        bml_config_free(c);
        return st;
    }
    *out = c;
    return BML_OK;
}

void bml_config_free(bml_config *c) {
    if (!c) return;
    bml__strvec_free(&c->keys);
    bml__strvec_free(&c->values);
    bml__strvec_free(&c->groups);
    bml__strvec_free(&c->options);
    free(c);
}

const char *bml_config_get(const bml_config *c, const char *key) {
    int at = bml__strvec_find(&c->keys, key);
    return at >= 0 ? c->values.items[at] : NULL;
}

bml_status bml_config_set(bml_config *c, const char *key, const char *value) { return put(c, key, value); }

bml_status bml_config_copy(const bml_config *c, bml_config **out) {
    *out = NULL;
    bml_config *d = calloc(1, sizeof *d);
    int bad = !d;
    const bml__strvec *from[4] = {&c->keys, &c->values, &c->groups, &c->options};
    for (int v = 0; !bad && v < 4; v++) {
        bml__strvec *to = v == 0 ? &d->keys : v == 1 ? &d->values : v == 2 ? &d->groups : &d->options;
        for (size_t i = 0; !bad && i < from[v]->n; i++) bad = bml__strvec_push(to, from[v]->items[i]) != 0;
    }
    if (bad) {
        bml_config_free(d);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *out = d;
    return BML_OK;
}

size_t bml_config_section(const bml_config *c, const char *section, bml_kv *out, size_t cap) {
    size_t sl = strlen(section), n = 0;
    for (size_t i = 0; i < c->keys.n; i++) {
        const char *k = c->keys.items[i];
        if (strncmp(k, section, sl) || k[sl] != '.' || strchr(k + sl + 1, '.') || !strcmp(k + sl + 1, "name")) continue;
        if (n < cap) {
            out[n].key = k + sl + 1;
            out[n].value = c->values.items[i];
        }
        n++;
    }
    return n;
}

size_t bml_config_count(const bml_config *c) { return c->keys.n; }
bml_kv bml_config_entry(const bml_config *c, size_t i) {
    bml_kv kv = {c->keys.items[i], c->values.items[i]};
    return kv;
}

/* ------------------------------------------------------------------ YAML out */
static int needs_quotes(const char *v) {
    if (!*v) return 1;
    if (v[0] == '[' && v[strlen(v) - 1] == ']') return 0; /* flow list */
    if (strchr("!&*{}[]|>'\"%@`#,?-:~ ", v[0])) return 1;
    if (v[strlen(v) - 1] == ' ') return 1;
    return strstr(v, ": ") || strstr(v, " #") || strchr(v, '\n') || strchr(v, '"') || strchr(v, '\\');
}

static void emit_value(char **buf, size_t *len, size_t *cap, const char *s);

static int append(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t l = strlen(s);
    if (*len + l + 1 > *cap) {
        size_t nc = (*cap + l + 1) * 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, s, l + 1);
    *len += l;
    return 0;
}

static void emit_value(char **buf, size_t *len, size_t *cap, const char *v) {
    if (!needs_quotes(v)) {
        append(buf, len, cap, v);
        return;
    }
    append(buf, len, cap, "\"");
    char one[3] = {0};
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            one[0] = '\\';
            one[1] = *p;
        } else if (*p == '\n') {
            one[0] = '\\';
            one[1] = 'n';
        } else {
            one[0] = *p;
            one[1] = 0;
        }
        append(buf, len, cap, one);
    }
    append(buf, len, cap, "\"");
}

char *bml_config_to_yaml(const bml_config *c) {
    size_t len = 0, cap = 1024;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[0] = 0;
    append(&buf, &len, &cap, "# BatteryML-C resolved configuration. Re-run with: batteryml run --config-file <this file>\n");
    /* keys grouped by their first component, in first-appearance order; nested levels indented */
    bml__strvec done = {0};
    for (size_t i = 0; i < c->keys.n; i++) {
        const char *k = c->keys.items[i];
        const char *dot = strchr(k, '.');
        if (!dot) {
            append(&buf, &len, &cap, k);
            append(&buf, &len, &cap, ": ");
            emit_value(&buf, &len, &cap, c->values.items[i]);
            append(&buf, &len, &cap, "\n");
            continue;
        }
        char *sec = bml__strndup(k, (size_t)(dot - k));
        if (!sec || bml__strvec_find(&done, sec) >= 0) {
            free(sec);
            continue;
        }
        bml__strvec_push(&done, sec);
        append(&buf, &len, &cap, sec);
        append(&buf, &len, &cap, ":\n");
        size_t sl = strlen(sec);
        for (size_t j = i; j < c->keys.n; j++) {
            const char *kj = c->keys.items[j];
            if (strncmp(kj, sec, sl) || kj[sl] != '.') continue;
            /* deeper levels are written as a dotted key under the section's mapping, quoted */
            append(&buf, &len, &cap, "  ");
            append(&buf, &len, &cap, kj + sl + 1);
            append(&buf, &len, &cap, ": ");
            emit_value(&buf, &len, &cap, c->values.items[j]);
            append(&buf, &len, &cap, "\n");
        }
        free(sec);
    }
    bml__strvec_free(&done);
    return buf;
}
