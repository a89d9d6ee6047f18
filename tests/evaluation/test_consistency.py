"""Cross-day matrix, leave-one-day-out, the aligner call protocol, Dask schedulers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from sklearn.base import BaseEstimator

from spikedecode.decoders import make_decoder
from spikedecode.errors import DataDroppedWarning, NotEnoughDataError
from spikedecode.evaluation import (
    condition_keys,
    consistency_score,
    cross_day_matrix,
    leave_one_day_out,
)

DEC = dict(lambdas=(1e-3, 1e-1), cv=3)


def _day(seed, units, shift=0.0, n_trials=16, per=6, lags=2, informative=("u0", "u1")):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.where(np.arange(n_trials) % 2, "LUM", "LBR"), per)
    g = np.repeat(np.arange(n_trials), per)
    X = rng.poisson(2.0, size=(len(y), lags, len(units))).astype(float)
    for u in informative:
        if u in units:
            X[y == "LUM", :, units.index(u)] += 3.0
    X += shift
    return xr.DataArray(X, dims=("sample", "lag", "unit"),
                        coords={"unit": list(units), "label": ("sample", y),
                                "trial": ("sample", g),
                                "t_rel": ("sample", np.tile(np.arange(per) * 0.025, n_trials))})


def _days():
    return {0: _day(0, ["u0", "u1", "u2", "u3"]), 1: _day(1, ["u0", "u1", "u2", "u4"]),
            2: _day(2, ["u0", "u1", "u3", "u5"])}


def test_shared_units_matrix_and_warning():
    with pytest.warns(DataDroppedWarning, match="shared"):
        m = cross_day_matrix(_days(), make_decoder("logistic", **DEC), scheduler="sync",
                             random_state=0)
    assert m.dims == ("train_day", "test_day") and m.shape == (3, 3)
    assert m.attrs["n_units"] == 2
    assert (m.values > 0.8).all()  # u0/u1 carry the label on every day
    assert 0.8 < consistency_score(m) <= 1.2


def test_no_shared_units_raises():
    days = {0: _day(0, ["a", "b"]), 1: _day(1, ["c", "d"])}
    with pytest.raises(NotEnoughDataError, match="aligner"):
        cross_day_matrix(days, make_decoder("logistic", **DEC), scheduler="sync")


LOG: list = []  # module-level: clone() and deepcopy() must not copy the log


class SpyAligner(BaseEstimator):
    """A minimal aligner that records the calls the protocol promises."""

    uses_labels = True
    uses_time = True

    def __init__(self, n_components=2):
        self.n_components = n_components

    @property
    def log(self):
        return LOG

    def fit(self, days, y=None):
        self.log.append(("fit", tuple(days), None if y is None else
                         {d: list(v[:2]) for d, v in y.items()}))
        self.means_ = {d: np.asarray(X).mean(0) for d, X in days.items()}
        self.dim_ = {d: np.asarray(X).shape[1] for d, X in days.items()}
        return self

    def adapt(self, X, y=None, *, day):
        self.log.append(("adapt", day, len(X), None if y is None else list(y[:1])))
        self.means_[day] = np.asarray(X).mean(0)
        self.dim_[day] = np.asarray(X).shape[1]
        return self

    def transform(self, X, *, day):
        X = np.asarray(X)
        return (X - self.means_[day])[:, :2]  # first two features = informative units


def test_aligner_protocol_honest_halves():
    days = {0: _day(0, ["u0", "u1", "x"]), 1: _day(1, ["u0", "u1", "y", "z"], shift=5.0)}
    LOG.clear()
    log = LOG
    m = cross_day_matrix(days, make_decoder("logistic", **DEC), aligner=SpyAligner(),
                         scheduler="sync", random_state=0)
    fits = [e for e in log if e[0] == "fit"]
    adapts = [e for e in log if e[0] == "adapt"]
    # uses_time: keys are label@t_rel
    assert all("@" in k for e in fits for v in e[2].values() for k in v)
    # each off-diagonal cell adapts the test day twice (A then B), on disjoint halves
    assert len(adapts) == 4 and all(a[2] < 96 for a in adapts)
    assert sorted(a[2] for a in adapts[:2]) == sorted([48, 48])
    assert m.sel(train_day=0, test_day=1) > 0.8  # the shift is removed by adapting


def test_label_free_aligner_gets_no_labels():
    class Free(SpyAligner):
        uses_labels = False
        uses_time = False

    LOG.clear()
    log = LOG
    days = {0: _day(0, ["u0", "u1", "x"]), 1: _day(1, ["u0", "u1", "y"])}
    cross_day_matrix(days, make_decoder("logistic", **DEC), aligner=Free(),
                     scheduler="sync", random_state=0)
    assert all(e[2] is None for e in log if e[0] == "fit")
    assert all(e[3] is None for e in log if e[0] == "adapt")


class ThreadSpy(SpyAligner):
    """Records torch's thread count while the task fits it."""

    uses_labels = False
    uses_time = False

    def fit(self, days, y=None):
        import torch

        self.log.append(("threads", torch.get_num_threads()))
        return super().fit(days, y)


