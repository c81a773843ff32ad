/* CV+ / jackknife+ over cells, the K leave-group-out models fitted through the public model API
 * (include/batteryml/uncertainty.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/uncertainty.h"
#include "core/internal.h"
#include "core/json.h"

struct bml_cvplus {
    size_t n, F, O, K;
    size_t *group;      /* (n) */
    double *oof;        /* (n, O) mu_{-k(i)}(x_i) */
    double *resid;      /* (n, O) |y_i - oof| */
    bml_model **models; /* (K) */
    double *impute;     /* (K, F) or NULL: the means NaN features are replaced with */
    double *mean;       /* (K, F) or NULL: standardisation */
    double *scale;      /* (K, F) or NULL */
};

void bml_cvplus_free(bml_cvplus *cv) {
    if (!cv) return;
    if (cv->models)
        for (size_t k = 0; k < cv->K; k++) bml_model_free(cv->models[k]);
    free(cv->models);
    free(cv->group);
    free(cv->oof);
    free(cv->resid);
    free(cv->impute);
    free(cv->mean);
    free(cv->scale);
    free(cv);
}

size_t bml_cvplus_n_groups(const bml_cvplus *cv) { return cv->K; }
size_t bml_cvplus_n_train(const bml_cvplus *cv) { return cv->n; }
size_t bml_cvplus_n_targets(const bml_cvplus *cv) { return cv->O; }
const size_t *bml_cvplus_groups(const bml_cvplus *cv) { return cv->group; }
const double *bml_cvplus_oof_predictions(const bml_cvplus *cv) { return cv->oof; }
const double *bml_cvplus_residuals(const bml_cvplus *cv) { return cv->resid; }
const bml_model *bml_cvplus_model(const bml_cvplus *cv, size_t k) { return k < cv->K ? cv->models[k] : NULL; }

/* x (m, F) in place: NaN -> impute[j], then (x - mean) / scale, with group k's statistics */
static void preprocess(const bml_cvplus *cv, size_t k, double *x, size_t m) {
    size_t F = cv->F;
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < F; j++) {
            double *v = x + r * F + j;
            if (cv->impute && isnan(*v)) *v = cv->impute[k * F + j];
            if (cv->mean) *v = (*v - cv->mean[k * F + j]) / cv->scale[k * F + j];
        }
}

/* each row's cell: its index among the distinct cell keys in order of first appearance; *n_cells */
static bml_status cells_of_rows(const bml_samples *s, size_t *cell, size_t *n_cells) {
    char **keys = bml__calloc(s->n, sizeof *keys);
    if (!keys) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t nk = 0;
    bml_status st = BML_OK;
    for (size_t i = 0; i < s->n && st == BML_OK; i++) {
        size_t len = bml_sample_cell_key(&s->meta[i], NULL, 0);
        char *key = malloc(len + 1);
        if (!key) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        bml_sample_cell_key(&s->meta[i], key, len + 1);
        size_t c = 0;
        while (c < nk && strcmp(keys[c], key)) c++;
        if (c == nk) keys[nk++] = key;
        else free(key);
        cell[i] = c;
    }
    for (size_t c = 0; c < nk; c++) free(keys[c]);
    free(keys);
    *n_cells = nk;
    return st;
}

