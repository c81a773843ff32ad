/* Strings, numbers, typed parameters, files and the seeded RNG. */
#define _GNU_SOURCE /* renameat2 with RENAME_NOREPLACE, mkostemp, flock */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <csv.h>

#include "batteryml/status.h"
#include "core/internal.h"

/* ------------------------------------------------------------------ memory and strings */
void *bml__calloc(size_t n, size_t size) {
    if (n == 0 || size == 0) return calloc(1, 1);
    if (n > SIZE_MAX / size) return NULL;
    return calloc(n, size);
}

/* the public face of free() (batteryml/status.h) */
void bml_free(void *p) { free(p); }

char *bml__strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

char *bml__strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

char *bml__vsprintf(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (out) vsnprintf(out, (size_t)n + 1, fmt, ap);
    return out;
}

char *bml__sprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = bml__vsprintf(fmt, ap);
    va_end(ap);
    return out;
}

char *bml__trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

int bml__streq_ci(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

int bml__strvec_push(bml__strvec *v, const char *s) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        char **items = realloc(v->items, cap * sizeof *items);
        if (!items) return -1;
        v->items = items;
        v->cap = cap;
    }
    char *d = bml__strdup(s);
    if (!d) return -1;
    v->items[v->n++] = d;
    return 0;
}

int bml__strvec_find(const bml__strvec *v, const char *s) {
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->items[i], s) == 0) return (int)i;
    return -1;
}

void bml__strvec_free(bml__strvec *v) {
    for (size_t i = 0; i < v->n; i++) free(v->items[i]);
    free(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}

int bml__strcmp_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *bml__join(char *const *items, size_t n, const char *sep) {
    size_t len = 1, seplen = strlen(sep);
    for (size_t i = 0; i < n; i++) len += strlen(items[i]) + seplen;
    char *out = malloc(len);
    if (!out) return NULL;
    out[0] = 0;
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(p, sep, seplen);
            p += seplen;
        }
        size_t l = strlen(items[i]);
        memcpy(p, items[i], l);
        p += l;
    }
    *p = 0;
    return out;
}

char *bml__registry_names(size_t n, const char *(*name)(size_t)) {
    bml__sb b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i) bml__sb_str(&b, ", ");
        bml__sb_str(&b, name(i));
    }
    if (b.nomem) {
        free(b.buf);
        return NULL;
    }
    return b.buf ? b.buf : bml__strdup("");
}

/* ------------------------------------------------------------------ numbers */
/* Exact powers of ten: every 10^k, k <= 22, is a double without rounding. */
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Clinger's fast path: a decimal with at most 2^53 as its digits and |exponent| <= 22 is m * 10^e or
 * m / 10^-e, one correctly rounded operation on exact operands, hence the same double strtod gives.
 * Returns 0 and sets *out when it applies, -1 when strtod must decide. */
static int parse_double_fast(const char *s, double *out) {
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    uint64_t m = 0;
    int digits = 0, exp10 = 0, any = 0;
    while (*p == '0') p++, any = 1;
    for (; *p >= '0' && *p <= '9'; p++, any = 1) {
        if (++digits > 19) return -1;
        m = m * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (m == 0)
            while (*p == '0') p++, exp10--, any = 1;
        for (; *p >= '0' && *p <= '9'; p++, any = 1) {
            if (++digits > 19) return -1;
            m = m * 10 + (uint64_t)(*p - '0');
            exp10--;
        }
    }
    if (!any) return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        int eneg = 0, e = 0, edig = 0;
        if (*p == '-' || *p == '+') eneg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++, edig++)
            if ((e = e * 10 + (*p - '0')) > 10000) return -1;
        if (!edig) return -1;
        exp10 += eneg ? -e : e;
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (*p) return -1;
    if (m > (1ULL << 53)) return -1;
    double v = (double)m;
    if (m == 0) v = 0.0;
    else if (exp10 < 0 && exp10 >= -22) v /= POW10[-exp10];
    else if (exp10 >= 0 && exp10 <= 22) v *= POW10[exp10];
    else return -1;
    *out = neg ? -v : v;
    return 0;
}

const double bml__pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* bml__scan_double's way when Clinger's fast path does not apply: the whole field, NUL-terminated, as
 * bml__parse_double reads it (a NUL in it: no number) */
