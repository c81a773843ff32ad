/* Exact TreeSHAP by Gauss-Legendre quadrature of the Beta-integral form of the Shapley weights (see
 * treeshap.h for the derivation and the references). */
#include "models/treeshap.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#define OMP(...) _Pragma(#__VA_ARGS__)
#else
#define OMP(...) /* without OpenMP: one thread, the same results */
#endif

#include "core/internal.h"

#define MAX_UNIQUE 128 /* distinct features on one path; quadrature points up to 64 */
#define ROW_BLOCK 32   /* rows that walk the trees together: a tree's tables stay in cache for the block */

typedef struct {
    int32_t left, right, feat; /* left = right = -1 for a leaf; indices local to the tree */
    float thr;                 /* x < thr goes left (x converted to float, as XGBoost) */
    uint8_t dleft;             /* NaN goes left */
} ts_node;

typedef struct {
    double v;                   /* leaf value */
    uint32_t path_off, plen;    /* path: (node, went left, slot of its feature) from the root */
    uint32_t uniq_off, d, q;    /* d distinct features; q = ceil(d / 2) quadrature points */
    size_t tab_off;             /* q weights w_q v, then per distinct feature 4 q values (see leaf_table) */
} ts_leaf;

struct bml__treeshap {
    size_t F, n_trees;
    double base, bias;
    ts_node *nodes;             /* all trees' nodes, tree t from node_off[t] */
    size_t *node_off;           /* (n_trees + 1) */
    int32_t *internal;          /* local ids of internal nodes, tree t from int_off[t] */
    size_t *int_off;            /* (n_trees + 1) */
    ts_leaf *leaves;            /* tree t from leaf_off[t] */
    size_t *leaf_off;           /* (n_trees + 1) */
    int32_t *path_node;
    uint8_t *path_dir;
    uint16_t *path_slot;
    int32_t *uniq_feat;
    double *uniq_z;
    double *tab;
    size_t max_nodes, max_d, max_q;
};

void bml__treeshap_free(bml__treeshap *t) {
    if (!t) return;
    free(t->nodes);
    free(t->node_off);
    free(t->internal);
    free(t->int_off);
    free(t->leaves);
    free(t->leaf_off);
    free(t->path_node);
    free(t->path_dir);
    free(t->path_slot);
    free(t->uniq_feat);
    free(t->uniq_z);
    free(t->tab);
    free(t);
}

size_t bml__treeshap_n_trees(const bml__treeshap *t) { return t->n_trees; }
double bml__treeshap_bias(const bml__treeshap *t) { return t->bias; }

