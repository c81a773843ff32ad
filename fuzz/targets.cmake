# The fuzz targets: fuzz/fuzz_<name>.c, seeds in fuzz/corpus/<name>/, crash inputs in
# fuzz/regressions/<name>/ (replayed by CTest).
set(BML_FUZZ_TARGETS oxford table curves config model checkpoint preprocess report fold_result cycler qdlin neware mpr arbin_res maccor_parts)
