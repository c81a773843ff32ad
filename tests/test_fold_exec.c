/* Folds fitted elsewhere (bml_run_experiment_exec): a study whose folds go through bml_fold_job_run's bytes
 * and bml_fold_job_accept, in any order, writes the files of the study run on threads, byte for byte; bytes
 * cut short, with a byte flipped, with an index out of range, from another study or of another latent size
 * are refused; a failed fold fails the study naming it and leaves no run directory; a worker process writes
 * nothing. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

#define CONFIGS BML_SOURCE_DIR "/configs"

static char outdir[64];

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static bml_config *study(const char *run_name, const char *const *extra, size_t n_extra) {
    char od[128], rn[128];
    snprintf(od, sizeof od, "output_dir=%s", outdir);
    snprintf(rn, sizeof rn, "run_name=%s", run_name);
    const char *ov[16] = {od, rn, "split=loco", "data.experiment=5", "figures=false"};
    size_t n = 5;
    for (size_t i = 0; i < n_extra && n < 16; i++) ov[n++] = extra[i];
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, n, &c));
    return c;
}

/* the same bytes in both run directories */
static void check_same_file(const char *a, const char *b, const char *name) {
    char *pa = bml__path_join(a, name), *pb = bml__path_join(b, name), *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    CHECK_OK(bml__read_file(pa, &da, &la));
    CHECK_OK(bml__read_file(pb, &db, &lb));
    int same = da && db && la == lb && !memcmp(da, db, la);
    if (!same) fprintf(stderr, "  %s differs\n", name);
    CHECK(same);
    free(pa), free(pb), free(da), free(db);
}

/* ------------------------------------------------------------------ executors */
typedef enum { IN_REVERSE, WORKER, FAIL_ONE, LEAVE_ONE, MALFORMED, CAPTURE, OTHER_LATENT } mode_t_;

typedef struct {
    mode_t_ mode;
    int n_refused; /* MALFORMED: bytes refused as they should be */
    int n_tried;
} exec_ctx;

/* fold f run here and taken in, as another process would */
static bml_status run_accept(bml_fold_job *job, size_t f) {
    char *b = NULL;
    size_t n = 0;
    bml_status st = bml_fold_job_run(job, f, &b, &n);
    if (st == BML_OK) st = bml_fold_job_accept(job, f, b, n);
    free(b);
    return st;
}

/* bytes that must be refused with BML_ERR_PARSE, the fold left free */
static void refuse(exec_ctx *c, bml_fold_job *job, const char *b, size_t n, const char *needle) {
    c->n_tried++;
    bml_status st = bml_fold_job_accept(job, 0, b, n);
    if (st == BML_ERR_PARSE && (!needle || strstr(bml_last_error(), needle))) c->n_refused++;
    else fprintf(stderr, "  %zu bytes: expected a refusal with '%s', got %s: %s\n", n, needle ? needle : "", bml_status_name(st), bml_last_error());
}

static bml_status run_exec(bml_config *c, exec_ctx *ctx, bml_run_result **r);

/* CAPTURE: fold 1's bytes of the `other` study, kept here; OTHER_LATENT offers them to a study of another latent size
 * (acla: latent_dim + augment_dim 20, so 28 against the default 84) */
static bml_config *other;
static char *captured;
static size_t n_captured;

