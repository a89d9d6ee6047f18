"""Adversarial adapt stops on a plateau of its kept-epoch criterion (issue 20, item 8).

On real sessions the lag-conditioned discriminator seldom reaches chance and only gets
better at telling a new day from the reference as it trains: the epoch kept (the one
closest to chance) is an early one, and waiting for chance ran every day to
``max_epochs``. These tests pin the rule on a day the discriminator separates easily.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spikedecode.align import AdversarialAligner, ConditionalAdversarialAligner
from tests.align.conftest import lagged_trials

_L = 4
# a fast discriminator and no adversarial pull on the encoder: the new day's codes stay
# distinguishable, the held-out discriminator accuracy moves away from chance
KW = dict(n_components=2, hidden_size=16, max_epochs=60, ref_epochs=5, min_epochs=3,
          patience=3, batch_size=32, lr_disc=2e-2, adversarial_weight=0.0,
          n_lags=_L, random_state=0)


def _days():
    rng = np.random.default_rng(0)
    X0, y0, _ = lagged_trials(rng, 40, 6, n_lags=_L, noise=0.3, spanning=True)
    X1, y1, _ = lagged_trials(rng, 40, 7, n_lags=_L, noise=0.3, spanning=True)
    X1 = X1 * 3.0 + 2.0  # another scale and offset: easy to tell apart
    return {0: X0, 1: X1}, {0: y0, 1: y1}


def _fit(cls, **kw):
    X, y = _days()
    al = cls(**{**KW, **kw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the label-free two-sample check may warn
        al.fit(X, y if al.uses_labels else None)
    return al


def _gap_criterion(hist, tol, min_epochs):
    """The monitor's criterion per epoch from min_epochs on: (not at chance, value)."""
    out = []
    for e in hist.epochs[min_epochs - 1:]:
        gap = abs(e["val_disc_accuracy"] - 0.5)
        out.append((gap > tol, e["val_recon"] if gap <= tol else gap, int(e["epoch"])))
    return out


@pytest.mark.parametrize("cls", [AdversarialAligner, ConditionalAdversarialAligner])
def test_adapt_stops_on_a_plateau_and_keeps_the_best_epoch(cls):
    al = _fit(cls)
    hist = al.history_[1]
    stats = al.day_stats_[1]
    assert stats["stopped_early"] and stats["epochs"] < KW["max_epochs"]
    crit = _gap_criterion(hist, 0.05, KW["min_epochs"])  # tol: its default
    best = min(crit)
    # the kept weights are those of the best epoch run ...
    assert hist.best_epoch == best[2]
    # ... and training ran exactly `patience` epochs past the last one that improved the
    # criterion (no epoch newly at chance, no closer to chance, no 1 % better recon)
    last_improvement, running = crit[0][2], crit[0]
    for c in crit[1:]:
        if (c[0] < running[0]) or (c[0] == running[0] and c[1] < (
                0.99 * running[1] if not c[0] else running[1])):
            last_improvement = c[2]
        running = min(running, c)
    assert stats["epochs"] - 1 == last_improvement + KW["patience"]


def test_without_early_stopping_every_epoch_runs():
    al = _fit(AdversarialAligner, early_stopping=False, max_epochs=12)
    assert al.day_stats_[1]["epochs"] == 12 and not al.day_stats_[1]["stopped_early"]


def test_plateau_stop_is_reproducible():
    a = _fit(ConditionalAdversarialAligner)
    b = _fit(ConditionalAdversarialAligner)
    X, _ = _days()
    assert a.day_stats_[1]["epochs"] == b.day_stats_[1]["epochs"]
    np.testing.assert_array_equal(a.transform(X[1], day=1), b.transform(X[1], day=1))


def test_conditional_aligner_skips_the_label_free_two_sample_check():
    al = _fit(ConditionalAdversarialAligner)
    assert np.isnan(al.day_stats_[1]["two_sample_accuracy"])
    free = _fit(AdversarialAligner)
    assert 0.0 <= free.day_stats_[1]["two_sample_accuracy"] <= 1.0
