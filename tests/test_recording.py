"""The Recording data model: construction, views, neo round trip, elephant interop."""

from __future__ import annotations

import warnings

import neo
import numpy as np
import pytest
import quantities as pq
from hypothesis import given, settings

import spikedecode
from spikedecode.errors import DataDroppedWarning, RecordingError, SpikeDecodeWarning
from spikedecode.recording import check_recording, make_epochs
from tests.io.strategies import recordings


def test_long_format_sorted_by_unit_then_time(small_recording):
    rec = small_recording
    u = rec["spike_unit"].values
    t = rec["spike_time"].values
    assert np.all(np.diff(u) >= 0)
    for i in range(rec.sizes["unit"]):
        assert np.all(np.diff(t[u == i]) >= 0)
    assert rec["spike_time"].dtype == np.float64 and rec["spike_unit"].dtype == np.int32


def test_unit_is_a_read_only_view(small_recording):
    rec = small_recording
    a = rec.spikedecode.unit("a")
    assert np.shares_memory(a, rec["spike_time"].values)
    assert a.tolist() == [0.01, 0.02, 0.5]
    with pytest.raises(ValueError):
        a[0] = 5.0
    trains = rec.spikedecode.spiketrains()
    assert all(np.shares_memory(v, rec["spike_time"].values) for v in trains.values())
    with pytest.raises(RecordingError, match="unit 'zz' is not in this recording"):
        rec.spikedecode.unit("zz")


def test_counts_rates_and_summary(small_recording):
    acc = small_recording.spikedecode
    assert acc.spike_counts().values.tolist() == [3, 3, 1]
    np.testing.assert_allclose(acc.firing_rates().values, [1.5, 1.5, 0.5])
    s = acc.summary()
    assert s["n_spikes"] == 7 and s["n_units"] == 3 and s["duration_s"] == 2.0
    assert s["epochs_per_label"] == {"touch/LBR": 1, "touch/LUM": 1}


@settings(max_examples=15, deadline=None)
@given(rec=recordings())
def test_spikes_are_conserved_by_construction(rec):
    # rebuilding from the per-unit views gives the same Recording
    again = spikedecode.from_spiketrains(
        {u: rec.spikedecode.unit(u) for u in rec["unit"].values},
        t_start=rec.attrs["t_start"], t_stop=rec.attrs["t_stop"],
        epochs=rec.spikedecode.epochs() or None, session=rec.attrs["session"],
        day=rec.attrs["day"], subject=rec.attrs["subject"],
    )
    assert again.identical(rec)
    assert int(rec.spikedecode.spike_counts().sum()) == rec.sizes["spike"]


@settings(max_examples=10, deadline=None)
@given(rec=recordings(max_units=4, max_spikes=15))
def test_neo_round_trip(rec):
    blk = spikedecode.to_neo(rec)
    seg = blk.segments[0]
    assert [st.annotations["unit_id"] for st in seg.spiketrains] == rec["unit"].values.tolist()
    for st in seg.spiketrains:
        assert float(st.t_start.rescale("s")) == rec.attrs["t_start"]
        assert float(st.t_stop.rescale("s")) == rec.attrs["t_stop"]
    assert spikedecode.from_neo(blk).identical(rec)


def test_from_neo_options():
    seg = neo.Segment(name="seg")
    seg.spiketrains.append(neo.SpikeTrain([100, 400] * pq.ms, t_stop=1 * pq.s))
    seg.spiketrains.append(neo.SpikeTrain([0.2] * pq.s, t_stop=1 * pq.s, name="named"))
    rec = spikedecode.from_neo(seg, day=4, session="x")
    assert rec["unit"].values.tolist() == ["unit0", "named"]
    assert rec.spikedecode.unit("unit0").tolist() == [0.1, 0.4]
    assert rec.attrs["day"] == 4 and rec.attrs["source"] == "neo"
    blk = neo.Block()
    blk.segments.extend([seg, neo.Segment()])
    with pytest.raises(RecordingError, match="pass segment=<index>"):
        spikedecode.from_neo(blk)
    assert spikedecode.from_neo(blk, segment=0).spikedecode.n_spikes == 3
    with pytest.raises(RecordingError, match="no spike trains"):
        spikedecode.from_neo(blk, segment=1)


