"""Cross-day decoding: train on day i, test on day j; leave-one-day-out; consistency score.

The one cross-day evaluation stack of the package. Days are a mapping ``day -> Windows``
(labelled ``(sample, lag, unit)`` DataArrays from ``preprocess.make_windows``,
``trial_windows`` or ``epoch_bins``) or ``day -> (X, y, groups)`` tuples (optionally a
fourth element, ``t_rel``).

Without an aligner the days are decoded in the space of the units they share. Units are
matched by their ids, never by position: Windows of different days are restricted to
the ``unit`` ids found on every day (identical ids on two days mean the same neuron, the
convention of the Recording format; ids numbered per session, 0..n-1, are *not* the same
neurons: pass an aligner for those). Days that share no unit id, or tuples (which carry
no ids) of different widths, raise :class:`~spikedecode.errors.NotEnoughDataError`
asking for an aligner. Tuples of one width are taken to hold the same units in the same
order.

With an aligner (the DayAligner protocol of ``spikedecode.align.base``) the call
sequence is exactly:

* training days: ``al = sklearn.base.clone(aligner); al.fit({d: X_d}, y={d: c_d})``,
  then ``Z = al.transform(X, day=d)`` and the decoder is fit on ``Z``. ``c_d`` are
  condition keys (:func:`condition_keys`): the *condition* of each sample (by default
  its decoded label; see ``conditions=``), or ``f"{condition}@{t_rel:.3f}"`` when
  ``getattr(al, "uses_time", False)``. ``getattr(al, "uses_labels", True)`` False
  means label-free: ``fit`` and ``adapt`` get ``y=None``. An aligner with a ``units``
  parameter (``FactorAnalysisStabilizer``) also gets ``units=`` (the unit id of every
  feature) when the days are Windows.
* a held-out test day, honest protocol (the default): its trials are split into
  ``adapt_folds`` label-stratified folds of whole trials
  (``preprocess.resample.group_splits``); for each fold, a copy of the fitted aligner is
  adapted (``al.adapt(X_fit, y=c_fit, day=d)``) on the other folds and the decoder is
  tested on this one (:func:`check_disjoint` guards every fold); predictions are
  pooled. ``protocol="leaky"`` (leave-one-day-out only, with ``allow_leakage=True``)
  adapts on all trials of the day and tests on the same trials: a demonstration of
  the leak, flagged in the result.
* the diagonal (train and test on one day) is a grouped K-fold in which the aligner is
  fit on the training fold only.

Independent fits (one per training day) run in-process, one after the other, by
default (scikit-learn's convention: a library call starts no workers unless asked). They
run on Dask when asked: ``n_jobs=k`` (k > 1, or -1 for every core) or
``scheduler="local"`` start a ``dask.distributed`` ``LocalCluster`` of single-threaded
workers for the call; ``scheduler="tcp://host:port"`` (or a ``Client``) uses an existing
cluster. Seeds are fixed per task before submission, so every scheduler gives the same
numbers. (The ``spikedecode consistency`` command starts a local cluster by default.)
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from sklearn.base import clone

from spikedecode._random import RandomStateLike, draw_seed
from spikedecode.errors import (
    ConfigError,
    DataDroppedWarning,
    NotEnoughDataError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
)
from spikedecode.evaluation.metrics import _fit, _metric, cross_val_predictions, set_seed
from spikedecode.preprocess.resample import group_splits

__all__ = [
    "cross_day_matrix",
    "leave_one_day_out",
    "consistency_score",
    "prepare_days",
    "condition_keys",
    "check_disjoint",
    "LeakageError",
    "LeakageWarning",
    "BelowMajorityWarning",
    "run_tasks",
]

_PROTOCOLS = ("honest", "leaky")


class LeakageError(SpikeDecodeValueError):
    """A day's alignment was fitted on trials that are also used to test it.

    A :class:`~spikedecode.errors.SpikeDecodeValueError` (so also a ``ValueError``),
    raised by :func:`check_disjoint` and by the honest protocol of
    :func:`cross_day_matrix`.

    Examples
    --------
    >>> issubclass(LeakageError, ValueError)
    True
    >>> try:
    ...     check_disjoint([0, 1], [1, 2], day="d1")
    ... except LeakageError as err:
    ...     print(str(err)[:23])
    day 'd1': 1 trial(s) (e
    """


class LeakageWarning(SpikeDecodeWarning):
    """A result was computed with the leaky protocol (for demonstration only).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("leaky protocol", LeakageWarning)
    >>> caught[0].category is LeakageWarning, issubclass(LeakageWarning, UserWarning)
    (True, True)
    """


class BelowMajorityWarning(SpikeDecodeWarning):
    """A cross-day pair scores below its test day's majority rate (or its classes swap).

    Issued once per :func:`cross_day_matrix` call; the flagged pairs are in the result's
    ``below_majority`` and ``inverted`` coordinates.

    Examples
    --------
    >>> issubclass(BelowMajorityWarning, UserWarning)
    True
    """


def check_disjoint(fit_trials: Any, test_trials: Any, *, day: Hashable = None) -> None:
    """Raise :class:`LeakageError` when a trial is used both to fit a day's alignment and
    to test it.

    Parameters
    ----------
    fit_trials : array-like
        Trial ids used to fit the day's alignment.
    test_trials : array-like
        Trial ids used to test it.
    day : hashable, optional
        The day's name, quoted in the error message.

    Raises
    ------
    LeakageError
        If ``fit_trials`` and ``test_trials`` share a trial.

    Examples
    --------
    >>> check_disjoint([0, 1], [2, 3])
    >>> check_disjoint([0, 1], [1, 2])
    Traceback (most recent call last):
    ...
    spikedecode.evaluation.consistency.LeakageError: day None: 1 trial(s) ...
    """
    both = np.intersect1d(np.asarray(fit_trials), np.asarray(test_trials))
    if both.size:
        raise LeakageError(
            f"day {day!r}: {both.size} trial(s) (e.g. {both[:5].tolist()}) are used both to "
            "fit the day's alignment and to test it; split the day's trials (honest protocol) "
            "or pass protocol='leaky', allow_leakage=True to measure the leak on purpose."
        )


# ------------------------------------------------------------------- data preparation
def prepare_days(days: Mapping[Hashable, Any], *, shared_units: bool = True,
                 conditions: str | Mapping[Hashable, Any] | None = None
                 ) -> dict[Hashable, dict[str, Any]]:
    """Turn ``day -> Windows`` (or ``(X, y, groups[, t_rel])``) into numpy per day.

    Parameters
    ----------
    days : mapping
    shared_units : bool, default=True
        Decode without an aligner: restrict Windows to the unit ids present on every
        day (in sorted order; warns with :class:`~spikedecode.errors.DataDroppedWarning`
        when units are dropped), and require every day to have the same number of
        features. Units are matched by id, never by position (see the module docstring).
    conditions : None, str or mapping day -> array, default=None
        The per-sample condition each sample's alignment key is built from. None: the
        decoded label. A str: the name of a per-sample coordinate of every day's Windows
        (e.g. ``"stimulus"`` when decoding a coarser ``label``). A mapping: one array of
        per-sample conditions per day (Windows or tuples).

    Returns
    -------
    dict
        day -> ``{"X": (sample, lag*unit) float32, "y", "groups", "t_rel", "cond",
        "n_lags", "units"}``; ``units`` is the unit id of every feature (lag-major, as
        ``X``) for Windows, None for tuples.

    Raises
    ------
    NotEnoughDataError
        ``shared_units`` and the days share no unit id (or tuples of different widths):
        an aligner is needed.

    Examples
    --------
    >>> X = np.zeros((4, 2)); y = np.array(["a", "b", "a", "b"]); g = np.arange(4)
    >>> d = prepare_days({0: (X, y, g), 1: (X, y, g)}, conditions={0: y, 1: y})
    >>> d[1]["X"].shape, d[1]["cond"].tolist()
    ((4, 2), ['a', 'b', 'a', 'b'])
    """
    if not isinstance(days, Mapping) or len(days) == 0:
        raise SpikeDecodeTypeError(
            f"days must be a non-empty mapping day -> Windows; got {type(days).__name__}."
        )
    if conditions is not None and not isinstance(conditions, (str, Mapping)):
        raise SpikeDecodeTypeError(
            f"conditions must be None, the name of a per-sample coordinate of the Windows or "
            f"a mapping day -> per-sample array; got {type(conditions).__name__}."
        )
    windows = {d: w for d, w in days.items() if isinstance(w, xr.DataArray)}
    keep = None
    if shared_units and windows and all("unit" in w.coords for w in windows.values()):
        sets = [set(w["unit"].values.tolist()) for w in windows.values()]
        keep = sorted(set.intersection(*sets))
        if not keep:
            raise NotEnoughDataError(
                "the days share no unit ids (units are matched by id, never by position); "
                "pass an aligner (e.g. aligner=spikedecode.align.get_aligner('cca')) to "
                "decode across days."
            )
        dropped = {d: len(s) - len(keep) for d, s in zip(windows, sets) if len(s) > len(keep)}
        if dropped:
            warnings.warn(
                f"kept the {len(keep)} units shared by all days; dropped per day: {dropped}.",
                DataDroppedWarning, stacklevel=3,
            )
    out: dict[Hashable, dict[str, Any]] = {}
    for d, w in days.items():
        if isinstance(w, xr.DataArray):
            from spikedecode.preprocess import to_sequences

            if keep is not None:
                w = w.sel(unit=keep)
            X3, y, g = to_sequences(w)
            if g is None and "target_channels" in w.attrs:  # target_windows: one per sample
                g = np.arange(len(X3), dtype=np.int64)
            if y is None or g is None:
                raise SpikeDecodeValueError(
                    f"the Windows of day {d!r} have no label/trial coords; label them with "
                    "preprocess.label_windows first."
                )
            t_rel = (w["t_rel"].values.astype(float) if "t_rel" in w.coords
                     else np.zeros(len(y)))
            res = float(w.attrs.get("bin_size", 0.0)) * int(w.attrs.get("step", 1))
            if res > 0:  # onsets are off the bin grid: quantise so keys match across trials
                t_rel = np.round(t_rel / res) * res
            n_lags = int(X3.shape[1])
            units = (np.tile(np.asarray(w["unit"].values), n_lags).tolist()
                     if "unit" in w.coords else None)
            out[d] = {"X": X3.reshape(len(X3), -1), "y": np.asarray(y), "groups": g,
                      "t_rel": t_rel, "n_lags": n_lags, "units": units}
        elif isinstance(w, (tuple, list)) and len(w) in (3, 4):
            X = np.asarray(w[0], dtype=np.float32)
            n_lags = int(X.shape[1]) if X.ndim == 3 else 1
            X = X.reshape(len(X), -1)
            y, g = np.asarray(w[1]), np.asarray(w[2])
            t_rel = np.asarray(w[3], float) if len(w) == 4 else np.zeros(len(y))
            if not (len(X) == len(y) == len(g) == len(t_rel)):
                raise SpikeDecodeValueError(
                    f"day {d!r}: X, y, groups (and t_rel) must have one entry per sample; got "
                    f"{len(X)}, {len(y)}, {len(g)}, {len(t_rel)}."
                )
            out[d] = {"X": X, "y": y, "groups": g, "t_rel": t_rel, "n_lags": n_lags,
                      "units": None}
        else:
            raise SpikeDecodeTypeError(
                f"day {d!r} must be a Windows DataArray or an (X, y, groups) tuple; got "
                f"{type(w).__name__}."
            )
        out[d]["cond"] = _conditions_of(conditions, d, w, out[d]["y"])
    if shared_units:
        widths = {d: v["X"].shape[1] for d, v in out.items()}
        if len(set(widths.values())) > 1:
            raise NotEnoughDataError(
                f"without an aligner the days must share their units, but they have "
                f"different numbers of features {widths} and no unit ids to match them by "
                "(tuples carry none); pass Windows with 'unit' coords, or an aligner (e.g. "
                "aligner=spikedecode.align.get_aligner('cca')) to decode across days."
            )
    return out


def _conditions_of(conditions: Any, day: Hashable, w: Any, y: NDArray) -> NDArray:
    """The per-sample conditions of one day (see :func:`prepare_days`)."""
    if conditions is None:
        return y
    if isinstance(conditions, str):
        if not isinstance(w, xr.DataArray):
            raise SpikeDecodeTypeError(
                f"conditions == {conditions!r} names a coordinate of the Windows, but day "
                f"{day!r} is a {type(w).__name__}; pass conditions as a mapping day -> "
                "per-sample array for tuples."
            )
        if conditions not in w.coords or w[conditions].dims != ("sample",):
            raise SpikeDecodeValueError(
                f"conditions == {conditions!r}: the Windows of day {day!r} have no per-sample "
                f"coordinate of that name; their coords are {sorted(map(str, w.coords))}."
            )
        return np.asarray(w[conditions].values)
    if day not in conditions:
        raise SpikeDecodeValueError(
            f"conditions has no entry for day {day!r}; give one per-sample array per day "
            f"(days: {list(conditions)[:12]})."
        )
    c = np.asarray(conditions[day])
    if c.shape != (len(y),):
        raise SpikeDecodeValueError(
            f"conditions[{day!r}] has shape {c.shape}; need one condition per sample, "
            f"({len(y)},)."
        )
    return c


def condition_keys(labels: Any, t_rel: Any = None, *, decimals: int = 3) -> NDArray:
    """Per-sample condition keys: ``"label@t"`` (``t`` rounded) or the labels alone.

    Aligners that average per condition *and* time since onset (``uses_time``) get
    ``condition_keys(labels, t_rel)``, the others ``condition_keys(labels)``.
    :func:`prepare_days` quantises ``t_rel`` to the window stride (``bin_size * step``)
    so that windows at the same latency after onset share a key across trials and days.

    Parameters
    ----------
    labels : array-like, shape (n_samples,)
        Condition label of each sample.
    t_rel : array-like, shape (n_samples,), optional
        Time of each sample since its trial's onset (s); ``None`` keys by label alone.
    decimals : int, default 3
        Decimals kept of ``t_rel``.

    Returns
    -------
    ndarray of str, shape (n_samples,)
        ``"label@t"`` per sample, or the labels as strings when ``t_rel`` is None.

    Examples
    --------
    >>> condition_keys(["a", "b"], [0.0, 0.0251]).tolist()
    ['a@0.000', 'b@0.025']
    >>> condition_keys(["a", "b"]).tolist()
    ['a', 'b']
    """
    lab = np.asarray(labels).astype(str)
    if t_rel is None:
        return lab
    t = np.round(np.asarray(t_rel, dtype=np.float64), decimals)
    t = np.where(t == 0, 0.0, t)  # no "-0.000"
    return np.array([f"{a}@{b:.{decimals}f}" for a, b in zip(lab.tolist(), t.tolist())])


def _score_fn(metric: str) -> Callable:
    """The score of ``metric``: a classification metric, or the variance-weighted R²."""
    if metric == "r2":
        from spikedecode.evaluation.regression import r2_per_output

        return lambda y, p: r2_per_output(y, p)[1]
    return _metric(metric)


def _continuous(v: dict[str, Any]) -> bool:
    """A continuous target (metric="r2"): blocked folds in time instead of trial folds."""
    return bool(v.get("continuous", False))


def _splits(v: dict[str, Any], k: int, seed: int) -> list:
    """Folds of one day: trial-grouped and stratified, or contiguous blocks with a gap."""
    if _continuous(v):
        from spikedecode.preprocess.resample import BlockedTimeSplit

        return list(BlockedTimeSplit(k, gap=v["n_lags"]).split(v["X"], groups=v["groups"]))
    return group_splits(v["y"], v["groups"], k, seed)


def _keys(al: Any, v: dict[str, Any], sel: Any = slice(None)) -> NDArray | None:
    """Condition keys of the samples ``sel`` for aligner ``al`` (None if label-free)."""
    if not getattr(al, "uses_labels", True):
        return None
    return condition_keys(v["cond"][sel],
                          v["t_rel"][sel] if getattr(al, "uses_time", False) else None)


def _takes_units(al: Any) -> bool:
    """Whether the aligner matches days by unit ids (a ``units`` parameter)."""
    return hasattr(al, "get_params") and "units" in al.get_params(deep=False)


def _decoder_for(decoder: Any, n_lags: int, aligned: bool, seed: int) -> Any:
    est = set_seed(clone(decoder), seed)
    params = est.get_params(deep=False)
    if not aligned and "n_lags" in params and params["n_lags"] is None and n_lags > 1:
        est.set_params(n_lags=n_lags)
    return est


def _fit_aligner(aligner: Any, data: Mapping[Hashable, dict[str, Any]],
                 idx: Mapping[Hashable, NDArray] | None = None) -> Any:
    al = clone(aligner)
    Xs, cs = {}, {}
    for d, v in data.items():
        sel = slice(None) if idx is None else idx[d]
        Xs[d] = v["X"][sel]
        cs[d] = _keys(al, v, sel)
    kw: dict[str, Any] = {}
    if _takes_units(al) and all(v["units"] is not None for v in data.values()):
        kw["units"] = {d: v["units"] for d, v in data.items()}
    al.fit(Xs, y=None if not getattr(al, "uses_labels", True) else cs, **kw)
    return al


def _adapt(al: Any, v: dict[str, Any], day: Hashable, sel: NDArray | slice) -> Any:
    """A copy of the fitted aligner adapted to day ``day`` on the samples ``sel``."""
    al_d = copy.deepcopy(al)
    kw = {"units": v["units"]} if _takes_units(al_d) and v["units"] is not None else {}
    al_d.adapt(v["X"][sel], y=_keys(al_d, v, sel), day=day, **kw)
    return al_d


def _predict_adapted(al: Any, est: Any, v: dict[str, Any], day: Hashable, seed: int,
                     adapt_folds: int, protocol: str = "honest") -> NDArray:
    """Predictions for an unseen day: adapt on all folds but one, test on it, pool.

    ``protocol="leaky"`` adapts on every trial of the day and tests on the same trials.
    """
    if protocol == "leaky":
        return est.predict(_adapt(al, v, day, slice(None)).transform(v["X"], day=day))
    try:
        splits = _splits(v, adapt_folds, seed)
    except NotEnoughDataError as err:
        raise NotEnoughDataError(
            f"day {day!r} has too few trials to split into {adapt_folds} adapt/test folds "
            f"({err})."
        ) from err
    pred = np.empty(v["y"].shape, dtype=float if _continuous(v) else object)
    for fit_idx, test_idx in splits:
        check_disjoint(v["groups"][fit_idx], v["groups"][test_idx], day=day)
        pred[test_idx] = est.predict(_adapt(al, v, day, fit_idx).transform(
            v["X"][test_idx], day=day))
    return pred.astype(v["y"].dtype) if v["y"].dtype.kind in "USi" else pred


def _within_day(decoder: Any, aligner: Any, v: dict[str, Any], day: Hashable, seed: int,
                n_splits: int, score: Callable) -> float:
    if aligner is None:
        est = _decoder_for(decoder, v["n_lags"], False, seed)
        if _continuous(v):
            from spikedecode.evaluation.regression import blocked_cross_val_predict

            pred = blocked_cross_val_predict(est, v["X"], v["y"], v["groups"],
                                             n_splits=n_splits, gap=v["n_lags"],
                                             random_state=seed)
        else:
            pred = cross_val_predictions(est, v["X"], v["y"], v["groups"], n_splits=n_splits,
                                         random_state=seed)
        return float(score(v["y"], pred))
    pred = np.empty(v["y"].shape, dtype=float if _continuous(v) else object)
    for k, (tr, te) in enumerate(_splits(v, n_splits, seed)):
        al = _fit_aligner(aligner, {day: v}, {day: tr})
        est = _decoder_for(decoder, v["n_lags"], True, seed + k)
        _fit(est, al.transform(v["X"][tr], day=day), v["y"][tr], v["groups"][tr])
        pred[te] = est.predict(al.transform(v["X"][te], day=day))
    return float(score(v["y"], pred.astype(v["y"].dtype)))  # float for a continuous target


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One torch thread inside the block (tasks run side by side), the caller's after.

    With ``scheduler="sync"`` the tasks run in the caller's process: its thread count
    is restored on the way out, whatever happens in the task.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n_threads)


@_one_thread()
def _row_task(train_day: Hashable, data: Mapping[Hashable, dict[str, Any]], decoder: Any,
              aligner: Any, test_days: Sequence[Hashable], seed: int, n_splits: int,
              metric: str, adapt_folds: int = 2) -> dict[Hashable, float]:
    """Train on one day, score on every test day (the diagonal by grouped CV)."""
    score = _score_fn(metric)
    v = data[train_day]
    row: dict[Hashable, float] = {}
    extras: dict[Hashable, float] = {}
    est = al = None
    for j in test_days:
        if j == train_day:
            row[j] = _within_day(decoder, aligner, v, train_day, seed, n_splits, score)
            continue
        w = data[j]
        if est is None:
            if aligner is None:
                est = _decoder_for(decoder, v["n_lags"], False, seed)
                _fit(est, v["X"], v["y"], v["groups"])
            else:
                al = _fit_aligner(aligner, {train_day: v})
                est = _decoder_for(decoder, v["n_lags"], True, seed)
                _fit(est, al.transform(v["X"], day=train_day), v["y"], v["groups"])
        if aligner is None:
            pred = est.predict(w["X"])
        else:
            pred = _predict_adapted(al, est, w, j, seed + 7, adapt_folds)
        row[j] = float(score(w["y"], pred))
        extras[j] = _relabelled_score(score, w["y"], pred)
    row[_EXTRAS] = extras  # type: ignore[assignment]
    return row


#: key of a row's per-pair extras (popped by cross_day_matrix before the matrix is built)
_EXTRAS = "__pair_extras__"


def _relabelled_score(score: Callable, y: NDArray, pred: NDArray) -> float:
    """The score after the best one-to-one relabelling of the predicted classes.

    Far above the score itself when the classes come out swapped (a map that inverts
    the class structure); equal to it when the identity is the best relabelling.
    """
    from scipy.optimize import linear_sum_assignment

    if np.asarray(y).dtype.kind == "f":  # a continuous target: no classes to relabel
        return float("nan")
    classes = np.unique(np.concatenate([np.asarray(y), np.asarray(pred)]).astype(str))
    if classes.size < 2:
        return float(score(y, pred))
    ys, ps = np.asarray(y).astype(str), np.asarray(pred).astype(str)
    idx = {c: i for i, c in enumerate(classes.tolist())}
    counts = np.zeros((classes.size, classes.size))
    np.add.at(counts, ([idx[c] for c in ys.tolist()], [idx[c] for c in ps.tolist()]), 1)
    true_of, pred_of = linear_sum_assignment(-counts)  # predicted class -> true class
    relabel = {classes[p]: classes[t] for t, p in zip(true_of, pred_of)}
    return float(score(ys, np.array([relabel[c] for c in ps.tolist()])))


def _majority_score(score: Callable, y: NDArray) -> float:
    """The score of always predicting the day's commonest class."""
    vals, counts = np.unique(np.asarray(y), return_counts=True)
    return float(score(y, np.full(len(y), vals[np.argmax(counts)], dtype=np.asarray(y).dtype)))


def _flag_pairs(result: xr.DataArray, rows: Sequence[Mapping[Any, Any]],
                data: Mapping[Hashable, dict[str, Any]], metric: str) -> None:
    """Add the per-pair table to ``result`` (coords) and warn once about failed pairs.

    ``majority`` (test_day): the score of always predicting the test day's commonest
    class; ``relabelled`` (pairs): the score after the best relabelling of the predicted
    classes; ``below_majority``: an off-diagonal pair scoring below ``majority``;
    ``inverted``: one that does so while a relabelling of its classes scores above it
    (the classes came out swapped).
    """
    names = list(data)
    if any(np.asarray(v["y"]).dtype.kind == "f" for v in data.values()):
        return  # a continuous target: no majority rate, no classes
    score = _metric(metric)
    maj = np.array([_majority_score(score, data[j]["y"]) for j in names])
    relab = np.array([[row[_EXTRAS].get(j, np.nan) for j in names] for row in rows], float)
    vals = result.values
    off = ~np.eye(len(names), dtype=bool)
    below = off & (vals < maj[None, :])
    inverted = below & (relab > maj[None, :])
    result.coords["majority"] = ("test_day", maj)
    result.coords["relabelled"] = (("train_day", "test_day"), relab)
    result.coords["below_majority"] = (("train_day", "test_day"), below)
    result.coords["inverted"] = (("train_day", "test_day"), inverted)
    result.attrs["n_below_majority"] = int(below.sum())
    result.attrs["n_inverted"] = int(inverted.sum())
    if below.any():
        cells = [f"{names[i]!r}->{names[j]!r} {vals[i, j]:.3f} < {maj[j]:.3f}"
                 + (f" (relabelled {relab[i, j]:.3f}: classes swapped)" if inverted[i, j]
                    else "") for i, j in zip(*np.nonzero(below))]
        warnings.warn(
            f"cross_day_matrix: {int(below.sum())} of {int(off.sum())} day pair(s) score "
            f"below the test day's majority rate (always guessing the commonest class), "
            f"{int(inverted.sum())} of them with their classes swapped: "
            + "; ".join(cells[:6]) + ("; ..." if len(cells) > 6 else "")
            + ". See the result's below_majority / inverted coordinates.",
            BelowMajorityWarning, stacklevel=3)


@_one_thread()
def _lodo_task(test_day: Hashable, data: Mapping[Hashable, dict[str, Any]], decoder: Any,
               aligner: Any, seed: int, metric: str, adapt_folds: int = 2,
               protocol: str = "honest") -> float:
    score = _score_fn(metric)
    train = {d: v for d, v in data.items() if d != test_day}
    offset = 0
    gs = []
    for v in train.values():  # trial ids unique across days
        gs.append(np.unique(v["groups"], return_inverse=True)[1] + offset)
        offset += int(gs[-1].max()) + 1
    y = np.concatenate([v["y"] for v in train.values()])
    g = np.concatenate(gs)
    w = data[test_day]
    if aligner is None:
        X = np.concatenate([v["X"] for v in train.values()])
        est = _decoder_for(decoder, w["n_lags"], False, seed)
        _fit(est, X, y, g)
        pred = est.predict(w["X"])
    else:
        al = _fit_aligner(aligner, train)
        X = np.concatenate([al.transform(v["X"], day=d) for d, v in train.items()])
        est = _decoder_for(decoder, w["n_lags"], True, seed)
        _fit(est, X, y, g)
        pred = _predict_adapted(al, est, w, test_day, seed + 7, adapt_folds, protocol)
    return float(score(w["y"], pred))


# --------------------------------------------------------------------------- dask
def _n_workers(n_jobs: Any, scheduler: Any) -> int:
    """Workers asked for: None -> 1 (``"local"``: every core); -1 -> every core."""
    if n_jobs is None:
        return (os.cpu_count() or 1) if scheduler == "local" else 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or \
            n_jobs == 0 or n_jobs < -1:
        raise ConfigError(
            f"n_jobs == {n_jobs!r}, must be None, -1 (every core) or an integer >= 1."
        )
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


def run_tasks(fn: Callable, calls: Sequence[tuple[tuple, dict]], *, scheduler: Any = None,
              n_jobs: int | None = None, shared: dict[str, Any] | None = None) -> list[Any]:
    """Run ``fn(*args, **shared, **kwargs)`` for each call, in-process or on Dask.

    Parameters
    ----------
    fn : callable
        A module-level function (importable on the workers).
    calls : sequence of (args, kwargs)
    scheduler : None, "sync", "local", address str or ``distributed.Client``
        None: in-process unless ``n_jobs`` asks for more than one worker. ``"sync"``:
        in-process. ``"local"`` (or None with ``n_jobs`` > 1): a ``LocalCluster`` of
        ``n_jobs`` single-threaded worker processes for the duration of the call.
    n_jobs : int or None, default=None
        Workers: None means 1 (every core with ``scheduler="local"``), -1 every core.
    shared : dict, optional
        Keyword arguments common to every call (scattered once to the workers).

    Returns
    -------
    list
        Results in the order of ``calls``.

    Examples
    --------
    >>> run_tasks(divmod, [((7, 2), {}), ((9, 4), {})])  # in-process: no cluster
    [(3, 1), (2, 1)]
    """
    shared = shared or {}
    workers = _n_workers(n_jobs, scheduler)
    if scheduler == "sync" or (scheduler is None and workers == 1):
        return [fn(*a, **shared, **k) for a, k in calls]
    from spikedecode._optional import attempt_import

    distributed = attempt_import("distributed", "to run the cross-day fits on Dask "
                                 "(or pass scheduler='sync')")
    own = None
    if scheduler is None or scheduler == "local":
        try:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               silence_logs=40)
        except RuntimeError as err:
            raise ConfigError(
                f"could not start a local Dask cluster of {workers} workers ({err}). In a "
                "script, call this from inside `if __name__ == '__main__':` (workers are "
                "spawned processes that re-import the main module), or pass "
                "scheduler='sync'."
            ) from err
        client = distributed.Client(cluster)
        own = (client, cluster)
    elif isinstance(scheduler, str):
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except OSError as err:
            raise ConfigError(
                f"scheduler == {scheduler!r}: could not connect ({err}); pass a running "
                "scheduler's address 'tcp://host:port', 'local' for a local cluster, or "
                "'sync'."
            ) from err
        own = (client, None)
    elif hasattr(scheduler, "submit"):
        client = scheduler
    else:
        raise ConfigError(
            f"scheduler == {scheduler!r}, must be None, 'sync', 'local', 'tcp://host:port' "
            "or a dask.distributed Client."
        )
    try:
        scattered = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
        futures = [client.submit(fn, *a, **scattered, **k, pure=False) for a, k in calls]
        return client.gather(futures)
    finally:
        if own is not None:
            own[0].close()
            if own[1] is not None:
                own[1].close()


