/* Incremental-capacity analysis (see ica.h). Every step follows the scipy 1.10 behaviour that FACTS.md
 * section 2 describes; tests compare with reference values written by tools/gen_scipy_reference.py. */
#include "pipelines/ica.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batteryml/parallel.h"
#include "core/internal.h"

/* Least-squares polynomial fit of degree `order` to (t_i, y_i), i < m, evaluated at the points te:
 * Householder QR on the Vandermonde matrix of the centred, scaled abscissa (well conditioned). */
static int polyfit_eval(const double *t, const double *y, int m, int order, const double *te, int ne, double *out) {
    int k = order + 1;
    if (m <= 0 || k > 16) return -1;
    double c = 0, s = 0;
    for (int i = 0; i < m; i++) c += t[i];
    c /= m;
    for (int i = 0; i < m; i++) s = fmax(s, fabs(t[i] - c));
    if (s == 0) s = 1;
    double *A = calloc((size_t)m * (size_t)k, sizeof *A), *b = calloc((size_t)m, sizeof *b), coef[16];
    if (!A || !b || k > 16) {
        free(A), free(b);
        return -1;
    }
    for (int i = 0; i < m; i++) {
        double u = (t[i] - c) / s, p = 1;
        for (int j = 0; j < k; j++) A[i * k + j] = p, p *= u;
        b[i] = y[i];
    }
    for (int j = 0; j < k; j++) { /* Householder reflection of column j */
        double norm = 0;
        for (int i = j; i < m; i++) norm += A[i * k + j] * A[i * k + j];
        norm = sqrt(norm);
        double alpha = A[j * k + j] > 0 ? -norm : norm;
        double v0 = A[j * k + j] - alpha, vnorm2 = v0 * v0;
        for (int i = j + 1; i < m; i++) vnorm2 += A[i * k + j] * A[i * k + j];
        if (vnorm2 == 0) continue;
        for (int col = j; col <= k; col++) { /* col == k: the right-hand side */
            double dot = v0 * (col < k ? A[j * k + col] : b[j]);
            for (int i = j + 1; i < m; i++) dot += A[i * k + j] * (col < k ? A[i * k + col] : b[i]);
            double f = 2 * dot / vnorm2;
            if (col < k) A[j * k + col] -= f * v0;
            else b[j] -= f * v0;
            for (int i = j + 1; i < m; i++) {
                if (col < k) {
                    if (col > j) A[i * k + col] -= f * A[i * k + j];
                } else {
                    b[i] -= f * A[i * k + j];
                }
            }
        }
        A[j * k + j] = alpha;
    }
    for (int j = k - 1; j >= 0; j--) { /* back substitution R coef = Q^T b */
        double v = b[j];
        for (int l = j + 1; l < k; l++) v -= A[j * k + l] * coef[l];
        coef[j] = v / A[j * k + j];
    }
    for (int e = 0; e < ne; e++) {
        double u = (te[e] - c) / s, v = 0;
        for (int j = k - 1; j >= 0; j--) v = v * u + coef[j];
        out[e] = v;
    }
    free(A);
    free(b);
    return 0;
}

/* Savitzky-Golay filters are linear: the smoothed value at the window's centre and the edge values of
 * mode 'interp' are fixed combinations of the window's samples. Their coefficients come from fitting
 * unit impulses, once per (window, order); a few are kept per thread. */
typedef struct {
    int window, order;
    double *centre; /* (window) */
    double *left;   /* (h, window): value at t = k of the polynomial fitted to the first window */
    double *right;  /* (h, window): value at t = window - h + k of the one fitted to the last window */
} sg_coeffs;

static _Thread_local sg_coeffs g_sg[4];

/* the calling thread's coefficients freed (a worker thread about to end calls this) */
static void sg_release(void) {
    for (int i = 0; i < 4; i++) {
        free(g_sg[i].centre), free(g_sg[i].left), free(g_sg[i].right);
        memset(&g_sg[i], 0, sizeof g_sg[i]);
    }
}

