/* Streaming readers of raw cycler exports (see batteryml/cycler.h).
 *
 * One loop reads every vendor: the vendor's part reads its preamble, finds its columns in the header and
 * says how its counters behave; the rows then go through libcsv one line at a time (getline), so memory
 * holds one row. Capacities and energies become "within the cycle, charge and discharge apart" through one
 * counter rule: a counter that drops has been reset (at a step, a half cycle or a cycle), so its new value
 * is the increment; otherwise the increment is the difference. */
#define _GNU_SOURCE
#include "batteryml/cycler.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <time.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "core/internal.h"
#include "data/csvread.h"
#include "data/cycler_internal.h"
#include "data/cycler_neware.h"

void bml_cycler_meta_free(bml_cycler_meta *m) {
    if (!m) return;
    free(m->path);
    free(m->cell);
    free(m->channel);
    free(m->barcode);
    free(m->protocol);
    free(m->start_time);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ line and record reading */

typedef struct {
    FILE *f;
    const char *path;
    char *line;
    size_t line_cap;
    ssize_t len;
    size_t lineno;
    int last_newline; /* the last line read ended with '\n' */
    double bytes;
    /* libcsv record being assembled */
    struct csv_parser p;
    int p_ready;
    char *text;
    size_t text_len, text_cap;
    size_t *offs;
    size_t n_fields, offs_cap;
    char **fields;
    size_t fields_cap;
    size_t rec_line;
    int rec_ready, nomem;
    char delim;
} reader;

/* Next physical line into r->line (without its "\r\n"); 1, 0 at end of file, -1 on a read error. */
static int rd_line(reader *r) {
    r->len = getline(&r->line, &r->line_cap, r->f);
    if (r->len < 0) return ferror(r->f) ? -1 : 0;
    r->lineno++;
    r->bytes += (double)r->len;
    r->last_newline = r->len > 0 && r->line[r->len - 1] == '\n';
    while (r->len > 0 && (r->line[r->len - 1] == '\n' || r->line[r->len - 1] == '\r')) r->line[--r->len] = 0;
    if (r->lineno == 1 && r->len >= 3 && (unsigned char)r->line[0] == 0xEF && (unsigned char)r->line[1] == 0xBB &&
        (unsigned char)r->line[2] == 0xBF) {
        memmove(r->line, r->line + 3, (size_t)r->len - 2);
        r->len -= 3;
    }
    return 1;
}

static void on_field(void *s, size_t len, void *data) {
    reader *r = data;
    if (r->nomem) return;
    if (r->n_fields == 0) r->rec_line = r->lineno;
    if (r->n_fields == r->offs_cap) {
        size_t cap = r->offs_cap ? 2 * r->offs_cap : 64;
        size_t *o = realloc(r->offs, cap * sizeof *o);
        if (!o) {
            r->nomem = 1;
            return;
        }
        r->offs = o, r->offs_cap = cap;
    }
    if (!s) len = 0;
    if (r->text_len + len + 1 > r->text_cap) {
        size_t cap = (r->text_len + len + 1) * 2;
        char *t = realloc(r->text, cap);
        if (!t) {
            r->nomem = 1;
            return;
        }
        r->text = t, r->text_cap = cap;
    }
    r->offs[r->n_fields++] = r->text_len;
    if (len) memcpy(r->text + r->text_len, s, len);
    r->text_len += len;
    r->text[r->text_len++] = 0;
}

static void on_record(int term, void *data) {
    (void)term;
    reader *r = data;
    if (r->nomem) return;
    if (r->n_fields > r->fields_cap) {
        char **f = realloc(r->fields, r->n_fields * sizeof *f);
        if (!f) {
            r->nomem = 1;
            return;
        }
        r->fields = f, r->fields_cap = r->n_fields;
    }
    for (size_t i = 0; i < r->n_fields; i++) r->fields[i] = r->text + r->offs[i];
    r->rec_ready = 1;
}

/* libcsv's record terminator: '\n' alone. By default a '\r' ends a record too, so that a line with a bare
 * '\r' inside would give libcsv two records at once, the second's fields overwriting the first's while it
 * is still in use; rd_line strips the line's own "\r\n", and the fast path keeps an inner '\r' in its field. */
static int is_newline(unsigned char c) { return c == '\n'; }

/* Start record parsing with delimiter `delim`. */
static bml_status rd_csv_begin(reader *r, char delim) {
    if (csv_init(&r->p, CSV_APPEND_NULL) != 0) return bml__fail(BML_ERR_NOMEM, "out of memory");
    csv_set_delim(&r->p, (unsigned char)delim);
    csv_set_term_func(&r->p, is_newline);
    r->delim = delim;
    r->p_ready = 1;
    return BML_OK;
}

/* Next record into r->fields / r->n_fields: 1, 0 at end of file, or a failing status in *st (-1). */
static int rd_record(reader *r, bml_status *st) {
    r->rec_ready = 0;
    r->n_fields = 0;
    r->text_len = 0;
    for (;;) {
        int k = rd_line(r);
        if (k < 0) {
            *st = bml__fail(BML_ERR_IO, "%s:%zu: read error", r->path, r->lineno + 1);
            return -1;
        }
        if (k == 0) {
            csv_fini(&r->p, on_field, on_record, r);
            if (r->nomem) break;
            return r->rec_ready ? 1 : 0;
        }
        /* (the splitting below would take a NUL for a delimiter; detection refuses them too) */
        if (memchr(r->line, 0, (size_t)r->len)) {
            *st = bml__fail(BML_ERR_PARSE, "%s:%zu: binary data (NUL bytes), not a text export", r->path, r->lineno);
            return -1;
        }
        /* no quote and no record open: split at the delimiter in place, in one pass (most exports never
         * quote); a quote hands the line to libcsv */
        if (r->n_fields == 0) {
            if (r->len == 0) continue; /* libcsv skips empty lines too */
            size_t n = 0;
            char *q = r->line, *end = r->line + r->len;
            const char d = r->delim, stop[3] = {d, '"', 0};
            int quoted = 0;
            for (;;) {
                if (n == r->fields_cap) {
                    size_t cap = r->fields_cap ? 2 * r->fields_cap : 64;
                    char **f = realloc(r->fields, cap * sizeof *f);
                    if (!f) {
                        r->nomem = 1;
                        break;
                    }
                    r->fields = f, r->fields_cap = cap;
                }
                r->fields[n++] = q;
                q += strcspn(q, stop); /* the line is NUL-terminated at end */
                if (q < end && *q == '"') {
                    quoted = 1;
                    break;
                }
                if (q == end) break;
                *q++ = 0;
            }
            if (r->nomem) break;
            if (!quoted) {
                r->n_fields = n;
                r->rec_line = r->lineno;
                return 1;
            }
            /* undo the split for libcsv */
            for (size_t j = 1; j < n; j++) r->fields[j][-1] = d;
        }
        /* libcsv sees the line with its newline, so a record ends here unless a quoted field spans lines */
        r->line[r->len] = '\n';
        size_t n = (size_t)r->len + 1;
        if (csv_parse(&r->p, r->line, n, on_field, on_record, r) != n) {
            r->line[r->len] = 0;
            *st = bml__fail(BML_ERR_PARSE, "%s:%zu: syntax error: %s", r->path, r->lineno, csv_strerror(csv_error(&r->p)));
            return -1;
        }
        r->line[r->len] = 0;
        if (r->nomem) break;
        if (r->rec_ready) return 1;
    }
    *st = bml__fail(BML_ERR_NOMEM, "%s: out of memory", r->path);
    return -1;
}

static void rd_close(reader *r) {
    if (r->f) fclose(r->f);
    if (r->p_ready) csv_free(&r->p);
    free(r->line);
    free(r->text);
    free(r->offs);
    free(r->fields);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ small parsers */

static int starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

static int starts_with_ci(const char *s, const char *prefix) { return !strncasecmp(s, prefix, strlen(prefix)); }

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil) */
static long days_from_civil(long y, long m, long d) {
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* an unsigned decimal integer of 1..max_digits digits at *s; -1 when there is none */
static long digits(const char **s, int max_digits) {
    long v = 0;
    int n = 0;
    while (n < max_digits && **s >= '0' && **s <= '9') v = v * 10 + (*(*s)++ - '0'), n++;
    return n ? v : -1;
}

/* "YYYY-MM-DD HH:MM:SS[.f] [AM|PM]" or "MM/DD/YYYY HH:MM:SS[.f] [AM|PM]" (also 'T' between date and time)
 * as seconds since 1970, the wall clock as written. 0 or -1. */
static int parse_datetime(const char *s, double *out) {
    while (*s == ' ') s++;
    long a = digits(&s, 4), b, c, y, mo, d;
    if (a < 0) return -1;
    if (*s == '-') {
        s++, b = digits(&s, 2);
        if (*s++ != '-') return -1;
        c = digits(&s, 2);
        y = a, mo = b, d = c;
    } else if (*s == '/') {
        s++, b = digits(&s, 2);
        if (*s++ != '/') return -1;
        c = digits(&s, 4);
        mo = a, d = b, y = c;
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1900 || y > 9999) return -1;
    if (*s != ' ' && *s != 'T') return -1;
    s++;
    long hh = digits(&s, 2);
    if (hh < 0 || *s++ != ':') return -1;
    long mm = digits(&s, 2);
    if (mm < 0 || *s++ != ':') return -1;
    const char *sec = s;
    long si = digits(&s, 2);
    if (si < 0) return -1;
    double ss = (double)si;
    if (*s == '.') {
        char *end;
        ss = strtod(sec, &end);
        s = end;
    }
    while (*s == ' ') s++;
    if ((s[0] == 'A' || s[0] == 'P' || s[0] == 'a' || s[0] == 'p') && (s[1] == 'M' || s[1] == 'm') && !s[2]) {
        if (hh < 1 || hh > 12) return -1;
        if ((s[0] == 'P' || s[0] == 'p') && hh != 12) hh += 12;
        if ((s[0] == 'A' || s[0] == 'a') && hh == 12) hh = 0;
    } else if (*s && !(*s == 'Z' && !s[1]) && *s != '+' && *s != '-') {
        return -1;
    }
    if (hh > 23 || mm > 59 || !(ss >= 0 && ss < 61)) return -1;
    *out = (double)days_from_civil(y, mo, d) * 86400.0 + (double)hh * 3600.0 + (double)mm * 60.0 + ss;
    return 0;
}

/* Maccor test time: seconds, or "Nd HH:MM:SS.ffff". */
static int parse_maccor_time(const char *s, double *out) {
    if (bml__parse_double(s, out) == 0) return 0;
    long dd, hh, mm;
    double ss;
    int n = 0;
    while (isspace((unsigned char)*s)) s++;
    if (sscanf(s, "%ldd %ld:%ld:%lf%n", &dd, &hh, &mm, &ss, &n) == 4 && !s[n] && dd >= 0 && hh >= 0 && mm >= 0 &&
        ss >= 0 && isfinite(ss) && dd < 1000000000L && hh < 1000000000L && mm < 1000000000L) {
        *out = (double)dd * 86400.0 + (double)hh * 3600.0 + (double)mm * 60.0 + ss;
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ column maps */

typedef enum { T_SECONDS, T_HOURS, T_MACCOR, T_DATETIME_OR_SECONDS } time_kind;
typedef enum { Q_FIXED, Q_STATE, Q_SIGN } counter_mode;

/* C_HALF: BioLogic's half cycle; C_QS: a signed counter of one half cycle (BioLogic's Q charge/discharge,
 * > 0 charge, < 0 discharge); C_QNET: a net charge since the start (BioLogic's (Q-Qo)) */
enum { C_TIME, C_CYCLE, C_STEP, C_I, C_V, C_TEMP, C_IR, C_DATE, C_STATE, C_QC, C_QD, C_EC, C_ED, C_Q, C_E, C_HALF, C_QS,
       C_QNET, C_N };
/* where the instrument may restart its counters (colmap.restart): a fall anywhere else is noise */
enum { R_CYCLE = 1, R_STEP = 2, R_HALF = 4 };

typedef struct {
    int col[C_N];       /* 0-based field index, -1: absent */
    double scale[C_N];  /* multiply the number by this (mA -> A, ...) */
    time_kind tk;
    counter_mode qm;
    int reset_on_step;  /* Q_STATE: 1 the counter restarts at every step (Maccor); 2 where the direction changes (C <-> D),
                           across steps of one direction only where it falls (Maccor's milli-unit layout) */
    int restart;        /* R_*: the boundaries at which the vendor restarts its counters */
    int rest_without_current; /* no current column and the technique passes none (BioLogic OCV): current 0 */
    int decimal_comma;  /* ';' or tab separated: "3,81" is 3.81 */
    int unwrap_quoted;  /* Novonix: a whole row quoted as one field */
    int units_row;      /* Basytec: the row after the header gives the units ("[V]", "[A]", ...) */
    const char *stop;   /* Basytec: the state of the closing rows after the test ("STO"), or NULL */
    double unix0;       /* BioLogic: the acquisition's start (seconds since 1970, the wall clock as written), else NaN:
                           a row's wall-clock time is then unix0 + its time/s */
    int e_net;          /* Basytec: the energy column is the net energy since the test began (signed) */
    size_t n_header;    /* fields in the header */
    size_t header_line;
    char **names;       /* header names (for messages) */
} colmap;

static void colmap_init(colmap *m) {
    memset(m, 0, sizeof *m);
    for (int i = 0; i < C_N; i++) m->col[i] = -1, m->scale[i] = 1.0;
    m->unix0 = NAN;
}

static void colmap_free(colmap *m) {
    if (m->names)
        for (size_t i = 0; i < m->n_header; i++) free(m->names[i]);
    free(m->names);
    m->names = NULL;
}

static bml_status colmap_header(colmap *m, reader *r, size_t nf, char **fields) {
    /* a header that ends with a delimiter (EC-Lab's .mpt: a tab its rows lack) has no column there */
    while (nf > 1 && !*bml__trim(fields[nf - 1])) nf--;
    m->n_header = nf;
    m->header_line = r->lineno;
    m->names = bml__calloc(nf ? nf : 1, sizeof *m->names);
    if (!m->names) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nf; i++) {
        char *t = bml__strdup(fields[i]);
        if (!t) return bml__fail(BML_ERR_NOMEM, "out of memory");
        m->names[i] = t;
        char *tr = bml__trim(t);
        if (tr != t) memmove(t, tr, strlen(tr) + 1);
    }
    return BML_OK;
}

/* First header column equal (case-insensitive) to one of the names; the matching name's index in *which. */
static int find_col(const colmap *m, const char *const *names, int *which) {
    for (int k = 0; names[k]; k++)
        for (size_t i = 0; i < m->n_header; i++)
            if (bml__streq_ci(m->names[i], names[k])) {
                if (which) *which = k;
                return (int)i;
            }
    return -1;
}

static void set_col(colmap *m, int role, const char *const *names, const double *scales) {
    int k = 0;
    m->col[role] = find_col(m, names, &k);
    if (m->col[role] >= 0 && scales) m->scale[role] = scales[k];
}

/* ------------------------------------------------------------------ vendors: preamble + header */

typedef struct {
    reader r;
    colmap m;
    bml_cycler_meta *meta;
    char delim;
    /* a later part of a Maccor test split over NAME.001, NAME.002, ... (read_maccor_parts): whether its first data
     * row is still to come, whether its test time restarted there, and what its times and cycle indices are offset by
     * where they restart at that row */
    int part_first, t_restart;
    double t_off;
    long c_off;
} source;

static bml_status set_str(char **dst, const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n) return BML_OK;
    free(*dst);
    *dst = bml__strndup(s, n);
    return *dst ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
}

/* value after "label" in a line, up to a tab (Maccor title line) */
static bml_status title_value(const char *line, const char *label, char **dst) {
    const char *p = strstr(line, label);
    if (!p) return BML_OK;
    p += strlen(label);
    while (*p == ' ' || *p == '\t') p++;
    const char *e = p;
    while (*e && *e != '\t') e++;
    /* Maccor writes "Filename:\tPATH Procedure:\t..." with a space, not a tab, before "Procedure:" */
    const char *proc = strstr(p, " Procedure:");
    if (proc && proc < e) e = proc;
    char *tmp = bml__strndup(p, (size_t)(e - p));
    if (!tmp) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = set_str(dst, tmp);
    free(tmp);
    return st;
}

static bml_status header_record(source *s, const char *what) {
    bml_status st = BML_OK;
    int k = rd_record(&s->r, &st);
    if (k < 0) return st;
    if (k == 0) return bml__fail(BML_ERR_EMPTY, "%s: ends before its %s header", s->r.path, what);
    return colmap_header(&s->m, &s->r, s->r.n_fields, s->r.fields);
}

static bml_status open_maccor(source *s) {
    reader *r = &s->r;
    if (rd_line(r) <= 0) return bml__fail(BML_ERR_EMPTY, "%s: empty file", r->path);
    /* the title: "Today's Date" (cellpy's "three" layout writes "Today''s Date", then blank lines and a
     * "Date of Test:" line) */
    if (starts_with(r->line, "Today's Date") || starts_with(r->line, "Today''s Date") || strstr(r->line, "Date of Test")) {
        BML__TRY(title_value(r->line, "Date of Test:", &s->meta->start_time));
        BML__TRY(title_value(r->line, "Procedure:", &s->meta->protocol));
        BML__TRY(title_value(r->line, "Comment/Barcode:", &s->meta->barcode));
        /* newer exports: more "Key:<TAB>value" lines (Filename:, Tester Channel:, Procedure:, Description:) before
         * the header; read what they say and stop at the line that starts the header (Rec#, Rec) */
        for (;;) {
            off_t at = ftello(r->f);
            size_t lineno = r->lineno;
            double bytes = r->bytes;
            int got = at < 0 ? -1 : rd_line(r);
            if (got < 0) return bml__fail(BML_ERR_IO, "%s: cannot read: %s", r->path, strerror(errno));
            int blank = got > 0 && !*bml__trim(r->line);
            int preamble = got > 0 && !starts_with(r->line, "Rec") && strchr(r->line, ':') && !strstr(r->line, "\tState");
            if (blank) continue;
            if (preamble) {
                if (!s->meta->start_time) BML__TRY(title_value(r->line, "Date of Test:", &s->meta->start_time));
                BML__TRY(title_value(r->line, "Procedure:", &s->meta->protocol));
                if (!s->meta->channel) BML__TRY(title_value(r->line, "Tester Channel:", &s->meta->channel));
                continue;
            }
            if (fseeko(r->f, at, SEEK_SET) != 0) return bml__fail(BML_ERR_IO, "%s: cannot read: %s", r->path, strerror(errno));
            r->lineno = lineno;
            r->bytes = bytes;
            break;
        }
    } else {
        rewind(r->f);
        r->lineno = 0;
        r->bytes = 0;
    }
    /* the channel is the file extension's number (".052": 52), as Maccor names its files */
    const char *dot = strrchr(r->path, '.');
    if (!s->meta->channel && dot && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1))
        BML__TRY(set_str(&s->meta->channel, dot + 1));
    BML__TRY(rd_csv_begin(r, '\t'));
    BML__TRY(header_record(s, "Maccor"));
    colmap *m = &s->m;
    /* "Test (Min)": minutes (battery-data-toolkit's layout); a plain number is scaled, "Nd HH:MM:SS" is not */
    set_col(m, C_TIME, (const char *const[]){"Test (Sec)", "Test Time", "TestTime", "Test (Min)", NULL},
            (const double[]){1, 1, 1, 60});
    set_col(m, C_CYCLE, (const char *const[]){"Cyc#", "Cycle", "Cycle P", NULL}, NULL);
    set_col(m, C_STEP, (const char *const[]){"Step", NULL}, NULL);
    /* the milli-unit layout (cellpy's "three": mAmp-hr, mWatt-hr, mAmps) */
    set_col(m, C_I, (const char *const[]){"Amps", "Current", "mAmps", NULL}, (const double[]){1, 1, 1e-3});
    set_col(m, C_V, (const char *const[]){"Volts", "Voltage", NULL}, NULL);
    set_col(m, C_Q, (const char *const[]){"Amp-hr", "Capacity", "mAmp-hr", NULL}, (const double[]){1, 1, 1e-3});
    set_col(m, C_E, (const char *const[]){"Watt-hr", "Energy", "mWatt-hr", NULL}, (const double[]){1, 1, 1e-3});
    int milli = find_col(m, (const char *const[]){"mAmps", "mAmp-hr", "mWatt-hr", NULL}, NULL) >= 0;
    set_col(m, C_STATE, (const char *const[]){"State", "MD", NULL}, NULL);
    set_col(m, C_TEMP, (const char *const[]){"Temp 1", "Temperature", "Temp1", NULL}, NULL);
    set_col(m, C_IR, (const char *const[]){"DCIR/Ohms", "DCIR", NULL}, NULL);
    set_col(m, C_DATE, (const char *const[]){"DPt Time", "DPT Time", NULL}, NULL);
    m->tk = T_MACCOR;
    m->qm = Q_STATE;
    m->reset_on_step = 1;
    m->restart = R_CYCLE | R_STEP;
    if (milli) {
        /* the milli-unit layout writes its Volts column in mV (cellpy's raw_units for it: current mA, charge mAh,
         * voltage mV; in its file mWatt-hr / mAmp-hr = Volts / 1000), and its mAmp-hr restarts where the direction
         * changes (C <-> D) and counts on across steps of one direction (CC then CV charge) */
        if (m->col[C_V] >= 0 && bml__streq_ci(m->names[m->col[C_V]], "Volts")) m->scale[C_V] = 1e-3;
        m->reset_on_step = 2;
    }
    if (m->col[C_STATE] < 0)
        return bml__fail(BML_ERR_SCHEMA, "%s:%zu: Maccor header without a State column (the sign of Amp-hr comes from it)",
                         r->path, m->header_line);
    return BML_OK;
}

/* NAME_Metadata.csv beside an Arbin NAME.csv: channel, schedule, item id, start */
static bml_status arbin_metadata(source *s) {
    const char *path = s->r.path;
    size_t n = strlen(path);
    if (n < 4 || !bml__streq_ci(path + n - 4, ".csv")) return BML_OK;
    char *mp = bml__sprintf("%.*s_Metadata.csv", (int)(n - 4), path);
    if (!mp) return bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!bml__is_file(mp)) {
        free(mp);
        return BML_OK;
    }
    bml__csv c;
    bml_status st = bml__csv_read(mp, 0, &c);
    if (st == BML_OK && c.n_rows >= 2) {
        const bml__csv_row *h = &c.rows[0], *v = &c.rows[1];
        for (size_t j = 0; j < h->n_fields && j < v->n_fields && st == BML_OK; j++) {
            const char *k = h->fields[j], *val = v->fields[j];
            if (bml__streq_ci(k, "IV_Ch_ID")) st = set_str(&s->meta->channel, val);
            else if (bml__streq_ci(k, "Schedule_File_Name")) st = set_str(&s->meta->protocol, val);
            else if (bml__streq_ci(k, "Item_ID")) st = set_str(&s->meta->barcode, val);
            else if (bml__streq_ci(k, "First_Start_DateTime")) {
                double t;
                if (bml__parse_double(val, &t) == 0) {
                    char *iso = bml__sprintf("unix %.0f", t);
                    if (!iso) st = bml__fail(BML_ERR_NOMEM, "out of memory");
                    else {
                        st = set_str(&s->meta->start_time, iso);
                        free(iso);
                    }
                } else {
                    st = set_str(&s->meta->start_time, val);
                }
            }
        }
    } else if (st == BML_OK) {
        st = bml__fail(BML_ERR_EMPTY, "%s: an Arbin metadata file without a row of values", mp);
    }
    bml__csv_free(&c);
    free(mp);
    return st;
}

