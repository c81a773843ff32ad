/* Helpers shared by the fuzz targets (fuzz/fuzz_<name>.c). Not part of the library.
 *
 * Most loaders read files, so a target writes its input into a private scratch folder (created once
 * per process with mkdtemp under $TMPDIR, else /dev/shm, else /tmp; removed at exit) and calls the
 * loader on that path. Inputs that stand for several files are split at FZ_SEP. */
#ifndef BML_FUZZ_UTIL_H
#define BML_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "batteryml/cycler.h"
#include "batteryml/status.h"

/* Separator between the parts of a multi-file input (in the dictionaries as "\n%%\n"). */
#define FZ_SEP "\n%%\n"
#define FZ_SEP_LEN 4

/* The scratch folder of this process (created on the first call; aborts when it cannot be made,
 * which is an environment error, not a finding). Owned by the helpers. */
const char *fz_scratch(void);
/* Write len bytes to <dir>/<name>, replacing any file there; returns the path (caller frees).
 * Aborts on I/O errors (the environment, not the code under test). */
char *fz_write(const char *dir, const char *name, const uint8_t *data, size_t len);
/* Make (or empty) the folder <fz_scratch()>/<name> and return its path (caller frees). */
char *fz_fresh_dir(const char *name);
/* Split data at FZ_SEP into at most max parts (the last part takes the rest); returns the count
 * (at least 1). parts[i] point into data; lens[i] are their lengths. Missing parts get length 0. */
size_t fz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens, size_t max);
/* A NUL-terminated copy of len bytes (caller frees). */
char *fz_strndup(const uint8_t *data, size_t len);
/* Empty the thread's last-error message, so that fz_check_status sees the next call's own. */
void fz_reset_error(void);
/* The property every loader owes its caller: a failure comes with a message (call fz_reset_error
 * before the call). Aborts otherwise. With FUZZ_VERBOSE set, prints each outcome (to check seeds). */
void fz_check_status(bml_status st, const char *what);
/* A finding: prints "fuzz harness: TARGET: WHAT (N)" and aborts. */
_Noreturn void fz_fail(const char *target, const char *what, size_t n);

/* The points of a successful bml_cycler_read, checked as they arrive against what batteryml/cycler.h
 * promises: points (lines) rising, test time finite and non-decreasing, current and voltage finite, the
 * resistance NaN or > 0, capacities and energies NaN or >= 0 and, within a cycle, non-decreasing and NaN
 * on every point or none. Pass fz_check_point as the callback and a zeroed fz_points (target set) as user. */
typedef struct {
    const char *target; /* named in a finding */
    size_t n;           /* points handed over so far */
    bml_cycler_point prev;
} fz_points;
bml_status fz_check_point(const bml_cycler_point *p, void *user);
/* bml_cycler_summarize(path, fmt, default options) after a read whose status was read_st: a failure has a
 * message, and the summary accepts no file the read refused. */
void fz_check_summary(const char *target, const char *path, bml_cycler_format fmt, bml_status read_st);

/* The repository root (BML_SOURCE_DIR at build time). */
const char *fz_source_dir(void);

#endif
