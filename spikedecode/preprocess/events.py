"""Event-aligned epochs: one sample per event (trial), bins relative to the event.

:func:`event_windows` cuts, for every row of an event table (an NWB interval table read
with :func:`spikedecode.io.read_interval_table`, any DataFrame or mapping of columns, or
the Recording's own epochs), the window ``[event + t0, event + t1)`` out of the spike
times, counts each unit's spikes in bins of ``bin_size`` that start *exactly* at
``event + t0`` (bins are ``[left, left + bin_size)``, as in :func:`bin_spikes`), and
returns ordinary Windows ``(sample, lag, unit)``:

* ``per="trial"`` (default): one sample per event; the bins are the ``lag`` axis, and
  the ``lag`` coordinate ``t_lag`` holds each bin's left edge *relative to the event*
  (the time-since-event axis of time-resolved decoding,
  :class:`spikedecode.decoders.SlidingEstimator`);
* ``per="bin"``: one sample per (event, bin) with one lag; the per-sample ``t_rel``
  holds the bin's left edge relative to the event (what
  :func:`spikedecode.evaluation.prepare_days` keys conditions by).

**Labels** come from any column of the table (``label=``), or, with ``baseline=(b0, b1)``,
from the contrast *event vs baseline*: every event gives two samples, its window
(label ``"event"``) and the window ``[event + b0, event + b1)`` of the same trial (label
``"baseline"``). Both samples of one trial share the ``trial`` id, so grouped splitters
never put them on two sides of a fold.

**Nothing is dropped silently**: rows whose event time (or label) is missing (NaN,
None, empty) are dropped, counted in ``attrs["n_dropped_missing"]`` and reported with a
:class:`~spikedecode.errors.DataDroppedWarning`; a window that leaves the recording
raises (or, with ``outside="drop"``, is dropped, counted and reported the same way).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    ConfigError,
    DataDroppedWarning,
    LabelError,
    NotEnoughDataError,
    SpikeDecodeTypeError,
)

__all__ = ["event_windows", "epochs_table", "EVENT", "BASELINE"]

#: label of the event window in a baseline contrast
EVENT = "event"
#: label of the pre-event (baseline) window in a baseline contrast
BASELINE = "baseline"

#: per-sample coordinate names that an extra column may not take
_RESERVED = ("time", "label", "trial", "t_rel", "day", "lag", "unit", "event_time", "t_lag")


def epochs_table(rec: xr.Dataset) -> dict[str, NDArray[Any]]:
    """The Recording's epochs as an event table (``start_time``, ``stop_time``, ``label``).

    Parameters
    ----------
    rec : xarray.Dataset
        A Recording.

    Returns
    -------
    dict of str -> ndarray
        Columns ``start_time``, ``stop_time`` (float64, s) and ``label`` (str), one
        entry per epoch.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> rec = make_recording([0.5], [0], units=["a"], t_stop=2.0, epochs=[(1.0, 1.5, "x")])
    >>> {k: v.tolist() for k, v in epochs_table(rec).items()}
    {'start_time': [1.0], 'stop_time': [1.5], 'label': ['x']}
    """
    if not isinstance(rec, xr.Dataset) or "epoch_start" not in rec:
        raise SpikeDecodeTypeError(
            f"rec must be a Recording (xarray.Dataset with epochs); got {type(rec).__name__}."
        )
    return {"start_time": np.asarray(rec["epoch_start"].values, dtype=np.float64),
            "stop_time": np.asarray(rec["epoch_stop"].values, dtype=np.float64),
            "label": np.asarray(rec["epoch_label"].values).astype(str)}


def _columns(events: Any) -> tuple[dict[str, NDArray[Any]], str]:
    """``events`` as ``{column: 1-D array}`` of one length, and the table's name."""
    name = ""
    if hasattr(events, "columns") and hasattr(events, "to_numpy"):  # a DataFrame
        name = str(getattr(events, "attrs", {}).get("table", ""))
        cols = {str(c): np.asarray(events[c].to_numpy()) for c in events.columns}
    elif isinstance(events, Mapping):
        cols = {str(k): np.asarray(v) for k, v in events.items()}
    else:
        raise SpikeDecodeTypeError(
            f"events must be a DataFrame or a mapping column -> values (e.g. "
            f"spikedecode.io.read_interval_table(path, 'trials')); got {type(events).__name__}."
        )
    lengths = {k: v.shape[0] if v.ndim else -1 for k, v in cols.items()}
    if len(set(lengths.values())) > 1 or any(v.ndim != 1 for v in cols.values()):
        raise SpikeDecodeTypeError(
            f"events must hold 1-D columns of one length; got lengths {lengths}."
        )
    if not cols or next(iter(lengths.values())) == 0:
        raise NotEnoughDataError("events has no rows; there is nothing to align to.")
    return cols, name


