/* Arbin MITS Pro native .res files (an MS Access / Jet 4 database), read through mdbtools' C library
 * (libmdb, Debian mdbtools-dev) into the canonical series of batteryml/cycler.h.
 *
 * Tables used (the names and types as MITS Pro 4.x-7.x write them; checked on the files of
 * ../shared/data/cyclers-more/arbin/ against `mdb-export`):
 *   Channel_Normal_Table: one row per data point: Test_ID, Data_Point, Test_Time (s, double), Step_Time,
 *     DateTime (an OLE Automation date: days since 1899-12-30, double), Step_Index, Cycle_Index (integers),
 *     Current (A, single), Voltage (V, single), Charge_Capacity, Discharge_Capacity (Ah, double),
 *     Charge_Energy, Discharge_Energy (Wh, double), Internal_Resistance (ohm, single), and more not used.
 *   Global_Table (optional): the test's start (Start_DateTime, OLE date), channel (Channel_Index),
 *     schedule (Schedule_File_Name) and item id (Item_ID).
 * Auxiliary channels (Auxiliary_Table: temperature and voltage) are not read: temperature is NaN.
 *
 * Every value is taken from the row's own bytes as libmdb located them: a column whose stored size is not the
 * size of its type, or that lies outside the page, is refused with the table, row and column named. A required
 * column (Test_Time, Current, Voltage) that is missing, of a non-numeric type, or NULL on a row fails naming it.
 * A .res holding more than one test (rows of a second Test_ID) is refused rather than mixed. libmdb ends a
 * table quietly at a page past the end of the file: the row count of the table's definition is checked
 * against the rows read, so that a file cut at a page boundary fails instead of reading short.
 *
 * Counters as Arbin's CSV export (src/data/cycler_read.c, "arbin"): Charge_/Discharge_Capacity and _Energy
 * count up over the cycle or over the whole test, and a schedule may reset them at a step's start: a fall
 * where the cycle or step index changes is a restart, a fall inside a step is noise (the maximum is held).
 *
 * libmdb is not bounds-checked by us inside: it validates its own page reads, prints its warnings on stderr
 * and allocates through GLib (which aborts when out of memory). Before handing a file to it, the reader checks
 * the Jet signature and that the file is a whole number of pages. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <mdbtools.h>

#include "batteryml/cycler.h"
#include "core/internal.h"
#include "data/cycler_internal.h"

/* the Jet / ACE signature at byte 4 of every Access database */
static const char JET_SIG[] = "Standard Jet DB";
static const char ACE_SIG[] = "Standard ACE DB";
#define SIG_AT 4
#define SIG_LEN 15

static int has_signature(const unsigned char *head, size_t n) {
    return n >= SIG_AT + SIG_LEN && head[0] == 0 && head[1] == 1 && head[2] == 0 && head[3] == 0 &&
           (!memcmp(head + SIG_AT, JET_SIG, SIG_LEN) || !memcmp(head + SIG_AT, ACE_SIG, SIG_LEN));
}

static int res_name(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n >= 4 && !strcasecmp(path + n - 4, ".res");
}

int bml__arbin_res_sniff(const unsigned char *head, size_t n, const char *path, const char **why) {
    if (has_signature(head, n)) return 90; /* an Access database: of the cyclers, only Arbin writes them */
    if (res_name(path) && n > 0 && memchr(head, 0, n < 4096 ? n : 4096))
        return bml__sniff_near(why, "a binary .res file without the MS Access (Jet) signature at byte 4 "
                                    "(\"Standard Jet DB\")", 20);
    return 0;
}

/* ---- the columns ---- */

enum { K_TEST, K_TIME, K_DATE, K_STEP, K_CYCLE, K_I, K_V, K_QC, K_QD, K_EC, K_ED, K_IR, K_N };
static const char *const COL_NAME[K_N] = {"Test_ID",         "Test_Time",          "DateTime",      "Step_Index",
                                          "Cycle_Index",     "Current",            "Voltage",       "Charge_Capacity",
                                          "Discharge_Capacity", "Charge_Energy",   "Discharge_Energy",
                                          "Internal_Resistance"};
static const int COL_REQUIRED[K_N] = {0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0};
static const int COL_INTEGER[K_N] = {1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0};

