/* BatteryML-C: machine learning for battery degradation research. The whole public API.
 *
 * Conventions: functions return bml_status (0 = BML_OK) and leave a message for
 * bml_last_error(); objects are opaque handles created by bml_<object>_create/load and released by
 * bml_<object>_free (NULL is harmless); outputs written through pointers are owned by the caller
 * unless the header says they are borrowed.
 *
 * Threads: calls on different objects may run at the same time in different threads (two whole
 * studies included: bml_run_experiment); one object is used by one thread at a time, predictions
 * included. The last-error message is per thread; the registries are read-only. The first neural-network
 * computation sets OpenBLAS to one thread for the whole process, once, so that results do not depend
 * on OPENBLAS_NUM_THREADS or OMP_NUM_THREADS (README: "Threads and reentrancy"). */
#ifndef BATTERYML_H
#define BATTERYML_H

#include "batteryml/components.h"
#include "batteryml/config.h"
#include "batteryml/cycler.h"
#include "batteryml/dataset.h"
#include "batteryml/ica.h"
#include "batteryml/metrics.h"
#include "batteryml/model.h"
#include "batteryml/pipeline.h"
#include "batteryml/run.h"
#include "batteryml/parallel.h"
#include "batteryml/split.h"
#include "batteryml/sweep.h"
#include "batteryml/status.h"
#include "batteryml/types.h"
#include "batteryml/uncertainty.h"

#define BML_VERSION "0.1.0"

#endif
