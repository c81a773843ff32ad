/* What samples carry to and from files: the preprocessing saved beside a model (preprocess.json) and the
 * samples as CSV (see sample_io.h). */
#include "pipelines/sample_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

void bml__preprocess_release(bml__preprocess *p) {
    free(p->impute);
    p->impute = NULL;
    bml_scaler_release(&p->scaler);
}

/* numbers as "%.17g" (cJSON's own printing may round the last digit): a saved model's preprocessing reads
 * back bit-identically, so `batteryml predict` and a model loaded in Python see the inputs its fit saw */
static cJSON *num_array(const double *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, bml__json_exact_number(v[i]));
    return a;
}

cJSON *bml__preprocess_json(const bml__preprocess *p, size_t F) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "format_version", 1);
    cJSON_AddItemToObject(o, "impute_mean", p->impute ? num_array(p->impute, F) : cJSON_CreateNull());
    if (p->scaler.mean) {
        cJSON *sc = cJSON_AddObjectToObject(o, "scaler");
        cJSON_AddItemToObject(sc, "mean", num_array(p->scaler.mean, F));
        cJSON_AddItemToObject(sc, "scale", num_array(p->scaler.scale, F));
    } else {
        cJSON_AddNullToObject(o, "scaler");
    }
    return o;
}

/* an array of exactly F finite numbers (a scale must also be non-zero) */
static bml_status parse_nums(const cJSON *a, size_t F, const char *path, const char *what, int nonzero, double **out) {
    *out = NULL;
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != F)
        return bml__fail(BML_ERR_PARSE, "%s: '%s' must be an array of %zu numbers", path, what, F);
    *out = bml__calloc(F ? F : 1, sizeof **out);
    if (!*out) return bml__fail(BML_ERR_NOMEM, "out of memory");
    size_t j = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (nonzero && e->valuedouble == 0)) {
            free(*out);
            *out = NULL;
            return bml__fail(BML_ERR_PARSE, "%s: %s[%zu]: must be a finite%s number", path, what, j, nonzero ? ", non-zero" : "");
        }
        (*out)[j++] = e->valuedouble;
    }
    return BML_OK;
}

bml_status bml__preprocess_parse(const cJSON *j, size_t F, const char *path, bml__preprocess *p) {
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(j)) return bml__fail(BML_ERR_PARSE, "%s: expected a JSON object", path);
    const cJSON *imp = cJSON_GetObjectItemCaseSensitive(j, "impute_mean");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scaler");
    if (!imp || !sc) return bml__fail(BML_ERR_PARSE, "%s: needs 'impute_mean' and 'scaler' (null when not used)", path);
    bml_status st = BML_OK;
    if (!cJSON_IsNull(imp)) st = parse_nums(imp, F, path, "impute_mean", 0, &p->impute);
    if (st == BML_OK && !cJSON_IsNull(sc)) {
        if (!cJSON_IsObject(sc)) {
            st = bml__fail(BML_ERR_PARSE, "%s: 'scaler' must be an object with mean and scale, or null", path);
        } else {
            p->scaler.n_features = F;
            st = parse_nums(cJSON_GetObjectItemCaseSensitive(sc, "mean"), F, path, "scaler.mean", 0, &p->scaler.mean);
            if (st == BML_OK)
                st = parse_nums(cJSON_GetObjectItemCaseSensitive(sc, "scale"), F, path, "scaler.scale", 1, &p->scaler.scale);
        }
    }
    if (st != BML_OK) bml__preprocess_release(p);
    return st;
}

void bml__preprocess_apply(const bml__preprocess *p, double *x, size_t n, size_t F) {
    if (p->impute)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < F; j++)
                if (isnan(x[i * F + j])) x[i * F + j] = p->impute[j];
    if (p->scaler.mean) bml_scaler_transform(&p->scaler, x, n, F);
}

