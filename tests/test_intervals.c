/* Prediction intervals in a study (uncertainty=cv_plus|jackknife_plus): predictions.csv's lower_/upper_ columns
 * are exactly what the library's CV+ (bml_cvplus_fit, bml_cvplus_interval) gives on the fold's own training and
 * evaluated rows, computed here independently of the runner; metrics.json's coverage is their coverage; the
 * numbers do not depend on how many folds run at once; bad settings are named before anything runs. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdint.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

#define CONFIGS BML_SOURCE_DIR "/configs"

static bml_config *compose(const char *dir, const char *jobs, const char *extra) {
    char od[256];
    snprintf(od, sizeof od, "output_dir=%s", dir);
    const char *ov[] = {"model=ridge", "split=loco", "data.experiment=5", "figures=false", "explain.enabled=false",
                        "uncertainty=cv_plus", "uncertainty.groups=3", "run_name=r", od, jobs, extra};
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, ov, extra ? 11 : 10, &c));
    return c;
}

static char *read_text(const char *dir, const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *t = NULL;
    if (bml__read_file(p, &t, NULL) != BML_OK) return NULL;
    return t;
}

/* the last two fields (lower, upper) of predictions.csv's rows of fold `fold`, in order */
static size_t fold_bounds(const char *csv, const char *fold, double *lo, double *up, size_t cap) {
    size_t n = 0, fl = strlen(fold);
    for (const char *line = strchr(csv, '\n'); line && line[1] && n < cap; line = strchr(line + 1, '\n')) {
        const char *s = line + 1, *e = strchr(s, '\n');
        if (strncmp(s, fold, fl) || s[fl] != ',') continue;
        const char *c2 = e - 1;
        while (c2 > s && *c2 != ',') c2--;
        const char *c1 = c2 - 1;
        while (c1 > s && *c1 != ',') c1--;
        lo[n] = strtod(c1 + 1, NULL);
        up[n] = strtod(c2 + 1, NULL);
        n++;
    }
    return n;
}

static void test_intervals_are_the_library_cvplus(void) {
    char dir[] = "/tmp/bml-intervals-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    bml_config *c = compose(dir, "jobs=1", NULL);
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR, .write_run_dir = 1};
    bml_run_result *r = NULL;
    if (c) CHECK_OK(bml_run_experiment(c, &o, &r));
    char run[300];
    snprintf(run, sizeof run, "%s/r", dir);
    char *csv = r ? read_text(run, "predictions.csv") : NULL, *metrics = r ? read_text(run, "metrics.json") : NULL;
    CHECK(csv && strstr(csv, ",pred_soh,lower_soh,upper_soh\n"));
    CHECK(metrics && strstr(metrics, "\"intervals\"") && strstr(metrics, "\"method\":\t\"cv_plus\"") && strstr(metrics, "\"coverage\""));
    /* the same fold computed here: the loco fold of the data's first cell, its training rows and its held-out rows */
    bml_dataset *ds = NULL;
    bml_samples *s = NULL, *tr = NULL, *ev = NULL;
    bml_split *sp = NULL;
    bml_cvplus *cv = NULL;
    if (c) CHECK_OK(bml_run_load_data(c, BML_SOURCE_DIR, NULL, 0, &ds));
    if (ds) CHECK_OK(bml_run_build_samples(c, ds, 0, &s));
    if (s) CHECK_OK(bml_split_create("loco", NULL, 0, s, 42, &sp));
    if (sp) {
        const bml_fold *f = &sp->folds[0];
        size_t ne;
        const size_t *ei = bml_fold_eval(f, &ne);
        CHECK_OK(bml_samples_subset(s, f->train, f->n_train, &tr));
        CHECK_OK(bml_samples_subset(s, ei, ne, &ev));
        bml_kv params[] = {{"alpha", "1.0"}};
        if (tr) CHECK_OK(bml_cvplus_fit("ridge", params, 1, tr, 42, 3, NULL, &cv));
        double *lo = calloc(ne, sizeof *lo), *up = calloc(ne, sizeof *up), *flo = calloc(ne + 1, sizeof *flo),
               *fup = calloc(ne + 1, sizeof *fup);
        if (cv && ev && lo && up) CHECK_OK(bml_cvplus_interval(cv, ev->x, ne, 0.1, lo, up));
        size_t n = csv && flo && fup ? fold_bounds(csv, f->name, flo, fup, ne + 1) : 0;
        CHECK_INT(n, ne);
        size_t same = 0;
        for (size_t i = 0; lo && up && i < n && i < ne; i++) same += flo[i] == lo[i] && fup[i] == up[i];
        CHECK_INT(same, ne); /* bit for bit */
        CHECK(ne > 0);
        free(lo), free(up), free(flo), free(fup);
    }
    bml_cvplus_free(cv);
    bml_samples_free(tr), bml_samples_free(ev), bml_samples_free(s);
    bml_split_free(sp);
    bml_dataset_free(ds);
    /* two folds at once: the same file */
    bml_run_result *r2 = NULL;
    bml_config *c2 = compose(dir, "jobs=2", "run_name=r2");
    if (c2) CHECK_OK(bml_run_experiment(c2, &o, &r2));
    char run2[300];
    snprintf(run2, sizeof run2, "%s/r2", dir);
    char *csv2 = r2 ? read_text(run2, "predictions.csv") : NULL;
    CHECK(csv && csv2 && !strcmp(csv, csv2));
    free(csv), free(csv2), free(metrics);
    bml_run_result_free(r), bml_run_result_free(r2);
    bml_config_free(c), bml_config_free(c2);
    bml__rm_rf(dir);
}

