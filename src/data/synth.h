/* LG M50 electrode potentials (FACTS.md section 1) and the physics-based 0.1C pseudo-OCV curve
 * generator: cell voltage = U_PE - U_NE over the stoichiometry windows of a Performance Summary row,
 * with a graphite-silicon composite negative electrode. Internal. */
#ifndef BML_DATA_SYNTH_H
#define BML_DATA_SYNTH_H

#include <stddef.h>

#include "batteryml/status.h"

double bml__ocp_graphite(double x);  /* U_n(x), x graphite lithiation */
double bml__ocp_nmc811(double y);    /* U_p(y), y NMC811 lithiation */
double bml__ocp_silicon(double x);   /* mean of lithiation and delithiation branches, 0 < x < 1 */

/* The electrode state of one Performance Summary row (capacities in Ah, SoC fractions). */
typedef struct {
    double pe_cap, ne_cap, pe_lo, pe_hi, ne_lo, ne_hi, gr_frac;
} bml__electrode_state;

/* Discharge curve from 100 % to 0 % cell SoC at n points evenly spaced in charge: q (Ah, discharged)
 * and v (V). Half-cell states of charge map onto the measured stoichiometry ranges of the potentials
 * (graphite x 0.0313..1, NMC811 y 0.9059..0.2661); the composite electrode's potential is the one at
 * which graphite and silicon (split by gr_frac) together hold the charge. */
bml_status bml__synth_curve(const bml__electrode_state *e, size_t n, double *q, double *v);

/* The same for explicit stoichiometry windows of a graphite-only cell (x from x100 to x0, y from y100
 * to y0 over `capacity` Ah), e.g. Chen et al. 2020's LG M50. */
void bml__synth_curve_windows(double x100, double x0, double y100, double y0, double capacity, size_t n, double *q,
                              double *v);

#endif
