"""Tutorial 03 runs end to end in --quick mode and writes consistent results."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tutorials.conftest import assert_figures


def test_03_attacks_quick(tutorial, tmp_path):
    res = tutorial("03")
    assert res["mode"] == "quick"
    img = res["images"]
    eps = img["eps"]
    assert eps[0] == 0.0
    assert img["clean"] > 0.8  # 8x8 digits, chance 0.1
    for name, curve in img["curves"].items():
        curve = np.array(curve)
        assert curve.shape == (len(eps),) and ((0 <= curve) & (curve <= 1)).all()
        if name != "lbfgs":  # L-BFGS runs on a smaller subset
            assert curve[0] == pytest.approx(img["clean"], abs=1e-3)
    fg, pg = np.array(img["curves"]["fgsm"]), np.array(img["curves"]["pgd"])
    assert (np.diff(pg) <= 0.01).all() and pg[-1] < 0.1  # PGD breaks the model at eps 0.3
    assert (pg <= fg + 0.02).all()  # and is at least as strong as FGSM
    assert np.array(img["curves"]["gaussian"])[-1] > pg[-1]  # blind noise is much weaker
    assert not any(img["masking_flags"].values())
    counts = res["counts"]["MLPDecoder"]
    assert counts["greedy"][0] == pytest.approx(counts["clean"], abs=1e-3)
    assert counts["greedy"][-1] <= counts["clean"]
    assert counts["linf"][-1] <= counts["linf"][0]
    assert_figures(tmp_path, "curves", "examples_pgd_eps0.3", "count_attacks")