/* Newton's iteration on the Legendre polynomial P_q from the usual starting guesses, then mapped to [0, 1] */
void bml__gauss_legendre01(int q, double *t, double *w) {
    for (int i = 0; i < q; i++) {
        double x = cos(3.14159265358979323846 * (i + 0.75) / (q + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = x;
            for (int k = 2; k <= q; k++) {
                double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            dp = q * (x * p1 - p0) / (x * x - 1);
            double dx = p1 / dp;
            x -= dx;
            if (fabs(dx) < 1e-16) break;
        }
        t[i] = 0.5 * (1 - x);
        w[i] = 1 / ((1 - x * x) * dp * dp);
    }
}

/* ---- reading the booster's JSON ---- */

typedef struct { /* growable arrays while reading */
    ts_node *nodes;
    size_t n_nodes, cap_nodes;
    int32_t *internal;
    size_t n_int, cap_int;
    ts_leaf *leaves;
    size_t n_leaves, cap_leaves;
    int32_t *path_node;
    uint8_t *path_dir;
    uint16_t *path_slot;
    size_t n_path, cap_path;
    int32_t *uniq_feat;
    double *uniq_z;
    size_t n_uniq, cap_uniq;
    double *tab;
    size_t n_tab, cap_tab;
} builder;

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int grow_path(builder *b, size_t need) {
    if (need <= b->cap_path) return 0;
    size_t c = b->cap_path;
    if (grow((void **)&b->path_node, &c, need, sizeof *b->path_node)) return -1;
    c = b->cap_path;
    if (grow((void **)&b->path_dir, &c, need, sizeof *b->path_dir)) return -1;
    c = b->cap_path;
    if (grow((void **)&b->path_slot, &c, need, sizeof *b->path_slot)) return -1;
    b->cap_path = c;
    return 0;
}

static int grow_uniq(builder *b, size_t need) {
    if (need <= b->cap_uniq) return 0;
    size_t c = b->cap_uniq;
    if (grow((void **)&b->uniq_feat, &c, need, sizeof *b->uniq_feat)) return -1;
    c = b->cap_uniq;
    if (grow((void **)&b->uniq_z, &c, need, sizeof *b->uniq_z)) return -1;
    b->cap_uniq = c;
    return 0;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* number or numeric string (XGBoost writes model parameters as strings) */
static int num_of(const cJSON *o, double *v) {
    if (cJSON_IsNumber(o)) {
        *v = o->valuedouble;
        return 0;
    }
    if (cJSON_IsString(o)) return bml__parse_double(o->valuestring, v);
    if (cJSON_IsBool(o)) {
        *v = cJSON_IsTrue(o);
        return 0;
    }
    return -1;
}

/* array `key` of tree `ti` with exactly n numbers into v (may be NULL to check only) */
static bml_status num_array(const cJSON *tree, const char *key, size_t n, double *v, const char *what, size_t ti) {
    const cJSON *a = get(tree, key);
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n)
        return bml__fail(BML_ERR_PARSE, "%s: tree %zu: '%s' must be an array of %zu numbers", what, ti, key, n);
    size_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        double x;
        if (num_of(e, &x) != 0 || !isfinite(x))
            return bml__fail(BML_ERR_PARSE, "%s: tree %zu: %s[%zu] is not a finite number", what, ti, key, i);
        if (v) v[i] = x;
    }
    return BML_OK;
}

/* The per-leaf table: q weights w_q v; then per distinct feature i, f_i(t_q) for o_i = 0 and 1
 * (z_i (1 - t_q), z_i + t_q (1 - z_i)) and their inverses (0 where f is 0: then o_i = z_i = 0, and every
 * term that would divide by it carries the factor o_i - z_i = 0). */
static int leaf_table(builder *b, ts_leaf *lf) {
    size_t q = lf->q, need = b->n_tab + q + 4 * q * lf->d;
    if (grow((void **)&b->tab, &b->cap_tab, need, sizeof *b->tab)) return -1;
    double tq[64], wq[64];
    bml__gauss_legendre01((int)q, tq, wq);
    lf->tab_off = b->n_tab;
    double *tab = b->tab + b->n_tab;
    for (size_t k = 0; k < q; k++) tab[k] = wq[k] * lf->v;
    for (size_t i = 0; i < lf->d; i++) {
        double z = b->uniq_z[lf->uniq_off + i], *f = tab + q + 4 * q * i;
        for (size_t k = 0; k < q; k++) {
            f[k] = z * (1 - tq[k]);
            f[q + k] = z + tq[k] * (1 - z);
            f[2 * q + k] = f[k] > 0 ? 1 / f[k] : 0;
            f[3 * q + k] = f[q + k] > 0 ? 1 / f[q + k] : 0;
        }
    }
    b->n_tab = need;
    return 0;
}

/* one tree: nodes checked and appended, then its leaves found depth first with their paths */
static bml_status read_tree(builder *b, const cJSON *tree, size_t ti, size_t F, const char *what, double *expect) {
    const cJSON *tp = get(tree, "tree_param");
    double nn;
    if (num_of(get(tp, "num_nodes"), &nn) != 0 || !(nn >= 1 && nn <= 1e8))
        return bml__fail(BML_ERR_PARSE, "%s: tree %zu: tree_param.num_nodes missing or invalid", what, ti);
    size_t n = (size_t)nn, base = b->n_nodes;
    double *left = bml__calloc(n, sizeof *left), *right = bml__calloc(n, sizeof *right);
    double *feat = bml__calloc(n, sizeof *feat), *cond = bml__calloc(n, sizeof *cond);
    double *dleft = bml__calloc(n, sizeof *dleft), *cover = bml__calloc(n, sizeof *cover);
    double *stype = bml__calloc(n, sizeof *stype);
    int32_t *stack = bml__calloc(n, sizeof *stack), *depth = bml__calloc(n, sizeof *depth);
    int32_t *pn = bml__calloc(n, sizeof *pn);
    uint8_t *seen = bml__calloc(n, 1);
    bml_status st = BML_OK;
    if (!left || !right || !feat || !cond || !dleft || !cover || !stype || !stack || !depth || !pn || !seen ||
        grow((void **)&b->nodes, &b->cap_nodes, base + n, sizeof *b->nodes)) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = num_array(tree, "left_children", n, left, what, ti)) != BML_OK ||
        (st = num_array(tree, "right_children", n, right, what, ti)) != BML_OK ||
        (st = num_array(tree, "split_indices", n, feat, what, ti)) != BML_OK ||
        (st = num_array(tree, "split_conditions", n, cond, what, ti)) != BML_OK ||
        (st = num_array(tree, "default_left", n, dleft, what, ti)) != BML_OK ||
        (st = num_array(tree, "sum_hessian", n, cover, what, ti)) != BML_OK)
        goto done;
    if (get(tree, "split_type") && (st = num_array(tree, "split_type", n, stype, what, ti)) != BML_OK) goto done;
    for (size_t i = 0; i < n; i++) {
        ts_node *nd = &b->nodes[base + i];
        int leaf = left[i] == -1 && right[i] == -1;
        if (!leaf && !(left[i] >= 1 && left[i] < (double)n && right[i] >= 1 && right[i] < (double)n &&
                       left[i] == floor(left[i]) && right[i] == floor(right[i]))) {
            st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: node %zu has children %g and %g (the tree has %zu nodes)", what, ti,
                           i, left[i], right[i], n);
            goto done;
        }
        if (!leaf && !(feat[i] >= 0 && feat[i] < (double)F && feat[i] == floor(feat[i]))) {
            st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: node %zu splits on feature %g (the model has %zu)", what, ti, i,
                           feat[i], F);
            goto done;
        }
        if (!leaf && stype[i] != 0) {
            st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: node %zu is a categorical split (not supported)", what, ti, i);
            goto done;
        }
        if (!(cover[i] >= 0)) {
            st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: node %zu has a negative cover", what, ti, i);
            goto done;
        }
        nd->left = leaf ? -1 : (int32_t)left[i];
        nd->right = leaf ? -1 : (int32_t)right[i];
        nd->feat = leaf ? -1 : (int32_t)feat[i];
        /* XGBoost keeps thresholds, leaf values and covers as floats; the JSON text is a float's digits */
        cond[i] = (float)cond[i];
        cover[i] = (float)cover[i];
        if (!isfinite(cond[i]) || !isfinite(cover[i])) {
            st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: node %zu has a value beyond the range of a float", what, ti, i);
            goto done;
        }
        nd->thr = (float)cond[i];
        nd->dleft = dleft[i] != 0;
    }
    /* depth first from the root; pn[0..depth) holds the path to the node being visited */
    size_t top = 0;
    double mean = 0;
    stack[top] = 0;
    depth[top++] = 0;
    while (top) {
        top--;
        int32_t id = stack[top], dp = depth[top];
        if (seen[id]) {
            st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: node %d is reached twice (not a tree)", what, ti, (int)id);
            goto done;
        }
        seen[id] = 1;
        const ts_node *nd = &b->nodes[base + (size_t)id];
        if (nd->left >= 0) {
            if (!(cover[id] > 0)) {
                st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: split node %d has cover 0", what, ti, (int)id);
                goto done;
            }
            if (grow((void **)&b->internal, &b->cap_int, b->n_int + 1, sizeof *b->internal)) goto nomem;
            b->internal[b->n_int++] = id;
            /* children inherit the path; in a tree the stack holds distinct unvisited nodes */
            if (top + 2 > n) {
                st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: node %d is reached twice (not a tree)", what, ti, (int)id);
                goto done;
            }
            pn[dp] = id;
            stack[top] = nd->right;
            depth[top++] = dp + 1;
            stack[top] = nd->left;
            depth[top++] = dp + 1;
            continue;
        }
        /* a leaf at depth dp: its path is pn[0..dp), each step's direction read from the child reached */
        if (grow((void **)&b->leaves, &b->cap_leaves, b->n_leaves + 1, sizeof *b->leaves) ||
            grow_path(b, b->n_path + (size_t)dp) || grow_uniq(b, b->n_uniq + (size_t)dp))
            goto nomem;
        ts_leaf *lf = &b->leaves[b->n_leaves];
        lf->v = cond[id];
        lf->path_off = (uint32_t)b->n_path;
        lf->plen = (uint32_t)dp;
        lf->uniq_off = (uint32_t)b->n_uniq;
        lf->d = 0;
        double Z = 1;
        for (int32_t k = 0; k < dp; k++) {
            int32_t p = pn[k], child = k + 1 < dp ? pn[k + 1] : id;
            const ts_node *pnode = &b->nodes[base + (size_t)p];
            int went_left = pnode->left == child;
            double ratio = cover[child] / cover[p];
            uint32_t s = 0;
            while (s < lf->d && b->uniq_feat[lf->uniq_off + s] != pnode->feat) s++;
            if (s == lf->d) {
                if (lf->d == MAX_UNIQUE) {
                    st = bml__fail(BML_ERR_VALUE, "%s: tree %zu: a path splits on more than %d distinct features", what, ti,
                                   MAX_UNIQUE);
                    goto done;
                }
                b->uniq_feat[lf->uniq_off + s] = pnode->feat;
                b->uniq_z[lf->uniq_off + s] = 1;
                lf->d++;
            }
            b->uniq_z[lf->uniq_off + s] *= ratio;
            Z *= ratio;
            b->path_node[b->n_path + (size_t)k] = p;
            b->path_dir[b->n_path + (size_t)k] = (uint8_t)went_left;
            b->path_slot[b->n_path + (size_t)k] = (uint16_t)s;
        }
        b->n_path += (size_t)dp;
        b->n_uniq += lf->d;
        lf->q = (lf->d + 1) / 2;
        if (lf->q == 0) lf->q = 1;
        if (leaf_table(b, lf)) goto nomem;
        mean += lf->v * Z;
        b->n_leaves++;
    }
    b->n_nodes = base + n;
    *expect = mean;
    goto done;
