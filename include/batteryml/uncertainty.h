/* Calibrated prediction intervals: split conformal and CV+ / jackknife+ (Barber, Candès, Ramdas & Tibshirani,
 * "Predictive inference with the jackknife+", Annals of Statistics 49(1), 2021).
 *
 * Assumption: the units the intervals are calibrated over (for the study runner: cells) are exchangeable with
 * the units predicted. Then, for a miscoverage level alpha in (0, 1):
 *   - split conformal: P(y in [mu(x) - q, mu(x) + q]) >= 1 - alpha, where mu was fitted without the n
 *     calibration points and q is the k-th smallest of their absolute residuals R_i = |y_i - mu(x_i)|;
 *   - CV+ (K groups; jackknife+ when every group is one unit): P(y in [lower, upper]) >= 1 - 2 alpha (and about
 *     1 - alpha in practice), where for a point x, with mu_{-k} the model fitted without group k and k(i) the
 *     group of training point i, R_i = |y_i - mu_{-k(i)}(x_i)| (out-of-group residual),
 *         lower = the kl-th smallest of { mu_{-k(i)}(x) - R_i : i = 1..n }
 *         upper = the ku-th smallest of { mu_{-k(i)}(x) + R_i : i = 1..n }.
 *
 * Quantile index conventions (exactly the paper's q+ and q-; not numpy.quantile(v, (1 - alpha)(1 + 1/n),
 * method="higher"), which takes 0-based index ceil(p (n - 1)) and is one rank higher for n = 19, alpha = 0.1):
 *     ku = ceil((1 - alpha) (n + 1))       the rank of an upper bound (1-based, among n values)
 *     kl = floor(alpha (n + 1))            the rank of a lower bound (kl = n + 1 - ku)
 * computed so that a product within 1e-9 of an integer counts as that integer (alpha = 0.1, n = 19: ku = 18,
 * as in exact arithmetic, never 19 from rounding). When ku > n (too few points for level 1 - alpha: n <
 * bml_conformal_min_n(alpha)) the upper bound is +INFINITY and the lower bound -INFINITY (kl = 0): the only
 * interval with the guarantee, as in the paper; it is not an error. Ties count with their multiplicity. The
 * intervals are closed: a point is covered when lower <= y <= upper.
 *
 * A transformed target (log10 cycle life): compute the interval on the scale the model predicts and map both
 * ends through the inverse transform; any increasing map keeps the coverage.
 *
 * Every function validates its input: alpha outside the open interval (0, 1) (or NaN), a NaN or infinite
 * prediction or residual, a negative residual, a group index out of range, n = 0 are BML_ERR_VALUE or
 * BML_ERR_EMPTY with a message naming the argument and the index. Nothing is written to the outputs on error.
 * Arrays are borrowed; outputs are caller-allocated unless said otherwise. */
#ifndef BATTERYML_UNCERTAINTY_H
#define BATTERYML_UNCERTAINTY_H

#include "batteryml/export.h"

#include <stddef.h>
#include <stdint.h>

#include "batteryml/model.h"
#include "batteryml/pipeline.h"
#include "batteryml/status.h"
#include "batteryml/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Interval methods, as named in configurations (uncertainty.method). */
typedef enum {
    BML_CONFORMAL_NONE = 0,
    BML_CONFORMAL_SPLIT = 1,  /* "split": residuals of calibration units the model never saw */
    BML_CONFORMAL_CV_PLUS = 2 /* "cv_plus": K leave-group-out models; "jackknife_plus" is one group per cell */
} bml_conformal_method;
/* "none", "split", "cv_plus" or "jackknife_plus" (the last two both give BML_CONFORMAL_CV_PLUS; *one_per_group
 * is set to 1 for "jackknife_plus", else 0; it may be NULL). Anything else: BML_ERR_VALUE naming the choices. */
BML_API bml_status bml_conformal_method_parse(const char *name, bml_conformal_method *out, int *one_per_group);

/* The ranks above for n values: *ku in 1..n+1 (n+1: +infinity), *kl in 0..n (0: -infinity). Either pointer
 * may be NULL. BML_ERR_VALUE for alpha outside (0, 1); n = 0 is allowed here (ku = 1 > n: infinite). */
BML_API bml_status bml_conformal_ranks(size_t n, double alpha, size_t *ku, size_t *kl);
/* The smallest n for which the interval is finite (ku <= n): ceil(1/alpha) - 1 up to the rounding rule above
 * (alpha 0.1: 9; 0.05: 19). 0 for alpha outside (0, 1). */
BML_API size_t bml_conformal_min_n(double alpha);

/* Split conformal. From n >= 1 absolute calibration residuals (each finite and >= 0): *q = the ku-th smallest,
 * +INFINITY when ku > n. BML_ERR_EMPTY for n = 0. */
BML_API bml_status bml_conformal_quantile(const double *residuals, size_t n, double alpha, double *q);
/* lower[j] = pred[j] - q, upper[j] = pred[j] + q for j < m, with q from bml_conformal_quantile (written to *q
 * when q is not NULL). pred must be finite. */
BML_API bml_status bml_conformal_split(const double *residuals, size_t n, const double *pred, size_t m, double alpha,
                                       double *lower, double *upper, double *q);

