"""Time-resolved CCA/Procrustes: ``n_lags``, ``pca_on="averages"``, ``soft_norm`` (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from spikedecode.align import CCAAligner, ProcrustesAligner
from spikedecode.errors import ConfigError, NotEnoughDataError
from tests.align.conftest import lagged_trials

L, K = 8, 3  # lags per trial, latent dimensions


def _day(rng, n_trials, n_units, noise=0.05):
    return lagged_trials(rng, n_trials, n_units, n_lags=L, noise=noise)


def _unlabelled_day(rng, n_trials, n_units, noise=0.05):
    """The two conditions' mean trajectory spans all 3 latent dims (``match="time"``)."""
    return lagged_trials(rng, n_trials, n_units, n_lags=L, noise=noise, spanning=True,
                         gain_sd=0.1)


@pytest.mark.parametrize("cls", [CCAAligner, ProcrustesAligner])
def test_lags_give_condition_times_lag_matched_points(cls):
    rng = np.random.default_rng(0)
    X0, y0, _ = _day(rng, 40, 20)
    X1, y1, _ = _day(rng, 40, 30)
    al = cls(n_components=K, n_lags=L, pca_on="averages").fit({0: X0, 1: X1}, {0: y0, 1: y1})
    assert al.n_matched_[1] == 2 * L  # 2 conditions x 8 lags, not 2 whole-trial keys
    assert al.transform(X1, day=1).shape == (40, L * K)  # one row per trial


def test_lags_recover_the_map_that_whole_trial_keys_cannot():
    rng = np.random.default_rng(1)
    X0, y0, _ = _day(rng, 40, 20)
    X1, y1, _ = _day(rng, 40, 30)
    ys = {0: y0, 1: y1}

    def err(al, n_lags):
        A0, A1 = (X0, X1) if n_lags > 1 else (X0.reshape(40, L, -1).sum(1),
                                               X1.reshape(40, L, -1).sum(1))
        Z0 = al.transform(A0, day=0).reshape(40, n_lags, -1)
        Z1 = al.transform(A1, day=1).reshape(40, n_lags, -1)
        # same trials, same conditions: aligned trajectories should coincide
        return float(np.linalg.norm(Z1 - Z0) / np.linalg.norm(Z0 - Z0.mean((0, 1))))

    timed = CCAAligner(n_components=K, n_lags=L, pca_on="averages").fit({0: X0, 1: X1}, ys)
    # whole-trial sums: only 2 keys (1 direction after centring) for a 3-d map
    whole = CCAAligner(n_components=K).fit(
        {0: X0.reshape(40, L, -1).sum(1), 1: X1.reshape(40, L, -1).sum(1)}, ys)
    # noise 0.05 on unit-scale latents: relative error 0.084 measured, bound 0.15
    assert err(timed, L) < 0.15
    # with two keys only the condition axis is pinned down; the other directions of the
    # map are set by the ridge, and the aligned summaries disagree more (0.22 measured)
    assert err(whole, 1) > 2 * err(timed, L)


def test_general_path_matches_the_legacy_reduction():
    # n_lags=1, soft_norm=0 goes through the new per-bin code; it must equal the
    # default z-score + PCA path (atol: float rounding of two SVDs of the same matrix)
    rng = np.random.default_rng(2)
    X0, y0, _ = _day(rng, 40, 12)
    X1, y1, _ = _day(rng, 40, 15)
    days, ys = {0: X0, 1: X1}, {0: y0, 1: y1}
    a = CCAAligner(n_components=4).fit(days, ys)
    b = CCAAligner(n_components=4, soft_norm=0.0).fit(days, ys)
    np.testing.assert_allclose(b.transform(X1, day=1), a.transform(X1, day=1), atol=1e-6)


def test_soft_norm_shrinks_near_silent_units():
    rng = np.random.default_rng(3)
    X0, y0, _ = _day(rng, 40, 12)
    X0[:, ::12] = 1e-3 * rng.random((40, L))  # unit 0 nearly silent at every lag
    al = CCAAligner(n_components=K, n_lags=L, soft_norm=1.0).fit({0: X0}, {0: y0})
    z = CCAAligner(n_components=K, n_lags=L, soft_norm=0.0).fit({0: X0}, {0: y0})
    # z-scoring blows the silent unit up to unit variance; soft normalisation does not
    assert al.scale_[0][0] > 100 * z.scale_[0][0]


def test_lag_errors_name_the_field():
    rng = np.random.default_rng(4)
    X0, y0, _ = _day(rng, 10, 5)
    with pytest.raises(ConfigError, match="n_lags"):
        CCAAligner(n_components=2, n_lags=3).fit({0: X0}, {0: y0})  # 40 features
    with pytest.raises(ConfigError, match="pca_on"):
        CCAAligner(pca_on="trials").fit({0: X0}, {0: y0})
    # 2 condition averages (n_lags=1) cannot give 3 averaged PCs
    with pytest.raises(NotEnoughDataError, match="n_components"):
        CCAAligner(n_components=3, pca_on="averages").fit({0: X0}, {0: y0})


@pytest.mark.parametrize("cls", [CCAAligner, ProcrustesAligner])
def test_match_time_aligns_without_labels(cls):
    rng = np.random.default_rng(5)
    X0, y0, Z0 = _unlabelled_day(rng, 60, 20)
    X1, y1, Z1 = _unlabelled_day(rng, 60, 30)
    al = cls(n_components=K, n_lags=L, pca_on="averages", match="time")
    assert al.uses_labels is False and cls(n_components=K).uses_labels is True
    al.fit({0: X0, 1: X1})  # no y at all
    assert al.n_matched_[1] == L  # one key per lag
    A0 = al.transform(X0, day=0).reshape(60, L, K)
    A1 = al.transform(X1, day=1).reshape(60, L, K)
    # the mean trajectories coincide once aligned: relative error 0.005 (CCA) and 0.18
    # (Procrustes: a rotation cannot undo the days' different latent scales) measured
    err = np.linalg.norm(A1.mean(0) - A0.mean(0)) / np.linalg.norm(A0.mean(0) - A0.mean((0, 1)))
    assert err < (0.05 if cls is CCAAligner else 0.3)
    # the classes, never seen by the aligner, are told apart across days: nearest
    # reference-day class average of each day-1 trial (chance 0.5)
    cents = np.stack([A0[y0 == c].reshape(-1, L * K).mean(0) for c in ("a", "b")])
    d = ((A1.reshape(60, 1, -1) - cents[None]) ** 2).sum(-1)
    assert np.mean(np.array(["a", "b"])[d.argmin(1)] == y1) > 0.9
    # labels passed anyway are ignored: same maps
    al_y = cls(n_components=K, n_lags=L, pca_on="averages", match="time").fit(
        {0: X0, 1: X1}, {0: y0, 1: y1[::-1].copy()})
    np.testing.assert_allclose(al_y.maps_[1], al.maps_[1])


def test_match_time_needs_lags():
    rng = np.random.default_rng(6)
    X0, _, _ = _unlabelled_day(rng, 10, 5)
    with pytest.raises(ConfigError, match="n_lags"):
        CCAAligner(n_components=2, match="time").fit({0: X0})
    with pytest.raises(ConfigError, match="match"):
        CCAAligner(match="labelz").fit({0: X0})
