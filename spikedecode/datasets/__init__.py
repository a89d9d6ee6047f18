"""Datasets: the simulated touch experiment and image benchmarks."""

from spikedecode.datasets.simulate import (
    STIMULUS_LABELS,
    DayTruth,
    SimulatedExperiment,
    simulate_touch_experiment,
)

__all__ = ["simulate_touch_experiment", "SimulatedExperiment", "DayTruth", "STIMULUS_LABELS"]