def test_sync_scheduler_restores_the_callers_torch_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    LOG.clear()
    days = {0: _day(0, ["u0", "u1", "x"]), 1: _day(1, ["u0", "u1", "y"])}
    try:
        torch.set_num_threads(2)
        cross_day_matrix(days, make_decoder("logistic", **DEC), aligner=ThreadSpy(),
                         scheduler="sync", random_state=0)
        leave_one_day_out(days, make_decoder("logistic", **DEC), aligner=ThreadSpy(),
                          scheduler="sync", random_state=0)
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    inside = [e[1] for e in LOG if e[0] == "threads"]
    assert inside and set(inside) == {1}  # the tasks themselves run on one thread
    assert after == 2  # ... and the caller gets its own count back


def test_condition_keys():
    assert condition_keys(np.array(["a", "b"]), np.array([0.0, 0.0251])).tolist() == [
        "a@0.000", "b@0.025"]
    assert condition_keys(np.array(["a"])).tolist() == ["a"]
    # rounding never writes "-0.000": a key does not depend on the sign of a zero
    assert condition_keys(["a"], [-1e-9]).tolist() == ["a@0.000"]


def test_leave_one_day_out():
    with pytest.warns(DataDroppedWarning):
        lo = leave_one_day_out(_days(), make_decoder("logistic", **DEC), scheduler="sync",
                               random_state=0)
    assert lo.dims == ("test_day",) and (lo.values > 0.8).all()


def test_sync_and_local_cluster_give_identical_numbers():
    pytest.importorskip("distributed")
    days = {0: _day(0, ["u0", "u1", "u2"]), 1: _day(1, ["u0", "u1", "u2"])}
    dec = make_decoder("logistic", **DEC)
    a = cross_day_matrix(days, dec, scheduler="sync", random_state=3)
    b = cross_day_matrix(days, dec, scheduler=None, n_jobs=2, random_state=3)
    np.testing.assert_array_equal(a.values, b.values)


def test_consistency_score_with_chance():
    m = xr.DataArray([[0.9, 0.7], [0.7, 0.9]], dims=("train_day", "test_day"))
    assert consistency_score(m, chance=0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="square"):
        consistency_score(xr.DataArray([[1.0, 2.0]]))


# ----------------------------------------------------------------- default scheduler
def test_library_default_is_serial(monkeypatch):
    distributed = pytest.importorskip("distributed")
    started = []

    def no_cluster(*args, **kwargs):
        started.append(kwargs)
        raise RuntimeError("no cluster in this test")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    days = {0: _day(0, ["u0", "u1", "u2"]), 1: _day(1, ["u0", "u1", "u2"])}
    dec = make_decoder("logistic", **DEC)
    m = cross_day_matrix(days, dec, random_state=3)  # no scheduler, no n_jobs: in-process
    lo = leave_one_day_out(days, dec, n_jobs=1, random_state=3)
    assert started == [] and m.shape == (2, 2) and lo.shape == (2,)
    # asking for workers (n_jobs > 1, -1 or scheduler="local") starts a local cluster
    from spikedecode.errors import ConfigError

    for kw in ({"n_jobs": 2}, {"n_jobs": -1}, {"scheduler": "local"}):
        with pytest.raises(ConfigError, match="could not start a local Dask cluster"):
            cross_day_matrix(days, dec, random_state=3, **kw)
    assert [k["n_workers"] for k in started][0] == 2 and len(started) == 3
    for bad in (0, -2, 1.5, "two"):
        with pytest.raises(ConfigError, match="n_jobs =="):
            cross_day_matrix(days, dec, n_jobs=bad)


