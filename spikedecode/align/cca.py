"""Alignment of per-day PCA latents on matched condition/time averages.

* :class:`CCAAligner` follows Gallego et al. (2020, Nat. Neurosci. 23:260): reduce each
  day with PCA, then find the canonical correlations between a day's latents and the
  reference day's, computed on *matched averages* (the mean latent of every condition at
  every time relative to stimulus onset, present on both days), and map the day's latents
  into the reference's PCA space through the canonical axes.
* :class:`ProcrustesAligner` fits an orthogonal map (rotation/reflection) on the same
  matched averages: fewer parameters, no rescaling of axes.

Both only ever look at (reference, new day): adapting a day costs the same whatever
the number of days fitted before, and leaves them untouched.
"""

from __future__ import annotations

from collections.abc import Hashable
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikedecode._validation import Interval, check_param
from spikedecode.align.base import matched_averages, procrustes
from spikedecode.align.pca import PerDayPCA
from spikedecode.errors import NotEnoughDataError

__all__ = ["CCAAligner", "ProcrustesAligner", "cca_map"]


def _inv_sqrt(C: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    w, V = np.linalg.eigh((C + C.T) / 2)
    w = np.maximum(w, 1e-12)
    return (V / np.sqrt(w)) @ V.T, (V * np.sqrt(w)) @ V.T


def cca_map(A: NDArray[np.float64], B: NDArray[np.float64], *, reg: float = 1e-3
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Linear map ``W`` sending centred ``B`` onto centred ``A`` through their canonical axes.

    With ``M_a, M_b`` the canonical weights (``A @ M_a`` and ``B @ M_b`` maximally
    correlated, pairwise), ``W = M_b @ inv(M_a)``: a day's latents are projected on its
    canonical axes, then read back in the reference's coordinates.

    Parameters
    ----------
    A, B : ndarray (n_keys, k)
        Matched averages of the reference and the new day, centred.
    reg : float, default=1e-3
        Ridge added to each covariance, relative to its mean eigenvalue (keeps CCA defined
        when there are few keys or a rank-deficient set of averages).

    Returns
    -------
    W : ndarray (k, k)
    corr : ndarray (k,)
        Canonical correlations, descending.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = rng.normal(size=(30, 3)); A -= A.mean(0)
    >>> M = rng.normal(size=(3, 3))
    >>> W, corr = cca_map(A, A @ M, reg=1e-9)
    >>> bool(np.allclose((A @ M) @ W, A, atol=1e-5)), bool(corr[0] > 0.999)
    (True, True)
    """
    m = A.shape[0]
    Caa = A.T @ A / m
    Cbb = B.T @ B / m
    Cab = A.T @ B / m
    k = A.shape[1]
    Caa = Caa + reg * (np.trace(Caa) / k + 1e-12) * np.eye(k)
    Cbb = Cbb + reg * (np.trace(Cbb) / Cbb.shape[0] + 1e-12) * np.eye(Cbb.shape[0])
    Wa, Sa = _inv_sqrt(Caa)
    Wb, _ = _inv_sqrt(Cbb)
    U, s, Vt = np.linalg.svd(Wa @ Cab @ Wb)
    # M_a = Wa U, M_b = Wb V  ->  inv(M_a) = U^T Caa^{1/2}
    W = Wb @ Vt.T @ U.T @ Sa
    return W, s


class _MatchedAverageAligner(PerDayPCA):
    """Per-day PCA + a map of each day's latents to the reference's, on matched averages."""

    uses_labels = True
    uses_time = True

    def _check_params(self) -> None:
        super()._check_params()
        check_param(self.min_count, "min_count", Interval(Integral, 1, None))

    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        super()._fit_reference(X, y, day)
        self.ref_latent_ = self._latent(X, day)
        self.ref_keys_ = np.asarray(y)
        self.maps_: dict[Hashable, NDArray] = {day: np.eye(self.n_components_)}
        self.offsets_: dict[Hashable, tuple[NDArray, NDArray]] = {
            day: (np.zeros(self.n_components_), np.zeros(self.n_components_))}
        self.n_matched_: dict[Hashable, int] = {day: int(np.unique(self.ref_keys_).size)}

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, *, stacklevel: int,
                   **kw: Any) -> None:
        self._fit_day(X, day)
        L = self._latent(X, day)
        A, B, shared = matched_averages(self.ref_latent_, self.ref_keys_, L, y,
                                        min_count=self.min_count)
        if len(shared) < 2:
            raise NotEnoughDataError(
                f"day {day!r} shares {len(shared)} condition key(s) with the reference day "
                f"{self.reference_day_!r}; need >= 2 (>= n_components={self.n_components_} "
                "recommended). Check that y uses the same labels (and time bins) on both days."
            )
        mu_a, mu_b = A.mean(axis=0), B.mean(axis=0)
        self.maps_[day], extras = self._fit_map(A - mu_a, B - mu_b)
        for attr, value in extras.items():  # per-day fitted attributes, e.g. correlations
            getattr(self, attr)[day] = value
        self.offsets_[day] = (mu_b, mu_a)
        self.n_matched_[day] = len(shared)

    def _fit_map(self, A: NDArray, B: NDArray
                 ) -> tuple[NDArray, dict[str, Any]]:  # pragma: no cover - abstract
        """The map ``W`` (k, k) of centred ``B`` onto centred ``A``, and per-day extras.

        ``extras`` maps the name of a dict-valued fitted attribute to this day's value.
        """
        raise NotImplementedError

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:
        mu_b, mu_a = self.offsets_[day]
        return (self._latent(X, day) - mu_b) @ self.maps_[day] + mu_a


class CCAAligner(_MatchedAverageAligner):
    """Per-day PCA, then CCA of each day's latents to the reference day's (Gallego 2020).

    Parameters
    ----------
    n_components : int, default=10
        Latent dimensions kept per day (and of the common space).
    reg : float, default=1e-3
        Relative ridge on the covariances of the matched averages.
    min_count : int, default=1
        Condition keys with fewer samples on either day are ignored.
    standardize : bool, default=True
    reference_day : hashable, optional
    random_state : int or None
        Unused (deterministic); uniform API.

    Attributes
    ----------
    maps_ : dict day -> ndarray (k, k)
        Map from the day's centred PCA latents to the reference's PCA space.
    canonical_correlations_ : dict day -> ndarray (k,)
    n_matched_ : dict day -> int
        Matched condition keys used for the day.

    References
    ----------
    Gallego, J. A. et al. (2020). Long-term stability of cortical population dynamics
    underlying consistent behavior. Nature Neuroscience 23, 260-270.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> keys = np.repeat(np.arange(12), 5).astype(str)
    >>> Z = rng.normal(size=(12, 3))[np.repeat(np.arange(12), 5)]
    >>> X0 = Z @ rng.normal(size=(3, 8)); X1 = Z @ rng.normal(size=(3, 6))
    >>> cca = CCAAligner(n_components=3).fit({0: X0, 1: X1}, {0: keys, 1: keys})
    >>> err = cca.transform(X1, day=1) - cca.transform(X0, day=0)
    >>> bool(np.abs(err).max() < 1e-2)
    True
    """

    def __init__(self, *, n_components: int = 10, reg: float = 1e-3, min_count: int = 1,
                 standardize: bool = True, reference_day: Hashable | None = None,
                 random_state: Any = None) -> None:
        self.n_components = n_components
        self.reg = reg
        self.min_count = min_count
        self.standardize = standardize
        self.reference_day = reference_day
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        check_param(self.reg, "reg", Interval(Real, 0, None))

    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        super()._fit_reference(X, y, day, **kw)
        self.canonical_correlations_: dict[Hashable, NDArray] = {}

    def _fit_map(self, A: NDArray, B: NDArray) -> tuple[NDArray, dict[str, Any]]:
        W, corr = cca_map(A, B, reg=float(self.reg))
        return W, {"canonical_correlations_": corr}


class ProcrustesAligner(_MatchedAverageAligner):
    """Per-day PCA, then an orthogonal map to the reference on matched averages.

    Parameters
    ----------
    n_components : int, default=10
    scaling : bool, default=False
        Also fit one global scale factor (similarity Procrustes).
    min_count : int, default=1
    standardize : bool, default=True
    reference_day : hashable, optional
    random_state : int or None
        Unused (deterministic); uniform API.

    Attributes
    ----------
    maps_ : dict day -> ndarray (k, k)
        Orthogonal (times a scale when ``scaling``) map to the reference's PCA space.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> keys = np.repeat(np.arange(10), 4).astype(str)
    >>> Z = rng.normal(size=(40, 3)); Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    >>> al = ProcrustesAligner(n_components=3, standardize=False).fit(
    ...     {0: Z, 1: Z @ Q}, {0: keys, 1: keys})
    >>> bool(np.allclose(al.transform(Z @ Q, day=1), al.transform(Z, day=0), atol=1e-8))
    True
    """

    def __init__(self, *, n_components: int = 10, scaling: bool = False, min_count: int = 1,
                 standardize: bool = True, reference_day: Hashable | None = None,
                 random_state: Any = None) -> None:
        self.n_components = n_components
        self.scaling = scaling
        self.min_count = min_count
        self.standardize = standardize
        self.reference_day = reference_day
        self.random_state = random_state

    def _fit_map(self, A: NDArray, B: NDArray) -> tuple[NDArray, dict[str, Any]]:
        R = procrustes(B, A)
        if self.scaling:
            denom = float(np.sum(B * B))
            R = R * (float(np.sum((B @ R) * A)) / denom if denom > 0 else 1.0)
        return R, {}
