/* Pipelines (summary_set, table), the scaler, imputation and the splits. */
#define _DEFAULT_SOURCE
#include <unistd.h>

#include "core/internal.h"
#include "test.h"

static bml_samples *expt5(const bml_kv *kv, size_t n) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("summary_set", kv, n, &p));
    if (ds && p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    bml_pipeline_free(p);
    bml_dataset_free(ds);
    return s;
}

static void test_summary_set_features(void) {
    bml_samples *s = expt5(NULL, 0);
    if (!s) return;
    CHECK_INT(s->n, 128);
    CHECK_INT(s->n_features, 5);
    CHECK_INT(s->n_targets, 1);
    CHECK_STR(s->feature_names[3], "arrhenius");
    CHECK_STR(s->target_names[0], "soh");
    /* cell A (10 degC), row 2: throughput 1216.293942 Ah, resistance 0.027437794 Ohm */
    const double *x = s->x + 2 * 5;
    CHECK_NEAR(x[0], 1216.293942, 1e-9);
    CHECK_NEAR(x[1], 0.027437794, 1e-12);
    CHECK_NEAR(x[2], 283.15, 1e-12);
    CHECK_NEAR(x[3], exp(-50000.0 / (8.314462618 * 283.15)), 1e-22);
    CHECK_NEAR(x[4], 1000.0 / 283.15, 1e-12);
    CHECK(isnan(s->x[1 * 5 + 1])); /* resistance missing in row 1: NaN, never 0 */
    CHECK_NEAR(s->y[2], 0.911022432, 1e-12);
    CHECK_STR(s->meta[2].cell, "A");
    CHECK_INT(s->meta[2].set_index, 2);
    CHECK_NEAR(s->meta[2].days, 35, 0);
    char key[32];
    bml_sample_cell_key(&s->meta[2], key, sizeof key);
    CHECK_STR(key, "E5-A");
    bml_samples_free(s);
}

static void test_summary_set_options(void) {
    bml_kv kv[] = {{"target", "modes"}, {"include_days", "true"}, {"missing_indicator", "true"}, {"ea_kj_mol", "30"}};
    bml_samples *s = expt5(kv, 4);
    if (!s) return;
    CHECK_INT(s->n_features, 7);
    CHECK_INT(s->n_targets, 3);
    CHECK_STR(s->target_names[0], "LAM_NE");
    CHECK_STR(s->target_names[2], "LLI");
    CHECK_STR(s->feature_names[6], "resistance_missing");
    CHECK_NEAR(s->x[1 * 7 + 6], 1, 0);
    CHECK_NEAR(s->x[2 * 7 + 6], 0, 0);
    CHECK_NEAR(s->x[2 * 7 + 3], exp(-30000.0 / (8.314462618 * 283.15)), 1e-20);
    CHECK_NEAR(s->y[1 * 3 + 2], 0.065390944, 1e-12); /* LLI of cell A, set 1 */
    bml_samples_free(s);
    bml_kv cap[] = {{"target", "capacity"}};
    s = expt5(cap, 1);
    if (s) CHECK_NEAR(s->y[0], 4.87888457, 1e-12);
    bml_samples_free(s);
}

static void test_pipeline_errors(void) {
    bml_pipeline *p = NULL;
    CHECK_ERR(bml_pipeline_create("nope", NULL, 0, &p), BML_ERR_NOT_FOUND, "unknown pipeline 'nope' (valid: summary_set, latent_ode_seq, ica_peaks, table, delta_q)");
    bml_kv bad[] = {{"target", "voltage"}};
    CHECK_OK(bml_pipeline_create("summary_set", bad, 1, &p));
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    bml_samples *s = NULL;
    if (p && ds) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "unknown target 'voltage'");
    bml_pipeline_free(p);
    bml_kv unk[] = {{"window", "3"}};
    CHECK_ERR(bml_pipeline_create("summary_set", unk, 1, &p), BML_ERR_VALUE, "unknown parameter 'window'");
    CHECK_OK(bml_pipeline_create("table", NULL, 0, &p));
    if (p && ds) CHECK_ERR(bml_pipeline_transform(p, ds, &s), BML_ERR_VALUE, "pipeline table needs a generic table");
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

