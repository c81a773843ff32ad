/* Neware .nda / .ndax readers (src/data/cycler_neware.c) against the open-source reader NewareNDA, on the real
 * files of ../shared/data/cyclers-more/neware (or $BML_SHARED_DIR/data/cyclers-more/neware) and the references
 * made there (reference/<file>.rows_head.csv: NewareNDA's first 200 rows; <file>.per_cycle.csv). Without those
 * files the tests that need them are skipped with a message (exit 77, CTest's skip); the others still run.
 *
 * Per row: Index, Cycle, Step, Status, Voltage, Current exactly at their stored precision (float32); Time, the
 * four counters and the timestamp on the rows the file logs them for (.ndax: the rows with runInfo; the other
 * rows' times are checked against BTSDA's own CSV export of interp-test.ndax). Two known
 * NewareNDA behaviours are allowed for: it drops data.ndc rows whose voltage is exactly 0 (real rows, set in
 * the page's bitmask: the rows after one get the next rows' voltage and current there), and it fills the rows
 * without runInfo by its own interpolation (filled rows' counters are checked through the per-cycle values).
 * Per cycle: the cycle's charge/discharge Ah and Wh (the sum over its steps of each step's final counter: the
 * reference's *_stepsum columns) within 0.1 %, and its number of rows. NewareNDA (v2025.02.13) reads 71 of the
 * 72 slots of each data_runInfo.ndc page (the bitmask marks the 72nd used, and fastnda reads it): the row
 * logged there is a filled row for NewareNDA, put in the step before when it begins a step. A cycle holding
 * such a row (or the cycle before, when the row begins its cycle) may differ from the reference. And NewareNDA
 * fills a row without runInfo from the logged row before it plus the charge of the logged row's own interval
 * (|I| dt of the interval ending at it) and more: a filled row's counter can exceed the step's next logged
 * value (nw4-120-1-6-53, row 17814: 0.001312 mAh where the step ends logged at 0.001305), so the reference's
 * step maximum (and the cycle's sum) can be larger than the instrument's final value, never smaller. Such
 * cycles (reference above ours by up to 5 %, ours never above it by more than 0.1 %) are counted and
 * reported and may be at most a tenth of the cycles; any other difference fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zip.h>

#include "cycler_test.h"
#include "data/cycler_neware.h"

static char *nw_dir; /* the real files (main) */

static char *path_of(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* "2024-05-06 06:58:58.797000+00:00" or "2018-09-10 17:52:00" as seconds since 1970 (UTC) */
static double parse_ts(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!p) return NAN;
    double frac = 0;
    if (*p == '.') frac = strtod(p, NULL);
    return (double)timegm(&tm) + frac;
}

/* ---- what the reader gives ---- */
#define HEAD 200
typedef struct {
    size_t n;
    bml__neware_record head[HEAD];
    /* the data.ndc rows NewareNDA keeps (voltage not exactly 0): the first HEAD of them */
    size_t n_kept;
    bml__neware_record kept[HEAD];
    size_t n_zero_v; /* rows of voltage exactly 0 */
    int ndax;
} recs;

static bml_status on_rec(const bml__neware_record *r, void *user) {
    recs *s = user;
    if (s->n < HEAD) s->head[s->n] = *r;
    s->n++;
    if (s->ndax && r->voltage_v == 0) s->n_zero_v++;
    else if (s->n_kept < HEAD) s->kept[s->n_kept++] = *r;
    return BML_OK;
}

/* the Index of each row logged in the 72nd slot of a data_runInfo.ndc page (read directly, with libzip) */
typedef struct {
    size_t n;
    uint32_t idx[4096];
} lastslots;

static void last_slots(const char *path, lastslots *ls) {
    ls->n = 0;
    int err;
    zip_t *z = zip_open(path, ZIP_RDONLY, &err);
    if (!z) return;
    zip_file_t *f = zip_fopen(z, "data_runInfo.ndc", 0);
    unsigned char pg[4096];
    for (size_t page = 0; f && zip_fread(f, pg, sizeof pg) == (zip_int64_t)sizeof pg; page++) {
        if (page == 0 || !(pg[4 + 71 / 8] >> (71 % 8) & 1)) continue;
        const unsigned char *b = pg + 132 + 55 * 71 + 41;
        if (ls->n < sizeof ls->idx / sizeof *ls->idx)
            ls->idx[ls->n++] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    if (f) zip_fclose(f);
    zip_discard(z);
}

typedef struct {
    long cycle;
    size_t n;
    double q[4];
    int newarenda_gap; /* holds a row of a 72nd runInfo slot */
    size_t n_zero_v;
} cyc;

typedef struct {
    size_t n, cap;
    cyc *c;
    bml_cycler_point prev;
    size_t n_points;
    int bad; /* a contract of batteryml/cycler.h broken */
    int ndax;
    const lastslots *ls;
} cycles;

static bml_status on_point(const bml_cycler_point *p, void *user) {
    cycles *s = user;
    if (s->n_points) {
        if (p->test_time_s < s->prev.test_time_s || p->line <= s->prev.line || p->cycle < s->prev.cycle) s->bad = 1;
        if (p->cycle == s->prev.cycle &&
            (p->charge_ah < s->prev.charge_ah || p->discharge_ah < s->prev.discharge_ah ||
             p->charge_wh < s->prev.charge_wh || p->discharge_wh < s->prev.discharge_wh))
            s->bad = 1;
    }
    if (!(p->charge_ah >= 0 && p->discharge_ah >= 0 && p->charge_wh >= 0 && p->discharge_wh >= 0)) s->bad = 1;
    if (!s->n || s->c[s->n - 1].cycle != p->cycle) {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->c = realloc(s->c, s->cap * sizeof *s->c);
            if (!s->c) abort();
        }
        memset(&s->c[s->n], 0, sizeof *s->c);
        s->c[s->n++].cycle = p->cycle;
    }
    cyc *c = &s->c[s->n - 1];
    c->n++;
    if (s->ndax && p->voltage_v == 0) c->n_zero_v++;
    for (size_t k = 0; k < s->ls->n; k++)
        if (s->ls->idx[k] == p->line) {
            c->newarenda_gap = 1;
            /* NewareNDA puts a step's unlogged first row in the step before: in the cycle before */
            if (c->n == 1 && s->n > 1) s->c[s->n - 2].newarenda_gap = 1;
        }
    c->q[0] = p->charge_ah, c->q[1] = p->discharge_ah, c->q[2] = p->charge_wh, c->q[3] = p->discharge_wh;
    s->prev = *p;
    s->n_points++;
    return BML_OK;
}

