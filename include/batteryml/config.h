/* Experiment configuration composed Hydra-style (SPEC section 8).
 *
 * configs/config.yaml holds top-level keys and a `defaults` list naming one option per group
 * (data, pipeline, model, split, loss, tracking); configs/<group>/<option>.yaml holds the group's
 * keys. Overrides: `group=option` selects another file, `group.key=value` or `key=value` changes an
 * existing key, `+group.key=value` adds a new one. Unknown groups, options and keys are errors that
 * name the valid choices. The composed result is a flat, ordered list of dotted keys and string
 * values; it is written back as YAML (bml_config_to_yaml) and that file reproduces the run. */
#ifndef BATTERYML_CONFIG_H
#define BATTERYML_CONFIG_H

#include <stddef.h>

#include "batteryml/status.h"
#include "batteryml/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bml_config bml_config; /* opaque */

/* Compose configs/config.yaml (in config_dir) and its defaults with the overrides. */
bml_status bml_config_compose(const char *config_dir, const char *const *overrides, size_t n_overrides,
                              bml_config **out);
/* Load a resolved configuration (a run's config.yaml) and apply overrides; `group=option` overrides
 * read group files from config_dir (may be NULL when none are given). */
bml_status bml_config_load_resolved(const char *path, const char *config_dir, const char *const *overrides,
                                    size_t n_overrides, bml_config **out);
void bml_config_free(bml_config *c); /* NULL is harmless */

/* Value of a dotted key ("model.learning_rate"), or NULL. Valid while c lives. */
const char *bml_config_get(const bml_config *c, const char *key);
/* Set (or add) a key. */
bml_status bml_config_set(bml_config *c, const char *key, const char *value);
/* An independent copy of c (*out owned by the caller). */
bml_status bml_config_copy(const bml_config *c, bml_config **out);
/* The keys directly below `section` ("model"), without the prefix and without `name`, as kv
 * pairs pointing into c. Returns the count; writes at most cap. */
size_t bml_config_section(const bml_config *c, const char *section, bml_kv *out, size_t cap);
size_t bml_config_count(const bml_config *c);
bml_kv bml_config_entry(const bml_config *c, size_t i);
/* The configuration as YAML (malloc'ed; caller frees). */
char *bml_config_to_yaml(const bml_config *c);

#ifdef __cplusplus
}
#endif
#endif
