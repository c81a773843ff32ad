/* Core helpers: strict number parsing, lists, typed parameters, RNG, metrics. */
#define _POSIX_C_SOURCE 200809L
#include "core/internal.h"
#include "test.h"

#include <time.h>

static void test_parse_numbers(void) {
    double d;
    long l;
    CHECK_INT(bml__parse_double(" 1.5e-3 ", &d), 0);
    CHECK_NEAR(d, 1.5e-3, 0);
    CHECK(bml__parse_double("", &d) != 0);
    CHECK(bml__parse_double("1.5x", &d) != 0);
    CHECK(bml__parse_double("nan", &d) != 0);
    CHECK(bml__parse_double("inf", &d) != 0);
    CHECK(bml__parse_double("1e999", &d) != 0);
    CHECK_INT(bml__parse_long("-12", &l), 0);
    CHECK_INT(l, -12);
    CHECK(bml__parse_long("1.0", &l) != 0);
    int b;
    CHECK_INT(bml__parse_bool("True", &b), 0);
    CHECK_INT(b, 1);
    CHECK(bml__parse_bool("maybe", &b) != 0);
}

/* the decimal fast path gives bit-identical results to strtod */
static void test_parse_fast_path_matches_strtod(void) {
    const char *fixed[] = {"0", "-0", "0.0", "1", "-1.5", ".5", "5.", "4878.88456988181", "5621.3342942788095",
                           "0.1033642231813236", "0.0086352080887809", "1e-22", "9007199254740993", "123456789012345678",
                           "1.7976931348623157e308", "2.2250738585072014e-308", "4.9e-324", "3.14159e5", "1E+3", "0.000001",
                           "0x1p3", "1e", "e5", ".", "-", "+.5", "12abc", " 7 ", "1e400", "-1e-400", "00012.5000"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        double a = 0, b = 0;
        int ra = bml__parse_double(fixed[i], &a), rb = bml__parse_double_strtod(fixed[i], &b);
        if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof a) != 0)) {
            fprintf(stderr, "  '%s': fast %d %.17g, strtod %d %.17g\n", fixed[i], ra, a, rb, b);
            t_fail_count++;
        }
    }
    /* random decimals of 1..19 digits and exponents -30..30 */
    bml__rng r;
    bml__rng_seed(&r, 1);
    int mismatches = 0;
    for (int k = 0; k < 200000; k++) {
        char buf[64];
        int nd = 1 + (int)(bml__rng_next(&r) % 19), dot = (int)(bml__rng_next(&r) % (unsigned)(nd + 1));
        size_t o = 0;
        if (bml__rng_next(&r) & 1) buf[o++] = '-';
        for (int d = 0; d < nd; d++) {
            if (d == dot) buf[o++] = '.';
            buf[o++] = (char)('0' + bml__rng_next(&r) % 10);
        }
        if (bml__rng_next(&r) % 3 == 0) o += (size_t)snprintf(buf + o, sizeof buf - o, "e%d", (int)(bml__rng_next(&r) % 61) - 30);
        buf[o] = 0;
        double a = 0, b = 0;
        int ra = bml__parse_double(buf, &a), rb = bml__parse_double_strtod(buf, &b);
        if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof a) != 0)) {
            if (mismatches++ < 5) fprintf(stderr, "  '%s': fast %.17g, strtod %.17g\n", buf, a, b);
        }
    }
    CHECK_INT(mismatches, 0);
}

/* bml__scan_double (the Qdlin loader's field parser) against strtod: one field read in place, the same double to the
 * bit and the same refusals as bml__parse_double_strtod of the field as a string */
static int scan_vs_strtod(const char *field, int verbose) {
    size_t n = strlen(field);
    char *copy = malloc(n + 1); /* exactly the field's bytes: a read past them shows under ASan */
    if (!copy) abort();
    memcpy(copy, field, n);
    double a = 0, b = 0;
    const char *next = NULL;
    int ra = bml__scan_double(copy, copy + n, ',', &a, &next), rb = bml__parse_double_strtod(field, &b);
    int bad = ra != rb || next != copy + n || (ra == 0 && memcmp(&a, &b, sizeof a) != 0);
    if (bad && verbose) fprintf(stderr, "  '%s': scan %d %.17g (next +%td), strtod %d %.17g\n", field, ra, a, next - copy, rb, b);
    free(copy);
    return bad;
}

