"""Leakage-safe evaluation of aligners: leave-one-day-out and the cross-day matrix.

The honest protocol (the default, and the only one allowed without an explicit opt-in):
an aligner that uses labels or condition averages of a day fits them on trials of that
day that are then NOT used to test it. The day's trials are split into ``n_splits``
label-stratified folds; the aligner is adapted on all folds but one and tested on the
remaining one, for every fold, and the predictions are pooled. Building a day's
condition averages from the very trials it is tested on leaks their labels into the
features (and can beat the within-day ceiling): ``protocol="leaky"`` does exactly that,
raises :class:`LeakageError` unless ``allow_leakage=True``, and then flags the result.

These functions follow the protocol that ``spikedecode.evaluation`` uses for its
``aligner=`` argument; they live here so that the aligners can be checked on their own.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone

from spikedecode._random import RandomStateLike, draw_seed
from spikedecode.errors import (
    ConfigError,
    LabelError,
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
)

__all__ = [
    "DayData",
    "LeakageError",
    "LeakageWarning",
    "trial_bins",
    "condition_keys",
    "check_disjoint",
    "default_decoder",
    "within_day_accuracy",
    "leave_one_day_out",
    "cross_day_matrix",
]


class LeakageError(SpikeDecodeValueError):
    """A day's alignment was fitted on trials that are also used to test it."""


class LeakageWarning(SpikeDecodeWarning):
    """A result was computed with the leaky protocol (for demonstration only)."""


@dataclass
class DayData:
    """One day's samples for alignment and decoding.

    Attributes
    ----------
    X : ndarray (n_samples, n_features)
    labels : ndarray (n_samples,)
        Stimulus label of each sample (the decoding target).
    t_rel : ndarray (n_samples,)
        Time of the sample relative to stimulus onset (s).
    trial : ndarray (n_samples,)
        Trial of each sample: samples of one trial never sit on both sides of a split.
    units : list of str
        Unit id of each feature.
    """

    X: NDArray[np.float64]
    labels: NDArray[Any]
    t_rel: NDArray[np.float64]
    trial: NDArray[np.int64]
    units: list[str]

    def keys(self, uses_time: bool = True) -> NDArray[Any]:
        """Condition keys: ``"label@t_rel"`` when ``uses_time``, else the labels."""
        return condition_keys(self.labels, self.t_rel if uses_time else None)

    def subset(self, mask: NDArray[np.bool_]) -> DayData:
        """The samples where ``mask`` is True."""
        return DayData(self.X[mask], self.labels[mask], self.t_rel[mask], self.trial[mask],
                       self.units)


def condition_keys(labels: Any, t_rel: Any = None, *, decimals: int = 3) -> NDArray[Any]:
    """Condition keys per sample: ``"label@t"`` (t rounded) or the labels alone.

    Examples
    --------
    >>> condition_keys(["a", "b"], [0.0, 0.0251]).tolist()
    ['a@0.000', 'b@0.025']
    """
    lab = np.asarray(labels).astype(str)
    if t_rel is None:
        return lab
    t = np.round(np.asarray(t_rel, dtype=np.float64), decimals)
    t = np.where(t == 0, 0.0, t)  # no "-0.000"
    return np.array([f"{a}@{b:.{decimals}f}" for a, b in zip(lab.tolist(), t.tolist())])


