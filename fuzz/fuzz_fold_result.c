/* Fuzz target: the bytes one process sends another with a fold's result (bml_fold_job_accept, parsed by
 * fold_unpack in src/run/experiment.c): untrusted input from the other ranks of `batteryml run` under
 * mpirun.
 *
 * Input: [0] a selector byte, then parts split at FZ_SEP, one per fold (at most the study's folds; the
 * last part takes the rest). Selector & 1 picks the model, & 4 the split, all on the shipped Oxford data
 * (data/), experiment 5, no figures:
 *   0  lgbm, 3 trees, SHAP and importance on (predictions, SHAP rows and values, importance, booster files)
 *   1  acla (small: 4 hidden units, euler), pipeline latent_ode_seq, 1 epoch (sequences: attention, latent
 *      trajectories, the history, the checkpoint files)
 * Selector & 4: split loco (8 folds: the parts go to folds E5-A, E5-B, ...), else temperature_holdout (one).
 * Selector & 2: when every fold is accepted, the run is also written (into the scratch folder, removed
 * right after), so that the files written from the parsed results are checked too; else nothing is
 * written (write_run_dir 0), the run assembled in memory (metrics) only.
 * Per input the study is set up (data, pipeline, split: about the cost of one input) and its executor hands
 * each part to bml_fold_job_accept for the next fold. A refused part must be BML_ERR_PARSE (or NOMEM) with a
 * message (fz_check_status); it is then recorded with bml_fold_job_fail, and so are the folds without a part.
 * When every fold is accepted, the study assembles the run from the parsed results, so what the parser lets
 * through is used as a run would use it.
 *
 * Seeds (fuzz/corpus/fold_result/): with FUZZ_FOLD_RESULT_WRITE=<folder> set, the target instead fits every
 * fold of the selected study with bml_fold_job_run and writes the selector byte and the real result bytes to
 * <folder>/<lgbm|acla>[-loco][-write]; fuzz/make_corpus.py does this for the one-byte selectors 0-4 and 7
 * with `fuzz_replay_fold_result` of a normal build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/config.h"
#include "batteryml/run.h"
#include "core/internal.h"
#include "fuzz_util.h"

#define MAX_PARTS 8

static const char *const study_names[2] = {"lgbm", "acla"};

/* the study of model sel (0 lgbm, 1 acla) and split loco (0 temperature_holdout, 1 loco), composed once per
 * process (owned here, never freed: the process's lifetime) */
static const bml_config *study(int sel, int loco) {
    static bml_config *cfg[2][2];
    if (cfg[sel][loco]) return cfg[sel][loco];
    static const char *const common[] = {"data.experiment=5", "figures=false", "jobs=1", "run_name=fuzz"};
    static const char *const lgbm[] = {"model=lgbm", "model.n_estimators=3"};
    static const char *const acla[] = {"model=acla", "pipeline=latent_ode_seq", "training.epochs=1", "model.attn_dim=4",
                                       "model.num_heads=1", "model.cnn_filters1=2", "model.cnn_filters2=2",
                                       "model.hidden_dim=4", "model.latent_dim=2", "model.augment_dim=1",
                                       "model.ode_hidden=4", "model.solver=euler"};
    const char *ov[24];
    size_t n = 0;
    for (size_t i = 0; i < sizeof common / sizeof *common; i++) ov[n++] = common[i];
    const char *const *extra = sel ? acla : lgbm;
    size_t n_extra = sel ? sizeof acla / sizeof *acla : sizeof lgbm / sizeof *lgbm;
    for (size_t i = 0; i < n_extra; i++) ov[n++] = extra[i];
    char *od = bml__sprintf("output_dir=%s/runs", fz_scratch());
    char *dir = bml__path_join(fz_source_dir(), "configs");
    if (!od || !dir) abort();
    ov[n++] = od;
    ov[n++] = loco ? "split=loco" : "split=temperature_holdout";
    if (bml_config_compose(dir, ov, n, &cfg[sel][loco]) != BML_OK) {
        fprintf(stderr, "fuzz harness: the %s study's configuration: %s\n", study_names[sel], bml_last_error());
        abort();
    }
    free(od);
    free(dir);
    return cfg[sel][loco];
}

