/* Splits: temperature holdout, leave-one-cell-out, temporal, random, stratified by temperature. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "splits/split_internal.h"

typedef struct {
    char *train_temps, *val_temps;  /* temperature_holdout */
    double train_fraction, val_fraction; /* temporal, random, stratified */
    int group_by_cell;
    char *cells;                    /* loco: which cells to hold out ([] = all) */
    char *train_set, *exclude;      /* predefined */
} split_params;

#define OFF(f) offsetof(split_params, f)
static const bml__param_spec holdout_specs[] = {
    {"train_temps", BML__P_LIST, OFF(train_temps), "[10, 40]", 1, 0, 0, "nominal temperatures (degC) to train on"},
    {"val_temps", BML__P_LIST, OFF(val_temps), "[25]", 1, 0, 0, "nominal temperatures (degC) to validate on"},
};
static const bml__param_spec loco_specs[] = {
    {"cells", BML__P_LIST, OFF(cells), "[]", 1, 0, 0, "cell keys to hold out, e.g. [E5-A, E5-D] ([] = every cell)"},
};
static const bml__param_spec temporal_specs[] = {
    {"train_fraction", BML__P_DOUBLE, OFF(train_fraction), "0.6", 0, 1, 1, "first fraction of each cell's sets"},
    {"val_fraction", BML__P_DOUBLE, OFF(val_fraction), "0.2", 0, 1, 1, "next fraction (the rest is test)"},
};
static const bml__param_spec random_specs[] = {
    {"val_fraction", BML__P_DOUBLE, OFF(val_fraction), "0.2", 0, 1, 1, "fraction of samples (or cells) for validation"},
    {"group_by_cell", BML__P_BOOL, OFF(group_by_cell), "false", 1, 0, 0, "assign whole cells instead of samples"},
};

static const bml__param_spec predefined_specs[] = {
    {"train", BML__P_STRING, OFF(train_set), "train", 1, 0, 0, "the set to train on (the other sets are evaluated one fold each)"},
    {"exclude", BML__P_LIST, OFF(exclude), "[]", 1, 0, 0, "cell ids left out of every fold, e.g. [test1_cell22]"},
};

/* ------------------------------------------------------------------ the registry */
static bml_status make_holdout(const bml__split_ctx *c, bml_split *sp);
static bml_status make_loco(const bml__split_ctx *c, bml_split *sp);
static bml_status make_temporal(const bml__split_ctx *c, bml_split *sp);
static bml_status make_random(const bml__split_ctx *c, bml_split *sp);
static bml_status make_predefined(const bml__split_ctx *c, bml_split *sp);

static const bml__split_def builtin[] = {
    {"temperature_holdout", "train on some temperatures, validate on others (default 10, 40 -> 25 degC)", holdout_specs, 2,
     sizeof(split_params), make_holdout},
    {"loco", "leave one cell out: one fold per cell, metrics per fold and aggregated", loco_specs, 1, sizeof(split_params),
     make_loco},
    {"temporal", "per cell, early ageing sets train, later ones validate and test", temporal_specs, 2, sizeof(split_params),
     make_temporal},
    {"random", "seeded random split of samples (or whole cells)", random_specs, 2, sizeof(split_params), make_random},
    {"stratified", "seeded random split within each temperature (samples or whole cells)", random_specs, 2,
     sizeof(split_params), make_random},
    {"predefined", "the sets the data name (data=qdlin: cells.csv's split): train on one, one fold per other set, evaluated on "
                   "all of it; samples without a target are left out",
     predefined_specs, 2, sizeof(split_params), make_predefined},
};
#define N_BUILTIN (sizeof builtin / sizeof *builtin)
/* Splits registered at run time (bml__split_register: tests); written only before any split is made, not locked. */
#define MAX_EXTRA 4
static bml__split_def extra[MAX_EXTRA];
static size_t n_extra;
#define N_DEFS (N_BUILTIN + n_extra)

