/* Incremental-capacity analysis with scipy's semantics (FACTS.md section 2): Savitzky-Golay smoothing
 * (mode 'interp'), find_peaks (height, distance, prominence), peak_prominences, peak_widths, and the
 * ica_peaks features of SPEC 4.2. Internal. */
#ifndef BML_PIPELINES_ICA_H
#define BML_PIPELINES_ICA_H

#include <stddef.h>

#include "batteryml/status.h"

/* scipy.signal.savgol_filter(x, window, order, mode='interp'); out may not alias x. Requires window odd,
 * order < window <= n. */
bml_status bml__savgol(const double *x, size_t n, int window, int order, double *out);

/* Peaks as scipy.signal.find_peaks(x, height=hmin, distance=dist, prominence=pmin) (a criterion <= 0 is
 * off); writes up to cap indices (ascending) and returns their count. */
size_t bml__find_peaks(const double *x, size_t n, double hmin, double dist, double pmin, size_t *peaks, size_t cap);
/* scipy.signal.peak_prominences: prominence and left/right bases of each peak */
void bml__peak_prominences(const double *x, size_t n, const size_t *peaks, size_t np, double *prom, size_t *left_base,
                           size_t *right_base);
/* scipy.signal.peak_widths(rel_height): width (samples), width height, left and right interpolated positions */
void bml__peak_widths(const double *x, size_t n, const size_t *peaks, size_t np, double rel_height, double *width,
                      double *height, double *left_ip, double *right_ip);

typedef struct {
    double v_min, v_max;      /* voltage window (3.0, 4.2) */
    int resample;             /* points (500) */
    int window, order;        /* Savitzky-Golay (51, 3), both passes */
    double height, distance, prominence; /* find_peaks (0.01, 200, 0.01) */
    int num_peaks;            /* features for this many highest peaks (3) */
} bml__ica_params;

/* features per curve: for each of num_peaks peaks (highest first) voltage, height, width (V), area;
 * then total area, number of peaks, voltage of the maximum. NaN for peaks that are not there. */
size_t bml__ica_n_features(const bml__ica_params *p);
/* Compute the features of one curve (capacity q (Ah) and voltage v (V), any order). The intermediate
 * dQ/dV curve (p->resample - 1 points) and its voltages are written when dqdv/vmid are not NULL. */
bml_status bml__ica_features(const bml__ica_params *p, const double *q, const double *v, size_t n, double *features,
                             double *vmid, double *dqdv);
/* The features of n curves (q[i], v[i], len[i] points) into features (n, bml__ica_n_features) on up to
 * `threads` threads (<= 0: the thread budget of batteryml/parallel.h, else every core), each curve in one
 * piece, as bml__ica_features computes it alone: the same numbers at any thread count. On failure returns
 * the first failing curve's status and error (the lowest index) and its index in *bad. */
bml_status bml__ica_features_many(const bml__ica_params *p, size_t n, const double *const *q, const double *const *v,
                                  const size_t *len, double *features, int threads, size_t *bad);

#endif
