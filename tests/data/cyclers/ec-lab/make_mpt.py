#!/usr/bin/env python3
"""Writes the small EC-Lab text exports (.mpt) of this folder, laid out as EC-Lab 11 writes them: the
"EC-Lab ASCII FILE" block with "Nb header lines", the technique name on line 4, the settings, a column
header that ends with a tab the data rows lack, Windows-1252 text (µ, °), CRLF line ends, numbers as
EC-Lab prints them (%.15E the float64 columns: time, counters, cycle number; %.7E the float32 ones: Ewe, I,
control, P; 3-digit exponents), with a decimal comma where the
Windows locale uses one. Values are made up; the counters are what EC-Lab's definitions give for them
(Q charge/discharge and Energy charge/discharge per half cycle, (Q-Qo) net since the start, dq since the
previous point), with the current held over the interval that ends at each row (right-endpoint rule).
Run from this folder: python3 make_mpt.py"""


def e(x, digits, comma):
    s = f"{x:.{digits}E}"
    mant, ex = s.split("E")
    s = f"{mant}E{ex[0]}{int(ex[1:]):03d}"
    return s.replace(".", ",") if comma else s


def header(technique, settings, columns, extra_lines=()):
    body = ["EC-Lab ASCII FILE", None, "", technique, "",
            "Run on channel : 2 (SN 12345)", "User : ", "Ewe ctrl range : min = 0,00 V, max = 5,00 V",
            "Acquisition started on : 03/15/2024 10:30:53.000", "Loaded Setting File : NONE",
            "Saved on :", "\tFile : cell.mpr", "\tDirectory : C:\\Data\\", "\tHost : 192.168.0.10",
            "Device : VMP3 (SN 12345)", "Address : 192.168.0.10", "EC-Lab for windows v11.50 (software)",
            "Internet server v11.50 (firmware)", "Command interpretor v11.50 (firmware)",
            "Electrode connection : standard", "Potential control : Ewe", "Ewe ctrl range : min = 0,00 V, max = 5,00 V",
            "Electrode material : ", "Initial state : ", "Electrolyte : ", "Comments : ",
            "Battery capacity : 1,000 A.h", "Electrode surface area : 0,001 cm\u00b2",
            "Characteristic mass : 0,001 mg", "Cycle Definition : Charge/Discharge alternance"]
    body += list(extra_lines) + settings
    body.append("\t".join(columns) + "\t")  # the header's trailing tab
    body[1] = f"Nb header lines : {len(body)}"
    return body


