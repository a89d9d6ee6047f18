"""Loader for the nelpy example hippocampus recordings (linear track, W-maze).

The public ``nelpy/example-data`` folders hold ``spikes.mat`` (Frank-lab MatClust nesting
``spikes{tetrode}{cell}.time`` in seconds; empty cells are unsorted/absent units) and
``trajectory.videoPositionTracking`` (a text header ending in ``<End settings>`` then
little-endian records ``<u4 t (ticks at clockrate)><u2 x><u2 y><u2 x2><u2 y2>``).
"""

from __future__ import annotations

from collections.abc import Hashable
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from spikedecode._validation import Interval, check_param
from spikedecode.errors import CorruptFileError, FileFormatError

__all__ = [
    "load_nelpy",
    "read_position_tracking",
    "read_frank_spikes",
    "position_labels",
    "speed",
    "position_series",
]

_RECORD = np.dtype([("t", "<u4"), ("x", "<u2"), ("y", "<u2"), ("x2", "<u2"), ("y2", "<u2")])


def read_frank_spikes(path: str | Path) -> dict[str, NDArray[np.float64]]:
    """Read a Frank-lab ``spikes.mat`` into ``{unit_id: spike times (s)}``.

    Unit ids are ``"t{tetrode:02d}c{cell:02d}"`` (indices into the nested cell arrays,
    from 0), so they are stable across files of one animal. Empty cells are skipped.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path} does not exist.")
    try:
        mat = loadmat(str(path), squeeze_me=True)
    except (ValueError, OSError, TypeError) as err:
        raise CorruptFileError(f"{path} is not a readable MATLAB file ({err}).") from err
    if "spikes" not in mat:
        raise FileFormatError(
            f"{path} has no 'spikes' variable (found {sorted(k for k in mat if k[0] != '_')})."
        )
    units: dict[str, NDArray[np.float64]] = {}

    def walk(a: Any, path_ix: tuple[int, ...]) -> None:
        if isinstance(a, np.ndarray) and a.dtype.names:
            if "time" not in a.dtype.names:
                return
            t = a["time"].item() if a.shape == () else a["time"]
            t = np.asarray(t, dtype=np.float64).ravel()
            if t.size:
                uid = "t" + "c".join(f"{i:02d}" for i in path_ix[-2:])
                if len(path_ix) == 1:
                    uid = f"t{path_ix[0]:02d}c00"
                units[uid] = np.sort(t)
            return
        if isinstance(a, np.ndarray) and a.dtype == object:
            for i, b in enumerate(a.ravel()):
                walk(b, (*path_ix, i))

    walk(mat["spikes"], ())
    if not units:
        raise FileFormatError(f"{path} holds no unit with spikes.")
    return units


def read_position_tracking(path: str | Path) -> xr.DataArray:
    """Read a ``.videoPositionTracking`` file into a DataArray (``time``, ``coord``).

    Returns
    -------
    xarray.DataArray
        Positions in camera pixels, coords ``time`` (s, from the header's clockrate) and
        ``coord`` = ``["x", "y"]``; attrs ``clockrate`` and ``source``.
    """
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"{path} does not exist.")
    raw = path.read_bytes()
    end = raw.find(b"<End settings>")
    if not raw.startswith(b"<Start settings>") or end < 0:
        raise FileFormatError(
            f"{path} does not start with a '<Start settings>' ... '<End settings>' header."
        )
    header = raw[:end].decode("ascii", "replace")
    clock = 30000.0
    for line in header.splitlines():
        if line.strip().lower().startswith("clockrate:"):
            clock = float(line.split(":", 1)[1])
    body = raw[end + len(b"<End settings>"):]
    if body[:1] == b"\n":
        body = body[1:]
    n = len(body) // _RECORD.itemsize
    if n == 0:
        raise CorruptFileError(f"{path} has a header but no position records.")
    rec = np.frombuffer(body[: n * _RECORD.itemsize], dtype=_RECORD)
    xy = np.stack([rec["x"], rec["y"]], axis=1).astype(np.float64)
    return xr.DataArray(xy, dims=("time", "coord"),
                        coords={"time": rec["t"].astype(np.float64) / clock,
                                "coord": ["x", "y"]},
                        name="position", attrs={"clockrate": clock, "source": str(path),
                                                "units": "pixels"})


def load_nelpy(path: str | Path = "linear-track", *, root: str | Path | None = None,
               day: Hashable = 0) -> tuple[xr.Dataset, xr.DataArray]:
    """Load a nelpy example session as a Recording plus its position.

    Parameters
    ----------
    path : path or {"linear-track", "w-maze"}, default="linear-track"
        A folder holding ``spikes.mat`` and ``trajectory.videoPositionTracking``, or the
        name of one under ``root``.
    root : path, optional
        Where the named folders live (default: ``../shared/data/nelpy`` next to the
        repository, or ``$SPIKEDECODE_SHARED_DATA/nelpy``).
    day : hashable, default=0
        Stored in the Recording's ``day`` attribute.

    Returns
    -------
    recording : xarray.Dataset
        One unit per sorted cell; ``t_start``/``t_stop`` span the spikes and positions.
    position : xarray.DataArray
        (``time``, ``coord``) in pixels.
    """
    import os

    from spikedecode.recording import from_spiketrains

    folder = Path(path)
    if not folder.exists():
        if root is None:
            env = os.environ.get("SPIKEDECODE_SHARED_DATA")
            root = (Path(env) if env else Path(__file__).resolve().parents[3] / "shared"
                    / "data") / "nelpy"
        folder = Path(root) / str(path)
    if not folder.is_dir():
        raise FileFormatError(
            f"{path!r}: no folder {folder}; pass the folder holding spikes.mat and "
            "trajectory.videoPositionTracking."
        )
    trains = read_frank_spikes(folder / "spikes.mat")
    pos = read_position_tracking(folder / "trajectory.videoPositionTracking")
    t0 = min(float(pos["time"][0]), min(float(t[0]) for t in trains.values()))
    t1 = max(float(pos["time"][-1]), max(float(t[-1]) for t in trains.values())) + 1e-3
    rec = from_spiketrains(trains, t_start=t0, t_stop=t1, session=folder.name, day=day,
                           subject="rat", source=f"nelpy example-data: {folder}")
    return rec, pos


def speed(position: xr.DataArray, *, smooth: float = 0.25) -> xr.DataArray:
    """Running speed (pixels/s) from positions, smoothed with a ``smooth``-second box."""
    t = position["time"].values
    xy = position.values
    dt = np.gradient(t)
    v = np.hypot(np.gradient(xy[:, 0]), np.gradient(xy[:, 1])) / np.maximum(dt, 1e-9)
    k = max(1, int(round(smooth / np.median(np.diff(t)))))
    v = np.convolve(v, np.ones(k) / k, mode="same")
    return xr.DataArray(v, dims=("time",), coords={"time": t}, name="speed")


def position_labels(
    position: xr.DataArray,
    times: NDArray[np.float64],
    *,
    n_classes: int = 5,
    axis: str = "x",
    min_speed: float | None = None,
    smooth: float = 0.25,
) -> tuple[NDArray[np.str_], NDArray[np.bool_]]:
    """Quantile bin of the position (along ``axis``) at ``times``; mask of moving samples.

    Parameters
    ----------
    position : DataArray (time, coord)
    times : array of float
        Sample times (e.g. bin or window centres).
    n_classes : int, default=5
        Quantiles (5 = quintiles, chance 0.2); boundaries from the moving samples.
    axis : {"x", "y"}
    min_speed : float or None
        Samples slower than this (pixels/s) are marked not moving; None keeps all.

    Returns
    -------
    labels : ndarray of str ``"q0" .. "q{n-1}"``
    moving : ndarray of bool
    """
    n_classes = check_param(n_classes, "n_classes", Interval(Integral, 2, None))
    t = position["time"].values
    p = np.interp(times, t, position.sel(coord=axis).values)
    moving = np.ones(len(times), bool)
    if min_speed is not None:
        moving = np.interp(times, t, speed(position, smooth=smooth).values) >= min_speed
    inside = (times >= t[0]) & (times <= t[-1])
    moving &= inside
    edges = np.quantile(p[moving], np.linspace(0, 1, n_classes + 1)[1:-1])
    q = np.searchsorted(edges, p, side="right")
    return np.asarray([f"q{i}" for i in q]), moving


def position_series(position: xr.DataArray, *, axis: str | None = None) -> xr.DataArray:
    """The tracked position as a Behavior series (a continuous decoding target).

    Tracking files repeat a timestamp now and then (the linear track has one); those
    repeats are dropped (the first sample of each time is kept), counted and reported.

    Parameters
    ----------
    position : DataArray (time, coord)
        From :func:`read_position_tracking` / :func:`load_nelpy`.
    axis : {"x", "y"}, optional
        One coordinate only (a 1-D position); default both.

    Returns
    -------
    xarray.DataArray
        A Behavior ``(time, channel)`` named ``"position"`` in pixels.

    Warns
    -----
    DataDroppedWarning
        Samples with a repeated (or decreasing) timestamp were dropped.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> pos = xr.DataArray(np.c_[[1.0, 2, 3], [0.0, 0, 1]], dims=("time", "coord"),
    ...                    coords={"time": [0.0, 0.1, 0.2], "coord": ["x", "y"]})
    >>> position_series(pos, axis="x")["channel"].values.tolist()
    ['x']
    """
    import warnings

    from spikedecode.errors import DataDroppedWarning
    from spikedecode.preprocess.behavior import make_behavior

    t = np.asarray(position["time"].values, dtype=np.float64)
    keep = np.r_[True, t[1:] > np.maximum.accumulate(t)[:-1]]
    if not keep.all():
        warnings.warn(f"position_series: dropped {int((~keep).sum())} of {t.size} samples whose "
                      "timestamp repeats (or goes back in) time.", DataDroppedWarning,
                      stacklevel=2)
    coords = [axis] if axis is not None else [str(c) for c in position["coord"].values]
    values = np.stack([position.sel(coord=c).values for c in coords], axis=1)[keep]
    return make_behavior(values, t[keep], channels=coords, name="position",
                         units=str(position.attrs.get("units", "pixels")),
                         source=str(position.attrs.get("source", "tracking")))
