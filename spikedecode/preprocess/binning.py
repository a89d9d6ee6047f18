"""Binning spike trains into counts: Recording -> Binned ``DataArray (time, unit)``.

Bins are half-open, ``[edge_k, edge_{k+1})``, as in elephant's ``BinnedSpikeTrain``.
Edge ``k`` is the float64 nearest to the exact ``t_start + k * bin_size`` computed from the
decimal values (``bin_edges``; ``12 * 0.05`` gives ``0.6``), and it is what the ``time``
coordinate holds. A spike belongs to bin ``k`` when ``edge_k <= t < edge_{k+1}``, compared
exactly in float64: a spike whose time equals an edge goes to the bin that edge starts,
whatever rounding ``(t - t_start) / bin_size`` suffers. No tolerance is applied (elephant
shifts spikes lying within ``1e-8`` bins *below* an edge into the next bin; we do not).

The bin index is estimated by one multiplication or division and, only where its
fractional part lies within a tiny margin of an integer, corrected against the exact
edges. Two engines fill the output (the only large allocation): a compiled single pass
(numba, optional) and a vectorised numpy path that works unit by unit in cache-sized chunks.
See ``docs/preprocessing.md``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from fractions import Fraction
from numbers import Real
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import DTypeLike, NDArray

from spikedecode._validation import Interval, Options, check_param
from spikedecode.errors import (
    DataDroppedWarning,
    SchemaError,
    SpikeDecodeTypeError,
    SpikeDecodeValueError,
)

__all__ = ["bin_spikes", "bin_sessions", "n_bins_for", "bin_edges", "count_dtype"]

_UNSIGNED = (np.uint8, np.uint16, np.uint32, np.uint64)
#: spikes per chunk: the temporaries of one chunk stay in the L2 cache
_CHUNK = 1 << 15


def count_dtype(max_count: int) -> np.dtype:
    """Smallest unsigned integer dtype that holds ``max_count``.

    Parameters
    ----------
    max_count : int
        The largest count to store.

    Returns
    -------
    numpy.dtype
        ``uint8``, ``uint16``, ``uint32`` or ``uint64``.

    Examples
    --------
    >>> count_dtype(200), count_dtype(256), count_dtype(70000)
    (dtype('uint8'), dtype('uint16'), dtype('uint32'))
    """
    for dt in _UNSIGNED:
        if max_count <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)  # pragma: no cover - more than 2**64 spikes


def n_bins_for(t_start: float, t_stop: float, bin_size: float) -> int:
    """Number of whole bins of ``bin_size`` in ``[t_start, t_stop)``.

    Parameters
    ----------
    t_start, t_stop : float
        The interval, in seconds.
    bin_size : float
        Bin width, in seconds.

    Returns
    -------
    int
        The number of bins.

    ``floor((t_stop - t_start) / bin_size)``, except that a quotient within ``1e-9``
    (relative) of an integer is rounded to it, so that ``(1.0 - 0.0) / 0.005`` gives 200
    bins rather than 199 from floating-point error.

    Examples
    --------
    >>> n_bins_for(0.0, 1.0, 0.005), n_bins_for(0.0, 0.3, 0.1), n_bins_for(0.0, 1.0, 0.3)
    (200, 3, 3)
    """
    q = (float(t_stop) - float(t_start)) / float(bin_size)
    r = round(q)
    if abs(q - r) <= 1e-9 * max(1.0, abs(q)):
        return int(r)
    return int(math.floor(q))


def _grid(t_start: float, bin_size: float, n_bins: int = 0) -> tuple[float, float, float]:
    """Integers ``(T0, B, M)`` with ``t_start == T0 / M`` and ``bin_size == B / M``.

    Edges are then ``(T0 + k * B) / M``: the numerator is an exact integer in float64, so
    one correctly rounded division gives the float nearest to the exact edge
    ``t_start + k * bin_size`` *as written in decimal* (``12 * 0.05`` gives ``0.6``, not
    ``0.6000000000000001``). When ``t_start`` or ``bin_size`` has no short rational form,
    ``(t_start, bin_size, 1)`` is returned and the edges are ``t_start + k * bin_size``.
    """
    fb = Fraction(bin_size).limit_denominator(10**9)
    ft = Fraction(t_start).limit_denominator(10**9)
    if float(fb) == bin_size and float(ft) == t_start:
        m = math.lcm(fb.denominator, ft.denominator)
        T0 = ft.numerator * (m // ft.denominator)
        B = fb.numerator * (m // fb.denominator)
        if m < 2**53 and abs(T0) + (n_bins + 2) * B < 2**53:
            return float(T0), float(B), float(m)
    return float(t_start), float(bin_size), 1.0


def _edges_from_grid(
    k: NDArray[np.integer] | NDArray[np.floating], grid: tuple[float, float, float]
) -> NDArray[np.float64]:
    T0, B, M = grid
    e = np.asarray(k, dtype=np.float64) * B  # exact while |k * B| < 2**53 (checked in _check_bin_params)
    e += T0
    if M != 1.0:
        e /= M
    return e


def bin_edges(t_start: float, bin_size: float, n_bins: int) -> NDArray[np.float64]:
    """The ``n_bins + 1`` bin edges of :func:`bin_spikes` (float64).

    Parameters
    ----------
    t_start : float
        The first edge, in seconds.
    bin_size : float
        Bin width, in seconds.
    n_bins : int
        Number of bins.

    Returns
    -------
    ndarray of float64, shape (n_bins + 1,)
        The edges.

    Edge ``k`` is the float nearest to ``t_start + k * bin_size`` computed exactly from
    the decimal values (see :func:`_grid`); when those have no short rational form it is
    ``t_start + k * bin_size`` in float64. This is the one definition of the edges.

    Examples
    --------
    >>> bin_edges(0.0, 0.25, 4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> float(bin_edges(0.0, 0.05, 12)[-1])  # 12 * 0.05 == 0.6000000000000001 in float64
    0.6
    """
    grid = _grid(float(t_start), float(bin_size), int(n_bins))
    return _edges_from_grid(np.arange(int(n_bins) + 1, dtype=np.float64), grid)


def _left_edges(t0: float, bin_size: float, n_bins: int) -> NDArray[np.float64]:
    """``bin_edges(t0, bin_size, n_bins)[:-1]`` (the ``time`` coordinate), in one compiled
    pass when numba is available (the same float operations, so the same floats)."""
    kernels = _NUMBA_KERNEL if isinstance(_NUMBA_KERNEL, tuple) else None
    if kernels is None or len(kernels) < 4:
        return bin_edges(t0, bin_size, n_bins)[:-1]
    out = np.empty(int(n_bins), dtype=np.float64)
    T0, B, M = _grid(float(t0), float(bin_size), int(n_bins))
    kernels[3](T0, B, M, out)
    return out


def _binned_coords(left: NDArray[np.float64], unit_ids: NDArray) -> Any:
    """The ``time`` and ``unit`` coordinates of a Binned array, with their indexes built
    from the arrays as they are (xarray's default path copies the 720,000 edges of an hour
    of 5 ms bins twice, ~5 ms); a plain dict where ``xr.Coordinates`` cannot take indexes."""
    import pandas as pd

    time_var = xr.Variable("time", left, {"units": "s"})
    unit_var = xr.Variable("unit", unit_ids)
    try:
        from xarray.indexes import PandasIndex

        return xr.Coordinates(
            {"time": time_var, "unit": unit_var},
            indexes={"time": PandasIndex(pd.Index(left, copy=False), "time"),
                     "unit": PandasIndex(pd.Index(unit_ids, copy=False), "unit")},
        )
    except (ImportError, TypeError, AttributeError):  # pragma: no cover - xarray < 2023.8
        return {"time": time_var, "unit": unit_var}


def _check_bin_params(
    rec: Any, bin_size: Any, t_start: Any, t_stop: Any
) -> tuple[float, float, float, int]:
    if not isinstance(rec, xr.Dataset):
        raise SpikeDecodeTypeError(
            f"rec must be a Recording (xarray.Dataset); got {type(rec).__name__}. Build one "
            "with spikedecode.make_recording() or read it with spikedecode.read()."
        )
    missing = [k for k in ("spike_time", "spike_unit") if k not in rec]
    missing += [f"attrs['{k}']" for k in ("t_start", "t_stop") if k not in rec.attrs]
    if "unit" not in rec.coords:
        missing.append("unit")
    if missing:
        raise SchemaError(
            f"rec is not a Recording: it lacks {missing}. Build it with "
            "spikedecode.make_recording()."
        )
    if isinstance(bin_size, bool) or not isinstance(bin_size, (int, float, np.number)):
        raise SpikeDecodeTypeError(
            f"bin_size must be a number of seconds; got {type(bin_size).__name__}."
        )
    bin_size = check_param(bin_size, "bin_size", Interval(Real, 0, None, closed="neither"),
                           hint="It is in seconds.")
    t0 = float(rec.attrs["t_start"]) if t_start is None else float(t_start)
    t1 = float(rec.attrs["t_stop"]) if t_stop is None else float(t_stop)
    if not (np.isfinite(t0) and np.isfinite(t1)):
        raise SpikeDecodeValueError(f"t_start == {t0}, t_stop == {t1}; both must be finite.")
    if t1 <= t0:
        raise SpikeDecodeValueError(
            f"t_stop == {t1} must be > t_start == {t0}; bins cover [t_start, t_stop)."
        )
    # keep the float spacing of the times far below one bin (>= 4096 floats per bin)
    scale = max(abs(t0), abs(t1), 1.0)
    if bin_size < 2.0**12 * np.spacing(scale):
        raise SpikeDecodeValueError(
            f"bin_size == {bin_size} is too small for times of magnitude {scale:g} s: float64 "
            "cannot place edges that finely. Use a larger bin_size or shift the times."
        )
    n_bins = n_bins_for(t0, t1, bin_size)
    if n_bins < 1:
        raise SpikeDecodeValueError(
            f"[t_start, t_stop) = [{t0}, {t1}) is shorter than one bin of bin_size == "
            f"{bin_size}; use a smaller bin_size or a longer interval."
        )
    return bin_size, t0, t1, n_bins


def _available_memory() -> int | None:
    """Bytes of memory available for a new allocation (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _check_output_size(
    rec: xr.Dataset, n_bins: int, itemsize: int, t0: float, t1: float, bin_size: float,
    t_start: Any, t_stop: Any,
) -> None:
    """Raise before allocating a count array larger than the memory available."""
    n_units = int(rec.sizes["unit"])
    need = n_bins * n_units * itemsize
    avail = _available_memory()
    if avail is None or need <= avail:
        return
    times = np.asarray(rec["spike_time"].values)
    ids = rec["unit"].values

    def origin(value: Any, end: str, pick: Any) -> str:
        if value is not None:
            return f"{end} == {value} was passed"
        what = f"{end} == {t0 if end == 't_start' else t1} is the recording's"
        if times.size:
            i = int(pick(times))
            unit = str(ids[int(rec["spike_unit"].values[i])])
            what += f" (its {'first' if end == 't_start' else 'last'} spike: unit {unit!r} " \
                f"at {times[i]} s)"
        return what

    raise SpikeDecodeValueError(
        f"bin_spikes would allocate {n_bins:,} bins x {n_units:,} units x {itemsize} byte(s) "
        f"= {need / 2**30:.3g} GiB, more than the {avail / 2**30:.3g} GiB of memory "
        f"available. The interval [{t0}, {t1}) s in bins of {bin_size} s makes it: "
        f"{origin(t_start, 't_start', np.argmin)}; {origin(t_stop, 't_stop', np.argmax)}. "
        "Bin a shorter interval (t_start=/t_stop=), use a larger bin_size, or check for a "
        "spike time in the wrong unit (milliseconds?)."
    )


def _unit_bounds(spike_unit: NDArray, n_units: int) -> NDArray[np.int64]:
    if spike_unit.size > 1 and np.any(spike_unit[1:] < spike_unit[:-1]):
        raise SchemaError(
            "spike_unit is not sorted; a Recording keeps spikes sorted by unit then time. "
            "Rebuild it with spikedecode.make_recording(), which sorts them."
        )
    if spike_unit.size and (spike_unit[0] < 0 or spike_unit[-1] >= n_units):
        raise SchemaError(
            f"spike_unit holds indices in [{spike_unit[0]}, {spike_unit[-1]}] but there are "
            f"{n_units} units."
        )
    return np.searchsorted(spike_unit, _unit_keys(spike_unit, n_units), side="left").astype(
        np.int64)


def _unit_keys(units: NDArray, n_units: int) -> NDArray:
    """``0 .. n_units`` in the dtype of ``units`` when it holds them, so that searchsorted
    does not convert (copy) all of ``units`` to compare them."""
    keys = np.arange(n_units + 1, dtype=np.int64)
    if units.dtype.kind in "iu" and np.iinfo(units.dtype).max >= n_units:
        keys = keys.astype(units.dtype)
    return keys


def _fix_index(
    t: NDArray[np.float64], k: NDArray[np.int64], grid: tuple[float, float, float]
) -> NDArray[np.int64]:
    """Move each estimate ``k`` to the exact bin of ``t`` (``edge_k <= t < edge_{k+1}``)."""
    for _ in range(4):  # the estimate is off by at most one bin; loop for safety
        lo = t < _edges_from_grid(k, grid)
        hi = t >= _edges_from_grid(k + 1, grid)
        if not (lo.any() or hi.any()):
            break
        k = k - lo + hi
    return k


def _bin_chunk(
    t: NDArray[np.float64], grid: tuple[float, float, float], eps: float
) -> NDArray[np.int64]:
    """Exact bin index of in-range times ``t``.

    One division estimates the index; only the estimates whose fractional part lies
    within ``eps`` of an integer (where float error could flip the bin) are checked
    against the exact edges.
    """
    T0, B, M = grid
    q = t * M if M != 1.0 else t.copy()
    q -= T0
    q /= B
    k = q.astype(np.int64)  # truncation == floor for q >= 0; q > -1 for in-range t
    q -= k  # fractional part
    q -= 0.5
    np.abs(q, out=q)
    near = np.flatnonzero(q > 0.5 - eps)
    if near.size:
        k[near] = _fix_index(t[near], k[near], grid)
    return k


_NUMBA_KERNEL: Any = None
_ENGINES = ("auto", "numba", "numpy")


def _numba_kernel() -> Any:
    """Compile (once, cached on disk) the binning kernels; None without numba."""
    global _NUMBA_KERNEL
    if _NUMBA_KERNEL is not None:
        return _NUMBA_KERNEL or None
    try:
        import numba
    except ImportError:
        _NUMBA_KERNEL = False
        return None

    @numba.njit(cache=True, nogil=True)
    def kernel(times, units, start, T0, B, M, inv, t_first, t_end, eps, out, stats):  # pragma: no cover - compiled
        n_bins = out.shape[1]
        limit = np.iinfo(out.dtype).max
        for i in range(start, times.size):
            t = times[i]
            if t < t_first:
                stats[0] += 1
                continue
            if t >= t_end:
                stats[1] += 1
                continue
            q = (t - t_first) * inv
            k = int(q)
            f = q - k
            if f < eps or f > 1.0 - eps:  # next to an edge: compare with the exact edges
                k = min(max(k, 0), n_bins - 1)
                while k > 0 and t < (k * B + T0) / M:
                    k -= 1
                while k < n_bins - 1 and t >= ((k + 1) * B + T0) / M:
                    k += 1
            u = units[i]
            c = out[u, k]
            if c == limit:
                return i  # the caller widens the dtype and resumes here
            out[u, k] = c + 1
        return -1

    bounded, units_order, left_edges, count_unit = _unit_kernels(numba)
    _NUMBA_KERNEL = (kernel, bounded, units_order, left_edges, count_unit)
    return _NUMBA_KERNEL


def _unit_kernels(numba: Any) -> tuple[Any, Any, Any, Any]:
    """The per-unit kernels of the compiled engine (``bounded``, ``units_order``,
    ``left_edges``, ``count_unit``), compiled on first call and cached on disk."""

    @numba.njit(cache=True, nogil=True)
    def units_order(units, n_units):  # pragma: no cover - compiled
        # 0: sorted and in [0, n_units); 1: not sorted; 2: sorted, an index out of range.
        # One branch-free pass (it vectorises): ~1 ms for 3.6 M int32 indices.
        if units.size == 0:
            return 0
        bad = False
        for i in range(1, units.size):
            bad |= units[i] < units[i - 1]
        if bad:
            return 1
        if units[0] < 0 or units[units.size - 1] >= n_units:
            return 2
        return 0

    @numba.njit(cache=True, nogil=True)
    def count_unit(times, lo, hi, row, T0, B, M, inv, t_first, t_end, eps):  # pragma: no cover - compiled
        # One pass over the spikes of one unit, ``times[lo:hi]``, that writes each
        # non-empty bin of ``row`` once, with its final count: no read-modify-write per
        # spike, the dtype bound checked once per bin. Returns (code, n_before, n_after):
        # code 0 when done, 1 when a count overflows the dtype (widen and redo the unit:
        # its bins are rewritten, not added to), 2 when its times are not sorted.
        n_bins = row.size
        limit = np.iinfo(row.dtype).max
        hi_eps = 1.0 - eps
        before = 0
        after = 0
        cur = -1
        c = 0
        for i in range(lo, hi):
            t = times[i]
            if t < t_first:
                before += 1
                continue
            if t >= t_end:
                after += 1
                continue
            q = (t - t_first) * inv
            k = int(q)
            f = q - k
            if f < eps or f > hi_eps:  # next to an edge: compare with the exact edges
                k = min(max(k, 0), n_bins - 1)
                while k > 0 and t < (k * B + T0) / M:
                    k -= 1
                while k < n_bins - 1 and t >= ((k + 1) * B + T0) / M:
                    k += 1
            if k == cur:
                c += 1
                continue
            if k < cur:
                return 2, before, after
            if cur >= 0:
                if c > limit:
                    return 1, before, after
                row[cur] = c
            cur = k
            c = 1
        if cur >= 0:
            if c > limit:
                return 1, before, after
            row[cur] = c
        return 0, before, after

    @numba.njit(cache=True, nogil=True)
    def bounded(times, bounds, u_start, T0, B, M, inv, t_first, t_end, eps, out, stats):  # pragma: no cover - compiled
        # Each unit over its own slice, ``times[bounds[u]:bounds[u + 1]]`` (spikes sorted
        # by unit: the unit indices are not read again). ``out`` comes from np.zeros, whose
        # pages the OS zeroes on first touch, the same page-fault work the write floor
        # pays. Returns -1 when done, the unit whose count overflowed the dtype (widen and
        # resume at that unit), or -2 when a unit's times are not sorted (the caller
        # counts with ``kernel`` instead).
        for u in range(u_start, out.shape[0]):
            code, before, after = count_unit(times, bounds[u], bounds[u + 1], out[u], T0, B,
                                             M, inv, t_first, t_end, eps)
            if code == 1:
                return u
            if code == 2:
                return -2
            stats[0] += before
            stats[1] += after
        return -1

    @numba.njit(cache=True, nogil=True)
    def left_edges(T0, B, M, out):  # pragma: no cover - compiled
        # edge k = (k * B + T0) / M, the operations of _edges_from_grid in one pass
        for k in range(out.size):
            out[k] = (k * B + T0) / M

    return bounded, units_order, left_edges, count_unit


_NUMBA_PARALLEL: Any = None


def _numba_parallel_kernel() -> Any:
    """Compile (once, cached on disk) the multi-threaded per-unit kernel; None without
    numba. Separate from :func:`_numba_kernel`: only a caller asking for threads pays
    for compiling it."""
    global _NUMBA_PARALLEL
    if _NUMBA_PARALLEL is not None:
        return _NUMBA_PARALLEL or None
    kernels = _numba_kernel()
    if not isinstance(kernels, tuple) or len(kernels) < 5:
        return None
    import numba

    count_unit = kernels[4]

    @numba.njit(cache=True, nogil=True, parallel=True)
    def bounded_threads(times, bounds, todo, T0, B, M, inv, t_first, t_end, eps, out, status,
                        before, after):  # pragma: no cover - compiled
        # the units of ``todo`` shared between numba's threads; each writes its own row
        for j in numba.prange(todo.size):
            u = todo[j]
            code, b, a = count_unit(times, bounds[u], bounds[u + 1], out[u], T0, B, M, inv,
                                    t_first, t_end, eps)
            status[u] = code
            before[u] = b
            after[u] = a

    _NUMBA_PARALLEL = bounded_threads
    return bounded_threads


def _binning_threads(n_threads: Any) -> int:
    """Threads for the compiled engine: ``n_threads``, else an explicit count in force
    (:func:`spikedecode.thread_limits`, ``$SPIKEDECODE_NUM_THREADS``, ``--threads``),
    else 1; at most numba's own thread count."""
    from spikedecode._threads import _check_n_threads, requested_n_threads

    n = _check_n_threads(n_threads, "n_threads")
    if n is None:
        n = requested_n_threads()
    if n is None or n <= 1:
        return 1
    try:
        import numba
    except ImportError:
        return 1
    return max(1, min(int(n), int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))))


