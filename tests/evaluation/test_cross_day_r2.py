"""cross_day_matrix(metric="r2"): regressors across days, with and without aligners."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from spikedecode.align import get_aligner
from spikedecode.align.base import NoAlignment
from spikedecode.decoders import make_decoder
from spikedecode.errors import ConfigError
from spikedecode.evaluation import cross_day_matrix


def _days(n_days=2, n=400, n_units=12, seed=0, mix=False):
    """Smooth 2-D velocity read out by the same (or, with mix, rotated) units each day."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(2, n_units))
    days, conds = {}, {}
    for d in range(n_days):
        v = gaussian_filter1d(rng.normal(size=(n, 2)), 5, axis=0) * 5
        Wd = W @ np.linalg.qr(rng.normal(size=(n_units, n_units)))[0] if (mix and d) else W
        X = v @ Wd + 0.3 * rng.normal(size=(n, n_units))
        days[f"d{d}"] = (X, v, np.arange(n))
        conds[f"d{d}"] = (np.arctan2(v[:, 1], v[:, 0]) // (np.pi / 4)).astype(int)
    return days, conds


def test_same_units_transfer_and_the_diagonal_is_blocked_cv():
    days, _ = _days()
    m = cross_day_matrix(days, make_decoder("wiener"), metric="r2", scheduler="sync",
                         random_state=0)
    assert m.name == "r2" and m.attrs["metric"] == "r2"
    assert (m.values > 0.8).all()


def test_aligners_recover_a_rotated_day():
    days, conds = _days(mix=True)
    plain = cross_day_matrix(days, make_decoder("wiener"), metric="r2", scheduler="sync",
                             random_state=0)
    assert plain.sel(train_day="d0", test_day="d1") < 0.3  # the units changed roles
    for name in ("cca", "procrustes"):  # labelled: direction octant of each sample
        m = cross_day_matrix(days, make_decoder("wiener"), aligner=get_aligner(
            name, n_components=2), conditions=conds, metric="r2", scheduler="sync",
            random_state=0)
        assert (m.values > 0.7).all(), name  # measured 0.84-0.98


class _Spy(NoAlignment):
    """NoAlignment that records the condition keys it is given, and is label-free."""

    uses_labels = False
    seen: list = []

    def fit(self, days, y=None, **kw):
        _Spy.seen.append(y)
        return super().fit(days, y=y, **kw)

    def adapt(self, X, y=None, *, day, **kw):
        _Spy.seen.append(y)
        return super().adapt(X, y=y, day=day, **kw)


def test_label_free_aligner_sees_neither_target_nor_labels_of_the_new_day():
    days, _ = _days()
    _Spy.seen = []
    cross_day_matrix(days, make_decoder("wiener"), aligner=_Spy(), metric="r2",
                     scheduler="sync", random_state=0)
    assert _Spy.seen and all(y is None for y in _Spy.seen)


def test_metric_and_decoder_must_agree():
    days, _ = _days()
    with pytest.raises(ConfigError, match="use metric='r2' for regressors"):
        cross_day_matrix(days, make_decoder("wiener"), scheduler="sync")
    with pytest.raises(ConfigError, match="use metric='r2' for regressors"):
        cross_day_matrix(days, make_decoder("logistic"), metric="r2", scheduler="sync")
    with pytest.raises(ConfigError, match="pass conditions="):
        cross_day_matrix(days, make_decoder("wiener"), aligner=get_aligner("cca"),
                         metric="r2", scheduler="sync")


def test_leave_one_day_out_takes_regressors():
    from spikedecode.evaluation import leave_one_day_out

    days, conds = _days(n_days=3, mix=True)
    plain = leave_one_day_out(days, make_decoder("wiener"), metric="r2", scheduler="sync",
                              random_state=0)
    assert plain.name == "r2" and plain.sizes["test_day"] == 3
    aligned = leave_one_day_out(days, make_decoder("wiener"), aligner=get_aligner(
        "procrustes", n_components=2), conditions=conds, metric="r2", scheduler="sync",
        random_state=0)
    assert float(aligned.sel(test_day="d1")) > float(plain.sel(test_day="d1")) + 0.2
