/* Neware .nda and .ndax readers (see cycler_neware.h for the rules).
 *
 * Layouts, learnt from the open-source readers NewareNDA and fastnda (BSD-3-Clause; no code taken) and checked
 * against their output on real files (tests/test_neware.c). All integers and floats are little-endian.
 *
 * .nda: "NEWARE" at byte 0, the file version at byte 14.
 *   version 29 (BTS 7): 86-byte records; the first one is the first "00 00 00 00 55 00" whose 4th byte on is a
 *     record with a non-zero status followed by another record (0x55). Data record: 55 00, Index u32 @2,
 *     cycle u32 @6, step u32 @10 (its upper bytes hold the status: the step changes when either does),
 *     status u8 @12, step time u64 ms @14, voltage i32 0.1 mV @22, current i32 @26, charge / discharge
 *     capacity, charge / discharge energy i64 @38/46/54/62 (scaled like the current, per hour: /3600), date
 *     u16 year @70 then month, day, hour, minute, second, current range i32 @78 (gives the scale), 82..85
 *     zero. Auxiliary records (0x65) and others are passed over.
 *   version 130 (BTS 8/9): records from byte 1024. When byte 1024 is 0x55 (BTS 9.1) the record length is
 *     the distance to the next occurrence of bytes 1024..1025; a record: step u8 @2, status u8 @3, Index u32
 *     @8, time u32 s @12 + u32 ns @16, current f32 mA @20, voltage f32 @24, signed capacity f32 mAs @28 and
 *     energy f32 mWs @32 (positive: charge), date u32 s @44 + u32 ns @48. Otherwise (BTS 9) 88-byte records
 *     that begin with the 6 bytes at 1024; from byte 4 on: step u8 @5, status u8 @6, Index u32 @12, time
 *     u64 us @24, voltage f32 @32, current f32 mA @36, charge capacity, charge energy, discharge capacity,
 *     discharge energy f32 (mAs, mWs) @48..60, date u64 us @64. A record beginning 0x81 ends the data.
 * .ndax: a zip; data.ndc (voltage, current), data_runInfo.ndc (times, counters, step id) and data_step.ndc
 *   (cycle, step index and type of each step). An .ndc: a 4096-byte header page (file type @0, version @2),
 *   then 4096-byte pages: a bitmask of the used slots from byte 4, slots from byte 132.
 *   type 1 (8-byte slots): voltage f32, current f32 (version 11: 0.1 mV and mA; 14: V and A).
 *   type 18 (v11: 47, v14: 55-byte slots): step time i32 ms @0, charge / discharge capacity, charge /
 *     discharge energy f32 @5..17 (v11: mAs, mWs; v14: Ah, Wh), dt i32 ms @29, date u32 s @33, step id u32
 *     @37, Index u32 @41, milliseconds i16 @45.
 *   type 7 (37-byte slots): cycle u32 @0, step index u32 @4, step type u8 @24. */
#define _GNU_SOURCE
#include "data/cycler_neware.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <zip.h>

#include "core/internal.h"

/* ------------------------------------------------------------------ little-endian fields */

