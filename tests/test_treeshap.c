/* Our TreeSHAP (models/treeshap.h) against XGBoost's own (pred_contribs, pred_interactions) and against a
 * brute-force oracle in double (Shapley values by their definition over all feature subsets): a model on
 * the shipped data, deep trees on random data with many missing values (default directions both ways) and
 * two targets; additivity against our margin and XGBoost's prediction; the same bits at 1 and 2 threads;
 * the quadrature; malformed boosters. */
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "models/treeshap.h"
#include "test.h"

/* Ours against XGBoost, relative to the row's scale. XGBoost's values carry float32 rounding (a few 1e-7
 * of the row's largest contribution, summed over the trees); the double-precision oracle below shows ours
 * are exact to ~1e-15, so the remaining difference is XGBoost's float arithmetic. REL_SHAP is the issue's
 * 1e-6 (measured 8.5e-7 at most, on the deep trees). Interactions take more float operations per value
 * in XGBoost (conditioned passes and the diagonal as a difference): measured 2.2e-6 there, REL_INTER
 * leaves room above that. Fixed seeds: the numbers are the same on every run. */
#define REL_SHAP 1e-6
#define REL_INTER 5e-6

/* largest |a - b| over a row of w values, relative to the row's largest |b| (at least 1e-3 of the
 * prediction's scale `floor`) */
static double row_rel_err(const double *a, const double *b, size_t w, double floor) {
    double scale = floor, err = 0;
    for (size_t j = 0; j < w; j++) scale = fmax(scale, fabs(b[j]));
    for (size_t j = 0; j < w; j++) err = fmax(err, fabs(a[j] - b[j]));
    return err / scale;
}

/* ---- An independent oracle: exact Shapley values by brute force, in double, from the booster's JSON ----
 * It shares nothing with treeshap.c (its own parse, no paths, no quadrature): the game is Lundberg et al.
 * 2018, Algorithm 1 (EXPVALUE), E[f(x) | x_S], and the Shapley values are the sums over all 2^F subsets
 * of their definition. F <= 8 keeps that small. Ours must match it to rounding (REL_ORACLE), which shows
 * that the differences to XGBoost are XGBoost's float arithmetic. */
#define REL_ORACLE 1e-12
#define ORACLE_MAX_F 8

/* one tree, per node as XGBoost holds it: children (-1 at a leaf), split feature, threshold (a leaf's
 * value), default direction of NaN, cover (sum_hessian). Thresholds and covers are floats in XGBoost: the
 * JSON digits are rounded back to float. */
typedef struct {
    int n;
    double *left, *right, *feat, *cond, *dleft, *cover;
} otree;

typedef struct {
    size_t F, n_trees;
    double base; /* base_score, a float in XGBoost */
    otree *trees;
} oracle;

/* the n entries of array `key` of a tree (numbers or booleans) into v; -1 when it has another length */
static int o_array(const cJSON *tree, const char *key, int n, double *v) {
    const cJSON *a = cJSON_GetObjectItem(tree, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return -1;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next) v[i++] = cJSON_IsBool(e) ? cJSON_IsTrue(e) : e->valuedouble;
    return 0;
}

/* a tree's arrays into t (one block of 6n doubles); -1 when malformed, so the recursion below stays in range */
static int o_tree(const cJSON *tree, size_t F, otree *t) {
    t->n = cJSON_GetArraySize(cJSON_GetObjectItem(tree, "left_children"));
    double *blk = calloc(6 * (size_t)t->n + 1, sizeof *blk);
    if (!blk) return -1;
    double **col[6] = {&t->left, &t->right, &t->feat, &t->cond, &t->dleft, &t->cover};
    const char *key[6] = {"left_children", "right_children", "split_indices", "split_conditions", "default_left",
                          "sum_hessian"};
    for (int k = 0; k < 6; k++) {
        *col[k] = blk + k * (size_t)t->n;
        if (o_array(tree, key[k], t->n, *col[k])) return -1;
    }
    for (int i = 0; i < t->n; i++) {
        t->cond[i] = (float)t->cond[i];
        t->cover[i] = (float)t->cover[i];
        int leaf = t->left[i] < 0;
        /* children come after their parent in XGBoost's numbering: no cycles */
        if (!leaf && !(t->left[i] > i && t->left[i] < t->n && t->right[i] > i && t->right[i] < t->n &&
                       t->feat[i] >= 0 && t->feat[i] < (double)F))
            return -1;
    }
    return t->n > 0 ? 0 : -1;
}