static bml_status open_arbin(source *s) {
    BML__TRY(arbin_metadata(s));
    BML__TRY(rd_csv_begin(&s->r, ','));
    BML__TRY(header_record(s, "Arbin"));
    colmap *m = &s->m;
    /* MITS Pro names with and without units ("Current" or "Current(A)") */
    set_col(m, C_TIME, (const char *const[]){"Test_Time", "Test_Time(s)", "Test Time (s)", NULL}, NULL);
    set_col(m, C_CYCLE, (const char *const[]){"Cycle_Index", "Cycle Index", NULL}, NULL);
    set_col(m, C_STEP, (const char *const[]){"Step_Index", "Step Index", NULL}, NULL);
    set_col(m, C_I, (const char *const[]){"Current", "Current(A)", "Current (A)", NULL}, NULL);
    set_col(m, C_V, (const char *const[]){"Voltage", "Voltage(V)", "Voltage (V)", NULL}, NULL);
    set_col(m, C_QC, (const char *const[]){"Charge_Capacity", "Charge_Capacity(Ah)", "Charge Capacity (Ah)", NULL}, NULL);
    set_col(m, C_QD, (const char *const[]){"Discharge_Capacity", "Discharge_Capacity(Ah)", "Discharge Capacity (Ah)", NULL},
            NULL);
    set_col(m, C_EC, (const char *const[]){"Charge_Energy", "Charge_Energy(Wh)", "Charge Energy (Wh)", NULL}, NULL);
    set_col(m, C_ED, (const char *const[]){"Discharge_Energy", "Discharge_Energy(Wh)", "Discharge Energy (Wh)", NULL},
            NULL);
    set_col(m, C_TEMP, (const char *const[]){"Temperature", "Temperature(C)", "Aux_Temperature_1(C)", "Aux_Temperature_1",
                                             NULL},
            NULL);
    set_col(m, C_IR, (const char *const[]){"Internal_Resistance", "Internal_Resistance(Ohm)", "Internal Resistance (Ohm)",
                                           NULL},
            NULL);
    set_col(m, C_DATE, (const char *const[]){"DateTime", "Date_Time", NULL}, NULL);
    m->tk = T_SECONDS;
    m->qm = Q_FIXED;
    m->restart = R_CYCLE | R_STEP; /* per cycle or over the test; a schedule may reset them at a step's start */
    return BML_OK;
}

