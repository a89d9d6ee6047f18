"""bin_spikes: conservation, exact edges, agreement with elephant, dtype, drops, dask."""

from __future__ import annotations

import tracemalloc
import warnings
from fractions import Fraction

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spikedecode import make_recording
from spikedecode.errors import (
    ConfigError,
    DataDroppedWarning,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
)
from spikedecode.preprocess import bin_edges, bin_sessions, bin_spikes, count_dtype, n_bins_for
from spikedecode.preprocess import binning as _binning
from spikedecode.schema import validate

HAVE_NUMBA = _binning._numba_kernel() is not None
ENGINES = ["numpy"] + (["numba"] if HAVE_NUMBA else [])
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def raw_recording(times, units, n_units, t_start, t_stop, sort=True):
    """A Recording Dataset built directly (no checks), so any spike set can be binned."""
    times = np.asarray(times, dtype=np.float64)
    units = np.asarray(units, dtype=np.int32)
    if sort:
        order = np.lexsort((times, units))
        times, units = times[order], units[order]
    return xr.Dataset(
        {
            "spike_time": ("spike", times),
            "spike_unit": ("spike", units),
            "epoch_start": ("epoch", np.zeros(0)),
            "epoch_stop": ("epoch", np.zeros(0)),
            "epoch_label": ("epoch", np.zeros(0, dtype=str)),
        },
        coords={"unit": np.array([f"u{i}" for i in range(n_units)])},
        attrs={"t_start": float(t_start), "t_stop": float(t_stop), "session": "s", "day": 3,
               "subject": "", "source": "", "schema_version": "1.0"},
    )


def reference_counts(times, units, n_units, edges):
    """Naive reference: searchsorted on the documented edges, one spike at a time."""
    out = np.zeros((edges.size - 1, n_units), dtype=np.int64)
    for t, u in zip(times, units):
        if edges[0] <= t < edges[-1]:
            k = int(np.searchsorted(edges, t, side="right")) - 1
            out[k, u] += 1
    return out


# ------------------------------------------------------------------------ strategies
decimal_bin = st.sampled_from([0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 1.0 / 3.0])
float_bin = st.floats(1e-3, 0.2, allow_nan=False, allow_infinity=False)
decimal_t0 = st.sampled_from([0.0, 0.1, 1.5, -2.25, 12.345, 100.0, 3600.7])
float_t0 = st.floats(-50, 5000, allow_nan=False, allow_infinity=False)


