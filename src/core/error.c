/* Status names and the per-thread last-error message. */
#include "core/internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The message of the last failure on this thread, as long as it is: a heap buffer per thread, freed when
 * the thread ends (a pthread key's destructor). Without memory for it, a fixed note stands in. */
static _Thread_local char *g_msg;
static _Thread_local int g_lost; /* the last message found no memory */
static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void make_key(void) { pthread_key_create(&g_key, free); }

/* replace the message with msg (owned from now on; NULL: out of memory) */
static void keep(char *msg) {
    pthread_once(&g_key_once, make_key);
    free(g_msg);
    g_msg = msg;
    g_lost = !msg;
    pthread_setspecific(g_key, msg);
}

const char *bml_status_name(bml_status s) {
    switch (s) {
#define BML__CASE(name, code, desc) \
    case name:                      \
        return #name;
        BML_STATUS_LIST(BML__CASE)
#undef BML__CASE
    }
    return "BML_ERR_UNKNOWN";
}

const char *bml_status_describe(bml_status s) {
    switch (s) {
#define BML__CASE(name, code, desc) \
    case name:                      \
        return desc;
        BML_STATUS_LIST(BML__CASE)
#undef BML__CASE
    }
    return "unknown status";
}

const char *bml_last_error(void) { return g_msg ? g_msg : g_lost ? "out of memory (no room for the message)" : ""; }

bml_status bml__fail(bml_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    keep(bml__vsprintf(fmt, ap));
    va_end(ap);
    return s;
}

bml_status bml__fail_prefix(bml_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *head = bml__vsprintf(fmt, ap);
    va_end(ap);
    const char *prev = bml_last_error();
    size_t hl = head ? strlen(head) : 0, pl = strlen(prev);
    char *msg = head ? malloc(hl + 2 + pl + 1) : NULL;
    if (msg) {
        memcpy(msg, head, hl);
        memcpy(msg + hl, ": ", 2);
        memcpy(msg + hl + 2, prev, pl + 1);
    }
    free(head);
    keep(msg);
    return s;
}

bml_status bml__opts_version_fail(const char *where, const char *type, unsigned got, unsigned want, const char *init_macro,
                                  const char *init_fn) {
    return bml__fail(BML_ERR_VALUE, "%s%s%s version %u; this library knows version %u (initialise with %s or %s)", where ? where : "",
                     where ? ": " : "", type, got, want, init_macro, init_fn);
}
