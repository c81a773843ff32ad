#!/usr/bin/env python3
"""Writes the seeds of fuzz/corpus/neware/ (fuzz/fuzz_neware.c): small made-up Neware files in each layout the
reader knows (.nda version 29, version 130 BTS 9 and BTS 9.1, .ndc members of versions 11 and 14, an .ndax zip,
BTSDA's regular and flat CSV exports),
built from the layouts described in src/data/cycler_neware.c. No real file is copied.

    python3 fuzz/make_neware_corpus.py"""
import io
import os
import struct
import zipfile

SEP = b"\n%%\n"
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz", "corpus", "neware")

# (status, step id, current sign): charge, rest, discharge, charge again (a second cycle)
STEPS = [(1, 1, 1), (4, 2, 0), (2, 3, -1), (7, 4, 1)]
ROWS = 3  # rows per step


def rows():
    i = 0
    for status, step, sign in STEPS:
        for k in range(ROWS):
            i += 1
            yield i, status, step, sign, k


def nda29():
    head = bytearray(b"NEWARE20180910") + bytes([29]) + bytes(100)
    recs = bytearray(b"\0\0\0\0")
    for i, status, step, sign, k in rows():
        r = bytearray(86)
        r[0] = 0x55
        struct.pack_into("<IIB", r, 2, i, 0, step)
        r[12] = status
        struct.pack_into("<Qii", r, 14, 1000 * k, 36000 + i, sign * 5000)
        cap = 5000 * k * 10 * (sign != 0)  # mA*1000 s at range 1000 (x0.1)
        chg, dchg = (cap, 0) if sign > 0 else (0, cap)
        struct.pack_into("<qqqq", r, 38, chg, dchg, chg * 4, dchg * 4)
        struct.pack_into("<HBBBBB", r, 70, 2018, 9, 10, 17, 52, k)
        struct.pack_into("<i", r, 78, 1000)
        recs += r
    return bytes(head + recs)


def nda130_bts9():
    head = bytearray(b"NEWARE20160408") + bytes([130]) + bytes(1024 - 15)
    out = bytearray(head)
    for i, status, step, sign, k in rows():
        r = bytearray(88)
        r[0:4] = b"\x12\x50\x00\x07"
        p = 4
        r[p + 0] = 0x55
        r[p + 5] = step
        r[p + 6] = status
        struct.pack_into("<I", r, p + 12, i)
        struct.pack_into("<Qff", r, p + 24, 1000000 * k, 3.6 + i / 100, sign * 500.0)
        cap = 500.0 * k * (sign != 0)
        chg, dchg = (cap, 0.0) if sign > 0 else (0.0, cap)
        struct.pack_into("<ffffQ", r, p + 48, chg, chg * 4, dchg, dchg * 4, 1461068461000000 + 1000000 * i)
        out += r
    out += b"\x81" + bytes(87) + b"footer"
    return bytes(out)


def nda130_bts91():
    head = bytearray(b"NEWARE20160408") + bytes([130]) + bytes(1024 - 15)
    out = bytearray(head)
    for i, status, step, sign, k in rows():
        r = bytearray(56)
        r[0], r[1], r[2], r[3] = 0x55, 0x81, step, status
        struct.pack_into("<III", r, 8, i, k, 0)
        cap = 500.0 * k * sign
        struct.pack_into("<ffff", r, 20, sign * 500.0, 3.6 + i / 100, cap, cap * 4)
        struct.pack_into("<IIf", r, 44, 1700000000 + i, 0, 25.0)
        out += r
    out += b"\x81" + bytes(55)
    return bytes(out)


