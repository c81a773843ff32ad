/* The learning-rate range test (batteryml lr-find; training.learning_rate=auto): a fresh model of the plan
 * trained on the first fold's training split with the rate rising geometrically, the loss recorded per step. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/internal.h"
#include "nn/trainer.h"
#include "run/runner.h"

void bml_lr_find_result_free(bml_lr_find_result *r) {
    if (!r) return;
    free(r->lr);
    free(r->loss);
    free(r->batch_loss);
    free(r);
}

char *bml_lr_find_csv(const bml_lr_find_result *r) {
    size_t cap = 64 + 96 * (r->n + 1), len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    len += (size_t)snprintf(out + len, cap - len, "step,lr,smoothed_loss,batch_loss,suggested\n");
    for (size_t i = 0; i < r->n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%zu,%.9g,%.9g,%.9g,%d\n", i + 1, r->lr[i], r->loss[i], r->batch_loss[i],
                                r->lr[i] == r->suggestion);
    return out;
}

/* The range test on the training split of `fold`, from a fresh model of the configuration. */
bml_status bml__lr_find_on_fold(const bml__study *plan, const bml_samples *all, const bml_fold *fold, uint64_t seed,
                                  const bml_run_opts *opts, bml_lr_find_result **out) {
    *out = NULL;
    const char *mname = plan->model;
    if (!plan->neural)
        return bml__fail(BML_ERR_VALUE, "the learning-rate finder is for the neural models (mlp, lstm_attn, cnn_lstm, neural_ode, "
                                        "acla), not %s", mname);
    double min_lr = plan->lr_min, max_lr = plan->lr_max;
    long steps = plan->lr_steps;
    char s_steps[32], s_min[40], s_max[40];
    snprintf(s_steps, sizeof s_steps, "%ld", steps);
    snprintf(s_min, sizeof s_min, "%.17g", min_lr);
    snprintf(s_max, sizeof s_max, "%.17g", max_lr);
    /* a learning rate the model accepts: the range test sets its own */
    bml_kv extra[4] = {{"lr_find_steps", s_steps}, {"lr_find_min_lr", s_min}, {"lr_find_max_lr", s_max}, {"learning_rate", "0.001"}};
    bml_model *m = NULL;
    BML__TRY(bml__study_create_model(plan, extra, 4, &m));
    bml_model_set_epoch_callback(m, opts ? opts->progress : NULL, opts ? opts->progress_user : NULL);
    bml_model_set_cancel(m, opts ? opts->cancel : NULL);
    bml_samples *tr = NULL;
    bml__preprocess pre = {0};
    bml_lr_find_result *r = calloc(1, sizeof *r);
    char *csv = NULL;
    bml_status st = r ? bml_samples_subset(all, fold->train, fold->n_train, &tr) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__preprocess_fit(m, tr, &pre);
    if (st == BML_OK) {
        bml__preprocess_samples(&pre, tr);
        st = bml_model_fit(m, tr, NULL, seed);
    }
    if (st == BML_OK && !(csv = bml_model_history_csv(m))) st = bml__fail(BML_ERR_VALUE, "lr-find: the model kept no history");
    /* the history's rows: epoch (the step), train_loss (smoothed), val_loss (the batch's), lr */
    size_t n = 0;
    for (const char *p = csv; st == BML_OK && p && *p; p++) n += *p == '\n';
    if (st == BML_OK) {
        r->lr = bml__calloc(n + 1, sizeof *r->lr);
        r->loss = bml__calloc(n + 1, sizeof *r->loss);
        r->batch_loss = bml__calloc(n + 1, sizeof *r->batch_loss);
        if (!r->lr || !r->loss || !r->batch_loss) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    const char *line = csv ? strchr(csv, '\n') : NULL; /* after the header */
    while (st == BML_OK && line && line[1]) {
        line++;
        double step, tl, vl, lr;
        if (sscanf(line, "%lf,%lf,%lf,%lf", &step, &tl, &vl, &lr) != 4) {
            /* non-finite losses are written as nan/inf: strtod reads those too */
            char *e;
            step = strtod(line, &e);
            tl = strtod(e + 1, &e);
            vl = strtod(e + 1, &e);
            lr = strtod(e + 1, &e);
        }
        r->lr[r->n] = lr, r->loss[r->n] = tl, r->batch_loss[r->n] = vl;
        r->n++;
        line = strchr(line, '\n');
    }
    if (st == BML_OK) st = bml__lr_find_suggest(r->lr, r->loss, r->n, &r->suggestion);
    free(csv);
    bml_samples_free(tr);
    bml__preprocess_release(&pre);
    bml_model_free(m);
    if (st != BML_OK) {
        bml_lr_find_result_free(r);
        return st;
    }
    *out = r;
    return BML_OK;
}

bml_status bml_run_lr_find(const bml_config *cfg, const bml_run_opts *opts, bml_lr_find_result **out) {
    *out = NULL;
    BML__TRY(bml__run_opts_check(opts));
    bml__study plan;
    bml_dataset *ds = NULL;
    bml_samples *s = NULL;
    bml_split *sp = NULL;
    bml_status st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = bml__study_load(&plan, opts ? opts->base_dir : NULL, NULL, 0, opts ? opts->cancel : NULL, &ds);
    if (st == BML_OK) st = bml__study_samples(&plan, ds, 0, &s);
    if (st == BML_OK) st = bml__make_split(&plan, ds, s, &sp);
    if (st == BML_OK) st = bml__lr_find_on_fold(&plan, s, &sp->folds[0], plan.seed, opts, out);
    if (st == BML_OK) (*out)->figures = plan.track.figures;
    bml_split_free(sp);
    bml_samples_free(s);
    bml_dataset_free(ds);
    bml__study_release(&plan);
    return st;
}

static bml_status lr_find_write(const bml_lr_find_result *r, const bml__study *plan, const char *out_dir, char **dir_out);

bml_status bml_lr_find_write(const bml_lr_find_result *r, const bml_config *cfg, const char *out_dir, char **dir_out) {
    *dir_out = NULL;
    bml__study plan;
    bml_status st = bml__study_resolve(cfg, &plan);
    if (st == BML_OK) st = lr_find_write(r, &plan, out_dir, dir_out);
    bml__study_release(&plan);
    return st;
}

static bml_status lr_find_write(const bml_lr_find_result *r, const bml__study *plan, const char *out_dir, char **dir_out) {
    char *dir = NULL;
    if (out_dir) {
        dir = bml__strdup(out_dir);
        if (!dir) return bml__fail(BML_ERR_NOMEM, "out of memory");
        bml_status st = bml__mkdir_p(dir);
        if (st != BML_OK) {
            free(dir);
            return st;
        }
    } else { /* a new folder beside the runs */
        const char *outdir = plan->track.output_dir;
        BML__TRY(bml__mkdir_p(outdir));
        time_t t = time(NULL);
        struct tm tmv;
        gmtime_r(&t, &tmv);
        char ts[32];
        strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tmv);
        for (int k = 1; k < 1000 && !dir; k++) {
            char *cand = k == 1 ? bml__sprintf("%s/%s-lr_find-%s", outdir, ts, plan->model)
                                : bml__sprintf("%s/%s-lr_find-%s-%d", outdir, ts, plan->model, k);
            if (!cand) return bml__fail(BML_ERR_NOMEM, "out of memory");
            if (mkdir(cand, 0777) == 0) dir = cand;
            else {
                int e = errno;
                free(cand);
                if (e != EEXIST) return bml__fail(BML_ERR_IO, "%s: cannot create a folder: %s", outdir, strerror(e));
            }
        }
        if (!dir) return bml__fail(BML_ERR_IO, "%s: too many lr-find folders", outdir);
    }
    char *csv = bml_lr_find_csv(r), *yaml = bml__strdup(plan->config_yaml);
    char *p1 = bml__path_join(dir, "lr_find.csv"), *p2 = bml__path_join(dir, "config.yaml");
    bml_status st = csv && yaml && p1 && p2 ? bml__write_file_atomic(p1, csv, strlen(csv)) : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__write_file_atomic(p2, yaml, strlen(yaml));
    free(csv), free(yaml), free(p1), free(p2);
    if (st != BML_OK) {
        free(dir);
        return st;
    }
    *dir_out = dir;
    return BML_OK;
}
