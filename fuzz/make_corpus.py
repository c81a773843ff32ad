#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the shipped data, the test data and a few small
runs of the program (their config.yaml, metrics.json and saved models). Re-run after a format change:

    python3 fuzz/make_corpus.py ./build/batteryml
    python3 fuzz/make_corpus.py ./build/batteryml fold_result   # only fuzz/corpus/fold_result/
    python3 fuzz/make_corpus.py cycler                          # only fuzz/corpus/cycler/ (no program needed)
    python3 fuzz/make_corpus.py mpr                             # only fuzz/corpus/mpr/ (no program needed)
    python3 fuzz/make_corpus.py maccor_parts                    # only fuzz/corpus/maccor_parts/ (no program needed)

Each seed has the input layout its target documents in fuzz/fuzz_<target>.c: multi-file inputs are
joined with the separator SEP; targets with a selector byte get it first. Seeds are kept small (slices
of the larger files) so that the fuzzer mutates them quickly."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

SEP = b"\n%%\n"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def rd(*p):
    with open(os.path.join(ROOT, *p), "rb") as f:
        return f.read()


def lines(b, n):
    """the first n lines of b"""
    return b"".join(b.splitlines(keepends=True)[:n])


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def oxford():
    ox = "data/oxford-lgm50t"
    cell = rd(ox, "Expt 5 - cell A (10degC) - Processed Data.csv")
    put("oxford", "expt5-cellA", cell)
    put("oxford", "expt1-cellJ", rd(ox, "Expt 1 - cell J (10degC) - Processed Data.csv"))
    put("oxford", "expt5-cellA-head", lines(cell, 4))
    # with a Summary per Set and per Cycle beside it (the layout test_data.c builds), and a stacked file
    set_data = b"Set,Throughput,Date\n0,0,01/07/2020\n1,7.5,\n2,15,03/08/2020\n"
    cycle_data = b"Cycle,Charge [A h],Start\n1,4.8,2020-07-01\n2,4.79,NaN\n3,4.78,\n"
    put("oxford", "expt5-cellA-aux", lines(cell, 5) + SEP + set_data + SEP + cycle_data)
    stacked = rd(ox, "Expt 1 - 40degC - Processed Data.csv")
    put("oxford", "stacked-expt1-40degC", lines(cell, 3) + SEP + SEP + SEP + stacked)


def table():
    t = rd("tests/data/table_small.csv")
    put("table", "table_small", t)
    put("table", "table_small-head", lines(t, 6))
    put("table", "quoted-crlf", b'experiment,cell,temperature_c,days,charge_throughput_ah,resistance_ohm,temperature_k,LLI\r\n'
        b'5,"A",10,0,0,0.0259,283.15,0\r\n5,"A",10,16,627.2,,283.15,0.065\r\n5,B,25,0,0,0.03,298.15,\r\n')


def curves():
    b = rd("data/lgm50-fresh-0p1C/Cell782_0p1C_25degC.csv").splitlines(keepends=True)
    # the preamble and header, then the first rows of every block of (step, cycle)
    keep, last, run = [], None, 0
    for i, ln in enumerate(b):
        f = ln.split(b",")
        key = (f[0], f[4]) if len(f) > 4 else None
        run = run + 1 if key == last else 0
        last = key
        if i < 18 or run < (12 if f[0] == b"13" else 3):
            keep.append(ln)
    basy = b"".join(keep)
    put("curves", "basytec-all-cycles", b"\x00" + basy)
    put("curves", "basytec-cycle1", b"\x03" + basy)
    # the columns in another order (Cycle after AhAccu), every row complete: the columns the cycler registry's
    # Basytec reader needs (Step, a time, Voltage, Current, AhAccu) and no more
    put("curves", "basytec-reordered", b"\x00Step,Status,Prog Time,AhAccu,Voltage,Current,Cycle\n[],[],[ss.xxx],[Ah],[V],[A],[]\n"
        b"13,DCH,0,0,4.1,-0.5,1\n13,DCH,10,-0.5,4.0,-0.5,1\n13,DCH,20,-1.0,3.9,-0.5,1\n"
        b"13,DCH,30,0,4.1,-0.5,2\n13,DCH,40,-0.4,4.0,-0.5,2\n")
    ff = "data/fast-formation-c20"
    c3, c56 = rd(ff, "diagnostic_test_cell_11_cyc_3.csv"), rd(ff, "diagnostic_test_cell_11_cyc_56.csv")
    put("curves", "curve-table-one", b"\x01" + lines(c3, 40))
    put("curves", "curve-table-three", b"\x01" + lines(c3, 20) + SEP + lines(c56, 20) + SEP + lines(c3, 10))
    # Oxford 0.1C layout (the columns synth-curves writes), with the Performance Summary of the same cell
    ox = (b"Time (s),Voltage (V),Current (mA),Charge (mA.h),Temperature (degC)\n"
          b"0,4.19,-500,0,25\n360,4.05,-500,-50,25.1\n720,3.95,-500,-100,25.1\n1080,3.8,-500,-150,25.2\n")
    summary = lines(rd("data/oxford-lgm50t", "Expt 5 - cell A (10degC) - Processed Data.csv"), 6)
    put("curves", "oxford-curve", b"\x02" + ox)
    put("curves", "oxford-curve-summary", b"\x02" + ox + SEP + summary + SEP + ox)