def page(slot_size, recs):
    pg = bytearray(4096)
    for j, rec in enumerate(recs):
        pg[4 + j // 8] |= 1 << (j % 8)
        pg[132 + j * slot_size:132 + j * slot_size + len(rec)] = rec
    return pg


def ndc(filetype, version, slot_size, recs):
    header = bytearray(4096)
    header[0], header[2] = filetype, version
    per = (4096 - 133) // slot_size
    out = bytearray(header)
    for s in range(0, max(len(recs), 1), per):
        out += page(slot_size, recs[s:s + per])
    return bytes(out)


def ndc_members(version, log_every=2):
    v14 = version == 14
    data, run = [], []
    for i, status, step, sign, k in rows():
        v = 3.6 + i / 100
        data.append(struct.pack("<ff", v if v14 else v * 1e4, sign * (0.5 if v14 else 500.0)))
        if k == 0 or k % log_every == 0:
            cap = 0.5 * k / 3600 * (sign != 0)  # Ah
            chg, dchg = (cap, 0.0) if sign > 0 else (0.0, cap)
            scale = 1.0 if v14 else 3.6e6  # v11: mAs
            r = bytearray(55 if v14 else 47)
            struct.pack_into("<i", r, 0, 1000 * k)
            struct.pack_into("<ffff", r, 5, chg * scale, dchg * scale, chg * 4 * scale, dchg * 4 * scale)
            struct.pack_into("<iIIIh", r, 29, 1000, 1700000000 + i, step, i, 250)
            run.append(bytes(r))
    steps = []
    cyc = 0
    for status, step, sign in STEPS:
        r = bytearray(37)
        struct.pack_into("<II", r, 0, cyc, step)
        r[24] = status
        steps.append(bytes(r))
    return (ndc(1, version, 8, data), ndc(18, version, 55 if v14 else 47, run), ndc(7, version, 37, steps))


def ndax(version):
    d, r, s = ndc_members(version)
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("VersionInfo.xml", (2025, 1, 1, 0, 0, 0)), b"<config/>")
        for name, data in (("data.ndc", d), ("data_step.ndc", s), ("data_runInfo.ndc", r)):
            zi = zipfile.ZipInfo(name, (2025, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return b.getvalue()


def csv_regular():
    out = [b"Cycle Index,Chg. Cap.(Ah),DChg. Cap.(Ah),Chg.-DChg. Eff(%),Chg. Energy(Wh),DChg. Energy(Wh),Chg. Time,DChg. Time",
           b",Step Index,Step Number,Step Type,Step Time,Capacity(Ah),Energy(Wh)",
           b",,DataPoint,Time,Total Time,Current(A),Voltage(V),Capacity(Ah),Energy(Wh),Date"]
    n = 0
    for cyc in (1, 2):
        out.append(b"%d,0.001,0.001,100.0,0.004,0.004,00:00:04,00:00:04" % cyc)
        for j, (typ, sign) in enumerate(((b"CC Chg", 1), (b"Rest", 0), (b"CC DChg", -1))):
            out.append(b",%d,%d,%s,00:00:04,0.00100,0.00400" % (j + 1, 3 * cyc + j - 2, typ))
            for k in range(3):
                n += 1
                out.append(b",,%d,00:00:%02d,%d:%02d:%02d,%.5f,%.4f,%.9f,%.5f,2026-03-06 12:%02d:%02d" % (
                    n, 2 * k, 0, 2 * n // 60, 2 * n % 60, 0.5 * sign, 3.7 + 0.01 * sign * k, 0.0005 * k * abs(sign),
                    0.002 * k * abs(sign), 37 + 2 * n // 60, 2 * n % 60))
    return b"\r\n".join(out) + b"\r\n"


def csv_flat():
    out = [b"DataPoint,Cycle Index,Step Index,Step Type,Time,Total Time,Current(\xb5A),Voltage(mV),Chg. Cap.(mAs),"
           b"DChg. Cap.(mAs),Chg. Energy(mWs),DChg. Energy(mWs),Date,"]
    n = 0
    for cyc, step, typ, sign in ((1, 1, b"CC_Chg", 1), (1, 2, b"CC_DChg", -1), (2, 3, b"CC_Chg", 1)):
        for k in range(3):
            n += 1
            q = 500 * k
            out.append(b"%d,%d,%d,%s,00:00:%02d.000,00:00:%02d.000,%d,%.1f,%s,%s,%d,%d,2025-06-17 09:26:%02d.383," % (
                n, cyc, step, typ, k, n, 500000 * sign, 3700 + 10 * k, b"%d" % q if sign > 0 else b"0",
                b"%d" % q if sign < 0 else b"", 4 * q * (sign > 0), 4 * q * (sign < 0), n))
    return b"\n".join(out) + b"\n"


def put(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    put("nda29", b"\0" + nda29())
    put("nda130_bts9", b"\0" + nda130_bts9())
    put("nda130_bts91", b"\0" + nda130_bts91())
    put("ndax14", b"\1" + ndax(14))
    put("ndax11", b"\1" + ndax(11))
    put("ndc14", b"\2" + SEP.join(ndc_members(14)))
    put("ndc11_every3", b"\2" + SEP.join(ndc_members(11, 3)))
    put("csv_regular", b"\0" + csv_regular())
    put("csv_flat", b"\0" + csv_flat())
