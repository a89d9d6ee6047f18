"""Figures of decoding results: confusion matrices, score tables, cross-day matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from spikedecode._optional import pyplot

__all__ = ["plot_confusion", "plot_scores", "plot_cross_day"]


def plot_confusion(cm: xr.DataArray, *, normalize: bool = True, ax: Any = None,
                   title: str | None = None) -> Any:
    """Heatmap of a confusion matrix (``true`` x ``predicted``), rows normalised.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()

    vals = np.asarray(cm, dtype=float)
    if normalize:
        vals = vals / np.maximum(vals.sum(axis=1, keepdims=True), 1)
    fig, ax = (plt.subplots(figsize=(3.5, 3.0)) if ax is None else (ax.figure, ax))
    im = ax.imshow(vals, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    labels_t = [str(v) for v in cm["true"].values] if "true" in cm.coords else None
    labels_p = [str(v) for v in cm["predicted"].values] if "predicted" in cm.coords else None
    if labels_t:
        ax.set_yticks(range(len(labels_t)), labels_t)
    if labels_p:
        ax.set_xticks(range(len(labels_p)), labels_p, rotation=45, ha="right")
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if vals[i, j] > 0.6 * np.nanmax(vals) else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def plot_scores(results: Mapping[str, Mapping[str, Any]], *, metric: str = "accuracy",
                chance: float | None = None, ax: Any = None, title: str | None = None) -> Any:
    """Bar chart of ``{decoder: within_day_scores(...)}`` with bootstrap CIs.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()

    names: Sequence[str] = list(results)
    vals = np.array([results[n][metric] for n in names], float)
    cis = np.array([results[n].get(f"{metric}_ci", (np.nan, np.nan)) for n in names], float)
    err = np.abs(np.stack([vals - cis[:, 0], cis[:, 1] - vals]))
    fig, ax = (plt.subplots(figsize=(1 + 0.9 * len(names), 3.0)) if ax is None
               else (ax.figure, ax))
    ax.bar(range(len(names)), vals, yerr=np.nan_to_num(err), capsize=3, color="tab:blue")
    ax.set_xticks(range(len(names)), names)
    if chance is not None:
        ax.axhline(chance, color="gray", ls="--", lw=1, label="chance")
        ax.legend(frameon=False, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel(metric.replace("_", " "))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_cross_day(matrix: xr.DataArray, *, ax: Any = None, title: str | None = None,
                   vmin: float | None = None, vmax: float | None = 1.0) -> Any:
    """Heatmap of a cross-day matrix (``train_day`` x ``test_day``).

    Parameters
    ----------
    matrix : xarray.DataArray
        The result of :func:`spikedecode.evaluation.cross_day_matrix`, with dimensions
        ``train_day`` and ``test_day``; values are printed in the cells up to 12 x 12.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    title : str, optional
        Default: the matrix's ``metric`` and ``aligner`` attributes.
    vmin, vmax : float or None, default=None, 1.0
        Colour scale limits.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> m = xr.DataArray(np.eye(3), dims=("train_day", "test_day"),
    ...                  coords={"train_day": [0, 1, 2], "test_day": [0, 1, 2]})
    >>> plot_cross_day(m, title="demo").axes[0].get_title()
    'demo'
    """
    plt = pyplot()

    vals = np.asarray(matrix, float)
    fig, ax = (plt.subplots(figsize=(1.5 + 0.45 * vals.shape[1], 1.2 + 0.45 * vals.shape[0]))
               if ax is None else (ax.figure, ax))
    im = ax.imshow(vals, cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(vals.shape[1]), [str(v) for v in matrix["test_day"].values])
    ax.set_yticks(range(vals.shape[0]), [str(v) for v in matrix["train_day"].values])
    ax.set_xlabel("test day")
    ax.set_ylabel("train day")
    if vals.size <= 144:
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white")
    ax.set_title(title or f"{matrix.attrs.get('metric', '')} (aligner: "
                 f"{matrix.attrs.get('aligner', 'none')})", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
