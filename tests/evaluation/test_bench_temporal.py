"""benchmarks/bench_temporal.py: ours and MNE's estimators agree on the same folds."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import load_benchmark


def test_compare_gives_equal_scores_and_a_cpu_ratio():
    pytest.importorskip("mne")
    bench = load_benchmark("bench_temporal")
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    X = rng.normal(size=(40, 3, 4))
    X[:, 2, 0] += 2 * y
    out = bench.compare(X, y, np.arange(40), repeat=1)
    for name in ("sliding", "generalizing"):
        assert out[name]["max_score_diff"] == 0.0
        assert out[name]["prediction_agreement"] == 1.0
        assert out[name]["cpu_ratio"] > 0