@st.composite
def binning_case(draw):
    bin_size = draw(st.one_of(decimal_bin, float_bin))
    t0 = draw(st.one_of(decimal_t0, float_t0))
    n_bins = draw(st.integers(1, 60))
    extra = draw(st.sampled_from([0.0, 0.0, 0.3, 0.77]))  # partial last bin or none
    t1 = t0 + (n_bins + extra) * bin_size
    assume(n_bins_for(t0, t1, bin_size) == n_bins)
    edges = bin_edges(t0, bin_size, n_bins)
    n_units = draw(st.integers(1, 4))
    free = draw(st.lists(st.floats(t0 - bin_size, t1 + bin_size, allow_nan=False), max_size=60))
    on_edge = [float(edges[k]) for k in draw(st.lists(st.integers(0, n_bins), max_size=20))]
    near = [float(np.nextafter(edges[k], -np.inf if s else np.inf))
            for k, s in draw(st.lists(st.tuples(st.integers(0, n_bins), st.booleans()),
                                      max_size=10))]
    times = np.array(free + on_edge + near, dtype=np.float64)
    units = np.array(draw(st.lists(st.integers(0, n_units - 1), min_size=times.size,
                                   max_size=times.size)), dtype=np.int64)
    return times, units, n_units, t0, t1, bin_size, n_bins


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("engine", ENGINES)
@SETTINGS
@given(case=binning_case())
def test_counts_equal_reference_and_are_conserved(case, engine):
    times, units, n_units, t0, t1, bin_size, n_bins = case
    rec = raw_recording(times, units, n_units, t0 - 2 * bin_size, t1 + 2 * bin_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        b = bin_spikes(rec, bin_size, t_start=t0, t_stop=t1, engine=engine)
    edges = bin_edges(t0, bin_size, n_bins)
    ref = reference_counts(times, units, n_units, edges)
    assert b.sizes["time"] == n_bins
    np.testing.assert_array_equal(b.values, ref)
    np.testing.assert_array_equal(b["time"].values, edges[:-1])
    # conservation: every spike is binned once or counted as dropped
    assert int(b.values.sum(dtype=np.int64)) == b.attrs["n_spikes_binned"]
    assert b.attrs["n_spikes_binned"] + b.attrs["n_spikes_dropped"] == times.size
    assert b.attrs["t_stop"] == edges[-1]


@SETTINGS
@given(case=binning_case())
def test_engines_agree(case):
    if not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    times, units, n_units, t0, t1, bin_size, _ = case
    rec = raw_recording(times, units, n_units, t0, t1 + 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        a = bin_spikes(rec, bin_size, t_stop=t1, engine="numpy")
        b = bin_spikes(rec, bin_size, t_stop=t1, engine="numba")
    np.testing.assert_array_equal(a.values, b.values)
    assert a.attrs == b.attrs


@st.composite
def decimal_case(draw):
    """Decimal t_start and bin_size: the edges are the floats nearest to exact decimals."""
    b = Fraction(draw(st.integers(1, 500)), draw(st.sampled_from([1000, 2000, 10000])))
    t0 = Fraction(draw(st.integers(-100000, 100000)), 1000)
    n = draw(st.integers(1, 400))
    return t0, b, n


@SETTINGS
@given(case=decimal_case())
def test_edges_are_nearest_floats_to_exact_decimal_edges(case):
    t0, b, n = case
    edges = bin_edges(float(t0), float(b), n)
    exact = np.array([float(t0 + k * b) for k in range(n + 1)])  # correctly rounded
    np.testing.assert_array_equal(edges, exact)


@SETTINGS
@given(data=st.data())
def test_exact_rational_reference_on_dyadic_grid(data):
    """Where every float operation is exact (dyadic values), compare with Fractions."""
    j = data.draw(st.integers(2, 10))
    bin_size = 2.0**-j
    t0 = data.draw(st.integers(-64, 64)) * bin_size
    n_bins = data.draw(st.integers(1, 80))
    t1 = t0 + n_bins * bin_size
    ticks = data.draw(st.lists(st.integers(-8, (n_bins + 8) * 16), max_size=80))
    times = np.array([t0 + k * bin_size / 16 for k in ticks])
    units = np.zeros(times.size, dtype=np.int64)
    rec = raw_recording(times, units, 1, t0 - 1, t1 + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        b = bin_spikes(rec, bin_size, t_start=t0, t_stop=t1)
    ref = np.zeros(n_bins, dtype=np.int64)
    for t in times:
        k = (Fraction(t) - Fraction(t0)) // Fraction(bin_size)
        if 0 <= k < n_bins:
            ref[int(k)] += 1
    np.testing.assert_array_equal(b.values[:, 0], ref)


@st.composite
def elephant_case(draw):
    times, units, n_units, t0, t1, bin_size, n_bins = draw(binning_case())
    edges = bin_edges(t0, bin_size, n_bins)
    keep = (times >= t0) & (times < t1)
    # elephant (tolerance=1e-8) moves spikes lying within 1e-8 bins *below* an edge into
    # the next bin; we do not (documented). Leave that band out of this comparison.
    k = np.searchsorted(edges, times, side="right")
    nxt = edges[np.minimum(k, edges.size - 1)]
    band = (nxt - times < 1e-7 * bin_size) & (times != nxt) & (k < edges.size)
    keep &= ~band
    return times[keep], units[keep], n_units, t0, t1, bin_size, n_bins


@SETTINGS
@given(case=elephant_case())
def test_equals_elephant(case):
    import neo
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain

    times, units, n_units, t0, t1, bin_size, n_bins = case
    rec = raw_recording(times, units, n_units, t0, t1)
    ours = bin_spikes(rec, bin_size)
    trains = [neo.SpikeTrain(np.sort(times[units == u]) * pq.s, t_start=t0 * pq.s,
                             t_stop=t1 * pq.s) for u in range(n_units)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = BinnedSpikeTrain(trains, bin_size=bin_size * pq.s, t_start=t0 * pq.s,
                                  t_stop=t1 * pq.s).to_array()
    assert theirs.shape == (n_units, n_bins)
    np.testing.assert_array_equal(ours.values.T, theirs)


def test_known_edge_cases():
    # 12 * 0.05 == 0.6000000000000001 in float64, but the edge is 0.6 and a spike at 0.6
    # starts bin 12 (as in elephant); one ulp below stays in bin 11.
    below = float(np.nextafter(0.6, 0.0))
    rec = raw_recording([0.0, 0.6, below, 0.05, 0.999999], [0, 0, 0, 0, 0], 1, 0.0, 1.0)
    b = bin_spikes(rec, 0.05)
    assert b.sizes["time"] == 20
    assert b["time"].values[12] == 0.6
    counts = b.values[:, 0]
    assert counts[0] == 1 and counts[1] == 1 and counts[11] == 1 and counts[12] == 1
    assert counts[19] == 1 and counts.sum() == 5


def test_n_bins_robust_to_float_error():
    assert n_bins_for(0.0, 0.3, 0.1) == 3  # 0.3 / 0.1 == 2.9999999999999996
    assert n_bins_for(0.0, 1.0, 0.005) == 200
    assert n_bins_for(0.0, 1.0, 0.3) == 3
    assert n_bins_for(0.0, 0.0999, 0.1) == 0


def test_attrs_schema_and_layout(small_recording):
    b = bin_spikes(small_recording, 0.1)
    validate(b, "binned")
    assert b.dims == ("time", "unit")
    assert b.dtype == np.uint8
    assert b["time"].dtype == np.float64
    assert list(b["unit"].values) == ["a", "b", "c"]
    assert b.attrs["day"] == 1 and b.attrs["session"] == "s1"
    assert b.attrs["bin_size"] == 0.1 and b.attrs["t_start"] == 0.0
    assert b.attrs["t_stop"] == 2.0
    assert int(b.sum()) == small_recording.sizes["spike"]
    assert b.sel(unit="a").values[:1].tolist() == [2]


@pytest.mark.parametrize("engine", ENGINES)
def test_smallest_safe_dtype_and_widening(engine):
    # unit 0: 300 spikes in one bin (needs uint16), placed after a uint8-sized bin so the
    # counts must be widened mid-way; unit 1: 70_000 spikes in one bin (uint32)
    times = np.concatenate([np.full(200, 0.001), np.full(300, 0.011), np.full(70_000, 0.021)])
    units = np.concatenate([np.zeros(500, int), np.ones(70_000, int)])
    rec = raw_recording(times, units, 2, 0.0, 0.05)
    b = bin_spikes(rec, 0.01, engine=engine)
    assert b.dtype == np.uint32
    assert b.values[:, 0].tolist() == [200, 300, 0, 0, 0]
    assert b.values[:, 1].tolist() == [0, 0, 70_000, 0, 0]
    small = bin_spikes(raw_recording(times[:500], units[:500], 1, 0, 0.05), 0.01, engine=engine)
    assert small.dtype == np.uint16
    with pytest.raises(SpikeDecodeValueError, match="dtype == uint8"):
        bin_spikes(rec, 0.01, dtype=np.uint8, engine=engine)
    assert bin_spikes(rec, 0.01, dtype=np.int64, engine=engine).dtype == np.int64
    assert count_dtype(255) == np.uint8 and count_dtype(65536) == np.uint32


def test_unsorted_unit_is_binned_correctly():
    rec = raw_recording([0.3, 0.1, 0.2, 0.15], [0, 0, 0, 1], 2, 0.0, 1.0, sort=False)
    for engine in ENGINES:
        b = bin_spikes(rec, 0.1, engine=engine)
        assert b.values[:4, 0].tolist() == [0, 1, 1, 1]
        assert b.values[1, 1] == 1


def test_unsorted_units_rejected_by_numpy_engine():
    rec = raw_recording([0.1, 0.2], [1, 0], 2, 0.0, 1.0, sort=False)
    with pytest.raises(SchemaError, match="not sorted"):
        bin_spikes(rec, 0.1, engine="numpy")


def test_drops_are_counted_and_warned():
    rec = make_recording([0.05, 0.5, 0.95, 0.97], [0, 0, 0, 0], units=["a"], t_start=0.0,
                         t_stop=0.98)
    # default t_stop: the partial last bin [0.9, 0.98) is not made; its spikes are
    # counted in attrs, without a warning (documented)
    b = bin_spikes(rec, 0.1)
    assert b.sizes["time"] == 9
    assert b.attrs["n_spikes_dropped"] == 2 and b.attrs["n_spikes_binned"] == 2
    # an explicit interval that leaves spikes out warns and counts them
    with pytest.warns(DataDroppedWarning, match="dropped 3 spike"):
        b = bin_spikes(rec, 0.1, t_start=0.1, t_stop=0.9)
    assert b.attrs["n_spikes_dropped"] == 3 and int(b.sum()) == 1


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"bin_size": 0.0}, ConfigError, "bin_size == 0.0"),
        ({"bin_size": -0.01}, ConfigError, r"bin_size == -0.01, must be a finite number > 0\."),
        ({"bin_size": "5ms"}, SpikeDecodeTypeError, "bin_size must be a number"),
        ({"bin_size": 0.1, "t_start": 1.0, "t_stop": 0.5}, SpikeDecodeValueError, "t_stop =="),
        ({"bin_size": 5.0}, SpikeDecodeValueError, "shorter than one bin"),
        ({"bin_size": 1e-14}, SpikeDecodeValueError, "too small"),
        ({"bin_size": 0.1, "dtype": np.float32}, SpikeDecodeTypeError, "integer dtype"),
        ({"bin_size": 0.1, "engine": "cuda"}, ConfigError, "engine == 'cuda', must be 'auto'"),
    ],
)
def test_bad_arguments(small_recording, kwargs, err, match):
    with pytest.raises(err, match=match):
        bin_spikes(small_recording, **kwargs)


