/* A split added from one file (test_components): every k-th cell validates, the others train. Registered
 * with bml__split_register; nothing else in the library names it. */
#include <stddef.h>

#include "splits/split_internal.h"

typedef struct {
    long every;
} params;

static const bml__param_spec specs[] = {
    {"every", BML__P_INT, offsetof(params, every), "2", 2, 1000, 0, "every k-th cell (in order of appearance) validates"},
};

static bml_status make(const bml__split_ctx *c, bml_split *sp) {
    const params *p = c->params;
    for (size_t i = 0; i < c->s->n; i++) c->role[i] = c->key_of[i] % (size_t)p->every == (size_t)p->every - 1 ? 1 : 0;
    return bml__split_add_fold(sp, "every_kth", c->role, c->s->n);
}

const bml__split_def *dummy_split_register(void) {
    static const bml__split_def def = {"every_kth_cell", "every k-th cell validates (a test's split)", specs, 1, sizeof(params), make};
    return bml__split_register(&def);
}