nomem:
    st = bml__fail(BML_ERR_NOMEM, "out of memory");
done:
    free(left);
    free(right);
    free(feat);
    free(cond);
    free(dleft);
    free(cover);
    free(stype);
    free(stack);
    free(depth);
    free(pn);
    free(seen);
    return st;
}

static bml_status read_model(const cJSON *root, size_t F, const char *what, bml__treeshap *t, builder *b) {
    const cJSON *learner = get(root, "learner");
    const cJSON *lmp = get(learner, "learner_model_param"), *gb = get(learner, "gradient_booster");
    double base, nf, ncls = 0, ntarget = 1;
    if (num_of(get(lmp, "base_score"), &base) != 0 || !isfinite(base))
        return bml__fail(BML_ERR_PARSE, "%s: learner.learner_model_param.base_score missing or not a number", what);
    if (num_of(get(lmp, "num_feature"), &nf) != 0 || nf != (double)F)
        return bml__fail(BML_ERR_VALUE, "%s: the booster has %s features, expected %zu", what,
                         cJSON_IsString(get(lmp, "num_feature")) ? get(lmp, "num_feature")->valuestring : "?", F);
    if (get(lmp, "num_class")) (void)num_of(get(lmp, "num_class"), &ncls);
    if (get(lmp, "num_target")) (void)num_of(get(lmp, "num_target"), &ntarget);
    if (ncls > 1 || ntarget != 1)
        return bml__fail(BML_ERR_VALUE, "%s: the booster has several outputs (one booster per target expected)", what);
    const cJSON *name = get(gb, "name");
    if (!cJSON_IsString(name) || strcmp(name->valuestring, "gbtree") != 0)
        return bml__fail(BML_ERR_VALUE, "%s: only gbtree boosters are supported", what);
    const cJSON *trees = get(get(gb, "model"), "trees");
    if (!cJSON_IsArray(trees)) return bml__fail(BML_ERR_PARSE, "%s: gradient_booster.model.trees missing", what);
    size_t T = (size_t)cJSON_GetArraySize(trees);
    t->n_trees = T;
    t->base = (float)base; /* a float in XGBoost */
    t->node_off = bml__calloc(T + 1, sizeof *t->node_off);
    t->int_off = bml__calloc(T + 1, sizeof *t->int_off);
    t->leaf_off = bml__calloc(T + 1, sizeof *t->leaf_off);
    if (!t->node_off || !t->int_off || !t->leaf_off) return bml__fail(BML_ERR_NOMEM, "out of memory");
    /* the bias sums, tree by tree, each tree's expected value, then adds base_score */
    double bias = 0;
    size_t ti = 0;
    for (const cJSON *tree = trees->child; tree; tree = tree->next, ti++) {
        double e = 0;
        BML__TRY(read_tree(b, tree, ti, F, what, &e));
        bias += e;
        t->node_off[ti + 1] = b->n_nodes;
        t->int_off[ti + 1] = b->n_int;
        t->leaf_off[ti + 1] = b->n_leaves;
        t->max_nodes = t->node_off[ti + 1] - t->node_off[ti] > t->max_nodes ? t->node_off[ti + 1] - t->node_off[ti]
                                                                              : t->max_nodes;
    }
    t->bias = bias + t->base;
    for (size_t l = 0; l < b->n_leaves; l++) {
        if (b->leaves[l].d > t->max_d) t->max_d = b->leaves[l].d;
        if (b->leaves[l].q > t->max_q) t->max_q = b->leaves[l].q;
    }
    return BML_OK;
}

