/* Fuzz target: the readers of a run's metrics.json, `batteryml report` and `batteryml compare`
 * (src/track/report.c). Input: parts split at FZ_SEP: [0] metrics.json, [1] config.yaml. */
#include <stdlib.h>

#include "batteryml/run.h"
#include "core/internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *parts[2];
    size_t lens[2];
    fz_split(data, size, parts, lens, 2);
    char *dir = fz_fresh_dir("run-20260101-000000-lgbm-loco");
    free(fz_write(dir, "metrics.json", parts[0], lens[0]));
    free(fz_write(dir, "config.yaml", parts[1], lens[1]));
    char *out = bml__path_join(fz_scratch(), "report.html");
    if (!out) abort();
    fz_reset_error();
    bml_status st = bml_run_report(dir, out);
    fz_check_status(st, "bml_run_report");
    const char *dirs[2] = {dir, dir};
    char *table = NULL;
    fz_reset_error();
    st = bml_run_compare(dirs, 2, &table);
    fz_check_status(st, "bml_run_compare");
    free(table);
    free(out);
    free(dir);
    return 0;
}
