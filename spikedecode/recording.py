"""The Recording: one session of spikes as a long-format ``xarray.Dataset``.

A Recording holds every spike of every unit in two aligned 1-D arrays (``spike_time``,
``spike_unit``), sorted by unit and then by time, so that the spikes of one unit are a
contiguous slice (a view, never a copy). Epochs (stimulus intervals, blocks) sit along
their own ``epoch`` dimension. See DESIGN.md §2 and ``data_schemas/recording.schema.json``.

========================  ===========  ========  ==========================================
name                      dims         dtype     meaning
========================  ===========  ========  ==========================================
``spike_time``            (spike,)     float64   seconds; sorted within each unit
``spike_unit``            (spike,)     int32     index into ``unit``
``unit`` (coord)          (unit,)      str       unit id, unique
``epoch_start/stop``      (epoch,)     float64   seconds
``epoch_label``           (epoch,)     str       e.g. ``touch/LUM``
attrs                                            t_start, t_stop, session, day, subject,
                                                 source, schema_version
========================  ===========  ========  ==========================================
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from spikedecode.errors import (
    DataDroppedWarning,
    RecordingError,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeWarning,
)

__all__ = [
    "SCHEMA_VERSION",
    "make_recording",
    "from_spiketrains",
    "from_neo",
    "to_neo",
    "check_recording",
    "make_epochs",
]

SCHEMA_VERSION = "1.0"


# --------------------------------------------------------------------------- epochs
def make_epochs(epochs: Any) -> tuple[NDArray, NDArray, NDArray]:
    """Normalise an epoch table to ``(start, stop, label)`` arrays.

    Parameters
    ----------
    epochs : None, mapping, DataFrame, or sequence of (start, stop, label)
        A mapping or DataFrame needs ``start``, ``stop`` and ``label`` entries.

    Returns
    -------
    start, stop : ndarray of float64
    label : ndarray of str

    Examples
    --------
    >>> s, e, lab = make_epochs([(1.0, 2.0, "touch/LUM")])
    >>> s.tolist(), e.tolist(), lab.tolist()
    ([1.0], [2.0], ['touch/LUM'])
    """
    if epochs is None:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=str)
    if hasattr(epochs, "columns") or isinstance(epochs, Mapping):
        missing = [k for k in ("start", "stop", "label") if k not in epochs]
        if missing:
            have = list(epochs.columns) if hasattr(epochs, "columns") else list(epochs)
            raise RecordingError(
                f"epochs is missing {missing}; got columns {have}. An epoch table needs "
                "'start' and 'stop' (seconds) and 'label'."
            )
        start, stop, label = epochs["start"], epochs["stop"], epochs["label"]
    else:
        rows = list(epochs)
        if rows and not all(len(r) == 3 for r in rows):
            raise RecordingError(
                "epochs must be rows of (start, stop, label); got a row of length "
                f"{next(len(r) for r in rows if len(r) != 3)}."
            )
        start = [r[0] for r in rows]
        stop = [r[1] for r in rows]
        label = [r[2] for r in rows]
    try:
        start = np.asarray(start, dtype=np.float64).reshape(-1)
        stop = np.asarray(stop, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise SpikeDecodeTypeError(
            f"epoch start/stop must be numbers in seconds; could not convert them ({err})."
        ) from err
    raw = np.asarray(label, dtype=object).reshape(-1)
    unlabelled = [i for i, v in enumerate(raw.tolist()) if v is None or (
        isinstance(v, (float, np.floating)) and np.isnan(v)) or (isinstance(v, str)
                                                                and not v.strip())]
    if unlabelled:
        i = unlabelled[0]
        raise RecordingError(
            f"{len(unlabelled)} epoch label(s) are missing (None, NaN or an empty string; e.g. "
            f"epochs[{i}] has label {raw[i]!r}); they would become a class named "
            f"{str(raw[i])!r}. Give every epoch a label, or drop the unlabelled ones."
        )
    label = np.asarray([str(v) for v in raw], dtype=str)
    if not (start.size == stop.size == label.size):
        raise RecordingError(
            f"epochs have {start.size} starts, {stop.size} stops and {label.size} labels; "
            "they must have the same length."
        )
    return start, stop, label


# ------------------------------------------------------------------ semantic checks
# One helper per invariant of a Recording. make_recording applies them to its inputs
# (RecordingError, with hints about the arguments) and check_recording to a built Dataset
# (SchemaError), so a construction checks each invariant once.

#: spike times spanning more than this (seconds) are probably milliseconds
_MS_SPAN_S = 24 * 3600.0
#: at most this many units with unsorted times are sorted one slice at a time
_MAX_SLICE_SORTS = 100_000


def _check_interval(t_start: float, t_stop: float, error: type[Exception]) -> None:
    if not (np.isfinite(t_start) and np.isfinite(t_stop)):
        raise error(f"t_start == {t_start}, t_stop == {t_stop}; both must be finite.")
    if t_stop <= t_start:
        raise error(
            f"t_stop == {t_stop} must be > t_start == {t_start}; the recording interval is "
            "[t_start, t_stop)."
        )


def _check_unit_ids(ids: NDArray, error: type[Exception]) -> None:
    if ids.size == 0:
        raise error("the recording has zero units; give at least one unit.")
    vals, counts = np.unique(ids, return_counts=True)
    if vals.size != ids.size:
        raise error(
            f"unit ids must be unique; {vals[counts > 1][:5].tolist()} appear more than once. "
            "Rename them (e.g. prefix the channel or tetrode)."
        )


def _check_epochs(
    start: NDArray, stop: NDArray, t_start: float, t_stop: float,
    error: type[Exception] = RecordingError,
) -> None:
    """Raise ``error`` for epochs that cannot belong to [t_start, t_stop]."""
    if not start.size:
        return
    bad = ~(np.isfinite(start) & np.isfinite(stop))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise error(
            f"epochs[{i}] has start == {start[i]}, stop == {stop[i]}; epoch start/stop must be "
            "finite numbers of seconds."
        )
    if np.any(stop < start):
        i = int(np.flatnonzero(stop < start)[0])
        raise error(
            f"epochs[{i}] has stop == {stop[i]} < start == {start[i]}; an epoch is "
            "[start, stop] with start <= stop (swap the columns or fix the table)."
        )
    out = (start < t_start) | (stop > t_stop)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise error(
            f"{int(out.sum())} epoch(s) lie outside the recording [t_start, t_stop] = "
            f"[{t_start}, {t_stop}], e.g. epochs[{i}] = [{start[i]}, {stop[i]}]; widen "
            "t_start/t_stop or clip the epochs."
        )


def _unit_bounds_of(idx: NDArray, n_units: int) -> NDArray[np.intp]:
    """Start of each unit's slice (and the end), for indices sorted by unit."""
    return np.searchsorted(idx, np.arange(n_units + 1), side="left")