/* the public face of preprocess.json (batteryml/pipeline.h) */
bml_status bml_preprocess_save(const char *dir, size_t n_features, const double *impute_mean, const double *mean,
                               const double *scale) {
    if (!dir) return bml__fail(BML_ERR_VALUE, "bml_preprocess_save: no directory");
    if (!mean != !scale) return bml__fail(BML_ERR_VALUE, "bml_preprocess_save: give the scaler's mean and scale, or neither");
    for (size_t j = 0; j < n_features; j++)
        if ((impute_mean && !isfinite(impute_mean[j])) || (mean && (!isfinite(mean[j]) || !isfinite(scale[j]) || scale[j] == 0)))
            return bml__fail(BML_ERR_VALUE, "bml_preprocess_save: feature %zu: the imputed value, mean and scale must be finite, the scale non-zero", j);
    if (!bml__is_dir(dir)) return bml__fail(BML_ERR_NOT_FOUND, "%s: no such directory", dir);
    /* the struct only borrows the caller's arrays: nothing of it is released */
    bml__preprocess pre = {(double *)impute_mean, {n_features, (double *)mean, (double *)scale}};
    cJSON *pj = bml__preprocess_json(&pre, n_features);
    char *path = bml__path_join(dir, "preprocess.json");
    bml_status st = pj && path ? bml__json_write_sealed(path, pj) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(path);
    cJSON_Delete(pj);
    return st;
}

bml_status bml_preprocess_load(const char *dir, size_t n_features, double *impute_mean, double *mean, double *scale,
                               int *has_impute, int *has_scaler) {
    *has_impute = *has_scaler = 0;
    char *path = dir ? bml__path_join(dir, "preprocess.json") : NULL;
    if (!path) return bml__fail(dir ? BML_ERR_NOMEM : BML_ERR_VALUE, dir ? "out of memory" : "bml_preprocess_load: no directory");
    if (!bml__is_file(path)) {
        bml_status nf = bml__fail(BML_ERR_NOT_FOUND, "%s: no such file", path);
        free(path);
        return nf;
    }
    cJSON *doc = NULL;
    bml__preprocess pre = {0};
    bml_status st = bml__json_read_sealed(path, &doc);
    if (st == BML_OK) st = bml__preprocess_parse(doc, n_features, path, &pre);
    if (st == BML_OK) {
        if ((*has_impute = pre.impute != NULL)) memcpy(impute_mean, pre.impute, n_features * sizeof *impute_mean);
        if ((*has_scaler = pre.scaler.mean != NULL)) {
            memcpy(mean, pre.scaler.mean, n_features * sizeof *mean);
            memcpy(scale, pre.scaler.scale, n_features * sizeof *scale);
        }
    }
    bml__preprocess_release(&pre);
    cJSON_Delete(doc);
    free(path);
    return st;
}

/* ------------------------------------------------------------------ CSV */
void bml__sb_sample_meta_header(bml__sb *b) { bml__sb_str(b, "experiment,cell,temperature_c,set_index,cycle,days,throughput_ah"); }

void bml__sb_sample_meta(bml__sb *b, const bml_sample_meta *m) {
    char t[64];
    snprintf(t, sizeof t, "%d,", m->experiment);
    bml__sb_str(b, t);
    bml__sb_csv(b, m->cell);
    bml__sb_str(b, ",");
    bml__sb_num(b, m->temperature_c);
    snprintf(t, sizeof t, ",%d,", m->set_index);
    bml__sb_str(b, t);
    bml__sb_num(b, m->cycle);
    bml__sb_str(b, ",");
    bml__sb_num(b, m->days);
    bml__sb_str(b, ",");
    bml__sb_num(b, m->throughput_ah);
}

bml_status bml_samples_write_csv(const bml_samples *s, const char *path) {
    if (s->seq_len) { /* one row per real step of each sequence, with the step's meta */
        bml_samples *flat = NULL;
        BML__TRY(bml_samples_flatten(s, &flat));
        bml_status st = bml_samples_write_csv(flat, path);
        bml_samples_free(flat);
        return st;
    }
    bml__sb b = {0};
    bml__sb_sample_meta_header(&b);
    for (size_t j = 0; j < s->n_features; j++) bml__sb_str(&b, ","), bml__sb_csv(&b, s->feature_names[j]);
    for (size_t k = 0; k < s->n_targets; k++) bml__sb_str(&b, ","), bml__sb_csv(&b, s->target_names[k]);
    bml__sb_str(&b, "\n");
    for (size_t i = 0; i < s->n; i++) {
        bml__sb_sample_meta(&b, &s->meta[i]);
        for (size_t j = 0; j < s->n_features; j++) bml__sb_str(&b, ","), bml__sb_num(&b, s->x[i * s->n_features + j]);
        for (size_t k = 0; k < s->n_targets; k++) bml__sb_str(&b, ","), bml__sb_num(&b, s->y[i * s->n_targets + k]);
        bml__sb_str(&b, "\n");
    }
    bml_status st = b.nomem ? bml__fail(BML_ERR_NOMEM, "out of memory") : bml__write_file_atomic(path, b.buf ? b.buf : "", b.len);
    free(b.buf);
    return st;
}
