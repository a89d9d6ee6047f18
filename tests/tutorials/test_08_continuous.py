"""Tutorial 08 runs headless in --quick mode and reports sensible numbers."""

from __future__ import annotations

from tests.tutorials.conftest import assert_figures


def test_tutorial_08_quick(tutorial, tmp_path):
    res = tutorial("08")
    assert res["quick"] is True
    if "chewie_within_day" in res:  # real data present
        for name, r in res["chewie_within_day"].items():
            lo, hi = r["r2_vw_ci"]
            assert lo <= r["r2_vw"] <= hi and r["r2_vw"] > 0.3, name  # measured 0.45-0.62
        assert res["null"]["shuffled_kfold_r2_vw"] > 0.5  # the leak
        assert res["null"]["blocked_r2_vw_ci"][0] < 0  # blocked with a gap: no signal
        assert_figures(tmp_path, "chewie_trace", "chewie_r2")
        for r in res["chewie_across_days"].values():
            assert r["r2_vw"] > 0.2 and r["ceiling_r2_vw"] > 0.2
    if "linear_track_position" in res:
        bayes = res["linear_track_position"]["poisson_bayes"]
        lo, hi = bayes["median_error_ci"]
        assert lo <= bayes["median_error"] <= hi < 60  # pixels; measured ~20
        assert res["linear_track_quintile"]["logistic_accuracy"] > 0.45  # README ~0.59
        assert_figures(tmp_path, "track_trace")
    if "w_maze_position" in res:
        wm = res["w_maze_position"]
        assert wm["median_error_ci"][1] < wm["chance_median_error"]  # better than the mean
