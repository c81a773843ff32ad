/* Splits the runner builds from what the data say about each sample. Internal. */
#ifndef BML_SPLITS_INTERNAL_H
#define BML_SPLITS_INTERNAL_H

#include "batteryml/split.h"

/* Split `predefined` (parameters train, exclude): set_of[i] names sample i's set. Trains on the samples of the
 * `train` set; one fold per other set (in order of first appearance, named after it) validated and evaluated on
 * all of that set's samples. Samples with a missing (NaN) target and the cells named in `exclude` are in no
 * fold. Caller owns *out. */
bml_status bml__split_predefined(const bml_kv *kv, size_t n_kv, const bml_samples *s, const char *const *set_of, bml_split **out);

#endif
