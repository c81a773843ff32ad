/* Internal helpers shared by the library's modules (names bml__*). Not installed. */
#ifndef BML_CORE_INTERNAL_H
#define BML_CORE_INTERNAL_H

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
char *bml__trim(char *s);                       /* in place; returns s advanced past spaces */
int bml__streq_ci(const char *a, const char *b);

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

/* ---- numbers ---- */
/* Strict parsers: the whole (trimmed) string must be a finite number. 0 on success, -1 otherwise. */
int bml__parse_double(const char *s, double *out);
/* The same through strtod alone (the reference the fast path of bml__parse_double is tested against). */
int bml__parse_double_strtod(const char *s, double *out);
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
bml_status bml__mkdir_p(const char *path);
bml_status bml__rm_rf(const char *path);
/* Read a whole file into a NUL-terminated buffer. */
bml_status bml__read_file(const char *path, char **out, size_t *len);
/* Write a whole buffer to path (inside a directory that is itself published atomically). */
bml_status bml__write_file(const char *path, const char *data, size_t len);
/* Write a whole buffer to path atomically (temporary file + rename). */
bml_status bml__write_file_atomic(const char *path, const char *data, size_t len);

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
