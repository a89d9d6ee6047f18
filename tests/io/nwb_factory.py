"""Small synthetic NWB files written with pynwb (no shared data needed)."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from pathlib import Path


def make_nwb(
    path: Path,
    *,
    units: bool = True,
    names: list[str] | None = None,
    trains: tuple[list[float], ...] = ([0.1, 0.5, 2.0], [0.3], []),
) -> Path:
    """Two or three units, a trials table with a ``stimulus`` column, an extra table.

    ``trains`` are written as given (pynwb does not sort them): pass unsorted or negative
    times to make a damaged-looking file.
    """
    import pynwb
    from pynwb.epoch import TimeIntervals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwb = pynwb.NWBFile(
            session_description="synthetic", identifier="synth-1",
            session_start_time=datetime(2024, 1, 2, tzinfo=timezone.utc), session_id="S7",
            subject=pynwb.file.Subject(subject_id="M3"),
        )
        if units:
            if names is not None:
                nwb.add_unit_column("unit_name", "name of the unit")
            for i, st in enumerate(trains[: len(names) if names else len(trains)]):
                kw = {"unit_name": names[i]} if names else {}
                nwb.add_unit(spike_times=st, id=10 + i, **kw)
        nwb.add_trial_column("stimulus", "stimulus name")
        for a, b, s in [(0.0, 1.0, "LUM"), (1.0, 2.5, "LBR"), (3.0, 4.0, "LUM")]:
            nwb.add_trial(start_time=a, stop_time=b, stimulus=s)
        puffs = TimeIntervals(name="puffs", description="air puffs")
        puffs.add_row(start_time=5.0, stop_time=5.5)
        nwb.add_time_intervals(puffs)
        with pynwb.NWBHDF5IO(str(path), "w") as io:
            io.write(nwb)
    return path
