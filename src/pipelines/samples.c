/* Sample containers, the standard scaler and mean imputation. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/pipeline_internal.h"

bml_samples *bml__samples_alloc(size_t n, size_t nf, size_t no) {
    bml_samples *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n = n;
    s->n_features = nf;
    s->n_targets = no;
    s->x = bml__calloc(n * nf > 0 ? n * nf : 1, sizeof *s->x);
    s->y = bml__calloc(n * no > 0 ? n * no : 1, sizeof *s->y);
    s->meta = bml__calloc(n ? n : 1, sizeof *s->meta);
    s->feature_names = bml__calloc(nf ? nf : 1, sizeof *s->feature_names);
    s->target_names = bml__calloc(no ? no : 1, sizeof *s->target_names);
    if (!s->x || !s->y || !s->meta || !s->feature_names || !s->target_names) {
        bml_samples_free(s);
        return NULL;
    }
    return s;
}

bml_samples *bml__samples_alloc_seq(size_t n, size_t T, size_t nf, size_t no) {
    bml_samples *s = bml__samples_alloc(n * T, nf, no); /* x, y sized (n*T, .) */
    if (!s) return NULL;
    s->n = n;
    s->seq_len = T;
    s->mask = bml__calloc(n * T > 0 ? n * T : 1, sizeof *s->mask);
    s->t = bml__calloc(n * T > 0 ? n * T : 1, sizeof *s->t);
    s->step_meta = bml__calloc(n * T > 0 ? n * T : 1, sizeof *s->step_meta);
    if (!s->mask || !s->t || !s->step_meta) {
        bml_samples_free(s);
        return NULL;
    }
    return s;
}

void bml_samples_free(bml_samples *s) {
    if (!s) return;
    free(s->mask);
    free(s->t);
    free(s->step_meta);
    for (size_t j = 0; s->feature_names && j < s->n_features; j++) free(s->feature_names[j]);
    for (size_t j = 0; s->target_names && j < s->n_targets; j++) free(s->target_names[j]);
    free(s->feature_names);
    free(s->target_names);
    free(s->x);
    free(s->y);
    free(s->meta);
    free(s->cell_ids);
    free(s);
}

bml_status bml__samples_store_cells(bml_samples *s, const char *const *ids, size_t n, const char **out) {
    BML__ASSERT(!s->cell_ids);
    size_t size = 1;
    for (size_t k = 0; k < n; k++) size += strlen(ids[k]) + 1;
    char *text = malloc(size);
    if (!text) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t off = 0;
    for (size_t k = 0; k < n; k++) {
        size_t l = strlen(ids[k]) + 1;
        memcpy(text + off, ids[k], l);
        out[k] = text + off;
        off += l;
    }
    text[off] = 0; /* one more, empty string: the cell of padded sequence steps */
    s->cell_ids = text;
    s->cell_ids_size = size;
    return BML_OK;
}

bml_status bml__samples_copy_cells(bml_samples *dst, const bml_samples *src) {
    BML__ASSERT(!dst->cell_ids);
    if (!src->cell_ids) return BML_OK;
    if (!(dst->cell_ids = malloc(src->cell_ids_size))) return bml__fail(BML_ERR_NOMEM, "out of memory");
    memcpy(dst->cell_ids, src->cell_ids, src->cell_ids_size);
    dst->cell_ids_size = src->cell_ids_size;
    return BML_OK;
}

void bml__meta_copy(const bml_samples *dst, const bml_samples *src, bml_sample_meta *to, const bml_sample_meta *from) {
    *to = *from;
    /* addresses compared as integers: `cell` may point anywhere (a caller's own string is kept as it is) */
    uintptr_t p = (uintptr_t)from->cell, base = (uintptr_t)src->cell_ids;
    if (from->cell && src->cell_ids && p >= base && p < base + src->cell_ids_size) {
        BML__ASSERT(dst->cell_ids && dst->cell_ids_size == src->cell_ids_size);
        to->cell = dst->cell_ids + (p - base);
    }
}

