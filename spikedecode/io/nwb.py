"""NWB 2 files through pynwb: the units table becomes spikes, interval tables epochs.

neo 0.14's ``NWBIO`` fails on real files, so NWB is read here with pynwb directly.

* **Units**: ``nwb.units.spike_times`` (a ragged column) is read in one go (the flat
  data plus the index of each unit's end), never unit by unit. Unit ids come from
  ``unit_column`` when given, else a ``unit_name``/``name`` column when the table has
  one, else the table's ``id`` column.
* **Epochs**: interval tables (``nwb.trials``, ``nwb.epochs`` and every table under
  ``nwb.intervals``) become epochs labelled ``"<table>/<value>"``, the value taken from
  ``label_column`` (default: the first of :data:`LABEL_COLUMNS` the table has, e.g.
  ``stimCategory`` or ``tags``; the table name alone when it has none).
  ``intervals="auto"`` reads ``trials`` when present, else the first interval table;
  ``"all"`` reads every table except ``invalid_times``; a name or a list picks tables.
  The tables that were available are listed in ``attrs["nwb_intervals"]``.
* **Other tables are excluded**: the rows of every interval table that is *not* read as
  epochs (e.g. ``recognition_table`` when decoding ``encoding_table``, and
  ``invalid_times``) become *excluded intervals*: variables ``excluded_start``,
  ``excluded_stop`` and ``excluded_table`` on dim ``excluded``. Windows inside them are
  neither stimulus nor latent; :func:`~spikedecode.preprocess.label_windows` drops them
  and counts them in ``attrs["n_dropped_other_intervals"]``. Pass
  ``exclude_other_intervals=False`` to ignore those tables instead.
* ``attrs["nwb_interval_tables"]`` describes every interval table as JSON (see
  :func:`interval_tables`): name, rows, columns, the label column the reader uses, its
  role (``"epochs"``, ``"excluded"`` or ``"ignored"``), its time columns and each
  column's description; ``spikedecode info`` prints it.
* :func:`read_interval_table` reads one interval table whole (every column) as a
  DataFrame: the events of :func:`spikedecode.preprocess.event_windows`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from spikedecode.errors import (
    ConfigError,
    CorruptFileError,
    DataDroppedWarning,
    FileFormatError,
    LabelError,
    RecordingError,
    SpikeDecodeWarning,
)
from spikedecode.io._checks import corrupt_file_errors

__all__ = ["read_nwb", "interval_tables", "read_interval_table", "LABEL_COLUMNS",
           "UNIT_NAME_COLUMNS"]

#: columns tried, in order, for epoch labels when ``label_column`` is not given
LABEL_COLUMNS = (
    "label",
    "stimCategory",
    "stim_category",
    "stimulus",
    "stimulus_name",
    "stim_name",
    "condition",
    "trial_type",
    "category",
    "tags",
)
#: columns tried, in order, for unit ids when ``unit_column`` is not given
UNIT_NAME_COLUMNS = ("unit_name", "unit_id", "name", "cluster_id")


def _label_text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, (np.floating, float)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.generic):
        return str(v.item())
    if isinstance(v, (list, tuple, np.ndarray)):
        return "+".join(_label_text(x) for x in v)
    return str(v)


def _column(table: Any, name: str) -> list[Any]:
    col = table[name]
    return [col[i] for i in range(len(table))] if hasattr(col, "target") else list(col.data[:])


def _pick_tables(nwb: Any, intervals: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chosen interval tables, and all of them (name -> table)."""
    tables: dict[str, Any] = {}
    if getattr(nwb, "intervals", None):
        for name, tab in nwb.intervals.items():
            tables[str(name)] = tab
    available = list(tables)
    if intervals is None or intervals is False:
        return {}, tables
    usable = [n for n in available if n != "invalid_times"]
    if isinstance(intervals, str) and intervals == "auto":
        chosen = ["trials"] if "trials" in usable else usable[:1]
    elif isinstance(intervals, str) and intervals == "all":
        chosen = usable
    else:
        chosen = [intervals] if isinstance(intervals, str) else list(intervals)
        unknown = [n for n in chosen if n not in tables]
        if unknown:
            raise ConfigError(
                f"intervals names {unknown} but the file's interval tables are {available}; "
                "pass one of those, 'auto', 'all' or None."
            )
    return {n: tables[n] for n in chosen}, tables


