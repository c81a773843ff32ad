/* Every kind of component the library registers, in one shape: models, pipelines, splits, data sources,
 * cycler formats, trackers, losses and uncertainty methods. Each is a table of definitions (name, help line,
 * parameters) that `batteryml list KIND` and batteryml.list_components() print and that error messages name
 * the valid choices from. All static storage, read-only: any thread may call these at any time. */
#ifndef BATTERYML_COMPONENTS_H
#define BATTERYML_COMPONENTS_H

#include <stddef.h>

#include "batteryml/export.h"
#include "batteryml/status.h"
#include "batteryml/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BML_KIND_MODEL = 0,   /* model.name */
    BML_KIND_PIPELINE,    /* pipeline.name */
    BML_KIND_SPLIT,       /* split.name */
    BML_KIND_DATA,        /* data.name: data sources */
    BML_KIND_FORMAT,      /* data.format, `structure format=`: cycler file formats */
    BML_KIND_TRACKER,     /* tracking.name */
    BML_KIND_LOSS,        /* loss.name */
    BML_KIND_UNCERTAINTY, /* uncertainty.method */
    BML_KIND_COUNT
} bml_component_kind;

/* "models", "pipelines", "splits", "data", "formats", "trackers", "losses", "uncertainty"; NULL out of range */
BML_API const char *bml_component_kind_name(bml_component_kind kind);
/* the plural above or its singular ("model", "format", "tracker", ...); unknown: BML_ERR_VALUE naming the kinds */
BML_API bml_status bml_component_kind_parse(const char *name, bml_component_kind *out);

BML_API size_t bml_component_count(bml_component_kind kind);
/* NULL when i or kind is out of range */
BML_API const char *bml_component_name(bml_component_kind kind, size_t i);
BML_API const char *bml_component_describe(bml_component_kind kind, size_t i);
/* the component's parameters (*params: static storage); returns their count (0: none, or out of range) */
BML_API size_t bml_component_params(bml_component_kind kind, size_t i, const bml_param_info **params);

#ifdef __cplusplus
}
#endif
#endif
