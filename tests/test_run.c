/* The study runner through the library: the default study, LOCO, reproducibility, no half-written
 * run directory on failure, predict on a saved run; the crash-safe write path and staging directories. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/internal.h"
#include "test.h"

#define CONFIGS BML_SOURCE_DIR "/configs"

static char outdir[64];

static bml_run_result *run(const char *const *ov, size_t n, int write, bml_status want) {
    char od[128];
    snprintf(od, sizeof od, "output_dir=%s", outdir);
    const char *all[16];
    all[0] = od;
    for (size_t i = 0; i < n; i++) all[i + 1] = ov[i];
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, all, n + 1, &c));
    if (!c) return NULL;
    bml_run_opts o = {BML_SOURCE_DIR, NULL, NULL, write, NULL, NULL};
    bml_run_result *r = NULL;
    bml_status st = bml_run_experiment(c, &o, &r);
    if (st != want) {
        fprintf(stderr, "  run: expected %s, got %s: %s\n", bml_status_name(want), bml_status_name(st), bml_last_error());
        t_fail_count++;
    }
    bml_config_free(c);
    return r;
}

static double json_num(const char *json, const char *path1, const char *path2, const char *target, const char *metric) {
    cJSON *j = cJSON_Parse(json);
    cJSON *a = cJSON_GetObjectItemCaseSensitive(j, path1);
    if (path2) a = cJSON_GetObjectItemCaseSensitive(a, path2);
    a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, target), metric);
    double v = cJSON_IsNumber(a) ? a->valuedouble : NAN;
    cJSON_Delete(j);
    return v;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))) n++;
    if (d) closedir(d);
    return n;
}

static void test_default_study(void) {
    bml_run_result *r = run(NULL, 0, 1, BML_OK);
    if (!r) return;
    CHECK(r->run_dir != NULL);
    const char *files[] = {"config.yaml", "metrics.json", "predictions.csv", "shap.csv", "importance.csv",
                           "model/model.json", "model/booster_0.json", "model/preprocess.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *p = bml__path_join(r->run_dir, files[i]);
        CHECK(bml__is_file(p));
        free(p);
    }
    double rmse = json_num(r->metrics_json, "overall", NULL, "soh", "rmse");
    CHECK(rmse > 0 && rmse < 0.1);
    CHECK(isfinite(json_num(r->metrics_json, "per_temperature", "25", "soh", "r2")));
    CHECK(isfinite(json_num(r->metrics_json, "per_cell", "E5-D", "soh", "mae")));
    /* the resolved config reproduces the numbers exactly */
    char *cfgp = bml__path_join(r->run_dir, "config.yaml");
    bml_config *c = NULL;
    const char *ov[] = {"run_name=rerun"};
    CHECK_OK(bml_config_load_resolved(cfgp, CONFIGS, ov, 1, &c));
    bml_run_opts o = {BML_SOURCE_DIR, NULL, NULL, 1, NULL, NULL};
    bml_run_result *r2 = NULL;
    if (c) CHECK_OK(bml_run_experiment(c, &o, &r2));
    if (r2) {
        char *p1 = bml__path_join(r->run_dir, "predictions.csv"), *p2 = bml__path_join(r2->run_dir, "predictions.csv");
        char *a = NULL, *b = NULL;
        CHECK_OK(bml__read_file(p1, &a, NULL));
        CHECK_OK(bml__read_file(p2, &b, NULL));
        CHECK(a && b && !strcmp(a, b));
        free(a);
        free(b);
        free(p1);
        free(p2);
        CHECK_NEAR(json_num(r2->metrics_json, "overall", NULL, "soh", "rmse"), rmse, 0);
    }
    /* predict with the saved model on one of the validation cells reproduces its predictions */
    char out[128];
    snprintf(out, sizeof out, "%s/pred.csv", outdir);
    char *metrics = NULL;
    CHECK_OK(bml_run_predict(r->run_dir, DATA_DIR "/Expt 5 - cell E (25degC) - Processed Data.csv", NULL, out, &o, &metrics));
    CHECK(metrics != NULL);
    if (metrics) {
        cJSON *j = cJSON_Parse(metrics);
        double m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "soh"), "rmse")->valuedouble;
        CHECK_NEAR(m, json_num(r->metrics_json, "per_cell", "E5-E", "soh", "rmse"), 0);
        cJSON_Delete(j);
    }
    free(metrics);
    CHECK_ERR(bml_run_predict(r->run_dir, "/nonexistent.csv", NULL, out, &o, &metrics), BML_ERR_NOT_FOUND, "/nonexistent.csv");
    bml_run_result_free(r2);
    bml_config_free(c);
    free(cfgp);
    bml_run_result_free(r);
}

