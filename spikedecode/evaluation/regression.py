"""Honest evaluation of continuous decoding: blocked CV with a gap, R², block bootstrap, null.

Samples of a behaviour series are autocorrelated in time, and stride-1 windows share
bins with their neighbours; a shuffled K-fold therefore puts near-copies of each test
sample in the training set and reports R² above zero even when spikes and target are
unrelated (:func:`shuffled_kfold_score` demonstrates it). Everything here uses
**contiguous blocks** instead (:class:`~spikedecode.preprocess.BlockedTimeSplit`): the
test fold is one block of consecutive samples and ``gap`` samples on each of its borders
leave the training side (default: the window length, so that no training window shares
a bin with a test window).

Scores (:func:`regression_metrics`): R² per output (``1 - SSE / SST``, as
``sklearn.metrics.r2_score``), the variance-weighted R² over outputs (FALCON's; the
``multioutput="variance_weighted"`` of scikit-learn), Pearson correlation, RMSE, and the
median Euclidean error over outputs (position error). Confidence intervals come from a
circular **block** bootstrap of the pooled out-of-fold predictions (blocks of
``block_size`` consecutive samples, so the autocorrelation is kept inside a replicate);
chance comes from a **circular-shift** null: the target is rotated in time by a random
offset (keeping its autocorrelation, breaking its relation to the spikes) and decoded
with the same folds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import clone

from spikedecode._random import RandomStateLike, check_generator, draw_seed
from spikedecode._validation import Interval, check_param
from spikedecode.errors import ConfigError, NotEnoughDataError, SpikeDecodeValueError

__all__ = [
    "regression_metrics",
    "blocked_cross_val_predict",
    "block_bootstrap_ci",
    "circular_shift_null",
    "regression_scores",
    "shuffled_kfold_score",
    "r2_per_output",
]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    t = t[:, None] if t.ndim == 1 else t
    p = p[:, None] if p.ndim == 1 else p
    if t.shape != p.shape or t.ndim != 2 or t.shape[0] < 2:
        raise SpikeDecodeValueError(
            f"y_true {np.shape(y_true)} and y_pred {np.shape(y_pred)} must have the same "
            "shape (n_samples,) or (n_samples, n_outputs), n_samples >= 2."
        )
    return t, p


def r2_per_output(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], float]:
    """R² of each output and the variance-weighted R² over outputs.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_samples,) or (n_samples, n_outputs)

    Returns
    -------
    r2 : ndarray, shape (n_outputs,)
        ``1 - SSE / SST`` per output (NaN for a constant output).
    r2_vw : float
        ``1 - ΣSSE / ΣSST`` (outputs weighted by their variance).

    Examples
    --------
    >>> r2, vw = r2_per_output([[0, 0], [1, 2], [2, 4]], [[0, 0], [1, 2], [2, 3]])
    >>> r2.tolist(), round(vw, 4)
    ([1.0, 0.875], 0.9)
    """
    t, p = _pair(y_true, y_pred)
    sse = ((t - p) ** 2).sum(0)
    sst = ((t - t.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1.0), np.nan)
    return r2, float(1 - sse.sum() / sst.sum()) if sst.sum() > 0 else float("nan")


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, Any]:
    """R² (per output and variance-weighted), correlation, RMSE and median error.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_samples,) or (n_samples, n_outputs)

    Returns
    -------
    dict
        ``r2`` (ndarray per output), ``r2_vw``, ``corr`` (Pearson r per output),
        ``rmse`` (per output), ``median_error`` (median Euclidean norm of the error
        vector over outputs: the position error) and ``mean_error``.

    Examples
    --------
    >>> m = regression_metrics([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 4.0])
    >>> round(m["r2_vw"], 3), m["median_error"], round(float(m["corr"][0]), 3)
    (0.8, 0.0, 0.983)
    """
    t, p = _pair(y_true, y_pred)
    r2, vw = r2_per_output(t, p)
    tc, pc = t - t.mean(0), p - p.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (tc * pc).sum(0) / np.sqrt((tc ** 2).sum(0) * (pc ** 2).sum(0))
    err = np.sqrt(((t - p) ** 2).sum(1))
    return {"r2": r2, "r2_vw": vw, "corr": corr, "rmse": np.sqrt(((t - p) ** 2).mean(0)),
            "median_error": float(np.median(err)), "mean_error": float(err.mean())}


def _default_gap(X: Any, gap: int | None) -> int:
    if gap is not None:
        return int(check_param(gap, "gap", Interval(Integral, 0, None),
                               hint="It counts samples (bins)."))
    shape = np.shape(X)
    if len(shape) == 3:
        return int(shape[1])
    raise ConfigError(
        f"gap is None and X is {len(shape)}-D {shape}, so the window length is unknown: pass "
        "gap= (at least the bins per window, bins_before + 1 + bins_after of "
        "target_windows()), or pass the 3-D windows from to_sequences()."
    )


def _for(decoder: Any, X: NDArray) -> NDArray:
    """3-D windows flattened to (sample, lag * unit) unless ``decoder`` takes sequences."""
    from sklearn.utils import get_tags

    if X.ndim == 3:
        try:
            three_d = bool(get_tags(decoder).input_tags.three_d_array)
        except (AttributeError, TypeError):  # pragma: no cover - estimators without tags
            three_d = False
        if not three_d:
            return X.reshape(X.shape[0], -1)
    return X


def _seeded(est: Any, seed: int) -> Any:
    """Every unset ``random_state`` of ``est`` set to ``seed`` (as metrics.set_seed, which
    this module cannot import: metrics imports it)."""
    params = est.get_params(deep=True)
    update = {k: int(seed) for k, v in params.items()
              if (k == "random_state" or k.endswith("__random_state")) and v is None}
    if update:
        est.set_params(**update)
    return est


def _bar(splits: list, progress: bool | str) -> Any:
    """``splits`` in a tqdm bar on stderr when ``progress`` is truthy."""
    if not progress:
        return splits
    from tqdm.auto import tqdm

    return tqdm(splits, desc=progress if isinstance(progress, str) else "blocked CV",
                unit="fold", leave=False)


def _with_gap(est: Any, gap: int) -> Any:
    """Give the inner λ search of ``est`` (a ``gap`` parameter left at 0) the outer gap."""
    params = est.get_params(deep=True)
    update = {k: gap for k, v in params.items()
              if (k == "gap" or k.endswith("__gap")) and v == 0}
    if update:
        est.set_params(**update)
    return est


def blocked_cross_val_predict(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    n_splits: int = 5,
    gap: int | None = None,
    random_state: RandomStateLike = None,
    progress: bool | str = False,
) -> NDArray[np.float64]:
    """Out-of-fold predictions with contiguous test blocks and a gap.

    Parameters
    ----------
    decoder : regressor
        Cloned per fold. A ``gap`` parameter left at 0 (the Wiener filters' inner λ
        search) is set to this ``gap``; unset ``random_state`` parameters are seeded.
    X : array-like, shape (n_samples, n_features) or (n_samples, n_lags, n_units)
        In time order.
    y : array-like, shape (n_samples,) or (n_samples, n_outputs)
    groups : array-like, optional
        Trial of each sample; a trial in the test block leaves the training side.
    n_splits : int, default=5
    gap : int, optional
        Samples removed from training at each border of the test block. Default: the
        window length ``X.shape[1]`` of 3-D windows; required for 2-D ``X``.
    random_state : int, Generator or None
        Seeds unseeded decoders (the folds are deterministic).
    progress : bool or str, default=False
        A tqdm bar over the folds.

    Returns
    -------
    ndarray, shape of ``y`` (float64)

    Examples
    --------
    >>> from spikedecode.decoders import make_decoder
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 3, 2))
    >>> y = X[:, -1, 0] + 0.1 * rng.normal(size=300)
    >>> pred = blocked_cross_val_predict(make_decoder("wiener"), X, y)
    >>> pred.shape, bool(np.corrcoef(pred, y)[0, 1] > 0.9)
    ((300,), True)
    """
    from spikedecode.decoders.linear import groups_fit_params
    from spikedecode.preprocess.resample import BlockedTimeSplit

    gap = _default_gap(X, gap)
    X = _for(decoder, np.asarray(X))
    y = np.asarray(y, dtype=np.float64)
    if len(y) != len(X):
        raise SpikeDecodeValueError(
            f"X has {len(X)} samples but y has {len(y)}; they must match (one target per "
            "window)."
        )
    seed = draw_seed(random_state)
    splits = list(BlockedTimeSplit(n_splits, gap=gap).split(X, groups=groups))
    pred = np.full(y.shape, np.nan)
    g = None if groups is None else np.asarray(groups)
    for k, (tr, te) in enumerate(_bar(splits, progress)):
        if tr.size < 3:
            raise NotEnoughDataError(
                f"fold {k}: {tr.size} training samples after removing the test block and a gap "
                f"of {gap}; use fewer splits or a smaller gap."
            )
        est = _with_gap(_seeded(clone(decoder), seed + k), gap)
        est.fit(X[tr], y[tr], **groups_fit_params(est, None if g is None else g[tr]))
        pred[te] = np.asarray(est.predict(X[te]), dtype=np.float64).reshape(pred[te].shape)
    return pred


def _block_indices(n: int, block_size: int, n_boot: int,
                   rng: np.random.Generator) -> NDArray[np.intp]:
    """Circular block bootstrap: ``ceil(n / b)`` blocks with random starts, cut to ``n``."""
    n_blocks = -(-n // block_size)
    starts = rng.integers(0, n, (n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block_size)[None, None, :]) % n
    return idx.reshape(n_boot, -1)[:, :n]


def block_bootstrap_ci(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    block_size: int | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    random_state: RandomStateLike = None,
) -> dict[str, Any]:
    """Circular block-bootstrap CIs of R² (per output, variance-weighted) and median error.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_samples,) or (n_samples, n_outputs)
        In time order (e.g. pooled out-of-fold predictions).
    block_size : int, optional
        Consecutive samples per block; default ``ceil(n_samples ** (1/3))`` (at least 2).
    n_boot : int, default=1000
    ci : float, default=0.95
    random_state : int, Generator or None

    Returns
    -------
    dict
        ``r2_ci`` (n_outputs, 2), ``r2_vw_ci`` (low, high), ``median_error_ci``,
        ``block_size``, and the replicates ``r2_vw_boot``.

    Examples
    --------
    >>> rng = np.random.default_rng(0); y = np.sin(np.arange(500) / 10)
    >>> out = block_bootstrap_ci(y, y + 0.3 * rng.normal(size=500), random_state=0)
    >>> lo, hi = out["r2_vw_ci"]; bool(0.7 < lo < hi < 0.9)
    True
    """
    t, p = _pair(y_true, y_pred)
    if not 0 < ci < 1:
        raise ConfigError(f"ci == {ci}, must be in (0, 1).")
    n_boot = check_param(n_boot, "n_boot", Interval(Integral, 1, None))
    n = t.shape[0]
    b = (max(2, int(np.ceil(n ** (1 / 3)))) if block_size is None
         else check_param(block_size, "block_size", Interval(Integral, 1, None)))
    b = min(b, n)
    rng = check_generator(random_state)
    sq = (t - p) ** 2
    err = np.sqrt(sq.sum(1))
    alpha = (1 - ci) / 2
    r2s = np.empty((n_boot, t.shape[1]))
    vws = np.empty(n_boot)
    meds = np.empty(n_boot)
    step = max(1, (1 << 22) // max(n, 1))
    for b0 in range(0, n_boot, step):
        idx = _block_indices(n, b, min(step, n_boot - b0), rng)
        tt = t[idx]  # (nb, n, k)
        sse = sq[idx].sum(1)
        sst = ((tt - tt.mean(1, keepdims=True)) ** 2).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2s[b0:b0 + len(idx)] = 1 - sse / sst
            vws[b0:b0 + len(idx)] = 1 - sse.sum(1) / sst.sum(1)
        meds[b0:b0 + len(idx)] = np.median(err[idx], axis=1)

    def q(a: NDArray) -> tuple[float, float]:
        lo, hi = np.nanquantile(a, [alpha, 1 - alpha], axis=0)
        return float(lo), float(hi)

    r2_ci = np.stack([np.nanquantile(r2s, [alpha, 1 - alpha], axis=0)]).reshape(2, -1).T
    return {"r2_ci": r2_ci, "r2_vw_ci": q(vws), "median_error_ci": q(meds),
            "block_size": int(b), "r2_vw_boot": vws}


def circular_shift_null(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    n_shifts: int = 20,
    min_shift: int | None = None,
    n_splits: int = 5,
    gap: int | None = None,
    observed: float | None = None,
    random_state: RandomStateLike = None,
) -> dict[str, Any]:
    """Chance R² from circularly shifted targets, decoded with the same blocked folds.

    The target series is rotated by a random offset in ``[min_shift, n - min_shift]``:
    its autocorrelation is kept (so a leaky protocol would still find structure) while its
    relation to the spikes is broken.

    Parameters
    ----------
    decoder, X, y, groups, n_splits, gap
        See :func:`blocked_cross_val_predict`.
    n_shifts : int, default=20
        Shifted data sets; the smallest p-value is ``1 / (1 + n_shifts)``.
    min_shift : int, optional
        Smallest rotation in samples; default ``n_samples // 10``.
    observed : float, optional
        The variance-weighted R² on the real target, for ``p_value``.
    random_state : int, Generator or None

    Returns
    -------
    dict
        ``chance`` (mean null variance-weighted R²), ``chance_ci`` (2.5 and 97.5
        percentiles), ``null`` (the scores), ``shifts`` and ``p_value`` (with
        ``observed``).

    Examples
    --------
    >>> from spikedecode.decoders import make_decoder
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2, 3))
    >>> y = X[:, -1, 0] + 0.1 * rng.normal(size=300)
    >>> out = circular_shift_null(make_decoder("wiener"), X, y, n_shifts=5, random_state=0)
    >>> bool(out["chance"] < 0.05)
    True
    """
    gap = _default_gap(X, gap)
    n_shifts = check_param(n_shifts, "n_shifts", Interval(Integral, 1, None))
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    lo = n // 10 if min_shift is None else check_param(min_shift, "min_shift",
                                                        Interval(Integral, 1, None))
    if n - 2 * lo < 1:
        raise NotEnoughDataError(f"{n} samples leave no shift in [{lo}, {n - lo}].")
    rng = check_generator(random_state)
    null = np.empty(n_shifts)
    shifts = rng.integers(lo, n - lo + 1, n_shifts)
    for i, s in enumerate(shifts):
        ys = np.roll(y, int(s), axis=0)
        pred = blocked_cross_val_predict(decoder, X, ys, groups, n_splits=n_splits, gap=gap,
                                         random_state=draw_seed(rng))
        null[i] = r2_per_output(ys, pred)[1]
    out: dict[str, Any] = {
        "chance": float(null.mean()),
        "chance_ci": tuple(float(v) for v in np.quantile(null, [0.025, 0.975])),
        "null": null, "shifts": shifts,
        "p_value": (float((1 + np.sum(null >= observed)) / (1 + n_shifts))
                    if observed is not None else float("nan")),
    }
    return out


def regression_scores(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    n_splits: int = 5,
    gap: int | None = None,
    n_boot: int = 1000,
    block_size: int | None = None,
    ci: float = 0.95,
    n_null: int = 0,
    channels: Sequence[str] | None = None,
    random_state: RandomStateLike = None,
    progress: bool | str = False,
) -> dict[str, Any]:
    """Within-day continuous decoding scores: blocked CV with a gap, block-bootstrap CIs.

    Parameters
    ----------
    decoder, X, y, groups, n_splits, gap, random_state, progress
        See :func:`blocked_cross_val_predict`.
    n_boot : int, default=1000
        Block-bootstrap replicates of the pooled out-of-fold predictions.
    block_size : int, optional
        See :func:`block_bootstrap_ci`; default ``max(gap, ceil(n ** (1/3)))``.
    ci : float, default=0.95
    n_null : int, default=0
        When > 0, also the circular-shift null (:func:`circular_shift_null`) with this
        many shifts: ``chance``, ``chance_ci``, ``p_value``.
    channels : sequence of str, optional
        Output names for the per-output results (default ``"0", "1", ...``).

    Returns
    -------
    dict
        ``r2`` and ``r2_ci`` (dicts per output), ``r2_vw``, ``r2_vw_ci``, ``corr`` and
        ``rmse`` (dicts per output), ``median_error``, ``median_error_ci``,
        ``n_samples``, ``gap``, ``block_size``, ``y_pred``; with ``n_null`` also
        ``chance``, ``chance_ci``, ``p_value``.

    Raises
    ------
    SpikeDecodeValueError
        A constant or non-finite target, or X and y of different lengths.

    Examples
    --------
    >>> from spikedecode.decoders import make_decoder
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(400, 3, 4))
    >>> y = X[:, -1, :2] @ [[1.0, 0.0], [0.0, 1.0]] + 0.3 * rng.normal(size=(400, 2))
    >>> r = regression_scores(make_decoder("wiener"), X, y, n_boot=200, channels=["x", "y"],
    ...                       random_state=0)
    >>> r["r2_vw"] > 0.8 and r["r2_vw_ci"][0] < r["r2_vw"] < r["r2_vw_ci"][1]
    True
    >>> sorted(r["r2"])
    ['x', 'y']
    """
    from spikedecode.preprocess.behavior import check_target

    if not 0 < ci < 1:
        raise ConfigError(f"ci == {ci}, must be in (0, 1).")
    gap = _default_gap(X, gap)
    y_arr = np.asarray(y)
    if y_arr.dtype.kind not in "iuf":
        raise SpikeDecodeValueError(
            f"y has dtype {y_arr.dtype}; a regressor needs a numeric target. For class "
            "labels use a classifier (make_decoder('logistic'))."
        )
    Y = check_target(y_arr, channels=channels)
    names = ([str(c) for c in channels] if channels is not None
             else [str(i) for i in range(Y.shape[1])])
    if len(names) != Y.shape[1]:
        raise SpikeDecodeValueError(f"channels has {len(names)} names for {Y.shape[1]} outputs.")
    seed = draw_seed(random_state)
    pred = blocked_cross_val_predict(decoder, X, y_arr.astype(np.float64), groups,
                                     n_splits=n_splits, gap=gap, random_state=seed,
                                     progress=progress)
    m = regression_metrics(Y, pred)
    b = max(gap, 2, int(np.ceil(len(Y) ** (1 / 3)))) if block_size is None else block_size
    boot = block_bootstrap_ci(Y, pred, block_size=b, n_boot=n_boot, ci=ci,
                              random_state=seed + 1)
    out: dict[str, Any] = {
        "r2": dict(zip(names, m["r2"].tolist())),
        "r2_ci": {c: tuple(float(v) for v in boot["r2_ci"][i]) for i, c in enumerate(names)},
        "r2_vw": m["r2_vw"], "r2_vw_ci": boot["r2_vw_ci"],
        "corr": dict(zip(names, m["corr"].tolist())),
        "rmse": dict(zip(names, m["rmse"].tolist())),
        "median_error": m["median_error"], "median_error_ci": boot["median_error_ci"],
        "n_samples": int(len(Y)), "gap": int(gap), "block_size": int(boot["block_size"]),
        "n_splits": int(n_splits), "y_pred": pred,
    }
    if n_null > 0:
        null = circular_shift_null(decoder, X, y_arr.astype(np.float64), groups,
                                   n_shifts=n_null, n_splits=n_splits, gap=gap,
                                   observed=out["r2_vw"], random_state=seed + 2)
        out.update(chance=null["chance"], chance_ci=null["chance_ci"], p_value=null["p_value"])
    return out


def shuffled_kfold_score(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    *,
    n_splits: int = 5,
    random_state: RandomStateLike = None,
) -> float:
    """The WRONG protocol, kept as a demonstration: variance-weighted R² of a shuffled K-fold.

    Shuffled folds put the temporal neighbours of each test sample (overlapping windows,
    autocorrelated targets) in the training set, so a flexible decoder scores above zero
    even on a target unrelated to the spikes. Compare with :func:`regression_scores`.
    Never use this to report results.

    Parameters
    ----------
    decoder : regressor
    X : array-like (n_samples, ...)
    y : array-like (n_samples,) or (n_samples, n_outputs)
    n_splits : int, default=5
    random_state : int, Generator or None

    Returns
    -------
    float
        Variance-weighted R² of the pooled out-of-fold predictions.

    Examples
    --------
    A smooth random signal as features, an independent smooth signal as target: the
    nearest neighbours in feature space are the temporal neighbours, whose targets are
    close too.

    >>> from scipy.ndimage import gaussian_filter1d
    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = gaussian_filter1d(rng.normal(size=(600, 3)), 10, axis=0)
    >>> y = gaussian_filter1d(rng.normal(size=600), 10)
    >>> shuffled_kfold_score(KNeighborsRegressor(3), X, y, random_state=0) > 0.5
    True
    """
    from sklearn.model_selection import KFold

    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64)
    seed = draw_seed(random_state)
    pred = np.full(y.shape, np.nan)
    for tr, te in KFold(n_splits, shuffle=True, random_state=seed).split(X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = clone(decoder).fit(X[tr], y[tr])
        pred[te] = est.predict(X[te])
    return r2_per_output(y, pred)[1]
