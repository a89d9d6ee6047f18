"""Simulated trial-based binned counts that look like real probe recordings.

:func:`simulate_trial_counts` is the counts counterpart of
:func:`~spikedecode.datasets.simulate_touch_experiment`, built to reproduce what makes
real cross-day alignment hard (issue 14): every day records a *different* population
(no unit shared), most units are silent or unrelated to the task, there are few trials,
and each trial is a short grid of bins (counts, not spike times).

Generative model (all of it returned as ground truth):

* A latent trajectory ``z(trial, t)`` of ``n_latent`` dimensions, the same law every day:
  the class (``"left"``/``"right"``) sets a direction ``d_c`` in latent space and the
  response follows a fixed temporal profile after onset, weaker for ``"left"``
  (``ipsi_gain``); trial-to-trial gain noise and
  a slow shared fluctuation are added.
* Task units (``frac_task`` of the day's units) fire at
  ``baseline_i * exp(W_d[i] . z)``; ``W_d`` is drawn afresh every day.
* Nuisance units (``frac_nuisance``) follow day-specific latent factors unrelated to
  the task, with a larger variance than the task signal (so the leading principal
  components of a day are *not* the task subspace).
* The rest are (nearly) silent units (``silent_rate`` Hz).
* Counts are Poisson in bins of ``bin_size`` seconds.

Examples
--------
>>> sim = simulate_trial_counts(n_days=2, n_trials=(40, 60), n_units=(80, 100),
...                             random_state=0)
>>> sorted(sim.days)
[0, 1]
>>> sim.days[0]["counts"].ndim, sim.days[0]["counts"].shape[2]
(3, 40)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikedecode._random import RandomStateLike, check_generator
from spikedecode.errors import ConfigError

__all__ = ["simulate_trial_counts", "TrialCounts"]


@dataclass
class TrialCounts:
    """Output of :func:`simulate_trial_counts`.

    Parameters
    ----------
    days : dict day -> dict
        ``counts`` (trial, unit, bin) int64, ``label`` (trial,) str, ``weights``
        (unit, n_latent) of the task units (0 rows for the others), ``kind`` (unit,) str
        in {"task", "nuisance", "silent"}, ``latent`` (trial, bin, n_latent).
    directions : ndarray (2, n_latent)
        Class directions in latent space (left, right).
    bin_size : float
        Seconds per bin.
    params : dict
        The simulation's settings.

    Examples
    --------
    >>> sim = simulate_trial_counts(n_days=1, n_trials=(20, 20), n_units=(30, 30),
    ...                             random_state=0)
    >>> isinstance(sim, TrialCounts), sim.bin_size, sim.directions.shape[0]
    (True, 0.01, 2)
    """

    days: dict[Any, dict[str, NDArray[Any]]]
    directions: NDArray[np.float64]
    bin_size: float
    params: dict[str, Any]


def _profile(n_bins: int, bin_size: float) -> NDArray[np.float64]:
    t = (np.arange(n_bins) + 0.5) * bin_size
    # fast rise (~50 ms), slow decay: a visual response
    p = (t / 0.05) * np.exp(1.0 - t / 0.05)
    return p / p.max()


def simulate_trial_counts(
    n_days: int = 4,
    *,
    n_trials: tuple[int, int] = (110, 290),
    n_units: tuple[int, int] = (300, 900),
    n_bins: int = 40,
    bin_size: float = 0.01,
    n_latent: int = 3,
    frac_task: float = 0.15,
    frac_nuisance: float = 0.35,
    baseline_rate: float = 4.0,
    silent_rate: float = 0.05,
    response_gain: float = 2.0,
    nuisance_gain: float = 1.2,
    weight_scale: float = 0.8,
    p_left: float = 0.5,
    ipsi_gain: float = 0.5,
    random_state: RandomStateLike = None,
) -> TrialCounts:
    """Simulate ``n_days`` sessions of trial counts with a different population each day.

    Parameters
    ----------
    n_days : int, default=4
    n_trials, n_units : (int, int)
        Per-day counts are drawn uniformly in these inclusive ranges.
    n_bins : int, default=40
        Bins per trial.
    bin_size : float, default=0.01
        Seconds per bin.
    n_latent : int, default=3
        Dimension of the shared task latent.
    frac_task, frac_nuisance : float
        Shares of units driven by the task latent / by day-specific nuisance factors;
        the rest are near-silent.
    baseline_rate, silent_rate : float
        Median rate (Hz) of active units; rate of silent units.
    response_gain, nuisance_gain : float
        Amplitude of the task response and of the nuisance factors (in log-rate units).
    weight_scale : float
        Standard deviation of the task units' loadings.
    p_left : float
        Probability of class ``"left"``.
    ipsi_gain : float, default=0.5
        Amplitude of the ``"left"`` response relative to ``"right"`` (a probe in one
        hemisphere sees the contralateral stimulus more strongly). With 1 the two classes
        are mirror images and no label-free method can tell which is which.
    random_state : int, Generator or None

    Returns
    -------
    TrialCounts

    Examples
    --------
    >>> sim = simulate_trial_counts(n_days=2, n_trials=(30, 30), n_units=(50, 50),
    ...                             random_state=1)
    >>> c = sim.days[1]["counts"]; c.shape
    (30, 50, 40)
    >>> set(sim.days[1]["kind"].tolist()) <= {"task", "nuisance", "silent"}
    True
    """
    rng = check_generator(random_state)
    if n_days < 1 or n_bins < 1 or n_latent < 1:
        raise ConfigError(f"n_days, n_bins, n_latent must be >= 1; got {n_days}, {n_bins}, "
                          f"{n_latent}.")
    if not (0 <= frac_task <= 1 and 0 <= frac_nuisance <= 1 and frac_task + frac_nuisance <= 1):
        raise ConfigError(
            f"frac_task == {frac_task} and frac_nuisance == {frac_nuisance} must lie in [0, 1] "
            "and sum to at most 1."
        )
    for name, rg in (("n_trials", n_trials), ("n_units", n_units)):
        if len(rg) != 2 or rg[0] < 2 or rg[1] < rg[0]:
            raise ConfigError(f"{name} == {rg!r} must be (low, high) with 2 <= low <= high.")
    dirs = rng.normal(size=(2, n_latent))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    prof = _profile(n_bins, bin_size)
    days: dict[Any, dict[str, NDArray[Any]]] = {}
    for d in range(n_days):
        nt = int(rng.integers(n_trials[0], n_trials[1] + 1))
        nu = int(rng.integers(n_units[0], n_units[1] + 1))
        is_left = rng.random(nt) < p_left
        label = np.where(is_left, "left", "right")
        gain = (1.0 + 0.3 * rng.normal(size=nt)) * np.where(is_left, ipsi_gain, 1.0)
        # latent (trial, bin, k): class response + trial gain + slow shared noise
        z = (gain[:, None, None] * prof[None, :, None]
             * dirs[np.where(is_left, 0, 1)][:, None, :] * response_gain)
        z = z + 0.3 * rng.normal(size=(nt, 1, n_latent))
        n_task = int(round(frac_task * nu))
        n_nuis = int(round(frac_nuisance * nu))
        kind = np.array(["task"] * n_task + ["nuisance"] * n_nuis
                        + ["silent"] * (nu - n_task - n_nuis))
        rng.shuffle(kind)
        W = np.zeros((nu, n_latent))
        task = kind == "task"
        W[task] = weight_scale * rng.normal(size=(int(task.sum()), n_latent))
        base = baseline_rate * np.exp(0.8 * rng.normal(size=nu))
        base[kind == "silent"] = silent_rate
        log_rate = np.log(base)[None, None, :] + z @ W.T
        nuis = kind == "nuisance"
        if nuis.any():
            n_f = 3
            f = nuisance_gain * rng.normal(size=(nt, 1, n_f)) + 0.5 * nuisance_gain * rng.normal(
                size=(nt, n_bins, n_f))
            V = rng.normal(size=(int(nuis.sum()), n_f))
            log_rate[:, :, nuis] += f @ V.T
        rate = np.minimum(np.exp(log_rate), 500.0)
        counts = rng.poisson(rate * bin_size).transpose(0, 2, 1).astype(np.int64)
        days[d] = {"counts": counts, "label": label, "weights": W, "kind": kind,
                   "latent": z}
    params = dict(n_days=n_days, n_trials=n_trials, n_units=n_units, n_bins=n_bins,
                  n_latent=n_latent, frac_task=frac_task, frac_nuisance=frac_nuisance,
                  baseline_rate=baseline_rate, silent_rate=silent_rate,
                  response_gain=response_gain, nuisance_gain=nuisance_gain,
                  weight_scale=weight_scale, p_left=p_left, ipsi_gain=ipsi_gain)
    return TrialCounts(days=days, directions=dirs, bin_size=bin_size, params=params)