def trial_bins(rec: Any, *, bin_size: float = 0.1, t_window: tuple[float, float] = (0.0, 0.5),
               labels: Sequence[str] | None = None) -> DayData:
    """Spike counts per unit in bins aligned to every stimulus onset (one sample per bin).

    Parameters
    ----------
    rec : Recording (xarray.Dataset)
    bin_size : float, default=0.1
        Bin width (s); bins are ``[start, start + bin_size)``.
    t_window : (float, float), default=(0.0, 0.5)
        Window relative to each epoch's start.
    labels : sequence of str, optional
        Keep only epochs with these labels (default all).

    Returns
    -------
    DayData
        ``X`` has ``n_epochs * n_bins`` rows and one column per unit.

    Examples
    --------
    >>> from spikedecode.recording import from_spiketrains
    >>> rec = from_spiketrains({"a": [1.05, 1.15, 3.01], "b": [1.5]}, t_stop=5.0,
    ...                        epochs=[(1.0, 2.0, "x"), (3.0, 4.0, "y")])
    >>> d = trial_bins(rec, bin_size=0.1, t_window=(0.0, 0.2))
    >>> d.X.tolist(), d.labels.tolist()
    ([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], ['x', 'x', 'y', 'y'])
    """
    if not bin_size > 0:
        raise ConfigError(f"bin_size == {bin_size!r}, must be > 0.")
    t0, t1 = float(t_window[0]), float(t_window[1])
    n_bins = int(round((t1 - t0) / bin_size))
    if n_bins < 1:
        raise ConfigError(f"t_window == {t_window!r} holds no bin of {bin_size} s.")
    starts = np.asarray(rec["epoch_start"].values, dtype=np.float64)
    labs = np.asarray(rec["epoch_label"].values).astype(str)
    if labels is not None:
        keep = np.isin(labs, np.asarray(labels, dtype=str))
        starts, labs = starts[keep], labs[keep]
    if starts.size == 0:
        raise NotEnoughDataError("the recording has no epoch with the requested labels "
                                 f"{labels!r}.")
    edges = starts[:, None] + t0 + bin_size * np.arange(n_bins + 1)[None, :]
    times = np.asarray(rec["spike_time"].values, dtype=np.float64)
    unit_idx = np.asarray(rec["spike_unit"].values)
    unit_ids = [str(u) for u in rec["unit"].values]
    X = np.zeros((starts.size, n_bins, len(unit_ids)))
    for u in range(len(unit_ids)):
        st = np.sort(times[unit_idx == u])
        c = np.searchsorted(st, edges.ravel(), side="left").reshape(edges.shape)
        X[:, :, u] = np.diff(c, axis=1)
    t_rel = np.tile(t0 + bin_size * np.arange(n_bins), starts.size)
    trial = np.repeat(np.arange(starts.size), n_bins)
    return DayData(X.reshape(-1, len(unit_ids)), np.repeat(labs, n_bins), t_rel, trial,
                   unit_ids)


def check_disjoint(fit_trials: Any, test_trials: Any, *, day: Hashable = None) -> None:
    """Raise :class:`LeakageError` when a trial is used both to fit a day's alignment and
    to test it.

    Examples
    --------
    >>> check_disjoint([0, 1], [2, 3])
    >>> check_disjoint([0, 1], [1, 2])
    Traceback (most recent call last):
    ...
    spikedecode.align.evaluate.LeakageError: day None: 1 trial(s) ...
    """
    both = np.intersect1d(np.asarray(fit_trials), np.asarray(test_trials))
    if both.size:
        raise LeakageError(
            f"day {day!r}: {both.size} trial(s) (e.g. {both[:5].tolist()}) are used both to "
            "fit the day's alignment and to test it; split the day's trials (honest protocol) "
            "or pass protocol='leaky', allow_leakage=True to measure the leak on purpose."
        )


