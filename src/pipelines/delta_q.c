/* ΔQ(V) features for cycle life from early cycles (Severson et al. 2019): one sample per cell of a cycle-life
 * dataset (bml_dataset_load_qdlin). ΔQ_{a-b}(V) = Q_a(V) - Q_b(V), the difference of two cycles' discharge
 * capacity curves on the common voltage grid. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"
#include "pipelines/delta_q.h"
#include "pipelines/pipeline_internal.h"

typedef struct {
    long cycle_a, cycle_b; /* BML__P_INT fields are long */
    char *features;
    long curve_step;
    long fade_first, fade_last;
    int log_target;
    double capacity_max_ratio; /* 0: every cycle's capacity taken as it is */
    char *kurtosis;            /* fisher | pearson */
} dq_params;

#define OFF_DQ(f) offsetof(dq_params, f)
static const bml__param_spec dq_specs[] = {
    {"cycle_a", BML__P_INT, offsetof(dq_params, cycle_a), "100", 1, 1e9, 0, "the later cycle of ΔQ = Q_a - Q_b"},
    {"cycle_b", BML__P_INT, offsetof(dq_params, cycle_b), "10", 1, 1e9, 0, "the earlier cycle of ΔQ = Q_a - Q_b"},
    {"features", BML__P_LIST, offsetof(dq_params, features), "[variance]", 1, 0, 0,
     "feature sets, any of: variance (log10 var ΔQ), discharge (log10 |min|, var, |skewness|, |kurtosis| of ΔQ, "
     "capacity at the first cycle, max capacity minus the first cycle's), fade (slope and intercept of capacity vs "
     "cycle over fade_first..fade_last), curve (ΔQ at every curve_step-th grid voltage)"},
    {"curve_step", BML__P_INT, offsetof(dq_params, curve_step), "10", 1, 1e9, 0, "grid points between the ΔQ values of 'curve'"},
    {"fade_first", BML__P_INT, offsetof(dq_params, fade_first), "91", 1, 1e9, 0, "first cycle of the capacity-fade fit"},
    {"fade_last", BML__P_INT, offsetof(dq_params, fade_last), "100", 1, 1e9, 0, "last cycle of the capacity-fade fit"},
    {"log_target", BML__P_BOOL, offsetof(dq_params, log_target), "true", 1, 0, 0,
     "target log10(cycle life) (named log10_cycle_life) instead of cycle life"},
    {"capacity_max_ratio", BML__P_DOUBLE, OFF_DQ(capacity_max_ratio), "0", 0, 1e6, 0,
     "0: every cycle's discharge capacity as it is; > 0: a cycle whose capacity is not finite, not positive, or above "
     "capacity_max_ratio x the median over the cell's cycles is corrupt: left out of the max capacity and the fade fit, "
     "named in the pipeline's note (1.5: a physical bound for these cells)"},
    {"kurtosis", BML__P_STRING, OFF_DQ(kurtosis), "fisher", 1, 0, 0,
     "kurtosis of ΔQ in the discharge set: fisher (excess, normal = 0: scipy's default) or pearson (normal = 3: "
     "MATLAB's kurtosis)"},
};

void bml__dq_moments(const double *x, size_t n, bml__dq_stats *out) {
    double mean = 0, mn = INFINITY;
    for (size_t i = 0; i < n; i++) {
        mean += x[i];
        if (x[i] < mn) mn = x[i];
    }
    mean /= (double)n;
    double m2 = 0, m3 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean, d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    m2 /= (double)n, m3 /= (double)n, m4 /= (double)n;
    out->min = mn;
    out->mean = mean;
    out->var = m2;
    out->skew = m2 > 0 ? m3 / pow(m2, 1.5) : NAN;
    out->kurt = m2 > 0 ? m4 / (m2 * m2) - 3.0 : NAN;
}

