"""JSON schemas of Recording, Binned and Windows."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
import xarray as xr

from spikedecode.errors import SchemaError
from spikedecode.schema import SCHEMA_DIR, describe, load_schema, schema_names, validate


def test_schemas_are_valid_json_schema():
    assert schema_names() == ["behavior", "binned", "experiment_config", "recording", "windows"]
    for name in schema_names():
        schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert load_schema(name) == schema


def test_recording_description(small_recording):
    d = describe(small_recording)
    assert d["kind"] == "Dataset"
    assert d["dims"] == {"spike": 7, "epoch": 2, "unit": 3}
    assert d["data_vars"]["spike_time"] == {"dims": ["spike"], "dtype": "float64", "kind": "f"}
    assert validate(small_recording, "recording") is small_recording


def test_binned_and_windows_accept_valid_objects():
    binned = xr.DataArray(
        np.zeros((4, 2), dtype=np.uint8), dims=("time", "unit"),
        coords={"time": np.arange(4) * 0.005, "unit": ["a", "b"]},
        attrs={"bin_size": 0.005, "t_start": 0.0, "t_stop": 0.02},
    )
    assert validate(binned, "binned") is binned
    win = xr.DataArray(
        np.zeros((3, 5, 2), dtype=np.int32), dims=("sample", "lag", "unit"),
        coords={"time": ("sample", np.arange(3.0)), "label": ("sample", ["a", "b", "a"]),
                "trial": ("sample", np.arange(3)), "day": ("sample", [1, 1, 1])},
        attrs={"bin_size": 0.005, "n_bins": 5, "step": 1},
    )
    assert validate(win, "windows") is win
    aligned = win.rename(unit="component").astype(np.float32)
    assert validate(aligned, "windows") is aligned


def test_message_lists_problems_structure_first():
    bad = xr.DataArray(np.zeros((2, 2)), dims=("unit", "time"))
    with pytest.raises(SchemaError) as info:
        validate(bad, "binned")
    msg = str(info.value)
    assert msg.index("at dims") < msg.index("at dtype_kind") < msg.index("at coords")
    assert "bin_spikes()" in msg


def test_windows_trial_must_be_integer():
    win = xr.DataArray(
        np.zeros((2, 5, 1), dtype=np.int32), dims=("sample", "lag", "unit"),
        coords={"time": ("sample", [0.0, 1.0]), "trial": ("sample", [0.5, 1.5])},
        attrs={"bin_size": 0.005, "n_bins": 5, "step": 1},
    )
    with pytest.raises(SchemaError, match="coords/trial/kind"):
        validate(win, "windows")
