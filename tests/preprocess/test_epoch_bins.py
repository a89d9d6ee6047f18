"""epoch_bins: onset-exact per-bin Windows (the data of the cross-day evaluation)."""

from __future__ import annotations

import numpy as np
import pytest

from spikedecode.errors import ConfigError, LabelError
from spikedecode.preprocess import epoch_bins


@pytest.fixture(scope="module")
def rec():
    from spikedecode.datasets import simulate_touch_experiment

    exp = simulate_touch_experiment(n_days=1, n_repeats=1, n_strokes=8, n_puffs=8, gap=2.0,
                                    random_state=3)
    return next(iter(exp.values()))


def test_epoch_bins_counts_every_spike_of_every_onset_aligned_bin(rec):
    w = epoch_bins(rec, bin_size=0.05, t_window=(0.0, 0.4))
    starts = rec["epoch_start"].values
    t = rec["spike_time"].values
    su = rec["spike_unit"].values
    n_units = rec.sizes["unit"]
    assert w.dims == ("sample", "lag", "unit") and w.shape == (len(starts) * 8, 1, n_units)
    # brute-force reference: spikes with onset + k*bin <= t < onset + (k+1)*bin, per unit
    # (the same edges, computed the same way, so the counts must match exactly)
    ref = np.zeros((len(starts), 8, n_units))
    for i, s in enumerate(starts):
        edges = s + 0.0 + 0.05 * np.arange(9)
        for k in range(8):
            m = (t >= edges[k]) & (t < edges[k + 1])
            ref[i, k] = np.bincount(su[m], minlength=n_units)
    np.testing.assert_array_equal(w.values[:, 0, :], ref.reshape(-1, n_units))
    # every spike in [onset, onset + 0.4) is counted once
    assert w.values.sum() == sum(int(np.sum((t >= s) & (t < s + 0.4))) for s in starts)
    assert w["unit"].values.tolist() == rec["unit"].values.tolist()
    assert w["trial"].values.tolist() == np.repeat(np.arange(len(starts)), 8).tolist()
    np.testing.assert_allclose(w["t_rel"].values, np.tile(0.05 * np.arange(8), len(starts)))
    np.testing.assert_allclose(w["time"].values, np.repeat(starts, 8) + w["t_rel"].values)
    assert w.attrs["bin_size"] == 0.05


def test_epoch_bins_gives_prepare_days_one_key_per_bin_after_onset(rec):
    from spikedecode.evaluation import condition_keys, prepare_days

    w = epoch_bins(rec, bin_size=0.1, t_window=(-0.1, 0.3))
    v = prepare_days({0: w})[0]
    np.testing.assert_array_equal(v["X"], w.values[:, 0, :].astype(np.float32))
    keys = set(condition_keys(v["y"], v["t_rel"]).tolist())
    n_labels = len(set(rec["epoch_label"].values.tolist()))
    assert len(keys) == n_labels * 4  # 4 bins per epoch: -0.1, 0.0, 0.1, 0.2
    assert {k.split("@")[1] for k in keys} == {"-0.100", "0.000", "0.100", "0.200"}


def test_epoch_bins_selects_labels_and_checks_arguments(rec):
    lab = str(rec["epoch_label"].values[0])
    w = epoch_bins(rec, bin_size=0.1, labels=[lab])
    assert set(w["label"].values.tolist()) == {lab}
    with pytest.raises(ConfigError, match="bin_size"):
        epoch_bins(rec, bin_size=0.0)
    with pytest.raises(ConfigError, match="t_window"):
        epoch_bins(rec, bin_size=0.1, t_window=(0.0, 0.01))
    with pytest.raises(LabelError, match="no-such"):
        epoch_bins(rec, labels=["no-such"])
