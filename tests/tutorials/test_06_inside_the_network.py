"""Run tutorial 06 in --quick mode and check its results file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SHARED_DATA

SCRIPT = REPO / "tutorials" / "06_inside_the_network.py"


def test_tutorial_06_quick(tmp_path: Path):
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)]
    if (SHARED_DATA / "mnist").exists():
        cmd += ["--data", str(SHARED_DATA)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["mode"] == "quick"
    for fig in ("volatility", "selective_dropout", "latent_map", "error_violins", "brainbow",
                "constellations", "attack_trajectories", "detection_auroc"):
        assert (tmp_path / f"{fig}.png").stat().st_size > 1000, fig
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
