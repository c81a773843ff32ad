/* Replays inputs through a fuzz target without libFuzzer (the ordinary gcc builds and CTest): every
 * argument is a file or a folder of files (not recursive, in name order); each file's bytes go
 * through LLVMFuzzerTestOneInput once. A crash is the sanitizers' (or abort's) to report. Fails when
 * no input was found at all, so a replay test cannot pass by reading nothing. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* 0 on success, -1 when the file cannot be read */
static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    /* an exact-size copy, so that reading past the input is caught as under libFuzzer */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    size_t total = 0;
    for (int a = 1; a < argc; a++) {
        struct stat sb;
        if (stat(argv[a], &sb) != 0) {
            fprintf(stderr, "replay: %s: %s (skipped)\n", argv[a], strerror(errno));
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if (replay_file(argv[a]) != 0) {
                fprintf(stderr, "replay: %s: cannot read\n", argv[a]);
                return 1;
            }
            total++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "replay: %s: cannot open\n", argv[a]);
            return 1;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
                if (!nn) return 1;
                names = nn;
            }
            size_t l = strlen(argv[a]) + strlen(e->d_name) + 2;
            if (!(names[n] = malloc(l))) return 1;
            snprintf(names[n++], l, "%s/%s", argv[a], e->d_name);
        }
        closedir(d);
        if (n) qsort(names, n, sizeof *names, cmp);
        for (size_t i = 0; i < n; i++) {
            if (stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
                if (replay_file(names[i]) != 0) {
                    fprintf(stderr, "replay: %s: cannot read\n", names[i]);
                    return 1;
                }
                total++;
            }
            free(names[i]);
        }
        free(names);
    }
    printf("replay: %zu inputs, no crash\n", total);
    return total ? 0 : 1;
}
