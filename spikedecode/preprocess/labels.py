"""Labelling windows with the epochs of a Recording.

Rule (DESIGN §2): a window ``[start, start + n_bins * bin_size)`` is labelled with an
epoch's label when it lies wholly inside that epoch; with ``latent_label`` when it lies
wholly outside every epoch (by at least ``guard`` seconds); otherwise it is *ambiguous*
and dropped. Dropping ambiguous windows is the documented rule, so it does not warn; the
counts are in ``attrs['n_dropped_ambiguous']`` and ``attrs['n_dropped_excluded']``.

**Excluded intervals.** A Recording may also carry ``excluded_start``/``excluded_stop``
(dim ``excluded``): intervals that are neither stimulus nor latent, e.g. the trials of
the NWB interval tables that were not chosen as epochs (:func:`spikedecode.io.read_nwb`).
Windows inside them are dropped and counted in ``attrs['n_dropped_other_intervals']``;
like unselected epochs they keep windows near them from being latent.

**Groups.** Each stimulus epoch is one group (``trial``). Latent time is cut into
blocks: each gap between intervals is split into consecutive blocks of
``latent_block`` seconds (default :data:`LATENT_BLOCK` = 10 s), counted from the end of
the interval before it, and each block is one group. A latent window that crosses a block
edge is dropped (``attrs['n_dropped_block_edge']``), so that no bin belongs to windows of
two groups, as at epoch edges. Without blocks, the time after the last trial of a
session (1,880 s of a 47-min NWB file) would be one group holding most windows.
:func:`label_windows` warns (:class:`~spikedecode.errors.SpikeDecodeWarning`) when one
group still holds more than ``max_group_share`` (default :data:`MAX_GROUP_SHARE` = 20%)
of the kept windows: grouped K-fold CV cannot balance its folds (one group is more than
one fold of five) and cluster-bootstrap intervals become unreliable.

**Memory.** The labelled windows stay a lazy selection of the zero-copy
:func:`~spikedecode.preprocess.sliding_windows` view: nothing of size
``n_windows * n_bins * n_units`` is allocated until ``.values`` (or
:func:`~spikedecode.preprocess.to_xy`, which writes float32 directly) is asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from numbers import Real
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from xarray.backends import BackendArray
from xarray.core import indexing

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    ConfigError,
    DataDroppedWarning,
    LabelError,
    NotEnoughDataError,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
    SpikeDecodeWarning,
)
from spikedecode.preprocess.binning import _edges_from_grid, _grid, bin_spikes
from spikedecode.preprocess.windows import _check_binned, check_windows, sliding_windows

__all__ = [
    "label_windows",
    "trial_windows",
    "epoch_bins",
    "make_windows",
    "STIMULUS",
    "LATENT",
    "LATENT_BLOCK",
    "MAX_GROUP_SHARE",
]

STIMULUS = "stimulus"
LATENT = "latent"
#: default length (s) of the blocks that cut latent time into groups
LATENT_BLOCK = 10.0
#: default share of the kept windows above which one group triggers a warning
MAX_GROUP_SHARE = 0.2
_RULES = ("multiclass", "binary")


def _epochs(rec: Any) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.str_]]:
    if not isinstance(rec, xr.Dataset) or "epoch_start" not in rec:
        raise SpikeDecodeTypeError(
            f"rec must be a Recording (xarray.Dataset with epochs); got {type(rec).__name__}."
        )
    return (
        np.asarray(rec["epoch_start"].values, dtype=np.float64),
        np.asarray(rec["epoch_stop"].values, dtype=np.float64),
        np.asarray(rec["epoch_label"].values).astype(str),
    )


def _excluded(rec: xr.Dataset) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The Recording's excluded intervals (empty when it has none)."""
    if "excluded_start" not in rec or "excluded_stop" not in rec:
        return np.zeros(0), np.zeros(0)
    return (
        np.asarray(rec["excluded_start"].values, dtype=np.float64).reshape(-1),
        np.asarray(rec["excluded_stop"].values, dtype=np.float64).reshape(-1),
    )