static uint16_t rd_u16(const unsigned char *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static uint32_t rd_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static int32_t rd_i32(const unsigned char *p) { return (int32_t)rd_u32(p); }
static int16_t rd_i16(const unsigned char *p) { return (int16_t)rd_u16(p); }
static uint64_t rd_u64(const unsigned char *p) { return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32; }
static int64_t rd_i64(const unsigned char *p) { return (int64_t)rd_u64(p); }
static float rd_f32(const unsigned char *p) {
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ------------------------------------------------------------------ step types */

static const char *const status_names[] = {
    [1] = "CC_Chg",  [2] = "CC_DChg",  [3] = "CV_Chg",   [4] = "Rest",     [5] = "Cycle",   [7] = "CCCV_Chg",
    [8] = "CP_DChg", [9] = "CP_Chg",   [10] = "CR_DChg", [13] = "Pause",   [16] = "Pulse",  [17] = "SIM",
    [19] = "CV_DChg", [20] = "CCCV_DChg", [21] = "Control", [22] = "OCV", [26] = "CPCV_DChg", [27] = "CPCV_Chg"};
#define N_STATUS ((int)(sizeof status_names / sizeof *status_names))

/* 0: no '_' in the name (Rest, SIM, ...), 1: a charge or CV step (CC_Chg, CV_Chg, ...), 2: a discharge (*_DChg) */
static const unsigned char status_kind[N_STATUS] = {[1] = 1, [2] = 2, [3] = 1, [7] = 1, [8] = 2, [9] = 1, [10] = 2,
                                                    [19] = 2, [20] = 2, [26] = 2, [27] = 1};

const char *bml__neware_status_name(int code) {
    return code >= 0 && code < N_STATUS && status_names[code] ? status_names[code] : "?";
}

/* ------------------------------------------------------------------ the rows handed over */

/* Step counting, NewareNDA's software cycle number, Index rising. */
typedef struct {
    const char *path;
    bml__neware_record_fn fn;
    void *user;
    bml__neware_info *info;
    int have;
    uint32_t last_index;
    int64_t raw_step;
    long step, cycle;
    int flag, prev_inc;
    int file_cycles; /* CSV exports: the cycle is the file's Cycle Index */
} emitter;

static bml_status emit(emitter *e, bml__neware_record *r, int64_t raw_step, const char *member, size_t offset) {
    if (!e->file_cycles) r->total_time_s = NAN; /* the binary files: summed from the steps' times */
    if (e->have && r->index <= e->last_index) { /* a duplicate or a record out of order: left out */
        e->info->n_skipped++;
        return BML_OK;
    }
    /* the binary files' usual row at one test: x - x is 0 for a finite x, NaN for an infinite or NaN one */
    double z = (r->time_s - r->time_s) + (r->voltage_v - r->voltage_v) + (r->current_ma - r->current_ma) +
               (r->charge_mah - r->charge_mah) + (r->discharge_mah - r->discharge_mah) +
               (r->charge_mwh - r->charge_mwh) + (r->discharge_mwh - r->discharge_mwh);
    if (e->file_cycles || !(z == 0)) {
        const double v[] = {r->time_s, r->voltage_v, r->current_ma, r->total_time_s, r->charge_mah, r->discharge_mah,
                            r->charge_mwh, r->discharge_mwh};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++) /* a CSV's counters and total time may be NaN: not in the file */
            if (k < 3 || (k > 3 && !e->file_cycles) ? !isfinite(v[k]) : isinf(v[k]))
                return bml__fail(BML_ERR_PARSE, "%s%s%s: byte offset %zu: record %lu holds a value that is not a finite number",
                                 e->path, member ? ": " : "", member ? member : "", offset, (unsigned long)r->index);
    }
    if (!e->have) e->step = 1, e->cycle = 1;
    else if (raw_step != e->raw_step) e->step++;
    /* a new cycle where a charge step begins after a discharge (or a SIM step); the step types with a '_' in
     * their name (CC_Chg, ...) take part, those ending in _DChg mark a discharge */
    int code = r->status >= 0 && r->status < N_STATUS ? r->status : 0;
    int inc = code == 1 || code == 7 || code == 9;
    int rising = inc && (!e->have || !e->prev_inc);
    if (status_kind[code]) {
        if (rising && e->flag) e->cycle++, e->flag = 0;
        else if (status_kind[code] == 2) e->flag = 1;
    } else if (code == 17) {
        e->flag = 1;
    }
    e->prev_inc = inc;
    e->have = 1;
    e->raw_step = raw_step;
    e->last_index = r->index;
    r->step = e->step;
    if (!e->file_cycles) r->cycle = e->cycle;
    e->info->n_records++;
    return e->fn(r, e->user);
}

/* ------------------------------------------------------------------ dates */

static double days_from_civil(int y, unsigned m, unsigned d) { /* days since 1970-01-01 (proleptic Gregorian) */
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (double)era * 146097 + (double)doe - 719468;
}

static double civil_time(const unsigned char *p) { /* u16 year, then month, day, hour, minute, second */
    unsigned y = rd_u16(p), mo = p[2], d = p[3], h = p[4], mi = p[5], s = p[6];
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return NAN;
    return days_from_civil((int)y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + s;
}

/* ------------------------------------------------------------------ .nda */

static int range_multiplier(int32_t range, double *mult) {
    static const struct { int32_t range; double mult; } tab[] = {
        {-100000000, 10}, {-200000, 1e-2}, {-100000, 1e-2}, {-60000, 1e-2}, {-50000, 1e-2}, {-30000, 1e-2},
        {-20000, 1e-2},   {-12000, 1e-2},  {-10000, 1e-2},  {-6000, 1e-2},  {-5000, 1e-2},  {-3000, 1e-2},
        {-2000, 1e-2},    {-1000, 1e-2},   {-500, 1e-3},    {-100, 1e-3},   {-50, 1e-4},    {-25, 1e-4},
        {-20, 1e-4},      {-10, 1e-4},     {-5, 1e-5},      {-2, 1e-5},     {-1, 1e-5},     {0, 0},
        {1, 1e-4},        {2, 1e-4},       {5, 1e-4},       {10, 1e-3},     {20, 1e-3},     {50, 1e-3},
        {100, 1e-2},      {200, 1e-2},     {250, 1e-2},     {500, 1e-2},    {1000, 1e-1},   {6000, 1e-1},
        {10000, 1e-1},    {12000, 1e-1},   {20000, 1e-1},   {30000, 1e-1},  {40000, 1e-1},  {50000, 1e-1},
        {60000, 1e-1},    {100000, 1e-1},  {200000, 1e-1}};
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
        if (tab[i].range == range) return *mult = tab[i].mult, 1;
    return 0;
}

static const unsigned char *find_bytes(const unsigned char *hay, size_t n, size_t from, const unsigned char *needle,
                                       size_t k) {
    if (from > n || k > n - from) return NULL;
    return memmem(hay + from, n - from, needle, k);
}

#define V29_LEN 86

static bml_status read_nda29(emitter *e, const unsigned char *mm, size_t n) {
    static const unsigned char ident[6] = {0, 0, 0, 0, 0x55, 0};
    const unsigned char *h = find_bytes(mm, n, 0, ident, sizeof ident);
    /* the first record is one with a non-zero status that another record follows (when one fits) */
    while (h) {
        size_t at = (size_t)(h - mm) + 4;
        if (at + V29_LEN >= n || (mm[at + V29_LEN] == 0x55 && at + 12 < n && mm[at + 12] != 0)) break;
        h = find_bytes(mm, n, at, ident, sizeof ident);
    }
    if (!h) return bml__fail(BML_ERR_PARSE, "%s: byte offset %zu: no data record in this Neware .nda (version 29) file", e->path, n);
    size_t off = (size_t)(h - mm) + 4;
    for (; off < n; off += V29_LEN) {
        if (n - off < V29_LEN)
            return bml__fail(BML_ERR_PARSE, "%s: byte offset %zu: the file ends inside a record (%zu of its %d bytes): truncated",
                             e->path, off, n - off, V29_LEN);
        const unsigned char *b = mm + off;
        if (!(b[0] == 0x55 && b[1] == 0 && rd_u32(b + 82) == 0)) continue; /* auxiliary and other records */
        bml__neware_record r;
        memset(&r, 0, sizeof r);
        r.index = rd_u32(b + 2);
        r.status = b[12];
        if (r.index == 0 || r.status == 0) continue;
        double mult;
        int32_t range = rd_i32(b + 78);
        if (!range_multiplier(range, &mult))
            return bml__fail(BML_ERR_PARSE, "%s: byte offset %zu: record %lu has current range %ld, which no Neware layout known here has",
                             e->path, off + 78, (unsigned long)r.index, (long)range);
        r.time_s = (double)rd_u64(b + 14) / 1000;
        r.voltage_v = rd_i32(b + 22) / 10000.0;
        r.current_ma = rd_i32(b + 26) * mult;
        r.charge_mah = (double)rd_i64(b + 38) * mult / 3600;
        r.discharge_mah = (double)rd_i64(b + 46) * mult / 3600;
        r.charge_mwh = (double)rd_i64(b + 54) * mult / 3600;
        r.discharge_mwh = (double)rd_i64(b + 62) * mult / 3600;
        r.unix_time = civil_time(b + 70);
        r.logged = 1;
        BML__TRY(emit(e, &r, rd_u32(b + 10), NULL, off));
    }
    return BML_OK;
}

static bml_status read_nda130(emitter *e, const unsigned char *mm, size_t n) {
    if (n < 1024 + 6)
        return bml__fail(BML_ERR_PARSE, "%s: byte offset %zu: the file ends before its first record (byte 1024): truncated", e->path, n);
    size_t len = 88;
    int bts91 = mm[1024] == 0x55;
    if (bts91) {
        const unsigned char *next = find_bytes(mm, n, 1026, mm + 1024, 2);
        if (!next)
            return bml__fail(BML_ERR_PARSE, "%s: byte offset 1024: one BTS 9.1 record and no second to give the record length", e->path);
        len = (size_t)(next - mm) - 1024;
        if (len < 52 || len > 4096)
            return bml__fail(BML_ERR_PARSE, "%s: byte offset 1024: BTS 9.1 records of %zu bytes (expected 52 to 4096)", e->path, len);
    }
    unsigned char ident[6];
    memcpy(ident, mm + 1024, sizeof ident);
    for (size_t off = 1024; off < n; off += len) {
        if (n - off < len)
            return bml__fail(BML_ERR_PARSE, "%s: byte offset %zu: the file ends inside a record (%zu of its %zu bytes) before the closing block: truncated",
                             e->path, off, n - off, len);
        const unsigned char *b = mm + off;
        bml__neware_record r;
        memset(&r, 0, sizeof r);
        r.logged = 1;
        if (b[0] == 0x55 && bts91) {
            r.status = b[3];
            r.index = rd_u32(b + 8);
            r.time_s = rd_u32(b + 12) + 1e-9 * rd_u32(b + 16);
            r.current_ma = rd_f32(b + 20);
            r.voltage_v = rd_f32(b + 24);
            double cap = rd_f32(b + 28) / 3600.0, en = rd_f32(b + 32) / 3600.0;
            r.charge_mah = cap > 0 ? cap : 0, r.discharge_mah = cap < 0 ? -cap : 0;
            r.charge_mwh = en > 0 ? en : 0, r.discharge_mwh = en < 0 ? -en : 0;
            r.unix_time = rd_u32(b + 44) + 1e-9 * rd_u32(b + 48);
            BML__TRY(emit(e, &r, b[2], NULL, off));
        } else if (!bts91 && memcmp(b, ident, sizeof ident) == 0) {
            const unsigned char *p = b + 4;
            r.status = p[6];
            r.index = rd_u32(p + 12);
            r.time_s = (double)rd_u64(p + 24) / 1e6;
            r.voltage_v = rd_f32(p + 32);
            r.current_ma = rd_f32(p + 36);
            r.charge_mah = rd_f32(p + 48) / 3600.0;
            r.charge_mwh = rd_f32(p + 52) / 3600.0;
            r.discharge_mah = rd_f32(p + 56) / 3600.0;
            r.discharge_mwh = rd_f32(p + 60) / 3600.0;
            r.unix_time = (double)rd_u64(p + 64) / 1e6;
            BML__TRY(emit(e, &r, p[5], NULL, off));
        } else if (b[0] == 0x81) {
            break; /* the closing block */
        }
    }
    return BML_OK;
}

static bml_status read_nda(emitter *e, const unsigned char *mm, size_t n) {
    if (n < 15 || memcmp(mm, "NEWARE", 6) != 0)
        return bml__fail(BML_ERR_PARSE, "%s: byte offset 0: not a Neware .nda file (no 'NEWARE' header, or shorter than 15 bytes)", e->path);
    e->info->kind = mm[14];
    if (mm[14] == 29) return read_nda29(e, mm, n);
    if (mm[14] == 130) return read_nda130(e, mm, n);
    return bml__fail(BML_ERR_PARSE, "%s: byte offset 14: .nda file version %d (this reader knows 29 and 130)", e->path, mm[14]);
}

/* ------------------------------------------------------------------ .ndc pages */

#define PAGE 4096
#define SLOT0 132

/* One .ndc member, page by page, from memory or from the zip archive. A zip member is read raw through libzip
 * (ZIP_FL_COMPRESSED) a chunk at a time, inflated with ISA-L (deflate) or taken as is (stored) into a chunk of
 * pages, and its CRC-32 and size checked against the archive's directory when its last byte is out: the memory
 * held stays the same whatever the member's size. */
#define ZIN (16 * 1024)       /* compressed bytes read at a time */
#define ZOUT (4 * PAGE)       /* uncompressed bytes made at a time (whole pages) */
typedef struct {
    const char *path, *member;
    const unsigned char *mem;
    size_t n;          /* memory: its length; zip: the member's uncompressed size */
    zip_file_t *zf;
    struct inflate_state *inf; /* NULL: a stored member */
    unsigned char *in, *out;   /* ZIN compressed bytes, ZOUT uncompressed ones */
    uint64_t comp_size, comp_left; /* the member's compressed bytes; those not yet read from the archive */
    uint32_t crc_want, crc;    /* the directory's CRC-32; that of the bytes made so far */
    size_t made;       /* uncompressed bytes made so far */
    size_t out_len, out_pos;   /* bytes in out; the next page there */
    size_t off;        /* offset of the next page in the member */
    int type, version;
} pager;

static void pager_close(pager *p) {
    if (p->zf) zip_fclose(p->zf);
    free(p->inf);
    free(p->in);
    free(p->out);
    p->zf = NULL, p->inf = NULL, p->in = p->out = NULL;
}

/* the member's next compressed bytes (at most cap) into dst; *got 0 when none are left */
static bml_status zip_raw(pager *p, unsigned char *dst, size_t cap, size_t *got) {
    size_t want = p->comp_left < cap ? (size_t)p->comp_left : cap;
    *got = 0;
    while (*got < want) {
        zip_int64_t k = zip_fread(p->zf, dst + *got, want - *got);
        if (k < 0)
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: cannot read the member's data (compressed byte %llu): %s (damaged archive)",
                             p->path, p->member, p->made, (unsigned long long)(p->comp_size - p->comp_left + *got),
                             zip_file_strerror(p->zf));
        if (k == 0 || (size_t)k > want - *got)
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member's data ends at compressed byte %llu of its stated %llu: truncated",
                             p->path, p->member, p->made, (unsigned long long)(p->comp_size - p->comp_left + *got),
                             (unsigned long long)p->comp_size);
        *got += (size_t)k;
    }
    p->comp_left -= want;
    return BML_OK;
}