/* the stored size of a numeric type, 0 for the others */
static int type_size(int t) {
    switch (t) {
    case MDB_BYTE: return 1;
    case MDB_INT: return 2;
    case MDB_LONGINT: case MDB_FLOAT: return 4;
    case MDB_DOUBLE: return 8;
    default: return 0;
    }
}

static const char *type_name(int t) {
    switch (t) {
    case MDB_BOOL: return "Boolean";
    case MDB_BYTE: return "Byte";
    case MDB_INT: return "Integer";
    case MDB_LONGINT: return "Long Integer";
    case MDB_FLOAT: return "Single";
    case MDB_DOUBLE: return "Double";
    case MDB_TEXT: return "Text";
    default: return "a non-numeric type";
    }
}

typedef struct {
    const char *path;
    MdbHandle *mdb;
    size_t pg_size;
} res;

/* The value of column c on the row just fetched: 1 with *out, 0 when NULL, -1 (failed, message set) when its
 * bytes are not where its type says. */
static int col_value(const res *R, const char *table, size_t row, MdbColumn *c, double *out) {
    int len = c->cur_value_len, start = c->cur_value_start, want = type_size(c->col_type);
    *out = NAN;
    if (len == 0) return 0;
    if (want == 0 || len != want || start < 0 || (size_t)start > R->pg_size || (size_t)len > R->pg_size - (size_t)start) {
        bml__fail(BML_ERR_PARSE, "%s: %s row %zu: column %s: %d bytes at page offset %d, not a stored %s (%d bytes) "
                                 "within the page (%zu bytes): a damaged file",
                  R->path, table, row, c->name, len, start, type_name(c->col_type), want, R->pg_size);
        return -1;
    }
    const unsigned char *p = R->mdb->pg_buf + start;
    switch (c->col_type) {
    case MDB_BYTE: *out = p[0]; break;
    case MDB_INT: {
        int16_t v;
        memcpy(&v, p, 2); /* Jet stores little-endian, as the machines the library runs on */
        *out = v;
        break;
    }
    case MDB_LONGINT: {
        int32_t v;
        memcpy(&v, p, 4);
        *out = v;
        break;
    }
    case MDB_FLOAT: {
        float v;
        memcpy(&v, p, 4);
        *out = v;
        break;
    }
    default: {
        double v;
        memcpy(&v, p, 8);
        *out = v;
        break;
    }
    }
    return 1;
}

/* the column of that name and its place in the table's list (what mdb_bind_column numbers from 1) */
static MdbColumn *find_column_at(MdbTableDef *t, const char *name, unsigned *at) {
    if (!t->columns) return NULL;
    for (unsigned i = 0; i < t->columns->len; i++) {
        MdbColumn *c = g_ptr_array_index(t->columns, i);
        if (c && !strcasecmp(c->name, name)) {
            if (at) *at = i;
            return c;
        }
    }
    return NULL;
}

static MdbColumn *find_column(MdbTableDef *t, const char *name) { return find_column_at(t, name, NULL); }

/* an OLE Automation date (days since 1899-12-30) as seconds since 1970, NaN when it is no plausible date */
static double ole_to_unix(double d) {
    if (!(d > 0 && d < 2958466)) return NAN; /* 1899-12-30 .. 9999-12-31 */
    return (d - 25569.0) * 86400.0;
}

static bml_status set_meta(char **dst, const char *s) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') n--;
    if (!n || *dst) return BML_OK;
    *dst = bml__strndup(s, n);
    return *dst ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
}

static bml_status usable_map(const char *path, const MdbTableDef *t, const char *name);

