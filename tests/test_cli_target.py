"""``spikedecode decode FILE --target SERIES`` and the behaviour series in ``info``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.ndimage import gaussian_filter1d

import spikedecode as sd
from spikedecode.cli import cli


def _simulated(seed=0, duration=120.0):
    """Units whose rate follows a smooth 2-D velocity (100 Hz), and that velocity."""
    rng = np.random.default_rng(seed)
    dt = 0.01
    n = int(duration / dt)
    vel = gaussian_filter1d(rng.normal(size=(n, 2)), 20, axis=0) * 10
    tuning = rng.normal(size=(2, 12))
    rate = 8 * np.exp(np.clip(vel @ tuning, -3, 3))  # Hz
    counts = rng.poisson(rate * dt)
    b, u = np.nonzero(counts)
    reps = counts[b, u]
    times = np.repeat(b * dt, reps) + rng.uniform(0, dt, reps.sum())
    units = np.repeat(u, reps)
    order = np.argsort(times)
    rec = sd.make_recording(times[order], [f"u{k}" for k in units[order]], t_stop=duration)
    return rec, sd.make_behavior(vel, rate=1 / dt, name="velocity", units="cm/s")


@pytest.fixture(scope="module")
def nwb_file(tmp_path_factory):
    rec, vel = _simulated()
    path = tmp_path_factory.mktemp("nwb") / "reach.nwb"
    sd.write(rec, path, behavior={"velocity": vel})
    return path


def test_decode_target_reports_r2_with_ci_and_a_trace(nwb_file, tmp_path):
    out = tmp_path / "res"
    res = CliRunner().invoke(cli, ["decode", str(nwb_file), "--target", "velocity",
                                   "--decoder", "wiener,kalman", "--bin", "100ms",
                                   "--window", "3", "--n-boot", "100", "--out", str(out),
                                   "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["target"] == "velocity" and report["channels"] == ["x", "y"]
    for kind in ("wiener", "kalman"):
        r = report["results"][kind]
        lo, hi = r["r2_vw_ci"]
        assert lo <= r["r2_vw"] <= hi and r["r2_vw"] > 0.3
        assert (out / f"trace_{kind}.png").stat().st_size > 1000
        assert json.loads((out / f"{kind}.json").read_text())["decoder"] == kind
    text = CliRunner().invoke(cli, ["decode", str(nwb_file), "--target", "velocity",
                                    "--bin", "100ms", "--window", "3", "--n-boot", "50",
                                    "--out", str(out)]).stdout
    assert "wiener: R2" in text and "R2_vw_ci" in text and "target:  velocity" in text


def test_info_lists_behaviour_series(nwb_file):
    res = CliRunner().invoke(cli, ["info", str(nwb_file), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["behavior_series"] == ["velocity"]
    text = CliRunner().invoke(cli, ["info", str(nwb_file)]).stdout
    assert "behaviour series (decode with decode --target NAME): velocity" in text


def test_target_errors(nwb_file, tmp_path):
    res = CliRunner().invoke(cli, ["decode", str(nwb_file), "--target", "speed",
                                   "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "no behaviour series of that name" in str(res.exception) + res.output
    assert "velocity" in str(res.exception) + res.output
    res = CliRunner().invoke(cli, ["decode", str(nwb_file), "--target", "velocity",
                                   "--decoder", "svm", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "cannot decode --target" in res.output


def test_target_from_a_table(tmp_path):
    rec, vel = _simulated(seed=1, duration=60.0)
    spikes = sd.write(rec, tmp_path / "spikes.nc")
    table = tmp_path / "behavior.csv"
    rows = ["time,vx,vy"] + [f"{t:.4f},{a:.5f},{b:.5f}"
                             for t, (a, b) in zip(vel["time"].values, vel.values)]
    table.write_text("\n".join(rows) + "\n")
    res = CliRunner().invoke(cli, ["decode", str(spikes), "--target", "vx,vy", "--behavior",
                                   str(table), "--bin", "100ms", "--window", "2",
                                   "--n-boot", "50", "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["channels"] == ["vx", "vy"] and report["results"]["wiener"]["r2_vw"] > 0.3
