/* Small value types shared across the public API. */
#ifndef BATTERYML_TYPES_H
#define BATTERYML_TYPES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A key=value parameter, as given on the command line or in a config group ("learning_rate",
 * "0.05"). Lists are written in brackets: "[10, 40]". Borrowed: the library copies what it keeps. */
typedef struct {
    const char *key;
    const char *value;
} bml_kv;

/* Description of one parameter a registered component accepts (for `list` and error messages). */
typedef struct {
    const char *key;
    const char *type;  /* "int", "double", "bool", "string", "list" */
    const char *default_value;
    const char *help;
} bml_param_info;

#ifdef __cplusplus
}
#endif
#endif