static const char *isal_error(int r) {
    switch (r) {
    case ISAL_INVALID_BLOCK: return "an invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "an invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "a back-reference before the start of the data";
    default: return "invalid deflate data";
    }
}

/* ISA-L's AVX routines (its CRC-32 above all) return with the upper halves of the vector registers in use
 * (intel/isa-l issue 24): the scalar SSE arithmetic of the row parse after them then ran at half speed here.
 * VZEROUPPER, issued where the CPU has AVX, ends that state. */
static void vector_state_clean(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx")) __asm__ volatile("vzeroupper");
#endif
}

/* The deflate stream of a member into dst[0..want). want 0 (dst a scratch buffer of `cap` bytes): check that
 * the stream ends there, with no byte more. */
static bml_status zip_inflate(pager *p, unsigned char *dst, size_t want, size_t cap) {
    struct inflate_state *s = p->inf;
    const size_t room = want ? want : cap;
    s->next_out = dst;
    s->avail_out = (uint32_t)room;
    for (;;) {
        size_t out_now = room - s->avail_out, at = p->made + out_now;
        if (want ? out_now == want : s->block_state == ISAL_BLOCK_FINISH) return BML_OK;
        if (!want && out_now)
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member's deflate data goes on past its stated size (damaged archive)",
                             p->path, p->member, p->made);
        if (s->block_state == ISAL_BLOCK_FINISH)
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member's deflate data ends before its stated size %zu (damaged archive)",
                             p->path, p->member, at, p->n);
        if (s->avail_in == 0) { /* none read yet (ISA-L may still hold output: called once more when none is left) */
            size_t got;
            BML__TRY(zip_raw(p, p->in, ZIN, &got));
            s->next_in = p->in, s->avail_in = (uint32_t)got;
        }
        const uint32_t in0 = s->avail_in, out0 = s->avail_out;
        int r = isal_inflate(s);
        vector_state_clean();
        unsigned long long comp_at = p->comp_size - p->comp_left - s->avail_in;
        if (r != ISAL_DECOMP_OK && r != ISAL_END_INPUT && r != ISAL_OUT_OVERFLOW)
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: %s near compressed byte %llu (ISA-L error %d; damaged archive)",
                             p->path, p->member, p->made + (room - s->avail_out), isal_error(r), comp_at, r);
        if (s->avail_in == in0 && s->avail_out == out0 && s->block_state != ISAL_BLOCK_FINISH) {
            if (in0 == 0)
                return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member's compressed data (%llu bytes) ends inside its deflate stream: truncated",
                                 p->path, p->member, at, (unsigned long long)p->comp_size);
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the deflate data makes no progress near compressed byte %llu (damaged archive)",
                             p->path, p->member, at, comp_at);
        }
    }
}

/* Make the next chunk of a zip member (up to ZOUT bytes) into p->out; at the member's end, check that its data
 * ends there and that its CRC-32 is the directory's. */
static bml_status zip_fill(pager *p) {
    size_t want = p->n - p->made < ZOUT ? p->n - p->made : ZOUT;
    p->out_len = p->out_pos = 0;
    if (p->inf) {
        BML__TRY(zip_inflate(p, p->out, want, 0));
    } else {
        size_t got;
        BML__TRY(zip_raw(p, p->out, want, &got));
        if (got < want)
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member ends before its stated size %zu: truncated",
                             p->path, p->member, p->made + got, p->n);
    }
    p->crc = crc32_gzip_refl(p->crc, p->out, want);
    vector_state_clean();
    p->made += want;
    p->out_len = want;
    if (p->made == p->n) {
        if (p->inf) {
            unsigned char scratch[64];
            BML__TRY(zip_inflate(p, scratch, 0, sizeof scratch));
        }
        if (p->crc != p->crc_want)
            return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member's data has CRC-32 %08lx where the archive's directory "
                                            "says %08lx (damaged archive)",
                             p->path, p->member, p->n, (unsigned long)p->crc, (unsigned long)p->crc_want);
    }
    return BML_OK;
}

/* The next page (NULL at the end). A member that ends inside a page or does not read fails. */
static bml_status pager_next(pager *p, const unsigned char **page) {
    *page = NULL;
    if (p->off >= p->n) return BML_OK;
    if (p->n - p->off < PAGE)
        return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member ends inside a %d-byte page (%zu bytes left): truncated",
                         p->path, p->member, p->off, PAGE, p->n - p->off);
    if (p->mem) {
        *page = p->mem + p->off;
    } else {
        if (p->out_len - p->out_pos < PAGE) BML__TRY(zip_fill(p)); /* ZOUT is whole pages: nothing is left over */
        *page = p->out + p->out_pos;
        p->out_pos += PAGE;
    }
    p->off += PAGE;
    return BML_OK;
}

/* A zip member's bytes not read yet (the reader may stop before a member's end): made, so that the member's
 * CRC-32 and size are checked. */
static bml_status pager_drain(pager *p) {
    while (!p->mem && p->zf && p->made < p->n) BML__TRY(zip_fill(p));
    return BML_OK;
}

