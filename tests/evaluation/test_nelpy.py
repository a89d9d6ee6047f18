"""Real data: the nelpy linear-track loader and position decoding (skips without the data)."""

from __future__ import annotations

import numpy as np
import pytest

from spikedecode.datasets.hippocampus import (
    load_nelpy,
    position_labels,
    read_frank_spikes,
    read_position_tracking,
)
from spikedecode.errors import FileFormatError
from tests.conftest import shared_data


def test_loader_reads_31_units_and_positions():
    folder = shared_data("nelpy", "linear-track")
    trains = read_frank_spikes(folder / "spikes.mat")
    assert len(trains) == 31  # README: 31 non-empty units
    assert all(np.all(np.diff(t) >= 0) for t in trains.values())
    pos = read_position_tracking(folder / "trajectory.videoPositionTracking")
    assert pos.dims == ("time", "coord") and pos.sizes["time"] > 100_000
    fs = 1.0 / np.median(np.diff(pos["time"].values))
    assert 55 < fs < 65  # 60 Hz tracking
    rec, pos2 = load_nelpy(folder)
    assert rec.sizes["unit"] == 31
    assert rec.sizes["spike"] == sum(len(t) for t in trains.values())
    duration_min = (rec.attrs["t_stop"] - rec.attrs["t_start"]) / 60
    assert 30 < duration_min < 36  # ~33 min


def test_position_quintile_decodes_well_above_chance():
    folder = shared_data("nelpy", "linear-track")
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import within_day_scores
    from spikedecode.preprocess import bin_spikes, sliding_windows, to_xy

    rec, pos = load_nelpy(folder)
    w = sliding_windows(bin_spikes(rec, 0.25), n_bins=1)
    centres = w["time"].values + 0.125
    lab, moving = position_labels(pos, centres, n_classes=5, min_speed=10.0)
    keep = np.flatnonzero(moving)
    w = w.isel(sample=keep).assign_coords(
        label=("sample", lab[keep]), trial=("sample", (centres[keep] // 10).astype(np.int64)))
    X, y, g = to_xy(w)
    _, counts = np.unique(y, return_counts=True)
    assert counts.min() / counts.max() > 0.9  # quintiles are balanced
    r = within_day_scores(make_decoder("logistic", lambdas=(1e-3, 1e-2, 1e-1)), X, y, g,
                          n_boot=100, random_state=0)
    # reference: ~0.59 vs 0.20 chance; grouped (10 s blocks) CV gives ~0.48
    assert r["accuracy"] > 0.38 and r["accuracy_ci"][0] > 0.3


def test_loader_errors(tmp_path):
    with pytest.raises(FileFormatError, match="does not exist"):
        read_frank_spikes(tmp_path / "nope.mat")
    bad = tmp_path / "x.videoPositionTracking"
    bad.write_bytes(b"garbage")
    with pytest.raises(FileFormatError, match="Start settings"):
        read_position_tracking(bad)
    with pytest.raises(FileFormatError, match="no folder"):
        load_nelpy("not-a-dataset", root=tmp_path)
