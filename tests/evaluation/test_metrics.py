"""Within-day metrics, CIs, permutation chance and the honest-evaluation guard."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from spikedecode.decoders import make_decoder
from spikedecode.errors import ConfigError, LabelError
from spikedecode.evaluation import (
    bootstrap_ci,
    confusion,
    cross_val_predictions,
    permutation_chance,
    resample_then_split_score,
    within_day_scores,
)
from spikedecode.preprocess import RandomOverSampler


def _trials(seed=0, n_trials=40, per=6, signal=1.0, n_feat=8):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_trials), per)
    y = np.repeat(np.arange(n_trials) % 2, per)
    X = rng.normal(size=(len(y), n_feat))
    X[:, 0] += signal * y
    return X, y, groups


def _null_windows(seed, n_trials=40, per=10, n_units=12, n_lags=5):
    """Overlapping windows of Poisson counts; trial labels independent of the spikes.

    Each trial has its own rate profile (trial identity is recognisable from any of its
    windows), which is exactly what leaks when windows of a trial sit on both sides.
    """
    rng = np.random.default_rng(seed)
    X, y, g = [], [], []
    labels = rng.permutation(np.repeat([0, 1], n_trials // 2))
    for t in range(n_trials):
        rate = rng.gamma(2.0, 1.0, size=n_units)
        counts = rng.poisson(rate, size=(per + n_lags - 1, n_units))
        for k in range(per):
            X.append(counts[k:k + n_lags].ravel())
            y.append(labels[t])
            g.append(t)
    return np.asarray(X, float), np.asarray(y), np.asarray(g)


def test_bootstrap_ci_contains_value_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    pred = np.where(rng.random(2000) < 0.8, y, 1 - y)
    v, lo, hi = bootstrap_ci(y, pred, n_boot=300, random_state=0)
    assert lo < v < hi and hi - lo < 0.06
    v2, lo2, hi2 = bootstrap_ci(y[:200], pred[:200], n_boot=300, random_state=0)
    assert hi2 - lo2 > hi - lo
    # cluster bootstrap over 20 big trials is wider than over 2000 samples
    g = np.repeat(np.arange(20), 100)
    _, lo3, hi3 = bootstrap_ci(y, pred, groups=g, n_boot=300, random_state=0)
    assert lo3 <= v <= hi3
    with pytest.raises(ConfigError, match="metric"):
        bootstrap_ci(y, pred, metric="f1")


def test_confusion_counts_sum_to_samples():
    cm = confusion(["a", "b", "b", "c"], ["a", "b", "c", "c"])
    assert int(cm.sum()) == 4 and cm.dims == ("true", "predicted")
    assert int(cm.sel(true="b", predicted="c")) == 1


def test_within_day_above_chance_with_signal(global_random_seed):
    X, y, g = _trials(global_random_seed, signal=1.5)
    r = within_day_scores(make_decoder("logistic"), X, y, g, n_boot=200,
                          random_state=global_random_seed)
    assert r["accuracy"] > 0.7 and r["accuracy_ci"][0] > 0.55
    assert r["n_trials"] == 40 and r["majority_chance"] == 0.5
    assert r["balanced_chance"] == 0.5
    assert int(r["confusion"].sum()) == len(y)


def test_cross_val_predictions_sampler_only_on_training_folds(monkeypatch):
    """The sampler sees exactly each training fold, once per fold, never a test row."""
    import spikedecode.preprocess.resample as lin

    X, y, g = _trials(0)
    keep = np.ones(len(y), bool)
    keep[(y == 1) & (g > 20)] = False  # imbalance
    X, y, g = X[keep], y[keep], g[keep]
    seen = []  # (rows, groups) of every fit_resample call; survives clone()

    class Recording(RandomOverSampler):
        def fit_resample(self, X_, y_, groups=None):
            seen.append((np.array(X_, copy=True), np.array(groups, copy=True)))
            return super().fit_resample(X_, y_, groups=groups)

    outer = []
    real = lin.group_splits

    def spy(*a, **k):
        out = real(*a, **k)
        outer.append(out)
        return out

    monkeypatch.setattr(lin, "group_splits", spy)
    pred = cross_val_predictions(make_decoder("logistic", lambdas=(1e-2,)), X, y, g,
                                 sampler=Recording(random_state=0), random_state=0)
    splits = outer[0]  # the outer folds (later calls are the decoder's inner searches)
    assert len(seen) == len(splits) >= 2 and pred.shape == y.shape
    # X rows are continuous random draws, so equal rows mean the same sample
    row_id = {r.tobytes(): i for i, r in enumerate(X)}
    for (rows, grp), (tr, te) in zip(seen, splits, strict=True):
        ids = np.array([row_id[r.tobytes()] for r in rows])
        np.testing.assert_array_equal(np.sort(ids), np.sort(tr))
        np.testing.assert_array_equal(grp, g[ids])
        assert np.intersect1d(ids, te).size == 0


def test_permutation_chance_near_half():
    X, y, g = _trials(0, signal=2.0, n_trials=20)
    out = permutation_chance(make_decoder("logistic", lambdas=(1e-3, 1e-1)), X, y, g,
                             n_permutations=8, observed=0.9, random_state=0)
    assert 0.3 < out["chance"] < 0.7
    assert out["p_value"] == pytest.approx(1 / 9)


class _NearestMean(ClassifierMixin, BaseEstimator):
    """Nearest class mean without input validation: a decoder fast enough for 1000s of fits."""

    def fit(self, X, y):
        self.classes_, inv = np.unique(y, return_inverse=True)
        self.means_ = np.stack([X[inv == k].mean(0) for k in range(len(self.classes_))])
        return self

    def predict(self, X):
        d = ((X[:, None, :] - self.means_[None]) ** 2).sum(-1)
        return self.classes_[d.argmin(1)]


def _mixed_label_null(rng, n_trials=20, lengths=(4, 6), n_feat=3, noise=0.3):
    """Null data whose trials hold two labels: window 0 is 'baseline' (2), the rest the trial's
    class (0/1), drawn independently of X. X is a trial-level random vector plus a little
    noise, so windows of one trial are strongly correlated (what a window shuffle breaks)."""
    sizes = rng.choice(lengths, n_trials)
    g = np.repeat(np.arange(n_trials), sizes)
    y = np.repeat(rng.integers(0, 2, n_trials), sizes)
    y[np.concatenate([[0], np.cumsum(sizes)[:-1]])] = 2
    X = (np.repeat(rng.normal(size=(n_trials, n_feat)), sizes, axis=0)
         + noise * rng.normal(size=(len(y), n_feat)))
    return X, y, g


def _null_p_values(n_sets, n_permutations=19, seed=0):
    """p-values of permutation_chance on ``n_sets`` independent mixed-label null data sets."""
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(seed)
    p = np.empty(n_sets)
    for s in range(n_sets):
        X, y, g = _mixed_label_null(rng)
        obs = accuracy_score(y, cross_val_predictions(_NearestMean(), X, y, g, n_splits=2,
                                                      random_state=s))
        p[s] = permutation_chance(_NearestMean(), X, y, g, n_permutations=n_permutations,
                                  n_splits=2, observed=obs, random_state=s)["p_value"]
    return p


def _binomial_band(n, alpha=0.05, n_se=3.0):
    se = np.sqrt(alpha * (1 - alpha) / n)
    return alpha - n_se * se, alpha + n_se * se


def test_permutation_p_values_calibrated_with_mixed_label_trials():
    """Audit D1: with trials holding several labels, the old window-level shuffle gave
    p <= 0.05 on 12 % of null data sets (20 % on these data, measured with the old code).
    With 19 permutations, P(p <= 0.05) = 1/20 exactly under an exchangeable null."""
    p = _null_p_values(100)
    rate = np.mean(p <= 0.05)
    lo, hi = _binomial_band(len(p))  # 3 binomial SE: [0, 0.115] for 100 sets
    assert lo <= rate <= hi, rate
    assert rate < 0.12  # clearly below the audit's anti-conservative rate


@pytest.mark.slow
def test_permutation_p_values_calibrated_many_null_sets():
    """The calibration figure of the closing note (200 null data sets, ~1 min)."""
    p = _null_p_values(200, seed=1)
    lo, hi = _binomial_band(len(p))  # 3 binomial SE: [0.004, 0.096]
    assert lo <= np.mean(p <= 0.05) <= hi
    lo, hi = _binomial_band(len(p), alpha=0.10)
    assert lo <= np.mean(p <= 0.10) <= hi


def test_label_permutation_keeps_each_trial_label_pattern():
    from spikedecode.evaluation.metrics import _LabelPermuter

    rng = np.random.default_rng(0)
    X, y, g = _mixed_label_null(rng, n_trials=30)
    permute = _LabelPermuter(y, g)
    changed = False
    for _ in range(5):
        y_p = permute(rng)
        for L in (4, 6):
            trials = [t for t in np.unique(g) if (g == t).sum() == L]
            before = sorted(tuple(y[g == t]) for t in trials)
            after = sorted(tuple(y_p[g == t]) for t in trials)
            assert before == after  # the same label sequences, moved between trials
        assert all(y_p[g == t][0] == 2 for t in np.unique(g))  # pattern kept in place
        changed |= not np.array_equal(y_p, y)
    assert changed
    # trial-constant labels move across trials of any length
    y_c = np.repeat(np.arange(30) % 2, np.bincount(g))
    y_p = _LabelPermuter(y_c, g)(np.random.default_rng(1))
    assert all(len(set(y_p[g == t])) == 1 for t in np.unique(g))
    assert np.bincount(y_p[np.unique(g, return_index=True)[1]]).tolist() == [15, 15]


def test_permutation_chance_refuses_unpermutable_mixed_trials():
    # every trial holds two labels and has its own length: no restricted permutation exists
    sizes = np.arange(3, 11)
    g = np.repeat(np.arange(len(sizes)), sizes)
    y = np.repeat(np.arange(len(sizes)) % 2, sizes)
    y[np.concatenate([[0], np.cumsum(sizes)[:-1]])] = 2
    X = np.random.default_rng(0).normal(size=(len(y), 2))
    with pytest.raises(LabelError, match="groups.*label-constant groups"):
        permutation_chance(_NearestMean(), X, y, g, n_permutations=3, random_state=0)


def test_null_experiment_default_is_at_chance_resample_first_is_inflated():
    """The honest-evaluation guard (docs/evaluation.md).

    Labels are independent of the spikes. The default pipeline (grouped CV, resampling
    inside the training fold) must report chance; over-sampling before a sample-level split
    must show inflation, because copies and overlapping windows of a trial land on both
    sides of the split.
    """
    X, y, g = _null_windows(0, n_trials=200, per=5, n_units=8)
    # unbalance the classes so that resampling has something to do
    keep = ~((y == 1) & (g % 3 == 0))
    X, y, g = X[keep], y[keep], g[keep]
    from sklearn.neighbors import KNeighborsClassifier

    honest_lin = within_day_scores(make_decoder("logistic"), X, y, g, n_boot=0,
                                   sampler=RandomOverSampler(random_state=0), random_state=0)
    honest_knn = within_day_scores(KNeighborsClassifier(1), X, y, g, n_boot=0,
                                   sampler=RandomOverSampler(random_state=0), random_state=0)
    leaky = resample_then_split_score(KNeighborsClassifier(1), X, y,
                                      sampler=RandomOverSampler(random_state=0), random_state=0)
    assert honest_lin["balanced_accuracy"] <= 0.55
    assert honest_knn["balanced_accuracy"] <= 0.55
    assert leaky >= 0.65  # measured 0.72-0.75 over seeds 0-3


# ---------------------------------------------------------------- vectorised bootstrap
def _slow_replicates(y_true, y_pred, groups, n_boot, seed, metric):
    """Reference: resample groups (or samples) one replicate at a time, call sklearn."""
    import warnings

    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    fn = accuracy_score if metric == "accuracy" else balanced_accuracy_score
    rng = np.random.default_rng(seed)
    uniq = np.unique(groups) if groups is not None else None
    stats = []
    for _ in range(n_boot):
        if groups is None:
            idx = rng.integers(0, len(y_true), len(y_true))
        else:
            pick = rng.integers(0, len(uniq), len(uniq))
            idx = np.concatenate([np.flatnonzero(groups == uniq[k]) for k in pick])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # replicates missing a class warn in sklearn
            stats.append(fn(y_true[idx], y_pred[idx]))
    return np.asarray(stats)


@pytest.mark.parametrize("use_groups", [True, False])
@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy"])
def test_bootstrap_replicates_equal_slow_reference(use_groups, metric):
    from spikedecode.evaluation.metrics import _bootstrap_scores

    rng = np.random.default_rng(7)
    # 3 string classes, one rare (so some replicates lack it), unequal trial sizes
    groups = np.repeat(np.arange(25), rng.integers(1, 9, 25))
    y = np.array(["latent", "stim/a", "stim/b"])[
        rng.choice(3, len(groups), p=[0.6, 0.35, 0.05])]
    pred = np.where(rng.random(len(y)) < 0.7, y, np.roll(y, 3))
    g = groups if use_groups else None
    value, reps = _bootstrap_scores(y, pred, metrics=(metric,), groups=g, n_boot=300,
                                    random_state=11)[metric]
    ref = _slow_replicates(y, pred, g, 300, 11, metric)
    # same draws, same counts: only the summation order differs (ratios of small ints)
    np.testing.assert_allclose(reps, ref, rtol=0, atol=1e-12)
    assert np.std(ref) > 0.01  # the replicates differ, so the check has teeth
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    fn = accuracy_score if metric == "accuracy" else balanced_accuracy_score
    assert value == pytest.approx(fn(y, pred), abs=1e-12)
    v, lo, hi = bootstrap_ci(y, pred, metric=metric, groups=g, n_boot=300, ci=0.9,
                             random_state=11)
    np.testing.assert_allclose([lo, hi], np.quantile(ref, [0.05, 0.95]), atol=1e-12)


def test_within_day_scores_ci_matches_bootstrap_ci():
    """Both metrics share one resampling, drawn as bootstrap_ci with seed + 1 draws it."""
    from spikedecode._random import draw_seed

    X, y, g = _trials(3, n_trials=30, per=4, signal=0.7)
    r = within_day_scores(make_decoder("logistic"), X, y, g, n_boot=200, random_state=5)
    seed = draw_seed(5)
    for m in ("accuracy", "balanced_accuracy"):
        v, lo, hi = bootstrap_ci(y, r["y_pred"], metric=m, groups=g, n_boot=200,
                                 random_state=seed + 1)
        assert r[m] == pytest.approx(v, abs=1e-12)
        assert r[f"{m}_ci"] == pytest.approx((lo, hi), abs=1e-12)
        assert lo < hi


def test_bootstrap_chunks_do_not_change_replicates():
    """Drawing replicates in chunks gives the same stream as drawing them at once."""
    from spikedecode.evaluation.metrics import _bootstrap_confusions, _encode_pairs

    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)
    pred = np.where(rng.random(400) < 0.6, y, rng.integers(0, 3, 400))
    g = rng.integers(0, 50, 400)
    t, p, c = _encode_pairs(y, pred)
    for groups in (g, None):
        whole = _bootstrap_confusions(t, p, c, groups, 64, np.random.default_rng(0))
        small = _bootstrap_confusions(t, p, c, groups, 64, np.random.default_rng(0),
                                      chunk_elems=450)
        np.testing.assert_array_equal(whole, small)
        assert whole.sum((1, 2)).min() > 0
        if groups is None:  # sample bootstrap: each replicate holds n samples
            assert np.all(whole.sum((1, 2)) == 400)