static const bml__split_def *def_at(size_t i) { return i < N_BUILTIN ? &builtin[i] : i - N_BUILTIN < n_extra ? &extra[i - N_BUILTIN] : NULL; }

const bml__split_def *bml__split_register(const bml__split_def *def) {
    if (!def || !def->name || !def->make || n_extra == MAX_EXTRA || def->n_specs > 4) return NULL;
    for (size_t i = 0; i < N_DEFS; i++)
        if (!strcmp(def_at(i)->name, def->name)) return NULL;
    extra[n_extra] = *def;
    return &extra[n_extra++];
}

size_t bml_split_registry_count(void) { return N_DEFS; }
const char *bml_split_registry_name(size_t i) { return i < N_DEFS ? def_at(i)->name : NULL; }
const char *bml_split_registry_describe(size_t i) { return i < N_DEFS ? def_at(i)->description : NULL; }
/* The public descriptions of every split's parameters: written once, before the first reader
 * (pthread_once), read-only after, so that any number of threads may list them at once. */
#define MAX_SPECS 4
static bml_param_info info[N_BUILTIN + MAX_EXTRA][MAX_SPECS];
static pthread_once_t info_once = PTHREAD_ONCE_INIT;

static void info_build(void) {
    for (size_t i = 0; i < N_BUILTIN; i++) {
        BML__ASSERT(builtin[i].n_specs <= MAX_SPECS);
        bml__params_info(builtin[i].specs, builtin[i].n_specs, info[i]);
    }
}

size_t bml_split_registry_params(size_t i, const bml_param_info **params) {
    if (i >= N_DEFS) return 0;
    pthread_once(&info_once, info_build);
    if (i >= N_BUILTIN) bml__params_info(def_at(i)->specs, def_at(i)->n_specs, info[i]); /* registered before any use */
    *params = info[i];
    return def_at(i)->n_specs;
}

const size_t *bml_fold_eval(const bml_fold *f, size_t *n) {
    if (f->n_test) {
        *n = f->n_test;
        return f->test;
    }
    *n = f->n_val;
    return f->val;
}

void bml_split_free(bml_split *sp) {
    if (!sp) return;
    for (size_t i = 0; sp->folds && i < sp->n_folds; i++) {
        free(sp->folds[i].name);
        free(sp->folds[i].train);
        free(sp->folds[i].val);
        free(sp->folds[i].test);
    }
    free(sp->folds);
    free(sp);
}

/* role: 0 train, 1 val, 2 test, -1 unused; builds the fold's index arrays */
static bml_status fold_from_roles(bml_fold *f, const int *role, size_t n) {
    size_t cnt[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++)
        if (role[i] >= 0) cnt[role[i]]++;
    f->train = bml__calloc(cnt[0] ? cnt[0] : 1, sizeof(size_t));
    f->val = bml__calloc(cnt[1] ? cnt[1] : 1, sizeof(size_t));
    f->test = bml__calloc(cnt[2] ? cnt[2] : 1, sizeof(size_t));
    if (!f->train || !f->val || !f->test) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (role[i] == 0) f->train[f->n_train++] = i;
        if (role[i] == 1) f->val[f->n_val++] = i;
        if (role[i] == 2) f->test[f->n_test++] = i;
    }
    if (!f->n_train) return bml__fail(BML_ERR_EMPTY, "split fold '%s' has no training samples", f->name);
    if (!f->n_val) return bml__fail(BML_ERR_EMPTY, "split fold '%s' has no validation samples", f->name);
    return BML_OK;
}

int bml__split_target_known(const bml_samples *s, size_t i) {
    for (size_t k = 0; !s->seq_len && k < s->n_targets; k++)
        if (isnan(s->y[i * s->n_targets + k])) return 0;
    return 1;
}

