/* Sweeps: Hydra's multirun override syntax expanded into jobs (see batteryml/sweep.h). */
#define _POSIX_C_SOURCE 200809L
#include "batteryml/sweep.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "core/internal.h"
#include "data/csvread.h"
#include "explain/figures.h"
#include "track/html.h"

#define DEFAULT_MAX_JOBS 10000

typedef enum { D_PLAIN, D_LIST, D_INTERVAL, D_LOG_INTERVAL, D_INT_INTERVAL } dim_kind;

/* one override: a key and its value(s) */
typedef struct {
    char *key;
    dim_kind kind;
    bml__strvec values; /* D_PLAIN: one; D_LIST: the choices */
    double a, b;        /* intervals */
} entry;

struct bml_sweep {
    entry *e;
    size_t n_e;
    size_t *swept; /* entry index of each swept key */
    size_t n_swept;
    size_t n_jobs;
    char **vals;      /* (n_jobs, n_swept) the value of each swept key: borrowed from entries, or owned (draws) */
    int *owned;       /* (n_jobs * n_swept) 1: vals[i] is a drawn value owned here */
    char **ovr;       /* (n_jobs, n_e) "key=value" */
    char **label, **name;
    bml__strvec given; /* the overrides as given */
};

static void entry_release(entry *e) {
    free(e->key);
    bml__strvec_free(&e->values);
}

void bml_sweep_free(bml_sweep *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_e; i++) entry_release(&s->e[i]);
    for (size_t j = 0; s->vals && s->owned && j < s->n_jobs * s->n_swept; j++) /* either may be missing: no memory */
        if (s->owned[j]) free(s->vals[j]);
    for (size_t j = 0; s->ovr && j < s->n_jobs * s->n_e; j++) free(s->ovr[j]);
    for (size_t j = 0; j < s->n_jobs; j++) {
        if (s->label) free(s->label[j]);
        if (s->name) free(s->name[j]);
    }
    free(s->e);
    free(s->swept);
    free(s->vals);
    free(s->owned);
    free(s->ovr);
    free(s->label);
    free(s->name);
    bml__strvec_free(&s->given);
    free(s);
}

/* ------------------------------------------------------------------ parsing one value */

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* A trimmed copy of s[0..n) with surrounding quotes removed (\\ and \<quote> unescaped inside them). */
static bml_status unquote(const char *ov, const char *s, size_t n, char **out) {
    while (n && is_space(*s)) s++, n--;
    while (n && is_space(s[n - 1])) n--;
    if (!n) return bml__fail(BML_ERR_VALUE, "override '%s': an empty value in the list", ov);
    *out = NULL;
    if (s[0] == '\'' || s[0] == '"') {
        if (n < 2 || s[n - 1] != s[0]) return bml__fail(BML_ERR_VALUE, "override '%s': unbalanced quote", ov);
        char *r = malloc(n), *o = r;
        if (!r) return bml__fail(BML_ERR_NOMEM, "out of memory");
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] == '\\' && i + 2 < n && (s[i + 1] == '\\' || s[i + 1] == s[0])) i++;
            *o++ = s[i];
        }
        *o = 0;
        *out = r;
        return BML_OK;
    }
    if (!(*out = bml__strndup(s, n))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    return BML_OK;
}

/* Split s on the commas outside quotes and brackets into unquoted items. */
static bml_status split_top(const char *ov, const char *s, bml__strvec *items) {
    int depth = 0;
    char quote = 0;
    const char *start = s;
    int at_item_start = 1;
    for (const char *p = s;; p++) {
        char c = *p;
        if (quote) {
            if (c == 0) return bml__fail(BML_ERR_VALUE, "override '%s': unbalanced quote", ov);
            if (c == '\\' && (p[1] == quote || p[1] == '\\')) p++;
            else if (c == quote) quote = 0;
            continue;
        }
        if (c == 0 || (c == ',' && depth == 0)) {
            if (depth != 0) return bml__fail(BML_ERR_VALUE, "override '%s': unbalanced brackets", ov);
            char *item = NULL;
            BML__TRY(unquote(ov, start, (size_t)(p - start), &item));
            int bad = bml__strvec_push(items, item);
            free(item);
            if (bad) return bml__fail(BML_ERR_NOMEM, "out of memory");
            if (c == 0) return BML_OK;
            start = p + 1;
            at_item_start = 1;
            continue;
        }
        if ((c == '\'' || c == '"') && at_item_start && depth == 0) {
            quote = c;
            at_item_start = 0;
            continue;
        }
        if (!is_space(c)) at_item_start = 0;
        if (c == '(' || c == '[' || c == '{') depth++;
        else if (c == ')' || c == ']' || c == '}') {
            if (--depth < 0) return bml__fail(BML_ERR_VALUE, "override '%s': unbalanced brackets", ov);
        }
    }
}

/* "name(args)" with name one of the sweep functions: *args points into v (length *n_args) */
static int is_call(const char *v, const char *name, const char **args, size_t *n_args) {
    size_t l = strlen(name), n = strlen(v);
    if (strncmp(v, name, l) != 0) return 0;
    const char *p = v + l;
    while (is_space(*p)) p++;
    if (*p != '(' || n < 2 || v[n - 1] != ')') return 0;
    /* the parenthesis opened here must close at the end */
    int depth = 0;
    for (const char *q = p; *q; q++) {
        if (*q == '(') depth++;
        else if (*q == ')' && --depth == 0 && q[1] != 0) return 0;
    }
    *args = p + 1;
    *n_args = (size_t)(v + n - 1 - (p + 1));
    return 1;
}

static bml_status number(const char *ov, const char *s, double *out, int *is_int) {
    if (bml__parse_double(s, out) != 0) return bml__fail(BML_ERR_VALUE, "override '%s': '%s' is not a number", ov, s);
    if (is_int) *is_int = !strpbrk(s, ".eEnN") && fabs(*out) < 9e15;
    return BML_OK;
}

/* the arguments of a call as unquoted items; exactly `want` of them unless want is 0 */
static bml_status call_args(const char *ov, const char *fn, const char *args, size_t n, size_t want_min, size_t want_max,
                            bml__strvec *items) {
    char *a = bml__strndup(args, n);
    if (!a) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = split_top(ov, a, items);
    free(a);
    if (st == BML_OK && (items->n < want_min || items->n > want_max))
        st = want_min == want_max ? bml__fail(BML_ERR_VALUE, "override '%s': %s() takes %zu arguments", ov, fn, want_min)
                                  : bml__fail(BML_ERR_VALUE, "override '%s': %s() takes %zu to %zu arguments", ov, fn, want_min,
                                              want_max);
    return st;
}