/* "Battery capacity : 2.300 A.h" (or "2,300 mA.h": a decimal comma in some locales), when it is one */
static void biologic_capacity(source *s, const char *v) {
    double q;
    char num[64], unit[16] = "";
    if (sscanf(v, "%63s %15s", num, unit) != 2) return;
    for (char *p = num; *p; p++)
        if (*p == ',') *p = '.';
    /* (strtod reads "inf" and "1e999" as infinite: not a capacity) */
    if (bml__parse_double(num, &q) != 0 || !(q > 0) || !isfinite(q)) return;
    if (!strcmp(unit, "mA.h")) q /= 1000;
    if (!strcmp(unit, "mA.h") || !strcmp(unit, "A.h")) s->meta->nominal_capacity_ah = q;
}

/* BioLogic .mpl beside the export: channel, start, battery capacity */
static bml_status biologic_settings(source *s) {
    const char *path = s->r.path;
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    char *mp = bml__sprintf("%.*s.mpl", (int)stem, path);
    if (!mp) return bml__fail(BML_ERR_NOMEM, "out of memory");
    FILE *f = bml__is_file(mp) ? fopen(mp, "r") : NULL;
    free(mp);
    if (!f) return BML_OK;
    char *line = NULL;
    size_t cap = 0;
    bml_status st = BML_OK;
    while (st == BML_OK && getline(&line, &cap, f) >= 0) {
        char *c = strstr(line, " : ");
        if (!c) continue;
        const char *v = c + 3;
        if (starts_with(line, "Run on channel")) st = set_str(&s->meta->channel, v);
        else if (starts_with(line, "Acquisition started on")) st = set_str(&s->meta->start_time, v);
        else if (starts_with(line, "Battery capacity")) biologic_capacity(s, v);
    }
    free(line);
    fclose(f);
    return st;
}

/* EC-Lab text: the "EC-Lab ASCII FILE" block when there is one (its technique into *technique), then the
 * column header */
static bml_status open_biologic_rows(source *s, char **technique) {
    reader *r = &s->r;
    BML__TRY(biologic_settings(s));
    if (rd_line(r) <= 0) return bml__fail(BML_ERR_EMPTY, "%s: empty file", r->path);
    size_t skip = 0;
    if (strstr(r->line, "ASCII FILE")) { /* "EC-Lab ASCII FILE", "Nb header lines : N", the header is line N */
        if (rd_line(r) <= 0 || sscanf(r->line, "Nb header lines : %zu", &skip) != 1 || skip < 3)
            return bml__fail(BML_ERR_PARSE, "%s:2: expected 'Nb header lines : N' after the EC-Lab title", r->path);
        while (r->lineno < skip - 1) {
            if (rd_line(r) <= 0) return bml__fail(BML_ERR_EMPTY, "%s: ends inside its %zu header lines", r->path, skip);
            const char *c = strstr(r->line, " : ");
            if (starts_with(r->line, "Run on channel")) {
                if (c) BML__TRY(set_str(&s->meta->channel, c + 3));
            } else if (starts_with(r->line, "Acquisition started on") && c) {
                if (!s->meta->start_time) BML__TRY(set_str(&s->meta->start_time, c + 3));
                double u;
                if (parse_datetime(c + 3, &u) == 0) s->m.unix0 = u; /* "MM/DD/YYYY HH:MM:SS.fff" */
            } else if (starts_with(r->line, "Battery capacity") && c && isnan(s->meta->nominal_capacity_ah)) {
                biologic_capacity(s, c + 3);
            } else if (r->lineno == 4 && !c && *bml__trim(r->line)) {
                /* line 4 names the technique ("Galvanostatic Cycling with Potential Limitation", "Modulo Bat",
                 * "Open Circuit Voltage", "Chronopotentiometry", ...) */
                BML__TRY(set_str(technique, r->line));
            }
        }
    } else {
        rewind(r->f);
        r->lineno = 0;
        r->bytes = 0;
    }
    /* the header line decides the separator */
    long pos = ftell(r->f);
    size_t ln = r->lineno;
    double by = r->bytes;
    if (rd_line(r) <= 0) return bml__fail(BML_ERR_EMPTY, "%s: no BioLogic header", r->path);
    char delim = strchr(r->line, '\t') ? '\t' : ';';
    if (fseek(r->f, pos, SEEK_SET) != 0) return bml__fail(BML_ERR_IO, "%s: cannot seek", r->path);
    r->lineno = ln;
    r->bytes = by;
    BML__TRY(rd_csv_begin(r, delim));
    BML__TRY(header_record(s, "BioLogic"));
    colmap *m = &s->m;
    m->decimal_comma = 1;
    set_col(m, C_TIME, (const char *const[]){"time/s", NULL}, NULL);
    set_col(m, C_CYCLE, (const char *const[]){"cycle number", NULL}, NULL);
    set_col(m, C_STEP, (const char *const[]){"Ns", NULL}, NULL);
    set_col(m, C_I, (const char *const[]){"I/mA", "<I>/mA", "I/A", "<I>/A", NULL}, (const double[]){1e-3, 1e-3, 1, 1});
    set_col(m, C_V, (const char *const[]){"Ecell/V", "Ewe/V", "<Ewe>/V", "<Ecell>/V", NULL}, NULL);
    set_col(m, C_QC, (const char *const[]){"Q charge/mA.h", "Q charge/A.h", NULL}, (const double[]){1e-3, 1});
    set_col(m, C_QD, (const char *const[]){"Q discharge/mA.h", "Q discharge/A.h", NULL}, (const double[]){1e-3, 1});
    set_col(m, C_EC, (const char *const[]){"Energy charge/W.h", "Energy charge/mW.h", NULL}, (const double[]){1, 1e-3});
    set_col(m, C_ED, (const char *const[]){"Energy discharge/W.h", "Energy discharge/mW.h", NULL}, (const double[]){1, 1e-3});
    /* EC-Lab writes Windows-1252 (0xB0 for the degree sign); other exports UTF-8 */
    set_col(m, C_TEMP, (const char *const[]){"T/°C", "Temperature/°C", "T/\xb0" "C", "Temperature/\xb0" "C", NULL}, NULL);
    /* "R/Ohm" is E/I, not a resistance of the cell; "Rapp/Ohm" is what the technique measures */
    set_col(m, C_IR, (const char *const[]){"Rapp/Ohm", NULL}, NULL);
    set_col(m, C_HALF, (const char *const[]){"half cycle", NULL}, NULL);
    set_col(m, C_QS, (const char *const[]){"Q charge/discharge/mA.h", "Q charge/discharge/A.h", NULL}, (const double[]){1e-3, 1});
    set_col(m, C_QNET, (const char *const[]){"(Q-Qo)/mA.h", "(Q-Qo)/A.h", NULL}, (const double[]){1e-3, 1});
    m->tk = T_DATETIME_OR_SECONDS;
    m->qm = Q_FIXED;
    /* Q charge, Q discharge (and the energies) restart at each half cycle; without a half cycle column, at
     * each cycle and each sequence (Ns). Not at an Ns inside a half cycle: CC then CV charge one half cycle. */
    m->restart = m->col[C_HALF] >= 0 ? R_CYCLE | R_HALF : R_CYCLE | R_STEP;
    return BML_OK;
}

