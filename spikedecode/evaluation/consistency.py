"""Cross-day decoding: train on day i, test on day j; leave-one-day-out; consistency score.

Days are a mapping ``day -> Windows`` (labelled ``(sample, lag, unit)`` DataArrays from
``preprocess.make_windows``) or ``day -> (X, y, groups)`` tuples (optionally a fourth
element, ``t_rel``). Without an aligner the days are restricted to the units they all
share. With an aligner (the DayAligner protocol of ``spikedecode.align.base``) the call
sequence is exactly:

* training days: ``al = sklearn.base.clone(aligner); al.fit({d: X_d}, y={d: c_d})``,
  then ``Z = al.transform(X, day=d)`` and the decoder is fit on ``Z``. ``c_d`` are
  condition keys: the label, or ``f"{label}@{t_rel:.3f}"`` when
  ``getattr(al, "uses_time", False)``.
* a held-out test day (honest default): its trials are split into halves A and B
  (stratified by label); ``al.adapt(X_A, y=c_A, day=d)`` on a copy of the fitted aligner,
  test on B; then swap; predictions are pooled. ``getattr(al, "uses_labels", True)`` False
  means label-free: ``adapt`` gets ``y=None``.
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
)
from spikedecode.evaluation.metrics import _fit, _metric, cross_val_predictions, set_seed

__all__ = [
    "cross_day_matrix",
    "leave_one_day_out",
    "consistency_score",
    "prepare_days",
    "condition_keys",
    "run_tasks",
]


# ------------------------------------------------------------------- data preparation
def prepare_days(days: Mapping[Hashable, Any], *, shared_units: bool = True
                 ) -> dict[Hashable, dict[str, Any]]:
    """Turn ``day -> Windows`` (or ``(X, y, groups[, t_rel])``) into numpy per day.

    Parameters
    ----------
    days : mapping
    shared_units : bool, default=True
        Restrict Windows to the units present on every day (in sorted order); warns with
        :class:`~spikedecode.errors.DataDroppedWarning` when units are dropped.

    Returns
    -------
    dict
        day -> ``{"X": (sample, lag*unit) float32, "y", "groups", "t_rel", "n_lags",
        "units"}``.
    """
    if not isinstance(days, Mapping) or len(days) == 0:
        raise SpikeDecodeTypeError(
            f"days must be a non-empty mapping day -> Windows; got {type(days).__name__}."
        )
    windows = {d: w for d, w in days.items() if isinstance(w, xr.DataArray)}
    keep = None
    if shared_units and windows and all("unit" in w.coords for w in windows.values()):
        sets = [set(w["unit"].values.tolist()) for w in windows.values()]
        keep = sorted(set.intersection(*sets))
        if not keep:
            raise NotEnoughDataError(
                "the days share no unit ids; pass an aligner (e.g. "
                "spikedecode.align.get_aligner('cca')) to decode across days."
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
            out[d] = {"X": X3.reshape(len(X3), -1), "y": np.asarray(y), "groups": g,
                      "t_rel": t_rel, "n_lags": int(X3.shape[1]),
                      "units": w["unit"].values.tolist() if "unit" in w.coords else None}
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
    return out


def condition_keys(aligner: Any, y: NDArray, t_rel: NDArray, decimals: int = 3) -> NDArray:
    """Per-sample condition keys for an aligner: labels, or ``label@t_rel`` if it uses time.

    :func:`prepare_days` quantises ``t_rel`` to the window stride (``bin_size * step``)
    so that windows at the same latency after onset share a key across trials and days.

    Examples
    --------
    >>> class A: uses_time = True
    >>> condition_keys(A(), np.array(["a"]), np.array([0.0251])).tolist()
    ['a@0.025']
    """
    if getattr(aligner, "uses_time", False):
        t = np.round(np.asarray(t_rel, dtype=float), decimals)
        t = np.where(t == 0, 0.0, t)  # no "-0.000"
        return np.asarray([f"{lab}@{v:.{decimals}f}" for lab, v in zip(y, t.tolist())])
    return np.asarray(y)


def _half_split(y: NDArray, groups: NDArray, seed: int) -> tuple[NDArray, NDArray]:
    """Split a day's trials into two halves, stratified by each trial's first label."""
    rng = np.random.default_rng(seed)
    uniq, first = np.unique(groups, return_index=True)
    lab = y[first]
    in_a = np.zeros(len(uniq), bool)
    for c in np.unique(lab):
        members = rng.permutation(np.flatnonzero(lab == c))
        in_a[members[: (len(members) + 1) // 2]] = True
    a_groups = set(uniq[in_a].tolist())
    mask = np.fromiter((g in a_groups for g in groups.tolist()), bool, len(groups))
    return np.flatnonzero(mask), np.flatnonzero(~mask)


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
        cs[d] = condition_keys(al, v["y"][sel], v["t_rel"][sel])
    if getattr(al, "uses_labels", True):
        al.fit(Xs, y=cs)
    else:
        al.fit(Xs, y=None)
    return al


def _predict_adapted(al: Any, est: Any, v: dict[str, Any], day: Hashable, seed: int) -> NDArray:
    """Honest test on an unseen day: adapt on half A, test on B, swap, pool."""
    a, b = _half_split(v["y"], v["groups"], seed)
    if len(a) == 0 or len(b) == 0:
        raise NotEnoughDataError(
            f"day {day!r} has too few trials to split into adapt/test halves."
        )
    pred = np.empty(len(v["y"]), dtype=object)
    for fit_idx, test_idx in ((a, b), (b, a)):
        al_d = copy.deepcopy(al)
        keys = (condition_keys(al_d, v["y"][fit_idx], v["t_rel"][fit_idx])
                if getattr(al_d, "uses_labels", True) else None)
        al_d.adapt(v["X"][fit_idx], y=keys, day=day)
        pred[test_idx] = est.predict(al_d.transform(v["X"][test_idx], day=day))
    return pred.astype(v["y"].dtype) if v["y"].dtype.kind in "USi" else pred


def _within_day(decoder: Any, aligner: Any, v: dict[str, Any], day: Hashable, seed: int,
                n_splits: int, score: Callable) -> float:
    if aligner is None:
        est = _decoder_for(decoder, v["n_lags"], False, seed)
        pred = cross_val_predictions(est, v["X"], v["y"], v["groups"], n_splits=n_splits,
                                     random_state=seed)
        return float(score(v["y"], pred))
    from spikedecode.decoders.linear import group_splits

    pred = np.empty(len(v["y"]), dtype=object)
    for k, (tr, te) in enumerate(group_splits(v["y"], v["groups"], n_splits, seed)):
        al = _fit_aligner(aligner, {day: v}, {day: tr})
        est = _decoder_for(decoder, v["n_lags"], True, seed + k)
        _fit(est, al.transform(v["X"][tr], day=day), v["y"][tr], v["groups"][tr])
        pred[te] = est.predict(al.transform(v["X"][te], day=day))
    return float(score(v["y"], pred.astype(v["y"].dtype)))


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
              metric: str) -> dict[Hashable, float]:
    """Train on one day, score on every test day (the diagonal by grouped CV)."""
    score = _metric(metric)
    v = data[train_day]
    row: dict[Hashable, float] = {}
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
            pred = _predict_adapted(al, est, w, j, seed + 7)
        row[j] = float(score(w["y"], pred))
    return row


@_one_thread()
def _lodo_task(test_day: Hashable, data: Mapping[Hashable, dict[str, Any]], decoder: Any,
               aligner: Any, seed: int, metric: str) -> float:
    score = _metric(metric)
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
        pred = _predict_adapted(al, est, w, test_day, seed + 7)
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
def _check(decoder: Any, metric: str) -> None:
    if not hasattr(decoder, "fit") or not hasattr(decoder, "predict"):
        raise SpikeDecodeTypeError(
            f"decoder must be an estimator with fit/predict; got {type(decoder).__name__}."
        )
    _metric(metric)


def cross_day_matrix(
    days: Mapping[Hashable, Any],
    decoder: Any,
    *,
    aligner: Any = None,
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
    decoder : estimator
        E.g. ``decoders.make_decoder("logistic")``; cloned for each fit.
    aligner : DayAligner or None, default=None
        None: decode in the space of the units shared by all days. Otherwise see the
        module docstring for the exact call protocol (honest half-split adaptation of
        each test day).
    scheduler : None, "sync", "local", "tcp://host:port" or distributed.Client
        None (default): in-process, unless ``n_jobs`` > 1 (see :func:`run_tasks`).
    n_jobs : int or None, default=None
        Dask workers of a local cluster: None means 1 (in-process), -1 every core.
    n_splits : int, default=5
        Grouped folds of the diagonal (within-day) cells.
    metric : {"accuracy", "balanced_accuracy"}
    random_state : int, Generator or None
        Fixes every fit; same numbers for any scheduler.

    Returns
    -------
    xarray.DataArray
        dims (``train_day``, ``test_day``); attrs ``metric``, ``aligner``, ``decoder``,
        ``n_units`` (shared units, or None with an aligner).

    Examples
    --------
    >>> from spikedecode.decoders import make_decoder
    >>> rng = np.random.default_rng(0); g = np.repeat(np.arange(20), 5)
    >>> y = np.repeat(np.arange(20) % 2, 5)
    >>> days = {d: (rng.normal(size=(100, 3)) + y[:, None], y, g) for d in range(2)}
    >>> m = cross_day_matrix(days, make_decoder("logistic"), scheduler="sync", random_state=0)
    >>> m.dims, bool((m > 0.6).all())
    (('train_day', 'test_day'), True)
    """
    _check(decoder, metric)
    data = prepare_days(days, shared_units=aligner is None)
    names = list(data)
    seed = draw_seed(random_state)
    calls = [((d,), {"test_days": names, "seed": seed + 101 * i})
             for i, d in enumerate(names)]
    rows = run_tasks(_row_task, calls, scheduler=scheduler, n_jobs=n_jobs,
                     shared={"data": data, "decoder": decoder, "aligner": aligner,
                             "n_splits": n_splits, "metric": metric})
    values = np.array([[row[j] for j in names] for row in rows], dtype=float)
    units = next(iter(data.values()))["units"]
    return xr.DataArray(
        values, dims=("train_day", "test_day"),
        coords={"train_day": names, "test_day": names}, name=metric,
        attrs={"metric": metric, "aligner": "none" if aligner is None else repr(aligner),
               "decoder": repr(decoder), "diagonal": f"grouped {n_splits}-fold CV",
               "n_units": len(units) if (units is not None and aligner is None) else -1},
    )