/* range(start, stop[, step]): Python's range over integers, or start + i*step over reals; stop excluded */
static bml_status expand_range(const char *ov, const char *args, size_t n, size_t max_jobs, bml__strvec *out) {
    bml__strvec it = {0};
    bml_status st = call_args(ov, "range", args, n, 1, 3, &it);
    double v[3] = {0, 0, 1};
    int all_int = 1, is_int = 0;
    size_t off = it.n == 1 ? 1 : 0; /* range(stop) */
    for (size_t i = 0; st == BML_OK && i < it.n; i++) {
        st = number(ov, it.items[i], &v[i + off], &is_int);
        all_int &= is_int;
    }
    bml__strvec_free(&it);
    if (st != BML_OK) return st;
    double start = v[0], stop = v[1], step = v[2];
    if (step == 0) return bml__fail(BML_ERR_VALUE, "override '%s': range() step must not be 0", ov);
    double count = ceil((stop - start) / step);
    if (!(count >= 1)) return bml__fail(BML_ERR_VALUE, "override '%s': the range is empty", ov);
    if (count > (double)max_jobs)
        return bml__fail(BML_ERR_VALUE, "override '%s': %.0f values, more than --max-jobs %zu", ov, count, max_jobs);
    for (size_t i = 0; i < (size_t)count; i++) {
        double x = start + (double)i * step;
        if (step > 0 ? x >= stop : x <= stop) break;
        char *s = all_int ? bml__sprintf("%lld", (long long)llround(x)) : bml__sprintf("%.12g", x);
        int bad = !s || bml__strvec_push(out, s);
        free(s);
        if (bad) return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    return BML_OK;
}

/* interval(a, b) with a < b (and a > 0 for log) */
static bml_status parse_interval(const char *ov, const char *fn, const char *args, size_t n, dim_kind kind, entry *e) {
    bml__strvec it = {0};
    bml_status st = call_args(ov, fn, args, n, 2, 2, &it);
    if (st == BML_OK) st = number(ov, it.items[0], &e->a, NULL);
    if (st == BML_OK) st = number(ov, it.items[1], &e->b, NULL);
    bml__strvec_free(&it);
    if (st != BML_OK) return st;
    if (!(e->a < e->b) && !(kind == D_INT_INTERVAL && e->a == e->b))
        return bml__fail(BML_ERR_VALUE, "override '%s': %s() needs low < high", ov, fn);
    if (kind == D_LOG_INTERVAL && !(e->a > 0))
        return bml__fail(BML_ERR_VALUE, "override '%s': %s() needs a positive low end", ov, fn);
    if (kind == D_INT_INTERVAL && (e->a != floor(e->a) || e->b != floor(e->b) || fabs(e->a) > 9e15 || fabs(e->b) > 9e15))
        return bml__fail(BML_ERR_VALUE, "override '%s': int_interval() takes integers", ov);
    e->kind = kind;
    return BML_OK;
}

/* One override into an entry: plain, a list, or a sweep function. */
static bml_status parse_override(const char *ov, const bml_sweep_opts *o, size_t max_jobs, entry *e) {
    memset(e, 0, sizeof *e);
    const char *eq = strchr(ov, '=');
    if (!eq || eq == ov) return bml__fail(BML_ERR_VALUE, "override '%s': expected key=value", ov);
    if (!(e->key = bml__strndup(ov, (size_t)(eq - ov)))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *key_end = e->key + strlen(e->key);
    while (key_end > e->key && is_space(key_end[-1])) *--key_end = 0;
    const char *v = eq + 1;
    while (is_space(*v)) v++;
    const char *args;
    size_t na;
    int random = o->sweeper == BML_SWEEPER_RANDOM;
    if (is_call(v, "range", &args, &na)) {
        e->kind = D_LIST;
        return expand_range(ov, args, na, max_jobs, &e->values);
    }
    if (is_call(v, "choice", &args, &na)) {
        e->kind = D_LIST;
        return call_args(ov, "choice", args, na, 1, (size_t)-1, &e->values);
    }
    struct {
        const char *fn, *inner;
        dim_kind kind;
    } fns[] = {{"interval", NULL, D_INTERVAL},           {"log_interval", NULL, D_LOG_INTERVAL},
               {"int_interval", NULL, D_INT_INTERVAL},   {"tag", "interval", D_LOG_INTERVAL},
               {"int", "interval", D_INT_INTERVAL}};
    for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
        if (!is_call(v, fns[i].fn, &args, &na)) continue;
        if (!random)
            return bml__fail(BML_ERR_VALUE, "override '%s': %s() draws values: use --sweeper random --trials N", ov, fns[i].fn);
        if (!fns[i].inner) return parse_interval(ov, fns[i].fn, args, na, fns[i].kind, e);
        /* tag(log, interval(a,b)) and int(interval(a,b)) */
        bml__strvec it = {0};
        bml_status st = call_args(ov, fns[i].fn, args, na, !strcmp(fns[i].fn, "tag") ? 2 : 1, !strcmp(fns[i].fn, "tag") ? 2 : 1, &it);
        const char *inner = st == BML_OK ? it.items[it.n - 1] : NULL;
        if (st == BML_OK && !strcmp(fns[i].fn, "tag") && strcmp(it.items[0], "log"))
            st = bml__fail(BML_ERR_VALUE, "override '%s': tag(%s, ...) is not supported (tag(log, interval(a,b)) is)", ov, it.items[0]);
        const char *ia;
        size_t nia;
        if (st == BML_OK && !is_call(inner, "interval", &ia, &nia))
            st = bml__fail(BML_ERR_VALUE, "override '%s': %s() takes interval(a,b)", ov, fns[i].fn);
        if (st == BML_OK) st = parse_interval(ov, fns[i].fn, ia, nia, fns[i].kind, e);
        bml__strvec_free(&it);
        return st;
    }
    BML__TRY(split_top(ov, v, &e->values));
    e->kind = e->values.n > 1 ? D_LIST : D_PLAIN;
    return BML_OK;
}

/* ------------------------------------------------------------------ expansion */

/* "03-mlp_0.01": index zero-padded to the width of the last index, then the values, file-name safe */
static char *job_name(size_t j, size_t n_jobs, char *const *vals, size_t n_vals) {
    int width = 1;
    for (size_t m = n_jobs > 0 ? n_jobs - 1 : 0; m >= 10; m /= 10) width++;
    size_t cap = 64 + 49;
    char *s = malloc(cap);
    if (!s) return NULL;
    int len = snprintf(s, cap, "%0*zu", width, j);
    size_t l = (size_t)len, lim = (size_t)len + 48; /* at most 48 characters of values */
    for (size_t k = 0; k < n_vals && l < lim; k++) {
        s[l++] = k ? '_' : '-';
        for (const char *p = vals[k]; *p && l < lim; p++)
            s[l++] = isalnum((unsigned char)*p) || *p == '.' || *p == '+' || *p == '-' ? *p : '_';
    }
    s[l] = 0;
    return s;
}

bml_status bml_sweep_expand(const char *const *overrides, size_t n_overrides, const bml_sweep_opts *opts,
                            bml_sweep **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_sweep_expand", opts, bml_sweep_opts, BML_SWEEP_OPTS));
    bml_sweep_opts o = BML_SWEEP_OPTS_INIT;
    if (opts) o = *opts;
    size_t max_jobs = o.max_jobs ? o.max_jobs : DEFAULT_MAX_JOBS;
    if (o.sweeper == BML_SWEEPER_RANDOM && o.trials == 0)
        return bml__fail(BML_ERR_VALUE, "the random sweeper needs --trials N (N > 0)");
    bml_sweep *s = calloc(1, sizeof *s);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    s->e = bml__calloc(n_overrides + 1, sizeof *s->e);
    s->swept = bml__calloc(n_overrides + 1, sizeof *s->swept);
    bml_status st = s->e && s->swept ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < n_overrides; i++)
        if (bml__strvec_push(&s->given, overrides[i])) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    /* entries in first-appearance order of their key; a repeated key takes the later value */
    for (size_t i = 0; st == BML_OK && i < n_overrides; i++) {
        entry e;
        st = parse_override(overrides[i], &o, max_jobs, &e);
        if (st != BML_OK) {
            entry_release(&e);
            break;
        }
        size_t k = 0;
        while (k < s->n_e && strcmp(s->e[k].key, e.key)) k++;
        if (k < s->n_e) entry_release(&s->e[k]);
        else s->n_e++;
        s->e[k] = e;
    }
    /* job count */
    double total = 1;
    for (size_t k = 0; st == BML_OK && k < s->n_e; k++) {
        if (s->e[k].kind == D_PLAIN) continue;
        s->swept[s->n_swept++] = k;
        if (s->e[k].kind == D_LIST) total *= (double)s->e[k].values.n;
    }
    if (st == BML_OK) {
        if (o.sweeper == BML_SWEEPER_RANDOM) total = (double)o.trials;
        if (total > (double)max_jobs)
            st = bml__fail(BML_ERR_VALUE, "the sweep has %.0f jobs, more than --max-jobs %zu", total, max_jobs);
        else s->n_jobs = (size_t)total;
    }
    size_t J = s->n_jobs, K = s->n_swept;
    if (st == BML_OK) {
        s->vals = bml__calloc(J * K + 1, sizeof *s->vals);
        s->owned = bml__calloc(J * K + 1, sizeof *s->owned);
        s->ovr = bml__calloc(J * s->n_e + 1, sizeof *s->ovr);
        s->label = bml__calloc(J + 1, sizeof *s->label);
        s->name = bml__calloc(J + 1, sizeof *s->name);
        if (!s->vals || !s->owned || !s->ovr || !s->label || !s->name) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml__rng rng;
    bml__rng_seed(&rng, o.seed);
    for (size_t j = 0; st == BML_OK && j < J; j++) {
        size_t rest = j;
        for (size_t kk = K; kk-- > 0;) { /* grid: the last key varies fastest */
            entry *e = &s->e[s->swept[kk]];
            if (o.sweeper == BML_SWEEPER_GRID) {
                s->vals[j * K + kk] = e->values.items[rest % e->values.n];
                rest /= e->values.n;
            }
        }
        for (size_t k = 0; o.sweeper == BML_SWEEPER_RANDOM && k < K; k++) { /* random: keys in order */
            entry *e = &s->e[s->swept[k]];
            double u = bml__rng_uniform(&rng);
            char *v = NULL;
            switch (e->kind) {
            case D_LIST: {
                size_t c = (size_t)(u * (double)e->values.n);
                s->vals[j * K + k] = e->values.items[c < e->values.n ? c : e->values.n - 1];
                continue;
            }
            case D_INTERVAL: v = bml__sprintf("%.6g", e->a + u * (e->b - e->a)); break;
            case D_LOG_INTERVAL: v = bml__sprintf("%.6g", exp(log(e->a) + u * (log(e->b) - log(e->a)))); break;
            case D_INT_INTERVAL: {
                double c = floor(u * (e->b - e->a + 1));
                v = bml__sprintf("%lld", (long long)(e->a + (c > e->b - e->a ? e->b - e->a : c)));
                break;
            }
            default: break;
            }
            if (!v) {
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
                break;
            }
            s->vals[j * K + k] = v;
            s->owned[j * K + k] = 1;
        }
        /* every override of the job, in order; the label holds the swept ones */
        size_t llen = 1;
        for (size_t k = 0; st == BML_OK && k < s->n_e; k++) {
            const entry *e = &s->e[k];
            const char *val = e->values.n ? e->values.items[0] : "";
            for (size_t kk = 0; kk < K; kk++)
                if (s->swept[kk] == k) val = s->vals[j * K + kk];
            if (!(s->ovr[j * s->n_e + k] = bml__sprintf("%s=%s", e->key, val))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            else if (e->kind != D_PLAIN) llen += strlen(s->ovr[j * s->n_e + k]) + 1;
        }
        if (st != BML_OK) break;
        char *label = calloc(llen, 1);
        if (!label) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t kk = 0; kk < K; kk++) {
            if (kk) strcat(label, " ");
            strcat(label, s->ovr[j * s->n_e + s->swept[kk]]);
        }
        s->label[j] = label;
        if (!(s->name[j] = job_name(j, J, s->vals + j * K, K))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    if (st != BML_OK) {
        bml_sweep_free(s);
        return st;
    }
    *out = s;
    return BML_OK;
}

size_t bml_sweep_n_jobs(const bml_sweep *s) { return s->n_jobs; }
size_t bml_sweep_n_params(const bml_sweep *s) { return s->n_swept; }
const char *bml_sweep_param(const bml_sweep *s, size_t k) { return k < s->n_swept ? s->e[s->swept[k]].key : NULL; }
const char *bml_sweep_job_value(const bml_sweep *s, size_t j, size_t k) {
    return j < s->n_jobs && k < s->n_swept ? s->vals[j * s->n_swept + k] : NULL;
}
const char *const *bml_sweep_job_overrides(const bml_sweep *s, size_t j, size_t *n) {
    *n = j < s->n_jobs ? s->n_e : 0;
    return j < s->n_jobs ? (const char *const *)s->ovr + j * s->n_e : NULL;
}
const char *bml_sweep_job_label(const bml_sweep *s, size_t j) { return j < s->n_jobs ? s->label[j] : NULL; }
const char *bml_sweep_job_name(const bml_sweep *s, size_t j) { return j < s->n_jobs ? s->name[j] : NULL; }
const char *const *bml_sweep_overrides(const bml_sweep *s, size_t *n) {
    *n = s->given.n;
    return (const char *const *)s->given.items;
}

/* ------------------------------------------------------------------ output files */

/* a YAML double-quoted scalar */
static void sb_yaml(bml__sb *b, const char *s) {
    bml__sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') bml__sb_put(b, "\\", 1), bml__sb_put(b, (const char *)p, 1);
        else if (*p == '\n') bml__sb_str(b, "\\n");
        else if (*p < 0x20 || *p == 0x7f) bml__sb_fmt(b, "\\x%02x", *p);
        else bml__sb_put(b, (const char *)p, 1);
    }
    bml__sb_put(b, "\"", 1);
}

static bml_status sb_write(bml__sb *b, const char *dir, const char *name) {
    if (b->nomem) return bml__fail(BML_ERR_NOMEM, "out of memory");
    char *p = bml__path_join(dir, name);
    bml_status st = p ? bml__write_file_atomic(p, b->buf ? b->buf : "", b->len) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(p);
    return st;
}

bml_status bml_sweep_write_yaml(const bml_sweep *s, const bml_sweep_opts *opts, const char *const *overrides,
                                size_t n_overrides, const char *dir) {
    BML__TRY(BML__OPTS_CHECK("bml_sweep_write_yaml", opts, bml_sweep_opts, BML_SWEEP_OPTS));
    bml__sb b = {0};
    int random = opts && opts->sweeper == BML_SWEEPER_RANDOM;
    bml__sb_fmt(&b, "sweeper: %s\n", random ? "random" : "grid");
    if (random) bml__sb_fmt(&b, "trials: %zu\nseed: %llu\n", opts->trials, (unsigned long long)opts->seed);
    bml__sb_str(&b, "overrides:\n");
    for (size_t i = 0; i < n_overrides; i++) {
        bml__sb_str(&b, "  - ");
        sb_yaml(&b, overrides[i]);
        bml__sb_str(&b, "\n");
    }
    bml__sb_str(&b, "params:\n");
    for (size_t k = 0; k < s->n_swept; k++) {
        bml__sb_str(&b, "  - ");
        sb_yaml(&b, bml_sweep_param(s, k));
        bml__sb_str(&b, "\n");
    }
    bml__sb_fmt(&b, "n_jobs: %zu\njobs:\n", s->n_jobs);
    for (size_t j = 0; j < s->n_jobs; j++) {
        bml__sb_fmt(&b, "  - index: %zu\n    name: ", j);
        sb_yaml(&b, s->name[j]);
        bml__sb_str(&b, "\n    overrides:\n");
        for (size_t k = 0; k < s->n_e; k++) {
            bml__sb_str(&b, "      - ");
            sb_yaml(&b, s->ovr[j * s->n_e + k]);
            bml__sb_str(&b, "\n");
        }
    }
    bml_status st = BML_OK;
    char *p = bml__path_join(dir, "multirun.yaml");
    if (b.nomem || !p) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    else st = bml__write_file_atomic_new(p, b.buf ? b.buf : "", b.len); /* never over another sweep's */
    if (st == BML_ERR_STATE) bml__fail(st, "%s already holds a sweep (its multirun.yaml)", dir);
    free(p);
    free(b.buf);
    return st;
}

/* ------------------------------------------------------------------ reading multirun.yaml back */

typedef struct {
    const char *path;
    yaml_document_t doc;
} ydoc;

/* "<path>:<line>:<column>: <message>" at node n */
static bml_status yfail(const ydoc *d, const yaml_node_t *n, bml_status code, const char *fmt, ...) BML__PRINTF(4, 5);
static bml_status yfail(const ydoc *d, const yaml_node_t *n, bml_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = bml__vsprintf(fmt, ap);
    va_end(ap);
    bml_status st = !msg ? bml__fail(BML_ERR_NOMEM, "out of memory")
                    : n  ? bml__fail(code, "%s:%zu:%zu: %s", d->path, n->start_mark.line + 1, n->start_mark.column + 1, msg)
                         : bml__fail(code, "%s: %s", d->path, msg);
    free(msg);
    return st;
}

static yaml_node_t *ynode(ydoc *d, int id) { return yaml_document_get_node(&d->doc, id); }

/* a scalar node's text (NUL-terminated by libyaml; one holding a NUL byte is refused) */
static bml_status yscalar(const ydoc *d, const yaml_node_t *n, const char *what, const char **out) {
    *out = "";
    if (!n || n->type != YAML_SCALAR_NODE) return yfail(d, n, BML_ERR_PARSE, "%s must be a single value", what);
    *out = (const char *)n->data.scalar.value;
    if (strlen(*out) != n->data.scalar.length) return yfail(d, n, BML_ERR_PARSE, "%s holds a NUL character", what);
    return BML_OK;
}

static bml_status ycount(const ydoc *d, const yaml_node_t *n, const char *what, uint64_t max, uint64_t *out) {
    *out = 0;
    const char *v;
    BML__TRY(yscalar(d, n, what, &v));
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end || errno || x > max)
        return yfail(d, n, BML_ERR_PARSE, "%s must be a whole number from 0 to %llu, not '%s'", what, (unsigned long long)max, v);
    *out = x;
    return BML_OK;
}

/* a sequence of scalars into v */
static bml_status ylist(ydoc *d, const yaml_node_t *n, const char *what, bml__strvec *v) {
    if (!n || n->type != YAML_SEQUENCE_NODE) return yfail(d, n, BML_ERR_PARSE, "%s must be a list", what);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        const char *x;
        BML__TRY(yscalar(d, ynode(d, *it), what, &x));
        if (bml__strvec_push(v, x)) return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    return BML_OK;
}

static size_t ylen(const yaml_node_t *n) { return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start); }