/* Read the header page; check the file type and version. */
static bml_status pager_open(pager *p, int want_type) {
    const unsigned char *h;
    if (p->n < PAGE)
        return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member is shorter than its %d-byte header: truncated",
                         p->path, p->member, p->n, PAGE);
    BML__TRY(pager_next(p, &h));
    p->type = h[0];
    p->version = h[2];
    if (p->type != want_type)
        return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset 0: .ndc file type %d where %d was expected", p->path,
                         p->member, p->type, want_type);
    if (p->version != 11 && p->version != 14)
        return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset 2: .ndc version %d (this reader knows 11 and 14)", p->path,
                         p->member, p->version);
    return BML_OK;
}

static int slot_used(const unsigned char *page, size_t i) { return page[4 + i / 8] >> (i % 8) & 1; }
static size_t slots_per_page(size_t size) { return (PAGE - SLOT0 - 1) / size; }

/* ---- data_runInfo.ndc: the logged rows, one at a time (one ahead for the interpolation) ---- */
typedef struct {
    uint32_t index;
    double time_s, dt_s, unix_time;
    double cnt[4]; /* charge, discharge capacity (mAh), charge, discharge energy (mWh) */
    long step;     /* count of step-id changes over the logged rows, from 1 */
    size_t offset;
} run_rec;

typedef struct {
    pager *pg;
    const unsigned char *page;
    size_t slot, nslots, rsize;
    int have_step;
    uint32_t raw_step, last_index;
    long step;
} run_reader;

/* The next logged row with a rising Index; *ok = 0 at the end. */
static bml_status run_next(run_reader *rr, run_rec *out, int *ok) {
    *ok = 0;
    for (;;) {
        if (!rr->page || rr->slot >= rr->nslots) {
            BML__TRY(pager_next(rr->pg, &rr->page));
            if (!rr->page) return BML_OK;
            rr->slot = 0;
        }
        size_t i = rr->slot++;
        if (!slot_used(rr->page, i)) continue;
        const unsigned char *b = rr->page + SLOT0 + i * rr->rsize;
        uint32_t index = rd_u32(b + 41);
        if (index == 0 || (rr->last_index && index <= rr->last_index)) continue;
        rr->last_index = index;
        double scale = rr->pg->version == 14 ? 1000.0 : 1.0 / 3600;
        out->index = index;
        out->time_s = rd_i32(b) / 1000.0;
        for (int k = 0; k < 4; k++) out->cnt[k] = rd_f32(b + 5 + 4 * k) * scale;
        out->dt_s = rd_i32(b + 29) / 1000.0;
        int ms = rr->pg->version == 14 ? rd_i16(b + 45) : rd_u16(b + 45);
        out->unix_time = rd_u32(b + 33) + ms / 1000.0;
        uint32_t raw = rd_u32(b + 37);
        if (!rr->have_step) rr->step = 1;
        else if (raw != rr->raw_step) rr->step++;
        rr->have_step = 1, rr->raw_step = raw;
        out->step = rr->step;
        out->offset = rr->pg->off - PAGE + SLOT0 + i * rr->rsize;
        *ok = 1;
        return BML_OK;
    }
}

typedef struct {
    long cycle, step_index;
    int status;
} step_ent;

static bml_status ndc_join(emitter *e, pager *data, pager *run, pager *stp) {
    BML__TRY(pager_open(data, 1));
    BML__TRY(pager_open(run, 18));
    BML__TRY(pager_open(stp, 7));
    e->info->kind = 1000 + data->version;
    /* the step table */
    step_ent *steps = NULL;
    size_t n_steps = 0, cap = 0;
    bml_status st = BML_OK;
    const unsigned char *page;
    for (;;) {
        if ((st = pager_next(stp, &page)) != BML_OK || !page) break;
        for (size_t i = 0; i < slots_per_page(37); i++) {
            if (!slot_used(page, i)) continue;
            const unsigned char *b = page + SLOT0 + 37 * i;
            if (n_steps == cap) {
                size_t nc = cap ? 2 * cap : 64;
                step_ent *ns = realloc(steps, nc * sizeof *ns);
                if (!ns) {
                    free(steps);
                    return bml__fail(BML_ERR_NOMEM, "out of memory");
                }
                steps = ns, cap = nc;
            }
            steps[n_steps].cycle = (long)rd_u32(b) + 1;
            steps[n_steps].step_index = (long)rd_u32(b + 4);
            steps[n_steps].status = b[24];
            n_steps++;
        }
    }
    if (st != BML_OK) {
        free(steps);
        return st;
    }
    run_reader rr;
    memset(&rr, 0, sizeof rr);
    rr.pg = run;
    rr.rsize = run->version == 14 ? 55 : 47;
    rr.nslots = slots_per_page(rr.rsize);
    run_rec prev, next;
    memset(&prev, 0, sizeof prev);
    memset(&next, 0, sizeof next);
    int have_prev = 0, have_next = 0;
    st = run_next(&rr, &next, &have_next);
    double vscale = data->version == 14 ? 1.0 : 1e-4, iscale = data->version == 14 ? 1000.0 : 1.0;
    uint32_t index = 0;
    double last_t = 0, last_q[4] = {0, 0, 0, 0}; /* the previous row handed over: its time and counters */
    bml__neware_record r; /* each row sets every field that varies (emit sets cycle, step and total time) */
    memset(&r, 0, sizeof r);
    while (st == BML_OK) {
        if ((st = pager_next(data, &page)) != BML_OK || !page) break;
        size_t page_off = data->off - PAGE;
        for (size_t i = 0; i < slots_per_page(8) && st == BML_OK; i++) {
            if (!slot_used(page, i)) continue;
            const unsigned char *b = page + SLOT0 + 8 * i;
            size_t off = page_off + SLOT0 + 8 * i;
            if (index == UINT32_MAX) {
                st = bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: more rows than an Index counts", e->path, data->member, off);
                break;
            }
            index++;
            r.index = index;
            r.voltage_v = rd_f32(b) * vscale;
            r.current_ma = rd_f32(b + 4) * iscale;
            while (have_next && next.index < index && st == BML_OK) { /* logged rows without data: passed over */
                prev = next, have_prev = 1;
                st = run_next(&rr, &next, &have_next);
            }
            if (st != BML_OK) break;
            long stepc;
            if (have_next && next.index == index) {
                prev = next, have_prev = 1;
                r.logged = 1;
                r.time_s = prev.time_s;
                r.charge_mah = prev.cnt[0], r.discharge_mah = prev.cnt[1];
                r.charge_mwh = prev.cnt[2], r.discharge_mwh = prev.cnt[3];
                r.unix_time = prev.unix_time;
                stepc = prev.step;
                if ((st = run_next(&rr, &next, &have_next)) != BML_OK) break;
            } else if (!have_prev) {
                st = bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: row %lu comes before every logged row of data_runInfo.ndc",
                               e->path, data->member, off, (unsigned long)index);
                break;
            } else {
                e->info->n_filled++;
                r.logged = 0;
                stepc = prev.step;
                /* the logging interval of the logged row before (its dt) holds until the next logged row, which
                 * logs its own (shorter) interval: BTSDA's export of the same test gives these times */
                double k = (double)(index - prev.index);
                r.time_s = prev.time_s + k * (prev.dt_s > 0 ? prev.dt_s : 0);
                int inside = have_next && next.step == prev.step && next.index > prev.index;
                if (inside && (!(prev.dt_s > 0) || r.time_s >= next.time_s)) /* inconsistent: linear between them */
                    r.time_s = prev.time_s + (next.time_s - prev.time_s) * k / (double)(next.index - prev.index);
                if (r.time_s < last_t) r.time_s = last_t;
                double dt = r.time_s - last_t; /* the previous row is of this step (it is filled or prev) */
                if (!(dt > 0)) dt = 0;
                double q = fabs(r.current_ma) * dt / 3600, w = q * fabs(r.voltage_v);
                r.charge_mah = fabs(last_q[0]), r.discharge_mah = fabs(last_q[1]);
                r.charge_mwh = fabs(last_q[2]), r.discharge_mwh = fabs(last_q[3]);
                if (r.current_ma > 0) r.charge_mah += q, r.charge_mwh += w;
                else if (r.current_ma < 0) r.discharge_mah += q, r.discharge_mwh += w;
                r.unix_time = prev.unix_time + (r.time_s - prev.time_s);
            }
            if (stepc < 1 || (size_t)stepc > n_steps) {
                st = bml__fail(BML_ERR_PARSE, "%s: data_runInfo.ndc: byte offset %zu: step %ld of the logged rows has no entry in data_step.ndc (%zu steps)",
                               e->path, prev.offset, stepc, n_steps);
                break;
            }
            r.status = steps[stepc - 1].status;
            st = emit(e, &r, stepc, data->member, off);
            last_t = r.time_s;
            last_q[0] = r.charge_mah, last_q[1] = r.discharge_mah, last_q[2] = r.charge_mwh, last_q[3] = r.discharge_mwh;
        }
    }
    free(steps);
    return st;
}

