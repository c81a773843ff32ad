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
} emitter;

static bml_status emit(emitter *e, bml__neware_record *r, int64_t raw_step, const char *member, size_t offset) {
    if (e->have && r->index <= e->last_index) { /* a duplicate or a record out of order: left out */
        e->info->n_skipped++;
        return BML_OK;
    }
    const double v[] = {r->time_s, r->voltage_v, r->current_ma, r->charge_mah, r->discharge_mah, r->charge_mwh,
                        r->discharge_mwh};
    for (size_t k = 0; k < sizeof v / sizeof *v; k++)
        if (!isfinite(v[k]))
            return bml__fail(BML_ERR_PARSE, "%s%s%s: byte offset %zu: record %lu holds a value that is not a finite number",
                             e->path, member ? ": " : "", member ? member : "", offset, (unsigned long)r->index);
    if (!e->have) e->step = 1, e->cycle = 1;
    else if (raw_step != e->raw_step) e->step++;
    /* a new cycle where a charge step begins after a discharge (or a SIM step) */
    const char *name = bml__neware_status_name(r->status);
    int inc = r->status == 1 || r->status == 7 || r->status == 9;
    int rising = inc && (!e->have || !e->prev_inc);
    if (strchr(name, '_')) {
        size_t len = strlen(name);
        if (rising && e->flag) e->cycle++, e->flag = 0;
        else if (len > 5 && strcmp(name + len - 5, "_DChg") == 0) e->flag = 1;
    } else if (r->status == 17) {
        e->flag = 1;
    }
    e->prev_inc = inc;
    e->have = 1;
    e->raw_step = raw_step;
    e->last_index = r->index;
    r->step = e->step;
    r->cycle = e->cycle;
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

/* One .ndc member, page by page, from memory or from the zip archive. */
typedef struct {
    const char *path, *member;
    const unsigned char *mem;
    size_t n;          /* memory: its length; zip: the member's uncompressed size */
    zip_file_t *zf;
    unsigned char buf[PAGE];
    size_t off;        /* offset of the next page in the member */
    int type, version;
} pager;

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
        size_t got = 0;
        while (got < PAGE) {
            zip_int64_t k = zip_fread(p->zf, p->buf + got, PAGE - got);
            if (k < 0)
                return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: cannot read the member: %s (damaged archive)",
                                 p->path, p->member, p->off + got, zip_file_strerror(p->zf));
            if (k == 0)
                return bml__fail(BML_ERR_PARSE, "%s: %s: byte offset %zu: the member ends before its stated size %zu: truncated",
                                 p->path, p->member, p->off + got, p->n);
            got += (size_t)k;
        }
        *page = p->buf;
    }
    p->off += PAGE;
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
    pager pg;
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
            BML__TRY(pager_next(&rr->pg, &rr->page));
            if (!rr->page) return BML_OK;
            rr->slot = 0;
        }
        size_t i = rr->slot++;
        if (!slot_used(rr->page, i)) continue;
        const unsigned char *b = rr->page + SLOT0 + i * rr->rsize;
        uint32_t index = rd_u32(b + 41);
        if (index == 0 || (rr->last_index && index <= rr->last_index)) continue;
        rr->last_index = index;
        double scale = rr->pg.version == 14 ? 1000.0 : 1.0 / 3600;
        out->index = index;
        out->time_s = rd_i32(b) / 1000.0;
        for (int k = 0; k < 4; k++) out->cnt[k] = rd_f32(b + 5 + 4 * k) * scale;
        out->dt_s = rd_i32(b + 29) / 1000.0;
        int ms = rr->pg.version == 14 ? rd_i16(b + 45) : rd_u16(b + 45);
        out->unix_time = rd_u32(b + 33) + ms / 1000.0;
        uint32_t raw = rd_u32(b + 37);
        if (!rr->have_step) rr->step = 1;
        else if (raw != rr->raw_step) rr->step++;
        rr->have_step = 1, rr->raw_step = raw;
        out->step = rr->step;
        out->offset = rr->pg.off - PAGE + SLOT0 + i * rr->rsize;
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
    rr.pg = *run;
    rr.rsize = run->version == 14 ? 55 : 47;
    rr.nslots = slots_per_page(rr.rsize);
    run_rec prev, next;
    memset(&prev, 0, sizeof prev);
    memset(&next, 0, sizeof next);
    int have_prev = 0, have_next = 0;
    st = run_next(&rr, &next, &have_next);
    double vscale = data->version == 14 ? 1.0 : 1e-4, iscale = data->version == 14 ? 1000.0 : 1.0;
    uint32_t index = 0;
    bml__neware_record last; /* the previous row handed over */
    memset(&last, 0, sizeof last);
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
            bml__neware_record r;
            memset(&r, 0, sizeof r);
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
                stepc = prev.step;
                if (have_next && next.step == prev.step && next.index > prev.index)
                    r.time_s = prev.time_s + (next.time_s - prev.time_s) * (double)(index - prev.index) /
                                                 (double)(next.index - prev.index);
                else
                    r.time_s = last.time_s + (prev.dt_s > 0 ? prev.dt_s : 0);
                double dt = r.time_s - last.time_s; /* the previous row is of this step (it is filled or prev) */
                if (!(dt > 0)) dt = 0;
                double q = fabs(r.current_ma) * dt / 3600, w = q * fabs(r.voltage_v);
                r.charge_mah = fabs(last.charge_mah), r.discharge_mah = fabs(last.discharge_mah);
                r.charge_mwh = fabs(last.charge_mwh), r.discharge_mwh = fabs(last.discharge_mwh);
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
            last = r;
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