typedef struct {
    const uint8_t *parts[MAX_PARTS];
    size_t lens[MAX_PARTS];
    size_t n_parts;
    const uint8_t *rest; /* the input after the selector */
    size_t rest_len;
    const char *write_dir; /* seed mode: FUZZ_FOLD_RESULT_WRITE */
    int sel;               /* the study: 0 lgbm, 1 acla */
    unsigned char selb;    /* the selector byte */
} ctx;

/* seed mode: every fold fitted here; the selector byte and the folds' bytes joined by FZ_SEP written */
static bml_status write_seed(ctx *c, bml_fold_job *job, int *assemble) {
    *assemble = 0;
    size_t F = bml_fold_job_n_folds(job);
    char *path = bml__sprintf("%s/%s%s%s", c->write_dir, study_names[c->sel], c->selb & 4 ? "-loco" : "",
                              c->selb & 2 ? "-write" : "");
    FILE *out = path ? fopen(path, "wb") : NULL;
    bml_status st = out ? BML_OK : bml__fail(BML_ERR_IO, "%s: cannot write", path ? path : c->write_dir);
    if (st == BML_OK && fwrite(&c->selb, 1, 1, out) != 1) st = bml__fail(BML_ERR_IO, "%s: cannot write", path);
    for (size_t f = 0; st == BML_OK && f < F; f++) {
        char *b = NULL;
        size_t n = 0;
        st = bml_fold_job_run(job, f, &b, &n);
        if (st == BML_OK && ((f && fwrite(FZ_SEP, 1, FZ_SEP_LEN, out) != FZ_SEP_LEN) || fwrite(b, 1, n, out) != n))
            st = bml__fail(BML_ERR_IO, "%s: cannot write", path);
        free(b);
    }
    if (out && fclose(out) && st == BML_OK) st = bml__fail(BML_ERR_IO, "%s: cannot write", path);
    free(path);
    return st;
}

static bml_status exec_run(void *user, bml_fold_job *job, int *assemble) {
    ctx *c = user;
    if (c->write_dir) return write_seed(c, job, assemble);
    *assemble = 1;
    size_t F = bml_fold_job_n_folds(job);
    size_t max = F < MAX_PARTS ? F : MAX_PARTS;
    c->n_parts = fz_split(c->rest, c->rest_len, c->parts, c->lens, max);
    for (size_t f = 0; f < F; f++) {
        bml_status st;
        if (f < c->n_parts) {
            fz_reset_error();
            st = bml_fold_job_accept(job, f, (const char *)c->parts[f], c->lens[f]);
            fz_check_status(st, "bml_fold_job_accept");
            if (st == BML_OK) continue;
            if (st != BML_ERR_PARSE && st != BML_ERR_NOMEM) {
                fprintf(stderr, "fuzz harness: bml_fold_job_accept refused bytes with %s, not BML_ERR_PARSE: %s\n",
                        bml_status_name(st), bml_last_error());
                abort();
            }
            /* the fold is still free: the refusal is recorded as the executor of mpirun records it */
            st = bml_fold_job_fail(job, f, bml_last_error());
        } else {
            st = bml_fold_job_fail(job, f, "no result in the input");
        }
        if (st != BML_OK) {
            fprintf(stderr, "fuzz harness: bml_fold_job_fail(fold %zu): %s\n", f, bml_last_error());
            abort();
        }
    }
    return BML_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ctx c;
    memset(&c, 0, sizeof c);
    c.selb = data[0];
    c.sel = data[0] & 1;
    c.rest = data + 1;
    c.rest_len = size - 1;
    c.write_dir = getenv("FUZZ_FOLD_RESULT_WRITE");
    const bml_config *cfg = study(c.sel, (data[0] & 4) != 0);
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = fz_source_dir(), .write_run_dir = (data[0] & 2) && !c.write_dir};
    bml_fold_executor ex = {exec_run, &c};
    bml_run_result *r = NULL;
    fz_reset_error();
    bml_status st = bml_run_experiment_exec(cfg, &o, &ex, &r);
    fz_check_status(st, "bml_run_experiment_exec");
    if (c.write_dir && st != BML_OK) abort(); /* the seeds must be written */
    if (st == BML_OK && r && r->run_dir) {
        if (!o.write_run_dir) { /* write_run_dir 0: nothing on disk */
            fprintf(stderr, "fuzz harness: a run directory was written: %s\n", r->run_dir);
            abort();
        }
        bml__rm_rf(r->run_dir);
    }
    bml_run_result_free(r);
    return 0;
}
