"""Behaviour series (continuous targets) and their place on the bin grid.

A *Behavior* is the data model's continuous target (DESIGN.md §6): a float
``DataArray`` with dims ``(time, channel)`` — ``time`` the sample times in seconds
(strictly increasing), ``channel`` the names of the outputs (``x``, ``y`` ...) — and
attrs ``name`` and ``units``; NaN values mark gaps (tracking lost). It is a sibling of
the Recording, validated against ``data_schemas/behavior.schema.json``.

Three steps take it to a decoder, all here and never inside a decoder:

* :func:`make_behavior` builds one from arrays (the readers in ``io`` and ``datasets``
  call it too);
* :func:`bin_behavior` puts it on the grid of a Binned array: the **mean of the samples
  within each bin** ``[left, left + bin_size)`` when the series is at least twice as fast
  as the bins, **linear interpolation at the bin centre** when it is slower (then a bin
  whose two neighbouring samples are more than ``max_gap`` apart, or that lies outside
  the series, is a gap). A bin without a finite value is NaN and counted
  (``attrs["n_missing"]``);
* :func:`target_windows` cuts the lagged spike history in front of each target bin
  (``bins_before`` bins before it plus the target bin itself, and ``bins_after`` bins
  after it — 0 by default, so decoding is causal) and attaches the binned target as one
  per-sample coordinate ``target_<channel>`` per output. Samples whose target is
  NaN are dropped, counted (``attrs["n_dropped"]``) and reported with a
  :class:`~spikedecode.errors.DataDroppedWarning`. :func:`~spikedecode.preprocess.to_xy`
  then returns ``(X, Y, None)`` with ``Y`` of shape ``(n_samples, n_channels)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    DataDroppedWarning,
    NotEnoughDataError,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)

__all__ = [
    "make_behavior",
    "check_behavior",
    "bin_behavior",
    "target_windows",
    "select_series",
    "check_target",
]

_METHODS = ("auto", "mean", "interp")


def _channels(channels: Sequence[Any] | None, n: int, name: str) -> list[str]:
    if channels is None:
        if n == 1:
            return [name]
        if n <= 3:
            return ["x", "y", "z"][:n]
        return [f"{name}{i}" for i in range(n)]
    out = [str(c) for c in channels]
    if len(out) != n:
        raise SpikeDecodeValueError(
            f"channels has {len(out)} names but values has {n} column(s); pass one name "
            "per column."
        )
    if len(set(out)) != n:
        raise SpikeDecodeValueError(f"channels == {out} holds duplicates; names must be unique.")
    return out


def make_behavior(
    values: ArrayLike,
    times: ArrayLike | None = None,
    *,
    rate: float | None = None,
    t_start: float = 0.0,
    channels: Sequence[Any] | None = None,
    name: str = "behavior",
    units: str = "",
    source: str = "arrays",
) -> xr.DataArray:
    """Build a Behavior series ``(time, channel)`` from arrays.

    Parameters
    ----------
    values : array-like, shape (n_samples,) or (n_samples, n_channels)
        The series (position, velocity ...). NaN marks a gap; inf is refused.
    times : array-like of float, shape (n_samples,), optional
        Sample times in seconds, strictly increasing. Give ``times`` or ``rate``.
    rate : float, optional
        Sampling rate in Hz; the times are then ``t_start + arange(n_samples) / rate``.
    t_start : float, default=0.0
        Time of the first sample when ``rate`` is given.
    channels : sequence of str, optional
        Output names; default ``[name]`` for one column, ``x, y, z`` for two or three.
    name : str, default="behavior"
        The series' name (``"position"``, ``"velocity"`` ...).
    units : str, default=""
        Physical units of the values (``"cm"``, ``"cm/s"`` ...).
    source : str, default="arrays"
        Where the series came from (stored in attrs).

    Returns
    -------
    xarray.DataArray
        float64, dims ``(time, channel)``, valid against the ``behavior`` schema.

    Raises
    ------
    SpikeDecodeValueError
        ``times`` and ``values`` of different lengths, times not strictly increasing or
        not finite, infinite values, neither or both of ``times`` and ``rate``.
    SpikeDecodeTypeError
        Non-numeric values.

    Examples
    --------
    >>> import numpy as np
    >>> b = make_behavior(np.c_[np.arange(4.0), np.zeros(4)], rate=60.0, name="position",
    ...                   units="cm")
    >>> b.dims, b["channel"].values.tolist(), float(b["time"][1])
    (('time', 'channel'), ['x', 'y'], 0.016666666666666666)
    """
    if not isinstance(name, str) or not name:
        raise SpikeDecodeTypeError(f"name == {name!r}, must be a non-empty string.")
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise SpikeDecodeTypeError(
            f"values must be numeric; got dtype {arr.dtype}. Pass the series as floats."
        )
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SpikeDecodeValueError(
            f"values must be (n_samples,) or (n_samples, n_channels) with n >= 1; got shape "
            f"{np.shape(values)}."
        )
    if np.isinf(arr).any():
        raise SpikeDecodeValueError(
            f"values holds {int(np.isinf(arr).sum())} infinite entries; mark gaps with NaN."
        )
    n = arr.shape[0]
    if (times is None) == (rate is None):
        raise SpikeDecodeValueError(
            "give exactly one of times= (sample times in s) and rate= (Hz); got "
            f"times={'None' if times is None else 'an array'}, rate={rate!r}."
        )
    if rate is not None:
        rate = check_param(rate, "rate", Interval(Real, 0, None, closed="neither"))
        t_start = check_param(t_start, "t_start", Interval(Real, None, None))
        t = float(t_start) + np.arange(n, dtype=np.float64) / float(rate)
    else:
        t = np.asarray(times, dtype=np.float64).ravel()
        if t.shape[0] != n:
            raise SpikeDecodeValueError(
                f"times has {t.shape[0]} entries but values has {n} rows; the lengths must "
                "match (one time per sample)."
            )
        if not np.all(np.isfinite(t)):
            raise SpikeDecodeValueError(
                f"times holds {int((~np.isfinite(t)).sum())} NaN/inf entries; every sample "
                "needs a finite time (mark a gap with a NaN value, not a NaN time)."
            )
        bad = np.flatnonzero(np.diff(t) <= 0)
        if bad.size:
            i = int(bad[0])
            raise SpikeDecodeValueError(
                f"times must be strictly increasing; times[{i}] == {t[i]} >= times[{i + 1}] "
                f"== {t[i + 1]} ({bad.size} such step(s)). Sort the samples and drop "
                "duplicates."
            )
    da = xr.DataArray(
        arr, dims=("time", "channel"),
        coords={"time": ("time", t, {"units": "s"}),
                "channel": np.asarray(_channels(channels, arr.shape[1], name))},
        name=name, attrs={"name": name, "units": str(units), "source": str(source)},
    )
    from spikedecode.schema import validate

    return validate(da, "behavior")


def check_behavior(behavior: Any) -> xr.DataArray:
    """Check that ``behavior`` is a Behavior DataArray and return it.

    A 1-D DataArray with a ``time`` dim is accepted and given one channel named after it.

    Parameters
    ----------
    behavior : xarray.DataArray
        ``(time, channel)`` floats (see :func:`make_behavior`).

    Returns
    -------
    xarray.DataArray

    Raises
    ------
    SpikeDecodeTypeError, SchemaError

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s = xr.DataArray(np.ones(3), dims="time", coords={"time": [0.0, 0.1, 0.2]},
    ...                  name="speed")
    >>> check_behavior(s).dims
    ('time', 'channel')
    """
    if not isinstance(behavior, xr.DataArray):
        raise SpikeDecodeTypeError(
            f"behavior must be an xarray.DataArray (time, channel); got "
            f"{type(behavior).__name__}. Build it with make_behavior()."
        )
    if behavior.dims == ("time",):
        name = str(behavior.name or behavior.attrs.get("name") or "behavior")
        if "time" not in behavior.coords:
            raise SchemaError("behavior has no 'time' coordinate (sample times in s).")
        return make_behavior(behavior.values, behavior["time"].values, name=name,
                             units=str(behavior.attrs.get("units", "")))
    if behavior.dims == ("time", "coord"):  # the hippocampus loader's position layout
        behavior = behavior.rename(coord="channel")
    if behavior.dims == ("time", "channel") and behavior.dtype.kind in "iu":
        behavior = behavior.astype(np.float64)
    if behavior.dims == ("time", "channel") and "name" not in behavior.attrs:
        behavior = behavior.assign_attrs(name=str(behavior.name or "behavior"))
    from spikedecode.schema import validate

    validate(behavior, "behavior")
    t = np.asarray(behavior["time"].values, dtype=np.float64)
    bad = np.flatnonzero(~(np.diff(t) > 0))
    if bad.size or not np.all(np.isfinite(t)):  # interpolation needs sorted, finite times
        i = int(bad[0]) if bad.size else 0
        raise SpikeDecodeValueError(
            f"behavior {behavior.attrs['name']!r}: times must be finite and strictly "
            f"increasing; time[{i}] == {t[i]} and time[{i + 1}] == {t[min(i + 1, t.size - 1)]}"
            f" ({bad.size} such step(s)). Sort the samples and drop duplicates (for tracking "
            "files: datasets.hippocampus.position_series)."
        )
    return behavior


def select_series(series: Mapping[str, Any], name: str) -> Any:
    """Pick the behaviour series called ``name`` from a mapping of them.

    Parameters
    ----------
    series : mapping of str to Behavior
        E.g. what :func:`spikedecode.io.nwb.read_behavior` returns.
    name : str
        The series wanted.

    Returns
    -------
    The series.

    Raises
    ------
    SpikeDecodeValueError
        No series of that name; the message lists the names there are.

    Examples
    --------
    >>> select_series({"position": 1, "speed": 2}, "speed")
    2
    """
    if name not in series:
        raise SpikeDecodeValueError(
            f"target == {name!r}: no behaviour series of that name; the series are "
            f"{sorted(series)}. Pick one of them."
        )
    return series[name]


def _grid(binned: Any) -> tuple[NDArray[np.float64], float]:
    if isinstance(binned, xr.DataArray) and "bin_size" in binned.attrs and "time" in binned.coords:
        return np.asarray(binned["time"].values, dtype=np.float64), float(binned.attrs["bin_size"])
    raise SpikeDecodeTypeError(
        f"binned must be a Binned DataArray (time, unit) with attrs['bin_size'] from "
        f"bin_spikes(); got {type(binned).__name__}."
    )


def bin_behavior(
    behavior: xr.DataArray,
    binned: xr.DataArray,
    *,
    method: str = "auto",
    max_gap: float | None = None,
) -> xr.DataArray:
    """Put a behaviour series on the bin grid of ``binned``.

    Parameters
    ----------
    behavior : xarray.DataArray
        A Behavior series (:func:`make_behavior`).
    binned : xarray.DataArray
        Binned counts ``(time, unit)``; its ``time`` coord (left edges) and
        ``attrs["bin_size"]`` define the grid ``[left, left + bin_size)``.
    method : {"auto", "mean", "interp"}, default="auto"
        ``"mean"``: mean of the finite samples inside each bin (NaN samples are ignored;
        a bin without any finite sample is NaN). ``"interp"``: linear interpolation at
        the bin centre between the two neighbouring finite samples. ``"auto"``: ``mean``
        when the median sampling interval is at most half a bin, else ``interp``.
    max_gap : float, optional
        ``interp`` only: neighbouring finite samples further apart than this (seconds)
        leave the bins between them NaN. Default: 3 median sampling intervals.

    Returns
    -------
    xarray.DataArray
        ``(time, channel)`` float64 on the grid; attrs gain ``bin_size``, ``method``
        (the one used) and ``n_missing`` (bins without a value).

    Raises
    ------
    SpikeDecodeValueError
        The series lies entirely outside the binned interval.

    Warns
    -----
    DataDroppedWarning
        Some bins have no value (gaps, or bins outside the series); they are NaN.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> binned = xr.DataArray(np.zeros((3, 1), int), dims=("time", "unit"),
    ...                       coords={"time": [0.0, 0.1, 0.2], "unit": ["a"]},
    ...                       attrs={"bin_size": 0.1})
    >>> b = make_behavior(np.arange(30.0), rate=100.0)
    >>> bin_behavior(b, binned).values.ravel().tolist()  # mean of 10 samples per bin
    [4.5, 14.5, 24.5]
    """
    behavior = check_behavior(behavior)
    method = check_param(method, "method", Options(*_METHODS))
    left, bin_size = _grid(binned)
    t = np.asarray(behavior["time"].values, dtype=np.float64)
    v = np.asarray(behavior.values, dtype=np.float64)
    n_bins, n_ch = left.size, v.shape[1]
    t_lo, t_hi = (float(left[0]), float(left[-1] + bin_size)) if n_bins else (0.0, 0.0)
    if n_bins == 0 or t[-1] < t_lo or t[0] >= t_hi:
        raise SpikeDecodeValueError(
            f"behavior {behavior.attrs['name']!r} spans [{t[0]:.6g}, {t[-1]:.6g}] s but the bins "
            f"span [{t_lo:.6g}, {t_hi:.6g}) s: the series lies outside the recording. Check "
            "that both use the same clock (offset, units of seconds)."
        )
    dt = float(np.median(np.diff(t))) if t.size > 1 else np.inf
    if method == "auto":
        method = "mean" if dt <= bin_size / 2 or t.size == n_bins else "interp"
    out = np.full((n_bins, n_ch), np.nan)
    if method == "mean":
        # bin index of each sample on the grid [left_i, left_i + bin_size)
        k = np.searchsorted(left, t, side="right") - 1
        inside = (k >= 0) & (t < left[np.clip(k, 0, n_bins - 1)] + bin_size)
        for c in range(n_ch):
            ok = inside & np.isfinite(v[:, c])
            total = np.bincount(k[ok], weights=v[ok, c], minlength=n_bins)
            count = np.bincount(k[ok], minlength=n_bins)
            np.divide(total, count, out=out[:, c], where=count > 0)
    else:
        gap = 3 * dt if max_gap is None else check_param(
            max_gap, "max_gap", Interval(Real, 0, None, closed="neither"))
        centre = left + bin_size / 2
        for c in range(n_ch):
            ok = np.isfinite(v[:, c])
            tc, vc = t[ok], v[ok, c]
            if tc.size < 2:
                continue
            j = np.searchsorted(tc, centre, side="right")
            valid = (j > 0) & (j < tc.size)
            jj = np.clip(j, 1, tc.size - 1)
            valid &= (tc[jj] - tc[jj - 1]) <= gap
            valid |= np.isin(centre, tc)  # a centre exactly on a sample
            out[valid, c] = np.interp(centre[valid], tc, vc)
    n_missing = int(np.isnan(out).any(axis=1).sum())
    if n_missing:
        warnings.warn(
            f"bin_behavior: {n_missing} of {n_bins} bins have no value of "
            f"{behavior.attrs['name']!r} (gaps in the series or bins outside it); they are "
            "NaN and target_windows() drops their samples.",
            DataDroppedWarning, stacklevel=2,
        )
    attrs = dict(behavior.attrs)
    attrs.update(bin_size=bin_size, method=method, n_missing=n_missing)
    return xr.DataArray(out, dims=("time", "channel"),
                        coords={"time": ("time", left, {"units": "s"}),
                                "channel": behavior["channel"].values},
                        name=behavior.name, attrs=attrs)


def check_target(Y: ArrayLike, *, channels: Sequence[Any] | None = None,
                 field: str = "y") -> NDArray[np.float64]:
    """Check a continuous target: finite, non-constant in every column.

    Parameters
    ----------
    Y : array-like, shape (n_samples,) or (n_samples, n_outputs)
    channels : sequence of str, optional
        Column names used in messages.
    field : str, default="y"
        The argument's name used in messages.

    Returns
    -------
    ndarray of float64, shape (n_samples, n_outputs)

    Raises
    ------
    SpikeDecodeValueError
        NaN/inf entries, or a constant column (R² is undefined for it).

    Examples
    --------
    >>> check_target([1.0, 2.0, 3.0]).shape
    (3, 1)
    """
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise SpikeDecodeValueError(
            f"{field} must be (n_samples,) or (n_samples, n_outputs) with n_samples >= 2; "
            f"got shape {np.shape(Y)}."
        )
    if not np.all(np.isfinite(arr)):
        raise SpikeDecodeValueError(
            f"{field} holds {int((~np.isfinite(arr)).sum())} NaN/inf entries; drop those "
            "samples first (target_windows() drops and counts them)."
        )
    names = list(channels) if channels is not None else list(range(arr.shape[1]))
    spread = np.ptp(arr, axis=0)
    for c in np.flatnonzero(spread == 0):
        raise SpikeDecodeValueError(
            f"{field} output {names[c]!r} is constant (== {arr[0, c]!r}) over all "
            f"{arr.shape[0]} samples; R² is undefined for a constant target. Decode another "
            "series or use a longer interval."
        )
    return arr


def target_windows(
    binned: xr.DataArray,
    behavior: xr.DataArray,
    *,
    bins_before: int = 4,
    bins_after: int = 0,
    method: str = "auto",
    max_gap: float | None = None,
) -> xr.DataArray:
    """Windows of spike history in front of each target bin, with the target attached.

    Sample ``i`` holds bins ``k - bins_before .. k + bins_after`` of ``binned`` (the
    target bin ``k`` included) and the target is ``behavior`` binned onto bin ``k``
    (:func:`bin_behavior`). With ``bins_after=0`` (the default) a prediction uses no spike
    after the end of its target bin: causal decoding.

    Parameters
    ----------
    binned : xarray.DataArray
        Binned counts ``(time, unit)`` (:func:`~spikedecode.preprocess.bin_spikes`).
    behavior : xarray.DataArray
        A Behavior series, raw (it is binned here) or already on the grid of ``binned``.
    bins_before : int, default=4
        History bins before the target bin.
    bins_after : int, default=0
        Bins after the target bin (> 0 makes the decoder acausal).
    method, max_gap
        See :func:`bin_behavior`.

    Returns
    -------
    xarray.DataArray
        Windows ``(sample, lag, unit)`` (``n_bins = bins_before + 1 + bins_after``) with
        coords ``target_<channel>`` (``sample``,) for each output and ``target_time``
        (left edge of the target bin); attrs ``bins_before``, ``bins_after``, ``target``
        (the series' name), ``target_channels``, ``target_units``, ``n_dropped``
        (samples dropped for a NaN target). :func:`~spikedecode.preprocess.to_xy` returns
        the targets as ``y`` (``n_samples``, ``n_channels``).

    Raises
    ------
    NotEnoughDataError
        No sample keeps a finite target.
    SpikeDecodeValueError
        The series lies outside the recording, or an output is constant.

    Warns
    -----
    DataDroppedWarning
        Samples whose target bin has no value are dropped (and counted).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> binned = xr.DataArray(np.arange(20).reshape(10, 2), dims=("time", "unit"),
    ...                       coords={"time": np.arange(10) * 0.1, "unit": ["a", "b"]},
    ...                       attrs={"bin_size": 0.1, "t_start": 0.0, "t_stop": 1.0})
    >>> v = make_behavior(np.arange(10.0) ** 2, rate=10.0, name="speed")
    >>> w = target_windows(binned, v, bins_before=2)
    >>> w.sizes["sample"], w["target_speed"].values[:2].tolist()  # targets of bins 2 and 3
    (8, [4.0, 9.0])
    >>> w.values[0].tolist()  # spikes of bins 0, 1, 2
    [[0, 1], [2, 3], [4, 5]]
    """
    from spikedecode.preprocess.windows import sliding_windows

    bins_before = check_param(bins_before, "bins_before", Interval(Integral, 0, None))
    bins_after = check_param(bins_after, "bins_after", Interval(Integral, 0, None))
    left, bin_size = _grid(binned)
    behavior = check_behavior(behavior)
    on_grid = (behavior.sizes["time"] == left.size
               and np.allclose(behavior["time"].values, left, rtol=0, atol=bin_size * 1e-6)
               and float(behavior.attrs.get("bin_size", bin_size)) == bin_size)
    if not on_grid:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)  # counted below, once
            behavior = bin_behavior(behavior, binned, method=method, max_gap=max_gap)
    n_bins = bins_before + 1 + bins_after
    w = sliding_windows(binned, n_bins=n_bins)
    target = behavior.values[bins_before: bins_before + w.sizes["sample"]]
    keep = np.flatnonzero(np.isfinite(target).all(axis=1))
    n_dropped = int(w.sizes["sample"] - keep.size)
    if keep.size == 0:
        raise NotEnoughDataError(
            f"no window has a finite target: the {w.sizes['sample']} target bins of "
            f"{behavior.attrs['name']!r} are all NaN (gaps, or the series does not cover the "
            "binned interval)."
        )
    if n_dropped:
        warnings.warn(
            f"target_windows: dropped {n_dropped} of {w.sizes['sample']} samples whose target "
            f"{behavior.attrs['name']!r} is NaN in its bin (gaps in the series or bins "
            "outside it).",
            DataDroppedWarning, stacklevel=2,
        )
    channels = [str(c) for c in behavior["channel"].values]
    units = str(behavior.attrs.get("units", ""))
    check_target(target[keep], channels=channels, field=f"target {behavior.attrs['name']!r}")
    coords: dict[str, Any] = {f"target_{c}": ("sample", target[:, i], {"units": units})
                              for i, c in enumerate(channels)}
    coords["target_time"] = ("sample", left[bins_before: bins_before + w.sizes["sample"]],
                             {"units": "s"})
    w = w.assign_coords(coords)
    if n_dropped:
        w = w.isel(sample=keep)
    w.attrs.update(bins_before=bins_before, bins_after=bins_after,
                   target=str(behavior.attrs["name"]), target_channels=channels,
                   target_units=units, n_dropped=n_dropped)
    return w