static void o_free(oracle *o) {
    for (size_t k = 0; k < o->n_trees; k++) free(o->trees[k].left); /* the block's start */
    free(o->trees);
}

/* learner.gradient_booster.model.trees of a booster's JSON (NULL where it has none) */
static const cJSON *booster_trees(const cJSON *root) {
    const cJSON *learner = cJSON_GetObjectItem(root, "learner");
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(learner, "gradient_booster"), "model"), "trees");
}

/* learner.gradient_booster.model.trees[] and learner.learner_model_param.base_score of a booster's JSON */
static int o_read(const char *json, size_t F, oracle *o) {
    memset(o, 0, sizeof *o);
    o->F = F;
    cJSON *root = cJSON_Parse(json);
    const cJSON *learner = cJSON_GetObjectItem(root, "learner");
    const cJSON *bs = cJSON_GetObjectItem(cJSON_GetObjectItem(learner, "learner_model_param"), "base_score");
    const cJSON *trees = booster_trees(root);
    int rc = -1;
    if (cJSON_IsString(bs) && cJSON_IsArray(trees) && F <= ORACLE_MAX_F) {
        /* "5E-1", or "[5E-1]" as newer XGBoost versions write it */
        o->base = (float)strtod(bs->valuestring + (bs->valuestring[0] == '['), NULL);
        o->trees = calloc((size_t)cJSON_GetArraySize(trees) + 1, sizeof *o->trees);
        rc = o->trees ? 0 : -1;
        for (const cJSON *t = trees->child; t && rc == 0; t = t->next)
            rc = o_tree(t, F, &o->trees[o->n_trees++]);
    }
    cJSON_Delete(root);
    if (rc) o_free(o);
    return rc;
}

/* EXPVALUE: E[f(x) | x_S] of one tree below `node`, S a bit set of features. A split on a feature in S
 * follows the row (x converted to float, x < threshold goes left, NaN the default way); any other split
 * averages its children weighted by their share of the node's cover. */
static double o_expvalue(const otree *t, int node, const double *x, unsigned S) {
    int l = (int)t->left[node], r = (int)t->right[node], f = (int)t->feat[node];
    if (l < 0) return t->cond[node];
    if (S >> f & 1) {
        float v = (float)x[f];
        int go_left = isnan(v) ? t->dleft[node] != 0 : v < (float)t->cond[node];
        return o_expvalue(t, go_left ? l : r, x, S);
    }
    return t->cover[l] / t->cover[node] * o_expvalue(t, l, x, S) +
           t->cover[r] / t->cover[node] * o_expvalue(t, r, x, S);
}

static double factorial(int k) { return k <= 1 ? 1 : k * factorial(k - 1); }

/* SHAP values phi (F + 1, the bias last) and interaction values I ((F + 1)^2, XGBoost's layout: the bias
 * at (F, F), zeros elsewhere in its row and column) of row x. Per tree E[f | x_S] for all subsets once,
 * then the definitions (sums over S in differences of one tree's E, so nothing cancels across trees):
 *   phi_i  = sum_{S without i}    |S|! (F-|S|-1)! / F!         (E[S+i] - E[S]),
 *   I_ij   = sum_{S without i, j} |S|! (F-|S|-2)! / (2 (F-1)!) (E[S+i+j] - E[S+i] - E[S+j] + E[S]),
 *   I_ii   = phi_i - sum_{j != i} I_ij; the bias: base_score + sum over trees of E[empty set]. */
