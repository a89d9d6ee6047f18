"""Synthetic multi-day data with a known shared latent (fast: no spike simulation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from spikedecode.evaluation import condition_keys

LABELS = ("touch/LUM", "touch/LBR", "airpuff")


def lagged_trials(rng, n_trials, n_units, *, n_lags=8, noise=0.05, spanning=False,
                  gain_sd=0.0):
    """Trials of two conditions ("a", "b") whose 3-d latent trajectory depends on
    condition and lag, read by the day through its own random units (no unit shared
    between days): ``X`` (trials, n_lags * units, lag-major), labels, latents.

    ``spanning``: the two conditions' *mean* trajectory spans all 3 latent dims (what
    label-free matching on the lag averages needs); ``gain_sd``: per-trial gain spread.
    """
    t = np.linspace(0, 1, n_lags)
    traj = {"a": np.stack([np.sin(3 * t), t, np.cos(2 * t)], 1),
            "b": np.stack([np.cos(3 * t), t ** 2 - 1 if spanning else -t,
                           np.sin(2 * t) + 0.5], 1)}
    y = np.array(["a", "b"] * (n_trials // 2))
    Z = np.stack([traj[c] for c in y])
    if gain_sd:
        Z = Z * (1 + gain_sd * rng.normal(size=(n_trials, 1, 1)))
    X = Z @ rng.normal(size=(3, n_units)) + noise * rng.normal(size=(n_trials, n_lags, n_units))
    return X.reshape(n_trials, n_lags * n_units), y, Z


@dataclass
class Day:
    """One synthetic day for the aligner tests (a test helper, not a library container).

    ``X`` (samples, units), ``labels``, ``t_rel`` (s after onset), ``trial`` and the unit
    ids ``units``; ``as_tuple()`` is the ``(X, y, groups, t_rel)`` form that
    ``spikedecode.evaluation`` takes.
    """

    X: np.ndarray
    labels: np.ndarray
    t_rel: np.ndarray
    trial: np.ndarray
    units: list

    def keys(self, uses_time: bool = True) -> np.ndarray:
        """Condition keys, as the evaluation builds them for an aligner."""
        return condition_keys(self.labels, self.t_rel if uses_time else None)

    def as_tuple(self) -> tuple:
        return self.X, self.labels, self.trial, self.t_rel


def decoder():
    """Standardized logistic regression: the decoder of the aligner tests."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def make_days(n_days: int = 4, *, n_trials: int = 12, n_bins: int = 5, k: int = 3,
              seed: int = 0, shared_units: int = 0) -> dict[int, Day]:
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
        days[d] = Day(np.concatenate(X).astype(float), np.array(lab), np.array(t),
                          np.array(tr), ids)
    return days


@pytest.fixture(scope="module")
def days4():
    return make_days(4, seed=1)


@pytest.fixture(scope="module")
def days13():
    return make_days(13, n_trials=8, seed=2)
