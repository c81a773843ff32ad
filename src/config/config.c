/* Hydra-style configuration composition on libyaml (see batteryml/config.h). */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "batteryml/config.h"
#include "core/internal.h"

/* Where a key came from (file line and column, 1-based; 0 when set by an override or the API) and
 * whether it was added (`+key`): an added key is written back with its `+`, so that the resolved
 * file says which keys are not part of the configuration directory's schema. */
typedef struct {
    size_t line, col;
    int added;
} key_meta;

struct bml_config {
    bml__strvec keys, values;   /* flat, ordered dotted keys and their values */
    key_meta *meta;             /* parallel to keys; meta_cap entries allocated */
    size_t meta_cap;
    bml__strvec groups, options; /* defaults list: group -> selected option */
};

/* A place for messages: "path:line:col: " when the key came from a file, "" otherwise. */
typedef struct {
    const char *path;
    size_t line, col;
} where;

static bml_status fail_at(bml_status code, const where *w, const char *fmt, ...) BML__PRINTF(3, 4);
static bml_status fail_at(bml_status code, const where *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = bml__vsprintf(fmt, ap);
    va_end(ap);
    if (!msg) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st;
    if (w && w->path && w->line) st = bml__fail(code, "%s:%zu:%zu: %s", w->path, w->line, w->col, msg);
    else if (w && w->path) st = bml__fail(code, "%s: %s", w->path, msg);
    else st = bml__fail(code, "%s", msg);
    free(msg);
    return st;
}

/* UTF-8 as RFC 3629 defines it (no overlong forms, no surrogates, at most U+10FFFF): what YAML can
 * hold. Override values come from the command line, which promises no encoding. */
