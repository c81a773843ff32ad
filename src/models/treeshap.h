/* Exact path-dependent TreeSHAP values and interaction values of an XGBoost booster, computed by the
 * library itself (internal to the models layer).
 *
 * The trees are read from the booster's JSON form (XGBoosterSaveModelToBuffer, {"format": "json"}) into a
 * flat layout: per node the split (feature, float threshold, default direction for NaN) and per leaf its
 * value, the path from the root and, for every distinct feature on the path, z_i (product of the cover
 * ratios of the path's splits on it). For a row, o_i is 1 when the row follows every split on feature i
 * of the path, else 0. The Shapley weights are Beta integrals, s!(d-1-s)!/d! = int_0^1 t^s (1-t)^(d-1-s) dt,
 * so the leaf's share of phi_j (Lundberg et al. 2020, Alg. 2, written as in Linear TreeShap, Yu et al. 2022) is
 *     v (o_j - z_j) int_0^1 prod_{i != j} (z_i + t (o_i - z_i)) dt,
 * a polynomial of degree d-1 in t, integrated exactly by ceil(d/2)-point Gauss-Legendre quadrature on
 * [0, 1]: O(d ceil(d/2)) per leaf and row. The interaction of features i != j (as XGBoost's
 * pred_interactions: half the difference of phi_j with i conditioned present and absent) is
 *     v/2 (o_i - z_i)(o_j - z_j) int_0^1 prod_{k != i, j} (z_k + t (o_k - z_k)) dt,
 * and the diagonal is phi_i minus the row's other interactions. The bias is base_score plus, per tree, the
 * cover-weighted mean of its leaves, so that the F + 1 values add up to the margin exactly (in exact
 * arithmetic). Features are compared as XGBoost does: converted to float, `x < threshold` goes left.
 *
 * Rows are independent: they are spread over OpenMP threads, and each row's sums run in one fixed order
 * (tree by tree, leaf by leaf), so results are bit-identical at any thread count. */
#ifndef BML_MODELS_TREESHAP_H
#define BML_MODELS_TREESHAP_H

#include <stddef.h>

#include "batteryml/status.h"

typedef struct bml__treeshap bml__treeshap; /* one booster (one target): its trees, read-only after creation */

/* Read a gbtree booster with one output from its JSON text (len bytes, not necessarily NUL-terminated),
 * expecting n_features features. Malformed or unsupported models (categorical splits, several outputs,
 * a child index out of range, a node reached twice, a split on an unknown feature, negative covers) fail
 * with BML_ERR_PARSE or BML_ERR_VALUE naming `what` (the booster's file or description). Caller owns *out
 * (bml__treeshap_free). */
bml_status bml__treeshap_from_json(const char *json, size_t len, size_t n_features, const char *what,
                                   bml__treeshap **out);
void bml__treeshap_free(bml__treeshap *t); /* NULL is harmless */

size_t bml__treeshap_n_trees(const bml__treeshap *t);
/* The expected value (bias): base_score + sum over trees of the cover-weighted mean leaf value. */
double bml__treeshap_bias(const bml__treeshap *t);

/* All three take x (n, F) row-major (NaN = missing) and write row i at out + i * stride; `threads` < 1
 * means OpenMP's default. */
/* the margin (sum of the leaves reached + base_score), in double: one value per row */
void bml__treeshap_predict(const bml__treeshap *t, const double *x, size_t n, int threads, double *out, size_t stride);
/* SHAP values: F + 1 per row (the last is the bias) */
bml_status bml__treeshap_values(const bml__treeshap *t, const double *x, size_t n, int threads, double *phi,
                                size_t stride);
/* SHAP interaction values: (F + 1, F + 1) per row; row j of it sums to phi_j; (F, F) is the bias */
bml_status bml__treeshap_interactions(const bml__treeshap *t, const double *x, size_t n, int threads, double *phi,
                                      size_t stride);

/* Gauss-Legendre rule with q nodes on [0, 1] (1 <= q <= 64): t[q], w[q]; exact for polynomials of degree
 * up to 2q - 1. */
void bml__gauss_legendre01(int q, double *t, double *w);

/* XGBoost's own TreeSHAP for the lgbm model (pred_contribs: phi (n, O, F + 1); pred_interactions:
 * (n, O, F + 1, F + 1)), kept as the reference for tests and the benchmark. Defined in lgbm.c. */
struct bml_model;
bml_status bml__lgbm_shap_xgboost(const struct bml_model *m, const double *x, size_t n, double *phi);
bml_status bml__lgbm_interactions_xgboost(const struct bml_model *m, const double *x, size_t n, double *phi);

#endif
