"""Figures of the robustness family: robustness curves and adversarial examples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spikedecode._optional import pyplot

__all__ = ["plot_robustness_curves", "plot_adversarial_examples"]


def plot_robustness_curves(curves: Any, *, ax: Any = None, title: str | None = None,
                           xlabel: str = "eps (L-inf)", note: str | None = None) -> Any:
    """Accuracy against budget, one line per attack (and per model).

    Parameters
    ----------
    curves : xarray.DataArray or dict of str -> DataArray
        Output(s) of :func:`spikedecode.robust.evaluate.robustness_curve` (dims ``eps``,
        ``attack``). A dict labels each curve (e.g. by model).
    ax : matplotlib Axes, optional
    title : str, optional
    xlabel : str, default="eps (L-inf)"
    note : str, optional
        A footnote (e.g. "CIFAR-10 JPEG copy: ~6/255 compression error").

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import xarray as xr
    >>> c = xr.DataArray([[0.9, 0.9], [0.5, 0.3]], dims=("eps", "attack"),
    ...                  coords={"eps": [0.0, 0.1], "attack": ["fgsm", "pgd"]})
    >>> fig = plot_robustness_curves(c)
    >>> len(fig.axes[0].lines)
    2
    """
    plt = pyplot()

    items = curves.items() if isinstance(curves, Mapping) else [("", curves)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    else:
        fig = ax.figure
    markers = "osd^v<>"
    for label, curve in items:
        for k, a in enumerate(curve["attack"].values):
            y = curve.sel(attack=a)
            name = f"{label} {a}".strip()
            ax.plot(curve["eps"].values, y.values, marker=markers[k % len(markers)],
                    label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    if note:
        fig.text(0.01, 0.01, note, fontsize="x-small", alpha=0.8)
    fig.tight_layout()
    return fig


def plot_adversarial_examples(x: Any, x_adv: Any, *, y: Sequence[int] | None = None,
                              pred: Sequence[int] | None = None,
                              pred_adv: Sequence[int] | None = None, n: int = 6,
                              classes: Sequence[str] | None = None) -> Any:
    """Originals, adversarial examples and their perturbations side by side.

    Parameters
    ----------
    x, x_adv : array or Tensor (n, C, H, W) or (n, H, W)
    y, pred, pred_adv : optional labels shown in the titles.
    n : int, default=6
        Columns shown.
    classes : sequence of str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> x = np.zeros((3, 1, 4, 4)); fig = plot_adversarial_examples(x, x + 0.1, n=3)
    >>> len(fig.axes)
    9
    """
    plt = pyplot()

    def arr(a: Any) -> np.ndarray:
        a = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
        a = a.astype(float)
        if a.ndim == 4:
            a = a.transpose(0, 2, 3, 1)
            if a.shape[-1] == 1:
                a = a[..., 0]
        return a

    xo, xa = arr(x), arr(x_adv)
    n = min(n, len(xo))
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5), squeeze=False)
    name = (lambda k: classes[int(k)]) if classes is not None else (lambda k: str(int(k)))
    for j in range(n):
        delta = xa[j] - xo[j]
        lim = float(np.abs(delta).max()) or 1.0
        cmap = "gray" if xo[j].ndim == 2 else None
        axes[0, j].imshow(np.clip(xo[j], 0, 1), cmap=cmap, vmin=0, vmax=1)
        axes[1, j].imshow(np.clip(xa[j], 0, 1), cmap=cmap, vmin=0, vmax=1)
        d_show = delta if delta.ndim == 2 else delta.mean(-1)
        axes[2, j].imshow(d_show, cmap="RdBu_r", vmin=-lim, vmax=lim)
        t0 = []
        if y is not None:
            t0.append(f"y={name(y[j])}")
        if pred is not None:
            t0.append(f"p={name(pred[j])}")
        axes[0, j].set_title(" ".join(t0), fontsize="small")
        if pred_adv is not None:
            axes[1, j].set_title(f"adv p={name(pred_adv[j])}", fontsize="small")
        axes[2, j].set_title(f"|d|max={lim:.2g}", fontsize="small")
        for i in range(3):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("adversarial")
    axes[2, 0].set_ylabel("perturbation")
    fig.tight_layout()
    return fig