static int utf8_valid(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s++;
        if (c < 0x80) continue;
        size_t more;
        unsigned cp, min;
        if (c >= 0xC2 && c <= 0xDF) more = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) more = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) more = 3, cp = c & 0x07, min = 0x10000;
        else return 0;
        for (size_t i = 0; i < more; i++, s++) {
            if ((*s & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (*s & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    }
    return 1;
}

/* A key is one or more names joined by '.'; a name is not empty and does not start with '+' (which
 * marks an added key in a file). */
static int key_valid(const char *k) {
    for (const char *p = k;; p++) {
        if (!*p || *p == '.' || *p == '+') return 0; /* an empty name or a leading '+' */
        p = strchr(p, '.');
        if (!p) return 1;
    }
}

/* the values YAML reads as null; written quoted, read as "" when plain */
static int is_null_word(const char *v) {
    return !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* 1 when `a` is `b` followed by '.' and more (a lies inside section b) */
static int is_below(const char *a, const char *b) {
    size_t bl = strlen(b);
    return !strncmp(a, b, bl) && a[bl] == '.';
}

/* Set key to value; a new key must not be a value and a section at once (`seed: 1` with
 * `seed.a: 2`), which no YAML file can hold. */
static bml_status put(bml_config *c, const char *key, const char *value, const where *w, int added) {
    int at = bml__strvec_find(&c->keys, key);
    if (at >= 0) {
        char *v = bml__strdup(value);
        if (!v) return bml__fail(BML_ERR_NOMEM, "out of memory");
        free(c->values.items[at]);
        c->values.items[at] = v;
        return BML_OK;
    }
    if (!key_valid(key))
        return fail_at(BML_ERR_VALUE, w, "invalid config key '%s' (names joined by '.', none empty or starting with '+')", key);
    for (size_t i = 0; i < c->keys.n; i++) {
        const char *k = c->keys.items[i];
        if (is_below(key, k))
            return fail_at(BML_ERR_VALUE, w, "'%s' cannot be set: '%s' is a value, not a section", key, k);
        if (is_below(k, key))
            return fail_at(BML_ERR_VALUE, w, "'%s' is a section (it holds '%s'), not a value", key, k);
    }
    if (c->keys.n == c->meta_cap) {
        size_t cap = c->meta_cap ? 2 * c->meta_cap : 32;
        key_meta *m = realloc(c->meta, cap * sizeof *m);
        if (!m) return bml__fail(BML_ERR_NOMEM, "out of memory");
        c->meta = m;
        c->meta_cap = cap;
    }
    if (bml__strvec_push(&c->keys, key)) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (bml__strvec_push(&c->values, value)) {
        free(c->keys.items[--c->keys.n]);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    c->meta[c->keys.n - 1] = (key_meta){w ? w->line : 0, w ? w->col : 0, added};
    return BML_OK;
}

/* ------------------------------------------------------------------ YAML -> flat keys */
typedef struct {
    yaml_parser_t parser;
    const char *path;
    bml_config *cfg;
    int defaults_seen;
    bml__strvec seen; /* every key of this file so far: a repeated one is an error */
} yctx;

static where at_mark(const yctx *y, yaml_mark_t m) { return (where){y->path, m.line + 1, m.column + 1}; }

static bml_status yerr(yctx *y, const yaml_event_t *ev, const char *msg) {
    where w = at_mark(y, ev->start_mark);
    return fail_at(BML_ERR_PARSE, &w, "%s", msg);
}

static bml_status next_event(yctx *y, yaml_event_t *ev) {
    if (!yaml_parser_parse(&y->parser, ev))
        return bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: YAML syntax error: %s", y->path, y->parser.problem_mark.line + 1,
                         y->parser.problem_mark.column + 1, y->parser.problem ? y->parser.problem : "?");
    return BML_OK;
}

static bml_status parse_node(yctx *y, yaml_event_t *ev, const char *prefix, int added, where kw);

/* one `- group: option` entry of the defaults list */
static bml_status parse_default_entry(yctx *y) {
    yaml_event_t k, v, end;
    BML__TRY(next_event(y, &k));
    bml_status st = BML_OK;
    if (k.type != YAML_SCALAR_EVENT) st = yerr(y, &k, "defaults entries must be 'group: option'");
    else if ((st = next_event(y, &v)) == BML_OK) {
        const char *g = (const char *)k.data.scalar.value, *o = NULL;
        if (v.type != YAML_SCALAR_EVENT) st = yerr(y, &v, "defaults entries must be 'group: option'");
        else if (!*g || strchr(g, '/') || strchr(g, '.')) st = yerr(y, &k, "a defaults entry names a group: a plain name");
        else if (bml__strvec_find(&y->cfg->groups, g) >= 0) {
            where w = at_mark(y, k.start_mark);
            st = fail_at(BML_ERR_PARSE, &w, "group '%s' appears twice in the defaults list", g);
        } else {
            o = (const char *)v.data.scalar.value;
            if (bml__strvec_push(&y->cfg->groups, g)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            else if (bml__strvec_push(&y->cfg->options, o)) {
                free(y->cfg->groups.items[--y->cfg->groups.n]);
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
            }
        }
        yaml_event_delete(&v);
    }
    yaml_event_delete(&k);
    BML__TRY(st);
    BML__TRY(next_event(y, &end));
    st = end.type == YAML_MAPPING_END_EVENT ? BML_OK : yerr(y, &end, "defaults entries must have exactly one 'group: option'");
    yaml_event_delete(&end);
    return st;
}

/* A sequence of scalars is stored as "[a, b]" (lists are values). The top-level `defaults` list of
 * {group: option} maps is recorded as the groups to compose. */
static bml_status parse_sequence(yctx *y, const char *prefix, int added, where kw) {
    int is_defaults = !strcmp(prefix, "defaults");
    bml__strvec items = {0};
    bml_status st = BML_OK;
    for (;;) {
        yaml_event_t ev;
        if ((st = next_event(y, &ev)) != BML_OK) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (is_defaults && ev.type == YAML_MAPPING_START_EVENT) st = parse_default_entry(y);
        else if (ev.type != YAML_SCALAR_EVENT) st = yerr(y, &ev, "only lists of plain values are supported here");
        else if (strchr((const char *)ev.data.scalar.value, ','))
            st = yerr(y, &ev, "a list item cannot contain ',' (lists are read back split at commas)");
        else if (bml__strvec_push(&items, (const char *)ev.data.scalar.value))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        yaml_event_delete(&ev);
        if (st != BML_OK) break;
    }
    if (st == BML_OK && is_defaults) {
        if (items.n) st = fail_at(BML_ERR_PARSE, &kw, "defaults entries must be 'group: option'");
        y->defaults_seen = 1;
    } else if (st == BML_OK) {
        char *inner = bml__join(items.items, items.n, ", ");
        char *list = inner ? bml__sprintf("[%s]", inner) : NULL;
        st = list ? put(y->cfg, prefix, list, &kw, added) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(inner);
        free(list);
    }
    bml__strvec_free(&items);
    return st;
}

static bml_status parse_mapping(yctx *y, const char *prefix, int added) {
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
        where kw = at_mark(y, k.start_mark);
        const char *name = (const char *)k.data.scalar.value;
        int add = added || name[0] == '+'; /* `+key`: a key added to the schema (written so by bml_config_to_yaml) */
        if (name[0] == '+') name++;
        char *key = *prefix ? bml__sprintf("%s.%s", prefix, name) : bml__strdup(name);
        bml_status st = key ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK && (!*name || !key_valid(name)))
            st = fail_at(BML_ERR_PARSE, &kw, "invalid key '%s' (names joined by '.', none empty or starting with '+')",
                         (const char *)k.data.scalar.value);
        else if (st == BML_OK && bml__strvec_find(&y->seen, key) >= 0)
            st = fail_at(BML_ERR_PARSE, &kw, "duplicate key '%s'", key);
        else if (st == BML_OK && bml__strvec_push(&y->seen, key))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        yaml_event_delete(&k);
        if (st == BML_OK) {
            yaml_event_t v;
            st = next_event(y, &v);
            if (st == BML_OK) {
                st = parse_node(y, &v, key, add, kw);
                yaml_event_delete(&v);
            }
        }
        free(key);
        BML__TRY(st);
    }
}

static bml_status parse_node(yctx *y, yaml_event_t *ev, const char *prefix, int added, where kw) {
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        /* a plain null (`~`, `null`, nothing) is an empty value */
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_word(v)) v = "";
        if (!strcmp(prefix, "defaults")) return fail_at(BML_ERR_PARSE, &kw, "defaults must be a list of 'group: option'");
        return put(y->cfg, prefix, v, &kw, added);
    }
    case YAML_SEQUENCE_START_EVENT: return parse_sequence(y, prefix, added, kw);
    case YAML_MAPPING_START_EVENT: return parse_mapping(y, prefix, added);
    case YAML_ALIAS_EVENT: return yerr(y, ev, "YAML aliases are not supported in configs");
    default: return yerr(y, ev, "unexpected YAML content");
    }
}