def test_bad_recording():
    with pytest.raises(SpikeDecodeTypeError, match="rec must be a Recording"):
        bin_spikes({"spike_time": [0.1]}, 0.1)
    with pytest.raises(SchemaError, match="lacks"):
        bin_spikes(xr.Dataset({"spike_time": ("spike", [0.1])}), 0.1)


def test_numpy_engine_memory_is_bounded():
    rng = np.random.default_rng(0)
    n_units, dur = 20, 400.0
    times = rng.uniform(0, dur, size=n_units * 8000)
    units = np.repeat(np.arange(n_units), 8000)
    rec = raw_recording(times, units, n_units, 0.0, dur)
    tracemalloc.start()
    b = bin_spikes(rec, 0.005, engine="numpy")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out_bytes = b.values.nbytes + b["time"].values.nbytes
    # the output plus bounded per-chunk temporaries, never a copy of all spikes
    assert peak < out_bytes + 3 * 2**20, (peak, out_bytes)
    assert int(b.values.sum(dtype=np.int64)) == times.size


def test_bin_sessions_is_lazy_and_equal(tiny_experiment):
    da = pytest.importorskip("dask.array")
    lazy = bin_sessions(tiny_experiment, 0.01)
    assert sorted(lazy) == sorted(tiny_experiment)
    for day, arr in lazy.items():
        assert isinstance(arr.data, da.Array)
        eager = bin_spikes(tiny_experiment[day], 0.01)
        assert arr.shape == eager.shape
        np.testing.assert_array_equal(arr["time"].values, eager["time"].values)
        np.testing.assert_array_equal(arr.values, eager.values)
        assert arr.attrs["day"] == day
    lazy_list = bin_sessions(list(tiny_experiment.values()), 0.01)
    assert sorted(lazy_list) == sorted(tiny_experiment)