def write(name, lines):
    with open(name, "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def gcpl(name, comma, current_col):
    """GCPL, 2 cycles: charge 1 A to 4.2 V, discharge 1 A, as rows every 600 s; Q charge/discharge signed"""
    cols = ["mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.", "Ns", "time/s",
            "control/V/mA", "Ewe/V", current_col, "dq/mA.h", "(Q-Qo)/mA.h", "half cycle", "Q charge/discharge/mA.h",
            "Energy charge/W.h", "Energy discharge/W.h", "Capacitance charge/\u00b5F", "Capacitance discharge/\u00b5F",
            "cycle number", "P/W"]
    settings = ["Ns                  0                   1                   ",
                "Set I/C             I                   I                   ",
                "Is                  1" + (",000" if comma else ".000") + "               -1" + (",000" if comma else ".000"),
                "unit Is             A                   A                   "]
    rows = []
    t, net, half = 0.0, 0.0, 0
    # (cycle, half cycle, Ns, current mA, rows); the first row of the file is the start, dt 0
    plan = [(0, 0, 0, 1000.0, 6), (0, 1, 1, -1000.0, 5), (1, 2, 0, 1000.0, 6), (1, 3, 1, -1000.0, 4)]
    first = True
    for cyc, hc, ns, i_ma, n in plan:
        q = ech = edis = 0.0
        for k in range(n):
            dt = 0.0 if first else 600.0
            first = False
            t += dt
            v = (3.6 + 0.1 * k) if i_ma > 0 else (4.0 - 0.15 * k)
            dq = i_ma * dt / 3600.0
            q += dq
            net += dq
            if i_ma > 0:
                ech += v * i_ma / 1000 * dt / 3600
            else:
                edis += v * -i_ma / 1000 * dt / 3600
            f = [str(1), "1" if i_ma > 0 else "0", "0", "1" if k == 0 else "0", "1" if k == 0 else "0", "0", str(ns),
                 e(t, 15, comma), e(i_ma, 7, comma), e(v, 7, comma), e(i_ma, 7, comma), e(dq, 15, comma),
                 e(net, 15, comma), str(hc), e(q, 15, comma), e(ech, 15, comma), e(edis, 15, comma), e(0, 7, comma),
                 e(0, 7, comma), e(cyc, 15, comma), e(v * i_ma / 1000, 7, comma)]
            rows.append("\t".join(f))
    write(name, header("Galvanostatic Cycling with Potential Limitation", settings, cols) + rows)


def modulo_bat(name):
    """Modulo Bat, 1 cycle (rest, CC charge, CV charge, CC discharge, rest), Q charge/mA.h and Q discharge/mA.h
    per half cycle; in the rest that ends the discharge half cycle EC-Lab's Q discharge dips by 1e-7 mA.h
    (as in real exports)"""
    cols = ["mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.", "Ns", "time/s",
            "control/V/mA", "Ewe/V", "<I>/mA", "dq/mA.h", "(Q-Qo)/mA.h", "half cycle", "Q charge/mA.h",
            "Q discharge/mA.h", "Energy charge/W.h", "Energy discharge/W.h", "cycle number", "P/W"]
    settings = ["Ns                  0                   1                   2                   3",
                "ctrl_type           Rest                CC                  CV                  CC"]
    rows = []
    t, net, qc, qd, ec, ed, first = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, True
    # (Ns, mode, half cycle, current mA, voltage, rows)
    plan = [(0, 3, 0, 0.0, 3.50, 3), (1, 1, 0, 500.0, 3.90, 6), (2, 2, 0, 100.0, 4.20, 3), (3, 1, 1, -500.0, 3.70, 8),
            (4, 3, 1, 0.0, 3.40, 5)]
    for ns, mode, hc, i_ma, v0, n in plan:
        if i_ma < 0:
            qd = ed = 0.0  # a new half cycle: the discharge counters start again
        for k in range(n):
            dt = 0.0 if first else 300.0
            first = False
            t += dt
            v = v0 + (0.02 * k if i_ma > 0 else -0.05 * k)
            dq = i_ma * dt / 3600.0
            net += dq
            if i_ma > 0:
                qc += dq
                ec += v * i_ma / 1000 * dt / 3600
            elif i_ma < 0:
                qd += -dq
                ed += v * -i_ma / 1000 * dt / 3600
            shown_qd = qd
            if hc == 1 and i_ma == 0 and k in (1, 3):
                shown_qd = qd - 1e-7  # the instrument's counter dips inside the half cycle
            f = [str(mode), "1" if i_ma > 0 else "0", "0", "1" if k == 0 else "0", "1" if k == 0 else "0", "0", str(ns),
                 e(t, 15, False), e(i_ma if mode != 3 else 0, 7, False), e(v, 7, False), e(i_ma, 7, False),
                 e(dq, 15, False), e(net, 15, False), str(hc), e(qc if hc == 0 else 0.0, 15, False), e(shown_qd, 15, False),
                 e(ec if hc == 0 else 0.0, 15, False), e(ed, 15, False), e(0, 15, False), e(v * i_ma / 1000, 7, False)]
            rows.append("\t".join(f))
    write(name, header("Modulo Bat", settings, cols) + rows)


def cp(name):
    """Chronopotentiometry: +200 mA then -200 mA, (Q-Qo)/mA.h only, decimal commas"""
    cols = ["mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.", "Ns", "time/s",
            "control/mA", "Ewe/V", "<I>/mA", "dq/mA.h", "(Q-Qo)/mA.h", "cycle number", "P/W"]
    settings = ["Ns                  0                   1", "Is                  200,000             -200,000"]
    rows = []
    t, net, first = 0.0, 0.0, True
    for ns, i_ma, n in [(0, 200.0, 5), (1, -200.0, 5)]:
        for k in range(n):
            dt = 0.0 if first else 60.0
            first = False
            t += dt
            v = 3.7 + (0.01 * k if i_ma > 0 else -0.01 * k)
            dq = i_ma * dt / 3600.0
            net += dq
            f = ["1", "1" if i_ma > 0 else "0", "0", "1" if k == 0 else "0", "1" if k == 0 else "0", "0", str(ns),
                 e(t, 15, True), e(i_ma, 7, True), e(v, 7, True), e(i_ma, 7, True), e(dq, 15, True), e(net, 15, True),
                 e(0, 15, True), e(v * i_ma / 1000, 7, True)]
            rows.append("\t".join(f))
    write(name, header("Chronopotentiometry", settings, cols) + rows)


def ocv(name):
    """Open Circuit Voltage: no current column (the technique passes none)"""
    cols = ["mode", "error", "time/s", "Ewe/V", "T/\u00b0C"]
    settings = ["tR (h:m:s)          0:10:0,0000", "dER/dt (mV/h)       0,0"]
    rows = ["\t".join(["3", "0", e(60.0 * k, 15, True), e(3.6 - 0.001 * k, 7, True), e(25.0 + 0.1 * k, 7, True)])
            for k in range(11)]
    write(name, header("Open Circuit Voltage", settings, cols) + rows)


if __name__ == "__main__":
    gcpl("gcpl_comma.mpt", True, "I/mA")
    gcpl("gcpl_point.mpt", False, "<I>/mA")
    modulo_bat("modulo_bat.mpt")
    cp("cp_comma.mpt")
    ocv("ocv_comma.mpt")