# ------------------------------------------------------------------------ public API
def _check(decoder: Any, metric: str, adapt_folds: Any) -> None:
    if not hasattr(decoder, "fit") or not hasattr(decoder, "predict"):
        raise SpikeDecodeTypeError(
            f"decoder must be an estimator with fit/predict (e.g. "
            f"spikedecode.decoders.make_decoder('logistic')); got {type(decoder).__name__}."
        )
    from sklearn.base import is_regressor

    if (metric == "r2") != is_regressor(decoder):
        raise ConfigError(
            f"metric == {metric!r} with a {'regressor' if is_regressor(decoder) else 'classifier'}"
            f" ({type(decoder).__name__}): use metric='r2' for regressors (continuous "
            "targets) and a classification metric for classifiers."
        )
    if metric != "r2":
        _metric(metric)
    if isinstance(adapt_folds, bool) or not isinstance(adapt_folds, (int, np.integer)) \
            or adapt_folds < 2:
        raise ConfigError(
            f"adapt_folds == {adapt_folds!r}, must be an integer >= 2 (2: adapt on one half "
            "of a test day's trials, test on the other, swap)."
        )


def _mark_continuous(data: Mapping[Hashable, dict[str, Any]], aligner: Any,
                     conditions: Any) -> None:
    """Flag the days' targets as continuous; a labelled aligner needs ``conditions``."""
    if aligner is not None and getattr(aligner, "uses_labels", True) and conditions is None:
        raise ConfigError(
            "metric == 'r2' with a labelled aligner: its condition keys cannot be built "
            "from a continuous target; pass conditions= (e.g. the reach target of each "
            "sample) or use a label-free aligner."
        )
    for v in data.values():
        v["continuous"] = True


