/* Regression metrics (SPEC section 7): RMSE, MAE, MAPE (percent), R^2 and max absolute error. */
#ifndef BATTERYML_METRICS_H
#define BATTERYML_METRICS_H

#include "batteryml/export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t n;
    double rmse, mae, mape, r2, max_abs_error;
} bml_metrics;

/* Metrics of predictions against truths, n values read with the given stride (elements) from each
 * array (stride O reads one target column of an (n, O) matrix). MAPE is in percent over the values
 * with |truth| > 1e-12 (NaN if none). R^2 is NaN when the truths are constant. A pair whose truth is NaN (unknown:
 * a censored cell's cycle life) is left out and .n counts the pairs used; no pair left gives NaNs. */
BML_API bml_metrics bml_metrics_compute(const double *y_true, const double *y_pred, size_t n, size_t stride);

#ifdef __cplusplus
}
#endif
#endif
