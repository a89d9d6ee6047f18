"""plotting.raster: raster with epochs shaded, window heatmap, binned heatmap (Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from spikedecode.errors import SpikeDecodeValueError
from spikedecode.plotting.raster import label_colors, plot_binned, plot_raster, plot_window_heatmap
from spikedecode.preprocess import bin_spikes, make_windows


def test_raster_draws_every_spike_and_shades_epochs(tiny_experiment, tmp_path):
    import matplotlib.pyplot as plt

    rec = tiny_experiment[0]
    fig = plot_raster(rec, t_start=0.0, t_stop=40.0)
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    t = rec["spike_time"].values
    assert x.size == int(((t >= 0) & (t < 40)).sum())
    assert set(np.unique(y).tolist()) <= set(range(rec.sizes["unit"]))
    s, e = rec["epoch_start"].values, rec["epoch_stop"].values
    assert len(ax.patches) == int(((e > 0) & (s < 40)).sum())
    legend = {tx.get_text() for tx in ax.get_legend().get_texts()}
    assert legend == set(rec["epoch_label"].values[(e > 0) & (s < 40)].tolist())
    fig.savefig(tmp_path / "raster.png")
    plt.close(fig)
    fig = plot_raster(rec, units=rec["unit"].values[:2], t_stop=5.0)
    assert len(fig.axes[0].get_yticks()) == 2
    plt.close(fig)
    with pytest.raises(SpikeDecodeValueError):
        plot_raster(rec, t_start=5.0, t_stop=1.0)


def test_window_heatmap_shows_the_window(tiny_experiment):
    import matplotlib.pyplot as plt

    w = make_windows(tiny_experiment[0], bin_size=0.01, n_bins=5)
    i = int(np.argmax(w.values.sum(axis=(1, 2))))
    fig = plot_window_heatmap(w, i)
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(img), w.values[i].T)
    assert str(w["label"].values[i]) in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(SpikeDecodeValueError):
        plot_window_heatmap(w, w.sizes["sample"])
    fig = plot_binned(bin_spikes(tiny_experiment[0], 0.05), t_start=1.0, t_stop=3.0)
    assert fig.axes[0].images[0].get_array().shape[1] == 40
    plt.close(fig)
    assert label_colors(["latent"])["latent"][:3] == (0.6, 0.6, 0.6)
