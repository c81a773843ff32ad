"""The library's registered components and their parameters, from its own tables (what `batteryml list` prints)."""
from __future__ import annotations

from typing import Any, Optional

from ._lib import Error, ffi, lib, string

__all__ = ["list_components"]

_KINDS = ("models", "pipelines", "splits", "data", "formats", "trackers", "losses", "uncertainty")
_SINGULAR = {"models": "model", "pipelines": "pipeline", "splits": "split", "data": "data", "formats": "format",
             "trackers": "tracker", "losses": "loss", "uncertainty": "uncertainty"}


def list_components(kind: Optional[str] = None) -> Any:
    """Every registered component of one kind (or of all kinds) with its parameters, as ``batteryml list KIND``
    shows them, from the library's own tables.

    Parameters
    ----------
    kind : str, optional
        One of "models", "pipelines", "splits", "data" (data sources), "formats" (cycler files), "trackers",
        "losses", "uncertainty" (interval methods); the singular works too. None: every kind.

    Returns
    -------
    pandas.DataFrame
        One row per parameter (a component without parameters: one row with parameter None): kind (singular),
        name, description, parameter, type ("int", "double", "bool", "string", "list"), default (its text),
        help. The order is the library's.

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
        kinds = list(range(len(_KINDS)))
    else:
        if not isinstance(kind, str):
            raise Error("list_components: kind must be a string, not %r" % (kind,), "BML_ERR_VALUE")
        k = ffi.new("bml_component_kind *")
        if lib.bml_component_kind_parse(kind.encode(), k) != 0:
            raise Error("list_components: kind must be one of %s, not %r" % (", ".join(_KINDS), kind), "BML_ERR_VALUE")
        kinds = [int(k[0])]
    rows = []
    for k in kinds:
        kname = _SINGULAR[string(lib.bml_component_kind_name(k))]
        for i in range(lib.bml_component_count(k)):
            n_, d_ = string(lib.bml_component_name(k, i)), string(lib.bml_component_describe(k, i))
            pp = ffi.new("bml_param_info **")
            n = lib.bml_component_params(k, i, pp)
            if n == 0:
                rows.append((kname, n_, d_, None, None, None, None))
            for j in range(n):
                p = pp[0][j]
                rows.append((kname, n_, d_, string(p.key), string(p.type), string(p.default_value), string(p.help)))
    return pd.DataFrame(rows, columns=["kind", "name", "description", "parameter", "type", "default", "help"])
