"""SelectedMapAligner: label-free Procrustes with its sign ambiguities chosen without labels."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import spikedecode.evaluation.consistency as consistency
from spikedecode.align import ProcrustesAligner, get_aligner
from spikedecode.align.select import SelectedMapAligner, energy_distance
from spikedecode.errors import ConfigError, NotEnoughDataError
from spikedecode.evaluation import cross_day_matrix, prepare_days
from tests.align.conftest import decoder, lagged_trials

N_LAGS = 6


def _skewed_days(seed, n=240, flip=True):
    """Two days whose mean trajectory determines dims 0-1 well and dim 2 only weakly,
    while the trials' spread along dim 2 is skewed (a one-sided response): the sign of
    dim 2 is visible in the single-trial distribution, not in the averages. Day 1 is
    day 0's latents through an orthogonal map (with dim 2 reflected when ``flip``)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, N_LAGS)
    traj = np.stack([3 * np.sin(3 * t), 3 * np.cos(2 * t), 0.02 * t], 1)

    def trials(m):
        Z = traj[None] + 0.2 * rng.normal(size=(m, N_LAGS, 3))
        Z[:, :, 2] += (rng.exponential(1.0, size=(m, 1)) - 1.0) * np.ones(N_LAGS)
        return Z

    Z0, Z1 = trials(n), trials(n)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if flip:
        Q = np.diag([1.0, 1.0, -1.0]) @ Q
    return {0: Z0.reshape(n, -1), 1: (Z1 @ Q).reshape(n, -1)}, Q


def _al(**kw):
    base = {"n_components": 3, "n_lags": N_LAGS, "soft_norm": None, "standardize": False,
            "random_state": 0}
    return SelectedMapAligner(**{**base, **kw})


def _skew(x):
    x = x - x.mean()
    return float((x ** 3).mean() / x.std() ** 3)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_energy_criterion_picks_the_sign_the_averages_cannot(seed):
    days, _ = _skewed_days(seed)
    # PCA of single bins: every day's 3 components hold the skewed direction
    al = _al(n_flips=1, pca_on="samples").fit(days)
    ref = al.transform(days[0], day=0).reshape(-1, N_LAGS, 3)
    new = al.transform(days[1], day=1).reshape(-1, N_LAGS, 3)
    # the weakest direction of the map is the skewed one: chosen right, the mapped
    # trials are skewed the same way as the reference's
    w = np.linalg.svd(ref.reshape(-1, 3) - ref.reshape(-1, 3).mean(0),
                      full_matrices=False)[2]
    skews_ref = [_skew(ref.reshape(-1, 3) @ v) for v in w]
    skews_new = [_skew(new.reshape(-1, 3) @ v) for v in w]
    i = int(np.argmax(np.abs(skews_ref)))
    assert abs(skews_ref[i]) > 1.0
    assert np.sign(skews_new[i]) == np.sign(skews_ref[i])
    # and the chosen candidate has the lower criterion (control: the two differ)
    c = al.criterion_[1]
    assert c.shape == (2,) and c[0] != c[1]
    assert al.flips_[1] in ((1,), (-1,))


def test_the_plain_candidate_is_procrustes_on_the_lag_averages():
    rng = np.random.default_rng(0)
    days = {}
    for d, units in (("a", 9), ("b", 7)):
        X, _, _ = lagged_trials(rng, 40, units, n_lags=N_LAGS, noise=0.3, spanning=True)
        days[d] = X
    kw = {"n_components": 3, "n_lags": N_LAGS, "pca_on": "averages", "soft_norm": 1.0}
    plain = ProcrustesAligner(match="time", **kw).fit(days)
    sel = SelectedMapAligner(n_flips=0, random_state=0, **kw).fit(days)
    for d in days:
        np.testing.assert_allclose(sel.transform(days[d], day=d),
                                   plain.transform(days[d], day=d), atol=1e-10)
    assert sel.criterion_["b"].shape == (1,) and sel.flips_["b"] == ()