static const sg_coeffs *sg_get(int window, int order) {
    for (int i = 0; i < 4; i++)
        if (g_sg[i].centre && g_sg[i].window == window && g_sg[i].order == order) return &g_sg[i];
    sg_coeffs *c = &g_sg[0];
    for (int i = 0; i < 4; i++)
        if (!g_sg[i].centre) c = &g_sg[i];
    free(c->centre), free(c->left), free(c->right);
    int h = window / 2;
    c->window = window, c->order = order;
    c->centre = calloc((size_t)window, sizeof *c->centre);
    c->left = calloc((size_t)h * (size_t)window + 1, sizeof *c->left);
    c->right = calloc((size_t)h * (size_t)window + 1, sizeof *c->right);
    double *t = calloc((size_t)window, sizeof *t), *e = calloc((size_t)window, sizeof *e);
    double *ev = calloc((size_t)h + 1, sizeof *ev), zero = 0;
    if (!c->centre || !c->left || !c->right || !t || !e || !ev) {
        free(c->centre), free(c->left), free(c->right);
        c->centre = c->left = c->right = NULL;
        free(t), free(e), free(ev);
        return NULL;
    }
    for (int i = 0; i < window; i++) t[i] = i - h;
    for (int i = 0; i < window; i++) { /* centre: least squares on t = -h..h, evaluated at 0 */
        memset(e, 0, (size_t)window * sizeof *e);
        e[i] = 1;
        polyfit_eval(t, e, window, order, &zero, 1, &c->centre[i]);
    }
    for (int i = 0; i < window; i++) t[i] = i;
    for (int i = 0; i < window; i++) { /* edges: fits on t = 0..window-1, at the first and last h positions */
        memset(e, 0, (size_t)window * sizeof *e);
        e[i] = 1;
        polyfit_eval(t, e, window, order, t, h, ev);
        for (int k = 0; k < h; k++) c->left[(size_t)k * window + i] = ev[k];
        polyfit_eval(t, e, window, order, t + window - h, h, ev);
        for (int k = 0; k < h; k++) c->right[(size_t)k * window + i] = ev[k];
    }
    free(t), free(e), free(ev);
    return c;
}

/* the interior of the filter: o[i] = sum_k centre[k] x[i + k] (i < m, k < w), each point's sum from zero in k
 * order, a product then an addition (never fused), so that every build and CPU gives the same bits; 32 points
 * at a time in registers (the AVX-512 clone: four vectors), the taps innermost */
enum { SG_BLOCK = 32 };
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
sg_interior(const double *restrict x, size_t m, const double *restrict ck, size_t w, double *restrict o) {
    size_t i = 0;
    for (; i + SG_BLOCK <= m; i += SG_BLOCK) {
        double acc[SG_BLOCK] = {0};
        for (size_t k = 0; k < w; k++) {
            const double c = ck[k], *xk = x + i + k;
            for (int j = 0; j < SG_BLOCK; j++) acc[j] += c * xk[j];
        }
        memcpy(o + i, acc, sizeof acc);
    }
    for (; i < m; i++) {
        double a = 0;
        for (size_t k = 0; k < w; k++) a += ck[k] * x[i + k];
        o[i] = a;
    }
}

bml_status bml__savgol(const double *x, size_t n, int window, int order, double *out) {
    if (window < 1 || window % 2 == 0 || order >= window || (size_t)window > n)
        return bml__fail(BML_ERR_VALUE, "Savitzky-Golay: window %d must be odd, > order %d and <= the %zu points", window,
                         order, n);
    const sg_coeffs *c = sg_get(window, order);
    if (!c) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t h = (size_t)window / 2, w = (size_t)window;
    /* interior: out[i] = sum_k centre[k] x[i - h + k], accumulated tap by tap over all i (the same order
     * of additions for every point as a dot product per point, and a loop over i that vectorises) */
    sg_interior(x, n - 2 * h, c->centre, w, out + h);
    for (size_t k = 0; k < h; k++) {
        double a = 0, b = 0;
        const double *xr = x + n - w;
        for (size_t i = 0; i < w; i++) a += c->left[k * w + i] * x[i], b += c->right[k * w + i] * xr[i];
        out[k] = a;
        out[n - h + k] = b;
    }
    return BML_OK;
}

