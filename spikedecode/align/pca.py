"""Per-day PCA: each day reduced on its own (no alignment between days).

The baseline every other aligner is compared with, and the first stage of
:class:`~spikedecode.align.CCAAligner` and :class:`~spikedecode.align.ProcrustesAligner`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikedecode.align.base import BaseDayAligner
from spikedecode.errors import NotEnoughDataError

__all__ = ["PerDayPCA", "day_pca"]


def day_pca(X: NDArray[np.float64], n_components: int, *, standardize: bool = True,
            day: Hashable = None) -> dict[str, NDArray[np.float64]]:
    """Standardize each feature and run PCA on one day (deterministic SVD, fixed signs).

    Parameters
    ----------
    X : ndarray (n_samples, n_features)
    n_components : int
    standardize : bool, default=True
        Divide every feature by its standard deviation (constant features get 1).
    day : hashable, optional
        Only used in error messages.

    Returns
    -------
    dict
        ``mean``, ``scale`` (n_features,), ``components`` (n_components, n_features),
        ``explained_variance`` and ``explained_variance_ratio`` (full spectrum, length
        ``min(n_samples - 1, n_features)``).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> d = day_pca(X, 2)
    >>> d["components"].shape, round(float(d["explained_variance_ratio"].sum()), 6)
    ((2, 4), 1.0)
    """
    n, p = X.shape
    if n_components > min(n, p):
        raise NotEnoughDataError(
            f"n_components == {n_components} but day {day!r} has only {n} samples and {p} "
            f"features; choose n_components <= {min(n, p)}."
        )
    mean = X.mean(axis=0)
    scale = X.std(axis=0) if standardize else np.ones(p)
    scale = np.where(scale > 1e-12, scale, 1.0)
    Xs = (X - mean) / scale
    _, s, Vt = np.linalg.svd(Xs, full_matrices=False)
    # sklearn's svd_flip convention: the largest-|loading| of each component is positive
    signs = np.sign(Vt[np.arange(Vt.shape[0]), np.argmax(np.abs(Vt), axis=1)])
    signs[signs == 0] = 1.0
    Vt = Vt * signs[:, None]
    var = s**2 / max(n - 1, 1)
    var = var[: min(n - 1, p)] if n > 1 else var
    total = var.sum() if var.sum() > 0 else 1.0
    return {"mean": mean, "scale": scale, "components": Vt[:n_components],
            "explained_variance": var, "explained_variance_ratio": var / total}


class PerDayPCA(BaseDayAligner):
    """Standardize each feature per day, PCA per day, keep ``n_components``.

    Nothing links one day's components to another's (signs and order follow each day's
    own variance), so a decoder trained on one day reads another day only where the two
    happen to agree: this is the *unaligned* baseline.

    Parameters
    ----------
    n_components : int, default=10
    standardize : bool, default=True
    reference_day : hashable, optional
        Default: the first day given to ``fit``.
    random_state : int or None
        Unused (PCA by full SVD is deterministic); kept for a uniform API.

    Attributes
    ----------
    components_ : dict day -> ndarray (n_components, n_features)
    mean_, scale_ : dict day -> ndarray (n_features,)
    explained_variance_ratio_ : dict day -> ndarray
        The full spectrum of each day (plot it with
        :func:`spikedecode.plotting.align.plot_spectra`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> days = {0: rng.normal(size=(40, 6)), 1: rng.normal(size=(40, 9))}
    >>> pca = PerDayPCA(n_components=3).fit(days)
    >>> pca.transform(days[1], day=1).shape
    (40, 3)
    """

    uses_labels = False
    uses_time = False

    def __init__(self, *, n_components: int = 10, standardize: bool = True,
                 reference_day: Hashable | None = None, random_state: Any = None) -> None:
        self.n_components = n_components
        self.standardize = standardize
        self.reference_day = reference_day
        self.random_state = random_state

    def _fit_day(self, X: NDArray, day: Hashable) -> None:
        if not hasattr(self, "components_"):
            self.components_, self.mean_, self.scale_ = {}, {}, {}
            self.explained_variance_ratio_, self.explained_variance_ = {}, {}
        d = day_pca(X, self.n_components, standardize=self.standardize, day=day)
        self.components_[day] = d["components"]
        self.mean_[day] = d["mean"]
        self.scale_[day] = d["scale"]
        self.explained_variance_[day] = d["explained_variance"]
        self.explained_variance_ratio_[day] = d["explained_variance_ratio"]

    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        self.n_components_ = int(self.n_components)
        self._fit_day(X, day)

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        self._fit_day(X, day)

    def _latent(self, X: NDArray, day: Hashable) -> NDArray:
        return ((X - self.mean_[day]) / self.scale_[day]) @ self.components_[day].T

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:
        return self._latent(X, day)
