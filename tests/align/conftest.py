"""Synthetic multi-day data with a known shared latent (fast: no spike simulation)."""

from __future__ import annotations

import numpy as np
import pytest

from spikedecode.align.evaluate import DayData

LABELS = ("touch/LUM", "touch/LBR", "airpuff")


def make_days(n_days: int = 4, *, n_trials: int = 12, n_bins: int = 5, k: int = 3,
              seed: int = 0, shared_units: int = 0) -> dict[int, DayData]:
    """Days whose features are ``W_d z + noise`` of one shared latent z(label, t).

    Each day has its own units (own weights); ``shared_units`` units (same ids, same
    weights) are recorded on every day.
    """
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(len(LABELS), k))
    profile = np.sin(np.pi * (np.arange(n_bins) + 0.5) / n_bins)
    w_shared = rng.normal(scale=0.6, size=(shared_units, k))
    days = {}
    for d in range(n_days):
        n_units = int(rng.integers(15, 25))
        W = np.concatenate([w_shared, rng.normal(scale=0.6, size=(n_units, k))])
        ids = [f"s{i}" for i in range(shared_units)] + [f"d{d}u{i}" for i in range(n_units)]
        X, lab, t, tr = [], [], [], []
        for trial in range(n_trials * len(LABELS)):
            c = trial % len(LABELS)
            z = profile[:, None] * directions[c][None, :] + 0.3 * rng.normal(size=(n_bins, k))
            X.append(z @ W.T + 0.5 * rng.normal(size=(n_bins, len(W))))
            lab += [LABELS[c]] * n_bins
            t += list(0.1 * np.arange(n_bins))
            tr += [trial] * n_bins
        days[d] = DayData(np.concatenate(X).astype(float), np.array(lab), np.array(t),
                          np.array(tr), ids)
    return days


@pytest.fixture(scope="module")
def days4():
    return make_days(4, seed=1)


@pytest.fixture(scope="module")
def days13():
    return make_days(13, n_trials=8, seed=2)
