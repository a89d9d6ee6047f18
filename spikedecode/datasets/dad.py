"""Loader for the DAD demo data (``chewie_demo.mat``, Dyer et al. 2017).

The public ``KordingLab/DAD`` demo file holds two recordings of monkey Chewie's motor
cortex during centre-out reaching, already binned: ``Ytr``/``Yte`` spike counts (time
bins x 71 array channels), ``Xtr``/``Xte`` the 2-D hand velocity in each bin and
``Ttr``/``Tte`` the reach target of each bin (0-3). ``tr`` and ``te`` are the two
recording days of DAD's cross-day setting (train on one, decode the other).

The file stores no bin width; the time axes built here use ``bin_size`` (default 0.1 s,
an assumption that changes no decoding result, only the time coordinates).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from spikedecode.errors import CorruptFileError, FileFormatError

__all__ = ["load_chewie", "CHEWIE_DAYS"]

#: The two recordings of the demo file, in DAD's order (train day, test day).
CHEWIE_DAYS = ("tr", "te")


def _default_path() -> Path:
    env = os.environ.get("SPIKEDECODE_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    return root / "dad" / "chewie_demo.mat"


def load_chewie(
    path: str | Path | None = None, *, bin_size: float = 0.1,
) -> dict[str, tuple[xr.DataArray, xr.DataArray, xr.DataArray]]:
    """Read ``chewie_demo.mat`` into Binned counts, velocity and reach target per day.

    Parameters
    ----------
    path : path, optional
        The ``.mat`` file; default ``../shared/data/dad/chewie_demo.mat`` next to the
        repository (or ``$SPIKEDECODE_SHARED_DATA/dad/chewie_demo.mat``).
    bin_size : float, default=0.1
        Seconds per bin used for the time coordinates (the file does not store it).

    Returns
    -------
    dict
        ``{"tr": (binned, velocity, target), "te": (...)}``: ``binned`` a Binned
        DataArray (``time``, ``unit``) of counts with unit ids ``"ch00" .. "ch70"`` (the
        same array channels on both days), ``velocity`` a Behavior series (``time``,
        ``channel`` = ``x``, ``y``) on the same grid, ``target`` the reach target per bin
        (``time``,) as int.

    Raises
    ------
    FileFormatError
        The file is missing or lacks one of the six arrays.

    Examples
    --------
    >>> from spikedecode.datasets.dad import load_chewie
    >>> days = load_chewie()  # doctest: +SKIP
    >>> days["tr"][0].sizes["unit"], days["tr"][1]["channel"].values.tolist()  # doctest: +SKIP
    (71, ['x', 'y'])
    """
    from scipy.io import loadmat

    from spikedecode.preprocess.behavior import make_behavior

    path = Path(path) if path is not None else _default_path()
    if not path.exists():
        raise FileFormatError(f"{path} does not exist; pass the path of chewie_demo.mat.")
    try:
        mat = loadmat(str(path))
    except (ValueError, OSError, TypeError) as err:
        raise CorruptFileError(f"{path} is not a readable MATLAB file ({err}).") from err
    out: dict[str, Any] = {}
    for day in CHEWIE_DAYS:
        missing = [k + day for k in "YXT" if k + day not in mat]
        if missing:
            raise FileFormatError(
                f"{path} lacks {missing}; expected Ytr/Yte (counts), Xtr/Xte (velocity) and "
                "Ttr/Tte (targets) as in the DAD demo file."
            )
        counts = np.asarray(mat["Y" + day])
        vel = np.asarray(mat["X" + day], dtype=np.float64)
        if counts.ndim != 2 or vel.shape != (counts.shape[0], 2):
            raise FileFormatError(
                f"{path}: Y{day} has shape {counts.shape} and X{day} {vel.shape}; expected "
                "(n_bins, n_channels) and (n_bins, 2)."
            )
        n = counts.shape[0]
        t = np.arange(n, dtype=np.float64) * float(bin_size)
        attrs = {"bin_size": float(bin_size), "t_start": 0.0, "t_stop": float(n * bin_size),
                 "day": day, "session": f"chewie-{day}", "source": str(path)}
        binned = xr.DataArray(
            counts.astype(np.int32), dims=("time", "unit"),
            coords={"time": ("time", t, {"units": "s"}),
                    "unit": np.asarray([f"ch{i:02d}" for i in range(counts.shape[1])])},
            name="spike_count", attrs=attrs)
        velocity = make_behavior(vel, t, name="velocity", units="a.u.",
                                 source=f"{path}:X{day}")
        velocity = velocity.assign_attrs(bin_size=float(bin_size))
        target = xr.DataArray(np.asarray(mat["T" + day]).ravel().astype(np.int64),
                              dims=("time",), coords={"time": t}, name="reach_target")
        out[day] = (binned, velocity, target)
    return out