/* Every split: a sample with an unknown target (a cell whose life is not known yet) is never trained on; each
 * fold that would train on it evaluates (predicts) it instead: in its test set when it has one (where an unknown
 * validation sample goes too: early stopping could not use it), else in its validation set. Metrics and early
 * stopping leave it out (they skip unknown truths). */
static bml_status unknown_to_eval(bml_split *sp, const bml_samples *s, int *role) {
    for (size_t f = 0; f < sp->n_folds; f++) {
        bml_fold *fo = &sp->folds[f];
        size_t moved = 0;
        for (size_t t = 0; t < fo->n_train; t++) moved += !bml__split_target_known(s, fo->train[t]);
        for (size_t t = 0; fo->n_test && t < fo->n_val; t++) moved += !bml__split_target_known(s, fo->val[t]);
        if (!moved) continue;
        int ev = fo->n_test ? 2 : 1;
        for (size_t i = 0; i < s->n; i++) role[i] = -1;
        for (size_t t = 0; t < fo->n_val; t++) role[fo->val[t]] = bml__split_target_known(s, fo->val[t]) ? 1 : ev;
        for (size_t t = 0; t < fo->n_test; t++) role[fo->test[t]] = 2;
        for (size_t t = 0; t < fo->n_train; t++) role[fo->train[t]] = bml__split_target_known(s, fo->train[t]) ? 0 : ev;
        free(fo->train), free(fo->val), free(fo->test);
        fo->train = fo->val = fo->test = NULL;
        fo->n_train = fo->n_val = fo->n_test = 0;
        BML__TRY(fold_from_roles(fo, role, s->n));
    }
    return BML_OK;
}

static int in_list(double v, const double *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fabs(list[i] - v) < 1e-9) return 1;
    return 0;
}

/* distinct cell keys in order of first appearance; key_of[i] = index of sample i's cell */
static bml_status cell_keys(const bml_samples *s, bml__strvec *keys, size_t *key_of) {
    for (size_t i = 0; i < s->n; i++) {
        size_t len = bml_sample_cell_key(&s->meta[i], NULL, 0); /* cell ids have any length */
        char *k = malloc(len + 1);
        if (!k) return bml__fail(BML_ERR_NOMEM, "out of memory");
        bml_sample_cell_key(&s->meta[i], k, len + 1);
        /* a cell's samples usually follow each other: the previous sample's cell first */
        int at = i > 0 && !strcmp(keys->items[key_of[i - 1]], k) ? (int)key_of[i - 1] : bml__strvec_find(keys, k);
        if (at < 0) {
            if (bml__strvec_push(keys, k) != 0) {
                free(k);
                return bml__fail(BML_ERR_NOMEM, "out of memory");
            }
            at = (int)keys->n - 1;
        }
        free(k);
        key_of[i] = (size_t)at;
    }
    return BML_OK;
}

/* Random assignment of `units` (samples or cells) to val with probability-free exact counts. */
static void assign_random(bml__rng *rng, size_t *units, size_t n_units, double val_fraction, int *unit_role) {
    bml__rng_shuffle(rng, units, n_units);
    size_t n_val = (size_t)llround(val_fraction * (double)n_units);
    if (n_val == 0 && n_units > 1) n_val = 1;
    if (n_val >= n_units && n_units > 1) n_val = n_units - 1;
    for (size_t u = 0; u < n_units; u++) unit_role[units[u]] = u < n_val ? 1 : 0;
}