static int f32_eq(double ours, const char *ref) { return (float)ours == (float)strtod(ref, NULL); }

static void compare_file(const char *name) {
    char *path = path_of(nw_dir, name);
    char *ref_dir = path_of(nw_dir, "reference");
    char *rows_path = strf("%s/%s.rows_head.csv", ref_dir, name), *cyc_path = strf("%s/%s.per_cycle.csv", ref_dir, name);
    recs *rs = calloc(1, sizeof *rs);
    if (!rs) abort();
    int ndax = strstr(name, ".ndax") != NULL;
    rs->ndax = ndax;
    bml__neware_info info;
    fprintf(stderr, "  %s\n", name);
    CHECK_OK(bml__neware_records(path, on_rec, rs, &info));
    cycler_table t;
    CHECK(cycler_table_read(rows_path, &t));
    const char *names[] = {"Index", "Cycle", "Step", "Status", "Time", "Voltage", "Current(mA)", "Charge_Capacity(mAh)",
                           "Discharge_Capacity(mAh)", "Charge_Energy(mWh)", "Discharge_Energy(mWh)", "Timestamp"};
    long ci[12];
    for (int k = 0; k < 12; k++) {
        ci[k] = cycler_table_col(&t, names[k]);
        CHECK(ci[k] >= 0);
        if (ci[k] < 0) return;
    }
    size_t n_cmp = t.n_rows < rs->n_kept ? t.n_rows : rs->n_kept;
    CHECK(n_cmp == t.n_rows); /* the reader gave at least the reference's rows */
    size_t bad_rows = 0, logged = 0;
    for (size_t i = 0; i < n_cmp; i++) {
        char **ref = t.cells[i];
        const bml__neware_record *r = &rs->head[i], *k = &rs->kept[i];
        int ok = (long)r->index == atol(ref[ci[0]]) && r->cycle == atol(ref[ci[1]]) && r->step == atol(ref[ci[2]]) &&
                 !strcmp(bml__neware_status_name(r->status), ref[ci[3]]) && f32_eq(k->voltage_v, ref[ci[5]]) &&
                 f32_eq(k->current_ma, ref[ci[6]]);
        if (r->logged) {
            logged++;
            ok = ok && f32_eq(r->time_s, ref[ci[4]]) && f32_eq(r->charge_mah, ref[ci[7]]) &&
                 f32_eq(r->discharge_mah, ref[ci[8]]) && f32_eq(r->charge_mwh, ref[ci[9]]) &&
                 f32_eq(r->discharge_mwh, ref[ci[10]]) && fabs(r->unix_time - parse_ts(ref[ci[11]])) < 1e-3;
        } /* filled rows' times: against BTSDA's export in csv_flat_export_vs_ndax (NewareNDA interpolates) */
        if (!ok && bad_rows++ < 3)
            fprintf(stderr, "    row %zu differs: ours %lu,%ld,%ld,%s,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.3f (logged %d)\n"
                            "                       ref  %s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n",
                    i + 1, (unsigned long)r->index, r->cycle, r->step, bml__neware_status_name(r->status), r->time_s,
                    k->voltage_v, k->current_ma, r->charge_mah, r->discharge_mah, r->charge_mwh, r->discharge_mwh,
                    r->unix_time, r->logged, ref[ci[0]], ref[ci[1]], ref[ci[2]], ref[ci[3]], ref[ci[4]], ref[ci[5]],
                    ref[ci[6]], ref[ci[7]], ref[ci[8]], ref[ci[9]], ref[ci[10]], ref[ci[11]]);
    }
    CHECK_INT(bad_rows, 0);
    CHECK(logged > 0);
    cycler_table_free(&t);

    /* per cycle, through the rows of batteryml/cycler.h */
    cycles cs;
    memset(&cs, 0, sizeof cs);
    cs.ndax = ndax;
    static lastslots ls;
    last_slots(path, &ls);
    cs.ls = &ls;
    bml_cycler_meta meta;
    memset(&meta, 0, sizeof meta);
    CHECK_OK(bml__neware_read(path, on_point, &cs, &meta));
    CHECK(!cs.bad);
    CHECK_INT(meta.n_points, cs.n_points);
    CHECK_INT(meta.n_points, rs->n);
    CHECK(cycler_table_read(cyc_path, &t));
    long cc = cycler_table_col(&t, "cycle"), cn = cycler_table_col(&t, "n_rows");
    const char *qn[4] = {"charge_ah_stepsum", "discharge_ah_stepsum", "charge_wh_stepsum", "discharge_wh_stepsum"};
    long cq[4];
    for (int k = 0; k < 4; k++) CHECK((cq[k] = cycler_table_col(&t, qn[k])) >= 0);
    CHECK_INT(cs.n, t.n_rows);
    size_t bad_cycles = 0, gap_cycles = 0, gap_differ = 0, overshoot = 0;
    for (size_t i = 0; i < t.n_rows && i < cs.n && cc >= 0 && cn >= 0; i++) {
        char **ref = t.cells[i];
        const cyc *c = &cs.c[i];
        int ok = c->cycle == atol(ref[cc]) && c->n - c->n_zero_v == (size_t)atol(ref[cn]);
        gap_cycles += c->newarenda_gap;
        for (int k = 0; k < 4; k++) {
            double want = strtod(ref[cq[k]], NULL);
            ok = ok && fabs(c->q[k] - want) <= 1e-3 * fabs(want) + 1e-9;
        }
        if (!ok && c->newarenda_gap) {
            gap_differ++;
            continue;
        }
        if (!ok && c->n - c->n_zero_v == (size_t)atol(ref[cn])) { /* NewareNDA's overshoot (above)? */
            int over = 1;
            for (int k = 0; k < 4; k++) {
                double want = strtod(ref[cq[k]], NULL);
                over = over && c->q[k] <= want * (1 + 1e-3) + 1e-9 && want <= c->q[k] * 1.05 + 1e-9;
            }
            if (over) {
                fprintf(stderr, "    cycle %ld: NewareNDA's filled rows overshoot: ours %.10g %.10g %.10g %.10g, ref %s %s %s %s\n",
                        c->cycle, c->q[0], c->q[1], c->q[2], c->q[3], ref[cq[0]], ref[cq[1]], ref[cq[2]], ref[cq[3]]);
                overshoot++;
                continue;
            }
        }
        if (!ok && bad_cycles++ < 5)
            fprintf(stderr, "    cycle %ld (%zu rows, %zu at 0 V) differs: ours %.10g %.10g %.10g %.10g, ref %s rows %s %s %s %s\n",
                    c->cycle, c->n, c->n_zero_v, c->q[0], c->q[1], c->q[2], c->q[3], ref[cn], ref[cq[0]], ref[cq[1]],
                    ref[cq[2]], ref[cq[3]]);
    }
    CHECK_INT(bad_cycles, 0);
    if (gap_cycles)
        fprintf(stderr, "    %zu of %zu cycles hold a row of a 72nd runInfo slot (NewareNDA reads 71 of 72); %zu of them differ from NewareNDA\n",
                gap_cycles, cs.n, gap_differ);
    CHECK(overshoot * 10 <= cs.n);
    cycler_table_free(&t);
    bml_cycler_meta_free(&meta);
    free(cs.c);
    free(rs);
    free(path);
    free(ref_dir);
    free(rows_path);
    free(cyc_path);
}

