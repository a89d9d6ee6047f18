"""read(..., isolate=True): a reader that crashes the interpreter becomes an error."""

from __future__ import annotations

from pathlib import Path

import pytest

import spikedecode
from spikedecode import io as sio
from spikedecode.errors import ConfigError, CorruptFileError, FileFormatError

# A damaged NeoMatlabIO file found by fuzzing: scipy.io.loadmat segfaults on it
# (scipy's MATLAB reader is not hardened against damaged input).
CRASHER = Path(__file__).parent / "data" / "scipy_segfault.mat"


def test_isolated_read_equals_direct_read(tmp_path):
    rec = spikedecode.make_recording([0.1, 0.4], ["a", "b"], t_stop=1.0, day=5,
                                     epochs=[(0.0, 0.5, "x")])
    p = sio.write(rec, tmp_path / "r.csv")
    assert sio.read(p, isolate=True, day=6).identical(sio.read(p, day=6))


def test_isolated_crash_is_a_corrupt_file_error():
    # here (scipy 1.x) the child segfaults; a scipy that rejects the file cleanly gives
    # neo's error instead — both must surface as CorruptFileError, never as a crash
    with pytest.raises(CorruptFileError, match=r"the reader crashed \(signal 11\)|neo could not read"):
        sio.read(CRASHER, isolate=True)


def test_isolated_errors_keep_their_class(tmp_path):
    (tmp_path / "bad.csv").write_text("t,u\n1,2\n")
    with pytest.raises(FileFormatError, match=r"missing column\(s\) \['time', 'unit'\]"):
        sio.read(tmp_path / "bad.csv", isolate=True)


def test_isolated_options_must_be_json(tmp_path):
    (tmp_path / "s.csv").write_text("time,unit\n0.1,a\n")
    with pytest.raises(ConfigError, match="not all JSON-serialisable"):
        sio.read(tmp_path / "s.csv", isolate=True, epochs=object())
