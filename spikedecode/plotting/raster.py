"""Figures of recordings and windows: spike raster with epochs, window heatmap, binned counts.

Every function returns a ``matplotlib.figure.Figure``; matplotlib is imported lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from spikedecode._optional import mpl
from spikedecode._optional import pyplot as _plt
from spikedecode.errors import SpikeDecodeTypeError, SpikeDecodeValueError

__all__ = ["plot_raster", "plot_window_heatmap", "plot_binned", "label_colors"]


def label_colors(labels: Any) -> dict[str, Any]:
    """A stable colour per label (tab10 in sorted order; ``latent`` is grey).

    Examples
    --------
    >>> c = label_colors(["touch/LUM", "latent", "airpuff"])
    >>> sorted(c)
    ['airpuff', 'latent', 'touch/LUM']
    """
    cmap = mpl().colormaps["tab10"]
    out: dict[str, Any] = {}
    i = 0
    for lab in sorted({str(v) for v in labels}):
        if lab == "latent":
            out[lab] = (0.6, 0.6, 0.6, 1.0)
        else:
            out[lab] = cmap(i % 10)
            i += 1
    return out


def _interval(rec: xr.Dataset, t_start: float | None, t_stop: float | None) -> tuple[float, float]:
    t0 = float(rec.attrs["t_start"]) if t_start is None else float(t_start)
    t1 = float(rec.attrs["t_stop"]) if t_stop is None else float(t_stop)
    if not t1 > t0:
        raise SpikeDecodeValueError(f"t_stop == {t1} must be > t_start == {t0}.")
    return t0, t1


def plot_raster(
    rec: xr.Dataset,
    *,
    t_start: float | None = None,
    t_stop: float | None = None,
    ax: Any = None,
    units: Any = None,
    marker_size: float | None = None,
) -> Any:
    """Spike raster (one row per unit) with the epochs shaded by label.

    Parameters
    ----------
    rec : xarray.Dataset
        A Recording.
    t_start, t_stop : float, optional
        Time range shown (s); default the whole recording. For hour-long recordings pick
        a range: every spike in it is drawn.
    ax : matplotlib Axes, optional
    units : sequence of unit ids, optional
        Units to show (default all), bottom to top.
    marker_size : float, optional
        Tick height in points; default scales with the number of units.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from spikedecode import make_recording
    >>> rec = make_recording([0.1, 0.5, 0.7], ["a", "b", "b"], t_stop=1.0,
    ...                      epochs=[(0.4, 0.6, "touch/LUM")])
    >>> fig = plot_raster(rec)
    >>> len(fig.axes[0].patches)  # one shaded epoch
    1
    """
    if not isinstance(rec, xr.Dataset) or "spike_time" not in rec:
        raise SpikeDecodeTypeError(
            f"rec must be a Recording (xarray.Dataset); got {type(rec).__name__}."
        )
    plt = _plt()
    t0, t1 = _interval(rec, t_start, t_stop)
    ids = rec["unit"].values.astype(str)
    if units is not None:
        want = [str(u) for u in units]
        missing = sorted(set(want) - set(ids.tolist()))
        if missing:
            raise SpikeDecodeValueError(f"units {missing[:5]} are not in the recording.")
        rows = [int(np.flatnonzero(ids == u)[0]) for u in want]
    else:
        rows = list(range(ids.size))
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 1.5 + 0.12 * min(len(rows), 60)))
    else:
        fig = ax.figure
    acc = rec.spikedecode
    xs, ys = [], []
    for y, r in enumerate(rows):
        t = acc.unit(ids[r])
        t = t[(t >= t0) & (t < t1)]
        xs.append(t)
        ys.append(np.full(t.size, y))
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    if marker_size is None:  # about 80 % of a row's height, in points
        height_pt = ax.get_position().height * fig.get_figheight() * 72.0
        marker_size = max(1.0, 0.8 * height_pt / max(len(rows), 1))
    ax.plot(x, y, linestyle="none", marker="|", markersize=marker_size, markeredgewidth=0.6,
            color="k", rasterized=x.size > 5000, zorder=2)

    start = rec["epoch_start"].values
    stop = rec["epoch_stop"].values
    lab = rec["epoch_label"].values.astype(str)
    shown = (stop > t0) & (start < t1)
    colors = label_colors(lab[shown])
    seen: set[str] = set()
    for a, b, lb in zip(start[shown], stop[shown], lab[shown]):
        ax.axvspan(max(a, t0), min(b, t1), color=colors[lb], alpha=0.35, lw=0, zorder=1,
                   label=lb if lb not in seen else None)
        seen.add(lb)
    if seen:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    ax.set_xlim(t0, t1)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("unit")
    if len(rows) <= 20:
        ax.set_yticks(range(len(rows)), [ids[r] for r in rows])
    title = " ".join(
        f"{k} {rec.attrs[k]}" for k in ("session", "day") if str(rec.attrs.get(k, "")) != ""
    )
    ax.set_title(title or "raster")
    return fig


def plot_window_heatmap(windows: xr.DataArray, sample: int = 0, *, ax: Any = None) -> Any:
    """Counts of one window as a heatmap (unit x lag), titled with its label and time.

    Parameters
    ----------
    windows : xarray.DataArray
        Windows ``(sample, lag, unit)`` (labelled or not).
    sample : int, default=0
        Position along ``sample``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> w = xr.DataArray(np.arange(6).reshape(1, 2, 3), dims=("sample", "lag", "unit"),
    ...                  coords={"time": ("sample", [0.5]), "label": ("sample", ["x"])},
    ...                  attrs={"bin_size": 0.005})
    >>> fig = plot_window_heatmap(w, 0)
    >>> fig.axes[0].images[0].get_array().shape
    (3, 2)
    """
    from spikedecode.preprocess.windows import check_windows

    plt = _plt()
    windows = check_windows(windows)
    n = windows.sizes["sample"]
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)):
        raise SpikeDecodeTypeError(f"sample must be an int position; got {type(sample).__name__}.")
    if not -n <= sample < n:
        raise SpikeDecodeValueError(f"sample == {sample}, must be in [0, {n - 1}].")
    w = windows.isel(sample=int(sample))
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 1.5 + 0.08 * min(windows.shape[2], 80)))
    else:
        fig = ax.figure
    data = np.asarray(w.values).T  # (unit, lag)
    bin_size = windows.attrs.get("bin_size")
    lags = np.arange(data.shape[1])
    extent = None
    if bin_size:
        ms = float(bin_size) * 1e3
        extent = (0.0, lags.size * ms, data.shape[0] - 0.5, -0.5)  # bins span [lag, lag+1)
    im = ax.imshow(data, aspect="auto", interpolation="nearest", cmap="viridis",
                   extent=extent)
    fig.colorbar(im, ax=ax, label="spikes per bin")
    ax.set_xlabel("time in window (ms)" if bin_size else "lag (bins)")
    ax.set_ylabel(windows.dims[2])
    parts = [f"sample {int(sample)}"]
    for name, fmt in (("label", "{}"), ("time", "t = {:.3f} s"), ("trial", "trial {}")):
        if name in w.coords:
            parts.append(fmt.format(w[name].values.item()))
    ax.set_title(", ".join(parts), fontsize="medium")
    return fig


def plot_binned(
    binned: xr.DataArray,
    *,
    t_start: float | None = None,
    t_stop: float | None = None,
    ax: Any = None,
) -> Any:
    """Binned counts ``(time, unit)`` as a heatmap over a time range.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> b = xr.DataArray(np.ones((4, 2), dtype=np.uint8), dims=("time", "unit"),
    ...                  coords={"time": np.arange(4) * 0.1}, attrs={"bin_size": 0.1})
    >>> plot_binned(b).axes[0].images[0].get_array().shape
    (2, 4)
    """
    plt = _plt()
    if not isinstance(binned, xr.DataArray) or tuple(binned.dims) != ("time", "unit"):
        raise SpikeDecodeTypeError("binned must be a DataArray (time, unit) from bin_spikes().")
    t = binned["time"].values
    sel = np.ones(t.size, bool)
    if t_start is not None:
        sel &= t >= float(t_start)
    if t_stop is not None:
        sel &= t < float(t_stop)
    if not sel.any():
        raise SpikeDecodeValueError(f"no bins in [{t_start}, {t_stop}).")
    data = np.asarray(binned.values[sel]).T
    bs = float(binned.attrs.get("bin_size", 1.0))
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 2 + 0.05 * min(data.shape[0], 100)))
    else:
        fig = ax.figure
    im = ax.imshow(data, aspect="auto", interpolation="nearest", cmap="viridis",
                   extent=(t[sel][0], t[sel][-1] + bs, data.shape[0] - 0.5, -0.5))
    fig.colorbar(im, ax=ax, label="spikes per bin")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("unit")
    return fig