def _units_with_decreasing_times(
    times: NDArray[np.float64], bounds: NDArray[np.intp]
) -> NDArray[np.intp]:
    """Units whose slice of ``times`` (spikes sorted by unit) is not non-decreasing.

    One vectorised pass: a pair of neighbours that crosses from one unit into the next
    does not count. Memory: one boolean per spike.
    """
    n = times.size
    counts = np.diff(bounds)
    multi = np.flatnonzero(counts >= 2)  # units that have neighbour pairs of their own
    if n < 2 or not multi.size:
        return np.zeros(0, dtype=np.intp)
    dec = times[1:] < times[:-1]
    inner = bounds[1:-1]
    inner = inner[(inner > 0) & (inner < n)]
    dec[inner - 1] = False  # pairs across a unit boundary
    if not dec.any():
        return np.zeros(0, dtype=np.intp)
    # segment k runs from unit multi[k]'s first pair to the next such unit: the pairs in
    # between cross boundaries (set False above), so the OR is that unit's alone
    seg_any = np.logical_or.reduceat(dec, bounds[multi])
    return multi[seg_any]


def _check_spikes(
    times: NDArray, units: NDArray, n_units: int, t_start: float, t_stop: float,
    error: type[Exception],
) -> None:
    """Finite times inside [t_start, t_stop), unit indices in range, sorted by unit, time."""
    if not times.size:
        return
    if not np.isfinite(times).all():
        raise error("spike_time has non-finite values; a Recording holds finite times.")
    lo, hi = float(times.min()), float(times.max())
    if lo < t_start or hi >= t_stop:
        raise error(
            f"spike_time spans [{lo}, {hi}] but the recording is [{t_start}, {t_stop}); "
            "rebuild it with make_recording(..., outside='drop') or widen t_start/t_stop."
        )
    u_lo, u_hi = int(units.min()), int(units.max())
    if u_lo < 0 or u_hi >= n_units:
        raise error(
            f"spike_unit holds indices in [{u_lo}, {u_hi}] but there are {n_units} units."
        )
    unsorted = units.size > 1 and bool(np.any(units[1:] < units[:-1]))
    if unsorted or _units_with_decreasing_times(times, _unit_bounds_of(units, n_units)).size:
        raise error(
            "spikes must be sorted by unit, then time; rebuild the Recording with "
            "make_recording(), which sorts them."
        )


# ---------------------------------------------------------------------- construction
def _flat(values: Any, field: str) -> NDArray:
    """``values`` as a 1-D array; warn when a table (>= 2 non-trivial axes) is flattened."""
    arr = np.asarray(values)
    if sum(s > 1 for s in arr.shape) > 1:
        warnings.warn(
            f"{field} has shape {arr.shape}; it was flattened (row by row) into {arr.size} "
            "values, one per spike. Pass a 1-D array to say that is what you mean.",
            SpikeDecodeWarning,
            stacklevel=4,
        )
    return arr.reshape(-1)


