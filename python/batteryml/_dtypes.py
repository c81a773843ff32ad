"""One dtype per column name across every DataFrame the package returns (issue 23).

=====================  ========  ===============================================================================
columns                dtype     why
=====================  ========  ===============================================================================
experiment, set_index  int64     indices the library holds as integers (sample metadata, ageing set)
step, line,            int64     a cycler row's step index and file line, a cycle's first line and whether a
first_line, complete             later cycle follows it
split_count, index,    int64     counts and flags: splits per feature (importance.csv), a sweep job's number,
epoch, suggested                 a training epoch (history_), lr-find's suggested step (0/1)
text columns           object    cell, fold, split, target, feature, format, source, model, status, ... (str)
every other number     float64   measured quantities and the library's doubles: temperature_c, cycle, days,
                                 throughput_ah, true_<t>, pred_<t>, shap_<f>, value_<f>, capacities, metrics,
                                 voltages, currents, times, ...
=====================  ========  ===============================================================================

`cycle` is float64 everywhere: the library keeps a sample's cycle as a double (a table's cycle may be
fractional, e.g. equivalent full cycles), and a cycler's cycle index is held exactly. An int64 column of the
table that holds a missing value (NaN) stays float64. Before this table a column's dtype followed its values
(pandas' inference from the CSV text: `days` int64 in one run's predictions and float64 in another's, `cycle`
float64 in the feature table and int64 in the predictions).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["INT64_COLUMNS", "normalize"]

#: The columns that are int64 in every frame; every other numeric column is float64.
INT64_COLUMNS = frozenset(["experiment", "set_index", "step", "line", "first_line", "complete", "split_count", "index",
                           "epoch", "suggested"])


def normalize(df: Any) -> Any:
    """df with its numeric columns as the table above says (in place; df returned). Text columns are left.
    Columns are taken by position (a frame may hold two columns of one name, e.g. a feature that is also a
    target)."""
    for i, c in enumerate(list(df.columns)):
        col = df.iloc[:, i]
        kind = col.dtype.kind
        if kind not in "iuf":
            continue
        if c in INT64_COLUMNS:
            if col.dtype == np.int64:
                continue
            a = col.to_numpy()
            if kind in "iu" or (np.isfinite(a).all() and (np.trunc(a) == a).all()):
                df.isetitem(i, a.astype(np.int64))
        elif col.dtype != np.float64:
            df.isetitem(i, col.to_numpy().astype(np.float64))
    return df
