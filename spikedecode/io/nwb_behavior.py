"""Behaviour series of NWB files (``processing/behavior``) as Behavior DataArrays.

NWB keeps tracked position, velocity, running speed… as ``TimeSeries`` (``SpatialSeries``
for positions) in the ``behavior`` processing module, either directly or inside the
containers ``Position``, ``BehavioralTimeSeries``, ``CompassDirection``… Each series
becomes one Behavior (:func:`spikedecode.preprocess.make_behavior`): times from its
``timestamps`` or from ``starting_time`` and ``rate``, values as floats, ``units`` from
the series' ``unit``. A series is named ``"<container>/<series>"`` inside a container and
by its own name otherwise; its own name alone also finds it when no other series shares
it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spikedecode.errors import SpikeDecodeValueError
from spikedecode.io._checks import corrupt_file_errors

__all__ = ["read_behavior", "behavior_names"]

_MODULES = ("behavior", "behaviour", "Behavior", "Behaviour")


def _series(nwb: Any) -> dict[str, Any]:
    """``{name: TimeSeries}`` of the file's behaviour processing module(s)."""
    from pynwb import TimeSeries

    out: dict[str, Any] = {}
    for mod_name in _MODULES:
        if mod_name not in nwb.processing:
            continue
        for iname, obj in nwb.processing[mod_name].data_interfaces.items():
            if isinstance(obj, TimeSeries):
                out[iname] = obj
                continue
            inner = getattr(obj, "time_series", None) or getattr(obj, "spatial_series", None)
            if isinstance(inner, dict):
                for sname, ts in inner.items():
                    out[f"{iname}/{sname}"] = ts
    return out


def _open(path: Path) -> Any:
    from spikedecode._optional import attempt_import

    pynwb = attempt_import("pynwb", "to read NWB files")
    return pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True)


def behavior_names(path: str | Path) -> list[str]:
    """Names of the behaviour series of an NWB file (``spikedecode info`` lists them).

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.

    Returns
    -------
    list of str
        Sorted; empty when the file has no ``behavior`` processing module.

    Examples
    --------
    >>> behavior_names("x.nwb")  # doctest: +SKIP
    ['Position/position', 'speed']
    """
    path = Path(path)
    with corrupt_file_errors(path, "NWB", "the file is truncated, damaged or not NWB 2."):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(pynwb|hdmf)(\.|$)")
            with _open(path) as io:
                return sorted(_series(io.read()))


def _to_behavior(name: str, ts: Any) -> xr.DataArray:
    from spikedecode.preprocess.behavior import make_behavior

    data = np.asarray(ts.data[:], dtype=np.float64)
    short = name.split("/")[-1]
    if ts.timestamps is not None:
        times = np.asarray(ts.timestamps[:], dtype=np.float64)
        kw: dict[str, Any] = {"times": times}
    else:
        kw = {"rate": float(ts.rate), "t_start": float(ts.starting_time or 0.0)}
    channels = None
    comments = str(getattr(ts, "comments", "") or "")
    if comments.startswith("spikedecode channels: "):  # written by io.nwb_write
        channels = comments.split(": ", 1)[1].split(",")
    unit = str(ts.unit or "")
    try:
        return make_behavior(data, name=short, units="" if unit == "n.a." else unit,
                             channels=channels, source=f"nwb:processing/behavior/{name}",
                             **kw)
    except SpikeDecodeValueError as err:
        raise SpikeDecodeValueError(f"behaviour series {name!r}: {err}") from err


def read_behavior(path: str | Path, name: str | None = None
                  ) -> xr.DataArray | dict[str, xr.DataArray]:
    """Read the behaviour series of an NWB file.

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.
    name : str, optional
        One series (``"Position/position"``, or ``"position"`` when unique); default all.

    Returns
    -------
    xarray.DataArray or dict of str to DataArray
        The Behavior series named ``name``, or every series by name.

    Raises
    ------
    SpikeDecodeValueError
        ``name`` is not a series of the file (the message lists those there are), or a
        series' times and values do not match.
    CorruptFileError
        pynwb cannot read the file.

    Examples
    --------
    >>> import datetime, tempfile, pynwb
    >>> from pynwb.behavior import Position
    >>> nwb = pynwb.NWBFile(session_description="d", identifier="i",
    ...     session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    >>> pos = Position(name="Position")
    >>> _ = pos.create_spatial_series(name="position", data=np.ones((50, 2)), rate=50.0,
    ...                               reference_frame="track", unit="cm")
    >>> _ = nwb.create_processing_module("behavior", "tracking").add(pos)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with pynwb.NWBHDF5IO(Path(tmp) / "b.nwb", "w") as io:
    ...         io.write(nwb)
    ...     b = read_behavior(Path(tmp) / "b.nwb", "position")
    >>> b.dims, b.shape, b.attrs["units"]
    (('time', 'channel'), (50, 2), 'cm')
    """
    from spikedecode.preprocess.behavior import select_series

    path = Path(path)
    with corrupt_file_errors(path, "NWB", "the file is truncated, damaged or not NWB 2."):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(pynwb|hdmf)(\.|$)")
            with _open(path) as io:
                series = _series(io.read())
                if name is None:
                    return {k: _to_behavior(k, ts) for k, ts in series.items()}
                if name not in series:
                    short = [k for k in series if k.split("/")[-1] == name]
                    if len(short) == 1:
                        name = short[0]
                ts = select_series(series, name)
                return _to_behavior(name, ts)
