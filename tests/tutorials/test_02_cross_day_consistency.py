"""Run tutorial 02 in --quick mode and check its results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SCRIPT = REPO / "tutorials" / "02_cross_day_consistency.py"


def test_tutorial_02_quick(tmp_path: Path):
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=1200)  # loaded CI
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["mode"] == "quick"
    for fig in ("matrix_pca", "matrix_cca", "trajectories_procrustes", "spectra",
                "projections_pca", "adversarial-cond_days"):
        assert (tmp_path / f"{fig}.png").stat().st_size > 1000, fig
    within = res["within_day_mean"]
    assert within > 0.5  # chance is 1/3
    lodo = res["lodo"]
    best = max(lodo[n]["mean_accuracy"] for n in ("cca", "procrustes", "fa"))
    assert best >= 0.9 * within
    assert lodo["pca"]["mean_accuracy"] < 0.8 * best
    cd = res["cross_day"]
    assert cd["procrustes"]["off_diagonal"] > cd["pca"]["off_diagonal"] + 0.15
    disc = [s["disc_accuracy"] for d, s in res["adversarial_days"]["adversarial-cond"].items()
            if d != "0"]
    assert all(0.0 <= a <= 1.0 for a in disc)