/* job j of the jobs list against the expansion */
static bml_status check_job_entry(ydoc *d, const yaml_node_t *n, const bml_sweep *s, size_t j) {
    if (!n || n->type != YAML_MAPPING_NODE) return yfail(d, n, BML_ERR_PARSE, "job %zu must be a mapping (index, name, overrides)", j);
    const yaml_node_t *idx = NULL, *name = NULL, *ovr = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const char *k;
        const yaml_node_t *kn = ynode(d, p->key);
        BML__TRY(yscalar(d, kn, "a key", &k));
        const yaml_node_t **slot = !strcmp(k, "index") ? &idx : !strcmp(k, "name") ? &name : !strcmp(k, "overrides") ? &ovr : NULL;
        if (!slot) return yfail(d, kn, BML_ERR_PARSE, "job %zu: unknown key '%s'", j, k);
        if (*slot) return yfail(d, kn, BML_ERR_PARSE, "job %zu: '%s' given twice", j, k);
        *slot = ynode(d, p->value);
    }
    if (!idx || !name || !ovr) return yfail(d, n, BML_ERR_PARSE, "job %zu needs index, name and overrides", j);
    uint64_t i;
    BML__TRY(ycount(d, idx, "index", UINT64_MAX, &i));
    if (i != j) return yfail(d, idx, BML_ERR_PARSE, "job %zu has index %llu: the jobs must be listed in order", j, (unsigned long long)i);
    const char *nm;
    BML__TRY(yscalar(d, name, "name", &nm));
    bml__strvec v = {0};
    bml_status st = ylist(d, ovr, "overrides", &v);
    size_t n_ov = 0;
    const char *const *want = bml_sweep_job_overrides(s, j, &n_ov);
    int same = st == BML_OK && v.n == n_ov;
    for (size_t k = 0; same && k < n_ov; k++) same = !strcmp(v.items[k], want[k]);
    if (st == BML_OK && !same) {
        char *got = bml__join(v.items, v.n, " "), *exp = bml__join((char *const *)want, n_ov, " ");
        st = got && exp ? yfail(d, ovr, BML_ERR_VALUE,
                                "job %zu lists the overrides '%s', but the sweep's overrides give it '%s': the file was edited "
                                "or written by another version of batteryml",
                                j, got, exp)
                        : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(got);
        free(exp);
    }
    if (st == BML_OK && strcmp(nm, bml_sweep_job_name(s, j)))
        st = yfail(d, name, BML_ERR_VALUE, "job %zu is named '%s', but the sweep names it '%s': the file was edited or written by "
                   "another version of batteryml", j, nm, bml_sweep_job_name(s, j));
    bml__strvec_free(&v);
    return st;
}

