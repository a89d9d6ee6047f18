"""Tutorial 03 runs end to end in --quick mode and writes consistent results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def test_03_attacks_quick(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "tutorials" / "03_attacks_mnist.py"), "--quick",
         "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
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
    assert counts["greedy"][0] == pytest.approx(counts["clean"], abs=1e-3) and counts["greedy"][-1] <= counts["clean"]
    assert counts["linf"][-1] <= counts["linf"][0]
    for fig in ("curves.png", "examples_pgd_eps0.3.png", "count_attacks.png"):
        assert (tmp_path / fig).stat().st_size > 1000
