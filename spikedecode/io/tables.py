"""Plain spike tables: csv/tsv (one row per spike) and npz archives of arrays.

**csv/tsv** need a ``time`` column (seconds) and a ``unit`` column (any id; read as
text, so ``"007"`` stays ``"007"``). An optional first line
``# spikedecode {json}`` carries what a table cannot hold (``t_start``, ``t_stop``,
units without spikes, session metadata); spikedecode writes it and reads it back.
Epochs come from ``epochs=`` (a table or a path), else a sibling file
``<name>.epochs.csv`` with columns ``start``, ``stop``, ``label``.

**npz** archives need arrays ``time`` and ``unit``; optional ``units``, ``t_start``,
``t_stop``, ``epoch_start``, ``epoch_stop``, ``epoch_label`` and ``meta`` (a JSON string).
They are loaded with ``allow_pickle=False``: an archive holding Python objects is refused.
"""

from __future__ import annotations

import io as _io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spikedecode.errors import (
    CorruptFileError,
    FileFormatError,
    FileMissingError,
    SpikeDecodeError,
    SpikeDecodeTypeError,
)
from spikedecode.recording import _ids_text

__all__ = ["read_table", "write_table", "read_npz", "write_npz", "epochs_path"]

_META_TAG = "# spikedecode "
_CORE = ("t_start", "t_stop", "session", "day", "subject", "source", "schema_version")


