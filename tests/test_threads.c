/* Threads and reentrancy: whole studies run at the same time in one process, each in its own thread,
 * give what the same studies give one after the other, bit for bit, the networks training on one thread
 * one after the other and on three threads at once (the studies then share the networks' worker pool:
 * one loop owns it, the others run on their own thread); so do the registries listed from many threads at
 * once. KEEP=1 keeps the run directories (their path is printed). */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/internal.h"
#include "test.h"

#define CONFIGS BML_SOURCE_DIR "/configs"
#define MAX_OV 8

typedef struct {
    const char *name;            /* the run name */
    const char *ov[MAX_OV];      /* the study's own overrides */
} study;

/* tiny studies: one per kind of model (tree, dense network, BLAS-heavy sequence network, latent ODE) */
static const study studies[] = {
    {"lgbm", {"model=lgbm", "model.n_estimators=60"}},
    {"mlp", {"model=mlp", "training.epochs=15"}},
    {"lstm_attn", {"pipeline=latent_ode_seq", "model=lstm_attn", "pipeline.target=modes", "training.epochs=3"}},
    {"neural_ode", {"pipeline=latent_ode_seq", "model=neural_ode", "pipeline.target=modes", "training.epochs=2",
                    "model.solver=rk4"}},
    {"cnn_lstm", {"pipeline=latent_ode_seq", "model=cnn_lstm", "pipeline.target=modes", "training.epochs=2"}},
    {"acla", {"pipeline=latent_ode_seq", "model=acla", "pipeline.target=modes", "training.epochs=1"}},
};
#define N_STUDIES (sizeof studies / sizeof *studies)
static const char *const outputs[] = {"metrics.json", "predictions.csv", "step_metrics.csv", "attention.csv", "latent.csv"};
#define N_OUTPUTS (sizeof outputs / sizeof *outputs)

/* One study's run in one thread: everything a check needs is copied out, since the test harness's
 * counters belong to the main thread and bml_last_error() to the thread that failed. */
typedef struct {
    const study *s;
    const char *output_dir;
    const char *threads;         /* the training.threads override */
    bml_status st;
    char *error;                 /* the failing call's message (malloc'ed), NULL on success */
    char *metrics_json;          /* from bml_run_result, without its wall times (timing_s) */
    char *files[N_OUTPUTS];      /* each output file's content, NULL where the model writes none */
} job;

static void *run_job(void *arg) {
    job *j = arg;
    char *od = bml__sprintf("output_dir=%s", j->output_dir), *rn = bml__sprintf("run_name=%s", j->s->name);
    const char *ov[MAX_OV + 5] = {od, rn, "figures=false", "seed=42", j->threads};
    size_t n = 5;
    for (size_t i = 0; i < MAX_OV && j->s->ov[i]; i++) ov[n++] = j->s->ov[i];
    bml_config *c = NULL;
    bml_run_result *r = NULL;
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    j->st = od && rn ? bml_config_compose(CONFIGS, ov, n, &c) : BML_ERR_NOMEM;
    if (j->st == BML_OK) j->st = bml_run_experiment(c, &o, &r);
    if (j->st != BML_OK) j->error = bml__strdup(bml_last_error());
    if (r) {
        cJSON *m = cJSON_Parse(r->metrics_json);
        cJSON_DeleteItemFromObjectCaseSensitive(m, "timing_s");
        j->metrics_json = m ? cJSON_PrintUnformatted(m) : NULL;
        cJSON_Delete(m);
        for (size_t k = 0; k < N_OUTPUTS; k++) {
            char *p = bml__path_join(r->run_dir, outputs[k]);
            if (p && bml__is_file(p) && bml__read_file(p, &j->files[k], NULL) != BML_OK) j->files[k] = NULL;
            free(p);
        }
    }
    bml_run_result_free(r);
    bml_config_free(c);
    free(od);
    free(rn);
    return NULL;
}

static void job_release(job *j) {
    free(j->error);
    free(j->metrics_json);
    for (size_t k = 0; k < N_OUTPUTS; k++) free(j->files[k]);
}

static int job_ok(const job *j) {
    if (j->st == BML_OK && j->metrics_json && j->files[1]) return 1;
    fprintf(stderr, "  study %s: %s: %s\n", j->s->name, bml_status_name(j->st), j->error ? j->error : "no results");
    return 0;
}