static void o_explain(const oracle *o, const double *x, double *phi, double *I) {
    size_t F = o->F, W = F + 1;
    unsigned NS = 1u << F;
    double E[1u << ORACLE_MAX_F], w1[ORACLE_MAX_F + 1] = {0}, w2[ORACLE_MAX_F + 1] = {0};
    for (size_t s = 0; s < F; s++) w1[s] = factorial((int)s) * factorial((int)(F - s - 1)) / factorial((int)F);
    for (size_t s = 0; s + 1 < F; s++)
        w2[s] = factorial((int)s) * factorial((int)(F - s - 2)) / (2 * factorial((int)F - 1));
    memset(phi, 0, W * sizeof *phi);
    memset(I, 0, W * W * sizeof *I);
    phi[F] = o->base;
    for (size_t k = 0; k < o->n_trees; k++) {
        for (unsigned S = 0; S < NS; S++) E[S] = o_expvalue(&o->trees[k], 0, x, S);
        phi[F] += E[0];
        for (unsigned S = 0; S < NS; S++) {
            int s = __builtin_popcount(S);
            for (size_t i = 0; i < F; i++) {
                unsigned bi = 1u << i;
                if (S & bi) continue;
                phi[i] += w1[s] * (E[S | bi] - E[S]);
                for (size_t j = i + 1; j < F; j++) {
                    unsigned bj = 1u << j;
                    if (S & bj) continue;
                    double d = w2[s] * (E[S | bi | bj] - E[S | bi] - E[S | bj] + E[S]);
                    I[i * W + j] += d;
                    I[j * W + i] += d;
                }
            }
        }
    }
    for (size_t i = 0; i < F; i++) {
        double off = 0;
        for (size_t j = 0; j < F; j++) off += j != i ? I[i * W + j] : 0;
        I[i * W + i] = phi[i] - off;
    }
    I[F * W + F] = phi[F];
}

/* ours (bml__treeshap from the same JSON) against the oracle on rows x (n, F): values and interactions,
 * each row relative to its scale as in compare() */
static void check_oracle(const char *json, const bml__treeshap *t, const double *x, size_t n, size_t F,
                         const char *what) {
    oracle o;
    CHECK(o_read(json, F, &o) == 0);
    if (!o.trees) return;
    size_t W = F + 1;
    double *ours = calloc(n * W, sizeof *ours), *iours = calloc(n * W * W, sizeof *iours);
    double *ref = calloc(n * W, sizeof *ref), *iref = calloc(n * W * W, sizeof *iref);
    CHECK_OK(bml__treeshap_values(t, x, n, 1, ours, W));
    CHECK_OK(bml__treeshap_interactions(t, x, n, 1, iours, W * W));
    double spread = 0, err = 0, ierr = 0;
    for (size_t i = 0; i < n; i++) {
        o_explain(&o, x + i * F, ref + i * W, iref + i * W * W);
        for (size_t j = 0; j < W; j++) spread = fmax(spread, fabs(ref[i * W + j]));
    }
    for (size_t i = 0; i < n; i++) {
        err = fmax(err, row_rel_err(ours + i * W, ref + i * W, W, 1e-3 * spread));
        ierr = fmax(ierr, row_rel_err(iours + i * W * W, iref + i * W * W, W * W, 1e-3 * spread));
    }
    printf("  %s: %zu rows, %zu trees: max rel. difference to the double-precision oracle: SHAP %.2e, "
           "interactions %.2e\n", what, n, o.n_trees, err, ierr);
    CHECK(err < REL_ORACLE);
    CHECK(ierr < REL_ORACLE);
    /* the bias: base_score plus every tree's E[f | empty set], as XGBoost adds it */
    CHECK(fabs(bml__treeshap_bias(t) - ref[F]) <= REL_ORACLE * fmax(fabs(ref[F]), 1e-3 * spread));
    free(ours);
    free(iours);
    free(ref);
    free(iref);
    o_free(&o);
}

static void test_gauss_legendre(void) {
    /* exact for t^k up to k = 2q - 1, not for k = 2q */
    for (int q = 1; q <= 64; q++) {
        double t[64], w[64], worst = 0;
        bml__gauss_legendre01(q, t, w);
        for (int k = 0; k <= 2 * q - 1; k++) {
            double s = 0;
            for (int i = 0; i < q; i++) s += w[i] * pow(t[i], k);
            worst = fmax(worst, fabs(s - 1.0 / (k + 1)) * (k + 1));
        }
        CHECK(worst < 1e-12);
        double s = 0;
        for (int i = 0; i < q && q <= 8; i++) s += w[i] * pow(t[i], 2 * q);
        CHECK(q > 8 || fabs(s - 1.0 / (2 * q + 1)) > 1e-12);
    }
}

