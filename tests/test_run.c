/* The study runner through the library: the default study, LOCO, reproducibility, no half-written
 * run directory on failure, predict on a saved run; the crash-safe write path and staging directories. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/internal.h"
#include "data/csvread.h"
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
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = write};
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
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
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
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR};
    CHECK_ERR(bml_run_predict(r->run_dir, DATA_DIR, NULL, "/tmp/x.csv", &o, &metrics), BML_ERR_VALUE, "--fold");
    bml_run_result_free(r);
}

static void keep_line(void *user, const char *line) {
    char **kept = user;
    free(*kept);
    *kept = bml__strdup(line);
}

/* bml_run_predict_rows: the rows and predictions bml_run_predict writes, in memory; its failures leave nothing */
static void test_predict_rows(void) {
    const char *ov[] = {"split=loco", "model.n_estimators=50", "run_name=predict_rows"};
    bml_run_result *r = run(ov, 3, 1, BML_OK);
    if (!r) return;
    char *line = NULL;
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .log = keep_line, .log_user = &line};
    bml_samples *rows = NULL;
    double *pred = NULL;
    char *metrics = NULL, *metrics2 = NULL, *csv = NULL;
    CHECK_OK(bml_run_predict_rows(r->run_dir, DATA_DIR, "E5-A", &o, &rows, &pred, &metrics));
    CHECK(rows && pred && metrics);
    CHECK(line && strstr(line, "predicted ") && strstr(line, "/model/E5-A") && !strstr(line, "written"));
    /* the file of bml_run_predict (its path longer than a 512-byte line: the log line keeps it whole) */
    char dir[512], out[1024];
    snprintf(dir, sizeof dir, "%s/%0200d/%0150d", outdir, 0, 0);
    CHECK_OK(bml__mkdir_p(dir));
    snprintf(out, sizeof out, "%s/%0200d.csv", dir, 0);
    CHECK_OK(bml_run_predict(r->run_dir, DATA_DIR, "E5-A", out, &o, &metrics2));
    CHECK(line && strlen(line) > 512 && strstr(line, out) && !strcmp(line + strlen(line) - strlen(out), out));
    CHECK_STR(metrics, metrics2);
    CHECK_OK(bml__read_file(out, &csv, NULL));
    if (rows && pred && csv) {
        CHECK_INT(rows->n_targets, 1);
        CHECK_STR(rows->target_names[0], "soh");
        CHECK(rows->seq_len == 0 && rows->n > 400);
        /* every line of the file: the row's meta, true target (17 digits: the double itself) and prediction */
        char *save = NULL, *ln = strtok_r(csv, "\n", &save);
        CHECK_STR(ln, "experiment,cell,temperature_c,set_index,cycle,days,throughput_ah,true_soh,pred_soh");
        size_t k = 0;
        for (ln = strtok_r(NULL, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save), k++) {
            if (k >= rows->n) break;
            const bml_sample_meta *m = &rows->meta[k];
            char *f[9], *fs = NULL;
            int nf = 0;
            for (char *t = strtok_r(ln, ",", &fs); t && nf < 9; t = strtok_r(NULL, ",", &fs)) f[nf++] = t;
            CHECK_INT(nf, 9);
            if (nf != 9) break;
            CHECK_INT(atoi(f[0]), m->experiment);
            CHECK_STR(f[1], m->cell);
            CHECK_INT(atoi(f[3]), m->set_index);
            /* every number is written so that it reads back as the same double */
            CHECK(strtod(f[6], NULL) == m->throughput_ah);
            CHECK(strtod(f[7], NULL) == rows->y[k]);
            CHECK(strtod(f[8], NULL) == pred[k]);
        }
        CHECK_INT(k, rows->n);
        CHECK(ln == NULL);
    }
    free(csv);
    free(metrics2);
    bml_samples_free(rows);
    bml_free(pred);
    bml_free(metrics);
    /* failures: every output NULL */
    rows = (bml_samples *)1, pred = (double *)1, metrics = (char *)1;
    CHECK_ERR(bml_run_predict_rows(r->run_dir, DATA_DIR, "no-such-fold", NULL, &rows, &pred, &metrics), BML_ERR_NOT_FOUND,
              "no-such-fold");
    CHECK(!rows && !pred && !metrics);
    rows = (bml_samples *)1, pred = (double *)1, metrics = (char *)1;
    CHECK_ERR(bml_run_predict_rows(r->run_dir, DATA_DIR, NULL, NULL, &rows, &pred, &metrics), BML_ERR_VALUE, "--fold");
    CHECK(!rows && !pred && !metrics);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-run", outdir);
    rows = (bml_samples *)1, pred = (double *)1, metrics = (char *)1;
    CHECK_ERR(bml_run_predict_rows(missing, DATA_DIR, "E5-A", NULL, &rows, &pred, &metrics), BML_ERR_NOT_FOUND, "no-such-run");
    CHECK(!rows && !pred && !metrics);
    rows = (bml_samples *)1, pred = (double *)1, metrics = (char *)1;
    CHECK_ERR(bml_run_predict_rows(r->run_dir, "/nonexistent.csv", "E5-A", NULL, &rows, &pred, &metrics), BML_ERR_NOT_FOUND,
              "/nonexistent.csv");
    CHECK(!rows && !pred && !metrics);
    free(line);
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
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
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
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR};
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
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR};
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

