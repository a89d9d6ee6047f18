"""Simulated touch experiment: many days, a different neuron population each day.

The generative model (all of it returned as ground truth):

* A latent state ``z(t)`` of ``n_latent`` dimensions, shared by every day: an
  Ornstein-Uhlenbeck baseline plus a stimulus-locked response. Each stimulus class
  (``touch/LUM``, ``touch/LBR``, ``airpuff``) has a fixed direction in latent space and a
  fixed temporal profile, identical across days (this is what makes alignment possible).
* Each day records ``n_units`` neurons (drawn per day in ``n_units_range``; probe drift)
  with their own weights ``W_d`` (unit x latent) and baseline rates. The firing rate is
  log-linear, ``rate_i(t) = baseline_i * exp(W_d[i] . z(t))``, capped at ``max_rate``.
* Spikes are drawn by time rescaling: inter-spike intervals of a gamma renewal process of
  shape ``gamma_shape`` (1 = Poisson) in the time warped by the integrated rate.

The paradigm per day follows the seed study: 5 blocks (3 machine air-puff blocks, 2
human-touch blocks, interleaved). A touch block is ``n_repeats`` (4) repeats of
``n_strokes`` (10) strokes on the left upper muzzle (LUM) then ``n_strokes`` on the left
brow (LBR); each stroke lasts ~1 s and strokes are ~4 s apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from spikedecode._random import RandomStateLike, check_generator
from spikedecode._validation import Interval, check_param
from spikedecode.errors import ConfigError
from spikedecode.recording import from_spiketrains

__all__ = ["simulate_touch_experiment", "SimulatedExperiment", "DayTruth", "STIMULUS_LABELS"]

STIMULUS_LABELS = ("touch/LUM", "touch/LBR", "airpuff")


@dataclass
class DayTruth:
    """Ground truth of one simulated day.

    Attributes
    ----------
    latent : ndarray (n_steps, n_latent)
        Latent state sampled every ``dt`` seconds from ``t_start``.
    dt : float
        Step of ``latent`` and ``rates`` (s).
    weights : ndarray (n_units, n_latent)
        Mixing weights of this day's units.
    baseline : ndarray (n_units,)
        Baseline firing rates (Hz).
    unit_ids : list of str
    shared_units : list of str
        Units also recorded on the previous day (same weights).
    max_rate : float
        Cap on the firing rate (Hz) applied when the spikes were drawn.

    Examples
    --------
    >>> exp = simulate_touch_experiment(n_days=1, n_repeats=1, n_strokes=1, random_state=0)
    >>> truth = exp.truth[0]
    >>> truth.rates().shape == (truth.latent.shape[0], len(truth.unit_ids))
    True
    """

    latent: NDArray[np.float64]
    dt: float
    weights: NDArray[np.float64]
    baseline: NDArray[np.float64]
    unit_ids: list[str]
    shared_units: list[str] = field(default_factory=list)
    max_rate: float = np.inf

    def rates(self) -> NDArray[np.float64]:
        """Firing rates (n_steps, n_units) in Hz, recomputed from the latent (capped at
        ``max_rate`` exactly as when the spikes were drawn)."""
        return np.minimum(self.baseline[None, :] * np.exp(self.latent @ self.weights.T),
                          self.max_rate)


class SimulatedExperiment(dict):
    """``dict`` day -> Recording, with the ground truth in ``.truth`` (day -> DayTruth).

    ``.directions`` holds the latent direction of each stimulus class and ``.params`` the
    arguments used.

    Examples
    --------
    >>> exp = simulate_touch_experiment(n_days=2, n_repeats=1, n_strokes=1, random_state=0)
    >>> sorted(exp), sorted(exp.truth) == sorted(exp)
    ([0, 1], True)
    """

    truth: dict[Any, DayTruth]
    directions: dict[str, NDArray[np.float64]]
    params: dict[str, Any]


def _schedule(
    rng: np.random.Generator,
    n_repeats: int,
    n_strokes: int,
    n_puffs: int,
    stroke_duration: float,
    gap: float,
    jitter: float,
    block_gap: float,
) -> list[tuple[float, float, str]]:
    """Epochs of one day: airpuff, touch, airpuff, touch, airpuff blocks."""
    t = block_gap
    rows: list[tuple[float, float, str]] = []

    def stim(label: str, dur: float) -> None:
        nonlocal t
        d = dur * (1.0 + jitter * rng.uniform(-1, 1))
        rows.append((t, t + d, label))
        t += d + gap * (1.0 + jitter * rng.uniform(-1, 1))

    for block in ("airpuff", "touch", "airpuff", "touch", "airpuff"):
        if block == "airpuff":
            for _ in range(n_puffs):
                stim("airpuff", 0.5 * stroke_duration)
        else:
            for _ in range(n_repeats):
                for site in ("touch/LUM", "touch/LBR"):
                    for _ in range(n_strokes):
                        stim(site, stroke_duration)
        t += block_gap
    return rows


def _profile(s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Stimulus-locked temporal profile on [0, 1] (fast rise, slower decay)."""
    return np.where((s >= 0) & (s <= 1), np.sin(np.pi * np.clip(s, 0, 1)) ** 0.5, 0.0)


