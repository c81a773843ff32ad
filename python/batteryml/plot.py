"""Plotting helpers for notebooks, drawing with matplotlib (optional: Debian's python3-matplotlib, imported
only here) into a given Axes or a new figure's.

predictions(run)   prediction against truth, one point per row of predictions.csv
history(run)       the training curves (step_metrics.csv)
lr_find(result)    the learning-rate range test: smoothed loss against the rate, the suggestion marked

Each returns the matplotlib Axes it drew on; without matplotlib each raises ImportError saying how to
install it.
"""
from __future__ import annotations

from typing import Any, Optional

from ._lib import Error

__all__ = ["predictions", "history", "lr_find"]


def _axes(ax: Any) -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("batteryml.plot needs matplotlib, which is not installed (%s): install Debian's "
                          "python3-matplotlib (apt-get install python3-matplotlib) or `pip install matplotlib` in "
                          "the environment; the run's own figures (Run.figures, drawn by the library) need "
                          "nothing" % e) from None
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    return ax


def predictions(run: Any, target: Optional[str] = None, ax: Any = None) -> Any:
    """Prediction against truth for one target of a run (predictions.csv), with the identity line.

    Parameters
    ----------
    run : batteryml.Run
        The run.
    target : str, optional
        The target (default: the first ``true_<target>`` column).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure's axes).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        matplotlib is not installed.
    batteryml.Error
        The run has no such target.

    Examples
    --------
    >>> batteryml.plot.predictions(run, "soh")  # doctest: +SKIP
    """
    ax = _axes(ax)
    p = run.predictions
    targets = [c[5:] for c in p.columns if c.startswith("true_")]
    if target is None:
        if not targets:
            raise Error("%s: predictions.csv has no true_<target> column" % run.dir, "BML_ERR_SCHEMA")
        target = targets[0]
    if target not in targets:
        raise Error("%s: no target %r (targets: %s)" % (run.dir, target, ", ".join(targets)), "BML_ERR_NOT_FOUND")
    t, y = p["true_" + target].to_numpy(float), p["pred_" + target].to_numpy(float)
    ax.scatter(t, y, s=8, alpha=0.7)
    lo, hi = min(t.min(), y.min()), max(t.max(), y.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("true " + target)
    ax.set_ylabel("predicted " + target)
    return ax


def history(run: Any, ax: Any = None) -> Any:
    """The training curves of a run (step_metrics.csv): train and validation loss per epoch.

    Parameters
    ----------
    run : batteryml.Run
        A run of a model that trains by epochs.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        matplotlib is not installed.
    batteryml.Error
        The run has no training curves.

    Examples
    --------
    >>> batteryml.plot.history(batteryml.run(["model=mlp"]))  # doctest: +SKIP
    """
    h = run.history
    if h is None:
        raise Error("%s: no training curves (step_metrics.csv): the model does not train by epochs" % run.dir,
                    "BML_ERR_NOT_FOUND")
    ax = _axes(ax)
    x = h["epoch"] if "epoch" in h.columns else range(len(h))
    for c in ("train_loss", "val_loss"):
        if c in h.columns:
            ax.plot(x, h[c], label=c)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return ax


def lr_find(result: Any, ax: Any = None) -> Any:
    """The learning-rate range test: the smoothed loss against the rate (log scale), the suggestion marked.

    Parameters
    ----------
    result : batteryml.LRFind
        What :func:`batteryml.lr_find` returned.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> batteryml.lr_find(["model=mlp"]).plot()  # doctest: +SKIP
    """
    ax = _axes(ax)
    c = result.curve
    ax.plot(c["lr"], c["smoothed_loss"])
    ax.axvline(result.suggestion, color="r", ls="--", label="suggested %.3g" % result.suggestion)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed loss")
    ax.legend()
    return ax