/* ------------------------------------------------------------------ explain and figures (issue #10) */

static int file_exists(const char *dir, const char *name) {
    char *p = bml__path_join(dir, name);
    int r = p && bml__is_file(p);
    free(p);
    return r;
}

/* the rows of dir/shap.csv: *n rows, each "cell|set_index" in *keys (caller frees with bml__strvec_free);
 * checks that every row adds up (expected value + sum of SHAP = prediction) */
static void shap_rows(const char *dir, size_t *n, bml__strvec *keys) {
    *n = 0;
    char *p = bml__path_join(dir, "shap.csv");
    bml__csv c = {0};
    CHECK_OK(bml__csv_read(p, 0, &c));
    free(p);
    if (c.n_rows < 2) return;
    const bml__csv_row *h = &c.rows[0];
    int ce = -1, cp = -1, cc = -1, cs = -1;
    for (size_t j = 0; j < h->n_fields; j++) {
        if (!strcmp(h->fields[j], "expected_value")) ce = (int)j;
        if (!strcmp(h->fields[j], "prediction")) cp = (int)j;
        if (!strcmp(h->fields[j], "cell")) cc = (int)j;
        if (!strcmp(h->fields[j], "set_index")) cs = (int)j;
    }
    CHECK(ce >= 0 && cp >= 0 && cc >= 0 && cs >= 0);
    for (size_t i = 1; ce >= 0 && cp >= 0 && cc >= 0 && cs >= 0 && i < c.n_rows; i++) {
        const bml__csv_row *r = &c.rows[i];
        double sum = strtod(r->fields[ce], NULL), pred = strtod(r->fields[cp], NULL);
        for (size_t j = 0; j < h->n_fields; j++)
            if (!strncmp(h->fields[j], "shap_", 5)) sum += strtod(r->fields[j], NULL);
        CHECK_NEAR(sum, pred, 1e-5 * (1 + fabs(pred)));
        char *k = bml__sprintf("%s|%s", r->fields[cc], r->fields[cs]);
        bml__strvec_push(keys, k);
        free(k);
        (*n)++;
    }
    bml__csv_free(&c);
}

/* explain.shap_max_samples: exactly that many rows per target, the same rows at every run, still
 * additive; explain.enabled=false: no shap.csv and no importance.csv */
