/* Line-at-a-time reading of delimited text exports (data/cycler_text.h). */
#define _GNU_SOURCE
#include "data/cycler_text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

bml_status bml__tl_open(bml__tl *t, const char *path) {
    memset(t, 0, sizeof *t);
    t->path = path;
    t->f = fopen(path, "r");
    if (!t->f) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return BML_OK;
}

int bml__tl_next(bml__tl *t, bml_status *st) {
    errno = 0;
    ssize_t n = getline(&t->line, &t->cap, t->f);
    if (n < 0) {
        if (ferror(t->f)) {
            *st = errno == ENOMEM ? bml__fail(BML_ERR_NOMEM, "out of memory")
                                  : bml__fail(BML_ERR_IO, "%s:%zu: read error", t->path, t->lineno + 1);
            return -1;
        }
        return 0;
    }
    t->lineno++;
    t->bytes += (double)n;
    if (memchr(t->line, 0, (size_t)n)) {
        *st = bml__fail(BML_ERR_PARSE, "%s:%zu: a NUL byte: binary data, not a text export", t->path, t->lineno);
        return -1;
    }
    t->last_newline = n > 0 && t->line[n - 1] == '\n';
    while (n > 0 && (t->line[n - 1] == '\n' || t->line[n - 1] == '\r')) t->line[--n] = 0;
    t->len = (size_t)n;
    t->n_fields = 0;
    return 1;
}

bml_status bml__tl_split(bml__tl *t, char delim) {
    size_t k = 1;
    for (size_t i = 0; i < t->len; i++) k += t->line[i] == delim;
    if (k > t->fcap) {
        char **x = realloc(t->fields, k * sizeof *x);
        if (!x) return bml__fail(BML_ERR_NOMEM, "out of memory");
        t->fields = x, t->fcap = k;
    }
    size_t j = 0;
    t->fields[j++] = t->line;
    for (size_t i = 0; i < t->len; i++)
        if (t->line[i] == delim) {
            t->line[i] = 0;
            t->fields[j++] = t->line + i + 1;
        }
    t->n_fields = j;
    return BML_OK;
}

void bml__tl_close(bml__tl *t) {
    if (t->f) fclose(t->f);
    free(t->line);
    free(t->fields);
    memset(t, 0, sizeof *t);
}

bml_status bml__tl_first(bml__tl *t) {
    bml_status st = BML_OK;
    int k = bml__tl_next(t, &st);
    if (k < 0) return st;
    if (k == 0) return bml__fail(BML_ERR_EMPTY, "%s: empty file", t->path);
    const char *p = bml__tl_skip_bom(t->line, t->line + t->len);
    if (p != t->line) { /* the byte-order mark out of the header */
        memmove(t->line, p, t->len - 3 + 1);
        t->len -= 3;
    }
    return BML_OK;
}

const char *bml__tl_skip_bom(const char *p, const char *end) {
    return end - p >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF ? p + 3 : p;
}

