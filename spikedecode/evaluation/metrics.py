"""Within-day decoding metrics: leakage-safe CV, bootstrap CIs, confusion, permutation chance.

Everything here splits by ``groups`` (trial ids): overlapping windows of one trial never
sit on both sides of a split, the inner λ search of the linear decoders receives the
training fold's groups, and any resampling happens inside the training fold only.
Confidence intervals come from a *cluster* bootstrap over trials when groups are given
(windows of one trial are not independent samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from spikedecode._random import RandomStateLike, check_generator, draw_seed
from spikedecode.errors import ConfigError, LabelError, SpikeDecodeValueError

__all__ = [
    "METRICS",
    "bootstrap_ci",
    "confusion",
    "cross_val_predictions",
    "within_day_scores",
    "permutation_chance",
    "resample_then_split_score",
    "set_seed",
    "SMALL_N_TRIALS",
    "AUTO_REPEATS",
    "AUTO_PERMUTATIONS",
    "resolve_auto",
]

#: below this many trials, ``"auto"`` repeats the CV and tests against permuted labels
SMALL_N_TRIALS = 300
#: re-seeded CV repeats that ``n_repeats="auto"`` runs on small per-trial data
AUTO_REPEATS = 10
#: label permutations that ``n_permutations="auto"`` runs on small per-trial data
AUTO_PERMUTATIONS = 100

METRICS = {"accuracy": accuracy_score, "balanced_accuracy": balanced_accuracy_score}


def _metric(name: str) -> Any:
    if name not in METRICS:
        raise ConfigError(f"metric == {name!r}, must be one of {sorted(METRICS)}.")
    return METRICS[name]


def set_seed(estimator: Any, seed: int) -> Any:
    """Set every ``random_state`` parameter of ``estimator`` that is None to ``seed``.

    Makes a cloned decoder reproducible (and identical on every Dask worker) without
    overriding a seed the user chose.

    Parameters
    ----------
    estimator : scikit-learn estimator
        Changed in place; nested ``*__random_state`` parameters count too.
    seed : int
        The seed given to every unset ``random_state``.

    Returns
    -------
    estimator
        The same object, for chaining.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> set_seed(LogisticRegression(), 7).random_state
    7
    >>> set_seed(LogisticRegression(random_state=1), 7).random_state  # the user's seed wins
    1
    """
    params = estimator.get_params(deep=True)
    update = {k: int(seed) for k, v in params.items()
              if (k == "random_state" or k.endswith("__random_state")) and v is None}
    if update:
        estimator.set_params(**update)
    return estimator


def _encode_pairs(y_true: NDArray, y_pred: NDArray) -> tuple[NDArray, NDArray, int]:
    """Encode true and predicted labels once, on one shared label set."""
    _, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    codes = codes.reshape(-1)
    n_classes = int(codes.max()) + 1
    return codes[: len(y_true)], codes[len(y_true):], n_classes


def _scores_from_confusions(conf: NDArray, metric: str) -> NDArray[np.float64]:
    """``metric`` of each confusion matrix in ``conf`` (..., n_classes, n_classes).

    Rows are true labels. Balanced accuracy is the mean recall over the classes present
    in ``y_true`` (rows with a count), as :func:`sklearn.metrics.balanced_accuracy_score`
    computes it on the labels of the (resampled) data.
    """
    conf = np.asarray(conf, dtype=np.float64)
    diag = np.diagonal(conf, axis1=-2, axis2=-1)
    if metric == "accuracy":
        return diag.sum(-1) / conf.sum((-2, -1))
    rows = conf.sum(-1)
    present = rows > 0
    recall = np.divide(diag, rows, out=np.zeros_like(diag), where=present)
    return recall.sum(-1) / present.sum(-1)


def _bootstrap_confusions(
    t: NDArray, p: NDArray, n_classes: int, groups: NDArray | None, n_boot: int,
    rng: np.random.Generator, chunk_elems: int = 1 << 22,
) -> NDArray[np.float64]:
    """Confusion matrices (n_boot, n_classes, n_classes) of bootstrap replicates.

    Each replicate draws ``n_units`` units with replacement, a unit being a group
    (cluster bootstrap) or, without groups, a sample, exactly as drawing
    ``rng.integers(0, n_units, n_units)`` once per replicate would (the same random
    stream, so the same replicates for the same seed). A replicate's confusion is the
    draw counts times the per-unit confusions, so no metric is called per replicate.
    """
    cc = n_classes * n_classes
    pair = t * n_classes + p
    if groups is None:
        n_units, unit_conf = len(t), None
    else:
        _, inv = np.unique(groups, return_inverse=True)
        inv = inv.reshape(-1)
        n_units = int(inv.max()) + 1
        # one (n_classes x n_classes) confusion per group, flattened: (n_groups, cc)
        unit_conf = np.bincount(inv * cc + pair, minlength=n_units * cc).reshape(n_units, cc)
        unit_conf = unit_conf.astype(np.float64)
    out = np.empty((n_boot, cc))
    step = max(1, chunk_elems // max(n_units, 1))
    for b0 in range(0, n_boot, step):
        nb = min(step, n_boot - b0)
        pick = rng.integers(0, n_units, (nb, n_units))
        if unit_conf is None:  # a sample's confusion is one cell: count the drawn cells
            for i, r in enumerate(pick):
                out[b0 + i] = np.bincount(pair[r], minlength=cc)
        else:
            row = np.arange(nb)[:, None]
            counts = np.bincount((row * n_units + pick).ravel(),
                                 minlength=nb * n_units).reshape(nb, n_units)
            out[b0:b0 + nb] = counts.astype(np.float64) @ unit_conf
    return out.reshape(n_boot, n_classes, n_classes)


def _check_counts(**counts: Any) -> None:
    """``n_boot`` / ``n_permutations``: integers in [0, 1,000,000] (a bound on memory and
    time: one replicate is one row of a (n_boot, n_classes**2) array)."""
    from numbers import Integral

    from spikedecode._validation import Interval, check_param

    for name, value in counts.items():
        check_param(value, name, Interval(Integral, 0, 1_000_000, closed="both"),
                    hint="0 turns it off; 1,000-10,000 are plenty for a 95 % CI")


def _check_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray, NDArray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise SpikeDecodeValueError(
            f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal non-empty 1-D."
        )
    return y_true, y_pred


def _bootstrap_scores(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    metrics: Sequence[str] = ("accuracy", "balanced_accuracy"),
    groups: ArrayLike | None = None,
    n_boot: int = 1000,
    random_state: RandomStateLike = None,
) -> dict[str, tuple[float, NDArray[np.float64]]]:
    """Point estimates and bootstrap replicates of several metrics from one resampling.

    Labels are encoded once and each group's confusion matrix is counted once; every
    replicate's confusion matrix is then its draw counts times those, so the cost does
    not grow with the number of samples per group. All ``metrics`` share the same
    replicates.

    Parameters
    ----------
    y_true, y_pred : array-like (n_samples,)
    metrics : sequence of {"accuracy", "balanced_accuracy"}
    groups : array-like (n_samples,), optional
        Resample whole groups (trials), a cluster bootstrap; else samples.
    n_boot : int, default=1000
    random_state : int, Generator or None

    Returns
    -------
    dict
        ``metric -> (value, replicates)``, replicates of shape (n_boot,).

    Examples
    --------
    >>> r = _bootstrap_scores([0, 1, 1, 1], [0, 1, 0, 1], n_boot=50, random_state=0)
    >>> r["accuracy"][0], r["balanced_accuracy"][0], r["accuracy"][1].shape
    (0.75, 0.8333333333333333, (50,))
    """
    for m in metrics:
        _metric(m)
    _check_counts(n_boot=n_boot)
    y_true, y_pred = _check_pair(y_true, y_pred)
    t, p, n_classes = _encode_pairs(y_true, y_pred)
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(y_true):
            raise SpikeDecodeValueError(
                f"groups has {len(groups)} entries but y_true has {len(y_true)}."
            )
    full = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    full = full.reshape(n_classes, n_classes)
    if n_boot >= 1:
        conf = _bootstrap_confusions(t, p, n_classes, groups, int(n_boot),
                                     check_generator(random_state))
    else:
        conf = np.zeros((0, n_classes, n_classes))
    return {m: (float(_scores_from_confusions(full, m)), _scores_from_confusions(conf, m))
            for m in metrics}


def _percentile_ci(stats: NDArray, ci: float) -> tuple[float, float]:
    if len(stats) == 0:
        return np.nan, np.nan
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    metric: str = "accuracy",
    groups: ArrayLike | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    random_state: RandomStateLike = None,
) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap CI of a metric.

    Each replicate draws as many groups (or, without groups, samples) as there are,
    with replacement; its score comes from its confusion matrix (see
    ``_bootstrap_scores``), so no metric function runs per replicate.

    Parameters
    ----------
    y_true, y_pred : array-like (n_samples,)
    metric : {"accuracy", "balanced_accuracy"}, default="accuracy"
    groups : array-like (n_samples,), optional
        Resample whole groups (trials) — a cluster bootstrap; else samples.
    n_boot : int, default=1000
    ci : float, default=0.95
    random_state : int, Generator or None

    Returns
    -------
    (value, low, high)

    Examples
    --------
    >>> v, lo, hi = bootstrap_ci([0, 1] * 50, [0, 1] * 45 + [1, 0] * 5, random_state=0)
    >>> v, bool(lo < 0.9 < hi)
    (0.9, True)
    """
    _metric(metric)
    if not 0 < ci < 1:
        raise ConfigError(f"ci == {ci}, must be in (0, 1).")
    value, stats = _bootstrap_scores(y_true, y_pred, metrics=(metric,), groups=groups,
                                    n_boot=n_boot, random_state=random_state)[metric]
    return (value, *_percentile_ci(stats, ci))


