"""netCDF-4 (h5netcdf engine) and zarr storage of Recordings, with atomic writes.

A Recording is written as it is in memory (the long format is already rectangular);
strings are stored as variable-length strings and read back as fixed-width numpy
``str``. Writes go to a temporary file/folder in the destination folder and are renamed
into place only when complete, so an interrupted write never leaves a broken file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from spikedecode._optional import attempt_import
from spikedecode.errors import SchemaError
from spikedecode.io._checks import corrupt_file_errors

__all__ = ["read_netcdf", "write_netcdf", "read_zarr", "write_zarr", "normalize"]


def normalize(ds: xr.Dataset) -> xr.Dataset:
    """Bring a Dataset read from disk to the in-memory dtypes of a Recording.

    Strings (object or bytes) become numpy ``str``, ``spike_unit`` becomes int32 and
    numpy scalar attributes become Python scalars. Nothing else changes.
    """
    for name in ("epoch_label", "unit"):
        if name in ds.variables and ds[name].dtype.kind in "OS":
            vals = ds[name].values
            conv = np.array(
                [v.decode() if isinstance(v, bytes) else str(v) for v in vals.reshape(-1)],
                dtype=str,
            ).reshape(vals.shape)
            if conv.size == 0:
                conv = conv.astype("<U1")
            if name == "unit":
                ds = ds.assign_coords(unit=(ds["unit"].dims, conv, ds["unit"].attrs))
            else:
                ds[name] = (ds[name].dims, conv, ds[name].attrs)
    if "spike_unit" in ds.variables and ds["spike_unit"].dtype.kind in "iu":
        if ds["spike_unit"].dtype != np.int32:
            ds["spike_unit"] = ds["spike_unit"].astype(np.int32)
    attrs = {}
    for k, v in ds.attrs.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray) and v.size == 1:
            v = v.reshape(()).item()
        if isinstance(v, bytes):
            v = v.decode()
        attrs[k] = v
    ds.attrs = attrs
    for var in ds.variables.values():
        var.encoding = {}
    return ds


def _for_disk(rec: xr.Dataset) -> xr.Dataset:
    out = rec.copy(deep=False)
    for k, v in list(out.attrs.items()):
        if isinstance(v, (bool, np.bool_)):  # netCDF has no bool attribute type
            out.attrs[k] = int(v)
        elif isinstance(v, (str, int, float, np.generic)):
            continue
        elif isinstance(v, (list, tuple, np.ndarray)) and np.asarray(v).ndim == 1 and (
            np.asarray(v).dtype.kind in "iuf"
        ):
            continue
        else:
            raise SchemaError(
                f"attrs[{k!r}] is a {type(v).__name__}; netCDF/zarr attributes must be "
                "str, numbers or 1-D numeric arrays. Convert it (e.g. json.dumps) or drop it "
                "before writing."
            )
    for name in out.variables:
        out[name].encoding = {}
    return out


def _open(path: Path, engine: str) -> xr.Dataset:
    with corrupt_file_errors(path, "netCDF", "the file is truncated or damaged — write it "
                             "again."), xr.open_dataset(path, engine=engine, cache=False) as ds:
        return ds.load()


def read_netcdf(path: str | Path, *, engine: str | None = None) -> xr.Dataset:
    """Read a Recording from a netCDF file written by :func:`write_netcdf`.

    Parameters
    ----------
    path : str or Path
    engine : str, optional
        xarray engine; default ``"h5netcdf"`` (netCDF-4) or ``"scipy"`` (classic files).

    Returns
    -------
    xarray.Dataset
        A validated Recording, fully loaded (the file is closed).

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0)
    >>> p = write_netcdf(rec, pathlib.Path(tempfile.mkdtemp()) / "day1.nc")
    >>> read_netcdf(p).attrs["t_stop"]
    1.0
    """
    from spikedecode.recording import check_recording

    path = Path(path)
    if engine is None:
        with open(path, "rb") as fh:
            engine = "scipy" if fh.read(3) == b"CDF" else "h5netcdf"
    return check_recording(normalize(_open(path, engine)))


def write_netcdf(rec: xr.Dataset, path: str | Path) -> Path:
    """Write a Recording to netCDF-4 (h5netcdf engine), atomically.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to write.
    path : str or Path
        Destination file (``.nc``).

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0)
    >>> p = write_netcdf(rec, pathlib.Path(tempfile.mkdtemp()) / "day1.nc")
    >>> read_netcdf(p).identical(rec)
    True
    """
    from spikedecode.io._checks import check_writable
    from spikedecode.recording import check_recording
    from spikedecode.serialization import atomic_path

    check_writable(check_recording(rec))
    path = Path(path)
    with atomic_path(path, suffix=".nc") as tmp:
        _for_disk(rec).to_netcdf(tmp, engine="h5netcdf", mode="w")
    return path


def read_zarr(path: str | Path) -> xr.Dataset:
    """Read a Recording from a zarr folder written by :func:`write_zarr`.

    Parameters
    ----------
    path : str or Path
        The zarr folder.

    Returns
    -------
    xarray.Dataset
        A validated Recording, fully loaded.

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0)
    >>> p = write_zarr(rec, pathlib.Path(tempfile.mkdtemp()) / "day1.zarr")
    >>> read_zarr(p)["spike_time"].values.tolist()
    [0.1, 0.2]
    """
    from spikedecode.recording import check_recording

    attempt_import("zarr", "to read zarr stores")
    path = Path(path)
    with corrupt_file_errors(path, "zarr", "the folder is incomplete or damaged — write it "
                             "again."):
        ds = xr.open_zarr(path, consolidated=_consolidated(path), chunks=None).load()
    return check_recording(normalize(ds))


def _consolidated(path: Path) -> bool:
    """Whether a zarr store has consolidated metadata (v2 ``.zmetadata`` or v3 ``zarr.json``)."""
    if (path / ".zmetadata").exists():
        return True
    meta = path / "zarr.json"
    if meta.exists():
        try:
            return bool(json.loads(meta.read_text()).get("consolidated_metadata"))
        except (ValueError, UnicodeDecodeError):
            return False  # let the reader report the damage
    return False


def write_zarr(rec: xr.Dataset, path: str | Path, *, zarr_format: int = 2) -> Path:
    """Write a Recording to a zarr folder, atomically (temp folder + rename).

    ``zarr_format=2`` by default: fixed-width strings have no stable zarr v3 encoding yet.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to write.
    path : str or Path
        Destination folder (``.zarr``).
    zarr_format : int, default=2
        The zarr format version.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode
    >>> rec = spikedecode.make_recording([0.1], ["a"], t_stop=1.0)
    >>> write_zarr(rec, pathlib.Path(tempfile.mkdtemp()) / "day1.zarr").name
    'day1.zarr'
    """
    from spikedecode.io._checks import check_writable
    from spikedecode.recording import check_recording
    from spikedecode.serialization import atomic_path

    attempt_import("zarr", "to write zarr stores")
    check_writable(check_recording(rec))
    path = Path(path)
    with atomic_path(path, suffix=".zarr", directory=True) as tmp:
        tmp.unlink()
        _for_disk(rec).to_zarr(tmp, mode="w", zarr_format=zarr_format, consolidated=True)
    return path

