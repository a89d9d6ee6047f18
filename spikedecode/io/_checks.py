"""Checks every writer makes before it writes a Recording."""

from __future__ import annotations

import numpy as np
import xarray as xr

from spikedecode.errors import SchemaError

__all__ = ["check_writable"]


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
