"""``cross_day_matrix`` carries its per-pair table and never fails silently (issue 20, item 9)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spikedecode.evaluation import BelowMajorityWarning, cross_day_matrix
from tests.align.conftest import decoder


def _days(signs, *, p_first=0.5, seed=0):
    """Days whose class signal points along ``sign`` (a -1 day swaps the classes)."""
    rng = np.random.default_rng(seed)
    n_trials = 40
    y = np.where(rng.random(n_trials) < p_first, "a", "b")
    y[:2] = ["a", "b"]
    y = np.repeat(y, 3)
    g = np.repeat(np.arange(n_trials), 3)
    sign = np.where(y == "a", 1.0, -1.0)[:, None]
    return {f"d{i}": (rng.normal(size=(len(y), 4)) + s * sign, y, g)
            for i, s in enumerate(signs)}


def test_swapped_classes_are_flagged_and_warned_once():
    days = _days([1, 1, -1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = cross_day_matrix(days, decoder(), scheduler="sync", random_state=0)
    ours = [w for w in caught if issubclass(w.category, BelowMajorityWarning)]
    assert len(ours) == 1
    assert "d0'->'d2'" in str(ours[0].message) and "classes swapped" in str(ours[0].message)
    flipped = {("d0", "d2"), ("d1", "d2"), ("d2", "d0"), ("d2", "d1")}
    for tr in m.train_day.values:
        for te in m.test_day.values:
            cell = m.sel(train_day=tr, test_day=te)
            assert bool(cell["below_majority"]) == ((tr, te) in flipped)
            assert bool(cell["inverted"]) == ((tr, te) in flipped)
            if (tr, te) in flipped:  # relabelling the predictions undoes the swap
                assert float(cell["relabelled"]) > 0.8 > float(cell)
    assert m.attrs["n_below_majority"] == m.attrs["n_inverted"] == 4
    assert np.isnan(np.diag(m["relabelled"].values)).all()
    table = m.to_dataframe()
    assert set(table.columns) >= {"accuracy", "majority", "below_majority", "inverted"}
    assert len(table) == 9


def test_majority_is_the_commonest_class_of_each_test_day_and_healthy_pairs_pass():
    days = _days([1, 1], p_first=0.75, seed=1)
    m = cross_day_matrix(days, decoder(), scheduler="sync", random_state=0)  # no warning
    for d, (_, y, _) in days.items():
        assert float(m["majority"].sel(test_day=d)) == pytest.approx(
            max(np.mean(y == "a"), np.mean(y == "b")))
    assert not m["below_majority"].any() and m.attrs["n_below_majority"] == 0
    # off-diagonal: the identity is the best relabelling of a healthy pair
    off = ~np.eye(2, dtype=bool)
    np.testing.assert_allclose(m["relabelled"].values[off], m.values[off])


def test_balanced_accuracy_majority_is_one_over_the_classes():
    days = _days([1, -1], p_first=0.75, seed=2)
    with pytest.warns(BelowMajorityWarning):
        m = cross_day_matrix(days, decoder(), scheduler="sync", random_state=0,
                             metric="balanced_accuracy")
    np.testing.assert_allclose(m["majority"].values, 0.5)
    assert m.attrs["n_inverted"] == 2