def _column(cols: Mapping[str, NDArray[Any]], name: str, field: str, table: str) -> NDArray:
    if name not in cols:
        where = f"interval table {table!r}" if table else "events"
        raise ConfigError(
            f"{field} == {name!r} is not a column of {where}; its columns are "
            f"{sorted(cols)}. `spikedecode info FILE` lists each table's columns."
        )
    return cols[name]


def _missing(values: NDArray[Any]) -> NDArray[np.bool_]:
    """True where a label or time is missing: NaN, None, or empty text."""
    if values.dtype.kind == "f":
        return ~np.isfinite(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    out = np.zeros(values.shape, dtype=bool)
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            out[i] = True
        elif isinstance(v, (str, bytes)) and not v.strip():
            out[i] = True
    return out


def _label_text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.generic):
        return str(v.item())
    return str(v)


def _window(value: Any, field: str) -> tuple[float, float]:
    try:
        t0, t1 = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"{field} == {value!r}, must be (start, stop) in seconds relative to the event, "
            "e.g. (0.2, 1.2)."
        ) from err
    if not (np.isfinite(t0) and np.isfinite(t1)) or t1 <= t0:
        raise ConfigError(
            f"{field} == {value!r}; need finite start < stop (seconds relative to the event)."
        )
    return t0, t1


def _n_bins(t0: float, t1: float, bin_size: float | None, field: str) -> tuple[int, float]:
    if bin_size is None:
        return 1, t1 - t0
    bin_size = float(check_param(bin_size, "bin_size", Interval(Real, 0, None, closed="neither")))
    n = int(round((t1 - t0) / bin_size))
    if n < 1:
        raise ConfigError(f"{field} == ({t0}, {t1}) holds no bin of {bin_size} s; widen it or "
                          "use a smaller bin_size.")
    if abs(n * bin_size - (t1 - t0)) > 1e-6 * max(bin_size, 1e-3):
        raise ConfigError(
            f"{field} == ({t0}, {t1}) is {t1 - t0:g} s, not a whole number of bins of "
            f"bin_size == {bin_size} s; choose a window whose length is a multiple of it "
            f"(e.g. ({t0}, {t0 + n * bin_size:g}))."
        )
    return n, bin_size


def _count(rec: xr.Dataset, left: NDArray[np.float64], n_bins: int, bin_size: float
           ) -> NDArray[np.int64]:
    """Spike counts (event, bin, unit) in ``[left + k * bin_size, left + (k+1) * bin_size)``."""
    edges = left[:, None] + bin_size * np.arange(n_bins + 1)[None, :]
    times = np.asarray(rec["spike_time"].values, dtype=np.float64)
    unit_idx = np.asarray(rec["spike_unit"].values).astype(np.int64)
    n_units = rec.sizes["unit"]
    # spikes are sorted by unit, then time (Recording invariant): each unit is one slice
    bounds = np.searchsorted(unit_idx, np.arange(n_units + 1), side="left")
    out = np.empty((left.size, n_bins, n_units), dtype=np.int64)
    flat_edges = edges.ravel()
    for u in range(n_units):
        st = times[bounds[u]:bounds[u + 1]]
        c = np.searchsorted(st, flat_edges, side="left").reshape(edges.shape)
        out[:, :, u] = np.diff(c, axis=1)
    return out


