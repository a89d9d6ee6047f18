"""Adversarial aligners on real-like data (issue 14, item 4): keys on one day only,
plain-string messages, and a warning when the label-free game fails silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spikedecode.align import AdversarialAligner, ConditionalAdversarialAligner
from spikedecode.align.base import AlignmentWarning
from spikedecode.errors import ConfigError, DataDroppedWarning, LabelError
from tests.align.conftest import lagged_trials

TINY = dict(n_components=2, hidden_size=16, max_epochs=6, ref_epochs=8, min_epochs=2,
            patience=2, batch_size=64, random_state=0)


def _day(rng, n_units, keys):
    lab = np.asarray(keys)
    Z = rng.normal(size=(len(lab), 2)) + (lab == "a@0.000")[:, None] * 2.0
    return Z @ rng.normal(size=(2, n_units))


def test_keys_on_one_day_only_are_dropped_with_a_count_not_an_error():
    rng = np.random.default_rng(0)
    ref_keys = np.repeat(["a@0.000", "b@0.000"], 60)
    # the new day has longer trials: a latency the reference day never reached
    new_keys = np.r_[np.repeat(["a@0.000", "b@0.000"], 50), np.repeat(["a@0.450"], 20)]
    al = ConditionalAdversarialAligner(**TINY).fit({0: _day(rng, 8, ref_keys)}, {0: ref_keys})
    X_new = _day(rng, 9, new_keys)
    with pytest.warns(DataDroppedWarning, match=r"20 of 120 samples") as rec:
        al.adapt(X_new, new_keys, day=1)
    msg = str(rec[0].message)
    assert "a@0.450" in msg and "np.str_" not in msg
    assert al.transform(X_new, day=1).shape == (120, 2)  # every sample still transformed


def test_no_shared_key_is_a_label_error_with_plain_strings():
    rng = np.random.default_rng(1)
    ref_keys = np.repeat(["a@0.000", "b@0.000"], 40)
    al = ConditionalAdversarialAligner(**TINY).fit({0: _day(rng, 8, ref_keys)}, {0: ref_keys})
    with pytest.raises(LabelError, match="shares no condition key") as info:
        al.adapt(rng.normal(size=(30, 8)), np.array(["z@0.100"] * 30), day=1)
    assert "np.str_" not in str(info.value) and "'a@0.000'" in str(info.value)


def test_label_free_warns_when_discriminator_at_chance_but_days_differ():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 12))
    Z = 0.3 * rng.normal(size=(300, 2))
    Z[:150, 0] += 4.0
    Z[150:, 0] -= 4.0  # two far clusters: a distribution the reference day does not have
    new = Z @ rng.normal(size=(2, 15))
    # a frozen discriminator (lr_disc ~ 0) and no adversarial pull: it stays at chance
    al = AdversarialAligner(**{**TINY, "max_epochs": 8}, lr_disc=1e-9,
                            adversarial_weight=0.0).fit({0: ref})
    with pytest.warns(AlignmentWarning, match=r"sits at chance .* at 0\.\d\d"):
        al.adapt(new, day=1)
    s = al.day_stats_[1]
    assert abs(s["disc_accuracy"] - 0.5) <= 0.1 and s["two_sample_accuracy"] > 0.7


def test_label_free_two_sample_statistic_near_chance_for_one_distribution():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(2, 10))
    days = {d: rng.normal(size=(300, 2)) @ W for d in range(2)}  # same units, same law
    al = AdversarialAligner(**{**TINY, "max_epochs": 20})
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlignmentWarning)
        al.fit(days)
    # a fresh classifier cannot tell two samples of one law apart (measured ~0.5)
    assert al.day_stats_[1]["two_sample_accuracy"] < 0.65


def test_anchor_penalty_keeps_the_encoder_near_its_aligned_start():
    rng = np.random.default_rng(4)
    ref_keys = np.repeat(["a@0.000", "b@0.000"], 60)
    X0, X1 = _day(rng, 10, ref_keys), _day(rng, 12, ref_keys)

    def encoder_weight(**kw):
        al = ConditionalAdversarialAligner(**{**TINY, "max_epochs": 15, **kw})
        al.fit({0: X0, 1: X1}, {0: ref_keys, 1: ref_keys})
        return al.encoders_[1].weight.detach().numpy().copy()

    # one epoch is one Adam step here (96 training samples, batch 64, drop_last): ~ the start
    start = encoder_weight(max_epochs=1, min_epochs=0)
    free = encoder_weight()
    anchored = encoder_weight(anchor_penalty=100.0)
    # measured 0.010 vs 0.057-0.065 (seeds 4, 5): the anchored encoder barely moves
    assert np.linalg.norm(anchored - start) < 0.5 * np.linalg.norm(free - start)


# -- time-resolved layout (n_lags, pca_on, soft_norm): the CCA front end ---------------
_L, _K = 6, 3


def _trials(rng, n_trials, n_units, noise=0.05):
    X, y, _ = lagged_trials(rng, n_trials, n_units, n_lags=_L, noise=noise, spanning=True,
                            gain_sd=0.1)
    return X, y


def _cross_day_accuracy(al, X0, y0, X1, y1):
    """Nearest reference-day class centroid of each day-1 trial, in the common space."""
    A0, A1 = al.transform(X0, day=0), al.transform(X1, day=1)
    cents = np.stack([A0[y0 == c].mean(0) for c in ("a", "b")])
    d = ((A1[:, None, :] - cents[None]) ** 2).sum(-1)
    return float(np.mean(np.array(["a", "b"])[d.argmin(1)] == y1))


# six epochs leave the days' noise levels tellable apart by the k-NN check (a true
# warning about the distributions, not about the class layout tested here)
@pytest.mark.filterwarnings("ignore::spikedecode.align.base.AlignmentWarning")
@pytest.mark.parametrize("cls", [AdversarialAligner, ConditionalAdversarialAligner])
def test_time_resolved_layout_starts_from_the_cca_front_end(cls):
    rng = np.random.default_rng(0)
    X0, y0 = _trials(rng, 60, 20, noise=0.3)
    X1, y1 = _trials(rng, 60, 30, noise=0.3)
    kw = {**TINY, "n_components": _K, "n_lags": _L, "pca_on": "averages", "soft_norm": 1.0}
    al = cls(**kw)
    conditional = cls is ConditionalAdversarialAligner
    al.fit({0: X0, 1: X1}, {0: y0, 1: y1} if conditional else None)
    assert al.transform(X1, day=1).shape == (60, _L * _K)  # one row per trial
    # the discriminator is conditioned on condition and lag, or (label-free) on the lag
    assert len(al.classes_) == (2 * _L if conditional else _L)
    assert al._front.uses_labels is conditional
    # the classes (never given to the label-free aligner) are told apart across days
    assert _cross_day_accuracy(al, X0, y0, X1, y1) > 0.9


def test_time_resolved_label_free_refuses_averages_without_lags():
    rng = np.random.default_rng(1)
    X0, _ = _trials(rng, 20, 8)
    for kw in ({"pca_on": "averages"}, {"soft_norm": 1.0}, {"init": "cca"}):
        with pytest.raises(ConfigError, match="n_lags >= 2"):
            AdversarialAligner(**TINY, **kw).fit({0: X0})


def test_anchor_penalty_default_is_on_in_the_time_resolved_layout_only():
    lagged = AdversarialAligner(n_lags=4)
    assert lagged._anchor_penalty() == 10.0
    assert AdversarialAligner()._anchor_penalty() == 0.0  # whole-sample results unchanged
    assert AdversarialAligner(n_lags=4, anchor_penalty=0.0)._anchor_penalty() == 0.0
