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

import warnings
from collections.abc import Hashable
from numbers import Integral, Real
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from spikedecode._validation import Interval, Options, check_param
from spikedecode.align.base import (
    AlignmentWarning,
    determined_rank,
    matched_averages,
    procrustes,
    split_lags,
)
from spikedecode.align.pca import PerDayPCA
from spikedecode.errors import ConfigError, NotEnoughDataError

__all__ = ["CCAAligner", "ProcrustesAligner", "cca_map"]


def _inv_sqrt(C: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    w, V = np.linalg.eigh((C + C.T) / 2)
    w = np.maximum(w, 1e-12)
    return (V / np.sqrt(w)) @ V.T, (V * np.sqrt(w)) @ V.T


def cca_map(A: NDArray[np.float64], B: NDArray[np.float64], *, reg: float = 1e-3,
            rank: int | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
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
    rank : int, optional
        Most canonical pairs the averages can determine; default ``n_keys - 1`` (centred
        averages span no more). Only the determined pairs (see
        :func:`~spikedecode.align.base.determined_rank`) enter ``W``: the directions of
        ``B`` the averages do not determine are mapped to zero (the reference's average
        once the offsets are added back), instead of to arbitrary singular vectors.

    Returns
    -------
    W : ndarray (k, k)
        Of rank ``r``, the number of determined canonical pairs.
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

    Two averages (a binary label) determine one pair only:

    >>> W2, _ = cca_map(A[:2] - A[:2].mean(0), (A[:2] - A[:2].mean(0)) @ M)
    >>> int(np.linalg.matrix_rank(W2))
    1
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
    r = determined_rank(s, rank=m - 1 if rank is None else rank)
    # M_a = Wa U, M_b = Wb V  ->  inv(M_a) = U^T Caa^{1/2}; only the r determined pairs
    W = Wb @ Vt[:r].T @ U[:, :r].T @ Sa
    return W, s


def _lag_keys(keys: NDArray, n_lags: int) -> NDArray:
    """Per-bin keys ``"{key}|{lag}"`` of ``n_lags`` lags per sample (sample-major)."""
    if n_lags == 1:
        return np.asarray(keys)
    return np.array([f"{k}|{lag}" for k in np.asarray(keys).tolist() for lag in range(n_lags)])


_C = TypeVar("_C", bound=type)

#: parameter docs shared by CCAAligner and ProcrustesAligner (inserted at the marker
#: line of each class docstring by ``_layout_doc``)
_LAYOUT_PARAMS = """\
    n_lags : int, default=1
        Lags per sample in ``X`` (features ``lag * n_units + unit``, e.g. Windows from
        ``from_counts(..., pool=p)``). With ``n_lags > 1`` every lag is a time bin: the
        PCA and the matched averages use bins, the keys are condition *and* lag (many
        more matched points than conditions alone), and ``transform`` returns the
        ``n_lags * n_components`` aligned latents of each sample (one sample per trial:
        the decoder still scores whole trials).
    pca_on : {"samples", "averages"}, default="samples"
        ``"averages"``: each day's PCA is fitted on its condition(-and-lag) averages
        (the task subspace, as in Gallego et al. 2020's analyses of trial averages)
        instead of its single samples; needs ``y`` on every day.
    soft_norm : float, optional
        Divide every unit by its standard deviation plus ``soft_norm`` (soft
        normalisation: near-silent units are not blown up); default: by its standard
        deviation (``standardize``).
    match : {"labels", "time"}, default="labels"
        What the matched averages are keyed on. ``"labels"``: condition (and lag) keys
        ``y``. ``"time"``: the lag only (needs ``n_lags >= 2``): each day's lag-by-lag
        average trajectory over all its trials is matched, **no label is used**
        (``uses_labels`` is False; ``y`` is ignored), for days with no labelled trial.
"""


def _layout_doc(cls: _C) -> _C:
    """Insert the shared time-resolved layout parameters into ``cls.__doc__``."""
    cls.__doc__ = (cls.__doc__ or "").replace('    <time-resolved layout parameters>\n', _LAYOUT_PARAMS)
    return cls


class _MatchedAverageAligner(PerDayPCA):
    """Per-day PCA + a map of each day's latents to the reference's, on matched averages.

    Options shared by CCA and Procrustes (defaults reproduce the whole-sample method):
    ``n_lags`` (lags per sample: every lag is a time bin, matched by condition *and* lag,
    and a sample's output is its ``n_lags * n_components`` aligned latents),
    ``pca_on`` (``"samples"``: PCA of the day's samples; ``"averages"``: PCA of the day's
    condition(-and-lag) averages, the task subspace) and ``soft_norm`` (each unit divided
    by its standard deviation plus ``soft_norm`` instead of its standard deviation).
    """

    uses_time = True

    @property
    def uses_labels(self) -> bool:  # type: ignore[override]
        """Whether ``fit``/``adapt`` need condition keys (False with ``match="time"``)."""
        return getattr(self, "match", "labels") != "time"

    def _check_params(self) -> None:
        super()._check_params()
        check_param(self.match, "match", Options("labels", "time"))
        if self.match == "time" and int(self.n_lags) < 2:
            raise ConfigError(
                f"match == 'time' needs n_lags >= 2 (got n_lags == {self.n_lags}): without "
                "labels the days are matched on their lag-by-lag average trajectory; lay "
                "each trial out as lags (e.g. from_counts(..., pool=2)) and set n_lags.")
        check_param(self.min_count, "min_count", Interval(Integral, 1, None))
        check_param(self.n_lags, "n_lags", Interval(Integral, 1, None))
        check_param(self.pca_on, "pca_on", Options("samples", "averages"))
        check_param(self.soft_norm, "soft_norm", [Interval(Real, 0, None), None])

    def _bins(self, X: NDArray, day: Hashable) -> NDArray:
        """``(n_samples, n_lags * n_units)`` -> ``(n_samples * n_lags, n_units)``."""
        X3 = split_lags(X, int(self.n_lags), day=day)
        return X3.reshape(-1, X3.shape[2])

    def _fit_day_keys(self, X: NDArray, keys: NDArray | None, day: Hashable) -> None:
        """Per-day reduction on the bins of ``X`` (PCA of samples or of key averages)."""
        if int(self.n_lags) == 1 and self.pca_on == "samples" and self.soft_norm is None:
            self._fit_day(X, day)
            return
        F = self._bins(X, day)
        k = int(self.n_components)
        mean = F.mean(axis=0)
        sd = F.std(axis=0) if self.standardize else np.zeros(F.shape[1])
        scale = sd + (float(self.soft_norm) if self.soft_norm is not None else 0.0)
        if self.soft_norm is None and not self.standardize:
            scale = np.ones(F.shape[1])
        scale = np.where(scale > 1e-12, scale, 1.0)
        G = (F - mean) / scale
        if self.pca_on == "averages":
            if keys is None:
                raise NotEnoughDataError(
                    f"pca_on='averages' needs condition keys y for day {day!r}.")
            lag_keys = np.asarray(_lag_keys(keys, int(self.n_lags))).astype(str)
            u, inv = np.unique(lag_keys, return_inverse=True)
            inv = inv.ravel()
            # one masked row sum per key: the same sums, in the same order, as
            # np.add.at(sums, inv, G), without its per-element dispatch (6-10x faster on
            # the hundreds of units of a real session; issue 23)
            sums = np.stack([G[inv == i].sum(axis=0) for i in range(u.size)])
            G = sums / np.bincount(inv)[:, None]
            G = G - G.mean(axis=0)
        if k > min(G.shape):
            raise NotEnoughDataError(
                f"n_components == {k} but day {day!r} gives a {G.shape[0]} x {G.shape[1]} "
                f"matrix to reduce (pca_on={self.pca_on!r}); choose n_components <= "
                f"{min(G.shape)}" + (" or more condition keys / lags." if self.pca_on ==
                                      "averages" else ".")
            )
        _, s, Vt = np.linalg.svd(G, full_matrices=False)
        signs = np.sign(Vt[np.arange(Vt.shape[0]), np.argmax(np.abs(Vt), axis=1)])
        signs[signs == 0] = 1.0
        Vt = Vt * signs[:, None]
        var = s**2 / max(G.shape[0] - 1, 1)
        if not hasattr(self, "components_"):
            self.components_, self.mean_, self.scale_ = {}, {}, {}
            self.explained_variance_ratio_, self.explained_variance_ = {}, {}
        self.components_[day] = Vt[:k]
        self.mean_[day] = mean
        self.scale_[day] = scale
        self.explained_variance_[day] = var
        self.explained_variance_ratio_[day] = var / (var.sum() if var.sum() > 0 else 1.0)

    def _day_keys(self, y: NDArray | None, n: int) -> NDArray:
        """Condition keys of the samples (all equal with ``match="time"``: lag only)."""
        if self.match == "time":
            return np.full(n, "t")
        return np.asarray(y)

    def _bin_latent(self, X: NDArray, day: Hashable) -> NDArray:
        """Latents of every bin, ``(n_samples * n_lags, n_components)``."""
        return self._latent(self._bins(X, day), day)

    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        self.n_components_ = int(self.n_components)
        y = self._day_keys(y, len(X))
        self._fit_day_keys(X, y, day)
        self.ref_latent_ = self._bin_latent(X, day)
        self.ref_keys_ = _lag_keys(y, int(self.n_lags))
        self.maps_: dict[Hashable, NDArray] = {day: np.eye(self.n_components_)}
        self.offsets_: dict[Hashable, tuple[NDArray, NDArray]] = {
            day: (np.zeros(self.n_components_), np.zeros(self.n_components_))}
        self.n_matched_: dict[Hashable, int] = {day: int(np.unique(self.ref_keys_).size)}
        self.map_rank_: dict[Hashable, int] = {day: self.n_components_}

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, *, stacklevel: int,
                   **kw: Any) -> None:
        y = self._day_keys(y, len(X))
        self._fit_day_keys(X, y, day)
        L = self._bin_latent(X, day)
        A, B, shared = matched_averages(self.ref_latent_, self.ref_keys_, L,
                                        _lag_keys(y, int(self.n_lags)),
                                        min_count=self.min_count)
        if len(shared) < 2:
            raise NotEnoughDataError(
                f"day {day!r} shares {len(shared)} condition key(s) with the reference day "
                f"{self.reference_day_!r}; need >= 2 (>= n_components={self.n_components_} "
                "recommended). Check that y uses the same labels (and time bins) on both days."
            )
        k = self.n_components_
        rank = min(len(shared) - 1, k)
        if rank < k:
            warnings.warn(
                f"{type(self).__name__}: day {day!r} shares {len(shared)} condition key(s) "
                f"with the reference, which determine only {rank} of the {k} directions of "
                f"the map (keys - 1 < n_components); the map is fitted on those {rank} and "
                f"sends the other {k - rank} to the reference's average. Give more keys "
                "(time bins: n_lags > 1, or finer conditions=) or n_components <= "
                f"{rank}.", AlignmentWarning, stacklevel=stacklevel)
        self.map_rank_[day] = rank
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
        Only the directions the ``n_keys`` averages determine (at most ``n_keys - 1``)
        are fitted; the others are mapped to zero.
        """
        raise NotImplementedError

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:
        mu_b, mu_a = self.offsets_[day]
        Z = (self._bin_latent(X, day) - mu_b) @ self.maps_[day] + mu_a
        return Z.reshape(X.shape[0], -1)


@_layout_doc
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
    <time-resolved layout parameters>
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
    map_rank_ : dict day -> int
        Directions of the map the matched averages determine, ``min(n_keys - 1,
        n_components)``. When it is below ``n_components`` (e.g. a binary label, one
        sample per trial: 2 keys, 1 direction) the map is fitted on those directions
        only, the others are sent to the reference's average, and an
        :class:`~spikedecode.align.AlignmentWarning` is issued.

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
                 n_lags: int = 1, pca_on: str = "samples", soft_norm: float | None = None,
                 match: str = "labels", standardize: bool = True, reference_day: Hashable | None = None,
                 random_state: Any = None) -> None:
        self.n_components = n_components
        self.reg = reg
        self.min_count = min_count
        self.n_lags = n_lags
        self.pca_on = pca_on
        self.soft_norm = soft_norm
        self.match = match
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
        W, corr = cca_map(A, B, reg=float(self.reg), rank=A.shape[0] - 1)
        return W, {"canonical_correlations_": corr}


@_layout_doc
class ProcrustesAligner(_MatchedAverageAligner):
    """Per-day PCA, then an orthogonal map to the reference on matched averages.

    Parameters
    ----------
    n_components : int, default=10
    scaling : bool, default=False
        Also fit one global scale factor (similarity Procrustes).
    min_count : int, default=1
    <time-resolved layout parameters>
    standardize : bool, default=True
    reference_day : hashable, optional
    random_state : int or None
        Unused (deterministic); uniform API.

    Attributes
    ----------
    maps_ : dict day -> ndarray (k, k)
        Orthogonal (times a scale when ``scaling``) map to the reference's PCA space;
        zero on the directions the matched averages do not determine.
    map_rank_ : dict day -> int
        Directions the matched averages determine, ``min(n_keys - 1, n_components)``
        (see :class:`CCAAligner`).

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
                 n_lags: int = 1, pca_on: str = "samples", soft_norm: float | None = None,
                 match: str = "labels", standardize: bool = True, reference_day: Hashable | None = None,
                 random_state: Any = None) -> None:
        self.n_components = n_components
        self.scaling = scaling
        self.min_count = min_count
        self.n_lags = n_lags
        self.pca_on = pca_on
        self.soft_norm = soft_norm
        self.match = match
        self.standardize = standardize
        self.reference_day = reference_day
        self.random_state = random_state

    def _fit_map(self, A: NDArray, B: NDArray) -> tuple[NDArray, dict[str, Any]]:
        R = procrustes(B, A, rank=A.shape[0] - 1)
        if self.scaling:
            denom = float(np.sum(B * B))
            R = R * (float(np.sum((B @ R) * A)) / denom if denom > 0 else 1.0)
        return R, {}
