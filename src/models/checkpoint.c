/* Checkpoint reading and writing (see checkpoint.h). */
#include "models/checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define MAGIC "BMLCKPT" /* 8 bytes with its NUL */

static int put_u32(FILE *f, uint32_t v) { return fwrite(&v, sizeof v, 1, f) == 1 ? 0 : -1; }
static int put_str(FILE *f, const char *s) {
    uint32_t l = (uint32_t)strlen(s);
    return put_u32(f, l) || fwrite(s, 1, l, f) != l ? -1 : 0;
}
static int get_u32(FILE *f, uint32_t *v) { return fread(v, sizeof *v, 1, f) == 1 ? 0 : -1; }

bml_status bml__ckpt_write(const char *path, const char *model, const char *params_json, const bml__ckpt_tensor *t,
                           size_t nt) {
    FILE *f = fopen(path, "wb");
    if (!f) return bml__fail(BML_ERR_IO, "%s: cannot write", path);
    int bad = fwrite(MAGIC, 1, 8, f) != 8 || put_u32(f, BML_CKPT_VERSION) || put_str(f, model) || put_str(f, params_json) ||
              put_u32(f, (uint32_t)nt);
    for (size_t i = 0; i < nt && !bad; i++)
        bad = put_str(f, t[i].name) || put_u32(f, 1) || put_u32(f, (uint32_t)t[i].n) ||
              fwrite(t[i].data, sizeof(float), t[i].n, f) != t[i].n;
    bad |= fclose(f) != 0;
    return bad ? bml__fail(BML_ERR_IO, "%s: write failed", path) : BML_OK;
}

bml_status bml__ckpt_read(const char *path, const char *model, const bml__ckpt_tensor *t, size_t nt) {
    FILE *f = fopen(path, "rb");
    if (!f) return bml__fail(BML_ERR_IO, "%s: cannot open the checkpoint", path);
    char magic[8], buf[512];
    uint32_t ver, len, count;
    bml_status st = BML_OK;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) != 0) {
        st = bml__fail(BML_ERR_PARSE, "%s: not a BatteryML checkpoint (bad magic)", path);
    } else if (get_u32(f, &ver) || ver != BML_CKPT_VERSION) {
        st = bml__fail(BML_ERR_VALUE, "%s: checkpoint version %u, this program reads %u", path, ver, BML_CKPT_VERSION);
    } else if (get_u32(f, &len) || len >= sizeof buf || fread(buf, 1, len, f) != len || (buf[len] = 0, strcmp(buf, model))) {
        st = bml__fail(BML_ERR_PARSE, "%s: not a checkpoint of model %s", path, model);
    } else if (get_u32(f, &len) || fseek(f, (long)len, SEEK_CUR) != 0 || get_u32(f, &count) || count != nt) {
        st = bml__fail(BML_ERR_PARSE, "%s: expected %zu tensors", path, nt);
    }
    for (size_t i = 0; st == BML_OK && i < nt; i++) {
        uint32_t nd, n;
        if (get_u32(f, &len) || len >= sizeof buf || fread(buf, 1, len, f) != len || get_u32(f, &nd) || nd != 1 ||
            get_u32(f, &n)) {
            st = bml__fail(BML_ERR_PARSE, "%s: damaged tensor table", path);
            break;
        }
        buf[len] = 0;
        if (strcmp(buf, t[i].name) || n != t[i].n) {
            st = bml__fail(BML_ERR_VALUE, "%s: tensor %zu is '%s' (%u values), the model expects '%s' (%zu)", path, i, buf, n,
                           t[i].name, t[i].n);
            break;
        }
        if (fread(t[i].data, sizeof(float), n, f) != n) st = bml__fail(BML_ERR_PARSE, "%s: truncated checkpoint", path);
    }
    fclose(f);
    return st;
}
