/* Benchmark of the ICA feature step (SPEC 4.2): curves per second in C against the same steps in Python
 * with numpy/scipy (bench/ica_peer.py, run in the same process tree on the same curves), and the disk
 * cache: a repeated study's feature step against the first. One JSON line per case.
 * Curves: the synthetic 0.1C discharges of every Performance Summary row (1,500 points each).
 * Usage: bench_ica [--reps 3] [--no-python] */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_env.h"
#include "batteryml/batteryml.h"
#include "data/dataset_internal.h"
#include "pipelines/ica.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "bench_ica: %s: %s\n", what, bml_last_error());
    exit(1);
}

int main(int argc, char **argv) {
    int reps = 3, python = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-python")) python = 0;
    }
    char tmp[] = "/tmp/bml-bench-ica-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char curves[128], cache[128], bin[128];
    snprintf(curves, sizeof curves, "%s/curves", tmp);
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    snprintf(bin, sizeof bin, "%s/curves.bin", tmp);
    size_t n = 0;
    if (bml_synth_curves_write(BML_SOURCE_DIR "/data/oxford-lgm50t", NULL, curves, 1500, &n) != BML_OK) die("synth");
    bml_dataset *ds;
    if (bml_dataset_load_oxford_curves(curves, NULL, &ds) != BML_OK) die("load");
    size_t nc = bml_dataset_n_curves(ds);
    /* C, the feature computation alone */
    bml__ica_params ip = {3.0, 4.2, 500, 51, 3, 0.01, 200, 0.01, 3};
    size_t nf = bml__ica_n_features(&ip), *len = calloc(nc, sizeof *len);
    const double **q = calloc(nc, sizeof *q), **v = calloc(nc, sizeof *v);
    double *f = calloc(nc * nf, sizeof *f);
    if (!len || !q || !v || !f) die("memory");
    for (size_t i = 0; i < nc; i++) q[i] = ds->curves[i].q, v[i] = ds->curves[i].v, len[i] = ds->curves[i].n;
    for (int threads = 2; threads >= 1; threads--) { /* as the ica_peaks pipeline computes them, at 2 and 1 threads */
        double best = INFINITY;
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            if (bml__ica_features_many(&ip, nc, q, v, len, f, threads, NULL) != BML_OK) die("ica");
            best = fmin(best, now_s() - t0);
        }
        bench_line_start(), printf("\"case\": \"ica_features_c\", \"threads\": %d, \"curves\": %zu, \"points_per_curve\": %zu, "
                                   "\"seconds\": %.6f, \"curves_per_s\": %.1f}\n", threads, nc, ds->curves[0].n, best, (double)nc / best);
        fflush(stdout);
    }
    free(len), free(q), free(v), free(f);
    /* the pipeline with its cache: cold, then warm */
    char cd[200];
    snprintf(cd, sizeof cd, "%s", cache);
    bml_kv kv[] = {{"cache_dir", cd}};
    bml_pipeline *p;
    if (bml_pipeline_create("ica_peaks", kv, 1, &p) != BML_OK) die("pipeline");
    bml_samples *s;
    double t0 = now_s();
    if (bml_pipeline_transform(p, ds, &s) != BML_OK) die("transform");
    double cold = now_s() - t0;
    bml_samples_free(s);
    double warm = INFINITY;
    for (int r = 0; r < reps; r++) {
        t0 = now_s();
        if (bml_pipeline_transform(p, ds, &s) != BML_OK) die("transform");
        warm = fmin(warm, now_s() - t0);
        bml_samples_free(s);
    }
    bench_line_start(), printf("\"case\": \"ica_pipeline_cache\", \"curves\": %zu, \"first_s\": %.6f, \"repeat_s\": %.6f, \"speedup\": %.1f, "
           "\"note\": \"%s\"}\n", nc, cold, warm, cold / warm, bml_pipeline_last_note());
    fflush(stdout);
    bml_pipeline_free(p);
    /* Python: the same curves through numpy/scipy */
    if (python) {
        FILE *fb = fopen(bin, "wb");
        uint64_t cnt = nc;
        fwrite(&cnt, 8, 1, fb);
        for (size_t i = 0; i < nc; i++) {
            uint64_t m = ds->curves[i].n;
            fwrite(&m, 8, 1, fb);
            fwrite(ds->curves[i].q, 8, m, fb);
            fwrite(ds->curves[i].v, 8, m, fb);
        }
        fclose(fb);
        char cmd[400];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/bench/ica_peer.py %s %d", BML_SOURCE_DIR, bin, reps);
        fflush(stdout);
        if (system(cmd) != 0) fprintf(stderr, "bench_ica: the Python peer did not run (apt-get install python3-scipy)\n");
    }
    bml_dataset_free(ds);
    char rm[160];
    snprintf(rm, sizeof rm, "rm -rf %s", tmp);
    return system(rm) == 0 ? 0 : 1;
}
