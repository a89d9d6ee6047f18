"""Checks of the io layer: what every writer checks before it writes a Recording, and the
one wrapper that turns a reader library's own exceptions into a CorruptFileError."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xarray as xr

from spikedecode.errors import CorruptFileError, SchemaError, SpikeDecodeError

__all__ = ["check_writable", "corrupt_file_errors"]


@contextlib.contextmanager
def corrupt_file_errors(path: str | Path, what: str, advice: str) -> Iterator[None]:
    """Re-raise any exception of a reader library inside as a :class:`CorruptFileError`.

    h5py, netCDF, zarr and pynwb raise many exception types for a damaged file; a reader
    never leaks them. spikedecode's own errors pass through unchanged.

    Parameters
    ----------
    path : str or Path
        The file, named first in the message.
    what : str
        The format, as in "could not be read as netCDF".
    advice : str
        The fix, appended after the library's message.

    Examples
    --------
    >>> with corrupt_file_errors("r.nc", "netCDF", "write it again."):
    ...     raise OSError("truncated")
    Traceback (most recent call last):
    ...
    spikedecode.errors.CorruptFileError: r.nc could not be read as netCDF (OSError: \
truncated); write it again.
    """
    try:
        yield
    except SpikeDecodeError:
        raise
    except Exception as err:  # never leak a library's exception types
        raise CorruptFileError(f"{path} could not be read as {what} "
                               f"({type(err).__name__}: {err}); {advice}") from err


def check_writable(rec: xr.Dataset) -> xr.Dataset:
    """Check what :func:`~spikedecode.recording.check_recording` allows but files cannot hold.

    A NUL character inside a unit id or an epoch label: HDF5 strings (netCDF-4, NIX)
    cannot store it, MATLAB files turn it into a space, and in a text id it almost always
    means a damaged export. Every writer refuses it, naming the field and the value.

    Raises
    ------
    SchemaError
        A unit id or epoch label contains ``"\\x00"``.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> check_writable(make_recording([0.1], ["a"], t_stop=1.0)).sizes["unit"]
    1
    """
    for name, what in (("unit", "unit id"), ("epoch_label", "epoch label")):
        # numpy's string functions treat "\x00" as an end of string: test in Python
        vals = np.asarray(rec[name].values).astype(str).tolist()
        bad = [i for i, v in enumerate(vals) if "\x00" in v]
        if bad:
            raise SchemaError(
                f"{name}[{bad[0]}] == {vals[bad[0]]!r}: a {what} contains a NUL "
                f"character ('\\x00'), which files cannot store ({len(bad)} {what}(s) do). "
                "Remove the NUL characters (str.replace('\\x00', '')) and write again."
            )
    return rec
