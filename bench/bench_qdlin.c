/* Benchmark of the Qdlin data source (bml_dataset_load_qdlin): MB/s of CSV loaded, against the bytes of the
 * matrix files, and the same through libcsv + bml__parse_double field by field (bml__csv_read, the project's
 * generic CSV reader) as the baseline. One JSON line per case. The machine's other load shows in the numbers:
 * report them as rough.
 * Usage: bench_qdlin [folder] [--reps 3]   (folder: ../shared/data/severson2019 by default) */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_env.h"
#include "batteryml/batteryml.h"
#include "core/internal.h"
#include "data/csvread.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); } /* this process's CPU time: less at the mercy of the load */

int main(int argc, char **argv) {
    const char *dir = BML_SOURCE_DIR "/../shared/data/severson2019";
    int reps = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else dir = argv[i];
    }
    bml_dataset *ds = NULL;
    if (bml_dataset_load_qdlin(dir, NULL, &ds) != BML_OK) {
        fprintf(stderr, "bench_qdlin: %s\n", bml_last_error());
        return 1;
    }
    size_t n = bml_dataset_n_cells(ds);
    double bytes = 0;
    char **paths = calloc(n, sizeof *paths);
    for (size_t i = 0; i < n; i++) {
        bml_cell_view v;
        bml_dataset_cell(ds, i, &v);
        struct stat st;
        paths[i] = bml__strdup(v.source);
        if (stat(v.source, &st) == 0) bytes += (double)st.st_size;
    }
    bml_dataset_free(ds);
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s(), c0 = cpu_s();
        if (bml_dataset_load_qdlin(dir, NULL, &ds) != BML_OK) return 1;
        double t = now_s() - t0, c = cpu_s() - c0;
        bml_dataset_free(ds);
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
    }
    bench_line_start(), printf("\"bench\":\"qdlin_load\",\"cells\":%zu,\"mb\":%.1f,\"best_s\":%.4f,\"mb_per_s\":%.0f,\"cpu_mb_per_s\":%.0f,\"reps\":%d}\n", n,
           bytes / 1e6, best, bytes / 1e6 / best, bytes / 1e6 / best_cpu, reps);
    best = best_cpu = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s(), c0 = cpu_s(), sum = 0;
        for (size_t i = 0; i < n; i++) {
            bml__csv c;
            if (bml__csv_read(paths[i], 0, &c) != BML_OK) return 1;
            for (size_t k = 0; k < c.n_rows; k++)
                for (size_t j = 0; j < c.rows[k].n_fields; j++) {
                    double x;
                    if (bml__parse_double(c.rows[k].fields[j], &x) == 0) sum += x;
                }
            bml__csv_free(&c);
        }
        double t = now_s() - t0, c = cpu_s() - c0;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
        if (sum == 12345.678) printf("#\n"); /* keep the sum */
    }
    bench_line_start(), printf("\"bench\":\"libcsv_parse_double\",\"cells\":%zu,\"mb\":%.1f,\"best_s\":%.4f,\"mb_per_s\":%.0f,\"cpu_mb_per_s\":%.0f,\"reps\":%d}\n", n,
           bytes / 1e6, best, bytes / 1e6 / best, bytes / 1e6 / best_cpu, reps);
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    return 0;
}
