/* Saved-model files: the binary checkpoint (see checkpoint.h). */
#include "models/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define MAGIC "BMLCKPT" /* 8 bytes with its NUL */
#define SUM_BYTES 8     /* the trailing XXH64 */


/* ------------------------------------------------------------------ writing */
static unsigned char *put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) *p++ = (unsigned char)(v >> (8 * i));
    return p;
}
static unsigned char *put_str(unsigned char *p, const char *s, size_t l) {
    p = put_u32(p, (uint32_t)l);
    memcpy(p, s, l);
    return p + l;
}

bml_status bml__ckpt_write(const char *path, const char *model, const char *params_json, const bml__ckpt_tensor *t,
                           size_t nt) {
    /* the exact size first: every length must fit its u32 field */
    size_t lm = strlen(model), lp = strlen(params_json), size = 8 + 4 + 4 + lm + 4 + lp + 4 + SUM_BYTES;
    int too_big = lm > UINT32_MAX || lp > UINT32_MAX || nt > UINT32_MAX;
    for (size_t i = 0; i < nt && !too_big; i++) {
        size_t ln = strlen(t[i].name);
        too_big = ln > UINT32_MAX || t[i].n > UINT32_MAX || t[i].n > (SIZE_MAX - size) / 8;
        size += 12 + ln + 4 * t[i].n;
    }
    if (too_big) return bml__fail(BML_ERR_VALUE, "%s: a name or tensor is too large for the checkpoint format", path);
    unsigned char *buf = malloc(size), *p = buf;
    if (!buf) return bml__fail(BML_ERR_NOMEM, "out of memory");
    memcpy(p, MAGIC, 8);
    p = put_u32(p + 8, BML_CKPT_VERSION);
    p = put_str(p, model, lm);
    p = put_str(p, params_json, lp);
    p = put_u32(p, (uint32_t)nt);
    for (size_t i = 0; i < nt; i++) {
        p = put_str(p, t[i].name, strlen(t[i].name));
        p = put_u32(p, 1);
        p = put_u32(p, (uint32_t)t[i].n);
        for (size_t k = 0; k < t[i].n; k++) {
            uint32_t u;
            memcpy(&u, &t[i].data[k], 4);
            p = put_u32(p, u);
        }
    }
    uint64_t sum = bml__checksum(buf, size - SUM_BYTES);
    p = put_u32(p, (uint32_t)sum);
    p = put_u32(p, (uint32_t)(sum >> 32));
    BML__ASSERT((size_t)(p - buf) == size);
    bml_status st = bml__write_file_atomic(path, (const char *)buf, size);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------ reading */
typedef struct {
    const unsigned char *p;
    size_t end, off; /* end: where the checksum starts */
    const char *path;
} cursor;

static uint32_t u32_at(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* n more bytes of `what` must lie before the checksum */
static bml_status need(const cursor *c, size_t n, const char *what) {
    if (n <= c->end - c->off) return BML_OK;
    return bml__fail(BML_ERR_PARSE, "%s: damaged: %s at byte offset %zu needs %zu bytes, only %zu remain before the checksum",
                     c->path, what, c->off, n, c->end - c->off);
}
static bml_status get_u32(cursor *c, const char *what, uint32_t *v) {
    BML__TRY(need(c, 4, what));
    *v = u32_at(c->p + c->off);
    c->off += 4;
    return BML_OK;
}
/* a length-prefixed string: *s points into the file (not NUL-terminated), *len its length */
static bml_status get_str(cursor *c, const char *what, const char **s, uint32_t *len) {
    BML__TRY(get_u32(c, what, len));
    BML__TRY(need(c, *len, what));
    *s = (const char *)c->p + c->off;
    c->off += *len;
    return BML_OK;
}

bml_status bml__ckpt_check_finite(const char *what, const bml__ckpt_tensor *t, size_t nt) {
    for (size_t i = 0; i < nt; i++)
        for (size_t k = 0; k < t[i].n; k++)
            if (!isfinite(t[i].data[k]))
                return bml__fail(BML_ERR_VALUE, "%s: tensor '%s' value %zu is not finite (%g)", what, t[i].name, k,
                                 (double)t[i].data[k]);
    return BML_OK;
}

/* the header and the checksum of the whole file, before any field is trusted */
static bml_status check_file(const char *path, const unsigned char *b, size_t len) {
    if (len < 8)
        return bml__fail(BML_ERR_PARSE, "%s: truncated: the file ends at byte %zu while reading the magic number (bytes 0-7)",
                         path, len);
    if (memcmp(b, MAGIC, 8) != 0) return bml__fail(BML_ERR_PARSE, "%s: not a BatteryML checkpoint (bad magic)", path);
    if (len < 12)
        return bml__fail(BML_ERR_PARSE, "%s: truncated: the file ends at byte %zu while reading the format version (bytes 8-11)",
                         path, len);
    uint32_t ver = u32_at(b + 8);
    if (ver == 1)
        return bml__fail(BML_ERR_VALUE,
                         "%s: checkpoint format version 1 carries no checksum and this program reads version %u only: "
                         "re-train the model (re-run the study) to re-save it",
                         path, BML_CKPT_VERSION);
    if (ver != BML_CKPT_VERSION)
        return bml__fail(BML_ERR_VALUE, "%s: checkpoint format version %u, this program reads version %u", path, ver,
                         BML_CKPT_VERSION);
    if (len < 12 + SUM_BYTES)
        return bml__fail(BML_ERR_PARSE, "%s: truncated: the file ends at byte %zu, before the checksum (the last 8 bytes)", path,
                         len);
    uint64_t stored = (uint64_t)u32_at(b + len - 8) | (uint64_t)u32_at(b + len - 4) << 32;
    uint64_t computed = bml__checksum(b, len - SUM_BYTES);
    if (stored != computed)
        return bml__fail(BML_ERR_PARSE, "%s: checksum mismatch (stored %016llx, computed %016llx): the file is corrupt or truncated",
                         path, (unsigned long long)stored, (unsigned long long)computed);
    return BML_OK;
}

static bml_status read_body(cursor *c, const char *model, const bml__ckpt_tensor *t, size_t nt) {
    const char *s;
    uint32_t len, count;
    BML__TRY(get_str(c, "the model name", &s, &len));
    if (len != strlen(model) || memcmp(s, model, len) != 0)
        return bml__fail(BML_ERR_VALUE, "%s: a checkpoint of model '%.*s', expected %s", c->path, len > 64 ? 64 : (int)len, s,
                         model);
    BML__TRY(get_str(c, "the parameters", &s, &len));
    BML__TRY(get_u32(c, "the tensor count", &count));
    if (count != nt) return bml__fail(BML_ERR_VALUE, "%s: %u tensors, the model %s has %zu", c->path, count, model, nt);
    for (size_t i = 0; i < nt; i++) {
        uint32_t nd, n;
        size_t at = c->off;
        BML__TRY(get_str(c, "a tensor name", &s, &len));
        if (len != strlen(t[i].name) || memcmp(s, t[i].name, len) != 0)
            return bml__fail(BML_ERR_VALUE, "%s: tensor %zu (byte offset %zu) is '%.*s', the model expects '%s'", c->path, i, at,
                             len > 64 ? 64 : (int)len, s, t[i].name);
        BML__TRY(get_u32(c, "a tensor's dimension count", &nd));
        if (nd != 1) return bml__fail(BML_ERR_VALUE, "%s: tensor '%s' has %u dimensions, expected 1", c->path, t[i].name, nd);
        BML__TRY(get_u32(c, "a tensor's size", &n));
        if (n != t[i].n)
            return bml__fail(BML_ERR_VALUE, "%s: tensor '%s' has %u values, the model expects %zu", c->path, t[i].name, n,
                             t[i].n);
        BML__TRY(need(c, 4 * (size_t)n, "a tensor's values"));
        for (size_t k = 0; k < n; k++) {
            uint32_t u = u32_at(c->p + c->off + 4 * k);
            memcpy(&t[i].data[k], &u, 4);
        }
        c->off += 4 * (size_t)n;
        BML__TRY(bml__ckpt_check_finite(c->path, t + i, 1));
    }
    if (c->off != c->end)
        return bml__fail(BML_ERR_PARSE, "%s: damaged: %zu unexpected bytes after the tensor table (byte offset %zu)", c->path,
                         c->end - c->off, c->off);
    return BML_OK;
}

bml_status bml__ckpt_read(const char *path, const char *model, const bml__ckpt_tensor *t, size_t nt) {
    char *buf = NULL;
    size_t len = 0;
    BML__TRY(bml__read_file(path, &buf, &len));
    const unsigned char *b = (const unsigned char *)buf;
    bml_status st = check_file(path, b, len);
    if (st == BML_OK) {
        cursor c = {b, len - SUM_BYTES, 12, path};
        st = read_body(&c, model, t, nt);
    }
    free(buf);
    return st;
}
