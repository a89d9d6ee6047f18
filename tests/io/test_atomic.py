"""An interrupted write leaves the previous file intact and no temporary file behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import spikedecode
from spikedecode import io as sio


class Interrupted(RuntimeError):
    pass


def _recs():
    old = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0, day=1)
    new = spikedecode.make_recording([0.3, 0.4, 0.5], ["a", "b", "c"], t_stop=2.0, day=2)
    return old, new


def _break_after_partial_write(monkeypatch, suffix):
    """Make the underlying writer put some bytes on disk, then raise."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    if suffix == ".nc":
        real = xr.Dataset.to_netcdf

        def boom(self, path, *a, **k):
            real(self, path, *a, **k)  # a complete file under the temporary name...
            with open(path, "r+b") as fh:
                fh.truncate(100)  # ...cut short, as if the disk filled up
            raise Interrupted("disk full")

        monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    elif suffix == ".zarr":
        real = xr.Dataset.to_zarr

        def boom(self, path, *a, **k):
            real(self, path, *a, **k)
            raise Interrupted("killed")

        monkeypatch.setattr(xr.Dataset, "to_zarr", boom)
    elif suffix == ".csv":
        def boom(self, fh, *a, **k):
            fh.write("0.1,a\n0.2")
            raise Interrupted("killed")

        monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    elif suffix == ".npz":
        def boom(file, *a, **k):
            file.write(b"PK\x03\x04 partial")
            raise Interrupted("killed")

        monkeypatch.setattr(np, "savez", boom)
    elif suffix == ".nix":
        import neo

        def boom(self, block, *a, **k):
            raise Interrupted("killed")

        monkeypatch.setattr(neo.io.NixIO, "write_block", boom)


@pytest.mark.parametrize("suffix", [".nc", ".zarr", ".csv", ".npz", ".nix"])
def test_interrupted_write_keeps_old_file(tmp_path, monkeypatch, suffix):
    old, new = _recs()
    path = tmp_path / f"rec{suffix}"
    sio.write(old, path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with monkeypatch.context() as m:
        _break_after_partial_write(m, suffix)
        with pytest.raises(Interrupted):
            sio.write(new, path)
    # the old file is still there, complete, and nothing else was left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sio.read(path).identical(old)
    # and a write that is not interrupted replaces it
    sio.write(new, path)
    assert sio.read(path).identical(new)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_interrupted_first_write_leaves_nothing(tmp_path, monkeypatch, suffix):
    _, new = _recs()
    _break_after_partial_write(monkeypatch, suffix)
    with pytest.raises(Interrupted):
        sio.write(new, tmp_path / f"rec{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


@pytest.mark.parametrize("suffix", [".nc", ".zarr", ".csv", ".npz"])
def test_written_files_get_the_umask_permissions(tmp_path, umask_027, suffix):
    # mkstemp makes 0600 files; the written file must look like any new file (0640 here)
    path = sio.write(_recs()[0], tmp_path / f"rec{suffix}")
    mode = path.stat().st_mode & 0o777
    assert mode == (0o750 if suffix == ".zarr" else 0o640)


def test_saved_json_gets_the_umask_permissions(tmp_path, umask_027):
    from spikedecode.serialization import save_json

    assert save_json({"a": 1}, tmp_path / "report.json").stat().st_mode & 0o777 == 0o640


def test_next_write_removes_temporaries_of_a_killed_write(tmp_path):
    from spikedecode.serialization import _TMP_TAG

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)  # this process has exited: its temporaries are stale
    live_pid = os.getppid()  # alive: a concurrent writer, never touched
    stale = tmp_path / f".rec.nc.{dead_pid}.{_TMP_TAG}.abcd1234.nc"
    stale.write_bytes(b"\x89HDF half")
    stale_dir = tmp_path / f".rec.nc.{dead_pid}.{_TMP_TAG}.efgh5678.zarr"
    stale_dir.mkdir()
    live = tmp_path / f".rec.nc.{live_pid}.{_TMP_TAG}.ijkl9012.nc"
    live.write_bytes(b"in progress")
    other = tmp_path / f".other.nc.{dead_pid}.{_TMP_TAG}.mnop3456.nc"  # another target
    other.write_bytes(b"x")
    sio.write(_recs()[0], tmp_path / "rec.nc")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["rec.nc", live.name, other.name])
