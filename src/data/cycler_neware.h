/* Neware's native files: the BTS binary .nda (file versions 29 and 130: BTS 7, 8 and 9/9.1 layouts) and the
 * .ndax zip archive (BTS 8+: data.ndc, data_runInfo.ndc, data_step.ndc of ndc versions 11 and 14); and BTSDA's
 * CSV exports: the "regular" three-level one (cycle, step and record lines under three header lines) and the
 * flat one (one header line: DataPoint, Cycle Index, Step Index, Step Type, ..., any of the units A/mA/uA,
 * V/mV, Ah/mAh/As/mAs, Wh/mWh/Ws/mWs; Latin-1 or UTF-8). In the CSVs the cycle is the file's Cycle Index and
 * the test time its Total Time. Internal;
 * the cycler format registry (src/data/cycler_read.c) calls these and sets meta->format.
 *
 * Two levels. bml__neware_records hands over the instrument's own rows with the columns the open-source
 * reader NewareNDA gives (per-step counters, step time, NewareNDA's default "software" cycle number), for
 * comparison with that reader. bml__neware_read turns them into bml_cycler_point rows (batteryml/cycler.h).
 *
 * Counter rule (Neware): the capacity and energy counters restart at every step (charge and discharge apart),
 * so a cycle's charge capacity at a row = the sum of the final (largest) values of the cycle's earlier steps
 * + the current step's largest value so far; likewise for discharge and the energies. Cycle numbering:
 * NewareNDA's default (software_cycle_number, cycle_mode 'chg'): cycle 1 at the first row; a new cycle starts
 * where a charge step (CC_Chg, CCCV_Chg, CP_Chg) begins after a discharge step (any *_DChg) or a SIM step.
 * Step: the count of step changes (1, 2, ... in file order), as NewareNDA numbers them.
 *
 * .ndax from BTS 8 log time, counters and wall-clock time (data_runInfo.ndc) for only some rows of data.ndc
 * (voltage, current). A row without them gets: step time = the last logged row's + its logged interval (dt)
 * per row since (the interval holds until the next logged row, which logs its own: BTSDA's CSV export of the
 * same test has these times; where that would reach the next logged row's time, linear interpolation between
 * the two); counters = the last logged value + the integral of the row currents (right endpoint, charge and
 * discharge apart); wall-clock time = the last logged one + the step-time difference. Such rows have
 * logged = 0. NewareNDA fills them differently (see tests/test_neware.c). */
#ifndef BML_DATA_CYCLER_NEWARE_H
#define BML_DATA_CYCLER_NEWARE_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/cycler.h"
#include "batteryml/status.h"

/* One row of the instrument, in NewareNDA's units. */
typedef struct {
    uint32_t index;     /* the row's Index (1-based, rising) */
    long cycle;         /* NewareNDA's default software cycle number (see above) */
    long step;          /* step count: 1 + the changes of step so far */
    int status;         /* the step type code (bml__neware_status_name) */
    double time_s;      /* time since the step began */
    double voltage_v;
    double current_ma;  /* charge positive */
    double charge_mah, discharge_mah, charge_mwh, discharge_mwh; /* per-step counters as stored (some files
                                                                    store the discharge ones negative) */
    double unix_time;   /* wall-clock time (s since 1970; .nda v29 and CSV store local time, taken as UTC); NaN if none */
    int logged;         /* 0: time, counters and wall-clock time filled in (.ndax rows without runInfo) */
    double total_time_s; /* CSV: the Total Time column (NaN in the binary files: summed from the steps' times) */
    size_t line;        /* CSV: the row's line in the file (0 in the binary files) */
} bml__neware_record;

typedef bml_status (*bml__neware_record_fn)(const bml__neware_record *r, void *user);

typedef struct {
    int kind;             /* 29 or 130: .nda file version; 1000 + ndc version for .ndax */
    size_t n_records;     /* rows handed over */
    size_t n_skipped;     /* .nda: records whose Index does not rise (duplicates) left out */
    size_t n_filled;      /* .ndax: rows without runInfo (filled in) */
    double bytes;         /* bytes of the file read (members uncompressed for .ndax) */
} bml__neware_info;

/* Stream the rows of an .nda or .ndax file (chosen by content) through fn. Truncated or damaged files fail
 * naming the file (and member) and the byte offset. info may be NULL. */
bml_status bml__neware_records(const char *path, bml__neware_record_fn fn, void *user, bml__neware_info *info);

/* The same from the three .ndc members held in memory (data.ndc, data_runInfo.ndc, data_step.ndc; the
 * last two may be NULL with length 0: the rows then carry only voltage and current). name: for messages. */
bml_status bml__neware_ndc_records(const char *name, const unsigned char *data, size_t n_data,
                                   const unsigned char *runinfo, size_t n_runinfo, const unsigned char *step,
                                   size_t n_step, bml__neware_record_fn fn, void *user, bml__neware_info *info);

/* NewareNDA's name of a step type code ("CC_Chg", "Rest", ...); "?" for an unknown code. Static storage. */
const char *bml__neware_status_name(int code);

/* The reader of the format registry: rows of batteryml/cycler.h (the counter rule above), meta filled as
 * far as read, also on failure (meta->format is BML_CYCLER_AUTO: the registry line sets it; has_cycle_index
 * 1; the line of a row is its Index in the binary files, its line in a CSV). meta may be NULL; when given it
 * is owned by the caller (bml_cycler_meta_free). */
bml_status bml__neware_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);

/* How sure the first n bytes of a file (and its name) say it is Neware's: 0 not at all, 100 certain
 * ("NEWARE" magic of an .nda), 95 BTSDA's regular CSV export ("Cycle Index,Chg. Cap.(" first), 90 a zip
 * archive named *.ndax, 85 a CSV header with DataPoint, Step Type and a capacity column (BTSDA's flat export),
 * 80 a zip whose first member is one of an .ndax's. No score is a near match: *why (why may be NULL) is never set. */
int bml__neware_sniff(const unsigned char *head, size_t n, const char *path, const char **why);

#endif
