/* Linear least-squares fits of one target, computed as scikit-learn 1.2 computes them (models/linear.c
 * wraps them as the registry's linear models; tests/test_linear.c compares them with scikit-learn).
 * Internal to models/.
 *
 * Every fit takes X column-major (n, F): feature j is x[j * n .. j * n + n), and y (n). Nothing given is
 * changed. Each fit centres X and y with their means first (scikit-learn's fit_intercept=True) and returns
 * the coefficients `coef` (F) and `intercept` of the prediction intercept + sum_j coef_j x_j. Means follow
 * numpy's summation order for the layout scikit-learn sees (a C-ordered X: row by row; a column or a 1-d y:
 * numpy's pairwise sum), so that the sums agree with numpy's to the last bit in most cases and the
 * iterative fits take the same number of iterations.
 *
 * Errors: BML_ERR_VALUE for parameters a fit cannot take with these data (more folds than rows, more
 * components than features), BML_ERR_BACKEND when LAPACK fails, BML_ERR_CANCELLED when *cancel became
 * non-zero (checked once per coordinate-descent sweep), BML_ERR_NOMEM. `what` starts every message. */
#ifndef BML_MODELS_LINEAR_FIT_H
#define BML_MODELS_LINEAR_FIT_H

#include <stddef.h>

#include "core/internal.h"

/* numpy's pairwise sum of a[0], a[stride], ... a[(n - 1) * stride] (np.sum of a contiguous run) */
double bml__lin_pairwise_sum(const double *a, size_t n, size_t stride);

/* Ordinary least squares: LAPACK dgelsd (scipy.linalg.lstsq) on the centred data, singular values below
 * rcond * the largest treated as zero (the minimum-norm solution); rcond < 0: machine epsilon times
 * max(n, F), numpy.linalg.lstsq's default (scipy and LinearRegression use machine epsilon alone).
 * *rank: the effective rank. */
bml_status bml__lin_ols(const char *what, const double *x, size_t n, size_t F, const double *y, double rcond, double *coef,
                        double *intercept, int *rank);

/* Ridge, minimising ||y - X w||^2 + alpha ||w||^2 (Ridge(solver="auto") on dense data: Cholesky, LAPACK
 * dposv, of X^T X + alpha I, or of the kernel X X^T + alpha I when F > n; where the matrix is not positive
 * definite, the SVD solution (primal) or least squares on the kernel, as scikit-learn falls back).
 * *solver: "cholesky", "cholesky_kernel", "svd" or "lstsq_kernel". */
bml_status bml__lin_ridge(const char *what, const double *x, size_t n, size_t F, const double *y, double alpha, double *coef,
                          double *intercept, const char **solver);

/* Coordinate descent of the elastic net,
 *     1 / (2 n) ||y - X w||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio) / 2 ||w||^2,
 * as scikit-learn's enet_coordinate_descent (cyclic, precompute=False): sweeps over the features in order;
 * after a sweep whose largest coefficient change is below tol times the largest coefficient (or the last
 * sweep), the duality gap is computed and the descent stops once it is below tol * ||y||^2. */
typedef struct {
    long max_iter;
    double tol;
    const int *cancel; /* NULL: none */
    /* bml__lin_enet_cv's paths: threads (0: the thread budget, else every core) and paths interleaved on each
     * thread (0: BML__CD_MAX_LANES); the numbers do not depend on either */
    int threads;
    size_t lanes;
} bml__cd_opts;
#define BML__CD_MAX_LANES 8

typedef struct {
    long n_iter;     /* sweeps run (scikit-learn's n_iter_) */
    double dual_gap; /* the last duality gap / n (dual_gap_) */
    int converged;   /* the gap went below the tolerance */
} bml__cd_result;

/* ElasticNet(alpha, l1_ratio, max_iter, tol) (Lasso: l1_ratio = 1), coefficients from zero. */
bml_status bml__lin_enet(const char *what, const double *x, size_t n, size_t F, const double *y, double alpha,
                         double l1_ratio, const bml__cd_opts *o, double *coef, double *intercept, bml__cd_result *res);