static void test_scaler_and_impute(void) {
    bml_samples *s = expt5(NULL, 0);
    if (!s) return;
    size_t rows[] = {0, 2, 4}; /* cell A, sets 0, 2, 4 */
    bml_scaler sc = {0};
    CHECK_OK(bml_scaler_fit(&sc, s, rows, 3));
    double a = s->x[0], b = s->x[10], c = s->x[20], mean = (a + b + c) / 3;
    double sd = sqrt(((a - mean) * (a - mean) + (b - mean) * (b - mean) + (c - mean) * (c - mean)) / 3);
    CHECK_NEAR(sc.mean[0], mean, 1e-9);
    CHECK_NEAR(sc.scale[0], sd, 1e-9);
    CHECK_NEAR(sc.scale[2], 1, 0); /* constant temperature within the rows: scale 1 */
    double x[5];
    memcpy(x, s->x + 2 * 5, sizeof x);
    bml_scaler_transform(&sc, x, 1, 5);
    CHECK_NEAR(x[0], (b - mean) / sd, 1e-12);
    bml_scaler_release(&sc);
    /* imputation fills NaN with the mean over the given rows only */
    CHECK_OK(bml_samples_impute_mean(s, rows, 3));
    CHECK_NEAR(s->x[1 * 5 + 1], (s->x[1] + s->x[11] + s->x[21]) / 3, 1e-15);
    bml_samples_free(s);
}

static int disjoint_and_complete(const bml_fold *f, size_t n, int need_all) {
    int *seen = calloc(n, sizeof *seen);
    int ok = 1;
    for (size_t i = 0; i < f->n_train; i++) seen[f->train[i]]++;
    for (size_t i = 0; i < f->n_val; i++) seen[f->val[i]]++;
    for (size_t i = 0; i < f->n_test; i++) seen[f->test[i]]++;
    for (size_t i = 0; i < n; i++) ok &= seen[i] <= 1 && (!need_all || seen[i] == 1);
    free(seen);
    return ok;
}

static void test_splits(void) {
    bml_samples *s = expt5(NULL, 0);
    if (!s) return;
    bml_split *sp = NULL;
    CHECK_OK(bml_split_create("temperature_holdout", NULL, 0, s, 42, &sp));
    if (sp) {
        CHECK_INT(sp->n_folds, 1);
        CHECK_INT(sp->folds[0].n_train, 96);
        CHECK_INT(sp->folds[0].n_val, 32);
        for (size_t i = 0; i < sp->folds[0].n_val; i++) CHECK_NEAR(s->meta[sp->folds[0].val[i]].temperature_c, 25, 0);
        CHECK(disjoint_and_complete(&sp->folds[0], s->n, 1));
    }
    bml_split_free(sp);
    bml_kv t40[] = {{"train_temps", "[10]"}, {"val_temps", "[40]"}};
    CHECK_OK(bml_split_create("temperature_holdout", t40, 2, s, 42, &sp));
    if (sp) CHECK_INT(sp->folds[0].n_train + sp->folds[0].n_val, 96);
    bml_split_free(sp);
    bml_kv t99[] = {{"val_temps", "[99]"}};
    CHECK_ERR(bml_split_create("temperature_holdout", t99, 1, s, 42, &sp), BML_ERR_EMPTY, "no validation samples");
    /* LOCO: one fold per cell, the held-out cell is the whole validation set */
    CHECK_OK(bml_split_create("loco", NULL, 0, s, 42, &sp));
    if (sp) {
        CHECK_INT(sp->n_folds, 8);
        for (size_t f = 0; f < sp->n_folds; f++) {
            CHECK_INT(sp->folds[f].n_val, 16);
            CHECK_INT(sp->folds[f].n_train, 112);
            CHECK(disjoint_and_complete(&sp->folds[f], s->n, 1));
            char key[32];
            bml_sample_cell_key(&s->meta[sp->folds[f].val[0]], key, sizeof key);
            CHECK_STR(key, sp->folds[f].name);
        }
    }
    bml_split_free(sp);
    bml_kv cells[] = {{"cells", "[E5-D, E5-A]"}};
    CHECK_OK(bml_split_create("loco", cells, 1, s, 42, &sp));
    if (sp) CHECK_INT(sp->n_folds, 2);
    bml_split_free(sp);
    bml_kv nocell[] = {{"cells", "[E9-Z]"}};
    CHECK_ERR(bml_split_create("loco", nocell, 1, s, 42, &sp), BML_ERR_VALUE, "no cell 'E9-Z' in the data (cells: E5-A");
    /* temporal: per cell, first 60 % of sets train, next 20 % val, rest test */
    CHECK_OK(bml_split_create("temporal", NULL, 0, s, 42, &sp));
    if (sp) {
        CHECK_INT(sp->folds[0].n_train, 8 * 9);
        CHECK_INT(sp->folds[0].n_val, 8 * 3);
        CHECK_INT(sp->folds[0].n_test, 8 * 4);
        for (size_t i = 0; i < sp->folds[0].n_train; i++) CHECK(s->meta[sp->folds[0].train[i]].set_index < 9);
        for (size_t i = 0; i < sp->folds[0].n_test; i++) CHECK(s->meta[sp->folds[0].test[i]].set_index >= 12);
        size_t n;
        CHECK(bml_fold_eval(&sp->folds[0], &n) == sp->folds[0].test);
    }
    bml_split_free(sp);
    bml_kv tf[] = {{"train_fraction", "0.9"}, {"val_fraction", "0.5"}};
    CHECK_ERR(bml_split_create("temporal", tf, 2, s, 42, &sp), BML_ERR_VALUE, "must be <= 1");
    CHECK_ERR(bml_split_create("kfold", NULL, 0, s, 42, &sp), BML_ERR_NOT_FOUND, "unknown split 'kfold' (valid: temperature_holdout, loco");
    bml_samples_free(s);
}

