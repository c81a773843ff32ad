/* `ica_peaks` (SPEC 4.2): one sample per voltage curve, the incremental-capacity features of ica.h;
 * results cached on disk under a hash (xxHash XXH3) of the curve's content, the pipeline's name, its
 * parameters and a format version. A cache entry that does not verify is recomputed, never trusted. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "data/dataset_internal.h"
#include "batteryml/ica.h"
#include "pipelines/ica.h"
#include "pipelines/pipeline_internal.h"

#define ICA_CACHE_VERSION "ica_peaks/1"
#define ICA_MAGIC "BMLICA1"

typedef struct {
    char *target, *cache_dir;
    double v_min, v_max, height, distance, prominence;
    long resample, window, order, num_peaks;
    int cache, require_targets;
} ica_params;

#define OFF(f) offsetof(ica_params, f)
static const bml__param_spec specs[] = {
    {"target", BML__P_STRING, OFF(target), "soh", 1, 0, 0, "soh | capacity | modes (LAM_NE, LAM_PE, LLI)"},
    {"v_min", BML__P_DOUBLE, OFF(v_min), "3.0", 1, 0, 0, "lower end of the voltage window (V)"},
    {"v_max", BML__P_DOUBLE, OFF(v_max), "4.2", 1, 0, 0, "upper end of the voltage window (V)"},
    {"resample", BML__P_INT, OFF(resample), "500", 8, 1e7, 0, "points of the even voltage grid"},
    {"window", BML__P_INT, OFF(window), "51", 3, 1e6, 0, "Savitzky-Golay window (odd)"},
    {"order", BML__P_INT, OFF(order), "3", 0, 10, 0, "Savitzky-Golay polynomial order"},
    {"height", BML__P_DOUBLE, OFF(height), "0.01", 0, 1e12, 0, "minimum peak height (Ah/V)"},
    {"distance", BML__P_DOUBLE, OFF(distance), "200", 0, 1e12, 0, "minimum distance between peaks (samples)"},
    {"prominence", BML__P_DOUBLE, OFF(prominence), "0.01", 0, 1e12, 0, "minimum peak prominence (Ah/V)"},
    {"num_peaks", BML__P_INT, OFF(num_peaks), "3", 1, 100, 0, "features for this many highest peaks"},
    {"cache", BML__P_BOOL, OFF(cache), "true", 1, 0, 0, "cache the features on disk"},
    {"cache_dir", BML__P_STRING, OFF(cache_dir), ".bml-cache/ica", 1, 0, 0, "cache folder"},
    {"require_targets", BML__P_BOOL, OFF(require_targets), "true", 1, 0, 0, "fail on a curve without its target"},
};

static _Thread_local char *g_note; /* owned; replaced by the next run on this thread */
const char *bml_pipeline_last_note(void) { return g_note ? g_note : ""; }
void bml__pipeline_set_note(char *note) {
    free(g_note);
    g_note = note;
}

static uint64_t cache_key(const ica_params *p, const bml__curve *c) {
    XXH3_state_t *s = XXH3_createState();
    if (!s) return 0;
    char par[512];
    int n = snprintf(par, sizeof par, "%s|%.17g|%.17g|%ld|%ld|%ld|%.17g|%.17g|%.17g|%ld", ICA_CACHE_VERSION, p->v_min, p->v_max,
                     p->resample, p->window, p->order, p->height, p->distance, p->prominence, p->num_peaks);
    XXH3_64bits_reset(s);
    XXH3_64bits_update(s, par, (size_t)n);
    XXH3_64bits_update(s, &c->n, sizeof c->n);
    XXH3_64bits_update(s, c->q, c->n * sizeof *c->q);
    XXH3_64bits_update(s, c->v, c->n * sizeof *c->v);
    uint64_t h = XXH3_64bits_digest(s);
    XXH3_freeState(s);
    return h;
}

/* 1: features read and verified */
static int cache_get(const char *dir, uint64_t key, double *f, size_t nf) {
    char *path = bml__sprintf("%s/%016llx.bin", dir, (unsigned long long)key);
    FILE *fp = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!fp) return 0;
    char magic[8];
    uint64_t k = 0, sum = 0;
    uint32_t n = 0;
    int ok = fread(magic, 1, 8, fp) == 8 && !memcmp(magic, ICA_MAGIC, 8) && fread(&k, 8, 1, fp) == 1 && k == key &&
             fread(&n, 4, 1, fp) == 1 && n == nf && fread(f, sizeof *f, nf, fp) == nf && fread(&sum, 8, 1, fp) == 1 &&
             sum == XXH3_64bits(f, nf * sizeof *f);
    fclose(fp);
    return ok;
}