/* fit group k's model on the rows of the other groups; predict the rows of group k into cv->oof */
static bml_status fit_group(bml_cvplus *cv, size_t k, const char *model_name, const bml_kv *params, size_t n_params,
                            const bml_samples *train, uint64_t seed, const int *cancel) {
    size_t n = cv->n, F = cv->F, O = cv->O, n_in = 0, n_out = 0;
    size_t *in = malloc((n ? n : 1) * sizeof *in), *out = malloc((n ? n : 1) * sizeof *out);
    bml_samples *tr = NULL;
    double *xo = NULL, *yo = NULL;
    bml_model *m = NULL;
    bml_status st = BML_OK;
    if (!in || !out) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (cv->group[i] == k) out[n_out++] = i;
        else in[n_in++] = i;
    }
    if ((st = bml_samples_subset(train, in, n_in, &tr)) != BML_OK) goto done;
    if ((st = bml_model_create(model_name, params, n_params, &m)) != BML_OK) goto done;
    if (!bml_model_handles_missing(m)) {
        if (!cv->impute && !(cv->impute = bml__calloc(cv->K * F, sizeof *cv->impute))) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t j = 0; j < F; j++) {
            double sum = 0;
            size_t c = 0;
            for (size_t r = 0; r < n_in; r++) {
                double v = tr->x[r * F + j];
                if (!isnan(v)) sum += v, c++;
            }
            cv->impute[k * F + j] = c ? sum / (double)c : 0.0;
        }
    }
    if (bml_model_wants_scaled(m)) {
        if (!cv->mean) {
            cv->mean = bml__calloc(cv->K * F, sizeof *cv->mean);
            cv->scale = bml__calloc(cv->K * F, sizeof *cv->scale);
            if (!cv->mean || !cv->scale) {
                st = bml__fail(BML_ERR_NOMEM, "out of memory");
                goto done;
            }
        }
        size_t *rows = malloc(n_in * sizeof *rows);
        if (!rows) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (size_t r = 0; r < n_in; r++) rows[r] = r;
        bml_scaler sc = {0};
        st = bml_scaler_fit(&sc, tr, rows, n_in);
        free(rows);
        if (st != BML_OK) goto done;
        memcpy(cv->mean + k * F, sc.mean, F * sizeof *sc.mean);
        memcpy(cv->scale + k * F, sc.scale, F * sizeof *sc.scale);
        bml_scaler_release(&sc);
    }
    preprocess(cv, k, tr->x, n_in);
    bml_model_set_cancel(m, cancel);
    if ((st = bml_model_fit(m, tr, NULL, seed)) != BML_OK) goto done;
    if (bml_model_n_targets(m) != O) {
        st = bml__fail(BML_ERR_STATE, "model %s fitted %zu targets, the samples have %zu", model_name,
                       bml_model_n_targets(m), O);
        goto done;
    }
    xo = malloc((n_out ? n_out : 1) * F * sizeof *xo + 1);
    yo = malloc((n_out ? n_out : 1) * O * sizeof *yo + 1);
    if (!xo || !yo) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < n_out; r++) memcpy(xo + r * F, train->x + out[r] * F, F * sizeof *xo);
    preprocess(cv, k, xo, n_out);
    if (n_out && (st = bml_model_predict(m, xo, n_out, yo)) != BML_OK) goto done;
    for (size_t r = 0; r < n_out; r++)
        for (size_t o = 0; o < O; o++) {
            double p = yo[r * O + o];
            if (!isfinite(p)) {
                st = bml__fail(BML_ERR_VALUE, "model %s predicted %g for training row %zu", model_name, p, out[r]);
                goto done;
            }
            cv->oof[out[r] * O + o] = p;
            cv->resid[out[r] * O + o] = fabs(train->y[out[r] * O + o] - p);
        }
    cv->models[k] = m;
    m = NULL;
done:
    bml_model_free(m);
    bml_samples_free(tr);
    free(in);
    free(out);
    free(xo);
    free(yo);
    return st;
}

