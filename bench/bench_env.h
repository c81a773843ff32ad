/* What every JSON line of bench/ says about the machine it was measured on: the CPU's model name and the
 * widest vector instruction set that the library's kernels dispatch to there (its target_clones and its
 * own matrix kernels: avx512f, avx2 or baseline). Speed margins measured on one CPU do not carry over to
 * another, so a figure is only read with its CPU. Header-only; for the benchmark programs. */
#ifndef BML_BENCH_ENV_H
#define BML_BENCH_ENV_H

#include <stdio.h>
#include <string.h>

/* the model name of the first CPU in /proc/cpuinfo, with anything but plain printable characters (and " \)
 * replaced, or "unknown" */
static const char *bench_cpu_model(void) {
    static char model[128];
    if (model[0]) return model;
    snprintf(model, sizeof model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        for (v++; *v == ' ' || *v == '\t'; v++) {}
        size_t n = 0;
        for (; *v && *v != '\n' && n + 1 < sizeof model; v++) model[n++] = (*v >= 32 && *v < 127 && *v != '"' && *v != '\\') ? *v : '?';
        model[n] = 0;
        break;
    }
    if (f) fclose(f);
    return model;
}

static const char *bench_simd(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
#endif
    return "baseline";
}

/* the start of a JSON line: {"cpu": ..., "simd": ..., (the caller prints the rest, from its first key) */
static void bench_line_start(void) { printf("{\"cpu\": \"%s\", \"simd\": \"%s\", ", bench_cpu_model(), bench_simd()); }

#endif
