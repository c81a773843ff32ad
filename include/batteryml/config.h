/* Experiment configuration composed Hydra-style (SPEC section 8).
 *
 * configs/config.yaml holds top-level keys and a `defaults` list naming one option per group
 * (data, pipeline, model, split, loss, tracking); configs/<group>/<option>.yaml holds the group's
 * keys. Overrides: `group=option` selects another file, `group.key=value` or `key=value` changes an
 * existing key, `+group.key=value` adds a new one. Unknown groups, options and keys are errors that
 * name the valid choices. The composed result is a flat, ordered list of dotted keys and string
 * values; it is written back as YAML (bml_config_to_yaml) and that file reproduces the run.
 *
 * Every config file is untrusted input: one YAML document holding a mapping; a key given twice, a
 * value written as a section (`seed: {a: 1}`) or a section as a value, aliases and lists of anything
 * but plain values are errors naming file, line, column and key. A key named `+name` in a file is a
 * key added to the schema (as `+group.key=value` on the command line); the resolved YAML marks added
 * keys so, which lets a resolved file be checked against the configuration directory. */
#ifndef BATTERYML_CONFIG_H
#define BATTERYML_CONFIG_H

#include "batteryml/export.h"

#include <stddef.h>

#include "batteryml/status.h"
#include "batteryml/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bml_config bml_config; /* opaque */

/* Compose configs/config.yaml (in config_dir) and its defaults with the overrides. Override values
 * must be valid UTF-8. On success *out is owned by the caller (bml_config_free); on failure *out is
 * NULL and the message names the file, line and column or the override. */
BML_API bml_status bml_config_compose(const char *config_dir, const char *const *overrides, size_t n_overrides,
                              bml_config **out);
/* Load a resolved configuration (a run's config.yaml) and apply overrides; `group=option` overrides
 * read group files from config_dir. With a config_dir the file is checked against it: it must hold
 * exactly the keys that composing config_dir with the file's `<group>.name` options gives, plus the
 * keys it marks as added (`+key`); an unknown key is an error naming file, line, column and key, a
 * missing one names the key. With config_dir NULL (no overrides that select groups) only the
 * structure is checked. On success *out is owned by the caller (bml_config_free). */
BML_API bml_status bml_config_load_resolved(const char *path, const char *config_dir, const char *const *overrides,
                                    size_t n_overrides, bml_config **out);
BML_API void bml_config_free(bml_config *c); /* NULL is harmless */

/* Value of a dotted key ("model.learning_rate"), or NULL. Valid while c lives. */
BML_API const char *bml_config_get(const bml_config *c, const char *key);
/* Set (or add: then written back as an added `+key`) a key; key and value are copied. A new key
 * that would be a value and a section at once, or that is not valid UTF-8, is an error. */
BML_API bml_status bml_config_set(bml_config *c, const char *key, const char *value);
/* An independent copy of c (*out owned by the caller). */
BML_API bml_status bml_config_copy(const bml_config *c, bml_config **out);
/* The keys directly below `section` ("model"), without the prefix and without `name`, as kv
 * pairs pointing into c. Returns the count; writes at most cap. */
BML_API size_t bml_config_section(const bml_config *c, const char *section, bml_kv *out, size_t cap);
BML_API size_t bml_config_count(const bml_config *c);
BML_API bml_kv bml_config_entry(const bml_config *c, size_t i);
/* The integer value of key, which must lie in [min, max] ("5", "5.0" and "5e0" are 5); the range is
 * checked before any conversion. Errors name the key and the value. */
BML_API bml_status bml_config_get_long(const bml_config *c, const char *key, long min, long max, long *out);
/* A non-empty list of integers in [min, max]: "5" or "[1, 5]". On success *out (n values) is owned by
 * the caller (free); an empty list, a non-integer or an out-of-range item is an error naming the key. */
BML_API bml_status bml_config_get_long_list(const bml_config *c, const char *key, long min, long max, long **out, size_t *n);
/* The configuration as YAML (malloc'ed; caller frees; NULL when out of memory). libyaml's emitter
 * writes it, quoting and escaping every value that needs it, so the file loads back to the same keys
 * and values (bml_config_load_resolved). */
BML_API char *bml_config_to_yaml(const bml_config *c);

/* The configuration folder of an installed library: <prefix>/share/batteryml/configs (cmake --install's
 * data folder) when this library is <prefix>/lib/libbatteryml.so.0 (the shared library's install location,
 * found from the loaded file itself, wherever the prefix was moved) or, for the static library, when the
 * program linking it is <prefix>/bin/<name> (the installed `batteryml`), and that folder holds config.yaml;
 * NULL otherwise (a build tree). Static storage, looked up once; thread-safe. The program and bindings that
 * load the shared library (the Python package) find the shipped configs and data with it. */
BML_API const char *bml_config_installed_dir(void);

#ifdef __cplusplus
}
#endif
#endif