def _attrs(aligner: Any, decoder: Any, metric: str, adapt_folds: int, protocol: str,
           data: Mapping[Hashable, dict[str, Any]]) -> dict[str, Any]:
    units = next(iter(data.values()))["units"]
    n_lags = next(iter(data.values()))["n_lags"]
    return {"metric": metric, "aligner": "none" if aligner is None else repr(aligner),
            "decoder": repr(decoder), "protocol": protocol, "leaky": protocol == "leaky",
            "uses_labels": aligner is not None and bool(getattr(aligner, "uses_labels", True)),
            "adapt_folds": int(adapt_folds) if aligner is not None else 0,
            "n_units": (len(units) // n_lags if (units is not None and aligner is None)
                        else -1)}


def cross_day_matrix(
    days: Mapping[Hashable, Any],
    decoder: Any,
    *,
    aligner: Any = None,
    conditions: str | Mapping[Hashable, Any] | None = None,
    adapt_folds: int = 2,
    scheduler: Any = None,
    n_jobs: int | None = None,
    n_splits: int = 5,
    metric: str = "accuracy",
    random_state: RandomStateLike = None,
) -> xr.DataArray:
    """Train on each day, test on every day.

    Parameters
    ----------
    days : mapping day -> Windows (or (X, y, groups[, t_rel]))
        E.g. ``preprocess.epoch_bins`` (one sample per bin after each onset) or
        ``make_windows`` per day.
    decoder : estimator
        E.g. ``decoders.make_decoder("logistic")``; cloned for each fit.
    aligner : DayAligner or None, default=None
        None: decode in the space of the unit ids shared by all days (units are matched
        by id, never by position; days that share none raise
        :class:`~spikedecode.errors.NotEnoughDataError`). Otherwise see the module
        docstring for the exact call protocol: the aligner is fitted on the training
        day and each test day is adapted honestly (``adapt_folds`` folds).
    conditions : None, str or mapping day -> array, default=None
        What the aligner's condition keys are built from, when it differs from the
        decoded label (e.g. align on all stimulus conditions, decode a binary target).
        None: the decoded labels. A str: a per-sample coordinate of every day's Windows.
        A mapping: one per-sample array per day.
    adapt_folds : int, default=2
        Label-stratified folds of whole trials of a test day: the aligner is adapted on
        all folds but one and the decoder tested on that one, for each fold.
    scheduler : None, "sync", "local", "tcp://host:port" or distributed.Client
        None (default): in-process, unless ``n_jobs`` > 1 (see :func:`run_tasks`).
    n_jobs : int or None, default=None
        Dask workers of a local cluster: None means 1 (in-process), -1 every core.
    n_splits : int, default=5
        Grouped folds of the diagonal (within-day) cells.
    metric : {"accuracy", "balanced_accuracy", "r2"}
        ``"r2"`` for a regressor (continuous target, e.g. ``target_windows`` per day or
        ``(X, Y, groups)`` tuples): the variance-weighted R², with contiguous blocks in
        time (gap = the lag count) for the diagonal and the adapt/test folds instead of
        trial folds; a labelled aligner then needs ``conditions``.
    random_state : int, Generator or None
        Fixes every fit; same numbers for any scheduler.

    Returns
    -------
    xarray.DataArray
        dims (``train_day``, ``test_day``); attrs ``metric``, ``aligner``, ``decoder``,
        ``protocol`` ("honest"), ``leaky`` (False), ``uses_labels``, ``adapt_folds``,
        ``diagonal``, ``n_units`` (shared units, or -1 with an aligner),
        ``n_below_majority``, ``n_inverted``. The per-pair table is in its coordinates:
        ``majority`` (``test_day``: the score of always guessing the test day's commonest
        class), ``relabelled`` (the score after the best one-to-one relabelling of the
        predicted classes; NaN on the diagonal), ``below_majority`` (an off-diagonal pair
        below its ``majority``) and ``inverted`` (below it while a relabelling scores
        above it: the classes came out swapped). ``result.to_dataframe()`` lists them
        pair by pair.

    Warns
    -----
    BelowMajorityWarning
        Once, when any pair is ``below_majority`` (naming the pairs).

    Examples
    --------
    >>> from spikedecode.decoders import make_decoder
    >>> rng = np.random.default_rng(0); g = np.repeat(np.arange(20), 5)
    >>> y = np.repeat(np.arange(20) % 2, 5)
    >>> days = {d: (rng.normal(size=(100, 3)) + y[:, None], y, g) for d in range(2)}
    >>> m = cross_day_matrix(days, make_decoder("logistic"), scheduler="sync", random_state=0)
    >>> m.dims, bool((m > 0.6).all())
    (('train_day', 'test_day'), True)
    >>> m["majority"].values.tolist(), int(m["below_majority"].sum())
    ([0.5, 0.5], 0)
    """
    _check(decoder, metric, adapt_folds)
    data = prepare_days(days, shared_units=aligner is None, conditions=conditions)
    if metric == "r2":  # continuous targets: blocked folds in time (evaluation.regression)
        _mark_continuous(data, aligner, conditions)
    names = list(data)
    seed = draw_seed(random_state)
    calls = [((d,), {"test_days": names, "seed": seed + 101 * i})
             for i, d in enumerate(names)]
    rows = run_tasks(_row_task, calls, scheduler=scheduler, n_jobs=n_jobs,
                     shared={"data": data, "decoder": decoder, "aligner": aligner,
                             "n_splits": n_splits, "metric": metric,
                             "adapt_folds": int(adapt_folds)})
    values = np.array([[row[j] for j in names] for row in rows], dtype=float)
    attrs = _attrs(aligner, decoder, metric, adapt_folds, "honest", data)
    attrs["diagonal"] = f"grouped {n_splits}-fold CV"
    result = xr.DataArray(values, dims=("train_day", "test_day"),
                          coords={"train_day": names, "test_day": names}, name=metric,
                          attrs=attrs)
    _flag_pairs(result, rows, data, metric)
    return result