/* ours vs XGBoost's on rows x (n, F) of a fitted lgbm model: values, interactions, additivity */
static void compare(const bml_model *m, const double *x, size_t n, const char *what) {
    size_t F = bml_model_n_features(m), O = bml_model_n_targets(m), W = F + 1;
    double *ours = calloc(n * O * W, sizeof *ours), *xgb = calloc(n * O * W, sizeof *xgb);
    double *iours = calloc(n * O * W * W, sizeof *iours), *ixgb = calloc(n * O * W * W, sizeof *ixgb);
    double *y = calloc(n * O, sizeof *y);
    CHECK_OK(bml_model_shap(m, x, n, ours));
    CHECK_OK(bml__lgbm_shap_xgboost(m, x, n, xgb));
    CHECK_OK(bml_model_shap_interactions(m, x, n, iours));
    CHECK_OK(bml__lgbm_interactions_xgboost(m, x, n, ixgb));
    CHECK_OK(bml_model_predict(m, x, n, y));
    double err = 0, ierr = 0, add = 0, rowsum = 0, spread = 0;
    for (size_t r = 0; r < n * O; r++) spread = fmax(spread, fabs(y[r]));
    for (size_t r = 0; r < n * O; r++) {
        err = fmax(err, row_rel_err(ours + r * W, xgb + r * W, W, 1e-3 * spread));
        ierr = fmax(ierr, row_rel_err(iours + r * W * W, ixgb + r * W * W, W * W, 1e-3 * spread));
        double sum = 0, mag = fabs(y[r]);
        for (size_t j = 0; j < W; j++) sum += ours[r * W + j], mag += fabs(ours[r * W + j]);
        add = fmax(add, fabs(sum - y[r]) / mag);
        /* each row of the interaction matrix adds up to that feature's SHAP value */
        for (size_t a = 0; a < W; a++) {
            double s = 0;
            for (size_t b = 0; b < W; b++) s += iours[(r * W + a) * W + b];
            rowsum = fmax(rowsum, fabs(s - ours[r * W + a]) / fmax(fabs(ours[r * W + a]), 1e-3 * spread));
        }
    }
    printf("  %s: %zu rows x %zu targets: max rel. difference to XGBoost: SHAP %.2e, interactions %.2e; "
           "additivity vs XGBoost's prediction %.2e\n", what, n, O, err, ierr, add);
    CHECK(err < REL_SHAP);
    CHECK(ierr < REL_INTER);
    CHECK(add < 1e-6);   /* XGBoost's prediction is a float */
    CHECK(rowsum < 1e-9);
    free(ours);
    free(xgb);
    free(iours);
    free(ixgb);
    free(y);
}

/* the booster file booster_<k>.json of a model saved in dir, read by our reader */
static bml__treeshap *booster_of(const char *dir, size_t k, size_t F, char **json_out) {
    char path[512], *raw = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/booster_%zu.json", dir, k);
    CHECK_OK(bml__read_file(path, &raw, &len));
    bml__treeshap *t = NULL;
    if (raw) CHECK_OK(bml__treeshap_from_json(raw, len, F, path, &t));
    if (json_out) *json_out = raw;
    else free(raw);
    return t;
}

/* additivity against our own margin, and the same bits at 1 and 2 threads */
static void check_threads_and_margin(const bml__treeshap *t, const double *x, size_t n, size_t F) {
    size_t W = F + 1;
    double *a = calloc(n * W, sizeof *a), *b = calloc(n * W, sizeof *b), *y = calloc(n, sizeof *y);
    double *ia = calloc(n * W * W, sizeof *ia), *ib = calloc(n * W * W, sizeof *ib);
    CHECK_OK(bml__treeshap_values(t, x, n, 1, a, W));
    CHECK_OK(bml__treeshap_values(t, x, n, 2, b, W));
    CHECK(memcmp(a, b, n * W * sizeof *a) == 0);
    /* one row at a time takes the quadrature at every leaf, many rows the per-leaf tables: the same bits */
    for (size_t i = 0; i < n; i++) CHECK_OK(bml__treeshap_values(t, x + i * F, 1, 1, b + i * W, W));
    CHECK(memcmp(a, b, n * W * sizeof *a) == 0);
    CHECK_OK(bml__treeshap_interactions(t, x, n, 1, ia, W * W));
    CHECK_OK(bml__treeshap_interactions(t, x, n, 2, ib, W * W));
    CHECK(memcmp(ia, ib, n * W * W * sizeof *ia) == 0);
    bml__treeshap_predict(t, x, n, 1, y, 1);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0, mag = fabs(y[i]);
        for (size_t j = 0; j < W; j++) s += a[i * W + j], mag += fabs(a[i * W + j]);
        worst = fmax(worst, fabs(s - y[i]) / mag);
    }
    printf("  additivity against our margin: %.2e relative\n", worst);
    CHECK(worst < 1e-12);
    free(a);
    free(b);
    free(y);
    free(ia);
    free(ib);
}