def _as_float_times(values: Any, field: str) -> NDArray[np.float64]:
    if hasattr(values, "rescale"):  # quantities / neo
        values = values.rescale("s").magnitude
    arr = _flat(values, field)
    if arr.dtype.kind not in "fiu":
        raise SpikeDecodeTypeError(
            f"{field} must be numbers in seconds; got dtype {arr.dtype}. Convert the column "
            "to float (e.g. pandas.to_numeric) before building a Recording."
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = ~np.isfinite(arr)
        raise RecordingError(
            f"{field} has {int(bad.sum())} non-finite value(s) (NaN or inf), first at index "
            f"{int(np.flatnonzero(bad)[0])}; remove them or fix the export."
        )
    return arr


def _id_text(value: Any, field: str) -> str:
    """One unit id as text: bytes are decoded as UTF-8, anything else goes through str."""
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as err:
            raise SpikeDecodeTypeError(
                f"{field} holds bytes that are not UTF-8 text, e.g. {bytes(value)!r}; decode "
                "them to str with the right encoding (e.g. np.char.decode(ids, 'latin-1')) "
                "before building a Recording."
            ) from err
    return str(value)


def _ids_text(values: NDArray, field: str) -> NDArray[np.str_]:
    """Unit ids as a numpy ``str`` array; bytes are decoded as UTF-8."""
    if values.dtype.kind == "S":
        try:
            return np.char.decode(values, "utf-8")
        except UnicodeDecodeError:
            bad = next(v for v in values.tolist() if not _is_utf8(v))
            _id_text(bad, field)  # raises, naming the field and the value
    if values.dtype.kind == "O":
        return np.asarray([_id_text(v, field) for v in values.tolist()], dtype=str)
    return values.astype(str, copy=False)


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _resolve_units(
    spike_unit: Any, units: Sequence[Any] | None, n_spikes: int
) -> tuple[NDArray[np.str_], NDArray[np.int32]]:
    """Unit ids and the int32 unit index of every spike (not yet sorted)."""
    raw = _flat(spike_unit, "spike_unit")
    if raw.size != n_spikes:
        raise RecordingError(
            f"spike_time has {n_spikes} values but spike_unit has {raw.size}; "
            "give one unit per spike."
        )
    if raw.dtype.kind == "f" and raw.size:
        warnings.warn(
            f"spike_unit holds floats (dtype {raw.dtype}); each unit id becomes the text of "
            f"its float (e.g. {str(raw[0]) if raw.size else '1.0'!r}). Cast them to int or str "
            "first if that is not what you want.",
            SpikeDecodeWarning,
            stacklevel=3,
        )
    if units is not None:
        unit_ids = np.asarray([_id_text(u, "units") for u in units], dtype=str)
        if raw.dtype.kind in "iu":
            if raw.size:
                lo, hi = int(raw.min()), int(raw.max())
                if lo < 0 or hi >= unit_ids.size:
                    raise RecordingError(
                        f"spike_unit holds indices in [{lo}, {hi}] but there are "
                        f"{unit_ids.size} units; indices must lie in [0, {unit_ids.size - 1}]."
                    )
            idx = raw.astype(np.int32)
        else:
            names, inv = np.unique(_ids_text(raw, "spike_unit"), return_inverse=True)
            lookup = {u: i for i, u in enumerate(unit_ids.tolist())}
            unknown = [u for u in names.tolist() if u not in lookup]
            if unknown:
                raise RecordingError(
                    f"spike_unit names {len(unknown)} unit(s) not in units, e.g. "
                    f"{unknown[:3]}; add them to units."
                )
            code = np.asarray([lookup[u] for u in names.tolist()], dtype=np.int32)
            idx = code[inv.reshape(-1)]
    elif raw.dtype.kind in "iu":
        # unique integers, then the text order of their ids: the same units and order
        # as np.unique over the texts, with an integer sort of the spikes
        vals, inv = np.unique(raw, return_inverse=True)
        text = vals.astype(str)
        perm = np.argsort(text, kind="stable")
        unit_ids = text[perm]
        rank = np.empty(perm.size, dtype=np.int32)
        rank[perm] = np.arange(perm.size, dtype=np.int32)
        idx = rank[inv.reshape(-1)]
    else:
        unit_ids, inv = np.unique(_ids_text(raw, "spike_unit"), return_inverse=True)
        unit_ids = unit_ids.astype(str)
        idx = inv.reshape(-1).astype(np.int32)
    _check_unit_ids(unit_ids, RecordingError)
    if (unit_ids == "").any():
        warnings.warn(
            f"{int((unit_ids == '').sum())} unit id(s) are empty strings; give every unit a "
            "name (an empty id usually means a missing value in the export).",
            SpikeDecodeWarning,
            stacklevel=3,
        )
    return unit_ids, idx


def _resolve_interval(
    times: NDArray[np.float64], t_start: float | None, t_stop: float | None,
    e_stop: NDArray[np.float64],
) -> tuple[float, float]:
    lo = float(times.min()) if times.size else 0.0
    hi = float(times.max()) if times.size else 0.0
    if t_start is None:
        if lo < 0:
            raise RecordingError(
                f"spike_time has {int((times < 0).sum())} negative value(s) (first: "
                f"{lo} s) and t_start was not given. Negative times usually "
                "mean a clock offset; pass t_start explicitly (e.g. t_start="
                f"{float(np.floor(lo))}) if the recording really starts before 0."
            )
        t_start = 0.0
    if t_stop is None:
        t_stop = float(np.nextafter(hi, np.inf)) if times.size else float(t_start) + 1.0
        if e_stop.size and np.isfinite(e_stop).all():
            t_stop = max(t_stop, float(e_stop.max()))
    t_start, t_stop = float(t_start), float(t_stop)
    _check_interval(t_start, t_stop, RecordingError)
    if hi - lo > _MS_SPAN_S:
        warnings.warn(
            f"spike_time spans {(hi - lo) / 3600:.1f} hours ({lo} to {hi} s); times in "
            "milliseconds look like this. If they are ms, divide them by 1000 (or read the "
            "table with time_unit='ms').",
            SpikeDecodeWarning,
            stacklevel=3,
        )
    return t_start, t_stop


def _drop_outside(
    times: NDArray[np.float64], idx: NDArray[np.int32], t_start: float, t_stop: float,
    outside: str,
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    if outside not in ("raise", "drop"):
        raise RecordingError(f"outside == {outside!r}, must be 'raise' or 'drop'.")
    if not times.size or (times.min() >= t_start and times.max() < t_stop):
        return times, idx
    out = (times < t_start) | (times >= t_stop)
    n_out = int(out.sum())
    if outside == "raise":
        raise RecordingError(
            f"{n_out} spike(s) lie outside [t_start, t_stop) = [{t_start}, {t_stop}), "
            f"e.g. at {times[out][:3].tolist()} s. Widen t_start/t_stop or pass "
            "outside='drop' to drop them with a warning."
        )
    warnings.warn(
        f"dropped {n_out} spike(s) outside [t_start, t_stop) = [{t_start}, {t_stop}).",
        DataDroppedWarning,
        stacklevel=3,
    )
    keep = ~out
    return times[keep], idx[keep]


def _sort_spikes(
    times: NDArray[np.float64], idx: NDArray[np.int32], n_units: int
) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.intp]]:
    """Sort spikes by unit, then time, in linear time when they are (nearly) in order.

    Already sorted input is detected with two vectorised comparisons and not moved.
    Otherwise the unit indices get a stable sort (numpy's radix sort for <= 16-bit keys),
    which keeps each unit's times in their input order, and only the units whose times
    then still decrease are sorted, each in its own slice. ``idx`` must be a new array
    (``_resolve_units`` makes one); ``times`` is copied. Returns the sorted arrays and
    the unit bounds.
    """
    if idx.size > 1 and np.any(idx[1:] < idx[:-1]):
        key: NDArray = idx
        if n_units <= 1 << 8:
            key = idx.astype(np.uint8)
        elif n_units <= 1 << 16:
            key = idx.astype(np.uint16)
        order = np.argsort(key, kind="stable")
        del key
        times = times[order]
        del order
        counts = np.bincount(idx, minlength=n_units)
        idx = np.repeat(np.arange(n_units, dtype=np.int32), counts)
        bounds = np.concatenate(([0], np.cumsum(counts))).astype(np.intp)
    else:
        times = times.copy()  # may be the caller's array: a Recording owns its memory
        bounds = _unit_bounds_of(idx, n_units)
    bad = _units_with_decreasing_times(times, bounds)
    if bad.size > _MAX_SLICE_SORTS:  # many tiny units: one global sort is cheaper
        order = np.lexsort((times, idx))
        times = times[order]
    else:
        for u in bad.tolist():
            times[bounds[u] : bounds[u + 1]].sort()
    return np.ascontiguousarray(times), idx, bounds


