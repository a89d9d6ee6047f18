"""`spikedecode info FILE`."""

from __future__ import annotations

import json

from click.testing import CliRunner

import spikedecode
from spikedecode import io as sio
from spikedecode._cli.info import command
from spikedecode.cli import main
from tests.conftest import shared_data


def _file(tmp_path):
    rec = spikedecode.make_recording(
        [0.1, 0.2, 0.3, 0.7], ["a", "b", "a", "b"], t_stop=2.0,
        epochs=[(0.0, 0.5, "touch/LUM"), (1.0, 1.5, "touch/LUM"), (1.5, 1.9, "airpuff")],
        session="s9", day=3,
    )
    return sio.write(rec, tmp_path / "r.nc")


def test_info_json(tmp_path):
    res = CliRunner().invoke(command, [str(_file(tmp_path)), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["n_units"] == 2 and out["n_spikes"] == 4 and out["duration_s"] == 2.0
    assert out["epochs_per_label"] == {"airpuff": 1, "touch/LUM": 2}
    assert out["units"] == [
        {"unit": "a", "n_spikes": 2, "rate_hz": 1.0},
        {"unit": "b", "n_spikes": 2, "rate_hz": 1.0},
    ]
    assert out["session"] == "s9" and out["day"] == 3 and out["format"] == "netcdf"


def test_info_text(tmp_path):
    res = CliRunner().invoke(command, [str(_file(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "units       2" in res.output and "touch/LUM" in res.output
    assert "rate_hz" in res.output


def test_info_errors_are_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.nwb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: path") and "Traceback" not in err
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert main(["info", str(tmp_path / "x.csv")]) == 2
    assert "missing column(s) ['time', 'unit']" in capsys.readouterr().err


def test_info_nwb_intervals(capsys):
    p = shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb")
    assert main(["info", str(p), "--json", "--intervals", "encoding_table,recognition_table"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_units"] == 35 and out["n_epochs"] == 270