def _count_threads(
    par: Any, times: NDArray, bounds: NDArray, grid: tuple[float, float, float], inv: float,
    t_first: float, t_end: float, eps: float, shape: tuple[int, int], dtype: np.dtype | None,
    n_threads: int,
) -> tuple[NDArray, dict[str, int]] | None:
    """Counts by the multi-threaded kernel; None when a unit's times are not sorted."""
    import numba

    T0, B, M = grid
    n_units = shape[0]
    out = np.zeros(shape, dtype=np.uint8 if dtype is None else dtype)
    status = np.zeros(n_units, dtype=np.int64)
    before = np.zeros(n_units, dtype=np.int64)
    after = np.zeros(n_units, dtype=np.int64)
    todo = np.arange(n_units, dtype=np.int64)
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        while True:
            par(times, bounds, todo, T0, B, M, inv, t_first, t_end, eps, out, status, before,
                after)
            if (status == 2).any():
                return None
            todo = np.flatnonzero(status == 1).astype(np.int64)
            if not todo.size:
                return out, {"n_before": int(before.sum()), "n_after": int(after.sum())}
            # a bin holds more spikes than the dtype: widen and redo those units (their
            # bins are rewritten, not added to)
            out = _widen(out, dtype, int(todo[0]))
            status[:] = 0
    finally:
        numba.set_num_threads(previous)


