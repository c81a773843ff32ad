/* TensorBoard scalar event files (TFRecord framing, Event/Summary protocol buffers). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "track/writers.h"

/* CRC-32C, reflected polynomial 0x82F63B78, one table */
uint32_t bml__crc32c(const void *data, size_t n) {
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t bml__crc32c_masked(const void *data, size_t n) {
    uint32_t c = bml__crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- protocol buffer encoding of the few fields we need ---- */
typedef struct {
    unsigned char buf[512];
    size_t n;
} pb;

static void pb_varint(pb *b, uint64_t v) {
    while (v >= 0x80) {
        b->buf[b->n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b->buf[b->n++] = (unsigned char)v;
}
static void pb_key(pb *b, int field, int wire) { pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }
static void pb_bytes(pb *b, int field, const void *d, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    memcpy(b->buf + b->n, d, n);
    b->n += n;
}
static void pb_double(pb *b, int field, double v) {
    pb_key(b, field, 1);
    memcpy(b->buf + b->n, &v, 8); /* little-endian hosts */
    b->n += 8;
}
static void pb_float(pb *b, int field, float v) {
    pb_key(b, field, 5);
    memcpy(b->buf + b->n, &v, 4);
    b->n += 4;
}

static int write_record(FILE *f, const pb *e) {
    uint64_t len = e->n;
    uint32_t lc = bml__crc32c_masked(&len, 8), dc = bml__crc32c_masked(e->buf, e->n);
    return fwrite(&len, 8, 1, f) != 1 || fwrite(&lc, 4, 1, f) != 1 || fwrite(e->buf, 1, e->n, f) != e->n ||
                   fwrite(&dc, 4, 1, f) != 1
               ? -1
               : 0;
}

bml_status bml__tensorboard_write(const char *dir, double wall_time, const bml__scalar *s, size_t n, char **path) {
    if (path) *path = NULL;
    BML__TRY(bml__mkdir_p(dir));
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    char *p = bml__sprintf("%s/events.out.tfevents.%ld.%s", dir, (long)wall_time, host);
    if (!p) return bml__fail(BML_ERR_NOMEM, "out of memory");
    FILE *f = fopen(p, "wb");
    if (!f) {
        bml_status st = bml__fail(BML_ERR_IO, "%s: cannot write", p);
        free(p);
        return st;
    }
    /* Event { wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5 (Summary) }
     * Summary { repeated Value value = 1 }, Value { tag = 1 (string), simple_value = 2 (float) } */
    pb e = {0};
    pb_double(&e, 1, wall_time);
    pb_bytes(&e, 3, "brain.Event:2", 13);
    int bad = write_record(f, &e);
    for (size_t i = 0; i < n && !bad; i++) {
        pb v = {0}, sum = {0};
        pb_bytes(&v, 1, s[i].tag, strlen(s[i].tag));
        pb_float(&v, 2, (float)s[i].value);
        pb_bytes(&sum, 1, v.buf, v.n);
        e.n = 0;
        pb_double(&e, 1, wall_time);
        pb_key(&e, 2, 0);
        pb_varint(&e, (uint64_t)s[i].step);
        pb_bytes(&e, 5, sum.buf, sum.n);
        bad = write_record(f, &e);
    }
    bad |= fclose(f) != 0;
    if (bad) {
        bml_status st = bml__fail(BML_ERR_IO, "%s: cannot write: %s", p, strerror(errno));
        free(p);
        return st;
    }
    if (path) *path = p;
    else free(p);
    return BML_OK;
}
