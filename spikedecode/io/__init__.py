"""Read recordings from any supported file into a Recording, and write them back.

:func:`read` looks at the content of the file (magic bytes, HDF5 root attributes, zarr
metadata) as well as its suffix, then hands it to the right reader:

=========  ==========================================  ===============================
format     files                                       reader
=========  ==========================================  ===============================
nwb        NWB 2 (HDF5)                                :func:`~spikedecode.io.nwb.read_nwb` (pynwb)
netcdf     netCDF-4 written by spikedecode (.nc)       :func:`~spikedecode.io.netcdf.read_netcdf`
zarr       zarr folder written by spikedecode          :func:`~spikedecode.io.netcdf.read_zarr`
table      csv / tsv, one row per spike                :func:`~spikedecode.io.tables.read_table`
npz        numpy archive (time, unit, ...)             :func:`~spikedecode.io.tables.read_npz`
nix, neo   NIX and every other format neo.io reads     :func:`~spikedecode.io.neo_bridge.read_neo`
=========  ==========================================  ===============================

Every reader and writer validates the Recording against the JSON schema
(:func:`spikedecode.schema.validate`); every writer is atomic.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spikedecode._optional import attempt_import
from spikedecode._validation import Options, check_param
from spikedecode.errors import (
    ConfigError,
    FileFormatError,
    SkippedFileWarning,
    SpikeDecodeError,
    SpikeDecodeWarning,
)
from spikedecode.io._sniff import FORMATS, sniff
from spikedecode.io.neo_bridge import read_neo, write_neo
from spikedecode.io.netcdf import read_netcdf, read_zarr, write_netcdf, write_zarr
from spikedecode.io.nwb import read_interval_table, read_nwb
from spikedecode.io.nwb_write import write_nwb
from spikedecode.io.tables import read_npz, read_table, write_npz, write_table

__all__ = [
    "read",
    "write",
    "read_many",
    "sniff",
    "FORMATS",
    "WRITERS",
    "read_nwb",
    "read_interval_table",
    "read_neo",
    "read_netcdf",
    "read_zarr",
    "read_table",
    "read_npz",
    "write_netcdf",
    "write_zarr",
    "write_table",
    "write_npz",
    "write_neo",
    "write_nwb",
]

_META_KEYS = ("session", "day", "subject", "source")

#: suffix -> writer
WRITERS = {
    ".nc": write_netcdf,
    ".zarr": write_zarr,
    ".csv": write_table,
    ".tsv": write_table,
    ".npz": write_npz,
    ".nix": write_neo,
    ".mat": write_neo,
    ".nwb": write_nwb,
}


def read(
    path: str | Path, *, format: str | None = None, isolate: bool = False, **kwargs: Any
) -> xr.Dataset:
    """Read a recording file (or folder) into a Recording.

    Parameters
    ----------
    path : str or Path
        A file, or a folder for zarr and folder-based neo formats (phy, Open Ephys...).
    format : str, optional
        Skip detection and use this reader: one of :data:`FORMATS`.
    isolate : bool, default=False
        Read in a separate Python process and pass the Recording back through a
        temporary netCDF file. The C readers underneath (HDF5, scipy's MATLAB reader)
        are not hardened against damaged files and can crash the process; isolated, a
        crash becomes a :class:`CorruptFileError`. Costs one interpreter start-up;
        options must then be JSON-serialisable.
    **kwargs
        ``session``, ``day``, ``subject``, ``source`` override the file's metadata; the
        rest go to the reader, e.g. ``intervals=``/``label_column=``/``unit_column=``
        (NWB), ``epochs=``/``time_column=``/``unit_column=`` (tables), ``io=``/
        ``segment=`` (neo).

    Returns
    -------
    xarray.Dataset
        A validated Recording.

    Raises
    ------
    FileMissingError
        ``path`` does not exist.
    FileFormatError
        No reader knows the file (unknown suffix, pickle, foreign HDF5...).
    CorruptFileError
        The file is truncated, damaged, or its content contradicts its suffix.
    SchemaError, RecordingError
        The content does not make a valid Recording.

    Every error's message names the file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = p.write_text("time,unit\\n0.1,a\\n0.4,b\\n")
    >>> read(p, day=3).attrs["day"]
    3
    """
    path = Path(path)
    try:
        return _read(path, format=format, isolate=isolate, **kwargs)
    except SpikeDecodeError as err:
        named = _with_file(err, path)  # every error names its file
        if named is err:
            raise
        # same traceback and cause (e.g. the h5py error), one message that names the file
        raise named.with_traceback(err.__traceback__) from err.__cause__


def _read(path: Path, *, format: str | None, isolate: bool, **kwargs: Any) -> xr.Dataset:
    from spikedecode.recording import check_recording

    if isolate:
        return _read_isolated(path, format=format, **kwargs)
    kind = format or sniff(path)
    if kind not in FORMATS:
        raise FileFormatError(f"format == {format!r}; choose one of {sorted(FORMATS)}.")
    meta = {k: kwargs.pop(k) for k in _META_KEYS if k in kwargs}
    nwb_only = sorted({"intervals", "label_column"} & set(kwargs))
    if nwb_only and kind != "nwb":
        raise FileFormatError(
            f"{path.name}: the {kind} reader takes no options {nwb_only}: only NWB files "
            f"have interval tables. Drop {', '.join(f'{k}=...' for k in nwb_only)}, or give "
            "the epochs another way (a csv's .epochs.csv sidecar, an npz's epoch_* arrays)."
        )
    if kind == "nwb":
        rec = read_nwb(path, **kwargs, **meta)
    elif kind in ("netcdf", "netcdf3"):
        _no_kwargs(kind, kwargs)
        rec = read_netcdf(path, engine="scipy" if kind == "netcdf3" else "h5netcdf")
    elif kind == "zarr":
        _no_kwargs(kind, kwargs)
        rec = read_zarr(path)
    elif kind == "table":
        rec = read_table(path, **kwargs, **meta)
    elif kind == "npz":
        rec = read_npz(path, **kwargs, **meta)
    else:  # nix and every other neo format
        if kind == "nix":
            attempt_import("nixio", "to read NIX files")
            kwargs.setdefault("io", "NixIO")
        rec = read_neo(path, **kwargs, **meta)
    if meta:
        rec = rec.copy(deep=False)
        for k, v in meta.items():
            if k == "day" and isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                rec.attrs[k] = int(v)
            else:
                rec.attrs[k] = str(v)
    return check_recording(rec)


_CHILD = """
import json, sys
from spikedecode import errors
from spikedecode.io import read, write
args = json.loads(sys.argv[1])
try:
    write(read(args["path"], format=args["format"], **args["kwargs"]), args["out"])
except errors.SpikeDecodeError as err:
    with open(args["err"], "w") as fh:
        json.dump({"type": type(err).__name__, "message": str(err)}, fh)
    sys.exit(3)
"""


def _read_isolated(path: Path, *, format: str | None, **kwargs: Any) -> xr.Dataset:
    import json
    import subprocess
    import sys
    import tempfile

    from spikedecode import errors
    from spikedecode.errors import CorruptFileError

    path = path.resolve()
    with tempfile.TemporaryDirectory(prefix="spikedecode-read-") as tmp:
        out, err_file = Path(tmp) / "rec.nc", Path(tmp) / "error.json"
        try:
            args = json.dumps(
                {"path": str(path), "format": format, "kwargs": kwargs, "out": str(out),
                 "err": str(err_file)}
            )
        except TypeError as err:
            raise ConfigError(
                f"read(..., isolate=True) passes options to a child process as JSON; "
                f"{sorted(kwargs)} are not all JSON-serialisable ({err}). Pass file paths "
                "or plain lists instead."
            ) from err
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, args], capture_output=True, text=True, check=False
        )
        if proc.returncode == 3 and err_file.exists():
            info = json.loads(err_file.read_text())
            cls = getattr(errors, info["type"], errors.SpikeDecodeError)
            raise cls(info["message"])
        if proc.returncode != 0:
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
            tail = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
            raise CorruptFileError(
                f"the reader crashed ({how}) on {path}: the file is damaged in a way the "
                f"underlying C library does not catch. {' '.join(tail)}"
            )
        return read_netcdf(out)


def _no_kwargs(kind: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise FileFormatError(
            f"the {kind} reader takes no options; got {sorted(kwargs)} (only session, day, "
            "subject, source may override the stored metadata)."
        )


def write(rec: xr.Dataset, path: str | Path, **kwargs: Any) -> Path:
    """Write a Recording, atomically, in the format its suffix names.

    ``.nc`` (netCDF-4) and ``.zarr`` keep everything; ``.csv``/``.tsv`` (+ a sibling
    ``.epochs.csv``), ``.npz``, ``.nix`` and ``.mat`` (through neo) and ``.nwb``
    (:func:`~spikedecode.io.nwb_write.write_nwb`, with ``behavior=``) are also written.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to write.
    path : str or Path
        Destination; its suffix chooses the format.
    **kwargs
        Passed to the format's writer.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0, day=2)
    >>> p = write(rec, pathlib.Path(tempfile.mkdtemp()) / "day2.nc")
    >>> read(p).identical(rec)
    True
    """
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise FileFormatError(
            f"cannot write suffix {path.suffix or '(none)'!r} ({path.name}); use one of "
            f"{sorted(WRITERS)} (.nc or .zarr keep every field)."
        )
    return writer(rec, path, **kwargs)


def _candidates(folder: Path, errors: str) -> list[Path]:
    """Files of ``folder`` that some reader claims; the others are skipped with a warning."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.endswith(".epochs.csv"):
            continue  # hidden files and epoch sidecars are not recordings: skip quietly
        try:
            sniff(p)
        except SpikeDecodeError as err:
            _skip_or_raise(p, err, errors)
            continue
        out.append(p)
    return out


def _with_file(err: SpikeDecodeError, path: Path) -> SpikeDecodeError:
    """``err`` itself when its message names ``path``, else the same error prefixed with it."""
    msg = str(err)
    if path.name in msg:
        return err
    try:
        new = type(err)(f"{path}: {msg}")
    except TypeError:  # an error class with another signature: keep the original
        return err
    new.__cause__ = err.__cause__ or err
    return new


def _skip_or_raise(path: Path, err: SpikeDecodeError, errors: str) -> None:
    err = _with_file(err, path)
    if errors == "raise":
        raise err
    warnings.warn(
        f"skipped {path.name}: {type(err).__name__}: {err}",
        SkippedFileWarning,
        stacklevel=3,
    )


def _day_key(p: Path) -> int | str:
    m = re.search(r"(\d+)$", p.name.split(".")[0])
    return int(m.group(1)) if m else p.name.split(".")[0]


def read_many(
    paths: str | Path | Iterable[str | Path], *, errors: str = "warn", **kwargs: Any
) -> dict[Any, xr.Dataset]:
    """Read several recordings into a dict ``day -> Recording``.

    Parameters
    ----------
    paths : folder or iterable of paths
        A folder is scanned (sorted by name) for files spikedecode can read; hidden files
        and ``*.epochs.csv`` sidecars are skipped.
    errors : {"warn", "raise"}, default="warn"
        What to do with a file that cannot be read (unknown type, damaged, not a valid
        Recording): skip it with a :class:`~spikedecode.errors.SkippedFileWarning` that
        names it and says why, or raise its error. Either way the message names the file.
    **kwargs
        Passed to :func:`read` for every file.

    Returns
    -------
    dict
        Keyed by each Recording's ``attrs["day"]`` when these are unique; otherwise by the
        trailing number of each file name (``day03.nc`` -> 3) or its stem, and
        ``attrs["day"]`` is set to that key (with a :class:`SpikeDecodeWarning`).

    Raises
    ------
    FileFormatError
        No file could be read, or two files map to the same day.
    ConfigError
        ``errors`` is not ``"warn"`` or ``"raise"``.

    Warns
    -----
    SkippedFileWarning
        For each file skipped with ``errors="warn"``.

    Examples
    --------
    >>> import tempfile, pathlib, warnings
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "day1.csv").write_text("time,unit\\n0.1,a\\n")
    >>> _ = (d / "README.txt").write_text("notes")
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     recs = read_many(d)
    >>> list(recs), [str(x.message)[:18] for x in w]
    ([0], ['skipped README.txt'])
    """
    check_param(errors, "errors", Options("warn", "raise"))
    if isinstance(paths, (str, Path)) and Path(paths).is_dir():
        files = _candidates(Path(paths), errors)
        where = f"folder {str(paths)!r}"
    elif isinstance(paths, (str, Path)):
        files = [Path(paths)]
        where = str(paths)
    else:
        files = [Path(p) for p in paths]
        where = f"{len(files)} path(s)"
    read_files, recs = [], []
    for p in files:
        try:
            rec = read(p, **kwargs)
        except SpikeDecodeError as err:
            _skip_or_raise(p, err, errors)
            continue
        read_files.append(p)
        recs.append(rec)
    if not recs:
        raise FileFormatError(
            f"{where} holds no file spikedecode can read"
            + (" (see the warnings above for why each was skipped)." if files else ".")
        )
    files = read_files
    days = [r.attrs["day"] for r in recs]
    if len(set(days)) == len(days):
        return dict(zip(days, recs))
    keys = [_day_key(p) for p in files]
    if len(set(keys)) != len(keys):
        raise FileFormatError(
            f"the files {[p.name for p in files]} do not map to distinct days (attrs day "
            f"{days}, names {keys}); pass day= per file with read() and build the dict."
        )
    warnings.warn(
        f"the recordings' attrs['day'] are not unique ({days}); keyed them by file name "
        f"instead: {keys}.",
        SpikeDecodeWarning,
        stacklevel=2,
    )
    out = {}
    for k, r in zip(keys, recs):
        r = r.copy(deep=False)
        r.attrs["day"] = k
        out[k] = r
    return out
