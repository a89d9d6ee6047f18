"""Factor-analysis stabilizer (after Degenhart et al. 2020).

Each day gets its own factor analysis ``x = L z + mu + eps``. The factors of two days
are identified only up to a rotation, and the units recorded on both days carry the same
loadings (same neuron, same tuning), so the rotation is found by orthogonal Procrustes
on the loadings of the *shared, stable* units: the shared units whose loadings disagree
most after a first fit are dropped (they changed: drift, a different neuron on the same
channel) and the rotation is refitted on the rest.

A day that shares too few units with the reference is anchored on the earlier day it
shares most units with (already expressed in reference coordinates). When no fitted day
shares enough units, the stabilizer says so (:class:`~spikedecode.align.AlignmentWarning`)
and falls back to Procrustes on matched condition/time averages of the factors, which
needs condition keys ``y``.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import FactorAnalysis

from spikedecode._random import day_seed, draw_seed
from spikedecode._validation import Interval, check_param
from spikedecode.align.base import AlignmentWarning, BaseDayAligner, matched_averages, procrustes
from spikedecode.errors import ConfigError, NotEnoughDataError, SpikeDecodeValueError

__all__ = ["FactorAnalysisStabilizer"]


def _feature_keys(ids: Sequence[Any]) -> list[tuple[str, int]]:
    """(id, occurrence) per feature: the j-th feature of unit u on one day matches the j-th
    feature of u on another (lag-flattened windows repeat each unit id once per lag)."""
    seen: dict[str, int] = {}
    out = []
    for u in ids:
        k = str(u)
        out.append((k, seen.get(k, 0)))
        seen[k] = seen.get(k, 0) + 1
    return out


class FactorAnalysisStabilizer(BaseDayAligner):
    """Factor analysis per day, aligned on the loadings of units shared across days.

    Parameters
    ----------
    n_components : int, default=10
        Number of factors.
    units : mapping day -> sequence of unit ids (one per feature), optional
        Unit identity of every feature of every day. Can also be given to ``fit`` as
        ``units=`` (mapping) and to ``adapt`` as ``units=`` (sequence for that day).
    stable_fraction : float, default=0.8
        Fraction of shared units kept as *stable* after the first Procrustes fit (those
        whose aligned loadings agree best); the rotation is refitted on them.
    min_shared : int, optional
        Shared units needed to align on loadings (default ``n_components``).
    standardize : bool, default=True
        Z-score features per day before factor analysis.
    max_iter : int, default=1000
    reference_day : hashable, optional
    random_state : int or None
        Seeds the randomized SVD of the factor analysis.

    Attributes
    ----------
    loadings_ : dict day -> ndarray (n_features, n_components)
        Loadings of each day, in the day's own factor coordinates.
    rotations_ : dict day -> ndarray (n_components, n_components)
        Map from the day's factors to the reference's.
    anchor_day_ : dict day -> hashable or None
        Day whose loadings aligned it (None for the reference and for fallbacks).
    method_ : dict day -> {"reference", "loadings", "matched_averages"}
    n_shared_ : dict day -> int
        Units shared with the anchor (stable ones used in the final fit).

    References
    ----------
    Degenhart, A. D. et al. (2020). Stabilization of a brain-computer interface via the
    alignment of low-dimensional spaces of neural activity. Nature Biomedical Engineering
    4, 672-685.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(300, 2)); Lw = rng.normal(size=(12, 2))
    >>> X = Z @ Lw.T + 0.1 * rng.normal(size=(300, 12))
    >>> ids = [f"u{i}" for i in range(12)]
    >>> fa = FactorAnalysisStabilizer(n_components=2, random_state=0)
    >>> _ = fa.fit({0: X, 1: X[:, ::-1]}, units={0: ids, 1: ids[::-1]})
    >>> fa.method_[1], bool(np.allclose(fa.transform(X[:, ::-1], day=1),
    ...                                 fa.transform(X, day=0), atol=0.05))
    ('loadings', True)
    """

    uses_labels = True  # only for the matched-average fallback
    uses_time = True

    def __init__(self, *, n_components: int = 10, units: Mapping[Hashable, Sequence[Any]] | None
                 = None, stable_fraction: float = 0.8, min_shared: int | None = None,
                 standardize: bool = True, max_iter: int = 1000,
                 reference_day: Hashable | None = None, random_state: Any = None) -> None:
        self.n_components = n_components
        self.units = units
        self.stable_fraction = stable_fraction
        self.min_shared = min_shared
        self.standardize = standardize
        self.max_iter = max_iter
        self.reference_day = reference_day
        self.random_state = random_state

    def _needs_labels(self) -> bool:
        return False  # labels are only needed when a day falls back (checked there)

    def _check_params(self) -> None:
        super()._check_params()
        check_param(self.stable_fraction, "stable_fraction", Interval(Real, 0, 1, closed="right"))
        if self.units is not None and not isinstance(self.units, Mapping):
            raise ConfigError(
                f"units must be a mapping day -> unit ids; got {type(self.units).__name__}.")

    def _day_params(self, fit_params: Mapping[str, Any], day: Hashable) -> dict[str, Any]:
        out = dict(fit_params)
        units = out.pop("units", None)
        if units is not None:
            if not isinstance(units, Mapping):
                raise ConfigError("fit(units=...) must be a mapping day -> unit ids; got "
                                  f"{type(units).__name__}.")
            if day in units:
                out["units"] = units[day]
        return out

    # -- per-day factor analysis ----------------------------------------------------
    def _fa(self, X: NDArray, day: Hashable, units: Sequence[Any] | None) -> None:
        if not hasattr(self, "loadings_"):
            self.loadings_, self.projections_, self.mean_, self.scale_ = {}, {}, {}, {}
            self.rotations_, self.anchor_day_, self.method_, self.n_shared_ = {}, {}, {}, {}
            self.unit_ids_: dict[Hashable, list[tuple[str, int]] | None] = {}
            self._seed = draw_seed(self.random_state)
        k = int(self.n_components)
        if k > min(X.shape):
            raise NotEnoughDataError(
                f"n_components == {k} but day {day!r} has shape {X.shape}; choose "
                f"n_components <= {min(X.shape)}.")
        if units is None and self.units is not None and day in self.units:
            units = self.units[day]
        if units is not None:
            units = list(units)
            if len(units) != X.shape[1]:
                raise SpikeDecodeValueError(
                    f"units of day {day!r} has {len(units)} ids but X has {X.shape[1]} "
                    "features; give one unit id per feature.")
        mean = X.mean(axis=0)
        scale = X.std(axis=0) if self.standardize else np.ones(X.shape[1])
        scale = np.where(scale > 1e-12, scale, 1.0)
        # a per-day seed derived from the aligner's seed and the day: adapting days in
        # another order gives every day the same factor analysis
        seed = day_seed(self._seed, day)
        fa = FactorAnalysis(n_components=k, max_iter=int(self.max_iter), random_state=seed)
        fa.fit((X - mean) / scale)
        L = fa.components_.T  # (p, k)
        psi_inv = 1.0 / np.maximum(fa.noise_variance_, 1e-9)
        # posterior mean of the factors: (I + L' Psi^-1 L)^-1 L' Psi^-1 (x - mu)
        P = np.linalg.solve(np.eye(k) + (L.T * psi_inv) @ L, L.T * psi_inv)  # (k, p)
        self.loadings_[day] = L
        self.projections_[day] = P
        self.mean_[day] = mean
        self.scale_[day] = scale
        self.unit_ids_[day] = _feature_keys(units) if units is not None else None

    def _factors(self, X: NDArray, day: Hashable) -> NDArray:
        return ((X - self.mean_[day]) / self.scale_[day]) @ self.projections_[day].T

    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        self._fa(X, day, kw.get("units"))
        self.n_components_ = int(self.n_components)
        self.rotations_[day] = np.eye(self.n_components_)
        self.anchor_day_[day] = None
        self.method_[day] = "reference"
        self.n_shared_[day] = X.shape[1]
        self.ref_factors_ = self._factors(X, day)
        self.ref_keys_ = None if y is None else np.asarray(y)

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, *, stacklevel: int,
                   **kw: Any) -> None:
        self._fa(X, day, kw.get("units"))
        min_shared = int(self.min_shared) if self.min_shared is not None else self.n_components_
        ids = self.unit_ids_[day]
        anchor, best = None, []
        if ids is not None:
            pos = {key: i for i, key in enumerate(ids)}
            # the reference first: chaining through other days accumulates error
            candidates = [self.reference_day_] + [d for d in self.days_
                                                  if d != self.reference_day_]
            for d in candidates:
                other = self.unit_ids_.get(d)
                if other is None:
                    continue
                pairs = [(pos[key], j) for j, key in enumerate(other) if key in pos]
                if len(pairs) > len(best):
                    anchor, best = d, pairs
                if d == self.reference_day_ and len(pairs) >= min_shared:
                    break
        if anchor is not None and len(best) >= min_shared:
            i_new = np.array([p[0] for p in best])
            i_anc = np.array([p[1] for p in best])
            L_new = self.loadings_[day][i_new]
            L_anc = self.loadings_[anchor][i_anc] @ self.rotations_[anchor]
            R = procrustes(L_new, L_anc)
            n_keep = max(min_shared, int(np.ceil(self.stable_fraction * len(best))))
            if n_keep < len(best):
                resid = np.linalg.norm(L_new @ R - L_anc, axis=1)
                stable = np.argsort(resid, kind="stable")[:n_keep]
                R = procrustes(L_new[stable], L_anc[stable])
            self.rotations_[day] = R
            self.anchor_day_[day] = anchor
            self.method_[day] = "loadings"
            self.n_shared_[day] = min(n_keep, len(best))
            return
        n_sh = len(best)
        if y is None or self.ref_keys_ is None:
            raise NotEnoughDataError(
                f"day {day!r} shares {n_sh} unit(s) with the fitted days (need >= "
                f"{min_shared}) and no condition keys were given for the fallback; pass "
                "units= (unit id per feature) or y (condition keys) for every day.")
        warnings.warn(
            f"FactorAnalysisStabilizer: day {day!r} shares {n_sh} unit(s) with the fitted "
            f"days (< {min_shared}); aligning it on matched condition averages instead of "
            "stable loadings.", AlignmentWarning,
            stacklevel=stacklevel)
        F = self._factors(X, day)
        A, B, shared = matched_averages(self.ref_factors_, self.ref_keys_, F, y)
        if len(shared) < 2:
            raise NotEnoughDataError(
                f"day {day!r} shares {len(shared)} condition key(s) with the reference day; "
                "need >= 2 for the matched-average fallback.")
        # n keys determine at most n - 1 directions; the rest go to zero (well-posed)
        self.rotations_[day] = procrustes(B - B.mean(0), A - A.mean(0), rank=len(shared) - 1)
        self.anchor_day_[day] = None
        self.method_[day] = "matched_averages"
        self.n_shared_[day] = n_sh

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:
        return self._factors(X, day) @ self.rotations_[day]