static void test_loco_and_modes(void) {
    const char *ov[] = {"split=loco", "pipeline.target=modes", "model.n_estimators=200"};
    bml_run_result *r = run(ov, 3, 1, BML_OK);
    if (!r) return;
    CHECK_INT(r->n_folds, 8);
    CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "LLI", "rmse")));
    CHECK(isfinite(json_num(r->metrics_json, "fold_summary", NULL, "LAM_PE", "rmse_mean")));
    char *p = bml__path_join(r->run_dir, "model/E5-A/model.json");
    CHECK(bml__is_file(p));
    free(p);
    char *metrics = NULL;
    bml_run_opts o = {BML_SOURCE_DIR, NULL, NULL, 0, NULL, NULL};
    CHECK_ERR(bml_run_predict(r->run_dir, DATA_DIR, NULL, "/tmp/x.csv", &o, &metrics), BML_ERR_VALUE, "--fold");
    bml_run_result_free(r);
}

static void test_failure_leaves_nothing(void) {
    int before = count_entries(outdir);
    struct {
        const char *ov;
        bml_status want;
    } bad[] = {{"data.path=/nonexistent", BML_ERR_NOT_FOUND},
               {"model.learning_rate=-1", BML_ERR_VALUE},
               {"split.val_temps=[99]", BML_ERR_EMPTY},
               {"pipeline.target=voltage", BML_ERR_VALUE}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bml_run_result *r = run(&bad[i].ov, 1, 1, bad[i].want);
        CHECK(r == NULL);
    }
    CHECK_INT(count_entries(outdir), before);
    /* an unwritable output directory fails cleanly */
    const char *ro[] = {"output_dir=/proc/bml-cannot-write"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ro, 1, &c));
    bml_run_opts o = {BML_SOURCE_DIR, NULL, NULL, 1, NULL, NULL};
    bml_run_result *r = NULL;
    if (c) CHECK_ERR(bml_run_experiment(c, &o, &r), BML_ERR_IO, "/proc/bml-cannot-write");
    CHECK(r == NULL);
    bml_config_free(c);
}

static void test_seeded_random_split_reproducible(void) {
    const char *ov[] = {"split=random", "seed=5"};
    bml_run_result *a = run(ov, 2, 0, BML_OK), *b = run(ov, 2, 0, BML_OK);
    const char *ov2[] = {"split=random", "seed=6"};
    bml_run_result *c = run(ov2, 2, 0, BML_OK);
    if (a && b && c) {
        CHECK_NEAR(json_num(a->metrics_json, "overall", NULL, "soh", "rmse"), json_num(b->metrics_json, "overall", NULL, "soh", "rmse"), 0);
        CHECK(json_num(a->metrics_json, "overall", NULL, "soh", "rmse") != json_num(c->metrics_json, "overall", NULL, "soh", "rmse"));
        CHECK(a->run_dir == NULL);
    }
    bml_run_result_free(a);
    bml_run_result_free(b);
    bml_run_result_free(c);
}