/* Parse the file at path into cfg with every key prefixed by `prefix` ("" for none). One document,
 * a mapping; a key given twice is an error. */
static bml_status load_yaml(bml_config *cfg, const char *path, const char *prefix, int *had_defaults) {
    char *txt;
    size_t len;
    BML__TRY(bml__read_file(path, &txt, &len));
    yctx y = {.path = path, .cfg = cfg};
    yaml_parser_initialize(&y.parser);
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)txt, len);
    bml_status st = BML_OK;
    int done = 0, documents = 0;
    while (st == BML_OK && !done) {
        yaml_event_t ev;
        st = next_event(&y, &ev);
        if (st != BML_OK) break;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) st = yerr(&y, &ev, "a second YAML document: a config file holds one mapping");
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_MAPPING_START_EVENT: st = parse_mapping(&y, prefix, 0); break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length == 0 && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) break; /* empty document */
            /* fallthrough */
        default: st = yerr(&y, &ev, "a config file must be a mapping of keys to values");
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.parser);
    bml__strvec_free(&y.seen);
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
    size_t w = 0;
    for (size_t i = 0; i < c->keys.n; i++) {
        if (is_below(c->keys.items[i], group)) {
            free(c->keys.items[i]);
            free(c->values.items[i]);
            continue;
        }
        c->keys.items[w] = c->keys.items[i];
        c->values.items[w] = c->values.items[i];
        c->meta[w++] = c->meta[i];
    }
    c->keys.n = c->values.n = w;
}

