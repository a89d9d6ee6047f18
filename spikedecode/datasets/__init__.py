"""Datasets: the simulated touch experiment and image benchmarks."""

from spikedecode.datasets.simulate import (
    STIMULUS_LABELS,
    DayTruth,
    SimulatedExperiment,
    simulate_touch_experiment,
)
from spikedecode.datasets.steinmetz import STEINMETZ_BIN_SIZE, read_steinmetz_npz
from spikedecode.datasets.trial_counts import TrialCounts, simulate_trial_counts

__all__ = ["simulate_touch_experiment", "SimulatedExperiment", "DayTruth", "STIMULUS_LABELS",
           "simulate_trial_counts", "TrialCounts", "read_steinmetz_npz", "STEINMETZ_BIN_SIZE"]