@pytest.mark.parametrize("engine", ENGINES)
def test_recording_without_spikes(engine):
    rec = raw_recording([], [], 3, 0.0, 1.0)
    b = bin_spikes(rec, 0.1, engine=engine)
    assert b.shape == (10, 3) and int(b.sum()) == 0 and b.dtype == np.uint8
    assert b.attrs["n_spikes_binned"] == 0 and b.attrs["n_spikes_dropped"] == 0


def test_auto_engine_falls_back_to_numpy(monkeypatch, small_recording):
    def broken(*args, **kwargs):
        raise RuntimeError("cannot compile here")

    monkeypatch.setattr(_binning, "_NUMBA_KERNEL", broken)
    with pytest.raises(RuntimeError):
        bin_spikes(small_recording, 0.1, engine="numba")
    b = bin_spikes(small_recording, 0.1, engine="auto")
    assert int(b.sum()) == small_recording.sizes["spike"]
    assert _binning._NUMBA_KERNEL is False  # disabled for the rest of the session


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("t0", [1.7e9, 1_700_000_123.25])
def test_unix_timestamps(engine, t0):
    # times since 1970 leave ~10^5 floats per 5 ms bin: still exact, edges on the decimal grid
    n_bins = 1000
    edges = bin_edges(t0, 0.005, n_bins)
    rng = np.random.default_rng(1)
    times = np.concatenate([rng.uniform(t0, edges[-1], 500), edges[rng.integers(0, n_bins, 50)],
                            np.nextafter(edges[rng.integers(1, n_bins, 50)], 0.0)])
    units = rng.integers(0, 3, times.size)
    rec = raw_recording(times, units, 3, t0, float(edges[-1]))
    b = bin_spikes(rec, 0.005, engine=engine)
    np.testing.assert_array_equal(b.values, reference_counts(times, units, 3, edges))
    assert b["time"].values[7] == float(Fraction(t0) + Fraction(7, 200))


