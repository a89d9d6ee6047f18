"""The simulated touch experiment: paradigm, populations, reproducibility, spiking, signal."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from spikedecode.datasets import STIMULUS_LABELS, simulate_touch_experiment
from spikedecode.errors import ConfigError
from spikedecode.preprocess import bin_spikes, trial_windows
from spikedecode.recording import check_recording

SMALL = {"n_repeats": 1, "n_strokes": 2, "n_puffs": 2, "n_units_range": (4, 6)}


def runs(labels):
    """Run-length encode a sequence of labels: [(label, count), ...]."""
    out: list[list] = []
    for lab in labels:
        if out and out[-1][0] == lab:
            out[-1][1] += 1
        else:
            out.append([lab, 1])
    return [tuple(r) for r in out]


@pytest.fixture(scope="module")
def full_day():
    """One day of the real paradigm (defaults), with few units to stay fast."""
    return simulate_touch_experiment(n_days=1, n_units_range=(3, 3), random_state=11)[0]


def test_paradigm_per_day(full_day):
    rec = check_recording(full_day)
    lab = rec["epoch_label"].values.astype(str)
    start, stop = rec["epoch_start"].values, rec["epoch_stop"].values
    assert np.all(np.diff(start) > 0) and np.all(start[1:] >= stop[:-1])  # disjoint, ordered
    # 5 blocks: air-puff, touch, air-puff, touch, air-puff
    blocks = runs(["touch" if x.startswith("touch") else x for x in lab])
    assert blocks == [("airpuff", 20), ("touch", 80), ("airpuff", 20), ("touch", 80),
                      ("airpuff", 20)]
    # a touch block: 4 repeats of 10 LUM strokes then 10 LBR strokes
    touch = lab[np.char.startswith(lab, "touch")]
    assert runs(touch[:80]) == [("touch/LUM", 10), ("touch/LBR", 10)] * 4
    assert runs(touch[80:]) == [("touch/LUM", 10), ("touch/LBR", 10)] * 4
    # strokes ~1 s (+-20 %), ~4 s apart (+-20 %); puffs half as long
    is_touch = np.char.startswith(lab, "touch")
    dur = stop - start
    assert np.all((dur[is_touch] >= 0.8) & (dur[is_touch] <= 1.2))
    assert np.all((dur[~is_touch] >= 0.4) & (dur[~is_touch] <= 0.6))
    gaps = start[1:] - stop[:-1]
    within = np.flatnonzero(is_touch[1:] & is_touch[:-1])
    assert np.all((gaps[within] >= 3.2 - 1e-9) & (gaps[within] <= 4.8 + 1e-9))
    assert 3.8 < gaps[within].mean() < 4.2
    assert rec.attrs["t_start"] == 0.0 and rec.attrs["t_stop"] > stop[-1]


def test_reproducible_with_random_state():
    a = simulate_touch_experiment(n_days=2, random_state=5, **SMALL)
    b = simulate_touch_experiment(n_days=2, random_state=5, **SMALL)
    c = simulate_touch_experiment(n_days=2, random_state=6, **SMALL)
    for d in (0, 1):
        assert a[d].identical(b[d])
        np.testing.assert_array_equal(a.truth[d].latent, b.truth[d].latent)
        np.testing.assert_array_equal(a.truth[d].weights, b.truth[d].weights)
    assert not a[0]["spike_time"].equals(c[0]["spike_time"])
    g = np.random.default_rng(5)
    d = simulate_touch_experiment(n_days=1, random_state=g, **SMALL)
    assert d[0]["spike_time"].equals(
        simulate_touch_experiment(n_days=1, random_state=np.random.default_rng(5), **SMALL)[0][
            "spike_time"])


def test_populations_and_truth():
    exp = simulate_touch_experiment(n_days=4, random_state=1, n_units_range=(5, 9),
                                    n_repeats=1, n_strokes=2, n_puffs=1)
    assert sorted(exp) == [0, 1, 2, 3]
    seen: set[str] = set()
    for day, rec in exp.items():
        ids = rec["unit"].values.astype(str).tolist()
        assert 5 <= len(ids) <= 9
        assert rec.attrs["day"] == day
        assert set(ids).isdisjoint(seen)  # unit_overlap=0: a new population each day
        seen |= set(ids)
        tr = exp.truth[day]
        assert tr.unit_ids == ids and tr.shared_units == []
        assert tr.weights.shape == (len(ids), exp.params["n_latent"])
        assert tr.rates().shape == (tr.latent.shape[0], len(ids))
        assert tr.latent.shape[0] * tr.dt == pytest.approx(rec.attrs["t_stop"])
    assert set(exp.directions) == set(STIMULUS_LABELS)


def test_unit_overlap_carries_ids_and_weights():
    exp = simulate_touch_experiment(n_days=3, random_state=2, n_units_range=(10, 10),
                                    unit_overlap=0.5, n_repeats=1, n_strokes=1, n_puffs=1)
    for day in (1, 2):
        prev, cur = exp.truth[day - 1], exp.truth[day]
        assert len(cur.shared_units) == 5
        assert set(cur.shared_units) <= set(prev.unit_ids) & set(cur.unit_ids)
        for uid in cur.shared_units:
            i, j = prev.unit_ids.index(uid), cur.unit_ids.index(uid)
            np.testing.assert_array_equal(prev.weights[i], cur.weights[j])
            assert prev.baseline[i] == cur.baseline[j]
        new = set(cur.unit_ids) - set(cur.shared_units)
        assert new.isdisjoint(prev.unit_ids)


def test_spiking_matches_rates_and_gamma_regularity():
    # zero weights: constant rates equal to the baselines, so the renewal process is
    # stationary and its rate and ISI CV (1 / sqrt(shape)) can be checked directly
    cvs = {}
    for shape in (1.0, 4.0):
        exp = simulate_touch_experiment(n_days=1, random_state=3, n_units_range=(6, 6),
                                        weight_scale=0.0, baseline_rate=30.0,
                                        gamma_shape=shape, n_repeats=1, n_strokes=3,
                                        n_puffs=2)
        rec, tr = exp[0], exp.truth[0]
        rates = rec.spikedecode.firing_rates().values
        n = rec.spikedecode.spike_counts().values
        # Poisson count error is sqrt(n); allow 5 sd
        err = np.abs(rates - tr.baseline) * rec.spikedecode.duration
        assert np.all(err < 5 * np.sqrt(n) + 5)
        isis = [np.diff(t) for t in rec.spikedecode.spiketrains().values()]
        cvs[shape] = float(np.median([i.std() / i.mean() for i in isis]))
    assert cvs[1.0] == pytest.approx(1.0, abs=0.1)
    assert cvs[4.0] == pytest.approx(0.5, abs=0.08)


def test_stimuli_are_decodable(tiny_experiment):
    for day, rec in tiny_experiment.items():
        b = bin_spikes(rec, 0.1)
        # rates inside stimulus epochs differ from the latent (outside) rates
        start, stop = rec["epoch_start"].values, rec["epoch_stop"].values
        t = b["time"].values
        inside = np.zeros(t.size, bool)
        for a, z in zip(start, stop):
            inside |= (t >= a) & (t + 0.1 <= z)
        outside = np.ones(t.size, bool)
        for a, z in zip(start, stop):
            outside &= (t + 0.1 <= a) | (t >= z + 0.5)
        r_in = b.values[inside].mean(axis=0) / 0.1
        r_out = b.values[outside].mean(axis=0) / 0.1
        ratio = np.abs(np.log((r_in + 0.5) / (r_out + 0.5)))
        assert np.median(ratio) > 0.1, (day, ratio)
        # and the three stimuli are told apart from one window per trial, well above chance
        tw = trial_windows(b, rec, n_bins=5)
        X = tw.values.sum(axis=1).astype(float)
        y = tw["label"].values
        acc = cross_val_score(LogisticRegression(max_iter=2000), np.log1p(X), y, cv=4).mean()
        chance = np.unique(y, return_counts=True)[1].max() / y.size
        assert acc > chance + 0.25, (day, acc, chance)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_days": 0}, "n_days == 0"),
        ({"n_repeats": 1.5}, "n_repeats"),
        ({"n_units_range": (10, 5)}, "n_units_range"),
        ({"gap": 0.0}, "gap == 0.0"),
        ({"unit_overlap": 1.0}, "unit_overlap"),
        ({"dt": -1e-3}, "dt =="),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        simulate_touch_experiment(random_state=0, **kwargs)


def test_spike_counts_follow_the_true_rates():
    # modulated, partly capped rates: each unit's count matches the integral of its true
    # (capped) rate, the check that time rescaling draws the process it claims
    exp = simulate_touch_experiment(n_days=1, random_state=4, n_units_range=(12, 12),
                                    weight_scale=1.0, max_rate=15.0, n_repeats=1,
                                    n_strokes=4, n_puffs=3)
    rec, tr = exp[0], exp.truth[0]
    rates = tr.rates()
    assert rates.max() <= 15.0
    assert (rates == 15.0).mean() > 0.01  # the cap is active somewhere
    expected = rates.sum(axis=0) * tr.dt
    observed = rec.spikedecode.spike_counts().values
    z = (observed - expected) / np.sqrt(expected)
    assert np.all(np.abs(z) < 5), z
