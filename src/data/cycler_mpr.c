/* BioLogic EC-Lab binary .mpr (the "modular file"), streamed into the canonical series of batteryml/cycler.h.
 *
 * Layout (learned from reading echemdata/galvani, whose code is not copied here, and checked on the files of
 * ../shared/data/cyclers-more/biologic/): a 52-byte magic ("BIO-LOGIC MODULAR FILE", 0x1A, spaces to 48
 * bytes, 4 zero bytes), then modules, each "MODULE" + a header + `length` bytes of content:
 *   header v1 (EC-Lab < 11.50, 51 bytes): short name [10], long name [25], length u32, version u32, date [8]
 *   header v2 (EC-Lab >= 11.50, 59 bytes; the u32 at header byte 35 is 0xFFFFFFFF): short name [10], long
 *             name [25], max length u32, length u32, version u32, unknown u32, date [8]
 *   (all integers little-endian). The modules: "VMP Set" (settings; its date is the start), "VMP data",
 *   "VMP LOG", "VMP loop" (optional).
 * The data module: number of points u32 at 0, number of columns u8 at 4, then the column ids and the records:
 *   version 0, byte 5 != 0: ids u8 from byte 5, records from byte 100
 *   version 0, byte 5 == 0: ids u16 from byte 6, records from byte 1007
 *   version 2:              ids u16 from byte 5, records from byte 405
 *   version 3:              ids u16 from byte 5, records from byte 406
 * A record is the columns packed in id order without padding; ids 1, 2, 3, 21, 31, 65 are bits of one flags
 * byte (mode, ox/red, error, control changes, Ns changes, counter inc.) placed where the first of them is.
 * Every length and offset is checked against the file: a bad one fails naming the file and the byte offset.
 *
 * Counters as in the EC-Lab text export (src/data/cycler_read.c, "biologic"): Q charge/mA.h and Q
 * discharge/mA.h, else the signed Q charge/discharge/mA.h, else (Q-Qo)/mA.h; restarts at each half cycle
 * (without a half cycle column: each cycle and Ns), a fall elsewhere is noise. A file without a current
 * column (Modulo Bat files may have none) gets each interval's mean current from dq/mA.h (the charge passed
 * since the previous point, as EC-Lab defines it): I = dq * 3.6 / dt. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batteryml/cycler.h"
#include "core/internal.h"
#include "data/cycler_internal.h"

static const char MPR_MAGIC[] = "BIO-LOGIC MODULAR FILE\x1a";
#define MAGIC_LEN 52

/* ---- column ids: name, stored type ---- */
typedef enum { T_F4, T_F8, T_U1, T_U2, T_U4, T_FLAG } ctype;
typedef struct {
    unsigned id;
    const char *name;
    ctype type;
} colid;
static const colid COLS[] = {
    {1, "mode", T_FLAG}, {2, "ox/red", T_FLAG}, {3, "error", T_FLAG}, {21, "control changes", T_FLAG},
    {31, "Ns changes", T_FLAG}, {65, "counter inc.", T_FLAG},
    {4, "time/s", T_F8}, {5, "control/V/mA", T_F4}, {6, "Ewe/V", T_F4}, {7, "dq/mA.h", T_F8}, {8, "I/mA", T_F4},
    {9, "Ece/V", T_F4}, {11, "<I>/mA", T_F8}, {13, "(Q-Qo)/mA.h", T_F8}, {16, "Analog IN 1/V", T_F4},
    {17, "Analog IN 2/V", T_F4}, {19, "control/V", T_F4}, {20, "control/mA", T_F4}, {23, "dQ/mA.h", T_F8},
    {24, "cycle number", T_F8}, {26, "Rapp/Ohm", T_F4}, {27, "Ewe-Ece/V", T_F4}, {32, "freq/Hz", T_F4},
    {33, "|Ewe|/V", T_F4}, {34, "|I|/A", T_F4}, {35, "Phase(Z)/deg", T_F4}, {36, "|Z|/Ohm", T_F4},
    {37, "Re(Z)/Ohm", T_F4}, {38, "-Im(Z)/Ohm", T_F4}, {39, "I Range", T_U2}, {69, "R/Ohm", T_F4}, {70, "P/W", T_F4},
    {74, "|Energy|/W.h", T_F8}, {75, "Analog OUT/V", T_F4}, {76, "<I>/mA", T_F4}, {77, "<Ewe>/V", T_F4},
    {78, "Cs-2/uF-2", T_F4}, {96, "|Ece|/V", T_F4}, {98, "Phase(Zce)/deg", T_F4}, {99, "|Zce|/Ohm", T_F4},
    {100, "Re(Zce)/Ohm", T_F4}, {101, "-Im(Zce)/Ohm", T_F4}, {123, "Energy charge/W.h", T_F8},
    {124, "Energy discharge/W.h", T_F8}, {125, "Capacitance charge/uF", T_F8}, {126, "Capacitance discharge/uF", T_F8},
    {131, "Ns", T_U2}, {163, "|Estack|/V", T_F4}, {168, "Rcmp/Ohm", T_F4}, {169, "Cs/uF", T_F4}, {172, "Cp/uF", T_F4},
    {173, "Cp-2/uF-2", T_F4}, {174, "<Ewe>/V", T_F4}, {178, "(Q-Qo)/C", T_F4}, {179, "dQ/C", T_F4},
    {211, "Q charge/discharge/mA.h", T_F8}, {212, "half cycle", T_U4}, {213, "z cycle", T_U4},
    {217, "THD Ewe/%", T_F4}, {218, "THD I/%", T_F4}, {220, "NSD Ewe/%", T_F4}, {221, "NSD I/%", T_F4},
    {223, "NSR Ewe/%", T_F4}, {224, "NSR I/%", T_F4}, {230, "|Ewe h2|/V", T_F4}, {231, "|Ewe h3|/V", T_F4},
    {232, "|Ewe h4|/V", T_F4}, {233, "|Ewe h5|/V", T_F4}, {234, "|Ewe h6|/V", T_F4}, {235, "|Ewe h7|/V", T_F4},
    {236, "|I h2|/A", T_F4}, {237, "|I h3|/A", T_F4}, {238, "|I h4|/A", T_F4}, {239, "|I h5|/A", T_F4},
    {240, "|I h6|/A", T_F4}, {241, "|I h7|/A", T_F4}, {242, "|E2|/V", T_F4}, {271, "Phase(Z1)/deg", T_F4},
    {272, "Phase(Z2)/deg", T_F4}, {301, "|Z1|/Ohm", T_F4}, {302, "|Z2|/Ohm", T_F4}, {331, "Re(Z1)/Ohm", T_F4},
    {332, "Re(Z2)/Ohm", T_F4}, {361, "-Im(Z1)/Ohm", T_F4}, {362, "-Im(Z2)/Ohm", T_F4}, {391, "<E1>/V", T_F4},
    {392, "<E2>/V", T_F4}, {422, "Phase(Zstack)/deg", T_F4}, {423, "|Zstack|/Ohm", T_F4},
    {424, "Re(Zstack)/Ohm", T_F4}, {425, "-Im(Zstack)/Ohm", T_F4}, {426, "<Estack>/V", T_F4},
    {430, "Phase(Zwe-ce)/deg", T_F4}, {431, "|Zwe-ce|/Ohm", T_F4}, {432, "Re(Zwe-ce)/Ohm", T_F4},
    {433, "-Im(Zwe-ce)/Ohm", T_F4}, {434, "(Q-Qo)/C", T_F4}, {435, "dQ/C", T_F4}, {438, "step time/s", T_F8},
    {441, "<Ecv>/V", T_F4}, {462, "Temperature/degC", T_F4}, {467, "Q charge/discharge/mA.h", T_F8},
    {468, "half cycle", T_U4}, {469, "z cycle", T_U4}, {471, "<Ece>/V", T_F4}, {473, "THD Ewe/%", T_F4},
    {474, "THD I/%", T_F4}, {476, "NSD Ewe/%", T_F4}, {477, "NSD I/%", T_F4}, {479, "NSR Ewe/%", T_F4},
    {480, "NSR I/%", T_F4}, {486, "|Ewe h2|/V", T_F4}, {487, "|Ewe h3|/V", T_F4}, {488, "|Ewe h4|/V", T_F4},
    {489, "|Ewe h5|/V", T_F4}, {490, "|Ewe h6|/V", T_F4}, {491, "|Ewe h7|/V", T_F4}, {492, "|I h2|/A", T_F4},
    {493, "|I h3|/A", T_F4}, {494, "|I h4|/A", T_F4}, {495, "|I h5|/A", T_F4}, {496, "|I h6|/A", T_F4},
    {497, "|I h7|/A", T_F4}, {498, "Q charge/mA.h", T_F8}, {499, "Q discharge/mA.h", T_F8},
    {500, "step time/s", T_F8}, {501, "Efficiency/%", T_F8}, {502, "Capacity/mA.h", T_F8}, {505, "Rdc/Ohm", T_F4},
    {509, "Acir/Dcir Control", T_U1},
};

