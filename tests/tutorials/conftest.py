"""Run a tutorial script in a subprocess, as a reader would, and load its results file.

Each ``test_0N_*.py`` keeps its own file so that ``pytest -n 2 --dist loadfile`` spreads the
six tutorials over both workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

# A guard against hangs, not a speed check: each --quick mode takes well under a minute on a
# quiet 2-core machine, but a loaded CI runner can be 5-10 times slower.
TIMEOUT_S = 900


def run_tutorial(number: str, out: Path, *extra: str, quick: bool = True) -> dict:
    """Run ``tutorials/<number>_*.py [--quick] --out OUT *extra``; return results.json."""
    (script,) = sorted((REPO / "tutorials").glob(f"{number}_*.py"))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, str(script), *(["--quick"] if quick else []), "--out", str(out),
           *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                          cwd=REPO)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stderr[-3000:]}"
    return json.loads((out / "results.json").read_text())


@pytest.fixture
def tutorial(tmp_path: Path) -> Callable[..., dict]:
    """``tutorial("03", *extra_args)`` runs that tutorial's --quick mode into tmp_path."""

    def run(number: str, *extra: str, quick: bool = True) -> dict:
        return run_tutorial(number, tmp_path, *extra, quick=quick)

    return run


def assert_figures(out: Path, *names: str) -> None:
    """Each figure was written and is not an empty canvas (a PNG > 1 kB)."""
    for name in names:
        path = out / (name if name.endswith(".png") else f"{name}.png")
        assert path.exists() and path.stat().st_size > 1000, name