static bml_status load_group(bml_config *c, const char *config_dir, const char *group, const char *option) {
    if (!config_dir) return bml__fail(BML_ERR_NOT_FOUND, "no config directory to read group '%s' from", group);
    if (strchr(option, '/') || !*option || !strcmp(option, ".") || !strcmp(option, ".."))
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
        if (st == BML_OK && !nk) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        if (st == BML_OK && !bml_config_get(c, nk)) st = put(c, nk, option, NULL, 0);
        free(nk);
    }
    free(path);
    return st;
}

/* 1 or 0; -1 when out of memory */
static int is_group(const bml_config *c, const char *name) {
    if (bml__strvec_find(&c->groups, name) >= 0) return 1;
    char *k = bml__sprintf("%s.name", name);
    int r = k ? bml_config_get(c, k) != NULL : -1;
    free(k);
    return r;
}

/* The names directly below the section of `key` (everything before its last '.'), or the top-level
 * values and then the groups; joined with ", " (malloc'ed). */
static char *section_names(const bml_config *c, const char *key, size_t pl) {
    bml__strvec v = {0};
    int bad = 0;
    for (size_t i = 0; i < c->keys.n; i++) {
        const char *k = c->keys.items[i];
        int same = pl ? (!strncmp(k, key, pl) && k[pl] == '.' && !strchr(k + pl + 1, '.')) : !strchr(k, '.');
        if (same) bad |= bml__strvec_push(&v, pl ? k + pl + 1 : k);
    }
    for (size_t g = 0; !pl && g < c->groups.n; g++) bad |= bml__strvec_push(&v, c->groups.items[g]);
    char *s = bad ? NULL : bml__join(v.items, v.n, ", ");
    bml__strvec_free(&v);
    return s;
}

/* Why `key` is not a key of c, naming the valid ones. `w` places it in a file (NULL: an override). */
static bml_status bad_key(const bml_config *c, const char *key, const where *w) {
    const char *dot = strrchr(key, '.');
    size_t pl = dot ? (size_t)(dot - key) : 0;
    /* a value written as a section, or a section written as a value */
    for (size_t i = 0; i < c->keys.n; i++)
        if (is_below(key, c->keys.items[i]))
            return fail_at(BML_ERR_VALUE, w, "config key '%s' takes a value, not a mapping ('%s')", c->keys.items[i], key);
    for (size_t i = 0; i < c->keys.n; i++)
        if (is_below(c->keys.items[i], key)) {
            char *names = section_names(c, c->keys.items[i], strlen(key));
            bml_status st = fail_at(BML_ERR_VALUE, w, "'%s' is a section (keys: %s), not a value", key, names ? names : "?");
            free(names);
            return st;
        }
    char *names = section_names(c, key, pl);
    if (!names) return bml__fail(BML_ERR_NOMEM, "out of memory");
    const char *hint = w ? "; mark a new key with a leading '+'" : "";
    bml_status st;
    if (!pl) st = fail_at(BML_ERR_VALUE, w, "unknown config key or group '%s' (valid: %s%s)", key, names, hint);
    else if (!*names) {
        char *groups = bml__join(c->groups.items, c->groups.n, ", ");
        st = fail_at(BML_ERR_VALUE, w, "unknown config section '%.*s' in '%s' (groups: %s%s)", (int)pl, key, key,
                     groups ? groups : "?", hint);
        free(groups);
    } else if (w) {
        st = fail_at(BML_ERR_VALUE, w, "unknown config key '%s' (valid keys of '%.*s': %s%s)", key, (int)pl, key, names, hint);
    } else {
        st = fail_at(BML_ERR_VALUE, w, "unknown config key '%s' (valid keys of '%.*s': %s; add a new key with +%s=...)", key,
                     (int)pl, key, names, key);
    }
    free(names);
    return st;
}

