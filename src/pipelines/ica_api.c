/* The public face of the ICA code (batteryml/ica.h): validated parameters over pipelines/ica.h. */
#include <math.h>
#include <stdio.h>

#include "batteryml/ica.h"
#include "core/internal.h"
#include "pipelines/ica.h"

bml_ica_params bml_ica_defaults(void) {
    bml_ica_params p = BML_ICA_PARAMS_INIT;
    return p;
}

void bml_ica_params_init(bml_ica_params *p) { *p = bml_ica_defaults(); }

size_t bml_ica_n_features(const bml_ica_params *p) {
    if (BML__OPTS_CHECK("bml_ica_n_features", p, bml_ica_params, BML_ICA_PARAMS) != BML_OK) return 0;
    return p && p->num_peaks > 0 ? 4 * (size_t)p->num_peaks + 3 : 0;
}

size_t bml_ica_feature_name(const bml_ica_params *p, size_t j, char *buf, size_t size) {
    static const char *const what[4] = {"voltage_v", "height_ah_per_v", "width_v", "area_ah"};
    static const char *const tail[3] = {"total_area_ah", "n_peaks", "v_max_dqdv"};
    size_t nf = BML__OPTS_CHECK("bml_ica_feature_name", p, bml_ica_params, BML_ICA_PARAMS) == BML_OK ? bml_ica_n_features(p) : 0;
    int n;
    if (j >= nf) n = snprintf(buf, size, "%s", "");
    else if (j + 3 >= nf) n = snprintf(buf, size, "%s", tail[j + 3 - nf]);
    else n = snprintf(buf, size, "peak%zu_%s", j / 4 + 1, what[j % 4]);
    return n < 0 ? 0 : (size_t)n;
}

static bml_status check_params(const bml_ica_params *p) {
    if (!p) return bml__fail(BML_ERR_VALUE, "ICA: no parameters");
    BML__TRY(BML__OPTS_CHECK("bml_ica_features", p, bml_ica_params, BML_ICA_PARAMS));
    if (!isfinite(p->v_min) || !isfinite(p->v_max) || !(p->v_min < p->v_max))
        return bml__fail(BML_ERR_VALUE, "ICA: v_min (%g) must be below v_max (%g), both finite", p->v_min, p->v_max);
    if (p->resample < 8 || p->resample > 10000000)
        return bml__fail(BML_ERR_VALUE, "ICA: resample must be from 8 to 10000000, got %ld", p->resample);
    if (p->window < 3 || p->window % 2 == 0 || p->window > p->resample - 1)
        return bml__fail(BML_ERR_VALUE, "ICA: window must be odd, from 3 to resample - 1 (%ld), got %ld", p->resample - 1,
                         p->window);
    if (p->order < 0 || p->order > 10 || p->order >= p->window)
        return bml__fail(BML_ERR_VALUE, "ICA: order must be from 0 to 10 and below window (%ld), got %ld", p->window, p->order);
    const double crit[3] = {p->height, p->distance, p->prominence};
    static const char *const names[3] = {"height", "distance", "prominence"};
    for (int k = 0; k < 3; k++)
        if (!(crit[k] >= 0 && crit[k] <= 1e12))
            return bml__fail(BML_ERR_VALUE, "ICA: %s must be from 0 to 1e12, got %g", names[k], crit[k]);
    if (p->num_peaks < 1 || p->num_peaks > 100)
        return bml__fail(BML_ERR_VALUE, "ICA: num_peaks must be from 1 to 100, got %ld", p->num_peaks);
    return BML_OK;
}

bml_status bml_ica_features(const bml_ica_params *p, const double *q, const double *v, size_t n, double *features,
                            double *v_mid, double *dqdv) {
    BML__TRY(check_params(p));
    if (!features || (n && (!q || !v))) return bml__fail(BML_ERR_VALUE, "ICA: NULL curve or feature buffer");
    bml__ica_params ip = {p->v_min, p->v_max, (int)p->resample, (int)p->window, (int)p->order,
                          p->height, p->distance, p->prominence, (int)p->num_peaks};
    return bml__ica_features(&ip, q, v, n, features, v_mid, dqdv);
}