def event_windows(
    rec: xr.Dataset,
    events: Any = None,
    *,
    align: str = "start_time",
    window: tuple[float, float] = (0.0, 0.5),
    bin_size: float | None = None,
    label: str | None = None,
    labels: Iterable[Any] | None = None,
    baseline: tuple[float, float] | None = None,
    coords: Sequence[str] = (),
    per: str = "trial",
    outside: str = "raise",
) -> xr.DataArray:
    """Windows aligned to the events of a table: one sample per event (trial).

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording (spike times).
    events : DataFrame or mapping column -> values, optional
        The event table, one row per trial, e.g.
        ``spikedecode.io.read_interval_table(path, "recognition_table")``. Default: the
        Recording's epochs (:func:`epochs_table`: ``start_time``, ``stop_time``,
        ``label``).
    align : str, default="start_time"
        The column of event times (s) to align to: ``start_time``, ``stop_time``,
        ``boundary1_time``, ...
    window : (float, float), default=(0.0, 0.5)
        The window relative to each event (s); ``(0.2, 1.2)`` is 0.2 s to 1.2 s after it.
    bin_size : float, optional
        Bin width (s); the window must hold a whole number of bins. Default: one bin
        spanning the window (whole-window counts).
    label : str, optional
        The column that labels the trials (e.g. ``stimuli_type``). Required unless
        ``baseline`` is given; default with ``events=None``: ``"label"``.
    labels : iterable, optional
        Keep only the rows whose label (as text) is one of these.
    baseline : (float, float), optional
        Decode *event vs baseline*: each trial also gives its window
        ``[event + b0, event + b1)`` labelled :data:`BASELINE` (the event window is
        labelled :data:`EVENT`), in the same group (``trial``). It must be as long as
        ``window`` and must not overlap it. ``label``, when given too, is kept as the
        per-sample coordinate ``condition``.
    coords : sequence of str, default=()
        Further columns kept as per-sample coordinates (e.g. ``("old_new",)``).
    per : {"trial", "bin"}, default="trial"
        ``"trial"``: one sample per event, the bins on the ``lag`` axis. ``"bin"``: one
        sample per (event, bin), one lag each (see the module docstring).
    outside : {"raise", "drop"}, default="raise"
        What to do with a window that leaves the recording ``[t_start, t_stop)``.

    Returns
    -------
    xarray.DataArray
        Windows ``(sample, lag, unit)`` of int64 counts, valid against the ``windows``
        schema. Per-sample coords: ``time`` (left edge of the sample's first bin, s),
        ``event_time``, ``t_rel`` (that edge relative to the event), ``label``,
        ``trial`` (the row of the table), ``day`` and every column in ``coords``. The
        ``lag`` axis has the coord ``t_lag``: each lag's left edge relative to the event
        (time since event; ``per="bin"``: that of the sample's bin is ``t_rel``). Attrs:
        ``bin_size``, ``n_bins``, ``step``, ``window``, ``align``, ``baseline``, ``table``,
        ``n_events``, ``n_dropped_missing``, ``n_dropped_outside``, ``per``, ``day``,
        ``session``.

    Raises
    ------
    ConfigError
        An unknown column; a window that is not (start < stop) or not a whole number of
        bins; a baseline of another length than ``window`` or overlapping it;
        ``label`` and ``baseline`` both missing.
    RecordingError
        A window outside the recording (with ``outside="raise"``).
    LabelError
        Fewer than two labels left to decode; ``labels`` naming a label no row has.
    NotEnoughDataError
        No row left (e.g. every event time is NaN).

    Warns
    -----
    DataDroppedWarning
        Rows dropped for a missing event time or label, or (``outside="drop"``) a
        window outside the recording; the counts are in ``attrs``.

    See Also
    --------
    spikedecode.io.read_interval_table : an NWB interval table as an event table.
    spikedecode.decoders.SlidingEstimator : one decoder per lag (time-resolved decoding).

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> rec = make_recording([1.25, 1.3, 2.1, 3.3], [0, 1, 0, 1], units=["a", "b"],
    ...                      t_stop=5.0)
    >>> table = {"start_time": [1.0, 3.0], "kind": ["x", "y"]}
    >>> w = event_windows(rec, table, window=(0.2, 0.4), bin_size=0.1, label="kind")
    >>> w.shape, w["label"].values.tolist(), w["t_lag"].values.tolist()
    ((2, 2, 2), ['x', 'y'], [0.2, 0.3])
    >>> w.values[0].tolist()  # trial 0: a at 1.25 s falls in [1.2, 1.3), b at 1.3 in [1.3, 1.4)
    [[1, 0], [0, 1]]
    >>> b = event_windows(rec, table, window=(0.2, 0.4), baseline=(-0.2, 0.0))
    >>> b["label"].values.tolist(), b["trial"].values.tolist()
    (['event', 'event', 'baseline', 'baseline'], [0, 1, 0, 1])
    """
    return _event_windows(rec, events, align=align, window=window, bin_size=bin_size,
                          label=label, labels=labels, baseline=baseline, coords=coords,
                          per=per, outside=outside, min_classes=2)


