"""benchmarks/bench_alignment_selection.py: its scores are the real-data benchmark's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spikedecode.align import get_aligner
from tests.align.conftest import lagged_trials
from tests.conftest import load_benchmark

N_LAGS = 4


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_alignment_selection")


def _days():
    rng = np.random.default_rng(0)
    days = {}
    for d, n_units in (("a", 6), ("b", 5), ("c", 7)):
        X, y, _ = lagged_trials(rng, 24, n_units, n_lags=N_LAGS, noise=0.3, spanning=True)
        y = np.where(np.arange(len(y)) % 3 == 0, "a", y)  # unequal classes: majority > 0.5
        days[d] = (X.reshape(len(X), N_LAGS, n_units), y, np.arange(len(y)))
    return days


@pytest.mark.filterwarnings("ignore")
def test_pair_scores_are_the_real_benchmarks_evaluate(bench):
    """The copied scoring (with its 2-fold diagonal) gives evaluate()'s accuracy and share."""
    days = _days()
    cfg = {"name": "procrustes", "kw": {"n_components": 3, "n_lags": N_LAGS,
                                        "match": "time"}}
    ceilings = {"a": 0.9, "b": 0.85, "c": 0.8}
    ours = bench.pair_scores(days, cfg, [3], ceilings, n_splits=2)
    ref = bench.real.evaluate(days, "x", cfg, [3], ceilings)
    np.testing.assert_allclose(ours["acc"], ref["acc"], atol=1e-12)
    np.testing.assert_allclose(ours["share"], ref["share"], atol=1e-12)
    assert ours["below"] == ref["below"] and len(ours["inverted"]) == 1
    assert ours["pairs"] == 6 and ours["ceiling"] == pytest.approx(ref["ceiling"])


@pytest.mark.filterwarnings("ignore")
def test_lodo_scores_are_the_real_benchmarks_evaluate_lodo(bench):
    days = _days()
    al = get_aligner("procrustes", n_components=3, n_lags=N_LAGS, match="time")
    ceilings = {"a": 0.9, "b": 0.85, "c": 0.8}
    ours = bench.lodo_scores(days, al, [0], ceilings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = bench.real.evaluate_lodo(days, al, [0], ceilings)
    np.testing.assert_allclose(ours["share"], ref["share"], atol=1e-12)
    assert ours["below"] == ref["below"]


def test_every_grid_point_and_candidate_builds(bench):
    for row, grid in bench.GRID.items():
        assert bench.DEFAULTS[row] in grid  # the default competes in its own grid
        for point in grid:
            cfg = bench.config(row, *point)
            al = get_aligner(cfg["name"], **cfg["kw"])
            assert al.uses_labels == (row == "labelled")
    for cand in bench.LABELFREE.values():
        assert not get_aligner(cand["name"], **cand["kw"]).uses_labels