def leave_one_day_out(
    days: Mapping[Hashable, Any],
    decoder: Any,
    *,
    aligner: Any = None,
    scheduler: Any = None,
    n_jobs: int | None = None,
    metric: str = "accuracy",
    random_state: RandomStateLike = None,
) -> xr.DataArray:
    """Train on all days but one, test on the one left out.

    Same data, aligner protocol and schedulers as :func:`cross_day_matrix`.

    Returns
    -------
    xarray.DataArray
        dims (``test_day``,).
    """
    _check(decoder, metric)
    data = prepare_days(days, shared_units=aligner is None)
    names = list(data)
    if len(names) < 2:
        raise NotEnoughDataError(f"leave-one-day-out needs >= 2 days; got {len(names)}.")
    seed = draw_seed(random_state)
    calls = [((d,), {"seed": seed + 101 * i}) for i, d in enumerate(names)]
    vals = run_tasks(_lodo_task, calls, scheduler=scheduler, n_jobs=n_jobs,
                     shared={"data": data, "decoder": decoder, "aligner": aligner,
                             "metric": metric})
    return xr.DataArray(np.asarray(vals, float), dims=("test_day",),
                        coords={"test_day": names}, name=metric,
                        attrs={"metric": metric,
                               "aligner": "none" if aligner is None else repr(aligner)})


def consistency_score(matrix: xr.DataArray, *, chance: float | None = None) -> float:
    """Mean off-diagonal ÷ mean diagonal of a cross-day matrix.

    1 means a decoder transfers across days as well as it works within a day. With
    ``chance``, both means are taken above chance: ``(off - chance) / (diag - chance)``
    (0 = transfer at chance).

    Examples
    --------
    >>> m = xr.DataArray([[0.9, 0.6], [0.7, 0.8]], dims=("train_day", "test_day"))
    >>> round(consistency_score(m), 3)
    0.765
    """
    arr = np.asarray(matrix, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise SpikeDecodeValueError(
            f"matrix must be square (train_day, test_day) with >= 2 days; got {arr.shape}."
        )
    off = ~np.eye(len(arr), dtype=bool)
    diag, offd = float(np.nanmean(np.diag(arr))), float(np.nanmean(arr[off]))
    if chance is not None:
        return (offd - chance) / (diag - chance)
    return offd / diag
