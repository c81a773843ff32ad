/* Status codes and error messages of the BatteryML-C library.
 *
 * Every fallible library function returns a bml_status: BML_OK (0) on success, a negative code
 * otherwise. The failing call leaves a one-line, human-readable message (naming file, line and column
 * for data errors) that bml_last_error() returns until the next failing call on the same thread (the
 * pointer is valid until then; copy the text to keep it). Messages have no length limit.
 * The library never calls exit() and never prints errors itself. */
#ifndef BATTERYML_STATUS_H
#define BATTERYML_STATUS_H

#include "batteryml/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, code, description) */
#define BML_STATUS_LIST(X)                                               \
    X(BML_OK, 0, "success")                                              \
    X(BML_ERR_IO, -1, "input/output error")                              \
    X(BML_ERR_PARSE, -2, "malformed input")                              \
    X(BML_ERR_SCHEMA, -3, "missing or unexpected columns")               \
    X(BML_ERR_VALUE, -4, "invalid value")                                \
    X(BML_ERR_NOMEM, -5, "out of memory")                                \
    X(BML_ERR_NOT_FOUND, -6, "not found")                                \
    X(BML_ERR_BACKEND, -7, "backend library failure")                    \
    X(BML_ERR_STATE, -8, "object not in the required state")             \
    X(BML_ERR_EMPTY, -9, "no data")                                      \
    X(BML_ERR_CANCELLED, -10, "cancelled")

typedef enum {
#define BML__STATUS_ENUM(name, code, desc) name = code,
    BML_STATUS_LIST(BML__STATUS_ENUM)
#undef BML__STATUS_ENUM
} bml_status;

/* Symbolic name of a status ("BML_ERR_PARSE"); static storage. */
BML_API const char *bml_status_name(bml_status s);
/* Generic description of a status; static storage. */
BML_API const char *bml_status_describe(bml_status s);
/* Message left by the last failing call on this thread ("" if none). Valid until the next
 * failing call on this thread; copy it to keep it. */
BML_API const char *bml_last_error(void);

/* Free memory the library handed over with "caller frees" (a malloc'ed string or array such as the
 * metrics JSON of bml_run_predict): for callers that do not share its C allocator's free (bindings). NULL
 * is harmless. */
BML_API void bml_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
