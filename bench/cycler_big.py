#!/usr/bin/python3
"""Make a large cycler text export from a small real (or test) one: its header lines once, then its data rows
repeated COPIES times, with the columns that must keep rising shifted at each copy so that the result reads
as one long test: the test time (by the source's span: each copy's first row at the time of the copy
before's last, so no current flows over a gap between them), the cycle index (by the number of cycle
indices in the source, so copy k holds cycles k*C+first .. k*C+last), record / data point numbers, and
counters that run over the whole test (a net Wh, test-wide BDF counters, (Q-Qo)) by their rise over the
source. Wall-clock columns that are numbers (BDF's Unix Time, Battery Data Hub's Datenum_d) move with the
test time; text dates are repeated as they are (no reader checks that they rise). Line ends, delimiters,
number styles (decimals, E notation, decimal commas, h:mm:ss) and bytes outside ASCII are kept as in the
source; a closing row (Basytec's STO) is written by the last copy only.

Usage: cycler_big.py FORMAT SOURCE OUT (--copies N | --mb MB [--min-copies N])
  FORMAT: basytec, maccor_mactest, pec, batteryarchive, batterydata, bdf, neware (the regular three-level
  BTSDA export or the flat one, told apart by the first line) or biologic_mpt (EC-Lab's .mpt).
  --mb MB: as many copies as make the file at least MB megabytes (10^6 bytes), and at least --min-copies.
  OUT "-": nothing written (the number of copies only).
Prints the number of copies written. Standard library only."""
import argparse
import math
import re
import sys

# ---------------------------------------------------------------- numbers as the source writes them

_E = re.compile(r"^(-?)(\d+)[.,](\d+)([eE])([-+]?)(\d+)$")
_F = re.compile(r"^-?\d*[.,](\d+)$")
_I = re.compile(r"^-?\d+$")
_HMS = re.compile(r"^(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$")


def fmt_int(v):
    r = round(v)
    return str(int(r)) if abs(v - r) < 1e-9 else repr(v)


def fmt_fixed(d, comma):
    def f(v):
        s = "%.*f" % (d, v)
        return s.replace(".", ",") if comma else s
    return f


def fmt_exp(d, e_char, width, comma):
    def f(v):
        m, ex = ("%.*E" % (d, v)).split("E")
        s = "%s%s%s%0*d" % (m, e_char, "-" if ex[0] == "-" else "+", width, abs(int(ex)))
        return s.replace(".", ",") if comma else s
    return f