/* ------------------------------------------------------------------ peaks */
static size_t local_maxima(const double *x, size_t n, size_t *out, size_t cap) {
    size_t m = 0;
    size_t i = 1, i_max = n ? n - 1 : 0;
    while (i < i_max) {
        if (x[i - 1] < x[i]) {
            size_t ahead = i + 1;
            while (ahead < i_max && x[ahead] == x[i]) ahead++;
            if (x[ahead] < x[i]) {
                if (m < cap) out[m] = (i + ahead - 1) / 2; /* plateau: its middle */
                m++;
                i = ahead;
            }
        }
        i++;
    }
    return m < cap ? m : cap;
}

void bml__peak_prominences(const double *x, size_t n, const size_t *peaks, size_t np, double *prom, size_t *left_base,
                           size_t *right_base) {
    for (size_t p = 0; p < np; p++) {
        size_t pk = peaks[p];
        double left_min = x[pk], right_min = x[pk];
        size_t lb = pk, rb = pk;
        for (size_t i = pk + 1; i-- > 0 && x[i] <= x[pk];)
            if (x[i] < left_min) left_min = x[i], lb = i;
        for (size_t i = pk; i < n && x[i] <= x[pk]; i++)
            if (x[i] < right_min) right_min = x[i], rb = i;
        prom[p] = x[pk] - fmax(left_min, right_min);
        if (left_base) left_base[p] = lb;
        if (right_base) right_base[p] = rb;
    }
}

void bml__peak_widths(const double *x, size_t n, const size_t *peaks, size_t np, double rel_height, double *width,
                      double *height, double *left_ip, double *right_ip) {
    for (size_t p = 0; p < np; p++) {
        double prom;
        size_t lb, rb, pk = peaks[p];
        bml__peak_prominences(x, n, &peaks[p], 1, &prom, &lb, &rb);
        double h = x[pk] - prom * rel_height;
        size_t i = pk;
        while (lb < i && h < x[i]) i--;
        double l = (double)i;
        if (x[i] < h) l += (h - x[i]) / (x[i + 1] - x[i]);
        i = pk;
        while (i < rb && h < x[i]) i++;
        double r = (double)i;
        if (x[i] < h) r -= (h - x[i]) / (x[i - 1] - x[i]);
        width[p] = r - l;
        if (height) height[p] = h;
        if (left_ip) left_ip[p] = l;
        if (right_ip) right_ip[p] = r;
    }
}

typedef struct {
    double v;
    size_t i;
} prio;

static int prio_cmp(const void *a, const void *b) {
    const prio *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* stable for ties */
}

size_t bml__find_peaks(const double *x, size_t n, double hmin, double dist, double pmin, size_t *peaks, size_t cap) {
    size_t *pk = calloc(n + 1, sizeof *pk);
    if (!pk) return 0;
    size_t m = local_maxima(x, n, pk, n), k = 0;
    if (hmin > 0) { /* height */
        for (size_t i = 0; i < m; i++)
            if (x[pk[i]] >= hmin) pk[k++] = pk[i];
        m = k;
    }
    if (dist > 0 && m > 1) { /* distance: highest first, neighbours closer than ceil(distance) go */
        size_t d = (size_t)ceil(dist);
        prio *order = calloc(m, sizeof *order);
        char *keep = calloc(m, 1);
        if (order && keep) {
            for (size_t i = 0; i < m; i++) order[i] = (prio){x[pk[i]], i}, keep[i] = 1;
            qsort(order, m, sizeof *order, prio_cmp);
            for (size_t j = m; j-- > 0;) {
                size_t i = order[j].i;
                if (!keep[i]) continue;
                for (size_t q = i; q-- > 0 && pk[i] - pk[q] < d;) keep[q] = 0;
                for (size_t q = i + 1; q < m && pk[q] - pk[i] < d; q++) keep[q] = 0;
            }
            k = 0;
            for (size_t i = 0; i < m; i++)
                if (keep[i]) pk[k++] = pk[i];
            m = k;
        }
        free(order);
        free(keep);
    }
    if (pmin > 0 && m) { /* prominence */
        double *pr = calloc(m, sizeof *pr);
        if (pr) {
            bml__peak_prominences(x, n, pk, m, pr, NULL, NULL);
            k = 0;
            for (size_t i = 0; i < m; i++)
                if (pr[i] >= pmin) pk[k++] = pk[i];
            m = k;
        }
        free(pr);
    }
    if (m > cap) m = cap;
    memcpy(peaks, pk, m * sizeof *pk);
    free(pk);
    return m;
}

