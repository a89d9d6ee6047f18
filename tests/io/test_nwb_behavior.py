"""NWB behaviour series: read from processing/behavior, written with the Recording."""

from __future__ import annotations

import numpy as np
import pytest

import spikedecode as sd
from spikedecode.errors import SpikeDecodeValueError
from spikedecode.io.nwb_behavior import behavior_names, read_behavior
from spikedecode.io.nwb_write import write_nwb
from tests.io.nwb_factory import make_nwb


def _recording():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 10, 300))
    u = rng.choice(["u1", "u2", "u7"], 300)
    epochs = [(0.0, 1.0, "trials/LUM"), (1.5, 2.0, "trials/LBR"), (3.0, 3.5, "touch/LUM"),
              (4.0, 4.2, "airpuff")]
    return sd.make_recording(t, u, t_stop=10.0, epochs=epochs, session="s1", subject="rat3")


def test_write_read_round_trip(tmp_path):
    rec = _recording()
    xy = np.c_[np.linspace(0, 100, 600), np.linspace(5, 6, 600)]
    xy[100:120] = np.nan  # a tracking gap survives the trip
    pos = sd.make_behavior(xy, rate=60.0, name="position", units="cm")
    spd = sd.make_behavior(np.abs(np.sin(np.arange(200.0))), rate=20.0, t_start=0.5,
                           name="speed", units="cm/s")
    path = sd.write(rec, tmp_path / "r.nwb", behavior={"position": pos, "speed": spd})
    back = sd.read(path, intervals="all")
    assert back["unit"].values.tolist() == rec["unit"].values.tolist()
    for i in range(rec.sizes["unit"]):
        np.testing.assert_array_equal(
            back["spike_time"].values[back["spike_unit"].values == i],
            rec["spike_time"].values[rec["spike_unit"].values == i])
    order = np.argsort(rec["epoch_start"].values)
    np.testing.assert_array_equal(back["epoch_start"].values, rec["epoch_start"].values[order])
    np.testing.assert_array_equal(back["epoch_stop"].values, rec["epoch_stop"].values[order])
    assert (back["epoch_label"].values.tolist()
            == rec["epoch_label"].values[order].tolist())
    assert back.attrs["session"] == "s1" and back.attrs["subject"] == "rat3"
    assert behavior_names(path) == ["position", "speed"]
    for orig in (pos, spd):
        got = read_behavior(path, orig.attrs["name"])
        np.testing.assert_array_equal(got.values, orig.values)  # NaN gaps included
        np.testing.assert_array_equal(got["time"].values, orig["time"].values)
        assert got["channel"].values.tolist() == orig["channel"].values.tolist()
        assert got.attrs["units"] == orig.attrs["units"]


def test_unknown_series_and_files_without_behaviour(tmp_path):
    path = make_nwb(tmp_path / "plain.nwb")
    assert behavior_names(path) == [] and read_behavior(path) == {}
    rec = _recording()
    p2 = write_nwb(rec, tmp_path / "b.nwb",
                   behavior=sd.make_behavior(np.arange(5.0), rate=1.0, name="speed"))
    with pytest.raises(SpikeDecodeValueError, match=r"'velocity'.*\['speed'\]"):
        read_behavior(p2, "velocity")
