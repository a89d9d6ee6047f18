"""Labelling windows with the epochs of a Recording.

Rule (DESIGN §2): a window ``[start, start + n_bins * bin_size)`` is labelled with an
epoch's label when it lies wholly inside that epoch; with ``latent_label`` when it lies
wholly outside every epoch (by at least ``guard`` seconds); otherwise it is *ambiguous*
and dropped. Dropping ambiguous windows is the documented rule, so it does not warn; the
counts are in ``attrs['n_dropped_ambiguous']`` and ``attrs['n_dropped_excluded']``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from spikedecode.errors import (
    DataDroppedWarning,
    LabelError,
    NotEnoughDataError,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)
from spikedecode.preprocess.binning import _edges_from_grid, _grid, bin_spikes
from spikedecode.preprocess.windows import _check_binned, check_windows, sliding_windows

__all__ = ["label_windows", "trial_windows", "make_windows", "STIMULUS", "LATENT"]

STIMULUS = "stimulus"
LATENT = "latent"
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


def label_windows(
    windows: xr.DataArray,
    rec: xr.Dataset,
    *,
    rule: str = "multiclass",
    stimulus_labels: Iterable[str] | None = None,
    latent_label: str = LATENT,
    guard: float = 0.0,
) -> xr.DataArray:
    """Label windows by the epoch they lie in; drop (and count) the ambiguous ones.

    Parameters
    ----------
    windows : xarray.DataArray
        From :func:`~spikedecode.preprocess.sliding_windows`.
    rec : xarray.Dataset
        The Recording the windows were binned from (its epochs are used).
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

    Returns
    -------
    xarray.DataArray
        The kept windows (a copy of those samples) with per-sample coords ``label``
        (str), ``trial`` (int64: the epoch index for stimulus windows; ``n_epochs +
        gap index`` for latent windows, so that all windows of one epoch or one gap
        form one group), ``t_rel`` (window start minus epoch start, NaN for latent) and
        ``day``. Attrs add ``rule``, ``latent_label``, ``guard``,
        ``n_dropped_ambiguous``, ``n_dropped_excluded``, ``n_windows_in``.

    Raises
    ------
    SpikeDecodeValueError
        Unknown ``rule``, negative ``guard``, a ``latent_label`` equal to a stimulus label.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> from spikedecode.preprocess import bin_spikes, sliding_windows
    >>> rec = make_recording([0.01, 0.03], [0, 0], units=["a"], t_stop=0.1,
    ...                      epochs=[(0.02, 0.05, "touch/LUM")])
    >>> w = label_windows(sliding_windows(bin_spikes(rec, 0.01), n_bins=2), rec)
    >>> w["label"].values.tolist(), w["trial"].values.tolist()
    (['latent', 'touch/LUM', 'touch/LUM', 'latent', 'latent', 'latent', 'latent'], [1, 0, 0, 2, 2, 2, 2])
    >>> w.attrs["n_dropped_ambiguous"]  # [0.01, 0.03) and [0.04, 0.06) straddle the epoch
    2
    """
    windows = check_windows(windows)
    if "bin_size" not in windows.attrs or "time" not in windows.coords:
        raise SchemaError(
            "windows need attrs['bin_size'] and a 'time' coordinate to be labelled; build "
            "them with spikedecode.preprocess.sliding_windows()."
        )
    if rule not in _RULES:
        raise SpikeDecodeValueError(f"rule == {rule!r}, must be one of {_RULES}.")
    guard = float(guard)
    if not (np.isfinite(guard) and guard >= 0):
        raise SpikeDecodeValueError(f"guard == {guard}, must be >= 0 seconds.")
    if not isinstance(latent_label, str) or not latent_label:
        raise SpikeDecodeValueError(f"latent_label == {latent_label!r}, must be a non-empty str.")
    start, stop, label = _epochs(rec)
    if stimulus_labels is None:
        selected = np.ones(label.size, dtype=bool)
    else:
        if isinstance(stimulus_labels, str):
            stimulus_labels = [stimulus_labels]
        wanted = {str(v) for v in stimulus_labels}
        unknown = sorted(wanted - set(label.tolist()))
        if unknown:
            raise LabelError(
                f"stimulus_labels names {unknown}, which no epoch has; epoch labels are "
                f"{sorted(set(label.tolist()))}."
            )
        selected = np.isin(label, sorted(wanted))
    out_labels = label if rule == "multiclass" else np.full(label.size, STIMULUS)
    if latent_label in set(out_labels[selected].tolist()):
        raise SpikeDecodeValueError(
            f"latent_label == {latent_label!r} is also an epoch label; choose another."
        )

    s = np.asarray(windows["time"].values, dtype=np.float64)
    e = _window_ends(windows, s)
    n_ov, id_sum = _overlaps(s, e, start, stop)
    n_near = _overlaps(s - guard, e + guard, start, stop)[0] if guard > 0 else n_ov
    n_epochs = start.size
    if n_epochs:
        j = np.where(n_ov == 1, id_sum, 0)  # the one overlapping epoch, where there is one
        inside = (n_ov == 1) & (start[j] <= s) & (e <= stop[j])
        is_stim = inside & selected[j]
        is_excl = inside & ~selected[j]
    else:
        j = np.zeros(s.size, dtype=np.int64)
        is_stim = is_excl = np.zeros(s.size, dtype=bool)
    is_latent = n_near == 0
    keep = np.flatnonzero(is_stim | is_latent)

    stim_k, jk, s_k = is_stim[keep], j[keep], s[keep]
    lab = np.full(keep.size, latent_label, dtype=object)
    lab[stim_k] = out_labels[jk[stim_k]]
    lab = lab.astype(str)
    gap = np.searchsorted(np.sort(stop), s_k, side="right")  # epochs ended by the start
    trial = np.where(stim_k, jk, n_epochs + gap).astype(np.int64)
    t_rel = np.full(keep.size, np.nan)
    t_rel[stim_k] = s_k[stim_k] - start[jk[stim_k]]
    day = windows.attrs.get("day", rec.attrs.get("day", 0))
    if isinstance(day, np.integer):
        day = int(day)

    out = windows.isel(sample=keep)
    out = out.assign_coords(
        label=("sample", lab),
        trial=("sample", trial),
        t_rel=("sample", t_rel, {"units": "s"}),
        day=("sample", np.full(keep.size, day)),
    )
    out.attrs = dict(windows.attrs)
    out.attrs.update(
        {
            "rule": rule,
            "latent_label": latent_label,
            "guard": guard,
            "day": day,
            "n_windows_in": int(s.size),
            "n_dropped_excluded": int(is_excl.sum()),
            "n_dropped_ambiguous": int(s.size - keep.size - is_excl.sum()),
        }
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

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> rec = make_recording([0.01, 0.03], [0, 0], units=["a"], t_stop=0.1,
    ...                      epochs=[(0.02, 0.05, "touch/LUM")])
    >>> make_windows(rec, bin_size=0.01, n_bins=2, rule="binary")["label"].values.tolist()[:3]
    ['latent', 'stimulus', 'stimulus']
    """
    binned = bin_spikes(rec, bin_size)
    return label_windows(sliding_windows(binned, n_bins=n_bins, step=step), rec, rule=rule,
                         **label_kw)