/* Global_Table's first row: start, channel, schedule, item id (the table is optional) */
static bml_status read_global(res *R, bml_cycler_meta *meta) {
    MdbTableDef *t = mdb_read_table_by_name(R->mdb, "Global_Table", MDB_TABLE);
    if (!t) return BML_OK;
    bml_status st = usable_map(R->path, t, "Global_Table");
    if (st != BML_OK) {
        mdb_free_tabledef(t);
        return st;
    }
    if (!mdb_read_columns(t)) {
        mdb_free_tabledef(t);
        return BML_OK;
    }
    static const char *const text_cols[] = {"Channel_Index", "Schedule_File_Name", "Item_ID"};
    char *buf[3] = {NULL, NULL, NULL};
    int len[3] = {0, 0, 0};
    size_t bind = R->mdb->bind_size ? R->mdb->bind_size : MDB_BIND_SIZE;
    for (int k = 0; k < 3 && st == BML_OK; k++) {
        unsigned at = 0;
        if (!find_column_at(t, text_cols[k], &at)) continue;
        if (!(buf[k] = calloc(1, bind + 1))) st = bml__fail(BML_ERR_NOMEM, "out of memory");
        else if (mdb_bind_column(t, (int)at + 1, buf[k], &len[k]) == -1) free(buf[k]), buf[k] = NULL;
    }
    MdbColumn *start = find_column(t, "Start_DateTime");
    if (st == BML_OK && mdb_rewind_table(t) == 0 && mdb_fetch_row(t)) {
        for (int k = 0; k < 3; k++)
            if (buf[k]) buf[k][bind] = 0;
        if (buf[0]) st = set_meta(&meta->channel, buf[0]);
        if (st == BML_OK && buf[1]) st = set_meta(&meta->protocol, buf[1]);
        if (st == BML_OK && buf[2]) st = set_meta(&meta->barcode, buf[2]);
        double d;
        if (st == BML_OK && start && col_value(R, "Global_Table", 1, start, &d) == 1)
            st = bml__cycler_start_time(meta, ole_to_unix(d), NULL);
    }
    for (int k = 0; k < 3; k++) free(buf[k]);
    mdb_free_tabledef(t);
    return st;
}

/* the signature and page size, checked before libmdb sees the file */
static bml_status check_file(const char *path, long long *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[0x18];
    size_t n = fread(head, 1, sizeof head, f);
    struct stat sb;
    int ok = fstat(fileno(f), &sb) == 0;
    fclose(f);
    if (!ok) return bml__fail(BML_ERR_IO, "%s: cannot stat", path);
    *size = (long long)sb.st_size;
    if (!has_signature(head, n))
        return bml__fail(BML_ERR_PARSE, "%s: byte %d: not an MS Access (Jet) database (no \"%s\" signature): not an "
                                        "Arbin .res file", path, SIG_AT, JET_SIG);
    /* Jet 3 (version 0 at byte 0x14) has 2048-byte pages, Jet 4 and later 4096: a file that is not a whole number
     * of them was cut */
    long long pg = n >= 0x18 && head[0x14] == 0 && head[0x15] == 0 && head[0x16] == 0 && head[0x17] == 0 ? 2048 : 4096;
    if (*size < 2 * pg || *size % pg)
        return bml__fail(BML_ERR_PARSE, "%s: byte %lld: the file ends inside a database page (%lld bytes, not a multiple "
                                        "of its %lld-byte pages, or fewer than 2): truncated?",
                         path, *size - *size % pg, *size, pg);
    return BML_OK;
}

/* libmdb 1.0 walks a table's data pages through its usage map without checking the map's size: an empty map row
 * (0 bytes) makes it dereference NULL (found by fuzz_arbin_res). A usage map is at least 5 bytes (its type, then a
 * page number or a map page's). MSysObjects' map is checked here from the file before libmdb reads the catalog
 * through it; the other tables' on the definition libmdb read (usable_map). */