bml_status bml_samples_subset(const bml_samples *s, const size_t *idx, size_t n, bml_samples **out) {
    *out = NULL;
    size_t T = s->seq_len ? s->seq_len : 1;
    bml_samples *r = s->seq_len ? bml__samples_alloc_seq(n, s->seq_len, s->n_features, s->n_targets)
                                : bml__samples_alloc(n, s->n_features, s->n_targets);
    if (!r) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < s->n_features; j++)
        if (!(r->feature_names[j] = bml__strdup(s->feature_names[j]))) goto nomem;
    for (size_t j = 0; j < s->n_targets; j++)
        if (!(r->target_names[j] = bml__strdup(s->target_names[j]))) goto nomem;
    if (bml__samples_copy_cells(r, s) != BML_OK) goto nomem;
    for (size_t i = 0; i < n; i++) {
        BML__ASSERT(idx[i] < s->n);
        memcpy(r->x + i * T * s->n_features, s->x + idx[i] * T * s->n_features, T * s->n_features * sizeof *r->x);
        memcpy(r->y + i * T * s->n_targets, s->y + idx[i] * T * s->n_targets, T * s->n_targets * sizeof *r->y);
        bml__meta_copy(r, s, &r->meta[i], &s->meta[idx[i]]);
        if (s->seq_len) {
            memcpy(r->mask + i * T, s->mask + idx[i] * T, T * sizeof *r->mask);
            memcpy(r->t + i * T, s->t + idx[i] * T, T * sizeof *r->t);
            for (size_t k = 0; k < T; k++) bml__meta_copy(r, s, &r->step_meta[i * T + k], &s->step_meta[idx[i] * T + k]);
        }
    }
    *out = r;
    return BML_OK;
nomem:
    bml_samples_free(r);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
}

bml_status bml_samples_data_rows(const bml_samples *s, size_t **rows, size_t *n_rows) {
    size_t T = s->seq_len ? s->seq_len : 1, m = 0;
    *rows = bml__calloc(s->n * T + 1, sizeof **rows);
    if (!*rows) return bml__fail(BML_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n * T; i++)
        if (!s->seq_len || s->mask[i] != 0) (*rows)[m++] = i;
    *n_rows = m;
    return BML_OK;
}

bml_status bml_samples_flatten(const bml_samples *s, bml_samples **out) {
    *out = NULL;
    size_t *rows = NULL, m = 0;
    BML__TRY(bml_samples_data_rows(s, &rows, &m));
    bml_samples *r = bml__samples_alloc(m, s->n_features, s->n_targets);
    if (!r) {
        free(rows);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t j = 0; j < s->n_features; j++)
        if (!(r->feature_names[j] = bml__strdup(s->feature_names[j]))) goto nomem;
    for (size_t j = 0; j < s->n_targets; j++)
        if (!(r->target_names[j] = bml__strdup(s->target_names[j]))) goto nomem;
    if (bml__samples_copy_cells(r, s) != BML_OK) goto nomem;
    for (size_t i = 0; i < m; i++) {
        memcpy(r->x + i * s->n_features, s->x + rows[i] * s->n_features, s->n_features * sizeof *r->x);
        memcpy(r->y + i * s->n_targets, s->y + rows[i] * s->n_targets, s->n_targets * sizeof *r->y);
        bml__meta_copy(r, s, &r->meta[i], s->seq_len ? &s->step_meta[rows[i]] : &s->meta[rows[i]]);
    }
    free(rows);
    *out = r;
    return BML_OK;
nomem:
    free(rows);
    bml_samples_free(r);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
}

bml_status bml_scaler_fit(bml_scaler *sc, const bml_samples *s, const size_t *rows, size_t n_rows) {
    size_t F = s->n_features;
    sc->n_features = F;
    sc->mean = bml__calloc(F ? F : 1, sizeof *sc->mean);
    sc->scale = bml__calloc(F ? F : 1, sizeof *sc->scale);
    if (!sc->mean || !sc->scale) {
        bml_scaler_release(sc);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    for (size_t j = 0; j < F; j++) {
        /* two-pass mean and variance over the non-missing values */
        double sum = 0;
        size_t cnt = 0;
        for (size_t r = 0; r < n_rows; r++) {
            double v = s->x[rows[r] * F + j];
            if (!isnan(v)) {
                sum += v;
                cnt++;
            }
        }
        double mean = cnt ? sum / (double)cnt : 0.0, ss = 0;
        for (size_t r = 0; r < n_rows; r++) {
            double v = s->x[rows[r] * F + j];
            if (!isnan(v)) ss += (v - mean) * (v - mean);
        }
        double sd = cnt ? sqrt(ss / (double)cnt) : 0.0;
        sc->mean[j] = mean;
        sc->scale[j] = sd > 0 ? sd : 1.0;
    }
    return BML_OK;
}

void bml_scaler_transform(const bml_scaler *sc, double *x, size_t n, size_t F) {
    BML__ASSERT(F == sc->n_features);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < F; j++) x[i * F + j] = (x[i * F + j] - sc->mean[j]) / sc->scale[j];
}