bml_status bml__treeshap_from_json(const char *json, size_t len, size_t n_features, const char *what,
                                   bml__treeshap **out) {
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return bml__fail(BML_ERR_PARSE, "%s: not valid JSON", what);
    bml__treeshap *t = calloc(1, sizeof *t);
    builder b = {0};
    bml_status st = t ? read_model(root, n_features, what, t, &b) : bml__fail(BML_ERR_NOMEM, "out of memory");
    cJSON_Delete(root);
    if (t) {
        t->F = n_features;
        t->nodes = b.nodes;
        t->internal = b.internal;
        t->leaves = b.leaves;
        t->path_node = b.path_node;
        t->path_dir = b.path_dir;
        t->path_slot = b.path_slot;
        t->uniq_feat = b.uniq_feat;
        t->uniq_z = b.uniq_z;
        t->tab = b.tab;
        if (t->max_nodes == 0) t->max_nodes = 1;
        if (t->max_d == 0) t->max_d = 1;
        if (t->max_q == 0) t->max_q = 1;
    } else {
        free(b.nodes);
        free(b.internal);
        free(b.leaves);
        free(b.path_node);
        free(b.path_dir);
        free(b.path_slot);
        free(b.uniq_feat);
        free(b.uniq_z);
        free(b.tab);
    }
    if (st != BML_OK) {
        bml__treeshap_free(t);
        return st;
    }
    *out = t;
    return BML_OK;
}

