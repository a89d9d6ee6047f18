"""Real recordings for tutorial 02: aligners on Steinmetz et al. (2019) sessions.

:func:`real_recordings_section` reads the shared Steinmetz sessions of one mouse (no
neuron is shared between sessions: the probe is inserted fresh every day), turns each
session's trials x neurons x bins counts into Windows with
:func:`spikedecode.preprocess.from_counts` (through
:func:`spikedecode.datasets.read_steinmetz_npz`), and runs
:func:`spikedecode.evaluation.cross_day_matrix` with several aligners under the honest
protocol (each test session is adapted on half of its trials and scored on the other
half), with the reporting protocol of ``benchmarks/bench_alignment_real.py``: ONE fixed
ceiling per session (its raw-unit, whole-window within-session accuracy from
:func:`spikedecode.evaluation.within_day_scores`, the same for every row), every figure
the mean ± sd over split seeds (``random_state`` of ``cross_day_matrix``: the halves and
folds), the share of the fixed ceiling first and the share of the row's own diagonal
second. It writes the table (per-seed values included) to ``out_dir/real_alignment.json``.

When the shared data are absent (``$SPIKEDECODE_SHARED_DATA/steinmetz``, default
``../shared/data``), it prints why and returns ``None``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

_TIME: dict[str, Any] = {"n_components": 10, "n_lags": 20, "pca_on": "averages",
                         "soft_norm": 1.0}

#: row -> (parameters, bins pooled per lag, Gaussian smoothing sd in s); the registered
#: aligner is the row name up to "+"
_ALIGNERS: dict[str, tuple[dict[str, Any], int | None, float | None]] = {
    "cca": ({"n_components": 10}, None, None),
    # time-resolved: counts smoothed by a 30 ms Gaussian, 20 lags of 20 ms per trial, PCA
    # of each day's condition-and-lag averages, CCA on the 2 x 20 matched averages
    "cca+time": (_TIME, 2, 0.03),
    # label-free: the same layout, a rotation matched on the lag averages of all trials
    "procrustes+time-free": ({**_TIME, "match": "time"}, 2, 0.03),
    # the conditional adversarial aligner refining the time-resolved CCA (full mode only)
    "adversarial-cond+time": ({**_TIME, "random_state": 0}, 2, 0.03),
}


def _data_root() -> Path:
    env = os.environ.get("SPIKEDECODE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _mean_sd(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values, float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def real_recordings_section(out_dir: str | os.PathLike[str], quick: bool = False
                            ) -> dict[str, Any] | None:
    """Run the aligners on one mouse's real sessions; print and save the table.

    Parameters
    ----------
    out_dir : path-like
        Where ``real_alignment.json`` is written.
    quick : bool, default=False
        Two sessions instead of three (one ordered pair each way) and one split seed
        instead of five; the adversarial row is skipped.

    Returns
    -------
    dict or None
        aligner -> ``{"acc", "acc_sd", "majority", "ceiling", "share", "share_sd",
        "own_share", "seeds", "per_seed": {"acc", "share", "own_share"}, "seconds"}``
        (means over the seeds; ``ceiling`` is the fixed ceiling, the same for every row),
        plus ``"ceilings"``: session -> fixed ceiling. None when the shared data are absent.
    """
    from spikedecode.align import get_aligner
    from spikedecode.datasets import read_steinmetz_npz
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import cross_day_matrix, prepare_days, within_day_scores

    root = _data_root() / "steinmetz"
    files = sorted(root.glob("session*.npz"))
    if not files:
        print(f"Real recordings: skipped, no Steinmetz sessions under {root} "
              "(set SPIKEDECODE_SHARED_DATA to the shared data folder).")
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print("Real recordings: mouse Cori, target contrast_left > contrast_right "
          "(trials where the two differ), honest held-out protocol")
    seeds = [0] if quick else [0, 1, 2, 3, 4]
    results: dict[str, Any] = {}
    cache: dict[Any, dict[str, Any]] = {}

    def sessions(pool: int | None, smooth: float | None) -> dict[str, Any]:
        if (pool, smooth) not in cache:
            days = {}
            for f in files:
                w = read_steinmetz_npz(f, drop_equal=True, pool=pool, smooth=smooth)
                if w.attrs.get("mouse_name") == "Cori":
                    days[f.stem] = w
            cache[pool, smooth] = dict(list(days.items())[: 2 if quick else 3])
        return cache[pool, smooth]

    # ONE ceiling per session: raw units, whole window, within-session grouped 5-fold CV
    ceilings = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d, v in prepare_days(sessions(None, None), shared_units=False).items():
            ceilings[d] = float(np.mean([within_day_scores(
                make_decoder("logistic"), v["X"], v["y"], v["groups"], n_boot=20,
                random_state=s)["accuracy"] for s in seeds]))
    print("fixed ceiling per session (raw units, whole window): "
          + ", ".join(f"{d} {c:.3f}" for d, c in ceilings.items()))
    for name, (kw, pool, smooth) in _ALIGNERS.items():
        if quick and name.startswith("adversarial"):
            print(f"{name}: full mode only (about a minute per session pair on 2 cores)")
            continue
        row_seeds = seeds[:1] if name.startswith("adversarial") else seeds
        days = sessions(pool, smooth)
        names = list(days)
        off = ~np.eye(len(names), dtype=bool)
        ceiling = float(np.array([[ceilings[j] for j in names] for _ in names])[off].mean())
        t = time.perf_counter()
        per_seed: dict[str, list[float]] = {"acc": [], "share": [], "own_share": []}
        for seed in row_seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = cross_day_matrix(days, make_decoder("logistic"),
                                     aligner=get_aligner(name.split("+")[0], **kw),
                                     random_state=seed)
            v = m.values
            majority = float(np.broadcast_to(m["majority"].values[None, :], v.shape)[off].mean())
            acc, own = float(v[off].mean()), float(np.diag(v).mean())
            per_seed["acc"].append(acc)
            per_seed["share"].append((acc - majority) / (ceiling - majority))
            per_seed["own_share"].append((acc - majority) / (own - majority))
        (acc, acc_sd), (share, share_sd) = _mean_sd(per_seed["acc"]), _mean_sd(per_seed["share"])
        results[name] = {"acc": acc, "acc_sd": acc_sd, "majority": majority,
                         "ceiling": ceiling, "share": share, "share_sd": share_sd,
                         "own_share": _mean_sd(per_seed["own_share"])[0],
                         "seeds": row_seeds, "per_seed": per_seed,
                         "seconds": time.perf_counter() - t}
    print(f"{'aligner':22s} {'acc':>13s} {'major.':>6s} {'ceiling':>7s} {'share':>11s} "
          f"{'own share':>9s} {'seeds':>5s} {'s':>6s}")
    for name, r in results.items():
        print(f"{name:22s} {r['acc']:7.3f}±{r['acc_sd']:.3f} {r['majority']:6.3f} "
              f"{r['ceiling']:7.3f} {r['share']:6.2f}±{r['share_sd']:.2f} "
              f"{r['own_share']:9.2f} {len(r['seeds']):5d} {r['seconds']:6.1f}")
    results["ceilings"] = ceilings
    (out / "real_alignment.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":  # pragma: no cover
    import sys

    real_recordings_section(Path("tutorial_out"), quick="--quick" in sys.argv)