def test_output_larger_than_memory_raises_before_allocating(monkeypatch):
    # a spike at 200,000 s (milliseconds taken for seconds) makes 40 M bins x 3 units
    with pytest.warns(SpikeDecodeWarning, match="spans 55.6 hours"):
        rec = make_recording([0.1, 0.2, 200_000.0], ["a", "b", "c"])
    monkeypatch.setattr(_binning, "_available_memory", lambda: 64 << 20)
    with pytest.raises(SpikeDecodeValueError) as info:
        bin_spikes(rec, 0.005)
    msg = str(info.value)
    assert "40,000,000 bins x 3 units x 1 byte(s) = 0.112 GiB, more than the 0.0625 GiB" in msg
    assert "t_stop == 200000.00000000003 is the recording's (its last spike: unit 'c' at " \
        "200000.0 s)" in msg
    with pytest.raises(SpikeDecodeValueError, match=r"x 2 byte\(s\).*t_stop == 1000000.0 was passed"):
        bin_spikes(rec, 0.005, t_stop=1e6, dtype=np.uint16)
    # a short interval of the same recording fits (the late spike is dropped, with a warning)
    with pytest.warns(DataDroppedWarning, match="dropped 1 spike"):
        assert bin_spikes(rec, 0.005, t_stop=1.0).sizes["time"] == 200