def leave_one_day_out(
    days: Mapping[Hashable, Any],
    decoder: Any,
    *,
    aligner: Any = None,
    conditions: str | Mapping[Hashable, Any] | None = None,
    protocol: str = "honest",
    allow_leakage: bool = False,
    adapt_folds: int = 2,
    held_out: Sequence[Hashable] | None = None,
    scheduler: Any = None,
    n_jobs: int | None = None,
    metric: str = "accuracy",
    random_state: RandomStateLike = None,
) -> xr.DataArray:
    """Train on all days but one, test on the one left out.

    For every held-out day the aligner is fitted jointly on the other days (their labels
    are training data) and the decoder trained on their aligned samples; the held-out
    day is adapted and decoded as in :func:`cross_day_matrix`. Same data, ``conditions``
    and schedulers as :func:`cross_day_matrix`.

    Parameters
    ----------
    days, decoder, aligner, conditions, adapt_folds, scheduler, n_jobs, metric, random_state
        See :func:`cross_day_matrix`.
    protocol : {"honest", "leaky"}, default="honest"
        "leaky" adapts the held-out day on all its trials and tests on the same trials
        (its condition averages then carry the test labels): a demonstration of the leak,
        never a result.
    allow_leakage : bool, default=False
        Needed for ``protocol="leaky"``; a :class:`LeakageWarning` is then issued and the
        result carries ``attrs["leaky"] = True``.
    held_out : sequence of days, optional
        Days to hold out (default every day).

    Returns
    -------
    xarray.DataArray
        dims (``test_day``,); attrs ``metric``, ``aligner``, ``decoder``, ``protocol``,
        ``leaky``, ``uses_labels``, ``adapt_folds``, ``n_units``. The mean over held-out
        days is ``result.mean()``.

    Raises
    ------
    LeakageError
        ``protocol="leaky"`` without ``allow_leakage=True``.

    Examples
    --------
    >>> from spikedecode.decoders import make_decoder
    >>> rng = np.random.default_rng(0); g = np.repeat(np.arange(20), 5)
    >>> y = np.repeat(np.arange(20) % 2, 5)
    >>> days = {d: (rng.normal(size=(100, 3)) + y[:, None], y, g) for d in range(3)}
    >>> lo = leave_one_day_out(days, make_decoder("logistic"), random_state=0)
    >>> lo.dims, lo.attrs["protocol"], bool((lo > 0.6).all())
    (('test_day',), 'honest', True)
    """
    _check(decoder, metric, adapt_folds)
    if protocol not in _PROTOCOLS:
        raise ConfigError(f"protocol == {protocol!r}, must be 'honest' or 'leaky'.")
    if protocol == "leaky" and not allow_leakage:
        raise LeakageError(
            "protocol='leaky' fits the held-out day's alignment on the trials it is tested on "
            "(labels leak through condition averages); pass allow_leakage=True to measure the "
            "leak on purpose, or use protocol='honest'.")
    data = prepare_days(days, shared_units=aligner is None, conditions=conditions)
    if metric == "r2":  # continuous targets, as in cross_day_matrix
        _mark_continuous(data, aligner, conditions)
    names = list(data)
    if len(names) < 2:
        raise NotEnoughDataError(f"leave-one-day-out needs >= 2 days; got {len(names)}.")
    targets = list(names) if held_out is None else list(held_out)
    for d in targets:
        if d not in data:
            raise ConfigError(f"held_out day {d!r} is not one of the days {names[:12]}.")
    if protocol == "leaky":
        warnings.warn("leave_one_day_out(protocol='leaky'): the held-out days' alignment sees "
                      "their test trials; the accuracies are optimistic.", LeakageWarning,
                      stacklevel=2)
    seed = draw_seed(random_state)
    calls = [((d,), {"seed": seed + 101 * names.index(d)}) for d in targets]
    vals = run_tasks(_lodo_task, calls, scheduler=scheduler, n_jobs=n_jobs,
                     shared={"data": data, "decoder": decoder, "aligner": aligner,
                             "metric": metric, "adapt_folds": int(adapt_folds),
                             "protocol": protocol})
    return xr.DataArray(np.asarray(vals, float), dims=("test_day",),
                        coords={"test_day": targets}, name=metric,
                        attrs=_attrs(aligner, decoder, metric, adapt_folds, protocol, data))