static void cache_put(const char *dir, uint64_t key, const double *f, size_t nf) {
    char *path = bml__sprintf("%s/%016llx.bin", dir, (unsigned long long)key);
    size_t len = 8 + 8 + 4 + nf * sizeof *f + 8;
    char *buf = malloc(len);
    if (!buf || !path) {
        free(buf);
        free(path);
        return;
    }
    uint32_t n = (uint32_t)nf;
    uint64_t sum = XXH3_64bits(f, nf * sizeof *f);
    memcpy(buf, ICA_MAGIC, 8);
    memcpy(buf + 8, &key, 8);
    memcpy(buf + 16, &n, 4);
    memcpy(buf + 20, f, nf * sizeof *f);
    memcpy(buf + 20 + nf * sizeof *f, &sum, 8);
    bml__write_file_atomic(path, buf, len); /* a failed write only costs a recomputation later */
    free(buf);
    free(path);
}

static bml_status transform(const void *vp, const bml_dataset *ds, bml_samples **out) {
    const ica_params *p = vp;
    *out = NULL;
    free(g_note);
    g_note = NULL;
    if (!ds->n_curves)
        return bml__fail(BML_ERR_VALUE, "pipeline ica_peaks needs voltage curves (data=oxford_curves, basytec or curve_table)");
    size_t O = !strcmp(p->target, "modes") ? 3 : 1;
    if (strcmp(p->target, "soh") && strcmp(p->target, "capacity") && strcmp(p->target, "modes"))
        return bml__fail(BML_ERR_VALUE, "pipeline ica_peaks: unknown target '%s' (valid: soh, capacity, modes)", p->target);
    if (p->window % 2 == 0) return bml__fail(BML_ERR_VALUE, "pipeline ica_peaks: window must be odd, got %ld", p->window);
    bml__ica_params ip = {p->v_min, p->v_max, (int)p->resample, (int)p->window, (int)p->order,
                          p->height, p->distance, p->prominence, (int)p->num_peaks};
    size_t F = bml__ica_n_features(&ip);
    bml_samples *s = bml__samples_alloc(ds->n_curves, F, O);
    if (!s) return bml__fail(BML_ERR_NOMEM, "out of memory");
    const bml_ica_params names = {.version = BML_ICA_PARAMS_VERSION, .num_peaks = p->num_peaks}; /* the public API names the features */
    for (size_t j = 0; j < F; j++) {
        char name[64];
        bml_ica_feature_name(&names, j, name, sizeof name);
        s->feature_names[j] = bml__strdup(name);
    }
    if (O == 3) {
        s->target_names[0] = bml__strdup("LAM_NE"), s->target_names[1] = bml__strdup("LAM_PE"), s->target_names[2] = bml__strdup("LLI");
    } else {
        s->target_names[0] = bml__strdup(!strcmp(p->target, "soh") ? "soh" : "capacity_ah");
    }
    for (size_t j = 0; j < F; j++)
        if (!s->feature_names[j]) goto nomem;
    for (size_t k = 0; k < O; k++)
        if (!s->target_names[k]) goto nomem;
    const char **ids = bml__calloc(ds->n_curves, sizeof *ids), **stored = bml__calloc(ds->n_curves, sizeof *stored);
    if (!ids || !stored) {
        free(ids);
        free(stored);
        goto nomem;
    }
    for (size_t i = 0; i < ds->n_curves; i++) ids[i] = ds->curves[i].cell_id;
    bml_status st = bml__samples_store_cells(s, ids, ds->n_curves, stored);
    free(ids);
    if (st != BML_OK) {
        free(stored);
        goto nomem;
    }
    for (size_t i = 0; i < ds->n_curves; i++) s->meta[i].cell = stored[i];
    free(stored);
    if (p->cache && bml__mkdir_p(p->cache_dir) != BML_OK) goto fail;
    /* the cached curves, then the others' features on the thread budget (the same numbers at any count),
     * then those into the cache */
    size_t hits = 0, misses = 0, N = ds->n_curves;
    uint64_t *keys = bml__calloc(N, sizeof *keys);
    size_t *todo = bml__calloc(N, sizeof *todo), *lens = bml__calloc(N, sizeof *lens);
    const double **qs = bml__calloc(N, sizeof *qs), **vs = bml__calloc(N, sizeof *vs);
    double *fx = bml__calloc(N * F, sizeof *fx);
    if (!keys || !todo || !lens || !qs || !vs || !fx) {
        free(keys), free(todo), free(lens), free(qs), free(vs), free(fx);
        goto nomem;
    }
    for (size_t i = 0; i < N; i++) {
        const bml__curve *c = &ds->curves[i];
        keys[i] = p->cache ? cache_key(p, c) : 0;
        if (p->cache && cache_get(p->cache_dir, keys[i], s->x + i * F, F)) {
            hits++;
        } else {
            qs[misses] = c->q, vs[misses] = c->v, lens[misses] = c->n;
            todo[misses++] = i;
        }
    }
    size_t bad = 0;
    st = bml__ica_features_many(&ip, misses, qs, vs, lens, fx, 0, &bad);
    for (size_t k = 0; k < misses && st == BML_OK; k++) {
        memcpy(s->x + todo[k] * F, fx + k * F, F * sizeof *fx);
        if (p->cache) cache_put(p->cache_dir, keys[todo[k]], fx + k * F, F);
    }
    size_t bad_curve = st != BML_OK ? todo[bad] : 0;
    free(keys), free(todo), free(lens), free(qs), free(vs), free(fx);
    if (st != BML_OK) {
        bml_samples_free(s);
        return bml__fail_prefix(st, "%s", ds->curves[bad_curve].source);
    }
    for (size_t i = 0; i < N; i++) {
        const bml__curve *c = &ds->curves[i];
        bml_sample_meta *m = &s->meta[i];
        m->experiment = c->experiment;
        m->temperature_c = c->temperature_c;
        m->set_index = c->rpt;
        m->cycle = NAN;
        m->days = c->days;
        m->throughput_ah = c->throughput_ah;
        double y[3] = {c->soh, c->capacity_ah, NAN};
        if (O == 3) y[0] = c->lam_ne, y[1] = c->lam_pe, y[2] = c->lli;
        else if (!strcmp(p->target, "capacity")) y[0] = c->capacity_ah;
        for (size_t k = 0; k < O; k++) {
            if (!isfinite(y[k]) && p->require_targets) {
                st = bml__fail(BML_ERR_VALUE, "%s: no %s target for this curve (is its Performance Summary row there?)",
                               c->source, s->target_names[k]);
                bml_samples_free(s);
                return st;
            }
            s->y[i * O + k] = y[k];
        }
    }
    if (p->cache) g_note = bml__sprintf("feature cache %s: %zu hits, %zu misses", p->cache_dir, hits, misses); /* NULL: no note */
    *out = s;
    return BML_OK;
nomem:
    bml_samples_free(s);
    return bml__fail(BML_ERR_NOMEM, "out of memory");
fail:
    bml_samples_free(s);
    return bml__fail_prefix(BML_ERR_IO, "feature cache");
}

