"""Label-free alignment by distribution matching in a low-dimensional per-day space.

:class:`DistributionAligner` follows Dyer et al. (2017, "distribution alignment
decoding", DAD) in spirit: each day is reduced to a few dimensions on its own, and the
new day's low-dimensional cloud of samples is rotated/reflected onto the reference
day's cloud so that the two *distributions* agree. No label and no matched unit is
used. The search is a Wasserstein-Procrustes problem (Grave et al. 2019): alternate an
optimal one-to-one matching of samples (``scipy.optimize.linear_sum_assignment``) with
the best orthogonal map for that matching (Procrustes), started from every sign flip of
the per-day principal axes, and keep the start with the smallest transport cost.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Hashable
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikedecode._random import draw_seed
from spikedecode._validation import Interval, Options, check_params
from spikedecode.align.base import AlignmentWarning, BaseDayAligner, procrustes, split_lags
from spikedecode.errors import ConfigError

__all__ = ["DistributionAligner"]


def _ot_cost(A: NDArray, B: NDArray) -> tuple[float, NDArray, NDArray]:
    """Optimal one-to-one matching of the samples of A and B (n, lag, k), squared
    distances summed over lags and dims."""
    from scipy.optimize import linear_sum_assignment

    a = A.reshape(len(A), -1)
    b = B.reshape(len(B), -1)
    C = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
    r, c = linear_sum_assignment(C)
    return float(C[r, c].mean()), r, c


def sign_flip_starts(k: int, max_starts: int, rng: np.random.Generator) -> list[NDArray]:
    """Diagonal sign-flip matrices (all ``2**k``, or ``max_starts`` of them, identity first)."""
    if 2 ** k <= max_starts:
        return [np.diag(s) for s in itertools.product((1.0, -1.0), repeat=k)]
    out = [np.eye(k)]
    while len(out) < max_starts:
        out.append(np.diag(rng.choice((1.0, -1.0), size=k)))
    return out


def wasserstein_procrustes(src: NDArray, tgt: NDArray, starts: list[NDArray],
                           n_iter: int = 20) -> tuple[float, NDArray]:
    """Orthogonal ``Q`` (k, k) minimising the optimal-transport cost between ``src @ Q``
    and ``tgt`` (samples ``(n, k)`` or ``(n, lag, k)``): alternate a one-to-one matching
    and Procrustes from every start; returns ``(cost, Q)`` of the best start.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = np.r_[rng.normal(size=(60, 2)) + [4, 0], rng.normal(size=(30, 2)) - [0, 4]]
    >>> R = np.array([[0.0, 1.0], [-1.0, 0.0]])
    >>> cost, Q = wasserstein_procrustes(A @ R.T, A, sign_flip_starts(2, 4, rng))
    >>> bool(np.allclose(Q, R, atol=1e-6))
    True
    """
    k = src.shape[-1]
    best = (np.inf, np.eye(k))
    for Q in starts:
        cost = np.inf
        for _ in range(int(n_iter)):
            new_cost, r, c = _ot_cost(src @ Q, tgt)
            Q_next = procrustes(src[r].reshape(-1, k), tgt[c].reshape(-1, k))
            if new_cost >= cost - 1e-9:
                break
            cost, Q = new_cost, Q_next
        cost = _ot_cost(src @ Q, tgt)[0]
        if cost < best[0]:
            best = (cost, Q)
    return best


def _moments(Z: NDArray) -> tuple[NDArray, NDArray]:
    """Mean (lag, k) and covariance over samples (lag, k, k) at every lag."""
    mu = Z.mean(0)
    D = Z - mu
    cov = np.einsum("nli,nlj->lij", D, D) / max(1, len(Z) - 1)
    return mu, cov


def _fit_moments(src: tuple[NDArray, NDArray], tgt: tuple[NDArray, NDArray],
                 starts: list[NDArray], keep: int | None) -> list[NDArray]:
    """Orthogonal maps that match per-lag means and covariances, one per start (best
    first); ``keep``: how many to return (None: the best only)."""
    from scipy.linalg import expm
    from scipy.optimize import minimize

    mu_s, cov_s = src
    mu_t, cov_t = tgt
    k = mu_s.shape[1]
    iu = np.triu_indices(k, 1)
    norm = float((mu_t ** 2).sum() + (cov_t ** 2).sum()) or 1.0

    def rot(a: NDArray, S: NDArray) -> NDArray:
        A = np.zeros((k, k))
        A[iu] = a
        return S @ expm(A - A.T)

    def loss(a: NDArray, S: NDArray) -> float:
        Q = rot(a, S)
        m = mu_s @ Q - mu_t
        c = np.einsum("ij,lik,kn->ljn", Q, cov_s, Q) - cov_t
        return float(((m ** 2).sum() + (c ** 2).sum()) / norm)

    res = []
    for S in starts:
        r = minimize(loss, np.zeros(len(iu[0])), args=(S,), method="L-BFGS-B",
                     options={"maxiter": 200})
        res.append((float(r.fun), rot(r.x, S)))
    res.sort(key=lambda t: t[0])
    return [q for _, q in res[: 1 if keep is None else keep]]


class DistributionAligner(BaseDayAligner):
    """Label-free: per-day PCA, then the rotation/reflection that matches distributions.

    **Labels used: none.** Only the samples of each day are used (and, with
    ``n_lags > 1``, the order of the lags within a sample, i.e. the time since trial
    onset, which the recording itself provides). This is the aligner to use when a new
    day has no labelled trial yet.

    Steps for every day: optional square-root transform of the counts, removal of units
    whose mean count is below ``min_rate``, centring and soft normalisation of each unit
    (``x / (sd + soft_norm)``), PCA to ``n_components`` dims fitted on the day's own
    samples (every lag a sample), and scaling of the scores to unit total variance. The
    reference day's trial summaries (scores averaged over lags) are the target; a new
    day's orthogonal map ``Q`` minimises the optimal-transport cost between its
    summaries and the target's (Wasserstein-Procrustes), started from every sign flip of
    its principal axes (``2**n_components`` starts, capped by ``max_starts``) and, with
    ``n_lags > 1``, from the Procrustes map of the two days' mean trajectories.

    Parameters
    ----------
    n_components : int, default=4
        Dimension of the common space (keep it small: the search is over ``O(k)``).
    n_lags : int, default=1
        Lags per sample in ``X`` (features ``lag * n_units + unit``, as
        :func:`~spikedecode.preprocess.to_xy` lays them out).
    sqrt : bool, default=True
        Square-root transform of the counts (variance stabilising).
    min_rate : float, default=0.0
        Units whose mean value per sample and lag is below this are dropped.
    soft_norm : float, default=1.0
        Added to each unit's standard deviation before dividing by it.
    n_iter : int, default=20
        Alternations of matching and Procrustes per start.
    max_samples : int, default=300
        Samples per day used by the matching (random subset when more).
    max_starts : int, default=64
        Most starts tried (sign flips beyond it are subsampled).
    objective : {"ot", "moments", "both"}, default="ot"
        ``"ot"``: Wasserstein-Procrustes on the trial trajectories; ``"moments"``: match
        per-lag means and covariances instead (about 10x slower, no better on the shared
        sessions, see docs/alignment.md); ``"both"``: moments first, then OT from the
        four best starts.
    reference_day : hashable, optional
        The day the others are mapped onto (default: the first day).
    random_state : int or None
        Seed of the sample subsets and start subsampling.

    Attributes
    ----------
    rotations_ : dict day -> ndarray (k, k)
        The orthogonal map of each day (identity for the reference).
    day_stats_ : dict day -> dict
        ``ot_cost`` (transport cost of the kept map, in unit-variance units),
        ``ot_cost_identity`` (cost of the unrotated PCA), ``n_units_kept``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = np.concatenate([rng.normal(size=(150, 2)) * [3.0, 1.0],
    ...                     rng.normal(size=(150, 2)) * [3.0, 1.0] + [0.0, 4.0]])
    >>> days = {d: np.abs(Z @ rng.normal(size=(2, 20)) + 10) for d in range(2)}
    >>> al = DistributionAligner(n_components=2, sqrt=False, random_state=0).fit(days)
    >>> al.transform(days[1], day=1).shape
    (300, 2)
    """

    uses_labels = False
    uses_time = False

    def __init__(self, *, n_components: int = 4, n_lags: int = 1, sqrt: bool = True,
                 min_rate: float = 0.0, soft_norm: float = 1.0, n_iter: int = 20,
                 max_samples: int = 300, max_starts: int = 64, objective: str = "ot",
                 reference_day: Hashable | None = None, random_state: Any = None) -> None:
        self.n_components = n_components
        self.n_lags = n_lags
        self.sqrt = sqrt
        self.min_rate = min_rate
        self.soft_norm = soft_norm
        self.n_iter = n_iter
        self.max_samples = max_samples
        self.max_starts = max_starts
        self.objective = objective
        self.reference_day = reference_day
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        check_params(self, {
            "n_lags": Interval(Integral, 1, None),
            "sqrt": Options(True, False),
            "min_rate": Interval(Real, 0, None),
            "soft_norm": Interval(Real, 0, None),
            "n_iter": Interval(Integral, 1, None),
            "max_samples": Interval(Integral, 2, None),
            "max_starts": Interval(Integral, 1, None),
            "objective": Options("ot", "moments", "both"),
        })

    # -- per-day reduction --------------------------------------------------------------
    def _lags(self, X: NDArray, day: Hashable) -> NDArray:
        X3 = split_lags(X, int(self.n_lags), day=day)
        return np.sqrt(np.maximum(X3, 0.0)) if self.sqrt else X3

    def _reduce_fit(self, X: NDArray, day: Hashable) -> dict[str, Any]:
        X3 = self._lags(X, day)
        flat = X3.reshape(-1, X3.shape[2])
        mean = flat.mean(0)
        keep = np.flatnonzero(mean >= float(self.min_rate)) if self.min_rate > 0 else \
            np.arange(flat.shape[1])
        k = int(self.n_components)
        if keep.size < k:
            keep = np.argsort(mean)[::-1][: max(k, 1)]
        if keep.size < k:
            raise ConfigError(f"n_components == {k} exceeds day {day!r}'s {keep.size} units.")
        F = flat[:, keep] - mean[keep]
        scale = F.std(0) + float(self.soft_norm)
        scale = np.where(scale > 1e-12, scale, 1.0)
        F = F / scale
        _, s, Vt = np.linalg.svd(F, full_matrices=False)
        comp = Vt[:k]
        S = F @ comp.T
        # sign convention: positive skew of each axis (a deterministic start point)
        sk = np.sign(np.sum(S ** 3, axis=0))
        comp = comp * np.where(sk == 0, 1.0, sk)[:, None]
        S = F @ comp.T
        tot = float(np.sqrt((S ** 2).sum(1).mean())) or 1.0
        return {"keep": keep, "mean": mean[keep], "scale": scale, "comp": comp, "tot": tot}

    def _project(self, X: NDArray, day: Hashable) -> NDArray:
        r = self._red[day]
        X3 = self._lags(X, day)[:, :, r["keep"]]
        Z = ((X3 - r["mean"]) / r["scale"]) @ r["comp"].T / r["tot"]
        return Z  # (n, lag, k)

    # -- protocol --------------------------------------------------------------------
    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        self._seed = draw_seed(self.random_state)
        self.n_components_ = int(self.n_components)
        self._red = {day: self._reduce_fit(X, day)}
        Z = self._project(X, day)
        rng = np.random.default_rng(self._seed)
        idx = rng.permutation(len(Z))[: int(self.max_samples)]
        self._target = Z[idx]
        self._target_traj = Z.mean(0)  # (lag, k)
        self._target_mom = _moments(Z)
        self.rotations_ = {day: np.eye(self.n_components_)}
        self.day_stats_ = {day: {"ot_cost": 0.0, "ot_cost_identity": 0.0,
                                 "n_units_kept": int(self._red[day]["keep"].size)}}

    def _starts(self, k: int, traj: NDArray, rng: np.random.Generator) -> list[NDArray]:
        starts = sign_flip_starts(k, int(self.max_starts), rng)
        if traj.shape[0] > 1:
            starts.append(procrustes(traj - traj.mean(0), self._target_traj
                                     - self._target_traj.mean(0)))
        return starts

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, *, stacklevel: int,
                   **kw: Any) -> None:
        k = self.n_components_
        self._red[day] = self._reduce_fit(X, day)
        Z = self._project(X, day)
        seed = (self._seed + 7919 * (len(self.rotations_) + 1)) % 2**32
        rng = np.random.default_rng(seed)
        src = Z[rng.permutation(len(Z))[: int(self.max_samples)]]
        tgt = self._target
        best = (np.inf, np.eye(k))
        starts = self._starts(k, Z.mean(0), rng)
        if self.objective in ("moments", "both"):
            starts = _fit_moments(_moments(Z), self._target_mom, starts,
                                  keep=None if self.objective == "moments" else 4)
            if self.objective == "moments":
                Q = starts[0]
                best = (_ot_cost(src @ Q, tgt)[0], Q)
                starts = []
        if starts:
            best = wasserstein_procrustes(src, tgt, starts, int(self.n_iter))
        cost0 = _ot_cost(src, tgt)[0]
        self.rotations_[day] = best[1]
        self.day_stats_[day] = {"ot_cost": float(best[0]), "ot_cost_identity": float(cost0),
                                "n_units_kept": int(self._red[day]["keep"].size)}
        # the matched distributions are no closer than two random halves of the target
        half = len(tgt) // 2
        if half >= 2:
            null = _ot_cost(tgt[:half], tgt[half: 2 * half])[0]
            if best[0] > 2.0 * null:
                warnings.warn(
                    f"day {day!r}: distribution alignment left a transport cost of "
                    f"{best[0]:.3f} against {null:.3f} between two halves of the reference "
                    "day; the days' distributions may not be alignable label-free.",
                    AlignmentWarning, stacklevel=stacklevel)

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:
        Z = self._project(X, day) @ self.rotations_[day]
        return Z.reshape(Z.shape[0], -1)