static void test_nda_v29(void) { compare_file("SIM.nda"); }
static void test_nda_v130(void) { compare_file("2-1-6_61[07005012].nda"); }
static void test_ndax_bts85(void) { compare_file("BTS85-36-6-5-110-20240424.ndax"); }
static void test_ndax_nw4(void) { compare_file("nw4-120-1-6-53.ndax"); }
/* data.ndc's page bitmask marks 141 rows, one of them at exactly 0 V (NewareNDA keeps 140) */
static bml_status count_zero_v(const bml__neware_record *r, void *user) {
    size_t *n = user;
    n[0]++;
    n[1] += r->voltage_v == 0;
    return BML_OK;
}
static void test_ndax_zero_volt(void) {
    compare_file("21_10_7_85.ndax");
    char *path = path_of(nw_dir, "21_10_7_85.ndax");
    size_t n[2] = {0, 0};
    CHECK_OK(bml__neware_records(path, count_zero_v, n, NULL));
    CHECK_INT(n[0], 141);
    CHECK_INT(n[1], 1);
    free(path);
}
static void test_ndax_interp(void) { compare_file("interp-test.ndax"); }

/* ---- damaged files: a clean failure naming the file and the byte offset ---- */
static char *write_tmp(const unsigned char *b, size_t n, const char *suffix) {
    const char *td = getenv("TMPDIR");
    char *tmpl = strf("%s/bml-neware-XXXXXX%s", td ? td : "/tmp", suffix);
    char *p = cycler_tmp_file(tmpl, b, n);
    free(tmpl);
    return p;
}

/* expect a failure naming the temporary file and "byte offset" (or the needle) */
static void expect_clean_error(const unsigned char *b, size_t n, const char *suffix, const char *needle) {
    char *p = write_tmp(b, n, suffix);
    size_t pts = 0;
    bml_status st = bml__neware_read(p, cycler_count, &pts, NULL);
    const char *msg = bml_last_error();
    int ok = st != BML_OK && strstr(msg, p) && strstr(msg, needle);
    if (!ok) fprintf(stderr, "    cut at %zu (%s): status %s, '%s'\n", n, suffix, bml_status_name(st), msg);
    CHECK(ok);
    unlink(p);
    free(p);
}