static void test_mlp_study(void) {
    const char *ov[] = {"model=mlp", "training.epochs=40", "loss=huber", "loss.delta=0.5", "split=loco",
                        "split.cells=[E5-A, E5-D]"};
    bml_run_result *r = run(ov, 6, 1, BML_OK);
    if (!r) return;
    CHECK_INT(r->n_folds, 2);
    CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "soh", "rmse")));
    char *p = bml__path_join(r->run_dir, "step_metrics.csv"), *txt = NULL;
    CHECK_OK(bml__read_file(p, &txt, NULL));
    CHECK(txt && !strncmp(txt, "fold,epoch,train_loss,val_loss,lr\nE5-A,1,", 41));
    free(txt);
    free(p);
    p = bml__path_join(r->run_dir, "model/E5-D/weights.bin");
    CHECK(bml__is_file(p));
    free(p);
    p = bml__path_join(r->run_dir, "shap.csv");
    CHECK(!bml__is_file(p)); /* no SHAP for the mlp: no empty file either */
    free(p);
    /* predict with a fold's model reproduces that fold's predictions */
    char out[128], *metrics = NULL;
    snprintf(out, sizeof out, "%s/pred_mlp.csv", outdir);
    bml_run_opts o = {BML_SOURCE_DIR, NULL, NULL, 0, NULL, NULL};
    CHECK_OK(bml_run_predict(r->run_dir, DATA_DIR "/Expt 5 - cell D (25degC) - Processed Data.csv", "E5-D", out, &o, &metrics));
    if (metrics) {
        cJSON *j = cJSON_Parse(metrics);
        double m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "soh"), "rmse")->valuedouble;
        CHECK_NEAR(m, json_num(r->metrics_json, "per_cell", "E5-D", "soh", "rmse"), 0);
        cJSON_Delete(j);
    }
    free(metrics);
    bml_run_result_free(r);
    /* the training settings are checked */
    const char *bad[] = {"model=mlp", "training.learning_rate=-1"};
    r = run(bad, 2, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
    const char *phys[] = {"model=mlp", "loss=physics_informed", "training.epochs=2"};
    r = run(phys, 3, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
    CHECK(strstr(bml_last_error(), "physics_informed needs sequences") != NULL);
    const char *bad_loss[] = {"model=lgbm", "loss=huber"};
    r = run(bad_loss, 2, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
}

/* predicting cell E5-E with the E5-E fold's saved model reproduces that fold's RMSE of `target` */
static void check_predict_e5e(const bml_run_result *r, const char *csv_name, const char *target) {
    char out[128], *metrics = NULL;
    snprintf(out, sizeof out, "%s/%s", outdir, csv_name);
    bml_run_opts o = {BML_SOURCE_DIR, NULL, NULL, 0, NULL, NULL};
    CHECK_OK(bml_run_predict(r->run_dir, DATA_DIR "/Expt 5 - cell E (25degC) - Processed Data.csv", "E5-E", out, &o,
                             &metrics));
    if (metrics) {
        cJSON *j = cJSON_Parse(metrics);
        double m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, target), "rmse")->valuedouble;
        CHECK_NEAR(m, json_num(r->metrics_json, "per_cell", "E5-E", target, "rmse"), 1e-12);
        cJSON_Delete(j);
    }
    free(metrics);
}

