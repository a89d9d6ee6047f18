"""Run tutorial 02 in --quick mode and check its results file."""

from __future__ import annotations

import pytest

from tests.tutorials.conftest import assert_figures

# 30-50 s on 2 cores: in `make test-slow` (and executed again by `make docs`), so that
# `make test` stays under 5 minutes on a fresh 2-core machine
pytestmark = pytest.mark.slow


def test_tutorial_02_quick(tutorial, tmp_path):
    res = tutorial("02")
    assert res["mode"] == "quick"
    assert_figures(tmp_path, "matrix_pca", "matrix_cca", "trajectories_procrustes", "spectra",
                   "projections_pca", "adversarial-cond_days")
    within = res["within_day_mean"]
    assert within > 0.5  # chance is 1/3
    lodo = res["lodo"]
    best = max(lodo[n]["mean_accuracy"] for n in ("cca", "procrustes", "fa"))
    assert best >= 0.9 * within  # an aligner recovers most of the within-day accuracy
    assert lodo["pca"]["mean_accuracy"] < 0.8 * best  # and unaligned PCA does not
    cd = res["cross_day"]
    assert cd["procrustes"]["off_diagonal"] > cd["pca"]["off_diagonal"] + 0.15
    disc = [s["disc_accuracy"] for d, s in res["adversarial_days"]["adversarial-cond"].items()
            if d != "0"]
    assert all(0.0 <= a <= 1.0 for a in disc)

    _check_real_recordings(res.get("real_recordings"))


def _check_real_recordings(real: dict | None) -> None:
    if real is None:  # the shared Steinmetz sessions are absent: the section said why
        return
    # quick mode: the adversarial row runs in full mode only
    ceilings = real.pop("ceilings")
    assert set(real) == {"cca", "cca+time", "procrustes+time-free"}
    for r in real.values():
        assert 0 <= r["majority"] <= 1 and 0 <= r["acc"] <= 1
        # ONE fixed ceiling (raw units, whole window) for every row; shares against it
        assert abs(r["ceiling"] - sum(ceilings.values()) / len(ceilings)) < 1e-12
        assert abs(r["share"] - (r["acc"] - r["majority"]) / (r["ceiling"] - r["majority"])) \
            < 1e-9
    # with labels and without, the time-resolved aligners transfer above the majority rate
    # (quick, 2 sessions of mouse Cori: measured 0.77 and 0.72 against 0.58)
    for name in ("cca+time", "procrustes+time-free"):
        assert real[name]["acc"] > real[name]["majority"] + 0.05