/* the mapping at the top of multirun.yaml into a sweep */
static bml_status load_doc(ydoc *d, bml_sweep_opts *opts, bml_sweep **out) {
    yaml_node_t *root = yaml_document_get_root_node(&d->doc);
    if (!root) return bml__fail(BML_ERR_PARSE, "%s: empty: not a sweep's multirun.yaml", d->path);
    if (root->type != YAML_MAPPING_NODE) return yfail(d, root, BML_ERR_PARSE, "not a sweep's multirun.yaml (expected a mapping)");
    static const char *const keys[] = {"sweeper", "trials", "seed", "overrides", "params", "n_jobs", "jobs"};
    enum { K_SWEEPER, K_TRIALS, K_SEED, K_OVERRIDES, K_PARAMS, K_NJOBS, K_JOBS, K_N };
    yaml_node_t *v[K_N] = {0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const char *k;
        yaml_node_t *kn = ynode(d, p->key);
        BML__TRY(yscalar(d, kn, "a key", &k));
        size_t i = 0;
        while (i < K_N && strcmp(k, keys[i])) i++;
        if (i == K_N) return yfail(d, kn, BML_ERR_PARSE, "unknown key '%s'", k);
        if (v[i]) return yfail(d, kn, BML_ERR_PARSE, "'%s' given twice", k);
        v[i] = ynode(d, p->value);
    }
    static const int required[] = {K_SWEEPER, K_OVERRIDES, K_PARAMS, K_NJOBS, K_JOBS};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!v[required[i]]) return yfail(d, root, BML_ERR_PARSE, "no '%s': not a sweep's multirun.yaml", keys[required[i]]);
    const char *sw;
    BML__TRY(yscalar(d, v[K_SWEEPER], "sweeper", &sw));
    bml_sweep_opts o = BML_SWEEP_OPTS_INIT;
    o.max_jobs = opts && opts->max_jobs ? opts->max_jobs : DEFAULT_MAX_JOBS;
    if (!strcmp(sw, "random")) o.sweeper = BML_SWEEPER_RANDOM;
    else if (strcmp(sw, "grid")) return yfail(d, v[K_SWEEPER], BML_ERR_PARSE, "sweeper must be grid or random, not '%s'", sw);
    if (o.sweeper == BML_SWEEPER_RANDOM) {
        uint64_t t = 0;
        if (!v[K_TRIALS] || !v[K_SEED]) return yfail(d, root, BML_ERR_PARSE, "a random sweep needs 'trials' and 'seed'");
        BML__TRY(ycount(d, v[K_TRIALS], "trials", SIZE_MAX, &t));
        BML__TRY(ycount(d, v[K_SEED], "seed", UINT64_MAX, &o.seed));
        o.trials = (size_t)t;
    } else if (v[K_TRIALS] || v[K_SEED]) {
        return yfail(d, v[K_TRIALS] ? v[K_TRIALS] : v[K_SEED], BML_ERR_PARSE, "trials and seed belong to a random sweep, not a grid");
    }
    uint64_t n_jobs;
    BML__TRY(ycount(d, v[K_NJOBS], "n_jobs", SIZE_MAX, &n_jobs));
    if (v[K_JOBS]->type != YAML_SEQUENCE_NODE) return yfail(d, v[K_JOBS], BML_ERR_PARSE, "jobs must be a list");
    if (ylen(v[K_JOBS]) != n_jobs)
        return yfail(d, v[K_JOBS], BML_ERR_PARSE, "%zu jobs listed, n_jobs says %llu", ylen(v[K_JOBS]), (unsigned long long)n_jobs);
    /* the file lists every job: a sweep that large was allowed when it started */
    if (o.max_jobs < n_jobs) o.max_jobs = (size_t)n_jobs;
    bml__strvec given = {0}, params = {0};
    bml_sweep *s = NULL;
    bml_status st = ylist(d, v[K_OVERRIDES], "overrides", &given);
    if (st == BML_OK) st = ylist(d, v[K_PARAMS], "params", &params);
    if (st == BML_OK && (st = bml_sweep_expand((const char *const *)given.items, given.n, &o, &s)) != BML_OK)
        bml__fail_prefix(st, "%s: the sweep's overrides", d->path);
    if (st == BML_OK && bml_sweep_n_jobs(s) != n_jobs)
        st = yfail(d, v[K_NJOBS], BML_ERR_VALUE, "n_jobs is %llu, but the sweep's overrides make %zu jobs", (unsigned long long)n_jobs,
                   bml_sweep_n_jobs(s));
    int same = st == BML_OK && params.n == s->n_swept;
    for (size_t k = 0; same && k < params.n; k++) same = !strcmp(params.items[k], bml_sweep_param(s, k));
    if (st == BML_OK && !same) st = yfail(d, v[K_PARAMS], BML_ERR_VALUE, "params are not the keys the sweep's overrides sweep");
    for (size_t j = 0; st == BML_OK && j < n_jobs; j++)
        st = check_job_entry(d, ynode(d, v[K_JOBS]->data.sequence.items.start[j]), s, (size_t)j);
    bml__strvec_free(&given);
    bml__strvec_free(&params);
    if (st != BML_OK) {
        bml_sweep_free(s);
        return st;
    }
    if (opts) *opts = o;
    *out = s;
    return BML_OK;
}

