/* Internal helpers shared by the library's modules (names bml__*). Not installed. */
#ifndef BML_CORE_INTERNAL_H
#define BML_CORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "batteryml/status.h"
#include "batteryml/types.h"

#if defined(__GNUC__)
#define BML__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BML__PRINTF(a, b)
#endif

/* Record a message for bml_last_error() and return s. */
bml_status bml__fail(bml_status s, const char *fmt, ...) BML__PRINTF(2, 3);
/* Prefix the current message with more context ("loading X: <old message>") and return s. */
bml_status bml__fail_prefix(bml_status s, const char *fmt, ...) BML__PRINTF(2, 3);
/* A versioned public options struct (libgit2's convention): BML_OK when it carries the version this library
 * knows (or is NULL: no options), else BML_ERR_VALUE naming both, how to initialise it and the call, e.g.
 * "bml_dataset_load_oxford: bml_oxford_opts version 0; this library knows version 1 (initialise with
 * BML_OXFORD_OPTS_INIT or bml_oxford_opts_init)". PREFIX is the struct's macro prefix (BML_OXFORD_OPTS). */
#define BML__OPTS_CHECK(where, p, type, PREFIX)                                                                          \
    ((p) && (p)->version != PREFIX##_VERSION                                                                             \
         ? bml__opts_version_fail(where, #type, (p)->version, PREFIX##_VERSION, #PREFIX "_INIT", #type "_init")         \
         : BML_OK)
bml_status bml__opts_version_fail(const char *where, const char *type, unsigned got, unsigned want, const char *init_macro,
                                  const char *init_fn);

#define BML__TRY(expr)                     \
    do {                                   \
        bml_status bml__st = (expr);       \
        if (bml__st != BML_OK) return bml__st; \
    } while (0)

/* Programming errors (shape mismatch, NULL where forbidden) abort with file and line. */
#define BML__ASSERT(cond)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", __FILE__, __LINE__, #cond); \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* ---- memory and strings; all results owned by the caller (free with free()) ---- */
void *bml__calloc(size_t n, size_t size);       /* NULL on overflow or failure */
char *bml__strdup(const char *s);               /* NULL-safe: NULL in, NULL out */
char *bml__strndup(const char *s, size_t n);
char *bml__sprintf(const char *fmt, ...) BML__PRINTF(1, 2);
char *bml__vsprintf(const char *fmt, va_list ap); /* NULL when out of memory; ap is consumed */
char *bml__trim(char *s);                       /* in place; returns s advanced past spaces */
int bml__streq_ci(const char *a, const char *b);

/* Growable text: appends never fail loudly; the first allocation failure sets `nomem` and later appends do
 * nothing, so a builder is checked once, at the end. Zero-initialise; the caller frees `buf`. */
typedef struct {
    char *buf; /* NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
    int nomem;
} bml__sb;
void bml__sb_put(bml__sb *b, const char *s, size_t n);
void bml__sb_str(bml__sb *b, const char *s);
void bml__sb_fmt(bml__sb *b, const char *fmt, ...) BML__PRINTF(2, 3);
/* A CSV field, quoted by libcsv's rules (RFC 4180) when it holds a separator, a quote or a line break. */
void bml__sb_csv(bml__sb *b, const char *s);
/* A number as the shortest of %.15g, %.16g and %.17g that reads back as the same double; NaN: nothing. */
void bml__sb_num(bml__sb *b, double v);

/* Growable array of owned strings. */
typedef struct {
    char **items;
    size_t n, cap;
} bml__strvec;
int bml__strvec_push(bml__strvec *v, const char *s);    /* copies s; 0 or -1 (no memory) */
int bml__strvec_find(const bml__strvec *v, const char *s); /* index or -1 */
void bml__strvec_free(bml__strvec *v);
/* qsort comparator for an array of char* (by string content). */
int bml__strcmp_ptr(const void *a, const void *b);
/* Join with a separator into a new string. */
char *bml__join(char *const *items, size_t n, const char *sep);
/* The names name(0) .. name(n - 1) of a registry joined by ", " (for "valid: ..." messages); NULL without memory. */
char *bml__registry_names(size_t n, const char *(*name)(size_t));

/* ---- threads ---- */
/* The thread budget set by bml_parallel_set_thread_local (this thread) or else bml_parallel_set_threads (the
 * process), 0 where neither was called: the networks' worker pool (nn/par.h) stays within it. */
int bml__parallel_thread_budget(void);

/* Tasks 0..n-1 handed out in increasing order to up to `threads` worker threads started for the pool (the one
 * pool of the data and pipeline layers; the networks have their own in nn/par.h). fn(ctx, i) runs each task
 * once; it must write only task i's outputs (errors are per thread: keep a failing task's message with it).
 * at_exit, when not NULL, runs on each worker as it ends (to free its thread-local caches). */
typedef struct bml__pool bml__pool;
/* Starts the workers into *out (at least one must start: else an error, *out NULL); the caller owns the pool
 * and ends it with bml__pool_end. */
bml_status bml__pool_start(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx, void (*at_exit)(void),
                           bml__pool **out);
/* Waits until task i has run (i < n): the caller takes results in order while the workers go on. */
void bml__pool_wait(bml__pool *p, size_t i);
/* No task is handed out from now on (those running finish), the workers are joined and the pool freed;
 * returns how many tasks ran. */
size_t bml__pool_end(bml__pool *p);
/* Every task run, on up to `threads` threads of which the caller is one (it runs them all itself when no
 * thread can be started); returns when all have run. */
void bml__parallel_run(size_t n, int threads, void (*fn)(void *ctx, size_t i), void *ctx, void (*at_exit)(void));
/* Tasks that can fail, as bml__parallel_run: task i's status into st[i] and, when it failed, a copy of its message
 * into err[i] (errors are per thread; NULL without memory for the copy). st and err (n each) are the caller's,
 * and so are the messages (free each). */
void bml__parallel_try(size_t n, int threads, bml_status (*fn)(void *ctx, size_t i), void *ctx, bml_status *st, char **err,
                       void (*at_exit)(void));
/* A task's failure raised on the calling thread: BML_OK when st is, else st with the task's message err. */
bml_status bml__task_status(bml_status st, const char *err);

/* ---- numbers ---- */
/* Strict parsers: the whole (trimmed) string must be a finite number. 0 on success, -1 otherwise. */
int bml__parse_double(const char *s, double *out);
/* The same through strtod alone (the reference the fast path of bml__parse_double is tested against). */
int bml__parse_double_strtod(const char *s, double *out);
/* One field of a delimited record read in place (the buffer is neither NUL-terminated nor modified): the field
 * runs from p to the first `sep` or `end`. Returns 0 with *out where the whole field is a finite number exactly as
 * bml__parse_double reads it (the same double as strtod: Clinger's fast path straight from the buffer, a copy
 * through bml__parse_double otherwise; blanks around it allowed), -1 where it is not (a NUL byte in it included),
 * -2 out of memory (a field too long for the stack). *next: the field's end (the separator or end), always. */
static inline int bml__scan_double(const char *p, const char *end, char sep, double *out, const char **next);
int bml__scan_double_slow(const char *p, const char *end, char sep, double *out, const char **next);
extern const double bml__pow10[23]; /* 10^0 .. 10^22, each exact */

/* inline: the loaders' inner loop (a call per field costs as much as the parse) */
static inline int bml__scan_double(const char *p, const char *end, char sep, double *out, const char **next) {
    const char *s = p;
    int neg = 0;
    if (s < end && (*s == '-' || *s == '+')) neg = *s++ == '-';
    uint64_t m = 0;
    int digits = 0, exp10 = 0, any = 0;
    while (s < end && *s == '0') s++, any = 1;
    for (; s < end && (unsigned)(*s - '0') < 10u; s++, any = 1) {
        if (++digits > 19) return bml__scan_double_slow(p, end, sep, out, next);
        m = m * 10 + (uint64_t)(*s - '0');
    }
    if (s < end && *s == '.') {
        s++;
        if (m == 0)
            while (s < end && *s == '0') s++, exp10--, any = 1;
        for (; s < end && (unsigned)(*s - '0') < 10u; s++, any = 1) {
            if (++digits > 19) return bml__scan_double_slow(p, end, sep, out, next);
            m = m * 10 + (uint64_t)(*s - '0');
            exp10--;
        }
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = 0, e = 0, edig = 0;
        if (s < end && (*s == '-' || *s == '+')) eneg = *s++ == '-';
        for (; s < end && (unsigned)(*s - '0') < 10u; s++, edig++)
            if ((e = e * 10 + (*s - '0')) > 10000) return bml__scan_double_slow(p, end, sep, out, next);
        if (!edig) return bml__scan_double_slow(p, end, sep, out, next);
        exp10 += eneg ? -e : e;
    }
    /* Clinger's fast path: the field ends here and is m * 10^exp10, one correctly rounded operation on exact operands */
    if (!any || (s < end && *s != sep) || m > (1ULL << 53) || exp10 < -22 || exp10 > 22)
        return bml__scan_double_slow(p, end, sep, out, next);
    double v = (double)m;
    if (m == 0) v = 0.0;
    else if (exp10 < 0) v /= bml__pow10[-exp10];
    else v *= bml__pow10[exp10];
    *out = neg ? -v : v;
    *next = s;
    return 0;
}
int bml__parse_long(const char *s, long *out);
int bml__parse_bool(const char *s, int *out);
/* Parse "[a, b, c]" or "a,b,c" into a list of doubles (malloc'ed). 0 or -1. */
int bml__parse_double_list(const char *s, double **out, size_t *n);
/* Parse "[a, b]" or "a,b" into strings. 0 or -1. */
int bml__parse_string_list(const char *s, bml__strvec *out);

/* ---- parameters: typed key=value parsing against a table of specs ---- */
typedef enum { BML__P_INT, BML__P_DOUBLE, BML__P_BOOL, BML__P_STRING, BML__P_LIST } bml__ptype;
typedef struct {
    const char *key;
    bml__ptype type;
    size_t offset;          /* offsetof(params struct, field) */
    const char *default_value;
    double min, max;        /* inclusive bounds for numbers (ignored when min > max) */
    int min_exclusive;      /* 1: value must be > min */
    const char *help;
} bml__param_spec;
/* Fill `params` from the defaults, then from kv. Unknown keys and invalid values fail with a
 * message naming the component (`what`), the key and the valid choices. String/list fields are
 * char* owned by `params`; release them with bml__params_free. */
bml_status bml__params_parse(const char *what, const bml__param_spec *specs, size_t n_specs,
                             const bml_kv *kv, size_t n_kv, void *params);
void bml__params_free(const bml__param_spec *specs, size_t n_specs, void *params);
/* Public descriptions of a spec table (static storage of the specs). */
void bml__params_info(const bml__param_spec *specs, size_t n_specs, bml_param_info *out);

/* ---- files ---- */
int bml__is_dir(const char *path);
int bml__is_file(const char *path);
char *bml__path_join(const char *a, const char *b);
/* Create path and its missing parents; each new directory's entry is synced to disk. A component that
 * exists but is not a directory is an error. */
bml_status bml__mkdir_p(const char *path);
/* Remove path and everything below it; never follows a symbolic link (a link is removed itself). */
bml_status bml__rm_rf(const char *path);
/* Read a whole file into a NUL-terminated buffer (*out malloc'ed, the caller frees it; *len without the NUL,
 * len may be NULL). Only a regular file is read (a symbolic link to one is followed): a FIFO, a device
 * (/dev/zero), a socket or a directory is refused at once, never waited on, and so is a file of more than
 * BML__READ_MAX bytes (or one that grows past it while read). */
#define BML__READ_MAX ((size_t)1 << 30) /* 1 GiB */
bml_status bml__read_file(const char *path, char **out, size_t *len);
/* bml__read_file into the caller's buffer *buf of *cap bytes (grown with realloc as needed, possibly NULL/0; the
 * caller frees it, also on failure): for reading many files without a fresh allocation each. NUL-terminated. */
bml_status bml__read_file_into(const char *path, char **buf, size_t *cap, size_t *len);
/* Open path for reading as bml__read_file does (O_CLOEXEC, a regular file of at most BML__READ_MAX bytes, never
 * blocking on a FIFO): a FILE* the caller fcloses, or NULL with the error set naming the file. */
FILE *bml__fopen_regular(const char *path);

/* The crash-safe write path. Every file the library writes goes through one of two ways:
 *  - a file on its own: bml__write_file_atomic — a temporary file made by mkstemp in the same directory,
 *    written, fsync'd, renamed over path, then the directory fsync'd. After a crash path holds the old
 *    content or the new, never a part. On failure (a full disk included) path is untouched, the temporary
 *    file removed and the message names path and the system's reason.
 *  - a directory of files (a run, an MLflow run): made by bml__stage_open, filled with bml__write_file
 *    (or by libraries writing there), published whole by bml__stage_publish, which fsyncs every file and
 *    directory below it, renames it into place and fsyncs the parent. */
bml_status bml__write_file_atomic(const char *path, const char *data, size_t len);
/* The same, but path must not exist: it is never replaced. One of several processes creating path at once
 * succeeds; the others fail with BML_ERR_STATE ("<path> already exists") and leave nothing behind. */
bml_status bml__write_file_atomic_new(const char *path, const char *data, size_t len);
/* A new file inside a staging directory: created exclusively (an existing file or a symbolic link at path
 * is an error), written in full; on failure removed. Durable once the staging directory is published. */
bml_status bml__write_file(const char *path, const char *data, size_t len);
/* fsync a directory; every regular file and directory below one (symbolic links are not followed). */
bml_status bml__fsync_dir(const char *dir);
bml_status bml__fsync_tree(const char *dir);

/* A staging directory: <parent>/.partial-<tag>-XXXXXX made by mkdtemp (a fresh directory of ours, name
 * not predictable), holding an flock(2) on itself for as long as its writer lives. path is owned. */
typedef struct {
    char *path;
    int fd; /* the open directory: its lock marks the writer alive */
} bml__stage;
/* Create parent if needed and a new staging directory in it. */
bml_status bml__stage_open(bml__stage *sd, const char *parent, const char *tag);
/* Sync everything in it, then rename it to <parent>/<name> without ever replacing an existing entry:
 * when unique is set, the first free one of name, name-2, name-3, ... is taken; otherwise an existing name
 * is an error. *final receives the path (caller frees). On failure the staging directory is removed.
 * Either way sd is released. */
bml_status bml__stage_publish(bml__stage *sd, const char *parent, const char *name, int unique, char **final);
/* Remove the staging directory and release sd (NULL-safe, idempotent). */
void bml__stage_discard(bml__stage *sd);
/* Remove the staging directories in parent left by writers that are gone (killed): those whose lock can
 * be taken. Never touches a live writer's directory, a link or another user's directory. *n_removed
 * (may be NULL) receives their count. A missing parent is not an error. */
bml_status bml__stage_clean(const char *parent, size_t *n_removed);
/* Check a configured path below a run directory: relative, no '..' component, not empty. key names
 * the configuration key in the message. */
bml_status bml__path_check_inside(const char *key, const char *rel);
/* Check one file name component (a run or fold name): not empty, no '/', not '.' or '..'. */
bml_status bml__path_check_name(const char *key, const char *name);

#ifdef BML_FAULT_INJECT
/* The failure injection build (src/core/fault.c), for unit tests looping SQLite-style over every call: restart
 * the counters and fail the nth allocation (io 0) or output call (io 1) from now on (n 0: none); returns the
 * calls of that kind counted since the previous arm. One thread at a time. */
unsigned long bml__fault_arm(int io, unsigned long n);
#endif

/* ---- random numbers: splitmix64-seeded xoshiro256** (deterministic everywhere) ---- */
typedef struct {
    uint64_t s[4];
} bml__rng;
void bml__rng_seed(bml__rng *r, uint64_t seed);
/* xoshiro256** (Blackman & Vigna): the next 64 random bits; inline, as dropout draws one per element */
static inline uint64_t bml__rng_next(bml__rng *r) {
    uint64_t *s = r->s, x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}
double bml__rng_uniform(bml__rng *r);                   /* [0, 1) */
void bml__rng_shuffle(bml__rng *r, size_t *idx, size_t n); /* Fisher-Yates */

#endif
