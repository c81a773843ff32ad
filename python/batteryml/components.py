"""The library's registered components and their parameters, from its own tables (what `batteryml list` prints)."""
from __future__ import annotations

from typing import Any, Optional

from ._lib import Error, ffi, lib, string

__all__ = ["list_components"]

_KINDS = {
    "model": ("bml_model_registry_count", "bml_model_registry_name", "bml_model_registry_describe",
              "bml_model_registry_params"),
    "pipeline": ("bml_pipeline_registry_count", "bml_pipeline_registry_name", "bml_pipeline_registry_describe",
                 "bml_pipeline_registry_params"),
    "split": ("bml_split_registry_count", "bml_split_registry_name", "bml_split_registry_describe",
              "bml_split_registry_params"),
}
_ALIASES = {"models": "model", "pipelines": "pipeline", "splits": "split"}


def list_components(kind: Optional[str] = None) -> Any:
    """The registered models, pipelines and splits with their parameters, as ``batteryml list KIND`` shows them.

    Parameters
    ----------
    kind : {"model", "pipeline", "split"}, optional
        One kind (plural names too); None: all three.

    Returns
    -------
    pandas.DataFrame
        One row per parameter (a component without parameters: one row with parameter None): kind, name,
        description, parameter, type ("int", "double", "bool", "string", "list"), default (its text), help.
        The order is the library's.

    Raises
    ------
    batteryml.Error
        An unknown kind.

    Examples
    --------
    >>> p = batteryml.list_components("model")  # doctest: +SKIP
    >>> p[p.name == "mlp"][["parameter", "type", "default", "help"]]  # doctest: +SKIP
    """
    import pandas as pd
    if kind is None:
        kinds = list(_KINDS)
    else:
        k = _ALIASES.get(kind, kind) if isinstance(kind, str) else kind
        if k not in _KINDS:
            raise Error("list_components: kind must be one of model, pipeline, split, not %r" % (kind,),
                        "BML_ERR_VALUE")
        kinds = [k]
    rows = []
    for k in kinds:
        count, name, describe, params = (getattr(lib, f) for f in _KINDS[k])
        for i in range(count()):
            n_, d_ = string(name(i)), string(describe(i))
            pp = ffi.new("bml_param_info **")
            n = params(i, pp)
            if n == 0:
                rows.append((k, n_, d_, None, None, None, None))
            for j in range(n):
                p = pp[0][j]
                rows.append((k, n_, d_, string(p.key), string(p.type), string(p.default_value), string(p.help)))
    return pd.DataFrame(rows, columns=["kind", "name", "description", "parameter", "type", "default", "help"])
