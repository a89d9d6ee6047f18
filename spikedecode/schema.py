"""Validation against the JSON Schemas in ``spikedecode/data_schemas/``.

Recordings, Binned and Windows: an xarray object is first described as a small
JSON-able dict (dims, variables with their dims and dtype, coords, attrs) by
:func:`describe`; that description is checked with ``jsonschema``. The schemas are the
on-disk contract: every reader and writer of :mod:`spikedecode.io` calls :func:`validate`.

Experiment configs (the ``--config FILE`` of ``spikedecode decode`` and
``spikedecode consistency``) are read by :func:`load_config` and checked by
:func:`validate_config` against ``experiment_config.schema.json``.

The schema files live inside the package (so they ship in the wheel); the repository's
top-level ``data_schemas`` is a symbolic link to that folder.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spikedecode.errors import ConfigError, SchemaError, SpikeDecodeTypeError

__all__ = ["SCHEMA_DIR", "load_schema", "describe", "validate", "schema_names",
           "load_config", "validate_config", "config_keys"]

SCHEMA_DIR = Path(__file__).with_name("data_schemas")


def schema_names() -> list[str]:
    """Names of the shipped schemas.

    Examples
    --------
    >>> schema_names()
    ['behavior', 'binned', 'experiment_config', 'recording', 'windows']
    """
    return sorted(p.name.split(".")[0] for p in SCHEMA_DIR.glob("*.schema.json"))


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Load the JSON Schema called ``name`` (one of :func:`schema_names`).

    Examples
    --------
    >>> load_schema("recording")["title"]
    'Recording'
    """
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
            "behavior": "Build it with spikedecode.preprocess.make_behavior()",
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


def config_keys(section: str) -> list[str]:
    """The keys a ``[section]`` of an experiment config may hold (sorted).

    Examples
    --------
    >>> "n_splits" in config_keys("decode") and "align" in config_keys("consistency")
    True
    """
    defs = load_schema("experiment_config")["$defs"]
    if section not in defs or section not in load_schema("experiment_config")["properties"]:
        raise ConfigError(f"no config section {section!r}; use 'decode' or 'consistency'.")
    sub = defs[section]
    keys = set(sub.get("properties", {}))
    ref = sub.get("$ref", "")
    if ref.startswith("#/$defs/"):
        keys |= set(defs[ref.rsplit("/", 1)[1]].get("properties", {}))
    return sorted(keys)


def validate_config(config: Mapping[str, Any], *, source: str = "config") -> dict[str, Any]:
    """Check an experiment config against ``experiment_config.schema.json``.

    Parameters
    ----------
    config : mapping
        ``{"decode": {...}, "consistency": {...}}``; each table holds long options of that
        command, written with ``_`` for ``-`` (``n_splits`` for ``--n-splits``).
    source : str
        Where the config came from (a file name), quoted in the error message.

    Returns
    -------
    dict
        ``config`` as a plain dict, unchanged.

    Raises
    ------
    ConfigError
        Naming the first bad field (``decode.n_splits``), its value and what is expected.

    Examples
    --------
    >>> validate_config({"decode": {"decoder": "logistic,svm", "bin": "5ms", "n_splits": 4}})
    {'decode': {'decoder': 'logistic,svm', 'bin': '5ms', 'n_splits': 4}}
    >>> validate_config({"decode": {"n_splits": 1}})
    Traceback (most recent call last):
    ...
    spikedecode.errors.ConfigError: config: at decode.n_splits: 1 is less than the minimum of 2. ...
    """
    import jsonschema

    if not isinstance(config, Mapping):
        raise ConfigError(
            f"{source}: an experiment config is a table (mapping) of command sections; "
            f"got {type(config).__name__}."
        )
    schema = load_schema("experiment_config")
    for section, table in config.items():
        if section not in schema["properties"]:
            raise ConfigError(
                f"{source}: unknown section {section!r}; the sections are "
                f"{', '.join(map(repr, schema['properties']))}. Rename or remove it."
            )
        if isinstance(table, Mapping):
            known = config_keys(section)
            unknown = sorted(set(map(str, table)) - set(known))
            if unknown:
                raise ConfigError(
                    f"{source}: unknown key {section}.{unknown[0]}"
                    f" (= {table[unknown[0]]!r}); the keys of [{section}] mirror the long"
                    f" options of `spikedecode {section} --help` ('--n-splits' is 'n_splits'):"
                    f" {', '.join(known)}."
                )
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        expected = err.schema.get("description") if isinstance(err.schema, Mapping) else None
        expected = expected.rstrip(".") if expected else None
        command = str(err.absolute_path[0]) if err.absolute_path else "decode"
        raise ConfigError(
            f"{source}: at {where}: {err.message}"
            + (f" (expected: {expected})" if expected else "")
            + f". Fix or remove that key: the sections are 'decode' and 'consistency', and"
            f" their keys mirror the long options of `spikedecode {command} --help`"
            f" ('--n-splits' is 'n_splits'); see experiment_config.schema.json."
            + (f" ({len(errors) - 1} more problem(s).)" if len(errors) > 1 else "")
        )
    return dict(config)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an experiment config file (``.json`` or ``.toml``) and validate it.

    Parameters
    ----------
    path : str or path-like
        A JSON file, or a TOML file (read with :mod:`tomllib`, or ``tomli`` on
        Python 3.10).

    Returns
    -------
    dict
        The validated config (see :func:`validate_config`).

    Raises
    ------
    ConfigError
        If the file is missing, cannot be parsed, or fails the schema.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "exp.toml"
    >>> _ = p.write_text('[decode]\\ndecoder = ["logistic"]\\nwindow = 10\\n')
    >>> load_config(p)["decode"]["window"]
    10
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist; pass a .json or .toml file.")
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{p.name}: not valid JSON ({err}); fix the file.") from err
    elif suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10: the tomli backport
            from spikedecode._optional import attempt_import

            tomllib = attempt_import("tomli", "to read TOML configs on Python 3.10 (or use JSON)")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{p.name}: not valid TOML ({err}); fix the file.") from err
    else:
        raise ConfigError(
            f"config file {p.name!r} has suffix {p.suffix!r}; use a .json or .toml file."
        )
    return validate_config(data, source=p.name)
