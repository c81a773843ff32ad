/* Helpers shared by the fuzz targets (see fuzz_util.h). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"

#ifndef BML_SOURCE_DIR
#define BML_SOURCE_DIR "."
#endif

static char *scratch;
static pid_t scratch_owner;

static void scratch_cleanup(void) {
    if (scratch && getpid() == scratch_owner) bml__rm_rf(scratch);
    free(scratch);
    scratch = NULL;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "fuzz harness: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

const char *fz_scratch(void) {
    if (scratch) return scratch;
    const char *bases[3] = {getenv("TMPDIR"), "/dev/shm", "/tmp"};
    for (int i = 0; i < 3 && !scratch; i++) {
        struct stat sb;
        if (!bases[i] || !*bases[i] || stat(bases[i], &sb) != 0 || !S_ISDIR(sb.st_mode) || access(bases[i], W_OK) != 0)
            continue;
        char *t = bml__sprintf("%s/bml-fuzz-XXXXXX", bases[i]);
        if (!t) die("out of memory for", bases[i]);
        if (mkdtemp(t)) scratch = t;
        else free(t);
    }
    if (!scratch) die("cannot create a scratch folder in", "$TMPDIR, /dev/shm or /tmp");
    scratch_owner = getpid();
    atexit(scratch_cleanup);
    return scratch;
}

char *fz_write(const char *dir, const char *name, const uint8_t *data, size_t len) {
    char *path = bml__path_join(dir, name);
    if (!path) die("out of memory for", name);
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write", path);
    if ((len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) die("cannot write", path);
    return path;
}

char *fz_fresh_dir(const char *name) {
    char *path = bml__path_join(fz_scratch(), name);
    if (!path) die("out of memory for", name);
    struct stat sb;
    if (stat(path, &sb) == 0 && bml__rm_rf(path) != BML_OK) die("cannot empty", path);
    if (mkdir(path, 0700) != 0) die("cannot create", path);
    return path;
}

size_t fz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens, size_t max) {
    size_t n = 0, start = 0;
    for (size_t i = 0; i < max; i++) parts[i] = data, lens[i] = 0;
    while (n + 1 < max) {
        const uint8_t *hit = NULL;
        for (size_t i = start; i + FZ_SEP_LEN <= size; i++)
            if (!memcmp(data + i, FZ_SEP, FZ_SEP_LEN)) {
                hit = data + i;
                break;
            }
        if (!hit) break;
        parts[n] = data + start;
        lens[n] = (size_t)(hit - (data + start));
        n++;
        start = (size_t)(hit - data) + FZ_SEP_LEN;
    }
    parts[n] = data + start;
    lens[n] = size - start;
    return n + 1;
}

char *fz_strndup(const uint8_t *data, size_t len) {
    char *s = malloc(len + 1);
    if (!s) die("out of memory for", "an input copy");
    if (len) memcpy(s, data, len);
    s[len] = 0;
    return s;
}

void fz_reset_error(void) { (void)bml__fail(BML_OK, "%s", ""); }

void fz_check_status(bml_status st, const char *what) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
    const char *msg = bml_last_error();
    if (verbose) fprintf(stderr, "%s: %s\n", what, st == BML_OK ? "ok" : msg);
    if (st == BML_OK) return;
    if (!msg || !*msg) {
        fprintf(stderr, "fuzz harness: %s failed (status %d) without a message\n", what, (int)st);
        abort();
    }
}

_Noreturn void fz_fail(const char *target, const char *what, size_t n) {
    fprintf(stderr, "fuzz harness: %s: %s (%zu)\n", target, what, n);
    abort();
}

static int nonneg(double x) { return isnan(x) || x >= 0; }

bml_status fz_check_point(const bml_cycler_point *p, void *user) {
    fz_points *r = user;
    const char *t = r->target;
    if (p->line < 1 || (r->n && p->line <= r->prev.line)) fz_fail(t, "points do not rise", p->line);
    if (!isfinite(p->test_time_s)) fz_fail(t, "test time not finite", p->line);
    if (r->n && p->test_time_s < r->prev.test_time_s) fz_fail(t, "test time goes backwards", p->line);
    if (!isfinite(p->current_a) || !isfinite(p->voltage_v)) fz_fail(t, "current or voltage not finite", p->line);
    if (!(isnan(p->resistance_ohm) || p->resistance_ohm > 0)) fz_fail(t, "resistance neither NaN nor > 0", p->line);
    const double now[4] = {p->charge_ah, p->discharge_ah, p->charge_wh, p->discharge_wh};
    const double was[4] = {r->prev.charge_ah, r->prev.discharge_ah, r->prev.charge_wh, r->prev.discharge_wh};
    for (int k = 0; k < 4; k++) {
        if (!nonneg(now[k])) fz_fail(t, "a capacity or energy below 0", p->line);
        if (r->n && p->cycle == r->prev.cycle && (isnan(now[k]) != isnan(was[k]) || now[k] < was[k]))
            fz_fail(t, "a capacity or energy decreases within a cycle", p->line);
    }
    r->n++;
    r->prev = *p;
    return BML_OK;
}

void fz_check_summary(const char *target, const char *path, bml_cycler_format fmt, bml_status read_st) {
    bml_cycler_summary *s = NULL;
    fz_reset_error();
    bml_status st = bml_cycler_summarize(path, fmt, NULL, &s);
    fz_check_status(st, "bml_cycler_summarize");
    if (st == BML_OK && read_st != BML_OK) fz_fail(target, "the summary read a file that bml_cycler_read refused", 0);
    bml_cycler_summary_free(s);
}

const char *fz_source_dir(void) { return BML_SOURCE_DIR; }
