"""Continuous-decoding evaluation: blocked CV with a gap, R², block bootstrap, shift null."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsRegressor

from spikedecode.decoders import make_decoder
from spikedecode.errors import ConfigError, SpikeDecodeValueError
from spikedecode.evaluation import (
    block_bootstrap_ci,
    blocked_cross_val_predict,
    r2_per_output,
    regression_metrics,
    regression_scores,
    shuffled_kfold_score,
    within_day_scores,
)
from tests.conftest import shared_data


def test_r2_matches_sklearn():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(50, 3)) * [1, 3, 0.5]
    p = t + rng.normal(size=(50, 3))
    r2, vw = r2_per_output(t, p)
    np.testing.assert_allclose(r2, r2_score(t, p, multioutput="raw_values"))
    assert vw == pytest.approx(r2_score(t, p, multioutput="variance_weighted"))
    m = regression_metrics(t, p)
    np.testing.assert_allclose(m["rmse"], np.sqrt(((t - p) ** 2).mean(0)))
    assert m["median_error"] == pytest.approx(np.median(np.linalg.norm(t - p, axis=1)))


class _Recorder(RegressorMixin, BaseEstimator):
    """Predicts 0 and remembers the training indices it saw (X holds the sample index)."""

    seen: list = []

    def fit(self, X, y):
        _Recorder.seen.append(np.asarray(X)[:, 0].astype(int))
        return self

    def predict(self, X):
        return np.zeros(len(X))


def test_blocked_cv_keeps_a_gap_around_each_test_block():
    _Recorder.seen = []
    n, gap = 100, 7
    X = np.arange(n, dtype=float)[:, None]
    blocked_cross_val_predict(_Recorder(), X, np.arange(n, dtype=float), n_splits=4, gap=gap)
    bounds = np.linspace(0, n, 5).round().astype(int)
    for k, tr in enumerate(_Recorder.seen):
        a, b = bounds[k], bounds[k + 1]
        assert not np.any((tr >= a - gap) & (tr < b + gap))
        assert len(tr) == n - (b - a) - min(gap, a) - min(gap, n - b)


def test_default_gap_is_the_window_length_and_2d_needs_one():
    rng = np.random.default_rng(0)
    X3 = rng.normal(size=(200, 4, 3))
    y = X3[:, -1, 0]
    r = regression_scores(make_decoder("wiener"), X3, y, n_boot=50, random_state=0)
    assert r["gap"] == 4 and r["r2"]["0"] > 0.9
    with pytest.raises(ConfigError, match="gap is None and X is 2-D"):
        regression_scores(make_decoder("wiener"), X3.reshape(200, -1), y)


def _null_data(n=600, seed=0):
    """Smooth features and an independent smooth target: no real relation."""
    rng = np.random.default_rng(seed)
    X = gaussian_filter1d(rng.normal(size=(n, 4)), 8, axis=0)
    y = gaussian_filter1d(rng.normal(size=(n, 2)), 8, axis=0)
    return X, y


def test_shuffled_kfold_leaks_where_blocked_cv_with_gap_does_not():
    X, y = _null_data()
    knn = KNeighborsRegressor(5)
    leaky = shuffled_kfold_score(knn, X, y, random_state=0)
    honest = regression_scores(knn, X, y, gap=20, n_boot=200, random_state=0)
    assert leaky > 0.5  # temporal neighbours in the training folds
    assert honest["r2_vw"] < 0.1 and honest["r2_vw_ci"][0] < 0
    assert leaky > honest["r2_vw_ci"][1] + 0.3


def test_bootstrap_ci_brackets_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(0)
    t = np.sin(np.arange(800) / 15)[:, None] * [1, 2]
    p = t + 0.4 * rng.normal(size=t.shape)
    a = block_bootstrap_ci(t, p, n_boot=300, random_state=3)
    b = block_bootstrap_ci(t, p, n_boot=300, random_state=3)
    assert a["r2_vw_ci"] == b["r2_vw_ci"]
    vw = r2_per_output(t, p)[1]
    assert a["r2_vw_ci"][0] < vw < a["r2_vw_ci"][1]
    r2 = r2_per_output(t, p)[0]
    assert np.all((a["r2_ci"][:, 0] < r2) & (r2 < a["r2_ci"][:, 1]))
    assert a["block_size"] == 10  # ceil(800 ** (1/3))


def test_circular_shift_null_separates_signal_from_chance():
    rng = np.random.default_rng(0)
    z = gaussian_filter1d(rng.normal(size=(500, 2)), 4, axis=0)
    X = np.stack([z @ rng.normal(size=(2, 6)) + 0.05 * rng.normal(size=(500, 6))
                  for _ in range(3)], axis=1)  # (500, 3 lags, 6 units)
    r = regression_scores(make_decoder("wiener"), X, z, n_boot=100, n_null=9, random_state=0)
    assert r["r2_vw"] > 0.8 and r["chance"] < 0.2 and r["p_value"] == pytest.approx(0.1)


def test_within_day_scores_dispatches_regressors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2, 5))
    y = X[:, -1, :2] + 0.2 * rng.normal(size=(300, 2))
    r = within_day_scores(make_decoder("wiener"), X, y, n_boot=100, random_state=0)
    assert set(r["r2"]) == {"0", "1"} and r["r2_vw"] > 0.8
    r2 = within_day_scores(make_decoder("wiener"), X, y, n_boot=100, random_state=0)
    assert r2["r2_vw_ci"] == r["r2_vw_ci"]  # same seed, same numbers


@pytest.mark.parametrize("y, match", [
    (np.ones(100), "constant"),
    (np.r_[np.nan, np.arange(99.0)], "NaN/inf"),
    (np.arange(99.0), "X has 100 samples but y has 99"),
    (np.array(["a", "b"] * 50), "numeric target"),
])
def test_bad_targets_are_clear_errors(y, match):
    X = np.random.default_rng(0).normal(size=(100, 2, 3))
    with pytest.raises(SpikeDecodeValueError, match=match):
        regression_scores(make_decoder("wiener"), X, y, n_boot=10)


def test_chewie_velocity_decodes_within_day():
    path = shared_data("dad", "chewie_demo.mat")
    from spikedecode.datasets.dad import load_chewie
    from spikedecode.preprocess import target_windows, to_sequences

    binned, vel, _ = load_chewie(path)["tr"]
    X, Y, _ = to_sequences(target_windows(binned, vel, bins_before=4))
    for kind, floor in (("wiener", 0.45), ("kalman", 0.2)):
        r = regression_scores(make_decoder(kind), X, Y, n_boot=200, channels=["x", "y"],
                              random_state=0)
        assert r["r2_vw"] > floor and r["r2_vw_ci"][0] > 0.1
        assert min(r["r2"].values()) > floor - 0.1


@pytest.mark.slow
@pytest.mark.data
def test_circularly_shifted_targets_give_no_r2_in_95_percent_of_100_null_sets():
    path = shared_data("dad", "chewie_demo.mat")
    from spikedecode.datasets.dad import load_chewie
    from spikedecode.preprocess import target_windows, to_sequences

    binned, vel, _ = load_chewie(path)["tr"]
    X, Y, _ = to_sequences(target_windows(binned, vel, bins_before=2))
    rng = np.random.default_rng(0)
    n = len(Y)
    ok = 0
    for shift in rng.integers(n // 10, n - n // 10, 100):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = regression_scores(make_decoder("wiener"), X, np.roll(Y, shift, axis=0),
                                  n_boot=200, random_state=int(shift))
        ok += r["r2_vw_ci"][0] <= 0
    assert ok >= 95
