"""Tutorial 04 runs end to end in --quick mode and writes consistent results."""

from __future__ import annotations

import numpy as np

from tests.tutorials.conftest import assert_figures


def test_04_spectral_regularization_quick(tutorial, tmp_path):
    res = tutorial("04")
    assert res["mode"] == "quick"
    eps = res["config"]["eps"]
    assert eps[0] == 0.0
    shallow = res["shallow"]
    assert set(shallow) == {"vanilla", "specreg_b2"}
    for r in shallow.values():
        for kind in ("fgsm", "pgd"):
            curve = np.array(r[kind][0])
            assert curve.shape == (len(eps),)
            assert ((0 <= curve) & (curve <= 1)).all()
            assert curve[0] == r["clean"][0]  # eps = 0 is the clean accuracy
        # PGD (iterative, same budget) is at least as strong as FGSM here, within noise
        assert np.array(r["pgd"][0])[-1] <= np.array(r["fgsm"][0])[-1] + 0.05
        assert r["noise"][0][0] == r["clean"][0]  # sigma = 0 is the clean accuracy
        assert np.isfinite(r["alpha"][0])
    assert set(res["mlp"]) == {"vanilla", "specreg_last", "specreg_every", "whitened_last",
                               "jacobian"}
    assert set(res["cnn"]) == {"vanilla", "specreg_fc"}
    assert set(res["touch"]) == {"vanilla", "specreg"}
    assert set(res["long"]) == {"vanilla", "specreg_b5_exact"}
    assert all(len(r["alpha_trace"]) == 2 for r in res["long"].values())
    for r in res["touch"].values():  # larger budgets never help the model
        assert r["count_linf"][-1] <= r["count_linf"][0] + 1e-9
        assert r["count_greedy_l1"][-1] <= r["count_greedy_l1"][0] + 1e-9
    assert_figures(tmp_path, "shallow_spectra", "shallow_curves", "sensitivity_vanilla")