def _warn_duplicates(times: NDArray[np.float64], idx: NDArray[np.int32], unit_ids: NDArray) -> None:
    if times.size < 2:
        return
    same_t = np.flatnonzero(times[1:] == times[:-1])
    dup = same_t[idx[same_t] == idx[same_t + 1]]
    if dup.size:
        i = int(dup[0])
        warnings.warn(
            f"{dup.size} spike(s) repeat an earlier spike of the same unit exactly (e.g. unit "
            f"{str(unit_ids[idx[i]])!r} at {times[i]} s); duplicated rows usually mean the export "
            "was concatenated twice. They are kept.",
            SpikeDecodeWarning,
            stacklevel=3,
        )


def _recording_attrs(
    t_start: float, t_stop: float, session: str, day: int | str, subject: str, source: str,
    attrs: Mapping[str, Any] | None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "t_start": t_start,
        "t_stop": t_stop,
        "session": str(session),
        "day": int(day) if isinstance(day, np.integer) else day if isinstance(day, int) else str(day),
        "subject": str(subject),
        "source": str(source),
        "schema_version": SCHEMA_VERSION,
    }
    for k, v in (attrs or {}).items():
        meta.setdefault(k, v)
    return meta


def make_recording(
    spike_time: ArrayLike,
    spike_unit: ArrayLike,
    *,
    units: Sequence[Any] | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
    epochs: Any = None,
    session: str = "",
    day: int | str = 0,
    subject: str = "",
    source: str = "",
    outside: str = "raise",
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a Recording from long-format arrays (one row per spike).

    Rows may come in any order; they are sorted by unit, then time (a stable sort). Rows
    that are already in that order (what every reader hands over) are only checked, in
    time linear in the number of spikes.

    Parameters
    ----------
    spike_time : array-like of float
        Spike times in seconds.
    spike_unit : array-like
        Unit of each spike: either unit ids (any hashable, converted to str; bytes are
        decoded as UTF-8) or, when ``units`` is given, integer indices into ``units``.
    units : sequence, optional
        Unit ids, in order. Needed to keep units that have no spike. When omitted the
        units are the sorted unique values of ``spike_unit`` (sorted as text).
    t_start, t_stop : float, optional
        Recording interval [t_start, t_stop) in seconds. Defaults: ``0`` (negative spike
        times then raise: pass ``t_start`` explicitly when the clock really starts before
        0) and just after the last spike or the last epoch stop, whichever is later.
    epochs : table, optional
        Stimulus/block intervals; see :func:`make_epochs`.
    session, subject, source : str
        Metadata stored in ``attrs``.
    day : int or str, default=0
        Recording day, the key of multi-day analyses.
    outside : {"raise", "drop"}, default="raise"
        What to do with spikes outside [t_start, t_stop): raise, or drop them with a
        :class:`~spikedecode.errors.DataDroppedWarning` that counts them.
    attrs : mapping, optional
        Extra attributes (str, numbers) to store.

    Returns
    -------
    xarray.Dataset
        A valid Recording; its arrays are new (never views of the inputs).

    Raises
    ------
    RecordingError
        Non-finite or out-of-range times, t_stop <= t_start, duplicate units, bad epochs.
    SpikeDecodeTypeError
        Non-numeric spike times; bytes unit ids that are not UTF-8.

    Warns
    -----
    DataDroppedWarning
        Spikes outside [t_start, t_stop) dropped with ``outside="drop"``.
    SpikeDecodeWarning
        Suspicious input, kept as given: units without spikes, empty unit ids, float unit
        ids, a 2-D ``spike_time``/``spike_unit`` (flattened), exactly repeated spikes, and
        times spanning more than a day (milliseconds taken for seconds?).

    Examples
    --------
    >>> rec = make_recording([0.1, 0.5, 0.2], ["b", "a", "a"], t_stop=1.0)
    >>> rec.sizes["spike"], rec["unit"].values.tolist()
    (3, ['a', 'b'])
    >>> rec.spikedecode.unit("a").tolist()
    [0.2, 0.5]
    """
    from spikedecode.schema import validate

    times = _as_float_times(spike_time, "spike_time")
    unit_ids, idx = _resolve_units(spike_unit, units, times.size)
    e_start, e_stop, e_label = make_epochs(epochs)
    t_start, t_stop = _resolve_interval(times, t_start, t_stop, e_stop)
    times, idx = _drop_outside(times, idx, t_start, t_stop, outside)
    _check_epochs(e_start, e_stop, t_start, t_stop, RecordingError)
    times, idx, bounds = _sort_spikes(times, idx, unit_ids.size)
    _warn_duplicates(times, idx, unit_ids)
    ds = xr.Dataset(
        {
            "spike_time": (("spike",), times, {"units": "s"}),
            "spike_unit": (("spike",), idx),
            "epoch_start": (("epoch",), e_start, {"units": "s"}),
            "epoch_stop": (("epoch",), e_stop, {"units": "s"}),
            "epoch_label": (("epoch",), e_label),
        },
        coords={"unit": ("unit", unit_ids)},
        attrs=_recording_attrs(t_start, t_stop, session, day, subject, source, attrs),
    )
    validate(ds, "recording")  # the structure; the semantics were checked above
    counts = np.diff(bounds)
    if (counts == 0).any():
        silent = unit_ids[counts == 0]
        warnings.warn(
            f"{silent.size} unit(s) have no spikes in [t_start, t_stop): "
            f"{silent[:5].tolist()}; they are kept.",
            SpikeDecodeWarning,
            stacklevel=2,
        )
    return ds


def from_spiketrains(
    spiketrains: Mapping[Any, ArrayLike],
    *,
    sort: bool = False,
    **kwargs: Any,
) -> xr.Dataset:
    """Build a Recording from a mapping ``unit id -> spike times (s)``.

    Parameters
    ----------
    spiketrains : mapping
        One array of spike times per unit; order of the mapping is kept.
    sort : bool, default=False
        Sort each train. By default an unsorted train raises, because it usually means
        the export mixed units or clocks.
    **kwargs
        Passed to :func:`make_recording` (``t_start``, ``t_stop``, ``epochs``, ...).

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> rec = from_spiketrains({"u1": [0.1, 0.2], "u2": [0.3]}, t_stop=1.0)
    >>> rec.spikedecode.n_units
    2
    """
    if not isinstance(spiketrains, Mapping):
        raise SpikeDecodeTypeError(
            f"spiketrains must be a mapping unit id -> spike times; got "
            f"{type(spiketrains).__name__}."
        )
    units = [str(u) for u in spiketrains]
    times_list = []
    for u, st in zip(units, spiketrains.values()):
        t = _as_float_times(st, f"spiketrains[{u!r}]")
        if not sort and t.size > 1 and np.any(np.diff(t) < 0):
            raise RecordingError(
                f"spiketrains[{u!r}] is not sorted (first decrease at index "
                f"{int(np.flatnonzero(np.diff(t) < 0)[0]) + 1}); sort it or pass sort=True."
            )
        times_list.append(t)
    lengths = np.array([t.size for t in times_list], dtype=np.int64)
    times = np.concatenate(times_list) if times_list else np.zeros(0)
    idx = np.repeat(np.arange(len(units), dtype=np.int64), lengths)
    return make_recording(times, idx, units=units, **kwargs)


# ----------------------------------------------------------------------- validation
def check_recording(rec: Any) -> xr.Dataset:
    """Check that ``rec`` is a valid Recording and return it.

    Checks the structure (via the JSON schema) and the semantics: times finite and within
    [t_start, t_stop), sorted within each unit, unit indices in range, unique unit ids,
    epochs with start <= stop inside the recording.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to check.

    Returns
    -------
    xarray.Dataset
        ``rec`` itself, unchanged.

    Raises
    ------
    SchemaError
        When the Dataset breaks the data model.

    Examples
    --------
    >>> rec = make_recording([0.1, 0.2], ["a", "b"], t_stop=1.0)
    >>> check_recording(rec) is rec
    True
    >>> check_recording(rec.drop_vars("spike_time"))
    Traceback (most recent call last):
    ...
    spikedecode.errors.SchemaError: ...
    """
    from spikedecode.schema import validate

    validate(rec, "recording")
    t0, t1 = float(rec.attrs["t_start"]), float(rec.attrs["t_stop"])
    _check_interval(t0, t1, SchemaError)
    _check_unit_ids(rec["unit"].values, SchemaError)
    _check_spikes(rec["spike_time"].values, rec["spike_unit"].values, rec.sizes["unit"], t0, t1,
                  SchemaError)
    _check_epochs(rec["epoch_start"].values, rec["epoch_stop"].values, t0, t1, SchemaError)
    return rec


# ---------------------------------------------------------------------------- neo
def from_neo(
    obj: Any,
    *,
    segment: int | None = None,
    unit_key: str = "unit_id",
    session: str | None = None,
    day: int | str | None = None,
    subject: str | None = None,
    source: str | None = None,
) -> xr.Dataset:
    """Convert a ``neo.Block`` or ``neo.Segment`` to a Recording.

    Units become float seconds once, here. Unit ids come from the spike train annotation
    ``unit_key``, else its ``name``, else its position. ``neo.Epoch`` objects become epochs
    (label = the epoch label, prefixed by the Epoch's name when it has several).

    Parameters
    ----------
    obj : neo.Block or neo.Segment
    segment : int, optional
        Which segment of a multi-segment Block to convert; required when there are several.
    unit_key : str, default="unit_id"
        Annotation that holds the unit id.
    session, subject : str, optional
        Default to the attributes stored by :func:`to_neo` (annotation
        ``spikedecode_attrs``), else the Block's ``name`` / ``subject`` annotation.
    day : int or str, optional
        Defaults to the stored attributes, else 0.
    source : str, optional
        Defaults to the stored attributes, else ``"neo"``.

    Returns
    -------
    xarray.Dataset

    Examples
    --------
    >>> import neo, quantities as pq
    >>> seg = neo.Segment()
    >>> seg.spiketrains.append(neo.SpikeTrain([0.1, 0.4] * pq.s, t_stop=1.0 * pq.s, name="u1"))
    >>> from_neo(seg).spikedecode.n_spikes
    2
    """
    import neo

    if isinstance(obj, neo.Block):
        segs = obj.segments
        if not segs:
            raise RecordingError("the neo Block has no segments; nothing to convert.")
        if segment is None:
            if len(segs) > 1:
                raise RecordingError(
                    f"the neo Block has {len(segs)} segments; pass segment=<index> to choose "
                    "one (each segment is one Recording)."
                )
            segment = 0
        if not 0 <= segment < len(segs):
            raise RecordingError(f"segment == {segment}, must be in [0, {len(segs) - 1}].")
        seg = segs[segment]
        block_name = obj.name
        block_ann = dict(obj.annotations)
    elif isinstance(obj, neo.Segment):
        seg, block_name, block_ann = obj, None, {}
    else:
        raise SpikeDecodeTypeError(
            f"from_neo takes a neo.Block or neo.Segment; got {type(obj).__name__}."
        )
    trains = list(seg.spiketrains)
    if not trains:
        raise RecordingError(
            "the neo segment has no spike trains; spikedecode needs sorted units "
            "(SpikeTrain objects), not raw signals."
        )
    spiketrains: dict[str, NDArray] = {}
    t_start = min(float(st.t_start.rescale("s").magnitude) for st in trains)
    t_stop = max(float(st.t_stop.rescale("s").magnitude) for st in trains)
    for i, st in enumerate(trains):
        uid = st.annotations.get(unit_key, None)
        if uid is None:
            uid = st.name if st.name not in (None, "") else f"unit{i}"
        uid = str(uid)
        if uid in spiketrains:
            uid = f"{uid}#{i}"
        spiketrains[uid] = np.sort(st.times.rescale("s").magnitude.astype(np.float64))
    rows: list[tuple[float, float, str]] = []
    for ep in seg.epochs:
        starts = ep.times.rescale("s").magnitude.astype(np.float64)
        stops = starts + ep.durations.rescale("s").magnitude.astype(np.float64)
        exact = np.atleast_1d(np.asarray(ep.array_annotations.get("epoch_stop", []), dtype=float))
        if exact.size != stops.size and "spikedecode_epoch_stop" in ep.annotations:
            exact = _json_floats(ep.annotations["spikedecode_epoch_stop"])  # e.g. from .mat
        if exact.size == stops.size and np.allclose(exact, stops, rtol=1e-9, atol=1e-12):
            stops = exact  # written by to_neo: start + duration can be 1 ulp off
        labels = [
            (lab.decode() if isinstance(lab, bytes) else str(lab))
            for lab in np.atleast_1d(np.asarray(ep.labels))
        ]
        if len(labels) != starts.size:
            labels = [ep.name or "epoch"] * starts.size
        if len(seg.epochs) > 1 and ep.name:
            labels = [f"{ep.name}/{lab}" if lab else str(ep.name) for lab in labels]
        rows.extend(zip(starts.tolist(), stops.tolist(), labels))
    if len(seg.epochs) > 1:
        rows.sort(key=lambda r: r[0])  # stable: one Epoch keeps its own order
    if rows:  # the recording covers its epochs too (neo lets them outlast the trains)
        t_start = min(t_start, min(r[0] for r in rows))
        t_stop = max(t_stop, max(r[1] for r in rows))
    stored = _stored_attrs(block_ann)
    subj = block_ann.get("subject", "")
    if subject is None:
        subject = stored.get("subject", subj if isinstance(subj, str) else "")
    if day is None:
        day = stored.get("day", 0)
    return from_spiketrains(
        spiketrains,
        t_start=t_start,
        t_stop=t_stop,
        epochs=rows or None,
        session=session
        if session is not None
        else stored.get("session", block_name or seg.name or ""),
        day=day,
        subject=subject,
        source=source if source is not None else stored.get("source", "neo"),
        outside="drop",
        attrs={k: v for k, v in stored.items() if k not in _CORE_ATTRS},
    )


_CORE_ATTRS = ("t_start", "t_stop", "session", "day", "subject", "source", "schema_version")


def _json_floats(raw: Any) -> NDArray[np.float64]:
    """Floats stored as a JSON list by :func:`to_neo` (empty when unreadable)."""
    import json

    if isinstance(raw, np.ndarray):
        raw = "".join(np.atleast_1d(raw).astype(str).tolist())
    try:
        return np.atleast_1d(np.asarray(json.loads(str(raw)), dtype=np.float64))
    except (ValueError, TypeError):
        return np.zeros(0)


def _stored_attrs(annotations: Mapping[str, Any]) -> dict[str, Any]:
    """Recording attrs that :func:`to_neo` stored as JSON in a Block annotation."""
    import json

    raw = annotations.get("spikedecode_attrs", None)
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode()
    if isinstance(raw, np.ndarray):  # e.g. read back from a .mat file
        raw = "".join(np.atleast_1d(raw).astype(str).tolist())
    try:
        out = json.loads(str(raw))
    except ValueError:
        return {}
    if not isinstance(out, dict):
        return {}
    out = {str(k): v for k, v in out.items() if isinstance(v, (str, int, float, bool))}
    if "day" in out and not isinstance(out["day"], (int, str)):
        out["day"] = str(out["day"])
    return out


def to_neo(rec: xr.Dataset) -> Any:
    """Convert a Recording to a ``neo.Block`` (one Segment) for elephant and neo writers.

    Each unit becomes a ``neo.SpikeTrain`` annotated with ``unit_id``; epochs become one
    ``neo.Epoch`` named ``"epochs"``.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording to convert.

    Returns
    -------
    neo.Block
        One Block holding one Segment with the spike trains and the epochs.

    Examples
    --------
    >>> rec = from_spiketrains({"u1": [0.1, 0.2]}, t_stop=1.0)
    >>> blk = to_neo(rec)
    >>> blk.segments[0].spiketrains[0].annotations["unit_id"]
    'u1'
    """
    import neo
    import quantities as pq

    check_recording(rec)
    t0, t1 = float(rec.attrs["t_start"]), float(rec.attrs["t_stop"])
    import json

    blk = neo.Block(name=str(rec.attrs.get("session", "")) or None)
    blk.annotate(subject=str(rec.attrs.get("subject", "")), day=str(rec.attrs.get("day", "")))
    # every attr, exactly, so that from_neo(to_neo(rec)) restores the metadata
    plain = {}
    for k, v in rec.attrs.items():
        v = v.item() if isinstance(v, np.generic) else v
        if isinstance(v, (str, int, float, bool)):
            plain[str(k)] = v
    blk.annotate(spikedecode_attrs=json.dumps(plain))
    seg = neo.Segment(name=blk.name)
    acc = rec.spikedecode
    for uid in rec["unit"].values:
        st = neo.SpikeTrain(acc.unit(uid) * pq.s, t_start=t0 * pq.s, t_stop=t1 * pq.s, name=str(uid))
        st.annotate(unit_id=str(uid))
        seg.spiketrains.append(st)
    if rec.sizes["epoch"]:
        s = rec["epoch_start"].values
        d = rec["epoch_stop"].values - s
        seg.epochs.append(
            neo.Epoch(s * pq.s, durations=d * pq.s, labels=rec["epoch_label"].values.astype(str),
                      name="epochs",
                      # exact stops: start + (stop - start) may differ from stop by 1 ulp
                      array_annotations={"epoch_stop": rec["epoch_stop"].values.copy()})
        )
        # also as JSON text, for writers that drop array annotations (NeoMatlabIO)
        seg.epochs[-1].annotate(
            spikedecode_epoch_stop=json.dumps(rec["epoch_stop"].values.tolist())
        )
    blk.segments.append(seg)
    return blk


# ------------------------------------------------------------------------ accessor
@xr.register_dataset_accessor("spikedecode")
class RecordingAccessor:
    """``rec.spikedecode``: unit-wise views and summaries of a Recording.

    Examples
    --------
    >>> rec = from_spiketrains({"a": [0.1, 0.2], "b": [0.5]}, t_stop=2.0)
    >>> rec.spikedecode.unit("a").tolist()
    [0.1, 0.2]
    >>> rec.spikedecode.firing_rates().values.tolist()
    [1.0, 0.5]
    """

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds
        self._bounds: NDArray[np.intp] | None = None
        self._index: dict[str, int] | None = None

    def _unit_bounds(self) -> NDArray[np.intp]:
        if self._bounds is None:
            self._bounds = _unit_bounds_of(self._ds["spike_unit"].values, self._ds.sizes["unit"])
        return self._bounds

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self._ds.sizes["unit"])

    @property
    def n_spikes(self) -> int:
        """Number of spikes."""
        return int(self._ds.sizes["spike"])

    @property
    def duration(self) -> float:
        """``t_stop - t_start`` in seconds."""
        return float(self._ds.attrs["t_stop"]) - float(self._ds.attrs["t_start"])

    def unit_index(self, unit_id: Any) -> int:
        """Position of ``unit_id`` along ``unit``."""
        if self._index is None:  # one dict lookup per call, not a scan of the units
            self._index = {str(u): i for i, u in enumerate(self._ds["unit"].values.tolist())}
        hit = self._index.get(str(unit_id))
        if hit is None:
            ids = self._ds["unit"].values
            raise RecordingError(
                f"unit {unit_id!r} is not in this recording; units are {ids[:10].tolist()}"
                + ("..." if ids.size > 10 else "")
            )
        return hit

    def unit(self, unit_id: Any) -> NDArray[np.float64]:
        """Spike times (s) of one unit: a read-only view into ``spike_time``, not a copy."""
        i = self.unit_index(unit_id)
        b = self._unit_bounds()
        view = self._ds["spike_time"].values[b[i] : b[i + 1]]
        view = view.view()
        view.flags.writeable = False
        return view

    def spiketrains(self) -> dict[str, NDArray[np.float64]]:
        """All units as a dict ``unit id -> spike times`` (views)."""
        return {str(u): self.unit(u) for u in self._ds["unit"].values}

    def spike_counts(self) -> xr.DataArray:
        """Number of spikes per unit."""
        counts = np.diff(self._unit_bounds())
        return xr.DataArray(counts, dims=("unit",), coords={"unit": self._ds["unit"].values})

    def firing_rates(self) -> xr.DataArray:
        """Mean firing rate per unit in Hz."""
        out = self.spike_counts() / self.duration
        out.attrs["units"] = "Hz"
        return out

    def epochs(self) -> list[tuple[float, float, str]]:
        """Epochs as a list of ``(start, stop, label)``."""
        return list(
            zip(
                self._ds["epoch_start"].values.tolist(),
                self._ds["epoch_stop"].values.tolist(),
                self._ds["epoch_label"].values.astype(str).tolist(),
            )
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: units, duration, spikes, epochs per label, rate stats."""
        rates = self.firing_rates().values
        labels, counts = np.unique(self._ds["epoch_label"].values.astype(str), return_counts=True)
        return {
            "session": str(self._ds.attrs.get("session", "")),
            "day": self._ds.attrs.get("day", ""),
            "subject": str(self._ds.attrs.get("subject", "")),
            "source": str(self._ds.attrs.get("source", "")),
            "t_start": float(self._ds.attrs["t_start"]),
            "t_stop": float(self._ds.attrs["t_stop"]),
            "duration_s": self.duration,
            "n_units": self.n_units,
            "n_spikes": self.n_spikes,
            "n_epochs": int(self._ds.sizes["epoch"]),
            "epochs_per_label": {str(k): int(v) for k, v in zip(labels, counts)},
            "rate_hz": {
                "min": float(rates.min()),
                "median": float(np.median(rates)),
                "max": float(rates.max()),
            },
        }


def _iter_days(recordings: Mapping[Any, xr.Dataset] | Iterable[xr.Dataset]) -> dict:
    """Normalise a collection of Recordings into an ordered dict ``day -> Recording``."""
    if isinstance(recordings, Mapping):
        return dict(recordings)
    out: dict[Any, xr.Dataset] = {}
    for rec in recordings:
        out[rec.attrs.get("day", len(out))] = rec
    return out
