/* Cycle-life data from raw cycler exports (data=cycler_life): the dataset of bml_dataset_load_qdlin (per cell, one
 * row per cycle of discharge capacity on a voltage grid; a cycle life and a set per cell) built from a folder of a
 * lab's cycler files, the life read from each cell's per-cycle discharge capacity. Internal (the run layer's
 * source registry calls it). */
#ifndef BML_DATA_CYCLER_LIFE_H
#define BML_DATA_CYCLER_LIFE_H

#include <stddef.h>

#include "batteryml/cycler.h"
#include "batteryml/status.h"

enum { BML__LIFE_REF_INITIAL = 0, BML__LIFE_REF_NOMINAL = 1 };

typedef struct {
    bml_cycler_format format;
    bml_cycler_summary_opts summary; /* capacity_rule, cancel and jobs (files summarised at once; the same dataset
                                      * at any count) are read; the curve grid is the one below */
    const char *cell_from;           /* "file" (NULL too) | "barcode" | "channel" */
    const char *index;               /* NULL or "": every cell in the set "" ; else a CSV with columns cell, split */
    int index_partial;               /* 1 (prediction on new cells): a cell the index does not name is in the set "",
                                      * and index rows naming no cell of the folder are no error */
    /* the Q(V) matrix, as bml_qdlin_opts: V_i = v_start + (v_end - v_start) i / (n_points - 1); rows = cycles
     * first_cycle .. first_cycle + n_cycles - 1 (the cycler's own cycle index) */
    double v_start, v_end;
    size_t n_points, n_cycles;
    long first_cycle;
    /* the life: the first cycle whose discharge capacity is at or below threshold_fraction x the reference */
    double threshold_fraction;
    int reference;         /* BML__LIFE_REF_INITIAL: mean of the first initial_cycles cycles | _NOMINAL */
    double nominal_ah;     /* _NOMINAL: the nominal capacity (NaN or <= 0: the file's own, else an error) */
    size_t initial_cycles; /* _INITIAL: cycles averaged */
} bml__cycler_life_opts;

/* The defaults: auto format, file names, no index, 3.6 -> 2.0 V in 1000 points, 99 cycles from cycle 2, 0.8 of the
 * mean of the first 5 cycles. */
void bml__cycler_life_opts_default(bml__cycler_life_opts *o);

/* Load every export of `path` (a file or a folder, bml_cycler_list) into a cycle-life dataset (source
 * "cycler_life"; bml_dataset_is_qdlin is 1: bml_dataset_cell_life, _cell_split and _qdlin_grid answer for it, and
 * pipeline delta_q reads it as it reads data=qdlin). See README "Cycle life" for the rules. A cell whose capacity
 * never falls to the threshold is censored: life NaN, named in bml_dataset_note. Bad input fails naming the file
 * (and line): a cycle of the matrix missing or without a discharge, too few cycles for the reference, an index
 * that does not name every cell once. *out is owned by the caller. */
bml_status bml__dataset_load_cycler_life(const char *path, const bml__cycler_life_opts *o, bml_dataset **out);

#endif