static void test_sequence_studies(void) {
    const char *models[] = {"model=lstm_attn", "model=cnn_lstm"};
    for (int k = 0; k < 2; k++) {
        const char *ov[] = {"pipeline=latent_ode_seq", models[k], "pipeline.target=modes", "training.epochs=8",
                            "model.hidden_dim=16", "split=loco", "split.cells=[E5-B, E5-E]"};
        bml_run_result *r = run(ov, 7, 1, BML_OK);
        if (!r) continue;
        CHECK_INT(r->n_folds, 2);
        CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "LLI", "rmse")));
        CHECK_NEAR(json_num(r->metrics_json, "overall", NULL, "LLI", "n"), 32, 0); /* 2 cells x 16 sets */
        /* attention: every real query's weights over real keys sum to 1 */
        char *p = bml__path_join(r->run_dir, "attention.csv"), *txt = NULL;
        CHECK_OK(bml__read_file(p, &txt, NULL));
        if (txt) {
            double sum[2][16] = {{0}};
            int rows = 0;
            char *line = strchr(txt, '\n');
            while (line && line[1]) {
                char fold[16], cell[8];
                int e, q, kk, qs, ks;
                double temp, w;
                if (sscanf(line + 1, "%15[^,],%d,%7[^,],%lf,%d,%d,%d,%d,%lf", fold, &e, cell, &temp, &q, &kk, &qs, &ks, &w) == 9) {
                    sum[!strcmp(fold, "E5-E")][q] += w;
                    rows++;
                }
                line = strchr(line + 1, '\n');
            }
            CHECK_INT(rows, 2 * 16 * 16);
            for (int f = 0; f < 2; f++)
                for (int q = 0; q < 16; q++) CHECK_NEAR(sum[f][q], 1.0, 1e-5);
        }
        free(txt);
        free(p);
        check_predict_e5e(r, "pred_seq.csv", "LAM_PE");
        bml_run_result_free(r);
    }
    /* a sequence model needs sequences, a static model static samples */
    const char *wrong[] = {"model=lstm_attn"};
    bml_run_result *r = run(wrong, 1, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
    const char *wrong2[] = {"pipeline=latent_ode_seq", "model=mlp"};
    r = run(wrong2, 2, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
}

static void test_neural_ode_study(void) {
    const char *ov[] = {"pipeline=latent_ode_seq", "model=neural_ode", "pipeline.target=modes", "training.epochs=8",
                        "model.hidden_dim=16", "model.latent_dim=8", "split=loco", "split.cells=[E5-B, E5-E]"};
    bml_run_result *r = run(ov, 8, 1, BML_OK);
    if (r) {
        CHECK_INT(r->n_folds, 2);
        CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "LLI", "rmse")));
        CHECK_NEAR(json_num(r->metrics_json, "overall", NULL, "LAM_NE", "n"), 32, 0);
        /* latent trajectories: one row per evaluated step with latent_dim values */
        char *p = bml__path_join(r->run_dir, "latent.csv"), *txt = NULL;
        CHECK_OK(bml__read_file(p, &txt, NULL));
        if (txt) {
            const char *head = "fold,experiment,cell,temperature_c,step,set,days,z0,z1,z2,z3,z4,z5,z6,z7\n";
            CHECK(!strncmp(txt, head, strlen(head)));
            int rows = 0;
            for (const char *c = txt; *c; c++) rows += *c == '\n';
            CHECK_INT(rows, 1 + 32);
        }
        free(txt);
        free(p);
        check_predict_e5e(r, "pred_node.csv", "LLI");
    }
    bml_run_result_free(r);
    /* the other solvers and the adjoint train too */
    const char *variants[3] = {"model.solver=rk4", "model.solver=euler", "model.use_adjoint=true"};
    for (int k = 0; k < 3; k++) {
        const char *ov2[] = {"pipeline=latent_ode_seq", "model=neural_ode", "training.epochs=3", "model.hidden_dim=8",
                             "model.latent_dim=4", variants[k]};
        r = run(ov2, 6, 0, BML_OK);
        if (r) CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "soh", "rmse")));
        bml_run_result_free(r);
    }
    /* a solver that fails stops training with its message */
    const char *fail[] = {"pipeline=latent_ode_seq", "model=neural_ode", "training.epochs=3", "model.max_steps=1"};
    r = run(fail, 4, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
    CHECK(strstr(bml_last_error(), "dopri5: more than 1 steps") != NULL);
    const char *bad[] = {"pipeline=latent_ode_seq", "model=neural_ode", "model.solver=rk4", "model.use_adjoint=true"};
    r = run(bad, 4, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
    CHECK(strstr(bml_last_error(), "use_adjoint needs solver dopri5") != NULL);
}

static void test_acla_study(void) {
    const char *ov[] = {"pipeline=latent_ode_seq", "model=acla", "pipeline.target=modes", "training.epochs=6",
                        "model.attn_dim=8", "model.num_heads=2", "model.cnn_filters1=8", "model.cnn_filters2=4",
                        "model.hidden_dim=8", "model.latent_dim=6", "model.augment_dim=2", "model.ode_hidden=16",
                        "split=loco", "split.cells=[E5-B, E5-E]"};
    bml_run_result *r = run(ov, 14, 1, BML_OK);
    if (r) {
        CHECK_INT(r->n_folds, 2);
        CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "LAM_PE", "rmse")));
        /* latent trajectories of the augmented state (6 + 2) and attention weights, saved with the run */
        char *p = bml__path_join(r->run_dir, "latent.csv"), *txt = NULL;
        CHECK_OK(bml__read_file(p, &txt, NULL));
        const char *head = "fold,experiment,cell,temperature_c,step,set,days,z0,z1,z2,z3,z4,z5,z6,z7\n";
        if (txt) CHECK(!strncmp(txt, head, strlen(head)));
        free(txt), free(p);
        p = bml__path_join(r->run_dir, "attention.csv");
        CHECK(bml__is_file(p));
        free(p);
        check_predict_e5e(r, "pred_acla.csv", "LAM_NE");
    }
    bml_run_result_free(r);
    const char *variants[2] = {"model.solver=rk4", "model.use_adjoint=true"};
    for (int k = 0; k < 2; k++) {
        const char *ov2[] = {"pipeline=latent_ode_seq", "model=acla", "training.epochs=2", "model.attn_dim=8",
                             "model.hidden_dim=8", "model.ode_hidden=8", variants[k]};
        r = run(ov2, 7, 0, BML_OK);
        if (r) CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "soh", "rmse")));
        bml_run_result_free(r);
    }
    const char *bad[] = {"pipeline=latent_ode_seq", "model=acla", "model.attn_dim=10", "model.num_heads=4"};
    r = run(bad, 4, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
    CHECK(strstr(bml_last_error(), "attention width 10 must divide into 4 heads") != NULL);
    const char *steps[] = {"pipeline=latent_ode_seq", "model=acla", "training.epochs=2", "model.max_steps=1"};
    r = run(steps, 4, 0, BML_ERR_VALUE); /* a solver that fails stops training with its message */
    CHECK(r == NULL);
    CHECK(strstr(bml_last_error(), "acla: dopri5: more than 1 steps") != NULL);
    const char *flat[] = {"model=acla"};
    r = run(flat, 1, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
}

static void test_table_study(void) {
    const char *ov[] = {"data=table", "pipeline=table", "split=loco"};
    bml_run_result *r = run(ov, 3, 0, BML_OK);
    if (r) CHECK(isfinite(json_num(r->metrics_json, "overall", NULL, "LLI", "rmse")));
    bml_run_result_free(r);
    const char *mix[] = {"data=table"};
    r = run(mix, 1, 0, BML_ERR_VALUE);
    CHECK(r == NULL);
}

static int file_is(const char *path, const char *want) {
    char *txt = NULL;
    int same = bml__read_file(path, &txt, NULL) == BML_OK && !strcmp(txt, want);
    free(txt);
    return same;
}

static void test_atomic_write(void) {
    char *dir = bml__sprintf("%s/atomic", outdir), *outside = bml__sprintf("%s/outside.txt", outdir);
    char *link = bml__sprintf("%s/link.txt", dir), *link2 = bml__sprintf("%s/link2.txt", dir);
    CHECK_OK(bml__mkdir_p(dir));
    CHECK_OK(bml__write_file_atomic(outside, "keep", 4));
    CHECK_OK(bml__write_file_atomic(outside, "keep", 4)); /* replaces */
    CHECK(file_is(outside, "keep"));
    /* a link at the destination is replaced by the file, never written through */
    CHECK(symlink(outside, link) == 0);
    CHECK_OK(bml__write_file_atomic(link, "new", 3));
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISREG(sb.st_mode));
    CHECK(file_is(link, "new"));
    CHECK(file_is(outside, "keep"));
    CHECK_INT(count_entries(dir), 1); /* no temporary file left */
    /* a new file of a staging directory: created exclusively, never through a link */
    CHECK(symlink(outside, link2) == 0);
    CHECK_ERR(bml__write_file(link2, "x", 1), BML_ERR_IO, "link2.txt");
    CHECK(file_is(outside, "keep"));
    CHECK_ERR(bml__write_file(link, "x", 1), BML_ERR_IO, "link.txt");
    CHECK(file_is(link, "new"));
    /* a directory that does not exist: the message names the file, nothing is created */
    char *missing = bml__sprintf("%s/no/such/file.txt", dir);
    CHECK_ERR(bml__write_file_atomic(missing, "x", 1), BML_ERR_IO, missing);
    CHECK_INT(count_entries(dir), 2);
    free(missing);
    free(dir);
    free(outside);
    free(link);
    free(link2);
}