def test_output_size_check_is_real_without_a_patch():
    # 1e9 s in 1 ms bins: 1e12 bins, larger than any machine's memory
    rec = make_recording([0.5], ["a"], t_stop=1e9)
    with pytest.raises(SpikeDecodeValueError, match=r"1,000,000,000,000 bins x 1 units"):
        bin_spikes(rec, 0.001)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_fused_kernel_widens_and_handles_unsorted_input():
    # a bin of 300 spikes overflows uint8 in the middle of the second unit: the unit is
    # redone in uint16 and every count is right; unsorted input takes the scatter kernel
    times = np.concatenate([[0.01, 0.3], np.full(300, 0.55), [0.7], [0.2, 0.9]])
    units = np.concatenate([[0, 0], np.ones(301, int), [2, 2]])
    rec = raw_recording(times, units, 3, 0.0, 1.0)
    b = bin_spikes(rec, 0.1, engine="numba")
    assert b.dtype == np.uint16
    np.testing.assert_array_equal(b.values, bin_spikes(rec, 0.1, engine="numpy").values)
    assert int(b.values[5, 1]) == 300 and int(b.sum()) == times.size
    shuffled = raw_recording(times[::-1], units[::-1], 3, 0.0, 1.0, sort=False)
    counts, _ = _binning._count_values(shuffled, 0.1, 0.0, 10, None, engine="numba")
    np.testing.assert_array_equal(counts, b.values)


@pytest.mark.parametrize("engine", ENGINES)
@SETTINGS
@given(case=binning_case(), data=st.data())
def test_unsorted_spikes_counted_exactly(case, engine, data):
    # not a valid Recording (spikes in any order, or one unit's times out of order), yet
    # counted exactly: the compiled engine detects the disorder and falls back to its
    # scatter kernel; the numpy engine sorts a unit's times, and refuses unsorted units
    times, units, n_units, t0, t1, bin_size, n_bins = case
    assume(times.size > 1)
    if data.draw(st.booleans(), label="shuffle units too"):
        perm = np.asarray(data.draw(st.permutations(range(times.size)), label="perm"))
        rec = raw_recording(times[perm], units[perm], n_units, t0 - 1, t1 + 1, sort=False)
        units_sorted = bool(np.all(np.diff(units[perm]) >= 0))
    else:  # sorted by unit, times reversed within each unit
        order = np.lexsort((-times, units))
        rec = raw_recording(times[order], units[order], n_units, t0 - 1, t1 + 1, sort=False)
        units_sorted = True
    if engine == "numpy" and not units_sorted:
        with pytest.raises(SchemaError, match="not sorted"):
            bin_spikes(rec, bin_size, t_start=t0, t_stop=t1, engine=engine)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        b = bin_spikes(rec, bin_size, t_start=t0, t_stop=t1, engine=engine)
    ref = reference_counts(times, units, n_units, bin_edges(t0, bin_size, n_bins))
    np.testing.assert_array_equal(b.values, ref)
    assert b.attrs["n_spikes_binned"] + b.attrs["n_spikes_dropped"] == times.size
    assert b.attrs["n_spikes_binned"] == int(ref.sum())


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bad", [[0, 1, 3], [-1, 0, 1], [2, 0, 5]])
def test_unit_index_out_of_range(engine, bad):
    rec = raw_recording([0.1, 0.2, 0.3], bad, 3, 0.0, 1.0, sort=False)
    with pytest.raises(SchemaError, match="but there are 3 units"):
        bin_spikes(rec, 0.1, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_widening_redoes_only_later_units(engine):
    # three units; the middle one overflows uint8 and then uint16 in a late bin: the
    # counts of the units before it are kept, its own row is recounted from the start
    times = np.concatenate([np.linspace(0.0, 0.99, 300), np.full(256, 0.05),
                            np.full(70_000, 0.95), np.linspace(0.0, 0.99, 7)])
    units = np.concatenate([np.zeros(300, int), np.ones(70_256, int), np.full(7, 2)])
    rec = raw_recording(times, units, 3, 0.0, 1.0)
    b = bin_spikes(rec, 0.1, engine=engine)
    assert b.dtype == np.uint32
    np.testing.assert_array_equal(b.values, reference_counts(times, units, 3,
                                                             bin_edges(0.0, 0.1, 10)))


@pytest.mark.parametrize("engine", ENGINES)
def test_interleaved_units_with_increasing_times(engine):
    # spikes sorted by time, not by unit: each unit's times increase, so only the order of
    # the unit indices shows that this is not a Recording's layout
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0.0, 2.0, 400))
    units = rng.integers(0, 4, times.size)
    rec = raw_recording(times, units, 4, 0.0, 2.0, sort=False)
    if engine == "numpy":
        with pytest.raises(SchemaError, match="not sorted"):
            bin_spikes(rec, 0.01, engine=engine)
        return
    b = bin_spikes(rec, 0.01, engine=engine)
    np.testing.assert_array_equal(b.values, reference_counts(times, units, 4,
                                                             bin_edges(0.0, 0.01, 200)))