/* A fold named `name` from roles (0 train, 1 val, 2 test, -1 unused) appended to sp. */
bml_status bml__split_add_fold(bml_split *sp, const char *name, const int *role, size_t n) {
    bml_fold *nf = realloc(sp->folds, (sp->n_folds + 1) * sizeof *nf);
    if (!nf) return bml__fail(BML_ERR_NOMEM, "out of memory");
    sp->folds = nf;
    bml_fold *f = &sp->folds[sp->n_folds++];
    memset(f, 0, sizeof *f);
    if (!(f->name = bml__strdup(name))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    return fold_from_roles(f, role, n);
}

static bml_status make_holdout(const bml__split_ctx *c, bml_split *sp) {
    const split_params *p = c->params;
    double *tr = NULL, *va = NULL;
    size_t ntr = 0, nva = 0;
    bml_status st = BML_OK;
    if (bml__parse_double_list(p->train_temps, &tr, &ntr) != 0 || bml__parse_double_list(p->val_temps, &va, &nva) != 0)
        st = bml__fail(BML_ERR_VALUE, "split temperature_holdout: train_temps and val_temps must be lists of numbers");
    for (size_t i = 0; st == BML_OK && i < c->s->n; i++) {
        double t = c->s->meta[i].temperature_c;
        c->role[i] = in_list(t, va, nva) ? 1 : in_list(t, tr, ntr) ? 0 : -1;
    }
    if (st == BML_OK && (st = bml__split_add_fold(sp, "holdout", c->role, c->s->n)) != BML_OK)
        bml__fail_prefix(st, "split temperature_holdout (train %s degC, validate %s degC)", p->train_temps, p->val_temps);
    free(tr);
    free(va);
    return st;
}

static bml_status make_loco(const bml__split_ctx *c, bml_split *sp) {
    const split_params *p = c->params;
    const bml__strvec *keys = c->keys;
    bml__strvec want = {0};
    bml_status st = BML_OK;
    if (bml__parse_string_list(p->cells, &want) != 0) st = bml__fail(BML_ERR_VALUE, "split loco: cells must be a list of cell keys");
    for (size_t w = 0; st == BML_OK && w < want.n; w++)
        if (bml__strvec_find(keys, want.items[w]) < 0) {
            char *all = bml__join(keys->items, keys->n, ", ");
            st = bml__fail(BML_ERR_VALUE, "split loco: no cell '%s' in the data (cells: %s)", want.items[w], all ? all : "");
            free(all);
        }
    if (st == BML_OK && keys->n < 2) st = bml__fail(BML_ERR_EMPTY, "split loco: needs at least two cells, the data has %zu", keys->n);
    for (size_t k = 0; st == BML_OK && k < keys->n; k++) {
        if (want.n && bml__strvec_find(&want, keys->items[k]) < 0) continue;
        int any_known = 0;
        for (size_t i = 0; i < c->s->n; i++)
            if (c->key_of[i] == k && bml__split_target_known(c->s, i)) any_known = 1;
        if (!any_known && !want.n) continue; /* a cell of unknown life: predicted in every other fold (see below) */
        for (size_t i = 0; i < c->s->n; i++) c->role[i] = c->key_of[i] == k ? 1 : 0;
        st = bml__split_add_fold(sp, keys->items[k], c->role, c->s->n);
    }
    if (st == BML_OK && sp->n_folds == 0) st = bml__fail(BML_ERR_EMPTY, "split loco: no cell to hold out has a known target");
    bml__strvec_free(&want);
    return st;
}

static bml_status make_temporal(const bml__split_ctx *c, bml_split *sp) {
    const split_params *p = c->params;
    const bml_samples *s = c->s;
    if (s->seq_len)
        return bml__fail(BML_ERR_VALUE, "split temporal splits ageing sets of a cell: use it with static pipelines "
                                        "(summary_set), not with sequences (one sample per cell)");
    if (p->train_fraction + p->val_fraction > 1.0 + 1e-12)
        return bml__fail(BML_ERR_VALUE, "split temporal: train_fraction + val_fraction must be <= 1 (got %g + %g)",
                         p->train_fraction, p->val_fraction);
    for (size_t k = 0; k < c->keys->n; k++) {
        /* rank of each of the cell's samples by set index */
        size_t m = 0;
        for (size_t i = 0; i < s->n; i++) m += c->key_of[i] == k;
        size_t n_train = (size_t)floor(p->train_fraction * (double)m + 1e-9);
        size_t n_val = (size_t)floor((p->train_fraction + p->val_fraction) * (double)m + 1e-9) - n_train;
        for (size_t i = 0; i < s->n; i++) {
            if (c->key_of[i] != k) continue;
            size_t rank = 0;
            for (size_t j = 0; j < s->n; j++)
                if (c->key_of[j] == k && (s->meta[j].set_index < s->meta[i].set_index ||
                                          (s->meta[j].set_index == s->meta[i].set_index && j < i)))
                    rank++;
            c->role[i] = rank < n_train ? 0 : rank < n_train + n_val ? 1 : 2;
        }
    }
    return bml__split_add_fold(sp, "temporal", c->role, s->n);
}

/* random, stratified: units are samples or whole cells (group_by_cell) */
static bml_status make_random(const bml__split_ctx *c, bml_split *sp) {
    const split_params *p = c->params;
    const bml_samples *s = c->s;
    int stratified = !strcmp(c->name, "stratified");
    bml__rng rng;
    bml__rng_seed(&rng, c->seed);
    size_t n_units = p->group_by_cell ? c->keys->n : s->n;
    size_t *units = bml__calloc(n_units + 1, sizeof *units);
    int *unit_role = bml__calloc(n_units + 1, sizeof *unit_role), *done_u = bml__calloc(n_units + 1, sizeof *done_u);
    double *unit_temp = bml__calloc(n_units + 1, sizeof *unit_temp);
    bml_status st = units && unit_role && done_u && unit_temp ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == BML_OK && i < s->n; i++) unit_temp[p->group_by_cell ? c->key_of[i] : i] = s->meta[i].temperature_c;
    if (st == BML_OK && !stratified) {
        for (size_t u = 0; u < n_units; u++) units[u] = u;
        assign_random(&rng, units, n_units, p->val_fraction, unit_role);
    }
    /* stratified: each distinct temperature in order of first appearance, split on its own */
    for (size_t u0 = 0; st == BML_OK && stratified && u0 < n_units; u0++) {
        if (done_u[u0]) continue;
        size_t m = 0;
        for (size_t u = u0; u < n_units; u++)
            if (!done_u[u] && (unit_temp[u] == unit_temp[u0] || (isnan(unit_temp[u]) && isnan(unit_temp[u0])))) {
                units[m++] = u;
                done_u[u] = 1;
            }
        assign_random(&rng, units, m, p->val_fraction, unit_role);
    }
    for (size_t i = 0; st == BML_OK && i < s->n; i++) c->role[i] = unit_role[p->group_by_cell ? c->key_of[i] : i];
    if (st == BML_OK) st = bml__split_add_fold(sp, c->name, c->role, s->n);
    free(units);
    free(unit_role);
    free(done_u);
    free(unit_temp);
    return st;
}