bml_status bml_cvplus_fit(const char *model_name, const bml_kv *params, size_t n_params, const bml_samples *train,
                          uint64_t seed, size_t max_groups, const int *cancel, bml_cvplus **out) {
    *out = NULL;
    if (!train || train->n == 0) return bml__fail(BML_ERR_EMPTY, "CV+: no training samples");
    if (train->seq_len)
        return bml__fail(BML_ERR_VALUE, "CV+: sequence samples (pipeline latent_ode_seq) are not supported; static samples only");
    size_t n = train->n, F = train->n_features, O = train->n_targets;
    if (O == 0) return bml__fail(BML_ERR_EMPTY, "CV+: the samples have no target");
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < O; o++)
            if (!isfinite(train->y[i * O + o]))
                return bml__fail(BML_ERR_VALUE,
                                 "CV+: training row %zu (cell '%s', line %zu) has target %s = %g; leave rows without a "
                                 "target out",
                                 i, train->meta[i].cell ? train->meta[i].cell : "", train->meta[i].line,
                                 train->target_names ? train->target_names[o] : "?", train->y[i * O + o]);
    bml_cvplus *cv = bml__calloc(1, sizeof *cv);
    size_t *cell = bml__calloc(n, sizeof *cell);
    if (!cv || !cell) {
        free(cv);
        free(cell);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    cv->n = n, cv->F = F, cv->O = O;
    size_t n_cells = 0;
    bml_status st = cells_of_rows(train, cell, &n_cells);
    if (st == BML_OK) {
        size_t K = (max_groups == 0 || max_groups >= n_cells) ? n_cells : max_groups;
        if (K < 2)
            st = bml__fail(BML_ERR_VALUE, "CV+: needs at least 2 groups of cells; the training samples hold %zu cell(s)%s",
                           n_cells, max_groups == 1 ? " and max_groups is 1" : "");
        cv->K = K;
    }
    if (st == BML_OK) {
        cv->group = bml__calloc(n, sizeof *cv->group);
        cv->oof = bml__calloc(n * O, sizeof *cv->oof);
        cv->resid = bml__calloc(n * O, sizeof *cv->resid);
        cv->models = bml__calloc(cv->K, sizeof *cv->models);
        size_t *cell_group = bml__calloc(n_cells, sizeof *cell_group);
        if (!cv->group || !cv->oof || !cv->resid || !cv->models || !cell_group) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        } else {
            /* unshuffled KFold over cells: the first n_cells % K groups one cell larger */
            size_t c = 0, base = n_cells / cv->K, extra = n_cells % cv->K;
            for (size_t g = 0; g < cv->K; g++)
                for (size_t s = 0; s < base + (g < extra); s++) cell_group[c++] = g;
            for (size_t i = 0; i < n; i++) cv->group[i] = cell_group[cell[i]];
        }
        free(cell_group);
    }
    for (size_t k = 0; st == BML_OK && k < cv->K; k++) {
        st = fit_group(cv, k, model_name, params, n_params, train, seed, cancel);
        if (st != BML_OK && st != BML_ERR_CANCELLED && st != BML_ERR_NOMEM)
            bml__fail_prefix(st, "CV+ group %zu of %zu (the model fitted without it)", k + 1, cv->K);
    }
    free(cell);
    if (st != BML_OK) {
        bml_cvplus_free(cv);
        return st;
    }
    *out = cv;
    return BML_OK;
}

bml_status bml_cvplus_interval(const bml_cvplus *cv, const double *x, size_t m, double alpha, double *lower,
                               double *upper) {
    BML__TRY(bml_conformal_ranks(cv->n, alpha, NULL, NULL));
    if (m == 0) return BML_OK;
    size_t F = cv->F, O = cv->O, K = cv->K, n = cv->n;
    if (m > ((size_t)-1) / (K * (O > F ? O : F) + 1)) return bml__fail(BML_ERR_NOMEM, "CV+: too many rows");
    double *xk = malloc(m * F * sizeof *xk + 1), *yk = malloc(m * O * sizeof *yk);
    double *res = malloc(n * sizeof *res);
    double *all = malloc(K * m * O * sizeof *all);
    double *lo = malloc(m * sizeof *lo), *hi = malloc(m * sizeof *hi);
    bml_status st = BML_OK;
    if (!xk || !yk || !res || !all || !lo || !hi) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; st == BML_OK && k < K; k++) {
        memcpy(xk, x, m * F * sizeof *xk);
        preprocess(cv, k, xk, m);
        st = bml_model_predict(cv->models[k], xk, m, yk);
        if (st != BML_OK) bml__fail_prefix(st, "CV+ group %zu of %zu", k + 1, K);
        for (size_t j = 0; st == BML_OK && j < m; j++)
            for (size_t o = 0; o < O; o++) all[(o * K + k) * m + j] = yk[j * O + o];
    }
    /* every target into temporaries first: nothing is written to lower/upper on error */
    double *lo_all = st == BML_OK ? malloc(m * O * sizeof *lo_all) : NULL;
    double *hi_all = st == BML_OK ? malloc(m * O * sizeof *hi_all) : NULL;
    if (st == BML_OK && (!lo_all || !hi_all)) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t o = 0; st == BML_OK && o < O; o++) {
        for (size_t i = 0; i < n; i++) res[i] = cv->resid[i * O + o];
        st = bml_conformal_cv_plus(cv->group, res, n, all + o * K * m, K, m, alpha, lo, hi);
        for (size_t j = 0; st == BML_OK && j < m; j++) {
            lo_all[j * O + o] = lo[j];
            hi_all[j * O + o] = hi[j];
        }
    }
    if (st == BML_OK) {
        memcpy(lower, lo_all, m * O * sizeof *lower);
        memcpy(upper, hi_all, m * O * sizeof *upper);
    }
    free(lo_all);
    free(hi_all);
    free(xk);
    free(yk);
    free(res);
    free(all);
    free(lo);
    free(hi);
    return st;
}

