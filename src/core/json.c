/* JSON helpers: exact numbers, and sealed documents with their checksum (see json.h). */
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "core/internal.h"

uint64_t bml__checksum(const void *data, size_t len) { return (uint64_t)XXH64(data, len, 0); }

cJSON *bml__json_exact_number(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}


/* ------------------------------------------------------------------ sealed JSON */
static const char KEY[] = "\"xxh64\"";
#define KEY_LEN (sizeof KEY - 1)
#define HEX_LEN 16

static int json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* XXH64 of text with the HEX_LEN digits at `digits` read as '0' */
static uint64_t sealed_sum(const char *text, size_t len, size_t digits) {
    XXH64_state_t s;
    static const char zeros[HEX_LEN + 1] = "0000000000000000";
    XXH64_reset(&s, 0);
    XXH64_update(&s, text, digits);
    XXH64_update(&s, zeros, HEX_LEN);
    XXH64_update(&s, text + digits + HEX_LEN, len - digits - HEX_LEN);
    return (uint64_t)XXH64_digest(&s);
}

char *bml__json_seal(const cJSON *doc) {
    BML__ASSERT(cJSON_IsObject(doc) && !cJSON_GetObjectItemCaseSensitive(doc, "xxh64"));
    char *txt = cJSON_Print(doc);
    if (!txt) return NULL;
    size_t n = strlen(txt);
    while (n && txt[n - 1] != '}') n--; /* the object's closing brace, then what precedes it */
    BML__ASSERT(n > 0);
    n--;
    while (n && json_space(txt[n - 1])) n--;
    const char *sep = doc->child ? ",\n\t" : "\n\t";
    char *out = bml__sprintf("%.*s%s%s:\t\"0000000000000000\"\n}\n", (int)n, txt, sep, KEY);
    free(txt);
    if (!out) return NULL;
    size_t len = strlen(out), digits = len - HEX_LEN - 4; /* before "\"\n}\n" */
    char hex[HEX_LEN + 1];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)sealed_sum(out, len, digits));
    memcpy(out + digits, hex, HEX_LEN);
    return out;
}

bml_status bml__json_write_sealed(const char *path, const cJSON *doc) {
    char *txt = bml__json_seal(doc);
    if (!txt) return bml__fail(BML_ERR_NOMEM, "out of memory");
    bml_status st = bml__write_file_atomic(path, txt, strlen(txt));
    free(txt);
    return st;
}

bml_status bml__json_verify(const char *path, const char *text, size_t len) {
    size_t k = len;
    for (size_t i = len >= KEY_LEN ? len - KEY_LEN + 1 : 0; i-- > 0;)
        if (!memcmp(text + i, KEY, KEY_LEN)) {
            k = i;
            break;
        }
    if (k == len)
        return bml__fail(BML_ERR_PARSE,
                         "%s: no xxh64 checksum: the file is corrupt or truncated, or was written by an older batteryml "
                         "(re-run the study to re-save the model)",
                         path);
    size_t i = k + KEY_LEN, digits;
    while (i < len && json_space(text[i])) i++;
    int ok = i < len && text[i++] == ':';
    while (ok && i < len && json_space(text[i])) i++;
    ok = ok && i < len && text[i++] == '"';
    digits = i;
    for (size_t j = 0; ok && j < HEX_LEN; j++, i++) ok = i < len && ((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f'));
    ok = ok && i < len && text[i++] == '"';
    while (ok && i < len && json_space(text[i])) i++;
    ok = ok && i < len && text[i++] == '}';
    while (ok && i < len && json_space(text[i])) i++;
    if (!ok || i != len)
        return bml__fail(BML_ERR_PARSE,
                         "%s: the xxh64 checksum member (byte offset %zu) is damaged or not the document's last member: the "
                         "file is corrupt or truncated",
                         path, k);
    char hex[HEX_LEN + 1];
    memcpy(hex, text + digits, HEX_LEN);
    hex[HEX_LEN] = 0;
    unsigned long long stored = strtoull(hex, NULL, 16), computed = sealed_sum(text, len, digits);
    if (stored != computed)
        return bml__fail(BML_ERR_PARSE, "%s: checksum mismatch (stored %016llx, computed %016llx): the file is corrupt or truncated", path,
                         stored, computed);
    return BML_OK;
}

bml_status bml__json_read_sealed(const char *path, cJSON **doc) {
    *doc = NULL;
    char *txt = NULL;
    size_t len = 0;
    BML__TRY(bml__read_file(path, &txt, &len));
    bml_status st = bml__json_verify(path, txt, len);
    if (st == BML_OK) {
        *doc = cJSON_ParseWithLength(txt, len);
        if (!cJSON_IsObject(*doc)) {
            cJSON_Delete(*doc);
            *doc = NULL;
            st = bml__fail(BML_ERR_PARSE, "%s: not a valid JSON object", path);
        }
    }
    free(txt);
    return st;
}
