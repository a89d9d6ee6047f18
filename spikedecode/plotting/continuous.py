"""Figures of continuous decoding: predicted against true traces, and R² with CIs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from spikedecode._optional import pyplot

__all__ = ["plot_trace", "plot_r2"]


def plot_trace(y_true: ArrayLike, y_pred: ArrayLike, *, time: ArrayLike | None = None,
               channels: Sequence[str] | None = None, units: str = "",
               title: str | None = None, max_samples: int | None = 600) -> Any:
    """Predicted and true traces of each output, one panel per output.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_samples,) or (n_samples, n_outputs)
    time : array-like (n_samples,), optional
        Sample times (s); default the sample index.
    channels : sequence of str, optional
        Output names for the panels.
    units : str, default=""
        Units of the target (y-axis label).
    title : str, optional
    max_samples : int or None, default=600
        Show the first ``max_samples`` samples only (None: all).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_trace(np.sin(np.arange(50) / 5), np.sin(np.arange(50) / 5) + 0.1)
    >>> len(fig.axes)
    1
    """
    plt = pyplot()
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    t = t[:, None] if t.ndim == 1 else t
    p = p[:, None] if p.ndim == 1 else p
    x = np.arange(len(t)) if time is None else np.asarray(time, dtype=float)
    sl = slice(None) if max_samples is None else slice(0, int(max_samples))
    names = list(channels) if channels is not None else [str(i) for i in range(t.shape[1])]
    fig, axes = plt.subplots(t.shape[1], 1, figsize=(7, 1.8 * t.shape[1] + 0.4), sharex=True,
                             squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(x[sl], t[sl, k], color="black", lw=1.2, label="true")
        ax.plot(x[sl], p[sl, k], color="tab:orange", lw=1.0, label="predicted")
        ax.set_ylabel(f"{names[k]}" + (f" ({units})" if units else ""))
    axes[0, 0].legend(loc="upper right", fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel("time (s)" if time is not None else "sample")
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def plot_r2(results: Mapping[str, Mapping[str, Any]], *, key: str = "r2_vw",
            title: str | None = None) -> Any:
    """Bar chart of ``{decoder: regression_scores(...)}``: R² with its bootstrap CI.

    Parameters
    ----------
    results : mapping of str to dict
        Each value holds ``key`` and ``key + "_ci"`` (as :func:`regression_scores` returns).
    key : str, default="r2_vw"
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_r2({"wiener": {"r2_vw": 0.5, "r2_vw_ci": (0.4, 0.6)}})
    >>> fig.axes[0].get_ylabel()
    'R² (variance-weighted)'
    """
    plt = pyplot()
    names = list(results)
    vals = np.array([results[n][key] for n in names], dtype=float)
    ci = np.array([results[n][f"{key}_ci"] for n in names], dtype=float).reshape(-1, 2)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 1.5, 3.0))
    ax.bar(range(len(names)), vals, color="tab:blue",
           yerr=[vals - ci[:, 0], ci[:, 1] - vals], capsize=4)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("R² (variance-weighted)" if key == "r2_vw" else key)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