def _widen(out: NDArray, dtype: np.dtype | None, u: int) -> NDArray:
    """The counts in the next wider unsigned dtype (or raise when the dtype was given)."""
    cur = out.dtype
    if dtype is not None or cur == np.uint64:
        raise SpikeDecodeValueError(
            f"dtype == {cur.name} cannot hold the number of spikes in one bin of unit index "
            f"{u}; pass a wider dtype or dtype=None."
        )
    return out.astype(_UNSIGNED[_UNSIGNED.index(cur.type) + 1])


def _count_numba(
    kernels: Any, times: NDArray, units: NDArray, grid: tuple[float, float, float],
    t_first: float, t_end: float, eps: float, shape: tuple[int, int], bin_size: float,
    dtype: np.dtype | None, n_threads: int = 1,
) -> tuple[NDArray, dict[str, int]]:
    """Counts (n_units, n_bins): unit by unit over each unit's slice of the spikes when
    they are sorted by unit (a valid Recording; checked in one pass over ``units``), on
    ``n_threads`` threads; else by the scatter kernel (not a valid Recording, but counted
    all the same)."""
    if isinstance(kernels, tuple):
        kernel, bounded, units_order = kernels[:3]
    else:  # a replacement (tests): the scatter kernel only
        kernel, bounded, units_order = kernels, None, None
    T0, B, M = grid
    stats = np.zeros(2, dtype=np.int64)
    inv = 1.0 / bin_size
    n_units = shape[0]
    order = 1 if units_order is None else int(units_order(units, n_units))
    if order == 0 and bounded is not None:
        # each unit's slice, found by binary search in the sorted indices
        bounds = np.searchsorted(units, _unit_keys(units, n_units), side="left").astype(
            np.int64)
        par = _numba_parallel_kernel() if n_threads > 1 else None
        if par is not None:
            done = _count_threads(par, times, bounds, grid, inv, t_first, t_end, eps, shape,
                                  dtype, n_threads)
            if done is not None:
                return done
        out = np.zeros(shape, dtype=np.uint8 if dtype is None else dtype)
        u = 0
        while True:
            stop = bounded(times, bounds, u, T0, B, M, inv, t_first, t_end, eps, out, stats)
            if stop == -1:
                return out, {"n_before": int(stats[0]), "n_after": int(stats[1])}
            if stop == -2:
                break
            # a bin holds more spikes than the dtype: widen and redo that unit (its bins
            # are rewritten, not added to)
            out = _widen(out, dtype, int(stop))
            u = int(stop)
    if units.size and (units.min() < 0 or units.max() >= n_units):
        raise SchemaError(f"spike_unit holds indices in [{units.min()}, {units.max()}] but "
                          f"there are {n_units} units.")
    stats[:] = 0
    out = np.zeros(shape, dtype=np.uint8 if dtype is None else dtype)
    start = 0
    while True:
        stop = kernel(times, units, start, T0, B, M, inv, t_first, t_end, eps, out, stats)
        if stop < 0:
            break
        out = _widen(out, dtype, int(units[stop]))
        start = stop
    return out, {"n_before": int(stats[0]), "n_after": int(stats[1])}