def _rows_to_keep(times: NDArray[np.float64], lab_col: NDArray[Any] | None,
                  labels: Iterable[Any] | None, label: str | None, align: str
                  ) -> tuple[NDArray[np.bool_], int, NDArray[Any] | None]:
    """Rows with a time and a label (the others counted and reported), filtered by labels."""
    n_rows = times.size
    bad_time = _missing(times)
    bad_label = _missing(lab_col) if lab_col is not None else np.zeros(n_rows, dtype=bool)
    keep = ~(bad_time | bad_label)
    n_missing = int((~keep).sum())
    text = (np.asarray([_label_text(v) for v in lab_col.tolist()], dtype=object)
            if lab_col is not None else None)
    if labels is not None and text is not None:
        wanted = {_label_text(v) for v in ([labels] if isinstance(labels, str) else labels)}
        present = set(text[keep].tolist())
        unknown = sorted(wanted - present)
        if unknown:
            raise LabelError(
                f"labels names {unknown}, which no row of column {label!r} has; its values "
                f"are {sorted(present)}."
            )
        keep &= np.isin(text.astype(str), sorted(wanted))
    if n_missing:
        what = []
        if bad_time.any():
            what.append(f"{int(bad_time.sum())} without a time in {align!r}")
        if (bad_label & ~bad_time).any():
            what.append(f"{int((bad_label & ~bad_time).sum())} without a label in {label!r}")
        warnings.warn(
            f"event_windows dropped {n_missing} of {n_rows} row(s) ({'; '.join(what)}, e.g. "
            f"row {int(np.flatnonzero(bad_time | bad_label)[0])}).",
            DataDroppedWarning, stacklevel=4,
        )
    if not keep.any():
        raise NotEnoughDataError(
            f"no row of the event table is left to align to ({n_rows} rows, {n_missing} "
            f"without a time/label in {align!r}/{label!r})."
        )
    return keep, n_missing, text


def _inside_recording(rec: xr.Dataset, times: NDArray[np.float64], keep: NDArray[np.bool_],
                      spans: list[tuple[float, float]], align: str, outside: str
                      ) -> tuple[NDArray[np.bool_], int]:
    """Keep rows whose windows (and baselines) lie inside the recording, or raise."""
    from spikedecode.errors import RecordingError

    t_start, t_stop = float(rec.attrs["t_start"]), float(rec.attrs["t_stop"])
    lo = min(a for a, _ in spans)
    hi = max(b for _, b in spans)
    out_of = keep & ((times + lo < t_start) | (times + hi > t_stop))
    n_outside = int(out_of.sum())
    if n_outside:
        i = int(np.flatnonzero(out_of)[0])
        msg = (f"{n_outside} event window(s) leave the recording [{t_start:g}, {t_stop:g}) s, "
               f"e.g. row {i}: {align} = {times[i]:g} s, window [{times[i] + lo:g}, "
               f"{times[i] + hi:g}) s")
        if outside == "raise":
            raise RecordingError(msg + "; narrow window/baseline or pass outside='drop'.")
        warnings.warn(f"event_windows dropped {msg}.", DataDroppedWarning, stacklevel=4)
        keep = keep & ~out_of
        if not keep.any():
            raise NotEnoughDataError("every event window leaves the recording.")
    return keep, n_outside


