/* Failure injection loops, as SQLite tests its allocator (the BML_FAULT_INJECT build only: src/core/fault.c).
 * Each function under test runs again and again, failing its 1st, 2nd, 3rd, ... allocation (or output call),
 * until a run no longer reaches the nth call. Every run must either fail cleanly (a status, nothing leaked,
 * nothing half made: LeakSanitizer and UBSan watch the rest) or give exactly the result of the clean run.
 * tests/fault_inject.py does the same for whole commands. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "nn/mlp_net.h"
#include "test.h"
#include "track/track.h"

enum { ALLOC = 0, IO = 1 };

static char tmp[64];

/* the experiment-5 samples of the summary_set pipeline */
static bml_samples *expt5(void) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("summary_set", NULL, 0, &p));
    if (ds && p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    return s;
}

/* metrics.json's content: every part of it or NULL (it once dropped the groups and folds whose memory ran out
 * and wrote the rest as if whole) */
static void test_metrics_every_allocation(void) {
    bml_samples *s = expt5();
    bml_split *sp = NULL;
    bml_config *cfg = NULL;
    if (s) CHECK_OK(bml_split_create("loco", NULL, 0, s, 42, &sp));
    CHECK_OK(bml_config_compose(BML_SOURCE_DIR "/configs", NULL, 0, &cfg));
    size_t O = s ? s->n_targets : 0, n = s ? s->n : 0;
    size_t *idx = calloc(n + 1, sizeof *idx), *fold = calloc(n + 1, sizeof *fold);
    double *pred = calloc(n * O + 1, sizeof *pred);
    if (!s || !sp || !cfg || !idx || !fold || !pred) goto out;
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
        fold[i] = i % sp->n_folds;
        for (size_t k = 0; k < O; k++) pred[i * O + k] = s->y[i * O + k] + 0.01 * (double)(i % 7);
    }
    bml__track_eval ev = {n, idx, fold, pred};
    const bml_kv study[2] = {{"data", "oxford"}, {"seed", "42"}};
    cJSON *ref = bml__track_metrics(s, &ev, sp, study, 2);
    char *want = ref ? cJSON_Print(ref) : NULL;
    cJSON_Delete(ref);
    CHECK(want != NULL);
    unsigned long k = 1, calls = 0;
    int wrong = 0, failed = 0;
    for (; want; k++) {
        bml__fault_arm(ALLOC, k);
        cJSON *m = bml__track_metrics(s, &ev, sp, study, 2);
        calls = bml__fault_arm(ALLOC, 0);
        char *got = m ? cJSON_Print(m) : NULL;
        cJSON_Delete(m);
        if (!m) failed++;
        if ((!m && calls < k) || (m && (!got || strcmp(got, want)))) {
            if (!wrong++) fprintf(stderr, "  allocation %lu of %lu failed: %s\n", k, calls, m ? "an incomplete result" : "NULL");
        }
        free(got);
        if (calls < k) break;
    }
    CHECK_INT(wrong, 0);
    CHECK(failed > 10); /* the loop did fail the function's allocations */
    printf("  metrics: %lu allocations, each failed once\n", k - 1);
    free(want);
out:
    free(idx);
    free(fold);
    free(pred);
    bml_config_free(cfg);
    bml_split_free(sp);
    bml_samples_free(s);
}

/* a network that runs out of memory half made is freed whole (its free once read a missing array) */
static void test_mlp_net_every_allocation(void) {
    const int dims[] = {5, 16, 16, 1};
    unsigned long k = 1, calls = 0;
    int wrong = 0;
    for (;; k++) {
        bml__mlp_net *net = NULL;
        bml__fault_arm(ALLOC, k);
        bml_status st = bml__mlp_net_create(dims, 3, 1, 0.1f, 7, &net);
        calls = bml__fault_arm(ALLOC, 0);
        if ((st == BML_OK) != (calls < k) || (st != BML_OK && (st != BML_ERR_NOMEM || net))) wrong++;
        bml__mlp_net_free(net);
        if (calls < k) break;
    }
    CHECK_INT(wrong, 0);
    CHECK(k > 10);
}