/* ---- saved form: dir/cvplus.json (sealed) and dir/group_<k>/ (bml_model_save) for k = 0..K-1 ---- */

#define CVPLUS_FORMAT "batteryml-cvplus"
#define CVPLUS_VERSION 1

static cJSON *reals_json(const double *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *x = bml__json_exact_number(v[i]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

bml_status bml_cvplus_save(const bml_cvplus *cv, const char *dir) {
    if (!cv || !dir) return bml__fail(BML_ERR_VALUE, "bml_cvplus_save: NULL argument");
    BML__TRY(bml__mkdir_p(dir));
    bml_status st = BML_OK;
    /* the group models first: cvplus.json, written last, names them */
    for (size_t k = 0; st == BML_OK && k < cv->K; k++) {
        char *g = bml__sprintf("%s/group_%zu", dir, k);
        st = g ? bml_model_save(cv->models[k], g) : bml__fail(BML_ERR_NOMEM, "out of memory");
        free(g);
    }
    if (st != BML_OK) return st;
    cJSON *root = cJSON_CreateObject(), *groups = cJSON_CreateArray();
    int ok = root && groups;
    if (ok) {
        cJSON_AddStringToObject(root, "format", CVPLUS_FORMAT);
        cJSON_AddNumberToObject(root, "version", CVPLUS_VERSION);
        cJSON_AddNumberToObject(root, "n_train", (double)cv->n);
        cJSON_AddNumberToObject(root, "n_features", (double)cv->F);
        cJSON_AddNumberToObject(root, "n_targets", (double)cv->O);
        cJSON_AddNumberToObject(root, "n_groups", (double)cv->K);
        for (size_t i = 0; ok && i < cv->n; i++) {
            cJSON *x = cJSON_CreateNumber((double)cv->group[i]);
            ok = x && cJSON_AddItemToArray(groups, x);
            if (!ok) cJSON_Delete(x);
        }
        ok = ok && cJSON_AddItemToObject(root, "group", groups);
        if (!ok) cJSON_Delete(groups);
        groups = NULL;
        struct {
            const char *key;
            const double *v;
            size_t n;
        } arr[] = {{"oof_prediction", cv->oof, cv->n * cv->O},
                   {"residual", cv->resid, cv->n * cv->O},
                   {"impute", cv->impute, cv->K * cv->F},
                   {"mean", cv->mean, cv->K * cv->F},
                   {"scale", cv->scale, cv->K * cv->F}};
        for (size_t a = 0; ok && a < sizeof arr / sizeof *arr; a++) {
            if (!arr[a].v) continue;
            cJSON *j = reals_json(arr[a].v, arr[a].n);
            ok = j && cJSON_AddItemToObject(root, arr[a].key, j);
            if (!ok) cJSON_Delete(j);
        }
    } else {
        cJSON_Delete(groups);
    }
    char *path = ok ? bml__path_join(dir, "cvplus.json") : NULL;
    st = path ? bml__json_write_sealed(path, root) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(path);
    cJSON_Delete(root);
    return st;
}

/* a whole number in 0..max of member key of doc */
static bml_status get_count(const cJSON *doc, const char *path, const char *key, size_t min, size_t max, size_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!cJSON_IsNumber(v))
        return bml__fail(BML_ERR_SCHEMA, "%s: field '%s': %s", path, key, v ? "not a number" : "missing");
    double d = v->valuedouble;
    if (!(d >= (double)min && d <= (double)max && d == floor(d)))
        return bml__fail(BML_ERR_VALUE, "%s: field '%s': %g is not a whole number from %zu to %zu", path, key, d, min, max);
    *out = (size_t)d;
    return BML_OK;
}

/* member key of doc: an array of n finite numbers (each >= lo when lo is not NaN, > 0 when positive) into a new
 * *out; absent: *out NULL when optional */
static bml_status get_reals(const cJSON *doc, const char *path, const char *key, size_t n, int optional, double lo,
                            int positive, double **out) {
    *out = NULL;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!a && optional) return BML_OK;
    if (!cJSON_IsArray(a)) return bml__fail(BML_ERR_SCHEMA, "%s: field '%s': %s", path, key, a ? "not an array" : "missing");
    size_t len = (size_t)cJSON_GetArraySize(a);
    if (len != n) return bml__fail(BML_ERR_SCHEMA, "%s: field '%s': %zu numbers, expected %zu", path, key, len, n);
    double *v = bml__calloc(n + 1, sizeof *v);
    if (!v) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t i = 0;
    for (const cJSON *x = a->child; x; x = x->next, i++) {
        double d = cJSON_IsNumber(x) ? x->valuedouble : NAN;
        if (!isfinite(d) || (!isnan(lo) && d < lo) || (positive && !(d > 0))) {
            free(v);
            return bml__fail(BML_ERR_VALUE, "%s: field '%s': item %zu is %s", path, key, i,
                             !cJSON_IsNumber(x) ? "not a finite number" : !isfinite(d) ? "not finite"
                             : positive ? "not positive" : "negative");
        }
        v[i] = d;
    }
    *out = v;
    return BML_OK;
}