static const colid *colid_of(unsigned id) {
    for (size_t i = 0; i < sizeof COLS / sizeof *COLS; i++)
        if (COLS[i].id == id) return &COLS[i];
    return NULL;
}

static size_t type_size(ctype t) {
    switch (t) {
    case T_F4: case T_U4: return 4;
    case T_F8: return 8;
    case T_U2: return 2;
    default: return 1;
    }
}

/* the roles the reader uses, each a byte offset in the record (-1 absent) and its type */
enum { M_TIME, M_I, M_IAVG, M_IAVG4, M_V, M_VAVG, M_VAVG2, M_DQ, M_CYCLE, M_NS, M_HALF, M_QC, M_QD, M_QS, M_QNET, M_EC,
       M_ED, M_TEMP, M_RAPP, M_N };
static const unsigned ROLE_ID[M_N][2] = {{4, 0},   {8, 0},   {11, 0},  {76, 0},  {6, 0},   {77, 0},  {174, 0},
                                         {7, 0},   {24, 0},  {131, 0}, {212, 468}, {498, 0}, {499, 0}, {211, 467},
                                         {13, 0},  {123, 0}, {124, 0}, {462, 0}, {26, 0}};

static uint32_t u32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double field(const unsigned char *rec, long off, ctype t) {
    const unsigned char *p = rec + off;
    switch (t) {
    case T_F4: {
        float f;
        memcpy(&f, p, 4); /* (the library runs on little-endian machines, as EC-Lab's files are) */
        return f;
    }
    case T_F8: {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    case T_U1: return p[0];
    case T_U2: return (double)(p[0] | p[1] << 8);
    case T_U4: return (double)u32le(p);
    default: return p[0];
    }
}

/* ---- the registry's sniffer ---- */

int bml__mpr_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    (void)path;
    size_t m = sizeof MPR_MAGIC - 1;
    if (n >= m && !memcmp(head, MPR_MAGIC, m)) return 100;
    if (n >= 9 && !memcmp(head, "BIO-LOGIC", 9))
        return bml__sniff_near(why, "a BIO-LOGIC title but not the modular file's magic", 20);
    return 0;
}