static int n_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static char *slurp(const char *path) {
    char *s = NULL;
    size_t len;
    return bml__read_file(path, &s, &len) == BML_OK ? s : NULL;
}

/* a file replaced crash-safely: the old content or the new one, nothing else in the directory */
static void test_write_file_atomic_every_failure(void) {
    char dir[96], path[128];
    snprintf(dir, sizeof dir, "%s/atomic", tmp);
    snprintf(path, sizeof path, "%s/f.txt", dir);
    CHECK_OK(bml__mkdir_p(dir));
    for (int kind = ALLOC; kind <= IO; kind++) {
        unsigned long k = 1, calls = 0;
        int wrong = 0;
        for (;; k++) {
            write_text(path, "old\n");
            bml__fault_arm(kind, k);
            bml_status st = bml__write_file_atomic(path, "new content\n", 12);
            calls = bml__fault_arm(kind, 0);
            char *got = slurp(path);
            int is_new = got && !strcmp(got, "new content\n"), is_old = got && !strcmp(got, "old\n");
            if ((st == BML_OK && !is_new) || (st != BML_OK && !is_new && !is_old) || n_entries(dir) != 1 ||
                (st != BML_OK && !*bml_last_error()) || (st == BML_OK) != (calls < k))
                wrong++;
            free(got);
            if (calls < k) break;
        }
        CHECK_INT(wrong, 0);
        CHECK(k > 2);
    }
}

/* a staged directory: published whole, or nothing left but a complete directory */
static void test_stage_every_failure(void) {
    char parent[96];
    snprintf(parent, sizeof parent, "%s/stage", tmp);
    for (int kind = ALLOC; kind <= IO; kind++) {
        unsigned long k = 1, calls = 0;
        int wrong = 0;
        for (;; k++) {
            bml__rm_rf(parent);
            bml__fault_arm(kind, k);
            bml__stage sd;
            char *final = NULL, *a = NULL, *sub = NULL, *b = NULL;
            bml_status st = bml__stage_open(&sd, parent, "t");
            if (st == BML_OK) {
                a = bml__path_join(sd.path, "a.txt");
                sub = bml__path_join(sd.path, "sub");
                b = sub ? bml__path_join(sub, "b.txt") : NULL;
                st = a && sub && b ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
                if (st == BML_OK) st = bml__write_file(a, "a\n", 2);
                if (st == BML_OK) st = bml__mkdir_p(sub);
                if (st == BML_OK) st = bml__write_file(b, "b\n", 2);
                if (st == BML_OK) st = bml__stage_publish(&sd, parent, "run", 0, &final);
                else bml__stage_discard(&sd);
            }
            calls = bml__fault_arm(kind, 0);
            char pa[128], pb[128];
            snprintf(pa, sizeof pa, "%s/run/a.txt", parent);
            snprintf(pb, sizeof pb, "%s/run/sub/b.txt", parent);
            char *ga = slurp(pa), *gb = slurp(pb);
            int whole = ga && gb && !strcmp(ga, "a\n") && !strcmp(gb, "b\n");
            int n = n_entries(parent); /* the run alone, or nothing */
            if ((st == BML_OK && (!whole || !final)) || n > 1 || (n == 1 && !whole) || (st != BML_OK && !*bml_last_error()) ||
                (st == BML_OK) != (calls < k))
                wrong++;
            free(ga);
            free(gb);
            free(final);
            free(a);
            free(sub);
            free(b);
            if (calls < k) break;
        }
        CHECK_INT(wrong, 0);
        CHECK(k > 5);
    }
    bml__rm_rf(parent);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bml-test-fault-XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    static const test_case tests[] = {T(test_metrics_every_allocation), T(test_mlp_net_every_allocation),
                                      T(test_write_file_atomic_every_failure), T(test_stage_every_failure)};
    int rc = run_tests("fault", tests, sizeof tests / sizeof *tests);
    bml__rm_rf(tmp);
    return rc;
}
