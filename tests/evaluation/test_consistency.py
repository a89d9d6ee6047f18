"""Cross-day matrix, leave-one-day-out, the aligner call protocol, Dask schedulers."""

from __future__ import annotations

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


def test_condition_keys():
    class T:
        uses_time = True

    assert condition_keys(T(), np.array(["a", "b"]), np.array([0.0, 0.0251])).tolist() == [
        "a@0.000", "b@0.025"]
    assert condition_keys(None, np.array(["a"]), np.array([1.0])).tolist() == ["a"]


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
