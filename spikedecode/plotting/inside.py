"""Figures for looking inside a network: volatility, selective dropout, introspection maps.

Every function returns a ``matplotlib.figure.Figure``; matplotlib is imported lazily.

Examples
--------
>>> import numpy as np
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> fig = plot_latent_map(np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 3)
>>> len(fig.axes) >= 1
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from spikedecode._optional import pyplot as _plt

__all__ = [
    "class_colors",
    "plot_volatility",
    "plot_projections",
    "plot_selective_dropout",
    "plot_latent_map",
    "plot_error_violins",
    "plot_brainbow",
    "plot_constellations",
    "plot_trajectories",
    "plot_detection",
]


def class_colors(n_classes: int) -> np.ndarray:
    """One RGBA colour per class (tab10, then tab20 / hsv for more classes)."""
    plt = _plt()
    cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20" if n_classes <= 20 else "hsv")
    return np.array([cmap(i % cmap.N if n_classes <= 20 else i / n_classes)
                     for i in range(n_classes)])


def plot_volatility(volatility: ArrayLike, *, p: float | None = None,
                    fooling_rate: ArrayLike | None = None, title: str = "") -> Any:
    """Units sorted by volatility (bars), the top-``p`` fraction highlighted.

    Parameters
    ----------
    volatility : array-like (n_units,)
    p : float, optional
        Highlight the ``ceil(p * n_units)`` most volatile units.
    fooling_rate : array-like (n_units,), optional
        Drawn on a second panel in the same unit order.
    """
    plt = _plt()
    v = np.asarray(volatility, dtype=float)
    order = np.argsort(-v)
    k = int(np.ceil(p * len(v))) if p else 0
    n_panels = 2 if fooling_rate is not None else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.2), squeeze=False)
    ax = axes[0, 0]
    colors = ["tab:red" if i < k else "tab:gray" for i in range(len(v))]
    ax.bar(np.arange(len(v)), v[order], color=colors, width=1.0)
    ax.set_xlabel("unit (sorted by volatility)")
    ax.set_ylabel("volatility ‖Δa‖_F")
    ax.set_title(title or (f"top {k} units selected" if k else "unit volatility"))
    if fooling_rate is not None:
        f = np.asarray(fooling_rate, dtype=float)
        axes[0, 1].bar(np.arange(len(f)), f[order], color=colors, width=1.0)
        axes[0, 1].set_xlabel("unit (same order)")
        axes[0, 1].set_ylabel("fooling rate")
    fig.tight_layout()
    return fig


def plot_projections(maps: Any, *, n_max: int = 8, title: str = "") -> Any:
    """Activation differences projected to input space, one image per perturbation group.

    Parameters
    ----------
    maps : DataArray (group, channel, row, col) or (group, row, col) / (group, lag, unit)
        From :func:`spikedecode.robust.hardneg.project_difference`.
    """
    plt = _plt()
    a = np.asarray(maps)
    groups = list(maps.coords["group"].values) if hasattr(maps, "coords") else list(
        range(len(a)))
    if a.ndim == 4:
        a = a.mean(1)  # channels -> one image
    if a.ndim == 2:
        a = a[:, None, :]
    n = min(n_max, len(a))
    fig, axes = plt.subplots(1, n, figsize=(1.8 * n, 2.2), squeeze=False)
    for i in range(n):
        lim = float(np.abs(a[i]).max()) or 1.0
        axes[0, i].imshow(a[i], cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        axes[0, i].set_title(str(groups[i]), fontsize=8)
        axes[0, i].set_xticks([])
        axes[0, i].set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_selective_dropout(results: Mapping[str, Mapping[str, float]], *,
                           histories: Mapping[str, Any] | None = None) -> Any:
    """Bars of clean / held-out / fresh-adversarial accuracy per method (+ learning curves).

    Parameters
    ----------
    results : dict method -> dict metric -> value
        e.g. ``{"original": {...}, "selective": {...}, "control (all)": {...}}`` with keys
        ``clean_accuracy``, ``heldout_accuracy``, ``fresh_adversarial_accuracy``.
    histories : dict method -> History, optional
        Adds ``adv_train_accuracy`` against optimizer steps.
    """
    plt = _plt()
    metrics = ["clean_accuracy", "heldout_accuracy", "fresh_adversarial_accuracy"]
    methods = list(results)
    n_panels = 2 if histories else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(6 * n_panels, 3.4), squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        vals = [results[m].get(k, np.nan) for k in metrics]
        ax.bar(np.arange(len(metrics)) + i * width, vals, width=width, label=m)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(methods) - 1) / 2)
    ax.set_xticklabels(["clean", "held-out groups", "fresh adversarial"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    if histories:
        ax2 = axes[0, 1]
        for m, h in histories.items():
            steps = h["steps"]
            ax2.plot(steps, h["adv_train_accuracy"], marker="o", label=m)
        ax2.set_xlabel("optimizer steps")
        ax2.set_ylabel("accuracy on training hard negatives")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_latent_map(z: ArrayLike, labels: ArrayLike | None = None, *,
                    values: ArrayLike | None = None, value_label: str = "log10 ê",
                    title: str = "", s: float = 4.0) -> Any:
    """2-D map of the network's state, coloured by class (and/or by a value).

    With both ``labels`` and ``values``, two panels are drawn side by side.
    """
    plt = _plt()
    z = np.asarray(z)
    panels = [p for p in ("labels", "values") if (labels if p == "labels" else values)
              is not None] or ["plain"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    for ax, kind in zip(axes[0], panels):
        if kind == "labels":
            lab = np.asarray(labels)
            classes = np.unique(lab)
            cols = class_colors(len(classes))
            for c, col in zip(classes, cols):
                sel = lab == c
                ax.scatter(z[sel, 0], z[sel, 1], s=s, color=col, label=str(c), alpha=0.7)
            ax.legend(markerscale=3, fontsize=7, ncol=2)
            ax.set_title(title or "hidden state map, by class")
        elif kind == "values":
            sc = ax.scatter(z[:, 0], z[:, 1], s=s, c=np.asarray(values), cmap="viridis")
            fig.colorbar(sc, ax=ax, label=value_label)
            ax.set_title(f"by {value_label}")
        else:
            ax.scatter(z[:, 0], z[:, 1], s=s)
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
    fig.tight_layout()
    return fig


def plot_error_violins(log10_error: ArrayLike, correct: ArrayLike, *,
                       groups: Mapping[str, ArrayLike] | None = None) -> Any:
    """Violin plots of the estimated ``log10 ê`` for correct vs misclassified inputs.

    ``groups`` adds more named sets of ``log10 ê`` values (noisy, adversarial, ...).
    """
    plt = _plt()
    e = np.asarray(log10_error, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    data = {"correct": e[ok], "misclassified": e[~ok]}
    for k, v in (groups or {}).items():
        data[k] = np.asarray(v, dtype=float)
    data = {k: v for k, v in data.items() if len(v) > 1}
    fig, ax = plt.subplots(figsize=(1.6 * len(data) + 2, 3.4))
    ax.violinplot(list(data.values()), showmedians=True)
    ax.set_xticks(np.arange(1, len(data) + 1))
    ax.set_xticklabels([f"{k}\n(n={len(v)})" for k, v in data.items()], fontsize=8)
    ax.set_ylabel("estimated log10 error")
    fig.tight_layout()
    return fig


def plot_brainbow(expected: Any, order: ArrayLike, unit_class: ArrayLike, *,
                  layer: ArrayLike | None = None, title: str = "") -> Any:
    """The "artificial brainbow": units reordered by class, coloured by their class.

    Top: expected activation (class × unit) in the new order; bottom: one colour strip
    per unit (class colour, brightness = selectivity), split per layer when ``layer`` is
    given.
    """
    from spikedecode.robust.introspect import unit_selectivity

    plt = _plt()
    e = np.asarray(expected, dtype=float)
    order = np.asarray(order)
    cls = np.asarray(unit_class)
    classes = np.asarray(expected.coords["class"].values) if hasattr(expected, "coords") else \
        np.arange(e.shape[0])
    cols = class_colors(len(classes))
    idx = np.searchsorted(classes, cls)
    sel = np.clip(unit_selectivity(e), 0, 1)
    rgb = cols[idx, :3] * (0.35 + 0.65 * sel[:, None]) + (1 - (0.35 + 0.65 * sel[:, None]))
    fig, axes = plt.subplots(2, 1, figsize=(10, 3.6), height_ratios=(3, 1), sharex=True)
    ez = (e - e.mean(0)) / (e.std(0) + 1e-9)
    axes[0].imshow(ez[:, order], aspect="auto", cmap="magma", interpolation="nearest")
    axes[0].set_yticks(np.arange(len(classes)))
    axes[0].set_yticklabels([str(c) for c in classes], fontsize=7)
    axes[0].set_ylabel("class")
    axes[0].set_title(title or "expected activation (z-scored per unit), units reordered")
    axes[1].imshow(rgb[order][None], aspect="auto", interpolation="nearest")
    axes[1].set_yticks([])
    axes[1].set_xlabel("unit (reordered)")
    if layer is not None:
        lay = np.asarray(layer)[order]
        edges = np.flatnonzero(lay[1:] != lay[:-1]) + 0.5
        for ax in axes:
            for x0 in edges:
                ax.axvline(x0, color="white", lw=0.8)
    fig.tight_layout()
    return fig


def plot_constellations(constellations: Mapping[str, Any], *, background: ArrayLike | None = None,
                        background_labels: ArrayLike | None = None) -> Any:
    """Constellation diagrams: z of noisy copies per noise level, one panel per network.

    Parameters
    ----------
    constellations : dict name -> DataArray (sigma, copy, latent)
        From :func:`spikedecode.robust.introspect.constellation`.
    background : array-like (n, 2), optional
        Clean latent points drawn in light grey (per-panel: pass the same map only when the
        networks share one).
    """
    plt = _plt()
    names = list(constellations)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        c = constellations[name]
        bg = background[name] if isinstance(background, Mapping) else background
        if bg is not None:
            bg = np.asarray(bg)
            ax.scatter(bg[:, 0], bg[:, 1], s=2, color="0.85")
        sig = np.asarray(c.coords["sigma"].values)
        cmap = plt.get_cmap("plasma")
        for i, s in enumerate(sig):
            pts = np.asarray(c[i])
            ax.scatter(pts[:, 0], pts[:, 1], s=5, color=cmap(i / max(len(sig) - 1, 1)),
                       label=f"σ={s:g}", alpha=0.7)
        ax.set_title(name)
        ax.legend(fontsize=7, markerscale=2)
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
    fig.tight_layout()
    return fig


def plot_trajectories(trajectory: Any, *, background: ArrayLike | None = None,
                      background_labels: ArrayLike | None = None, title: str = "") -> Any:
    """Paths of inputs through the latent map (attack steps or training epochs).

    Parameters
    ----------
    trajectory : DataArray (step|epoch, sample, latent)
    background, background_labels : optional clean map drawn behind, coloured by class.
    """
    plt = _plt()
    t = np.asarray(trajectory)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    if background is not None:
        bg = np.asarray(background)
        if background_labels is not None:
            lab = np.asarray(background_labels)
            classes = np.unique(lab)
            for c, col in zip(classes, class_colors(len(classes))):
                ax.scatter(bg[lab == c, 0], bg[lab == c, 1], s=2, color=col, alpha=0.25)
        else:
            ax.scatter(bg[:, 0], bg[:, 1], s=2, color="0.85")
    for j in range(t.shape[1]):
        ax.plot(t[:, j, 0], t[:, j, 1], "-", color="k", lw=0.8)
        ax.plot(t[0, j, 0], t[0, j, 1], "o", color="tab:green", ms=4)
        ax.plot(t[-1, j, 0], t[-1, j, 1], "x", color="tab:red", ms=6)
    ax.set_title(title or "trajectories (o start, x end)")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    fig.tight_layout()
    return fig


def plot_detection(aurocs: Mapping[str, Mapping[str, float]], *,
                   order: Sequence[str] | None = None) -> Any:
    """Grouped bars of detection AUROC per (setting, score); 0.5 = chance."""
    plt = _plt()
    settings = list(order or aurocs)
    scores = sorted({k for v in aurocs.values() for k in v})
    fig, ax = plt.subplots(figsize=(1.6 * len(settings) + 2, 3.4))
    width = 0.8 / max(len(scores), 1)
    for i, s in enumerate(scores):
        ax.bar(np.arange(len(settings)) + i * width,
               [aurocs[k].get(s, np.nan) for k in settings], width=width, label=s)
    ax.axhline(0.5, color="k", ls="--", lw=0.8)
    ax.set_xticks(np.arange(len(settings)) + width * (len(scores) - 1) / 2)
    ax.set_xticklabels(settings, fontsize=8, rotation=15)
    ax.set_ylim(0, 1)
    ax.set_ylabel("AUROC")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
