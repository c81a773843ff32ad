/* The registry of splits, and splits built from what the data say about each sample. Internal.
 *
 * A split is one definition: name, help line, typed parameters (bml__param_spec, parsed into a struct of
 * params_size bytes) and `make`, which adds the folds to an empty bml_split (bml__split_add_fold). Adding a
 * split: one `make` function and one line in the table of split.c (or, in a test, bml__split_register), one
 * YAML file in configs/split/. */
#ifndef BML_SPLITS_INTERNAL_H
#define BML_SPLITS_INTERNAL_H

#include <stdint.h>

#include "batteryml/split.h"
#include "core/internal.h"

/* What a split's `make` gets. */
typedef struct {
    const char *name;          /* the split's registered name */
    const void *params;        /* its parameters, parsed from its specs */
    const bml_samples *s;
    const char *const *set_of; /* (s->n) the set each sample's data name (data=qdlin), or NULL */
    uint64_t seed;
    const bml__strvec *keys;   /* the distinct cell keys (bml_sample_cell_key) in order of first appearance */
    const size_t *key_of;      /* (s->n) index of each sample's cell in keys */
    int *role;                 /* (s->n) scratch for bml__split_add_fold */
} bml__split_ctx;

typedef struct {
    const char *name, *description;
    const bml__param_spec *specs;
    size_t n_specs;            /* at most 4 */
    size_t params_size;
    bml_status (*make)(const bml__split_ctx *c, bml_split *sp);
} bml__split_def;

/* A fold named `name` from roles (0 train, 1 val, 2 test, -1 unused) appended to sp; a fold without training
 * or validation samples is an error. */
bml_status bml__split_add_fold(bml_split *sp, const char *name, const int *role, size_t n);

/* Register a split (tests; before any split is made): NULL when the name is taken or the table is full. */
const bml__split_def *bml__split_register(const bml__split_def *def);

/* bml_split_create with each sample's set as the data name it (set_of, or NULL: split predefined then fails). */
bml_status bml__split_make(const char *name, const bml_kv *kv, size_t n_kv, const bml_samples *s, const char *const *set_of,
                           uint64_t seed, bml_split **out);

/* 1 when every target of sample i of s is known (not NaN; a sequence sample's steps count as known): the samples the
 * splits may train on, and those early stopping may score */
int bml__split_target_known(const bml_samples *s, size_t i);

#endif
