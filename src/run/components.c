/* Every kind of component in one shape (include/batteryml/components.h): each kind's own registry, seen from
 * the layer that sees them all. */
#include <string.h>

#include "batteryml/batteryml.h"
#include "batteryml/components.h"
#include "core/internal.h"
#include "models/train_params.h"
#include "run/study.h"
#include "track/track.h"
#include "uncertainty/registry.h"

static const char *const KIND_NAMES[BML_KIND_COUNT][2] = {
    {"models", "model"},   {"pipelines", "pipeline"}, {"splits", "split"},     {"data", "data"},
    {"formats", "format"}, {"trackers", "tracker"},   {"losses", "loss"},      {"uncertainty", "uncertainty"},
};

const char *bml_component_kind_name(bml_component_kind kind) {
    return (unsigned)kind < BML_KIND_COUNT ? KIND_NAMES[kind][0] : NULL;
}

bml_status bml_component_kind_parse(const char *name, bml_component_kind *out) {
    for (int k = 0; name && k < BML_KIND_COUNT; k++)
        if (!strcmp(name, KIND_NAMES[k][0]) || !strcmp(name, KIND_NAMES[k][1])) {
            *out = (bml_component_kind)k;
            return BML_OK;
        }
    return bml__fail(BML_ERR_VALUE, "unknown kind of component '%s' (valid: models, pipelines, splits, data, formats, trackers, "
                                    "losses, uncertainty)", name ? name : "(null)");
}

/* the cycler formats: registered ones are numbered from 1 (0 is BML_CYCLER_AUTO) */
static const char *format_name(size_t i) { return bml_cycler_format_name((bml_cycler_format)(i + 1)); }

size_t bml_component_count(bml_component_kind kind) {
    switch (kind) {
    case BML_KIND_MODEL: return bml_model_registry_count();
    case BML_KIND_PIPELINE: return bml_pipeline_registry_count();
    case BML_KIND_SPLIT: return bml_split_registry_count();
    case BML_KIND_DATA: return bml__source_count();
    case BML_KIND_FORMAT: return bml_cycler_format_count();
    case BML_KIND_TRACKER: return bml__tracker_count();
    case BML_KIND_LOSS: return bml__loss_registry_count();
    case BML_KIND_UNCERTAINTY: return bml__uncertainty_registry_count();
    default: return 0;
    }
}

const char *bml_component_name(bml_component_kind kind, size_t i) {
    if (i >= bml_component_count(kind)) return NULL;
    switch (kind) {
    case BML_KIND_MODEL: return bml_model_registry_name(i);
    case BML_KIND_PIPELINE: return bml_pipeline_registry_name(i);
    case BML_KIND_SPLIT: return bml_split_registry_name(i);
    case BML_KIND_DATA: return bml__source_at(i)->name;
    case BML_KIND_FORMAT: return format_name(i);
    case BML_KIND_TRACKER: return bml__tracker_at(i)->name;
    case BML_KIND_LOSS: return bml__loss_registry_name(i);
    case BML_KIND_UNCERTAINTY: return bml__uncertainty_registry_name(i);
    default: return NULL;
    }
}

const char *bml_component_describe(bml_component_kind kind, size_t i) {
    if (i >= bml_component_count(kind)) return NULL;
    switch (kind) {
    case BML_KIND_MODEL: return bml_model_registry_describe(i);
    case BML_KIND_PIPELINE: return bml_pipeline_registry_describe(i);
    case BML_KIND_SPLIT: return bml_split_registry_describe(i);
    case BML_KIND_DATA: return bml__source_at(i)->help;
    case BML_KIND_FORMAT: return bml_cycler_format_describe((bml_cycler_format)(i + 1));
    case BML_KIND_TRACKER: return bml__tracker_at(i)->help;
    case BML_KIND_LOSS: return bml__loss_registry_describe(i);
    case BML_KIND_UNCERTAINTY: return bml__uncertainty_registry_describe(i);
    default: return NULL;
    }
}

size_t bml_component_params(bml_component_kind kind, size_t i, const bml_param_info **params) {
    *params = NULL;
    if (i >= bml_component_count(kind)) return 0;
    switch (kind) {
    case BML_KIND_MODEL: return bml_model_registry_params(i, params);
    case BML_KIND_PIPELINE: return bml_pipeline_registry_params(i, params);
    case BML_KIND_SPLIT: return bml_split_registry_params(i, params);
    case BML_KIND_DATA: *params = bml__source_at(i)->params; return bml__source_at(i)->n_params;
    case BML_KIND_TRACKER: *params = bml__tracker_at(i)->params; return bml__tracker_at(i)->n_params;
    case BML_KIND_LOSS: return bml__loss_registry_params(i, params);
    case BML_KIND_UNCERTAINTY: return bml__uncertainty_registry_params(i, params);
    default: return 0;
    }
}