static void test_scan_double_matches_strtod(void) {
    static const char *const fixed[] = {
        "0", "-0", "+0", "0.0", "-0.0e-0", "1", "+1", "-1.5", ".5", "-.5", "5.", "00012.5000", "1e-22", "1e22", "1e23",
        "1E+3", "3.14159e5", "0.000001", "0.0000000000000000000000001", "-0.00046003", "0.0003519", "1.0855",
        /* 2^53 and around it, 19 and 20 digits, long mantissas past any fast path */
        "9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995", "1234567890123456789",
        "12345678901234567890", "18446744073709551615", "18446744073709551616", "0.1000000000000000055511151231257827021181583404541015625",
        "0.1033642231813236", "4878.88456988181", "5621.3342942788095", "123456789012345678e-5", "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124", "1.00000000000000011102230246251565404236316680908203126",
        /* extremes: the largest, overflow (refused), the smallest normal, subnormals, underflow to 0 (accepted, as strtod) */
        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309", "1e400", "-1e400",
        "2.2250738585072014e-308", "2.2250738585072011e-308", "4.9e-324", "5e-324", "2.4703282292062327e-324",
        "2.4703282292062328e-324", "1e-320", "-1e-310", "1e-400", "-1e-400", "1e-99999", "1e99999", "0e99999",
        /* blanks around a number (bml__parse_double trims them), and what is no number */
        " 7", "7 ", " 7 ", "\t-2.5\r", "1 2", "", " ", ".", "-", "+", "+.", "-.e1", "e5", "1e", "1e+", "1e-", "1.e5", "1..2",
        "1e5.5", "--1", "+-1", "12abc", "1x", "0x1p3", "0x10", "nan", "NaN", "inf", "-inf", "infinity", "1,5"};
    int bad = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strchr(fixed[i], ',')) bad += scan_vs_strtod(fixed[i], 1);
    CHECK_INT(bad, 0);
    /* random decimals: 1..30 digits (leading zeros too), a point anywhere, a sign, exponents -350..350, some blanks */
    bml__rng r;
    bml__rng_seed(&r, 7);
    int mismatches = 0;
    for (int k = 0; k < 300000; k++) {
        char buf[96];
        size_t o = 0;
        unsigned form = (unsigned)(bml__rng_next(&r) % 16);
        if (form == 0) buf[o++] = ' ';
        unsigned sg = (unsigned)(bml__rng_next(&r) % 3);
        if (sg) buf[o++] = sg == 1 ? '-' : '+';
        int nd = 1 + (int)(bml__rng_next(&r) % (form < 8 ? 19 : 30)), dot = (int)(bml__rng_next(&r) % (unsigned)(nd + 2)) - 1;
        int zeros = form % 4 == 1 ? (int)(bml__rng_next(&r) % 8) : 0;
        for (int d = 0; d < nd; d++) {
            if (d == dot) buf[o++] = '.';
            buf[o++] = (char)('0' + (d < zeros ? 0 : bml__rng_next(&r) % 10));
        }
        if (form % 3 == 0) {
            int e = form % 2 ? (int)(bml__rng_next(&r) % 701) - 350 : (int)(bml__rng_next(&r) % 61) - 30;
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%d", bml__rng_next(&r) & 1 ? "e" : "E", e);
        }
        if (form == 15) buf[o++] = '\t';
        buf[o] = 0;
        if (scan_vs_strtod(buf, mismatches < 5)) mismatches++;
    }
    CHECK_INT(mismatches, 0);
    /* the shortest text of random doubles of every magnitude (the loader's files are such texts), and 17 digits */
    mismatches = 0;
    for (int k = 0; k < 100000; k++) {
        uint64_t bits = bml__rng_next(&r);
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) continue;
        char buf[64];
        snprintf(buf, sizeof buf, k & 1 ? "%.17g" : "%.15g", x);
        if (scan_vs_strtod(buf, mismatches < 5)) mismatches++;
    }
    CHECK_INT(mismatches, 0);
    /* fields of a record: each read up to its separator, *next at it; a NUL inside a field is no number */
    const char rec[] = "1.5,-2e-3,,x,0.25";
    const char *p = rec, *end = rec + strlen(rec), *next;
    double v[5];
    int rc[5];
    for (int f = 0; f < 5; f++) {
        rc[f] = bml__scan_double(p, end, ',', &v[f], &next);
        CHECK(next == end || *next == ',');
        p = next < end ? next + 1 : end;
    }
    CHECK(rc[0] == 0 && v[0] == 1.5 && rc[1] == 0 && v[1] == -2e-3 && rc[2] == -1 && rc[3] == -1 && rc[4] == 0 && v[4] == 0.25);
    const char nul[] = {'1', '\0', '5'};
    CHECK_INT(bml__scan_double(nul, nul + 3, ',', &v[0], &next), -1);
    CHECK(next == nul + 3);
}