/* ------------------------------------------------------------------ features */
size_t bml__ica_n_features(const bml__ica_params *p) { return 4 * (size_t)p->num_peaks + 3; }

typedef struct {
    double v, q;
    size_t i;
} vq;

/* by voltage; ties keep their order (a stable sort, as numpy's kind='stable') */
static int vq_cmp(const void *a, const void *b) {
    const vq *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

bml_status bml__ica_features(const bml__ica_params *p, const double *q, const double *v, size_t n, double *f,
                             double *vmid_out, double *dqdv_out) {
    size_t nf = bml__ica_n_features(p), R = (size_t)p->resample;
    for (size_t j = 0; j < nf; j++) f[j] = NAN;
    /* sort by voltage, keep the window */
    vq *pts = calloc(n + 1, sizeof *pts);
    double *grid = calloc(R, sizeof *grid), *qr = calloc(R, sizeof *qr), *qs = calloc(R, sizeof *qs);
    double *vm = calloc(R, sizeof *vm), *dq = calloc(R, sizeof *dq), *ds = calloc(R, sizeof *ds);
    size_t *peaks = calloc(R, sizeof *peaks);
    bml_status st = BML_OK;
    if (!pts || !grid || !qr || !qs || !vm || !dq || !ds || !peaks) {
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && isfinite(q[i]) && v[i] >= p->v_min && v[i] <= p->v_max) pts[m++] = (vq){v[i], q[i], i};
    if (m < 2) {
        st = bml__fail(BML_ERR_EMPTY, "ICA: fewer than 2 points between %g and %g V", p->v_min, p->v_max);
        goto done;
    }
    int incr = 1, decr = 1;
    for (size_t i = 1; i < m; i++) incr &= pts[i].v > pts[i - 1].v, decr &= pts[i].v < pts[i - 1].v;
    if (decr) /* a discharge: strictly decreasing voltage, the stable order is the reversal */
        for (size_t i = 0; i < m / 2; i++) {
            vq tmp = pts[i];
            pts[i] = pts[m - 1 - i];
            pts[m - 1 - i] = tmp;
        }
    else if (!incr)
        qsort(pts, m, sizeof *pts, vq_cmp);
    double lo = pts[0].v, hi = pts[m - 1].v;
    if (!(hi > lo)) {
        st = bml__fail(BML_ERR_VALUE, "ICA: the curve spans no voltage range");
        goto done;
    }
    /* resample Q(V) on numpy.linspace(lo, hi, R) with numpy.interp's rule: the interval [v_j, v_j+1) with
     * the last j such that v_j <= g */
    double step = (hi - lo) / (double)(R - 1);
    size_t j = 0;
    for (size_t i = 0; i < R; i++) {
        double g = i + 1 == R ? hi : (double)i * step + lo;
        grid[i] = g;
        while (j + 1 < m && pts[j + 1].v <= g) j++;
        if (j + 1 >= m) qr[i] = pts[m - 1].q;
        else qr[i] = pts[j].q + (g - pts[j].v) * ((pts[j + 1].q - pts[j].q) / (pts[j + 1].v - pts[j].v));
    }
    if ((st = bml__savgol(qr, R, p->window, p->order, qs)) != BML_OK) goto done;
    /* dQ/dV by differences, at the midpoints; second smoothing; absolute value */
    for (size_t i = 0; i + 1 < R; i++) {
        vm[i] = 0.5 * (grid[i] + grid[i + 1]);
        dq[i] = (qs[i + 1] - qs[i]) / (grid[i + 1] - grid[i]);
    }
    if ((st = bml__savgol(dq, R - 1, p->window, p->order, ds)) != BML_OK) goto done;
    for (size_t i = 0; i + 1 < R; i++) ds[i] = fabs(ds[i]);
    size_t np = bml__find_peaks(ds, R - 1, p->height, p->distance, p->prominence, peaks, R);
    double dv = grid[1] - grid[0];
    /* the highest peaks first */
    for (int k = 0; k < p->num_peaks && (size_t)k < np; k++) {
        size_t best = k;
        for (size_t c = (size_t)k + 1; c < np; c++)
            if (ds[peaks[c]] > ds[peaks[best]]) best = c;
        size_t t = peaks[k];
        peaks[k] = peaks[best];
        peaks[best] = t;
        double w;
        bml__peak_widths(ds, R - 1, &peaks[k], 1, 0.5, &w, NULL, NULL, NULL);
        f[4 * k] = vm[peaks[k]];
        f[4 * k + 1] = ds[peaks[k]];
        f[4 * k + 2] = w * dv;
        f[4 * k + 3] = ds[peaks[k]] * w * dv;
    }
    double area = 0;
    size_t imax = 0;
    for (size_t i = 0; i + 1 < R; i++) {
        if (i + 2 < R) area += 0.5 * (ds[i] + ds[i + 1]) * (vm[i + 1] - vm[i]);
        if (ds[i] > ds[imax]) imax = i;
    }
    f[4 * p->num_peaks] = area;
    f[4 * p->num_peaks + 1] = (double)np;
    f[4 * p->num_peaks + 2] = vm[imax];
    if (vmid_out) memcpy(vmid_out, vm, (R - 1) * sizeof *vm);
    if (dqdv_out) memcpy(dqdv_out, ds, (R - 1) * sizeof *ds);
done:
    free(pts), free(grid), free(qr), free(qs), free(vm), free(dq), free(ds), free(peaks);
    return st;
}

/* ------------------------------------------------------------------ many curves */
typedef struct {
    const bml__ica_params *p;
    const double *const *q, *const *v;
    const size_t *len;
    double *f;
    size_t n, nf, lo, hi; /* this worker's curves [lo, hi) */
    size_t bad;           /* its first failing curve, or n */
} ica_chunk;

static void ica_chunk_do(void *arg, size_t t) {
    ica_chunk *c = (ica_chunk *)arg + t;
    c->bad = c->n;
    for (size_t i = c->lo; i < c->hi; i++)
        if (bml__ica_features(c->p, c->q[i], c->v[i], c->len[i], c->f + i * c->nf, NULL, NULL) != BML_OK) {
            c->bad = i;
            break;
        }
}

bml_status bml__ica_features_many(const bml__ica_params *p, size_t n, const double *const *q, const double *const *v,
                                  const size_t *len, double *features, int threads, size_t *bad) {
    enum { MAX_THREADS = 64, MIN_CURVES = 16 }; /* curves per thread, at least */
    if (threads <= 0) threads = bml__parallel_thread_budget();
    if (threads <= 0) threads = bml_parallel_cores();
    if ((size_t)threads > n / MIN_CURVES) threads = (int)(n / MIN_CURVES);
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    ica_chunk chunk[MAX_THREADS];
    size_t nf = bml__ica_n_features(p);
    for (int t = 0; t < threads; t++)
        chunk[t] = (ica_chunk){p, q, v, len, features, n, nf, n * (size_t)t / (size_t)threads, n * (size_t)(t + 1) / (size_t)threads, n};
    /* one chunk a task; a worker's thread-local coefficients go with it */
    bml__parallel_run((size_t)threads, threads, ica_chunk_do, chunk, sg_release);
    size_t first = n;
    for (int t = 0; t < threads; t++)
        if (chunk[t].bad < first) first = chunk[t].bad;
    if (bad) *bad = first;
    if (first == n) return BML_OK;
    /* the failing curve again on this thread, for its status and message (the error is per thread) */
    double *tmp = bml__calloc(nf, sizeof *tmp);
    if (!tmp) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = bml__ica_features(p, q[first], v[first], len[first], tmp, NULL, NULL);
    free(tmp);
    return st != BML_OK ? st : bml__fail(BML_ERR_VALUE, "ICA: curve %zu failed on another thread only", first);
}
