"""Label-free alignment that picks among ambiguous maps by an unsupervised criterion.

``ProcrustesAligner(match="time")`` matches each day's average trajectory (the lag
averages over all trials): no label is used, but the directions along which the average
trajectory varies little are determined only weakly, and a reflection of one of them
(which can swap the classes) fits the averages almost as well. :class:`SelectedMapAligner`
makes those ambiguities explicit and chooses among them WITHOUT labels:

* candidates: the Procrustes map on the lag averages with the signs of its
  ``n_flips`` weakest singular pairs flipped (``2 ** n_flips`` orthogonal maps, the plain
  solution among them);
* criterion (cross-fitted on the adapted day's own trials: the map is fitted on one half
  of them, the criterion computed on the other, and the halves swapped):
  ``"energy"``, the energy distance between the mapped single trials and the
  reference's single trials, lag by lag (Székely & Rizzo 2013); or ``"dynamics"``, the
  error with which a linear model of the reference's single-trial dynamics (each lag's
  deviation from the mean trajectory predicted from the previous lag's) predicts the
  mapped trials;
* the chosen sign pattern is then applied to the map fitted on all the day's trials.

``multi_reference=True`` aligns each new day to the running mean of the aligned lag
averages of every day fitted before (a one-pass generalized Procrustes target) instead
of the reference day's alone; earlier days are never changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.distance import cdist

from spikedecode._random import day_seed, draw_seed
from spikedecode._validation import Interval, Options, check_param
from spikedecode.align.base import determined_rank
from spikedecode.align.cca import ProcrustesAligner
from spikedecode.errors import NotEnoughDataError

__all__ = ["SelectedMapAligner", "energy_distance"]


def energy_distance(X: NDArray[np.float64], Y: NDArray[np.float64]) -> float:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` between two samples.

    Zero when the two samples have the same distribution (in the limit), positive
    otherwise; it sees the means and the shapes of the distributions (Székely & Rizzo
    2013).

    Parameters
    ----------
    X, Y : ndarray (n, d) and (m, d)

    Returns
    -------
    float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    >>> bool(energy_distance(a, b) < energy_distance(a, b + 1.0))
    True
    """
    return float(2 * cdist(X, Y).mean() - cdist(X, X).mean() - cdist(Y, Y).mean())