static bml_status open_biologic(source *s) {
    char *technique = NULL;
    bml_status st = open_biologic_rows(s, &technique); /* (technique freed here also on failure) */
    if (st == BML_OK && technique) {
        /* the technique is what EC-Lab runs: the protocol, when nothing else names one */
        if (!s->meta->protocol) st = set_str(&s->meta->protocol, technique);
        /* Open Circuit Voltage passes no current: a file of it without a current column is a rest */
        if (strstr(technique, "Open Circuit Voltage") && s->m.col[C_I] < 0) s->m.rest_without_current = 1;
    }
    free(technique);
    return st;
}

static bml_status open_novonix(source *s) {
    reader *r = &s->r;
    int in_summary = 0, found = 0;
    while (!found) {
        int k = rd_line(r);
        if (k < 0) return bml__fail(BML_ERR_IO, "%s:%zu: read error", r->path, r->lineno + 1);
        if (k == 0) return bml__fail(BML_ERR_EMPTY, "%s: ends before its [Data] block", r->path);
        const char *l = r->line;
        if (!strcmp(l, "[Summary]")) in_summary = 1;
        else if (!strcmp(l, "[End Summary]")) in_summary = 0;
        else if (!strcmp(l, "[Data]")) found = 1;
        else if (in_summary) {
            const char *c = strchr(l, ':');
            if (!c) continue;
            if (starts_with(l, "Channel:")) BML__TRY(set_str(&s->meta->channel, c + 1));
            else if (starts_with(l, "Serial Number:")) BML__TRY(set_str(&s->meta->barcode, c + 1));
            else if (starts_with(l, "Protocol:")) BML__TRY(set_str(&s->meta->protocol, c + 1));
            else if (starts_with(l, "Started:")) BML__TRY(set_str(&s->meta->start_time, c + 1));
            else if (starts_with(l, "Capacity (Ah):")) {
                double q;
                if (bml__parse_double(c + 1, &q) != 0 || !(q >= 0))
                    return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: Capacity (Ah) '%s' is not a number", r->path, r->lineno,
                                     (int)(c - l) + 2, c + 1);
                if (q > 0) s->meta->nominal_capacity_ah = q;
            }
        }
    }
    BML__TRY(rd_csv_begin(r, ','));
    BML__TRY(header_record(s, "Novonix"));
    colmap *m = &s->m;
    if (m->n_header == 1 && strchr(m->names[0], ',')) { /* the whole header quoted as one field */
        char *one = m->names[0];
        m->names[0] = NULL;
        colmap_free(m);
        size_t n = 1;
        for (const char *p = one; *p; p++) n += *p == ',';
        m->names = bml__calloc(n, sizeof *m->names);
        if (!m->names) {
            free(one);
            return bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        m->n_header = 0;
        char *save = NULL;
        for (char *tok = strtok_r(one, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *t = bml__strdup(bml__trim(tok));
            if (!t) {
                free(one);
                return bml__fail(BML_ERR_NOMEM, "out of memory");
            }
            m->names[m->n_header++] = t;
        }
        free(one);
    }
    m->unwrap_quoted = 1;
    set_col(m, C_TIME, (const char *const[]){"Run Time (h)", NULL}, NULL);
    set_col(m, C_CYCLE, (const char *const[]){"Cycle Number", NULL}, NULL);
    set_col(m, C_STEP, (const char *const[]){"Step Number", NULL}, NULL);
    set_col(m, C_I, (const char *const[]){"Current (A)", NULL}, NULL);
    set_col(m, C_V, (const char *const[]){"Potential (V)", NULL}, NULL);
    set_col(m, C_Q, (const char *const[]){"Capacity (Ah)", NULL}, NULL);
    set_col(m, C_E, (const char *const[]){"Energy (Wh)", NULL}, NULL);
    set_col(m, C_TEMP, (const char *const[]){"Temperature (°C)", NULL}, NULL);
    set_col(m, C_DATE, (const char *const[]){"Date and Time", NULL}, NULL);
    m->tk = T_HOURS;
    m->qm = Q_SIGN;
    m->restart = R_CYCLE | R_STEP;
    return BML_OK;
}

/* Basytec: "Key,Value" lines (Battery Name, Circuit, Program, Start Time, ...), then the header row
 * (Step,Status,Step Time,Prog Time,Cycle,...,Voltage,Current,AhAccu,AhPrev,WhAccu,...), a units row ("[V]",
 * ...), the rows. AhAccu counts within a step that passes current (signed; a pause keeps the last value),
 * WhAccu is the net energy since the test began; the closing "STO" rows are counted, not read. */
static bml_status open_basytec(source *s) {
    reader *r = &s->r;
    size_t other = 0; /* the first line before the header that is no "Key,Value" line (0: none) */
    for (;;) {
        long pos = ftell(r->f);
        size_t ln = r->lineno;
        double by = r->bytes;
        int k = rd_line(r);
        if (k < 0) return bml__fail(BML_ERR_IO, "%s:%zu: read error", r->path, r->lineno + 1);
        /* a file of another layout (its own header and rows) is not a Basytec export cut before its header */
        if (k == 0 && other)
            return bml__fail(BML_ERR_SCHEMA, "%s:%zu: no Basytec header row (Step,Status,...,AhAccu,...) in the file, and this "
                                             "line is no Key,Value line of its preamble", r->path, other);
        if (k == 0) return bml__fail(BML_ERR_EMPTY, "%s: ends before its Basytec header (Step,Status,...,AhAccu,...)", r->path);
        const char *l = r->line, *c = strchr(l, ',');
        if (!other && c && strchr(c + 1, ',')) other = r->lineno;
        if (starts_with(l, "Step,") && strstr(l, "AhAccu")) {
            if (pos < 0 || fseek(r->f, pos, SEEK_SET) != 0) return bml__fail(BML_ERR_IO, "%s: cannot seek", r->path);
            r->lineno = ln;
            r->bytes = by;
            break;
        }
        if (!c || !c[1]) continue;
        if (starts_with(l, "Battery Name,")) BML__TRY(set_str(&s->meta->barcode, c + 1));
        else if (starts_with(l, "Circuit,")) BML__TRY(set_str(&s->meta->channel, c + 1));
        else if (starts_with(l, "Program,")) BML__TRY(set_str(&s->meta->protocol, c + 1));
        else if (starts_with(l, "Start Time,")) BML__TRY(set_str(&s->meta->start_time, c + 1));
    }
    BML__TRY(rd_csv_begin(r, ','));
    BML__TRY(header_record(s, "Basytec"));
    colmap *m = &s->m;
    set_col(m, C_TIME, (const char *const[]){"Prog Time", "Test Time", NULL}, NULL);
    set_col(m, C_CYCLE, (const char *const[]){"Cycle", NULL}, NULL);
    set_col(m, C_STEP, (const char *const[]){"Step", NULL}, NULL);
    set_col(m, C_I, (const char *const[]){"Current", NULL}, NULL);
    set_col(m, C_V, (const char *const[]){"Voltage", NULL}, NULL);
    set_col(m, C_Q, (const char *const[]){"AhAccu", NULL}, NULL);
    set_col(m, C_E, (const char *const[]){"WhAccu", NULL}, NULL);
    set_col(m, C_TEMP, (const char *const[]){"LogTemp001", "Temp1", "T1", NULL}, NULL);
    set_col(m, C_STATE, (const char *const[]){"Status", NULL}, NULL);
    m->stop = "STO";
    m->tk = T_SECONDS;
    m->qm = Q_SIGN; /* AhAccu restarts with each step that passes current and holds through pauses */
    m->restart = R_CYCLE | R_STEP;
    m->e_net = 1;
    m->units_row = 1;
    return BML_OK;
}

/* ------------------------------------------------------------------ detection: the sniffers */

/* the first lines of a file's head (up to 40, without "\r\n", a UTF-8 BOM dropped), those before the first
 * line holding a NUL byte: a text sniffer sees text only */
#define HEAD_LINES 40
typedef struct {
    char *buf;
    const char *l[HEAD_LINES];
    size_t n;
} head_lines;

static int head_split(head_lines *h, const unsigned char *head, size_t n) {
    memset(h, 0, sizeof *h);
    h->buf = malloc(n + 1);
    if (!h->buf) return -1;
    memcpy(h->buf, head, n);
    h->buf[n] = 0;
    char *p = h->buf, *end = h->buf + n;
    if (n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    while (p < end && h->n < HEAD_LINES) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (memchr(p, 0, (size_t)(e - p))) break;
        *e = 0;
        size_t len = (size_t)(e - p);
        while (len && (p[len - 1] == '\r')) p[--len] = 0;
        h->l[h->n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    return 0;
}

/* One function per text format: the score, and in *why (when why is not NULL) what a near match lacks. */
static int sniff_arbin_l(const head_lines *h, const char **why) {
    if (!h->n) return 0;
    const char *l0 = h->l[0];
    int dp = starts_with_ci(l0, "Data_Point") || strstr(l0, ",Data_Point") != NULL;
    int tt = strstr(l0, "Test_Time") != NULL || strstr(l0, "Test Time (s)") != NULL;
    int iv = (strstr(l0, "Current") != NULL) + (strstr(l0, "Voltage") != NULL);
    if (dp && tt) return 100;
    if (dp || (tt && iv == 2 && strchr(l0, ',')))
        return bml__sniff_near(why, dp ? "a Data_Point column but no Test_Time column"
                                       : "Test_Time, Current and Voltage but no Data_Point column", 20);
    return 0;
}

static int sniff_maccor_l(const head_lines *h, const char **why) {
    if (!h->n) return 0;
    const char *l0 = h->l[0];
    if (starts_with(l0, "Today's Date") || starts_with(l0, "Rec#\t") || (h->n > 1 && starts_with(h->l[1], "Rec#\t")))
        return 100;
    /* cellpy's "three" layout: "Today''s Date", blank lines, "Date of Test:", the Rec#<TAB> header */
    if (starts_with(l0, "Today''s Date"))
        for (size_t i = 1; i < h->n; i++)
            if (starts_with(h->l[i], "Rec#\t")) return 100;
    for (size_t i = 0; i < h->n && i < 2; i++)
        if (starts_with(h->l[i], "Rec#") || starts_with(h->l[i], "Rec,"))
            return bml__sniff_near(why, "a Rec# header that is not tab-separated", 20);
    /* a Rec#<TAB> header further down, after a title this reader does not know (cellpy's maccor_three.txt:
     * "Today''s Date", blank lines, "Date of Test:") */
    for (size_t i = 2; i < h->n; i++)
        if (starts_with(h->l[i], "Rec#\t"))
            return bml__sniff_near(why, "a Rec#<TAB> header below a title line it does not know (the title must begin "
                                        "with \"Today's Date\" or \"Today''s Date\")", 20);
    return 0;
}

static int sniff_biologic_l(const head_lines *h, const char **why) {
    if (!h->n) return 0;
    const char *l0 = h->l[0];
    if (strstr(l0, "ASCII FILE")) return 100;
    int t = strstr(l0, "time/s") != NULL, v = strstr(l0, "Ecell/V") || strstr(l0, "Ewe/V");
    if (t && v) return 100;
    if (t || v)
        return bml__sniff_near(why, t ? "a time/s column but no Ecell/V or Ewe/V column"
                                      : "an Ewe/V or Ecell/V column but no time/s column", 20);
    return 0;
}

static int sniff_novonix_l(const head_lines *h, const char **why) {
    (void)why;
    if (!h->n) return 0;
    if (!strcmp(h->l[0], "[Summary]") || (h->n > 1 && strstr(h->l[1], "Novonix"))) return 100;
    return 0;
}

/* a Basytec header row ("Step,Status,...,AhAccu,...") within the first 40 lines; below the others: only
 * what no other format claims */
static int sniff_basytec_l(const head_lines *h, const char **why) {
    int step = 0;
    for (size_t i = 0; i < h->n; i++)
        if (starts_with(h->l[i], "Step,")) {
            if (strstr(h->l[i], "AhAccu")) return 60;
            step = 1;
        }
    return step ? bml__sniff_near(why, "a Step,... header row without an AhAccu column", 10) : 0;
}

/* the registry's sniffer of each text format, on the lines of the head */
#define TEXT_SNIFFER(fmt)                                                                                   \
    static int sniff_##fmt(const unsigned char *head, size_t n, const char *path, const char **why) {       \
        (void)path;                                                                                         \
        head_lines h;                                                                                       \
        if (head_split(&h, head, n)) return 0;                                                              \
        int k = sniff_##fmt##_l(&h, why);                                                                   \
        free(h.buf);                                                                                        \
        return k;                                                                                           \
    }
TEXT_SNIFFER(arbin)
TEXT_SNIFFER(maccor)
TEXT_SNIFFER(biologic)
TEXT_SNIFFER(novonix)
TEXT_SNIFFER(basytec)

/* why path, not a regular file, cannot be read: missing, or a FIFO / device / folder (never opened: a FIFO
 * would block) */
static bml_status not_a_file(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such file", path);
    return bml__fail(BML_ERR_IO, "%s: %s, not a regular file: refused", path,
                     S_ISDIR(sb.st_mode) ? "a folder" : S_ISFIFO(sb.st_mode) ? "a FIFO" : "a device or socket");
}

/* ------------------------------------------------------------------ the row loop */

/* the start of a file from seconds since 1970 (data/cycler_internal.h) */
bml_status bml__cycler_start_time(bml_cycler_meta *meta, double unix_s, const char *suffix) {
    if (meta->start_time || !isfinite(unix_s) || fabs(unix_s) > 1e15) return BML_OK;
    time_t u = (time_t)floor(unix_s + 0.5);
    struct tm tm;
    char iso[32];
    if (!gmtime_r(&u, &tm) || !strftime(iso, sizeof iso, "%Y-%m-%d %H:%M:%S", &tm)) return BML_OK;
    if (!(meta->start_time = bml__sprintf("%s%s", iso, suffix ? suffix : "")))
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    return BML_OK;
}

/* A counter that counts up and restarts at its vendor's boundaries (data/cycler_internal.h). It used to be
 * "a counter that drops has been reset": EC-Lab's Q discharge dips by ~1e-7 mA.h inside a half cycle, and
 * each dip added the whole value again (issue 21: capacities 3-24x too large, without a word). */
double bml__counter_step(bml__counter *c, double v, int restart, size_t *n_drops, double *max_drop) {
    if (!c->seen || (restart && v < c->max)) {
        c->seen = 1;
        c->max = v;
        return v;
    }
    if (v >= c->max) {
        double d = v - c->max;
        c->max = v;
        return d;
    }
    if (n_drops) (*n_drops)++;
    if (max_drop && c->max - v > *max_drop) *max_drop = c->max - v;
    return 0;
}

typedef struct {
    bml__counter qc, qd, ec, ed, q, e;
    double sum[4]; /* charge Ah, discharge Ah, charge Wh, discharge Wh within the cycle */
    long cycle, step, half;
    int dir;       /* Q_SIGN: direction of the last current that flowed (+1 / -1) */
    double q_net;  /* the last net charge (BioLogic's (Q-Qo)), NaN before the first */
    int started;
    double e_net;  /* the last net energy (Basytec's WhAccu) */
    double t_prev, t0_unix;
} state;

static bml_status field_error(const source *s, int col, const char *field, const char *what) {
    const char *name = s->m.names && (size_t)col < s->m.n_header ? s->m.names[col] : "?";
    return bml__fail(BML_ERR_PARSE, "%s:%zu:%d: column '%s': '%s' %s", s->r.path, s->r.rec_line, col + 1, name, field, what);
}

/* a number as the file writes it (with a decimal comma where the layout uses them): 0, -1 when it is not
 * one, -2 out of memory */
static int parse_num(const colmap *m, const char *v, double *out) {
    if (bml__parse_double(v, out) == 0) return 0;
    if (!m->decimal_comma || !strchr(v, ',') || strchr(v, '.')) return -1;
    char *tmp = bml__strdup(v);
    if (!tmp) return -2;
    for (char *p = tmp; *p; p++)
        if (*p == ',') *p = '.';
    int r = bml__parse_double(tmp, out) == 0 ? 0 : -1;
    free(tmp);
    return r;
}

/* the number in field `role` (NaN when the column is absent or the field empty and !required) */
static bml_status num(const source *s, char **f, int role, int required, double *out) {
    int c = s->m.col[role];
    *out = NAN;
    if (c < 0) return BML_OK;
    const char *v = f[c];
    int r = parse_num(&s->m, v, out);
    if (r == 0) {
        *out *= s->m.scale[role];
        return BML_OK;
    }
    *out = NAN;
    if (r == -2) return bml__fail(BML_ERR_NOMEM, "out of memory");
    const char *t = v;
    while (isspace((unsigned char)*t)) t++;
    if (!*t || bml__streq_ci(t, "N/A") || bml__streq_ci(t, "nan")) {
        if (required) return field_error(s, c, v, "is empty");
        return BML_OK;
    }
    return field_error(s, c, v, "is not a number");
}

static bml_status index_field(const source *s, char **f, int role, long *out) {
    double x;
    BML__TRY(num(s, f, role, 0, &x));
    if (isnan(x)) return BML_OK;
    if (x != floor(x) || fabs(x) > 1e15) return field_error(s, s->m.col[role], f[s->m.col[role]], "is not an integer index");
    *out = (long)x;
    return BML_OK;
}

static int blank_record(char **f, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (const char *p = f[i]; *p; p++)
            if (!isspace((unsigned char)*p)) return 0;
    return 1;
}

/* split a row quoted as one field ("a,b,c") in place into fields */
static bml_status unwrap(source *s, char ***fields, size_t *nf, char ***store, size_t *store_cap) {
    char *one = (*fields)[0];
    size_t n = 1;
    for (const char *p = one; *p; p++) n += *p == ',';
    if (n > *store_cap) {
        char **x = realloc(*store, n * sizeof *x);
        if (!x) return bml__fail(BML_ERR_NOMEM, "%s: out of memory", s->r.path);
        *store = x, *store_cap = n;
    }
    size_t k = 0;
    (*store)[k++] = one;
    for (char *p = one; *p; p++)
        if (*p == ',') {
            *p = 0;
            (*store)[k++] = p + 1;
        }
    *fields = *store;
    *nf = k;
    return BML_OK;
}

/* the rows of s through fn; S is the row loop's state, zeroed by the caller before the first file (a later part of
 * one test goes on from where the part before it left off: the same counters, cycle and step) */
static bml_status read_rows(source *s, state *Sp, bml_cycler_point_fn fn, void *user) {
    reader *r = &s->r;
    colmap *m = &s->m;
    bml_cycler_meta *meta = s->meta;
    if (m->col[C_I] < 0 && !m->rest_without_current)
        return bml__fail(BML_ERR_SCHEMA, "%s:%zu: %s header without a current column", r->path, m->header_line,
                         bml_cycler_format_name(meta->format));
    if (m->col[C_V] < 0)
        return bml__fail(BML_ERR_SCHEMA, "%s:%zu: %s header without a voltage column", r->path, m->header_line,
                         bml_cycler_format_name(meta->format));
    if (m->col[C_TIME] < 0)
        return bml__fail(BML_ERR_SCHEMA, "%s:%zu: %s header without a test-time column", r->path, m->header_line,
                         bml_cycler_format_name(meta->format));
    meta->has_cycle_index = m->col[C_CYCLE] >= 0;
#define S (*Sp)
    /* where the charge and discharge capacities come from (Q_FIXED): their own columns, else BioLogic's signed
     * half-cycle counter, else its net charge */
    const int q_split = m->col[C_QC] < 0 && m->col[C_QD] < 0 && m->col[C_QS] >= 0;
    const int q_net = m->col[C_QC] < 0 && m->col[C_QD] < 0 && m->col[C_QS] < 0 && m->col[C_QNET] >= 0;
    const int has_qc = m->col[C_Q] >= 0 || m->col[C_QC] >= 0 || q_split || q_net;
    const int has_qd = m->col[C_Q] >= 0 || m->col[C_QD] >= 0 || q_split || q_net;
    size_t *drops = &meta->n_counter_drops;
    double *drop_max = &meta->counter_drop_max;
    char **split = NULL;
    size_t split_cap = 0;
    int rows_with_cycle = -1; /* -1 unknown, 1 the rows give cycle indices, 0 they do not */
    bml_status st = BML_OK;
    for (;;) {
        int k = rd_record(r, &st);
        if (k < 0) break;
        if (k == 0) break;
        char **f = r->fields;
        size_t nf = r->n_fields;
        if (m->unwrap_quoted && nf == 1 && m->n_header > 1 && strchr(f[0], ',')) {
            if ((st = unwrap(s, &f, &nf, &split, &split_cap)) != BML_OK) break;
        }
        if (blank_record(f, nf)) {
            meta->n_blank++;
            continue;
        }
        if (m->units_row) { /* the row after the header: units, when it gives them */
            m->units_row = 0;
            if (nf && f[0][0] == '[') continue;
        }
        /* (a short row has no State field: the field count is checked below) */
        if (m->stop && m->col[C_STATE] >= 0 && (size_t)m->col[C_STATE] < nf &&
            !strcmp(bml__trim(f[m->col[C_STATE]]), m->stop)) {
            meta->n_stop++; /* the test's closing rows: the last state repeated, cycle and step reset */
            continue;
        }
        /* a row that ends with a delimiter the header lacks (or the other way: EC-Lab) */
        while (nf > m->n_header && !*bml__trim(f[nf - 1])) nf--;
        if (nf != m->n_header) {
            if (nf < m->n_header && !r->last_newline)
                st = bml__fail(BML_ERR_PARSE, "%s:%zu: truncated: the last row has %zu of the header's %zu fields",
                               r->path, r->rec_line, nf, m->n_header);
            else
                st = bml__fail(BML_ERR_PARSE,
                               "%s:%zu: %zu fields where the %s header (line %zu) has %zu: a row of another layout?",
                               r->path, r->rec_line, nf, bml_cycler_format_name(meta->format), m->header_line,
                               m->n_header);
            break;
        }
        bml_cycler_point p;
        p.line = r->rec_line;
        p.cycle = 1;
        p.step = 1;
        p.unix_time = NAN;
        /* time */
        const char *tf = f[m->col[C_TIME]];
        double t = NAN;
        if (m->tk == T_MACCOR) {
            double x;
            if (bml__parse_double(tf, &x) == 0) { /* a number in the column's unit (seconds, or "Test (Min)") */
                t = x * m->scale[C_TIME];
                if (!isfinite(t)) st = field_error(s, m->col[C_TIME], tf, "is too large a time");
            } else if (parse_maccor_time(tf, &t) != 0) {
                st = field_error(s, m->col[C_TIME], tf, "is not a time (seconds or Nd HH:MM:SS)");
            }
        } else if (m->tk == T_DATETIME_OR_SECONDS) {
            double u;
            int pr = parse_num(m, tf, &t); /* seconds, with a decimal comma in some locales */
            if (pr == 0 && !isnan(m->unix0)) p.unix_time = m->unix0 + t;
            if (pr == -2) st = bml__fail(BML_ERR_NOMEM, "out of memory");
            else if (pr != 0) {
                if (parse_datetime(tf, &u) == 0) {
                    if (isnan(S.t0_unix)) S.t0_unix = u;
                    t = u - S.t0_unix;
                    p.unix_time = u;
                } else {
                    st = field_error(s, m->col[C_TIME], tf, "is neither seconds nor a date and time");
                }
            }
        } else {
            st = num(s, f, C_TIME, 1, &t);
            if (m->tk == T_HOURS) t *= 3600.0;
            /* hours past DBL_MAX / 3600 (the only time that can overflow) */
            if (st == BML_OK && !isfinite(t)) st = field_error(s, m->col[C_TIME], tf, "is too large a time");
        }
        if (st != BML_OK) break;
        /* a later part whose test time restarts: its times go on from the part before's last */
        if (s->part_first && t < S.t_prev) s->t_off = S.t_prev, s->t_restart = 1;
        if (s->t_off != 0) t += s->t_off;
        if (S.started && t < S.t_prev) {
            st = bml__fail(BML_ERR_VALUE, "%s:%zu:%d: time goes backwards (%.9g s after %.9g s on the row before%s)%s", r->path,
                           r->rec_line, m->col[C_TIME] + 1, t, S.t_prev, s->part_first ? ", the last of the part before" : "",
                           s->t_off != 0 ? " after this part's times were offset by the part before's last time (its test "
                                           "time restarts)" : "");
            break;
        }
        p.test_time_s = t;
        if ((st = num(s, f, C_I, !m->rest_without_current, &p.current_a)) != BML_OK || (st = num(s, f, C_V, 1, &p.voltage_v)) != BML_OK ||
            (st = num(s, f, C_TEMP, 0, &p.temperature_c)) != BML_OK || (st = num(s, f, C_IR, 0, &p.resistance_ohm)) != BML_OK)
            break;
        if (!(p.resistance_ohm > 0)) p.resistance_ohm = NAN;
        if (m->rest_without_current) p.current_a = 0;
        if (m->col[C_DATE] >= 0 && isnan(p.unix_time)) {
            const char *df = f[m->col[C_DATE]];
            double u;
            if (parse_datetime(df, &u) == 0) p.unix_time = u;
            else if (bml__parse_double(df, &u) == 0 && u > 1e8) p.unix_time = u; /* Arbin: unix seconds */
        }
        /* indices: a file logs them on every row or on none */
        if (m->col[C_CYCLE] >= 0) {
            const char *cf = bml__trim(f[m->col[C_CYCLE]]);
            int has = *cf != 0;
            if (rows_with_cycle < 0) rows_with_cycle = has;
            else if (rows_with_cycle != has) {
                st = field_error(s, m->col[C_CYCLE], f[m->col[C_CYCLE]],
                                 has ? "is a cycle index after rows without one" : "is empty after rows with a cycle index");
                break;
            }
            if (has && (st = index_field(s, f, C_CYCLE, &p.cycle)) != BML_OK) break;
            /* a later part whose cycle index restarts (below the part before's last; or not above it where the test
             * time restarted: a new run): its first cycle is the one after the part before's last */
            if (has && s->part_first && (p.cycle < S.cycle || (s->t_restart && p.cycle == S.cycle)))
                s->c_off = S.cycle + 1 - p.cycle;
            if (has) p.cycle += s->c_off;
            if (!has) meta->has_cycle_index = 0;
        }
        if (m->col[C_STEP] >= 0 && (st = index_field(s, f, C_STEP, &p.step)) != BML_OK) break;
        long half = 0;
        if (m->col[C_HALF] >= 0 && (st = index_field(s, f, C_HALF, &half)) != BML_OK) break;
        /* current sign from the state code (Maccor) */
        int dir = 0; /* +1 charge, -1 discharge, 0 neither */
        if (m->qm == Q_STATE) {
            const char *sf = bml__trim(f[m->col[C_STATE]]);
            if (!strcmp(sf, "C")) dir = 1, p.current_a = fabs(p.current_a);
            else if (!strcmp(sf, "D")) dir = -1, p.current_a = -fabs(p.current_a);
        } else if (m->qm == Q_SIGN) {
            dir = p.current_a > 0 ? 1 : p.current_a < 0 ? -1 : S.dir;
        }
        int new_cycle = !S.started || p.cycle != S.cycle;
        int new_step = new_cycle || p.step != S.step;
        int new_half = new_cycle || (m->col[C_HALF] >= 0 && half != S.half);
        /* this row may restart the counters: a boundary where the vendor restarts them */
        int restart = (new_cycle && (m->restart & R_CYCLE)) || (new_step && (m->restart & R_STEP)) ||
                      (new_half && (m->restart & R_HALF));
        if (new_cycle) memset(S.sum, 0, sizeof S.sum);
        if (m->qm == Q_FIXED) {
            double qc, qd, ec, ed;
            if ((st = num(s, f, C_QC, 0, &qc)) != BML_OK || (st = num(s, f, C_QD, 0, &qd)) != BML_OK ||
                (st = num(s, f, C_EC, 0, &ec)) != BML_OK || (st = num(s, f, C_ED, 0, &ed)) != BML_OK)
                break;
            if (q_split) { /* one signed counter per half cycle: > 0 charge, < 0 discharge */
                double q;
                if ((st = num(s, f, C_QS, 0, &q)) != BML_OK) break;
                qc = isnan(q) ? NAN : q > 0 ? q : 0;
                qd = isnan(q) ? NAN : q < 0 ? -q : 0;
            } else if (q_net) { /* the net charge since the start: what it gains is charge, what it loses discharge */
                double q;
                if ((st = num(s, f, C_QNET, 0, &q)) != BML_OK) break;
                double d = isnan(q) || isnan(S.q_net) ? 0 : q - S.q_net;
                if (isnan(S.q_net) && !isnan(q)) d = 0; /* the first value is where the file starts */
                if (!isnan(q)) S.q_net = q;
                if (d > 0) S.sum[0] += d;
                else S.sum[1] -= d;
            }
            if (!isnan(qc)) S.sum[0] += bml__counter_step(&S.qc, fabs(qc), restart, drops, drop_max);
            if (!isnan(qd)) S.sum[1] += bml__counter_step(&S.qd, fabs(qd), restart, drops, drop_max);
            if (!isnan(ec)) S.sum[2] += bml__counter_step(&S.ec, fabs(ec), restart, drops, drop_max);
            if (!isnan(ed)) S.sum[3] += bml__counter_step(&S.ed, fabs(ed), restart, drops, drop_max);
        } else {
            double q, e;
            if ((st = num(s, f, C_Q, 0, &q)) != BML_OK || (st = num(s, f, C_E, 0, &e)) != BML_OK) break;
            /* 1: the counters restart at every step (Maccor); 2: where the direction changes (C <-> D), and
             * across steps of one direction only where they fall (the restart flag) */
            int reset = m->reset_on_step == 1 ? new_step : m->reset_on_step == 2 ? dir && S.dir && dir != S.dir : 0;
            if (reset) S.q.max = S.e.max = 0, S.q.seen = S.e.seen = 1;
            double dq = isnan(q) ? 0 : bml__counter_step(&S.q, fabs(q), restart, drops, drop_max);
            /* a net energy falls on every discharge: not a counter, its falls are no noise */
            double de = isnan(e) || m->e_net ? 0 : bml__counter_step(&S.e, fabs(e), restart, drops, drop_max);
            if (m->e_net) { /* a net energy over the test: what it gained went in, what it lost came out */
                double d = isnan(e) ? 0 : e - S.e_net;
                if (!isnan(e)) S.e_net = e;
                if (d > 0) S.sum[2] += d;
                else S.sum[3] -= d;
                de = 0;
            }
            if (dir > 0) S.sum[0] += dq, S.sum[2] += de;
            else if (dir < 0) S.sum[1] += dq, S.sum[3] += de;
            if (dir) S.dir = dir;
        }
        /* what the file does not log is NaN: each of the four apart (an export may hold the discharge alone) */
        if (!has_qc) S.sum[0] = NAN;
        if (!has_qd) S.sum[1] = NAN;
        if (m->col[C_E] < 0) {
            if (m->col[C_EC] < 0) S.sum[2] = NAN;
            if (m->col[C_ED] < 0) S.sum[3] = NAN;
        }
        p.charge_ah = S.sum[0];
        p.discharge_ah = S.sum[1];
        p.charge_wh = S.sum[2];
        p.discharge_wh = S.sum[3];
        S.cycle = p.cycle;
        S.step = p.step;
        S.half = half;
        S.t_prev = t;
        S.started = 1;
        s->part_first = 0;
        meta->n_points++;
        if ((st = fn(&p, user)) != BML_OK) break;
    }
    free(split);
    return st;
#undef S
}


/* what every row passes through on its way to the caller: the registry's format in meta (a reader that
 * resets meta, as the Neware reader does, sets it to auto; the summary writes the name with each row) */
typedef struct {
    bml_cycler_point_fn fn;
    void *user;
    bml_cycler_meta *meta;
    bml_cycler_format format;
} relay;

static bml_status relay_point(const bml_cycler_point *pt, void *user) {
    relay *r = user;
    r->meta->format = r->format;
    return r->fn(pt, r->user);
}

/* a text format's reader: its preamble and header (open), then the shared row loop */
static bml_status read_text(const char *path, bml_status (*open_fn)(source *), bml_cycler_point_fn fn, void *user,
                            bml_cycler_meta *meta) {
    source s;
    memset(&s, 0, sizeof s);
    s.r.path = path;
    s.meta = meta;
    colmap_init(&s.m);
    state S;
    memset(&S, 0, sizeof S);
    S.t0_unix = NAN;
    S.q_net = NAN;
    bml_status st = BML_OK;
    s.r.f = fopen(path, "r");
    if (!s.r.f) st = bml__fail(BML_ERR_IO, "%s: cannot open", path);
    if (st == BML_OK) st = open_fn(&s);
    if (st == BML_OK) st = read_rows(&s, &S, fn, user);
    if (st == BML_OK && meta->n_points == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: a %s header (line %zu) and no data rows", path, bml_cycler_format_name(meta->format),
                       s.m.header_line);
    meta->mb_read = s.r.bytes / 1e6;
    colmap_free(&s.m);
    rd_close(&s.r);
    return st;
}

/* ---- a Maccor test split over numbered parts NAME.001, NAME.002, ... (each a whole export with its own title and
 * header; the test goes on in the next part) */

/* the number of a Maccor part's extension (three digits: ".001"), or -1 */
int bml__cycler_part_number(const char *path) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : path)) return -1;
    if (strlen(dot + 1) != 3 || strspn(dot + 1, "0123456789") != 3) return -1;
    return atoi(dot + 1);
}

