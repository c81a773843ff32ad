/* Incremental-capacity analysis (ICA) of one voltage curve: the dQ/dV curve and the peak features of the
 * ica_peaks pipeline (SPEC 4.2), with scipy's semantics (FACTS.md section 2): Q(V) resampled on an even
 * voltage grid, Savitzky-Golay smoothing (mode 'interp'), dQ/dV by differences at the midpoints, smoothed
 * again, then scipy.signal.find_peaks / peak_widths. The same numbers the pipeline computes for each curve. */
#ifndef BATTERYML_ICA_H
#define BATTERYML_ICA_H

#include "batteryml/export.h"

#include <stddef.h>

#include "batteryml/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The parameters, named and bounded as the ica_peaks pipeline's (configs/pipeline/ica_peaks.yaml).
 * Versioned as bml_run_opts (libgit2's convention): initialise with BML_ICA_PARAMS_INIT (or bml_ica_params_init) and set
 * the fields by name; a call given another version fails (BML_ERR_VALUE) naming both. The INIT holds the
 * pipeline's defaults. */
#define BML_ICA_PARAMS_VERSION 1
#define BML_ICA_PARAMS_INIT {BML_ICA_PARAMS_VERSION, 3.0, 4.2, 500, 51, 3, 0.01, 200, 0.01, 3}
typedef struct {
    unsigned int version;                /* BML_ICA_PARAMS_VERSION */
    double v_min, v_max;                 /* voltage window, V (3.0, 4.2); v_min < v_max */
    long resample;                       /* points of the even voltage grid (500), 8 .. 1e7 */
    long window, order;                  /* Savitzky-Golay window (51, odd, 3 .. resample - 1) and order (3, < window) */
    double height, distance, prominence; /* find_peaks criteria (0.01, 200, 0.01); 0 switches one off */
    long num_peaks;                      /* features for this many highest peaks (3), 1 .. 100 */
} bml_ica_params;

/* *p = BML_ICA_PARAMS_INIT: the pipeline's defaults; bml_ica_defaults returns the same. */
BML_API void bml_ica_params_init(bml_ica_params *p);
BML_API bml_ica_params bml_ica_defaults(void);

/* Number of features: 4 per peak (voltage, height, width, area) and 3 (total area, number of peaks,
 * voltage of the maximum). 0 for parameters of another version (bml_last_error says why). */
BML_API size_t bml_ica_n_features(const bml_ica_params *p);

/* Name of feature j < bml_ica_n_features(p) as the pipeline names its column ("peak1_voltage_v",
 * "total_area_ah", ...), written to buf as snprintf does; returns the name's full length (0 for j out of
 * range or parameters of another version, buf then ""). */
BML_API size_t bml_ica_feature_name(const bml_ica_params *p, size_t j, char *buf, size_t size);

/* The features of one curve: charge q (Ah) and voltage v (V), n points in any order (a charge or a
 * discharge; points outside [v_min, v_max] and non-finite ones are left out). features receives
 * bml_ica_n_features(p) values (NaN for peaks that are not there); v_mid and dqdv (may be NULL) receive the
 * smoothed |dQ/dV| curve, resample - 1 points each. Parameters out of range are an error naming the
 * parameter; fewer than 2 points in the window is BML_ERR_EMPTY. Nothing is written on failure but
 * features may hold NaN. Thread-safe. */
BML_API bml_status bml_ica_features(const bml_ica_params *p, const double *q, const double *v, size_t n, double *features,
                                    double *v_mid, double *dqdv);

#ifdef __cplusplus
}
#endif
#endif