static void test_explain_subsample(void) {
    const char *ov[] = {"explain.shap_max_samples=7", "figures=false", "run_name=shap7"};
    bml_run_result *a = run(ov, 3, 1, BML_OK), *b = run(ov, 3, 1, BML_OK);
    if (a && b) {
        size_t na, nb;
        bml__strvec ka = {0}, kb = {0};
        shap_rows(a->run_dir, &na, &ka);
        shap_rows(b->run_dir, &nb, &kb);
        CHECK_INT(na, 7); /* one target (soh) */
        CHECK_INT(nb, 7);
        for (size_t i = 0; i < ka.n && i < kb.n; i++) CHECK(!strcmp(ka.items[i], kb.items[i]));
        CHECK(ka.n > 1 && strcmp(ka.items[0], ka.items[ka.n - 1])); /* spread over the rows, not one repeated */
        bml__strvec_free(&ka);
        bml__strvec_free(&kb);
    }
    bml_run_result_free(a);
    bml_run_result_free(b);
    const char *loco[] = {"explain.shap_max_samples=10", "split=loco", "figures=false", "run_name=shaploco"};
    bml_run_result *l = run(loco, 4, 1, BML_OK);
    if (l) {
        size_t n;
        bml__strvec k = {0};
        shap_rows(l->run_dir, &n, &k);
        CHECK_INT(n, 10); /* over the whole study, not per fold */
        bml__strvec_free(&k);
    }
    bml_run_result_free(l);
    const char *off[] = {"explain.enabled=false", "run_name=noexplain"};
    bml_run_result *r = run(off, 2, 1, BML_OK);
    if (r) {
        CHECK(!file_exists(r->run_dir, "shap.csv"));
        CHECK(!file_exists(r->run_dir, "importance.csv"));
        CHECK(file_exists(r->run_dir, "predictions.csv"));
        CHECK(file_exists(r->run_dir, "figures/pred_vs_truth_soh.png"));
    }
    bml_run_result_free(r);
    const char *bad[] = {"explain.shap_max_samples=-3"};
    CHECK(run(bad, 1, 0, BML_ERR_VALUE) == NULL);
}

/* a run directory written by hand: n_targets targets, nf features with long names, cells cells,
 * an attention matrix of T steps, many folds and reference tests */
static char *fake_run(const char *name, int n_targets, int nf, int cells, int T) {
    char *dir = bml__sprintf("%s/%s", outdir, name);
    if (!dir || bml__mkdir_p(dir) != BML_OK) return dir;
    char *p = bml__path_join(dir, "predictions.csv");
    FILE *f = fopen(p, "w");
    free(p);
    fprintf(f, "fold,split,experiment,cell,temperature_c,set_index,cycle,days,throughput_ah");
    for (int t = 0; t < n_targets; t++) fprintf(f, ",true_target%d,pred_target%d", t, t);
    fprintf(f, "\n");
    for (int i = 0; i < 6000; i++) { /* above the 5,000 points drawn */
        fprintf(f, "holdout,val,5,cell%d,%d,%d,%d,%d,%d", i % cells, 10 + i % 30, i / cells, i, i / cells, i);
        for (int t = 0; t < n_targets; t++) fprintf(f, ",%g,%g", 1 - 1e-4 * i, 1 - 1.1e-4 * i);
        fprintf(f, "\n");
    }
    fclose(f);
    p = bml__path_join(dir, "shap.csv");
    f = fopen(p, "w");
    free(p);
    fprintf(f, "fold,experiment,cell,temperature_c,set_index,cycle,days,throughput_ah,target,expected_value,prediction");
    for (int j = 0; j < nf; j++) fprintf(f, ",shap_feature_%d_with_a_name_longer_than_sixty_four_characters_to_see_it_whole", j);
    for (int j = 0; j < nf; j++) fprintf(f, ",value_feature_%d_with_a_name_longer_than_sixty_four_characters_to_see_it_whole", j);
    fprintf(f, "\n");
    for (int i = 0; i < 12; i++)
        for (int t = 0; t < n_targets; t++) {
            fprintf(f, "holdout,5,cell%d,25,%d,%d,%d,%d,target%d,0.9,%g", i % cells, i, i, i, i, t, 0.9 + 0.001 * nf * i);
            for (int j = 0; j < nf; j++) fprintf(f, ",%g", 0.001 * i);
            for (int j = 0; j < nf; j++) fprintf(f, ",%d", i * j);
            fprintf(f, "\n");
        }
    fclose(f);
    p = bml__path_join(dir, "importance.csv");
    f = fopen(p, "w");
    free(p);
    fprintf(f, "fold,target,feature,gain,total_gain,split_count,mean_abs_shap\n");
    for (int t = 0; t < n_targets; t++)
        for (int j = 0; j < nf; j++)
            fprintf(f, "holdout,target%d,feature_%d_with_a_name_longer_than_sixty_four_characters_to_see_it_whole,%d,%d,%d,%g\n", t,
                    j, j + 1, 2 * j + 1, j, 0.001 * j);
    fclose(f);
    p = bml__path_join(dir, "attention.csv");
    f = fopen(p, "w");
    free(p);
    fprintf(f, "fold,experiment,cell,temperature_c,query_step,key_step,query_set,key_set,weight\n");
    for (int c = 0; c < cells; c++) {
        int Tc = c == 0 ? T : 4;
        for (int q = 0; q < Tc; q++)
            for (int k = 0; k < Tc; k++) fprintf(f, "fold%d,5,cell%d,25,%d,%d,%d,%d,%g\n", c, c, q, k, q, k, k <= q ? 1.0 / (q + 1) : 0.0);
    }
    fclose(f);
    p = bml__path_join(dir, "step_metrics.csv");
    f = fopen(p, "w");
    free(p);
    fprintf(f, "fold,epoch,train_loss,val_loss,lr\n");
    for (int c = 0; c < cells; c++)
        for (int e = 1; e <= 5; e++) fprintf(f, "fold%d,%d,%g,%g,0.001\n", c, e, 1.0 / e, 1.2 / e);
    fclose(f);
    p = bml__path_join(dir, "dqdv.csv");
    f = fopen(p, "w");
    free(p);
    fprintf(f, "cell,rpt,voltage_v,dqdv_ah_per_v,is_peak\n");
    for (int r = 0; r < 70; r++) /* more reference tests than 64 */
        for (int k = 0; k < 20; k++) fprintf(f, "cell0,%d,%g,%g,%d\n", r, 3.0 + 0.06 * k, 1.0 + 0.01 * r + (k == 10), k == 10);
    fclose(f);
    p = bml__path_join(dir, "latent.csv");
    f = fopen(p, "w");
    free(p);
    fprintf(f, "fold,experiment,cell,temperature_c,step,set,days,z0,z1\n");
    for (int c = 0; c < cells; c++)
        for (int s = 0; s < 5; s++) fprintf(f, "fold%d,5,cell%d,25,%d,%d,%d,%g,%g\n", c, c, s, s, 10 * s, 0.1 * s * c, -0.1 * s);
    fclose(f);
    return dir;
}