static bml_status apply_overrides(bml_config *c, const char *config_dir, const char *const *ov, size_t n, int groups_pass) {
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(ov[i], '=');
        if (!eq || eq == ov[i])
            return bml__fail(BML_ERR_VALUE, "override '%s' is not of the form key=value (e.g. model=lgbm, model.learning_rate=0.01)",
                             ov[i]);
        if (!utf8_valid(ov[i])) return bml__fail(BML_ERR_VALUE, "override '%s' is not valid UTF-8", ov[i]);
        int add = ov[i][0] == '+';
        char *key = bml__strndup(ov[i] + add, (size_t)(eq - ov[i]) - (size_t)add);
        if (!key) return bml__fail(BML_ERR_NOMEM, "out of memory");
        char *k = bml__trim(key);
        const char *val = eq + 1;
        bml_status st = BML_OK;
        int group_sel = !strchr(k, '.') ? is_group(c, k) : 0;
        if (group_sel < 0) {
            free(key);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
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
            /* a section with an `enabled` key is switched by its name: explain=false is explain.enabled=false */
            int switch_ = !add && !strchr(k, '.') && !bml_config_get(c, k);
            char *enabled = switch_ ? bml__sprintf("%s.enabled", k) : NULL;
            int nomem = switch_ && !enabled;
            if (enabled && !bml_config_get(c, enabled)) {
                free(enabled);
                enabled = NULL;
            }
            if (nomem) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            else if (!*k) st = bml__fail(BML_ERR_VALUE, "override '%s' has an empty key", ov[i]);
            else if (enabled) st = put(c, enabled, val, NULL, 0);
            else if (!add && !bml_config_get(c, k)) st = bad_key(c, k, NULL);
            else st = put(c, k, val, NULL, add);
            free(enabled);
        }
        free(key);
        BML__TRY(st);
    }
    return BML_OK;
}

static bml_config *cfg_new(void) { return calloc(1, sizeof(bml_config)); }

/* config.yaml of config_dir and the groups of its defaults list */
static bml_status compose_base(bml_config *c, const char *config_dir) {
    char *path = bml__path_join(config_dir, "config.yaml");
    bml_status st = path ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && !bml__is_file(path))
        st = bml__fail(BML_ERR_NOT_FOUND, "%s: no such file (set --config-dir or BATTERYML_CONFIG_DIR)", path);
    if (st == BML_OK) st = load_yaml(c, path, "", NULL);
    free(path);
    for (size_t g = 0; st == BML_OK && g < c->groups.n; g++)
        st = load_group(c, config_dir, c->groups.items[g], c->options.items[g]);
    return st;
}

bml_status bml_config_compose(const char *config_dir, const char *const *ov, size_t n, bml_config **out) {
    *out = NULL;
    bml_config *c = cfg_new();
    if (!c) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = compose_base(c, config_dir);
    if (st == BML_OK) st = apply_overrides(c, config_dir, ov, n, 1);
    if (st == BML_OK) st = apply_overrides(c, config_dir, ov, n, 0);
    if (st != BML_OK) {
        bml_config_free(c);
        return st;
    }
    *out = c;
    return BML_OK;
}

/* A resolved file holds exactly the keys that composing config_dir with its groups' options gives,
 * plus the keys it marks as added (`+key`). Its groups become those of config_dir's defaults list. */
/* 1 when c holds a key of `section` */
static int has_section(const bml_config *c, const char *section) {
    size_t l = strlen(section);
    for (size_t i = 0; i < c->keys.n; i++)
        if (!strncmp(c->keys.items[i], section, l) && c->keys.items[i][l] == '.') return 1;
    return 0;
}

