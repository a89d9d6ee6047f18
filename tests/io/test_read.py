"""read() dispatch by content, metadata overrides, read_many, neo formats."""

from __future__ import annotations

import shutil

import neo
import numpy as np
import pytest
import quantities as pq

import spikedecode
from spikedecode import io as sio
from spikedecode.errors import (
    ConfigError,
    CorruptFileError,
    FileFormatError,
    SkippedFileWarning,
    SpikeDecodeWarning,
)


@pytest.fixture
def rec():
    return spikedecode.make_recording(
        [0.1, 0.2, 0.3, 0.7], ["a", "b", "a", "b"], t_stop=1.0,
        epochs=[(0.0, 0.5, "touch/LUM")], session="s", day=1,
    )


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [(".nc", "netcdf"), (".zarr", "zarr"), (".csv", "table"), (".npz", "npz"), (".nix", "nix"),
     (".mat", "neo")],
)
def test_content_wins_over_a_wrong_suffix(tmp_path, rec, suffix, kind):
    p = sio.write(rec, tmp_path / f"r{suffix}")
    assert sio.sniff(p) == kind
    if p.is_dir() or suffix in (".csv", ".mat"):
        return  # zarr folders, text tables and .mat are recognised by name
    # the same bytes under a misleading or missing suffix are still recognised
    others = ["noext"] if suffix == ".npz" else ["noext", "data.h5", "data.nwb"]
    for other in others:
        q = tmp_path / other
        shutil.copy(p, q)
        assert sio.sniff(q) == kind
        assert sio.read(q).identical(rec)
        q.unlink()


def test_nix_under_h5_suffix_is_read_as_nix(tmp_path, rec):
    p = sio.write(rec, tmp_path / "r.nix")
    q = tmp_path / "r.h5"
    shutil.copy(p, q)
    assert sio.sniff(q) == "nix"
    assert sio.read(q).identical(rec)


def test_metadata_overrides(tmp_path, rec):
    p = sio.write(rec, tmp_path / "r.nc")
    back = sio.read(p, day=7, session="other", subject="M1")
    assert (back.attrs["day"], back.attrs["session"], back.attrs["subject"]) == (7, "other", "M1")
    assert sio.read(p).attrs["day"] == 1  # the file is unchanged


def test_format_argument_skips_detection(tmp_path, rec):
    p = tmp_path / "spikes.dat"
    p.write_text("time\tunit\n0.5\tx\n")
    assert sio.read(p, format="table", sep="\t").spikedecode.unit("x").tolist() == [0.5]
    with pytest.raises(FileFormatError, match="format == 'parquet'"):
        sio.read(p, format="parquet")


def test_table_options(tmp_path):
    p = tmp_path / "sorted.csv"
    p.write_text("t_ms,cluster\n100,3\n250,3\n50,1\n")
    r = sio.read(p, time_column="t_ms", unit_column="cluster", time_unit="ms", t_stop=1.0,
                 epochs=[(0.0, 0.2, "x")])
    assert r["unit"].values.tolist() == ["1", "3"]
    assert r.spikedecode.unit("3").tolist() == [0.1, 0.25]
    assert r.spikedecode.epochs() == [(0.0, 0.2, "x")]


def test_read_many_folder(tmp_path):
    for day in (3, 1, 2):
        r = spikedecode.make_recording([0.1 * day], ["a"], t_stop=1.0, day=day)
        sio.write(r, tmp_path / f"day{day}.nc")
    (tmp_path / "notes.md").write_text("not a recording")
    with pytest.warns(SkippedFileWarning, match=r"skipped notes.md: FileFormatError"):
        days = sio.read_many(tmp_path)
    assert list(days) == [1, 2, 3]
    assert all(days[d].attrs["day"] == d for d in days)
    assert days[2].spikedecode.unit("a").tolist() == [0.2]


def test_read_many_days_from_file_names(tmp_path):
    paths = []
    for i in (5, 6):
        p = tmp_path / f"session_{i}.csv"
        p.write_text(f"time,unit\n0.{i},a\n")
        paths.append(p)
    with pytest.warns(SpikeDecodeWarning, match="not unique"):
        days = sio.read_many(paths)
    assert list(days) == [5, 6] and days[6].attrs["day"] == 6


def test_read_many_empty_folder(tmp_path):
    with pytest.raises(FileFormatError, match="holds no file spikedecode can read"):
        sio.read_many(tmp_path)


def test_foreign_neo_file_without_spikedecode_annotations(tmp_path):
    """A NIX file written by neo directly (not by spikedecode): ids from names, epochs."""
    blk = neo.Block(name="exp")
    seg = neo.Segment()
    for i, times in enumerate(([0.5, 0.1], [1.5])):  # unsorted train: neo allows it
        seg.spiketrains.append(
            neo.SpikeTrain(np.array(times) * 1000 * pq.ms, t_stop=2 * pq.s, name=f"ch{i}")
        )
    seg.epochs.append(neo.Epoch([0.2, 1.0] * pq.s, durations=[0.3, 0.5] * pq.s,
                                labels=np.array(["LUM", "LBR"]), name="touch"))
    seg.epochs.append(neo.Epoch([1.6] * pq.s, durations=[0.1] * pq.s,
                                labels=np.array(["on"]), name="airpuff"))
    blk.segments.append(seg)
    p = tmp_path / "foreign.nix"
    with neo.io.NixIO(str(p), mode="ow") as io:
        io.write_block(blk)
    rec = sio.read(p)
    assert rec["unit"].values.tolist() == ["ch0", "ch1"]
    assert rec.spikedecode.unit("ch0").tolist() == [0.1, 0.5]  # ms -> s, sorted
    assert rec.attrs["t_stop"] == 2.0 and rec.attrs["source"] == "foreign.nix"
    assert [e[2] for e in rec.spikedecode.epochs()] == ["touch/LUM", "touch/LBR", "airpuff/on"]


def test_neo_io_can_be_forced(tmp_path, rec):
    p = sio.write(rec, tmp_path / "r.mat")
    assert sio.read(p, io="NeoMatlabIO").identical(rec)
    with pytest.raises(FileFormatError, match="not a neo IO class"):
        sio.read(p, io="NoSuchIO")


def test_read_many_skips_a_damaged_file_or_raises_naming_it(tmp_path):
    for day in (1, 2):
        sio.write(spikedecode.make_recording([0.1], ["a"], t_stop=1.0, day=day),
                  tmp_path / f"day{day}.nc")
    bad = tmp_path / "day3.nc"
    sio.write(spikedecode.make_recording([0.1], ["a"], t_stop=1.0, day=3), bad)
    bad.write_bytes(bad.read_bytes()[:300])  # cut short by a failed copy
    (tmp_path / "README.txt").write_text("recorded by the lab")
    with pytest.warns(SkippedFileWarning) as record:
        days = sio.read_many(tmp_path)
    assert list(days) == [1, 2]
    skipped = sorted(str(w.message).split(":")[0] for w in record)
    assert skipped == ["skipped README.txt", "skipped day3.nc"]
    with pytest.raises(CorruptFileError, match=r"day3\.nc"):
        sio.read_many([tmp_path / "day1.nc", bad], errors="raise")
    with pytest.raises(ConfigError, match="errors == 'ignore'"):
        sio.read_many(tmp_path, errors="ignore")


def test_read_many_every_file_unreadable(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.warns(SkippedFileWarning, match="a.txt"), \
            pytest.raises(FileFormatError, match="holds no file spikedecode can read"):
        sio.read_many(tmp_path)