static void test_shipped_data(void) {
    int e[] = {5};
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = e, .n_experiments = 1};
    bml_dataset *ds = NULL;
    bml_pipeline *p = NULL;
    bml_samples *s = NULL;
    bml_model *m = NULL;
    bml_kv kv[] = {{"target", "soh"}};
    CHECK_OK(bml_dataset_load_oxford(DATA_DIR, &o, &ds));
    CHECK_OK(bml_pipeline_create("summary_set", kv, 1, &p));
    if (ds && p) CHECK_OK(bml_pipeline_transform(p, ds, &s));
    bml_kv mk[] = {{"n_estimators", "200"}, {"early_stopping_rounds", "0"}, {"min_child_samples", "2"}};
    CHECK_OK(bml_model_create("lgbm", mk, 3, &m));
    if (!s || !m) goto out;
    CHECK_OK(bml_model_fit(m, s, NULL, 42));
    compare(m, s->x, s->n, "shipped data (soh)");
    char dir[] = "/tmp/bml-treeshap-XXXXXX";
    if (!mkdtemp(dir)) goto out;
    CHECK_OK(bml_model_save(m, dir));
    char *json = NULL;
    bml__treeshap *t = booster_of(dir, 0, s->n_features, &json);
    if (t) {
        CHECK_INT(bml__treeshap_n_trees(t), 200);
        check_threads_and_margin(t, s->x, s->n, s->n_features);
        check_oracle(json, t, s->x, s->n, s->n_features, "shipped data (soh)");
    }
    bml__treeshap_free(t);
    free(json);
    /* a loaded model computes the same values */
    bml_model *l = NULL;
    CHECK_OK(bml_model_load(dir, &l));
    if (l) {
        size_t W = s->n_features + 1;
        double *a = calloc(s->n * W, sizeof *a), *b = calloc(s->n * W, sizeof *b);
        CHECK_OK(bml_model_shap(m, s->x, s->n, a));
        CHECK_OK(bml_model_shap(l, s->x, s->n, b));
        CHECK(memcmp(a, b, s->n * W * sizeof *a) == 0);
        free(a);
        free(b);
    }
    bml_model_free(l);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
out:
    bml_model_free(m);
    bml_samples_free(s);
    bml_pipeline_free(p);
    bml_dataset_free(ds);
}