void bml__dq_linfit(const double *x, const double *y, size_t n, double *slope, double *intercept) {
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < n; i++) sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
    *slope = sxx > 0 ? sxy / sxx : NAN;
    *intercept = my - *slope * mx;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t bml__dq_valid_capacities(const double *cap, size_t n, double ratio, unsigned char *valid, double *median) {
    size_t m = 0, bad = 0;
    double med = NAN;
    if (ratio > 0) {
        double *v = bml__calloc(n ? n : 1, sizeof *v);
        if (!v) return (size_t)-1;
        for (size_t i = 0; i < n; i++)
            if (isfinite(cap[i])) v[m++] = cap[i];
        if (m) {
            qsort(v, m, sizeof *v, cmp_double);
            med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
        }
        free(v);
    }
    for (size_t i = 0; i < n; i++) {
        valid[i] = ratio <= 0 || (isfinite(cap[i]) && cap[i] > 0 && !(cap[i] > ratio * med));
        bad += !valid[i];
    }
    if (median) *median = med;
    return bad;
}

enum { FS_VARIANCE = 1, FS_DISCHARGE = 2, FS_FADE = 4, FS_CURVE = 8 };

static bml_status name_push(bml__strvec *names, const char *fmt, double v) {
    char *s = bml__sprintf(fmt, v);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    int rc = bml__strvec_find(names, s) >= 0 ? 0 : bml__strvec_push(names, s);
    free(s);
    return rc ? bml__fail(BML_ERR_NOMEM, "out of memory") : BML_OK;
}