/* ---- evaluation ---- */

/* go-left decision of every internal node of tree ti for the row xf (floats) */
static void decide(const bml__treeshap *t, size_t ti, const float *xf, uint8_t *goleft) {
    const ts_node *nodes = t->nodes + t->node_off[ti];
    for (size_t k = t->int_off[ti]; k < t->int_off[ti + 1]; k++) {
        int32_t id = t->internal[k];
        const ts_node *nd = &nodes[id];
        float v = xf[nd->feat];
        goleft[id] = isnan(v) ? nd->dleft : v < nd->thr;
    }
}

/* o of the leaf's distinct features (1: the row follows every split on it), returned in o[0..d) */
static void leaf_o(const bml__treeshap *t, const ts_leaf *lf, const uint8_t *goleft, uint8_t *o) {
    for (uint32_t s = 0; s < lf->d; s++) o[s] = 1;
    const int32_t *pn = t->path_node + lf->path_off;
    const uint8_t *pd = t->path_dir + lf->path_off;
    const uint16_t *ps = t->path_slot + lf->path_off;
    for (uint32_t k = 0; k < lf->plen; k++) o[ps[k]] &= (uint8_t)(goleft[pn[k]] == pd[k]);
}

/* P[k] = w_k v prod_i f_i(t_k) */
static void leaf_product(const bml__treeshap *t, const ts_leaf *lf, const uint8_t *o, double *P) {
    const double *tab = t->tab + lf->tab_off;
    size_t q = lf->q;
    for (size_t k = 0; k < q; k++) P[k] = tab[k];
    for (uint32_t i = 0; i < lf->d; i++) {
        const double *f = tab + q + 4 * q * i + (o[i] ? q : 0);
        for (size_t k = 0; k < q; k++) P[k] *= f[k];
    }
}

