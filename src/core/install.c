/* Where an installed library keeps its data (bml_config_installed_dir): the one finder of the installed
 * configs/ folder, for the program (which links the static library) and for bindings (the shared one). */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batteryml/config.h"

static char *g_installed;
static pthread_once_t g_installed_once = PTHREAD_ONCE_INIT;

#if defined(BML_INSTALL_REL_CONFIG_DIR)
/* file's real path is <prefix>/<sub>/<name> (sub relative, e.g. "lib" or "bin"): <prefix>/<datadir>/batteryml/
 * configs when it holds config.yaml (malloc'ed), else NULL */
static char *configs_of(const char *file, const char *sub) {
    char *path = file ? realpath(file, NULL) : NULL, *slash = path ? strrchr(path, '/') : NULL, *found = NULL;
    if (!slash || sub[0] == '/') {
        free(path);
        return NULL;
    }
    *slash = 0; /* the file's folder: must be <prefix>/<sub> */
    size_t n = strlen(path), k = strlen(sub);
    if (n > k && path[n - k - 1] == '/' && !strcmp(path + n - k, sub)) {
        path[n - k - 1] = 0;
        size_t size = strlen(path) + strlen(BML_INSTALL_REL_CONFIG_DIR) + 16;
        char *dir = malloc(size), *yaml = malloc(size + 16);
        if (dir && yaml) {
            snprintf(dir, size, "%s/%s", path, BML_INSTALL_REL_CONFIG_DIR);
            snprintf(yaml, size + 16, "%s/config.yaml", dir);
            if (access(yaml, R_OK) == 0) found = dir, dir = NULL;
        }
        free(dir);
        free(yaml);
    }
    free(path);
    return found;
}
#endif

/* The shared library: <prefix>/<libdir>/libbatteryml.so.0, found from the loaded file itself. The static
 * library: the program that links it, <prefix>/<bindir>/batteryml. */
static void find_installed(void) {
#if defined(BML_SHARED_LIBRARY) && defined(BML_INSTALL_LIBDIR) && defined(BML_INSTALL_REL_CONFIG_DIR)
    Dl_info info;
    if (dladdr((void *)&bml_config_installed_dir, &info) && info.dli_fname) g_installed = configs_of(info.dli_fname, BML_INSTALL_LIBDIR);
#elif !defined(BML_SHARED_LIBRARY) && defined(BML_INSTALL_BINDIR) && defined(BML_INSTALL_REL_CONFIG_DIR)
    g_installed = configs_of("/proc/self/exe", BML_INSTALL_BINDIR);
#endif
}

const char *bml_config_installed_dir(void) {
    pthread_once(&g_installed_once, find_installed);
    return g_installed;
}
