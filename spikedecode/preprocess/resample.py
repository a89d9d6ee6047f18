"""Samplers (imbalanced-learn style) and leakage-safe splitters.

Samplers balance or bootstrap the *training* fold only: ``fit_resample(X, y)`` returns
resampled copies, and with ``groups=`` the groups follow the samples so that a later
split still sees which windows belong together. A DataArray in gives a DataArray out.

Splitters never put windows of one trial (or one latent gap) on both sides of a split:
:func:`leakage_safe_cv` is scikit-learn's ``StratifiedGroupKFold`` to be used with
``groups=trial``; :class:`BlockedTimeSplit` cuts the recording into contiguous blocks in
time and removes ``gap`` samples (and every sample of a test group) from the training side.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedGroupKFold

from spikedecode._random import RandomStateLike, check_generator
from spikedecode.errors import (
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)

__all__ = [
    "RandomUnderSampler",
    "RandomOverSampler",
    "BootstrapSampler",
    "leakage_safe_cv",
    "BlockedTimeSplit",
]


def _n_samples(X: Any) -> int:
    if isinstance(X, xr.DataArray):
        if "sample" not in X.dims:
            raise SpikeDecodeValueError(
                f"X is a DataArray without a 'sample' dim (dims {X.dims}); pass Windows."
            )
        return int(X.sizes["sample"])
    shape = np.shape(X)
    if len(shape) == 0:
        raise SpikeDecodeTypeError(
            f"X must be an array (n_samples, ...) or a Windows DataArray; got {type(X).__name__}."
        )
    return int(shape[0])


def _take(X: Any, idx: NDArray[np.int64]) -> Any:
    if isinstance(X, xr.DataArray):
        return X.isel(sample=idx)
    return np.asarray(X)[idx]


class _BaseSampler(BaseEstimator):
    """Common checks and the ``fit_resample`` plumbing; subclasses pick indices."""

    def _indices(self, y: NDArray, rng: np.random.Generator) -> NDArray[np.int64]:
        raise NotImplementedError

    def fit_resample(self, X: Any, y: ArrayLike | None = None, *, groups: ArrayLike | None = None):
        """Resample ``X`` and ``y`` (and ``groups``).

        Parameters
        ----------
        X : array of shape (n_samples, ...) or Windows DataArray
        y : array-like of shape (n_samples,), optional
            Labels. For a labelled Windows DataArray it defaults to its ``label`` coord.
        groups : array-like of shape (n_samples,), optional
            Trial ids; when given they are resampled too and returned third.

        Returns
        -------
        X_res, y_res[, groups_res]
            Resampled copies, in the original sample order (``sample_indices_`` holds the
            indices drawn, sorted).
        """
        n = _n_samples(X)
        if y is None:
            if isinstance(X, xr.DataArray) and "label" in X.coords:
                y = X["label"].values
            else:
                raise SpikeDecodeValueError(
                    "y is None; pass labels (or a labelled Windows DataArray as X)."
                )
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise SpikeDecodeValueError(
                f"y has shape {y.shape} but X has {n} samples; y must be 1-D with one label "
                "per sample."
            )
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (n,):
                raise SpikeDecodeValueError(
                    f"groups has shape {groups.shape} but X has {n} samples; pass one trial "
                    "id per sample."
                )
        if n == 0:
            raise NotEnoughDataError("X has 0 samples; nothing to resample.")
        rng = check_generator(getattr(self, "random_state", None))
        idx = np.sort(self._indices(y, rng)).astype(np.int64)
        self.sample_indices_ = idx
        self.classes_, counts = np.unique(y[idx], return_counts=True)
        self.class_counts_ = dict(zip(self.classes_.tolist(), counts.tolist()))
        X_res, y_res = _take(X, idx), y[idx]
        if groups is not None:
            return X_res, y_res, groups[idx]
        return X_res, y_res


class RandomUnderSampler(_BaseSampler):
    """Balance classes by drawing, without replacement, the minority count from each class.

    Parameters
    ----------
    random_state : int, Generator or None, default=None

    Attributes
    ----------
    sample_indices_ : ndarray
        Indices kept (sorted).
    class_counts_ : dict
        Samples per class after resampling.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10)[:, None]; y = np.array(["a"] * 8 + ["b"] * 2)
    >>> Xr, yr = RandomUnderSampler(random_state=0).fit_resample(X, y)
    >>> sorted(yr.tolist())
    ['a', 'a', 'b', 'b']
    """

    def __init__(self, random_state: RandomStateLike = None) -> None:
        self.random_state = random_state

    def _indices(self, y: NDArray, rng: np.random.Generator) -> NDArray[np.int64]:
        classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
        m = int(counts.min())
        return np.concatenate(
            [rng.choice(np.flatnonzero(inv == c), size=m, replace=False)
             for c in range(classes.size)]
        )


class RandomOverSampler(_BaseSampler):
    """Balance classes by adding samples drawn with replacement from the smaller classes.

    Every original sample is kept; each class is topped up to the majority count (the
    usual case is a majority of latent windows and fewer stimulus windows).

    Parameters
    ----------
    random_state : int, Generator or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10)[:, None]; y = np.array(["a"] * 8 + ["b"] * 2)
    >>> Xr, yr = RandomOverSampler(random_state=0).fit_resample(X, y)
    >>> int((yr == "a").sum()), int((yr == "b").sum())
    (8, 8)
    """

    def __init__(self, random_state: RandomStateLike = None) -> None:
        self.random_state = random_state

    def _indices(self, y: NDArray, rng: np.random.Generator) -> NDArray[np.int64]:
        classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
        m = int(counts.max())
        parts = [np.arange(y.size)]
        for c in range(classes.size):
            members = np.flatnonzero(inv == c)
            if m > members.size:
                parts.append(rng.choice(members, size=m - members.size, replace=True))
        return np.concatenate(parts)


class BootstrapSampler(_BaseSampler):
    """Draw ``n_samples`` samples with replacement (a bootstrap replicate).

    Parameters
    ----------
    n_samples : int, optional
        Size of the replicate; default the input size.
    stratify : bool, default=False
        Keep each class's share (draw within each class).
    random_state : int, Generator or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> Xr, yr = BootstrapSampler(random_state=0).fit_resample(np.arange(5)[:, None],
    ...                                                        np.array(list("aabbb")))
    >>> Xr.shape
    (5, 1)
    """

    def __init__(
        self,
        n_samples: int | None = None,
        *,
        stratify: bool = False,
        random_state: RandomStateLike = None,
    ) -> None:
        self.n_samples = n_samples
        self.stratify = stratify
        self.random_state = random_state

    def _indices(self, y: NDArray, rng: np.random.Generator) -> NDArray[np.int64]:
        n = y.size if self.n_samples is None else self.n_samples
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise SpikeDecodeValueError(f"n_samples == {n!r}, must be an integer >= 1.")
        if not self.stratify:
            return rng.integers(0, y.size, size=int(n))
        classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
        share = np.floor(counts / y.size * n).astype(int)
        # largest remainders get the leftover draws so that the total is exactly n
        rest = int(n - share.sum())
        order = np.argsort(-(counts / y.size * n - share), kind="stable")
        share[order[:rest]] += 1
        return np.concatenate(
            [rng.choice(np.flatnonzero(inv == c), size=int(k), replace=True)
             for c, k in enumerate(share)]
        )


def leakage_safe_cv(
    n_splits: int = 5, *, shuffle: bool = True, random_state: RandomStateLike = None
) -> StratifiedGroupKFold:
    """A stratified group k-fold: use it with ``groups=trial`` so no trial straddles a split.

    Parameters
    ----------
    n_splits : int, default=5
    shuffle : bool, default=True
    random_state : int or None
        Passed to ``StratifiedGroupKFold`` (a Generator is turned into an int seed).

    Returns
    -------
    sklearn.model_selection.StratifiedGroupKFold

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array(["a", "b"] * 10); g = np.repeat(np.arange(10), 2)
    >>> cv = leakage_safe_cv(5, random_state=0)
    >>> all(set(g[tr]).isdisjoint(g[te]) for tr, te in cv.split(y, y, g))
    True
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise SpikeDecodeValueError(f"n_splits == {n_splits!r}, must be an integer >= 2.")
    seed = None
    if shuffle:
        seed = (random_state if isinstance(random_state, (int, np.integer)) or random_state is None
                else int(check_generator(random_state).integers(2**31 - 1)))
    return StratifiedGroupKFold(n_splits=int(n_splits), shuffle=bool(shuffle), random_state=seed)


