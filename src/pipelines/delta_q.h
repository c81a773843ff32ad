/* Statistics of the delta_q pipeline, for its tests. Internal. */
#ifndef BML_PIPELINES_DELTA_Q_H
#define BML_PIPELINES_DELTA_Q_H

#include <stddef.h>

typedef struct {
    double min, mean;
    double var;  /* population variance (numpy var, ddof 0) */
    double skew; /* scipy.stats.skew(bias=True): m3 / m2^1.5 (NaN when m2 == 0) */
    double kurt; /* scipy.stats.kurtosis(fisher=True, bias=True): m4 / m2^2 - 3 (NaN when m2 == 0) */
} bml__dq_stats;

/* Moments of x[0..n) (n > 0), central moments about the mean (two passes). */
void bml__dq_moments(const double *x, size_t n, bml__dq_stats *out);
/* Least-squares line y = slope * x + intercept (slope NaN when x is constant). */
void bml__dq_linfit(const double *x, const double *y, size_t n, double *slope, double *intercept);

/* Which of a cell's n per-cycle discharge capacities are corrupt (ratio > 0): not finite, not positive, or above
 * ratio x their median (the median of the finite ones). valid[i] = 0 for those, 1 for the rest (ratio <= 0:
 * every one valid); *median (may be NULL) receives the median (NaN when none is finite). Returns the number of
 * corrupt ones, or (size_t)-1 when out of memory. */
size_t bml__dq_valid_capacities(const double *cap, size_t n, double ratio, unsigned char *valid, double *median);

#endif
