"""Decoding over time: time-resolved scores, temporal generalization, cluster tests.

Both analyses run the *same* leakage-safe grouped CV at every time point: the folds
(:func:`spikedecode.preprocess.group_splits`, stratified, whole trials on one side) are
drawn once per repeat and shared by all lags, and the decoder of fold ``k`` at lag ``t``
is a clone seeded ``seed + k`` (:class:`~spikedecode.decoders.SlidingEstimator`). So the
diagonal of :func:`temporal_generalization` *is* :func:`time_resolved_scores`'s curve.

* **Score band**: a cluster bootstrap over trials with the *same* draws at every lag
  (a band, not independent intervals), mixed over re-seeded CV repeats as in
  :func:`~spikedecode.evaluation.within_day_scores`.
* **Chance**: label permutations that respect the trials (whole trials' labels move),
  the same CV on each; ``chance`` is the null mean at each lag.
* **Cluster test** (Maris & Oostenveld 2007, J Neurosci Methods 164:177): lags (or
  train x test cells) whose score exceeds the null's ``1 - cluster_alpha`` quantile at
  that lag form clusters of neighbours (in time, or 4-connected in the matrix); a
  cluster's mass is the sum of ``score - chance`` over it. Each permuted data set gives
  the largest mass of its own clusters (same thresholds); a cluster's p-value is
  ``(1 + #null masses >= its mass) / (1 + n_permutations)``, which controls the
  family-wise error over all time points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray
from sklearn.base import clone

from spikedecode._random import RandomStateLike, check_generator, draw_seed
from spikedecode.errors import ConfigError, SpikeDecodeValueError
from spikedecode.evaluation.metrics import (
    _bootstrap_scores,
    _LabelPermuter,
    _metric,
    _percentile_ci,
    resolve_auto,
    set_seed,
)

__all__ = ["time_resolved_scores", "temporal_generalization", "cluster_test",
           "cross_day_time_resolved"]


def _inputs(windows: Any, y: ArrayLike | None, groups: ArrayLike | None,
            times: ArrayLike | None) -> tuple[NDArray, NDArray, NDArray | None, NDArray]:
    """``(X3, y, groups, times)`` from Windows or from arrays."""
    if isinstance(windows, xr.DataArray):
        from spikedecode.preprocess import to_sequences

        X, y_w, g_w = to_sequences(windows)
        if y_w is None:
            raise SpikeDecodeValueError("windows have no 'label' coordinate to decode.")
        y = y_w if y is None else np.asarray(y)
        groups = g_w if groups is None else groups
        if times is None:
            times = (windows["t_lag"].values if "t_lag" in windows.coords
                     else np.arange(windows.sizes["lag"]) * float(
                         windows.attrs.get("bin_size", 1.0)))
    else:
        X = np.asarray(windows, dtype=np.float64)
        if y is None:
            raise SpikeDecodeValueError("y is required when X is an array.")
    if X.ndim != 3:
        raise SpikeDecodeValueError(
            f"X must be 3-D (n_samples, n_lags, n_features); got shape {X.shape}.")
    y = np.asarray(y)
    if len(y) != X.shape[0]:
        raise SpikeDecodeValueError(f"X has {X.shape[0]} samples but y has {len(y)}.")
    g = None if groups is None else np.asarray(groups)
    t = np.arange(X.shape[1], dtype=np.float64) if times is None else \
        np.asarray(times, dtype=np.float64)
    if t.shape != (X.shape[1],):
        raise SpikeDecodeValueError(f"times has shape {t.shape}; X has {X.shape[1]} lags.")
    return X, y, g, t


def _oof(decoder: Any, X: NDArray, y: NDArray, groups: NDArray | None, n_splits: int,
         seed: int, generalize: bool) -> NDArray:
    """Out-of-fold predictions at every lag (or every train x test lag)."""
    from spikedecode.decoders.temporal import GeneralizingEstimator, SlidingEstimator
    from spikedecode.preprocess.resample import group_splits

    splits = group_splits(y, groups, n_splits, seed)
    n, n_lags = X.shape[:2]
    shape = (n, n_lags, n_lags) if generalize else (n, n_lags)
    pred = np.empty(shape, dtype=y.dtype)
    meta = GeneralizingEstimator if generalize else SlidingEstimator
    for k, (tr, te) in enumerate(splits):
        est = meta(set_seed(clone(decoder), seed + k))
        est.fit(X[tr], y[tr], None if groups is None else groups[tr])
        pred[te] = est.predict(X[te])
    return pred


def _scores(y: NDArray, pred: NDArray, metric: str) -> NDArray[np.float64]:
    """``metric`` at every lag (cell) of ``pred`` (n_samples, ...), from confusion counts.

    The same numbers as sklearn's ``accuracy_score`` / ``balanced_accuracy_score`` at
    each cell (both come from the confusion matrix), without one call per cell.
    """
    from spikedecode.evaluation.metrics import _scores_from_confusions

    _metric(metric)
    flat = pred.reshape(len(y), -1)
    classes, codes = np.unique(np.concatenate([y, flat.ravel()]), return_inverse=True)
    codes = codes.reshape(-1)
    k = len(classes)
    t = codes[: len(y)]
    p = codes[len(y):].reshape(flat.shape)
    cells = flat.shape[1]
    pair = (np.arange(cells)[None, :] * k * k + t[:, None] * k + p).ravel()
    conf = np.bincount(pair, minlength=cells * k * k).reshape(cells, k, k)
    return _scores_from_confusions(conf, metric).reshape(pred.shape[1:])


def _clusters(stat: NDArray, above: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray]:
    """Label the clusters of ``above`` (neighbours in time / 4-connected) and their masses."""
    from scipy import ndimage

    labels, n = ndimage.label(above)
    if n == 0:
        return labels, np.zeros(0)
    masses = ndimage.sum_labels(stat, labels, index=np.arange(1, n + 1))
    return labels, np.asarray(masses, dtype=np.float64)


def cluster_test(
    observed: ArrayLike, null: ArrayLike, *, cluster_alpha: float = 0.05,
) -> dict[str, Any]:
    """Cluster-based permutation test of scores over time (or a time x time matrix).

    Parameters
    ----------
    observed : array (n_lags,) or (n_train, n_test)
        Scores on the real labels.
    null : array (n_permutations, ...)
        Scores on permuted labels (the same CV); the trailing axes are shaped like
        ``observed``.
    cluster_alpha : float, default=0.05
        Cluster-forming threshold: a point joins a cluster when its score exceeds the
        ``1 - cluster_alpha`` quantile, at that point, of the observed and permuted
        scores together (all ``n_permutations + 1`` data sets are treated alike, so the
        test is exact: under the null a cluster has ``p_value <= alpha`` in at most a
        fraction ``alpha`` of data sets).

    Returns
    -------
    dict
        ``chance`` (null mean per point), ``threshold`` (per point), ``clusters`` (list
        of dicts: ``index`` (tuple of slices' start/stop per axis), ``mass``,
        ``p_value``, ``size``), ``cluster_p`` (per point: the p-value of its cluster,
        NaN outside clusters) and ``null_max_mass`` (per permutation).

    Raises
    ------
    SpikeDecodeValueError
        ``null`` not of shape ``(n_permutations, *observed.shape)`` or fewer than one
        permutation.

    References
    ----------
    Maris E, Oostenveld R (2007). Nonparametric statistical testing of EEG- and
    MEG-data. J Neurosci Methods 164:177-190.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> null = 0.5 + 0.05 * rng.normal(size=(99, 10))
    >>> obs = np.full(10, 0.5); obs[4:7] = 0.8  # a three-point bump
    >>> out = cluster_test(obs, null)
    >>> [(c["index"], round(c["p_value"], 2)) for c in out["clusters"]]
    [(((4, 7),), 0.01)]
    """
    obs = np.asarray(observed, dtype=np.float64)
    nul = np.asarray(null, dtype=np.float64)
    if nul.ndim != obs.ndim + 1 or nul.shape[1:] != obs.shape or nul.shape[0] < 1:
        raise SpikeDecodeValueError(
            f"null must have shape (n_permutations, *{obs.shape}); got {nul.shape}.")
    if not 0 < cluster_alpha < 1:
        raise ConfigError(f"cluster_alpha == {cluster_alpha}, must be in (0, 1).")
    chance = nul.mean(axis=0)
    # the threshold comes from the observed and the permuted data sets together, so all
    # n + 1 are treated alike (exchangeable under the null): the test is exact
    threshold = np.quantile(np.concatenate([obs[None], nul]), 1 - cluster_alpha, axis=0)
    labels, masses = _clusters(obs - chance, obs > threshold)
    null_max = np.zeros(nul.shape[0])
    for i in range(nul.shape[0]):
        _, m = _clusters(nul[i] - chance, nul[i] > threshold)
        null_max[i] = m.max() if m.size else 0.0
    from scipy import ndimage

    clusters = []
    cluster_p = np.full(obs.shape, np.nan)
    for j, (mass, sl) in enumerate(zip(masses, ndimage.find_objects(labels))):
        p = float((1 + np.sum(null_max >= mass)) / (1 + nul.shape[0]))
        member = labels == j + 1
        cluster_p[member] = p
        clusters.append({"index": tuple((int(s.start), int(s.stop)) for s in sl),
                         "mass": float(mass), "p_value": p, "size": int(member.sum())})
    return {"chance": chance, "threshold": threshold, "clusters": clusters,
            "cluster_p": cluster_p, "null_max_mass": null_max}


def _temporal(decoder: Any, windows: Any, y: ArrayLike | None, groups: ArrayLike | None, *,
              times: ArrayLike | None, generalize: bool, n_splits: int,
              n_repeats: int | str, metric: str, n_boot: int, ci: float,
              n_permutations: int | str, cluster_alpha: float, alpha: float,
              random_state: RandomStateLike) -> xr.Dataset:
    _metric(metric)
    if not 0 < ci < 1:
        raise ConfigError(f"ci == {ci}, must be in (0, 1).")
    X, y_arr, g, t = _inputs(windows, y, groups, times)
    n_trials = len(np.unique(g)) if g is not None else len(y_arr)
    n_rep, n_perm = resolve_auto(n_trials, n_repeats, n_permutations)
    seed = draw_seed(random_state)
    # repeat r draws its folds and decoder seeds as within_day_scores' repeat r does, so
    # the curve at lag t is within_day_scores on that lag alone
    preds = [_oof(decoder, X, y_arr, g, n_splits, draw_seed(seed + 7919 * r), generalize)
             for r in range(n_rep)]
    score = np.mean([_scores(y_arr, p, metric) for p in preds], axis=0)
    # the band: one set of cluster-bootstrap draws for every lag (same seed), spread
    # over the repeats so it holds the fold assignment too
    per = -(-int(n_boot) // n_rep) if n_boot >= 1 else 0
    cells = score.size
    reps = np.empty((n_rep, per, cells))
    for r, p in enumerate(preds):
        flat = p.reshape(len(y_arr), -1)
        for j in range(cells):
            reps[r, :, j] = _bootstrap_scores(y_arr, flat[:, j], metrics=(metric,), groups=g,
                                              n_boot=per, random_state=seed + 1 + r)[metric][1]
    mixed = reps.transpose(1, 0, 2).reshape(-1, cells)[: max(int(n_boot), 0)]
    lo_hi = np.array([_percentile_ci(mixed[:, j], ci) for j in range(cells)])
    ci_low = lo_hi[:, 0].reshape(score.shape)
    ci_high = lo_hi[:, 1].reshape(score.shape)

    dims = ("train_time", "test_time") if generalize else ("time",)
    coords = ({"train_time": t, "test_time": t} if generalize else {"time": t})
    data: dict[str, Any] = {"score": (dims, score), "ci_low": (dims, ci_low),
                            "ci_high": (dims, ci_high)}
    attrs: dict[str, Any] = {"metric": metric, "n_splits": n_splits, "n_repeats": n_rep,
                             "n_permutations": n_perm, "n_boot": int(n_boot), "ci": ci,
                             "n_samples": int(len(y_arr)), "n_trials": int(n_trials),
                             "cluster_alpha": cluster_alpha, "alpha": alpha,
                             "generalize": bool(generalize)}
    _, counts = np.unique(y_arr, return_counts=True)
    attrs["nominal_chance"] = (1.0 / len(counts) if metric == "balanced_accuracy"
                               else float(counts.max() / counts.sum()))
    if n_perm > 0:
        permute = _LabelPermuter(y_arr, g)
        rng = check_generator(seed + 2)
        null = np.empty((n_perm, *score.shape))
        for i in range(n_perm):
            y_perm = permute(rng)
            null[i] = _scores(y_perm, _oof(decoder, X, y_perm, g, n_splits, draw_seed(rng),
                                           generalize), metric)
        test = cluster_test(score, null, cluster_alpha=cluster_alpha)
        data.update(chance=(dims, test["chance"]),
                    chance_low=(dims, np.quantile(null, 0.025, axis=0)),
                    chance_high=(dims, np.quantile(null, 0.975, axis=0)),
                    threshold=(dims, test["threshold"]),
                    cluster_p=(dims, test["cluster_p"]),
                    significant=(dims, np.nan_to_num(test["cluster_p"], nan=1.0) <= alpha),
                    null=(("permutation", *dims), null))
        attrs["clusters"] = [
            {**c, "start": float(t[c["index"][0][0]]),
             "stop": float(t[c["index"][0][1] - 1])} for c in test["clusters"]]
        attrs["n_significant_clusters"] = sum(c["p_value"] <= alpha for c in test["clusters"])
    return xr.Dataset(data, coords=coords, attrs=attrs)


def time_resolved_scores(
    decoder: Any,
    windows: Any,
    y: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    times: ArrayLike | None = None,
    n_splits: int = 5,
    n_repeats: int | str = "auto",
    metric: str = "balanced_accuracy",
    n_boot: int = 1000,
    ci: float = 0.95,
    n_permutations: int | str = "auto",
    cluster_alpha: float = 0.05,
    alpha: float = 0.05,
    random_state: RandomStateLike = None,
) -> xr.Dataset:
    """Decoding score at every time point after the event, with a band, chance and clusters.

    One decoder per lag (:class:`~spikedecode.decoders.SlidingEstimator`), the same
    grouped folds at every lag (see the module docstring).

    Parameters
    ----------
    decoder : scikit-learn classifier
        Cloned per fold and lag (e.g. ``make_decoder("logistic")``).
    windows : xarray.DataArray or array (n_samples, n_lags, n_features)
        Event-aligned Windows (:func:`spikedecode.preprocess.event_windows` with
        ``bin_size``), or the array ``X``.
    y, groups : array-like (n_samples,), optional
        Labels and trial ids; default the Windows' ``label`` and ``trial``.
    times : array-like (n_lags,), optional
        Time of each lag; default the Windows' ``t_lag`` (time since the event).
    n_splits : int, default=5
        Grouped, stratified folds.
    n_repeats : int or "auto", default="auto"
        Re-seeded CV repeats (:func:`~spikedecode.evaluation.metrics.resolve_auto`).
    metric : {"balanced_accuracy", "accuracy"}, default="balanced_accuracy"
        The score.
    n_boot : int, default=1000
        Cluster-bootstrap replicates of the band.
    ci : float, default=0.95
        Band coverage.
    n_permutations : int or "auto", default="auto"
        Label permutations for chance and the cluster test (0: neither).
    cluster_alpha : float, default=0.05
        Cluster-forming threshold (per-lag null quantile ``1 - cluster_alpha``).
    alpha : float, default=0.05
        A cluster with p-value <= ``alpha`` is marked ``significant``.
    random_state : int, Generator or None
        Seeds the folds, decoders, bootstrap and permutations.

    Returns
    -------
    xarray.Dataset
        On dim ``time``: ``score``, ``ci_low``, ``ci_high``; with permutations also
        ``chance``, ``chance_low``, ``chance_high`` (2.5/97.5 % of the null),
        ``threshold``, ``cluster_p``, ``significant`` and ``null`` (``permutation``,
        ``time``). Attrs: the settings, ``nominal_chance``, ``clusters`` (list of dicts
        with ``start``/``stop`` times of the cluster's first and last lag, ``mass``,
        ``p_value``) and ``n_significant_clusters``.

    See Also
    --------
    temporal_generalization : the train-time x test-time matrix.
    plotting.plot_time_resolved : its figure.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(60) % 2
    >>> X = rng.normal(size=(60, 6, 3)); X[:, 3:, 0] += 2 * y[:, None]  # from lag 3 on
    >>> r = time_resolved_scores(LogisticRegression(), X, y, n_permutations=19,
    ...                          n_repeats=1, n_boot=200, random_state=0)
    >>> r["score"].dims, bool(r["score"][4] > 0.8 > r["score"][1])
    (('time',), True)
    >>> [(c["start"], c["stop"]) for c in r.attrs["clusters"] if c["p_value"] <= 0.05]
    [(3.0, 5.0)]
    """
    return _temporal(decoder, windows, y, groups, times=times, generalize=False,
                     n_splits=n_splits, n_repeats=n_repeats, metric=metric, n_boot=n_boot,
                     ci=ci, n_permutations=n_permutations, cluster_alpha=cluster_alpha,
                     alpha=alpha, random_state=random_state)


def temporal_generalization(
    decoder: Any,
    windows: Any,
    y: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    times: ArrayLike | None = None,
    n_splits: int = 5,
    n_repeats: int | str = "auto",
    metric: str = "balanced_accuracy",
    n_boot: int = 1000,
    ci: float = 0.95,
    n_permutations: int | str = "auto",
    cluster_alpha: float = 0.05,
    alpha: float = 0.05,
    random_state: RandomStateLike = None,
) -> xr.Dataset:
    """Train at time t, test at t': the temporal generalization matrix, with the same CV.

    :class:`~spikedecode.decoders.GeneralizingEstimator` in the grouped folds of
    :func:`time_resolved_scores` (same folds, same decoder seeds): with the same
    arguments its diagonal equals that curve. The parameters are those of
    :func:`time_resolved_scores`.

    Parameters
    ----------
    decoder, windows, y, groups, times, n_splits, n_repeats, metric, n_boot, ci
        As :func:`time_resolved_scores`.
    n_permutations, cluster_alpha, alpha, random_state
        As :func:`time_resolved_scores`; clusters are 4-connected in the matrix.

    Returns
    -------
    xarray.Dataset
        The variables of :func:`time_resolved_scores` on dims ``(train_time,
        test_time)``.

    See Also
    --------
    plotting.plot_temporal_generalization : its figure.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(60) % 2
    >>> X = rng.normal(size=(60, 4, 3)); X[:, 2:, 0] += 2 * y[:, None]
    >>> m = temporal_generalization(LogisticRegression(), X, y, n_permutations=0,
    ...                             n_repeats=1, n_boot=100, random_state=0)
    >>> m["score"].shape, bool(m["score"][2, 3] > 0.8 > m["score"][0, 3])
    ((4, 4), True)
    """
    return _temporal(decoder, windows, y, groups, times=times, generalize=True,
                     n_splits=n_splits, n_repeats=n_repeats, metric=metric, n_boot=n_boot,
                     ci=ci, n_permutations=n_permutations, cluster_alpha=cluster_alpha,
                     alpha=alpha, random_state=random_state)


def cross_day_time_resolved(
    days: Any,
    decoder: Any,
    *,
    aligner: Any = None,
    times: ArrayLike | None = None,
    metric: str = "balanced_accuracy",
    n_splits: int = 5,
    adapt_folds: int = 2,
    random_state: RandomStateLike = None,
) -> xr.DataArray:
    """Train on one day, test on another, at every time point after the event.

    At each lag, :func:`~spikedecode.evaluation.cross_day_matrix` on that lag's samples
    of every day: the honest cross-day protocol (the aligner fitted on the training day
    and adapted to each test day on folds of whole trials other than the tested one),
    so the diagonal of each matrix is the within-day CV score at that lag and the
    off-diagonal cells the transfer.

    Parameters
    ----------
    days : mapping day -> Windows
        Event-aligned Windows ``(sample, lag, unit)`` with the same number of lags on
        every day (e.g. :func:`~spikedecode.preprocess.event_windows` with ``bin_size``,
        or :func:`~spikedecode.preprocess.from_counts` with ``pool``).
    decoder : scikit-learn classifier
        Cloned for every fit.
    aligner : DayAligner, optional
        E.g. ``get_aligner("cca")``; None decodes in the units shared by all days.
    times : array-like (n_lags,), optional
        Time of each lag; default the first day's ``t_lag`` (else the lag index).
    metric : {"balanced_accuracy", "accuracy"}, default="balanced_accuracy"
        The score.
    n_splits : int, default=5
        Grouped folds of the within-day (diagonal) cells.
    adapt_folds : int, default=2
        Folds of a test day's trials for the honest adaptation.
    random_state : int, Generator or None
        The same seed at every lag.

    Returns
    -------
    xarray.DataArray
        Dims ``(time, train_day, test_day)``; attrs of the per-lag matrices.

    Raises
    ------
    SpikeDecodeValueError
        Days with different numbers of lags.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from sklearn.linear_model import LogisticRegression
    >>> def day(seed):
    ...     rng = np.random.default_rng(seed); y = np.arange(40) % 2
    ...     X = rng.normal(size=(40, 3, 4)); X[:, 1:, 0] += 3 * y[:, None]
    ...     return xr.DataArray(X, dims=("sample", "lag", "unit"),
    ...         coords={"unit": list("abcd"), "label": ("sample", y.astype(str)),
    ...                 "trial": ("sample", np.arange(40))})
    >>> m = cross_day_time_resolved({"d1": day(0), "d2": day(1)}, LogisticRegression(),
    ...                             random_state=0)
    >>> m.dims, bool(m.sel(train_day="d1", test_day="d2")[2] > 0.8)
    (('time', 'train_day', 'test_day'), True)
    """
    import warnings

    from spikedecode.evaluation.consistency import BelowMajorityWarning, cross_day_matrix

    names = list(days)
    n_lags = {d: int(days[d].sizes["lag"]) for d in names}
    if len(set(n_lags.values())) != 1:
        raise SpikeDecodeValueError(
            f"days have different numbers of lags {n_lags}; cut every day's Windows with "
            "the same window and bin_size.")
    n = next(iter(n_lags.values()))
    first = days[names[0]]
    if times is None:
        times = (first["t_lag"].values if "t_lag" in first.coords
                 else np.arange(n, dtype=np.float64))
    t = np.asarray(times, dtype=np.float64)
    seed = draw_seed(random_state)
    with warnings.catch_warnings():
        # before the event (or after the signal fades) pairs sit at chance and some fall
        # below the majority rate by chance alone: a warning per time point would be noise;
        # the flags stay in the result's below_majority / inverted coordinates
        warnings.simplefilter("ignore", BelowMajorityWarning)
        mats = [cross_day_matrix({d: days[d].isel(lag=[k]) for d in names}, decoder,
                                 aligner=None if aligner is None else clone(aligner),
                                 metric=metric, n_splits=n_splits, adapt_folds=adapt_folds,
                                 random_state=seed)
                for k in range(n)]
    out = xr.concat(mats, dim="time").assign_coords(time=t)
    out.attrs = dict(mats[0].attrs)
    out.name = "score"
    return out