@SETTINGS
@given(bin_size=st.one_of(decimal_bin, float_bin), t0=st.one_of(decimal_t0, float_t0),
       n_bins=st.integers(1, 5000))
def test_time_coordinate_is_bin_edges(bin_size, t0, n_bins):
    # the compiled one-pass edges are the documented edges, float for float
    np.testing.assert_array_equal(_binning._left_edges(t0, bin_size, n_bins),
                                  bin_edges(t0, bin_size, n_bins)[:-1])


def test_output_identical_to_plain_construction(small_recording):
    b = bin_spikes(small_recording, 0.1)
    edges = bin_edges(0.0, 0.1, b.sizes["time"])
    plain = xr.DataArray(b.values, dims=("time", "unit"),
                         coords={"time": ("time", edges[:-1], {"units": "s"}),
                                 "unit": small_recording["unit"].values},
                         attrs=b.attrs, name="spike_count")
    xr.testing.assert_identical(b, plain)
    assert b.sel(time=0.5).sizes == {"unit": 3}
    assert list(b.indexes) == ["time", "unit"]


needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


@needs_numba
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=binning_case(), shuffle=st.booleans())
def test_threads_give_the_same_counts(case, shuffle):
    import numba

    times, units, n_units, t0, t1, bin_size, n_bins = case
    if shuffle:  # a unit's times out of order: the threaded kernel falls back too
        order = np.lexsort((-times, units))
        rec = raw_recording(times[order], units[order], n_units, t0 - 1, t1 + 1, sort=False)
    else:
        rec = raw_recording(times, units, n_units, t0 - 1, t1 + 1)
    before = numba.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        one = bin_spikes(rec, bin_size, t_start=t0, t_stop=t1, n_threads=1)
        two = bin_spikes(rec, bin_size, t_start=t0, t_stop=t1, n_threads=2)
    assert numba.get_num_threads() == before  # restored
    xr.testing.assert_identical(one, two)
    ref = reference_counts(times, units, n_units, bin_edges(t0, bin_size, n_bins))
    np.testing.assert_array_equal(two.values, ref)


@needs_numba
def test_threads_widen_and_policy(monkeypatch):
    times = np.concatenate([np.linspace(0.0, 0.99, 300), np.full(256, 0.05),
                            np.full(70_000, 0.95), np.linspace(0.0, 0.99, 7)])
    units = np.concatenate([np.zeros(300, int), np.ones(70_256, int), np.full(7, 2)])
    rec = raw_recording(times, units, 3, 0.0, 1.0)
    b = bin_spikes(rec, 0.1, n_threads=2)
    assert b.dtype == np.uint32
    np.testing.assert_array_equal(b.values, reference_counts(times, units, 3,
                                                             bin_edges(0.0, 0.1, 10)))
    # the policy: explicit argument, else thread_limits / the environment, else one
    from spikedecode import thread_limits

    assert _binning._binning_threads(None) == 1
    assert _binning._binning_threads(2) == min(2, __import__("numba").config.NUMBA_NUM_THREADS)
    with thread_limits(2):
        assert _binning._binning_threads(None) == _binning._binning_threads(2)
    monkeypatch.setenv("SPIKEDECODE_NUM_THREADS", "2")
    assert _binning._binning_threads("auto") == _binning._binning_threads(2)
    assert _binning._binning_threads(1) == 1
    with pytest.raises(ConfigError, match="n_threads == 0"):
        bin_spikes(rec, 0.1, n_threads=0)
