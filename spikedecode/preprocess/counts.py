"""Binned counts (trials x units x bins) -> labelled Windows, validated by the schema.

Many public data sets ship spike *counts* per trial, not spike times. :func:`from_counts`
turns such an array and its per-trial labels into the project's own Windows container
(``(sample, lag, unit)`` DataArray, ``docs/data_model.md``), so that
``{session: from_counts(...)}`` goes straight into
:func:`spikedecode.evaluation.cross_day_matrix` or
:func:`~spikedecode.evaluation.leave_one_day_out` with any aligner.

Sample layout (``per``):

* ``per="trial"`` (default): one sample per trial. The trial's bins, summed in groups of
  ``pool`` consecutive bins, become the ``lag`` axis (``pool=None``: the whole window is
  summed into one lag). Features for scikit-learn: ``lag * unit``.
* ``per="bin"``: one sample per (trial, pooled bin), with one lag; ``t_rel`` holds the
  start of the pooled bin after trial onset, so that time-aware aligners
  (``uses_time = True``) match condition *and* latency. Every sample of a trial shares
  its ``trial`` id (splitters keep a trial on one side).

Unit ids never coincide across sessions by accident: without ``units`` they are
``f"{session}:{i}"``, so two sessions are never matched by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    ConfigError,
    LabelError,
    NotEnoughDataError,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)

__all__ = ["from_counts"]


def _per_trial(values: Any, n_trials: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n_trials:
        raise LabelError(
            f"{name} must hold one value per trial ({n_trials}); got shape {arr.shape}. "
            "Pass a 1-D array aligned with the first axis of counts."
        )
    return arr


def _as_counts(counts: ArrayLike) -> NDArray[Any]:
    """``counts`` as a numeric 3-D array, or a SpikeDecodeError naming the problem."""
    try:
        arr = np.asarray(counts)
    except Exception as err:  # pragma: no cover - exotic array-likes
        raise SpikeDecodeTypeError(f"counts must be an array; got {type(counts).__name__}.") from err
    if arr.dtype.kind not in "iuf":
        raise SpikeDecodeTypeError(
            f"counts must be numeric (integer or float); got dtype {arr.dtype}."
        )
    if arr.ndim != 3:
        raise SpikeDecodeValueError(
            f"counts must be 3-D (n_trials, n_units, n_bins); got shape {arr.shape}. "
            "Add a trial axis with counts[None] for a single trial, or transpose "
            "(time, unit) data to (trial, unit, bin)."
        )
    if min(arr.shape) < 1:
        raise NotEnoughDataError(f"counts has shape {arr.shape}; every axis needs >= 1 entry.")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise SpikeDecodeValueError("counts contains NaN or inf values; counts must be finite.")
    if arr.dtype.kind in "if" and arr.size and arr.min() < 0:
        raise SpikeDecodeValueError(
            f"counts must be non-negative; the smallest value is {arr.min()}."
        )
    return arr


def _unit_ids(units: Sequence[Any] | None, session: str | None, n_units: int) -> NDArray[Any]:
    """One unique id per unit: ``units`` as given, else ``f"{session}:{i}"``."""
    if units is None:
        if session is None:
            raise ConfigError(
                "from_counts needs session= (unit ids become f'{session}:{i}') or units=; "
                "units of different sessions must never be matched by position."
            )
        unit_ids = np.asarray([f"{session}:{i}" for i in range(n_units)])
    else:
        unit_ids = np.asarray(units)
        if unit_ids.ndim != 1 or unit_ids.shape[0] != n_units:
            raise SchemaError(
                f"units must hold one id per unit ({n_units}, axis 1 of counts); got shape "
                f"{unit_ids.shape}."
            )
        if len(np.unique(unit_ids)) != n_units:
            raise ConfigError("units contains duplicate ids; unit ids must be unique.")
    return unit_ids


def _smooth(arr: NDArray[Any], smooth: float, bin_size: float) -> NDArray[np.float64]:
    """Gaussian smoothing over bins (sd ``smooth`` seconds, reflected trial edges)."""
    smooth = float(check_param(smooth, "smooth", Interval(Real, 0, None, closed="neither")))
    sd_bins = smooth / bin_size
    if int(4.0 * sd_bins + 0.5) >= arr.shape[2]:
        raise ConfigError(
            f"smooth == {smooth} s is {sd_bins:.3g} bins of {bin_size} s; its kernel (4 sd) "
            f"must be shorter than a trial's {arr.shape[2]} bins; choose smooth < "
            f"{(arr.shape[2] - 0.5) * bin_size / 4:.3g} s."
        )
    from scipy.ndimage import gaussian_filter1d

    arr = gaussian_filter1d(arr.astype(np.float64), sd_bins, axis=2, mode="reflect",
                            truncate=4.0)
    return arr


def from_counts(
    counts: ArrayLike,
    label: ArrayLike,
    *,
    bin_size: float,
    session: str | None = None,
    units: Sequence[Any] | None = None,
    trials: ArrayLike | None = None,
    onsets: ArrayLike | None = None,
    coords: Mapping[str, ArrayLike] | None = None,
    per: str = "trial",
    pool: int | None = None,
    smooth: float | None = None,
    day: Any = None,
) -> xr.DataArray:
    """Trials x units x bins counts and per-trial labels -> labelled Windows.

    Parameters
    ----------
    counts : array (n_trials, n_units, n_bins)
        Non-negative, finite counts (integer or float) of each unit in each time bin of
        each trial; bin 0 starts at the trial's onset.
    label : array (n_trials,)
        The decoded label of every trial (stored as ``str``; no missing values).
    bin_size : float
        Width of one bin of ``counts``, in seconds.
    session : str, optional
        Name of the session; default unit ids are ``f"{session}:{i}"``. Required when
        ``units`` is not given, so that units of different sessions stay distinct.
    units : sequence (n_units,), optional
        Unit ids (unique). Give them only when they really identify the same neuron
        across sessions.
    trials : array of int (n_trials,), optional
        Trial ids (unique); default ``0 .. n_trials - 1``.
    onsets : array of float (n_trials,), optional
        Onset of every trial, in seconds; default back to back
        (``trial_index * n_bins * bin_size``), a nominal clock.
    coords : mapping name -> array (n_trials,), optional
        Extra per-trial labels (e.g. ``contrast_left``, ``feedback_type``), stored as
        per-sample coords.
    per : {"trial", "bin"}, default="trial"
        Sample layout (see the module docstring).
    pool : int, optional
        Bins summed into one lag (``per="trial"``) or one sample (``per="bin"``); must
        divide ``n_bins``. Default: all bins for ``per="trial"`` (one whole-window
        count per unit), 1 for ``per="bin"``.
    smooth : float, optional
        Standard deviation (s) of a Gaussian kernel that smooths every unit's counts
        over the bins of each trial *before* pooling (20-50 ms is the usual range for
        population trajectories). The trial's edges are reflected
        (``scipy.ndimage.gaussian_filter1d(mode="reflect")``, kernel truncated at 4 sd),
        so each unit's total count per trial is conserved (up to float rounding) as long
        as the kernel's radius stays under the trial's length; the counts become floats.
        Whole-window samples (``pool=None``) are therefore unchanged by it. Default: no
        smoothing. Stored in ``attrs["smooth"]`` (0.0 when off).
    day : hashable, optional
        Stored in ``attrs["day"]`` (default: ``session``, else 0).

    Returns
    -------
    xarray.DataArray
        Windows ``(sample, lag, unit)``, named ``spike_count``, valid against the
        ``windows`` schema. Per-sample coords: ``time`` (onset + ``t_rel``), ``label``,
        ``trial``, ``t_rel`` and every name in ``coords``. Attrs: ``bin_size`` (of one
        lag: ``pool * bin_size``), ``n_bins`` (lags per sample), ``step``, ``session``,
        ``day``, ``window_size``, ``per``, ``pool``.

    Raises
    ------
    SpikeDecodeTypeError
        Counts that are not numeric.
    SpikeDecodeValueError
        Counts not 3-D, negative or not finite.
    LabelError
        Labels/coords/trials/onsets without one value per trial, or missing labels.
    ConfigError
        No ``session`` and no ``units``; ``pool`` that does not divide ``n_bins``;
        duplicate unit or trial ids.

    Examples
    --------
    >>> import numpy as np
    >>> counts = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # 2 trials, 3 units, 4 bins
    >>> w = from_counts(counts, ["left", "right"], bin_size=0.01, session="s1")
    >>> w.dims, w.shape, w["unit"].values.tolist()
    (('sample', 'lag', 'unit'), (2, 1, 3), ['s1:0', 's1:1', 's1:2'])
    >>> w.values[0, 0].tolist()  # whole-window counts of trial 0
    [6, 22, 38]
    >>> b = from_counts(counts, ["left", "right"], bin_size=0.01, session="s1",
    ...                 per="bin", pool=2)
    >>> b.shape, b["t_rel"].values.tolist(), b["trial"].values.tolist()
    ((4, 1, 3), [0.0, 0.02, 0.0, 0.02], [0, 0, 1, 1])
    """
    arr = _as_counts(counts)
    n_trials, n_units, n_bins = arr.shape
    bin_size = float(check_param(bin_size, "bin_size", Interval(Real, 0, None, closed="neither")))
    per = check_param(per, "per", Options("trial", "bin"))
    if pool is None:
        pool = n_bins if per == "trial" else 1
    pool = int(check_param(pool, "pool", Interval(Integral, 1, None)))
    if n_bins % pool:
        raise ConfigError(
            f"pool == {pool} does not divide the {n_bins} bins of a trial; choose a divisor "
            f"of {n_bins} (e.g. {max(d for d in range(1, pool + 1) if n_bins % d == 0)})."
        )

    if smooth is not None:
        arr = _smooth(arr, smooth, bin_size)

    lab = _per_trial(label, n_trials, "label")
    if lab.dtype.kind == "O" and any(v is None for v in lab.tolist()):
        raise LabelError("label contains None; every trial needs a label (drop those trials).")
    if lab.dtype.kind == "f" and not np.all(np.isfinite(lab)):
        raise LabelError("label contains NaN; every trial needs a label (drop those trials).")
    lab = lab.astype(str)

    unit_ids = _unit_ids(units, session, n_units)

    trial_ids = (np.arange(n_trials, dtype=np.int64) if trials is None
                 else _per_trial(trials, n_trials, "trials"))
    if trial_ids.dtype.kind not in "iu":
        raise LabelError(f"trials must be integers; got dtype {trial_ids.dtype}.")
    if len(np.unique(trial_ids)) != n_trials:
        raise ConfigError("trials contains duplicate ids; trial ids must be unique.")
    trial_ids = trial_ids.astype(np.int64)
    if onsets is None:
        onset = np.arange(n_trials, dtype=np.float64) * n_bins * bin_size
    else:
        onset = _per_trial(onsets, n_trials, "onsets").astype(np.float64)
        if not np.all(np.isfinite(onset)):
            raise LabelError("onsets contains NaN or inf values.")
    extra = {}
    for name, values in (coords or {}).items():
        if name in ("time", "label", "trial", "t_rel", "day", "lag", "unit"):
            raise ConfigError(f"coords name {name!r} is reserved; rename it.")
        extra[str(name)] = _per_trial(values, n_trials, f"coords[{name!r}]")

    n_lag = n_bins // pool
    out_dtype = arr.dtype if arr.dtype.kind == "f" else np.int64 if arr.dtype.kind == "i" \
        else np.uint64 if arr.dtype.itemsize == 8 else np.uint32
    # (trial, unit, lag, pool) -> sum over pool -> (trial, lag, unit)
    pooled = arr.reshape(n_trials, n_units, n_lag, pool).sum(axis=3, dtype=out_dtype)
    pooled = np.ascontiguousarray(pooled.transpose(0, 2, 1))
    lag_width = pool * bin_size
    if per == "trial":
        data = pooled
        rep = np.arange(n_trials)
        t_rel = np.zeros(n_trials)
        n_lags = n_lag
    else:
        data = pooled.reshape(n_trials * n_lag, 1, n_units)
        rep = np.repeat(np.arange(n_trials), n_lag)
        t_rel = np.round(np.tile(np.arange(n_lag) * lag_width, n_trials), 9).astype(np.float64)
        n_lags = 1
    sample_coords: dict[str, Any] = {
        "time": ("sample", onset[rep] + t_rel, {"units": "s"}),
        "label": ("sample", lab[rep]),
        "trial": ("sample", trial_ids[rep]),
        "t_rel": ("sample", t_rel, {"units": "s"}),
    }
    for name, values in extra.items():
        sample_coords[name] = ("sample", values[rep])
    attrs = {
        "bin_size": lag_width, "n_bins": int(n_lags), "step": int(n_lags),
        "session": "" if session is None else str(session),
        "day": day if day is not None else (session if session is not None else 0),
        "window_size": float(n_lags * lag_width), "per": per, "pool": int(pool),
        "source": "counts", "smooth": 0.0 if smooth is None else float(smooth),
    }
    out = xr.DataArray(
        data, dims=("sample", "lag", "unit"),
        coords={**sample_coords, "lag": ("lag", np.arange(n_lags)), "unit": unit_ids},
        attrs=attrs, name="spike_count",
    )
    from spikedecode.schema import validate

    validate(out, "windows")
    return out