def _label_column_of(name: str, table: Any, label_column: Any) -> str | None:
    cols = list(getattr(table, "colnames", ()))
    col = label_column.get(name) if isinstance(label_column, Mapping) else label_column
    if col is None:
        col = next((c for c in LABEL_COLUMNS if c in cols), None)
    return col


def _intervals_of(table: Any) -> tuple[list[float], list[float]]:
    start = np.asarray(table["start_time"].data[:], dtype=np.float64)
    stop = np.asarray(table["stop_time"].data[:], dtype=np.float64)
    return start.tolist(), stop.tolist()


def interval_tables(rec: xr.Dataset) -> list[dict[str, Any]]:
    """The interval tables of the NWB file a Recording was read from.

    Parameters
    ----------
    rec : xarray.Dataset
        A Recording from :func:`read_nwb` (any other gives an empty list).

    Returns
    -------
    list of dict
        One per table: ``table``, ``rows``, ``columns``, ``label_column`` (the column
        the reader uses for labels, ``""`` when none), ``role`` (``"epochs"``: read as
        epochs; ``"excluded"``: its rows are excluded intervals; ``"ignored"``),
        ``time_columns`` (the numeric ``*_time`` columns, what ``decode --align``
        takes) and ``descriptions`` (column -> the file's own description).

    Examples
    --------
    >>> import spikedecode
    >>> interval_tables(spikedecode.make_recording([0.1], ["a"], t_stop=1.0))
    []
    """
    text = rec.attrs.get("nwb_interval_tables", "")
    return list(json.loads(text)) if text else []


def _epochs_of(name: str, table: Any, label_column: Any) -> list[tuple[float, float, str]]:
    cols = list(getattr(table, "colnames", ()))
    col = _label_column_of(name, table, label_column)
    if col is not None and col not in cols:
        raise ConfigError(
            f"label_column == {col!r} is not a column of interval table {name!r}; its columns "
            f"are {cols}."
        )
    n = len(table)
    start, stop = _intervals_of(table)
    zero = [i for i in range(n) if stop[i] == start[i]]
    if zero:
        raise RecordingError(
            f"interval table {name!r}: {len(zero)} row(s) have stop_time == start_time (zero "
            f"length; e.g. row {zero[0]} at {start[zero[0]]} s), so they hold no window. Fix "
            "the table's stop times, or read without this table (intervals=...)."
        )
    if col is None:
        labels = [name] * n
    else:
        values = _column(table, col)
        missing = [i for i, v in enumerate(values) if v is None or (
            isinstance(v, (float, np.floating)) and np.isnan(v)) or not _label_text(v).strip()]
        if missing:
            raise LabelError(
                f"interval table {name!r}, label column {col!r}: {len(missing)} row(s) have "
                f"no label (NaN or empty; e.g. row {missing[0]}: {values[missing[0]]!r}), "
                f"which would become the class {f'{name}/{_label_text(values[missing[0]])}'!r}. "
                "Pass another label_column=, or fix the table."
            )
        labels = [f"{name}/{_label_text(v)}" for v in values]
    return list(zip(start, stop, labels))


def _check_spike_order(
    flat: NDArray[np.float64], ends: NDArray[np.int64], ids: list[str], path: Path, sort: bool
) -> None:
    """Raise for units whose spike times decrease (unless ``sort``)."""
    if sort or flat.size < 2:
        return  # make_recording sorts each unit's times
    dec = flat[1:] < flat[:-1]
    inner = ends[:-1]
    dec[inner[(inner > 0) & (inner < flat.size)] - 1] = False  # pairs across two units
    where = np.flatnonzero(dec)
    if not where.size:
        return
    unit_of = np.searchsorted(ends, where, side="right")  # unit of pair (i, i + 1)
    bad_units = np.unique(unit_of)
    i = int(where[0])
    u = int(unit_of[0])
    raise RecordingError(
        f"{path}: the spike times of {bad_units.size} unit(s) are not sorted, e.g. unit "
        f"{ids[u]!r} goes from {flat[i]} s back to {flat[i + 1]} s (spike_times index "
        f"{i + 1}; {int((unit_of == u).sum())} decrease(s) in that unit). pynwb writes sorted "
        "times, so the file is probably damaged (a zeroed block reads as spikes at 0 s); "
        "pass sort=True to sort them anyway."
    )