static void truncated(const char *name, const char *suffix, const size_t *cuts, size_t n_cuts, const char *needle) {
    char *path = path_of(nw_dir, name);
    size_t n;
    unsigned char *b = cycler_slurp(path, &n);
    CHECK(b != NULL);
    if (!b) return;
    for (size_t i = 0; i < n_cuts; i++) expect_clean_error(b, cuts[i] < n ? cuts[i] : n / 2, suffix, needle);
    free(b);
    free(path);
}

static void test_truncated_nda(void) {
    /* SIM.nda: the header, the first record's start (23838), inside records; 2-1-6: before byte 1024, inside */
    const size_t sim[] = {0, 10, 14, 500, 23838 + 40, 23838 + 86 * 1000 + 3, 9367050 - 1};
    truncated("SIM.nda", ".nda", sim, sizeof sim / sizeof *sim, "byte offset");
    const size_t v130[] = {1000, 1024 + 50, 1024 + 88 * 77 + 10, 1370920 - 7};
    truncated("2-1-6_61[07005012].nda", ".nda", v130, sizeof v130 / sizeof *v130, "byte offset");
}

static void test_truncated_ndax(void) {
    const size_t cuts[] = {3, 100, 5000, 200000, 232202 - 1};
    truncated("nw4-120-1-6-53.ndax", ".ndax", cuts, sizeof cuts / sizeof *cuts, "byte offset");
}

/* a flipped byte inside data.ndc's compressed data of an .ndax: the member fails to read (CRC or inflate) */
static void test_corrupt_ndax(void) {
    char *path = path_of(nw_dir, "nw4-120-1-6-53.ndax");
    size_t n;
    unsigned char *b = cycler_slurp(path, &n);
    CHECK(b != NULL);
    if (!b) return;
    /* find data.ndc's local header; its data begins 30 + name + extra bytes later */
    unsigned char *h = memmem(b, n, "PK\3\4", 4);
    size_t at = 0;
    while (h) {
        size_t off = (size_t)(h - b);
        size_t nl = (size_t)(h[26] | h[27] << 8), el = (size_t)(h[28] | h[29] << 8);
        if (nl == 8 && !memcmp(h + 30, "data.ndc", 8)) {
            at = off + 30 + nl + el;
            break;
        }
        h = memmem(b + off + 4, n - off - 4, "PK\3\4", 4);
    }
    CHECK(at > 0);
    for (int k = 0; k < 3 && at; k++) {
        b[at + 1000 + 500 * (size_t)k] ^= 0x5a;
    }
    if (at) expect_clean_error(b, n, ".ndax", "data.ndc");
    free(b);
    free(path);
}


/* ---- the zip layer of an .ndax: each member's CRC-32, size and method checked against the directory ---- */
/* a member of an archive, whole (libzip inflates it) */
static unsigned char *member_bytes(zip_t *z, const char *name, size_t *n) {
    zip_stat_t zs;
    zip_file_t *f = zip_stat(z, name, 0, &zs) == 0 ? zip_fopen(z, name, 0) : NULL;
    CHECK(f != NULL);
    if (!f) return NULL;
    unsigned char *b = malloc(zs.size + 1);
    if (!b) abort();
    CHECK(zip_fread(f, b, zs.size) == (zip_int64_t)zs.size);
    zip_fclose(f);
    *n = (size_t)zs.size;
    return b;
}

/* the offsets of a member's local header and central directory entry in the bytes of an archive */
static void member_headers(const unsigned char *b, size_t n, const char *name, size_t *local, size_t *central) {
    size_t len = strlen(name);
    *local = *central = 0;
    for (size_t i = 0; i + 46 + len <= n; i++) {
        if (b[i] != 'P' || b[i + 1] != 'K') continue;
        if (b[i + 2] == 3 && b[i + 3] == 4 && (size_t)(b[i + 26] | b[i + 27] << 8) == len && !memcmp(b + i + 30, name, len))
            *local = i;
        if (b[i + 2] == 1 && b[i + 3] == 2 && (size_t)(b[i + 28] | b[i + 29] << 8) == len && !memcmp(b + i + 46, name, len))
            *central = i;
    }
    CHECK(*local > 0 || !memcmp(b, "PK\3\4", 4));
    CHECK(*central > 0);
}

/* the offset of a member's data: after its local header, name and extra field */
static size_t member_data(const unsigned char *b, size_t local) {
    return local + 30 + (size_t)(b[local + 26] | b[local + 27] << 8) + (size_t)(b[local + 28] | b[local + 29] << 8);
}

/* expect a failure naming the temporary file and both needles (the second may be NULL) */
static void expect_error2(const unsigned char *b, size_t n, const char *needle, const char *needle2) {
    char *p = write_tmp(b, n, ".ndax");
    size_t pts = 0;
    bml_status st = bml__neware_read(p, cycler_count, &pts, NULL);
    const char *msg = bml_last_error();
    int ok = st != BML_OK && strstr(msg, p) && strstr(msg, needle) && (!needle2 || strstr(msg, needle2));
    if (!ok) fprintf(stderr, "    expected '%s' and '%s': status %s, '%s'\n", needle, needle2 ? needle2 : "", bml_status_name(st), msg);
    CHECK(ok);
    unlink(p);
    free(p);
}

