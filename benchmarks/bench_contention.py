"""The README decode command alone and beside a CPU-bound process (issue 23).

Labs run spikedecode on shared machines. This benchmark starts its own busy process (one
Python loop, the "neighbour": one CPU-bound process per ``--busy``), runs the README
command

    spikedecode decode sub-4_ses-4_ecephys+image.nwb --decoder logistic,lstm --bin 5ms --window 5 --json

once alone and once beside the neighbour, prints both wall times, the user CPU time
and the ratio (goal: beside <= 1.5x alone), and stops the process it started. The load
average before and after each run is printed too: on a machine that others also use,
say so next to the numbers.

``--quick`` runs a smaller but representative workload: the same file, decoders and
windows with ``--max-epochs 3 --n-boot 200`` (the LSTM's epochs are the work that
threads share; the command is otherwise unchanged). ``--legacy`` reproduces the old
default for comparison: every core for torch and BLAS (``--threads`` = the core count)
with spinning OpenMP threads (``OMP_WAIT_POLICY=ACTIVE``). ``--threads 1`` runs both with
``SPIKEDECODE_NUM_THREADS=1``: one core, the folds in one process (the default before
cross-validation folds ran in parallel worker processes), for a side-by-side baseline.
User CPU time includes the fold workers' (children of the command, reaped at its exit).

``--spin`` instead checks the import-time wait policy (``import spikedecode`` sets
``OMP_WAIT_POLICY=PASSIVE`` unless set): a two-thread torch loop (five 512 x 512 matmuls,
then 20 ms idle, 100 times) in three fresh interpreters, spikedecode imported before torch
(the library default), after torch (too late: libgomp's default spin), and with
``OMP_WAIT_POLICY=ACTIVE``, printing the CPU seconds each used. A print, not a timed test.

Run: ``python benchmarks/bench_contention.py [--quick] [--legacy] [--spin] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NWB = REPO.parent / "shared" / "data" / "nwb" / "sub-4_ses-4_ecephys+image.nwb"
CLI = "import sys; from spikedecode.cli import main; sys.exit(main())"


def _busy_loop() -> subprocess.Popen:
    """One CPU-bound neighbour process (a pure-Python loop), started by us."""
    return subprocess.Popen([sys.executable, "-c", "while True:\n    pass"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _run_decode(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of one CLI run (a child process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CLI, *args], env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"the decode command failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime,
            "sys_s": after.ru_stime - before.ru_stime, "load_before": load0,
            "load_after": os.getloadavg()[0]}


SPIN_PROBE = """
import json, os, sys, time
{first}
import torch
{then}
torch.set_num_threads(2)
a = torch.randn(512, 512)
t0, c0, busy = time.perf_counter(), time.process_time(), 0.0
for _ in range(100):
    b0 = time.perf_counter()
    for _ in range(5):
        a @ a
    busy += time.perf_counter() - b0
    time.sleep(0.02)
print(json.dumps({{"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "compute_s": busy, "policy": os.environ.get("OMP_WAIT_POLICY")}}))
"""


def spin_check(env: dict[str, str]) -> dict[str, dict[str, float]]:
    """CPU time of a two-thread torch loop with idle gaps, under three wait policies."""
    cases = {
        "spikedecode imported first (default)": ("import spikedecode", "", {}),
        "torch imported first (too late)": ("", "import spikedecode", {}),
        "OMP_WAIT_POLICY=ACTIVE (spinning)": ("import spikedecode", "",
                                              {"OMP_WAIT_POLICY": "ACTIVE"}),
    }
    out = {}
    print(f"two-thread torch loop, 100 x (5 matmuls + 20 ms idle); load "
          f"{os.getloadavg()[0]:.1f}")
    for name, (first, then, extra) in cases.items():
        code = SPIN_PROBE.format(first=first, then=then)
        proc = subprocess.run([sys.executable, "-c", code], env={**env, **extra},
                              capture_output=True, text=True, check=True)
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = out[name]
        print(f"  {name:40s} {r['cpu_s']:5.2f} s CPU, {r['wall_s']:5.2f} s wall "
              f"(OMP_WAIT_POLICY={r['policy']})", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", type=Path, default=NWB)
    ap.add_argument("--quick", action="store_true",
                    help="--max-epochs 3 --n-boot 200 (same file, decoders and windows).")
    ap.add_argument("--legacy", action="store_true",
                    help="The old default: torch/BLAS on every core, spinning OpenMP threads.")
    ap.add_argument("--busy", type=int, default=1, help="CPU-bound neighbour processes.")
    ap.add_argument("--threads", default=None,
                    help="SPIKEDECODE_NUM_THREADS for both runs (default: unset, the "
                         "automatic choice; 1 = one core, folds in one process, as before "
                         "the parallel folds)")
    ap.add_argument("--spin", action="store_true",
                    help="Only check the import-time wait policy (a torch loop's CPU time).")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not args.spin and not args.file.exists():
        raise SystemExit(f"{args.file} is absent (see ../shared/data/README.md)")

    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "MPLBACKEND": "Agg"}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "OMP_WAIT_POLICY", "SPIKEDECODE_NUM_THREADS"):
        env.pop(var, None)  # the defaults a new user gets
    if args.spin:
        spin = spin_check(env)
        if args.json:
            args.json.write_text(json.dumps(spin, indent=2))
        return {"spin": spin}
    if args.threads is not None:
        env["SPIKEDECODE_NUM_THREADS"] = str(args.threads)
    if args.legacy:
        env["OMP_WAIT_POLICY"] = "ACTIVE"
        env["SPIKEDECODE_NUM_THREADS"] = str(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["decode", str(args.file), "--decoder", "logistic,lstm", "--bin", "5ms",
               "--window", "5", "--json", "--out", tmp]
        if args.quick:
            cmd += ["--max-epochs", "3", "--n-boot", "200"]
        print("command: spikedecode " + " ".join(cmd[1:]).replace(str(args.file), args.file.name))
        setting = ("legacy (every core, spinning)" if args.legacy else
                   f"SPIKEDECODE_NUM_THREADS={args.threads}" if args.threads is not None
                   else "library default")
        print(f"cores: {os.cpu_count()}, settings: {setting}")
        alone = _run_decode(cmd, env)
        print(f"alone:   {alone['wall_s']:7.1f} s wall, {alone['user_s']:7.1f} s user CPU "
              f"(load {alone['load_before']:.1f} -> {alone['load_after']:.1f})", flush=True)
        busy = [_busy_loop() for _ in range(args.busy)]
        try:
            time.sleep(1.0)
            beside = _run_decode(cmd, env)
        finally:
            for p in busy:  # stop exactly the processes this benchmark started
                p.terminate()
                p.wait(timeout=10)
        print(f"beside {args.busy} busy process(es): {beside['wall_s']:7.1f} s wall, "
              f"{beside['user_s']:7.1f} s user CPU "
              f"(load {beside['load_before']:.1f} -> {beside['load_after']:.1f})")
    ratio = beside["wall_s"] / alone["wall_s"]
    print(f"ratio beside / alone: {ratio:.2f}x (goal <= 1.5x)")
    out: dict[str, object] = {"command": cmd[:-2] + ["--out", "<tmp>"], "quick": args.quick,
                              "threads": args.threads,
                              "legacy": args.legacy, "busy": args.busy, "alone": alone,
                              "beside": beside, "ratio": ratio}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