/* ---- reading ---- */

typedef struct {
    FILE *f;
    const char *path;
    long long size;
} mfile;

/* n bytes at offset off, or a failure naming the offset */
static bml_status at(mfile *m, long long off, void *buf, size_t n, const char *what) {
    if (off < 0 || off > m->size || (long long)n > m->size - off)
        return bml__fail(BML_ERR_PARSE, "%s: byte %lld: %s (%zu bytes) runs past the end of the file (%lld bytes): truncated?",
                         m->path, off, what, n, m->size);
    if (fseeko(m->f, (off_t)off, SEEK_SET) != 0 || fread(buf, 1, n, m->f) != n)
        return bml__fail(BML_ERR_IO, "%s: byte %lld: read error", m->path, off);
    return BML_OK;
}

typedef struct {
    long long data_off, data_len; /* the data module's content */
    int have_data, have_set;
    unsigned version;
    char date[9];
} modules;

static bml_status read_modules(mfile *m, modules *mods) {
    unsigned char magic[MAGIC_LEN];
    BML__TRY(at(m, 0, magic, MAGIC_LEN, "the file's magic"));
    static const unsigned char zero4[4] = {0, 0, 0, 0};
    size_t ml = sizeof MPR_MAGIC - 1;
    int ok = !memcmp(magic, MPR_MAGIC, ml) && !memcmp(magic + 48, zero4, 4);
    for (size_t i = ml; ok && i < 48; i++) ok = magic[i] == ' ';
    if (!ok) return bml__fail(BML_ERR_PARSE, "%s: byte 0: not a BioLogic modular file (.mpr) magic", m->path);
    long long off = MAGIC_LEN;
    while (off < m->size) {
        unsigned char h[6 + 59];
        BML__TRY(at(m, off, h, 6 + 51, "a module header"));
        if (memcmp(h, "MODULE", 6))
            return bml__fail(BML_ERR_PARSE, "%s: byte %lld: expected the start of a module (\"MODULE\")", m->path, off);
        int v2 = u32le(h + 6 + 35) == 0xFFFFFFFFu;
        size_t hl = v2 ? 59 : 51;
        if (v2) BML__TRY(at(m, off, h, 6 + hl, "a module header"));
        const unsigned char *p = h + 6;
        uint32_t len = u32le(p + (v2 ? 39 : 35)), ver = u32le(p + (v2 ? 43 : 39));
        const unsigned char *date = p + (v2 ? 51 : 43);
        long long content = off + 6 + (long long)hl;
        if ((long long)len > m->size - content)
            return bml__fail(BML_ERR_PARSE, "%s: byte %lld: module '%.10s' says %u bytes, past the end of the file (%lld "
                                            "bytes): truncated?", m->path, off, (const char *)p, len, m->size);
        if (!memcmp(p, "VMP data  ", 10)) {
            if (mods->have_data)
                return bml__fail(BML_ERR_PARSE, "%s: byte %lld: a second data module", m->path, off);
            mods->have_data = 1;
            mods->data_off = content;
            mods->data_len = len;
            mods->version = ver;
        } else if (!memcmp(p, "VMP Set   ", 10)) {
            mods->have_set = 1;
            size_t k = 0;
            for (; k < 8 && date[k] >= ' ' && date[k] < 127; k++) mods->date[k] = (char)date[k];
            mods->date[k] = 0;
        }
        off = content + len;
    }
    if (!mods->have_data) return bml__fail(BML_ERR_PARSE, "%s: byte %lld: no data module (\"VMP data\")", m->path, off);
    return BML_OK;
}

