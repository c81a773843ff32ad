/* The registry of interval methods (uncertainty.method): name and help line, in conformal.c. Internal. */
#ifndef BML_UNCERTAINTY_REGISTRY_H
#define BML_UNCERTAINTY_REGISTRY_H

#include <stddef.h>

#include "batteryml/types.h"

size_t bml__uncertainty_registry_count(void);
const char *bml__uncertainty_registry_name(size_t i);
const char *bml__uncertainty_registry_describe(size_t i);
size_t bml__uncertainty_registry_params(size_t i, const bml_param_info **params);

#endif