/* CV+ from precomputed pieces, one target. n training points, K groups:
 *   group[i] in 0..K-1   the group of point i (every group should hold a point; an empty one is harmless)
 *   residual[i]          |y_i - mu_{-group[i]}(x_i)|, finite, >= 0
 *   group_pred[k*m + j]  mu_{-k}(x_j), the prediction of the model fitted without group k at test point j
 *                        ((K, m) row-major; finite)
 * Writes lower[j], upper[j] (j < m) by the formula above. Jackknife+: K = n, group[i] = i. */
BML_API bml_status bml_conformal_cv_plus(const size_t *group, const double *residual, size_t n, const double *group_pred,
                                         size_t K, size_t m, double alpha, double *lower, double *upper);

/* Coverage and width of intervals against truths: over the j < n with a finite y[j] (NaN = unknown, skipped),
 * *coverage = the fraction with lower[j] <= y[j] <= upper[j], *mean_width = the mean of upper[j] - lower[j]
 * (+INFINITY when an interval is infinite), *n_used = how many counted (any output pointer may be NULL).
 * With no finite y both are NaN and *n_used 0 (BML_OK). A NaN bound, or lower > upper, is BML_ERR_VALUE. */
BML_API bml_status bml_interval_coverage(const double *y, const double *lower, const double *upper, size_t n,
                                         double *coverage, double *mean_width, size_t *n_used);

/* ---- CV+ fitted through the model API ----
 * bml_cvplus_fit fits the K leave-group-out models of the named model (bml_model_create(name, params) and
 * bml_model_fit, the same parameters and seed for each) on static samples `train` (seq_len 0), the groups
 * being its cells (bml_sample_cell_key), so that no row of a held-out cell reaches the model that predicts it.
 * The paper's guarantee is for one point per exchangeable unit (one row per cell: cycle life); with several rows
 * per cell (state of health) every row counts as a point and cells weigh by their row counts, so the coverage
 * is then an approximation, not a proven bound. With
 * max_groups = 0 or >= the number of cells every cell is its own group (jackknife+ over cells); otherwise the
 * cells, in order of first appearance, are dealt into max_groups contiguous groups of sizes differing by at
 * most one (as an unshuffled KFold over cells). At least 2 groups are needed (BML_ERR_VALUE otherwise).
 * Each model is fitted on the rows of the other groups with no validation set (nothing of the held-out group
 * reaches its fit, early stopping included) and with the runner's preprocessing refitted on those rows: NaN
 * features imputed with the rows' means when the model does not handle missing values, then standardised
 * (bml_scaler_fit) when it wants scaled features. Every target must be finite (leave out rows without a
 * target first). The samples are borrowed; they may be freed after the call. Caller owns *out
 * (bml_cvplus_free). `cancel` (may be NULL) is passed to each model (bml_model_set_cancel). */
typedef struct bml_cvplus bml_cvplus; /* opaque */
BML_API bml_status bml_cvplus_fit(const char *model_name, const bml_kv *params, size_t n_params, const bml_samples *train,
                                  uint64_t seed, size_t max_groups, const int *cancel, bml_cvplus **out);
BML_API void bml_cvplus_free(bml_cvplus *cv); /* NULL is harmless */
BML_API size_t bml_cvplus_n_groups(const bml_cvplus *cv);
BML_API size_t bml_cvplus_n_train(const bml_cvplus *cv);
BML_API size_t bml_cvplus_n_targets(const bml_cvplus *cv);
/* Borrowed views, valid until bml_cvplus_free: the group of each training row (n_train), and the out-of-group
 * prediction mu_{-k(i)}(x_i) and residual |y_i - mu_{-k(i)}(x_i)| of each (n_train, O) row-major. */
BML_API const size_t *bml_cvplus_groups(const bml_cvplus *cv);
BML_API const double *bml_cvplus_oof_predictions(const bml_cvplus *cv);
BML_API const double *bml_cvplus_residuals(const bml_cvplus *cv);
/* The group model k (borrowed; it takes inputs preprocessed as described above, not raw features). */
BML_API const bml_model *bml_cvplus_model(const bml_cvplus *cv, size_t k);
/* CV+ intervals at m raw feature rows x (m, F) row-major (NaN = missing, preprocessed per group as in the fit):
 * lower and upper (m, O) row-major. Each group model predicts every row once. */
BML_API bml_status bml_cvplus_interval(const bml_cvplus *cv, const double *x, size_t m, double alpha, double *lower,
                                       double *upper);
/* Save the fitted CV+ to directory `dir` (created; files of the same names replaced): everything
 * bml_cvplus_interval needs. dir/cvplus.json (sealed with its checksum, like model.json: the sizes, each training
 * row's group, out-of-group prediction and residual, each group's preprocessing, numbers written to read back
 * bit-identically) and the group models in dir/group_<k>/ (bml_model_save, k = 0..K-1). A loaded CV+ gives the same
 * intervals, bit for bit, as the one saved. bml_cvplus_load checks everything it reads (the checksum, every field's
 * type, size and range, each group model's sizes and that the preprocessing saved is the one it needs): an error
 * names the file and the field; BML_ERR_NOT_FOUND when dir/cvplus.json is missing. Caller owns *out
 * (bml_cvplus_free); NULL on error. */
BML_API bml_status bml_cvplus_save(const bml_cvplus *cv, const char *dir);
BML_API bml_status bml_cvplus_load(const char *dir, bml_cvplus **out);

#ifdef __cplusplus
}
#endif
#endif
