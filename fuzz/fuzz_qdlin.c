/* Fuzz target: the Qdlin cycle-life loader (src/data/qdlin.c) and the delta_q pipeline on what it loads.
 * Input: parts split at FZ_SEP — cells.csv, then the files c1.csv, c2.csv, c3.csv it may name — loaded with a
 * 4-point grid and the cycle count of the first file, rows = voltage and then transposed. */
#include <stdlib.h>

#include "batteryml/dataset.h"
#include "batteryml/pipeline.h"
#include "fuzz_util.h"

static volatile double sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *parts[4];
    size_t lens[4];
    size_t n = fz_split(data, size, parts, lens, 4);
    char *dir = fz_fresh_dir("qdlin");
    static const char *const names[4] = {"cells.csv", "c1.csv", "c2.csv", "c3.csv"};
    for (size_t k = 0; k < n; k++) free(fz_write(dir, names[k], parts[k], lens[k]));
    bml_kv kv[] = {{"cycle_a", "3"}, {"cycle_b", "2"}, {"fade_first", "2"}, {"fade_last", "3"},
                   {"features", "[discharge, variance, fade, curve]"}, {"curve_step", "2"}};
    bml_pipeline *p = NULL;
    if (bml_pipeline_create("delta_q", kv, 6, &p) != BML_OK) abort();
    for (int transposed = 0; transposed < 2; transposed++) {
        bml_qdlin_opts o;
        bml_qdlin_opts_default(&o);
        o.n_points = 4;
        o.n_cycles = 0;
        o.transposed = transposed;
        bml_dataset *ds = NULL;
        fz_reset_error();
        bml_status st = bml_dataset_load_qdlin(dir, &o, &ds);
        fz_check_status(st, "bml_dataset_load_qdlin");
        if (st == BML_OK) {
            double acc = 0;
            size_t C = bml_dataset_n_columns(ds);
            for (size_t i = 0; i < bml_dataset_n_cells(ds); i++) {
                bml_cell_view v;
                bml_dataset_cell(ds, i, &v);
                acc += v.cell_id[0] + bml_dataset_cell_life(ds, i) + bml_dataset_cell_split(ds, i)[0];
                for (size_t r = 0; r < v.n_rows; r++)
                    for (size_t j = 0; j < C; j++) acc += v.values[r * C + j];
            }
            bml_samples *s = NULL;
            fz_reset_error();
            st = bml_pipeline_transform(p, ds, &s);
            fz_check_status(st, "bml_pipeline_transform delta_q");
            if (s) acc += s->x[0] + s->y[0];
            bml_samples_free(s);
            sink = acc;
        }
        bml_dataset_free(ds);
    }
    bml_pipeline_free(p);
    free(dir);
    return 0;
}