class _SampleSelection(BackendArray):
    """Samples ``index`` of a ``(sample, lag, unit)`` array, read only when indexed.

    ``xarray`` wraps it in ``LazilyIndexedArray`` (the documented backend protocol), so
    coordinates, ``isel`` and ``sel`` work without reading data; ``.values`` reads the
    requested samples of the (strided, zero-copy) source, and nothing else.
    """

    def __init__(self, source: np.ndarray, index: NDArray[np.int64]) -> None:
        self.source = source
        self.index = index
        self.shape = (int(index.size), *source.shape[1:])
        self.dtype = source.dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._raw_indexing
        )

    def _raw_indexing(self, key: tuple) -> np.ndarray:
        # pick the samples first: the other keys then index a small array, never the
        # whole strided view (an array key on ``unit`` would copy every window)
        scalar = isinstance(key[0], (int, np.integer))
        picked = self.source[np.atleast_1d(self.index[key[0]])]
        for axis in range(len(key) - 1, 0, -1):  # last axis first: no axis shifts
            k = key[axis]
            if not (isinstance(k, slice) and k == slice(None)):
                picked = picked[(slice(None),) * axis + (k,)]
        return picked[0] if scalar else picked


def _select_samples(windows: xr.DataArray, index: NDArray[np.int64]) -> xr.DataArray:
    """``windows.isel(sample=index)`` without copying the window data."""
    data = windows.variable._data
    if not isinstance(data, np.ndarray):  # already lazy (or dask): isel stays lazy
        return windows.isel(sample=index)
    var = xr.Variable(
        windows.dims,
        indexing.LazilyIndexedArray(_SampleSelection(data, index)),
        attrs=dict(windows.variable.attrs),
    )
    coords = {
        name: (c.variable.isel(sample=index) if "sample" in c.dims else c.variable)
        for name, c in windows.coords.items()
    }
    return xr.DataArray(var, coords=coords, name=windows.name, attrs=dict(windows.attrs))