def cycler():
    """seeds of fuzz_cycler: selector = format (0 auto, 1 arbin, 2 maccor, 3 biologic, 4 novonix, 5 basytec)
    + 6 * mode (0 read + summary, 1 other summary options and BEEP's largest-step rule, 2 dataset, 3 curves dataset) + 24 * cell id (file,
    barcode, channel) + 72 * SoH reference (first cycle, nominal) + 144 * the name "cell.052"."""
    def sel(fmt, mode=0, cell=0, nominal=0, maccor_name=0):
        return bytes([fmt + 6 * mode + 24 * cell + 72 * nominal + 144 * maccor_name])

    def pick(b, numbers):
        """the lines of b at the given 1-based numbers"""
        ls = b.splitlines(keepends=True)
        return b"".join(ls[i - 1] for i in numbers if i <= len(ls))

    def with_fields(line, sep, values):
        """line with fields (0-based index -> bytes) replaced"""
        f = line.rstrip(b"\r\n").split(sep)
        for i, v in values.items():
            f[i] = v
        return sep.join(f) + line[len(line.rstrip(b"\r\n")):]

    cyc = "tests/data/cyclers"
    arbin = rd(cyc, "2017-05-09_test-TC-contact_CH33.csv")
    meta = rd(cyc, "2017-05-09_test-TC-contact_CH33_Metadata.csv")
    put("cycler", "arbin-head", sel(1) + lines(arbin, 12) + SEP + meta)
    # with step and cycle indices (the test file logs none): cycles 1 and 2
    rows = arbin.splitlines(keepends=True)
    def arbin_row(i):
        """row i as step 1 + (i - 1) // 3 of cycle 1 + (i - 1) // 6, the second step of each cycle a discharge"""
        f = {4: b"%d" % (1 + (i - 1) // 3), 5: b"%d" % (1 + (i - 1) // 6)}
        if (i - 1) // 3 % 2:
            cur = rows[i].split(b",")[6]
            f.update({6: b"-" + cur, 9: b"%.4f" % (0.001 * ((i - 1) % 3 + 1)), 11: b"%.4f" % (0.0035 * ((i - 1) % 3 + 1))})
        return with_fields(rows[i], b",", f)
    indexed = rows[0] + b"".join(arbin_row(i) for i in range(1, 13))
    put("cycler", "arbin-cycles", sel(0) + indexed)
    put("cycler", "arbin-dataset-channel", sel(0, mode=2, cell=2) + indexed + SEP + meta)

    maccor = rd(cyc, "PredictionDiagnostics_000151_paused.052")
    put("cycler", "maccor-head", sel(2, maccor_name=1) + lines(maccor, 8) + maccor.splitlines(keepends=True)[-1])
    # a charge step and a second cycle (the test file is one discharge step of cycle 37)
    m = maccor.splitlines(keepends=True)
    two = m[0] + m[1]
    for k, (c, st, state) in enumerate([(b"37", b"44", b"D"), (b"37", b"44", b"D"), (b"37", b"45", b"R"),
                                        (b"37", b"46", b"C"), (b"37", b"46", b"C"), (b"38", b"47", b"D"),
                                        (b"38", b"47", b"D")]):
        two += with_fields(m[2 + k], b"\t", {1: c, 2: st, 9: state})
    put("cycler", "maccor-two-cycles", sel(0, mode=1, maccor_name=1) + two + m[-1])
    put("cycler", "maccor-dataset-barcode", sel(2, mode=2, cell=1) + two)

    # test time as "Nd HH:MM:SS.ff", a title line without the test file's path (tests/test_cyclers.c's layout)
    put("cycler", "maccor-day-time", sel(2, mode=1) + b"Today's Date 01/02/2020  Date of Test:\t01/01/2020\t Filename:\t"
        b"C:\\x.001 Procedure:\tp.000\tComment/Barcode: B7\n"
        b"Rec#\tCyc#\tStep\tTest (Sec)\tStep (Sec)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n"
        b"1\t1\t1\t0d 00:00:00.00\t0\t0.0\t0.0\t1.0\t3.5\tC\t0\t01/01/2020 10:00:00\n"
        b"2\t1\t1\t0d 00:30:00.00\t1800\t0.05\t0.18\t1.0\t3.7\tC\t0\t01/01/2020 10:30:00\n"
        b"3\t1\t2\t0d 00:30:01.00\t0\t0.1\t0.37\t0.5\t3.8\tC\t0\t01/01/2020 10:30:01 PM\n"
        b"4\t1\t3\t0d 00:30:02.00\t0\t0.0\t0.0\t0.0\t3.6\tR\t0\t2020-01-01T10:30:02Z\n"
        b"5\t1\t4\t0d 01:00:00.00\t0\t0.1\t0.35\t1.0\t3.6\tD\t0\t01/01/2020 11:00:00\n"
        b"6\t2\t5\t1d 00:00:00.00\t0\t0.02\t0.07\t1.0\t3.5\tD\t0\t01/02/2020 10:00:00\n")

    bio = rd(cyc, "test_loopsnewoutput_MB_CE1_short10k.csv")
    mpl = pick(rd(cyc, "test_loopsnewoutput_MB_CE1_short10k.mpl"), [1, 5, 12, 33])
    put("cycler", "biologic-head", sel(3) + lines(bio, 6) + SEP + mpl)
    put("cycler", "biologic-cycle", sel(3, mode=1) + pick(bio, [1] + list(range(1618, 1626))))
    # EC-Lab's own layout: a title, the header line count, tab-separated with decimal commas, seconds
    put("cycler", "biologic-eclab", sel(0, mode=1) + b"EC-Lab ASCII FILE\nNb header lines : 5\n\nRun on channel : 3\n"
        b"time/s\tEcell/V\tI/mA\tcycle number\tQ charge/mA.h\tQ discharge/mA.h\tRapp/Ohm\tT/\xc2\xb0C\n"
        b"0,0\t3,81\t0\t0\t0\t0\t0\t25,1\n1,5\t3,9\t500\t0\t0,2\t0\t0,05\t25,2\n3,0\t4,1\t500\t0\t0,4\t0\t\t25,3\n"
        b"4,5\t3,7\t-500\t1\t0\t0,2\t\t25,2\n6,0\t3,5\t-500\t1\t0\t0,4\t\t25,1\n7,5\t3,2\t-500\t1\t0\t0,6\t\t25,0\n")

    nova = rd(cyc, "test_Nova_Form-CH01-01_short.csv")
    head = pick(nova, list(range(1, 21)) + [54, 55])
    data = pick(nova, list(range(57, 66)) + list(range(176, 181)) + list(range(1122, 1127)))
    # the test file ends inside cycle 1's charge: a discharge in cycle 2, its rows made from the last ones
    data += b"".join(b'"' + with_fields(l.strip(b'"\n'), b",", {1: b"2", 5: b"-" + l.split(b",")[5]}) + b'"\n'
                     for l in pick(nova, list(range(1127, 1131))).splitlines(keepends=True))
    put("cycler", "novonix-head", sel(4) + head + data)
    put("cycler", "novonix-unquoted-channel", sel(0, mode=2, cell=2, nominal=1) + head + data.replace(b'"', b""))

    basy = rd("data/lgm50-fresh-0p1C", "Cell782_0p1C_25degC.csv")
    b = pick(basy, list(range(1, 21)) + list(range(79, 85)) + list(range(130, 134)) + list(range(253, 259)) +
             list(range(1014, 1018)) + list(range(1137, 1142)) + list(range(1452, 1455)) + list(range(1576, 1579)) +
             list(range(2332, 2334)) + [2455, 2456])
    put("cycler", "basytec", sel(5) + b)
    put("cycler", "basytec-curves", sel(5, mode=3) + b)
    put("cycler", "basytec-auto-dataset-barcode", sel(0, mode=2, cell=1) + b)
    # Maccor MacTest and PEC (src/data/cycler_mactest.c, cycler_pec.c): made up, reached by detection
    mt = (b"Name:\tX-1.053\nChannel:\t53\nProcedure\tP.000\nStarted\t5/11/2021 3:40:24 PM\n\n"
          b"Rec\tCycle P\tCycle C\tStep\tTestTime\tStepTime\tCap. [Ah]\tEner. [Wh]\tCurrent [A]\tVoltage [V]\tMd\tES\t"
          b"DPT Time\tVAR1\t\n\n")
    for i, (cyc, step, md, q) in enumerate([(1, 1, b"R", 0), (1, 2, b"C", 0.5), (1, 2, b"C", 1.0), (1, 3, b"D", 0.4),
                                            (1, 3, b"D", 0.9), (2, 2, b"C", 0.6)]):
        mt += b"%d\t1\t%d\t%d\t%d,000000\t0,0\t%s\t%s\t%s\t3,%d\t%s\t0\t5/11/2021 3:4%d:24 PM\t0,0\t\n" % (
            i + 1, cyc, step, 30 * i, str(q).replace(".", ",").encode(), str(3.7 * q).replace(".", ",").encode(),
            b"0,0" if md == b"R" else b"1,0", 5 + i, md, i)
    put("cycler", "mactest-auto", sel(0) + mt)
    put("cycler", "mactest-auto-dataset", sel(0, mode=2, cell=2) + mt)
    pec = (b"Request Year:,2019\nTest:,187\nTestRegime Name:,R1\nTestRegime CellSize:,1500 mAh\n"
           b"Start Time:,02/22/2019 16:21:35\n#RESULTS CHECK\nReqYear,Test,CellNr,Type,Value,Reason,\n"
           b"#END RESULTS CHECK\nTest,Cell,Rack,Shelf,Position,Cell ID,Step,Cycle,Total Time (Seconds),Real Time,"
           b"Voltage (mV),Current (mA),Charge Capacity (mAh),Discharge Capacity (mAh),Charge Capacity (mWh),"
           b"Discharge Capacity (mWh),Cell surface temperature (\xc2\xb0C),\n")
    for i, (step, cyc, cur, qc, qd) in enumerate([(1, 0, 1000, 0, 0), (1, 0, 1000, 500, 0), (2, 0, -1000, 500, 400),
                                                  (1, 1, 1000, 100, 0), (2, 1, -1000, 100, 300)]):
        pec += b"187,1,R,001,1,,%d,%d,%d,02/22/2019 16:2%d:27,%d,%d,%d,%d,%d,%d,25.5,\n" % (
            step, cyc, 1800 * i, i, 3600 + 10 * i, cur, qc, qd, 4 * qc, 3 * qd)
    put("cycler", "pec-auto", sel(0) + pec)
    put("cycler", "pec-auto-curves", sel(0, mode=3, nominal=1) + pec)
    # Battery Archive time series (src/data/cycler_batteryarchive.c): the made-up file of the tests, reached by detection
    ba = rd("tests", "data", "cyclers", "batteryarchive", "made_up_timeseries.csv")
    put("cycler", "batteryarchive-auto", sel(0) + ba)
    put("cycler", "batteryarchive-auto-dataset", sel(0, mode=2) + ba)
    # Battery Data Hub time series (src/data/cycler_batterydata.c): the made-up file of the tests (pandas' index column,
    # NaN values, EIS rows), reached by detection; and one without the index column, with quoted labels
    bd = rd("tests", "data", "cyclers", "batterydata", "made_up-raw.csv")
    put("cycler", "batterydata-auto", sel(0) + bd)
    put("cycler", "batterydata-auto-dataset", sel(0, mode=2) + bd)
    put("cycler", "batterydata-quoted", sel(0, mode=1) +
        b"Cycle_Index,Step,Time_s,Current_A,Voltage_V,Cell_Temperature_C,Datenum_d,Charge_Capacity_Ah,"
        b"Discharge_Capacity_Ah,Charge_Energy_Wh,Discharge_Energy_Wh,Cycle_Label\n"
        b"1,1,0,0,3.3,25,737943.5,0,0,0,0,\"Aging, \"\"25C\"\"\"\n"
        b"1,2,900,1,3.6,NaN,737943.5104,0.25,0,0.9,0,\n"
        b"1,3,1800,-1,3.2,25.5,NaN,0,0.25,0,0.85,\"\"\n"
        b"2,1,1860,0,3.3,,737943.52,0,0,0,0,EIS\n")
    # Battery Data Format CSV (src/data/cycler_bdf.c): the made-up files of the tests (preferred labels; machine names,
    # no cycle column, no counters), and the reference files' layout (counters reset at each step, step_index), by detection
    bdf = rd("tests", "data", "cyclers", "bdf", "made_up_labels.bdf.csv")
    put("cycler", "bdf-labels-auto", sel(0) + bdf)
    put("cycler", "bdf-labels-auto-other", sel(0, mode=1) + bdf)
    put("cycler", "bdf-machine-auto-dataset", sel(0, mode=2) + rd("tests", "data", "cyclers", "bdf", "made_up_machine.bdf"))
    put("cycler", "bdf-step-reset-auto", sel(0) + b"test_time_second,voltage_volt,current_ampere,step_index,"
        b"charging_capacity_ah,discharging_capacity_ah,unix_time_second,step_record_index,cycle_charging_capacity_ah\n"
        b"0,3.0,0,1,0,0,1717243200,1,0\n600,3.0,0,1,0,0,1717243800,2,0\n2400,2.8,-1,2,0,0.5,1717245600,1,0\n"
        b"3000,2.9,0,3,0,0,,1,0\n4800,2.6,-1,4,0,0.5,,2,0\n6600,3.5,1,5,0.5,0,,1,0.5\n8400,3.9,1,5,1.0,0,NaN,2,1.0\n")
    # Maccor's milli-unit layout (cellpy's "three": "Today''s Date", blank lines, mAmp-hr counting on from CC to CV,
    # Volts in mV) and the "Test (Min)" layout (tests/test_maccor_layouts.c), made up, reached by detection
    three = (b"Today''s Date\t03/28/2022 12:50:27 PM\n\nDate of Test:\t08/23/2021 6:04:18 PM\n\n"
             b"Rec#\tCyc#\tStep\tTestTime\tStepTime\tmAmp-hr\tmWatt-hr\tmAmps\tVolts\tState\tES\tDPt Time\tUnnamed: 12\n")
    for i, (cyc, step, st, q, e, cur, v) in enumerate([(0, 1, b"R", 0, 0, 0, 1853.8), (0, 4, b"C", 180, 540, 180, 3600),
                                                        (0, 5, b"C", 400, 1250, 40, 3800), (0, 6, b"D", 300, 1000, -300, 3000),
                                                        (1, 4, b"C", 180, 560, 180, 3700), (1, 6, b"D", 150, 480, -300, 3100)]):
        three += b"%d\t%d\t%d\t  0d 0%d:00:00.00\t  0d 00:00:00.00\t%g\t%g\t%g\t%g\t%s\t0\t08/23/2021 %d:04:18 PM\t\n" % (
            i + 1, cyc, step, i, q, e, cur, v, st, 6 + i)
    put("cycler", "maccor-three-auto", sel(0) + three)
    put("cycler", "maccor-minutes", sel(0, mode=1, maccor_name=1) +
        b"Today's Date 04/04/2016  Date of Test:\t03/31/2016\t Filename:\tC:\\Data\\SET-1a.001 Procedure: F.000\t"
        b"Comment/Barcode: SET-1\nRec#\tCyc#\tStep\tTest (Min)\tStep (Min)\tAmp-hr\tWatt-hr\tAmps\tVolts\tState\tES\tDPt Time\n"
        b"1\t0\t1\t0.0000\t0.0000\t0.0\t0.0\t0.0\t3.3067\tR\t0\t03/31/2016 16:05:31\n"
        b"2\t0\t2\t0.5000\t0.0000\t0.0\t0.0\t0.0024\t3.4\tC\t0\t03/31/2016 16:06:01\n"
        b"3\t0\t2\t60.5000\t60.0000\t0.0024\t0.009\t0.0024\t4.1\tC\t1\t03/31/2016 17:06:01\n"
        b"4\t0\t3\t90.5000\t30.0000\t0.0012\t0.0042\t0.0024\t3.6\tD\t1\t17:36:01\n")


def config(runs):
    top = rd("configs/config.yaml")
    put("config", "compose-default", b"\x00" + top)
    put("config", "compose-overrides", b"\x00" + top + SEP + b"split=loco\nmodel.learning_rate=0.01\n+model.extra=1\n"
        b"data.experiment=[1,2,3,5]\nseed=7\n")
    put("config", "compose-bad-override", b"\x00" + top + SEP + b"model=nope\nfoo.bar=1\n=x\n")
    for run in sorted(os.listdir(runs)):
        put("config", "resolved-" + run, b"\x01" + rd(runs, run, "config.yaml").replace(runs.encode(), b"runs") + SEP +
            b"seed=3\n")
    for g in ("mlp", "acla", "lgbm"):
        put("config", "group-model-" + g, b"\x02" + rd("configs/model", g + ".yaml") + SEP + b"model.name=fuzz\n")
    put("config", "yaml-features", b"\x01" + b"%YAML 1.1\n---\na: &x 1\nb: *x\nc: {d: [1, 2], e: 'q'}\nf: |\n  text\n"
        b"g: ~\nh: null\n...\n")


def model(runs):
    for run in sorted(os.listdir(runs)):
        for d, _, files in os.walk(os.path.join(runs, run, "model")):
            if "model.json" not in files:
                continue
            own = (rd(d, "weights.bin") if "weights.bin" in files else rd(d, "booster_0.json") if "booster_0.json" in files
                   else b"")  # the linear models keep everything in model.json
            if "booster_1.json" in files:
                continue  # one file per input: the single-target models only
            put("model", run, rd(d, "model.json") + SEP + own + SEP + rd(d, "preprocess.json"))
            pre = json.loads(rd(d, "preprocess.json"))
            n_features = len(pre["impute_mean"]) if pre.get("impute_mean") else 0
            put("preprocess", run, bytes([n_features % 8]) + rd(d, "preprocess.json"))
            break
    put("preprocess", "three-features", b"\x03" + b'{"format_version":1,"impute_mean":[1,2,3],'
        b'"scaler":{"mean":[0,0,0],"scale":[1,2,0]}}')
    put("preprocess", "nulls", b"\x02" + b'{"format_version":1,"impute_mean":null,"scaler":null}')


def checkpoint():
    def ck(model, params, tensors):
        b = b"BMLCKPT\0" + struct.pack("<I", 1)
        for s in (model, params):
            b += struct.pack("<I", len(s)) + s
        b += struct.pack("<I", len(tensors))
        for name, vals in tensors:
            b += struct.pack("<I", len(name)) + name + struct.pack("<II", 1, len(vals)) + struct.pack("<%df" % len(vals), *vals)
        return b
    good = [(b"w", [0.5, -1, 2, 3, 4, 5]), (b"b", [0.25, -0.25])]
    put("checkpoint", "good", ck(b"mlp", b'{"hidden_dims":"[4]"}', good))
    put("checkpoint", "truncated", ck(b"mlp", b"{}", good)[:-6])
    put("checkpoint", "wrong-model", ck(b"lstm_attn", b"{}", good))
    put("checkpoint", "wrong-shape", ck(b"mlp", b"{}", [(b"w", [1, 2]), (b"b", [1, 2])]))


def report(runs):
    for run in sorted(os.listdir(runs)):
        put("report", run, rd(runs, run, "metrics.json") + SEP + rd(runs, run, "config.yaml").replace(runs.encode(), b"runs"))
    put("report", "minimal", b'{"study":{"model":"lgbm","seed":1},"overall":{"soh":{"rmse":0.1,"mae":0.1,"r2":0.5}},'
        b'"fold_summary":{"soh":{"n_folds":2,"rmse_mean":0.1,"rmse_std":0.01,"mae_mean":0.1}}}' + SEP + b"seed: 1\n")


def fold_result(bml):
    """real result bytes of a fold (bml_fold_job_run): the target's seed mode (FUZZ_FOLD_RESULT_WRITE) run by
    fuzz_replay_fold_result, built next to the program, on the one-byte selectors 0-4 and 7 (lgbm, acla; the
    run also written; split loco)"""
    replay = os.path.join(os.path.dirname(bml), "fuzz_replay_fold_result")
    with tempfile.TemporaryDirectory() as tmp:
        sels = (0, 1, 2, 3, 4, 7)
        for sel in sels:
            with open(os.path.join(tmp, "sel%d" % sel), "wb") as f:
                f.write(bytes([sel]))
        out = os.path.join(OUT, "fold_result")
        os.makedirs(out, exist_ok=True)
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", ASAN_OPTIONS="detect_leaks=0", FUZZ_FOLD_RESULT_WRITE=out)
        subprocess.run([replay] + [os.path.join(tmp, "sel%d" % sel) for sel in sels], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def small_runs(bml, out):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", ASAN_OPTIONS="detect_leaks=0")
    common = ["--config-dir", os.path.join(ROOT, "configs"), "data.path=" + os.path.join(ROOT, "data/oxford-lgm50t"),
              "output_dir=" + out, "figures=false"]
    seq = ["pipeline=latent_ode_seq", "training.epochs=1"]
    runs = {
        "lgbm": ["model=lgbm", "model.n_estimators=3"],
        "lgbm_loco_modes": ["model=lgbm", "model.n_estimators=3", "split=loco", "pipeline.target=modes"],
        "mlp": ["model=mlp", "model.hidden_dims=[4]", "training.epochs=2"],
        "lstm_attn": seq + ["model=lstm_attn", "model.hidden_dim=4", "model.num_heads=1"],
        "cnn_lstm": seq + ["model=cnn_lstm", "model.hidden_dim=4", "model.num_heads=1"],
        "neural_ode": seq + ["model=neural_ode", "model.hidden_dim=4", "model.latent_dim=2", "model.solver=euler"],
        "acla": seq + ["model=acla", "model.attn_dim=4", "model.num_heads=1", "model.cnn_filters1=2", "model.cnn_filters2=2",
                       "model.hidden_dim=4", "model.latent_dim=2", "model.augment_dim=1", "model.ode_hidden=4",
                       "model.solver=euler"],
        "ridge": ["model=ridge"],
        "elastic_net_cv": ["model=elastic_net_cv", "model.n_alphas=5"],
    }
    for name, args in runs.items():
        subprocess.run([bml, "run"] + common + args + ["run_name=" + name], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mpr_file(n, header_v2=True, data_version=2):
    """a small BioLogic .mpr of our own (the layout src/data/cycler_mpr.c documents): a settings module, a data
    module with flags, Ns, time/s, Ewe/V, I/mA, cycle number, Q charge/discharge/mA.h, half cycle"""
    def module(short, long_, content, version):
        h = short.ljust(10) + long_.ljust(25)
        if header_v2:
            h += struct.pack("<IIII", 0xFFFFFFFF, len(content), version, 11) + b"03/15/24"
        else:
            h += struct.pack("<II", len(content), version) + b"03/15/24"
        return b"MODULE" + h + content
    ids = [1, 131, 4, 6, 8, 24, 211, 212]
    if data_version == 0:
        head = struct.pack("<IB", n, len(ids)) + bytes(ids[:6] + [211, 212]).ljust(95, b"\0")
    else:
        head = (struct.pack("<IB", n, len(ids)) + b"".join(struct.pack("<H", i) for i in ids)).ljust(405, b"\0")
    recs, q = b"", 0.0
    for i in range(n):
        dis = i >= n // 2
        if i == n // 2:
            q = 0.0
        cur = -1000.0 if dis else 1000.0
        q += cur * 60 / 3600 if i else 0
        recs += struct.pack("<BHdffddI", 1 | (0 if dis else 4), int(dis), 60.0 * i, 3.5 + 0.01 * i, cur, 0.0, q, int(dis))
    magic = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\0\0\0\0"
    return magic + module(b"VMP Set", b"VMP settings", b"\0" * 8, 0) + module(b"VMP data", b"VMP data", head + recs,
                                                                                   data_version)


def mpr():
    put("mpr", "v2-forced-summary", bytes([3]) + mpr_file(12))
    put("mpr", "v1-header-auto", bytes([0]) + mpr_file(6, header_v2=False))
    put("mpr", "v0-u8-ids", bytes([1]) + mpr_file(4, data_version=0))
    put("mpr", "not-mpr", bytes([1]) + b"BIO-LOGIC MODULAR FIL")


def maccor_parts():
    """seeds of fuzz_maccor_parts: selector = format (0 auto, 1 maccor) + 2 * mode (0 read + summary, 1 list,
    2 dataset); parts cell.001-cell.003 of BEEP's Maccor export repeated as cycles 1-3 (as tools/cycler_repeat.sh
    does), 20 rows of each cycle"""
    b = rd("tests/data/cyclers", "PredictionDiagnostics_000151_test.052").splitlines(keepends=True)
    title, header = b[0], b[1]
    data = [r for r in b[2:] if r.strip()]
    t0 = float(data[0].split(b"\t")[3])
    span = float(data[-1].split(b"\t")[3]) - t0 + 1

    def part(k, c_less=0, t_less=0.0, head=None):
        """cycle k + 1 (its first 20 rows), its cycle index less c_less and its time less t_less"""
        rows = []
        for i, r in enumerate(data[:20]):
            f = r.rstrip(b"\r\n").split(b"\t")
            f[0] = b"%d" % (k * len(data) + i + 1)
            f[1] = b"%d" % (k + 1 - c_less)
            f[3] = b"%.4f" % (float(f[3]) + k * span - t_less)
            rows.append(b"\t".join(f) + b"\n")
        return (head or title) + header + b"".join(rows)

    on = part(0)[:-1] + SEP + part(1)[:-1] + SEP + part(2)
    put("maccor_parts", "on-0", bytes([0]) + on)
    put("maccor_parts", "on-1", bytes([1]) + on)
    put("maccor_parts", "on-list", bytes([3]) + on)
    last = float(part(0).splitlines()[-1].split(b"\t")[3])
    put("maccor_parts", "restart", bytes([0]) + part(0)[:-1] + SEP + part(1, 1, last))
    put("maccor_parts", "gap-dataset", bytes([5]) + part(0)[:-1] + SEP + SEP + part(2))
    other = title.replace(b"Barcode: 00001E", b"Barcode: 00009Z")
    put("maccor_parts", "barcode", bytes([0]) + part(0)[:-1] + SEP + part(1, head=other))


def main():
    if sys.argv[1:] == ["maccor_parts"]:
        shutil.rmtree(os.path.join(OUT, "maccor_parts"), ignore_errors=True)
        maccor_parts()
        print("maccor_parts %d seeds" % len(os.listdir(os.path.join(OUT, "maccor_parts"))))
        return
    if sys.argv[1:] == ["mpr"]:
        shutil.rmtree(os.path.join(OUT, "mpr"), ignore_errors=True)
        mpr()
        print("mpr %d seeds" % len(os.listdir(os.path.join(OUT, "mpr"))))
        return
    if sys.argv[1:] == ["cycler"]:
        shutil.rmtree(os.path.join(OUT, "cycler"), ignore_errors=True)
        cycler()
        print("cycler %d seeds" % len(os.listdir(os.path.join(OUT, "cycler"))))
        return
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["fold_result"]):
        sys.exit("usage: make_corpus.py PATH/TO/batteryml [fold_result] | make_corpus.py cycler")
    if sys.argv[2:] == ["fold_result"]:
        shutil.rmtree(os.path.join(OUT, "fold_result"), ignore_errors=True)
        fold_result(os.path.abspath(sys.argv[1]))
        print("fold_result %d seeds" % len(os.listdir(os.path.join(OUT, "fold_result"))))
        return
    shutil.rmtree(OUT, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        small_runs(os.path.abspath(sys.argv[1]), tmp)
        oxford()
        table()
        curves()
        cycler()
        mpr()
        maccor_parts()
        config(tmp)
        model(tmp)
        checkpoint()
        report(tmp)
        fold_result(os.path.abspath(sys.argv[1]))
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print("%-11s %3d seeds %7d bytes" % (t, len(files), size))


main()