static bml_status exec_run(void *user, bml_fold_job *job, int *assemble) {
    exec_ctx *c = user;
    size_t F = bml_fold_job_n_folds(job);
    *assemble = c->mode != WORKER && c->mode != CAPTURE;
    if (c->mode == CAPTURE) return bml_fold_job_run(job, 1, &captured, &n_captured);
    if (c->mode == OTHER_LATENT) {
        BML__TRY(run_accept(job, 1)); /* fold 1 first: refuse() offers its bytes as fold 0 */
        exec_ctx cap = {CAPTURE, 0, 0};
        bml_run_result *r = NULL;
        BML__TRY(run_exec(other, &cap, &r));
        bml_run_result_free(r);
        refuse(c, job, captured, n_captured, "has latent size 28, the folds before it 84");
        free(captured);
        captured = NULL;
        for (size_t f = 0; f < F; f++)
            if (f != 1) BML__TRY(run_accept(job, f));
        return BML_OK;
    }
    if (c->mode == MALFORMED) {
        char *b = NULL;
        size_t n = 0;
        BML__TRY(bml_fold_job_run(job, 0, &b, &n));
        char *m = malloc(n + 1);
        for (size_t k = 0; k < n; k += k < 512 ? 1 : n / 97 + 1) refuse(c, job, b, k, NULL); /* cut short */
        memcpy(m, b, n);
        m[n] = 0;
        refuse(c, job, m, n + 1, "bytes after the end");
        m[0] ^= 1;
        refuse(c, job, m, n, "not a fold result");
        m[0] ^= 1;
        m[8] ^= 1; /* the number of features */
        refuse(c, job, m, n, "a different configuration or data?");
        m[8] ^= 1;
        memset(m + 56, 0xff, 8); /* the first evaluated row: out of range */
        refuse(c, job, m, n, "the evaluated rows");
        memcpy(m, b, n);
        m[48] = 2; /* eval_is_test: neither 0 nor 1 */
        refuse(c, job, m, n, "eval_is_test");
        memcpy(m, b, n);
        /* the model's files name plain relative paths: no hidden file, no "..", no empty component */
        size_t at = n;
        for (size_t k = 0; k + 10 <= n && at == n; k++)
            if (!memcmp(m + k, "model.json", 10)) at = k;
        CHECK(at < n);
        if (at < n) {
            static const char bad[][11] = {".model.jso", "../x.json/", "model.jso/", "model//jso", "a/../jsonx"};
            for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                memcpy(m + at, bad[i], 10);
                refuse(c, job, m, n, "is not a plain relative path");
            }
        }
        free(m);
        bml_status st = bml_fold_job_accept(job, 0, b, n);
        if (st == BML_OK) CHECK_ERR(bml_fold_job_accept(job, 0, b, n), BML_ERR_STATE, "a second result");
        free(b);
        for (size_t f = 1; st == BML_OK && f < F; f++) st = run_accept(job, f);
        return st;
    }
    for (size_t k = 0; k < F; k++) {
        size_t f = c->mode == IN_REVERSE ? F - 1 - k : k;
        if (c->mode == FAIL_ONE && f == 3) {
            BML__TRY(bml_fold_job_fail(job, f, "the rank's disk is full"));
            continue;
        }
        if (c->mode == LEAVE_ONE && f == 2) continue;
        if (c->mode == WORKER && k >= 2) break; /* a worker fits some folds and hands them on */
        if (c->mode == WORKER) {
            char *b = NULL;
            size_t n = 0;
            BML__TRY(bml_fold_job_run(job, f, &b, &n));
            free(b);
            continue;
        }
        BML__TRY(run_accept(job, f));
    }
    return BML_OK;
}

static bml_status run_exec(bml_config *c, exec_ctx *ctx, bml_run_result **r) {
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    bml_fold_executor ex = {.run = exec_run, .user = ctx};
    return bml_run_experiment_exec(c, &o, &ex, r);
}

/* ------------------------------------------------------------------ tests */
static void same_as_threads(const char *name, const char *const *extra, size_t n_extra, const char *const *files, size_t n_files) {
    char a[64], b[64];
    snprintf(a, sizeof a, "%s-threads", name);
    snprintf(b, sizeof b, "%s-exec", name);
    bml_config *ca = study(a, extra, n_extra), *cb = study(b, extra, n_extra);
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    bml_run_result *ra = NULL, *rb = NULL;
    exec_ctx ctx = {IN_REVERSE, 0, 0};
    if (ca && cb) {
        CHECK_OK(bml_run_experiment(ca, &o, &ra));
        CHECK_OK(run_exec(cb, &ctx, &rb));
    }
    if (ra && rb) {
        CHECK_INT(ra->n_folds, rb->n_folds);
        for (size_t i = 0; i < n_files; i++) check_same_file(ra->run_dir, rb->run_dir, files[i]);
    }
    bml_run_result_free(ra), bml_run_result_free(rb);
    bml_config_free(ca), bml_config_free(cb);
}

static void test_lgbm_same_files(void) {
    static const char *const files[] = {"metrics.json", "predictions.csv", "shap.csv", "importance.csv", "model/E5-A/model.json",
                                        "model/E5-A/booster_0.json", "model/E5-A/preprocess.json", "model/E5-H/booster_0.json"};
    same_as_threads("lgbm", NULL, 0, files, sizeof files / sizeof *files);
}

static void test_sequence_same_files(void) {
    static const char *const extra[] = {"model=acla", "pipeline=latent_ode_seq", "training.epochs=2"};
    static const char *const files[] = {"metrics.json", "predictions.csv", "step_metrics.csv", "attention.csv", "latent.csv",
                                        "model/E5-B/model.json", "model/E5-B/preprocess.json"};
    same_as_threads("acla", extra, 3, files, sizeof files / sizeof *files);
}