class SelectedMapAligner(ProcrustesAligner):
    """Label-free Procrustes on the average trajectory, sign ambiguities chosen without labels.

    The per-day reduction and the matched lag averages are those of
    ``ProcrustesAligner(match="time")`` (see :class:`~spikedecode.align.ProcrustesAligner`);
    no label of any day is used (``uses_labels`` is False, ``y`` is ignored). Among the
    ``2 ** n_flips`` maps that differ by the signs of the weakest singular pairs of the
    fit, the one whose mapped trials best match the reference by ``criterion`` (computed on
    trials the map was not fitted on) is kept.

    Parameters
    ----------
    n_components : int, default=10
    n_lags : int, default=20
        Lags per sample (needs >= 2: the lag averages are what is matched).
    n_flips : int, default=3
        How many of the weakest determined directions have their sign chosen by the
        criterion (``0``: plain ``ProcrustesAligner(match="time")``).
    criterion : {"energy", "dynamics"}, default="energy"
        ``"energy"``: energy distance, lag by lag, between the mapped held-out trials and
        the reference's trials. ``"dynamics"``: mean squared error of a ridge linear model
        of the reference's single-trial dynamics (deviation from the mean trajectory at
        lag t+1 from lag t) on the mapped held-out trials.
    multi_reference : bool, default=False
        Match each new day to the running mean of the aligned lag averages of all the
        days fitted before it (reference included), not to the reference's alone.
    max_reference : int, default=300
        Reference trials kept for the criterion (a random subset beyond that).
    pca_on : {"samples", "averages"}, default="averages"
    soft_norm : float, optional, default=1.0
    standardize : bool, default=True
    reference_day : hashable, optional
    random_state : int, Generator or None
        Sets the halves of the cross-fitting and the reference subset.

    Attributes
    ----------
    maps_, offsets_, map_rank_ : dict day -> ...
        As :class:`~spikedecode.align.ProcrustesAligner`.
    flips_ : dict day -> tuple of int
        The chosen sign (+1 / -1) of each of the ``n_flips`` weakest pairs (reference:
        empty).
    criterion_ : dict day -> ndarray (2 ** n_flips,)
        The criterion of every candidate (lower is better; the plain map first).

    Raises
    ------
    ConfigError
        Bad parameter values (e.g. ``n_lags < 2``, an unknown ``criterion``).
    NotEnoughDataError
        A day with fewer than 4 trials (two halves of at least 2 are needed).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> traj = rng.normal(size=(6, 3))                        # mean trajectory, 6 lags
    >>> Z = traj[None] + 0.3 * rng.normal(size=(40, 6, 3))    # 40 trials
    >>> Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    >>> days = {0: Z.reshape(40, -1), 1: (Z @ Q).reshape(40, -1)}
    >>> al = SelectedMapAligner(n_components=3, n_lags=6, n_flips=1, soft_norm=None,
    ...                         standardize=False, random_state=0).fit(days)
    >>> al.uses_labels, al.criterion_[1].shape
    (False, (2,))
    >>> err = al.transform(days[1], day=1) - al.transform(days[0], day=0)
    >>> bool(np.abs(err).max() < 1e-6)
    True
    """

    #: Label-free by construction: the lag averages over all trials are matched.
    match = "time"
    #: Fixed: an orthogonal map, every lag average counted.
    scaling = False
    min_count = 1

    def __init__(self, *, n_components: int = 10, n_lags: int = 20, n_flips: int = 3,
                 criterion: str = "energy", multi_reference: bool = False,
                 max_reference: int = 300, pca_on: str = "averages",
                 soft_norm: float | None = 1.0, standardize: bool = True,
                 reference_day: Hashable | None = None, random_state: Any = None) -> None:
        self.n_components = n_components
        self.n_lags = n_lags
        self.n_flips = n_flips
        self.criterion = criterion
        self.multi_reference = multi_reference
        self.max_reference = max_reference
        self.pca_on = pca_on
        self.soft_norm = soft_norm
        self.standardize = standardize
        self.reference_day = reference_day
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        check_param(self.n_flips, "n_flips", Interval(Integral, 0, 8))
        check_param(self.criterion, "criterion", Options("energy", "dynamics"))
        check_param(self.multi_reference, "multi_reference", Options(True, False))
        check_param(self.max_reference, "max_reference", Interval(Integral, 4, None))

    # -- reference ---------------------------------------------------------------------
    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        super()._fit_reference(X, None, day, **kw)
        self._seed = draw_seed(self.random_state)
        n_lags, k = int(self.n_lags), self.n_components_
        Z = self.ref_latent_.reshape(len(X), n_lags, k)
        rng = np.random.default_rng(self._seed)
        keep = np.sort(rng.permutation(len(Z))[: int(self.max_reference)])
        self._ref_trials = Z[keep]
        self._ref_traj = Z.mean(axis=0)
        self._target_sum = self._ref_traj.copy()
        self._target_n = 1
        E = self._ref_trials - self._ref_traj
        P, N = E[:, :-1].reshape(-1, k), E[:, 1:].reshape(-1, k)
        lam = 1e-3 * float(np.trace(P.T @ P)) / k + 1e-12
        self._dynamics = np.linalg.solve(P.T @ P + lam * np.eye(k), P.T @ N)
        self.flips_: dict[Hashable, tuple[int, ...]] = {day: ()}
        self.criterion_: dict[Hashable, NDArray[np.float64]] = {day: np.zeros(0)}

    # -- a new day ---------------------------------------------------------------------
    def _target(self) -> NDArray[np.float64]:
        if self.multi_reference:
            return self._target_sum / self._target_n
        return self._ref_traj

    def _fit(self, Zfit: NDArray, A: NDArray) -> tuple[NDArray, NDArray, int, NDArray, NDArray]:
        """SVD of the cross-covariance of the lag averages of ``Zfit`` (n, lag, k) and ``A``."""
        B = Zfit.mean(axis=0)
        mu_b, mu_a = B.mean(axis=0), A.mean(axis=0)
        U, s, Vt = np.linalg.svd((B - mu_b).T @ (A - mu_a), full_matrices=False)
        r = determined_rank(s, rank=min(A.shape[0] - 1, A.shape[1]))
        return U, Vt, r, mu_b, mu_a

    def _maps(self, U: NDArray, Vt: NDArray, r: int,
              orient: NDArray | None = None) -> list[NDArray]:
        """The ``2 ** n_flips`` candidate maps: the signs of the weakest pairs flipped.

        ``orient`` (+1 / -1 per weak pair) re-expresses the candidates of a fit on part of
        the trials in the sign convention of the fit on all of them (a pair whose plain
        solution disagrees with the full fit's counts as flipped), so that candidate ``c``
        means the same map on every part.
        """
        n_f = min(int(self.n_flips), r)
        o = np.ones(n_f) if orient is None else orient[:n_f]
        maps = []
        for signs in itertools.product((1.0, -1.0), repeat=n_f):
            d = np.ones(r)
            if n_f:
                d[r - n_f:] = np.asarray(signs) * o
            maps.append((U[:, :r] * d) @ Vt[:r])
        return maps

    def _score(self, Zmap: NDArray) -> float:
        if self.criterion == "energy":
            return float(sum(energy_distance(Zmap[:, t], self._ref_trials[:, t])
                             for t in range(Zmap.shape[1])))
        E = Zmap - self._ref_traj
        k = E.shape[2]
        pred = E[:, :-1].reshape(-1, k) @ self._dynamics
        return float(np.mean((E[:, 1:].reshape(-1, k) - pred) ** 2))

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, *, stacklevel: int,
                   **kw: Any) -> None:
        n_lags, k = int(self.n_lags), self.n_components_
        if len(X) < 4:
            raise NotEnoughDataError(
                f"day {day!r} has {len(X)} trials; SelectedMapAligner needs >= 4 (two "
                "halves of >= 2 trials for the cross-fitted criterion).")
        keys = self._day_keys(None, len(X))
        self._fit_day_keys(X, keys, day)
        Z = self._bin_latent(X, day).reshape(len(X), n_lags, k)
        A = self._target()
        U, Vt, r, mu_b, mu_a = self._fit(Z, A)
        n_f = min(int(self.n_flips), r)
        weak = np.arange(r - n_f, r)
        rng = np.random.default_rng(day_seed(self._seed, day))
        perm = rng.permutation(len(Z))
        halves = (perm[: len(Z) // 2], perm[len(Z) // 2:])
        scores = np.zeros(2 ** n_f)
        for fit_idx, held in (halves, halves[::-1]):
            Uh, Vth, rh, mu_bh, mu_ah = self._fit(Z[fit_idx], A)
            if rh != r:  # a rank-deficient part: its candidates are not the full fit's
                continue  # (both parts skipped: every score 0, the plain map is kept)
            orient = np.sign(np.sum(Uh[:, weak] * U[:, weak], axis=0)
                             * np.sum(Vth[weak] * Vt[weak], axis=1))
            orient[orient == 0] = 1.0
            scores += [self._score((Z[held] - mu_bh) @ R + mu_ah)
                       for R in self._maps(Uh, Vth, rh, orient)]
        maps = self._maps(U, Vt, r)
        best = int(np.argmin(scores))
        R = maps[best]
        self.flips_[day] = tuple(itertools.product((1, -1), repeat=n_f))[best]
        self.criterion_[day] = scores / 2
        self.maps_[day] = R
        self.offsets_[day] = (mu_b, mu_a)
        self.n_matched_[day] = n_lags
        self.map_rank_[day] = int(np.linalg.matrix_rank(R))
        aligned = (Z.mean(axis=0) - mu_b) @ R + mu_a
        self._target_sum = self._target_sum + aligned
        self._target_n += 1