/* A sample with an unknown (NaN) target is never trained on: every fold that would train on it evaluates it
 * instead (its test set when it has one, else its validation set); LOCO makes no fold for a cell with no known
 * target (it is predicted in every other fold) unless the cell is asked for by name. */
static void test_unknown_targets(void) {
    bml_samples *s = expt5(NULL, 0);
    if (!s) return;
    char key0[32], key[32];
    bml_sample_cell_key(&s->meta[0], key0, sizeof key0);
    size_t n_unknown = 0, lone = s->n;
    for (size_t i = 0; i < s->n; i++) {
        bml_sample_cell_key(&s->meta[i], key, sizeof key);
        int whole_cell = !strcmp(key, key0);
        if (!whole_cell && lone == s->n) lone = i; /* one sample of another cell too */
        if (whole_cell || i == lone)
            for (size_t k = 0; k < s->n_targets; k++) s->y[i * s->n_targets + k] = NAN;
        n_unknown += whole_cell || i == lone;
    }
    const char *names[4] = {"loco", "random", "temporal", "temperature_holdout"};
    for (int m = 0; m < 4; m++) {
        bml_split *sp = NULL;
        CHECK_OK(bml_split_create(names[m], NULL, 0, s, 42, &sp));
        if (!sp) continue;
        if (m == 0) CHECK_INT(sp->n_folds, 7); /* no fold for the cell of unknown targets */
        for (size_t f = 0; f < sp->n_folds; f++) {
            const bml_fold *fo = &sp->folds[f];
            CHECK(disjoint_and_complete(fo, s->n, m < 3));
            for (size_t t = 0; t < fo->n_train; t++) CHECK(!isnan(s->y[fo->train[t] * s->n_targets]));
            size_t n_ev, in_ev = 0;
            const size_t *ev = bml_fold_eval(fo, &n_ev);
            for (size_t t = 0; t < n_ev; t++) in_ev += isnan(s->y[ev[t] * s->n_targets]);
            if (m < 3) CHECK_INT(in_ev, n_unknown); /* every unknown sample evaluated in every fold */
            if (m == 0) CHECK(strcmp(fo->name, key0) != 0);
        }
        bml_split_free(sp);
    }
    bml_kv ask[] = {{"cells", key0}};
    char list[40];
    snprintf(list, sizeof list, "[%s]", key0);
    ask[0].value = list;
    bml_split *sp = NULL;
    CHECK_OK(bml_split_create("loco", ask, 1, s, 42, &sp)); /* asked for by name: its fold is made */
    if (sp) CHECK_INT(sp->n_folds, 1);
    bml_split_free(sp);
    bml_samples_free(s);
}