static void test_lists(void) {
    double *v = NULL;
    size_t n = 0;
    CHECK_INT(bml__parse_double_list("[10, 40]", &v, &n), 0);
    CHECK_INT(n, 2);
    if (n == 2) CHECK_NEAR(v[1], 40, 0);
    free(v);
    CHECK_INT(bml__parse_double_list("25", &v, &n), 0);
    CHECK_INT(n, 1);
    free(v);
    CHECK(bml__parse_double_list("[1, x]", &v, &n) != 0);
    bml__strvec s = {0};
    CHECK_INT(bml__parse_string_list("['a', \"b\", c]", &s), 0);
    CHECK_INT(s.n, 3);
    if (s.n == 3) CHECK_STR(s.items[1], "b");
    bml__strvec_free(&s);
    CHECK_INT(bml__parse_string_list("[]", &s), 0);
    CHECK_INT(s.n, 0);
}

typedef struct {
    long n;
    double lr;
    char *name;
} P;
static const bml__param_spec SPECS[] = {
    {"n", BML__P_INT, offsetof(P, n), "10", 1, 100, 0, "count"},
    {"lr", BML__P_DOUBLE, offsetof(P, lr), "0.1", 0, 1, 1, "rate"},
    {"name", BML__P_STRING, offsetof(P, name), "x", 1, 0, 0, "a name"},
};

static void test_params(void) {
    P p = {0};
    CHECK_OK(bml__params_parse("thing", SPECS, 3, NULL, 0, &p));
    CHECK_INT(p.n, 10);
    CHECK_STR(p.name, "x");
    bml_kv kv[] = {{"lr", "0.5"}, {"name", "y"}};
    CHECK_OK(bml__params_parse("thing", SPECS, 3, kv, 2, &p));
    CHECK_NEAR(p.lr, 0.5, 0);
    CHECK_STR(p.name, "y");
    bml_kv neg[] = {{"lr", "-0.1"}};
    CHECK_ERR(bml__params_parse("thing", SPECS, 3, neg, 1, &p), BML_ERR_VALUE, "thing: lr must be > 0 (got -0.1)");
    bml_kv zero[] = {{"n", "0"}};
    CHECK_ERR(bml__params_parse("thing", SPECS, 3, zero, 1, &p), BML_ERR_VALUE, "n must be >= 1");
    bml_kv unk[] = {{"nn", "1"}};
    CHECK_ERR(bml__params_parse("thing", SPECS, 3, unk, 1, &p), BML_ERR_VALUE, "unknown parameter 'nn' (valid: n, lr, name)");
    bml_kv txt[] = {{"n", "ten"}};
    CHECK_ERR(bml__params_parse("thing", SPECS, 3, txt, 1, &p), BML_ERR_VALUE, "n expects an integer, got 'ten'");
    bml__params_free(SPECS, 3, &p);
    CHECK(p.name == NULL);
}

static void test_rng(void) {
    bml__rng a, b;
    bml__rng_seed(&a, 42);
    bml__rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(bml__rng_next(&a) == bml__rng_next(&b));
    bml__rng_seed(&b, 43);
    CHECK(bml__rng_next(&a) != bml__rng_next(&b));
    size_t idx[50];
    for (size_t i = 0; i < 50; i++) idx[i] = i;
    bml__rng_shuffle(&a, idx, 50);
    int seen[50] = {0}, moved = 0;
    for (size_t i = 0; i < 50; i++) seen[idx[i]]++, moved += idx[i] != i;
    for (size_t i = 0; i < 50; i++) CHECK_INT(seen[i], 1);
    CHECK(moved > 0);
    double u = bml__rng_uniform(&a);
    CHECK(u >= 0 && u < 1);
}