def _warn_negative(
    flat: NDArray[np.float64], spike_unit: NDArray[np.int64], ids: list[str], path: Path
) -> None:
    neg = flat < 0
    if neg.any():
        i = int(np.argmin(flat))
        warnings.warn(
            f"{path.name}: {int(neg.sum())} spike time(s) are negative (earliest {flat[i]} s, "
            f"unit {ids[int(spike_unit[i])]!r}), so the recording starts there instead of at "
            "0. Pass t_start= to choose the start (and outside='drop' to drop earlier spikes).",
            SpikeDecodeWarning,
            stacklevel=3,
        )


def _observed_only(
    flat: NDArray[np.float64], spike_unit: NDArray[np.int64], obs: list[NDArray[np.float64]],
    ids: list[str], path: Path, t_start: float, t_stop: float,
) -> tuple[NDArray[np.float64], NDArray[np.int64], list[tuple[float, float, str]]]:
    """Honour the units' ``obs_intervals``: time a unit was not observed is not silence.

    Spikes outside their unit's observed intervals contradict the file: they are dropped,
    counted and reported. Spans where any unit was unobserved are returned as excluded
    intervals (table ``"obs_intervals"``), so no window is taken there and called latent.
    """
    keep = np.ones(flat.size, dtype=bool)
    gaps: list[tuple[float, float]] = []
    for u, iv in enumerate(obs):
        if not iv.size:
            continue  # no intervals stored for this unit: nothing is known, nothing to do
        iv = iv[np.argsort(iv[:, 0])]
        sel = np.flatnonzero(spike_unit == u)
        t = flat[sel]
        k = np.searchsorted(iv[:, 0], t, side="right") - 1
        inside = (k >= 0) & (t <= iv[np.maximum(k, 0), 1])
        keep[sel[~inside]] = False
        cur = t_start
        for a, b in iv:
            if a > cur:
                gaps.append((cur, min(float(a), t_stop)))
            cur = max(cur, float(b))
        if cur < t_stop:
            gaps.append((cur, t_stop))
    n_out = int((~keep).sum())
    if n_out:
        first = int(np.flatnonzero(~keep)[0])
        warnings.warn(
            f"{path.name}: dropped {n_out} spike(s) outside their unit's obs_intervals (e.g. "
            f"unit {ids[int(spike_unit[first])]!r} at {flat[first]} s): the file says the "
            "unit was not observed then.", DataDroppedWarning, stacklevel=3)
    merged: list[list[float]] = []
    for a, b in sorted(g for g in gaps if g[1] > g[0]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    if merged:
        total = sum(b - a for a, b in merged)
        warnings.warn(
            f"{path.name}: {total:.6g} s in {len(merged)} span(s) lie outside some unit's "
            "obs_intervals; that time is excluded (no windows there) instead of counted as "
            "silence (excluded_table 'obs_intervals').", DataDroppedWarning, stacklevel=3)
    return flat[keep], spike_unit[keep], [(a, b, "obs_intervals") for a, b in merged]


def _unit_ids(units: Any, unit_column: str | None) -> list[str]:
    """The unit names of an NWB units table: ``unit_column``, a known name column, or ids."""
    if unit_column is not None:
        if unit_column not in units.colnames and unit_column != "id":
            raise ConfigError(
                f"unit_column == {unit_column!r} is not a column of the units "
                f"table; its columns are {list(units.colnames)} (or 'id')."
            )
        col = unit_column
    else:
        col = next((c for c in UNIT_NAME_COLUMNS if c in units.colnames), "id")
    raw_ids = units.id.data[:] if col == "id" else _column(units, col)
    ids = [_label_text(v) for v in raw_ids]
    if unit_column is None and col != "id" and len(set(ids)) != len(ids):
        # a name column with repeats (e.g. per-channel names): use the ids
        ids = [_label_text(v) for v in units.id.data[:]]
    return ids


def _interval_rows(tables: Mapping[str, Any], every: Mapping[str, Any],
                   label_column: str | Mapping[str, str] | None,
                   exclude_other_intervals: bool) -> tuple[list[tuple[float, float, str]],
                                                           list[tuple[float, float, str]],
                                                           list[dict[str, Any]]]:
    """Epoch rows of the chosen tables, excluded spans of the others, and a description."""
    if isinstance(label_column, Mapping):
        unknown = sorted(str(k) for k in label_column if k not in tables)
        if unknown:
            raise ConfigError(
                f"label_column names table(s) {unknown} that are not read as epochs; the "
                f"tables read are {sorted(tables)} (of {sorted(every)} in the file). Fix the "
                "table name, or add it to intervals=."
            )
    rows: list[tuple[float, float, str]] = []
    for name, table in tables.items():
        rows.extend(_epochs_of(name, table, label_column))
    excluded: list[tuple[float, float, str]] = []
    described = []
    for name, table in every.items():
        role = ("epochs" if name in tables else
                "excluded" if exclude_other_intervals else "ignored")
        if role == "excluded":
            ex_start, ex_stop = _intervals_of(table)
            excluded.extend((a, b, name) for a, b in zip(ex_start, ex_stop))
        lab = _label_column_of(name, table, label_column if role == "epochs" else None)
        described.append({"table": name, "rows": len(table),
                          "columns": list(getattr(table, "colnames", ())),
                          "label_column": lab or "", "role": role,
                          "time_columns": _time_columns(table),
                          "descriptions": _descriptions(table)})
    return rows, excluded, described


def _time_columns(table: Any) -> list[str]:
    """The columns of an interval table that hold times (s): numeric ``*_time`` columns."""
    out = []
    for name in ("start_time", "stop_time", *getattr(table, "colnames", ())):
        if name in out or not (name.endswith("_time") or name.endswith("_times")):
            continue
        try:
            col = table[name]
        except KeyError:  # pragma: no cover - colnames and columns disagree
            continue
        if hasattr(col, "target"):  # ragged: not one time per row
            continue
        kind = np.asarray(col.data[:1]).dtype.kind
        if kind in "fiu":
            out.append(str(name))
    return out


def _descriptions(table: Any) -> dict[str, str]:
    """Each column's own description, as the file states it."""
    out = {}
    for col in getattr(table, "columns", ()):
        out[str(col.name)] = str(getattr(col, "description", "") or "")
    return out


def read_interval_table(path: str | Path, table: str) -> Any:
    """One interval table of an NWB file as a pandas DataFrame: the events to align to.

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.
    table : str
        The interval table, e.g. ``"trials"`` or ``"recognition_table"``
        (``spikedecode info FILE`` lists them).

    Returns
    -------
    pandas.DataFrame
        One row per interval, one column per table column (ragged columns joined as
        text with ``+``; bytes decoded). ``attrs``: ``table``, ``time_columns`` (the
        numeric ``*_time`` columns, e.g. ``start_time``, ``boundary1_time``) and
        ``descriptions`` (column -> the file's own description).

    Raises
    ------
    ConfigError
        ``table`` is not an interval table of the file.
    CorruptFileError
        pynwb cannot read the file.

    Examples
    --------
    >>> import tempfile, datetime, pynwb
    >>> nwb = pynwb.NWBFile(session_description="demo", identifier="demo-2",
    ...                     session_start_time=datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc))
    >>> nwb.add_unit(spike_times=[0.1, 0.5])
    >>> nwb.add_trial_column("cue_time", "time of the cue (s)")
    >>> nwb.add_trial(start_time=0.0, stop_time=1.0, cue_time=0.4)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with pynwb.NWBHDF5IO(Path(tmp) / "demo.nwb", "w") as io:
    ...         io.write(nwb)
    ...     df = read_interval_table(Path(tmp) / "demo.nwb", "trials")
    >>> df["cue_time"].tolist(), df.attrs["time_columns"], df.attrs["descriptions"]["cue_time"]
    ([0.4], ['start_time', 'stop_time', 'cue_time'], 'time of the cue (s)')
    """
    import pandas as pd

    from spikedecode._optional import attempt_import

    pynwb = attempt_import("pynwb", "to read NWB files")
    path = Path(path)
    with corrupt_file_errors(path, "NWB", "the file is truncated, damaged or not NWB 2."):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(pynwb|hdmf)(\.|$)")
            warnings.filterwarnings("ignore", category=UserWarning, message=".*OpticalSeries")
            with pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
                nwb = io.read()
                _, every = _pick_tables(nwb, None)
                if table not in every:
                    raise ConfigError(
                        f"table == {table!r} is not an interval table of {path.name}; its "
                        f"tables are {list(every)} (`spikedecode info FILE` lists them)."
                    )
                tab = every[table]
                data: dict[str, Any] = {}
                for name in ("start_time", "stop_time", *tab.colnames):
                    if name in data:
                        continue
                    col = tab[name]
                    if hasattr(col, "target"):
                        data[name] = [_label_text(v) for v in _column(tab, name)]
                        continue
                    values = np.asarray(col.data[:])
                    if values.dtype.kind == "S" or values.dtype.kind == "O":
                        values = np.asarray([_label_text(v) for v in values.tolist()],
                                            dtype=object)
                    data[name] = values if values.ndim == 1 else list(values)
                df = pd.DataFrame(data, index=pd.Index(np.asarray(tab.id.data[:]), name="id"))
                df.attrs.update(table=table, time_columns=_time_columns(tab),
                                descriptions=_descriptions(tab))
    return df


def read_nwb(
    path: str | Path,
    *,
    intervals: str | Sequence[str] | None = "auto",
    label_column: str | Mapping[str, str] | None = None,
    unit_column: str | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
    outside: str = "raise",
    exclude_other_intervals: bool = True,
    sort: bool = False,
    **kwargs: Any,
) -> xr.Dataset:
    """Read the sorted units and interval tables of an NWB 2 file as a Recording.

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.
    intervals : "auto", "all", str, list of str or None, default="auto"
        Which interval tables become epochs (see the module docstring), e.g.
        ``"encoding_table"``. ``spikedecode info FILE`` lists a file's tables.
    label_column : str or mapping table -> column, optional
        Column that labels the epochs, e.g. ``"stimCategory"``; default: the first of
        :data:`LABEL_COLUMNS` the table has.
    unit_column : str, optional
        Units-table column holding unit ids; default a name column, else ``id``.
    t_start, t_stop : float, optional
        Recording interval; defaults cover every spike and epoch (and start at 0 unless
        something is earlier).
    outside : {"raise", "drop"}, default="raise"
        What to do with spikes outside an explicit [t_start, t_stop).
    exclude_other_intervals : bool, default=True
        Store the rows of the tables not read as epochs as excluded intervals, so that
        windows inside them are not called latent (see the module docstring).
    sort : bool, default=False
        Sort each unit's spike times. By default a unit whose times decrease raises: in
        a file written by pynwb that means damage (a zeroed block reads as spikes at 0)
        or an export that mixed units, as in :func:`spikedecode.from_spiketrains`.
    **kwargs
        ``session``, ``day``, ``subject``, ``source`` override the file's metadata.

    Returns
    -------
    xarray.Dataset
        A Recording; ``attrs["nwb_intervals"]`` lists the file's interval tables and
        ``attrs["nwb_interval_tables"]`` describes them (:func:`interval_tables`). With
        excluded intervals, also ``excluded_start``, ``excluded_stop`` (float64, s) and
        ``excluded_table`` (str) on dim ``excluded``.

    Raises
    ------
    CorruptFileError
        pynwb/h5py cannot read the file.
    FileFormatError
        The file has no units table.
    ConfigError
        ``intervals`` or ``label_column`` name something the file does not have.
    RecordingError
        A unit's spike times are not sorted (and ``sort`` is False).

    Warns
    -----
    SpikeDecodeWarning
        Negative spike times when ``t_start`` is not given: the recording then starts at
        the first spike instead of 0, which the warning says.

    Examples
    --------
    A two-unit file with a trials table, written with pynwb:

    >>> import tempfile, datetime, pynwb
    >>> nwb = pynwb.NWBFile(session_description="demo", identifier="demo-1",
    ...                     session_start_time=datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc))
    >>> nwb.add_unit(spike_times=[0.1, 0.5, 2.0]); nwb.add_unit(spike_times=[0.3])
    >>> nwb.add_trial_column("stimulus", "stimulus name")
    >>> nwb.add_trial(start_time=0.0, stop_time=1.0, stimulus="LUM")
    >>> nwb.add_trial(start_time=1.0, stop_time=2.5, stimulus="LBR")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with pynwb.NWBHDF5IO(Path(tmp) / "demo.nwb", "w") as io:
    ...         io.write(nwb)
    ...     rec = read_nwb(Path(tmp) / "demo.nwb")
    >>> rec.spikedecode.n_units, rec.spikedecode.n_spikes, rec["epoch_label"].values.tolist()
    (2, 4, ['trials/LUM', 'trials/LBR'])
    """
    from spikedecode._optional import attempt_import
    from spikedecode.recording import make_recording

    pynwb = attempt_import("pynwb", "to read NWB files")
    path = Path(path)
    with corrupt_file_errors(path, "NWB", "the file is truncated, damaged or not NWB 2."):
        with warnings.catch_warnings():
            # pynwb warns about unrelated schema details (e.g. OpticalSeries fields)
            warnings.filterwarnings("ignore", module=r"(pynwb|hdmf)(\.|$)")
            warnings.filterwarnings("ignore", category=UserWarning, message=".*OpticalSeries")
            with pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
                nwb = io.read()
                units = nwb.units
                if units is None or len(units) == 0 or "spike_times" not in units.colnames:
                    raise FileFormatError(
                        f"{path} has no units table with spike_times (nwb.units); spikedecode "
                        "reads sorted units. Run spike sorting and add a Units table first."
                    )
                st_index = units["spike_times"]
                flat = np.asarray(st_index.target.data[:], dtype=np.float64)
                ends = np.asarray(st_index.data[:], dtype=np.int64)
                ids = _unit_ids(units, unit_column)
                obs = ([np.asarray(units["obs_intervals"][i], dtype=np.float64).reshape(-1, 2)
                        for i in range(len(units))]
                       if "obs_intervals" in units.colnames else None)
                tables, every = _pick_tables(nwb, intervals)
                available = list(every)
                rows, excluded, described = _interval_rows(
                    tables, every, label_column, exclude_other_intervals)
                session = str(nwb.session_id or nwb.identifier or "")
                subject = ""
                if nwb.subject is not None and nwb.subject.subject_id is not None:
                    subject = str(nwb.subject.subject_id)
                start_time = str(nwb.session_start_time.isoformat())
    counts = np.diff(np.concatenate([[0], ends]))
    if counts.size != len(ids) or (counts < 0).any() or (ends.size and ends[-1] != flat.size):
        raise CorruptFileError(
            f"{path}: the units table's spike_times index is inconsistent "
            f"({len(ids)} units, index ends at {ends[-1] if ends.size else 0}, "
            f"{flat.size} spike times)."
        )
    spike_unit = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
    _check_spike_order(flat, ends, ids, path, sort)
    rows.sort(key=lambda r: r[0])
    if t_start is None:
        lo = [0.0]
        if flat.size:
            lo.append(float(flat.min()))
            _warn_negative(flat, spike_unit, ids, path)
        lo.extend(r[0] for r in rows)
        t_start = float(min(lo))
    if t_stop is None:
        hi = [float(np.nextafter(flat.max(), np.inf))] if flat.size else [t_start + 1.0]
        hi.extend(r[1] for r in rows)
        t_stop = float(max(hi))
    if obs is not None:
        flat, spike_unit, unobserved = _observed_only(flat, spike_unit, obs, ids, path,
                                                      float(t_start), float(t_stop))
        excluded.extend(unobserved)
    meta = {"session": session, "subject": subject, "source": path.name}
    meta.update(kwargs)
    rec = make_recording(
        flat,
        spike_unit,
        units=ids,
        t_start=t_start,
        t_stop=t_stop,
        epochs=rows or None,
        outside=outside,
        attrs={"nwb_intervals": ",".join(available), "session_start_time": start_time,
               "nwb_interval_tables": json.dumps(described)},
        **meta,
    )
    if excluded:
        excluded.sort(key=lambda r: r[0])
        ex = np.asarray([(a, b) for a, b, _ in excluded], dtype=np.float64).reshape(-1, 2)
        rec = rec.assign(
            excluded_start=("excluded", ex[:, 0], {"units": "s"}),
            excluded_stop=("excluded", ex[:, 1], {"units": "s"}),
            excluded_table=("excluded", np.asarray([r[2] for r in excluded], dtype=str)),
        )
    return rec