def _layout(counts: NDArray[np.int64], per: str, *, lefts: NDArray[np.float64],
            rel0: NDArray[np.float64], t0: float, width: float,
            event_time: NDArray[np.float64], lab: NDArray[Any], row_of: NDArray[np.intp],
            day: Any, extra: Mapping[str, NDArray[Any]]
            ) -> tuple[NDArray[np.int64], dict[str, Any], NDArray[np.float64]]:
    """Counts (window, bin, unit) as samples: the data, per-sample coords, lag times."""
    n_win, n_bins, n_units = counts.shape
    if per == "trial":
        data = counts
        rep = np.arange(n_win)
        off = np.zeros(n_win)
        lag_rel = np.round(t0 + width * np.arange(n_bins), 9)
    else:
        data = counts.reshape(-1, 1, n_units)
        rep = np.repeat(np.arange(n_win), n_bins)
        off = np.tile(width * np.arange(n_bins), n_win)
        lag_rel = np.zeros(1)
    sample_coords: dict[str, Any] = {
        "time": ("sample", (lefts[rep] + off).astype(np.float64), {"units": "s"}),
        "event_time": ("sample", event_time[rep], {"units": "s"}),
        "t_rel": ("sample", np.round(rel0[rep] + off, 9), {"units": "s"}),
        "label": ("sample", lab[rep]),
        "trial": ("sample", row_of[rep].astype(np.int64)),
        "day": ("sample", np.full(rep.size, day)),
    }
    for name, values in extra.items():
        v = np.asarray([_label_text(x) for x in values.tolist()]) \
            if values.dtype.kind in "OSU" else values
        sample_coords[name] = ("sample", v[row_of][rep])
    return data, sample_coords, lag_rel


def _baseline(baseline: tuple[float, float] | None, window: Any, t0: float, t1: float
              ) -> tuple[float, float]:
    """The baseline span, checked: as long as the window and not overlapping it."""
    if baseline is None:
        return np.nan, np.nan
    b0, b1 = _window(baseline, "baseline")
    if abs((b1 - b0) - (t1 - t0)) > 1e-9 * max(1.0, abs(t1 - t0)):
        raise ConfigError(
            f"baseline == {baseline!r} lasts {b1 - b0:g} s but window == {window!r} lasts "
            f"{t1 - t0:g} s; a decoder compares windows of one length: use e.g. "
            f"baseline=({t0 - (t1 - t0) - max(0.0, t0):g}, {min(t0, 0.0):g})."
        )
    if b0 < t1 and t0 < b1:
        raise ConfigError(
            f"baseline == {baseline!r} overlaps window == {window!r}: the same spikes "
            "would sit in both classes. Choose a baseline that ends before the window "
            "starts (e.g. (-1.0, 0.0) for window (0.2, 1.2))."
        )
    return b0, b1