static void test_metrics(void) {
    double t[] = {1, 2, 3, 4}, p[] = {1.5, 2, 2, 4};
    bml_metrics m = bml_metrics_compute(t, p, 4, 1);
    CHECK_NEAR(m.rmse, sqrt((0.25 + 1) / 4), 1e-15);
    CHECK_NEAR(m.mae, 1.5 / 4, 1e-15);
    CHECK_NEAR(m.mape, 100 * (0.5 + 1.0 / 3) / 4, 1e-12);
    CHECK_NEAR(m.r2, 1 - 1.25 / 5, 1e-15);
    CHECK_NEAR(m.max_abs_error, 1, 0);
    /* a NaN prediction makes every metric NaN, max|e| included (it was 0) */
    double t1[2] = {1, 2}, p1[2] = {NAN, 2};
    bml_metrics mn = bml_metrics_compute(t1, p1, 2, 1);
    CHECK(isnan(mn.max_abs_error) && isnan(mn.rmse));
    /* stride reads one column of an (n, 2) matrix */
    double t2[] = {1, 9, 2, 9}, p2[] = {1, 0, 3, 0};
    bml_metrics m2 = bml_metrics_compute(t2, p2, 2, 2);
    CHECK_NEAR(m2.mae, 0.5, 0);
    double c[] = {1, 1};
    CHECK(isnan(bml_metrics_compute(c, c, 2, 1).r2));
    CHECK(isnan(bml_metrics_compute(c, c, 0, 1).rmse));
    /* an unknown truth (a censored cell's life, predicted all the same) is left out; n counts the pairs used */
    double t3[] = {1, NAN, 3, NAN}, p3[] = {2, 5, 3, NAN};
    bml_metrics m3 = bml_metrics_compute(t3, p3, 4, 1);
    CHECK_INT(m3.n, 2);
    CHECK_NEAR(m3.rmse, sqrt(0.5), 1e-15);
    CHECK_NEAR(m3.max_abs_error, 1, 0);
    CHECK_NEAR(m3.r2, 1 - 1.0 / 2, 1e-15);
    CHECK(isnan(bml_metrics_compute(t3 + 1, p3 + 1, 1, 1).rmse) && bml_metrics_compute(t3 + 1, p3 + 1, 1, 1).n == 0);
}

/* the data layer's pool: every task once, whatever the threads; results taken in order while the workers go
 * on; ended early, no task is handed out after */
static void pool_count(void *ctx, size_t i) { __atomic_add_fetch(&((int *)ctx)[i], 1, __ATOMIC_RELAXED); }
static void pool_slow(void *ctx, size_t i) {
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    pool_count(ctx, i);
}
static void test_pool(void) {
    enum { N = 97 };
    int threads[4] = {1, 2, 5, 300};
    for (int t = 0; t < 4; t++) {
        int hits[N] = {0};
        bml__parallel_run(N, threads[t], pool_count, hits, NULL);
        int once = 1;
        for (int i = 0; i < N; i++) once &= hits[i] == 1;
        CHECK(once);
        int seen[N] = {0};
        bml__pool *p = NULL;
        CHECK_OK(bml__pool_start(N, threads[t], pool_count, seen, NULL, &p));
        if (!p) continue;
        int ordered = 1;
        for (int i = 0; i < N; i++) {
            bml__pool_wait(p, (size_t)i);
            ordered &= __atomic_load_n(&seen[i], __ATOMIC_RELAXED) == 1;
        }
        CHECK(ordered);
        CHECK_INT((int)bml__pool_end(p), N);
    }
    int slow[N] = {0};
    bml__pool *p = NULL;
    CHECK_OK(bml__pool_start(N, 2, pool_slow, slow, NULL, &p));
    if (p) {
        bml__pool_wait(p, 0);
        size_t ran = bml__pool_end(p);
        int total = 0;
        for (int i = 0; i < N; i++) total += slow[i];
        CHECK((int)ran == total);
        CHECK(ran >= 1 && ran < N); /* stopped early: the rest never handed out */
    }
    bml__parallel_run(0, 4, pool_count, NULL, NULL); /* nothing to run */
}

static void test_status_names(void) {
    CHECK_STR(bml_status_name(BML_ERR_PARSE), "BML_ERR_PARSE");
    CHECK_STR(bml_status_describe(BML_OK), "success");
}

TEST_MAIN("core", T(test_parse_numbers), T(test_parse_fast_path_matches_strtod), T(test_scan_double_matches_strtod), T(test_lists), T(test_params), T(test_rng), T(test_metrics), T(test_pool), T(test_status_names))
