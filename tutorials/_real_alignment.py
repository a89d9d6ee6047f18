"""Real recordings for tutorial 02: aligners on Steinmetz et al. (2019) sessions.

:func:`real_recordings_section` reads the shared Steinmetz sessions of one mouse (no
neuron is shared between sessions: the probe is inserted fresh every day), turns each
session's trials x neurons x bins counts into Windows with
:func:`spikedecode.preprocess.from_counts` (through
:func:`spikedecode.datasets.read_steinmetz_npz`), and runs
:func:`spikedecode.evaluation.cross_day_matrix` with several aligners under the honest
protocol (each test session is adapted on half of its trials and scored on the other
half). It prints accuracy, majority rate, the within-session ceiling and the share of the
ceiling recovered, and writes the table to ``out_dir/real_alignment.json``.

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


def real_recordings_section(out_dir: str | os.PathLike[str], quick: bool = False
                            ) -> dict[str, dict[str, float]] | None:
    """Run the aligners on one mouse's real sessions; print and save the table.

    Parameters
    ----------
    out_dir : path-like
        Where ``real_alignment.json`` is written.
    quick : bool, default=False
        Two sessions instead of three (one ordered pair each way).

    Returns
    -------
    dict or None
        aligner -> ``{"acc", "majority", "ceiling", "share", "seconds"}``; None when the
        shared data are absent.
    """
    from spikedecode.align import get_aligner
    from spikedecode.datasets import read_steinmetz_npz
    from spikedecode.decoders import make_decoder
    from spikedecode.evaluation import cross_day_matrix

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
    results: dict[str, dict[str, float]] = {}
    cache: dict[Any, dict[str, Any]] = {}
    for name, (kw, pool, smooth) in _ALIGNERS.items():
        if quick and name.startswith("adversarial"):
            print(f"{name}: full mode only (about a minute per session pair on 2 cores)")
            continue
        if (pool, smooth) not in cache:
            days = {}
            for f in files:
                w = read_steinmetz_npz(f, drop_equal=True, pool=pool, smooth=smooth)
                if w.attrs.get("mouse_name") == "Cori":
                    days[f.stem] = w
            cache[pool, smooth] = dict(list(days.items())[: 2 if quick else 3])
        days = cache[pool, smooth]
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = cross_day_matrix(days, make_decoder("logistic"),
                                 aligner=get_aligner(name.split("+")[0], **kw),
                                 random_state=0)
        v = m.values
        off = ~np.eye(len(v), dtype=bool)
        maj = np.array([[max(np.mean(days[j]["label"].values == c) for c in ("left", "right"))
                         for j in days] for _ in days])
        acc, majority, ceiling = float(v[off].mean()), float(maj[off].mean()), \
            float(np.diag(v).mean())
        results[name] = {"acc": acc, "majority": majority, "ceiling": ceiling,
                         "share": (acc - majority) / (ceiling - majority),
                         "seconds": time.perf_counter() - t}
    print(f"{'aligner':18s} {'acc':>6s} {'major.':>6s} {'ceiling':>7s} {'share':>6s} "
          f"{'s':>6s}")
    for name, r in results.items():
        print(f"{name:18s} {r['acc']:6.3f} {r['majority']:6.3f} {r['ceiling']:7.3f} "
              f"{r['share']:6.2f} {r['seconds']:6.1f}")
    (out / "real_alignment.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":  # pragma: no cover
    import sys

    real_recordings_section(Path("tutorial_out"), quick="--quick" in sys.argv)