/* predefined: set_of[i] names sample i's set. Trains on the samples of the `train` set; one fold per other set
 * (in order of first appearance, named after it) validated and evaluated on all of that set's samples. The cells
 * named in `exclude` are in no fold. A sample with a missing (NaN) target (a cell whose life is not known yet) is
 * never trained on: it is evaluated (predicted) in the fold of its set, or in every fold when its set is the
 * training one; metrics leave it out (bml_metrics_compute skips unknown truths), and so does early stopping. */
static bml_status make_predefined(const bml__split_ctx *c, bml_split *sp) {
    const split_params *p = c->params;
    const bml_samples *s = c->s;
    if (!c->set_of)
        return bml__fail(BML_ERR_VALUE, "split predefined takes each sample's set from the data: run it on data that name them "
                                        "(data=qdlin)");
    bml__strvec excl = {0}, sets = {0};
    bml_status st = BML_OK;
    if (bml__parse_string_list(p->exclude, &excl) != 0) st = bml__fail(BML_ERR_VALUE, "split predefined: exclude must be a list of cell ids");
    for (size_t w = 0; st == BML_OK && w < excl.n; w++) {
        int found = 0;
        for (size_t i = 0; i < s->n && !found; i++) found = !strcmp(s->meta[i].cell, excl.items[w]);
        if (!found) st = bml__fail(BML_ERR_NOT_FOUND, "split predefined: exclude names '%s', which is no cell of the data", excl.items[w]);
    }
    /* the other sets in order of appearance */
    int has_train = 0;
    for (size_t i = 0; st == BML_OK && i < s->n; i++) {
        if (!strcmp(c->set_of[i], p->train_set)) has_train = 1;
        else if (bml__strvec_find(&sets, c->set_of[i]) < 0 && bml__strvec_push(&sets, c->set_of[i])) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    if (st == BML_OK && !has_train) st = bml__fail(BML_ERR_EMPTY, "split predefined: no sample is in the set '%s' (split.train)", p->train_set);
    if (st == BML_OK && sets.n == 0) st = bml__fail(BML_ERR_EMPTY, "split predefined: no set besides '%s' to evaluate on", p->train_set);
    for (size_t f = 0; st == BML_OK && f < sets.n; f++) {
        for (size_t i = 0; i < s->n; i++) {
            int known = bml__split_target_known(s, i);
            int out = bml__strvec_find(&excl, s->meta[i].cell) >= 0, in_train = !strcmp(c->set_of[i], p->train_set);
            c->role[i] = out ? -1 : in_train ? (known ? 0 : 1) : !strcmp(c->set_of[i], sets.items[f]) ? 1 : -1;
        }
        st = bml__split_add_fold(sp, sets.items[f], c->role, s->n);
    }
    bml__strvec_free(&excl);
    bml__strvec_free(&sets);
    return st;
}

bml_status bml__split_make(const char *name, const bml_kv *kv, size_t n_kv, const bml_samples *s, const char *const *set_of,
                           uint64_t seed, bml_split **out) {
    *out = NULL;
    const bml__split_def *def = NULL;
    for (size_t i = 0; i < N_DEFS; i++)
        if (name && !strcmp(def_at(i)->name, name)) def = def_at(i);
    if (!def) {
        char *names = bml__registry_names(N_DEFS, bml_split_registry_name);
        bml_status st = bml__fail(BML_ERR_NOT_FOUND, "unknown split '%s' (valid: %s)", name ? name : "(none)",
                                  names ? names : "?");
        free(names);
        return st;
    }
    if (s->n == 0) return bml__fail(BML_ERR_EMPTY, "split %s: no samples", name);
    char what[64];
    snprintf(what, sizeof what, "split %s", def->name);
    void *params = calloc(1, def->params_size ? def->params_size : 1);
    bml_split *sp = calloc(1, sizeof *sp);
    int *role = bml__calloc(s->n, sizeof *role);
    size_t *key_of = bml__calloc(s->n, sizeof *key_of);
    bml__strvec keys = {0};
    bml_status st = params && sp && role && key_of ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK) st = bml__params_parse(what, def->specs, def->n_specs, kv, n_kv, params);
    if (st == BML_OK) st = cell_keys(s, &keys, key_of);
    bml__split_ctx c = {def->name, params, s, set_of, seed, &keys, key_of, role};
    if (st == BML_OK) st = def->make(&c, sp);
    if (st == BML_OK) st = unknown_to_eval(sp, s, role);
    if (params) bml__params_free(def->specs, def->n_specs, params);
    free(params);
    free(role);
    free(key_of);
    bml__strvec_free(&keys);
    if (st != BML_OK) {
        bml_split_free(sp);
        return st;
    }
    *out = sp;
    return BML_OK;
}

bml_status bml_split_create(const char *name, const bml_kv *kv, size_t n_kv, const bml_samples *s, uint64_t seed,
                            bml_split **out) {
    return bml__split_make(name, kv, n_kv, s, NULL, seed, out);
}
