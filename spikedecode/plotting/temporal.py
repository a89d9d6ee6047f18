"""Figures of decoding over time: the time-resolved curve and the generalization matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spikedecode._optional import pyplot

__all__ = ["plot_time_resolved", "plot_temporal_generalization"]


def plot_time_resolved(result: xr.Dataset, *, ax: Any = None, title: str | None = None,
                       label: str | None = None) -> Any:
    """Score against time since the event: CI band, chance band, significant clusters.

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`spikedecode.evaluation.time_resolved_scores`.
    ax : matplotlib Axes, optional
        Draw into it (e.g. to overlay several curves); default a new figure.
    title : str, optional
        The axes title.
    label : str, optional
        Legend label of the curve.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(5) * 0.1
    >>> r = xr.Dataset({"score": ("time", [0.5, 0.5, 0.8, 0.9, 0.6]),
    ...                 "ci_low": ("time", [0.4] * 5), "ci_high": ("time", [0.95] * 5)},
    ...                coords={"time": t}, attrs={"metric": "balanced_accuracy",
    ...                                           "nominal_chance": 0.5})
    >>> fig = plot_time_resolved(r)
    >>> len(fig.axes)
    1
    """
    plt = pyplot()
    fig, ax = (plt.subplots(figsize=(6.0, 3.2)) if ax is None else (ax.figure, ax))
    t = np.asarray(result["time"].values, dtype=float)
    score = np.asarray(result["score"].values, dtype=float)
    line = ax.plot(t, score, marker="o", ms=3, lw=1.5, label=label or "score")[0]
    ax.fill_between(t, result["ci_low"].values, result["ci_high"].values, alpha=0.25,
                    color=line.get_color(), lw=0,
                    label=f"{100 * float(result.attrs.get('ci', 0.95)):.0f}% CI")
    if "chance" in result:
        ax.plot(t, result["chance"].values, color="0.4", lw=1, ls="--",
                label="chance (permutations)")
        ax.fill_between(t, result["chance_low"].values, result["chance_high"].values,
                        color="0.6", alpha=0.2, lw=0)
    else:
        ax.axhline(float(result.attrs.get("nominal_chance", 0.5)), color="0.4", lw=1,
                   ls="--", label="chance")
    if "significant" in result and bool(result["significant"].any()):
        sig = np.asarray(result["significant"].values, dtype=bool)
        y0 = ax.get_ylim()[0]
        ax.plot(t[sig], np.full(sig.sum(), y0 + 0.01), "s", color=line.get_color(), ms=4,
                label=f"cluster p <= {result.attrs.get('alpha', 0.05)}")
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel("time since event (s)")
    ax.set_ylabel(str(result.attrs.get("metric", "score")).replace("_", " "))
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_temporal_generalization(result: xr.Dataset, *, ax: Any = None,
                                 title: str | None = None) -> Any:
    """The train-time x test-time score matrix, significant clusters outlined.

    Parameters
    ----------
    result : xarray.Dataset
        From :func:`spikedecode.evaluation.temporal_generalization`.
    ax : matplotlib Axes, optional
        Draw into it; default a new figure.
    title : str, optional
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.arange(3) * 0.1
    >>> m = xr.Dataset({"score": (("train_time", "test_time"), np.eye(3) * 0.4 + 0.5)},
    ...                coords={"train_time": t, "test_time": t},
    ...                attrs={"metric": "balanced_accuracy", "nominal_chance": 0.5})
    >>> fig = plot_temporal_generalization(m)
    >>> len(fig.axes)  # the matrix and its colour bar
    2
    """
    plt = pyplot()
    fig, ax = (plt.subplots(figsize=(4.4, 3.8)) if ax is None else (ax.figure, ax))
    tr = np.asarray(result["train_time"].values, dtype=float)
    te = np.asarray(result["test_time"].values, dtype=float)
    score = np.asarray(result["score"].values, dtype=float)
    chance = float(result.attrs.get("nominal_chance", 0.5))
    span = max(float(np.nanmax(np.abs(score - chance))), 1e-3)
    step_tr = tr[1] - tr[0] if tr.size > 1 else 1.0
    step_te = te[1] - te[0] if te.size > 1 else 1.0
    extent = (te[0], te[-1] + step_te, tr[0], tr[-1] + step_tr)
    im = ax.imshow(score, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r",
                   vmin=chance - span, vmax=chance + span)
    fig.colorbar(im, ax=ax, label=str(result.attrs.get("metric", "score")).replace("_", " "))
    if "significant" in result and bool(result["significant"].any()):
        ax.contour(te + step_te / 2, tr + step_tr / 2,
                   np.asarray(result["significant"].values, dtype=float), levels=[0.5],
                   colors="k", linewidths=1)
    ax.plot([extent[0], extent[1]], [extent[0], extent[1]], color="0.3", lw=0.6, ls=":")
    ax.axvline(0.0, color="k", lw=0.6)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("test time since event (s)")
    ax.set_ylabel("train time since event (s)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