static bml_status count_rec(const bml__neware_record *r, void *user) {
    (void)r;
    ++*(size_t *)user;
    return BML_OK;
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> 8 * k);
}

/* nw4's three .ndc members written again with libzip: data.ndc and data_step.ndc deflated, data_runInfo.ndc
 * stored, with 64 pages more. The archive reads as the original; a byte flipped where no row is read, a
 * CRC-32 changed in the directory (and the local header, which must agree), a compressed byte changed, or a
 * method the reader does not know, each fails naming the file and the member. */
static void test_ndax_member_checks(void) {
    static const char *const names[3] = {"data.ndc", "data_runInfo.ndc", "data_step.ndc"};
    char *orig = path_of(nw_dir, "nw4-120-1-6-53.ndax");
    int err;
    zip_t *z = zip_open(orig, ZIP_RDONLY, &err);
    CHECK(z != NULL);
    if (!z) {
        free(orig);
        return;
    }
    unsigned char *mem[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) mem[k] = member_bytes(z, names[k], &len[k]);
    zip_discard(z);
    /* 64 pages more in data_runInfo.ndc: a row logged past the last row of data.ndc (the rows stop there), then
     * empty pages, more than the reader inflates at a time: only the check of the member's CRC-32 reads them */
    const size_t more = 64 * 4096;
    unsigned char *grown = mem[1] ? realloc(mem[1], len[1] + more) : NULL;
    CHECK(grown != NULL);
    if (grown) {
        memset(grown + len[1], 0, more);
        grown[len[1] + 4] = 1;
        put_u32(grown + len[1] + 132 + 41, 0xfffffff0u);
        mem[1] = grown, len[1] += more;
    }
    char *made = write_tmp(NULL, 0, ".ndax");
    z = zip_open(made, ZIP_TRUNCATE, &err);
    CHECK(z != NULL);
    for (int k = 0; k < 3 && z; k++) {
        zip_source_t *src = mem[k] ? zip_source_buffer(z, mem[k], len[k], 0) : NULL;
        zip_int64_t i = src ? zip_file_add(z, names[k], src, ZIP_FL_OVERWRITE) : -1;
        CHECK(i >= 0);
        if (i >= 0) CHECK(zip_set_file_compression(z, (zip_uint64_t)i, k == 1 ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0) == 0);
    }
    CHECK(z && zip_close(z) == 0);
    bml__neware_info a, b;
    size_t pa = 0, pb = 0;
    CHECK_OK(bml__neware_records(orig, count_rec, &pa, &a));
    CHECK_OK(bml__neware_records(made, count_rec, &pb, &b));
    CHECK_INT(pb, pa);
    CHECK_INT(b.n_records, a.n_records);
    CHECK(b.bytes == a.bytes + (double)more);
    size_t n = 0;
    unsigned char *zb = cycler_slurp(made, &n);
    CHECK(zb != NULL);
    size_t loc[3] = {0, 0, 0}, cen[3] = {0, 0, 0};
    for (int k = 0; zb && k < 3; k++) member_headers(zb, n, names[k], &loc[k], &cen[k]);
    if (zb && len[1] >= 2 * 4096 && cen[0] && cen[1] && cen[2]) {
        /* the stored member: a byte of its last page, which no row needs: only the CRC-32 sees it */
        size_t data = member_data(zb, loc[1]);
        CHECK((size_t)(zb[cen[1] + 10] | zb[cen[1] + 11] << 8) == ZIP_CM_STORE);
        zb[data + len[1] - 1] ^= 0x01;
        expect_error2(zb, n, "data_runInfo.ndc: byte offset", "CRC-32");
        zb[data + len[1] - 1] ^= 0x01;
        /* the directory's CRC-32 of the deflated data.ndc, one bit off (both copies) */
        uint32_t crc = get_u32(zb + cen[0] + 16);
        put_u32(zb + cen[0] + 16, crc ^ 0x100);
        put_u32(zb + loc[0] + 14, crc ^ 0x100);
        expect_error2(zb, n, "data.ndc: byte offset", "CRC-32");
        put_u32(zb + cen[0] + 16, crc);
        put_u32(zb + loc[0] + 14, crc);
        /* a compressed byte of data_step.ndc changed: an invalid stream, a wrong CRC-32 or a bad page, named */
        size_t sdata = member_data(zb, loc[2]), scomp = get_u32(zb + cen[2] + 20);
        CHECK(scomp > 16 && sdata + scomp <= n);
        for (size_t at = 0; scomp > 16 && sdata + scomp <= n && at < scomp; at += scomp / 7) {
            zb[sdata + at] ^= 0xa5;
            expect_error2(zb, n, "data_step.ndc: byte offset", NULL);
            zb[sdata + at] ^= 0xa5;
        }
        /* bzip2 (method 12) stated for the stored member (both copies) */
        zb[cen[1] + 10] = zb[loc[1] + 8] = 12;
        expect_error2(zb, n, "data_runInfo.ndc", "compression method 12");
        zb[cen[1] + 10] = zb[loc[1] + 8] = ZIP_CM_STORE;
        /* as it was: reads */
        char *again = write_tmp(zb, n, ".ndax");
        CHECK_OK(bml__neware_records(again, count_rec, &pb, &b));
        unlink(again);
        free(again);
    } else {
        CHECK(!"the rewritten nw4 archive: three members, data_runInfo.ndc of two pages or more");
    }
    unlink(made);
    free(made);
    free(zb);
    for (int k = 0; k < 3; k++) free(mem[k]);
    free(orig);
}

