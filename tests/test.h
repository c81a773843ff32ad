/* A small test harness: each test file lists its tests; each assertion prints both values and the
 * place on failure; main() runs them all, prints "N passed, M failed" and exits non-zero on failure. */
#ifndef BML_TEST_H
#define BML_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/batteryml.h"

#ifndef BML_SOURCE_DIR
#define BML_SOURCE_DIR "."
#endif
#define DATA_DIR BML_SOURCE_DIR "/data/oxford-lgm50t"
#define TEST_DATA BML_SOURCE_DIR "/tests/data"

static int t_fail_count;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);  \
            t_fail_count++;                                                           \
        }                                                                             \
    } while (0)
#define CHECK_OK(expr)                                                                                   \
    do {                                                                                                 \
        bml_status t_st = (expr);                                                                        \
        if (t_st != BML_OK) {                                                                            \
            fprintf(stderr, "  %s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, bml_status_name(t_st), \
                    bml_last_error());                                                                   \
            t_fail_count++;                                                                              \
        }                                                                                                \
    } while (0)
/* expr must fail with status `want` and a message containing `needle` */
#define CHECK_ERR(expr, want, needle)                                                                     \
    do {                                                                                                  \
        bml_status t_st = (expr);                                                                         \
        if (t_st != (want) || !strstr(bml_last_error(), (needle))) {                                      \
            fprintf(stderr, "  %s:%d: %s: expected %s with '%s', got %s: '%s'\n", __FILE__, __LINE__, #expr,   \
                    bml_status_name(want), (needle), bml_status_name(t_st), bml_last_error());            \
            t_fail_count++;                                                                               \
        }                                                                                                 \
    } while (0)
#define CHECK_INT(a, b)                                                                                    \
    do {                                                                                                   \
        long long t_a = (long long)(a), t_b = (long long)(b);                                              \
        if (t_a != t_b) {                                                                                  \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, #a, #b, t_a, t_b); \
            t_fail_count++;                                                                                \
        }                                                                                                  \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                                  \
    do {                                                                                                       \
        double t_a = (a), t_b = (b);                                                                           \
        if (!(fabs(t_a - t_b) <= (tol))) {                                                                     \
            fprintf(stderr, "  %s:%d: |%s - %s| <= %g failed: %.17g vs %.17g\n", __FILE__, __LINE__, #a, #b, (double)(tol), \
                    t_a, t_b);                                                                                 \
            t_fail_count++;                                                                                    \
        }                                                                                                      \
    } while (0)
#define CHECK_STR(a, b)                                                                                     \
    do {                                                                                                    \
        const char *t_a = (a), *t_b = (b);                                                                  \
        if (!t_a || !t_b || strcmp(t_a, t_b)) {                                                             \
            fprintf(stderr, "  %s:%d: %s == %s failed: '%s' vs '%s'\n", __FILE__, __LINE__, #a, #b, t_a ? t_a : "(null)", \
                    t_b ? t_b : "(null)");                                                                  \
            t_fail_count++;                                                                                 \
        }                                                                                                   \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case;

static inline int run_tests(const char *suite, const test_case *tests, size_t n) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        int before = t_fail_count;
        tests[i].fn();
        if (t_fail_count == before) {
            passed++;
            printf("ok   %s/%s\n", suite, tests[i].name);
        } else {
            failed++;
            printf("FAIL %s/%s\n", suite, tests[i].name);
        }
    }
    printf("%s: %d passed, %d failed\n", suite, passed, failed);
    return failed ? 1 : 0;
}

#define TEST_MAIN(suite, ...)                                               \
    int main(void) {                                                        \
        static const test_case t_tests[] = {__VA_ARGS__};                   \
        return run_tests(suite, t_tests, sizeof t_tests / sizeof *t_tests); \
    }
#define T(fn) {#fn, fn}

/* write text to a file (test fixtures) */
static inline void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    fputs(text, f);
    fclose(f);
}

#endif
