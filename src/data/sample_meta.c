/* The identity of a sample's cell: below pipelines (which make samples) and splits (which group them). */
#include <stdio.h>

#include "batteryml/pipeline.h"

size_t bml_sample_cell_key(const bml_sample_meta *m, char *buf, size_t size) {
    const char *cell = m->cell ? m->cell : "";
    int n = m->experiment ? snprintf(buf, size, "E%d-%s", m->experiment, cell) : snprintf(buf, size, "%s", cell);
    return n < 0 ? 0 : (size_t)n;
}
