/* Linear least-squares fits of one target as scikit-learn 1.2 computes them (models/linear_fit.h).
 *
 * The algorithms follow scikit-learn's documented behaviour and source (linear_model/_cd_fast.pyx,
 * _coordinate_descent.py, _ridge.py, _base.py, cross_decomposition/_pls.py, decomposition/_pca.py,
 * preprocessing/_data.py): the same operations in the same order, written here from scratch. Dense linear
 * algebra (least squares, Cholesky, SVD) is LAPACK's, through the Fortran symbols of OpenBLAS (the
 * library scipy uses on Debian), with the workspace sizes LAPACK itself asks for, as scipy passes them. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/parallel.h"
#include "models/linear_fit.h"
#include "models/model_internal.h"

/* LAPACK (Fortran interface of OpenBLAS; each character argument has a hidden length after the others) */
extern void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
                    double *s, const double *rcond, int *rank, double *work, const int *lwork, int *iwork, int *info);
extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
                   int *info, size_t uplo_len);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
                    const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info,
                    size_t jobz_len);

#define EPS DBL_EPSILON

static bml_status nomem(void) { return bml__fail(BML_ERR_NOMEM, "out of memory"); }

static bml_status check_dims(const char *what, size_t n, size_t F) {
    if (n > (size_t)INT_MAX || F > (size_t)INT_MAX || (F && n > SIZE_MAX / sizeof(double) / F))
        return bml__fail(BML_ERR_VALUE, "%s: %zu rows of %zu features are more than LAPACK can take", what, n, F);
    return BML_OK;
}

/* ------------------------------------------------------------------ sums in numpy's orders */

double bml__lin_pairwise_sum(const double *a, size_t n, size_t stride) {
    if (n < 8) {
        double r = 0.;
        for (size_t i = 0; i < n; i++) r += a[i * stride];
        return r;
    }
    if (n <= 128) { /* eight running sums, combined as a tree, then the tail */
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[(size_t)j * stride];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (size_t j = 0; j < 8; j++) r[j] += a[(i + j) * stride];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i * stride];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return bml__lin_pairwise_sum(a, n2, stride) + bml__lin_pairwise_sum(a + n2 * stride, n - n2, stride);
}

/* sum of column j of column-major x (n, .): numpy's order for a C-ordered array (row after row) or, with
 * pairwise, for a contiguous column (an F-ordered array, a 1-d vector) */