# ------------------------------------------------------------------- the command
@pytest.mark.filterwarnings("default::spikedecode.errors.DataDroppedWarning")
@pytest.mark.filterwarnings("default::spikedecode.evaluation.BelowMajorityWarning")
def test_consistency_command_header_figure_and_one_line_warnings(tmp_path, capsys,
                                                                  tiny_experiment):
    from spikedecode import make_recording
    from spikedecode.cli import main
    from spikedecode.io import write

    rec = tiny_experiment[0]
    units = rec["unit"].values.tolist()
    # day 1: the same spikes, one unit renamed, so the days share all units but one
    twin = make_recording(rec["spike_time"].values, rec["spike_unit"].values,
                          units=units[:-1] + ["renamed"], t_start=rec.attrs["t_start"],
                          t_stop=rec.attrs["t_stop"], epochs=rec.spikedecode.epochs(), day=1)
    paths = [str(write(r, tmp_path / f"day{d}.nc")) for d, r in ((0, rec), (1, twin))]
    out = tmp_path / "out"
    assert main(["consistency", *paths, "--labels", "binary", "--step", "5",
                 "--scheduler", "sync", "--lodo", "--out", str(out)]) == 0
    text, err = capsys.readouterr()
    lines = text.splitlines()
    # balanced accuracy by default: plain accuracy rewards always guessing "latent"
    assert lines[0].split("  ")[0] == "balanced_accuracy: train day"
    assert "test day 0" in lines[0] and "test day 1" in lines[0]
    assert lines[2].startswith("0 ") and lines[3].startswith("1 ")
    assert any(ln.startswith("leave-one-day-out balanced_accuracy: test 0:") for ln in lines)
    # a chance line per test day (binary labels: 1 / 2), and the metric in the JSON
    assert "chance (balanced_accuracy) of a label-blind guess, per test day: 0: 0.500, " \
           "1: 0.500 (1 / number of classes)" in lines
    report = json.loads((out / "consistency.json").read_text())
    assert report["metric"] == "balanced_accuracy"
    assert report["chance"]["per_day"] == {"0": 0.5, "1": 0.5}
    # one line per warning (once for the matrix, once for --lodo), no file or source line
    warn = [ln for ln in err.splitlines() if ln.strip()]
    below = [ln for ln in warn if ln.startswith("warning: BelowMajorityWarning: ")]
    # the tiny binary task is imbalanced (majority 0.83): its transfer is flagged, once
    assert len(below) <= 1 and all("below the test day's majority rate" in ln for ln in below)
    assert [ln for ln in warn if ln not in below] == 2 * [
        f"warning: DataDroppedWarning: kept the {len(units) - 1} units shared by all days; "
        "dropped per day: {0: 1, 1: 1}."]
    assert (out / "cross_day.png").exists()


def test_consistency_figure_title_fits():
    import matplotlib.pyplot as plt

    from spikedecode._cli.consistency import matrix_figure

    m = xr.DataArray([[0.9, 0.6], [0.5, 0.8]], dims=("train_day", "test_day"),
                     coords={"train_day": [0, 1], "test_day": [0, 1]},
                     attrs={"metric": "balanced_accuracy", "aligner": "CCAAligner(" + "x" * 80})
    fig = matrix_figure(m, decoder="logistic", align="procrustes")
    try:
        fig.canvas.draw()
        box = fig.axes[0].title.get_window_extent()
        width = fig.bbox.width
        assert 0 <= box.x0 and box.x1 <= width, (box, width)
        assert "procrustes" in fig.axes[0].get_title()
    finally:
        plt.close(fig)


@pytest.mark.filterwarnings("ignore::spikedecode.evaluation.BelowMajorityWarning")
def test_consistency_command_align_fa_uses_the_shared_unit_ids(tmp_path, capsys,
                                                               tiny_experiment):
    """`--align fa`: the stabilizer gets the Windows' unit ids, so days recorded with the
    same units are aligned on their loadings, with no matched-average fallback warning."""
    from spikedecode import make_recording
    from spikedecode.cli import main
    from spikedecode.io import write

    rec = tiny_experiment[0]
    # day 1: the same units (same ids) recorded again
    twin = make_recording(rec["spike_time"].values, rec["spike_unit"].values,
                          units=rec["unit"].values.tolist(), t_start=rec.attrs["t_start"],
                          t_stop=rec.attrs["t_stop"], epochs=rec.spikedecode.epochs(), day=1)
    paths = [str(write(r, tmp_path / f"day{d}.nc")) for d, r in ((0, rec), (1, twin))]
    assert main(["consistency", *paths, "--labels", "binary", "--window", "2", "--step", "10",
                 "--align", "fa", "--n-components", "3", "--scheduler", "sync",
                 "--json"]) == 0
    text, err = capsys.readouterr()
    assert "AlignmentWarning" not in err, err
    report = json.loads(text)
    assert report["align"] == "fa" and np.array(report["matrix"]).shape == (2, 2)
