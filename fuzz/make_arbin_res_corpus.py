#!/usr/bin/env python3
"""Writes small made-up Arbin .res files (MS Access / Jet 4 databases of our own, no real file copied):

* the seeds of fuzz/corpus/arbin_res/ (fuzz/fuzz_arbin_res.c: a selector byte, then the file): a whole small
  database (MSysObjects, Global_Table, Channel_Normal_Table), a Jet 4 header page and empty pages (libmdb opens it,
  then finds no catalog), a Jet 3 header, a text file;
* tests/data/cyclers/arbin-res/arbin-made-up.res, read by tests/test_arbin_res.c without ../shared.

The layout written is the part of Jet 4 that libmdb (mdbtools 1.0) reads: page 0 (the version byte at 0x14 and the
RC4-masked block from 0x18, here the keystream itself so that it unmasks to zeros: no database key); table
definition pages (type 0x02: row count at 16, variable and all column counts at 43/45, index counts at 47/51 (0),
usage and free map row pointers at 55/59, 25-byte column entries from 63 (type, column number at 5, variable
column number at 7, row column number at 9, flags at 15 (1: fixed), fixed offset at 21, size at 23) and then the
names, each a 16-bit length and UCS-2 text); data pages (type 0x01, the table's definition page at 4, the row
count at 12, then the rows' 16-bit start offsets; rows fill the page from its end); a row: its column count
(16 bits), the fixed columns at their offsets, the variable ones, their offsets (reversed, one more than
columns), their count, the null mask (bit set: a value); usage maps of type 0 (a start page and a bitmap) as
rows of a data page. MSysObjects (page 2) lists each table: Id (its definition page), Name, Type (1), Flags,
LvProp (NULL).

    python3 fuzz/make_arbin_res_corpus.py"""
import math
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus", "arbin_res")
TEST_FILE = os.path.join(ROOT, "tests", "data", "cyclers", "arbin-res", "arbin-made-up.res")
PAGE = 4096
BYTE, INT, LONG, SINGLE, DOUBLE, TEXT, OLE = 0x02, 0x03, 0x04, 0x06, 0x07, 0x0A, 0x0B
FIXED = {BYTE: ("<B", 1), INT: ("<h", 2), LONG: ("<i", 4), SINGLE: ("<f", 4), DOUBLE: ("<d", 8)}


def rc4_keystream(key, n):
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for _ in range(n):
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(s[(s[i] + s[j]) % 256])
    return bytes(out)


def header_page(version=1):
    p0 = bytearray(PAGE)
    p0[0:4] = b"\x00\x01\x00\x00"
    p0[4:20] = b"Standard Jet DB\x00"
    p0[0x14:0x18] = struct.pack("<I", version)
    p0[0x18:0x18 + 128] = rc4_keystream(struct.pack("<I", 0x6B39DAC7), 128)
    return bytes(p0)


def ucs2(s):
    return s.encode("utf-16-le")


