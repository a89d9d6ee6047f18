"""event_windows: event-aligned epochs from any time column of an event table."""

from __future__ import annotations

import numpy as np
import pytest

from spikedecode import make_recording
from spikedecode.errors import (
    ConfigError,
    DataDroppedWarning,
    LabelError,
    NotEnoughDataError,
    RecordingError,
)
from spikedecode.preprocess.events import BASELINE, EVENT, event_windows
from spikedecode.schema import validate
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def rec():
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 100, 3000))
    units = rng.integers(0, 4, times.size)
    return make_recording(times, units, units=["a", "b", "c", "d"], t_stop=100.0)


@pytest.fixture(scope="module")
def table():
    onsets = np.arange(5.0, 95.0, 3.0)
    n = onsets.size
    return {"start_time": onsets, "stop_time": onsets + 1.0, "cue_time": onsets + 0.5,
            "kind": np.array(["x", "y"] * (n // 2) + ["x"] * (n % 2)),
            "extra": np.arange(n)}


def _brute(rec, left, n_bins, width):
    t = rec["spike_time"].values
    u = rec["spike_unit"].values
    n_units = rec.sizes["unit"]
    out = np.zeros((len(left), n_bins, n_units), dtype=np.int64)
    for i, s in enumerate(left):
        for k in range(n_bins):
            m = (t >= s + k * width) & (t < s + (k + 1) * width)
            out[i, k] = np.bincount(u[m], minlength=n_units)
    return out


@pytest.mark.parametrize("align", ["start_time", "stop_time", "cue_time"])
def test_counts_every_spike_of_every_bin_relative_to_the_chosen_column(rec, table, align):
    w = event_windows(rec, table, align=align, window=(-0.2, 0.6), bin_size=0.2, label="kind",
                      coords=("extra",))
    validate(w, "windows")
    ev = np.asarray(table[align])
    np.testing.assert_array_equal(w.values, _brute(rec, ev - 0.2, 4, 0.2))
    np.testing.assert_allclose(w["t_lag"].values, [-0.2, 0.0, 0.2, 0.4])
    np.testing.assert_allclose(w["event_time"].values, ev)
    np.testing.assert_allclose(w["time"].values, ev - 0.2)
    assert w["trial"].values.tolist() == list(range(ev.size))
    assert w["label"].values.tolist() == list(table["kind"])
    assert w["extra"].values.tolist() == list(table["extra"])
    assert w["unit"].values.tolist() == ["a", "b", "c", "d"]
    assert w.attrs["align"] == align and w.attrs["n_events"] == ev.size


def test_per_bin_layout_matches_per_trial(rec, table):
    wt = event_windows(rec, table, window=(0.0, 0.5), bin_size=0.1, label="kind")
    wb = event_windows(rec, table, window=(0.0, 0.5), bin_size=0.1, label="kind", per="bin")
    assert wb.shape == (wt.sizes["sample"] * 5, 1, 4)
    np.testing.assert_array_equal(wb.values[:, 0, :], wt.values.reshape(-1, 4))
    np.testing.assert_allclose(wb["t_rel"].values, np.tile(np.arange(5) * 0.1, wt.sizes["sample"]))
    # a whole-window count is the sum of its bins
    whole = event_windows(rec, table, window=(0.0, 0.5), label="kind")
    np.testing.assert_array_equal(whole.values[:, 0, :], wt.values.sum(axis=1))


def test_baseline_contrast_pairs_the_two_windows_of_each_trial(rec, table):
    w = event_windows(rec, table, window=(0.2, 1.2), baseline=(-1.0, 0.0), label="kind")
    n = len(table["start_time"])
    assert w.sizes["sample"] == 2 * n
    lab = w["label"].values
    assert (lab == EVENT).sum() == n and (lab == BASELINE).sum() == n
    tr = w["trial"].values
    # every trial appears once in each class: its two windows share one group
    assert sorted(tr[lab == EVENT].tolist()) == sorted(tr[lab == BASELINE].tolist())
    ev = np.asarray(table["start_time"])
    np.testing.assert_array_equal(w.values[lab == BASELINE], _brute(rec, ev - 1.0, 1, 1.0))
    np.testing.assert_array_equal(w.values[lab == EVENT], _brute(rec, ev + 0.2, 1, 1.0))
    assert w["condition"].values[lab == EVENT].tolist() == list(table["kind"])


def test_nan_event_times_are_dropped_counted_and_reported(rec, table):
    t = dict(table)
    t["cue_time"] = np.asarray(table["cue_time"], float).copy()
    t["cue_time"][[1, 4]] = np.nan
    with pytest.warns(DataDroppedWarning, match="dropped 2 of"):
        w = event_windows(rec, t, align="cue_time", window=(0.0, 0.5), label="kind")
    assert w.attrs["n_dropped_missing"] == 2
    assert 1 not in w["trial"].values and 4 not in w["trial"].values
    t["cue_time"][:] = np.nan
    with pytest.warns(DataDroppedWarning), pytest.raises(NotEnoughDataError, match="no row"):
        event_windows(rec, t, align="cue_time", window=(0.0, 0.5), label="kind")


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"align": "no_such_time", "label": "kind"}, ConfigError, "no_such_time.*columns"),
    ({"label": "no_such_label"}, ConfigError, "no_such_label"),
    ({"align": "kind", "label": "kind"}, ConfigError, "not event times"),
    ({"label": "kind", "window": (0.5, 0.2)}, ConfigError, "start < stop"),
    ({"label": "kind", "window": (0.0, 0.25), "bin_size": 0.1}, ConfigError, "whole number"),
    ({"baseline": (-0.5, 0.5), "window": (0.0, 1.0)}, ConfigError, "overlaps"),
    ({"baseline": (-0.5, 0.0), "window": (0.0, 1.0)}, ConfigError, "lasts"),
    ({"label": "kind", "window": (-10.0, 0.0)}, RecordingError, "leave the recording"),
    ({"label": "kind", "labels": ["x"]}, LabelError, "one label"),
    ({"label": "kind", "labels": ["z"]}, LabelError, "'z'"),
    ({}, ConfigError, "label="),
])
def test_bad_input_names_the_field_and_the_fix(rec, table, kwargs, error, match):
    with pytest.raises(error, match=match):
        event_windows(rec, table, **{"window": (0.0, 0.5), **kwargs})