static bml_status open_member(zip_t *z, const char *path, const char *member, pager *p, int required, int *found) {
    memset(p, 0, sizeof *p);
    p->path = path, p->member = member;
    *found = 0;
    zip_int64_t i = zip_name_locate(z, member, 0);
    if (i < 0) {
        if (required) return bml__fail(BML_ERR_SCHEMA, "%s: no member %s in this .ndax archive", path, member);
        return BML_OK;
    }
    zip_stat_t zs;
    if (zip_stat_index(z, (zip_uint64_t)i, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
        return bml__fail(BML_ERR_PARSE, "%s: %s: the archive does not say the member's size: %s", path, member, zip_strerror(z));
    if (zs.size > SIZE_MAX / 2) return bml__fail(BML_ERR_PARSE, "%s: %s: member size %llu too large", path, member, (unsigned long long)zs.size);
    p->n = (size_t)zs.size;
    p->zf = zip_fopen_index(z, (zip_uint64_t)i, 0);
    if (!p->zf)
        return bml__fail(BML_ERR_PARSE, "%s: %s: cannot open the member: %s (damaged archive)", path, member, zip_strerror(z));
    *found = 1;
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
    pager pd, pr, ps;
    int fd_, fr, fs;
    bml_status st = open_member(z, e->path, "data.ndc", &pd, 1, &fd_);
    if (st == BML_OK) st = open_member(z, e->path, "data_runInfo.ndc", &pr, 1, &fr);
    else fr = 0;
    if (st == BML_OK) st = open_member(z, e->path, "data_step.ndc", &ps, 1, &fs);
    else fs = 0;
    if (st == BML_OK) {
        e->info->bytes = (double)pd.n + (double)pr.n + (double)ps.n;
        st = ndc_join(e, &pd, &pr, &ps);
    }
    if (fd_ && pd.zf) zip_fclose(pd.zf);
    if (fr && pr.zf) zip_fclose(pr.zf);
    if (fs && ps.zf) zip_fclose(ps.zf);
    zip_discard(z);
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
    double base[4], stepmax[4];
    double t_off, last_time, prev_t;
} converter;

static bml_status on_record(const bml__neware_record *r, void *user) {
    converter *c = user;
    if (c->have && r->step != c->step) {
        for (int k = 0; k < 4; k++) c->base[k] += c->stepmax[k], c->stepmax[k] = 0;
        c->t_off += c->last_time;
    }
    if (c->have && r->cycle != c->cycle)
        for (int k = 0; k < 4; k++) c->base[k] = 0;
    const double raw[4] = {r->charge_mah, r->discharge_mah, r->charge_mwh, r->discharge_mwh};
    for (int k = 0; k < 4; k++) {
        double v = fabs(raw[k]) / 1000;
        if (v > c->stepmax[k]) c->stepmax[k] = v;
    }
    bml_cycler_point p;
    p.test_time_s = c->t_off + r->time_s;
    if (c->have && p.test_time_s < c->prev_t) p.test_time_s = c->prev_t;
    p.cycle = r->cycle;
    p.step = r->step;
    p.current_a = r->current_ma / 1000;
    p.voltage_v = r->voltage_v;
    p.charge_ah = c->base[0] + c->stepmax[0];
    p.discharge_ah = c->base[1] + c->stepmax[1];
    p.charge_wh = c->base[2] + c->stepmax[2];
    p.discharge_wh = c->base[3] + c->stepmax[3];
    p.temperature_c = NAN;
    p.resistance_ohm = NAN;
    p.unix_time = r->unix_time;
    p.line = r->index;
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
    bml_cycler_format format = meta_out ? meta_out->format : BML_CYCLER_AUTO;
    memset(meta, 0, sizeof *meta);
    meta->format = format; /* the registry line sets it */
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

int bml__neware_sniff(const unsigned char *head, size_t n, const char *path) {
    if (!head) return 0;
    if (n >= 6 && memcmp(head, "NEWARE", 6) == 0) return 100;
    if (n >= 30 && memcmp(head, "PK\3\4", 4) == 0) {
        if (path && has_suffix_ci(path, ".ndax")) return 90;
        static const char *const members[] = {"VersionInfo.xml", "Step.xml", "TestInfo.xml", "EditStep.xml", "data.ndc"};
        size_t len = rd_u16(head + 26);
        if (30 + len <= n)
            for (size_t i = 0; i < sizeof members / sizeof *members; i++)
                if (strlen(members[i]) == len && memcmp(head + 30, members[i], len) == 0) return 80;
    }
    return 0;
}
