/* Where an installed library keeps its data (bml_config_installed_dir), and bml_free. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batteryml/config.h"
#include "batteryml/run.h"

void bml_free(void *p) { free(p); }

static char *g_installed;
static pthread_once_t g_installed_once = PTHREAD_ONCE_INIT;

/* <prefix>/<libdir>/libbatteryml.so.0 -> <prefix>/<datadir>/batteryml/configs when it holds config.yaml */
static void find_installed(void) {
#if defined(BML_INSTALL_LIBDIR) && defined(BML_INSTALL_REL_CONFIG_DIR)
    Dl_info info;
    if (!dladdr((void *)&bml_config_installed_dir, &info) || !info.dli_fname) return;
    char *lib = realpath(info.dli_fname, NULL), *slash = lib ? strrchr(lib, '/') : NULL;
    if (!slash) {
        free(lib);
        return;
    }
    *slash = 0; /* the library's folder: must be <prefix>/<libdir> */
    size_t n = strlen(lib), k = strlen(BML_INSTALL_LIBDIR);
    if (BML_INSTALL_LIBDIR[0] != '/' && n > k && lib[n - k - 1] == '/' && !strcmp(lib + n - k, BML_INSTALL_LIBDIR)) {
        lib[n - k - 1] = 0;
        size_t size = strlen(lib) + strlen(BML_INSTALL_REL_CONFIG_DIR) + 16;
        char *dir = malloc(size), *yaml = malloc(size + 16);
        if (dir && yaml) {
            snprintf(dir, size, "%s/%s", lib, BML_INSTALL_REL_CONFIG_DIR);
            snprintf(yaml, size + 16, "%s/config.yaml", dir);
            if (access(yaml, R_OK) == 0) g_installed = dir, dir = NULL;
        }
        free(dir);
        free(yaml);
    }
    free(lib);
#endif
}

const char *bml_config_installed_dir(void) {
    pthread_once(&g_installed_once, find_installed);
    return g_installed;
}