static void test_stage_dirs(void) {
    char *runs = bml__sprintf("%s/stage", outdir), *elsewhere = bml__sprintf("%s/elsewhere", outdir);
    CHECK_OK(bml__mkdir_p(elsewhere));
    bml__stage live = {NULL, -1};
    CHECK_OK(bml__stage_open(&live, runs, "r"));
    CHECK(live.path && !strncmp(live.path, runs, strlen(runs)) && strstr(live.path, "/.partial-r-"));
    /* a writer killed before it finished: its lock goes with it */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        bml__stage dead;
        _exit(bml__stage_open(&dead, runs, "r") == BML_OK ? 0 : 1);
    }
    int status = 1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* a partial of an older version (no lock), a planted link, a plain run */
    char *old = bml__sprintf("%s/.partial-r-1234", runs), *planted = bml__sprintf("%s/.partial-planted", runs);
    char *keep = bml__sprintf("%s/finished", runs);
    CHECK_OK(bml__mkdir_p(old));
    CHECK_OK(bml__mkdir_p(keep));
    CHECK(symlink(elsewhere, planted) == 0);
    CHECK_INT(count_entries(runs), 5);
    size_t removed = 0;
    CHECK_OK(bml__stage_clean(runs, &removed));
    CHECK_INT((int)removed, 2); /* the dead writer's and the old one; the live one, the link and the run stay */
    CHECK_INT(count_entries(runs), 3);
    CHECK(bml__is_dir(live.path) && bml__is_dir(keep) && bml__is_dir(elsewhere));
    struct stat sb;
    CHECK(lstat(planted, &sb) == 0 && S_ISLNK(sb.st_mode));
    /* publishing never replaces an existing entry: a file, a link, a directory take r, r-2, r-3 */
    char *f1 = bml__sprintf("%s/r", runs), *f2 = bml__sprintf("%s/r-2", runs), *f3 = bml__sprintf("%s/r-3", runs);
    CHECK_OK(bml__write_file_atomic(f1, "a file", 6));
    CHECK(symlink(elsewhere, f2) == 0);
    CHECK_OK(bml__mkdir_p(f3));
    char *inside = bml__path_join(live.path, "metrics.json");
    CHECK_OK(bml__write_file(inside, "{}", 2));
    char *final = NULL;
    CHECK_OK(bml__stage_publish(&live, runs, "r", 1, &final));
    CHECK(live.path == NULL && live.fd == -1);
    char *want = bml__sprintf("%s/r-4", runs), *moved = bml__sprintf("%s/r-4/metrics.json", runs);
    CHECK(final && !strcmp(final, want));
    CHECK(file_is(moved, "{}"));
    CHECK(file_is(f1, "a file"));
    CHECK_INT(count_entries(elsewhere), 0);
    /* without unique names an existing name is an error, and the staging directory goes */
    bml__stage other = {NULL, -1};
    char *final2 = NULL;
    int before = count_entries(runs);
    CHECK_OK(bml__stage_open(&other, runs, "r"));
    CHECK_ERR(bml__stage_publish(&other, runs, "r", 0, &final2), BML_ERR_IO, f1);
    CHECK(final2 == NULL && other.path == NULL);
    CHECK_INT(count_entries(runs), before);
    bml__stage_discard(&other); /* harmless after release */
    free(runs), free(elsewhere), free(old), free(planted), free(keep), free(f1), free(f2), free(f3);
    free(inside), free(final), free(want), free(moved);
}

