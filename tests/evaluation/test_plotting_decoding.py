"""Decoding figures return matplotlib Figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import xarray as xr

from spikedecode.evaluation import confusion
from spikedecode.plotting.decoding import plot_confusion, plot_cross_day, plot_scores


def test_figures():
    import matplotlib.pyplot as plt

    cm = confusion(["a", "b", "b"], ["a", "b", "a"])
    fig = plot_confusion(cm, title="x")
    assert len(fig.axes) == 2
    res = {"logistic": {"accuracy": 0.7, "accuracy_ci": (0.6, 0.8)},
           "lstm": {"accuracy": 0.72, "accuracy_ci": (0.6, 0.84)}}
    fig2 = plot_scores(res, chance=0.5)
    assert len(fig2.axes[0].patches) == 2
    m = xr.DataArray([[0.9, 0.6], [0.7, 0.8]], dims=("train_day", "test_day"),
                     coords={"train_day": [0, 1], "test_day": [0, 1]},
                     attrs={"metric": "accuracy", "aligner": "none"})
    fig3 = plot_cross_day(m)
    assert fig3.axes[0].get_xlabel() == "test day"
    for f in (fig, fig2, fig3):
        plt.close(f)
