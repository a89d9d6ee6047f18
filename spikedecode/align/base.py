"""The DayAligner protocol shared by every aligner, and the base class they build on.

An aligner maps several recording days, each with its own features (different units,
a different count of them), into one ``n_components``-dimensional space where one
decoder can read every day.

* ``fit(days, y=None)`` fits the reference day (``reference_day`` or the first key) and
  adapts every other day to it, in the mapping's order.
* ``adapt(X_new, y=None, *, day)`` adds one day later. It never changes the transform of
  a day fitted before (a lab adds a day at a time), and its cost does not grow with the
  number of earlier days.
* ``transform(X, *, day)`` maps one day's samples into the common space.

``y`` holds *condition keys*, one hashable per sample (a label such as ``"touch/LUM"``
or, for aligners with ``uses_time = True``, a label and a time relative to stimulus
onset such as ``"touch/LUM@0.025"``). Matched averages are the means over samples that
share a key on the two days being aligned.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from numbers import Integral
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    ConfigError,
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
)

__all__ = [
    "DayAligner",
    "BaseDayAligner",
    "NoAlignment",
    "AlignmentWarning",
    "matched_averages",
    "procrustes",
    "determined_rank",
]


class AlignmentWarning(SpikeDecodeWarning):
    """An aligner had to fall back to a weaker method (e.g. no units shared across days).

    Examples
    --------
    >>> import warnings
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = NoAlignment(mismatch="pad").fit({0: X, 1: X[:, :1]})
    >>> caught[0].category is AlignmentWarning
    True
    """


@runtime_checkable
class DayAligner(Protocol):
    """What every aligner offers (see the module docstring).

    Attributes
    ----------
    uses_labels : bool
        True when ``fit``/``adapt`` need condition keys ``y``; label-free aligners get
        ``y=None`` from the evaluation functions.
    uses_time : bool
        True when the condition keys should include the time relative to stimulus onset
        (``"label@t"``), so that matched averages are condition- *and* time-averaged.

    Examples
    --------
    The protocol is ``runtime_checkable``: any object with ``fit``, ``adapt`` and
    ``transform`` passes ``isinstance``.

    >>> isinstance(NoAlignment(), DayAligner)
    True
    >>> isinstance(object(), DayAligner)
    False
    """

    uses_labels: bool
    uses_time: bool

    def fit(self, days: Mapping[Hashable, ArrayLike], y: Any = None, **kw: Any) -> Any: ...

    def adapt(self, X_new: ArrayLike, y: Any = None, *, day: Hashable, **kw: Any) -> Any: ...

    def transform(self, X: ArrayLike, *, day: Hashable) -> NDArray[np.float64]: ...


def _check_X(X: Any, *, day: Hashable, name: str = "X") -> NDArray[np.float64]:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise SpikeDecodeTypeError(
            f"{name} of day {day!r} must be a numeric array (n_samples, n_features); got "
            f"{type(X).__name__}."
        ) from err
    if arr.ndim != 2:
        raise SpikeDecodeValueError(
            f"{name} of day {day!r} must be 2D (n_samples, n_features); got shape {arr.shape}. "
            "Flatten windows with preprocess.to_xy (lag*unit features)."
        )
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise NotEnoughDataError(
            f"{name} of day {day!r} has shape {arr.shape}; need >= 2 samples and >= 1 feature."
        )
    if not np.all(np.isfinite(arr)):
        raise SpikeDecodeValueError(f"{name} of day {day!r} contains NaN or inf values.")
    return arr


def _check_keys(y: Any, n: int, *, day: Hashable) -> NDArray[Any]:
    keys = np.asarray(y)
    if keys.ndim != 1 or keys.shape[0] != n:
        raise SpikeDecodeValueError(
            f"y of day {day!r} must hold one condition key per sample ({n}); got shape "
            f"{keys.shape}."
        )
    return keys


def split_lags(X: NDArray, n_lags: int, *, day: Hashable) -> NDArray:
    """``(n_samples, n_lags * n_units)`` -> ``(n_samples, n_lags, n_units)``.

    Features are laid out ``lag * n_units + unit``, as
    :func:`~spikedecode.preprocess.to_xy` and ``from_counts(..., pool=p)`` give them.

    Examples
    --------
    >>> split_lags(np.arange(12.0).reshape(2, 6), 3, day=0)[1, 2].tolist()
    [10.0, 11.0]
    """
    L = int(n_lags)
    if X.shape[1] % L:
        raise ConfigError(
            f"day {day!r} has {X.shape[1]} features, not a multiple of n_lags == {L}; "
            "set n_lags to the Windows' lag count (features are lag * n_units + unit)."
        )
    return X.reshape(X.shape[0], L, X.shape[1] // L)


def matched_averages(
    Z_ref: ArrayLike, keys_ref: ArrayLike, Z_new: ArrayLike, keys_new: ArrayLike, *,
    min_count: int = 1,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[Any]]:
    """Means of ``Z_ref`` and ``Z_new`` over the condition keys present on both days.

    Parameters
    ----------
    Z_ref, Z_new : array (n_samples, n_dims)
        Samples of the two days (already reduced, e.g. per-day PCA latents).
    keys_ref, keys_new : array (n_samples,)
        Condition key of every sample.
    min_count : int, default=1
        Keys with fewer samples on either day are ignored.

    Returns
    -------
    A_ref, A_new : ndarray (n_keys, n_dims)
        Matched averages, one row per shared key (sorted by ``str(key)``).
    keys : list
        The shared keys.

    Examples
    --------
    >>> Z = np.array([[0.0], [2.0], [10.0]]); k = np.array(["a", "a", "b"])
    >>> A, B, keys = matched_averages(Z, k, Z + 1, k)
    >>> A.ravel().tolist(), B.ravel().tolist(), keys
    ([1.0, 10.0], [2.0, 11.0], ['a', 'b'])
    """
    Z_ref = np.asarray(Z_ref, dtype=np.float64)
    Z_new = np.asarray(Z_new, dtype=np.float64)
    kr = np.asarray(keys_ref)
    kn = np.asarray(keys_new)
    ur, inv_r, cnt_r = np.unique(kr, return_inverse=True, return_counts=True)
    un, inv_n, cnt_n = np.unique(kn, return_inverse=True, return_counts=True)
    pos_r = {k: i for i, k in enumerate(ur.tolist())}
    pos_n = {k: i for i, k in enumerate(un.tolist())}
    shared = sorted((k for k in pos_r if k in pos_n
                     and cnt_r[pos_r[k]] >= min_count and cnt_n[pos_n[k]] >= min_count), key=str)
    sums_r = np.zeros((ur.size, Z_ref.shape[1]))
    np.add.at(sums_r, inv_r.ravel(), Z_ref)
    sums_n = np.zeros((un.size, Z_new.shape[1]))
    np.add.at(sums_n, inv_n.ravel(), Z_new)
    ir = np.array([pos_r[k] for k in shared], dtype=int)
    i_n = np.array([pos_n[k] for k in shared], dtype=int)
    A = sums_r[ir] / cnt_r[ir, None] if shared else np.zeros((0, Z_ref.shape[1]))
    B = sums_n[i_n] / cnt_n[i_n, None] if shared else np.zeros((0, Z_new.shape[1]))
    return A, B, shared


def determined_rank(s: ArrayLike, *, rank: int | None = None, rtol: float = 1e-8) -> int:
    """How many singular directions of a cross-covariance the data determine.

    A map fitted on matched averages is only determined along the singular directions
    whose singular value is not zero: ``n_keys`` centred averages span at most
    ``n_keys - 1`` directions, and the singular vectors of a zero singular value are
    arbitrary (any rotation of them is as good, and which one LAPACK returns depends on
    rounding, hence on the BLAS thread count). The count is the number of singular values
    above ``rtol`` times the largest, capped at ``rank`` when given (e.g. ``n_keys - 1``,
    which also discards directions that only rounding noise makes non-zero).

    Parameters
    ----------
    s : array-like, shape (n,)
        Singular values, in descending order.
    rank : int, optional
        Upper bound known from the structure of the problem.
    rtol : float, default=1e-8
        Relative tolerance below which a singular value counts as zero.

    Returns
    -------
    int
        The number of determined directions, ``0 <= r <= len(s)``.

    Examples
    --------
    >>> determined_rank([3.0, 1.0, 1e-14])
    2
    >>> determined_rank([3.0, 1.0, 0.5], rank=1)
    1
    """
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0 or not s[0] > 0:
        return 0
    r = int(np.sum(s > rtol * s[0]))
    return r if rank is None else max(0, min(r, int(rank)))


def procrustes(A: ArrayLike, B: ArrayLike, *, rank: int | None = None,
               complete: str = "zero") -> NDArray[np.float64]:
    """Orthogonal ``R`` minimising ``||A @ R - B||_F`` (both already centred).

    When ``A.T @ B`` is rank-deficient (fewer centred points than dimensions plus one, as
    with two matched class averages in 10 dimensions) only ``r`` directions of ``R`` are
    determined by the data; the rest are arbitrary. ``R`` is then fitted on the ``r``
    determined directions only (an isometry there) and the undetermined ones are set by
    ``complete``, so that the result does not depend on rounding.

    Parameters
    ----------
    A : array-like, shape (n_points, n_dims)
        Points to rotate.
    B : array-like, shape (n_points, n_dims)
        Target points, row-matched to ``A``.
    rank : int, optional
        Most directions the points can determine (e.g. ``n_points - 1`` for centred
        averages); default: the numerical rank of ``A.T @ B`` (see
        :func:`determined_rank`).
    complete : {"zero", "identity"}, default="zero"
        The undetermined directions: ``"zero"`` maps them to zero (a partial isometry);
        ``"identity"`` completes ``R`` to the orthogonal matrix nearest the identity
        among those that fit the determined directions (the polar factor of the product
        of the two complements' projectors; independent of the basis LAPACK picks, and
        unique unless the two complements have orthogonal directions).

    Returns
    -------
    ndarray, shape (n_dims, n_dims)
        The orthogonal matrix ``R`` (``R @ R.T`` is the identity) when ``A.T @ B`` has full
        rank or ``complete="identity"``; otherwise zero on the undetermined directions.

    Examples
    --------
    >>> rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> A = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, -2.0]])
    >>> R = procrustes(A, A @ rot)
    >>> np.allclose(R, rot), np.allclose(R @ R.T, np.eye(2))
    (True, True)

    Two centred points determine one direction only:

    >>> R1 = procrustes(A[:2] - A[:2].mean(0), (A[:2] - A[:2].mean(0)) @ rot)
    >>> int(np.linalg.matrix_rank(R1))
    1
    >>> C = A[:2] - A[:2].mean(0)
    >>> np.allclose(procrustes(C, C, complete="identity"), np.eye(2))  # nearest the identity
    True
    """
    if complete not in ("zero", "identity"):
        raise ConfigError(f"complete == {complete!r}, must be 'zero' or 'identity'.")
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    U, s, Vt = np.linalg.svd(A.T @ B, full_matrices=False)
    r = determined_rank(s, rank=rank)
    R = U[:, :r] @ Vt[:r]
    k = R.shape[0]
    if complete == "identity" and r < k and R.shape[0] == R.shape[1]:
        eye = np.eye(k)
        X, _, Yt = np.linalg.svd((eye - U[:, :r] @ U[:, :r].T) @ (eye - Vt[:r].T @ Vt[:r]))
        R = R + X[:, :k - r] @ Yt[:k - r]
    return R


class BaseDayAligner(TransformerMixin, BaseEstimator):
    """Shared machinery of the aligners: day bookkeeping, validation, ``fit`` over days.

    Subclasses implement ``_fit_reference(X, y, day, **kw)``,
    ``_adapt_day(X, y, day, **kw)`` and ``_transform_day(X, day)``. ``fit`` calls the
    first on the reference day and the second on every other day; ``adapt`` calls the
    second only, so that no earlier day's state is touched.

    Fitted attributes common to all aligners: ``reference_day_``, ``days_`` (in the order
    they were added), ``n_features_`` (dict day -> feature count), ``n_features_ref_``,
    ``n_components_``.

    Examples
    --------
    A minimal aligner: centre each day on its own mean.

    >>> class Centre(BaseDayAligner):
    ...     def _fit_reference(self, X, y, day, **kw):
    ...         self.means_ = {day: X.mean(0)}
    ...         self.n_components_ = X.shape[1]
    ...     def _adapt_day(self, X, y, day, *, stacklevel, **kw):
    ...         self.means_[day] = X.mean(0)
    ...     def _transform_day(self, X, day):
    ...         return X - self.means_[day]
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> Z = Centre().fit_transform({"d1": X, "d2": X + 5})
    >>> np.allclose(Z["d1"], Z["d2"]), Centre().fit({"d1": X}).days_
    (True, ['d1'])
    """

    uses_labels: ClassVar[bool] = False
    uses_time: ClassVar[bool] = False

    # -- public API ---------------------------------------------------------------
    def fit(self, days: Mapping[Hashable, ArrayLike], y: Mapping[Hashable, ArrayLike] | None = None,
            **fit_params: Any) -> BaseDayAligner:
        """Fit the reference day, then adapt every other day to it.

        Parameters
        ----------
        days : mapping day -> array (n_samples, n_features)
            Feature counts may differ between days.
        y : mapping day -> array (n_samples,), optional
            Condition keys per sample (required when ``uses_labels``).
        **fit_params
            Passed to the reference fit and every adapt (e.g. ``units=`` mapping for
            :class:`~spikedecode.align.FactorAnalysisStabilizer`).

        Returns
        -------
        self : BaseDayAligner
            The fitted aligner.

        Examples
        --------
        >>> X = np.arange(6.0).reshape(3, 2)
        >>> al = NoAlignment().fit({"d1": X, "d2": X + 1})
        >>> al.reference_day_, al.days_
        ('d1', ['d1', 'd2'])
        """
        if not isinstance(days, Mapping) or len(days) == 0:
            raise SpikeDecodeTypeError(
                f"days must be a non-empty mapping day -> X; got {type(days).__name__}"
                + (" (empty)" if isinstance(days, Mapping) else "") + "."
            )
        if y is not None and not isinstance(y, Mapping):
            raise SpikeDecodeTypeError(
                f"y must be None or a mapping day -> condition keys; got {type(y).__name__}."
            )
        self._check_params()
        ref = getattr(self, "reference_day", None)
        if ref is None:
            ref = next(iter(days))
        if ref not in days:
            raise ConfigError(
                f"reference_day == {ref!r} is not one of the days {list(days)[:12]}."
            )
        for attr in list(vars(self)):
            if attr.endswith("_") and not attr.startswith("__"):
                delattr(self, attr)
        self.reference_day_ = ref
        self.days_: list[Hashable] = []
        self.n_features_: dict[Hashable, int] = {}
        X_ref = _check_X(days[ref], day=ref)
        y_ref = self._get_y(y, ref, X_ref.shape[0])
        self._fit_reference(X_ref, y_ref, ref, **self._day_params(fit_params, ref))
        self.days_.append(ref)
        self.n_features_[ref] = X_ref.shape[1]
        self.n_features_ref_ = X_ref.shape[1]
        self.n_features_in_ = X_ref.shape[1]
        for day, X in days.items():
            if day == ref:
                continue
            self._add_day(X, self._get_y(y, day, np.shape(X)[0]) if y is not None else None,
                          day, self._day_params(fit_params, day))
        return self

    def adapt(self, X_new: ArrayLike, y: ArrayLike | None = None, *, day: Hashable,
              **fit_params: Any) -> BaseDayAligner:
        """Add one day without changing the transform of any day fitted before.

        Parameters
        ----------
        X_new : array (n_samples, n_features)
            The new day's samples.
        y : array (n_samples,), optional
            Condition keys (required when ``uses_labels``). Use trials that are NOT used
            to test the day afterwards (see :func:`spikedecode.evaluation.leave_one_day_out`).
        day : hashable
            Key of the new day; must not be fitted already.
        **fit_params
            Passed to the subclass's adaptation (as for :meth:`fit`).

        Returns
        -------
        self : BaseDayAligner
            The aligner, now also fitted on ``day``.

        Examples
        --------
        >>> X = np.arange(6.0).reshape(3, 2)
        >>> NoAlignment().fit({"d1": X}).adapt(X + 1, day="d2").days_
        ['d1', 'd2']
        """
        check_is_fitted(self, "reference_day_")
        return self._add_day(X_new, y, day, fit_params)

    def _add_day(self, X_new: ArrayLike, y: ArrayLike | None, day: Hashable,
                 fit_params: Mapping[str, Any]) -> BaseDayAligner:
        """Check and adapt one day; called by both ``fit`` and ``adapt``."""
        if day in self.n_features_:
            raise ConfigError(
                f"day == {day!r} is already fitted; adapt adds a new day (use a new key, or "
                "copy.deepcopy the aligner before adapting a held-out day twice)."
            )
        X = _check_X(X_new, day=day, name="X_new")
        keys = None
        if y is not None:
            keys = _check_keys(y, X.shape[0], day=day)
        elif self.uses_labels and self._needs_labels():
            raise SpikeDecodeValueError(
                f"{type(self).__name__} uses condition keys: pass y (one key per sample) "
                f"for day {day!r}."
            )
        # _adapt_day -> _add_day -> fit/adapt -> the user's line: warnings point there
        self._adapt_day(X, keys, day, stacklevel=4, **fit_params)
        self.days_.append(day)
        self.n_features_[day] = X.shape[1]
        return self

    def transform(self, X: ArrayLike, *, day: Hashable) -> NDArray[np.float64]:
        """Map samples of ``day`` into the common space.

        Parameters
        ----------
        X : array (n_samples, n_features)
            Samples of ``day``, with that day's feature count.
        day : hashable
            A fitted day.

        Returns
        -------
        ndarray (n_samples, n_components)
            The samples in the common space.

        Examples
        --------
        >>> X = np.arange(6.0).reshape(3, 2)
        >>> NoAlignment().fit({"d1": X}).transform(X[:2], day="d1").shape
        (2, 2)
        """
        check_is_fitted(self, "reference_day_")
        if day not in self.n_features_:
            raise ConfigError(
                f"day == {day!r} is not fitted; known days are {self.days_[:12]}"
                + ("..." if len(self.days_) > 12 else "") + ". Call adapt(X, day=...) first."
            )
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_[day]:
            raise SpikeDecodeValueError(
                f"X has shape {arr.shape}, but {type(self).__name__} is expecting "
                f"{self.n_features_[day]} features for day {day!r}."
            )
        return np.asarray(self._transform_day(arr, day), dtype=np.float64)

    def fit_transform(self, days: Mapping[Hashable, ArrayLike],  # type: ignore[override]
                      y: Mapping[Hashable, ArrayLike] | None = None,
                      **fit_params: Any) -> dict[Hashable, NDArray[np.float64]]:
        """``fit(days, y)`` then the transform of every day, as a dict day -> array.

        Parameters
        ----------
        days, y, **fit_params
            As for :meth:`fit`.

        Returns
        -------
        dict of hashable to ndarray (n_samples, n_components)
            Each day's samples in the common space.

        Examples
        --------
        >>> X = np.arange(6.0).reshape(3, 2)
        >>> Z = NoAlignment().fit_transform({"d1": X, "d2": X + 1})
        >>> sorted(Z), Z["d2"].shape
        (['d1', 'd2'], (3, 2))
        """
        self.fit(days, y, **fit_params)
        return {d: self.transform(days[d], day=d) for d in days}

    # -- hooks --------------------------------------------------------------------
    def _check_params(self) -> None:
        check_param(getattr(self, "n_components", None), "n_components",
                    [Interval(Integral, 1, None), None])

    def _needs_labels(self) -> bool:
        return True

    def _day_params(self, fit_params: Mapping[str, Any], day: Hashable) -> dict[str, Any]:
        return dict(fit_params)

    def _get_y(self, y: Mapping[Hashable, ArrayLike] | None, day: Hashable,
               n: int) -> NDArray[Any] | None:
        if y is None:
            if self.uses_labels and self._needs_labels():
                raise SpikeDecodeValueError(
                    f"{type(self).__name__} uses condition keys: pass y as a mapping day -> "
                    f"keys (missing for day {day!r})."
                )
            return None
        if day not in y:
            raise SpikeDecodeValueError(f"y has no condition keys for day {day!r}.")
        return _check_keys(y[day], n, day=day)

    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable,
                       **kw: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, *, stacklevel: int,
                   **kw: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:  # pragma: no cover
        raise NotImplementedError


class NoAlignment(BaseDayAligner):
    """No alignment: every day's features are used as they are.

    Only meaningful when all days record the same features (same units in the same
    order). With ``mismatch="raise"`` (default) a day with another feature count is an
    error; ``mismatch="pad"`` zero-pads or truncates it to the reference's count (a
    deliberately naive baseline) and warns.

    Parameters
    ----------
    mismatch : {"raise", "pad"}, default="raise"
    reference_day : hashable, optional

    Examples
    --------
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> NoAlignment().fit({0: X, 1: X + 1}).transform(X, day=1).shape
    (3, 2)
    """

    def __init__(self, *, mismatch: str = "raise", reference_day: Hashable | None = None) -> None:
        self.mismatch = mismatch
        self.reference_day = reference_day

    def _check_params(self) -> None:
        check_param(self.mismatch, "mismatch", Options("raise", "pad"))

    def _fit_reference(self, X: NDArray, y: NDArray | None, day: Hashable, **kw: Any) -> None:
        self.n_components_ = X.shape[1]

    def _adapt_day(self, X: NDArray, y: NDArray | None, day: Hashable, *, stacklevel: int,
                   **kw: Any) -> None:
        if X.shape[1] != self.n_features_ref_:
            if self.mismatch == "raise":
                raise SpikeDecodeValueError(
                    f"day {day!r} has {X.shape[1]} features but the reference day has "
                    f"{self.n_features_ref_}; without alignment days must share features. "
                    "Use get_aligner('pca'|'cca'|'procrustes'|'fa'|'adversarial') or "
                    "NoAlignment(mismatch='pad')."
                )
            warnings.warn(
                f"day {day!r}: {X.shape[1]} features zero-padded/truncated to the reference's "
                f"{self.n_features_ref_} (no alignment).", AlignmentWarning,
                stacklevel=stacklevel)

    def _transform_day(self, X: NDArray, day: Hashable) -> NDArray:
        p = self.n_features_ref_
        if X.shape[1] == p:
            return X.copy()
        out = np.zeros((X.shape[0], p))
        m = min(p, X.shape[1])
        out[:, :m] = X[:, :m]
        return out