static void test_random_splits_seeded(void) {
    bml_samples *s = expt5(NULL, 0);
    if (!s) return;
    bml_split *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(bml_split_create("random", NULL, 0, s, 7, &a));
    CHECK_OK(bml_split_create("random", NULL, 0, s, 7, &b));
    CHECK_OK(bml_split_create("random", NULL, 0, s, 8, &c));
    if (a && b && c) {
        CHECK_INT(a->folds[0].n_val, 26); /* round(0.2 * 128) */
        CHECK(disjoint_and_complete(&a->folds[0], s->n, 1));
        CHECK(!memcmp(a->folds[0].val, b->folds[0].val, a->folds[0].n_val * sizeof(size_t)));
        CHECK(memcmp(a->folds[0].val, c->folds[0].val, a->folds[0].n_val * sizeof(size_t)) != 0);
    }
    bml_split_free(a);
    bml_split_free(b);
    bml_split_free(c);
    /* stratified: every temperature keeps its share; by cell: whole cells move */
    bml_kv by_cell[] = {{"group_by_cell", "true"}, {"val_fraction", "0.25"}};
    CHECK_OK(bml_split_create("stratified", by_cell, 2, s, 3, &a));
    if (a) {
        int per_t[3] = {0, 0, 0};
        for (size_t i = 0; i < a->folds[0].n_val; i++) {
            double t = s->meta[a->folds[0].val[i]].temperature_c;
            per_t[t == 10 ? 0 : t == 25 ? 1 : 2]++;
        }
        /* 3 cells at 10 degC -> 1, 2 at 25 -> 1 (never all), 3 at 40 -> 1 */
        CHECK_INT(per_t[0], 16);
        CHECK_INT(per_t[1], 16);
        CHECK_INT(per_t[2], 16);
    }
    bml_split_free(a);
    bml_samples_free(s);
}

static void test_latent_ode_seq(void) {
    int e[] = {1, 5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 2};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL, *flat = NULL, *sub = NULL;
    bml_kv kv[] = {{"target", "modes"}};
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("latent_ode_seq", kv, 1, &p));
    if (!ds || !p) goto out;
    CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (!s) goto out;
    CHECK_INT(s->n, 17);      /* 9 cells of experiment 1, 8 of experiment 5 */
    CHECK_INT(s->seq_len, 16);
    CHECK_INT(s->n_targets, 3);
    size_t T = 16, valid = 0;
    for (size_t i = 0; i < s->n * T; i++) valid += s->mask[i] != 0;
    CHECK_INT(valid, bml_dataset_n_rows(ds)); /* nothing truncated, nothing invented */
    /* experiment 1 cell J has 11 sets: steps 11..15 are padding with zero values */
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->meta[i].experiment == 1 && !strcmp(s->meta[i].cell, "J")) j = i;
    CHECK_NEAR(s->mask[j * T + 10], 1, 0);
    CHECK_NEAR(s->mask[j * T + 11], 0, 0);
    CHECK_NEAR(s->x[(j * T + 12) * s->n_features], 0, 0);
    CHECK_INT(s->step_meta[j * T + 10].set_index, 10);
    CHECK_NEAR(s->t[j * T + 0], 0, 0);
    CHECK(s->t[j * T + 10] > s->t[j * T + 9]);
    CHECK_OK(bml_samples_flatten(s, &flat));
    if (flat) CHECK_INT(flat->n, valid);
    size_t idx[] = {j};
    CHECK_OK(bml_samples_subset(s, idx, 1, &sub));
    if (sub) CHECK_NEAR(sub->mask[11], 0, 0);
    bml_split *sp = NULL;
    CHECK_ERR(bml_split_create("temporal", NULL, 0, s, 1, &sp), BML_ERR_VALUE, "not with sequences");
    CHECK_OK(bml_split_create("loco", NULL, 0, s, 1, &sp));
    if (sp) CHECK_INT(sp->n_folds, 17);
    bml_split_free(sp);
    bml_pipeline_free(p);
    bml_kv short_kv[] = {{"max_seq_len", "12"}};
    CHECK_OK(bml_pipeline_create("latent_ode_seq", short_kv, 1, &p));
    bml_samples *t = NULL;
    if (p) CHECK_ERR(bml_pipeline_transform(p, ds, &t), BML_ERR_VALUE, "more than max_seq_len=12");
    bml_pipeline_free(p);
    bml_kv trunc_kv[] = {{"max_seq_len", "12"}, {"truncate", "true"}};
    CHECK_OK(bml_pipeline_create("latent_ode_seq", trunc_kv, 2, &p));
    if (p) CHECK_OK(bml_pipeline_transform(p, ds, &t));
    if (t) CHECK_INT(t->seq_len, 12);
    bml_samples_free(t);
out:
    bml_samples_free(sub);
    bml_samples_free(flat);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