bml_status bml_cvplus_load(const char *dir, bml_cvplus **out) {
    *out = NULL;
    if (!dir) return bml__fail(BML_ERR_VALUE, "bml_cvplus_load: NULL directory");
    char *path = bml__path_join(dir, "cvplus.json");
    if (!path) return bml__fail(BML_ERR_NOMEM, "out of memory");
    cJSON *doc = NULL;
    bml_cvplus *cv = NULL;
    bml_status st = bml__is_file(path) ? bml__json_read_sealed(path, &doc)
                                       : bml__fail(BML_ERR_NOT_FOUND, "%s: missing (the saved CV+ interval models; a run saved before `predict` kept them: re-run the study)", path);
    const cJSON *fmt = doc ? cJSON_GetObjectItemCaseSensitive(doc, "format") : NULL;
    if (st == BML_OK && (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, CVPLUS_FORMAT)))
        st = bml__fail(BML_ERR_SCHEMA, "%s: field 'format': expected \"%s\"", path, CVPLUS_FORMAT);
    size_t ver = 0;
    if (st == BML_OK && (st = get_count(doc, path, "version", 0, 1000000, &ver)) == BML_OK && ver != CVPLUS_VERSION)
        st = bml__fail(BML_ERR_VALUE, "%s: field 'version': %zu, this program reads version %d", path, ver, CVPLUS_VERSION);
    if (st == BML_OK && !(cv = bml__calloc(1, sizeof *cv))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    /* sizes bounded so that every product below fits (the arrays' lengths are then checked against them) */
    const size_t cap = (size_t)1 << 24;
    if (st == BML_OK) st = get_count(doc, path, "n_train", 1, cap, &cv->n);
    if (st == BML_OK) st = get_count(doc, path, "n_features", 0, cap, &cv->F);
    if (st == BML_OK) st = get_count(doc, path, "n_targets", 1, 4096, &cv->O);
    if (st == BML_OK) st = get_count(doc, path, "n_groups", 2, cv->n, &cv->K);
    if (st == BML_OK && (cv->n > cap / cv->O || (cv->F && cv->K > cap / cv->F)))
        st = bml__fail(BML_ERR_VALUE, "%s: fields 'n_train', 'n_targets', 'n_groups', 'n_features': too large", path);
    if (st == BML_OK) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(doc, "group");
        if (!cJSON_IsArray(g) || (size_t)cJSON_GetArraySize(g) != cv->n)
            st = bml__fail(BML_ERR_SCHEMA, "%s: field 'group': %s", path, !g ? "missing" : !cJSON_IsArray(g) ? "not an array"
                                                                               : "not one group per training row (n_train)");
        else if (!(cv->group = bml__calloc(cv->n, sizeof *cv->group)))
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
        size_t i = 0;
        for (const cJSON *x = st == BML_OK ? g->child : NULL; x && st == BML_OK; x = x->next, i++) {
            double d = cJSON_IsNumber(x) ? x->valuedouble : -1;
            if (!(d >= 0 && d < (double)cv->K && d == floor(d)))
                st = bml__fail(BML_ERR_VALUE, "%s: field 'group': item %zu is not a group index from 0 to %zu", path, i, cv->K - 1);
            else
                cv->group[i] = (size_t)d;
        }
    }
    if (st == BML_OK) st = get_reals(doc, path, "oof_prediction", cv->n * cv->O, 0, NAN, 0, &cv->oof);
    if (st == BML_OK) st = get_reals(doc, path, "residual", cv->n * cv->O, 0, 0.0, 0, &cv->resid);
    if (st == BML_OK) st = get_reals(doc, path, "impute", cv->K * cv->F, 1, NAN, 0, &cv->impute);
    if (st == BML_OK) st = get_reals(doc, path, "mean", cv->K * cv->F, 1, NAN, 0, &cv->mean);
    if (st == BML_OK) st = get_reals(doc, path, "scale", cv->K * cv->F, 1, NAN, 1, &cv->scale);
    if (st == BML_OK && !cv->mean != !cv->scale)
        st = bml__fail(BML_ERR_SCHEMA, "%s: fields 'mean' and 'scale': both or neither", path);
    if (st == BML_OK && !(cv->models = bml__calloc(cv->K, sizeof *cv->models))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t k = 0; st == BML_OK && k < cv->K; k++) {
        char *g = bml__sprintf("%s/group_%zu", dir, k);
        if (!g) {
            st = bml__fail(BML_ERR_NOMEM, "out of memory");
            break;
        }
        st = bml_model_load(g, &cv->models[k]);
        const bml_model *m = cv->models[k];
        if (st == BML_OK && (bml_model_n_features(m) != cv->F || bml_model_n_targets(m) != cv->O))
            st = bml__fail(BML_ERR_VALUE, "%s: the model takes %zu features and gives %zu targets; %s says %zu and %zu", g,
                           bml_model_n_features(m), bml_model_n_targets(m), path, cv->F, cv->O);
        /* the preprocessing saved is the one the model needs (as bml_cvplus_fit chose it) */
        if (st == BML_OK && !bml_model_handles_missing(m) != (cv->impute != NULL))
            st = bml__fail(BML_ERR_SCHEMA, "%s: field 'impute': %s for the model of %s", path,
                           cv->impute ? "present, but not used" : "missing, but needed", g);
        if (st == BML_OK && (bml_model_wants_scaled(m) != 0) != (cv->mean != NULL))
            st = bml__fail(BML_ERR_SCHEMA, "%s: fields 'mean' and 'scale': %s for the model of %s", path,
                           cv->mean ? "present, but not used" : "missing, but needed", g);
        free(g);
    }
    cJSON_Delete(doc);
    free(path);
    if (st != BML_OK) {
        bml_cvplus_free(cv);
        return st;
    }
    *out = cv;
    return BML_OK;
}