def _overlaps(
    s: NDArray[np.float64],
    e: NDArray[np.float64],
    start: NDArray[np.float64],
    stop: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Per window ``[s, e)``: how many epochs overlap it and the sum of their indices.

    An epoch ``[a, b)`` overlaps ``[s, e)`` when ``a < e`` and ``b > s``. Since
    ``a <= b``, the epochs with ``b <= s`` are a subset of those with ``a < e`` (for
    ``s < e``), so the count is a difference of two sorted counts; the index sum (prefix
    sums) identifies the epoch when exactly one overlaps. O((n + m) log m).
    """
    ids = np.arange(start.size, dtype=np.int64)
    o_a = np.argsort(start, kind="stable")
    o_b = np.argsort(stop, kind="stable")
    cs_a = np.concatenate(([0], np.cumsum(ids[o_a])))
    cs_b = np.concatenate(([0], np.cumsum(ids[o_b])))
    n_a = np.searchsorted(start[o_a], e, side="left")  # a < e
    n_b = np.searchsorted(stop[o_b], s, side="right")  # b <= s
    return n_a - n_b, cs_a[n_a] - cs_b[n_b]


def _window_ends(windows: xr.DataArray, s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Right edge of each window, with the exact edge arithmetic of bin_spikes."""
    n_bins = int(windows.attrs.get("n_bins", windows.sizes["lag"]))
    bin_size = float(windows.attrs["bin_size"])
    if "t_start" not in windows.attrs:
        return s + n_bins * bin_size
    t0 = float(windows.attrs["t_start"])
    k = np.rint((s - t0) / bin_size)
    return _edges_from_grid(k + n_bins, _grid(t0, bin_size, int(k.max(initial=0)) + n_bins))


def _latent_groups(
    s: NDArray[np.float64],
    e: NDArray[np.float64],
    stops: NDArray[np.float64],
    t0: float,
    block: float | None,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per latent window: its (gap, block) key and whether it lies inside one block.

    The gap of a window is the number of intervals that ended by its start; its block
    counts ``block`` seconds from the end of the last of them (``t0`` for the first gap).
    """
    sorted_stop = np.sort(stops)
    gap = np.searchsorted(sorted_stop, s, side="right")
    if block is None:
        return gap.astype(np.int64), np.ones(s.size, dtype=bool)
    first = min(t0, float(s[0])) if s.size else t0
    anchor = np.concatenate(([first], sorted_stop))[gap]
    # a relative 1e-9 tolerance: window edges on a block edge must not flip blocks
    # through float rounding of (s - anchor) / block
    tol = 1e-9
    k = np.floor((s - anchor) / block + tol)
    inside = (e - anchor) / block <= k + 1 + tol
    n_blocks = int(k.max(initial=0)) + 1
    return (gap * n_blocks + k).astype(np.int64), inside


def label_windows(
    windows: xr.DataArray,
    rec: xr.Dataset,
    *,
    rule: str = "multiclass",
    stimulus_labels: Iterable[str] | None = None,
    latent_label: str = LATENT,
    guard: float = 0.0,
    latent_block: float | None = LATENT_BLOCK,
    max_group_share: float | None = MAX_GROUP_SHARE,
) -> xr.DataArray:
    """Label windows by the epoch they lie in; drop (and count) the ambiguous ones.

    Parameters
    ----------
    windows : xarray.DataArray
        From :func:`~spikedecode.preprocess.sliding_windows`.
    rec : xarray.Dataset
        The Recording the windows were binned from (its epochs, and its excluded
        intervals when it has ``excluded_start``/``excluded_stop``).
    rule : {"multiclass", "binary"}, default="multiclass"
        ``"multiclass"``: the epoch's label (``touch/LUM``, ``touch/LBR``, ...) or
        ``latent_label``. ``"binary"``: ``"stimulus"`` or ``latent_label``.
    stimulus_labels : iterable of str, optional
        Epoch labels that count as stimuli (default: all). Windows inside an epoch with
        another label are dropped and counted in ``n_dropped_excluded``; such epochs still
        prevent windows near them from being latent.
    latent_label : str, default="latent"
        Label of windows wholly outside every epoch.
    guard : float, default=0.0
        Margin (s): a latent window must be at least ``guard`` away from every epoch.
    latent_block : float or None, default=10.0
        Length (s) of the blocks that cut each latent gap into groups (see the module
        docstring); None keeps one group per gap, however long.
    max_group_share : float or None, default=0.2
        Warn when one group holds more than this share of the kept windows; None
        never warns.

    Returns
    -------
    xarray.DataArray
        The kept windows (a lazy selection of the input view: no data are copied until
        ``.values`` is read) with per-sample coords ``label`` (str), ``trial`` (int64:
        the epoch index for stimulus windows; ``n_epochs + k`` for the ``k``-th latent
        block in time, so that all windows of one epoch or one block form one group),
        ``t_rel`` (window start minus epoch start, NaN for latent) and ``day``. Attrs add
        ``rule``, ``latent_label``, ``guard``, ``latent_block`` (s, or ``"gap"``),
        ``n_windows_in``, ``n_dropped_ambiguous``, ``n_dropped_excluded``,
        ``n_dropped_other_intervals``, ``n_dropped_block_edge`` and
        ``largest_group_share``.

    Raises
    ------
    SpikeDecodeValueError
        Unknown ``rule``, negative ``guard``, a ``latent_label`` equal to a stimulus label,
        ``latent_block <= 0``, ``max_group_share`` outside (0, 1].

    Warns
    -----
    SpikeDecodeWarning
        One group holds more than ``max_group_share`` of the kept windows.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> from spikedecode.preprocess import bin_spikes, sliding_windows
    >>> rec = make_recording([0.01, 0.03], [0, 0], units=["a"], t_stop=0.1,
    ...                      epochs=[(0.02, 0.05, "touch/LUM")])
    >>> w = label_windows(sliding_windows(bin_spikes(rec, 0.01), n_bins=2), rec,
    ...                   latent_block=0.02, max_group_share=None)
    >>> w["label"].values.tolist(), w["trial"].values.tolist()
    (['latent', 'touch/LUM', 'touch/LUM', 'latent', 'latent'], [1, 0, 0, 2, 3])
    >>> w.attrs["n_dropped_ambiguous"]  # [0.01, 0.03) and [0.04, 0.06) straddle the epoch
    2
    >>> w.attrs["n_dropped_block_edge"]  # blocks [0.05, 0.07), [0.07, 0.09), ...
    2
    """
    return _label(windows, rec, rule=rule, stimulus_labels=stimulus_labels,
                  latent_label=latent_label, guard=guard, latent_block=latent_block,
                  max_group_share=max_group_share, stacklevel=3)


def _selected_epochs(label: NDArray, stimulus_labels: Iterable[str] | str | None) -> NDArray:
    """Mask of the epochs whose label is in ``stimulus_labels`` (all when None)."""
    if stimulus_labels is None:
        return np.ones(label.size, dtype=bool)
    if isinstance(stimulus_labels, str):
        stimulus_labels = [stimulus_labels]
    wanted = {str(v) for v in stimulus_labels}
    unknown = sorted(wanted - set(label.tolist()))
    if unknown:
        raise LabelError(
            f"stimulus_labels names {unknown}, which no epoch has; epoch labels are "
            f"{sorted(set(label.tolist()))}."
        )
    return np.isin(label, sorted(wanted))


def _largest_group_share(trial: NDArray, label: NDArray, n_epochs: int,
                         latent_block: float | None, max_group_share: float | None,
                         stacklevel: int) -> float:
    """Share of the labelled windows in the largest group; warn above ``max_group_share``."""
    if not trial.size:
        return 0.0
    keep_size = trial.size
    ids, counts = np.unique(trial, return_counts=True)
    big = int(np.argmax(counts))
    share = float(counts[big] / keep_size)
    if max_group_share is not None and share > max_group_share:
        g = int(ids[big])
        what = (f"epoch {g} ('{label[g]}')" if g < n_epochs else
                f"a latent block of up to {latent_block} s" if latent_block is not None
                else "a latent gap (latent_block=None)")
        warnings.warn(
            f"one group (trial {g}, {what}) holds {share:.0%} of the {keep_size} "
            f"labelled windows, more than max_group_share={max_group_share:.0%}: grouped "
            "CV folds cannot be balanced and cluster-bootstrap intervals are "
            "unreliable. Use more trials, a shorter latent_block, or stimulus_labels "
            "to drop the long epoch.",
            SpikeDecodeWarning,
            stacklevel=stacklevel,
        )
    return share


def _label(
    windows: xr.DataArray,
    rec: xr.Dataset,
    *,
    rule: str = "multiclass",
    stimulus_labels: Iterable[str] | None = None,
    latent_label: str = LATENT,
    guard: float = 0.0,
    latent_block: float | None = LATENT_BLOCK,
    max_group_share: float | None = MAX_GROUP_SHARE,
    stacklevel: int = 2,
) -> xr.DataArray:
    windows = check_windows(windows)
    if "bin_size" not in windows.attrs or "time" not in windows.coords:
        raise SchemaError(
            "windows need attrs['bin_size'] and a 'time' coordinate to be labelled; build "
            "them with spikedecode.preprocess.sliding_windows()."
        )
    rule = check_param(rule, "rule", Options(*_RULES))
    guard = check_param(guard, "guard", Interval(Real, 0, None))
    if not isinstance(latent_label, str) or not latent_label:
        raise ConfigError(f"latent_label == {latent_label!r}, must be a non-empty str.")
    latent_block = check_param(latent_block, "latent_block",
                               [Interval(Real, 0, None, closed="neither"), None],
                               hint="(seconds; None for one group per gap)")
    max_group_share = check_param(max_group_share, "max_group_share",
                                  [Interval(Real, 0, 1, closed="right"), None])
    start, stop, label = _epochs(rec)
    selected = _selected_epochs(label, stimulus_labels)
    out_labels = label if rule == "multiclass" else np.full(label.size, STIMULUS)
    if latent_label in set(out_labels[selected].tolist()):
        raise SpikeDecodeValueError(
            f"latent_label == {latent_label!r} is also an epoch label; choose another."
        )
    n_epochs = start.size
    ex_start, ex_stop = _excluded(rec)
    # excluded intervals behave as unselected epochs with indices >= n_epochs
    all_start = np.concatenate([start, ex_start])
    all_stop = np.concatenate([stop, ex_stop])
    all_sel = np.concatenate([selected, np.zeros(ex_start.size, dtype=bool)])

    s = np.asarray(windows["time"].values, dtype=np.float64)
    e = _window_ends(windows, s)
    n_ov, id_sum = _overlaps(s, e, all_start, all_stop)
    n_near = _overlaps(s - guard, e + guard, all_start, all_stop)[0] if guard > 0 else n_ov
    if all_start.size:
        j = np.where(n_ov == 1, id_sum, 0)  # the one overlapping interval, where there is one
        inside = (n_ov == 1) & (all_start[j] <= s) & (e <= all_stop[j])
        is_stim = inside & all_sel[j]
        is_excl = inside & ~all_sel[j] & (j < n_epochs)
        is_other = inside & (j >= n_epochs)
    else:
        j = np.zeros(s.size, dtype=np.int64)
        is_stim = is_excl = is_other = np.zeros(s.size, dtype=bool)
    is_latent = n_near == 0
    t0 = float(windows.attrs.get("t_start", rec.attrs.get("t_start", 0.0)))
    block_key = np.zeros(s.size, dtype=np.int64)
    lat = np.flatnonzero(is_latent)
    block_key[lat], in_block = _latent_groups(s[lat], e[lat], all_stop, t0, latent_block)
    is_edge = np.zeros(s.size, dtype=bool)
    is_edge[lat[~in_block]] = True
    keep = np.flatnonzero(is_stim | (is_latent & ~is_edge))

    stim_k, jk, s_k = is_stim[keep], j[keep], s[keep]
    lab = np.full(keep.size, latent_label, dtype=object)
    lab[stim_k] = out_labels[jk[stim_k]]
    lab = lab.astype(str)
    # latent blocks are numbered in time order after the epochs
    block_id = np.unique(block_key[keep[~stim_k]], return_inverse=True)[1].reshape(-1)
    trial = np.empty(keep.size, dtype=np.int64)
    trial[stim_k] = jk[stim_k]
    trial[~stim_k] = n_epochs + block_id
    t_rel = np.full(keep.size, np.nan)
    t_rel[stim_k] = s_k[stim_k] - start[jk[stim_k]]
    day = windows.attrs.get("day", rec.attrs.get("day", 0))
    if isinstance(day, np.integer):
        day = int(day)

    share = _largest_group_share(trial, label, n_epochs, latent_block, max_group_share,
                                 stacklevel + 1)

    out = _select_samples(windows, keep)
    out = out.assign_coords(
        label=("sample", lab),
        trial=("sample", trial),
        t_rel=("sample", t_rel, {"units": "s"}),
        day=("sample", np.full(keep.size, day)),
    )
    out.attrs = dict(windows.attrs)
    dropped = {"excluded": int(is_excl.sum()), "other_intervals": int(is_other.sum()),
               "block_edge": int(is_edge.sum())}
    dropped["ambiguous"] = int(s.size - keep.size - sum(dropped.values()))
    out.attrs.update(
        rule=rule, latent_label=latent_label, guard=guard,
        latent_block=latent_block if latent_block is not None else "gap", day=day,
        n_windows_in=int(s.size), largest_group_share=share,
        **{f"n_dropped_{k}": v for k, v in dropped.items()},
    )
    return out


def trial_windows(
    binned: xr.DataArray,
    rec: xr.Dataset,
    *,
    n_bins: int,
    offset: float = 0.0,
    labels: Iterable[str] | None = None,
) -> xr.DataArray:
    """One window per epoch, aligned to its onset (+ ``offset``).

    The window of epoch ``i`` starts at the bin that contains ``epoch_start[i] + offset``
    and spans ``n_bins`` bins.

    Parameters
    ----------
    binned : xarray.DataArray
        Binned counts from :func:`~spikedecode.preprocess.bin_spikes`.
    rec : xarray.Dataset
        The Recording (its epochs).
    n_bins : int
        Bins per window.
    offset : float, default=0.0
        Shift of the window start relative to the onset (s); negative looks before it.
    labels : iterable of str, optional
        Keep only epochs with these labels (default: all).

    Returns
    -------
    xarray.DataArray
        Windows ``(sample, lag, unit)``, one sample per epoch, with coords ``time``
        (window start), ``label``, ``trial`` (epoch index), ``t_rel`` (= ``offset``) and
        ``day``; attrs as :func:`sliding_windows` plus ``offset`` and
        ``n_dropped_out_of_range``.

    Warns
    -----
    DataDroppedWarning
        Epochs whose window does not fit inside the binned interval are dropped.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> from spikedecode.preprocess import bin_spikes
    >>> rec = make_recording([0.21, 0.62], [0, 0], units=["a"], t_stop=1.0,
    ...                      epochs=[(0.2, 0.3, "x"), (0.6, 0.7, "y")])
    >>> w = trial_windows(bin_spikes(rec, 0.05), rec, n_bins=2)
    >>> w.shape, w["label"].values.tolist(), w.values[:, 0, 0].tolist()
    ((2, 2, 1), ['x', 'y'], [1, 1])
    """
    binned = _check_binned(binned)
    start, _, label = _epochs(rec)
    sel = np.arange(start.size)
    if labels is not None:
        if isinstance(labels, str):
            labels = [labels]
        wanted = {str(v) for v in labels}
        unknown = sorted(wanted - set(label.tolist()))
        if unknown:
            raise LabelError(
                f"labels names {unknown}, which no epoch has; epoch labels are "
                f"{sorted(set(label.tolist()))}."
            )
        sel = np.flatnonzero(np.isin(label, sorted(wanted)))
    if sel.size == 0:
        raise NotEnoughDataError("the recording has no epochs to align windows to.")
    if isinstance(offset, bool) or not isinstance(offset, (int, float, np.number)) \
            or not np.isfinite(offset):
        raise ConfigError(f"offset == {offset!r}, must be a finite number of seconds (the "
                          "window starts at each epoch's onset + offset).")
    win = sliding_windows(binned, n_bins=n_bins, step=1)
    edges = np.asarray(binned["time"].values, dtype=np.float64)
    onset = start[sel] + float(offset)
    k = np.searchsorted(edges, onset, side="right") - 1
    bin_size = float(binned.attrs["bin_size"])
    ok = (k >= 0) & (k < win.sizes["sample"]) & (onset < edges[-1] + bin_size)
    n_bad = int((~ok).sum())
    if n_bad:
        warnings.warn(
            f"trial_windows dropped {n_bad} epoch(s) whose window [onset + {offset}, + "
            f"{n_bins} bins) does not fit in the binned interval (e.g. epoch "
            f"{int(sel[~ok][0])}).",
            DataDroppedWarning,
            stacklevel=2,
        )
    k, sel = k[ok], sel[ok]
    day = binned.attrs.get("day", rec.attrs.get("day", 0))
    if isinstance(day, np.integer):
        day = int(day)
    out = win.isel(sample=k)
    out = out.assign_coords(
        label=("sample", label[sel]),
        trial=("sample", sel.astype(np.int64)),
        t_rel=("sample", np.full(sel.size, float(offset)), {"units": "s"}),
        day=("sample", np.full(sel.size, day)),
    )
    out.attrs.update({"offset": float(offset), "n_dropped_out_of_range": n_bad, "day": day})
    return out


def epoch_bins(
    rec: xr.Dataset,
    *,
    bin_size: float = 0.1,
    t_window: tuple[float, float] = (0.0, 0.5),
    labels: Iterable[str] | None = None,
) -> xr.DataArray:
    """Spike counts in bins aligned exactly to every epoch onset, one sample per bin.

    Unlike :func:`trial_windows`, which cuts windows out of a global bin grid (the first
    bin is the one that *contains* the onset, so it can start up to one bin before it),
    the bins here start at ``onset + t_window[0] + k * bin_size`` exactly. Bins are
    ``[left, left + bin_size)``.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording (spikes and epochs).
    bin_size : float, default=0.1
        Bin width (s).
    t_window : (float, float), default=(0.0, 0.5)
        Window relative to each onset (s); ``round((t1 - t0) / bin_size)`` bins per epoch.
    labels : iterable of str, optional
        Keep only epochs with these labels (default: all).

    Returns
    -------
    xarray.DataArray
        Windows ``(sample, lag, unit)`` with one lag (float64 counts) and
        ``n_epochs * n_bins`` samples, epoch by epoch. Coords: ``time`` (left edge of the
        bin), ``label``, ``trial`` (epoch index in the Recording), ``t_rel`` (left edge
        relative to the onset), ``day``, ``lag`` and ``unit``. Attrs: ``bin_size``,
        ``n_bins`` (1), ``step`` (1), ``t_window``, ``day``. ``t_rel`` is a multiple of
        ``bin_size`` (plus ``t_window[0]``), so that
        :func:`spikedecode.evaluation.prepare_days` gives every bin after onset one
        condition key across trials and days.

    Raises
    ------
    ConfigError
        ``bin_size <= 0`` or a window holding no bin.
    LabelError
        ``labels`` names a label no epoch has.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> rec = make_recording([1.05, 1.15, 3.01, 1.5], [0, 0, 0, 1], units=["a", "b"],
    ...                      t_stop=5.0, epochs=[(1.0, 2.0, "x"), (3.0, 4.0, "y")])
    >>> w = epoch_bins(rec, bin_size=0.1, t_window=(0.0, 0.2))
    >>> w.values[:, 0, :].tolist(), w["label"].values.tolist(), w["t_rel"].values.tolist()
    ([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], ['x', 'x', 'y', 'y'], [0.0, 0.1, 0.0, 0.1])
    """
    if isinstance(bin_size, bool) or not isinstance(bin_size, (int, float, np.number)) \
            or not bin_size > 0:
        raise ConfigError(f"bin_size == {bin_size!r}, must be a number > 0 (seconds).")
    try:
        t0, t1 = float(t_window[0]), float(t_window[1])
    except (TypeError, IndexError, ValueError) as err:
        raise ConfigError(f"t_window == {t_window!r}, must be (start, stop) in seconds "
                          "relative to the onset.") from err
    if not (np.isfinite(t0) and np.isfinite(t1)):
        raise ConfigError(f"t_window == {t_window!r}, must be two finite numbers (start, stop) "
                          "in seconds relative to the onset, e.g. (0.0, 0.5).")
    n_bins = int(round((t1 - t0) / bin_size))
    if n_bins < 1:
        raise ConfigError(f"t_window == {t_window!r} holds no bin of {bin_size} s; widen it "
                          "or use a smaller bin_size.")
    # a special case of the one event-aligned cutter: the epochs' onsets, per-bin samples
    from spikedecode.preprocess.events import _event_windows, epochs_table

    table = epochs_table(rec)
    if table["start_time"].size == 0:
        raise NotEnoughDataError("the recording has no epochs to bin.")
    if labels is not None:
        wanted = {str(v) for v in ([labels] if isinstance(labels, str) else labels)}
        unknown = sorted(wanted - set(table["label"].tolist()))
        if unknown:
            raise LabelError(
                f"labels names {unknown}, which no epoch has; epoch labels are "
                f"{sorted(set(table['label'].tolist()))}."
            )
    w = _event_windows(rec, table, align="start_time", window=(t0, t0 + n_bins * bin_size),
                       bin_size=float(bin_size), label="label", labels=labels, baseline=None,
                       coords=(), per="bin", outside="raise", min_classes=1)
    day = w.attrs["day"]
    return xr.DataArray(
        w.values.astype(np.float64), dims=("sample", "lag", "unit"),
        coords={"time": ("sample", w["time"].values),
                "label": ("sample", w["label"].values),
                "trial": ("sample", w["trial"].values),
                "t_rel": ("sample", w["t_rel"].values, {"units": "s"}),
                "day": ("sample", w["day"].values),
                "lag": [0], "unit": w["unit"].values},
        attrs={"bin_size": float(bin_size), "n_bins": 1, "step": 1,
               "t_window": (t0, t1), "day": day},
    )


def make_windows(
    rec: xr.Dataset,
    *,
    bin_size: float = 0.005,
    n_bins: int = 5,
    step: int = 1,
    rule: str = "multiclass",
    **label_kw: Any,
) -> xr.DataArray:
    """Bin, window and label a Recording in one call.

    Equivalent to ``label_windows(sliding_windows(bin_spikes(rec, bin_size), n_bins,
    step), rec, rule=rule, **label_kw)``.

    Parameters
    ----------
    rec : xarray.Dataset
        The Recording, with its epochs.
    bin_size : float, default=0.005
        Bin width in seconds (:func:`bin_spikes`).
    n_bins : int, default=5
        Bins per window (:func:`sliding_windows`).
    step : int, default=1
        Bins between the starts of consecutive windows.
    rule : str, default="multiclass"
        Labelling rule of :func:`label_windows`.
    **label_kw
        Further arguments of :func:`label_windows` (``guard``, ``latent_block``,
        ``max_group_share``...).

    Returns
    -------
    xarray.DataArray
        Labelled Windows with dims ``(sample, lag, unit)`` and the ``label`` and
        ``trial`` coordinates.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> rec = make_recording([0.01, 0.03], [0, 0], units=["a"], t_stop=0.1,
    ...                      epochs=[(0.02, 0.05, "touch/LUM")])
    >>> w = make_windows(rec, bin_size=0.01, n_bins=2, rule="binary", max_group_share=None)
    >>> w["label"].values.tolist()[:3]
    ['latent', 'stimulus', 'stimulus']
    """
    binned = bin_spikes(rec, bin_size)
    return _label(sliding_windows(binned, n_bins=n_bins, step=step), rec, rule=rule,
                  stacklevel=3, **label_kw)