/* dqdv.csv (the figures' dQ/dV curves): every curve of `cell` in `experiment`, with the detected peaks:
 * cell, rpt, voltage_v, dqdv_ah_per_v, is_peak. NULL when out of memory. */
static char *dqdv_csv(const void *params, const bml_dataset *ds, const char *cell, int experiment) {
    const ica_params *p = params;
    bml__ica_params ip = {p->v_min, p->v_max, (int)p->resample, (int)p->window, (int)p->order,
                          p->height, p->distance, p->prominence, (int)p->num_peaks};
    size_t R = (size_t)ip.resample;
    double *vm = calloc(R, sizeof *vm), *dq = calloc(R, sizeof *dq), *feat = calloc(bml__ica_n_features(&ip), sizeof *feat);
    size_t *pk = calloc(R, sizeof *pk);
    bml__sb b = {0};
    if (!vm || !dq || !feat || !pk) goto done;
    bml__sb_str(&b, "cell,rpt,voltage_v,dqdv_ah_per_v,is_peak\n");
    for (size_t i = 0; i < bml_dataset_n_curves(ds); i++) {
        const bml__curve *c = &ds->curves[i];
        if (c->experiment != experiment || strcmp(c->cell_id, cell)) continue;
        if (bml__ica_features(&ip, c->q, c->v, c->n, feat, vm, dq) != BML_OK) continue;
        size_t np = bml__find_peaks(dq, R - 1, ip.height, ip.distance, ip.prominence, pk, R);
        for (size_t k = 0; k + 1 < R; k++) {
            int is_peak = 0;
            for (size_t j = 0; j < np; j++) is_peak |= pk[j] == k;
            bml__sb_fmt(&b, "%s,%d,%.6f,%.6g,%d\n", c->cell_id, c->rpt, vm[k], dq[k], is_peak);
        }
    }
done:
    free(vm), free(dq), free(feat), free(pk);
    if (b.nomem || !vm || !dq || !feat || !pk) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}

const bml__pipeline_def bml__pipeline_ica_peaks = {
    "ica_peaks", "one sample per voltage curve: incremental-capacity (dQ/dV) peak features, cached on disk (SPEC 4.2)",
    specs, sizeof specs / sizeof *specs, sizeof(ica_params), transform, "dqdv.csv", dqdv_csv};