def epochs_path(path: str | Path) -> Path:
    """The sibling epoch table of a spike table: ``spikes.csv`` -> ``spikes.epochs.csv``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.epochs.csv")


def _sep(path: Path, sep: str | None) -> str:
    if sep is not None:
        return sep
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def _read_epochs_table(path: Path) -> Any:
    import pandas as pd

    try:
        df = pd.read_csv(path, sep=None, engine="python", dtype={"label": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"epoch table {path} could not be parsed ({err}).") from err
    missing = [c for c in ("start", "stop", "label") if c not in df.columns]
    if missing:
        raise FileFormatError(
            f"epoch table {path} is missing column(s) {missing}; got {list(df.columns)}. "
            "It needs 'start', 'stop' (seconds) and 'label'."
        )
    return df


def _epochs_arg(epochs: Any, path: Path) -> Any:
    if epochs is None:
        side = epochs_path(path)
        return _read_epochs_table(side) if side.exists() else None
    if isinstance(epochs, (str, Path)):
        ep = Path(epochs)
        if not ep.exists():
            raise FileMissingError(f"epochs file {str(ep)!r} does not exist.")
        return _read_epochs_table(ep)
    return epochs


def _check_meta(meta: Any, path: Path, where: str) -> dict[str, Any]:
    """The stored metadata, checked field by field (a damaged header names its field)."""
    if not isinstance(meta, dict):
        raise CorruptFileError(
            f"{path}: {where} must hold a JSON object ({{\"t_stop\": ..., ...}}); got a JSON "
            f"{type(meta).__name__}. Remove the line or write the file again with spikedecode."
        )
    for key in ("t_start", "t_stop"):
        v = meta.get(key)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v)
        ):
            raise CorruptFileError(
                f"{path}: {where} has {key} == {v!r}; it must be a finite number of seconds "
                "(or be left out)."
            )
    units = meta.get("units")
    if units is not None and not (
        isinstance(units, list) and all(isinstance(u, (str, int)) for u in units)
    ):
        raise CorruptFileError(
            f"{path}: {where} has units == {str(units)[:80]}; it must be a list of unit ids "
            "(text or integers)."
        )
    day = meta.get("day")
    if day is not None and (isinstance(day, bool) or not isinstance(day, (int, str))):
        raise CorruptFileError(
            f"{path}: {where} has day == {day!r}; it must be an integer or a text."
        )
    return meta


def _split_meta(meta: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    core = {k: meta[k] for k in ("session", "day", "subject", "source") if k in meta}
    extra = {k: v for k, v in meta.items() if k not in _CORE and k != "units"}
    return core, extra


def read_table(
    path: str | Path,
    *,
    time_column: str = "time",
    unit_column: str = "unit",
    sep: str | None = None,
    epochs: Any = None,
    time_unit: str = "s",
    **kwargs: Any,
) -> xr.Dataset:
    """Read a csv/tsv spike table (one row per spike) as a Recording.

    Parameters
    ----------
    path : str or Path
    time_column, unit_column : str, default="time", "unit"
        Names of the spike time and unit columns.
    sep : str, optional
        Column separator; default ``","`` (``"\\t"`` for .tsv).
    epochs : table or path, optional
        Epoch table (start, stop, label); default the sibling ``<name>.epochs.csv``.
    time_unit : {"s", "ms"}, default="s"
        Unit of the time column.
    **kwargs
        ``t_start``, ``t_stop``, ``session``, ``day``, ``subject``, ``source``, ``outside``.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = p.write_text("time,unit\\n0.5,a\\n0.1,b\\n0.2,a\\n")
    >>> read_table(p).spikedecode.unit("a").tolist()
    [0.2, 0.5]
    """
    import pandas as pd

    from spikedecode.recording import make_recording

    path = Path(path)
    meta: dict[str, Any] = {}
    try:
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first line
        with open(path, encoding="utf-8-sig") as fh:
            first = fh.readline()
            header = fh.readline() if first.startswith(_META_TAG) else first
    except UnicodeDecodeError as err:
        raise CorruptFileError(f"{path} is not a text table (not UTF-8: {err}).") from err
    skip = 0
    if first.startswith(_META_TAG):
        try:
            meta = json.loads(first[len(_META_TAG) :])
        except ValueError as err:
            raise CorruptFileError(
                f"{path}: the '# spikedecode' header line is not valid JSON ({err})."
            ) from err
        meta = _check_meta(meta, path, "the '# spikedecode' header line")
        skip = 1
    try:
        df = pd.read_csv(
            path,
            sep=_sep(path, sep),
            skiprows=skip,
            dtype={unit_column: str},
            keep_default_na=False,
            comment=None,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError as err:
        raise CorruptFileError(f"{path} has no header and no rows ({err}).") from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise CorruptFileError(f"{path} could not be parsed as a table ({err}).") from err
    import csv

    names = [c.strip() for c in next(csv.reader([header], delimiter=_sep(path, sep)), [])]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise FileFormatError(
            f"{path}: column(s) {repeated} appear more than once in the header {names}; "
            "pandas would rename the copies and one of them would be read silently. Keep "
            "one column of each name."
        )
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in (time_column, unit_column) if c not in df.columns]
    if missing:
        raise FileFormatError(
            f"{path} is missing column(s) {missing}; the header is {list(df.columns)}. A spike "
            f"table needs a '{time_column}' column (seconds) and a '{unit_column}' column; "
            "rename the columns or pass time_column=/unit_column=."
        )
    raw_t = df[time_column]
    t = pd.to_numeric(raw_t, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(t) & ~raw_t.astype(str).str.strip().str.lower().isin(["nan"]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SpikeDecodeTypeError(
            f"column '{time_column}' of {path} must hold numbers (seconds); row {i + 1} holds "
            f"{raw_t.iloc[i]!r}. Fix the export or drop that row."
        )
    if time_unit == "ms":
        t = t / 1000.0
    elif time_unit != "s":
        raise FileFormatError(f"time_unit == {time_unit!r}, must be 's' or 'ms'.")
    u = df[unit_column].astype(str).to_numpy()
    core, extra = _split_meta(meta)
    core.setdefault("source", path.name)
    opts: dict[str, Any] = {
        "t_start": meta.get("t_start"),
        "t_stop": meta.get("t_stop"),
        "epochs": _epochs_arg(epochs, path),
        **core,
    }
    if extra:
        opts["attrs"] = extra
    opts.update(kwargs)
    units = meta.get("units")
    if units is not None:
        opts["units"] = [str(x) for x in units]
    return make_recording(t, u, **opts)


def _write_epochs(rec: xr.Dataset, path: Path, sep: str) -> None:
    from spikedecode.serialization import atomic_path

    side = epochs_path(path)
    if not rec.sizes["epoch"]:
        if side.exists():
            side.unlink()  # a stale sidecar would attach old epochs to the new spikes
        return
    import pandas as pd

    df = pd.DataFrame(
        {
            "start": rec["epoch_start"].values,
            "stop": rec["epoch_stop"].values,
            "label": rec["epoch_label"].values.astype(str),
        }
    )
    with atomic_path(side, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format=None)


def _meta(rec: xr.Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in rec.attrs.items():
        v = v.item() if isinstance(v, np.generic) else v
        if isinstance(v, (str, int, float, bool)):
            out[str(k)] = v
    out["units"] = rec["unit"].values.astype(str).tolist()
    return out


def write_table(rec: xr.Dataset, path: str | Path, *, sep: str | None = None) -> Path:
    """Write a Recording as a csv/tsv spike table (+ ``<name>.epochs.csv``), atomically.

    Times are written with full precision (shortest repr that round-trips), and the
    metadata line keeps ``t_start``, ``t_stop``, all unit ids and the session attrs.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to write.
    path : str or Path
        Destination ``.csv`` or ``.tsv`` file.
    sep : str, optional
        Column separator; default from the suffix (tab for ``.tsv``, else comma).

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0)
    >>> p = write_table(rec, pathlib.Path(tempfile.mkdtemp()) / "day1.csv")
    >>> read_table(p)["spike_time"].values.tolist()
    [0.1, 0.2]
    """
    import pandas as pd

    from spikedecode.io._checks import check_writable
    from spikedecode.recording import check_recording
    from spikedecode.serialization import atomic_path

    check_writable(check_recording(rec))
    path = Path(path)
    sep = _sep(path, sep)
    units = rec["unit"].values.astype(str)
    df = pd.DataFrame(
        {"time": rec["spike_time"].values, "unit": units[rec["spike_unit"].values]}
    )
    with atomic_path(path, suffix=path.suffix) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(_META_TAG + json.dumps(_meta(rec)) + "\n")
            df.to_csv(fh, sep=sep, index=False, float_format=None, lineterminator="\n")
    _write_epochs(rec, path, ",")
    return path


def read_npz(path: str | Path, *, epochs: Any = None, **kwargs: Any) -> xr.Dataset:
    """Read an npz archive of spike arrays (``time``, ``unit``, ...) as a Recording.

    Loaded with ``allow_pickle=False``.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` archive.
    epochs : optional
        Epochs to attach, as for :func:`read_table`.
    **kwargs
        Passed to :func:`spikedecode.make_recording` (``session``, ``day``...), over the
        archive's own metadata.

    Returns
    -------
    xarray.Dataset
        A validated Recording.

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0)
    >>> p = write_npz(rec, pathlib.Path(tempfile.mkdtemp()) / "day1.npz")
    >>> read_npz(p)["spike_time"].values.tolist()
    [0.1, 0.2]
    """
    from spikedecode.recording import make_recording

    path = Path(path)
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            arrays = {k: z[k] for k in names if k in _NPZ_KEYS}  # nothing else is read
    except SpikeDecodeError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise FileFormatError(
                f"{path} holds Python object arrays, which would need unpickling; spikedecode "
                "never unpickles users' files. Save str/float arrays (e.g. unit.astype(str))."
            ) from err
        raise CorruptFileError(f"{path} is not a valid npz archive ({err}).") from err
    except Exception as err:  # zipfile/zlib/numpy raise many types: never leak them
        raise CorruptFileError(
            f"{path} is not a valid npz archive ({type(err).__name__}: {err}); it is "
            "truncated or damaged."
        ) from err
    missing = [k for k in ("time", "unit") if k not in arrays]
    if missing:
        raise FileFormatError(
            f"{path} is missing array(s) {missing}; it has {sorted(names)}. Save it with "
            "numpy.savez(path, time=spike_times, unit=spike_units)."
        )
    meta: dict[str, Any] = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except ValueError as err:
            raise CorruptFileError(f"{path}: array 'meta' is not a JSON string ({err}).") from err
        meta = _check_meta(meta, path, "array 'meta'")
    core, extra = _split_meta(meta)
    core.setdefault("source", path.name)
    opts: dict[str, Any] = dict(core)
    for k in ("t_start", "t_stop"):
        if k in arrays:
            val = np.asarray(arrays[k]).reshape(-1)
            if val.size != 1 or val.dtype.kind not in "fiu":
                raise SpikeDecodeTypeError(
                    f"{path}: array '{k}' must be one number (seconds); got shape "
                    f"{arrays[k].shape}, dtype {arrays[k].dtype}."
                )
            opts[k] = float(val[0])
    if "units" in arrays:
        opts["units"] = _ids_text(arrays["units"].reshape(-1), f"{path}: array 'units'").tolist()
    partial = sorted({"epoch_start", "epoch_stop"} & set(arrays))
    if len(partial) == 1 or ("epoch_label" in arrays and not partial):
        have = partial or ["epoch_label"]
        raise FileFormatError(
            f"{path}: holds {have} but not {sorted({'epoch_start', 'epoch_stop'} - set(have))}; "
            "epochs need epoch_start and epoch_stop (and optionally epoch_label), all of one "
            "length. Add the missing array(s), or remove the epoch arrays."
        )
    if {"epoch_start", "epoch_stop"} <= set(arrays):
        lab = arrays.get("epoch_label", np.full(arrays["epoch_start"].shape, "epoch"))
        opts["epochs"] = {
            "start": arrays["epoch_start"],
            "stop": arrays["epoch_stop"],
            "label": _ids_text(lab.reshape(-1), f"{path}: array 'epoch_label'"),
        }
    ep = _epochs_arg(epochs, path)
    if ep is not None:
        opts["epochs"] = ep
    if extra:
        opts["attrs"] = extra
    opts.update(kwargs)
    unit = arrays["unit"]
    if unit.dtype.kind in "SO":
        unit = _ids_text(unit.reshape(-1), f"{path}: array 'unit'")
    elif "units" in opts and unit.dtype.kind not in "iu":
        unit = unit.astype(str)  # names matched against units
    return make_recording(arrays["time"], unit, **opts)


#: the arrays read_npz reads; other members of the archive are never decompressed
_NPZ_KEYS = frozenset(
    ("time", "unit", "units", "t_start", "t_stop", "epoch_start", "epoch_stop", "epoch_label",
     "meta")
)
#: a compressed member larger than this must not expand more than _MAX_RATIO times
_BIG_MEMBER = 16 << 20
_MAX_RATIO = 100


def _check_npz_sizes(path: Path) -> None:
    """Check each member's declared size before anything is decompressed.

    Reads only the zip directory and each ``.npy`` header (a few hundred bytes): the array
    shape and dtype in the header must account for exactly the member's uncompressed size,
    ``unit`` must have as many elements as ``time``, and a large compressed member other
    than ``unit`` (sorted unit indices legitimately compress very well) must not expand
    more than ``_MAX_RATIO`` times: spike times are measurements, which compress little.
    A small file that claims gigabytes (a "zip bomb") is refused here, before the reader
    allocates memory for it.
    """
    import zipfile

    from numpy.lib import format as npformat

    with zipfile.ZipFile(path) as zf:
        counts: dict[str, int] = {}
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if name not in _NPZ_KEYS:
                continue
            with zf.open(info) as fh:
                version = npformat.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = npformat.read_array_header_1_0(fh)
                else:
                    shape, _, dtype = npformat.read_array_header_2_0(fh)
                header = fh.tell()
            if dtype.hasobject:
                continue  # refused by allow_pickle=False when loaded
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            declared = header + n * dtype.itemsize
            if declared != info.file_size:
                raise CorruptFileError(
                    f"{path}: array {name!r} declares shape {shape} of {dtype} ({declared:,} "
                    f"bytes with its header) but the archive says it holds "
                    f"{info.file_size:,} bytes; the file is damaged or was made to mislead."
                )
            counts[name] = n
            ratio = info.file_size / max(info.compress_size, 1)
            if (name != "unit" and info.compress_type != zipfile.ZIP_STORED
                    and info.file_size > _BIG_MEMBER and ratio > _MAX_RATIO):
                raise CorruptFileError(
                    f"{path}: array {name!r} would expand from {info.compress_size:,} to "
                    f"{info.file_size:,} bytes ({ratio:.0f}x); real spike data do not "
                    f"compress more than {_MAX_RATIO}x, so the file is refused before it is "
                    "decompressed. Save it again with numpy.savez."
                )
        if "unit" in counts and "time" in counts and counts["unit"] != counts["time"]:
            raise CorruptFileError(
                f"{path}: array 'unit' has {counts['unit']:,} values but 'time' has "
                f"{counts['time']:,}; the arrays must hold one unit per spike."
            )


def write_npz(rec: xr.Dataset, path: str | Path) -> Path:
    """Write a Recording as an npz archive (no pickled objects), atomically.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to write.
    path : str or Path
        Destination ``.npz`` file.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1], ["a"], t_stop=1.0)
    >>> write_npz(rec, pathlib.Path(tempfile.mkdtemp()) / "day1.npz").suffix
    '.npz'
    """
    from spikedecode.io._checks import check_writable
    from spikedecode.recording import check_recording
    from spikedecode.serialization import atomic_path

    check_writable(check_recording(rec))
    path = Path(path)
    meta = _meta(rec)
    meta.pop("units")
    buf = _io.BytesIO()
    np.savez(
        buf,
        time=rec["spike_time"].values,
        unit=rec["spike_unit"].values,
        units=rec["unit"].values.astype(str),
        t_start=np.float64(rec.attrs["t_start"]),
        t_stop=np.float64(rec.attrs["t_stop"]),
        epoch_start=rec["epoch_start"].values,
        epoch_stop=rec["epoch_stop"].values,
        epoch_label=rec["epoch_label"].values.astype(str),
        meta=np.array(json.dumps(meta)),
    )
    with atomic_path(path, suffix=".npz") as tmp:
        tmp.write_bytes(buf.getvalue())
    return path