void bml_sweep_opts_init(bml_sweep_opts *o) {
    bml_sweep_opts init = BML_SWEEP_OPTS_INIT;
    *o = init;
}

bml_status bml_sweep_load(const char *dir, bml_sweep_opts *opts, bml_sweep **out) {
    *out = NULL;
    BML__TRY(BML__OPTS_CHECK("bml_sweep_load", opts, bml_sweep_opts, BML_SWEEP_OPTS));
    ydoc d;
    char *path = bml__path_join(dir, "multirun.yaml"), *txt = NULL;
    size_t len = 0;
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    d.path = path;
    bml_status st = bml__read_file(path, &txt, &len);
    if (st != BML_OK) {
        free(path);
        return st;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(txt);
        free(path);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)txt, len);
    if (!yaml_parser_load(&parser, &d.doc)) {
        st = bml__fail(BML_ERR_PARSE, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "malformed YAML");
    } else {
        st = load_doc(&d, opts, out);
        yaml_document_delete(&d.doc);
    }
    yaml_parser_delete(&parser);
    free(txt);
    free(path);
    return st;
}

bml_status bml_sweep_clean(const char *dir, size_t *n_removed) {
    BML__TRY(bml__stage_clean(dir, n_removed));
    /* the temporary file of a sweep.csv write cut short (bml__write_file_atomic's name for it) */
    DIR *d = opendir(dir);
    if (!d) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    bml_status st = BML_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        static const char tmp[] = ".sweep.csv.tmp-";
        if (strncmp(e->d_name, tmp, sizeof tmp - 1)) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
            if (n_removed) (*n_removed)++;
        } else if (errno != ENOENT && st == BML_OK) {
            st = bml__fail(BML_ERR_IO, "%s/%s: cannot remove: %s", dir, e->d_name, strerror(errno));
        }
    }
    closedir(d);
    return st;
}