static double col_sum(const double *col, size_t n, int pairwise) {
    if (pairwise) return bml__lin_pairwise_sum(col, n, 1);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += col[i];
    return s;
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* xc (n, F) = x minus its column means (mean: F, may be NULL); yc = y minus its mean (pairwise, a 1-d
 * vector); *y_mean. The caller frees xc and yc. */
static bml_status centre(const double *x, size_t n, size_t F, const double *y, int pairwise_x, double **xc, double *x_mean,
                         double **yc, double *y_mean) {
    *xc = bml__calloc(n * F > 0 ? n * F : 1, sizeof **xc);
    *yc = bml__calloc(n ? n : 1, sizeof **yc);
    if (!*xc || !*yc) return nomem();
    for (size_t j = 0; j < F; j++) {
        const double *c = x + j * n;
        double m = col_sum(c, n, pairwise_x) / (double)n;
        if (x_mean) x_mean[j] = m;
        for (size_t i = 0; i < n; i++) (*xc)[j * n + i] = c[i] - m;
    }
    *y_mean = bml__lin_pairwise_sum(y, n, 1) / (double)n;
    for (size_t i = 0; i < n; i++) (*yc)[i] = y[i] - *y_mean;
    return BML_OK;
}

/* intercept of the centred fit: y_mean - x_mean . coef */
static double intercept_of(const double *x_mean, const double *coef, size_t F, double y_mean) {
    return y_mean - dot(x_mean, coef, F);
}

/* ------------------------------------------------------------------ LAPACK */

/* Minimum-norm least squares (dgelsd): a (m, n) column-major is destroyed; b (max(m, n)) holds y in its
 * first m entries and the solution in its first n. rcond < 0: eps * max(m, n). */
static bml_status lstsq(const char *what, double *a, int m, int n, double *b, double rcond, int *rank) {
    int nrhs = 1, lda = m > 1 ? m : 1, ldb = m > n ? m : n, info = 0, lwork = -1, iwq = 0, mn = m < n ? m : n;
    if (ldb < 1) ldb = 1;
    if (rcond < 0) rcond = EPS * (double)(m > n ? m : n);
    double wq = 0, *s = bml__calloc(mn ? (size_t)mn : 1, sizeof *s);
    if (!s) return nomem();
    dgelsd_(&m, &n, &nrhs, a, &lda, b, &ldb, s, &rcond, rank, &wq, &lwork, &iwq, &info);
    lwork = (int)wq;
    if (lwork < 1) lwork = 1;
    double *work = info == 0 ? bml__calloc((size_t)lwork, sizeof *work) : NULL;
    int *iwork = info == 0 ? bml__calloc(iwq > 0 ? (size_t)iwq : 1, sizeof *iwork) : NULL;
    bml_status st = BML_OK;
    if (info != 0) st = bml__fail(BML_ERR_BACKEND, "%s: LAPACK dgelsd workspace query failed (info %d)", what, info);
    else if (!work || !iwork) st = nomem();
    else {
        dgelsd_(&m, &n, &nrhs, a, &lda, b, &ldb, s, &rcond, rank, work, &lwork, iwork, &info);
        if (info != 0)
            st = bml__fail(BML_ERR_BACKEND, "%s: least squares failed (LAPACK dgelsd: %s %d)", what,
                           info > 0 ? "the SVD did not converge, info" : "illegal argument", info);
    }
    free(s);
    free(work);
    free(iwork);
    return st;
}

/* Thin SVD (dgesdd, jobz "S") of a (m, n) column-major (destroyed): u (m, k), s (k), vt (k, n), k = min(m, n),
 * all column-major. */
static bml_status svd(const char *what, double *a, int m, int n, double *u, double *s, double *vt) {
    int k = m < n ? m : n, lda = m > 1 ? m : 1, ldu = lda, ldvt = k > 1 ? k : 1, lwork = -1, info = 0;
    double wq = 0;
    int *iwork = bml__calloc(8 * (size_t)(k ? k : 1), sizeof *iwork);
    if (!iwork) return nomem();
    dgesdd_("S", &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, &wq, &lwork, iwork, &info, 1);
    lwork = (int)wq;
    if (lwork < 1) lwork = 1;
    double *work = info == 0 ? bml__calloc((size_t)lwork, sizeof *work) : NULL;
    bml_status st = BML_OK;
    if (info != 0) st = bml__fail(BML_ERR_BACKEND, "%s: LAPACK dgesdd workspace query failed (info %d)", what, info);
    else if (!work) st = nomem();
    else {
        dgesdd_("S", &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, &info, 1);
        if (info != 0)
            st = bml__fail(BML_ERR_BACKEND, "%s: SVD failed (LAPACK dgesdd: %s %d)", what,
                           info > 0 ? "did not converge, info" : "illegal argument", info);
    }
    free(work);
    free(iwork);
    return st;
}

/* ------------------------------------------------------------------ ordinary least squares */

bml_status bml__lin_ols(const char *what, const double *x, size_t n, size_t F, const double *y, double rcond, double *coef,
                        double *intercept, int *rank) {
    BML__TRY(check_dims(what, n, F));
    double *xc = NULL, *yc = NULL, y_mean = 0, *x_mean = bml__calloc(F, sizeof *x_mean);
    size_t ldb = n > F ? n : F;
    double *b = bml__calloc(ldb ? ldb : 1, sizeof *b);
    bml_status st = x_mean && b ? centre(x, n, F, y, 0, &xc, x_mean, &yc, &y_mean) : nomem();
    if (st == BML_OK) {
        memcpy(b, yc, n * sizeof *b);
        st = lstsq(what, xc, (int)n, (int)F, b, rcond, rank);
    }
    if (st == BML_OK) {
        memcpy(coef, b, F * sizeof *coef);
        *intercept = intercept_of(x_mean, coef, F, y_mean);
    }
    free(xc);
    free(yc);
    free(x_mean);
    free(b);
    return st;
}

/* ------------------------------------------------------------------ ridge */

/* scikit-learn's _solve_svd: coef = V diag(s / (s^2 + alpha)) U^T y over the singular values > 1e-15 */
static bml_status ridge_svd(const char *what, const double *xc, size_t n, size_t F, const double *yc, double alpha, double *coef) {
    size_t k = n < F ? n : F;
    double *a = bml__calloc(n * F, sizeof *a), *u = bml__calloc(n * k, sizeof *u), *s = bml__calloc(k, sizeof *s);
    double *vt = bml__calloc(k * F, sizeof *vt), *d = bml__calloc(k, sizeof *d);
    bml_status st = a && u && s && vt && d ? BML_OK : nomem();
    if (st == BML_OK) {
        memcpy(a, xc, n * F * sizeof *a);
        st = svd(what, a, (int)n, (int)F, u, s, vt);
    }
    if (st == BML_OK) {
        for (size_t c = 0; c < k; c++) {
            double uty = dot(u + c * n, yc, n); /* (U^T y)_c */
            d[c] = s[c] > 1e-15 ? s[c] / (s[c] * s[c] + alpha) * uty : 0.0;
        }
        for (size_t j = 0; j < F; j++) {
            double v = 0;
            for (size_t c = 0; c < k; c++) v += vt[j * k + c] * d[c];
            coef[j] = v;
        }
    }
    free(a);
    free(u);
    free(s);
    free(vt);
    free(d);
    return st;
}

bml_status bml__lin_ridge(const char *what, const double *x, size_t n, size_t F, const double *y, double alpha, double *coef,
                          double *intercept, const char **solver) {
    BML__TRY(check_dims(what, n, F));
    double *xc = NULL, *yc = NULL, y_mean = 0, *x_mean = bml__calloc(F, sizeof *x_mean);
    bml_status st = x_mean ? centre(x, n, F, y, 0, &xc, x_mean, &yc, &y_mean) : nomem();
    int kernel = F > n; /* the dual problem (K + alpha I) d = y, K = X X^T, w = X^T d */
    size_t m = kernel ? n : F;
    double *A = NULL, *b = NULL;
    if (st == BML_OK) {
        A = bml__calloc(m * m, sizeof *A);
        b = bml__calloc(m ? m : 1, sizeof *b);
        if (!A || !b) st = nomem();
    }
    if (st == BML_OK) {
        if (kernel) {
            for (size_t i = 0; i < n; i++)
                for (size_t l = 0; l <= i; l++) {
                    double v = 0;
                    for (size_t j = 0; j < F; j++) v += xc[j * n + i] * xc[j * n + l];
                    A[i * n + l] = A[l * n + i] = v;
                }
            memcpy(b, yc, n * sizeof *b);
        } else {
            for (size_t j = 0; j < F; j++) {
                for (size_t l = 0; l <= j; l++) A[j * F + l] = A[l * F + j] = dot(xc + j * n, xc + l * n, n);
                b[j] = dot(xc + j * n, yc, n);
            }
        }
        for (size_t j = 0; j < m; j++) A[j * m + j] += alpha;
        int mi = (int)m, one = 1, info = 0;
        double *A2 = bml__calloc(m * m, sizeof *A2), *b2 = bml__calloc(m ? m : 1, sizeof *b2);
        if (!A2 || !b2) st = nomem();
        else {
            memcpy(A2, A, m * m * sizeof *A2);
            memcpy(b2, b, m * sizeof *b2);
            dposv_("U", &mi, &one, A2, &mi, b2, &mi, &info, 1);
            if (info < 0) st = bml__fail(BML_ERR_BACKEND, "%s: LAPACK dposv: illegal argument %d", what, -info);
        }
        if (st == BML_OK && info == 0) {
            *solver = kernel ? "cholesky_kernel" : "cholesky";
            if (kernel)
                for (size_t j = 0; j < F; j++) coef[j] = dot(xc + j * n, b2, n);
            else
                memcpy(coef, b2, F * sizeof *coef);
        } else if (st == BML_OK && kernel) { /* not positive definite: least squares on the kernel */
            *solver = "lstsq_kernel";
            int rank;
            memcpy(b2, b, n * sizeof *b2);
            st = lstsq(what, A, (int)n, (int)n, b2, EPS, &rank);
            for (size_t j = 0; st == BML_OK && j < F; j++) coef[j] = dot(xc + j * n, b2, n);
        } else if (st == BML_OK) {
            *solver = "svd";
            st = ridge_svd(what, xc, n, F, yc, alpha, coef);
        }
        free(A2);
        free(b2);
    }
    if (st == BML_OK) *intercept = intercept_of(x_mean, coef, F, y_mean);
    free(A);
    free(b);
    free(xc);
    free(yc);
    free(x_mean);
    return st;
}

/* ------------------------------------------------------------------ coordinate descent */

static double fsign(double f) { return f == 0 ? 0 : f > 0 ? 1.0 : -1.0; }
static double fmax_(double x, double y) { return x > y ? x : y; }
static double abs_max(const double *a, size_t n) {
    double m = fabs(a[0]);
    for (size_t i = 1; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}
static double asum(const double *a, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs(a[i]);
    return s;
}

static bml_status cancelled(const char *what, long it) {
    return bml__fail(BML_ERR_CANCELLED, "%s: fit cancelled at coordinate-descent sweep %ld", what, it + 1);
}

/* the duality gap's first term from ||R||^2 and ||X^T R - beta w||_inf: the dual point R scaled by *cst so that
 * ||X^T (cst R) - beta w||_inf <= alpha (enet_coordinate_descent and its Gram form alike) */
static double gap_primal(double R_norm2, double dual_norm_XtA, double alpha, double *cst) {
    if (dual_norm_XtA > alpha) {
        *cst = alpha / dual_norm_XtA;
        return 0.5 * (R_norm2 + R_norm2 * (*cst * *cst));
    }
    *cst = 1.0;
    return R_norm2;
}

/* Minimise 1/2 ||y - X w||^2 + alpha ||w||_1 + beta/2 ||w||^2 over w (F), starting from w; x (n, F)
 * column-major, centred. The residual R = y - X w is kept up to date. */
static bml_status cd_dense(const char *what, double *w, double alpha, double beta, const double *x, size_t n, size_t F,
                           const double *y, const bml__cd_opts *o, bml__cd_result *res) {
    double *norm_cols = bml__calloc(F, sizeof *norm_cols), *R = bml__calloc(n ? n : 1, sizeof *R);
    double *XtA = bml__calloc(F, sizeof *XtA), *sq = bml__calloc(n ? n : 1, sizeof *sq);
    if (!norm_cols || !R || !XtA || !sq) {
        free(norm_cols), free(R), free(XtA), free(sq);
        return nomem();
    }
    for (size_t j = 0; j < F; j++) { /* np.square(X).sum(axis=0) over an F-ordered X: pairwise */
        for (size_t i = 0; i < n; i++) sq[i] = x[j * n + i] * x[j * n + i];
        norm_cols[j] = bml__lin_pairwise_sum(sq, n, 1);
    }
    memcpy(R, y, n * sizeof *R);
    for (size_t j = 0; j < F; j++)
        if (w[j] != 0)
            for (size_t i = 0; i < n; i++) R[i] += -w[j] * x[j * n + i];
    double tol = o->tol, d_w_tol = tol, gap = tol + 1.0;
    tol *= dot(y, y, n);
    long it;
    int converged = 0;
    bml_status st = BML_OK;
    for (it = 0; it < o->max_iter; it++) {
        if (bml__model_cancelled(o->cancel)) {
            st = cancelled(what, it);
            break;
        }
        double w_max = 0.0, d_w_max = 0.0;
        for (size_t j = 0; j < F; j++) {
            if (norm_cols[j] == 0.0) continue;
            const double *xj = x + j * n;
            double w_j = w[j];
            if (w_j != 0.0)
                for (size_t i = 0; i < n; i++) R[i] += w_j * xj[i];
            double tmp = dot(xj, R, n);
            w[j] = fsign(tmp) * fmax_(fabs(tmp) - alpha, 0) / (norm_cols[j] + beta);
            if (w[j] != 0.0)
                for (size_t i = 0; i < n; i++) R[i] += -w[j] * xj[i];
            d_w_max = fmax_(d_w_max, fabs(w[j] - w_j));
            w_max = fmax_(w_max, fabs(w[j]));
        }
        if (w_max == 0.0 || d_w_max / w_max < d_w_tol || it == o->max_iter - 1) {
            /* the duality gap: XtA = X^T R - beta w, dual point R scaled to make ||XtA||_inf <= alpha */
            for (size_t j = 0; j < F; j++) XtA[j] = dot(x + j * n, R, n) - beta * w[j];
            double R_norm2 = dot(R, R, n), w_norm2 = dot(w, w, F), cst;
            gap = gap_primal(R_norm2, abs_max(XtA, F), alpha, &cst);
            gap += alpha * asum(w, F) - cst * dot(R, y, n) + 0.5 * beta * (1 + cst * cst) * w_norm2;
            if (gap < tol) {
                converged = 1;
                break;
            }
        }
    }
    if (it == o->max_iter) it = o->max_iter - 1; /* as a for loop over range(max_iter) leaves its variable */
    res->n_iter = it + 1;
    res->dual_gap = gap / (double)n;
    res->converged = converged;
    free(norm_cols);
    free(R);
    free(XtA);
    free(sq);
    return st;
}

bml_status bml__lin_enet(const char *what, const double *x, size_t n, size_t F, const double *y, double alpha,
                         double l1_ratio, const bml__cd_opts *o, double *coef, double *intercept, bml__cd_result *res) {
    BML__TRY(check_dims(what, n, F));
    /* ElasticNet.fit copies X in Fortran order: its column means are pairwise sums */
    double *xc = NULL, *yc = NULL, y_mean = 0, *x_mean = bml__calloc(F, sizeof *x_mean);
    bml_status st = x_mean ? centre(x, n, F, y, 1, &xc, x_mean, &yc, &y_mean) : nomem();
    if (st == BML_OK) {
        memset(coef, 0, F * sizeof *coef);
        double l1_reg = alpha * l1_ratio * (double)n, l2_reg = alpha * (1.0 - l1_ratio) * (double)n;
        st = cd_dense(what, coef, l1_reg, l2_reg, xc, n, F, yc, o, res);
    }
    if (st == BML_OK) *intercept = intercept_of(x_mean, coef, F, y_mean);
    free(xc);
    free(yc);
    free(x_mean);
    return st;
}

/* ------------------------------------------------------------------ elastic net with cross-validation */

/* _alpha_grid: alphas (n_alphas) descending from alpha_max = max_j |Xc_j . yc| / (n l1_ratio) */
static void alpha_grid(const double *xc, const double *yc, size_t n, size_t F, double l1_ratio, double eps, size_t n_alphas,
                       double *alphas) {
    double amax = 0;
    for (size_t j = 0; j < F; j++) {
        double xy = dot(xc + j * n, yc, n), v = sqrt(xy * xy);
        if (j == 0 || v > amax) amax = v;
    }
    amax /= (double)n * l1_ratio;
    if (amax <= 1e-15) { /* np.finfo(float).resolution */
        for (size_t a = 0; a < n_alphas; a++) alphas[a] = 1e-15;
        return;
    }
    /* np.logspace(log10(amax * eps), log10(amax), n_alphas)[::-1], linspace as numpy computes it */
    double start = log10(amax * eps), stop = log10(amax);
    if (n_alphas == 1) {
        alphas[0] = pow(10.0, start);
        return;
    }
    double step = (stop - start) / (double)(n_alphas - 1);
    for (size_t i = 0; i < n_alphas; i++) {
        double e = i + 1 == n_alphas ? stop : (double)i * step + start;
        alphas[n_alphas - 1 - i] = pow(10.0, e);
    }
}

void bml__enet_cv_release(bml__enet_cv *cv) {
    if (!cv) return;
    free(cv->l1_ratios);
    free(cv->alphas);
    free(cv->mse);
    free(cv->mse_mean);
    cv->l1_ratios = cv->alphas = cv->mse = cv->mse_mean = NULL;
}

/* ---- ElasticNetCV's paths. Each (l1_ratio, fold) pair is a path: the alphas in descending order with warm
 * starts, each alpha's coordinate descent on the fold's training rows, scored on its held-out rows. With the
 * Gram matrix (the training rows outnumber the features, precompute="auto"), a descent is
 * enet_coordinate_descent_gram: Q = X^T X (F, F), q = X^T y (F), H = Q w kept up to date. A sweep is one
 * long chain of dependent operations (each coordinate's update needs the last one's), so a thread runs
 * several paths at once, lanes interleaved coordinate by coordinate: each lane's operations are those of
 * its path alone, in the same order, so the numbers are those of one path at a time, bit for bit, at any
 * number of lanes and threads. The threads take the paths from a shared counter. */
typedef struct {
    size_t t0, t1, nt;   /* held-out rows [t0, t1), nt training rows */
    double l1_ratio;
    const double *alphas; /* (n_alphas) */
    double *mse;         /* (n_alphas), out */
    double *xc, *yc, *x_mean, *Q, *q; /* the training rows centred (nt, F), yc (nt), means; Q, q when gram */
    double y_mean, y_norm2;
    int gram;
} cv_path;

typedef struct {
    cv_path *p;
    double *w, *H;      /* (F) each */
    size_t a;           /* the alpha being fitted */
    long it;            /* its sweep */
    double l1, l2, tol; /* its penalties, tol * ||y||^2 */
    double w_max, d_w_max;
} cd_lane;

typedef struct {
    const char *what;
    const double *x, *y; /* every row: x (n, F) column-major */
    size_t n, F, n_alphas, n_paths, lanes;
    cv_path *paths;
    const bml__cd_opts *o;
    double *work;        /* (threads, lanes * 2F + F) */
    size_t next;         /* the next path to take (atomic) */
    int stop;            /* a lane was cancelled (atomic) */
    long stop_it;        /* its sweep */
    bml_status dense_st; /* a non-Gram path's failure (cancellation or memory), set once under stop */
    char *dense_msg;
} cv_run;

/* the coordinate j of one descent on (Q, q): w_j's soft-thresholded update, H changed with it */
static inline void gram_coord(const double *Q, const double *q, double *w, double *H, size_t F, size_t j, double alpha,
                              double beta, double *w_max, double *d_w_max) {
    const double *Qj = Q + j * F;
    if (Qj[j] == 0.0) return;
    double w_j = w[j];
    if (w_j != 0.0)
        for (size_t l = 0; l < F; l++) H[l] += -w_j * Qj[l];
    double tmp = q[j] - H[j];
    w[j] = fsign(tmp) * fmax_(fabs(tmp) - alpha, 0) / (Qj[j] + beta);
    if (w[j] != 0.0)
        for (size_t l = 0; l < F; l++) H[l] += w[j] * Qj[l];
    double d = fabs(w[j] - w_j);
    if (d > *d_w_max) *d_w_max = d;
    if (fabs(w[j]) > *w_max) *w_max = fabs(w[j]);
}

/* the duality gap of w on (Q, q), H = Q w; XtA (F) scratch */
static double gram_gap(const double *q, const double *H, const double *w, size_t F, double alpha, double beta,
                       double y_norm2, double *XtA) {
    double q_dot_w = dot(w, q, F), wH = 0, cst, gap;
    for (size_t j = 0; j < F; j++) XtA[j] = q[j] - H[j] - beta * w[j];
    double dual_norm_XtA = abs_max(XtA, F);
    for (size_t j = 0; j < F; j++) wH += w[j] * H[j];
    double R_norm2 = y_norm2 + wH - 2.0 * q_dot_w, w_norm2 = dot(w, w, F);
    gap = gap_primal(R_norm2, dual_norm_XtA, alpha, &cst);
    return gap + alpha * asum(w, F) - cst * y_norm2 + cst * q_dot_w + 0.5 * beta * (1 + cst * cst) * w_norm2;
}

/* the held-out rows' mean squared error of the path's fit w: residues X_test w - y_test + (y_mean - x_mean . w) */
static double held_out_mse(const cv_run *r, const cv_path *p, const double *w) {
    size_t n = r->n, F = r->F;
    double icpt = p->y_mean - dot(p->x_mean, w, F), ss = 0;
    for (size_t i = p->t0; i < p->t1; i++) {
        double v = 0;
        for (size_t j = 0; j < F; j++) v += r->x[j * n + i] * w[j];
        double r2 = v - r->y[i] + icpt;
        ss += r2 * r2;
    }
    return ss / (double)(p->t1 - p->t0);
}

/* the lane's next alpha: penalties, H from the warm start w */
static void lane_begin(const cv_run *r, cd_lane *ln) {
    const cv_path *p = ln->p;
    size_t F = r->F;
    ln->l1 = p->alphas[ln->a] * p->l1_ratio * (double)p->nt;
    ln->l2 = p->alphas[ln->a] * (1.0 - p->l1_ratio) * (double)p->nt;
    for (size_t i = 0; i < F; i++) ln->H[i] = dot(p->Q + i * F, ln->w, F);
    ln->tol = r->o->tol * p->y_norm2;
    ln->it = 0;
}

/* a path without the Gram matrix (no more training rows than features): cd_dense alpha after alpha */
static bml_status dense_path(cv_run *r, cv_path *p, double *w) {
    memset(w, 0, r->F * sizeof *w);
    for (size_t a = 0; a < r->n_alphas; a++) {
        bml__cd_result res;
        double l1 = p->alphas[a] * p->l1_ratio * (double)p->nt, l2 = p->alphas[a] * (1.0 - p->l1_ratio) * (double)p->nt;
        BML__TRY(cd_dense(r->what, w, l1, l2, p->xc, p->nt, r->F, p->yc, r->o, &res));
        p->mse[a] = held_out_mse(r, p, w);
    }
    return BML_OK;
}

/* the next Gram path into ln (running the non-Gram ones met on the way); 0 when none is left */
static int lane_take(cv_run *r, cd_lane *ln) {
    for (;;) {
        if (__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) return 0;
        size_t i = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED);
        if (i >= r->n_paths) return 0;
        cv_path *p = &r->paths[i];
        if (p->gram) {
            ln->p = p, ln->a = 0;
            memset(ln->w, 0, r->F * sizeof *ln->w);
            lane_begin(r, ln);
            return 1;
        }
        bml_status st = dense_path(r, p, ln->w);
        if (st != BML_OK) { /* the message is this thread's: kept for the caller */
            if (!__atomic_exchange_n(&r->stop, 1, __ATOMIC_ACQ_REL)) {
                r->dense_st = st;
                r->dense_msg = bml__strdup(bml_last_error());
            }
            return 0;
        }
    }
}

static void cv_task(void *ctx, size_t t) {
    cv_run *r = ctx;
    size_t F = r->F, L = r->lanes, m = 0;
    double *ws = r->work + t * (L * 2 * F + F), *XtA = ws + L * 2 * F;
    cd_lane lane[BML__CD_MAX_LANES];
    for (size_t k = 0; k < L; k++) lane[k].w = ws + k * 2 * F, lane[k].H = ws + k * 2 * F + F;
    while (m < L && lane_take(r, &lane[m])) m++;
    const long max_iter = r->o->max_iter;
    const double d_w_tol = r->o->tol;
    while (m > 0) {
        if (bml__model_cancelled(r->o->cancel) || __atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
            if (!__atomic_exchange_n(&r->stop, 1, __ATOMIC_ACQ_REL)) r->stop_it = lane[0].it;
            return;
        }
        for (size_t k = 0; k < m; k++) lane[k].w_max = lane[k].d_w_max = 0.0;
        for (size_t j = 0; j < F; j++)
            for (size_t k = 0; k < m; k++) {
                cd_lane *ln = &lane[k];
                gram_coord(ln->p->Q, ln->p->q, ln->w, ln->H, F, j, ln->l1, ln->l2, &ln->w_max, &ln->d_w_max);
            }
        for (size_t k = 0; k < m; k++) {
            cd_lane *ln = &lane[k];
            int done = 0;
            if (ln->w_max == 0.0 || ln->d_w_max / ln->w_max < d_w_tol || ln->it == max_iter - 1)
                done = gram_gap(ln->p->q, ln->H, ln->w, F, ln->l1, ln->l2, ln->p->y_norm2, XtA) < ln->tol;
            if (!done && ++ln->it == max_iter) done = 1;
            if (!done) continue;
            ln->p->mse[ln->a] = held_out_mse(r, ln->p, ln->w);
            if (++ln->a < r->n_alphas) {
                lane_begin(r, ln);
            } else if (!lane_take(r, ln)) { /* the lane is free: the last one takes its place */
                m--;
                cd_lane tmp = lane[k];
                lane[k] = lane[m], lane[m] = tmp;
                k--;
            }
        }
    }
}

/* The fold's training rows (all but [t0, t1)) centred, and its Gram matrix when it has more rows than features */
static bml_status path_prepare(const double *x, size_t n, size_t F, const double *y, cv_path *p) {
    size_t nt = p->nt = n - (p->t1 - p->t0);
    double *xt = bml__calloc(nt * F > 0 ? nt * F : 1, sizeof *xt), *yt = bml__calloc(nt ? nt : 1, sizeof *yt);
    p->x_mean = bml__calloc(F ? F : 1, sizeof *p->x_mean);
    bml_status st = xt && yt && p->x_mean ? BML_OK : nomem();
    if (st == BML_OK) { /* X[train]: a C-ordered copy of the rows outside [t0, t1) */
        for (size_t j = 0; j < F; j++) {
            size_t r = 0;
            for (size_t i = 0; i < n; i++)
                if (i < p->t0 || i >= p->t1) xt[j * nt + r++] = x[j * n + i];
        }
        size_t r = 0;
        for (size_t i = 0; i < n; i++)
            if (i < p->t0 || i >= p->t1) yt[r++] = y[i];
        st = centre(xt, nt, F, yt, 0, &p->xc, p->x_mean, &p->yc, &p->y_mean);
    }
    p->gram = nt > F; /* precompute="auto" */
    if (st == BML_OK && p->gram) {
        p->Q = bml__calloc(F * F, sizeof *p->Q);
        p->q = bml__calloc(F, sizeof *p->q);
        if (!p->Q || !p->q) st = nomem();
        for (size_t j = 0; st == BML_OK && j < F; j++) {
            for (size_t l = 0; l <= j; l++) p->Q[j * F + l] = p->Q[l * F + j] = dot(p->xc + j * nt, p->xc + l * nt, nt);
            p->q[j] = dot(p->xc + j * nt, p->yc, nt);
        }
        p->y_norm2 = dot(p->yc, p->yc, nt);
    }
    free(xt);
    free(yt);
    return st;
}

static void path_release(cv_path *p) {
    free(p->xc), free(p->yc), free(p->x_mean), free(p->Q), free(p->q);
}

/* every (l1_ratio, fold) path of the cross-validation into cv->mse */
static bml_status cv_paths(const char *what, const double *x, size_t n, size_t F, const double *y, const bml__cd_opts *o,
                           bml__enet_cv *cv) {
    size_t n_paths = cv->n_l1 * cv->n_folds;
    cv_path *paths = bml__calloc(n_paths, sizeof *paths);
    if (!paths) return nomem();
    bml_status st = BML_OK;
    for (size_t l = 0; l < cv->n_l1; l++) { /* KFold(n_folds): contiguous folds, the first n % n_folds one row larger */
        size_t t0 = 0;
        for (size_t f = 0; f < cv->n_folds; f++) {
            cv_path *p = &paths[l * cv->n_folds + f];
            size_t size = n / cv->n_folds + (f < n % cv->n_folds ? 1 : 0);
            p->t0 = t0, p->t1 = t0 + size, t0 += size;
            p->l1_ratio = cv->l1_ratios[l];
            p->alphas = cv->alphas + l * cv->n_alphas;
            p->mse = cv->mse + (l * cv->n_folds + f) * cv->n_alphas;
            if (st == BML_OK) st = path_prepare(x, n, F, y, p);
        }
    }
    int threads = o->threads;
    if (threads <= 0) threads = bml__parallel_thread_budget();
    if (threads <= 0) threads = bml_parallel_cores();
    size_t lanes = o->lanes ? o->lanes : BML__CD_MAX_LANES;
    if (lanes > BML__CD_MAX_LANES) lanes = BML__CD_MAX_LANES;
    if ((size_t)threads > n_paths) threads = (int)n_paths;
    if (threads > 1 && n_paths / (size_t)threads < lanes) /* enough paths to fill each thread's lanes */
        lanes = n_paths / (size_t)threads ? n_paths / (size_t)threads : 1;
    cv_run r = {.what = what, .x = x, .y = y, .n = n, .F = F, .n_alphas = cv->n_alphas, .n_paths = n_paths, .lanes = lanes,
                .paths = paths, .o = o};
    if (st == BML_OK) {
        r.work = bml__calloc((size_t)threads * (lanes * 2 * F + F), sizeof *r.work);
        if (!r.work) st = nomem();
    }
    if (st == BML_OK) {
        bml__parallel_run((size_t)threads, threads, cv_task, &r, NULL);
        if (r.dense_st != BML_OK) st = bml__task_status(r.dense_st, r.dense_msg);
        else if (r.stop) st = cancelled(what, r.stop_it);
    }
    free(r.dense_msg);
    free(r.work);
    for (size_t i = 0; i < n_paths; i++) path_release(&paths[i]);
    free(paths);
    return st;
}

bml_status bml__lin_enet_cv(const char *what, const double *x, size_t n, size_t F, const double *y, const double *l1_ratios,
                            size_t n_l1, size_t n_alphas, double eps, size_t n_folds, const bml__cd_opts *o, double *coef,
                            double *intercept, bml__enet_cv *cv) {
    memset(cv, 0, sizeof *cv);
    BML__TRY(check_dims(what, n, F));
    if (n_folds < 2 || n_folds > n)
        return bml__fail(BML_ERR_VALUE, "%s: cv=%zu folds need at least %zu training rows (n_samples=%zu)", what, n_folds,
                         n_folds < 2 ? 2 : n_folds, n);
    if (n_l1 == 0 || n_alphas == 0) return bml__fail(BML_ERR_VALUE, "%s: no l1_ratio or no alphas to try", what);
    for (size_t l = 0; l < n_l1; l++)
        if (!(l1_ratios[l] > 0 && l1_ratios[l] <= 1))
            return bml__fail(BML_ERR_VALUE, "%s: l1_ratio %g is not in (0, 1] (the alpha grid needs an L1 part)", what, l1_ratios[l]);
    cv->n_l1 = n_l1;
    cv->n_alphas = n_alphas;
    cv->n_folds = n_folds;
    cv->l1_ratios = bml__calloc(n_l1, sizeof *cv->l1_ratios);
    cv->alphas = bml__calloc(n_l1 * n_alphas, sizeof *cv->alphas);
    cv->mse = bml__calloc(n_l1 * n_folds * n_alphas, sizeof *cv->mse);
    cv->mse_mean = bml__calloc(n_l1 * n_alphas, sizeof *cv->mse_mean);
    if (!cv->l1_ratios || !cv->alphas || !cv->mse || !cv->mse_mean) {
        bml__enet_cv_release(cv);
        return nomem();
    }
    memcpy(cv->l1_ratios, l1_ratios, n_l1 * sizeof *l1_ratios);
    /* the grids, on every row (X as given: C order, row-by-row means) */
    double *xc = NULL, *yc = NULL, y_mean = 0;
    bml_status st = centre(x, n, F, y, 0, &xc, NULL, &yc, &y_mean);
    for (size_t l = 0; st == BML_OK && l < n_l1; l++) alpha_grid(xc, yc, n, F, l1_ratios[l], eps, n_alphas, cv->alphas + l * n_alphas);
    free(xc);
    free(yc);
    if (st == BML_OK) st = cv_paths(what, x, n, F, y, o, cv);
    if (st != BML_OK) {
        bml__enet_cv_release(cv);
        return st;
    }
    double best = INFINITY;
    for (size_t l = 0; l < n_l1; l++) {
        size_t ib = 0;
        for (size_t a = 0; a < n_alphas; a++) {
            double s = 0;
            for (size_t f = 0; f < n_folds; f++) s += cv->mse[(l * n_folds + f) * n_alphas + a];
            cv->mse_mean[l * n_alphas + a] = s / (double)n_folds;
            if (cv->mse_mean[l * n_alphas + a] < cv->mse_mean[l * n_alphas + ib]) ib = a; /* np.argmin: the first */
        }
        if (cv->mse_mean[l * n_alphas + ib] < best) {
            best = cv->mse_mean[l * n_alphas + ib];
            cv->best_l1 = l;
            cv->best_alpha = ib;
        }
    }
    if (!isfinite(best)) {
        bml__enet_cv_release(cv);
        return bml__fail(BML_ERR_VALUE, "%s: the cross-validated error is not finite for any alpha", what);
    }
    cv->l1_ratio = l1_ratios[cv->best_l1];
    cv->alpha = cv->alphas[cv->best_l1 * n_alphas + cv->best_alpha];
    st = bml__lin_enet(what, x, n, F, y, cv->alpha, cv->l1_ratio, o, coef, intercept, &cv->refit);
    if (st != BML_OK) bml__enet_cv_release(cv);
    return st;
}

/* ------------------------------------------------------------------ PLS */

void bml__pls_release(bml__pls *p) {
    if (!p) return;
    free(p->x_mean), free(p->x_std), free(p->x_weights), free(p->x_loadings), free(p->x_rotations);
    free(p->x_scores), free(p->y_weights), free(p->y_loadings), free(p->coef_scaled);
    memset(p, 0, sizeof *p);
}

/* scipy.linalg.pinv of a (k, k) column-major into out (k, k) column-major: SVD, singular values above
 * max(s) * k * eps */
static bml_status pinv(const char *what, const double *a, size_t k, double *out) {
    double *c = bml__calloc(k * k, sizeof *c), *u = bml__calloc(k * k, sizeof *u), *s = bml__calloc(k, sizeof *s);
    double *vt = bml__calloc(k * k, sizeof *vt);
    bml_status st = c && u && s && vt ? BML_OK : nomem();
    if (st == BML_OK) {
        memcpy(c, a, k * k * sizeof *c);
        st = svd(what, c, (int)k, (int)k, u, s, vt);
    }
    if (st == BML_OK) {
        double smax = 0;
        for (size_t r = 0; r < k; r++)
            if (s[r] > smax) smax = s[r];
        double val = 0. + smax * ((double)k * EPS);
        size_t rank = 0;
        while (rank < k && s[rank] > val) rank++; /* s is descending */
        /* B = ((u[:, :rank] / s[:rank]) @ vt[:rank]).T: B_ib = sum_r u_br / s_r vt_ri */
        for (size_t i = 0; i < k; i++)
            for (size_t b = 0; b < k; b++) {
                double v = 0;
                for (size_t r = 0; r < rank; r++) v += (u[r * k + b] / s[r]) * vt[i * k + r];
                out[b * k + i] = v;
            }
    }
    free(c);
    free(u);
    free(s);
    free(vt);
    return st;
}

/* mean and standard deviation (ddof 1) as numpy's std over an axis of the column col (n) */
static double std_ddof1(const double *col, size_t n, int pairwise, double *tmp) {
    double m = col_sum(col, n, pairwise) / (double)n;
    for (size_t i = 0; i < n; i++) tmp[i] = (col[i] - m) * (col[i] - m);
    return sqrt(col_sum(tmp, n, pairwise) / (double)(n - 1));
}

bml_status bml__lin_pls(const char *what, const double *x, size_t n, size_t F, const double *y, size_t k, int scale,
                        double *coef, double *intercept, bml__pls *p) {
    memset(p, 0, sizeof *p);
    BML__TRY(check_dims(what, n, F));
    if (n < 2) return bml__fail(BML_ERR_VALUE, "%s: PLS needs at least 2 training rows (n_samples=%zu)", what, n);
    if (k < 1 || k > F)
        return bml__fail(BML_ERR_VALUE, "%s: n_components=%zu must be from 1 to the %zu features", what, k, F);
    p->n = n, p->F = F, p->k = k;
    p->x_mean = bml__calloc(F, sizeof(double)), p->x_std = bml__calloc(F, sizeof(double));
    p->x_weights = bml__calloc(F * k, sizeof(double)), p->x_loadings = bml__calloc(F * k, sizeof(double));
    p->x_rotations = bml__calloc(F * k, sizeof(double)), p->x_scores = bml__calloc(n * k, sizeof(double));
    p->y_weights = bml__calloc(k, sizeof(double)), p->y_loadings = bml__calloc(k, sizeof(double));
    p->coef_scaled = bml__calloc(F, sizeof(double));
    double *Xk = NULL, *Yk = NULL, *tmp = bml__calloc(n, sizeof *tmp), *xs = bml__calloc(n, sizeof *xs);
    double *ptw = bml__calloc(k * k, sizeof *ptw), *ptw_inv = bml__calloc(k * k, sizeof *ptw_inv);
    bml_status st = p->x_mean && p->x_std && p->x_weights && p->x_loadings && p->x_rotations && p->x_scores && p->y_weights &&
                            p->y_loadings && p->coef_scaled && tmp && xs && ptw && ptw_inv
                        ? centre(x, n, F, y, 0, &Xk, p->x_mean, &Yk, &p->y_mean)
                        : nomem();
    if (st == BML_OK) {
        p->y_std = 1.0;
        for (size_t j = 0; j < F; j++) p->x_std[j] = 1.0;
        if (scale) {
            for (size_t j = 0; j < F; j++) {
                double s = std_ddof1(Xk + j * n, n, 0, tmp);
                p->x_std[j] = s == 0.0 ? 1.0 : s;
                for (size_t i = 0; i < n; i++) Xk[j * n + i] /= p->x_std[j];
            }
            double s = std_ddof1(Yk, n, 1, tmp);
            p->y_std = s == 0.0 ? 1.0 : s;
            for (size_t i = 0; i < n; i++) Yk[i] /= p->y_std;
        }
        for (size_t c = 0; c < k; c++) {
            int small = 1, any = 0;
            for (size_t i = 0; i < n; i++) {
                if (!(fabs(Yk[i]) < 10 * EPS)) small = 0;
                if (fabs(Yk[i]) > EPS) any = 1;
            }
            if (small) memset(Yk, 0, n * sizeof *Yk), any = 0;
            if (!any) break; /* "Y residual is constant": the remaining components stay zero */
            double *xw = p->x_weights + c * F;
            /* one pass of the power method (one target): x_weights = X^T y / (y . y), normalised */
            double yy = dot(Yk, Yk, n);
            for (size_t j = 0; j < F; j++) xw[j] = dot(Xk + j * n, Yk, n) / yy;
            double nrm = sqrt(dot(xw, xw, F)) + EPS;
            for (size_t j = 0; j < F; j++) xw[j] /= nrm;
            for (size_t i = 0; i < n; i++) {
                double v = 0;
                for (size_t j = 0; j < F; j++) v += Xk[j * n + i] * xw[j];
                xs[i] = v;
            }
            double yw = dot(Yk, xs, n) / dot(xs, xs, n);
            /* _svd_flip_1d: the largest |weight| positive */
            size_t big = 0;
            for (size_t j = 1; j < F; j++)
                if (fabs(xw[j]) > fabs(xw[big])) big = j;
            double sign = fsign(xw[big]);
            for (size_t j = 0; j < F; j++) xw[j] *= sign;
            yw *= sign;
            double *xsc = p->x_scores + c * n;
            for (size_t i = 0; i < n; i++) {
                double v = 0;
                for (size_t j = 0; j < F; j++) v += Xk[j * n + i] * xw[j];
                xsc[i] = v;
            }
            double tt = dot(xsc, xsc, n), *xl = p->x_loadings + c * F;
            for (size_t j = 0; j < F; j++) xl[j] = dot(xsc, Xk + j * n, n) / tt;
            for (size_t j = 0; j < F; j++)
                for (size_t i = 0; i < n; i++) Xk[j * n + i] -= xsc[i] * xl[j];
            double yl = dot(xsc, Yk, n) / tt;
            for (size_t i = 0; i < n; i++) Yk[i] -= xsc[i] * yl;
            p->y_weights[c] = yw;
            p->y_loadings[c] = yl;
            p->n_fitted = c + 1;
        }
        /* x_rotations = W (P^T W)^+, coef = x_rotations q^T y_std */
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++) ptw[b * k + a] = dot(p->x_loadings + a * F, p->x_weights + b * F, F);
        st = pinv(what, ptw, k, ptw_inv);
    }
    if (st == BML_OK) {
        for (size_t j = 0; j < F; j++)
            for (size_t b = 0; b < k; b++) {
                double v = 0;
                for (size_t a = 0; a < k; a++) v += p->x_weights[a * F + j] * ptw_inv[b * k + a];
                p->x_rotations[b * F + j] = v;
            }
        for (size_t j = 0; j < F; j++) {
            double v = 0;
            for (size_t b = 0; b < k; b++) v += p->x_rotations[b * F + j] * p->y_loadings[b];
            p->coef_scaled[j] = v * p->y_std;
        }
        /* on the input scale: y = y_mean + sum_j coef_scaled_j (x_j - x_mean_j) / x_std_j */
        double icpt = p->y_mean;
        for (size_t j = 0; j < F; j++) {
            coef[j] = p->coef_scaled[j] / p->x_std[j];
            icpt -= p->x_mean[j] * coef[j];
        }
        *intercept = icpt;
    }
    free(Xk);
    free(Yk);
    free(tmp);
    free(xs);
    free(ptw);
    free(ptw_inv);
    if (st != BML_OK) bml__pls_release(p);
    return st;
}

