/* Pipeline registry: create by name, list, transform. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/pipeline_internal.h"

static const bml__pipeline_def *const defs[] = {&bml__pipeline_summary_set, &bml__pipeline_latent_ode_seq,
                                               &bml__pipeline_ica_peaks, &bml__pipeline_table,
                                               &bml__pipeline_delta_q};
#define N_DEFS (sizeof defs / sizeof *defs)

struct bml_pipeline {
    const bml__pipeline_def *def;
    void *params;
};

size_t bml_pipeline_registry_count(void) { return N_DEFS; }
const char *bml_pipeline_registry_name(size_t i) { return i < N_DEFS ? defs[i]->name : NULL; }
const char *bml_pipeline_registry_describe(size_t i) { return i < N_DEFS ? defs[i]->description : NULL; }

/* The public descriptions of every pipeline's parameters: written once, before the first reader
 * (pthread_once), read-only after, so that any number of threads may list them at once. */
#define MAX_SPECS 24
static bml_param_info info[N_DEFS][MAX_SPECS];
static pthread_once_t info_once = PTHREAD_ONCE_INIT;

static void info_build(void) {
    for (size_t i = 0; i < N_DEFS; i++) {
        BML__ASSERT(defs[i]->n_specs <= MAX_SPECS);
        bml__params_info(defs[i]->specs, defs[i]->n_specs, info[i]);
    }
}

size_t bml_pipeline_registry_params(size_t i, const bml_param_info **params) {
    if (i >= N_DEFS) return 0;
    pthread_once(&info_once, info_build);
    *params = info[i];
    return defs[i]->n_specs;
}

bml_status bml_pipeline_create(const char *name, const bml_kv *kv, size_t n_kv, bml_pipeline **out) {
    *out = NULL;
    const bml__pipeline_def *def = NULL;
    for (size_t i = 0; i < N_DEFS; i++)
        if (name && !strcmp(defs[i]->name, name)) def = defs[i];
    if (!def) {
        char *names = bml__registry_names(N_DEFS, bml_pipeline_registry_name);
        bml_status st = bml__fail(BML_ERR_NOT_FOUND, "unknown pipeline '%s' (valid: %s)", name ? name : "(none)",
                                  names ? names : "?");
        free(names);
        return st;
    }
    bml_pipeline *p = calloc(1, sizeof *p);
    void *params = calloc(1, def->params_size);
    if (!p || !params) {
        free(p);
        free(params);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    p->def = def;
    p->params = params;
    char what[64];
    snprintf(what, sizeof what, "pipeline %s", def->name);
    bml_status st = bml__params_parse(what, def->specs, def->n_specs, kv, n_kv, params);
    if (st != BML_OK) {
        bml_pipeline_free(p);
        return st;
    }
    *out = p;
    return BML_OK;
}

const char *bml__pipeline_extra(const bml_pipeline *p, const bml_dataset *ds, const char *cell, int experiment, char **text) {
    *text = NULL;
    if (!p->def->extra_csv) return NULL;
    *text = p->def->extra_csv(p->params, ds, cell, experiment);
    return p->def->extra_name;
}

int bml__pipeline_has_param(const char *name, const char *key) {
    for (size_t i = 0; i < N_DEFS; i++)
        if (!strcmp(defs[i]->name, name))
            for (size_t k = 0; k < defs[i]->n_specs; k++)
                if (!strcmp(defs[i]->specs[k].key, key)) return 1;
    return 0;
}

void bml_pipeline_free(bml_pipeline *p) {
    if (!p) return;
    bml__params_free(p->def->specs, p->def->n_specs, p->params);
    free(p->params);
    free(p);
}

const char *bml_pipeline_name(const bml_pipeline *p) { return p->def->name; }

bml_status bml_pipeline_transform(const bml_pipeline *p, const bml_dataset *ds, bml_samples **out) {
    BML__TRY(p->def->transform(p->params, ds, out));
    /* values no model can take (beyond float range, denormals) are refused here, naming column and row,
     * before a model sees them */
    char *who = bml__sprintf("pipeline %s", p->def->name);
    bml_status st = who ? bml__samples_check_range(*out, who, 1, ds) : bml__fail(BML_ERR_NOMEM, "out of memory");
    free(who);
    if (st != BML_OK) {
        bml_samples_free(*out);
        *out = NULL;
    }
    return st;
}