typedef struct {
    long off[M_N];
    ctype type[M_N];
    size_t rec_size;
    uint32_t n_points;
    long long rec_start; /* file offset of the first record */
} layout;

static bml_status read_layout(mfile *m, const modules *mods, layout *L) {
    for (int r = 0; r < M_N; r++) L->off[r] = -1;
    long long d = mods->data_off;
    unsigned char h[6];
    if (mods->data_len < 6)
        return bml__fail(BML_ERR_PARSE, "%s: byte %lld: a data module of %lld bytes, too short for its header", m->path, d,
                         mods->data_len);
    BML__TRY(at(m, d, h, 6, "the data module's header"));
    L->n_points = u32le(h);
    unsigned nc = h[4];
    long long ids_at, start;
    int wide;
    if (mods->version == 0 && h[5]) ids_at = 5, wide = 0, start = 100;
    else if (mods->version == 0) ids_at = 6, wide = 1, start = 1007;
    else if (mods->version == 2) ids_at = 5, wide = 1, start = 405;
    else if (mods->version == 3) ids_at = 5, wide = 1, start = 406;
    else
        return bml__fail(BML_ERR_PARSE, "%s: byte %lld: data module version %u, not one this reader knows (0, 2, 3: "
                                        "EC-Lab 10-11.6x)", m->path, d, mods->version);
    if (ids_at + (long long)nc * (wide ? 2 : 1) > start || start > mods->data_len)
        return bml__fail(BML_ERR_PARSE, "%s: byte %lld: a data module of %lld bytes cannot hold %u column ids and its "
                                        "records from byte %lld", m->path, d, mods->data_len, nc, start);
    unsigned char ids[512];
    BML__TRY(at(m, d + ids_at, ids, (size_t)nc * (wide ? 2 : 1), "the column ids"));
    size_t pos = 0;
    int flags_at = -1;
    for (unsigned i = 0; i < nc; i++) {
        unsigned id = wide ? (unsigned)(ids[2 * i] | ids[2 * i + 1] << 8) : ids[i];
        const colid *c = colid_of(id);
        if (!c)
            return bml__fail(BML_ERR_PARSE, "%s: byte %lld: column id %u (column %u) is not one this reader knows: the "
                                            "record layout cannot be known", m->path, d + ids_at + (long long)i * (wide ? 2 : 1),
                             id, i + 1);
        if (c->type == T_FLAG) {
            if (flags_at < 0) flags_at = (int)pos, pos += 1;
            continue;
        }
        for (int r = 0; r < M_N; r++)
            if ((ROLE_ID[r][0] == id || (ROLE_ID[r][1] && ROLE_ID[r][1] == id)) && L->off[r] < 0) {
                L->off[r] = (long)pos;
                L->type[r] = c->type;
            }
        pos += type_size(c->type);
    }
    L->rec_size = pos;
    L->rec_start = d + start;
    long long have = mods->data_len - start;
    if (pos == 0 || (long long)L->n_points * (long long)pos != have)
        return bml__fail(BML_ERR_PARSE, "%s: byte %lld: %u points of %zu bytes need %lld bytes, the data module holds %lld "
                                        "from here: truncated or another layout", m->path, L->rec_start, L->n_points, pos,
                         (long long)L->n_points * (long long)pos, have);
    if (L->off[M_TIME] < 0) return bml__fail(BML_ERR_SCHEMA, "%s: byte %lld: no time/s column", m->path, d + ids_at);
    if (L->off[M_V] < 0 && L->off[M_VAVG] < 0 && L->off[M_VAVG2] < 0)
        return bml__fail(BML_ERR_SCHEMA, "%s: byte %lld: no Ewe/V or <Ewe>/V column", m->path, d + ids_at);
    if (L->off[M_I] < 0 && L->off[M_IAVG] < 0 && L->off[M_IAVG4] < 0 && L->off[M_DQ] < 0)
        return bml__fail(BML_ERR_SCHEMA, "%s: byte %lld: no current column (I/mA, <I>/mA) and no dq/mA.h to take it from",
                         m->path, d + ids_at);
    return BML_OK;
}