static uint64_t rng = 88172645463325252ULL;
static double unif(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* count internal nodes of a booster's JSON whose missing values go left and right */
static void default_directions(const char *json, int *n_left, int *n_right) {
    cJSON *root = cJSON_Parse(json);
    const cJSON *tr = booster_trees(root);
    for (const cJSON *t = tr ? tr->child : NULL; t; t = t->next) {
        const cJSON *dl = cJSON_GetObjectItem(t, "default_left"), *lc = cJSON_GetObjectItem(t, "left_children");
        for (int i = 0; i < cJSON_GetArraySize(dl); i++) {
            if (cJSON_GetArrayItem(lc, i)->valuedouble < 0) continue;
            const cJSON *v = cJSON_GetArrayItem(dl, i);
            int left = cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble != 0;
            if (left) (*n_left)++;
            else (*n_right)++;
        }
    }
    cJSON_Delete(root);
}

/* deep trees (max_depth 9, up to 400 leaves) on random data with 30% missing values, two targets */
static void test_deep_trees_missing(void) {
    size_t n = 400, F = 6, O = 2;
    bml_samples s = {0};
    s.n = n;
    s.n_features = F;
    s.n_targets = O;
    s.x = calloc(n * F, sizeof *s.x);
    s.y = calloc(n * O, sizeof *s.y);
    s.meta = calloc(n, sizeof *s.meta);
    char *fn[6] = {"a", "b", "c", "d", "e", "f"}, *tn[2] = {"y0", "y1"};
    s.feature_names = fn;
    s.target_names = tn;
    for (size_t i = 0; i < n; i++) {
        double *x = s.x + i * F;
        for (size_t j = 0; j < F; j++) x[j] = 4 * unif() - 2;
        /* missing values that carry signal: where x0 is missing y0 is high, where x1 is missing it is low */
        double y0 = sin(2 * x[0]) + x[1] * x[2] + 0.3 * x[3] * x[3] + 0.1 * unif();
        double y1 = x[4] > 0 ? x[0] - x[5] : 2 * x[5] * x[2];
        if (unif() < 0.3) x[0] = NAN, y0 += 2;
        if (unif() < 0.3) x[1] = NAN, y0 -= 2;
        for (size_t j = 2; j < F; j++)
            if (unif() < 0.3) x[j] = NAN;
        s.y[i * O] = y0;
        s.y[i * O + 1] = y1;
    }
    bml_kv kv[] = {{"n_estimators", "40"}, {"early_stopping_rounds", "0"}, {"min_child_samples", "1"},
                   {"max_depth", "9"},     {"num_leaves", "400"},           {"learning_rate", "0.3"}};
    bml_model *m = NULL;
    CHECK_OK(bml_model_create("lgbm", kv, 6, &m));
    if (m) CHECK_OK(bml_model_fit(m, &s, NULL, 7));
    if (m && bml_model_is_fitted(m)) {
        compare(m, s.x, n, "deep trees, 30% missing, 2 targets");
        /* rows with every feature missing, and none */
        double allnan[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, some[6] = {0.5, -1, NAN, 1.5, 0, -0.25};
        compare(m, allnan, 1, "a row of missing values");
        compare(m, some, 1, "one row");
        char dir[] = "/tmp/bml-treeshap-XXXXXX";
        if (mkdtemp(dir)) {
            CHECK_OK(bml_model_save(m, dir));
            for (size_t k = 0; k < O; k++) {
                char *json = NULL;
                bml__treeshap *t = booster_of(dir, k, F, &json);
                int nl = 0, nr = 0;
                if (json) default_directions(json, &nl, &nr);
                printf("  target %zu: missing values go left at %d splits, right at %d\n", k, nl, nr);
                CHECK(nl > 0 && nr > 0);
                if (t) {
                    check_threads_and_margin(t, s.x, n, F);
                    /* a quarter of the rows keeps the brute force (2^F subsets of every tree) fast */
                    check_oracle(json, t, s.x, n / 4, F, "deep trees");
                    check_oracle(json, t, allnan, 1, F, "a row of missing values");
                    check_oracle(json, t, some, 1, F, "one row");
                }
                bml__treeshap_free(t);
                free(json);
            }
            char cmd[600];
            snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
            CHECK(system(cmd) == 0);
        }
    }
    bml_model_free(m);
    free(s.x);
    free(s.y);
    free(s.meta);
}

/* hand-written boosters: one tree, x0 < 0.5 goes left (NaN right), covers 3 and 1 of 4; leaves 1 and -3 */
static const char *tiny =
    "{\"learner\": {\"learner_model_param\": {\"base_score\": \"5E-1\", \"num_feature\": \"2\", \"num_class\": \"0\"},"
    " \"gradient_booster\": {\"name\": \"gbtree\", \"model\": {\"trees\": [{\"tree_param\": {\"num_nodes\": \"3\"},"
    " \"left_children\": [1, -1, -1], \"right_children\": [2, -1, -1], \"split_indices\": [0, 0, 0],"
    " \"split_conditions\": [0.5, 1, -3], \"default_left\": [0, 0, 0], \"sum_hessian\": [4, 3, 1],"
    " \"split_type\": [0, 0, 0]}]}}}}";

static void test_hand_tree(void) {
    bml__treeshap *t = NULL;
    CHECK_OK(bml__treeshap_from_json(tiny, strlen(tiny), 2, "tiny", &t));
    if (!t) return;
    /* E = 0.5 + (3 * 1 + 1 * -3) / 4 = 0.5; x0 = 0: f = 1.5, phi_0 = 1 - 0 = 1; x0 NaN: right, phi_0 = -3 */
    double x[4] = {0, 7, NAN, 7}, phi[6], I[18];
    CHECK_NEAR(bml__treeshap_bias(t), 0.5, 1e-15);
    CHECK_OK(bml__treeshap_values(t, x, 2, 1, phi, 3));
    CHECK_NEAR(phi[0], 1, 1e-15);
    CHECK_NEAR(phi[1], 0, 0);
    CHECK_NEAR(phi[2], 0.5, 1e-15);
    CHECK_NEAR(phi[3], -3, 1e-15);
    CHECK_OK(bml__treeshap_interactions(t, x, 2, 1, I, 9));
    CHECK_NEAR(I[0], 1, 1e-15);
    CHECK_NEAR(I[8], 0.5, 1e-15);
    CHECK_NEAR(I[9], -3, 1e-15);
    check_oracle(tiny, t, x, 2, 2, "hand tree");
    bml__treeshap_free(t);
}

static void test_malformed(void) {
    struct {
        const char *from, *to, *msg;
    } bad[] = {
        {"\"left_children\": [1, -1, -1]", "\"left_children\": [7, -1, -1]", "node 0 has children 7 and 2"},
        {"\"left_children\": [1, -1, -1]", "\"left_children\": [2, -1, -1]", "reached twice"},
        {"\"split_indices\": [0, 0, 0]", "\"split_indices\": [5, 0, 0]", "splits on feature 5 (the model has 2)"},
        {"\"split_type\": [0, 0, 0]", "\"split_type\": [1, 0, 0]", "categorical split"},
        {"\"sum_hessian\": [4, 3, 1]", "\"sum_hessian\": [4, -3, 1]", "negative cover"},
        {"\"sum_hessian\": [4, 3, 1]", "\"sum_hessian\": [4, 3]", "'sum_hessian' must be an array of 3 numbers"},
        {"[0.5, 1, -3]", "[0.5, 1e300, -3]", "node 1 has a value beyond the range of a float"},
        {"\"sum_hessian\": [4, 3, 1]", "\"sum_hessian\": [0, 3, 1]", "split node 0 has cover 0"},
        {"\"num_feature\": \"2\"", "\"num_feature\": \"3\"", "the booster has 3 features, expected 2"},
        {"\"gbtree\"", "\"dart\"", "only gbtree"},
        {"\"num_class\": \"0\"", "\"num_class\": \"3\"", "several outputs"},
        {"\"base_score\": \"5E-1\"", "\"base_score\": \"x\"", "base_score missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *at = strstr(tiny, bad[i].from);
        CHECK(at != NULL);
        if (!at) continue;
        char *s = bml__sprintf("%.*s%s%s", (int)(at - tiny), tiny, bad[i].to, at + strlen(bad[i].from));
        bml__treeshap *t = NULL;
        bml_status st = bml__treeshap_from_json(s, strlen(s), 2, "b.json", &t);
        CHECK(st != BML_OK && t == NULL);
        if (!strstr(bml_last_error(), bad[i].msg) || !strstr(bml_last_error(), "b.json"))
            fprintf(stderr, "  case %zu: message '%s' lacks '%s'\n", i, bml_last_error(), bad[i].msg), t_fail_count++;
        free(s);
    }
    bml__treeshap *t = NULL;
    CHECK_ERR(bml__treeshap_from_json(tiny, 20, 2, "cut.json", &t), BML_ERR_PARSE, "cut.json: not valid JSON");
    /* models without SHAP interactions say so */
    bml_model *m = NULL;
    CHECK_OK(bml_model_create("mlp", NULL, 0, &m));
    double x[1], phi[1];
    CHECK_ERR(bml_model_shap_interactions(m, x, 1, phi), BML_ERR_STATE, "model mlp has no SHAP interaction values");
    bml_model_free(m);
    CHECK_OK(bml_model_create("lgbm", NULL, 0, &m));
    CHECK_ERR(bml_model_shap_interactions(m, x, 1, phi), BML_ERR_STATE, "shap_interactions before fit");
    bml_model_free(m);
}

TEST_MAIN("treeshap", T(test_gauss_legendre), T(test_hand_tree), T(test_malformed), T(test_shipped_data),
          T(test_deep_trees_missing))