typedef struct {
    float *xf;
    uint8_t *goleft, *o;
    double *P, *S;
} scratch;

static int scratch_init(const bml__treeshap *t, scratch *s, int inter) {
    s->xf = malloc((t->F ? t->F : 1) * ROW_BLOCK * sizeof *s->xf);
    s->goleft = malloc(t->max_nodes);
    s->o = malloc(t->max_d);
    s->P = malloc(t->max_q * sizeof *s->P);
    s->S = malloc(t->max_d * (inter ? t->max_q : 1) * sizeof *s->S);
    return s->xf && s->goleft && s->o && s->P && s->S ? 0 : -1;
}

static void scratch_free(scratch *s) {
    free(s->xf);
    free(s->goleft);
    free(s->o);
    free(s->P);
    free(s->S);
}

static void to_float(const double *x, size_t F, float *xf) {
    for (size_t j = 0; j < F; j++) xf[j] = (float)x[j];
}

static int nthreads(int threads) {
#ifdef _OPENMP
    return threads > 0 ? threads : omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

void bml__treeshap_predict(const bml__treeshap *t, const double *x, size_t n, int threads, double *out, size_t stride) {
    int nt = nthreads(threads);
    (void)nt;
OMP(omp parallel for schedule(static) num_threads(nt))
    for (size_t i = 0; i < n; i++) {
        const double *xi = x + i * t->F;
        double sum = 0;
        for (size_t ti = 0; ti < t->n_trees; ti++) {
            const ts_node *nodes = t->nodes + t->node_off[ti];
            int32_t id = 0;
            while (nodes[id].left >= 0) {
                float v = (float)xi[nodes[id].feat];
                int l = isnan(v) ? nodes[id].dleft : v < nodes[id].thr;
                id = l ? nodes[id].left : nodes[id].right;
            }
            sum += nodes[id].thr;
        }
        out[i * stride] = sum + t->base;
    }
}

/* the leaf's shares of phi for its distinct features, given o: out[i] = (o_i - z_i) sum_k P_k / f_i(t_k) */
static void leaf_contrib(const bml__treeshap *t, const ts_leaf *lf, const uint8_t *o, double *P, double *out) {
    leaf_product(t, lf, o, P);
    const double *tab = t->tab + lf->tab_off, *z = t->uniq_z + lf->uniq_off;
    size_t q = lf->q;
    for (uint32_t i = 0; i < lf->d; i++) {
        const double *inv = tab + q + 4 * q * i + 2 * q + (o[i] ? q : 0);
        double sum = 0;
        for (size_t k = 0; k < q; k++) sum += P[k] * inv[k];
        out[i] = (o[i] - z[i]) * sum;
    }
}

/* one tree's SHAP values for one row, added into phi (F + 1) */
static void tree_values(const bml__treeshap *t, size_t ti, scratch *s, double *phi) {
    decide(t, ti, s->xf, s->goleft);
    for (size_t l = t->leaf_off[ti]; l < t->leaf_off[ti + 1]; l++) {
        const ts_leaf *lf = &t->leaves[l];
        leaf_o(t, lf, s->goleft, s->o);
        leaf_contrib(t, lf, s->o, s->P, s->S);
        const int32_t *feat = t->uniq_feat + lf->uniq_off;
        for (uint32_t i = 0; i < lf->d; i++) phi[feat[i]] += s->S[i];
    }
}

/* Where every leaf has few distinct features, the leaf's shares for each of the 2^d patterns of o are
 * computed once per call (Fast TreeSHAP v2's idea, Yang 2021) by the same arithmetic as leaf_contrib, so the
 * values are the same bits either way; a row then costs a pattern and d additions per leaf. */
#define TABLE_MAX_D 12
#define TABLE_MAX_BYTES ((size_t)1 << 28)

/* offsets of each leaf's table (n_leaves + 1), or NULL when the tables would be too large */
static size_t *table_offsets(const bml__treeshap *t) {
    size_t L = t->leaf_off[t->n_trees], total = 0;
    if (t->max_d > TABLE_MAX_D) return NULL;
    size_t *off = malloc((L + 1) * sizeof *off);
    if (!off) return NULL;
    for (size_t l = 0; l < L; l++) {
        off[l] = total;
        total += ((size_t)1 << t->leaves[l].d) * t->leaves[l].d;
    }
    off[L] = total;
    if (total * sizeof(double) > TABLE_MAX_BYTES) {
        free(off);
        return NULL;
    }
    return off;
}

static void tree_values_table(const bml__treeshap *t, size_t ti, const size_t *toff, const double *table, scratch *s,
                              double *phi) {
    decide(t, ti, s->xf, s->goleft);
    for (size_t l = t->leaf_off[ti]; l < t->leaf_off[ti + 1]; l++) {
        const ts_leaf *lf = &t->leaves[l];
        const int32_t *pn = t->path_node + lf->path_off;
        const uint8_t *pd = t->path_dir + lf->path_off;
        const uint16_t *ps = t->path_slot + lf->path_off;
        uint32_t fail = 0;
        for (uint32_t k = 0; k < lf->plen; k++) fail |= (uint32_t)(s->goleft[pn[k]] != pd[k]) << ps[k];
        uint32_t d = lf->d, A = ~fail & ((1u << d) - 1);
        const double *c = table + toff[l] + (size_t)A * d;
        const int32_t *feat = t->uniq_feat + lf->uniq_off;
        for (uint32_t i = 0; i < d; i++) phi[feat[i]] += c[i];
    }
}

bml_status bml__treeshap_values(const bml__treeshap *t, const double *x, size_t n, int threads, double *phi,
                                size_t stride) {
    size_t F = t->F, nblocks = (n + ROW_BLOCK - 1) / ROW_BLOCK, L = t->leaf_off[t->n_trees];
    int failed = 0, nt = nthreads(threads);
    (void)nt;
    /* tables pay when there are more rows than patterns per leaf */
    size_t *toff = n >= ((size_t)1 << (t->max_d < 8 ? t->max_d : 8)) ? table_offsets(t) : NULL;
    double *table = toff ? malloc(toff[L] * sizeof *table) : NULL;
    if (toff && !table) {
        free(toff);
        toff = NULL;
    }
    if (table) {
OMP(omp parallel num_threads(nt) reduction(| : failed))
        {
            scratch s;
            if (scratch_init(t, &s, 0)) failed = 1;
OMP(omp for schedule(dynamic, 64))
            for (size_t l = 0; l < L; l++) {
                if (failed) continue;
                const ts_leaf *lf = &t->leaves[l];
                for (uint32_t A = 0; A < (1u << lf->d); A++) {
                    for (uint32_t i = 0; i < lf->d; i++) s.o[i] = (uint8_t)(A >> i & 1);
                    leaf_contrib(t, lf, s.o, s.P, table + toff[l] + (size_t)A * lf->d);
                }
            }
            scratch_free(&s);
        }
    }
OMP(omp parallel num_threads(nt) reduction(| : failed))
    {
        scratch s;
        if (scratch_init(t, &s, 0)) failed = 1;
OMP(omp for schedule(dynamic, 1))
        for (size_t b = 0; b < nblocks; b++) {
            if (failed) continue;
            size_t r0 = b * ROW_BLOCK, r1 = r0 + ROW_BLOCK < n ? r0 + ROW_BLOCK : n;
            float *xf = s.xf;
            for (size_t i = r0; i < r1; i++) {
                memset(phi + i * stride, 0, (F + 1) * sizeof *phi);
                to_float(x + i * F, F, xf + (i - r0) * F);
            }
            /* the trees in order for every row of the block: each row's sums run in the same order */
            for (size_t ti = 0; ti < t->n_trees; ti++)
                for (size_t i = r0; i < r1; i++) {
                    s.xf = xf + (i - r0) * F;
                    if (table) tree_values_table(t, ti, toff, table, &s, phi + i * stride);
                    else tree_values(t, ti, &s, phi + i * stride);
                }
            s.xf = xf;
            for (size_t i = r0; i < r1; i++) phi[i * stride + F] = t->bias;
        }
        scratch_free(&s);
    }
    free(toff);
    free(table);
    return failed ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
}

/* one tree's SHAP values phi (F + 1) and off-diagonal interactions I ((F + 1) x (F + 1)) for one row, added */
static void tree_interactions(const bml__treeshap *t, size_t ti, scratch *s, double *phi, double *I) {
    size_t W = t->F + 1;
    decide(t, ti, s->xf, s->goleft);
    for (size_t l = t->leaf_off[ti]; l < t->leaf_off[ti + 1]; l++) {
        const ts_leaf *lf = &t->leaves[l];
        leaf_o(t, lf, s->goleft, s->o);
        leaf_product(t, lf, s->o, s->P);
        const double *tab = t->tab + lf->tab_off, *z = t->uniq_z + lf->uniq_off;
        const int32_t *feat = t->uniq_feat + lf->uniq_off;
        size_t q = lf->q;
        /* S[i][k] = (o_i - z_i) P_k / f_i(t_k) */
        for (uint32_t i = 0; i < lf->d; i++) {
            const double *inv = tab + q + 4 * q * i + 2 * q + (s->o[i] ? q : 0);
            double c = s->o[i] - z[i], sum = 0;
            for (size_t k = 0; k < q; k++) {
                s->S[i * q + k] = c * s->P[k] * inv[k];
                sum += s->S[i * q + k];
            }
            phi[feat[i]] += sum;
        }
        for (uint32_t i = 0; i < lf->d; i++) {
            const double *inv_i = tab + q + 4 * q * i + 2 * q + (s->o[i] ? q : 0);
            double ci = 0.5 * (s->o[i] - z[i]);
            for (uint32_t j = 0; j < lf->d; j++) {
                if (j == i) continue;
                double sum = 0;
                for (size_t k = 0; k < q; k++) sum += s->S[j * q + k] * inv_i[k];
                I[(size_t)feat[i] * W + (size_t)feat[j]] += ci * sum;
            }
        }
    }
}

bml_status bml__treeshap_interactions(const bml__treeshap *t, const double *x, size_t n, int threads, double *out,
                                      size_t stride) {
    size_t F = t->F, W = F + 1;
    int failed = 0, nt = nthreads(threads);
    (void)nt;
OMP(omp parallel num_threads(nt) reduction(| : failed))
    {
        scratch s;
        double *phi = malloc(W * sizeof *phi);
        if (scratch_init(t, &s, 1) || !phi) failed = 1;
OMP(omp for schedule(dynamic, 1))
        for (size_t i = 0; i < n; i++) {
            if (failed) continue;
            double *I = out + i * stride;
            memset(I, 0, W * W * sizeof *I);
            memset(phi, 0, W * sizeof *phi);
            to_float(x + i * F, F, s.xf);
            for (size_t ti = 0; ti < t->n_trees; ti++) tree_interactions(t, ti, &s, phi, I);
            /* the diagonal: phi_a less the row's interactions, as XGBoost fills it */
            for (size_t a = 0; a < F; a++) {
                double d = phi[a];
                for (size_t c = 0; c < W; c++)
                    if (c != a) d -= I[a * W + c];
                I[a * W + a] = d;
            }
            I[F * W + F] = t->bias;
        }
        scratch_free(&s);
        free(phi);
    }
    return failed ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
}