#define CHUNK 4096 /* records read at a time */

bml_status bml__mpr_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
    mfile m = {NULL, path, 0};
    m.f = fopen(path, "rb");
    if (!m.f) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    bml_status st = BML_OK;
    if (fstat(fileno(m.f), &sb) != 0) st = bml__fail(BML_ERR_IO, "%s: cannot stat", path);
    m.size = (long long)sb.st_size;
    modules mods;
    memset(&mods, 0, sizeof mods);
    layout L;
    memset(&L, 0, sizeof L);
    if (st == BML_OK) st = read_modules(&m, &mods);
    if (st == BML_OK) st = read_layout(&m, &mods, &L);
    if (st == BML_OK && mods.date[0] && !meta->start_time && !(meta->start_time = bml__strdup(mods.date)))
        st = bml__fail(BML_ERR_NOMEM, "out of memory");
    if (st == BML_OK && L.n_points == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: byte %lld: a data module with no points", path, L.rec_start);
    unsigned char *buf = st == BML_OK ? malloc(CHUNK * L.rec_size) : NULL;
    if (st == BML_OK && !buf) st = bml__fail(BML_ERR_NOMEM, "out of memory");
    meta->has_cycle_index = L.off[M_CYCLE] >= 0;
    const int cur = L.off[M_I] >= 0 ? M_I : L.off[M_IAVG] >= 0 ? M_IAVG : L.off[M_IAVG4] >= 0 ? M_IAVG4 : -1;
    const int volt = L.off[M_V] >= 0 ? M_V : L.off[M_VAVG] >= 0 ? M_VAVG : M_VAVG2;
    const int q_own = L.off[M_QC] >= 0 || L.off[M_QD] >= 0, q_split = !q_own && L.off[M_QS] >= 0,
              q_net = !q_own && !q_split && L.off[M_QNET] >= 0;
    const int restart_mask_half = L.off[M_HALF] >= 0;
    bml__counter qc = {0, 0}, qd = {0, 0}, ec = {0, 0}, ed = {0, 0};
    double sum[4] = {0, 0, 0, 0}, t_prev = 0, net_prev = NAN;
    long cyc_prev = 0, ns_prev = 0, half_prev = 0;
    int started = 0;
    meta->mb_read = (double)L.rec_start / 1e6;
    for (uint32_t i0 = 0; st == BML_OK && i0 < L.n_points; i0 += CHUNK) {
        uint32_t k = L.n_points - i0 < CHUNK ? L.n_points - i0 : CHUNK;
        long long off = L.rec_start + (long long)i0 * (long long)L.rec_size;
        if ((st = at(&m, off, buf, (size_t)k * L.rec_size, "the records")) != BML_OK) break;
        meta->mb_read += (double)k * (double)L.rec_size / 1e6;
        for (uint32_t j = 0; j < k && st == BML_OK; j++) {
            const unsigned char *rec = buf + (size_t)j * L.rec_size;
            long long roff = off + (long long)j * (long long)L.rec_size;
            bml_cycler_point p;
            p.line = (size_t)(i0 + j) + 1; /* the point's index (1-based): a binary file has no lines */
            p.test_time_s = field(rec, L.off[M_TIME], L.type[M_TIME]);
            p.voltage_v = field(rec, L.off[volt], L.type[volt]);
            p.cycle = 1, p.step = 1;
            long half = 0;
            if (L.off[M_CYCLE] >= 0) {
                double c = field(rec, L.off[M_CYCLE], L.type[M_CYCLE]);
                if (!(c == floor(c) && fabs(c) <= 1e15)) {
                    st = bml__fail(BML_ERR_PARSE, "%s: byte %lld (point %zu): cycle number %g is not an integer index",
                                   path, roff + L.off[M_CYCLE], p.line, c);
                    break;
                }
                p.cycle = (long)c;
            }
            if (L.off[M_NS] >= 0) p.step = (long)field(rec, L.off[M_NS], L.type[M_NS]);
            if (L.off[M_HALF] >= 0) half = (long)field(rec, L.off[M_HALF], L.type[M_HALF]);
            if (!isfinite(p.test_time_s) || !isfinite(p.voltage_v)) {
                st = bml__fail(BML_ERR_PARSE, "%s: byte %lld (point %zu): time %g s or voltage %g V is not a finite number",
                               path, roff, p.line, p.test_time_s, p.voltage_v);
                break;
            }
            if (started && p.test_time_s < t_prev) {
                st = bml__fail(BML_ERR_VALUE, "%s: byte %lld (point %zu): time goes backwards (%.9g s after %.9g s)", path,
                               roff + L.off[M_TIME], p.line, p.test_time_s, t_prev);
                break;
            }
            if (cur >= 0) {
                p.current_a = field(rec, L.off[cur], L.type[cur]) * 1e-3;
            } else { /* the interval's mean current from the charge it passed */
                double dq = field(rec, L.off[M_DQ], L.type[M_DQ]), dt = started ? p.test_time_s - t_prev : 0;
                p.current_a = dt > 0 ? dq * 3.6 / dt : 0;
            }
            if (!isfinite(p.current_a)) {
                st = bml__fail(BML_ERR_PARSE, "%s: byte %lld (point %zu): the current is not a finite number", path, roff,
                               p.line);
                break;
            }
            p.temperature_c = L.off[M_TEMP] >= 0 ? field(rec, L.off[M_TEMP], L.type[M_TEMP]) : NAN;
            double rapp = L.off[M_RAPP] >= 0 ? field(rec, L.off[M_RAPP], L.type[M_RAPP]) : NAN;
            p.resistance_ohm = rapp > 0 && isfinite(rapp) ? rapp : NAN;
            if (isinf(p.temperature_c)) p.temperature_c = NAN;
            p.unix_time = NAN;
            int new_cycle = !started || p.cycle != cyc_prev;
            if (started && p.cycle < cyc_prev) {
                st = bml__fail(BML_ERR_VALUE, "%s: byte %lld (point %zu): the cycle number goes back from %ld to %ld", path,
                               roff + L.off[M_CYCLE], p.line, cyc_prev, p.cycle);
                break;
            }
            int restart = new_cycle || (restart_mask_half ? half != half_prev : p.step != ns_prev);
            if (new_cycle) memset(sum, 0, sizeof sum);
            double vqc = NAN, vqd = NAN;
            if (q_own) {
                if (L.off[M_QC] >= 0) vqc = field(rec, L.off[M_QC], L.type[M_QC]) * 1e-3;
                if (L.off[M_QD] >= 0) vqd = field(rec, L.off[M_QD], L.type[M_QD]) * 1e-3;
            } else if (q_split) {
                double q = field(rec, L.off[M_QS], L.type[M_QS]) * 1e-3;
                vqc = q > 0 ? q : 0;
                vqd = q < 0 ? -q : 0;
            } else if (q_net) {
                double q = field(rec, L.off[M_QNET], L.type[M_QNET]) * 1e-3;
                double d = isnan(net_prev) || !isfinite(q) ? 0 : q - net_prev;
                if (isfinite(q)) net_prev = q;
                if (d > 0) sum[0] += d;
                else sum[1] -= d;
            }
            size_t *nd = &meta->n_counter_drops;
            double *md = &meta->counter_drop_max;
            if (isfinite(vqc)) sum[0] += bml__counter_step(&qc, fabs(vqc), restart, nd, md);
            if (isfinite(vqd)) sum[1] += bml__counter_step(&qd, fabs(vqd), restart, nd, md);
            if (L.off[M_EC] >= 0) {
                double e = field(rec, L.off[M_EC], L.type[M_EC]);
                if (isfinite(e)) sum[2] += bml__counter_step(&ec, fabs(e), restart, nd, md);
            }
            if (L.off[M_ED] >= 0) {
                double e = field(rec, L.off[M_ED], L.type[M_ED]);
                if (isfinite(e)) sum[3] += bml__counter_step(&ed, fabs(e), restart, nd, md);
            }
            p.charge_ah = q_own && L.off[M_QC] < 0 ? NAN : q_own || q_split || q_net ? sum[0] : NAN;
            p.discharge_ah = q_own && L.off[M_QD] < 0 ? NAN : q_own || q_split || q_net ? sum[1] : NAN;
            p.charge_wh = L.off[M_EC] >= 0 ? sum[2] : NAN;
            p.discharge_wh = L.off[M_ED] >= 0 ? sum[3] : NAN;
            started = 1;
            t_prev = p.test_time_s;
            cyc_prev = p.cycle, ns_prev = p.step, half_prev = half;
            meta->n_points++;
            st = fn(&p, user);
        }
    }
    free(buf);
    fclose(m.f);
    return st;
}