def test_from_neo_drops_spikes_outside_with_warning():
    seg = neo.Segment()
    seg.spiketrains.append(neo.SpikeTrain([0.1, 0.9] * pq.s, t_start=0 * pq.s, t_stop=1 * pq.s))
    seg.spiketrains.append(neo.SpikeTrain([0.5] * pq.s, t_start=0 * pq.s, t_stop=0.5 * pq.s))
    # the second train's only spike sits on its own t_stop; the recording ends at 1 s
    rec = spikedecode.from_neo(seg)
    assert rec.spikedecode.n_spikes == 3


def test_elephant_on_to_neo_output(small_recording):
    from elephant.statistics import isi, mean_firing_rate

    blk = spikedecode.to_neo(small_recording)
    ours = small_recording.spikedecode.firing_rates().values
    theirs = [float(mean_firing_rate(st).rescale("Hz")) for st in blk.segments[0].spiketrains]
    np.testing.assert_allclose(theirs, ours, rtol=1e-12)
    np.testing.assert_allclose(
        isi(blk.segments[0].spiketrains[0]).rescale("s").magnitude,
        np.diff(small_recording.spikedecode.unit("a")),
    )


def test_elephant_binned_matches_our_counts(small_recording):
    from elephant.conversion import BinnedSpikeTrain

    blk = spikedecode.to_neo(small_recording)
    bst = BinnedSpikeTrain(blk.segments[0].spiketrains, bin_size=0.5 * pq.s)
    assert bst.to_array().sum(axis=1).tolist() == [3, 3, 1]


def test_outside_drop_counts_and_warns():
    with pytest.warns(DataDroppedWarning, match="dropped 2 spike"):
        rec = spikedecode.make_recording(
            [0.1, 1.5, -0.2, 0.4], ["a", "a", "a", "b"], t_start=0.0, t_stop=1.0, outside="drop"
        )
    assert rec.spikedecode.n_spikes == 2


def test_explicit_negative_t_start_is_allowed():
    rec = spikedecode.make_recording([-0.5, 0.2], ["a", "a"], t_start=-1.0, t_stop=1.0)
    assert rec.attrs["t_start"] == -1.0


def test_default_t_stop_covers_epochs():
    rec = spikedecode.make_recording([0.1], ["a"], epochs=[(0.5, 3.0, "late")])
    assert rec.attrs["t_stop"] == 3.0
    rec = spikedecode.make_recording([4.0], ["a"], epochs=[(0.5, 3.0, "x")])
    assert rec.attrs["t_stop"] == np.nextafter(4.0, np.inf)


def test_silent_units_are_kept_and_reported():
    with pytest.warns(SpikeDecodeWarning, match=r"1 unit\(s\) have no spikes"):
        rec = spikedecode.make_recording([0.1], [0], units=["a", "quiet"], t_stop=1.0)
    assert rec.spikedecode.unit("quiet").size == 0


def test_make_epochs_forms():
    import pandas as pd

    df = pd.DataFrame({"start": [1.0], "stop": [2.0], "label": ["x"]})
    for form in (df, {"start": [1.0], "stop": [2.0], "label": ["x"]}, [(1.0, 2.0, "x")]):
        s, e, lab = make_epochs(form)
        assert (s.tolist(), e.tolist(), lab.tolist()) == ([1.0], [2.0], ["x"])


def test_check_recording_returns_input(small_recording):
    assert check_recording(small_recording) is small_recording


def test_from_neo_recording_covers_epochs():
    seg = neo.Segment()
    seg.spiketrains.append(neo.SpikeTrain([0.1] * pq.s, t_stop=1 * pq.s, name="u"))
    seg.epochs.append(neo.Epoch([0.5] * pq.s, durations=[2.0] * pq.s, labels=np.array(["x"])))
    rec = spikedecode.from_neo(seg)
    assert rec.attrs["t_stop"] == 2.5 and rec.spikedecode.epochs() == [(0.5, 2.5, "x")]