void bml_scaler_release(bml_scaler *sc) {
    if (!sc) return;
    free(sc->mean);
    free(sc->scale);
    sc->mean = sc->scale = NULL;
}

bml_status bml_samples_impute_mean(bml_samples *s, const size_t *rows, size_t n_rows) {
    size_t F = s->n_features;
    for (size_t j = 0; j < F; j++) {
        double sum = 0;
        size_t cnt = 0;
        for (size_t r = 0; r < n_rows; r++) {
            double v = s->x[rows[r] * F + j];
            if (!isnan(v)) {
                sum += v;
                cnt++;
            }
        }
        double fill = cnt ? sum / (double)cnt : 0.0;
        size_t total = s->n * (s->seq_len ? s->seq_len : 1);
        for (size_t i = 0; i < total; i++)
            if (isnan(s->x[i * F + j])) s->x[i * F + j] = fill;
    }
    return BML_OK;
}

/* NULL: v can be handed to a single-precision model as it is (NaN counts: missing); otherwise why not */
static const char *out_of_float_range(double v) {
    if (isnan(v) || v == 0) return NULL;
    double a = fabs(v);
    if (isinf(a)) return "infinite";
    if (a > FLT_MAX) return "beyond the single-precision range the models compute in (|v| <= 3.4e+38)";
    if (a < FLT_MIN) return "below the single-precision normal range (|v| >= 1.2e-38, or 0): a denormal";
    return NULL;
}

bml_status bml__samples_check_range(const bml_samples *s, const char *who, int check_targets, const bml_dataset *ds) {
    if (!s) return BML_OK;
    size_t T = s->seq_len ? s->seq_len : 1, F = s->n_features, O = s->n_targets;
    for (size_t r = 0; r < s->n * T; r++) {
        if (s->mask && s->mask[r] == 0) continue; /* padding */
        for (size_t c = 0; c < F + (check_targets ? O : 0); c++) {
            double v = c < F ? s->x[r * F + c] : s->y[r * O + (c - F)];
            const char *why = out_of_float_range(v);
            if (!why) continue;
            const bml_sample_meta *m = s->step_meta ? &s->step_meta[r] : s->meta ? &s->meta[r / T] : NULL;
            const char *name = c < F ? (s->feature_names ? s->feature_names[c] : NULL)
                                     : (s->target_names ? s->target_names[c - F] : NULL);
            const char *kind = c < F ? "feature" : "target";
            char step[48] = "";
            if (s->seq_len) snprintf(step, sizeof step, ", step %zu", r % T);
            if (!m || !m->cell || !*m->cell)
                return bml__fail(BML_ERR_VALUE, "%s: %s '%s' of row %zu%s is %.9g: %s", who, kind, name ? name : "?",
                                 r / T, step, v, why);
            /* the file the cell came from, where the dataset is at hand */
            const char *source = NULL;
            for (size_t i = 0; ds && i < bml_dataset_n_cells(ds) && !source; i++) {
                bml_cell_view cv;
                bml_dataset_cell(ds, i, &cv);
                if (cv.experiment == m->experiment && cv.cell_id && !strcmp(cv.cell_id, m->cell)) source = cv.source;
            }
            char ex[24] = "";
            if (m->experiment) snprintf(ex, sizeof ex, "E%d-", m->experiment);
            if (source && m->line)
                return bml__fail(BML_ERR_VALUE, "%s: %s:%zu: %s '%s' (cell %s%s, sample %zu%s) is %.9g: %s", who, source,
                                 m->line, kind, name ? name : "?", ex, m->cell, r / T, step, v, why);
            if (m->line)
                return bml__fail(BML_ERR_VALUE, "%s: %s '%s' of cell %s%s, line %zu (sample %zu%s) is %.9g: %s", who, kind,
                                 name ? name : "?", ex, m->cell, m->line, r / T, step, v, why);
            return bml__fail(BML_ERR_VALUE, "%s: %s '%s' of cell %s%s (sample %zu%s) is %.9g: %s", who, kind,
                             name ? name : "?", ex, m->cell, r / T, step, v, why);
        }
    }
    return BML_OK;
}

bml_status bml_samples_check_range(const bml_samples *s, const char *who, int check_targets) {
    return bml__samples_check_range(s, who, check_targets, NULL);
}