static const char *const METRICS[] = {"rmse", "mae", "mape", "r2", "max_abs_error"};

/* the aggregate metrics of one metrics.json as (column, value) pairs appended to cols/vals */
static bml_status job_metrics(const char *json, const char *where, bml__strvec *cols, double **vals, size_t *n, size_t *cap) {
    cJSON *m = cJSON_Parse(json);
    if (!m) return bml__fail(BML_ERR_PARSE, "%s: metrics.json is not valid JSON", where);
    bml_status st = BML_OK;
    const cJSON *overall = cJSON_GetObjectItemCaseSensitive(m, "overall");
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(m, "fold_summary"), *t;
    if (!cJSON_IsObject(overall)) st = bml__fail(BML_ERR_PARSE, "%s: metrics.json has no 'overall' object", where);
    const cJSON *targets = st == BML_OK ? overall : NULL;
    cJSON_ArrayForEach(t, targets) {
        if (!cJSON_IsObject(t)) {
            st = bml__fail(BML_ERR_PARSE, "%s: metrics.json: overall.%s is not an object", where, t->string);
            break;
        }
        const cJSON *ft = cJSON_IsObject(fs) ? cJSON_GetObjectItemCaseSensitive(fs, t->string) : NULL;
        const char *names[7] = {METRICS[0], METRICS[1], METRICS[2], METRICS[3], METRICS[4], "fold_rmse_mean", "fold_rmse_std"};
        const cJSON *src[7] = {t, t, t, t, t, ft, ft};
        const char *keys[7] = {METRICS[0], METRICS[1], METRICS[2], METRICS[3], METRICS[4], "rmse_mean", "rmse_std"};
        for (int k = 0; k < (ft ? 7 : 5) && st == BML_OK; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(src[k], keys[k]);
            char *col = bml__sprintf("%s.%s", t->string, names[k]);
            if (*n == *cap) {
                size_t nc = *cap ? 2 * *cap : 16;
                double *nv = realloc(*vals, nc * sizeof *nv);
                if (!nv) {
                    free(col);
                    st = bml__fail(BML_ERR_NOMEM, "out of memory");
                    break;
                }
                *vals = nv, *cap = nc;
            }
            if (!col || bml__strvec_push(cols, col)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            else (*vals)[(*n)++] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
            free(col);
        }
    }
    cJSON_Delete(m);
    return st;
}

bml_status bml_sweep_write_csv(const bml_sweep *s, const bml_sweep_result *r, const char *dir) {
    size_t J = s->n_jobs;
    bml__strvec *cols = bml__calloc(J + 1, sizeof *cols);
    double **vals = bml__calloc(J + 1, sizeof *vals);
    size_t *nv = bml__calloc(J + 1, sizeof *nv), *caps = bml__calloc(J + 1, sizeof *caps);
    bml__strvec all = {0};
    bml_status st = cols && vals && nv && caps ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t j = 0; st == BML_OK && j < J; j++) {
        if (r[j].ok <= 0 || !r[j].metrics_json) continue;
        st = job_metrics(r[j].metrics_json, r[j].run_dir ? r[j].run_dir : s->name[j], &cols[j], &vals[j], &nv[j], &caps[j]);
        for (size_t c = 0; st == BML_OK && c < cols[j].n; c++)
            if (bml__strvec_find(&all, cols[j].items[c]) < 0 && bml__strvec_push(&all, cols[j].items[c]))
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml__sb b = {0};
    if (st == BML_OK) {
        bml__sb_str(&b, "index,name,overrides");
        for (size_t k = 0; k < s->n_swept; k++) bml__sb_put(&b, ",", 1), bml__sb_csv(&b, bml_sweep_param(s, k));
        bml__sb_str(&b, ",status,error,seconds,fit_s,run_dir");
        for (size_t c = 0; c < all.n; c++) bml__sb_put(&b, ",", 1), bml__sb_csv(&b, all.items[c]);
        bml__sb_put(&b, "\n", 1);
        for (size_t j = 0; j < J; j++) {
            bml__sb_fmt(&b, "%zu,", j);
            bml__sb_csv(&b, s->name[j]);
            bml__sb_put(&b, ",", 1);
            bml__sb_csv(&b, s->label[j]);
            for (size_t k = 0; k < s->n_swept; k++) bml__sb_put(&b, ",", 1), bml__sb_csv(&b, s->vals[j * s->n_swept + k]);
            bml__sb_str(&b, r[j].ok > 0 ? ",ok," : r[j].ok < 0 ? ",cancelled," : ",failed,");
            if (r[j].ok <= 0) bml__sb_csv(&b, r[j].error ? r[j].error : r[j].ok < 0 ? "not run" : "unknown error");
            bml__sb_put(&b, ",", 1);
            if (isfinite(r[j].seconds)) bml__sb_fmt(&b, "%.3f", r[j].seconds);
            bml__sb_put(&b, ",", 1);
            if (r[j].ok > 0 && isfinite(r[j].fit_seconds)) bml__sb_fmt(&b, "%.3f", r[j].fit_seconds);
            bml__sb_put(&b, ",", 1);
            if (r[j].ok > 0 && r[j].run_dir) bml__sb_csv(&b, r[j].run_dir);
            for (size_t c = 0; c < all.n; c++) {
                int at = bml__strvec_find(&cols[j], all.items[c]);
                if (at >= 0 && isfinite(vals[j][at])) bml__sb_fmt(&b, ",%.9g", vals[j][at]);
                else bml__sb_put(&b, ",", 1);
            }
            bml__sb_put(&b, "\n", 1);
        }
        st = sb_write(&b, dir, "sweep.csv");
    }
    free(b.buf);
    for (size_t j = 0; j < J && cols; j++) bml__strvec_free(&cols[j]);
    for (size_t j = 0; j < J && vals; j++) free(vals[j]);
    bml__strvec_free(&all);
    free(cols);
    free(vals);
    free(nv);
    free(caps);
    return st;
}

/* ------------------------------------------------------------------ compare */

typedef struct {
    const bml__csv_row *row;
    double key; /* the metric, negated where larger is better */
    int ok;
} ranked;

static int cmp_ranked(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->ok != b->ok) return b->ok - a->ok; /* failed jobs last */
    int na = isnan(a->key), nb = isnan(b->key);
    if (na != nb) return na - nb; /* then jobs without the metric */
    if (!na && a->key != b->key) return a->key < b->key ? -1 : 1; /* (NaN != NaN: no order there) */
    return a->row < b->row ? -1 : a->row > b->row; /* ties in job order */
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* a field for the terminal: control characters as '?', cut to width with "..." */
static void sb_cell(bml__sb *b, const char *s, int width) {
    int w = 0, len = (int)strlen(s);
    for (; *s && w < width; s++, w++) {
        if (len > width && w >= width - 3) {
            bml__sb_str(b, "...");
            w += 3;
            break;
        }
        bml__sb_put(b, (unsigned char)*s < 0x20 || *s == 0x7f ? "?" : s, 1);
    }
    for (; w < width; w++) bml__sb_put(b, " ", 1);
}

static void sb_plain(bml__sb *b, const char *s) {
    for (; *s; s++) bml__sb_put(b, (unsigned char)*s < 0x20 || *s == 0x7f ? "?" : s, 1);
}

/* a sweep.csv read and its jobs ranked by a metric */
typedef struct {
    char *path;
    bml__csv c;
    ranked *rk;
    size_t n;
    int col_name, col_status, col_metric, col_ovr, col_err, larger_better;
    const char *mname;
} ranking;

static void ranking_free(ranking *r) {
    free(r->rk);
    bml__csv_free(&r->c);
    free(r->path);
}

static bml_status rank_jobs(const char *sweep_dir, const char *metric, ranking *r) {
    memset(r, 0, sizeof *r);
    r->col_name = r->col_status = r->col_metric = r->col_ovr = r->col_err = -1;
    if (!(r->path = bml__path_join(sweep_dir, "sweep.csv"))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    const char *path = r->path;
    bml_status st = bml__csv_read(path, 0, &r->c);
    if (st == BML_OK && r->c.n_rows < 1) st = bml__fail(BML_ERR_PARSE, "%s: empty: not a sweep's sweep.csv", path);
    const bml__csv_row *h = st == BML_OK ? &r->c.rows[0] : NULL;
    for (size_t i = 0; h && i < h->n_fields; i++) {
        const char *f = h->fields[i];
        if (!strcmp(f, "name")) r->col_name = (int)i;
        else if (!strcmp(f, "status")) r->col_status = (int)i;
        else if (!strcmp(f, "overrides")) r->col_ovr = (int)i;
        else if (!strcmp(f, "error")) r->col_err = (int)i;
        if (r->col_metric < 0 && (metric ? !strcmp(f, metric) : ends_with(f, ".rmse"))) r->col_metric = (int)i;
    }
    if (st == BML_OK && (r->col_name < 0 || r->col_status < 0 || r->col_ovr < 0 || r->col_err < 0))
        st = bml__fail(BML_ERR_PARSE, "%s:1: needs the columns name, overrides, status and error: not a sweep's sweep.csv", path);
    if (st == BML_OK && metric && r->col_metric < 0) st = bml__fail(BML_ERR_NOT_FOUND, "%s: no column '%s'", path, metric);
    for (size_t i = 1; st == BML_OK && i < r->c.n_rows; i++)
        if (r->c.rows[i].n_fields != h->n_fields)
            st = bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields, the header has %zu", path, r->c.rows[i].line, r->c.rows[i].n_fields,
                           h->n_fields);
    r->n = st == BML_OK ? r->c.n_rows - 1 : 0;
    if (st == BML_OK && !(r->rk = bml__calloc(r->n + 1, sizeof *r->rk))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    r->mname = r->col_metric >= 0 && h ? h->fields[r->col_metric] : NULL;
    r->larger_better = r->mname && (ends_with(r->mname, ".r2") || !strcmp(r->mname, "r2"));
    for (size_t i = 0; st == BML_OK && i < r->n; i++) {
        const bml__csv_row *row = &r->c.rows[i + 1];
        double v = NAN;
        if (r->col_metric >= 0 && *row->fields[r->col_metric] && bml__parse_double(row->fields[r->col_metric], &v) != 0)
            st = bml__fail(BML_ERR_PARSE, "%s:%zu:%d: '%s' is not a number", path, row->line, r->col_metric + 1,
                           row->fields[r->col_metric]);
        r->rk[i] = (ranked){row, r->larger_better ? -v : v, !strcmp(row->fields[r->col_status], "ok")};
    }
    if (st == BML_OK) qsort(r->rk, r->n, sizeof *r->rk, cmp_ranked);
    if (st != BML_OK) ranking_free(r);
    return st;
}

static double ranked_value(const ranking *r, size_t i) { return r->larger_better ? -r->rk[i].key : r->rk[i].key; }

bml_status bml_sweep_compare(const char *sweep_dir, const char *metric, char **table) {
    *table = NULL;
    ranking r;
    BML__TRY(rank_jobs(sweep_dir, metric, &r));
    bml__sb b = {0};
    bml__sb_fmt(&b, "%zu jobs in %s, sorted by %s%s\n", r.n, sweep_dir, r.mname ? r.mname : "job order",
           r.mname ? (r.larger_better ? " (descending)" : " (ascending)") : "");
    bml__sb_str(&b, "rank  ");
    sb_cell(&b, "job", 28);
    bml__sb_str(&b, " ");
    sb_cell(&b, "status", 9);
    bml__sb_fmt(&b, " %12s  overrides\n", r.mname ? r.mname : "");
    for (size_t i = 0; i < r.n; i++) {
        bml__sb_fmt(&b, "%4zu  ", i + 1);
        sb_cell(&b, r.rk[i].row->fields[r.col_name], 28);
        bml__sb_str(&b, " ");
        sb_cell(&b, r.rk[i].row->fields[r.col_status], 9);
        double v = ranked_value(&r, i);
        if (isnan(v)) bml__sb_fmt(&b, " %12s  ", "-");
        else bml__sb_fmt(&b, " %12.6g  ", v);
        sb_plain(&b, r.rk[i].row->fields[r.col_ovr]);
        bml__sb_put(&b, "\n", 1);
    }
    ranking_free(&r);
    if (b.nomem) {
        free(b.buf);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    *table = b.buf;
    return BML_OK;
}

bml_status bml_sweep_report(const char *sweep_dir, const char *metric, const char *out_path) {
    ranking r;
    BML__TRY(rank_jobs(sweep_dir, metric, &r));
    int n_fig = 0;
    bml_status st = bml__figures_sweep(sweep_dir, r.mname, &n_fig);
    char *title = bml__sprintf("Sweep %s", sweep_dir);
    bml__html *h = st == BML_OK && title ? bml__html_begin(title) : NULL;
    free(title);
    if (st == BML_OK && !h) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) {
        size_t failed = 0, cancelled = 0;
        for (size_t i = 0; i < r.n; i++) {
            int c = !strcmp(r.rk[i].row->fields[r.col_status], "cancelled");
            cancelled += c;
            failed += !r.rk[i].ok && !c;
        }
        char *line = cancelled ? bml__sprintf("<p>%zu jobs, %zu failed, %zu cancelled; ranked by <b>", r.n, failed, cancelled)
                               : bml__sprintf("<p>%zu jobs, %zu failed; ranked by <b>", r.n, failed);
        bml__html_raw(h, line ? line : "");
        free(line);
        bml__html_text(h, r.mname ? r.mname : "job order");
        bml__html_raw(h, r.mname ? (r.larger_better ? "</b> (larger is better)</p>\n" : "</b> (smaller is better)</p>\n") : "</b></p>\n");
        bml__html_raw(h, "<table><tr><th>rank</th><th>job</th><th>status</th><th>");
        bml__html_text(h, r.mname ? r.mname : "");
        bml__html_raw(h, "</th><th>overrides</th><th>error</th></tr>\n");
        for (size_t i = 0; i < r.n; i++) {
            char num[64];
            snprintf(num, sizeof num, "<tr><td>%zu</td><td>", i + 1);
            bml__html_raw(h, num);
            bml__html_text(h, r.rk[i].row->fields[r.col_name]);
            bml__html_raw(h, "</td><td>");
            bml__html_text(h, r.rk[i].row->fields[r.col_status]);
            double v = ranked_value(&r, i);
            if (isnan(v)) snprintf(num, sizeof num, "</td><td>&ndash;</td><td>");
            else snprintf(num, sizeof num, "</td><td>%.6g</td><td>", v);
            bml__html_raw(h, num);
            bml__html_text(h, r.rk[i].row->fields[r.col_ovr]);
            bml__html_raw(h, "</td><td>");
            bml__html_text(h, r.rk[i].row->fields[r.col_err]);
            bml__html_raw(h, "</td></tr>\n");
        }
        bml__html_raw(h, "</table>\n");
        st = bml__html_figures(h, sweep_dir);
    }
    if (st == BML_OK) st = bml__html_finish(h, out_path);
    else bml__html_free(h);
    ranking_free(&r);
    return st;
}
