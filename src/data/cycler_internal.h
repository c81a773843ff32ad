/* data=cycler from the study configuration. Internal. */
#ifndef BML_DATA_CYCLER_INTERNAL_H
#define BML_DATA_CYCLER_INTERNAL_H

#include "batteryml/config.h"
#include "batteryml/cycler.h"

/* Load the cycler exports at `path` with the data.* keys of cfg (format, soh_reference, v_min, v_max,
 * grid, ir_window_s, ir_min_step_a; each optional). Invalid values fail naming the key. *out is owned by
 * the caller. */
bml_status bml__cycler_load_configured(const bml_config *cfg, const char *path, bml_dataset **out);

#endif
