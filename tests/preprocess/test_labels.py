"""label_windows / trial_windows / make_windows on hand-built cases and against a naive rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikedecode import make_recording
from spikedecode.errors import (
    ConfigError,
    DataDroppedWarning,
    LabelError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
)
from spikedecode.preprocess import (
    bin_edges,
    bin_spikes,
    label_windows,
    make_windows,
    sliding_windows,
    to_xy,
    trial_windows,
)
from spikedecode.schema import validate


def rec_with(epochs, t_stop=2.0):
    return make_recording([0.001], [0], units=["a"], t_start=0.0, t_stop=t_stop, epochs=epochs)


def labelled(epochs, bin_size=0.1, n_bins=2, t_stop=2.0, **kw):
    kw.setdefault("max_group_share", None)  # toy cases have few groups by design
    rec = rec_with(epochs, t_stop)
    w = sliding_windows(bin_spikes(rec, bin_size), n_bins=n_bins)
    return w, label_windows(w, rec, **kw)


def by_start(lw):
    return dict(zip(np.round(lw["time"].values, 9).tolist(), lw["label"].values.tolist()))


def test_hand_built_multiclass():
    # bins of 0.1 s, windows of 0.2 s; epochs [0.4, 0.8) LUM and [1.2, 1.5) LBR
    w, lw = labelled([(0.4, 0.8, "touch/LUM"), (1.2, 1.5, "touch/LBR")])
    lab = by_start(lw)
    assert lab == {
        0.0: "latent", 0.1: "latent", 0.2: "latent",          # end <= 0.4
        0.4: "touch/LUM", 0.5: "touch/LUM", 0.6: "touch/LUM",  # wholly inside
        0.8: "latent", 0.9: "latent", 1.0: "latent",
        1.2: "touch/LBR", 1.3: "touch/LBR",
        1.5: "latent", 1.6: "latent", 1.7: "latent", 1.8: "latent",
    }
    # 0.3, 0.7, 1.1, 1.4 straddle an epoch boundary
    assert lw.attrs["n_dropped_ambiguous"] == 4
    assert lw.attrs["n_dropped_excluded"] == 0
    assert lw.attrs["n_windows_in"] == w.sizes["sample"] == 19
    trial = dict(zip(np.round(lw["time"].values, 9).tolist(), lw["trial"].values.tolist()))
    # epochs are trials 0 and 1; the three gaps are 2 + 0, 2 + 1, 2 + 2
    assert trial[0.0] == trial[0.2] == 2 and trial[0.4] == trial[0.6] == 0
    assert trial[0.8] == trial[1.0] == 3 and trial[1.2] == 1 and trial[1.8] == 4
    t_rel = dict(zip(np.round(lw["time"].values, 9).tolist(), lw["t_rel"].values.tolist()))
    assert t_rel[0.5] == pytest.approx(0.1) and t_rel[1.3] == pytest.approx(0.1)
    assert np.isnan(t_rel[0.0])
    assert set(lw["day"].values.tolist()) == {0}
    validate(lw, "windows")


def test_binary_guard_and_latent_label():
    _, lw = labelled([(0.4, 0.8, "touch/LUM"), (1.2, 1.5, "airpuff")], rule="binary",
                     guard=0.15, latent_label="rest")
    lab = by_start(lw)
    assert lab[0.5] == "stimulus" and lab[1.3] == "stimulus"
    assert lab[0.0] == "rest" and 0.2 not in lab  # [0.2, 0.4) is within 0.15 s of 0.4
    assert 0.1 not in lab  # [0.1, 0.3) + 0.15 guard reaches 0.45
    # the 0.4 s gap between the epochs is too short for a 0.2 s window and two guards
    assert not any(0.8 <= t <= 1.0 for t in lab)
    assert lab[1.7] == "rest" and 1.6 not in lab  # [1.6, 1.8) - 0.15 reaches 1.45 < 1.5
    assert set(lab.values()) == {"stimulus", "rest"}


def test_stimulus_labels_excludes_other_epochs():
    _, lw = labelled([(0.4, 0.8, "touch/LUM"), (1.2, 1.5, "airpuff")],
                     stimulus_labels=["touch/LUM"])
    lab = by_start(lw)
    assert 1.2 not in lab and 1.3 not in lab  # inside airpuff: excluded, not latent
    assert lw.attrs["n_dropped_excluded"] == 2
    assert set(lab.values()) == {"touch/LUM", "latent"}
    with pytest.raises(LabelError, match="no epoch has"):
        labelled([(0.4, 0.8, "touch/LUM")], stimulus_labels=["touch/XYZ"])


def test_overlapping_epochs_are_ambiguous():
    _, lw = labelled([(0.4, 1.0, "touch/LUM"), (0.6, 1.0, "touch/LBR")])
    lab = by_start(lw)
    assert lab[0.4] == "touch/LUM"  # only inside the first
    assert 0.6 not in lab and 0.7 not in lab  # inside both: ambiguous


def test_bad_arguments():
    with pytest.raises(SpikeDecodeValueError, match="rule =="):
        labelled([(0.4, 0.8, "x")], rule="ternary")
    with pytest.raises(SpikeDecodeValueError, match="guard =="):
        labelled([(0.4, 0.8, "x")], guard=-1.0)
    with pytest.raises(SpikeDecodeValueError, match="latent_label"):
        labelled([(0.4, 0.8, "x")], latent_label="x")


def naive_labels(s, e, epochs, guard, block=None, latent="latent"):
    """Per window: (label, trial) or None (dropped), by a direct loop over the epochs."""
    out = []
    for a, b in zip(s, e):
        inside = [i for i, (p, q, _) in enumerate(epochs) if p <= a and b <= q]
        over = [i for i, (p, q, _) in enumerate(epochs) if p < b and q > a]
        near = [i for i, (p, q, _) in enumerate(epochs) if p < b + guard and q > a - guard]
        if len(over) == 1 and inside == over:
            out.append((epochs[inside[0]][2], inside[0]))
        elif not near:
            ended = [q for _, q, _ in epochs if q <= a]
            key, k = (len(ended), 0), 0
            if block is not None:
                anchor = max(ended) if ended else 0.0
                # the same 1e-9 tolerance as label_windows: edges on a block edge
                k = int(np.floor((a - anchor) / block + 1e-9))
                if (b - anchor) / block > k + 1 + 1e-9:
                    out.append(None)  # crosses a block edge
                    continue
                key = (len(ended), k)
            out.append((latent, key))
        else:
            out.append(None)
    # latent groups are numbered in time order after the epochs
    keys = sorted({x[1] for x in out if x is not None and x[0] == latent})
    rank = {k: len(epochs) + i for i, k in enumerate(keys)}
    return [x if x is None or x[0] != latent else (latent, rank[x[1]]) for x in out]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matches_naive_rule(data):
    bin_size = data.draw(st.sampled_from([0.01, 0.05, 0.1]))
    n_time = data.draw(st.integers(10, 60))
    t_stop = n_time * bin_size
    edges = bin_edges(0.0, bin_size, n_time)
    n_ep = data.draw(st.integers(0, 5))
    epochs = []
    for _ in range(n_ep):
        # boundaries exactly on bin edges (the delicate case) or anywhere
        a = data.draw(st.one_of(st.sampled_from(edges.tolist()), st.floats(0.0, t_stop)))
        b = data.draw(st.one_of(st.sampled_from(edges.tolist()), st.floats(0.0, t_stop)))
        a, b = min(a, b), max(a, b)
        epochs.append((a, b, data.draw(st.sampled_from(["x", "y"]))))
    epochs.sort(key=lambda r: r[0])
    n_bins = data.draw(st.integers(1, 4))
    guard = data.draw(st.sampled_from([0.0, 0.0, bin_size * 1.5]))
    # None: one group per gap; 4 bins: block edges on bin edges; 3.5 bins: between them
    block = data.draw(st.sampled_from([None, 10.0, bin_size * 4, bin_size * 3.5]))
    rec = rec_with(epochs or None, t_stop)
    w = sliding_windows(bin_spikes(rec, bin_size), n_bins=n_bins)
    lw = label_windows(w, rec, guard=guard, latent_block=block, max_group_share=None)
    k = np.arange(w.sizes["sample"])
    expect = naive_labels(edges[k], edges[k + n_bins], epochs, guard, block)
    kept = [(i, x) for i, x in enumerate(expect) if x is not None]
    assert lw.sizes["sample"] == len(kept)
    np.testing.assert_array_equal(lw["time"].values, edges[[i for i, _ in kept]])
    assert lw["label"].values.tolist() == [x[0] for _, x in kept]
    assert lw["trial"].values.tolist() == [x[1] for _, x in kept]
    n_drop = sum(lw.attrs[f"n_dropped_{r}"] for r in
                 ("ambiguous", "excluded", "other_intervals", "block_edge"))
    assert n_drop + lw.sizes["sample"] == w.sizes["sample"]
    # the lazy selection reads the same numbers as indexing the view
    np.testing.assert_array_equal(lw.values, w.values[[i for i, _ in kept]])


def test_trial_windows_aligned_to_onsets():
    rec = make_recording(
        [0.21, 0.62, 0.63, 1.5], [0, 0, 1, 1], units=["a", "b"], t_stop=2.0,
        epochs=[(0.2, 0.3, "x"), (0.6, 0.7, "y"), (1.45, 1.6, "x")],
    )
    b = bin_spikes(rec, 0.05)
    tw = trial_windows(b, rec, n_bins=3)
    assert tw.shape == (3, 3, 2)
    assert tw["label"].values.tolist() == ["x", "y", "x"]
    assert tw["trial"].values.tolist() == [0, 1, 2]
    np.testing.assert_allclose(tw["time"].values, [0.2, 0.6, 1.45])
    for i, start in enumerate([4, 12, 29]):
        np.testing.assert_array_equal(tw.values[i], b.values[start : start + 3])
    assert tw.attrs["n_dropped_out_of_range"] == 0
    only_x = trial_windows(b, rec, n_bins=3, offset=-0.1, labels=["x"])
    assert only_x["trial"].values.tolist() == [0, 2]
    np.testing.assert_allclose(only_x["t_rel"].values, [-0.1, -0.1])
    np.testing.assert_array_equal(only_x.values[0], b.values[2:5])
    with pytest.warns(DataDroppedWarning, match="dropped 1 epoch"):
        late = trial_windows(b, rec, n_bins=12)  # 1.45 + 0.6 s runs past the end
    assert late["trial"].values.tolist() == [0, 1]
    with pytest.raises(LabelError):
        trial_windows(b, rec, n_bins=2, labels=["nope"])


def test_make_windows_equals_composition(tiny_experiment):
    rec = tiny_experiment[0]
    a = make_windows(rec, bin_size=0.01, n_bins=3, step=2, rule="binary", guard=0.05)
    b = label_windows(sliding_windows(bin_spikes(rec, 0.01), n_bins=3, step=2), rec,
                      rule="binary", guard=0.05)
    np.testing.assert_array_equal(a.values, b.values)
    assert a["label"].values.tolist() == b["label"].values.tolist()
    X, y, g = to_xy(a)
    assert set(y.tolist()) == {"stimulus", "latent"}
    # every stimulus window lies inside its epoch
    starts = rec["epoch_start"].values[g[y == "stimulus"]]
    stops = rec["epoch_stop"].values[g[y == "stimulus"]]
    t = a["time"].values[y == "stimulus"]
    assert np.all(t >= starts) and np.all(t + 0.03 <= stops + 1e-12)


def test_windows_without_bin_size_are_rejected():
    from spikedecode.errors import SchemaError

    w, _ = labelled([(0.4, 0.8, "x")])
    w.attrs.pop("bin_size")
    with pytest.raises(SchemaError, match="bin_size"):
        label_windows(w, rec_with([(0.4, 0.8, "x")]))


def test_long_latent_gap_is_cut_into_blocks():
    # one 1 s epoch, then 99 s without any: the tail must not become one group
    rec = rec_with([(0.0, 1.0, "x")], t_stop=100.0)
    w = sliding_windows(bin_spikes(rec, 0.1), n_bins=5)
    lw = label_windows(w, rec, latent_block=10.0, max_group_share=None)
    lat = lw["label"].values == "latent"
    t, g = lw["time"].values[lat], lw["trial"].values[lat]
    # blocks [1, 11), [11, 21), ... counted from the epoch's end: 10 groups, ids 1..10
    assert sorted(set(g.tolist())) == list(range(1, 11))
    np.testing.assert_array_equal(g, 1 + np.floor((t - 1.0) / 10.0 + 1e-9).astype(int))
    # each window lies inside its block; the 4 windows crossing each of the 9 inner block
    # edges (and the 4 crossing t_stop=100 never exist) are dropped and counted
    e = t + 0.5
    assert np.all(e <= 1.0 + 10.0 * (g - 1 + 1) + 1e-9)
    assert lw.attrs["n_dropped_block_edge"] == 9 * 4
    assert lw.attrs["latent_block"] == 10.0
    counts = np.bincount(lw["trial"].values)
    assert counts.max() / counts.sum() < 0.11
    assert lw.attrs["largest_group_share"] == pytest.approx(counts.max() / counts.sum())
    # latent_block=None: the old rule, one group for the whole tail, which warns
    with pytest.warns(SpikeDecodeWarning, match=r"holds 9\d% .*max_group_share=20%"):
        one = label_windows(w, rec, latent_block=None)
    assert set(one["trial"].values[one["label"].values == "latent"].tolist()) == {1}
    assert one.attrs["n_dropped_block_edge"] == 0 and one.attrs["latent_block"] == "gap"


def test_group_share_warning_threshold():
    # 2 epochs of 1 s and 2 gaps of 1 s: each of the 4 groups holds a quarter
    rec = rec_with([(0.0, 1.0, "x"), (2.0, 3.0, "x")], t_stop=4.0)
    w = sliding_windows(bin_spikes(rec, 0.1), n_bins=2)
    with pytest.warns(SpikeDecodeWarning, match="trial"):
        lw = label_windows(w, rec)  # default max_group_share=0.2
    assert lw.attrs["largest_group_share"] == pytest.approx(0.25)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        label_windows(w, rec, max_group_share=0.3)  # above the largest share: silent
        label_windows(w, rec, max_group_share=None)
    for bad, err in [(0.0, SpikeDecodeValueError), (1.5, SpikeDecodeValueError),
                     ("a", ConfigError)]:
        with pytest.raises(err, match="max_group_share"):
            label_windows(w, rec, max_group_share=bad)
    for bad, err in [(0.0, SpikeDecodeValueError), (-1.0, SpikeDecodeValueError),
                     ("ten", ConfigError)]:
        with pytest.raises(err, match="latent_block"):
            label_windows(w, rec, latent_block=bad)


def test_excluded_intervals_are_neither_stimulus_nor_latent():
    rec = rec_with([(0.4, 0.8, "enc/0")], t_stop=2.0)
    rec = rec.assign(excluded_start=("excluded", [1.2]), excluded_stop=("excluded", [1.6]))
    w = sliding_windows(bin_spikes(rec, 0.1), n_bins=2)
    lw = label_windows(w, rec, max_group_share=None)
    lab = by_start(lw)
    # [1.2, 1.4) and [1.3, 1.5) and [1.4, 1.6) lie inside the excluded interval
    assert not any(1.1 <= t <= 1.5 for t in lab)
    assert lw.attrs["n_dropped_other_intervals"] == 3
    assert lw.attrs["n_dropped_excluded"] == 0
    # [1.1, 1.3) and [1.5, 1.7) straddle it: ambiguous, as [0.3, 0.5) and [0.7, 0.9)
    # straddle the epoch
    assert lw.attrs["n_dropped_ambiguous"] == 2 + 2
    # the gap after the excluded interval is a new group, not the one before it
    trial = dict(zip(np.round(lw["time"].values, 9).tolist(), lw["trial"].values.tolist()))
    assert trial[0.8] == trial[1.0] != trial[1.6] == trial[1.8]
    assert set(lab.values()) == {"enc/0", "latent"}


def test_labelled_windows_are_not_copied():
    import tracemalloc

    rng = np.random.default_rng(0)
    n_time, n_units, n_bins = 6000, 40, 40
    spikes = np.sort(rng.uniform(0, 60.0, 20000))
    rec = make_recording(spikes, rng.integers(0, n_units, spikes.size), t_stop=60.0,
                         units=[f"u{i}" for i in range(n_units)],
                         epochs=[(5.0 * i + 1.0, 5.0 * i + 3.0, "x") for i in range(12)])
    w = sliding_windows(bin_spikes(rec, 0.01), n_bins=n_bins)
    full = w.sizes["sample"] * n_bins * n_units * w.dtype.itemsize  # ~9.5 MB in uint8
    assert w.sizes["sample"] == n_time - n_bins + 1
    tracemalloc.start()
    bin_spikes(rec, 0.01)
    _, peak_bin = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    lw = label_windows(w, rec, max_group_share=None)
    _, peak_label = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    mw = make_windows(rec, bin_size=0.01, n_bins=n_bins, max_group_share=None)
    _, peak_make = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # the old isel copy alone was ~0.8 * full; what remains are per-sample coordinates
    # (time, label, trial, t_rel, day: ~50 bytes a sample) and, for make_windows, the
    # binning itself
    assert peak_label < full / 8, (peak_label, full)
    assert peak_make < peak_bin + full / 8, (peak_make, peak_bin, full)
    keep = np.searchsorted(w["time"].values, lw["time"].values)
    np.testing.assert_array_equal(lw.values, w.values[keep])
    np.testing.assert_array_equal(mw.values, lw.values)
    # indexing the lazy selection agrees with numpy on every axis
    sub = lw.isel(sample=[3, 1], lag=slice(2, 5), unit=[0, 7])
    np.testing.assert_array_equal(sub.values, w.values[keep[[3, 1]]][:, 2:5][:, :, [0, 7]])
    np.testing.assert_array_equal(lw.isel(sample=2, unit=5).values, w.values[keep[2], :, 5])
