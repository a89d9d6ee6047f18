"""Tutorial 01 runs headless in --quick mode and reports sensible numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO


def test_tutorial_01_quick(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "tutorials" / "01_load_and_decode.py"), "--quick", "--out",
         str(tmp_path)], capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    sim = res["simulated"]["logistic"]
    assert sim["balanced_accuracy"] > 0.6  # the simulated stimulus is decodable
    assert sim["balanced_accuracy_ci"][0] <= sim["balanced_accuracy"] <= sim[
        "balanced_accuracy_ci"][1]
    null = res["null_experiment"]
    assert null["default_logistic"] <= 0.55 and null["default_1nn"] <= 0.55
    assert null["resample_then_split_1nn"] > 0.65
    if "nelpy_linear_track" in res:  # real data present
        assert res["nelpy_linear_track"]["logistic"]["accuracy"] > 0.35  # chance 0.20
