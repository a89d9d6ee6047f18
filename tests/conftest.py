"""Shared fixtures: seeds, tiny simulated experiments, real-data paths."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import spikedecode

# Two pytest-xdist workers on 2 cores: one torch thread each avoids oversubscription.
# Fragility checks: SPIKEDECODE_TEST_THREADS=2 (with OMP_NUM_THREADS=2) changes reduction
# orders, SPIKEDECODE_DETERMINISTIC=1 makes torch refuse nondeterministic kernels; the
# suite should pass under both.
try:
    import torch

    torch.set_num_threads(
        int(os.environ.get("SPIKEDECODE_TEST_THREADS", os.environ.get("OMP_NUM_THREADS", "1")))
    )
    if os.environ.get("SPIKEDECODE_DETERMINISTIC", "0") == "1":
        torch.use_deterministic_algorithms(True)
except ImportError:  # pragma: no cover
    pass

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPIKEDECODE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a reason when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} is absent (see shared/data/README.md)")
    return p


def load_benchmark(name: str):
    """The module ``benchmarks/<name>.py`` (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def shared_data_dir() -> Path:
    """The ../shared/data folder (skips when absent)."""
    return shared_data()


@pytest.fixture(params=[0, 1, 2])
def global_random_seed(request) -> int:
    """Seeds that every seed-sensitive test must pass for (sklearn's convention)."""
    return request.param


@pytest.fixture(scope="session")
def tiny_experiment():
    """A 3-day simulated touch experiment, small enough for unit tests (~2 s)."""
    from spikedecode.datasets import simulate_touch_experiment

    return simulate_touch_experiment(
        n_days=3, n_repeats=2, n_strokes=6, n_puffs=4, n_units_range=(20, 30), random_state=7
    )


@pytest.fixture
def small_recording():
    """A hand-made 3-unit recording with two epochs."""
    return spikedecode.make_recording(
        [0.01, 0.02, 0.5, 0.75, 1.2, 1.9, 0.3],
        ["a", "a", "a", "b", "b", "b", "c"],
        t_start=0.0,
        t_stop=2.0,
        epochs=[(0.0, 0.5, "touch/LUM"), (1.0, 1.5, "touch/LBR")],
        session="s1",
        day=1,
    )


def rng_np(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