class BlockedTimeSplit:
    """Contiguous blocks in time as test folds, with a gap removed at the boundaries.

    The samples (assumed in time order) are cut into ``n_splits`` contiguous blocks; block
    ``k`` is the test set of split ``k`` and the training set is every other sample except
    the ``gap`` samples on each side of the block and, when ``groups`` is given, every
    sample whose group also occurs in the test block. So overlapping windows and windows of
    one trial never sit on both sides.

    Parameters
    ----------
    n_splits : int, default=5
    gap : int, default=0
        Samples dropped from training on each side of the test block; use at least
        ``n_bins - 1`` with stride-1 sliding windows so that no training window shares a
        bin with a test window.

    Examples
    --------
    >>> import numpy as np
    >>> cv = BlockedTimeSplit(n_splits=2, gap=1)
    >>> [(tr.tolist(), te.tolist()) for tr, te in cv.split(np.zeros((6, 1)))]
    [([4, 5], [0, 1, 2]), ([0, 1], [3, 4, 5])]
    """

    def __init__(self, n_splits: int = 5, *, gap: int = 0) -> None:
        self.n_splits = n_splits
        self.gap = gap

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of splits."""
        return int(self.n_splits)

    def __repr__(self) -> str:
        return f"BlockedTimeSplit(n_splits={self.n_splits}, gap={self.gap})"

    def split(
        self, X: Any, y: Any = None, groups: ArrayLike | None = None
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
        """Yield ``(train, test)`` index arrays.

        Parameters
        ----------
        X : array-like
            The samples, in time order (only their number is used).
        y : array-like, optional
            Ignored; present for scikit-learn compatibility.
        groups : array-like of shape (n_samples,), optional
            Trial of each sample: a trial in a test block is also removed from training.

        Yields
        ------
        train, test : ndarray of int64
            Indices of the training samples and of one contiguous test block.
        """
        k, gap = self.n_splits, self.gap
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise SpikeDecodeValueError(f"n_splits == {k!r}, must be an integer >= 2.")
        if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
            raise SpikeDecodeValueError(f"gap == {gap!r}, must be an integer >= 0 (samples).")
        n = _n_samples(X)
        if n < k:
            raise NotEnoughDataError(f"{n} samples cannot make n_splits == {k} blocks.")
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (n,):
                raise SpikeDecodeValueError(
                    f"groups has shape {groups.shape} but X has {n} samples."
                )
        bounds = np.linspace(0, n, k + 1).round().astype(np.int64)
        idx = np.arange(n)
        for i in range(k):
            a, b = int(bounds[i]), int(bounds[i + 1])
            test = idx[a:b]
            train_mask = (idx < a - gap) | (idx >= b + gap)
            if groups is not None:
                train_mask &= ~np.isin(groups, np.unique(groups[a:b]))
            yield idx[train_mask], test