def _event_windows(
    rec: xr.Dataset, events: Any, *, align: str, window: tuple[float, float],
    bin_size: float | None, label: str | None, labels: Iterable[Any] | None,
    baseline: tuple[float, float] | None, coords: Sequence[str], per: str, outside: str,
    min_classes: int,
) -> xr.DataArray:
    """:func:`event_windows`, with the number of labels it requires (1 for epoch_bins)."""
    from spikedecode.recording import check_recording

    check_recording(rec)
    if events is None:
        events = epochs_table(rec)
        if label is None and baseline is None:
            label = "label"
    cols, table = _columns(events)
    per = check_param(per, "per", Options("trial", "bin"))
    outside = check_param(outside, "outside", Options("raise", "drop"))
    t0, t1 = _window(window, "window")
    n_bins, width = _n_bins(t0, t1, bin_size, "window")
    b0, b1 = _baseline(baseline, window, t0, t1)
    if labels is not None and label is None:
        raise ConfigError(
            "labels= filters the rows by their label, but label= is None; name the column "
            "to filter on (with baseline=, it becomes the 'condition' coordinate)."
        )
    if baseline is None and label is None:
        raise ConfigError(
            "event_windows needs label= (the column that labels the trials, e.g. "
            "'stimuli_type') or baseline= (decode the event window against a pre-event "
            "window of the same trial)."
        )
    times = _column(cols, align, "align", table)
    if times.dtype.kind not in "fiu":
        raise ConfigError(
            f"align == {align!r} is a column of {times.dtype} values, not event times; pick a "
            f"time column (numbers of seconds), e.g. one of "
            f"{sorted(k for k, v in cols.items() if v.dtype.kind in 'fiu')}."
        )
    times = times.astype(np.float64)
    lab_col = None if label is None else _column(cols, label, "label", table)
    extra = {}
    for name in coords:
        if name in _RESERVED:
            raise ConfigError(f"coords name {name!r} is reserved; rename the column.")
        extra[name] = _column(cols, name, "coords", table)

    n_rows = times.size
    keep, n_missing, text = _rows_to_keep(times, lab_col, labels, label, align)
    spans = [(t0, t1)] + ([(b0, b1)] if baseline is not None else [])
    keep, n_outside = _inside_recording(rec, times, keep, spans, align, outside)
    rows = np.flatnonzero(keep)
    ev = times[rows]

    if baseline is not None:
        lefts = np.concatenate([ev + t0, ev + b0])
        lab = np.array([EVENT] * rows.size + [BASELINE] * rows.size, dtype=str)
        rel0 = np.array([t0] * rows.size + [b0] * rows.size)
        row_of = np.concatenate([rows, rows])
        if text is not None:
            extra = {**extra, "condition": text}
    else:
        lefts = ev + t0
        lab = np.asarray(text)[rows].astype(str)
        rel0 = np.full(rows.size, t0)
        row_of = rows
    classes = np.unique(lab)
    if classes.size < min_classes:
        raise LabelError(
            f"column {label!r} holds one label ({classes.tolist()}) in the {rows.size} kept "
            "rows; decoding needs two or more. Pick another column (spikedecode info FILE "
            "lists them), drop the labels filter, or use baseline=."
        )
    counts = _count(rec, lefts, n_bins, width)  # (sample, bin, unit)
    day = rec.attrs.get("day", 0)
    if isinstance(day, np.integer):
        day = int(day)
    data, sample_coords, lag_rel = _layout(counts, per, lefts=lefts, rel0=rel0, t0=t0,
                                           width=width, event_time=times[row_of],
                                           lab=lab, row_of=row_of, day=day, extra=extra)
    attrs = {
        "bin_size": float(width), "n_bins": int(data.shape[1]), "step": int(data.shape[1]),
        "window": (t0, t1), "align": str(align), "table": table,
        "baseline": () if baseline is None else (b0, b1),
        "label_column": "" if label is None else str(label),
        "n_events": int(rows.size), "n_rows": int(n_rows),
        "n_dropped_missing": n_missing, "n_dropped_outside": n_outside,
        "per": per, "day": day, "session": str(rec.attrs.get("session", "")),
        "window_size": float(t1 - t0) if per == "trial" else float(width),
        "source": "events",
    }
    out = xr.DataArray(
        data, dims=("sample", "lag", "unit"),
        coords={**sample_coords, "lag": ("lag", np.arange(data.shape[1])),
                "t_lag": ("lag", lag_rel, {"units": "s"}),
                "unit": rec["unit"].values},
        attrs=attrs, name="spike_count",
    )
    from spikedecode.schema import validate

    validate(out, "windows")
    return out
