"""Sliding windows over binned counts, and the one xarray -> numpy conversion.

``sliding_windows`` returns a zero-copy view (``numpy.lib.stride_tricks.
sliding_window_view``) of the Binned counts with dims ``(sample, lag, unit)``. Units come
last so that ``.values`` feeds ``nn.LSTM(batch_first=True)`` and flattens to
``(sample, lag * unit)`` for scikit-learn (:func:`to_xy`, :func:`to_sequences`).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any

import numpy as np
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from spikedecode._validation import Interval, check_param
from spikedecode.errors import (
    NotEnoughDataError,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)

__all__ = ["sliding_windows", "to_xy", "to_sequences", "concat_days", "check_windows"]

#: bytes of window data converted per chunk by :func:`to_sequences`
_CHUNK_BYTES = 16 * 2**20


def _check_binned(binned: Any) -> xr.DataArray:
    if not isinstance(binned, xr.DataArray):
        raise SpikeDecodeTypeError(
            f"binned must be an xarray.DataArray from bin_spikes(); got {type(binned).__name__}."
        )
    if tuple(binned.dims) != ("time", "unit") or "bin_size" not in binned.attrs:
        raise SchemaError(
            f"binned must have dims ('time', 'unit') and attrs['bin_size']; got dims "
            f"{tuple(binned.dims)} and attrs {sorted(binned.attrs)}. Build it with "
            "spikedecode.preprocess.bin_spikes()."
        )
    if "time" not in binned.coords:
        raise SchemaError("binned has no 'time' coordinate (left bin edges); use bin_spikes().")
    return binned


def sliding_windows(binned: xr.DataArray, n_bins: int = 5, step: int = 1) -> xr.DataArray:
    """Windows of ``n_bins`` consecutive bins, every ``step`` bins, as a zero-copy view.

    Parameters
    ----------
    binned : xarray.DataArray
        Binned counts ``(time, unit)`` from :func:`~spikedecode.preprocess.bin_spikes`.
    n_bins : int, default=5
        Bins per window (5 x 5 ms = 25 ms).
    step : int, default=1
        Stride between window starts, in bins.

    Returns
    -------
    xarray.DataArray
        Dims ``(sample, lag, unit)``; ``values`` is a read-only view of ``binned.values``
        (no copy). Coords: ``time`` (sample: left edge of the window), ``lag``
        (0 .. n_bins - 1), ``unit``. Attrs: ``bin_size``, ``n_bins``, ``step``,
        ``t_start``, ``t_stop``, ``day``, ``session``. Sample ``i`` covers
        ``[time_i, time_i + n_bins * bin_size)``.

    Raises
    ------
    NotEnoughDataError
        Fewer than ``n_bins`` bins.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> b = xr.DataArray(np.arange(12).reshape(6, 2), dims=("time", "unit"),
    ...                  coords={"time": np.arange(6) * 0.005, "unit": ["a", "b"]},
    ...                  attrs={"bin_size": 0.005})
    >>> w = sliding_windows(b, n_bins=3, step=2)
    >>> w.dims, w.shape
    (('sample', 'lag', 'unit'), (2, 3, 2))
    >>> w.values[1].tolist()
    [[4, 5], [6, 7], [8, 9]]
    >>> np.shares_memory(w.values, b.values)
    True
    """
    binned = _check_binned(binned)
    n_bins = check_param(n_bins, "n_bins", Interval(Integral, 1, None))
    step = check_param(step, "step", Interval(Integral, 1, None))
    n_time = binned.sizes["time"]
    if n_time < n_bins:
        raise NotEnoughDataError(
            f"binned has {n_time} bins but n_bins == {n_bins}; a window needs n_bins bins. "
            "Use a smaller n_bins or bin a longer interval."
        )
    values = binned.values  # computes a dask-backed array
    view = sliding_window_view(values, n_bins, axis=0)[::step]  # (sample, unit, lag)
    view = view.transpose(0, 2, 1)
    n_samples = view.shape[0]
    time = np.asarray(binned["time"].values, dtype=np.float64)[: n_time - n_bins + 1 : step]
    attrs = dict(binned.attrs)
    attrs.update({"n_bins": n_bins, "step": step})
    attrs.setdefault("day", 0)
    attrs.setdefault("session", "")
    attrs["window_size"] = float(n_bins * float(attrs["bin_size"]))
    return xr.DataArray(
        view,
        dims=("sample", "lag", "unit"),
        coords={
            "time": ("sample", time[:n_samples], {"units": "s"}),
            "lag": ("lag", np.arange(n_bins)),
            "unit": binned["unit"].values,
        },
        attrs=attrs,
        name="spike_count",
    )


def check_windows(windows: Any, *, labelled: bool = False) -> xr.DataArray:
    """Check that ``windows`` is a Windows DataArray (and labelled, when asked).

    Parameters
    ----------
    windows : xarray.DataArray
        The Windows to check.
    labelled : bool, default=False
        Also require the ``label`` coordinate.

    Returns
    -------
    xarray.DataArray
        ``windows`` itself.

    Raises
    ------
    SpikeDecodeTypeError, SchemaError

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> w = xr.DataArray(np.zeros((2, 3, 1)), dims=("sample", "lag", "unit"))
    >>> check_windows(w) is w
    True
    """
    if not isinstance(windows, xr.DataArray):
        raise SpikeDecodeTypeError(
            f"windows must be an xarray.DataArray from sliding_windows(); got "
            f"{type(windows).__name__}."
        )
    if windows.ndim != 3 or windows.dims[0] != "sample" or windows.dims[1] != "lag":
        raise SchemaError(
            f"windows must have dims ('sample', 'lag', 'unit'|'component'); got "
            f"{tuple(windows.dims)}. Build them with spikedecode.preprocess.sliding_windows()."
        )
    if labelled and ("label" not in windows.coords or "trial" not in windows.coords):
        raise SchemaError(
            "windows have no 'label'/'trial' coordinates; label them first with "
            "spikedecode.preprocess.label_windows() or trial_windows()."
        )
    return windows


def to_sequences(
    windows: xr.DataArray,
) -> tuple[NDArray[np.float32], NDArray[Any] | None, NDArray[np.int64] | None]:
    """Windows -> ``(X, y, groups)`` with ``X`` of shape ``(sample, lag, unit)``.

    Parameters
    ----------
    windows : xarray.DataArray
        Windows, labelled or not.

    Returns
    -------
    X : ndarray of float32, shape (sample, lag, unit)
        For sequence models (``nn.LSTM(batch_first=True)``). The only copy of the window
        data: it is written directly from the (lazy, zero-copy) Windows in 16 MiB chunks.
    y : ndarray of str or None
        The ``label`` coordinate; for windows with a continuous target
        (:func:`~spikedecode.preprocess.target_windows`) the ``target_<channel>``
        coordinates stacked, float64 ``(sample, channel)``; None for unlabelled windows.
    groups : ndarray of int64 or None
        The ``trial`` coordinate (use it as ``groups`` in splitters); None when absent.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> w = xr.DataArray(np.ones((2, 3, 4), dtype=np.uint8), dims=("sample", "lag", "unit"),
    ...                  coords={"label": ("sample", ["a", "b"]), "trial": ("sample", [0, 1])})
    >>> X, y, g = to_sequences(w)
    >>> X.shape, X.dtype.name, y.tolist(), g.tolist()
    ((2, 3, 4), 'float32', ['a', 'b'], [0, 1])
    """
    windows = check_windows(windows)
    # one float32 copy, written chunk by chunk: labelled Windows are a lazy selection of
    # a strided view, so reading them whole first would add a second full-size copy
    var = windows.variable
    X = np.empty(var.shape, dtype=np.float32)
    per = max(1, _CHUNK_BYTES // max(1, int(np.prod(var.shape[1:])) * var.dtype.itemsize))
    for i in range(0, X.shape[0], per):
        X[i : i + per] = var.isel(sample=slice(i, i + per)).values
    y: NDArray[Any] | None = None
    if "label" in windows.coords:
        y = windows["label"].values.astype(str)
    elif "target_channels" in windows.attrs:  # continuous (preprocess.target_windows)
        y = np.stack([np.asarray(windows[f"target_{c}"].values, dtype=np.float64)
                      for c in windows.attrs["target_channels"]], axis=1)
    groups = windows["trial"].values.astype(np.int64) if "trial" in windows.coords else None
    return X, y, groups


def to_xy(
    windows: xr.DataArray,
) -> tuple[NDArray[np.float32], NDArray[Any] | None, NDArray[np.int64] | None]:
    """Windows -> ``(X, y, groups)`` with ``X`` of shape ``(sample, lag * unit)``.

    Feature ``j = lag * n_units + unit`` (C order of ``(lag, unit)``). ``y`` is the
    ``label`` coordinate and ``groups`` the ``trial`` coordinate (None when absent).
    The one place where Windows become numpy for scikit-learn estimators.

    Parameters
    ----------
    windows : xarray.DataArray
        Windows with dims ``(sample, lag, unit)`` (or ``component`` after alignment).

    Returns
    -------
    X : ndarray of float32, shape (n_samples, n_lags * n_units)
        The flattened windows.
    y : ndarray of str or None
        The ``label`` coordinate, None when the windows are unlabelled.
    groups : ndarray of int64 or None
        The ``trial`` coordinate, None when absent.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> w = xr.DataArray(np.arange(12).reshape(2, 3, 2), dims=("sample", "lag", "unit"),
    ...                  coords={"label": ("sample", ["a", "b"]), "trial": ("sample", [4, 4])})
    >>> X, y, g = to_xy(w)
    >>> X.shape, X[1].tolist()
    ((2, 6), [6.0, 7.0, 8.0, 9.0, 10.0, 11.0])
    """
    X, y, groups = to_sequences(windows)
    return X.reshape(X.shape[0], -1), y, groups


def concat_days(days: Mapping[Any, xr.DataArray]) -> xr.DataArray:
    """Concatenate Windows of several days along ``sample``.

    The days must share the feature axis (same ``unit`` ids, or the same ``component``
    count after alignment). ``trial`` ids are made unique across days (the original id is
    kept in ``trial_in_day``) so that splitting by ``trial`` stays leakage-safe; ``day``
    is set per sample.

    Parameters
    ----------
    days : mapping of day -> xarray.DataArray
        The Windows of each day, in the order to concatenate them.

    Returns
    -------
    xarray.DataArray
        All samples of all days, with the ``day`` and ``trial_in_day`` coordinates.

    Raises
    ------
    SchemaError
        Days with different units/components (align them first).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> def w(d):
    ...     return xr.DataArray(np.zeros((2, 1, 1)), dims=("sample", "lag", "unit"),
    ...         coords={"unit": ["a"], "trial": ("sample", [0, 1]),
    ...                 "label": ("sample", ["x", "y"])}, attrs={"day": d})
    >>> c = concat_days({0: w(0), 1: w(1)})
    >>> c["trial"].values.tolist(), c["day"].values.tolist()
    ([0, 1, 2, 3], [0, 0, 1, 1])
    """
    if not isinstance(days, Mapping) or not days:
        raise SpikeDecodeValueError(
            "days must be a non-empty mapping day -> Windows; got "
            f"{type(days).__name__} of length {len(days) if hasattr(days, '__len__') else '?'}."
        )
    parts = []
    offset = 0
    feat_dim = None
    feat: Any = None
    for day, w in days.items():
        w = check_windows(w)
        dim = w.dims[2]
        f = w[dim].values if dim in w.coords else np.arange(w.sizes[dim])
        if feat_dim is None:
            feat_dim, feat = dim, f
        elif dim != feat_dim or len(f) != len(feat) or not np.array_equal(f, feat):
            raise SchemaError(
                f"day {day!r} has {dim} {list(f[:5])}... but the first day has {feat_dim} "
                f"{list(feat[:5])}...; days must share units. Align the days first "
                "(spikedecode.align) or select common units."
            )
        coords: dict[str, Any] = {"day": ("sample", np.full(w.sizes["sample"], day))}
        if "trial" in w.coords:
            tr = w["trial"].values.astype(np.int64)
            coords["trial_in_day"] = ("sample", tr)
            coords["trial"] = ("sample", tr + offset)
            offset += int(tr.max()) + 1 if tr.size else 0
        parts.append(w.assign_coords(coords))
    out = xr.concat(parts, dim="sample", coords="minimal", compat="override",
                    combine_attrs="drop_conflicts")
    out.attrs["days"] = [d if isinstance(d, (int, str)) else str(d) for d in days]
    return out