/* ElasticNetCV(l1_ratio=l1_ratios, n_alphas, eps, cv=KFold(n_folds), max_iter, tol): for each l1_ratio the
 * grid of n_alphas alphas from alpha_max = max_j |X_j^T y| / (n l1_ratio) (centred data) down to
 * eps * alpha_max, evenly spaced in log; on each of the n_folds contiguous folds (KFold without shuffling:
 * the first n % n_folds folds one row larger) the path over the grid with warm starts (the Gram matrix
 * X^T X when the fold's training rows outnumber the features, as precompute="auto"), scored by the mean
 * squared error of the held-out rows; the (l1_ratio, alpha) of the lowest mean over the folds (the first
 * on a tie) is refitted on every row (precompute=False). */
typedef struct {
    size_t n_l1, n_alphas, n_folds;
    double *l1_ratios; /* (n_l1) */
    double *alphas;    /* (n_l1, n_alphas) row-major, descending */
    double *mse;       /* (n_l1, n_folds, n_alphas): held-out mean squared error of each fold */
    double *mse_mean;  /* (n_l1, n_alphas): the mean over the folds */
    size_t best_l1, best_alpha;
    double alpha, l1_ratio; /* the chosen pair */
    bml__cd_result refit;
} bml__enet_cv;
bml_status bml__lin_enet_cv(const char *what, const double *x, size_t n, size_t F, const double *y, const double *l1_ratios,
                            size_t n_l1, size_t n_alphas, double eps, size_t n_folds, const bml__cd_opts *o, double *coef,
                            double *intercept, bml__enet_cv *cv);
void bml__enet_cv_release(bml__enet_cv *cv); /* frees the arrays; NULL-safe, the struct itself is the caller's */

/* PLS regression of one target (PLSRegression(n_components, scale), NIPALS, deflation "regression"): X and
 * y centred and, with scale, divided by their standard deviations (n - 1; 1 where 0); per component the
 * weights X^T y / |X^T y| (sign: the largest |weight| positive), scores, loadings, deflation;
 * coef_scaled = W (P^T W)^+ q^T * y_std on the scaled inputs. Where the target's residual vanishes
 * (every |value| < 10 eps) the remaining components stay zero (scikit-learn warns and stops). */
typedef struct {
    size_t n, F, k;
    double *x_mean, *x_std;              /* (F) */
    double y_mean, y_std;
    double *x_weights, *x_loadings;      /* (F, k) column-major */
    double *x_rotations;                 /* (F, k) column-major: W (P^T W)^+ */
    double *x_scores;                    /* (n, k) column-major */
    double *y_weights, *y_loadings;      /* (k) */
    double *coef_scaled;                 /* (F): scikit-learn's _coef_ */
    size_t n_fitted;                     /* components before the residual vanished */
} bml__pls;
bml_status bml__lin_pls(const char *what, const double *x, size_t n, size_t F, const double *y, size_t k, int scale,
                        double *coef, double *intercept, bml__pls *out);
void bml__pls_release(bml__pls *p);

/* Principal component regression: make_pipeline(StandardScaler(), PCA(k, svd_solver="full"),
 * LinearRegression()): features standardised (population std; 1 for a constant feature), the
 * components from the SVD of the centred standardised data (LAPACK dgesdd, signs as svd_flip), least
 * squares of y on the k scores U S (dgelsd, rcond as bml__lin_ols with rcond < 0). */
typedef struct {
    size_t n, F, k;
    double *scaler_mean, *scaler_scale; /* (F) */
    double *pca_mean;                   /* (F) */
    double *components;                 /* (k, F) row-major: component c at components + c * F */
    double *singular_values;            /* (k) */
    double *explained_variance_ratio;   /* (k) */
    double *scores;                     /* (n, k) column-major: U S */
    double *lr_coef;                    /* (k) */
    double lr_intercept;
} bml__pcr;
bml_status bml__lin_pcr(const char *what, const double *x, size_t n, size_t F, const double *y, size_t k, double *coef,
                        double *intercept, bml__pcr *out);
void bml__pcr_release(bml__pcr *p);

#endif