static bml_status dq_transform(const void *vp, const bml_dataset *ds, bml_samples **out) {
    const dq_params *p = vp;
    *out = NULL;
    if (!ds->qdlin)
        return bml__fail(BML_ERR_VALUE, "pipeline delta_q needs a cycle-life dataset (data=qdlin: per-cell capacity matrices on a "
                                        "voltage grid, or data=cycler_life: the same from raw cycler files)");
    const bml__qdlin *q = ds->qdlin;
    bml__pipeline_set_note(NULL);
    int pearson = !strcmp(p->kurtosis, "pearson");
    if (!pearson && strcmp(p->kurtosis, "fisher"))
        return bml__fail(BML_ERR_VALUE, "pipeline delta_q: kurtosis='%s' (valid: fisher, pearson)", p->kurtosis);
    bml__strvec sets = {0};
    if (bml__parse_string_list(p->features, &sets) != 0 || sets.n == 0) {
        bml__strvec_free(&sets);
        return bml__fail(BML_ERR_VALUE, "pipeline delta_q: features='%s' is not a list of feature sets (variance, discharge, fade, curve)",
                         p->features);
    }
    int fs = 0;
    static const char *const set_names[] = {"variance", "discharge", "fade", "curve"};
    for (size_t k = 0; k < sets.n; k++) {
        int bit = 0;
        for (int j = 0; j < 4; j++)
            if (!strcmp(sets.items[k], set_names[j])) bit = 1 << j;
        if (!bit) {
            bml_status st = bml__fail(BML_ERR_VALUE, "pipeline delta_q: unknown feature set '%s' (valid: variance, discharge, fade, curve)",
                                      sets.items[k]);
            bml__strvec_free(&sets);
            return st;
        }
        fs |= bit;
    }
    bml__strvec_free(&sets);
    if (p->cycle_a == p->cycle_b) return bml__fail(BML_ERR_VALUE, "pipeline delta_q: cycle_a and cycle_b are both %ld", p->cycle_a);
    if (p->fade_last <= p->fade_first)
        return bml__fail(BML_ERR_VALUE, "pipeline delta_q: fade_last (%ld) must be after fade_first (%ld)", p->fade_last, p->fade_first);
    size_t P = q->n_points;
    /* feature names, in a fixed order; a feature asked for twice is computed once */
    bml__strvec names = {0};
    bml_status st = BML_OK;
    if (fs & FS_DISCHARGE) {
        st = name_push(&names, "log10_abs_min_dq", 0);
        if (st == BML_OK) st = name_push(&names, "log10_var_dq", 0);
        if (st == BML_OK) st = name_push(&names, "log10_abs_skew_dq", 0);
        if (st == BML_OK) st = name_push(&names, "log10_abs_kurt_dq", 0);
        if (st == BML_OK) st = name_push(&names, "q_first", 0);
        if (st == BML_OK) st = name_push(&names, "q_max_minus_first", 0);
    }
    if (st == BML_OK && (fs & FS_VARIANCE)) st = name_push(&names, "log10_var_dq", 0);
    if (st == BML_OK && (fs & FS_FADE)) {
        st = name_push(&names, "fade_slope", 0);
        if (st == BML_OK) st = name_push(&names, "fade_intercept", 0);
    }
    for (size_t i = 0; st == BML_OK && (fs & FS_CURVE) && i < P; i += (size_t)p->curve_step)
        st = name_push(&names, "dq@%.4fV", q->grid[i]);
    if (st != BML_OK) {
        bml__strvec_free(&names);
        return st;
    }
    size_t F = names.n, n = ds->n_cells;
    bml_samples *s = bml__samples_alloc(n, F, 1);
    double *dq = bml__calloc(P, sizeof *dq), *cyc = NULL, *cap = NULL, *capr = NULL;
    unsigned char *valid = NULL;
    size_t rows_cap = 0, n_corrupt = 0;
    bml__sb note = {0};
    const char **ids = bml__calloc(n ? n : 1, sizeof *ids), **stored = bml__calloc(n ? n : 1, sizeof *stored);
    if (!s || !dq || !ids || !stored) goto nomem;
    for (size_t j = 0; j < F; j++) {
        s->feature_names[j] = names.items[j];
        names.items[j] = NULL;
    }
    if (!(s->target_names[0] = bml__strdup(p->log_target ? "log10_cycle_life" : "cycle_life"))) goto nomem;
    for (size_t c = 0; c < n; c++) ids[c] = ds->cells[c].cell_id;
    if (n && bml__samples_store_cells(s, ids, n, stored) != BML_OK) goto nomem;
    size_t nf = (size_t)(p->fade_last - p->fade_first + 1);
    cyc = bml__calloc(nf, sizeof *cyc);
    cap = bml__calloc(nf, sizeof *cap);
    if (!cyc || !cap) goto nomem;
    for (size_t c = 0; c < n && st == BML_OK; c++) {
        const bml__cell *cell = &ds->cells[c];
        long first = q->first_cycle, last = first + (long)cell->n_rows - 1;
        long need_lo = p->cycle_a < p->cycle_b ? p->cycle_a : p->cycle_b, need_hi = p->cycle_a > p->cycle_b ? p->cycle_a : p->cycle_b;
        if (fs & FS_FADE) {
            if (p->fade_first < need_lo) need_lo = p->fade_first;
            if (p->fade_last > need_hi) need_hi = p->fade_last;
        }
        if (need_lo < first || need_hi > last) {
            st = bml__fail(BML_ERR_VALUE, "pipeline delta_q: %s has cycles %ld..%ld, the features need cycles %ld..%ld", cell->source,
                           first, last, need_lo, need_hi);
            break;
        }
        const double *qa = cell->values + (size_t)(p->cycle_a - first) * P, *qb = cell->values + (size_t)(p->cycle_b - first) * P;
        for (size_t i = 0; i < P; i++) dq[i] = qa[i] - qb[i];
        bml__dq_stats m;
        bml__dq_moments(dq, P, &m);
        /* discharge capacity of a cycle: its capacity at the grid's lowest voltage; corrupt ones left out */
        size_t lo = q->grid[P - 1] < q->grid[0] ? P - 1 : 0, R = cell->n_rows;
        if (R > rows_cap) {
            free(capr), free(valid);
            capr = bml__calloc(R, sizeof *capr);
            valid = bml__calloc(R, sizeof *valid);
            rows_cap = R;
            if (!capr || !valid) goto nomem;
        }
        for (size_t r = 0; r < R; r++) capr[r] = cell->values[r * P + lo];
        double med = NAN;
        size_t n_bad = bml__dq_valid_capacities(capr, R, p->capacity_max_ratio, valid, &med);
        if (n_bad == (size_t)-1) goto nomem;
        for (size_t r = 0; r < R && n_bad; r++)
            if (!valid[r]) {
                bml__sb_fmt(&note, "%s%s cycle %ld (%.4g Ah)", note.len ? "; " : "", cell->cell_id, first + (long)r, capr[r]);
                if (r == (size_t)(p->cycle_a - first) || r == (size_t)(p->cycle_b - first)) {
                    st = bml__fail(BML_ERR_VALUE,
                                   "pipeline delta_q: %s: cycle %ld, which ΔQ%ld-%ld uses, is corrupt (discharge capacity %g Ah, the "
                                   "cell's median %g Ah, capacity_max_ratio %g)",
                                   cell->source, first + (long)r, p->cycle_a, p->cycle_b, capr[r], med, p->capacity_max_ratio);
                    break;
                }
            }
        if (st != BML_OK) break;
        n_corrupt += n_bad;
        size_t r0 = 0; /* the first cycle: the first valid one */
        while (r0 + 1 < R && !valid[r0]) r0++;
        double q_first = capr[r0], q_max = q_first;
        for (size_t r = r0; r <= (size_t)(p->cycle_a - first) && r < R; r++)
            if (valid[r] && capr[r] > q_max) q_max = capr[r];
        double slope = NAN, icpt = NAN;
        if (fs & FS_FADE) {
            size_t k2 = 0;
            for (size_t k = 0; k < nf; k++) {
                size_t r = (size_t)(p->fade_first + (long)k - first);
                if (!valid[r]) continue;
                cyc[k2] = (double)(p->fade_first + (long)k);
                cap[k2++] = capr[r];
            }
            if (k2 >= 2) bml__dq_linfit(cyc, cap, k2, &slope, &icpt);
        }
        double *x = s->x + c * F;
        for (size_t j = 0; j < F; j++) {
            const char *nm = s->feature_names[j];
            double v = NAN;
            if (!strcmp(nm, "log10_abs_min_dq")) v = log10(fabs(m.min));
            else if (!strcmp(nm, "log10_var_dq")) v = log10(m.var);
            else if (!strcmp(nm, "log10_abs_skew_dq")) v = log10(fabs(m.skew));
            else if (!strcmp(nm, "log10_abs_kurt_dq")) v = log10(fabs(pearson ? m.kurt + 3.0 : m.kurt));
            else if (!strcmp(nm, "q_first")) v = q_first;
            else if (!strcmp(nm, "q_max_minus_first")) v = q_max - q_first;
            else if (!strcmp(nm, "fade_slope")) v = slope;
            else if (!strcmp(nm, "fade_intercept")) v = icpt;
            x[j] = v;
        }
        if (fs & FS_CURVE) {
            size_t j0 = F - (P + (size_t)p->curve_step - 1) / (size_t)p->curve_step;
            for (size_t i = 0, j = j0; i < P; i += (size_t)p->curve_step, j++) x[j] = dq[i];
        }
        for (size_t j = 0; j < F; j++)
            if (!isfinite(x[j]))
                st = bml__fail(BML_ERR_VALUE, "pipeline delta_q: %s: feature %s is not finite (ΔQ%ld-%ld constant or zero?)", cell->source,
                               s->feature_names[j], p->cycle_a, p->cycle_b);
        double life = q->life[c];
        s->y[c] = isnan(life) ? NAN : p->log_target ? log10(life) : life;
        bml_sample_meta *mt = &s->meta[c];
        mt->experiment = cell->experiment;
        mt->cell = stored[c];
        mt->temperature_c = cell->temperature_c;
        mt->set_index = 0;
        mt->cycle = (double)p->cycle_a;
        mt->days = NAN;
        mt->throughput_ah = NAN;
        mt->line = 0;
    }
    free(dq);
    free(cyc);
    free(cap);
    free(capr);
    free(valid);
    free(ids);
    free(stored);
    bml__strvec_free(&names);
    if (st == BML_OK && n_corrupt) {
        char *nt = bml__sprintf("delta_q: %zu corrupt cycle%s left out of the capacity features (capacity_max_ratio %g): %s", n_corrupt,
                                n_corrupt == 1 ? "" : "s", p->capacity_max_ratio, note.buf ? note.buf : "");
        if (!nt || note.nomem) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        bml__pipeline_set_note(nt);
    }
    free(note.buf);
    if (st != BML_OK) {
        bml_samples_free(s);
        return st;
    }
    *out = s;
    return BML_OK;
nomem:
    free(dq);
    free(cyc);
    free(cap);
    free(capr);
    free(valid);
    free(note.buf);
    free(ids);
    free(stored);
    bml__strvec_free(&names);
    bml_samples_free(s);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
}

const bml__pipeline_def bml__pipeline_delta_q = {
    "delta_q",
    "one sample per cell of a cycle-life dataset (data=qdlin or cycler_life): statistics of ΔQ_a-b(V) = Q_a(V) - Q_b(V) (Severson et al. 2019), "
    "capacity fade, or the ΔQ curve; target log10(cycle life)",
    dq_specs, sizeof dq_specs / sizeof *dq_specs, sizeof(dq_params), dq_transform, NULL, NULL};