static bml_status check_resolved(bml_config *c, const char *path, const char *config_dir) {
    bml__strvec absent = {0}; /* groups of config_dir that the file does not name at all */
    bml_config *ref = cfg_new();
    if (!ref) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *top = bml__path_join(config_dir, "config.yaml");
    bml_status st = top ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && !bml__is_file(top))
        st = bml__fail(BML_ERR_NOT_FOUND, "%s: no such file (needed to check %s; set --config-dir)", top, path);
    if (st == BML_OK) st = load_yaml(ref, top, "", NULL);
    free(top);
    for (size_t g = 0; st == BML_OK && g < ref->groups.n; g++) {
        char *nk = bml__sprintf("%s.name", ref->groups.items[g]);
        int at = nk ? bml__strvec_find(&c->keys, nk) : -1;
        if (!nk) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (at < 0 && !has_section(c, ref->groups.items[g])) {
            /* a group the file does not name at all: the file was written before the group existed; it takes the
             * group's default option (its keys are added below) */
            st = bml__strvec_push(&absent, ref->groups.items[g]) ? bml__fail(BML_ERR_NOMEM, "out of memory")
                                                                  : load_group(ref, config_dir, ref->groups.items[g], ref->options.items[g]);
        } else if (at < 0) st = bml__fail(BML_ERR_VALUE, "%s: missing key '%s' (the %s group's option)", path, nk, ref->groups.items[g]);
        else if ((st = load_group(ref, config_dir, ref->groups.items[g], c->values.items[at])) != BML_OK) {
            where w = {path, c->meta[at].line, c->meta[at].col};
            char *msg = bml__strdup(bml_last_error());
            st = msg ? fail_at(st, &w, "%s: %s", nk, msg) : bml__fail(BML_ERR_NOMEM, "out of memory");
            free(msg);
        } else {
            char *opt = bml__strdup(c->values.items[at]);
            if (!opt) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            else {
                free(ref->options.items[g]);
                ref->options.items[g] = opt;
            }
        }
        free(nk);
    }
    for (size_t i = 0; st == BML_OK && i < c->keys.n; i++) {
        if (c->meta[i].added || bml_config_get(ref, c->keys.items[i])) continue;
        where w = {path, c->meta[i].line, c->meta[i].col};
        st = bad_key(ref, c->keys.items[i], &w);
    }
    for (size_t i = 0; st == BML_OK && i < ref->keys.n; i++) {
        if (bml_config_get(c, ref->keys.items[i])) continue;
        const char *k = ref->keys.items[i], *dot = strchr(k, '.');
        int of_absent = 0;
        for (size_t g = 0; dot && g < absent.n; g++)
            of_absent |= strlen(absent.items[g]) == (size_t)(dot - k) && !strncmp(absent.items[g], k, (size_t)(dot - k));
        if (of_absent) st = put(c, k, ref->values.items[i], NULL, 0);
        else st = bml__fail(BML_ERR_VALUE, "%s: missing key '%s' (a resolved configuration names every key)", path, k);
    }
    bml__strvec_free(&absent);
    if (st == BML_OK) {
        bml__strvec_free(&c->groups);
        bml__strvec_free(&c->options);
        c->groups = ref->groups;
        c->options = ref->options;
        ref->groups = ref->options = (bml__strvec){0};
    }
    bml_config_free(ref);
    return st;
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
    if (st == BML_OK && config_dir) st = check_resolved(c, path, config_dir);
    /* without a config directory: the groups are the sections that name a component */
    static const char *const known[] = {"data", "pipeline", "model", "split", "loss", "tracking"};
    for (size_t g = 0; st == BML_OK && !config_dir && g < sizeof known / sizeof *known; g++) {
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
    free(c->meta);
    bml__strvec_free(&c->groups);
    bml__strvec_free(&c->options);
    free(c);
}

const char *bml_config_get(const bml_config *c, const char *key) {
    int at = bml__strvec_find(&c->keys, key);
    return at >= 0 ? c->values.items[at] : NULL;
}

bml_status bml_config_set(bml_config *c, const char *key, const char *value) {
    if (!utf8_valid(key) || !utf8_valid(value)) return bml__fail(BML_ERR_VALUE, "config key '%s': not valid UTF-8", key);
    return put(c, key, value, NULL, 1);
}

