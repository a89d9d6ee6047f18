"""Validation of Recordings, Binned and Windows against ``data_schemas/*.schema.json``.

An xarray object is first described as a small JSON-able dict (dims, variables with
their dims and dtype, coords, attrs) by :func:`describe`; that description is checked
with ``jsonschema``. The schemas are the on-disk contract: every reader and writer of
:mod:`spikedecode.io` calls :func:`validate`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spikedecode.errors import SchemaError, SpikeDecodeTypeError

__all__ = ["SCHEMA_DIR", "load_schema", "describe", "validate", "schema_names"]

SCHEMA_DIR = Path(__file__).with_name("data_schemas")


def schema_names() -> list[str]:
    """Names of the shipped schemas, e.g. ``['binned', 'recording', 'windows']``."""
    return sorted(p.name.split(".")[0] for p in SCHEMA_DIR.glob("*.schema.json"))


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Load the JSON Schema called ``name`` (``recording``, ``binned``, ``windows``)."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.exists():
        raise SchemaError(f"no schema named {name!r}; known schemas: {schema_names()}.")
    return json.loads(path.read_text())


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _var(da: xr.DataArray) -> dict[str, Any]:
    return {"dims": list(da.dims), "dtype": str(da.dtype), "kind": da.dtype.kind}


def describe(obj: xr.Dataset | xr.DataArray) -> dict[str, Any]:
    """Describe an xarray object as a JSON-able dict (what the schemas check).

    Examples
    --------
    >>> import xarray as xr
    >>> describe(xr.DataArray([[1]], dims=("time", "unit")))["dims"]
    ['time', 'unit']
    """
    if isinstance(obj, xr.Dataset):
        return {
            "kind": "Dataset",
            "dims": {str(k): int(v) for k, v in obj.sizes.items()},
            "data_vars": {str(k): _var(v) for k, v in obj.data_vars.items()},
            "coords": {str(k): _var(v) for k, v in obj.coords.items()},
            "attrs": {str(k): _jsonable(v) for k, v in obj.attrs.items()},
        }
    if isinstance(obj, xr.DataArray):
        return {
            "kind": "DataArray",
            "dims": [str(d) for d in obj.dims],
            "dtype": str(obj.dtype),
            "dtype_kind": obj.dtype.kind,
            "coords": {str(k): _var(v) for k, v in obj.coords.items()},
            "attrs": {str(k): _jsonable(v) for k, v in obj.attrs.items()},
        }
    raise SpikeDecodeTypeError(
        f"expected an xarray Dataset or DataArray; got {type(obj).__name__}."
    )


def validate(obj: Any, name: str) -> Any:
    """Validate ``obj`` against the schema ``name`` and return it unchanged.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
    name : {"recording", "binned", "windows"}

    Raises
    ------
    SchemaError
        With the path of the first failing field and what was expected.

    Examples
    --------
    >>> from spikedecode.recording import make_recording
    >>> rec = make_recording([0.1], [0], units=["u"], t_stop=1.0)
    >>> validate(rec, "recording") is rec
    True
    """
    import jsonschema

    schema = load_schema(name)
    desc = describe(obj)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(desc), key=_priority)
    if errors:
        problems = []
        for err in errors[:4]:
            where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
            problems.append(f"at {where}: {err.message}")
        hint = {
            "recording": "Build it with spikedecode.make_recording() or read it with spikedecode.read()",
            "binned": "Build it with spikedecode.preprocess.bin_spikes()",
            "windows": "Build it with spikedecode.preprocess.sliding_windows()",
        }.get(name, "")
        raise SchemaError(
            f"not a valid {name}: " + "; ".join(problems) + f". {hint}."
            + (f" ({len(errors) - 4} more problem(s).)" if len(errors) > 4 else "")
        )
    return obj


_ORDER = {"kind": 0, "dims": 1, "dtype": 2, "dtype_kind": 2, "data_vars": 3, "coords": 4, "attrs": 5}


def _priority(err: Any) -> tuple[int, list[str]]:
    """Structure first (kind, dims, dtype), then variables, coords, attrs."""
    path = [str(p) for p in err.absolute_path]
    return (_ORDER.get(path[0], 6) if path else -1, path)