def confusion(y_true: ArrayLike, y_pred: ArrayLike, *, labels: Sequence[Any] | None = None,
              normalize: str | None = None) -> xr.DataArray:
    """Confusion matrix as a DataArray (``true``, ``predicted``).

    Parameters
    ----------
    y_true : array-like, shape (n_samples,)
        True labels.
    y_pred : array-like, shape (n_samples,)
        Predicted labels.
    labels : sequence, optional
        Row and column order; default every label seen in ``y_true`` or ``y_pred``, sorted.
    normalize : {None, "true", "pred", "all"}
        As :func:`sklearn.metrics.confusion_matrix`.

    Returns
    -------
    xarray.DataArray, shape (n_labels, n_labels)
        Counts (or fractions) with dims ``("true", "predicted")`` labelled by the labels,
        named ``"confusion"``; ``attrs["normalize"]`` records ``normalize``.

    Examples
    --------
    >>> confusion(["a", "b", "b"], ["a", "b", "a"]).values.tolist()
    [[1, 0], [1, 1]]
    >>> confusion(["a", "b", "b"], ["a", "b", "a"], normalize="true").sel(true="b").values
    array([0.5, 0.5])
    """
    from sklearn.metrics import confusion_matrix

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    labels = np.asarray(labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    return xr.DataArray(cm, dims=("true", "predicted"),
                        coords={"true": labels, "predicted": labels},
                        name="confusion", attrs={"normalize": str(normalize)})


def _fit(decoder: Any, X: NDArray, y: NDArray, groups: NDArray | None) -> Any:
    from spikedecode._threads import blas_threads
    from spikedecode.decoders.linear import groups_fit_params

    # BLAS threads from the work of one solver step (spikedecode/_threads.py): samples x
    # features x classes; torch decoders pick their own threads in training
    work = float(np.prod(np.shape(X))) * max(len(np.unique(y)), 1)
    with blas_threads(work=work):
        return decoder.fit(X, y, **groups_fit_params(decoder, groups))


def _fold_bar(splits: list, progress: bool | str) -> Any:
    """``splits`` wrapped in a tqdm bar (stderr) when ``progress`` is truthy."""
    if not progress:
        return splits
    from tqdm.auto import tqdm

    label = progress if isinstance(progress, str) else "cross-validation"
    return tqdm(splits, desc=label, unit="fold", leave=False)


def _fold_predict(decoder: Any, sampler: Any, X: NDArray, y: NDArray,
                  groups: NDArray | None, tr: NDArray, te: NDArray, seed: int,
                  k: int) -> NDArray:
    """Fit fold ``k`` (seeded ``seed + k``) on ``tr`` and predict ``te``."""
    X_tr, y_tr, g_tr = X[tr], y[tr], None if groups is None else groups[tr]
    if sampler is not None:
        s = clone(sampler)
        set_seed(s, seed + 1000 + k)
        if g_tr is not None:
            X_tr, y_tr, g_tr = s.fit_resample(X_tr, y_tr, groups=g_tr)
        else:
            X_tr, y_tr = s.fit_resample(X_tr, y_tr)
    est = set_seed(clone(decoder), seed + k)
    _fit(est, X_tr, y_tr, g_tr)
    return est.predict(X[te])


def _fold_predict_in_worker(*args: Any) -> NDArray:
    """:func:`_fold_predict` in a worker process: one thread, no nested pools."""
    from spikedecode._threads import in_fold_worker

    with in_fold_worker():
        return _fold_predict(*args)


def _fold_jobs(decoder: Any, X: NDArray, y: NDArray, n_folds: int) -> int:
    """Worker processes for the folds (spikedecode/_threads.py, ``fold_jobs``)."""
    from spikedecode._threads import fold_jobs

    try:
        params = decoder.get_params(deep=True)
    except (AttributeError, TypeError):
        params = {}
    epochs = [v for k, v in params.items() if k.split("__")[-1] == "max_epochs"]
    devices = [v for k, v in params.items() if k.split("__")[-1] == "device"]
    on_gpu = False
    if devices and str(devices[0]) != "cpu":  # a torch decoder: "auto" may mean the GPU
        from spikedecode.errors import SpikeDecodeError
        from spikedecode.training import resolve_device

        try:
            on_gpu = resolve_device(devices[0]).type != "cpu"
        except SpikeDecodeError:  # an invalid device: the fit reports it, in the process
            on_gpu = True
    # a torch decoder's work grows with its epochs, a linear one's with the classes
    scale = float(epochs[0]) if epochs and isinstance(epochs[0], (int, float)) \
        else float(max(len(np.unique(y)), 1))
    work = float(np.prod(np.shape(X))) * (n_folds - 1) / n_folds * scale
    return fold_jobs(n_folds, work=work, on_gpu=on_gpu)


def cross_val_predictions(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    n_splits: int = 5,
    sampler: Any = None,
    random_state: RandomStateLike = None,
    progress: bool | str = False,
) -> NDArray:
    """Out-of-fold predictions with leakage-safe folds.

    Parameters
    ----------
    decoder : estimator
        Cloned for each fold; groups of the training fold are passed to its inner search.
    X : array (n_samples, ...)
    y : array-like (n_samples,)
    groups : array-like (n_samples,), optional
        Trial ids (strongly recommended for overlapping windows).
    n_splits : int, default=5
    sampler : object with ``fit_resample(X, y, groups=...)``, optional
        Applied to each *training* fold only (e.g. ``preprocess.RandomUnderSampler``).
    random_state : int, Generator or None
        Seeds the folds, the sampler and unseeded decoders.
    progress : bool or str, default=False
        Show a tqdm bar over the folds on stderr (a string is its label). Torch
        decoders show their own epoch bar when built with ``progress=True``.

    Returns
    -------
    ndarray (n_samples,)
        Each sample's prediction by the decoder fitted on the folds that left it out.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0); g = np.repeat(np.arange(20), 3)
    >>> y = np.repeat(np.arange(20) % 2, 3); X = rng.normal(size=(60, 2)) + 2 * y[:, None]
    >>> pred = cross_val_predictions(LogisticRegression(), X, y, g, random_state=0)
    >>> pred.shape, bool((pred == y).mean() > 0.8)
    ((60,), True)
    """
    from spikedecode._validation import check_xy
    from spikedecode.preprocess.resample import group_splits

    X, y, groups = check_xy(X, y, groups)
    seed = draw_seed(random_state)
    splits = group_splits(y, groups, n_splits, seed)
    pred = np.empty(len(y), dtype=y.dtype)
    done = np.zeros(len(y), bool)
    n_jobs = _fold_jobs(decoder, X, y, len(splits))
    if n_jobs > 1:  # each fold seeded as below: the same numbers (spikedecode/_threads.py)
        import pickle

        from joblib import Parallel, delayed

        try:
            preds = Parallel(n_jobs=n_jobs)(
                delayed(_fold_predict_in_worker)(decoder, sampler, X, y, groups, tr, te,
                                                 seed, k)
                for k, (tr, te) in enumerate(_fold_bar(splits, progress)))
        except pickle.PicklingError:  # a decoder that cannot travel: the folds run here
            n_jobs = 1
        else:
            for (_, te), p in zip(splits, preds):
                pred[te] = p
                done[te] = True
    if n_jobs == 1:
        for k, (tr, te) in enumerate(_fold_bar(splits, progress)):
            pred[te] = _fold_predict(decoder, sampler, X, y, groups, tr, te, seed, k)
            done[te] = True
    if not done.all():
        raise SpikeDecodeValueError(f"{int((~done).sum())} samples were in no test fold.")
    return pred


def resolve_auto(n_trials: int, n_repeats: int | str = "auto",
                 n_permutations: int | str = "auto") -> tuple[int, int]:
    """``"auto"`` CV repeats and label permutations for a data set of ``n_trials`` trials.

    Small per-trial data sets (fewer than :data:`SMALL_N_TRIALS` trials) get
    :data:`AUTO_REPEATS` re-seeded CV repeats (folded into the CI, so that it reflects
    which trials land in which fold) and :data:`AUTO_PERMUTATIONS` label permutations
    (chance and a p-value); larger ones one CV and no permutations. Integers pass
    through.

    Parameters
    ----------
    n_trials : int
        Number of trials (groups).
    n_repeats, n_permutations : int or "auto"
        The settings to resolve.

    Returns
    -------
    (int, int)
        ``(n_repeats, n_permutations)``.

    Examples
    --------
    >>> resolve_auto(180), resolve_auto(5000), resolve_auto(180, 3, 0)
    ((10, 100), (1, 0), (3, 0))
    """
    small = int(n_trials) < SMALL_N_TRIALS
    if isinstance(n_repeats, str):
        if n_repeats != "auto":
            raise ConfigError(f"n_repeats == {n_repeats!r}, must be an integer >= 1 or 'auto'.")
        n_repeats = AUTO_REPEATS if small else 1
    if isinstance(n_permutations, str):
        if n_permutations != "auto":
            raise ConfigError(
                f"n_permutations == {n_permutations!r}, must be an integer >= 0 or 'auto'.")
        n_permutations = AUTO_PERMUTATIONS if small else 0
    if int(n_repeats) < 1:
        raise ConfigError(f"n_repeats == {n_repeats}, must be an integer >= 1 or 'auto'.")
    if int(n_permutations) < 0:
        raise ConfigError(f"n_permutations == {n_permutations}, must be >= 0 or 'auto'.")
    return int(n_repeats), int(n_permutations)


def _repeated_bootstrap(y: NDArray, preds: Sequence[NDArray], groups: ArrayLike | None,
                        n_boot: int, seed: int) -> dict[str, tuple[float, NDArray[np.float64]]]:
    """Mean score over CV repeats, and bootstrap replicates mixed over the repeats.

    Replicate ``b`` scores repeat ``b % n_repeats`` on its own cluster-bootstrap draw,
    so the spread of the replicates holds both the trial sampling and the fold
    assignment (which trials happened to share a fold).
    """
    n_rep = len(preds)
    per = -(-int(n_boot) // n_rep) if n_boot >= 1 else 0
    values: dict[str, list[float]] = {"accuracy": [], "balanced_accuracy": []}
    reps: dict[str, list[NDArray]] = {"accuracy": [], "balanced_accuracy": []}
    for r, p in enumerate(preds):
        b = _bootstrap_scores(y, p, metrics=("accuracy", "balanced_accuracy"), groups=groups,
                              n_boot=per, random_state=seed + r)
        for m, (v, stats) in b.items():
            values[m].append(v)
            reps[m].append(stats)
    out = {}
    for m in values:
        mixed = np.stack(reps[m], axis=1).reshape(-1)[: int(max(n_boot, 0))] if per else \
            np.zeros(0)
        out[m] = (float(np.mean(values[m])), mixed)
    return out


def within_day_scores(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    n_splits: int = 5,
    sampler: Any = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    n_permutations: int | str = 0,
    n_repeats: int | str = 1,
    random_state: RandomStateLike = None,
    progress: bool | str = False,
    gap: int | None = None,
) -> dict[str, Any]:
    """Leakage-safe within-day accuracy and balanced accuracy with bootstrap CIs.

    For a regressor (``sklearn.base.is_regressor``: the ``"wiener"``, ``"kalman"`` ...
    kinds of ``make_decoder``) the scores are those of
    :func:`spikedecode.evaluation.regression.regression_scores` (R² per output and
    variance-weighted, blocked CV with ``gap``, block-bootstrap CIs, and with
    ``n_permutations`` > 0 a circular-shift null of that many shifts).

    Parameters
    ----------
    decoder, X, y, groups, n_splits, sampler, random_state
        See :func:`cross_val_predictions`.
    n_boot : int, default=1000
        Cluster-bootstrap replicates (over trials when groups are given).
    ci : float, default=0.95
    n_permutations : int or "auto", default=0
        When > 0, also estimate chance with :func:`permutation_chance` (refits the
        decoder ``n_permutations`` times per fold). ``"auto"``: :data:`AUTO_PERMUTATIONS`
        below :data:`SMALL_N_TRIALS` trials, else 0 (:func:`resolve_auto`).
    n_repeats : int or "auto", default=1
        Re-seeded CV repeats (new folds each time). The scores are the mean over the
        repeats and the CI mixes the bootstrap replicates of every repeat, so that it
        holds the fold-assignment variance too: on small per-trial data one CV's folds
        alone can move the score by several points (and its CI off chance). ``"auto"``:
        :data:`AUTO_REPEATS` below :data:`SMALL_N_TRIALS` trials, else 1.
    progress : bool or str, default=False
        Show a bar over the cross-validation folds on stderr (a string labels it). The
        bootstrap needs no bar: it costs one matrix product per chunk of replicates.
    gap : int, optional
        Regressors only: samples left out between the training and test blocks (default:
        the window length of 3-D ``X``).

    Returns
    -------
    dict
        ``accuracy``, ``accuracy_ci`` (low, high), ``balanced_accuracy``,
        ``balanced_accuracy_ci``, ``majority_chance`` (accuracy of always
        guessing the largest class), ``balanced_chance`` (1 / n_classes), ``n_samples``, ``n_trials``,
        ``n_repeats``, ``confusion`` (DataArray, summed over the repeats), ``y_pred``
        (of the first repeat); with permutations also ``chance``, ``chance_ci`` and
        ``p_value`` (of accuracy) and ``balanced_chance_perm``, ``balanced_chance_perm_ci``
        and ``balanced_p_value`` (of balanced accuracy, from the same permutations).

    Examples
    --------
    >>> from spikedecode.decoders import make_decoder
    >>> rng = np.random.default_rng(0); g = np.repeat(np.arange(40), 5)
    >>> y = np.repeat(np.arange(40) % 2, 5); X = rng.normal(size=(200, 4)) + y[:, None]
    >>> r = within_day_scores(make_decoder("logistic"), X, y, g, n_boot=200, random_state=0)
    >>> r["accuracy"] > 0.7 and r["accuracy_ci"][0] < r["accuracy"] < r["accuracy_ci"][1]
    True
    """
    from sklearn.base import is_regressor

    if is_regressor(decoder):  # a continuous target: blocked CV (evaluation.regression)
        if sampler is not None:
            raise ConfigError("sampler balances classes; it does not apply to a regressor.")
        from spikedecode.evaluation.regression import regression_scores

        return regression_scores(decoder, X, y, groups, n_splits=n_splits, gap=gap,
                                 n_boot=n_boot, ci=ci, n_null=n_permutations,
                                 random_state=random_state, progress=progress)
    if not 0 < ci < 1:
        raise ConfigError(f"ci == {ci}, must be in (0, 1).")
    from spikedecode._validation import check_xy

    X, y, groups = check_xy(X, y, groups)
    y = np.asarray(y)
    n_trials = int(len(np.unique(groups))) if groups is not None else int(len(y))
    n_repeats, n_permutations = resolve_auto(n_trials, n_repeats, n_permutations)
    _check_counts(n_boot=n_boot, n_permutations=n_permutations)
    seed = draw_seed(random_state)
    pred = cross_val_predictions(decoder, X, y, groups, n_splits=n_splits, sampler=sampler,
                                 random_state=seed, progress=progress)
    out: dict[str, Any] = {}
    if n_repeats == 1:
        # one resampling for both metrics (as two bootstrap_ci calls with seed + 1 would draw)
        boot = _bootstrap_scores(y, pred, metrics=("accuracy", "balanced_accuracy"),
                                 groups=groups, n_boot=n_boot, random_state=seed + 1)
        preds = [pred]
    else:
        preds = [pred] + [
            cross_val_predictions(decoder, X, y, groups, n_splits=n_splits, sampler=sampler,
                                  random_state=seed + 7919 * r, progress=progress)
            for r in range(1, n_repeats)]
        boot = _repeated_bootstrap(y, preds, groups, n_boot, seed + 1)
    for m, (v, stats) in boot.items():
        out[m], out[f"{m}_ci"] = v, _percentile_ci(stats, ci)
    _, counts = np.unique(y, return_counts=True)
    out["majority_chance"] = float(counts.max() / counts.sum())
    # balanced accuracy of any label-blind guess is 1 / n_classes
    out["balanced_chance"] = float(1.0 / len(counts))
    out["n_samples"] = int(len(y))
    out["n_trials"] = n_trials
    out["n_repeats"] = n_repeats
    out["confusion"] = confusion(y, pred)
    if n_repeats > 1:
        labels = out["confusion"]["true"].values
        total = confusion(y, preds[0], labels=labels)
        for p in preds[1:]:
            total = total + confusion(y, p, labels=labels)
        total.attrs["n_repeats"] = n_repeats
        out["confusion"] = total.rename("confusion")
    out["y_pred"] = pred
    if n_permutations > 0:
        nulls = _permutation_nulls(decoder, X, y, groups, n_permutations=n_permutations,
                                   n_splits=n_splits, sampler=sampler,
                                   metrics=("accuracy", "balanced_accuracy"),
                                   random_state=seed + 2)
        acc = _null_summary(nulls["accuracy"], out["accuracy"])
        bal = _null_summary(nulls["balanced_accuracy"], out["balanced_accuracy"])
        out.update(chance=acc["chance"], chance_ci=acc["chance_ci"], p_value=acc["p_value"],
                   balanced_chance_perm=bal["chance"], balanced_chance_perm_ci=bal["chance_ci"],
                   balanced_p_value=bal["p_value"], n_permutations=n_permutations)
    return out


def _permutation_nulls(decoder: Any, X: ArrayLike, y: NDArray, groups: ArrayLike | None, *,
                       n_permutations: int, n_splits: int, sampler: Any,
                       metrics: Sequence[str], random_state: RandomStateLike
                       ) -> dict[str, NDArray[np.float64]]:
    """Null scores of each metric over ``n_permutations`` trial-respecting permutations."""
    fns = {m: _metric(m) for m in metrics}
    y = np.asarray(y)
    groups_arr = None if groups is None else np.asarray(groups)
    permute = _LabelPermuter(y, groups_arr)  # validates before any fitting
    rng = check_generator(random_state)
    null = {m: np.empty(n_permutations) for m in metrics}
    for i in range(n_permutations):
        y_perm = permute(rng)
        pred = cross_val_predictions(decoder, X, y_perm, groups_arr, n_splits=n_splits,
                                     sampler=sampler, random_state=draw_seed(rng))
        for m, fn in fns.items():
            null[m][i] = fn(y_perm, pred)
    return null


def _null_summary(null: NDArray[np.float64], observed: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"chance": float(null.mean()),
                           "chance_ci": tuple(float(q) for q in np.quantile(null, [0.025, 0.975])),
                           "null": null}
    out["p_value"] = (float((1 + np.sum(null >= observed)) / (1 + len(null)))
                      if observed is not None else np.nan)
    return out


class _LabelPermuter:
    """Draws label permutations that respect the trial (group) structure.

    * no groups: windows are exchangeable, labels are shuffled over samples;
    * every group holds one label: the labels of whole groups are permuted (any lengths);
    * some group holds several labels: each group's label *sequence* (in array order) moves
      as a whole to another group with the same number of samples, so every permuted data
      set keeps the observed trials' label patterns and within-trial correlation. Groups
      whose length no other group shares keep their labels.
    * every group holds each label exactly once and all carry the same label sequence (a
      paired design: a stimulus window and the baseline window of the same trial): the
      labels are shuffled within each group (under the null the windows of one trial are
      exchangeable), as a paired sign-flip test does.

    A window-level shuffle in the last case would break the within-trial correlation that
    the grouped CV keeps in the observed score: the null comes out too narrow and the test
    anti-conservative (science audit D1: p <= 0.05 on 12 % of null data sets).
    """

    def __init__(self, y: NDArray, groups: NDArray | None) -> None:
        self.y = y
        self.groups = groups
        self.blocks: list[NDArray[np.intp]] = []  # (n_groups_of_length_L, L) sample indices
        self.paired: list[NDArray[np.intp]] | None = None
        if groups is None:
            return
        if len(groups) != len(y):
            raise SpikeDecodeValueError(f"groups has {len(groups)} entries but y has {len(y)}.")
        _, self.inv = np.unique(groups, return_inverse=True)
        order = np.argsort(self.inv, kind="stable")  # samples of each group, in array order
        sizes = np.bincount(self.inv)
        members = np.split(order, np.cumsum(sizes)[:-1])
        self.first = np.array([m[0] for m in members])
        self.constant = all(np.all(y[m] == y[m[0]]) for m in members)
        if self.constant:
            return
        for length in np.unique(sizes):
            idx = np.flatnonzero(sizes == length)
            block = np.stack([members[i] for i in idx])
            # a block whose groups all carry the same label sequence cannot change y
            if len(idx) > 1 and len(np.unique(y[block], axis=0)) > 1:
                self.blocks.append(block)
        if not self.blocks and all(
                len(m) == len(np.unique(y[m])) == n_labels
                for m, n_labels in zip(members, [len(np.unique(y))] * len(members))):
            # a paired design (each trial holds every label once, e.g. a stimulus window
            # and its own baseline): under the null the windows of a trial are
            # exchangeable, so labels are shuffled within each trial
            self.paired = members
            return
        if not self.blocks:
            raise LabelError(
                f"groups: {len(members)} groups (trials) hold more than one label, and no two "
                "of them with the same number of samples carry different label sequences, so no "
                "permutation keeps each trial's label pattern (shuffling single windows would "
                "give too-small p-values). Pass label-constant groups (e.g. one id per "
                "labelled block of a trial: groups = trial_id * n_labels + label_code) or "
                "cut the trials to a common length."
            )

    def __call__(self, rng: np.random.Generator) -> NDArray:
        y = self.y
        if self.groups is None:
            return rng.permutation(y)
        if self.constant:  # permute the label of whole trials: keeps the trial structure
            return y[self.first][rng.permutation(len(self.first))][self.inv]
        out = y.copy()
        if self.paired is not None:
            for m in self.paired:
                out[m] = y[m[rng.permutation(len(m))]]
            return out
        for block in self.blocks:
            out[block] = y[block[rng.permutation(len(block))]]
        return out


def permutation_chance(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    n_permutations: int = 20,
    n_splits: int = 5,
    metric: str = "accuracy",
    sampler: Any = None,
    observed: float | None = None,
    random_state: RandomStateLike = None,
) -> dict[str, Any]:
    """Chance level from a label-permutation test with the same leakage-safe CV.

    The permutation respects the trials (``groups``), keeping the within-trial
    correlation that the grouped CV keeps in the observed score:

    * each trial holds one label: the labels of whole trials are permuted;
    * some trial holds several labels (e.g. a baseline window then the stimulus): each
      trial's label *sequence* moves as a whole to another trial with the same number of
      windows (a restricted permutation that keeps every trial's label pattern); trials
      whose length no other trial shares keep their labels;
    * every trial holds each label once, in the same order (a paired design, e.g. the
      event window and the baseline window of each trial from
      :func:`spikedecode.preprocess.event_windows`): labels are shuffled within each
      trial;
    * no ``groups``: windows are treated as exchangeable and shuffled one by one.

    Parameters
    ----------
    decoder, X, y, groups, n_splits, sampler
        See :func:`cross_val_predictions`.
    n_permutations : int, default=20
        Permuted data sets; the smallest attainable p-value is ``1 / (1 + n_permutations)``.
    metric : {"accuracy", "balanced_accuracy"}, default="accuracy"
    observed : float, optional
        The score on the real labels, for ``p_value``.
    random_state : int, Generator or None

    Returns
    -------
    dict
        ``chance`` (mean null score), ``chance_ci`` (2.5 and 97.5 percentiles),
        ``null`` (the scores) and ``p_value`` (with ``observed``, (1 + #null >= obs) /
        (1 + n)).

    Raises
    ------
    LabelError
        Trials hold several labels and no two trials of equal length carry different
        label sequences, so no permutation keeps the trial structure. Pass label-constant
        groups (one id per labelled block of a trial) or cut trials to a common length.

    Examples
    --------
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> rng = np.random.default_rng(0); g = np.repeat(np.arange(20), 4)
    >>> y = np.repeat(np.arange(20) % 2, 4); X = rng.normal(size=(80, 3)) + 2 * y[:, None]
    >>> out = permutation_chance(KNeighborsClassifier(3), X, y, g, n_permutations=9,
    ...                          observed=0.95, random_state=0)
    >>> bool(0.2 < out["chance"] < 0.8), round(out["p_value"], 2)
    (True, 0.1)
    """
    null = _permutation_nulls(decoder, X, np.asarray(y), groups,
                              n_permutations=n_permutations, n_splits=n_splits,
                              sampler=sampler, metrics=(metric,),
                              random_state=random_state)[metric]
    return _null_summary(null, observed)


def resample_then_split_score(
    decoder: Any,
    X: ArrayLike,
    y: ArrayLike,
    *,
    sampler: Any,
    n_splits: int = 5,
    metric: str = "accuracy",
    random_state: RandomStateLike = None,
) -> float:
    """The WRONG protocol, kept as a demonstration: resample first, then split samples.

    Over- or bootstrap-sampling the whole data set before a sample-level K-fold puts
    copies of one window (and overlapping windows of one trial) on both sides of the
    split, so a flexible decoder scores above chance even when the labels carry no
    information. Compare with :func:`within_day_scores`. Never use this to report results.

    Parameters
    ----------
    decoder : estimator
        Cloned and fitted on each fold.
    X : array (n_samples, ...)
        Features.
    y : array-like (n_samples,)
        Labels.
    sampler : object with ``fit_resample(X, y)``
        Applied to the whole data set before splitting (the mistake being demonstrated).
    n_splits : int, default=5
        Folds of the sample-level stratified K-fold.
    metric : {"accuracy", "balanced_accuracy"}, default="accuracy"
        The score averaged over the folds.
    random_state : int, Generator or None
        Seeds the sampler, the folds and unseeded decoders.

    Returns
    -------
    float
        Mean test score over the folds.

    Examples
    --------
    Labels independent of the features; a 1-nearest-neighbour decoder finds the test
    sample's bootstrap copy in the training folds and scores far above chance (0.5):

    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from spikedecode.preprocess import BootstrapSampler
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 3)), rng.permutation(np.arange(60) % 2)
    >>> score = resample_then_split_score(KNeighborsClassifier(1), X, y,
    ...                                   sampler=BootstrapSampler(), random_state=0)
    >>> score > 0.7
    True
    """
    from sklearn.model_selection import StratifiedKFold

    fn = _metric(metric)
    seed = draw_seed(random_state)
    s = set_seed(clone(sampler), seed)
    X_res, y_res = s.fit_resample(np.asarray(X), np.asarray(y))
    scores = []
    for k, (tr, te) in enumerate(StratifiedKFold(n_splits, shuffle=True, random_state=seed)
                                 .split(X_res, y_res)):
        est = set_seed(clone(decoder), seed + k)
        est.fit(X_res[tr], y_res[tr])
        scores.append(fn(y_res[te], est.predict(X_res[te])))
    return float(np.mean(scores))