/* ---- BTSDA CSV exports ---- */
static bml_status collect_all(const bml__neware_record *r, void *user) {
    recs *s = user;
    if (s->n < HEAD) s->head[s->n] = *r;
    s->n++;
    return BML_OK;
}

static int rel_eq(double a, const char *ref) {
    double b = strtod(ref, NULL);
    return fabs(a - b) <= 1e-9 * fabs(b) + 1e-12;
}

/* the regular (three-level) export: its record rows as parsed for the reference, and its cycles */
static void test_csv_regular(void) {
    const char *name = "nw_regular_export_ife_example.csv";
    char *path = path_of(nw_dir, name);
    recs *rs = calloc(1, sizeof *rs);
    if (!rs) abort();
    CHECK_OK(bml__neware_records(path, collect_all, rs, NULL));
    char *ref_path = strf("%s/reference/%s.rows_head.csv", nw_dir, name);
    cycler_table t;
    CHECK(cycler_table_read(ref_path, &t));
    const char *names[] = {"cycle", "step_number", "step_type", "DataPoint", "Time_s", "Total_Time_s",
                           "Current_A", "Voltage_V", "Capacity_Ah", "Energy_Wh", "Date"};
    long ci[11];
    for (int k = 0; k < 11; k++)
        if ((ci[k] = cycler_table_col(&t, names[k])) < 0) {
            CHECK(!"a reference column missing");
            return;
        }
    CHECK(rs->n >= t.n_rows);
    size_t bad = 0;
    for (size_t i = 0; i < t.n_rows && i < rs->n; i++) {
        char **ref = t.cells[i];
        const bml__neware_record *r = &rs->head[i];
        char *type = strf("%s", ref[ci[2]]);
        for (char *p = type; *p; p++) *p = *p == ' ' ? '_' : *p;
        double cap = r->charge_mah + r->discharge_mah, en = r->charge_mwh + r->discharge_mwh; /* one is 0 */
        int ok = r->cycle == atol(ref[ci[0]]) && r->step == atol(ref[ci[1]]) &&
                 !strcmp(bml__neware_status_name(r->status), type) && (long)r->index == atol(ref[ci[3]]) &&
                 rel_eq(r->time_s, ref[ci[4]]) && rel_eq(r->total_time_s, ref[ci[5]]) &&
                 rel_eq(r->current_ma / 1000, ref[ci[6]]) && rel_eq(r->voltage_v, ref[ci[7]]) &&
                 rel_eq(cap / 1000, ref[ci[8]]) && rel_eq(en / 1000, ref[ci[9]]) &&
                 fabs(r->unix_time - parse_ts(ref[ci[10]])) < 1e-3;
        free(type);
        if (!ok && bad++ < 3)
            fprintf(stderr, "    row %zu differs: ours %ld,%ld,%s,%lu,%g,%g,%g,%g,%g,%g,%.3f\n", i + 1, r->cycle, r->step,
                    bml__neware_status_name(r->status), (unsigned long)r->index, r->time_s, r->total_time_s,
                    r->current_ma / 1000, r->voltage_v, cap / 1000, en / 1000, r->unix_time);
    }
    CHECK_INT(bad, 0);
    cycler_table_free(&t);
    /* per cycle: Ah against the step sums, Wh against the export's own cycle lines (5 decimals) */
    cycles cs;
    memset(&cs, 0, sizeof cs);
    static lastslots none;
    cs.ls = &none;
    CHECK_OK(bml__neware_read(path, on_point, &cs, NULL));
    CHECK(!cs.bad);
    free(ref_path);
    ref_path = strf("%s/reference/%s.per_cycle.csv", nw_dir, name);
    CHECK(cycler_table_read(ref_path, &t));
    const char *qn[4] = {"charge_ah_stepsum", "discharge_ah_stepsum", "summary_chg_energy_wh", "summary_dchg_energy_wh"};
    long cq[4], cc = cycler_table_col(&t, "cycle"), cn = cycler_table_col(&t, "n_rows");
    for (int k = 0; k < 4; k++) CHECK((cq[k] = cycler_table_col(&t, qn[k])) >= 0);
    CHECK_INT(cs.n, t.n_rows);
    bad = 0;
    for (size_t i = 0; i < t.n_rows && i < cs.n; i++) {
        const cyc *c = &cs.c[i];
        int ok = c->cycle == atol(t.cells[i][cc]) && c->n == (size_t)atol(t.cells[i][cn]);
        for (int k = 0; k < 4; k++) {
            double want = strtod(t.cells[i][cq[k]], NULL);
            ok = ok && fabs(c->q[k] - want) <= (k < 2 ? 1e-3 * fabs(want) + 1e-9 : 5e-6 + 1e-3 * fabs(want));
        }
        if (!ok && bad++ < 3)
            fprintf(stderr, "    cycle %ld differs: ours %zu rows %.10g %.10g %.10g %.10g\n", c->cycle, c->n, c->q[0], c->q[1],
                    c->q[2], c->q[3]);
    }
    CHECK_INT(bad, 0);
    cycler_table_free(&t);
    free(cs.c);
    free(rs);
    free(ref_path);
    free(path);
}

