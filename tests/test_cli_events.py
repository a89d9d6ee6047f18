"""`spikedecode decode FILE --intervals TABLE --align COLUMN`: one sample per trial."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest

from spikedecode.cli import main


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    """40 trials; unit 0 fires 0.1-0.5 s after every onset, unit 1 only after kind 'b'."""
    import pynwb

    rng = np.random.default_rng(0)
    onsets = 2.0 + 3.0 * np.arange(40)
    kind = np.array(["a", "b"] * 20)
    u0 = np.r_[rng.uniform(0, 125, 200), (onsets[:, None] + rng.uniform(0.1, 0.5, (40, 6))).ravel()]
    u1 = np.r_[rng.uniform(0, 125, 200),
               (onsets[kind == "b"][:, None] + rng.uniform(0.1, 0.5, (20, 6))).ravel()]
    u2 = rng.uniform(0, 125, 300)
    path = tmp_path_factory.mktemp("ev") / "events.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwb = pynwb.NWBFile(session_description="events", identifier="ev-1",
                            session_start_time=datetime(2024, 1, 2, tzinfo=timezone.utc))
        for st in (u0, u1, u2):
            nwb.add_unit(spike_times=np.sort(st))
        nwb.add_trial_column("kind", "stimulus kind: a or b (ground truth)")
        nwb.add_trial_column("cue_time", "cue onset (s)")
        nwb.add_trial_column("answer", "the subject's answer")
        for i, t in enumerate(onsets):
            nwb.add_trial(start_time=t, stop_time=t + 1.0, kind=kind[i], cue_time=t - 0.5,
                          answer="yes")
        with pynwb.NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    return path


def _run(capsys, *args):
    code = main(["decode", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_vs_baseline_decodes_one_sample_per_trial(events_file, tmp_path, capsys):
    code, out, err = _run(capsys, events_file, "--intervals", "trials", "--align", "start_time",
                          "--window", "0s:0.6s", "--vs-baseline", "-0.6s:0s",
                          "--permutations", "19", "--n-boot", "200", "--out", tmp_path, "--json")
    assert code == 0, err
    rep = json.loads(out)
    r = rep["results"]["logistic"]
    assert dict(map(tuple, rep["classes"])) == {"baseline": 40, "event": 40}
    assert r["n_trials"] == 40 and r["n_samples"] == 80 and r["n_repeats"] == 10
    assert r["balanced_accuracy"] > 0.9 and r["balanced_p_value"] <= 0.05
    assert json.loads((tmp_path / "report.json").read_text())["align"] == "start_time"


def test_label_column_and_time_resolved(events_file, tmp_path, capsys):
    code, out, err = _run(capsys, events_file, "--intervals", "trials", "--align", "cue_time",
                          "--window", "0s:1.5s", "--label-column", "trials:kind",
                          "--time-resolved", "--bin", "250ms", "--permutations", "19",
                          "--repeats", "2", "--n-boot", "100", "--out", tmp_path, "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["results"]["logistic"]["balanced_accuracy"] > 0.8
    tr = rep["time_resolved"]
    np.testing.assert_allclose(tr["time"], np.arange(6) * 0.25)
    # the signal is 0.6-1.0 s after the cue (0.1-0.5 s after the onset)
    best = tr["time"][int(np.argmax(tr["score"]))]
    assert 0.5 <= best <= 1.0 and max(tr["score"][:2]) < 0.75
    assert any(c["p_value"] <= 0.05 and c["start"] <= 0.75 <= c["stop"] for c in tr["clusters"])
    assert np.shape(rep["temporal_generalization"]["score"]) == (6, 6)
    for name in ("time_resolved.png", "temporal_generalization.png", "time_resolved.nc"):
        assert (tmp_path / name).stat().st_size > 1000


@pytest.mark.parametrize(("args", "match"), [
    (["--align", "no_time", "--label-column", "kind"], "no_time"),
    (["--align", "start_time", "--label-column", "nope"], "nope"),
    (["--align", "start_time", "--label-column", "answer"], "one label"),
    (["--align", "start_time", "--vs-baseline", "-0.3s:0.3s"], "overlaps"),
    (["--align", "start_time", "--window", "-10s:0s", "--label-column", "kind"],
     "leave the recording"),
])
def test_bad_event_input_is_one_clear_line(events_file, tmp_path, capsys, args, match):
    base = ["--intervals", "trials", "--window", "0s:0.6s", "--out", tmp_path]
    code, out, err = _run(capsys, events_file, *base, *args)
    assert code == 2 and match in err, err


def test_align_needs_a_label_or_a_baseline(events_file, tmp_path, capsys):
    code, out, err = _run(capsys, events_file, "--intervals", "trials", "--align",
                          "start_time", "--window", "0s:0.6s", "--out", tmp_path)
    assert code != 0 and "--label-column" in err


def test_info_lists_time_columns_and_descriptions(events_file, capsys):
    assert main(["info", str(events_file)]) == 0
    out = capsys.readouterr().out
    assert "time columns (decode --align): start_time, stop_time, cue_time" in out
    assert "stimulus kind: a or b (ground truth)" in out


def test_stimuli_keeps_those_label_values(events_file, tmp_path, capsys):
    code, out, err = _run(capsys, events_file, "--intervals", "trials", "--align", "start_time",
                          "--window", "0s:0.6s", "--label-column", "kind", "--stimuli", "a",
                          "--out", tmp_path, "--json")
    assert code == 2 and "one label" in err
