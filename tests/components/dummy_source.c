/* A data source added from one file (test_components): the Oxford summaries of one experiment, chosen by its
 * own typed option data.experiment_id. Registered with bml__source_register; nothing else in the library
 * names it. */
#include <stdlib.h>

#include "core/internal.h"
#include "run/study.h"

typedef struct {
    long experiment;
} opts;

static bml_status resolve(const bml_config *cfg, void **out) {
    opts *o = calloc(1, sizeof *o);
    if (!o) return bml__fail(BML_ERR_NOMEM, "out of memory");
    *out = o;
    o->experiment = 5;
    if (bml_config_get(cfg, "data.experiment_id")) return bml_config_get_long(cfg, "data.experiment_id", 1, 5, &o->experiment);
    return BML_OK;
}

static bml_status load(const void *p, const char *path, int targets_optional, const int *cancel, bml_dataset **out) {
    (void)cancel;
    (void)targets_optional;
    int id = (int)((const opts *)p)->experiment;
    bml_oxford_opts o = {.version = BML_OXFORD_OPTS_VERSION, .experiments = &id, .n_experiments = 1};
    return bml_dataset_load_oxford(path, &o, out);
}

static const bml_param_info params[] = {
    {"path", "string", "data/oxford-lgm50t", "the Oxford summaries"},
    {"experiment_id", "int", "5", "the one experiment to load"},
};

const bml__source_def *dummy_source_register(void) {
    static const bml__source_def def = {"dummy_oxford", "one Oxford experiment (a test's data source)", params, 2, resolve, load, free};
    return bml__source_register(&def);
}
