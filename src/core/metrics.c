/* Regression metrics. */
#include "batteryml/metrics.h"

#include <math.h>

bml_metrics bml_metrics_compute(const double *yt, const double *yp, size_t n, size_t stride) {
    bml_metrics m = {n, NAN, NAN, NAN, NAN, NAN};
    if (n == 0) return m;
    double sse = 0, sae = 0, sape = 0, maxe = 0, mean = 0;
    size_t n_ape = 0;
    for (size_t i = 0; i < n; i++) mean += yt[i * stride];
    mean /= (double)n;
    double sst = 0;
    for (size_t i = 0; i < n; i++) {
        double t = yt[i * stride], e = yp[i * stride] - t;
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
    m.rmse = sqrt(sse / (double)n);
    m.mae = sae / (double)n;
    m.mape = n_ape ? 100.0 * sape / (double)n_ape : NAN;
    m.r2 = sst > 0 ? 1.0 - sse / sst : NAN;
    m.max_abs_error = maxe;
    return m;
}