/* the flat export of interp-test is BTSDA's own export of interp-test.ndax: every row's cycle, step, voltage,
 * current and step time agree (the CSV in mV with one decimal, times in ms; its wall-clock times are local,
 * UTC+1, where the .ndax stores UTC); the rows the .ndax logs without runInfo (all but 66 of 333) thus check
 * the filled step times against Neware's own. */
typedef struct {
    size_t n, cap;
    bml__neware_record *r;
} all_recs;

static bml_status keep_all(const bml__neware_record *r, void *user) {
    all_recs *a = user;
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 512;
        a->r = realloc(a->r, a->cap * sizeof *a->r);
        if (!a->r) abort();
    }
    a->r[a->n++] = *r;
    return BML_OK;
}

static void test_csv_flat_vs_ndax(void) {
    char *csv = path_of(nw_dir, "interp-test.csv"), *ndax = path_of(nw_dir, "interp-test.ndax");
    all_recs a = {0}, b = {0};
    CHECK_OK(bml__neware_records(csv, keep_all, &a, NULL));
    bml__neware_info info;
    CHECK_OK(bml__neware_records(ndax, keep_all, &b, &info));
    CHECK_INT(a.n, 333);
    CHECK_INT(b.n, 333);
    CHECK_INT(info.n_filled, 333 - 66);
    size_t bad = 0;
    for (size_t i = 0; i < a.n && i < b.n; i++) {
        const bml__neware_record *x = &a.r[i], *y = &b.r[i];
        int ok = x->index == y->index && x->cycle == y->cycle && x->step == y->step && x->status == y->status &&
                 fabs(x->voltage_v - y->voltage_v) <= 0.05e-3 + 1e-9 && fabs(x->current_ma - y->current_ma) <= 1e-3 &&
                 fabs(x->time_s - y->time_s) <= 1e-3 && fabs(x->unix_time - 3600 - y->unix_time) <= 1e-3 &&
                 x->charge_mah == 0 && y->charge_mah == 0 && x->discharge_mah == 0 && y->discharge_mah == 0;
        if (!ok && bad++ < 3)
            fprintf(stderr, "    row %zu: csv %lu c%ld s%ld V %.7g I %g t %.3f %.3f, ndax %lu c%ld s%ld V %.7g I %g t %.3f %.3f (logged %d)\n",
                    i + 1, (unsigned long)x->index, x->cycle, x->step, x->voltage_v, x->current_ma, x->time_s, x->unix_time,
                    (unsigned long)y->index, y->cycle, y->step, y->voltage_v, y->current_ma, y->time_s, y->unix_time, y->logged);
    }
    CHECK_INT(bad, 0);
    /* per cycle: the reference's (all 0, 333 rows) */
    cycles cs;
    memset(&cs, 0, sizeof cs);
    static lastslots none;
    cs.ls = &none;
    CHECK_OK(bml__neware_read(csv, on_point, &cs, NULL));
    CHECK(!cs.bad);
    CHECK_INT(cs.n, 1);
    if (cs.n) {
        CHECK_INT(cs.c[0].n, 333);
        for (int k = 0; k < 4; k++) CHECK(cs.c[0].q[k] == 0);
    }
    free(cs.c);
    free(a.r);
    free(b.r);
    free(csv);
    free(ndax);
}

/* a CSV cut inside a line fails naming the file, the line and the column */
static void test_truncated_csv(void) {
    char *path = path_of(nw_dir, "nw_regular_export_ife_example.csv");
    size_t n;
    unsigned char *b = cycler_slurp(path, &n);
    CHECK(b != NULL);
    if (!b) return;
    /* cut in the middle of record line 6 (its Current field) and of a later line's date */
    const char *l6 = (const char *)b;
    for (int k = 0; k < 5; k++) l6 = strchr(l6, '\n') + 1;
    size_t cut1 = (size_t)(l6 - (const char *)b) + 20;
    expect_clean_error(b, cut1, ".csv", "line 6, column");
    /* a field that is not a number */
    unsigned char *c = malloc(n);
    if (!c) abort();
    memcpy(c, b, n);
    memcpy(c + (l6 - (const char *)b) + 2, "x", 1);
    expect_clean_error(c, n, ".csv", "line 6, column 3");
    free(c);
    free(b);
    free(path);
}

/* ---- without the shared files ---- */
static void test_sniff(void) {
    const unsigned char nda[] = "NEWARE20180910\x1d";
    CHECK_INT(bml__neware_sniff(nda, sizeof nda - 1, "x.nda", NULL), 100);
    unsigned char zip[64] = "PK\3\4";
    CHECK_INT(bml__neware_sniff(zip, sizeof zip, "cell.NDAX", NULL), 90);
    CHECK_INT(bml__neware_sniff(zip, sizeof zip, "cell.zip", NULL), 0);
    zip[26] = 15;
    memcpy(zip + 30, "VersionInfo.xml", 15);
    CHECK_INT(bml__neware_sniff(zip, sizeof zip, "cell.zip", NULL), 80);
    const unsigned char csv[] = "Cycle Index,Step Index,Step Type\n";
    CHECK_INT(bml__neware_sniff(csv, sizeof csv - 1, "x.csv", NULL), 0);
    const unsigned char reg[] = "Cycle Index,Chg. Cap.(Ah),DChg. Cap.(Ah)\n";
    CHECK_INT(bml__neware_sniff(reg, sizeof reg - 1, "x.csv", NULL), 95);
    const unsigned char flat[] = "DataPoint,Cycle Index,Step Index,Step Type,Time,Chg. Cap.(mAs)\n1,1";
    CHECK_INT(bml__neware_sniff(flat, sizeof flat - 1, "x.csv", NULL), 85);
    CHECK_INT(bml__neware_sniff(nda, 3, "x.nda", NULL), 0);
}