#define MIN_MAP 5
static bml_status check_catalog_map(const char *path, long long size, long long pg) {
    FILE *f = fopen(path, "rb");
    if (!f) return bml__fail(BML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *page = malloc((size_t)pg);
    bml_status st = page ? BML_OK : bml__fail(BML_ERR_NOMEM, "out of memory");
    long long tdef = 2 * pg;
    uint32_t pg_row = 0;
    if (st == BML_OK && (tdef + pg > size || fseeko(f, (off_t)tdef, SEEK_SET) || fread(page, 1, (size_t)pg, f) != (size_t)pg))
        st = bml__fail(BML_ERR_PARSE, "%s: byte %lld: the catalog's table definition (page 2) is missing: truncated?", path,
                       tdef);
    if (st == BML_OK) {
        pg_row = (uint32_t)page[55] | (uint32_t)page[56] << 8 | (uint32_t)page[57] << 16 | (uint32_t)page[58] << 24;
        long long mp = (long long)(pg_row >> 8) * pg;
        unsigned row = pg_row & 0xff, rco = pg == 2048 ? 8 : 12;
        if (mp + pg > size || fseeko(f, (off_t)mp, SEEK_SET) || fread(page, 1, (size_t)pg, f) != (size_t)pg)
            st = bml__fail(BML_ERR_PARSE, "%s: byte %lld: the catalog's usage map lies outside the file (page %u): a damaged "
                                          "file", path, tdef + 55, pg_row >> 8);
        else if (rco + 4 + row * 2 <= (unsigned)pg) {
            unsigned start = (page[rco + 2 + row * 2] | page[rco + 3 + row * 2] << 8) & 0x1fff;
            unsigned next = row == 0 ? (unsigned)pg : (page[rco + row * 2] | page[rco + 1 + row * 2] << 8) & 0x1fff;
            if (start <= next && next <= (unsigned)pg && next - start < MIN_MAP)
                st = bml__fail(BML_ERR_PARSE, "%s: byte %lld: the catalog's usage map (page %u, row %u) is %u bytes, too "
                                              "short for a map: a damaged file", path, mp + start, pg_row >> 8, row,
                               next - start);
        }
    }
    free(page);
    fclose(f);
    return st;
}

static bml_status usable_map(const char *path, const MdbTableDef *t, const char *name) {
    if (!t->usage_map || t->map_sz < MIN_MAP)
        return bml__fail(BML_ERR_PARSE, "%s: %s: its usage map (the list of its data pages) is %zu bytes, too short for "
                                        "a map: a damaged file", path, name, t->usage_map ? t->map_sz : (size_t)0);
    return BML_OK;
}

bml_status bml__arbin_res_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta) {
    long long size = 0;
    BML__TRY(check_file(path, &size));
    res R = {path, NULL, 0};
    R.mdb = mdb_open(path, MDB_NOFLAGS);
    if (!R.mdb) return bml__fail(BML_ERR_PARSE, "%s: byte 0: libmdb cannot open it as an MS Access database", path);
    bml_status st = BML_OK;
    MdbTableDef *t = NULL;
    R.pg_size = R.mdb->fmt ? (size_t)R.mdb->fmt->pg_size : 0;
    if (R.pg_size == 0 || R.pg_size > MDB_PGSIZE)
        st = bml__fail(BML_ERR_PARSE, "%s: byte 0: a database page size (%zu) libmdb does not read", path, R.pg_size);
    if (st == BML_OK) st = check_catalog_map(path, size, (long long)R.pg_size);
    if (st == BML_OK && !mdb_read_catalog(R.mdb, MDB_TABLE))
        st = bml__fail(BML_ERR_PARSE, "%s: the database's catalog (its list of tables) cannot be read: a damaged file", path);
    if (st == BML_OK) st = read_global(&R, meta);
    if (st == BML_OK && !(t = mdb_read_table_by_name(R.mdb, "Channel_Normal_Table", MDB_TABLE)))
        st = bml__fail(BML_ERR_SCHEMA, "%s: an Access database without a Channel_Normal_Table: not an Arbin .res file", path);
    if (st == BML_OK) st = usable_map(path, t, "Channel_Normal_Table");
    if (st == BML_OK && !mdb_read_columns(t))
        st = bml__fail(BML_ERR_PARSE, "%s: Channel_Normal_Table: its columns cannot be read: a damaged file", path);
    MdbColumn *col[K_N];
    for (int k = 0; k < K_N && st == BML_OK; k++) {
        col[k] = find_column(t, COL_NAME[k]);
        if (!col[k] && COL_REQUIRED[k])
            st = bml__fail(BML_ERR_SCHEMA, "%s: Channel_Normal_Table has no %s column", path, COL_NAME[k]);
        else if (col[k] && (!type_size(col[k]->col_type) || (COL_INTEGER[k] && (col[k]->col_type == MDB_FLOAT ||
                                                                              col[k]->col_type == MDB_DOUBLE))))
            st = bml__fail(BML_ERR_SCHEMA, "%s: Channel_Normal_Table: column %s is of type %s, not %s", path,
                           COL_NAME[k], type_name(col[k]->col_type), COL_INTEGER[k] ? "an integer" : "a number");
    }
    if (st == BML_OK && mdb_rewind_table(t) != 0)
        st = bml__fail(BML_ERR_PARSE, "%s: Channel_Normal_Table cannot be read: a damaged file", path);
    if (st == BML_OK) meta->has_cycle_index = col[K_CYCLE] != NULL;
    bml__counter ctr[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    double sum[4] = {0, 0, 0, 0}, t_prev = 0, test0 = NAN;
    long cyc_prev = 0, step_prev = 0;
    size_t row = 0;
    const char *T = "Channel_Normal_Table";
    while (st == BML_OK && mdb_fetch_row(t)) {
        row++;
        double v[K_N];
        for (int k = 0; k < K_N && st == BML_OK; k++) {
            v[k] = NAN;
            if (!col[k]) continue;
            int r = col_value(&R, T, row, col[k], &v[k]);
            if (r < 0) st = BML_ERR_PARSE;
            else if (r == 0 && COL_REQUIRED[k])
                st = bml__fail(BML_ERR_PARSE, "%s: %s row %zu: column %s is NULL", path, T, row, COL_NAME[k]);
            else if (r == 1 && !isfinite(v[k]) && k != K_IR)
                st = bml__fail(BML_ERR_PARSE, "%s: %s row %zu: column %s is %g, not a finite number", path, T, row,
                               COL_NAME[k], v[k]);
        }
        if (st != BML_OK) break;
        if (!isnan(v[K_TEST])) {
            if (isnan(test0)) test0 = v[K_TEST];
            else if (v[K_TEST] != test0) {
                st = bml__fail(BML_ERR_VALUE, "%s: %s row %zu: a second test (Test_ID %.0f after %.0f): a .res holding "
                                              "several tests is not read (export each test apart)",
                               path, T, row, v[K_TEST], test0);
                break;
            }
        }
        bml_cycler_point p;
        p.line = row; /* the row of Channel_Normal_Table (1-based): a database has no lines */
        p.test_time_s = v[K_TIME];
        p.current_a = v[K_I];
        p.voltage_v = v[K_V];
        p.cycle = isnan(v[K_CYCLE]) ? 1 : (long)v[K_CYCLE];
        p.step = isnan(v[K_STEP]) ? 1 : (long)v[K_STEP];
        p.temperature_c = NAN;
        p.resistance_ohm = v[K_IR] > 0 && isfinite(v[K_IR]) ? v[K_IR] : NAN;
        p.unix_time = ole_to_unix(v[K_DATE]);
        if (row > 1 && p.test_time_s < t_prev) {
            st = bml__fail(BML_ERR_VALUE, "%s: %s row %zu: time goes backwards (%.9g s after %.9g s)", path, T, row,
                           p.test_time_s, t_prev);
            break;
        }
        int new_cycle = row == 1 || p.cycle != cyc_prev;
        int restart = new_cycle || p.step != step_prev;
        if (new_cycle) memset(sum, 0, sizeof sum);
        const int qk[4] = {K_QC, K_QD, K_EC, K_ED};
        double out[4];
        for (int j = 0; j < 4; j++) {
            if (!col[qk[j]]) {
                out[j] = NAN;
                continue;
            }
            if (!isnan(v[qk[j]]))
                sum[j] += bml__counter_step(&ctr[j], fabs(v[qk[j]]), restart, &meta->n_counter_drops,
                                            &meta->counter_drop_max);
            out[j] = sum[j];
        }
        p.charge_ah = out[0], p.discharge_ah = out[1], p.charge_wh = out[2], p.discharge_wh = out[3];
        t_prev = p.test_time_s;
        cyc_prev = p.cycle, step_prev = p.step;
        meta->n_points++;
        st = fn(&p, user);
    }
    /* libmdb ends a table quietly at a page past the end of the file: the row count in the table's definition
     * tells a file cut at a page boundary from a whole one */
    if (st == BML_OK && row != t->num_rows)
        st = bml__fail(BML_ERR_PARSE, "%s: byte %lld: Channel_Normal_Table says it holds %u rows, %zu could be read: the "
                                      "file (%lld bytes) is truncated or damaged", path, size, t->num_rows, row, size);
    if (st == BML_OK && meta->n_points == 0)
        st = bml__fail(BML_ERR_EMPTY, "%s: Channel_Normal_Table has no rows", path);
    meta->mb_read = (double)size / 1e6;
    if (t) mdb_free_tabledef(t);
    mdb_close(R.mdb);
    return st;
}
