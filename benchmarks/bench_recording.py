"""Benchmark: ``make_recording`` on 1,000 units x 1 h x 20 Hz (72 M spikes) and a tenth of it.

Two input orders, as readers hand them over:

* ``by_unit``: spikes already sorted by unit, then time (NWB units tables, npz/netCDF
  written by spikedecode, ``from_spiketrains``): nothing needs sorting;
* ``by_time``: all units interleaved in time order (a spike sorter's flat export):
  the units need a stable sort, the times within each unit are then in order;
* ``shuffled`` (``--shuffled``): rows in random order; every unit's times need sorting.

Unit indices are integers into ``units=`` (what every reader passes). Prints, per size
and order, the CPU time (``process_time``: the machine may be shared, so wall time is
printed too but CPU time is the number to compare), spikes per CPU second (linear in the
number of spikes when that stays flat across sizes), and the peak of new allocations
(``tracemalloc``, a separate run) against the size of the input.

Run: ``python benchmarks/bench_recording.py [--sizes 7.2e6 72e6] [--shuffled] [--out out]``
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np

from spikedecode.recording import make_recording

N_UNITS = 1000


def spikes(n: int, order: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """``n`` spikes of ``N_UNITS`` Poisson-like units over ``n / (N_UNITS * 20)`` hours."""
    rng = np.random.default_rng(seed)
    duration = n / (N_UNITS * 20.0)
    per_unit = np.full(N_UNITS, n // N_UNITS)
    per_unit[: n - per_unit.sum()] += 1
    unit = np.repeat(np.arange(N_UNITS, dtype=np.int64), per_unit)
    t = rng.uniform(0.0, duration, size=n)
    bounds = np.concatenate(([0], np.cumsum(per_unit)))
    for u in range(N_UNITS):  # sorted within each unit: the by_unit layout
        t[bounds[u] : bounds[u + 1]].sort()
    if order == "by_time":
        perm = np.argsort(t, kind="stable")
        t, unit = t[perm], unit[perm]
    elif order == "shuffled":
        perm = rng.permutation(n)
        t, unit = t[perm], unit[perm]
    return t, unit, float(np.nextafter(duration, np.inf))


def run_once(t: np.ndarray, unit: np.ndarray, t_stop: float, ids: list[str]) -> tuple[float, float]:
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    rec = make_recording(t, unit, units=ids, t_stop=t_stop)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    assert rec.sizes["spike"] == t.size
    return cpu, wall


def peak_bytes(t: np.ndarray, unit: np.ndarray, t_stop: float, ids: list[str]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        rec = make_recording(t, unit, units=ids, t_stop=t_stop)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del rec
    return int(peak)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[7.2e6, 72e6])
    ap.add_argument("--shuffled", action="store_true", help="also time randomly ordered rows")
    ap.add_argument("--no-peak", action="store_true", help="skip the tracemalloc run")
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    orders = ["by_unit", "by_time"] + (["shuffled"] if args.shuffled else [])
    ids = [f"u{i:04d}" for i in range(N_UNITS)]
    make_recording([0.1], [0], units=["a"], t_stop=1.0)  # one-time costs: imports, schema
    rows = []
    print(f"make_recording, {N_UNITS} units, 20 Hz; CPU time is the number to compare")
    print(f"{'spikes':>12} {'order':>9} {'cpu s':>8} {'wall s':>8} {'M spikes/cpu s':>15} "
          f"{'peak / input':>13}")
    for size in args.sizes:
        n = int(size)
        for order in orders:
            t, unit, t_stop = spikes(n, order)
            cpu, wall = run_once(t, unit, t_stop, ids)
            input_bytes = t.nbytes + unit.nbytes
            peak = None if args.no_peak else peak_bytes(t, unit, t_stop, ids)
            ratio = "" if peak is None else f"{peak / input_bytes:.2f}"
            print(f"{n:>12,} {order:>9} {cpu:>8.2f} {wall:>8.2f} {n / cpu / 1e6:>15.2f} "
                  f"{ratio:>13}", flush=True)
            rows.append({"n_spikes": n, "order": order, "cpu_s": cpu, "wall_s": wall,
                         "peak_bytes": peak, "input_bytes": input_bytes})
            del t, unit
            gc.collect()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_recording.json").write_text(json.dumps(
        {"machine": platform.platform(), "numpy": np.__version__, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