/* a made-up flat export: units with prefixes (Latin-1 µA, mV, mAs, mWs), a charge step then a discharge step
 * whose counters restart: the cycle sums the steps' final values */
typedef struct {
    size_t n;
    bml_cycler_point p[8];
} pts;
static bml_status keep_pts(const bml_cycler_point *p, void *user) {
    pts *s = user;
    if (s->n < 8) s->p[s->n] = *p;
    s->n++;
    return BML_OK;
}
static void test_csv_units(void) {
    const char csv[] = "DataPoint,Cycle Index,Step Index,Step Type,Time,Total Time,Current(\xb5" "A),Voltage(mV),"
                       "Chg. Cap.(mAs),DChg. Cap.(mAs),Chg. Energy(mWs),DChg. Energy(mWs),Date,\n"
                       "1,1,1,CC_Chg,00:00:00.000,00:00:00.000,500000,3700.0,0,0,0,0,2025-06-17 09:26:39.383,\n"
                       "2,1,1,CC_Chg,00:00:10.000,00:00:10.000,500000,3800.0,5000,0,19000,0,2025-06-17 09:26:49.383,\n"
                       "3,1,2,CC_DChg,00:00:00.000,00:00:10.500,-250000,3600.0,0,0,0,0,2025-06-17 09:26:49.883,\n"
                       "4,1,2,CC_DChg,00:00:10.000,00:00:20.500,-250000,3500.0,0,2500,0,8750,2025-06-17 09:26:59.883,\n"
                       "5,2,3,CC_Chg,00:00:00.000,00:00:21.000,500000,3600.0,0,0,0,0,2025-06-17 09:27:00.383,\n";
    char *p = write_tmp((const unsigned char *)csv, sizeof csv - 1, ".csv");
    pts s = {0};
    bml_cycler_meta meta;
    memset(&meta, 0, sizeof meta);
    CHECK_OK(bml__neware_read(p, keep_pts, &s, &meta));
    CHECK_INT(s.n, 5);
    CHECK_INT(meta.n_points, 5);
    CHECK_NEAR(s.p[1].current_a, 0.5, 1e-12);
    CHECK_NEAR(s.p[3].current_a, -0.25, 1e-12);
    CHECK_NEAR(s.p[1].voltage_v, 3.8, 1e-12);
    CHECK_NEAR(s.p[1].charge_ah, 5000.0 / 3600 / 1000, 1e-15); /* 5000 mAs = 1.389e-3 Ah */
    CHECK_NEAR(s.p[3].charge_ah, 5000.0 / 3600 / 1000, 1e-15);                    /* held through the discharge */
    CHECK_NEAR(s.p[3].discharge_ah, 2500.0 / 3600 / 1000, 1e-15);
    CHECK_NEAR(s.p[3].discharge_wh, 8750.0 / 3600 / 1000, 1e-15);
    CHECK_NEAR(s.p[3].test_time_s, 20.5, 1e-12);
    CHECK_INT(s.p[4].cycle, 2);
    CHECK_NEAR(s.p[4].charge_ah, 0, 0); /* a new cycle counts from zero */
    CHECK_NEAR(s.p[1].unix_time, 1750152409.383, 1e-6);
    CHECK_INT(s.p[2].line, 4);
    bml_cycler_meta_free(&meta);
    unlink(p);
    free(p);
}

/* a made-up version byte and an empty file fail cleanly */
static void test_bad_headers(void) {
    unsigned char b[2048] = "NEWARE20180910";
    b[14] = 77;
    expect_clean_error(b, sizeof b, ".nda", "byte offset 14");
    expect_clean_error(b, 0, ".nda", "byte offset 0");
    b[14] = 29; /* no record marker anywhere */
    expect_clean_error(b, sizeof b, ".nda", "no data record");
}

int main(void) {
    static const test_case base[] = {{"sniff", test_sniff}, {"bad_headers", test_bad_headers}, {"csv_units", test_csv_units}};
    static const test_case shared[] = {
        {"nda_v29_sim", test_nda_v29},
        {"nda_v130_bts9", test_nda_v130},
        {"ndax_bts85", test_ndax_bts85},
        {"ndax_nw4_cccv", test_ndax_nw4},
        {"ndax_zero_volt_row", test_ndax_zero_volt},
        {"ndax_interp", test_ndax_interp},
        {"truncated_nda", test_truncated_nda},
        {"truncated_ndax", test_truncated_ndax},
        {"corrupt_ndax", test_corrupt_ndax},
        {"ndax_member_crc_size_method", test_ndax_member_checks},
        {"csv_regular_export", test_csv_regular},
        {"csv_flat_export_vs_ndax", test_csv_flat_vs_ndax},
        {"truncated_csv", test_truncated_csv},
    };
    return cycler_run_with_files("neware", base, sizeof base / sizeof *base, "neware", &nw_dir, shared,
                                 sizeof shared / sizeof *shared);
}