static int png_complete(const char *dir, const char *name) {
    char *p = bml__sprintf("%s/figures/%s.png", dir, name);
    char *buf = NULL;
    size_t len = 0;
    int ok = p && bml__read_file(p, &buf, &len) == BML_OK && len > 20 && !memcmp(buf + 1, "PNG", 3) && !memcmp(buf + len - 8, "IEND", 4);
    free(p);
    free(buf);
    return ok;
}

/* 100 features with long names, 9 targets, 30 cells and temperatures, a 300-step attention matrix,
 * 70 reference tests: every figure of every target, nothing skipped */
static void test_figures_wide_and_long(void) {
    char *dir = fake_run("wide", 9, 100, 30, 300);
    int n = -1;
    char *skipped = NULL;
    CHECK_OK(bml_run_plot_noting(dir, &n, &skipped));
    CHECK_INT(n, 2 * 9 + 4 * 9 + 2 + 1 + 1 + 1);
    CHECK(skipped == NULL);
    CHECK(png_complete(dir, "shap_summary_target8"));
    CHECK(png_complete(dir, "shap_dependence_target8"));
    CHECK(png_complete(dir, "importance_target8"));
    CHECK(png_complete(dir, "attention_heatmap"));
    CHECK(png_complete(dir, "dqdv_curves"));
    free(skipped);
    free(dir);
}

typedef struct {
    char *dir;
    int n;
    bml_status st;
} plot_job;

static void *plot_thread(void *arg) {
    plot_job *j = arg;
    j->st = bml_run_plot(j->dir, &j->n);
    return NULL;
}

