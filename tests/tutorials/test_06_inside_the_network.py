"""Run tutorial 06 in --quick mode and check its results file."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_DATA
from tests.tutorials.conftest import assert_figures

# 30-50 s on 2 cores: in `make test-slow` (and executed again by `make docs`), so that
# `make test` stays under 5 minutes on a fresh 2-core machine
pytestmark = pytest.mark.slow


def test_tutorial_06_quick(tutorial, tmp_path):
    # real MNIST when the shared data are present, else scikit-learn's 8x8 digits
    res = tutorial("06", *(["--data", str(SHARED_DATA)] if (SHARED_DATA / "mnist").exists()
                           else []))
    assert res["mode"] == "quick"
    assert_figures(tmp_path, "volatility", "selective_dropout", "latent_map", "error_violins",
                   "brainbow", "constellations", "attack_trajectories", "detection_auroc")
    sd = res["selective_dropout"]
    assert set(sd) >= {"original", "selective (top 10% volatile)", "control: all units"}
    for rep in sd.values():
        assert 0.0 <= rep["clean_accuracy"] <= 1.0
    # the touch decoder beats chance (4 classes) by a margin, and its map detects attacks
    assert res["touch_decoder"]["test_accuracy"] > 0.5
    det = res["detection_touch_decoder"]["cluster_distance"]
    assert det["adversarial"] > 0.6
    # the noise-free constellation is a single point
    cons = res["constellations"]["clean-trained"]["sigma=0"]
    assert cons["spread"] < 1e-4