int bml__scan_double_slow(const char *p, const char *end, char sep, double *out, const char **next) {
    const char *fe = p < end ? memchr(p, sep, (size_t)(end - p)) : NULL;
    if (!fe) fe = end;
    *next = fe;
    size_t n = (size_t)(fe - p);
    if (memchr(p, '\0', n)) return -1;
    char small[96], *t = n < sizeof small ? small : malloc(n + 1);
    if (!t) return -2;
    memcpy(t, p, n);
    t[n] = '\0';
    int rc = bml__parse_double(t, out);
    if (t != small) free(t);
    return rc;
}

int bml__parse_double(const char *s, double *out) {
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    if (parse_double_fast(s, out) == 0) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    /* strtod sets ERANGE for subnormal results too: accept those, reject overflow and non-finite */
    if (*end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* The reference path alone, for tests of the fast path. */
int bml__parse_double_strtod(const char *s, double *out) {
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int bml__parse_long(const char *s, long *out) {
    if (!s) return -1;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || errno == ERANGE) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

int bml__parse_bool(const char *s, int *out) {
    if (!s) return -1;
    if (bml__streq_ci(s, "true") || bml__streq_ci(s, "yes") || bml__streq_ci(s, "on") || strcmp(s, "1") == 0) {
        *out = 1;
        return 0;
    }
    if (bml__streq_ci(s, "false") || bml__streq_ci(s, "no") || bml__streq_ci(s, "off") || strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    return -1;
}

int bml__parse_string_list(const char *s, bml__strvec *out) {
    char *buf = bml__strdup(s ? s : "");
    if (!buf) return -1;
    char *p = bml__trim(buf);
    size_t n = strlen(p);
    int open = n && p[0] == '[', close = n && p[n - 1] == ']';
    if (open != close || (open && n < 2)) { /* "[1, 5" or "1, 5]": not a list */
        free(buf);
        return -1;
    }
    if (open) {
        p[n - 1] = 0;
        p++;
    }
    int rc = 0;
    if (*bml__trim(p)) {
        char *save = NULL;
        for (char *tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *t = bml__trim(tok);
            size_t tl = strlen(t);
            if (tl && (t[0] == '\'' || t[0] == '"')) { /* a quoted item ends with its quote */
                if (tl < 2 || t[tl - 1] != t[0]) {
                    rc = -1;
                    break;
                }
                t[tl - 1] = 0;
                t++;
            }
            if (!*t || bml__strvec_push(out, t) != 0) {
                rc = -1;
                break;
            }
        }
    }
    free(buf);
    return rc;
}

int bml__parse_double_list(const char *s, double **out, size_t *n) {
    bml__strvec v = {0};
    if (bml__parse_string_list(s, &v) != 0) {
        bml__strvec_free(&v);
        return -1;
    }
    double *d = bml__calloc(v.n ? v.n : 1, sizeof *d);
    int rc = d ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < v.n; i++)
        if (bml__parse_double(v.items[i], &d[i]) != 0) rc = -1;
    size_t count = v.n;
    bml__strvec_free(&v);
    if (rc != 0) {
        free(d);
        return -1;
    }
    *out = d;
    *n = count;
    return 0;
}

/* ------------------------------------------------------------------ typed parameters */
static const char *ptype_name(bml__ptype t) {
    switch (t) {
    case BML__P_INT: return "int";
    case BML__P_DOUBLE: return "double";
    case BML__P_BOOL: return "bool";
    case BML__P_STRING: return "string";
    case BML__P_LIST: return "list";
    }
    return "?";
}

/* Parse `value` for one parameter and store it in params; a value that fails (not of the type, out of
 * the spec's bounds) leaves the field unchanged. Integer fields without bounds hold an int. */
static bml_status param_set(const char *what, const bml__param_spec *sp, const char *value, void *params) {
    char *field = (char *)params + sp->offset;
    int bounded = sp->min <= sp->max;
    double lo = bounded ? sp->min : (double)INT_MIN, hi = bounded ? sp->max : (double)INT_MAX;
    switch (sp->type) {
    case BML__P_INT: {
        long v;
        if (bml__parse_long(value, &v) != 0)
            return bml__fail(BML_ERR_VALUE, "%s: %s expects an integer, got '%s' (an integer from %.17g to %.17g)", what,
                             sp->key, value, sp->min_exclusive ? lo + 1 : lo, hi);
        double d = (double)v;
        if (sp->min_exclusive ? !(d > lo) : !(d >= lo))
            return bml__fail(BML_ERR_VALUE, sp->min_exclusive ? "%s: %s must be > %.17g (got %s)" : "%s: %s must be >= %.17g (got %s)",
                             what, sp->key, lo, value);
        if (d > hi) return bml__fail(BML_ERR_VALUE, "%s: %s must be <= %.17g (got %s)", what, sp->key, hi, value);
        *(long *)field = v;
        return BML_OK;
    }
    case BML__P_DOUBLE: {
        double d;
        if (bml__parse_double(value, &d) != 0)
            return bml__fail(BML_ERR_VALUE, "%s: %s expects a finite number, got '%s'", what, sp->key, value);
        if (bounded && (sp->min_exclusive ? !(d > sp->min) : !(d >= sp->min)))
            return bml__fail(BML_ERR_VALUE, sp->min_exclusive ? "%s: %s must be > %g (got %s)" : "%s: %s must be >= %g (got %s)",
                             what, sp->key, sp->min, value);
        if (bounded && d > sp->max) return bml__fail(BML_ERR_VALUE, "%s: %s must be <= %g (got %s)", what, sp->key, sp->max, value);
        *(double *)field = d;
        return BML_OK;
    }
    case BML__P_BOOL: {
        int b;
        if (bml__parse_bool(value, &b) != 0)
            return bml__fail(BML_ERR_VALUE, "%s: %s expects true or false, got '%s'", what, sp->key, value);
        *(int *)field = b;
        return BML_OK;
    }
    case BML__P_STRING:
    case BML__P_LIST: {
        char *copy = bml__strdup(value);
        if (!copy) return bml__fail(BML_ERR_NOMEM, "out of memory");
        free(*(char **)field);
        *(char **)field = copy;
        return BML_OK;
    }
    }
    return bml__fail(BML_ERR_VALUE, "%s: %s has an unknown parameter type", what, sp->key);
}

bml_status bml__params_parse(const char *what, const bml__param_spec *specs, size_t n_specs,
                             const bml_kv *kv, size_t n_kv, void *params) {
    for (size_t i = 0; i < n_specs; i++)
        BML__TRY(param_set(what, &specs[i], specs[i].default_value, params));
    for (size_t j = 0; j < n_kv; j++) {
        const bml__param_spec *sp = NULL;
        for (size_t i = 0; i < n_specs; i++)
            if (strcmp(specs[i].key, kv[j].key) == 0) sp = &specs[i];
        if (!sp) {
            size_t len = 1;
            for (size_t i = 0; i < n_specs; i++) len += strlen(specs[i].key) + 2;
            char *valid = malloc(len), *p = valid;
            if (!valid) return bml__fail(BML_ERR_NOMEM, "out of memory");
            *p = 0;
            for (size_t i = 0; i < n_specs; i++) p += sprintf(p, "%s%s", i ? ", " : "", specs[i].key);
            bml_status st = bml__fail(BML_ERR_VALUE, "%s: unknown parameter '%s' (valid: %s)", what, kv[j].key, valid);
            free(valid);
            return st;
        }
        BML__TRY(param_set(what, sp, kv[j].value, params));
    }
    return BML_OK;
}

void bml__params_free(const bml__param_spec *specs, size_t n_specs, void *params) {
    if (!params) return;
    for (size_t i = 0; i < n_specs; i++)
        if (specs[i].type == BML__P_STRING || specs[i].type == BML__P_LIST) {
            char **f = (char **)((char *)params + specs[i].offset);
            free(*f);
            *f = NULL;
        }
}

void bml__params_info(const bml__param_spec *specs, size_t n_specs, bml_param_info *out) {
    for (size_t i = 0; i < n_specs; i++) {
        out[i].key = specs[i].key;
        out[i].type = ptype_name(specs[i].type);
        out[i].default_value = specs[i].default_value;
        out[i].help = specs[i].help;
    }
}

/* ------------------------------------------------------------------ files */
int bml__is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int bml__is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *bml__path_join(const char *a, const char *b) {
    if (!a || !*a) return bml__strdup(b);
    if (b[0] == '/') return bml__strdup(b);
    size_t la = strlen(a);
    return bml__sprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

/* The permission bits the process umask removes, read without changing it (umask(2) is process-wide:
 * setting and restoring it would race with other threads creating files). */
static mode_t current_umask(void) {
    mode_t m = 022;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return m;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Umask:", 6)) {
            m = (mode_t)(strtol(line + 6, NULL, 8) & 0777);
            break;
        }
    fclose(f);
    return m;
}

/* write(2) until everything is out; -1 with errno set (a write of 0 bytes counts as a full disk) */
static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync(2), where a file system that cannot sync this kind of file (EINVAL) counts as synced */
static int sync_fd(int fd) { return fsync(fd) == 0 || errno == EINVAL ? 0 : -1; }

/* the directory part of path ("." when none), malloc'ed */
static char *parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return bml__strdup(".");
    while (slash > path && slash[-1] == '/') slash--;
    return slash == path ? bml__strdup("/") : bml__strndup(path, (size_t)(slash - path));
}

bml_status bml__fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return bml__fail(BML_ERR_IO, "%s: cannot open the directory to sync it: %s", dir, strerror(errno));
    int bad = sync_fd(fd), e = errno;
    close(fd);
    return bad ? bml__fail(BML_ERR_IO, "%s: cannot sync the directory: %s", dir, strerror(e)) : BML_OK;
}

static bml_status fsync_parent(const char *path) {
    char *d = parent_dir(path);
    bml_status st = d ? bml__fsync_dir(d) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(d);
    return st;
}

bml_status bml__mkdir_p(const char *path) {
    if (!path || !*path) return bml__fail(BML_ERR_VALUE, "empty directory path");
    char *p = bml__strdup(path);
    if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = BML_OK;
    size_t n = strlen(p);
    for (size_t i = 1; i <= n && st == BML_OK; i++) {
        if ((p[i] != '/' && p[i] != 0) || p[i - 1] == '/') continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) == 0) st = fsync_parent(p); /* the new entry survives a crash */
        else if (errno != EEXIST) st = bml__fail(BML_ERR_IO, "cannot create directory %s: %s", p, strerror(errno));
        else if (!bml__is_dir(p)) st = bml__fail(BML_ERR_IO, "cannot create directory %s: it exists and is not a directory", p);
        p[i] = c;
    }
    free(p);
    return st;
}