def test_neo_round_trip_keeps_exact_epoch_stops():
    # -1e-11 + (0.9999999999999999 - -1e-11) != 0.9999999999999999 in floating point
    rec = spikedecode.from_spiketrains(
        {"u": [0.5]}, t_start=-1.5, t_stop=15.625,
        epochs=[(-1e-11, 0.9999999999999999, "x"), (0.2, 15.625, "y")],
    )
    assert spikedecode.from_neo(spikedecode.to_neo(rec)).identical(rec)


def _reference_order(t, u):
    """The sort make_recording promises: by unit, then time (numpy's lexsort)."""
    order = np.lexsort((t, u))
    return t[order], u[order]


@pytest.mark.parametrize("layout", ["by_unit", "by_time", "shuffled", "one_unit_unsorted"])
def test_sorting_matches_lexsort_for_every_input_order(layout, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    n_units = 300  # > 256: the uint16 radix key; integer times give exact ties too
    u = rng.integers(0, n_units, size=5000)
    t = rng.integers(0, 2000, size=5000).astype(np.float64) / 8.0
    t, u = _reference_order(t, u)
    if layout == "by_time":
        perm = np.argsort(t, kind="stable")
    elif layout == "shuffled":
        perm = rng.permutation(t.size)
    elif layout == "one_unit_unsorted":
        perm = np.arange(t.size)
        sl = np.flatnonzero(u == u[t.size // 2])
        perm[sl] = sl[::-1]
    else:
        perm = np.arange(t.size)
    t_in, u_in = t[perm], u[perm]
    ids = [f"n{i}" for i in range(n_units)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpikeDecodeWarning)  # exact duplicates are expected
        rec = spikedecode.make_recording(t_in, u_in, units=ids, t_stop=300.0)
    np.testing.assert_array_equal(rec["spike_time"].values, t)
    np.testing.assert_array_equal(rec["spike_unit"].values, u)
    assert not np.shares_memory(rec["spike_time"].values, t_in)
    check_recording(rec)


def test_many_unsorted_units_fall_back_to_one_global_sort(monkeypatch):
    import spikedecode.recording as recording

    monkeypatch.setattr(recording, "_MAX_SLICE_SORTS", 2)
    t = np.array([0.5, 0.1, 0.9, 0.2, 0.8, 0.3])
    u = np.array([0, 0, 1, 1, 2, 2])
    rec = spikedecode.make_recording(t, u, units=["a", "b", "c"], t_stop=1.0)
    assert rec["spike_time"].values.tolist() == [0.1, 0.5, 0.2, 0.9, 0.3, 0.8]


def test_sorted_input_is_copied_not_shared():
    t = np.array([0.1, 0.2, 0.3])
    rec = spikedecode.make_recording(t, np.array([0, 0, 1]), units=["a", "b"], t_stop=1.0)
    t[0] = 0.9  # the caller's array changes; the Recording must not
    assert rec.spikedecode.unit("a").tolist() == [0.1, 0.2]


def test_integer_unit_ids_keep_text_order():
    # without units=, integer ids are sorted as text ("10" < "2"), as string ids are
    rec = spikedecode.make_recording([0.1, 0.2, 0.3], [2, 10, 2], t_stop=1.0)
    assert rec["unit"].values.tolist() == ["10", "2"]
    assert rec.spikedecode.unit("2").tolist() == [0.1, 0.3]


def test_unit_index_is_a_lookup():
    rec = spikedecode.make_recording(np.arange(50) / 100, np.arange(50), t_stop=1.0)
    assert [rec.spikedecode.unit_index(u) for u in ("0", "1", "10", "49")] == [0, 1, 2, 44]
    assert rec.spikedecode.unit_index(10) == 2  # ids are compared as text
