/* JSON helpers every layer uses: exact numbers, and sealed documents (a checksum the file carries). Internal.
 *
 * Sealed JSON documents (model.json, preprocess.json): the object's text ends with a member
 * "xxh64": "<16 lowercase hex digits>", the XXH64 (seed 0) of every byte of the file with those 16
 * digits read as '0'. Every byte counts, whitespace included, so any changed bit is caught. */
#ifndef BML_CORE_JSON_H
#define BML_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "batteryml/status.h"

/* v as a JSON number that reads back bit-identically ("%.17g"; cJSON's own printing may round in the last
 * digit), null when not finite. Owned by the caller (or the object it is added to). */
cJSON *bml__json_exact_number(double v);

/* XXH64 (seed 0) of a buffer, as used by every saved-model checksum. */
uint64_t bml__checksum(const void *data, size_t len);

/* Text of the object doc (which must not hold an "xxh64" member) sealed with its checksum as the last
 * member; malloc'ed, owned by the caller; NULL without memory. */
char *bml__json_seal(const cJSON *doc);
/* bml__json_seal written atomically to path. doc is borrowed. */
bml_status bml__json_write_sealed(const char *path, const cJSON *doc);
/* Verify the checksum of a sealed document text (len bytes) read from path (for messages). */
bml_status bml__json_verify(const char *path, const char *text, size_t len);
/* Read path, verify its checksum, parse it: *doc owned by the caller (cJSON_Delete), NULL on failure.
 * The "xxh64" member stays in the parsed document. */
bml_status bml__json_read_sealed(const char *path, cJSON **doc);

#endif