/* ------------------------------------------------------------------ PCR */

void bml__pcr_release(bml__pcr *p) {
    if (!p) return;
    free(p->scaler_mean), free(p->scaler_scale), free(p->pca_mean), free(p->components), free(p->singular_values);
    free(p->explained_variance_ratio), free(p->scores), free(p->lr_coef);
    memset(p, 0, sizeof *p);
}

bml_status bml__lin_pcr(const char *what, const double *x, size_t n, size_t F, const double *y, size_t k, double *coef,
                        double *intercept, bml__pcr *p) {
    memset(p, 0, sizeof *p);
    BML__TRY(check_dims(what, n, F));
    size_t m = n < F ? n : F;
    if (n < 2) return bml__fail(BML_ERR_VALUE, "%s: PCR needs at least 2 training rows (n_samples=%zu)", what, n);
    if (k < 1 || k > m)
        return bml__fail(BML_ERR_VALUE, "%s: n_components=%zu must be from 1 to min(rows, features) = min(%zu, %zu)", what, k,
                         n, F);
    p->n = n, p->F = F, p->k = k;
    p->scaler_mean = bml__calloc(F, sizeof(double)), p->scaler_scale = bml__calloc(F, sizeof(double));
    p->pca_mean = bml__calloc(F, sizeof(double)), p->components = bml__calloc(k * F, sizeof(double));
    p->singular_values = bml__calloc(k, sizeof(double)), p->explained_variance_ratio = bml__calloc(k, sizeof(double));
    p->scores = bml__calloc(n * k, sizeof(double)), p->lr_coef = bml__calloc(k, sizeof(double));
    double *xs = bml__calloc(n * F, sizeof *xs), *tmp = bml__calloc(n, sizeof *tmp), *u = bml__calloc(n * m, sizeof *u);
    double *s = bml__calloc(m, sizeof *s), *vt = bml__calloc(m * F, sizeof *vt), *ev = bml__calloc(m, sizeof *ev);
    bml_status st = p->scaler_mean && p->scaler_scale && p->pca_mean && p->components && p->singular_values &&
                            p->explained_variance_ratio && p->scores && p->lr_coef && xs && tmp && u && s && vt && ev
                        ? BML_OK
                        : nomem();
    if (st == BML_OK) {
        /* StandardScaler: _incremental_mean_and_var from nothing (row-by-row sums of a C-ordered X) */
        for (size_t j = 0; j < F; j++) {
            const double *c = x + j * n;
            double sum = col_sum(c, n, 0), mean = sum / (double)n, T = sum / (double)n;
            for (size_t i = 0; i < n; i++) tmp[i] = c[i] - T;
            double corr = col_sum(tmp, n, 0);
            for (size_t i = 0; i < n; i++) tmp[i] *= tmp[i];
            double var = (col_sum(tmp, n, 0) - corr * corr / (double)n) / (double)n;
            double bound = (double)n * EPS * var + ((double)n * mean * EPS) * ((double)n * mean * EPS);
            p->scaler_mean[j] = mean;
            p->scaler_scale[j] = var <= bound ? 1.0 : sqrt(var); /* a constant feature keeps its scale */
            for (size_t i = 0; i < n; i++) xs[j * n + i] = (c[i] - mean) / p->scaler_scale[j];
        }
        /* PCA (full SVD of the centred data) */
        for (size_t j = 0; j < F; j++) {
            p->pca_mean[j] = col_sum(xs + j * n, n, 0) / (double)n;
            for (size_t i = 0; i < n; i++) xs[j * n + i] -= p->pca_mean[j];
        }
        st = svd(what, xs, (int)n, (int)F, u, s, vt);
    }
    if (st == BML_OK) {
        for (size_t c = 0; c < m; c++) { /* svd_flip: the largest |u| of each column positive */
            size_t big = 0;
            for (size_t i = 1; i < n; i++)
                if (fabs(u[c * n + i]) > fabs(u[c * n + big])) big = i;
            double sign = fsign(u[c * n + big]);
            for (size_t i = 0; i < n; i++) u[c * n + i] *= sign;
            for (size_t j = 0; j < F; j++) vt[j * m + c] *= sign;
            ev[c] = s[c] * s[c] / (double)(n - 1);
        }
        double total = bml__lin_pairwise_sum(ev, m, 1);
        for (size_t c = 0; c < k; c++) {
            p->singular_values[c] = s[c];
            p->explained_variance_ratio[c] = ev[c] / total;
            for (size_t j = 0; j < F; j++) p->components[c * F + j] = vt[j * m + c];
            for (size_t i = 0; i < n; i++) p->scores[c * n + i] = u[c * n + i] * s[c];
        }
        /* LinearRegression on the scores (an F-ordered array: pairwise column means) */
        double *zc = NULL, *yc = NULL, y_mean = 0, *z_mean = bml__calloc(k, sizeof *z_mean), *b = bml__calloc(n, sizeof *b);
        int rank;
        st = z_mean && b ? centre(p->scores, n, k, y, 1, &zc, z_mean, &yc, &y_mean) : nomem();
        if (st == BML_OK) {
            memcpy(b, yc, n * sizeof *b);
            st = lstsq(what, zc, (int)n, (int)k, b, -1, &rank);
        }
        if (st == BML_OK) {
            memcpy(p->lr_coef, b, k * sizeof *b);
            p->lr_intercept = intercept_of(z_mean, p->lr_coef, k, y_mean);
            /* on the input scale: y = lr_intercept + sum_j v_j ((x_j - mean_j) / scale_j - pca_mean_j), v = C^T beta */
            double icpt = p->lr_intercept;
            for (size_t j = 0; j < F; j++) {
                double v = 0;
                for (size_t c = 0; c < k; c++) v += p->components[c * F + j] * p->lr_coef[c];
                coef[j] = v / p->scaler_scale[j];
                icpt -= (p->scaler_mean[j] / p->scaler_scale[j] + p->pca_mean[j]) * v;
            }
            *intercept = icpt;
        }
        free(zc);
        free(yc);
        free(z_mean);
        free(b);
    }
    free(xs);
    free(tmp);
    free(u);
    free(s);
    free(vt);
    free(ev);
    if (st != BML_OK) bml__pcr_release(p);
    return st;
}
