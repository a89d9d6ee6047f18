"""Samplers (imbalanced-learn style) and leakage-safe splitters.

Samplers balance or bootstrap the *training* fold only: ``fit_resample(X, y)`` returns
resampled copies, and with ``groups=`` the groups follow the samples so that a later
split still sees which windows belong together. A DataArray in gives a DataArray out.

Splitters never put windows of one trial (or one latent gap) on both sides of a split:
:func:`leakage_safe_cv` is scikit-learn's ``StratifiedGroupKFold`` to be used with
``groups=trial``; :class:`BlockedTimeSplit` cuts the recording into contiguous blocks in
time and removes ``gap`` samples (and every sample of a test group) from the training side.

This module is the one splitter family of the package: :func:`group_splits` (the folds of
the linear decoders' λ search and of the evaluation), :func:`grouped_validation_split`
(the early-stopping hold-out of the torch decoders) and :func:`leakage_safe_cv` all draw
their seed from ``random_state`` the same way (:func:`spikedecode._random.draw_seed`), so
``group_splits(y, g, k, s)`` equals ``leakage_safe_cv(k, random_state=s).split(y, y, g)``
whenever every class holds at least ``k`` groups. The one class-balanced bootstrap is
:func:`balanced_bootstrap_indices`; :class:`BootstrapSampler` draws through the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedGroupKFold

from spikedecode._random import RandomStateLike, check_generator, draw_seed
from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    ConfigError,
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)

__all__ = [
    "RandomUnderSampler",
    "RandomOverSampler",
    "BootstrapSampler",
    "balanced_bootstrap_indices",
    "leakage_safe_cv",
    "group_splits",
    "grouped_validation_split",
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


def _draw_per_class(
    members: list[NDArray[np.intp]], sizes: ArrayLike, rng: np.random.Generator
) -> NDArray[np.intp]:
    """Draw ``sizes[c]`` indices with replacement from ``members[c]``, class after class.

    The one bootstrap draw of the package: :func:`balanced_bootstrap_indices` and
    :class:`BootstrapSampler` (stratified or balanced) both go through it.
    """
    parts = [rng.choice(m, size=int(k), replace=True) for m, k in zip(members, sizes)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)


def _balanced_sizes(counts: NDArray[np.intp], n: int, size: Any) -> NDArray[np.intp]:
    """Per-class draw counts of a class-balanced bootstrap (see ``balanced_bootstrap_indices``)."""
    if size == "largest":
        per_class = int(counts.max())
    elif size == "fold":
        per_class = max(1, n // len(counts))
    else:
        raise ConfigError(f"size == {size!r}, must be 'largest' or 'fold'.")
    return np.full(len(counts), per_class, dtype=np.intp)


def balanced_bootstrap_indices(
    y: ArrayLike, random_state: RandomStateLike = None, *, size: str = "largest"
) -> NDArray[np.intp]:
    """Indices of a class-balanced bootstrap of ``y``, in random order.

    Every class is drawn with replacement the same number of times. Use it on a training
    fold only. ``BootstrapSampler(balance=size)`` draws the same indices (sorted).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    random_state : int, Generator, RandomState or None
    size : {"largest", "fold"}, default="largest"
        ``"largest"``: each class is drawn up to the size of the largest class
        (``n_classes * max_count`` indices, the seed study's bootstrap).
        ``"fold"``: each class is drawn ``n_samples // n_classes`` times, so the result
        is as large as ``y`` itself: balanced classes at the cost of an unbalanced epoch
        (2.7x fewer samples per epoch than "largest" on a session where 67 % of the
        windows are latent).

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> idx = balanced_bootstrap_indices(["a", "a", "a", "b"], random_state=0)
    >>> len(idx), sorted(set(np.asarray(["a", "a", "a", "b"])[idx].tolist()))
    (6, ['a', 'b'])
    >>> len(balanced_bootstrap_indices(["a", "a", "a", "b"], random_state=0, size="fold"))
    4
    """
    rng = check_generator(random_state)
    y = np.asarray(y)
    classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    members = [np.flatnonzero(inv == c) for c in range(classes.size)]
    idx = _draw_per_class(members, _balanced_sizes(counts, y.size, size), rng)
    return rng.permutation(idx)


class BootstrapSampler(_BaseSampler):
    """Draw ``n_samples`` samples with replacement (a bootstrap replicate).

    Parameters
    ----------
    n_samples : int, optional
        Size of the replicate; default the input size. Not with ``balance``.
    stratify : bool, default=False
        Keep each class's share (draw within each class).
    balance : bool or {"largest", "fold"}, default=False
        A class-balanced bootstrap instead (every class drawn equally often): ``True`` or
        ``"largest"`` draws each class up to the largest class's size, ``"fold"`` keeps the
        input size; the same draw as :func:`balanced_bootstrap_indices`.
    random_state : int, Generator or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> Xr, yr = BootstrapSampler(random_state=0).fit_resample(np.arange(5)[:, None],
    ...                                                        np.array(list("aabbb")))
    >>> Xr.shape
    (5, 1)
    >>> _, yb = BootstrapSampler(balance=True, random_state=0).fit_resample(
    ...     np.arange(5)[:, None], np.array(list("aabbb")))
    >>> sorted(yb.tolist())
    ['a', 'a', 'a', 'b', 'b', 'b']
    """

    def __init__(
        self,
        n_samples: int | None = None,
        *,
        stratify: bool = False,
        balance: bool | str = False,
        random_state: RandomStateLike = None,
    ) -> None:
        self.n_samples = n_samples
        self.stratify = stratify
        self.balance = balance
        self.random_state = random_state

    def _indices(self, y: NDArray, rng: np.random.Generator) -> NDArray[np.int64]:
        if self.balance is not False:
            check_param(self.balance, "balance", Options(True, "largest", "fold"))
            if self.n_samples is not None or self.stratify:
                raise ConfigError("balance draws every class equally often; leave n_samples "
                                  "None and stratify False with it.")
            size = "fold" if self.balance == "fold" else "largest"
            classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
            members = [np.flatnonzero(inv == c) for c in range(classes.size)]
            return _draw_per_class(members, _balanced_sizes(counts, y.size, size), rng)
        n = y.size if self.n_samples is None else self.n_samples
        n = check_param(n, "n_samples", Interval(Integral, 1, None))
        if not self.stratify:
            return rng.integers(0, y.size, size=int(n))
        classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
        share = np.floor(counts / y.size * n).astype(int)
        # largest remainders get the leftover draws so that the total is exactly n
        rest = int(n - share.sum())
        order = np.argsort(-(counts / y.size * n - share), kind="stable")
        share[order[:rest]] += 1
        members = [np.flatnonzero(inv == c) for c in range(classes.size)]
        return _draw_per_class(members, share, rng)


def leakage_safe_cv(
    n_splits: int = 5, *, shuffle: bool = True, random_state: RandomStateLike = None
) -> StratifiedGroupKFold:
    """A stratified group k-fold: use it with ``groups=trial`` so no trial straddles a split.

    Parameters
    ----------
    n_splits : int, default=5
    shuffle : bool, default=True
    random_state : int, Generator, RandomState or None
        The splitter's seed is drawn from it with :func:`spikedecode._random.draw_seed`,
        as :func:`group_splits` does (so both give the same folds for the same
        ``random_state``); ``None`` draws one from numpy's global RNG.

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
    n_splits = check_param(n_splits, "n_splits", Interval(Integral, 2, None))
    seed = draw_seed(random_state) if shuffle else None
    return StratifiedGroupKFold(n_splits=int(n_splits), shuffle=bool(shuffle), random_state=seed)


def group_splits(
    y: ArrayLike, groups: ArrayLike | None, n_splits: int = 5,
    random_state: RandomStateLike = None,
) -> list[tuple[NDArray[np.intp], NDArray[np.intp]]]:
    """Leakage-safe K-fold splits: stratified by class, each group on one side only.

    Falls back to fewer folds when there are fewer groups (or class members) than
    ``n_splits``; without ``groups`` samples are treated as independent. The folds of the
    linear decoders' λ search and of ``evaluation``'s cross-validated scores.

    Parameters
    ----------
    y : array-like (n_samples,)
    groups : array-like (n_samples,) or None
        Trial ids; windows of one trial never sit on both sides.
    n_splits : int, default=5
    random_state : int, Generator, RandomState or None
        Seed drawn with :func:`spikedecode._random.draw_seed`.

    Returns
    -------
    list of (train_idx, test_idx)

    Raises
    ------
    NotEnoughDataError
        Fewer than 2 groups (or 2 samples per class) to split.

    Examples
    --------
    >>> y = np.repeat([0, 1], 20); g = np.repeat(np.arange(8), 5)
    >>> splits = group_splits(y, g, 4, random_state=0)
    >>> all(set(g[tr]).isdisjoint(g[te]) for tr, te in splits)
    True
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    seed = draw_seed(random_state)
    idx = np.arange(len(y))
    if groups is None:
        _, counts = np.unique(y, return_counts=True)
        k = int(min(n_splits, counts.min()))
        if k < 2:
            raise NotEnoughDataError(
                f"the smallest class has {counts.min()} sample(s); cross-validation needs >= 2."
            )
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y))
    groups = np.asarray(groups)
    if len(groups) != len(y):
        raise SpikeDecodeValueError(f"groups has {len(groups)} entries but y has {len(y)}.")
    # k <= the number of groups holding the rarest class
    per_class = [len(np.unique(groups[y == c])) for c in np.unique(y)]
    k = int(min(n_splits, min(per_class), len(np.unique(groups))))
    if k < 2:
        raise NotEnoughDataError(
            f"only {min(per_class)} group(s) (trials) hold the rarest class; grouped "
            "cross-validation needs >= 2 per class. Record more trials or merge labels."
        )
    splits = StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, y, groups)
    return [(tr, te) for tr, te in splits if len(te) and len(tr)]


def grouped_validation_split(
    y: ArrayLike, groups: ArrayLike | None, fraction: float,
    random_state: RandomStateLike = None,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Split sample indices into (train, validation) keeping each group on one side.

    With ``groups`` (e.g. trial ids) whole groups go to validation, so overlapping windows
    of one trial never sit on both sides; without, a stratified split of samples. Returns
    an empty validation set when the data are too small to hold one out (fewer than 10
    samples, fewer than 4 groups, or a class with a single sample). The early-stopping
    hold-out of the torch decoders.

    Parameters
    ----------
    y : array-like (n_samples,)
    groups : array-like (n_samples,) or None
    fraction : float
        Share of the groups (or samples) held out; 0 gives an empty validation set.
    random_state : int, Generator, RandomState or None
        Seed drawn with :func:`spikedecode._random.draw_seed`.

    Returns
    -------
    train_idx, val_idx : ndarray of int, sorted

    Examples
    --------
    >>> tr, va = grouped_validation_split([0, 0, 1, 1] * 5, np.repeat(np.arange(10), 2),
    ...                                   0.2, random_state=0)
    >>> set(np.repeat(np.arange(10), 2)[tr]).isdisjoint(np.repeat(np.arange(10), 2)[va])
    True
    """
    from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

    y = np.asarray(y)
    n = len(y)
    everything = np.arange(n)
    empty = np.zeros(0, dtype=np.intp)
    if not fraction or fraction <= 0 or n < 10:
        return everything, empty
    seed = draw_seed(random_state)
    if groups is not None:
        groups = np.asarray(groups)
        if len(np.unique(groups)) < 4:
            return everything, empty
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        tr, va = next(splitter.split(everything, y, groups))
    else:
        _, counts = np.unique(y, return_counts=True)
        n_val = int(np.ceil(fraction * n))
        if counts.min() < 2 or n_val < len(counts) or n - n_val < len(counts):
            return everything, empty
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        tr, va = next(splitter.split(everything, y))
    return np.sort(tr), np.sort(va)


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
        k = check_param(k, "n_splits", Interval(Integral, 2, None))
        gap = check_param(gap, "gap", Interval(Integral, 0, None), hint="It counts samples.")
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