class Table:
    def __init__(self, name, cols, rows):
        self.name, self.cols, self.rows = name, cols, rows
        off = 0
        self.fixed_off = {}
        self.var_num = {}
        for i, (_, t) in enumerate(cols):
            if t in FIXED:
                self.fixed_off[i] = off
                off += FIXED[t][1]
            else:
                self.var_num[i] = len(self.var_num)
        self.fixed_len = off

    def row(self, values):
        n = len(self.cols)
        fixed = bytearray(self.fixed_len)
        var = [b""] * len(self.var_num)
        mask = bytearray((n + 7) // 8)
        for i, ((_, t), v) in enumerate(zip(self.cols, values)):
            if v is None:
                continue
            mask[i // 8] |= 1 << (i % 8)
            if t in FIXED:
                fmt, _ = FIXED[t]
                fixed[self.fixed_off[i]:self.fixed_off[i] + FIXED[t][1]] = struct.pack(fmt, v)
            else:
                var[self.var_num[i]] = ucs2(v) if isinstance(v, str) else bytes(v)
        body = struct.pack("<H", n) + bytes(fixed)
        tail = b""
        if self.var_num:
            offs, pos = [], len(body)
            for d in var:
                offs.append(pos)
                pos += len(d)
            offs.append(pos)
            body += b"".join(var)
            tail = b"".join(struct.pack("<H", o) for o in reversed(offs)) + struct.pack("<H", len(var))
        return body + tail + bytes(mask)

    def tdef(self, n_rows, usage_ptr, free_ptr):
        p = bytearray(PAGE)
        p[0], p[1] = 0x02, 0x01
        struct.pack_into("<i", p, 16, n_rows)
        struct.pack_into("<H", p, 43, len(self.var_num))
        struct.pack_into("<H", p, 45, len(self.cols))
        struct.pack_into("<iiii", p, 47, 0, 0, usage_ptr, free_ptr)
        pos = 63
        for i, (_, t) in enumerate(self.cols):
            e = bytearray(25)
            e[0] = t
            struct.pack_into("<H", e, 5, i)
            struct.pack_into("<H", e, 7, self.var_num.get(i, 0))
            struct.pack_into("<H", e, 9, i)
            e[15] = 0x03 if t in FIXED else 0x02
            struct.pack_into("<H", e, 21, self.fixed_off.get(i, 0))
            struct.pack_into("<H", e, 23, FIXED[t][1] if t in FIXED else (510 if t == TEXT else 0))
            p[pos:pos + 25] = e
            pos += 25
        for name, _ in self.cols:
            b = ucs2(name)
            p[pos:pos + 2 + len(b)] = struct.pack("<H", len(b)) + b
            pos += 2 + len(b)
        assert pos <= PAGE
        return bytes(p)


def data_pages(tdef_pg, rows):
    """the rows packed into data pages of the table whose definition is page tdef_pg"""
    pages, cur = [], []
    for r in rows:
        if 14 + 2 * (len(cur) + 1) + sum(map(len, cur)) + len(r) > PAGE:
            pages.append(cur)
            cur = []
        cur.append(r)
    if cur or not pages:
        pages.append(cur)
    out = []
    for rs in pages:
        p = bytearray(PAGE)
        p[0], p[1] = 0x01, 0x01
        struct.pack_into("<i", p, 4, tdef_pg)
        struct.pack_into("<H", p, 12, len(rs))
        end = PAGE
        for k, r in enumerate(rs):
            start = end - len(r)
            p[start:end] = r
            struct.pack_into("<H", p, 14 + 2 * k, start)
            end = start
        struct.pack_into("<H", p, 2, end - (14 + 2 * len(rs)))
        out.append(bytes(p))
    return out


def database(tables):
    """a Jet 4 file holding the tables [(name, [(column, type)], [[value or None per column]])]"""
    msys = Table("MSysObjects", [("Id", LONG), ("Name", TEXT), ("Type", INT), ("Flags", LONG), ("LvProp", OLE)], [])
    user = [Table(*t) for t in tables]
    # pages: 0 header, 1 empty, 2 MSysObjects' definition, 3 the usage maps, 4 MSysObjects' rows, then per table
    # its definition and its data pages
    layout, pg = [], 5
    for t in user:
        n_data = len(data_pages(0, [t.row(r) for r in t.rows]))
        layout.append((pg, list(range(pg + 1, pg + 1 + n_data))))
        pg += 1 + n_data
    msys_rows = [msys.row([tp, t.name, 1, 0, None]) for t, (tp, _) in zip(user, layout)]

    def usage(first, n):
        bits = bytearray((n + 7) // 8)
        for i in range(n):
            bits[i // 8] |= 1 << (i % 8)
        return b"\x00" + struct.pack("<i", first) + bytes(bits)

    maps = [usage(4, 1), b"\x00" + struct.pack("<i", 0)] + [usage(d[0], len(d)) for _, d in layout]
    map_page = data_pages(0, maps)
    assert len(map_page) == 1
    pages = [header_page(), bytes(PAGE), msys.tdef(len(msys_rows), 3 << 8 | 0, 3 << 8 | 1), map_page[0]]
    pages += data_pages(2, msys_rows)
    assert len(pages) == 5
    for k, (t, (tp, dps)) in enumerate(zip(user, layout)):
        pages.append(t.tdef(len(t.rows), 3 << 8 | (2 + k), 3 << 8 | 1))
        dp = data_pages(tp, [t.row(r) for r in t.rows])
        assert len(dp) == len(dps)
        pages += dp
    return b"".join(pages)


CNT = [("Test_ID", LONG), ("Data_Point", LONG), ("Test_Time", DOUBLE), ("Step_Time", DOUBLE), ("DateTime", DOUBLE),
       ("Step_Index", INT), ("Cycle_Index", INT), ("Is_FC_Data", BYTE), ("Current", SINGLE), ("Voltage", SINGLE),
       ("Charge_Capacity", DOUBLE), ("Discharge_Capacity", DOUBLE), ("Charge_Energy", DOUBLE),
       ("Discharge_Energy", DOUBLE), ("Internal_Resistance", SINGLE)]
GLOBAL = [("Test_ID", LONG), ("Test_Name", TEXT), ("Channel_Index", LONG), ("Start_DateTime", DOUBLE),
          ("Schedule_File_Name", TEXT), ("Item_ID", TEXT)]
START = 45000.5  # 2023-03-15 12:00:00


def cell_rows(n_cycles=3, per_half=20, second_test_at=None, null_voltage_at=None):
    """a made-up test: a rest row, then per cycle a 1 A charge (step 2) and a 1 A discharge (step 3) of per_half rows
    60 s apart; the counters run over the cycle. In cycle 2 the schedule resets them at the discharge step's start
    and a short charge (step 4, 5 rows) follows: its charge counts from 0 again (a restart at a step boundary).
    In cycle 3 the charge counter dips by 1e-9 Ah inside the step (noise: the maximum is held)."""
    rows, t, dp = [], 0.0, 0

    def add(step, cyc, cur, v, qc, qd, ec, ed):
        nonlocal dp
        dp += 1
        tid = 2 if second_test_at is not None and dp >= second_test_at else 1
        volt = None if null_voltage_at == dp else v
        rows.append([tid, dp, t, t, START + t / 86400, step, cyc, 0, cur, volt, qc, qd, ec, ed, 0.05 if cur else 0.0])
    add(1, 1, 0.0, 3.5, 0.0, 0.0, 0.0, 0.0)
    for c in range(1, n_cycles + 1):
        qc = ec = 0.0
        for k in range(per_half):
            t += 60
            qc += 1 / 60
            ec += 3.8 / 60
            # the dip: 1e-9 Ah below the value of the row before
            shown = qc - 1 / 60 - 1e-9 if (c == 3 and k == per_half // 2) else qc
            add(2, c, 1.0, 3.6 + 0.01 * k, shown, 0.0, ec, 0.0)
        qd = ed = 0.0
        if c == 2:
            qc = ec = 0.0
        for k in range(per_half):
            t += 60
            qd += 1 / 60
            ed += 3.7 / 60
            add(3, c, -1.0, 3.9 - 0.01 * k, qc, qd, ec, ed)
        if c == 2:
            for k in range(5):
                t += 60
                qc += 1 / 60
                ec += 3.8 / 60
                add(4, c, 1.0, 3.6, qc, qd, ec, ed)
    return rows


def res_file(**kw):
    return database([("Global_Table", GLOBAL, [[1, "made-up", 7, START, "made_up.sdu", "cell-7"]]),
                     ("Channel_Normal_Table", CNT, cell_rows(**kw))])


def put(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    small = res_file(n_cycles=2, per_half=4)
    put("made-up-forced-summary", bytes([3]) + small)
    put("made-up-auto", bytes([0]) + small)
    put("made-up-second-test", bytes([1]) + res_file(n_cycles=1, per_half=3, second_test_at=5))
    put("made-up-null-voltage", bytes([3]) + res_file(n_cycles=1, per_half=3, null_voltage_at=3))
    put("jet4-empty-auto", bytes([0]) + header_page() + bytes(2 * PAGE))
    put("jet3-empty-forced", bytes([1]) + header_page(version=0)[:2048] + bytes(2 * 2048))
    put("not-res", bytes([1]) + b"Test_ID,Data_Point,Test_Time\n1,1,0.5\n")
    with open(TEST_FILE, "wb") as f:
        f.write(res_file())
    print("arbin_res %d seeds; %s" % (len(os.listdir(OUT)), os.path.relpath(TEST_FILE, ROOT)))


if __name__ == "__main__":
    main()