/* Never follows a symbolic link: a link is removed, not what it points to. */
bml_status bml__rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return BML_OK;
    if (S_ISDIR(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d && fd >= 0) close(fd);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char *c = bml__path_join(path, e->d_name);
                if (c) bml__rm_rf(c);
                free(c);
            }
            closedir(d);
        }
        if (rmdir(path) != 0) return bml__fail(BML_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        return bml__fail(BML_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
    }
    return BML_OK;
}

/* *fd: path opened for reading, a regular file of at most BML__READ_MAX bytes (*size). O_NONBLOCK: opening a
 * FIFO returns at once (and is then refused) instead of waiting for a writer. */
static bml_status open_regular(const char *path, int *fd_out, size_t *size) {
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    const char *why = NULL;
    if (fstat(fd, &sb) != 0) why = strerror(errno);
    else if (S_ISDIR(sb.st_mode)) why = "is a directory, expected a file";
    else if (!S_ISREG(sb.st_mode))
        why = S_ISFIFO(sb.st_mode) ? "is a FIFO, not a regular file: refused"
              : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "is a device, not a regular file: refused"
                                                             : "is not a regular file: refused";
    else if ((unsigned long long)sb.st_size > (unsigned long long)BML__READ_MAX)
        why = "is larger than the 1 GiB a file read whole may be";
    if (why) {
        bml_status st = bml__fail(BML_ERR_IO, "%s: %s", path, why);
        close(fd);
        return st;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *size = (size_t)sb.st_size;
    *fd_out = fd;
    return BML_OK;
}

FILE *bml__fopen_regular(const char *path) {
    size_t size = 0;
    int fd = -1;
    if (open_regular(path, &fd, &size) != BML_OK) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        bml__fail(BML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

bml_status bml__read_file_into(const char *path, char **bufp, size_t *capp, size_t *len) {
    size_t size = 0;
    int fd = -1;
    *len = 0;
    BML__TRY(open_regular(path, &fd, &size));
    /* the size read from fstat, plus room to see that the file did not grow (it is read to its end) */
    char *buf = *bufp;
    size_t cap = *capp, n = 0;
    int err = 0, nomem = 0;
    if (cap < size + 2) {
        char *nb = realloc(buf, size + 2);
        if (!nb) nomem = 1;
        else *bufp = buf = nb, *capp = cap = size + 2;
    }
    while (!nomem) {
        if (n + 1 >= cap) {
            if (cap > BML__READ_MAX) {
                close(fd);
                return bml__fail(BML_ERR_IO, "%s: grew past the 1 GiB a file read whole may be", path);
            }
            size_t nc = cap * 2 > BML__READ_MAX + 2 ? BML__READ_MAX + 2 : cap * 2;
            char *nb = realloc(buf, nc);
            if (!nb) {
                nomem = 1;
                break;
            }
            *bufp = buf = nb;
            *capp = cap = nc;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            err = errno;
            break;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (nomem) return bml__fail(BML_ERR_NOMEM, "%s: out of memory reading file", path);
    if (err) return bml__fail(BML_ERR_IO, "%s: read error: %s", path, strerror(err));
    buf[n] = 0;
    *len = n;
    return BML_OK;
}

bml_status bml__read_file(const char *path, char **out, size_t *len) {
    char *buf = NULL;
    size_t cap = 0, n = 0;
    bml_status st = bml__read_file_into(path, &buf, &cap, &n);
    if (st != BML_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    if (len) *len = n;
    return BML_OK;
}

bml_status bml__write_file(const char *path, const char *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return bml__fail(BML_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int bad = write_all(fd, data, len), e = errno;
    if (close(fd) != 0 && !bad) bad = 1, e = errno;
    if (bad) {
        unlink(path);
        return bml__fail(BML_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return BML_OK;
}

/* the crash-safe write of path: a temporary file synced, then renamed over path (replace) or moved to path
 * only where nothing is (RENAME_NOREPLACE; link(2) where the file system lacks it) */
static bml_status write_atomic(const char *path, const char *data, size_t len, int replace) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!*base) return bml__fail(BML_ERR_VALUE, "%s: not a file name", path);
    char *dir = parent_dir(path);
    char *tmp = dir ? bml__sprintf("%s/.%s.tmp-XXXXXX", dir, base) : NULL;
    if (!tmp) {
        free(dir);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    bml_status st = BML_OK;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        st = bml__fail(BML_ERR_IO, "%s: cannot create a temporary file in %s: %s", path, dir, strerror(errno));
    } else {
        /* mkstemp creates 0600: give the file the mode a plain creation would */
        int bad = fchmod(fd, 0666 & ~current_umask()) != 0 || write_all(fd, data, len) != 0 || sync_fd(fd) != 0;
        int e = errno;
        if (close(fd) != 0 && !bad) bad = 1, e = errno;
        int taken = 0;
        if (!bad && replace && rename(tmp, path) != 0) bad = 1, e = errno;
        if (!bad && !replace) {
            int rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
            if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) { /* link(2) fails on an existing path too */
                rc = link(tmp, path);
                if (rc == 0) unlink(tmp);
            }
            if (rc != 0) bad = 1, e = errno, taken = errno == EEXIST;
        }
        if (bad) {
            unlink(tmp);
            st = taken ? bml__fail(BML_ERR_STATE, "%s already exists", path)
                       : bml__fail(BML_ERR_IO, "%s: cannot write: %s", path, strerror(e));
        } else {
            st = bml__fsync_dir(dir);
        }
    }
    free(tmp);
    free(dir);
    return st;
}

bml_status bml__write_file_atomic(const char *path, const char *data, size_t len) { return write_atomic(path, data, len, 1); }

bml_status bml__write_file_atomic_new(const char *path, const char *data, size_t len) { return write_atomic(path, data, len, 0); }

bml_status bml__fsync_tree(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        bml_status st = bml__fail(BML_ERR_IO, "%s: cannot open the directory to sync it: %s", dir, strerror(errno));
        if (fd >= 0) close(fd);
        return st;
    }
    bml_status st = BML_OK;
    struct dirent *e;
    while (st == BML_OK && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat sb;
        if (fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
            st = bml__fail(BML_ERR_IO, "%s/%s: %s", dir, e->d_name, strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            char *c = bml__path_join(dir, e->d_name);
            st = c ? bml__fsync_tree(c) : bml__fail(BML_ERR_NOMEM, "out of memory");
            free(c);
        } else if (S_ISREG(sb.st_mode)) {
            int f = openat(fd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            int bad = f < 0 || sync_fd(f) != 0, err = errno;
            if (f >= 0) close(f);
            if (bad) st = bml__fail(BML_ERR_IO, "%s/%s: cannot sync: %s", dir, e->d_name, strerror(err));
        }
    }
    if (st == BML_OK && sync_fd(fd) != 0)
        st = bml__fail(BML_ERR_IO, "%s: cannot sync the directory: %s", dir, strerror(errno));
    closedir(d);
    return st;
}

/* ------------------------------------------------------------------ staging directories */
#define STAGE_PREFIX ".partial-"

bml_status bml__stage_open(bml__stage *sd, const char *parent, const char *tag) {
    sd->path = NULL;
    sd->fd = -1;
    BML__TRY(bml__mkdir_p(parent));
    mode_t mode = 0777 & ~current_umask();
    /* a cleaner may take the lock of the fresh directory before we do and remove it: then try again */
    for (int attempt = 0; attempt < 100; attempt++) {
        char *p = bml__sprintf("%s/" STAGE_PREFIX "%s-XXXXXX", parent, tag);
        if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
        if (!mkdtemp(p)) {
            bml_status st = bml__fail(BML_ERR_IO, "cannot create a partial directory in %s: %s", parent, strerror(errno));
            free(p);
            return st;
        }
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            free(p);
            if (e == ENOENT) continue; /* removed by a cleaner already */
            return bml__fail(BML_ERR_IO, "cannot open the partial directory in %s: %s", parent, strerror(e));
        }
        /* a cleaner holding the lock is removing it: take another. A file system without flock (EINVAL,
         * ENOLCK, ...) keeps the directory unlocked: cleaners cannot lock it either and leave it alone. */
        if (flock(fd, LOCK_EX | LOCK_NB) != 0 && (errno == EWOULDBLOCK || errno == EINTR)) {
            close(fd);
            free(p);
            continue;
        }
        struct stat a, b;
        if (fstat(fd, &a) != 0 || a.st_nlink == 0 || lstat(p, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino ||
            !S_ISDIR(a.st_mode) || a.st_uid != geteuid()) { /* removed before we locked it */
            close(fd);
            free(p);
            continue;
        }
        if (fchmod(fd, mode) != 0) { /* mkdtemp creates 0700: the run gets the usual permissions */
            bml_status st = bml__fail(BML_ERR_IO, "%s: %s", p, strerror(errno));
            bml__rm_rf(p);
            close(fd);
            free(p);
            return st;
        }
        sd->path = p;
        sd->fd = fd;
        return BML_OK;
    }
    return bml__fail(BML_ERR_IO, "cannot create a partial directory in %s: removed by other processes 100 times", parent);
}

void bml__stage_discard(bml__stage *sd) {
    if (!sd || !sd->path) return;
    bml__rm_rf(sd->path); /* while the lock is held: nobody else touches it */
    close(sd->fd);
    free(sd->path);
    sd->path = NULL;
    sd->fd = -1;
}

bml_status bml__stage_publish(bml__stage *sd, const char *parent, const char *name, int unique, char **final) {
    *final = NULL;
    bml_status st = bml__fsync_tree(sd->path);
    char *dest = NULL;
    for (long k = 1; st == BML_OK && !dest; k++) {
        if (k > 100000) {
            st = bml__fail(BML_ERR_IO, "%s: too many runs named %s", parent, name);
            break;
        }
        char *cand = k == 1 ? bml__path_join(parent, name) : bml__sprintf("%s/%s-%ld", parent, name, k);
        if (!cand) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        int rc = renameat2(AT_FDCWD, sd->path, AT_FDCWD, cand, RENAME_NOREPLACE);
        if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
            /* no RENAME_NOREPLACE here: claim the name with mkdir, then rename over that empty directory */
            rc = mkdir(cand, 0700);
            if (rc == 0 && rename(sd->path, cand) != 0) {
                int e = errno;
                rmdir(cand);
                errno = e;
                rc = -2;
            }
        }
        if (rc == 0) dest = cand;
        else {
            if (!(unique && rc == -1 && (errno == EEXIST || errno == ENOTEMPTY)))
                st = bml__fail(BML_ERR_IO, "cannot move %s to %s: %s", sd->path, cand, strerror(errno));
            free(cand);
        }
    }
    if (st != BML_OK) {
        bml__stage_discard(sd);
        return st;
    }
    st = bml__fsync_dir(parent);
    close(sd->fd); /* the lock goes with the last descriptor */
    free(sd->path);
    sd->path = NULL;
    sd->fd = -1;
    if (st != BML_OK) {
        bml__fail_prefix(st, "%s is complete but may not survive a power loss", dest);
        free(dest);
        return st;
    }
    *final = dest;
    return BML_OK;
}

bml_status bml__stage_clean(const char *parent, size_t *n_removed) {
    if (n_removed) *n_removed = 0;
    int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return errno == ENOENT ? BML_OK : bml__fail(BML_ERR_IO, "%s: cannot open: %s", parent, strerror(errno));
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return bml__fail(BML_ERR_IO, "%s: cannot open: %s", parent, strerror(errno));
    }
    bml_status st = BML_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0) continue;
        /* ours, a real directory (never a link), and no process holds its lock: its writer is gone */
        int fd = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat a, b;
        if (fd < 0) continue;
        if (fstat(fd, &a) == 0 && a.st_uid == geteuid() && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            fstatat(dfd, e->d_name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char *p = bml__path_join(parent, e->d_name);
            bml_status s2 = p ? bml__rm_rf(p) : bml__fail(BML_ERR_NOMEM, "out of memory");
            if (s2 == BML_OK && n_removed) (*n_removed)++;
            if (s2 != BML_OK && st == BML_OK) st = s2;
            free(p);
        }
        close(fd);
    }
    closedir(d);
    return st;
}

bml_status bml__path_check_inside(const char *key, const char *rel) {
    if (!rel || !*rel) return bml__fail(BML_ERR_VALUE, "%s must name a path inside the run directory, got an empty value", key);
    if (rel[0] == '/')
        return bml__fail(BML_ERR_VALUE, "%s=%s: must be a relative path inside the run directory, not an absolute one", key, rel);
    for (const char *c = rel; *c;) {
        size_t l = strcspn(c, "/");
        if (l == 2 && c[0] == '.' && c[1] == '.')
            return bml__fail(BML_ERR_VALUE, "%s=%s: must stay inside the run directory (no '..' component)", key, rel);
        c += l;
        while (*c == '/') c++;
    }
    return BML_OK;
}

bml_status bml__path_check_name(const char *key, const char *name) {
    if (!name || !*name) return bml__fail(BML_ERR_VALUE, "%s must not be empty", key);
    if (strchr(name, '/')) return bml__fail(BML_ERR_VALUE, "%s must not contain '/': %s", key, name);
    if (name[0] == '.') return bml__fail(BML_ERR_VALUE, "%s must not start with '.': %s", key, name);
    return BML_OK;
}

/* ------------------------------------------------------------------ RNG */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void bml__rng_seed(bml__rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

double bml__rng_uniform(bml__rng *r) { return (double)(bml__rng_next(r) >> 11) * 0x1.0p-53; }

void bml__rng_shuffle(bml__rng *r, size_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(bml__rng_next(r) % i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* ------------------------------------------------------------------ text builder */

void bml__sb_put(bml__sb *b, const char *s, size_t n) {
    if (b->nomem) return;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->nomem = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->nomem = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

void bml__sb_str(bml__sb *b, const char *s) { bml__sb_put(b, s, strlen(s)); }

void bml__sb_fmt(bml__sb *b, const char *fmt, ...) {
    if (b->nomem) return;
    va_list ap;
    va_start(ap, fmt);
    char *s = bml__vsprintf(fmt, ap);
    va_end(ap);
    if (s) bml__sb_str(b, s);
    else b->nomem = 1;
    free(s);
}

void bml__sb_csv(bml__sb *b, const char *s) {
    size_t l = strlen(s);
    if (!strpbrk(s, ",\"\r\n")) {
        bml__sb_put(b, s, l);
        return;
    }
    size_t need = csv_write(NULL, 0, s, l);
    char *q = malloc(need);
    if (!q) {
        b->nomem = 1;
        return;
    }
    csv_write(q, need, s, l);
    bml__sb_put(b, q, need);
    free(q);
}

/* A number as the shortest of %.15g, %.16g and %.17g that reads back (strtod) as the same double: the value
 * itself, never rounded, and no longer than it needs (0.93, not 0.93000000000000005). NaN is an empty field. */
void bml__sb_num(bml__sb *b, double v) {
    char t[40];
    if (isnan(v)) t[0] = 0; /* missing values stay empty fields */
    else
        for (int p = 15; p <= 17; p++) {
            snprintf(t, sizeof t, "%.*g", p, v);
            if (strtod(t, NULL) == v) break;
        }
    bml__sb_str(b, t);
}