bml_status bml__neware_ndc_records(const char *name, const unsigned char *data, size_t n_data,
                                   const unsigned char *runinfo, size_t n_runinfo, const unsigned char *step,
                                   size_t n_step, bml__neware_record_fn fn, void *user, bml__neware_info *info) {
    bml__neware_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (!runinfo || !step)
        return bml__fail(BML_ERR_SCHEMA, "%s: data_runInfo.ndc or data_step.ndc missing (older .ndax layouts that keep everything in data.ndc are not read yet)", name);
    emitter e = {.path = name, .fn = fn, .user = user, .info = info};
    pager pd = {.path = name, .member = "data.ndc", .mem = data, .n = n_data};
    pager pr = {.path = name, .member = "data_runInfo.ndc", .mem = runinfo, .n = n_runinfo};
    pager ps = {.path = name, .member = "data_step.ndc", .mem = step, .n = n_step};
    info->bytes = (double)n_data + (double)n_runinfo + (double)n_step;
    return ndc_join(&e, &pd, &pr, &ps);
}

/* ------------------------------------------------------------------ .ndax (zip) */

static bml_status open_member(zip_t *z, const char *path, const char *member, pager *p) {
    memset(p, 0, sizeof *p);
    p->path = path, p->member = member;
    zip_int64_t i = zip_name_locate(z, member, 0);
    if (i < 0) return bml__fail(BML_ERR_SCHEMA, "%s: no member %s in this .ndax archive", path, member);
    zip_stat_t zs;
    const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_CRC | ZIP_STAT_COMP_METHOD;
    if (zip_stat_index(z, (zip_uint64_t)i, 0, &zs) != 0 || (zs.valid & need) != need)
        return bml__fail(BML_ERR_PARSE, "%s: %s: the archive does not say the member's sizes, CRC-32 and method: %s", path,
                         member, zip_strerror(z));
    if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE)
        return bml__fail(BML_ERR_PARSE, "%s: %s: the member is encrypted (method %u): not read", path, member,
                         (unsigned)zs.encryption_method);
    if (zs.comp_method != ZIP_CM_DEFLATE && zs.comp_method != ZIP_CM_STORE)
        return bml__fail(BML_ERR_PARSE, "%s: %s: compression method %d (this reader knows deflate (8) and stored (0))", path,
                         member, (int)zs.comp_method);
    if (zs.size > SIZE_MAX / 2) return bml__fail(BML_ERR_PARSE, "%s: %s: member size %llu too large", path, member, (unsigned long long)zs.size);
    if (zs.comp_method == ZIP_CM_STORE && zs.comp_size != zs.size)
        return bml__fail(BML_ERR_PARSE, "%s: %s: a stored member of %llu bytes whose stored size is %llu (damaged archive)", path,
                         member, (unsigned long long)zs.size, (unsigned long long)zs.comp_size);
    p->n = (size_t)zs.size;
    p->comp_size = p->comp_left = zs.comp_size;
    p->crc_want = zs.crc;
    p->out = malloc(ZOUT);
    if (zs.comp_method == ZIP_CM_DEFLATE) {
        p->in = malloc(ZIN);
        p->inf = malloc(sizeof *p->inf);
    }
    if (!p->out || (zs.comp_method == ZIP_CM_DEFLATE && (!p->in || !p->inf))) {
        pager_close(p);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    if (p->inf) {
        isal_inflate_init(p->inf); /* raw deflate (crc_flag ISAL_DEFLATE): the CRC-32 is taken in zip_fill */
        p->inf->avail_in = 0;
    }
    p->zf = zip_fopen_index(z, (zip_uint64_t)i, ZIP_FL_COMPRESSED); /* the member's raw bytes */
    if (!p->zf) {
        bml_status st = bml__fail(BML_ERR_PARSE, "%s: %s: cannot open the member: %s (damaged archive)", path, member, zip_strerror(z));
        pager_close(p);
        return st;
    }
    return BML_OK;
}