def _count_values(
    rec: xr.Dataset,
    bin_size: float,
    t0: float,
    n_bins: int,
    dtype: np.dtype | None,
    chunk: int = _CHUNK,
    engine: str = "auto",
    n_threads: int = 1,
) -> tuple[NDArray, dict[str, int]]:
    """Counts as a ``(n_bins, n_units)`` array (a transposed view of unit-major memory)."""
    times = np.asarray(rec["spike_time"].values)
    if times.dtype != np.float64:
        times = times.astype(np.float64)
    units = np.asarray(rec["spike_unit"].values)
    n_units = int(rec.sizes["unit"])
    grid = _grid(t0, bin_size, n_bins)
    t_first, t_end = (float(v) for v in _edges_from_grid(np.array([0.0, n_bins]), grid))
    # bound on the float error of the estimated index, in bins, with a wide margin
    eps = (n_bins + abs(t0) / bin_size + 2.0) * 2.0**-46
    if eps > 0.01:  # huge times for the bin size: check every spike exactly
        eps = 0.5
    kernel = _numba_kernel() if engine in ("auto", "numba") else None
    if engine == "numba" and kernel is None:
        raise ImportError("engine='numba' needs numba; run: pip install numba")
    if kernel is not None:
        try:
            out, stats = _count_numba(kernel, times, units, grid, t_first, t_end, eps,
                                      (n_units, n_bins), bin_size, dtype, n_threads)
            return out.T, stats
        except SpikeDecodeValueError:
            raise
        except Exception:  # a numba that cannot compile here: fall back to numpy
            if engine == "numba":
                raise
            global _NUMBA_KERNEL
            _NUMBA_KERNEL = False
    if units.size and (units.min() < 0 or units.max() >= n_units):
        raise SchemaError(
            f"spike_unit holds indices in [{units.min()}, {units.max()}] but there are "
            f"{n_units} units."
        )
    out = np.zeros((n_units, n_bins), dtype=np.uint8 if dtype is None else dtype)

    bounds = _unit_bounds(units, n_units)
    limit = int(np.iinfo(out.dtype).max)
    n_before = n_after = 0
    for u in range(n_units):
        ts = times[bounds[u] : bounds[u + 1]]
        if ts.size == 0:
            continue
        if ts.size > 1 and np.any(ts[1:] < ts[:-1]):
            ts = np.sort(ts)  # robust to an unsorted unit; a valid Recording never has one
        a = int(np.searchsorted(ts, t_first, side="left"))
        b = int(np.searchsorted(ts, t_end, side="left"))
        n_before += a
        n_after += ts.size - b
        row = out[u]
        carry_key, carry_count = -1, 0
        for i in range(a, b, chunk):
            k = _bin_chunk(ts[i : min(i + chunk, b)], grid, eps)
            # k is sorted. Write 1 at every spike's bin, then add the repeats: spikes
            # sharing a bin are rare at millisecond bins, so this beats run-length coding
            dup = np.flatnonzero(k[1:] == k[:-1]) + 1
            first = int(k[0])
            n_first = int(np.searchsorted(k, first, side="right"))
            total_first = n_first + (carry_count if first == carry_key else 0)
            mx = total_first
            if dup.size:
                rep = k[dup]
                # longest run of one key among the repeats, + 1 for its first spike
                brk = np.flatnonzero(rep[1:] != rep[:-1])
                runs = np.diff(np.concatenate(([-1], brk, [rep.size - 1])))
                mx = max(mx, int(runs.max()) + 1)
            while mx > limit:
                out = _widen(out, dtype, u)
                limit = int(np.iinfo(out.dtype).max)
                row = out[u]
            row[k] = 1
            if dup.size:
                np.add.at(row, k[dup], 1)
            if first == carry_key:  # a bin split across two chunks
                row[first] = total_first
            last = int(k[-1])
            carry_key = last
            carry_count = (
                total_first if last == first
                else k.size - int(np.searchsorted(k, last, side="left"))
            )
    stats = {"n_before": n_before, "n_after": n_after}
    return out.T, stats


