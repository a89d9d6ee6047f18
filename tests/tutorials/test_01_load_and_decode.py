"""Tutorial 01 runs headless in --quick mode and reports sensible numbers."""

from __future__ import annotations


def test_tutorial_01_quick(tutorial):
    res = tutorial("01")
    assert res["quick"] is True
    sim = res["simulated"]["logistic"]
    assert sim["balanced_accuracy"] > 0.6  # the simulated stimulus is decodable (chance 0.5)
    lo, hi = sim["balanced_accuracy_ci"]
    assert lo <= sim["balanced_accuracy"] <= hi
    null = res["null_experiment"]
    # no signal: the grouped default split stays at chance, resampling first inflates it
    assert null["default_logistic"] <= 0.55 and null["default_1nn"] <= 0.55
    assert null["resample_then_split_1nn"] > 0.65
    if "nelpy_linear_track" in res:  # real data present
        assert res["nelpy_linear_track"]["logistic"]["accuracy"] > 0.35  # chance 0.20