/* NAME.(number) beside path (path's extension has three digits) */
static char *part_path(const char *path, int number) {
    return bml__sprintf("%.*s.%03d", (int)(strrchr(path, '.') - path), path, number);
}

/* the day of a Maccor title's "Date of Test" (MM/DD/YYYY, a time may follow) as YYYYMMDD, or -1 */
static long test_day(const char *d) {
    int mo, dd, y; /* a time of day after the date is not compared */
    if (!d || sscanf(d, "%d/%d/%d", &mo, &dd, &y) != 3 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || y < 0 || y > 9999)
        return -1;
    return (long)y * 10000 + mo * 100 + dd;
}

/* the channel a Maccor title names (Tester Channel:), NULL when the channel is the file extension's number */
static const char *title_channel(const char *path, const bml_cycler_meta *m) {
    const char *dot = strrchr(path, '.');
    return m->channel && !(dot && !strcmp(m->channel, dot + 1)) ? m->channel : NULL;
}

/* a later part's title against the first part's: the same procedure, barcode and tester channel (each where either
 * names one), and a test date not before the part before's */
static bml_status parts_agree(const char *first, const bml_cycler_meta *a, const char *prev, const char *prev_date,
                              const char *path, const bml_cycler_meta *b) {
    static const char *const what[] = {"procedure", "barcode", "tester channel"};
    const char *va[] = {a->protocol, a->barcode, title_channel(first, a)},
               *vb[] = {b->protocol, b->barcode, title_channel(path, b)};
    for (int k = 0; k < 3; k++)
        if ((va[k] || vb[k]) && (!va[k] || !vb[k] || strcmp(va[k], vb[k])))
            return bml__fail(BML_ERR_VALUE, "%s:1: its title names %s '%s' where %s's names '%s': not a part of the same "
                                            "test (numbered parts of one test are joined only where their titles name "
                                            "the same procedure, barcode and tester channel)", path, what[k], vb[k] ? vb[k] : "(none)",
                             first, va[k] ? va[k] : "(none)");
    long da = test_day(prev_date), db = test_day(b->start_time);
    if (da >= 0 && db >= 0 && db < da)
        return bml__fail(BML_ERR_VALUE, "%s:1: its date of test %s is before %s's %s: the parts of a test are in order",
                         path, b->start_time, prev, prev_date);
    return BML_OK;
}

