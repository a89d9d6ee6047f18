"""Real NWB files from ../shared/data/nwb (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest

from spikedecode import io as sio
from spikedecode.errors import DataDroppedWarning
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def human():
    return sio.read(shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb"))


@pytest.mark.data
def test_human_mtl_units_and_encoding_trials(human):
    rec = human
    assert sio.sniff(shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb")) == "nwb"
    assert rec.spikedecode.n_units == 35
    assert rec.sizes["epoch"] == 90
    # labels from stimCategory (0/1/2), 30 clips each
    assert rec.spikedecode.summary()["epochs_per_label"] == {
        "encoding_table/0": 30, "encoding_table/1": 30, "encoding_table/2": 30,
    }
    assert rec["unit"].values.tolist() == [str(i) for i in range(35)]
    # ~47 min; every spike inside [t_start, t_stop)
    assert 2700 < rec.spikedecode.duration < 2900
    t = rec["spike_time"].values
    assert t.min() >= rec.attrs["t_start"] and t.max() < rec.attrs["t_stop"]
    assert rec.attrs["subject"] == "4"
    assert rec.attrs["nwb_intervals"].split(",") == [
        "encoding_table", "recognition_table", "timediscrimination_table"
    ]
    # epochs are sorted and inside the recording
    assert np.all(np.diff(rec["epoch_start"].values) >= 0)


@pytest.mark.data
@pytest.mark.filterwarnings("ignore::UserWarning:pynwb")
def test_human_spike_counts_match_pynwb(human):
    import pynwb

    with pynwb.NWBHDF5IO(str(shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb")), "r") as io:
        units = io.read().units
        first = np.asarray(units["spike_times"][0])
        total = sum(len(units["spike_times"][i]) for i in range(len(units)))
    assert human.spikedecode.n_spikes == total
    np.testing.assert_array_equal(human.spikedecode.unit("0"), np.sort(first))


@pytest.mark.data
def test_human_recognition_table_on_request():
    p = shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb")
    rec = sio.read(p, intervals="recognition_table", label_column="old_new")
    assert rec.sizes["epoch"] == 180
    assert all(lab.startswith("recognition_table/") for lab in rec["epoch_label"].values)
    both = sio.read(p, intervals=["encoding_table", "recognition_table"])
    per = both.spikedecode.summary()["epochs_per_label"]
    assert sum(v for k, v in per.items() if k.startswith("encoding_table/")) == 90
    assert per["recognition_table"] == 180  # no label column there: the table name
    assert sio.read(p, intervals=None).sizes["epoch"] == 0


@pytest.mark.data
def test_human_other_tables_are_excluded_not_latent(human):
    from spikedecode.io.nwb import interval_tables
    from spikedecode.preprocess import make_windows

    tabs = {t["table"]: t for t in interval_tables(human)}
    assert {k: (t["rows"], t["role"]) for k, t in tabs.items()} == {
        "encoding_table": (90, "epochs"), "recognition_table": (180, "excluded"),
        "timediscrimination_table": (180, "excluded"),
    }
    assert tabs["encoding_table"]["label_column"] == "stimCategory"
    assert "old_new" in tabs["recognition_table"]["columns"]
    assert human.sizes["excluded"] == 360
    assert set(human["excluded_table"].values.tolist()) == {
        "recognition_table", "timediscrimination_table"}
    w = make_windows(human, bin_size=0.005, n_bins=5, step=5)
    assert w.attrs["n_dropped_other_intervals"] > 10000
    # no latent window touches a recognition/time-discrimination trial
    t = w["time"].values[w["label"].values == "latent"]
    a, b = human["excluded_start"].values, human["excluded_stop"].values
    i = np.searchsorted(a, t + 0.025, side="left")  # intervals starting before the end
    b_max = np.maximum.accumulate(b)  # the latest stop among them
    assert not np.any((i > 0) & (b_max[np.maximum(i - 1, 0)] > t))
    # the 1,880 s after the encoding block no longer form one giant group
    counts = np.bincount(w["trial"].values)
    assert counts.max() / counts.sum() < 0.01
    assert w.attrs["largest_group_share"] == pytest.approx(counts.max() / counts.sum())


@pytest.mark.data
def test_mouse_three_units():
    rec = sio.read(shared_data("nwb", "A8604-211122.nwb"))
    assert rec.spikedecode.n_units == 3
    assert rec["unit"].values.tolist() == ["6", "191", "206"]  # the units table ids
    assert rec.spikedecode.epochs() == [(0.0, 1087.5289, "epochs/wake")]  # from 'tags'
    assert rec.attrs["session"] == "A8604-211122"


@pytest.mark.data
def test_nwb_to_netcdf_roundtrip(tmp_path, human):
    back = sio.read(sio.write(human, tmp_path / "human.nc"))
    assert back.identical(human)


# --------------------------------------------------------------- synthetic files
@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from tests.io.nwb_factory import make_nwb

    return make_nwb(tmp_path_factory.mktemp("nwb") / "synth.nwb")


def test_synthetic_trials_and_ids(synth):
    from spikedecode.errors import SpikeDecodeWarning

    with pytest.warns(SpikeDecodeWarning, match=r"\['12'\]"):  # the unit without spikes
        rec = sio.read(synth)
    assert rec["unit"].values.tolist() == ["10", "11", "12"]
    assert rec.spikedecode.unit("10").tolist() == [0.1, 0.5, 2.0]
    # 'auto' picks the trials table; labels from its 'stimulus' column
    assert [e[2] for e in rec.spikedecode.epochs()] == ["trials/LUM", "trials/LBR", "trials/LUM"]
    assert (rec.attrs["session"], rec.attrs["subject"]) == ("S7", "M3")
    assert rec.attrs["t_stop"] == 4.0  # the last trial ends after the last spike
    assert rec.attrs["session_start_time"].startswith("2024-01-02")
    with pytest.warns(SpikeDecodeWarning):
        both = sio.read(synth, intervals="all", day=2)
    assert [e[2] for e in both.spikedecode.epochs()][-1] == "puffs"
    assert both.attrs["t_stop"] == 5.5 and both.attrs["day"] == 2
    assert "excluded" not in both.dims  # every table is read as epochs


def test_synthetic_other_tables_become_excluded_intervals(synth):
    from spikedecode.errors import SpikeDecodeWarning
    from spikedecode.io.nwb import interval_tables

    with pytest.warns(SpikeDecodeWarning):
        rec = sio.read(synth)  # 'auto': the trials table
    assert rec["excluded_start"].values.tolist() == [5.0]
    assert rec["excluded_stop"].values.tolist() == [5.5]
    assert rec["excluded_table"].values.tolist() == ["puffs"]
    roles = {t["table"]: (t["role"], t["label_column"], t["rows"]) for t in interval_tables(rec)}
    assert roles == {"trials": ("epochs", "stimulus", 3), "puffs": ("excluded", "", 1)}
    with pytest.warns(SpikeDecodeWarning):
        puffs = sio.read(synth, intervals="puffs")
    assert puffs["excluded_start"].values.tolist() == [0.0, 1.0, 3.0]
    assert puffs["excluded_table"].values.tolist() == ["trials"] * 3
    with pytest.warns(SpikeDecodeWarning):
        kept = sio.read(synth, exclude_other_intervals=False)
    assert "excluded_start" not in kept
    assert {t["table"]: t["role"] for t in interval_tables(kept)}["puffs"] == "ignored"


def test_synthetic_unit_names(tmp_path):
    from tests.io.nwb_factory import make_nwb

    p = make_nwb(tmp_path / "named.nwb", names=["tt1_c1", "tt2_c4"])
    rec = sio.read(p)
    assert rec["unit"].values.tolist() == ["tt1_c1", "tt2_c4"]
    assert sio.read(p, unit_column="id")["unit"].values.tolist() == ["10", "11"]


def test_synthetic_without_units(tmp_path):
    from spikedecode.errors import FileFormatError
    from tests.io.nwb_factory import make_nwb

    p = make_nwb(tmp_path / "nounits.nwb", units=False)
    with pytest.raises(FileFormatError, match=r"no units table with spike_times \(nwb.units\)"):
        sio.read(p)


@pytest.mark.filterwarnings("ignore:1 unit\\(s\\) have no spikes")
def test_info_lists_interval_tables(synth):
    import json

    from click.testing import CliRunner

    from spikedecode._cli.info import command

    res = CliRunner().invoke(command, [str(synth)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("table "))
    assert lines[head].split() == ["table", "rows", "role", "label_column", "columns"]
    rows = {ln.split()[0]: ln.split()[1:4] for ln in lines[head + 2:head + 4]}
    assert rows == {"trials": ["3", "epochs", "stimulus"], "puffs": ["1", "excluded", "-"]}
    res = CliRunner().invoke(command, [str(synth), "--json", "--intervals", "puffs"])
    out = json.loads(res.output[res.output.index("{"):])
    assert {t["table"]: t["role"] for t in out["interval_tables"]} == {
        "trials": "excluded", "puffs": "epochs"}
    assert out["n_excluded_intervals"] == 3 and out["n_epochs"] == 1


@pytest.mark.data
def test_decode_chooses_interval_table_and_label_column(capsys):
    import json

    from spikedecode.cli import main

    p = str(shared_data("nwb", "sub-4_ses-4_ecephys+image.nwb"))
    args = ["decode", p, "--bin", "1s", "--window", "1", "--n-boot", "10", "--n-splits", "3",
            "--json", "--intervals", "recognition_table", "--label-column", "old_new"]
    assert main(args) == 0
    out = capsys.readouterr().out
    res = json.loads(out[out.index("{"):])["results"]["logistic"]
    labels = res["confusion"]["labels"]
    assert "latent" in labels and len(labels) > 2
    assert all(x == "latent" or x.startswith("recognition_table/") for x in labels)
    # a table the file lacks, and the option on a non-NWB file, are one-line usage errors
    assert main(args[:-4] + ["--intervals", "nope"]) == 2
    assert "interval tables are" in capsys.readouterr().err


def test_decode_intervals_on_non_nwb_is_a_usage_error(tmp_path, capsys):
    import spikedecode
    from spikedecode.cli import main

    rec = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0)
    f = sio.write(rec, tmp_path / "r.nc")
    assert main(["decode", str(f), "--intervals", "trials"]) == 2
    assert "NWB files only" in capsys.readouterr().err


def test_synthetic_unsorted_spike_times_raise_or_sort(tmp_path):
    from spikedecode.errors import RecordingError, SpikeDecodeWarning
    from tests.io.nwb_factory import make_nwb

    # unit 11 holds a run of zeros inside its train, as a zeroed block of the file reads
    p = make_nwb(tmp_path / "zeroed.nwb", trains=([0.1, 0.5], [0.2, 0.6, 0.0, 0.0, 0.9], [3.0]))
    with pytest.raises(RecordingError, match=r"zeroed.nwb: the spike times of 1 unit\(s\) are "
                       r"not sorted, e.g. unit '11' goes from 0.6 s back to 0.0 s"):
        sio.read(p)
    with pytest.warns(SpikeDecodeWarning, match=r"1 spike\(s\) repeat .* unit '11' at 0.0 s"):
        rec = sio.read(p, sort=True)  # sorted, the zeros are also exact duplicates
    assert rec.spikedecode.unit("11").tolist() == [0.0, 0.0, 0.2, 0.6, 0.9]
    assert rec.sizes["spike"] == 8  # nothing lost


def test_synthetic_negative_spike_times_warn(tmp_path):
    from spikedecode.errors import SpikeDecodeWarning
    from tests.io.nwb_factory import make_nwb

    p = make_nwb(tmp_path / "neg.nwb", trains=([-0.25, 0.5], [0.3]))
    with pytest.warns(SpikeDecodeWarning, match=r"1 spike time\(s\) are negative \(earliest "
                      r"-0.25 s, unit '10'\)"):
        rec = sio.read(p)
    assert rec.attrs["t_start"] == -0.25
    # an explicit t_start is the user's choice: no warning, the early spike is dropped
    with pytest.warns(DataDroppedWarning, match="dropped 1 spike"):
        rec = sio.read(p, t_start=0.0, outside="drop")
    assert rec.spikedecode.unit("10").tolist() == [0.5]
