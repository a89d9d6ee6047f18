"""Time-resolved scores, temporal generalization and the cluster test."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid

from spikedecode.errors import SpikeDecodeValueError
from spikedecode.evaluation import (
    cluster_test,
    temporal_generalization,
    time_resolved_scores,
    within_day_scores,
)


def _bump(n=60, n_lags=8, onset=4, shift=2.0, seed=0, n_units=3):
    """Labels decodable from lag ``onset`` on, two windows per trial."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, n_lags, n_units))
    X[:, onset:, 0] += shift * y[:, None]
    return X, y


def test_curve_rises_where_the_signal_is_and_clusters_find_it():
    X, y = _bump()
    r = time_resolved_scores(LogisticRegression(), X, y, n_repeats=2, n_permutations=19,
                             n_boot=200, random_state=0, times=np.arange(8) * 0.1 - 0.3)
    s = r["score"].values
    assert s[4:].min() > 0.75 and s[:4].max() < 0.7
    assert (r["ci_low"] <= r["score"]).all() and (r["score"] <= r["ci_high"]).all()
    sig = [c for c in r.attrs["clusters"] if c["p_value"] <= 0.05]
    assert len(sig) == 1 and sig[0]["start"] == pytest.approx(0.1)
    assert r["significant"].values.tolist() == [False] * 4 + [True] * 4
    assert abs(float(r["chance"].mean()) - 0.5) < 0.1
    assert r["null"].shape == (19, 8)


def test_each_lag_equals_within_day_scores_on_that_lag():
    """Same folds and seeds: the curve at lag t is the plain CV score of lag t."""
    X, y = _bump(n_lags=3)
    g = np.arange(len(y))
    r = time_resolved_scores(LogisticRegression(), X, y, g, n_repeats=1, n_permutations=0,
                             n_boot=100, random_state=5)
    for t in range(3):
        w = within_day_scores(LogisticRegression(), X[:, t], y, g, n_boot=100, random_state=5)
        assert r["score"].values[t] == pytest.approx(w["balanced_accuracy"])


def test_generalization_diagonal_equals_the_time_resolved_curve():
    X, y = _bump(n_lags=5, onset=2)
    kw = dict(n_repeats=2, n_permutations=4, n_boot=100, random_state=3)
    curve = time_resolved_scores(LogisticRegression(), X, y, **kw)
    mat = temporal_generalization(LogisticRegression(), X, y, **kw)
    assert mat["score"].dims == ("train_time", "test_time") and mat["score"].shape == (5, 5)
    np.testing.assert_allclose(np.diag(mat["score"].values), curve["score"].values)
    np.testing.assert_allclose(np.diag(mat["chance"].values), curve["chance"].values)
    # a decoder trained where the signal is generalizes to other signal lags only
    assert mat["score"].values[2:, 2:].min() > 0.7 and mat["score"].values[2:, :2].max() < 0.7


def test_windows_in_give_time_since_event_coords():
    from spikedecode import make_recording
    from spikedecode.preprocess import event_windows

    rng = np.random.default_rng(1)
    onsets = np.arange(2.0, 98.0, 2.0)
    kind = np.array(["a", "b"] * (onsets.size // 2))
    spikes = [rng.uniform(0, 100, 2000)]
    spikes.append(onsets[kind == "b"][:, None] + rng.uniform(0.2, 0.4, (int((kind == "b").sum()), 8)))
    times = np.concatenate([s.ravel() for s in spikes])
    units = np.r_[rng.integers(0, 2, 2000), np.full(spikes[1].size, 2)]
    rec = make_recording(times, units, units=["u0", "u1", "u2"], t_stop=100.0)
    w = event_windows(rec, {"start_time": onsets, "kind": kind}, window=(-0.2, 0.6),
                      bin_size=0.2, label="kind")
    r = time_resolved_scores(LogisticRegression(), w, n_repeats=1, n_permutations=0,
                             n_boot=50, random_state=0)
    np.testing.assert_allclose(r["time"].values, [-0.2, 0.0, 0.2, 0.4])
    assert r["score"].sel(time=0.2).item() > 0.9 and r["score"].sel(time=-0.2).item() < 0.75


def test_cluster_test_checks_shapes_and_finds_nothing_in_pure_noise():
    rng = np.random.default_rng(0)
    null = 0.5 + 0.05 * rng.normal(size=(50, 12))
    out = cluster_test(null[0], null[1:])
    assert all(c["p_value"] > 0.05 for c in out["clusters"])
    with pytest.raises(SpikeDecodeValueError, match="n_permutations"):
        cluster_test(null[0], null[1:, :5])


def test_figures(tmp_path):
    from spikedecode.plotting.temporal import plot_temporal_generalization, plot_time_resolved

    X, y = _bump(n_lags=4, onset=2)
    kw = dict(n_repeats=1, n_permutations=9, n_boot=50, random_state=0)
    fig = plot_time_resolved(time_resolved_scores(NearestCentroid(), X, y, **kw))
    fig.savefig(tmp_path / "a.png")
    fig2 = plot_temporal_generalization(temporal_generalization(NearestCentroid(), X, y, **kw))
    fig2.savefig(tmp_path / "b.png")
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "b.png").stat().st_size > 1000
    assert isinstance(time_resolved_scores(NearestCentroid(), X, y, **kw), xr.Dataset)


class _NearestMean(ClassifierMixin, BaseEstimator):
    """A bare nearest-class-mean classifier (no input validation: fast for the null test)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.means_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, X):
        d = ((X[:, None, :] - self.means_[None]) ** 2).sum(-1)
        return self.classes_[d.argmin(axis=1)]


@pytest.mark.slow
def test_null_cluster_test_is_significant_in_at_most_5_percent_of_null_data_sets():
    """Issue 21: shuffled labels -> no significant cluster in >= 95 of 100 data sets.

    With 49 permutations a cluster is significant (p <= 0.05) when at most one permuted
    data set beats it: an exact test has a 2 / 50 = 4 % rate under the null.
    """
    n_sig = 0
    for k in range(100):
        rng = np.random.default_rng(1000 + k)
        X = rng.normal(size=(24, 5, 2))
        y = rng.permutation(np.arange(24) % 2)
        r = time_resolved_scores(_NearestMean(), X, y, n_splits=3, n_repeats=1,
                                 n_permutations=49, n_boot=0, random_state=k)
        n_sig += int(r.attrs["n_significant_clusters"] > 0)
    assert n_sig <= 5, n_sig


def test_cross_day_curve_transfers_where_both_days_carry_the_signal():
    from spikedecode.evaluation import cross_day_time_resolved

    def day(seed):
        X, y = _bump(n=40, n_lags=4, onset=2, shift=3.0, seed=seed)
        return xr.DataArray(X, dims=("sample", "lag", "unit"),
                            coords={"unit": ["a", "b", "c"], "label": ("sample", y.astype(str)),
                                    "trial": ("sample", np.arange(40)),
                                    "t_lag": ("lag", [-0.1, 0.0, 0.1, 0.2])})
    m = cross_day_time_resolved({"d1": day(0), "d2": day(1)}, LogisticRegression(),
                                random_state=0)
    assert m.dims == ("time", "train_day", "test_day")
    np.testing.assert_allclose(m["time"].values, [-0.1, 0.0, 0.1, 0.2])
    across = m.sel(train_day="d1", test_day="d2").values
    assert across[2:].min() > 0.8 and across[:2].max() < 0.7
    with pytest.raises(SpikeDecodeValueError, match="lags"):
        cross_day_time_resolved({"d1": day(0), "d2": day(1).isel(lag=[0, 1])},
                                LogisticRegression())
