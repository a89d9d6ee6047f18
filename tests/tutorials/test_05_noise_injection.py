"""Tutorial 05 runs end to end in --quick mode and writes its results."""

from __future__ import annotations

from tests.tutorials.conftest import assert_figures


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
