"""Benchmark: cost of adding one day to each aligner, at 3, 12 and 24 days.

A lab adds a day at a time, so ``adapt`` must cost the same whatever the number of days
already fitted. For every aligner the 24 simulated days are added one by one (the first
is the reference) and every ``adapt`` call is timed (best of ``--repeats`` on a deep copy
for the closed-form aligners; one timed call for the adversarial ones, whose epochs are
fixed here: ``early_stopping=False``). Printed per aligner: adapt time of the 3rd, 12th
and 24th day and the ratio 24th / 3rd (target <= 1.5: no growth with the number of days).

Side by side with the peer in the same run: :func:`spikedecode.align.cca.cca_map` against
``sklearn.cross_decomposition.CCA`` on the same matched averages (time and agreement of
the first canonical correlation).

Writes ``out/bench_alignment.json`` (and ``out/bench_alignment.png``).

Run: ``python benchmarks/bench_alignment.py [--repeats 3] [--out out] [--days 24]``
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

from spikedecode.align import AlignmentWarning, get_aligner
from spikedecode.align.base import matched_averages
from spikedecode.align.cca import cca_map
from spikedecode.align.pca import day_pca
from spikedecode.datasets import simulate_touch_experiment
from spikedecode.evaluation import condition_keys
from spikedecode.preprocess import epoch_bins

TARGET_GROWTH = 1.5
CHECKPOINTS = (3, 12, 24)


def _X(w):
    """Counts (sample, unit) of one day's epoch_bins Windows."""
    return w.values[:, 0, :]


def _keys(w, uses_time: bool = True):
    """Condition keys of one day, as the evaluation builds them."""
    return condition_keys(w["label"].values, w["t_rel"].values if uses_time else None)


def time_adapts(name: str, days: dict, repeats: int, k: int) -> dict:
    kw = dict(n_components=k, random_state=0)
    if name.startswith("adversarial"):
        kw.update(max_epochs=20, ref_epochs=20, early_stopping=False)
    al = get_aligner(name, **kw)
    keys = {d: _keys(v, al.uses_time) for d, v in days.items()}
    order = list(days)
    t0 = time.perf_counter()
    al.fit({order[0]: _X(days[order[0]])}, {order[0]: keys[order[0]]} if al.uses_labels else None)
    t_ref = time.perf_counter() - t0
    per_day = []
    for d in order[1:]:
        y = keys[d] if al.uses_labels else None
        reps = 1 if name.startswith("adversarial") else repeats
        best = np.inf
        for r in range(reps):
            target = al if r == reps - 1 else copy.deepcopy(al)
            t = time.perf_counter()
            target.adapt(_X(days[d]), y, day=d)
            best = min(best, time.perf_counter() - t)
        per_day.append(best)
    out = {"reference_fit_s": t_ref, "adapt_s": per_day}
    for n in CHECKPOINTS:
        if n <= len(order):
            out[f"adapt_day{n}_s"] = per_day[n - 2]
    n_last = min(CHECKPOINTS[-1], len(order))
    out["growth_last_over_3"] = per_day[n_last - 2] / per_day[3 - 2]
    # robust growth estimate: median of the last 4 adapts over the median of the first 4
    out["growth_median"] = float(np.median(per_day[-4:]) / np.median(per_day[:4]))
    if name.startswith("adversarial"):
        out["epochs"] = [al.day_stats_[d]["epochs"] for d in order[1:]]
    return out


def peer_cca(days: dict, k: int, repeats: int) -> dict:
    from sklearn.cross_decomposition import CCA

    X0, X1 = _X(days[0]), _X(days[1])
    L0 = (lambda p: ((X0 - p["mean"]) / p["scale"]) @ p["components"].T)(day_pca(X0, k))
    L1 = (lambda p: ((X1 - p["mean"]) / p["scale"]) @ p["components"].T)(day_pca(X1, k))
    A, B, _ = matched_averages(L0, _keys(days[0]), L1, _keys(days[1]))
    A, B = A - A.mean(0), B - B.mean(0)
    ours, peer = np.inf, np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        _, corr = cca_map(A, B, reg=1e-9)
        ours = min(ours, time.perf_counter() - t)
        t = time.perf_counter()
        cca = CCA(n_components=1, max_iter=2000).fit(B, A)
        peer = min(peer, time.perf_counter() - t)
    u, v = cca.transform(B, A)
    peer_corr = abs(float(np.corrcoef(u[:, 0], v[:, 0])[0, 1]))
    return {"ours_s": ours, "sklearn_CCA_s": peer, "speedup_vs_sklearn": peer / ours,
            "first_corr_ours": float(corr[0]), "first_corr_sklearn": peer_corr,
            "n_matched": int(A.shape[0])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--days", type=int, default=24)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--out", default="out")
    ap.add_argument("--aligners", default="pca,cca,procrustes,fa,adversarial-cond,adversarial")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    exp = simulate_touch_experiment(n_days=args.days, n_repeats=2, n_strokes=8, n_puffs=10,
                                    random_state=0)
    days = {d: epoch_bins(r, bin_size=0.1, t_window=(0.0, 0.5)) for d, r in exp.items()}
    print(f"simulated {args.days} days in {time.perf_counter() - t0:.1f} s; samples/day "
          f"{days[0].sizes['sample']}, units/day {min(v.sizes['unit'] for v in days.values())}-"
          f"{max(v.sizes['unit'] for v in days.values())}")
    res: dict = {"machine": platform.platform(), "n_days": args.days, "k": args.k,
                 "target_growth": TARGET_GROWTH, "aligners": {}}
    print(f"{'aligner':>17} {'ref fit':>8} " + " ".join(f"{'day' + str(n):>8}" for n in
                                                          CHECKPOINTS)
          + f" {'24/3':>6} {'median':>7}  (adapt seconds; target growth <= {TARGET_GROWTH})")
    for name in args.aligners.split(","):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AlignmentWarning)
            r = time_adapts(name, days, args.repeats, args.k)
        res["aligners"][name] = r
        cells = " ".join(f"{r.get(f'adapt_day{n}_s', float('nan')):8.4f}" for n in CHECKPOINTS)
        ok = "ok" if r["growth_median"] <= TARGET_GROWTH else "GROWS"
        print(f"{name:>17} {r['reference_fit_s']:8.3f} {cells} {r['growth_last_over_3']:6.2f} "
              f"{r['growth_median']:7.2f}  {ok}", flush=True)
    peer = peer_cca(days, args.k, max(args.repeats, 5))
    res["peer_cca"] = peer
    print(f"peer: cca_map {peer['ours_s'] * 1e3:.2f} ms vs sklearn CCA "
          f"{peer['sklearn_CCA_s'] * 1e3:.2f} ms on {peer['n_matched']} matched averages "
          f"(speedup {peer['speedup_vs_sklearn']:.1f}x); first canonical correlation "
          f"{peer['first_corr_ours']:.4f} vs {peer['first_corr_sklearn']:.4f}")
    (out / "bench_alignment.json").write_text(json.dumps(res, indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name, r in res["aligners"].items():
            ax.semilogy(np.arange(2, len(r["adapt_s"]) + 2), r["adapt_s"], "o-", ms=3,
                        label=name)
        ax.set_xlabel("day added (number of days after adapt)")
        ax.set_ylabel("adapt time (s)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "bench_alignment.png", dpi=110)
    except ImportError:  # pragma: no cover
        pass
    print(f"wrote {out / 'bench_alignment.json'} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
