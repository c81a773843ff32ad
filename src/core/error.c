/* Status names and the per-thread last-error message. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[1024];

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

const char *bml_last_error(void) { return g_msg; }

bml_status bml__fail(bml_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

bml_status bml__fail_prefix(bml_status s, const char *fmt, ...) {
    char prev[sizeof g_msg];
    memcpy(prev, g_msg, sizeof prev);
    char head[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    size_t hl = strlen(head);
    if (hl + 2 >= sizeof g_msg) hl = sizeof g_msg - 3;
    memcpy(g_msg, head, hl);
    memcpy(g_msg + hl, ": ", 2);
    size_t room = sizeof g_msg - hl - 3, pl = strlen(prev);
    if (pl > room) pl = room;
    memcpy(g_msg + hl + 2, prev, pl);
    g_msg[hl + 2 + pl] = 0;
    return s;
}
