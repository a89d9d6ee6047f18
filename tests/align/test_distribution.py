"""DistributionAligner: label-free alignment with known ground truth (issue 14, item 2)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from spikedecode.align import DistributionAligner, get_aligner
from spikedecode.align.base import AlignmentWarning
from spikedecode.errors import ConfigError


def _latent(rng, n):
    """Three clusters of unequal weight in 2-D: no rotation or reflection maps the
    distribution onto itself, so the right map is identifiable without labels."""
    centres = np.array([[3.0, 0.0], [-1.0, 2.5], [-1.5, -2.0]])
    c = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return centres[c] + 0.5 * rng.normal(size=(n, 2)), c


def _days(seed=0, n=300, n_units=(30, 45)):
    rng = np.random.default_rng(seed)
    days, lat, lab = {}, {}, {}
    for d, p in enumerate(n_units):
        z, c = _latent(rng, n)
        W = rng.normal(size=(2, p))  # a different population every day
        days[d] = z @ W + 0.1 * rng.normal(size=(n, p)) + 20.0
        lat[d], lab[d] = z, c
    return days, lat, lab


def test_registered_and_label_free():
    al = get_aligner("distribution", n_components=3)
    assert isinstance(al, DistributionAligner) and al.uses_labels is False
    assert "Labels used: none" in DistributionAligner.__doc__


def test_recovers_the_map_between_two_days():
    days, lat, _ = _days()
    al = DistributionAligner(n_components=2, sqrt=False, soft_norm=0.0, random_state=0)
    al.fit(days)
    # the composite map latent -> aligned space must be the same on both days
    maps = [np.linalg.lstsq(np.c_[lat[d], np.ones(len(lat[d]))],
                            al.transform(days[d], day=d), rcond=None)[0][:2] for d in days]
    rel = np.linalg.norm(maps[0] - maps[1]) / np.linalg.norm(maps[0])
    # measured ~0.05 (sampling noise of two 300-sample clouds); a wrong sign or a
    # rotation by more than ~10 degrees gives > 0.2
    assert rel < 0.2
    assert al.day_stats_[1]["ot_cost"] < al.day_stats_[1]["ot_cost_identity"] + 1e-9


def test_decoder_transfers_well_above_chance_on_held_out_samples():
    days, _, lab = _days(seed=1)
    al = DistributionAligner(n_components=2, sqrt=False, random_state=0)
    al.fit({0: days[0]})
    half = np.arange(150)
    al.adapt(days[1][half], day=1)  # adapt on half the day, score the other half
    dec = LogisticRegression().fit(al.transform(days[0], day=0), lab[0])
    acc = np.mean(dec.predict(al.transform(days[1][150:], day=1)) == lab[1][150:])
    assert acc > 0.5 + 0.3  # majority rate is 0.5; measured ~0.97


def test_trajectories_with_lags_on_simulated_counts_and_speed():
    from spikedecode.datasets import simulate_trial_counts
    from spikedecode.preprocess import from_counts, to_xy

    # the simulator's real-like defaults: most units silent or unrelated, few trials
    sim = simulate_trial_counts(n_days=2, n_trials=(150, 150), n_units=(300, 400),
                                random_state=3)
    Xy = {d: to_xy(from_counts(v["counts"], v["label"], bin_size=0.01, session=str(d),
                               pool=8)) for d, v in sim.days.items()}
    al = DistributionAligner(n_components=6, n_lags=5, random_state=0).fit({0: Xy[0][0]})
    t = time.perf_counter()
    al.adapt(Xy[1][0][:75], day=1)
    elapsed = time.perf_counter() - t
    dec = LogisticRegression(max_iter=500).fit(al.transform(Xy[0][0], day=0), Xy[0][1])
    acc = np.mean(dec.predict(al.transform(Xy[1][0][75:], day=1)) == Xy[1][1][75:])
    maj = max(np.mean(Xy[1][1][75:] == "left"), np.mean(Xy[1][1][75:] == "right"))
    assert acc > maj + 0.15
    # measured 0.84-0.92 against majority 0.51-0.61 over random_state 3-6
    assert elapsed < 10.0  # the budget per adapted day (measured ~0.5 s)


def test_warns_when_distributions_do_not_match():
    rng = np.random.default_rng(0)
    days, _, _ = _days(seed=2)
    # a new day that is one tight blob far from any reference cluster shape
    odd = np.abs(rng.standard_cauchy(size=(300, 30))) * 5
    al = DistributionAligner(n_components=2, sqrt=False, random_state=0).fit({0: days[0]})
    with pytest.warns(AlignmentWarning, match="transport cost"):
        al.adapt(odd, day="odd")


def test_bad_n_lags():
    with pytest.raises(ConfigError, match="n_lags"):
        DistributionAligner(n_lags=4).fit({0: np.ones((10, 6)), 1: np.ones((10, 6))})
