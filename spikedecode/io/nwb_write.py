"""Write a Recording (and its behaviour series) to NWB 2 through pynwb.

So that a lab can convert the shared ``.mat`` / tracking formats once and keep NWB:

* **units**: one row per unit of the ``units`` table, its spike times, its id in a
  ``unit_name`` column (which :func:`~spikedecode.io.nwb.read_nwb` reads back as the id);
* **epochs**: a label ``"<table>/<value>"`` becomes a row of the interval table
  ``<table>`` (``trials`` for ``trials/…``) with ``value`` in its ``label`` column; a
  label without ``/`` becomes a row of the table of that name, without a label column.
  ``read_nwb(path, intervals="all")`` gives the same labels back;
* **behaviour**: each series becomes a ``TimeSeries`` with explicit timestamps in the
  ``behavior`` processing module (``read_behavior`` reads it back), its channel names
  kept in the series' ``comments``.

The file is written atomically (a temporary file renamed onto ``path``).
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["write_nwb"]

_CHANNELS = "spikedecode channels: "


def _behaviors(behavior: Any) -> dict[str, xr.DataArray]:
    from spikedecode.preprocess.behavior import check_behavior

    if behavior is None:
        return {}
    if isinstance(behavior, xr.DataArray):
        b = check_behavior(behavior)
        return {str(b.attrs["name"]): b}
    if isinstance(behavior, Mapping):
        return {str(k): check_behavior(v) for k, v in behavior.items()}
    from spikedecode.errors import SpikeDecodeTypeError

    raise SpikeDecodeTypeError(
        f"behavior must be a Behavior DataArray or a mapping name -> Behavior; got "
        f"{type(behavior).__name__}."
    )


def write_nwb(rec: xr.Dataset, path: str | Path, *,
              behavior: xr.DataArray | Mapping[str, xr.DataArray] | None = None) -> Path:
    """Write a Recording and its behaviour series to an NWB 2 file.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording.
    path : str or Path
        The ``.nwb`` file to write.
    behavior : Behavior or mapping of name to Behavior, optional
        Series stored under ``processing/behavior`` (e.g. ``{"velocity": v}``).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib, spikedecode as sd
    >>> from spikedecode.io.nwb_behavior import read_behavior
    >>> rec = sd.make_recording([0.1, 0.2, 0.7], ["a", "b", "a"], t_stop=1.0,
    ...                         epochs=[(0.0, 0.5, "touch/LUM")])
    >>> speed = sd.make_behavior(np.arange(10.0), rate=10.0, name="speed")
    >>> p = write_nwb(rec, pathlib.Path(tempfile.mkdtemp()) / "r.nwb", behavior=speed)
    >>> back = sd.read(p, intervals="all")
    >>> back["unit"].values.tolist(), back["epoch_label"].values.tolist()
    (['a', 'b'], ['touch/LUM'])
    >>> read_behavior(p, "speed").identical(speed.assign_attrs(source=p.name))  # doctest: +SKIP
    True
    """
    from spikedecode._optional import attempt_import
    from spikedecode.io._checks import check_writable
    from spikedecode.recording import check_recording
    from spikedecode.serialization import atomic_path

    pynwb = attempt_import("pynwb", "to write NWB files")
    from pynwb.epoch import TimeIntervals

    rec = check_writable(check_recording(rec))
    series = _behaviors(behavior)
    path = Path(path)
    start = rec.attrs.get("session_start_time")
    try:
        when = datetime.datetime.fromisoformat(str(start)) if start else None
    except ValueError:
        when = None
    if when is None:
        when = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    session = str(rec.attrs.get("session", "") or "")
    subject = str(rec.attrs.get("subject", "") or "")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(pynwb|hdmf)(\.|$)")
        nwb = pynwb.NWBFile(
            session_description=session or "spikedecode recording",
            identifier=f"spikedecode-{session or 'recording'}",
            session_start_time=when, session_id=session or None,
            subject=pynwb.file.Subject(subject_id=subject) if subject else None,
        )
        times = np.asarray(rec["spike_time"].values, dtype=np.float64)
        owner = np.asarray(rec["spike_unit"].values)
        nwb.add_unit_column("unit_name", "unit id (spikedecode)")
        for i, uid in enumerate(rec["unit"].values.astype(str)):
            nwb.add_unit(spike_times=times[owner == i], unit_name=uid)
        tables: dict[str, list[tuple[float, float, str | None]]] = {}
        for a, b, lab in zip(rec["epoch_start"].values, rec["epoch_stop"].values,
                             rec["epoch_label"].values.astype(str)):
            table, _, value = lab.partition("/")
            tables.setdefault(table, []).append((float(a), float(b), value if _ else None))
        for table, rows in tables.items():
            labelled = any(v is not None for _, _, v in rows)
            if table == "trials":
                if labelled:
                    nwb.add_trial_column("label", "epoch label (spikedecode)")
                for a, b, v in rows:
                    nwb.add_trial(start_time=a, stop_time=b,
                                  **({"label": v or ""} if labelled else {}))
                continue
            ti = TimeIntervals(name=table, description=f"spikedecode epochs {table!r}")
            if labelled:
                ti.add_column("label", "epoch label (spikedecode)")
            for a, b, v in rows:
                ti.add_row(start_time=a, stop_time=b, **({"label": v or ""} if labelled else {}))
            nwb.add_time_intervals(ti)
        if series:
            module = nwb.create_processing_module("behavior", "behaviour series (spikedecode)")
            for name, b in series.items():
                chans = ",".join(str(c) for c in b["channel"].values)
                data = b.values[:, 0] if b.shape[1] == 1 else b.values
                module.add(pynwb.TimeSeries(
                    name=name, data=np.asarray(data, dtype=np.float64),
                    timestamps=np.asarray(b["time"].values, dtype=np.float64),
                    unit=str(b.attrs.get("units", "")) or "n.a.",
                    comments=_CHANNELS + chans))
        with atomic_path(path, suffix=".nwb") as tmp:
            with pynwb.NWBHDF5IO(str(tmp), "w") as io:
                io.write(nwb)
    return path