def fmt_hms(d):
    def f(v):
        h = int(v // 3600)
        m = int((v - 3600 * h) // 60)
        s = v - 3600 * h - 60 * m
        if d:
            return "%02d:%02d:%0*.*f" % (h, m, d + 3, d, s)
        return "%02d:%02d:%02d" % (h, m, int(round(s)))
    return f


def parse(s):
    """(value, decimals, make) of a field, or None where it is empty or not a number / h:mm:ss time; make(d) gives
    the field's formatter writing at least d decimals (a shift may need more than the field has)"""
    t = s.strip()
    if not t:
        return None
    m = _HMS.match(t)
    if m:
        frac = m.group(4) or ""
        v = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + (float("0." + frac) if frac else 0.0)
        return v, len(frac), lambda d: fmt_hms(max(len(frac), d))
    if _I.match(t):
        return float(t), 0, lambda d: fmt_fixed(d, False) if d else fmt_int
    m = _E.match(t)
    if m:  # E notation keeps its digits (EC-Lab: 15 or 7); its decimals are those of the mantissa less the exponent
        v = float(t.replace(",", "."))
        n = min(12, max(0, len(m.group(3)) - int(m.group(5) + m.group(6))))
        return v, n, lambda d: fmt_exp(len(m.group(3)), m.group(4), len(m.group(6)), "," in t)
    m = _F.match(t)
    if m:
        n = len(m.group(1))
        return float(t.replace(",", ".")), n, lambda d: fmt_fixed(max(n, d), "," in t)
    try:
        v = float(t)
    except ValueError:
        return None
    return (v, 0, lambda d: repr) if math.isfinite(v) else None


# ---------------------------------------------------------------- a source: head, rows, the columns to shift

INT, TIME, NET = "int", "time", "net"  # cycle / record indices, times, counters over the whole test


class Source:
    """head: the lines written once (bytes, line ends included); rows: (kind, fields, eol); shifts: per row kind,
    a list of (column, rule); keep_last: a test on a row's fields for rows written only by the last copy"""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.lines = f.read().splitlines(keepends=True)
        self.head, self.rows, self.sep, self.shifts, self.keep_last = [], [], b",", {}, None
        self.split_first = None  # neware regular: how copies after the first write the first cycle line

    def take_rows(self, start, kind_of=lambda f: 0):
        for raw in self.lines[start:]:
            body = raw.rstrip(b"\r\n")
            eol = raw[len(body):]
            if not body.strip():
                continue  # blank lines are not repeated
            f = body.split(self.sep)
            self.rows.append((kind_of(f), f, eol))

    def pad_trailing(self):
        """rows one field short of the usual count where the usual last field is empty (a trailing delimiter on
        all rows but the last, as MacTest writes them) get the empty field: every copy's rows then look alike"""
        counts = {}
        for _, f, _ in self.rows:
            counts[len(f)] = counts.get(len(f), 0) + 1
        n = max(counts, key=counts.get)
        for _, f, _ in self.rows:
            if len(f) == n - 1:
                f.append(b"")


def col(names, name):
    names = [n.strip().decode("latin-1") for n in names]
    if name not in names:
        sys.exit("cycler_big.py: no column %r in the header" % name)
    return names.index(name)


def src_basytec(s):
    # Key,Value preamble, blank lines, the header (Step,Status,...), a units row "[],[],..."
    h = next(i for i, l in enumerate(s.lines) if l.startswith(b"Step,Status,"))
    names = s.lines[h].rstrip(b"\r\n").split(b",")
    s.head = s.lines[:h + 2]
    s.take_rows(h + 2)
    s.shifts[0] = [(col(names, "Prog Time"), TIME), (col(names, "Cycle"), INT), (col(names, "WhAccu"), NET)]
    status = col(names, "Status")
    s.keep_last = lambda f: f[status].strip() == b"STO"  # the test's closing rows: once, at the end


def src_mactest(s):
    s.sep = b"\t"
    h = next(i for i, l in enumerate(s.lines) if l.startswith(b"Rec\tCycle P\t"))
    names = s.lines[h].rstrip(b"\r\n").split(b"\t")
    first = next(i for i in range(h + 1, len(s.lines)) if s.lines[i].strip())
    s.head = s.lines[:first]
    s.take_rows(first)
    s.pad_trailing()
    s.shifts[0] = [(col(names, "Rec"), INT), (col(names, "Cycle P"), INT), (col(names, "Cycle C"), INT),
                   (col(names, "TestTime"), TIME)]


def src_pec(s):
    h = next(i for i, l in enumerate(s.lines) if l.startswith(b"Test,Cell,Rack,Shelf,Position"))
    names = s.lines[h].rstrip(b"\r\n").split(b",")
    s.head = s.lines[:h + 1]
    s.take_rows(h + 1)
    tcol = [n for n in names if n.startswith(b"Total Time (")][0].decode()
    s.shifts[0] = [(col(names, "Cycle"), INT), (col(names, tcol), TIME)]


def src_batteryarchive(s):
    names = s.lines[0].rstrip(b"\r\n").split(b",")
    s.head = s.lines[:1]
    s.take_rows(1)
    s.shifts[0] = [(col(names, "Test_Time (s)"), TIME), (col(names, "Cycle_Index"), INT)]


def src_batterydata(s):
    names = s.lines[0].rstrip(b"\r\n").split(b",")
    if any(b'"' in l for l in s.lines):
        sys.exit("cycler_big.py: a quoted field in the Battery Data Hub source (not handled here)")
    s.head = s.lines[:1]
    s.take_rows(1)
    sh = [(col(names, "Time_s"), TIME), (col(names, "Cycle_Index"), INT), (col(names, "Datenum_d"), TIME)]
    if names[0].strip() == b"":
        sh.append((0, INT))  # pandas' index column
    s.shifts[0] = sh


def src_bdf(s):
    names = s.lines[0].rstrip(b"\r\n").lstrip(b"\xef\xbb\xbf").split(b",")
    low = [n.strip().lower().replace(b" ", b"") for n in names]
    s.head = s.lines[:1]
    s.take_rows(1)
    sh = []
    for i, n in enumerate(low):
        if n in (b"testtime/s", b"test_time_second", b"unixtime/s", b"unix_time_second", b"testtime/ms",
                 b"unixtime/ms"):
            sh.append((i, TIME))
        elif n in (b"cyclecount/1", b"cycle_count", b"stepcount/1", b"step_count"):
            sh.append((i, INT))
        elif n in (b"chargingcapacity/ah", b"dischargingcapacity/ah", b"chargingenergy/wh", b"dischargingenergy/wh",
                   b"charging_capacity_ah", b"discharging_capacity_ah", b"charging_energy_wh",
                   b"discharging_energy_wh"):
            sh.append((i, NET))  # since the start of the test: never reset
    s.shifts[0] = sh


def src_biologic_mpt(s):
    s.sep = b"\t"
    m = re.match(rb"Nb header lines : (\d+)", s.lines[1])
    if not s.lines[0].startswith(b"EC-Lab ASCII FILE") or not m:
        sys.exit("cycler_big.py: not an EC-Lab .mpt export ('EC-Lab ASCII FILE', 'Nb header lines : N')")
    h = int(m.group(1)) - 1
    names = s.lines[h].rstrip(b"\r\n").split(b"\t")
    s.head = s.lines[:h + 1]
    s.take_rows(h + 1)
    sh = [(col(names, "time/s"), TIME)]
    for n in ("cycle number", "half cycle"):
        if n in [x.decode("latin-1") for x in names]:
            sh.append((col(names, n), INT))
    for i, n in enumerate(names):
        if n.startswith(b"(Q-Qo)/"):
            sh.append((i, NET))
    s.shifts[0] = sh


def src_neware(s):
    first = s.lines[0].lstrip(b"\xef\xbb\xbf")
    if first.startswith(b"Cycle Index,Chg. Cap.("):
        # the regular export: cycle lines (Cycle Index first), step lines (",Step Index,..."), record lines
        # (",,DataPoint,..."), three header lines
        step_names = s.lines[1].rstrip(b"\r\n").split(b",")
        rec_names = s.lines[2].rstrip(b"\r\n").split(b",")
        s.head = s.lines[:3]
        s.take_rows(3, lambda f: 0 if f[0].strip() else 1 if len(f) > 1 and f[1].strip() else 2)
        s.shifts[0] = [(0, INT)]
        s.shifts[1] = [(col(step_names, "Step Number"), INT)]
        s.shifts[2] = [(col(rec_names, "DataPoint"), INT), (col(rec_names, "Total Time"), TIME)]
        # the first cycle line carries its first step (8 cycle fields, then the step's): later copies write it as
        # a real export does, a cycle line then a step line
        s.split_first = 8
    else:
        names = first.rstrip(b"\r\n").split(b",")
        s.head = s.lines[:1]
        s.take_rows(1)
        s.shifts[0] = [(col(names, "DataPoint"), INT), (col(names, "Cycle Index"), INT),
                       (col(names, "Total Time"), TIME)]


SOURCES = {"basytec": src_basytec, "maccor_mactest": src_mactest, "pec": src_pec,
           "batteryarchive": src_batteryarchive, "batterydata": src_batterydata, "bdf": src_bdf,
           "biologic_mpt": src_biologic_mpt, "neware": src_neware}


# ---------------------------------------------------------------- the spans and the writing

def plan(s):
    """per row, the (column, value, formatter, span) of each shifted field"""
    # per row, its shifted fields as (column, the series it belongs to, rule)
    fields = []
    for kind, f, _ in s.rows:
        fl = [(c, (kind, c), rule) for c, rule in s.shifts.get(kind, ())]
        # neware regular: the step fields on a cycle line shift as a step line's
        if s.split_first is not None and kind == 0 and len(f) > s.split_first and f[s.split_first].strip():
            sc, rule = s.shifts[1][0]
            fl.append((s.split_first - 1 + sc, (1, sc), rule))
        fields.append(fl)
    series, rules = {}, {}
    parsed = []
    for (kind, f, _), fl in zip(s.rows, fields):
        pr = []
        for c, key, rule in fl:
            p = parse(f[c].decode("latin-1")) if c < len(f) else None
            if p:
                series.setdefault(key, []).append((p[0], p[1]))
                rules[key] = rule
                pr.append((c, key, p))
        parsed.append(pr)
    span, span_dec = {}, {}
    for key, v in series.items():
        vals = [x[0] for x in v]
        if rules[key] == INT:
            sp = max(vals) - min(vals) + 1
        else:  # a time or a test-wide counter: copy k + 1 begins where copy k ends (its first row at the time of
            # copy k's last: a step of 0 s, so that no current flows over a gap between the copies)
            sp = vals[-1] - vals[0]
        dec = max(x[1] for x in v)  # the span to the series' decimals: up for a time (no copy starts before the
        # copy before ends)
        span[key] = math.ceil(sp * 10 ** dec - 1e-6) / 10 ** dec if rules[key] == TIME else round(sp, dec)
        txt = "%.*f" % (dec, span[key])
        span_dec[key] = len(txt.split(".")[1].rstrip("0")) if "." in txt else 0
    return [(kind, f, eol, [(c, p[0], p[2](span_dec[key]), span[key]) for c, key, p in pr])
            for (kind, f, eol), pr in zip(s.rows, parsed)]


def write(s, rows, copies, out):
    sep = s.sep
    with open(out, "wb") as o:
        o.writelines(s.head)
        for k in range(copies):
            last = k == copies - 1
            buf = []
            for kind, f, eol, sh in rows:
                if s.keep_last and not last and s.keep_last(f):
                    continue
                g = list(f)
                for c, v, fm, sp in sh:
                    g[c] = fm(v + k * sp).encode()
                if k and kind == 0 and s.split_first is not None and len(g) > s.split_first and \
                        g[s.split_first].strip():
                    buf.append(sep.join(g[:s.split_first]) + eol)
                    buf.append(sep.join([b""] + g[s.split_first:]) + eol)
                    continue
                buf.append(sep.join(g) + eol)
            o.writelines(buf)


def main(argv):
    ap = argparse.ArgumentParser(prog="cycler_big.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("format", choices=sorted(SOURCES))
    ap.add_argument("source")
    ap.add_argument("out", help='the file to write ("-": nothing written, the number of copies only)')
    size = ap.add_mutually_exclusive_group(required=True)
    size.add_argument("--copies", type=int)
    size.add_argument("--mb", type=float, help="as many copies as make the file at least MB megabytes (10^6 bytes)")
    ap.add_argument("--min-copies", type=int, default=1, help="with --mb: at least this many copies")
    a = ap.parse_args(argv[1:])
    s = Source(a.source)
    SOURCES[a.format](s)
    if not s.rows:
        sys.exit("cycler_big.py: %s: no data rows" % a.source)
    rows = plan(s)
    if a.copies is not None:
        copies = a.copies
    else:
        per_copy = sum(len(s.sep.join(f)) + len(e) for _, f, e, _ in rows)
        copies = max(math.ceil(a.mb * 1e6 / per_copy), a.min_copies)
    copies = max(copies, 1)
    if a.out != "-":
        write(s, rows, copies, a.out)
    print(copies)


if __name__ == "__main__":
    main(sys.argv)