def _gamma_spikes(
    rng: np.random.Generator,
    rate: NDArray[np.float64],
    dt: float,
    t_start: float,
    shape: float,
) -> NDArray[np.float64]:
    """Spike times of a gamma renewal process with time-varying rate (time rescaling)."""
    cum = np.concatenate([[0.0], np.cumsum(rate) * dt])
    total = cum[-1]
    n_guess = int(total + 6 * np.sqrt(total + 1) + 10)
    isi = rng.gamma(shape, 1.0 / shape, size=n_guess)
    # random phase so that the first spike is not biased towards t_start
    arrivals = np.cumsum(isi) - rng.uniform(0, isi[0])
    while arrivals[-1] < total:
        more = np.cumsum(rng.gamma(shape, 1.0 / shape, size=n_guess)) + arrivals[-1]
        arrivals = np.concatenate([arrivals, more])
    arrivals = arrivals[(arrivals >= 0) & (arrivals < total)]
    k = np.searchsorted(cum, arrivals, side="right") - 1
    k = np.clip(k, 0, rate.size - 1)
    frac = (arrivals - cum[k]) / np.maximum(cum[k + 1] - cum[k], 1e-300)
    return t_start + (k + np.clip(frac, 0.0, 1.0 - 1e-9)) * dt


def simulate_touch_experiment(
    n_days: int = 12,
    *,
    n_units_range: tuple[int, int] = (30, 60),
    n_latent: int = 4,
    n_repeats: int = 4,
    n_strokes: int = 10,
    n_puffs: int = 20,
    stroke_duration: float = 1.0,
    gap: float = 4.0,
    baseline_rate: float = 5.0,
    weight_scale: float = 0.6,
    response_gain: float = 1.5,
    latent_tau: float = 0.5,
    unit_overlap: float = 0.0,
    gamma_shape: float = 1.0,
    max_rate: float = 200.0,
    dt: float = 0.001,
    random_state: RandomStateLike = None,
) -> SimulatedExperiment:
    """Simulate the touch paradigm over ``n_days`` days.

    Parameters
    ----------
    n_days : int, default=12
        Number of recording days (keys ``0 .. n_days - 1``).
    n_units_range : (int, int), default=(30, 60)
        Inclusive range of the per-day unit count.
    n_latent : int, default=4
        Dimension of the shared latent state.
    n_repeats, n_strokes : int, default=4, 10
        A touch block is ``n_repeats`` x (``n_strokes`` LUM strokes then ``n_strokes`` LBR).
    n_puffs : int, default=20
        Air puffs per air-puff block (3 blocks a day).
    stroke_duration, gap : float, default=1.0, 4.0
        Stimulus length and inter-stimulus interval (s), each jittered by +-20%.
    baseline_rate : float, default=5.0
        Median baseline rate (Hz); per-unit rates are log-normal around it.
    weight_scale : float, default=0.6
        Standard deviation of the unit x latent weights.
    response_gain : float, default=1.5
        Amplitude of the stimulus-locked latent response.
    latent_tau : float, default=0.5
        Time constant (s) of the Ornstein-Uhlenbeck baseline.
    unit_overlap : float, default=0.0
        Fraction of each day's units carried over from the previous day (same id and
        weights); 0 gives a fully different population each day.
    gamma_shape : float, default=1.0
        Shape of the gamma renewal process; 1 is Poisson, >1 more regular.
    max_rate : float, default=200.0
        Cap on the firing rate (Hz).
    dt : float, default=0.001
        Simulation step (s).
    random_state : int, Generator or None
        Seed; the same seed gives the same spikes.

    Returns
    -------
    SimulatedExperiment
        ``dict`` day -> Recording with ``.truth``, ``.directions`` and ``.params``.

    Examples
    --------
    >>> exp = simulate_touch_experiment(n_days=2, n_repeats=1, n_strokes=2, n_puffs=2,
    ...                                 random_state=0)
    >>> sorted(exp)
    [0, 1]
    >>> sorted(set(exp[0]["epoch_label"].values.tolist()))
    ['airpuff', 'touch/LBR', 'touch/LUM']
    """
    params = dict(locals())
    for name in ("n_days", "n_latent", "n_repeats", "n_strokes", "n_puffs"):
        check_param(params[name], name, Interval(Integral, 0 if name == "n_puffs" else 1, None))
    lo, hi = n_units_range
    if not (1 <= lo <= hi):
        raise ConfigError(f"n_units_range == {n_units_range!r}, must satisfy 1 <= low <= high.")
    for name in ("stroke_duration", "gap", "baseline_rate", "latent_tau", "gamma_shape",
                 "max_rate", "dt"):
        check_param(params[name], name, Interval(Real, 0, None, closed="neither"))
    check_param(unit_overlap, "unit_overlap", Interval(Real, 0, 1, closed="left"))
    rng = check_generator(random_state)

    # stimulus directions in latent space: shared by all days
    raw = rng.normal(size=(len(STIMULUS_LABELS), n_latent))
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    directions = {lab: raw[i] * response_gain for i, lab in enumerate(STIMULUS_LABELS)}

    exp = SimulatedExperiment()
    exp.truth, exp.directions, exp.params = {}, directions, params
    prev_units: list[tuple[str, NDArray, float]] = []
    next_uid = 0
    a = 1.0 - dt / latent_tau
    for day in range(n_days):
        epochs = _schedule(rng, n_repeats, n_strokes, n_puffs, stroke_duration, gap, 0.2, gap)
        t_stop = epochs[-1][1] + gap
        n_steps = int(np.ceil(t_stop / dt))
        t_stop = n_steps * dt
        # OU baseline with unit stationary variance (AR(1) via lfilter: fast)
        noise = rng.normal(size=(n_steps, n_latent)) * np.sqrt(1 - a * a)
        latent = lfilter([1.0], [1.0, -a], noise, axis=0) * 0.5
        for start, stop, lab in epochs:
            i0, i1 = int(start / dt), min(int(np.ceil(stop / dt)), n_steps)
            s = (np.arange(i0, i1) * dt - start) / (stop - start)
            latent[i0:i1] += _profile(s)[:, None] * directions[lab][None, :]

        n_units = int(rng.integers(lo, hi + 1))
        n_keep = min(int(round(unit_overlap * n_units)), len(prev_units))
        keep_idx = rng.choice(len(prev_units), size=n_keep, replace=False) if n_keep else []
        units = [prev_units[i] for i in sorted(keep_idx)]
        shared = [u[0] for u in units]
        while len(units) < n_units:
            w = rng.normal(scale=weight_scale, size=n_latent)
            b = baseline_rate * float(np.exp(rng.normal(scale=0.5)))
            units.append((f"u{next_uid:04d}", w, b))
            next_uid += 1
        ids = [u[0] for u in units]
        weights = np.stack([u[1] for u in units])
        baseline = np.array([u[2] for u in units])
        trains = {}
        for uid, w, b in units:
            rate = np.minimum(b * np.exp(latent @ w), max_rate)
            trains[uid] = _gamma_spikes(rng, rate, dt, 0.0, gamma_shape)
        exp[day] = from_spiketrains(
            trains,
            t_start=0.0,
            t_stop=t_stop,
            epochs=epochs,
            session=f"sim-day{day:02d}",
            day=day,
            subject="sim",
            source="spikedecode.simulate_touch_experiment",
        )
        exp.truth[day] = DayTruth(latent, dt, weights, baseline, ids, shared, float(max_rate))
        prev_units = units
    return exp
