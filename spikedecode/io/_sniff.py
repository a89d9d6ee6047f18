"""Find out what a file is, from its content first and its suffix second.

The suffix alone is not trusted: a ``.nc`` that is really NWB, a ``.h5`` that is NIX, a
file cut short by a failed copy — all are recognised from their first bytes (HDF5
signature, netCDF classic magic, zip magic, MATLAB header...) and, for HDF5, from the
root attributes (``nwb_version``, NIX ``format``, netCDF ``_NCProperties``).
"""

from __future__ import annotations

from pathlib import Path

from spikedecode.errors import CorruptFileError, FileFormatError, FileMissingError

__all__ = ["sniff", "FORMATS", "HDF5_SIGNATURE"]

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_NETCDF3 = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_ZIP = b"PK\x03\x04"
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".pck", ".joblib"}
_TABLE_SUFFIXES = {".csv", ".tsv", ".tab"}
# formats that only spikedecode's own readers handle (neo is asked for everything else)
FORMATS = {
    "netcdf": "netCDF-4/HDF5 written by spikedecode (.nc)",
    "netcdf3": "netCDF classic (.nc)",
    "zarr": "zarr folder written by spikedecode (.zarr)",
    "nwb": "NWB 2 (HDF5) through pynwb (.nwb)",
    "nix": "NIX (HDF5) through neo.io.NixIO (.nix, .h5)",
    "table": "spike table, one row per spike (.csv, .tsv)",
    "npz": "numpy archive of arrays time/unit (.npz)",
    "neo": "any other format neo.io reads (Plexon, Blackrock, Spike2, phy, .mat...)",
}
# suffixes whose content we can check: a mismatch means a damaged or mislabelled file
_EXPECTED = {
    ".nc": ("netcdf", "netcdf3"),
    ".nwb": ("nwb",),
    ".nix": ("nix",),
    ".npz": ("npz",),
    ".h5": ("nwb", "nix", "netcdf", "neo"),
    ".hdf5": ("nwb", "nix", "netcdf", "neo"),
}


def _hdf5_offset(head: bytes) -> int | None:
    # the superblock may sit after a user block at 0, 512, 1024, 2048...
    for off in (0, 512, 1024, 2048, 4096):
        if head[off : off + 8] == HDF5_SIGNATURE:
            return off
    return None


def _sniff_hdf5(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            keys = set(f.keys())
            if "nwb_version" in attrs or {"general", "acquisition"} <= keys:
                return "nwb"
            fmt = attrs.get("format", b"")
            fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
            if fmt == "nix":
                return "nix"
            if "_NCProperties" in attrs or "schema_version" in attrs:
                return "netcdf"
            for name in keys:
                obj = f[name]
                if "DIMENSION_LIST" in obj.attrs or obj.attrs.get("CLASS") == b"DIMENSION_SCALE":
                    return "netcdf"
    except Exception as err:  # h5py raises OSError, KeyError, RuntimeError...: never leak
        raise CorruptFileError(
            f"{path} starts like an HDF5 file but h5py cannot open it ({err}); it is "
            "probably truncated or damaged — copy it again from the source."
        ) from err
    return "hdf5"


def sniff(path: str | Path) -> str:
    """Return the format of ``path``: one of the keys of :data:`FORMATS`.

    Parameters
    ----------
    path : str or Path
        A file or a folder.

    Returns
    -------
    str
        ``"netcdf"``, ``"netcdf3"``, ``"zarr"``, ``"nwb"``, ``"nix"``, ``"table"``,
        ``"npz"`` or ``"neo"``.

    Raises
    ------
    FileMissingError
        The path does not exist.
    CorruptFileError
        The file is empty, or its content contradicts its suffix, or HDF5 cannot open it.
    FileFormatError
        No reader knows the file (including pickles, which are never loaded).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "spikes.csv"
    >>> _ = p.write_text("time,unit\\n0.1,a\\n")
    >>> sniff(p)
    'table'
    """
    p = Path(path)
    if not p.exists():
        raise FileMissingError(f"path {str(p)!r} does not exist; check the file name and folder.")
    suffix = p.suffix.lower()
    if p.is_dir():
        if any((p / m).exists() for m in (".zgroup", "zarr.json", ".zmetadata")):
            return "zarr"
        if suffix == ".zarr":
            raise CorruptFileError(
                f"{p} is named .zarr but has no zarr metadata (.zgroup or zarr.json); the "
                "write was interrupted or the folder was copied partially."
            )
        from spikedecode.io.neo_bridge import neo_candidates

        if neo_candidates(p):
            return "neo"  # folder formats: phy, Open Ephys, Neuralynx, SpikeGLX...
        raise FileFormatError(
            f"folder {p} is neither a zarr store nor a folder format neo knows (phy, Open "
            "Ephys, Neuralynx, SpikeGLX...); pass a file inside it instead."
        )
    if suffix in _PICKLE_SUFFIXES:
        raise FileFormatError(
            f"{p} is a pickle ({suffix}); spikedecode never unpickles users' files because "
            "loading a pickle can run arbitrary code. Export it as NWB, NIX, netCDF or a "
            "csv/npz spike table."
        )
    size = p.stat().st_size
    if size == 0:
        raise CorruptFileError(f"{p} is empty (0 bytes); the export or copy failed.")
    with open(p, "rb") as fh:
        head = fh.read(4104)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise FileFormatError(
            f"{p} is a Python pickle (protocol {head[1]}); spikedecode never unpickles users' "
            "files. Export it as NWB, NIX, netCDF or a csv/npz spike table."
        )
    off = _hdf5_offset(head)
    if off is not None:
        kind = _sniff_hdf5(p)
        if kind == "hdf5":
            if suffix in (".h5", ".hdf5"):
                return "neo"  # HDF5-based neo formats (MEArec, Biocam, Maxwell...)
            raise FileFormatError(
                f"{p} is an HDF5 file but neither NWB, NIX nor netCDF; spikedecode cannot "
                "tell what it holds. Convert it to NWB or export the spike times as a "
                "csv/npz table."
            )
        return kind
    if head[:4] in _NETCDF3:
        return "netcdf3"
    if head[:4] == _ZIP:
        if suffix in (".npz", ""):
            return "npz"
        raise FileFormatError(f"{p} is a zip archive; only .npz archives of numpy arrays are read.")
    expected = _EXPECTED.get(suffix)
    if expected is not None:
        what = {"npz": "a zip archive"}.get(expected[0], "an HDF5/netCDF file")
        raise CorruptFileError(
            f"{p} has suffix {suffix} but is not {what} (first bytes {head[:8]!r}); it is "
            "truncated, damaged or mislabelled."
        )
    if suffix in _TABLE_SUFFIXES:
        return "table"
    if head.startswith(b"\x93NUMPY"):
        raise FileFormatError(
            f"{p} is a single .npy array; save spike times and units together with "
            "numpy.savez(path, time=..., unit=...) and read the .npz."
        )
    from spikedecode.io.neo_bridge import neo_candidates

    if neo_candidates(p):
        return "neo"
    raise FileFormatError(
        f"unknown file type for {p} (suffix {suffix or '(none)'!r}); spikedecode reads "
        f"{', '.join(sorted(FORMATS))} files: e.g. .nwb, .nix, .nc, .zarr, .csv, .tsv, "
        ".npz, or any suffix neo.io knows."
    )