static void test_bad_settings_named(void) {
    static const struct {
        const char *ov, *msg;
    } cases[] = {
        {"uncertainty.alpha=1.5", "uncertainty.alpha must be a number between 0 and 1"},
        {"uncertainty.groups=1", "uncertainty.groups must be a whole number from 2"},
        {"uncertainty.name=mapie", "unknown method 'mapie' (valid: none, split, cv_plus, jackknife_plus)"},
        {"uncertainty=split", "split conformal needs calibration cells"},
        {"pipeline=latent_ode_seq", "intervals for static samples only"},
    };
    static const char *const seq[] = {"model=lstm_attn", "training.epochs=1", "split=temperature_holdout"};
    bml_run_opts o = {.version = BML_RUN_OPTS_VERSION, .base_dir = BML_SOURCE_DIR};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int is_seq = i == 4;
        const char *ov[] = {"uncertainty=cv_plus", is_seq ? seq[0] : "model=ridge", is_seq ? seq[2] : "split=loco",
                            "data.experiment=5", cases[i].ov, seq[1]};
        bml_config *c = NULL;
        CHECK_OK(bml_config_compose(CONFIGS, ov, is_seq ? 6 : 5, &c));
        bml_run_result *r = NULL;
        if (c) CHECK_ERR(bml_run_experiment(c, &o, &r), BML_ERR_VALUE, cases[i].msg);
        bml_run_result_free(r);
        bml_config_free(c);
    }
}

/* a run's config.yaml written before the uncertainty group existed still loads, taking its default option */
static void test_config_before_the_group(void) {
    char dir[] = "/tmp/bml-oldcfg-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    bml_config *c = NULL;
    CHECK_OK(bml_config_compose(CONFIGS, NULL, 0, &c));
    char *y = c ? bml_config_to_yaml(c) : NULL;
    CHECK(y && strstr(y, "uncertainty:"));
    if (y) { /* cut the uncertainty section out */
        char *u = strstr(y, "uncertainty:\n");
        char *end = u ? u + strlen("uncertainty:\n") : NULL;
        while (end && *end == ' ') end = strchr(end, '\n') ? strchr(end, '\n') + 1 : end + strlen(end);
        if (u) memmove(u, end, strlen(end) + 1);
        char p[300];
        snprintf(p, sizeof p, "%s/config.yaml", dir);
        CHECK_OK(bml__write_file(p, y, strlen(y)));
        bml_config *old = NULL;
        CHECK_OK(bml_config_load_resolved(p, CONFIGS, NULL, 0, &old));
        CHECK_STR(old ? bml_config_get(old, "uncertainty.name") : NULL, "none");
        bml_config_free(old);
        /* a group named in part is still an error */
        const char *part = "uncertainty:\n  alpha: 0.2\n";
        char *y2 = bml__sprintf("%s%s", y, part);
        snprintf(p, sizeof p, "%s/config2.yaml", dir);
        CHECK_OK(bml__write_file(p, y2, strlen(y2)));
        CHECK_ERR(bml_config_load_resolved(p, CONFIGS, NULL, 0, &old), BML_ERR_VALUE, "missing key 'uncertainty.name'");
        free(y2);
    }
    free(y);
    bml_config_free(c);
    bml__rm_rf(dir);
}

TEST_MAIN("intervals", {"intervals_are_the_library_cvplus", test_intervals_are_the_library_cvplus},
          {"bad_settings_named", test_bad_settings_named}, {"config_before_the_group", test_config_before_the_group})
