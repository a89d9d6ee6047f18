"""``spikedecode decode``: per-decoder files written as soon as scored, the table, progress."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from spikedecode.cli import cli

# tqdm's bar text: the unit/rate part and the fold bar's label
_BAR_MARKS = ("fold/s", "s/fold", "folds:", "epoch/s", "s/epoch", "it/s", "%|")


@pytest.fixture(scope="module")
def recording_file(tmp_path_factory):
    """A small simulated touch recording saved as netCDF (2 stimuli + latent)."""
    from spikedecode.datasets import simulate_touch_experiment
    from spikedecode.io import write

    rec = simulate_touch_experiment(n_days=1, n_repeats=1, n_strokes=4, n_puffs=2,
                                    n_units_range=(12, 14), random_state=3)[0]
    path = tmp_path_factory.mktemp("rec") / "session.nc"
    write(rec, path)
    return path


def _args(path, out, *extra):
    return ["decode", str(path), "--decoder", "logistic,lstm", "--labels", "binary",
            "--n-splits", "3", "--n-boot", "30", "--max-epochs", "2", "--out", str(out), *extra]


def test_decode_table_names_file_task_classes_and_out(recording_file, tmp_path):
    out = tmp_path / "res"
    res = CliRunner().invoke(cli, _args(recording_file, out))
    assert res.exit_code == 0, res.output
    text = res.stdout
    # the output folder is announced before anything else
    assert text.splitlines()[0] == f"writing to {out}"
    assert str(recording_file) in text
    assert "task:    binary: stimulus vs latent; windows of 5 x 5 ms, stride 5 bin(s)" in text
    assert "classes: latent (" in text and "stimulus (" in text
    assert f"wrote:   {out}" in text
    # each decoder's score is announced as soon as it is written, before the final table
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("logistic: balanced accuracy"))
    assert lines[first].endswith(str(out / "logistic.json"))
    assert first < next(i for i, ln in enumerate(lines) if ln.startswith("lstm: balanced"))
    assert first < next(i for i, ln in enumerate(lines) if ln.startswith("file:"))
    for kind in ("logistic", "lstm"):
        rep = json.loads((out / f"{kind}.json").read_text())
        assert rep["decoder"] == kind and rep["file"] == str(recording_file)
        assert 0 <= rep["balanced_accuracy"] <= 1
        assert {c for c, _ in rep["classes"]} == {"latent", "stimulus"}
    report = json.loads((out / "report.json").read_text())
    assert set(report["results"]) == {"logistic", "lstm"}
    # default stride: the window length (non-overlapping windows)
    assert report["step"] == report["n_bins"] == 5
    # not a terminal (CliRunner): no progress bar anywhere
    assert not any(m in res.output + res.stderr for m in _BAR_MARKS)


def test_decode_json_is_clean_and_quiet(recording_file, tmp_path):
    res = CliRunner().invoke(cli, _args(recording_file, tmp_path / "j", "--json"))
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)  # stdout is exactly one JSON document
    assert report["out"] == str(tmp_path / "j")
    assert report["task"].startswith("binary")
    assert res.stderr == ""


def test_decode_writes_each_result_before_the_next_decoder(recording_file, tmp_path,
                                                           monkeypatch):
    """A crash in the second decoder leaves the first decoder's result on disk."""
    import spikedecode.evaluation as evaluation

    real = evaluation.within_day_scores
    calls = []

    def fake(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            assert (tmp_path / "inc" / "logistic.json").exists()
            raise RuntimeError("second decoder died")
        return real(*a, **k)

    monkeypatch.setattr(evaluation, "within_day_scores", fake)
    res = CliRunner().invoke(cli, _args(recording_file, tmp_path / "inc", "--json"))
    assert isinstance(res.exception, RuntimeError)
    assert len(calls) == 2
    assert json.loads((tmp_path / "inc" / "logistic.json").read_text())["decoder"] == "logistic"
    assert not (tmp_path / "inc" / "lstm.json").exists()
    assert not (tmp_path / "inc" / "report.json").exists()


def test_progress_only_on_a_terminal_and_never_with_json(monkeypatch):
    import sys

    from spikedecode._cli.decode import _show_progress

    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.setattr(sys, "stderr", Stream(True))
    assert _show_progress(as_json=False) is True
    assert _show_progress(as_json=True) is False
    monkeypatch.setattr(sys, "stderr", Stream(False))
    assert _show_progress(as_json=False) is False


def test_decode_windows_progress_bars_go_to_stderr(recording_file, capsys):
    from spikedecode._cli.decode import decode_windows
    from spikedecode.io import read
    from spikedecode.preprocess import make_windows

    w = make_windows(read(recording_file), bin_size=0.005, n_bins=5, step=5, rule="binary")
    seen = []
    decode_windows(w, ["logistic", "lstm"], n_splits=3, n_boot=10, max_epochs=2,
                   progress=True, on_result=lambda kind, r: seen.append(kind))
    cap = capsys.readouterr()
    assert seen == ["logistic", "lstm"]
    assert "logistic (1/2) folds" in cap.err and "lstm (2/2) folds" in cap.err
    assert "training" in cap.err  # the LSTM's epoch bar
    assert cap.out == ""
    decode_windows(w, ["logistic"], n_splits=3, n_boot=10)
    assert capsys.readouterr().err == ""


def test_presets_keep_the_study_settings_one_option_away():
    from spikedecode._cli.decode import cli_decoder

    fast = cli_decoder("lstm", max_epochs=30)
    study = cli_decoder("lstm", max_epochs=60, preset="study")
    assert (fast.num_layers, fast.batch_size, fast.patience) == (3, 256, 5)
    assert (study.num_layers, study.batch_size, study.patience, study.max_epochs) == (3, 128, 8,
                                                                                       60)
