/* Read speed of the cycler readers alone (no summary, nothing written): each file given (default: the .nda and
 * .ndax files of ../shared/data/cyclers-more/neware) read REPEAT times (default 5) through bml_cycler_read, its
 * format detected, on one thread, the points handed to a callback that only sums them. One JSON line per file:
 * the format, rows, the file's bytes and the bytes parsed (.ndax: its members uncompressed), the CPU seconds of one
 * read (the fastest of the repeats) and MB/s per core of each.
 *   bench_cycler_read [--repeat N] [FILE...] */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_env.h"
#include "batteryml/batteryml.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile double sink;
static bml_status on_point(const bml_cycler_point *p, void *user) {
    (void)user;
    sink += p->voltage_v + p->charge_ah;
    return BML_OK;
}

static int bench_file(const char *path, int repeat) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "bench_cycler_read: %s: not found\n", path);
        return 1;
    }
    double best = 1e300;
    bml_cycler_meta meta;
    memset(&meta, 0, sizeof meta);
    for (int r = 0; r < repeat; r++) {
        bml_cycler_meta_free(&meta);
        double t0 = cpu_now();
        bml_status st = bml_cycler_read(path, BML_CYCLER_AUTO, on_point, NULL, &meta);
        double t = cpu_now() - t0;
        if (st != BML_OK) {
            fprintf(stderr, "bench_cycler_read: %s\n", bml_last_error());
            bml_cycler_meta_free(&meta);
            return 1;
        }
        if (t < best) best = t;
    }
    const char *base = strrchr(path, '/');
    double mb_file = (double)sb.st_size / 1e6;
    bench_line_start(), printf("\"bench\": \"cycler_read\", \"format\": \"%s\", \"file\": \"%s\", \"rows\": %zu, \"mb_file\": %.3f, \"mb_parsed\": %.3f, "
           "\"cpu_s\": %.5f, \"mb_file_per_cpu_s\": %.1f, \"mb_parsed_per_cpu_s\": %.1f}\n",
           bml_cycler_format_name(meta.format), base ? base + 1 : path, meta.n_points, mb_file, meta.mb_read, best, mb_file / best, meta.mb_read / best);
    bml_cycler_meta_free(&meta);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int repeat = 5, rc = 0, i = 1, any = 0;
    if (argc > 2 && !strcmp(argv[1], "--repeat")) repeat = atoi(argv[2]), i = 3;
    if (repeat < 1) repeat = 1;
    for (; i < argc; i++) rc |= bench_file(argv[i], repeat), any = 1;
    if (any) return rc;
    const char *dir = BML_SOURCE_DIR "/../shared/data/cyclers-more/neware";
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "bench_cycler_read: %s not found: give the files to read\n", dir);
        return 1;
    }
    char *names[256];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if ((len > 4 && !strcmp(e->d_name + len - 4, ".nda")) || (len > 5 && !strcmp(e->d_name + len - 5, ".ndax")))
            if (asprintf(&names[n], "%s/%s", dir, e->d_name) > 0) n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t k = 0; k < n; k++) rc |= bench_file(names[k], repeat), free(names[k]);
    return rc;
}