bml_status bml_config_copy(const bml_config *c, bml_config **out) {
    *out = NULL;
    bml_config *d = calloc(1, sizeof *d);
    int bad = !d;
    const bml__strvec *from[4] = {&c->keys, &c->values, &c->groups, &c->options};
    for (int v = 0; !bad && v < 4; v++) {
        bml__strvec *to = v == 0 ? &d->keys : v == 1 ? &d->values : v == 2 ? &d->groups : &d->options;
        for (size_t i = 0; !bad && i < from[v]->n; i++) bad = bml__strvec_push(to, from[v]->items[i]) != 0;
    }
    if (!bad && c->keys.n) { /* each key's metadata (where it came from, whether it was added) */
        d->meta = malloc(c->keys.n * sizeof *d->meta);
        if (!(bad = !d->meta)) {
            memcpy(d->meta, c->meta, c->keys.n * sizeof *d->meta);
            d->meta_cap = c->keys.n;
        }
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

/* ------------------------------------------------------------------ typed values */
/* s as an integer in [min, max]: "5", also "5.0" or "5e0"; the range is checked before any cast */
static int to_long(const char *s, long min, long max, long *out) {
    long v;
    if (bml__parse_long(s, &v) == 0) {
        if (v < min || v > max) return -2;
        *out = v;
        return 0;
    }
    double d;
    if (bml__parse_double(s, &d) != 0 || d != floor(d)) return -1;
    if (d < (double)min || d > (double)max || fabs(d) >= 9.2e18) return -2;
    *out = (long)d;
    return 0;
}

bml_status bml_config_get_long(const bml_config *c, const char *key, long min, long max, long *out) {
    const char *v = bml_config_get(c, key);
    if (!v) return bml__fail(BML_ERR_NOT_FOUND, "config key '%s' is not set", key);
    long x;
    int rc = to_long(v, min, max, &x);
    if (rc == -1) return bml__fail(BML_ERR_VALUE, "%s must be an integer, got '%s'", key, v);
    if (rc == -2) return bml__fail(BML_ERR_VALUE, "%s must be an integer from %ld to %ld, got '%s'", key, min, max, v);
    *out = x;
    return BML_OK;
}

bml_status bml_config_get_long_list(const bml_config *c, const char *key, long min, long max, long **out, size_t *n) {
    *out = NULL;
    *n = 0;
    const char *v = bml_config_get(c, key);
    if (!v) return bml__fail(BML_ERR_NOT_FOUND, "config key '%s' is not set", key);
    bml__strvec items = {0};
    if (bml__parse_string_list(v, &items) != 0) {
        bml__strvec_free(&items);
        return bml__fail(BML_ERR_VALUE, "%s must be an integer or a list like [1, 2], got '%s'", key, v);
    }
    bml_status st = BML_OK;
    long *x = items.n ? bml__calloc(items.n, sizeof *x) : NULL;
    if (!items.n) st = bml__fail(BML_ERR_VALUE, "%s: the list is empty (got '%s')", key, v);
    else if (!x) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < items.n; i++) {
        int rc = to_long(items.items[i], min, max, &x[i]);
        if (rc == -1) st = bml__fail(BML_ERR_VALUE, "%s: '%s' is not an integer (in '%s')", key, items.items[i], v);
        else if (rc == -2)
            st = bml__fail(BML_ERR_VALUE, "%s: %s is out of range (%ld to %ld) (in '%s')", key, items.items[i], min, max, v);
    }
    size_t count = items.n;
    bml__strvec_free(&items);
    if (st != BML_OK) {
        free(x);
        return st;
    }
    *out = x;
    *n = count;
    return BML_OK;
}

/* ------------------------------------------------------------------ YAML out (libyaml's emitter) */
typedef struct {
    char *buf;
    size_t len, cap;
} outbuf;

static int out_write(void *data, unsigned char *bytes, size_t size) {
    outbuf *o = data;
    if (o->len + size + 1 > o->cap) {
        size_t nc = 2 * (o->len + size + 1);
        char *nb = realloc(o->buf, nc);
        if (!nb) return 0;
        o->buf = nb;
        o->cap = nc;
    }
    memcpy(o->buf + o->len, bytes, size);
    o->len += size;
    o->buf[o->len] = 0;
    return 1;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev, int made) { return made && yaml_emitter_emit(e, ev); }

/* A scalar as libyaml chooses to write it (plain when that reads back the same, quoted and escaped
 * otherwise); an empty value and the null words are always quoted, since a plain one reads as null. */
static int emit_scalar(yaml_emitter_t *e, const char *s) {
    yaml_event_t ev;
    yaml_scalar_style_t style = !*s || is_null_word(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    return emit(e, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style));
}

static int emit_key(yaml_emitter_t *e, const char *k, int added) {
    if (!added) return emit_scalar(e, k);
    char *pk = bml__sprintf("+%s", k);
    int ok = pk && emit_scalar(e, pk);
    free(pk);
    return ok;
}

/* A list value "[a, b]" is written as a YAML flow sequence when reading that back (items joined with
 * ", " between brackets) gives the same string; any other value as a scalar. */
static int emit_value(yaml_emitter_t *e, const char *v) {
    size_t n = strlen(v);
    int seq = n >= 2 && v[0] == '[' && v[n - 1] == ']';
    for (const char *p = v + 1; seq && p < v + n - 1; p++)
        if (*p == ',' && p[1] != ' ') seq = 0;
    if (!seq) return emit_scalar(e, v);
    yaml_event_t ev;
    if (!emit(e, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE))) return 0;
    const char *p = v + 1, *end = v + n - 1; /* items between "[" and "]", separated by ", " */
    for (int more = p < end; more;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        char *item = bml__strndup(p, (size_t)((comma ? comma : end) - p));
        int ok = item && emit_scalar(e, item);
        free(item);
        if (!ok) return 0;
        more = comma != NULL;
        if (comma) p = comma + 2;
    }
    return emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

static int emit_config(yaml_emitter_t *e, const bml_config *c) {
    yaml_event_t ev;
    if (!emit(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) ||
        !emit(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) ||
        !emit(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)))
        return 0;
    /* keys grouped by their first component, in first-appearance order; deeper levels are written as
     * dotted keys under the section's mapping */
    bml__strvec done = {0};
    int ok = 1;
    for (size_t i = 0; ok && i < c->keys.n; i++) {
        const char *k = c->keys.items[i];
        const char *dot = strchr(k, '.');
        if (!dot) {
            ok = emit_key(e, k, c->meta[i].added) && emit_value(e, c->values.items[i]);
            continue;
        }
        char *sec = bml__strndup(k, (size_t)(dot - k));
        if (!sec) ok = 0;
        else if (bml__strvec_find(&done, sec) < 0) {
            ok = !bml__strvec_push(&done, sec) && emit_scalar(e, sec) &&
                 emit(e, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
            for (size_t j = i; ok && j < c->keys.n; j++)
                if (is_below(c->keys.items[j], sec))
                    ok = emit_key(e, c->keys.items[j] + strlen(sec) + 1, c->meta[j].added) && emit_value(e, c->values.items[j]);
            ok = ok && emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
        }
        free(sec);
    }
    bml__strvec_free(&done);
    return ok && emit(e, &ev, yaml_mapping_end_event_initialize(&ev)) &&
           emit(e, &ev, yaml_document_end_event_initialize(&ev, 1)) && emit(e, &ev, yaml_stream_end_event_initialize(&ev));
}

char *bml_config_to_yaml(const bml_config *c) {
    outbuf o = {0};
    static const char head[] = "# BatteryML-C resolved configuration. Re-run with: batteryml run --config-file <this file>\n";
    if (!out_write(&o, (unsigned char *)head, sizeof head - 1)) return NULL;
    yaml_emitter_t e;
    if (!yaml_emitter_initialize(&e)) {
        free(o.buf);
        return NULL;
    }
    yaml_emitter_set_output(&e, out_write, &o);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* no folding of long values */
    int ok = emit_config(&e, c) && yaml_emitter_flush(&e);
    yaml_emitter_delete(&e);
    if (!ok) {
        free(o.buf);
        return NULL;
    }
    return o.buf;
}