static void test_run_paths(void) {
    CHECK_OK(bml__path_check_inside("k", "tensorboard"));
    CHECK_OK(bml__path_check_inside("k", "./a/b..c/d"));
    CHECK_ERR(bml__path_check_inside("tracking.tensorboard_dir", "../x"), BML_ERR_VALUE, "tracking.tensorboard_dir=../x");
    CHECK_ERR(bml__path_check_inside("k", "a/../../x"), BML_ERR_VALUE, "'..'");
    CHECK_ERR(bml__path_check_inside("k", "a/.."), BML_ERR_VALUE, "'..'");
    CHECK_ERR(bml__path_check_inside("k", "/tmp/x"), BML_ERR_VALUE, "absolute");
    CHECK_ERR(bml__path_check_inside("k", ""), BML_ERR_VALUE, "empty");
    CHECK_OK(bml__path_check_name("run_name", "x-1"));
    CHECK_ERR(bml__path_check_name("run_name", "a/b"), BML_ERR_VALUE, "run_name");
    CHECK_ERR(bml__path_check_name("run_name", ".."), BML_ERR_VALUE, "run_name");
    CHECK_ERR(bml__path_check_name("run_name", ".partial-x"), BML_ERR_VALUE, "run_name");
    /* the runner refuses them before any work, and writes nothing */
    int before = count_entries(outdir);
    const char *tb[] = {"tracking=tensorboard", "tracking.tensorboard_dir=/tmp/bml-test-run-outside"};
    CHECK(run(tb, 2, 1, BML_ERR_VALUE) == NULL);
    CHECK(strstr(bml_last_error(), "tracking.tensorboard_dir") != NULL);
    const char *rn[] = {"run_name=../escape"};
    CHECK(run(rn, 1, 1, BML_ERR_VALUE) == NULL);
    CHECK(strstr(bml_last_error(), "run_name") != NULL);
    CHECK_INT(count_entries(outdir), before);
    CHECK(!bml__is_dir("/tmp/bml-test-run-outside"));
}

int main(void) {
    snprintf(outdir, sizeof outdir, "/tmp/bml-test-run-XXXXXX");
    if (!mkdtemp(outdir)) return 1;
    static const test_case tests[] = {T(test_default_study), T(test_loco_and_modes), T(test_failure_leaves_nothing),
                                      T(test_seeded_random_split_reproducible), T(test_mlp_study), T(test_sequence_studies), T(test_neural_ode_study), T(test_acla_study),
                                      T(test_table_study), T(test_atomic_write), T(test_stage_dirs), T(test_run_paths)};
    int rc = run_tests("run", tests, sizeof tests / sizeof *tests);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", outdir);
    if (system(cmd) != 0) return 1;
    return rc;
}