static void test_subset(void) {
    bml_samples *s = expt5(NULL, 0);
    if (!s) return;
    size_t idx[] = {5, 3};
    bml_samples *t = NULL;
    CHECK_OK(bml_samples_subset(s, idx, 2, &t));
    if (t) {
        CHECK_INT(t->n, 2);
        CHECK_NEAR(t->y[0], s->y[5], 0);
        CHECK_INT(t->meta[1].set_index, 3);
        CHECK_STR(t->feature_names[0], "charge_throughput_ah");
    }
    bml_samples_free(t);
    bml_samples_free(s);
}

/* meta[].cell points into storage the samples own: it outlives the dataset, a subset or flattened copy has its
 * own, and padded sequence steps read "" (ASan catches a pointer left into freed storage) */
static void test_cell_ids_owned_by_samples(void) {
    int e[] = {1};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL, *sub = NULL, *flat = NULL;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("latent_ode_seq", NULL, 0, &p));
    if (ds && p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    bml_dataset_free(ds);
    bml_pipeline_free(p);
    if (!s) return;
    size_t T = s->seq_len, j = s->n;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->meta[i].cell, "J")) j = i;
    CHECK(j < s->n);
    if (j == s->n) j = 0;
    CHECK_STR(s->step_meta[j * T + 10].cell, "J");
    CHECK_STR(s->step_meta[j * T + 11].cell, ""); /* padding */
    size_t idx[] = {j, 0};
    CHECK_OK(bml_samples_subset(s, idx, 2, &sub));
    CHECK_OK(bml_samples_flatten(s, &flat));
    char *first = bml__strdup(s->meta[0].cell);
    bml_samples_free(s);
    if (sub) {
        CHECK_STR(sub->meta[0].cell, "J");
        CHECK_STR(sub->step_meta[10].cell, "J");
        CHECK_STR(sub->step_meta[11].cell, "");
        CHECK_STR(sub->meta[1].cell, first);
    }
    if (flat) {
        CHECK_STR(flat->meta[0].cell, first);
        bml_samples *again = NULL;
        size_t last = flat->n - 1;
        CHECK_OK(bml_samples_subset(flat, &last, 1, &again));
        if (again) CHECK_STR(again->meta[0].cell, flat->meta[last].cell);
        bml_samples_free(again);
    }
    free(first);
    bml_samples_free(sub);
    bml_samples_free(flat);
}

/* The features table of sequence samples: one row per real step with that step's meta and values (it once
 * wrote n rows with the first cells' steps under the cells' names). Experiment 1 has a short cell (J). */
static void test_sequence_samples_csv(void) {
    int e[] = {1};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    char dir[] = "/tmp/bml-test-seqcsv-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = bml__path_join(dir, "features.csv"), *txt = NULL;
    size_t len = 0;
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("latent_ode_seq", NULL, 0, &p));
    if (ds && p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    if (s) CHECK_OK(bml_samples_write_csv(s, path));
    if (s && bml__read_file(path, &txt, &len) == BML_OK) {
        size_t lines = 0;
        for (size_t i = 0; i < len; i++) lines += txt[i] == '\n';
        CHECK_INT(lines, 1 + bml_dataset_n_rows(ds)); /* header + every real step, no padding */
        /* the second row is cell A's step 1 (set 1), the row after cell A's last step is cell B's step 0 */
        const char *row1 = strchr(txt, '\n') + 1, *row2 = strchr(row1, '\n') + 1;
        CHECK(!strncmp(row1, "1,A,10,0,", 9));
        CHECK(!strncmp(row2, "1,A,10,1,", 9));
        size_t T = s->seq_len, nA = 0;
        for (size_t t = 0; t < T; t++) nA += s->mask[t] != 0;
        const char *r = row1;
        for (size_t k = 0; k < nA && r; k++) r = strchr(r, '\n') + 1;
        CHECK(r && !strncmp(r, "1,B,10,0,", 9));
    }
    free(txt);
    if (path) unlink(path);
    rmdir(dir);
    free(path);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

TEST_MAIN("pipeline", T(test_summary_set_features), T(test_summary_set_options), T(test_pipeline_errors),
          T(test_scaler_and_impute), T(test_splits), T(test_unknown_targets), T(test_random_splits_seeded), T(test_latent_ode_seq), T(test_subset),
          T(test_cell_ids_owned_by_samples), T(test_sequence_samples_csv))