/* path and, when path is NAME.001, the numbered parts after it (NAME.002, ... while they are there and read as
 * Maccor exports): *n >= 1 */
static bml_status maccor_parts(const char *path, int detect, char ***parts, size_t *n) {
    *parts = NULL;
    *n = 0;
    bml__strvec v = {0};
    bml_status st = bml__strvec_push(&v, path) ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
    int k = bml__cycler_part_number(path);
    for (int next = k + 1; st == BML_OK && k == 1 && next <= 999; next++) { /* a split test starts at NAME.001 */
        char *q = part_path(path, next);
        if (!q) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        int take = bml__is_file(q);
        bml_cycler_format f = BML_CYCLER_MACCOR;
        if (take && detect && bml_cycler_detect(q, &f) != BML_OK) f = BML_CYCLER_AUTO; /* not a part: read as before */
        take = take && f == BML_CYCLER_MACCOR;
        if (take && bml__strvec_push(&v, q)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        free(q);
        if (!take) break;
    }
    if (st != BML_OK) {
        bml__strvec_free(&v);
        return st;
    }
    *parts = v.items;
    *n = v.n;
    return BML_OK;
}

/* the parts as one stream of rows: each part's title and header read, its rows going on from the part before's (the
 * row loop's state kept; times and cycle indices that restart at a part's first row offset, read_rows); meta->path
 * names the part being read while it is read (messages name it and its lines), the first part after */
static bml_status read_maccor_parts(char **parts, size_t n, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
    state S;
    memset(&S, 0, sizeof S);
    S.t0_unix = NAN;
    S.q_net = NAN;
    char *own_path = meta->path;
    bml_status st = BML_OK;
    double bytes = 0;
    char *prev_date = NULL; /* the date of test of the last part that gives one */
    bml_cycler_meta part_meta;
    memset(&part_meta, 0, sizeof part_meta);
    for (size_t i = 0; st == BML_OK && i < n; i++) {
        source s;
        memset(&s, 0, sizeof s);
        s.r.path = parts[i];
        /* the first part's title is the test's; a later part's is read aside and checked against it */
        bml_cycler_meta_free(&part_meta);
        part_meta.format = meta->format;
        s.meta = i == 0 ? meta : &part_meta;
        s.part_first = i > 0;
        colmap_init(&s.m);
        size_t before = meta->n_points;
        s.r.f = fopen(parts[i], "r");
        if (!s.r.f) st = bml__fail(BML_ERR_IO, "%s: cannot open", parts[i]);
        if (st == BML_OK) st = open_maccor(&s);
        if (st == BML_OK && i > 0) st = parts_agree(parts[0], meta, parts[i - 1], prev_date, parts[i], &part_meta);
        if (st == BML_OK && (i == 0 ? meta->start_time : part_meta.start_time)) {
            free(prev_date);
            if (!(prev_date = bml__strdup(i == 0 ? meta->start_time : part_meta.start_time)))
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
        }
        if (st == BML_OK) {
            s.meta = meta; /* the rows are counted in the test's meta */
            meta->path = parts[i];
            st = read_rows(&s, &S, fn, user);
        }
        if (st == BML_OK && meta->n_points == before)
            st = bml__fail(BML_ERR_EMPTY, "%s: a maccor header (line %zu) and no data rows", parts[i], s.m.header_line);
        bytes += s.r.bytes;
        colmap_free(&s.m);
        rd_close(&s.r);
    }
    free(prev_date);
    bml_cycler_meta_free(&part_meta);
    meta->path = own_path;
    meta->mb_read = bytes / 1e6;
    return st;
}

#define TEXT_READER(fmt)                                                                                   \
    static bml_status read_##fmt(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) { \
        return read_text(path, open_##fmt, fn, user, meta);                                                \
    }
TEXT_READER(arbin)
TEXT_READER(maccor)
TEXT_READER(biologic)
TEXT_READER(novonix)
TEXT_READER(basytec)

/* ------------------------------------------------------------------ the registry */

/* One line per format (see data/cycler_internal.h: what each field is, and how to add one). The order
 * is the public numbering: entry i is bml_cycler_format i + 1, so the first five keep the enum constants
 * of batteryml/cycler.h; append new formats at the end. */
static const bml__cycler_format_def formats[] = {
    {"arbin", "Arbin CSV export of MITS Pro (Data_Point, Test_Time, ..., + NAME_Metadata.csv)",
     "Charge_/Discharge_Capacity and _Energy count up over the cycle or over the whole test, and a schedule may "
     "reset them at the start of a step (Set Variable): a drop where the cycle or step index changes is a restart, "
     "a drop inside a step is noise (the maximum is held)",
     sniff_arbin, read_arbin},
    {"maccor", "Maccor text export (title line, Rec#<TAB>Cyc#<TAB>...; Test (Sec) or Test (Min); the milli-unit layout "
               "with mAmp-hr, mWatt-hr, mAmps and Volts in mV)",
     "Amp-hr and Watt-hr restart at 0 at every step and count up whatever the direction; the State column (C/D) "
     "says which half they belong to; a drop inside a step is noise (the maximum is held). The milli-unit layout's "
     "mAmp-hr and mWatt-hr restart where the direction changes (C <-> D) and count on across steps of one direction "
     "(CC then CV), restarting there only where they fall",
     sniff_maccor, read_maccor},
    {"biologic", "BioLogic EC-Lab text export .mpt/.txt/.csv (time/s, Ewe/V or Ecell/V, ...; tab or ';')",
     "Q charge/mA.h and Q discharge/mA.h restart at each half cycle (the half cycle column; without it at each "
     "cycle and sequence Ns); a drop inside a half cycle is noise (EC-Lab's Q discharge dips by ~1e-7 mA.h): the "
     "maximum is held. Without them: Q charge/discharge/mA.h (signed, per half cycle), else (Q-Qo)/mA.h (net charge "
     "since the start: its rises are charge, its falls discharge)",
     sniff_biologic, read_biologic},
    {"novonix", "Novonix HPC data file ([Summary] ... [Data])",
     "Capacity (Ah) and Energy (Wh) restart at every step, unsigned; the current's sign says charge or discharge; "
     "a drop inside a step is noise (the maximum is held)",
     sniff_novonix, read_novonix},
    {"basytec", "Basytec CSV (Key,Value lines, Step,Status,...,AhAccu,... header, a units row)",
     "AhAccu restarts at each step that passes current and holds through pauses (signed); WhAccu is the net "
     "energy since the test began (its rises are charge, its falls discharge)",
     sniff_basytec, read_basytec},
    {"biologic_mpr", "BioLogic EC-Lab binary .mpr (modular file: settings, data, log; data module versions 0, 2, 3: EC-Lab "
                     "10-11.6x)",
     "as the EC-Lab text export (biologic): Q charge/Q discharge, else Q charge/discharge (signed), else (Q-Qo), per half "
     "cycle, a fall inside one held as noise; without a current column, each interval's mean current from dq/mA.h",
     bml__mpr_sniff, bml__mpr_read},
    {"neware", "Neware BTS binary .nda (BTS 7/8/9, file versions 29 and 130), .ndax (zip of .ndc pages, ndc 11 and 14) and "
               "BTSDA CSV exports (regular three-level, flat)",
     "Chg./DChg. capacity and energy restart at every step, unsigned; a cycle's capacity is the sum over its charge "
     "(discharge) steps of each step's final value; cycles numbered as NewareNDA (a new cycle at a charge after a "
     "discharge) in the binary files, the file's Cycle Index in the CSVs",
     bml__neware_sniff, bml__neware_read},
    {"arbin_res", "Arbin MITS Pro native .res (MS Access / Jet 4 database: Channel_Normal_Table, Global_Table; MITS Pro "
                  "4.x-7.x), read with mdbtools' libmdb",
     "as the Arbin CSV export: Charge_/Discharge_Capacity and _Energy count up over the cycle or the test and may be "
     "reset at a step's start: a drop where the cycle or step index changes is a restart, inside a step noise (the "
     "maximum is held)",
     bml__arbin_res_sniff, bml__arbin_res_read},
    {"maccor_mactest", "Maccor MacTest text export (Name:/Channel: preamble, Rec<TAB>Cycle P<TAB>Cycle C<TAB>...<TAB>Cap. "
                       "[Ah]<TAB>...<TAB>Md; TestTime in minutes; [mAh]/[mA]/[mV] units; decimal commas)",
     "Cap. and Ener. restart at 0 at every step and count up whatever the direction; Md (C/D) says which half they "
     "belong to; a cycle's capacity is the sum over its steps; a drop inside a step is noise (the maximum is held)",
     bml__mactest_sniff, bml__mactest_read},
    {"pec", "PEC (SBT/LifeTest) CSV export (Request Year:,... preamble, Test,Cell,Rack,Shelf,Position,... header; 2019 "
            "layout in s/mV/mA, 2026 layout in hh:mm:ss.xxx/V/A)",
     "Charge and Discharge Capacity (and Energy) count up over the whole cycle: they restart where the Cycle index "
     "changes; a drop inside a cycle is noise (the maximum is held)",
     bml__pec_sniff, bml__pec_read},
    {"batteryarchive", "Battery Archive (batteryarchive.org) time series CSV (<cell>_timeseries.csv: Date_Time,Test_Time (s),"
                       "Cycle_Index,Current (A),Voltage (V),Charge_Capacity (Ah),...,Cell_Temperature (C))",
     "Charge_/Discharge_Capacity (Ah) and _Energy (Wh) are the archive's own integrals of the current within each "
     "cycle: they restart where the Cycle_Index changes; a fall inside a cycle is noise (the maximum is held), a 0 on "
     "a row whose current does not flow their way is not counting; a cycle's capacity is the largest value, as the "
     "archive's <cell>_cycle_data.csv has it",
     bml__batteryarchive_sniff, bml__batteryarchive_read},
    {"batterydata", "Battery Data Hub (batterydata.energy.gov) time series CSV (<cell>-raw.csv: Cycle_Index,Step,Time_s,"
                    "Amphr,...,Current_A,Voltage_V,...,Datenum_d,...,Charge_Capacity_Ah,...; a leading pandas index column or "
                    "not)",
     "Charge_/Discharge_Capacity_Ah and _Energy_Wh are the cycler's Amphr/Watthr on the rows that flow their way (0 "
     "elsewhere), restarting at most steps; the provider's <cell>-summary.csv takes a cycle's capacity as the counter's "
     "largest value in the cycle: read as the running maximum within the cycle (restarted where Cycle_Index changes), "
     "a fall held, never added again; a cycle that charges (discharges) twice gets its largest, as the provider's table",
     bml__batterydata_sniff, bml__batterydata_read},
    {"bdf", "Battery Data Format (Battery Data Alliance) time series CSV (.bdf, .bdf.csv, .csv: Test Time / s, Voltage / V, "
            "Current / A, ... or test_time_second, voltage_volt, current_ampere, ...)",
     "Charging/Discharging Capacity (Ah) and Energy (Wh) count over the whole test (the BDF's definition), Cycle ... over "
     "the cycle, Step ... over the step: a fall where the cycle or step changes is a restart, elsewhere noise (the "
     "maximum is held); a cycle's capacity is what they rose within it; without a counter column, the current's "
     "integral over time",
     bml__bdf_sniff, bml__bdf_read},
};
#define N_REGISTERED (sizeof formats / sizeof *formats)

const bml__cycler_format_def *bml__cycler_format_def_of(bml_cycler_format f) {
    return (unsigned)f >= 1 && (unsigned)f <= N_REGISTERED ? &formats[(unsigned)f - 1] : NULL;
}

size_t bml_cycler_format_count(void) { return N_REGISTERED; }

const char *bml_cycler_format_name(bml_cycler_format f) {
    if (f == BML_CYCLER_AUTO) return "auto";
    const bml__cycler_format_def *d = bml__cycler_format_def_of(f);
    return d ? d->name : "?";
}

const char *bml_cycler_format_describe(bml_cycler_format f) {
    const bml__cycler_format_def *d = bml__cycler_format_def_of(f);
    return d ? d->help : f == BML_CYCLER_AUTO ? "detect the format from the file's content" : NULL;
}

const char *bml_cycler_format_counters(bml_cycler_format f) {
    const bml__cycler_format_def *d = bml__cycler_format_def_of(f);
    return d ? d->counters : NULL;
}

/* "auto, arbin, maccor, ..." (malloc'ed; NULL out of memory) */
static char *format_list(void) {
    bml__sb b = {0};
    bml__sb_str(&b, "auto");
    for (size_t i = 0; i < N_REGISTERED; i++) {
        bml__sb_str(&b, ", ");
        bml__sb_str(&b, formats[i].name);
    }
    bml__sb_put(&b, "", 1);
    if (b.nomem) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}

bml_status bml_cycler_format_parse(const char *name, bml_cycler_format *out) {
    if (name && bml__streq_ci(name, "auto")) {
        *out = BML_CYCLER_AUTO;
        return BML_OK;
    }
    for (size_t i = 0; name && i < N_REGISTERED; i++)
        if (bml__streq_ci(name, formats[i].name)) {
            *out = (bml_cycler_format)(i + 1);
            return BML_OK;
        }
    char *valid = format_list();
    bml_status st = bml__fail(BML_ERR_VALUE, "unknown cycler format '%s' (valid: %s)", name ? name : "(null)",
                              valid ? valid : "out of memory");
    free(valid);
    return st;
}

bml_status bml_cycler_detect(const char *path, bml_cycler_format *out) {
    *out = BML_CYCLER_AUTO;
    if (!bml__is_file(path)) return not_a_file(path);
    FILE *f = fopen(path, "rb");
    if (!f) return bml__fail(BML_ERR_IO, "%s: cannot open", path);
    unsigned char *head = malloc(BML__CYCLER_HEAD);
    if (!head) {
        fclose(f);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    size_t n = fread(head, 1, BML__CYCLER_HEAD, f);
    int err = ferror(f);
    fclose(f);
    bml_status st = BML_OK;
    if (err) st = bml__fail(BML_ERR_IO, "%s: read error", path);
    else if (n == 0) st = bml__fail(BML_ERR_EMPTY, "%s: empty file", path);
    int best = 0;
    size_t which = 0;
    const char *why[N_REGISTERED] = {0}; /* what each near match lacks (from the same pass) */
    for (size_t i = 0; st == BML_OK && i < N_REGISTERED; i++) {
        const char *w = NULL;
        int k = formats[i].sniff(head, n, path, &w);
        if (k > 0 && k < BML__SNIFF_MATCH) why[i] = w;
        if (k > best) best = k, which = i;
    }
    if (st == BML_OK && best >= BML__SNIFF_MATCH) {
        *out = (bml_cycler_format)(which + 1);
    } else if (st == BML_OK) {
        /* no format claims it: a text file of another layout, or binary data no reader knows */
        const unsigned char *nul = memchr(head, 0, n);
        size_t line = 1;
        for (const unsigned char *p = head; nul && p < nul; p++) line += *p == '\n';
        bml__sb b = {0};
        for (size_t i = 0; i < N_REGISTERED; i++) {
            bml__sb_str(&b, i ? "; " : "");
            bml__sb_str(&b, formats[i].help);
            bml__sb_str(&b, " [");
            bml__sb_str(&b, formats[i].name);
            bml__sb_str(&b, "]");
        }
        for (size_t i = 0; i < N_REGISTERED; i++) {
            if (!why[i]) continue;
            bml__sb_str(&b, "; nearly ");
            bml__sb_str(&b, formats[i].name);
            bml__sb_str(&b, ", but ");
            bml__sb_str(&b, why[i]);
        }
        bml__sb_put(&b, "", 1);
        const char *list = b.nomem ? "out of memory" : b.buf;
        if (nul)
            st = bml__fail(BML_ERR_PARSE, "%s:%zu: binary data (NUL bytes), not a text export, and no binary format "
                                          "matched (known: %s)", path, line, list);
        else
            st = bml__fail(BML_ERR_SCHEMA, "%s:1: not a cycler export of a known format (known: %s); force one with "
                                           "data.format=", path, list);
        free(b.buf);
    }
    free(head);
    return st;
}

static char *file_stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    return bml__strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
}

bml_status bml_cycler_read(const char *path, bml_cycler_format format, bml_cycler_point_fn fn, void *user,
                           bml_cycler_meta *meta_out) {
    bml_cycler_meta local;
    bml_cycler_meta *meta = meta_out ? meta_out : &local;
    memset(meta, 0, sizeof *meta);
    meta->nominal_capacity_ah = NAN;
    if (format != BML_CYCLER_AUTO && !bml__cycler_format_def_of(format))
        return bml__fail(BML_ERR_VALUE, "invalid cycler format %d", (int)format);
    int detect = format == BML_CYCLER_AUTO;
    if (format == BML_CYCLER_AUTO) BML__TRY(bml_cycler_detect(path, &format));
    else if (!bml__is_file(path)) return not_a_file(path);
    meta->format = format;
    meta->path = bml__strdup(path);
    meta->cell = file_stem(path);
    if (!meta->path || !meta->cell) {
        bml_cycler_meta_free(meta);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    /* a reader may reset meta and set path and cell itself (the Neware reader does): what it replaced is
     * freed here, what it left out set again, and the format is the registry's */
    char *given_path = meta->path, *given_cell = meta->cell;
    relay rl = {fn, user, meta, format};
    bml_status st = BML_OK;
    char **parts = NULL;
    size_t n_parts = 0;
    /* a Maccor NAME.001 followed by NAME.002, ...: the parts of one test, read as one */
    if (format == BML_CYCLER_MACCOR && bml__cycler_part_number(path) >= 0) st = maccor_parts(path, detect, &parts, &n_parts);
    if (st == BML_OK && n_parts > 1) st = read_maccor_parts(parts, n_parts, relay_point, &rl, meta);
    else if (st == BML_OK) st = bml__cycler_format_def_of(format)->read(path, relay_point, &rl, meta);
    for (size_t i = 0; i < n_parts; i++) free(parts[i]);
    free(parts);
    if (meta->path != given_path) free(given_path);
    if (meta->cell != given_cell) free(given_cell);
    meta->format = format;
    if (!meta->path) meta->path = bml__strdup(path);
    if (!meta->cell) meta->cell = file_stem(path);
    if (st == BML_OK && (!meta->path || !meta->cell)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (!meta_out) bml_cycler_meta_free(&local);
    return st;
}