/* prediction intervals travel with the fold's result (BMLFOLD2), and so do the CV+ models saved for `predict` (among
 * the model's files) */
static void test_intervals_same_files(void) {
    static const char *const extra[] = {"model=ridge", "uncertainty=cv_plus", "uncertainty.groups=3", "explain.enabled=false"};
    static const char *const files[] = {"metrics.json", "predictions.csv", "model/E5-A/uncertainty/cvplus.json",
                                        "model/E5-A/uncertainty/group_0/model.json", "model/E5-H/uncertainty/group_2/model.json"};
    same_as_threads("intervals", extra, 4, files, sizeof files / sizeof *files);
    char p[512];
    snprintf(p, sizeof p, "%s/intervals-exec/predictions.csv", outdir);
    char *t = NULL;
    CHECK_OK(bml__read_file(p, &t, NULL));
    CHECK(t && strstr(t, ",lower_soh,upper_soh\n"));
    free(t);
}

static void test_malformed_refused(void) {
    bml_config *c = study("malformed", NULL, 0);
    exec_ctx ctx = {MALFORMED, 0, 0};
    bml_run_result *r = NULL;
    if (c) CHECK_OK(run_exec(c, &ctx, &r));
    CHECK(ctx.n_tried > 500);
    CHECK_INT(ctx.n_refused, ctx.n_tried);
    CHECK(r && r->run_dir);
    bml_run_result_free(r);
    bml_config_free(c);
}

/* one model gives every fold the same latent size: a result of another size is refused, the fold left free */
static void test_other_latent_size_refused(void) {
    static const char *const seq[] = {"model=acla", "pipeline=latent_ode_seq", "training.epochs=1", "model.latent_dim=8"};
    bml_config *c = study("latent64", seq, 3);
    other = study("latent8", seq, 4);
    exec_ctx ctx = {OTHER_LATENT, 0, 0};
    bml_run_result *r = NULL;
    if (c && other) CHECK_OK(run_exec(c, &ctx, &r));
    CHECK_INT(ctx.n_tried, 1);
    CHECK_INT(ctx.n_refused, 1);
    CHECK(r && r->run_dir);
    bml_run_result_free(r);
    bml_config_free(c);
    bml_config_free(other);
    other = NULL;
}

static void test_failed_fold_named(void) {
    int before = count_entries(outdir);
    bml_config *c = study("failing", NULL, 0);
    bml_run_result *r = NULL;
    exec_ctx ctx = {FAIL_ONE, 0, 0};
    if (c) CHECK_ERR(run_exec(c, &ctx, &r), BML_ERR_BACKEND, "fold E5-D: the rank's disk is full");
    CHECK(r == NULL);
    CHECK_INT(count_entries(outdir), before); /* no run directory, no staging leftovers */
    bml_config_free(c);
    c = study("leaving", NULL, 0);
    ctx.mode = LEAVE_ONE;
    if (c) CHECK_ERR(run_exec(c, &ctx, &r), BML_ERR_STATE, "fold E5-C: no result came back");
    CHECK_INT(count_entries(outdir), before);
    bml_config_free(c);
}

static void test_worker_writes_nothing(void) {
    int before = count_entries(outdir);
    bml_config *c = study("worker", NULL, 0);
    bml_run_result *r = NULL;
    exec_ctx ctx = {WORKER, 0, 0};
    if (c) CHECK_OK(run_exec(c, &ctx, &r));
    CHECK(r && !r->run_dir && !r->metrics_json && r->n_folds == 8);
    CHECK_INT(count_entries(outdir), before);
    bml_run_result_free(r);
    bml_config_free(c);
}

int main(void) {
    snprintf(outdir, sizeof outdir, "/tmp/bml-test-fold-exec-XXXXXX");
    if (!mkdtemp(outdir)) return 1;
    static const test_case tests[] = {T(test_lgbm_same_files),        T(test_sequence_same_files),
                                      T(test_malformed_refused),      T(test_other_latent_size_refused),
                                      T(test_failed_fold_named),      T(test_worker_writes_nothing),
                                      T(test_intervals_same_files)};
    int rc = run_tests("fold_exec", tests, sizeof tests / sizeof *tests);
    bml__rm_rf(outdir);
    return rc;
}