def bin_spikes(
    rec: xr.Dataset,
    bin_size: float = 0.005,
    *,
    t_start: float | None = None,
    t_stop: float | None = None,
    dtype: DTypeLike | None = None,
    engine: str = "auto",
    n_threads: int | str | None = None,
) -> xr.DataArray:
    """Count the spikes of every unit in bins of ``bin_size`` seconds.

    Parameters
    ----------
    rec : xarray.Dataset
        A Recording (see :func:`spikedecode.make_recording`).
    bin_size : float, default=0.005
        Bin width in seconds.
    t_start, t_stop : float, optional
        Interval to bin, ``[t_start, t_stop)``; default the recording's. It holds
        ``n_bins_for(t_start, t_stop, bin_size)`` whole bins; a last, partial bin is not
        made (its spikes are counted in ``attrs['n_spikes_dropped']``).
    dtype : integer dtype, optional
        Dtype of the counts. Default: the smallest unsigned dtype that holds the largest
        count (usually ``uint8``). Cast before summing many bins to avoid overflow.
    engine : {"auto", "numba", "numpy"}, default="auto"
        ``"numba"``: one compiled pass over the spikes (numba, optional dependency);
        ``"numpy"``: vectorised, unit by unit in cache-sized chunks. ``"auto"`` uses numba
        when it is installed. Both give identical counts.
    n_threads : int, "auto" or None, default=None
        Threads of the numba engine, which shares the units between them (the numpy
        engine uses one). ``None``/``"auto"``: the count set by
        :func:`spikedecode.thread_limits`, ``$SPIKEDECODE_NUM_THREADS`` or the CLI's
        ``--threads``, else one. Binning is bound by memory bandwidth and the OS's
        zeroing of new pages: a second thread helps on an idle machine and takes a core
        from other processes on a busy one, so it is never taken by default.

    Returns
    -------
    xarray.DataArray
        Dims ``(time, unit)``, integer counts; coord ``time`` = left bin edges (float64),
        coord ``unit``; attrs ``bin_size``, ``t_start``, ``t_stop`` (the right edge of
        the last bin), ``n_bins``, ``n_spikes_binned``, ``n_spikes_dropped``, ``day``,
        ``session``. The values are a transposed view of unit-major memory
        (Fortran order); ``np.ascontiguousarray`` gives a C-ordered copy.

    Raises
    ------
    SpikeDecodeTypeError
        ``rec`` is not a Dataset, or ``bin_size`` not a number.
    SpikeDecodeValueError
        ``bin_size <= 0``, ``t_stop <= t_start``, fewer than one bin, a ``dtype`` too
        narrow for the counts, or counts that would not fit in the memory available
        (checked before allocating; the message says which ``t_start``/``t_stop`` or
        spike made the interval that long).
    SchemaError
        ``rec`` lacks Recording fields or its spikes are not sorted by unit.
    ConfigError
        ``n_threads`` is not an integer >= 1, ``"auto"`` or None.

    Warns
    -----
    DataDroppedWarning
        When spikes lie outside the binned interval, except those in the trailing partial
        bin when ``t_stop`` is the recording's own (documented; counted in attrs).

    See Also
    --------
    bin_sessions : lazy binning of many sessions with dask.
    elephant.conversion.BinnedSpikeTrain : the reference semantics.

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> rec = make_recording([0.0, 0.004, 0.005, 0.012], [0, 0, 0, 1], units=["a", "b"],
    ...                      t_stop=0.02)
    >>> b = bin_spikes(rec, 0.005)
    >>> b.dims, b.dtype.name, b.sizes["time"]
    (('time', 'unit'), 'uint8', 4)
    >>> b.sel(unit="a").values.tolist(), b.sel(unit="b").values.tolist()
    ([2, 1, 0, 0], [0, 0, 1, 0])
    """
    bin_size, t0, t1, n_bins = _check_bin_params(rec, bin_size, t_start, t_stop)
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError as err:
            raise SpikeDecodeTypeError(f"dtype == {dtype!r} is not a numpy dtype.") from err
        if dtype.kind not in "iu":
            raise SpikeDecodeTypeError(
                f"dtype == {dtype.name}, must be an integer dtype (counts are integers)."
            )
    check_param(engine, "engine", Options(*_ENGINES))
    threads = _binning_threads(n_threads)
    _check_output_size(rec, n_bins, 1 if dtype is None else dtype.itemsize, t0, t1, bin_size,
                       t_start, t_stop)
    values, stats = _count_values(rec, bin_size, t0, n_bins, dtype, engine=engine,
                                  n_threads=threads)
    t_end = float(_edges_from_grid(np.array([float(n_bins)]), _grid(t0, bin_size, n_bins))[0])
    n_total = int(rec.sizes["spike"])
    n_dropped = stats["n_before"] + stats["n_after"]
    # spikes in [t_end, t1) fall in the partial last bin; past t1 they are outside the
    # requested interval. Only the latter (and anything before t0) is warned about when
    # t_stop is the recording's own.
    if n_dropped:
        times = np.asarray(rec["spike_time"].values)
        n_outside = int(np.count_nonzero((times < t0) | (times >= t1)))
        n_tail = n_dropped - n_outside
        if n_outside or (n_tail and t_stop is not None):
            warnings.warn(
                f"Binning dropped {n_dropped} spike(s) outside the binned interval "
                f"[{t0}, {t_end}) ({n_outside} outside [t_start, t_stop) = [{t0}, {t1}), "
                f"{n_tail} in the partial last bin); widen t_start/t_stop to keep them.",
                DataDroppedWarning,
                stacklevel=2,
            )
    attrs = {
        "bin_size": bin_size,
        "t_start": t0,
        "t_stop": t_end,
        "n_bins": int(n_bins),
        "n_spikes_binned": n_total - n_dropped,
        "n_spikes_dropped": int(n_dropped),
        "day": rec.attrs.get("day", 0),
        "session": str(rec.attrs.get("session", "")),
    }
    if isinstance(attrs["day"], np.integer):
        attrs["day"] = int(attrs["day"])
    return xr.DataArray(
        values,
        dims=("time", "unit"),
        coords=_binned_coords(_left_edges(t0, bin_size, n_bins), rec["unit"].values),
        attrs=attrs,
        name="spike_count",
    )


