"""Behaviour series: construction, binning onto the grid, target windows, clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from spikedecode.errors import (
    DataDroppedWarning,
    NotEnoughDataError,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)
from spikedecode.preprocess import (
    bin_behavior,
    check_behavior,
    make_behavior,
    select_series,
    target_windows,
    to_sequences,
    to_xy,
)
from spikedecode.schema import validate
from tests.conftest import shared_data


def _binned(n_bins=50, n_units=3, bin_size=0.1, t0=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.poisson(2, (n_bins, n_units)), dims=("time", "unit"),
                        coords={"time": t0 + np.arange(n_bins) * bin_size,
                                "unit": [f"u{i}" for i in range(n_units)]},
                        attrs={"bin_size": bin_size, "t_start": t0,
                               "t_stop": t0 + n_bins * bin_size})


def test_make_behavior_schema_and_channels():
    b = make_behavior(np.zeros((5, 2)), np.arange(5) * 0.1, name="position", units="cm")
    assert validate(b, "behavior") is b
    assert b["channel"].values.tolist() == ["x", "y"] and b.attrs["units"] == "cm"
    s = make_behavior(np.arange(4), rate=2.0, t_start=1.0, name="speed")
    assert s["channel"].values.tolist() == ["speed"]
    np.testing.assert_allclose(s["time"].values, [1.0, 1.5, 2.0, 2.5])


@pytest.mark.parametrize("kwargs, match", [
    (dict(values=np.zeros(5), times=np.arange(4.0)), "times has 4 entries but values has 5"),
    (dict(values=np.zeros(3), times=[0.0, 0.2, 0.1]), "strictly increasing"),
    (dict(values=np.zeros(3), times=[0.0, np.nan, 0.1]), "NaN/inf"),
    (dict(values=np.zeros(3)), "exactly one of times"),
    (dict(values=[0.0, np.inf], rate=1.0), "infinite"),
    (dict(values=np.zeros((3, 2)), rate=1.0, channels=["a"]), "channels has 1 names"),
])
def test_make_behavior_errors(kwargs, match):
    with pytest.raises(SpikeDecodeValueError, match=match):
        make_behavior(**kwargs)


def test_make_behavior_type_error():
    with pytest.raises(SpikeDecodeTypeError, match="numeric"):
        make_behavior(np.array(["a", "b"]), rate=1.0)
    with pytest.raises(SpikeDecodeTypeError, match="DataArray"):
        check_behavior(np.zeros(3))
    with pytest.raises(SchemaError, match="behavior"):
        check_behavior(xr.DataArray(np.zeros((2, 2)), dims=("a", "b")))


def test_bin_mean_equals_brute_force_mean():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 5, 2000))
    v = rng.normal(size=(2000, 2))
    binned = _binned(50)
    out = bin_behavior(make_behavior(v, t), binned, method="mean")
    assert out.attrs["method"] == "mean"
    for i in (0, 17, 49):
        inside = (t >= 0.1 * i) & (t < 0.1 * (i + 1))
        np.testing.assert_allclose(out.values[i], v[inside].mean(0))


def test_auto_picks_mean_for_fast_and_interp_for_slow_series():
    binned = _binned(50, bin_size=0.1)
    fast = make_behavior(np.arange(300.0), rate=60.0)
    assert bin_behavior(fast, binned).attrs["method"] == "mean"
    # a slow, linear series: interpolation at bin centres recovers the line exactly
    slow = make_behavior(3 * np.arange(0, 6, 0.5) + 1, np.arange(0, 6, 0.5))
    out = bin_behavior(slow, binned)
    assert out.attrs["method"] == "interp"
    centre = binned["time"].values + 0.05
    np.testing.assert_allclose(out.values[:, 0], 3 * centre + 1)


def test_gaps_become_nan_and_are_counted():
    v = np.arange(300.0)
    v[60:120] = np.nan  # a tracking gap of 1 s = 10 bins
    with pytest.warns(DataDroppedWarning, match="10 of 50 bins"):
        out = bin_behavior(make_behavior(v, rate=60.0), _binned(50))
    assert out.attrs["n_missing"] == 10 and np.isnan(out.values[10:20]).all()
    with pytest.warns(DataDroppedWarning, match="dropped 10 of 48 samples"):
        w = target_windows(_binned(50), make_behavior(v, rate=60.0), bins_before=2)
    assert w.attrs["n_dropped"] == 10 and w.sizes["sample"] == 38


def test_series_outside_the_recording_is_an_error():
    with pytest.raises(SpikeDecodeValueError, match="outside the recording"):
        bin_behavior(make_behavior(np.zeros(100), rate=60.0, t_start=100.0), _binned(50))


def test_target_windows_align_history_and_target():
    binned = _binned(40, n_units=2)
    v = make_behavior(np.c_[np.arange(40.0), -np.arange(40.0) ** 2], binned["time"].values)
    w = target_windows(binned, v, bins_before=3)
    assert validate(w, "windows") is w
    X, Y, g = to_sequences(w)
    assert g is None and Y.shape == (37, 2) and X.shape == (37, 4, 2)
    k = np.arange(37) + 3  # the target bin of each sample
    np.testing.assert_array_equal(Y[:, 0], k)
    np.testing.assert_array_equal(Y[:, 1], -(k ** 2))
    # causal: the last lag is the target bin, nothing after it
    np.testing.assert_array_equal(X[:, -1, :], binned.values[k])
    np.testing.assert_array_equal(X[:, 0, :], binned.values[k - 3])
    np.testing.assert_allclose(w["target_time"].values, binned["time"].values[k])
    X2, Y2, _ = to_xy(w)
    assert X2.shape == (37, 8) and np.array_equal(Y2, Y)
    wa = target_windows(binned, v, bins_before=1, bins_after=2)
    Xa, Ya, _ = to_sequences(wa)
    np.testing.assert_array_equal(Ya[:, 0], np.arange(37) + 1)
    np.testing.assert_array_equal(Xa[:, -1, :], binned.values[np.arange(37) + 3])


def test_target_errors():
    binned = _binned(20)
    with pytest.raises(SpikeDecodeValueError, match="constant"):
        target_windows(binned, make_behavior(np.full(20, 3.0), binned["time"].values))
    with pytest.raises(NotEnoughDataError, match="no window has a finite target"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)
            target_windows(binned, make_behavior(np.full(200, np.nan), rate=100.0))
    with pytest.raises(SpikeDecodeValueError, match=r"no behaviour series.*\['position'"):
        select_series({"position": 1}, "velocity")


def test_chewie_loader_reads_two_days():
    path = shared_data("dad", "chewie_demo.mat")
    from spikedecode.datasets.dad import load_chewie

    days = load_chewie(path)
    assert set(days) == {"tr", "te"}
    for binned, vel, target in days.values():
        validate(binned, "binned")
        validate(vel, "behavior")
        assert binned.sizes["unit"] == 71 and vel.sizes["time"] == binned.sizes["time"]
        assert set(np.unique(target.values)) <= {0, 1, 2, 3}
    assert days["tr"][0].sizes["time"] == 1200 and days["te"][0].sizes["time"] == 1818


def test_nelpy_position_binned_at_60hz_mean():
    folder = shared_data("nelpy", "linear-track")
    from spikedecode.datasets.hippocampus import load_nelpy, position_series
    from spikedecode.preprocess import bin_spikes

    rec, pos = load_nelpy(folder)
    binned = bin_spikes(rec, 0.25)
    with pytest.raises(SpikeDecodeValueError, match="strictly increasing"):
        bin_behavior(pos, binned)  # the raw tracking repeats one timestamp
    with pytest.warns(DataDroppedWarning, match="dropped 1 of"):
        xy = position_series(pos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        out = bin_behavior(xy, binned)
    assert out.attrs["method"] == "mean"  # 60 Hz tracking, 250 ms bins
    ok = ~np.isnan(out.values).any(1)
    assert ok.mean() > 0.9