def consistency_score(matrix: xr.DataArray, *, chance: float | None = None) -> float:
    """Mean off-diagonal ÷ mean diagonal of a cross-day matrix.

    1 means a decoder transfers across days as well as it works within a day. With
    ``chance``, both means are taken above chance: ``(off - chance) / (diag - chance)``
    (0 = transfer at chance).

    Parameters
    ----------
    matrix : xarray.DataArray, shape (n_days, n_days)
        Scores with dims ``(train_day, test_day)``, e.g. from :func:`cross_day_matrix`;
        NaN cells are ignored.
    chance : float, optional
        Chance-level score subtracted from both means.

    Returns
    -------
    float
        ``mean(off-diagonal) / mean(diagonal)``, or the above-chance ratio.

    Raises
    ------
    SpikeDecodeValueError
        If ``matrix`` is not square with at least two days.

    Examples
    --------
    >>> m = xr.DataArray([[0.9, 0.6], [0.7, 0.8]], dims=("train_day", "test_day"))
    >>> round(consistency_score(m), 3)
    0.765
    >>> round(consistency_score(m, chance=0.5), 3)  # (0.65 - 0.5) / (0.85 - 0.5)
    0.429
    """
    arr = np.asarray(matrix, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise SpikeDecodeValueError(
            f"matrix must be square (train_day, test_day) with >= 2 days; got {arr.shape}."
        )
    off = ~np.eye(len(arr), dtype=bool)
    diag, offd = float(np.nanmean(np.diag(arr))), float(np.nanmean(arr[off]))
    base = 0.0 if chance is None else float(chance)
    if not diag - base > 0:  # also NaN: the ratio would divide by zero or flip its sign
        what = "mean diagonal" if chance is None else f"mean diagonal - chance ({chance})"
        raise SpikeDecodeValueError(
            f"consistency_score: the {what} is {diag - base:.3g}; the score divides by it, so "
            "the within-day scores (the diagonal) must be above chance. Check the matrix "
            "(a decoder that fails within a day has no cross-day consistency to measure)."
        )
    return (offd - base) / (diag - base)
