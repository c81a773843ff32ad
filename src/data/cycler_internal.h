/* The cycler-format registry and what a format's reader shares with the others (not public).
 *
 * Every format is one entry of the table `formats[]` in src/data/cycler_read.c: its name (what
 * data.format= and `structure --format` take), a one-line help, how its capacity counters count, a content
 * sniffer (which also says what a near match lacked) and the reader. The public bml_cycler_format of an entry is
 * its position in the table + 1 (0 is BML_CYCLER_AUTO); the first five keep the enum constants of
 * batteryml/cycler.h, a format added after them needs no constant (bml_cycler_format_parse finds it by name).
 *
 * Adding a format (e.g. the Neware reader of src/data/cycler_neware.c, whose two functions are declared
 * below): write the file, add it to the library's sources (CMakeLists.txt, the list with
 * src/data/cycler_read.c), and append ONE line to formats[]:
 *     {"neware", "Neware BTS .nda/.ndax/CSV", "<how its counters count>", bml__neware_sniff, bml__neware_read},
 * Nothing else lists formats: the names accepted, the "not a known format" message and
 * bml_cycler_format_count/_describe/_counters are generated from the table. */
#ifndef BML_DATA_CYCLER_INTERNAL_H
#define BML_DATA_CYCLER_INTERNAL_H

#include <stddef.h>

#include "batteryml/cycler.h"

/* The first bytes of a file that the sniffers see (fewer when the file is shorter). */
#define BML__CYCLER_HEAD ((size_t)65536)
/* A format's sniffer: one pass over the first n bytes of the file (and its path) gives the score and, for
 * a near match, what is missing.
 * Its score: 0 not this format; 1..BML__SNIFF_MATCH-1 a near match (something of the format is there,
 * something required is missing); BML__SNIFF_MATCH..100 this format (100: a signature that cannot be
 * anything else). The highest score claims the file; a tie goes to the earlier entry.
 * why: NULL when the caller does not want it; otherwise, for a near match, the sniffer sets *why to what
 * the file lacks, in a few words ("no Test_Time column"), static storage, or NULL (nothing to say); for
 * other scores it leaves *why alone. A sniffer must not read past head[n - 1]; head is not NUL-terminated. */
#define BML__SNIFF_MATCH 50
typedef int (*bml__cycler_sniff_fn)(const unsigned char *head, size_t n, const char *path, const char **why);
/* A sniffer's near match: what (static storage) into *why when the caller wants it, and the score. */
static inline int bml__sniff_near(const char **why, const char *what, int score) {
    if (why) *why = what;
    return score;
}
/* Stream the file through fn (the contract of bml_cycler_read in batteryml/cycler.h). meta arrives zeroed
 * but for format, path, cell (set) and nominal_capacity_ah (NaN); the reader fills the rest as far as it
 * reads, n_points and mb_read included, and fails (BML_ERR_EMPTY) on a file with no data rows. A reader
 * that resets meta itself (memset, as src/data/cycler_neware.c does) must set path and cell again before
 * its first row (the summary's messages name meta->path); bml_cycler_read frees the ones it replaced, sets
 * again what is missing after the call, and sets format to the registry's own in any case. Counters
 * must be turned into "within the cycle, non-decreasing" by the format's own definition (see
 * bml__counter_step). */
typedef bml_status (*bml__cycler_read_fn)(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);

typedef struct {
    const char *name;     /* lower case, no spaces */
    const char *help;     /* one line: the layout(s) it reads */
    const char *counters; /* how its capacity/energy counters count and the rule that reads them */
    bml__cycler_sniff_fn sniff;
    bml__cycler_read_fn read;
} bml__cycler_format_def;

/* The entry of a format (NULL for BML_CYCLER_AUTO and out-of-range values). */
const bml__cycler_format_def *bml__cycler_format_def_of(bml_cycler_format f);

/* A capacity or energy counter as an instrument logs it, read by the instrument's definition: the
 * increment it adds to the running "within the cycle" sum for the value v of this row.
 *   restart: 1 when this row starts a span at which the instrument restarts the counter (its step,
 *            half-cycle or cycle boundary, per the vendor's definition); a value below the running
 *            maximum there is a restart and counts from 0.
 *   Anywhere else a value below the running maximum is noise (or a real anomaly), never a reset: the
 *   maximum is held (increment 0) and the event counted in *n_drops (when given), its size kept in
 *   *max_drop (when given). */
typedef struct {
    double max;
    int seen;
} bml__counter;
double bml__counter_step(bml__counter *c, double v, int restart, size_t *n_drops, double *max_drop);

/* meta->start_time, when not set yet, from seconds since 1970 (UTC): "YYYY-MM-DD HH:MM:SS" and suffix (NULL: none),
 * rounded to the second; a time outside gmtime's range leaves it unset. Fails only out of memory. */
bml_status bml__cycler_start_time(bml_cycler_meta *meta, double unix_s, const char *suffix);

/* Readers in files of their own (declared here so that their table line is all that links them). */
bml_status bml__mpr_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__mpr_sniff(const unsigned char *head, size_t n, const char *path, const char **why);
bml_status bml__neware_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__neware_sniff(const unsigned char *head, size_t n, const char *path, const char **why);
bml_status bml__arbin_res_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__arbin_res_sniff(const unsigned char *head, size_t n, const char *path, const char **why);
bml_status bml__mactest_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__mactest_sniff(const unsigned char *head, size_t n, const char *path, const char **why);
bml_status bml__pec_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__pec_sniff(const unsigned char *head, size_t n, const char *path, const char **why);
bml_status bml__batteryarchive_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__batteryarchive_sniff(const unsigned char *head, size_t n, const char *path, const char **why);
bml_status bml__batterydata_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__batterydata_sniff(const unsigned char *head, size_t n, const char *path, const char **why);
bml_status bml__bdf_read(const char *path, bml_cycler_point_fn fn, void *user, bml_cycler_meta *meta);
int bml__bdf_sniff(const unsigned char *head, size_t n, const char *path, const char **why);

/* The cycle-life loader's summary (src/data/cycler_life.c): bml_cycler_summarize, but the cycles first..last get
 * their discharge curve on `grid` (n >= 2 voltages, strictly monotone, either direction; discharge_curve_ah in
 * the grid's order) and every other curve is NULL (no charge curves, no raw points): memory holds n values per
 * wanted cycle. Each curve is Q(V) read as the capacity at which the voltage first falls to V (linear between the
 * two rows around the crossing: bml_cycler_summary's discharge curves); at grid voltages above the discharge's
 * first row, the capacity of that row; below the lowest voltage the discharge reaches, the capacity where it
 * first reached it (held, as numpy.interp holds its ends). n_low and low_first (set by the call) count the
 * curves held at their low end and name the first one's cycle. A cycle without discharge rows keeps NaN. */
typedef struct {
    const double *grid;
    size_t n;
    long first, last;
    size_t n_low; /* out */
    long low_first;
} bml__cycler_qv;
/* A Maccor test split over numbered parts NAME.001, NAME.002, ... (bml_cycler_read of the first reads them all as one
 * test): the number of path's extension when it is three digits, else -1. */
int bml__cycler_part_number(const char *path);

bml_status bml__cycler_summarize_qv(const char *path, bml_cycler_format format, const bml_cycler_summary_opts *opts,
                                    bml__cycler_qv *qv, bml_cycler_summary **out);

#endif