static void test_concurrent_studies_match_sequential(void) {
    char root[] = "/tmp/bml-test-threads-XXXXXX";
    if (!mkdtemp(root)) {
        CHECK(!"mkdtemp");
        return;
    }
    char *seq_dir = bml__path_join(root, "one-after-the-other"), *par_dir = bml__path_join(root, "at-once");
    job seq[N_STUDIES] = {0}, par[N_STUDIES] = {0};
    for (size_t i = 0; i < N_STUDIES; i++) {
        seq[i] = (job){.s = &studies[i], .output_dir = seq_dir, .threads = "training.threads=1"};
        par[i] = (job){.s = &studies[i], .output_dir = par_dir, .threads = "training.threads=3"};
        run_job(&seq[i]);
    }
    pthread_t th[N_STUDIES];
    int started[N_STUDIES] = {0};
    for (size_t i = 0; i < N_STUDIES; i++) started[i] = pthread_create(&th[i], NULL, run_job, &par[i]) == 0;
    for (size_t i = 0; i < N_STUDIES; i++)
        if (started[i]) pthread_join(th[i], NULL);
    for (size_t i = 0; i < N_STUDIES; i++) {
        CHECK(started[i]);
        if (!started[i] || !job_ok(&seq[i]) || !job_ok(&par[i])) {
            t_fail_count++;
            continue;
        }
        if (strcmp(seq[i].metrics_json, par[i].metrics_json)) {
            fprintf(stderr, "  study %s: metrics differ between the sequential and the concurrent run\n", studies[i].name);
            t_fail_count++;
        }
        for (size_t k = 0; k < N_OUTPUTS; k++) {
            const char *a = seq[i].files[k], *b = par[i].files[k];
            if ((a == NULL) != (b == NULL) || (a && strcmp(a, b))) {
                fprintf(stderr, "  study %s: %s differs between the sequential and the concurrent run\n", studies[i].name,
                        outputs[k]);
                t_fail_count++;
            }
        }
    }
    CHECK(seq[2].files[3] != NULL); /* lstm_attn wrote its attention: the BLAS-heavy path ran */
    for (size_t i = 0; i < N_STUDIES; i++) {
        job_release(&seq[i]);
        job_release(&par[i]);
    }
    if (getenv("KEEP")) fprintf(stderr, "kept %s\n", root); else CHECK_OK(bml__rm_rf(root));
    free(seq_dir);
    free(par_dir);
}

/* The registries' parameter tables read from several threads at once: every thread sees the same
 * complete tables (the race itself is for ThreadSanitizer to see; this checks the contents). */
typedef struct {
    size_t n_params;
    int bad;
} listing;

static void *list_all(void *arg) {
    listing *l = arg;
    for (int rep = 0; rep < 50; rep++) {
        size_t total = 0;
        const bml_param_info *p = NULL;
        for (size_t i = 0; i < bml_model_registry_count(); i++) {
            size_t n = bml_model_registry_params(i, &p);
            for (size_t k = 0; k < n; k++) l->bad |= !p[k].key || !p[k].type || !p[k].default_value || !p[k].help;
            total += n;
        }
        for (size_t i = 0; i < bml_pipeline_registry_count(); i++) total += bml_pipeline_registry_params(i, &p);
        for (size_t i = 0; i < bml_split_registry_count(); i++) total += bml_split_registry_params(i, &p);
        if (rep && total != l->n_params) l->bad = 1;
        l->n_params = total;
    }
    return NULL;
}

static void test_registries_from_many_threads(void) {
    enum { N = 4 };
    pthread_t th[N];
    listing l[N] = {{0}};
    int started[N];
    for (int i = 0; i < N; i++) started[i] = pthread_create(&th[i], NULL, list_all, &l[i]) == 0;
    for (int i = 0; i < N; i++)
        if (started[i]) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        CHECK(started[i]);
        CHECK(!l[i].bad);
        CHECK(l[i].n_params > 0);
        CHECK_INT(l[i].n_params, l[0].n_params);
    }
}

TEST_MAIN("threads", T(test_concurrent_studies_match_sequential), T(test_registries_from_many_threads))