def test_outside_drop_counts_and_warns(rec, table):
    with pytest.warns(DataDroppedWarning, match="leave the recording"):
        w = event_windows(rec, table, window=(-6.0, 0.0), label="kind", outside="drop")
    assert w.attrs["n_dropped_outside"] == 1 and w.sizes["sample"] == len(table["kind"]) - 1


def test_default_events_are_the_recordings_epochs():
    rec = make_recording([1.1, 1.2, 3.3], [0, 0, 0], units=["a"], t_stop=5.0,
                         epochs=[(1.0, 2.0, "x"), (3.0, 4.0, "y")])
    w = event_windows(rec, window=(0.0, 0.5))
    assert w["label"].values.tolist() == ["x", "y"] and w.values[:, 0, 0].tolist() == [2, 1]


def test_real_nwb_recognition_table_aligns_to_onsets():
    path = shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb")
    from spikedecode.io import read, read_interval_table

    df = read_interval_table(path, "recognition_table")
    assert "stimuli_type" in df.columns and "start_time" in df.attrs["time_columns"]
    assert "ground truth" in df.attrs["descriptions"]["stimuli_type"]
    rec = read(path)
    w = event_windows(rec, df, window=(0.2, 1.2), label="stimuli_type")
    assert w.sizes["sample"] == 180 and set(w["label"].values.tolist()) == {"0", "1"}
    enc = read_interval_table(path, "encoding_table")
    assert "boundary1_time" in enc.attrs["time_columns"]
    wb = event_windows(rec, enc, align="boundary1_time", window=(0.0, 1.0),
                       label="stimCategory")
    np.testing.assert_allclose(wb["event_time"].values, enc["boundary1_time"].to_numpy())


def test_labels_filter_needs_a_label_column(rec, table):
    with pytest.raises(ConfigError, match="labels="):
        event_windows(rec, table, window=(0.2, 1.2), baseline=(-1.0, 0.0), labels=["x"])
    w = event_windows(rec, table, window=(0.2, 1.2), baseline=(-1.0, 0.0), label="kind",
                      labels=["x"])
    assert set(w["condition"].values.tolist()) == {"x"}