static bml_status read_ndax(emitter *e, int fd, size_t size) {
    int err = 0;
    /* libzip reads the file through its own descriptor (it closes it with the archive) */
    int zfd = dup(fd);
    if (zfd < 0) return bml__fail(BML_ERR_IO, "%s: %s", e->path, strerror(errno));
    zip_t *z = zip_fdopen(zfd, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!z) {
        close(zfd);
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        bml_status st = bml__fail(BML_ERR_PARSE, "%s: byte offset %zu (the end): not a readable .ndax (zip) archive: %s (the central directory that ends the file is missing or damaged: truncated?)",
                                  e->path, size, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return st;
    }
    pager pg[3];
    memset(pg, 0, sizeof pg);
    static const char *const names[3] = {"data.ndc", "data_runInfo.ndc", "data_step.ndc"};
    bml_status st = BML_OK;
    for (int k = 0; k < 3 && st == BML_OK; k++) st = open_member(z, e->path, names[k], &pg[k]);
    if (st == BML_OK) {
        e->info->bytes = (double)pg[0].n + (double)pg[1].n + (double)pg[2].n;
        st = ndc_join(e, &pg[0], &pg[1], &pg[2]);
    }
    /* the members' CRC-32 and sizes: also of the bytes the rows did not need */
    for (int k = 0; k < 3 && st == BML_OK; k++) st = pager_drain(&pg[k]);
    for (int k = 0; k < 3; k++) pager_close(&pg[k]);
    zip_discard(z);
    return st;
}


/* ------------------------------------------------------------------ BTSDA CSV exports */

typedef struct {
    FILE *f;
    const char *path;
    char *line;
    size_t cap, lineno;
    char **fld;
    size_t n, fcap;
} csv_in;

/* The next line split at commas (BTSDA quotes nothing); 0 at the end. */
static bml_status csv_next(csv_in *c, int *got) {
    *got = 0;
    ssize_t len = getline(&c->line, &c->cap, c->f);
    if (len < 0) {
        if (ferror(c->f)) return bml__fail(BML_ERR_IO, "%s: line %zu: read error", c->path, c->lineno + 1);
        return BML_OK;
    }
    c->lineno++;
    while (len > 0 && (c->line[len - 1] == '\n' || c->line[len - 1] == '\r')) c->line[--len] = 0;
    if (memchr(c->line, 0, (size_t)len))
        return bml__fail(BML_ERR_PARSE, "%s: line %zu: a NUL byte in a text export", c->path, c->lineno);
    c->n = 0;
    for (char *p = c->line;;) {
        if (c->n == c->fcap) {
            size_t nc = c->fcap ? 2 * c->fcap : 32;
            char **nf = realloc(c->fld, nc * sizeof *nf);
            if (!nf) return bml__fail(BML_ERR_NOMEM, "out of memory");
            c->fld = nf, c->fcap = nc;
        }
        c->fld[c->n++] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = 0;
        p = comma + 1;
    }
    *got = 1;
    return BML_OK;
}

static const char *fld(const csv_in *c, long i) { return i >= 0 && (size_t)i < c->n ? c->fld[i] : ""; }

static bml_status bad_field(const csv_in *c, long col, const char *what) {
    return bml__fail(BML_ERR_PARSE, "%s: line %zu, column %ld: '%s' is not %s", c->path, c->lineno, col + 1,
                     fld(c, col), what);
}

static bml_status num_field(const csv_in *c, long col, double *out) {
    const char *s = fld(c, col);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (!*s || *end || errno == ERANGE || !isfinite(v)) return bad_field(c, col, "a number");
    *out = v;
    return BML_OK;
}

/* h:mm:ss[.fff] (hours may pass 24) or plain seconds */
static bml_status time_field(const csv_in *c, long col, double *out) {
    const char *s = fld(c, col);
    if (!strchr(s, ':')) return num_field(c, col, out);
    char *end;
    double t = 0;
    for (int part = 0; part < 3; part++) {
        if (*s < '0' || *s > '9') return bad_field(c, col, "a time (h:mm:ss)");
        errno = 0;
        double v = part < 2 ? (double)strtoul(s, &end, 10) : strtod(s, &end);
        if (end == s || errno || !isfinite(v) || v < 0) return bad_field(c, col, "a time (h:mm:ss)");
        t = t * 60 + v;
        s = end;
        if (part < 2 && *s++ != ':') return bad_field(c, col, "a time (h:mm:ss)");
    }
    if (*s) return bad_field(c, col, "a time (h:mm:ss)");
    *out = t;
    return BML_OK;
}

/* YYYY-MM-DD HH:MM:SS[.fff] as seconds since 1970 (taken as UTC); NaN when empty or not a date */
static double date_field(const char *s) {
    unsigned y, mo, d, h, mi;
    double sec;
    int used = 0;
    if (sscanf(s, "%4u-%2u-%2u %2u:%2u:%lf%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || s[used]) return NAN;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || !(sec >= 0 && sec < 61))
        return NAN;
    return days_from_civil((int)y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
}

/* "Current(uA)" -> 1e-6 for want "A"; the scale of the unit in parentheses to the base unit `want` (A, V, Ah,
 * As, Wh, Ws); 0 when it is not that unit */
static double unit_scale(const char *name, const char *want) {
    const char *o = strrchr(name, '(');
    if (!o) return 0;
    o++;
    const char *cl = strchr(o, ')');
    if (!cl) return 0;
    size_t len = (size_t)(cl - o), k = strlen(want);
    double pre = 1;
    if (len == k + 1 && o[0] == 'm') pre = 1e-3, o++, len--;
    else if (len == k + 1 && (o[0] == 'u' || (unsigned char)o[0] == 0xB5)) pre = 1e-6, o++, len--;       /* Latin-1 */
    else if (len == k + 2 && ((unsigned char)o[0] == 0xC2 && (unsigned char)o[1] == 0xB5)) pre = 1e-6, o += 2, len -= 2;
    else if (len == k + 2 && ((unsigned char)o[0] == 0xCE && (unsigned char)o[1] == 0xBC)) pre = 1e-6, o += 2, len -= 2;
    return len == k && memcmp(o, want, k) == 0 ? pre : 0;
}

static long col_named(const csv_in *c, const char *name) { /* exact name, or "name(" with a unit */
    size_t k = strlen(name);
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->fld[i], name) || (!strncmp(c->fld[i], name, k) && c->fld[i][k] == '(')) return (long)i;
    return -1;
}

/* A counter column in mAh / mWh: Ah or As (resp. Wh or Ws) with a prefix */
static long counter_col(const csv_in *c, const char *name, int energy, double *to_milli) {
    long i = col_named(c, name);
    if (i < 0) return -1;
    const char *h = energy ? "Wh" : "Ah", *s = energy ? "Ws" : "As";
    double f = unit_scale(c->fld[i], h);
    if (f) return *to_milli = f * 1000, i;
    f = unit_scale(c->fld[i], s);
    if (f) return *to_milli = f * 1000 / 3600, i;
    return -2;
}

/* "CC Chg" -> the step type code (spaces read as '_'); 0 when unknown */
static int status_code(const char *name) {
    for (int k = 0; k < N_STATUS; k++) {
        const char *a = status_names[k], *b = name;
        if (!a) continue;
        while (*a && (*a == *b || (*a == '_' && *b == ' '))) a++, b++;
        if (!*a && !*b) return k;
    }
    return 0;
}

/* charge (1), discharge (-1) or neither (0) by the step type's name */
static int type_sign(const char *name) {
    if (strstr(name, "DChg") || strstr(name, "Dchg")) return -1;
    if (strstr(name, "Chg")) return 1;
    return 0;
}

typedef struct {
    long datapoint, time, total, current, voltage, cap, energy, date;
    long chg_cap, dchg_cap, chg_en, dchg_en;
    double i_scale, v_scale, cap_scale, en_scale, cc_scale, dc_scale, ce_scale, de_scale;
} rec_cols;

static bml_status missing_col(const csv_in *c, const char *what) {
    return bml__fail(BML_ERR_SCHEMA, "%s: line %zu: no %s column in this Neware CSV header", c->path, c->lineno, what);
}

static bml_status find_rec_cols(const csv_in *c, rec_cols *k) {
    memset(k, -1, sizeof *k);
    k->datapoint = col_named(c, "DataPoint");
    k->time = col_named(c, "Time");
    k->total = col_named(c, "Total Time");
    k->date = col_named(c, "Date");
    k->current = col_named(c, "Current");
    k->voltage = col_named(c, "Voltage");
    if (k->datapoint < 0) return missing_col(c, "DataPoint");
    if (k->total < 0 && k->time < 0) return missing_col(c, "Time or Total Time");
    if (k->current < 0 || !(k->i_scale = unit_scale(c->fld[k->current], "A") * 1000))
        return missing_col(c, "Current(A, mA or uA)");
    if (k->voltage < 0 || !(k->v_scale = unit_scale(c->fld[k->voltage], "V"))) return missing_col(c, "Voltage(V or mV)");
    k->cap = counter_col(c, "Capacity", 0, &k->cap_scale);
    k->energy = counter_col(c, "Energy", 1, &k->en_scale);
    k->chg_cap = counter_col(c, "Chg. Cap.", 0, &k->cc_scale);
    k->dchg_cap = counter_col(c, "DChg. Cap.", 0, &k->dc_scale);
    k->chg_en = counter_col(c, "Chg. Energy", 1, &k->ce_scale);
    k->dchg_en = counter_col(c, "DChg. Energy", 1, &k->de_scale);
    if (k->cap == -2 || k->energy == -2 || k->chg_cap == -2 || k->dchg_cap == -2 || k->chg_en == -2 || k->dchg_en == -2)
        return bml__fail(BML_ERR_SCHEMA, "%s: line %zu: a capacity or energy column in a unit other than (m/u)Ah, (m)As, (m)Wh, (m)Ws",
                         c->path, c->lineno);
    return BML_OK;
}

/* One record line into r (cycle, step and step type set by the caller). `sign` is the step's charge (+1) or
 * discharge (-1) for a single Capacity/Energy column. */
static bml_status parse_rec(const csv_in *c, const rec_cols *k, int sign, bml__neware_record *r) {
    double dp, v;
    BML__TRY(num_field(c, k->datapoint, &dp));
    if (!(dp >= 1 && dp <= 4294967295.0 && dp == floor(dp))) return bad_field(c, k->datapoint, "a row number >= 1");
    r->index = (uint32_t)dp;
    r->time_s = 0;
    if (k->time >= 0) BML__TRY(time_field(c, k->time, &r->time_s));
    r->total_time_s = NAN;
    if (k->total >= 0) BML__TRY(time_field(c, k->total, &r->total_time_s));
    BML__TRY(num_field(c, k->current, &v));
    r->current_ma = v * k->i_scale;
    BML__TRY(num_field(c, k->voltage, &v));
    r->voltage_v = v * k->v_scale;
    double *out[4] = {&r->charge_mah, &r->discharge_mah, &r->charge_mwh, &r->discharge_mwh};
    for (int q = 0; q < 4; q++) *out[q] = NAN;
    const long split_cols[4] = {k->chg_cap, k->dchg_cap, k->chg_en, k->dchg_en};
    const double split_scale[4] = {k->cc_scale, k->dc_scale, k->ce_scale, k->de_scale};
    for (int q = 0; q < 4; q++)
        if (split_cols[q] >= 0) {
            if (!*fld(c, split_cols[q])) { /* BTSDA leaves some cells empty: as the row before (the caller) */
                *out[q] = INFINITY;
                continue;
            }
            BML__TRY(num_field(c, split_cols[q], &v));
            *out[q] = fabs(v) * split_scale[q];
        }
    const long one_cols[2] = {k->cap, k->energy};
    const double one_scale[2] = {k->cap_scale, k->en_scale};
    for (int q = 0; q < 2; q++) {
        if (one_cols[q] < 0 || split_cols[2 * q] >= 0) continue;
        BML__TRY(num_field(c, one_cols[q], &v));
        int sg = sign ? sign : (r->current_ma > 0) - (r->current_ma < 0);
        *out[2 * q] = sg > 0 ? fabs(v) * one_scale[q] : 0;
        *out[2 * q + 1] = sg < 0 ? fabs(v) * one_scale[q] : 0;
    }
    r->unix_time = k->date >= 0 ? date_field(fld(c, k->date)) : NAN;
    r->logged = 1;
    r->line = c->lineno;
    return BML_OK;
}

static bml_status emit_csv(emitter *e, csv_in *c, bml__neware_record *r, int64_t raw_step, bml__neware_record *prev,
                           int *have_prev) {
    double *q[4] = {&r->charge_mah, &r->discharge_mah, &r->charge_mwh, &r->discharge_mwh};
    const double was[4] = {prev->charge_mah, prev->discharge_mah, prev->charge_mwh, prev->discharge_mwh};
    for (int k = 0; k < 4; k++)
        if (isinf(*q[k])) *q[k] = *have_prev && raw_step == e->raw_step ? was[k] : 0; /* an empty cell */
    if (*have_prev && !isnan(r->total_time_s) && r->total_time_s < prev->total_time_s)
        return bml__fail(BML_ERR_PARSE, "%s: line %zu: the total time goes back (%.17g s after %.17g s)", c->path,
                         c->lineno, r->total_time_s, prev->total_time_s);
    if (*have_prev && r->cycle < prev->cycle)
        return bml__fail(BML_ERR_PARSE, "%s: line %zu: the cycle index goes back (%ld after %ld)", c->path, c->lineno,
                         r->cycle, prev->cycle);
    if (*have_prev && r->index <= prev->index)
        return bml__fail(BML_ERR_PARSE, "%s: line %zu: DataPoint %lu does not rise (after %lu)", c->path, c->lineno,
                         (unsigned long)r->index, (unsigned long)prev->index);
    *prev = *r;
    *have_prev = 1;
    return emit(e, r, raw_step, NULL, 0);
}

static bml_status long_field(const csv_in *c, long col, long *out) {
    double v;
    BML__TRY(num_field(c, col, &v));
    if (!(v >= 0 && v < 1e15 && v == floor(v))) return bad_field(c, col, "a whole number >= 0");
    *out = (long)v;
    return BML_OK;
}

/* the regular export: cycle lines (Cycle Index first), step lines (",Step Index,..."), record lines (",,DataPoint,...") */
static bml_status read_csv_regular(emitter *e, csv_in *c) {
    int got;
    BML__TRY(csv_next(c, &got));
    if (!got || c->n < 4 || *c->fld[0] || strcmp(c->fld[1], "Step Index"))
        return bml__fail(BML_ERR_SCHEMA, "%s: line %zu: the second header line of a Neware regular export (',Step Index,...') is missing",
                         c->path, c->lineno);
    long s_num = col_named(c, "Step Number"), s_type = col_named(c, "Step Type"), s_index = 1;
    if (s_type < 0) return missing_col(c, "Step Type");
    BML__TRY(csv_next(c, &got));
    if (!got || c->n < 3 || *c->fld[0] || *c->fld[1])
        return bml__fail(BML_ERR_SCHEMA, "%s: line %zu: the third header line of a Neware regular export (',,DataPoint,...') is missing",
                         c->path, c->lineno);
    rec_cols k;
    BML__TRY(find_rec_cols(c, &k));
    const long n_cycle_fields = 8; /* Cycle Index .. DChg. Time: a cycle line's step fields follow them */
    long cycle = -1, step = -1;
    int sign = 0, status = 0, have_prev = 0;
    bml__neware_record prev;
    memset(&prev, 0, sizeof prev);
    for (;;) {
        BML__TRY(csv_next(c, &got));
        if (!got) break;
        if (c->n == 1 && !*c->fld[0]) continue; /* a blank line */
        long off = -1;
        if (*c->fld[0]) { /* a cycle line, perhaps with its first step */
            BML__TRY(long_field(c, 0, &cycle));
            if (c->n > (size_t)n_cycle_fields + 1 && *fld(c, n_cycle_fields)) off = n_cycle_fields - 1;
        } else if (c->n > 1 && *c->fld[1]) {
            off = 0;
        }
        if (off >= 0) { /* a step */
            long si;
            BML__TRY(long_field(c, s_index + off, &si));
            if (s_num >= 0) BML__TRY(long_field(c, s_num + off, &step));
            else step = si;
            const char *type = fld(c, s_type + off);
            status = status_code(type);
            sign = type_sign(type);
            continue;
        }
        if (*c->fld[0]) continue;
        if (cycle < 0 || step < 0)
            return bml__fail(BML_ERR_PARSE, "%s: line %zu: a record line before any cycle and step line", c->path, c->lineno);
        bml__neware_record r;
        memset(&r, 0, sizeof r);
        BML__TRY(parse_rec(c, &k, sign, &r));
        r.cycle = cycle;
        r.status = status;
        BML__TRY(emit_csv(e, c, &r, step, &prev, &have_prev));
    }
    return BML_OK;
}

/* the flat export: one header line, one line per record */
static bml_status read_csv_flat(emitter *e, csv_in *c) {
    rec_cols k;
    BML__TRY(find_rec_cols(c, &k));
    long cy = col_named(c, "Cycle Index"), si = col_named(c, "Step Index"), st = col_named(c, "Step Type");
    if (cy < 0) return missing_col(c, "Cycle Index");
    if (si < 0) return missing_col(c, "Step Index");
    if (st < 0) return missing_col(c, "Step Type");
    int have_prev = 0, got;
    bml__neware_record prev;
    memset(&prev, 0, sizeof prev);
    for (;;) {
        BML__TRY(csv_next(c, &got));
        if (!got) break;
        if (c->n == 1 && !*c->fld[0]) continue;
        bml__neware_record r;
        memset(&r, 0, sizeof r);
        long step;
        BML__TRY(long_field(c, cy, &r.cycle));
        BML__TRY(long_field(c, si, &step));
        const char *type = fld(c, st);
        r.status = status_code(type);
        BML__TRY(parse_rec(c, &k, type_sign(type), &r));
        BML__TRY(emit_csv(e, c, &r, step, &prev, &have_prev));
    }
    return BML_OK;
}

static bml_status read_csv(emitter *e, int fd) {
    int cfd = dup(fd);
    FILE *f = cfd >= 0 ? fdopen(cfd, "r") : NULL;
    if (!f) {
        if (cfd >= 0) close(cfd);
        return bml__fail(BML_ERR_IO, "%s: %s", e->path, strerror(errno));
    }
    csv_in c = {.f = f, .path = e->path};
    e->file_cycles = 1;
    int got;
    bml_status st = csv_next(&c, &got);
    if (st == BML_OK && !got) st = bml__fail(BML_ERR_EMPTY, "%s: line 1: empty file", e->path);
    if (st == BML_OK) {
        if (c.n > 0 && !strncmp(c.fld[0], "\xEF\xBB\xBF", 3)) c.fld[0] += 3; /* a UTF-8 byte-order mark */
        if (c.n >= 2 && !strcmp(c.fld[0], "Cycle Index") && !strncmp(c.fld[1], "Chg. Cap.", 9)) {
            e->info->kind = 2;
            st = read_csv_regular(e, &c);
        } else if (col_named(&c, "DataPoint") >= 0 && col_named(&c, "Step Type") >= 0) {
            e->info->kind = 1;
            st = read_csv_flat(e, &c);
        } else {
            st = bml__fail(BML_ERR_SCHEMA, "%s: line 1: neither a Neware .nda/.ndax file nor a BTSDA CSV export (a header "
                                           "'Cycle Index,Chg. Cap.(..),...' or one with DataPoint and Step Type)", e->path);
        }
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) e->info->bytes = (double)sb.st_size;
    free(c.line);
    free(c.fld);
    fclose(f);
    return st;
}

/* ------------------------------------------------------------------ entry points */

bml_status bml__neware_records(const char *path, bml__neware_record_fn fn, void *user, bml__neware_info *info) {
    bml__neware_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    emitter e = {.path = path, .fn = fn, .user = user, .info = info};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return bml__fail(BML_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)sb.st_size;
    unsigned char head[8] = {0};
    ssize_t got = pread(fd, head, sizeof head, 0);
    bml_status st;
    if (got >= 4 && memcmp(head, "PK\3\4", 4) == 0) {
        st = read_ndax(&e, fd, n);
    } else if (n == 0) {
        st = bml__fail(BML_ERR_PARSE, "%s: byte offset 0: empty file", path);
    } else if (!(got >= 6 && memcmp(head, "NEWARE", 6) == 0)) {
        int binary = 0;
        for (ssize_t i = 0; i < got; i++) binary |= head[i] < 0x09 || (head[i] > 0x0d && head[i] < 0x20);
        if (binary)
            st = bml__fail(BML_ERR_PARSE, "%s: byte offset 0: not a Neware file (neither an .nda ('NEWARE'), an .ndax (zip) "
                                          "nor a BTSDA CSV export)", path);
        else
            st = read_csv(&e, fd);
    } else {
        void *mm = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (mm == MAP_FAILED) {
            st = bml__fail(BML_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        } else {
            info->bytes = (double)n;
            st = read_nda(&e, mm, n);
            munmap(mm, n);
        }
    }
    close(fd);
    return st;
}

/* ---- rows of batteryml/cycler.h ---- */
typedef struct {
    bml_cycler_point_fn fn;
    void *user;
    bml_cycler_meta *meta;
    int have;
    long cycle, step;
    double base[4], stepmax[4], stepraw[4]; /* stepraw: the step's largest |counter| so far, stepmax: that / 1000 */
    double t_off, last_time, prev_t;
} converter;

static bml_status on_record(const bml__neware_record *r, void *user) {
    converter *c = user;
    if (c->have && r->step != c->step) {
        for (int k = 0; k < 4; k++) c->base[k] += c->stepmax[k], c->stepmax[k] = c->stepraw[k] = 0;
        c->t_off += c->last_time;
    }
    if (c->have && r->cycle != c->cycle)
        for (int k = 0; k < 4; k++) c->base[k] = 0;
    const double raw[4] = {r->charge_mah, r->discharge_mah, r->charge_mwh, r->discharge_mwh};
    for (int k = 0; k < 4; k++) { /* x / 1000 never falls as x rises: the largest |counter| gives the largest quotient */
        double a = fabs(raw[k]);
        if (a > c->stepraw[k]) c->stepraw[k] = a, c->stepmax[k] = a / 1000;
    }
    bml_cycler_point p;
    p.test_time_s = isnan(r->total_time_s) ? c->t_off + r->time_s : r->total_time_s;
    if (c->have && p.test_time_s < c->prev_t) p.test_time_s = c->prev_t;
    p.cycle = r->cycle;
    p.step = r->step;
    p.current_a = r->current_ma / 1000;
    p.voltage_v = r->voltage_v;
    p.charge_ah = isnan(raw[0]) ? NAN : c->base[0] + c->stepmax[0]; /* NaN: not in the file */
    p.discharge_ah = isnan(raw[1]) ? NAN : c->base[1] + c->stepmax[1];
    p.charge_wh = isnan(raw[2]) ? NAN : c->base[2] + c->stepmax[2];
    p.discharge_wh = isnan(raw[3]) ? NAN : c->base[3] + c->stepmax[3];
    p.temperature_c = NAN;
    p.resistance_ohm = NAN;
    p.unix_time = r->unix_time;
    p.line = r->line ? r->line : r->index;
    c->have = 1;
    c->cycle = r->cycle, c->step = r->step;
    c->last_time = r->time_s > 0 ? r->time_s : 0;
    c->prev_t = p.test_time_s;
    c->meta->n_points++;
    return c->fn(&p, c->user);
}

static char *file_stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    return bml__strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
}

bml_status bml__neware_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta_out) {
    bml_cycler_meta local;
    bml_cycler_meta *meta = meta_out ? meta_out : &local;
    memset(meta, 0, sizeof *meta);
    meta->format = BML_CYCLER_AUTO; /* the format registry's line for Neware sets it */
    meta->nominal_capacity_ah = NAN;
    meta->has_cycle_index = 1;
    meta->path = bml__strdup(path);
    meta->cell = file_stem(path);
    if (!meta->path || !meta->cell) {
        bml_cycler_meta_free(meta);
        return bml__fail(BML_ERR_NOMEM, "out of memory");
    }
    converter c;
    memset(&c, 0, sizeof c);
    c.fn = fn, c.user = user, c.meta = meta;
    bml__neware_info info;
    bml_status st = bml__neware_records(path, on_record, &c, &info);
    meta->mb_read = info.bytes / 1e6;
    if (st == BML_OK && meta->n_points == 0) st = bml__fail(BML_ERR_EMPTY, "%s: no data rows", path);
    if (!meta_out) bml_cycler_meta_free(meta);
    return st;
}

static int has_suffix_ci(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcasecmp(s + n - k, suf) == 0;
}

int bml__neware_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    (void)why; /* no near matches: a file is Neware's or not */
    if (!head) return 0;
    if (n >= 6 && memcmp(head, "NEWARE", 6) == 0) return 100;
    if (n >= 30 && memcmp(head, "PK\3\4", 4) == 0) {
        if (path && has_suffix_ci(path, ".ndax")) return 90;
        static const char *const members[] = {"VersionInfo.xml", "Step.xml", "TestInfo.xml", "EditStep.xml", "data.ndc"};
        size_t len = rd_u16(head + 26);
        if (30 + len <= n)
            for (size_t i = 0; i < sizeof members / sizeof *members; i++)
                if (strlen(members[i]) == len && memcmp(head + 30, members[i], len) == 0) return 80;
        return 0;
    }
    /* BTSDA CSV exports: the header line */
    size_t line = n;
    const unsigned char *nl = memchr(head, '\n', n);
    if (nl) line = (size_t)(nl - head);
    const unsigned char *h = head;
    if (line >= 3 && !memcmp(h, "\xEF\xBB\xBF", 3)) h += 3, line -= 3;
    if (line >= 22 && !memcmp(h, "Cycle Index,Chg. Cap.(", 22)) return 95;
    if (memmem(h, line, "DataPoint,", 10) && memmem(h, line, "Step Type", 9) &&
        (memmem(h, line, "Chg. Cap.(", 10) || memmem(h, line, "Capacity(", 9)))
        return 85;
    return 0;
}