def test_reproducible_and_label_free():
    days, _ = _skewed_days(5, n=60)
    a = _al(n_flips=2).fit(days)
    b = _al(n_flips=2).fit(days)
    np.testing.assert_array_equal(a.transform(days[1], day=1), b.transform(days[1], day=1))
    np.testing.assert_array_equal(a.criterion_[1], b.criterion_[1])
    assert not a.uses_labels and a.uses_time
    # y is ignored entirely
    y = {d: np.arange(len(X)).astype(str) for d, X in days.items()}
    c = _al(n_flips=2).fit(days, y)
    np.testing.assert_array_equal(a.transform(days[1], day=1), c.transform(days[1], day=1))
    assert get_aligner("procrustes-select", n_flips=2).n_flips == 2


def test_adapt_leaves_earlier_days_and_multi_reference_target():
    days, _ = _skewed_days(6, n=60)
    extra = _skewed_days(7, n=60)[0][1]
    for multi in (False, True):
        al = _al(n_flips=1, multi_reference=multi).fit(days)
        before = {d: al.transform(days[d], day=d) for d in days}
        target = al._target().copy()
        al.adapt(extra, day=2)
        for d in days:
            np.testing.assert_array_equal(al.transform(days[d], day=d), before[d])
        if multi:  # the target is now the mean of the three aligned average trajectories
            assert not np.allclose(al._target(), target)
        else:
            np.testing.assert_array_equal(al._target(), target)


@pytest.mark.filterwarnings("ignore::spikedecode.align.AlignmentWarning")
def test_no_label_reaches_it_through_the_evaluation(monkeypatch):
    """As tests/evaluation/test_adapt_invariance.py, for this aligner."""
    calls = []
    inner = consistency._adapt

    def spy(al, v, day, sel):
        al_d = inner(al, v, day, sel)
        calls.append((day, np.asarray(v["groups"][sel]).copy(), al, al_d))
        return al_d

    monkeypatch.setattr(consistency, "_adapt", spy)
    rng = np.random.default_rng(0)
    days = {}
    for d, n_units in (("d0", 9), ("d1", 7)):
        X, y, _ = lagged_trials(rng, 40, n_units, n_lags=N_LAGS, noise=0.3, spanning=True)
        days[d] = (X.reshape(len(X), N_LAGS, n_units), y, np.arange(len(y)))
    cross_day_matrix(days, decoder(), aligner=_al(n_flips=2, standardize=True),
                     scheduler="sync", n_splits=2, random_state=0)
    data = prepare_days(days, shared_units=False)
    y = data["d1"]["y"]
    own = [c for c in calls if c[0] == "d1"]
    assert len(own) == 2
    for replaced in (np.random.default_rng(5).permutation(y), np.full(len(y), "x")):
        v = {**data["d1"], "y": replaced, "cond": replaced}
        for day, trials, al, al_d in own:
            al_new = consistency._adapt(al, v, day, np.flatnonzero(np.isin(v["groups"], trials)))
            X = data["d1"]["X"]
            assert np.array_equal(al_new.transform(X, day=day), al_d.transform(X, day=day))


@pytest.mark.parametrize("kw, field", [
    ({"n_flips": -1}, "n_flips"),
    ({"n_flips": 9}, "n_flips"),
    ({"criterion": "mmd"}, "criterion"),
    ({"multi_reference": 1}, "multi_reference"),
    ({"max_reference": 2}, "max_reference"),
    ({"n_lags": 1}, "n_lags"),
])
def test_bad_parameters_name_the_field(kw, field):
    days, _ = _skewed_days(0, n=20)
    with pytest.raises(ConfigError, match=field):
        _al(**kw).fit(days)


def test_too_few_trials_to_cross_fit():
    days, _ = _skewed_days(0, n=20)
    al = _al(n_flips=1).fit({0: days[0]})
    with pytest.raises(NotEnoughDataError, match=">= 4"):
        copy.deepcopy(al).adapt(days[1][:3], day=1)


def test_energy_distance_properties():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    assert abs(energy_distance(a, b)) < 0.05
    assert energy_distance(a, b + 0.5) > energy_distance(a, b) + 0.1
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-12)