def _bin_values(
    rec: xr.Dataset, bin_size: float, t_start: Any, t_stop: Any, dtype: Any
) -> NDArray:
    return bin_spikes(rec, bin_size, t_start=t_start, t_stop=t_stop, dtype=dtype).values


def bin_sessions(
    recs: Mapping[Any, xr.Dataset] | Iterable[xr.Dataset],
    bin_size: float = 0.005,
    *,
    t_start: float | None = None,
    t_stop: float | None = None,
    dtype: DTypeLike = np.uint16,
) -> dict[Any, xr.DataArray]:
    """Bin many sessions lazily: one ``dask.delayed`` task per session.

    Parameters
    ----------
    recs : mapping day -> Recording, or iterable of Recordings
        An iterable is keyed by each Recording's ``attrs['day']``.
    bin_size, t_start, t_stop
        As in :func:`bin_spikes`, applied to every session.
    dtype : integer dtype, default=numpy.uint16
        Dtype of the counts; it must be known before computing (a lazy array needs it).
        A count that does not fit raises at compute time.

    Returns
    -------
    dict
        day -> dask-backed Binned DataArray (coords and attrs are eager; counts are
        computed on ``.compute()``/``.values``, on the active dask scheduler).

    Examples
    --------
    >>> from spikedecode import make_recording
    >>> recs = {d: make_recording([0.001 * (d + 1)], [0], units=["a"], t_stop=0.01, day=d)
    ...         for d in range(2)}
    >>> lazy = bin_sessions(recs, 0.005)
    >>> type(lazy[0].data).__name__
    'Array'
    >>> int(lazy[1].sum().compute())
    1
    """
    from spikedecode._optional import attempt_import
    from spikedecode.recording import _iter_days

    dask = attempt_import("dask", "to bin many sessions lazily (bin_sessions)")
    da = attempt_import("dask.array", "to bin many sessions lazily (bin_sessions)")
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise SpikeDecodeTypeError(f"dtype == {dtype.name}, must be an integer dtype.")
    out: dict[Any, xr.DataArray] = {}
    for day, rec in _iter_days(recs).items():
        bs, t0, t1, n_bins = _check_bin_params(rec, bin_size, t_start, t_stop)
        _check_output_size(rec, n_bins, dtype.itemsize, t0, t1, bs, t_start, t_stop)
        task = dask.delayed(_bin_values, pure=True)(rec, bs, t_start, t_stop, dtype)
        n_units = int(rec.sizes["unit"])
        arr = da.from_delayed(task, shape=(n_bins, n_units), dtype=dtype)
        edges = bin_edges(t0, bs, n_bins)
        d = rec.attrs.get("day", day)
        out[day] = xr.DataArray(
            arr,
            dims=("time", "unit"),
            coords={"time": ("time", edges[:-1], {"units": "s"}), "unit": rec["unit"].values},
            attrs={
                "bin_size": bs,
                "t_start": t0,
                "t_stop": float(edges[-1]),
                "n_bins": int(n_bins),
                "day": int(d) if isinstance(d, np.integer) else d,
                "session": str(rec.attrs.get("session", "")),
            },
            name="spike_count",
        )
    return out
