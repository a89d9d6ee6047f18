"""Figures of cross-day alignment: spectra, per-day projections, trajectories, matrices.

Every function returns a ``matplotlib.figure.Figure``; matplotlib is imported lazily.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from spikedecode._optional import pyplot as _plt

__all__ = [
    "plot_spectra",
    "plot_day_projections",
    "plot_latent_trajectories",
    "plot_adversarial_stats",
]


def plot_spectra(spectra: Any, *, n_show: int = 30, ax: Any = None) -> Any:
    """Explained-variance spectrum of every day on log-log axes.

    Parameters
    ----------
    spectra : PerDayPCA (fitted) or mapping day -> explained-variance ratios
    n_show : int, default=30
        Components shown per day.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> fig = plot_spectra({0: np.array([0.5, 0.3, 0.2]), 1: np.array([0.6, 0.4])})
    >>> len(fig.axes[0].lines)
    2
    """
    plt = _plt()
    if hasattr(spectra, "explained_variance_ratio_"):
        spectra = spectra.explained_variance_ratio_
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.5))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("viridis")
    n = max(len(spectra), 2)
    for i, (day, r) in enumerate(spectra.items()):
        r = np.asarray(r)[:n_show]
        ax.loglog(np.arange(1, r.size + 1), r, marker=".", color=cmap(i / (n - 1)),
                  label=str(day), lw=1)
    ax.set_xlabel("component")
    ax.set_ylabel("explained variance ratio")
    ax.set_title("per-day PCA spectra")
    if len(spectra) <= 12:
        ax.legend(title="day", fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def plot_day_projections(aligner: Any, X: Mapping[Hashable, ArrayLike],
                         labels: Mapping[Hashable, ArrayLike], *,
                         days: Sequence[Hashable] | None = None, max_days: int = 6,
                         max_points: int = 600, random_state: int = 0) -> Any:
    """Each day's samples on the first two components of ``aligner``, coloured by label.

    With :class:`~spikedecode.align.PerDayPCA` these are each day's own PCs (unaligned);
    with an aligner, all panels share one space.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    days = list(days) if days is not None else list(X)[:max_days]
    all_labels = sorted({str(v) for d in days for v in np.asarray(labels[d]).tolist()})
    colors = {lab: plt.get_cmap("tab10")(i % 10) for i, lab in enumerate(all_labels)}
    ncol = min(3, len(days))
    nrow = int(np.ceil(len(days) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.0 * nrow), squeeze=False,
                             sharex=True, sharey=True)
    rng = np.random.default_rng(random_state)
    for ax, d in zip(axes.ravel(), days):
        Z = aligner.transform(X[d], day=d)
        lab = np.asarray(labels[d]).astype(str)
        idx = rng.permutation(len(Z))[:max_points]
        for name in all_labels:
            sel = idx[lab[idx] == name]
            ax.scatter(Z[sel, 0], Z[sel, 1], s=4, alpha=0.5, color=colors[name], label=name)
        ax.set_title(f"day {d}", fontsize=9)
    for ax in axes.ravel()[len(days):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6, markerscale=2)
    fig.suptitle(f"{type(aligner).__name__}: components 1-2")
    fig.tight_layout()
    return fig


def plot_latent_trajectories(aligner: Any, days: Mapping[Hashable, Any], *,
                             show: Sequence[Hashable] | None = None, dims: tuple[int, int]
                             = (0, 1), ax: Any = None) -> Any:
    """Condition-averaged latent trajectories (mean per label and time) of several days.

    Parameters
    ----------
    aligner : fitted DayAligner
    days : mapping day -> Windows or (X, y, groups, t_rel)
        The days' samples, as :func:`spikedecode.evaluation.prepare_days` takes them
        (e.g. ``preprocess.epoch_bins`` per day); ``t_rel`` (time after onset) orders
        each trajectory.
    show : days to draw (default up to 6)
    dims : the two components drawn

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from spikedecode.align import PerDayPCA
    >>> rng = np.random.default_rng(0); t = np.tile([0.0, 0.1, 0.2], 8)
    >>> y = np.repeat(["a", "b"], 12); g = np.repeat(np.arange(8), 3)
    >>> days = {d: (rng.normal(size=(24, 5)), y, g, t) for d in range(2)}
    >>> pca = PerDayPCA(n_components=2).fit({d: v[0] for d, v in days.items()})
    >>> fig = plot_latent_trajectories(pca, days)
    >>> len(fig.axes[0].lines)  # 2 days x 2 labels x (trajectory + start marker)
    8
    """
    from spikedecode.evaluation import prepare_days

    plt = _plt()
    show = list(show) if show is not None else list(days)[:6]
    data = prepare_days({d: days[d] for d in show}, shared_units=False)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4))
    else:
        fig = ax.figure
    labs = sorted({str(v) for d in show for v in np.unique(data[d]["y"]).tolist()})
    colors = {lab: plt.get_cmap("tab10")(i % 10) for i, lab in enumerate(labs)}
    styles = ["-", "--", ":", "-."]
    for i, d in enumerate(show):
        v = data[d]
        Z = aligner.transform(v["X"], day=d)
        y = np.asarray(v["y"]).astype(str)
        for lab in labs:
            sel = y == lab
            if not sel.any():
                continue
            ts = np.unique(v["t_rel"][sel])
            traj = np.stack([Z[sel & (v["t_rel"] == t)].mean(0) for t in ts])
            ax.plot(traj[:, dims[0]], traj[:, dims[1]], styles[i % 4], color=colors[lab],
                    alpha=0.8, lw=1.2, label=lab if i == 0 else None)
            ax.plot(traj[0, dims[0]], traj[0, dims[1]], "o", color=colors[lab], ms=3)
    ax.set_xlabel(f"component {dims[0] + 1}")
    ax.set_ylabel(f"component {dims[1] + 1}")
    ax.set_title(f"{type(aligner).__name__}: days {show}", fontsize=9)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_adversarial_stats(day_stats: Mapping[Hashable, Mapping[str, float]], *,
                           decoding: Mapping[Hashable, float] | None = None) -> Any:
    """Per-day reconstruction error, held-out discriminator accuracy (and decoding).

    Parameters
    ----------
    day_stats : mapping day -> dict
        ``AdversarialAligner.day_stats_``.
    decoding : mapping day -> accuracy, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    days = list(day_stats)
    x = np.arange(len(days))
    n = 3 if decoding else 2
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3))
    axes[0].plot(x, [day_stats[d]["recon_mse"] for d in days], "o-")
    axes[0].set_title("held-out reconstruction MSE")
    axes[1].plot(x, [day_stats[d]["disc_accuracy"] for d in days], "o-")
    axes[1].axhline(0.5, color="k", ls=":", lw=1)
    axes[1].set_ylim(0.3, 1.0)
    axes[1].set_title("discriminator accuracy (0.5 = chance)")
    if decoding:
        axes[2].plot(x, [decoding.get(d, np.nan) for d in days], "o-")
        axes[2].set_ylim(0, 1)
        axes[2].set_title("decoding accuracy")
    for ax in axes:
        ax.set_xticks(x, [str(d) for d in days], fontsize=6)
        ax.set_xlabel("day")
    fig.tight_layout()
    return fig