def default_decoder(random_state: RandomStateLike = None) -> Any:
    """Standardized multinomial logistic regression (the decoder used by the evaluation)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def _trial_folds(data: DayData, n_splits: int, seed: int, day: Hashable) -> NDArray[np.int64]:
    """Fold of every sample: label-stratified folds of whole trials."""
    trials, first = np.unique(data.trial, return_index=True)
    tlab = data.labels[first]
    rng = np.random.default_rng(seed)
    fold_of_trial = np.empty(trials.size, dtype=np.int64)
    for lab in np.unique(tlab):
        idx = np.flatnonzero(tlab == lab)
        if idx.size < n_splits:
            raise NotEnoughDataError(
                f"day {day!r} has {idx.size} trial(s) of label {lab!r}; need >= n_splits "
                f"({n_splits}) to split its trials.")
        idx = rng.permutation(idx)
        fold_of_trial[idx] = np.arange(idx.size) % n_splits
    pos = np.searchsorted(trials, data.trial)
    return fold_of_trial[pos]


def _check_days(days: Any) -> dict[Hashable, DayData]:
    if not isinstance(days, Mapping) or len(days) < 2:
        raise SpikeDecodeTypeError("days must be a mapping day -> DayData with >= 2 days; got "
                                   f"{type(days).__name__}"
                                   + (f" of {len(days)}" if isinstance(days, Mapping) else "")
                                   + ".")
    for d, v in days.items():
        if not isinstance(v, DayData):
            raise SpikeDecodeTypeError(f"days[{d!r}] must be a DayData (see trial_bins); got "
                                       f"{type(v).__name__}.")
    return dict(days)


def _fit_aligner(aligner: Any, days: Mapping[Hashable, DayData]) -> Any:
    al = clone(aligner)
    y = {d: v.keys(al.uses_time) for d, v in days.items()} if al.uses_labels else None
    return al.fit({d: v.X for d, v in days.items()}, y)


def within_day_accuracy(data: DayData, *, decoder: Any = None, n_splits: int = 5,
                        random_state: RandomStateLike = None) -> float:
    """Cross-validated decoding accuracy within one day (folds of whole trials).

    This is the ceiling the aligned cross-day accuracies are compared with.
    """
    dec = decoder if decoder is not None else default_decoder()
    folds = _trial_folds(data, n_splits, draw_seed(random_state), None)
    correct = 0
    for f in range(n_splits):
        tr, te = folds != f, folds == f
        model = clone(dec).fit(data.X[tr], data.labels[tr])
        correct += int(np.sum(model.predict(data.X[te]) == data.labels[te]))
    return correct / len(data.labels)


def leave_one_day_out(
    days: Mapping[Hashable, DayData],
    aligner: Any,
    *,
    decoder: Any = None,
    protocol: str = "honest",
    allow_leakage: bool = False,
    n_splits: int = 2,
    held_out: Sequence[Hashable] | None = None,
    random_state: RandomStateLike = None,
) -> dict[str, Any]:
    """Train a decoder on the aligned other days, test it on the held-out day.

    For every held-out day: the aligner is fitted on the other days (their labels are
    training data), a decoder is trained on their aligned samples; the held-out day is
    added with ``adapt`` on ``n_splits - 1`` folds of its trials and decoded on the
    remaining fold, for each fold in turn (honest protocol).

    Parameters
    ----------
    days : mapping day -> DayData
    aligner : DayAligner
        An unfitted aligner (cloned for every held-out day).
    decoder : sklearn classifier, optional
        Default :func:`default_decoder`.
    protocol : {"honest", "leaky"}, default="honest"
        "leaky" adapts the held-out day on all its trials and tests on the same trials.
    allow_leakage : bool, default=False
        Needed for ``protocol="leaky"``; the result then carries ``leaky=True`` and a
        :class:`LeakageWarning` is issued.
    n_splits : int, default=2
        Folds of the held-out day's trials (2: fit on one half, test the other, swap).
    held_out : sequence of days, optional
        Days to hold out (default all).
    random_state : int or None

    Returns
    -------
    dict
        ``accuracy`` (day -> float), ``mean_accuracy``, ``protocol``, ``leaky``,
        ``aligner`` (name), ``uses_labels``.

    Raises
    ------
    LeakageError
        ``protocol="leaky"`` without ``allow_leakage=True``.
    """
    days = _check_days(days)
    if protocol not in ("honest", "leaky"):
        raise ConfigError(f"protocol == {protocol!r}, must be 'honest' or 'leaky'.")
    if protocol == "leaky" and not allow_leakage:
        raise LeakageError(
            "protocol='leaky' fits the held-out day's alignment on the trials it is tested on "
            "(labels leak through condition averages); pass allow_leakage=True to measure the "
            "leak on purpose, or use protocol='honest'.")
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ConfigError(f"n_splits == {n_splits!r}, must be an integer >= 2.")
    if protocol == "leaky":
        warnings.warn("leave_one_day_out(protocol='leaky'): the held-out days' alignment sees "
                      "their test trials; the accuracies are optimistic.", LeakageWarning,
                      stacklevel=2)
    seed = draw_seed(random_state)
    dec = decoder if decoder is not None else default_decoder()
    targets = list(held_out) if held_out is not None else list(days)
    acc: dict[Hashable, float] = {}
    for d in targets:
        if d not in days:
            raise ConfigError(f"held_out day {d!r} is not one of {list(days)[:12]}.")
        train_days = {t: v for t, v in days.items() if t != d}
        al = _fit_aligner(aligner, train_days)
        Z = np.concatenate([al.transform(v.X, day=t) for t, v in train_days.items()])
        lab = np.concatenate([v.labels for v in train_days.values()])
        model = clone(dec).fit(Z, lab)
        data = days[d]
        unknown = set(np.unique(data.labels).tolist()) - set(np.unique(lab).tolist())
        if unknown:
            raise LabelError(f"held-out day {d!r} has labels {sorted(unknown)} never seen on "
                             "the training days.")
        y_all = data.keys(al.uses_time) if al.uses_labels else None
        if protocol == "leaky":
            a = copy.deepcopy(al).adapt(data.X, y_all, day=d)
            acc[d] = float(np.mean(model.predict(a.transform(data.X, day=d)) == data.labels))
            continue
        folds = _trial_folds(data, n_splits, seed, d)
        correct = 0
        for f in range(n_splits):
            fit_m, test_m = folds != f, folds == f
            check_disjoint(data.trial[fit_m], data.trial[test_m], day=d)
            a = copy.deepcopy(al).adapt(data.X[fit_m], None if y_all is None else y_all[fit_m],
                                        day=d)
            pred = model.predict(a.transform(data.X[test_m], day=d))
            correct += int(np.sum(pred == data.labels[test_m]))
        acc[d] = correct / len(data.labels)
    return {"accuracy": acc, "mean_accuracy": float(np.mean(list(acc.values()))),
            "protocol": protocol, "leaky": protocol == "leaky",
            "aligner": type(aligner).__name__, "uses_labels": bool(aligner.uses_labels)}


def cross_day_matrix(
    days: Mapping[Hashable, DayData],
    aligner: Any,
    *,
    decoder: Any = None,
    n_splits: int = 2,
    random_state: RandomStateLike = None,
) -> tuple[NDArray[np.float64], list[Hashable]]:
    """Accuracy of a decoder trained on day i (row) and tested on day j (column).

    Honest by construction: every day's trials are split into label-stratified folds;
    for each fold, the aligner is fitted on all days' *other* folds, decoders are trained
    on those aligned samples of day i and tested on the held-out fold of day j (also on
    the diagonal). Counts are pooled over folds.

    Returns
    -------
    matrix : ndarray (n_days, n_days)
    days : list
        Row/column order.
    """
    days = _check_days(days)
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ConfigError(f"n_splits == {n_splits!r}, must be an integer >= 2.")
    seed = draw_seed(random_state)
    dec = decoder if decoder is not None else default_decoder()
    order = list(days)
    folds = {d: _trial_folds(v, n_splits, seed, d) for d, v in days.items()}
    correct = np.zeros((len(order), len(order)))
    total = np.zeros((len(order), len(order)))
    for f in range(n_splits):
        fit = {d: days[d].subset(folds[d] != f) for d in order}
        test = {d: days[d].subset(folds[d] == f) for d in order}
        for d in order:
            check_disjoint(fit[d].trial, test[d].trial, day=d)
        al = _fit_aligner(aligner, fit)
        Zte = {d: al.transform(test[d].X, day=d) for d in order}
        for i, di in enumerate(order):
            model = clone(dec).fit(al.transform(fit[di].X, day=di), fit[di].labels)
            for j, dj in enumerate(order):
                correct[i, j] += np.sum(model.predict(Zte[dj]) == test[dj].labels)
                total[i, j] += len(test[dj].labels)
    return correct / total, order