/* two threads drawing at once (PLplot is process-global): both complete, every figure whole */
static void test_figures_two_threads(void) {
    plot_job jobs[2] = {{fake_run("thread_a", 2, 6, 4, 12), 0, BML_OK}, {fake_run("thread_b", 3, 5, 3, 9), 0, BML_OK}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, plot_thread, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_INT(jobs[0].st, BML_OK);
    CHECK_INT(jobs[1].st, BML_OK);
    CHECK_INT(jobs[0].n, 2 * 2 + 4 * 2 + 5);
    CHECK_INT(jobs[1].n, 2 * 3 + 4 * 3 + 5);
    CHECK(png_complete(jobs[0].dir, "shap_summary_target1") && png_complete(jobs[1].dir, "shap_summary_target2"));
    CHECK(png_complete(jobs[0].dir, "latent_trajectories") && png_complete(jobs[1].dir, "latent_trajectories"));
    free(jobs[0].dir);
    free(jobs[1].dir);
}

/* a malformed CSV is an error naming file, line and column; a missing one is skipped and named */
static void test_figures_bad_csv(void) {
    char *dir = fake_run("bad", 1, 3, 2, 4);
    char *p = bml__path_join(dir, "step_metrics.csv");
    FILE *f = fopen(p, "a");
    fprintf(f, "fold0,6,0.1,oops,0.001\n");
    fclose(f);
    int n = -1;
    CHECK_ERR(bml_run_plot(dir, &n), BML_ERR_PARSE, "step_metrics.csv:12:4: 'oops' is not a number (column val_loss)");
    f = fopen(p, "w"); /* cut short in the middle of a line */
    fprintf(f, "fold,epoch,train_loss,val_loss,lr\nfold0,1,0.5,0.6,0.001\nfold0,2,0.4,0.5,0.00"); /* all its fields */
    fclose(f);
    CHECK_ERR(bml_run_plot(dir, &n), BML_ERR_PARSE, "step_metrics.csv:3: the last line has no end of line");
    remove(p);
    free(p);
    char *skipped = NULL;
    CHECK_OK(bml_run_plot_noting(dir, &n, &skipped));
    CHECK(skipped && strstr(skipped, "step_metrics.csv: not in the run"));
    CHECK_INT(n, 2 + 4 + 2 + 1 + 1);
    free(skipped);
    free(dir);
}

/* bml_run_opts.cancel: a study asked to stop returns BML_ERR_CANCELLED and writes nothing, whether the flag
 * was set before the call or from another thread while its folds train (the CLI sets it on SIGINT/SIGTERM) */
typedef struct {
    int *flag;
} canceller;

static void *cancel_soon(void *arg) {
    canceller *c = arg;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __atomic_store_n(c->flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void test_cancel_study(void) {
    char od[160];
    snprintf(od, sizeof od, "output_dir=%s/cancelled", outdir);
    const char *ov[] = {od, "model=mlp", "training.epochs=10000000", "training.patience=0", "split=loco", "figures=false"};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, 6, &c));
    if (!c) return;
    int flag = 1;
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1, .cancel = &flag};
    bml_run_result *r = NULL;
    CHECK_ERR(bml_run_experiment(c, &o, &r), BML_ERR_CANCELLED, "study cancelled after loading the data: nothing written");
    CHECK(r == NULL);
    flag = 0;
    canceller k = {&flag};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cancel_soon, &k) == 0);
    CHECK_ERR(bml_run_experiment(c, &o, &r), BML_ERR_CANCELLED, "cancelled"); /* in or after an epoch (or before, on a slow machine) */
    pthread_join(th, NULL);
    CHECK(r == NULL);
    char path[200];
    snprintf(path, sizeof path, "%s/cancelled", outdir);
    DIR *d = opendir(path); /* nothing written: no run folder, no partial one */
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));) entries += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
    if (d) closedir(d);
    CHECK_INT(entries, 0);
    bml_config_free(c);
}

int main(void) {
    snprintf(outdir, sizeof outdir, "/tmp/bml-test-run-XXXXXX");
    if (!mkdtemp(outdir)) return 1;
    static const test_case tests[] = {T(test_default_study), T(test_loco_and_modes), T(test_predict_rows), T(test_failure_leaves_nothing),
                                      T(test_seeded_random_split_reproducible), T(test_mlp_study), T(test_sequence_studies), T(test_neural_ode_study), T(test_acla_study),
                                      T(test_table_study), T(test_atomic_write), T(test_stage_dirs), T(test_run_paths),
                                      T(test_explain_subsample), T(test_figures_wide_and_long), T(test_figures_two_threads),
                                      T(test_figures_bad_csv), T(test_cancel_study)};
    int rc = run_tests("run", tests, sizeof tests / sizeof *tests);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", outdir);
    if (system(cmd) != 0) return 1;
    return rc;
}
