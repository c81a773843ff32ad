/* BatteryML-C: machine learning for battery degradation research. The whole public API.
 *
 * Conventions: functions return bml_status (0 = BML_OK) and leave a message for
 * bml_last_error(); objects are opaque handles created by bml_<object>_create/load and released by
 * bml_<object>_free (NULL is harmless); outputs written through pointers are owned by the caller
 * unless the header says they are borrowed. */
#ifndef BATTERYML_H
#define BATTERYML_H

#include "batteryml/config.h"
#include "batteryml/dataset.h"
#include "batteryml/metrics.h"
#include "batteryml/model.h"
#include "batteryml/pipeline.h"
#include "batteryml/run.h"
#include "batteryml/parallel.h"
#include "batteryml/split.h"
#include "batteryml/sweep.h"
#include "batteryml/status.h"
#include "batteryml/types.h"

#define BML_VERSION "0.1.0"

#endif