bml_status bml__tl_names(const bml__tl *t, size_t n, char ***names) {
    if (!(*names = calloc(n + 1, sizeof **names))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!((*names)[i] = bml__strdup(t->fields[i]))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    return BML_OK;
}

void bml__tl_names_free(char **names, size_t n) {
    if (names)
        for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

int bml__tl_head_line(const unsigned char *head, size_t n, const char **p, const char **e) {
    const char *end = (const char *)head + n;
    *p = bml__tl_skip_bom((const char *)head, end);
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *e = nl ? nl : end;
    return memchr(*p, 0, (size_t)(*e - *p)) == NULL;
}

int bml__tl_line_has(const char *p, const char *e, const char *name, int quotes) {
    size_t k = strlen(name);
    while (p <= e) {
        const char *c = memchr(p, ',', (size_t)(e - p));
        const char *fe = c ? c : e;
        const char *a = p, *b = fe;
        while (a < b && (*a == ' ' || (quotes && *a == '"'))) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\r' || (quotes && b[-1] == '"'))) b--;
        if ((size_t)(b - a) == k && !strncasecmp(a, name, k)) return 1;
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

int bml__tl_row_shape(const bml__tl *t, size_t nf, size_t n_names, const char *blanks, const char *header, size_t hdr_line,
                      bml_status *st) {
    int blank = 1;
    for (size_t i = 0; i < nf && blank; i++) blank = t->fields[i][strspn(t->fields[i], blanks)] == 0;
    if (blank) return 1;
    if (nf == n_names) return 0;
    *st = nf < n_names && !t->last_newline
              ? bml__fail(BML_ERR_PARSE, "%s:%zu: truncated: the last row has %zu of the header's %zu fields", t->path,
                          t->lineno, nf, n_names)
              : bml__fail(BML_ERR_PARSE, "%s:%zu: %zu fields where %s (line %zu) has %zu: a row of another layout?", t->path,
                          t->lineno, nf, header, hdr_line, n_names);
    return -1;
}

bml_status bml__tl_field_error(const bml__tl *t, char *const *names, int col, const char *v, const char *what) {
    return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: column '%s': '%s' %s", t->path, t->lineno, col + 1, names[col], v, what);
}

int bml__tl_num(const char *s, double *out) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    /* the common case, a number with a decimal point: read in place (bml__scan_double gives what bml__parse_double
     * gives, and stops at a comma: a decimal comma takes the path below) */
    const char *next;
    if (bml__scan_double(s, s + n, ',', out, &next) == 0 && next == s + n) return 0;
    while (n && s[n - 1] == ' ') n--;
    if (!n || n > 64) return -1;
    char buf[72]; /* a number is short: longer text is not one */
    memcpy(buf, s, n);
    buf[n] = 0;
    char *comma = strchr(buf, ',');
    if (comma) {
        if (strchr(buf, '.') || strchr(comma + 1, ',')) return -1;
        *comma = '.';
    }
    return bml__parse_double(buf, out) == 0 ? 0 : -1;
}

static long days_from_civil(long y, long m, long d) {
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int bml__tl_mdy(const char *s, double *out) {
    int mo, d, y, h, mi, n = 0;
    double sec;
    while (*s == ' ') s++;
    if (sscanf(s, "%d/%d/%d %d:%d:%lf%n", &mo, &d, &y, &h, &mi, &sec, &n) != 6) return -1;
    const char *p = s + n;
    while (*p == ' ') p++;
    if (!strncasecmp(p, "AM", 2) || !strncasecmp(p, "PM", 2)) {
        if (h < 1 || h > 12) return -1;
        if (h == 12) h = 0;
        if (toupper((unsigned char)p[0]) == 'P') h += 12;
        p += 2;
        while (*p == ' ') p++;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1900 || y > 9999 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        !(sec >= 0 && sec < 61))
        return -1;
    *out = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
    return 0;
}

/* the digits s[0..k) as a number, or -1 where one is not a digit */
static int digits(const char *s, int k) {
    int v = 0;
    for (int i = 0; i < k; i++) {
        if ((unsigned)(s[i] - '0') > 9u) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int bml__tl_ymd(const char *s, double *out) {
    int y, mo, d, h, mi, n = 0;
    char sep;
    double sec;
    while (*s == ' ') s++;
    /* the canonical "YYYY-MM-DD HH:MM:SS[.f]" read in place (the same numbers as below, without sscanf's cost) */
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ') len--;
    if (len >= 19 && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') && s[13] == ':' && s[16] == ':' &&
        (y = digits(s, 4)) >= 0 && (mo = digits(s + 5, 2)) >= 0 && (d = digits(s + 8, 2)) >= 0 &&
        (h = digits(s + 11, 2)) >= 0 && (mi = digits(s + 14, 2)) >= 0 && (unsigned)(s[17] - '0') <= 9u) {
        size_t i = 17;
        while (i < len && ((unsigned)(s[i] - '0') <= 9u || s[i] == '.')) i++;
        const char *next;
        if (i == len && bml__scan_double(s + 17, s + len, '\0', &sec, &next) == 0 && next == s + len) {
            if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1900 || y > 9999 || h > 23 || mi > 59 || !(sec >= 0 && sec < 61))
                return -1;
            *out = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
            return 0;
        }
    }
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%lf%n", &y, &mo, &d, &sep, &h, &mi, &sec, &n) != 7 || (sep != ' ' && sep != 'T'))
        return -1;
    const char *p = s + n;
    while (*p == ' ') p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1900 || y > 9999 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        !(sec >= 0 && sec < 61))
        return -1;
    *out = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
    return 0;
}

int bml__tl_hms(const char *s, double *out) {
    long h, m;
    double sec;
    int n = 0;
    while (*s == ' ') s++;
    if (sscanf(s, "%ld:%ld:%lf%n", &h, &m, &sec, &n) != 3) return -1;
    const char *p = s + n;
    while (*p == ' ') p++;
    if (*p || h < 0 || h > 100000000L || m < 0 || m > 59 || !(sec >= 0 && sec < 60)) return -1;
    *out = (double)h * 3600.0 + (double)m * 60.0 + sec;
    return 0;
}

int bml__tl_find(char *const *names, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++) {
        const char *a = names[i];
        while (*a == ' ') a++;
        size_t la = strlen(a);
        while (la && a[la - 1] == ' ') la--;
        if (la == strlen(name) && !strncasecmp(a, name, la)) return (int)i;
    }
    return -1;
}
