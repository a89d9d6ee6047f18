"""Repeated (re-seeded) CV folded into the CI, and permutation chance for per-trial data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from spikedecode.errors import ConfigError
from spikedecode.evaluation import cross_val_predictions, within_day_scores
from spikedecode.evaluation.metrics import AUTO_REPEATS, SMALL_N_TRIALS, resolve_auto
from tests.conftest import shared_data


def _data(n=60, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 3)) + shift * y[:, None]
    return X, y, np.arange(n)


def test_resolve_auto_depends_on_the_number_of_trials():
    assert resolve_auto(SMALL_N_TRIALS - 1) == (AUTO_REPEATS, 100)
    assert resolve_auto(SMALL_N_TRIALS) == (1, 0)
    assert resolve_auto(10, 4, 7) == (4, 7)
    with pytest.raises(ConfigError, match="n_repeats"):
        resolve_auto(10, "many", 0)
    with pytest.raises(ConfigError, match="n_repeats"):
        resolve_auto(10, 0, 0)


def test_repeats_average_the_scores_of_differently_seeded_folds():
    X, y, g = _data(shift=0.5)
    r1 = within_day_scores(LogisticRegression(), X, y, g, n_boot=200, random_state=3)
    r4 = within_day_scores(LogisticRegression(), X, y, g, n_boot=200, n_repeats=4,
                           random_state=3)
    assert r4["n_repeats"] == 4 and r1["n_repeats"] == 1
    # the first repeat is the single CV; the others use other folds
    np.testing.assert_array_equal(r4["y_pred"], r1["y_pred"])
    assert r4["confusion"].values.sum() == 4 * len(y)
    lo, hi = r4["balanced_accuracy_ci"]
    assert lo <= r4["balanced_accuracy"] <= hi
    again = within_day_scores(LogisticRegression(), X, y, g, n_boot=200, n_repeats=4,
                              random_state=3)
    assert again["balanced_accuracy"] == r4["balanced_accuracy"]
    assert again["balanced_accuracy_ci"] == r4["balanced_accuracy_ci"]
    # the mean is the mean of the repeats' scores
    from sklearn.metrics import balanced_accuracy_score
    seeds_differ = {tuple(cross_val_predictions(LogisticRegression(), X, y, g,
                                                random_state=s)) for s in range(4)}
    assert len(seeds_differ) > 1  # folds matter on this small set
    assert 0.0 <= balanced_accuracy_score(y, r4["y_pred"]) <= 1.0


def test_permutations_report_chance_of_both_metrics():
    X, y, g = _data(shift=2.0)
    r = within_day_scores(LogisticRegression(), X, y, g, n_boot=100, n_permutations=9,
                          random_state=0)
    assert r["p_value"] == pytest.approx(0.1) and r["balanced_p_value"] == pytest.approx(0.1)
    assert 0.3 < r["balanced_chance_perm"] < 0.7
    lo, hi = r["balanced_chance_perm_ci"]
    assert lo <= r["balanced_chance_perm"] <= hi < r["balanced_accuracy"]


@pytest.mark.slow
def test_target_vs_foil_on_the_real_file_is_chance_and_its_ci_says_so():
    """Issue 21: one CV gave 0.372 [0.302, 0.438], excluding chance from below."""
    path = shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb")
    from spikedecode.decoders import make_decoder
    from spikedecode.io import read, read_interval_table
    from spikedecode.preprocess import to_xy
    from spikedecode.preprocess.events import event_windows

    rec = read(path)
    w = event_windows(rec, read_interval_table(path, "recognition_table"), window=(0.2, 1.2),
                      label="stimuli_type")
    X, y, g = to_xy(w)
    for seed in (0, 3):  # the seeds whose single CV excludes 0.5 from below
        r = within_day_scores(make_decoder("logistic"), np.log1p(X), y, g, n_repeats="auto",
                              n_boot=1000, random_state=seed)
        assert r["n_repeats"] == AUTO_REPEATS
        lo, hi = r["balanced_accuracy_ci"]
        assert lo < 0.5 < hi, (seed, r["balanced_accuracy"], lo, hi)


def test_paired_baseline_design_permutes_within_each_trial():
    from spikedecode.evaluation.metrics import _LabelPermuter

    y = np.array(["event"] * 20 + ["baseline"] * 20)
    g = np.r_[np.arange(20), np.arange(20)]
    perm = _LabelPermuter(y, g)
    rng = np.random.default_rng(0)
    flips = []
    for _ in range(50):
        p = perm(rng)
        # every trial still holds one window of each class
        for t in range(20):
            assert sorted(p[g == t].tolist()) == ["baseline", "event"]
        flips.append(np.mean(p[:20] == "baseline"))
    assert 0.3 < np.mean(flips) < 0.7  # about half the trials swap
    X = np.random.default_rng(1).normal(size=(40, 2))
    r = within_day_scores(LogisticRegression(), X, y, g, n_boot=50, n_permutations=9,
                          random_state=0)
    assert 0.3 < r["balanced_chance_perm"] < 0.7
