/* Regression metrics. */
#include "batteryml/metrics.h"

#include <math.h>

bml_metrics bml_metrics_compute(const double *yt, const double *yp, size_t n, size_t stride) {
    /* a pair whose truth is unknown (NaN: a cell whose cycle life is not known yet, predicted all the same) is no
     * measurement of the error: left out, and m.n counts the pairs used */
    size_t used = 0;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(yt[i * stride])) mean += yt[i * stride], used++;
    bml_metrics m = {used, NAN, NAN, NAN, NAN, NAN};
    if (used == 0) return m;
    double sse = 0, sae = 0, sape = 0, maxe = 0;
    size_t n_ape = 0;
    mean /= (double)used;
    double sst = 0;
    for (size_t i = 0; i < n; i++) {
        double t = yt[i * stride], e = yp[i * stride] - t;
        if (isnan(t)) continue;
        sse += e * e;
        sae += fabs(e);
        if (isnan(e) || isnan(maxe)) maxe = NAN; /* a NaN error makes the maximum NaN, never a smaller number */
        else if (fabs(e) > maxe) maxe = fabs(e);
        if (fabs(t) > 1e-12) {
            sape += fabs(e / t);
            n_ape++;
        }
        sst += (t - mean) * (t - mean);
    }
    m.rmse = sqrt(sse / (double)used);
    m.mae = sae / (double)used;
    m.mape = n_ape ? 100.0 * sape / (double)n_ape : NAN;
    m.r2 = sst > 0 ? 1.0 - sse / sst : NAN;
    m.max_abs_error = maxe;
    return m;
}
