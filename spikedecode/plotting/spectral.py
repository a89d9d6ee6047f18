"""Figures of the 1/n spectral-regularization family: eigenspectra against the 1/n line,
robustness curves with +- std over seeds, and eigenvalue sensitivity maps as images.

matplotlib is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spikedecode._optional import pyplot

__all__ = ["plot_spectrum", "plot_curves_with_std", "plot_sensitivity_maps"]


def _as_mapping(spectra: Any) -> dict[str, Any]:
    if isinstance(spectra, Mapping):
        return dict(spectra)
    if isinstance(spectra, (list, tuple)):
        return {f"spectrum {i}": s for i, s in enumerate(spectra)}
    return {str(getattr(spectra, "name", None) or "spectrum"): spectra}


def plot_spectrum(spectra: Any, *, n_min: int = 10, fit: bool = True, normalize: bool = True,
                  ax: Any = None, title: str | None = None) -> Any:
    """Eigenspectra on log-log axes with the 1/n reference line (and fitted exponents).

    Parameters
    ----------
    spectra : DataArray / array, or a mapping label -> spectrum (or a list of them)
        Eigenvalues in decreasing order (e.g. from
        :func:`spikedecode.robust.spectra.eigenspectrum`). A 2-D array (seed, component)
        is drawn as its mean with a band of +- one std.
    n_min : int, default=10
        Start of the power-law fit (the regularizer's ``tau``) and the anchor of the
        1/n line.
    fit : bool, default=True
        Add the fitted exponent alpha to each label.
    normalize : bool, default=True
        Divide each spectrum by its sum (variance fractions, as in Stringer et al.).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_spectrum({"toy": 1.0 / np.arange(1, 101)}, n_min=5)
    >>> len(fig.axes)
    1
    """
    plt = pyplot()

    from spikedecode.robust.spectra import fit_power_law

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.6))
    else:
        fig = ax.figure
    anchor = None
    for label, spec in _as_mapping(spectra).items():
        arr = np.asarray(getattr(spec, "values", spec), dtype=float)
        arr2 = np.atleast_2d(arr)
        if normalize:
            arr2 = arr2 / arr2.sum(axis=1, keepdims=True)
        mean = arr2.mean(0)
        n = np.arange(1, mean.size + 1)
        keep = mean > 0
        text = label
        if fit:
            try:
                text = f"{label} (alpha={fit_power_law(mean, n_min=n_min).exponent:.2f})"
            except ValueError:
                pass
        (line,) = ax.loglog(n[keep], mean[keep], label=text)
        if arr2.shape[0] > 1:
            sd = arr2.std(0)
            lo = np.clip(mean - sd, mean * 1e-3, None)
            ax.fill_between(n[keep], lo[keep], (mean + sd)[keep], color=line.get_color(),
                            alpha=0.2, linewidth=0)
        if anchor is None and mean.size >= n_min:
            anchor = mean[n_min - 1] * n_min
            n_ref = n
    if anchor is not None:
        ax.loglog(n_ref, anchor / n_ref, "k--", linewidth=1, label="1/n")
    ax.set_xlabel("component n")
    ax.set_ylabel("variance fraction" if normalize else "eigenvalue")
    ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_curves_with_std(curves: Mapping[str, Any], eps: Sequence[float], *,
                         ax: Any = None, title: str | None = None,
                         ylabel: str = "accuracy") -> Any:
    """Robustness curves (accuracy vs eps) as mean +- std over seeds.

    Parameters
    ----------
    curves : mapping label -> array (n_seeds, n_eps) or (n_eps,)
    eps : sequence of float
    ax : matplotlib Axes, optional
    title : str, optional
    ylabel : str, default="accuracy"

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_curves_with_std({"a": [[1.0, 0.5], [0.9, 0.4]]}, [0.0, 0.1])
    >>> len(fig.axes[0].lines)
    1
    """
    plt = pyplot()

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.6))
    else:
        fig = ax.figure
    e = np.asarray(eps, dtype=float)
    for label, acc in curves.items():
        a = np.atleast_2d(np.asarray(acc, dtype=float))
        m = a.mean(0)
        (line,) = ax.plot(e, m, marker="o", markersize=3, label=label)
        if a.shape[0] > 1:
            s = a.std(0)
            ax.fill_between(e, m - s, m + s, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("eps")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_sensitivity_maps(maps: Any, ns: Sequence[int] | None = None, *, n_examples: int = 0,
                          image_shape: Sequence[int] | None = None, cmap: str = "RdBu_r",
                          title: str | None = None) -> Any:
    """Show ``d lambda_n / d x`` maps as images (mean over samples, then examples).

    Parameters
    ----------
    maps : array (len(ns), n_samples, *input_shape) or (n_samples, *input_shape)
        From :func:`spikedecode.robust.spectra.sensitivity_map`.
    ns : sequence of int, optional
        The eigenvalue indices (titles).
    n_examples : int, default=0
        Also show this many single-sample maps per n.
    image_shape : (H, W), optional
        Reshape flat inputs (default: the last two dims; a 784-vector becomes 28 x 28).
    cmap : str, default="RdBu_r"
        A diverging map centred on zero.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_sensitivity_maps(np.zeros((2, 3, 1, 4, 4)), ns=[1, 5], n_examples=1)
    >>> len(fig.axes)
    4
    """
    plt = pyplot()

    m = np.asarray(maps, dtype=float)
    if ns is None or m.ndim < 3 or (ns is not None and len(ns) == 1 and m.shape[0] != 1):
        m = m[None]
    ns = list(ns) if ns is not None else list(range(1, m.shape[0] + 1))
    n_rows = m.shape[0]
    n_cols = 1 + int(n_examples)

    def to_img(a: np.ndarray) -> np.ndarray:
        if image_shape is not None:
            return a.reshape(tuple(image_shape))
        if a.ndim == 1:
            side = int(round(np.sqrt(a.size)))
            return a.reshape(side, -1) if side * side == a.size else a[None]
        return a.reshape(a.shape[-2], a.shape[-1]) if a.ndim > 2 and \
            int(np.prod(a.shape[:-2])) == 1 else a.reshape(-1, a.shape[-1])

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.8 * n_cols, 1.8 * n_rows),
                             squeeze=False)
    for r in range(n_rows):
        panels = [("mean", m[r].mean(0))] + [(f"sample {k}", m[r][k])
                                             for k in range(int(n_examples))]
        for c, (name, a) in enumerate(panels):
            img = to_img(np.asarray(a))
            lim = float(np.abs(img).max()) or 1.0
            ax = axes[r][c]
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"n={ns[r] if r < len(ns) else r + 1}, {name}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
