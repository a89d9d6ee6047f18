"""Damaged or random files raise SpikeDecodeError subclasses, never raw library errors."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikedecode
from spikedecode import io as sio
from spikedecode.errors import SpikeDecodeError, SpikeDecodeWarning

SUFFIXES = [".nc", ".nwb", ".npz", ".csv", ".tsv", ".nix", ".mat", ".h5", ""]


def _read_or_specific_error(path: Path) -> None:
    try:
        with warnings.catch_warnings():
            # a damaged table may still parse, e.g. with units left without spikes
            warnings.simplefilter("ignore", SpikeDecodeWarning)
            sio.read(path)
    except SpikeDecodeError:
        pass  # the only acceptable failure
    except ImportError:  # pragma: no cover - optional dependency missing
        pytest.skip("optional reader not installed")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(data, suffix):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"file{suffix}"
        p.write_bytes(data)
        _read_or_specific_error(p)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("valid")
    rec = spikedecode.make_recording(
        [0.1, 0.2, 0.3, 0.7], ["a", "b", "a", "b"], t_stop=1.0,
        epochs=[(0.0, 0.5, "touch/LUM")], session="s", day=1,
    )
    return {s: sio.write(rec, d / f"r{s}").read_bytes() for s in (".nc", ".npz", ".csv", ".nix")}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".nc", ".npz", ".csv", ".nix"]), frac=st.floats(0.0, 0.999))
def test_truncated_valid_files(valid_files, suffix, frac):
    blob = valid_files[suffix]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"cut{suffix}"
        p.write_bytes(blob[: int(len(blob) * frac)])
        _read_or_specific_error(p)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".npz", ".csv"]), pos=st.floats(0.0, 0.999),
       byte=st.integers(0, 255))
def test_flipped_byte(valid_files, suffix, pos, byte):
    blob = bytearray(valid_files[suffix])
    blob[int(len(blob) * pos)] = byte
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"flip{suffix}"
        p.write_bytes(bytes(blob))
        _read_or_specific_error(p)
