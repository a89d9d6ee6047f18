"""The decoding CLI commands: demo, decode, consistency."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikedecode.cli import main


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    capture = pytest.MonkeyPatch()
    lines: list[str] = []
    capture.setattr("click.echo", lambda msg="", *a, **k: lines.append(str(msg)))
    try:
        rc = main(["demo", "--days", "2", "--decoders", "logistic,lstm", "--out", str(out),
                   "--json"])
    finally:
        capture.undo()
    assert rc == 0
    return json.loads("\n".join(lines)), out


def test_demo_report(demo_report):
    report, out = demo_report
    assert len(report["days"]) == 2
    tasks = {r["task"] for r in report["within_day"]}
    assert tasks == {"stimulus vs latent", "LUM vs LBR"}
    stim = [r for r in report["within_day"]
            if r["task"] == "stimulus vs latent" and r["decoder"] == "logistic"][0]
    assert stim["balanced_acc"] > 0.55
    m = np.asarray(report["cross_day"]["matrix"])
    assert m.shape == (2, 2) and np.all((m >= 0) & (m <= 1))
    if report.get("raster"):
        assert (out / "raster_day0.png").exists()


@pytest.mark.filterwarnings("ignore::spikedecode.evaluation.BelowMajorityWarning")
def test_decode_and_consistency_commands(tmp_path, capsys, tiny_experiment):
    from spikedecode.io import write

    paths = []
    for d in (0, 1):
        p = tmp_path / f"day{d}.nc"
        write(tiny_experiment[d], p)
        paths.append(str(p))
    rc = main(["decode", paths[0], "--decoder", "logistic", "--labels", "binary", "--step", "5",
               "--n-boot", "20", "--json", "--out", str(tmp_path / "dec")])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["results"]["logistic"]["balanced_accuracy"] > 0.5
    assert (tmp_path / "dec" / "report.json").exists()
    assert (tmp_path / "dec" / "confusion_logistic.png").exists()
    # the tiny experiment shares no units between days: go through an aligner
    rc = main(["consistency", *paths, "--labels", "binary", "--step", "5", "--align", "pca",
               "--n-components", "4", "--scheduler", "sync", "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert np.asarray(rep["matrix"]).shape == (2, 2)


def test_decode_bad_decoder(tmp_path, capsys, tiny_experiment):
    from spikedecode.io import write

    p = tmp_path / "d.nc"
    write(tiny_experiment[0], p)
    assert main(["decode", str(p), "--decoder", "forest"]) == 2
    assert "forest" in capsys.readouterr().err
