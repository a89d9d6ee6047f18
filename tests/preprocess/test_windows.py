"""sliding_windows (zero-copy view equal to a naive construction), to_xy, concat_days."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from spikedecode.errors import (
    ConfigError,
    NotEnoughDataError,
    SchemaError,
    SpikeDecodeTypeError,
)
from spikedecode.preprocess import (
    bin_spikes,
    concat_days,
    label_windows,
    sliding_windows,
    to_sequences,
    to_xy,
)
from spikedecode.schema import validate


def make_binned(values, bin_size=0.005, t_start=0.0):
    values = np.asarray(values)
    return xr.DataArray(
        values,
        dims=("time", "unit"),
        coords={"time": t_start + np.arange(values.shape[0]) * bin_size,
                "unit": [f"u{i}" for i in range(values.shape[1])]},
        attrs={"bin_size": bin_size, "t_start": t_start,
               "t_stop": t_start + values.shape[0] * bin_size, "day": 2, "session": "s"},
    )


@settings(max_examples=60, deadline=None)
@given(
    n_time=st.integers(1, 40),
    n_units=st.integers(1, 5),
    n_bins=st.integers(1, 8),
    step=st.integers(1, 6),
    fortran=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_windows_equal_naive_construction(n_time, n_units, n_bins, step, fortran, seed):
    values = np.random.default_rng(seed).integers(0, 5, size=(n_time, n_units)).astype(np.uint8)
    if fortran:  # bin_spikes returns unit-major memory; windows must not care
        values = np.asfortranarray(values)
    b = make_binned(values)
    if n_time < n_bins:
        with pytest.raises(NotEnoughDataError, match="n_bins"):
            sliding_windows(b, n_bins=n_bins, step=step)
        return
    w = sliding_windows(b, n_bins=n_bins, step=step)
    starts = list(range(0, n_time - n_bins + 1, step))
    naive = np.stack([values[s : s + n_bins] for s in starts])
    assert w.dims == ("sample", "lag", "unit")
    np.testing.assert_array_equal(w.values, naive)
    np.testing.assert_array_equal(w["time"].values, b["time"].values[starts])
    assert w["lag"].values.tolist() == list(range(n_bins))
    assert np.shares_memory(w.values, b.values)  # a view, not a copy
    assert w.attrs["n_bins"] == n_bins and w.attrs["step"] == step
    validate(w, "windows")
    X, y, g = to_xy(w)
    np.testing.assert_array_equal(X, naive.reshape(len(starts), -1).astype(np.float32))
    assert y is None and g is None


def test_windows_of_real_binning_are_views(small_recording):
    b = bin_spikes(small_recording, 0.01)
    w = sliding_windows(b, n_bins=5)
    assert np.shares_memory(w.values, b.values)
    assert not w.values.flags.writeable  # a shared view must not be written through
    assert w.sizes["sample"] == b.sizes["time"] - 4
    assert w.attrs["day"] == 1 and w.attrs["session"] == "s1"
    assert w.attrs["window_size"] == pytest.approx(0.05)
    validate(w, "windows")


def test_to_xy_and_to_sequences_order(small_recording):
    w = label_windows(sliding_windows(bin_spikes(small_recording, 0.05), n_bins=3),
                      small_recording, max_group_share=None)
    X, y, g = to_xy(w)
    S, y2, g2 = to_sequences(w)
    n, n_lag, n_unit = w.shape
    assert X.dtype == np.float32 and S.dtype == np.float32
    assert X.shape == (n, n_lag * n_unit) and S.shape == (n, n_lag, n_unit)
    # feature j = lag * n_units + unit
    i = int(np.argmax(S.sum(axis=(1, 2))))
    for lag in range(n_lag):
        for u in range(n_unit):
            assert X[i, lag * n_unit + u] == S[i, lag, u] == w.values[i, lag, u]
    assert y.dtype.kind == "U" and g.dtype == np.int64
    assert y.tolist() == y2.tolist() == w["label"].values.tolist()
    assert g.tolist() == g2.tolist()


@pytest.mark.parametrize(
    ("arg", "kwargs", "err", "match"),
    [
        (np.zeros((3, 2)), {}, SpikeDecodeTypeError, "DataArray"),
        (xr.DataArray(np.zeros((3, 2)), dims=("a", "b")), {}, SchemaError, "dims"),
        (None, {"n_bins": 0}, ConfigError, "n_bins == 0, must be an integer >= 1"),
        (None, {"step": 0}, ConfigError, "step == 0, must be an integer >= 1"),
        (None, {"n_bins": 2.5}, ConfigError, "n_bins == 2.5, must be an integer >= 1"),
    ],
)
def test_bad_arguments(arg, kwargs, err, match):
    b = make_binned(np.zeros((6, 2))) if arg is None else arg
    with pytest.raises(err, match=match):
        sliding_windows(b, **kwargs)


def test_to_xy_rejects_non_windows():
    with pytest.raises(SpikeDecodeTypeError):
        to_xy(np.zeros((2, 3, 4)))
    with pytest.raises(SchemaError):
        to_xy(xr.DataArray(np.zeros((2, 3)), dims=("sample", "lag")))


def test_concat_days_unique_trials(tiny_experiment):
    from spikedecode.preprocess import make_windows

    days = {d: make_windows(tiny_experiment[d], bin_size=0.05, n_bins=2)
            for d in list(tiny_experiment)[:2]}
    # restrict to common units: days of the simulator have different populations
    with pytest.raises(SchemaError, match="share units"):
        concat_days(days)
    same = {d: w.isel(unit=slice(0, 3)).assign_coords(unit=["a", "b", "c"])
            for d, w in days.items()}
    c = concat_days(same)
    assert c.sizes["sample"] == sum(w.sizes["sample"] for w in same.values())
    d0, d1 = list(same)
    t0 = set(c["trial"].values[c["day"].values == d0].tolist())
    t1 = set(c["trial"].values[c["day"].values == d1].tolist())
    assert t0.isdisjoint(t1)
    np.testing.assert_array_equal(
        c["trial_in_day"].values[c["day"].values == d1], same[d1]["trial"].values
    )
    X, y, g = to_xy(c)
    assert X.shape[0] == y.size == g.size


def test_to_xy_makes_one_float32_copy(small_recording, monkeypatch):
    import tracemalloc

    import spikedecode.preprocess.windows as windows_mod

    monkeypatch.setattr(windows_mod, "_CHUNK_BYTES", 2**16)  # many chunks on small data

    rng = np.random.default_rng(1)
    b = make_binned(rng.integers(0, 4, size=(5000, 30)).astype(np.uint8), bin_size=0.01)
    rec = small_recording.assign_attrs(t_stop=50.0)
    w = sliding_windows(b, n_bins=10)
    lw = label_windows(w, rec, max_group_share=None)
    tracemalloc.start()
    X, y, g = to_xy(lw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert X.dtype == np.float32 and X.flags.c_contiguous
    # X (4 bytes a value) plus one 64 KiB chunk; reading the uint8 selection whole first
    # would add X.nbytes / 4 (~1.4 MiB here) on top of X; copies of coords are tiny
    assert peak < X.nbytes * 1.1, (peak, X.nbytes)
    keep = np.searchsorted(w["time"].values, lw["time"].values)
    np.testing.assert_array_equal(X, w.values[keep].reshape(len(keep), -1))
