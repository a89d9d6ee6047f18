"""Figures for noise injection and randomized smoothing (matplotlib imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spikedecode._optional import pyplot

__all__ = ["plot_certified_accuracy", "plot_noise_samples", "plot_protocol_comparison"]


def plot_certified_accuracy(curves: Mapping[str, Any], *, title: str | None = None,
                            xlabel: str = "L2 radius", ax: Any = None) -> Any:
    """Certified accuracy vs radius, one line per model.

    Parameters
    ----------
    curves : mapping name -> xarray.DataArray
        Outputs of :func:`spikedecode.robust.smoothing.certified_accuracy` (dim ``radius``).
    title : str, optional
    xlabel : str, default="L2 radius"
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from spikedecode.robust.smoothing import certified_accuracy
    >>> ca = certified_accuracy((np.array([0, 1]), np.array([0.5, 1.0])), np.array([0, 1]))
    >>> fig = plot_certified_accuracy({"model": ca})
    >>> len(fig.axes[0].lines)
    1
    """
    plt = pyplot()

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3.5))
    for name, ca in curves.items():
        ax.plot(np.asarray(ca["radius"]), np.asarray(ca), label=str(name))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("certified accuracy")
    ax.set_ylim(0, 1)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_noise_samples(x: Any, noisy: Mapping[str, Any], *, n: int = 4,
                       cmap: str = "gray") -> Any:
    """A grid of clean images (first row) and their noisy versions (one row per noise).

    Parameters
    ----------
    x : array or Tensor (n, C, H, W) in [0, 1]
    noisy : mapping name -> array/Tensor of the same shape
    n : int, default=4
        Columns (images) shown.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((3, 1, 8, 8))
    >>> fig = plot_noise_samples(x, {"noisy": x + 0.1}, n=2)
    >>> len(fig.axes)
    4
    """
    plt = pyplot()

    rows = {"clean": x, **dict(noisy)}
    n = min(n, len(x))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.4 * n, 1.4 * len(rows)), squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        arr = np.asarray(imgs.detach().cpu() if hasattr(imgs, "detach") else imgs)
        for c in range(n):
            im = np.clip(arr[c], 0, 1)
            im = im[0] if im.shape[0] == 1 else np.transpose(im, (1, 2, 0))
            axes[r, c].imshow(im, cmap=cmap if im.ndim == 2 else None, vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(str(name), fontsize=7)
    fig.tight_layout()
    return fig


def plot_protocol_comparison(models: Mapping[str, Mapping[str, Any]], *,
                             metrics: Sequence[str] = ("natural", "fgsm", "ifgsm20"),
                             published: Mapping[str, Mapping[str, float]] | None = None,
                             note: str | None = None) -> Any:
    """Grouped bars: honest vs published-protocol accuracy for each model and metric.

    Parameters
    ----------
    models : mapping name -> dict with ``"honest"`` and ``"published_protocol"`` dicts of
        accuracies in percent (the ``cifar`` part of tutorial 05's results).
    metrics : sequence of str
    published : mapping name -> {metric: percent}, optional
        Full-scale numbers from the paper, drawn as hatched bars.
    note : str, optional
        Caption (e.g. the JPEG caveat).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> m = {"net": {"honest": {"natural": 50, "fgsm": 20, "ifgsm20": 10},
    ...              "published_protocol": {"natural": 52, "fgsm": 30, "ifgsm20": 30}}}
    >>> fig = plot_protocol_comparison(m)
    >>> len(fig.axes)
    3
    """
    plt = pyplot()

    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    names = list(models)
    pub_names = list(published or {})
    for ax, metric in zip(axes, metrics):
        xs = np.arange(len(names))
        hon = [models[nm]["honest"].get(metric, np.nan) for nm in names]
        pub = [models[nm]["published_protocol"].get(metric, np.nan) for nm in names]
        ax.bar(xs - 0.2, hon, 0.4, label="honest (val selection, EOT)")
        ax.bar(xs + 0.2, pub, 0.4, label="published protocol")
        labels = list(names)
        if published:
            xp = np.arange(len(names), len(names) + len(pub_names))
            ax.bar(xp, [published[p].get(metric, np.nan) for p in pub_names], 0.4,
                   hatch="//", color="lightgray", label="paper (full scale)")
            labels += pub_names
        ax.set_xticks(np.arange(len(labels)))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        ax.set_title(metric)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=7)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7)
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    return fig
